/* tests/fuzz/fuzz_path.c - libFuzzer target: the request-target normaliser and the raw HTTP/1 head check (proxy/reqcheck.c)
 *
 * Properties: no crash, overread or UB for any bytes; an accepted target is in normal form - it starts with `/`, holds no `//`,
 * no `.` or `..` segment, no `\`, no control, space, `#` or non-ASCII byte, no `%` of an unreserved character or of `/` - and
 * normalising it again gives the same bytes (idempotent); the output never outgrows the input; the head check is total.
 * The first input byte picks the flags; the rest is the target (and, for the head check, the whole input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/reqcheck.h"
#include "tests/fuzz/fuzz_check.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void check_normal(const char *p, size_t len, size_t query_at, int flags)
{
    size_t plen = query_at != (size_t)-1 ? query_at : len;
    FUZZ_CHECK(plen >= 1 && p[0] == '/', "a path that does not start with /");
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)p[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#', "a forbidden byte 0x%02x at %zu", c, i);
    }
    for (size_t i = 0; i != plen; ++i) {
        FUZZ_CHECK(p[i] != '\\', "a backslash in the path");
        FUZZ_CHECK(!(p[i] == ';' && !(flags & REQCHECK_ALLOW_PARAMS)), "a ; in the path");
        if (p[i] == '/') {
            FUZZ_CHECK(i + 1 == plen || p[i + 1] != '/', "// in the path");
            size_t e = i + 1;
            while (e != plen && p[e] != '/')
                ++e;
            FUZZ_CHECK(!(e - i - 1 == 1 && p[i + 1] == '.'), "a . segment");
            FUZZ_CHECK(!(e - i - 1 == 2 && p[i + 1] == '.' && p[i + 2] == '.'), "a .. segment");
        }
        if (p[i] == '%') {
            FUZZ_CHECK(i + 2 < plen, "a short %% escape");
            int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0 && !(p[i + 1] >= 'a') && !(p[i + 2] >= 'a'), "a %% escape not in upper-case hex");
            int v = hi << 4 | lo;
            FUZZ_CHECK(!((v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') || v == '-' || v == '.' ||
                         v == '_' || v == '~'),
                       "an escaped unreserved character");
            FUZZ_CHECK(v != '/' && v != '\\' && v >= 0x20 && v != 0x7f, "an escaped separator or control");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *reason = NULL;
    if (size == 0)
        return 0;
    int flags = data[0] & 3;
    const char *src = (const char *)data + 1;
    size_t len = size - 1;
    char *dst = malloc(len + 1), *again = malloc(len + 1);
    reqcheck_target_t t, t2;

    (void)reqcheck_http1_head((const char *)data, size, &reason);
    (void)reqcheck_authority(src, len);
    if (reqcheck_target(src, len, flags, dst, &t, &reason) == 0) {
        FUZZ_CHECK(t.path_len <= (len > 0 ? len : 1), "output %zu longer than input %zu", t.path_len, len);
        FUZZ_CHECK(t.query_at == (size_t)-1 || (t.query_at < t.path_len && dst[t.query_at] == '?'), "query_at");
        FUZZ_CHECK(t.authority == NULL || (t.authority >= src && t.authority + t.authority_len <= src + len), "authority slice");
        check_normal(dst, t.path_len, t.query_at, flags);
        FUZZ_CHECK(reqcheck_target(dst, t.path_len, flags, again, &t2, &reason) == 0, "a normal form refused: %s", reason);
        FUZZ_CHECK(t2.path_len == t.path_len && memcmp(dst, again, t.path_len) == 0, "not idempotent");
    } else {
        FUZZ_CHECK(reason != NULL && reason[0] != '\0', "a refusal without a reason");
    }
    free(dst);
    free(again);
    return 0;
}
