/* tests/unit/cache/test_policy.c - the caching rules of cache/policy.c (RFC 9111, 9110, 5861, 9213), table-driven, per section */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cache/policy.h"

#define T0 784111777000LL /* Sun, 06 Nov 1994 08:49:37 GMT, the example of RFC 9110 §5.6.7 */
#define S(x) ((int64_t)(x)*1000)
#define NONE INT64_MIN /* "no such header" in the tables */
#define DAY S(86400)

/* ------------------------------------------------------------------------------------------------------------------- */
/* helpers                                                                                                              */

static void fmt_date(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* adds "Name: value" lines separated by '\n'; names are interned as h2o does for parsed messages */
static void add_lines(h2o_mem_pool_t *pool, h2o_headers_t *hs, const char *spec, int intern)
{
    const char *p = spec;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n'), *end = nl != NULL ? nl : p + strlen(p);
        const char *colon = memchr(p, ':', end - p);
        assert_non_null(colon);
        size_t nlen = colon - p;
        char *name = h2o_mem_alloc_pool(pool, nlen);
        for (size_t i = 0; i != nlen; ++i)
            name[i] = (char)h2o_tolower((unsigned char)p[i]);
        const char *v = colon + 1;
        while (v < end && *v == ' ')
            ++v;
        h2o_add_header_by_str(pool, hs, name, nlen, intern, NULL, v, end - v);
        p = nl != NULL ? nl + 1 : NULL;
    }
}

static h2o_headers_t H(h2o_mem_pool_t *pool, const char *spec)
{
    h2o_headers_t hs = {NULL};
    add_lines(pool, &hs, spec, 1);
    return hs;
}

static void add_date(h2o_mem_pool_t *pool, h2o_headers_t *hs, const h2o_token_t *tok, int64_t ms)
{
    if (ms == NONE)
        return;
    char *buf = h2o_mem_alloc_pool(pool, 64);
    fmt_date(ms, buf, 64);
    h2o_add_header(pool, hs, tok, NULL, buf, strlen(buf));
}

/* the value of the only line named `name` (lowercase), or NULL; fails on duplicates */
static const char *get1(h2o_mem_pool_t *pool, const h2o_headers_t *hs, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i != hs->size; ++i) {
        if (h2o_memis(hs->entries[i].name->base, hs->entries[i].name->len, name, strlen(name))) {
            if (found != NULL)
                fail_msg("header %s appears twice", name);
            found = h2o_strdup(pool, hs->entries[i].value.base, hs->entries[i].value.len).base;
        }
    }
    return found;
}

static const h2o_iovec_t GET = {H2O_STRLIT("GET")}, HEAD = {H2O_STRLIT("HEAD")}, POST = {H2O_STRLIT("POST")},
                         PUT = {H2O_STRLIT("PUT")};

static void init_pol(cache_policy_t *pol, int64_t min, int64_t def, int64_t max, int64_t swr, int64_t sie)
{
    conf_cache_policy_t c = {0};
    c.enabled = 1;
    c.min_ttl_ms = min;
    c.default_ttl_ms = def;
    c.max_ttl_ms = max;
    c.stale_while_revalidate_ms = swr;
    c.stale_if_error_ms = sie;
    c.error_ttl_ms = -1;
    cache_policy_init(pol, &c, 0, 0);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* Cache-Control parsing (RFC 9111 §5.2)                                                                                */

typedef struct {
    const char *name, *value;
    int no_store, no_cache, private_, public_, must_revalidate, only_if_cached;
    int64_t max_age, s_maxage, swr, sie, max_stale, min_fresh;
} cc_row_t;

#define A CACHE_ABSENT
static const cc_row_t cc_rows[] = {
    {"§5.2.2.1 max-age", "max-age=60", 0, 0, 0, 0, 0, 0, S(60), A, A, A, A, A},
    {"§5.2 names are case-insensitive", "MAX-AGE=60, Public", 0, 0, 0, 1, 0, 0, S(60), A, A, A, A, A},
    {"§5.2 recipients accept the quoted form", "max-age=\"60\"", 0, 0, 0, 0, 0, 0, S(60), A, A, A, A, A},
    {"§4.2.1 invalid max-age is stale", "max-age=abc", 0, 0, 0, 0, 0, 0, 0, A, A, A, A, A},
    {"§4.2.1 negative max-age is stale", "max-age=-5", 0, 0, 0, 0, 0, 0, 0, A, A, A, A, A},
    {"§4.2.1 max-age without value is stale", "max-age", 0, 0, 0, 0, 0, 0, 0, A, A, A, A, A},
    {"§4.2.1 first of duplicate directives wins", "max-age=60, max-age=10", 0, 0, 0, 0, 0, 0, S(60), A, A, A, A, A},
    {"§5.2.2.4 qualified no-cache with quoted commas", "no-cache=\"Set-Cookie, X-Foo\", max-age=5", 0, 1, 0, 0, 0, 0, S(5), A, A, A,
     A, A},
    {"§5.2.2.7 qualified private is private", "private=\"a,b\", s-maxage=3", 0, 0, 1, 0, 0, 0, A, S(3), A, A, A, A},
    {"§1.2.2 delta-seconds capped at 2^31", "s-maxage=99999999999999999999", 0, 0, 0, 0, 0, 0, A, 2147483648LL * 1000, A, A, A, A},
    {"§1.2.2 a value that would wrap 64 bits", "max-age=18446744073709551617", 0, 0, 0, 0, 0, 0, 2147483648LL * 1000, A, A, A, A,
     A},
    {"§1.2.2 just above 2^31", "max-age=3000000000", 0, 0, 0, 0, 0, 0, 2147483648LL * 1000, A, A, A, A, A},
    {"RFC 5861 windows, invalid one ignored", "stale-while-revalidate=30, stale-if-error=abc", 0, 0, 0, 0, 0, 0, A, A, S(30), A, A,
     A},
    {"§5.2.1.2 bare max-stale accepts any staleness", "max-stale", 0, 0, 0, 0, 0, 0, A, A, A, A, CACHE_CC_ANY, A},
    {"§5.2.1.2/§5.2.1.3 request directives", "max-stale=10, min-fresh=5, only-if-cached", 0, 0, 0, 0, 0, 1, A, A, A, A, S(10),
     S(5)},
    {"§5.2 empty list elements", ", ,  no-store ,,", 1, 0, 0, 0, 0, 0, A, A, A, A, A, A},
    {"§5.2 quoted junk cannot inject a directive", "foo=\"bar, max-age=1\", max-age=7", 0, 0, 0, 0, 0, 0, S(7), A, A, A, A, A},
    {"§5.2 junk after a value is skipped", "max-age=60 junk, public", 0, 0, 0, 1, 0, 0, S(60), A, A, A, A, A},
    {"§5.2 whitespace around '='", "max-age = 60", 0, 0, 0, 0, 0, 0, S(60), A, A, A, A, A},
    {"§5.2.2.2 must-revalidate", "must-revalidate", 0, 0, 0, 0, 1, 0, A, A, A, A, A, A},
    {"§5.2.3 unknown extensions ignored", "community=\"UCI\"", 0, 0, 0, 0, 0, 0, A, A, A, A, A, A},
    {"§5.2 empty value", "", 0, 0, 0, 0, 0, 0, A, A, A, A, A, A},
    {"§5.2 unterminated quote does not overrun", "no-cache=\"abc, max-age=3", 0, 1, 0, 0, 0, 0, A, A, A, A, A, A},
};
#undef A

static void test_cc_parse_table(void **state)
{
    for (size_t i = 0; i != sizeof(cc_rows) / sizeof(cc_rows[0]); ++i) {
        const cc_row_t *r = cc_rows + i;
        cache_cc_t cc;
        cache_cc_init(&cc);
        cache_cc_parse_str(r->value, strlen(r->value), &cc);
        print_message("  %s\n", r->name);
        assert_int_equal(cc.no_store, r->no_store);
        assert_int_equal(cc.no_cache, r->no_cache);
        assert_int_equal(cc.private_, r->private_);
        assert_int_equal(cc.public_, r->public_);
        assert_int_equal(cc.must_revalidate, r->must_revalidate);
        assert_int_equal(cc.only_if_cached, r->only_if_cached);
        assert_true(cc.max_age_ms == r->max_age);
        assert_true(cc.s_maxage_ms == r->s_maxage);
        assert_true(cc.swr_ms == r->swr);
        assert_true(cc.sie_ms == r->sie);
        assert_true(cc.max_stale_ms == r->max_stale);
        assert_true(cc.min_fresh_ms == r->min_fresh);
    }
}

static void test_cc_combines_lines(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    cache_cc_t cc;

    /* §5.2: a field split over several lines is one list */
    h2o_headers_t hs = H(&pool, "Cache-Control: max-age=5\nX-Other: no-store\ncache-control: immutable, proxy-revalidate");
    cache_cc_parse(&hs, H2O_TOKEN_CACHE_CONTROL, &cc);
    assert_true(cc.max_age_ms == S(5));
    assert_int_equal(cc.immutable, 1);
    assert_int_equal(cc.proxy_revalidate, 1);
    assert_int_equal(cc.no_store, 0);

    /* a field added without interning (e.g. by a hook) is still found */
    h2o_headers_t raw = {NULL};
    add_lines(&pool, &raw, "cache-control: no-store", 0);
    assert_true(raw.entries[0].name != &H2O_TOKEN_CACHE_CONTROL->buf);
    cache_cc_parse(&raw, H2O_TOKEN_CACHE_CONTROL, &cc);
    assert_int_equal(cc.no_store, 1);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* HTTP-date (RFC 9110 §5.6.7)                                                                                          */

static void test_parse_date(void **state)
{
    static const struct {
        const char *name, *s;
        int64_t want;
    } rows[] = {
        {"§5.6.7 IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", T0},
        {"§5.6.7 obsolete RFC 850", "Sunday, 06-Nov-94 08:49:37 GMT", T0},
        {"§5.6.7 obsolete asctime", "Sun Nov  6 08:49:37 1994", T0},
        {"§5.6.7 asctime two-digit day", "Sun Nov 16 08:49:37 1994", T0 + 10 * DAY},
        {"§5.6.7 surrounding whitespace", "  Sun, 06 Nov 1994 08:49:37 GMT ", T0},
        {"§5.6.7 epoch", "Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"§5.6.7 before the epoch clamps to 0", "Wed, 31 Dec 1969 23:59:59 GMT", 0},
        {"§5.6.7 leap day 2000", "Tue, 29 Feb 2000 00:00:00 GMT", 951782400000LL},
        {"§5.6.7 1900 is not a leap year", "Thu, 29 Feb 1900 00:00:00 GMT", CACHE_ABSENT},
        {"§5.6.7 31 Feb", "Sun, 31 Feb 1994 08:49:37 GMT", CACHE_ABSENT},
        {"§5.6.7 far future", "Fri, 31 Dec 9999 23:59:59 GMT", 253402300799000LL},
        {"§5.6.7 RFC 850 year 00 is 2000", "Saturday, 01-Jan-00 00:00:00 GMT", 946684800000LL},
        {"§5.6.7 RFC 850 year 70 is 1970", "Thursday, 01-Jan-70 00:00:01 GMT", 1000},
        {"§5.3 Expires: 0 is invalid", "0", CACHE_ABSENT},
        {"§5.3 Expires: -1 is invalid", "-1", CACHE_ABSENT},
        {"§5.6.7 other zones are invalid", "Sun, 06 Nov 1994 08:49:37 PST", CACHE_ABSENT},
        {"§5.6.7 trailing junk", "Sun, 06 Nov 1994 08:49:37 GMTX", CACHE_ABSENT},
        {"§5.6.7 hour 24", "Sun, 06 Nov 1994 24:00:00 GMT", CACHE_ABSENT},
        {"§5.6.7 bad month", "Sun, 06 Foo 1994 08:49:37 GMT", CACHE_ABSENT},
        {"§5.6.7 truncated", "Sun, 06 Nov 1994 08:49", CACHE_ABSENT},
        {"§5.6.7 empty", "", CACHE_ABSENT},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        print_message("  %s\n", rows[i].name);
        assert_true(cache_policy_parse_date(rows[i].s, strlen(rows[i].s)) == rows[i].want);
    }
    /* every day of a leap and a common year round-trips through strftime */
    for (int64_t t = S(946684800); t < S(946684800) + 800 * DAY; t += DAY + S(3723)) {
        char buf[64];
        fmt_date(t, buf, sizeof(buf));
        assert_true(cache_policy_parse_date(buf, strlen(buf)) == t);
    }
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* storability (RFC 9111 §3)                                                                                            */

typedef struct {
    const char *name;
    const h2o_iovec_t *method;
    const char *reqh;
    int status;
    const char *resh;
    int storable;
    const char *reason; /* substring of the reason when not storable */
} store_row_t;

static const store_row_t store_rows[] = {
    {"§3 GET 200 with max-age", &GET, "", 200, "Cache-Control: max-age=60", 1, NULL},
    {"§3 HEAD 200 with max-age", &HEAD, "", 200, "Cache-Control: max-age=60", 1, NULL},
    {"§3 POST is not stored", &POST, "", 200, "Cache-Control: max-age=60", 0, "method"},
    {"§3 PUT is not stored", &PUT, "", 201, "Cache-Control: max-age=60", 0, "method"},
    {"§3 206 partial content is not stored", &GET, "", 206, "Cache-Control: max-age=60", 0, "206"},
    {"§3 304 is not stored", &GET, "", 304, "Cache-Control: max-age=60", 0, "304"},
    {"§5.2.2.3 must-understand with an understood status overrides no-store", &GET, "", 200,
     "Cache-Control: max-age=60, no-store, must-understand", 1, NULL},
    {"§5.2.2.3 must-understand with an unknown status is not stored", &GET, "", 599,
     "Cache-Control: max-age=60, no-store, must-understand", 0, "must-understand"},
    {"§5.2.2.3 must-understand with 299 (not defined) is not stored", &GET, "", 299, "Cache-Control: max-age=60, must-understand",
     0, "must-understand"},
    {"§5.2.2.3 must-understand in CDN-Cache-Control", &GET, "", 200,
     "Cache-Control: no-store\nCDN-Cache-Control: max-age=60, no-store, must-understand", 1, NULL},
    {"§5.2.2.3 must-understand does not override private", &GET, "", 200, "Cache-Control: max-age=60, private, must-understand",
     0, "private"},
    {"§5.2.1.5 request no-store is not overridden by must-understand", &GET, "Cache-Control: no-store", 200,
     "Cache-Control: max-age=60, no-store, must-understand", 0, "request no-store"},
    {"§3 1xx is not final", &GET, "", 103, "Cache-Control: max-age=60", 0, "final"},
    {"§5.2.2.5 response no-store", &GET, "", 200, "Cache-Control: max-age=60, no-store", 0, "no-store"},
    {"§5.2.1.5 request no-store", &GET, "Cache-Control: no-store", 200, "Cache-Control: max-age=60", 0, "request no-store"},
    {"§5.2.2.7 private, shared cache", &GET, "", 200, "Cache-Control: private, max-age=60", 0, "private"},
    {"§5.2.2.7 qualified private", &GET, "", 200, "Cache-Control: private=\"set-cookie\", max-age=60", 0, "private"},
    {"§3.5 Authorization without permission", &GET, "Authorization: Basic eDp5", 200, "Cache-Control: max-age=60", 0,
     "Authorization"},
    {"§3.5 Authorization with public", &GET, "Authorization: Basic eDp5", 200, "Cache-Control: public, max-age=60", 1, NULL},
    {"§3.5 Authorization with s-maxage", &GET, "Authorization: Basic eDp5", 200, "Cache-Control: s-maxage=60", 1, NULL},
    {"§3.5 Authorization with must-revalidate", &GET, "Authorization: Basic eDp5", 200,
     "Cache-Control: must-revalidate, max-age=60", 1, NULL},
    {"§4.1 Vary: * never matches", &GET, "", 200, "Cache-Control: max-age=60\nVary: *", 0, "Vary"},
    {"§4.1 Vary: * inside a list", &GET, "", 200, "Cache-Control: max-age=60\nVary: accept-encoding, *", 0, "Vary"},
    {"§4.1 other Vary is fine", &GET, "", 200, "Cache-Control: max-age=60\nVary: accept-encoding", 1, NULL},
    {"§4.2.2 302 without explicit freshness", &GET, "", 302, "Location: /x\nETag: \"a\"", 0, "heuristically"},
    {"§3 302 with explicit freshness", &GET, "", 302, "Location: /x\nCache-Control: max-age=60", 1, NULL},
    {"§3 500 with explicit freshness", &GET, "", 500, "Cache-Control: max-age=5", 1, NULL},
    {"§4.2.2 307 made heuristically cacheable by public", &GET, "", 307,
     "Cache-Control: public\nLast-Modified: Sat, 01 Jan 1994 00:00:00 GMT", 1, NULL},
    {"§4.2.2 404 heuristic from Last-Modified", &GET, "", 404, "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT", 1, NULL},
    {"§4.3 200 without freshness nor validator", &GET, "", 200, "Content-Type: text/plain", 0, "never reusable"},
    {"§4.3 200 with only an ETag (always revalidated)", &GET, "", 200, "ETag: \"x\"", 1, NULL},
    {"§5.2.2.4 no-cache without validator", &GET, "", 200, "Cache-Control: no-cache, max-age=60", 0, "never reusable"},
    {"§5.2.2.4 no-cache with a validator", &GET, "", 200, "Cache-Control: no-cache\nETag: \"x\"", 1, NULL},
    {"RFC 5861 stale-if-error keeps a max-age=0 response", &GET, "", 200, "Cache-Control: max-age=0, stale-if-error=60", 1, NULL},
    {"RFC 5861 stale-while-revalidate keeps a max-age=0 response", &GET, "", 200,
     "Cache-Control: max-age=0, stale-while-revalidate=30", 1, NULL},
    {"RFC 9213 CDN-Cache-Control no-store beats Cache-Control", &GET, "", 200,
     "Cache-Control: max-age=60\nCDN-Cache-Control: no-store", 0, "no-store"},
    {"RFC 9213 CDN-Cache-Control replaces a private Cache-Control", &GET, "", 200,
     "Cache-Control: private\nCDN-Cache-Control: max-age=60", 1, NULL},
    {"Surrogate-Control no-store beats Cache-Control", &GET, "", 200, "Cache-Control: max-age=60\nSurrogate-Control: no-store", 0,
     "no-store"},
    {"Set-Cookie: not shared by default (nginx, Varnish)", &GET, "", 200, "Cache-Control: max-age=60\nSet-Cookie: s=1", 0,
     "Set-Cookie"},
    {"Set-Cookie: public does not share it", &GET, "", 200, "Cache-Control: public, s-maxage=60\nSet-Cookie: s=1", 0,
     "Set-Cookie"},
    {"Set-Cookie2 counts too", &GET, "", 200, "Cache-Control: max-age=60\nSet-Cookie2: s=1", 0, "Set-Cookie"},
    {"Set-Cookie named by a no-cache list: the rest is shared", &GET, "", 200,
     "Cache-Control: no-cache=\"Set-Cookie\", max-age=60\nETag: \"v\"\nSet-Cookie: s=1", 1, NULL},
    {"... the token form", &GET, "", 200, "Cache-Control: max-age=60, no-cache=set-cookie\nETag: \"v\"\nSet-Cookie: s=1", 1, NULL},
    {"... in a list of several", &GET, "", 200,
     "Cache-Control: no-cache=\"X-A, set-cookie\", max-age=60\nETag: \"v\"\nSet-Cookie: s=1", 1, NULL},
    {"a no-cache list naming another field does not", &GET, "", 200,
     "Cache-Control: no-cache=\"X-A\", max-age=60\nETag: \"v\"\nSet-Cookie: s=1", 0, "Set-Cookie"},
    {"a directive named like the field does not", &GET, "", 200, "Cache-Control: max-age=60, set-cookie\nSet-Cookie: s=1", 0,
     "Set-Cookie"},
    {"no-store still wins over the cookie rule", &GET, "", 200, "Cache-Control: no-store\nSet-Cookie: s=1", 0, "no-store"},
};

/* ignore_set_cookie: a response with Set-Cookie may be stored (its cookies are left out of the copy) */
static void test_storability_set_cookie(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    conf_cache_policy_t c = {0};
    c.enabled = 1;
    c.min_ttl_ms = c.default_ttl_ms = c.max_ttl_ms = c.stale_while_revalidate_ms = c.stale_if_error_ms = c.error_ttl_ms = -1;
    cache_policy_t pol, opt_in;
    cache_policy_init(&pol, &c, 0, 0);
    assert_int_equal(pol.ignore_set_cookie, 0);
    assert_null(pol.forward);
    c.ignore_set_cookie = 1;
    cache_policy_init(&opt_in, &c, 0, 0);
    assert_int_equal(opt_in.ignore_set_cookie, 1);
    h2o_headers_t resh = H(&pool, "Cache-Control: max-age=60\nSet-Cookie: a=1\nSet-Cookie: b=2");
    cache_decision_t d;
    cache_policy_evaluate(&pol, GET, NULL, 200, &resh, T0, T0, &d);
    assert_int_equal(d.storable, 0);
    cache_policy_evaluate(NULL, GET, NULL, 200, &resh, T0, T0, &d); /* RFC 9111 alone: the cookie rule holds too */
    assert_int_equal(d.storable, 0);
    cache_policy_evaluate(&opt_in, GET, NULL, 200, &resh, T0, T0, &d);
    assert_int_equal(d.storable, 1);
    /* the opt-in does not override the other rules */
    resh = H(&pool, "Cache-Control: private, max-age=60\nSet-Cookie: a=1");
    cache_policy_evaluate(&opt_in, GET, NULL, 200, &resh, T0, T0, &d);
    assert_int_equal(d.storable, 0);
    assert_non_null(strstr(d.reason, "private"));
    h2o_mem_clear_pool(&pool);
}

/* what a stored copy leaves out: Set-Cookie always, and the fields of a qualified no-cache / private list (§5.2.2.4) */
static void test_shareable_headers(void **state)
{
    static const struct {
        const char *name, *resh, *kept; /* kept: the names left, lowercase, in order, joined by ' ' */
    } rows[] = {
        {"nothing to leave out", "Content-Type: text/plain\nCache-Control: max-age=60", "content-type cache-control"},
        {"Set-Cookie, every line", "Set-Cookie: a=1\nContent-Type: x\nSet-Cookie: b=2\nSet-Cookie2: c=3", "content-type"},
        {"a no-cache list", "Cache-Control: no-cache=\"X-Secret, x-other\"\nX-Secret: 1\nX-OTHER: 2\nX-Kept: 3",
         "cache-control x-kept"},
        {"a private list", "Cache-Control: private=\"x-user\"\nX-User: u\nX-Kept: 3", "cache-control x-kept"},
        {"the token form", "Cache-Control: no-cache=x-secret, max-age=5\nX-Secret: 1", "cache-control"},
        {"a list in CDN-Cache-Control", "CDN-Cache-Control: max-age=60, no-cache=\"x-secret\"\nX-Secret: 1", "cdn-cache-control"},
        {"a list over two lines", "Cache-Control: max-age=5\nCache-Control: no-cache=\"x-secret\"\nX-Secret: 1",
         "cache-control cache-control"},
        {"plain no-cache names nothing", "Cache-Control: no-cache\nX-Secret: 1", "cache-control x-secret"},
        {"a quoted comma inside another directive", "Cache-Control: ext=\"x-secret, y\"\nX-Secret: 1", "cache-control x-secret"},
        {"an empty list", "Cache-Control: no-cache=\"\"\nX-Secret: 1", "cache-control x-secret"},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        print_message("  %s\n", rows[i].name);
        h2o_headers_t resh = H(&pool, rows[i].resh), out;
        size_t removed = cache_policy_shareable_headers(&pool, &resh, &out);
        char names[256] = "";
        for (size_t j = 0; j != out.size; ++j)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%.*s", j != 0 ? " " : "", (int)out.entries[j].name->len,
                     out.entries[j].name->base);
        assert_string_equal(names, rows[i].kept);
        assert_int_equal(removed, resh.size - out.size);
        h2o_mem_clear_pool(&pool);
    }
    /* a name added by a hook without interning is still found, in any case */
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t resh = {NULL}, out;
    add_lines(&pool, &resh, "set-cookie: a=1\ncache-control: no-cache=\"X-Secret\"\nx-secret: 1", 0);
    assert_int_equal(cache_policy_shareable_headers(&pool, &resh, &out), 2);
    assert_true(cache_policy_field_is_unshared(&resh, H2O_STRLIT("X-SECRET")));
    assert_false(cache_policy_field_is_unshared(&resh, H2O_STRLIT("set-cookie")));
    h2o_mem_clear_pool(&pool);
}

static void test_storability_table(void **state)
{
    cache_policy_t pol;
    cache_policy_init(&pol, NULL, 0, 0);
    for (size_t i = 0; i != sizeof(store_rows) / sizeof(store_rows[0]); ++i) {
        const store_row_t *r = store_rows + i;
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_headers_t reqh = H(&pool, r->reqh), resh = H(&pool, r->resh);
        add_date(&pool, &resh, H2O_TOKEN_DATE, T0);
        cache_decision_t d;
        cache_policy_evaluate(&pol, *r->method, &reqh, r->status, &resh, T0, T0, &d);
        print_message("  %s: %s\n", r->name, d.reason != NULL ? d.reason : "stored");
        assert_int_equal(d.storable, r->storable);
        if (r->storable) {
            assert_null(d.reason);
        } else {
            assert_non_null(d.reason);
            assert_non_null(strstr(d.reason, r->reason));
        }
        h2o_mem_clear_pool(&pool);
    }
}

/* §4.2.2: exactly the statuses RFC 9110 §15.1 defines as heuristically cacheable get a lifetime from Last-Modified (the errors
 * among them: error_ttl) */
static void test_heuristic_statuses(void **state)
{
    static const int cacheable[] = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501};
    cache_policy_t pol;
    cache_policy_init(&pol, NULL, 0, 0);
    for (int status = 200; status <= 599; ++status) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_headers_t resh = {NULL};
        add_date(&pool, &resh, H2O_TOKEN_DATE, T0);
        add_date(&pool, &resh, H2O_TOKEN_LAST_MODIFIED, T0 - S(10000));
        cache_decision_t d;
        cache_policy_evaluate(&pol, GET, NULL, status, &resh, T0, T0, &d);
        int want = 0;
        for (size_t i = 0; i != sizeof(cacheable) / sizeof(cacheable[0]); ++i)
            want |= cacheable[i] == status;
        if (want && status >= 400) {
            /* errors get the error caching TTL instead (CloudFront) */
            assert_int_equal(d.storable, 1);
            assert_int_equal(d.source, CACHE_LIFETIME_ERROR_TTL);
            assert_true(d.lifetime_ms == CACHE_DEFAULT_ERROR_TTL_MS);
        } else if (want) {
            assert_int_equal(d.storable, 1);
            assert_int_equal(d.source, CACHE_LIFETIME_HEURISTIC);
            assert_true(d.lifetime_ms == S(1000));
        } else {
            assert_int_equal(d.storable, 0);
        }
        h2o_mem_clear_pool(&pool);
    }
}

static void test_storability_disabled(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    conf_cache_policy_t c = {0}; /* enabled = 0: `cache: off` */
    c.min_ttl_ms = c.default_ttl_ms = c.max_ttl_ms = -1;
    cache_policy_t pol;
    cache_policy_init(&pol, &c, 0, 0);
    h2o_headers_t resh = H(&pool, "Cache-Control: public, max-age=600");
    cache_decision_t d;
    cache_policy_evaluate(&pol, GET, NULL, 200, &resh, T0, T0, &d);
    assert_int_equal(d.storable, 0);
    assert_non_null(strstr(d.reason, "disabled"));
    /* the decision is still filled for debug logs */
    assert_true(d.lifetime_ms == S(600));

    /* no policy: RFC 9111 alone */
    cache_policy_evaluate(NULL, GET, NULL, 200, &resh, T0, T0, &d);
    assert_int_equal(d.storable, 1);
    assert_true(d.lifetime_ms == S(600) && d.swr_ms == 0 && d.sie_ms == 0);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* freshness lifetime (RFC 9111 §4.2.1, §4.2.2, CloudFront TTLs, RFC 9213)                                              */

typedef struct {
    const char *name;
    int64_t min, def, max; /* behavior TTLs, -1 unset */
    int status;
    const char *resh;
    int64_t date_off, lm_off, expires_off; /* relative to T0, NONE: no header */
    int64_t lifetime;
    cache_lifetime_source_t source;
} fresh_row_t;

#define U -1
static const fresh_row_t fresh_rows[] = {
    {"§4.2.1 s-maxage beats max-age", U, U, U, 200, "Cache-Control: max-age=20, s-maxage=10", 0, NONE, NONE, S(10),
     CACHE_LIFETIME_S_MAXAGE},
    {"§4.2.1 max-age beats Expires", U, U, U, 200, "Cache-Control: max-age=20", 0, NONE, S(100), S(20), CACHE_LIFETIME_MAX_AGE},
    {"§4.2.1 Expires minus Date", U, U, U, 200, "", 0, NONE, S(100), S(100), CACHE_LIFETIME_EXPIRES},
    {"§4.2.1 Expires minus Date, Date in the past", U, U, U, 200, "", S(-50), NONE, S(100), S(150), CACHE_LIFETIME_EXPIRES},
    {"§4.2.1 Expires before Date", U, U, U, 200, "", 0, NONE, S(-100), 0, CACHE_LIFETIME_EXPIRES},
    {"§5.3 invalid Expires is in the past", U, U, U, 200, "Expires: 0", 0, NONE, NONE, 0, CACHE_LIFETIME_EXPIRES},
    {"§4.2.1 no Date: Expires minus response time", U, U, U, 200, "", NONE, NONE, S(30), S(30), CACHE_LIFETIME_EXPIRES},
    {"§4.2.2 heuristic: 10% of Date - Last-Modified", U, U, U, 200, "", 0, S(-10000), NONE, S(1000), CACHE_LIFETIME_HEURISTIC},
    {"§4.2.2 heuristic capped at one day", U, U, U, 200, "", 0, -100 * DAY, NONE, DAY, CACHE_LIFETIME_HEURISTIC},
    {"§4.2.2 no heuristic from a future Last-Modified", U, U, U, 200, "", 0, S(10), NONE, 0, CACHE_LIFETIME_NONE},
    {"§4.2.2 no heuristic for 302", U, U, U, 302, "", 0, S(-10000), NONE, 0, CACHE_LIFETIME_NONE},
    {"CloudFront error_ttl (10 s) for a 404 without freshness, not the heuristic", U, U, U, 404, "", 0, S(-10000), NONE, S(10),
     CACHE_LIFETIME_ERROR_TTL},
    {"CloudFront error_ttl, not default_ttl, for a 410", U, S(3600), U, 410, "", 0, NONE, NONE, S(10), CACHE_LIFETIME_ERROR_TTL},
    {"CloudFront error_ttl capped by max_ttl", U, U, S(3), 404, "", 0, NONE, NONE, S(3), CACHE_LIFETIME_ERROR_TTL},
    {"an error's own max-age beats error_ttl", U, U, U, 404, "Cache-Control: max-age=120", 0, NONE, NONE, S(120),
     CACHE_LIFETIME_MAX_AGE},
    {"no error_ttl for 500 (not heuristically cacheable)", U, U, U, 500, "", 0, NONE, NONE, 0, CACHE_LIFETIME_NONE},
    {"CloudFront default_ttl when the origin says nothing", U, S(3600), U, 200, "", 0, NONE, NONE, S(3600),
     CACHE_LIFETIME_DEFAULT_TTL},
    {"CloudFront default_ttl beats the heuristic", U, S(3600), U, 200, "", 0, S(-10000), NONE, S(3600), CACHE_LIFETIME_DEFAULT_TTL},
    {"CloudFront default_ttl ignored with max-age", U, S(3600), U, 200, "Cache-Control: max-age=5", 0, NONE, NONE, S(5),
     CACHE_LIFETIME_MAX_AGE},
    {"CloudFront default_ttl ignored with Expires", U, S(3600), U, 200, "", 0, NONE, S(7), S(7), CACHE_LIFETIME_EXPIRES},
    {"CloudFront default_ttl ignored with max-age=0", U, S(3600), U, 200, "Cache-Control: max-age=0", 0, NONE, NONE, 0,
     CACHE_LIFETIME_MAX_AGE},
    {"CloudFront default_ttl not for 302", U, S(3600), U, 302, "", 0, NONE, NONE, 0, CACHE_LIFETIME_NONE},
    {"CloudFront min_ttl raises max-age", S(60), U, U, 200, "Cache-Control: max-age=5", 0, NONE, NONE, S(60),
     CACHE_LIFETIME_MAX_AGE},
    {"CloudFront min_ttl raises max-age=0", S(60), U, U, 200, "Cache-Control: max-age=0", 0, NONE, NONE, S(60),
     CACHE_LIFETIME_MAX_AGE},
    {"CloudFront max_ttl caps max-age", U, U, S(100), 200, "Cache-Control: max-age=1000", 0, NONE, NONE, S(100),
     CACHE_LIFETIME_MAX_AGE},
    {"CloudFront max_ttl caps s-maxage", U, U, S(100), 200, "Cache-Control: s-maxage=1000", 0, NONE, NONE, S(100),
     CACHE_LIFETIME_S_MAXAGE},
    {"CloudFront max_ttl caps Expires", U, U, S(100), 200, "", 0, NONE, S(1000), S(100), CACHE_LIFETIME_EXPIRES},
    {"CloudFront min_ttl raises the heuristic", S(5000), U, U, 200, "", 0, S(-10000), NONE, S(5000), CACHE_LIFETIME_HEURISTIC},
    {"CloudFront max_ttl caps the heuristic", U, U, S(10), 200, "", 0, S(-10000), NONE, S(10), CACHE_LIFETIME_HEURISTIC},
    {"CloudFront max_ttl 0", U, U, 0, 200, "Cache-Control: max-age=1000", 0, NONE, NONE, 0, CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 CDN-Cache-Control beats Cache-Control", U, U, U, 200, "Cache-Control: s-maxage=10\nCDN-Cache-Control: max-age=300",
     0, NONE, NONE, S(300), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 §2.2 a targeted field also replaces Expires", U, U, U, 200, "CDN-Cache-Control: public", 0, NONE, S(100), 0,
     CACHE_LIFETIME_NONE},
    {"RFC 9213 CDN-Cache-Control before Surrogate-Control", U, U, U, 200,
     "Surrogate-Control: max-age=50\nCDN-Cache-Control: max-age=40", 0, NONE, NONE, S(40), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 an empty CDN-Cache-Control is not present", U, U, U, 200, "CDN-Cache-Control: \nCache-Control: max-age=7", 0, NONE,
     NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 §2.1 Structured Field parameters ignored", U, U, U, 200, "CDN-Cache-Control: max-age=60;x=1, public", 0, NONE, NONE,
     S(60), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 §2.1 an invalid CDN-Cache-Control is ignored whole", U, U, U, 200,
     "Cache-Control: max-age=7\nCDN-Cache-Control: max-age=10000, &&&&&", 0, NONE, NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 a space before '=' is not a Structured Field", U, U, U, 200,
     "Cache-Control: max-age=7\nCDN-Cache-Control: max-age =100", 0, NONE, NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 a space after '=' is not a Structured Field", U, U, U, 200,
     "Cache-Control: max-age=7\nCDN-Cache-Control: max-age= 100", 0, NONE, NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 uppercase keys are not a Structured Field", U, U, U, 200, "CDN-Cache-Control: MaX-aGe=3600\nCache-Control: max-age=7",
     0, NONE, NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 a trailing comma is not a Structured Field", U, U, U, 200, "CDN-Cache-Control: max-age=60,\nCache-Control: max-age=7",
     0, NONE, NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 one invalid line ignores every line", U, U, U, 200,
     "CDN-Cache-Control: max-age=60\nCDN-Cache-Control: max-age=\"x\nCache-Control: max-age=7", 0, NONE, NONE, S(7),
     CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 §2.1 a string max-age is ignored, the field still replaces Cache-Control", U, U, U, 200,
     "Cache-Control: max-age=7\nCDN-Cache-Control: max-age=\"60\"", 0, NONE, NONE, 0, CACHE_LIFETIME_NONE},
    {"RFC 9213 §2.1 a decimal max-age is ignored", U, U, U, 200, "Cache-Control: max-age=7\nCDN-Cache-Control: max-age=1.5", 0, NONE,
     NONE, 0, CACHE_LIFETIME_NONE},
    {"RFC 9213 of two same keys the later wins (a Dictionary)", U, U, U, 200,
     "CDN-Cache-Control: max-age=10, max-age=20\nCache-Control: max-age=7", 0, NONE, NONE, S(20), CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 lines combine; inner lists, tokens and parameters parse", U, U, U, 200,
     "CDN-Cache-Control: foo=(\"a\" b;q=1), bar=?1\nCDN-Cache-Control: max-age=60;x=\"y\", baz=:YWI=:", 0, NONE, NONE, S(60),
     CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 max-age above 2^31 s is capped", U, U, U, 200, "CDN-Cache-Control: max-age=99999999999", 0, NONE, NONE,
     2147483648LL * 1000, CACHE_LIFETIME_MAX_AGE},
    {"RFC 9213 an integer of 16 digits is not a Structured Field", U, U, U, 200,
     "CDN-Cache-Control: max-age=9999999999999999\nCache-Control: max-age=7", 0, NONE, NONE, S(7), CACHE_LIFETIME_MAX_AGE},
    {"§5.3 an Expires ending UTC is not an HTTP-date: already expired", U, U, U, 200, "Expires: Thu, 18 Aug 2050 02:01:18 UTC", 0,
     NONE, NONE, 0, CACHE_LIFETIME_EXPIRES},
    {"§5.3 an Expires in gmt (any case) is valid", U, U, U, 200, "Expires: Sun, 06 Nov 1994 08:50:37 gMT", 0, NONE, NONE, S(60),
     CACHE_LIFETIME_EXPIRES},
    {"Surrogate-Control max-age beats Cache-Control", U, U, U, 200, "Cache-Control: max-age=1\nSurrogate-Control: max-age=90", 0,
     NONE, NONE, S(90), CACHE_LIFETIME_MAX_AGE},
};
#undef U

static void test_freshness_table(void **state)
{
    for (size_t i = 0; i != sizeof(fresh_rows) / sizeof(fresh_rows[0]); ++i) {
        const fresh_row_t *r = fresh_rows + i;
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        cache_policy_t pol;
        init_pol(&pol, r->min, r->def, r->max, -1, -1);
        h2o_headers_t resh = H(&pool, r->resh);
        add_date(&pool, &resh, H2O_TOKEN_DATE, r->date_off == NONE ? NONE : T0 + r->date_off);
        add_date(&pool, &resh, H2O_TOKEN_LAST_MODIFIED, r->lm_off == NONE ? NONE : T0 + r->lm_off);
        add_date(&pool, &resh, H2O_TOKEN_EXPIRES, r->expires_off == NONE ? NONE : T0 + r->expires_off);
        cache_decision_t d;
        cache_policy_evaluate(&pol, GET, NULL, r->status, &resh, T0, T0, &d);
        print_message("  %s: %lld ms\n", r->name, (long long)d.lifetime_ms);
        assert_true(d.lifetime_ms == r->lifetime);
        assert_int_equal(d.source, r->source);
        h2o_mem_clear_pool(&pool);
    }
}

typedef struct {
    const char *name;
    int64_t pol_swr, pol_sie, global_swr, global_sie;
    const char *resh;
    int64_t swr, sie;
    int must_revalidate, no_cache, targeted;
} stale_row_t;

static const stale_row_t stale_rows[] = {
    {"RFC 5861 §3 origin stale-while-revalidate", -1, -1, 0, 0, "Cache-Control: max-age=1, stale-while-revalidate=30", S(30), 0, 0,
     0, 0},
    {"RFC 5861 §4 origin stale-if-error", -1, -1, 0, 0, "Cache-Control: max-age=1, stale-if-error=300", 0, S(300), 0, 0, 0},
    {"behavior defaults when the origin sends none", S(10), S(20), 0, 0, "Cache-Control: max-age=1", S(10), S(20), 0, 0, 0},
    {"global defaults when neither does", -1, -1, S(5), S(6), "Cache-Control: max-age=1", S(5), S(6), 0, 0, 0},
    {"behavior beats global", S(10), -1, S(5), S(6), "Cache-Control: max-age=1", S(10), S(6), 0, 0, 0},
    {"origin beats behavior", S(10), S(20), 0, 0, "Cache-Control: max-age=1, stale-while-revalidate=3, stale-if-error=4", S(3),
     S(4), 0, 0, 0},
    {"origin 0 beats behavior", S(10), S(20), 0, 0, "Cache-Control: max-age=1, stale-while-revalidate=0", 0, S(20), 0, 0, 0},
    {"§4.2.4 must-revalidate forbids stale", S(10), S(20), 0, 0,
     "Cache-Control: max-age=1, must-revalidate, stale-while-revalidate=30, stale-if-error=30", 0, 0, 1, 0, 0},
    {"§4.2.4 proxy-revalidate forbids stale", S(10), S(20), 0, 0, "Cache-Control: max-age=1, proxy-revalidate", 0, 0, 1, 0, 0},
    {"§5.2.2.10 s-maxage forbids stale", S(10), S(20), 0, 0, "Cache-Control: s-maxage=1, stale-while-revalidate=30", 0, 0, 1, 0, 0},
    {"§4.2.4 no-cache forbids stale", S(10), S(20), 0, 0, "Cache-Control: no-cache, stale-if-error=30\nETag: \"a\"", 0, 0, 0, 1, 0},
    {"Surrogate-Control max-age=N+M serves stale on error for M", -1, -1, 0, 0, "Surrogate-Control: max-age=60+30", 0, S(30), 0, 0,
     1},
    {"CloudFront-like default stale-if-error when nothing is configured", -1, -1, 0, -1, "Cache-Control: max-age=1", 0, DAY, 0, 0,
     0},
    {"cache.stale_if_error: 0s turns the default off", -1, -1, 0, 0, "Cache-Control: max-age=1", 0, 0, 0, 0, 0},
    {"a behavior's 0s turns the default off", -1, 0, 0, -1, "Cache-Control: max-age=1", 0, 0, 0, 0, 0},
    {"the origin's stale-if-error beats the default", -1, -1, 0, -1, "Cache-Control: max-age=1, stale-if-error=5", 0, S(5), 0, 0,
     0},
    {"§4.2.4 must-revalidate forbids the default too", -1, -1, 0, -1, "Cache-Control: max-age=1, must-revalidate", 0, 0, 1, 0, 0},
    {"RFC 9213 directives of CDN-Cache-Control", -1, -1, 0, 0,
     "Cache-Control: must-revalidate\nCDN-Cache-Control: max-age=60, stale-while-revalidate=9", S(9), 0, 0, 0, 1},
};

/* the default stale-if-error serves stored copies; it does not make storable what could never be reused otherwise, while a
 * configured window does (as before) */
static void test_default_sie_storability(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t bare = H(&pool, "Content-Type: text/plain"), zero = H(&pool, "Cache-Control: max-age=0"),
                  fresh = H(&pool, "Cache-Control: max-age=60"), origin_sie = H(&pool, "Cache-Control: max-age=0, stale-if-error=60");
    cache_policy_t def, conf, off;
    cache_policy_init(&def, NULL, 0, -1);
    cache_policy_init(&conf, NULL, 0, S(3600));
    cache_policy_init(&off, NULL, 0, 0);
    assert_true(def.sie_ms == DAY && def.sie_default && !conf.sie_default && off.sie_ms == 0);
    cache_decision_t d;
    cache_policy_evaluate(&def, GET, NULL, 200, &bare, T0, T0, &d);
    assert_false(d.storable);
    assert_non_null(strstr(d.reason, "never reusable"));
    cache_policy_evaluate(&def, GET, NULL, 200, &zero, T0, T0, &d);
    assert_false(d.storable);
    cache_policy_evaluate(&def, GET, NULL, 200, &fresh, T0, T0, &d);
    assert_true(d.storable && d.sie_ms == DAY);
    assert_true(cache_policy_stale_if_error(&d, NULL, T0 + S(60) + DAY - 1000));
    assert_false(cache_policy_stale_if_error(&d, NULL, T0 + S(60) + DAY + 1000));
    cache_policy_evaluate(&def, GET, NULL, 200, &origin_sie, T0, T0, &d);
    assert_true(d.storable && d.sie_ms == S(60));
    cache_policy_evaluate(&conf, GET, NULL, 200, &zero, T0, T0, &d);
    assert_true(d.storable && d.sie_ms == S(3600));
    cache_policy_evaluate(&off, GET, NULL, 200, &fresh, T0, T0, &d);
    assert_true(d.storable && d.sie_ms == 0);
    assert_false(cache_policy_stale_if_error(&d, NULL, T0 + S(61)));
    h2o_mem_clear_pool(&pool);
}

static void test_stale_windows_table(void **state)
{
    for (size_t i = 0; i != sizeof(stale_rows) / sizeof(stale_rows[0]); ++i) {
        const stale_row_t *r = stale_rows + i;
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        conf_cache_policy_t c = {0};
        c.enabled = 1;
        c.min_ttl_ms = c.default_ttl_ms = c.max_ttl_ms = -1;
        c.stale_while_revalidate_ms = r->pol_swr;
        c.stale_if_error_ms = r->pol_sie;
        cache_policy_t pol;
        cache_policy_init(&pol, &c, r->global_swr, r->global_sie);
        h2o_headers_t resh = H(&pool, r->resh);
        cache_decision_t d;
        cache_policy_evaluate(&pol, GET, NULL, 200, &resh, T0, T0, &d);
        print_message("  %s\n", r->name);
        assert_true(d.swr_ms == r->swr);
        assert_true(d.sie_ms == r->sie);
        assert_int_equal(d.must_revalidate, r->must_revalidate);
        assert_int_equal(d.no_cache, r->no_cache);
        assert_int_equal(d.targeted, r->targeted);
        h2o_mem_clear_pool(&pool);
    }
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* age (RFC 9111 §4.2.3)                                                                                                */

static void test_age_table(void **state)
{
    static const struct {
        const char *name;
        int64_t date_off;    /* Date relative to response_time, NONE: absent */
        const char *age;     /* Age header, NULL: absent */
        int64_t delay;       /* response_time - request_time */
        int64_t now_off;     /* now - response_time */
        int64_t initial_age; /* corrected_initial_age */
        int64_t current_age;
    } rows[] = {
        {"§4.2.3 fresh from the origin", 0, NULL, 0, 0, 0, 0},
        {"§4.2.3 resident time adds up", 0, NULL, 0, S(30), 0, S(30)},
        {"§4.2.3 apparent_age from Date", S(-5), NULL, 0, 0, S(5), S(5)},
        {"§4.2.3 corrected_age_value adds the response delay", 0, "100", S(2), 0, S(102), S(102)},
        {"§4.2.3 the larger of apparent and corrected age", S(-500), "100", S(2), S(1), S(500), S(501)},
        {"§5.1 list-valued Age: first member", 0, "60, 120", 0, 0, S(60), S(60)},
        {"§5.1 invalid Age ignored", 0, "abc", S(1), 0, S(1), S(1)},
        {"§5.1 negative Age ignored", 0, "-5", 0, 0, 0, 0},
        {"§4.2.3 Date in the future: apparent_age 0", S(3600), NULL, 0, 0, 0, 0},
        {"§4.2.3 no Date: response time", NONE, NULL, 0, S(7), 0, S(7)},
        {"§4.2.3 clock going back: no negative resident time", 0, "10", 0, S(-60), S(10), S(10)},
    };
    cache_policy_t pol;
    cache_policy_init(&pol, NULL, 0, 0);
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_headers_t resh = H(&pool, "Cache-Control: max-age=3600");
        int64_t response_time = T0 + S(10);
        add_date(&pool, &resh, H2O_TOKEN_DATE, rows[i].date_off == NONE ? NONE : response_time + rows[i].date_off);
        if (rows[i].age != NULL)
            h2o_add_header(&pool, &resh, H2O_TOKEN_AGE, NULL, rows[i].age, strlen(rows[i].age));
        cache_decision_t d;
        cache_policy_evaluate(&pol, GET, NULL, 200, &resh, response_time - rows[i].delay, response_time, &d);
        print_message("  %s\n", rows[i].name);
        assert_true(d.initial_age_ms == rows[i].initial_age);
        assert_true(cache_policy_current_age(&d, response_time + rows[i].now_off) == rows[i].current_age);
        assert_true(cache_policy_ttl(&d, response_time + rows[i].now_off) == S(3600) - rows[i].current_age);
        h2o_mem_clear_pool(&pool);
    }
    /* the pure formula directly */
    assert_true(cache_policy_initial_age(CACHE_ABSENT, CACHE_ABSENT, 1000, 1500) == 500);
    assert_true(cache_policy_initial_age(0, S(3), 1000, 1500) == S(3) + 500);
    assert_true(cache_policy_initial_age(1500, CACHE_ABSENT, 2000, 1500) == 0);
}

static void test_age_header(void **state)
{
    cache_decision_t d = {0};
    d.response_time_ms = T0;
    d.initial_age_ms = 1999;
    /* §5.1 Age is whole seconds */
    assert_int_equal(cache_policy_age_header_seconds(&d, T0), 1);
    assert_int_equal(cache_policy_age_header_seconds(&d, T0 + 1), 2);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* reuse decisions (RFC 9111 §4, §4.2.4, §5.2.1, RFC 5861)                                                              */

typedef struct {
    const char *name;
    int64_t pol_swr;
    const char *resh;
    const char *reqcc; /* NULL: the client's Cache-Control ignored */
    int64_t now_off;   /* relative to the response time (= Date) */
    cache_use_t use;
    int stale_if_error;
} use_row_t;

static const use_row_t use_rows[] = {
    {"§4.2 fresh", -1, "Cache-Control: max-age=60", NULL, S(59), CACHE_USE_FRESH, 1},
    {"§4.2 stale once age equals lifetime", -1, "Cache-Control: max-age=60", NULL, S(60), CACHE_USE_REVALIDATE, 0},
    {"RFC 5861 §3 within stale-while-revalidate", -1, "Cache-Control: max-age=60, stale-while-revalidate=30", NULL, S(70),
     CACHE_USE_STALE_REVALIDATE, 0},
    {"RFC 5861 §3 past stale-while-revalidate", -1, "Cache-Control: max-age=60, stale-while-revalidate=30", NULL, S(91),
     CACHE_USE_REVALIDATE, 0},
    {"behavior stale_while_revalidate", S(30), "Cache-Control: max-age=60", NULL, S(80), CACHE_USE_STALE_REVALIDATE, 0},
    {"§4.2.4 must-revalidate overrides the behavior default", S(30), "Cache-Control: max-age=60, must-revalidate", NULL, S(61),
     CACHE_USE_REVALIDATE, 0},
    {"§5.2.2.4 no-cache: revalidate even when fresh", -1, "Cache-Control: no-cache, max-age=60\nETag: \"a\"", NULL, S(1),
     CACHE_USE_REVALIDATE, 0},
    {"RFC 5861 §4 within stale-if-error", -1, "Cache-Control: max-age=60, stale-if-error=60", NULL, S(100), CACHE_USE_REVALIDATE,
     1},
    {"RFC 5861 §4 past stale-if-error", -1, "Cache-Control: max-age=60, stale-if-error=60", NULL, S(130), CACHE_USE_REVALIDATE, 0},
    {"§4.2.4 must-revalidate forbids stale-if-error", -1, "Cache-Control: max-age=60, stale-if-error=60, must-revalidate", NULL,
     S(100), CACHE_USE_REVALIDATE, 0},
    {"§5.2.1.4 request no-cache", -1, "Cache-Control: max-age=60", "no-cache", S(1), CACHE_USE_REVALIDATE, 1},
    {"§5.2.1.1 request max-age older than allowed", -1, "Cache-Control: max-age=60", "max-age=10", S(20), CACHE_USE_REVALIDATE, 1},
    {"§5.2.1.1 request max-age satisfied", -1, "Cache-Control: max-age=60", "max-age=30", S(20), CACHE_USE_FRESH, 1},
    {"§5.2.1.3 request min-fresh not met", -1, "Cache-Control: max-age=60", "min-fresh=30", S(40), CACHE_USE_REVALIDATE, 1},
    {"§5.2.1.2 request max-stale", -1, "Cache-Control: max-age=60", "max-stale=100", S(110), CACHE_USE_STALE_REVALIDATE, 0},
    {"§5.2.1.2 request max-stale exceeded", -1, "Cache-Control: max-age=60", "max-stale=100", S(170), CACHE_USE_REVALIDATE, 0},
    {"§5.2.1.2 bare max-stale", -1, "Cache-Control: max-age=60", "max-stale", S(100000), CACHE_USE_STALE_REVALIDATE, 0},
    {"§5.2.2.2 must-revalidate beats request max-stale", -1, "Cache-Control: max-age=60, must-revalidate", "max-stale", S(100),
     CACHE_USE_REVALIDATE, 0},
    {"§4.2.4 must-revalidate beats request stale-if-error", -1, "Cache-Control: max-age=60, must-revalidate", "stale-if-error=1000",
     S(150), CACHE_USE_REVALIDATE, 0},
    {"RFC 5861 §4 request stale-if-error", -1, "Cache-Control: max-age=60", "stale-if-error=120", S(150), CACHE_USE_REVALIDATE, 1},
    {"CloudFront: the client's Cache-Control is ignored", -1, "Cache-Control: max-age=60", NULL, S(1), CACHE_USE_FRESH, 1},
};

static void test_use_table(void **state)
{
    for (size_t i = 0; i != sizeof(use_rows) / sizeof(use_rows[0]); ++i) {
        const use_row_t *r = use_rows + i;
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        cache_policy_t pol;
        init_pol(&pol, -1, -1, -1, r->pol_swr, -1);
        h2o_headers_t resh = H(&pool, r->resh);
        add_date(&pool, &resh, H2O_TOKEN_DATE, T0);
        cache_decision_t d;
        cache_policy_evaluate(&pol, GET, NULL, 200, &resh, T0, T0, &d);
        cache_cc_t reqcc;
        cache_cc_init(&reqcc);
        if (r->reqcc != NULL)
            cache_cc_parse_str(r->reqcc, strlen(r->reqcc), &reqcc);
        print_message("  %s\n", r->name);
        assert_int_equal(d.storable, 1);
        assert_int_equal(cache_policy_use(&d, r->reqcc != NULL ? &reqcc : NULL, T0 + r->now_off), r->use);
        assert_int_equal(cache_policy_stale_if_error(&d, r->reqcc != NULL ? &reqcc : NULL, T0 + r->now_off), r->stale_if_error);
        h2o_mem_clear_pool(&pool);
    }
}

static void test_error_status(void **state)
{
    /* RFC 5861 §4 */
    assert_true(cache_policy_is_error_status(500));
    assert_true(cache_policy_is_error_status(502));
    assert_true(cache_policy_is_error_status(503));
    assert_true(cache_policy_is_error_status(504));
    assert_false(cache_policy_is_error_status(501));
    assert_false(cache_policy_is_error_status(404));
    assert_false(cache_policy_is_error_status(200));
}

static void test_policy_init(void **state)
{
    conf_cache_policy_t c = {0};
    c.enabled = 1;
    c.min_ttl_ms = -1;
    c.default_ttl_ms = S(86400);
    c.max_ttl_ms = S(31536000);
    c.stale_while_revalidate_ms = -1;
    c.stale_if_error_ms = S(60);
    cache_policy_t pol;
    cache_policy_init(&pol, &c, S(5), S(7));
    assert_int_equal(pol.enabled, 1);
    assert_true(pol.min_ttl_ms == CACHE_ABSENT);
    assert_true(pol.default_ttl_ms == S(86400));
    assert_true(pol.max_ttl_ms == S(31536000));
    assert_true(pol.swr_ms == S(5)); /* global default: the behavior sets none */
    assert_true(pol.sie_ms == S(60));
    assert_true(pol.heuristic_max_ms == DAY);
    cache_policy_init(&pol, NULL, -1, 0);
    assert_true(pol.swr_ms == 0 && pol.sie_ms == 0 && pol.default_ttl_ms == CACHE_ABSENT);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* targeted fields (RFC 9213)                                                                                           */

static void test_targeted_strip(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t hs = H(&pool, "CDN-Cache-Control: max-age=60\nCache-Control: max-age=5\nSurrogate-Control: max-age=9\n"
                                "Content-Type: text/html");
    h2o_headers_t raw = {NULL};
    add_lines(&pool, &raw, "Surrogate-Control: no-store", 0);
    assert_true(cache_policy_is_targeted_header(hs.entries[0].name));
    assert_false(cache_policy_is_targeted_header(hs.entries[1].name));
    assert_true(cache_policy_is_targeted_header(raw.entries[0].name));
    assert_int_equal(cache_policy_strip_targeted(&hs), 2);
    assert_int_equal(hs.size, 2);
    assert_string_equal(get1(&pool, &hs, "cache-control"), "max-age=5");
    assert_string_equal(get1(&pool, &hs, "content-type"), "text/html");
    assert_int_equal(cache_policy_strip_targeted(&hs), 0);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* Vary (RFC 9111 §4.1)                                                                                                 */

static void test_vary_parse(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    cache_vary_t v;

    h2o_headers_t resh = H(&pool, "Vary: Accept-Language, accept-encoding\nContent-Type: x\nVary: ACCEPT-ENCODING,, Origin");
    cache_vary_parse(&pool, &resh, &v);
    assert_int_equal(v.star, 0);
    assert_int_equal(v.count, 3); /* §4.1: names compared case-insensitively, duplicates once */
    assert_true(h2o_memis(v.names[0].base, v.names[0].len, H2O_STRLIT("accept-encoding")));
    assert_true(h2o_memis(v.names[1].base, v.names[1].len, H2O_STRLIT("accept-language")));
    assert_true(h2o_memis(v.names[2].base, v.names[2].len, H2O_STRLIT("origin")));

    resh = H(&pool, "Vary: accept-encoding, *");
    cache_vary_parse(&pool, &resh, &v);
    assert_int_equal(v.star, 1);

    resh = H(&pool, "Content-Type: x");
    cache_vary_parse(&pool, &resh, &v);
    assert_int_equal(v.count, 0);
    assert_int_equal(v.star, 0);
    h2o_mem_clear_pool(&pool);
}

static const char *vary_key(h2o_mem_pool_t *pool, const char *vary, const char *reqh)
{
    h2o_headers_t resh = H(pool, vary), req = H(pool, reqh);
    cache_vary_t v;
    h2o_iovec_t key;
    cache_vary_parse(pool, &resh, &v);
    if (cache_vary_key(pool, &v, &req, &key) != 0)
        return NULL;
    if (key.len == 0)
        return "";
    return h2o_strdup(pool, key.base, key.len).base;
}

static void test_vary_key(void **state)
{
    static const struct {
        const char *name, *vary, *reqh, *want;
    } rows[] = {
        {"§4.1 one field", "Vary: Accept-Encoding", "Accept-Encoding: gzip", "accept-encoding=gzip\n"},
        {"§4.1 absent differs from empty (absent)", "Vary: Accept-Encoding", "", "accept-encoding\n"},
        {"§4.1 absent differs from empty (empty)", "Vary: Accept-Encoding", "Accept-Encoding: ", "accept-encoding=\n"},
        {"§4.1 lines combined, whitespace normalised", "Vary: Accept-Encoding",
         "Accept-Encoding: gzip ,  br\nAccept-Encoding: zstd", "accept-encoding=gzip,br,zstd\n"},
        {"§4.1 an empty line adds nothing to the list", "Vary: Accept-Encoding",
         "Accept-Encoding: gzip\nAccept-Encoding: ", "accept-encoding=gzip\n"},
        {"§4.1 request names are case-insensitive", "Vary: accept-language", "ACCEPT-LANGUAGE: fr", "accept-language=fr\n"},
        {"§4.1 sorted names, independent of Vary order", "Vary: Origin, Accept-Encoding",
         "Origin: https://a.example\nAccept-Encoding: br", "accept-encoding=br\norigin=https://a.example\n"},
        {"§4.1 values are case-sensitive", "Vary: X-Mode", "X-Mode: Dark", "x-mode=Dark\n"},
        {"§4.1 '%' escaped so keys stay unambiguous", "Vary: X-A", "X-A: 100%", "x-a=100%25\n"},
        {"§4.1 no Vary: empty key", "Content-Type: x", "Accept-Encoding: gzip", ""},
        {"RFC 9110 §12.5.4 Accept-Language: case and spaces", "Vary: Accept-Language", "Accept-Language:  eN ,  De",
         "accept-language=de,en\n"},
        {"RFC 9110 §12.5.4 Accept-Language: by weight, then name; shortest weights", "Vary: Accept-Language",
         "Accept-Language: fr;q=0.500, de;q=1.0, en;q=0.75, *;q=0", "accept-language=de,en;q=0.75,fr;q=0.5,*;q=0\n"},
        {"RFC 9110 §12.5.4 Accept-Language: empty elements", "Vary: Accept-Language", "Accept-Language: en,,de,", "accept-language=de,en\n"},
        {"RFC 9110 §12.5.4 Accept-Language: an invalid weight keeps the value", "Vary: Accept-Language",
         "Accept-Language: en;q=2, de", "accept-language=en;q=2,de\n"},
        {"RFC 9110 §12.5.4 Accept-Language: weights 0.001 and 0.01", "Vary: Accept-Language", "Accept-Language: a;q=0.001, b;q=0.01",
         "accept-language=b;q=0.01,a;q=0.001\n"},
    };
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        print_message("  %s\n", rows[i].name);
        assert_string_equal(vary_key(&pool, rows[i].vary, rows[i].reqh), rows[i].want);
    }
    /* §4.1 Vary: * never matches */
    assert_null(vary_key(&pool, "Vary: *", "Accept-Encoding: gzip"));
    /* equivalent requests share a variant, different ones do not */
    assert_string_equal(vary_key(&pool, "Vary: Accept-Encoding", "Accept-Encoding: gzip, br"),
                        vary_key(&pool, "Vary: Accept-Encoding", "Accept-Encoding: gzip\nAccept-Encoding: br"));
    assert_string_not_equal(vary_key(&pool, "Vary: Accept-Encoding", "Accept-Encoding: gzip"),
                            vary_key(&pool, "Vary: Accept-Encoding", "Accept-Encoding: br"));
    assert_string_equal(vary_key(&pool, "Vary: Accept-Language", "Accept-Language: en, de"),
                        vary_key(&pool, "Vary: Accept-Language", "Accept-Language: de, en"));
    assert_string_not_equal(vary_key(&pool, "Vary: Accept-Language", "Accept-Language: en, de;q=0.9"),
                            vary_key(&pool, "Vary: Accept-Language", "Accept-Language: de, en;q=0.9"));
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* validation (RFC 9111 §4.3)                                                                                           */

static void test_add_conditionals(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t stored = H(&pool, "ETag:  \"v1\" \nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\nCache-Control: max-age=60");
    h2o_headers_t req = H(&pool, "If-None-Match: \"client\"\nIf-Range: \"x\"\nAccept: */*\nIf-Modified-Since: yesterday\n"
                                 "If-Match: *\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT");
    /* §4.3.1: the stored validators replace whatever the client sent */
    assert_int_equal(cache_policy_add_conditionals(&pool, &stored, &req), 2);
    assert_int_equal(req.size, 3);
    assert_string_equal(get1(&pool, &req, "if-none-match"), "\"v1\"");
    assert_string_equal(get1(&pool, &req, "if-modified-since"), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(get1(&pool, &req, "accept"), "*/*");
    assert_null(get1(&pool, &req, "if-range"));
    assert_null(get1(&pool, &req, "if-match"));

    /* no validator: nothing added, client conditionals still removed */
    stored = H(&pool, "Cache-Control: max-age=60\nLast-Modified: garbage");
    req = H(&pool, "If-None-Match: \"client\"");
    assert_int_equal(cache_policy_add_conditionals(&pool, &stored, &req), 0);
    assert_int_equal(req.size, 0);

    req = H(&pool, "Range: bytes=0-1\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\nHost: a");
    assert_int_equal(cache_policy_strip_conditionals(&req), 1);
    assert_string_equal(get1(&pool, &req, "range"), "bytes=0-1");
    h2o_mem_clear_pool(&pool);
}

static void test_304_selects(void **state)
{
    static const struct {
        const char *name, *stored, *resp;
        int want;
    } rows[] = {
        {"§4.3.4 same strong ETag", "ETag: \"a\"", "ETag: \"a\"", 1},
        {"§4.3.4 other strong ETag", "ETag: \"a\"", "ETag: \"b\"", 0},
        {"§4.3.4 strong 304 ETag vs weak stored", "ETag: W/\"a\"", "ETag: \"a\"", 0},
        {"§4.3.4 weak 304 ETag matches weakly", "ETag: \"a\"", "ETag: W/\"a\"", 1},
        {"§4.3.4 304 ETag, stored has none", "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT", "ETag: \"a\"", 0},
        {"§4.3.4 same Last-Modified", "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT",
         "Last-Modified: Sunday, 06-Nov-94 08:49:37 GMT", 1},
        {"§4.3.4 other Last-Modified", "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT",
         "Last-Modified: Sun, 06 Nov 1994 08:49:38 GMT", 0},
        {"§4.3.4 304 without validators updates what it validated", "ETag: \"a\"", "Cache-Control: max-age=5", 1},
    };
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_headers_t s = H(&pool, rows[i].stored), r = H(&pool, rows[i].resp);
        print_message("  %s\n", rows[i].name);
        assert_int_equal(cache_policy_304_selects(&s, &r), rows[i].want);
    }
    h2o_mem_clear_pool(&pool);
}

static void test_merge_304(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t stored = H(&pool, "Date: Sun, 06 Nov 1994 08:49:37 GMT\nAge: 100\nContent-Length: 5\nETag: \"a\"\n"
                                    "Cache-Control: max-age=60\nX-Old: 1\nContent-Type: text/plain\nLink: </a>\nLink: </b>");
    h2o_headers_t r304 = H(&pool, "Date: Sun, 06 Nov 1994 09:49:37 GMT\nCache-Control: max-age=120\nETag: \"a\"\n"
                                  "Content-Length: 0\nConnection: x-hop\nX-Hop: 1\nTransfer-Encoding: chunked\nX-New: 2\n"
                                  "Link: </c>\nKeep-Alive: timeout=5\nContent-Type: text/html");
    h2o_headers_t out;
    cache_policy_merge_304(&pool, &stored, &r304, &out);
    /* §3.2: fields of the 304 replace the stored ones */
    assert_string_equal(get1(&pool, &out, "cache-control"), "max-age=120");
    assert_string_equal(get1(&pool, &out, "date"), "Sun, 06 Nov 1994 09:49:37 GMT");
    assert_string_equal(get1(&pool, &out, "link"), "</c>");
    assert_string_equal(get1(&pool, &out, "content-type"), "text/html");
    assert_string_equal(get1(&pool, &out, "etag"), "\"a\"");
    assert_string_equal(get1(&pool, &out, "x-new"), "2");
    /* others are kept */
    assert_string_equal(get1(&pool, &out, "x-old"), "1");
    /* §3.2: never Content-Length from a 304; hop-by-hop fields are not stored */
    assert_string_equal(get1(&pool, &out, "content-length"), "5");
    assert_null(get1(&pool, &out, "connection"));
    assert_null(get1(&pool, &out, "x-hop"));
    assert_null(get1(&pool, &out, "transfer-encoding"));
    assert_null(get1(&pool, &out, "keep-alive"));
    /* the old Age is dropped: the refreshed response is aged from the 304 */
    assert_null(get1(&pool, &out, "age"));
    assert_int_equal(out.size, 8);

    /* §4.3.4: re-evaluating the merged headers gives the new freshness, aged from the new Date */
    cache_policy_t pol;
    cache_policy_init(&pol, NULL, 0, 0);
    cache_decision_t d;
    int64_t t = T0 + S(3600) + S(2);
    cache_policy_evaluate(&pol, GET, NULL, 200, &out, t, t, &d);
    assert_int_equal(d.storable, 1);
    assert_true(d.lifetime_ms == S(120));
    assert_true(d.initial_age_ms == S(2));

    /* a 304 without Date: the stored Date goes too, so the age restarts at the response time */
    r304 = H(&pool, "ETag: \"a\"");
    cache_policy_merge_304(&pool, &stored, &r304, &out);
    assert_null(get1(&pool, &out, "date"));
    cache_policy_evaluate(&pol, GET, NULL, 200, &out, t, t, &d);
    assert_true(d.initial_age_ms == 0);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* entity tags and client conditionals (RFC 9110 §8.8.3, §13)                                                           */

static void test_etag_matches(void **state)
{
    static const struct {
        const char *name, *list, *etag;
        int strong, weak;
    } rows[] = {
        {"§8.8.3.2 W/\"1\" vs W/\"1\"", "W/\"1\"", "W/\"1\"", 0, 1},
        {"§8.8.3.2 W/\"1\" vs W/\"2\"", "W/\"1\"", "W/\"2\"", 0, 0},
        {"§8.8.3.2 W/\"1\" vs \"1\"", "W/\"1\"", "\"1\"", 0, 1},
        {"§8.8.3.2 \"1\" vs \"1\"", "\"1\"", "\"1\"", 1, 1},
        {"§13.1.2 * matches anything", "*", "\"x\"", 1, 1},
        {"§13.1.2 list", "\"a\", \"b\" , W/\"c\"", "\"b\"", 1, 1},
        {"§8.8.3 commas inside a tag", "\"a,b\", \"c\"", "\"a,b\"", 1, 1},
        {"§8.8.3 no partial match on a comma", "\"a,b\"", "\"a\"", 0, 0},
        {"§8.8.3 case-sensitive", "\"ABC\"", "\"abc\"", 0, 0},
        {"lenient: unquoted stored tag", "\"abc\"", "abc", 1, 1},
        {"no stored tag matches nothing but *", "\"abc\"", "", 0, 0},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_iovec_t l = h2o_iovec_init(rows[i].list, strlen(rows[i].list)), e = h2o_iovec_init(rows[i].etag, strlen(rows[i].etag));
        print_message("  %s\n", rows[i].name);
        assert_int_equal(cache_policy_etag_matches(l, e, 0), rows[i].strong);
        assert_int_equal(cache_policy_etag_matches(l, e, 1), rows[i].weak);
    }
}

#define LM "Sun, 06 Nov 1994 08:49:37 GMT"
#define LM_BEFORE "Sun, 06 Nov 1994 08:49:36 GMT"
#define LM_AFTER "Sun, 06 Nov 1994 08:49:38 GMT"

static void test_conditional_table(void **state)
{
    static const struct {
        const char *name;
        const h2o_iovec_t *method;
        const char *reqh;
        int status;
        const char *etag;
        int has_lm;
        cache_cond_t want;
    } rows[] = {
        {"§13.1.2 If-None-Match matches: 304", &GET, "If-None-Match: \"a\"", 200, "\"a\"", 1, CACHE_COND_NOT_MODIFIED},
        {"§13.1.2 If-None-Match on HEAD: 304", &HEAD, "If-None-Match: \"a\"", 200, "\"a\"", 1, CACHE_COND_NOT_MODIFIED},
        {"§13.1.2 If-None-Match weak comparison", &GET, "If-None-Match: W/\"a\"", 200, "\"a\"", 1, CACHE_COND_NOT_MODIFIED},
        {"§13.1.2 If-None-Match * ", &GET, "If-None-Match: *", 200, "\"a\"", 0, CACHE_COND_NOT_MODIFIED},
        {"§13.1.2 If-None-Match over two lines", &GET, "If-None-Match: \"x\"\nIf-None-Match: \"a\"", 200, "\"a\"", 0,
         CACHE_COND_NOT_MODIFIED},
        {"§13.1.2 If-None-Match matches on PUT: 412", &PUT, "If-None-Match: *", 200, "\"a\"", 0, CACHE_COND_PRECONDITION_FAILED},
        {"§13.1.2 If-None-Match no match: serve", &GET, "If-None-Match: \"b\"", 200, "\"a\"", 1, CACHE_COND_PASS},
        {"§13.2.2 If-Modified-Since ignored with If-None-Match", &GET, "If-None-Match: \"b\"\nIf-Modified-Since: " LM, 200, "\"a\"",
         1, CACHE_COND_PASS},
        {"§13.1.3 not modified since", &GET, "If-Modified-Since: " LM, 200, "\"a\"", 1, CACHE_COND_NOT_MODIFIED},
        {"§13.1.3 not modified since, later date", &GET, "If-Modified-Since: " LM_AFTER, 200, "", 1, CACHE_COND_NOT_MODIFIED},
        {"§13.1.3 modified since", &GET, "If-Modified-Since: " LM_BEFORE, 200, "", 1, CACHE_COND_PASS},
        {"§13.1.3 invalid date ignored", &GET, "If-Modified-Since: yesterday", 200, "", 1, CACHE_COND_PASS},
        {"§13.1.3 no Last-Modified and no Date", &GET, "If-Modified-Since: " LM, 200, "\"a\"", 0, CACHE_COND_PASS},
        {"RFC 9111 §4.3.2 no Last-Modified: Date not after IMS, 304", &GET, "If-Modified-Since: " LM, 200, "\"a\"", 2,
         CACHE_COND_NOT_MODIFIED},
        {"RFC 9111 §4.3.2 no Last-Modified: Date after IMS, 200", &GET, "If-Modified-Since: " LM_BEFORE, 200, "\"a\"", 2,
         CACHE_COND_PASS},
        {"RFC 9111 §4.3.2 Last-Modified wins over Date", &GET, "If-Modified-Since: " LM_BEFORE, 200, "", 3, CACHE_COND_PASS},
        {"§13.1.3 ignored for POST", &POST, "If-Modified-Since: " LM, 200, "", 1, CACHE_COND_PASS},
        {"§13.1.1 If-Match fails: 412", &GET, "If-Match: \"b\"", 200, "\"a\"", 1, CACHE_COND_PRECONDITION_FAILED},
        {"§13.1.1 If-Match strong comparison", &GET, "If-Match: W/\"a\"", 200, "W/\"a\"", 1, CACHE_COND_PRECONDITION_FAILED},
        {"§13.1.1 If-Match *", &GET, "If-Match: *", 200, "", 1, CACHE_COND_PASS},
        {"§13.1.1 If-Match passes then If-None-Match", &GET, "If-Match: \"a\"\nIf-None-Match: \"a\"", 200, "\"a\"", 1,
         CACHE_COND_NOT_MODIFIED},
        {"§13.1.4 unmodified since fails: 412", &GET, "If-Unmodified-Since: " LM_BEFORE, 200, "", 1,
         CACHE_COND_PRECONDITION_FAILED},
        {"§13.1.4 unmodified since passes", &GET, "If-Unmodified-Since: " LM, 200, "", 1, CACHE_COND_PASS},
        {"§13.2.2 If-Unmodified-Since ignored with If-Match", &GET, "If-Match: \"a\"\nIf-Unmodified-Since: " LM_BEFORE, 200,
         "\"a\"", 1, CACHE_COND_PASS},
        {"§13.2.1 not a 2xx: preconditions ignored", &GET, "If-None-Match: *\nIf-Match: \"zz\"", 404, "\"a\"", 1, CACHE_COND_PASS},
        {"§13.2.2 no preconditions", &GET, "Accept: */*", 200, "\"a\"", 1, CACHE_COND_PASS},
    };
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_headers_t req = H(&pool, rows[i].reqh);
        /* has_lm: 1 Last-Modified T0; 2 no Last-Modified, Date T0; 3 Last-Modified T0, Date an hour before */
        cache_validators_t v = {h2o_iovec_init(rows[i].etag, strlen(rows[i].etag)),
                                rows[i].has_lm == 1 || rows[i].has_lm == 3 ? T0 : CACHE_ABSENT,
                                rows[i].has_lm == 2 ? T0 : rows[i].has_lm == 3 ? T0 - S(3600) : CACHE_ABSENT};
        print_message("  %s\n", rows[i].name);
        assert_int_equal(cache_policy_conditional(*rows[i].method, &req, rows[i].status, &v), rows[i].want);
    }
    h2o_mem_clear_pool(&pool);
}

static void test_validators(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t resh = H(&pool, "ETag:  W/\"x\"  \nLast-Modified: " LM "\nETag: \"second\"");
    cache_validators_t v;
    cache_policy_validators(&resh, &v);
    assert_true(h2o_memis(v.etag.base, v.etag.len, H2O_STRLIT("W/\"x\"")));
    assert_true(v.last_modified_ms == T0);
    resh = H(&pool, "Last-Modified: nope");
    cache_policy_validators(&resh, &v);
    assert_int_equal(v.etag.len, 0);
    assert_true(v.last_modified_ms == CACHE_ABSENT);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* ranges (RFC 9110 §14)                                                                                                */

static void test_parse_range_table(void **state)
{
    static const struct {
        const char *name, *range;
        uint64_t length;
        cache_range_result_t want;
        uint64_t start, end;
    } rows[] = {
        {"§14.1.1 first 500 bytes", "bytes=0-499", 1000, CACHE_RANGE_PARTIAL, 0, 499},
        {"§14.1.1 open-ended", "bytes=500-", 1000, CACHE_RANGE_PARTIAL, 500, 999},
        {"§14.1.1 suffix", "bytes=-500", 1000, CACHE_RANGE_PARTIAL, 500, 999},
        {"§14.1.1 suffix longer than the representation", "bytes=-2000", 1000, CACHE_RANGE_PARTIAL, 0, 999},
        {"§14.1.1 one byte", "bytes=0-0", 1000, CACHE_RANGE_PARTIAL, 0, 0},
        {"§14.1.1 last byte", "bytes=999-999", 1000, CACHE_RANGE_PARTIAL, 999, 999},
        {"§14.1.1 last-pos clamped", "bytes=10-5000", 1000, CACHE_RANGE_PARTIAL, 10, 999},
        {"§14.1.1 unit is case-insensitive", "BYTES=1-2", 1000, CACHE_RANGE_PARTIAL, 1, 2},
        {"§5.6.1 empty list elements", "bytes=, 1-2 ,", 1000, CACHE_RANGE_PARTIAL, 1, 2},
        {"§14.1.1 first-pos at the end", "bytes=1000-", 1000, CACHE_RANGE_UNSATISFIABLE, 0, 0},
        {"§14.1.1 zero suffix", "bytes=-0", 1000, CACHE_RANGE_UNSATISFIABLE, 0, 0},
        {"§14.1.1 huge first-pos saturates", "bytes=99999999999999999999999-", 1000, CACHE_RANGE_UNSATISFIABLE, 0, 0},
        {"§14.1.1 empty representation", "bytes=0-", 0, CACHE_RANGE_UNSATISFIABLE, 0, 0},
        {"§14.1.3 suffix of an empty representation: whole", "bytes=-5", 0, CACHE_RANGE_FULL, 0, 0},
        {"§14.1.1 last < first is invalid", "bytes=5-1", 1000, CACHE_RANGE_FULL, 0, 0},
        {"CloudFront: multiple ranges served whole", "bytes=0-1,3-4", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 unknown unit ignored", "items=0-1", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 syntax error ignored", "bytes=abc", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 empty set", "bytes=", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 no '='", "bytes 0-1", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 trailing junk", "bytes=0-1x", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 double dash", "bytes=--1", 1000, CACHE_RANGE_FULL, 0, 0},
        {"§14.2 no dash", "bytes=5", 1000, CACHE_RANGE_FULL, 0, 0},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        uint64_t s = 0, e = 0;
        print_message("  %s\n", rows[i].name);
        cache_range_result_t r = cache_policy_parse_range(rows[i].range, strlen(rows[i].range), rows[i].length, &s, &e);
        assert_int_equal(r, rows[i].want);
        if (r == CACHE_RANGE_PARTIAL) {
            assert_int_equal(s, rows[i].start);
            assert_int_equal(e, rows[i].end);
        }
    }
}

static void test_range_table(void **state)
{
    static const struct {
        const char *name;
        const h2o_iovec_t *method;
        const char *reqh;
        int status;
        cache_range_result_t want;
    } rows[] = {
        {"§14.2 Range on GET 200", &GET, "Range: bytes=0-9", 200, CACHE_RANGE_PARTIAL},
        {"§14.2 only GET", &HEAD, "Range: bytes=0-9", 200, CACHE_RANGE_FULL},
        {"§14.2 only on a 200", &GET, "Range: bytes=0-9", 404, CACHE_RANGE_FULL},
        {"§14.2 two Range fields", &GET, "Range: bytes=0-9\nRange: bytes=10-19", 200, CACHE_RANGE_FULL},
        {"§13.1.5 If-Range strong ETag matches", &GET, "Range: bytes=0-9\nIf-Range: \"v1\"", 200, CACHE_RANGE_PARTIAL},
        {"§13.1.5 If-Range ETag differs", &GET, "Range: bytes=0-9\nIf-Range: \"v2\"", 200, CACHE_RANGE_FULL},
        {"§13.1.5 If-Range weak ETag never matches", &GET, "Range: bytes=0-9\nIf-Range: W/\"v1\"", 200, CACHE_RANGE_FULL},
        {"§13.1.5 If-Range date equals Last-Modified", &GET, "Range: bytes=0-9\nIf-Range: " LM, 200, CACHE_RANGE_PARTIAL},
        {"§13.1.5 If-Range date is not exact", &GET, "Range: bytes=0-9\nIf-Range: " LM_AFTER, 200, CACHE_RANGE_FULL},
        {"§13.1.5 If-Range invalid", &GET, "Range: bytes=0-9\nIf-Range: soon", 200, CACHE_RANGE_FULL},
        {"§13.1.5 If-Range without Range", &GET, "If-Range: \"v1\"", 200, CACHE_RANGE_FULL},
        {"§14.1.1 unsatisfiable", &GET, "Range: bytes=100-", 200, CACHE_RANGE_UNSATISFIABLE},
    };
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    cache_validators_t v = {h2o_iovec_init(H2O_STRLIT("\"v1\"")), T0, CACHE_ABSENT};
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_headers_t req = H(&pool, rows[i].reqh);
        uint64_t s = 7, e = 7;
        print_message("  %s\n", rows[i].name);
        assert_int_equal(cache_policy_range(*rows[i].method, &req, rows[i].status, 100, &v, &s, &e), rows[i].want);
        if (rows[i].want == CACHE_RANGE_PARTIAL)
            assert_true(s == 0 && e == 9);
    }
    /* a weak stored ETag cannot satisfy If-Range */
    cache_validators_t weak = {h2o_iovec_init(H2O_STRLIT("W/\"v1\"")), CACHE_ABSENT, CACHE_ABSENT};
    h2o_headers_t req = H(&pool, "Range: bytes=0-9\nIf-Range: \"v1\"");
    uint64_t s, e;
    assert_int_equal(cache_policy_range(GET, &req, 200, 100, &weak, &s, &e), CACHE_RANGE_FULL);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* invalidation (RFC 9111 §4.4)                                                                                         */

static void test_invalidation_table(void **state)
{
    static const struct {
        const char *name, *method;
        int status;
        int https;
        const char *path, *resh;
        const char *want[CACHE_INVALIDATE_MAX + 1];
    } rows[] = {
        {"§4.4 POST 200 invalidates the target", "POST", 200, 0, "/a?x=1", "", {"/a?x=1"}},
        {"§4.4 GET invalidates nothing", "GET", 200, 0, "/a", "Location: /b", {NULL}},
        {"§4.4 HEAD, OPTIONS, TRACE are safe", "OPTIONS", 200, 0, "/a", "", {NULL}},
        {"§4.4 error response: nothing", "POST", 500, 0, "/a", "", {NULL}},
        {"§4.4 4xx is an error", "DELETE", 404, 0, "/a", "", {NULL}},
        {"§4.4 1xx is not", "POST", 100, 0, "/a", "", {NULL}},
        {"§4.4 unknown methods are unsafe", "PURGEX", 204, 0, "/a", "", {"/a"}},
        {"§4.4 Location, relative", "POST", 303, 0, "/a", "Location: /b", {"/a", "/b"}},
        {"§4.4 Location and Content-Location", "PUT", 201, 0, "/a", "Location: /b\nContent-Location: /c?d", {"/a", "/b", "/c?d"}},
        {"§4.4 absolute Location, same origin", "PUT", 201, 0, "/a", "Location: http://Example.COM:80/c?d", {"/a", "/c?d"}},
        {"§4.4 absolute Location, other host", "PUT", 201, 0, "/a", "Location: http://evil.example/c", {"/a"}},
        {"§4.4 absolute Location, other port", "PUT", 201, 0, "/a", "Location: http://example.com:8080/c", {"/a"}},
        {"§4.4 absolute Location, other scheme", "PUT", 201, 0, "/a", "Location: https://example.com/c", {"/a"}},
        {"§4.4 absolute Location, other scheme on the same port",
         "PUT",
         201,
         0,
         "/a",
         "Location: https://example.com:80/c",
         {"/a"}},
        {"§4.4 https request, https Location", "PUT", 201, 1, "/a", "Location: https://example.com/c", {"/a", "/c"}},
        {"§4.4 network-path reference, same host", "POST", 200, 0, "/a", "Location: //example.com/e", {"/a", "/e"}},
        {"§4.4 network-path reference, other host", "POST", 200, 0, "/a", "Location: //evil.example/e", {"/a"}},
        {"§4.4 relative path reference", "POST", 200, 0, "/x/y?q=1", "Location: c/d", {"/x/y?q=1", "/x/c/d"}},
        {"§4.4 dot-segments resolved", "POST", 200, 0, "/x/y/w", "Location: ../z", {"/x/y/w", "/x/z"}},
        {"§4.4 query-only reference", "POST", 200, 0, "/x/y", "Location: ?q", {"/x/y", "/x/y?q"}},
        {"§4.4 fragment removed", "POST", 200, 0, "/a", "Location: /f#frag", {"/a", "/f"}},
        {"§4.4 duplicates once", "POST", 200, 0, "/a", "Content-Location: /a\nLocation: /a", {"/a"}},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_headers_t resh = H(&pool, rows[i].resh);
        h2o_iovec_t out[CACHE_INVALIDATE_MAX];
        print_message("  %s\n", rows[i].name);
        size_t n = cache_policy_invalidations(&pool, h2o_iovec_init(rows[i].method, strlen(rows[i].method)), rows[i].status,
                                              rows[i].https ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP,
                                              h2o_iovec_init(H2O_STRLIT("example.com")),
                                              h2o_iovec_init(rows[i].path, strlen(rows[i].path)), &resh, out);
        size_t want = 0;
        while (rows[i].want[want] != NULL)
            ++want;
        assert_int_equal(n, want);
        for (size_t j = 0; j != n; ++j) {
            char *got = h2o_strdup(&pool, out[j].base, out[j].len).base;
            assert_string_equal(got, rows[i].want[j]);
        }
        h2o_mem_clear_pool(&pool);
    }
    assert_true(cache_policy_method_is_safe(GET));
    assert_true(cache_policy_method_is_safe(h2o_iovec_init(H2O_STRLIT("TRACE"))));
    assert_false(cache_policy_method_is_safe(POST));
    assert_false(cache_policy_method_is_safe(h2o_iovec_init(H2O_STRLIT("get")))); /* methods are case-sensitive */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cc_parse_table),
        cmocka_unit_test(test_cc_combines_lines),
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_storability_table),
        cmocka_unit_test(test_storability_disabled),
        cmocka_unit_test(test_storability_set_cookie),
        cmocka_unit_test(test_shareable_headers),
        cmocka_unit_test(test_heuristic_statuses),
        cmocka_unit_test(test_freshness_table),
        cmocka_unit_test(test_stale_windows_table),
        cmocka_unit_test(test_default_sie_storability),
        cmocka_unit_test(test_age_table),
        cmocka_unit_test(test_age_header),
        cmocka_unit_test(test_use_table),
        cmocka_unit_test(test_error_status),
        cmocka_unit_test(test_policy_init),
        cmocka_unit_test(test_targeted_strip),
        cmocka_unit_test(test_vary_parse),
        cmocka_unit_test(test_vary_key),
        cmocka_unit_test(test_add_conditionals),
        cmocka_unit_test(test_304_selects),
        cmocka_unit_test(test_merge_304),
        cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_conditional_table),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_parse_range_table),
        cmocka_unit_test(test_range_table),
        cmocka_unit_test(test_invalidation_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
