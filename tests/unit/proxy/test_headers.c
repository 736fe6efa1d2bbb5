/* tests/unit/proxy/test_headers.c - hop-by-hop header rules (RFC 9110 section 7.6.1), Content-Length parsing, and the headers a
 * fill sends to the origin (Host, X-Forwarded-For, Via, X-Forwarded-Proto). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "proxy/fill.h"
#include "proxy/headers.h"
#include "proxy/parents.h"

static h2o_mem_pool_t pool;

static void add(h2o_headers_t *h, const char *name, const char *value)
{
    headers_add(&pool, h, h2o_strdup(&pool, name, SIZE_MAX).base, strlen(name), h2o_strdup(&pool, value, SIZE_MAX));
}

static int name_is_hbh(const char *name, const headers_connection_list_t *conn)
{
    h2o_iovec_t n = h2o_iovec_init(name, strlen(name));
    return headers_is_hop_by_hop(&n, conn);
}

static void test_hop_by_hop_fixed_and_connection_named(void **state)
{
    h2o_headers_t h = {NULL, 0, 0};
    headers_connection_list_t conn;
    add(&h, "connection", "keep-alive, X-Private ,  foo,bar");
    add(&h, "connection", "Upgrade");
    headers_connection_tokens(&h, &conn);
    assert_int_equal(conn.count, 5);
    const char *hbh[] = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer",
                         "proxy-authenticate", "proxy-authorization", "x-private", "X-PRIVATE", "foo", "bar"};
    for (size_t i = 0; i != sizeof(hbh) / sizeof(hbh[0]); ++i)
        assert_true(name_is_hbh(hbh[i], &conn));
    const char *kept[] = {"content-type", "x-keep", "authorization", "cookie", "via", "x-forwarded-for"};
    for (size_t i = 0; i != sizeof(kept) / sizeof(kept[0]); ++i)
        assert_false(name_is_hbh(kept[i], &conn));
    assert_false(name_is_hbh("x-private", NULL));
}

static void test_connection_overflow_is_safe(void **state)
{
    h2o_headers_t h = {NULL, 0, 0};
    headers_connection_list_t conn;
    add(&h, "connection", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s");
    headers_connection_tokens(&h, &conn);
    assert_true(conn.overflow);
    assert_true(name_is_hbh("x-unknown-header", &conn)); /* too many names: drop every non-standard header */
    assert_false(headers_is_hop_by_hop(&H2O_TOKEN_CONTENT_TYPE->buf, &conn));
}

static void test_content_length(void **state)
{
    struct {
        const char *s;
        int64_t v;
    } t[] = {{"0", 0}, {"123", 123}, {" 42 ", 42}, {"", -1}, {"-1", -1}, {"+5", -1}, {"1 2", -1}, {"12a", -1},
             {"9223372036854775807", INT64_MAX}, {"9223372036854775808", -1}, {"99999999999999999999", -1}};
    for (size_t i = 0; i != sizeof(t) / sizeof(t[0]); ++i)
        assert_int_equal(headers_parse_content_length(h2o_iovec_init(t[i].s, strlen(t[i].s))), t[i].v);
}

static void test_origin_request_headers(void **state)
{
    h2o_headers_t in = {NULL, 0, 0}, out = {NULL, 0, 0};
    origin_t o = {0};
    fill_request_t fr = {0};
    o.host_header = h2o_iovec_init(H2O_STRLIT("origin.example:8080"));
    add(&in, "connection", "x-drop");
    add(&in, "x-drop", "1");
    add(&in, "te", "trailers");
    add(&in, "x-forwarded-for", "10.0.0.1, 10.0.0.2");
    add(&in, "via", "1.1 upstream");
    add(&in, "x-forwarded-proto", "https");
    add(&in, "accept", "*/*");
    fr.headers = &in;
    fr.client_ip = h2o_iovec_init(H2O_STRLIT("192.0.2.7"));
    fr.client_https = 0;
    parents_set_node_name("edge-a", 0);
    fill_build_origin_headers(&pool, &o, &fr, &out);
    assert_ptr_equal(out.entries[0].name, &H2O_TOKEN_HOST->buf);
    assert_memory_equal(out.entries[0].value.base, "origin.example:8080", out.entries[0].value.len);
    assert_int_equal(h2o_find_header(&out, H2O_TOKEN_CONNECTION, -1), -1);
    assert_int_equal(h2o_find_header(&out, H2O_TOKEN_TE, -1), -1);
    assert_int_equal(h2o_find_header_by_str(&out, H2O_STRLIT("x-drop"), -1), -1);
    h2o_iovec_t xff = headers_get(&out, H2O_TOKEN_X_FORWARDED_FOR), via = headers_get(&out, H2O_TOKEN_VIA),
                xfp = headers_get_str(&out, H2O_STRLIT("x-forwarded-proto"));
    assert_int_equal(xff.len, strlen("10.0.0.1, 10.0.0.2, 192.0.2.7"));
    assert_memory_equal(xff.base, "10.0.0.1, 10.0.0.2, 192.0.2.7", xff.len);
    assert_int_equal(via.len, strlen("1.1 upstream, 1.1 edge-a (edgehook)"));
    assert_memory_equal(via.base, "1.1 upstream, 1.1 edge-a (edgehook)", via.len);
    assert_int_equal(xfp.len, 4); /* the client spoke plain http to us; its own X-Forwarded-Proto is not trusted */
    assert_non_null(headers_get(&out, H2O_TOKEN_ACCEPT).base);
}

/* the viewer address as Lambda@Edge's clientIp and X-Forwarded-For carry it: dotted decimal, no leading zeros */
static void test_format_ipv4(void **state)
{
    static const struct {
        uint8_t a[4];
        const char *text;
    } rows[] = {{{127, 0, 0, 1}, "127.0.0.1"},       {{0, 0, 0, 0}, "0.0.0.0"},        {{10, 20, 99, 100}, "10.20.99.100"},
                {{255, 255, 255, 255}, "255.255.255.255"}, {{192, 168, 9, 10}, "192.168.9.10"}, {{1, 2, 3, 4}, "1.2.3.4"}};
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        char buf[16];
        size_t n = headers_format_ipv4(rows[i].a, buf);
        assert_int_equal(n, strlen(rows[i].text));
        assert_memory_equal(buf, rows[i].text, n);
    }
}

int main(void)
{
    h2o_mem_init_pool(&pool);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hop_by_hop_fixed_and_connection_named),
        cmocka_unit_test(test_connection_overflow_is_safe),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_format_ipv4),
        cmocka_unit_test(test_origin_request_headers),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    h2o_mem_clear_pool(&pool);
    return r;
}
