/* proxy/dashboard.c - the admin listener's web dashboard (see proxy/dashboard.h). The assets are the files of proxy/dashboard/,
 * embedded by proxy/dashboard/embed.cmake into the build's generated/dashboard_assets.c. The page keeps the admin token in the
 * browser's sessionStorage and sends it as `Authorization: Bearer` on each fetch: no cookie, so no ambient credential for another
 * site to ride on (no CSRF), and the existing admin API (purge, aliases) serves the page's forms unchanged. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/clock.h"
#include "cache/memory.h"
#include "hooks/json.h"
#include "proxy/dashboard.h"
#include "proxy/handler.h"
#include "proxy/metrics.h"
#include "proxy/server.h"

#define ASSET(id)                                                                                                                  \
    extern const unsigned char dashboard_##id[];                                                                                   \
    extern const size_t dashboard_##id##_len;                                                                                      \
    extern const char dashboard_##id##_etag[];
ASSET(index_html)
ASSET(panel_html)
ASSET(app_css)
ASSET(app_js)
#undef ASSET

typedef struct asset {
    const char *path, *ctype;
    const unsigned char *data;
    const size_t *len;
    const char *etag;
    int needs_token;
    const char *cache_control; /* the pages: no-store; the CSS and JS (public, no data): revalidated by their ETag each time */
} asset_t;

#define HTML "text/html; charset=utf-8"
static const asset_t assets[] = {
    {"/", HTML, dashboard_index_html, &dashboard_index_html_len, dashboard_index_html_etag, 0, "no-store"},
    {"/dashboard/app.css", "text/css; charset=utf-8", dashboard_app_css, &dashboard_app_css_len, dashboard_app_css_etag, 0,
     "no-cache"},
    {"/dashboard/app.js", "text/javascript; charset=utf-8", dashboard_app_js, &dashboard_app_js_len, dashboard_app_js_etag, 0,
     "no-cache"},
    {"/dashboard/panel.html", HTML, dashboard_panel_html, &dashboard_panel_html_len, dashboard_panel_html_etag, 1, "no-store"},
};
#undef HTML

/* every dashboard answer: scripts and styles only from this origin's files (no inline script or style), fetches only to it, no
 * frame may hold the page, no form posts anywhere natively (the page's forms are sent by its script), no Referer leaves */
static void security_headers(h2o_req_t *req, const char *cache_control)
{
    static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL, csp, sizeof(csp) - 1);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-frame-options"), 0, NULL, H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL, H2O_STRLIT("no-referrer"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("cross-origin-resource-policy"), 0, NULL,
                          H2O_STRLIT("same-origin"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache_control, strlen(cache_control));
}

static void send_response(h2o_req_t *req, int status, const char *reason, const char *ctype, h2o_iovec_t body)
{
    static h2o_generator_t gen = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = body.len;
    if (ctype != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_start_response(req, &gen);
    h2o_send(req, &body, body.len != 0, H2O_SEND_STATE_FINAL);
}

static int is_get(h2o_req_t *req)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return 1;
    security_headers(req, "no-store");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
    send_response(req, 405, "Method Not Allowed", "application/json", h2o_iovec_init(H2O_STRLIT("{\"error\":\"use GET\"}\n")));
    return 0;
}

static void serve_asset(h2o_req_t *req, const asset_t *a)
{
    ssize_t i;
    if (!is_get(req))
        return;
    security_headers(req, a->cache_control);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, a->etag, strlen(a->etag));
    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1)) != -1 &&
        h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len, a->etag, strlen(a->etag))) {
        send_response(req, 304, "Not Modified", NULL, h2o_iovec_init(NULL, 0));
        return;
    }
    send_response(req, 200, "OK", a->ctype, h2o_iovec_init(a->data, *a->len));
}

static const asset_t *find_asset(h2o_req_t *req)
{
    for (size_t i = 0; i != sizeof(assets) / sizeof(assets[0]); ++i)
        if (h2o_memis(req->path_normalized.base, req->path_normalized.len, assets[i].path, strlen(assets[i].path)))
            return &assets[i];
    return NULL;
}

int dashboard_public(h2o_req_t *req)
{
    const asset_t *a = find_asset(req);
    if (a == NULL || a->needs_token)
        return 0;
    serve_asset(req, a);
    return 1;
}

/* ---- GET /dashboard/stats --------------------------------------------------------------------------------------------------- */

static void json_key(hook_buf_t *b, const char *key, const char *value)
{
    hook_buf_json_string(b, key, strlen(key));
    hook_buf_append(b, ":", 1);
    hook_buf_json_string(b, value != NULL ? value : "", value != NULL ? strlen(value) : 0);
}

static void add_origins(hook_buf_t *b, edge_gen_t *gen)
{
    hook_buf_append(b, ",\"origins\":[", 12);
    for (size_t i = 0; i != gen->conf->num_origins; ++i) {
        const conf_origin_t *c = &gen->conf->origins[i];
        _Atomic uint64_t *s = gen->origins[i]->stats;
        char target[300];
        if (c->type == CONF_ORIGIN_S3 && c->embedded)
            snprintf(target, sizeof(target), "embedded store, bucket %s", c->bucket != NULL ? c->bucket : "");
        else if (c->type == CONF_ORIGIN_S3)
            snprintf(target, sizeof(target), "%s://%s:%u bucket %s", c->https ? "https" : "http", c->host, c->port,
                     c->bucket != NULL ? c->bucket : "");
        else
            snprintf(target, sizeof(target), "%s://%s:%u%s", c->https ? "https" : "http", c->host, c->port,
                     c->path_prefix != NULL ? c->path_prefix : "");
        hook_buf_append(b, i != 0 ? ",{" : "{", i != 0 ? 2 : 1);
        json_key(b, "name", c->name);
        hook_buf_append(b, ",", 1);
        json_key(b, "type", c->type == CONF_ORIGIN_S3 ? "s3" : "http");
        hook_buf_append(b, ",", 1);
        json_key(b, "target", target);
        hook_buf_appendf(b,
                         ",\"requests\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"connections\":%" PRIu64 ",\"heads\":%" PRIu64
                         ",\"head_us\":%" PRIu64 "}",
                         atomic_load(&s[ORIGIN_STAT_REQUESTS]), atomic_load(&s[ORIGIN_STAT_FAILURES]),
                         atomic_load(&s[ORIGIN_STAT_CONNECTS]), atomic_load(&s[ORIGIN_STAT_HEADS]),
                         atomic_load(&s[ORIGIN_STAT_HEAD_US]));
    }
    hook_buf_append(b, "]", 1);
}

static void add_behaviors(hook_buf_t *b, edge_gen_t *gen)
{
    hook_buf_append(b, ",\"behaviors\":[", 14);
    for (size_t i = 0; i != gen->num_behaviors; ++i) {
        const edge_behavior_t *be = &gen->behaviors[i];
        const conf_behavior_t *c = be->conf;
        int first = 1;
        hook_buf_append(b, i != 0 ? ",{" : "{", i != 0 ? 2 : 1);
        json_key(b, "path", c->path);
        hook_buf_append(b, ",", 1);
        json_key(b, "origin", c->origin_name);
        hook_buf_appendf(b, ",\"cache\":%s,\"default_ttl_ms\":%" PRId64 ",\"hooks\":{", be->cache_enabled ? "true" : "false",
                         c->cache.default_ttl_ms);
        for (int ev = 0; ev != CONF_HOOK_NUM; ++ev) {
            const hook_binding_t *hb = be->hooks[ev];
            char what[700];
            if (c->hooks[ev] == NULL || hb == NULL)
                continue;
            if (hb->fn[1] != NULL)
                snprintf(what, sizeof(what), "%s: %s %.0f%% / %s %.0f%%", c->hooks[ev], hb->label[0], hb->weight0 * 100,
                         hb->label[1], (1 - hb->weight0) * 100);
            else
                snprintf(what, sizeof(what), "%s: %s", c->hooks[ev], hb->label[0]);
            if (!first)
                hook_buf_append(b, ",", 1);
            first = 0;
            json_key(b, conf_hook_event_names[ev], what);
        }
        hook_buf_append(b, "}}", 2);
    }
    hook_buf_append(b, "]", 1);
}

static void add_hook_versions(hook_buf_t *b, edge_gen_t *gen)
{
    hook_buf_append(b, ",\"hook_versions\":[", 18);
    for (size_t i = 0; gen->hooks != NULL && gen->hooks[i] != NULL; ++i) {
        hook_stats_t s;
        size_t j;
        /* two instances of one version (name and hash) are one version */
        for (j = 0; j != i; ++j)
            if (strcmp(hook_fn_name(gen->hooks[j]), hook_fn_name(gen->hooks[i])) == 0 &&
                strcmp(hook_fn_hash(gen->hooks[j]), hook_fn_hash(gen->hooks[i])) == 0)
                break;
        if (j != i)
            continue;
        hook_fn_stats(gen->hooks[i], &s);
        hook_buf_append(b, i != 0 ? ",{" : "{", i != 0 ? 2 : 1);
        json_key(b, "hook", hook_fn_name(gen->hooks[i]));
        hook_buf_appendf(b, ",\"hash\":\"%.12s\"", hook_fn_hash(gen->hooks[i]));
        hook_buf_appendf(
            b, ",\"invocations\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"duration_ns\":%" PRIu64 "}",
            s.invocations, s.errors, s.timeouts, s.duration_ns_sum);
    }
    hook_buf_append(b, "]", 1);
}

const hook_binding_t **dashboard_aliases(edge_gen_t *gen)
{
    const hook_binding_t **out = calloc(gen->num_behaviors * CONF_HOOK_NUM + 1, sizeof(*out));
    size_t n = 0;
    if (out == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != gen->num_behaviors; ++i) {
        for (int ev = 0; ev != CONF_HOOK_NUM; ++ev) {
            const hook_binding_t *hb = gen->behaviors[i].hooks[ev];
            size_t j;
            if (hb == NULL || hb->picks[0] == NULL || strchr(hb->label[0], '@') == NULL)
                continue;
            /* two trigger points or behaviors naming one alias share its counters */
            for (j = 0; j != n && out[j]->picks[0] != hb->picks[0]; ++j)
                ;
            if (j == n)
                out[n++] = hb;
        }
    }
    return out;
}

static void add_aliases(hook_buf_t *b, edge_gen_t *gen)
{
    static const char *const kinds[] = {[HOOK_KEY_IP] = "ip", [HOOK_KEY_COOKIE] = "cookie:", [HOOK_KEY_HEADER] = "header:"};
    const hook_binding_t **aliases = dashboard_aliases(gen);
    hook_buf_append(b, ",\"aliases\":[", 12);
    for (size_t i = 0; aliases[i] != NULL; ++i) {
        const hook_binding_t *hb = aliases[i];
        char key[80];
        hook_buf_append(b, i != 0 ? ",{\"hook\":" : "{\"hook\":", i != 0 ? 9 : 8);
        hook_buf_json_string(b, hb->label[0], (size_t)(strrchr(hb->label[0], '@') - hb->label[0]));
        hook_buf_append(b, ",", 1);
        json_key(b, "alias", hb->alias);
        snprintf(key, sizeof(key), "%s%s", kinds[hb->key_kind], hb->key_kind != HOOK_KEY_IP ? hb->key_name : "");
        hook_buf_append(b, ",", 1);
        json_key(b, "key", key);
        hook_buf_append(b, ",\"versions\":[", 13);
        for (int k = 0; k != 2 && hb->fn[k] != NULL; ++k)
            hook_buf_appendf(b, "%s{\"version\":%u,\"weight\":%.6g,\"picks\":%" PRIu64 "}", k != 0 ? "," : "", hb->version[k],
                             k == 0 ? hb->weight0 : 1 - hb->weight0,
                             hb->picks[k] != NULL ? atomic_load_explicit(hb->picks[k], memory_order_relaxed) : 0);
        hook_buf_append(b, "]}", 2);
    }
    hook_buf_append(b, "]", 1);
    free(aliases);
}

/* one line of a /metrics page (label values escaped by the caller) */
static void put_line(h2o_buffer_t **buf, const hook_buf_t *line)
{
    h2o_iovec_t room = h2o_buffer_reserve(buf, line->len + 1);
    memcpy(room.base, line->base, line->len);
    (*buf)->size += line->len;
}

/* a Prometheus label value: backslash, double quote and newline escaped */
static void label_value(hook_buf_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '\\' || s[i] == '"' || s[i] == '\n') {
            hook_buf_append(b, "\\", 1);
            hook_buf_append(b, s[i] == '\n' ? "n" : &s[i], 1);
        } else {
            hook_buf_append(b, &s[i], 1);
        }
    }
}

void dashboard_metrics(h2o_buffer_t **buf, edge_gen_t *gen)
{
    const hook_binding_t **aliases;
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_appendf(&b,
                     "# HELP edgehook_origin_first_byte_seconds time from an origin request's start (pool wait, connect and TLS "
                     "included) to its response head, by origin\n# TYPE edgehook_origin_first_byte_seconds summary\n");
    for (size_t i = 0; i != gen->conf->num_origins; ++i) {
        _Atomic uint64_t *s = gen->origins[i]->stats;
        const char *name = gen->origins[i]->name;
        hook_buf_appendf(&b, "edgehook_origin_first_byte_seconds_sum{origin=\"");
        label_value(&b, name, strlen(name));
        hook_buf_appendf(&b, "\"} %.6f\nedgehook_origin_first_byte_seconds_count{origin=\"",
                         atomic_load(&s[ORIGIN_STAT_HEAD_US]) / 1e6);
        label_value(&b, name, strlen(name));
        hook_buf_appendf(&b, "\"} %" PRIu64 "\n", atomic_load(&s[ORIGIN_STAT_HEADS]));
    }
    hook_buf_appendf(&b,
                     "# HELP edgehook_hook_alias_requests_total requests that ran each version of an alias the behaviors use (a "
                     "canary's split), by hook, alias and version\n# TYPE edgehook_hook_alias_requests_total counter\n");
    aliases = dashboard_aliases(gen);
    for (size_t i = 0; aliases[i] != NULL; ++i) {
        const hook_binding_t *hb = aliases[i];
        for (int k = 0; k != 2 && hb->fn[k] != NULL; ++k) {
            hook_buf_appendf(&b, "edgehook_hook_alias_requests_total{hook=\"");
            label_value(&b, hb->label[0], (size_t)(strrchr(hb->label[0], '@') - hb->label[0]));
            hook_buf_appendf(&b, "\",alias=\"");
            label_value(&b, hb->alias, strlen(hb->alias));
            hook_buf_appendf(&b, "\",version=\"%u\"} %" PRIu64 "\n", hb->version[k],
                             atomic_load_explicit(hb->picks[k], memory_order_relaxed));
        }
    }
    free(aliases);
    put_line(buf, &b);
    hook_buf_free(&b);
}

char *dashboard_stats_json(edge_gen_t *gen)
{
    static const char *const classes[6] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    static const struct {
        const char *name;
        int metric;
    } counters[] = {{"hits", METRIC_CACHE_HIT},
                    {"misses", METRIC_CACHE_MISS},
                    {"refresh_hits", METRIC_CACHE_REFRESH_HIT},
                    {"stale", METRIC_CACHE_STALE},
                    {"revalidations", METRIC_CACHE_REVALIDATION},
                    {"collapsed", METRIC_CACHE_COLLAPSED},
                    {"passes", METRIC_CACHE_PASS},
                    {"generated", METRIC_CACHE_GENERATED},
                    {"origin_requests", METRIC_ORIGIN_REQUESTS},
                    {"origin_errors", METRIC_ORIGIN_ERRORS}};
    hook_buf_t b = {NULL, 0, 0};
    uint64_t by_class[6], total = 0;

    metrics_requests_by_class(by_class);
    for (int c = 0; c != 6; ++c)
        total += by_class[c];
    hook_buf_appendf(&b, "{\"time_ms\":%" PRId64 ",\"generation\":%" PRIu64 ",\"version\":\"%s\",", edge_realtime_ms(), gen->id,
                     EDGE_VERSION);
    json_key(&b, "health", server_health());
    hook_buf_appendf(&b, ",\"requests\":%" PRIu64 ",\"requests_by_class\":{", total);
    for (int c = 0; c != 6; ++c)
        hook_buf_appendf(&b, "%s\"%s\":%" PRIu64, c != 0 ? "," : "", classes[c], by_class[c]);
    hook_buf_appendf(&b, "},\"bytes_sent\":%" PRIu64 ",\"counters\":{", metrics_sum(METRIC_BYTES_SENT));
    for (size_t i = 0; i != sizeof(counters) / sizeof(counters[0]); ++i)
        hook_buf_appendf(&b, "%s\"%s\":%" PRIu64, i != 0 ? "," : "", counters[i].name, metrics_sum(counters[i].metric));
    hook_buf_append(&b, "}", 1);
    if (handler_cache != NULL) {
        cache_mem_stats_t st;
        cache_mem_stats(handler_cache, &st);
        hook_buf_appendf(
            &b, ",\"cache\":{\"bytes\":%" PRIu64 ",\"capacity\":%" PRIu64 ",\"objects\":%" PRIu64 ",\"evictions\":%" PRIu64 "}",
            st.bytes, st.capacity, st.objects, st.evictions);
    }
    add_origins(&b, gen);
    add_behaviors(&b, gen);
    add_hook_versions(&b, gen);
    add_aliases(&b, gen);
    hook_buf_append(&b, "}\n", 3); /* with its NUL */
    return b.base;
}

int dashboard_private(h2o_req_t *req, edge_gen_t *gen)
{
    const asset_t *a;
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/dashboard/stats"))) {
        char *json;
        if (!is_get(req))
            return 1;
        json = dashboard_stats_json(gen);
        security_headers(req, "no-store");
        send_response(req, 200, "OK", "application/json", h2o_strdup(&req->pool, json, strlen(json)));
        free(json);
        return 1;
    }
    if ((a = find_asset(req)) == NULL || !a->needs_token)
        return 0;
    serve_asset(req, a);
    return 1;
}
