/* tests/unit/store/test_chunked.c - the aws-chunked decoder: vector 3f replayed (split at every byte), trailers, tampering, framing
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "base/str.h"
#include "store/checksum.h"
#include "store/chunked.h"
#include "sigv4/sigv4.h"

#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define SCOPE "20130524/us-east-1/s3/aws4_request"

typedef struct out {
    char *buf;
    size_t len, cap;
} out_t;

static int on_data(void *ctx, const void *data, size_t len)
{
    out_t *o = ctx;
    if (o->len + len > o->cap) {
        o->cap = (o->len + len) * 2;
        o->buf = realloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    return 0;
}

static void chain_3f(sigv4_chunk_chain_t *c)
{
    uint8_t key[32];
    assert_int_equal(sigv4_signing_key(sigv4_cstr(S3_SK), "20130524", sigv4_cstr("us-east-1"), sigv4_cstr("s3"), key), 0);
    sigv4_chunk_init(c, key, "20130524T000000Z", SCOPE, SEED);
}

/* the 66824-byte body of vector 3f: 65536 and 1024 bytes of 'a', then the final chunk */
static char *body_3f(size_t *len)
{
    static const char *sigs[] = {"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                                 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                                 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"};
    static const size_t sizes[] = {65536, 1024, 0};
    char *b = malloc(70000);
    size_t n = 0;
    for (int i = 0; i != 3; ++i) {
        n += (size_t)sprintf(b + n, "%zx;chunk-signature=%s\r\n", sizes[i], sigs[i]);
        memset(b + n, 'a', sizes[i]);
        n += sizes[i];
        n += (size_t)sprintf(b + n, "\r\n");
    }
    *len = n;
    return b;
}

static int decode(int mode, const char *body, size_t len, size_t step, out_t *o, store_chunked_t *d)
{
    sigv4_chunk_chain_t c;
    chain_3f(&c);
    assert_int_equal(store_chunked_init(d, mode, mode != STORE_CHUNKED_UNSIGNED ? &c : NULL), 0);
    int r = 0;
    for (size_t i = 0; i < len && r == 0; i += step)
        r = store_chunked_feed(d, body + i, len - i < step ? len - i : step, on_data, o);
    if (r == 0)
        r = store_chunked_finish(d);
    return r;
}

static void test_3f_replay(void **state)
{
    size_t len;
    char *body = body_3f(&len);
    assert_int_equal(len, 66824);
    /* whole, and split into pieces of many sizes (framing split across reads) */
    size_t steps[] = {len, 1, 2, 3, 7, 64, 85, 86, 87, 1000, 65536, 65621};
    for (size_t s = 0; s != sizeof(steps) / sizeof(steps[0]); ++s) {
        out_t o = {0};
        store_chunked_t d;
        assert_int_equal(decode(STORE_CHUNKED_SIGNED, body, len, steps[s], &o, &d), 0);
        assert_int_equal(o.len, 66560);
        for (size_t i = 0; i != o.len; ++i)
            if (o.buf[i] != 'a')
                fail_msg("byte %zu of the decoded body is '%c'", i, o.buf[i]);
        assert_int_equal(d.decoded, 66560);
        store_chunked_dispose(&d);
        free(o.buf);
    }
    free(body);
}

/* every single-byte change of the body is refused (signature or framing), and no change ever yields different data silently */
static void test_3f_tamper(void **state)
{
    size_t len;
    char *body = body_3f(&len);
    size_t places[] = {0,     5,     20,    84,    85,    86,    100,   40000, 65620, 65621,
                       65622, 65623, 65700, 66700, 66760, 66800, 66821, 66822, 66823};
    for (size_t i = 0; i != sizeof(places) / sizeof(places[0]); ++i) {
        char *copy = malloc(len);
        memcpy(copy, body, len);
        copy[places[i]] = copy[places[i]] == 'a' ? 'b' : (copy[places[i]] == '0' ? '1' : 'a');
        out_t o = {0};
        store_chunked_t d;
        int r = decode(STORE_CHUNKED_SIGNED, copy, len, 4096, &o, &d);
        if (r == 0)
            fail_msg("a body changed at byte %zu was accepted", places[i]);
        store_chunked_dispose(&d);
        free(o.buf);
        free(copy);
    }
    /* truncated anywhere: refused */
    for (size_t cut = 0; cut < len; cut += 997) {
        out_t o = {0};
        store_chunked_t d;
        assert_int_not_equal(decode(STORE_CHUNKED_SIGNED, body, cut, 4096, &o, &d), 0);
        store_chunked_dispose(&d);
        free(o.buf);
    }
    /* a chunk signature flipped gives a signature error, not a framing one */
    char *copy = malloc(len);
    memcpy(copy, body, len);
    copy[17 + 30] ^= 1; /* inside the first chunk-signature */
    out_t o = {0};
    store_chunked_t d;
    assert_int_equal(decode(STORE_CHUNKED_SIGNED, copy, len, len, &o, &d), STORE_CHUNKED_ESIGNATURE);
    assert_true(o.len <= 65536); /* nothing after the bad chunk was passed on */
    store_chunked_dispose(&d);
    free(o.buf);
    free(copy);
    free(body);
}

/* 3g: the signed trailer, chained off the final chunk */
static void test_3g_trailer(void **state)
{
    size_t len;
    char *body = body_3f(&len);
    /* replace the final "\r\n" (after the last chunk header) with the trailers and their signature */
    char *b = malloc(len + 256);
    memcpy(b, body, len - 2);
    size_t n = len - 2;
    n += (size_t)sprintf(b + n, "first:1st\r\nsecond:2nd\r\nthird:3rd\r\n"
                                "x-amz-trailer-signature:df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c\r\n\r\n");
    for (size_t step = 1; step <= 4096; step *= 4) {
        out_t o = {0};
        store_chunked_t d;
        assert_int_equal(decode(STORE_CHUNKED_SIGNED_TRAILER, b, n, step, &o, &d), 0);
        assert_int_equal(o.len, 66560);
        assert_string_equal(store_chunked_trailer(&d, "second"), "2nd");
        store_chunked_dispose(&d);
        free(o.buf);
    }
    /* a trailer value changed: refused */
    char *p = strstr(b + 66000, "2nd");
    p[0] = '3';
    out_t o = {0};
    store_chunked_t d;
    assert_int_equal(decode(STORE_CHUNKED_SIGNED_TRAILER, b, n, n, &o, &d), STORE_CHUNKED_ESIGNATURE);
    store_chunked_dispose(&d);
    free(o.buf);
    free(b);
    free(body);
}

/* 3i: what @aws-sdk/client-s3 sends for a stream body (STREAMING-UNSIGNED-PAYLOAD-TRAILER) */
static void test_3i_unsigned_trailer(void **state)
{
    const char *body = "c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:rwg7LQ==\r\n\r\n";
    for (size_t step = 1; step <= strlen(body); ++step) {
        out_t o = {0};
        store_chunked_t d;
        assert_int_equal(decode(STORE_CHUNKED_UNSIGNED, body, strlen(body), step, &o, &d), 0);
        assert_int_equal(o.len, 12);
        assert_memory_equal(o.buf, "hello world\n", 12);
        assert_string_equal(store_chunked_trailer(&d, "x-amz-checksum-crc32"), "rwg7LQ==");
        /* the trailer is the CRC-32 of the payload */
        uint8_t crc[6]; /* the decoder writes whole groups of 3 bytes */
        uint32_t c = store_checksum_crc32(0, o.buf, o.len);
        assert_int_equal(edge_base64_decode(crc, "rwg7LQ==", 8, EDGE_BASE64_STRICT), 4);
        assert_int_equal(c, (uint32_t)crc[0] << 24 | (uint32_t)crc[1] << 16 | (uint32_t)crc[2] << 8 | crc[3]);
        store_chunked_dispose(&d);
        free(o.buf);
    }
    /* no trailers, and chunk extensions ignored */
    const char *plain = "5;foo=bar\r\nhello\r\n0\r\n\r\n";
    out_t o = {0};
    store_chunked_t d;
    assert_int_equal(decode(STORE_CHUNKED_UNSIGNED, plain, strlen(plain), 3, &o, &d), 0);
    assert_int_equal(o.len, 5);
    store_chunked_dispose(&d);
    free(o.buf);
}

static void test_framing_errors(void **state)
{
    const char *bad[] = {
        "",                                   /* no final chunk */
        "5\r\nhello\r\n",                     /* no final chunk */
        "5\r\nhelloX\r\n0\r\n\r\n",           /* wrong size */
        "5\r\nhell\r\n0\r\n\r\n",             /* short */
        "x\r\nhello\r\n0\r\n\r\n",            /* not hex */
        "5\nhello\r\n0\r\n\r\n",              /* LF without CR */
        "5\r\nhello\r\n0\r\n\r\nextra",       /* data after the end */
        "5\r\nhello\r\n0\r\nnocolon\r\n\r\n", /* trailer without ':' */
        "ffffffffffffffffff\r\n",             /* size overflow */
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        out_t o = {0};
        store_chunked_t d;
        int r = decode(STORE_CHUNKED_UNSIGNED, bad[i], strlen(bad[i]), 1, &o, &d);
        if (r != STORE_CHUNKED_EFRAMING)
            fail_msg("bad body #%zu decoded with %d", i, r);
        assert_true(d.error != NULL && (i < 2 || d.error[0] != '\0'));
        store_chunked_dispose(&d);
        free(o.buf);
    }
    /* signed mode: a chunk without chunk-signature, and trailers where none are allowed */
    const char *nosig = "5\r\nhello\r\n0\r\n\r\n";
    out_t o = {0};
    store_chunked_t d;
    assert_int_equal(decode(STORE_CHUNKED_SIGNED, nosig, strlen(nosig), 100, &o, &d), STORE_CHUNKED_EFRAMING);
    store_chunked_dispose(&d);
    free(o.buf);
    /* a header line longer than the limit */
    char *longline = malloc(5000);
    memset(longline, '1', 4999);
    longline[4999] = '\0';
    o = (out_t){0};
    assert_int_equal(decode(STORE_CHUNKED_UNSIGNED, longline, 4999, 100, &o, &d), STORE_CHUNKED_EFRAMING);
    store_chunked_dispose(&d);
    free(o.buf);
    free(longline);
}

static void test_checksums(void **state)
{
    char b64[64];
    uint8_t out[64];
    assert_int_equal(store_checksum_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(store_checksum_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(store_checksum_crc32(store_checksum_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    /* a long buffer exercises the 8-byte loop against the byte loop */
    char big[1003];
    for (size_t i = 0; i != sizeof(big); ++i)
        big[i] = (char)(i * 7);
    uint32_t whole = store_checksum_crc32c(0, big, sizeof(big)), parts = 0;
    for (size_t i = 0; i != sizeof(big); ++i)
        parts = store_checksum_crc32c(parts, big + i, 1);
    assert_int_equal(whole, parts);
    /* hello world: DUoRhQ== (S3.md 3i) */
    uint32_t c = store_checksum_crc32(0, "hello world", 11);
    uint8_t be[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    edge_base64_encode(b64, be, 4);
    assert_string_equal(b64, "DUoRhQ==");
    assert_int_equal(edge_base64_encode(b64, "", 0), 0);
    edge_base64_encode(b64, "ab", 2);
    assert_string_equal(b64, "YWI=");
    assert_int_equal(edge_base64_decode(out, "YWI=", 4, EDGE_BASE64_STRICT), 2);
    assert_int_equal(edge_base64_decode(out, "YWJj", 4, EDGE_BASE64_STRICT), 3);
    assert_int_equal(edge_base64_decode(out, "YWI", 3, EDGE_BASE64_STRICT), -1);
    assert_int_equal(edge_base64_decode(out, "Y=I=", 4, EDGE_BASE64_STRICT), -1);
    assert_int_equal(edge_base64_decode(out, "YW!=", 4, EDGE_BASE64_STRICT), -1);
    assert_int_equal(edge_base64_decode(out, "YW==YWI=", 8, EDGE_BASE64_STRICT), -1);
    /* Content-MD5 of the empty body */
    store_checksum_digest_t d;
    uint8_t md5[16];
    char hex[33];
    assert_int_equal(store_checksum_digest_init(&d, 1, 1), 0);
    store_checksum_digest_final(&d, md5);
    sigv4_hex(md5, 16, hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_3f_replay),           cmocka_unit_test(test_3f_tamper),      cmocka_unit_test(test_3g_trailer),
        cmocka_unit_test(test_3i_unsigned_trailer), cmocka_unit_test(test_framing_errors), cmocka_unit_test(test_checksums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
