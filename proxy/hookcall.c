/* proxy/hookcall.c - hook calls (run inline, and moved on to an offload thread past the inline budget), and events from h2o
 * requests and back. */
#include <stdio.h>
#include <string.h>
#include "proxy/hookcall.h"
#include "base/log.h"
#include "proxy/hookfetch.h"
#include "proxy/offload.h"
#include "proxy/reqcheck.h"
#include "proxy/server.h"

void hookcall_from_h2o_headers(h2o_mem_pool_t *pool, const h2o_header_t *src, size_t n, hook_headers_t *dst)
{
    dst->entries = h2o_mem_alloc_pool(pool, sizeof(hook_header_t) * (n + 1));
    dst->size = 0;
    dst->capacity = n + 1;
    for (size_t i = 0; i != n; ++i) {
        /* Lambda@Edge does not expose the disallowed headers (X-Cache, X-Forwarded-Proto, ...); they are kept aside */
        if (hook_header_is_disallowed(src[i].name->base, src[i].name->len))
            continue;
        hook_header_t *h = &dst->entries[dst->size++];
        h->name = *src[i].name; /* h2o keeps names lowercase */
        h->key = src[i].orig_name != NULL ? h2o_iovec_init(src[i].orig_name, src[i].name->len) : *src[i].name;
        h->value = src[i].value;
    }
}

/* response headers h2o writes itself: a hook's copy would go out next to h2o's (two Content-Lengths, or one with chunked) */
static int is_framing_header(const h2o_token_t *token)
{
    return token == H2O_TOKEN_CONTENT_LENGTH || token == H2O_TOKEN_TRANSFER_ENCODING || token == H2O_TOKEN_DATE ||
           token == H2O_TOKEN_CONNECTION || token == H2O_TOKEN_KEEP_ALIVE || token == H2O_TOKEN_UPGRADE || token == H2O_TOKEN_TE;
}

static void to_h2o_headers(h2o_mem_pool_t *pool, const hook_headers_t *src, h2o_headers_t *dst, int response)
{
    memset(dst, 0, sizeof(*dst));
    h2o_vector_reserve(pool, dst, src->size + 4);
    for (size_t i = 0; i != src->size; ++i) {
        const hook_header_t *h = &src->entries[i];
        const h2o_token_t *token = h2o_lookup_token(h->name.base, h->name.len);
        if (response && is_framing_header(token))
            continue;
        const char *orig = h->key.len == h->name.len && h->name.len != 0 && memcmp(h->key.base, h->name.base, h->name.len) != 0
                               ? h->key.base
                               : NULL;
        if (token != NULL) {
            /* reserved above: no h2o_add_header (and its reserve) per entry */
            h2o_header_t *e = &dst->entries[dst->size++];
            e->name = (h2o_iovec_t *)&token->buf;
            e->orig_name = orig;
            e->value = h->value;
        } else {
            h2o_add_header_by_str(pool, dst, h->name.base, h->name.len, 0, orig, h->value.base, h->value.len);
        }
    }
}

void hookcall_to_h2o_headers(h2o_mem_pool_t *pool, const hook_headers_t *src, h2o_headers_t *dst)
{
    to_h2o_headers(pool, src, dst, 0);
}

void hookcall_to_h2o_response_headers(h2o_mem_pool_t *pool, const hook_headers_t *src, h2o_headers_t *dst)
{
    to_h2o_headers(pool, src, dst, 1);
}

void hookcall_keep_disallowed(h2o_mem_pool_t *pool, const h2o_header_t *orig, size_t n, h2o_headers_t *dst)
{
    for (size_t i = 0; i != n; ++i)
        if (hook_header_is_disallowed(orig[i].name->base, orig[i].name->len)) {
            h2o_vector_reserve(pool, dst, dst->size + 1);
            dst->entries[dst->size++] = orig[i];
        }
}

/* the hook's list is the event's list, untouched and in order, with new entries after it: where the untouched part ends */
static int appended_only(const h2o_headers_t *before, const hook_headers_t *out, size_t *first_new)
{
    size_t i = 0;
    for (size_t j = 0; j != before->size; ++j) {
        const h2o_header_t *o = &before->entries[j];
        const hook_header_t *h = i < out->size ? &out->entries[i] : NULL;
        if (h != NULL && h->value.base == o->value.base && h->value.len == o->value.len && h->name.base == o->name->base &&
            h->key.base == (o->orig_name != NULL ? o->orig_name : o->name->base)) {
            ++i;
        } else if (!hook_header_is_disallowed(o->name->base, o->name->len)) {
            return 0; /* removed, changed or moved */
        }
    }
    *first_new = i;
    return 1;
}

void hookcall_apply_response_headers(h2o_mem_pool_t *pool, const hook_headers_t *out, h2o_headers_t *headers)
{
    size_t first_new;
    if (appended_only(headers, out, &first_new)) {
        /* the common case (a hook that adds headers): keep the list as it is and append the new ones */
        hook_headers_t tail = {out->entries + first_new, out->size - first_new, out->size - first_new};
        h2o_headers_t add;
        if (tail.size == 0)
            return;
        to_h2o_headers(pool, &tail, &add, 1);
        h2o_vector_reserve(pool, headers, headers->size + add.size);
        memcpy(headers->entries + headers->size, add.entries, sizeof(h2o_header_t) * add.size);
        headers->size += add.size;
        return;
    }
    h2o_headers_t before = *headers;
    to_h2o_headers(pool, out, headers, 1);
    hookcall_keep_disallowed(pool, before.entries, before.size, headers);
}

void hookcall_request_of(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t client_ip, hookcall_request_t *r)
{
    r->request_id = request_id;
    r->authority = req->authority; /* h2o keeps Host in :authority */
    r->client_ip = client_ip;
    r->method = req->method;
    r->path = req->path;
    r->query_at = req->query_at;
    r->headers = req->headers.entries;
    r->num_headers = req->headers.size;
    r->body = req->entity;
    r->distribution_id = h2o_iovec_init(NULL, 0);
    r->distribution_domain = h2o_iovec_init(NULL, 0);
}

void hookcall_request_event(h2o_mem_pool_t *pool, int type, hook_fn_t *fn, const hookcall_request_t *r, hook_event_t *ev)
{
    size_t q = r->query_at;
    hook_event_init(ev, type);
    ev->request_id = r->request_id;
    ev->distribution_domain_name = r->distribution_domain.len != 0 ? r->distribution_domain : r->authority;
    ev->distribution_id = r->distribution_id.len != 0 ? r->distribution_id : h2o_iovec_init(H2O_STRLIT("edgehook"));
    ev->request.client_ip = r->client_ip;
    ev->request.method = r->method;
    if (q != SIZE_MAX) {
        ev->request.uri = h2o_iovec_init(r->path.base, q);
        ev->request.querystring = h2o_iovec_init(r->path.base + q + 1, r->path.len - q - 1);
    } else {
        ev->request.uri = r->path;
        ev->request.querystring = h2o_iovec_init("", 0);
    }
    /* Lambda@Edge shows the authority as the host header */
    hookcall_from_h2o_headers(pool, r->headers, r->num_headers, &ev->request.headers);
    if (r->authority.len != 0)
        hook_headers_add_nocopy(pool, &ev->request.headers, h2o_iovec_init(H2O_STRLIT("host")), h2o_iovec_init(H2O_STRLIT("Host")),
                                r->authority);
    if (fn != NULL && hook_fn_include_body(fn) && r->body.base != NULL) {
        size_t limit = hook_size_limit(type);
        ev->request.body.present = 1;
        ev->request.body.truncated = r->body.len > limit;
        ev->request.body.data = h2o_iovec_init(r->body.base, r->body.len > limit ? limit : r->body.len);
    }
}

void hookcall_apply_request(h2o_req_t *req, const hook_event_t *ev)
{
    const hook_request_t *r = &ev->request;
    h2o_headers_t headers;
    ssize_t host;
    /* uri and querystring: the path the origin sees (the behavior was chosen before, as in CloudFront) */
    if (r->querystring.len != 0)
        req->path = h2o_concat(&req->pool, r->uri, h2o_iovec_init(H2O_STRLIT("?")), r->querystring);
    else
        req->path = h2o_strdup(&req->pool, r->uri.base, r->uri.len);
    req->query_at = r->querystring.len != 0 ? r->uri.len : SIZE_MAX;
    hookcall_to_h2o_headers(&req->pool, &r->headers, &headers);
    hookcall_keep_disallowed(&req->pool, req->headers.entries, req->headers.size, &headers);
    /* host goes back to :authority (read-only in viewer-request: the runtime refuses changes there) */
    if ((host = h2o_find_header(&headers, H2O_TOKEN_HOST, -1)) != -1) {
        req->authority = headers.entries[host].value;
        h2o_delete_header(&headers, host);
    }
    req->headers = headers;
    if (r->body.replaced)
        req->entity = r->body.data;
}

int hookcall_normalize_uri(h2o_mem_pool_t *pool, h2o_iovec_t *path, size_t *query_at, const char **reason)
{
    reqcheck_target_t t;
    char *dst = h2o_mem_alloc_pool(pool, path->len + 1);
    int status = reqcheck_target(path->base, path->len, REQCHECK_HTTP2 | REQCHECK_ALLOW_PARAMS, dst, &t, reason);
    if (status != 0)
        return status;
    *path = h2o_iovec_init(dst, t.path_len);
    if (query_at != NULL)
        *query_at = t.query_at;
    return 0;
}

void hookcall_limits(const conf_t *conf, hook_head_limits_t *limits)
{
    limits->request_bytes = conf->limits.max_request_header_size;
    limits->request_count = conf->limits.max_request_headers;
    limits->response_bytes = conf->limits.max_response_header_size;
    limits->response_count = HOOK_MAX_RESPONSE_HEADERS;
}

/* ---- the call ------------------------------------------------------------------------------------------------------------- */

static __thread hook_thread_t *thread_hooks;
static __thread h2o_multithread_receiver_t *thread_receiver;
static __thread int thread_fetches; /* a server worker: edge.fetch goes out through its origin client */

void hookcall_thread_init(hook_thread_t *hooks, h2o_multithread_receiver_t *offload_receiver)
{
    thread_hooks = hooks;
    thread_receiver = offload_receiver;
}

static void advance(hookcall_t *call, hook_run_t r, int in_start);

/* the fetches of a parked call were answered: it goes on on the event loop, with a fresh inline budget */
static void on_fetched(void *arg)
{
    hookcall_t *call = arg;
    hook_fetch_t *fetches;
    size_t n = hook_call_fetches(call->running, &fetches);
    call->fetch = NULL;
    call->fetches += (unsigned)n;
    for (size_t i = 0; i != n; ++i)
        call->fetches_failed += fetches[i].status == 0;
    advance(call, hook_call_run(thread_hooks, call->running, offload_budget_ms()), 0);
}

/* a call that went on on an offload thread came back to this thread: finished, or parked on fetches */
static void on_job_done(offload_job_t *job)
{
    hookcall_t *call = job->data;
    call->at_offload = 0;
    advance(call, job->result, 0);
}

/* what the call does next, after each run of it */
static void advance(hookcall_t *call, hook_run_t r, int in_start)
{
    hook_call_t *c = call->running;
    offload_job_t *job = call->pending;
    hook_report_t rep;
    switch (r) {
    case HOOK_RUN_FINISHED:
        call->status = hook_call_result(c, &rep);
        call->http_status = rep.http_status;
        call->rep = rep;
        call->running = NULL;
        if (job != NULL) {
            /* kept until hookcall_cancel: the result points into the job's memory (the job frees the call) */
            call->pending = NULL;
            job->next = call->finished;
            call->finished = job;
            call->ev = &job->ev;
        } else {
            call->ev = call->given;
            hook_call_free(c);
        }
        if (!in_start)
            call->done(call, call->arg);
        return;
    case HOOK_RUN_MOVED:
        /* too long for the event loop: it goes on, from where it was, where it delays only its own caller. From its first move
         * on it uses the job's memory */
        if (job == NULL)
            job = call->pending = offload_job_new(c, hook_call_fn(c), on_job_done, call);
        call->at_offload = 1;
        offload_submit(job, thread_receiver);
        return;
    case HOOK_RUN_PARKED:
        /* edge.fetch: the requests go out on this event loop; the call goes on when all have an answer. It completes later, so
         * from now on it uses memory of its own (the job's), as a moved call does: the caller's event may be gone by then (the
         * fill's is on its stack) */
        if (job == NULL)
            call->pending = offload_job_new(c, hook_call_fn(c), on_job_done, call);
        call->fetch = hookfetch_start(c, on_fetched, call);
        return;
    }
}

hookcall_progress_t hookcall_start(hookcall_t *call, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool,
                                   const hook_head_limits_t *limits, hookcall_done_t done, void *arg)
{
    hook_report_t rep;

    if (thread_hooks == NULL) {
        server_worker_t *w = server_worker_current();
        hookcall_thread_init(w->hooks, &w->offload_receiver);
        thread_fetches = 1;
    }
    if (limits != NULL)
        ev->limits = *limits;
    uint64_t budget = offload_budget_ms();
    call->ev = ev;
    /* a Lua call can be moved half way; Lua and C calls can wait for fetches */
    if (budget == 0 || !hook_fn_handles(fn, ev->type)) {
        call->status = hook_run(thread_hooks, fn, ev, pool, &rep);
        call->http_status = rep.http_status;
        call->rep = rep;
        return HOOKCALL_DONE;
    }
    /* on the event loop for its inline budget, on the caller's memory */
    call->done = done;
    call->arg = arg;
    call->given = ev;
    call->running = hook_call_new(thread_hooks, fn, ev, pool);
    if (thread_fetches) {
        hook_call_allow_park(call->running);
        hook_call_allow_move(call->running); /* host->offload: advance() hands HOOK_RUN_MOVED to an offload thread */
    }
    advance(call, hook_call_run(thread_hooks, call->running, budget), 1);
    if (call->running == NULL)
        return HOOKCALL_DONE;
    call->ev = NULL;
    return HOOKCALL_PENDING;
}

void hookcall_cancel(hookcall_t *call)
{
    if (call->fetch != NULL) {
        hookfetch_cancel(call->fetch);
        call->fetch = NULL;
    }
    if (call->running != NULL && !call->at_offload) {
        /* parked here, waiting for its fetches: they fail, and it goes on to its end on an offload thread, on memory of its own
         * (freeing it mid-flight would leak the machine code the JIT made for its Lua state); freed when it comes back */
        hook_call_t *c = call->running;
        offload_job_t *job = call->pending != NULL ? call->pending : offload_job_new(c, hook_call_fn(c), on_job_done, call);
        hook_call_abort_fetches(c);
        offload_orphan(job);
        offload_submit(job, thread_receiver);
    } else if (call->pending != NULL) {
        offload_orphan(call->pending); /* freed when it comes back */
    }
    call->pending = NULL;
    call->running = NULL;
    call->at_offload = 0;
    while (call->finished != NULL) {
        offload_job_t *job = call->finished;
        call->finished = job->next;
        offload_job_free(job);
    }
    call->ev = NULL;
}
