/* tests/fuzz/fuzz_sigv4_presigned.c - libFuzzer target: the presigned-URL query parser of the store (sigv4/sigv4.c), the canonical
 * query and URI builders, and a presign / parse / verify round trip
 *
 * Input: `QUERY \n PATH \n HOST`. Properties: parsing never overreads and an accepted query yields sane fields; the canonical query
 * is deterministic and never longer than a bound of its input; whatever the signer presigns (any path, any extra query, any host)
 * the verifier accepts, and it refuses the same URL with one more parameter.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sigv4/sigv4.h"
#include "tests/fuzz/fuzz_check.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static sigv4_str_t S(fuzz_part_t p)
{
    return (sigv4_str_t){p.base, p.len};
}

static int contains_ci(fuzz_part_t p, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= p.len; ++i)
        if (strncasecmp(p.base + i, needle, n) == 0)
            return 1;
    return 0;
}

static void parse_and_canonicalise(fuzz_part_t query, fuzz_part_t path)
{
    sigv4_auth_t a;
    const char *reason = NULL;
    int is = sigv4_query_is_presigned(S(query));
    int r = sigv4_parse_presigned(S(query), &a, &reason);
    FUZZ_CHECK(reason != NULL, "no reason");
    if (r == 0) {
        FUZZ_CHECK(is, "parsed as presigned but sigv4_query_is_presigned says no");
        FUZZ_CHECK(a.presigned, "not marked presigned");
        FUZZ_CHECK(a.expires >= 1 && a.expires <= SIGV4_MAX_EXPIRES, "expires %u", a.expires);
        FUZZ_CHECK(strlen(a.signature) == 64 && strlen(a.amz_date) == 16 && strlen(a.date) == 8, "fields");
        FUZZ_CHECK(memchr(a.access_key, 0, sizeof(a.access_key)) && memchr(a.region, 0, sizeof(a.region)) &&
                       memchr(a.signed_headers, 0, sizeof(a.signed_headers)),
                   "not terminated");
        (void)sigv4_check_time(&a, a.time, &reason);
        sigv4_header_t h[1] = {{sigv4_cstr("host"), S(path)}};
        sigv4_request_t req = {sigv4_cstr("GET"), S(path), S(query), h, 1, sigv4_cstr(SIGV4_UNSIGNED_PAYLOAD)};
        r = sigv4_verify(&a, &req, sigv4_cstr(SK), 0, NULL, NULL, &reason);
        FUZZ_CHECK(r == 0 || r == SIGV4_ERR_MISMATCH || r == SIGV4_ERR_MISSING || r == SIGV4_ERR_MALFORMED, "verify %d", r);
    } else {
        FUZZ_CHECK(r == SIGV4_ERR_MALFORMED || r == SIGV4_ERR_MISSING, "parse returned %d", r);
        FUZZ_CHECK(reason[0] != '\0', "an error without a reason");
    }
    /* canonical forms: deterministic, bounded (every byte becomes at most %XX, plus one '=' per pair) */
    for (int skip = 0; skip != 2; ++skip) {
        sigv4_buf_t c1 = {0}, c2 = {0};
        int r1 = sigv4_canonical_query(S(query), skip, &c1), r2 = sigv4_canonical_query(S(query), skip, &c2);
        FUZZ_CHECK(r1 == r2, "canonical query not deterministic");
        if (r1 == 0) {
            FUZZ_CHECK(c1.len == c2.len && (c1.len == 0 || memcmp(c1.base, c2.base, c1.len) == 0), "canonical query differs");
            FUZZ_CHECK(c1.len <= 3 * query.len + query.len + 1, "canonical query of %zu bytes from %zu", c1.len, query.len);
        }
        sigv4_buf_free(&c1);
        sigv4_buf_free(&c2);
    }
    static const int flags[] = {SIGV4_F_S3, SIGV4_F_ENCODE_TWICE, SIGV4_F_NORMALIZE, SIGV4_F_ENCODE_TWICE | SIGV4_F_NORMALIZE,
                                SIGV4_F_PATH_AS_IS};
    for (size_t i = 0; i != sizeof(flags) / sizeof(flags[0]); ++i) {
        sigv4_buf_t u = {0};
        if (sigv4_canonical_uri(S(path), flags[i], &u) == 0)
            FUZZ_CHECK(u.len <= 3 * path.len + 1, "canonical URI of %zu bytes from %zu", u.len, path.len);
        sigv4_buf_free(&u);
    }
}

static void round_trip(fuzz_part_t query, fuzz_part_t path, fuzz_part_t host)
{
    /* a query that already holds X-Amz-* parameters (even percent-encoded) makes an ambiguous URL: refusing it is right, so it
     * proves nothing */
    sigv4_buf_t dec = {0};
    if (sigv4_uri_decode(&dec, S(query)) != 0)
        return;
    int ambiguous = contains_ci((fuzz_part_t){dec.base, dec.len}, "amz");
    sigv4_buf_free(&dec);
    if (ambiguous)
        return;
    sigv4_credentials_t cred = {AK, SK, host.len % 2 ? "token/+=" : NULL};
    sigv4_sign_params_t params = {&cred, "eu-west-3", "s3", 1369353600 + (time_t)query.len * 3601, 0, 0, 0};
    sigv4_header_t h[1] = {{sigv4_cstr("host"), S(host)}};
    sigv4_request_t req = {sigv4_cstr("GET"), S(path), S(query), h, 1, sigv4_cstr(SIGV4_UNSIGNED_PAYLOAD)};
    sigv4_signed_t out;
    memset(&out, 0, sizeof(out));
    unsigned expires = 1 + (unsigned)(path.len * 7919 % SIGV4_MAX_EXPIRES);
    if (sigv4_presign(&req, &params, expires, &out) != 0) {
        sigv4_signed_free(&out);
        return;
    }
    sigv4_str_t q = {out.query.base, out.query.len};
    sigv4_auth_t a;
    const char *reason = NULL;
    int r = sigv4_parse_presigned(q, &a, &reason);
    FUZZ_CHECK(r == 0, "the store cannot parse a presigned query (%s): %s", reason, out.query.base);
    FUZZ_CHECK(a.expires == expires && a.time == params.now, "expires %u time %lld", a.expires, (long long)a.time);
    FUZZ_CHECK(sigv4_check_time(&a, params.now + (time_t)expires - 1, &reason) == 0, "valid until expiry: %s", reason);
    FUZZ_CHECK(sigv4_check_time(&a, params.now + (time_t)expires, &reason) == SIGV4_ERR_EXPIRED, "expired at expiry");
    sigv4_request_t vreq = req;
    vreq.query = q;
    r = sigv4_verify(&a, &vreq, sigv4_cstr(SK), 0, NULL, NULL, &reason);
    FUZZ_CHECK(r == 0, "the store rejects a presigned URL (%d, %s): %s", r, reason, out.query.base);
    /* one more parameter is another request */
    char *more = malloc(out.query.len + 8);
    memcpy(more, out.query.base, out.query.len);
    memcpy(more + out.query.len, "&extra=1", 8);
    vreq.query = (sigv4_str_t){more, out.query.len + 8};
    FUZZ_CHECK(sigv4_verify(&a, &vreq, sigv4_cstr(SK), 0, NULL, NULL, &reason) == SIGV4_ERR_MISMATCH,
               "an added parameter verifies");
    free(more);
    sigv4_signed_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t p[3];
    fuzz_split(data, size, '\n', p, 3);
    parse_and_canonicalise(p[0], p[1]);
    round_trip(p[0], p[1], p[2]);
    return 0;
}
