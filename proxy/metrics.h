/* proxy/metrics.h - counters and latency histograms kept per event-loop thread (workers and store loops: one writer each, no
 * locks) and summed when read. */
#ifndef EDGE_PROXY_METRICS_H
#define EDGE_PROXY_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <h2o.h>

#define METRICS_LATENCY_BUCKETS 14 /* upper bounds in metrics.c: 100us .. 30s, then +Inf */

enum {
    METRIC_CACHE_HIT,
    METRIC_CACHE_MISS,
    METRIC_CACHE_REFRESH_HIT, /* stale, revalidated with a 304 */
    METRIC_CACHE_STALE,       /* stale served (stale-while-revalidate or stale-if-error) */
    METRIC_CACHE_REVALIDATION,
    METRIC_CACHE_COLLAPSED, /* requests that waited for another's fetch */
    METRIC_CACHE_PASS,
    METRIC_CACHE_GENERATED, /* answered by a hook */
    METRIC_ORIGIN_REQUESTS,
    METRIC_ORIGIN_ERRORS,
    METRIC_BYTES_SENT,
    METRIC_SEND_TIMEOUTS,    /* responses aborted because the client read nothing for limits.send_timeout */
    METRIC_UNANSWERED,       /* requests that ended before their response began (client gone, HTTP/2 stream reset) */
    /* edgehook_requests_refused_total{reason=...}: requests refused before they reached a behaviour */
    METRIC_REFUSED_FIRST,
    METRIC_REFUSED_HEAD = METRIC_REFUSED_FIRST, /* malformed or ambiguous HTTP/1 head (smuggling, obs-fold, bare LF, Host) */
    METRIC_REFUSED_TARGET,                      /* request target that cannot be normalised */
    METRIC_REFUSED_HEADERS,                     /* header list over limits.max_request_headers / max_request_header_size */
    METRIC_REFUSED_VERSION,                     /* HTTP version other than 1.0 / 1.1 (505) */
    METRIC_NUM
};

enum { METRICS_LISTENER_MAIN, METRICS_LISTENER_STORE, METRICS_LISTENER_ADMIN, METRICS_LISTENER_NUM }; /* as proxy/server.c's */
enum { METRICS_PROTO_HTTP1, METRICS_PROTO_HTTP2, METRICS_PROTO_TLS, METRICS_PROTO_NUM };
#define METRICS_STORE_OPS 20 /* room for store/store.h's STORE_OP_NUM operations */

/** one loop thread's counters (a worker's or a store loop's); a cache line apart from the next one's */
typedef struct metrics_worker {
    _Atomic uint64_t counters[METRIC_NUM];
    _Atomic uint64_t status[6];                             /* by class: 1xx..5xx, other */
    _Atomic uint64_t latency[6][METRICS_LATENCY_BUCKETS + 1]; /* cumulative per class at read time */
    _Atomic uint64_t latency_sum_us[6];
    _Atomic uint64_t loop_busy[METRICS_LATENCY_BUCKETS + 1]; /* CPU time of one event-loop iteration */
    _Atomic uint64_t loop_busy_sum_us;
    _Atomic uint64_t store_requests; /* requests to the store listener this loop served (edgehook_store_loop_requests_total) */
    /* connections by listener kind (METRICS_LISTENER_*) and protocol (METRICS_PROTO_*): the open ones are the accepted ones
     * minus the closed ones, per loop (a socket lives on the loop that accepted it) */
    _Atomic uint64_t conn_opened[METRICS_LISTENER_NUM][METRICS_PROTO_NUM], conn_closed[METRICS_LISTENER_NUM][METRICS_PROTO_NUM];
    _Atomic uint64_t conn_accepted[METRICS_LISTENER_NUM][METRICS_PROTO_NUM];
    /* the embedded store's requests by operation and status class, and their body bytes (in: request bodies, out: responses) */
    _Atomic uint64_t store_ops[METRICS_STORE_OPS][6];
    _Atomic uint64_t store_bytes[METRICS_STORE_OPS][2];
} __attribute__((aligned(64))) metrics_worker_t;

/** allocates the counters of the workers and of the store loops */
void metrics_init(unsigned num_workers, unsigned num_store_loops);
/** the calling loop thread's counters (edge_worker_id(), edge_store_loop_id(); other threads share one set) */
metrics_worker_t *metrics_local(void);

/* single-writer increment: no lock prefix on the hot path */
static inline void metrics_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void metrics_count(int which, uint64_t n)
{
    metrics_add(&metrics_local()->counters[which], n);
}
/** records a finished request */
void metrics_request(int status, uint64_t duration_us, uint64_t bytes);

/** renders all metrics in the Prometheus text format into a pool-allocated buffer; `extra` appends module metrics */
h2o_iovec_t metrics_render(h2o_mem_pool_t *pool, void (*extra)(h2o_buffer_t **buf, void *ctx), void *ctx);
/** records the CPU time one iteration of the calling thread's event loop took: how long the loop could answer nothing
 * (edgehook_worker_loop_busy_seconds for workers, edgehook_store_loop_busy_seconds for store loops; a compile or a file read on
 * a worker loop shows here as a long iteration) */
void metrics_loop_busy(uint64_t cpu_us);
/** counts a request to the store listener on the calling loop thread (edgehook_store_requests_total{thread="store-ioN"}) */
void metrics_store_request(void);
/**
 * Counts a connection a listener of kind METRICS_LISTENER_* accepted on the calling loop, over TLS or not, and sets sock's
 * on_close callback to count its end (h2o disposes every socket through it, whatever closed it). Cleartext connections count as
 * http1 until a request on them shows HTTP/2 (h2c); their accepted_total is counted then, or at their close.
 */
void metrics_conn_accepted(h2o_socket_t *sock, int listener_kind, int tls);
/** a request ended on req's connection (a logger of every host): classifies a cleartext connection as http1 or http2 */
void metrics_conn_request(h2o_req_t *req);
/** counts a request to the store by operation (STORE_OP_*) and its status, with the body bytes received and sent (store loop) */
void metrics_store_op(int op, int status, uint64_t bytes_in, uint64_t bytes_out);
/** counts a configuration reload: applied (ok) or refused (edgehook_reloads_total{result="ok"|"refused"}); any thread */
void metrics_reload(int ok);
/** the configuration generation now serving new requests (edgehook_config_generation); any thread */
void metrics_generation(uint64_t id);
/** sum of one counter over the loop threads and the others */
uint64_t metrics_sum(int which);
/** the requests answered by status class (1xx..5xx, other), summed over the workers (edgehook_requests_total) */
void metrics_requests_by_class(uint64_t out[6]);

#endif
