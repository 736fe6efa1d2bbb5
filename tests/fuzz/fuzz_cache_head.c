/* tests/fuzz/fuzz_cache_head.c - libFuzzer target: the compact head encoding of stored responses (cache/head.c), whose
 * checker reads blobs that come back from disk.
 *
 * Input: a mode byte, then
 *   mode even: a blob for cache_head_check() (its second byte, the token-table fingerprint, is set to this process's so that
 *              the fuzzer does not have to guess it). Accepted blobs are decoded: every slice lies inside the blob, values have
 *              no CR, LF or NUL and end with a NUL, names are lowercase tokens or h2o tokens, orig_names equal their name but
 *              for case, num_plain <= num_headers; cache_head_find agrees with the decoded fields; re-encoding the fields
 *              gives a blob that is accepted and decodes to the same fields.
 *   mode odd:  parts separated by NUL: status (2 bytes), reason, then (flags+name, value) pairs; names that h2o knows become
 *              tokens, others are lowercased and cut to token characters (empty ones dropped), CR/LF in values become spaces.
 *              cache_head_encode() writes exactly cache_head_size() bytes, cache_head_check() accepts them, and they decode to
 *              the fields given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cache/head.h"
#include "tests/fuzz/fuzz_check.h"

#define MAX_FIELDS 512

static int lower_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void same_fields(const h2o_header_t *a, const h2o_header_t *b, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        FUZZ_CHECK(a[i].name->len == b[i].name->len && memcmp(a[i].name->base, b[i].name->base, a[i].name->len) == 0,
                   "field %zu: another name", i);
        FUZZ_CHECK(h2o_iovec_is_token(a[i].name) == h2o_iovec_is_token(b[i].name), "field %zu: token or not", i);
        FUZZ_CHECK((a[i].orig_name == NULL) == (b[i].orig_name == NULL), "field %zu: orig_name lost or made up", i);
        if (a[i].orig_name != NULL)
            FUZZ_CHECK(memcmp(a[i].orig_name, b[i].orig_name, a[i].name->len) == 0, "field %zu: another orig_name", i);
        FUZZ_CHECK(a[i].value.len == b[i].value.len && memcmp(a[i].value.base, b[i].value.base, a[i].value.len) == 0,
                   "field %zu: another value", i);
    }
}

/* decodes a valid blob and checks what comes out; returns the fields (in pool) */
static h2o_header_t *decode_checked(const char *blob, size_t len, h2o_mem_pool_t *pool, cache_head_view_t *v)
{
    cache_head_open(blob, len, v);
    FUZZ_CHECK(v->status >= 100 && v->status <= 999, "status %d", v->status);
    FUZZ_CHECK(v->num_plain <= v->num_headers && v->num_headers <= CACHE_HEAD_MAX_HEADERS, "counts");
    FUZZ_CHECK(v->reason >= blob && v->reason + v->reason_len < blob + len && v->reason[v->reason_len] == '\0', "reason");
    h2o_header_t *out = h2o_mem_alloc_pool(pool, sizeof(*out) * (v->num_headers + 1));
    cache_head_decode(v, pool, out);
    for (size_t i = 0; i != v->num_headers; ++i) {
        const h2o_header_t *h = &out[i];
        FUZZ_CHECK(h->value.base >= blob && h->value.base + h->value.len < blob + len, "value %zu outside the blob", i);
        FUZZ_CHECK(h->value.base[h->value.len] == '\0', "value %zu not terminated", i);
        for (size_t k = 0; k != h->value.len; ++k)
            FUZZ_CHECK(h->value.base[k] != '\r' && h->value.base[k] != '\n' && h->value.base[k] != '\0',
                       "value %zu: a CR, LF or NUL", i);
        FUZZ_CHECK(h->name->len != 0, "empty name");
        if (!h2o_iovec_is_token(h->name)) {
            FUZZ_CHECK(h->name->base >= blob && h->name->base + h->name->len < blob + len, "name %zu outside the blob", i);
            for (size_t k = 0; k != h->name->len; ++k)
                FUZZ_CHECK(lower_tchar((unsigned char)h->name->base[k]), "name %zu: not a lowercase token", i);
        }
        if (h->orig_name != NULL)
            FUZZ_CHECK(h2o_lcstris(h->orig_name, h->name->len, h->name->base, h->name->len), "orig_name %zu is another name", i);
        if (h2o_iovec_is_token(h->name)) {
            ssize_t first = cache_head_find(v, (const h2o_token_t *)h->name);
            FUZZ_CHECK(first >= 0 && (size_t)first <= i && out[first].name == h->name, "find disagrees for field %zu", i);
        }
    }
    return out;
}

static char *encode(h2o_mem_pool_t *pool, int status, const char *reason, const h2o_header_t *h, size_t n, size_t plain,
                    size_t *len)
{
    size_t size = cache_head_size(reason, h, n);
    char *blob = h2o_mem_alloc_pool(pool, size + 1);
    blob[size] = 0x5a;
    *len = cache_head_encode(blob, status, reason, h, n, plain);
    FUZZ_CHECK(*len == size && blob[size] == 0x5a, "encoded %zu bytes, sized %zu", *len, size);
    const char *err = NULL;
    FUZZ_CHECK(cache_head_check(blob, *len, &err) == 0, "an encoded head is refused: %s", err);
    return blob;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_mem_pool_t pool;
    cache_head_view_t v;
    size_t len;
    if (size < 1)
        return 0;
    h2o_mem_init_pool(&pool);
    if ((data[0] & 1) == 0) {
        /* an untrusted blob, in memory of its exact size */
        size_t blen = size - 1;
        char *blob = malloc(blen != 0 ? blen : 1);
        if (blen != 0)
            memcpy(blob, data + 1, blen);
        if (blen >= 2)
            blob[1] = (char)cache_head_tokens_id();
        const char *err = NULL;
        if (cache_head_check(blob, blen, &err) == 0) {
            h2o_header_t *out = decode_checked(blob, blen, &pool, &v);
            char *reason = h2o_mem_alloc_pool(&pool, v.reason_len + 1);
            memcpy(reason, v.reason, v.reason_len + 1);
            char *again = encode(&pool, v.status, reason, out, v.num_headers, v.num_plain, &len);
            cache_head_view_t v2;
            h2o_header_t *out2 = decode_checked(again, len, &pool, &v2);
            FUZZ_CHECK(v2.status == v.status && v2.num_headers == v.num_headers && v2.num_plain == v.num_plain &&
                           v2.reason_len == v.reason_len && memcmp(v2.reason, v.reason, v.reason_len) == 0,
                       "re-encoded head differs");
            same_fields(out, out2, v.num_headers);
        } else {
            FUZZ_CHECK(err != NULL && err[0] != '\0', "a refusal without a reason");
        }
        free(blob);
    } else {
        fuzz_part_t parts[2 + 2 * MAX_FIELDS];
        fuzz_split(data + 1, size - 1, '\0', parts, sizeof(parts) / sizeof(parts[0]));
        int status =
            parts[0].len >= 2 ? 100 + (((unsigned char)parts[0].base[0] << 8 | (unsigned char)parts[0].base[1]) % 900) : 200;
        char *reason = h2o_mem_alloc_pool(&pool, parts[1].len + 1);
        for (size_t k = 0; k != parts[1].len; ++k) {
            unsigned char c = (unsigned char)parts[1].base[k];
            reason[k] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
        }
        reason[parts[1].len] = '\0';
        h2o_header_t h[MAX_FIELDS];
        size_t n = 0;
        for (size_t i = 2; i + 1 < sizeof(parts) / sizeof(parts[0]) && n != MAX_FIELDS; i += 2) {
            fuzz_part_t nm = parts[i], val = parts[i + 1];
            if (nm.len < 1)
                continue;
            unsigned flags = (unsigned char)nm.base[0];
            char *lname = h2o_mem_alloc_pool(&pool, nm.len), *orig = h2o_mem_alloc_pool(&pool, nm.len);
            size_t l = 0;
            for (size_t k = 1; k != nm.len; ++k) {
                int c = (unsigned char)nm.base[k], lc = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
                if (lower_tchar(lc)) {
                    orig[l] = (char)c;
                    lname[l++] = (char)lc;
                }
            }
            if (l == 0)
                continue;
            const h2o_token_t *t = h2o_lookup_token(lname, l);
            h2o_iovec_t *name;
            if (t != NULL) {
                name = (h2o_iovec_t *)&t->buf;
            } else {
                name = h2o_mem_alloc_pool(&pool, sizeof(*name));
                *name = h2o_iovec_init(lname, l);
            }
            char *value = h2o_mem_alloc_pool(&pool, val.len + 1);
            for (size_t k = 0; k != val.len; ++k)
                value[k] = val.base[k] == '\r' || val.base[k] == '\n' ? ' ' : val.base[k];
            value[val.len] = '\0';
            h[n++] = (h2o_header_t){name, (flags & 1) != 0 ? orig : NULL, h2o_iovec_init(value, val.len)};
        }
        size_t plain = parts[0].len >= 3 ? (unsigned char)parts[0].base[2] : n;
        char *blob = encode(&pool, status, reason, h, n, plain, &len);
        h2o_header_t *out = decode_checked(blob, len, &pool, &v);
        FUZZ_CHECK(v.status == status && v.num_headers == n && v.num_plain == (plain < n ? plain : n), "counts differ");
        FUZZ_CHECK(v.reason_len == strlen(reason) && memcmp(v.reason, reason, v.reason_len) == 0, "reason differs");
        same_fields(h, out, n);
    }
    h2o_mem_clear_pool(&pool);
    return 0;
}
