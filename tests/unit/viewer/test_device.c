/* tests/unit/viewer/test_device.c - the User-Agent classifier of the CloudFront-Is-*-Viewer headers, on a table of real
 * User-Agent strings (browsers, phones, tablets, TVs, bots, tools) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "viewer/device.h"

enum {
    D = VIEWER_DEVICE_DESKTOP,
    M = VIEWER_DEVICE_MOBILE,
    T = VIEWER_DEVICE_TABLET,
    TV = VIEWER_DEVICE_SMARTTV,
    A = VIEWER_DEVICE_ANDROID,
    I = VIEWER_DEVICE_IOS
};

static const struct {
    const char *ua;
    unsigned want;
} table[] = {
    /* desktops */
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", D},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", D},
    {"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0", D},
    {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", D},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 "
     "Edg/120.0.0.0",
     D},
    {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", D},
    {"Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2; Tablet PC 2.0)", D}, /* a Windows laptop */
    {"curl/7.88.1", D},
    {"Wget/1.21.3", D},
    {"python-requests/2.31.0", D},
    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", D},
    {"", D},
    /* phones */
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
     "Safari/604.1",
     M | I},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 "
     "Mobile/15E148 Safari/604.1",
     M | I},
    {"Mozilla/5.0 (iPod touch; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 "
     "Mobile/15E148 Safari/604.1",
     M | I},
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", M | A},
    {"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile "
     "Safari/537.36",
     M | A},
    {"Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0", M | A},
    {"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
     M | A},
    {"Mozilla/5.0 (BB10; Touch) AppleWebKit/537.35+ (KHTML, like Gecko) Version/10.3.3.2205 Mobile Safari/537.35+", M},
    {"Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54", M},
    {"Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5", M | A},
    {"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile "
     "Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     M | A},
    /* tablets (an iPad's Safari says Mobile: MOBILE and TABLET, as CloudFront does for some tablets) */
    {"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 "
     "Safari/604.1",
     M | T | I},
    {"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", T | A},
    {"Mozilla/5.0 (Linux; Android 12; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", T | A},
    {"Mozilla/5.0 (Android 13; Tablet; rv:120.0) Gecko/120.0 Firefox/120.0", T | A},
    {"Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/119.3.1 like Chrome/119.0.6045.193 "
     "Safari/537.36",
     T | A},
    {"Mozilla/5.0 (Linux; U; en-US) AppleWebKit/528.5+ (KHTML, like Gecko, Safari/528.5+) Version/4.0 Kindle/3.0 (screen 600x800; "
     "rotate)",
     T},
    {"Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML, like Gecko) Version/7.2.1.0 Safari/536.2+",
     T},
    /* TVs and TV sticks: neither mobile nor tablet, whatever Android says */
    {"Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36", TV},
    {"Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
     TV},
    {"Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.5615.213 Mobile "
     "Safari/537.36",
     TV | A},
    {"Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 CrKey/1.56.500000", TV},
    {"Roku/DVP-12.5 (12.5.0.4174-AE)", TV},
    {"AppleTV11,1/11.1", TV},
    {"Mozilla/5.0 (Linux; Android 10; BRAVIA 4K VH2 Build/QTG3.200305.006.S292) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/114.0.5735.196 Safari/537.36",
     TV | A},
    {"HbbTV/1.4.1 (+DRM;Samsung;SmartTV2020;T-KSU2EDEUC-1506.0;;) Tizen/5.5 (+TVPLUS+SmartHubLink) Chrome/69 LaTivu_1.0.1_2020",
     TV},
    {"Mozilla/5.0 (Linux; NetCast; U) AppleWebKit/537.31 (KHTML, like Gecko) Safari/537.31 SmartTV/7.0", TV},
};

static void test_table(void **state)
{
    int bad = 0;
    for (size_t i = 0; i != sizeof(table) / sizeof(table[0]); ++i) {
        unsigned got = viewer_device_classify(table[i].ua, strlen(table[i].ua));
        if (got != table[i].want) {
            fprintf(stderr, "row %zu: got 0x%x, want 0x%x: %s\n", i, got, table[i].want, table[i].ua);
            ++bad;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_case_and_bounds(void **state)
{
    /* words match in any case */
    assert_int_equal(viewer_device_classify("MOZILLA (IPHONE; MOBILE)", 24), M | I);
    /* no User-Agent at all: a desktop */
    assert_int_equal(viewer_device_classify(NULL, 0), D);
    /* a word cut by the length given is not seen */
    assert_int_equal(viewer_device_classify("x iPhone", 5), D);
    /* only the first VIEWER_DEVICE_UA_MAX bytes are read: a word beyond them does not count */
    size_t n = VIEWER_DEVICE_UA_MAX + 64;
    char *ua = malloc(n);
    memset(ua, 'x', n);
    memcpy(ua + VIEWER_DEVICE_UA_MAX + 8, "iPhone", 6);
    assert_int_equal(viewer_device_classify(ua, n), D);
    memcpy(ua + 8, "iPhone", 6);
    assert_int_equal(viewer_device_classify(ua, n), M | I);
    /* a word that runs past the end is not read past it */
    memcpy(ua + n - 3, "iPh", 3);
    assert_int_equal(viewer_device_classify(ua + n - 3, 3), D);
    free(ua);
    /* any bytes: exactly one of desktop or (mobile, tablet, tv); tv excludes mobile and tablet */
    static const char alphabet[] = "iPadmobiTVandroidKindle; AFT\x01\xff";
    unsigned char buf[64];
    srand(7);
    for (int round = 0; round != 20000; ++round) {
        for (size_t i = 0; i != sizeof(buf); ++i)
            buf[i] = (unsigned char)alphabet[rand() % (sizeof(alphabet) - 1)];
        unsigned f = viewer_device_classify((const char *)buf, sizeof(buf));
        int other = (f & (M | T | TV)) != 0;
        assert_true(((f & D) != 0) != other);
        assert_false((f & TV) && (f & (M | T)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_case_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
