/* tests/fuzz/fuzz_cache_partial.c - libFuzzer target: stored parts of 206 responses (cache/partial.c).
 *
 * Input: a mode byte, then
 *   mode even: the rest is a Content-Range value for cache_partial_parse_content_range(). An accepted value has
 *              first <= last < complete, and printing the three numbers back as `bytes F-L/C` parses to the same numbers;
 *              the value with a byte cut off the end (after trimming) is refused or parses to other numbers.
 *   mode odd:  a sequence of operations on one store of a small capacity, checked against a model (the bytes of two
 *              versions of one representation per key, 4 keys): each operation is 8 bytes: op, key, version, a, b, c, d, e.
 *              add: a part [first, last] of version v (the ETag names the version; version 2 is a "liar": the ETag of
 *              version 0 with other bytes); lookup: a range (`bytes=F-L`, `bytes=F-`, `bytes=-N`); purge: URL or all.
 *              Properties: every byte a lookup serves is that of a version sent under the ETag it carries (a liar whose
 *              parts never overlap the truth's cannot be told from it), with a Content-Range that names the range asked
 *              for (resolved); the store never holds more bytes than its capacity; a COMPLETE hands over LEN bytes, each
 *              a version's under the combined head's ETag.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache/head.h"
#include "cache/key.h"
#include "cache/partial.h"
#include "tests/fuzz/fuzz_check.h"

#define LEN 700
#define KEYS 4

static char versions[3][LEN];
static const char *const etags[3] = {"\"v0\"", "\"v1\"", "\"v0\""};

static void init_versions(void)
{
    static int done;
    if (done)
        return;
    for (int v = 0; v != 3; ++v)
        for (int i = 0; i != LEN; ++i)
            versions[v][i] = (char)(v == 2 && i % 50 == 7 ? '#' : 'a' + (i * 13 + v * 5 + i / 31) % 26);
    done = 1;
}

/* whether byte `c` at `off` is that of a version sent under `etag` (a liar's parts that do not overlap cannot be told from the
 * truth: what is guaranteed is that every byte came from a response with that ETag) */
static int byte_of_etag(h2o_iovec_t etag, uint64_t off, char c)
{
    for (int v = 0; v != 3; ++v)
        if (etag.len == strlen(etags[v]) && memcmp(etag.base, etags[v], etag.len) == 0 && versions[v][off] == c)
            return 1;
    return 0;
}

static void content_range(const uint8_t *data, size_t size)
{
    uint64_t f, l, c;
    if (cache_partial_parse_content_range((const char *)data, size, &f, &l, &c) != 0)
        return;
    FUZZ_CHECK(f <= l && l < c, "accepted %llu-%llu/%llu", (unsigned long long)f, (unsigned long long)l, (unsigned long long)c);
    char buf[80];
    int n = snprintf(buf, sizeof(buf), "bytes %llu-%llu/%llu", (unsigned long long)f, (unsigned long long)l, (unsigned long long)c);
    uint64_t f2, l2, c2;
    FUZZ_CHECK(cache_partial_parse_content_range(buf, (size_t)n, &f2, &l2, &c2) == 0 && f2 == f && l2 == l && c2 == c,
               "round trip of %s", buf);
    /* cut after trimming: the last digit of the complete length goes */
    size_t end = size;
    while (end > 0 && (data[end - 1] == ' ' || data[end - 1] == '\t'))
        --end;
    if (end > 0 && cache_partial_parse_content_range((const char *)data, end - 1, &f2, &l2, &c2) == 0)
        FUZZ_CHECK(c2 != c, "a cut value parses to the same complete length");
}

typedef struct body_view {
    char bytes[LEN];
    size_t len;
} body_view_t;

static void read_body(cache_obj_t *o, body_view_t *out)
{
    out->len = 0;
    for (cache_seg_t *s = cache_obj_body(o)->first; s != NULL; s = s->next) {
        FUZZ_CHECK(out->len + s->len <= LEN, "a served body longer than the representation");
        memcpy(out->bytes + out->len, s->data, s->len);
        out->len += s->len;
    }
}

static void store_ops(const uint8_t *data, size_t size)
{
    static h2o_iovec_t keys[KEYS];
    static h2o_mem_pool_t key_pool;
    static int keys_done;
    init_versions();
    if (!keys_done) {
        cache_key_hash_seed();
        h2o_mem_init_pool(&key_pool);
        for (int k = 0; k != KEYS; ++k) {
            char path[16];
            snprintf(path, sizeof(path), "/k%d", k);
            cache_key_request_t kr = {0, h2o_iovec_init(H2O_STRLIT("fuzz.test")), h2o_iovec_init(path, strlen(path)), NULL};
            keys[k] = cache_key_build_pool(&key_pool, NULL, &kr);
        }
        keys_done = 1;
    }
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    uint64_t capacity = 2000 + (size != 0 ? data[0] * 16 : 0);
    cache_partial_t *p = cache_partial_new(capacity, LEN);
    cache_decision_t d = {0};
    d.storable = 1;
    d.lifetime_ms = 1000000;
    d.age_ms = d.last_modified_ms = -1;
    for (size_t at = 1; at + 8 <= size; at += 8) {
        const uint8_t *op = data + at;
        int k = op[1] % KEYS, v = op[2] % 3;
        uint64_t hash = cache_key_hash(keys[k].base, keys[k].len);
        uint64_t a = ((uint64_t)op[3] << 8 | op[4]) % (LEN + 8), b = ((uint64_t)op[5] << 8 | op[6]) % (LEN + 8);
        switch (op[0] % 4) {
        case 0:
        case 1: { /* add */
            h2o_header_t h[1] = {{&H2O_TOKEN_ETAG->buf, NULL, h2o_iovec_init(etags[v], strlen(etags[v]))}};
            cache_partial_part_t part = {.hash = hash,
                                         .key = keys[k],
                                         .etag = h[0].value,
                                         .first = a,
                                         .last = b,
                                         .complete = LEN,
                                         .headers = h,
                                         .num_headers = 1,
                                         .decision = &d,
                                         .body = a <= b && b < LEN ? versions[v] + a : versions[v],
                                         .epoch = cache_partial_epoch(p)};
            cache_partial_whole_t w;
            cache_partial_result_t r = cache_partial_add(p, &part, &w);
            if (a > b || b >= LEN)
                FUZZ_CHECK(r == CACHE_PARTIAL_REFUSED, "a part outside the representation was taken");
            if (r == CACHE_PARTIAL_COMPLETE) {
                FUZZ_CHECK(w.length == LEN, "combined length %llu", (unsigned long long)w.length);
                cache_head_view_t hv;
                cache_head_open(w.head, w.head_len, &hv);
                ssize_t e = cache_head_find(&hv, H2O_TOKEN_ETAG);
                FUZZ_CHECK(e >= 0, "the combined head lost its ETag");
                h2o_header_t *hh = h2o_mem_alloc_pool(&pool, sizeof(*hh) * (hv.num_headers + 1));
                cache_head_decode(&hv, &pool, hh);
                for (size_t i = 0; i != LEN; ++i)
                    FUZZ_CHECK(byte_of_etag(hh[e].value, i, w.body[i]), "combined byte %zu is no version's under its ETag", i);
                cache_partial_whole_free(&w);
            }
            break;
        }
        case 2: { /* lookup */
            char range[48];
            int n;
            switch (op[7] % 3) {
            case 0:
                n = snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)a, (unsigned long long)b);
                break;
            case 1:
                n = snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)a);
                break;
            default:
                n = snprintf(range, sizeof(range), "bytes=-%llu", (unsigned long long)b);
                break;
            }
            cache_obj_t *o = cache_partial_lookup(p, hash, keys[k], h2o_iovec_init(range, (size_t)n), 1000);
            if (o == NULL)
                break;
            uint64_t s, e;
            FUZZ_CHECK(cache_policy_parse_range(range, (size_t)n, LEN, &s, &e) == CACHE_RANGE_PARTIAL, "served %s", range);
            cache_head_view_t hv;
            cache_obj_open_head(o, &hv);
            h2o_header_t *hh = h2o_mem_alloc_pool(&pool, sizeof(*hh) * (hv.num_headers + 1));
            cache_head_decode(&hv, &pool, hh);
            ssize_t cr = cache_head_find(&hv, H2O_TOKEN_CONTENT_RANGE), et = cache_head_find(&hv, H2O_TOKEN_ETAG);
            FUZZ_CHECK(o->status == 206 && cr >= 0 && et >= 0, "a served part without its fields");
            uint64_t f2, l2, c2;
            FUZZ_CHECK(cache_partial_parse_content_range(hh[cr].value.base, hh[cr].value.len, &f2, &l2, &c2) == 0 && f2 == s &&
                           l2 == e && c2 == LEN,
                       "Content-Range %.*s for %s", (int)hh[cr].value.len, hh[cr].value.base, range);
            body_view_t bv;
            read_body(o, &bv);
            FUZZ_CHECK(bv.len == e - s + 1, "served %zu bytes for %s", bv.len, range);
            for (size_t i = 0; i != bv.len; ++i)
                FUZZ_CHECK(byte_of_etag(hh[et].value, s + i, bv.bytes[i]), "served byte %llu of %s is no version's under its ETag",
                           (unsigned long long)(s + i), range);
            cache_obj_release(o);
            break;
        }
        default:
            if (op[7] & 1)
                cache_partial_purge(p, CACHE_PURGE_URL, cache_key_url_of(keys[k]));
            else
                cache_partial_purge(p, CACHE_PURGE_ALL, h2o_iovec_init(NULL, 0));
            break;
        }
        cache_partial_stats_t st;
        cache_partial_stats(p, &st);
        FUZZ_CHECK(st.bytes <= capacity, "%llu bytes held, capacity %llu", (unsigned long long)st.bytes, (unsigned long long)capacity);
        FUZZ_CHECK((st.keys == 0) == (st.bytes == 0) && st.parts >= st.keys, "stats");
    }
    cache_partial_free(p);
    h2o_mem_clear_pool(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0)
        content_range(data + 1, size - 1);
    else
        store_ops(data + 1, size - 1);
    return 0;
}
