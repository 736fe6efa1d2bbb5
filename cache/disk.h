/* cache/disk.h - the disk tier: stored responses written through to log-structured segment files, found again through an
 * in-memory index that an append-only journal rebuilds at start (and after kill -9). Every record carries CRC-32Cs (its head,
 * and each 64 KB block of its body): a torn or corrupted record is never served. Reads and writes run on the tier's own
 * threads, never on the event loops. */
#ifndef EDGE_CACHE_DISK_H
#define EDGE_CACHE_DISK_H

#include <stdint.h>
#include <h2o.h>
#include "cache/memory.h"
#include "cache/object.h"

typedef struct cache_disk cache_disk_t;

/** the fail status (cache_obj_fail) of an object whose disk record could not be read: the request looks the key up again,
 * and the disk entry is gone (it is a miss then) */
#define CACHE_DISK_RETRY 1

/** bytes of a body read (or streamed) per block; each block has its own CRC-32 */
#define CACHE_DISK_BLOCK (64 * 1024)
/** how far a body streamed from disk (one too big for memory) runs ahead of its slowest reader */
#define CACHE_DISK_WINDOW (1024 * 1024)

/**
 * Opens (creating it if needed) the tier in directory `path`, bounded to `size` bytes of segment files, and loads its index
 * from the journal. Objects read back go to `mem` when they are at most `promote_max` bytes (else they are streamed). NULL
 * with a message in err on failure.
 */
cache_disk_t *cache_disk_open(const char *path, uint64_t size, cache_mem_t *mem, uint64_t promote_max, char *err, size_t errlen);
/** stops the threads (pending writes are written first), syncs and closes */
void cache_disk_close(cache_disk_t *d);

/** write-through: queues a COMPLETE stored object for writing (any thread; the object is referenced until written) */
void cache_disk_store(cache_disk_t *d, cache_obj_t *obj);

/**
 * A body too big for memory, written to disk as it arrives from the origin: `head` (its head published, not necessarily its
 * body: it may be a copy that holds the shareable head) is referenced; body_len must be known. NULL when the tier does not
 * take it (too big for a segment, not fresh). Then write() every chunk, and end() once (complete 0: the fetch failed; nothing
 * is indexed). The fill's thread; the stream is freed by the tier after end().
 */
typedef struct cache_disk_stream cache_disk_stream_t;
cache_disk_stream_t *cache_disk_stream_begin(cache_disk_t *d, cache_obj_t *head, uint64_t body_len);
void cache_disk_stream_write(cache_disk_stream_t *st, const void *data, size_t len);
void cache_disk_stream_end(cache_disk_stream_t *st, int complete);
/** the largest body the tier takes (0 without a tier) */
uint64_t cache_disk_max_object(cache_disk_t *d);

/** true when the disk index holds a fresh, not soft-purged entry for the key, of any variant (counts nothing) */
int cache_disk_has(cache_disk_t *d, h2o_iovec_t key, int64_t now_ms);

/** what cache_disk_lookup found */
enum { CACHE_DISK_NONE = 0, CACHE_DISK_FRESH = 1, CACHE_DISK_STALE = 2 };
/**
 * Looks a request up in the disk index (counts nothing): the key's entry without Vary, or the variant of a Vary'd response that
 * the request's headers `reqh` select (its values of the Vary'd headers, as cache_vary_key makes them: the variants of a key
 * live on disk side by side, each found only by the requests it was stored for). CACHE_DISK_FRESH, CACHE_DISK_STALE (expired or
 * soft-purged) or CACHE_DISK_NONE; *variant gets what cache_disk_load needs. `pool` holds the scratch of the Vary key.
 */
int cache_disk_lookup(cache_disk_t *d, h2o_iovec_t key, const h2o_headers_t *reqh, h2o_mem_pool_t *pool, int64_t now_ms,
                      uint64_t *variant);
/**
 * Reads the record of obj's key, the variant cache_disk_lookup gave, into obj (BUSY, created by cache_mem_begin) on a disk
 * thread: its head, then its body. An object up to promote_max bytes is read whole and checked before its head is published,
 * and stays in the memory tier; a larger one is streamed block by block (made transient, held to CACHE_DISK_WINDOW ahead of
 * its readers). When the record is missing, belongs to another key or variant or fails its checks, obj fails with
 * CACHE_DISK_RETRY (and is removed from the memory index).
 */
void cache_disk_load(cache_disk_t *d, cache_obj_t *obj, uint64_t variant);

/** the purges of cache/memory.h on the disk index (URL, prefix, tag, all; soft marks entries stale: they are not served); every
 * variant of a URL is an entry of its own and counts as one */
size_t cache_disk_purge(cache_disk_t *d, cache_purge_kind_t kind, h2o_iovec_t arg, int soft);

/** what the writer's queue holds at most, stored objects and streamed bodies together */
#define CACHE_DISK_QUEUE_MAX (64u << 20)
typedef struct cache_disk_stats {
    uint64_t capacity, bytes, objects, segments;
    uint64_t hits, writes, write_bytes, evictions, reinserted, corrupt, dropped;
    uint64_t verified_hits; /* hits from records whose body passed its CRCs in an earlier read (not checked again) */
    uint64_t load_us, load_entries;
    uint64_t queue_max_bytes; /* the most the write queue held (bytes handed over, not yet written); CACHE_DISK_QUEUE_MAX at most */
} cache_disk_stats_t;
void cache_disk_stats(cache_disk_t *d, cache_disk_stats_t *out);
/** waits until every queued write is on disk (tests, benchmarks, shutdown) */
void cache_disk_flush(cache_disk_t *d);

/* ---- the record format (exposed for the unit tests and the fuzz target) --------------------------------------------------- */

/** serialises obj (COMPLETE) into a record: *head gets header, key, metadata and block CRCs (malloc'ed, *head_len bytes); the
 * body follows it on disk as it is in the object. `hash` is the disk index's hash of the key. Returns 0, or -1 when the object cannot be written. */
int cache_disk_encode(cache_obj_t *obj, uint64_t hash, char **head, size_t *head_len);
/** what a record's head says, parsed from `buf` (at least the record's head); pointers go into buf */
typedef struct cache_disk_record {
    uint64_t hash, body_len;
    h2o_iovec_t key;
    const char *meta;
    size_t meta_len;
    const uint8_t *crcs; /* one little-endian CRC-32 per block of the body */
    uint32_t nblocks;
    size_t head_len; /* the bytes before the body */
} cache_disk_record_t;
/** checks and parses a record head: 0, or -1 (not a record, torn, corrupted); `*need` gets the head length when buf is too
 * short to hold it (returns 1 then) */
int cache_disk_parse_head(const char *buf, size_t len, cache_disk_record_t *rec, size_t *need);
/** applies the metadata of a parsed record to obj (BUSY): decision, meta, head (published); 0 or -1 when malformed */
int cache_disk_apply_meta(const cache_disk_record_t *rec, cache_obj_t *obj, int transient);
/** the CRC-32C of records and journal entries (chained: start with 0) */
uint32_t cache_disk_crc(uint32_t crc, const void *data, size_t len);
/** checks block i of the body */
int cache_disk_check_block(const cache_disk_record_t *rec, uint32_t i, const char *data, size_t len);

#endif
