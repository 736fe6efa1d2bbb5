/* store/seed.c - creates the buckets named in `store.seed` from directories of files on start (the default site of a fresh node) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/fileio.h"
#include "base/log.h"
#include "store/checksum.h"
#include "store/internal.h"
#include "store/seed.h"

/* deeper trees than this are refused rather than walked (a seed is a web site, not a file system) */
#define SEED_MAX_DEPTH 32

const char *store_seed_content_type(const char *name)
{
    static const char *const types[][2] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"xml", "application/xml"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},
    };
    const char *base = strrchr(name, '/'), *dot;
    base = base != NULL ? base + 1 : name;
    if ((dot = strrchr(base, '.')) == NULL || dot == base || dot[1] == '\0')
        return NULL;
    for (size_t i = 0; i != sizeof(types) / sizeof(types[0]); ++i)
        if (strcasecmp(dot + 1, types[i][0]) == 0)
            return types[i][1];
    return NULL;
}

/* progress lines: every this many files, or every this many ms, whichever comes first */
#define SEED_PROGRESS_FILES 1000
#define SEED_PROGRESS_MS 2000

static _Atomic int seed_stop;

void store_seed_stop(void)
{
    atomic_store(&seed_stop, 1);
}

typedef struct seed_walk {
    store_bucket_t *bucket;
    const char *dir; /* as configured, for messages */
    size_t num_objects;
    uint64_t bytes;
    char *err;
    size_t errlen;
    int64_t started_ms, logged_ms;
    size_t logged_objects;
} seed_walk_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `store: seeding bucket B: N files, M bytes, R MB/s` every SEED_PROGRESS_FILES files or SEED_PROGRESS_MS */
static void seed_progress(seed_walk_t *sw, int last)
{
    int64_t now = mono_ms();
    if (!last && sw->num_objects - sw->logged_objects < SEED_PROGRESS_FILES && now - sw->logged_ms < SEED_PROGRESS_MS)
        return;
    double secs = (double)(now - sw->started_ms) / 1000;
    log_info("store: seeding bucket %s from %s: %zu files, %llu bytes, %.1f MB/s%s", store_fs_bucket_name(sw->bucket), sw->dir,
             sw->num_objects, (unsigned long long)sw->bytes, secs > 0 ? (double)sw->bytes / 1e6 / secs : 0.0,
             last ? " (done)" : "");
    sw->logged_ms = now;
    sw->logged_objects = sw->num_objects;
}

/* stores the file at path as key; 0, or -1 with err set */
static int seed_file(seed_walk_t *sw, const char *path, const char *key)
{
    size_t key_len = strlen(key);
    const char *reason = NULL;
    store_fs_writer_t w;
    store_checksum_digest_t d;
    uint8_t md5[16];
    char etag[33], buf[65536];
    int fd, e;
    ssize_t n;

    if (!store_valid_key(key, key_len, &reason)) {
        log_warn("store: seed %s: skipped \"%s\": not a valid object key (%s)", sw->dir, path, reason);
        return 0;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(sw->err, sw->errlen, "store.seed: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if ((e = store_fs_writer_open(&w, sw->bucket, key, key_len)) != 0) {
        snprintf(sw->err, sw->errlen, "store.seed: cannot write %s into bucket %s (error %d)", path,
                 store_fs_bucket_name(sw->bucket), e);
        close(fd);
        return -1;
    }
    if (store_checksum_digest_init(&d, 0, 0) != 0) {
        snprintf(sw->err, sw->errlen, "store.seed: out of memory");
        goto fail;
    }
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(sw->err, sw->errlen, "store.seed: cannot read %s: %s", path, strerror(errno));
            store_checksum_digest_dispose(&d);
            goto fail;
        }
        store_checksum_digest_update(&d, buf, (size_t)n);
        if (store_fs_writer_write(&w, buf, (size_t)n) != 0) {
            snprintf(sw->err, sw->errlen, "store.seed: cannot write %s into bucket %s (I/O error)", path,
                     store_fs_bucket_name(sw->bucket));
            store_checksum_digest_dispose(&d);
            goto fail;
        }
    }
    close(fd);
    fd = -1;
    store_checksum_digest_final(&d, md5);
    sigv4_hex(md5, 16, etag);

    const char *type = store_seed_content_type(key);
    store_header_t hdr = {(char *)"content-type", (char *)type};
    store_obj_meta_t meta = {etag, 0, type != NULL ? &hdr : NULL, type != NULL ? 1 : 0};
    uint64_t size = w.size;
    if ((e = store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, NULL)) != 0) {
        snprintf(sw->err, sw->errlen, "store.seed: cannot store %s into bucket %s (error %d)", path,
                 store_fs_bucket_name(sw->bucket), e);
        return -1;
    }
    ++sw->num_objects;
    sw->bytes += size;
    seed_progress(sw, 0);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    store_fs_writer_abort(&w);
    return -1;
}

/* walks path (a directory); prefix is the key prefix of its entries ("" or "a/b/") */
static int seed_dir(seed_walk_t *sw, const char *path, const char *prefix, int depth)
{
    DIR *d;
    struct dirent *e;
    int r = 0;

    if (depth > SEED_MAX_DEPTH) {
        snprintf(sw->err, sw->errlen, "store.seed: %s is nested more than %d directories deep", path, SEED_MAX_DEPTH);
        return -1;
    }
    if ((d = opendir(path)) == NULL) {
        snprintf(sw->err, sw->errlen, "store.seed: cannot read the directory %s: %s", path, strerror(errno));
        return -1;
    }
    while (r == 0 && (errno = 0, e = readdir(d)) != NULL) {
        char child[PATH_MAX], key[PATH_MAX];
        struct stat st;
        if (atomic_load(&seed_stop)) {
            snprintf(sw->err, sw->errlen, "store.seed: interrupted (the next start finishes the bucket %s)",
                     store_fs_bucket_name(sw->bucket));
            r = -1;
            errno = 0;
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= sizeof(child) ||
            (size_t)snprintf(key, sizeof(key), "%s%s", prefix, e->d_name) >= sizeof(key)) {
            log_warn("store: seed %s: skipped \"%s/%s\": the path is too long", sw->dir, path, e->d_name);
            continue;
        }
        if (lstat(child, &st) != 0) {
            snprintf(sw->err, sw->errlen, "store.seed: cannot read %s: %s", child, strerror(errno));
            r = -1;
        } else if (S_ISDIR(st.st_mode)) {
            size_t n = strlen(key);
            if (n + 2 > sizeof(key)) {
                log_warn("store: seed %s: skipped \"%s\": the path is too long", sw->dir, child);
                continue;
            }
            key[n] = '/';
            key[n + 1] = '\0';
            r = seed_dir(sw, child, key, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            /* a link to a file is its content; a link to a directory could loop */
            if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
                r = seed_file(sw, child, key);
            else
                log_warn("store: seed %s: skipped \"%s\": a symbolic link to something other than a file", sw->dir, child);
        } else if (S_ISREG(st.st_mode)) {
            r = seed_file(sw, child, key);
        }
    }
    if (r == 0 && errno != 0) {
        snprintf(sw->err, sw->errlen, "store.seed: cannot read the directory %s: %s", path, strerror(errno));
        r = -1;
    }
    closedir(d);
    return r;
}

/* root/.seeding-NAME ('.' of the name written '_', which bucket names cannot hold: no two buckets share a marker, and the
 * marker never looks like the store's temporary files, which a start sweeps) */
static void marker_path(store_fs_t *fs, const char *bucket, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "%s/.seeding-", store_fs_root(fs));
    for (const char *p = bucket; *p != '\0' && n + 1 < len; ++p)
        out[n++] = *p == '.' ? '_' : *p;
    out[n < len ? n : len - 1] = '\0';
}

static int seed_one(store_fs_t *fs, const conf_store_seed_t *seed, char *err, size_t errlen)
{
    char marker[PATH_MAX];
    store_bucket_t *b;
    int fd, e;

    marker_path(fs, seed->bucket, marker, sizeof(marker));
    int resume = access(marker, F_OK) == 0;
    if ((b = store_fs_bucket_get(fs, seed->bucket, strlen(seed->bucket))) != NULL && !resume) {
        log_info("store: bucket %s exists: not seeded from %s", seed->bucket, seed->dir);
        store_fs_bucket_release(b);
        return 0;
    }
    /* the CORS rules (store.seed[].cors) are checked before anything is made, and written before the first object */
    store_xml_t cors = {{0}, 0};
    if (seed->cors_xml != NULL) {
        char msg[300];
        if (store_cors_document(seed->cors_xml, seed->cors_len, &cors, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "store.seed (line %d): cors: %s: %s", seed->line, seed->cors, msg);
            store_xml_free(&cors);
            store_fs_bucket_release(b);
            return -1;
        }
    }
    /* the marker goes first: a crash from here on leaves it, and the next start finishes the job */
    if ((fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "store.seed: cannot create %s: %s", marker, strerror(errno));
        store_fs_bucket_release(b);
        store_xml_free(&cors);
        return -1;
    }
    dprintf(fd, "%s\n", seed->dir);
    fsync(fd);
    close(fd);
    (void)fileio_sync_dir(store_fs_root(fs));
    if (b == NULL) {
        if ((e = store_fs_bucket_create(fs, seed->bucket)) != 0 && e != STORE_FS_EEXIST) {
            snprintf(err, errlen, "store.seed: cannot create the bucket %s (error %d)", seed->bucket, e);
            store_xml_free(&cors);
            return -1;
        }
        if ((b = store_fs_bucket_get(fs, seed->bucket, strlen(seed->bucket))) == NULL) {
            snprintf(err, errlen, "store.seed: the bucket %s vanished", seed->bucket);
            store_xml_free(&cors);
            return -1;
        }
    }
    if (cors.buf.base != NULL) {
        e = store_fs_bucket_config_put(b, "cors", cors.buf.base, cors.buf.len);
        store_xml_free(&cors);
        if (e != 0) {
            snprintf(err, errlen, "store.seed: cannot write the CORS rules of the bucket %s (error %d)", seed->bucket, e);
            store_fs_bucket_release(b);
            return -1;
        }
    }
    seed_walk_t sw = {b, seed->dir, 0, 0, err, errlen, mono_ms(), 0, 0};
    sw.logged_ms = sw.started_ms;
    log_info("store: seeding bucket %s from %s", seed->bucket, seed->dir);
    int r = seed_dir(&sw, seed->dir, "", 0);
    if (r == 0)
        seed_progress(&sw, 1);
    store_fs_bucket_release(b);
    if (r != 0)
        return -1;
    unlink(marker);
    (void)fileio_sync_dir(store_fs_root(fs));
    log_info("store: %s bucket %s from %s: %zu objects, %llu bytes", resume ? "finished seeding" : "seeded", seed->bucket,
             seed->dir, sw.num_objects, (unsigned long long)sw.bytes);
    return 0;
}

int store_seed(store_fs_t *fs, const conf_store_seed_t *seeds, size_t num_seeds, char *err, size_t errlen)
{
    for (size_t i = 0; i != num_seeds; ++i)
        if (seed_one(fs, &seeds[i], err, errlen) != 0)
            return -1;
    return 0;
}
