/* proxy/lambdazip.c - the one hook file of a zip archive (libzip, optional at build time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/lambdazip.h"
#ifdef EDGE_HAVE_LIBZIP
#include <zip.h>
#endif

int lambdazip_available(void)
{
#ifdef EDGE_HAVE_LIBZIP
    return 1;
#else
    return 0;
#endif
}

#ifdef EDGE_HAVE_LIBZIP

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* a name that could not be a path inside the archive: absolute, a `..` step, a backslash (Windows' separator) */
static int hostile_name(const char *name)
{
    if (name[0] == '/' || strchr(name, '\\') != NULL || name[0] == '\0')
        return 1;
    for (const char *p = name; *p != '\0';) {
        const char *e = strchr(p, '/');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += len + (e != NULL);
    }
    return 0;
}

/* the index of the one file of the archive, or -1 with a reason */
static zip_int64_t the_file(zip_t *za, size_t max_size, char *err, size_t errlen)
{
    zip_int64_t n = zip_get_num_entries(za, 0), found = -1;
    zip_stat_t st;
    for (zip_int64_t i = 0; i < n; ++i) {
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
            snprintf(err, errlen, "Could not unzip uploaded file: entry %lld cannot be read.", (long long)i);
            return -1;
        }
        if (hostile_name(st.name)) {
            snprintf(err, errlen,
                     "Could not unzip uploaded file: the entry name \"%.100s\" is not a relative path inside the archive.",
                     st.name);
            return -1;
        }
        if (ends_with(st.name, "/"))
            continue; /* a directory */
        if (found != -1) {
            snprintf(err, errlen, "The zip file must hold exactly one hook file (.lua or .so); it holds more files (\"%.100s\").",
                     st.name);
            return -1;
        }
        if (!ends_with(st.name, ".lua") && !ends_with(st.name, ".so")) {
            snprintf(err, errlen, "The zip file must hold one hook file named *.lua or *.so, not \"%.100s\".", st.name);
            return -1;
        }
        if ((st.valid & ZIP_STAT_SIZE) && st.size > max_size) {
            snprintf(err, errlen, "Unzipped size must be smaller than %zu bytes (%.100s is %llu).", max_size, st.name,
                     (unsigned long long)st.size);
            return -1;
        }
        found = i;
    }
    if (found == -1)
        snprintf(err, errlen, "The zip file holds no hook file: put one .lua or .so in it.");
    return found;
}

int lambdazip_extract(const void *zip, size_t len, size_t max_size, char **data, size_t *size, int *is_lua, char *err,
                      size_t errlen)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;
    zip_file_t *zf = NULL;
    zip_int64_t idx, got = 0;
    char *buf = NULL;
    size_t used = 0;

    *data = NULL;
    *size = 0;
    zip_error_init(&ze);
    if ((src = zip_source_buffer_create(zip, len, 0, &ze)) == NULL) {
        snprintf(err, errlen, "Could not unzip uploaded file: %s.", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    if ((za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze)) == NULL) {
        snprintf(err, errlen, "Could not unzip uploaded file. Please check your file, then try to upload again (%s).",
                 zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    if ((idx = the_file(za, max_size, err, errlen)) < 0)
        goto Fail;
    {
        zip_stat_t st;
        zip_stat_index(za, (zip_uint64_t)idx, 0, &st);
        *is_lua = ends_with(st.name, ".lua");
    }
    if ((zf = zip_fopen_index(za, (zip_uint64_t)idx, 0)) == NULL) {
        snprintf(err, errlen, "Could not unzip uploaded file: %s.", zip_strerror(za));
        goto Fail;
    }
    /* at most max_size + 1 bytes are ever inflated, whatever the headers say */
    if ((buf = malloc(max_size + 1)) == NULL) {
        snprintf(err, errlen, "no memory");
        goto Fail;
    }
    while (used <= max_size && (got = zip_fread(zf, buf + used, max_size + 1 - used)) > 0)
        used += (size_t)got;
    if (used > max_size) {
        snprintf(err, errlen, "Unzipped size must be smaller than %zu bytes.", max_size);
        goto Fail;
    }
    if (got < 0) {
        snprintf(err, errlen, "Could not unzip uploaded file: %s.", zip_file_strerror(zf));
        goto Fail;
    }
    zip_fclose(zf);
    zip_discard(za);
    *data = buf;
    *size = used;
    return 0;
Fail:
    free(buf);
    if (zf != NULL)
        zip_fclose(zf);
    zip_discard(za);
    return -1;
}

#else

int lambdazip_extract(const void *zip, size_t len, size_t max_size, char **data, size_t *size, int *is_lua, char *err,
                      size_t errlen)
{
    (void)zip, (void)len, (void)max_size, (void)is_lua;
    *data = NULL;
    *size = 0;
    snprintf(err, errlen, "This edgehook was built without libzip (Debian: libzip-dev): --zip-file uploads are not available.");
    return -1;
}

#endif
