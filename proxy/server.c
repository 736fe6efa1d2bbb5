/* proxy/server.c - listeners (HTTP/1.1, h2c, h2 over TLS with ALPN), one h2o event loop per worker thread and per store loop,
 * signals, graceful shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "hooks/hooks.h"
#include "proxy/accesslog.h"
#include "proxy/control.h"
#include "proxy/fleet.h"
#include "proxy/dynorigin.h"
#include "cache/key.h"
#include "proxy/gen.h"
#include "proxy/handler.h"
#include "proxy/kvapi.h"
#include "proxy/lambdaasync.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/str.h"
#include "base/worker.h"
#include "conf/diff.h"
#include "proxy/metrics.h"
#include "proxy/offload.h"
#include "proxy/s3origin.h"
#include "proxy/reqcheck.h"
#include "proxy/server.h"
#include "cache/disk.h"
#include "proxy/storeevents.h"
#include <h2o/http1.h> /* H2O_HTTP1_CALLBACKS (needs h2o.h first) */
#ifdef EDGE_HAVE_STORE_STORE
#include "store/store.h"
#define HAVE_STORE 1
#endif
#ifdef HAVE_STORE
/* store requests whose answer comes back from the store threads to this loop (the client may have gone already) */
#include "store/http1.h"
#include "store/seed.h"
#define store_jobs_out() store_thread_jobs()
#define seed_stop() store_seed_stop()
#define store_loop_priority() store_lower_priority()
#else
#define store_jobs_out() 0u
#define STORE_H2_MAX_BODY (64ull << 20)
#define store_loop_priority() ((void)0)
#define seed_stop() ((void)0)
#endif
#ifdef EDGE_HAVE_PROXY_ADMIN
#include "proxy/admin.h"
#define HAVE_ADMIN 1
#endif
#ifdef EDGE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* allocations the server cannot go on without: out of memory here stops the process with a message, not a NULL dereference */
static void *server_calloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL) {
        log_error("out of memory (%zu x %zu bytes)", n, size);
        abort();
    }
    return p;
}

server_t server;
static __thread server_worker_t *current_worker;

struct server_timeout {
    struct server_timeout *next;
    uint64_t ms;
    h2o_timeout_t timeout;
};

enum { LISTEN_MAIN = 0, LISTEN_STORE = 1, LISTEN_ADMIN = 2 };
static const char *const listen_kind_names[] = {"main", "store", "admin"};

typedef struct control_msg {
    h2o_multithread_message_t super;
    int type;
    edge_gen_t *gen;    /* CONTROL_SWITCH: a reference for the worker */
    void (*fn)(void *); /* CONTROL_RUN */
    void *arg;
} control_msg_t;
enum { CONTROL_STOP = 1, CONTROL_SWITCH = 2, CONTROL_RUN = 3, CONTROL_OPEN = 4 };

/* the event-loop threads that have not returned yet (the drain waits for them while it still takes signals) */
static _Atomic unsigned loops_running;
/* limits.shutdown_grace of the generation in force (the main thread reads it: a generation may be released under it) */
static _Atomic uint64_t shutdown_grace_ms;

/* tells the service manager (systemd, Type=notify) where the process is: READY=1, RELOADING=1, STOPPING=1. A no-op when the
 * build has no libsystemd or when the process was not started by systemd ($NOTIFY_SOCKET unset) */
static void notify(const char *state)
{
#ifdef EDGE_HAVE_SYSTEMD
    if (strncmp(state, "RELOADING=1", 11) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sd_notifyf(0, "%s\nMONOTONIC_USEC=%llu", state,
                   (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    } else {
        sd_notify(0, state);
    }
#else
    (void)state;
#endif
}

const char *server_health(void)
{
    if (atomic_load(&server.stopping))
        return "draining";
    return atomic_load(&server.ready) ? "ok" : "starting";
}

server_worker_t *server_worker_current(void)
{
    return current_worker;
}

void server_worker_bind(server_worker_t *w)
{
    current_worker = w;
}

int64_t server_now_ms(void)
{
    if (current_worker != NULL)
        return (int64_t)h2o_now(current_worker->ctx.loop); /* the loop's clock: wall time in ms, updated every iteration */
    return edge_realtime_ms();
}

h2o_timeout_t *server_timeout(server_worker_t *w, uint64_t ms)
{
    struct server_timeout *t;
    for (t = w->timeouts; t != NULL; t = t->next)
        if (t->ms == ms)
            return &t->timeout;
    t = server_calloc(1, sizeof(*t));
    t->ms = ms;
    h2o_timeout_init(w->ctx.loop, &t->timeout, ms);
    t->next = w->timeouts;
    w->timeouts = t;
    return &t->timeout;
}

/* ---- listeners ------------------------------------------------------------------------------------------------------------ */

/* errors name the setting as -t does: FILE:LINE: listen[0]: ... */
static int open_listener(const char *file, conf_listen_t *l, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    int fd = -1, on = 1, r;

    snprintf(port, sizeof(port), "%u", l->port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((r = getaddrinfo(l->host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s:%d: %s.host: cannot resolve listen address %s: %s", file, l->line, l->key, l->host,
                 gai_strerror(r));
        return -1;
    }
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, 1024) != 0) {
        snprintf(err, errlen, "%s:%d: %s: cannot listen on %s port %u: %s", file, l->line, l->key, l->host, l->port,
                 strerror(errno));
        if (fd != -1)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
#ifdef TCP_DEFER_ACCEPT
    /* no: h2o must see plain connects too (health checks that only connect) */
#endif
    fcntl(fd, F_SETFL, O_NONBLOCK);
    if (l->port == 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        getsockname(fd, (void *)&ss, &len);
        l->port = (uint16_t)h2o_socket_getport((void *)&ss);
    }
    return fd;
}

/* OpenSSL's reason for a failure: its first error, the cause ("no start line"; later ones say where it surfaced, "PEM lib");
 * the queue is emptied, so the next check starts clean */
static const char *ssl_reason_code(unsigned long *code)
{
    unsigned long e = ERR_get_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (code != NULL)
        *code = e;
    return r != NULL ? r : "unknown OpenSSL error";
}

static const char *ssl_reason(void)
{
    return ssl_reason_code(NULL);
}

/* the listener's TLS context; errors are FILE:LINE: listen[0].tls.certificate: ... (or .tls.key) */
static SSL_CTX *make_server_ssl_ctx(const char *file, const conf_listen_t *l, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "%s:%d: %s.tls: cannot create a TLS context: %s", file, l->line, l->key, ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, l->tls_certificate) != 1) {
        snprintf(err, errlen, "%s:%d: %s.tls.certificate: cannot load \"%s\" as a PEM certificate: %s", file, l->certificate_line,
                 l->key, l->tls_certificate, ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, l->tls_key, SSL_FILETYPE_PEM) != 1) {
        unsigned long code;
        const char *why = ssl_reason_code(&code);
        if (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) /* a valid key, of another certificate */
            snprintf(err, errlen, "%s:%d: %s.tls.key: \"%s\" is not the key of the certificate \"%s\" (%s)", file, l->key_line,
                     l->key, l->tls_key, l->tls_certificate, why);
        else
            snprintf(err, errlen, "%s:%d: %s.tls.key: cannot load \"%s\" as a PEM private key: %s", file, l->key_line, l->key,
                     l->tls_key, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s:%d: %s.tls.key: \"%s\" is not the key of the certificate \"%s\" (%s)", file, l->key_line, l->key,
                 l->tls_key, l->tls_certificate, ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* h2o_alpn_protocols offers h2 and http/1.1 (h2o_http2_alpn_protocols lacks http/1.1) */
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    return ctx;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *actx = listener->data;
    int i;
    if (err != NULL)
        return;
    /* accept a batch per readiness event, like h2o's own server */
    for (i = 0; i != 16; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        metrics_conn_accepted(sock, server.listen_kind[actx - current_worker->accept_ctxs], actx->ssl_ctx != NULL);
#ifdef HAVE_STORE
        /* the store listener's HTTP/1.1 is the store's own (request bodies streamed to disk, store/http1.h) */
        if (server.listen_kind[actx - current_worker->accept_ctxs] == LISTEN_STORE) {
            store_http1_accept(actx, sock);
            continue;
        }
#endif
        h2o_accept(actx, sock);
    }
}

/* ---- the worker threads --------------------------------------------------------------------------------------------------- */

/* the listeners of traffic (main, store) close at a stop; the admin listener stays open until the loop ends, so that /healthz
 * says `draining` and /metrics can be read during the drain */
static void close_listeners(server_worker_t *w)
{
    for (size_t i = 0; i != w->num_listeners; ++i) {
        if (w->listeners[i] != NULL && server.listen_kind[i] != LISTEN_ADMIN) {
            h2o_socket_read_stop(w->listeners[i]);
            h2o_socket_close(w->listeners[i]);
            w->listeners[i] = NULL;
        }
    }
}

void server_gen_release(server_worker_t *w, edge_gen_t *g)
{
    if (g == w->gen) {
        --w->gen_uses;
        return;
    }
    for (size_t i = 0; i != w->num_old_gens; ++i) {
        if (w->old_gens[i].gen == g) {
            if (--w->old_gens[i].uses == 0) {
                w->old_gens[i] = w->old_gens[--w->num_old_gens];
                gen_release(g);
            }
            return;
        }
    }
    EDGE_ASSERT(!"released a generation this worker does not know");
}

/* new requests use gen from now on; the current one is kept while requests use it */
static void switch_gen(server_worker_t *w, edge_gen_t *gen)
{
    if (w->gen != NULL) {
        if (w->gen_uses == 0) {
            gen_release(w->gen);
        } else {
            w->old_gens = realloc(w->old_gens, sizeof(*w->old_gens) * (w->num_old_gens + 1));
            if (w->old_gens == NULL)
                h2o_fatal("no memory");
            w->old_gens[w->num_old_gens].gen = w->gen;
            w->old_gens[w->num_old_gens].uses = w->gen_uses;
            ++w->num_old_gens;
        }
    }
    w->gen = gen;
    w->gen_uses = 0;
    /* nothing is compiled here: the new hook versions' states were built ahead on the control thread (hook_fn_prebuild), and
     * a thread's first call takes one */
}

/* the Lua states of the generation's hook versions, built ahead (on the control thread) for the workers to take */
static void prebuild_hooks(edge_gen_t *gen)
{
    for (size_t k = 0; gen->hooks[k] != NULL; ++k)
        hook_fn_prebuild(gen->hooks[k], server.num_workers);
}

/* the i-th event-loop thread: the workers first, then the store loops */
static server_worker_t *loop_at(unsigned i)
{
    return i < server.num_workers ? &server.workers[i] : &server.store_loops[i - server.num_workers];
}

/* a control message to every worker and store loop (CONTROL_SWITCH: each gets a reference to gen) */
static void send_control_all(int type, edge_gen_t *gen)
{
    for (unsigned i = 0; i != server.num_workers + server.num_store_loops; ++i) {
        server_worker_t *w = loop_at(i);
        control_msg_t *m = server_calloc(1, sizeof(*m));
        m->type = type;
        if ((m->gen = gen) != NULL)
            gen_addref(gen);
        h2o_multithread_send_message(&w->control, &m->super);
    }
}

int server_run_on_worker(void (*fn)(void *), void *arg)
{
    static _Atomic unsigned next;
    if (atomic_load(&server.stopping) || server.workers == NULL || server.num_workers == 0)
        return -1;
    control_msg_t *m = server_calloc(1, sizeof(*m));
    m->type = CONTROL_RUN;
    m->fn = fn;
    m->arg = arg;
    h2o_multithread_send_message(&server.workers[atomic_fetch_add(&next, 1) % server.num_workers].control, &m->super);
    return 0;
}

/* -2 with a reason (and gen released) when the registry changes gen was built on cannot be kept */
static int publish_gen(edge_gen_t *gen, char *err, size_t errlen)
{
    edge_gen_t *old;
    if (gen_commit(gen, err, errlen) != 0) { /* the registry changes it was built on take effect with it */
        gen_release(gen);
        return -2;
    }
    prebuild_hooks(gen);
    send_control_all(CONTROL_SWITCH, gen);
    old = atomic_exchange(&server.gen, gen);
    metrics_generation(gen->id);
    atomic_store(&shutdown_grace_ms, gen->conf->limits.shutdown_grace_ms);
    if (old != NULL)
        gen_release(old);
    return 0;
}

int server_publish_gen(edge_gen_t *gen)
{
    char err[1024];
    if (publish_gen(gen, err, sizeof(err)) != 0) {
        log_error("the new configuration is not applied: %s", err);
        return -1;
    }
    return 0;
}

static void open_listeners(server_worker_t *w, int admin);

static int no_keepalive(h2o_req_t *req, void *unused)
{
    req->http1_is_persistent = 0;
    return 0;
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    server_worker_t *w = H2O_STRUCT_FROM_MEMBER(server_worker_t, control, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        control_msg_t *m = H2O_STRUCT_FROM_MEMBER(control_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->type == CONTROL_SWITCH) {
            switch_gen(w, m->gen);
        } else if (m->type == CONTROL_RUN) {
            m->fn(m->arg);
        } else if (m->type == CONTROL_OPEN && !w->stopping) {
            open_listeners(w, 0);
        } else if (m->type == CONTROL_STOP && !w->stopping) {
            w->stopping = 1;
            close_listeners(w);
            /* HTTP/1 requests being served answer Connection: close (h2o decides keep-alive when it parses a request, and
             * says close by itself only for requests parsed after the shutdown request) */
            if (H2O_HTTP1_CALLBACKS.foreach_request != NULL)
                H2O_HTTP1_CALLBACKS.foreach_request(&w->ctx, no_keepalive, NULL);
            /* HTTP/2 connections get GOAWAY (a second one with the last stream after a second, then stragglers are closed
             * after http2.graceful_shutdown_timeout = limits.shutdown_grace); HTTP/1 requests from now on Connection: close */
            h2o_context_request_shutdown(&w->ctx);
        }
        free(m);
    }
}

/*
 * A handler in front of the store and admin handlers: it counts their requests as in flight and holds them to the same HTTP/1
 * framing rules and header-list caps as the proxy's (proxy/reqcheck.h), answering 400/431/505 and closing the connection;
 * the target is left as sent (S3 keys may hold `..` and `//`, and the store signs the raw path). Falls through otherwise.
 * The store's runs on a store loop (and counts the request for that loop), the admin API's on a worker.
 */
static int on_count_req(h2o_handler_t *self, h2o_req_t *req)
{
    const char *reason;
    int status, metric;

    atomic_fetch_add_explicit(&current_worker->inflight, 1, memory_order_relaxed);
    if (current_worker->store_loop)
        metrics_store_request();
    if ((status = handler_check_head(req, current_worker->gen->conf, &reason, &metric)) == 0)
        return -1;
    metrics_count(metric, 1);
    req->http1_is_persistent = 0;
    h2o_send_error_generic(req, status,
                           status == 505   ? "HTTP Version Not Supported"
                           : status == 431 ? "Request Header Fields Too Large"
                                           : "Bad Request",
                           reason, H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION);
    return 0;
}

static void on_count_done(h2o_logger_t *self, h2o_req_t *req)
{
    atomic_fetch_sub_explicit(&current_worker->inflight, 1, memory_order_relaxed);
    metrics_conn_request(req);
#ifdef HAVE_STORE
    if (current_worker->store_loop && server.store != NULL)
        metrics_store_op(store_op_of(server.store, req), req->res.status, req->entity.len, req->bytes_sent);
#endif
}

/* the main listener's requests: what protocol their connection speaks (the store's and the admin's are in on_count_done) */
static void on_main_done(h2o_logger_t *self, h2o_req_t *req)
{
    metrics_conn_request(req);
}

__attribute__((unused)) static void register_counting(h2o_pathconf_t *pc)
{
    h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_count_req;
    h2o_create_logger(pc, sizeof(h2o_logger_t))->log_access = on_count_done;
}

static void on_flush_timer(h2o_timeout_entry_t *entry);
static __thread h2o_timeout_entry_t flush_entry = {0, on_flush_timer};

static void on_flush_timer(h2o_timeout_entry_t *entry)
{
    server_worker_t *w = current_worker;
    if (accesslog_enabled())
        accesslog_flush();
    hook_thread_sweep(w->hooks);
    h2o_timeout_link(w->ctx.loop, &w->ctx.hundred_ms_timeout, &flush_entry);
}

/* the main thread waits for every worker's receivers before it handles a signal: a SIGHUP or SIGTERM that came earlier sent
 * to a receiver with no queue yet (ThreadSanitizer saw the queue's first use race with its creation) */
static pthread_barrier_t workers_ready;

/* the listeners a loop accepts: the store listener on the store loops, every other one on the workers (the others' slots stay
 * NULL). The admin listener opens first (admin = 1, when the loop starts: /healthz answers `starting` during a store seed),
 * the others when the server is ready (CONTROL_OPEN) */
static void open_listeners(server_worker_t *w, int admin)
{
    if (w->listeners == NULL) {
        w->num_listeners = server.num_listen;
        w->accept_ctxs = server_calloc(server.num_listen, sizeof(h2o_accept_ctx_t));
        w->listeners = server_calloc(server.num_listen, sizeof(h2o_socket_t *));
    }
    for (size_t i = 0; i != server.num_listen; ++i) {
        if ((server.listen_kind[i] == LISTEN_STORE) != (w->store_loop != 0) || (server.listen_kind[i] == LISTEN_ADMIN) != admin ||
            w->listeners[i] != NULL)
            continue;
        int fd = dup(server.listen_fds[i]);
        h2o_accept_ctx_t *a = &w->accept_ctxs[i];
        a->ctx = &w->ctx;
        a->ssl_ctx = server.listen_ssl[i];
        a->hosts = server.listen_kind[i] == LISTEN_STORE ? server.store_hosts
                   : server.listen_kind[i] == LISTEN_ADMIN ? server.admin_hosts
                                                           : server.main_hosts;
        fcntl(fd, F_SETFL, O_NONBLOCK);
        w->listeners[i] = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        w->listeners[i]->data = a;
        h2o_socket_read_start(w->listeners[i], on_accept);
    }
}

/* runs the loop until it is stopped and has nothing in flight (requests, store jobs), or the grace period is over */
static void run_loop(server_worker_t *w)
{
    while (!(w->stopping && atomic_load(&w->inflight) == 0 && store_jobs_out() == 0) && atomic_load(&server.stopping) < 2) {
        /* the CPU time of each iteration (not the wall time: a preempted loop is not a blocked one) */
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        h2o_evloop_run(w->ctx.loop, 100);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        int64_t ns = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
        metrics_loop_busy(ns > 0 ? (uint64_t)ns / 1000 : 0);
    }
}

static void *worker_main(void *arg)
{
    server_worker_t *w = arg;

    server_worker_bind(w);
    edge_worker_enter(w->id);
    h2o_context_init(&w->ctx, h2o_evloop_create(), &server.globalconf);
    cache_thread_init(&w->cache_thread, w->ctx.loop, w->ctx.queue, &w->ctx.zero_timeout);
    h2o_multithread_register_receiver(w->ctx.queue, &w->control, on_control);
    offload_receiver_init(&w->offload_receiver, w->ctx.queue);
    control_bind_worker(w->ctx.queue);    /* completions of the jobs this worker posts to the control thread */
    pthread_barrier_wait(&workers_ready); /* the main thread may send to the receivers from now on */
    if ((w->hooks = hook_thread_new()) == NULL)
        h2o_fatal("cannot create the hooks runtime of a worker thread");
    open_listeners(w, 1);
    h2o_timeout_link(w->ctx.loop, &w->ctx.hundred_ms_timeout, &flush_entry);
    run_loop(w);
    dynorigin_thread_dispose();
    if (accesslog_enabled())
        accesslog_flush();
    atomic_fetch_sub(&loops_running, 1);
    return NULL;
}

/*
 * A store loop: h2o's side of the S3 requests (parsing, receiving request bodies whole - libh2o 2.2.5 buffers them - and freeing
 * those buffers, sending GET bodies) and the completions of their store jobs, at the store threads' priority, so that none of it
 * delays a worker's cache hits. It needs no cache thread, hook runtime, offload receiver or access log (store requests are not
 * logged); the counting handler reads its generation.
 */
static void *store_loop_main(void *arg)
{
    server_worker_t *w = arg;

    server_worker_bind(w);
    edge_store_loop_enter(w->id);
    store_loop_priority();
    h2o_context_init(&w->ctx, h2o_evloop_create(), &server.globalconf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->control, on_control);
    pthread_barrier_wait(&workers_ready); /* the main thread may send to the receiver from now on */
    open_listeners(w, 1);                 /* none: the store listener opens when the server is ready */
    run_loop(w);
    atomic_fetch_sub(&loops_running, 1);
    return NULL;
}

/* ---- setup ---------------------------------------------------------------------------------------------------------------- */

/* err becomes FILE:LINE: KEY: err, the form of every configuration error */
static void prefix_error(const char *file, int line, const char *key, char *err, size_t errlen)
{
    char *msg = strdup(err);
    if (msg == NULL)
        return;
    snprintf(err, errlen, "%s:%d: %s: %s", file, line, key, msg);
    free(msg);
}

int server_check_tls(const conf_t *conf, char *err, size_t errlen)
{
    for (size_t i = 0; i != conf->num_listen; ++i) {
        SSL_CTX *ctx;
        if (conf->listen[i].tls_certificate == NULL)
            continue;
        if ((ctx = make_server_ssl_ctx(conf->file, &conf->listen[i], err, errlen)) == NULL)
            return -1;
        SSL_CTX_free(ctx);
    }
    return 0;
}

static int setup_hosts(conf_t *conf, char *err, size_t errlen)
{
    h2o_pathconf_t *pc;
    h2o_globalconf_t *g = &server.globalconf;

    h2o_config_init(g);
    /* no Server header of our own: origins' Server passes through, as CloudFront does */
    g->server_name = h2o_iovec_init(H2O_STRLIT(""));
    g->max_request_entity_size = conf->limits.max_request_body;
    /* the store's HTTP/1.1 bodies are streamed (store/http1.h) and capped by the store (EntityTooLarge); over HTTP/2, h2o still
     * buffers a body whole: up to STORE_H2_MAX_BODY (or max_put_size if smaller), a larger one has its stream refused */
    uint64_t h2_store = conf->store.max_put_size < STORE_H2_MAX_BODY ? conf->store.max_put_size : STORE_H2_MAX_BODY;
    if (conf->store.enabled && h2_store + (1u << 20) > g->max_request_entity_size)
        g->max_request_entity_size = h2_store + (1u << 20); /* aws-chunked framing on top */
    g->http1.req_timeout = conf->limits.client_timeout_ms;
    g->http2.idle_timeout = conf->limits.client_timeout_ms;
    g->http2.max_concurrent_requests_per_connection = conf->limits.max_streams_per_connection;
    g->http2.graceful_shutdown_timeout = conf->limits.shutdown_grace_ms;

    server.main_host = h2o_config_register_host(g, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pc = h2o_config_register_path(server.main_host, "/", 0);
    handler_register(pc);
    h2o_create_logger(pc, sizeof(h2o_logger_t))->log_access = on_main_done;
    server.main_hosts[0] = server.main_host;

    if (conf->store.enabled) {
#ifdef HAVE_STORE
        server.store_host = h2o_config_register_host(g, h2o_iovec_init(H2O_STRLIT("store")), 65535);
        pc = h2o_config_register_path(server.store_host, "/", 0);
        register_counting(pc);
        if ((server.store = store_create(&conf->store, err, errlen)) == NULL) {
            prefix_error(conf->file, conf->store.line, "store", err, errlen);
            return -1;
        }
        store_register(server.store, pc);
        store_http1_configure(&(store_http1_conf_t){reqcheck_http1_head});
        server.store_hosts[0] = server.store_host;
#else
        snprintf(err, errlen, "%s:%d: store: this build has no embedded store", conf->file, conf->store.line);
        return -1;
#endif
    }
    if (conf->admin.enabled) {
#ifdef HAVE_ADMIN
        server.admin_host = h2o_config_register_host(g, h2o_iovec_init(H2O_STRLIT("admin")), 65535);
        pc = h2o_config_register_path(server.admin_host, "/", 0);
        register_counting(pc);
        admin_register(pc, conf);
        server.admin_hosts[0] = server.admin_host;
#else
        snprintf(err, errlen, "%s:%d: admin: this build has no admin API", conf->file, conf->admin.line);
        return -1;
#endif
    }
    return 0;
}

static int setup_listeners(conf_t *conf, char *err, size_t errlen)
{
    size_t n = conf->num_listen + (conf->store.enabled ? 1 : 0) + (conf->admin.enabled ? 1 : 0), i, k = 0;
    server.listen_fds = server_calloc(n, sizeof(int));
    server.listen_ssl = server_calloc(n, sizeof(SSL_CTX *));
    server.listen_kind = server_calloc(n, sizeof(int));
    for (i = 0; i != n; ++i) {
        conf_listen_t *l;
        int kind;
        if (i < conf->num_listen) {
            l = &conf->listen[i];
            kind = LISTEN_MAIN;
        } else if (conf->store.enabled && i == conf->num_listen) {
            l = &conf->store.listen;
            kind = LISTEN_STORE;
        } else {
            l = &conf->admin.listen;
            kind = LISTEN_ADMIN;
        }
        if ((server.listen_fds[k] = open_listener(conf->file, l, err, errlen)) == -1)
            return -1;
        if (l->tls_certificate != NULL && (server.listen_ssl[k] = make_server_ssl_ctx(conf->file, l, err, errlen)) == NULL)
            return -1;
        server.listen_kind[k] = kind;
        log_info("listening: %s %s://%s%s%s:%u", listen_kind_names[kind], l->tls_certificate != NULL ? "https" : "http",
                 strchr(l->host, ':') != NULL ? "[" : "", l->host, strchr(l->host, ':') != NULL ? "]" : "", l->port);
        ++k;
    }
    server.num_listen = k;
    return 0;
}

/* embedded S3 origins talk to our own store listener, signed with the store's credentials */
static void connect_embedded_origins(edge_gen_t *gen)
{
#ifdef HAVE_STORE
    const char *ak = NULL, *sk = NULL;
    if (server.store == NULL)
        return;
    store_get_credentials(server.store, &ak, &sk);
    /* hooks may name the store as an S3 origin (its address, or BUCKET.its domain, on its port) */
    s3origin_set_store(gen->conf->store.listen.host, gen->conf->store.listen.port, gen->conf->store.domain, ak, sk);
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        if (gen->conf->origins[i].embedded)
            s3origin_set_embedded(gen->origins[i], gen->conf->store.listen.host, gen->conf->store.listen.port, ak, sk);
#else
    (void)gen;
#endif
}

static int listen_equal(const conf_listen_t *a, const conf_listen_t *b)
{
#define STREQ(x, y) (((x) == NULL && (y) == NULL) || ((x) != NULL && (y) != NULL && strcmp((x), (y)) == 0))
    return STREQ(a->host, b->host) && (a->port == b->port || b->port == 0) && STREQ(a->tls_certificate, b->tls_certificate) &&
           STREQ(a->tls_key, b->tls_key);
#undef STREQ
}

/* the configuration the process started with: what runs of the settings a reload cannot change (listeners as bound, threads,
 * the store, the admin listener, the cache's bound, the client timeout). Reloads compare with it, not with the previous reload's
 * file, so that putting a setting back to its running value stops the warning. */
static edge_conf_ref_t *running_ref;

/* the restart-only warnings of one reload: logged, and listed in POST /reload's answer */
typedef struct restart_warnings {
    char text[2048];
    size_t len;
} restart_warnings_t;

__attribute__((format(printf, 2, 3))) static void restart_warn(restart_warnings_t *w, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("reload: %s", msg);
    if (w->len + 8 < sizeof(w->text)) {
        if (w->len != 0)
            w->text[w->len++] = ',';
        w->len += edge_json_string(w->text + w->len, sizeof(w->text) - w->len, msg, strlen(msg));
    }
}

/* what a reload cannot change without a restart, compared with what runs: say so, and keep serving with what runs */
static int conf_fleet_differs(const conf_t *a, const conf_t *b)
{
    if ((a->fleet.line != 0) != (b->fleet.line != 0))
        return 1;
    if (a->fleet.line == 0)
        return 0;
    if (a->fleet.etcd.count != b->fleet.etcd.count || strcmp(a->fleet.prefix, b->fleet.prefix) != 0 ||
        strcmp(a->fleet.node, b->fleet.node) != 0 || a->fleet.ack_timeout_ms != b->fleet.ack_timeout_ms ||
        a->fleet.lease_ttl_ms != b->fleet.lease_ttl_ms || a->fleet.timeout_ms != b->fleet.timeout_ms)
        return 1;
    for (size_t i = 0; i != a->fleet.etcd.count; ++i)
        if (strcmp(a->fleet.etcd.names[i], b->fleet.etcd.names[i]) != 0)
            return 1;
    return 0;
}

static void warn_restart_only(const conf_t *run, const conf_t *new, restart_warnings_t *w)
{
    int same = run->num_listen == new->num_listen;
    for (size_t i = 0; same && i != run->num_listen; ++i)
        same = listen_equal(&run->listen[i], &new->listen[i]);
    if (!same)
        restart_warn(w, "listen changed; listeners are kept as they are until a restart");
    if (server.num_workers != new->threads)
        restart_warn(w, "threads changed (%u running, %u in the file); the number of workers is kept until a restart",
                     server.num_workers, new->threads);
    if (strcmp(run->state_dir, new->state_dir) != 0)
        restart_warn(w, "state_dir changed; hook versions and aliases stay in %s until a restart", run->state_dir);
    if (run->store.enabled != new->store.enabled ||
        (run->store.enabled &&
         (!listen_equal(&run->store.listen, &new->store.listen) || strcmp(run->store.root, new->store.root) != 0 ||
          run->store.threads != new->store.threads || run->store.io_threads != new->store.io_threads)))
        restart_warn(w, "store changed; the store is kept as it is until a restart");
    if (run->admin.enabled != new->admin.enabled || (run->admin.enabled && !listen_equal(&run->admin.listen, &new->admin.listen)))
        restart_warn(w, "admin.listen changed; kept until a restart (a new admin token applies now)");
    if (run->cache.memory != new->cache.memory)
        restart_warn(w, "cache.memory changed (%llu running, %llu in the file); the cache keeps its bound until a restart",
                     (unsigned long long)run->cache.memory, (unsigned long long)new->cache.memory);
    if ((run->cache.disk_path == NULL) != (new->cache.disk_path == NULL) ||
        (run->cache.disk_path != NULL && (strcmp(run->cache.disk_path, new->cache.disk_path) != 0 || run->cache.disk_size != new->cache.disk_size)))
        restart_warn(w, "cache.disk changed; the disk tier is kept as it is until a restart");
    if (run->limits.client_timeout_ms != new->limits.client_timeout_ms)
        restart_warn(w, "limits.client_timeout changed; it applies after a restart");
    if (conf_fleet_differs(run, new))
        restart_warn(w, "fleet changed; the node keeps its etcd settings until a restart");
}

/* reloads and admin changes build generations from the current one, one at a time: on the control thread (no lock: they are
 * its jobs, run one after the other) */
hook_versions_txn_t *server_hooks_begin(void)
{
    EDGE_ASSERT(control_is_current());
    return hook_versions_begin();
}

int server_hooks_commit(hook_versions_txn_t *txn, int rebind, char *err, size_t errlen)
{
    edge_gen_t *gen;
    if (!rebind)
        return hook_versions_commit(txn, err, errlen) != 0 ? -2 : 0;
    if ((gen = gen_rebind(atomic_load(&server.gen), txn, err, errlen)) == NULL) {
        hook_versions_abort(txn);
        return -1;
    }
    return publish_gen(gen, err, errlen);
}

void server_hooks_abort(hook_versions_txn_t *txn)
{
    hook_versions_abort(txn);
}

static _Atomic int reload_queued;

/* the reload itself (control thread): read, build, publish; workers go on serving meanwhile, and switch when it is published */
static int reload_run(char *err, size_t errlen, char **answer)
{
    restart_warnings_t warnings = {{0}, 0};
    edge_gen_t *cur, *gen;
    conf_t *conf, *run = running_ref->conf;
    size_t num_changes;

    EDGE_ASSERT(control_is_current());
    *answer = NULL;
    if (atomic_load(&server.stopping)) {
        snprintf(err, errlen, "shutting down");
        return -1;
    }
    cur = atomic_load(&server.gen);
    log_info("reload: reading %s", cur->conf->file);
    if ((conf = conf_load(cur->conf->file, err, errlen)) == NULL)
        return -1;
    /* the listeners that are bound stay: the new generation describes them as they run (ports bound as 0 included) */
    for (size_t i = 0; i != conf->num_listen && i != run->num_listen; ++i)
        if (conf->listen[i].port == 0)
            conf->listen[i].port = run->listen[i].port;
    if (conf->store.enabled && run->store.enabled && conf->store.listen.port == 0)
        conf->store.listen.port = run->store.listen.port;
    warn_restart_only(run, conf, &warnings);
    kvapi_warn_restart(run, conf);
    if ((gen = gen_new(conf, server.num_workers, err, errlen)) == NULL) {
        /* nothing of it took effect: the hook registry's changes were staged in the generation and are dropped with it */
        conf_free(conf);
        return -1;
    }
    char *diff = conf_diff_json(cur->conf, conf, &num_changes);
    gen_own_conf(gen);
    connect_embedded_origins(gen);
    if (publish_gen(gen, err, errlen) != 0) { /* the registry's changes could not be kept: gen (and conf) released */
        free(diff);
        return -1;
    }
    if (accesslog_open(conf->access_log.path, conf->access_log.json) != 0)
        log_error("reload: access_log: cannot open %s: %s (logging continues where it did)", conf->access_log.path, strerror(errno));
    if (log_open(conf->error_log.path, conf->error_log.level) != 0)
        log_error("reload: error_log: cannot open %s: %s (logging continues where it did)", conf->error_log.path, strerror(errno));
    log_set_json(conf->error_log.json);
    lambda_async_configure(conf);
    log_info("reload: configuration applied (generation %llu): %s", (unsigned long long)gen->id,
             num_changes == 0 ? "no change" : diff);
    size_t cap = strlen(diff) + warnings.len + 160;
    if ((*answer = malloc(cap)) != NULL)
        snprintf(*answer, cap, "{\"result\":\"ok\",\"generation\":%llu,\"changes\":%s,\"summary\":\"%s\",\"warnings\":[%s]}\n",
                 (unsigned long long)gen->id, diff, num_changes == 0 ? "no change" : "changed", warnings.text);
    free(diff);
    return 0;
}

int server_reload_now(char *err, size_t errlen, char **answer)
{
    notify("RELOADING=1");
    int r = reload_run(err, errlen, answer);
    if (r != 0)
        log_error("reload refused, the running configuration stays: %s", err);
    metrics_reload(r == 0);
    if (atomic_load(&server.ready))
        notify("READY=1");
    return r;
}

static void reload_job(void *unused)
{
    char err[CONF_ERRBUF_SIZE], *answer;
    atomic_store(&reload_queued, 0); /* a SIGHUP from now on reads the file again */
    if (atomic_load(&server.stopping)) {
        log_info("reload: not done, shutting down");
        return;
    }
    if (server_reload_now(err, sizeof(err), &answer) == 0)
        free(answer);
}

void server_reload(void)
{
    /* SIGHUPs that arrive while one waits for the control thread are one reload */
    if (atomic_exchange(&reload_queued, 1) == 0)
        control_post(reload_job, NULL, NULL);
}

/* SIGUSR1: every log file is opened again by its name (logrotate renamed it): the error log now, the access log's new file
 * takes the lines formatted from now on (each worker moves to it at its next flush; lines it buffered go to the old one). On
 * the control thread: after or before a reload, never during one, and the current generation stays while it runs */
static void reopen_logs_job(void *unused)
{
    const conf_t *conf = atomic_load(&server.gen)->conf;
    if (log_reopen() != 0)
        log_error("SIGUSR1: error_log: cannot open %s again: %s (logging continues to the old file)", conf->error_log.path,
                  strerror(errno));
    if (conf->access_log.path != NULL && strcmp(conf->access_log.path, "-") != 0 &&
        accesslog_open(conf->access_log.path, conf->access_log.json) != 0)
        log_error("SIGUSR1: access_log: cannot open %s again: %s (logging continues to the old file)", conf->access_log.path,
                  strerror(errno));
    log_info("SIGUSR1: log files reopened");
}

static void reopen_logs(void)
{
    control_post(reopen_logs_job, NULL, NULL);
}

/* a start that stops before the first generation owns the configuration: it is freed here (the process exits) */
static int start_failed(conf_t *conf)
{
    conf_free(conf);
    return 1;
}

/* ---- the main thread: start, signals, drain ------------------------------------------------------------------------------- */

/* the store seed runs on a thread of its own while the admin listener answers /healthz `starting` */
static _Atomic int seed_state; /* 0 running, 1 done, -1 failed */

static void *seed_main(void *arg)
{
    char err[1024];
    int r = 0;
#ifdef HAVE_STORE
    edge_thread_name("seed");
    if ((r = store_seed_buckets(server.store, &((conf_t *)arg)->store, err, sizeof(err))) != 0)
        log_error("%s", err);
#else
    (void)arg;
    (void)err;
#endif
    atomic_store(&seed_state, r == 0 ? 1 : -1);
    return NULL;
}

/* the next signal of set, or 0 after timeout_ms */
static int wait_signal(const sigset_t *set, int64_t timeout_ms)
{
    struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* the listeners of traffic open: the store seed is done */
static void go_ready(const conf_t *conf)
{
    atomic_store(&server.ready, 1);
    send_control_all(CONTROL_OPEN, NULL);
    log_info("edgehook %s started: %u worker threads, %u store loops, config %s", EDGE_VERSION, server.num_workers,
             server.num_store_loops, conf->file);
    notify("READY=1");
}

/* until SIGTERM/SIGINT (returned); starts serving traffic when the seed is done; 1 in *failed when the seed failed */
static int serve_until_signal(const sigset_t *set, const conf_t *conf, pthread_t seed_tid, int seeding, int *failed)
{
    for (;;) {
        int sig = wait_signal(set, 100);
        if (seeding && atomic_load(&seed_state) != 0) {
            pthread_join(seed_tid, NULL);
            seeding = 0;
            if (atomic_load(&seed_state) < 0) {
                *failed = 1;
                return SIGTERM;
            }
            go_ready(conf);
        }
        if (sig == SIGTERM || sig == SIGINT) {
            if (seeding) {
                seed_stop();
                pthread_join(seed_tid, NULL);
            }
            return sig;
        }
        if (sig == SIGHUP)
            server_reload();
        else if (sig == SIGUSR1)
            reopen_logs();
    }
}

/*
 * The drain: the listeners of traffic close at once (new connections are refused), /healthz says `draining`, HTTP/1 answers
 * say Connection: close and HTTP/2 connections get GOAWAY; in-flight requests finish within limits.shutdown_grace. A second
 * SIGTERM or SIGINT stops at once. Returns the exit status: 0, or 128 + the signal number of a second signal.
 */
static int drain(const sigset_t *set)
{
    uint64_t grace_ms = atomic_load(&shutdown_grace_ms); /* of the configuration in force */
    int64_t deadline = edge_realtime_ms() + (int64_t)grace_ms;
    int status = 0;

    lambda_async_stop(grace_ms); /* no new attempts; those running finish on the workers, or run again at the next start */
    log_info("shutting down: finishing in-flight requests (up to %llu ms)", (unsigned long long)grace_ms);
    notify("STOPPING=1");
    atomic_store(&server.stopping, 1);
    /* the store loops too: they finish their requests and wait for their store jobs' answers */
    send_control_all(CONTROL_STOP, NULL);
    /* the loops close their descriptors of the listeners when they get the message; shut down makes the kernel refuse new
     * connections now (and resets those queued and not accepted) rather than queue them for nobody */
    for (size_t i = 0; i != server.num_listen; ++i)
        if (server.listen_kind[i] != LISTEN_ADMIN)
            shutdown(server.listen_fds[i], SHUT_RDWR);
    while (atomic_load(&loops_running) != 0) {
        int64_t left = deadline - edge_realtime_ms();
        if (left <= 0) {
            uint64_t n = 0;
            for (unsigned j = 0; j != server.num_workers + server.num_store_loops; ++j)
                n += atomic_load(&loop_at(j)->inflight);
            log_warn("shutdown grace period over with %llu requests in flight; closing them", (unsigned long long)n);
            atomic_store(&server.stopping, 2);
            break;
        }
        int sig = wait_signal(set, left < 100 ? left : 100);
        if (sig == SIGTERM || sig == SIGINT) {
            log_warn("second %s: stopping now, in-flight requests are cut (exit status %d)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                     128 + sig);
            atomic_store(&server.stopping, 2);
            status = 128 + sig;
            break;
        } else if (sig == SIGUSR1) {
            reopen_logs();
        } else if (sig == SIGHUP) {
            log_info("reload: not done, shutting down");
        }
    }
    for (unsigned i = 0; i != server.num_workers + server.num_store_loops; ++i)
        pthread_join(loop_at(i)->tid, NULL);
    return status;
}

int server_run(conf_t *conf)
{
    char err[1024];
    sigset_t set;
    edge_gen_t *gen;
    unsigned i;
    int status = 0, seed_failed = 0, seeding = 0;
    pthread_t seed_tid = (pthread_t)0;

    signal(SIGPIPE, SIG_IGN);
    /* signals are taken by the main thread only: blocked before any thread starts (the store's, the control thread, kv's), as
     * threads inherit the mask; a thread that did not block one would take it with its default action (SIGINT: terminate) */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (log_open(conf->error_log.path, conf->error_log.level) != 0) {
        fprintf(stderr, "%s: error_log: cannot open %s: %s\n", conf->file, conf->error_log.path, strerror(errno));
        return start_failed(conf);
    }
    log_set_json(conf->error_log.json);
    if (accesslog_open(conf->access_log.path, conf->access_log.json) != 0) {
        log_error("access_log: cannot open %s: %s", conf->access_log.path, strerror(errno));
        return start_failed(conf);
    }
    server.num_workers = conf->threads;
    server.num_store_loops = conf->store.enabled ? conf->store.io_threads : 0;
    metrics_init(server.num_workers, server.num_store_loops);
    cache_key_hash_seed(); /* the cache index's keyed hash: a missing random source stops the start, not a request */
    if (conf->cache.ranges_forward) {
        /* stored parts of 206 responses (cache/partial.h): an eighth of cache.memory, taken from the memory tier's share */
        handler_partial = cache_partial_new(conf->cache.memory / 8, conf->cache.max_object_size);
        handler_cache = cache_mem_new(conf->cache.memory - conf->cache.memory / 8, CACHE_EVICT_S3FIFO);
    } else {
        handler_cache = cache_mem_new(conf->cache.memory, CACHE_EVICT_S3FIFO);
    }
    if (conf->cache.disk_path != NULL) {
        cache_disk_stats_t ds;
        if ((handler_disk = cache_disk_open(conf->cache.disk_path, conf->cache.disk_size, handler_cache, conf->cache.max_object_size,
                                            err, sizeof(err))) == NULL) {
            log_error("%s: cache.disk: %s", conf->file, err);
            return start_failed(conf);
        }
        cache_disk_stats(handler_disk, &ds);
        log_info("cache.disk: %s: %llu objects, %llu bytes; index loaded in %.1f ms (%llu journal entries)", conf->cache.disk_path,
                 (unsigned long long)ds.objects, (unsigned long long)ds.bytes, ds.load_us / 1000.0,
                 (unsigned long long)ds.load_entries);
    }
    if (kvapi_open(conf, err, sizeof(err)) != 0) {
        /* the store whose log the message names, or the first */
        size_t k = 0;
        char key[160];
        for (size_t j = 0; j != conf->num_kv; ++j)
            if (strstr(err, conf->kv[j].path) != NULL)
                k = j;
        snprintf(key, sizeof(key), "kv.%s", conf->num_kv != 0 ? conf->kv[k].name : "");
        prefix_error(conf->file, conf->num_kv != 0 ? conf->kv[k].line : 1, key, err, sizeof(err));
        log_error("%s", err);
        return start_failed(conf);
    }
    if (setup_hosts(conf, err, sizeof(err)) != 0 || setup_listeners(conf, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return start_failed(conf);
    }
    /* the hook versions and aliases kept in the state dir, before the config's hooks are registered on them */
    if (hook_versions_open(conf->state_dir, 0, err, sizeof(err)) != 0) {
        if (conf->state_dir_line != 0)
            log_error("%s:%d: state_dir: %s", conf->file, conf->state_dir_line, err);
        else
            log_error("state_dir (default %s): %s", conf->state_dir, err);
        return start_failed(conf);
    }
    if ((gen = gen_new(conf, server.num_workers, err, sizeof(err))) == NULL) {
        log_error("%s", err);
        return start_failed(conf);
    }
    gen_own_conf(gen);
    connect_embedded_origins(gen);
    if (gen_commit(gen, err, sizeof(err)) != 0) {
        log_error("%s", err);
        gen_release(gen); /* owns conf */
        return 1;
    }
    if (lambda_async_start(conf, conf->state_dir, server.store, err, sizeof(err)) != 0) {
        log_error("async_queue: %s", err);
        gen_release(gen); /* owns conf */
        return 1;
    }
    storeevents_start(server.store); /* store writes purge the cache and queue their notifications from now on */
    running_ref = gen->conf_ref; /* what runs, for reloads to compare with (released at the end) */
    atomic_fetch_add(&running_ref->refcnt, 1);
    prebuild_hooks(gen);
    atomic_store(&server.gen, gen);
    metrics_generation(gen->id);
    atomic_store(&shutdown_grace_ms, conf->limits.shutdown_grace_ms);
    control_start(); /* reloads, admin changes and hook compilation run there from now on */

    /* hook calls that outgrow their inline budget finish there (two: a loop or two does not queue up the rest) */
    offload_init(server.num_workers + 2 <= HOOK_MAX_THREADS ? 2 : 0);
    server.workers = server_calloc(server.num_workers, sizeof(server_worker_t));
    server.store_loops = server_calloc(server.num_store_loops, sizeof(server_worker_t));
    pthread_barrier_init(&workers_ready, NULL, server.num_workers + server.num_store_loops + 1);
    atomic_store(&loops_running, server.num_workers + server.num_store_loops);
    for (i = 0; i != server.num_workers + server.num_store_loops; ++i) {
        int store_loop = i >= server.num_workers;
        server_worker_t *w = loop_at(i);
        w->id = store_loop ? i - server.num_workers : i;
        w->store_loop = store_loop;
        w->gen = gen;
        gen_addref(gen);
        h2o_multithread_create_thread(&w->tid, NULL, store_loop ? store_loop_main : worker_main, w);
    }
    pthread_barrier_wait(&workers_ready);
    lambda_async_run(); /* the consumers start invocations on the workers' loops */
    if (fleet_start(conf, err, sizeof(err)) != 0) /* fleet state on etcd: watches and applies from now on */
        log_error("%s:%d: fleet: %s (this node runs without the fleet)", conf->file, conf->fleet.line, err);

    /* the admin listener is up: the store seed runs now (/healthz: starting), then the other listeners open (ready) */
    if (server.store != NULL && conf->store.num_seeds != 0) {
        seeding = 1;
        pthread_create(&seed_tid, NULL, seed_main, conf);
    } else {
        go_ready(conf);
    }
    serve_until_signal(&set, conf, seed_tid, seeding, &seed_failed);
    status = drain(&set);
    fleet_stop(); /* before the control thread: what it applies runs there */
    if (seed_failed)
        status = 1;
    /* last: until the workers are gone, admin calls in flight still get their jobs run (a reload queued now does nothing) */
    control_stop();
    cache_disk_close(handler_disk); /* the writes still queued first */
    handler_disk = NULL;
    fleet_close();
    cache_partial_free(handler_partial);
    handler_partial = NULL;
    lambda_async_close(); /* after the jobs: an Event invoke posted before the stop is queued */
    kvapi_close();
    if (atomic_fetch_sub(&running_ref->refcnt, 1) == 1) {
        conf_free(running_ref->conf);
        free(running_ref);
    }
    log_info("stopped");
    return status;
}
