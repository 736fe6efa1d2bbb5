/* proxy/kvapi.c - the kv stores as the server runs them: opening, the admin API's /kv calls (writes on the control thread),
 * metrics. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/str.h"
#include "hooks/json.h"
#include "kv/kv.h"
#include "proxy/admin.h"
#include "proxy/control.h"
#include "proxy/fleet.h"
#include "proxy/kvapi.h"

#define KV_LIST_MAX 1000
/* a bulk body: the largest store's content as JSON, with room for escapes */
#define KV_MAX_BULK_BODY (64u << 20)

static kv_db_t *db;

int kvapi_open(const conf_t *conf, char *err, size_t errlen)
{
    kv_store_conf_t *stores;
    if (conf->num_kv == 0)
        return 0;
    if ((stores = calloc(conf->num_kv, sizeof(*stores))) == NULL)
        abort();
    for (size_t i = 0; i != conf->num_kv; ++i)
        stores[i] = (kv_store_conf_t){conf->kv[i].name, conf->kv[i].path, conf->kv[i].max_keys, conf->kv[i].max_bytes,
                                      conf->kv[i].max_value};
    db = kv_db_open(stores, conf->num_kv, err, errlen);
    free(stores);
    if (db == NULL)
        return -1;
    for (size_t i = 0; i != conf->num_kv; ++i) {
        kv_stats_t st;
        kv_db_stats(db, (int)i, &st);
        log_info("kv %s: %" PRIu64 " keys, %" PRIu64 " bytes, version %" PRIu64 " (%s)", conf->kv[i].name, st.keys, st.bytes,
                 st.version, conf->kv[i].path);
    }
    kv_global_set(db);
    return 0;
}

void kvapi_close(void)
{
    /* every acknowledged write is on disk already. The db itself stays until the process exits: the offload threads are never
     * joined, and one may still be in a hook call that reads it */
}

void kvapi_warn_restart(const conf_t *old, const conf_t *now)
{
    int same = old->num_kv == now->num_kv;
    for (size_t i = 0; same && i != old->num_kv; ++i)
        same = strcmp(old->kv[i].name, now->kv[i].name) == 0 && strcmp(old->kv[i].path, now->kv[i].path) == 0 &&
               old->kv[i].max_keys == now->kv[i].max_keys && old->kv[i].max_bytes == now->kv[i].max_bytes &&
               old->kv[i].max_value == now->kv[i].max_value;
    if (!same)
        log_warn("reload: kv changed; the kv stores are kept as they are until a restart");
}

/* ---- writes: on the control thread ----------------------------------------------------------------------------------------- */

enum { KVJOB_PUT, KVJOB_DELETE, KVJOB_BULK };

typedef struct kv_job {
    h2o_req_t *req; /* NULL once the request is gone (worker thread only) */
    struct kv_guard *guard;
    int kind, store, replace;
    char *key, *body; /* malloc'ed copies */
    size_t klen, blen;
    int status; /* the answer, filled on the control thread */
    const char *reason;
    hook_buf_t out;
} kv_job_t;

typedef struct kv_guard {
    kv_job_t *job;
} kv_guard_t;

static void on_guard_dispose(void *p)
{
    kv_guard_t *g = p;
    if (g->job != NULL)
        g->job->req = NULL;
}

static void job_error(kv_job_t *job, int code, const char *msg)
{
    static const struct {
        int code, status;
        const char *reason;
    } map[] = {{KV_E_INVALID, 400, "Bad Request"},
               {KV_E_TOO_LARGE, 413, "Payload Too Large"},
               {KV_E_NOTFOUND, 404, "Not Found"},
               {KV_E_IO, 500, "Internal Server Error"}};
    job->status = 500;
    job->reason = "Internal Server Error";
    for (size_t i = 0; i != sizeof(map) / sizeof(map[0]); ++i)
        if (map[i].code == code)
            job->status = map[i].status, job->reason = map[i].reason;
    job->out.len = 0;
    hook_buf_append(&job->out, "{\"error\":", 9);
    hook_buf_json_string(&job->out, msg, strlen(msg));
    hook_buf_append(&job->out, "}\n", 2);
}

/* a bulk body: a JSON object whose members are strings (puts) or null (deletes); ops point into doc */
static int bulk_ops(kv_job_t *job, hook_json_t **doc, kv_op_t **ops)
{
    char err[512];
    if ((*doc = hook_json_parse(job->body != NULL ? job->body : "", job->blen, err, sizeof(err))) == NULL) {
        job_error(job, KV_E_INVALID, err);
        return -1;
    }
    if ((*doc)->type != HOOK_JSON_OBJECT) {
        job_error(job, KV_E_INVALID, "the body must be a JSON object: {\"key\": \"value\", \"gone\": null}");
        return -1;
    }
    if ((*ops = calloc((*doc)->count + 1, sizeof(kv_op_t))) == NULL)
        abort();
    for (size_t i = 0; i != (*doc)->count; ++i) {
        const hook_json_t *v = (*doc)->items[i];
        kv_op_t *op = &(*ops)[i];
        op->key = (*doc)->keys[i];
        op->klen = (*doc)->key_lens[i];
        if (v->type == HOOK_JSON_NULL && !job->replace) {
            op->del = 1;
        } else if (v->type == HOOK_JSON_STRING) {
            op->val = v->str;
            op->vlen = v->len;
        } else {
            snprintf(err, sizeof(err), "the value of key #%zu is %s: values are strings (null deletes the key%s)", i + 1,
                     v->type == HOOK_JSON_NULL ? "null" : "not a string", job->replace ? ", but not with replace" : "");
            job_error(job, KV_E_INVALID, err);
            return -1;
        }
    }
    return 0;
}

static void run_job(void *arg)
{
    kv_job_t *job = arg;
    char err[1024];
    hook_json_t *doc = NULL;
    kv_op_t one = {job->key, job->klen, job->body != NULL ? job->body : "", job->blen, job->kind == KVJOB_DELETE}, *ops = &one;
    size_t n = 1;
    int r;
    if (job->kind == KVJOB_BULK) {
        if (bulk_ops(job, &doc, &ops) != 0)
            goto done;
        n = doc->count;
    }
    /* with a fleet, a replace is written there as its puts and the deletes of the keys it drops */
    kv_view_t *before = job->replace && fleet_enabled() ? kv_view_acquire(db) : NULL;
    if ((r = kv_db_write(db, job->store, ops, n, job->replace, err, sizeof(err))) != KV_OK) {
        if (before != NULL)
            kv_view_release(before);
        job_error(job, r, err);
        goto done;
    }
    if (fleet_enabled()) {
        kv_op_t *all = ops;
        size_t m = n;
        if (before != NULL) {
            const char *k, *v;
            size_t kl, vl;
            kv_view_t *now = kv_view_acquire(db);
            for (size_t i = 0; kv_view_at(before, job->store, i, &k, &kl, &v, &vl); ++i)
                if (!kv_view_get(now, job->store, k, kl, &v, &vl))
                    ++m;
            if ((all = calloc(m + 1, sizeof(*all))) == NULL)
                abort();
            memcpy(all, ops, n * sizeof(*ops));
            m = n;
            for (size_t i = 0; kv_view_at(before, job->store, i, &k, &kl, &v, &vl); ++i)
                if (!kv_view_get(now, job->store, k, kl, &v, &vl))
                    all[m++] = (kv_op_t){k, kl, "", 0, 1};
            kv_view_release(now);
        }
        if (fleet_publish_kv(kv_db_name(db, job->store), all, m, err, sizeof(err)) != 0)
            log_warn("kv %s: a write held on this node only: %s", kv_db_name(db, job->store), err);
        if (all != ops)
            free(all);
        if (before != NULL)
            kv_view_release(before);
    }
    kv_stats_t st;
    kv_db_stats(db, job->store, &st);
    job->status = 200;
    job->reason = "OK";
    hook_buf_appendf(&job->out, "{\"store\":");
    hook_buf_json_string(&job->out, kv_db_name(db, job->store), strlen(kv_db_name(db, job->store)));
    if (job->kind != KVJOB_BULK) {
        hook_buf_appendf(&job->out, ",\"key\":");
        hook_buf_json_string(&job->out, job->key, job->klen);
        hook_buf_appendf(&job->out, job->kind == KVJOB_DELETE ? ",\"deleted\":true" : ",\"bytes\":%zu", job->blen);
    } else {
        hook_buf_appendf(&job->out, ",\"changes\":%zu%s", n, job->replace ? ",\"replaced\":true" : "");
    }
    hook_buf_appendf(&job->out, ",\"version\":%" PRIu64 ",\"keys\":%" PRIu64 ",\"bytes_total\":%" PRIu64 "}\n", st.version, st.keys,
                     st.bytes);
done:
    if (ops != &one)
        free(ops);
    hook_json_free(doc);
}

/* the worker that posted the job */
static void job_done(void *arg)
{
    kv_job_t *job = arg;
    if (job->req != NULL) {
        job->guard->job = NULL;
        admin_respond(job->req, job->status, job->reason, "application/json",
                      h2o_strdup(&job->req->pool, job->out.base, job->out.len));
    }
    hook_buf_free(&job->out);
    free(job->key);
    free(job->body);
    free(job);
}

static char *copy_bytes(const char *p, size_t len)
{
    char *c = malloc(len + 1);
    if (c == NULL)
        h2o_fatal("no memory");
    if (len != 0)
        memcpy(c, p, len);
    c[len] = '\0';
    return c;
}

static void post_write(h2o_req_t *req, int kind, int store, h2o_iovec_t key, int replace)
{
    kv_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        h2o_fatal("no memory");
    job->kind = kind;
    job->store = store;
    job->replace = replace;
    job->key = copy_bytes(key.base, key.len);
    job->klen = key.len;
    if (kind != KVJOB_DELETE) {
        job->body = copy_bytes(req->entity.base != NULL ? req->entity.base : "", req->entity.len);
        job->blen = req->entity.len;
    }
    job->req = req;
    job->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*job->guard), on_guard_dispose);
    job->guard->job = job;
    control_post(run_job, job_done, job);
}

/* ---- reads: on the worker -------------------------------------------------------------------------------------------------- */

static void respond_buf(h2o_req_t *req, int status, const char *reason, hook_buf_t *b)
{
    admin_respond(req, status, reason, "application/json", h2o_strdup(&req->pool, b->base != NULL ? b->base : "", b->len));
    hook_buf_free(b);
}

static void list_stores(h2o_req_t *req)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_append(&b, "{\"stores\":[", 11);
    for (size_t i = 0; db != NULL && i != kv_db_count(db); ++i) {
        kv_stats_t st;
        kv_db_stats(db, (int)i, &st);
        hook_buf_append(&b, i != 0 ? ",{\"name\":" : "{\"name\":", i != 0 ? 9 : 8);
        hook_buf_json_string(&b, kv_db_name(db, (int)i), strlen(kv_db_name(db, (int)i)));
        hook_buf_appendf(&b, ",\"keys\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"version\":%" PRIu64 "}", st.keys, st.bytes, st.version);
    }
    hook_buf_append(&b, "]}\n", 3);
    respond_buf(req, 200, "OK", &b);
}

/* the decoded value of query parameter `name` in q[0..len) into out (at most outcap bytes): its length, or -1 when absent */
static ssize_t query_param(h2o_iovec_t q, const char *name, char *out, size_t outcap)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < q.len;) {
        size_t end = i;
        while (end < q.len && q.base[end] != '&')
            ++end;
        if (end - i > nlen && memcmp(q.base + i, name, nlen) == 0 && q.base[i + nlen] == '=') {
            size_t vlen = end - i - nlen - 1;
            if (vlen > outcap)
                vlen = outcap;
            return (ssize_t)edge_pct_decode(out, q.base + i + nlen + 1, vlen);
        }
        if (end - i == nlen && memcmp(q.base + i, name, nlen) == 0)
            return 0;
        i = end + 1;
    }
    return -1;
}

static void store_listing(h2o_req_t *req, int store, h2o_iovec_t query)
{
    char prefix[KV_MAX_KEY * 3], after[KV_MAX_KEY * 3], num[32];
    ssize_t plen = query_param(query, "prefix", prefix, sizeof(prefix)), alen = query_param(query, "after", after, sizeof(after)),
            nlen = query_param(query, "limit", num, sizeof(num) - 1);
    size_t limit = 100;
    if (nlen > 0) {
        num[nlen] = '\0';
        char *end;
        unsigned long l = strtoul(num, &end, 10);
        if (*end != '\0' || l == 0 || l > KV_LIST_MAX) {
            admin_respond_error(req, 400, "Bad Request", "limit is a number from 1 to 1000");
            return;
        }
        limit = l;
    }
    if (plen < 0)
        plen = 0;
    const kv_store_conf_t *conf = kv_db_conf(db, store);
    kv_view_t *v = kv_view_acquire(db);
    kv_meta_t meta;
    kv_view_meta(v, store, &meta);
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_append(&b, "{\"store\":", 9);
    hook_buf_json_string(&b, conf->name, strlen(conf->name));
    hook_buf_appendf(&b,
                     ",\"keys\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"version\":%" PRIu64 ",\"max_keys\":%" PRIu64
                     ",\"max_bytes\":%" PRIu64 ",\"max_value\":%" PRIu64 ",\"max_key\":%d,\"items\":[",
                     meta.keys, meta.bytes, meta.version, conf->max_keys, conf->max_bytes, conf->max_value, KV_MAX_KEY);
    /* from the first key >= prefix and > after, while keys start with prefix */
    size_t i = kv_view_lower_bound(v, store, prefix, (size_t)plen);
    if (alen > 0) {
        size_t j = kv_view_lower_bound(v, store, after, (size_t)alen);
        i = j > i ? j : i;
    }
    const char *k, *val, *last = NULL;
    size_t klen, vlen, lastlen = 0, count = 0;
    int more = 0;
    for (; kv_view_at(v, store, i, &k, &klen, &val, &vlen); ++i) {
        if (alen > 0 && klen == (size_t)alen && memcmp(k, after, klen) == 0)
            continue;
        if (klen < (size_t)plen || memcmp(k, prefix, (size_t)plen) != 0)
            break;
        if (count == limit) {
            more = 1;
            break;
        }
        hook_buf_append(&b, count != 0 ? ",{\"key\":" : "{\"key\":", count != 0 ? 8 : 7);
        hook_buf_json_string(&b, k, klen);
        hook_buf_append(&b, ",\"value\":", 9);
        hook_buf_json_string(&b, val, vlen);
        hook_buf_append(&b, "}", 1);
        last = k, lastlen = klen, ++count;
    }
    hook_buf_append(&b, "],\"next\":", 9);
    if (more)
        hook_buf_json_string(&b, last, lastlen);
    else
        hook_buf_append(&b, "null", 4);
    hook_buf_append(&b, "}\n", 2);
    kv_view_release(v);
    respond_buf(req, 200, "OK", &b);
}

static void get_key(h2o_req_t *req, int store, h2o_iovec_t key)
{
    const char *val;
    size_t vlen;
    kv_view_t *v = kv_view_acquire(db);
    if (!kv_view_get(v, store, key.base, key.len, &val, &vlen)) {
        kv_view_release(v);
        admin_respond_error(req, 404, "Not Found", "no such key");
        return;
    }
    h2o_iovec_t body = h2o_strdup(&req->pool, val, vlen);
    kv_view_release(v);
    admin_respond(req, 200, "OK", "application/octet-stream", body);
}

static int method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

void kvapi_handle(h2o_req_t *req)
{
    h2o_iovec_t path = req->path, query = {NULL, 0};
    const char *qm = memchr(path.base, '?', path.len);
    if (qm != NULL) {
        query = h2o_iovec_init(qm + 1, path.base + path.len - qm - 1);
        path.len = (size_t)(qm - path.base);
    }
    /* /kv, /kv/, /kv/NAME, /kv/NAME/, /kv/NAME/KEY */
    const char *p = path.base + 3, *end = path.base + path.len;
    if (p < end && *p == '/')
        ++p;
    if (p == end) {
        if (!method_is(req, "GET")) {
            admin_respond_error(req, 405, "Method Not Allowed", "GET /kv lists the stores");
            return;
        }
        list_stores(req);
        return;
    }
    const char *slash = memchr(p, '/', (size_t)(end - p));
    h2o_iovec_t name = h2o_iovec_init(p, (slash != NULL ? slash : end) - p);
    int store = db != NULL ? kv_db_find(db, name.base, name.len) : -1;
    if (store < 0) {
        admin_respond_error(req, 404, "Not Found", "no kv store of that name (GET /kv lists them)");
        return;
    }
    if (slash == NULL || slash + 1 == end) {
        if (method_is(req, "GET")) {
            store_listing(req, store, query);
        } else if (method_is(req, "POST")) {
            char flag[8];
            ssize_t r = query_param(query, "replace", flag, sizeof(flag) - 1);
            int replace = r == 0 || (r == 1 && flag[0] == '1') || (r == 4 && memcmp(flag, "true", 4) == 0);
            if (req->entity.len > KV_MAX_BULK_BODY) {
                admin_respond_error(req, 413, "Payload Too Large", "a bulk body is at most 64MB");
                return;
            }
            post_write(req, KVJOB_BULK, store, h2o_iovec_init("", 0), replace);
        } else {
            admin_respond_error(req, 405, "Method Not Allowed", "GET /kv/NAME lists the store, POST /kv/NAME writes many keys");
        }
        return;
    }
    /* the key: the raw rest of the target, percent-decoded (its bytes are checked by kv_check_key) */
    const char *raw = slash + 1;
    size_t rawlen = (size_t)(end - raw);
    char err[256];
    if (rawlen > KV_MAX_KEY * 3) {
        admin_respond_error(req, 400, "Bad Request", "the key is over the limit of 512 bytes");
        return;
    }
    char *kbuf = h2o_mem_alloc_pool(&req->pool, rawlen + 1);
    h2o_iovec_t key = h2o_iovec_init(kbuf, edge_pct_decode(kbuf, raw, rawlen));
    if (kv_check_key(key.base, key.len, err, sizeof(err)) != KV_OK) {
        admin_respond_error(req, 400, "Bad Request", err);
        return;
    }
    if (method_is(req, "GET")) {
        get_key(req, store, key);
    } else if (method_is(req, "PUT")) {
        /* the limits are checked here too, so an oversized value never reaches the control thread */
        int r = kv_check_value(kv_db_conf(db, store), req->entity.base != NULL ? req->entity.base : "", req->entity.len, err,
                               sizeof(err));
        if (r != KV_OK) {
            admin_respond_error(req, r == KV_E_TOO_LARGE ? 413 : 400, r == KV_E_TOO_LARGE ? "Payload Too Large" : "Bad Request",
                                err);
            return;
        }
        post_write(req, KVJOB_PUT, store, key, 0);
    } else if (method_is(req, "DELETE")) {
        post_write(req, KVJOB_DELETE, store, key, 0);
    } else {
        admin_respond_error(req, 405, "Method Not Allowed", "GET, PUT or DELETE /kv/NAME/KEY");
    }
}

/* ---- metrics ------------------------------------------------------------------------------------------------------------- */

void kvapi_metrics(h2o_buffer_t **buf)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"edgehook_kv_keys", "gauge", "keys in the kv store"},
        {"edgehook_kv_bytes", "gauge", "bytes of keys and values in the kv store"},
        {"edgehook_kv_updates_total", "counter", "acknowledged writes to the kv store since start (a bulk write is one)"},
        {"edgehook_kv_write_errors_total", "counter", "writes to the kv store refused because its log could not be written"},
        {"edgehook_kv_log_bytes", "gauge", "the size of the kv store's log file"},
    };
    if (db == NULL)
        return;
    hook_buf_t b = {NULL, 0, 0};
    for (size_t k = 0; k != sizeof(m) / sizeof(m[0]); ++k) {
        hook_buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
        for (size_t i = 0; i != kv_db_count(db); ++i) {
            kv_stats_t st;
            kv_db_stats(db, (int)i, &st);
            uint64_t v[] = {st.keys, st.bytes, st.updates, st.write_errors, st.log_bytes};
            hook_buf_appendf(&b, "%s{store=\"%s\"} %" PRIu64 "\n", m[k].name, kv_db_name(db, (int)i), v[k]);
        }
    }
    h2o_iovec_t room = h2o_buffer_reserve(buf, b.len + 1);
    memcpy(room.base, b.base, b.len);
    (*buf)->size += b.len;
    hook_buf_free(&b);
}
