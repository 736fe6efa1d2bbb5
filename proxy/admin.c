/* proxy/admin.c - the admin API: JSON over HTTP, every call but /healthz with `Authorization: Bearer TOKEN`. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "cache/key.h"
#include "cache/memory.h"
#include "hooks/json.h"
#include "hooks/versions.h"
#include "proxy/admin.h"
#include "proxy/gen.h"
#include "proxy/handler.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/server.h"

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

static int authorized(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return 0;
    return admin_token_matches(req->headers.entries[i].value.base, req->headers.entries[i].value.len, token);
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

static void extra_metrics(h2o_buffer_t **buf, void *ctx)
{
    edge_gen_t *gen = ctx;
    cache_mem_stats_t st;
    char line[512];
    int n;
#define PUT(...)                                                                                                                   \
    do {                                                                                                                           \
        n = snprintf(line, sizeof(line), __VA_ARGS__);                                                                             \
        h2o_iovec_t room = h2o_buffer_reserve(buf, n + 1);                                                                         \
        memcpy(room.base, line, n);                                                                                                \
        (*buf)->size += n;                                                                                                         \
    } while (0)
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
    PUT("# HELP edgehook_origin_requests_by_origin_total requests sent, by origin\n# TYPE edgehook_origin_requests_by_origin_total "
        "counter\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        PUT("edgehook_origin_requests_by_origin_total{origin=\"%s\"} %" PRIu64 "\n", gen->origins[i]->name,
            atomic_load(&gen->origins[i]->requests));
    PUT("# HELP edgehook_origin_failures_total failed origin requests, by origin\n# TYPE edgehook_origin_failures_total counter\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        PUT("edgehook_origin_failures_total{origin=\"%s\"} %" PRIu64 "\n", gen->origins[i]->name,
            atomic_load(&gen->origins[i]->failures));
    PUT("# HELP edgehook_origin_connections_total connections opened, by origin\n# TYPE edgehook_origin_connections_total counter\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i)
        PUT("edgehook_origin_connections_total{origin=\"%s\"} %" PRIu64 "\n", gen->origins[i]->name,
            atomic_load(&gen->origins[i]->connects));
    /* hooks: every version the current configuration binds, labelled hook="NAME@VERSION" */
    for (size_t i = 0; gen->hooks != NULL && gen->hooks[i] != NULL; ++i) {
        size_t need = hook_fn_metrics(gen->hooks[i], NULL, 0, i == 0);
        h2o_iovec_t room = h2o_buffer_reserve(buf, need + 1);
        hook_fn_metrics(gen->hooks[i], room.base, need + 1, i == 0);
        (*buf)->size += need;
    }
#undef PUT
}

static void do_purge(h2o_req_t *req, edge_gen_t *gen)
{
    char err[256], out[128];
    hook_json_t *doc;
    const hook_json_t *v;
    int soft = 0;
    size_t purged = 0;
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
    if (handler_cache == NULL) {
        what = "none";
    } else if ((v = hook_json_get(doc, "url")) != NULL && v->type == HOOK_JSON_STRING && v->len > 0 && v->str[0] == '/') {
        /* normalised as the cache key normalises it, under the policy of the behavior the path matches */
        h2o_iovec_t path = h2o_iovec_init(v->str, v->len);
        edge_behavior_t *b = gen_match(gen, v->str, v->len);
        h2o_iovec_t url = cache_key_url(&req->pool, b != NULL ? &b->conf->cache : NULL, path);
        purged = cache_mem_purge(handler_cache, CACHE_PURGE_URL, url, soft);
        what = "url";
    } else if ((v = hook_json_get(doc, "prefix")) != NULL && v->type == HOOK_JSON_STRING && v->len > 0 && v->str[0] == '/') {
        h2o_iovec_t prefix = h2o_iovec_init(v->str, v->len);
        /* a trailing star (images/STAR) means the same as the bare prefix */
        if (prefix.len > 1 && prefix.base[prefix.len - 1] == '*')
            --prefix.len;
        prefix = cache_key_url(&req->pool, NULL, prefix);
        purged = cache_mem_purge(handler_cache, CACHE_PURGE_PREFIX, prefix, soft);
        what = "prefix";
    } else if ((v = hook_json_get(doc, "tag")) != NULL && v->type == HOOK_JSON_STRING && v->len > 0) {
        purged = cache_mem_purge(handler_cache, CACHE_PURGE_TAG, h2o_iovec_init(v->str, v->len), soft);
        what = "tag";
    } else if ((v = hook_json_get(doc, "all")) != NULL && v->type == HOOK_JSON_TRUE) {
        purged = cache_mem_purge(handler_cache, CACHE_PURGE_ALL, h2o_iovec_init(NULL, 0), soft);
        what = "all";
    } else {
        hook_json_free(doc);
        respond_json_error(req, 400, "Bad Request",
                           "give one of \"url\": \"/path?query\", \"prefix\": \"/dir/\", \"tag\": \"name\" or \"all\": true");
        return;
    }
    hook_json_free(doc);
    log_info("admin: purge %s%s: %zu objects", what, soft ? " (soft)" : "", purged);
    snprintf(out, sizeof(out), "{\"purged\":%zu,\"soft\":%s}\n", purged, soft ? "true" : "false");
    respond(req, 200, "OK", "application/json", h2o_strdup(&req->pool, out, SIZE_MAX));
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

static void do_hooks(h2o_req_t *req, edge_gen_t *gen)
{
    char segs[5][128], err[PATH_MAX + 512], out[512], resolved[PATH_MAX];
    size_t n = split_path(req->path_normalized, segs);
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")),
        is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")),
        is_put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")),
        is_delete = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE"));
    hook_json_t *doc;
    const hook_json_t *v;

    if (n == 1 && is_get) {
        char *json = hook_versions_json();
        respond(req, 200, "OK", "application/json", h2o_strdup(&req->pool, json, SIZE_MAX));
        free(json);
        return;
    }
    if (n == 3 && strcmp(segs[2], "versions") == 0 && is_post) {
        unsigned version;
        if ((doc = parse_body(req)) == NULL)
            return;
        if ((v = hook_json_get(doc, "path")) == NULL || v->type != HOOK_JSON_STRING || v->len == 0 || memchr(v->str, 0, v->len) != NULL) {
            hook_json_free(doc);
            respond_json_error(req, 400, "Bad Request", "give {\"path\": \"FILE.lua\" or \"FILE.so\"}");
            return;
        }
        int allowed = admin_check_hook_path(gen->conf, v->str, resolved, err, sizeof(err));
        hook_json_free(doc);
        if (allowed != 0) {
            log_warn("admin: POST /hooks/%s/versions refused: %s", segs[1], err);
            respond_json_error(req, allowed, allowed == 403 ? "Forbidden" : "Unprocessable Entity", err);
            return;
        }
        hook_versions_txn_t *txn = server_hooks_begin();
        version = hook_versions_publish(txn, segs[1], resolved, err, sizeof(err));
        if (version == 0)
            server_hooks_abort(txn);
        else
            server_hooks_commit(txn, 0, err, sizeof(err));
        if (version == 0) {
            respond_json_error(req, strncmp(err, "no hook", 7) == 0 ? 404 : 422, strncmp(err, "no hook", 7) == 0 ? "Not Found" : "Unprocessable Entity",
                               err);
            return;
        }
        snprintf(out, sizeof(out), "{\"hook\":\"%s\",\"version\":%u}\n", segs[1], version);
        respond(req, 201, "Created", "application/json", h2o_strdup(&req->pool, out, SIZE_MAX));
        return;
    }
    if ((n == 4 || n == 5) && strcmp(segs[2], "aliases") == 0) {
        hook_versions_txn_t *txn;
        if (n == 5 && strcmp(segs[4], "rollback") == 0 && is_post) {
            txn = server_hooks_begin();
            if (hook_versions_rollback(txn, segs[1], segs[3], err, sizeof(err)) != 0) {
                server_hooks_abort(txn);
                respond_json_error(req, 404, "Not Found", err);
                return;
            }
        } else if (n == 4 && is_delete) {
            txn = server_hooks_begin();
            if (hook_versions_delete_alias(txn, segs[1], segs[3], err, sizeof(err)) != 0) {
                server_hooks_abort(txn);
                respond_json_error(req, strstr(err, "cannot") != NULL ? 409 : 404, strstr(err, "cannot") != NULL ? "Conflict" : "Not Found",
                                   err);
                return;
            }
        } else if (n == 4 && is_put) {
            unsigned versions[2];
            double weights[2];
            size_t count = 0;
            const char *key = NULL;
            if ((doc = parse_body(req)) == NULL)
                return;
            if ((v = hook_json_get(doc, "versions")) == NULL || v->type != HOOK_JSON_OBJECT || v->count < 1 || v->count > 2) {
                hook_json_free(doc);
                respond_json_error(req, 400, "Bad Request", "give {\"versions\": {\"3\": 0.9, \"4\": 0.1}} (one or two versions)");
                return;
            }
            for (size_t i = 0; i != v->count; ++i) {
                char *end;
                unsigned long num = strtoul(v->keys[i], &end, 10);
                if (*end != '\0' || num == 0 || num > 1000000 || v->items[i]->type != HOOK_JSON_NUMBER) {
                    hook_json_free(doc);
                    respond_json_error(req, 400, "Bad Request", "versions maps a version number to its weight");
                    return;
                }
                versions[count] = (unsigned)num;
                weights[count++] = v->items[i]->number;
            }
            if ((v = hook_json_get(doc, "key")) != NULL) {
                if (v->type != HOOK_JSON_STRING) {
                    hook_json_free(doc);
                    respond_json_error(req, 400, "Bad Request", "key is ip, cookie:NAME or header:NAME");
                    return;
                }
                key = v->str;
            }
            txn = server_hooks_begin();
            int r = hook_versions_set_alias(txn, segs[1], segs[3], versions, weights, count, key, err, sizeof(err));
            hook_json_free(doc);
            if (r != 0) {
                server_hooks_abort(txn);
                respond_json_error(req, strncmp(err, "no hook", 7) == 0 ? 404 : 400, strncmp(err, "no hook", 7) == 0 ? "Not Found" : "Bad Request",
                                   err);
                return;
            }
        } else {
            respond_json_error(req, 405, "Method Not Allowed", "PUT or DELETE /hooks/NAME/aliases/ALIAS, POST .../rollback");
            return;
        }
        /* the change takes effect by a new generation with the hooks bound again; if they do not bind, nothing changed */
        if (server_hooks_commit(txn, 1, err, sizeof(err)) != 0) {
            respond_json_error(req, 409, "Conflict", err);
            return;
        }
        char *json = hook_versions_json();
        respond(req, 200, "OK", "application/json", h2o_strdup(&req->pool, json, SIZE_MAX));
        free(json);
        return;
    }
    respond_json_error(req, 404, "Not Found", "GET /hooks, POST /hooks/NAME/versions, PUT|DELETE /hooks/NAME/aliases/ALIAS");
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    edge_gen_t *gen = server_worker_current()->gen; /* synchronous: the worker keeps it alive for this call */
    const char *token = gen->conf->admin.token;
    h2o_iovec_t path = req->path_normalized;

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        respond(req, 200, "OK", "text/plain", h2o_iovec_init(H2O_STRLIT("ok\n")));
        return 0;
    }
    if (token == NULL || !authorized(req, token)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer realm=\"edgehook admin\""));
        respond_json_error(req, 401, "Unauthorized", "a valid Authorization: Bearer token is required");
        return 0;
    }
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
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/hooks")) || (path.len > 7 && memcmp(path.base, "/hooks/", 7) == 0)) {
        do_hooks(req, gen);
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
