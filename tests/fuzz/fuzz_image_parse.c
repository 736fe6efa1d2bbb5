/* tests/fuzz/fuzz_image_parse.c - the hostile-input parsing of the libvips example hook (examples/hooks/c/image_resize_parse.h):
 * S3 event records (JSON), their URL-encoded keys, the hook's config, ?w= and Accept. The first byte picks what the rest feeds.
 * Invariants: records have a NUL-free bucket and key within their buffers; any key (bytes 1-255, up to 1024), written into an
 * event record the way the store encodes it, parses back to exactly itself (round trip); widths are 1-10000, at most the max
 * asked; ?w= is -1, 0 or 1-99999; a JSON document with one more byte of garbage after it is refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fuzz_check.h"
#include "examples/hooks/c/image_resize_parse.h"

typedef struct seen {
    size_t n;
    char key[IR_KEY_MAX];
} seen_t;

static void on_record(const ir_record_t *r, void *arg)
{
    seen_t *s = arg;
    FUZZ_CHECK(strlen(r->bucket) < sizeof(r->bucket) && strlen(r->key) < sizeof(r->key), "record");
    snprintf(s->key, sizeof(s->key), "%s", r->key);
    ++s->n;
}

/* the store's encoding of a key in an event record: unreserved as is, space as '+', the rest %XX; then JSON-quoted as is */
static size_t encode_key(const uint8_t *k, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        uint8_t c = k[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~/", c) != NULL)
            out[n++] = (char)c;
        else if (c == ' ')
            out[n++] = '+';
        else
            n += (size_t)sprintf(out + n, "%%%02X", c);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *p = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 6) {
    case 0: { /* any document as an event */
        seen_t s = {0};
        long n = ir_parse_event(p, len, on_record, &s);
        FUZZ_CHECK(n == -1 || (n >= 1 && (size_t)n == s.n), "event: %ld records, %zu seen", n, s.n);
        if (n > 0) {
            char *more = malloc(len + 2);
            memcpy(more, p, len);
            more[len] = ',';
            FUZZ_CHECK(ir_parse_event(more, len + 1, on_record, &s) == -1, "trailing garbage accepted");
            free(more);
        }
        break;
    }
    case 1: { /* round trip of a key through an event record */
        size_t klen = len > 1024 ? 1024 : len;
        for (size_t i = 0; i != klen; ++i)
            if (data[1 + i] == 0)
                return 0;
        char *doc = malloc(3 * klen + 256);
        int h = sprintf(doc, "{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"");
        size_t n = (size_t)h + encode_key(data + 1, klen, doc + h);
        n += (size_t)sprintf(doc + n, "\",\"size\":1}}}]}");
        seen_t s = {0};
        long r = ir_parse_event(doc, n, on_record, &s);
        if (klen == 0) {
            FUZZ_CHECK(r == 1 && s.key[0] == '\0', "empty key");
        } else {
            FUZZ_CHECK(r == 1 && strlen(s.key) == klen && memcmp(s.key, data + 1, klen) == 0, "key round trip");
        }
        free(doc);
        break;
    }
    case 2: { /* the config */
        unsigned w[4];
        char buf[16];
        long n = ir_config_widths(p, len, "widths", w, 4);
        FUZZ_CHECK(n >= -1 && n <= 4, "widths");
        for (long i = 0; i < n; ++i)
            FUZZ_CHECK(w[i] >= 1 && w[i] <= 10000, "width %u", w[i]);
        int r = ir_config_scalar(p, len, "quality", buf, sizeof(buf));
        FUZZ_CHECK(r >= -1 && r <= 1 && (r != 1 || strlen(buf) < sizeof(buf)), "scalar");
        break;
    }
    case 3: { /* ?w= */
        long w = ir_query_w(p, len);
        FUZZ_CHECK(w >= -1 && w <= 99999, "w %ld", w);
        break;
    }
    case 4: { /* Accept */
        int a = ir_accepts_webp(p, len);
        FUZZ_CHECK(a == 0 || a == 1, "accept");
        if (len != 0 && memchr(p, 'w', len) == NULL && memchr(p, 'W', len) == NULL && memchr(p, '*', len) == NULL)
            FUZZ_CHECK(a == 0, "webp without webp nor a wildcard");
        break;
    }
    default: { /* the type sniffer, and URL-decoding of any text */
        int t = ir_sniff((const unsigned char *)p, len);
        FUZZ_CHECK(t >= IR_TYPE_NONE && t <= IR_TYPE_WEBP, "sniff");
        char *in = malloc(len + 1), out[64];
        memcpy(in, p, len);
        in[len] = '\0';
        if (ir_url_decode(in, out, sizeof(out)) == 0)
            FUZZ_CHECK(strlen(out) < sizeof(out), "decode");
        free(in);
        break;
    }
    }
    return 0;
}
