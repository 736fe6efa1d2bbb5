/* tests/unit/cache/test_head.c - the compact head encoding (cache/head.c): round trips of every kind of field, hostile sizes
 * (many headers, long and empty values, empty reasons), and the check of untrusted blobs (every truncation and corruption
 * refused with a reason). Also the one-block objects of cache/object.c built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cache/head.h"
#include "cache/object.h"

static h2o_iovec_t name_x_custom = {H2O_STRLIT("x-custom")};
static h2o_iovec_t name_x_other = {H2O_STRLIT("x-other")};

/* encodes, checks, decodes and compares with the input */
static char *round_trip(int status, const char *reason, const h2o_header_t *in, size_t n, size_t plain, size_t *len)
{
    size_t size = cache_head_size(reason, in, n);
    char *blob = malloc(size + 1);
    const char *err = NULL;
    blob[size] = 0x5a; /* a canary: the encoder writes exactly `size` bytes */
    *len = cache_head_encode(blob, status, reason, in, n, plain);
    assert_int_equal(*len, size);
    assert_int_equal((unsigned char)blob[size], 0x5a);
    if (cache_head_check(blob, *len, &err) != 0)
        fail_msg("check refused an encoded head: %s", err);

    cache_head_view_t v;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    cache_head_open(blob, *len, &v);
    assert_int_equal(v.status, status);
    assert_int_equal(v.reason_len, reason != NULL ? strlen(reason) : 0);
    assert_memory_equal(v.reason, reason != NULL ? reason : "", v.reason_len + 1);
    assert_int_equal(v.num_headers, n);
    assert_int_equal(v.num_plain, plain < n ? plain : n);
    h2o_header_t *out = malloc(sizeof(*out) * (n + 1));
    cache_head_decode(&v, &pool, out);
    for (size_t i = 0; i != n; ++i) {
        if (h2o_iovec_is_token(in[i].name))
            assert_ptr_equal(out[i].name, in[i].name);
        assert_int_equal(out[i].name->len, in[i].name->len);
        assert_memory_equal(out[i].name->base, in[i].name->base, in[i].name->len);
        if (in[i].orig_name == NULL) {
            assert_null(out[i].orig_name);
        } else {
            assert_non_null(out[i].orig_name);
            assert_memory_equal(out[i].orig_name, in[i].orig_name, in[i].name->len);
        }
        assert_int_equal(out[i].value.len, in[i].value.len);
        if (in[i].value.len != 0)
            assert_memory_equal(out[i].value.base, in[i].value.base, in[i].value.len);
        assert_int_equal(out[i].value.base[out[i].value.len], '\0');
        /* find gives the first field of a token */
        if (h2o_iovec_is_token(in[i].name)) {
            ssize_t first = cache_head_find(&v, (const h2o_token_t *)in[i].name);
            assert_true(first >= 0 && (size_t)first <= i);
            assert_ptr_equal(in[first].name, in[i].name);
        }
    }
    free(out);
    h2o_mem_clear_pool(&pool);
    return blob;
}

static h2o_header_t tok(const h2o_token_t *t, const char *orig, const char *value)
{
    return (h2o_header_t){(h2o_iovec_t *)&t->buf, orig, h2o_iovec_init(value, strlen(value))};
}

static void test_round_trip_kinds(void **state)
{
    h2o_header_t h[] = {
        tok(H2O_TOKEN_CONTENT_TYPE, "Content-Type", "text/html"), /* the usual spelling: one byte */
        tok(H2O_TOKEN_CACHE_CONTROL, NULL, "max-age=60"),         /* a token without orig_name */
        tok(H2O_TOKEN_ETAG, "ETAG", "\"abc\""),                   /* an unusual spelling kept as it was */
        {&name_x_custom, NULL, h2o_iovec_init(H2O_STRLIT("1"))},  /* other names, with and without orig_name */
        {&name_x_other, "X-OTHER", h2o_iovec_init(H2O_STRLIT("two words"))},
        tok(H2O_TOKEN_SET_COOKIE, "Set-Cookie", ""), /* an empty value */
        tok(H2O_TOKEN_CONTENT_TYPE, "content-type", "again"),
    };
    size_t n = sizeof(h) / sizeof(h[0]), len;
    free(round_trip(200, "OK", h, n, 3, &len));
    free(round_trip(404, NULL, h, n, 0, &len));
    free(round_trip(599, "", h, n, 99, &len)); /* num_plain is clamped */
    free(round_trip(100, "Continue", NULL, 0, 0, &len));
    /* the usual spelling takes a byte, the value its bytes, a length and a NUL: smaller than the names and values */
    h2o_header_t small[] = {tok(H2O_TOKEN_CONTENT_TYPE, "Content-Type", "text/plain"),
                            tok(H2O_TOKEN_CONTENT_LENGTH, "Content-Length", "1024")};
    char *b = round_trip(200, "OK", small, 2, 2, &len);
    assert_int_equal(len, 2 + 2 + 1 + 3 + 1 + 1 + (1 + 1 + 10 + 1) + (1 + 1 + 4 + 1));
    free(b);
}

static void test_hostile_sizes(void **state)
{
    /* many headers: more than a one-byte count, and beyond CACHE_HEAD_MAX_HEADERS (the rest is dropped) */
    size_t n = CACHE_HEAD_MAX_HEADERS + 10, len;
    h2o_header_t *h = malloc(sizeof(*h) * n);
    for (size_t i = 0; i != n; ++i)
        h[i] = i % 2 ? tok(H2O_TOKEN_VARY, "Vary", i % 3 ? "" : "accept")
                     : (h2o_header_t){&name_x_custom, "X-Custom", h2o_iovec_init("v", 1)};
    free(round_trip(200, "OK", h, 300, 150, &len));
    size_t size = cache_head_size("OK", h, n);
    char *blob = malloc(size);
    len = cache_head_encode(blob, 200, "OK", h, n, n);
    assert_int_equal(len, size);
    cache_head_view_t v;
    const char *err;
    assert_int_equal(cache_head_check(blob, len, &err), 0);
    cache_head_open(blob, len, &v);
    assert_int_equal(v.num_headers, CACHE_HEAD_MAX_HEADERS);
    assert_int_equal(v.num_plain, CACHE_HEAD_MAX_HEADERS);
    free(blob);
    /* long values (multi-byte lengths), a long name, a long reason */
    char *big = malloc((4u << 20) + 1);
    memset(big, 'a', 4u << 20);
    big[4u << 20] = '\0';
    h2o_iovec_t longname = h2o_iovec_init(big, 70000);
    h[0] = tok(H2O_TOKEN_LOCATION, "Location", big);
    h[1] = (h2o_header_t){&longname, NULL, h2o_iovec_init(big, 127)};
    h[2] = (h2o_header_t){&longname, NULL, h2o_iovec_init(big, 128)};
    h[3] = (h2o_header_t){&longname, NULL, h2o_iovec_init(big, 16384)};
    char reason[301];
    memset(reason, 'r', 300);
    reason[300] = '\0';
    free(round_trip(200, reason, h, 4, 4, &len));
    free(h);
    free(big);
}

/* a valid blob with every kind of field, for the corruption tests */
static char *sample(size_t *len)
{
    h2o_header_t h[] = {
        tok(H2O_TOKEN_CONTENT_TYPE, "Content-Type", "text/html"),
        tok(H2O_TOKEN_CACHE_CONTROL, NULL, "max-age=60"),
        tok(H2O_TOKEN_ETAG, "ETAG", "\"abc\""),
        {&name_x_custom, NULL, h2o_iovec_init(H2O_STRLIT("1"))},
        {&name_x_other, "X-Other", h2o_iovec_init(H2O_STRLIT("v"))},
    };
    return round_trip(200, "OK", h, 5, 2, len);
}

static void expect_refused(const char *blob, size_t len, const char *why)
{
    const char *err = NULL;
    if (cache_head_check(blob, len, &err) == 0)
        fail_msg("accepted: %s", why);
    assert_non_null(err);
}

static void test_check_refuses(void **state)
{
    size_t len;
    char *blob = sample(&len), *copy = malloc(len + 8);
    const char *err;
    /* every proper prefix, and any byte more */
    for (size_t i = 0; i != len; ++i) {
        memcpy(copy, blob, i);
        expect_refused(copy, i, "a truncated head");
    }
    memcpy(copy, blob, len);
    copy[len] = 0;
    expect_refused(copy, len + 1, "a byte after the head");
    /* every single-byte change is either refused or still a sound head (decodable within its bounds) */
    for (size_t i = 0; i != len; ++i) {
        for (unsigned x = 1; x != 256; x <<= 1) {
            memcpy(copy, blob, len);
            copy[i] ^= (char)x;
            if (cache_head_check(copy, len, &err) == 0) {
                cache_head_view_t v;
                h2o_mem_pool_t pool;
                h2o_header_t out[32];
                cache_head_open(copy, len, &v);
                assert_true(v.num_headers <= 32 && v.num_plain <= v.num_headers && v.status >= 100 && v.status <= 999);
                h2o_mem_init_pool(&pool);
                cache_head_decode(&v, &pool, out);
                for (size_t k = 0; k != v.num_headers; ++k) {
                    assert_true(out[k].value.base >= copy && out[k].value.base + out[k].value.len < copy + len);
                    assert_null(memchr(out[k].value.base, '\n', out[k].value.len));
                }
                h2o_mem_clear_pool(&pool);
            }
        }
    }
    /* specific refusals */
    memcpy(copy, blob, len);
    copy[0] = 9;
    expect_refused(copy, len, "another format");
    memcpy(copy, blob, len);
    copy[1] ^= 1;
    expect_refused(copy, len, "another token table");
    static const char huge_count[] = {CACHE_HEAD_FORMAT, 0, (char)0xc8, 0x01, 0, 0, (char)0xff, (char)0xff, (char)0xff, 0x7f, 0};
    memcpy(copy, huge_count, sizeof(huge_count));
    copy[1] = (char)cache_head_tokens_id();
    expect_refused(copy, sizeof(huge_count), "a header count of 2^28");
    static const char long_varint[] = {CACHE_HEAD_FORMAT, 0,          (char)0xc8, 0x01, (char)0x80,
                                       (char)0x80,        (char)0x80, (char)0x80, 0x01};
    memcpy(copy, long_varint, sizeof(long_varint));
    copy[1] = (char)cache_head_tokens_id();
    expect_refused(copy, sizeof(long_varint), "a 5-byte varint");
    expect_refused(NULL, 0, "nothing");
    free(copy);
    free(blob);
}

static void test_check_refuses_bad_fields(void **state)
{
    /* hand-made heads: header line injection, bad names, unknown tokens */
    const uint8_t id = cache_head_tokens_id();
    const struct {
        const char *why;
        size_t len;
        uint8_t bytes[32];
    } cases[] = {
        {"LF in a value", 14, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 0x80 | 0, 3, 'a', '\n', 'b', 0}},
        {"NUL in a value", 14, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 0x80 | 0, 3, 'a', 0, 'b', 0}},
        {"a value without its NUL", 14, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 0x80 | 0, 3, 'a', 'b', 'c', 'd'}},
        {"an unknown token", 11, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 0x80 | 100, 0, 0}},
        {"an uppercase name", 15, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 3, 2, 'X', 'y', 0, 0, 0}},
        {"a name with a colon", 15, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 3, 2, 'x', ':', 0, 0, 0}},
        {"an empty name", 12, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 3, 0, 0, 0}},
        {"an orig_name that is another name",
         18,
         {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 4, 2, 'x', 'y', 0, 'X', 'Z', 0, 0}},
        {"an unknown kind", 10, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 7, 0}},
        {"a status of 99", 6, {CACHE_HEAD_FORMAT, id, 0x63, 0x00, 0, 0}},
        {"a CR in the reason", 9, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 1, '\r', 0, 0, 0}},
        {"more plain fields than fields", 8, {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 0, 1}},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        expect_refused((const char *)cases[i].bytes, cases[i].len, cases[i].why);
    /* and the smallest valid one */
    const uint8_t ok[] = {CACHE_HEAD_FORMAT, id, 0xc8, 0x01, 0, 0, 1, 0, 0x80 | 0, 0, 0};
    const char *err;
    assert_int_equal(cache_head_check(ok, sizeof(ok), &err), 0);
}

/* ---- objects built on it ---------------------------------------------------------------------------------------------- */

static h2o_iovec_t s(const char *str)
{
    return h2o_iovec_init(str, strlen(str));
}

static void test_object_empty_body_one_block(void **state)
{
    cache_obj_t *o = cache_obj_new(1, s("key"), s("/url"));
    h2o_header_t h[] = {tok(H2O_TOKEN_CONTENT_LENGTH, "Content-Length", "0")};
    cache_obj_set_head(o, 204, "No Content", h, 1, 1, 0, 0);
    assert_true(o->head_in_seg);
    assert_int_equal(cache_obj_body(o)->first->cap, 0);
    cache_obj_complete(o);
    assert_int_equal(o->content_length, 0);
    assert_string_equal(cache_obj_reason(o), "No Content");
    cache_reader_t r;
    h2o_iovec_t v[4];
    size_t nbytes;
    cache_reader_attach(o, &r);
    assert_int_equal(cache_reader_peek(o, &r, 0, UINT64_MAX, v, 4, &nbytes), 0);
    cache_reader_detach(o, &r);
    assert_true(cache_obj_head_bytes(o) == 0); /* nothing beyond the body's block */
    cache_obj_release(o);
}

static void test_object_more_than_announced(void **state)
{
    /* a known length that the producer overruns still reads back whole (a second segment), head intact */
    cache_obj_t *o = cache_obj_new(1, s("key"), s("/url"));
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, 3, 0);
    cache_obj_append(o, "abcdef", 6);
    cache_obj_complete(o);
    cache_reader_t r;
    h2o_iovec_t v[4];
    size_t nbytes, n;
    char got[8];
    size_t at = 0;
    cache_reader_attach(o, &r);
    n = cache_reader_peek(o, &r, 0, UINT64_MAX, v, 4, &nbytes);
    assert_int_equal(nbytes, 6);
    for (size_t i = 0; i != n; ++i) {
        memcpy(got + at, v[i].base, v[i].len);
        at += v[i].len;
    }
    assert_memory_equal(got, "abcdef", 6);
    assert_string_equal(cache_obj_reason(o), "OK");
    cache_reader_detach(o, &r);
    cache_obj_release(o);
}

static void test_object_pass_and_unknown_length(void **state)
{
    /* not stored, or no Content-Length: the head is a block of its own */
    cache_obj_t *o = cache_obj_new(1, s("key"), s("/url"));
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, 10, 1);
    assert_false(o->head_in_seg);
    assert_null(cache_obj_body(o)->first);
    assert_true(cache_obj_head_bytes(o) > 0);
    cache_obj_release(o);
    o = cache_obj_new(1, s("key"), s("/url"));
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, -1, 0);
    assert_false(o->head_in_seg);
    cache_obj_release(o);
    /* no head at all (a failed fill) */
    o = cache_obj_new(1, s("key"), s("/url"));
    assert_int_equal(cache_obj_num_headers(o), 0);
    assert_string_equal(cache_obj_reason(o), "");
    assert_int_equal(cache_obj_find_header(o, H2O_TOKEN_DATE), -1);
    cache_obj_release(o);
}

static void test_object_packed_fields(void **state)
{
    /* freshness durations: exact milliseconds below 2^31, whole seconds above, nothing negative */
    static const int64_t exact[] = {0,
                                    1,
                                    999,
                                    60000,
                                    (INT64_C(1) << 31) - 1,
                                    (INT64_C(1) << 31) / 1000 * 1000 + 1000,
                                    INT64_C(31536000000),
                                    INT64_C(315360000000)};
    for (size_t i = 0; i != sizeof(exact) / sizeof(exact[0]); ++i)
        assert_int_equal(cache_fresh_unpack(cache_fresh_pack(exact[i])), exact[i]);
    assert_int_equal(cache_fresh_unpack(cache_fresh_pack(INT64_C(300000000123))), INT64_C(300000000000));
    assert_int_equal(cache_fresh_unpack(cache_fresh_pack(-5)), 0);
    assert_int_equal(cache_fresh_unpack(cache_fresh_pack(INT64_MAX)), (int64_t)0x7fffffff * 1000);
    /* through the object's decision */
    cache_obj_t *o = cache_obj_new(7, s("0\nhost\n/p?q\n"), h2o_iovec_init(NULL, 0));
    cache_decision_t d, back;
    memset(&d, 0, sizeof(d));
    d.response_time_ms = INT64_C(1764745200123);
    d.initial_age_ms = 1234;
    d.lifetime_ms = INT64_C(31536000000);
    d.swr_ms = 500;
    d.sie_ms = INT64_C(86400000);
    d.no_cache = 0;
    d.must_revalidate = 1;
    cache_obj_set_decision(o, &d);
    cache_obj_decision(o, &back);
    assert_int_equal(back.response_time_ms, d.response_time_ms);
    assert_int_equal(back.initial_age_ms, 1234);
    assert_int_equal(back.lifetime_ms, d.lifetime_ms);
    assert_int_equal(back.swr_ms, 500);
    assert_int_equal(back.sie_ms, d.sie_ms);
    assert_int_equal(back.no_cache, 0);
    assert_int_equal(back.must_revalidate, 1);
    /* key and url: a url outside the key is kept after it */
    assert_int_equal(cache_obj_key(o).len, 12);
    assert_memory_equal(cache_obj_key(o).base, "0\nhost\n/p?q\n", 13);
    assert_int_equal(cache_obj_url(o).len, 0);
    cache_obj_release(o);
    const char *key = "0\nhost\n/a/b?x=1\n";
    o = cache_obj_new(7, s(key), h2o_iovec_init(key + 7, 8));
    assert_int_equal(cache_obj_url(o).len, 8);
    assert_memory_equal(cache_obj_url(o).base, "/a/b?x=1", 8);
    assert_true(cache_obj_url(o).base > cache_obj_key(o).base); /* inside the key */
    cache_obj_release(o);
    o = cache_obj_new(7, s(key), s("/elsewhere"));
    assert_memory_equal(cache_obj_url(o).base, "/elsewhere", 11);
    assert_memory_equal(cache_obj_key(o).base, key, strlen(key) + 1);
    /* Vary and tags in their own block, none without them */
    assert_null(o->meta);
    assert_int_equal(cache_obj_vary_key(o).len, 0);
    h2o_iovec_t names[] = {s("accept-encoding"), s("accept-language")}, tags[] = {s("t1"), s(""), s("t3")};
    cache_obj_set_meta(o, names, 2, s("accept-encoding=gzip\naccept-language\n"), tags, 3);
    assert_int_equal(o->num_vary, 2);
    assert_memory_equal(cache_obj_vary_names(o)[1].base, "accept-language", 16);
    assert_memory_equal(cache_obj_vary_key(o).base, "accept-encoding=gzip\naccept-language\n", 38);
    size_t n;
    const h2o_iovec_t *t = cache_obj_tags(o, &n);
    assert_int_equal(n, 3);
    assert_int_equal(t[1].len, 0);
    assert_memory_equal(t[2].base, "t3", 3);
    cache_obj_set_meta(o, NULL, 0, h2o_iovec_init(NULL, 0), NULL, 0);
    assert_null(o->meta);
    assert_null(cache_obj_tags(o, &n));
    assert_int_equal(n, 0);
    cache_obj_release(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_kinds),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_check_refuses),
        cmocka_unit_test(test_check_refuses_bad_fields),
        cmocka_unit_test(test_object_empty_body_one_block),
        cmocka_unit_test(test_object_more_than_announced),
        cmocka_unit_test(test_object_pass_and_unknown_length),
        cmocka_unit_test(test_object_packed_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
