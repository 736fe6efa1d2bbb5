/* tests/unit/conf/test_cfheaders.c - the CloudFront-* header names: the table, the geoip: section, and what a behavior's lists
 * make it generate (cache.key.headers and origin_request.headers), with the refusals and their FILE:LINE */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/cfheaders.h"
#include "conf/config.h"

static void test_table(void **state)
{
    /* every name is found again, in any case, and starts with the reserved prefix */
    for (int i = 0; i != CONF_CF_NUM; ++i) {
        char lower[64];
        size_t n = conf_cf_headers[i].len;
        assert_true(n < sizeof(lower) && n == strlen(conf_cf_headers[i].name));
        for (size_t k = 0; k != n; ++k)
            lower[k] = (char)(conf_cf_headers[i].name[k] | 0x20);
        assert_int_equal(conf_cf_header_find(lower, n), i);
        assert_true(conf_cf_is_reserved(conf_cf_headers[i].name, n));
    }
    assert_int_equal(conf_cf_header_find("CloudFront-Viewer-Contry", 24), -1);
    assert_true(conf_cf_is_reserved("CLOUDFRONT-anything", 19));
    assert_false(conf_cf_is_reserved("cloudfront-", 11)); /* the prefix alone names nothing */
    assert_false(conf_cf_is_reserved("x-cloudfront-a", 14));
    assert_int_equal(conf_cf_geo_mask() & CONF_CF_BIT(CONF_CF_COUNTRY), CONF_CF_BIT(CONF_CF_COUNTRY));
    assert_int_equal(conf_cf_geo_mask() & CONF_CF_BIT(CONF_CF_IS_MOBILE), 0);
}

static conf_t *load(const char *yaml, char *err)
{
    return conf_load_string("t.yaml", yaml, strlen(yaml), err, CONF_ERRBUF_SIZE);
}

#define HEAD                                                                                                                       \
    "listen: {port: 8080}\n"                                                                                                       \
    "origins: {web: {type: http, url: \"http://127.0.0.1:9000\"}}\n"

static void test_masks(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    char yaml[2048];
    const char *db = "tests/data/geoip/make_mmdb.pl"; /* readable: the loader checks only that (the proxy opens it) */
    snprintf(yaml, sizeof(yaml),
             HEAD "geoip: {database: %s}\n"
                  "behaviors:\n"
                  "  - path: /a\n"
                  "    origin: web\n"
                  "    cache: {key: {headers: [CloudFront-Viewer-Country, accept]}}\n"
                  "    origin_request: {headers: [cloudfront-is-mobile-viewer, CLOUDFRONT-VIEWER-TLS, user-agent]}\n"
                  "  - {path: \"*\", origin: web}\n",
             db);
    conf_t *c = load(yaml, err);
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->geoip.database, db);
    assert_null(c->geoip.asn_database);
    assert_int_equal(c->geoip.line, 3);
    assert_int_equal(c->behaviors[0].cf_headers,
                     CONF_CF_BIT(CONF_CF_COUNTRY) | CONF_CF_BIT(CONF_CF_IS_MOBILE) | CONF_CF_BIT(CONF_CF_TLS));
    /* the names stay in the lists (lower-cased): that is what forwards them */
    assert_string_equal(c->behaviors[0].origin_request.headers.names[1], "cloudfront-viewer-tls");
    assert_int_equal(c->behaviors[1].cf_headers, 0);
    conf_free(c);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {HEAD "behaviors:\n  - {path: \"*\", origin: web, origin_request: {headers: [accept, CloudFront-Viewer-Foo]}}\n",
         "t.yaml:4: behaviors[0].origin_request.headers: \"CloudFront-Viewer-Foo\" is not a CloudFront header edgehook generates"},
        {HEAD "behaviors:\n  - path: \"*\"\n    origin: web\n    cache: {key: {headers: [cloudfront-viewer-address]}}\n",
         "t.yaml:6: behaviors[0].cache.key.headers: CloudFront-Viewer-Address can be in origin_request.headers, not in the cache "
         "key"},
        {HEAD
         "behaviors:\n  - path: \"*\"\n    origin: web\n    origin_request:\n      headers:\n        - CloudFront-Viewer-City\n",
         "t.yaml:8: behaviors[0].origin_request.headers: CloudFront-Viewer-City needs a geo database: geoip: {database: "
         "FILE.mmdb}"},
        {HEAD "geoip: {database: /nonexistent.mmdb}\nbehaviors: [{path: \"*\", origin: web}]\n",
         "t.yaml:3: geoip.database: cannot read \"/nonexistent.mmdb\""},
        {HEAD "geoip: {asn_database: /x}\nbehaviors: [{path: \"*\", origin: web}]\n", "t.yaml:3: geoip: database is required"},
        {HEAD "geoip: {database: tests/data/geoip/make_mmdb.pl, city: x}\nbehaviors: [{path: \"*\", origin: web}]\n",
         "t.yaml:3: geoip.city: unknown key"},
    };
    char err[CONF_ERRBUF_SIZE];
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        conf_t *c = load(cases[i].yaml, err);
        if (c != NULL || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu:\n   got: %s\n  want: %s", i, c != NULL ? "(loaded)" : err, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
