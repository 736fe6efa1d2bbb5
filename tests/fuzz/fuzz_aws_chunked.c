/* tests/fuzz/fuzz_aws_chunked.c - libFuzzer target: the store's aws-chunked body decoder (store/chunked.c), fed whole, byte by byte
 * and in pieces chosen by the input, plus an encode / decode round trip with real chunk signatures
 *
 * Input: byte 0 = mode (low 2 bits: unsigned, signed, signed with trailer; bit 2: round trip), byte 1 = piece size, then the body.
 * Properties: the outcome (result, decoded bytes, trailers) does not depend on how the body is split across reads; the decoder
 * never hands out more bytes than it was given; a correctly framed and signed body always decodes to its payload, and a flipped
 * chunk-signature digit always gives a signature error.
 */
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "store/chunked.h"
#include "tests/fuzz/fuzz_check.h"

#define DATE "20130524T000000Z"
#define SCOPE "20130524/us-east-1/s3/aws4_request"
#define SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"

typedef struct out {
    uint8_t *buf;
    size_t len, cap;
} out_t;

static int on_data(void *ctx, const void *data, size_t len)
{
    out_t *o = ctx;
    if (o->len + len > o->cap) {
        o->cap = (o->len + len) * 2 + 64;
        o->buf = realloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    return 0;
}

static void chain(sigv4_chunk_chain_t *c)
{
    uint8_t key[32];
    for (int i = 0; i != 32; ++i)
        key[i] = (uint8_t)(i * 37 + 1);
    sigv4_chunk_init(c, key, DATE, SCOPE, SEED);
}

/* decodes body in pieces of step bytes (0: whole); returns the result, output in o, the trailers' fingerprint in tr */
static int decode(int mode, const uint8_t *body, size_t len, size_t step, out_t *o, char *tr, size_t trlen)
{
    store_chunked_t d;
    sigv4_chunk_chain_t c;
    chain(&c);
    FUZZ_CHECK(store_chunked_init(&d, mode, mode != STORE_CHUNKED_UNSIGNED ? &c : NULL) == 0, "init");
    int r = STORE_CHUNKED_OK;
    size_t i = 0;
    if (len == 0)
        r = store_chunked_feed(&d, body, 0, on_data, o);
    while (r == STORE_CHUNKED_OK && i < len) {
        size_t n = step == 0 || len - i < step ? len - i : step;
        r = store_chunked_feed(&d, body + i, n, on_data, o);
        i += n;
    }
    if (r == STORE_CHUNKED_OK)
        r = store_chunked_finish(&d);
    FUZZ_CHECK(o->len <= len, "decoded %zu bytes out of %zu", o->len, len);
    FUZZ_CHECK(r == STORE_CHUNKED_OK || d.error != NULL, "an error without a message");
    size_t k = 0;
    tr[0] = '\0';
    if (r == STORE_CHUNKED_OK)
        for (size_t t = 0; t != d.num_trailers && k < trlen; ++t)
            k += (size_t)snprintf(tr + k, trlen - k, "%s:%s\n", d.trailers[t].name, d.trailers[t].value);
    store_chunked_dispose(&d);
    return r;
}

static void split_invariance(int mode, const uint8_t *body, size_t len, size_t step)
{
    out_t a = {0}, b = {0}, c = {0};
    char ta[3000], tb[3000], tc[3000];
    int ra = decode(mode, body, len, 0, &a, ta, sizeof(ta));
    int rb = decode(mode, body, len, 1, &b, tb, sizeof(tb));
    int rc = decode(mode, body, len, step, &c, tc, sizeof(tc));
    FUZZ_CHECK(ra == rb && ra == rc, "results %d (whole) %d (bytes) %d (pieces of %zu)", ra, rb, rc, step);
    if (ra == STORE_CHUNKED_OK) {
        FUZZ_CHECK(a.len == b.len && a.len == c.len, "lengths %zu %zu %zu", a.len, b.len, c.len);
        FUZZ_CHECK(a.len == 0 || (memcmp(a.buf, b.buf, a.len) == 0 && memcmp(a.buf, c.buf, a.len) == 0), "payloads differ");
        FUZZ_CHECK(strcmp(ta, tb) == 0 && strcmp(ta, tc) == 0, "trailers differ");
    }
    free(a.buf);
    free(b.buf);
    free(c.buf);
}

static void append(out_t *o, const void *p, size_t n)
{
    on_data(o, p, n);
}

/* frames the input as a correct body, chunk sizes taken from the payload itself, then decodes it */
static void round_trip(int mode, const uint8_t *payload, size_t len)
{
    out_t body = {0};
    sigv4_chunk_chain_t c;
    char sig[65], hdr[128];
    uint8_t md[32];
    chain(&c);
    size_t i = 0;
    for (;;) {
        size_t n = len - i;
        if (n > 0) {
            size_t want = 1 + payload[i] % 97;
            n = n < want ? n : want;
        }
        int hl;
        if (mode == STORE_CHUNKED_UNSIGNED) {
            hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
        } else {
            SHA256(payload + i, n, md);
            sigv4_chunk_next(&c, md, sig);
            hl = snprintf(hdr, sizeof(hdr), "%zx;chunk-signature=%s\r\n", n, sig);
        }
        append(&body, hdr, (size_t)hl);
        if (n == 0)
            break;
        append(&body, payload + i, n);
        append(&body, "\r\n", 2);
        i += n;
    }
    if (mode == STORE_CHUNKED_UNSIGNED) {
        append(&body, "x-amz-checksum-crc32:AAAAAA==\r\n\r\n", 33);
    } else if (mode == STORE_CHUNKED_SIGNED_TRAILER) {
        static const char tl[] = "x-amz-checksum-crc32:AAAAAA==\n";
        SHA256((const uint8_t *)tl, sizeof(tl) - 1, md);
        sigv4_chunk_trailer(&c, md, sig);
        int n = snprintf(hdr, sizeof(hdr), "x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:%s\r\n\r\n", sig);
        append(&body, hdr, (size_t)n);
    } else {
        append(&body, "\r\n", 2);
    }
    out_t o = {0};
    char tr[3000];
    int r = decode(mode, body.buf, body.len, 1 + (len % 13), &o, tr, sizeof(tr));
    FUZZ_CHECK(r == STORE_CHUNKED_OK, "a correct body was refused (%d)", r);
    FUZZ_CHECK(o.len == len && (len == 0 || memcmp(o.buf, payload, len) == 0), "payload of %zu bytes decoded as %zu", len, o.len);
    free(o.buf);
    if (mode != STORE_CHUNKED_UNSIGNED && len != 0) {
        /* a flipped digit in some chunk signature */
        char *s = memmem(body.buf, body.len, "chunk-signature=", 16);
        for (size_t skip = payload[0] % 4; skip != 0 && s != NULL; --skip) {
            char *next = memmem(s + 16, body.len - (size_t)(s + 16 - (char *)body.buf), "chunk-signature=", 16);
            if (next == NULL)
                break;
            s = next;
        }
        FUZZ_CHECK(s != NULL, "no signature in a signed body");
        s[16 + payload[len - 1] % 64] ^= s[16 + payload[len - 1] % 64] == '0' ? 1 : 0x01 | 0x02;
        out_t bad = {0};
        r = decode(mode, body.buf, body.len, 7, &bad, tr, sizeof(tr));
        FUZZ_CHECK(r == STORE_CHUNKED_ESIGNATURE || r == STORE_CHUNKED_EFRAMING, "a tampered signature gave %d", r);
        free(bad.buf);
    }
    free(body.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0] & 3;
    if (mode == 3)
        mode = STORE_CHUNKED_SIGNED;
    size_t step = 1 + data[1];
    if (data[0] & 4)
        round_trip(mode, data + 2, size - 2);
    else
        split_invariance(mode, data + 2, size - 2, step);
    return 0;
}
