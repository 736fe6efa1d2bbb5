/* store/h1chunked.h - the strict decoder of HTTP/1.1 `Transfer-Encoding: chunked` request bodies on the store listener
 * (RFC 9112 §7.1): a pure function over bytes, fed in any pieces (fuzzed by tests/fuzz/fuzz_h1_chunked.c) */
#ifndef EDGE_STORE_H1CHUNKED_H
#define EDGE_STORE_H1CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* limits: a chunk size of at most 15 hex digits (no overflow), a chunk-size line (with its extensions) of at most 4 KB, a
 * trailer section of at most 16 KB */
#define STORE_H1CHUNKED_MAX_LINE 4096
#define STORE_H1CHUNKED_MAX_TRAILER 16384

typedef struct store_h1chunked {
    int state;
    uint64_t left;    /* bytes of the current chunk still to come */
    unsigned digits;  /* hex digits of the size so far */
    size_t line;      /* bytes of the current size or trailer line */
    size_t trailer;   /* bytes of the trailer section */
    uint64_t decoded; /* payload bytes handed out */
    const char *error; /* why the body was refused (static) */
} store_h1chunked_t;

enum { STORE_H1CHUNKED_MORE = 0, STORE_H1CHUNKED_DONE = 1, STORE_H1CHUNKED_ERROR = -1 };

void store_h1chunked_init(store_h1chunked_t *d);

/**
 * Decodes from in[0..len): consumes framing, and stops at the first payload span it finds, which it returns in *data and *datalen
 * (a slice of in, at most max_out bytes; *datalen 0 when none). *used is the number of input bytes consumed (framing and the
 * returned payload). Returns STORE_H1CHUNKED_MORE (call again with the rest of the input, or with more input once *used == len),
 * STORE_H1CHUNKED_DONE (the last chunk and the trailer section are consumed: bytes after *used belong to the next request) or
 * STORE_H1CHUNKED_ERROR (d->error says why; the connection is to be closed). Refused: a size that is not hex digits only (no
 * sign, no leading or trailing whitespace), longer than 15 digits; control bytes (except HTAB) in extensions or trailers; a bare
 * LF or CR; missing CRLF after a chunk's data; obs-fold in trailers; lines and trailers over the limits above.
 */
int store_h1chunked_decode(store_h1chunked_t *d, const char *in, size_t len, size_t max_out, size_t *used, const char **data,
                           size_t *datalen);

#endif
