/* store/notify.h - bucket event notifications of the embedded store (S3's NotificationConfiguration with Lambda function
 * configurations naming edgehook hooks), and the one call every write path makes around its commit.
 *
 * Every write path of the store (PUT, POST Object, CopyObject, CompleteMultipartUpload, DELETE, DeleteObjects, hook writes,
 * delete markers) does, on a store thread:
 *
 *     store_notify_ticket_t t;
 *     if (store_notify_req_begin(sr, STORE_EV_PUT, &t) != 0)    // before anything is written: 503 SlowDown was sent
 *         return 0;
 *     ... write and commit (on failure: store_notify_abort(&t)) ...
 *     store_notify_req_change(sr, &t, key, key_len, obj_or_NULL, version_id_or_NULL);   // after the commit, before the answer
 *
 * begin reserves room in the durable queue for the events the matching rules will make (a full queue refuses the write:
 * nothing is written, the client gets 503 SlowDown and retries); change purges every cached copy of bucket/key in the proxy's
 * cache and enqueues (fdatasync'ed) the matching rules' S3 event records, so both are done before the client is answered.
 *
 * The proxy plugs in the queue and the cache (store_notify_set_backend): the store itself reaches neither.
 */
#ifndef EDGE_STORE_NOTIFY_H
#define EDGE_STORE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include "conf/config.h"

typedef struct store store_t;
typedef struct store_obj store_obj_t;
typedef struct store_req store_req_t;
typedef struct store_bucket store_bucket_t;

/** the kinds of change (S3's event names) */
enum {
    STORE_EV_PUT = 0,       /* s3:ObjectCreated:Put */
    STORE_EV_POST,          /* s3:ObjectCreated:Post */
    STORE_EV_COPY,          /* s3:ObjectCreated:Copy */
    STORE_EV_COMPLETE,      /* s3:ObjectCreated:CompleteMultipartUpload */
    STORE_EV_DELETE,        /* s3:ObjectRemoved:Delete */
    STORE_EV_DELETE_MARKER, /* s3:ObjectRemoved:DeleteMarkerCreated */
    STORE_EV_NUM
};

/** who made a change */
typedef struct store_notify_origin {
    const char *source_ip;  /* the client's address ("" for writes from inside the process) */
    const char *request_id; /* the S3 request id (x-amz-request-id), or NULL */
    const char *principal;  /* the access key, or NULL */
    const char *hook;       /* a hook's write (edge.s3.put/delete): its name, else NULL */
    unsigned generation;    /* 0: a client's write; N: a hook's write while it handled an event of generation N-1 */
} store_notify_origin_t;

/** what begin decided and reserved; on the stack of the write */
typedef struct store_notify_ticket {
    int kind;
    int active; /* begin succeeded: change or abort must follow */
    store_notify_origin_t origin;
    uint64_t reserved_events, reserved_bytes; /* room in the queue (the backend's reservation) */
    char request_id[24], source_ip[64], principal[128], hook[128];
} store_notify_ticket_t;

/** what the proxy provides (any thread; a store thread calls them) */
typedef struct store_notify_backend {
    int (*function_exists)(const char *name);
    /* room for `events` events of `bytes` bytes in all: 0, -2 (full) or -1 (err); adds to *events / *bytes */
    int (*reserve)(unsigned events, uint64_t bytes, uint64_t *res_events, uint64_t *res_bytes, char *err, size_t errlen);
    void (*unreserve)(uint64_t *res_events, uint64_t *res_bytes);
    /* enqueues on disk: 0, -2 (full) or -1 (err) */
    int (*enqueue)(const char *function, const char *qualifier, const char *source, uint64_t *res_events, uint64_t *res_bytes,
                   const char *payload, size_t len, char *err, size_t errlen);
    /* purges every cached copy of the object whose store tag (store_notify_tag) is tag; returns when no thread serves it any more
     */
    void (*purge)(uint64_t tag);
} store_notify_backend_t;
void store_notify_set_backend(const store_notify_backend_t *b);

/** the tag the proxy's cache gives objects filled from the embedded store's bucket/key (FNV-1a 64 of "bucket\0key"; never 0) */
uint64_t store_notify_tag(const char *bucket, size_t blen, const char *key, size_t klen);

/**
 * Loads the notification configurations (root/.notifications/BUCKET.xml, and conf->notifications, which win: a bucket the
 * config file configures refuses PutBucketNotificationConfiguration). 0, or -1 with err. Called by store_create.
 */
int store_notify_open(store_t *s, const conf_store_t *conf, char *err, size_t errlen);
void store_notify_close(void);

/** GET ?notification */
int store_notify_get_config(store_req_t *sr, store_bucket_t *b);
/** PUT ?notification */
int store_notify_put_config(store_req_t *sr, store_bucket_t *b);
/** the bucket is deleted: its configuration goes with it */
void store_notify_bucket_deleted(store_t *s, const char *bucket);

/**
 * Before a write of bucket/key (o NULL: the process's own write, e.g. an asynchronous invocation's record: it purges the cache
 * but makes no event, so a destination bucket that notifies cannot loop): reserves queue room for the events the rules will make. 0
 * (t is active), or -1 (the queue is full: err says so; the caller refuses the write with 503 SlowDown).
 */
int store_notify_begin(store_t *s, const char *bucket, const char *key, size_t klen, int kind, const store_notify_origin_t *o,
                       store_notify_ticket_t *t, char *err, size_t errlen);
/**
 * After the commit, before the answer: purges the cache, enqueues the events (o: the new version, NULL for a removal;
 * version_id: NULL when the bucket is not versioned). Failures to enqueue are logged and counted; the write stands.
 */
void store_notify_change(store_t *s, store_notify_ticket_t *t, const char *bucket, const char *key, size_t klen,
                         const store_obj_t *o, const char *version_id);
/** the write did not happen: gives the reservation back */
void store_notify_abort(store_notify_ticket_t *t);

/** store_notify_begin for an S3 request (bucket and origin from sr); -1 after sending 503 SlowDown */
int store_notify_req_begin(store_req_t *sr, int kind, store_notify_ticket_t *t);
#define STORE_NOTIFY_FULL (-100)
/** store_notify_begin for one key of a request that names several (DeleteObjects): 0, or STORE_NOTIFY_FULL (nothing sent) */
int store_notify_req_begin_key(store_req_t *sr, int kind, const char *key, size_t klen, store_notify_ticket_t *t);
/** store_notify_change for an S3 request (bucket from sr; key given: DeleteObjects names several) */
void store_notify_req_change(store_req_t *sr, store_notify_ticket_t *t, const char *key, size_t klen, const store_obj_t *o,
                             const char *version_id);

typedef struct store_fs_deleted store_fs_deleted_t;
/**
 * store_notify_req_change after a delete (store_fs_obj_delete_version): the event is ObjectRemoved:DeleteMarkerCreated when a
 * marker was created, else ObjectRemoved:Delete, with the version id of what was removed or created (none for the null one of an
 * unversioned bucket). Begin with STORE_EV_DELETE: it reserves for both.
 */
void store_notify_req_deleted(store_req_t *sr, store_notify_ticket_t *t, const char *key, size_t klen, const store_fs_deleted_t *d);

/** counters for the metrics */
typedef struct store_notify_stats {
    uint64_t events;       /* event records enqueued */
    uint64_t refused;      /* writes refused with 503 SlowDown (queue full) */
    uint64_t lost;         /* events that could not be enqueued after the commit (an I/O error, the hook gone) */
    uint64_t loop_stopped; /* events not made because their chain reached store.notify_max_generations */
    uint64_t excluded;     /* events not made because the rule excludes hooks' writes */
    uint64_t purges;       /* cache purges of written objects */
} store_notify_stats_t;
void store_notify_get_stats(store_notify_stats_t *st);

#endif
