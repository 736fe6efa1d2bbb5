/* tests/unit/cache/test_key.c - the cache key of cache/key.c: CloudFront cache policies, query/path normalisation, layout, hash */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cache/key.h"

/* ------------------------------------------------------------------------------------------------------------------- */
/* helpers                                                                                                              */

/* adds "Name: value" lines separated by '\n', names interned as h2o does for parsed messages */
static h2o_headers_t H(h2o_mem_pool_t *pool, const char *spec)
{
    h2o_headers_t hs = {NULL};
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
        h2o_add_header_by_str(pool, &hs, name, nlen, 1, NULL, v, end - v);
        p = nl != NULL ? nl + 1 : NULL;
    }
    return hs;
}

static const char *cstr(h2o_mem_pool_t *pool, h2o_iovec_t v)
{
    if (v.len == 0)
        return "";
    return h2o_strdup(pool, v.base, v.len).base;
}

static conf_cache_policy_t policy(conf_key_mode_t qmode, char **q, size_t nq, char **hdrs, size_t nh, conf_key_mode_t cmode,
                                  char **c, size_t nc)
{
    conf_cache_policy_t p = {0};
    p.enabled = 1;
    p.min_ttl_ms = p.default_ttl_ms = p.max_ttl_ms = -1;
    p.query_mode = qmode;
    p.query = (conf_namelist_t){q, nq};
    p.headers = (conf_namelist_t){hdrs, nh};
    p.cookie_mode = cmode;
    p.cookies = (conf_namelist_t){c, nc};
    return p;
}

static const char *key_of(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, size_t behavior, const char *host, const char *path,
                          const char *headers)
{
    h2o_headers_t hs = H(pool, headers);
    cache_key_request_t req = {behavior, h2o_iovec_init(host, strlen(host)), h2o_iovec_init(path, strlen(path)), &hs};
    return cstr(pool, cache_key_build_pool(pool, pol, &req));
}

static char *names_wh[] = {"w", "h"};
static char *names_utm[] = {"utm_source", "fbclid"};
static char *names_hdr[] = {"Accept-Language", "X-Dev"};
static char *names_cookies[] = {"session", "theme"};

/* ------------------------------------------------------------------------------------------------------------------- */
/* URL part: path and query normalisation                                                                               */

static void test_url_table(void **state)
{
    conf_cache_policy_t none = policy(CONF_KEY_NONE, NULL, 0, NULL, 0, CONF_KEY_NONE, NULL, 0),
                        list = policy(CONF_KEY_LIST, names_wh, 2, NULL, 0, CONF_KEY_NONE, NULL, 0),
                        except = policy(CONF_KEY_EXCEPT, names_utm, 2, NULL, 0, CONF_KEY_NONE, NULL, 0),
                        except_nothing = policy(CONF_KEY_EXCEPT, NULL, 0, NULL, 0, CONF_KEY_NONE, NULL, 0);
    static const struct {
        const char *name;
        int pol; /* 0: NULL (all), 1 none, 2 list [w, h], 3 except [utm_source, fbclid], 4 except [] */
        const char *path, *want;
    } rows[] = {
        {"query sorted by name", 0, "/p?b=2&a=1", "/p?a=1&b=2"},
        {"repeated names keep their order (stable sort by name)", 0, "/p?a=2&b=0&a=1", "/p?a=2&a=1&b=0"},
        {"a repeated name keeps its order around others", 0, "/p?c=1&a=z&b=1&a=y&a=x", "/p?a=z&a=y&a=x&b=1&c=1"},
        {"repeated parameters kept", 0, "/p?a=1&a=1", "/p?a=1&a=1"},
        {"RFC 3986 §6.2.2.2 unreserved decoded", 0, "/p?%7Euser=%41%2d", "/p?~user=A-"},
        {"RFC 3986 §6.2.2.1 hex uppercased", 0, "/p?x=%2f%c3%a9", "/p?x=%2F%C3%A9"},
        {"raw non-ASCII encoded", 0, "/p?a=\xc3\xa9", "/p?a=%C3%A9"},
        {"raw space encoded", 0, "/p?q=a b", "/p?q=a%20b"},
        {"'+' is not a space", 0, "/p?q=a+b", "/p?q=a+b"},
        {"an encoded '&' is data", 0, "/p?k=%26&j=1", "/p?j=1&k=%26"},
        {"an encoded '=' is data", 0, "/p?k%3D1=2", "/p?k%3D1=2"},
        {"sorted after normalisation", 0, "/p?%62=1&a=2", "/p?a=2&b=1"},
        {"bytewise order", 0, "/p?b=1&B=1&a=1", "/p?B=1&a=1&b=1"},
        {"`a` and `a=` keep their order", 0, "/p?a=&a", "/p?a=&a"},
        {"empty parameters dropped", 0, "/p?a&&b=&", "/p?a&b="},
        {"empty query removed", 0, "/p?", "/p"},
        {"query of separators only removed", 0, "/p?&&", "/p"},
        {"a % that starts no escape is %25", 0, "/p?x=%zz&y=%4", "/p?x=%25zz&y=%254"},
        {"%%32F is not %2F (no escape made by normalising)", 0, "/s?q=%%32F", "/s?q=%252F"},
        {"normalising twice changes nothing", 0, "/s?q=%252F", "/s?q=%252F"},
        {"path: unreserved decoded, hex uppercased", 0, "/%7Efoo/%2fbar", "/~foo/%2Fbar"},
        {"path: case-sensitive", 0, "/A/b", "/A/b"},
        {"path: dot-segments kept (the origin sees them)", 0, "/a/../b", "/a/../b"},
        {"path: trailing '%'", 0, "/x%", "/x%25"},
        {"path: no query", 0, "/plain", "/plain"},
        {"CloudFront query none", 1, "/p?a=1", "/p"},
        {"CloudFront query list", 2, "/img?x=2&w=1&h=3&w=0", "/img?h=3&w=1&w=0"},
        {"CloudFront query list: names case-sensitive", 2, "/img?W=1&h=2", "/img?h=2"},
        {"CloudFront query list: names normalised", 2, "/img?%77=5", "/img?w=5"},
        {"CloudFront query list: nothing kept", 2, "/img?x=1", "/img"},
        {"CloudFront query except", 3, "/p?utm_source=x&id=1&fbclid=y", "/p?id=1"},
        {"CloudFront query except []", 4, "/p?b&a", "/p?a&b"},
    };
    const conf_cache_policy_t *pols[] = {NULL, &none, &list, &except, &except_nothing};
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        print_message("  %s\n", rows[i].name);
        h2o_iovec_t u = cache_key_url(&pool, pols[rows[i].pol], h2o_iovec_init(rows[i].path, strlen(rows[i].path)));
        assert_string_equal(cstr(&pool, u), rows[i].want);
        /* the key's third entry is the same URL part */
        const char *k = key_of(&pool, pols[rows[i].pol], 0, "h", rows[i].path, "");
        assert_string_equal(cstr(&pool, cache_key_url_of(h2o_iovec_init(k, strlen(k)))), rows[i].want);
    }
    h2o_mem_clear_pool(&pool);
}

static void test_query_function(void **state)
{
    conf_cache_policy_t list = policy(CONF_KEY_LIST, names_wh, 2, NULL, 0, CONF_KEY_NONE, NULL, 0);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    assert_string_equal(cstr(&pool, cache_key_query(&pool, NULL, h2o_iovec_init(H2O_STRLIT("w=1&b=%7e")))), "b=~&w=1");
    assert_string_equal(cstr(&pool, cache_key_query(&pool, &list, h2o_iovec_init(H2O_STRLIT("b=2&w=1")))), "w=1");
    assert_int_equal(cache_key_query(&pool, &list, h2o_iovec_init(H2O_STRLIT("b=2"))).len, 0);
    assert_int_equal(cache_key_query(&pool, NULL, h2o_iovec_init(H2O_STRLIT(""))).len, 0);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* the key                                                                                                              */

static void test_key_layout(void **state)
{
    conf_cache_policy_t pol = policy(CONF_KEY_LIST, names_wh, 2, names_hdr, 2, CONF_KEY_LIST, names_cookies, 2);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const char *k = key_of(&pool, &pol, 3, "Images.Example.COM:8080", "/img/a.jpg?w=100&x=1",
                           "Accept-Language: en-US\nCookie: theme=dark; other=1; session=abc\nCookie: session=zzz\n"
                           "User-Agent: test");
    assert_string_equal(k, "3\nimages.example.com:8080\n/img/a.jpg?w=100\nh:accept-language=en-us\nh:x-dev\n"
                           "c:session=abc\nc:session=zzz\nc:theme=dark\n");
    h2o_iovec_t key = h2o_iovec_init(k, strlen(k));
    assert_string_equal(cstr(&pool, cache_key_host_of(key)), "images.example.com:8080");
    assert_string_equal(cstr(&pool, cache_key_url_of(key)), "/img/a.jpg?w=100");
    assert_int_equal(cache_key_url_of(h2o_iovec_init(H2O_STRLIT("0\nhost-without-newline"))).len, 0);
    assert_int_equal(cache_key_host_of(h2o_iovec_init(H2O_STRLIT("garbage"))).len, 0);

    /* the default policy of conf: query all, no headers, no cookies */
    conf_cache_policy_t def = policy(CONF_KEY_ALL, NULL, 0, NULL, 0, CONF_KEY_NONE, NULL, 0);
    k = key_of(&pool, &def, 0, "a.example", "/x?b=1&a=2", "Cookie: s=1\nAccept-Language: fr");
    assert_string_equal(k, "0\na.example\n/x?a=2&b=1\n");
    h2o_mem_clear_pool(&pool);
}

static void test_key_equivalence_table(void **state)
{
    conf_cache_policy_t pol = policy(CONF_KEY_EXCEPT, names_utm, 2, names_hdr, 2, CONF_KEY_EXCEPT, names_cookies + 1, 1);
    static const struct {
        const char *name;
        int same;
        size_t b1, b2;
        const char *host1, *path1, *hdr1, *host2, *path2, *hdr2;
    } rows[] = {
        {"query order does not matter", 1, 0, 0, "a", "/p?x=1&y=2", "", "a", "/p?y=2&x=1", ""},
        {"other names move around a repeated one", 1, 0, 0, "a", "/p?a=1&b=2&a=2", "", "a", "/p?b=2&a=1&a=2", ""},
        {"the order of a repeated name matters", 0, 0, 0, "a", "/p?a=1&a=2", "", "a", "/p?a=2&a=1", ""},
        {"the order of a repeated cookie matters", 0, 0, 0, "a", "/", "Cookie: a=1; a=2", "a", "/", "Cookie: a=2; a=1"},
        {"... also over two Cookie lines", 0, 0, 0, "a", "/", "Cookie: a=1\nCookie: a=2", "a", "/", "Cookie: a=2\nCookie: a=1"},
        {"escape case does not matter", 1, 0, 0, "a", "/p%2fq?x=%c3", "", "a", "/p%2Fq?x=%C3", ""},
        {"unreserved escapes do not matter", 1, 0, 0, "a", "/%7Eu?%61=1", "", "a", "/~u?a=1", ""},
        {"host case does not matter", 1, 0, 0, "A.Example", "/", "", "a.example", "/", ""},
        {"excluded query parameters do not matter", 1, 0, 0, "a", "/p?id=1&utm_source=x", "", "a", "/p?id=1", ""},
        {"cookie order does not matter", 1, 0, 0, "a", "/", "Cookie: b=2; a=1", "a", "/", "Cookie: a=1; b=2"},
        {"HTTP/2 cookie lines = one HTTP/1 line", 1, 0, 0, "a", "/", "Cookie: a=1\nCookie: b=2", "a", "/", "Cookie: a=1; b=2"},
        {"excluded cookies do not matter", 1, 0, 0, "a", "/", "Cookie: a=1; theme=dark", "a", "/", "Cookie: a=1; theme=light"},
        {"unlisted headers do not matter", 1, 0, 0, "a", "/", "User-Agent: x", "a", "/", "User-Agent: y"},
        {"listed header names are case-insensitive", 1, 0, 0, "a", "/", "accept-language: en", "a", "/", "ACCEPT-LANGUAGE: en"},
        {"behaviors never share", 0, 0, 1, "a", "/", "", "a", "/", ""},
        {"hosts differ", 0, 0, 0, "a", "/", "", "b", "/", ""},
        {"path case matters", 0, 0, 0, "a", "/A", "", "a", "/a", ""},
        {"query values matter", 0, 0, 0, "a", "/p?id=1", "", "a", "/p?id=2", ""},
        {"`a` differs from `a=`", 0, 0, 0, "a", "/p?a", "", "a", "/p?a=", ""},
        {"'+' differs from %20", 0, 0, 0, "a", "/p?q=a+b", "", "a", "/p?q=a%20b", ""},
        {"listed header values matter", 0, 0, 0, "a", "/", "Accept-Language: en", "a", "/", "Accept-Language: fr"},
        {"listed header absent differs from empty", 0, 0, 0, "a", "/", "", "a", "/", "X-Dev: "},
        {"cookie values matter", 0, 0, 0, "a", "/", "Cookie: a=1", "a", "/", "Cookie: a=2"},
        {"a cookie without value differs from an empty one", 0, 0, 0, "a", "/", "Cookie: a", "a", "/", "Cookie: a="},
        {"'%' in a cookie cannot fake an escape", 0, 0, 0, "a", "/", "Cookie: a=%0A", "a", "/", "Cookie: a=%250A"},
    };
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        print_message("  %s\n", rows[i].name);
        const char *k1 = key_of(&pool, &pol, rows[i].b1, rows[i].host1, rows[i].path1, rows[i].hdr1),
                   *k2 = key_of(&pool, &pol, rows[i].b2, rows[i].host2, rows[i].path2, rows[i].hdr2);
        if (rows[i].same) {
            assert_string_equal(k1, k2);
            assert_true(cache_key_hash(k1, strlen(k1)) == cache_key_hash(k2, strlen(k2)));
        } else {
            assert_string_not_equal(k1, k2);
            assert_true(cache_key_hash(k1, strlen(k1)) != cache_key_hash(k2, strlen(k2)));
        }
    }
    h2o_mem_clear_pool(&pool);
}

static void test_cookie_modes(void **state)
{
    conf_cache_policy_t all = policy(CONF_KEY_NONE, NULL, 0, NULL, 0, CONF_KEY_ALL, NULL, 0),
                        none = policy(CONF_KEY_NONE, NULL, 0, NULL, 0, CONF_KEY_NONE, NULL, 0),
                        list = policy(CONF_KEY_NONE, NULL, 0, NULL, 0, CONF_KEY_LIST, names_cookies, 2),
                        except = policy(CONF_KEY_NONE, NULL, 0, NULL, 0, CONF_KEY_EXCEPT, names_cookies, 2);
    const char *hdr = "Cookie:  z=1 ; session = abc; flag;;theme=dark\nCookie: Session=X; pct=100%";
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    assert_string_equal(key_of(&pool, &none, 0, "h", "/", hdr), "0\nh\n/\n");
    assert_string_equal(key_of(&pool, &all, 0, "h", "/", hdr),
                        "0\nh\n/\nc:Session=X\nc:flag\nc:pct=100%25\nc:session=abc\nc:theme=dark\nc:z=1\n");
    /* cookie names are case-sensitive (RFC 6265) */
    assert_string_equal(key_of(&pool, &list, 0, "h", "/", hdr), "0\nh\n/\nc:session=abc\nc:theme=dark\n");
    assert_string_equal(key_of(&pool, &except, 0, "h", "/", hdr), "0\nh\n/\nc:Session=X\nc:flag\nc:pct=100%25\nc:z=1\n");
    h2o_mem_clear_pool(&pool);
}

static void test_headers_in_key(void **state)
{
    conf_cache_policy_t pol = policy(CONF_KEY_NONE, NULL, 0, names_hdr, 2, CONF_KEY_NONE, NULL, 0);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    /* several lines combined in order, trimmed */
    assert_string_equal(key_of(&pool, &pol, 0, "h", "/", "X-Dev: a \nAccept-Language: en\nX-Dev:  b"),
                        "0\nh\n/\nh:accept-language=en\nh:x-dev=a,b\n");
    /* Accept-Language in its normal form (RFC 9110 §12.5.4): case, spaces and the order of equal weights do not matter */
    assert_string_equal(key_of(&pool, &pol, 0, "h", "/", "Accept-Language: De , EN;q=1,fr;Q=0.500"),
                        "0\nh\n/\nh:accept-language=de,en,fr;q=0.5\nh:x-dev\n");
    /* a value that is not a plain weighted list is keyed as it is */
    assert_string_equal(key_of(&pool, &pol, 0, "h", "/", "Accept-Language: en;level=1"),
                        "0\nh\n/\nh:accept-language=en;level=1\nh:x-dev\n");

    /* a control byte in a value (e.g. set by a hook) is escaped: '\n' only separates entries */
    h2o_headers_t hs = {NULL};
    h2o_add_header_by_str(&pool, &hs, H2O_STRLIT("x-dev"), 1, NULL, H2O_STRLIT("a\nh:accept-language=en"));
    cache_key_request_t req = {0, h2o_iovec_init(H2O_STRLIT("h\n")), h2o_iovec_init(H2O_STRLIT("/\n")), &hs};
    assert_string_equal(cstr(&pool, cache_key_build_pool(&pool, &pol, &req)),
                        "0\nh%0A\n/%0A\nh:accept-language\nh:x-dev=a%0Ah:accept-language=en\n");
    h2o_mem_clear_pool(&pool);
}

static void test_build_buffer(void **state)
{
    conf_cache_policy_t pol = policy(CONF_KEY_ALL, NULL, 0, names_hdr, 2, CONF_KEY_ALL, NULL, 0);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t hs = H(&pool, "Accept-Language: en\nCookie: b=2; a=1");
    cache_key_request_t req = {7, h2o_iovec_init(H2O_STRLIT("Host")), h2o_iovec_init(H2O_STRLIT("/p?z=1&y=2")), &hs};
    const char *want = "7\nhost\n/p?y=2&z=1\nh:accept-language=en\nh:x-dev\nc:a=1\nc:b=2\n";
    size_t wlen = strlen(want);

    /* too small: the needed length and a prefix, never an overrun */
    char small[10];
    memset(small, 'X', sizeof(small));
    assert_int_equal(cache_key_build(&pol, &req, small, 8), wlen);
    assert_memory_equal(small, want, 8);
    assert_int_equal(small[8], 'X');
    assert_int_equal(cache_key_build(&pol, &req, NULL, 0), wlen);
    char buf[256];
    assert_int_equal(cache_key_build(&pol, &req, buf, wlen), wlen);
    assert_memory_equal(buf, want, wlen);
    assert_string_equal(cstr(&pool, cache_key_build_pool(&pool, &pol, &req)), want);

    /* the pool variant grows past its first guess when headers are long */
    char *longv = h2o_mem_alloc_pool(&pool, 2001);
    memset(longv, 'v', 2000);
    longv[2000] = '\0';
    hs = (h2o_headers_t){NULL};
    h2o_add_header_by_str(&pool, &hs, H2O_STRLIT("x-dev"), 1, NULL, longv, 2000);
    h2o_iovec_t k = cache_key_build_pool(&pool, &pol, &req);
    assert_int_equal(k.len, cache_key_build(&pol, &req, NULL, 0));
    assert_non_null(memmem(k.base, k.len, longv, 2000));

    /* more parameters than the stack scratch: the buffer variant refuses, the pool variant sorts them all */
    size_t n = CACHE_KEY_MAX_ITEMS + 44;
    char *path = h2o_mem_alloc_pool(&pool, 16 * n + 4), *w = path;
    w += sprintf(w, "/p?");
    for (size_t i = n; i != 0; --i)
        w += sprintf(w, "%sk%05zu=1", i == n ? "" : "&", i);
    req.path = h2o_iovec_init(path, w - path);
    req.headers = NULL;
    assert_int_equal(cache_key_build(&pol, &req, buf, sizeof(buf)), -1);
    k = cache_key_build_pool(&pool, &pol, &req);
    h2o_iovec_t url = cache_key_url_of(k);
    assert_memory_equal(url.base, "/p?k00001=1&k00002=1&", 21);
    assert_int_equal(url.len, req.path.len);
    h2o_mem_clear_pool(&pool);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* hash                                                                                                                 */

static void test_hash_fixed_stability(void **state)
{
    /* pinned values (cross-checked with an independent model of the algorithm): sticky choices are made with them, so they
     * must not change across builds, machines or restarts */
    static const struct {
        const char *s;
        uint64_t h;
    } rows[] = {
        {"", UINT64_C(0x28d9f8b2a15c0fe9)},
        {"a", UINT64_C(0x2943d8fc99f10836)},
        {"abc", UINT64_C(0x7ac9dce2cbf6841d)},
        {"0123456789abcdef", UINT64_C(0xca36da968115822f)},
        {"0123456789abcdefg", UINT64_C(0x67c443238750a2b2)},
        {"0\nexample.com\n/index.html\n", UINT64_C(0xc83f6fe68eaa6941)},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        uint64_t h = cache_key_hash_fixed(rows[i].s, strlen(rows[i].s));
        print_message("  \"%s\" -> 0x%016llx\n", rows[i].s, (unsigned long long)h);
        assert_true(h == rows[i].h);
    }
    /* the length is part of the hash: zero padding does not collide */
    assert_true(cache_key_hash_fixed("a", 1) != cache_key_hash_fixed("a\0", 2));
    assert_true(cache_key_hash_fixed("", 0) != cache_key_hash_fixed("\0", 1));
    /* unaligned input hashes the same as aligned input */
    char buf[64];
    memcpy(buf + 1, "0123456789abcdefg", 17);
    assert_true(cache_key_hash_fixed(buf + 1, 17) == cache_key_hash_fixed("0123456789abcdefg", 17));
}

static void test_siphash_vectors(void **state)
{
    unsigned char key[16], zero[16] = {0}, msg[64];
    for (int i = 0; i != 16; ++i)
        key[i] = (unsigned char)i;
    for (int i = 0; i != 64; ++i)
        msg[i] = (unsigned char)i;
    /* SipHash-2-4 against the paper's test vectors (key 00..0f, messages 00..0e and empty): the rounds, the constants, the
     * byte order and the length byte are right */
    assert_true(cache_key_siphash24(key, msg, 15) == UINT64_C(0xa129ca6149be45e5));
    assert_true(cache_key_siphash24(key, msg, 0) == UINT64_C(0x726fdb47dd0e0e31));
    /* SipHash-1-3 (what cache_key_hash runs) under the zero key, as CPython 3.11 computes it with PYTHONHASHSEED=0:
     * PYTHONHASHSEED=0 python3 -c 'print(hex(hash(b"abc") & (2**64-1)))' (CPython returns 0 for b"" itself) */
    static const struct {
        const char *s;
        uint64_t h;
    } rows[] = {
        {"a", UINT64_C(0x407448d2b89b1813)},
        {"abc", UINT64_C(0xc03bc3a0042630f2)},
        {"0123456789abcdef", UINT64_C(0x1d42b30f7e060c24)},
        {"0123456789abcdefg", UINT64_C(0x3323a4f8b8d9776b)},
        {"0\nexample.com\n/index.html\n", UINT64_C(0xdadccc574c8ce74f)},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i)
        assert_true(cache_key_siphash13(zero, rows[i].s, strlen(rows[i].s)) == rows[i].h);
    /* every length from 0 to 63 reads its tail right: unaligned input gives the same hash, and one more byte changes it */
    unsigned char unaligned[65];
    for (size_t n = 0; n != 64; ++n) {
        memcpy(unaligned + 1, msg, n);
        assert_true(cache_key_siphash13(key, unaligned + 1, n) == cache_key_siphash13(key, msg, n));
        assert_true(cache_key_siphash13(key, msg, n) != cache_key_siphash13(key, msg, n + 1));
    }
    /* the key matters, each half of it */
    unsigned char k2[16];
    memcpy(k2, key, 16);
    k2[15] ^= 1;
    assert_true(cache_key_siphash13(key, "abc", 3) != cache_key_siphash13(k2, "abc", 3));
    memcpy(k2, key, 16);
    k2[0] ^= 0x80;
    assert_true(cache_key_siphash13(key, "abc", 3) != cache_key_siphash13(k2, "abc", 3));
}

static void test_hash_seeded(void **state)
{
    /* stable within the process, whatever the seed is */
    const char *k = "0\nexample.com\n/index.html\n";
    uint64_t h = cache_key_hash(k, strlen(k));
    cache_key_hash_seed(); /* a second seeding does nothing */
    assert_true(cache_key_hash(k, strlen(k)) == h);
    assert_true(cache_key_hash("a", 1) != cache_key_hash("a\0", 2));
    /* keyed: not SipHash under the all-zero key (that would mean no seed; 2^-64 by chance), nor the fixed hash */
    unsigned char zero[16] = {0};
    assert_true(h != cache_key_siphash13(zero, k, strlen(k)));
    assert_true(h != cache_key_hash_fixed(k, strlen(k)));
    /* a new key in every process: this program run twice more prints two other hashes of the same input */
    char other[2][32], exe[4096], cmd[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    snprintf(cmd, sizeof(cmd), "'%s' --print-hash", exe);
    for (int i = 0; i != 2; ++i) {
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(other[i], sizeof(other[i]), p));
        assert_int_equal(pclose(p), 0);
    }
    char mine[32];
    snprintf(mine, sizeof(mine), "%016llx\n", (unsigned long long)h);
    print_message("  this process %s  two others %s  %s", mine, other[0], other[1]);
    assert_string_not_equal(mine, other[0]);
    assert_string_not_equal(mine, other[1]);
    assert_string_not_equal(other[0], other[1]);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t rng(uint64_t *s)
{
    /* xorshift64: deterministic test data */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_hash_quality(void **state)
{
    /* no collision among 200k keys that differ in a few characters */
    enum { N = 200000, BUCKETS = 1024 };
    static uint64_t hs[N];
    static unsigned buckets[BUCKETS];
    for (size_t i = 0; i != N; ++i) {
        char k[64];
        int len = snprintf(k, sizeof(k), "0\nexample.com\n/p?id=%zu\n", i);
        hs[i] = cache_key_hash(k, (size_t)len);
        ++buckets[hs[i] % BUCKETS];
    }
    /* low bits spread evenly (a table indexes by them): chi-square of 1023 degrees of freedom within 5 sigma (~45 each) */
    double expect = (double)N / BUCKETS, chi2 = 0;
    for (size_t i = 0; i != BUCKETS; ++i)
        chi2 += (buckets[i] - expect) * (buckets[i] - expect) / expect;
    print_message("  chi-square over %d buckets: %.0f\n", BUCKETS, chi2);
    assert_true(chi2 > 1023 - 5 * 45 && chi2 < 1023 + 5 * 45);
    qsort(hs, N, sizeof(*hs), cmp_u64);
    for (size_t i = 1; i != N; ++i)
        assert_true(hs[i] != hs[i - 1]);

    /* avalanche: flipping any input bit flips about half of the output bits, each with probability near 1/2 */
    enum { MSGS = 400, LEN = 24 };
    unsigned flips[64] = {0};
    uint64_t seed = 0x1234567, total = 0, trials = 0;
    for (size_t m = 0; m != MSGS; ++m) {
        unsigned char msg[LEN];
        for (size_t i = 0; i != LEN; ++i)
            msg[i] = (unsigned char)rng(&seed);
        uint64_t h0 = cache_key_hash(msg, LEN);
        for (size_t bit = 0; bit != LEN * 8; ++bit) {
            msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            uint64_t d = h0 ^ cache_key_hash(msg, LEN);
            msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            total += (uint64_t)__builtin_popcountll(d);
            for (int b = 0; b != 64; ++b)
                flips[b] += (d >> b) & 1;
            ++trials;
        }
    }
    double mean = (double)total / (double)trials;
    print_message("  avalanche: %.2f bits of 64\n", mean);
    assert_true(mean > 31.0 && mean < 33.0);
    for (int b = 0; b != 64; ++b) {
        double p = (double)flips[b] / (double)trials;
        assert_true(p > 0.45 && p < 0.55);
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print-hash") == 0) {
        /* for test_hash_seeded: the hash of its input in a fresh process */
        const char *k = "0\nexample.com\n/index.html\n";
        printf("%016llx\n", (unsigned long long)cache_key_hash(k, strlen(k)));
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_table),    cmocka_unit_test(test_query_function),
        cmocka_unit_test(test_key_layout),   cmocka_unit_test(test_key_equivalence_table),
        cmocka_unit_test(test_cookie_modes), cmocka_unit_test(test_headers_in_key),
        cmocka_unit_test(test_build_buffer), cmocka_unit_test(test_hash_fixed_stability),
        cmocka_unit_test(test_siphash_vectors), cmocka_unit_test(test_hash_seeded),
        cmocka_unit_test(test_hash_quality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
