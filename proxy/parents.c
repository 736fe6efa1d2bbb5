/* proxy/parents.c - parent selection (rendezvous hashing), health (probe thread + passive marking), Via and loop detection. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/series.h"
#include "base/worker.h"
#include "proxy/origin.h"
#include "proxy/parents.h"
#include "proxy/via.h"

/* ---- this node's name ----------------------------------------------------------------------------------------------------- */

typedef struct node_name {
    struct node_name *prev; /* every name ever set stays reachable: readers on other threads may still hold one */
    h2o_iovec_t name, via, served_by;
} node_name_t;

static pthread_mutex_t node_mutex = PTHREAD_MUTEX_INITIALIZER;
static node_name_t *node_names; /* guarded by node_mutex */
static _Atomic(node_name_t *) node_current;
static _Atomic uint64_t loops_refused;

static node_name_t *node_get(void)
{
    node_name_t *n = atomic_load_explicit(&node_current, memory_order_acquire);
    if (n == NULL) {
        parents_set_node_name(NULL, 0);
        n = atomic_load_explicit(&node_current, memory_order_acquire);
    }
    return n;
}

void parents_set_node_name(const char *configured, unsigned port)
{
    char host[256], dflt[300];
    const char *name = configured;
    if (name == NULL) {
        /* HOST:PORT (RFC 9110's received-by is uri-host [":" port]): two nodes on one machine differ by their ports; with
         * port 0 (chosen by the kernel) HOST-PID */
        if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
            strcpy(host, "edgehook");
        host[sizeof(host) - 1] = '\0';
        /* keep it a token: Via's received-by may not hold spaces, commas or parentheses */
        for (char *p = host; *p != '\0'; ++p)
            if (*p <= ' ' || *p == ',' || *p == '(' || *p == ')' || *p >= 0x7f)
                *p = '-';
        host[63] = '\0';
        if (port != 0)
            snprintf(dflt, sizeof(dflt), "%s:%u", host, port);
        else
            snprintf(dflt, sizeof(dflt), "%s-%ld", host, (long)getpid());
        name = dflt;
    }
    pthread_mutex_lock(&node_mutex);
    node_name_t *cur = atomic_load_explicit(&node_current, memory_order_acquire);
    if (cur != NULL && strcmp(cur->name.base, name) == 0 && (cur->served_by.base != NULL) == (configured != NULL)) {
        pthread_mutex_unlock(&node_mutex);
        return;
    }
    node_name_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        h2o_fatal("no memory");
    size_t len = strlen(name);
    n->name = h2o_strdup(NULL, name, len);
    n->via.base = malloc(len + sizeof("1.1  (edgehook)"));
    if (n->via.base == NULL)
        h2o_fatal("no memory");
    n->via.len = (size_t)sprintf(n->via.base, "1.1 %s (edgehook)", name);
    if (configured != NULL)
        n->served_by = n->name;
    n->prev = node_names;
    node_names = n;
    atomic_store_explicit(&node_current, n, memory_order_release);
    pthread_mutex_unlock(&node_mutex);
}

h2o_iovec_t parents_via_entry(void)
{
    return node_get()->via;
}

h2o_iovec_t parents_served_by(void)
{
    return node_get()->served_by;
}

int parents_via_names_node(h2o_iovec_t via, h2o_iovec_t name)
{
    return via_names_node(via.base, via.len, name.base, name.len);
}

int parents_request_loops(const h2o_headers_t *headers)
{
    node_name_t *n = node_get();
    for (ssize_t i = -1; (i = h2o_find_header(headers, H2O_TOKEN_VIA, i)) != -1;)
        if (parents_via_names_node(headers->entries[i].value, n->name))
            return 1;
    return 0;
}

void parents_count_loop(void)
{
    atomic_fetch_add_explicit(&loops_refused, 1, memory_order_relaxed);
}

/* ---- health --------------------------------------------------------------------------------------------------------------- */

typedef struct health_item {
    char *name;
    char *host; /* what the probe connects to */
    uint16_t port;
    char *path; /* NULL: the probe is a TCP connect */
    char *host_header;
    _Atomic int up;
    unsigned fails, passes; /* failures and good probes in a row (guarded by the health's mutex) */
} health_item_t;

typedef struct parents_health {
    _Atomic unsigned refcnt; /* the parents and the probe thread */
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int stop; /* guarded by mutex */
    uint64_t interval_ms, timeout_ms;
    unsigned fall, rise; /* parent_health_fails, parent_health_passes */
    char *origin;
    size_t num;
    health_item_t items[];
} parents_health_t;

static void health_release(parents_health_t *h)
{
    if (atomic_fetch_sub(&h->refcnt, 1) != 1)
        return;
    for (size_t i = 0; i != h->num; ++i) {
        free(h->items[i].name);
        free(h->items[i].host);
        free(h->items[i].path);
        free(h->items[i].host_header);
    }
    free(h->origin);
    pthread_mutex_destroy(&h->mutex);
    pthread_cond_destroy(&h->cond);
    free(h);
}

/* one observation of parent i: `fall` failures in a row mark it down, `rise` good probes in a row up again */
static int report(parents_health_t *h, size_t i, int ok, const char *why)
{
    health_item_t *it = &h->items[i];
    int was, up;
    pthread_mutex_lock(&h->mutex);
    was = up = atomic_load_explicit(&it->up, memory_order_relaxed);
    if (ok) {
        it->fails = 0;
        if (!up && ++it->passes >= h->rise)
            up = 1;
    } else {
        it->passes = 0;
        if (up && ++it->fails >= h->fall)
            up = 0;
    }
    if (up != was) {
        it->fails = it->passes = 0;
        atomic_store_explicit(&it->up, up, memory_order_release);
    }
    pthread_mutex_unlock(&h->mutex);
    if (up != was && up)
        log_info("origin %s: parent %s is up again (%u good probes in a row)", h->origin, it->name, h->rise);
    else if (up != was)
        log_warn("origin %s: parent %s is down (%u failures in a row): %s", h->origin, it->name, h->fall, why);
    return up;
}

/* one probe: NULL when the parent answered (a TCP connect, or a 2xx to GET path), else why not */
static const char *probe(const health_item_t *it, uint64_t timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    char port[8], buf[64];
    const char *why = NULL;
    int fd = -1;
    int64_t deadline = (int64_t)edge_mono_ms() + (int64_t)timeout_ms;
    snprintf(port, sizeof(port), "%u", it->port);
    if (getaddrinfo(it->host, port, &hints, &res) != 0 || res == NULL)
        return "cannot resolve the host";
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
        why = "no socket";
        goto out;
    }
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
        why = "connect failed";
        goto out;
    }
    {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t elen = sizeof(err);
        int64_t left = deadline - (int64_t)edge_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
            why = "connect timeout";
            goto out;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
            why = "connection refused";
            goto out;
        }
    }
    if (it->path == NULL)
        goto out;
    {
        char req[1024];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: edgehook-health\r\nConnection: close\r\n\r\n",
                         it->path, it->host_header);
        if (n <= 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
            why = "cannot send the probe";
            goto out;
        }
    }
    {
        size_t got = 0;
        while (got < 12) {
            struct pollfd pfd = {fd, POLLIN, 0};
            int64_t left = deadline - (int64_t)edge_mono_ms();
            if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
                why = "no answer to the probe in time";
                goto out;
            }
            ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
            if (r <= 0) {
                why = "the probe's connection closed without an answer";
                goto out;
            }
            got += (size_t)r;
        }
        buf[got] = '\0';
        if (memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
            why = "the probe's answer is not HTTP";
        else if (buf[9] != '2')
            why = "the health URL did not answer 2xx";
    }
out:
    if (fd != -1)
        close(fd);
    freeaddrinfo(res);
    return why;
}

static void *probe_thread(void *arg)
{
    parents_health_t *h = arg;
    edge_thread_name("parent-probe");
    pthread_mutex_lock(&h->mutex);
    while (!h->stop) {
        pthread_mutex_unlock(&h->mutex);
        for (size_t i = 0; i != h->num; ++i) {
            const char *why = probe(&h->items[i], h->timeout_ms);
            report(h, i, why == NULL, why);
        }
        pthread_mutex_lock(&h->mutex);
        if (h->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(h->interval_ms / 1000);
        ts.tv_nsec += (long)(h->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec += 1;
            ts.tv_nsec -= 1000000000L;
        }
        while (!h->stop && pthread_cond_timedwait(&h->cond, &h->mutex, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&h->mutex);
    health_release(h);
    return NULL;
}

/* ---- parents -------------------------------------------------------------------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i != len; ++i) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

parents_t *parents_new(const conf_origin_t *c, unsigned num_threads, char *err, size_t errlen)
{
    if (c->num_parents == 0)
        return NULL;
    parents_t *p = calloc(1, sizeof(*p));
    parents_health_t *h = calloc(1, sizeof(*h) + c->num_parents * sizeof(health_item_t));
    if (p == NULL || h == NULL)
        h2o_fatal("no memory");
    p->num = c->num_parents;
    p->items = calloc(p->num, sizeof(parent_t));
    if (p->items == NULL)
        h2o_fatal("no memory");
    p->fallback_origin = c->parents_fallback_origin;
    p->health = h;
    atomic_init(&h->refcnt, 1);
    pthread_mutex_init(&h->mutex, NULL);
    pthread_cond_init(&h->cond, NULL);
    h->interval_ms = c->parent_health_interval_ms;
    h->timeout_ms = c->parent_health_timeout_ms;
    h->fall = c->parent_health_fails != 0 ? c->parent_health_fails : 2;
    h->rise = c->parent_health_passes != 0 ? c->parent_health_passes : 2;
    h->origin = strdup(c->name);
    h->num = c->num_parents;
    for (size_t i = 0; i != p->num; ++i) {
        const conf_parent_t *cp = &c->parents[i];
        parent_t *pt = &p->items[i];
        health_item_t *it = &h->items[i];
        char sname[200];
        origin_spec_t spec;
        pt->name = strdup(cp->name);
        pt->seed = mix64(fnv1a(cp->name, strlen(cp->name)));
        pt->weight = cp->weight != 0 ? (double)cp->weight : 1.0;
        snprintf(sname, sizeof(sname), "%s/%s", c->name, cp->name);
        pt->stats = edge_series_get("parent", sname, PARENT_STAT_NUM);
        /* the connection to the parent: the origin's timeouts and TLS settings, its own address */
        origin_spec_init(&spec, num_threads);
        spec.https = cp->https;
        spec.host = cp->host;
        spec.port = cp->port;
        spec.path_prefix = "";
        spec.ca_file = c->ca_file;
        spec.tls_verify = c->tls_verify;
        spec.connect_timeout_ms = c->connect_timeout_ms;
        spec.first_byte_timeout_ms = c->first_byte_timeout_ms;
        spec.read_timeout_ms = c->read_timeout_ms;
        spec.keepalive_timeout_ms = c->keepalive_timeout_ms;
        spec.max_connections = c->max_connections;
        spec.retries = c->retries;
        if ((pt->o = origin_new_spec(sname, &spec, num_threads, err, errlen)) == NULL) {
            parents_free(p);
            return NULL;
        }
        it->name = strdup(cp->name);
        it->host = strdup(cp->health_host != NULL ? cp->health_host : cp->host);
        it->port = cp->health_host != NULL ? cp->health_port : cp->port;
        if (cp->health_host != NULL) {
            it->path = strdup(cp->health_path);
            it->host_header = malloc(strlen(cp->health_host) + 10);
            sprintf(it->host_header, strchr(cp->health_host, ':') != NULL ? "[%s]:%u" : "%s:%u", cp->health_host, cp->health_port);
        }
        atomic_init(&it->up, 1); /* until a probe or a request says otherwise */
    }
    return p;
}

void parents_start(parents_t *p)
{
    pthread_t tid;
    pthread_attr_t attr;
    if (p == NULL || p->started)
        return;
    p->started = 1;
    /* the probe thread holds its own reference: parents_free never waits for it */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&p->health->refcnt, 1);
    if (pthread_create(&tid, &attr, probe_thread, p->health) != 0) {
        atomic_fetch_sub(&p->health->refcnt, 1);
        log_error("origin %s: cannot start the parents' probe thread: only failed requests mark a parent down", p->health->origin);
    }
    pthread_attr_destroy(&attr);
}

void parents_free(parents_t *p)
{
    if (p == NULL)
        return;
    if (p->health != NULL) {
        pthread_mutex_lock(&p->health->mutex);
        p->health->stop = 1;
        pthread_cond_signal(&p->health->cond);
        pthread_mutex_unlock(&p->health->mutex);
        health_release(p->health);
    }
    for (size_t i = 0; i != p->num; ++i) {
        free(p->items[i].name);
        if (p->items[i].o != NULL)
            origin_release(p->items[i].o);
        edge_series_release(p->items[i].stats);
    }
    free(p->items);
    free(p);
}

int parents_is_up(const parents_t *p, size_t i)
{
    return atomic_load_explicit(&p->health->items[i].up, memory_order_acquire);
}

void parents_mark_down(parents_t *p, size_t i, const char *why)
{
    atomic_fetch_add_explicit(&p->items[i].stats[PARENT_STAT_FAILURES], 1, memory_order_relaxed);
    report(p->health, i, 0, why);
}

int parents_report(parents_t *p, size_t i, int ok, const char *why)
{
    return report(p->health, i, ok, why);
}

size_t parents_order(const parents_t *p, h2o_iovec_t key, unsigned char *order)
{
    uint64_t kh = fnv1a(key.base, key.len);
    double scores[PARENTS_MAX];
    size_t n = 0;
    for (size_t i = 0; i != p->num && i != PARENTS_MAX; ++i) {
        if (!parents_is_up(p, i))
            continue;
        /* weighted rendezvous: -w / ln(u), u uniform in (0,1) from the pair's hash (with equal weights, the order of the
         * hashes themselves: the keys of unweighted parents go where they went before weights existed) */
        double u = ((double)(mix64(kh ^ p->items[i].seed) >> 11) + 0.5) * 0x1p-53;
        double s = -p->items[i].weight / log(u);
        /* insertion by score, highest first (ties: the lower index) */
        size_t j = n;
        while (j > 0 && scores[j - 1] < s) {
            scores[j] = scores[j - 1];
            order[j] = order[j - 1];
            --j;
        }
        scores[j] = s;
        order[j] = (unsigned char)i;
        ++n;
    }
    return n;
}

static void buf_append(h2o_buffer_t **buf, const char *s, size_t n)
{
    h2o_iovec_t room = h2o_buffer_reserve(buf, n + 1);
    memcpy(room.base, s, n);
    (*buf)->size += n;
}

void parents_metrics(h2o_buffer_t **buf, struct origin **origins)
{
    static const struct {
        const char *name, *help, *type;
    } kinds[] = {
        {"edgehook_parent_requests_total", "cache misses sent to a parent", "counter"},
        {"edgehook_parent_failures_total", "requests that could not reach a parent (it was marked down)", "counter"},
        {"edgehook_parent_up", "1 while a parent is up (probes and requests succeed), 0 while it is down", "gauge"},
    };
    char line[512];
    int n;
    for (size_t k = 0; k != sizeof(kinds) / sizeof(kinds[0]); ++k) {
        n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", kinds[k].name, kinds[k].help, kinds[k].name, kinds[k].type);
        buf_append(buf, line, (size_t)n);
        for (size_t i = 0; origins[i] != NULL; ++i) {
            parents_t *p = origins[i]->parents;
            for (size_t j = 0; p != NULL && j != p->num; ++j) {
                uint64_t v = k == 2 ? (uint64_t)parents_is_up(p, j) : atomic_load(&p->items[j].stats[k]);
                n = snprintf(line, sizeof(line), "%s{origin=\"%s\",parent=\"%s\"} %" PRIu64 "\n", kinds[k].name, origins[i]->name,
                             p->items[j].name, v);
                buf_append(buf, line, (size_t)n);
            }
        }
    }
    n = snprintf(line, sizeof(line),
                 "# HELP edgehook_parent_loops_total requests refused with 508: their Via already named this node\n"
                 "# TYPE edgehook_parent_loops_total counter\nedgehook_parent_loops_total %" PRIu64 "\n",
                 atomic_load(&loops_refused));
    buf_append(buf, line, (size_t)n);
}
