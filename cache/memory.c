/* cache/memory.c - the sharded in-memory index with S3-FIFO eviction (Yang et al., SOSP'23: a small FIFO that filters one-hit
 * wonders, a main FIFO with reinsertion, and a ghost FIFO of recently evicted keys), bounded in bytes. */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/assert.h"
#include "cache/memory.h"

#define NUM_SHARDS 16
#define SMALL_PERCENT 10

enum { QUEUE_NONE = 0, QUEUE_SMALL, QUEUE_MAIN };

typedef struct ghost {
    uint64_t *ring; /* FIFO of hashes */
    size_t cap, head, count;
    uint64_t *table; /* open addressing; 0 = empty, 1 = tombstone (hashes 0/1 are remapped) */
    size_t table_cap, tombstones;
} ghost_t;

typedef struct shard {
    pthread_mutex_t mutex;
    cache_obj_t **buckets;
    size_t num_buckets, count;
    h2o_linklist_t small, main;
    uint64_t small_bytes, main_bytes;
    ghost_t ghost;
} __attribute__((aligned(64))) shard_t;

struct cache_mem {
    shard_t shards[NUM_SHARDS];
    uint64_t capacity;
    cache_evict_policy_t policy;
    _Atomic uint64_t used;
    _Atomic uint64_t objects;
    _Atomic uint64_t evictions;
    _Atomic uint64_t inserts;
    _Atomic unsigned evict_cursor;
};

/* ---- ghost FIFO ----------------------------------------------------------------------------------------------------------- */

static uint64_t ghost_norm(uint64_t h)
{
    return h < 2 ? h + 2 : h;
}

static void ghost_init(ghost_t *g, size_t cap)
{
    g->cap = cap;
    g->ring = calloc(cap, sizeof(uint64_t));
    g->table_cap = 1;
    while (g->table_cap < cap * 2)
        g->table_cap <<= 1;
    g->table = calloc(g->table_cap, sizeof(uint64_t));
    if (g->ring == NULL || g->table == NULL)
        h2o_fatal("no memory");
}

static size_t ghost_find(ghost_t *g, uint64_t h)
{
    size_t i = h & (g->table_cap - 1);
    for (;;) {
        if (g->table[i] == 0)
            return SIZE_MAX;
        if (g->table[i] == h)
            return i;
        i = (i + 1) & (g->table_cap - 1);
    }
}

static void ghost_rebuild(ghost_t *g)
{
    memset(g->table, 0, sizeof(uint64_t) * g->table_cap);
    g->tombstones = 0;
    for (size_t k = 0; k != g->count; ++k) {
        uint64_t h = g->ring[(g->head + k) % g->cap];
        size_t i = h & (g->table_cap - 1);
        while (g->table[i] != 0)
            i = (i + 1) & (g->table_cap - 1);
        g->table[i] = h;
    }
}

static void ghost_remove_at(ghost_t *g, size_t i)
{
    g->table[i] = 1;
    if (++g->tombstones > g->table_cap / 4)
        ghost_rebuild(g);
}

static void ghost_add(ghost_t *g, uint64_t h)
{
    h = ghost_norm(h);
    if (ghost_find(g, h) != SIZE_MAX)
        return;
    if (g->count == g->cap) {
        uint64_t old = g->ring[g->head];
        size_t i = ghost_find(g, old);
        g->head = (g->head + 1) % g->cap;
        --g->count;
        if (i != SIZE_MAX)
            ghost_remove_at(g, i);
    }
    g->ring[(g->head + g->count) % g->cap] = h;
    ++g->count;
    size_t i = h & (g->table_cap - 1);
    while (g->table[i] > 1)
        i = (i + 1) & (g->table_cap - 1);
    if (g->table[i] == 1)
        --g->tombstones;
    g->table[i] = h;
}

/* true (and forgets it) when h was evicted recently */
static int ghost_take(ghost_t *g, uint64_t h)
{
    size_t i = ghost_find(g, ghost_norm(h));
    if (i == SIZE_MAX)
        return 0;
    ghost_remove_at(g, i); /* the ring entry stays; it finds nothing when it ages out */
    return 1;
}

/* ---- index ---------------------------------------------------------------------------------------------------------------- */

cache_mem_t *cache_mem_new(uint64_t capacity, cache_evict_policy_t policy)
{
    cache_mem_t *m;
    size_t ghost_cap = capacity / NUM_SHARDS / 4096;
    if (posix_memalign((void **)&m, 64, sizeof(*m)) != 0)
        h2o_fatal("no memory");
    memset(m, 0, sizeof(*m));
    m->capacity = capacity;
    m->policy = policy;
    if (ghost_cap < 256)
        ghost_cap = 256;
    if (ghost_cap > 16384)
        ghost_cap = 16384;
    for (int i = 0; i != NUM_SHARDS; ++i) {
        shard_t *s = &m->shards[i];
        pthread_mutex_init(&s->mutex, NULL);
        s->num_buckets = 256;
        s->buckets = calloc(s->num_buckets, sizeof(cache_obj_t *));
        h2o_linklist_init_anchor(&s->small);
        h2o_linklist_init_anchor(&s->main);
        ghost_init(&s->ghost, ghost_cap);
    }
    return m;
}

static shard_t *shard_of(cache_mem_t *m, uint64_t hash)
{
    return &m->shards[(hash >> 56) % NUM_SHARDS];
}

static void grow(shard_t *s)
{
    size_t n = s->num_buckets * 2;
    cache_obj_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return; /* keep the longer chains */
    for (size_t i = 0; i != s->num_buckets; ++i) {
        cache_obj_t *o = s->buckets[i], *next;
        for (; o != NULL; o = next) {
            next = o->hash_next;
            o->hash_next = b[o->hash & (n - 1)];
            b[o->hash & (n - 1)] = o;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->num_buckets = n;
}

static void link_locked(cache_mem_t *m, shard_t *s, cache_obj_t *obj)
{
    cache_obj_t **b = &s->buckets[obj->hash & (s->num_buckets - 1)];
    obj->hash_next = *b;
    *b = obj;
    obj->indexed = 1;
    ++s->count;
    atomic_fetch_add_explicit(&m->objects, 1, memory_order_relaxed);
    if (s->count > s->num_buckets)
        grow(s);
}

static void dequeue_locked(shard_t *s, cache_obj_t *obj)
{
    if (obj->queue == QUEUE_SMALL)
        s->small_bytes -= obj->charged;
    else if (obj->queue == QUEUE_MAIN)
        s->main_bytes -= obj->charged;
    if (obj->queue != QUEUE_NONE)
        h2o_linklist_unlink(&obj->queue_link);
    obj->queue = QUEUE_NONE;
}

/* unlinks obj from the index; the caller releases the index's reference (outside the lock) */
static void unlink_locked(cache_mem_t *m, shard_t *s, cache_obj_t *obj)
{
    cache_obj_t **p = &s->buckets[obj->hash & (s->num_buckets - 1)];
    while (*p != obj) {
        EDGE_ASSERT(*p != NULL);
        p = &(*p)->hash_next;
    }
    *p = obj->hash_next;
    obj->hash_next = NULL;
    obj->indexed = 0;
    --s->count;
    dequeue_locked(s, obj);
    atomic_fetch_sub_explicit(&m->objects, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&m->used, obj->charged, memory_order_relaxed);
    obj->charged = 0;
}

/* what an object costs before its head and body: the block of the struct and its key, as malloc counts it */
static size_t fixed_bytes(const cache_obj_t *obj)
{
    return cache_obj_fixed_bytes(obj);
}

/* brings obj->charged up to what its blocks take now (object, head, Vary/tags, body segments); returns the growth.
 * Shard lock held; the object is in no queue yet (the queues' byte counts do not move). */
static uint64_t recharge_locked(cache_obj_t *obj)
{
    uint64_t now = fixed_bytes(obj) + cache_obj_head_bytes(obj) + cache_obj_body(obj)->allocated, add = now > obj->charged ? now - obj->charged : 0;
    obj->charged += add;
    return add;
}

static int key_eq(cache_obj_t *obj, uint64_t hash, h2o_iovec_t key)
{
    return obj->hash == hash && obj->key_len == key.len && memcmp(cache_obj_key(obj).base, key.base, key.len) == 0;
}

void cache_mem_lookup(cache_mem_t *m, uint64_t hash, h2o_iovec_t key, cache_mem_match_cb match, void *ctx, cache_mem_lookup_t *out)
{
    shard_t *s = shard_of(m, hash);
    cache_obj_t *o;
    out->found = NULL;
    out->busy = NULL;
    pthread_mutex_lock(&s->mutex);
    for (o = s->buckets[hash & (s->num_buckets - 1)]; o != NULL; o = o->hash_next) {
        if (!key_eq(o, hash, key))
            continue;
        int state = cache_obj_state(o);
        if (state == CACHE_OBJ_BUSY) {
            out->busy = o;
        } else if (state == CACHE_OBJ_STREAMING || state == CACHE_OBJ_COMPLETE) {
            if (o->hit_for_pass || match == NULL || o->num_vary == 0 || match(o, ctx)) {
                if (out->found == NULL || o->fresh.response_time_ms > out->found->fresh.response_time_ms)
                    out->found = o;
            }
        }
    }
    if (out->found != NULL) {
        o = out->found;
        cache_obj_addref(o);
        if (m->policy == CACHE_EVICT_LRU) {
            if (o->queue == QUEUE_MAIN) {
                h2o_linklist_unlink(&o->queue_link);
                h2o_linklist_insert(s->main.next, &o->queue_link);
            }
        } else {
            uint8_t f = atomic_load_explicit(&o->freq, memory_order_relaxed);
            if (f < 3)
                atomic_store_explicit(&o->freq, f + 1, memory_order_relaxed);
        }
    }
    if (out->busy != NULL)
        cache_obj_addref(out->busy);
    pthread_mutex_unlock(&s->mutex);
}

cache_obj_t *cache_mem_begin(cache_mem_t *m, uint64_t hash, h2o_iovec_t key, h2o_iovec_t url, int *created)
{
    shard_t *s = shard_of(m, hash);
    cache_obj_t *o;
    pthread_mutex_lock(&s->mutex);
    for (o = s->buckets[hash & (s->num_buckets - 1)]; o != NULL; o = o->hash_next) {
        if (key_eq(o, hash, key) && cache_obj_state(o) == CACHE_OBJ_BUSY) {
            cache_obj_addref(o);
            pthread_mutex_unlock(&s->mutex);
            *created = 0;
            return o;
        }
    }
    o = cache_obj_new(hash, key, url);
    cache_obj_addref(o); /* one for the index, one for the caller */
    o->charged = fixed_bytes(o);
    atomic_fetch_add_explicit(&m->used, o->charged, memory_order_relaxed);
    link_locked(m, s, o);
    pthread_mutex_unlock(&s->mutex);
    *created = 1;
    return o;
}

/* purges by store tag (cache_mem_purge_store): an epoch per slot of tags, counted up before each purge's scan */
#define NUM_STORE_EPOCHS 1024
static _Atomic uint32_t store_epochs[NUM_STORE_EPOCHS];
static _Atomic int any_store_tag; /* no object was ever tagged: purges by store tag have nothing to scan */

int cache_mem_insert(cache_mem_t *m, cache_obj_t *obj)
{
    shard_t *s = shard_of(m, obj->hash);
    pthread_mutex_lock(&s->mutex);
    if (obj->indexed) {
        pthread_mutex_unlock(&s->mutex);
        return -1;
    }
    cache_obj_addref(obj);
    obj->charged = fixed_bytes(obj);
    atomic_fetch_add_explicit(&m->used, obj->charged, memory_order_relaxed);
    link_locked(m, s, obj);
    pthread_mutex_unlock(&s->mutex);
    return 0;
}

/* frees memory until the tier fits; never evicts objects that are still filling (they are in no queue) */
static void evict(cache_mem_t *m)
{
    int idle_rounds = 0;
    while (atomic_load_explicit(&m->used, memory_order_relaxed) > m->capacity && idle_rounds < NUM_SHARDS) {
        shard_t *s = &m->shards[atomic_fetch_add_explicit(&m->evict_cursor, 1, memory_order_relaxed) % NUM_SHARDS];
        cache_obj_t *victim = NULL;
        pthread_mutex_lock(&s->mutex);
        while (victim == NULL && !(h2o_linklist_is_empty(&s->small) && h2o_linklist_is_empty(&s->main))) {
            uint64_t total = s->small_bytes + s->main_bytes;
            if (m->policy == CACHE_EVICT_LRU) {
                victim = H2O_STRUCT_FROM_MEMBER(cache_obj_t, queue_link, s->main.prev);
                break;
            }
            if (!h2o_linklist_is_empty(&s->small) && (s->small_bytes * 100 >= total * SMALL_PERCENT || h2o_linklist_is_empty(&s->main))) {
                cache_obj_t *o = H2O_STRUCT_FROM_MEMBER(cache_obj_t, queue_link, s->small.prev);
                if (atomic_load_explicit(&o->freq, memory_order_relaxed) > 0) {
                    /* seen again while in the small FIFO: promote */
                    dequeue_locked(s, o);
                    atomic_store_explicit(&o->freq, 0, memory_order_relaxed);
                    o->queue = QUEUE_MAIN;
                    h2o_linklist_insert(s->main.next, &o->queue_link);
                    s->main_bytes += o->charged;
                } else {
                    victim = o;
                    ghost_add(&s->ghost, o->hash);
                }
            } else {
                cache_obj_t *o = H2O_STRUCT_FROM_MEMBER(cache_obj_t, queue_link, s->main.prev);
                uint8_t f = atomic_load_explicit(&o->freq, memory_order_relaxed);
                if (f > 0) {
                    /* reinsertion: one more lap, with one less credit */
                    atomic_store_explicit(&o->freq, f - 1, memory_order_relaxed);
                    h2o_linklist_unlink(&o->queue_link);
                    h2o_linklist_insert(s->main.next, &o->queue_link);
                } else {
                    victim = o;
                }
            }
        }
        if (victim != NULL)
            unlink_locked(m, s, victim);
        pthread_mutex_unlock(&s->mutex);
        if (victim != NULL) {
            atomic_fetch_add_explicit(&m->evictions, 1, memory_order_relaxed);
            cache_obj_release(victim);
            idle_rounds = 0;
        } else {
            ++idle_rounds;
        }
    }
}

size_t cache_mem_object_overhead(const cache_obj_t *obj)
{
    uint64_t body = 0;
    for (cache_seg_t *s = obj->body_inline.first; s != NULL; s = s->next)
        body += s->len;
    return fixed_bytes(obj) + cache_obj_head_bytes(obj) + (obj->fs != NULL ? malloc_usable_size(obj->fs) + sizeof(size_t) : 0) +
           (obj->body_owner == NULL ? obj->body_inline.allocated - body : 0);
}

static size_t head_bytes(cache_obj_t *obj)
{
    return cache_obj_head_bytes(obj);
}

int cache_mem_store_head(cache_mem_t *m, cache_obj_t *obj)
{
    shard_t *s = shard_of(m, obj->hash);
    cache_obj_t *replaced[8];
    size_t nreplaced = 0, add = head_bytes(obj);
    cache_obj_t *o, *next;

    pthread_mutex_lock(&s->mutex);
    if (!obj->indexed) { /* purged while it was fetched */
        pthread_mutex_unlock(&s->mutex);
        return -1;
    }
    uint64_t tag = atomic_load(&obj->store_tag);
    if (tag != 0 && atomic_load(&store_epochs[tag % NUM_STORE_EPOCHS]) != obj->store_epoch) {
        /* the store object may have been written after the origin read it (and the purge may have missed this object, not
         * indexed yet): not stored */
        unlink_locked(m, s, obj);
        pthread_mutex_unlock(&s->mutex);
        cache_obj_release(obj);
        return -1;
    }
    /* the new response replaces older ones for the same variant, and hit-for-pass markers */
    for (o = s->buckets[obj->hash & (s->num_buckets - 1)]; o != NULL; o = next) {
        next = o->hash_next;
        if (o == obj || !key_eq(o, obj->hash, cache_obj_key(obj)) || cache_obj_state(o) == CACHE_OBJ_BUSY)
            continue;
        h2o_iovec_t ovk = cache_obj_vary_key(o), vk = cache_obj_vary_key(obj);
        if (o->hit_for_pass || (ovk.len == vk.len && memcmp(ovk.base, vk.base, vk.len) == 0)) {
            if (nreplaced == sizeof(replaced) / sizeof(replaced[0]))
                break;
            unlink_locked(m, s, o);
            replaced[nreplaced++] = o;
        }
    }
    obj->charged += add;
    pthread_mutex_unlock(&s->mutex);
    atomic_fetch_add_explicit(&m->used, add, memory_order_relaxed);
    for (size_t i = 0; i != nreplaced; ++i)
        cache_obj_release(replaced[i]);
    evict(m);
    return 0;
}

int cache_mem_charge(cache_mem_t *m, cache_obj_t *obj, uint64_t max_object_size)
{
    shard_t *s = shard_of(m, obj->hash);
    uint64_t body = cache_obj_avail(obj), add; /* the body's bytes so far (what max_object_size bounds) */
    int too_big = 0;
    pthread_mutex_lock(&s->mutex);
    if (!obj->indexed) {
        pthread_mutex_unlock(&s->mutex);
        return -1;
    }
    /* charged = fixed part + head + body segments so far */
    add = recharge_locked(obj);
    if (body > max_object_size || obj->charged > m->capacity)
        too_big = 1;
    pthread_mutex_unlock(&s->mutex);
    atomic_fetch_add_explicit(&m->used, add, memory_order_relaxed);
    if (too_big) {
        cache_mem_remove(m, obj);
        return -1;
    }
    if (atomic_load_explicit(&m->used, memory_order_relaxed) > m->capacity)
        evict(m);
    return 0;
}

void cache_mem_complete(cache_mem_t *m, cache_obj_t *obj)
{
    shard_t *s = shard_of(m, obj->hash);
    pthread_mutex_lock(&s->mutex);
    if (obj->indexed && obj->queue == QUEUE_NONE) {
        /* the head and a body that never grew after it (empty, or in the head's block) are charged here */
        atomic_fetch_add_explicit(&m->used, recharge_locked(obj), memory_order_relaxed);
        if (m->policy == CACHE_EVICT_LRU || ghost_take(&s->ghost, obj->hash)) {
            obj->queue = QUEUE_MAIN;
            h2o_linklist_insert(s->main.next, &obj->queue_link);
            s->main_bytes += obj->charged;
        } else {
            obj->queue = QUEUE_SMALL;
            h2o_linklist_insert(s->small.next, &obj->queue_link);
            s->small_bytes += obj->charged;
        }
        atomic_fetch_add_explicit(&m->inserts, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->mutex);
    if (atomic_load_explicit(&m->used, memory_order_relaxed) > m->capacity)
        evict(m);
}

void cache_mem_remove(cache_mem_t *m, cache_obj_t *obj)
{
    shard_t *s = shard_of(m, obj->hash);
    int was = 0;
    pthread_mutex_lock(&s->mutex);
    if (obj->indexed) {
        unlink_locked(m, s, obj);
        was = 1;
    }
    pthread_mutex_unlock(&s->mutex);
    if (was)
        cache_obj_release(obj);
}

void cache_mem_mark_pass(cache_mem_t *m, uint64_t hash, h2o_iovec_t key, h2o_iovec_t url, int64_t now_ms, int64_t ttl_ms)
{
    shard_t *s = shard_of(m, hash);
    cache_obj_t *o = cache_obj_new(hash, key, url);
    o->hit_for_pass = 1;
    o->fresh.lifetime = cache_fresh_pack(ttl_ms);
    o->fresh.response_time_ms = now_ms;
    o->fresh.initial_age = 0;
    o->content_length = 0;
    atomic_store(&o->state, CACHE_OBJ_COMPLETE);
    free(o->fs); /* a marker never fills */
    o->fs = NULL;
    o->charged = fixed_bytes(o);
    atomic_fetch_add_explicit(&m->used, o->charged, memory_order_relaxed);
    cache_obj_t *replaced = NULL, **p;
    pthread_mutex_lock(&s->mutex);
    /* one marker per key: the new one replaces the old (a key that keeps answering no-store must not grow its chain) */
    for (p = &s->buckets[hash & (s->num_buckets - 1)]; *p != NULL;) {
        cache_obj_t *x = *p;
        if (x->hit_for_pass && key_eq(x, hash, key)) {
            unlink_locked(m, s, x);
            x->hash_next = replaced;
            replaced = x;
        } else {
            p = &x->hash_next;
        }
    }
    link_locked(m, s, o);
    o->queue = QUEUE_SMALL;
    h2o_linklist_insert(s->small.next, &o->queue_link);
    s->small_bytes += o->charged;
    pthread_mutex_unlock(&s->mutex);
    while (replaced != NULL) {
        cache_obj_t *next = replaced->hash_next;
        replaced->hash_next = NULL;
        cache_obj_release(replaced);
        replaced = next;
    }
}

static int has_tag(cache_obj_t *o, h2o_iovec_t tag)
{
    size_t n;
    const h2o_iovec_t *tags = cache_obj_tags(o, &n);
    for (size_t i = 0; i != n; ++i)
        if (tags[i].len == tag.len && memcmp(tags[i].base, tag.base, tag.len) == 0)
            return 1;
    return 0;
}

/* the purges' one walk over every shard: kind is a cache_purge_kind_t, or PURGE_STORE_TAG (objects whose store_tag is
 * store_tag, cache_mem_purge_store) */
#define PURGE_STORE_TAG (-1)
static size_t purge_scan(cache_mem_t *m, int kind, h2o_iovec_t arg, uint64_t store_tag, int soft)
{
    size_t purged = 0;
    for (int i = 0; i != NUM_SHARDS; ++i) {
        shard_t *s = &m->shards[i];
        cache_obj_t *victims = NULL;
        pthread_mutex_lock(&s->mutex);
        for (size_t b = 0; b != s->num_buckets; ++b) {
            cache_obj_t *o, *next;
            for (o = s->buckets[b]; o != NULL; o = next) {
                int hit;
                next = o->hash_next;
                switch (kind) {
                case CACHE_PURGE_URL:
                    hit = o->url_len == arg.len && memcmp(cache_obj_url(o).base, arg.base, arg.len) == 0;
                    break;
                case CACHE_PURGE_PREFIX:
                    hit = o->url_len >= arg.len && memcmp(cache_obj_url(o).base, arg.base, arg.len) == 0;
                    break;
                case CACHE_PURGE_TAG:
                    hit = cache_obj_state(o) != CACHE_OBJ_BUSY && has_tag(o, arg);
                    break;
                case PURGE_STORE_TAG:
                    hit = atomic_load(&o->store_tag) == store_tag;
                    break;
                default:
                    hit = 1;
                    break;
                }
                if (!hit)
                    continue;
                if (soft && !o->hit_for_pass) {
                    if (cache_obj_state(o) != CACHE_OBJ_BUSY && !atomic_exchange(&o->invalidated, 1))
                        ++purged;
                    continue;
                }
                /* a BUSY fill stays in flight for its waiters, but what it brings will not be stored */
                unlink_locked(m, s, o);
                if (!o->hit_for_pass && cache_obj_state(o) != CACHE_OBJ_BUSY)
                    ++purged;
                o->hash_next = victims;
                victims = o;
            }
        }
        pthread_mutex_unlock(&s->mutex);
        while (victims != NULL) {
            cache_obj_t *o = victims;
            victims = o->hash_next;
            o->hash_next = NULL;
            cache_obj_release(o);
        }
    }
    return purged;
}

size_t cache_mem_purge(cache_mem_t *m, cache_purge_kind_t kind, h2o_iovec_t arg, int soft)
{
    return purge_scan(m, (int)kind, arg, 0, soft);
}

void cache_mem_tag_store(cache_mem_t *m, cache_obj_t *obj, uint64_t tag)
{
    (void)m;
    if (!atomic_load(&any_store_tag))
        atomic_store(&any_store_tag, 1);
    obj->store_epoch = atomic_load(&store_epochs[tag % NUM_STORE_EPOCHS]);
    /* seq_cst: a purge that reads 0 here ran before this store, so the origin request that follows reads the new object */
    atomic_store(&obj->store_tag, tag);
}

size_t cache_mem_purge_store(cache_mem_t *m, uint64_t tag)
{
    if (m == NULL || !atomic_load(&any_store_tag))
        return 0;
    /* first: a fill that read the object before this write and stores its head after the scan below sees it changed */
    atomic_fetch_add(&store_epochs[tag % NUM_STORE_EPOCHS], 1);
    return purge_scan(m, PURGE_STORE_TAG, h2o_iovec_init(NULL, 0), tag, 0);
}

void cache_mem_stats(cache_mem_t *m, cache_mem_stats_t *out)
{
    out->capacity = m->capacity;
    out->bytes = atomic_load(&m->used);
    out->objects = atomic_load(&m->objects);
    out->evictions = atomic_load(&m->evictions);
    out->inserts = atomic_load(&m->inserts);
}

void cache_mem_free(cache_mem_t *m)
{
    for (int i = 0; i != NUM_SHARDS; ++i) {
        shard_t *s = &m->shards[i];
        for (size_t b = 0; b != s->num_buckets; ++b) {
            cache_obj_t *o, *next;
            for (o = s->buckets[b]; o != NULL; o = next) {
                next = o->hash_next;
                o->indexed = 0;
                o->queue = QUEUE_NONE;
                cache_obj_release(o);
            }
        }
        free(s->buckets);
        free(s->ghost.ring);
        free(s->ghost.table);
        pthread_mutex_destroy(&s->mutex);
    }
    free(m);
}
