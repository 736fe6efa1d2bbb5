/* cache/head.h - a response head (status, reason, header fields) as the cache keeps it: one compact, position-independent blob
 * instead of an array of h2o_header_t. Written once when a response is stored, decoded at delivery straight into the
 * response's header vector; the same bytes can go to disk as they are (cache_head_check() validates what comes back).
 *
 * Format (all integers unsigned LEB128 varints, "V"):
 *
 *     FORMAT(1 byte, CACHE_HEAD_FORMAT)  TOKENS(1 byte, cache_head_tokens_id())  V status (2 bytes)
 *     V reason_len  reason NUL  V num_headers  V num_plain (as many bytes as num_headers)  { field }*num_headers
 *
 *     field := KIND [...] V value_len value NUL
 *       KIND 0x80|t    name: h2o token t (index in h2o__tokens), orig_name its usual spelling ("Content-Type")
 *       KIND 0x01 t    name: token t, no orig_name
 *       KIND 0x02 t    name: token t, orig_name: the token's length in bytes, NUL
 *       KIND 0x03      V name_len  lowercase name NUL, no orig_name
 *       KIND 0x04      V name_len  lowercase name NUL  orig_name (name_len bytes) NUL
 *
 * The NULs let values be used as C strings. A typical 1 KB response's head (Server, Date, Content-Type, Content-Length,
 * Cache-Control) takes about 100 bytes where the header names and values alone take 120: names are one byte each.
 * Token numbers are those of the libh2o the process runs with; TOKENS fingerprints that table, so a blob written by a build
 * with another table is refused by cache_head_check() rather than misread.
 */
#ifndef EDGE_CACHE_HEAD_H
#define EDGE_CACHE_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>

#define CACHE_HEAD_FORMAT 1
/** at most this many header fields are kept (more are dropped from the end when encoding) */
#define CACHE_HEAD_MAX_HEADERS 65535

/** the fixed part of a blob, read by cache_head_open() */
typedef struct cache_head_view {
    int status;
    const char *reason; /* NUL-terminated, inside the blob */
    size_t reason_len;
    size_t num_headers, num_plain;
    const uint8_t *fields, *end; /* the encoded fields */
} cache_head_view_t;

/** the fingerprint of this process's h2o token table (the blob's second byte) */
uint8_t cache_head_tokens_id(void);

/** the exact size of the blob cache_head_encode() writes for these arguments (whatever the status) */
size_t cache_head_size(const char *reason, const h2o_header_t *headers, size_t num_headers);
/**
 * Writes the blob into dst (cache_head_size() bytes) and returns its length. `reason` may be NULL (empty); num_plain is
 * clamped to num_headers. Header names must be lowercase (h2o's are); an orig_name is kept as given.
 */
size_t cache_head_encode(char *dst, int status, const char *reason, const h2o_header_t *headers, size_t num_headers,
                         size_t num_plain);

/**
 * Checks an untrusted blob of `len` bytes (read from disk or a peer): format and token table, bounds of every length, valid
 * names (lowercase tchars; an orig_name equal to the name but for case), values without CR, LF or NUL, status 100-999,
 * num_plain <= num_headers, nothing after the last field. Returns 0, or -1 with *err set to a static reason.
 */
int cache_head_check(const void *blob, size_t len, const char **err);

/** reads the fixed part of a blob that is valid (written by cache_head_encode(), or passed cache_head_check()) */
void cache_head_open(const void *blob, size_t len, cache_head_view_t *v);
/**
 * Decodes the fields of a valid blob into out[0, v->num_headers): values, reason and orig_names point into the blob (valid as
 * long as it is); names are h2o tokens or, for other names, an h2o_iovec_t allocated from `pool`.
 */
void cache_head_decode(const cache_head_view_t *v, h2o_mem_pool_t *pool, h2o_header_t *out);
/** the index of the first field named by `token`, or -1 (no decoding, no allocation) */
ssize_t cache_head_find(const cache_head_view_t *v, const h2o_token_t *token);

#endif
