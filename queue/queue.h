/* queue/queue.h - a durable, bounded on-disk queue with at-least-once delivery (the asynchronous invocations' queue).
 *
 * Events are opaque (a key, e.g. the function name, and a payload) kept in one append-only log, QUEUE_DIR/events.log
 * (base/reclog: checksummed records, fdatasync before an enqueue returns, torn tails cut off at open). Records:
 *   ENQ   id, enqueued time, attempts, not-before time, key, payload  (an event; compaction rewrites the live ones this way)
 *   TAKE  id            a consumer took it: one more attempt, counted durably before the consumer runs it
 *   RETRY id, time      the attempt failed: visible again at that time (the backoff), across restarts too
 *   DONE  id            finished (delivered, or given up on): the event is gone
 * Guarantees:
 *   - queue_enqueue returns 0 only once the event is on disk: an acknowledged event survives kill -9 and power loss.
 *   - at-least-once: an event taken and not completed within the visibility timeout becomes visible again; at open, every
 *     event not DONE is visible (taken-but-unfinished ones are redelivered, their attempts kept).
 *   - bounded: max_events and max_bytes (key + payload) of live events; a full queue refuses the enqueue (QUEUE_FULL),
 *     nothing is ever dropped to make room.
 *   - order: visible events are taken oldest first (by enqueue order), skipping those a consumer's filter refuses.
 *   - compaction: when the log holds more dead bytes than live ones (and over 1 MB), it is rewritten with only live events
 *     (FILE.tmp, fsync, rename, directory fsync).
 * Thread-safe: one mutex; enqueue, take, retry and done each hold it across their append + fdatasync. */
#ifndef EDGE_QUEUE_QUEUE_H
#define EDGE_QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_FULL (-2)
#define QUEUE_MAX_KEY 1024
#define QUEUE_MAX_PAYLOAD (16u << 20)

typedef struct queue_limits {
    uint64_t max_events;    /* live events; 0: 100000 */
    uint64_t max_bytes;     /* key + payload bytes of live events; 0: 256 MB */
    uint64_t visibility_ms; /* a taken event not completed within it is visible again; 0: 15 min */
    uint64_t compact_min;   /* compaction only once the log is over this size; 0: 1 MB */
} queue_limits_t;

typedef struct queue queue_t;

/**
 * Opens (creating dir and the log when missing) the queue in dir and reads its log: torn tails are cut off, every event not DONE
 * is visible again. NULL with `PATH: reason` in err.
 */
queue_t *queue_open(const char *dir, const queue_limits_t *limits, char *err, size_t errlen);
void queue_close(queue_t *q);

/** one event, as queue_take hands it out (key and payload are malloc'ed copies: queue_event_clear frees them) */
typedef struct queue_event {
    uint64_t id;
    char *key;
    size_t key_len;
    char *payload;
    size_t len;
    uint64_t enqueued_ms; /* wall clock, ms since the epoch */
    uint32_t attempts;    /* attempts started so far, this one included */
} queue_event_t;
void queue_event_clear(queue_event_t *ev);

/**
 * Appends an event and syncs it. 0 (with *id) once it is on disk; QUEUE_FULL when a bound would be passed (err says which);
 * -1 on a write error or a key/payload over the maximum (err).
 */
int queue_enqueue(queue_t *q, const char *key, size_t key_len, const char *payload, size_t len, uint64_t *id, char *err,
                  size_t errlen);

/**
 * Room promised for events not made yet (the store reserves it before it writes an object whose notifications it will
 * enqueue after the commit, so that a full queue refuses the write instead of losing its event): reserved room counts against
 * the bounds like live events. queue_reserve adds events and bytes to *r (zero it first) or returns QUEUE_FULL (err says
 * which bound) leaving it as it was; queue_enqueue_reserved uses one event of it (and its share of the bytes: an event larger
 * than that share needs the difference to be free); queue_unreserve gives back what is left.
 */
typedef struct queue_reservation {
    uint64_t events, bytes;
} queue_reservation_t;
int queue_reserve(queue_t *q, uint64_t events, uint64_t bytes, queue_reservation_t *r, char *err, size_t errlen);
void queue_unreserve(queue_t *q, queue_reservation_t *r);
/** queue_enqueue in the room of a reservation (NULL: none) */
int queue_enqueue_reserved(queue_t *q, queue_reservation_t *reserved, const char *key, size_t key_len, const char *payload,
                           size_t len, uint64_t *id, char *err, size_t errlen);

/** a consumer's filter: 1 if it takes an event of this key now (called with the queue's lock held: do not call the queue) */
typedef int (*queue_filter_cb)(void *arg, const char *key, size_t key_len);
/**
 * Takes the oldest visible event (due at now_ms) the filter accepts (NULL: any) and records the attempt durably: 1 with *ev,
 * 0 when there is none (*next_ms, if not NULL, gets the earliest time one may become visible, or UINT64_MAX), -1 on a write error.
 */
int queue_take(queue_t *q, uint64_t now_ms, queue_filter_cb filter, void *arg, queue_event_t *ev, uint64_t *next_ms);
/** the attempt of a taken event failed: visible again at not_before_ms (durable). 0, or -1 (unknown id / write error) */
int queue_retry(queue_t *q, uint64_t id, uint64_t not_before_ms);
/** the event is finished (succeeded, or given up on): removed (durable). 0, or -1 (unknown id: already done / write error) */
int queue_done(queue_t *q, uint64_t id);
/** a counter of changes (enqueue, retry, done, queue_wake): read it before a queue_take that may find nothing */
uint64_t queue_changes(queue_t *q);
/** waits until the counter differs from seen (something changed since it was read) or until until_ms (wall clock) */
void queue_wait(queue_t *q, uint64_t seen, uint64_t until_ms);
/** wakes every queue_wait (shutdown) */
void queue_wake(queue_t *q);

typedef struct queue_stats {
    uint64_t events;      /* live events */
    uint64_t bytes;       /* their key + payload bytes */
    uint64_t in_flight;   /* taken, not yet retried or done */
    uint64_t oldest_ms;   /* enqueue time of the oldest live event (0 when empty) */
    uint64_t log_bytes;   /* size of the log file */
    uint64_t compactions; /* since open */
} queue_stats_t;
void queue_get_stats(queue_t *q, queue_stats_t *st);

/** wall clock in ms since the epoch */
uint64_t queue_now_ms(void);

#endif
