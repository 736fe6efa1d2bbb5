/* tests/unit/cache/test_disk.c - the disk tier: the record format (round trip, torn and corrupted records refused), the index
 * journal read back (and a torn tail cut off), eviction with reinsertion of what was read. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cache/disk.h"

static h2o_iovec_t s(const char *str)
{
    return h2o_iovec_init(str, strlen(str));
}

static uint64_t hash_of(const char *key)
{
    uint64_t hash = 1469598103934665603ull;
    for (const char *p = key; *p; ++p)
        hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
    return hash;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a complete object of `len` bytes (byte i is i*7+seed) with two headers and a tag, fresh for an hour, stored under
 * `Vary: Accept-Encoding` for requests with Accept-Encoding `ae` (its secondary key as cache_vary_key makes it; NULL: no Vary) */
static cache_obj_t *make_ae(const char *key, size_t len, int seed, const char *ae)
{
    cache_obj_t *o = cache_obj_new(hash_of(key), s(key), s(key));
    cache_decision_t d;
    memset(&d, 0, sizeof(d));
    d.response_time_ms = wall_ms();
    d.lifetime_ms = 3600000;
    cache_obj_set_decision(o, &d);
    h2o_iovec_t tag = s("grp1"), vary = s("accept-encoding");
    char vk[128];
    snprintf(vk, sizeof(vk), "accept-encoding=%s\n", ae);
    cache_obj_set_meta(o, &vary, ae != NULL ? 1 : 0, ae != NULL ? s(vk) : s(""), &tag, 1);
    h2o_header_t h[2];
    memset(h, 0, sizeof(h));
    h[0].name = (h2o_iovec_t *)&H2O_TOKEN_CONTENT_TYPE->buf;
    h[0].value = s("text/plain");
    static h2o_iovec_t custom = {"x-custom", 8};
    h[1].name = &custom;
    h[1].value = s("value-1");
    cache_obj_set_head(o, 200, "OK", h, 2, 2, (int64_t)len, 0);
    char *b = malloc(len + 1);
    for (size_t i = 0; i != len; ++i)
        b[i] = (char)(i * 7 + seed);
    for (size_t at = 0; at < len; at += 10000) /* several appends: a body over several segments */
        cache_obj_append(o, b + at, len - at < 10000 ? len - at : 10000);
    free(b);
    cache_obj_complete(o);
    return o;
}

static cache_obj_t *make(const char *key, size_t len, int seed)
{
    return make_ae(key, len, seed, "gzip");
}

static void test_crc32c(void **state)
{
    (void)state;
    /* the check value of CRC-32C (RFC 3720 B.4), whole and chained, aligned or not */
    assert_int_equal(cache_disk_crc(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(cache_disk_crc(cache_disk_crc(0, "1234", 4), "56789", 5), 0xe3069283u);
    char buf[64];
    memcpy(buf + 3, "123456789", 9);
    assert_int_equal(cache_disk_crc(0, buf + 3, 9), 0xe3069283u);
    assert_int_equal(cache_disk_crc(0, "", 0), 0);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    size_t len = 3 * CACHE_DISK_BLOCK + 123;
    cache_obj_t *o = make("/a", len, 1);
    char *head;
    size_t head_len, need = 0;
    assert_int_equal(cache_disk_encode(o, 42, &head, &head_len), 0);
    cache_disk_record_t rec;
    assert_int_equal(cache_disk_parse_head(head, head_len, &rec, &need), 0);
    assert_int_equal(rec.hash, 42);
    assert_int_equal(rec.body_len, len);
    assert_int_equal(rec.nblocks, 4);
    assert_int_equal(rec.head_len, head_len);
    assert_memory_equal(rec.key.base, "/a", 2);
    /* each block checks against the body */
    char *body = malloc(len);
    for (size_t i = 0; i != len; ++i)
        body[i] = (char)(i * 7 + 1);
    for (uint32_t b = 0; b != 4; ++b) {
        size_t at = (size_t)b * CACHE_DISK_BLOCK, n = len - at < CACHE_DISK_BLOCK ? len - at : CACHE_DISK_BLOCK;
        assert_int_equal(cache_disk_check_block(&rec, b, body + at, n), 0);
    }
    /* a flipped byte of the body fails its block, and only it */
    body[CACHE_DISK_BLOCK + 5] ^= 1;
    assert_int_equal(cache_disk_check_block(&rec, 1, body + CACHE_DISK_BLOCK, CACHE_DISK_BLOCK), -1);
    assert_int_equal(cache_disk_check_block(&rec, 0, body, CACHE_DISK_BLOCK), 0);
    /* a short block (a truncated file) fails */
    assert_int_equal(cache_disk_check_block(&rec, 3, body + 3 * CACHE_DISK_BLOCK, 100), -1);
    /* the metadata rebuilds the object */
    cache_obj_t *back = cache_obj_new(o->hash, cache_obj_key(o), cache_obj_url(o));
    assert_int_equal(cache_disk_apply_meta(&rec, back, 0), 0);
    assert_int_equal(back->status, 200);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_header_t hs[4];
    size_t plain;
    assert_int_equal(cache_obj_num_headers(back), 2);
    assert_int_equal(cache_obj_headers(back, &pool, hs, &plain), 2);
    assert_int_equal(plain, 2);
    assert_string_equal(cache_obj_reason(back), "OK");
    assert_ptr_equal(hs[0].name, &H2O_TOKEN_CONTENT_TYPE->buf);
    assert_memory_equal(hs[1].name->base, "x-custom", 8);
    assert_memory_equal(hs[1].value.base, "value-1", 7);
    h2o_mem_clear_pool(&pool);
    size_t num_tags;
    const h2o_iovec_t *tags = cache_obj_tags(back, &num_tags);
    assert_int_equal(num_tags, 1);
    assert_memory_equal(tags[0].base, "grp1", 4);
    assert_int_equal(back->num_vary, 1);
    assert_int_equal(cache_obj_vary_key(back).len, 21);
    assert_memory_equal(cache_obj_vary_key(back).base, "accept-encoding=gzip\n", 21);
    assert_int_equal(back->content_length, (int64_t)len);
    cache_decision_t dec;
    cache_obj_decision(back, &dec);
    assert_int_equal(dec.lifetime_ms, 3600000);
    cache_obj_release(back);
    free(body);
    free(head);
    cache_obj_release(o);
}

static void test_torn_and_corrupted_heads_are_refused(void **state)
{
    (void)state;
    cache_obj_t *o = make("/torn", 5000, 2);
    char *head;
    size_t head_len, need = 0;
    cache_disk_record_t rec;
    assert_int_equal(cache_disk_encode(o, 7, &head, &head_len), 0);
    /* every single flipped bit of the head is caught */
    for (size_t i = 0; i != head_len; ++i) {
        if (i >= 36 && i < 40)
            continue; /* reserved, checked to be 0: also refused, tested below */
        head[i] ^= 0x10;
        int r = cache_disk_parse_head(head, head_len, &rec, &need);
        assert_true(r != 0);
        head[i] ^= 0x10;
    }
    head[37] = 1;
    assert_int_equal(cache_disk_parse_head(head, head_len, &rec, &need), -1);
    head[37] = 0;
    /* a head cut short asks for more (it is never parsed from what is there) */
    assert_int_equal(cache_disk_parse_head(head, head_len - 8, &rec, &need), 1);
    assert_int_equal(need, head_len);
    assert_int_equal(cache_disk_parse_head(head, 10, &rec, &need), -1);
    /* zeros (a hole in a file) are not a record */
    char zeros[256] = {0};
    assert_int_equal(cache_disk_parse_head(zeros, sizeof(zeros), &rec, &need), -1);
    free(head);
    cache_obj_release(o);
}

/* ---- the tier on a directory ---- */

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_disk.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void store(cache_disk_t *d, const char *key, size_t len, int seed)
{
    cache_obj_t *o = make(key, len, seed);
    cache_disk_store(d, o);
    cache_obj_release(o);
}

/* what a lookup of key by a request with Accept-Encoding `ae` (NULL: none) finds, and its variant in *variant */
static int lookup_ae(cache_disk_t *d, const char *key, const char *ae, uint64_t *variant)
{
    h2o_mem_pool_t pool;
    h2o_headers_t hs = {NULL, 0, 0};
    h2o_mem_init_pool(&pool);
    if (ae != NULL)
        h2o_add_header(&pool, &hs, H2O_TOKEN_ACCEPT_ENCODING, NULL, ae, strlen(ae));
    *variant = 12345;
    int r = cache_disk_lookup(d, s(key), &hs, &pool, wall_ms(), variant);
    h2o_mem_clear_pool(&pool);
    return r;
}

/* reads key back through the tier into a BUSY object of m, as a lookup by a request with Accept-Encoding `ae` would; returns
 * the object once the read ended */
static cache_obj_t *load_ae(cache_disk_t *d, cache_mem_t *m, const char *key, const char *ae)
{
    int created;
    uint64_t variant;
    assert_int_not_equal(lookup_ae(d, key, ae, &variant), CACHE_DISK_NONE);
    cache_obj_t *o = cache_mem_begin(m, hash_of(key), s(key), s(key), &created);
    assert_true(created);
    cache_disk_load(d, o, variant);
    for (int i = 0; i != 10000 && (cache_obj_state(o) == CACHE_OBJ_BUSY || cache_obj_state(o) == CACHE_OBJ_STREAMING); ++i)
        usleep(1000);
    return o;
}

static cache_obj_t *load(cache_disk_t *d, cache_mem_t *m, const char *key)
{
    return load_ae(d, m, key, "gzip");
}

static void test_index_reload_and_torn_journal(void **state)
{
    (void)state;
    char err[256], path[300];
    cache_disk_stats_t st;
    make_dir();
    cache_mem_t *m = cache_mem_new(64 << 20, CACHE_EVICT_S3FIFO);
    cache_disk_t *d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    for (int i = 0; i != 20; ++i) {
        char key[32];
        snprintf(key, sizeof(key), "/obj/%d", i);
        store(d, key, 1000 + (size_t)i, i);
    }
    cache_disk_flush(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 20);
    assert_int_equal(st.writes, 20);
    cache_disk_close(d);

    /* reopened: the same index */
    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 20);
    assert_true(cache_disk_has(d, s("/obj/7"), wall_ms()));
    assert_false(cache_disk_has(d, s("/obj/99"), wall_ms()));
    cache_obj_t *o = load(d, m, "/obj/7");
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_COMPLETE);
    assert_int_equal(cache_obj_avail(o), 1007);
    assert_int_equal((unsigned char)cache_obj_body(o)->first->data[10], (unsigned char)(10 * 7 + 7));
    cache_obj_release(o);
    cache_disk_close(d);

    /* a journal whose last entry was torn (cut in the middle): that entry is gone, the rest is there, and the file is cut back */
    snprintf(path, sizeof(path), "%s/index.log", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    off_t orig = sb.st_size;
    assert_int_equal(truncate(path, orig - 5), 0);
    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 19);
    assert_false(cache_disk_has(d, s("/obj/19"), wall_ms()));
    assert_true(cache_disk_has(d, s("/obj/18"), wall_ms()));
    cache_disk_close(d);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size < orig - 5); /* cut back to the last whole entry */

    /* a record whose bytes were damaged on disk is refused when read, and its entry dropped */
    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    cache_disk_purge(d, CACHE_PURGE_ALL, s(""), 0);
    store(d, "/damaged", 100000, 3);
    cache_disk_flush(d);
    cache_disk_close(d);
    {
        /* the newest segment holds it: flip a byte near its end */
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "ls %s/seg-* | sort | tail -1", dir);
        FILE *p = popen(cmd, "r");
        char seg[300] = "";
        assert_non_null(fgets(seg, sizeof(seg), p));
        pclose(p);
        seg[strcspn(seg, "\n")] = '\0';
        int fd = open(seg, O_RDWR);
        assert_true(fd >= 0);
        struct stat ss;
        fstat(fd, &ss);
        char c;
        assert_int_equal(pread(fd, &c, 1, ss.st_size - 10), 1);
        c ^= 0x20;
        assert_int_equal(pwrite(fd, &c, 1, ss.st_size - 10), 1);
        close(fd);
    }
    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_true(cache_disk_has(d, s("/damaged"), wall_ms()));
    o = load(d, m, "/damaged");
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_FAILED);
    assert_int_equal(cache_obj_fail_status(o), CACHE_DISK_RETRY);
    cache_obj_release(o);
    assert_false(cache_disk_has(d, s("/damaged"), wall_ms()));
    cache_disk_stats(d, &st);
    assert_int_equal(st.corrupt, 1);
    cache_disk_close(d);
    cache_mem_free(m);
    remove_dir();
}

static void test_eviction_reinserts_what_was_read(void **state)
{
    (void)state;
    char err[256];
    cache_disk_stats_t st;
    make_dir();
    cache_mem_t *m = cache_mem_new(64 << 20, CACHE_EVICT_S3FIFO);
    /* 64MB in segments of 4MB; objects of 256KB */
    cache_disk_t *d = cache_disk_open(dir, 64 << 20, m, 128 << 10, err, sizeof(err));
    assert_non_null(d);
    store(d, "/hot", 256 << 10, 1);
    store(d, "/cold", 256 << 10, 2);
    cache_disk_flush(d);
    /* /hot is read (its body is too big for memory here: streamed, and the reader is gone at once) */
    cache_obj_t *o = load(d, m, "/hot");
    cache_obj_release(o);
    for (int i = 0; i != 400; ++i) { /* 100MB through a 64MB tier */
        char key[32];
        snprintf(key, sizeof(key), "/fill/%d", i);
        store(d, key, 256 << 10, i);
        if (i % 50 == 0)
            cache_disk_flush(d);
    }
    cache_disk_flush(d);
    cache_disk_stats(d, &st);
    assert_true(st.evictions > 100);
    assert_true(st.reinserted >= 1);
    assert_true(st.bytes <= (64u << 20) + (4u << 20));
    assert_true(cache_disk_has(d, s("/hot"), wall_ms()));
    assert_false(cache_disk_has(d, s("/cold"), wall_ms()));
    assert_true(cache_disk_has(d, s("/fill/399"), wall_ms()));
    /* purges: by tag (all carry grp1), after a soft one */
    assert_true(cache_disk_purge(d, CACHE_PURGE_URL, s("/fill/399"), 1) == 1);
    assert_false(cache_disk_has(d, s("/fill/399"), wall_ms()));
    assert_true(cache_disk_purge(d, CACHE_PURGE_PREFIX, s("/fill/39"), 0) >= 10);
    assert_true(cache_disk_purge(d, CACHE_PURGE_TAG, s("grp1"), 0) > 0);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 0);
    cache_disk_close(d);
    /* and the purges are in the journal */
    d = cache_disk_open(dir, 64 << 20, m, 128 << 10, err, sizeof(err));
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 0);
    cache_disk_close(d);
    cache_mem_free(m);
    remove_dir();
}

/* a journal entry whose record would lie past its segment's end, by offsets that wrap around 2^64, is dropped at load like any
 * other entry beyond its segment (the CRC is right: the journal is only checked for tears, its numbers must be checked too) */
static void test_journal_offsets_that_wrap_are_dropped(void **state)
{
    (void)state;
    char err[256], path[300];
    cache_disk_stats_t st;
    make_dir();
    cache_mem_t *m = cache_mem_new(64 << 20, CACHE_EVICT_S3FIFO);
    cache_disk_t *d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    store(d, "/wrap", 5000, 1);
    cache_disk_flush(d);
    cache_disk_close(d);

    snprintf(path, sizeof(path), "%s/index.log", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    char e[48 + 4096];
    ssize_t n = pread(fd, e, sizeof(e), 0);
    assert_true(n >= 48);
    assert_int_equal((uint8_t)e[8], 1); /* a PUT */
    uint32_t xl = (uint32_t)(uint8_t)e[12] | (uint32_t)(uint8_t)e[13] << 8 | (uint32_t)(uint8_t)e[14] << 16 | (uint32_t)(uint8_t)e[15] << 24;
    assert_true(48 + xl <= (size_t)n);
    uint64_t len = 0, off;
    for (int i = 0; i != 8; ++i)
        len |= (uint64_t)(uint8_t)e[40 + i] << (8 * i);
    off = (uint64_t)0 - len + 1; /* off + len wraps to 1 */
    for (int i = 0; i != 8; ++i)
        e[32 + i] = (char)(off >> (8 * i));
    uint32_t c = cache_disk_crc(0, e + 8, 48 - 8 + xl);
    for (int i = 0; i != 4; ++i)
        e[4 + i] = (char)(c >> (8 * i));
    assert_int_equal(pwrite(fd, e, 48 + xl, 0), (ssize_t)(48 + xl));
    close(fd);

    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 0);
    assert_false(cache_disk_has(d, s("/wrap"), wall_ms()));
    cache_disk_close(d);
    cache_mem_free(m);
    remove_dir();
}

/* bodies streamed to disk (too big for memory) are held to the writer's queue bound all together, not each on its own: a disk
 * slower than the origins gives records up instead of piling copies in memory (12 streams of 15 MB each handed over at once) */
static void test_streams_share_the_queue_bound(void **state)
{
    (void)state;
    enum { STREAMS = 12, CHUNK = 1 << 20, CHUNKS = 15 };
    char err[256];
    cache_disk_stats_t st;
    make_dir();
    cache_mem_t *m = cache_mem_new(64 << 20, CACHE_EVICT_S3FIFO);
    cache_disk_t *d = cache_disk_open(dir, (uint64_t)1 << 30, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stream_t *streams[STREAMS];
    for (int i = 0; i != STREAMS; ++i) {
        char key[32];
        snprintf(key, sizeof(key), "/big/%d", i);
        cache_obj_t *o = make(key, 0, i);
        streams[i] = cache_disk_stream_begin(d, o, (uint64_t)CHUNK * CHUNKS);
        assert_non_null(streams[i]);
        cache_obj_release(o);
    }
    char *chunk = malloc(CHUNK);
    assert_non_null(chunk);
    memset(chunk, 'x', CHUNK);
    for (int k = 0; k != CHUNKS; ++k)
        for (int i = 0; i != STREAMS; ++i)
            cache_disk_stream_write(streams[i], chunk, CHUNK);
    free(chunk);
    for (int i = 0; i != STREAMS; ++i)
        cache_disk_stream_end(streams[i], 1);
    cache_disk_flush(d);
    cache_disk_stats(d, &st);
    assert_true(st.queue_max_bytes <= CACHE_DISK_QUEUE_MAX);
    assert_int_equal(st.writes + st.dropped, STREAMS); /* each stream either written whole or given up */
    cache_disk_close(d);
    cache_mem_free(m);
    remove_dir();
}

/* an index of more entries than one load chunk holds (1MB: the entries loaded at start are carved out of chunks), with purges
 * journaled before the restart (their entries freed while loading) and after it (the chunks freed while the tier runs) */
static void test_reload_of_many_entries_with_purges(void **state)
{
    (void)state;
    char err[256], key[32];
    cache_disk_stats_t st;
    make_dir();
    cache_mem_t *m = cache_mem_new(64 << 20, CACHE_EVICT_S3FIFO);
    cache_disk_t *d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    enum { N = 12000 };
    for (int i = 0; i != N; ++i) {
        snprintf(key, sizeof(key), "/many/%d", i);
        store(d, key, 10, i);
        if (i % 1000 == 999)
            cache_disk_flush(d);
    }
    cache_disk_flush(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, N);
    size_t purged = cache_disk_purge(d, CACHE_PURGE_PREFIX, s("/many/1"), 0); /* 1, 10-19, 100-199, 1000-1999, 10000-11999 */
    assert_int_equal(purged, 1 + 10 + 100 + 1000 + 2000);
    cache_disk_flush(d);
    cache_disk_close(d);

    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, N - purged);
    assert_true(cache_disk_has(d, s("/many/0"), wall_ms()));
    assert_true(cache_disk_has(d, s("/many/2345"), wall_ms()));
    assert_true(cache_disk_has(d, s("/many/9999"), wall_ms()));
    assert_false(cache_disk_has(d, s("/many/1234"), wall_ms()));
    assert_false(cache_disk_has(d, s("/many/11999"), wall_ms()));
    cache_obj_t *o = load(d, m, "/many/2345");
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_COMPLETE);
    assert_int_equal(cache_obj_avail(o), 10);
    assert_int_equal((unsigned char)cache_obj_body(o)->first->data[3], (unsigned char)(3 * 7 + 2345));
    cache_obj_release(o);
    /* every loaded entry freed while the tier runs (ASan/LSan: each chunk freed once, with its last entry) */
    assert_int_equal(cache_disk_purge(d, CACHE_PURGE_ALL, s(""), 0), N - purged);
    assert_false(cache_disk_has(d, s("/many/0"), wall_ms()));
    cache_disk_flush(d);
    cache_disk_close(d);

    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 0);
    cache_disk_close(d);
    cache_mem_free(m);
}

/* the variants of a Vary'd response live side by side (each found by its own request headers, never by another's) across a
 * restart; purges reach every variant; a response stored under other Vary names displaces them; a key keeps MAX_VARIANTS (32) */
static void test_variants_side_by_side(void **state)
{
    (void)state;
    char err[256], key[32];
    cache_disk_stats_t st;
    uint64_t vg, vi, vb, v;
    make_dir();
    cache_mem_t *m = cache_mem_new(64 << 20, CACHE_EVICT_S3FIFO);
    cache_disk_t *d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    const char *aes[] = {"gzip", "identity", "br"};
    for (int i = 0; i != 3; ++i) {
        cache_obj_t *o = make_ae("/v", 3000 + (size_t)i, 10 + i, aes[i]);
        cache_disk_store(d, o);
        cache_obj_release(o);
    }
    cache_disk_flush(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 3);
    cache_disk_close(d);

    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_non_null(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 3);
    assert_int_equal(lookup_ae(d, "/v", "gzip", &vg), CACHE_DISK_FRESH);
    assert_int_equal(lookup_ae(d, "/v", " identity ", &vi), CACHE_DISK_FRESH); /* the value as cache_vary_key normalises it */
    assert_int_equal(lookup_ae(d, "/v", "br", &vb), CACHE_DISK_FRESH);
    assert_true(vg != vi && vg != vb && vi != vb && vg != 0 && vi != 0 && vb != 0);
    assert_int_equal(lookup_ae(d, "/v", "deflate", &v), CACHE_DISK_NONE);
    assert_int_equal(lookup_ae(d, "/v", NULL, &v), CACHE_DISK_NONE);
    for (int i = 0; i != 3; ++i) {
        cache_obj_t *o = load_ae(d, m, "/v", aes[i]);
        assert_int_equal(cache_obj_state(o), CACHE_OBJ_COMPLETE);
        assert_int_equal(cache_obj_avail(o), 3000 + i);
        assert_int_equal((unsigned char)cache_obj_body(o)->first->data[5], (unsigned char)(5 * 7 + 10 + i));
        cache_mem_remove(m, o);
        cache_obj_release(o);
    }
    /* a variant the index does not hold is a miss (CACHE_DISK_RETRY), never another variant */
    int created;
    cache_obj_t *o = cache_mem_begin(m, hash_of("/v"), s("/v"), s("/v"), &created);
    cache_disk_load(d, o, vg ^ 1);
    for (int i = 0; i != 10000 && cache_obj_state(o) == CACHE_OBJ_BUSY; ++i)
        usleep(1000);
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_FAILED);
    assert_int_equal(cache_obj_fail_status(o), CACHE_DISK_RETRY);
    cache_obj_release(o);
    /* a soft purge marks every variant stale, and stays so across a restart */
    assert_int_equal(cache_disk_purge(d, CACHE_PURGE_TAG, s("grp1"), 1), 3);
    assert_int_equal(lookup_ae(d, "/v", "identity", &v), CACHE_DISK_STALE);
    assert_int_equal(v, vi);
    cache_disk_close(d);
    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    assert_int_equal(lookup_ae(d, "/v", "gzip", &v), CACHE_DISK_STALE);
    assert_int_equal(lookup_ae(d, "/v", "br", &v), CACHE_DISK_STALE);
    /* a fresh copy of one variant replaces its stale one alone */
    o = make_ae("/v", 100, 1, "br");
    cache_disk_store(d, o);
    cache_obj_release(o);
    cache_disk_flush(d);
    assert_int_equal(lookup_ae(d, "/v", "br", &v), CACHE_DISK_FRESH);
    assert_int_equal(lookup_ae(d, "/v", "gzip", &v), CACHE_DISK_STALE);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 3);
    /* a URL purge takes every variant */
    assert_int_equal(cache_disk_purge(d, CACHE_PURGE_URL, s("/v"), 0), 3);
    assert_int_equal(lookup_ae(d, "/v", "br", &v), CACHE_DISK_NONE);

    /* the origin drops its Vary: the new response displaces the variants (a request finds the one without Vary) */
    for (int i = 0; i != 2; ++i) {
        o = make_ae("/w", 200, i, aes[i]);
        cache_disk_store(d, o);
        cache_obj_release(o);
    }
    cache_disk_flush(d);
    o = make_ae("/w", 300, 7, NULL);
    cache_disk_store(d, o);
    cache_obj_release(o);
    /* 40 variants of one key: the index keeps 32 */
    for (int i = 0; i != 40; ++i) {
        snprintf(key, sizeof(key), "lang-%d", i);
        o = make_ae("/cap", 100, i, key);
        cache_disk_store(d, o);
        cache_obj_release(o);
    }
    cache_disk_flush(d);
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 1 + 32);
    assert_int_equal(lookup_ae(d, "/w", "identity", &v), CACHE_DISK_FRESH);
    assert_int_equal(v, 0);
    assert_int_equal(lookup_ae(d, "/cap", "lang-39", &v), CACHE_DISK_FRESH);
    cache_disk_close(d);
    /* the journal replays to the same index */
    d = cache_disk_open(dir, 64 << 20, m, 1 << 20, err, sizeof(err));
    cache_disk_stats(d, &st);
    assert_int_equal(st.objects, 1 + 32);
    assert_int_equal(lookup_ae(d, "/w", NULL, &v), CACHE_DISK_FRESH);
    assert_int_equal(v, 0);
    o = load_ae(d, m, "/w", "br");
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_COMPLETE);
    assert_int_equal(cache_obj_avail(o), 300);
    cache_obj_release(o);
    assert_int_equal(lookup_ae(d, "/cap", "lang-39", &v), CACHE_DISK_FRESH);
    assert_int_equal(cache_disk_purge(d, CACHE_PURGE_PREFIX, s("/cap"), 0), 32);
    cache_disk_close(d);
    cache_mem_free(m);
    remove_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_torn_and_corrupted_heads_are_refused),
        cmocka_unit_test(test_index_reload_and_torn_journal),
        cmocka_unit_test(test_eviction_reinserts_what_was_read),
        cmocka_unit_test(test_journal_offsets_that_wrap_are_dropped),
        cmocka_unit_test(test_streams_share_the_queue_bound),
        cmocka_unit_test(test_reload_of_many_entries_with_purges),
        cmocka_unit_test(test_variants_side_by_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
