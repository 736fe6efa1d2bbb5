/* tests/unit/cache/test_memory.c - the memory tier: index, collapsing, byte bound, purges, and S3-FIFO against plain LRU on a
 * Zipf workload (the hit-ratio benchmark of the cache issue; it prints both ratios). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cache/memory.h"

static h2o_iovec_t s(const char *str)
{
    return h2o_iovec_init(str, strlen(str));
}

/* stores a complete object of `body` bytes under key (fresh for a minute) */
static void put(cache_mem_t *m, const char *key, size_t body, const char *tag)
{
    int created;
    uint64_t hash = 1469598103934665603ull;
    for (const char *p = key; *p; ++p)
        hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
    cache_obj_t *o = cache_mem_begin(m, hash, s(key), s(key), &created);
    assert_true(created);
    h2o_iovec_t t = s(tag != NULL ? tag : "");
    cache_obj_set_meta(o, NULL, 0, h2o_iovec_init(NULL, 0), tag != NULL ? &t : NULL, tag != NULL ? 1 : 0);
    o->fresh.lifetime = cache_fresh_pack(60000);
    assert_int_equal(cache_mem_store_head(m, o), 0);
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, (int64_t)body, 0);
    if (body != 0) {
        char *buf = calloc(1, body);
        cache_obj_append(o, buf, body);
        free(buf);
        cache_mem_charge(m, o, UINT64_MAX);
    }
    cache_obj_complete(o);
    cache_mem_complete(m, o);
    cache_obj_release(o);
}

static uint64_t hash_of(const char *key)
{
    uint64_t hash = 1469598103934665603ull;
    for (const char *p = key; *p; ++p)
        hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
    return hash;
}

static cache_obj_t *get(cache_mem_t *m, const char *key)
{
    cache_mem_lookup_t lk;
    cache_mem_lookup(m, hash_of(key), s(key), NULL, NULL, &lk);
    if (lk.busy != NULL)
        cache_obj_release(lk.busy);
    return lk.found;
}

static void test_store_and_find(void **state)
{
    cache_mem_t *m = cache_mem_new(1 << 20, CACHE_EVICT_S3FIFO);
    put(m, "a", 100, NULL);
    cache_obj_t *o = get(m, "a");
    assert_non_null(o);
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_COMPLETE);
    assert_int_equal(o->content_length, 100);
    cache_obj_release(o);
    assert_null(get(m, "b"));
    cache_mem_stats_t st;
    cache_mem_stats(m, &st);
    assert_int_equal(st.objects, 1);
    assert_true(st.bytes >= 100);
    cache_mem_free(m);
}

static void test_collapsing_one_busy_per_key(void **state)
{
    cache_mem_t *m = cache_mem_new(1 << 20, CACHE_EVICT_S3FIFO);
    int c1, c2, c3;
    cache_obj_t *a = cache_mem_begin(m, 7, s("k"), s("k"), &c1);
    cache_obj_t *b = cache_mem_begin(m, 7, s("k"), s("k"), &c2);
    assert_true(c1);
    assert_false(c2); /* the second miss follows the first fetch */
    assert_ptr_equal(a, b);
    cache_mem_lookup_t lk;
    cache_mem_lookup(m, 7, s("k"), NULL, NULL, &lk);
    assert_null(lk.found);
    assert_ptr_equal(lk.busy, a);
    cache_obj_release(lk.busy);
    /* once the head is out, a new miss starts a new fetch */
    a->fresh.lifetime = cache_fresh_pack(1000);
    assert_int_equal(cache_mem_store_head(m, a), 0);
    cache_obj_set_head(a, 200, "OK", NULL, 0, 0, 0, 0);
    cache_obj_t *c = cache_mem_begin(m, 7, s("k"), s("k"), &c3);
    assert_true(c3);
    cache_mem_remove(m, c);
    cache_obj_release(c);
    cache_obj_complete(a);
    cache_mem_complete(m, a);
    cache_obj_release(a);
    cache_obj_release(b);
    cache_mem_free(m);
}

static void test_bound_is_held(void **state)
{
    cache_mem_t *m = cache_mem_new(1 << 20, CACHE_EVICT_S3FIFO);
    char key[32];
    for (int i = 0; i != 100; ++i) {
        snprintf(key, sizeof(key), "obj%d", i);
        put(m, key, 32 * 1024, NULL); /* 100 x 32 KB = 3.2 MB into 1 MB */
    }
    cache_mem_stats_t st;
    cache_mem_stats(m, &st);
    assert_true(st.bytes <= st.capacity);
    assert_true(st.evictions >= 60);
    assert_true(st.objects < 40);
    cache_mem_free(m);
}

/* a key that keeps answering uncacheably keeps one hit-for-miss marker, not one per response (its chain would grow) */
static void test_one_pass_marker_per_key(void **state)
{
    cache_mem_t *m = cache_mem_new(1 << 20, CACHE_EVICT_S3FIFO);
    for (int i = 0; i != 1000; ++i)
        cache_mem_mark_pass(m, hash_of("/nostore"), s("/nostore"), s("/nostore"), 1000 + i, 120000);
    cache_mem_mark_pass(m, hash_of("/other"), s("/other"), s("/other"), 5000, 120000);
    cache_mem_stats_t st;
    cache_mem_stats(m, &st);
    assert_int_equal(st.objects, 2);
    cache_obj_t *o = get(m, "/nostore");
    assert_non_null(o);
    assert_true(o->hit_for_pass);
    assert_int_equal(o->fresh.response_time_ms, 1999); /* the newest */
    cache_obj_release(o);
    cache_mem_free(m);
}

static void test_purges(void **state)
{
    cache_mem_t *m = cache_mem_new(1 << 20, CACHE_EVICT_S3FIFO);
    put(m, "/img/a", 10, "red");
    put(m, "/img/b", 10, "blue");
    put(m, "/txt/c", 10, "red");
    assert_int_equal(cache_mem_purge(m, CACHE_PURGE_TAG, s("red"), 0), 2);
    assert_null(get(m, "/img/a"));
    cache_obj_t *o = get(m, "/img/b");
    assert_non_null(o);
    cache_obj_release(o);
    assert_int_equal(cache_mem_purge(m, CACHE_PURGE_PREFIX, s("/img/"), 1), 1); /* soft: still there, marked stale */
    o = get(m, "/img/b");
    assert_non_null(o);
    assert_true(atomic_load(&o->invalidated));
    cache_obj_release(o);
    assert_int_equal(cache_mem_purge(m, CACHE_PURGE_URL, s("/img/b"), 0), 1);
    assert_null(get(m, "/img/b"));
    put(m, "/x", 1, NULL);
    assert_int_equal(cache_mem_purge(m, CACHE_PURGE_ALL, s(""), 0), 1);
    cache_mem_stats_t st;
    cache_mem_stats(m, &st);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.bytes, 0);
    cache_mem_free(m);
}

/* ---- S3-FIFO against LRU on a Zipf workload --------------------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_zipf_s3fifo_beats_lru(void **state)
{
    const size_t keys = 20000, n = 400000, fit = 1000;
    const double alpha = 0.9;
    double ratio[2];
    for (int p = 0; p != 2; ++p) {
        cache_evict_policy_t pol = p == 0 ? CACHE_EVICT_S3FIFO : CACHE_EVICT_LRU;
        /* one object's charge: measure it once */
        cache_mem_t *probe = cache_mem_new(1 << 30, pol);
        put(probe, "k00000000", 1024, NULL);
        cache_mem_stats_t st;
        cache_mem_stats(probe, &st);
        cache_mem_free(probe);
        cache_mem_t *m = cache_mem_new(st.bytes * fit, pol);
        double *cdf = malloc(sizeof(double) * keys), sum = 0, acc = 0;
        for (size_t i = 0; i != keys; ++i)
            sum += 1.0 / pow((double)(i + 1), alpha);
        for (size_t i = 0; i != keys; ++i) {
            acc += 1.0 / pow((double)(i + 1), alpha) / sum;
            cdf[i] = acc;
        }
        rng = 88172645463325252ull;
        size_t hits = 0;
        char key[16];
        for (size_t r = 0; r != n; ++r) {
            double u = (xorshift() >> 11) * (1.0 / 9007199254740992.0);
            size_t lo = 0, hi = keys - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            /* scatter popular keys over the key space so that no shard is special */
            snprintf(key, sizeof(key), "k%08zx", (lo * 2654435761u) % 0xffffffffu);
            cache_obj_t *o = get(m, key);
            if (o != NULL) {
                ++hits;
                cache_obj_release(o);
            } else {
                put(m, key, 1024, NULL);
            }
        }
        ratio[p] = (double)hits / n;
        free(cdf);
        cache_mem_free(m);
    }
    printf("zipf(alpha=%.1f) over %zu objects, cache of %zu, %zu requests: hit ratio S3-FIFO %.4f, LRU %.4f\n", alpha, keys, fit, n,
           ratio[0], ratio[1]);
    assert_true(ratio[0] > ratio[1]);
    assert_true(ratio[0] > 0.3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_and_find),   cmocka_unit_test(test_collapsing_one_busy_per_key),
        cmocka_unit_test(test_bound_is_held),    cmocka_unit_test(test_purges),
        cmocka_unit_test(test_one_pass_marker_per_key),
        cmocka_unit_test(test_zipf_s3fifo_beats_lru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
