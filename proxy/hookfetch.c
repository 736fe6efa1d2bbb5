/* proxy/hookfetch.c - the fetches of a parked hook call, through the origin client on the worker's loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/clock.h"
#include "base/log.h"
#include "proxy/dynorigin.h"
#include "proxy/gen.h"
#include "proxy/hookfetch.h"
#include "proxy/origin.h"
#include "proxy/server.h"
#include "proxy/storeevents.h"

#define HOOKFETCH_TICK_MS 10 /* how often deadlines are checked */

typedef struct fetch_one {
    struct hookfetch *parent;
    hook_fetch_t *f;
    origin_t *origin; /* a reference while the request is in flight */
    origin_req_t *req;
    uint64_t deadline_ns;
    char *body; /* the answer's body so far (malloc) */
    size_t body_len, body_cap;
    int done;
    void *s3job; /* an edge.s3 operation in flight (proxy/storeevents.h) */
} fetch_one_t;

struct hookfetch {
    hook_call_t *call;
    hook_fn_t *fn;
    server_worker_t *worker;
    fetch_one_t *ones;
    size_t num, left;
    void (*done)(void *arg);
    void *arg;
    h2o_timeout_entry_t tick;
};

static void finish_one(fetch_one_t *one, int status, const char *err);

static void check_done(hookfetch_t *hf)
{
    if (hf->left != 0)
        return;
    /* from a timer, never from inside hookfetch_start or an origin callback that the caller may be in */
    if (h2o_timeout_is_linked(&hf->tick))
        h2o_timeout_unlink(&hf->tick);
    h2o_timeout_link(hf->worker->ctx.loop, &hf->worker->ctx.zero_timeout, &hf->tick);
}

static void free_hf(hookfetch_t *hf)
{
    if (h2o_timeout_is_linked(&hf->tick))
        h2o_timeout_unlink(&hf->tick);
    for (size_t i = 0; i != hf->num; ++i) {
        fetch_one_t *one = &hf->ones[i];
        if (one->req != NULL)
            origin_req_cancel(one->req);
        if (one->s3job != NULL)
            storeevents_hook_op_cancel(one->s3job);
        if (one->origin != NULL)
            origin_release(one->origin);
        free(one->body);
    }
    free(hf->ones);
    free(hf);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    hookfetch_t *hf = H2O_STRUCT_FROM_MEMBER(hookfetch_t, tick, entry);
    if (hf->left == 0) {
        void (*done)(void *) = hf->done;
        void *arg = hf->arg;
        free_hf(hf);
        done(arg);
        return;
    }
    uint64_t now = edge_mono_ns();
    for (size_t i = 0; i != hf->num; ++i) {
        fetch_one_t *one = &hf->ones[i];
        if (!one->done && now >= one->deadline_ns)
            finish_one(one, 0, "timed out");
    }
    if (!h2o_timeout_is_linked(&hf->tick))
        h2o_timeout_link(hf->worker->ctx.loop,
                         hf->left != 0 ? server_timeout(hf->worker, HOOKFETCH_TICK_MS) : &hf->worker->ctx.zero_timeout, &hf->tick);
}

/* the answer of one fetch: status 0 with err when it failed */
static void finish_one(fetch_one_t *one, int status, const char *err)
{
    hookfetch_t *hf = one->parent;
    h2o_mem_pool_t *pool = hook_call_fetch_pool(hf->call);
    if (one->done)
        return;
    one->done = 1;
    if (one->s3job != NULL) { /* timed out: its answer, when it comes, is dropped */
        storeevents_hook_op_cancel(one->s3job);
        one->s3job = NULL;
    }
    if (one->req != NULL) {
        origin_req_cancel(one->req);
        one->req = NULL;
    }
    if (one->origin != NULL) {
        origin_release(one->origin);
        one->origin = NULL;
    }
    if (status != 0) {
        one->f->status = status;
        one->f->resp_body = h2o_strdup(pool, one->body != NULL ? one->body : "", one->body_len);
    } else {
        one->f->status = 0;
        one->f->error = h2o_strdup(pool, err, SIZE_MAX).base;
        one->f->resp_headers.size = 0;
        log_debug("hook %s: edge.fetch %.*s: %s", hook_fn_name(hf->fn), (int)one->f->url.len, one->f->url.base, err);
    }
    free(one->body);
    one->body = NULL;
    hook_fn_count_fetch(hf->fn, status == 0);
    --hf->left;
    check_done(hf);
}

static void on_head(origin_req_t *req, int status, h2o_iovec_t reason, h2o_header_t *headers, size_t num_headers,
                    int64_t content_length)
{
    fetch_one_t *one = req->data;
    h2o_mem_pool_t *pool = hook_call_fetch_pool(one->parent->call);
    (void)reason;
    if (content_length > HOOKFETCH_MAX_BODY) {
        finish_one(one, 0, "the answer is too large (over 1 MB)");
        return;
    }
    one->f->status = status;
    hook_headers_t *h = &one->f->resp_headers;
    h->entries = num_headers != 0 ? h2o_mem_alloc_pool(pool, sizeof(*h->entries) * num_headers) : NULL;
    h->size = h->capacity = 0;
    for (size_t i = 0; i != num_headers; ++i) {
        hook_header_t *e = &h->entries[h->size++];
        e->name = h2o_strdup(pool, headers[i].name->base, headers[i].name->len);
        e->key = headers[i].orig_name != NULL ? h2o_strdup(pool, headers[i].orig_name, headers[i].name->len) : e->name;
        e->value = h2o_strdup(pool, headers[i].value.base, headers[i].value.len);
    }
    h->capacity = h->size;
}

static void on_body(origin_req_t *req, const char *data, size_t len)
{
    fetch_one_t *one = req->data;
    if (one->body_len + len > HOOKFETCH_MAX_BODY) {
        finish_one(one, 0, "the answer is too large (over 1 MB)");
        return;
    }
    if (one->body_len + len > one->body_cap) {
        size_t cap = one->body_cap != 0 ? one->body_cap : 16384;
        while (cap < one->body_len + len)
            cap *= 2;
        char *p = realloc(one->body, cap);
        if (p == NULL) {
            finish_one(one, 0, "no memory");
            return;
        }
        one->body = p;
        one->body_cap = cap;
    }
    memcpy(one->body + one->body_len, data, len);
    one->body_len += len;
}

static void on_done(origin_req_t *req, int status, const char *err)
{
    fetch_one_t *one = req->data;
    one->req = NULL; /* gone */
    if (err != NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s (%d)", err, status);
        finish_one(one, 0, msg);
    } else {
        finish_one(one, one->f->status, NULL);
    }
}

static const origin_req_callbacks_t callbacks = {on_head, on_body, on_done};

/* an edge.s3 operation answered (f has its answer) */
static void on_s3_done(void *arg)
{
    fetch_one_t *one = arg;
    hookfetch_t *hf = one->parent;
    one->s3job = NULL;
    if (one->done)
        return;
    one->done = 1;
    hook_fn_count_fetch(hf->fn, one->f->status == 0);
    --hf->left;
    check_done(hf);
}

static int iov_eq(h2o_iovec_t a, const char *b)
{
    return a.len == strlen(b) && strncasecmp(a.base, b, a.len) == 0;
}

/* fetch_allow: "host" and "*.domain" at the scheme's default port, "host:port", or a configured origin's name (its host and
 * port, and the origin itself is used) */
static int allowed(hookfetch_t *hf, int https, h2o_iovec_t host, uint16_t port, origin_t **configured)
{
    const conf_namelist_t *allow = hook_fn_fetch_allow(hf->fn);
    edge_gen_t *gen = hf->worker->gen;
    uint16_t dflt = https ? 443 : 80;
    for (size_t i = 0; i != allow->count; ++i) {
        const char *e = allow->names[i];
        for (size_t j = 0; gen != NULL && j != gen->conf->num_origins; ++j) {
            origin_t *o = gen->origins[j];
            if (o != NULL && strcmp(gen->conf->origins[j].name, e) == 0 && o->s3 == NULL && o->https == https && o->port == port &&
                iov_eq(host, o->host)) {
                *configured = o;
                return 1;
            }
        }
        const char *colon = strrchr(e, ':');
        size_t elen = colon != NULL ? (size_t)(colon - e) : strlen(e);
        uint16_t eport = colon != NULL ? (uint16_t)atoi(colon + 1) : dflt;
        if (eport != port)
            continue;
        if (elen > 2 && e[0] == '*' && e[1] == '.') {
            /* any host under the domain (not the domain itself) */
            size_t dlen = elen - 1;
            if (host.len > dlen && strncasecmp(host.base + host.len - dlen, e + 1, dlen) == 0)
                return 1;
        } else if (host.len == elen && strncasecmp(host.base, e, elen) == 0) {
            return 1;
        }
    }
    return 0;
}

static void start_one(hookfetch_t *hf, fetch_one_t *one, int64_t call_left_ms)
{
    hook_fetch_t *f = one->f;
    h2o_mem_pool_t *pool = hook_call_fetch_pool(hf->call);
    h2o_url_t url;
    origin_t *o = NULL;
    char err[256];
    int64_t ms = f->timeout_ms > 0 && f->timeout_ms < call_left_ms ? f->timeout_ms : call_left_ms;
    one->deadline_ns = edge_mono_ns() + (uint64_t)(ms > 0 ? ms : 0) * 1000000u;
    if (ms <= 0) {
        finish_one(one, 0, "timed out (the hook's time is up)");
        return;
    }
    if (f->url.len >= sizeof(STOREEVENTS_SCHEME) - 1 &&
        memcmp(f->url.base, STOREEVENTS_SCHEME, sizeof(STOREEVENTS_SCHEME) - 1) == 0) {
        /* edge.s3: the embedded store, straight (no fetch_allow: the store is the node's own) */
        if ((one->s3job = storeevents_hook_op(hf->call, f, pool, on_s3_done, one)) == NULL)
            finish_one(one, 0, f->error != NULL ? f->error : "edge.s3 failed");
        return;
    }
    if (h2o_url_parse(f->url.base, f->url.len, &url) != 0 ||
        (url.scheme != &H2O_URL_SCHEME_HTTP && url.scheme != &H2O_URL_SCHEME_HTTPS) || url.host.len == 0 || url.host.len >= 256) {
        f->denied = 1;
        finish_one(one, 0, "not an http:// or https:// URL");
        return;
    }
    int https = url.scheme == &H2O_URL_SCHEME_HTTPS;
    uint16_t port = h2o_url_get_port(&url);
    if (!allowed(hf, https, url.host, port, &o)) {
        snprintf(err, sizeof(err), "denied: %.*s:%u is not in the hook's fetch_allow", (int)url.host.len, url.host.base, port);
        f->denied = 1;
        finish_one(one, 0, err);
        return;
    }
    if (o == NULL) {
        hook_origin_t ho = {.kind = HOOK_ORIGIN_CUSTOM,
                            .domain_name = h2o_strdup(pool, url.host.base, url.host.len),
                            .path = h2o_iovec_init("", 0),
                            .protocol = https ? h2o_iovec_init(H2O_STRLIT("https")) : h2o_iovec_init(H2O_STRLIT("http")),
                            .port = port,
                            .read_timeout_s = 30,
                            .keepalive_timeout_s = 5};
        if ((o = dynorigin_get(&ho, NULL, err, sizeof(err))) == NULL) {
            finish_one(one, 0, err);
            return;
        }
    }
    origin_addref(o);
    one->origin = o;
    /* the request: Host, the hook's headers (not the framing ones, which the client writes), the body */
    h2o_headers_t headers = {NULL, 0, 0};
    h2o_add_header(pool, &headers, H2O_TOKEN_HOST, NULL, url.authority.base, url.authority.len);
    for (size_t i = 0; i != f->headers.size; ++i) {
        const hook_header_t *h = &f->headers.entries[i];
        const h2o_token_t *tok = h2o_lookup_token(h->name.base, h->name.len);
        if (tok == H2O_TOKEN_HOST || tok == H2O_TOKEN_CONTENT_LENGTH || tok == H2O_TOKEN_TRANSFER_ENCODING ||
            tok == H2O_TOKEN_CONNECTION || tok == H2O_TOKEN_TE || tok == H2O_TOKEN_UPGRADE || tok == H2O_TOKEN_KEEP_ALIVE)
            continue;
        h2o_add_header_by_str(pool, &headers, h->name.base, h->name.len, 0, NULL, h->value.base, h->value.len);
    }
    int idempotent = iov_eq(f->method, "GET") || iov_eq(f->method, "HEAD");
    origin_req_t *req =
        origin_req_start(o, f->method, url.path, headers.entries, headers.size, f->body, idempotent, &callbacks, one);
    if (!one->done)
        one->req = req; /* else it ended already (on_done ran inside) */
}

hookfetch_t *hookfetch_start(hook_call_t *c, void (*done)(void *arg), void *arg)
{
    hook_fetch_t *fetches;
    size_t n = hook_call_fetches(c, &fetches);
    hookfetch_t *hf = calloc(1, sizeof(*hf));
    if (hf == NULL)
        abort();
    hf->call = c;
    hf->fn = hook_call_fn(c);
    hf->worker = server_worker_current();
    hf->done = done;
    hf->arg = arg;
    hf->tick.cb = on_tick;
    hf->num = hf->left = n;
    if (n != 0 && (hf->ones = calloc(n, sizeof(*hf->ones))) == NULL)
        abort();
    int64_t left = hook_call_remaining_ms(c);
    for (size_t i = 0; i != n; ++i) {
        hf->ones[i].parent = hf;
        hf->ones[i].f = &fetches[i];
    }
    for (size_t i = 0; i != n; ++i)
        start_one(hf, &hf->ones[i], left);
    if (!h2o_timeout_is_linked(&hf->tick))
        h2o_timeout_link(hf->worker->ctx.loop,
                         hf->left != 0 ? server_timeout(hf->worker, HOOKFETCH_TICK_MS) : &hf->worker->ctx.zero_timeout, &hf->tick);
    return hf;
}

void hookfetch_cancel(hookfetch_t *hf)
{
    if (hf == NULL)
        return;
    for (size_t i = 0; i != hf->num; ++i)
        if (!hf->ones[i].done)
            hook_fn_count_fetch(hf->fn, 1); /* it fails: the request ended */
    free_hf(hf);
}
