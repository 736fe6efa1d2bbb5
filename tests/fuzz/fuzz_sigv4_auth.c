/* tests/fuzz/fuzz_sigv4_auth.c - libFuzzer target: the SigV4 Authorization header parser of the store (sigv4/sigv4.c), and a
 * sign / parse / verify round trip over the same bytes used as path, query and header values
 *
 * Input: `AUTHORIZATION \n X-AMZ-DATE \n DATE \n ...` (parts split at the first three newlines; the rest is one more header value).
 * Properties: the parser never overreads and, when it accepts, yields NUL-terminated fields and a 64-hex-digit signature; a request
 * the signer (used by the S3 origin client) accepts always verifies with the verifier (used by the store), whatever its path, query
 * and header bytes; one byte changed in the signed path never verifies.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include "sigv4/sigv4.h"
#include "tests/fuzz/fuzz_check.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static sigv4_str_t S(fuzz_part_t p)
{
    return (sigv4_str_t){p.base, p.len};
}

static void check_parsed(const sigv4_auth_t *a)
{
    FUZZ_CHECK(memchr(a->access_key, 0, sizeof(a->access_key)) != NULL, "access key not terminated");
    FUZZ_CHECK(memchr(a->region, 0, sizeof(a->region)) != NULL, "region not terminated");
    FUZZ_CHECK(memchr(a->service, 0, sizeof(a->service)) != NULL, "service not terminated");
    FUZZ_CHECK(memchr(a->signed_headers, 0, sizeof(a->signed_headers)) != NULL, "signed headers not terminated");
    FUZZ_CHECK(strlen(a->signature) == 64, "signature length %zu", strlen(a->signature));
    for (int i = 0; i != 64; ++i)
        FUZZ_CHECK(isdigit((unsigned char)a->signature[i]) || (a->signature[i] >= 'a' && a->signature[i] <= 'f'), "signature %s",
                   a->signature);
    FUZZ_CHECK(strlen(a->date) == 8 && strlen(a->amz_date) == 16, "date %s amz_date %s", a->date, a->amz_date);
    FUZZ_CHECK(!a->presigned, "a header signature marked presigned");
}

/* verifies a (well-formed) parsed header against a fixed request: any verdict, never a crash */
static void verify_fixed(const sigv4_auth_t *a, fuzz_part_t extra)
{
    sigv4_header_t h[4] = {{sigv4_cstr("Host"), sigv4_cstr("example.com")},
                           {sigv4_cstr("x-amz-date"), sigv4_cstr(a->amz_date)},
                           {sigv4_cstr("x-amz-content-sha256"), sigv4_cstr(SIGV4_EMPTY_SHA256)},
                           {sigv4_cstr("x-amz-meta-a"), S(extra)}};
    sigv4_request_t req = {sigv4_cstr("GET"), sigv4_cstr("/b/k"), sigv4_cstr("x=1"), h, 4, sigv4_cstr(SIGV4_EMPTY_SHA256)};
    sigv4_verify_detail_t detail;
    const char *reason = NULL;
    memset(&detail, 0, sizeof(detail));
    int r = sigv4_verify(a, &req, sigv4_cstr(SK), 0, NULL, &detail, &reason);
    FUZZ_CHECK(r == 0 || r == SIGV4_ERR_MISMATCH || r == SIGV4_ERR_MISSING || r == SIGV4_ERR_MALFORMED, "verify returned %d", r);
    sigv4_buf_free(&detail.canonical_request);
    sigv4_buf_free(&detail.string_to_sign);
    const char *why;
    (void)sigv4_check_time(a, a->time, &why);
}

/* what the origin client signs, the store verifies */
static void round_trip(fuzz_part_t path, fuzz_part_t query, fuzz_part_t v1, fuzz_part_t v2)
{
    sigv4_credentials_t cred = {AK, SK, v2.len % 3 == 0 ? NULL : "session-token/with+chars="};
    sigv4_sign_params_t params = {&cred, "us-east-1", "s3", 1700000000 + (time_t)path.len * 86399, 0, 1, 0};
    sigv4_header_t h[6] = {{sigv4_cstr("host"), S(v1)},           {sigv4_cstr("Range"), S(v2)},
                           {sigv4_cstr("x-amz-meta-one"), S(v2)}, {sigv4_cstr("If-None-Match"), S(query)},
                           {sigv4_cstr("x-amz-meta-Two"), S(v1)}, {sigv4_cstr("User-Agent"), S(path)}};
    sigv4_request_t req = {sigv4_cstr("GET"), S(path), S(query), h, 6, sigv4_cstr(SIGV4_EMPTY_SHA256)};
    sigv4_signed_t out;
    memset(&out, 0, sizeof(out));
    if (sigv4_sign(&req, &params, &out) != 0) {
        sigv4_signed_free(&out);
        return;
    }
    /* the request as it goes on the wire: its own headers plus the added ones */
    sigv4_header_t all[10];
    size_t n = 0;
    for (size_t i = 0; i != 6; ++i)
        all[n++] = h[i];
    for (size_t i = 0; i != out.num_add; ++i)
        all[n++] = out.add[i];
    sigv4_str_t authz = {out.authorization.base, out.authorization.len};
    sigv4_auth_t a;
    const char *reason = NULL;
    int r = sigv4_parse_authorization(authz, sigv4_cstr(out.amz_date), sigv4_cstr(NULL), &a, &reason);
    FUZZ_CHECK(r == 0, "the store cannot parse the signer's Authorization (%s): %s", reason, out.authorization.base);
    check_parsed(&a);
    FUZZ_CHECK(sigv4_check_time(&a, params.now, &reason) == 0, "time check: %s", reason);
    sigv4_request_t vreq = req;
    vreq.headers = all;
    vreq.num_headers = n;
    r = sigv4_verify(&a, &vreq, sigv4_cstr(SK), 0, NULL, NULL, &reason);
    FUZZ_CHECK(r == 0, "the store rejects what the signer signed (%d, %s); creq:\n%s", r, reason, out.canonical_request.base);
    /* a different key name must not verify (unless it canonicalises to the same URI, e.g. %41 vs A) */
    if (path.len != 0) {
        char changed[path.len];
        memcpy(changed, path.base, path.len);
        changed[path.len - 1] = path.base[path.len - 1] == 'a' ? 'b' : 'a';
        sigv4_buf_t u1 = {0}, u2 = {0};
        int c1 = sigv4_canonical_uri(S(path), 0, &u1), c2 = sigv4_canonical_uri((sigv4_str_t){changed, path.len}, 0, &u2);
        if (c1 == 0 && c2 == 0 && (u1.len != u2.len || memcmp(u1.base, u2.base, u1.len) != 0)) {
            vreq.path = (sigv4_str_t){changed, path.len};
            FUZZ_CHECK(sigv4_verify(&a, &vreq, sigv4_cstr(SK), 0, NULL, NULL, &reason) == SIGV4_ERR_MISMATCH,
                       "a changed path still verifies");
        }
        sigv4_buf_free(&u1);
        sigv4_buf_free(&u2);
    }
    sigv4_signed_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t p[4];
    sigv4_auth_t a;
    const char *reason = NULL;
    fuzz_split(data, size, '\n', p, 4);
    int r = sigv4_parse_authorization(S(p[0]), S(p[1]), S(p[2]), &a, &reason);
    FUZZ_CHECK(reason != NULL, "no reason");
    if (r == 0) {
        check_parsed(&a);
        verify_fixed(&a, p[3]);
    } else {
        FUZZ_CHECK(r == SIGV4_ERR_MALFORMED || r == SIGV4_ERR_MISSING, "parse returned %d", r);
        FUZZ_CHECK(reason[0] != '\0', "an error without a reason");
    }
    round_trip(p[0], p[1], p[2], p[3]);
    return 0;
}
