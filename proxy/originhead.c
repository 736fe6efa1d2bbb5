/* proxy/originhead.c - the origin client's response framing as pure functions: the response-head parser and the chunked decoder. */
#include <string.h>
#include "base/str.h"
#include "proxy/originhead.h"

/* tchar (RFC 9110 §5.6.2): "!#$%&'*+-.^_`|~", digits and letters */
static int originhead_is_tchar(unsigned char c)
{
    static const char other[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && memchr(other, c, sizeof(other) - 1) != NULL;
}

/* a byte of a field value or reason phrase: HTAB, SP, VCHAR or obs-text (RFC 9110 §5.5); no other control byte, no DEL */
static int originhead_is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int originhead_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static int originhead_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* case-insensitive comparison of a slice with a lowercase literal */
static int originhead_eq(const char *s, size_t len, const char *lit)
{
    return edge_lcstris(s, len, lit, strlen(lit));
}

static int originhead_fail(origin_head_t *out, const char *why)
{
    out->error = why;
    return ORIGIN_HEAD_ERROR;
}

/*
 * one Content-Length field value: 1*DIGIT, or a comma-separated list of equal values (RFC 9112 §6.3 rule 5); *clen is -1 or the
 * value of an earlier field, which this one must equal. Returns NULL or the reason for refusing it.
 */
static const char *originhead_content_length(const char *v, size_t len, int64_t *clen)
{
    size_t i = 0;
    if (len == 0)
        return "an empty Content-Length";
    for (;;) {
        uint64_t n = 0;
        size_t start;
        while (i != len && originhead_is_ws(v[i]))
            ++i;
        start = i;
        for (; i != len && originhead_is_digit(v[i]); ++i) {
            unsigned d = (unsigned)(v[i] - '0');
            if (n > (ORIGIN_MAX_LENGTH - d) / 10)
                return "a Content-Length larger than 2^62";
            n = n * 10 + d;
        }
        if (i == start)
            return "an invalid Content-Length";
        while (i != len && originhead_is_ws(v[i]))
            ++i;
        if (*clen >= 0 && (uint64_t)*clen != n)
            return "Content-Length values that differ";
        *clen = (int64_t)n;
        if (i == len)
            return NULL;
        if (v[i] != ',')
            return "an invalid Content-Length";
        ++i;
    }
}

/* the framing and keep-alive decision once the syntax is known to be fine (RFC 9112 §6.1, §6.3) */
static int originhead_decide(origin_head_t *out, int flags)
{
    int64_t clen = -1;
    int te = 0, close_conn = 0, no_body;
    const char *why;

    for (size_t i = 0; i != out->num_fields; ++i) {
        const origin_head_field_t *f = &out->fields[i];
        if (originhead_eq(f->name, f->name_len, "content-length")) {
            if ((why = originhead_content_length(f->value, f->value_len, &clen)) != NULL)
                return originhead_fail(out, why);
        } else if (originhead_eq(f->name, f->name_len, "transfer-encoding")) {
            /* only chunked, once: a list with other codings (gzip, chunked) would need decoding we do not do, and chunked
             * twice is forbidden (§6.1); several fields are one list (RFC 9110 §5.3) */
            if (te)
                return originhead_fail(out, "more than one Transfer-Encoding field");
            if (!originhead_eq(f->value, f->value_len, "chunked"))
                return originhead_fail(out, "a Transfer-Encoding other than chunked");
            te = 1;
        } else if (originhead_eq(f->name, f->name_len, "connection")) {
            close_conn |= edge_list_has(f->value, f->value_len, "close", 5);
        }
    }

    if (out->status < 200) {
        /* informational: no body, and its fields say nothing about the final response (§6.3 rule 1) */
        out->framing = ORIGIN_FRAMING_NONE;
        out->content_length = 0;
        out->keepalive = 0;
        return ORIGIN_HEAD_COMPLETE;
    }
    out->keepalive = out->minor_version >= 1 && !close_conn;
    no_body = (flags & ORIGIN_HEAD_REQ_HEAD) != 0 || out->status == 204 || out->status == 304;
    if (no_body) {
        /* §6.3 rule 1: the head ends the response. Content-Length and Transfer-Encoding describe the representation a GET would
         * get and frame nothing, so neither their combination nor HTTP/1.0 is an error here; but an origin that announces a body
         * might send one, and those bytes must never be read as the next response: the connection is closed after this one */
        out->framing = ORIGIN_FRAMING_NONE;
        if (te || clen > 0)
            out->keepalive = 0;
        if (flags & ORIGIN_HEAD_REQ_HEAD)
            out->content_length = te ? -1 : clen;
        else
            out->content_length = 0;
        return ORIGIN_HEAD_COMPLETE;
    }
    if (te) {
        /* §6.1: "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding header field MUST treat the
         * message as if the framing is faulty, even if a Content-Length is present" */
        if (out->minor_version == 0)
            return originhead_fail(out, "Transfer-Encoding in an HTTP/1.0 response");
        /* §6.3 rule 3: Transfer-Encoding overrides Content-Length, but "such a message might indicate an attempt to perform
         * request smuggling or response splitting and ought to be handled as an error" */
        if (clen >= 0)
            return originhead_fail(out, "both Transfer-Encoding and Content-Length");
        out->framing = ORIGIN_FRAMING_CHUNKED;
        out->content_length = -1;
    } else if (clen >= 0) {
        out->framing = ORIGIN_FRAMING_LENGTH;
        out->content_length = clen;
    } else {
        /* §6.3 rule 8: read until close; the end of the connection ends the response */
        out->framing = ORIGIN_FRAMING_EOF;
        out->content_length = -1;
        out->keepalive = 0;
    }
    return ORIGIN_HEAD_COMPLETE;
}

int origin_parse_head(const char *buf, size_t len, int flags, origin_head_t *out)
{
    static const char proto[] = "HTTP/1.";
    const char *p = buf, *end = buf + (len < ORIGIN_HEAD_MAX_SIZE ? len : ORIGIN_HEAD_MAX_SIZE);
    size_t i;

    out->minor_version = -1;
    out->status = 0;
    out->reason = NULL;
    out->reason_len = 0;
    out->head_len = 0;
    out->framing = ORIGIN_FRAMING_NONE;
    out->content_length = -1;
    out->keepalive = 0;
    out->error = NULL;
    out->num_fields = 0;

/* the bytes so far are fine but the head goes on */
#define NEED(n)                                                                                                                    \
    do {                                                                                                                           \
        if ((size_t)(end - p) < (n))                                                                                               \
            goto Incomplete;                                                                                                       \
    } while (0)

    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4) */
    for (i = 0; i != sizeof(proto) - 1; ++i, ++p) {
        NEED(1);
        if (*p != proto[i])
            return originhead_fail(out, "not an HTTP/1.x status line");
    }
    NEED(1);
    if (!originhead_is_digit(*p))
        return originhead_fail(out, "not an HTTP/1.x status line");
    out->minor_version = *p++ == '0' ? 0 : 1;
    NEED(1);
    if (*p++ != ' ')
        return originhead_fail(out, "not an HTTP/1.x status line");
    for (i = 0; i != 3; ++i, ++p) {
        NEED(1);
        if (!originhead_is_digit(*p))
            return originhead_fail(out, "a status code that is not 3 digits");
        out->status = out->status * 10 + (*p - '0');
    }
    if (out->status < 100 || out->status > 599)
        return originhead_fail(out, "a status code outside 100-599");
    NEED(1);
    if (*p == ' ') {
        /* the reason phrase; its SP may be missing when there is no phrase (a common deviation, and unambiguous) */
        out->reason = ++p;
        while (p != end && originhead_is_text((unsigned char)*p))
            ++p;
        out->reason_len = (size_t)(p - out->reason);
        NEED(1);
    } else {
        out->reason = p;
    }
    if (*p != '\r') {
        if (originhead_is_digit(*p))
            return originhead_fail(out, "a status code that is not 3 digits");
        return originhead_fail(out, *p == '\n' ? "a line that ends in LF without CR" : "a control character in the status line");
    }
    ++p;
    NEED(1);
    if (*p++ != '\n')
        return originhead_fail(out, "a CR not followed by LF");

    /* *( field-line CRLF ) CRLF (RFC 9112 §5) */
    for (;;) {
        origin_head_field_t *f;
        const char *value_end;
        NEED(1);
        if (*p == '\r') {
            ++p;
            NEED(1);
            if (*p++ != '\n')
                return originhead_fail(out, "a CR not followed by LF");
            break;
        }
        if (originhead_is_ws(*p)) {
            /* §5.2: a proxy answers 502 or replaces obs-fold with SP; we answer 502 (also for whitespace before the first field,
             * §2.2) */
            return originhead_fail(out, out->num_fields == 0 ? "whitespace before the first header field"
                                                             : "obsolete line folding (a header line starting with whitespace)");
        }
        if (*p == '\n')
            return originhead_fail(out, "a line that ends in LF without CR");
        if (out->num_fields == ORIGIN_HEAD_MAX_FIELDS)
            return originhead_fail(out, "more than 512 header fields");
        f = &out->fields[out->num_fields];
        f->name = p;
        while (p != end && originhead_is_tchar((unsigned char)*p))
            ++p;
        NEED(1);
        if (*p != ':') {
            /* §5.1: no whitespace between the name and the colon (a proxy would have to remove it; we refuse) */
            return originhead_fail(out, originhead_is_ws(*p) ? "whitespace between a header name and its colon"
                                                             : "an invalid character in a header name");
        }
        if (p == f->name)
            return originhead_fail(out, "an empty header name");
        f->name_len = (size_t)(p - f->name);
        ++p;
        while (p != end && originhead_is_ws(*p))
            ++p;
        f->value = p;
        while (p != end && originhead_is_text((unsigned char)*p))
            ++p;
        NEED(1);
        if (*p != '\r')
            return originhead_fail(out, *p == '\n' ? "a line that ends in LF without CR" : "a control character in a header value");
        value_end = p;
        while (value_end > f->value && originhead_is_ws(value_end[-1]))
            --value_end;
        f->value_len = (size_t)(value_end - f->value);
        ++p;
        NEED(1);
        if (*p++ != '\n')
            return originhead_fail(out, "a CR not followed by LF");
        ++out->num_fields;
    }
#undef NEED
    out->head_len = (size_t)(p - buf);
    if (out->status == 101)
        return originhead_fail(out, "the origin switched protocols (unsupported)");
    return originhead_decide(out, flags);

Incomplete:
    if (len >= ORIGIN_HEAD_MAX_SIZE)
        return originhead_fail(out, "a response head larger than 64 KB");
    return ORIGIN_HEAD_INCOMPLETE;
}

/* ---- what the client sends -------------------------------------------------------------------------------------------------- */

const char *origin_request_check(const char *method, size_t method_len, const char *target, size_t target_len)
{
    if (method_len == 0)
        return "an empty method";
    for (size_t i = 0; i != method_len; ++i)
        if (!originhead_is_tchar((unsigned char)method[i]))
            return "a method that is not a token";
    if (target_len == 0)
        return "an empty request target";
    for (size_t i = 0; i != target_len; ++i) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c == 0x7f)
            return "a space or a control byte in the request target";
    }
    return NULL;
}

const char *origin_request_check_field(const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (name_len == 0)
        return "an empty header name";
    for (size_t i = 0; i != name_len; ++i)
        if (!originhead_is_tchar((unsigned char)name[i]))
            return "a header name that is not a token";
    for (size_t i = 0; i != value_len; ++i)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            return "CR, LF or NUL in a header value";
    return NULL;
}

/* ---- chunked bodies (RFC 9112 §7.1) ---------------------------------------------------------------------------------------- */

enum {
    CHUNK_SIZE_FIRST, /* the first hex digit of a chunk-size */
    CHUNK_SIZE,       /* more hex digits */
    CHUNK_AFTER_SIZE, /* whitespace after the size, before `;` or CR */
    CHUNK_EXT,        /* a chunk extension, up to CR */
    CHUNK_SIZE_LF,    /* the LF that ends the size line */
    CHUNK_DATA,
    CHUNK_DATA_CR, /* the CRLF after chunk data */
    CHUNK_DATA_LF,
    TRAILER_START, /* the start of a trailer line, or the CR of the empty line that ends the body */
    TRAILER_NAME,
    TRAILER_VALUE,
    TRAILER_LF,
    TRAILER_END_LF, /* the LF of the final empty line */
    CHUNK_DONE
};

void origin_chunked_init(origin_chunked_t *d)
{
    memset(d, 0, sizeof(*d));
    d->state = CHUNK_SIZE_FIRST;
}

ssize_t origin_chunked_decode(origin_chunked_t *d, char *buf, size_t *bufsz)
{
    size_t src = 0, dst = 0, n = *bufsz;
    ssize_t ret = ORIGIN_CHUNKED_INCOMPLETE;

#define CHUNK_FAIL(why)                                                                                                            \
    do {                                                                                                                           \
        d->error = (why);                                                                                                          \
        ret = ORIGIN_CHUNKED_ERROR;                                                                                                \
        goto Exit;                                                                                                                 \
    } while (0)

    if (d->state == CHUNK_DONE)
        CHUNK_FAIL("bytes after the end of a chunked body");
    while (src != n) {
        char c = buf[src];
        int v;
        if (d->state == CHUNK_DATA) {
            size_t take = n - src < d->left ? n - src : (size_t)d->left;
            if (dst != src)
                memmove(buf + dst, buf + src, take);
            src += take;
            dst += take;
            if ((d->left -= take) == 0)
                d->state = CHUNK_DATA_CR;
            continue;
        }
        ++src;
        if (d->state <= CHUNK_SIZE_LF && ++d->line_len > ORIGIN_CHUNK_LINE_MAX)
            CHUNK_FAIL("a chunk-size line longer than 4 KB");
        if (d->state >= TRAILER_START && ++d->trailer_len > ORIGIN_TRAILERS_MAX_SIZE)
            CHUNK_FAIL("chunked trailers larger than 64 KB");
        switch (d->state) {
        case CHUNK_SIZE_FIRST:
        case CHUNK_SIZE:
            if ((v = edge_hex_value((unsigned char)c)) >= 0) {
                if (d->left > (ORIGIN_MAX_LENGTH - (uint64_t)v) / 16)
                    CHUNK_FAIL("a chunk size larger than 2^62");
                d->left = d->left * 16 + (uint64_t)v;
                d->state = CHUNK_SIZE;
                break;
            }
            if (d->state == CHUNK_SIZE_FIRST)
                CHUNK_FAIL("a chunk size that is not hexadecimal");
            d->state = CHUNK_AFTER_SIZE;
            /* fallthrough */
        case CHUNK_AFTER_SIZE:
            /* chunk = chunk-size [ chunk-ext ] CRLF, chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ); whitespace
             * before the CRLF is tolerated (it is unambiguous) */
            if (originhead_is_ws(c))
                break;
            if (c == ';')
                d->state = CHUNK_EXT;
            else if (c == '\r')
                d->state = CHUNK_SIZE_LF;
            else
                CHUNK_FAIL(c == '\n' ? "a chunk-size line that ends in LF without CR" : "an invalid character after a chunk size");
            break;
        case CHUNK_EXT:
            /* extensions are ignored, but hold only printable bytes: no control byte, no bare CR or LF */
            if (c == '\r')
                d->state = CHUNK_SIZE_LF;
            else if (!originhead_is_text((unsigned char)c))
                CHUNK_FAIL("a control character in a chunk extension");
            break;
        case CHUNK_SIZE_LF:
            if (c != '\n')
                CHUNK_FAIL("a CR not followed by LF in a chunk-size line");
            d->line_len = 0;
            d->state = d->left != 0 ? CHUNK_DATA : TRAILER_START;
            break;
        case CHUNK_DATA_CR:
            if (c != '\r')
                CHUNK_FAIL("chunk data not followed by CRLF");
            d->state = CHUNK_DATA_LF;
            break;
        case CHUNK_DATA_LF:
            if (c != '\n')
                CHUNK_FAIL("chunk data not followed by CRLF");
            d->state = CHUNK_SIZE_FIRST;
            break;
        case TRAILER_START:
            if (c == '\r') {
                d->state = TRAILER_END_LF;
            } else if (originhead_is_tchar((unsigned char)c)) {
                if (++d->trailer_fields > ORIGIN_HEAD_MAX_FIELDS)
                    CHUNK_FAIL("more than 512 trailer fields");
                d->state = TRAILER_NAME;
            } else {
                CHUNK_FAIL(originhead_is_ws(c) ? "obsolete line folding in the trailers" : "an invalid trailer field");
            }
            break;
        case TRAILER_NAME:
            if (c == ':')
                d->state = TRAILER_VALUE;
            else if (!originhead_is_tchar((unsigned char)c))
                CHUNK_FAIL("an invalid character in a trailer name");
            break;
        case TRAILER_VALUE:
            if (c == '\r')
                d->state = TRAILER_LF;
            else if (!originhead_is_text((unsigned char)c))
                CHUNK_FAIL("a control character in a trailer value");
            break;
        case TRAILER_LF:
            if (c != '\n')
                CHUNK_FAIL("a CR not followed by LF in the trailers");
            d->state = TRAILER_START;
            break;
        case TRAILER_END_LF:
            if (c != '\n')
                CHUNK_FAIL("a CR not followed by LF at the end of a chunked body");
            d->state = CHUNK_DONE;
            ret = (ssize_t)(n - src);
            goto Exit;
        default:
            CHUNK_FAIL("corrupt chunked decoder state");
        }
    }
#undef CHUNK_FAIL

Exit:
    /* what follows the body (or the bytes not looked at after an error) goes right after the decoded data */
    if (dst != src && src != n)
        memmove(buf + dst, buf + src, n - src);
    *bufsz = dst;
    return ret;
}
