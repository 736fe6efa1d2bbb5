/* store/fs.c - the embedded store's storage engine (see fs.h for the layout, atomicity and threading rules) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "base/assert.h"
#include "base/clock.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/str.h"
#include "store/fs.h"
#include "sigv4/sigv4.h"

/* every path the store builds fits in PATH_MAX: the root is at most STORE_ROOT_MAX bytes and the rest is bounded (bucket 63,
 * shard 2, hash 64, generation 16, suffixes); so snprintf into PATH_MAX buffers never truncates */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#define STORE_ROOT_MAX 3000

struct store_fs {
    char *root;
    char *uploads_dir;
    int lock_fd;
    pthread_rwlock_t buckets_lock;
    store_bucket_t **buckets; /* sorted by name */
    size_t num_buckets, cap_buckets;
    pthread_mutex_t uploads_lock;
    store_upload_t **uploads; /* sorted by id */
    size_t num_uploads, cap_uploads;
    /* completion records (.uploads/<id>.done) oldest first, to remove them when they expire (under uploads_lock) */
    struct completed_ref {
        char id[33];
        int64_t ms;
    } *completed;
    size_t completed_head, num_completed, cap_completed;
};

struct store_bucket {
    store_fs_t *fs;
    atomic_uint refcnt;
    char name[64];
    char *dir;
    int64_t created_ms;
    char location[64]; /* the LocationConstraint given at creation ("": none) */
    pthread_rwlock_t lock;
    int deleted;
    atomic_int versioning; /* STORE_FS_VERSIONING_* */
    store_obj_t **objs;    /* sorted by key, binary order: each key's latest version, older ones chained (->older); the index holds
                              one reference to each version */
    size_t num_objs, cap_objs;
};

struct store_upload {
    unsigned magic; /* STORE_UPLOAD_MAGIC while alive (base/assert.h): requests on store threads hold references */
    store_fs_t *fs;
    atomic_uint refcnt;
    char id[33];
    char bucket[64];
    char *key;
    size_t key_len;
    int64_t initiated_ms;
    store_header_t *headers;
    size_t num_headers;
    char *dir;
    pthread_mutex_t lock;
    int gone;
    store_part_info_t *parts; /* sorted by number */
    size_t num_parts, cap_parts;
};
#define STORE_UPLOAD_MAGIC 0x5a10adedu

/* ---- small helpers --------------------------------------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    return edge_realtime_ms();
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *path_cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p != NULL) {
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
    }
    return p;
}

static void random_hex(char *out, size_t bytes)
{
    uint8_t r[32];
    if (RAND_bytes(r, (int)bytes) != 1) {
        /* never expected; fall back to something unique enough for file names */
        static atomic_ulong counter;
        unsigned long c = atomic_fetch_add(&counter, 1) ^ (unsigned long)now_ms() ^ ((unsigned long)getpid() << 32);
        for (size_t i = 0; i != bytes; ++i)
            r[i] = (uint8_t)(c >> (8 * (i % 8)));
    }
    sigv4_hex(r, bytes, out);
}

static void key_hash(const char *key, size_t len, char hex[65])
{
    sigv4_sha256_hex(key, len, hex);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (strlen(path) >= sizeof(tmp))
        return -1;
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p != '\0'; ++p) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) /* parents: the usual mode; the root itself: mode */
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* removes name under dirfd recursively, never following symlinks */
static int rm_rf_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth > 8)
        return -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    struct dirent *e;
    int r = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (rm_rf_at(dirfd(d), e->d_name, depth + 1) != 0)
            r = -1;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        r = -1;
    return r;
}

static int rm_rf(const char *path)
{
    return rm_rf_at(AT_FDCWD, path, 0);
}

/* writes a file atomically: tmp in the same directory, fsync, rename, (caller fsyncs the directory) */
static int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX], gen[17];
    random_hex(gen, 8);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%s.tmp", path, gen) >= sizeof(tmp))
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (fileio_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int starts_with(const char *s, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && memcmp(s, prefix, plen) == 0;
}

/* ---- record files: `name value` lines, values percent-encoded ---------------------------------------------------------------- */

/* appends value with the bytes that could break a line (controls, space, DEL, high bytes) and '%' percent-encoded */
static int rec_encode(sigv4_buf_t *b, const char *value, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)value[i];
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            char e[3];
            edge_pct_escape(e, c);
            if (sigv4_buf_append(b, e, 3) != 0)
                return -1;
        } else if (sigv4_buf_append(b, (char *)&c, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static int rec_put_raw(sigv4_buf_t *b, const char *name, const char *value, size_t len)
{
    if (sigv4_buf_append(b, name, strlen(name)) != 0 || sigv4_buf_append(b, " ", 1) != 0 || rec_encode(b, value, len) != 0)
        return -1;
    return sigv4_buf_append(b, "\n", 1);
}

static int rec_put(sigv4_buf_t *b, const char *name, const char *value)
{
    return rec_put_raw(b, name, value, strlen(value));
}

static int rec_put_u64(sigv4_buf_t *b, const char *name, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    return rec_put(b, name, s);
}

/* `header <name> <value>` lines: names are HTTP tokens (no spaces), values are encoded */
static int rec_put_headers(sigv4_buf_t *b, const store_header_t *h, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        if (sigv4_buf_append(b, "header ", 7) != 0 || rec_encode(b, h[i].name, strlen(h[i].name)) != 0 ||
            sigv4_buf_append(b, " ", 1) != 0 || rec_encode(b, h[i].value, strlen(h[i].value)) != 0 ||
            sigv4_buf_append(b, "\n", 1) != 0)
            return -1;
    }
    return 0;
}

/* decodes a record value in place; returns its length or -1 */
static long rec_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p != '\0'; ++p) {
        if (*p == '%') {
            int hi = edge_hex_value(p[1]), lo = hi >= 0 ? edge_hex_value(p[2]) : -1;
            if (lo < 0)
                return -1;
            *o++ = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return o - s;
}

/* iterates `name value` lines of a record text (modified in place); returns 0 at the end */
static int rec_next(char **cursor, char **name, char **value)
{
    char *p = *cursor;
    if (p == NULL || *p == '\0')
        return 0;
    char *eol = strchr(p, '\n');
    if (eol != NULL) {
        *eol = '\0';
        *cursor = eol + 1;
    } else {
        *cursor = p + strlen(p);
    }
    char *sp = strchr(p, ' ');
    *name = p;
    if (sp != NULL) {
        *sp = '\0';
        *value = sp + 1;
    } else {
        *value = p + strlen(p);
    }
    return 1;
}

static char *read_small_file(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (buf != NULL && n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

/* ---- headers ----------------------------------------------------------------------------------------------------------------- */

static void free_headers(store_header_t *h, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static store_header_t *copy_headers(const store_header_t *h, size_t n)
{
    store_header_t *c = calloc(n != 0 ? n : 1, sizeof(*c));
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i != n; ++i) {
        if ((c[i].name = strdup(h[i].name)) == NULL || (c[i].value = strdup(h[i].value)) == NULL) {
            free_headers(c, i + 1);
            return NULL;
        }
    }
    return c;
}

static int push_header(store_header_t **h, size_t *n, const char *name, const char *value, size_t value_len)
{
    store_header_t *nh = realloc(*h, (*n + 1) * sizeof(**h));
    if (nh == NULL)
        return -1;
    *h = nh;
    nh[*n].name = strdup(name);
    nh[*n].value = xstrndup(value, value_len);
    if (nh[*n].name == NULL || nh[*n].value == NULL) {
        free(nh[*n].name);
        free(nh[*n].value);
        return -1;
    }
    ++*n;
    return 0;
}

/* ---- objects ----------------------------------------------------------------------------------------------------------------- */

static void obj_free(store_obj_t *o)
{
    free(o->key);
    free(o->data_path);
    free(o->part_sizes);
    free_headers(o->headers, o->num_headers);
    free(o);
}

void store_fs_obj_addref(store_obj_t *o)
{
    atomic_fetch_add(&o->refcnt, 1);
}

void store_fs_obj_release(store_obj_t *o)
{
    if (o == NULL || atomic_fetch_sub(&o->refcnt, 1) != 1)
        return;
    if (atomic_load(&o->superseded) && o->data_path != NULL && rm_rf(o->data_path) != 0)
        log_warn("store: cannot remove replaced data %s: %s", o->data_path, strerror(errno));
    obj_free(o);
}

const char *store_fs_obj_header(const store_obj_t *o, const char *name)
{
    for (size_t i = 0; i != o->num_headers; ++i)
        if (strcmp(o->headers[i].name, name) == 0)
            return o->headers[i].value;
    return NULL;
}

/* the record text of an object */
static int obj_record(const store_obj_t *o, sigv4_buf_t *b)
{
    if (sigv4_buf_append(b, "edgehook-store-object 1\n", 24) != 0 || rec_put_raw(b, "key", o->key, o->key_len) != 0 ||
        (o->data_path != NULL && rec_put(b, "data", strrchr(o->data_path, '/') + 1) != 0) || rec_put_u64(b, "size", o->size) != 0 ||
        rec_put(b, "etag", o->etag) != 0 || rec_put_u64(b, "mtime", (uint64_t)o->mtime_ms) != 0 ||
        rec_put_u64(b, "stamp", o->stamp) != 0 || (o->version_id[0] != '\0' && rec_put(b, "version", o->version_id) != 0) ||
        (o->delete_marker && rec_put(b, "deletemarker", "1") != 0))
        return -1;
    if (o->num_parts != 0) {
        sigv4_buf_t parts = {0};
        char s[32];
        snprintf(s, sizeof(s), "%u", o->num_parts);
        int r = sigv4_buf_append(&parts, s, strlen(s));
        for (uint32_t i = 0; r == 0 && i != o->num_parts; ++i) {
            snprintf(s, sizeof(s), ",%llu", (unsigned long long)o->part_sizes[i]);
            r = sigv4_buf_append(&parts, s, strlen(s));
        }
        if (r != 0 || rec_put(b, "parts", parts.base) != 0) {
            sigv4_buf_free(&parts);
            return -1;
        }
        sigv4_buf_free(&parts);
    }
    return rec_put_headers(b, o->headers, o->num_headers);
}

/* parses a record; dir is the absolute directory holding it */
static store_obj_t *obj_parse(char *text, const char *dir)
{
    store_obj_t *o = calloc(1, sizeof(*o));
    char *cur = text, *name, *value;
    int have_size = 0;
    if (o == NULL)
        return NULL;
    atomic_init(&o->refcnt, 1);
    if (!rec_next(&cur, &name, &value) || strcmp(name, "edgehook-store-object") != 0 || strcmp(value, "1") != 0)
        goto fail;
    while (rec_next(&cur, &name, &value)) {
        if (strcmp(name, "header") == 0) {
            char *sp = strchr(value, ' ');
            if (sp == NULL)
                goto fail;
            *sp = '\0';
            long vl = rec_decode(sp + 1);
            if (vl < 0 || rec_decode(value) <= 0 || push_header(&o->headers, &o->num_headers, value, sp + 1, (size_t)vl) != 0)
                goto fail;
            continue;
        }
        long len = rec_decode(value);
        if (len < 0)
            goto fail;
        if (strcmp(name, "key") == 0) {
            if (o->key != NULL || len == 0 || len > STORE_FS_MAX_KEY || (o->key = xstrndup(value, (size_t)len)) == NULL)
                goto fail;
            o->key_len = (size_t)len;
        } else if (strcmp(name, "data") == 0) {
            if (o->data_path != NULL || strchr(value, '/') != NULL || value[0] == '.' ||
                (o->data_path = path_cat(dir, value)) == NULL)
                goto fail;
        } else if (strcmp(name, "size") == 0) {
            o->size = strtoull(value, NULL, 10);
            have_size = 1;
        } else if (strcmp(name, "etag") == 0) {
            if ((size_t)len >= sizeof(o->etag))
                goto fail;
            memcpy(o->etag, value, (size_t)len + 1);
        } else if (strcmp(name, "mtime") == 0) {
            o->mtime_ms = strtoll(value, NULL, 10);
        } else if (strcmp(name, "stamp") == 0) {
            o->stamp = strtoull(value, NULL, 10);
        } else if (strcmp(name, "version") == 0) {
            if (len != STORE_FS_VERSION_ID_LEN || !store_fs_valid_version_id(value, (size_t)len))
                goto fail;
            memcpy(o->version_id, value, (size_t)len + 1);
        } else if (strcmp(name, "deletemarker") == 0) {
            o->delete_marker = strcmp(value, "1") == 0;
        } else if (strcmp(name, "parts") == 0) {
            char *p = value, *end;
            unsigned long n = strtoul(p, &end, 10);
            if (n == 0 || n > STORE_FS_MAX_PARTS || (o->part_sizes = calloc(n, sizeof(uint64_t))) == NULL)
                goto fail;
            o->num_parts = (uint32_t)n;
            for (unsigned long i = 0; i != n; ++i) {
                if (*end != ',')
                    goto fail;
                o->part_sizes[i] = strtoull(end + 1, &end, 10);
            }
        }
    }
    if (o->key == NULL || (o->data_path == NULL) != o->delete_marker || !have_size || (o->etag[0] == '\0' && !o->delete_marker))
        goto fail;
    if (o->stamp == 0) /* a record of an older edgehook */
        o->stamp = (uint64_t)o->mtime_ms * 1000;
    return o;
fail:
    obj_free(o);
    return NULL;
}

/* ---- buckets ----------------------------------------------------------------------------------------------------------------- */

int store_fs_valid_bucket_name(const char *name, size_t len)
{
    if (len < 3 || len > 63)
        return 0;
    int dots = 0, all_digits_or_dots = 1;
    for (size_t i = 0; i != len; ++i) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
        if (c == '.') {
            ++dots;
            if (i != 0 && name[i - 1] == '.')
                return 0;
        } else if (!(c >= '0' && c <= '9')) {
            all_digits_or_dots = 0;
        }
    }
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        return 0;
    if (!((name[len - 1] >= 'a' && name[len - 1] <= 'z') || (name[len - 1] >= '0' && name[len - 1] <= '9')))
        return 0;
    if (dots == 3 && all_digits_or_dots) /* shaped like an IPv4 address */
        return 0;
    return 1;
}

int store_fs_reserved_bucket_name(const char *name, size_t len)
{
    /* S3's general purpose bucket naming rules: prefixes and suffixes AWS keeps for itself (IDNA, access point and Object
     * Lambda aliases, Multi-Region Access Points, directory and table buckets, documentation examples) */
    static const char *const prefixes[] = {"xn--", "sthree-", "amzn-s3-demo-", NULL};
    static const char *const suffixes[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3", NULL};
    for (size_t i = 0; prefixes[i] != NULL; ++i) {
        size_t n = strlen(prefixes[i]);
        if (len >= n && memcmp(name, prefixes[i], n) == 0)
            return 1;
    }
    for (size_t i = 0; suffixes[i] != NULL; ++i) {
        size_t n = strlen(suffixes[i]);
        if (len >= n && memcmp(name + len - n, suffixes[i], n) == 0)
            return 1;
    }
    return 0;
}

static void bucket_free(store_bucket_t *b)
{
    for (size_t i = 0; i != b->num_objs; ++i)
        for (store_obj_t *o = b->objs[i], *next; o != NULL; o = next) {
            next = o->older;
            o->older = NULL;
            store_fs_obj_release(o);
        }
    free(b->objs);
    free(b->dir);
    pthread_rwlock_destroy(&b->lock);
    free(b);
}

void store_fs_bucket_release(store_bucket_t *b)
{
    if (b != NULL && atomic_fetch_sub(&b->refcnt, 1) == 1)
        bucket_free(b);
}

const char *store_fs_bucket_name(const store_bucket_t *b)
{
    return b->name;
}

int64_t store_fs_bucket_created_ms(const store_bucket_t *b)
{
    return b->created_ms;
}

const char *store_fs_bucket_location(const store_bucket_t *b)
{
    return b->location;
}

static store_bucket_t *bucket_new(store_fs_t *fs, const char *name, int64_t created_ms)
{
    store_bucket_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->fs = fs;
    atomic_init(&b->refcnt, 1);
    snprintf(b->name, sizeof(b->name), "%s", name);
    b->created_ms = created_ms;
    pthread_rwlock_init(&b->lock, NULL);
    if ((b->dir = path_cat(fs->root, name)) == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

/* index of the first bucket with name >= name (caller holds buckets_lock) */
static size_t bucket_lower_bound(store_fs_t *fs, const char *name, size_t len)
{
    size_t lo = 0, hi = fs->num_buckets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(fs->buckets[mid]->name, strlen(fs->buckets[mid]->name), name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int bucket_insert(store_fs_t *fs, store_bucket_t *b)
{
    size_t i = bucket_lower_bound(fs, b->name, strlen(b->name));
    if (fs->num_buckets == fs->cap_buckets) {
        size_t cap = fs->cap_buckets != 0 ? fs->cap_buckets * 2 : 16;
        store_bucket_t **nb = realloc(fs->buckets, cap * sizeof(*nb));
        if (nb == NULL)
            return -1;
        fs->buckets = nb;
        fs->cap_buckets = cap;
    }
    memmove(fs->buckets + i + 1, fs->buckets + i, (fs->num_buckets - i) * sizeof(*fs->buckets));
    fs->buckets[i] = b;
    ++fs->num_buckets;
    return 0;
}

store_bucket_t *store_fs_bucket_get(store_fs_t *fs, const char *name, size_t len)
{
    store_bucket_t *b = NULL;
    pthread_rwlock_rdlock(&fs->buckets_lock);
    size_t i = bucket_lower_bound(fs, name, len);
    if (i < fs->num_buckets && key_cmp(fs->buckets[i]->name, strlen(fs->buckets[i]->name), name, len) == 0) {
        b = fs->buckets[i];
        atomic_fetch_add(&b->refcnt, 1);
    }
    pthread_rwlock_unlock(&fs->buckets_lock);
    return b;
}

long store_fs_bucket_list(store_fs_t *fs, store_bucket_info_t **out)
{
    pthread_rwlock_rdlock(&fs->buckets_lock);
    store_bucket_info_t *list = calloc(fs->num_buckets != 0 ? fs->num_buckets : 1, sizeof(*list));
    long n = 0;
    if (list != NULL) {
        for (size_t i = 0; i != fs->num_buckets; ++i) {
            snprintf(list[i].name, sizeof(list[i].name), "%s", fs->buckets[i]->name);
            snprintf(list[i].location, sizeof(list[i].location), "%s", fs->buckets[i]->location);
            list[i].created_ms = fs->buckets[i]->created_ms;
        }
        n = (long)fs->num_buckets;
    }
    pthread_rwlock_unlock(&fs->buckets_lock);
    *out = list;
    return list != NULL ? n : STORE_FS_ENOMEM;
}

static int write_bucket_record(store_bucket_t *b)
{
    char path[PATH_MAX], text[256];
    int v = atomic_load(&b->versioning);
    snprintf(path, sizeof(path), "%s/.bucket", b->dir);
    int n = snprintf(text, sizeof(text), "edgehook-store-bucket 1\ncreated %lld\n%s", (long long)b->created_ms,
                     v == STORE_FS_VERSIONING_ENABLED     ? "versioning Enabled\n"
                     : v == STORE_FS_VERSIONING_SUSPENDED ? "versioning Suspended\n"
                                                          : "");
    if (b->location[0] != '\0') /* [A-Za-z0-9-] only (store_fs_bucket_create_in) */
        n += snprintf(text + n, sizeof(text) - (size_t)n, "location %s\n", b->location);
    return write_file_atomic(path, text, (size_t)n, 0644);
}

int store_fs_bucket_create(store_fs_t *fs, const char *name)
{
    return store_fs_bucket_create_in(fs, name, NULL);
}

int store_fs_bucket_create_in(store_fs_t *fs, const char *name, const char *location)
{
    size_t len = strlen(name);
    int r = 0;
    if (!store_fs_valid_bucket_name(name, len) || store_fs_reserved_bucket_name(name, len))
        return STORE_FS_EINVAL;
    if (location != NULL) {
        size_t ll = strlen(location);
        if (ll >= sizeof(((store_bucket_t *)NULL)->location) ||
            strspn(location, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789-") != ll)
            return STORE_FS_EINVAL;
    }
    pthread_rwlock_wrlock(&fs->buckets_lock);
    size_t i = bucket_lower_bound(fs, name, len);
    if (i < fs->num_buckets && strcmp(fs->buckets[i]->name, name) == 0) {
        r = STORE_FS_EEXIST;
        goto out;
    }
    store_bucket_t *b = bucket_new(fs, name, now_ms());
    if (b == NULL) {
        r = STORE_FS_ENOMEM;
        goto out;
    }
    if (location != NULL)
        snprintf(b->location, sizeof(b->location), "%s", location);
    if (mkdir(b->dir, 0755) != 0) {
        /* EEXIST: a directory the store does not own (no .bucket record) is never adopted */
        log_error("store: cannot create bucket directory %s: %s", b->dir, strerror(errno));
        bucket_free(b);
        r = STORE_FS_EIO;
        goto out;
    }
    if (write_bucket_record(b) != 0 || fileio_sync_dir(b->dir) != 0 || fileio_sync_dir(fs->root) != 0) {
        log_error("store: cannot write the record of bucket %s: %s", name, strerror(errno));
        rm_rf(b->dir);
        bucket_free(b);
        r = STORE_FS_EIO;
        goto out;
    }
    if (bucket_insert(fs, b) != 0) {
        bucket_free(b);
        r = STORE_FS_ENOMEM;
    }
out:
    pthread_rwlock_unlock(&fs->buckets_lock);
    return r;
}

static void abort_uploads_of(store_fs_t *fs, const char *bucket);

int store_fs_bucket_delete(store_fs_t *fs, const char *name)
{
    size_t len = strlen(name);
    store_bucket_t *b;
    pthread_rwlock_wrlock(&fs->buckets_lock);
    size_t i = bucket_lower_bound(fs, name, len);
    if (i == fs->num_buckets || strcmp(fs->buckets[i]->name, name) != 0) {
        pthread_rwlock_unlock(&fs->buckets_lock);
        return STORE_FS_ENOENT;
    }
    b = fs->buckets[i];
    pthread_rwlock_wrlock(&b->lock);
    if (b->num_objs != 0) {
        pthread_rwlock_unlock(&b->lock);
        pthread_rwlock_unlock(&fs->buckets_lock);
        return STORE_FS_ENOTEMPTY;
    }
    /* move the directory out of the way atomically, so that a crash never leaves half a bucket */
    char trash[PATH_MAX], gen[17];
    random_hex(gen, 8);
    snprintf(trash, sizeof(trash), "%s/.trash-%s", fs->root, gen);
    if (rename(b->dir, trash) != 0) {
        log_error("store: cannot remove bucket directory %s: %s", b->dir, strerror(errno));
        pthread_rwlock_unlock(&b->lock);
        pthread_rwlock_unlock(&fs->buckets_lock);
        return STORE_FS_EIO;
    }
    b->deleted = 1;
    pthread_rwlock_unlock(&b->lock);
    memmove(fs->buckets + i, fs->buckets + i + 1, (fs->num_buckets - i - 1) * sizeof(*fs->buckets));
    --fs->num_buckets;
    pthread_rwlock_unlock(&fs->buckets_lock);
    fileio_sync_dir(fs->root);
    rm_rf(trash);
    abort_uploads_of(fs, name);
    store_fs_bucket_release(b);
    return 0;
}

/* ---- bucket configuration documents (CORS, ...) ------------------------------------------------------------------------------- */

/* root/<bucket>/.NAME: NAME is a short lowercase word chosen by the store (never a client's text) */
static int config_path(store_bucket_t *b, const char *name, char *path, size_t len)
{
    for (const char *c = name; *c != '\0'; ++c)
        if (!(*c >= 'a' && *c <= 'z'))
            return -1;
    return (size_t)snprintf(path, len, "%s/.%s", b->dir, name) < len ? 0 : -1;
}

int store_fs_bucket_config_put(store_bucket_t *b, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    int r = 0;
    if (config_path(b, name, path, sizeof(path)) != 0)
        return STORE_FS_EINVAL;
    /* the read lock keeps a DeleteBucket (write lock) from moving the directory away meanwhile */
    pthread_rwlock_rdlock(&b->lock);
    if (b->deleted) {
        r = STORE_FS_ENOENT;
    } else if (data != NULL ? write_file_atomic(path, data, len, 0644) != 0 : (unlink(path) != 0 && errno != ENOENT)) {
        log_error("store: cannot write %s: %s", path, strerror(errno));
        r = STORE_FS_EIO;
    } else if (fileio_sync_dir(b->dir) != 0) {
        log_error("store: cannot sync %s: %s", b->dir, strerror(errno));
        r = STORE_FS_EIO;
    }
    pthread_rwlock_unlock(&b->lock);
    return r;
}

static uint64_t config_version(const struct stat *st)
{
    return ((uint64_t)st->st_ino * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec) ^
           ((uint64_t)st->st_size << 40);
}

int store_fs_bucket_config_version(store_bucket_t *b, const char *name, uint64_t *version)
{
    char path[PATH_MAX];
    struct stat st;
    if (config_path(b, name, path, sizeof(path)) != 0)
        return STORE_FS_EINVAL;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
    *version = config_version(&st);
    return 0;
}

int store_fs_bucket_config_get(store_bucket_t *b, const char *name, size_t max, char **out, size_t *len, uint64_t *version)
{
    char path[PATH_MAX];
    struct stat st;
    if (config_path(b, name, path, sizeof(path)) != 0)
        return STORE_FS_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > max) {
        close(fd);
        return STORE_FS_EIO;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    if (buf == NULL) {
        close(fd);
        return STORE_FS_ENOMEM;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            close(fd);
            return STORE_FS_EIO;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    if (version != NULL)
        *version = config_version(&st);
    return 0;
}

/* ---- the object index -------------------------------------------------------------------------------------------------------- */

/* first index with key >= (key, len) (caller holds b->lock) */
static size_t obj_lower_bound(store_bucket_t *b, const char *key, size_t len)
{
    size_t lo = 0, hi = b->num_objs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(b->objs[mid]->key, b->objs[mid]->key_len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* first index with key > (key, len) */
static size_t obj_upper_bound(store_bucket_t *b, const char *key, size_t len)
{
    size_t lo = 0, hi = b->num_objs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(b->objs[mid]->key, b->objs[mid]->key_len, key, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

store_obj_t *store_fs_obj_get(store_bucket_t *b, const char *key, size_t len)
{
    store_obj_t *o = NULL;
    pthread_rwlock_rdlock(&b->lock);
    size_t i = obj_lower_bound(b, key, len);
    if (i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, key, len) == 0 && !b->objs[i]->delete_marker) {
        o = b->objs[i];
        store_fs_obj_addref(o);
    }
    pthread_rwlock_unlock(&b->lock);
    return o;
}

/* puts o in the index (taking over its reference); returns the replaced version or NULL (caller holds the write lock) */
static int index_put(store_bucket_t *b, store_obj_t *o, store_obj_t **old)
{
    size_t i = obj_lower_bound(b, o->key, o->key_len);
    *old = NULL;
    if (i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, o->key, o->key_len) == 0) {
        *old = b->objs[i];
        b->objs[i] = o;
        return 0;
    }
    if (b->num_objs == b->cap_objs) {
        size_t cap = b->cap_objs != 0 ? b->cap_objs * 2 : 64;
        store_obj_t **no = realloc(b->objs, cap * sizeof(*no));
        if (no == NULL)
            return -1;
        b->objs = no;
        b->cap_objs = cap;
    }
    memmove(b->objs + i + 1, b->objs + i, (b->num_objs - i) * sizeof(*b->objs));
    b->objs[i] = o;
    ++b->num_objs;
    return 0;
}

static void record_paths(store_bucket_t *b, const char *key, size_t len, char *dir, char *meta, char hash[65])
{
    key_hash(key, len, hash);
    snprintf(dir, PATH_MAX, "%s/%.2s", b->dir, hash);
    snprintf(meta, PATH_MAX, "%s/%s.meta", dir, hash);
}

/* the record of a version: <H>.meta for the null version, <H>.<vid>.ver for a named one */
static void version_record_path(store_bucket_t *b, const store_obj_t *o, char *dir, char *path, char hash[65])
{
    record_paths(b, o->key, o->key_len, dir, path, hash);
    if (o->version_id[0] != '\0')
        snprintf(path, PATH_MAX, "%s/%s.%s.ver", dir, hash, o->version_id);
}

static uint64_t next_stamp(void);
static void new_version_id(char id[33], uint64_t stamp);
static int index_put_version(store_bucket_t *b, store_obj_t *o, store_obj_t **old);

/* marks old replaced or deleted and drops the index's reference (after the directory is durable) */
static void retire(store_obj_t *old)
{
    if (old != NULL) {
        atomic_store(&old->superseded, 1);
        store_fs_obj_release(old);
    }
}

/*
 * Writes o's record and publishes it: the commit point. o has one reference, which the index takes over; an extra one is added
 * for *out. The caller's data is already durable.
 */
static int commit_obj(store_bucket_t *b, store_obj_t *o, store_fs_precond_cb precond, void *ctx, int *refusal, store_obj_t **out)
{
    char dir[PATH_MAX], meta[PATH_MAX], tmp[PATH_MAX], hash[65], gen[17];
    sigv4_buf_t rec = {0};
    store_obj_t *old = NULL;
    int fd = -1, r;

    /* versioning: a named version if Enabled; else the null version, which replaces the previous null version */
    o->stamp = next_stamp();
    if (atomic_load(&b->versioning) == STORE_FS_VERSIONING_ENABLED)
        new_version_id(o->version_id, o->stamp);
    version_record_path(b, o, dir, meta, hash);
    random_hex(gen, 8);
    snprintf(tmp, sizeof(tmp), "%s.%s.tmp", meta, gen);
    if (obj_record(o, &rec) != 0) {
        r = STORE_FS_ENOMEM;
        goto fail;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0 || fileio_write_all(fd, rec.base, rec.len) != 0 ||
        fsync(fd) != 0) {
        r = errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
        if (r == STORE_FS_EIO)
            log_error("store: cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;

    pthread_rwlock_wrlock(&b->lock);
    if (b->deleted) {
        pthread_rwlock_unlock(&b->lock);
        r = STORE_FS_ENOENT;
        goto fail;
    }
    if (precond != NULL) {
        size_t i = obj_lower_bound(b, o->key, o->key_len);
        const store_obj_t *cur =
            i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, o->key, o->key_len) == 0 && !b->objs[i]->delete_marker
                ? b->objs[i]
                : NULL;
        int pr = precond(ctx, cur);
        if (pr != 0) {
            pthread_rwlock_unlock(&b->lock);
            if (refusal != NULL)
                *refusal = pr;
            r = STORE_FS_EPRECOND;
            goto fail;
        }
    }
    if (rename(tmp, meta) != 0) {
        pthread_rwlock_unlock(&b->lock);
        log_error("store: cannot rename %s: %s", tmp, strerror(errno));
        r = STORE_FS_EIO;
        goto fail;
    }
    if (out != NULL) {
        store_fs_obj_addref(o);
        *out = o;
    }
    if (index_put_version(b, o, &old) != 0) {
        /* out of memory for the index: the record is on disk and will be loaded at the next start; undo it now */
        unlink(meta);
        pthread_rwlock_unlock(&b->lock);
        if (out != NULL) {
            *out = NULL;
            store_fs_obj_release(o);
        }
        r = STORE_FS_ENOMEM;
        goto fail_renamed;
    }
    pthread_rwlock_unlock(&b->lock);
    sigv4_buf_free(&rec);
    if (fileio_sync_dir(dir) != 0)
        log_error("store: cannot sync directory %s: %s", dir, strerror(errno));
    retire(old);
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
fail_renamed:
    sigv4_buf_free(&rec);
    atomic_store(&o->superseded, 1); /* the data goes with the object */
    store_fs_obj_release(o);
    return r;
}

int store_fs_obj_delete(store_bucket_t *b, const char *key, size_t len)
{
    store_fs_deleted_t d;
    return store_fs_obj_delete_version(b, key, len, NULL, &d);
}

/* DeleteObject on a bucket whose versioning is OFF; 1 if it is not OFF any more (under the lock) */
static int delete_unversioned(store_bucket_t *b, const char *key, size_t len)
{
    char dir[PATH_MAX], meta[PATH_MAX], hash[65];
    store_obj_t *old = NULL;
    record_paths(b, key, len, dir, meta, hash);
    pthread_rwlock_wrlock(&b->lock);
    if (atomic_load(&b->versioning) != STORE_FS_VERSIONING_OFF) {
        pthread_rwlock_unlock(&b->lock);
        return 1;
    }
    size_t i = obj_lower_bound(b, key, len);
    if (i == b->num_objs || key_cmp(b->objs[i]->key, b->objs[i]->key_len, key, len) != 0) {
        pthread_rwlock_unlock(&b->lock);
        return STORE_FS_ENOENT;
    }
    if (unlink(meta) != 0 && errno != ENOENT) {
        log_error("store: cannot delete %s: %s", meta, strerror(errno));
        pthread_rwlock_unlock(&b->lock);
        return STORE_FS_EIO;
    }
    old = b->objs[i];
    memmove(b->objs + i, b->objs + i + 1, (b->num_objs - i - 1) * sizeof(*b->objs));
    --b->num_objs;
    pthread_rwlock_unlock(&b->lock);
    if (fileio_sync_dir(dir) != 0)
        log_error("store: cannot sync directory %s: %s", dir, strerror(errno));
    retire(old);
    return 0;
}

/* ---- writers ----------------------------------------------------------------------------------------------------------------- */

int store_fs_writer_open(store_fs_writer_t *w, store_bucket_t *b, const char *key, size_t len)
{
    char dir[PATH_MAX], meta[PATH_MAX], hash[65], gen[17], path[PATH_MAX];
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    if (len == 0 || len > STORE_FS_MAX_KEY)
        return STORE_FS_EINVAL;
    record_paths(b, key, len, dir, meta, hash);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
    random_hex(gen, 8);
    snprintf(path, sizeof(path), "%s/%s.%s", dir, hash, gen);
    if ((w->key = xstrndup(key, len)) == NULL || (w->data_path = strdup(path)) == NULL) {
        store_fs_writer_abort(w);
        return STORE_FS_ENOMEM;
    }
    w->key_len = len;
    if ((w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        int r = errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
        if (r == STORE_FS_EIO)
            log_error("store: cannot create %s: %s", path, strerror(errno));
        free(w->data_path);
        w->data_path = NULL;
        store_fs_writer_abort(w);
        return r;
    }
    w->bucket = b;
    return 0;
}

int store_fs_writer_write(store_fs_writer_t *w, const void *buf, size_t len)
{
    if (w->fd < 0)
        return STORE_FS_EIO;
    if (fileio_write_all(w->fd, buf, len) != 0) {
        log_error("store: cannot write %s: %s", w->data_path, strerror(errno));
        return STORE_FS_EIO;
    }
    w->size += len;
    return 0;
}

void store_fs_writer_abort(store_fs_writer_t *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->data_path != NULL)
        unlink(w->data_path);
    free(w->data_path);
    free(w->key);
    w->data_path = NULL;
    w->key = NULL;
}

static store_obj_t *obj_new(const char *key, size_t key_len, char *data_path, uint64_t size, const store_obj_meta_t *meta)
{
    store_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    atomic_init(&o->refcnt, 1);
    o->key = xstrndup(key, key_len);
    o->key_len = key_len;
    o->data_path = data_path;
    o->size = size;
    snprintf(o->etag, sizeof(o->etag), "%s", meta->etag);
    o->mtime_ms = meta->mtime_ms != 0 ? meta->mtime_ms : now_ms();
    o->headers = copy_headers(meta->headers, meta->num_headers);
    o->num_headers = meta->num_headers;
    if (o->key == NULL || o->headers == NULL) {
        o->data_path = NULL;
        obj_free(o);
        return NULL;
    }
    return o;
}

int store_fs_writer_commit(store_fs_writer_t *w, const store_obj_meta_t *meta, store_fs_precond_cb precond, void *ctx, int *refusal,
                           store_obj_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (w->fd < 0 || w->upload != NULL)
        return STORE_FS_EINVAL;
    if (fsync(w->fd) != 0) {
        log_error("store: cannot sync %s: %s", w->data_path, strerror(errno));
        store_fs_writer_abort(w);
        return STORE_FS_EIO;
    }
    close(w->fd);
    w->fd = -1;
    store_obj_t *o = obj_new(w->key, w->key_len, w->data_path, w->size, meta);
    if (o == NULL) {
        store_fs_writer_abort(w);
        return STORE_FS_ENOMEM;
    }
    w->data_path = NULL; /* owned by o now: deleted with it if the commit fails */
    free(w->key);
    w->key = NULL;
    return commit_obj(w->bucket, o, precond, ctx, refusal, out);
}

/* ---- listing ----------------------------------------------------------------------------------------------------------------- */

/* first index j >= i whose key does not start with p (keys from i on that start with p are contiguous) */
static size_t prefix_end(store_bucket_t *b, size_t i, const char *p, size_t plen)
{
    size_t lo = i, hi = b->num_objs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (starts_with(b->objs[mid]->key, b->objs[mid]->key_len, p, plen))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *find_bytes(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    for (size_t i = 0; i + nlen <= hlen; ++i)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

/* appends a common prefix (a copy of key[0..len)) to a listing's result; 0 or STORE_FS_ENOMEM */
static int push_prefix(store_list_result_t *r, size_t *cap, const char *key, size_t len)
{
    if (r->num_prefixes == *cap) {
        *cap = *cap != 0 ? *cap * 2 : 16;
        char **np = realloc(r->prefixes, *cap * sizeof(*np));
        size_t *nl = realloc(r->prefix_lens, *cap * sizeof(*nl));
        if (np != NULL)
            r->prefixes = np;
        if (nl != NULL)
            r->prefix_lens = nl;
        if (np == NULL || nl == NULL)
            return STORE_FS_ENOMEM;
    }
    if ((r->prefixes[r->num_prefixes] = xstrndup(key, len)) == NULL)
        return STORE_FS_ENOMEM;
    r->prefix_lens[r->num_prefixes++] = len;
    return 0;
}

int store_fs_list(store_bucket_t *b, const store_list_params_t *p, store_list_result_t *r)
{
    size_t count = 0, cap_objs = 0, cap_prefixes = 0;
    int ret = 0;
    const char *last = NULL;
    size_t last_len = 0;

    memset(r, 0, sizeof(*r));
    pthread_rwlock_rdlock(&b->lock);
    size_t i = obj_lower_bound(b, p->prefix != NULL ? p->prefix : "", p->prefix_len);
    if (p->after != NULL) {
        size_t j = obj_upper_bound(b, p->after, p->after_len);
        if (j > i)
            i = j;
    }
    while (i < b->num_objs) {
        store_obj_t *o = b->objs[i];
        if (!starts_with(o->key, o->key_len, p->prefix, p->prefix_len))
            break;
        if (o->delete_marker) { /* a deleted key of a versioned bucket (a group of them only is no common prefix either) */
            ++i;
            continue;
        }
        if (p->delimiter != NULL && p->delimiter_len != 0) {
            const char *d = find_bytes(o->key + p->prefix_len, o->key_len - p->prefix_len, p->delimiter, p->delimiter_len);
            if (d != NULL) {
                size_t cplen = (size_t)(d - o->key) + p->delimiter_len;
                size_t end = prefix_end(b, i, o->key, cplen);
                if (p->after != NULL && key_cmp(o->key, cplen, p->after, p->after_len) <= 0) {
                    i = end; /* this group was returned on an earlier page */
                    continue;
                }
                if (count == p->max_keys) {
                    r->truncated = 1;
                    break;
                }
                if ((ret = push_prefix(r, &cap_prefixes, o->key, cplen)) != 0)
                    break;
                last = r->prefixes[r->num_prefixes - 1];
                last_len = cplen;
                ++count;
                i = end;
                continue;
            }
        }
        if (count == p->max_keys) {
            r->truncated = 1;
            break;
        }
        if (r->num_objs == cap_objs) {
            cap_objs = cap_objs != 0 ? cap_objs * 2 : 64;
            store_obj_t **no = realloc(r->objs, cap_objs * sizeof(*no));
            if (no == NULL) {
                ret = STORE_FS_ENOMEM;
                break;
            }
            r->objs = no;
        }
        store_fs_obj_addref(o);
        r->objs[r->num_objs++] = o;
        last = o->key;
        last_len = o->key_len;
        ++count;
        ++i;
    }
    if (ret == 0 && r->truncated && last != NULL) {
        if ((r->next = xstrndup(last, last_len)) == NULL)
            ret = STORE_FS_ENOMEM;
        r->next_len = last_len;
    }
    pthread_rwlock_unlock(&b->lock);
    if (ret != 0)
        store_fs_list_free(r);
    return ret;
}

void store_fs_list_free(store_list_result_t *r)
{
    for (size_t i = 0; i != r->num_objs; ++i)
        store_fs_obj_release(r->objs[i]);
    for (size_t i = 0; i != r->num_prefixes; ++i)
        free(r->prefixes[i]);
    free(r->objs);
    free(r->prefixes);
    free(r->prefix_lens);
    free(r->next);
    free(r->latest);
    memset(r, 0, sizeof(*r));
}

/* ---- multipart uploads ------------------------------------------------------------------------------------------------------- */

static void upload_free(store_upload_t *u)
{
    free(u->key);
    free_headers(u->headers, u->num_headers);
    free(u->dir);
    free(u->parts);
    pthread_mutex_destroy(&u->lock);
    EDGE_FREE_OBJ(u, STORE_UPLOAD_MAGIC);
    free(u);
}

void store_fs_upload_release(store_upload_t *u)
{
    if (u == NULL)
        return;
    EDGE_CHECK_OBJ(u, STORE_UPLOAD_MAGIC);
    unsigned before = atomic_fetch_sub(&u->refcnt, 1);
    EDGE_ASSERT(before != 0);
    if (before == 1)
        upload_free(u);
}

const char *store_fs_upload_key(const store_upload_t *u, size_t *len)
{
    *len = u->key_len;
    return u->key;
}

int64_t store_fs_upload_initiated_ms(const store_upload_t *u)
{
    return u->initiated_ms;
}

static size_t upload_lower_bound(store_fs_t *fs, const char *id)
{
    size_t lo = 0, hi = fs->num_uploads;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(fs->uploads[mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int upload_register(store_fs_t *fs, store_upload_t *u)
{
    pthread_mutex_lock(&fs->uploads_lock);
    size_t i = upload_lower_bound(fs, u->id);
    if (fs->num_uploads == fs->cap_uploads) {
        size_t cap = fs->cap_uploads != 0 ? fs->cap_uploads * 2 : 16;
        store_upload_t **nu = realloc(fs->uploads, cap * sizeof(*nu));
        if (nu == NULL) {
            pthread_mutex_unlock(&fs->uploads_lock);
            return -1;
        }
        fs->uploads = nu;
        fs->cap_uploads = cap;
    }
    memmove(fs->uploads + i + 1, fs->uploads + i, (fs->num_uploads - i) * sizeof(*fs->uploads));
    fs->uploads[i] = u;
    ++fs->num_uploads;
    pthread_mutex_unlock(&fs->uploads_lock);
    return 0;
}

/* removes u from the registry and drops the registry's reference (caller holds u->lock and has set gone) */
static void upload_unregister(store_fs_t *fs, store_upload_t *u)
{
    pthread_mutex_lock(&fs->uploads_lock);
    size_t i = upload_lower_bound(fs, u->id);
    int found = i < fs->num_uploads && fs->uploads[i] == u;
    if (found) {
        memmove(fs->uploads + i, fs->uploads + i + 1, (fs->num_uploads - i - 1) * sizeof(*fs->uploads));
        --fs->num_uploads;
    }
    pthread_mutex_unlock(&fs->uploads_lock);
    if (found)
        store_fs_upload_release(u);
}

static int valid_upload_id(const char *id)
{
    size_t n = 0;
    for (; id[n] != '\0'; ++n)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return 0;
    return n == 32;
}

static store_upload_t *upload_new(store_fs_t *fs, const char *id, const char *bucket, const char *key, size_t key_len)
{
    store_upload_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->magic = STORE_UPLOAD_MAGIC;
    u->fs = fs;
    atomic_init(&u->refcnt, 1);
    snprintf(u->id, sizeof(u->id), "%s", id);
    snprintf(u->bucket, sizeof(u->bucket), "%s", bucket);
    pthread_mutex_init(&u->lock, NULL);
    u->key = xstrndup(key, key_len);
    u->key_len = key_len;
    u->dir = path_cat(fs->uploads_dir, id);
    if (u->key == NULL || u->dir == NULL) {
        upload_free(u);
        return NULL;
    }
    return u;
}

int store_fs_upload_create(store_bucket_t *b, const char *key, size_t len, const store_header_t *headers, size_t num_headers,
                           char id[33])
{
    store_fs_t *fs = b->fs;
    sigv4_buf_t rec = {0};
    char path[PATH_MAX];
    char ms[32];

    if (len == 0 || len > STORE_FS_MAX_KEY)
        return STORE_FS_EINVAL;
    random_hex(id, 16);
    store_upload_t *u = upload_new(fs, id, b->name, key, len);
    if (u == NULL)
        return STORE_FS_ENOMEM;
    u->initiated_ms = now_ms();
    if ((u->headers = copy_headers(headers, num_headers)) == NULL) {
        upload_free(u);
        return STORE_FS_ENOMEM;
    }
    u->num_headers = num_headers;
    snprintf(ms, sizeof(ms), "%lld", (long long)u->initiated_ms);
    if (sigv4_buf_append(&rec, "edgehook-store-upload 1\n", 24) != 0 || rec_put(&rec, "bucket", b->name) != 0 ||
        rec_put_raw(&rec, "key", key, len) != 0 || rec_put(&rec, "initiated", ms) != 0 ||
        rec_put_headers(&rec, headers, num_headers) != 0) {
        sigv4_buf_free(&rec);
        upload_free(u);
        return STORE_FS_ENOMEM;
    }
    snprintf(path, sizeof(path), "%s/upload.meta", u->dir);
    if (mkdir(u->dir, 0755) != 0 || write_file_atomic(path, rec.base, rec.len, 0644) != 0 || fileio_sync_dir(u->dir) != 0 ||
        fileio_sync_dir(fs->uploads_dir) != 0) {
        log_error("store: cannot create upload %s: %s", u->dir, strerror(errno));
        rm_rf(u->dir);
        sigv4_buf_free(&rec);
        upload_free(u);
        return STORE_FS_EIO;
    }
    sigv4_buf_free(&rec);
    if (upload_register(fs, u) != 0) {
        rm_rf(u->dir);
        upload_free(u);
        return STORE_FS_ENOMEM;
    }
    return 0;
}

store_upload_t *store_fs_upload_get(store_bucket_t *b, const char *id, const char *key, size_t len)
{
    store_fs_t *fs = b->fs;
    store_upload_t *u = NULL;
    if (!valid_upload_id(id))
        return NULL;
    pthread_mutex_lock(&fs->uploads_lock);
    size_t i = upload_lower_bound(fs, id);
    if (i < fs->num_uploads && strcmp(fs->uploads[i]->id, id) == 0) {
        store_upload_t *c = fs->uploads[i];
        if (strcmp(c->bucket, b->name) == 0 && key_cmp(c->key, c->key_len, key, len) == 0) {
            u = c;
            atomic_fetch_add(&u->refcnt, 1);
        }
    }
    pthread_mutex_unlock(&fs->uploads_lock);
    return u;
}

int store_fs_upload_part_open(store_fs_writer_t *w, store_upload_t *u, unsigned n)
{
    EDGE_CHECK_OBJ(u, STORE_UPLOAD_MAGIC);
    char path[PATH_MAX], gen[17];
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    if (n < 1 || n > STORE_FS_MAX_PARTS)
        return STORE_FS_EINVAL;
    random_hex(gen, 8);
    snprintf(path, sizeof(path), "%s/tmp.%s", u->dir, gen);
    if ((w->data_path = strdup(path)) == NULL)
        return STORE_FS_ENOMEM;
    if ((w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        int r = errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO; /* ENOENT: aborted meanwhile */
        if (r == STORE_FS_EIO)
            log_error("store: cannot create %s: %s", path, strerror(errno));
        free(w->data_path);
        w->data_path = NULL;
        return r;
    }
    w->upload = u;
    w->part_number = n;
    return 0;
}

int store_fs_upload_part_commit(store_fs_writer_t *w, const uint8_t md5[16])
{
    store_upload_t *u = w->upload;
    char path[PATH_MAX], hex[33], oldpath[PATH_MAX];
    int r = 0;

    if (u == NULL || w->fd < 0)
        return STORE_FS_EINVAL;
    if (fsync(w->fd) != 0) {
        log_error("store: cannot sync %s: %s", w->data_path, strerror(errno));
        store_fs_writer_abort(w);
        return STORE_FS_EIO;
    }
    close(w->fd);
    w->fd = -1;
    sigv4_hex(md5, 16, hex);
    snprintf(path, sizeof(path), "%s/%u.%s", u->dir, w->part_number, hex);

    pthread_mutex_lock(&u->lock);
    if (u->gone) {
        r = STORE_FS_ENOENT;
        goto out;
    }
    /* find or add the entry */
    size_t lo = 0, hi = u->num_parts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (u->parts[mid].number < w->part_number)
            lo = mid + 1;
        else
            hi = mid;
    }
    int exists = lo < u->num_parts && u->parts[lo].number == w->part_number;
    if (exists)
        snprintf(oldpath, sizeof(oldpath), "%s/%u.%s", u->dir, w->part_number, u->parts[lo].etag);
    if (!exists && u->num_parts == u->cap_parts) {
        size_t cap = u->cap_parts != 0 ? u->cap_parts * 2 : 16;
        store_part_info_t *np = realloc(u->parts, cap * sizeof(*np));
        if (np == NULL) {
            r = STORE_FS_ENOMEM;
            goto out;
        }
        u->parts = np;
        u->cap_parts = cap;
    }
    if (rename(w->data_path, path) != 0) {
        log_error("store: cannot rename %s: %s", w->data_path, strerror(errno));
        r = STORE_FS_EIO;
        goto out;
    }
    if (fileio_sync_dir(u->dir) != 0)
        log_error("store: cannot sync directory %s: %s", u->dir, strerror(errno));
    if (exists && strcmp(oldpath, path) != 0)
        unlink(oldpath);
    if (!exists) {
        memmove(u->parts + lo + 1, u->parts + lo, (u->num_parts - lo) * sizeof(*u->parts));
        ++u->num_parts;
    }
    u->parts[lo].number = w->part_number;
    u->parts[lo].size = w->size;
    memcpy(u->parts[lo].etag, hex, 33);
    u->parts[lo].mtime_ms = now_ms();
    free(w->data_path);
    w->data_path = NULL;
out:
    pthread_mutex_unlock(&u->lock);
    store_fs_writer_abort(w); /* removes the temporary file if it is still there */
    return r;
}

long store_fs_upload_parts(store_upload_t *u, unsigned after, size_t max, store_part_info_t **out, int *truncated)
{
    EDGE_CHECK_OBJ(u, STORE_UPLOAD_MAGIC);
    long n = 0;
    pthread_mutex_lock(&u->lock);
    *out = calloc(u->num_parts != 0 ? u->num_parts : 1, sizeof(**out));
    *truncated = 0;
    if (*out == NULL) {
        pthread_mutex_unlock(&u->lock);
        return STORE_FS_ENOMEM;
    }
    for (size_t i = 0; i != u->num_parts; ++i) {
        if (u->parts[i].number <= after)
            continue;
        if ((size_t)n == max) {
            *truncated = 1;
            break;
        }
        (*out)[n++] = u->parts[i];
    }
    pthread_mutex_unlock(&u->lock);
    return n;
}

/* the current version of key (not a delete marker) as a commit's precondition sees it, checked now under the read lock */
static int precond_now(store_bucket_t *b, const char *key, size_t len, store_fs_precond_cb precond, void *ctx)
{
    pthread_rwlock_rdlock(&b->lock);
    size_t i = obj_lower_bound(b, key, len);
    const store_obj_t *cur =
        i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, key, len) == 0 && !b->objs[i]->delete_marker ? b->objs[i]
                                                                                                                        : NULL;
    int r = precond(ctx, cur);
    pthread_rwlock_unlock(&b->lock);
    return r;
}

static int write_completed(store_fs_t *fs, const store_upload_t *u, const char *etag, int64_t mtime_ms);
static void completed_push(store_fs_t *fs, const char *id, int64_t ms);

int store_fs_upload_complete(store_upload_t *u, const store_complete_part_t *parts, size_t n, unsigned *bad_part, store_obj_t **out)
{
    return store_fs_upload_complete_if(u, parts, n, NULL, NULL, NULL, bad_part, out);
}

int store_fs_upload_complete_if(store_upload_t *u, const store_complete_part_t *parts, size_t n, store_fs_precond_cb precond,
                                void *ctx, int *refusal, unsigned *bad_part, store_obj_t **out)
{
    EDGE_CHECK_OBJ(u, STORE_UPLOAD_MAGIC);
    store_fs_t *fs = u->fs;
    char dir[PATH_MAX], meta[PATH_MAX], hash[65], gen[17], datadir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
    size_t moved = 0;
    int r = 0, finished = 0;
    store_part_info_t **chosen = NULL;
    store_bucket_t *b = NULL;

    *bad_part = 0;
    if (out != NULL)
        *out = NULL;
    if (n == 0 || n > STORE_FS_MAX_PARTS)
        return STORE_FS_EINVAL;
    pthread_mutex_lock(&u->lock);
    if (u->gone) {
        r = STORE_FS_ENOENT;
        goto out;
    }
    if ((chosen = calloc(n, sizeof(*chosen))) == NULL) {
        r = STORE_FS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i != n; ++i) {
        if (i != 0 && parts[i].number <= parts[i - 1].number) {
            r = STORE_FS_EORDER;
            *bad_part = parts[i].number;
            goto out;
        }
    }
    uint64_t total = 0;
    for (size_t i = 0; i != n; ++i) {
        store_part_info_t *p = NULL;
        for (size_t k = 0; k != u->num_parts; ++k)
            if (u->parts[k].number == parts[i].number)
                p = &u->parts[k];
        if (p == NULL || strcmp(p->etag, parts[i].etag) != 0) {
            r = STORE_FS_EINVAL;
            *bad_part = parts[i].number;
            goto out;
        }
        chosen[i] = p;
        total += p->size;
    }
    for (size_t i = 0; i + 1 < n; ++i) {
        if (chosen[i]->size < STORE_FS_MIN_PART_SIZE) {
            r = STORE_FS_ETOOSMALL;
            *bad_part = parts[i].number;
            goto out;
        }
    }
    if ((b = store_fs_bucket_get(fs, u->bucket, strlen(u->bucket))) == NULL) {
        r = STORE_FS_ENOENT;
        goto out;
    }
    /* a condition that fails now leaves the upload as it is; the binding check is the commit's */
    if (precond != NULL) {
        int pr = precond_now(b, u->key, u->key_len, precond, ctx);
        if (pr != 0) {
            if (refusal != NULL)
                *refusal = pr;
            r = STORE_FS_EPRECOND;
            goto out;
        }
    }

    /* the multipart ETag: MD5 of the concatenated binary part MD5s, then "-N" */
    char etag[48];
    {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t bin[16], digest[16];
        unsigned int dlen = 16;
        EVP_DigestInit_ex(md, EVP_md5(), NULL);
        for (size_t i = 0; i != n; ++i) {
            for (int k = 0; k != 16; ++k)
                bin[k] = (uint8_t)(edge_hex_value(chosen[i]->etag[2 * k]) << 4 | edge_hex_value(chosen[i]->etag[2 * k + 1]));
            EVP_DigestUpdate(md, bin, 16);
        }
        EVP_DigestFinal_ex(md, digest, &dlen);
        EVP_MD_CTX_free(md);
        sigv4_hex(digest, 16, etag);
        snprintf(etag + 32, sizeof(etag) - 32, "-%zu", n);
    }

    /* move the parts into a data directory of the bucket: no copying */
    record_paths(b, u->key, u->key_len, dir, meta, hash);
    random_hex(gen, 8);
    snprintf(datadir, sizeof(datadir), "%s/%s.%s.parts", dir, hash, gen);
    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || mkdir(datadir, 0755) != 0) {
        r = errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
        goto out;
    }
    for (moved = 0; moved != n; ++moved) {
        snprintf(from, sizeof(from), "%s/%u.%s", u->dir, chosen[moved]->number, chosen[moved]->etag);
        snprintf(to, sizeof(to), "%s/%zu", datadir, moved + 1);
        if (rename(from, to) != 0) {
            log_error("store: cannot move part %s: %s", from, strerror(errno));
            r = STORE_FS_EIO;
            goto undo;
        }
    }
    if (fileio_sync_dir(datadir) != 0 || fileio_sync_dir(u->dir) != 0) {
        r = STORE_FS_EIO;
        goto undo;
    }
    /* the completion record first (a repeated Complete answers from it): it counts only while the key's current version is
     * the one committed below (same ETag and time), so a crash before the commit leaves a record that matches nothing */
    int64_t mtime = now_ms();
    if (write_completed(fs, u, etag, mtime) != 0) {
        r = STORE_FS_EIO;
        goto undo;
    }
    store_obj_meta_t om = {etag, mtime, u->headers, u->num_headers};
    store_obj_t *o = obj_new(u->key, u->key_len, NULL, total, &om);
    char *dp = strdup(datadir);
    uint64_t *sizes = calloc(n, sizeof(uint64_t));
    if (o == NULL || dp == NULL || sizes == NULL) {
        if (o != NULL)
            obj_free(o);
        free(dp);
        free(sizes);
        r = STORE_FS_ENOMEM;
        goto undo;
    }
    o->data_path = dp;
    o->num_parts = (uint32_t)n;
    o->part_sizes = sizes;
    for (size_t i = 0; i != n; ++i)
        sizes[i] = chosen[i]->size;
    /* from here the data belongs to o: a failed commit (also a condition that a concurrent writer made fail) deletes it, and
     * the upload is broken anyway; mark it gone */
    r = commit_obj(b, o, precond, ctx, refusal, out);
    u->gone = 1;
    finished = 1;
    rm_rf(u->dir);
    if (r != 0) {
        snprintf(from, sizeof(from), "%s.done", u->dir);
        unlink(from);
    }
    fileio_sync_dir(fs->uploads_dir);
    if (r == 0)
        completed_push(fs, u->id, mtime);
    goto out;

undo:
    snprintf(from, sizeof(from), "%s.done", u->dir);
    unlink(from); /* a completion record written before the failure */
    while (moved-- != 0) {
        snprintf(from, sizeof(from), "%s/%u.%s", u->dir, chosen[moved]->number, chosen[moved]->etag);
        snprintf(to, sizeof(to), "%s/%zu", datadir, moved + 1);
        rename(to, from);
    }
    rm_rf(datadir);
out:
    pthread_mutex_unlock(&u->lock);
    if (finished)
        upload_unregister(fs, u);
    free(chosen);
    store_fs_bucket_release(b);
    return r;
}

/* ---- completion records: a repeated CompleteMultipartUpload answers the same success ------------------------------------------ */

#define COMPLETED_TTL_MS (24ll * 3600 * 1000)

static int write_completed(store_fs_t *fs, const store_upload_t *u, const char *etag, int64_t mtime_ms)
{
    char path[PATH_MAX];
    sigv4_buf_t rec = {0};
    int r = -1;
    snprintf(path, sizeof(path), "%s.done", u->dir);
    if (sigv4_buf_append(&rec, "edgehook-store-completed 1\n", 27) == 0 && rec_put(&rec, "bucket", u->bucket) == 0 &&
        rec_put_raw(&rec, "key", u->key, u->key_len) == 0 && rec_put(&rec, "etag", etag) == 0 &&
        rec_put_u64(&rec, "mtime", (uint64_t)mtime_ms) == 0)
        r = write_file_atomic(path, rec.base, rec.len, 0644) == 0 && fileio_sync_dir(fs->uploads_dir) == 0 ? 0 : -1;
    if (r != 0)
        log_error("store: cannot write %s: %s", path, strerror(errno));
    sigv4_buf_free(&rec);
    return r;
}

/* reads a completion record: 0 and its fields (key: malloc'd), or -1 */
static int read_completed(const char *path, char bucket[64], char **key, size_t *key_len, char etag[48], int64_t *mtime)
{
    char *text = read_small_file(path, 8192), *cur = text, *n, *v;
    int ok = text != NULL && rec_next(&cur, &n, &v) && strcmp(n, "edgehook-store-completed") == 0;
    bucket[0] = etag[0] = '\0';
    *key = NULL;
    *mtime = 0;
    while (ok && rec_next(&cur, &n, &v)) {
        long len = rec_decode(v);
        if (len < 0)
            ok = 0;
        else if (strcmp(n, "bucket") == 0 && len < 64)
            memcpy(bucket, v, (size_t)len + 1);
        else if (strcmp(n, "key") == 0 && *key == NULL && len > 0 && len <= STORE_FS_MAX_KEY)
            *key = xstrndup(v, (size_t)(*key_len = (size_t)len));
        else if (strcmp(n, "etag") == 0 && len < 48)
            memcpy(etag, v, (size_t)len + 1);
        else if (strcmp(n, "mtime") == 0)
            *mtime = strtoll(v, NULL, 10);
    }
    free(text);
    if (!ok || bucket[0] == '\0' || *key == NULL || etag[0] == '\0' || *mtime == 0) {
        free(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

/* 1 if the key's current version is still the one the record names */
static int completed_current(store_bucket_t *b, const char *key, size_t key_len, const char *etag, int64_t mtime)
{
    store_obj_t *o = store_fs_obj_get(b, key, key_len);
    int r = o != NULL && strcmp(o->etag, etag) == 0 && o->mtime_ms == mtime;
    store_fs_obj_release(o);
    return r;
}

/* remembers a record for its expiry, and removes the records that expired (caller does not hold uploads_lock) */
static void completed_push(store_fs_t *fs, const char *id, int64_t ms)
{
    char path[PATH_MAX];
    int64_t now = now_ms();
    pthread_mutex_lock(&fs->uploads_lock);
    while (fs->num_completed != 0 && fs->completed[fs->completed_head].ms < now - COMPLETED_TTL_MS) {
        snprintf(path, sizeof(path), "%s/%s.done", fs->uploads_dir, fs->completed[fs->completed_head].id);
        unlink(path);
        fs->completed_head = (fs->completed_head + 1) % fs->cap_completed;
        --fs->num_completed;
    }
    if (id != NULL) {
        if (fs->num_completed == fs->cap_completed) { /* grow the ring, oldest first again */
            size_t cap = fs->cap_completed != 0 ? fs->cap_completed * 2 : 64;
            struct completed_ref *nc = malloc(cap * sizeof(*nc));
            if (nc != NULL) {
                for (size_t i = 0; i != fs->num_completed; ++i)
                    nc[i] = fs->completed[(fs->completed_head + i) % fs->cap_completed];
                free(fs->completed);
                fs->completed = nc;
                fs->cap_completed = cap;
                fs->completed_head = 0;
            }
        }
        if (fs->num_completed < fs->cap_completed) {
            struct completed_ref *c = &fs->completed[(fs->completed_head + fs->num_completed) % fs->cap_completed];
            snprintf(c->id, sizeof(c->id), "%s", id);
            c->ms = ms;
            ++fs->num_completed;
        } /* else out of memory: the record stays until the next start sweeps it */
    }
    pthread_mutex_unlock(&fs->uploads_lock);
}

int store_fs_upload_completed(store_bucket_t *b, const char *id, const char *key, size_t len, char etag[48], int64_t *mtime_ms)
{
    char path[PATH_MAX], bucket[64], *rkey;
    size_t rkey_len;
    if (!valid_upload_id(id))
        return STORE_FS_ENOENT;
    snprintf(path, sizeof(path), "%s/%s.done", b->fs->uploads_dir, id);
    if (read_completed(path, bucket, &rkey, &rkey_len, etag, mtime_ms) != 0)
        return STORE_FS_ENOENT;
    int match = strcmp(bucket, b->name) == 0 && key_cmp(rkey, rkey_len, key, len) == 0 && *mtime_ms >= now_ms() - COMPLETED_TTL_MS &&
                completed_current(b, key, len, etag, *mtime_ms);
    free(rkey);
    return match ? 0 : STORE_FS_ENOENT;
}

/* at start: keeps the records of id.done that still count, removes the others */
static int completed_ref_cmp(const void *a, const void *b)
{
    const struct completed_ref *x = a, *y = b;
    return x->ms < y->ms ? -1 : x->ms > y->ms;
}

static void load_completed(store_fs_t *fs, const char *name)
{
    char path[PATH_MAX], bucket[64], etag[48], *key, id[33];
    size_t key_len;
    int64_t mtime;
    snprintf(path, sizeof(path), "%s/%s", fs->uploads_dir, name);
    snprintf(id, sizeof(id), "%.32s", name);
    int keep = 0;
    if (read_completed(path, bucket, &key, &key_len, etag, &mtime) == 0) {
        store_bucket_t *b = store_fs_bucket_get(fs, bucket, strlen(bucket));
        keep = b != NULL && mtime >= now_ms() - COMPLETED_TTL_MS && completed_current(b, key, key_len, etag, mtime);
        store_fs_bucket_release(b);
        free(key);
    }
    if (!keep) {
        unlink(path);
        return;
    }
    completed_push(fs, id, mtime);
}

int store_fs_upload_abort(store_upload_t *u)
{
    EDGE_CHECK_OBJ(u, STORE_UPLOAD_MAGIC);
    int r = 0;
    pthread_mutex_lock(&u->lock);
    if (u->gone) {
        r = STORE_FS_ENOENT;
    } else {
        u->gone = 1;
        if (rm_rf(u->dir) != 0)
            log_error("store: cannot remove upload %s: %s", u->dir, strerror(errno));
        fileio_sync_dir(u->fs->uploads_dir);
    }
    pthread_mutex_unlock(&u->lock);
    if (r == 0)
        upload_unregister(u->fs, u);
    return r;
}

static void abort_uploads_of(store_fs_t *fs, const char *bucket)
{
    for (;;) {
        store_upload_t *u = NULL;
        pthread_mutex_lock(&fs->uploads_lock);
        for (size_t i = 0; i != fs->num_uploads; ++i) {
            if (strcmp(fs->uploads[i]->bucket, bucket) == 0) {
                u = fs->uploads[i];
                atomic_fetch_add(&u->refcnt, 1);
                break;
            }
        }
        pthread_mutex_unlock(&fs->uploads_lock);
        if (u == NULL)
            return;
        if (store_fs_upload_abort(u) != 0)
            sched_yield(); /* completed or aborted meanwhile: its owner unregisters it right after unlocking */
        store_fs_upload_release(u);
    }
}

static int upload_info_cmp(const void *a, const void *b)
{
    const store_upload_info_t *x = a, *y = b;
    int c = key_cmp(x->key, x->key_len, y->key, y->key_len);
    return c != 0 ? c : strcmp(x->id, y->id);
}

long store_fs_upload_list(store_bucket_t *b, const char *prefix, size_t prefix_len, store_upload_info_t **out)
{
    store_fs_t *fs = b->fs;
    long n = 0;
    pthread_mutex_lock(&fs->uploads_lock);
    *out = calloc(fs->num_uploads != 0 ? fs->num_uploads : 1, sizeof(**out));
    if (*out == NULL) {
        pthread_mutex_unlock(&fs->uploads_lock);
        return STORE_FS_ENOMEM;
    }
    for (size_t i = 0; i != fs->num_uploads; ++i) {
        store_upload_t *u = fs->uploads[i];
        if (strcmp(u->bucket, b->name) != 0 || !starts_with(u->key, u->key_len, prefix, prefix_len))
            continue;
        store_upload_info_t *info = &(*out)[n];
        memcpy(info->id, u->id, 33);
        if ((info->key = xstrndup(u->key, u->key_len)) == NULL)
            break;
        info->key_len = u->key_len;
        info->initiated_ms = u->initiated_ms;
        ++n;
    }
    pthread_mutex_unlock(&fs->uploads_lock);
    qsort(*out, (size_t)n, sizeof(**out), upload_info_cmp);
    return n;
}

void store_fs_upload_list_free(store_upload_info_t *list, long n)
{
    for (long i = 0; i < n; ++i)
        free(list[i].key);
    free(list);
}

/* ---- opening: load and sweep ------------------------------------------------------------------------------------------------- */

static int is_hex_name(const char *s, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_version_record_name(const char *n, size_t len)
{
    return len == 64 + 1 + STORE_FS_VERSION_ID_LEN + 4 && n[64] == '.' && strcmp(n + 65 + STORE_FS_VERSION_ID_LEN, ".ver") == 0 &&
           is_hex_name(n + 65, STORE_FS_VERSION_ID_LEN);
}

static int index_load(store_bucket_t *b, store_obj_t *o);

/* loads the records of one <hh> directory of a bucket and removes what no record references */
static void load_shard(store_bucket_t *b, const char *shard)
{
    DIR *d = opendir(shard);
    struct dirent *e;
    char **refs = NULL; /* data names referenced by the records of this shard, sorted */
    size_t num_refs = 0, cap_refs = 0;
    if (d == NULL)
        return;
    /* pass 1: records */
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        int is_meta = len == 64 + 5 && strcmp(e->d_name + 64, ".meta") == 0,
            is_ver = is_version_record_name(e->d_name, len); /* <H>.<vid>.ver */
        if ((is_meta || is_ver) && is_hex_name(e->d_name, 64)) {
            char *path = path_cat(shard, e->d_name), *text = path != NULL ? read_small_file(path, 1 << 20) : NULL;
            store_obj_t *o = text != NULL ? obj_parse(text, shard) : NULL;
            char hash[65];
            struct stat st;
            if (o != NULL)
                key_hash(o->key, o->key_len, hash);
            if (o == NULL || memcmp(hash, e->d_name, 64) != 0 ||
                (is_ver ? o->version_id[0] == '\0' || memcmp(e->d_name + 65, o->version_id, STORE_FS_VERSION_ID_LEN) != 0
                        : o->version_id[0] != '\0') ||
                (o->data_path != NULL &&
                 (strncmp(strrchr(o->data_path, '/') + 1, hash, 64) != 0 || lstat(o->data_path, &st) != 0 ||
                  (o->num_parts == 0 ? !S_ISREG(st.st_mode) || (uint64_t)st.st_size != o->size : !S_ISDIR(st.st_mode))))) {
                log_error("store: ignoring the unreadable or inconsistent object record %s", path != NULL ? path : e->d_name);
                if (o != NULL)
                    obj_free(o);
            } else {
                if (num_refs == cap_refs) {
                    cap_refs = cap_refs != 0 ? cap_refs * 2 : 64;
                    char **nr = realloc(refs, cap_refs * sizeof(*nr));
                    if (nr != NULL)
                        refs = nr;
                }
                if (num_refs < cap_refs && index_load(b, o) == 0) {
                    if (o->data_path != NULL)
                        refs[num_refs++] = strrchr(o->data_path, '/') + 1;
                } else {
                    obj_free(o);
                }
            }
            free(text);
            free(path);
        }
    }
    if (num_refs != 0)
        qsort(refs, num_refs, sizeof(*refs), cmp_str);
    /* pass 2: temporary files and data no record points to */
    rewinddir(d);
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || (len == 69 && strcmp(n + 64, ".meta") == 0) ||
            is_version_record_name(n, len))
            continue;
        if (refs != NULL && bsearch(&n, refs, num_refs, sizeof(*refs), cmp_str) != NULL)
            continue;
        char *path = path_cat(shard, n);
        if (path != NULL) {
            log_info("store: removing leftover %s", path);
            rm_rf(path);
            free(path);
        }
    }
    closedir(d);
    free(refs);
}

static store_bucket_t *load_bucket(store_fs_t *fs, const char *name)
{
    char path[PATH_MAX], location[64] = "";
    int64_t created = 0;
    int versioning = STORE_FS_VERSIONING_OFF;
    snprintf(path, sizeof(path), "%s/%s/.bucket", fs->root, name);
    char *text = read_small_file(path, 4096);
    if (text != NULL) {
        char *cur = text, *n, *v;
        while (rec_next(&cur, &n, &v)) {
            if (strcmp(n, "created") == 0)
                created = strtoll(v, NULL, 10);
            else if (strcmp(n, "versioning") == 0)
                versioning = strcmp(v, "Enabled") == 0 ? STORE_FS_VERSIONING_ENABLED : STORE_FS_VERSIONING_SUSPENDED;
            else if (strcmp(n, "location") == 0 && strlen(v) < sizeof(location))
                snprintf(location, sizeof(location), "%s", v);
        }
        free(text);
    }
    if (created == 0) {
        /* not a bucket the store made: never touch it (the root may have been pointed at a directory with other files) */
        log_warn("store: ignoring %s/%s: it has no readable .bucket record", fs->root, name);
        return NULL;
    }
    store_bucket_t *b = bucket_new(fs, name, created);
    if (b == NULL)
        return NULL;
    atomic_store(&b->versioning, versioning);
    memcpy(b->location, location, sizeof(location));
    DIR *d = opendir(b->dir);
    struct dirent *e;
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strlen(e->d_name) == 2 && is_hex_name(e->d_name, 2)) {
                char *shard = path_cat(b->dir, e->d_name);
                if (shard != NULL)
                    load_shard(b, shard);
                free(shard);
            } else if (strstr(e->d_name, ".tmp") != NULL) {
                char *p = path_cat(b->dir, e->d_name);
                if (p != NULL)
                    unlink(p);
                free(p);
            }
        }
        closedir(d);
    }
    return b;
}

static void load_upload(store_fs_t *fs, const char *id)
{
    char path[PATH_MAX];
    char *dir = path_cat(fs->uploads_dir, id);
    if (dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/upload.meta", dir);
    char *text = read_small_file(path, 1 << 20), *cur = text, *n, *v, *bucket = NULL, *key = NULL;
    long key_len = -1;
    int64_t initiated = 0;
    store_header_t *headers = NULL;
    size_t num_headers = 0;
    store_upload_t *u = NULL;

    if (text == NULL || !rec_next(&cur, &n, &v) || strcmp(n, "edgehook-store-upload") != 0)
        goto bad;
    while (rec_next(&cur, &n, &v)) {
        if (strcmp(n, "bucket") == 0) {
            bucket = v;
        } else if (strcmp(n, "key") == 0) {
            key = v;
            key_len = rec_decode(v);
        } else if (strcmp(n, "initiated") == 0) {
            initiated = strtoll(v, NULL, 10);
        } else if (strcmp(n, "header") == 0) {
            char *sp = strchr(v, ' ');
            long vl = sp != NULL ? rec_decode(sp + 1) : -1;
            if (vl < 0)
                goto bad;
            *sp = '\0';
            if (rec_decode(v) <= 0 || push_header(&headers, &num_headers, v, sp + 1, (size_t)vl) != 0)
                goto bad;
        }
    }
    store_bucket_t *b;
    if (bucket == NULL || key == NULL || key_len <= 0 || (b = store_fs_bucket_get(fs, bucket, strlen(bucket))) == NULL)
        goto bad;
    store_fs_bucket_release(b);
    if ((u = upload_new(fs, id, bucket, key, (size_t)key_len)) == NULL)
        goto bad;
    u->initiated_ms = initiated;
    u->headers = headers;
    u->num_headers = num_headers;
    headers = NULL;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *dot = strchr(e->d_name, '.');
        unsigned long num;
        char *end;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "upload.meta") == 0)
            continue;
        num = strtoul(e->d_name, &end, 10);
        if (dot != NULL && end == dot && num >= 1 && num <= STORE_FS_MAX_PARTS && strlen(dot + 1) == 32 &&
            is_hex_name(dot + 1, 32)) {
            struct stat st;
            char *p = path_cat(dir, e->d_name);
            if (p != NULL && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                if (u->num_parts == u->cap_parts) {
                    size_t cap = u->cap_parts != 0 ? u->cap_parts * 2 : 16;
                    store_part_info_t *np = realloc(u->parts, cap * sizeof(*np));
                    if (np != NULL) {
                        u->parts = np;
                        u->cap_parts = cap;
                    }
                }
                if (u->num_parts < u->cap_parts) {
                    store_part_info_t *pi = &u->parts[u->num_parts++];
                    pi->number = (unsigned)num;
                    pi->size = (uint64_t)st.st_size;
                    memcpy(pi->etag, dot + 1, 33);
                    pi->mtime_ms = (int64_t)st.st_mtime * 1000;
                }
            }
            free(p);
        } else {
            char *p = path_cat(dir, e->d_name);
            if (p != NULL)
                rm_rf(p);
            free(p);
        }
    }
    if (d != NULL)
        closedir(d);
    /* sort parts by number; a number that appears twice (crash between rename and unlink) keeps the newest */
    for (size_t i = 1; i < u->num_parts; ++i)
        for (size_t k = i; k != 0 && u->parts[k - 1].number > u->parts[k].number; --k) {
            store_part_info_t t = u->parts[k];
            u->parts[k] = u->parts[k - 1];
            u->parts[k - 1] = t;
        }
    for (size_t i = 1; i < u->num_parts;) {
        if (u->parts[i].number == u->parts[i - 1].number) {
            size_t drop = u->parts[i].mtime_ms >= u->parts[i - 1].mtime_ms ? i - 1 : i;
            snprintf(path, sizeof(path), "%s/%u.%s", dir, u->parts[drop].number, u->parts[drop].etag);
            unlink(path);
            memmove(u->parts + drop, u->parts + drop + 1, (u->num_parts - drop - 1) * sizeof(*u->parts));
            --u->num_parts;
        } else {
            ++i;
        }
    }
    if (upload_register(fs, u) != 0)
        upload_free(u);
    free(text);
    free(dir);
    return;
bad:
    log_warn("store: removing the broken or orphaned multipart upload %s", dir);
    free_headers(headers, num_headers);
    rm_rf(dir);
    free(text);
    free(dir);
}

int store_fs_open(const char *root, store_fs_t **out, char *err, size_t errlen)
{
    store_fs_t *fs = calloc(1, sizeof(*fs));
    char path[PATH_MAX], real[PATH_MAX];
    DIR *d;
    struct dirent *e;

    *out = NULL;
    if (fs == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_FS_ENOMEM;
    }
    fs->lock_fd = -1;
    pthread_rwlock_init(&fs->buckets_lock, NULL);
    pthread_mutex_init(&fs->uploads_lock, NULL);
    /* a new root is private to the user running edgehook; an existing one keeps its mode */
    if (mkdir_p(root, 0700) != 0 || realpath(root, real) == NULL) {
        snprintf(err, errlen, "cannot create the store root %s: %s", root, strerror(errno));
        goto fail;
    }
    if (strlen(real) > STORE_ROOT_MAX) {
        snprintf(err, errlen, "the store root %s is too long (at most %d bytes)", real, STORE_ROOT_MAX);
        goto fail;
    }
    fs->root = strdup(real);
    fs->uploads_dir = path_cat(real, ".uploads");
    snprintf(path, sizeof(path), "%s/.lock", real);
    if ((fs->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(fs->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "the store root %s is in use by another process (%s is locked)", real, path);
        goto fail;
    }
    if (mkdir(fs->uploads_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", fs->uploads_dir, strerror(errno));
        goto fail;
    }
    if ((d = opendir(real)) == NULL) {
        snprintf(err, errlen, "cannot read the store root %s: %s", real, strerror(errno));
        goto fail;
    }
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, ".trash-", 7) == 0 || (strstr(n, ".tmp") != NULL && n[0] == '.')) {
            char *p = path_cat(real, n);
            if (p != NULL)
                rm_rf(p);
            free(p);
            continue;
        }
        if (!store_fs_valid_bucket_name(n, strlen(n)))
            continue;
        char *p = path_cat(real, n);
        struct stat st;
        int isdir = p != NULL && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
        free(p);
        if (!isdir)
            continue;
        store_bucket_t *b = load_bucket(fs, n);
        if (b != NULL && bucket_insert(fs, b) != 0)
            bucket_free(b);
    }
    closedir(d);
    if ((d = opendir(fs->uploads_dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            size_t nl = strlen(e->d_name);
            char idpart[33];
            snprintf(idpart, sizeof(idpart), "%.32s", e->d_name);
            if (valid_upload_id(e->d_name)) {
                load_upload(fs, e->d_name);
            } else if (nl == 37 && strcmp(e->d_name + 32, ".done") == 0 && valid_upload_id(idpart)) {
                load_completed(fs, e->d_name);
            } else {
                char *p = path_cat(fs->uploads_dir, e->d_name);
                if (p != NULL)
                    rm_rf(p);
                free(p);
            }
        }
        closedir(d);
        if (fs->num_completed > 1) /* the ring is not wrapped yet: oldest first */
            qsort(fs->completed, fs->num_completed, sizeof(*fs->completed), completed_ref_cmp);
    }
    *out = fs;
    return 0;
fail:
    store_fs_close(fs);
    return STORE_FS_EIO;
}

void store_fs_close(store_fs_t *fs)
{
    if (fs == NULL)
        return;
    for (size_t i = 0; i != fs->num_buckets; ++i)
        store_fs_bucket_release(fs->buckets[i]);
    for (size_t i = 0; i != fs->num_uploads; ++i)
        store_fs_upload_release(fs->uploads[i]);
    free(fs->buckets);
    free(fs->uploads);
    free(fs->completed);
    if (fs->lock_fd >= 0)
        close(fs->lock_fd);
    free(fs->root);
    free(fs->uploads_dir);
    pthread_rwlock_destroy(&fs->buckets_lock);
    pthread_mutex_destroy(&fs->uploads_lock);
    free(fs);
}

const char *store_fs_root(store_fs_t *fs)
{
    return fs->root;
}

/* ---- versions (see "Versions" in fs.h) --------------------------------------------------------------------------------------- */

/* the last stamp handed out or loaded: stamps are strictly increasing in the process, and above every stamp on disk */
static atomic_ullong last_stamp;

static void seen_stamp(uint64_t s)
{
    unsigned long long prev = atomic_load(&last_stamp);
    while (prev < s && !atomic_compare_exchange_weak(&last_stamp, &prev, s))
        ;
}

static uint64_t next_stamp(void)
{
    unsigned long long now = (unsigned long long)edge_realtime_us(), prev = atomic_load(&last_stamp), next;
    do {
        next = now > prev ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&last_stamp, &prev, next));
    return next;
}

/* 16 hex digits of the stamp (ids sort by time) and 16 random ones */
static void new_version_id(char id[33], uint64_t stamp)
{
    snprintf(id, 17, "%016llx", (unsigned long long)stamp);
    random_hex(id + 16, 8);
}

int store_fs_valid_version_id(const char *id, size_t len)
{
    if (len == 4 && memcmp(id, "null", 4) == 0)
        return 1;
    return len == STORE_FS_VERSION_ID_LEN && is_hex_name(id, len);
}

const char *store_fs_obj_version(const store_obj_t *o)
{
    return o->version_id[0] != '\0' ? o->version_id : "null";
}

static int version_matches(const store_obj_t *o, const char *id)
{
    return strcmp(id, "null") == 0 ? o->version_id[0] == '\0' : strcmp(o->version_id, id) == 0;
}

int store_fs_bucket_versioning(const store_bucket_t *b)
{
    return atomic_load(&((store_bucket_t *)b)->versioning);
}

int store_fs_bucket_set_versioning(store_bucket_t *b, int state)
{
    int r = 0;
    if (state != STORE_FS_VERSIONING_ENABLED && state != STORE_FS_VERSIONING_SUSPENDED)
        return STORE_FS_EINVAL;
    pthread_rwlock_wrlock(&b->lock);
    int old = atomic_load(&b->versioning);
    if (b->deleted) {
        r = STORE_FS_ENOENT;
    } else if (old != state) {
        atomic_store(&b->versioning, state);
        if (write_bucket_record(b) != 0 || fileio_sync_dir(b->dir) != 0) {
            log_error("store: cannot write the record of bucket %s: %s", b->name, strerror(errno));
            atomic_store(&b->versioning, old);
            r = STORE_FS_EIO;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    return r;
}

/* puts o into its key's chain by stamp, newest first (the caller holds the write lock; the index takes o's reference) */
static int chain_insert(store_bucket_t *b, store_obj_t *o)
{
    size_t i = obj_lower_bound(b, o->key, o->key_len);
    if (i == b->num_objs || key_cmp(b->objs[i]->key, b->objs[i]->key_len, o->key, o->key_len) != 0) {
        store_obj_t *none;
        o->older = NULL;
        return index_put(b, o, &none);
    }
    store_obj_t **pp = &b->objs[i];
    while (*pp != NULL && (*pp)->stamp > o->stamp)
        pp = &(*pp)->older;
    o->older = *pp;
    *pp = o;
    return 0;
}

/*
 * Publishes a committed version (caller holds the write lock): a named one joins the chain, the null one replaces the previous
 * null version (*old, to retire; the only case of an unversioned bucket, where it is the key's one object).
 */
static int index_put_version(store_bucket_t *b, store_obj_t *o, store_obj_t **old)
{
    *old = NULL;
    if (o->version_id[0] == '\0') {
        size_t i = obj_lower_bound(b, o->key, o->key_len);
        if (i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, o->key, o->key_len) == 0) {
            for (store_obj_t **pp = &b->objs[i]; *pp != NULL; pp = &(*pp)->older) {
                if ((*pp)->version_id[0] == '\0') {
                    *old = *pp;
                    *pp = (*old)->older;
                    (*old)->older = NULL;
                    break;
                }
            }
            if (b->objs[i] == NULL) { /* the null version was the only one: o takes its place */
                o->older = NULL;
                b->objs[i] = o;
                return 0;
            }
        }
    }
    return chain_insert(b, o);
}

/* at load: one more record of the bucket (two records of one version cannot exist: the file name is the version) */
static int index_load(store_bucket_t *b, store_obj_t *o)
{
    seen_stamp(o->stamp);
    return chain_insert(b, o);
}

store_obj_t *store_fs_obj_get_version(store_bucket_t *b, const char *key, size_t len, const char *version_id)
{
    store_obj_t *o = NULL;
    pthread_rwlock_rdlock(&b->lock);
    size_t i = obj_lower_bound(b, key, len);
    if (i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, key, len) == 0) {
        for (o = b->objs[i]; o != NULL && version_id != NULL && !version_matches(o, version_id); o = o->older)
            ;
        if (o != NULL)
            store_fs_obj_addref(o);
    }
    pthread_rwlock_unlock(&b->lock);
    return o;
}

int store_fs_obj_delete_version(store_bucket_t *b, const char *key, size_t len, const char *version_id, store_fs_deleted_t *res)
{
    char dir[PATH_MAX], path[PATH_MAX], hash[65];
    memset(res, 0, sizeof(*res));
    if (len == 0 || len > STORE_FS_MAX_KEY)
        return STORE_FS_EINVAL;
    if (version_id == NULL) {
        if (atomic_load(&b->versioning) == STORE_FS_VERSIONING_OFF) {
            int r = delete_unversioned(b, key, len);
            if (r != 1)
                return r;
        }
        /* a delete marker: a version without data, committed like any other */
        store_obj_meta_t m = {"", 0, NULL, 0};
        store_obj_t *o = obj_new(key, len, NULL, 0, &m), *out = NULL;
        if (o == NULL)
            return STORE_FS_ENOMEM;
        o->delete_marker = 1;
        record_paths(b, key, len, dir, path, hash);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            obj_free(o);
            return errno == ENOENT ? STORE_FS_ENOENT : STORE_FS_EIO;
        }
        int r = commit_obj(b, o, NULL, NULL, NULL, &out);
        if (r != 0)
            return r;
        snprintf(res->version_id, sizeof(res->version_id), "%s", store_fs_obj_version(out));
        res->delete_marker = res->created_marker = 1;
        store_fs_obj_release(out);
        return 0;
    }
    /* a permanent delete of one version */
    store_obj_t *v = NULL;
    pthread_rwlock_wrlock(&b->lock);
    size_t i = obj_lower_bound(b, key, len);
    store_obj_t **pp = NULL;
    if (i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, key, len) == 0)
        for (pp = &b->objs[i]; *pp != NULL && !version_matches(*pp, version_id); pp = &(*pp)->older)
            ;
    if (pp == NULL || (v = *pp) == NULL) {
        pthread_rwlock_unlock(&b->lock);
        return STORE_FS_ENOENT;
    }
    version_record_path(b, v, dir, path, hash);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("store: cannot delete %s: %s", path, strerror(errno));
        pthread_rwlock_unlock(&b->lock);
        return STORE_FS_EIO;
    }
    *pp = v->older;
    v->older = NULL;
    if (b->objs[i] == NULL) { /* its last version */
        memmove(b->objs + i, b->objs + i + 1, (b->num_objs - i - 1) * sizeof(*b->objs));
        --b->num_objs;
    }
    pthread_rwlock_unlock(&b->lock);
    if (fileio_sync_dir(dir) != 0)
        log_error("store: cannot sync directory %s: %s", dir, strerror(errno));
    snprintf(res->version_id, sizeof(res->version_id), "%s", store_fs_obj_version(v));
    res->delete_marker = v->delete_marker;
    retire(v);
    return 0;
}

/* appends a version to a listing */
static int list_push(store_list_result_t *r, size_t *cap, store_obj_t *o, int latest)
{
    if (r->num_objs == *cap) {
        size_t c = *cap != 0 ? *cap * 2 : 64;
        store_obj_t **no = realloc(r->objs, c * sizeof(*no));
        if (no == NULL)
            return -1;
        r->objs = no;
        unsigned char *nl = realloc(r->latest, c);
        if (nl == NULL)
            return -1;
        r->latest = nl;
        *cap = c;
    }
    store_fs_obj_addref(o);
    r->latest[r->num_objs] = (unsigned char)latest;
    r->objs[r->num_objs++] = o;
    return 0;
}

int store_fs_list_versions(store_bucket_t *b, const store_list_params_t *p, const char *version_after, store_list_result_t *r)
{
    size_t count = 0, cap_objs = 0, cap_prefixes = 0;
    int ret = 0;
    const char *last = NULL, *last_version = "";
    size_t last_len = 0;
    int has_vmark = p->after != NULL && version_after != NULL && version_after[0] != '\0';

    memset(r, 0, sizeof(*r));
    pthread_rwlock_rdlock(&b->lock);
    size_t i = obj_lower_bound(b, p->prefix != NULL ? p->prefix : "", p->prefix_len);
    if (p->after != NULL) {
        size_t j = has_vmark ? obj_lower_bound(b, p->after, p->after_len) : obj_upper_bound(b, p->after, p->after_len);
        if (j > i)
            i = j;
    }
    while (i < b->num_objs && ret == 0 && !r->truncated) {
        store_obj_t *o = b->objs[i];
        if (!starts_with(o->key, o->key_len, p->prefix, p->prefix_len))
            break;
        if (p->delimiter != NULL && p->delimiter_len != 0) {
            const char *d = find_bytes(o->key + p->prefix_len, o->key_len - p->prefix_len, p->delimiter, p->delimiter_len);
            if (d != NULL) {
                size_t cplen = (size_t)(d - o->key) + p->delimiter_len;
                size_t end = prefix_end(b, i, o->key, cplen);
                if (p->after != NULL && key_cmp(o->key, cplen, p->after, p->after_len) <= 0) {
                    i = end; /* returned on an earlier page */
                    continue;
                }
                if (count == p->max_keys) {
                    r->truncated = 1;
                    break;
                }
                if ((ret = push_prefix(r, &cap_prefixes, o->key, cplen)) != 0)
                    break;
                last = r->prefixes[r->num_prefixes - 1];
                last_len = cplen;
                last_version = "";
                ++count;
                i = end;
                continue;
            }
        }
        store_obj_t *v = o;
        if (has_vmark && key_cmp(o->key, o->key_len, p->after, p->after_len) == 0) {
            /* the key of the markers: start after that version (an unknown named id: after its time; unknown null: skip) */
            while (v != NULL && !version_matches(v, version_after))
                v = v->older;
            if (v != NULL) {
                v = v->older;
            } else if (strcmp(version_after, "null") != 0 && strlen(version_after) == STORE_FS_VERSION_ID_LEN) {
                char st[17];
                memcpy(st, version_after, 16);
                st[16] = '\0';
                uint64_t stamp = strtoull(st, NULL, 16);
                for (v = o; v != NULL && v->stamp >= stamp; v = v->older)
                    ;
            }
        }
        for (; v != NULL; v = v->older) {
            if (count == p->max_keys) {
                r->truncated = 1;
                break;
            }
            if (list_push(r, &cap_objs, v, v == o) != 0) {
                ret = STORE_FS_ENOMEM;
                break;
            }
            last = v->key;
            last_len = v->key_len;
            last_version = store_fs_obj_version(v);
            ++count;
        }
        ++i;
    }
    if (ret == 0 && r->truncated && last != NULL) {
        if ((r->next = xstrndup(last, last_len)) == NULL)
            ret = STORE_FS_ENOMEM;
        r->next_len = last_len;
        snprintf(r->next_version, sizeof(r->next_version), "%s", last_version);
    }
    if (ret == 0 && r->truncated && last == NULL)
        r->truncated = 0; /* max-keys=0 */
    pthread_rwlock_unlock(&b->lock);
    if (ret != 0)
        store_fs_list_free(r);
    return ret;
}

/* ---- metadata-only updates (object tagging) -------------------------------------------------------------------------------- */

/* hard-links o's data under a fresh name beside it (a file, or a directory of linked parts); malloc'd path or NULL */
static char *link_data(const store_obj_t *o, const char *dir, const char *hash)
{
    char path[PATH_MAX], from[PATH_MAX], to[PATH_MAX], gen[17];
    random_hex(gen, 8);
    if (o->num_parts == 0) {
        snprintf(path, sizeof(path), "%s/%s.%s", dir, hash, gen);
        if (link(o->data_path, path) != 0)
            goto fail;
        return strdup(path);
    }
    snprintf(path, sizeof(path), "%s/%s.%s.parts", dir, hash, gen);
    if (mkdir(path, 0755) != 0)
        goto fail;
    for (uint32_t i = 1; i <= o->num_parts; ++i) {
        snprintf(from, sizeof(from), "%s/%u", o->data_path, i);
        snprintf(to, sizeof(to), "%s/%u", path, i);
        if (link(from, to) != 0) {
            rm_rf(path);
            goto fail;
        }
    }
    if (fileio_sync_dir(path) != 0) {
        rm_rf(path);
        goto fail;
    }
    return strdup(path);
fail:
    log_error("store: cannot link the data of %s: %s", o->data_path, strerror(errno));
    return NULL;
}

int store_fs_obj_set_header(store_bucket_t *b, const char *key, size_t len, const char *version_id, const char *name,
                            const char *value)
{
    for (int attempt = 0; attempt != 16; ++attempt) {
        char dir[PATH_MAX], meta[PATH_MAX], tmp[PATH_MAX], hash[65], gen[17];
        sigv4_buf_t rec = {0};
        int fd = -1, r = 0;
        store_obj_t *o = store_fs_obj_get_version(b, key, len, version_id), *n = NULL;
        if (o == NULL || o->delete_marker) {
            store_fs_obj_release(o);
            return STORE_FS_ENOENT;
        }
        /* the new version record: o's, with other headers and data of its own (hard links: no copy, and o's data stays o's
         * until its last reader is done) */
        version_record_path(b, o, dir, meta, hash);
        store_header_t *headers = calloc(o->num_headers + 1, sizeof(*headers));
        size_t num_headers = 0;
        for (size_t k = 0; headers != NULL && k != o->num_headers; ++k)
            if (strcmp(o->headers[k].name, name) != 0)
                headers[num_headers++] = o->headers[k];
        if (headers != NULL && value != NULL)
            headers[num_headers++] = (store_header_t){(char *)name, (char *)value};
        char *data = headers != NULL ? link_data(o, dir, hash) : NULL;
        store_obj_meta_t om = {o->etag, o->mtime_ms, headers, num_headers};
        if (data == NULL || (n = obj_new(o->key, o->key_len, data, o->size, &om)) == NULL) {
            if (data != NULL)
                rm_rf(data);
            free(data);
            free(headers);
            store_fs_obj_release(o);
            return headers == NULL || data != NULL ? STORE_FS_ENOMEM : STORE_FS_EIO;
        }
        free(headers); /* obj_new copied them */
        memcpy(n->version_id, o->version_id, sizeof(n->version_id));
        n->stamp = o->stamp;
        if (o->num_parts != 0) {
            if ((n->part_sizes = malloc(o->num_parts * sizeof(uint64_t))) == NULL) {
                r = STORE_FS_ENOMEM;
                goto fail;
            }
            memcpy(n->part_sizes, o->part_sizes, o->num_parts * sizeof(uint64_t));
            n->num_parts = o->num_parts;
        }
        random_hex(gen, 8);
        snprintf(tmp, sizeof(tmp), "%s.%s.tmp", meta, gen);
        if (obj_record(n, &rec) != 0) {
            r = STORE_FS_ENOMEM;
            goto fail;
        }
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0 || fileio_write_all(fd, rec.base, rec.len) != 0 ||
            fsync(fd) != 0) {
            log_error("store: cannot write %s: %s", tmp, strerror(errno));
            r = STORE_FS_EIO;
            goto fail;
        }
        close(fd);
        fd = -1;
        /* the commit: only if o is still where it was (a concurrent write or delete of the key wins, and this one retries) */
        pthread_rwlock_wrlock(&b->lock);
        store_obj_t **pp = NULL;
        size_t i = obj_lower_bound(b, key, len);
        if (!b->deleted && i < b->num_objs && key_cmp(b->objs[i]->key, b->objs[i]->key_len, key, len) == 0)
            for (pp = &b->objs[i]; *pp != NULL && *pp != o; pp = &(*pp)->older)
                ;
        if (pp == NULL || *pp == NULL) {
            pthread_rwlock_unlock(&b->lock);
            r = b->deleted ? STORE_FS_ENOENT : 1;
            goto fail;
        }
        if (rename(tmp, meta) != 0) {
            pthread_rwlock_unlock(&b->lock);
            log_error("store: cannot rename %s: %s", tmp, strerror(errno));
            r = STORE_FS_EIO;
            goto fail;
        }
        n->older = o->older;
        o->older = NULL;
        *pp = n; /* the index's reference to o is now n's */
        pthread_rwlock_unlock(&b->lock);
        sigv4_buf_free(&rec);
        if (fileio_sync_dir(dir) != 0)
            log_error("store: cannot sync directory %s: %s", dir, strerror(errno));
        retire(o);                /* the index's reference */
        store_fs_obj_release(o); /* ours */
        return 0;
    fail:
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        sigv4_buf_free(&rec);
        atomic_store(&n->superseded, 1); /* its links go with it */
        store_fs_obj_release(n);
        store_fs_obj_release(o);
        if (r != 1)
            return r;
    }
    return STORE_FS_EIO; /* the key kept changing under us */
}
