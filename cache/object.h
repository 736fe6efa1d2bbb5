/* cache/object.h - a response as the cache holds it: refcounted, readable by many clients on any thread while it fills, immutable
 * once complete. Every delivery in edgehook (hit, collapsed miss, pass-through) reads from one of these. */
#ifndef EDGE_CACHE_OBJECT_H
#define EDGE_CACHE_OBJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <h2o.h>
#include "base/assert.h"
#include "cache/head.h"
#include "cache/policy.h"

/* ---- per-thread wake-ups -------------------------------------------------------------------------------------------------- */

/**
 * One per worker thread: the inbox through which other threads (or this one) wake the waiters that belong to it.
 * Initialised by the worker on its own loop; lives as long as the loop.
 */
typedef struct cache_thread {
    h2o_loop_t *loop;
    h2o_multithread_receiver_t receiver;
    h2o_multithread_message_t message; /* the one message in flight to this thread, while `notified` */
    h2o_timeout_t *zero_timeout;
    h2o_timeout_entry_t zero_entry; /* wake-ups from this same thread go through a zero timeout, not the pipe */
    pthread_mutex_t mutex;
    h2o_linklist_t inbox;
    int notified;
} cache_thread_t;

/** sets up the calling thread's inbox; `zero_timeout` is the context's zero timeout */
void cache_thread_init(cache_thread_t *t, h2o_loop_t *loop, h2o_multithread_queue_t *queue, h2o_timeout_t *zero_timeout);
void cache_thread_dispose(cache_thread_t *t, h2o_multithread_queue_t *queue);
/** the calling thread's inbox (NULL outside worker threads) */
cache_thread_t *cache_thread_current(void);

/**
 * A waiter: a callback that runs on its owner's thread after something it waits for changed.
 * It is embedded in its owner (a request, a fill); cancel it before freeing the owner.
 */
typedef struct cache_waiter {
    h2o_linklist_t link;       /* in an object's waiter list (guarded by that object's lock) */
    h2o_linklist_t inbox_link; /* in the owner thread's inbox (guarded by the inbox mutex) */
    cache_thread_t *thread;
    struct cache_obj *obj; /* the object it waits on, or NULL */
    void (*cb)(struct cache_waiter *w);
} cache_waiter_t;

/** binds a waiter to the calling thread */
void cache_waiter_init(cache_waiter_t *w, void (*cb)(cache_waiter_t *w));
/** removes the waiter from wherever it is queued; afterwards its callback will not run until it waits again */
void cache_waiter_cancel(cache_waiter_t *w);
/** queues the waiter's callback on its thread now */
void cache_waiter_wake(cache_waiter_t *w);

/* ---- bodies --------------------------------------------------------------------------------------------------------------- */

typedef struct cache_seg {
    struct cache_seg *next;
    uint64_t offset; /* of data[0] within the body */
    uint32_t len;    /* bytes written; readers trust only what the body's `avail` says */
    uint32_t cap;    /* at most 64 MB; CACHE_SEG_EXTERNAL set: data[] holds a cache_seg_ext_t, the bytes live elsewhere */
    char data[];
} cache_seg_t;

/** an external segment's bytes (e.g. a mapped disk segment) and what frees them when the segment goes (any thread) */
typedef struct cache_seg_ext {
    const char *base;
    void (*release)(void *ctx);
    void *ctx;
} cache_seg_ext_t;

#define CACHE_SEG_EXTERNAL 0x80000000u

static inline uint32_t cache_seg_cap(const cache_seg_t *s)
{
    return s->cap & ~CACHE_SEG_EXTERNAL;
}
/** where a segment's bytes are (its own data[], or an external segment's) */
static inline const char *cache_seg_data(const cache_seg_t *s)
{
    return (s->cap & CACHE_SEG_EXTERNAL) != 0 ? ((const cache_seg_ext_t *)(const void *)s->data)->base : s->data;
}

/** the bytes of a response body: appended by one producer, read by any number of readers */
typedef struct cache_body {
    cache_seg_t *first, *last;
    _Atomic uint64_t avail; /* bytes readable (release-published after the segment is written) */
    size_t allocated;       /* bytes held by segments, as malloc counts them (malloc_usable_size + its chunk header; of an
                             * external segment only its header block) */
} cache_body_t;

/* ---- objects -------------------------------------------------------------------------------------------------------------- */

typedef enum cache_obj_state {
    CACHE_OBJ_BUSY = 0,      /* fetch started, no response head yet: followers wait */
    CACHE_OBJ_STREAMING = 1, /* head known, body arriving */
    CACHE_OBJ_COMPLETE = 2,  /* all of the body is here; immutable from now on */
    CACHE_OBJ_FAILED = 3,    /* the fetch failed: before the head (see cache_obj_fail_status) or during the body */
    CACHE_OBJ_PASS = 4,      /* the response must not be shared: only the reader that started the fetch may read it */
} cache_obj_state_t;

/** a reader of an object's body; tracked by the object while it is not complete, so that a response that is passed through
 * (not stored) is buffered no further than a window ahead of its slowest reader */
typedef struct cache_reader {
    h2o_linklist_t link;
    uint64_t acked; /* bytes the client has taken (written to its socket) */
    cache_seg_t *seg;
    int tracked;
} cache_reader_t;

/** what only a filling (or failed) object needs; a complete object drops it once no reader tracks it any more */
typedef struct cache_fillstate {
    h2o_linklist_t waiters;
    h2o_linklist_t readers;
    size_t num_readers;
    struct cache_waiter *producer; /* woken when a transient object's window opens or its last reader leaves */
    int fail_status;
    struct cache_obj *fallback;
    char fail_reason[128];
} cache_fillstate_t;

/** the freshness of a stored response: what cache_policy needs of its decision after the response was evaluated */
/** the freshness of a stored response: what cache_policy needs of its decision after the response was evaluated. The
 * durations are packed in 32 bits (cache_fresh_pack): milliseconds below 2^31 (24.8 days), whole seconds above (as long
 * durations come from headers and TTLs in seconds, exact in practice). Read them with cache_obj_decision(). */
typedef struct cache_fresh {
    int64_t response_time_ms;
    uint32_t initial_age, lifetime, swr, sie;
} cache_fresh_t;

static inline uint32_t cache_fresh_pack(int64_t ms)
{
    if (ms <= 0)
        return 0;
    if (ms < (INT64_C(1) << 31))
        return (uint32_t)ms;
    int64_t sec = ms / 1000;
    return 0x80000000u | (uint32_t)(sec < 0x7fffffff ? sec : 0x7fffffff);
}
static inline int64_t cache_fresh_unpack(uint32_t v)
{
    return (v & 0x80000000u) != 0 ? (int64_t)(v & 0x7fffffff) * 1000 : (int64_t)v;
}

/** what only objects with Vary or tags keep, in one block: the secondary key, the Vary'd names and the tags */
typedef struct cache_meta {
    h2o_iovec_t vary_key; /* the values of the Vary'd headers in the request that filled it (cache_vary_key) */
    h2o_iovec_t *tags;    /* from Surrogate-Key / Cache-Tag */
    size_t num_tags;
    h2o_iovec_t vary_names[]; /* lowercase request header names from Vary (the object's num_vary) */
} cache_meta_t;

/*
 * The object, kept small: a cached object costs this struct with its key in one block, and its head and (small) body in
 * another (bench/: bytes per object). Rarely used parts live elsewhere: the fill state (fs, dropped when complete), Vary and
 * tags (meta, NULL without them).
 */
typedef struct cache_obj {
    unsigned magic; /* CACHE_OBJ_MAGIC while alive (base/assert.h): readers on every thread hold references */
    _Atomic uint32_t refcnt;
    _Atomic int state;

    /* identity (set at creation, immutable) */
    uint32_t key_len; /* the full cache key: key_len bytes (and a NUL) right after the struct: cache_obj_key() */
    uint64_t hash;
    /* path + normalised query (what purge by URL / prefix matches): url_len bytes at url_off of the key's bytes (inside the
     * key, or after it): cache_obj_url() */
    uint32_t url_off, url_len;

    /* the response head (immutable once state >= STREAMING) */
    /* status, reason and header fields as one compact blob (cache/head.h; read it with cache_obj_open_head or
     * cache_obj_headers): the first num_plain fields go to clients as they are, the rest need a look (Date, Age, fields for
     * this cache). NULL before the head. When head_in_seg it lies after the body in the first segment's block (one allocation
     * for a small object), else it is a block of its own. */
    const char *head;
    uint32_t head_len;
    uint16_t status;
    uint16_t num_vary;      /* Vary'd header names (cache_obj_vary_names) */
    int64_t content_length; /* -1: unknown until complete */
    cache_meta_t *meta;     /* NULL: no Vary, no tags */

    /* freshness (RFC 9111), set by the producer with the head */
    cache_fresh_t fresh;
    _Atomic int invalidated;  /* soft-purged: treat as stale */
    _Atomic int revalidating; /* a background refresh (stale-while-revalidate) is under way */
    /* filled from the embedded store: the object's tag (store_notify_tag of bucket and key), set before the origin request is
     * sent; a write of that object purges it (cache_mem_purge_store), BUSY or not. 0: not from the store */
    _Atomic uint64_t store_tag;
    uint32_t store_epoch; /* the purge epoch of its tag's slot when it was tagged: a different one at store time means a write
                             of the object may have come after the origin read it, so the response is not stored */
    /* edge.fetch requests of the fill's origin hooks: origin-request's (made, failed), origin-response's (made, failed), at most
     * 255 each; written by the fill before the head is published, read by the request that started it (its access log) */
    _Atomic uint8_t hook_fetches[4];
    unsigned refreshed : 1;       /* made from a stale object that a 304 revalidated */
    unsigned response_hooked : 1; /* a response hook (origin-response) processed the head */
    unsigned hit_for_pass : 1;    /* a marker: this key's responses were not cacheable; requests skip collapsing */
    unsigned transient : 1;       /* not stored: consumed segments are freed and the producer is held to a window */
    unsigned head_in_seg : 1;     /* `head` lies in the block of body_inline.first (freed with it) */
    unsigned from_disk : 1;       /* streamed from the disk tier: a stored response, served as a hit though transient (the
                                     client's conditionals and Range are answered from it, Age is computed) */
    unsigned disk_mapped : 1;     /* ... through the segment's mapping: bytes before a range cost no memory */
    uint8_t fresh_flags;          /* CACHE_FRESH_NO_CACHE, CACHE_FRESH_MUST_REVALIDATE (set with the decision) */

    /* storage bookkeeping, owned by cache/memory.c (guarded by its shard's lock) */
    uint8_t queue;   /* CACHE_QUEUE_* of cache/memory.c */
    uint8_t indexed; /* in the index (a removed object lives on while readers hold it) */
    _Atomic uint8_t freq;

    /* filling and failures; NULL once a complete object needs it no more (guarded by the object's lock) */
    cache_fillstate_t *fs;

    /* body: its own, or (after a 304) that of the object it was refreshed from, which it then holds: cache_obj_body() */
    struct cache_obj *body_owner;
    cache_body_t body_inline;

    /* more of memory.c's bookkeeping */
    struct cache_obj *hash_next;
    h2o_linklist_t queue_link;
    size_t charged; /* bytes counted against the memory bound */
} cache_obj_t;
#define CACHE_FRESH_NO_CACHE 1
#define CACHE_FRESH_MUST_REVALIDATE 2

static inline h2o_iovec_t cache_obj_key(const cache_obj_t *obj)
{
    return h2o_iovec_init((const char *)(obj + 1), obj->key_len);
}
static inline h2o_iovec_t cache_obj_url(const cache_obj_t *obj)
{
    return h2o_iovec_init((const char *)(obj + 1) + obj->url_off, obj->url_len);
}
/** the body the object reads: its own, or that of the object a 304 refreshed */
static inline cache_body_t *cache_obj_body(cache_obj_t *obj)
{
    return obj->body_owner != NULL ? &obj->body_owner->body_inline : &obj->body_inline;
}
static inline const h2o_iovec_t *cache_obj_vary_names(const cache_obj_t *obj)
{
    return obj->meta != NULL ? obj->meta->vary_names : NULL;
}
static inline h2o_iovec_t cache_obj_vary_key(const cache_obj_t *obj)
{
    return obj->meta != NULL ? obj->meta->vary_key : h2o_iovec_init("", 0);
}
static inline const h2o_iovec_t *cache_obj_tags(const cache_obj_t *obj, size_t *num)
{
    *num = obj->meta != NULL ? obj->meta->num_tags : 0;
    return obj->meta != NULL ? obj->meta->tags : NULL;
}
#define CACHE_OBJ_MAGIC 0x0b1ec7c5u

/** creates a BUSY object with refcnt 1; key is copied, and url too unless it lies inside key */
cache_obj_t *cache_obj_new(uint64_t hash, h2o_iovec_t key, h2o_iovec_t url);
static inline void cache_obj_addref(cache_obj_t *obj)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    atomic_fetch_add_explicit(&obj->refcnt, 1, memory_order_relaxed);
}
/** drops a reference; the last frees the object (and its body, or its reference on the body's owner) */
void cache_obj_release(cache_obj_t *obj);

static inline int cache_obj_state(cache_obj_t *obj)
{
    return atomic_load_explicit(&obj->state, memory_order_acquire);
}
static inline uint64_t cache_obj_avail(cache_obj_t *obj)
{
    return atomic_load_explicit(&cache_obj_body(obj)->avail, memory_order_acquire);
}

/** the freshness of a response as the policy decided it (kept compactly: see cache_fresh_t) */
void cache_obj_set_decision(cache_obj_t *obj, const cache_decision_t *d);
/** the decision back, as far as cache_policy's freshness functions need it (age, ttl, use, stale-if-error) */
void cache_obj_decision(const cache_obj_t *obj, cache_decision_t *d);

/**
 * Producer: sets the response head (reason and headers are copied; `content_length` -1 if unknown) and moves the object to
 * STREAMING, or to PASS when `pass` is set. Wakes waiters.
 */
void cache_obj_set_head(cache_obj_t *obj, int status, const char *reason, const h2o_header_t *headers, size_t num_headers,
                        size_t num_plain, int64_t content_length, int pass);
/**
 * adopts the head and the body of `from` (a 304 refreshed `from`'s headers: `headers` are the merged ones, the first num_plain
 * of them deliverable as they are); COMPLETE at once
 */
void cache_obj_set_from(cache_obj_t *obj, cache_obj_t *from, const h2o_header_t *headers, size_t num_headers, size_t num_plain);
/** sets the Vary'd header names, the secondary key and the tags (all copied), before the head is published */
void cache_obj_set_meta(cache_obj_t *obj, const h2o_iovec_t *vary_names, size_t num_vary, h2o_iovec_t vary_key, const h2o_iovec_t *tags,
                        size_t num_tags);
/** Producer: appends body bytes (copied). */
void cache_obj_append(cache_obj_t *obj, const void *data, size_t len);
/** Producer: room at the tail of the body for up to `len` bytes, contiguous, in *room (> 0 unless len is 0), to be filled in
 * place (e.g. read() into it) and published with cache_obj_commit(); readers never see it before. What is not committed is
 * left unused and may be reserved again. */
char *cache_obj_reserve(cache_obj_t *obj, size_t len, size_t *room);
/** Producer: publishes `len` bytes written at the start of the room cache_obj_reserve gave (at most that room). */
void cache_obj_commit(cache_obj_t *obj, size_t len);
/** Producer: appends `len` bytes that stay where they are (not copied): a segment pointing at them is linked and published;
 * release(ctx) runs when that segment is freed (trimmed, or the object goes; any thread, possibly under the object's lock). */
void cache_obj_append_external(cache_obj_t *obj, const char *data, size_t len, void (*release)(void *ctx), void *ctx);
/** Producer: the body is whole. */
void cache_obj_complete(cache_obj_t *obj);
/**
 * Producer: the fetch failed; before the head, readers answer `status` with `reason` (copied), or serve `fallback` (a stale
 * object they may use instead: stale-if-error; referenced by the object; may be NULL).
 */
void cache_obj_fail(cache_obj_t *obj, int status, const char *reason, cache_obj_t *fallback);
/** what a FAILED object says (status 0: it failed after its head), and its fallback (borrowed; NULL if none) */
int cache_obj_fail_status(cache_obj_t *obj);
const char *cache_obj_fail_reason(cache_obj_t *obj);
cache_obj_t *cache_obj_fallback(cache_obj_t *obj);
/** Producer: from now on the object is not stored: consumed bytes are freed, and the producer should pause while
 * cache_obj_window_full() (its waiter is woken when it should resume or stop) */
void cache_obj_make_transient(cache_obj_t *obj, cache_waiter_t *producer);
/** true when a transient object holds more than `window` bytes that some reader has not taken yet */
int cache_obj_window_full(cache_obj_t *obj, size_t window);
/** number of readers attached (a transient producer stops when it drops to zero) */
size_t cache_obj_num_readers(cache_obj_t *obj);

/**
 * Waits for a change: the waiter's callback runs (on its thread) once the state is no longer `seen_state` or more than
 * `seen_avail` bytes are available - immediately if that is already so.
 */
void cache_obj_wait(cache_obj_t *obj, cache_waiter_t *w, int seen_state, uint64_t seen_avail);

/** Reader: attach at offset 0 (tracked while the object is not complete) */
void cache_reader_attach(cache_obj_t *obj, cache_reader_t *r);
/** Reader: the client has taken the body up to `pos`; frees what no reader of a transient object needs any more */
void cache_reader_ack(cache_obj_t *obj, cache_reader_t *r, uint64_t pos);
void cache_reader_detach(cache_obj_t *obj, cache_reader_t *r);
/**
 * Reader: fills up to `max` iovecs with body bytes from `pos` to at most `end` (exclusive), never beyond what is available.
 * Returns the number of iovecs; *nbytes gets the byte count. The bytes stay valid until the reader acks past them (transient
 * objects) or for the lifetime of the object.
 */
size_t cache_reader_peek(cache_obj_t *obj, cache_reader_t *r, uint64_t pos, uint64_t end, h2o_iovec_t *vecs, size_t max,
                         size_t *nbytes);

/** reads the fixed part of the object's head (an object without a head reads as status 0, no reason, no headers) */
void cache_obj_open_head(const cache_obj_t *obj, cache_head_view_t *v);
/** the number of header fields in the head */
size_t cache_obj_num_headers(const cache_obj_t *obj);
/**
 * Decodes the head's fields into out (room for cache_obj_num_headers()); returns their number and sets *num_plain. Values
 * point into the object (valid while it is referenced); other names than h2o tokens get an iovec from pool.
 */
size_t cache_obj_headers(const cache_obj_t *obj, h2o_mem_pool_t *pool, h2o_header_t *out, size_t *num_plain);
/** the head's fields in a vector of pool (values point into the object) */
h2o_headers_t cache_obj_headers_pool(const cache_obj_t *obj, h2o_mem_pool_t *pool);
/** the reason phrase ("" when none) */
const char *cache_obj_reason(const cache_obj_t *obj);
/** finds a response header by token in an object's head: its index, or -1 */
ssize_t cache_obj_find_header(cache_obj_t *obj, const h2o_token_t *token);

/** Small objects whose Content-Length is known and at most this are one block: body segment and head */
#define CACHE_OBJ_ONE_BLOCK_MAX (1u << 20)
/** what the object's own blocks take from malloc, beyond its body segments: the object with its key, the head (unless it
 * is in the body's block), the Vary/tags block */
size_t cache_obj_fixed_bytes(const cache_obj_t *obj);
size_t cache_obj_head_bytes(const cache_obj_t *obj);

#endif
