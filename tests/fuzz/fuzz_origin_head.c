/* tests/fuzz/fuzz_origin_head.c - libFuzzer target: the origin client's response framing (proxy/originhead.c): the head parser, and
 * the chunked decoder fed whole, byte by byte and in pieces, plus an encode / decode round trip
 *
 * Input: byte 0 = the request ('H': HEAD, anything else: GET); byte 1 = mode (bit 0: the rest is a chunked body, not a head;
 * bit 1: also round-trip the rest as a payload) and, in its high bits, a piece size; then the bytes from the origin.
 * Properties: no crash or UB; an accepted head has a status of 100-599 (never 101), ends in CRLF CRLF within the input and the
 * size limit, has field slices inside it made of token names and values without control bytes or surrounding whitespace, and
 * a framing decision consistent with its fields (RFC 9112 §6.3); every prefix of an accepted head is incomplete; an accepted
 * head parses the same without the bytes after it; a refused head stays refused whatever follows it. The chunked decoder gives
 * the same result, data and trailing bytes however its input is split, never more data than input, and decodes any correctly
 * framed body (random sizes, extensions, trailers) back to its payload, and agrees (outcome, data, trailing bytes) with a second,
 * whole-buffer reading of the chunked grammar written here; a head built to be valid from the input bytes is always accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "proxy/originhead.h"
#include "tests/fuzz/fuzz_check.h"

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int name_is(const origin_head_field_t *f, const char *lit)
{
    return f->name_len == strlen(lit) && strncasecmp(f->name, lit, f->name_len) == 0;
}

/* an independent reading of one Content-Length value: comma-separated decimal numbers, all equal to want */
static int cl_value_is(const char *v, size_t len, int64_t want)
{
    size_t i = 0;
    while (i <= len) {
        uint64_t n = 0;
        int digits = 0;
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            ++i;
        while (i < len && v[i] >= '0' && v[i] <= '9' && n <= ORIGIN_MAX_LENGTH) {
            n = n * 10 + (uint64_t)(v[i++] - '0');
            ++digits;
        }
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            ++i;
        if (digits == 0 || n != (uint64_t)want)
            return 0;
        if (i == len)
            return 1;
        if (v[i] != ',')
            return 0;
        ++i;
    }
    return 0;
}

static int lists_close(const char *v, size_t len)
{
    for (size_t i = 0; i + 5 <= len; ++i) {
        if (strncasecmp(v + i, "close", 5) != 0)
            continue;
        size_t a = i, b = i + 5;
        while (a > 0 && (v[a - 1] == ' ' || v[a - 1] == '\t'))
            --a;
        while (b < len && (v[b] == ' ' || v[b] == '\t'))
            ++b;
        if ((a == 0 || v[a - 1] == ',') && (b == len || v[b] == ','))
            return 1;
    }
    return 0;
}

static void check_accepted(const char *buf, size_t len, int flags, const origin_head_t *h)
{
    size_t num_cl = 0, num_te = 0;
    int close_listed = 0;

    FUZZ_CHECK(h->error == NULL, "an accepted head with an error");
    FUZZ_CHECK(h->status >= 100 && h->status <= 599 && h->status != 101, "status %d", h->status);
    FUZZ_CHECK(h->minor_version == 0 || h->minor_version == 1, "minor version %d", h->minor_version);
    FUZZ_CHECK(h->head_len >= 4 && h->head_len <= len && h->head_len <= ORIGIN_HEAD_MAX_SIZE, "head_len %zu of %zu", h->head_len,
               len);
    FUZZ_CHECK(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0, "a head that does not end in CRLF CRLF");
    FUZZ_CHECK(memcmp(buf, "HTTP/1.", 7) == 0, "a status line that does not start with HTTP/1.");
    FUZZ_CHECK(h->reason != NULL && h->reason >= buf && h->reason + h->reason_len <= buf + h->head_len, "reason outside the head");
    for (size_t i = 0; i != h->reason_len; ++i)
        FUZZ_CHECK(is_text((unsigned char)h->reason[i]), "a control byte in the reason");
    FUZZ_CHECK(h->num_fields <= ORIGIN_HEAD_MAX_FIELDS, "%zu fields", h->num_fields);
    /* lines: CRLF only (no bare CR or LF), none but the first starts with whitespace, one field per line */
    size_t lines = 0;
    for (size_t i = 0; i != h->head_len; ++i) {
        if (buf[i] == '\r')
            FUZZ_CHECK(i + 1 < h->head_len && buf[i + 1] == '\n', "a bare CR at %zu", i);
        if (buf[i] == '\n') {
            FUZZ_CHECK(i > 0 && buf[i - 1] == '\r', "a bare LF at %zu", i);
            ++lines;
            if (i + 1 < h->head_len)
                FUZZ_CHECK(buf[i + 1] != ' ' && buf[i + 1] != '\t', "a line starting with whitespace at %zu", i + 1);
        }
    }
    FUZZ_CHECK(lines == h->num_fields + 2, "%zu lines for %zu fields", lines, h->num_fields);
    for (size_t i = 0; i != h->num_fields; ++i) {
        const origin_head_field_t *f = &h->fields[i];
        FUZZ_CHECK(f->name > buf && f->name + f->name_len <= buf + h->head_len, "field %zu name outside the head", i);
        FUZZ_CHECK(f->value >= f->name + f->name_len && f->value + f->value_len <= buf + h->head_len, "field %zu value outside", i);
        FUZZ_CHECK(f->name_len != 0 && f->name[f->name_len] == ':', "field %zu: a name not followed by its colon", i);
        FUZZ_CHECK(f->name[-1] == '\n', "field %zu does not start a line", i);
        for (size_t k = 0; k != f->name_len; ++k)
            FUZZ_CHECK(is_tchar((unsigned char)f->name[k]), "field %zu: a name byte that is not a tchar", i);
        for (size_t k = 0; k != f->value_len; ++k)
            FUZZ_CHECK(is_text((unsigned char)f->value[k]), "field %zu: a control byte in the value", i);
        if (f->value_len != 0) {
            FUZZ_CHECK(f->value[0] != ' ' && f->value[0] != '\t', "field %zu: leading whitespace", i);
            FUZZ_CHECK(f->value[f->value_len - 1] != ' ' && f->value[f->value_len - 1] != '\t', "field %zu: trailing whitespace",
                       i);
        }
        FUZZ_CHECK(f->value[f->value_len] == '\r' || f->value[f->value_len] == ' ' || f->value[f->value_len] == '\t',
                   "field %zu: the value stops early", i);
        if (name_is(f, "content-length")) {
            ++num_cl;
            if (h->framing == ORIGIN_FRAMING_LENGTH)
                FUZZ_CHECK(cl_value_is(f->value, f->value_len, h->content_length), "a Content-Length that disagrees");
        } else if (name_is(f, "transfer-encoding")) {
            ++num_te;
            FUZZ_CHECK(f->value_len == 7 && strncasecmp(f->value, "chunked", 7) == 0,
                       "an accepted Transfer-Encoding other than chunked");
        } else if (name_is(f, "connection")) {
            close_listed |= lists_close(f->value, f->value_len);
        }
    }
    FUZZ_CHECK(num_te <= 1, "%zu Transfer-Encoding fields accepted", num_te);

    /* the framing decision (RFC 9112 §6.3) */
    int no_body = h->status < 200 || h->status == 204 || h->status == 304 || (flags & ORIGIN_HEAD_REQ_HEAD) != 0;
    if (no_body) {
        FUZZ_CHECK(h->framing == ORIGIN_FRAMING_NONE, "a body on a response that cannot have one");
        /* an announced body frames nothing here, but bytes may follow: the connection must not carry another request */
        if (h->status >= 200 && num_te != 0)
            FUZZ_CHECK(!h->keepalive, "reuse after an announced chunked body");
        if ((flags & ORIGIN_HEAD_REQ_HEAD) != 0 && h->content_length > 0)
            FUZZ_CHECK(!h->keepalive, "reuse after a HEAD response announcing %lld bytes", (long long)h->content_length);
        if ((flags & ORIGIN_HEAD_REQ_HEAD) == 0)
            FUZZ_CHECK(h->content_length == 0, "length %lld of a 1xx/204/304", (long long)h->content_length);
    } else {
        switch (h->framing) {
        case ORIGIN_FRAMING_LENGTH:
            FUZZ_CHECK(num_cl != 0 && num_te == 0, "length framing with %zu CL, %zu TE", num_cl, num_te);
            FUZZ_CHECK(h->content_length >= 0 && (uint64_t)h->content_length <= ORIGIN_MAX_LENGTH, "length %lld",
                       (long long)h->content_length);
            break;
        case ORIGIN_FRAMING_CHUNKED:
            FUZZ_CHECK(num_te == 1 && num_cl == 0 && h->minor_version == 1, "chunked with %zu TE, %zu CL, HTTP/1.%d", num_te,
                       num_cl, h->minor_version);
            FUZZ_CHECK(h->content_length == -1, "chunked with a length");
            break;
        case ORIGIN_FRAMING_EOF:
            FUZZ_CHECK(num_te == 0 && num_cl == 0, "read-until-close with framing fields");
            FUZZ_CHECK(!h->keepalive && h->content_length == -1, "read-until-close and keep-alive");
            break;
        default:
            FUZZ_CHECK(0, "no framing for a response that has a body");
        }
    }
    if (h->keepalive)
        FUZZ_CHECK(h->minor_version == 1 && !close_listed && h->framing != ORIGIN_FRAMING_EOF, "keep-alive where it must not be");
}

static void fuzz_head(const char *buf, size_t len, int flags, unsigned seed)
{
    static origin_head_t h, h2;
    static char ext[ORIGIN_HEAD_MAX_SIZE + 64];
    int ret = origin_parse_head(buf, len, flags, &h);

    FUZZ_CHECK(ret == ORIGIN_HEAD_COMPLETE || ret == ORIGIN_HEAD_INCOMPLETE || ret == ORIGIN_HEAD_ERROR, "result %d", ret);
    if (ret == ORIGIN_HEAD_ERROR) {
        FUZZ_CHECK(h.error != NULL && h.error[0] != '\0', "an error without a reason");
        /* what follows cannot make a refused head acceptable */
        if (len <= ORIGIN_HEAD_MAX_SIZE) {
            memcpy(ext, buf, len);
            memcpy(ext + len, "\r\n\r\n", 4);
            FUZZ_CHECK(origin_parse_head(ext, len + 4, flags, &h2) == ORIGIN_HEAD_ERROR, "refused, then accepted with more bytes");
        }
        return;
    }
    FUZZ_CHECK(h.error == NULL, "an error string without an error");
    if (ret == ORIGIN_HEAD_INCOMPLETE) {
        FUZZ_CHECK(len < ORIGIN_HEAD_MAX_SIZE, "incomplete at %zu bytes", len);
        if (len != 0)
            FUZZ_CHECK(origin_parse_head(buf, seed % len, flags, &h2) == ORIGIN_HEAD_INCOMPLETE, "a prefix of an incomplete head");
        return;
    }
    check_accepted(buf, len, flags, &h);
    /* every prefix is incomplete; the bytes after the head change nothing */
    FUZZ_CHECK(origin_parse_head(buf, h.head_len - 1, flags, &h2) == ORIGIN_HEAD_INCOMPLETE, "the head minus one byte");
    FUZZ_CHECK(origin_parse_head(buf, seed % h.head_len, flags, &h2) == ORIGIN_HEAD_INCOMPLETE, "a prefix of the head");
    FUZZ_CHECK(origin_parse_head(buf, h.head_len, flags, &h2) == ORIGIN_HEAD_COMPLETE, "the head alone");
    FUZZ_CHECK(h2.status == h.status && h2.framing == h.framing && h2.content_length == h.content_length &&
                   h2.keepalive == h.keepalive && h2.num_fields == h.num_fields && h2.head_len == h.head_len,
               "the head alone parses differently");
}

/* ---- chunked ---------------------------------------------------------------------------------------------------------------- */

typedef struct decoded {
    ssize_t ret;
    const char *error;
    char *data, *after;
    size_t data_len, after_len;
} decoded_t;

/* decodes in pieces of step bytes (0: whole) */
static void decode(const char *in, size_t len, size_t step, decoded_t *out)
{
    origin_chunked_t d;
    char *buf = malloc(len + 1);
    size_t i = 0;
    out->data = malloc(len + 1);
    out->after = malloc(len + 1);
    out->data_len = out->after_len = 0;
    out->ret = ORIGIN_CHUNKED_INCOMPLETE;
    out->error = NULL;
    origin_chunked_init(&d);
    do {
        size_t n = step == 0 || len - i < step ? len - i : step, size = n;
        memcpy(buf, in + i, n);
        out->ret = origin_chunked_decode(&d, buf, &size);
        FUZZ_CHECK(size <= n, "%zu bytes decoded out of %zu", size, n);
        FUZZ_CHECK(out->ret >= ORIGIN_CHUNKED_INCOMPLETE && out->ret <= (ssize_t)(n - size), "result %zd for %zu bytes", out->ret,
                   n);
        if (out->ret == ORIGIN_CHUNKED_ERROR) {
            FUZZ_CHECK(d.error != NULL, "an error without a reason");
            out->error = d.error;
            break;
        }
        memcpy(out->data + out->data_len, buf, size);
        out->data_len += size;
        i += n;
        if (out->ret >= 0) {
            memcpy(out->after, buf + size, (size_t)out->ret);
            memcpy(out->after + out->ret, in + i, len - i);
            out->after_len = (size_t)out->ret + (len - i);
            FUZZ_CHECK(memcmp(out->after, in + len - out->after_len, out->after_len) == 0, "the bytes after the body changed");
            /* a finished decoder takes nothing more */
            size = 1;
            buf[0] = 'x';
            FUZZ_CHECK(origin_chunked_decode(&d, buf, &size) == ORIGIN_CHUNKED_ERROR, "bytes accepted after the end");
            break;
        }
    } while (i < len);
    FUZZ_CHECK(out->data_len <= len, "more data than input");
    free(buf);
}

static void decoded_free(decoded_t *d)
{
    free(d->data);
    free(d->after);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * a second, whole-buffer reading of RFC 9112 §7.1 with the same limits, written from the grammar and not from the decoder:
 * returns 1 (complete: *rest bytes follow), 0 (valid so far, more needed) or -1 (invalid); data gets the chunk data so far
 */
static int ref_chunked(const char *in, size_t len, char *data, size_t *dlen, size_t *rest)
{
    size_t i = 0;
    *dlen = 0;
    for (;;) {
        /* chunk-size [ *WS ";" ext ] CRLF, at most ORIGIN_CHUNK_LINE_MAX bytes with its CRLF */
        size_t start = i;
        uint64_t size = 0;
        int v;
#define LINE_CHECK()                                                                                                               \
    do {                                                                                                                           \
        if (i - start > ORIGIN_CHUNK_LINE_MAX)                                                                                     \
            return -1;                                                                                                             \
        if (i == len)                                                                                                              \
            return 0;                                                                                                              \
    } while (0)
        LINE_CHECK();
        if (hexval(in[i]) < 0)
            return -1;
        for (; i < len && (v = hexval(in[i])) >= 0; ++i) {
            if (i + 1 - start > ORIGIN_CHUNK_LINE_MAX)
                return -1;
            if (size > (ORIGIN_MAX_LENGTH - (uint64_t)v) / 16)
                return -1;
            size = size * 16 + (uint64_t)v;
        }
        LINE_CHECK();
        while (i < len && (in[i] == ' ' || in[i] == '\t') && i + 1 - start <= ORIGIN_CHUNK_LINE_MAX)
            ++i;
        LINE_CHECK();
        if (in[i] == ';') {
            ++i;
            while (i < len && in[i] != '\r' && is_text((unsigned char)in[i]) && i + 1 - start <= ORIGIN_CHUNK_LINE_MAX)
                ++i;
            LINE_CHECK();
        }
        if (in[i++] != '\r')
            return -1;
        LINE_CHECK();
        if (in[i++] != '\n')
            return -1;
        if (i - start > ORIGIN_CHUNK_LINE_MAX)
            return -1;
#undef LINE_CHECK
        if (size == 0)
            break;
        /* chunk-data CRLF */
        if ((uint64_t)(len - i) < size) {
            memcpy(data + *dlen, in + i, len - i);
            *dlen += len - i;
            return 0;
        }
        memcpy(data + *dlen, in + i, (size_t)size);
        *dlen += (size_t)size;
        i += (size_t)size;
        for (const char *crlf = "\r\n"; *crlf != '\0'; ++crlf, ++i) {
            if (i == len)
                return 0;
            if (in[i] != *crlf)
                return -1;
        }
    }
    /* trailer-section CRLF: *( field-name ":" *text CRLF ), at most ORIGIN_TRAILERS_MAX_SIZE bytes and ORIGIN_HEAD_MAX_FIELDS */
    size_t start = i, fields = 0;
#define TRAILER_CHECK()                                                                                                            \
    do {                                                                                                                           \
        if (i - start > ORIGIN_TRAILERS_MAX_SIZE)                                                                                  \
            return -1;                                                                                                             \
        if (i == len)                                                                                                              \
            return 0;                                                                                                              \
    } while (0)
    for (;;) {
        TRAILER_CHECK();
        if (in[i] == '\r') {
            ++i;
            TRAILER_CHECK();
            if (in[i++] != '\n')
                return -1;
            if (i - start > ORIGIN_TRAILERS_MAX_SIZE)
                return -1;
            *rest = len - i;
            return 1;
        }
        if (!is_tchar((unsigned char)in[i]) || ++fields > ORIGIN_HEAD_MAX_FIELDS)
            return -1;
        while (i < len && is_tchar((unsigned char)in[i]) && i + 1 - start <= ORIGIN_TRAILERS_MAX_SIZE)
            ++i;
        TRAILER_CHECK();
        if (in[i++] != ':')
            return -1;
        TRAILER_CHECK();
        while (i < len && in[i] != '\r' && is_text((unsigned char)in[i]) && i + 1 - start <= ORIGIN_TRAILERS_MAX_SIZE)
            ++i;
        TRAILER_CHECK();
        if (in[i++] != '\r')
            return -1;
        TRAILER_CHECK();
        if (in[i++] != '\n')
            return -1;
    }
#undef TRAILER_CHECK
}

static void fuzz_chunked(const char *in, size_t len, size_t step)
{
    decoded_t a, b, c;
    decode(in, len, 0, &a);
    decode(in, len, 1, &b);
    decode(in, len, step, &c);
    /* the count of bytes after the body is per call: compare the outcome, then the trailing bytes themselves */
#define OUTCOME(x) ((x).ret >= 0 ? 0 : (x).ret)
    FUZZ_CHECK(OUTCOME(a) == OUTCOME(b) && OUTCOME(a) == OUTCOME(c), "results %zd / %zd / %zd (whole, bytes, pieces of %zu)", a.ret,
               b.ret, c.ret, step);
#undef OUTCOME
    FUZZ_CHECK(a.error == b.error && a.error == c.error, "errors differ by split: %s / %s / %s", a.error ? a.error : "-",
               b.error ? b.error : "-", c.error ? c.error : "-");
    if (a.ret != ORIGIN_CHUNKED_ERROR) {
        FUZZ_CHECK(a.data_len == b.data_len && a.data_len == c.data_len, "decoded lengths differ by split");
        FUZZ_CHECK(memcmp(a.data, b.data, a.data_len) == 0 && memcmp(a.data, c.data, a.data_len) == 0, "decoded data differs");
        FUZZ_CHECK(a.after_len == b.after_len && a.after_len == c.after_len, "trailing bytes differ by split");
    }
    /* the same outcome as the reference reading */
    char *ref = malloc(len + 1);
    size_t ref_len = 0, ref_rest = 0;
    int r = ref_chunked(in, len, ref, &ref_len, &ref_rest);
    int outcome = a.ret >= 0 ? 1 : a.ret == ORIGIN_CHUNKED_INCOMPLETE ? 0 : -1;
    FUZZ_CHECK(r == outcome, "the reference says %d, the decoder %zd (%s)", r, a.ret, a.error != NULL ? a.error : "-");
    if (r >= 0)
        FUZZ_CHECK(ref_len == a.data_len && memcmp(ref, a.data, ref_len) == 0, "the reference decodes %zu bytes, the decoder %zu",
                   ref_len, a.data_len);
    if (r == 1)
        FUZZ_CHECK(ref_rest == a.after_len, "the reference leaves %zu bytes, the decoder %zu", ref_rest, a.after_len);
    free(ref);
    decoded_free(&a);
    decoded_free(&b);
    decoded_free(&c);
}

/* encodes payload as a valid chunked body (sizes, extensions and trailers from the seed) and decodes it back */
static void round_trip(const char *payload, size_t len, unsigned seed)
{
    size_t cap = len * 2 + 8192, o = 0, i = 0;
    char *enc = malloc(cap);
    decoded_t d;
    while (i < len) {
        size_t n = 1 + (seed = seed * 1103515245 + 12345) % 37;
        if (n > len - i)
            n = len - i;
        o += (size_t)snprintf(enc + o, cap - o, (seed & 64) ? "%zX" : "%zx", n);
        if (seed & 128)
            o += (size_t)snprintf(enc + o, cap - o, " ;a=b;q=\"x y\"");
        memcpy(enc + o, "\r\n", 2);
        memcpy(enc + o + 2, payload + i, n);
        memcpy(enc + o + 2 + n, "\r\n", 2);
        o += n + 4;
        i += n;
    }
    o += (size_t)snprintf(enc + o, cap - o, "0\r\n%s\r\n", (seed & 256) ? "Trailer-A: 1\r\nx-b:\t v \r\n" : "");
    decode(enc, o, 0, &d);
    FUZZ_CHECK(d.ret == 0, "a valid chunked body gives %zd", d.ret);
    FUZZ_CHECK(d.data_len == len && memcmp(d.data, payload, len) == 0, "a valid chunked body decodes to something else");
    decoded_free(&d);
    decode(enc, o, 1 + seed % 13, &d);
    FUZZ_CHECK(d.ret == 0 && d.data_len == len, "a valid chunked body in pieces gives %zd", d.ret);
    decoded_free(&d);
    free(enc);
}

/* builds a valid head from the input (status, reason, x- fields with sanitised names and values) and parses it: never refused */
static void head_round_trip(const char *in, size_t len, int flags, unsigned seed)
{
    static char head[ORIGIN_HEAD_MAX_SIZE];
    static origin_head_t h;
    int status = 100 + (int)(seed % 500);
    if (status == 101)
        status = 200;
    size_t o = (size_t)snprintf(head, sizeof(head), "HTTP/1.%u %03d ", seed & 1, status), i = 0, fields = 0;
    /* the reason: text bytes of the input up to the first CR/LF */
    for (; i < len && i < 64 && in[i] != '\n'; ++i)
        head[o++] = is_text((unsigned char)in[i]) ? in[i] : '?';
    memcpy(head + o, "\r\n", 2);
    o += 2;
    while (i < len && fields < 64 && o + 300 < sizeof(head)) {
        memcpy(head + o, "x-", 2);
        o += 2;
        for (size_t n = 0; n != 8 && i < len; ++n, ++i)
            head[o++] = is_tchar((unsigned char)in[i]) ? in[i] : 'a';
        head[o++] = ':';
        for (size_t n = 0; n != 32 && i < len && in[i] != '\n'; ++n, ++i)
            head[o++] = is_text((unsigned char)in[i]) ? in[i] : ' ';
        ++i;
        memcpy(head + o, "\r\n", 2);
        o += 2;
        ++fields;
    }
    memcpy(head + o, "\r\n", 2);
    o += 2;
    int ret = origin_parse_head(head, o, flags, &h);
    FUZZ_CHECK(ret == ORIGIN_HEAD_COMPLETE, "a valid head refused: %s", h.error != NULL ? h.error : "incomplete");
    FUZZ_CHECK(h.head_len == o && h.num_fields == fields && h.status == status, "a valid head misread");
    check_accepted(head, o, flags, &h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int flags = data[0] == 'H' ? ORIGIN_HEAD_REQ_HEAD : 0;
    unsigned mode = data[1];
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    unsigned seed = (unsigned)data[0] * 257u + mode;

    if ((mode & 1) == 0) {
        static origin_head_t h;
        fuzz_head(in, len, flags, seed);
        /* the body of an accepted chunked head goes through the decoder too */
        if (origin_parse_head(in, len, flags, &h) == ORIGIN_HEAD_COMPLETE && h.framing == ORIGIN_FRAMING_CHUNKED)
            fuzz_chunked(in + h.head_len, len - h.head_len, 1 + (mode >> 2));
    } else {
        fuzz_chunked(in, len, 1 + (mode >> 2));
    }
    if (mode & 2) {
        round_trip(in, len, seed);
        head_round_trip(in, len, flags, seed);
    }
    return 0;
}
