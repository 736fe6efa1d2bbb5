/* store/store.h - the embedded S3-compatible object store: lifecycle and the h2o handler the server installs on its listener */
#ifndef EDGE_STORE_STORE_H
#define EDGE_STORE_STORE_H

#include <stddef.h>
#include <h2o.h>
#include "conf/config.h"

/*
 * The store answers the S3 REST API (path-style `/BUCKET/KEY` and virtual-hosted `BUCKET.<domain>`), authenticated with
 * SigV4 or SigV2 (Authorization header or presigned URL) with any of its keys (store/auth.c), on the store listener. Objects live under conf->root (layout in store/fs.h).
 *
 * Threads: the server runs the store listener on event loops of its own (conf->io_threads "store loops", named store-ioN, at
 * the store threads' priority), so h2o's work for S3 requests - parsing, receiving request bodies, sending GET bodies - is
 * never done by a worker that serves cache hits. The handler may run on several of those loops at once. It only copies the
 * request and hands it to the store's own threads (conf->threads, store/jobs.h), which parse, authenticate and run it - every
 * write, fsync, rename, delete and listing happens there - and the response goes back to the loop that received the request.
 * HTTP/1.1 request bodies are streamed from the socket to the store thread that writes them (store/http1.h), so a single PUT
 * goes up to conf->max_put_size (default 5 GB; EntityTooLarge above it, from Content-Length). A GET's body is read by its loop, 64 KB per proceed() with pread and
 * the client's backpressure, never the whole object.
 */

typedef struct store store_t;

/**
 * Creates root/ if needed, takes its lock (one process per root), loads the buckets, objects and pending multipart uploads, and
 * sets the credentials: the keys of conf->keys if given (store.credentials: one or a list), else the key pair stored in
 * root/.credentials, else a new pair that is generated, written there with mode 0600 and printed once to stderr so a new user can
 * copy it into awscli. Then starts the store threads. Returns NULL with a message in err on failure. Call before the worker
 * threads start.
 */
store_t *store_create(const conf_store_t *conf, char *err, size_t errlen);

/**
 * Creates the conf->seeds buckets that do not exist yet from their directories (store/seed.h), logging progress. The server
 * runs it on a thread of its own after the admin listener is up and before the store listener opens (nothing else writes
 * those buckets meanwhile). 0, or -1 with a message in err (also when store_seed_stop interrupted it).
 */
int store_seed_buckets(store_t *s, const conf_store_t *conf, char *err, size_t errlen);

/** the S3 operations, as S3 names them (edgehook_store_requests_total{op=...}) */
enum {
    STORE_OP_OTHER, /* a request that is none of these (refused before it names one) */
    STORE_OP_LIST_BUCKETS,
    STORE_OP_CREATE_BUCKET,
    STORE_OP_DELETE_BUCKET,
    STORE_OP_HEAD_BUCKET,
    STORE_OP_LIST_OBJECTS,
    STORE_OP_GET_OBJECT,
    STORE_OP_HEAD_OBJECT,
    STORE_OP_PUT_OBJECT,
    STORE_OP_COPY_OBJECT,
    STORE_OP_DELETE_OBJECT,
    STORE_OP_DELETE_OBJECTS,
    STORE_OP_CREATE_MULTIPART_UPLOAD,
    STORE_OP_UPLOAD_PART,
    STORE_OP_UPLOAD_PART_COPY,
    STORE_OP_COMPLETE_MULTIPART_UPLOAD,
    STORE_OP_ABORT_MULTIPART_UPLOAD,
    STORE_OP_LIST_PARTS,
    STORE_OP_LIST_MULTIPART_UPLOADS,
    STORE_OP_NUM
};
extern const char *const store_op_names[STORE_OP_NUM];
/** the operation a request to the store is (from its method, target, query and x-amz-copy-source; path-style or virtual-hosted
 * like the store addresses it); on the store loop, before or after it was served */
int store_op_of(const store_t *store, h2o_req_t *req);

/** installs the S3 request handler on a pathconf (the server registers a host with path "/" for the store listener) */
void store_register(store_t *store, h2o_pathconf_t *pathconf);

/**
 * The number of store requests this event-loop thread handed to the store threads whose answer has not come back yet (the
 * request may be over: the client went away). A loop must keep running until it is 0.
 */
unsigned store_thread_jobs(void);

/** puts the calling thread (a store loop) at the priority of the store threads: 10 nice levels below the process */
void store_lower_priority(void);

/** releases the store; no request may be in flight (call after the worker threads have stopped) */
void store_destroy(store_t *store);

/**
 * The key pair the process signs its own requests to the store with (`endpoint: embedded` S3 origins, hooks naming the store:
 * they sign exactly like a remote S3 client): the first configured key that is neither read-only nor limited to buckets, else
 * one made up at start for this run. The strings belong to the store and live as long as it.
 */
void store_get_credentials(store_t *store, const char **access_key, const char **secret_key);

/**
 * For SigV4 on the Lambda API (admin_authorize): the secret of access_key when that store key may sign such requests - it is
 * configured and neither read-only nor limited to buckets (the Lambda API changes hooks, which serve every bucket). NULL
 * otherwise, with *restricted 1 when the key exists but is read-only or limited. The string lives as long as the store.
 */
const char *store_api_secret(store_t *store, const char *access_key, int *restricted);

/**
 * Writes one object from inside the process (no HTTP, no authentication): the same atomic path as a PUT (data synced, record
 * written, then made the key's current version), with content_type (NULL: none) stored as its content-type. For destinations
 * of asynchronous invocations and hooks that write objects. Any thread but a store loop's (it does file I/O and fsyncs).
 * 0, or -1 with err (`no such bucket BUCKET`, an invalid key, an I/O error).
 */
int store_put_object_internal(store_t *store, const char *bucket, const char *key, const void *data, size_t len,
                              const char *content_type, char *err, size_t errlen);

#endif
