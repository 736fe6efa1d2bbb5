/* proxy/storeevents.c - the embedded store's notifications, purges and hook writes on the server's side (proxy/storeevents.h) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "cache/memory.h"
#include "hooks/event.h"
#include "hooks/json.h"
#include "proxy/control.h"
#include "proxy/handler.h"
#include "proxy/lambdaasync.h"
#include "proxy/s3origin.h"
#include "proxy/storeevents.h"
#ifdef EDGE_HAVE_STORE_STORE
#include "store/direct.h"
#include "store/notify.h"
#endif

#ifdef EDGE_HAVE_STORE_STORE
static store_t *the_store;

/* ---- the backend of store/notify.h ----------------------------------------------------------------------------------------- */

static int be_function_exists(const char *name)
{
    return lambda_async_function_exists(name);
}

static int be_reserve(unsigned events, uint64_t bytes, uint64_t *res_events, uint64_t *res_bytes, char *err, size_t errlen)
{
    queue_reservation_t r = {*res_events, *res_bytes};
    int ret = lambda_async_reserve(events, bytes, &r, err, errlen);
    *res_events = r.events;
    *res_bytes = r.bytes;
    return ret == QUEUE_FULL ? -2 : ret;
}

static void be_unreserve(uint64_t *res_events, uint64_t *res_bytes)
{
    queue_reservation_t r = {*res_events, *res_bytes};
    lambda_async_unreserve(&r);
    *res_events = r.events;
    *res_bytes = r.bytes;
}

static int be_enqueue(const char *function, const char *qualifier, const char *source, uint64_t *res_events, uint64_t *res_bytes,
                      const char *payload, size_t len, char *err, size_t errlen)
{
    queue_reservation_t r = {*res_events, *res_bytes};
    int ret = lambda_enqueue_source(function, qualifier, source, &r, payload, len, err, errlen);
    *res_events = r.events;
    *res_bytes = r.bytes;
    return ret == QUEUE_FULL ? -2 : ret;
}

static void be_purge(uint64_t tag)
{
    cache_mem_purge_store(handler_cache, tag);
}

void storeevents_start(store_t *store)
{
    static const store_notify_backend_t be = {be_function_exists, be_reserve, be_unreserve, be_enqueue, be_purge};
    the_store = store;
    if (store != NULL)
        store_notify_set_backend(&be);
}

/* ---- tagging fills --------------------------------------------------------------------------------------------------------- */

static int unhex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void storeevents_tag_fill(cache_obj_t *obj, origin_t *origin, h2o_iovec_t path)
{
    if (handler_cache == NULL || !s3origin_is_embedded(origin))
        return;
    /* path-style: PREFIX/BUCKET/KEY (the store decodes %XX in the key, as here) */
    const char *p = path.base + (origin->path_prefix.len <= path.len ? origin->path_prefix.len : 0), *end = path.base + path.len;
    const char *q = memchr(p, '?', (size_t)(end - p));
    if (q != NULL)
        end = q;
    if (p == end || *p != '/')
        return;
    ++p;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (slash == NULL || slash == p || slash - p > 63)
        return;
    char key[1100];
    size_t klen = 0;
    for (const char *s = slash + 1; s < end && klen < sizeof(key); ++s) {
        int h, l;
        if (*s == '%' && end - s >= 3 && (h = unhex(s[1])) >= 0 && (l = unhex(s[2])) >= 0) {
            key[klen++] = (char)(h << 4 | l);
            s += 2;
        } else {
            key[klen++] = *s;
        }
    }
    if (klen == 0 || klen == sizeof(key))
        return;
    cache_mem_tag_store(handler_cache, obj, store_notify_tag(p, (size_t)(slash - p), key, klen));
}

/* ---- edge.s3 ------------------------------------------------------------------------------------------------------------------
 */

typedef struct s3job {
    /* the request (copied off the call) */
    char method[8];
    char *bucket, *key, *body, *prefix, *after;
    size_t key_len, body_len, prefix_len, after_len, max_keys;
    unsigned expires; /* POLICY: seconds */
    char **names, **values;
    size_t num_headers;
    store_notify_origin_t origin;
    char hook[128];
    /* the answer */
    int status;
    char err[512];
    store_direct_obj_t obj;
    char etag[48];
    char *json;
    size_t json_len;
    /* where it goes */
    hook_fetch_t *f;
    h2o_mem_pool_t *pool;
    void (*done)(void *);
    void *arg;
} s3job_t;

static const hook_header_t *find_header(const hook_fetch_t *f, const char *name)
{
    for (size_t i = 0; i != f->headers.size; ++i)
        if (f->headers.entries[i].name.len == strlen(name) && memcmp(f->headers.entries[i].name.base, name, strlen(name)) == 0)
            return &f->headers.entries[i];
    return NULL;
}

static char *dup_hdr(const hook_fetch_t *f, const char *name, size_t *len)
{
    const hook_header_t *h = find_header(f, name);
    if (len != NULL)
        *len = h != NULL ? h->value.len : 0;
    return h != NULL ? h2o_strdup(NULL, h->value.base, h->value.len).base : NULL;
}

/* the generation of the event a call handles: an S3 event record's edgehook.generation, else none (-1) */
static int event_generation(hook_call_t *c)
{
    const hook_event_t *ev = hook_call_event(c);
    if (ev == NULL || ev->type != HOOK_INVOKE || ev->invoke.payload.len == 0)
        return -1;
    char err[64];
    hook_json_t *doc = hook_json_parse_max(ev->invoke.payload.base, ev->invoke.payload.len, 100000, err, sizeof(err));
    const hook_json_t *recs = hook_json_get(doc, "Records"), *g;
    int gen = -1;
    if (recs != NULL && recs->type == HOOK_JSON_ARRAY && recs->count != 0 &&
        (g = hook_json_get(hook_json_get(recs->items[0], "edgehook"), "generation")) != NULL && g->type == HOOK_JSON_NUMBER &&
        g->number >= 0 && g->number < 1e6)
        gen = (int)g->number;
    hook_json_free(doc);
    return gen;
}

static void run_s3job(void *arg)
{
    s3job_t *j = arg;
    int r;
    if (the_store == NULL) {
        j->status = 0;
        snprintf(j->err, sizeof(j->err), "edge.s3: there is no embedded store (store:)");
        return;
    }
    if (j->bucket == NULL) {
        j->status = 0;
        snprintf(j->err, sizeof(j->err), "edge.s3: no bucket");
        return;
    }
    if (strcmp(j->method, "LIST") == 0) {
        r = store_direct_list(the_store, j->bucket, j->prefix != NULL ? j->prefix : "", j->prefix_len, j->after, j->after_len,
                              j->max_keys, &j->json, &j->json_len, j->err, sizeof(j->err));
    } else if (strcmp(j->method, "POLICY") == 0) {
        r = store_direct_post_policy(the_store, j->bucket, j->body != NULL ? j->body : "", j->body_len, j->expires, time(NULL),
                                     &j->json, &j->json_len, j->err, sizeof(j->err));
    } else if (j->key == NULL) {
        r = STORE_DIRECT_INVALID;
        snprintf(j->err, sizeof(j->err), "InvalidArgument: no key");
    } else if (strcmp(j->method, "GET") == 0 || strcmp(j->method, "HEAD") == 0) {
        r = store_direct_get(the_store, j->bucket, j->key, j->key_len, j->method[0] == 'H', &j->obj, j->err, sizeof(j->err));
    } else if (strcmp(j->method, "PUT") == 0) {
        r = store_direct_put(the_store, j->bucket, j->key, j->key_len, j->body != NULL ? j->body : "", j->body_len,
                             (const char *const *)j->names, (const char *const *)j->values, j->num_headers, &j->origin, j->etag,
                             j->err, sizeof(j->err));
    } else if (strcmp(j->method, "DELETE") == 0) {
        r = store_direct_delete(the_store, j->bucket, j->key, j->key_len, &j->origin, j->err, sizeof(j->err));
    } else {
        r = STORE_DIRECT_INVALID;
        snprintf(j->err, sizeof(j->err), "InvalidArgument: unknown operation %s", j->method);
    }
    switch (r) {
    case 0:
        j->status = strcmp(j->method, "DELETE") == 0 ? 204 : 200;
        break;
    case STORE_DIRECT_NOBUCKET:
    case STORE_DIRECT_NOKEY:
        j->status = 404;
        break;
    case STORE_DIRECT_INVALID:
        j->status = 400;
        break;
    case STORE_DIRECT_FULL:
        j->status = 503;
        break;
    default:
        j->status = 500;
        break;
    }
}

static void add_resp_header(s3job_t *j, const char *name, const char *value, size_t vlen)
{
    hook_headers_t *h = &j->f->resp_headers;
    if (h->size == h->capacity) {
        size_t cap = h->capacity != 0 ? h->capacity * 2 : 8;
        hook_header_t *n = h2o_mem_alloc_pool(j->pool, sizeof(*n) * cap);
        if (h->size != 0)
            memcpy(n, h->entries, sizeof(*n) * h->size);
        h->entries = n;
        h->capacity = cap;
    }
    hook_header_t *e = &h->entries[h->size++];
    e->name = h2o_strdup(j->pool, name, strlen(name));
    e->key = e->name;
    e->value = h2o_strdup(j->pool, value, vlen);
}

static void free_job(s3job_t *j)
{
    free(j->bucket);
    free(j->key);
    free(j->body);
    free(j->prefix);
    free(j->after);
    for (size_t i = 0; i != j->num_headers; ++i) {
        free(j->names[i]);
        free(j->values[i]);
    }
    free(j->names);
    free(j->values);
    store_direct_obj_free(&j->obj);
    free(j->json);
    free(j);
}

/* on the worker's loop: the answer into the fetch */
static void finish_s3job(void *arg)
{
    s3job_t *j = arg;
    if (j->done == NULL) { /* cancelled */
        free_job(j);
        return;
    }
    hook_fetch_t *f = j->f;
    f->resp_headers = (hook_headers_t){NULL, 0, 0};
    if (j->status == 0) {
        f->status = 0;
        f->error = h2o_strdup(j->pool, j->err, SIZE_MAX).base;
    } else {
        f->status = j->status;
        char num[64];
        if (j->status == 200 && j->json != NULL) {
            f->resp_body = h2o_strdup(j->pool, j->json, j->json_len);
            add_resp_header(j, "content-type", "application/json", 16);
        } else if (j->status == 200 && (strcmp(j->method, "GET") == 0 || strcmp(j->method, "HEAD") == 0)) {
            f->resp_body = h2o_strdup(j->pool, j->obj.data != NULL ? j->obj.data : "", j->obj.data != NULL ? j->obj.size : 0);
            int n = snprintf(num, sizeof(num), "\"%s\"", j->obj.etag);
            add_resp_header(j, "etag", num, (size_t)n);
            n = snprintf(num, sizeof(num), "%" PRIu64, j->obj.size);
            add_resp_header(j, "content-length", num, (size_t)n);
            n = snprintf(num, sizeof(num), "%" PRId64, j->obj.mtime_ms / 1000);
            add_resp_header(j, "x-edge-last-modified", num, (size_t)n);
            for (size_t i = 0; i != j->obj.num_headers; ++i)
                add_resp_header(j, j->obj.names[i], j->obj.values[i], strlen(j->obj.values[i]));
        } else if (j->status == 200) {
            int n = snprintf(num, sizeof(num), "\"%s\"", j->etag);
            add_resp_header(j, "etag", num, (size_t)n);
            f->resp_body = h2o_iovec_init("", 0);
        } else {
            f->resp_body = h2o_strdup(j->pool, j->err, SIZE_MAX);
        }
    }
    void (*done)(void *) = j->done;
    void *darg = j->arg;
    free_job(j);
    done(darg);
}

void *storeevents_hook_op(hook_call_t *c, hook_fetch_t *f, h2o_mem_pool_t *pool, void (*done)(void *arg), void *arg)
{
    s3job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        h2o_fatal("no memory");
    snprintf(j->method, sizeof(j->method), "%.*s", (int)(f->method.len < 7 ? f->method.len : 7), f->method.base);
    for (char *m = j->method; *m != '\0'; ++m)
        *m = (char)h2o_toupper(*m);
    j->bucket = dup_hdr(f, "x-edge-s3-bucket", NULL);
    j->key = dup_hdr(f, "x-edge-s3-key", &j->key_len);
    j->prefix = dup_hdr(f, "x-edge-s3-prefix", &j->prefix_len);
    j->after = dup_hdr(f, "x-edge-s3-start-after", &j->after_len);
    char *mk = dup_hdr(f, "x-edge-s3-max-keys", NULL);
    j->max_keys = mk != NULL ? strtoul(mk, NULL, 10) : 1000;
    free(mk);
    char *ex = dup_hdr(f, "x-edge-s3-expires", NULL);
    unsigned long exv = ex != NULL ? strtoul(ex, NULL, 10) : 900;
    j->expires = exv > 7 * 86400 ? 0 : (unsigned)exv;
    free(ex);
    if (f->body.len != 0) {
        j->body = h2o_strdup(NULL, f->body.base, f->body.len).base;
        j->body_len = f->body.len;
    }
    /* the object's headers: content-type and friends, x-amz-meta-* */
    j->names = calloc(f->headers.size + 1, sizeof(char *));
    j->values = calloc(f->headers.size + 1, sizeof(char *));
    if (j->names == NULL || j->values == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != f->headers.size; ++i) {
        const hook_header_t *h = &f->headers.entries[i];
        static const char *const keep[] = {
            "content-type", "cache-control", "content-disposition", "content-encoding", "content-language", "expires", NULL};
        int ok = h->name.len > 11 && memcmp(h->name.base, "x-amz-meta-", 11) == 0;
        for (const char *const *k = keep; !ok && *k != NULL; ++k)
            ok = h->name.len == strlen(*k) && memcmp(h->name.base, *k, h->name.len) == 0;
        if (!ok || memchr(h->value.base, '\0', h->value.len) != NULL)
            continue;
        j->names[j->num_headers] = h2o_strdup(NULL, h->name.base, h->name.len).base;
        j->values[j->num_headers] = h2o_strdup(NULL, h->value.base, h->value.len).base;
        j->num_headers += 1;
    }
    /* who writes: this hook, one generation after the event it handles */
    snprintf(j->hook, sizeof(j->hook), "%s", hook_fn_name(hook_call_fn(c)));
    int gen = event_generation(c);
    j->origin.hook = j->hook;
    j->origin.generation = gen >= 0 ? (unsigned)gen + 1 : 1;
    j->origin.source_ip = "";
    j->origin.request_id = NULL;
    j->origin.principal = NULL;
    j->f = f;
    j->pool = pool;
    j->done = done;
    j->arg = arg;
    control_post(run_s3job, finish_s3job, j);
    return j;
}

void storeevents_hook_op_cancel(void *job)
{
    if (job != NULL)
        ((s3job_t *)job)->done = NULL; /* finish_s3job (on this loop, later) frees it */
}

/* ---- metrics ----------------------------------------------------------------------------------------------------------------- */

static void put_metric(h2o_buffer_t **buf, const char *name, const char *help, uint64_t v)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
    h2o_iovec_t room = h2o_buffer_reserve(buf, (size_t)n + 1);
    memcpy(room.base, line, (size_t)n);
    (*buf)->size += (size_t)n;
}

void storeevents_metrics(h2o_buffer_t **buf)
{
    if (the_store == NULL)
        return;
    store_notify_stats_t st;
    store_notify_get_stats(&st);
    put_metric(buf, "edgehook_store_events_total", "store event notifications queued (on disk before the write was answered)",
               st.events);
    put_metric(buf, "edgehook_store_events_refused_total", "writes refused with 503 SlowDown: the event queue was full",
               st.refused);
    put_metric(buf, "edgehook_store_events_lost_total", "events that could not be queued after their write (logged)", st.lost);
    put_metric(buf, "edgehook_store_events_loop_stopped_total",
               "events not made: a chain of hook writes reached store.notify_max_generations", st.loop_stopped);
    put_metric(buf, "edgehook_store_events_excluded_total", "events not made: the rule excludes hooks' writes", st.excluded);
    put_metric(buf, "edgehook_store_purges_total", "cache purges of written objects (each before the write was answered)",
               st.purges);
}

#else /* no store in this build */

void storeevents_start(store_t *store)
{
    (void)store;
}
void storeevents_tag_fill(cache_obj_t *obj, origin_t *origin, h2o_iovec_t path)
{
    (void)obj;
    (void)origin;
    (void)path;
}
void *storeevents_hook_op(hook_call_t *c, hook_fetch_t *f, h2o_mem_pool_t *pool, void (*done)(void *arg), void *arg)
{
    (void)c;
    (void)pool;
    (void)done;
    (void)arg;
    f->status = 0;
    f->error = "edge.s3: this build has no embedded store";
    return NULL;
}
void storeevents_hook_op_cancel(void *job)
{
    (void)job;
}
void storeevents_metrics(h2o_buffer_t **buf)
{
    (void)buf;
}
#endif
