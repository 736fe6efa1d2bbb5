/* tests/fuzz/fuzz_sigv2.c - libFuzzer target: the SigV2 parsers of the store (sigv4/sigv2.c) - the Authorization header, the
 * presigned query, the string to sign - and a sign / parse / verify round trip
 *
 * Input: `AUTHORIZATION \n QUERY \n PATH \n HEADER-NAME \n HEADER-VALUE`. Properties: parsing never overreads and an accepted
 * value yields sane fields; the string to sign is deterministic and bounded; whatever sigv2_sign signs (any path, query,
 * header) the verifier accepts, header and presigned forms, and a changed path is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sigv4/sigv2.h"
#include "tests/fuzz/fuzz_check.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static sigv4_str_t S(fuzz_part_t p)
{
    return (sigv4_str_t){p.base, p.len};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t p[5];
    fuzz_split(data, size, '\n', p, 5);
    sigv2_auth_t a;
    const char *reason = NULL;

    /* the Authorization header */
    int r = sigv2_parse_authorization(S(p[0]), &a, &reason);
    FUZZ_CHECK(reason != NULL, "no reason");
    if (r == 0) {
        FUZZ_CHECK(a.access_key[0] != '\0' && memchr(a.access_key, 0, sizeof(a.access_key)) != NULL, "access key");
        FUZZ_CHECK(memchr(a.signature, 0, sizeof(a.signature)) != NULL && !a.presigned, "signature");
    } else {
        FUZZ_CHECK(r == SIGV4_ERR_MALFORMED, "parse returned %d", r);
    }
    /* the presigned query */
    int is = sigv2_query_is_presigned(S(p[1]));
    r = sigv2_parse_presigned(S(p[1]), &a, &reason);
    if (r == 0) {
        FUZZ_CHECK(is, "parsed as presigned but sigv2_query_is_presigned says no");
        FUZZ_CHECK(a.presigned && a.expires >= 0 && strlen(a.expires_text) != 0, "fields");
    } else {
        FUZZ_CHECK(r == SIGV4_ERR_MISSING || r == SIGV4_ERR_MALFORMED, "presigned parse returned %d", r);
    }
    /* the string to sign: deterministic, bounded */
    sigv4_header_t h[3] = {{S(p[3]), S(p[4])}, {sigv4_cstr("Date"), sigv4_cstr("Tue, 27 Mar 2007 19:36:42 GMT")},
                           {sigv4_cstr("x-amz-meta-a"), S(p[4])}};
    sigv2_request_t req = {sigv4_cstr("GET"), S(p[2]), S(p[1]), sigv4_cstr(p[0].len % 2 ? "bkt" : ""), h, 3};
    for (int v = 0; v < 128; v += 1 + v / 3) {
        sigv4_buf_t b1 = {0}, b2 = {0};
        int r1 = sigv2_string_to_sign(&req, v % 2 ? "123" : NULL, v, &b1), r2 = sigv2_string_to_sign(&req, v % 2 ? "123" : NULL, v, &b2);
        FUZZ_CHECK(r1 == 0 && r2 == 0, "string to sign failed");
        FUZZ_CHECK(b1.len == b2.len && (b1.len == 0 || memcmp(b1.base, b2.base, b1.len) == 0), "not deterministic");
        size_t bound = 64 + 3 * (p[1].len + p[2].len) + 3 * (p[3].len + 2 * p[4].len) + 80;
        FUZZ_CHECK(b1.len <= bound, "string to sign of %zu bytes (bound %zu)", b1.len, bound);
        sigv4_buf_free(&b1);
        sigv4_buf_free(&b2);
    }
    (void)sigv2_check_time(&a, &req, 1175024202, NULL, &reason);

    /* round trip: the header form, then the presigned form (a query without presigned parameters of its own) */
    sigv4_buf_t out = {0};
    FUZZ_CHECK(sigv2_sign(&req, sigv4_cstr(AK), sigv4_cstr(SK), 0, &out) == 0, "sign");
    FUZZ_CHECK(sigv2_parse_authorization((sigv4_str_t){out.base, out.len}, &a, &reason) == 0, "cannot parse own header");
    FUZZ_CHECK(sigv2_verify(&a, &req, sigv4_cstr(SK), NULL) == 0, "own header signature refused: %s", out.base);
    sigv4_buf_free(&out);
    if (!sigv2_query_is_presigned(S(p[1])) && memchr(p[1].base, 0, p[1].len) == NULL) {
        FUZZ_CHECK(sigv2_sign(&req, sigv4_cstr(AK), sigv4_cstr(SK), 2000000000, &out) == 0, "presign");
        sigv2_request_t pre = req;
        pre.query = (sigv4_str_t){out.base, out.len};
        r = sigv2_parse_presigned(pre.query, &a, &reason);
        if (r == 0) { /* a query that already holds Expires (or a doubled name) is ambiguous: refusing it is right */
            FUZZ_CHECK(sigv2_verify(&a, &pre, sigv4_cstr(SK), NULL) == 0, "own presigned URL refused: %s", out.base);
            sigv2_request_t other = pre;
            other.path = sigv4_cstr("/another/path/than/any");
            if (p[2].len != other.path.len || memcmp(p[2].base, other.path.base, p[2].len) != 0)
                FUZZ_CHECK(sigv2_verify(&a, &other, sigv4_cstr(SK), NULL) == SIGV4_ERR_MISMATCH, "another path verifies");
        }
        sigv4_buf_free(&out);
    }
    return 0;
}
