/* tests/unit/cache/test_forward.c - what a request whose response may be stored forwards to the origin (cache/forward.c) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "cache/forward.h"

/* "Name: value" lines separated by '\n'; names lowercased and interned as h2o does for parsed messages (intern 0: as a hook
 * may add them) */
static h2o_headers_t H(h2o_mem_pool_t *pool, const char *spec, int intern)
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
        h2o_add_header_by_str(pool, &hs, name, nlen, intern, NULL, v, end - v);
        p = nl != NULL ? nl + 1 : NULL;
    }
    return hs;
}

/* the filtered list as "name: value\n" lines */
static const char *filtered(h2o_mem_pool_t *pool, const cache_forward_t *fwd, const char *spec, int intern)
{
    h2o_headers_t in = H(pool, spec, intern), out;
    cache_forward_filter(pool, fwd, &in, &out);
    char *buf = h2o_mem_alloc_pool(pool, 4096);
    buf[0] = '\0';
    for (size_t i = 0; i != out.size; ++i)
        snprintf(buf + strlen(buf), 4096 - strlen(buf), "%.*s: %.*s\n", (int)out.entries[i].name->len, out.entries[i].name->base,
                 (int)out.entries[i].value.len, out.entries[i].value.base);
    return buf;
}

static char *key_headers[] = {"x-variant", "Accept-Language"};
static char *oreq_headers[] = {"x-api-version", "x-variant"};
static char *key_cookies[] = {"session"};
static char *oreq_cookies[] = {"lang", "theme"};

/* the poisoning headers of the issue and the client's everyday ones */
static const char *CLIENT = "Host: example.com\nUser-Agent: curl/8\nAccept: */*\nAccept-Encoding: gzip\nAccept-Language: fr\n"
                            "Authorization: Basic eDp5\nX-Forwarded-Host: evil\nX-Original-URL: /admin\nX-Rewrite-URL: /admin\n"
                            "X-HTTP-Method-Override: DELETE\nX-Forwarded-For: 10.0.0.1\nVia: 1.1 other\nConnection: keep-alive\n"
                            "If-None-Match: \"x\"\nRange: bytes=0-1\nX-Variant: b\nX-Api-Version: 2";

static void test_defaults(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    /* no behavior settings: accept, accept-encoding, accept-language, authorization, and the proxy's own */
    const char *want =
        "accept: */*\naccept-encoding: gzip\naccept-language: fr\nauthorization: Basic eDp5\nx-forwarded-for: 10.0.0.1\n"
        "via: 1.1 other\nconnection: keep-alive\n";
    assert_string_equal(filtered(&pool, NULL, CLIENT, 1), want);
    cache_forward_t fwd;
    cache_forward_init(&fwd, NULL, NULL);
    assert_string_equal(filtered(&pool, &fwd, CLIENT, 1), want);
    /* names not interned (a hook's) compare by string */
    assert_string_equal(filtered(&pool, &fwd, CLIENT, 0), want);
    assert_true(cache_forward_has_header(&fwd, H2O_STRLIT("Accept-Encoding")));
    assert_false(cache_forward_has_header(&fwd, H2O_STRLIT("x-forwarded-host")));
    cache_forward_dispose(&fwd);
    h2o_mem_clear_pool(&pool);
}

static void test_key_and_origin_request(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    conf_cache_policy_t key = {0};
    key.headers = (conf_namelist_t){key_headers, 2};
    conf_origin_request_t oreq = {0};
    cache_forward_t fwd;

    /* the key's headers join the defaults */
    cache_forward_init(&fwd, &key, NULL);
    assert_string_equal(
        filtered(&pool, &fwd, CLIENT, 1),
        "accept: */*\naccept-encoding: gzip\naccept-language: fr\nauthorization: Basic eDp5\nx-forwarded-for: 10.0.0.1\n"
        "via: 1.1 other\nconnection: keep-alive\nx-variant: b\n");
    cache_forward_dispose(&fwd);

    /* origin_request.headers replaces the defaults; the key's are still forwarded */
    oreq.headers_set = 1;
    oreq.headers = (conf_namelist_t){oreq_headers, 2};
    cache_forward_init(&fwd, &key, &oreq);
    assert_int_equal(fwd.num_headers, 3); /* x-variant once */
    assert_string_equal(filtered(&pool, &fwd, CLIENT, 1),
                        "accept-language: fr\nx-forwarded-for: 10.0.0.1\nvia: 1.1 other\nconnection: keep-alive\nx-variant: b\n"
                        "x-api-version: 2\n");
    cache_forward_dispose(&fwd);

    /* `headers: none`: only the key's and the proxy's own */
    oreq.headers = (conf_namelist_t){NULL, 0};
    cache_forward_init(&fwd, NULL, &oreq);
    assert_string_equal(filtered(&pool, &fwd, CLIENT, 1), "x-forwarded-for: 10.0.0.1\nvia: 1.1 other\nconnection: keep-alive\n");
    /* the compiled rules keep no pointer into the configuration */
    cache_forward_dispose(&fwd);
    h2o_mem_clear_pool(&pool);
}

static void test_cookies(void **state)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const char *jar = "Cookie: theme=dark; session=abc;  tracker=1 ;lang=fr\nCookie: session=second\nX-Variant: v";
    conf_cache_policy_t key = {0};
    conf_origin_request_t oreq = {0};
    cache_forward_t fwd;

    /* default: no cookie at all */
    cache_forward_init(&fwd, NULL, NULL);
    assert_string_equal(filtered(&pool, &fwd, jar, 1), "");
    cache_forward_dispose(&fwd);

    /* the key's cookies, in the client's order, as one line (HTTP/2 sends one line per cookie) */
    key.cookie_mode = CONF_KEY_LIST;
    key.cookies = (conf_namelist_t){key_cookies, 1};
    cache_forward_init(&fwd, &key, NULL);
    assert_string_equal(filtered(&pool, &fwd, jar, 1), "cookie: session=abc; session=second\n");
    cache_forward_dispose(&fwd);

    /* plus origin_request's */
    oreq.cookie_mode = CONF_KEY_LIST;
    oreq.cookies = (conf_namelist_t){oreq_cookies, 2};
    cache_forward_init(&fwd, &key, &oreq);
    assert_string_equal(filtered(&pool, &fwd, jar, 1), "cookie: theme=dark; session=abc; lang=fr; session=second\n");
    cache_forward_dispose(&fwd);

    /* except, and all; names are case-sensitive */
    oreq.cookie_mode = CONF_KEY_EXCEPT;
    cache_forward_init(&fwd, NULL, &oreq);
    assert_string_equal(filtered(&pool, &fwd, jar, 1), "cookie: session=abc; tracker=1; session=second\n");
    cache_forward_dispose(&fwd);
    oreq.cookie_mode = CONF_KEY_ALL;
    cache_forward_init(&fwd, NULL, &oreq);
    assert_string_equal(filtered(&pool, &fwd, jar, 1), "cookie: theme=dark; session=abc; tracker=1; lang=fr; session=second\n");
    assert_string_equal(filtered(&pool, &fwd, "Cookie: Session=1; a", 1), "cookie: Session=1; a\n");
    cache_forward_dispose(&fwd);
    oreq.cookie_mode = CONF_KEY_LIST;
    cache_forward_init(&fwd, NULL, &oreq);
    assert_string_equal(filtered(&pool, &fwd, "Cookie: Theme=1; theme=2", 1), "cookie: theme=2\n");
    cache_forward_dispose(&fwd);

    /* `cookie` listed as a header: the lines go as they are */
    static char *with_cookie[] = {"cookie"};
    oreq = (conf_origin_request_t){1, {with_cookie, 1}, CONF_KEY_NONE, {NULL, 0}};
    cache_forward_init(&fwd, NULL, &oreq);
    assert_string_equal(filtered(&pool, &fwd, jar, 1),
                        "cookie: theme=dark; session=abc;  tracker=1 ;lang=fr\ncookie: session=second\n");
    cache_forward_dispose(&fwd);
    h2o_mem_clear_pool(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_key_and_origin_request),
        cmocka_unit_test(test_cookies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
