/* conf/dump.c - the effective configuration as YAML, every default filled in (`edgehook -T`; see conf_dump in conf/config.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "conf/config.h"

/* writes the character at *p inside a double-quoted YAML scalar and advances *p past it: what YAML would not read back as it is
 * (controls, C1 controls, DEL, NEL and the line and paragraph separators, which a double-quoted scalar folds, BOM and
 * non-characters) is written as an escape; `${` as `$${`, which the loader turns back into `${` */
static void put_char(FILE *fp, const unsigned char **pp)
{
    const unsigned char *p = *pp;
    unsigned cp = *p;
    size_t n = 1;
    if (*p >= 0xc0 && *p < 0xe0 && (p[1] & 0xc0) == 0x80) {
        cp = (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
        n = 2;
    } else if (*p >= 0xe0 && *p < 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
        cp = (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
        n = 3;
    }
    *pp = p + n - 1;
    if (cp == '"' || cp == '\\')
        fprintf(fp, "\\%c", (int)cp);
    else if (cp == '\n')
        fputs("\\n", fp);
    else if (cp == '\t')
        fputs("\\t", fp);
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
        fprintf(fp, "\\x%02x", cp);
    else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff)
        fprintf(fp, "\\u%04x", cp);
    else if (cp == '$' && p[1] == '{')
        fputs("$$", fp);
    else
        fwrite(p, 1, n, fp);
}

/* a double-quoted YAML string: what conf_load reads back byte for byte */
static void q(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; ++p)
        put_char(fp, &p);
    fputc('"', fp);
}

/* the largest binary unit that divides the size: 256MB, 64KB, 1536 */
static void size(FILE *fp, uint64_t v)
{
    static const char *const units[] = {"TB", "GB", "MB", "KB"};
    for (int i = 0; i != 4; ++i) {
        uint64_t u = (uint64_t)1 << (10 * (4 - i));
        if (v != 0 && v % u == 0) {
            fprintf(fp, "%" PRIu64 "%s", v / u, units[i]);
            return;
        }
    }
    fprintf(fp, "%" PRIu64, v);
}

/* a compound duration from days down: 1d, 1m30s, 1s500ms, 0s */
static void duration(FILE *fp, uint64_t ms)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
    if (ms == 0) {
        fputs("0s", fp);
        return;
    }
    for (size_t i = 0; i != sizeof(units) / sizeof(units[0]); ++i)
        if (ms >= units[i].ms) {
            fprintf(fp, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
            ms %= units[i].ms;
        }
}

static void names(FILE *fp, const conf_namelist_t *l)
{
    fputc('[', fp);
    for (size_t i = 0; i != l->count; ++i) {
        if (i != 0)
            fputs(", ", fp);
        q(fp, l->names[i]);
    }
    fputc(']', fp);
}

/* none | all | [names] | {except: [names]} */
static void key_part(FILE *fp, conf_key_mode_t mode, const conf_namelist_t *l)
{
    switch (mode) {
    case CONF_KEY_NONE:
        fputs("none", fp);
        break;
    case CONF_KEY_ALL:
        fputs("all", fp);
        break;
    case CONF_KEY_LIST:
        names(fp, l);
        break;
    case CONF_KEY_EXCEPT:
        fputs("{except: ", fp);
        names(fp, l);
        fputc('}', fp);
        break;
    }
}

/* the JSON of a hook's config as a YAML flow collection: JSON is YAML once `:` and `,` are followed by a space (and its strings'
 * characters are written as q() writes them; JSON's own escapes, \" \\ \uXXXX, are YAML's too) */
static void json_as_yaml(FILE *fp, const char *json)
{
    int in_string = 0;
    for (const unsigned char *p = (const unsigned char *)json; *p != '\0'; ++p) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0') {
                fputc(*p++, fp);
                fputc(*p, fp);
            } else if (*p == '"') {
                fputc(*p, fp);
                in_string = 0;
            } else {
                put_char(fp, &p);
            }
            continue;
        }
        fputc(*p, fp);
        if (*p == '"')
            in_string = 1;
        else if (*p == ':' || *p == ',')
            fputc(' ', fp);
    }
}

static void listen_map(FILE *fp, const conf_listen_t *l)
{
    fputs("{host: ", fp);
    q(fp, l->host);
    fprintf(fp, ", port: %u", l->port);
    if (l->tls_certificate != NULL) {
        fputs(", tls: {certificate: ", fp);
        q(fp, l->tls_certificate);
        fputs(", key: ", fp);
        q(fp, l->tls_key);
        fputc('}', fp);
    }
    fputc('}', fp);
}

/* a secret: its *_env key when it came from a variable, CONF_REDACTED when it was written in the file */
static void secret(FILE *fp, const char *indent, const char *name, const char *value, const char *env)
{
    if (env != NULL) {
        fprintf(fp, "%s%s_env: ", indent, name);
        q(fp, env);
        fputc('\n', fp);
    } else if (value != NULL) {
        fprintf(fp, "%s%s: \"%s\"   # given in the file; -T does not print it\n", indent, name, CONF_REDACTED);
    }
}

/* the lines of a credentials map at indent (first_indent for the first line: a list item's `- `) */
static void credential_lines(FILE *fp, const char *first_indent, const char *indent, const conf_credentials_t *cr)
{
    const char *in = first_indent;
    if (cr->access_key_env != NULL) {
        secret(fp, in, "access_key", cr->access_key, cr->access_key_env);
        in = indent;
    } else if (cr->access_key != NULL) { /* an access key id names the key, it is not the secret */
        fprintf(fp, "%saccess_key: ", in);
        q(fp, cr->access_key);
        fputc('\n', fp);
        in = indent;
    }
    if (cr->secret_key_file != NULL) {
        fprintf(fp, "%ssecret_key_file: ", in);
        q(fp, cr->secret_key_file);
        fputc('\n', fp);
    } else {
        secret(fp, in, "secret_key", cr->secret_key, cr->secret_key_env);
    }
    secret(fp, indent, "session_token", cr->session_token, cr->session_token_env);
    if (cr->profile != NULL) {
        fprintf(fp, "%sprofile: ", indent);
        q(fp, cr->profile);
        fputc('\n', fp);
    }
    if (cr->shared_credentials_file != NULL) {
        fprintf(fp, "%sshared_credentials_file: ", indent);
        q(fp, cr->shared_credentials_file);
        fputc('\n', fp);
    }
}

static void credentials(FILE *fp, const char *indent, const conf_credentials_t *cr, const char *none)
{
    char in2[32];
    if (cr->access_key == NULL && cr->session_token == NULL && cr->profile == NULL && cr->shared_credentials_file == NULL) {
        fprintf(fp, "%s# credentials: %s\n", indent, none);
        return;
    }
    snprintf(in2, sizeof(in2), "%s  ", indent);
    fprintf(fp, "%scredentials:\n", indent);
    credential_lines(fp, in2, in2, cr);
}

/* store.credentials: one map, or the list it was given as */
static void store_keys(FILE *fp, const conf_store_t *s)
{
    if (s->num_keys == 0) {
        fputs("  # credentials: generated on first start, kept in ROOT/.credentials\n", fp);
        return;
    }
    fputs("  credentials:\n", fp);
    for (size_t i = 0; i != s->num_keys; ++i) {
        const conf_store_key_t *k = &s->keys[i];
        const char *in = s->keys_list ? "      " : "    ";
        credential_lines(fp, s->keys_list ? "    - " : in, in, &k->cred);
        if (k->num_buckets != 0) {
            fprintf(fp, "%sbuckets: [", in);
            for (size_t j = 0; j != k->num_buckets; ++j) {
                if (j != 0)
                    fputs(", ", fp);
                q(fp, k->buckets[j]);
            }
            fputs("]\n", fp);
        } else {
            fprintf(fp, "%s# buckets: every bucket\n", in);
        }
        fprintf(fp, "%sread_only: %s\n", in, k->read_only ? "true" : "false");
    }
}

static void origin(FILE *fp, const conf_origin_t *o)
{
    static const char *const addressings[] = {"auto", "path", "virtual"};
    int v6 = o->host != NULL && strchr(o->host, ':') != NULL;
    fputs("  ", fp);
    q(fp, o->name);
    fprintf(fp, ":\n    type: %s\n", o->type == CONF_ORIGIN_S3 ? "s3" : "http");
    if (o->embedded) {
        fputs("    endpoint: embedded\n", fp);
    } else {
        fprintf(fp, "    %s: \"%s://%s%s%s:%u%s\"\n", o->type == CONF_ORIGIN_S3 ? "endpoint" : "url", o->https ? "https" : "http",
                v6 ? "[" : "", o->host, v6 ? "]" : "", o->port, o->path_prefix != NULL ? o->path_prefix : "");
    }
    if (o->type == CONF_ORIGIN_S3) {
        fputs("    bucket: ", fp);
        q(fp, o->bucket);
        fputs("\n    region: ", fp);
        q(fp, o->region);
        fprintf(fp, "\n    addressing: %s\n", addressings[o->addressing]);
        credentials(fp, "    ", &o->credentials,
                    o->embedded ? "the store's own" : "none: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN at start");
        fprintf(fp, "    pass_amz_headers: %s\n", o->pass_amz_headers ? "true" : "false");
    }
    fputs("    connect_timeout: ", fp);
    duration(fp, o->connect_timeout_ms);
    fputs("\n    first_byte_timeout: ", fp);
    duration(fp, o->first_byte_timeout_ms);
    fputs("\n    read_timeout: ", fp);
    duration(fp, o->read_timeout_ms);
    fputs("\n    keepalive_timeout: ", fp);
    duration(fp, o->keepalive_timeout_ms);
    fprintf(fp, "\n    max_connections: %u\n    retries: %u\n", o->max_connections, o->retries);
    if (o->host_header != NULL) {
        fputs("    host_header: ", fp);
        q(fp, o->host_header);
        fputc('\n', fp);
    } else {
        fputs("    # host_header: not set (the host[:port] of the URL)\n", fp);
    }
    if (o->sni != NULL) {
        fputs("    sni: ", fp);
        q(fp, o->sni);
        fputc('\n', fp);
    } else {
        fputs("    # sni: not set (the host of the URL)\n", fp);
    }
    if (o->ca_file != NULL) {
        fputs("    ca_file: ", fp);
        q(fp, o->ca_file);
        fputc('\n', fp);
    } else {
        fputs("    # ca_file: not set (the system CA store)\n", fp);
    }
    fprintf(fp, "    tls_verify: %s\n", o->tls_verify ? "true" : "false");
    if (o->num_parents != 0) {
        fputs("    parents:\n", fp);
        for (size_t i = 0; i != o->num_parents; ++i) {
            const conf_parent_t *p = &o->parents[i];
            int pv6 = strchr(p->host, ':') != NULL;
            fprintf(fp, "      - url: \"%s://%s%s%s:%u\"\n        name: ", p->https ? "https" : "http", pv6 ? "[" : "", p->host,
                    pv6 ? "]" : "", p->port);
            q(fp, p->name);
            fprintf(fp, "\n        weight: %u", p->weight);
            if (p->health_host != NULL) {
                int hv6 = strchr(p->health_host, ':') != NULL;
                fprintf(fp, "\n        health_url: \"http://%s%s%s:%u%s\"\n", hv6 ? "[" : "", p->health_host, hv6 ? "]" : "",
                        p->health_port, p->health_path);
            } else {
                fputs("\n        # health_url: not set (the probe is a TCP connect to the url's host and port)\n", fp);
            }
        }
        fprintf(fp, "    parents_fallback: %s\n    parent_health_interval: ", o->parents_fallback_origin ? "origin" : "error");
        duration(fp, o->parent_health_interval_ms);
        fputs("\n    parent_health_timeout: ", fp);
        duration(fp, o->parent_health_timeout_ms);
        fprintf(fp, "\n    parent_health_fails: %u\n    parent_health_passes: %u\n", o->parent_health_fails,
                o->parent_health_passes);
    }
}

/* `error_pages:` (at the top level, or a behavior's resolved list: its own pages and the top level's for the other codes) */
static void error_pages(FILE *fp, const char *indent, const conf_error_pages_t *pages)
{
    if (pages->count == 0)
        return;
    fprintf(fp, "%serror_pages:\n", indent);
    for (size_t i = 0; i != pages->count; ++i) {
        const conf_error_page_t *e = &pages->items[i];
        fprintf(fp, "%s  %d: {path: ", indent, e->code);
        q(fp, e->path);
        if (e->ttl_ms >= 0) {
            fputs(", ttl: ", fp);
            duration(fp, (uint64_t)e->ttl_ms);
        }
        fprintf(fp, ", status: %d}\n", e->status);
    }
}

/* a TTL of a cache policy: -1 is unset (a comment says what that means) */
static void ttl(FILE *fp, const char *name, int64_t ms, const char *unset)
{
    if (ms >= 0) {
        fprintf(fp, "      %s: ", name);
        duration(fp, (uint64_t)ms);
        fputc('\n', fp);
    } else {
        fprintf(fp, "      # %s: not set (%s)\n", name, unset);
    }
}

static void behavior(FILE *fp, const conf_behavior_t *b)
{
    const conf_cache_policy_t *p = &b->cache;
    const conf_origin_request_t *o = &b->origin_request;
    fputs("  - path: ", fp);
    q(fp, b->path);
    fputs("\n    origin: ", fp);
    q(fp, b->origin_name);
    fprintf(fp, "\n    cache:\n      enabled: %s\n", p->enabled ? "true" : "false");
    ttl(fp, "min_ttl", p->min_ttl_ms, "no lower bound");
    ttl(fp, "default_ttl", p->default_ttl_ms, "the heuristic when the origin gives no freshness");
    ttl(fp, "max_ttl", p->max_ttl_ms, "no upper bound");
    ttl(fp, "stale_while_revalidate", p->stale_while_revalidate_ms, "cache.stale_while_revalidate");
    ttl(fp, "stale_if_error", p->stale_if_error_ms, "cache.stale_if_error");
    fputs("      error_ttl: ", fp);
    duration(fp, p->error_ttl_ms >= 0 ? (uint64_t)p->error_ttl_ms : 10000);
    fprintf(fp, "\n      ignore_set_cookie: %s\n      key:\n        query: ", p->ignore_set_cookie ? "true" : "false");
    key_part(fp, p->query_mode, &p->query);
    fputs("\n        headers: ", fp);
    key_part(fp, p->headers.count != 0 ? CONF_KEY_LIST : CONF_KEY_NONE, &p->headers);
    fputs("\n        cookies: ", fp);
    key_part(fp, p->cookie_mode, &p->cookies);
    fputs("\n    origin_request:\n      headers: ", fp);
    if (o->headers_set) {
        key_part(fp, o->headers.count != 0 ? CONF_KEY_LIST : CONF_KEY_NONE, &o->headers);
    } else {
        fputs("[\"accept\", \"accept-encoding\", \"accept-language\", \"authorization\"]", fp);
    }
    fputs("\n      cookies: ", fp);
    key_part(fp, o->cookie_mode, &o->cookies);
    fputc('\n', fp);
    int any = 0;
    for (int i = 0; i != CONF_HOOK_NUM; ++i)
        if (b->hooks[i] != NULL) {
            fprintf(fp, "%s%s: ", any++ ? ", " : "    hooks: {", conf_hook_event_names[i]);
            q(fp, b->hooks[i]);
        }
    if (any)
        fputs("}\n", fp);
    error_pages(fp, "    ", &b->error_pages);
}

static void hook(FILE *fp, const conf_hook_t *h)
{
    fputs("  ", fp);
    q(fp, h->name);
    fprintf(fp, ":\n    %s: ", h->lua != NULL ? "lua" : "native");
    q(fp, h->lua != NULL ? h->lua : h->native);
    fputs("\n    config: ", fp);
    json_as_yaml(fp, h->config_json != NULL ? h->config_json : "{}");
    fprintf(fp, "\n    include_body: %s\n", h->include_body ? "true" : "false");
    fputs("    origin_body: ", fp);
    size(fp, h->origin_body);
    fputc('\n', fp);
    if (h->timeout_ms >= 0) {
        fputs("    timeout: ", fp);
        duration(fp, (uint64_t)h->timeout_ms);
        fputc('\n', fp);
    } else {
        fputs("    # timeout: not set (5s at viewer events, 30s at origin events)\n", fp);
    }
    fputs("    memory: ", fp);
    size(fp, h->memory_limit);
    fputs("\n    fetch_allow: ", fp);
    names(fp, &h->fetch_allow);
    fputs("\n    kv: ", fp);
    names(fp, &h->kv);
    fprintf(fp, "\n    async:\n      retries: %u\n      max_age: ", h->async.retries);
    duration(fp, h->async.max_age_ms);
    fputs("\n      backoff: ", fp);
    duration(fp, h->async.backoff_ms);
    fprintf(fp, "\n      concurrency: %u\n", h->async.concurrency);
    if (h->async.on_failure != NULL) {
        fputs("      on_failure: ", fp);
        q(fp, h->async.on_failure);
        fputc('\n', fp);
    }
    if (h->async.on_success != NULL) {
        fputs("      on_success: ", fp);
        q(fp, h->async.on_success);
        fputc('\n', fp);
    }
}

static void store(FILE *fp, const conf_store_t *s)
{
    fputs("store:\n  listen: ", fp);
    listen_map(fp, &s->listen);
    fputs("\n  root: ", fp);
    q(fp, s->root);
    fputs("\n  domain: ", fp);
    q(fp, s->domain);
    fputs("\n  region: ", fp);
    q(fp, s->region);
    fputc('\n', fp);
    store_keys(fp, s);
    fputs("  max_put_size: ", fp);
    size(fp, s->max_put_size);
    fprintf(fp, "\n  threads: %u\n  io_threads: %u\n", s->threads, s->io_threads);
    if (s->num_seeds != 0) {
        fputs("  seed:\n", fp);
        for (size_t i = 0; i != s->num_seeds; ++i) {
            fputs("    - {bucket: ", fp);
            q(fp, s->seeds[i].bucket);
            fputs(", dir: ", fp);
            q(fp, s->seeds[i].dir);
            if (s->seeds[i].cors != NULL) {
                fputs(", cors: ", fp);
                q(fp, s->seeds[i].cors);
            }
            fputs("}\n", fp);
        }
    }
    fprintf(fp, "  notify_max_generations: %u\n", s->notify_max_generations);
    if (s->num_notifications != 0) {
        fputs("  notifications:\n", fp);
        for (size_t i = 0; i != s->num_notifications; ++i) {
            const conf_store_notification_t *r = &s->notifications[i];
            fputs("    - bucket: ", fp);
            q(fp, r->bucket);
            if (r->id != NULL) {
                fputs("\n      id: ", fp);
                q(fp, r->id);
            }
            fputs("\n      function: ", fp);
            q(fp, r->function);
            fputs("\n      events: [", fp);
            for (size_t j = 0; j != r->num_events; ++j) {
                if (j != 0)
                    fputs(", ", fp);
                q(fp, r->events[j]);
            }
            fputs("]", fp);
            if (r->prefix != NULL) {
                fputs("\n      prefix: ", fp);
                q(fp, r->prefix);
            }
            if (r->suffix != NULL) {
                fputs("\n      suffix: ", fp);
                q(fp, r->suffix);
            }
            fprintf(fp, "\n      exclude_hook_writes: %s\n", r->exclude_hook_writes ? "true" : "false");
        }
    }
}

void conf_dump(const conf_t *conf, FILE *fp)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    size_t i;
    fputs("# the effective configuration of ", fp);
    for (const char *p = conf->file; *p != '\0'; ++p)
        fputc((unsigned char)*p < 0x20 ? '?' : *p, fp);
    fputs(" (edgehook -T): every default filled in\n", fp);
    if (conf->threads_auto)
        fprintf(fp, "threads: auto   # %u on this machine\n", conf->threads);
    else
        fprintf(fp, "threads: %u\n", conf->threads);
    fputs("listen:\n", fp);
    for (i = 0; i != conf->num_listen; ++i) {
        fputs("  - ", fp);
        listen_map(fp, &conf->listen[i]);
        fputc('\n', fp);
    }
    if (conf->access_log.path == NULL) {
        fputs("access_log: off\n", fp);
    } else {
        fputs("access_log: {path: ", fp);
        q(fp, conf->access_log.path);
        fprintf(fp, ", format: %s}\n", conf->access_log.json ? "json" : "combined");
    }
    fputs("error_log: {path: ", fp);
    q(fp, conf->error_log.path);
    fprintf(fp, ", level: %s, format: %s}\n",
            levels[conf->error_log.level >= 0 && conf->error_log.level < 4 ? conf->error_log.level : 2],
            conf->error_log.json ? "json" : "text");
    fputs("limits:\n  max_request_body: ", fp);
    size(fp, conf->limits.max_request_body);
    fputs("\n  shutdown_grace: ", fp);
    duration(fp, conf->limits.shutdown_grace_ms);
    fputs("\n  client_timeout: ", fp);
    duration(fp, conf->limits.client_timeout_ms);
    fprintf(fp, "\n  max_streams_per_connection: %u\n  max_request_headers: %u\n  max_request_header_size: ",
            conf->limits.max_streams_per_connection, conf->limits.max_request_headers);
    size(fp, conf->limits.max_request_header_size);
    fputs("\n  max_response_header_size: ", fp);
    size(fp, conf->limits.max_response_header_size);
    fputs("\n  send_timeout: ", fp);
    duration(fp, conf->limits.send_timeout_ms);
    fputs("\n  max_unsent_per_connection: ", fp);
    size(fp, conf->limits.max_unsent_per_connection);
    fprintf(fp, "\n  allow_path_params: %s\n", conf->limits.allow_path_params ? "true" : "false");
    fputs("origins:\n", fp);
    for (i = 0; i != conf->num_origins; ++i)
        origin(fp, &conf->origins[i]);
    fputs("cache:\n  memory: ", fp);
    size(fp, conf->cache.memory);
    fputs("\n  max_object_size: ", fp);
    size(fp, conf->cache.max_object_size);
    fputs("\n  stale_while_revalidate: ", fp);
    duration(fp, (uint64_t)conf->cache.stale_while_revalidate_ms);
    if (conf->cache.stale_if_error_ms < 0) {
        /* not given: a comment, so that the dump loads to the same configuration (a given 1d would count as configured) */
        fputs("\n  # stale_if_error: ", fp);
        duration(fp, (uint64_t)CONF_DEFAULT_STALE_IF_ERROR_MS);
        fputs(" (the default: stored copies are served when the origin fails; 0s turns it off)", fp);
    } else {
        fputs("\n  stale_if_error: ", fp);
        duration(fp, (uint64_t)conf->cache.stale_if_error_ms);
    }
    fputc('\n', fp);
    fprintf(fp, "  ranges: %s\n", conf->cache.ranges_forward ? "forward" : "whole");
    if (conf->cache.disk_path != NULL) {
        fputs("  disk:\n    path: ", fp);
        q(fp, conf->cache.disk_path);
        fputs("\n    size: ", fp);
        size(fp, conf->cache.disk_size);
        fputc('\n', fp);
    }
    if (conf->num_kv != 0) {
        fputs("kv:\n", fp);
        for (i = 0; i != conf->num_kv; ++i) {
            const conf_kv_store_t *s = &conf->kv[i];
            fputs("  ", fp);
            q(fp, s->name);
            fputs(": {path: ", fp);
            q(fp, s->path);
            fprintf(fp, ", max_keys: %" PRIu64 ", max_bytes: ", s->max_keys);
            size(fp, s->max_bytes);
            fputs(", max_value: ", fp);
            size(fp, s->max_value);
            fputs("}\n", fp);
        }
    }
    if (conf->num_hooks != 0) {
        fputs("hooks:\n", fp);
        for (i = 0; i != conf->num_hooks; ++i)
            hook(fp, &conf->hooks[i]);
    }
    if (conf->geoip.database != NULL) {
        fputs("geoip: {database: ", fp);
        q(fp, conf->geoip.database);
        if (conf->geoip.asn_database != NULL) {
            fputs(", asn_database: ", fp);
            q(fp, conf->geoip.asn_database);
        }
        fputs("}\n", fp);
    }
    error_pages(fp, "", &conf->error_pages);
    fputs("behaviors:\n", fp);
    for (i = 0; i != conf->num_behaviors; ++i)
        behavior(fp, &conf->behaviors[i]);
    if (conf->store.enabled)
        store(fp, &conf->store);
    else
        fputs("# store: off (no embedded S3 store)\n", fp);
    if (conf->admin.enabled) {
        fputs("admin:\n  listen: ", fp);
        listen_map(fp, &conf->admin.listen);
        fputc('\n', fp);
        secret(fp, "  ", "token", conf->admin.token, conf->admin.token_env);
        if (conf->admin.plugin_dirs.count != 0) {
            fputs("  plugin_dirs: ", fp);
            names(fp, &conf->admin.plugin_dirs);
            fputc('\n', fp);
        }
    } else {
        fputs("# admin: off (no admin API)\n", fp);
    }
    fprintf(fp, "async_queue:\n  max_events: %" PRIu64 "\n  max_bytes: ", conf->async_queue.max_events);
    size(fp, conf->async_queue.max_bytes);
    fprintf(fp, "\n  threads: %u\n  visibility: ", conf->async_queue.threads);
    duration(fp, conf->async_queue.visibility_ms);
    fputc('\n', fp);
    if (conf->node_name != NULL) {
        fputs("node_name: ", fp);
        q(fp, conf->node_name);
        fputc('\n', fp);
    } else {
        fputs("# node_name: not set (Via names this node HOST:PORT of the first listener; no X-Served-By)\n", fp);
    }
    if (conf->state_dir != NULL) {
        fputs("state_dir: ", fp);
        q(fp, conf->state_dir);
        fputc('\n', fp);
    }
    if (conf->fleet.line != 0) {
        fputs("fleet:\n  etcd: ", fp);
        names(fp, &conf->fleet.etcd);
        fputs("\n  prefix: ", fp);
        q(fp, conf->fleet.prefix);
        fputs("\n  node: ", fp);
        q(fp, conf->fleet.node);
        fputs("\n  ack_timeout: ", fp);
        duration(fp, conf->fleet.ack_timeout_ms);
        fputs("\n  lease_ttl: ", fp);
        duration(fp, conf->fleet.lease_ttl_ms);
        fputs("\n  timeout: ", fp);
        duration(fp, conf->fleet.timeout_ms);
        fputc('\n', fp);
    } else {
        fputs("# fleet: not set (hook aliases, kv writes and purges stay on this node)\n", fp);
    }
    if (conf->distribution.id != NULL || conf->distribution.domain_name != NULL) {
        fputs("distribution:\n", fp);
        if (conf->distribution.id != NULL) {
            fputs("  id: ", fp);
            q(fp, conf->distribution.id);
            fputc('\n', fp);
        } else {
            fputs("  # id: not set (edgehook)\n", fp);
        }
        if (conf->distribution.domain_name != NULL) {
            fputs("  domain_name: ", fp);
            q(fp, conf->distribution.domain_name);
            fputc('\n', fp);
        } else {
            fputs("  # domain_name: not set (the request's Host)\n", fp);
        }
    } else {
        fputs("# distribution: not set (id edgehook, domain name the request's Host)\n", fp);
    }
}
