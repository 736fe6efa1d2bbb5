/* tests/unit/viewer/test_geoip.c - geo lookups and the formatting of their values as CloudFront writes them; the databases are
 * written by the test itself (tests/data/geoip/make_mmdb.pl, Debian's libmaxmind-db-writer-perl) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "viewer/geoip.h"

static char dir[64], city_path[128], asn_path[128];

static void test_encode_name(void **state)
{
    char out[32];
    /* ASCII as is; non-ASCII bytes, control bytes and % percent-encoded (RFC 3986) */
    assert_int_equal(viewer_geo_encode_name("Seattle", 7, out, sizeof(out)), 7);
    assert_string_equal(out, "Seattle");
    viewer_geo_encode_name("S\xc3\xa3o Paulo", 10, out, sizeof(out));
    assert_string_equal(out, "S%C3%A3o Paulo");
    viewer_geo_encode_name("a%b\n", 4, out, sizeof(out));
    assert_string_equal(out, "a%25b%0A");
    /* cut where it fits, never inside an escape */
    assert_int_equal(viewer_geo_encode_name("ab\xc3\xa3", 4, out, 6), 5);
    assert_string_equal(out, "ab%C3");
    assert_int_equal(viewer_geo_encode_name("ab\xc3\xa3", 4, out, 5), 2);
    assert_string_equal(out, "ab");
}

static void test_coordinates(void **state)
{
    char out[24];
    /* five decimals, as CloudFront writes them */
    viewer_geo_format_coordinate(47.6062, out, sizeof(out));
    assert_string_equal(out, "47.60620");
    viewer_geo_format_coordinate(-122.3321, out, sizeof(out));
    assert_string_equal(out, "-122.33210");
    viewer_geo_format_coordinate(0, out, sizeof(out));
    assert_string_equal(out, "0.00000");
    assert_int_equal(viewer_geo_format_coordinate(0.0 / 0.0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(viewer_geo_format_coordinate(1.5, out, 4), 0); /* does not fit */
}

static int make_dbs(void)
{
    char cmd[512];
    const char *data = getenv("EDGE_TESTDATA") != NULL ? getenv("EDGE_TESTDATA") : "tests/data";
    snprintf(dir, sizeof(dir), "/tmp/edge-geoip-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(city_path, sizeof(city_path), "%s/city.mmdb", dir);
    snprintf(asn_path, sizeof(asn_path), "%s/asn.mmdb", dir);
    snprintf(cmd, sizeof(cmd), "perl %s/geoip/make_mmdb.pl %s %s", data, city_path, asn_path);
    return system(cmd) == 0 ? 0 : -1;
}

static void sa4(struct sockaddr_in *s, const char *ip)
{
    memset(s, 0, sizeof(*s));
    s->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &s->sin_addr);
}

static void sa6(struct sockaddr_in6 *s, const char *ip)
{
    memset(s, 0, sizeof(*s));
    s->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &s->sin6_addr);
}

static void test_lookup(void **state)
{
    char err[256];
    viewer_geo_result_t r;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    unsigned all = ~0u;
    if (!viewer_geo_available()) {
        assert_null(viewer_geo_open("x", NULL, err, sizeof(err)));
        assert_non_null(strstr(err, "without libmaxminddb"));
        fprintf(stderr, "skipped: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)\n");
        skip();
    }
    if (make_dbs() != 0) {
        fprintf(stderr, "skipped: tests/data/geoip/make_mmdb.pl could not write the test databases (Debian: "
                        "libmaxmind-db-writer-perl)\n");
        skip();
    }
    viewer_geo_t *g = viewer_geo_open(city_path, asn_path, err, sizeof(err));
    assert_non_null(g);
    sa4(&v4, "127.0.0.1");
    unsigned got = viewer_geo_lookup(g, (struct sockaddr *)&v4, all, &r);
    assert_int_equal(got, r.found);
    assert_int_equal(got, all & ~VIEWER_GEO_METRO_CODE & 0x7ff); /* all but the metro code, which is US only */
    assert_string_equal(r.country, "BR");
    assert_string_equal(r.country_name, "Brazil");
    assert_string_equal(r.region, "SP");
    assert_string_equal(r.region_name, "S%C3%A3o Paulo");
    assert_string_equal(r.city, "S%C3%A3o Paulo");
    assert_string_equal(r.postal_code, "01000");
    assert_string_equal(r.latitude, "-23.54750");
    assert_string_equal(r.longitude, "-46.63611");
    assert_string_equal(r.time_zone, "America/Sao_Paulo");
    assert_string_equal(r.asn, "64500");
    assert_false(r.found & VIEWER_GEO_METRO_CODE); /* not in the US */
    /* only what is asked is looked for */
    assert_int_equal(viewer_geo_lookup(g, (struct sockaddr *)&v4, VIEWER_GEO_COUNTRY, &r), VIEWER_GEO_COUNTRY);
    /* a network without city or region: those are not found */
    sa4(&v4, "127.0.0.2");
    unsigned f = viewer_geo_lookup(g, (struct sockaddr *)&v4, all, &r);
    assert_string_equal(r.country, "DE");
    assert_false(f & (VIEWER_GEO_CITY | VIEWER_GEO_REGION | VIEWER_GEO_REGION_NAME | VIEWER_GEO_POSTAL_CODE));
    assert_string_equal(r.asn, "64501");
    /* IPv6, and an IPv4-mapped IPv6 address looked up as IPv4 */
    sa6(&v6, "::1");
    viewer_geo_lookup(g, (struct sockaddr *)&v6, all, &r);
    assert_string_equal(r.country, "US");
    assert_string_equal(r.metro_code, "819");
    assert_string_equal(r.latitude, "47.60620");
    assert_string_equal(r.longitude, "-122.33210");
    assert_string_equal(r.asn, "64502");
    sa6(&v6, "::ffff:127.0.0.1");
    viewer_geo_lookup(g, (struct sockaddr *)&v6, VIEWER_GEO_COUNTRY, &r);
    assert_string_equal(r.country, "BR");
    /* an address in no network */
    sa4(&v4, "10.1.2.3");
    assert_int_equal(viewer_geo_lookup(g, (struct sockaddr *)&v4, all, &r), 0);
    /* without the ASN database, the ASN comes from the city database, which has none here */
    viewer_geo_t *g2 = viewer_geo_open(city_path, NULL, err, sizeof(err));
    assert_non_null(g2);
    sa4(&v4, "127.0.0.1");
    assert_int_equal(viewer_geo_lookup(g2, (struct sockaddr *)&v4, VIEWER_GEO_ASN | VIEWER_GEO_COUNTRY, &r), VIEWER_GEO_COUNTRY);
    viewer_geo_release(g2);
    /* shared: the last release closes it */
    viewer_geo_addref(g);
    viewer_geo_release(g);
    viewer_geo_release(g);
}

static void test_open_errors(void **state)
{
    char err[256], path[160];
    if (!viewer_geo_available()) {
        fprintf(stderr, "skipped: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)\n");
        skip();
    }
    assert_null(viewer_geo_open("/nonexistent/x.mmdb", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/x.mmdb: "));
    /* a file that is not a MaxMind DB */
    snprintf(path, sizeof(path), "/tmp/edge-geoip-bad-%d.mmdb", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a database\n", f);
    fclose(f);
    assert_null(viewer_geo_open(path, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    unlink(path);
}

static int teardown(void **state)
{
    if (dir[0] != '\0') {
        unlink(city_path);
        unlink(asn_path);
        rmdir(dir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_name),
        cmocka_unit_test(test_coordinates),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
