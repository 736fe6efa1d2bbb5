/* proxy/server.h - the edgehook server: listeners, one h2o event loop per worker thread and per store loop, signals, graceful
 * shutdown, reload. */
#ifndef EDGE_PROXY_SERVER_H
#define EDGE_PROXY_SERVER_H

#include <stdatomic.h>
#include <h2o.h>
#include "cache/object.h"
#include "conf/config.h"

struct edge_gen;
struct hook_thread;
struct store;

/**
 * One event-loop thread: a worker (accepts the main and admin listeners; has the per-thread state of every module) or a store
 * loop (accepts the store listener alone, at the store threads' priority; only the store's and the counting handler run there,
 * so its cache thread, hooks and offload receiver stay unset). Both have their h2o context, control receiver, in-flight count and
 * generation references.
 */
typedef struct server_worker {
    unsigned id; /* among the workers, or among the store loops */
    int store_loop;
    pthread_t tid;
    h2o_context_t ctx;
    h2o_accept_ctx_t *accept_ctxs; /* one per listener */
    h2o_socket_t **listeners;
    size_t num_listeners;
    cache_thread_t cache_thread;
    h2o_multithread_receiver_t control; /* shutdown, purge barriers, reload */
    h2o_multithread_receiver_t offload_receiver; /* results of hook calls run on offload threads */
    struct hook_thread *hooks;
    _Atomic uint64_t inflight; /* requests being served */
    uint64_t next_request_seq;
    struct server_timeout *timeouts; /* per-duration timers created on demand (see server_timeout) */
    int stopping;
    /* the configuration generation this worker serves new requests with, and older ones that requests still use */
    struct edge_gen *gen;
    uint64_t gen_uses;
    struct {
        struct edge_gen *gen;
        uint64_t uses;
    } * old_gens;
    size_t num_old_gens;
} server_worker_t;

/** the process-wide server */
typedef struct server {
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *main_host, *store_host, *admin_host;
    h2o_hostconf_t *main_hosts[2], *store_hosts[2], *admin_hosts[2];
    int *listen_fds;
    SSL_CTX **listen_ssl;
    int *listen_kind; /* 0 main, 1 store, 2 admin */
    size_t num_listen;
    server_worker_t *workers;
    unsigned num_workers;
    server_worker_t *store_loops; /* store.io_threads of them when the store is on */
    unsigned num_store_loops;
    struct edge_gen *_Atomic gen; /* the current configuration generation (swapped on reload) */
    struct store *store;
    _Atomic int stopping; /* 1: draining (SIGTERM/SIGINT), 2: stopping now (grace over, or a second signal) */
    _Atomic int ready;    /* the traffic listeners are open: the start (store seed included) is done */
    uint64_t started_at;
} server_t;

extern server_t server;

/** the worker or store loop running on the calling thread (NULL on the main thread and other threads) */
server_worker_t *server_worker_current(void);
/** makes w the calling thread's worker (worker threads; unit tests that drive a loop themselves) */
void server_worker_bind(server_worker_t *w);

/** an h2o timeout of `ms` on the worker's loop (created once per distinct duration, kept for the life of the loop) */
h2o_timeout_t *server_timeout(server_worker_t *w, uint64_t ms);

/** the generation a new request on worker w uses (w's current one); pair with server_gen_release when the request ends */
static inline struct edge_gen *server_gen_acquire(server_worker_t *w)
{
    ++w->gen_uses;
    return w->gen;
}
/** a request that used generation g on worker w ended; an old generation nobody uses any more is let go */
void server_gen_release(server_worker_t *w, struct edge_gen *g);
/**
 * Runs fn(arg) on the loop of one worker (round robin), e.g. to start there what must start on a worker (lambda_invoke_run).
 * Any thread. -1 when the server is stopping (fn will not run).
 */
int server_run_on_worker(void (*fn)(void *), void *arg);
/**
 * Publishes a new generation (the caller's reference passes to the server): every worker and store loop switches to it for new
 * requests within one loop iteration; requests in flight finish on the generation they started with. Any thread. -1 (logged,
 * gen released, the running generation stays) when the registry changes gen was built on cannot be written to the state dir.
 */
int server_publish_gen(struct edge_gen *gen);

/**
 * A change of hook versions or aliases, on the control thread only (which serialises them with reloads): server_hooks_begin
 * opens a registry transaction; server_hooks_commit with rebind resolves the hook references against it and publishes the
 * generation, which commits it (without rebind it commits at once); -1 with a reason when the bindings do not resolve, -2 when the
 * state dir cannot be written; then nothing changed. server_hooks_abort drops it.
 */
struct hook_versions_txn *server_hooks_begin(void);
int server_hooks_commit(struct hook_versions_txn *txn, int rebind, char *err, size_t errlen);
void server_hooks_abort(struct hook_versions_txn *txn);

/** SIGHUP: queues a reload of the config file on the control thread (SIGHUPs while one is queued are one reload); a broken
 * file is refused with its error logged and counted, and the running configuration keeps serving */
void server_reload(void);

/**
 * A reload on the control thread, now (POST /reload; SIGHUP queues one): 0 when applied, with *answer a malloc'ed JSON object
 * {"result": "ok", "generation", "changes": {"added", "removed", "changed"}, "summary": "changed"|"no change", "warnings": [...]}
 * (settings that need a restart, compared with what runs); -1 when refused, with the reason in err (FILE:LINE: KEY: reason),
 * and the running configuration keeps serving. Counted in metrics either way.
 */
int server_reload_now(char *err, size_t errlen, char **answer);

/** what /healthz says: "starting" (the store seed runs; 503), "ok" (200), "draining" (after SIGTERM; 503) */
const char *server_health(void);

/** runs the server on conf until SIGTERM/SIGINT and the drain; returns the exit status (0; 1 when the start failed, the store
 * seed included; 128 + the signal number when a second SIGTERM/SIGINT cut the drain short) */
int server_run(conf_t *conf);

/** milliseconds since the epoch (the loop's cached clock on worker threads) */
int64_t server_now_ms(void);

/** loads every listener's TLS certificate and key as a start would (`edgehook -t`): 0, or -1 with
 * `FILE:LINE: listen[N].tls.certificate: reason` (or `.tls.key`: unreadable, not PEM, not the certificate's key) in err */
int server_check_tls(const conf_t *conf, char *err, size_t errlen);

#endif
