/* proxy/fill.c - fetches a response from an origin into a cache object: storability, revalidation, stale-if-error, the
 * origin-response hook, backpressure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache/forward.h"
#include "proxy/dynorigin.h"
#include "proxy/fill.h"
#include "proxy/storeevents.h"
#include "proxy/gen.h"
#include "proxy/handler.h"
#include "proxy/headers.h"
#include "proxy/hookcall.h"
#include "base/log.h"
#include "proxy/metrics.h"
#include "proxy/s3origin.h"
#include "proxy/server.h"

static void fill_free(fill_t *f)
{
    free(f->part.body);
    if (f->disk_stream != NULL)
        cache_disk_stream_end(f->disk_stream, 0); /* not finished: nothing is indexed */
    cache_waiter_cancel(&f->producer);
    if (f->cache.stale != NULL)
        cache_obj_release(f->cache.stale);
    hookcall_cancel(&f->hooks.call);
    if (f->hooks.request != NULL)
        hook_fn_release(f->hooks.request);
    if (f->hooks.response != NULL)
        hook_fn_release(f->hooks.response);
    cache_obj_release(f->obj);
    if (f->origin != NULL)
        origin_release(f->origin);
    if (f->hooks.default_origin != NULL)
        origin_release(f->hooks.default_origin);
    h2o_mem_clear_pool(&f->pool);
    free(f);
}

void fill_build_origin_headers(h2o_mem_pool_t *pool, origin_t *origin, const fill_request_t *req, h2o_headers_t *out)
{
    headers_connection_list_t conn;
    h2o_iovec_t xff = {NULL, 0}, via = {NULL, 0};
    size_t i;

    headers_connection_tokens(req->headers, &conn);
    h2o_vector_reserve(pool, out, req->headers->size + 5);
    out->size = 0;
    /* Host first, as clients do */
    if (req->host.base != NULL)
        h2o_add_header(pool, out, H2O_TOKEN_HOST, NULL, req->host.base, req->host.len);
    else
        h2o_add_header(pool, out, H2O_TOKEN_HOST, NULL, origin->host_header.base, origin->host_header.len);
    for (i = 0; i != req->headers->size; ++i) {
        const h2o_header_t *h = req->headers->entries + i;
        if (headers_is_hop_by_hop(h->name, &conn))
            continue;
        if (h->name == &H2O_TOKEN_HOST->buf || h->name == &H2O_TOKEN_CONTENT_LENGTH->buf || h->name == &H2O_TOKEN_EXPECT->buf)
            continue;
        if (h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf) {
            xff = h->value;
            continue;
        }
        if (h->name == &H2O_TOKEN_VIA->buf) {
            via = h->value;
            continue;
        }
        if (headers_name_is(h->name, H2O_STRLIT("x-forwarded-proto")))
            continue;
        h2o_vector_reserve(pool, out, out->size + 1);
        out->entries[out->size++] = *h;
    }
    /* X-Forwarded-For: the chain so far plus the client */
    if (xff.base != NULL) {
        h2o_iovec_t v = h2o_concat(pool, xff, h2o_iovec_init(H2O_STRLIT(", ")), req->client_ip);
        h2o_add_header(pool, out, H2O_TOKEN_X_FORWARDED_FOR, NULL, v.base, v.len);
    } else {
        h2o_add_header(pool, out, H2O_TOKEN_X_FORWARDED_FOR, NULL, req->client_ip.base, req->client_ip.len);
    }
    h2o_add_header_by_str(pool, out, H2O_STRLIT("x-forwarded-proto"), 0, NULL, req->client_https ? "https" : "http",
                          req->client_https ? 5 : 4);
    /* Via: "1.1 NAME (edgehook)", which a parent that sends it back here recognises (proxy/parents.h: a loop) */
    h2o_iovec_t self = parents_via_entry();
    if (via.base != NULL) {
        h2o_iovec_t v = h2o_concat(pool, via, h2o_iovec_init(H2O_STRLIT(", ")), self);
        h2o_add_header(pool, out, H2O_TOKEN_VIA, NULL, v.base, v.len);
    } else {
        h2o_add_header(pool, out, H2O_TOKEN_VIA, NULL, self.base, self.len);
    }
}

/* ---- ending a fill -------------------------------------------------------------------------------------------------------- */

static void stop_fetch(fill_t *f)
{
    if (f->oreq != NULL) {
        origin_req_cancel(f->oreq);
        f->oreq = NULL;
    }
}

/* fails the object: readers that have no head yet answer `status`, or serve the stale fallback when one is allowed */
static void fail_object(fill_t *f, int status, const char *err)
{
    cache_obj_t *obj = f->obj, *fallback = NULL;
    int before_head = cache_obj_state(obj) == CACHE_OBJ_BUSY;
    if (f->cache.mem != NULL && (f->progress.stored || before_head))
        cache_mem_remove(f->cache.mem, obj);
    if (before_head && f->cache.stale != NULL) {
        cache_decision_t d;
        cache_obj_decision(f->cache.stale, &d);
        if (cache_policy_stale_if_error(&d, NULL, server_now_ms()))
            fallback = f->cache.stale;
    }
    cache_obj_fail(obj, before_head ? status : 0, err, fallback);
}

static void on_producer_wake(cache_waiter_t *w)
{
    fill_t *f = H2O_STRUCT_FROM_MEMBER(fill_t, producer, w);
    if (f->oreq == NULL)
        return;
    if (cache_obj_num_readers(f->obj) == 0) {
        /* nobody reads a response that is not stored: stop fetching it */
        stop_fetch(f);
        cache_obj_fail(f->obj, 0, "all readers left", NULL);
        fill_free(f);
        return;
    }
    if (f->progress.paused && !cache_obj_window_full(f->obj, FILL_PASS_WINDOW)) {
        f->progress.paused = 0;
        origin_req_resume(f->oreq);
    }
}

static void make_transient(fill_t *f)
{
    f->progress.transient = 1;
    f->progress.stored = 0;
    cache_obj_make_transient(f->obj, &f->producer);
}

/* ---- the response head ---------------------------------------------------------------------------------------------------- */

/* tags for purge by tag: Surrogate-Key (space separated, Fastly) and Cache-Tag (comma separated, Cloudflare) */
static size_t collect_tags(h2o_mem_pool_t *pool, const h2o_headers_t *h, h2o_iovec_t **out)
{
    H2O_VECTOR(h2o_iovec_t) tags = {NULL, 0, 0};
    for (size_t i = 0; i != h->size; ++i) {
        char sep;
        if (headers_name_is(h->entries[i].name, H2O_STRLIT("surrogate-key")))
            sep = ' ';
        else if (headers_name_is(h->entries[i].name, H2O_STRLIT("cache-tag")))
            sep = ',';
        else
            continue;
        const char *p = h->entries[i].value.base, *end = p + h->entries[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == sep))
                ++p;
            const char *s = p;
            while (p < end && *p != sep && *p != '\t' && (sep == ',' || *p != ' '))
                ++p;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                --e;
            if (e > s && tags.size < 64) {
                h2o_vector_reserve(pool, &tags, tags.size + 1);
                tags.entries[tags.size++] = h2o_iovec_init(s, e - s);
            }
        }
    }
    *out = tags.entries;
    return tags.size;
}

/* headers a client never gets from the cache as they are: Date (h2o writes its own), Age (computed, for stored responses), and
 * the fields meant for this cache alone (Surrogate-Control, Surrogate-Key, Cache-Tag; CDN-Cache-Control goes on, RFC 9213 §3) */
static int needs_a_look(const h2o_iovec_t *name, int stored)
{
    if (name == &H2O_TOKEN_DATE->buf || (stored && name == &H2O_TOKEN_AGE->buf))
        return 1;
    if (h2o_iovec_is_token(name)) /* none of those four is one of h2o 2.2.5's tokens */
        return 0;
    return cache_policy_is_consumed_header(name) || headers_name_is(name, H2O_STRLIT("surrogate-key")) ||
           headers_name_is(name, H2O_STRLIT("cache-tag"));
}

/* orders headers so that those a delivery sends as they are come first (decided once per response, not per hit) */
static size_t order_for_delivery(h2o_mem_pool_t *pool, const h2o_headers_t *in, int stored, h2o_headers_t *out)
{
    size_t plain = 0, i;
    memset(out, 0, sizeof(*out));
    h2o_vector_reserve(pool, out, in->size);
    for (i = 0; i != in->size; ++i)
        if (!needs_a_look(in->entries[i].name, stored))
            out->entries[out->size++] = in->entries[i];
    plain = out->size;
    for (i = 0; i != in->size; ++i)
        if (needs_a_look(in->entries[i].name, stored))
            out->entries[out->size++] = in->entries[i];
    return plain;
}


/* a 304 to our conditional request: the stored response, freshened (RFC 9111 section 4.3.4) */
static void on_not_modified(fill_t *f, h2o_header_t *headers, size_t num_headers)
{
    cache_obj_t *stale = f->cache.stale, *obj = f->obj;
    h2o_headers_t stored = cache_obj_headers_pool(stale, &f->pool), resp = {headers, num_headers, num_headers}, merged = {NULL, 0, 0};
    cache_decision_t d;

    if (cache_policy_304_selects(&stored, &resp)) {
        h2o_headers_t all;
        cache_policy_merge_304(&f->pool, &stored, &resp, &all);
        /* what the 304 adds is stored and shared by every reader of the refreshed object: a Set-Cookie in it is dropped */
        cache_policy_shareable_headers(&f->pool, &all, &merged);
    } else {
        /* a 304 for another representation: keep what we have, unchanged */
        merged = stored;
    }
    cache_policy_evaluate(&f->cache.policy, h2o_iovec_init(H2O_STRLIT("GET")), &f->req.headers, stale->status, &merged,
                          f->progress.request_time_ms, server_now_ms(), &d);
    cache_obj_set_decision(obj, &d);
    size_t num_tags;
    const h2o_iovec_t *tags = cache_obj_tags(stale, &num_tags);
    cache_obj_set_meta(obj, cache_obj_vary_names(stale), stale->num_vary, cache_obj_vary_key(stale), tags, num_tags);
    f->progress.revalidated = 1;
    obj->refreshed = 1;
    h2o_headers_t ordered;
    size_t plain = order_for_delivery(&f->pool, &merged, 1, &ordered);
    cache_obj_set_from(obj, stale, ordered.entries, ordered.size, plain);
    if (d.storable && cache_mem_store_head(f->cache.mem, obj) == 0) {
        f->progress.stored = 1;
        cache_mem_complete(f->cache.mem, obj);
        cache_disk_store(handler_disk, obj); /* the refreshed head replaces the disk's copy */
    } else {
        cache_mem_remove(f->cache.mem, obj);
    }
}

/* a storable response too big for memory goes to the disk tier as it arrives: the record's head is a copy of the object's
 * with only what may be shared (the object itself is passed through to its reader with the origin's head) */
static void start_disk_stream(fill_t *f, int status, const char *reason, const h2o_headers_t *resp, int64_t content_length)
{
    cache_obj_t *obj = f->obj, *head = cache_obj_new(obj->hash, cache_obj_key(obj), cache_obj_url(obj));
    cache_decision_t d;
    h2o_headers_t shared, ordered;
    cache_obj_decision(obj, &d);
    cache_obj_set_decision(head, &d);
    size_t num_tags;
    const h2o_iovec_t *tags = cache_obj_tags(obj, &num_tags);
    cache_obj_set_meta(head, cache_obj_vary_names(obj), obj->num_vary, cache_obj_vary_key(obj), tags, num_tags);
    cache_policy_shareable_headers(&f->pool, resp, &shared);
    size_t plain = order_for_delivery(&f->pool, &shared, 1, &ordered);
    cache_obj_set_head(head, status, reason, ordered.entries, ordered.size, plain, content_length, 0);
    f->disk_stream = cache_disk_stream_begin(handler_disk, head, (uint64_t)content_length);
    cache_obj_release(head);
}

static void copy_headers(h2o_mem_pool_t *pool, h2o_headers_t *h);

/* a 206 to a forwarded Range: passed through to its reader as it is, and kept as a part of the representation
 * (cache/partial.h) when it may be: storable as its 200 would be (RFC 9111 §3.3), one valid Content-Range with a known length,
 * a Content-Length (if any) that agrees, at most one ETag (parts combine only under one strong ETag), no Vary, not larger than
 * max_object_size */
static void publish_part_head(fill_t *f, int status, const char *reason, const h2o_headers_t *resp, int64_t content_length)
{
    cache_decision_t d;
    cache_vary_t vary;
    const char *why = NULL;
    ssize_t cr = h2o_find_header(resp, H2O_TOKEN_CONTENT_RANGE, -1), et = h2o_find_header(resp, H2O_TOKEN_ETAG, -1);
    uint64_t first = 0, last = 0, complete = 0;

    cache_policy_evaluate(&f->cache.policy, f->req.method, &f->req.headers, 200, resp, f->progress.request_time_ms,
                          server_now_ms(), &d);
    cache_vary_parse(&f->pool, resp, &vary);
    if (!d.storable)
        why = d.reason;
    else if (cr == -1 || h2o_find_header(resp, H2O_TOKEN_CONTENT_RANGE, cr) != -1 ||
             cache_partial_parse_content_range(resp->entries[cr].value.base, resp->entries[cr].value.len, &first, &last,
                                               &complete) != 0)
        why = "not one valid Content-Range with a known complete length";
    else if (content_length >= 0 && (uint64_t)content_length != last - first + 1)
        why = "Content-Length and Content-Range disagree";
    else if (last - first + 1 > f->cache.max_object_size)
        why = "the part is larger than cache.max_object_size";
    else if (et != -1 && h2o_find_header(resp, H2O_TOKEN_ETAG, et) != -1)
        why = "several ETag fields";
    else if (vary.count != 0 || h2o_find_header(resp, H2O_TOKEN_VARY, -1) != -1)
        why = "Vary";
    if (why == NULL) {
        h2o_headers_t shared;
        f->part.active = 1;
        f->part.first = first;
        f->part.last = last;
        f->part.complete = complete;
        /* no ETag, or a weak one: kept alone, combined with nothing (cache/partial.h) */
        f->part.etag = et != -1 ? h2o_strdup(&f->pool, resp->entries[et].value.base, resp->entries[et].value.len) : h2o_iovec_init("", 0);
        f->part.decision = d;
        f->part.num_tags = collect_tags(&f->pool, resp, &f->part.tags);
        cache_policy_shareable_headers(&f->pool, resp, &shared);
        memset(&f->part.headers, 0, sizeof(f->part.headers));
        h2o_vector_reserve(&f->pool, &f->part.headers, shared.size);
        for (size_t i = 0; i != shared.size; ++i) {
            const h2o_iovec_t *n = shared.entries[i].name;
            if (n == &H2O_TOKEN_CONTENT_RANGE->buf || n == &H2O_TOKEN_CONTENT_LENGTH->buf || needs_a_look(n, 1))
                continue;
            f->part.headers.entries[f->part.headers.size++] = shared.entries[i];
        }
        copy_headers(&f->pool, &f->part.headers); /* the origin client's head goes away before the body ends */
        if ((f->part.body = malloc((size_t)(last - first + 1))) == NULL)
            h2o_fatal("no memory");
    } else {
        log_debug("206 not stored as a part: %s (%.*s)", why, (int)f->obj->url_len, cache_obj_url(f->obj).base);
        cache_partial_count_refused(f->cache.partial);
    }
    h2o_headers_t ordered;
    size_t plain = order_for_delivery(&f->pool, resp, 0, &ordered);
    cache_obj_set_head(f->obj, status, reason, ordered.entries, ordered.size, plain, content_length, 1);
    make_transient(f);
}

/* the part's body is whole: stored, and when the parts now cover the representation, their combination is */
static void store_part(fill_t *f)
{
    cache_obj_t *obj = f->obj;
    cache_partial_whole_t whole;
    if (f->part.received != f->part.last - f->part.first + 1) {
        log_debug("206 not stored as a part: %llu body bytes for a range of %llu", (unsigned long long)f->part.received,
                  (unsigned long long)(f->part.last - f->part.first + 1));
        cache_partial_count_refused(f->cache.partial);
        return;
    }
    cache_partial_part_t p = {.hash = obj->hash,
                              .key = cache_obj_key(obj),
                              .etag = f->part.etag,
                              .first = f->part.first,
                              .last = f->part.last,
                              .complete = f->part.complete,
                              .headers = f->part.headers.entries,
                              .num_headers = f->part.headers.size,
                              .decision = &f->part.decision,
                              .tags = f->part.tags,
                              .num_tags = f->part.num_tags,
                              .body = f->part.body,
                              .epoch = f->cache.partial_epoch};
    if (cache_partial_add(f->cache.partial, &p, &whole) == CACHE_PARTIAL_COMPLETE) {
        if (cache_partial_whole_store(f->cache.mem, obj->hash, cache_obj_key(obj), cache_obj_url(obj), &whole,
                                      f->cache.max_object_size) == 0)
            log_debug("parts combined into a stored response (%.*s)", (int)obj->url_len, cache_obj_url(obj).base);
        cache_partial_whole_free(&whole);
    }
}

/*
 * Decides whether the response is stored, publishes its head and returns 1 when stored; 0: passed through to the reader that
 * started the fetch (followers fetch for themselves, and for a while requests for this key do not wait for each other).
 */
static int publish_head(fill_t *f, int status, const char *reason, const h2o_headers_t *resp, int64_t content_length)
{
    cache_obj_t *obj = f->obj;
    cache_decision_t d;
    cache_vary_t vary;
    h2o_iovec_t vary_key = {NULL, 0}, *tags = NULL;
    size_t num_tags;
    int store = 0;

    h2o_headers_t ordered;
    size_t plain;
    if (f->cache.partial != NULL && status == 206) {
        publish_part_head(f, status, reason, resp, content_length);
        return 0;
    }
    if (f->cache.mem == NULL) {
        plain = order_for_delivery(&f->pool, resp, 0, &ordered);
        cache_obj_set_head(obj, status, reason, ordered.entries, ordered.size, plain, content_length, 1);
        make_transient(f);
        return 0;
    }
    cache_policy_evaluate(&f->cache.policy, f->req.method, &f->req.headers, status, resp, f->progress.request_time_ms,
                          server_now_ms(), &d);
    cache_vary_parse(&f->pool, resp, &vary);
    if (d.storable && cache_vary_key(&f->pool, &vary, &f->req.vary_headers, &vary_key) != 0)
        d.storable = 0;
    int to_disk = 0;
    if (d.storable && content_length >= 0 && (uint64_t)content_length > f->cache.max_object_size) {
        d.storable = 0;
        /* too big for memory: the disk tier may take it, written there as it arrives */
        to_disk = handler_disk != NULL && (uint64_t)content_length <= cache_disk_max_object(handler_disk);
    }
    num_tags = collect_tags(&f->pool, resp, &tags);
    cache_obj_set_decision(obj, &d);
    cache_obj_set_meta(obj, vary.names, vary.count, vary_key, tags, num_tags);
    if (d.storable) {
        if (f->cache.insert)
            store = cache_mem_insert(f->cache.mem, obj) == 0 && cache_mem_store_head(f->cache.mem, obj) == 0;
        else
            store = cache_mem_store_head(f->cache.mem, obj) == 0;
    }
    if (!store) {
        log_debug("not stored: %s (%.*s)", d.reason != NULL ? d.reason : "does not fit", (int)obj->url_len, cache_obj_url(obj).base);
        if (!f->cache.insert)
            cache_mem_remove(f->cache.mem, obj);
        if (d.reason != NULL && h2o_find_header(&f->req.headers, H2O_TOKEN_AUTHORIZATION, -1) == -1)
            cache_mem_mark_pass(f->cache.mem, obj->hash, cache_obj_key(obj), cache_obj_url(obj), server_now_ms(), FILL_HIT_FOR_MISS_MS);
        plain = order_for_delivery(&f->pool, resp, 0, &ordered);
        cache_obj_set_head(obj, status, reason, ordered.entries, ordered.size, plain, content_length, 1);
        make_transient(f);
        if (to_disk)
            start_disk_stream(f, status, reason, resp, content_length);
        return 0;
    }
    f->progress.stored = 1;
    /* the stored head is every reader's, this client's too: no Set-Cookie, nothing a no-cache="..." list names */
    h2o_headers_t shared;
    cache_policy_shareable_headers(&f->pool, resp, &shared);
    plain = order_for_delivery(&f->pool, &shared, 1, &ordered);
    cache_obj_set_head(obj, status, reason, ordered.entries, ordered.size, plain, content_length, 0);
    return 1;
}

/* completes the object with a body that is here whole (a hook's) */
static void publish_body(fill_t *f, h2o_iovec_t body)
{
    cache_obj_append(f->obj, body.base, body.len);
    if (f->progress.stored && cache_mem_charge(f->cache.mem, f->obj, f->cache.max_object_size) != 0)
        f->progress.stored = 0;
    cache_obj_complete(f->obj);
    if (f->progress.stored) {
        cache_mem_complete(f->cache.mem, f->obj);
        cache_disk_store(handler_disk, f->obj);
    }
}

/* ---- hooks ---------------------------------------------------------------------------------------------------------------- */

/* copies header names (unless tokens), original names and values into pool */
static void copy_headers(h2o_mem_pool_t *pool, h2o_headers_t *h)
{
    for (size_t i = 0; i != h->size; ++i) {
        if (!h2o_iovec_is_token(h->entries[i].name)) {
            h2o_iovec_t *n = h2o_mem_alloc_pool(pool, sizeof(*n));
            *n = h2o_strdup(pool, h->entries[i].name->base, h->entries[i].name->len);
            h->entries[i].name = n;
        }
        if (h->entries[i].orig_name != NULL)
            h->entries[i].orig_name = h2o_strdup(pool, h->entries[i].orig_name, h->entries[i].name->len).base;
        h->entries[i].value = h2o_strdup(pool, h->entries[i].value.base, h->entries[i].value.len);
    }
}

/* a copy of a header list, entries and bytes, in pool */
static h2o_headers_t dup_headers(h2o_mem_pool_t *pool, const h2o_header_t *src, size_t n)
{
    h2o_headers_t h = {NULL, 0, 0};
    h2o_vector_reserve(pool, &h, n);
    if (n != 0)
        memcpy(h.entries, src, sizeof(h2o_header_t) * n);
    h.size = n;
    copy_headers(pool, &h);
    return h;
}

/* the request part of an origin event, from what the fill keeps (its own copies: they outlive the client's request) */
static void request_event(fill_t *f, int type, hook_fn_t *fn, hook_event_t *ev)
{
    const char *q = memchr(f->req.path.base, '?', f->req.path.len);
    hookcall_request_t r = {.request_id = f->req.request_id,
                            .authority = f->req.authority,
                            .client_ip = f->req.client_ip,
                            .method = f->req.method,
                            .path = f->req.path,
                            .query_at = q != NULL ? (size_t)(q - f->req.path.base) : SIZE_MAX,
                            .headers = f->req.headers.entries,
                            .num_headers = f->req.headers.size,
                            .body = type == HOOK_ORIGIN_REQUEST ? f->req.body : h2o_iovec_init(NULL, 0),
                            .distribution_id = f->req.distribution_id,
                            .distribution_domain = f->req.distribution_domain};
    hookcall_request_event(&f->pool, type, fn, &r, ev);
    /* origin-request: the behavior's origin; origin-response: where the request went, as the origin-request hook left it */
    if (type == HOOK_ORIGIN_RESPONSE && f->hooks.chosen.kind != HOOK_ORIGIN_NONE)
        ev->request.origin = f->hooks.chosen;
    else
        dynorigin_describe(type == HOOK_ORIGIN_REQUEST ? f->hooks.default_origin : f->origin, &f->pool, &ev->request.origin);
    ev->request.origin.changed = 0;
}

/* a copy of a hook's origin in the fill's pool (the event may live in the hook call's memory) */
/* whether a cache key holds the version id (as is, or percent-encoded as a query value) */
static int key_names_version(h2o_iovec_t key, h2o_iovec_t version)
{
    char enc[3 * 1024 + 1];
    size_t n = 0;
    for (size_t i = 0; i != version.len && n + 3 < sizeof(enc); ++i) {
        char c = version.base[i];
        if (c == '+' || c == '/' || c == '=')
            n += (size_t)snprintf(enc + n, sizeof(enc) - n, "%%%02X", (unsigned char)c);
        else
            enc[n++] = c;
    }
    return h2o_strstr(key.base, key.len, version.base, version.len) != SIZE_MAX ||
           h2o_strstr(key.base, key.len, enc, n) != SIZE_MAX;
}

static void keep_origin(fill_t *f, const hook_origin_t *src)
{
    hook_origin_t *o = &f->hooks.chosen;
    *o = *src;
#define DUP(field) o->field = src->field.len != 0 ? h2o_strdup(&f->pool, src->field.base, src->field.len) : h2o_iovec_init("", 0)
    DUP(domain_name);
    DUP(path);
    DUP(protocol);
    DUP(region);
    DUP(auth_method);
    DUP(version_id);
#undef DUP
    memset(&o->custom_headers, 0, sizeof(o->custom_headers));
    for (size_t i = 0; i != src->custom_headers.size; ++i) {
        const hook_header_t *h = &src->custom_headers.entries[i];
        hook_headers_add(&f->pool, &o->custom_headers, h->key.base, h->key.len, h->value.base, h->value.len);
    }
}

static void response_event(fill_t *f, int status, h2o_iovec_t reason, const h2o_headers_t *resp, hook_event_t *ev)
{
    request_event(f, HOOK_ORIGIN_RESPONSE, f->hooks.response, ev);
    ev->response.status = status;
    ev->response.status_description = reason;
    hookcall_from_h2o_headers(&f->pool, resp->entries, resp->size, &ev->response.headers);
}

static void on_hook_done(hookcall_t *call, void *arg);
static int take_body(fill_t *f, const char *data, size_t len);

/* runs fn on ev; HOOKCALL_PENDING: on_hook_done goes on with the outcome later */
static hookcall_progress_t start_hook(fill_t *f, hook_fn_t *fn, hook_event_t *ev)
{
    return hookcall_start(&f->hooks.call, fn, ev, &f->pool, &f->hooks.limits, on_hook_done, f);
}

/* fails the object for a hook that failed (no stale fallback: the origin did not fail) */
static void fail_for_hook(fill_t *f, int status, int type)
{
    char msg[96];
    snprintf(msg, sizeof(msg), status == 502 ? "the %s hook returned an invalid result" : "the %s hook failed",
             hook_event_type_name(type));
    stop_fetch(f);
    if (f->cache.mem != NULL && (f->progress.stored || cache_obj_state(f->obj) == CACHE_OBJ_BUSY))
        cache_mem_remove(f->cache.mem, f->obj);
    cache_obj_fail(f->obj, status, h2o_strdup(&f->pool, msg, SIZE_MAX).base, NULL);
    fill_free(f);
}

/* completes the object with a response that is here whole (a hook's) and frees the fill */
static void publish_whole(fill_t *f, int status, h2o_iovec_t reason, const h2o_headers_t *headers, h2o_iovec_t body)
{
    char reason_buf[48];
    snprintf(reason_buf, sizeof(reason_buf), "%.*s", (int)(reason.len < 47 ? reason.len : 47), reason.base);
    publish_head(f, status, reason_buf, headers, (int64_t)body.len);
    publish_body(f, body);
    fill_free(f);
}

static void fill_go(fill_t *f);

/* the fetches the hook call that just ended made (slot 0: origin-request, 2: origin-response), for the access log */
static void record_hook_fetches(fill_t *f, int slot)
{
    const hookcall_t *c = &f->hooks.call;
    unsigned made = c->fetches - f->hooks.fetches_seen[0], failed = c->fetches_failed - f->hooks.fetches_seen[1];
    f->hooks.fetches_seen[0] = c->fetches;
    f->hooks.fetches_seen[1] = c->fetches_failed;
    atomic_store_explicit(&f->obj->hook_fetches[slot], (uint8_t)(made < 255 ? made : 255), memory_order_relaxed);
    atomic_store_explicit(&f->obj->hook_fetches[slot + 1], (uint8_t)(failed < 255 ? failed : 255), memory_order_relaxed);
}

/* what the origin-request hook decided: the request as rewritten goes on to the (maybe other) origin, or its answer is stored */
static void apply_request_hook(fill_t *f, const hookcall_t *call)
{
    const hook_request_t *r = &call->ev->request;
    record_hook_fetches(f, 0);
    switch (call->status) {
    case HOOK_CONTINUE: {
        h2o_headers_t headers;
        ssize_t host;
        const char *why;
        f->req.path =
            r->querystring.len != 0 ? h2o_concat(&f->pool, r->uri, h2o_iovec_init(H2O_STRLIT("?")), r->querystring) : r->uri;
        if (hookcall_normalize_uri(&f->pool, &f->req.path, NULL, &why) != 0) {
            log_error("request %.*s: origin-request hook %s returned a uri that is refused: %s", (int)f->req.request_id.len,
                      f->req.request_id.base, hook_fn_name(f->hooks.request), why);
            fail_for_hook(f, 502, HOOK_ORIGIN_REQUEST);
            return;
        }
        hookcall_to_h2o_headers(&f->pool, &r->headers, &headers);
        hookcall_keep_disallowed(&f->pool, f->req.headers.entries, f->req.headers.size, &headers);
        if ((host = h2o_find_header(&headers, H2O_TOKEN_HOST, -1)) != -1) {
            /* a Host the hook changed goes to the origin (AWS's examples switch buckets with the origin and the Host); the one
             * it was shown (the viewer's) leaves the origin's own */
            h2o_iovec_t v = headers.entries[host].value;
            if (!h2o_memis(v.base, v.len, f->req.authority.base, f->req.authority.len)) {
                f->req.authority = h2o_strdup(&f->pool, v.base, v.len);
                f->req.host = f->req.authority;
            }
            h2o_delete_header(&headers, host);
        }
        copy_headers(&f->pool, &headers); /* the event may live in the hook call's memory */
        f->req.headers = headers;
        if (r->body.replaced)
            f->req.body = h2o_strdup(&f->pool, r->body.data.base, r->body.data.len);
        if (r->origin.changed) {
            char err[256];
            origin_t *o = dynorigin_get(&r->origin, f->hooks.default_origin, err, sizeof(err));
            if (o == NULL) {
                log_error("request %.*s: origin-request hook %s chose an unusable origin: %s", (int)f->req.request_id.len,
                          f->req.request_id.base, hook_fn_name(f->hooks.request), err);
                if (f->cache.mem != NULL)
                    cache_mem_remove(f->cache.mem, f->obj);
                cache_obj_fail(f->obj, 502, "the origin chosen by the origin-request hook is unusable", NULL);
                fill_free(f);
                return;
            }
            origin_addref(o);
            origin_release(f->origin);
            f->origin = o;
        }
        keep_origin(f, &r->origin);
        if (f->hooks.chosen.kind == HOOK_ORIGIN_S3 && f->hooks.chosen.version_id.len != 0 && f->cache.mem != NULL &&
            !key_names_version(cache_obj_key(f->obj), f->hooks.chosen.version_id)) {
            /* a pinned object version is shared through the cache only under a key that names it (the key was made before
             * this hook ran): else another version's request could be answered with this one */
            cache_mem_remove(f->cache.mem, f->obj);
            f->cache.insert = 0;
        }
        /* Lambda@Edge customHeaders: sent to the origin with the request */
        h2o_headers_t custom = {NULL, 0, 0};
        hookcall_to_h2o_headers(&f->pool, &r->origin.custom_headers, &custom);
        f->req.custom_headers = dup_headers(&f->pool, custom.entries, custom.size);
        hookcall_cancel(&f->hooks.call); /* what the fill keeps of the result was copied */
        fill_go(f);
        return;
    }
    case HOOK_RESPOND: {
        h2o_headers_t headers;
        const hook_response_t *resp = &call->ev->response;
        metrics_count(METRIC_CACHE_GENERATED, 1);
        if (f->cache.stale != NULL) {
            cache_obj_release(f->cache.stale); /* nothing to revalidate: the hook answered */
            f->cache.stale = NULL;
        }
        hookcall_to_h2o_response_headers(&f->pool, &resp->headers, &headers);
        publish_whole(f, resp->status, resp->status_description.len != 0 ? resp->status_description : h2o_iovec_init(H2O_STRLIT("OK")),
                      &headers, resp->has_body ? resp->body : h2o_iovec_init(NULL, 0));
        return;
    }
    default:
        fail_for_hook(f, call->http_status, HOOK_ORIGIN_REQUEST);
        return;
    }
}

/*
 * What the origin-response hook decided (it may change the status and the headers, or replace the body: the origin's is not
 * exposed), applied to the head and published. Returns 1 when the fill is done (freed).
 */
static int apply_response_hook(fill_t *f, const hookcall_t *call, const h2o_headers_t *before, int64_t content_length)
{
    record_hook_fetches(f, 2);
    const hook_response_t *r = &call->ev->response;
    h2o_headers_t resp;
    char reason_buf[48];
    if (call->status != HOOK_CONTINUE) {
        fail_for_hook(f, call->http_status, HOOK_ORIGIN_RESPONSE);
        return 1;
    }
    resp = (h2o_headers_t){before->entries, before->size, before->size}; /* full: an append does not write into before's array */
    hookcall_apply_response_headers(&f->pool, &r->headers, &resp);
    if (r->has_body || r->status == 204 || r->status == 304) {
        /* the hook's body replaces the origin's (none for 204 and 304): stop reading the origin */
        stop_fetch(f);
        publish_whole(f, r->status, r->status_description, &resp, r->has_body ? r->body : h2o_iovec_init(NULL, 0));
        return 1;
    }
    snprintf(reason_buf, sizeof(reason_buf), "%.*s", (int)(r->status_description.len < 47 ? r->status_description.len : 47),
             r->status_description.base);
    publish_head(f, r->status, reason_buf, &resp, content_length);
    return 0;
}

static void on_origin_done(origin_req_t *oreq, int status, const char *err);
static void finish(fill_t *f, int status, const char *err);

/* a hook call that went on elsewhere completed */
static void on_hook_done(hookcall_t *call, void *arg)
{
    fill_t *f = arg;
    if (call->ev->type == HOOK_ORIGIN_REQUEST) {
        apply_request_hook(f, call);
        return;
    }
    f->hooks.ores.pending = 0;
    if (!apply_response_hook(f, call, &f->hooks.ores.headers, f->hooks.ores.content_length)) {
        hookcall_cancel(call); /* what the fill keeps of the result was copied */
        if (f->hooks.ores.buffering) {
            /* the hook kept the origin's body: it goes to the object as read */
            f->hooks.ores.buffering = 0;
            if (take_body(f, f->hooks.ores.body.base, f->hooks.ores.body.len))
                return;
        }
        if (f->hooks.ores.origin_done)
            finish(f, f->hooks.ores.origin_status, f->hooks.ores.origin_err);
        else if (f->oreq != NULL)
            origin_req_resume(f->oreq);
    }
}

/*
 * What reaches viewers from an S3 origin: its x-amz-* response headers name its internals (x-amz-request-id, x-amz-id-2, the
 * encryption and replication state, the bucket's region...) and go, but for x-amz-meta-* (the object's own metadata, set by
 * whoever uploaded it) and x-amz-version-id, which CloudFront passes too. `pass_amz_headers: true` keeps them all. Returns the
 * kept headers in the fill's pool; *request_id is S3's x-amz-request-id (for the error log).
 */
static h2o_header_t *strip_amz_headers(fill_t *f, h2o_header_t *headers, size_t *num_headers, h2o_iovec_t *request_id)
{
    h2o_header_t *kept;
    size_t n = 0;
    *request_id = h2o_iovec_init(NULL, 0);
    for (size_t i = 0; i != *num_headers; ++i)
        if (h2o_lcstris(headers[i].name->base, headers[i].name->len, H2O_STRLIT("x-amz-request-id")))
            *request_id = headers[i].value;
    if (f->origin->s3 == NULL || f->origin->pass_amz_headers)
        return headers;
    kept = h2o_mem_alloc_pool(&f->pool, sizeof(*kept) * (*num_headers + 1));
    for (size_t i = 0; i != *num_headers; ++i) {
        const h2o_iovec_t *name = headers[i].name;
        if (name->len >= 6 && h2o_lcstris(name->base, 6, H2O_STRLIT("x-amz-")) &&
            !(name->len > 11 && h2o_lcstris(name->base, 11, H2O_STRLIT("x-amz-meta-"))) &&
            !h2o_lcstris(name->base, name->len, H2O_STRLIT("x-amz-version-id")))
            continue;
        kept[n++] = headers[i];
    }
    *num_headers = n;
    return kept;
}

/* the text of <NAME>...</NAME> in an S3 error document, or "" */
static h2o_iovec_t xml_element(const char *doc, size_t len, const char *name)
{
    char open[40], close[40];
    int ol = snprintf(open, sizeof(open), "<%s>", name), cl = snprintf(close, sizeof(close), "</%s>", name);
    const char *s = memmem(doc, len, open, (size_t)ol), *e;
    if (s == NULL || (e = memmem(s + ol, len - (size_t)(s + ol - doc), close, (size_t)cl)) == NULL)
        return h2o_iovec_init("", 0);
    return h2o_iovec_init(s + ol, (size_t)(e - s - ol));
}

/* the S3 error is read: its cause goes to the error log, and the viewers get the status with a short body of ours (the document
 * names the bucket, the key, S3's request ids and, for a bad signature, the access key id and what was signed) */
static void finish_s3_error(fill_t *f)
{
    h2o_iovec_t code = xml_element(f->s3err.doc, f->s3err.doc_len, "Code"),
                msg = xml_element(f->s3err.doc, f->s3err.doc_len, "Message");
    h2o_headers_t headers = {NULL, 0, 0};
    char *body = h2o_mem_alloc_pool(&f->pool, 80);
    int blen;
    log_error("origin %s (S3) answered %d %.*s: %.*s (x-amz-request-id %.*s; request %.*s)", f->origin->name, f->s3err.status,
              (int)(code.len < 100 ? code.len : 100), code.base, (int)(msg.len < 400 ? msg.len : 400), msg.base,
              (int)(f->s3err.request_id.len < 64 ? f->s3err.request_id.len : 64), f->s3err.request_id.base,
              (int)f->req.request_id.len, f->req.request_id.base);
    blen = snprintf(body, 80, "%d %.*s\n", f->s3err.status, (int)(f->s3err.reason.len < 60 ? f->s3err.reason.len : 60),
                    f->s3err.reason.base);
    h2o_add_header(&f->pool, &headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; charset=utf-8"));
    publish_whole(f, f->s3err.status, f->s3err.reason, &headers, h2o_iovec_init(body, (size_t)blen));
}

static void on_origin_head(origin_req_t *oreq, int status, h2o_iovec_t reason, h2o_header_t *headers, size_t num_headers,
                           int64_t content_length)
{
    fill_t *f = oreq->data;
    h2o_iovec_t amz_request_id;
    headers = strip_amz_headers(f, headers, &num_headers, &amz_request_id);
    if (f->tier.current >= 0) {
        /* a parent's answer: its request id is its own (viewers get this node's); X-Cache and X-Served-By stay, and this node
         * appends its own to them when it delivers (proxy/handler.c) */
        size_t kept = 0;
        for (size_t i = 0; i != num_headers; ++i)
            if (!headers_name_is(headers[i].name, H2O_STRLIT("x-request-id")))
                headers[kept++] = headers[i];
        num_headers = kept;
        if (status == 508)
            log_error("origin %s: parent %s answered 508: a loop (its parents lead back to a node this request passed)",
                      f->origin->name, f->origin->parents->items[f->tier.current].name);
    }
    h2o_headers_t resp = {headers, num_headers, num_headers};
    char reason_buf[48];

    f->progress.origin_status = status;
    if (f->cache.stale != NULL) {
        if (status == 304) {
            on_not_modified(f, headers, num_headers);
            f->progress.done_early = 1;
            return;
        }
        cache_decision_t sd;
        cache_obj_decision(f->cache.stale, &sd);
        if (cache_policy_is_error_status(status) && cache_policy_stale_if_error(&sd, NULL, server_now_ms())) {
            /* stale-if-error: the readers get the stored response instead of this error */
            log_warn("origin %s answered %d: serving the stale copy (stale-if-error)", f->origin->name, status);
            stop_fetch(f); /* inside the callback: the origin client finishes without calling us again */
            fail_object(f, status, "origin error");
            fill_free(f);
            return;
        }
    }
    if (f->origin->s3 != NULL && (status == 403 || status >= 500)) {
        /* read the error document (finish_s3_error); no origin-response hook sees it */
        f->s3err.active = 1;
        f->s3err.status = status;
        f->s3err.reason = h2o_strdup(&f->pool, reason.len != 0 ? reason.base : "Error", reason.len != 0 ? reason.len : 5);
        f->s3err.request_id = h2o_strdup(&f->pool, amz_request_id.base, amz_request_id.len);
        return;
    }
    if (f->hooks.response != NULL) {
        hook_event_t ev;
        f->obj->response_hooked = 1;
        /* the head, kept: the call may complete later, after the origin client let go of it */
        f->hooks.ores.status = status;
        f->hooks.ores.reason = h2o_strdup(&f->pool, reason.base, reason.len);
        f->hooks.ores.headers = dup_headers(&f->pool, headers, num_headers);
        f->hooks.ores.content_length = content_length;
        uint64_t body_max = hook_fn_origin_body(f->hooks.response);
        if (body_max != 0 && content_length >= 0 && (uint64_t)content_length <= body_max && status != 204 && status != 304 &&
            !h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("HEAD")) &&
            hook_fn_handles(f->hooks.response, HOOK_ORIGIN_RESPONSE)) {
            /* the hook reads the origin's body (ABI 1.7): it runs when the body is here whole (on_origin_done) */
            f->hooks.ores.buffering = 1;
            f->hooks.ores.body = h2o_iovec_init(h2o_mem_alloc_pool(&f->pool, (size_t)content_length + 1), 0);
            return;
        }
        response_event(f, status, f->hooks.ores.reason, &f->hooks.ores.headers, &ev);
        if (start_hook(f, f->hooks.response, &ev) == HOOKCALL_PENDING) {
            /* no body is read until the hook has decided what the head is */
            f->hooks.ores.pending = 1;
            origin_req_pause(oreq);
            return;
        }
        apply_response_hook(f, &f->hooks.call, &f->hooks.ores.headers, content_length);
        return;
    }
    snprintf(reason_buf, sizeof(reason_buf), "%.*s", (int)(reason.len < 47 ? reason.len : 47), reason.base);
    publish_head(f, status, reason_buf, &resp, content_length);
}

static void on_origin_body(origin_req_t *oreq, const char *data, size_t len)
{
    fill_t *f = oreq->data;
    if (f->progress.done_early)
        return;
    f->progress.received += len;
    if (f->s3err.active) {
        size_t take = sizeof(f->s3err.doc) - f->s3err.doc_len < len ? sizeof(f->s3err.doc) - f->s3err.doc_len : len;
        memcpy(f->s3err.doc + f->s3err.doc_len, data, take);
        f->s3err.doc_len += take;
        return;
    }
    if (f->hooks.ores.buffering) {
        /* the origin client holds the origin to its Content-Length: what is over it is not kept */
        size_t room = (size_t)f->hooks.ores.content_length - f->hooks.ores.body.len, take = len < room ? len : room;
        memcpy(f->hooks.ores.body.base + f->hooks.ores.body.len, data, take);
        f->hooks.ores.body.len += take;
        return;
    }
    take_body(f, data, len);
}

/* a piece of the body for the object and its readers; 1 when the fill is done (freed) */
static int take_body(fill_t *f, const char *data, size_t len)
{
    cache_obj_append(f->obj, data, len);
    if (f->part.active) {
        uint64_t want = f->part.last - f->part.first + 1;
        if (f->part.received + len <= want)
            memcpy(f->part.body + f->part.received, data, len);
        f->part.received += len; /* more than the range: not stored (store_part) */
    }
    if (f->disk_stream != NULL)
        cache_disk_stream_write(f->disk_stream, data, len);
    if (f->progress.stored && cache_mem_charge(f->cache.mem, f->obj, f->cache.max_object_size) != 0) {
        /* larger than the cache takes, or purged meanwhile: stream it through */
        log_debug("not stored: larger than cache.max_object_size (%.*s)", (int)f->obj->url_len, cache_obj_url(f->obj).base);
        make_transient(f);
    }
    if (f->progress.transient) {
        if (cache_obj_num_readers(f->obj) == 0) {
            stop_fetch(f);
            cache_obj_fail(f->obj, 0, "all readers left", NULL);
            fill_free(f);
            return 1;
        }
        if (f->oreq != NULL && cache_obj_window_full(f->obj, FILL_PASS_WINDOW)) {
            f->progress.paused = 1;
            origin_req_pause(f->oreq);
        }
    }
    return 0;
}

/* the origin's response ended (err NULL: complete) */
static void finish(fill_t *f, int status, const char *err)
{
    if (f->progress.done_early) {
        fill_free(f);
        return;
    }
    if (f->s3err.active) {
        finish_s3_error(f);
        return;
    }
    if (f->disk_stream != NULL) {
        cache_disk_stream_end(f->disk_stream, err == NULL);
        f->disk_stream = NULL;
    }
    if (err == NULL) {
        cache_obj_complete(f->obj);
        if (f->part.active)
            store_part(f);
        if (f->progress.stored) {
            cache_mem_complete(f->cache.mem, f->obj);
            cache_disk_store(handler_disk, f->obj); /* written through: the disk tier has what memory has */
        }
    } else {
        if (cache_obj_state(f->obj) != CACHE_OBJ_BUSY)
            log_error("origin %s: response cut short after %llu bytes: %s", f->origin->name,
                      (unsigned long long)f->progress.received, err);
        metrics_count(METRIC_ORIGIN_ERRORS, 1);
        fail_object(f, status, err);
    }
    fill_free(f);
}

/* a parent could not be reached (nothing of a response came): the next one in rendezvous order, or the origin */
static int fail_over(fill_t *f, int status, const char *err)
{
    if (f->tier.current < 0 || err == NULL || f->progress.origin_status != 0 || f->progress.done_early || f->s3err.active ||
        f->hooks.ores.pending)
        return 0;
    /* a parent that accepted the request and is slow to answer is waiting on the origin itself: asking another would fetch twice */
    if (status != 502 && strcmp(err, "connect timeout") != 0)
        return 0;
    parents_mark_down(f->origin->parents, (size_t)f->tier.current, err);
    log_warn("origin %s: parent %s failed (%s): trying the next", f->origin->name, f->origin->parents->items[f->tier.current].name,
             err);
    ++f->tier.next;
    fill_go(f);
    return 1;
}

static void on_origin_done(origin_req_t *oreq, int status, const char *err)
{
    fill_t *f = oreq->data;
    f->oreq = NULL;
    if (fail_over(f, status, err))
        return;
    if (f->hooks.ores.buffering && err == NULL && !f->progress.done_early && !f->s3err.active) {
        /* the body is here whole: the origin-response hook runs now, with it */
        hook_event_t ev;
        response_event(f, f->hooks.ores.status, f->hooks.ores.reason, &f->hooks.ores.headers, &ev);
        ev.response.has_origin_body = 1;
        ev.response.origin_body = f->hooks.ores.body;
        f->hooks.ores.origin_done = 1;
        f->hooks.ores.origin_status = status;
        f->hooks.ores.origin_err = NULL;
        if (start_hook(f, f->hooks.response, &ev) == HOOKCALL_PENDING) {
            f->hooks.ores.pending = 1;
            return;
        }
        on_hook_done(&f->hooks.call, f);
        return;
    }
    if (f->hooks.ores.pending) {
        /* the origin-response hook still decides the head: finish when it has */
        f->hooks.ores.origin_done = 1;
        f->hooks.ores.origin_status = status;
        f->hooks.ores.origin_err = err != NULL ? h2o_strdup(&f->pool, err, SIZE_MAX).base : NULL;
        return;
    }
    finish(f, status, err);
}

static const origin_req_callbacks_t origin_callbacks = {on_origin_head, on_origin_body, on_origin_done};

/* ---- starting ------------------------------------------------------------------------------------------------------------- */

/* the fetch itself, once the origin-request hook (if any) let the request go on */
static void fill_go(fill_t *f)
{
    origin_t *origin = f->origin;
    h2o_headers_t headers = {NULL, 0, 0};
    h2o_iovec_t path;
    int idempotent;
    parents_t *parents = f->origin->parents;

    f->tier.current = -1;
    if (parents != NULL && f->cache.mem != NULL) {
        /* a cache miss: the parent the key hashes to, then the others in rendezvous order, then (parents_fallback) the origin */
        if (!f->tier.planned) {
            f->tier.planned = 1;
            f->tier.num = parents_order(parents, cache_obj_key(f->obj), f->tier.order);
        }
        if (f->tier.next < f->tier.num) {
            f->tier.current = f->tier.order[f->tier.next];
            origin = parents->items[f->tier.current].o;
            atomic_fetch_add_explicit(&parents->items[f->tier.current].stats[PARENT_STAT_REQUESTS], 1, memory_order_relaxed);
        } else if (!parents->fallback_origin) {
            log_error("origin %s: no parent can be reached (parents_fallback: error)", f->origin->name);
            fail_object(f, 502, "no parent can be reached");
            fill_free(f);
            return;
        }
    }

    if (f->origin_name_out != NULL) {
        *f->origin_name_out = origin->name;
        f->origin_name_out = NULL;
    }
    if (origin->s3 != NULL && !h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("HEAD"))) {
        if (f->cache.mem != NULL)
            cache_mem_remove(f->cache.mem, f->obj);
        cache_obj_fail(f->obj, 405, "an S3 origin is read-only here: GET and HEAD", NULL);
        fill_free(f);
        return;
    }
    path = h2o_concat(&f->pool, origin->path_prefix, f->req.path);
    {
        fill_request_t r = {
            .headers = &f->req.headers, .client_ip = f->req.client_ip, .client_https = f->req.client_https, .host = f->req.host};
        /* a parent gets the viewer's Host and path, so that it computes the same cache key, and goes to the origin itself */
        if (f->tier.current >= 0)
            r.host = f->req.authority;
        fill_build_origin_headers(&f->pool, origin, &r, &headers);
    }
    for (size_t i = 0; i != f->req.custom_headers.size; ++i) {
        h2o_vector_reserve(&f->pool, &headers, headers.size + 1);
        headers.entries[headers.size++] = f->req.custom_headers.entries[i];
    }
    if (f->cache.mem != NULL) {
        /* a cache fill asks for the whole representation: the client's conditionals and Range are answered from the object */
        cache_policy_strip_conditionals(&headers);
        ssize_t i;
        while ((i = h2o_find_header(&headers, H2O_TOKEN_RANGE, -1)) != -1)
            h2o_delete_header(&headers, i);
        if (f->cache.partial != NULL) /* cache.ranges forward: the client's Range goes on (its 206 may be stored as a part) */
            h2o_add_header(&f->pool, &headers, H2O_TOKEN_RANGE, NULL, f->cache.range.base, f->cache.range.len);
        if (f->cache.stale != NULL) {
            h2o_headers_t stored = cache_obj_headers_pool(f->cache.stale, &f->pool);
            if (cache_policy_add_conditionals(&f->pool, &stored, &headers) != 0)
                metrics_count(METRIC_CACHE_REVALIDATION, 1);
        }
    }
    h2o_iovec_t body = f->req.body.base != NULL ? f->req.body : h2o_iovec_init(NULL, 0);
    h2o_iovec_t version = f->hooks.chosen.kind == HOOK_ORIGIN_S3 ? f->hooks.chosen.version_id : h2o_iovec_init(NULL, 0);
    if (origin->s3 != NULL &&
        s3origin_sign(origin, &f->pool, f->req.method, &path, &headers, body, version, server_now_ms()) != 0) {
        log_error("origin %s: no credentials to sign the request with", origin->name);
        fail_object(f, 502, "the S3 origin has no credentials");
        fill_free(f);
        return;
    }
    if (origin->s3 != NULL && f->cache.mem != NULL)
        storeevents_tag_fill(f->obj, origin, path); /* a write of that object purges it, even while it is fetched */
    idempotent = h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("GET")) ||
                 h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("HEAD")) ||
                 h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("PUT")) ||
                 h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("DELETE")) ||
                 h2o_memis(f->req.method.base, f->req.method.len, H2O_STRLIT("OPTIONS"));
    metrics_count(METRIC_ORIGIN_REQUESTS, 1);
    f->oreq = origin_req_start(origin, f->req.method, path, headers.entries, headers.size, body, idempotent, &origin_callbacks, f);
}

void fill_start(origin_t *origin, const fill_request_t *req, cache_obj_t *obj, const fill_cache_t *cache, const fill_hooks_t *hooks,
                const char **origin_name)
{
    fill_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        h2o_fatal("no memory");
    h2o_mem_init_pool(&f->pool);
    f->obj = obj;
    cache_obj_addref(obj);
    if (cache != NULL) {
        f->cache = *cache;
        if (f->cache.partial != NULL)
            f->cache.range = h2o_strdup(&f->pool, cache->range.base, cache->range.len);
        if (f->cache.stale != NULL)
            cache_obj_addref(f->cache.stale);
    }
    f->progress.request_time_ms = server_now_ms();
    f->tier.current = -1;
    cache_waiter_init(&f->producer, on_producer_wake);
    f->origin = origin;
    origin_addref(origin);
    f->hooks.default_origin = origin;
    origin_addref(origin);
    f->req.method = h2o_strdup(&f->pool, req->method.base, req->method.len);
    f->req.path = h2o_strdup(&f->pool, req->path.base, req->path.len);
    f->req.client_ip = h2o_strdup(&f->pool, req->client_ip.base, req->client_ip.len);
    f->req.client_https = req->client_https;
    f->req.request_id = h2o_strdup(&f->pool, req->request_id.base, req->request_id.len);
    f->req.authority = h2o_strdup(&f->pool, req->authority.base, req->authority.len);
    if (req->distribution_id.len != 0)
        f->req.distribution_id = h2o_strdup(&f->pool, req->distribution_id.base, req->distribution_id.len);
    if (req->distribution_domain.len != 0)
        f->req.distribution_domain = h2o_strdup(&f->pool, req->distribution_domain.base, req->distribution_domain.len);
    /* a GET's body has no meaning (RFC 9110 §9.3.1) and is not in the key: a response that may be shared is fetched without */
    if (req->body.base != NULL && cache == NULL)
        f->req.body = h2o_strdup(&f->pool, req->body.base, req->body.len);
    /* the client's headers, kept for Vary; what goes to the origin (and to the hooks and the storage rules) is, when the
     * response may be stored, only what the behavior forwards: the rest is not in the key, and a response shaped by it would
     * be served to everyone */
    f->req.vary_headers = dup_headers(&f->pool, req->headers->entries, req->headers->size);
    if (cache != NULL)
        cache_forward_filter(&f->pool, cache->policy.forward, &f->req.vary_headers, &f->req.headers);
    else
        f->req.headers = f->req.vary_headers;
    f->cache.policy.forward = NULL; /* the generation's: this fill may outlive it */
    if (hooks != NULL)
        f->hooks.limits = hooks->limits;
    if (hooks != NULL && hooks->origin_response != NULL) {
        f->hooks.response = hooks->origin_response;
        hook_fn_addref(f->hooks.response);
    }
    if (hooks != NULL && hooks->origin_request != NULL) {
        hook_event_t ev;
        f->hooks.request = hooks->origin_request;
        hook_fn_addref(f->hooks.request);
        request_event(f, HOOK_ORIGIN_REQUEST, f->hooks.request, &ev);
        f->origin_name_out = origin_name;
        if (start_hook(f, f->hooks.request, &ev) == HOOKCALL_PENDING) {
            f->origin_name_out = NULL; /* the rest when the call completes */
            return;
        }
        apply_request_hook(f, &f->hooks.call);
        return;
    }
    f->origin_name_out = origin_name;
    fill_go(f);
}
