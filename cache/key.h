/* cache/key.h - the cache key of a request under a CloudFront-style cache policy, its 64-bit hash, and the URL part for purges. */
#ifndef EDGE_CACHE_KEY_H
#define EDGE_CACHE_KEY_H

#include <stdint.h>
#include <sys/types.h>
#include <h2o.h>
#include "conf/config.h"

/*
 * The key is a byte string; '\n' separates its entries and occurs nowhere else, so it is unambiguous and readable in
 * debug logs:
 *
 *     BEHAVIOR '\n' HOST '\n' PATH ['?' QUERY] '\n' { "h:" NAME ['=' VALUE] '\n' } { "c:" NAME ['=' VALUE] '\n' }
 *
 * - BEHAVIOR: the behavior's index in decimal (two behaviors never share objects).
 * - HOST: the request's authority, lowercased (the port is kept as sent).
 * - PATH and QUERY: the "URL part" (cache_key_url()). Percent-encoding is normalised the ways every server must treat as
 *   equivalent (RFC 3986 §6.2.2): %XX of an unreserved character is decoded, other %XX get uppercase hex, and bytes outside
 *   visible ASCII are %-encoded; an invalid '%' sequence is kept as is. Dot-segments are not removed, since the origin
 *   receives the path as sent. QUERY keeps the parameters the policy selects (none | all | list | except, names compared
 *   after normalisation, case-sensitively), sorted by name (bytewise) with a stable sort: the values of a repeated name
 *   keep their order, since `a=1&a=2` and `a=2&a=1` can be different answers (an origin reading the first value, or a
 *   list); `a` and `a=` stay distinct, empty parameters (`&&`) are dropped and an empty query drops the '?'.
 * - one "h:" entry per header name of the policy, in policy order, name lowercased: absent → no '='; present → the values
 *   of all its lines, trimmed, joined with ','.
 * - one "c:" entry per cookie the policy selects (none | all | list | except, from every Cookie line, names
 *   case-sensitive), sorted by name with a stable sort (of two cookies with one name, servers read the first).
 * Header values, cookie names and values, and the host have control bytes and '%' %-escaped.
 *
 * The query the origin receives is the original one, not the normalised one (normalising for the key is safe; rewriting
 * what the origin sees is not, e.g. `+` vs `%20` or the order of repeated parameters). The method is not part of the key:
 * HEAD shares GET's objects.
 *
 * Every function is pure and thread-safe; none allocates except from the pool it is given.
 */

/** the parts of a request the key is built from; all point into caller memory */
typedef struct cache_key_request {
    size_t behavior;              /**< index of the matched behavior */
    h2o_iovec_t host;             /**< authority (Host / :authority) as received */
    h2o_iovec_t path;             /**< request-target: path and optional "?query", as received (h2o's req->path) */
    const h2o_headers_t *headers; /**< request headers for the listed headers and Cookie; may be NULL */
} cache_key_request_t;

/** query parameters or cookies one call of cache_key_build() can sort (stack scratch); the pool variants have no limit */
#define CACHE_KEY_MAX_ITEMS 256

/**
 * Writes the key of `req` under `pol` (the behavior's `cache:` settings; NULL: query all, no headers, no cookies) into
 * `buf`. Returns the key's length, which may exceed `cap`: then `buf` holds only a prefix and the caller retries with a
 * larger buffer. Returns -1 when the query or the cookies have more than CACHE_KEY_MAX_ITEMS items (use
 * cache_key_build_pool()).
 */
ssize_t cache_key_build(const conf_cache_policy_t *pol, const cache_key_request_t *req, char *buf, size_t cap);
/** The same key, allocated in `pool` (lives as long as the pool). */
h2o_iovec_t cache_key_build_pool(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, const cache_key_request_t *req);

/**
 * The 64-bit hash of `len` bytes that indexes the cache: SipHash-1-3 under a 128-bit key drawn from getrandom(2) once per
 * process, so a client cannot choose URLs that pile into one hash chain (hash flooding): it cannot predict the hash of any
 * input. Different in every process: never store it or compare it across processes (cache_key_hash_fixed() is the stable
 * one). Thread-safe; the key is drawn on the first call unless cache_key_hash_seed() drew it before. cache_key_hash of a key
 * is the key's hash.
 */
uint64_t cache_key_hash(const void *data, size_t len);
/**
 * Draws the process's key of cache_key_hash() now (once; later calls do nothing). Call it at start-up, before the worker
 * threads, so that the first request does not wait for it and a failure (no random source: the process aborts with a
 * message) shows at once. Thread-safe (pthread_once).
 */
void cache_key_hash_seed(void);
/**
 * A 64-bit hash that is the same on every run and machine (little-endian reads): for choices that must not change across
 * restarts or nodes, such as sticky canary splits. Not keyed: never index a table a client can fill with it.
 */
uint64_t cache_key_hash_fixed(const void *data, size_t len);
/** SipHash-1-3 of `len` bytes under `key` (bytes 0-7: k0, 8-15: k1, little-endian): cache_key_hash with a chosen key. */
uint64_t cache_key_siphash13(const unsigned char key[16], const void *data, size_t len);
/** SipHash-2-4, the paper's reference variant: lets the tests check the implementation against the paper's test vector. */
uint64_t cache_key_siphash24(const unsigned char key[16], const void *data, size_t len);

/**
 * The URL part of a request-target under `pol` (NULL: keep the whole query): normalised path, then '?' and the normalised,
 * filtered, sorted query when it is not empty — exactly the third entry of the key. Purge-by-URL normalises the URL it
 * is given with the policy of the behavior that path matches and compares it with cache_key_url_of() of stored keys;
 * purge-by-prefix compares a prefix normalised with pol NULL (a prefix cut inside a %XX escape will not match). In `pool`.
 */
h2o_iovec_t cache_key_url(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, h2o_iovec_t path);
/**
 * The normalised query (without '?') the key uses for `query` (the part after '?', without '?') under `pol`; len 0 when
 * nothing is kept. For logs and purges only: the origin receives the original query. In `pool`.
 */
h2o_iovec_t cache_key_query(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, h2o_iovec_t query);

/** The URL part inside a key built by this module (points into `key`; len 0 if `key` is malformed). */
h2o_iovec_t cache_key_url_of(h2o_iovec_t key);
/** The (lowercased, escaped) host inside a key built by this module (points into `key`; len 0 if malformed). */
h2o_iovec_t cache_key_host_of(h2o_iovec_t key);

#endif
