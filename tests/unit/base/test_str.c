/* tests/unit/base/test_str.c - the shared text helpers: hex, percent-escapes, base64 over OpenSSL, HTTP-dates, ASCII helpers */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"

static void test_hex(void **state)
{
    char out[16];
    edge_hex_encode(out, "\x00\x9f\xff\x10", 4);
    assert_string_equal(out, "009fff10");
    edge_hex_encode(out, "", 0);
    assert_string_equal(out, "");
    char *e = edge_pct_escape(out, 0x2f);
    assert_ptr_equal(e, out + 3);
    assert_memory_equal(out, "%2F", 3);
    memset(out, 'x', sizeof(out));
    assert_ptr_equal(edge_hex_byte(out, 0xa5), out + 2);
    assert_memory_equal(out, "a5x", 3); /* no NUL written */
    /* percent-decoding: valid escapes of either case decode, a `%` that starts none stays */
    const char *enc = "a%2Fb%2fc%zz%4%41%";
    char dec[32];
    size_t n = edge_pct_decode(dec, enc, strlen(enc));
    assert_int_equal(n, 12);
    assert_memory_equal(dec, "a/b/c%zz%4A%", 12);
    assert_int_equal(edge_pct_decode(dec, "%00", 3), 1);
    assert_int_equal(dec[0], 0);
    const char *digits = "0123456789abcdefABCDEF";
    for (int i = 0; i != 22; ++i)
        assert_int_equal(edge_hex_value(digits[i]), i < 16 ? i : i - 6);
    assert_int_equal(edge_hex_value('g'), -1);
    assert_int_equal(edge_hex_value('/'), -1);
    assert_int_equal(edge_hex_value(0xC6), -1);
    char sha[65];
    edge_sha256_hex("", 0, sha);
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    edge_sha256_hex("abc", 3, sha);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_base64(void **state)
{
    char enc[64];
    uint8_t dec[64];
    assert_int_equal(edge_base64_encode(enc, "", 0), 0);
    assert_string_equal(enc, "");
    assert_int_equal(edge_base64_encode(enc, "f", 1), 4);
    assert_string_equal(enc, "Zg==");
    assert_int_equal(edge_base64_encode(enc, "foob", 4), 8);
    assert_string_equal(enc, "Zm9vYg==");
    assert_int_equal(edge_base64_encode(enc, "\xfb\xff\xbf", 3), 4);
    assert_string_equal(enc, "+/+/");
    /* strict: S3's values */
    static const struct {
        const char *in;
        long n;
    } strict[] = {{"", 0},        {"Zg==", 1},  {"Zm8=", 2},      {"Zm9v", 3},  {"Zm9vYg==", 4}, {"Zg", -1},
                  {"Zg=", -1},    {"Z===", -1}, {"Zg=g", -1},     {"Z=g=", -1}, {" Zg==", -1},   {"Zg==\n", -1},
                  {"Zm9v\n", -1}, {"-_-_", -1}, {"Zg==Zg==", -1}, {"Zm 9v", -1}};
    for (size_t i = 0; i != sizeof(strict) / sizeof(strict[0]); ++i) {
        long n = edge_base64_decode(dec, strict[i].in, strlen(strict[i].in), EDGE_BASE64_STRICT);
        if (n != strict[i].n)
            fail_msg("strict #%zu %s: %ld, not %ld", i, strict[i].in, n, strict[i].n);
    }
    assert_int_equal(edge_base64_decode(dec, "Zm9vYg==", 8, EDGE_BASE64_STRICT), 4);
    assert_memory_equal(dec, "foob", 4);
    /* lenient: padding optional, base64url's alphabet too */
    assert_int_equal(edge_base64_decode(dec, "Zm9vYg", 6, EDGE_BASE64_LENIENT), 4);
    assert_memory_equal(dec, "foob", 4);
    assert_int_equal(edge_base64_decode(dec, "-_-_", 4, EDGE_BASE64_LENIENT), 3);
    assert_memory_equal(dec, "\xfb\xff\xbf", 3);
    assert_int_equal(edge_base64_decode(dec, "Zm9vY", 5, EDGE_BASE64_LENIENT), -1);
    assert_int_equal(edge_base64_decode(dec, "Zm 9v", 5, EDGE_BASE64_LENIENT), -1);
    /* larger than the decoder's 4096-character buffer, every byte value, both modes */
    size_t len = 10000;
    uint8_t *raw = malloc(len), *back = malloc(len + 3);
    char *b = malloc(EDGE_BASE64_ENCODED_SIZE(len));
    for (size_t i = 0; i != len; ++i)
        raw[i] = (uint8_t)(i * 131 + 7);
    size_t bl = edge_base64_encode(b, raw, len);
    assert_int_equal(bl, EDGE_BASE64_ENCODED_SIZE(len) - 1);
    assert_int_equal(edge_base64_decode(back, b, bl, EDGE_BASE64_STRICT), len);
    assert_memory_equal(back, raw, len);
    while (b[bl - 1] == '=')
        --bl;
    for (size_t i = 0; i != bl; ++i)
        b[i] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
    assert_int_equal(edge_base64_decode(back, b, bl, EDGE_BASE64_LENIENT), len);
    assert_memory_equal(back, raw, len);
    free(raw);
    free(back);
    free(b);
}

static void test_http_date(void **state)
{
    static const char *same[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                                 "  Sun, 06 NOV 1994 08:49:37 UTC\t", "Sun Nov 06 08:49:37 1994"};
    for (size_t i = 0; i != sizeof(same) / sizeof(same[0]); ++i) {
        int64_t t = -1;
        if (edge_http_date_parse(same[i], strlen(same[i]), &t) != 0 || t != 784111777)
            fail_msg("#%zu %s: %lld", i, same[i], (long long)t);
    }
    static const char *bad[] = {"",
                                "Sun, 06 Nov 1994 08:49:37",
                                "Sun, 06 Nov 1994 08:49:37 PST",
                                "Sun, 31 Nov 1994 08:49:37 GMT",
                                "Sun, 29 Feb 1995 08:49:37 GMT",
                                "Sun, 06 Nov 1994 24:00:00 GMT",
                                "Sun, 06 Foo 1994 08:49:37 GMT",
                                "Sun Nov  6 08:49:37 1994 GMT",
                                "06 Nov 1994 08:49:37 GMT",
                                "Sun, 06 Nov 994 08:49:37 GMT",
                                "1994-11-06T08:49:37Z"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        int64_t t;
        if (edge_http_date_parse(bad[i], strlen(bad[i]), &t) == 0)
            fail_msg("accepted #%zu %s", i, bad[i]);
    }
    int64_t t;
    assert_int_equal(edge_http_date_parse("Tue, 29 Feb 2000 00:00:00 GMT", 29, &t), 0);
    assert_int_equal(t, 951782400); /* 2000-02-29 */
    assert_int_equal(edge_http_date_parse("Thu, 01-Jan-70 00:00:00 GMT", 27, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(edge_http_date_parse("Wed, 01-Jan-69 00:00:00 GMT", 27, &t), 0); /* 2069 */
    assert_int_equal(t, 3124224000);
    assert_int_equal(edge_http_date_parse("Mon, 01 Jan 1900 00:00:00 GMT", 29, &t), 0); /* before the epoch: 0 */
    assert_int_equal(t, 0);
}

static void test_ascii(void **state)
{
    assert_true(edge_lcstris("Content-Length", 14, "content-length", 14));
    assert_false(edge_lcstris("Content-Lengt", 13, "content-length", 14));
    assert_false(edge_lcstris("Content_Length", 14, "content-length", 14));
    assert_true(edge_caseeq("aBc", 3, "AbC", 3));
    assert_false(edge_caseeq("aBc", 3, "AbD", 3));
    assert_false(edge_caseeq("\xc3", 1, "\xe3", 1)); /* ASCII only */
    const char *s = " \t x y\t ";
    size_t n = strlen(s);
    edge_strip_ows(&s, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "x y", 3);
    s = "\t ";
    n = 2;
    edge_strip_ows(&s, &n);
    assert_int_equal(n, 0);
    assert_true(edge_list_has("keep-alive, Close", 17, "close", 5));
    assert_true(edge_list_has(",,close", 7, "close", 5));
    assert_true(edge_list_has("close", 5, "close", 5));
    assert_false(edge_list_has("closed, x", 9, "close", 5));
    assert_false(edge_list_has("keep-alive", 10, "close", 5));
    assert_false(edge_list_has("", 0, "close", 5));
}

#define LIST_MATCHES(list, etag, weak) edge_etag_list_matches(list, strlen(list), etag, strlen(etag), weak)

static void test_etag(void **state)
{
    (void)state;
    edge_etag_t t;
    assert_true(edge_etag_parse(" W/\"ab\" ", 7, &t));
    assert_true(t.weak);
    assert_int_equal(t.len, 2);
    assert_memory_equal(t.opaque, "ab", 2);
    assert_true(edge_etag_parse("d41d8cd9", 8, &t)); /* S3 stores its tags unquoted */
    assert_false(t.weak);
    assert_int_equal(t.len, 8);
    assert_false(edge_etag_parse("  ", 2, &t));
    /* lists: "*", several tags, junk, weak and strong comparison */
    assert_true(LIST_MATCHES("*", "\"x\"", 0));
    assert_true(LIST_MATCHES(" * ", "x", 0));
    assert_true(LIST_MATCHES("\"a\", \"x\"", "\"x\"", 0));
    assert_true(LIST_MATCHES("\"a\",\"x\"", "x", 0));
    assert_true(LIST_MATCHES("\"a\"junk, \"x\"", "x", 0));
    assert_true(LIST_MATCHES(",, \"x\" ,", "x", 0));
    assert_false(LIST_MATCHES("\"a\", \"b\"", "x", 0));
    assert_false(LIST_MATCHES("W/\"x\"", "\"x\"", 0)); /* strong: a weak tag never matches */
    assert_true(LIST_MATCHES("W/\"x\"", "\"x\"", 1));
    assert_false(LIST_MATCHES("\"x\"", "W/\"x\"", 0));
    assert_true(LIST_MATCHES("\"x\"", "W/\"x\"", 1));
    assert_false(LIST_MATCHES("\"X\"", "x", 1)); /* opaque tags compare octet by octet */
    assert_false(LIST_MATCHES("", "x", 1));
    assert_false(LIST_MATCHES("\"x\"", "", 1));
    assert_false(LIST_MATCHES("\"xy", "x", 1)); /* an unterminated tag is all of the rest */
    assert_true(LIST_MATCHES("\"\"", "\"\"", 0)); /* an empty opaque-tag is a tag, and matches itself (a fuzzer found it did not) */
    assert_false(LIST_MATCHES("\"\"", "\"x\"", 1));
    assert_false(LIST_MATCHES("\"x\"", "\"\"", 1));
}

static void test_json_string(void **state)
{
    char out[64];
    assert_int_equal(edge_json_string(out, sizeof(out), "a\"b\\c\n\x01", 7), 17);
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\u0001\"");
    /* too long: cut at an escape boundary, still a closed string */
    assert_int_equal(edge_json_string(out, 8, "\\\\\\\\", 4), 6);
    assert_string_equal(out, "\"\\\\\\\\\"");
    assert_int_equal(edge_json_string(out, 2, "x", 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_ascii),
        cmocka_unit_test(test_etag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
