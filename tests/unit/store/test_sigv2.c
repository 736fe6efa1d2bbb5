/* tests/unit/store/test_sigv2.c - SigV2 (sigv4/sigv2.c): S3's documented example, strings to sign computed by Debian's botocore
 * 1.29 (HmacV1Auth, HmacV1QueryAuth) and s3cmd 2.3's rules, parsing errors, time checks, and tampering */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sigv4/sigv2.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DOC_DATE "Tue, 27 Mar 2007 19:36:42 +0000"
#define DOC_TIME 1175024202 /* DOC_DATE */

#define H(n, v) {{n, sizeof(n) - 1}, {v, sizeof(v) - 1}}

static sigv2_request_t req_of(const char *method, const char *path, const char *query, const char *bucket,
                              const sigv4_header_t *h, size_t n)
{
    return (sigv2_request_t){sigv4_cstr(method), sigv4_cstr(path), sigv4_cstr(query), sigv4_cstr(bucket), h, n};
}

static void expect_sts(const sigv2_request_t *r, const char *expires, int variant, const char *want)
{
    sigv4_buf_t b = {0};
    assert_int_equal(sigv2_string_to_sign(r, expires, variant, &b), 0);
    assert_non_null(b.base);
    assert_string_equal(b.base, want);
    sigv4_buf_free(&b);
}

/* signs the header form with our signer, parses it back, verifies; then checks what botocore computed (sig) */
static void expect_header_sig(const sigv2_request_t *r, const char *sig)
{
    sigv4_buf_t a = {0};
    sigv2_auth_t auth;
    const char *reason;
    char want[128];
    assert_int_equal(sigv2_sign(r, sigv4_cstr(AK), sigv4_cstr(SK), 0, &a), 0);
    snprintf(want, sizeof(want), "AWS %s:%s", AK, sig);
    assert_string_equal(a.base, want);
    assert_int_equal(sigv2_parse_authorization((sigv4_str_t){a.base, a.len}, &auth, &reason), 0);
    assert_string_equal(auth.access_key, AK);
    assert_true(auth.mac_ok);
    assert_int_equal(sigv2_verify(&auth, r, sigv4_cstr(SK), NULL), 0);
    assert_int_equal(sigv2_verify(&auth, r, sigv4_cstr("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ"), NULL), SIGV4_ERR_MISMATCH);
    sigv4_buf_free(&a);
}

static void test_documented_example(void **state)
{
    (void)state;
    /* S3's REST authentication page: GET /photos/puppy.jpg, Host: awsexamplebucket1.us-west-1.s3.amazonaws.com */
    sigv4_header_t h[] = {H("Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"), H("Date", DOC_DATE)};
    sigv2_request_t r = req_of("GET", "/photos/puppy.jpg", "", "awsexamplebucket1", h, 2);
    expect_sts(&r, NULL, 0, "GET\n\n\n" DOC_DATE "\n/awsexamplebucket1/photos/puppy.jpg");
    expect_header_sig(&r, "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    /* the same request path-style */
    sigv2_request_t p = req_of("GET", "/awsexamplebucket1/photos/puppy.jpg", "", "", h, 2);
    expect_header_sig(&p, "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    /* the documented time is within 15 minutes of itself, and not of now */
    sigv2_auth_t auth = {0};
    const char *reason;
    time_t t;
    assert_int_equal(sigv2_check_time(&auth, &r, DOC_TIME + 899, &t, &reason), 0);
    assert_int_equal(t, DOC_TIME);
    assert_int_equal(sigv2_check_time(&auth, &r, DOC_TIME - 901, &t, &reason), SIGV4_ERR_SKEW);
    assert_string_equal(reason, "The difference between the request time and the current time is too large.");
    assert_int_equal(sigv2_check_time(&auth, &r, DOC_TIME + 901, &t, &reason), SIGV4_ERR_SKEW);
}

static void test_botocore_vectors(void **state)
{
    (void)state;
    /* a PUT of a part: Content-MD5, Content-Type, repeated x-amz-meta (values trimmed, joined), sub-resources sorted and decoded */
    sigv4_header_t put[] = {H("Content-Type", "text/plain"), H("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
                            H("x-amz-meta-Foo", " bar "),    H("X-Amz-Meta-foo", "baz"),
                            H("x-amz-acl", "public-read"),  H("Date", DOC_DATE),
                            H("User-Agent", "not signed")};
    sigv2_request_t r = req_of("PUT", "/b/dir/a%20b%2Bc.txt", "partNumber=2&uploadId=xyz%3D", "", put, 7);
    expect_sts(&r, NULL, 0,
               "PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\ntext/plain\n" DOC_DATE
               "\nx-amz-acl:public-read\nx-amz-meta-foo:bar,baz\n/b/dir/a%20b%2Bc.txt?partNumber=2&uploadId=xyz=");
    expect_header_sig(&r, "WetkfMO5QZrWWZhZuo985367lGI=");
    /* the query order does not matter; parameters that are not sub-resources are not signed */
    sigv2_request_t r2 = req_of("PUT", "/b/dir/a%20b%2Bc.txt", "uploadId=xyz%3D&x-id=UploadPart&partNumber=2", "", put, 7);
    expect_header_sig(&r2, "WetkfMO5QZrWWZhZuo985367lGI=");

    /* bucket sub-resources: `acl=` keeps its `=`, a bare `versioning` has none */
    sigv4_header_t get[] = {H("Date", DOC_DATE)};
    sigv2_request_t r3 = req_of("GET", "/b", "acl=&versioning", "", get, 1);
    expect_sts(&r3, NULL, 0, "GET\n\n\n" DOC_DATE "\n/b?acl=&versioning");
    expect_header_sig(&r3, "xQI8JgXrgkNkcOzujWRVGj2Fe8s=");
    expect_sts(&r3, NULL, SIGV2_V_NO_EMPTY_EQUALS, "GET\n\n\n" DOC_DATE "\n/b?acl&versioning");
    /* botocore signs a path-style bucket request as `/b/` while it sends `/b` */
    expect_sts(&r3, NULL, SIGV2_V_BUCKET_SLASH, "GET\n\n\n" DOC_DATE "\n/b/?acl=&versioning");
    sigv2_auth_t slash;
    const char *why;
    sigv4_buf_t st = {0};
    char sg[29], hd[80];
    assert_int_equal(sigv2_string_to_sign(&r3, NULL, SIGV2_V_BUCKET_SLASH, &st), 0);
    sigv2_signature(sigv4_cstr(SK), (sigv4_str_t){st.base, st.len}, sg);
    snprintf(hd, sizeof(hd), "AWS %s:%s", AK, sg);
    assert_int_equal(sigv2_parse_authorization(sigv4_cstr(hd), &slash, &why), 0);
    assert_int_equal(sigv2_verify(&slash, &r3, sigv4_cstr(SK), NULL), 0);
    sigv4_buf_free(&st);
    /* botocore's model URIs with a fixed query: `/b/k?acl?acl`, `/b?list-type=2` */
    sigv2_request_t acl = req_of("GET", "/v2b/k", "acl", "", get, 1), lt = req_of("GET", "/v2b", "list-type=2&prefix=a", "", get, 1);
    expect_sts(&acl, NULL, SIGV2_V_LITERAL_QUERY, "GET\n\n\n" DOC_DATE "\n/v2b/k?acl?acl");
    expect_sts(&lt, NULL, SIGV2_V_LITERAL_QUERY, "GET\n\n\n" DOC_DATE "\n/v2b?list-type=2");

    /* response-* overrides are decoded; x-amz-date empties the Date line (S3's rule) - botocore also sends Date and signs it */
    sigv4_header_t both[] = {H("x-amz-date", DOC_DATE), H("Date", DOC_DATE)};
    sigv2_request_t r4 =
        req_of("GET", "/b/k", "response-content-disposition=attachment%3B%20filename%3D%22x.txt%22&foo=bar", "", both, 2);
    expect_sts(&r4, NULL, 0,
               "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/b/k?response-content-disposition=attachment; filename=\"x.txt\"");
    expect_sts(&r4, NULL, SIGV2_V_DATE_HEADER,
               "GET\n\n\n" DOC_DATE "\nx-amz-date:" DOC_DATE "\n/b/k?response-content-disposition=attachment; filename=\"x.txt\"");
    sigv2_auth_t auth;
    const char *reason;
    char hdr[] = "AWS " AK ":IjP+qCzj+QiLp2KhI0Jz1iXEEVE=";
    assert_int_equal(sigv2_parse_authorization(sigv4_cstr(hdr), &auth, &reason), 0);
    assert_int_equal(sigv2_verify(&auth, &r4, sigv4_cstr(SK), NULL), 0);
    /* without the Date header the same signature is another request */
    sigv2_request_t r5 = r4;
    r5.num_headers = 1;
    assert_int_equal(sigv2_verify(&auth, &r5, sigv4_cstr(SK), NULL), SIGV4_ERR_MISMATCH);
}

static void test_presigned(void **state)
{
    (void)state;
    /* botocore's generate_presigned_url with a session token: x-amz-security-token goes into the query, and is signed */
    const char *q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=MzgK4H7eXjrVYSXh9Ux0SxUQ3F4%3D&x-amz-security-token=tok%2Fen%2B%3D&"
                    "Expires=1175139620";
    sigv4_header_t h[] = {H("Host", "127.0.0.1:9000"), H("User-Agent", "curl")};
    sigv2_request_t r = req_of("GET", "/b/photos/puppy.jpg", q, "", h, 2);
    sigv2_auth_t auth;
    const char *reason;
    assert_true(sigv2_query_is_presigned(sigv4_cstr(q)));
    assert_int_equal(sigv2_parse_presigned(sigv4_cstr(q), &auth, &reason), 0);
    assert_true(auth.presigned);
    assert_string_equal(auth.access_key, AK);
    assert_string_equal(auth.expires_text, "1175139620");
    assert_int_equal(auth.expires, 1175139620);
    expect_sts(&r, auth.expires_text, 0, "GET\n\n\n1175139620\nx-amz-security-token:tok/en+=\n/b/photos/puppy.jpg");
    assert_int_equal(sigv2_verify(&auth, &r, sigv4_cstr(SK), NULL), 0);
    /* valid up to Expires included, expired after */
    assert_int_equal(sigv2_check_time(&auth, &r, 1175139620, NULL, &reason), 0);
    assert_int_equal(sigv2_check_time(&auth, &r, 1175139621, NULL, &reason), SIGV4_ERR_EXPIRED);
    assert_string_equal(reason, "Request has expired");

    /* tampering: another key, another token, another expiry, a signed header added */
    const char *tampered[] = {
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=MzgK4H7eXjrVYSXh9Ux0SxUQ3F4%3D&x-amz-security-token=tok%2Fen%2B%3D&"
        "Expires=1175139621",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=MzgK4H7eXjrVYSXh9Ux0SxUQ3F4%3D&x-amz-security-token=tok2&"
        "Expires=1175139620",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=MzgK4H7eXjrVYSXh9Ux0SxUQ3F4%3D&Expires=1175139620",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=MzgK4H7eXjrVYSXh9Ux0SxUQ3F4%3D&x-amz-security-token=tok%2Fen%2B%3D&"
        "Expires=1175139620&versionId=3",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NzgK4H7eXjrVYSXh9Ux0SxUQ3F4%3D&x-amz-security-token=tok%2Fen%2B%3D&"
        "Expires=1175139620",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=MzgK4H7eXjrVYSXh9Ux0SxUQ3F4&x-amz-security-token=tok%2Fen%2B%3D&"
        "Expires=1175139620",
    };
    for (size_t i = 0; i != sizeof(tampered) / sizeof(tampered[0]); ++i) {
        sigv2_request_t t = req_of("GET", "/b/photos/puppy.jpg", tampered[i], "", h, 2);
        assert_int_equal(sigv2_parse_presigned(sigv4_cstr(tampered[i]), &auth, &reason), 0);
        assert_int_equal(sigv2_verify(&auth, &t, sigv4_cstr(SK), NULL), SIGV4_ERR_MISMATCH);
    }
    sigv2_request_t other = req_of("GET", "/b/photos/puppy.png", q, "", h, 2);
    assert_int_equal(sigv2_parse_presigned(sigv4_cstr(q), &auth, &reason), 0);
    assert_int_equal(sigv2_verify(&auth, &other, sigv4_cstr(SK), NULL), SIGV4_ERR_MISMATCH);
    sigv2_request_t put = req_of("PUT", "/b/photos/puppy.jpg", q, "", h, 2);
    assert_int_equal(sigv2_verify(&auth, &put, sigv4_cstr(SK), NULL), SIGV4_ERR_MISMATCH);

    /* s3cmd signurl: the signature percent-encoded, a response-content-type override signed unencoded; and an unencoded `+`
     * that a decoder turned into a space still verifies */
    sigv4_buf_t sq = {0};
    sigv2_request_t s3cmd = req_of("GET", "/b/a%20file.txt", "response-content-type=text%2Fplain", "", h, 2);
    assert_int_equal(sigv2_sign(&s3cmd, sigv4_cstr(AK), sigv4_cstr(SK), 2000000000, &sq), 0);
    assert_int_equal(sigv2_parse_presigned((sigv4_str_t){sq.base, sq.len}, &auth, &reason), 0);
    sigv2_request_t s3cmd2 = req_of("GET", "/b/a%20file.txt", sq.base, "", h, 2);
    expect_sts(&s3cmd2, "2000000000", 0, "GET\n\n\n2000000000\n/b/a%20file.txt?response-content-type=text/plain");
    assert_int_equal(sigv2_verify(&auth, &s3cmd2, sigv4_cstr(SK), NULL), 0);
    sigv4_buf_free(&sq);
}

static void test_content_headers_in_query(void **state)
{
    (void)state;
    /* botocore moves a signed Content-Type into a presigned URL's query; the request may send the same as a header */
    sigv4_header_t none[] = {H("Host", "h")};
    sigv4_header_t ct[] = {H("Host", "h"), H("Content-Type", "image/png")};
    const char *q = "content-type=image%2Fpng&AWSAccessKeyId=AK&Expires=5&Signature=x";
    sigv2_request_t a = req_of("PUT", "/b/k", q, "", none, 1), b = req_of("PUT", "/b/k", q, "", ct, 2);
    expect_sts(&a, "5", 0, "PUT\n\nimage/png\n5\n/b/k");
    expect_sts(&b, "5", 0, "PUT\n\nimage/png\n5\n/b/k");
    /* a header-signed request never reads the query for them */
    expect_sts(&a, NULL, 0, "PUT\n\n\n\n/b/k");
}

static void test_variants(void **state)
{
    (void)state;
    sigv4_header_t h[] = {H("x-amz-date", DOC_DATE)};
    /* s3cmd signs sub-resource values as it sends them (encoded); the path decoded and encoded again; the path decoded */
    sigv2_request_t r = req_of("GET", "/b/%7Ea%27b", "versionId=a%2Bb", "", h, 1);
    expect_sts(&r, NULL, 0, "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/b/%7Ea%27b?versionId=a+b");
    expect_sts(&r, NULL, SIGV2_V_RAW_VALUES, "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/b/%7Ea%27b?versionId=a%2Bb");
    expect_sts(&r, NULL, SIGV2_V_PATH_ENCODED, "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/b/~a%27b?versionId=a+b");
    expect_sts(&r, NULL, SIGV2_V_PATH_DECODED, "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/b/~a'b?versionId=a+b");
    /* each variant verifies */
    static const int variants[] = {SIGV2_V_RAW_VALUES, SIGV2_V_PATH_ENCODED, SIGV2_V_PATH_DECODED};
    for (size_t i = 0; i != 3; ++i) {
        sigv4_buf_t sts = {0};
        char sig[29], hdr[80];
        sigv2_auth_t auth;
        const char *reason;
        assert_int_equal(sigv2_string_to_sign(&r, NULL, variants[i], &sts), 0);
        sigv2_signature(sigv4_cstr(SK), (sigv4_str_t){sts.base, sts.len}, sig);
        snprintf(hdr, sizeof(hdr), "AWS %s:%s", AK, sig);
        assert_int_equal(sigv2_parse_authorization(sigv4_cstr(hdr), &auth, &reason), 0);
        assert_int_equal(sigv2_verify(&auth, &r, sigv4_cstr(SK), NULL), 0);
        sigv4_buf_free(&sts);
    }
    /* the root of a virtual-hosted bucket, and ListBuckets */
    sigv2_request_t root = req_of("GET", "/", "", "bkt", h, 1);
    expect_sts(&root, NULL, 0, "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/bkt/");
    sigv2_request_t list = req_of("GET", "/", "", "", h, 1);
    expect_sts(&list, NULL, 0, "GET\n\n\n\nx-amz-date:" DOC_DATE "\n/");
}

static void test_parse_errors(void **state)
{
    (void)state;
    sigv2_auth_t a;
    const char *reason;
    static const char *const bad[] = {"AWS", "AWS ", "AWS AKID", "AWS :sig", "AWS AKID:", "AWS4-HMAC-SHA256 Credential=x",
                                      "aws AKID:sig", "AWS AK ID:sig"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        assert_int_equal(sigv2_parse_authorization(sigv4_cstr(bad[i]), &a, &reason), SIGV4_ERR_MALFORMED);
        assert_string_equal(reason, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature");
    }
    /* a signature that is not base64 of 20 bytes parses (S3 answers SignatureDoesNotMatch) but never matches */
    assert_int_equal(sigv2_parse_authorization(sigv4_cstr("AWS AKID:c2ln"), &a, &reason), 0);
    assert_false(a.mac_ok);
    sigv4_header_t h[] = {H("Date", DOC_DATE)};
    sigv2_request_t r = req_of("GET", "/", "", "", h, 1);
    memset(a.mac, 0, 20);
    assert_int_equal(sigv2_verify(&a, &r, sigv4_cstr(SK), NULL), SIGV4_ERR_MISMATCH);

    static const char *const missing[] = {"AWSAccessKeyId=a&Expires=1", "Signature=s&Expires=1", "AWSAccessKeyId=a&Signature=s",
                                          "AWSAccessKeyId=a&AWSAccessKeyId=a&Signature=s&Expires=1"};
    for (size_t i = 0; i != sizeof(missing) / sizeof(missing[0]); ++i)
        assert_int_equal(sigv2_parse_presigned(sigv4_cstr(missing[i]), &a, &reason), SIGV4_ERR_MISSING);
    static const char *const malformed[] = {"AWSAccessKeyId=a&Signature=s&Expires=", "AWSAccessKeyId=a&Signature=s&Expires=-1",
                                            "AWSAccessKeyId=a&Signature=s&Expires=12x", "AWSAccessKeyId=&Signature=s&Expires=1",
                                            "AWSAccessKeyId=a%00b&Signature=s&Expires=1",
                                            "AWSAccessKeyId=a&Signature=s&Expires=99999999999999999"};
    for (size_t i = 0; i != sizeof(malformed) / sizeof(malformed[0]); ++i)
        assert_int_equal(sigv2_parse_presigned(sigv4_cstr(malformed[i]), &a, &reason), SIGV4_ERR_MALFORMED);
    assert_false(sigv2_query_is_presigned(sigv4_cstr("")));
    assert_false(sigv2_query_is_presigned(sigv4_cstr("X-Amz-Signature=x&Expires=3")));
    assert_true(sigv2_query_is_presigned(sigv4_cstr("a=b&Signature=x")));
}

static void test_dates(void **state)
{
    (void)state;
    sigv2_auth_t a = {0};
    const char *reason;
    time_t t;
    struct {
        const char *name, *value;
        int r;
        time_t t;
    } cases[] = {
        {"Date", "Tue, 27 Mar 2007 19:36:42 GMT", 0, DOC_TIME},
        {"Date", "Tue, 27 Mar 2007 21:36:42 +0200", 0, DOC_TIME}, /* a numeric zone */
        {"Date", "Tue, 27 Mar 2007 17:36:42 -0200", 0, DOC_TIME},
        {"x-amz-date", "20070327T193642Z", 0, DOC_TIME}, /* ISO 8601 basic */
        {"x-amz-date", "yesterday", SIGV4_ERR_MALFORMED, 0},
        {"Date", "Tue, 27 Mar 2007 19:36:42 +2500", SIGV4_ERR_MALFORMED, 0},
        {"Date", "  ", SIGV4_ERR_MISSING, 0},
        {"Host", "x", SIGV4_ERR_MISSING, 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        sigv4_header_t h[] = {{sigv4_cstr(cases[i].name), sigv4_cstr(cases[i].value)}};
        sigv2_request_t r = req_of("GET", "/", "", "", h, 1);
        assert_int_equal(sigv2_check_time(&a, &r, DOC_TIME, &t, &reason), cases[i].r);
        if (cases[i].r == 0)
            assert_int_equal(t, cases[i].t);
        else
            assert_string_equal(reason, "AWS authentication requires a valid Date or x-amz-date header");
    }
    /* x-amz-date wins over Date */
    sigv4_header_t h[] = {H("Date", "Tue, 27 Mar 2007 10:00:00 GMT"), H("X-Amz-Date", DOC_DATE)};
    sigv2_request_t r = req_of("GET", "/", "", "", h, 2);
    assert_int_equal(sigv2_check_time(&a, &r, DOC_TIME, &t, &reason), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_example), cmocka_unit_test(test_botocore_vectors),
        cmocka_unit_test(test_presigned),          cmocka_unit_test(test_content_headers_in_query),
        cmocka_unit_test(test_variants),           cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
