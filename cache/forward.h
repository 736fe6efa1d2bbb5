/* cache/forward.h - what a request whose response may be stored forwards to the origin: CloudFront's origin request policy. */
#ifndef EDGE_CACHE_FORWARD_H
#define EDGE_CACHE_FORWARD_H

#include <h2o.h>
#include "conf/config.h"

/*
 * A response that may be stored is shared by every request with the same cache key, so the origin must not see anything of
 * the request that is not in the key, or a client could have a response for its own header (X-Forwarded-Host: evil,
 * X-Original-URL, X-HTTP-Method-Override ...) stored for everyone (cache poisoning). Such a request forwards only:
 * - the headers of the cache key (`cache.key.headers`);
 * - the headers of the behavior's `origin_request.headers`, or when it gives none the default list CACHE_FORWARD_DEFAULT;
 * - Cookie reduced to the cookies of the key (`cache.key.cookies`) and of `origin_request.cookies` (none by default), in
 *   the order the client sent them, as one line; no Cookie line when none is left. A list that names `cookie` as a header
 *   forwards the Cookie lines whole;
 * - what the proxy itself needs from the client's list: X-Forwarded-For and Via (edgehook extends both chains) and
 *   Connection (the names it lists are hop-by-hop, so the proxy can drop them; Connection itself is never forwarded).
 * A CloudFront-* name in either list (conf/cfheaders.h) is a header the proxy generates (proxy/cfheaders.h) into the client's
 * list before this filter, and is forwarded by that name like any other; a client's own CloudFront-* fields are dropped before.
 * Everything the proxy adds itself (Host, X-Forwarded-*, Via, validators, signatures) comes after this filter.
 * A pass (an unsafe method, `cache: off`) is never stored and forwards the client's headers, hop-by-hop ones aside.
 *
 * Compiled once per behavior (cache_forward_init); the filter allocates only the output list, from a request pool.
 */

/** the names forwarded when `origin_request.headers` is not given: content negotiation and Authorization */
#define CACHE_FORWARD_DEFAULT "accept, accept-encoding, accept-language, authorization"

/** one header name that is forwarded */
typedef struct cache_forward_name {
    const h2o_token_t *token; /**< h2o's token for it, or NULL (then only the name compares) */
    h2o_iovec_t name;         /**< lowercase */
} cache_forward_name_t;

/** a cookie selection: none | all | list | except, names case-sensitive (RFC 6265) */
typedef struct cache_forward_cookies {
    conf_key_mode_t mode;
    h2o_iovec_t *names;
    size_t count;
} cache_forward_cookies_t;

/** a behavior's compiled forwarding rules; a plain value after init, shared read-only by every thread */
typedef struct cache_forward {
    cache_forward_name_t *headers; /**< key headers, then origin_request headers (or the defaults), without duplicates */
    size_t num_headers;
    int whole_cookie;                 /**< `cookie` is one of the headers: Cookie is forwarded as sent */
    cache_forward_cookies_t key;      /**< the cookies of the cache key */
    cache_forward_cookies_t requests; /**< origin_request.cookies */
} cache_forward_t;

/**
 * Compiles the forwarding rules of a behavior from its cache key settings (`key`; NULL: no headers, no cookies) and its
 * origin request settings (`oreq`; NULL: the defaults). Copies what it keeps: `key` and `oreq` may go away afterwards.
 */
void cache_forward_init(cache_forward_t *fwd, const conf_cache_policy_t *key, const conf_origin_request_t *oreq);
/** Frees what cache_forward_init() allocated. */
void cache_forward_dispose(cache_forward_t *fwd);
/**
 * The headers of `in` (a client's request) that a request whose response may be stored forwards, in their order, into a new
 * vector `out` in `pool`: entries are copies of those of `in` (names and values point into `in`), except a reduced Cookie
 * line, which is built in `pool`. `fwd` NULL: the defaults (CACHE_FORWARD_DEFAULT, no cookies). Returns how many lines of
 * `in` were left out or reduced.
 */
size_t cache_forward_filter(h2o_mem_pool_t *pool, const cache_forward_t *fwd, const h2o_headers_t *in, h2o_headers_t *out);
/** 1 when `fwd` (NULL: the defaults) forwards header `name` (any case); Cookie: only when forwarded whole. */
int cache_forward_has_header(const cache_forward_t *fwd, const char *name, size_t len);

#endif
