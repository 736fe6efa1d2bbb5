/* kv/kv.h - named edge key-value stores (CloudFront KeyValueStore): immutable snapshots that hooks read with one hash lookup,
 * replaced as a whole by a single writer (the control thread), each store durable in an append-only log (kv/kvlog.h). */
#ifndef EDGE_KV_KV_H
#define EDGE_KV_KV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** the longest key, in bytes (CloudFront KeyValueStore's limit) */
#define KV_MAX_KEY 512
/** defaults of a store's limits (CloudFront KeyValueStore: values up to 1 KB, 5 MB per store) */
#define KV_DEFAULT_MAX_VALUE 1024
#define KV_DEFAULT_MAX_BYTES (5ull << 20)
#define KV_DEFAULT_MAX_KEYS 100000
/** the largest limits a configuration may give */
#define KV_LIMIT_MAX_VALUE (1u << 20)
#define KV_LIMIT_MAX_BYTES (1ull << 30)
#define KV_LIMIT_MAX_KEYS 10000000

/** what a store is: its name, its log file and its limits (bytes count keys plus values, as CloudFront counts a store's size) */
typedef struct kv_store_conf {
    const char *name;
    const char *path; /* the store's log file; its directory is created if missing */
    uint64_t max_keys;
    uint64_t max_bytes;
    uint64_t max_value;
} kv_store_conf_t;

/** results of kv_db_write and the checks; each maps to one HTTP status of the admin API */
enum {
    KV_OK = 0,
    KV_E_INVALID = -1,   /* 400: an empty, too long or non-UTF-8 key (or one with a control character), a non-UTF-8 value */
    KV_E_TOO_LARGE = -2, /* 413: a value over max_value, a store that would go over max_bytes or max_keys */
    KV_E_NOTFOUND = -3,  /* 404: a delete of a key that is not there */
    KV_E_IO = -4         /* 500: the log could not be written or synced; nothing changed */
};

/** the stores of the process; writes are serialised inside (one writer at a time), reads never wait for a write */
typedef struct kv_db kv_db_t;
/** an immutable snapshot of every store of a db: what one hook call reads, whatever is written meanwhile; refcounted */
typedef struct kv_view kv_view_t;

/**
 * Opens the stores: each log is read (a torn last record - a write cut by a crash, never acknowledged - is cut off and logged),
 * its directory created if needed. NULL with `NAME: FILE: reason` in err (an unreadable file, one that is not a kv log, or two
 * stores on one file). Not on a worker loop: it reads files.
 */
kv_db_t *kv_db_open(const kv_store_conf_t *stores, size_t n, char *err, size_t errlen);
/** closes the logs and drops the db's reference to its current view (views held elsewhere stay readable until released) */
void kv_db_close(kv_db_t *db);
size_t kv_db_count(const kv_db_t *db);
/** the index of the store named name[0..len), or -1 */
int kv_db_find(const kv_db_t *db, const char *name, size_t len);
const char *kv_db_name(const kv_db_t *db, int store);
/** the store's configured limits */
const kv_store_conf_t *kv_db_conf(const kv_db_t *db, int store);

/** one change of a write: a put of key = value, or a delete of key (val ignored) */
typedef struct kv_op {
    const char *key;
    size_t klen;
    const char *val;
    size_t vlen;
    int del;
} kv_op_t;

/**
 * Applies ops to a store, all or nothing: checks every op (keys, values, the limits the store would reach), appends them to the
 * log as one checksummed record and syncs it (fdatasync), then publishes a new view. When it returns KV_OK the change is durable
 * and every kv_view_acquire that follows sees it; otherwise nothing changed and err says why. With `replace` the store's content
 * becomes exactly the puts of ops. When several ops name one key the last wins. A single delete of an absent key is
 * KV_E_NOTFOUND; absent keys in a larger write are skipped. Costs O(store size) (a new snapshot is built): meant for the control
 * thread, not a worker loop. Any thread; writers wait for each other.
 */
int kv_db_write(kv_db_t *db, int store, const kv_op_t *ops, size_t n, int replace, char *err, size_t errlen);

/** the checks kv_db_write applies to one key / value: KV_OK or KV_E_INVALID / KV_E_TOO_LARGE with the reason */
int kv_check_key(const char *key, size_t len, char *err, size_t errlen);
int kv_check_value(const kv_store_conf_t *conf, const char *val, size_t len, char *err, size_t errlen);

/** counters of a store since start (metrics) */
typedef struct kv_stats {
    uint64_t keys, bytes, version; /* of the current snapshot; version counts the writes applied since the store was created */
    uint64_t updates;              /* acknowledged writes since start */
    uint64_t write_errors;         /* writes refused by the disk (KV_E_IO) */
    uint64_t log_bytes;            /* the log file's size */
} kv_stats_t;
void kv_db_stats(kv_db_t *db, int store, kv_stats_t *out);

/**
 * The current view with a reference (release it with kv_view_release): lock-free for readers except a short mutex that also
 * orders it against the writer's publish. Any thread. Every read through one view sees one state of every store.
 */
kv_view_t *kv_view_acquire(kv_db_t *db);
void kv_view_release(kv_view_t *view);
/** the db the view belongs to */
kv_db_t *kv_view_db(const kv_view_t *view);
/**
 * Looks key up in the view's snapshot of store (an index from kv_db_find): 1 with *val / *vlen set (valid while the view is
 * held), 0 when absent or the store index is out of range. One hash and one probe sequence: no lock, no allocation.
 */
int kv_view_get(const kv_view_t *view, int store, const char *key, size_t klen, const char **val, size_t *vlen);

/** what a snapshot holds */
typedef struct kv_meta {
    uint64_t keys, bytes, version;
} kv_meta_t;
void kv_view_meta(const kv_view_t *view, int store, kv_meta_t *out);
/** keys are kept in byte order: the position of the first key >= key (for listings) */
size_t kv_view_lower_bound(const kv_view_t *view, int store, const char *key, size_t klen);
/** the i-th key in byte order and its value: 1, or 0 past the end */
int kv_view_at(const kv_view_t *view, int store, size_t i, const char **key, size_t *klen, const char **val, size_t *vlen);

/** the process's db, which hooks read (set at start by the server; NULL when none is open) */
void kv_global_set(kv_db_t *db);
kv_db_t *kv_global(void);

/** 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF) */
int kv_utf8_valid(const char *s, size_t len);

/** a seeded 64-bit hash: 8 bytes per multiply, a final avalanche (keys come from the admin API, the seed from getrandom); inline for
 * the lookup and for bench/kv_bench.c, which measures a bare table with the same hash */
static inline uint64_t kv_hash(uint64_t seed, const char *p, size_t len)
{
    uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull), w;
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

#endif
