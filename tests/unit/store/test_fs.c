/* tests/unit/store/test_fs.c - the store's storage engine: buckets, objects, hostile keys, listing, concurrency, restarts,
 * multipart */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "store/fs.h"
#include "sigv4/sigv4.h"

#define FS_FIXTURE_TMPL "/tmp/edgehook-test-fs-XXXXXX"
#include "fs_fixture.h"

static char md5hex_buf[33];
static const char *md5hex(const void *data, size_t len)
{
    uint8_t md[16];
    unsigned n = 16;
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    sigv4_hex(md, 16, md5hex_buf);
    return md5hex_buf;
}

static store_obj_t *put(store_bucket_t *b, const char *key, size_t klen, const char *data, size_t len)
{
    store_fs_writer_t w;
    store_obj_t *o = NULL;
    store_header_t h[] = {{"content-type", "text/plain"}, {"x-amz-meta-a", "b c%\n"}, {"x-amz-meta-p%q", "v"}};
    assert_int_equal(store_fs_writer_open(&w, b, key, klen), 0);
    assert_int_equal(store_fs_writer_write(&w, data, len), 0);
    store_obj_meta_t meta = {md5hex(data, len), 0, h, 3};
    assert_int_equal(store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, &o), 0);
    return o;
}

/* the whole data of an object (single file or parts) */
static char *read_obj(const store_obj_t *o, size_t *len)
{
    char *buf = malloc(o->size + 1);
    size_t n = 0;
    uint32_t nseg = o->num_parts != 0 ? o->num_parts : 1;
    for (uint32_t i = 0; i != nseg; ++i) {
        char path[4200];
        if (o->num_parts != 0)
            snprintf(path, sizeof(path), "%s/%u", o->data_path, i + 1);
        else
            snprintf(path, sizeof(path), "%s", o->data_path);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        ssize_t r;
        while ((r = read(fd, buf + n, o->size + 1 - n)) > 0)
            n += (size_t)r;
        close(fd);
    }
    *len = n;
    return buf;
}

static void check_get(store_bucket_t *b, const char *key, size_t klen, const char *data, size_t len)
{
    store_obj_t *o = store_fs_obj_get(b, key, klen);
    assert_non_null(o);
    size_t n;
    char *got = read_obj(o, &n);
    assert_int_equal(n, len);
    assert_memory_equal(got, data, len);
    assert_int_equal(o->size, len);
    free(got);
    store_fs_obj_release(o);
}

/* counts regular files under dir whose name contains needle (NULL: all) */
static size_t count_files(const char *dir, const char *needle)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4200];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_files(p, needle);
        else if (needle == NULL || strstr(e->d_name, needle) != NULL)
            ++n;
    }
    closedir(d);
    return n;
}

static void test_buckets(void **state)
{
    store_fs_t *fs = open_fs();
    const char *bad[] = {"ab",  "Abc",  "a_b",         "-ab",
                         "ab-", "a..b", "192.168.1.1", ".ab",
                         "ab.", "a/b",  "a b",         "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        assert_false(store_fs_valid_bucket_name(bad[i], strlen(bad[i])));
        assert_int_equal(store_fs_bucket_create(fs, bad[i]), STORE_FS_EINVAL);
    }
    assert_true(store_fs_valid_bucket_name("a.b-c.1", 7));
    assert_true(store_fs_valid_bucket_name("192.168.1.1a", 12));
    assert_int_equal(store_fs_bucket_create(fs, "zeta"), 0);
    assert_int_equal(store_fs_bucket_create(fs, "alpha"), 0);
    assert_int_equal(store_fs_bucket_create(fs, "alpha"), STORE_FS_EEXIST);
    store_bucket_info_t *list;
    assert_int_equal(store_fs_bucket_list(fs, &list), 2);
    assert_string_equal(list[0].name, "alpha");
    assert_string_equal(list[1].name, "zeta");
    assert_true(list[0].created_ms > 0);
    free(list);

    store_bucket_t *b = store_fs_bucket_get(fs, "alpha", 5);
    assert_non_null(b);
    store_fs_obj_release(put(b, "k", 1, "v", 1));
    assert_int_equal(store_fs_bucket_delete(fs, "alpha"), STORE_FS_ENOTEMPTY);
    assert_int_equal(store_fs_obj_delete(b, "k", 1), 0);
    assert_int_equal(store_fs_obj_delete(b, "k", 1), STORE_FS_ENOENT);
    assert_int_equal(store_fs_bucket_delete(fs, "alpha"), 0);
    assert_int_equal(store_fs_bucket_delete(fs, "alpha"), STORE_FS_ENOENT);
    /* a writer on a deleted bucket cannot publish */
    store_fs_writer_t w;
    int r = store_fs_writer_open(&w, b, "x", 1);
    assert_true(r == STORE_FS_ENOENT || r == 0);
    if (r == 0) {
        store_obj_meta_t meta = {"00", 0, NULL, 0};
        assert_int_equal(store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, NULL), STORE_FS_ENOENT);
    }
    store_fs_bucket_release(b);
    assert_null(store_fs_bucket_get(fs, "alpha", 5));
    store_fs_close(fs);

    /* a restart keeps zeta, not alpha */
    fs = open_fs();
    assert_int_equal(store_fs_bucket_list(fs, &list), 1);
    assert_string_equal(list[0].name, "zeta");
    free(list);
    /* a second process on the same root is refused */
    store_fs_t *fs2;
    char err[256];
    assert_int_not_equal(store_fs_open(root, &fs2, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "in use"));
    store_fs_close(fs);
}

static void test_objects_and_restart(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "bkt"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "bkt", 3);
    store_obj_t *o = put(b, "a/b.txt", 7, "hello", 5);
    assert_string_equal(o->etag, "5d41402abc4b2a76b9719d911017c592");
    assert_string_equal(store_fs_obj_header(o, "x-amz-meta-a"), "b c%\n");
    store_fs_obj_release(o);
    check_get(b, "a/b.txt", 7, "hello", 5);
    /* an overwrite while a reader holds the old version: the reader still sees the old bytes */
    store_obj_t *old = store_fs_obj_get(b, "a/b.txt", 7);
    store_fs_obj_release(put(b, "a/b.txt", 7, "world!", 6));
    check_get(b, "a/b.txt", 7, "world!", 6);
    size_t n;
    char *data = read_obj(old, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    char oldpath[4200];
    snprintf(oldpath, sizeof(oldpath), "%s", old->data_path);
    store_fs_obj_release(old);
    assert_int_equal(access(oldpath, F_OK), -1); /* removed with the last reference */
    /* the empty object */
    store_fs_obj_release(put(b, "empty", 5, "", 0));
    check_get(b, "empty", 5, "", 0);
    /* a writer that is aborted leaves nothing */
    store_fs_writer_t w;
    assert_int_equal(store_fs_writer_open(&w, b, "aborted", 7), 0);
    assert_int_equal(store_fs_writer_write(&w, "partial", 7), 0);
    store_fs_writer_abort(&w);
    assert_null(store_fs_obj_get(b, "aborted", 7));
    store_fs_bucket_release(b);
    store_fs_close(fs);

    /* restart: everything acknowledged is there, with its metadata */
    fs = open_fs();
    b = store_fs_bucket_get(fs, "bkt", 3);
    check_get(b, "a/b.txt", 7, "world!", 6);
    check_get(b, "empty", 5, "", 0);
    o = store_fs_obj_get(b, "a/b.txt", 7);
    assert_string_equal(store_fs_obj_header(o, "x-amz-meta-a"), "b c%\n");
    assert_string_equal(store_fs_obj_header(o, "content-type"), "text/plain");
    assert_string_equal(store_fs_obj_header(o, "x-amz-meta-p%q"), "v");
    assert_string_equal(o->etag, md5hex("world!", 6));
    store_fs_obj_release(o);
    char bdir[4200];
    snprintf(bdir, sizeof(bdir), "%s/bkt", store_fs_root(fs));
    assert_int_equal(count_files(bdir, ".meta"), 2);
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

/* keys are never paths: whatever bytes they hold, nothing is created outside root and each key is its own object */
static void test_hostile_keys(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "hostile"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "hostile", 7);
    char longkey[1024];
    memset(longkey, 'x', sizeof(longkey));
    struct {
        const char *k;
        size_t len;
    } keys[] = {{"..", 2},
                {".", 1},
                {"../../../etc/passwd", 19},
                {"/", 1},
                {"//", 2},
                {"a/../../b", 9},
                {"a\0b", 3},
                {"%2e%2e%2f", 9},
                {"..\\..\\x", 7},
                {"a/", 2},
                {"a", 1},
                {"\xff\xfe", 2},
                {longkey, sizeof(longkey)},
                {".meta", 5},
                {".uploads", 8},
                {"../.credentials", 15}};
    size_t nk = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i != nk; ++i) {
        char data[32];
        int dl = snprintf(data, sizeof(data), "data-%zu", i);
        store_fs_obj_release(put(b, keys[i].k, keys[i].len, data, (size_t)dl));
    }
    for (size_t i = 0; i != nk; ++i) {
        char data[32];
        int dl = snprintf(data, sizeof(data), "data-%zu", i);
        check_get(b, keys[i].k, keys[i].len, data, (size_t)dl);
    }
    /* a key over 1024 bytes is refused */
    store_fs_writer_t w;
    char toolong[1025];
    memset(toolong, 'y', sizeof(toolong));
    assert_int_equal(store_fs_writer_open(&w, b, toolong, sizeof(toolong)), STORE_FS_EINVAL);
    assert_int_equal(store_fs_writer_open(&w, b, "", 0), STORE_FS_EINVAL);
    /* nothing appeared next to root, and the bucket holds exactly one record and one data file per key */
    char parent[300];
    snprintf(parent, sizeof(parent), "%s", root);
    *strrchr(parent, '/') = '\0';
    DIR *d = opendir(parent);
    struct dirent *e;
    size_t entries = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            ++entries;
    closedir(d);
    assert_int_equal(entries, 1);
    char bdir[4200];
    snprintf(bdir, sizeof(bdir), "%s/hostile", store_fs_root(fs));
    assert_int_equal(count_files(bdir, ".meta"), nk);
    assert_int_equal(count_files(bdir, NULL), 2 * nk + 1 /* .bucket */);
    assert_int_equal(access("/tmp/etc/passwd", F_OK), -1);
    store_fs_bucket_release(b);
    store_fs_close(fs);
    /* and they all come back after a restart */
    fs = open_fs();
    b = store_fs_bucket_get(fs, "hostile", 7);
    for (size_t i = 0; i != nk; ++i) {
        char data[32];
        int dl = snprintf(data, sizeof(data), "data-%zu", i);
        check_get(b, keys[i].k, keys[i].len, data, (size_t)dl);
    }
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

static void list_check(store_bucket_t *b, const char *prefix, const char *delim, const char *after, size_t max,
                       const char *expected, int truncated)
{
    store_list_params_t p = {
        prefix, strlen(prefix), delim, delim != NULL ? strlen(delim) : 0, after, after != NULL ? strlen(after) : 0, max};
    store_list_result_t r;
    char got[1024] = "";
    assert_int_equal(store_fs_list(b, &p, &r), 0);
    /* objects then prefixes, in order, as "k1 k2 P:p1" */
    for (size_t i = 0; i != r.num_objs; ++i)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%.*s", got[0] ? " " : "", (int)r.objs[i]->key_len,
                 r.objs[i]->key);
    for (size_t i = 0; i != r.num_prefixes; ++i)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%sP:%s", got[0] ? " " : "", r.prefixes[i]);
    if (strcmp(got, expected) != 0)
        fail_msg("list(prefix=%s, delim=%s, after=%s, max=%zu): got \"%s\", expected \"%s\"", prefix, delim ? delim : "-",
                 after ? after : "-", max, got, expected);
    assert_int_equal(r.truncated, truncated);
    store_fs_list_free(&r);
}

static void test_listing(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "list"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "list", 4);
    const char *keys[] = {"photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos-x", "readme",
                          "photos/z.jpg",      "a b+c%.txt",        "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i != sizeof(keys) / sizeof(keys[0]); ++i)
        store_fs_obj_release(put(b, keys[i], strlen(keys[i]), "x", 1));
    /* binary order ('-' < '/', UTF-8 after ASCII) */
    list_check(b, "", NULL, NULL, 1000,
               "a b+c%.txt photos-x photos/2024/a.jpg photos/2024/b.jpg photos/2025/c.jpg photos/z.jpg readme \xc3\xa9t\xc3\xa9",
               0);
    list_check(b, "photos/", NULL, NULL, 1000, "photos/2024/a.jpg photos/2024/b.jpg photos/2025/c.jpg photos/z.jpg", 0);
    list_check(b, "", "/", NULL, 1000, "a b+c%.txt photos-x readme \xc3\xa9t\xc3\xa9 P:photos/", 0);
    list_check(b, "photos/", "/", NULL, 1000, "photos/z.jpg P:photos/2024/ P:photos/2025/", 0);
    list_check(b, "nope", "/", NULL, 1000, "", 0);
    /* paging, also across a rolled-up prefix */
    list_check(b, "", NULL, NULL, 2, "a b+c%.txt photos-x", 1);
    list_check(b, "", NULL, "photos-x", 2, "photos/2024/a.jpg photos/2024/b.jpg", 1);
    list_check(b, "", "/", NULL, 2, "a b+c%.txt photos-x", 1);
    list_check(b, "", "/", "photos-x", 1, "P:photos/", 1);
    list_check(b, "", "/", "photos/", 10, "readme \xc3\xa9t\xc3\xa9", 0);
    list_check(b, "photos/", "/", "photos/2024/", 10, "photos/z.jpg P:photos/2025/", 0);
    list_check(b, "", NULL, "\xc3\xa9t\xc3\xa9", 10, "", 0);
    list_check(b, "", NULL, NULL, 0, "", 1);
    /* a multi-character delimiter */
    list_check(b, "", "/20", NULL, 1000, "a b+c%.txt photos-x photos/z.jpg readme \xc3\xa9t\xc3\xa9 P:photos/20", 0);
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

/* ---- concurrency ----------------------------------------------------------------------------------------------------------- */

#define PUTTERS 6
#define ROUNDS 30
typedef struct putter {
    store_bucket_t *b;
    int id;
} putter_t;

static void *putter_main(void *arg)
{
    putter_t *p = arg;
    char data[40000];
    for (int r = 0; r != ROUNDS; ++r) {
        memset(data, 'A' + p->id, sizeof(data));
        snprintf(data, 32, "writer %d round %d", p->id, r);
        store_fs_writer_t w;
        if (store_fs_writer_open(&w, p->b, "same", 4) != 0)
            abort();
        /* write in pieces, so writers interleave */
        for (size_t off = 0; off < sizeof(data); off += 5000)
            if (store_fs_writer_write(&w, data + off, 5000) != 0)
                abort();
        char etag[33];
        uint8_t md[16];
        unsigned n = 16;
        EVP_Digest(data, sizeof(data), md, &n, EVP_md5(), NULL);
        sigv4_hex(md, 16, etag);
        store_obj_meta_t meta = {etag, 0, NULL, 0};
        if (store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, NULL) != 0)
            abort();
        /* and a reader: whatever version it gets is complete and matches its own ETag */
        store_obj_t *o = store_fs_obj_get(p->b, "same", 4);
        if (o == NULL)
            abort();
        size_t len;
        char *got = read_obj(o, &len);
        uint8_t md2[16];
        char etag2[33];
        EVP_Digest(got, len, md2, &n, EVP_md5(), NULL);
        sigv4_hex(md2, 16, etag2);
        if (len != sizeof(data) || strcmp(etag2, o->etag) != 0)
            abort();
        free(got);
        store_fs_obj_release(o);
    }
    return NULL;
}

static void test_concurrent_puts(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "conc"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "conc", 4);
    pthread_t t[PUTTERS];
    putter_t p[PUTTERS];
    for (int i = 0; i != PUTTERS; ++i) {
        p[i] = (putter_t){b, i};
        pthread_create(&t[i], NULL, putter_main, &p[i]);
    }
    for (int i = 0; i != PUTTERS; ++i)
        pthread_join(t[i], NULL);
    /* exactly one complete object, one record, one data file */
    char bdir[4200];
    snprintf(bdir, sizeof(bdir), "%s/conc", store_fs_root(fs));
    assert_int_equal(count_files(bdir, ".meta"), 1);
    assert_int_equal(count_files(bdir, NULL), 3);
    store_obj_t *o = store_fs_obj_get(b, "same", 4);
    size_t len;
    char *got = read_obj(o, &len);
    assert_int_equal(len, 40000);
    assert_string_equal(o->etag, md5hex(got, len));
    free(got);
    store_fs_obj_release(o);
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

/* preconditions are checked under the lock: of several `If-None-Match: *` writers exactly one wins */
static int on_none_match(void *ctx, const store_obj_t *cur)
{
    return cur != NULL ? 412 : 0;
}

static int wins;
static pthread_mutex_t wins_lock = PTHREAD_MUTEX_INITIALIZER;

static void *create_once_main(void *arg)
{
    store_bucket_t *b = arg;
    store_fs_writer_t w;
    int refusal = 0;
    if (store_fs_writer_open(&w, b, "once", 4) != 0 || store_fs_writer_write(&w, "x", 1) != 0)
        abort();
    store_obj_meta_t meta = {"9dd4e461268c8034f5c8564e155c67a6", 0, NULL, 0};
    int r = store_fs_writer_commit(&w, &meta, on_none_match, NULL, &refusal, NULL);
    pthread_mutex_lock(&wins_lock);
    if (r == 0)
        ++wins;
    else if (r != STORE_FS_EPRECOND || refusal != 412)
        abort();
    pthread_mutex_unlock(&wins_lock);
    return NULL;
}

static void test_conditional_create(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "cond"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "cond", 4);
    pthread_t t[8];
    wins = 0;
    for (int i = 0; i != 8; ++i)
        pthread_create(&t[i], NULL, create_once_main, b);
    for (int i = 0; i != 8; ++i)
        pthread_join(t[i], NULL);
    assert_int_equal(wins, 1);
    char bdir[4200];
    snprintf(bdir, sizeof(bdir), "%s/cond", store_fs_root(fs));
    assert_int_equal(count_files(bdir, NULL), 3); /* .bucket, one record, one data file: the refused ones left nothing */
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

/* ---- crash leftovers ------------------------------------------------------------------------------------------------------- */

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "junk", 4), 4);
    close(fd);
}

static void test_sweep(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "sweep"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "sweep", 5);
    store_obj_t *o = put(b, "keep", 4, "kept", 4);
    char shard[4200], p[4300];
    snprintf(shard, sizeof(shard), "%s", o->data_path);
    *strrchr(shard, '/') = '\0';
    store_fs_obj_release(o);
    store_fs_bucket_release(b);
    store_fs_close(fs);
    /* what a crash can leave: data no record names, temporary records, a half-deleted bucket, an upload without a record */
    snprintf(p, sizeof(p), "%s/%s", shard, "0000000000000000000000000000000000000000000000000000000000000000.0123456789abcdef");
    touch(p);
    snprintf(p, sizeof(p), "%s/%s", shard, "0000000000000000000000000000000000000000000000000000000000000000.meta.0123.tmp");
    touch(p);
    snprintf(p, sizeof(p), "%s/.trash-0123", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/.trash-0123/x", root);
    touch(p);
    snprintf(p, sizeof(p), "%s/.uploads/0123456789abcdef0123456789abcdef", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/.uploads/0123456789abcdef0123456789abcdef/1.0123456789abcdef0123456789abcdef", root);
    touch(p);
    /* a directory the store did not make is left alone, even when it looks like a bucket with shards */
    snprintf(p, sizeof(p), "%s/foreign", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/foreign/ab", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/foreign/ab/user-file", root);
    touch(p);
    fs = open_fs();
    assert_int_equal(access(p, F_OK), 0);
    assert_null(store_fs_bucket_get(fs, "foreign", 7));
    assert_int_equal(store_fs_bucket_create(fs, "foreign"), STORE_FS_EIO);
    assert_int_equal(access(p, F_OK), 0);
    b = store_fs_bucket_get(fs, "sweep", 5);
    check_get(b, "keep", 4, "kept", 4);
    char bdir[4200];
    snprintf(bdir, sizeof(bdir), "%s/sweep", store_fs_root(fs));
    assert_int_equal(count_files(bdir, NULL), 3);
    snprintf(p, sizeof(p), "%s/.trash-0123", root);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/.uploads/0123456789abcdef0123456789abcdef", root);
    assert_int_equal(access(p, F_OK), -1);
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

/* ---- multipart ------------------------------------------------------------------------------------------------------------- */

static void put_part(store_upload_t *u, unsigned n, const char *data, size_t len, char etag[33])
{
    store_fs_writer_t w;
    uint8_t md[16];
    unsigned ml = 16;
    assert_int_equal(store_fs_upload_part_open(&w, u, n), 0);
    assert_int_equal(store_fs_writer_write(&w, data, len), 0);
    EVP_Digest(data, len, md, &ml, EVP_md5(), NULL);
    assert_int_equal(store_fs_upload_part_commit(&w, md), 0);
    sigv4_hex(md, 16, etag);
}

static void test_multipart(void **state)
{
    store_fs_t *fs = open_fs();
    assert_int_equal(store_fs_bucket_create(fs, "mpu"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "mpu", 3);
    store_header_t h[] = {{"content-type", "video/mp4"}};
    char id[33], e1[33], e2[33], e3[33], e1b[33];
    assert_int_equal(store_fs_upload_create(b, "big/file", 8, h, 1, id), 0);
    store_upload_t *u = store_fs_upload_get(b, id, "big/file", 8);
    assert_non_null(u);
    assert_null(store_fs_upload_get(b, id, "other", 5));
    assert_null(store_fs_upload_get(b, "../../etc", "big/file", 8));
    size_t big = STORE_FS_MIN_PART_SIZE;
    char *p1 = malloc(big), *p2 = malloc(big);
    memset(p1, '1', big);
    memset(p2, '2', big);
    put_part(u, 1, "small", 5, e1b);
    put_part(u, 1, p1, big, e1); /* replaces the first upload of part 1 */
    put_part(u, 3, "tail", 4, e3);
    put_part(u, 2, p2, big, e2);
    store_part_info_t *parts;
    int truncated;
    assert_int_equal(store_fs_upload_parts(u, 0, 1000, &parts, &truncated), 3);
    assert_int_equal(parts[0].number, 1);
    assert_int_equal(parts[0].size, big);
    assert_string_equal(parts[2].etag, e3);
    free(parts);
    assert_int_equal(store_fs_upload_parts(u, 1, 1, &parts, &truncated), 1);
    assert_int_equal(parts[0].number, 2);
    assert_true(truncated);
    free(parts);
    store_fs_upload_release(u);
    store_fs_bucket_release(b);
    store_fs_close(fs);

    /* the pending upload survives a restart */
    fs = open_fs();
    b = store_fs_bucket_get(fs, "mpu", 3);
    u = store_fs_upload_get(b, id, "big/file", 8);
    assert_non_null(u);
    store_upload_info_t *ul;
    assert_int_equal(store_fs_upload_list(b, "big", 3, &ul), 1);
    assert_string_equal(ul[0].id, id);
    store_fs_upload_list_free(ul, 1);

    unsigned bad;
    store_obj_t *o;
    store_complete_part_t wrong_order[] = {{2, ""}, {1, ""}};
    memcpy(wrong_order[0].etag, e2, 33);
    memcpy(wrong_order[1].etag, e1, 33);
    assert_int_equal(store_fs_upload_complete(u, wrong_order, 2, &bad, &o), STORE_FS_EORDER);
    store_complete_part_t stale[] = {{1, ""}, {2, ""}};
    memcpy(stale[0].etag, e1b, 33); /* the replaced part's ETag */
    memcpy(stale[1].etag, e2, 33);
    assert_int_equal(store_fs_upload_complete(u, stale, 2, &bad, &o), STORE_FS_EINVAL);
    assert_int_equal(bad, 1);
    store_complete_part_t small[] = {{3, ""}, {4, ""}};
    memcpy(small[0].etag, e3, 33);
    memcpy(small[1].etag, e3, 33);
    assert_int_equal(store_fs_upload_complete(u, small, 2, &bad, &o), STORE_FS_EINVAL); /* part 4 does not exist */
    store_complete_part_t good[] = {{1, ""}, {2, ""}, {3, ""}};
    memcpy(good[0].etag, e1, 33);
    memcpy(good[1].etag, e2, 33);
    memcpy(good[2].etag, e3, 33);
    assert_int_equal(store_fs_upload_complete(u, good, 3, &bad, &o), 0);
    assert_int_equal(o->size, 2 * big + 4);
    assert_int_equal(o->num_parts, 3);
    assert_non_null(strstr(o->etag, "-3"));
    assert_string_equal(store_fs_obj_header(o, "content-type"), "video/mp4");
    store_fs_obj_release(o);
    /* the upload is gone */
    assert_int_equal(store_fs_upload_complete(u, good, 3, &bad, &o), STORE_FS_ENOENT);
    store_fs_upload_release(u);
    assert_null(store_fs_upload_get(b, id, "big/file", 8));
    char *all = malloc(2 * big + 4);
    memcpy(all, p1, big);
    memcpy(all + big, p2, big);
    memcpy(all + 2 * big, "tail", 4);
    check_get(b, "big/file", 8, all, 2 * big + 4);
    store_fs_bucket_release(b);
    store_fs_close(fs);

    /* and the object survives a restart; no upload directory is left */
    fs = open_fs();
    b = store_fs_bucket_get(fs, "mpu", 3);
    check_get(b, "big/file", 8, all, 2 * big + 4);
    char up[4200];
    snprintf(up, sizeof(up), "%s/.uploads", store_fs_root(fs));
    assert_int_equal(count_files(up, NULL), 1); /* only the completion record (a repeated Complete answers from it) */
    assert_int_equal(count_files(up, ".done"), 1);
    char cetag[48];
    int64_t cms;
    assert_int_equal(store_fs_upload_completed(b, id, "big/file", 8, cetag, &cms), 0);
    assert_non_null(strstr(cetag, "-3"));
    assert_int_equal(store_fs_upload_completed(b, id, "big/other", 9, cetag, &cms), STORE_FS_ENOENT);

    /* parts under 5 MiB except the last: EntityTooSmall; abort removes everything */
    assert_int_equal(store_fs_upload_create(b, "k", 1, NULL, 0, id), 0);
    u = store_fs_upload_get(b, id, "k", 1);
    put_part(u, 1, "a", 1, e1);
    put_part(u, 2, "b", 1, e2);
    store_complete_part_t two[] = {{1, ""}, {2, ""}};
    memcpy(two[0].etag, e1, 33);
    memcpy(two[1].etag, e2, 33);
    assert_int_equal(store_fs_upload_complete(u, two, 2, &bad, &o), STORE_FS_ETOOSMALL);
    assert_null(store_fs_obj_get(b, "k", 1));
    assert_int_equal(store_fs_upload_abort(u), 0);
    assert_int_equal(store_fs_upload_abort(u), STORE_FS_ENOENT);
    store_fs_writer_t w;
    assert_int_not_equal(store_fs_upload_part_open(&w, u, 3), 0); /* the directory is gone */
    store_fs_upload_release(u);
    assert_int_equal(count_files(up, NULL) - count_files(up, ".done"), 0); /* completion records stay (24 h) */
    assert_null(store_fs_obj_get(b, "k", 1));
    /* a single-part upload of any size completes */
    assert_int_equal(store_fs_upload_create(b, "one", 3, NULL, 0, id), 0);
    u = store_fs_upload_get(b, id, "one", 3);
    put_part(u, 7, "only", 4, e1);
    store_complete_part_t one[] = {{7, ""}};
    memcpy(one[0].etag, e1, 33);
    assert_int_equal(store_fs_upload_complete(u, one, 1, &bad, &o), 0);
    store_fs_obj_release(o);
    store_fs_upload_release(u);
    check_get(b, "one", 3, "only", 4);
    /* deleting a bucket aborts its uploads */
    assert_int_equal(store_fs_upload_create(b, "pending", 7, NULL, 0, id), 0);
    assert_int_equal(store_fs_obj_delete(b, "one", 3), 0);
    assert_int_equal(store_fs_obj_delete(b, "big/file", 8), 0);
    store_fs_bucket_release(b);
    assert_int_equal(store_fs_bucket_delete(fs, "mpu"), 0);
    assert_int_equal(count_files(up, NULL) - count_files(up, ".done"), 0);
    store_fs_close(fs);
    free(all);
    free(p1);
    free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_objects_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conditional_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
