/* bench/cfheaders_bench.c - what the CloudFront-* headers cost a request: the User-Agent classifier (viewer/device.c) on real
 * User-Agents, and a geo lookup of every field (viewer/geoip.c) in the test databases (tests/data/geoip/make_mmdb.pl: /32 and
 * /128 networks, so a lookup walks the whole depth of the tree, as the deepest lookups in a GeoLite2 database do). A measuring
 * tool, not a test: it asserts no time. Build and run from the repository root (libmaxminddb-dev, libmaxmind-db-writer-perl):
 *
 *   perl tests/data/geoip/make_mmdb.pl /tmp/city.mmdb /tmp/asn.mmdb
 *   cc -O2 -I. -DEDGE_HAVE_MAXMINDDB -o build/cfheaders_bench bench/cfheaders_bench.c viewer/device.c viewer/geoip.c \
 *      -lmaxminddb -lpthread && build/cfheaders_bench /tmp/city.mmdb /tmp/asn.mmdb [ROUNDS]
 *
 * Each case runs ROUNDS times (default 1,000,000), best of 5 runs; it prints ns per operation. A real GeoLite2-City database
 * (about 70 MB, mmap'd) gives the lookup to the page cache: the first lookups of a cold file cost page faults, not this.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "viewer/device.h"
#include "viewer/geoip.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile unsigned sink;

int main(int argc, char **argv)
{
    static const char *uas[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
        "Chrome/115.0.0.0 Mobile Safari/537.36",
    };
    char err[256];
    long rounds = argc > 3 ? atol(argv[3]) : 1000000;
    if (argc < 3) {
        fprintf(stderr, "usage: %s CITY.mmdb ASN.mmdb [ROUNDS]\n", argv[0]);
        return 2;
    }
    for (size_t u = 0; u != sizeof(uas) / sizeof(uas[0]); ++u) {
        double best = 1e18;
        size_t len = strlen(uas[u]);
        for (int run = 0; run != 5; ++run) {
            double t0 = now_ns();
            for (long i = 0; i != rounds; ++i)
                sink += viewer_device_classify(uas[u], len);
            double t = (now_ns() - t0) / rounds;
            best = t < best ? t : best;
        }
        printf("classify %3zu-byte User-Agent: %6.1f ns\n", len, best);
    }
    viewer_geo_t *g = viewer_geo_open(argv[1], argv[2], err, sizeof(err));
    if (g == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    static const struct {
        const char *what;
        unsigned want;
    } cases[] = {{"country", VIEWER_GEO_COUNTRY}, {"every city field", 0x3ff}, {"every field, ASN database too", 0x7ff}};
    for (int fam = 0; fam != 2; ++fam) {
        for (size_t c = 0; c != sizeof(cases) / sizeof(cases[0]); ++c) {
            double best = 1e18;
            viewer_geo_result_t r;
            for (int run = 0; run != 5; ++run) {
                double t0 = now_ns();
                for (long i = 0; i != rounds; ++i)
                    sink += viewer_geo_lookup(g, fam == 0 ? (struct sockaddr *)&v4 : (struct sockaddr *)&v6, cases[c].want, &r);
                double t = (now_ns() - t0) / rounds;
                best = t < best ? t : best;
            }
            printf("geo lookup, %s, %s: %6.1f ns\n", fam == 0 ? "IPv4" : "IPv6", cases[c].what, best);
        }
    }
    viewer_geo_release(g);
    return 0;
}
