/* cache/partial.h - stored parts of responses (206 Partial Content, RFC 9111 §3.3, §3.4).
 *
 * With `cache.ranges: forward`, a Range request that misses goes to the origin with its Range; a storable 206 with a single
 * valid Content-Range is kept here as a part of the representation (key: the cache key; the parts of one key are combined
 * only while they carry the same strong ETag and complete length; a part without a strong ETag is kept alone, replacing
 * the key's parts, and combines with nothing). Later Range requests that fall inside a
 * stored, fresh part are answered from it (206 with its own Content-Range). Parts that come to cover the whole representation
 * are combined into a complete 200 response, which the caller stores in the memory cache (cache/memory.h), and the parts go.
 *
 * Bounded in bytes (what the parts, their heads and keys take); least recently used keys go first. Thread-safe (one mutex).
 */
#ifndef EDGE_CACHE_PARTIAL_H
#define EDGE_CACHE_PARTIAL_H

#include <h2o.h>
#include <stdint.h>
#include "cache/memory.h"
#include "cache/object.h"
#include "cache/policy.h"

/** most parts kept for one key (a representation fetched in more pieces than that keeps its first ones) */
#define CACHE_PARTIAL_MAX_PARTS 64

typedef struct cache_partial cache_partial_t;

/**
 * Parses a Content-Range field of a 206 (RFC 9110 §14.4): `bytes FIRST-LAST/COMPLETE` (unit case-insensitive, one space; no
 * leading zeros beyond a single "0" needed, digits only, at most 19 digits each). Refused (-1): `*` for the complete length
 * (an unknown length cannot be combined), an unsatisfied-range form, FIRST > LAST, LAST >= COMPLETE, anything else.
 */
int cache_partial_parse_content_range(const char *s, size_t len, uint64_t *first, uint64_t *last, uint64_t *complete);

/** whether an ETag value is a strong one (`"..."`, no W/ prefix, valid etagc characters) */
int cache_partial_strong_etag(h2o_iovec_t etag);

/** `capacity`: bytes for all parts; `max_whole`: largest representation combined into a complete response */
cache_partial_t *cache_partial_new(uint64_t capacity, uint64_t max_whole);
void cache_partial_free(cache_partial_t *p);

/** one stored 206, as the fill hands it over (everything is copied) */
typedef struct cache_partial_part {
    uint64_t hash;
    h2o_iovec_t key;
    h2o_iovec_t etag; /* the response's ETag (len 0: none); only a strong one lets parts combine */
    uint64_t first, last, complete;
    const h2o_header_t *headers; /* the shareable headers of the 206 (Content-Range, Content-Length, Date, Age are left out) */
    size_t num_headers;
    const cache_decision_t *decision; /* its freshness */
    const h2o_iovec_t *tags;
    size_t num_tags;
    const char *body; /* last - first + 1 bytes */
    uint64_t epoch;   /* cache_partial_epoch() when its fetch started: a purge since then refuses it */
} cache_partial_part_t;

typedef enum cache_partial_result {
    CACHE_PARTIAL_STORED = 0, /* kept (merged with the key's parts of the same validator) */
    CACHE_PARTIAL_COMPLETE,   /* the parts now cover the representation: *whole is the complete response, the parts are gone */
    CACHE_PARTIAL_REFUSED,    /* not kept: outside its complete length, too big, too many parts, a purge since its fetch
                                 began, or bytes that differ from stored ones under the same ETag (then the key's parts are
                                 dropped too) */
} cache_partial_result_t;

/** a combined response: cache_partial_whole_build() makes the object, cache_partial_whole_free() frees what is left */
typedef struct cache_partial_whole {
    char *head;      /* the most recent part's head (cache/head.h blob, status 200) */
    size_t head_len;
    char *body;
    uint64_t length;
    cache_decision_t decision;
    h2o_iovec_t *tags;
    size_t num_tags;
} cache_partial_whole_t;

cache_partial_result_t cache_partial_add(cache_partial_t *p, const cache_partial_part_t *part, cache_partial_whole_t *whole);
/** stores the combined response in `mem` under hash/key (unless the key is already there or being fetched); 0 when stored */
int cache_partial_whole_store(cache_mem_t *mem, uint64_t hash, h2o_iovec_t key, h2o_iovec_t url, const cache_partial_whole_t *w,
                              uint64_t max_object_size);
void cache_partial_whole_free(cache_partial_whole_t *w);

/**
 * A Range request (the value of its single Range field) for key: when a fresh stored part holds the whole range (resolved
 * against the stored complete length, cache_policy_parse_range()), returns a new COMPLETE object (a reference, not indexed)
 * whose head is the stored one with status 206 and the range's Content-Range, and whose body is those bytes; else NULL.
 */
cache_obj_t *cache_partial_lookup(cache_partial_t *p, uint64_t hash, h2o_iovec_t key, h2o_iovec_t range, int64_t now_ms);

/** counted up by every purge */
uint64_t cache_partial_epoch(cache_partial_t *p);
/** drops the parts of the keys a purge names (cache_mem_purge()'s kinds; a soft purge drops them too); returns how many keys */
size_t cache_partial_purge(cache_partial_t *p, cache_purge_kind_t kind, h2o_iovec_t arg);

typedef struct cache_partial_stats {
    uint64_t capacity, bytes, keys, parts;
    uint64_t hits, stored, combined, refused; /* lookups answered; parts added, combined into whole ones, not stored */
} cache_partial_stats_t;
/** counts a 206 the caller did not hand over (invalid Content-Range, body of another length, weak or no ETag...) */
void cache_partial_count_refused(cache_partial_t *p);
void cache_partial_stats(cache_partial_t *p, cache_partial_stats_t *out);

#endif
