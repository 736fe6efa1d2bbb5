/* cache/object.c - refcounted response objects with an append-only body that readers on any thread stream while it fills. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/assert.h"
#include "cache/object.h"

static __thread cache_thread_t *current_thread;

/* object locks are striped: a mutex per object would cost 40 bytes of every cached object */
#define NUM_OBJ_LOCKS 256
static pthread_mutex_t obj_locks[NUM_OBJ_LOCKS];
static pthread_once_t obj_locks_once = PTHREAD_ONCE_INIT;

static void init_obj_locks(void)
{
    for (size_t i = 0; i != NUM_OBJ_LOCKS; ++i)
        pthread_mutex_init(&obj_locks[i], NULL);
}

/* what a block takes from malloc: its usable size and the chunk header */
static size_t block_bytes(const void *p)
{
    return p != NULL ? malloc_usable_size((void *)p) + sizeof(size_t) : 0;
}

static pthread_mutex_t *lock_of(const cache_obj_t *obj)
{
    return &obj_locks[((uintptr_t)obj >> 7) % NUM_OBJ_LOCKS];
}

static void obj_lock(const cache_obj_t *obj)
{
    pthread_mutex_lock(lock_of(obj));
}

static void obj_unlock(const cache_obj_t *obj)
{
    pthread_mutex_unlock(lock_of(obj));
}

/* ---- per-thread inbox ----------------------------------------------------------------------------------------------------- */

static void drain_inbox(cache_thread_t *t)
{
    /* one at a time: a callback may cancel another waiter of this thread */
    for (;;) {
        cache_waiter_t *w;
        pthread_mutex_lock(&t->mutex);
        if (h2o_linklist_is_empty(&t->inbox)) {
            t->notified = 0;
            pthread_mutex_unlock(&t->mutex);
            return;
        }
        w = H2O_STRUCT_FROM_MEMBER(cache_waiter_t, inbox_link, t->inbox.next);
        h2o_linklist_unlink(&w->inbox_link);
        pthread_mutex_unlock(&t->mutex);
        w->cb(w);
    }
}

static void on_inbox_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    cache_thread_t *t = H2O_STRUCT_FROM_MEMBER(cache_thread_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    drain_inbox(t);
}

static void on_inbox_zero_timeout(h2o_timeout_entry_t *entry)
{
    cache_thread_t *t = H2O_STRUCT_FROM_MEMBER(cache_thread_t, zero_entry, entry);
    drain_inbox(t);
}

void cache_thread_init(cache_thread_t *t, h2o_loop_t *loop, h2o_multithread_queue_t *queue, h2o_timeout_t *zero_timeout)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->zero_timeout = zero_timeout;
    t->zero_entry.cb = on_inbox_zero_timeout;
    pthread_mutex_init(&t->mutex, NULL);
    h2o_linklist_init_anchor(&t->inbox);
    h2o_multithread_register_receiver(queue, &t->receiver, on_inbox_message);
    current_thread = t;
}

void cache_thread_dispose(cache_thread_t *t, h2o_multithread_queue_t *queue)
{
    h2o_timeout_unlink(&t->zero_entry);
    h2o_multithread_unregister_receiver(queue, &t->receiver);
    pthread_mutex_destroy(&t->mutex);
    if (current_thread == t)
        current_thread = NULL;
}

cache_thread_t *cache_thread_current(void)
{
    return current_thread;
}

void cache_waiter_init(cache_waiter_t *w, void (*cb)(cache_waiter_t *w))
{
    memset(w, 0, sizeof(*w));
    w->thread = current_thread;
    w->cb = cb;
    EDGE_ASSERT(w->thread != NULL && "waiters belong to worker threads");
}

/* queues w on its thread; called with no lock or with the lock of the object w waited on (lock order: object, then inbox) */
void cache_waiter_wake(cache_waiter_t *w)
{
    cache_thread_t *t = w->thread;
    int send = 0;
    pthread_mutex_lock(&t->mutex);
    if (!h2o_linklist_is_linked(&w->inbox_link)) {
        h2o_linklist_insert(&t->inbox, &w->inbox_link);
        if (!t->notified) {
            t->notified = 1;
            send = 1;
        }
    }
    pthread_mutex_unlock(&t->mutex);
    if (send) {
        if (t == current_thread) {
            if (!h2o_timeout_is_linked(&t->zero_entry))
                h2o_timeout_link(t->loop, t->zero_timeout, &t->zero_entry);
        } else {
            h2o_multithread_send_message(&t->receiver, &t->message);
        }
    }
}

void cache_waiter_cancel(cache_waiter_t *w)
{
    cache_obj_t *obj = w->obj;
    if (obj != NULL) {
        obj_lock(obj);
        if (h2o_linklist_is_linked(&w->link))
            h2o_linklist_unlink(&w->link);
        w->obj = NULL;
        obj_unlock(obj);
    }
    if (w->thread != NULL) {
        pthread_mutex_lock(&w->thread->mutex);
        if (h2o_linklist_is_linked(&w->inbox_link))
            h2o_linklist_unlink(&w->inbox_link);
        pthread_mutex_unlock(&w->thread->mutex);
    }
}

/* wakes every waiter of obj; called with the object's lock held */
static void wake_all_locked(cache_obj_t *obj)
{
    cache_fillstate_t *fs = obj->fs;
    if (fs == NULL)
        return;
    while (!h2o_linklist_is_empty(&fs->waiters)) {
        cache_waiter_t *w = H2O_STRUCT_FROM_MEMBER(cache_waiter_t, link, fs->waiters.next);
        h2o_linklist_unlink(&w->link);
        cache_waiter_wake(w);
    }
}

/* a complete object with nobody tracking it drops its fill state; called with the lock held */
static void maybe_drop_fillstate_locked(cache_obj_t *obj)
{
    cache_fillstate_t *fs = obj->fs;
    if (fs != NULL && cache_obj_state(obj) == CACHE_OBJ_COMPLETE && fs->num_readers == 0 && h2o_linklist_is_empty(&fs->waiters)) {
        EDGE_ASSERT(fs->fallback == NULL);
        obj->fs = NULL;
        free(fs);
    }
}

/* ---- bodies --------------------------------------------------------------------------------------------------------------- */

static void seg_free(cache_seg_t *s)
{
    if ((s->cap & CACHE_SEG_EXTERNAL) != 0) {
        cache_seg_ext_t *x = (cache_seg_ext_t *)(void *)s->data;
        x->release(x->ctx);
    }
    free(s);
}

static void body_free_segments(cache_body_t *body)
{
    for (cache_seg_t *s = body->first, *next; s != NULL; s = next) {
        next = s->next;
        seg_free(s);
    }
    body->first = body->last = NULL;
}

/* ---- objects -------------------------------------------------------------------------------------------------------------- */

cache_obj_t *cache_obj_new(uint64_t hash, h2o_iovec_t key, h2o_iovec_t url)
{
    int url_in_key = url.len != 0 && url.base >= key.base && url.base + url.len <= key.base + key.len;
    cache_obj_t *obj;
    char *p;
    pthread_once(&obj_locks_once, init_obj_locks);
    EDGE_ASSERT(key.len < (1u << 30) && url.len < (1u << 30)); /* (request lines are far shorter) */
    if ((obj = calloc(1, sizeof(*obj) + key.len + 1 + (url_in_key ? 0 : url.len + 1))) == NULL)
        h2o_fatal("no memory");
    obj->magic = CACHE_OBJ_MAGIC;
    atomic_init(&obj->refcnt, 1);
    atomic_init(&obj->state, CACHE_OBJ_BUSY);
    obj->hash = hash;
    p = (char *)(obj + 1);
    if (key.len != 0)
        memcpy(p, key.base, key.len);
    obj->key_len = (uint32_t)key.len;
    if (url_in_key) {
        obj->url_off = (uint32_t)(url.base - key.base);
    } else {
        obj->url_off = (uint32_t)key.len + 1;
        if (url.len != 0)
            memcpy(p + obj->url_off, url.base, url.len);
    }
    obj->url_len = (uint32_t)url.len;
    obj->content_length = -1;
    if ((obj->fs = calloc(1, sizeof(*obj->fs))) == NULL)
        h2o_fatal("no memory");
    h2o_linklist_init_anchor(&obj->fs->waiters);
    h2o_linklist_init_anchor(&obj->fs->readers);
    return obj;
}

void cache_obj_release(cache_obj_t *obj)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    uint32_t before = atomic_fetch_sub_explicit(&obj->refcnt, 1, memory_order_acq_rel);
    EDGE_ASSERT(before != 0);
    if (before != 1)
        return;
    if (obj->fs != NULL) {
        EDGE_ASSERT(h2o_linklist_is_empty(&obj->fs->waiters));
        if (obj->fs->fallback != NULL)
            cache_obj_release(obj->fs->fallback);
        free(obj->fs);
    }
    if (!obj->head_in_seg)
        free((void *)obj->head);
    if (obj->body_owner != NULL)
        cache_obj_release(obj->body_owner);
    else
        body_free_segments(&obj->body_inline);
    free(obj->meta);
    obj->magic = 0;
    free(obj);
}

void cache_obj_set_decision(cache_obj_t *obj, const cache_decision_t *d)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    obj->fresh.response_time_ms = d->response_time_ms;
    obj->fresh.initial_age = cache_fresh_pack(d->initial_age_ms);
    obj->fresh.lifetime = cache_fresh_pack(d->lifetime_ms);
    obj->fresh.swr = cache_fresh_pack(d->swr_ms);
    obj->fresh.sie = cache_fresh_pack(d->sie_ms);
    obj->fresh_flags = (uint8_t)((d->no_cache ? CACHE_FRESH_NO_CACHE : 0) | (d->must_revalidate ? CACHE_FRESH_MUST_REVALIDATE : 0));
}

void cache_obj_decision(const cache_obj_t *obj, cache_decision_t *d)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    memset(d, 0, sizeof(*d));
    d->storable = 1;
    d->response_time_ms = obj->fresh.response_time_ms;
    d->request_time_ms = obj->fresh.response_time_ms;
    d->initial_age_ms = cache_fresh_unpack(obj->fresh.initial_age);
    d->lifetime_ms = cache_fresh_unpack(obj->fresh.lifetime);
    d->swr_ms = cache_fresh_unpack(obj->fresh.swr);
    d->sie_ms = cache_fresh_unpack(obj->fresh.sie);
    d->no_cache = (obj->fresh_flags & CACHE_FRESH_NO_CACHE) != 0;
    d->must_revalidate = (obj->fresh_flags & CACHE_FRESH_MUST_REVALIDATE) != 0;
    d->date_ms = CACHE_ABSENT;
    d->age_ms = CACHE_ABSENT;
    d->last_modified_ms = CACHE_ABSENT;
}

static cache_seg_t *seg_new(uint64_t offset, size_t cap, size_t extra);

/* encodes the head; with `body_cap` (a known Content-Length of a small stored object), into one block after the first body
 * segment */
static void store_head(cache_obj_t *obj, int status, const char *reason, const h2o_header_t *headers, size_t num_headers,
                       size_t num_plain, int64_t body_cap)
{
    size_t len = cache_head_size(reason, headers, num_headers);
    char *dst;
    EDGE_ASSERT(obj->head == NULL);
    if (body_cap >= 0 && obj->body_inline.first == NULL && obj->body_owner == NULL) {
        cache_seg_t *seg = seg_new(0, (size_t)body_cap, len);
        dst = seg->data + body_cap;
        obj->body_inline.first = obj->body_inline.last = seg;
        obj->body_inline.allocated += block_bytes(seg);
        obj->head_in_seg = 1;
    } else if ((dst = malloc(len)) == NULL) {
        h2o_fatal("no memory");
    }
    obj->head_len = (uint32_t)cache_head_encode(dst, status, reason, headers, num_headers, num_plain);
    obj->head = dst;
}

void cache_obj_open_head(const cache_obj_t *obj, cache_head_view_t *v)
{
    if (obj->head != NULL) {
        cache_head_open(obj->head, obj->head_len, v);
    } else {
        memset(v, 0, sizeof(*v));
        v->reason = "";
    }
}

size_t cache_obj_num_headers(const cache_obj_t *obj)
{
    cache_head_view_t v;
    cache_obj_open_head(obj, &v);
    return v.num_headers;
}

size_t cache_obj_headers(const cache_obj_t *obj, h2o_mem_pool_t *pool, h2o_header_t *out, size_t *num_plain)
{
    cache_head_view_t v;
    cache_obj_open_head(obj, &v);
    cache_head_decode(&v, pool, out);
    if (num_plain != NULL)
        *num_plain = v.num_plain;
    return v.num_headers;
}

h2o_headers_t cache_obj_headers_pool(const cache_obj_t *obj, h2o_mem_pool_t *pool)
{
    h2o_headers_t h = {NULL, 0, 0};
    cache_head_view_t v;
    cache_obj_open_head(obj, &v);
    if (v.num_headers != 0) {
        h2o_vector_reserve(pool, &h, v.num_headers);
        cache_head_decode(&v, pool, h.entries);
        h.size = v.num_headers;
    }
    return h;
}

const char *cache_obj_reason(const cache_obj_t *obj)
{
    cache_head_view_t v;
    cache_obj_open_head(obj, &v);
    return v.reason;
}

size_t cache_obj_fixed_bytes(const cache_obj_t *obj)
{
    return block_bytes(obj);
}

size_t cache_obj_head_bytes(const cache_obj_t *obj)
{
    return (obj->head_in_seg ? 0 : block_bytes(obj->head)) + block_bytes(obj->meta);
}

void cache_obj_set_meta(cache_obj_t *obj, const h2o_iovec_t *vary_names, size_t num_vary, h2o_iovec_t vary_key, const h2o_iovec_t *tags,
                        size_t num_tags)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    size_t bytes = offsetof(cache_meta_t, vary_names) + sizeof(h2o_iovec_t) * (num_vary + num_tags) + vary_key.len + 1, i;
    cache_meta_t *meta;
    char *p;
    EDGE_ASSERT(cache_obj_state(obj) == CACHE_OBJ_BUSY);
    if (num_vary > UINT16_MAX)
        num_vary = UINT16_MAX;
    if (num_tags > UINT16_MAX)
        num_tags = UINT16_MAX;
    free(obj->meta);
    obj->meta = NULL;
    obj->num_vary = 0;
    if (num_vary == 0 && num_tags == 0 && vary_key.len == 0)
        return; /* the common case: nothing to keep */
    for (i = 0; i != num_vary; ++i)
        bytes += vary_names[i].len + 1;
    for (i = 0; i != num_tags; ++i)
        bytes += tags[i].len + 1;
    if ((meta = malloc(bytes)) == NULL)
        h2o_fatal("no memory");
    p = (char *)(meta->vary_names + num_vary + num_tags);
    for (i = 0; i != num_vary + num_tags; ++i) {
        const h2o_iovec_t *src = i < num_vary ? &vary_names[i] : &tags[i - num_vary];
        if (src->len != 0)
            memcpy(p, src->base, src->len);
        p[src->len] = '\0';
        meta->vary_names[i] = h2o_iovec_init(p, src->len);
        p += src->len + 1;
    }
    if (vary_key.len != 0)
        memcpy(p, vary_key.base, vary_key.len);
    p[vary_key.len] = '\0';
    meta->vary_key = h2o_iovec_init(p, vary_key.len);
    meta->tags = meta->vary_names + num_vary;
    meta->num_tags = num_tags;
    obj->meta = meta;
    obj->num_vary = (uint16_t)num_vary;
}

void cache_obj_set_head(cache_obj_t *obj, int status, const char *reason, const h2o_header_t *headers, size_t num_headers,
                        size_t num_plain, int64_t content_length, int pass)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    EDGE_ASSERT(cache_obj_state(obj) == CACHE_OBJ_BUSY);
    obj->status = status;
    obj->content_length = content_length;
    /* a small stored body of known length: body and head in one block. Not for a transient body (streamed from disk, or too
     * big to keep): its segments are freed as its readers pass them, and a disk stream appends external segments, which
     * must not follow a preallocated segment that stays empty */
    store_head(obj, status, reason, headers, num_headers, num_plain,
               !pass && !obj->transient && content_length >= 0 && content_length <= CACHE_OBJ_ONE_BLOCK_MAX ? content_length
                                                                                                              : -1);
    obj_lock(obj);
    if (pass)
        obj->transient = 1;
    atomic_store_explicit(&obj->state, pass ? CACHE_OBJ_PASS : CACHE_OBJ_STREAMING, memory_order_release);
    wake_all_locked(obj);
    obj_unlock(obj);
}

void cache_obj_set_from(cache_obj_t *obj, cache_obj_t *from, const h2o_header_t *headers, size_t num_headers, size_t num_plain)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    EDGE_CHECK_OBJ(from, CACHE_OBJ_MAGIC);
    EDGE_ASSERT(cache_obj_state(obj) == CACHE_OBJ_BUSY);
    EDGE_ASSERT(cache_obj_state(from) == CACHE_OBJ_COMPLETE);
    obj->status = from->status;
    if (obj->meta == NULL && from->meta != NULL)
        cache_obj_set_meta(obj, from->meta->vary_names, from->num_vary, from->meta->vary_key, from->meta->tags, from->meta->num_tags);
    store_head(obj, from->status, cache_obj_reason(from), headers, num_headers, num_plain, -1);
    obj->content_length = from->content_length;
    /* the body is shared, not copied: hold its owner */
    body_free_segments(&obj->body_inline);
    cache_obj_t *owner = from->body_owner != NULL ? from->body_owner : from;
    cache_obj_addref(owner);
    obj_lock(obj);
    obj->body_owner = owner; /* (under the lock: waiters read the body's avail under it) */
    atomic_store_explicit(&obj->state, CACHE_OBJ_COMPLETE, memory_order_release);
    wake_all_locked(obj);
    maybe_drop_fillstate_locked(obj);
    obj_unlock(obj);
}

/* a segment of cap bytes, with `extra` bytes after them in its block */
static cache_seg_t *seg_new(uint64_t offset, size_t cap, size_t extra)
{
    cache_seg_t *s = malloc(offsetof(cache_seg_t, data) + cap + extra);
    if (s == NULL)
        h2o_fatal("no memory");
    s->next = NULL;
    s->offset = offset;
    s->len = 0;
    s->cap = (uint32_t)cap;
    return s;
}

/* a new tail segment for len more bytes at avail (the producer's; `last` is the current tail or NULL): one exact segment when the
 * length is known, else doubling from 16 KB up to 1 MB; linked under the object's lock */
static cache_seg_t *grow_tail(cache_obj_t *obj, cache_body_t *b, cache_seg_t *last, uint64_t avail, size_t len)
{
    size_t cap;
    if (obj->content_length >= 0 && (uint64_t)obj->content_length > avail && b->first == NULL &&
        obj->content_length - avail <= (64u << 20))
        cap = (size_t)(obj->content_length - avail);
    else
        cap = last == NULL ? 16384 : (cache_seg_cap(last) < (1u << 20) ? cache_seg_cap(last) * 2 : (1u << 20));
    if (cap < len && cap < (1u << 20))
        cap = len < (1u << 20) ? len : (1u << 20);
    cache_seg_t *ns = seg_new(avail, cap, 0);
    obj_lock(obj);
    if (b->last != NULL)
        b->last->next = ns;
    else
        b->first = ns;
    b->last = ns;
    b->allocated += block_bytes(ns);
    obj_unlock(obj);
    return ns;
}

void cache_obj_append(cache_obj_t *obj, const void *data, size_t len)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    cache_body_t *b = cache_obj_body(obj);
    const char *src = data;
    uint64_t avail = atomic_load_explicit(&b->avail, memory_order_relaxed);

    if (len == 0)
        return;
    /* fill the tail; segments are never moved, so readers may hold pointers into them. Linking a new segment happens under the
     * lock because a transient object's readers free the head of the list under it. */
    while (len != 0) {
        cache_seg_t *s = b->last;
        size_t n;
        if (s == NULL || s->len == cache_seg_cap(s))
            s = grow_tail(obj, b, s, avail, len);
        n = s->cap - s->len;
        if (n > len)
            n = len;
        memcpy(s->data + s->len, src, n);
        s->len += n;
        src += n;
        len -= n;
        avail += n;
    }
    obj_lock(obj);
    atomic_store_explicit(&b->avail, avail, memory_order_release);
    wake_all_locked(obj);
    obj_unlock(obj);
}

char *cache_obj_reserve(cache_obj_t *obj, size_t len, size_t *room)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    cache_body_t *b = cache_obj_body(obj);
    uint64_t avail = atomic_load_explicit(&b->avail, memory_order_relaxed);
    cache_seg_t *s = b->last;

    if (s == NULL || s->len == cache_seg_cap(s))
        s = grow_tail(obj, b, s, avail, len);
    /* the tail segment is never trimmed (trim_locked keeps b->last), so the room stays valid until the commit */
    *room = s->cap - s->len < len ? s->cap - s->len : len;
    return s->data + s->len;
}

void cache_obj_commit(cache_obj_t *obj, size_t len)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    cache_body_t *b = cache_obj_body(obj);
    if (len == 0)
        return;
    EDGE_ASSERT(b->last != NULL && b->last->cap - b->last->len >= len);
    b->last->len += (uint32_t)len;
    obj_lock(obj);
    atomic_store_explicit(&b->avail, atomic_load_explicit(&b->avail, memory_order_relaxed) + len, memory_order_release);
    wake_all_locked(obj);
    obj_unlock(obj);
}

void cache_obj_append_external(cache_obj_t *obj, const char *data, size_t len, void (*release)(void *ctx), void *ctx)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    cache_body_t *b = cache_obj_body(obj);
    EDGE_ASSERT(len != 0 && len < CACHE_SEG_EXTERNAL);
    uint64_t avail = atomic_load_explicit(&b->avail, memory_order_relaxed);
    /* readers take a segment's bytes up to its capacity: a tail with room left would be read where the next bytes are not */
    EDGE_ASSERT(b->last == NULL || b->last->offset + cache_seg_cap(b->last) == avail);
    cache_seg_t *s = seg_new(avail, 0, sizeof(cache_seg_ext_t));
    cache_seg_ext_t x = {data, release, ctx};
    memcpy(s->data, &x, sizeof(x));
    s->len = (uint32_t)len;
    s->cap = (uint32_t)len | CACHE_SEG_EXTERNAL; /* full: the next append grows a new tail */
    obj_lock(obj);
    if (b->last != NULL)
        b->last->next = s;
    else
        b->first = s;
    b->last = s;
    b->allocated += block_bytes(s);
    atomic_store_explicit(&b->avail, avail + len, memory_order_release);
    wake_all_locked(obj);
    obj_unlock(obj);
}

void cache_obj_complete(cache_obj_t *obj)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    obj_lock(obj);
    if (obj->content_length < 0)
        obj->content_length = (int64_t)atomic_load_explicit(&cache_obj_body(obj)->avail, memory_order_relaxed);
    if (obj->fs != NULL)
        obj->fs->producer = NULL; /* the producer is done and may be freed */
    atomic_store_explicit(&obj->state, CACHE_OBJ_COMPLETE, memory_order_release);
    wake_all_locked(obj);
    maybe_drop_fillstate_locked(obj);
    obj_unlock(obj);
}

void cache_obj_fail(cache_obj_t *obj, int status, const char *reason, cache_obj_t *fallback)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    EDGE_CHECK_OBJ_OR_NULL(fallback, CACHE_OBJ_MAGIC);
    obj_lock(obj);
    EDGE_ASSERT(obj->fs != NULL);
    obj->fs->fail_status = status;
    snprintf(obj->fs->fail_reason, sizeof(obj->fs->fail_reason), "%s", reason != NULL ? reason : "error");
    obj->fs->producer = NULL;
    if (fallback != NULL && obj->fs->fallback == NULL) {
        cache_obj_addref(fallback);
        obj->fs->fallback = fallback;
    }
    atomic_store_explicit(&obj->state, CACHE_OBJ_FAILED, memory_order_release);
    wake_all_locked(obj);
    obj_unlock(obj);
}

int cache_obj_fail_status(cache_obj_t *obj)
{
    return obj->fs != NULL ? obj->fs->fail_status : 0; /* a FAILED object keeps its fill state */
}

const char *cache_obj_fail_reason(cache_obj_t *obj)
{
    return obj->fs != NULL ? obj->fs->fail_reason : "error";
}

cache_obj_t *cache_obj_fallback(cache_obj_t *obj)
{
    return obj->fs != NULL ? obj->fs->fallback : NULL;
}

void cache_obj_make_transient(cache_obj_t *obj, cache_waiter_t *producer)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    obj_lock(obj);
    obj->transient = 1;
    if (obj->fs != NULL)
        obj->fs->producer = producer;
    if (producer != NULL)
        producer->obj = NULL;
    obj_unlock(obj);
}

/* the position no tracked reader is behind; called with the lock held */
static uint64_t min_acked_locked(cache_fillstate_t *fs)
{
    uint64_t min = UINT64_MAX;
    for (h2o_linklist_t *l = fs->readers.next; l != &fs->readers; l = l->next) {
        cache_reader_t *r = H2O_STRUCT_FROM_MEMBER(cache_reader_t, link, l);
        if (r->acked < min)
            min = r->acked;
    }
    return min;
}

int cache_obj_window_full(cache_obj_t *obj, size_t window)
{
    int full = 0;
    obj_lock(obj);
    if (obj->transient && obj->fs != NULL && obj->fs->num_readers != 0) {
        uint64_t min = min_acked_locked(obj->fs), avail = atomic_load_explicit(&cache_obj_body(obj)->avail, memory_order_relaxed);
        full = avail > min && avail - min > window;
    }
    obj_unlock(obj);
    return full;
}

size_t cache_obj_num_readers(cache_obj_t *obj)
{
    size_t n;
    obj_lock(obj);
    n = obj->fs != NULL ? obj->fs->num_readers : 0;
    obj_unlock(obj);
    return n;
}

void cache_obj_wait(cache_obj_t *obj, cache_waiter_t *w, int seen_state, uint64_t seen_avail)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    obj_lock(obj);
    if (h2o_linklist_is_linked(&w->link))
        h2o_linklist_unlink(&w->link);
    w->obj = obj;
    if (obj->fs == NULL || atomic_load_explicit(&obj->state, memory_order_relaxed) != seen_state ||
        atomic_load_explicit(&cache_obj_body(obj)->avail, memory_order_relaxed) != seen_avail) {
        cache_waiter_wake(w);
    } else {
        h2o_linklist_insert(&obj->fs->waiters, &w->link);
    }
    obj_unlock(obj);
}

void cache_reader_attach(cache_obj_t *obj, cache_reader_t *r)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    memset(r, 0, sizeof(*r));
    if (cache_obj_state(obj) == CACHE_OBJ_COMPLETE)
        return; /* nothing to track: the body is whole and immutable */
    obj_lock(obj);
    if (obj->fs != NULL && cache_obj_state(obj) != CACHE_OBJ_COMPLETE) {
        h2o_linklist_insert(&obj->fs->readers, &r->link);
        ++obj->fs->num_readers;
        r->tracked = 1;
    }
    obj_unlock(obj);
}

/* frees the segments of a transient body that every reader is past; lock held */
static void trim_locked(cache_obj_t *obj)
{
    cache_body_t *b = cache_obj_body(obj);
    cache_seg_t *keep = NULL;
    if (obj->fs->num_readers == 0 || obj->head_in_seg)
        return; /* (a block with the head is small, and the head is read until the end) */
    /* the earliest segment any reader still points at (NULL = a reader that has not started: keep all) */
    for (h2o_linklist_t *l = obj->fs->readers.next; l != &obj->fs->readers; l = l->next) {
        cache_reader_t *r = H2O_STRUCT_FROM_MEMBER(cache_reader_t, link, l);
        if (r->seg == NULL)
            return;
        if (keep == NULL || r->seg->offset < keep->offset)
            keep = r->seg;
    }
    while (b->first != keep && b->first != b->last) {
        cache_seg_t *s = b->first;
        b->first = s->next;
        b->allocated -= block_bytes(s);
        seg_free(s);
    }
}

static cache_seg_t *seek(cache_seg_t *s, uint64_t pos)
{
    while (s != NULL && pos >= s->offset + cache_seg_cap(s) && s->next != NULL)
        s = s->next;
    return s;
}

void cache_reader_ack(cache_obj_t *obj, cache_reader_t *r, uint64_t pos)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    if (!r->tracked) {
        r->acked = pos;
        return;
    }
    obj_lock(obj);
    r->acked = pos;
    r->seg = seek(r->seg != NULL ? r->seg : cache_obj_body(obj)->first, pos);
    if (obj->transient) {
        trim_locked(obj);
        if (obj->fs->producer != NULL)
            cache_waiter_wake(obj->fs->producer);
    }
    obj_unlock(obj);
}

void cache_reader_detach(cache_obj_t *obj, cache_reader_t *r)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    if (!r->tracked)
        return;
    obj_lock(obj);
    h2o_linklist_unlink(&r->link);
    --obj->fs->num_readers;
    r->tracked = 0;
    if (obj->transient) {
        trim_locked(obj);
        if (obj->fs->producer != NULL)
            cache_waiter_wake(obj->fs->producer);
    }
    maybe_drop_fillstate_locked(obj);
    obj_unlock(obj);
}

size_t cache_reader_peek(cache_obj_t *obj, cache_reader_t *r, uint64_t pos, uint64_t end, h2o_iovec_t *vecs, size_t max,
                         size_t *nbytes)
{
    EDGE_CHECK_OBJ(obj, CACHE_OBJ_MAGIC);
    cache_body_t *b = cache_obj_body(obj);
    uint64_t avail = atomic_load_explicit(&b->avail, memory_order_acquire);
    cache_seg_t *s;
    size_t n = 0;

    *nbytes = 0;
    if (end > avail)
        end = avail;
    if (pos >= end)
        return 0;
    if (r->tracked) {
        /* the list head may be trimmed concurrently by readers of a transient object: start from our own cursor */
        obj_lock(obj);
        s = r->seg != NULL ? r->seg : b->first;
        if (s != NULL && s->offset > pos && !obj->transient)
            s = b->first; /* going back (a range): the whole body is still there */
        obj_unlock(obj);
    } else {
        s = r->seg != NULL && r->seg->offset <= pos ? r->seg : b->first;
    }
    s = seek(s, pos);
    if (!r->tracked)
        r->seg = s; /* the cursor of an untracked reader is only a seek hint */
    while (s != NULL && pos < end && n < max) {
        uint64_t off = pos - s->offset;
        uint64_t cap = cache_seg_cap(s);
        uint64_t take = s->offset + cap < end ? s->offset + cap - pos : end - pos;
        if (pos < s->offset || off >= cap)
            break;
        vecs[n++] = h2o_iovec_init((char *)cache_seg_data(s) + off, (size_t)take);
        *nbytes += (size_t)take;
        pos += take;
        if (pos >= end)
            break; /* do not look at next: the producer may be linking it */
        s = s->next;
    }
    return n;
}

ssize_t cache_obj_find_header(cache_obj_t *obj, const h2o_token_t *token)
{
    cache_head_view_t v;
    cache_obj_open_head(obj, &v);
    return cache_head_find(&v, token);
}
