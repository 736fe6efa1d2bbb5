/* cache/memory.h - the memory tier: a sharded index of cache objects shared by all worker threads, bounded in bytes, with
 * S3-FIFO eviction (or plain LRU, for comparison), request collapsing (one BUSY object per key) and purges. */
#ifndef EDGE_CACHE_MEMORY_H
#define EDGE_CACHE_MEMORY_H

#include <stdint.h>
#include "cache/object.h"

typedef struct cache_mem cache_mem_t;

typedef enum cache_evict_policy { CACHE_EVICT_S3FIFO = 0, CACHE_EVICT_LRU = 1 } cache_evict_policy_t;

/** creates a tier bounded to `capacity` bytes (objects' heads, keys, bodies and bookkeeping) */
cache_mem_t *cache_mem_new(uint64_t capacity, cache_evict_policy_t policy);
/** frees the tier; objects still referenced elsewhere live on until released */
void cache_mem_free(cache_mem_t *m);

/** tells whether a stored variant of the key fits the request (Vary); called under the shard lock, must not block */
typedef int (*cache_mem_match_cb)(cache_obj_t *obj, void *ctx);

typedef struct cache_mem_lookup {
    cache_obj_t *found; /* the newest stored response (STREAMING or COMPLETE) that matches, or a hit-for-pass marker; referenced */
    cache_obj_t *busy;  /* a fill in flight for the key that has no head yet; referenced */
} cache_mem_lookup_t;

/** looks a key up; counts a hit on what it finds. `match` may be NULL (no Vary checks). */
void cache_mem_lookup(cache_mem_t *m, uint64_t hash, h2o_iovec_t key, cache_mem_match_cb match, void *ctx, cache_mem_lookup_t *out);
/**
 * Starts a fill for the key: returns the BUSY object already in flight (*created = 0: follow it), or inserts a new BUSY object
 * (*created = 1: fetch it). Either way the caller holds a reference. This is where concurrent misses collapse.
 */
cache_obj_t *cache_mem_begin(cache_mem_t *m, uint64_t hash, h2o_iovec_t key, h2o_iovec_t url, int *created);
/** inserts an object that was created outside the index (a miss that did not collapse); 0, or -1 if it is already indexed */
int cache_mem_insert(cache_mem_t *m, cache_obj_t *obj);
/**
 * The fill found the response storable: the object stays in the index as the newest variant for its secondary key (older ones
 * are dropped) and its head is charged. Returns -1 (and removes it) when it cannot fit.
 */
int cache_mem_store_head(cache_mem_t *m, cache_obj_t *obj);
/** charges the growth of obj's body; returns -1 when the object exceeds max_object_size (it is removed: make it transient) */
int cache_mem_charge(cache_mem_t *m, cache_obj_t *obj, uint64_t max_object_size);
/** the object is complete: it becomes evictable */
void cache_mem_complete(cache_mem_t *m, cache_obj_t *obj);
/** removes obj from the index (not storable, failed, replaced); no-op when it is not indexed */
void cache_mem_remove(cache_mem_t *m, cache_obj_t *obj);
/** remembers for `ttl_ms` that the key's responses are not cacheable: lookups find a hit-for-pass marker and do not collapse */
void cache_mem_mark_pass(cache_mem_t *m, uint64_t hash, h2o_iovec_t key, h2o_iovec_t url, int64_t now_ms, int64_t ttl_ms);

typedef enum cache_purge_kind { CACHE_PURGE_URL = 0, CACHE_PURGE_PREFIX, CACHE_PURGE_TAG, CACHE_PURGE_ALL } cache_purge_kind_t;
/**
 * Purges the objects whose URL part (path and normalised query) equals `arg` (URL), starts with it (PREFIX), or that carry the
 * tag (TAG), or all. `soft` marks them stale instead (they are revalidated, and may still be served stale where allowed).
 * Returns the number of objects purged. Holds for every thread when it returns: the index is shared.
 */
size_t cache_mem_purge(cache_mem_t *m, cache_purge_kind_t kind, h2o_iovec_t arg, int soft);

/**
 * Removes every object (every variant, BUSY fills included: what they bring is not stored) whose store_tag is tag. Holds for
 * every thread when it returns. Returns the number removed. Any thread (the store's, before it answers a write).
 */
size_t cache_mem_purge_store(cache_mem_t *m, uint64_t tag);
/** marks obj as filled from the embedded store object whose tag is tag (before its origin request is sent) */
void cache_mem_tag_store(cache_mem_t *m, cache_obj_t *obj, uint64_t tag);

typedef struct cache_mem_stats {
    uint64_t capacity, bytes, objects, evictions, inserts;
} cache_mem_stats_t;
void cache_mem_stats(cache_mem_t *m, cache_mem_stats_t *out);

/** the bytes an object is charged for, beyond its body (exposed for the memory-overhead benchmark) */
size_t cache_mem_object_overhead(const cache_obj_t *obj);

#endif
