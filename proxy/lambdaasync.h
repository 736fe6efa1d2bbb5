/* proxy/lambdaasync.h - `Event` invocations: Lambda's asynchronous semantics on the durable queue (queue/queue.h).
 *
 * An Event invocation is enqueued (on disk, fdatasync'ed) before it is answered 202; consumer threads take events and run
 * them through the invoke runner, with per-hook concurrency. A failed attempt (a function error or a non-2xx status) is retried
 * after backoff (base, then 2 x base) up to MaximumRetryAttempts (0-2, default 2); an event older than MaximumEventAgeInSeconds
 * (default 6 h) is not run any more. Then the on-failure destination gets Lambda's invocation record (condition
 * RetriesExhausted or EventAgeExceeded): an embedded-store bucket (arn:aws:s3:::BUCKET, key
 * aws/lambda/async/FUNCTION/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-UUID) or another hook (arn:aws:lambda:...:function:NAME, invoked
 * asynchronously with the record). An on-success destination gets the record of a success the same way.
 *
 * Threads: the queue's work blocks (every take, retry and done is an fdatasync; an S3 destination write fsyncs), so it runs on a
 * small pool of consumer threads of its own (async_queue.threads, default 2), never on a worker loop, where it would stall the
 * cache hits that loop serves. The hook itself runs where synchronous invokes run: a consumer hands the attempt to a worker's
 * loop (server_run_on_worker) which starts it with lambda_invoke_run (proxy/hookcall.h: a long call moves to an offload thread,
 * its timeout is enforced, edge.fetch works), and waits for its result. Each hook's share of the pool is capped by its
 * async.concurrency.
 *
 * Settings per hook: the config's `async:` map, unless the Lambda API's PutFunctionEventInvokeConfig set one for the function
 * (kept in STATE_DIR/queue/event-invoke-config.json): then the API's wins, whole (fields it leaves out take Lambda's defaults;
 * backoff and concurrency, which Lambda does not have, stay the config's). */
#ifndef EDGE_PROXY_LAMBDAASYNC_H
#define EDGE_PROXY_LAMBDAASYNC_H

#include <stddef.h>
#include <h2o.h>
#include "conf/config.h"
#include "queue/queue.h"

typedef struct store store_t;

/** opens STATE_DIR/queue (the configuration's state_dir); 0 or -1 with err */
int lambda_async_start(const conf_t *conf, const char *state_dir, store_t *store, char *err, size_t errlen);
/** starts the consumer threads (once the workers run: attempts are started on their loops) */
void lambda_async_run(void);
/** takes the hooks and their `async:` settings of a configuration generation (at start and after each reload) */
void lambda_async_configure(const conf_t *conf);
/**
 * Stops the consumers: no new attempt starts; those running get up to grace_ms to finish (the workers still serve). An attempt
 * that does not finish stays taken in the queue and runs again at the next start (it counts as an attempt).
 */
void lambda_async_stop(uint64_t grace_ms);
/** closes the queue (after lambda_async_stop and after the control thread's jobs) */
void lambda_async_close(void);

/**
 * Enqueues an Event invocation and syncs it: 0 with request_id (a UUID, 37 bytes with the NUL) once it is on disk; else -1 with
 * *status (404 unknown function, 413 payload over 256 KB, 429 the queue is full, 500 a write error), *error_type (Lambda's
 * x-amzn-ErrorType) and err. Blocks on an fdatasync: not on a worker loop (lambda_async_handle_invoke posts it).
 */
int lambda_enqueue(const char *function, const char *qualifier, const char *payload, size_t len, char request_id[37], int *status,
                   const char **error_type, char *err, size_t errlen);

/** 1 when hook `function` is declared in the running configuration (what a store notification may name) */
int lambda_async_function_exists(const char *function);
/**
 * Room for events the caller will enqueue with lambda_enqueue_source (queue/queue.h: queue_reserve): 0, QUEUE_FULL (the queue
 * is full: the store answers 503 SlowDown and writes nothing), or -1 (the queue is not running). Blocks only on the queue lock.
 */
int lambda_async_reserve(unsigned events, uint64_t bytes, queue_reservation_t *r, char *err, size_t errlen);
/** gives back what is left of a reservation */
void lambda_async_unreserve(queue_reservation_t *r);
/**
 * Enqueues an invocation of function (qualifier may be NULL) with payload, from source (e.g. "s3:BUCKET": counted in the
 * edgehook_async_source_* metrics), in the room of reserved (may be NULL). Syncs it: 0 once it is on disk; QUEUE_FULL, or -1
 * (no such hook, a write error) with err. Blocks on an fdatasync: not on an event loop.
 */
int lambda_enqueue_source(const char *function, const char *qualifier, const char *source, queue_reservation_t *reserved,
                          const char *payload, size_t len, char *err, size_t errlen);

/** answers Put (PUT), Update (POST), Get (GET) or Delete (DELETE) FunctionEventInvokeConfig of function (a hook name; the
 * qualifier is accepted and ignored: one config per function); lapi's router calls it for
 * /2019-09-25/functions/NAME/event-invoke-config after admin_authorize */
void lambda_async_handle_config(h2o_req_t *req, const char *function, const char *qualifier);
/** answers an `Event` invoke of function (qualifier may be NULL) with the request body as the payload: posts the enqueue to the
 * control thread (it fsyncs), then answers 202 with x-amzn-RequestId, or Lambda's error (429 TooManyRequestsException: full;
 * 404 ResourceNotFoundException: a version or alias that does not exist, resolved there as the synchronous invoke does with
 * lambda_invoke_resolve, before anything is enqueued) */
void lambda_async_handle_invoke(h2o_req_t *req, const char *function, const char *qualifier);

/** appends the queue's metrics (Prometheus text) */
void lambda_async_metrics(h2o_buffer_t **buf);

#endif
