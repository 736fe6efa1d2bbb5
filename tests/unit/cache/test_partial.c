/* tests/unit/cache/test_partial.c - stored parts of 206 responses (cache/partial.c): the Content-Range parser (valid and hostile
 * values), strong ETags, merging of overlapping and adjacent parts, ranges answered only from inside a part, a lying origin
 * (same ETag, other bytes) drops the parts, another ETag replaces them, parts combine into a whole response that is stored in
 * the memory cache, the byte bound, purges, and a part fetched before a purge refused after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cache/key.h"
#include "cache/partial.h"

#define LEN 1000

static char content[LEN];
static h2o_mem_pool_t pool;

static void test_content_range(void **state)
{
    (void)state;
    uint64_t f, l, c;
    assert_int_equal(cache_partial_parse_content_range(H2O_STRLIT("bytes 0-99/1000"), &f, &l, &c), 0);
    assert_true(f == 0 && l == 99 && c == 1000);
    assert_int_equal(cache_partial_parse_content_range(H2O_STRLIT(" BYTES 999-999/1000 "), &f, &l, &c), 0);
    assert_true(f == 999 && l == 999 && c == 1000);
    assert_int_equal(cache_partial_parse_content_range(H2O_STRLIT("bytes 0-9223372036854775806/9223372036854775807"), &f, &l, &c),
                     0);
    static const char *const bad[] = {"",
                                      "bytes",
                                      "bytes ",
                                      "bytes 0-99",
                                      "bytes 0-99/",
                                      "bytes 0-99/*",
                                      "bytes */1000",
                                      "bytes 0-1000/1000",
                                      "bytes 100-99/1000",
                                      "bytes -1-99/1000",
                                      "bytes 0--99/1000",
                                      "bytes 0-99/1000x",
                                      "bytes 0-99/1000, bytes 0-99/1000",
                                      "bytes=0-99/1000",
                                      "bytes  0-99/1000",
                                      "items 0-99/1000",
                                      "bytes 0-99/99",
                                      "bytes 0-18446744073709551616/18446744073709551617",
                                      "bytes 00000000000000000000-1/2",
                                      "bytes 0-99 /1000",
                                      "bytes +0-99/1000",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; ++i)
        if (cache_partial_parse_content_range(bad[i], strlen(bad[i]), &f, &l, &c) == 0)
            fail_msg("accepted: \"%s\"", bad[i]);
}

static void test_strong_etag(void **state)
{
    (void)state;
    assert_true(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("\"abc\""))));
    assert_true(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("\"\""))));
    assert_false(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("W/\"abc\""))));
    assert_false(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("abc"))));
    assert_false(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("\"a\"b\""))));
    assert_false(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("\""))));
    assert_false(cache_partial_strong_etag(h2o_iovec_init(H2O_STRLIT("\"a b\""))));
}

static h2o_iovec_t key_of(const char *path)
{
    cache_key_request_t kr = {0, h2o_iovec_init(H2O_STRLIT("example.com")), h2o_iovec_init(path, strlen(path)), NULL};
    return cache_key_build_pool(&pool, NULL, &kr);
}

static cache_decision_t fresh(void)
{
    cache_decision_t d = {0};
    d.storable = 1;
    d.lifetime_ms = 600000;
    d.date_ms = d.request_time_ms = d.response_time_ms = 1000000;
    d.age_ms = -1;
    d.last_modified_ms = -1;
    return d;
}

static cache_partial_result_t add(cache_partial_t *p, const char *path, const char *etag, uint64_t first, uint64_t last,
                                  const char *body, uint64_t epoch, cache_partial_whole_t *whole)
{
    static h2o_iovec_t tag = {H2O_STRLIT("grp")};
    cache_decision_t d = fresh();
    h2o_header_t h[2] = {{&H2O_TOKEN_CONTENT_TYPE->buf, NULL, h2o_iovec_init(H2O_STRLIT("video/mp4"))},
                         {&H2O_TOKEN_ETAG->buf, NULL, h2o_iovec_init(etag, strlen(etag))}};
    h2o_iovec_t key = key_of(path);
    cache_partial_part_t part = {.hash = cache_key_hash(key.base, key.len),
                                 .key = key,
                                 .etag = h2o_iovec_init(etag, strlen(etag)),
                                 .first = first,
                                 .last = last,
                                 .complete = LEN,
                                 .headers = h,
                                 .num_headers = 2,
                                 .decision = &d,
                                 .tags = &tag,
                                 .num_tags = 1,
                                 .body = body + first,
                                 .epoch = epoch};
    cache_partial_whole_t w;
    cache_partial_result_t r = cache_partial_add(p, &part, whole != NULL ? whole : &w);
    if (r == CACHE_PARTIAL_COMPLETE && whole == NULL)
        cache_partial_whole_free(&w);
    return r;
}

/* the range as served from the parts: 1 with the bytes checked against `expect`, 0 when not served */
static int served(cache_partial_t *p, const char *path, const char *range, uint64_t first, uint64_t last, const char *expect)
{
    h2o_iovec_t key = key_of(path);
    cache_obj_t *o = cache_partial_lookup(p, cache_key_hash(key.base, key.len), key, h2o_iovec_init(range, strlen(range)), 1000100);
    if (o == NULL)
        return 0;
    assert_int_equal(o->status, 206);
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_COMPLETE);
    assert_int_equal(o->content_length, (int64_t)(last - first + 1));
    cache_head_view_t v;
    cache_obj_open_head(o, &v);
    ssize_t cr = cache_head_find(&v, H2O_TOKEN_CONTENT_RANGE);
    assert_true(cr >= 0);
    h2o_header_t *h = h2o_mem_alloc_pool(&pool, sizeof(*h) * (v.num_headers + 1));
    cache_head_decode(&v, &pool, h);
    char want[80];
    snprintf(want, sizeof(want), "bytes %llu-%llu/%d", (unsigned long long)first, (unsigned long long)last, LEN);
    assert_int_equal(h[cr].value.len, strlen(want));
    assert_memory_equal(h[cr].value.base, want, strlen(want));
    cache_body_t *b = cache_obj_body(o);
    char *got = malloc(LEN);
    size_t n = 0;
    for (cache_seg_t *s = b->first; s != NULL; s = s->next) {
        assert_true(n + s->len <= LEN);
        memcpy(got + n, s->data, s->len);
        n += s->len;
    }
    assert_int_equal(n, last - first + 1);
    assert_memory_equal(got, expect + first, n);
    free(got);
    cache_obj_release(o);
    return 1;
}

static void test_parts_merge_and_serve(void **state)
{
    (void)state;
    cache_partial_t *p = cache_partial_new(1 << 20, 1 << 20);
    cache_partial_stats_t st;
    assert_int_equal(add(p, "/v", "\"e1\"", 100, 199, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_true(served(p, "/v", "bytes=100-199", 100, 199, content));
    assert_true(served(p, "/v", "bytes=150-160", 150, 160, content));
    assert_false(served(p, "/v", "bytes=99-150", 99, 150, content));
    assert_false(served(p, "/v", "bytes=150-200", 150, 200, content));
    assert_false(served(p, "/v", "bytes=-10", 990, 999, content));
    assert_false(served(p, "/w", "bytes=100-199", 100, 199, content));
    /* disjoint, then one that bridges both (overlap on the left, adjacent on the right) */
    assert_int_equal(add(p, "/v", "\"e1\"", 300, 399, content, 0, NULL), CACHE_PARTIAL_STORED);
    cache_partial_stats(p, &st);
    assert_int_equal(st.parts, 2);
    assert_false(served(p, "/v", "bytes=150-350", 150, 350, content));
    assert_int_equal(add(p, "/v", "\"e1\"", 150, 299, content, 0, NULL), CACHE_PARTIAL_STORED);
    cache_partial_stats(p, &st);
    assert_int_equal(st.parts, 1);
    assert_int_equal(st.keys, 1);
    assert_true(served(p, "/v", "bytes=100-399", 100, 399, content));
    /* a part before the others, and the same part again */
    assert_int_equal(add(p, "/v", "\"e1\"", 0, 9, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(add(p, "/v", "\"e1\"", 0, 9, content, 0, NULL), CACHE_PARTIAL_STORED);
    cache_partial_stats(p, &st);
    assert_int_equal(st.parts, 2);
    assert_true(served(p, "/v", "bytes=0-9", 0, 9, content));
    assert_true(served(p, "/v", "bytes=-900", 100, 999 - 600, content) == 0); /* 100-999: only up to 399 is stored */
    /* the rest: 10-99 and 400-999 complete it */
    assert_int_equal(add(p, "/v", "\"e1\"", 400, 999, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_true(served(p, "/v", "bytes=-900", 100, 999, content));
    cache_partial_whole_t w;
    assert_int_equal(add(p, "/v", "\"e1\"", 10, 99, content, 0, &w), CACHE_PARTIAL_COMPLETE);
    assert_int_equal(w.length, LEN);
    assert_memory_equal(w.body, content, LEN);
    assert_int_equal(w.num_tags, 1);
    assert_memory_equal(w.tags[0].base, "grp", 3);
    /* the whole goes into the memory cache and the parts are gone */
    cache_mem_t *mem = cache_mem_new(8 << 20, CACHE_EVICT_S3FIFO);
    h2o_iovec_t key = key_of("/v");
    uint64_t hash = cache_key_hash(key.base, key.len);
    assert_int_equal(cache_partial_whole_store(mem, hash, key, cache_key_url_of(key), &w, 1 << 20), 0);
    cache_partial_whole_free(&w);
    cache_mem_lookup_t lk;
    cache_mem_lookup(mem, hash, key, NULL, NULL, &lk);
    assert_non_null(lk.found);
    assert_int_equal(lk.found->status, 200);
    assert_int_equal(lk.found->content_length, LEN);
    assert_int_equal(cache_obj_state(lk.found), CACHE_OBJ_COMPLETE);
    cache_obj_release(lk.found);
    cache_partial_stats(p, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.combined, 1);
    assert_false(served(p, "/v", "bytes=0-9", 0, 9, content));
    cache_mem_free(mem);
    cache_partial_free(p);
}

static void test_validators(void **state)
{
    (void)state;
    cache_partial_t *p = cache_partial_new(1 << 20, 1 << 20);
    cache_partial_stats_t st;
    char other[LEN];
    memcpy(other, content, LEN);
    other[150] ^= 1;
    /* another ETag: the older parts go, never combined with the newer */
    assert_int_equal(add(p, "/v", "\"e1\"", 0, 499, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(add(p, "/v", "\"e2\"", 500, 999, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_false(served(p, "/v", "bytes=0-9", 0, 9, content));
    assert_true(served(p, "/v", "bytes=500-509", 500, 509, content));
    /* the same ETag with other bytes where they overlap: refused, and the key's parts are dropped */
    assert_int_equal(add(p, "/v", "\"e2\"", 100, 200, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(add(p, "/v", "\"e2\"", 150, 600, other, 0, NULL), CACHE_PARTIAL_REFUSED);
    assert_false(served(p, "/v", "bytes=500-509", 500, 509, content));
    cache_partial_stats(p, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.bytes, 0);
    /* weak or no ETag: kept alone (a range inside it is served), combined with nothing, replaced by the next part */
    assert_int_equal(add(p, "/v", "W/\"e2\"", 0, 9, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_true(served(p, "/v", "bytes=0-9", 0, 9, content));
    assert_int_equal(add(p, "/v", "W/\"e2\"", 10, 19, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_false(served(p, "/v", "bytes=0-9", 0, 9, content));
    assert_false(served(p, "/v", "bytes=5-15", 5, 15, content));
    assert_int_equal(add(p, "/v", "", 0, 9, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_false(served(p, "/v", "bytes=10-19", 10, 19, content));
    assert_int_equal(add(p, "/v", "", 10, LEN - 1, content, 0, NULL), CACHE_PARTIAL_STORED); /* not combined with 0-9 */
    cache_partial_stats(p, &st);
    assert_int_equal(st.combined, 0);
    assert_int_equal(st.parts, 1);
    /* a no-validator 206 that covers the whole representation is a complete response */
    assert_int_equal(add(p, "/v", "", 0, LEN - 1, content, 0, NULL), CACHE_PARTIAL_COMPLETE);
    /* ranges outside the representation */
    assert_int_equal(add(p, "/v", "\"e\"", 9, 8, content, 0, NULL), CACHE_PARTIAL_REFUSED);
    assert_int_equal(add(p, "/v", "\"e\"", 0, LEN, content, 0, NULL), CACHE_PARTIAL_REFUSED);
    cache_partial_free(p);
}

static void test_bound_purge_epoch(void **state)
{
    (void)state;
    /* room for two and a half keys with a part of 400 bytes: the least recently used key goes */
    cache_partial_t *probe = cache_partial_new(1 << 20, 1 << 20);
    cache_partial_stats_t st;
    assert_int_equal(add(probe, "/a", "\"e\"", 0, 399, content, 0, NULL), CACHE_PARTIAL_STORED);
    cache_partial_stats(probe, &st);
    uint64_t one = st.bytes, cap = one * 5 / 2;
    assert_true(one > 400 && one < 1000);
    cache_partial_free(probe);
    cache_partial_t *p = cache_partial_new(cap, 1 << 20);
    assert_int_equal(add(p, "/a", "\"e\"", 0, 399, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(add(p, "/b", "\"e\"", 0, 399, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_true(served(p, "/a", "bytes=0-9", 0, 9, content)); /* /a used last */
    assert_int_equal(add(p, "/c", "\"e\"", 0, 399, content, 0, NULL), CACHE_PARTIAL_STORED);
    cache_partial_stats(p, &st);
    assert_true(st.bytes <= cap);
    assert_true(served(p, "/a", "bytes=0-9", 0, 9, content));
    assert_false(served(p, "/b", "bytes=0-9", 0, 9, content));
    assert_true(served(p, "/c", "bytes=0-9", 0, 9, content));
    /* a part larger than half the bound is not taken */
    assert_int_equal(add(p, "/d", "\"e\"", 0, 799, content, 0, NULL), CACHE_PARTIAL_REFUSED);
    /* purges: by URL, by tag, all; a fetch that started before a purge is refused after it */
    h2o_iovec_t url = cache_key_url_of(key_of("/a"));
    uint64_t epoch = cache_partial_epoch(p);
    assert_int_equal(cache_partial_purge(p, CACHE_PURGE_URL, url), 1);
    assert_false(served(p, "/a", "bytes=0-9", 0, 9, content));
    assert_true(served(p, "/c", "bytes=0-9", 0, 9, content));
    assert_int_equal(add(p, "/a", "\"e\"", 0, 9, content, epoch, NULL), CACHE_PARTIAL_REFUSED);
    epoch = cache_partial_epoch(p);
    assert_int_equal(add(p, "/a", "\"e\"", 0, 9, content, epoch, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(cache_partial_purge(p, CACHE_PURGE_PREFIX, h2o_iovec_init(H2O_STRLIT("/x"))), 0);
    assert_int_equal(cache_partial_purge(p, CACHE_PURGE_TAG, h2o_iovec_init(H2O_STRLIT("grp"))), 2);
    epoch = cache_partial_epoch(p);
    assert_int_equal(add(p, "/a", "\"e\"", 0, 9, content, epoch, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(cache_partial_purge(p, CACHE_PURGE_ALL, h2o_iovec_init(NULL, 0)), 1);
    cache_partial_stats(p, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.parts, 0);
    cache_partial_free(p);
}

static void test_many_parts(void **state)
{
    (void)state;
    cache_partial_t *p = cache_partial_new(1 << 20, 1 << 20);
    /* every other byte: at most CACHE_PARTIAL_MAX_PARTS parts, then a new one is refused (the stored ones stay) */
    size_t i;
    for (i = 0; i != CACHE_PARTIAL_MAX_PARTS; ++i)
        assert_int_equal(add(p, "/m", "\"e\"", 2 * i, 2 * i, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(add(p, "/m", "\"e\"", 2 * i, 2 * i, content, 0, NULL), CACHE_PARTIAL_REFUSED);
    assert_true(served(p, "/m", "bytes=4-4", 4, 4, content));
    assert_int_equal(add(p, "/m", "\"e\"", 0, 1, content, 0, NULL), CACHE_PARTIAL_STORED); /* merges: one part fewer */
    /* one that fills the holes merges them all */
    for (i = 0; i != CACHE_PARTIAL_MAX_PARTS; ++i)
        assert_int_equal(add(p, "/n", "\"e\"", 2 * i, 2 * i, content, 0, NULL), CACHE_PARTIAL_STORED);
    assert_int_equal(add(p, "/n", "\"e\"", 0, 2 * CACHE_PARTIAL_MAX_PARTS, content, 0, NULL), CACHE_PARTIAL_STORED);
    cache_partial_stats_t st;
    cache_partial_stats(p, &st);
    assert_int_equal(st.parts, CACHE_PARTIAL_MAX_PARTS - 1 + 1); /* /m's (0-1 merged with 2), /n's one */
    assert_true(served(p, "/n", "bytes=0-128", 0, 128, content));
    cache_partial_free(p);
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i != LEN; ++i)
        content[i] = (char)('a' + (i * 7 + i / 26) % 26);
    h2o_mem_init_pool(&pool);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h2o_mem_clear_pool(&pool);
    return 0;
}

int main(void)
{
    cache_key_hash_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_strong_etag),
        cmocka_unit_test_setup_teardown(test_parts_merge_and_serve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_purge_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_parts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
