/* tests/fuzz/fuzz_h1_chunked.c - libFuzzer target: the store listener's HTTP/1.1 chunked request-body decoder (store/h1chunked.c)
 *
 * Input: byte 0 = piece size (0: whole), byte 1 = output room per call (0: unlimited), byte 2 bit 0: round trip, then the body.
 * Properties: the outcome (result, payload, bytes consumed up to the end) does not depend on how the input is split nor on the
 * output room; never more payload than input; nothing consumed past the end of the body; a refusal has a reason and stays a
 * refusal; round trip: any payload framed in any chunk sizes (with extensions and trailers) decodes to itself, and the bytes
 * after its end are left for the next request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "store/h1chunked.h"
#include "tests/fuzz/fuzz_check.h"

typedef struct result {
    int r;
    size_t consumed; /* input bytes up to the end (DONE) or all given */
    uint8_t *out;
    size_t out_len;
} result_t;

static result_t decode(const uint8_t *in, size_t len, size_t step, size_t room)
{
    store_h1chunked_t d;
    result_t res = {STORE_H1CHUNKED_MORE, 0, malloc(len + 1), 0};
    size_t off = 0, avail = 0;
    store_h1chunked_init(&d);
    while (res.r == STORE_H1CHUNKED_MORE) {
        if (off == avail) {
            if (avail == len)
                break;
            avail = step == 0 || len - avail < step ? len : avail + step; /* more input arrives */
        }
        size_t used, n;
        const char *data;
        res.r = store_h1chunked_decode(&d, (const char *)in + off, avail - off, room == 0 ? SIZE_MAX : room, &used, &data, &n);
        FUZZ_CHECK(used <= avail - off, "consumed %zu of %zu", used, avail - off);
        FUZZ_CHECK(n <= used && (n == 0 || (data >= (const char *)in + off && data + n <= (const char *)in + off + used)),
                   "payload outside the consumed input");
        FUZZ_CHECK(room == 0 || n <= room, "more payload than room");
        if (n != 0)
            memcpy(res.out + res.out_len, data, n);
        res.out_len += n;
        off += used;
        if (res.r == STORE_H1CHUNKED_ERROR) {
            FUZZ_CHECK(d.error != NULL, "a refusal without a reason");
            size_t u2, n2;
            const char *d2;
            FUZZ_CHECK(store_h1chunked_decode(&d, "0\r\n\r\n", 5, 16, &u2, &d2, &n2) == STORE_H1CHUNKED_ERROR, "refusal not final");
        }
        if (used == 0 && n == 0 && res.r == STORE_H1CHUNKED_MORE && off != avail)
            FUZZ_CHECK(0, "no progress with input left");
    }
    FUZZ_CHECK(res.out_len <= len, "more payload than input");
    res.consumed = off;
    return res;
}

static void same(const result_t *a, const result_t *b)
{
    FUZZ_CHECK(a->r == b->r, "result %d vs %d", a->r, b->r);
    if (a->r == STORE_H1CHUNKED_ERROR)
        return; /* where the error is seen may depend on the split; the refusal may not */
    FUZZ_CHECK(a->out_len == b->out_len && memcmp(a->out, b->out, a->out_len) == 0, "payload differs");
    if (a->r == STORE_H1CHUNKED_DONE)
        FUZZ_CHECK(a->consumed == b->consumed, "end differs: %zu vs %zu", a->consumed, b->consumed);
}

static void round_trip(const uint8_t *data, size_t size)
{
    /* frame the input as payload, in chunk sizes taken from the input itself */
    size_t cap = size * 16 + 256, n = 0, i = 0; /* a 1-byte chunk costs up to 15 bytes framed */
    char *buf = malloc(cap);
    while (i < size) {
        size_t c = 1 + data[i] % 17;
        if (c > size - i)
            c = size - i;
        n += (size_t)snprintf(buf + n, cap - n, i % 3 == 0 ? "%zX;ext=\"v\"\r\n" : "%zx\r\n", c);
        memcpy(buf + n, data + i, c);
        n += c;
        buf[n++] = '\r';
        buf[n++] = '\n';
        i += c;
    }
    n += (size_t)snprintf(buf + n, cap - n, "0\r\n%s\r\nGET / HTTP/1.1\r\n", size % 2 ? "x-amz-checksum-crc32: AAAAAA==\r\n" : "");
    result_t a = decode((const uint8_t *)buf, n, 0, 0), b = decode((const uint8_t *)buf, n, 1, 3);
    FUZZ_CHECK(a.r == STORE_H1CHUNKED_DONE && a.out_len == size && memcmp(a.out, data, size) == 0, "round trip failed");
    same(&a, &b);
    FUZZ_CHECK(n - a.consumed == strlen("GET / HTTP/1.1\r\n"), "the next request was consumed");
    free(a.out);
    free(b.out);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t step = data[0], room = data[1];
    int rt = data[2] & 1;
    data += 3;
    size -= 3;
    if (rt) {
        round_trip(data, size);
        return 0;
    }
    result_t whole = decode(data, size, 0, 0), split = decode(data, size, step, room), bytes = decode(data, size, 1, 1);
    same(&whole, &split);
    same(&whole, &bytes);
    free(whole.out);
    free(split.out);
    free(bytes.out);
    return 0;
}
