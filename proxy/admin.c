/* proxy/admin.c - the admin API: JSON over HTTP, every call but /healthz with `Authorization: Bearer TOKEN`. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "cache/key.h"
#include "cache/memory.h"
#include "hooks/json.h"
#include "hooks/versions.h"
#include "proxy/admin.h"
#include "proxy/parents.h"
#include "proxy/storeevents.h"
#include "proxy/control.h"
#include "proxy/dashboard.h"
#include "proxy/gen.h"
#include "proxy/kvapi.h"
#include "proxy/lambdaapi.h"
#include "proxy/lambdaasync.h"
#include "sigv4/sigv4.h"
#include "store/store.h"
#include "proxy/handler.h"
#include "base/log.h"
#include "proxy/metrics.h"
#include "proxy/server.h"
#include "proxy/fleet.h"

#define MAX_ADMIN_BODY (1 << 20)

static void respond(h2o_req_t *req, int status, const char *reason, const char *ctype, h2o_iovec_t body)
{
    static h2o_generator_t gen = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_start_response(req, &gen);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static void respond_json_error(h2o_req_t *req, int status, const char *reason, const char *msg)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_append(&b, "{\"error\":", 9);
    hook_buf_json_string(&b, msg, strlen(msg));
    hook_buf_append(&b, "}\n", 2);
    respond(req, status, reason, "application/json", h2o_strdup(&req->pool, b.base, b.len));
    hook_buf_free(&b);
}

void admin_respond(h2o_req_t *req, int status, const char *reason, const char *ctype, h2o_iovec_t body)
{
    respond(req, status, reason, ctype, body);
}

void admin_respond_error(h2o_req_t *req, int status, const char *reason, const char *msg)
{
    respond_json_error(req, status, reason, msg);
}

int admin_token_matches(const char *value, size_t len, const char *token)
{
    /* the SHA-256 digests are compared, in constant time: neither the token's bytes nor its length show in the timing */
    unsigned char given[32], want[32];
    int bearer = len >= 7 && strncasecmp(value, "Bearer ", 7) == 0;
    if (EVP_Digest(bearer ? value + 7 : "", bearer ? len - 7 : 0, given, NULL, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(token, strlen(token), want, NULL, EVP_sha256(), NULL) != 1)
        return 0;
    return (CRYPTO_memcmp(given, want, sizeof(want)) == 0) & bearer;
}

static h2o_iovec_t header_of(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i == -1 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

static admin_auth_t verify_sigv4(h2o_req_t *req, const conf_t *conf, const char *service, h2o_iovec_t authz, char *reason,
                                 size_t reasonlen)
{
    sigv4_auth_t auth;
    const char *why = "", *secret_key, *region = conf->store.region != NULL ? conf->store.region : "us-east-1";
    h2o_iovec_t amz_date = header_of(req, "x-amz-date"), date = header_of(req, "date"),
                claimed = header_of(req, "x-amz-content-sha256");
    char body_hash[65];
    int r;

    if (sigv4_parse_authorization((sigv4_str_t){authz.base, authz.len}, (sigv4_str_t){amz_date.base, amz_date.len},
                                  (sigv4_str_t){date.base, date.len}, &auth, &why) != 0) {
        snprintf(reason, reasonlen, "%s", why);
        return ADMIN_AUTH_MALFORMED;
    }
    if (server.store == NULL) {
        snprintf(reason, reasonlen,
                 "The security token included in the request is invalid (no store is configured, so no "
                 "access key is known: use the bearer token).");
        return ADMIN_AUTH_UNKNOWN_KEY;
    }
    int restricted;
    if ((secret_key = store_api_secret(server.store, auth.access_key, &restricted)) == NULL) {
        snprintf(reason, reasonlen, "%s",
                 restricted ? "The security token included in the request is invalid: this store key is read-only or limited to "
                              "buckets (only a key without read_only and buckets may sign Lambda API requests)."
                            : "The security token included in the request is invalid.");
        return ADMIN_AUTH_UNKNOWN_KEY;
    }
    if (strcmp(auth.service, service) != 0) {
        snprintf(reason, reasonlen, "Credential should be scoped to correct service: '%s'.", service);
        return ADMIN_AUTH_MALFORMED;
    }
    if (strcmp(auth.region, region) != 0) {
        snprintf(reason, reasonlen,
                 "Credential should be scoped to a valid region, not '%s' (this endpoint is '%s': store.region).", auth.region,
                 region);
        return ADMIN_AUTH_MALFORMED;
    }
    if ((r = sigv4_check_time(&auth, time(NULL), &why)) != 0) {
        snprintf(reason, reasonlen, "Signature expired or not yet valid: %s (a request must be signed within 15 minutes of now).",
                 why);
        return r == SIGV4_ERR_SKEW || r == SIGV4_ERR_EXPIRED ? ADMIN_AUTH_EXPIRED : ADMIN_AUTH_MALFORMED;
    }
    /* the payload hash is the body's own: a signature over another body, or a header claiming another hash, does not match */
    sigv4_sha256_hex(req->entity.base != NULL ? req->entity.base : "", req->entity.base != NULL ? req->entity.len : 0, body_hash);
    if (claimed.base != NULL && !(claimed.len == 64 && strncasecmp(claimed.base, body_hash, 64) == 0)) {
        snprintf(reason, reasonlen, "x-amz-content-sha256 is not the SHA-256 of the body.");
        return ADMIN_AUTH_BAD_SIGNATURE;
    }
    /* every request header, plus the ones h2o keeps elsewhere (host, content-length) */
    size_t n = 0, path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    sigv4_header_t *hs = h2o_mem_alloc_pool(&req->pool, sizeof(*hs) * (req->headers.size + 2));
    for (size_t i = 0; i != req->headers.size; ++i)
        hs[n++] = (sigv4_header_t){{req->headers.entries[i].name->base, req->headers.entries[i].name->len},
                                   {req->headers.entries[i].value.base, req->headers.entries[i].value.len}};
    hs[n++] = (sigv4_header_t){sigv4_cstr("host"), {req->input.authority.base, req->input.authority.len}};
    if (sigv4_signs_header(&auth, "content-length") && h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_LENGTH, -1) == -1) {
        char *cl = h2o_mem_alloc_pool(&req->pool, 24);
        snprintf(cl, 24, "%zu", req->entity.base != NULL ? req->entity.len : (size_t)0);
        hs[n++] = (sigv4_header_t){sigv4_cstr("content-length"), sigv4_cstr(cl)};
    }
    sigv4_request_t vreq = {{req->method.base, req->method.len},
                            {req->path.base, path_len},
                            req->query_at != SIZE_MAX ? (sigv4_str_t){req->path.base + path_len + 1, req->path.len - path_len - 1}
                                                      : (sigv4_str_t){NULL, 0},
                            hs,
                            n,
                            {body_hash, 64}};
    /* the canonical URI of the AWS services other than S3: normalised, each segment encoded once more than sent */
    r = sigv4_verify(&auth, &vreq, sigv4_cstr(secret_key), SIGV4_F_ENCODE_TWICE | SIGV4_F_NORMALIZE, NULL, NULL, &why);
    if (r == SIGV4_ERR_MISMATCH) {
        snprintf(reason, reasonlen,
                 "The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method.");
        return ADMIN_AUTH_BAD_SIGNATURE;
    }
    if (r != 0) {
        snprintf(reason, reasonlen, "%s", why != NULL ? why : "the signature cannot be checked");
        return ADMIN_AUTH_MALFORMED;
    }
    return ADMIN_AUTH_OK;
}

admin_auth_t admin_authorize(h2o_req_t *req, const conf_t *conf, const char *sigv4_service, char *reason, size_t reasonlen)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    h2o_iovec_t v;
    if (i == -1) {
        snprintf(reason, reasonlen, "Missing Authentication Token: give Authorization: Bearer TOKEN%s",
                 sigv4_service != NULL ? " or sign the request (AWS Signature Version 4)" : "");
        return ADMIN_AUTH_MISSING;
    }
    v = req->headers.entries[i].value;
    if (v.len >= sizeof(SIGV4_ALGORITHM) && memcmp(v.base, SIGV4_ALGORITHM " ", sizeof(SIGV4_ALGORITHM)) == 0) {
        if (sigv4_service == NULL) {
            snprintf(reason, reasonlen, "this admin call takes Authorization: Bearer TOKEN, not a signature");
            return ADMIN_AUTH_NOT_ALLOWED;
        }
        return verify_sigv4(req, conf, sigv4_service, v, reason, reasonlen);
    }
    if (conf->admin.token == NULL || !admin_token_matches(v.base, v.len, conf->admin.token)) {
        snprintf(reason, reasonlen, "a valid Authorization: Bearer token is required");
        return ADMIN_AUTH_BAD_TOKEN;
    }
    return ADMIN_AUTH_OK;
}

/* 1 if the directory of `file` (as given, resolved) is `dir` (resolved); `file` may be relative to the current directory */
static int dir_of_is(const char *file, const char *dir)
{
    char copy[PATH_MAX], real[PATH_MAX];
    if (file == NULL || snprintf(copy, sizeof(copy), "%s", file) >= (int)sizeof(copy) || realpath(dirname(copy), real) == NULL)
        return 0;
    return strcmp(real, dir) == 0;
}

/* 1 if a hook file of this kind may be loaded from the resolved directory `dir` (see admin_check_hook_path) */
static int dir_allowed(const conf_t *conf, const char *dir, int is_lua)
{
    for (size_t i = 0; i != conf->admin.plugin_dirs.count; ++i)
        if (strcmp(conf->admin.plugin_dirs.names[i], dir) == 0)
            return 1;
    for (size_t i = 0; i != conf->num_hooks; ++i)
        if (dir_of_is(is_lua ? conf->hooks[i].lua : conf->hooks[i].native, dir))
            return 1;
    return is_lua && dir_of_is(conf->file, dir);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

int admin_check_hook_path(const conf_t *conf, const char *path, char *resolved, char *err, size_t errlen)
{
    int is_lua = ends_with(path, ".lua");
    const char *kind = is_lua ? "Lua hooks" : "native plugins";
    char dir[PATH_MAX];
    struct stat st;
    if (!is_lua && !ends_with(path, ".so")) {
        snprintf(err, errlen, "%s: only a .lua file or a .so plugin can be published", path);
        return 403;
    }
    if (realpath(path, resolved) == NULL) {
        int e = errno;
        /* a missing file in an allowed directory is an ordinary mistake (422); anywhere else nothing is revealed */
        snprintf(dir, sizeof(dir), "%s", path);
        if (dir_allowed(conf, realpath(dirname(dir), resolved) != NULL ? resolved : "", is_lua)) {
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            return 422;
        }
        snprintf(err, errlen, "%s: not in a directory the admin API may load %s from", path, kind);
        return 403;
    }
    if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode) || !ends_with(resolved, is_lua ? ".lua" : ".so")) {
        snprintf(err, errlen, "%s: not a regular %s file", path, is_lua ? ".lua" : ".so");
        return 403;
    }
    /* the directory of the file itself, symlinks followed: a link in an allowed directory to a file elsewhere is refused */
    snprintf(dir, sizeof(dir), "%s", resolved);
    if (!dir_allowed(conf, dirname(dir), is_lua)) {
        snprintf(err, errlen, "%s: not in a directory the admin API may load %s from (%s; allowed: %s)", path, kind, dir,
                 is_lua ? "the directories of the config's Lua hooks, admin.plugin_dirs and the config file's directory"
                        : "the directories of the config's native hooks and admin.plugin_dirs");
        return 403;
    }
    return 0;
}

/* appends printf-style text to the metrics page, however long it is */
__attribute__((format(printf, 2, 3))) static void metrics_putf(h2o_buffer_t **buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    h2o_iovec_t room = h2o_buffer_reserve(buf, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(room.base, (size_t)n + 1, fmt, ap);
    va_end(ap);
    (*buf)->size += (size_t)n;
}

/* one sample with its HELP and TYPE lines: FAMILYNAME VALUE */
static void metrics_put_one(h2o_buffer_t **buf, const char *family, const char *name, const char *type, const char *help, uint64_t v)
{
    metrics_putf(buf, "# HELP %s%s %s\n# TYPE %s%s %s\n%s%s %" PRIu64 "\n", family, name, help, family, name, type, family, name, v);
}

static void extra_metrics(h2o_buffer_t **buf, void *ctx)
{
    edge_gen_t *gen = ctx;
    cache_mem_stats_t st;
#define PUT(...) metrics_putf(buf, __VA_ARGS__)
    if (handler_cache != NULL) {
        cache_mem_stats(handler_cache, &st);
        PUT("# HELP edgehook_cache_bytes bytes held by the memory tier\n# TYPE edgehook_cache_bytes gauge\nedgehook_cache_bytes %" PRIu64
            "\n",
            st.bytes);
        PUT("# HELP edgehook_cache_capacity_bytes the memory tier's bound (cache.memory)\n# TYPE edgehook_cache_capacity_bytes "
            "gauge\nedgehook_cache_capacity_bytes %" PRIu64 "\n",
            st.capacity);
        PUT("# HELP edgehook_cache_objects objects in the memory tier\n# TYPE edgehook_cache_objects gauge\nedgehook_cache_objects %" PRIu64
            "\n",
            st.objects);
        PUT("# HELP edgehook_cache_evictions_total objects evicted to stay within cache.memory\n# TYPE edgehook_cache_evictions_total "
            "counter\nedgehook_cache_evictions_total %" PRIu64 "\n",
            st.evictions);
    }
    if (handler_partial != NULL) {
        cache_partial_stats_t ps;
        cache_partial_stats(handler_partial, &ps);
#define PARTIAL_METRIC(name, type, help, v) metrics_put_one(buf, "edgehook_cache_partial_", name, type, help, (uint64_t)(v))
        PARTIAL_METRIC("bytes", "gauge", "bytes held by stored parts of 206 responses (cache.ranges: forward)", ps.bytes);
        PARTIAL_METRIC("capacity_bytes", "gauge", "the bound of the stored parts (cache.memory/8)", ps.capacity);
        PARTIAL_METRIC("keys", "gauge", "keys with stored parts", ps.keys);
        PARTIAL_METRIC("parts", "gauge", "stored parts (adjacent and overlapping ones are merged)", ps.parts);
        PARTIAL_METRIC("hits_total", "counter", "range requests answered from stored parts", ps.hits);
        PARTIAL_METRIC("stored_total", "counter", "206 responses stored as parts", ps.stored);
        PARTIAL_METRIC("combined_total", "counter", "representations whose parts were combined into a stored whole response", ps.combined);
        PARTIAL_METRIC("refused_total", "counter", "206 responses to forwarded ranges not stored (invalid or inconsistent Content-Range, body length, not storable)", ps.refused);
#undef PARTIAL_METRIC
    }
    if (handler_disk != NULL) {
        cache_disk_stats_t ds;
        cache_disk_stats(handler_disk, &ds);
#define DISK_METRIC(name, type, help, v) metrics_put_one(buf, "edgehook_disk_", name, type, help, (uint64_t)(v))
        DISK_METRIC("objects", "gauge", "objects in the disk tier", ds.objects);
        DISK_METRIC("bytes", "gauge", "bytes of the disk tier's segment files", ds.bytes);
        DISK_METRIC("capacity_bytes", "gauge", "the disk tier's bound (cache.disk.size)", ds.capacity);
        DISK_METRIC("hits_total", "counter", "objects read back from the disk tier", ds.hits);
        DISK_METRIC("writes_total", "counter", "objects written to the disk tier", ds.writes);
        DISK_METRIC("write_bytes_total", "counter", "bytes written to the disk tier", ds.write_bytes);
        DISK_METRIC("evictions_total", "counter", "objects dropped from the disk tier to stay within cache.disk.size", ds.evictions);
        DISK_METRIC("reinserted_total", "counter", "objects copied forward when their segment was reclaimed (read since written)", ds.reinserted);
        DISK_METRIC("corrupt_total", "counter", "disk records that failed their checks (never served)", ds.corrupt);
        DISK_METRIC("verified_hits_total", "counter",
                    "disk hits from records whose body passed its checks in an earlier read by this process (not checked again)",
                    ds.verified_hits);
        DISK_METRIC("dropped_total", "counter", "objects not written (not fresh, too big, or the write queue full)", ds.dropped);
        PUT("# HELP edgehook_disk_index_load_seconds how long loading the disk index took at start\n# TYPE "
            "edgehook_disk_index_load_seconds gauge\nedgehook_disk_index_load_seconds %.6f\n",
            ds.load_us / 1e6);
#undef DISK_METRIC
    }
    lambda_async_metrics(buf);
    storeevents_metrics(buf);
    PUT("# HELP edgehook_origin_requests_by_origin_total requests sent, by origin\n# TYPE edgehook_origin_requests_by_origin_total "
        "counter\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        PUT("edgehook_origin_requests_by_origin_total{origin=\"%s\"} %" PRIu64 "\n", gen->origins[i]->name,
            atomic_load(&gen->origins[i]->stats[ORIGIN_STAT_REQUESTS]));
    PUT("# HELP edgehook_origin_failures_total failed origin requests, by origin\n# TYPE edgehook_origin_failures_total counter\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        PUT("edgehook_origin_failures_total{origin=\"%s\"} %" PRIu64 "\n", gen->origins[i]->name,
            atomic_load(&gen->origins[i]->stats[ORIGIN_STAT_FAILURES]));
    PUT("# HELP edgehook_origin_connections_total connections opened, by origin\n# TYPE edgehook_origin_connections_total counter\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        PUT("edgehook_origin_connections_total{origin=\"%s\"} %" PRIu64 "\n", gen->origins[i]->name,
            atomic_load(&gen->origins[i]->stats[ORIGIN_STAT_CONNECTS]));
    parents_metrics(buf, gen->origins); /* tiered caching */
    dashboard_metrics(buf, gen); /* origin first-byte times, alias splits */
    {
        uint64_t jobs, busy_us, max_us;
        control_stats(&jobs, &busy_us, &max_us);
        PUT("# HELP edgehook_control_jobs_total jobs run by the control thread (reloads, admin changes, purges)\n"
            "# TYPE edgehook_control_jobs_total counter\nedgehook_control_jobs_total %" PRIu64 "\n",
            jobs);
        PUT("# HELP edgehook_control_busy_seconds_total time the control thread spent in jobs\n"
            "# TYPE edgehook_control_busy_seconds_total counter\nedgehook_control_busy_seconds_total %.6f\n",
            busy_us / 1e6);
        PUT("# HELP edgehook_control_job_max_seconds the longest job the control thread ran\n"
            "# TYPE edgehook_control_job_max_seconds gauge\nedgehook_control_job_max_seconds %.6f\n",
            max_us / 1e6);
    }
    /* hooks: every version the current configuration binds, labelled hook="NAME@VERSION" */
    {
        size_t num = 0, need;
        while (gen->hooks != NULL && gen->hooks[num] != NULL)
            ++num;
        need = hook_fns_metrics((const hook_fn_t *const *)gen->hooks, num, NULL, 0);
        h2o_iovec_t room = h2o_buffer_reserve(buf, need + 1);
        hook_fns_metrics((const hook_fn_t *const *)gen->hooks, num, room.base, need + 1);
        (*buf)->size += need;
    }
    kvapi_metrics(buf);
    fleet_metrics(buf);
#undef PUT
}

static hook_json_t *parse_body(h2o_req_t *req)
{
    char err[256];
    hook_json_t *doc;
    if (req->entity.len > MAX_ADMIN_BODY) {
        respond_json_error(req, 400, "Bad Request", "body too large");
        return NULL;
    }
    if ((doc = hook_json_parse(req->entity.base != NULL ? req->entity.base : "", req->entity.len, err, sizeof(err))) == NULL) {
        respond_json_error(req, 400, "Bad Request", err);
        return NULL;
    }
    if (doc->type != HOOK_JSON_OBJECT) {
        hook_json_free(doc);
        respond_json_error(req, 400, "Bad Request", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* splits "/hooks/NAME/rest..." into its segments (names are letters, digits, - _ .) */
static size_t split_path(h2o_iovec_t path, char segs[5][128])
{
    size_t n = 0, i = 0;
    while (i < path.len && n < 5) {
        size_t j = 0;
        while (i < path.len && path.base[i] == '/')
            ++i;
        if (i == path.len)
            break;
        while (i < path.len && path.base[i] != '/') {
            char c = path.base[i++];
            if (j == 127 || !(isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.'))
                return 0;
            segs[n][j++] = c;
        }
        segs[n++][j] = '\0';
    }
    return i == path.len ? n : 0;
}

/*
 * Admin calls that block (publish: read, copy, compile or dlopen; alias changes: rebind and publish a generation; purges: a scan
 * of the whole index) run on the control thread: the worker parses and checks the request, posts a job and goes on serving;
 * the job's completion answers on the worker's loop. A request whose client left meanwhile is gone: the job still runs, its
 * answer is dropped.
 */
enum { JOB_PUBLISH, JOB_ALIAS_SET, JOB_ALIAS_DELETE, JOB_ROLLBACK, JOB_PURGE, JOB_RELOAD };

typedef struct admin_job {
    h2o_req_t *req; /* NULL once the request is gone (worker thread only) */
    struct admin_guard *guard;
    int kind;
    char name[128], alias[128];
    char *path; /* publish: as given */
    unsigned versions[2];
    double weights[2];
    size_t count;
    unsigned steps; /* rollback */
    char *key; /* alias key, or NULL */
    cache_purge_kind_t purge_kind;
    h2o_iovec_t purge_arg; /* malloc'ed */
    int soft;
    const char *what;
    size_t purged;
    int fleet_wait;  /* 1: the purge waits for the fleet's acks, its answer comes with them */
    void *receiver;  /* the posting worker's (the fleet's answer goes there) */
    /* the answer, filled on the control thread */
    int status;
    const char *reason;
    char *body; /* malloc'ed JSON */
} admin_job_t;

/* in the request's pool: tells a job its request is gone when the pool is cleared first */
typedef struct admin_guard {
    admin_job_t *job;
} admin_guard_t;

static void on_guard_dispose(void *p)
{
    admin_guard_t *g = p;
    if (g->job != NULL)
        g->job->req = NULL;
}

static char *json_error_body(const char *msg)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_append(&b, "{\"error\":", 9);
    hook_buf_json_string(&b, msg, strlen(msg));
    hook_buf_append(&b, "}\n", 2);
    return b.base;
}

static void job_fail(admin_job_t *job, int status, const char *reason, const char *msg)
{
    job->status = status;
    job->reason = reason;
    job->body = json_error_body(msg);
}

/* a registry failure: its kind's status (or `status` when not 0) */
static void job_fail_kind(admin_job_t *job, int status, hook_versions_err_t kind, const char *msg)
{
    static const struct {
        int status;
        const char *reason;
    } map[] = {[HOOK_VERSIONS_OK] = {500, "Internal Server Error"},
               [HOOK_VERSIONS_NOT_FOUND] = {404, "Not Found"},
               [HOOK_VERSIONS_PRECONDITION] = {412, "Precondition Failed"},
               [HOOK_VERSIONS_INVALID] = {400, "Bad Request"},
               [HOOK_VERSIONS_CONFLICT] = {409, "Conflict"},
               [HOOK_VERSIONS_STORAGE] = {500, "Internal Server Error"}};
    if (status == 422)
        job_fail(job, 422, "Unprocessable Entity", msg);
    else
        job_fail(job, map[kind].status, map[kind].reason, msg);
}

static char *xstrdup_or_die(const char *s)
{
    char *r = strdup(s);
    if (r == NULL)
        h2o_fatal("no memory");
    return r;
}

static void purge_fleet_done(void *arg, char *fleet_json);

size_t admin_purge_tiers(cache_purge_kind_t kind, h2o_iovec_t arg, int soft)
{
    /* the disk first: a read from it in flight is a BUSY object in memory, which the memory purge then catches */
    size_t on_disk = cache_disk_purge(handler_disk, kind, arg, soft);
    size_t purged = handler_cache != NULL ? cache_mem_purge(handler_cache, kind, arg, soft) : 0;
    size_t parts = handler_partial != NULL ? cache_partial_purge(handler_partial, kind, arg) : 0; /* stored 206 parts (cache.ranges) */
    return (on_disk > purged ? on_disk : purged) + parts; /* an object in both tiers (written through) or on disk only counts once */
}

/* control thread */
static void run_job(void *arg)
{
    admin_job_t *job = arg;
    char err[PATH_MAX + 512], resolved[PATH_MAX], out[512];
    hook_versions_txn_t *txn;
    int r = 0;

    switch (job->kind) {
    case JOB_RELOAD: {
        /* 200 with what changed, or 422 with the FILE:LINE reason (the running configuration stays) */
        char *answer, rerr[CONF_ERRBUF_SIZE];
        if (server_reload_now(rerr, sizeof(rerr), &answer) != 0) {
            hook_buf_t b = {NULL, 0, 0};
            hook_buf_append(&b, "{\"result\":\"refused\",\"error\":", 28);
            hook_buf_json_string(&b, rerr, strlen(rerr));
            hook_buf_append(&b, "}\n", 2);
            job->status = atomic_load(&server.stopping) ? 503 : 422;
            job->reason = job->status == 503 ? "Service Unavailable" : "Unprocessable Entity";
            job->body = b.base;
            return;
        }
        job->status = 200;
        job->reason = "OK";
        job->body = answer;
        return;
    }
    case JOB_PURGE: {
        size_t purged = admin_purge_tiers(job->purge_kind, job->purge_arg, job->soft);
        log_info("admin: purge %s%s: %zu objects", job->what, job->soft ? " (soft)" : "", purged);
        job->purged = purged;
        job->status = 200;
        job->reason = "OK";
        if (fleet_enabled()) {
            /* written to etcd: the answer waits for every live node's ack (or fleet.ack_timeout) */
            job->fleet_wait = 1;
            if (fleet_publish_purge(job->purge_kind, job->purge_arg, job->soft, purge_fleet_done, job, err, sizeof(err)) == 0)
                return;
            job->fleet_wait = 0;
            hook_buf_t b = {NULL, 0, 0};
            hook_buf_appendf(&b, "{\"purged\":%zu,\"soft\":%s,\"fleet\":{\"error\":", purged, job->soft ? "true" : "false");
            hook_buf_json_string(&b, err, strlen(err));
            hook_buf_append(&b, "}}\n", 3);
            job->body = b.base;
            return;
        }
        snprintf(out, sizeof(out), "{\"purged\":%zu,\"soft\":%s}\n", purged, job->soft ? "true" : "false");
        job->body = xstrdup_or_die(out);
        return;
    }
    case JOB_PUBLISH: {
        /* the generation current on the control thread: only this thread replaces it */
        int allowed = admin_check_hook_path(atomic_load(&server.gen)->conf, job->path, resolved, err, sizeof(err));
        unsigned version;
        if (allowed != 0) {
            log_warn("admin: POST /hooks/%s/versions refused: %s", job->name, err);
            job_fail(job, allowed, allowed == 403 ? "Forbidden" : "Unprocessable Entity", err);
            return;
        }
        txn = server_hooks_begin();
        if ((version = hook_versions_publish(txn, job->name, resolved, err, sizeof(err))) == 0) {
            hook_versions_err_t kind = hook_versions_error_kind(txn);
            server_hooks_abort(txn);
            job_fail_kind(job, kind == HOOK_VERSIONS_INVALID ? 422 : 0, kind, err);
            return;
        }
        if (server_hooks_commit(txn, 0, err, sizeof(err)) != 0) {
            job_fail_kind(job, 0, HOOK_VERSIONS_STORAGE, err);
            return;
        }
        fleet_publish_latest(job->name, err, sizeof(err)); /* the version went out with its number; $LATEST too */
        snprintf(out, sizeof(out), "{\"hook\":\"%s\",\"version\":%u}\n", job->name, version);
        job->status = 201;
        job->reason = "Created";
        job->body = xstrdup_or_die(out);
        return;
    }
    case JOB_ROLLBACK:
        txn = server_hooks_begin();
        r = hook_versions_rollback(txn, job->name, job->alias, job->steps, "admin", err, sizeof(err));
        break;
    case JOB_ALIAS_DELETE:
        txn = server_hooks_begin();
        r = hook_versions_delete_alias(txn, job->name, job->alias, err, sizeof(err));
        break;
    case JOB_ALIAS_SET:
        txn = server_hooks_begin();
        r = hook_versions_set_alias_by(txn, job->name, job->alias, job->versions, job->weights, job->count, job->key, NULL, "admin",
                                       err, sizeof(err));
        break;
    default:
        return;
    }
    if (r != 0) {
        hook_versions_err_t kind = hook_versions_error_kind(txn);
        server_hooks_abort(txn);
        job_fail_kind(job, 0, kind, err);
        return;
    }
    /* the change takes effect by a new generation with the hooks bound again; if they do not bind or the state cannot be
     * written, nothing changed */
    if ((r = server_hooks_commit(txn, 1, err, sizeof(err))) != 0) {
        job_fail_kind(job, 0, r == -2 ? HOOK_VERSIONS_STORAGE : HOOK_VERSIONS_CONFLICT, err);
        return;
    }
    if (fleet_publish_alias(job->name, job->alias, err, sizeof(err)) != 0)
        log_warn("admin: alias %s@%s changed on this node only: %s", job->name, job->alias, err);
    job->status = 200;
    job->reason = "OK";
    job->body = hook_versions_json();
}

/* the worker that posted the job */
static void job_done(void *arg)
{
    admin_job_t *job = arg;
    if (job->fleet_wait == 1) {
        job->fleet_wait = 2; /* the fleet's answer comes later (purge_fleet_done) */
        return;
    }
    if (job->req != NULL) {
        job->guard->job = NULL;
        respond(job->req, job->status, job->reason, "application/json",
                h2o_strdup(&job->req->pool, job->body != NULL ? job->body : "{}\n", SIZE_MAX));
    }
    free(job->body);
    free(job->path);
    free(job->key);
    free(job->purge_arg.base);
    free(job);
}

static void purge_noop(void *arg)
{
}

/* a fleet thread: every live node acked the purge, or the timeout came: the answer goes to the worker */
static void purge_fleet_done(void *arg, char *fleet_json)
{
    admin_job_t *job = arg;
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_appendf(&b, "{\"purged\":%zu,\"soft\":%s,%s}\n", job->purged, job->soft ? "true" : "false", fleet_json);
    free(fleet_json);
    job->body = b.base;
    control_post_to(job->receiver, purge_noop, job_done, job);
}

static admin_job_t *job_new(int kind)
{
    admin_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        h2o_fatal("no memory");
    job->kind = kind;
    return job;
}

static void job_post(h2o_req_t *req, admin_job_t *job)
{
    job->req = req;
    job->receiver = control_worker_receiver();
    job->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*job->guard), on_guard_dispose);
    job->guard->job = job;
    control_post(run_job, job_done, job);
}

static void do_purge(h2o_req_t *req, edge_gen_t *gen)
{
    char err[256];
    hook_json_t *doc;
    const hook_json_t *v;
    int soft = 0;
    cache_purge_kind_t kind;
    h2o_iovec_t arg = {NULL, 0};
    const char *what;

    if (req->entity.len > MAX_ADMIN_BODY || (doc = hook_json_parse(req->entity.base != NULL ? req->entity.base : "",
                                                                    req->entity.len, err, sizeof(err))) == NULL) {
        respond_json_error(req, 400, "Bad Request", req->entity.len > MAX_ADMIN_BODY ? "body too large" : err);
        return;
    }
    if (doc->type != HOOK_JSON_OBJECT) {
        hook_json_free(doc);
        respond_json_error(req, 400, "Bad Request", "the body must be a JSON object: {\"url\"|\"prefix\"|\"tag\": \"...\"} or {\"all\": true}");
        return;
    }
    if ((v = hook_json_get(doc, "soft")) != NULL)
        soft = v->type == HOOK_JSON_TRUE;
    if ((v = hook_json_get(doc, "url")) != NULL && v->type == HOOK_JSON_STRING && v->len > 0 && v->str[0] == '/') {
        /* normalised as the cache key normalises it, under the policy of the behavior the path matches */
        h2o_iovec_t path = h2o_iovec_init(v->str, v->len);
        edge_behavior_t *b = gen_match(gen, v->str, v->len);
        arg = cache_key_url(&req->pool, b != NULL ? &b->conf->cache : NULL, path);
        kind = CACHE_PURGE_URL;
        what = "url";
    } else if ((v = hook_json_get(doc, "prefix")) != NULL && v->type == HOOK_JSON_STRING && v->len > 0 && v->str[0] == '/') {
        h2o_iovec_t prefix = h2o_iovec_init(v->str, v->len);
        /* a trailing star (images/STAR) means the same as the bare prefix */
        if (prefix.len > 1 && prefix.base[prefix.len - 1] == '*')
            --prefix.len;
        arg = cache_key_url(&req->pool, NULL, prefix);
        kind = CACHE_PURGE_PREFIX;
        what = "prefix";
    } else if ((v = hook_json_get(doc, "tag")) != NULL && v->type == HOOK_JSON_STRING && v->len > 0) {
        arg = h2o_iovec_init(v->str, v->len);
        kind = CACHE_PURGE_TAG;
        what = "tag";
    } else if ((v = hook_json_get(doc, "all")) != NULL && v->type == HOOK_JSON_TRUE) {
        kind = CACHE_PURGE_ALL;
        what = "all";
    } else {
        hook_json_free(doc);
        respond_json_error(req, 400, "Bad Request",
                           "give one of \"url\": \"/path?query\", \"prefix\": \"/dir/\", \"tag\": \"name\" or \"all\": true");
        return;
    }
    if (handler_cache == NULL) {
        hook_json_free(doc);
        log_info("admin: purge none%s: 0 objects", soft ? " (soft)" : "");
        respond(req, 200, "OK", "application/json",
                h2o_strdup(&req->pool, soft ? "{\"purged\":0,\"soft\":true}\n" : "{\"purged\":0,\"soft\":false}\n", SIZE_MAX));
        return;
    }
    /* the scan of the index runs on the control thread */
    admin_job_t *job = job_new(JOB_PURGE);
    job->purge_kind = kind;
    job->soft = soft;
    job->what = what;
    if (arg.len != 0) {
        if ((job->purge_arg.base = malloc(arg.len)) == NULL)
            h2o_fatal("no memory");
        memcpy(job->purge_arg.base, arg.base, arg.len);
        job->purge_arg.len = arg.len;
    }
    hook_json_free(doc);
    job_post(req, job);
}

static void do_hooks(h2o_req_t *req)
{
    char segs[5][128];
    size_t n = split_path(req->path_normalized, segs);
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")),
        is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")),
        is_put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")),
        is_delete = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE"));
    hook_json_t *doc;
    const hook_json_t *v;
    admin_job_t *job;

    if (n == 1 && is_get) {
        char *json = hook_versions_json(); /* a copy of the committed registry under a short lock */
        respond(req, 200, "OK", "application/json", h2o_strdup(&req->pool, json, SIZE_MAX));
        free(json);
        return;
    }
    if (n == 3 && strcmp(segs[2], "versions") == 0 && is_post) {
        if ((doc = parse_body(req)) == NULL)
            return;
        if ((v = hook_json_get(doc, "path")) == NULL || v->type != HOOK_JSON_STRING || v->len == 0 || memchr(v->str, 0, v->len) != NULL) {
            hook_json_free(doc);
            respond_json_error(req, 400, "Bad Request", "give {\"path\": \"FILE.lua\" or \"FILE.so\"}");
            return;
        }
        job = job_new(JOB_PUBLISH);
        snprintf(job->name, sizeof(job->name), "%s", segs[1]);
        job->path = xstrdup_or_die(v->str);
        hook_json_free(doc);
        job_post(req, job);
        return;
    }
    if ((n == 4 || n == 5) && strcmp(segs[2], "aliases") == 0) {
        if (n == 5 && strcmp(segs[4], "rollback") == 0 && is_post) {
            double steps = 1;
            if (req->entity.len != 0) { /* optional {"steps": N}: back N targets through the alias's history */
                if ((doc = parse_body(req)) == NULL)
                    return;
                if ((v = hook_json_get(doc, "steps")) != NULL &&
                    (v->type != HOOK_JSON_NUMBER || (steps = v->number) < 1 || steps > 1000000 || steps != (unsigned)steps)) {
                    hook_json_free(doc);
                    respond_json_error(req, 400, "Bad Request", "steps is a whole number of targets to go back, 1 or more");
                    return;
                }
                hook_json_free(doc);
            }
            job = job_new(JOB_ROLLBACK);
            job->steps = (unsigned)steps;
        } else if (n == 4 && is_delete) {
            job = job_new(JOB_ALIAS_DELETE);
        } else if (n == 4 && is_put) {
            if ((doc = parse_body(req)) == NULL)
                return;
            if ((v = hook_json_get(doc, "versions")) == NULL || v->type != HOOK_JSON_OBJECT || v->count < 1 || v->count > 2) {
                hook_json_free(doc);
                respond_json_error(req, 400, "Bad Request", "give {\"versions\": {\"3\": 0.9, \"4\": 0.1}} (one or two versions)");
                return;
            }
            job = job_new(JOB_ALIAS_SET);
            for (size_t i = 0; i != v->count; ++i) {
                char *end;
                unsigned long num = strtoul(v->keys[i], &end, 10);
                if (*end != '\0' || num == 0 || num > 1000000 || v->items[i]->type != HOOK_JSON_NUMBER) {
                    hook_json_free(doc);
                    free(job);
                    respond_json_error(req, 400, "Bad Request", "versions maps a version number to its weight");
                    return;
                }
                job->versions[job->count] = (unsigned)num;
                job->weights[job->count++] = v->items[i]->number;
            }
            if ((v = hook_json_get(doc, "key")) != NULL) {
                if (v->type != HOOK_JSON_STRING) {
                    hook_json_free(doc);
                    free(job);
                    respond_json_error(req, 400, "Bad Request", "key is ip, cookie:NAME or header:NAME");
                    return;
                }
                job->key = xstrdup_or_die(v->str);
            }
            hook_json_free(doc);
        } else {
            respond_json_error(req, 405, "Method Not Allowed", "PUT or DELETE /hooks/NAME/aliases/ALIAS, POST .../rollback");
            return;
        }
        snprintf(job->name, sizeof(job->name), "%s", segs[1]);
        snprintf(job->alias, sizeof(job->alias), "%s", segs[3]);
        job_post(req, job);
        return;
    }
    respond_json_error(req, 404, "Not Found", "GET /hooks, POST /hooks/NAME/versions, PUT|DELETE /hooks/NAME/aliases/ALIAS");
}

/* the Lambda API: its errors are Lambda's (403 and x-amzn-ErrorType); the request is handled once authorised */
static void lambda_authorized(h2o_req_t *req, edge_gen_t *gen)
{
    static const char *const types[] = {
        [ADMIN_AUTH_MISSING] = "MissingAuthenticationTokenException", [ADMIN_AUTH_BAD_TOKEN] = "UnrecognizedClientException",
        [ADMIN_AUTH_NOT_ALLOWED] = "AccessDeniedException",           [ADMIN_AUTH_UNKNOWN_KEY] = "UnrecognizedClientException",
        [ADMIN_AUTH_MALFORMED] = "IncompleteSignatureException",      [ADMIN_AUTH_EXPIRED] = "InvalidSignatureException",
        [ADMIN_AUTH_BAD_SIGNATURE] = "InvalidSignatureException"};
    char reason[512];
    admin_auth_t r = admin_authorize(req, gen->conf, "lambda", reason, sizeof(reason));
    if (r != ADMIN_AUTH_OK) {
        log_info("admin: %.*s %.*s refused: %s", (int)req->method.len, req->method.base,
                 (int)req->path.len > 200 ? 200 : (int)req->path.len, req->path.base, reason);
        lambdaapi_error(req, 403, types[r], "%s", reason);
        return;
    }
    lambdaapi_handle(req);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    edge_gen_t *gen = server_worker_current()->gen; /* synchronous: the worker keeps it alive for this call */
    char reason[512];
    h2o_iovec_t path = req->path_normalized;

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        /* ok (200); starting (the store seed runs) and draining (after SIGTERM) are 503: a balancer sends no new traffic */
        const char *health = server_health();
        int ok = strcmp(health, "ok") == 0;
        respond(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain",
                h2o_concat(&req->pool, h2o_iovec_init(health, strlen(health)), h2o_iovec_init(H2O_STRLIT("\n"))));
        return 0;
    }
    if (lambdaapi_is_path(req->path)) {
        lambda_authorized(req, gen);
        return 0;
    }
    /* the dashboard's login page, its CSS and JS: no data, no token */
    if (dashboard_public(req))
        return 0;
    if (admin_authorize(req, gen->conf, NULL, reason, sizeof(reason)) != ADMIN_AUTH_OK) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer realm=\"edgehook admin\""));
        respond_json_error(req, 401, "Unauthorized", "a valid Authorization: Bearer token is required");
        return 0;
    }
    if (dashboard_private(req, gen)) /* the dashboard's markup and GET /dashboard/stats */
        return 0;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
            respond_json_error(req, 405, "Method Not Allowed", "use GET");
            return 0;
        }
        respond(req, 200, "OK", "text/plain; version=0.0.4", metrics_render(&req->pool, extra_metrics, gen));
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/purge"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
            respond_json_error(req, 405, "Method Not Allowed", "use POST");
            return 0;
        }
        do_purge(req, gen);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/reload"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
            respond_json_error(req, 405, "Method Not Allowed", "use POST");
            return 0;
        }
        job_post(req, job_new(JOB_RELOAD)); /* on the control thread, like SIGHUP's */
        return 0;
    }
    /* /kv by the raw target: a key's `..` or `%2F` are bytes of the key, not path steps */
    if (req->path.len >= 3 && memcmp(req->path.base, "/kv", 3) == 0 &&
        (req->path.len == 3 || req->path.base[3] == '/' || req->path.base[3] == '?')) {
        kvapi_handle(req);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/hooks")) || (path.len > 7 && memcmp(path.base, "/hooks/", 7) == 0)) {
        do_hooks(req);
        return 0;
    }
    respond_json_error(req, 404, "Not Found", "unknown admin endpoint");
    return 0;
}

void admin_register(h2o_pathconf_t *pathconf, conf_t *conf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}
