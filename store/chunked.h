/* store/chunked.h - decoder of aws-chunked request bodies (x-amz-content-sha256: STREAMING-*), with chunk-signature checks */
#ifndef EDGE_STORE_CHUNKED_H
#define EDGE_STORE_CHUNKED_H

#include <stddef.h>
#include <stdint.h>
#include "sigv4/sigv4.h"

/*
 * Framing (after any HTTP Transfer-Encoding has been removed):
 *   signed:    <hex size>;chunk-signature=<64 hex>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n[trailers]\r\n
 *   unsigned:  <hex size>[;ext]\r\n<data>\r\n ... 0\r\n[trailers]\r\n
 * Trailers are `name:value\r\n` lines; with STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER the last is x-amz-trailer-signature.
 * The decoder takes input in pieces of any size (a chunk header may be split anywhere) and hands out the payload bytes only;
 * the framing is never part of the output. One decoder per body, used by one thread.
 */

enum {
    STORE_CHUNKED_UNSIGNED = 0,       /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
    STORE_CHUNKED_SIGNED = 1,         /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD: each chunk's signature is checked */
    STORE_CHUNKED_SIGNED_TRAILER = 2, /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: chunks and the trailer signature */
};

/** results (negative: errors) */
enum {
    STORE_CHUNKED_OK = 0,
    STORE_CHUNKED_EFRAMING = -1,   /* malformed framing: answer 400 IncompleteBody / InvalidRequest */
    STORE_CHUNKED_ESIGNATURE = -2, /* a chunk or trailer signature does not match: 403 SignatureDoesNotMatch */
    STORE_CHUNKED_ESINK = -3,      /* the data callback failed */
};

#define STORE_CHUNKED_MAX_TRAILERS 8

typedef int (*store_chunked_sink_cb)(void *ctx, const void *data, size_t len);

typedef struct store_chunked {
    int mode;
    int state;
    sigv4_chunk_chain_t chain; /* signed modes */
    void *sha;                 /* EVP_MD_CTX of the current chunk (signed modes) */
    uint64_t chunk_left;
    int last_chunk;
    char line[1100];
    size_t line_len;
    char claimed[65];
    uint64_t decoded;
    /** trailers as received (lowercase names), valid after store_chunked_finish */
    struct {
        char name[64];
        char value[256];
    } trailers[STORE_CHUNKED_MAX_TRAILERS];
    size_t num_trailers;
    void *trailer_sha; /* EVP_MD_CTX over the canonical trailer lines (signed trailer mode) */
    const char *error; /* static text for the error message */
} store_chunked_t;

/** chain is the state after the seed signature (required for the signed modes, NULL otherwise). 0 or -1 (out of memory). */
int store_chunked_init(store_chunked_t *d, int mode, const sigv4_chunk_chain_t *chain);
/** decodes input, passing payload bytes to sink; returns STORE_CHUNKED_OK or an error (then d->error says why) */
int store_chunked_feed(store_chunked_t *d, const void *input, size_t len, store_chunked_sink_cb sink, void *ctx);
/** checks that the body ended exactly after the final chunk and its trailers */
int store_chunked_finish(store_chunked_t *d);
/** the value of a trailer (lowercase name) or NULL */
const char *store_chunked_trailer(const store_chunked_t *d, const char *name);
/** releases the digest contexts (safe after a failed init) */
void store_chunked_dispose(store_chunked_t *d);

#endif
