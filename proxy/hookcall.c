/* proxy/hookcall.c - events from h2o requests and back, and the hook log of a transaction. */
#include <stdio.h>
#include <string.h>
#include "cache/key.h"
#include "proxy/handler.h"
#include "proxy/headers.h"
#include "proxy/hookcall.h"
#include "proxy/log.h"
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

void hookcall_request_event(h2o_req_t *req, edge_txn_t *txn, int type, hook_fn_t *fn, h2o_iovec_t client_ip, hook_event_t *ev)
{
    size_t q = req->query_at;
    hook_event_init(ev, type);
    ev->request_id = txn->request_id;
    ev->distribution_domain_name = req->authority;
    ev->distribution_id = h2o_iovec_init(H2O_STRLIT("edgehook"));
    ev->request.client_ip = client_ip;
    ev->request.method = req->method;
    if (q != SIZE_MAX) {
        ev->request.uri = h2o_iovec_init(req->path.base, q);
        ev->request.querystring = h2o_iovec_init(req->path.base + q + 1, req->path.len - q - 1);
    } else {
        ev->request.uri = req->path;
        ev->request.querystring = h2o_iovec_init("", 0);
    }
    /* h2o keeps Host in :authority; Lambda@Edge shows it as the host header */
    hookcall_from_h2o_headers(&req->pool, req->headers.entries, req->headers.size, &ev->request.headers);
    if (req->authority.len != 0)
        hook_headers_add_nocopy(&req->pool, &ev->request.headers, h2o_iovec_init(H2O_STRLIT("host")), h2o_iovec_init(H2O_STRLIT("Host")),
                                req->authority);
    if (fn != NULL && hook_fn_include_body(fn) && req->entity.base != NULL) {
        size_t limit = hook_size_limit(type);
        ev->request.body.present = 1;
        ev->request.body.truncated = req->entity.len > limit;
        ev->request.body.data = h2o_iovec_init(req->entity.base, req->entity.len > limit ? limit : req->entity.len);
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

void hookcall_log(edge_txn_t *txn, int type, const char *label)
{
    static const char short_names[4][6] = {"vreq:", "oreq:", "ores:", "vres:"};
    size_t llen = strlen(label), sep = txn->hooks_log_len != 0, n = sep + 5 + llen;
    if (txn->hooks_log_len + n >= sizeof(txn->hooks_log))
        return;
    char *p = txn->hooks_log + txn->hooks_log_len;
    if (sep)
        *p++ = ',';
    memcpy(p, short_names[type & 3], 5);
    memcpy(p + 5, label, llen);
    p[5 + llen] = '\0';
    txn->hooks_log_len += n;
}

/* the value of cookie `name` in the request's Cookie headers */
static h2o_iovec_t find_cookie(h2o_req_t *req, const char *name)
{
    size_t nlen = strlen(name);
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const char *p = req->headers.entries[i].value.base, *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                ++p;
            const char *k = p;
            while (p < end && *p != '=' && *p != ';')
                ++p;
            if (p < end && *p == '=' && (size_t)(p - k) == nlen && memcmp(k, name, nlen) == 0) {
                const char *v = ++p;
                while (p < end && *p != ';')
                    ++p;
                return h2o_iovec_init(v, p - v);
            }
            while (p < end && *p != ';')
                ++p;
        }
    }
    return h2o_iovec_init(NULL, 0);
}

hook_fn_t *hookcall_pick(edge_txn_t *txn, int type, const char **label)
{
    hook_binding_t *b = txn->behavior->hooks[type];
    int k = 0;
    if (b == NULL)
        return NULL;
    if (b->fn[1] != NULL) {
        /* a split: the same viewer lands on the same version, request after request */
        h2o_iovec_t key = {NULL, 0};
        if (b->key_kind == HOOK_KEY_COOKIE)
            key = find_cookie(txn->req, b->key_name);
        else if (b->key_kind == HOOK_KEY_HEADER)
            key = headers_get_str(&txn->req->headers, b->key_name, strlen(b->key_name));
        if (key.len == 0)
            key = handler_client_ip(txn);
        k = hook_binding_pick(b, cache_key_hash_fixed(key.base, key.len));
    }
    *label = b->label[k];
    return b->fn[k];
}

hookcall_result_t hookcall_result_of(hook_status_t st, int *status)
{
    switch (st) {
    case HOOK_CONTINUE:
        return HOOKCALL_CONTINUE;
    case HOOK_RESPOND:
        return HOOKCALL_RESPOND;
    case HOOK_INVALID:
        *status = 502;
        return HOOKCALL_ERROR;
    default:
        *status = 503;
        return HOOKCALL_ERROR;
    }
}

/* an offloaded call came back to this worker */
static void on_job_done(offload_job_t *job)
{
    edge_txn_t *txn = job->data;
    hookcall_cont_t cont = txn->pending_cont;
    int status = 0;
    hookcall_result_t res = hookcall_result_of(job->status, &status);
    txn->pending_job = NULL;
    txn->pending_cont = NULL;
    /* keep the job until the request ends: the result points into its memory */
    job->txn_next = txn->done_jobs;
    txn->done_jobs = job;
    cont(txn, &job->ev, res, status);
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

void hookcall_set_limits(hook_event_t *ev, const conf_t *conf)
{
    ev->limits.request_bytes = conf->limits.max_request_header_size;
    ev->limits.request_count = conf->limits.max_request_headers;
    ev->limits.response_bytes = conf->limits.max_response_header_size;
    ev->limits.response_count = HOOK_MAX_RESPONSE_HEADERS;
}

hookcall_result_t hookcall_run(edge_txn_t *txn, hook_fn_t *fn, const char *label, hook_event_t *ev, h2o_mem_pool_t *pool, int *status,
                               hookcall_build_t build, hookcall_cont_t cont)
{
    server_worker_t *w = server_worker_current();
    hook_report_t rep;
    hook_status_t st;
    hookcall_log(txn, ev->type, label);
    hookcall_set_limits(ev, txn->gen->conf);
    st = hook_run_budget(w->hooks, fn, ev, pool, &rep, offload_budget_ms());
    if (st == HOOK_PREEMPTED) {
        /* too long for the event loop: run it again, from a fresh event, where it delays only its own request */
        hook_event_t fresh;
        build(txn, fn, &fresh);
        hookcall_set_limits(&fresh, txn->gen->conf);
        offload_job_t *job = offload_job_new(fn, &fresh, on_job_done, txn);
        txn->pending_job = job;
        txn->pending_cont = cont;
        offload_submit(job, &w->offload_receiver);
        return HOOKCALL_OFFLOADED;
    }
    return hookcall_result_of(st, status);
}

void hookcall_txn_done(edge_txn_t *txn)
{
    if (txn->pending_job != NULL) {
        offload_orphan(txn->pending_job);
        txn->pending_job = NULL;
    }
    while (txn->done_jobs != NULL) {
        offload_job_t *job = txn->done_jobs;
        txn->done_jobs = job->txn_next;
        offload_job_free(job);
    }
}
