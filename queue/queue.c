/* queue/queue.c - the durable async queue (format and guarantees in queue/queue.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/reclog.h"
#include "queue/queue.h"

#define HEADER "EDGEQ01\n"
enum { REC_ENQ = 1, REC_TAKE = 2, REC_RETRY = 3, REC_DONE = 4 };
#define HEAD 9               /* u8 kind + u64 id */
#define ENQ_HEAD (HEAD + 26) /* + u64 enqueued + u32 attempts + u64 not_before + u16 klen + u32 plen */
#define MAX_RECORD (ENQ_HEAD + QUEUE_MAX_KEY + QUEUE_MAX_PAYLOAD)

typedef struct node {
    struct node *prev, *next;
    uint64_t id, enqueued_ms, not_before_ms;
    uint64_t deadline_ms; /* taken: visible again then; 0 when not in flight */
    uint32_t attempts;
    char *key, *payload;
    size_t klen, len;
} node_t;

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    reclog_t log;
    queue_limits_t lim;
    node_t head; /* sentinel of the list in id order */
    uint64_t next_id, events, bytes, in_flight, live_record_bytes, compactions;
    uint64_t changes; /* counts enqueue, retry, done, wake: what queue_wait waits for */
    uint64_t reserved_events, reserved_bytes; /* room promised by queue_reserve, counted against the bounds */
};

uint64_t queue_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t enq_size(const node_t *n)
{
    return RECLOG_FRAME + ENQ_HEAD + n->klen + n->len;
}

/* writes the ENQ record of n at buf (enq_size(n) bytes) */
static void encode_enq(char *buf, const node_t *n)
{
    unsigned char *p = (unsigned char *)buf + RECLOG_FRAME;
    p[0] = REC_ENQ;
    reclog_put64(p + 1, n->id);
    reclog_put64(p + 9, n->enqueued_ms);
    reclog_put32(p + 17, n->attempts);
    reclog_put64(p + 21, n->not_before_ms);
    p[29] = (unsigned char)n->klen;
    p[30] = (unsigned char)(n->klen >> 8);
    reclog_put32(p + 31, (uint32_t)n->len);
    memcpy(p + ENQ_HEAD, n->key, n->klen);
    if (n->len != 0)
        memcpy(p + ENQ_HEAD + n->klen, n->payload, n->len);
    reclog_frame(buf, ENQ_HEAD + n->klen + n->len);
}

/* appends a small record (TAKE, RETRY, DONE) */
static int append_small(queue_t *q, int kind, uint64_t id, uint64_t arg)
{
    char buf[RECLOG_FRAME + HEAD + 8], err[256];
    unsigned char *p = (unsigned char *)buf + RECLOG_FRAME;
    size_t plen = kind == REC_RETRY ? HEAD + 8 : HEAD;
    p[0] = (unsigned char)kind;
    reclog_put64(p + 1, id);
    if (kind == REC_RETRY)
        reclog_put64(p + 9, arg);
    reclog_frame(buf, plen);
    if (reclog_append(&q->log, buf, RECLOG_FRAME + plen, err, sizeof(err)) != 0) {
        fprintf(stderr, "queue: %s\n", err);
        return -1;
    }
    return 0;
}

static node_t *find(queue_t *q, uint64_t id)
{
    for (node_t *n = q->head.next; n != &q->head; n = n->next)
        if (n->id == id)
            return n;
    return NULL;
}

static void link_tail(queue_t *q, node_t *n)
{
    n->prev = q->head.prev;
    n->next = &q->head;
    q->head.prev->next = n;
    q->head.prev = n;
    q->events += 1;
    q->bytes += n->klen + n->len;
    q->live_record_bytes += enq_size(n);
}

static void unlink_free(queue_t *q, node_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    q->events -= 1;
    q->bytes -= n->klen + n->len;
    q->live_record_bytes -= enq_size(n);
    if (n->deadline_ms != 0)
        q->in_flight -= 1;
    free(n->key);
    free(n->payload);
    free(n);
}

static node_t *new_node(uint64_t id, const char *key, size_t klen, const char *payload, size_t len)
{
    node_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->id = id;
    n->key = malloc(klen + 1);
    n->payload = malloc(len + 1);
    if (n->key == NULL || n->payload == NULL) {
        free(n->key);
        free(n->payload);
        free(n);
        return NULL;
    }
    memcpy(n->key, key, klen);
    n->key[klen] = '\0';
    if (len != 0)
        memcpy(n->payload, payload, len);
    n->payload[len] = '\0';
    n->klen = klen;
    n->len = len;
    return n;
}

/* applies one record read at open; -1 when it is malformed (treated as the torn tail) */
static int replay(queue_t *q, const unsigned char *p, size_t len)
{
    if (len < HEAD)
        return -1;
    uint64_t id = reclog_get64(p + 1);
    node_t *n;
    switch (p[0]) {
    case REC_ENQ: {
        if (len < ENQ_HEAD)
            return -1;
        size_t klen = (size_t)p[29] | (size_t)p[30] << 8, plen = reclog_get32(p + 31);
        if (klen > QUEUE_MAX_KEY || plen > QUEUE_MAX_PAYLOAD || len != ENQ_HEAD + klen + plen)
            return -1;
        if (id >= q->next_id)
            q->next_id = id + 1;
        if (find(q, id) != NULL)
            return 0;
        if ((n = new_node(id, (const char *)p + ENQ_HEAD, klen, (const char *)p + ENQ_HEAD + klen, plen)) == NULL)
            return -1;
        n->enqueued_ms = reclog_get64(p + 9);
        n->attempts = reclog_get32(p + 17);
        n->not_before_ms = reclog_get64(p + 21);
        link_tail(q, n);
        return 0;
    }
    case REC_TAKE:
    case REC_DONE:
        if (len != HEAD)
            return -1;
        if ((n = find(q, id)) != NULL) {
            if (p[0] == REC_TAKE)
                n->attempts += 1;
            else
                unlink_free(q, n);
        }
        return 0;
    case REC_RETRY:
        if (len != HEAD + 8)
            return -1;
        if ((n = find(q, id)) != NULL)
            n->not_before_ms = reclog_get64(p + 9);
        return 0;
    default:
        return -1;
    }
}

static void free_nodes(queue_t *q)
{
    while (q->head.next != &q->head)
        unlink_free(q, q->head.next);
}

queue_t *queue_open(const char *dir, const queue_limits_t *limits, char *err, size_t errlen)
{
    queue_t *q = calloc(1, sizeof(*q));
    char path[4096], *data = NULL;
    size_t len = 0;
    if (q == NULL) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    if (snprintf(path, sizeof(path), "%s/events.log", dir) >= (int)sizeof(path)) {
        snprintf(err, errlen, "%s: path too long", dir);
        free(q);
        return NULL;
    }
    q->lim = *limits;
    if (q->lim.max_events == 0)
        q->lim.max_events = 100000;
    if (q->lim.max_bytes == 0)
        q->lim.max_bytes = 256u << 20;
    if (q->lim.visibility_ms == 0)
        q->lim.visibility_ms = 15 * 60 * 1000;
    if (q->lim.compact_min == 0)
        q->lim.compact_min = 1u << 20;
    q->head.next = q->head.prev = &q->head;
    q->next_id = 1;
    /* the log of a full queue: every event at its largest, twice over (dead records before a compaction) */
    uint64_t max_size = 2 * (q->lim.max_bytes + q->lim.max_events * (RECLOG_FRAME + ENQ_HEAD)) + (64u << 20);
    if (reclog_open(&q->log, path, HEADER, "an edgehook queue log", max_size, &data, &len, err, errlen) != 0) {
        free(q);
        return NULL;
    }
    size_t off = q->log.header_len, rlen, plen;
    const char *payload;
    while ((rlen = reclog_unframe(data + off, len - off, MAX_RECORD, &payload, &plen)) != 0 &&
           replay(q, (const unsigned char *)payload, plen) == 0)
        off += rlen;
    free(data);
    if (off != len && reclog_truncate(&q->log, off, err, errlen) != 0) {
        free_nodes(q);
        reclog_close(&q->log);
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, NULL);
    return q;
}

void queue_close(queue_t *q)
{
    if (q == NULL)
        return;
    free_nodes(q);
    reclog_close(&q->log);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void queue_event_clear(queue_event_t *ev)
{
    free(ev->key);
    free(ev->payload);
    memset(ev, 0, sizeof(*ev));
}

/* whether events more events of bytes more bytes fit beside the live and reserved ones (under the lock) */
static int has_room(queue_t *q, uint64_t events, uint64_t bytes, char *err, size_t errlen)
{
    if (q->events + q->reserved_events + events > q->lim.max_events) {
        snprintf(err, errlen, "the queue is full (%llu events, the maximum)", (unsigned long long)(q->events + q->reserved_events));
        return 0;
    }
    if (q->bytes + q->reserved_bytes + bytes > q->lim.max_bytes) {
        snprintf(err, errlen, "the queue is full (%llu bytes of %llu)", (unsigned long long)(q->bytes + q->reserved_bytes),
                 (unsigned long long)q->lim.max_bytes);
        return 0;
    }
    return 1;
}

int queue_reserve(queue_t *q, uint64_t events, uint64_t bytes, queue_reservation_t *r, char *err, size_t errlen)
{
    pthread_mutex_lock(&q->mu);
    int ok = has_room(q, events, bytes, err, errlen);
    if (ok) {
        q->reserved_events += events;
        q->reserved_bytes += bytes;
        r->events += events;
        r->bytes += bytes;
    }
    pthread_mutex_unlock(&q->mu);
    return ok ? 0 : QUEUE_FULL;
}

void queue_unreserve(queue_t *q, queue_reservation_t *r)
{
    pthread_mutex_lock(&q->mu);
    q->reserved_events -= r->events;
    q->reserved_bytes -= r->bytes;
    r->events = r->bytes = 0;
    pthread_mutex_unlock(&q->mu);
}

int queue_enqueue(queue_t *q, const char *key, size_t key_len, const char *payload, size_t len, uint64_t *id, char *err,
                  size_t errlen)
{
    return queue_enqueue_reserved(q, NULL, key, key_len, payload, len, id, err, errlen);
}

int queue_enqueue_reserved(queue_t *q, queue_reservation_t *reserved, const char *key, size_t key_len, const char *payload,
                           size_t len, uint64_t *id, char *err, size_t errlen)
{
    if (key_len > QUEUE_MAX_KEY || len > QUEUE_MAX_PAYLOAD) {
        snprintf(err, errlen, "the event is too large (key %zu bytes, payload %zu bytes; at most %u and %u)", key_len, len,
                 QUEUE_MAX_KEY, QUEUE_MAX_PAYLOAD);
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    int ret = -1;
    /* a reservation's room is released now, and this event uses it (so it cannot be refused for lack of room it was promised) */
    uint64_t room_events = 0, room_bytes = 0;
    if (reserved != NULL && reserved->events != 0) {
        room_events = 1;
        room_bytes = reserved->bytes / reserved->events;
        reserved->events -= 1;
        reserved->bytes -= room_bytes;
        q->reserved_events -= 1;
        q->reserved_bytes -= room_bytes;
    }
    if (room_events == 0 && !has_room(q, 1, key_len + len, err, errlen)) {
        ret = QUEUE_FULL;
        goto out;
    }
    if (room_events != 0 && key_len + len > room_bytes && !has_room(q, 0, key_len + len - room_bytes, err, errlen)) {
        ret = QUEUE_FULL;
        goto out;
    }
    node_t *n = new_node(q->next_id, key, key_len, payload, len);
    char *rec = n != NULL ? malloc(enq_size(n)) : NULL;
    if (rec == NULL) {
        snprintf(err, errlen, "out of memory");
        free(n != NULL ? n->key : NULL);
        free(n != NULL ? n->payload : NULL);
        free(n);
        goto out;
    }
    n->enqueued_ms = queue_now_ms();
    encode_enq(rec, n);
    if (reclog_append(&q->log, rec, enq_size(n), err, errlen) != 0) {
        free(rec);
        free(n->key);
        free(n->payload);
        free(n);
        goto out;
    }
    free(rec);
    q->next_id += 1;
    link_tail(q, n);
    *id = n->id;
    ret = 0;
    q->changes += 1;
    pthread_cond_broadcast(&q->cond);
out:
    pthread_mutex_unlock(&q->mu);
    return ret;
}

static int visible(const node_t *n, uint64_t now)
{
    return n->deadline_ms != 0 ? n->deadline_ms <= now : n->not_before_ms <= now;
}

int queue_take(queue_t *q, uint64_t now_ms, queue_filter_cb filter, void *arg, queue_event_t *ev, uint64_t *next_ms)
{
    uint64_t next = UINT64_MAX;
    int ret = 0;
    pthread_mutex_lock(&q->mu);
    for (node_t *n = q->head.next; n != &q->head; n = n->next) {
        if (!visible(n, now_ms)) {
            uint64_t at = n->deadline_ms != 0 ? n->deadline_ms : n->not_before_ms;
            if (at < next)
                next = at;
            continue;
        }
        if (filter != NULL && !filter(arg, n->key, n->klen))
            continue;
        char *key = malloc(n->klen + 1), *payload = malloc(n->len + 1);
        if (key == NULL || payload == NULL || append_small(q, REC_TAKE, n->id, 0) != 0) {
            free(key);
            free(payload);
            ret = -1;
            break;
        }
        memcpy(key, n->key, n->klen + 1);
        memcpy(payload, n->payload, n->len + 1);
        n->attempts += 1;
        if (n->deadline_ms == 0)
            q->in_flight += 1;
        n->deadline_ms = now_ms + q->lim.visibility_ms;
        *ev = (queue_event_t){.id = n->id,
                              .key = key,
                              .key_len = n->klen,
                              .payload = payload,
                              .len = n->len,
                              .enqueued_ms = n->enqueued_ms,
                              .attempts = n->attempts};
        ret = 1;
        break;
    }
    pthread_mutex_unlock(&q->mu);
    if (next_ms != NULL)
        *next_ms = next;
    return ret;
}

int queue_retry(queue_t *q, uint64_t id, uint64_t not_before_ms)
{
    pthread_mutex_lock(&q->mu);
    node_t *n = find(q, id);
    int ret = -1;
    if (n != NULL && append_small(q, REC_RETRY, id, not_before_ms) == 0) {
        n->not_before_ms = not_before_ms;
        if (n->deadline_ms != 0)
            q->in_flight -= 1;
        n->deadline_ms = 0;
        ret = 0;
        q->changes += 1;
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
    return ret;
}

/* rewrites the log with the live events only, when it holds more dead bytes than live ones (under the lock) */
static void maybe_compact(queue_t *q)
{
    uint64_t live = q->live_record_bytes, size = q->log.size - q->log.header_len;
    if (q->log.size < q->lim.compact_min || size - live < live)
        return;
    char *buf = malloc(live + 1), err[256];
    if (buf == NULL)
        return;
    size_t off = 0;
    for (node_t *n = q->head.next; n != &q->head; n = n->next) {
        encode_enq(buf + off, n);
        off += enq_size(n);
    }
    if (reclog_rewrite(&q->log, buf, off, err, sizeof(err)) != 0)
        fprintf(stderr, "queue: compaction failed (the log stays as it was): %s\n", err);
    else
        q->compactions += 1;
    free(buf);
}

int queue_done(queue_t *q, uint64_t id)
{
    pthread_mutex_lock(&q->mu);
    node_t *n = find(q, id);
    int ret = -1;
    if (n != NULL && append_small(q, REC_DONE, id, 0) == 0) {
        unlink_free(q, n);
        maybe_compact(q);
        ret = 0;
        q->changes += 1;
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
    return ret;
}

uint64_t queue_changes(queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    uint64_t c = q->changes;
    pthread_mutex_unlock(&q->mu);
    return c;
}

void queue_wait(queue_t *q, uint64_t seen, uint64_t until_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000), .tv_nsec = (long)(until_ms % 1000) * 1000000};
    pthread_mutex_lock(&q->mu);
    while (q->changes == seen && until_ms > queue_now_ms())
        if (pthread_cond_timedwait(&q->cond, &q->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&q->mu);
}

void queue_wake(queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->changes += 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

void queue_get_stats(queue_t *q, queue_stats_t *st)
{
    pthread_mutex_lock(&q->mu);
    st->events = q->events;
    st->bytes = q->bytes;
    st->in_flight = q->in_flight;
    st->oldest_ms = q->head.next != &q->head ? q->head.next->enqueued_ms : 0;
    st->log_bytes = q->log.size;
    st->compactions = q->compactions;
    pthread_mutex_unlock(&q->mu);
}
