/* tests/unit/proxy/test_cfheaders.c - a viewer's CloudFront-* fields are dropped (any case, wherever they are in the list, the
 * rest kept in order), and the HTTP version is written as CloudFront writes it */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "proxy/cfheaders.h"

static void test_strip(void **state)
{
    h2o_mem_pool_t pool;
    h2o_headers_t h = {NULL, 0, 0};
    h2o_mem_init_pool(&pool);
    h2o_add_header_by_str(&pool, &h, H2O_STRLIT("cloudfront-viewer-country"), 0, "CloudFront-Viewer-Country", H2O_STRLIT("XX"));
    h2o_add_header(&pool, &h, H2O_TOKEN_ACCEPT, NULL, H2O_STRLIT("*/*"));
    h2o_add_header_by_str(&pool, &h, H2O_STRLIT("CLOUDFRONT-IS-MOBILE-VIEWER"), 0, NULL, H2O_STRLIT("true"));
    h2o_add_header_by_str(&pool, &h, H2O_STRLIT("cloudfront-viewer-whatever"), 0, NULL, H2O_STRLIT("1"));
    h2o_add_header_by_str(&pool, &h, H2O_STRLIT("x-cloudfront-viewer-country"), 0, NULL, H2O_STRLIT("kept"));
    h2o_add_header(&pool, &h, H2O_TOKEN_USER_AGENT, NULL, H2O_STRLIT("curl"));
    h2o_add_header_by_str(&pool, &h, H2O_STRLIT("cloudfront-forwarded-proto"), 0, NULL, H2O_STRLIT("https"));
    assert_int_equal(cfheaders_strip(&h), 4);
    assert_int_equal(h.size, 3);
    assert_ptr_equal(h.entries[0].name, &H2O_TOKEN_ACCEPT->buf);
    assert_memory_equal(h.entries[1].name->base, "x-cloudfront-viewer-country", 27);
    assert_ptr_equal(h.entries[2].name, &H2O_TOKEN_USER_AGENT->buf);
    assert_int_equal(cfheaders_strip(&h), 0);
    h2o_mem_clear_pool(&pool);
}

static void test_http_version(void **state)
{
    char buf[8];
    assert_int_equal(cfheaders_http_version(0x100, buf), 3);
    assert_string_equal(buf, "1.0");
    cfheaders_http_version(0x101, buf);
    assert_string_equal(buf, "1.1");
    cfheaders_http_version(0x200, buf);
    assert_string_equal(buf, "2.0");
    cfheaders_http_version(0x300, buf);
    assert_string_equal(buf, "3.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strip),
        cmocka_unit_test(test_http_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
