/* tests/unit/proxy/test_accesslog.c - the access-log formatter (accesslog_format): exact lines in both formats, escaping, UTC
 * timestamps, and the bounded line: cut exactly past the maximum, fairly, never inside an escape, and marked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "proxy/accesslog.h"

#define S(lit) h2o_iovec_init(lit, sizeof(lit) - 1)

static char line[2 * ACCESSLOG_LINE_MAX];

/* the entry of the README's example: 2026-11-26T17:19:15.123Z */
static accesslog_fields_t normal(void)
{
    accesslog_fields_t f;
    memset(&f, 0, sizeof(f));
    f.time_ms = INT64_C(1795713555123);
    f.client = S("127.0.0.1");
    f.method = S("GET");
    f.uri = S("/a.css?v=1");
    f.version = 0x200;
    f.status = 200;
    f.bytes = 1534;
    f.duration_us = 231;
    f.request_id = S("8b30a40100000001");
    f.cache = S("Hit");
    f.hooks = S("vreq:pretty-urls@1,vres:security-headers@1");
    f.origin = S("web");
    f.user_agent = S("curl/7.88.1");
    return f;
}

/* formats into `line` (NUL-terminated for the asserts) and checks the length returned */
static const char *fmt(const accesslog_fields_t *f, int json, size_t cap)
{
    memset(line, 0x55, sizeof(line));
    size_t n = accesslog_format(f, json, line, cap);
    assert_true(n <= cap);
    assert_int_equal(line[cap], 0x55); /* nothing written past cap (a cut line may have tried a longer one first) */
    line[n] = '\0';
    assert_int_equal(strlen(line), n);
    return line;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static void test_normal_entry_both_formats(void **state)
{
    accesslog_fields_t f = normal();
    assert_string_equal(
        fmt(&f, 0, ACCESSLOG_LINE_MAX),
        "127.0.0.1 - - [26/Nov/2026:17:19:15 +0000] \"GET /a.css?v=1 HTTP/2\" 200 1534 \"-\" \"curl/7.88.1\" "
        "rid=8b30a40100000001 dur=0.000231 cache=Hit hooks=vreq:pretty-urls@1,vres:security-headers@1 origin=web\n");
    assert_string_equal(fmt(&f, 1, ACCESSLOG_LINE_MAX),
                        "{\"time\":\"2026-11-26T17:19:15.123Z\",\"request_id\":\"8b30a40100000001\",\"client\":\"127.0.0.1\","
                        "\"method\":\"GET\",\"uri\":\"/a.css?v=1\",\"protocol\":\"HTTP/2\",\"status\":200,\"bytes\":1534,"
                        "\"duration\":0.000231,\"cache\":\"Hit\",\"hooks\":\"vreq:pretty-urls@1,vres:security-headers@1\","
                        "\"origin\":\"web\",\"referer\":\"\",\"user_agent\":\"curl/7.88.1\"}\n");
}

static void test_stand_ins_numbers_and_protocols(void **state)
{
    accesslog_fields_t f;
    memset(&f, 0, sizeof(f));
    f.version = 0x101;
    f.status = -1;
    f.bytes = UINT64_MAX;
    f.duration_us = UINT64_C(12345678901);
    f.referer = h2o_iovec_init("", 0); /* present but empty: "" (not "-") */
    assert_string_equal(fmt(&f, 0, ACCESSLOG_LINE_MAX),
                        "- - - [01/Jan/1970:00:00:00 +0000] \"  HTTP/1.1\" -1 18446744073709551615 \"\" "
                        "\"-\" rid= dur=12345.678901 cache=- hooks=- origin=-\n");
    f.version = 0x100;
    assert_string_equal(fmt(&f, 1, ACCESSLOG_LINE_MAX),
                        "{\"time\":\"1970-01-01T00:00:00.000Z\",\"request_id\":\"\",\"client\":\"-\",\"method\":\"\",\"uri\":\"\","
                        "\"protocol\":\"HTTP/1.0\",\"status\":-1,\"bytes\":18446744073709551615,\"duration\":12345.678901,"
                        "\"cache\":\"-\",\"hooks\":\"\",\"origin\":\"\",\"referer\":\"\",\"user_agent\":\"\"}\n");
}

static void test_escaping(void **state)
{
    accesslog_fields_t f = normal();
    f.method = S("G T");
    f.uri = S("/a b\"c\\d\x01\x7f\xff");
    f.user_agent = S("Moz \"x\"\\\n\xc3\xa9");
    f.referer = S("http://r/ \t");
    f.hooks = S("h 1");
    f.origin = S("o\"");
    f.request_id = S("r\x1b");
    /* combined: \xHH for '"', '\\', controls and bytes above 0x7e; outside quotes a space too */
    assert_string_equal(
        fmt(&f, 0, ACCESSLOG_LINE_MAX),
        "127.0.0.1 - - [26/Nov/2026:17:19:15 +0000] \"G\\x20T /a\\x20b\\x22c\\x5cd\\x01\\x7f\\xff HTTP/2\" 200 1534 "
        "\"http://r/ \\x09\" \"Moz \\x22x\\x22\\x5c\\x0a\\xc3\\xa9\" rid=r\\x1b dur=0.000231 cache=Hit hooks=h\\x201 "
        "origin=o\\x22\n");
    /* JSON: \" \\ and \u00HH for controls and bytes above 0x7e (the bytes as U+0000..U+00FF) */
    const char *j = fmt(&f, 1, ACCESSLOG_LINE_MAX);
    assert_non_null(strstr(j, "\"method\":\"G T\",\"uri\":\"/a b\\\"c\\\\d\\u0001\\u007f\\u00ff\","));
    assert_non_null(strstr(j, "\"user_agent\":\"Moz \\\"x\\\"\\\\\\u000a\\u00c3\\u00a9\"}\n"));
    assert_non_null(strstr(j, "\"referer\":\"http://r/ \\u0009\","));
    assert_non_null(strstr(j, "\"request_id\":\"r\\u001b\","));
    assert_non_null(strstr(j, "\"hooks\":\"h 1\",\"origin\":\"o\\\"\","));
    /* printable ASCII but the newline */
    for (int json = 0; json != 2; ++json) {
        const char *l = fmt(&f, json, ACCESSLOG_LINE_MAX);
        for (const char *p = l; p[1] != '\0'; ++p)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
}

static void test_time_matches_gmtime(void **state)
{
    static const int64_t secs[] = {0,
                                   59,
                                   86399,
                                   86400,
                                   951782400 /* 2000-02-29 */,
                                   951868800,
                                   1078012800,
                                   4107542399,
                                   4107542400 /* 2100-03-01 */,
                                   1709164800,
                                   253402300799 /* 9999-12-31T23:59:59 */};
    for (size_t i = 0; i != sizeof(secs) / sizeof(secs[0]); ++i) {
        accesslog_fields_t f = normal();
        f.time_ms = secs[i] * 1000 + 7;
        time_t t = (time_t)secs[i];
        struct tm tm;
        char want[64], got[64];
        gmtime_r(&t, &tm);
        strftime(want, sizeof(want), "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
        snprintf(got, sizeof(got), "%.28s", strchr(fmt(&f, 0, ACCESSLOG_LINE_MAX), '['));
        assert_string_equal(got, want);
        strftime(want, sizeof(want), "{\"time\":\"%Y-%m-%dT%H:%M:%S.007Z\"", &tm);
        snprintf(got, sizeof(got), "%.34s", fmt(&f, 1, ACCESSLOG_LINE_MAX));
        assert_string_equal(got, want);
    }
    /* clamped: before 1970 and past 9999 */
    accesslog_fields_t f = normal();
    f.time_ms = -5;
    assert_non_null(strstr(fmt(&f, 1, ACCESSLOG_LINE_MAX), "\"1970-01-01T00:00:00.000Z\""));
    f.time_ms = INT64_MAX;
    assert_non_null(strstr(fmt(&f, 1, ACCESSLOG_LINE_MAX), "\"9999-12-31T23:59:59.999Z\""));
    assert_non_null(strstr(fmt(&f, 0, ACCESSLOG_LINE_MAX), "[31/Dec/9999:23:59:59 +0000]"));
}

/* a URI of n 'a' after "/ok/" */
static h2o_iovec_t long_uri(size_t n)
{
    static char uri[70000];
    assert_true(n + 4 <= sizeof(uri));
    memcpy(uri, "/ok/", 4);
    memset(uri + 4, 'a', n);
    return h2o_iovec_init(uri, n + 4);
}

/* lines of cap-1, cap and cap+1 bytes: the first two whole, the third cut to at most cap and marked */
static void test_cut_at_the_boundary(void **state)
{
    static const size_t caps[] = {ACCESSLOG_LINE_MAX, ACCESSLOG_LINE_MIN, 1000};
    for (size_t c = 0; c != sizeof(caps) / sizeof(caps[0]); ++c) {
        size_t cap = caps[c];
        for (int json = 0; json != 2; ++json) {
            accesslog_fields_t f = normal();
            f.uri = long_uri(0);
            size_t base = strlen(fmt(&f, json, cap)); /* the line with "/ok/" */
            for (size_t want = cap - 1; want <= cap + 1; ++want) {
                f.uri = long_uri(want - base);
                const char *l = fmt(&f, json, cap);
                if (want <= cap) {
                    assert_int_equal(strlen(l), want);
                    assert_false(ends_with(l, " cut=1\n") || ends_with(l, ",\"cut\":true}\n"));
                    assert_non_null(strstr(l, json ? "aaa\",\"protocol\":\"HTTP/2\"," : "aaa HTTP/2\" 200 ")); /* the whole URI */
                } else {
                    assert_int_equal(strlen(l), cap); /* the URI has no escapes: it fills the line exactly */
                    assert_true(json ? ends_with(l, "\",\"cut\":true}\n") : ends_with(l, " origin=web cut=1\n"));
                }
            }
        }
    }
    /* below the minimum: nothing */
    accesslog_fields_t f = normal();
    assert_int_equal(accesslog_format(&f, 0, line, ACCESSLOG_LINE_MIN - 1), 0);
    assert_int_equal(accesslog_format(&f, 1, line, 0), 0);
}

/* the crash of the issue: 8,200 'a' / 2,100 bytes of 0xff, a 60 KB target, long headers; short fields stay whole */
static void test_cut_is_fair_and_keeps_escapes_whole(void **state)
{
    static char ff[2100], big[60000];
    memset(ff, 0xff, sizeof(ff));
    memset(big, 'u', sizeof(big));
    h2o_iovec_t uris[] = {long_uri(8200), h2o_iovec_init(ff, sizeof(ff)), long_uri(60000)};
    for (size_t u = 0; u != sizeof(uris) / sizeof(uris[0]); ++u) {
        for (int json = 0; json != 2; ++json) {
            accesslog_fields_t f = normal();
            f.uri = uris[u];
            f.user_agent = h2o_iovec_init(big, sizeof(big));
            f.referer = h2o_iovec_init(ff, 1000);
            const char *l = fmt(&f, json, ACCESSLOG_LINE_MAX);
            size_t n = strlen(l);
            assert_true(n <= ACCESSLOG_LINE_MAX && n > ACCESSLOG_LINE_MAX - 16);
            assert_true(json ? ends_with(l, ",\"cut\":true}\n") : ends_with(l, " cut=1\n"));
            /* the short fields are whole */
            assert_non_null(strstr(l, json ? "\"request_id\":\"8b30a40100000001\"" : " rid=8b30a40100000001 "));
            assert_non_null(
                strstr(l, json ? "\"hooks\":\"vreq:pretty-urls@1,vres:security-headers@1\"" : " cache=Hit hooks=vreq:"));
            assert_non_null(strstr(l, json ? "\"status\":200,\"bytes\":1534," : "\" 200 1534 \""));
            /* the long ones share the rest: the user agent (60000 bytes) gets about as much as the URI */
            const char *ua = strstr(l, json ? "\"user_agent\":\"" : "\" \"uuu");
            assert_non_null(ua);
            size_t ua_len = strspn(ua + (json ? 14 : 3), "u");
            assert_true(ua_len > 1500 && ua_len < 6000);
            /* no escape cut in two: every backslash starts a whole escape */
            const char *esc = json ? "\\u00ff" : "\\xff";
            for (const char *p = strchr(l, '\\'); p != NULL; p = strchr(p + 1, '\\')) {
                if (json && (p[1] == '"' || p[1] == '\\')) {
                    ++p;
                    continue;
                }
                assert_memory_equal(p, esc, strlen(esc));
            }
        }
    }
}

/* the smallest cap still holds every fixed part and whole short fields next to huge ones */
static void test_minimum_cap(void **state)
{
    static char big[20000];
    memset(big, '\\', sizeof(big));
    for (int json = 0; json != 2; ++json) {
        accesslog_fields_t f = normal();
        f.client = f.method = f.uri = f.request_id = f.cache = f.hooks = f.origin = f.referer = f.user_agent =
            h2o_iovec_init(big, sizeof(big));
        const char *l = fmt(&f, json, ACCESSLOG_LINE_MIN);
        assert_true(strlen(l) <= ACCESSLOG_LINE_MIN);
        assert_true(json ? ends_with(l, ",\"cut\":true}\n") : ends_with(l, " cut=1\n"));
        assert_non_null(strstr(l, json ? "\"status\":200,\"bytes\":1534,\"duration\":0.000231," : " 200 1534 "));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_entry_both_formats),
        cmocka_unit_test(test_stand_ins_numbers_and_protocols),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_time_matches_gmtime),
        cmocka_unit_test(test_cut_at_the_boundary),
        cmocka_unit_test(test_cut_is_fair_and_keeps_escapes_whole),
        cmocka_unit_test(test_minimum_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
