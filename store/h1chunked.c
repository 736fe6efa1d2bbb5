/* store/h1chunked.c - the strict HTTP/1.1 chunked request-body decoder (see h1chunked.h) */
#include "store/h1chunked.h"

enum {
    S_SIZE_FIRST, /* expecting the first hex digit of a chunk size */
    S_SIZE,       /* more hex digits, ';' or CR */
    S_EXT,        /* a chunk extension, up to CR */
    S_SIZE_LF,    /* LF after the size line */
    S_DATA,       /* chunk data */
    S_DATA_CR,    /* CR after the data */
    S_DATA_LF,    /* LF after the data */
    S_TRAILER,    /* start of a trailer line, or CR of the final empty line */
    S_TRAILER_LINE,
    S_TRAILER_LF, /* LF ending a trailer line */
    S_END_LF,     /* LF of the final empty line */
    S_DONE,
    S_ERROR
};

void store_h1chunked_init(store_h1chunked_t *d)
{
    *d = (store_h1chunked_t){0};
    d->state = S_SIZE_FIRST;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* a byte allowed in an extension or a trailer line: VCHAR, obs-text, SP, HTAB */
static int field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int fail(store_h1chunked_t *d, const char *why)
{
    d->state = S_ERROR;
    d->error = why;
    return STORE_H1CHUNKED_ERROR;
}

int store_h1chunked_decode(store_h1chunked_t *d, const char *in, size_t len, size_t max_out, size_t *used, const char **data,
                           size_t *datalen)
{
    size_t i = 0;
    *data = NULL;
    *datalen = 0;
    *used = 0;
    if (d->state == S_ERROR)
        return STORE_H1CHUNKED_ERROR;
    while (d->state != S_DONE) {
        if (d->state == S_DATA) {
            if (i == len || max_out == 0)
                break;
            size_t n = len - i;
            if (n > max_out)
                n = max_out;
            if (n > d->left)
                n = (size_t)d->left;
            *data = in + i;
            *datalen = n;
            i += n;
            d->left -= n;
            d->decoded += n;
            if (d->left == 0)
                d->state = S_DATA_CR;
            *used = i;
            return STORE_H1CHUNKED_MORE;
        }
        if (i == len)
            break;
        unsigned char c = (unsigned char)in[i++];
        switch (d->state) {
        case S_SIZE_FIRST:
        case S_SIZE: {
            int v = hexval(c);
            if (v >= 0) {
                if (++d->digits > 15)
                    return fail(d, "chunk size too large");
                d->left = d->left << 4 | (uint64_t)v;
                d->state = S_SIZE;
            } else if (d->state == S_SIZE_FIRST) {
                return fail(d, "chunk size is not a hex number");
            } else if (c == ';') {
                d->state = S_EXT;
            } else if (c == '\r') {
                d->state = S_SIZE_LF;
            } else {
                return fail(d, "chunk size is not a hex number");
            }
            if (++d->line > STORE_H1CHUNKED_MAX_LINE)
                return fail(d, "chunk size line too long");
            break;
        }
        case S_EXT:
            if (c == '\r')
                d->state = S_SIZE_LF;
            else if (!field_byte(c))
                return fail(d, "control character in a chunk extension");
            if (++d->line > STORE_H1CHUNKED_MAX_LINE)
                return fail(d, "chunk size line too long");
            break;
        case S_SIZE_LF:
            if (c != '\n')
                return fail(d, "chunk size line does not end in CRLF");
            d->line = 0;
            d->digits = 0;
            d->state = d->left != 0 ? S_DATA : S_TRAILER;
            break;
        case S_DATA_CR:
            if (c != '\r')
                return fail(d, "chunk data not followed by CRLF");
            d->state = S_DATA_LF;
            break;
        case S_DATA_LF:
            if (c != '\n')
                return fail(d, "chunk data not followed by CRLF");
            d->state = S_SIZE_FIRST;
            break;
        case S_TRAILER:
            if (++d->trailer > STORE_H1CHUNKED_MAX_TRAILER)
                return fail(d, "trailer section too large");
            if (c == '\r') {
                d->state = S_END_LF;
            } else if (c == ' ' || c == '\t') {
                return fail(d, "obs-fold in the trailer section");
            } else if (!field_byte(c)) {
                return fail(d, "control character in the trailer section");
            } else {
                d->state = S_TRAILER_LINE;
            }
            break;
        case S_TRAILER_LINE:
            if (++d->trailer > STORE_H1CHUNKED_MAX_TRAILER)
                return fail(d, "trailer section too large");
            if (c == '\r')
                d->state = S_TRAILER_LF;
            else if (!field_byte(c))
                return fail(d, "control character in the trailer section");
            break;
        case S_TRAILER_LF:
            if (c != '\n')
                return fail(d, "trailer line does not end in CRLF");
            d->state = S_TRAILER;
            break;
        case S_END_LF:
            if (c != '\n')
                return fail(d, "trailer section does not end in CRLF");
            d->state = S_DONE;
            break;
        }
    }
    *used = i;
    return d->state == S_DONE ? STORE_H1CHUNKED_DONE : STORE_H1CHUNKED_MORE;
}
