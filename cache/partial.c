/* cache/partial.c - stored parts of responses (206), combined when they cover the representation: see cache/partial.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cache/head.h"
#include "cache/key.h"
#include "cache/partial.h"

/* what a key and a part cost beyond their bytes (the structs and malloc's overhead, rounded up) */
#define ENTRY_OVERHEAD 160
#define PART_OVERHEAD 48

typedef struct part {
    uint64_t first, last; /* inclusive */
    char *data;
} part_t;

typedef struct entry {
    struct entry *hash_next;
    h2o_linklist_t lru; /* most recently used at the tail */
    uint64_t hash;
    char *key;
    size_t key_len;
    h2o_iovec_t url; /* inside key */
    char *etag;
    size_t etag_len;
    uint64_t complete;
    char *head; /* cache/head.h blob of the most recent part (status 200, without Content-Range/Content-Length) */
    size_t head_len;
    cache_decision_t decision;
    h2o_iovec_t *tags; /* one block: the array, then the bytes */
    size_t num_tags;
    part_t parts[CACHE_PARTIAL_MAX_PARTS]; /* sorted, disjoint, not adjacent */
    size_t num_parts;
    uint64_t charged;
} entry_t;

struct cache_partial {
    pthread_mutex_t mutex;
    entry_t **buckets;
    size_t num_buckets, keys;
    h2o_linklist_t lru;
    uint64_t capacity, max_whole, bytes, parts;
    uint64_t epoch; /* counted up by every purge: a part fetched before it is not added after it */
    uint64_t hits, stored, combined, refused;
};

/* ---- Content-Range -------------------------------------------------------------------------------------------------------- */

static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t n = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (++n > 19)
            return -1;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    if (n == 0)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

int cache_partial_parse_content_range(const char *s, size_t len, uint64_t *first, uint64_t *last, uint64_t *complete)
{
    const char *p = s, *end = s + len;
    uint64_t f, l, c;
    while (p < end && (*p == ' ' || *p == '\t'))
        ++p;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    if (end - p < 6 || !h2o_lcstris(p, 5, H2O_STRLIT("bytes")) || p[5] != ' ')
        return -1;
    p += 6;
    if (parse_u64(&p, end, &f) != 0 || p == end || *p++ != '-' || parse_u64(&p, end, &l) != 0 || p == end || *p++ != '/' ||
        parse_u64(&p, end, &c) != 0 || p != end)
        return -1;
    if (f > l || l >= c)
        return -1;
    *first = f;
    *last = l;
    *complete = c;
    return 0;
}

int cache_partial_strong_etag(h2o_iovec_t e)
{
    if (e.len < 2 || e.base[0] != '"' || e.base[e.len - 1] != '"')
        return 0;
    for (size_t i = 1; i + 1 < e.len; ++i) {
        unsigned char c = (unsigned char)e.base[i];
        if (!(c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80)) /* etagc, RFC 9110 §8.8.3 */
            return 0;
    }
    return 1;
}

/* ---- the store ------------------------------------------------------------------------------------------------------------ */

cache_partial_t *cache_partial_new(uint64_t capacity, uint64_t max_whole)
{
    cache_partial_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->buckets = calloc(1024, sizeof(*p->buckets))) == NULL)
        h2o_fatal("no memory");
    p->num_buckets = 1024;
    pthread_mutex_init(&p->mutex, NULL);
    h2o_linklist_init_anchor(&p->lru);
    p->capacity = capacity;
    p->max_whole = max_whole;
    return p;
}

static void entry_free(entry_t *e)
{
    for (size_t i = 0; i != e->num_parts; ++i)
        free(e->parts[i].data);
    free(e->key);
    free(e->etag);
    free(e->head);
    free(e->tags);
    free(e);
}

void cache_partial_free(cache_partial_t *p)
{
    if (p == NULL)
        return;
    for (size_t b = 0; b != p->num_buckets; ++b) {
        entry_t *e, *next;
        for (e = p->buckets[b]; e != NULL; e = next) {
            next = e->hash_next;
            entry_free(e);
        }
    }
    free(p->buckets);
    pthread_mutex_destroy(&p->mutex);
    free(p);
}

static entry_t **slot_of(cache_partial_t *p, uint64_t hash, h2o_iovec_t key)
{
    entry_t **s = &p->buckets[hash & (p->num_buckets - 1)];
    for (; *s != NULL; s = &(*s)->hash_next)
        if ((*s)->hash == hash && (*s)->key_len == key.len && memcmp((*s)->key, key.base, key.len) == 0)
            break;
    return s;
}

static uint64_t charge_of(const entry_t *e)
{
    uint64_t c = ENTRY_OVERHEAD + e->key_len + e->etag_len + e->head_len;
    for (size_t i = 0; i != e->num_tags; ++i)
        c += sizeof(h2o_iovec_t) + e->tags[i].len;
    for (size_t i = 0; i != e->num_parts; ++i)
        c += PART_OVERHEAD + (e->parts[i].last - e->parts[i].first + 1);
    return c;
}

static void recharge(cache_partial_t *p, entry_t *e)
{
    uint64_t c = charge_of(e);
    p->bytes = p->bytes - e->charged + c;
    e->charged = c;
}

/* unlinks e (held in *slot) and frees it */
static void drop(cache_partial_t *p, entry_t **slot)
{
    entry_t *e = *slot;
    *slot = e->hash_next;
    h2o_linklist_unlink(&e->lru);
    p->bytes -= e->charged;
    p->parts -= e->num_parts;
    --p->keys;
    entry_free(e);
}

static void drop_entry(cache_partial_t *p, entry_t *e)
{
    drop(p, slot_of(p, e->hash, (h2o_iovec_t){e->key, e->key_len}));
}

/* evicts least recently used keys (not `keep`) until the bytes fit */
static void evict(cache_partial_t *p, entry_t *keep)
{
    while (p->bytes > p->capacity && !h2o_linklist_is_empty(&p->lru)) {
        entry_t *e = H2O_STRUCT_FROM_MEMBER(entry_t, lru, p->lru.next);
        if (e == keep) {
            if (e->lru.next == &p->lru)
                break;
            e = H2O_STRUCT_FROM_MEMBER(entry_t, lru, e->lru.next);
        }
        drop_entry(p, e);
    }
}

static void set_head(entry_t *e, const cache_partial_part_t *part)
{
    size_t n = cache_head_size("OK", part->headers, part->num_headers);
    char *h = malloc(n);
    if (h == NULL)
        h2o_fatal("no memory");
    e->head_len = cache_head_encode(h, 200, "OK", part->headers, part->num_headers, part->num_headers);
    free(e->head);
    e->head = h;
    e->decision = *part->decision;
    e->decision.reason = NULL;
    size_t bytes = 0;
    for (size_t i = 0; i != part->num_tags; ++i)
        bytes += part->tags[i].len;
    free(e->tags);
    e->tags = NULL;
    e->num_tags = 0;
    if (part->num_tags != 0) {
        if ((e->tags = malloc(sizeof(h2o_iovec_t) * part->num_tags + bytes)) == NULL)
            h2o_fatal("no memory");
        char *dst = (char *)(e->tags + part->num_tags);
        for (size_t i = 0; i != part->num_tags; ++i) {
            memcpy(dst, part->tags[i].base, part->tags[i].len);
            e->tags[i] = h2o_iovec_init(dst, part->tags[i].len);
            dst += part->tags[i].len;
        }
        e->num_tags = part->num_tags;
    }
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n != 0 ? n : 1);
    if (d == NULL)
        h2o_fatal("no memory");
    memcpy(d, s, n);
    return d;
}

/* merges [first, last] into e's parts; -1 when its bytes differ from stored ones where they overlap, -2 for a part that would be
 * one too many */
static int merge(entry_t *e, uint64_t first, uint64_t last, const char *body)
{
    size_t lo = 0, hi; /* parts [lo, hi) touch the new one (overlap or adjacent) */
    while (lo != e->num_parts && e->parts[lo].last + 1 < first)
        ++lo;
    for (hi = lo; hi != e->num_parts && e->parts[hi].first <= last + 1; ++hi) {
        part_t *q = &e->parts[hi];
        uint64_t a = q->first > first ? q->first : first, b = q->last < last ? q->last : last;
        if (a <= b && memcmp(q->data + (a - q->first), body + (a - first), (size_t)(b - a + 1)) != 0)
            return -1; /* the same strong validator, other bytes: the origin is not consistent */
    }
    if (lo == hi && e->num_parts == CACHE_PARTIAL_MAX_PARTS)
        return -2; /* too many: the stored ones stay */
    uint64_t nf = first, nl = last;
    if (lo != hi) {
        if (e->parts[lo].first < nf)
            nf = e->parts[lo].first;
        if (e->parts[hi - 1].last > nl)
            nl = e->parts[hi - 1].last;
    }
    if (lo + 1 == hi && nf == e->parts[lo].first && nl == e->parts[lo].last)
        return 0; /* nothing new */
    char *data = malloc((size_t)(nl - nf + 1));
    if (data == NULL)
        h2o_fatal("no memory");
    for (size_t i = lo; i != hi; ++i) {
        memcpy(data + (e->parts[i].first - nf), e->parts[i].data, (size_t)(e->parts[i].last - e->parts[i].first + 1));
        free(e->parts[i].data);
    }
    memcpy(data + (first - nf), body, (size_t)(last - first + 1));
    if (lo == hi) {
        /* a new part between others: make room at lo */
        memmove(&e->parts[lo + 1], &e->parts[lo], sizeof(part_t) * (e->num_parts - lo));
        ++e->num_parts;
    } else if (hi > lo + 1) {
        /* parts [lo, hi) become one at lo */
        memmove(&e->parts[lo + 1], &e->parts[hi], sizeof(part_t) * (e->num_parts - hi));
        e->num_parts -= hi - lo - 1;
    }
    e->parts[lo] = (part_t){nf, nl, data};
    return 0;
}

void cache_partial_count_refused(cache_partial_t *p)
{
    pthread_mutex_lock(&p->mutex);
    ++p->refused;
    pthread_mutex_unlock(&p->mutex);
}

static cache_partial_result_t add(cache_partial_t *p, const cache_partial_part_t *part, cache_partial_whole_t *whole);

cache_partial_result_t cache_partial_add(cache_partial_t *p, const cache_partial_part_t *part, cache_partial_whole_t *whole)
{
    cache_partial_result_t r = add(p, part, whole);
    pthread_mutex_lock(&p->mutex);
    if (r == CACHE_PARTIAL_REFUSED)
        ++p->refused;
    else
        ++p->stored;
    if (r == CACHE_PARTIAL_COMPLETE)
        ++p->combined;
    pthread_mutex_unlock(&p->mutex);
    return r;
}

static cache_partial_result_t add(cache_partial_t *p, const cache_partial_part_t *part, cache_partial_whole_t *whole)
{
    cache_partial_result_t res = CACHE_PARTIAL_STORED;
    uint64_t len = part->last - part->first + 1;
    /* without a strong validator a part is kept alone: it answers ranges inside it (§3.3) but combines with nothing (§3.4) */
    h2o_iovec_t etag = cache_partial_strong_etag(part->etag) ? part->etag : h2o_iovec_init("", 0);
    if (part->first > part->last || part->last >= part->complete ||
        len + ENTRY_OVERHEAD + part->key.len > p->capacity / 2)
        return CACHE_PARTIAL_REFUSED;
    pthread_mutex_lock(&p->mutex);
    if (part->epoch != p->epoch) {
        /* a purge ran while it was fetched */
        pthread_mutex_unlock(&p->mutex);
        return CACHE_PARTIAL_REFUSED;
    }
    entry_t **slot = slot_of(p, part->hash, part->key), *e = *slot;
    if (e != NULL && (e->complete != part->complete || e->etag_len == 0 || etag.len == 0 || e->etag_len != etag.len ||
                      memcmp(e->etag, etag.base, etag.len) != 0)) {
        /* another representation (§3.4: only the same strong validator combines): the newest one's parts are kept */
        drop(p, slot);
        e = NULL;
    }
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL)
            h2o_fatal("no memory");
        e->hash = part->hash;
        e->key = dup_bytes(part->key.base, part->key.len);
        e->key_len = part->key.len;
        e->url = cache_key_url_of(h2o_iovec_init(e->key, e->key_len));
        e->etag = dup_bytes(etag.base, etag.len);
        e->etag_len = etag.len;
        e->complete = part->complete;
        e->hash_next = p->buckets[e->hash & (p->num_buckets - 1)];
        p->buckets[e->hash & (p->num_buckets - 1)] = e;
        h2o_linklist_insert(&p->lru, &e->lru);
        ++p->keys;
    } else {
        h2o_linklist_unlink(&e->lru);
        h2o_linklist_insert(&p->lru, &e->lru);
    }
    size_t before = e->num_parts;
    int merged = merge(e, part->first, part->last, part->body);
    if (merged != 0) {
        if (merged == -1)
            drop_entry(p, e);
        pthread_mutex_unlock(&p->mutex);
        return CACHE_PARTIAL_REFUSED;
    }
    p->parts = p->parts + e->num_parts - before;
    /* §3.4 and §4.3.4: the combined (and every later served) response has the most recent part's header fields */
    set_head(e, part);
    recharge(p, e);
    if (e->num_parts == 1 && e->parts[0].first == 0 && e->parts[0].last + 1 == e->complete && e->complete <= p->max_whole) {
        /* the whole representation: handed over, the parts go */
        whole->head = e->head;
        whole->head_len = e->head_len;
        whole->body = e->parts[0].data;
        whole->length = e->complete;
        whole->decision = e->decision;
        whole->tags = e->tags;
        whole->num_tags = e->num_tags;
        e->head = NULL;
        e->parts[0].data = NULL;
        e->tags = NULL;
        e->num_tags = 0;
        drop_entry(p, e);
        res = CACHE_PARTIAL_COMPLETE;
    } else {
        evict(p, e);
        if (p->bytes > p->capacity) {
            drop_entry(p, e);
            res = CACHE_PARTIAL_REFUSED;
        }
    }
    pthread_mutex_unlock(&p->mutex);
    return res;
}

void cache_partial_whole_free(cache_partial_whole_t *w)
{
    free(w->head);
    free(w->body);
    free(w->tags);
    memset(w, 0, sizeof(*w));
}

int cache_partial_whole_store(cache_mem_t *mem, uint64_t hash, h2o_iovec_t key, h2o_iovec_t url, const cache_partial_whole_t *w,
                              uint64_t max_object_size)
{
    int created, ret = -1;
    cache_obj_t *obj = cache_mem_begin(mem, hash, key, url, &created);
    if (!created) {
        cache_obj_release(obj); /* someone fetches or has it */
        return -1;
    }
    h2o_mem_pool_t pool;
    cache_head_view_t v;
    h2o_mem_init_pool(&pool);
    cache_head_open(w->head, w->head_len, &v);
    h2o_header_t *h = h2o_mem_alloc_pool(&pool, sizeof(*h) * (v.num_headers + 1));
    cache_head_decode(&v, &pool, h);
    cache_obj_set_decision(obj, &w->decision);
    cache_obj_set_meta(obj, NULL, 0, h2o_iovec_init(NULL, 0), w->tags, w->num_tags);
    /* requests may wait on the object already: it gets the head and the body either way, and is indexed when it fits */
    int stored = cache_mem_store_head(mem, obj) == 0;
    cache_obj_set_head(obj, 200, "OK", h, v.num_headers, v.num_plain, (int64_t)w->length, 0);
    cache_obj_append(obj, w->body, (size_t)w->length);
    if (stored && cache_mem_charge(mem, obj, max_object_size) == 0) {
        cache_obj_complete(obj);
        cache_mem_complete(mem, obj);
        ret = 0;
    } else {
        cache_mem_remove(mem, obj);
        cache_obj_complete(obj);
    }
    cache_obj_release(obj);
    h2o_mem_clear_pool(&pool);
    return ret;
}

cache_obj_t *cache_partial_lookup(cache_partial_t *p, uint64_t hash, h2o_iovec_t key, h2o_iovec_t range, int64_t now_ms)
{
    cache_obj_t *obj = NULL;
    uint64_t start, end;
    pthread_mutex_lock(&p->mutex);
    entry_t *e = *slot_of(p, hash, key);
    if (e == NULL || cache_policy_ttl(&e->decision, now_ms) <= 0 || e->decision.no_cache ||
        cache_policy_parse_range(range.base, range.len, e->complete, &start, &end) != CACHE_RANGE_PARTIAL)
        goto Exit;
    size_t i;
    for (i = 0; i != e->num_parts; ++i)
        if (e->parts[i].first <= start && end <= e->parts[i].last)
            break;
    if (i == e->num_parts)
        goto Exit;
    h2o_linklist_unlink(&e->lru);
    h2o_linklist_insert(&p->lru, &e->lru);
    ++p->hits;
    {
        h2o_mem_pool_t pool;
        cache_head_view_t v;
        char cr[80];
        h2o_mem_init_pool(&pool);
        cache_head_open(e->head, e->head_len, &v);
        h2o_header_t *h = h2o_mem_alloc_pool(&pool, sizeof(*h) * (v.num_headers + 1));
        cache_head_decode(&v, &pool, h);
        int n = snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start, (unsigned long long)end,
                         (unsigned long long)e->complete);
        h[v.num_headers] = (h2o_header_t){&H2O_TOKEN_CONTENT_RANGE->buf, NULL, h2o_iovec_init(cr, (size_t)n)};
        obj = cache_obj_new(hash, key, cache_key_url_of(key));
        cache_obj_set_decision(obj, &e->decision);
        cache_obj_set_head(obj, 206, "Partial Content", h, v.num_headers + 1, v.num_headers + 1, (int64_t)(end - start + 1), 0);
        cache_obj_append(obj, e->parts[i].data + (start - e->parts[i].first), (size_t)(end - start + 1));
        cache_obj_complete(obj);
        h2o_mem_clear_pool(&pool);
    }
Exit:
    pthread_mutex_unlock(&p->mutex);
    return obj;
}

static int has_tag(const entry_t *e, h2o_iovec_t tag)
{
    for (size_t i = 0; i != e->num_tags; ++i)
        if (e->tags[i].len == tag.len && memcmp(e->tags[i].base, tag.base, tag.len) == 0)
            return 1;
    return 0;
}

size_t cache_partial_purge(cache_partial_t *p, cache_purge_kind_t kind, h2o_iovec_t arg)
{
    size_t n = 0;
    pthread_mutex_lock(&p->mutex);
    ++p->epoch;
    for (size_t b = 0; b != p->num_buckets; ++b) {
        entry_t **slot = &p->buckets[b];
        while (*slot != NULL) {
            entry_t *e = *slot;
            int hit;
            switch (kind) {
            case CACHE_PURGE_URL:
                hit = e->url.len == arg.len && memcmp(e->url.base, arg.base, arg.len) == 0;
                break;
            case CACHE_PURGE_PREFIX:
                hit = e->url.len >= arg.len && memcmp(e->url.base, arg.base, arg.len) == 0;
                break;
            case CACHE_PURGE_TAG:
                hit = has_tag(e, arg);
                break;
            default:
                hit = 1;
                break;
            }
            if (hit) {
                drop(p, slot);
                ++n;
            } else {
                slot = &e->hash_next;
            }
        }
    }
    pthread_mutex_unlock(&p->mutex);
    return n;
}

uint64_t cache_partial_epoch(cache_partial_t *p)
{
    pthread_mutex_lock(&p->mutex);
    uint64_t e = p->epoch;
    pthread_mutex_unlock(&p->mutex);
    return e;
}

void cache_partial_stats(cache_partial_t *p, cache_partial_stats_t *out)
{
    pthread_mutex_lock(&p->mutex);
    out->capacity = p->capacity;
    out->bytes = p->bytes;
    out->keys = p->keys;
    out->parts = p->parts;
    out->hits = p->hits;
    out->stored = p->stored;
    out->combined = p->combined;
    out->refused = p->refused;
    pthread_mutex_unlock(&p->mutex);
}
