/* kv/kv.c - named key-value stores: immutable snapshots (a sorted entry array plus an open-addressing index), views of every
 * store published by a pointer swap, writes that build a new snapshot after their log record is synced. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "base/assert.h"
#include "base/log.h"
#include "kv/kv.h"
#include "kv/kvlog.h"

/* one slot of a snapshot's open-addressing index: 16 bytes, so that a lookup touches the slot and then the key (the value
 * follows it): the same two cache lines a bare hash table of pointers would */
typedef struct kv_slot {
    const char *data; /* the key's bytes, then the value's; NULL: an empty slot */
    uint64_t meta;    /* high 32 bits of the key's hash << 32 | value length << 10 | key length */
} kv_slot_t;
#define META_KLEN(m) ((size_t)((m)&0x3ff))
#define META_VLEN(m) ((size_t)(((m) >> 10) & 0x3fffff))
_Static_assert(KV_MAX_KEY <= 0x3ff && KV_LIMIT_MAX_VALUE <= 0x3fffff, "kv_slot_t.meta cannot hold the lengths");

/* one store's content, never changed once published */
typedef struct kv_snap {
    _Atomic long refs;
    uint64_t seed;
    uint64_t version, bytes;
    size_t count;
    kv_slot_t *slots;
    size_t mask;
    uint32_t *order; /* the slots of the keys in byte order (listings, merges) */
    char *data;      /* the keys' and values' bytes */
} kv_snap_t;

struct kv_view {
    unsigned magic;
    _Atomic long refs;
    kv_db_t *db;
    size_t n;
    kv_snap_t *snaps[];
};
#define KV_VIEW_MAGIC 0x4b56a13cu

typedef struct kv_store {
    kv_store_conf_t conf; /* name and path owned */
    kvlog_t log;
    _Atomic uint64_t updates, write_errors, log_bytes;
} kv_store_t;

struct kv_db {
    uint64_t seed;
    size_t n;
    kv_store_t *stores;
    pthread_mutex_t view_lock; /* orders a reader's take of `view` (and its reference) against the writer's swap */
    kv_view_t *view;
    pthread_mutex_t write_lock; /* one writer at a time */
};

static _Atomic(kv_db_t *) global_db;

void kv_global_set(kv_db_t *db)
{
    atomic_store(&global_db, db);
}

kv_db_t *kv_global(void)
{
    return atomic_load_explicit(&global_db, memory_order_acquire);
}

/* ---- hashing and snapshots ----------------------------------------------------------------------------------------------- */

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static void snap_free(kv_snap_t *s)
{
    free(s->slots);
    free(s->order);
    free(s->data);
    free(s);
}

static void snap_release(kv_snap_t *s)
{
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snap_free(s);
}

/* a snapshot of the puts in items (sorted, one per key); NULL when out of memory */
static kv_snap_t *snap_build(uint64_t seed, const kv_op_t *items, size_t n, uint64_t version)
{
    kv_snap_t *s = calloc(1, sizeof(*s));
    size_t slots = 8, bytes = 0;
    if (s == NULL)
        return NULL;
    while (slots < 2 * n)
        slots *= 2;
    for (size_t i = 0; i != n; ++i)
        bytes += items[i].klen + items[i].vlen;
    atomic_init(&s->refs, 1);
    s->seed = seed;
    s->version = version;
    s->bytes = bytes;
    s->count = n;
    s->mask = slots - 1;
    s->slots = calloc(slots, sizeof(kv_slot_t));
    s->order = malloc((n != 0 ? n : 1) * sizeof(uint32_t));
    s->data = malloc(bytes != 0 ? bytes : 1);
    if (s->slots == NULL || s->order == NULL || s->data == NULL) {
        snap_free(s);
        return NULL;
    }
    char *p = s->data;
    for (size_t i = 0; i != n; ++i) {
        memcpy(p, items[i].key, items[i].klen);
        if (items[i].vlen != 0)
            memcpy(p + items[i].klen, items[i].val, items[i].vlen);
        uint64_t h = kv_hash(seed, p, items[i].klen);
        size_t j = h & s->mask;
        while (s->slots[j].data != NULL)
            j = (j + 1) & s->mask;
        s->slots[j].data = p;
        s->slots[j].meta = (h >> 32) << 32 | (uint64_t)items[i].vlen << 10 | (uint64_t)items[i].klen;
        s->order[i] = (uint32_t)j;
        p += items[i].klen + items[i].vlen;
    }
    return s;
}

static const kv_slot_t *snap_get(const kv_snap_t *s, const char *key, size_t klen)
{
    uint64_t h = kv_hash(s->seed, key, klen), want = (h >> 32) << 32 | klen;
    for (size_t j = h & s->mask;; j = (j + 1) & s->mask) {
        const kv_slot_t *slot = &s->slots[j];
        if (slot->data == NULL)
            return NULL;
        if ((slot->meta & 0xffffffff000003ffull) == want && memcmp(slot->data, key, klen) == 0)
            return slot;
    }
}

/* the i-th key in byte order */
static const kv_slot_t *snap_at(const kv_snap_t *s, size_t i)
{
    return &s->slots[s->order[i]];
}

/* ---- views --------------------------------------------------------------------------------------------------------------- */

static kv_view_t *view_new(kv_db_t *db)
{
    kv_view_t *v = calloc(1, sizeof(*v) + db->n * sizeof(kv_snap_t *));
    if (v == NULL)
        return NULL;
    v->magic = KV_VIEW_MAGIC;
    atomic_init(&v->refs, 1);
    v->db = db;
    v->n = db->n;
    return v;
}

kv_view_t *kv_view_acquire(kv_db_t *db)
{
    pthread_mutex_lock(&db->view_lock);
    kv_view_t *v = db->view;
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&db->view_lock);
    return v;
}

void kv_view_release(kv_view_t *v)
{
    if (v == NULL)
        return;
    EDGE_CHECK_OBJ(v, KV_VIEW_MAGIC);
    long before = atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel);
    EDGE_ASSERT(before > 0);
    if (before != 1)
        return;
    for (size_t i = 0; i != v->n; ++i)
        snap_release(v->snaps[i]);
    v->magic = 0;
    free(v);
}

kv_db_t *kv_view_db(const kv_view_t *v)
{
    return v->db;
}

int kv_view_get(const kv_view_t *v, int store, const char *key, size_t klen, const char **val, size_t *vlen)
{
    if (store < 0 || (size_t)store >= v->n)
        return 0;
    const kv_slot_t *e = snap_get(v->snaps[store], key, klen);
    if (e == NULL)
        return 0;
    *val = e->data + META_KLEN(e->meta);
    *vlen = META_VLEN(e->meta);
    return 1;
}

void kv_view_meta(const kv_view_t *v, int store, kv_meta_t *out)
{
    memset(out, 0, sizeof(*out));
    if (store < 0 || (size_t)store >= v->n)
        return;
    const kv_snap_t *s = v->snaps[store];
    out->keys = s->count;
    out->bytes = s->bytes;
    out->version = s->version;
}

size_t kv_view_lower_bound(const kv_view_t *v, int store, const char *key, size_t klen)
{
    if (store < 0 || (size_t)store >= v->n)
        return 0;
    const kv_snap_t *s = v->snaps[store];
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const kv_slot_t *e = snap_at(s, mid);
        if (key_cmp(e->data, META_KLEN(e->meta), key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int kv_view_at(const kv_view_t *v, int store, size_t i, const char **key, size_t *klen, const char **val, size_t *vlen)
{
    if (store < 0 || (size_t)store >= v->n || i >= v->snaps[store]->count)
        return 0;
    const kv_slot_t *e = snap_at(v->snaps[store], i);
    *key = e->data;
    *klen = META_KLEN(e->meta);
    *val = e->data + *klen;
    *vlen = META_VLEN(e->meta);
    return 1;
}

/* the writer (or kv_db_open) makes `snap` store's content: a new view that shares the other stores' snapshots */
static int publish(kv_db_t *db, int store, kv_snap_t *snap)
{
    kv_view_t *old = db->view, *nv = view_new(db);
    if (nv == NULL)
        return -1;
    for (size_t i = 0; i != db->n; ++i) {
        nv->snaps[i] = (int)i == store ? snap : old != NULL ? old->snaps[i] : NULL;
        if ((int)i != store && nv->snaps[i] != NULL)
            atomic_fetch_add_explicit(&nv->snaps[i]->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_lock(&db->view_lock);
    db->view = nv;
    pthread_mutex_unlock(&db->view_lock);
    kv_view_release(old);
    return 0;
}

/* ---- checks -------------------------------------------------------------------------------------------------------------- */

int kv_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        unsigned c = *s;
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            ++s;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - s) <= n)
            return 0;
        for (size_t i = 1; i <= n; ++i) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

int kv_check_key(const char *key, size_t len, char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "the key is empty");
        return KV_E_INVALID;
    }
    if (len > KV_MAX_KEY) {
        snprintf(err, errlen, "the key is %zu bytes, over the limit of %d", len, KV_MAX_KEY);
        return KV_E_INVALID;
    }
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "the key has a control character (byte 0x%02x at %zu): keys are UTF-8 text without controls", c,
                     i);
            return KV_E_INVALID;
        }
    }
    if (!kv_utf8_valid(key, len)) {
        snprintf(err, errlen, "the key is not valid UTF-8");
        return KV_E_INVALID;
    }
    return KV_OK;
}

int kv_check_value(const kv_store_conf_t *conf, const char *val, size_t len, char *err, size_t errlen)
{
    if (len > conf->max_value) {
        snprintf(err, errlen, "the value is %zu bytes, over the store's max_value of %llu", len,
                 (unsigned long long)conf->max_value);
        return KV_E_TOO_LARGE;
    }
    if (!kv_utf8_valid(val, len)) {
        snprintf(err, errlen, "the value is not valid UTF-8");
        return KV_E_INVALID;
    }
    return KV_OK;
}

/* ---- merging changes ----------------------------------------------------------------------------------------------------- */

typedef struct sorted_op {
    const kv_op_t *op;
    size_t seq;
} sorted_op_t;

static int sorted_cmp(const void *a, const void *b)
{
    const sorted_op_t *x = a, *y = b;
    int c = key_cmp(x->op->key, x->op->klen, y->op->key, y->op->klen);
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* ops sorted by key, only the last op of each key kept: *out (malloc'ed) of *m entries */
static int sort_unique(const kv_op_t *ops, size_t n, const kv_op_t ***out, size_t *m)
{
    sorted_op_t *s = malloc((n != 0 ? n : 1) * sizeof(*s));
    const kv_op_t **u = malloc((n != 0 ? n : 1) * sizeof(*u));
    if (s == NULL || u == NULL) {
        free(s);
        free(u);
        return -1;
    }
    for (size_t i = 0; i != n; ++i)
        s[i] = (sorted_op_t){&ops[i], i};
    qsort(s, n, sizeof(*s), sorted_cmp);
    size_t k = 0;
    for (size_t i = 0; i != n; ++i) {
        if (i + 1 != n && key_cmp(s[i].op->key, s[i].op->klen, s[i + 1].op->key, s[i + 1].op->klen) == 0)
            continue; /* a later op of the same key wins */
        u[k++] = s[i].op;
    }
    free(s);
    *out = u;
    *m = k;
    return 0;
}

/* the store's content after the changes u[0..m) (sorted, unique) applied to old (NULL: start empty) as puts, in *items
 * (malloc'ed, pointing into old and the ops); *found counts the deletes that hit a key */
static int merge(const kv_snap_t *old, const kv_op_t **u, size_t m, kv_op_t **items, size_t *count, size_t *found)
{
    size_t n_old = old != NULL ? old->count : 0, i = 0, j = 0, k = 0;
    kv_op_t *out = malloc((n_old + m + 1) * sizeof(*out));
    if (out == NULL)
        return -1;
    *found = 0;
    while (i < n_old || j < m) {
        const kv_slot_t *e = i < n_old ? snap_at(old, i) : NULL;
        int c = i == n_old ? 1 : j == m ? -1 : key_cmp(e->data, META_KLEN(e->meta), u[j]->key, u[j]->klen);
        if (c < 0) {
            out[k++] = (kv_op_t){e->data, META_KLEN(e->meta), e->data + META_KLEN(e->meta), META_VLEN(e->meta), 0};
            ++i;
            continue;
        }
        if (c == 0) {
            ++i;
            if (u[j]->del)
                ++*found;
        }
        if (!u[j]->del)
            out[k++] = *u[j];
        ++j;
    }
    *items = out;
    *count = k;
    return 0;
}

static uint64_t full_record_size(size_t count, uint64_t bytes)
{
    return 8 + 13 + 7 * (uint64_t)count + bytes;
}

static int write_failed(kv_store_t *st, int code, char *err, size_t errlen, const char *msg)
{
    if (msg != NULL)
        snprintf(err, errlen, "%s", msg);
    if (code == KV_E_IO)
        atomic_fetch_add(&st->write_errors, 1);
    return code;
}

int kv_db_write(kv_db_t *db, int store, const kv_op_t *ops, size_t n, int replace, char *err, size_t errlen)
{
    if (store < 0 || (size_t)store >= db->n) {
        snprintf(err, errlen, "no such store");
        return KV_E_NOTFOUND;
    }
    kv_store_t *st = &db->stores[store];
    int r;
    for (size_t i = 0; i != n; ++i) {
        if ((r = kv_check_key(ops[i].key, ops[i].klen, err, errlen)) != KV_OK ||
            (!ops[i].del && (r = kv_check_value(&st->conf, ops[i].val, ops[i].vlen, err, errlen)) != KV_OK))
            return r;
    }
    const kv_op_t **u = NULL;
    kv_op_t *items = NULL;
    size_t m, count, found;
    pthread_mutex_lock(&db->write_lock);
    const kv_snap_t *old = db->view->snaps[store];
    if (sort_unique(ops, n, &u, &m) != 0 || merge(replace ? NULL : old, u, m, &items, &count, &found) != 0) {
        r = write_failed(st, KV_E_IO, err, errlen, "out of memory");
        goto done;
    }
    if (!replace && n == 1 && ops[0].del && found == 0) {
        r = write_failed(st, KV_E_NOTFOUND, err, errlen, "no such key");
        goto done;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i != count; ++i)
        bytes += items[i].klen + items[i].vlen;
    if (count > st->conf.max_keys || bytes > st->conf.max_bytes) {
        snprintf(err, errlen, "store %s would hold %zu keys and %llu bytes, over its max_keys of %llu or max_bytes of %llu",
                 st->conf.name, count, (unsigned long long)bytes, (unsigned long long)st->conf.max_keys,
                 (unsigned long long)st->conf.max_bytes);
        r = KV_E_TOO_LARGE;
        goto done;
    }
    /* durable first: the record is synced before anyone can read what it says */
    uint64_t version = old->version + 1;
    size_t reclen;
    char *rec =
        replace ? kvlog_encode(KVLOG_FULL, version, items, count, &reclen) : kvlog_encode(KVLOG_CHANGES, version, ops, n, &reclen);
    if (rec == NULL) {
        r = write_failed(st, KV_E_IO, err, errlen, "out of memory");
        goto done;
    }
    if (kvlog_append(&st->log, rec, reclen, err, errlen) != 0) {
        free(rec);
        log_error("kv %s: write refused: %s", st->conf.name, err);
        r = write_failed(st, KV_E_IO, err, errlen, NULL);
        goto done;
    }
    free(rec);
    kv_snap_t *snap = snap_build(db->seed, items, count, version);
    /* compaction, when the log holds more than twice what a full record of the content would (plus some slack): encoded now,
     * while items may still point into the snapshot the publish below releases */
    char *frec = NULL;
    size_t freclen = 0;
    if (snap != NULL && st->log.size > 2 * full_record_size(count, bytes) + 65536)
        frec = kvlog_encode(KVLOG_FULL, version, items, count, &freclen);
    if (snap == NULL || publish(db, store, snap) != 0) {
        /* logged, so a restart reads it; this process cannot show it */
        snap_release(snap);
        free(frec);
        log_error("kv %s: out of memory publishing version %llu (written to the log)", st->conf.name, (unsigned long long)version);
        r = write_failed(st, KV_E_IO, err, errlen, "out of memory");
        goto done;
    }
    atomic_fetch_add(&st->updates, 1);
    if (frec != NULL) {
        char cerr[512];
        if (kvlog_rewrite(&st->log, frec, freclen, cerr, sizeof(cerr)) != 0)
            log_warn("kv %s: compaction failed (the log keeps growing): %s", st->conf.name, cerr);
        free(frec);
    }
    atomic_store(&st->log_bytes, st->log.size);
    r = KV_OK;
done:
    pthread_mutex_unlock(&db->write_lock);
    free(u);
    free(items);
    return r;
}

/* ---- opening ------------------------------------------------------------------------------------------------------------- */

typedef struct load_op {
    kv_op_t op;
    size_t seq;
} load_op_t;

/* replays the log data[0..len) into a snapshot; cuts a torn tail off the file */
static kv_snap_t *load_store(kv_db_t *db, kv_store_t *st, const char *data, size_t len, char *err, size_t errlen)
{
    kvlog_record_t rec;
    size_t off = KVLOG_HEADER_LEN, n = 0, cap = 0, rlen;
    uint64_t version = 0;
    kv_op_t *all = NULL;
    while ((rlen = kvlog_parse(data + off, len - off, &rec)) != 0) {
        if (rec.kind == KVLOG_FULL)
            n = 0; /* everything before is replaced */
        if (n + rec.nops > cap) {
            cap = (n + rec.nops) * 2 + 16;
            kv_op_t *na = realloc(all, cap * sizeof(*all));
            if (na == NULL) {
                free(all);
                snprintf(err, errlen, "%s: out of memory", st->conf.path);
                return NULL;
            }
            all = na;
        }
        size_t pos = 0;
        while (kvlog_record_next(&rec, &pos, &all[n]))
            ++n;
        version = rec.version;
        off += rlen;
    }
    if (off != len) {
        log_warn("kv %s: %s: %zu bytes after the last whole record (offset %zu) are a write cut short (never acknowledged): "
                 "cut off",
                 st->conf.name, st->conf.path, len - off, off);
        if (kvlog_truncate(&st->log, off, err, errlen) != 0) {
            free(all);
            return NULL;
        }
    }
    const kv_op_t **u = NULL;
    kv_op_t *items = NULL;
    size_t m, count, found;
    kv_snap_t *s = NULL;
    if (sort_unique(all, n, &u, &m) == 0 && merge(NULL, u, m, &items, &count, &found) == 0)
        s = snap_build(db->seed, items, count, version);
    if (s == NULL)
        snprintf(err, errlen, "%s: out of memory", st->conf.path);
    else if (s->count > st->conf.max_keys || s->bytes > st->conf.max_bytes)
        log_warn("kv %s: holds %zu keys and %llu bytes, over its limits: writes that do not shrink it are refused", st->conf.name,
                 s->count, (unsigned long long)s->bytes);
    free(u);
    free(items);
    free(all);
    return s;
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
    }
    return seed;
}

kv_db_t *kv_db_open(const kv_store_conf_t *stores, size_t n, char *err, size_t errlen)
{
    kv_db_t *db = calloc(1, sizeof(*db));
    if (db == NULL)
        return NULL;
    db->seed = random_seed();
    pthread_mutex_init(&db->view_lock, NULL);
    pthread_mutex_init(&db->write_lock, NULL);
    db->stores = calloc(n != 0 ? n : 1, sizeof(kv_store_t));
    kv_snap_t **snaps = calloc(n != 0 ? n : 1, sizeof(*snaps));
    if (db->stores == NULL || snaps == NULL)
        abort();
    for (size_t i = 0; i != n; ++i) {
        kv_store_t *st = &db->stores[i];
        char *data = NULL;
        size_t len;
        st->log.fd = -1;
        st->conf = stores[i];
        st->conf.name = strdup(stores[i].name);
        st->conf.path = strdup(stores[i].path);
        db->n = i + 1;
        for (size_t j = 0; j != i; ++j) {
            if (strcmp(db->stores[j].conf.path, st->conf.path) == 0) {
                snprintf(err, errlen, "%s: %s: the log file of store %s too", st->conf.name, st->conf.path,
                         db->stores[j].conf.name);
                goto fail;
            }
        }
        char lerr[768];
        if (kvlog_open(&st->log, st->conf.path, &data, &len, lerr, sizeof(lerr)) != 0) {
            snprintf(err, errlen, "%s: %s", st->conf.name, lerr);
            goto fail;
        }
        snaps[i] = load_store(db, st, data, len, lerr, sizeof(lerr));
        free(data);
        if (snaps[i] == NULL) {
            snprintf(err, errlen, "%s: %s", st->conf.name, lerr);
            goto fail;
        }
        atomic_store(&st->log_bytes, st->log.size);
    }
    if ((db->view = view_new(db)) == NULL)
        abort();
    for (size_t i = 0; i != n; ++i)
        db->view->snaps[i] = snaps[i];
    free(snaps);
    return db;
fail:
    for (size_t i = 0; i != n; ++i)
        if (snaps[i] != NULL)
            snap_release(snaps[i]);
    free(snaps);
    kv_db_close(db);
    return NULL;
}

void kv_db_close(kv_db_t *db)
{
    if (db == NULL)
        return;
    kv_view_release(db->view);
    for (size_t i = 0; i != db->n; ++i) {
        kvlog_close(&db->stores[i].log);
        free((char *)db->stores[i].conf.name);
        free((char *)db->stores[i].conf.path);
    }
    free(db->stores);
    pthread_mutex_destroy(&db->view_lock);
    pthread_mutex_destroy(&db->write_lock);
    free(db);
}

size_t kv_db_count(const kv_db_t *db)
{
    return db->n;
}

int kv_db_find(const kv_db_t *db, const char *name, size_t len)
{
    for (size_t i = 0; i != db->n; ++i)
        if (strlen(db->stores[i].conf.name) == len && memcmp(db->stores[i].conf.name, name, len) == 0)
            return (int)i;
    return -1;
}

const char *kv_db_name(const kv_db_t *db, int store)
{
    return db->stores[store].conf.name;
}

const kv_store_conf_t *kv_db_conf(const kv_db_t *db, int store)
{
    return &db->stores[store].conf;
}

void kv_db_stats(kv_db_t *db, int store, kv_stats_t *out)
{
    kv_store_t *st = &db->stores[store];
    kv_view_t *v = kv_view_acquire(db);
    kv_meta_t meta;
    kv_view_meta(v, store, &meta);
    kv_view_release(v);
    out->keys = meta.keys;
    out->bytes = meta.bytes;
    out->version = meta.version;
    out->updates = atomic_load(&st->updates);
    out->write_errors = atomic_load(&st->write_errors);
    out->log_bytes = atomic_load(&st->log_bytes);
}
