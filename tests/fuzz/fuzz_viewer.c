/* tests/fuzz/fuzz_viewer.c - libFuzzer target: the User-Agent classifier (viewer/device.c) and the geo name encoder
 * (viewer/geoip.c) of the CloudFront-* headers
 *
 * Properties: no crash, overread or UB for any bytes; exactly one of DESKTOP or (MOBILE, TABLET, SMARTTV); SMARTTV excludes
 * MOBILE and TABLET; only the first VIEWER_DEVICE_UA_MAX bytes count; ASCII case does not matter. The encoded name is printable
 * ASCII without a bare `%`, decodes back to a prefix of the input cut at a byte boundary, and fits its buffer.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tests/fuzz/fuzz_check.h"
#include "viewer/device.h"
#include "viewer/geoip.h"

static void check_device(const char *ua, size_t len)
{
    unsigned f = viewer_device_classify(ua, len);
    int other = (f & (VIEWER_DEVICE_MOBILE | VIEWER_DEVICE_TABLET | VIEWER_DEVICE_SMARTTV)) != 0;
    FUZZ_CHECK(((f & VIEWER_DEVICE_DESKTOP) != 0) != other, "desktop and another kind, or neither: 0x%x", f);
    FUZZ_CHECK(!((f & VIEWER_DEVICE_SMARTTV) && (f & (VIEWER_DEVICE_MOBILE | VIEWER_DEVICE_TABLET))), "a TV that is mobile: 0x%x",
               f);
    FUZZ_CHECK(f < 64, "an unknown flag: 0x%x", f);
    if (len > VIEWER_DEVICE_UA_MAX)
        FUZZ_CHECK(viewer_device_classify(ua, VIEWER_DEVICE_UA_MAX) == f, "bytes past the limit counted");
    char *up = malloc(len + 1);
    for (size_t i = 0; i != len; ++i)
        up[i] = (char)toupper((unsigned char)ua[i]);
    FUZZ_CHECK(viewer_device_classify(up, len) == f, "case changed the answer");
    free(up);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_name(const char *s, size_t len, size_t cap)
{
    char *out = malloc(cap + 1);
    out[cap] = 'Z'; /* a guard past the buffer */
    size_t n = viewer_geo_encode_name(s, len, out, cap);
    FUZZ_CHECK(out[cap] == 'Z', "wrote past the buffer");
    if (cap == 0) {
        FUZZ_CHECK(n == 0, "wrote into an empty buffer");
        free(out);
        return;
    }
    FUZZ_CHECK(n < cap && out[n] == '\0' && strlen(out) == n, "bad length %zu of %zu", n, cap);
    size_t j = 0;
    for (size_t i = 0; i != n; ++i, ++j) {
        unsigned char c = (unsigned char)out[i];
        FUZZ_CHECK(c >= 0x20 && c <= 0x7e, "a byte 0x%02x in the output", c);
        int b = c;
        if (c == '%') {
            FUZZ_CHECK(i + 2 < n && hexval(out[i + 1]) >= 0 && hexval(out[i + 2]) >= 0, "a bare %%");
            b = hexval(out[i + 1]) * 16 + hexval(out[i + 2]);
            i += 2;
        }
        FUZZ_CHECK(j < len && (unsigned char)s[j] == b, "does not decode to the input at %zu", j);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_device((const char *)data, size);
    check_name((const char *)data, size, size == 0 ? 0 : data[0] % 64);
    check_name((const char *)data, size, size * 3 + 1); /* room for all: the whole input */
    return 0;
}
