/* conf/config.c - loads edgehook's YAML config with libyaml into the typed structs of conf/config.h and validates it. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "conf/cfheaders.h"
#include "conf/config.h"
#include "conf/diff.h"
#include "conf/pattern.h"

const char *const conf_hook_event_names[CONF_HOOK_NUM] = {"viewer-request", "origin-request", "origin-response", "viewer-response"};

typedef struct ctx {
    const char *file;
    yaml_document_t doc;
    int *owner_line; /* per node id - 1: the line of the key whose value the node is (0: none) */
    char *err;
    size_t errlen;
    int failed;
} ctx_t;

/* the line an error about node n points at: a block map or list starts on the line after its key, and users look for the key */
static unsigned long node_line(ctx_t *c, yaml_node_t *n)
{
    if (n == NULL)
        return 1;
    if (n->type != YAML_SCALAR_NODE && c->owner_line != NULL && c->owner_line[n - c->doc.nodes.start] != 0)
        return (unsigned long)c->owner_line[n - c->doc.nodes.start];
    return (unsigned long)n->start_mark.line + 1;
}

static int vfail_line(ctx_t *c, unsigned long line, const char *key, const char *fmt, va_list ap)
{
    if (!c->failed) {
        char reason[512], msg[CONF_ERRBUF_SIZE];
        size_t o = 0;
        vsnprintf(reason, sizeof(reason), fmt, ap);
        snprintf(msg, sizeof(msg), "%s:%lu: %s: %s", c->file, line, key, reason);
        /* the message quotes the file's values: keep it one line whatever they hold ("a\nb" is shown as a\nb) */
        for (const char *p = msg; *p != '\0' && o + 5 < c->errlen; ++p) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '\n' || ch == '\t' || ch == '\r') {
                c->err[o++] = '\\';
                c->err[o++] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
            } else if (ch < 0x20 || ch == 0x7f) {
                o += snprintf(c->err + o, c->errlen - o, "\\x%02x", ch);
            } else
                c->err[o++] = (char)ch;
        }
        if (c->errlen != 0)
            c->err[o < c->errlen ? o : c->errlen - 1] = '\0';
        c->failed = 1;
    }
    return -1;
}

/* the first error wins: later ones are usually consequences of it */
__attribute__((format(printf, 4, 5))) static int fail(ctx_t *c, yaml_node_t *node, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_line(c, node_line(c, node), key, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 4, 5))) static int fail_line(ctx_t *c, unsigned long line, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_line(c, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

static char *xstrdup(const char *s)
{
    char *r = strdup(s != NULL ? s : "");
    if (r == NULL)
        abort();
    return r;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n == 0 ? 1 : n, sz);
    if (p == NULL)
        abort();
    return p;
}

static char *join_key(const char *parent, const char *child)
{
    size_t n = strlen(parent) + strlen(child) + 2;
    char *r = malloc(n);
    if (r == NULL)
        abort();
    if (parent[0] == '\0')
        snprintf(r, n, "%s", child);
    else
        snprintf(r, n, "%s.%s", parent, child);
    return r;
}

/* fail() about the key `name` of a map whose own key is parent: the message names parent.name */
__attribute__((format(printf, 5, 6))) static int fail_key(ctx_t *c, yaml_node_t *node, const char *parent, const char *name,
                                                          const char *fmt, ...)
{
    char *key = join_key(parent, name);
    va_list ap;
    va_start(ap, fmt);
    vfail_line(c, node_line(c, node), key, fmt, ap);
    va_end(ap);
    free(key);
    return -1;
}

size_t conf_edit_distance(const char *a, const char *b)
{
    /* optimal string alignment: insertions, deletions, substitutions and swaps of two neighbours ("prot" -> "port") cost 1 */
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t rows[3][64 + 1], *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (j = 0; j <= lb; ++j)
        prev[j] = j;
    for (i = 1; i <= la; ++i) {
        size_t *t;
        cur[0] = i;
        for (j = 1; j <= lb; ++j) {
            int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ai != bj);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == bj &&
                prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* the candidate closest to name, if it is close enough to be what the user meant; NULL otherwise */
static const char *closest(const char *name, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX, len;
    for (size_t i = 0; i != n; ++i) {
        size_t d = conf_edit_distance(name, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    if (best == NULL)
        return NULL;
    len = strlen(best);
    return bestd <= (len <= 3 ? 1 : len <= 6 ? 2 : 3) ? best : NULL;
}

static const char *node_kind(yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a map";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default: {
        const char *s = (const char *)n->data.scalar.value;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
            return "empty";
        return "a scalar";
    }
    }
}

static yaml_node_t *node_at(ctx_t *c, int id)
{
    return yaml_document_get_node(&c->doc, id);
}

/* what a value is, for "expected X, got Y": a map, a list, an empty value, or the scalar itself quoted (shortened) */
static const char *describe(yaml_node_t *n, char *buf, size_t len)
{
    const char *kind = node_kind(n), *s;
    if (strcmp(kind, "a scalar") != 0)
        return strcmp(kind, "empty") == 0 ? "an empty value" : kind;
    s = (const char *)n->data.scalar.value;
    if (strlen(s) > 40)
        snprintf(buf, len, "\"%.40s...\"", s);
    else
        snprintf(buf, len, "\"%s\"", s);
    return buf;
}

/* the one message for a value of the wrong type: `expected a size, got a list` */
static int fail_type(ctx_t *c, yaml_node_t *n, const char *key, const char *expected)
{
    char buf[64];
    return fail(c, n, key, "expected %s, got %s", expected, describe(n, buf, sizeof(buf)));
}

static const char *scalar(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_plain_null(yaml_node_t *n)
{
    const char *s = scalar(n);
    return s != NULL && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static int expect_map(ctx_t *c, yaml_node_t *n, const char *key)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, key, "a map");
    return 0;
}

/* every key of the map must be one of `known` (a NULL-terminated list); otherwise suggest the closest */
static int check_keys(ctx_t *c, yaml_node_t *map, const char *key, const char *const *known)
{
    yaml_node_pair_t *p;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; ++p) {
        yaml_node_t *k = node_at(c, p->key);
        const char *name = scalar(k), *const * kn, *best;
        if (name == NULL)
            return fail_type(c, k, key[0] != '\0' ? key : "(file)", "a name as the key");
        for (kn = known; *kn != NULL; ++kn)
            if (strcmp(*kn, name) == 0)
                break;
        if (*kn == NULL) {
            if (strcmp(name, "<<") == 0)
                return fail_key(c, k, key, name, "YAML merge keys are not supported (use an alias: key: *anchor)");
            if ((best = closest(name, known, kn - known)) != NULL)
                return fail_key(c, k, key, name, "unknown key (did you mean \"%s\"?)", best);
            return fail_key(c, k, key, name, "unknown key");
        }
        /* duplicate keys silently overriding each other are a classic YAML trap */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; ++q) {
            const char *prev = scalar(node_at(c, q->key));
            if (prev != NULL && strcmp(prev, name) == 0)
                return fail_key(c, k, key, name, "duplicate key (first given on line %lu)",
                                (unsigned long)node_at(c, q->key)->start_mark.line + 1);
        }
    }
    return 0;
}

static yaml_node_t *map_get(ctx_t *c, yaml_node_t *map, const char *name)
{
    yaml_node_pair_t *p;
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; ++p) {
        const char *k = scalar(node_at(c, p->key));
        if (k != NULL && strcmp(k, name) == 0)
            return node_at(c, p->value);
    }
    return NULL;
}

static int get_string(ctx_t *c, yaml_node_t *n, const char *key, char **out)
{
    const char *s = scalar(n);
    if (s == NULL)
        return fail_type(c, n, key, "a string");
    if (s[0] == '\0')
        return fail(c, n, key, "must not be empty");
    free(*out);
    *out = xstrdup(s);
    return 0;
}

static int get_bool(ctx_t *c, yaml_node_t *n, const char *key, int *out)
{
    const char *s = scalar(n);
    if (s != NULL) {
        if (strcmp(s, "true") == 0 || strcmp(s, "on") == 0 || strcmp(s, "yes") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, "false") == 0 || strcmp(s, "off") == 0 || strcmp(s, "no") == 0) {
            *out = 0;
            return 0;
        }
    }
    if (s == NULL)
        return fail_type(c, n, key, "true or false");
    return fail(c, n, key, "must be true or false");
}

static int get_uint(ctx_t *c, yaml_node_t *n, const char *key, unsigned long min, unsigned long max, unsigned *out)
{
    const char *s = scalar(n);
    char *end;
    unsigned long v;
    if (s == NULL) {
        char what[64];
        snprintf(what, sizeof(what), "a number between %lu and %lu", min, max);
        return fail_type(c, n, key, what);
    }
    if (!isdigit((unsigned char)s[0]))
        return fail(c, n, key, "must be a number between %lu and %lu", min, max);
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return fail(c, n, key, "must be a number between %lu and %lu", min, max);
    *out = (unsigned)v; /* every max given is well below UINT_MAX */
    return 0;
}

/* the values a size or a duration may take, and what to say of one outside them */
typedef struct bounds {
    uint64_t min, max;
    const char *reason; /* "must be at least 1MB" */
} bounds_t;

static const bounds_t positive = {1, UINT64_MAX, "must be greater than zero"};
static const bounds_t at_least_1mb = {1u << 20, UINT64_MAX, "must be at least 1MB"};

/* b NULL: any value */
static int check_bounds(ctx_t *c, yaml_node_t *n, const char *key, const bounds_t *b, uint64_t v)
{
    if (b != NULL && (v < b->min || v > b->max))
        return fail(c, n, key, "%s", b->reason);
    return 0;
}

static int get_size(ctx_t *c, yaml_node_t *n, const char *key, const bounds_t *b, uint64_t *out)
{
    const char *s = scalar(n);
    if (s == NULL)
        return fail_type(c, n, key, "a size");
    if (conf_parse_size(s, out) != 0)
        return fail(c, n, key, "invalid size \"%s\" (write e.g. 512KB, 256MB, 2GB)", s);
    return check_bounds(c, n, key, b, *out);
}

static int get_duration(ctx_t *c, yaml_node_t *n, const char *key, const bounds_t *b, uint64_t *out)
{
    const char *s = scalar(n);
    if (s == NULL)
        return fail_type(c, n, key, "a duration");
    if (conf_parse_duration(s, out) != 0)
        return fail(c, n, key, "invalid duration \"%s\" (write e.g. 500ms, 30s, 5m, 1h, 1d)", s);
    return check_bounds(c, n, key, b, *out);
}

static int get_duration_signed(ctx_t *c, yaml_node_t *n, const char *key, const bounds_t *b, int64_t *out)
{
    uint64_t v;
    if (get_duration(c, n, key, b, &v) != 0)
        return -1;
    *out = (int64_t)v; /* at most 1e15 ms */
    return 0;
}

/* a file the server opens later: refused now if it cannot be read (a relative path is taken from the current directory) */
static int get_file(ctx_t *c, yaml_node_t *n, const char *key, char **out)
{
    if (get_string(c, n, key, out) != 0)
        return -1;
    if (access(*out, R_OK) != 0)
        return fail(c, n, key, "cannot read \"%s\": %s", *out, strerror(errno));
    return 0;
}

/* a listen host is what getaddrinfo takes: a name, an IPv4 address or an IPv6 address without brackets */
static int get_host(ctx_t *c, yaml_node_t *n, const char *key, char **out)
{
    if (get_string(c, n, key, out) != 0)
        return -1;
    if ((*out)[0] == '[')
        return fail(c, n, key, "\"%s\": write an IPv6 address without brackets (e.g. ::1)", *out);
    for (const char *p = *out; *p != '\0'; ++p)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_' || *p == ':' || *p == '%'))
            return fail(c, n, key, "\"%s\" is not a host name or an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1, localhost)", *out);
    /* an IPv6 address has at least two colons: one colon is HOST:PORT */
    if (strchr(*out, ':') != NULL && strchr(*out, ':') == strrchr(*out, ':'))
        return fail(c, n, key, "\"%s\": give the port in port:, not in host", *out);
    return 0;
}

/*
 * The opt_* functions read the key `name` of map, whose own key is parent, with the get_* of the same name; the messages
 * name parent.name. A key that is not given leaves *out alone, so the caller sets the default first. They return -1 on an
 * error (reported), 0 otherwise; the order of the calls is the order in which keys are checked (the first error is reported).
 */

/* the value of the key, or NULL; when given, *key is its path, which opt_result frees */
static yaml_node_t *opt_node(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, char **key)
{
    yaml_node_t *v = map_get(c, map, name);
    *key = v != NULL ? join_key(parent, name) : NULL;
    return v;
}

static int opt_result(char *key, int r)
{
    free(key);
    return r;
}

static int opt_string(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, char **out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_string(c, v, key, out)) : 0;
}

static int opt_file(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, char **out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_file(c, v, key, out)) : 0;
}

static int opt_host(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, char **out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_host(c, v, key, out)) : 0;
}

static int opt_bool(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, int *out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_bool(c, v, key, out)) : 0;
}

static int opt_uint(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, unsigned long min, unsigned long max,
                    unsigned *out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_uint(c, v, key, min, max, out)) : 0;
}

static int opt_size(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, const bounds_t *b, uint64_t *out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_size(c, v, key, b, out)) : 0;
}

static int opt_duration(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, const bounds_t *b, uint64_t *out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_duration(c, v, key, b, out)) : 0;
}

static int opt_duration_signed(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, const bounds_t *b, int64_t *out)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, get_duration_signed(c, v, key, b, out)) : 0;
}

/* one of the words of `names` (NULL-terminated), *out its index; anything else fails with reason */
static int opt_enum(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, const char *const *names, const char *reason,
                    int *out)
{
    yaml_node_t *v = map_get(c, map, name);
    const char *s = scalar(v);
    if (v == NULL)
        return 0;
    for (int i = 0; names[i] != NULL; ++i)
        if (s != NULL && strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    if (s == NULL) {
        char *key = join_key(parent, name);
        fail_type(c, v, key, strncmp(reason, "must be ", 8) == 0 ? reason + 8 : reason); /* "expected a or b, got a list" */
        return opt_result(key, -1);
    }
    return fail_key(c, v, parent, name, "%s", reason);
}

/* a key that must be given: without it, the map fails with `missing` */
static int req_string(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, const char *missing, char **out)
{
    if (map_get(c, map, name) == NULL)
        return fail(c, map, parent, "%s", missing);
    return opt_string(c, map, parent, name, out);
}

/* a secret: a `*_env` sibling names an environment variable holding the value (its name is kept in *env for -T); given in
 * the file, it must not be the placeholder -T prints */
static int get_string_or_env(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, char **out, char **env)
{
    char envname[64], *var = NULL;
    const char *val;
    yaml_node_t *e;
    int r = 0;
    snprintf(envname, sizeof(envname), "%s_env", name);
    if ((e = map_get(c, map, envname)) == NULL) {
        if (opt_string(c, map, parent, name, out) != 0)
            return -1;
        if (*out != NULL && strcmp(*out, CONF_REDACTED) == 0)
            return fail_key(c, map_get(c, map, name), parent, name,
                            "%s is what edgehook -T prints in place of a secret: give the secret, or %s: VARIABLE", CONF_REDACTED,
                            envname);
        return 0;
    }
    if (map_get(c, map, name) != NULL)
        return fail_key(c, e, parent, envname, "give either %s or %s, not both", name, envname);
    if (opt_string(c, map, parent, envname, &var) != 0)
        return -1;
    if ((val = getenv(var)) == NULL || val[0] == '\0') {
        r = fail_key(c, e, parent, envname, "environment variable %s is not set", var);
    } else {
        free(*out);
        *out = xstrdup(val);
        free(*env);
        *env = var;
        var = NULL;
    }
    free(var);
    return r;
}

static int parse_listen(ctx_t *c, yaml_node_t *n, const char *key, conf_listen_t *l, int allow_tls)
{
    static const char *const keys[] = {"host", "port", "tls", NULL};
    static const char *const keys_notls[] = {"host", "port", NULL};
    static const char *const tkeys[] = {"certificate", "key", NULL};
    yaml_node_t *v;
    unsigned port;
    char *k;
    int r = -1;
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, allow_tls ? keys : keys_notls) != 0)
        return -1;
    l->line = (int)node_line(c, n);
    snprintf(l->key, sizeof(l->key), "%s", key);
    l->host = xstrdup("127.0.0.1");
    if (opt_host(c, n, key, "host", &l->host) != 0)
        return -1;
    if (map_get(c, n, "port") == NULL)
        return fail(c, n, key, "port is required");
    if (opt_uint(c, n, key, "port", 0, 65535, &port) != 0)
        return -1;
    l->port = (uint16_t)port;
    if ((v = map_get(c, n, "tls")) == NULL)
        return 0;
    k = join_key(key, "tls");
    if (expect_map(c, v, k) == 0 && check_keys(c, v, k, tkeys) == 0) {
        if (map_get(c, v, "certificate") == NULL || map_get(c, v, "key") == NULL)
            fail(c, v, k, "needs both certificate and key");
        else if (opt_file(c, v, k, "certificate", &l->tls_certificate) == 0 && opt_file(c, v, k, "key", &l->tls_key) == 0) {
            l->certificate_line = (int)node_line(c, map_get(c, v, "certificate"));
            l->key_line = (int)node_line(c, map_get(c, v, "key"));
            r = 0;
        }
    }
    free(k);
    return r;
}

/* parses "http://host:port/prefix" or "https://..." */
static int parse_url(ctx_t *c, yaml_node_t *n, const char *key, const char *url, int *https, char **host, uint16_t *port,
                     char **prefix)
{
    const char *p, *hs, *he, *ps;
    unsigned long portv;
    if (strncasecmp(url, "http://", 7) == 0) {
        *https = 0;
        p = url + 7;
        portv = 80;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        *https = 1;
        p = url + 8;
        portv = 443;
    } else {
        return fail(c, n, key, "\"%s\" must start with http:// or https://", url);
    }
    if (memchr(p, '@', strcspn(p, "/?#")) != NULL)
        return fail(c, n, key, "\"%s\": user:password@ in a URL is not supported (use credentials or host_header)", url);
    hs = p;
    if (*p == '[') { /* IPv6 literal */
        if ((he = strchr(p, ']')) == NULL)
            return fail(c, n, key, "\"%s\": unterminated IPv6 address", url);
        ++hs;
        p = he + 1;
    } else {
        while (*p != '\0' && *p != ':' && *p != '/' && *p != '?' && *p != '#')
            ++p;
        he = p;
    }
    if (he == hs)
        return fail(c, n, key, "\"%s\" has no host", url);
    for (const char *q = hs; q < he; ++q)
        if (!(isalnum((unsigned char)*q) || *q == '.' || *q == '-' || *q == '_' || *q == ':'))
            return fail(c, n, key, "\"%s\": invalid character in host", url);
    if (*p == ':') {
        char *end;
        ++p;
        if (!isdigit((unsigned char)*p))
            return fail(c, n, key, "\"%s\": invalid port (1-65535)", url);
        errno = 0;
        portv = strtoul(p, &end, 10);
        if (errno != 0 || portv == 0 || portv > 65535 || (*end != '\0' && *end != '/' && *end != '?' && *end != '#'))
            return fail(c, n, key, "\"%s\": invalid port (1-65535)", url);
        p = end;
    } else if (*p != '\0' && *p != '/' && *p != '?' && *p != '#') {
        return fail(c, n, key, "\"%s\": unexpected characters after the host", url);
    }
    ps = p;
    if (*ps != '\0' && *ps != '/')
        return fail(c, n, key, "\"%s\": a query or fragment is not allowed here", url);
    if (strchr(ps, '?') != NULL || strchr(ps, '#') != NULL)
        return fail(c, n, key, "\"%s\": a query or fragment is not allowed here", url);
    if ((*host = strndup(hs, he - hs)) == NULL)
        abort();
    *port = (uint16_t)portv;
    /* drop a trailing slash: the request path always starts with one */
    size_t plen = strlen(ps);
    while (plen > 0 && ps[plen - 1] == '/')
        --plen;
    if ((*prefix = strndup(ps, plen)) == NULL)
        abort();
    return 0;
}

/* secret_key_file: the secret is the file's first line (white space around it dropped), read now so that a missing or empty
 * file is a configuration error; the file is named again by -T, never its content */
static int opt_secret_file(ctx_t *c, yaml_node_t *map, const char *parent, conf_credentials_t *cr)
{
    char *key, buf[4097];
    yaml_node_t *v = opt_node(c, map, parent, "secret_key_file", &key);
    int r = -1;
    if (v == NULL)
        return 0;
    if (map_get(c, map, "secret_key") != NULL || map_get(c, map, "secret_key_env") != NULL) {
        r = fail(c, v, key, "give one of secret_key, secret_key_env and secret_key_file");
    } else if (get_string(c, v, key, &cr->secret_key_file) == 0) {
        FILE *fp = fopen(cr->secret_key_file, "r");
        size_t n = 0;
        if (fp == NULL) {
            r = fail(c, v, key, "cannot read \"%s\": %s", cr->secret_key_file, strerror(errno));
        } else {
            n = fread(buf, 1, sizeof(buf) - 1, fp);
            fclose(fp);
            buf[n] = '\0';
            char *b = buf, *e;
            while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
                ++b;
            e = b + strcspn(b, "\r\n");
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                --e;
            *e = '\0';
            if (*b == '\0') {
                r = fail(c, v, key, "\"%s\" is empty (it must hold the secret key)", cr->secret_key_file);
            } else {
                free(cr->secret_key);
                cr->secret_key = xstrdup(b);
                r = 0;
            }
            explicit_bzero(buf, sizeof(buf));
        }
    }
    return opt_result(key, r);
}

/* an access key id: what the Authorization headers carry (`AWS AKID:sig`, `Credential=AKID/...`), so no `:`, `/`, `,` or
 * white space */
static int check_access_key(ctx_t *c, yaml_node_t *map, const char *parent, const char *ak)
{
    if (strlen(ak) > 128)
        return fail(c, map, parent, "the access key is longer than 128 characters");
    for (const char *p = ak; *p != '\0'; ++p)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == ':' || *p == '/' || *p == ',')
            return fail(c, map, parent, "the access key \"%s\" has a character an Authorization header cannot carry (%s)", ak,
                        *p == ':' ? "':'" : *p == '/' ? "'/'" : *p == ',' ? "','" : "white space or a control character");
    return 0;
}

/* the credentials: map of an s3 origin, if given */
static int parse_credentials(ctx_t *c, yaml_node_t *map, const char *parent, conf_credentials_t *cr)
{
    static const char *const keys[] = {"access_key",        "secret_key",      "session_token", "access_key_env",
                                       "secret_key_env",    "session_token_env", "secret_key_file", "profile",
                                       "shared_credentials_file", NULL};
    char *key;
    yaml_node_t *n = opt_node(c, map, parent, "credentials", &key);
    int r = -1;
    if (n == NULL)
        return 0;
    if (expect_map(c, n, key) == 0 && check_keys(c, n, key, keys) == 0 &&
        get_string_or_env(c, n, key, "access_key", &cr->access_key, &cr->access_key_env) == 0 &&
        get_string_or_env(c, n, key, "secret_key", &cr->secret_key, &cr->secret_key_env) == 0 && opt_secret_file(c, n, key, cr) == 0 &&
        get_string_or_env(c, n, key, "session_token", &cr->session_token, &cr->session_token_env) == 0 &&
        opt_string(c, n, key, "profile", &cr->profile) == 0 &&
        opt_file(c, n, key, "shared_credentials_file", &cr->shared_credentials_file) == 0) {
        if ((cr->access_key == NULL) != (cr->secret_key == NULL))
            fail(c, n, key, "needs both an access key and a secret key");
        else if (cr->access_key != NULL && (cr->profile != NULL || cr->shared_credentials_file != NULL))
            fail(c, n, key, "give either the keys (access_key, secret_key) or a profile (profile, shared_credentials_file), not both");
        else if (cr->access_key == NULL && cr->session_token != NULL)
            fail(c, n, key, "a session_token needs access_key and secret_key");
        else if (cr->access_key == NULL || check_access_key(c, n, key, cr->access_key) == 0)
            r = 0;
    }
    return opt_result(key, r);
}

/* buckets: of a store key: names or shell globs of them (a single one may be given without the list) */
static int parse_key_buckets(ctx_t *c, yaml_node_t *n, const char *key, conf_store_key_t *k)
{
    size_t count = n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 1;
    if (n->type != YAML_SEQUENCE_NODE && scalar(n) == NULL)
        return fail_type(c, n, key, "a list of bucket names or globs");
    if (count == 0)
        return fail(c, n, key, "an empty list would allow no bucket at all (remove buckets: to allow every bucket)");
    k->buckets = xcalloc(count, sizeof(char *));
    for (size_t i = 0; i != count; ++i) {
        yaml_node_t *e = n->type == YAML_SEQUENCE_NODE ? node_at(c, n->data.sequence.items.start[i]) : n;
        const char *s = scalar(e);
        if (s == NULL || s[0] == '\0')
            return fail_type(c, e, key, "bucket names or globs in the list");
        for (const char *p = s; *p != '\0'; ++p)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr(".-*?[]!", *p) != NULL))
                return fail(c, e, key,
                            "\"%s\" is neither a bucket name nor a glob of bucket names (lowercase letters, digits, '.', '-', and "
                            "the wildcards * ? [...])",
                            s);
        k->buckets[k->num_buckets++] = xstrdup(s);
    }
    return 0;
}

/* one key of the store: a map with access_key and a secret, optionally buckets and read_only */
static int parse_store_key(ctx_t *c, yaml_node_t *n, const char *key, conf_store_key_t *k)
{
    static const char *const keys[] = {"access_key",      "secret_key", "access_key_env", "secret_key_env",
                                       "secret_key_file", "buckets",    "read_only",      NULL};
    yaml_node_t *v;
    conf_credentials_t *cr = &k->cred;
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    k->line = (int)node_line(c, n);
    if (get_string_or_env(c, n, key, "access_key", &cr->access_key, &cr->access_key_env) != 0 ||
        get_string_or_env(c, n, key, "secret_key", &cr->secret_key, &cr->secret_key_env) != 0 ||
        opt_secret_file(c, n, key, cr) != 0 || opt_bool(c, n, key, "read_only", &k->read_only) != 0)
        return -1;
    if (cr->access_key == NULL || cr->secret_key == NULL)
        return fail(c, n, key, "needs access_key (or access_key_env) and one of secret_key, secret_key_env and secret_key_file");
    if (check_access_key(c, n, key, cr->access_key) != 0)
        return -1;
    if ((v = map_get(c, n, "buckets")) != NULL) {
        char *bk = join_key(key, "buckets");
        int r = parse_key_buckets(c, v, bk, k);
        free(bk);
        if (r != 0)
            return -1;
    }
    return 0;
}

/* store.credentials: one key (a map, the form of earlier versions) or a list of keys with distinct access keys */
static int parse_store_keys(ctx_t *c, yaml_node_t *map, conf_store_t *s)
{
    yaml_node_t *n = map_get(c, map, "credentials");
    char key[64];
    if (n == NULL)
        return 0;
    if (n->type == YAML_MAPPING_NODE) {
        s->keys = xcalloc(1, sizeof(*s->keys));
        s->num_keys = 1;
        return parse_store_key(c, n, "store.credentials", &s->keys[0]);
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_type(c, n, "store.credentials", "a map (one key) or a list of maps");
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0)
        return fail(c, n, "store.credentials", "an empty list (remove credentials: to have a key pair generated on first start)");
    s->keys = xcalloc(count, sizeof(*s->keys));
    s->keys_list = 1;
    for (size_t i = 0; i != count; ++i) {
        yaml_node_t *item = node_at(c, n->data.sequence.items.start[i]);
        snprintf(key, sizeof(key), "store.credentials[%zu]", i);
        s->num_keys = i + 1;
        if (parse_store_key(c, item, key, &s->keys[i]) != 0)
            return -1;
        for (size_t j = 0; j != i; ++j)
            if (strcmp(s->keys[j].cred.access_key, s->keys[i].cred.access_key) == 0)
                return fail(c, item, key, "the access key %s is already given by store.credentials[%zu] (line %d)",
                            s->keys[i].cred.access_key, j, s->keys[j].line);
    }
    return 0;
}

/* the url: of an http origin or the endpoint: of an s3 one (a URL, or embedded: the store of this server) */
static int parse_origin_url(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, conf_origin_t *o)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    const char *url = scalar(v);
    int r = 0;
    if (url == NULL) {
        r = fail_type(c, v, key, "a string");
    } else if (o->type == CONF_ORIGIN_S3 && strcmp(url, "embedded") == 0) {
        o->embedded = 1;
        o->path_prefix = xstrdup("");
    } else {
        r = parse_url(c, v, key, url, &o->https, &o->host, &o->port, &o->path_prefix);
    }
    return opt_result(key, r);
}

/* `parents:` of an http origin: a list of {url, name, health_url} (tiered caching, proxy/parents.h) */
/* an origin's keys of tiered caching: `parents` first, then those that tune them (http origins only) */
static const char *const parents_keys[] = {"parents",
                                           "parents_fallback",
                                           "parent_health_interval",
                                           "parent_health_timeout",
                                           "parent_health_fails",
                                           "parent_health_passes",
                                           NULL};

static int parse_parents(ctx_t *c, yaml_node_t *n, const char *okey, conf_origin_t *o)
{
    static const char *const pkeys[] = {"url", "name", "health_url", "weight", NULL};
    char key[300];
    size_t count;
    snprintf(key, sizeof(key), "%s.parents", okey);
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_type(c, n, key, "a list of {url: http://HOST:PORT, name: NAME, health_url: http://HOST:PORT/PATH}");
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > 64)
        return fail(c, n, key, "must list between 1 and 64 parents");
    o->parents = xcalloc(count, sizeof(conf_parent_t));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
        char pkey[340], *url = NULL, *prefix = NULL;
        yaml_node_t *pn = node_at(c, *it), *v;
        conf_parent_t *p = &o->parents[o->num_parents++];
        snprintf(pkey, sizeof(pkey), "%s[%zu]", key, o->num_parents - 1);
        if (expect_map(c, pn, pkey) != 0 || check_keys(c, pn, pkey, pkeys) != 0)
            return -1;
        p->line = (int)node_line(c, pn);
        if (req_string(c, pn, pkey, "url", "url is required (http://HOST:PORT of the parent's listener)", &url) != 0)
            return -1;
        v = map_get(c, pn, "url");
        if (parse_url(c, v, pkey, url, &p->https, &p->host, &p->port, &prefix) != 0) {
            free(url);
            return -1;
        }
        free(url);
        if (prefix[0] != '\0') {
            free(prefix);
            return fail_key(c, v, pkey, "url", "a parent gets the viewer's path as it is: no path after HOST:PORT");
        }
        free(prefix);
        if (opt_string(c, pn, pkey, "name", &p->name) != 0)
            return -1;
        if (p->name == NULL) {
            int v6 = strchr(p->host, ':') != NULL;
            p->name = xcalloc(1, strlen(p->host) + 10);
            sprintf(p->name, v6 ? "[%s]:%u" : "%s:%u", p->host, p->port);
        } else if (p->name[0] == '\0' || strlen(p->name) > 63 || strspn(p->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") != strlen(p->name)) {
            return fail_key(c, map_get(c, pn, "name"), pkey, "name", "must be 1-63 letters, digits, '.', '-', '_' or ':'");
        }
        p->weight = 1;
        if (opt_uint(c, pn, pkey, "weight", 1, 100, &p->weight) != 0)
            return -1;
        for (size_t j = 0; j + 1 < o->num_parents; ++j)
            if (strcmp(o->parents[j].name, p->name) == 0)
                return fail(c, pn, pkey, "two parents named \"%s\" (give each a different name:)", p->name);
        if ((v = map_get(c, pn, "health_url")) != NULL) {
            int https;
            char *hurl = NULL;
            if (get_string(c, v, "health_url", &hurl) != 0)
                return -1;
            if (parse_url(c, v, pkey, hurl, &https, &p->health_host, &p->health_port, &p->health_path) != 0) {
                free(hurl);
                return -1;
            }
            free(hurl);
            if (https)
                return fail_key(c, v, pkey, "health_url", "must be http:// (the probe speaks plain HTTP, e.g. the parent's admin "
                                                          "listener: http://HOST:9901/healthz)");
            if (p->health_path[0] == '\0') {
                free(p->health_path);
                p->health_path = xstrdup("/");
            }
        }
    }
    return 0;
}

static int parse_origin(ctx_t *c, yaml_node_t *n, const char *key, conf_origin_t *o)
{
    static const char *const keys[] = {"type",
                                       "url",
                                       "connect_timeout",
                                       "first_byte_timeout",
                                       "read_timeout",
                                       "keepalive_timeout",
                                       "max_connections",
                                       "retries",
                                       "host_header",
                                       "sni",
                                       "ca_file",
                                       "tls_verify",
                                       "endpoint",
                                       "bucket",
                                       "region",
                                       "addressing",
                                       "credentials",
                                       "pass_amz_headers",
                                       "parents",
                                       "parents_fallback",
                                       "parent_health_interval",
                                       "parent_health_timeout",
                                       "parent_health_fails",
                                       "parent_health_passes",
                                       NULL};
    /* in the order of conf_s3_addressing_t */
    static const char *const addressings[] = {"auto", "path", "virtual", NULL};
    yaml_node_t *v;
    char *type = NULL;
    int r = 0;

    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    o->line = (int)node_line(c, n);
    o->connect_timeout_ms = 5000;
    o->read_timeout_ms = 30000;
    o->first_byte_timeout_ms = 0; /* set from read_timeout below */
    o->keepalive_timeout_ms = 4000;
    o->max_connections = 256;
    o->retries = 1;
    o->tls_verify = 1;
    o->parents_fallback_origin = 1;
    o->parent_health_interval_ms = 2000;
    o->parent_health_timeout_ms = 1000;
    o->parent_health_fails = 2;
    o->parent_health_passes = 2;

    if (req_string(c, n, key, "type", "type is required (http or s3)", &type) != 0)
        return -1;
    if (strcmp(type, "http") == 0)
        o->type = CONF_ORIGIN_HTTP;
    else if (strcmp(type, "s3") == 0)
        o->type = CONF_ORIGIN_S3;
    else
        r = fail_key(c, map_get(c, n, "type"), key, "type", "unknown origin type \"%s\" (http or s3)", type);
    free(type);
    if (r != 0)
        return -1;

    if (o->type == CONF_ORIGIN_S3) {
        for (const char *const *s = parents_keys; *s != NULL; ++s)
            if ((v = map_get(c, n, *s)) != NULL)
                return fail_key(c, v, key, *s, "only for origins of type http");
    }
    if (o->type == CONF_ORIGIN_HTTP) {
        static const char *const s3only[] = {"endpoint", "bucket", "region", "addressing", "credentials", "pass_amz_headers", NULL};
        for (const char *const *s = s3only; *s != NULL; ++s)
            if ((v = map_get(c, n, *s)) != NULL)
                return fail_key(c, v, key, *s, "only for origins of type s3");
        if (map_get(c, n, "url") == NULL)
            return fail(c, n, key, "url is required for an http origin");
        if (parse_origin_url(c, n, key, "url", o) != 0)
            return -1;
    } else {
        int addressing = o->addressing;
        if ((v = map_get(c, n, "url")) != NULL)
            return fail_key(c, v, key, "url", "an s3 origin takes endpoint, not url");
        if (map_get(c, n, "endpoint") == NULL)
            return fail(c, n, key, "endpoint is required for an s3 origin (embedded or a URL)");
        if (parse_origin_url(c, n, key, "endpoint", o) != 0)
            return -1;
        o->region = xstrdup("us-east-1");
        if (req_string(c, n, key, "bucket", "bucket is required for an s3 origin", &o->bucket) != 0 ||
            opt_string(c, n, key, "region", &o->region) != 0 ||
            opt_enum(c, n, key, "addressing", addressings, "must be path, virtual or auto", &addressing) != 0 ||
            parse_credentials(c, n, key, &o->credentials) != 0 ||
            opt_bool(c, n, key, "pass_amz_headers", &o->pass_amz_headers) != 0)
            return -1;
        o->addressing = (conf_s3_addressing_t)addressing;
        o->region_given = map_get(c, n, "region") != NULL;
        if (o->addressing == CONF_S3_VIRTUAL) {
            unsigned char addr[16];
            v = map_get(c, n, "addressing");
            if (o->embedded)
                return fail_key(c, v, key, "addressing",
                                "the embedded store is reached on its own address, by path: virtual cannot apply (remove it)");
            if (inet_pton(AF_INET, o->host, addr) == 1 || inet_pton(AF_INET6, o->host, addr) == 1)
                return fail_key(c, v, key, "addressing",
                                "virtual needs a host name in endpoint, not the IP address %s (it would send Host: %s.%s): "
                                "write addressing: path",
                                o->host, o->bucket, o->host);
        }
    }

    if (opt_duration(c, n, key, "connect_timeout", &positive, &o->connect_timeout_ms) != 0 ||
        opt_duration(c, n, key, "first_byte_timeout", &positive, &o->first_byte_timeout_ms) != 0 ||
        opt_duration(c, n, key, "read_timeout", &positive, &o->read_timeout_ms) != 0 ||
        opt_duration(c, n, key, "keepalive_timeout", &positive, &o->keepalive_timeout_ms) != 0 ||
        opt_uint(c, n, key, "max_connections", 1, 1000000, &o->max_connections) != 0 ||
        opt_uint(c, n, key, "retries", 0, 5, &o->retries) != 0 || opt_string(c, n, key, "host_header", &o->host_header) != 0 ||
        opt_string(c, n, key, "sni", &o->sni) != 0 || opt_file(c, n, key, "ca_file", &o->ca_file) != 0 ||
        opt_bool(c, n, key, "tls_verify", &o->tls_verify) != 0)
        return -1;
    if (o->first_byte_timeout_ms == 0)
        o->first_byte_timeout_ms = o->read_timeout_ms;
    if (o->type == CONF_ORIGIN_HTTP) {
        static const char *const fallbacks[] = {"error", "origin", NULL}; /* the index is parents_fallback_origin */
        if ((v = map_get(c, n, "parents")) != NULL && parse_parents(c, v, key, o) != 0)
            return -1;
        if (opt_enum(c, n, key, "parents_fallback", fallbacks, "must be origin or error", &o->parents_fallback_origin) != 0 ||
            opt_duration(c, n, key, "parent_health_interval", &positive, &o->parent_health_interval_ms) != 0 ||
            opt_duration(c, n, key, "parent_health_timeout", &positive, &o->parent_health_timeout_ms) != 0 ||
            opt_uint(c, n, key, "parent_health_fails", 1, 100, &o->parent_health_fails) != 0 ||
            opt_uint(c, n, key, "parent_health_passes", 1, 100, &o->parent_health_passes) != 0)
            return -1;
        if (o->num_parents == 0) {
            for (const char *const *s = parents_keys + 1; *s != NULL; ++s) /* those that tune parents: */
                if ((v = map_get(c, n, *s)) != NULL)
                    return fail_key(c, v, key, *s, "has no effect without parents:");
        }
    }
    return 0;
}

static int parse_namelist(ctx_t *c, yaml_node_t *n, const char *key, conf_namelist_t *out, int lowercase)
{
    yaml_node_item_t *it;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_type(c, n, key, "a list of names");
    out->count = 0;
    out->names = xcalloc(n->data.sequence.items.top - n->data.sequence.items.start, sizeof(char *));
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
        yaml_node_t *e = node_at(c, *it);
        const char *s = scalar(e);
        if (s == NULL)
            return fail_type(c, e, key, "names in the list");
        if (s[0] == '\0')
            return fail(c, e, key, "must be a list of non-empty names");
        out->names[out->count] = xstrdup(s);
        if (lowercase)
            for (char *p = out->names[out->count]; *p; ++p)
                *p = tolower((unsigned char)*p);
        ++out->count;
    }
    return 0;
}

/*
 * none | all | [names] | {except: [names]}. Header names (headers) are lower-cased and take neither all, which would defeat
 * the cache, nor except.
 */
static int parse_key_part(ctx_t *c, yaml_node_t *n, const char *key, int headers, conf_key_mode_t *mode, conf_namelist_t *list)
{
    const char *s = scalar(n);
    if (s != NULL) {
        if (strcmp(s, "none") == 0) {
            *mode = CONF_KEY_NONE;
            return 0;
        }
        if (strcmp(s, "all") == 0) {
            if (headers)
                return fail(c, n, key, "must be a list of header names (all headers in the key would defeat the cache)");
            *mode = CONF_KEY_ALL;
            return 0;
        }
        return fail(c, n, key, "must be none, all, a list of names%s", !headers ? " or {except: [names]}" : "");
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        *mode = CONF_KEY_LIST;
        return parse_namelist(c, n, key, list, headers);
    }
    if (!headers && n->type == YAML_MAPPING_NODE) {
        static const char *const keys[] = {"except", NULL};
        yaml_node_t *e;
        if (check_keys(c, n, key, keys) != 0)
            return -1;
        if ((e = map_get(c, n, "except")) == NULL)
            return fail(c, n, key, "a map here must be {except: [names]}");
        *mode = CONF_KEY_EXCEPT;
        char *k = join_key(key, "except");
        int r = parse_namelist(c, e, k, list, 0);
        free(k);
        return r;
    }
    return fail_type(c, n, key, !headers ? "none, all, a list of names or {except: [names]}" : "none or a list of names");
}

static int opt_key_part(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, int headers, conf_key_mode_t *mode,
                        conf_namelist_t *list)
{
    char *key;
    yaml_node_t *v = opt_node(c, map, parent, name, &key);
    return v != NULL ? opt_result(key, parse_key_part(c, v, key, headers, mode, list)) : 0;
}

static void cache_policy_defaults(conf_cache_policy_t *p)
{
    memset(p, 0, sizeof(*p));
    p->enabled = 1;
    p->min_ttl_ms = -1;
    p->default_ttl_ms = -1;
    p->max_ttl_ms = -1;
    p->stale_while_revalidate_ms = -1;
    p->stale_if_error_ms = -1;
    p->error_ttl_ms = -1;
    p->query_mode = CONF_KEY_ALL;
    p->cookie_mode = CONF_KEY_NONE;
}

static int parse_origin_request(ctx_t *c, yaml_node_t *n, const char *key, conf_origin_request_t *o)
{
    static const char *const keys[] = {"headers", "cookies", NULL};
    conf_key_mode_t headers_mode;
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    if (map_get(c, n, "headers") != NULL)
        o->headers_set = 1;
    return opt_key_part(c, n, key, "headers", 1, &headers_mode, &o->headers) == 0 &&
                   opt_key_part(c, n, key, "cookies", 0, &o->cookie_mode, &o->cookies) == 0
               ? 0
               : -1;
}

static int parse_cache_policy(ctx_t *c, yaml_node_t *n, const char *key, conf_cache_policy_t *p)
{
    static const char *const keys[] = {"min_ttl",        "default_ttl", "max_ttl", "key", "stale_while_revalidate",
                                       "stale_if_error", "enabled",     "error_ttl", "ignore_set_cookie", NULL};
    static const char *const kkeys[] = {"query", "headers", "cookies", NULL};
    yaml_node_t *v;
    conf_key_mode_t headers_mode; /* none or a list: the list says which */
    char *k;
    int r = -1;
    const char *s = scalar(n);

    if (s != NULL) { /* `cache: off` */
        if (strcmp(s, "off") == 0 || strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
            p->enabled = 0;
            return 0;
        }
        if (strcmp(s, "on") == 0 || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
            return 0;
        return fail(c, n, key, "must be a map {min_ttl, default_ttl, max_ttl, key, ...} or off");
    }
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, key, "a map {min_ttl, default_ttl, max_ttl, key, ...} or off");
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    if (opt_duration_signed(c, n, key, "min_ttl", NULL, &p->min_ttl_ms) != 0 ||
        opt_duration_signed(c, n, key, "default_ttl", NULL, &p->default_ttl_ms) != 0 ||
        opt_duration_signed(c, n, key, "max_ttl", NULL, &p->max_ttl_ms) != 0 ||
        opt_duration_signed(c, n, key, "stale_while_revalidate", NULL, &p->stale_while_revalidate_ms) != 0 ||
        opt_duration_signed(c, n, key, "stale_if_error", NULL, &p->stale_if_error_ms) != 0 ||
        opt_duration_signed(c, n, key, "error_ttl", NULL, &p->error_ttl_ms) != 0 ||
        opt_bool(c, n, key, "enabled", &p->enabled) != 0 || opt_bool(c, n, key, "ignore_set_cookie", &p->ignore_set_cookie) != 0)
        return -1;
    if (p->min_ttl_ms >= 0 && p->max_ttl_ms >= 0 && p->min_ttl_ms > p->max_ttl_ms) {
        v = map_get(c, n, "min_ttl");
        return fail_key(c, v, key, "min_ttl", "%s is greater than max_ttl (%s)", scalar(v), scalar(map_get(c, n, "max_ttl")));
    }
    if (p->default_ttl_ms >= 0 &&
        ((p->min_ttl_ms >= 0 && p->default_ttl_ms < p->min_ttl_ms) || (p->max_ttl_ms >= 0 && p->default_ttl_ms > p->max_ttl_ms))) {
        v = map_get(c, n, "default_ttl");
        return fail_key(c, v, key, "default_ttl", "%s must lie between min_ttl and max_ttl", scalar(v));
    }
    if ((v = map_get(c, n, "key")) == NULL)
        return 0;
    k = join_key(key, "key");
    if (expect_map(c, v, k) == 0 && check_keys(c, v, k, kkeys) == 0 &&
        opt_key_part(c, v, k, "query", 0, &p->query_mode, &p->query) == 0 &&
        opt_key_part(c, v, k, "headers", 1, &headers_mode, &p->headers) == 0 &&
        opt_key_part(c, v, k, "cookies", 0, &p->cookie_mode, &p->cookies) == 0)
        r = 0;
    free(k);
    return r;
}

/* renders a YAML node as JSON: plain scalars that look like numbers, booleans or null keep their type */
static void json_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 256;
        if ((*buf = realloc(*buf, *cap)) == NULL)
            abort();
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void json_string(char **buf, size_t *len, size_t *cap, const char *s)
{
    json_append(buf, len, cap, "\"", 1);
    for (; *s; ++s) {
        char esc[8];
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = ch;
            json_append(buf, len, cap, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            json_append(buf, len, cap, esc, 6);
        } else {
            json_append(buf, len, cap, s, 1);
        }
    }
    json_append(buf, len, cap, "\"", 1);
}

static int looks_numeric(const char *s)
{
    char *end;
    if (*s == '\0')
        return 0;
    strtod(s, &end);
    if (*end != '\0')
        return 0;
    /* JSON has no leading +, hex, inf or nan */
    for (const char *p = s; *p; ++p)
        if (!(isdigit((unsigned char)*p) || *p == '-' || *p == '.' || *p == 'e' || *p == 'E'))
            return 0;
    if (s[0] == '0' && isdigit((unsigned char)s[1]))
        return 0;
    return 1;
}

typedef struct key_ref {
    const char *name;
    size_t index;
    unsigned long line;
} key_ref_t;

static int cmp_key_ref(const void *a, const void *b)
{
    const key_ref_t *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r != 0 ? r : (x->index < y->index ? -1 : x->index > y->index);
}

/* a map of free-form keys (hook config) may be large: find a duplicate by sorting, not by comparing every pair */
static int check_unique_keys(ctx_t *c, yaml_node_t *map, const char *key)
{
    size_t n = map->data.mapping.pairs.top - map->data.mapping.pairs.start, i;
    key_ref_t *refs, *dup = NULL;
    if (n < 2)
        return 0;
    refs = xcalloc(n, sizeof(*refs));
    for (i = 0; i != n; ++i) {
        yaml_node_t *k = node_at(c, map->data.mapping.pairs.start[i].key);
        const char *name = scalar(k);
        if (name == NULL) {
            free(refs);
            return fail_type(c, k, key, "a name as the key");
        }
        refs[i] = (key_ref_t){name, i, (unsigned long)k->start_mark.line + 1};
    }
    qsort(refs, n, sizeof(*refs), cmp_key_ref);
    for (i = 1; i != n; ++i)
        if (strcmp(refs[i - 1].name, refs[i].name) == 0 && (dup == NULL || refs[i].index < dup->index))
            dup = &refs[i];
    if (dup != NULL) {
        /* the group is sorted by position: walk back to its first member */
        key_ref_t *first = dup;
        while (first > refs && strcmp(first[-1].name, dup->name) == 0)
            --first;
        fail_line(c, dup->line, key, "duplicate key \"%s\" (first given on line %lu)", dup->name, first->line);
        free(refs);
        return -1;
    }
    free(refs);
    return 0;
}

static int node_to_json(ctx_t *c, yaml_node_t *n, const char *key, char **buf, size_t *len, size_t *cap, int depth)
{
    if (depth > 32)
        return fail(c, n, key, "is nested too deeply (more than 32 levels)");
    /* aliases can repeat a subtree exponentially ("billion laughs"): bound the output, not only the depth */
    if (*len > (1u << 20))
        return -2; /* reported by the caller, on the line of the whole map */
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
                json_append(buf, len, cap, s, strlen(s));
                return 0;
            }
            if (is_plain_null(n)) {
                json_append(buf, len, cap, "null", 4);
                return 0;
            }
            if (looks_numeric(s)) {
                json_append(buf, len, cap, s, strlen(s));
                return 0;
            }
        }
        json_string(buf, len, cap, s);
        return 0;
    }
    case YAML_SEQUENCE_NODE: {
        yaml_node_item_t *it;
        json_append(buf, len, cap, "[", 1);
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
            if (it != n->data.sequence.items.start)
                json_append(buf, len, cap, ",", 1);
            int r;
            if ((r = node_to_json(c, node_at(c, *it), key, buf, len, cap, depth + 1)) != 0)
                return r;
        }
        json_append(buf, len, cap, "]", 1);
        return 0;
    }
    case YAML_MAPPING_NODE: {
        yaml_node_pair_t *p;
        if (check_unique_keys(c, n, key) != 0)
            return -1;
        json_append(buf, len, cap, "{", 1);
        for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
            const char *k = scalar(node_at(c, p->key));
            if (k == NULL)
                return fail_type(c, node_at(c, p->key), key, "a name as the key");
            if (p != n->data.mapping.pairs.start)
                json_append(buf, len, cap, ",", 1);
            json_string(buf, len, cap, k);
            json_append(buf, len, cap, ":", 1);
            int r;
            if ((r = node_to_json(c, node_at(c, p->value), key, buf, len, cap, depth + 1)) != 0)
                return r;
        }
        json_append(buf, len, cap, "}", 1);
        return 0;
    }
    default:
        return fail(c, n, key, "unsupported YAML node");
    }
}

static int valid_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; ++s)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* kv: [NAME, ...] of a hook: the stores it may read, each declared in the top-level kv: (parsed before the hooks) */
static int parse_hook_kv(ctx_t *c, conf_t *conf, yaml_node_t *n, const char *key, conf_hook_t *h)
{
    yaml_node_t *v = map_get(c, n, "kv");
    char k[300];
    if (v == NULL)
        return 0;
    snprintf(k, sizeof(k), "%s.kv", key);
    if (parse_namelist(c, v, k, &h->kv, 0) != 0)
        return -1;
    for (size_t i = 0; i != h->kv.count; ++i) {
        if (conf_find_kv(conf, h->kv.names[i]) != NULL)
            continue;
        const char **names = xcalloc(conf->num_kv + 1, sizeof(*names)), *best;
        for (size_t j = 0; j != conf->num_kv; ++j)
            names[j] = conf->kv[j].name;
        best = closest(h->kv.names[i], names, conf->num_kv);
        free(names);
        if (best != NULL)
            return fail(c, v, k, "no kv store named \"%s\" in kv (did you mean \"%s\"?)", h->kv.names[i], best);
        return fail(c, v, k, "no kv store named \"%s\" in kv (declare it: kv: {%s: {}})", h->kv.names[i], h->kv.names[i]);
    }
    return 0;
}

/* a destination of asynchronous invocations: arn:aws:s3:::BUCKET or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
int conf_valid_destination_arn(const char *arn)
{
    if (strncmp(arn, "arn:aws:s3:::", 13) == 0) {
        size_t n = strlen(arn + 13);
        return n >= 3 && n <= 63 && strchr(arn + 13, '/') == NULL && strchr(arn + 13, ':') == NULL;
    }
    if (strncmp(arn, "arn:aws:lambda:", 15) != 0)
        return 0;
    const char *p = arn + 15;
    for (int i = 0; i != 2; ++i) /* region, account */
        if ((p = strchr(p, ':')) == NULL)
            return 0;
        else
            ++p;
    return strncmp(p, "function:", 9) == 0 && p[9] != '\0' && p[9] != ':';
}

static int opt_destination(ctx_t *c, yaml_node_t *map, const char *parent, const char *name, char **out)
{
    if (opt_string(c, map, parent, name, out) != 0)
        return -1;
    if (*out != NULL && !conf_valid_destination_arn(*out))
        return fail_key(c, map_get(c, map, name), parent, name,
                        "\"%s\" is not a destination (arn:aws:s3:::BUCKET or arn:aws:lambda:REGION:ACCOUNT:function:NAME)", *out);
    return 0;
}

/* `async: {retries, max_age, backoff, concurrency, on_failure, on_success}` of a hook */
static int parse_hook_async(ctx_t *c, yaml_node_t *n, const char *parent, conf_hook_t *h)
{
    static const char *const keys[] = {"retries", "max_age", "backoff", "concurrency", "on_failure", "on_success", NULL};
    static const bounds_t max_age = {60000, 6 * 3600000, "must be between 60s and 6h"};
    static const bounds_t backoff = {10, 3600000, "must be between 10ms and 1h"};
    yaml_node_t *v;
    char *key;
    if ((v = opt_node(c, n, parent, "async", &key)) == NULL)
        return 0;
    int r = expect_map(c, v, key) != 0 || check_keys(c, v, key, keys) != 0 ||
            opt_uint(c, v, key, "retries", 0, 2, &h->async.retries) != 0 ||
            opt_duration(c, v, key, "max_age", &max_age, &h->async.max_age_ms) != 0 ||
            opt_duration(c, v, key, "backoff", &backoff, &h->async.backoff_ms) != 0 ||
            opt_uint(c, v, key, "concurrency", 1, 1000, &h->async.concurrency) != 0 ||
            opt_destination(c, v, key, "on_failure", &h->async.on_failure) != 0 ||
            opt_destination(c, v, key, "on_success", &h->async.on_success) != 0;
    return opt_result(key, r ? -1 : 0);
}

/* `async_queue: {max_events, max_bytes, threads, visibility}` */
static int parse_async_queue(ctx_t *c, yaml_node_t *n, conf_t *conf)
{
    static const char *const keys[] = {"max_events", "max_bytes", "threads", "visibility", NULL};
    static const bounds_t visibility = {1000, 12 * 3600000, "must be between 1s and 12h"};
    unsigned max_events = (unsigned)conf->async_queue.max_events;
    conf->async_queue.line = (int)node_line(c, n);
    if (expect_map(c, n, "async_queue") != 0 || check_keys(c, n, "async_queue", keys) != 0 ||
        opt_uint(c, n, "async_queue", "max_events", 1, 10000000, &max_events) != 0 ||
        opt_size(c, n, "async_queue", "max_bytes", &positive, &conf->async_queue.max_bytes) != 0 ||
        opt_uint(c, n, "async_queue", "threads", 1, 64, &conf->async_queue.threads) != 0 ||
        opt_duration(c, n, "async_queue", "visibility", &visibility, &conf->async_queue.visibility_ms) != 0)
        return -1;
    conf->async_queue.max_events = max_events;
    return 0;
}

/* `fleet: {etcd: [http://HOST:PORT, ...], prefix: /edgehook/NAME, node, ack_timeout, lease_ttl, timeout}` */
static int parse_fleet(ctx_t *c, yaml_node_t *n, conf_t *conf)
{
    static const char *const keys[] = {"etcd", "prefix", "node", "ack_timeout", "lease_ttl", "timeout", NULL};
    static const bounds_t ack = {100, 300000, "must be between 100ms and 5m"};
    static const bounds_t ttl = {2000, 300000, "must be between 2s and 5m"};
    static const bounds_t call = {100, 60000, "must be between 100ms and 1m"};
    yaml_node_t *v;
    conf->fleet.line = (int)node_line(c, n);
    conf->fleet.ack_timeout_ms = 5000;
    conf->fleet.lease_ttl_ms = 10000;
    conf->fleet.timeout_ms = 2000;
    if (expect_map(c, n, "fleet") != 0 || check_keys(c, n, "fleet", keys) != 0)
        return -1;
    if ((v = map_get(c, n, "etcd")) == NULL)
        return fail(c, n, "fleet.etcd", "is required: the etcd members' client URLs, [http://HOST:PORT, ...]");
    if (parse_namelist(c, v, "fleet.etcd", &conf->fleet.etcd, 0) != 0)
        return -1;
    if (conf->fleet.etcd.count == 0 || conf->fleet.etcd.count > 16)
        return fail(c, v, "fleet.etcd", "give 1 to 16 members' client URLs");
    for (size_t i = 0; i != conf->fleet.etcd.count; ++i) {
        const char *u = conf->fleet.etcd.names[i], *hp = strncmp(u, "http://", 7) == 0 ? u + 7 : u, *colon = strrchr(hp, ':');
        if (strncmp(u, "https://", 8) == 0)
            return fail(c, v, "fleet.etcd", "%s: TLS to etcd is not supported: use http:// on a private network or a local proxy", u);
        if (strchr(hp, '/') != NULL || colon == NULL || colon == hp || colon[1] == '\0' ||
            strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535 ||
            strspn(hp, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(hp))
            return fail(c, v, "fleet.etcd", "%s: give http://HOST:PORT", u);
    }
    if ((v = map_get(c, n, "prefix")) == NULL)
        return fail(c, n, "fleet.prefix", "is required: where this fleet's keys live in etcd, e.g. /edgehook/NAME");
    if (get_string(c, v, "fleet.prefix", &conf->fleet.prefix) != 0)
        return -1;
    {
        const char *p = conf->fleet.prefix;
        size_t len = strlen(p);
        if (p[0] != '/' || len < 2 || len > 200 || p[len - 1] == '/' ||
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-_.") != len || strstr(p, "//") != NULL)
            return fail(c, v, "fleet.prefix", "must be a path like /edgehook/NAME (letters, digits, '/', '-', '_', '.'; no trailing '/')");
    }
    if ((v = map_get(c, n, "node")) != NULL) {
        if (get_string(c, v, "fleet.node", &conf->fleet.node) != 0)
            return -1;
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "edgehook");
        conf->fleet.node = xstrdup(host);
    }
    if (conf->fleet.node[0] == '\0' || strlen(conf->fleet.node) > 128 ||
        strspn(conf->fleet.node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") != strlen(conf->fleet.node))
        return fail(c, v != NULL ? v : n, "fleet.node", "must be 1 to 128 letters, digits, '-', '_', '.', ':' (give each node its own name)");
    return opt_duration(c, n, "fleet", "ack_timeout", &ack, &conf->fleet.ack_timeout_ms) != 0 ||
                   opt_duration(c, n, "fleet", "lease_ttl", &ttl, &conf->fleet.lease_ttl_ms) != 0 ||
                   opt_duration(c, n, "fleet", "timeout", &call, &conf->fleet.timeout_ms) != 0
               ? -1
               : 0;
}

static int parse_hook(ctx_t *c, conf_t *conf, yaml_node_t *n, const char *key, conf_hook_t *h)
{
    static const char *const keys[] = {"lua",    "native",      "config", "include_body", "timeout",    "memory",
                                       "fetch_allow", "kv",     "async",  "origin_body",  NULL};
    static const bounds_t origin_body = {0, 64u << 20, "must be at most 64MB"};
    static const bounds_t timeout = {1, 300000, "must be between 1ms and 5m"};
    yaml_node_t *v;
    char *k;
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    h->line = (int)node_line(c, n);
    h->timeout_ms = -1;
    h->memory_limit = 64ull << 20;
    h->async.retries = 2;
    h->async.max_age_ms = 6 * 3600000;
    h->async.backoff_ms = 60000;
    h->async.concurrency = 2;
    if (opt_file(c, n, key, "lua", &h->lua) != 0)
        return -1;
    if (h->lua != NULL && (v = map_get(c, n, "native")) != NULL)
        return fail_key(c, v, key, "native", "a hook is either lua or native, not both");
    if (opt_file(c, n, key, "native", &h->native) != 0)
        return -1;
    if (h->lua == NULL && h->native == NULL)
        return fail(c, n, key, "needs lua: FILE.lua or native: FILE.so");
    if ((v = opt_node(c, n, key, "config", &k)) == NULL) {
        h->config_json = xstrdup("{}");
    } else {
        size_t len = 0, cap = 0;
        int r;
        if (v->type != YAML_MAPPING_NODE)
            r = fail_type(c, v, k, "a map");
        else if ((r = node_to_json(c, v, k, &h->config_json, &len, &cap, 0)) == -2)
            fail(c, v, k, "is too large (more than 1MB as JSON)");
        if (opt_result(k, r) != 0)
            return -1;
    }
    if (opt_bool(c, n, key, "include_body", &h->include_body) != 0 ||
        opt_duration_signed(c, n, key, "timeout", &timeout, &h->timeout_ms) != 0 ||
        opt_size(c, n, key, "memory", &at_least_1mb, &h->memory_limit) != 0 ||
        opt_size(c, n, key, "origin_body", &origin_body, &h->origin_body) != 0)
        return -1;
    if ((v = opt_node(c, n, key, "fetch_allow", &k)) != NULL) {
        int r = parse_namelist(c, v, k, &h->fetch_allow, 1);
        for (size_t i = 0; r == 0 && i != h->fetch_allow.count; ++i) {
            const char *e = h->fetch_allow.names[i], *colon = strrchr(e, ':');
            int ok = strchr(e, '/') == NULL && strchr(e, ' ') == NULL && e[0] != ':' && (strncmp(e, "*.", 2) != 0 || e[2] != '\0');
            if (ok && colon != NULL) {
                char *end;
                long port = strtol(colon + 1, &end, 10);
                ok = *end == '\0' && port >= 1 && port <= 65535 && colon[1] != '\0';
            }
            if (!ok || (strchr(e, '*') != NULL && (strncmp(e, "*.", 2) != 0 || strchr(e + 1, '*') != NULL)))
                r = fail(c, v, k, "\"%s\" is not a host, host:port, *.domain or origin name", e);
        }
        if (opt_result(k, r) != 0)
            return -1;
    }
    if (parse_hook_async(c, n, key, h) != 0)
        return -1;
    return parse_hook_kv(c, conf, n, key, h);
}

/* value, given as the key `name` of a map whose own key is parent, is the name of no origin (or hook) of conf: suggest the
 * closest name if one is close enough to be a typo */
static int fail_unknown(ctx_t *c, yaml_node_t *node, const char *parent, const char *name, conf_t *conf, int hook,
                        const char *value)
{
    size_t n = hook ? conf->num_hooks : conf->num_origins;
    const char **names = xcalloc(n, sizeof(*names)), *best;
    for (size_t i = 0; i != n; ++i)
        names[i] = hook ? conf->hooks[i].name : conf->origins[i].name;
    if ((best = closest(value, names, n)) != NULL)
        fail_key(c, node, parent, name, "no %s named \"%s\" in %s (did you mean \"%s\"?)", hook ? "hook" : "origin", value,
                 hook ? "hooks" : "origins", best);
    else
        fail_key(c, node, parent, name, "no %s named \"%s\" in %s", hook ? "hook" : "origin", value, hook ? "hooks" : "origins");
    free(names);
    return -1;
}

/* the hooks: map of a behavior: EVENT: NAME, NAME@ALIAS or NAME@VERSION, where NAME is a declared hook */
static int parse_hook_refs(ctx_t *c, conf_t *conf, yaml_node_t *n, const char *key, conf_behavior_t *b)
{
    yaml_node_pair_t *p;
    if (expect_map(c, n, key) != 0 ||
        check_keys(c, n, key,
                   (const char *const[]){conf_hook_event_names[0], conf_hook_event_names[1], conf_hook_event_names[2],
                                         conf_hook_event_names[3], NULL}) != 0)
        return -1;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
        const char *ev = scalar(node_at(c, p->key));
        yaml_node_t *ref = node_at(c, p->value);
        char *name, *at;
        int i, r = 0;
        for (i = 0; i != CONF_HOOK_NUM; ++i)
            if (strcmp(ev, conf_hook_event_names[i]) == 0)
                break;
        if (opt_string(c, n, key, ev, &b->hooks[i]) != 0) /* reads ref: check_keys refused a repeated event */
            return -1;
        name = xstrdup(b->hooks[i]);
        if ((at = strchr(name, '@')) != NULL) {
            *at = '\0';
            if (!valid_name(at + 1))
                r = fail_key(c, ref, key, ev, "\"%s\": an alias or version after @ is letters, digits, - _ .", b->hooks[i]);
        }
        if (r == 0 && conf_find_hook(conf, name) == NULL)
            r = fail_unknown(c, ref, key, ev, conf, 1, name);
        free(name);
        if (r != 0)
            return -1;
    }
    return 0;
}

static int parse_geoip(ctx_t *c, yaml_node_t *n, conf_t *conf)
{
    static const char *const keys[] = {"database", "asn_database", NULL};
    yaml_node_t *v;
    if (expect_map(c, n, "geoip") != 0 || check_keys(c, n, "geoip", keys) != 0)
        return -1;
    conf->geoip.line = (int)node_line(c, n);
    if ((v = map_get(c, n, "database")) == NULL)
        return fail(c, n, "geoip", "database is required (a MaxMind DB file: GeoLite2-City.mmdb or GeoIP2-City.mmdb)");
    if (get_file(c, v, "geoip.database", &conf->geoip.database) != 0)
        return -1;
    if ((v = map_get(c, n, "asn_database")) != NULL && get_file(c, v, "geoip.asn_database", &conf->geoip.asn_database) != 0)
        return -1;
    return 0;
}

/*
 * The CloudFront-* names of a header list (cache.key.headers when in_key, else origin_request.headers): each must be one edgehook
 * generates (a viewer's is never taken), one CloudFront allows there, with its database configured; adds them to *mask.
 */
static int check_cf_names(ctx_t *c, const conf_t *conf, yaml_node_t *seq, const char *key, int in_key, uint32_t *mask)
{
    yaml_node_item_t *it;
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
        return 0;
    for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; ++it) {
        yaml_node_t *e = node_at(c, *it);
        const char *s = scalar(e);
        int h;
        if (s == NULL || !conf_cf_is_reserved(s, strlen(s)))
            continue;
        if ((h = conf_cf_header_find(s, strlen(s))) < 0)
            return fail(c, e, key,
                        "\"%s\" is not a CloudFront header edgehook generates (CloudFront-Viewer-Country, "
                        "CloudFront-Is-Mobile-Viewer, ...: see the README); a viewer's CloudFront-* headers are never "
                        "forwarded",
                        s);
        if (in_key && (conf_cf_headers[h].flags & CONF_CF_NOT_IN_KEY))
            return fail(c, e, key,
                        "%s can be in origin_request.headers, not in the cache key (as in CloudFront: every viewer "
                        "would have its own entry)",
                        conf_cf_headers[h].name);
        if ((conf_cf_headers[h].flags & CONF_CF_GEO) && conf->geoip.database == NULL)
            return fail(c, e, key, "%s needs a geo database: geoip: {database: FILE.mmdb}", conf_cf_headers[h].name);
        *mask |= CONF_CF_BIT(h);
    }
    return 0;
}

static int check_behavior_cf_names(ctx_t *c, const conf_t *conf, yaml_node_t *n, const char *key, conf_behavior_t *b)
{
    yaml_node_t *cache = map_get(c, n, "cache"), *oreq = map_get(c, n, "origin_request"), *kmap;
    char *k;
    int r = 0;
    if (cache != NULL && cache->type == YAML_MAPPING_NODE && (kmap = map_get(c, cache, "key")) != NULL &&
        kmap->type == YAML_MAPPING_NODE) {
        k = join_key(key, "cache.key.headers");
        r = check_cf_names(c, conf, map_get(c, kmap, "headers"), k, 1, &b->cf_headers);
        free(k);
    }
    if (r == 0 && oreq != NULL && oreq->type == YAML_MAPPING_NODE) {
        k = join_key(key, "origin_request.headers");
        r = check_cf_names(c, conf, map_get(c, oreq, "headers"), k, 0, &b->cf_headers);
        free(k);
    }
    return r;
}

const conf_error_page_t *conf_error_page_find(const conf_error_pages_t *pages, int code)
{
    for (size_t i = 0; i != pages->count; ++i)
        if (pages->items[i].code == code)
            return &pages->items[i];
    return NULL;
}

/* `error_pages: {CODE: {path: /page.html, ttl: 10s, status: CODE}, ...}` (CloudFront's custom error responses) */
static int parse_error_pages(ctx_t *c, yaml_node_t *n, const char *key, conf_error_pages_t *out)
{
    static const char *const keys[] = {"path", "ttl", "status", NULL};
    yaml_node_pair_t *p;
    char k[300];
    if (expect_map(c, n, key) != 0)
        return -1;
    out->items = xcalloc(n->data.mapping.pairs.top - n->data.mapping.pairs.start, sizeof(*out->items));
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
        yaml_node_t *kn = node_at(c, p->key), *v = node_at(c, p->value);
        const char *code = scalar(kn);
        char *end = NULL;
        long num = code != NULL ? strtol(code, &end, 10) : 0;
        conf_error_page_t *e = &out->items[out->count];
        unsigned status;
        if (code == NULL || end == code || *end != '\0' || num < 400 || num > 599)
            return fail(c, kn, key, "\"%s\" is not an error status: the keys are HTTP status codes from 400 to 599 (e.g. 404, 503)",
                        code != NULL ? code : "");
        snprintf(k, sizeof(k), "%s.%ld", key, num);
        if (conf_error_page_find(out, (int)num) != NULL)
            return fail(c, kn, k, "duplicate status");
        if (out->count == 16)
            return fail(c, kn, k, "at most 16 error statuses have pages");
        if (expect_map(c, v, k) != 0 || check_keys(c, v, k, keys) != 0)
            return -1;
        e->code = (int)num;
        e->line = (int)node_line(c, kn);
        e->ttl_ms = -1;
        e->status = (int)num;
        ++out->count; /* freed with the list from here on */
        if (req_string(c, v, k, "path", "path is required (the page, e.g. /errors/404.html)", &e->path) != 0)
            return -1;
        if (e->path[0] != '/' || strchr(e->path, '?') != NULL || strchr(e->path, '#') != NULL)
            return fail_key(c, map_get(c, v, "path"), k, "path", "\"%s\": the page is a path starting with / (no query)", e->path);
        if (opt_duration_signed(c, v, k, "ttl", NULL, &e->ttl_ms) != 0)
            return -1;
        status = (unsigned)num;
        if (opt_uint(c, v, k, "status", 200, 599, &status) != 0)
            return -1;
        e->status = (int)status;
    }
    return 0;
}

static void free_error_pages(conf_error_pages_t *l)
{
    for (size_t i = 0; i != l->count; ++i)
        free(l->items[i].path);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int parse_behavior(ctx_t *c, conf_t *conf, yaml_node_t *n, const char *key, conf_behavior_t *b)
{
    static const char *const keys[] = {"path", "origin", "cache", "origin_request", "hooks", "error_pages", NULL};
    yaml_node_t *v;
    char *k;
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    b->line = (int)node_line(c, n);
    cache_policy_defaults(&b->cache);
    if (req_string(c, n, key, "path", "path is required (e.g. \"/images/*\" or \"*\")", &b->path) != 0)
        return -1;
    if (b->path[0] != '/' && b->path[0] != '*')
        return fail_key(c, map_get(c, n, "path"), key, "path", "a path pattern starts with / or *");
    char why[256];
    if (conf_pattern_check(b->path, conf->limits.allow_path_params, why, sizeof(why)) != 0)
        return fail_key(c, map_get(c, n, "path"), key, "path", "\"%s\": %s", b->path, why);
    if (req_string(c, n, key, "origin", "origin is required", &b->origin_name) != 0)
        return -1;
    if ((b->origin = conf_find_origin(conf, b->origin_name)) == NULL)
        return fail_unknown(c, map_get(c, n, "origin"), key, "origin", conf, 0, b->origin_name);
    if ((v = opt_node(c, n, key, "cache", &k)) != NULL && opt_result(k, parse_cache_policy(c, v, k, &b->cache)) != 0)
        return -1;
    if ((v = opt_node(c, n, key, "origin_request", &k)) != NULL &&
        opt_result(k, parse_origin_request(c, v, k, &b->origin_request)) != 0)
        return -1;
    if (check_behavior_cf_names(c, conf, n, key, b) != 0)
        return -1;
    if ((v = opt_node(c, n, key, "hooks", &k)) != NULL && opt_result(k, parse_hook_refs(c, conf, v, k, b)) != 0)
        return -1;
    if ((v = opt_node(c, n, key, "error_pages", &k)) != NULL && opt_result(k, parse_error_pages(c, v, k, &b->error_pages)) != 0)
        return -1;
    return 0;
}

/* the top level's error pages join each behavior's list for the codes it does not name itself */
static void merge_error_pages(conf_t *conf)
{
    for (size_t i = 0; i != conf->num_behaviors; ++i) {
        conf_error_pages_t *l = &conf->behaviors[i].error_pages;
        for (size_t j = 0; j != conf->error_pages.count; ++j) {
            const conf_error_page_t *g = &conf->error_pages.items[j];
            if (conf_error_page_find(l, g->code) != NULL)
                continue;
            if ((l->items = realloc(l->items, sizeof(*l->items) * (l->count + 1))) == NULL)
                abort();
            l->items[l->count] = *g;
            l->items[l->count++].path = xstrdup(g->path);
        }
    }
}

/* S3 bucket naming (the store's rule): 3-63 of [a-z0-9.-], a letter or digit at both ends, no "..", not an IPv4 address, none
 * of the prefixes and suffixes S3 reserves (store_fs_reserved_bucket_name in store/fs.c has the same lists) */
static int valid_bucket_name(const char *s)
{
    static const char *const reserved_prefixes[] = {"xn--", "sthree-", "amzn-s3-demo-", NULL};
    static const char *const reserved_suffixes[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3", NULL};
    size_t len = strlen(s), dots = 0, i;
    int numeric = 1;
    for (i = 0; reserved_prefixes[i] != NULL; ++i)
        if (strncmp(s, reserved_prefixes[i], strlen(reserved_prefixes[i])) == 0)
            return 0;
    for (i = 0; reserved_suffixes[i] != NULL; ++i)
        if (len >= strlen(reserved_suffixes[i]) && strcmp(s + len - strlen(reserved_suffixes[i]), reserved_suffixes[i]) == 0)
            return 0;
    if (len < 3 || len > 63 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])) ||
        !(islower((unsigned char)s[len - 1]) || isdigit((unsigned char)s[len - 1])))
        return 0;
    for (i = 0; i != len; ++i) {
        unsigned char ch = (unsigned char)s[i];
        if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '-'))
            return 0;
        if (ch == '.') {
            if (s[i - 1] == '.')
                return 0;
            ++dots;
        } else if (!isdigit(ch)) {
            numeric = 0;
        }
    }
    return !(dots == 3 && numeric);
}

/* one {bucket, dir} of store.seed */
static int parse_seed(ctx_t *c, yaml_node_t *n, const char *key, conf_store_seed_t *sd)
{
    static const char *const keys[] = {"bucket", "dir", "cors", NULL};
    yaml_node_t *v;
    struct stat st;
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, key, "a map {bucket: NAME, dir: PATH}");
    if (check_keys(c, n, key, keys) != 0)
        return -1;
    sd->line = (int)node_line(c, n);
    if (req_string(c, n, key, "bucket", "bucket is required (the bucket to create, e.g. site)", &sd->bucket) != 0)
        return -1;
    if (!valid_bucket_name(sd->bucket))
        return fail_key(c, map_get(c, n, "bucket"), key, "bucket",
                        "\"%s\" is not a valid bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends, none of S3's reserved prefixes and suffixes such as xn-- or -s3alias)", sd->bucket);
    if (req_string(c, n, key, "dir", "dir is required (the directory whose files fill the bucket)", &sd->dir) != 0)
        return -1;
    v = map_get(c, n, "dir");
    if (stat(sd->dir, &st) != 0)
        return fail_key(c, v, key, "dir", "cannot read \"%s\": %s", sd->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail_key(c, v, key, "dir", "\"%s\" is not a directory", sd->dir);
    if (access(sd->dir, R_OK | X_OK) != 0)
        return fail_key(c, v, key, "dir", "cannot read \"%s\": %s", sd->dir, strerror(errno));
    if ((v = map_get(c, n, "cors")) != NULL) {
        /* the bucket's CORS rules (S3's CORSConfiguration XML, as PutBucketCors takes it): read now, checked by the store */
        if (req_string(c, n, key, "cors", "cors is a file of S3's CORSConfiguration XML", &sd->cors) != 0)
            return -1;
        FILE *fp = fopen(sd->cors, "rb");
        if (fp == NULL)
            return fail_key(c, v, key, "cors", "cannot read \"%s\": %s", sd->cors, strerror(errno));
        sd->cors_xml = xcalloc(1, 65536 + 2);
        sd->cors_len = fread(sd->cors_xml, 1, 65536 + 1, fp);
        int bad = ferror(fp);
        fclose(fp);
        if (bad)
            return fail_key(c, v, key, "cors", "cannot read \"%s\"", sd->cors);
        if (sd->cors_len > 65536)
            return fail_key(c, v, key, "cors", "\"%s\" is over 64KB (S3's limit for a CORS configuration)", sd->cors);
        if (sd->cors_len == 0)
            return fail_key(c, v, key, "cors", "\"%s\" is empty", sd->cors);
    }
    return 0;
}

/* store.seed: {bucket, dir} or a list of them */
static int parse_seeds(ctx_t *c, yaml_node_t *n, conf_store_t *s)
{
    char key[64];
    if (n->type == YAML_MAPPING_NODE) {
        s->seeds = xcalloc(1, sizeof(*s->seeds));
        s->num_seeds = 1;
        return parse_seed(c, n, "store.seed", &s->seeds[0]);
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_type(c, n, "store.seed", "a map {bucket: NAME, dir: PATH} or a list of them");
    size_t count = n->data.sequence.items.top - n->data.sequence.items.start;
    s->seeds = xcalloc(count != 0 ? count : 1, sizeof(*s->seeds));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
        size_t i = s->num_seeds++;
        snprintf(key, sizeof(key), "store.seed[%zu]", i);
        if (parse_seed(c, node_at(c, *it), key, &s->seeds[i]) != 0)
            return -1;
        for (size_t j = 0; j != i; ++j)
            if (strcmp(s->seeds[j].bucket, s->seeds[i].bucket) == 0) {
                snprintf(key, sizeof(key), "store.seed[%zu].bucket", i);
                return fail(c, map_get(c, node_at(c, *it), "bucket"), key, "\"%s\" is already seeded by store.seed[%zu] (line %d)",
                            s->seeds[i].bucket, j, s->seeds[j].line);
            }
    }
    return 0;
}

/* the events a notification rule may name (store/notify.c reads them too) */
static int known_store_event(const char *e)
{
    static const char *const events[] = {"s3:ObjectCreated:*",
                                         "s3:ObjectCreated:Put",
                                         "s3:ObjectCreated:Post",
                                         "s3:ObjectCreated:Copy",
                                         "s3:ObjectCreated:CompleteMultipartUpload",
                                         "s3:ObjectRemoved:*",
                                         "s3:ObjectRemoved:Delete",
                                         "s3:ObjectRemoved:DeleteMarkerCreated",
                                         NULL};
    for (const char *const *p = events; *p != NULL; ++p)
        if (strcmp(*p, e) == 0)
            return 1;
    return 0;
}

/* one rule of store.notifications */
static int parse_notification(ctx_t *c, const conf_t *conf, yaml_node_t *n, const char *key, conf_store_notification_t *r)
{
    static const char *const keys[] = {"bucket", "id", "function", "events", "prefix", "suffix", "exclude_hook_writes", NULL};
    char k[96];
    yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, key, "a map {bucket, function, events, prefix, suffix}");
    if (check_keys(c, n, key, keys) != 0)
        return -1;
    r->line = (int)node_line(c, n);
    if (req_string(c, n, key, "bucket", "bucket is required", &r->bucket) != 0 ||
        req_string(c, n, key, "function", "function is required (a hook: NAME, NAME:ALIAS or its Lambda ARN)", &r->function) != 0 ||
        opt_string(c, n, key, "id", &r->id) != 0 || opt_string(c, n, key, "prefix", &r->prefix) != 0 ||
        opt_string(c, n, key, "suffix", &r->suffix) != 0 ||
        opt_bool(c, n, key, "exclude_hook_writes", &r->exclude_hook_writes) != 0)
        return -1;
    if (!valid_bucket_name(r->bucket))
        return fail_key(c, map_get(c, n, "bucket"), key, "bucket", "\"%s\" is not a valid bucket name", r->bucket);
    if (r->id != NULL && (r->id[0] == '\0' || strlen(r->id) > 255))
        return fail_key(c, map_get(c, n, "id"), key, "id", "must be 1 to 255 characters");
    if ((r->prefix != NULL && strlen(r->prefix) > 1024) || (r->suffix != NULL && strlen(r->suffix) > 1024))
        return fail(c, n, key, "prefix and suffix are at most 1024 bytes");
    /* the hook: NAME[:QUALIFIER] or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
    const char *name = r->function, *fn = strstr(r->function, ":function:");
    if (strncmp(name, "arn:", 4) == 0) {
        if (strncmp(name, "arn:aws:lambda:", 15) != 0 || fn == NULL)
            return fail_key(c, map_get(c, n, "function"), key, "function", "\"%s\" is not a Lambda function ARN", r->function);
        name = fn + 10;
    }
    size_t nlen = strcspn(name, ":");
    int found = 0;
    for (size_t i = 0; i != conf->num_hooks; ++i)
        found |= strlen(conf->hooks[i].name) == nlen && strncmp(conf->hooks[i].name, name, nlen) == 0;
    if (!found || (name[nlen] == ':' && name[nlen + 1] == '\0'))
        return fail_key(c, map_get(c, n, "function"), key, "function", "\"%.*s\" is not a hook of this configuration (hooks:)",
                        (int)nlen, name);
    if ((v = map_get(c, n, "events")) == NULL)
        return fail(c, n, key, "events is required (e.g. [s3:ObjectCreated:*])");
    snprintf(k, sizeof(k), "%s.events", key);
    conf_namelist_t l = {NULL, 0};
    if (v->type == YAML_SCALAR_NODE) {
        l.names = xcalloc(1, sizeof(char *));
        l.names[0] = xstrdup(scalar(v));
        l.count = 1;
    } else if (parse_namelist(c, v, k, &l, 0) != 0) {
        r->events = l.names;
        r->num_events = l.count;
        return -1;
    }
    r->events = l.names;
    r->num_events = l.count;
    if (l.count == 0)
        return fail(c, v, k, "at least one event is required");
    for (size_t i = 0; i != l.count; ++i)
        if (!known_store_event(l.names[i]))
            return fail(c, v, k,
                        "\"%s\" is not an event the store notifies (s3:ObjectCreated:* | :Put | :Post | :Copy | "
                        ":CompleteMultipartUpload, s3:ObjectRemoved:* | :Delete | :DeleteMarkerCreated)",
                        l.names[i]);
    return 0;
}

static int parse_notifications(ctx_t *c, const conf_t *conf, yaml_node_t *n, conf_store_t *s)
{
    char key[64];
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_type(c, n, "store.notifications", "a list of {bucket, function, events, prefix, suffix}");
    size_t count = n->data.sequence.items.top - n->data.sequence.items.start;
    s->notifications = xcalloc(count != 0 ? count : 1, sizeof(*s->notifications));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
        size_t i = s->num_notifications++;
        snprintf(key, sizeof(key), "store.notifications[%zu]", i);
        if (parse_notification(c, conf, node_at(c, *it), key, &s->notifications[i]) != 0)
            return -1;
        if (s->notifications[i].id != NULL)
            for (size_t j = 0; j != i; ++j)
                if (strcmp(s->notifications[j].bucket, s->notifications[i].bucket) == 0 && s->notifications[j].id != NULL &&
                    strcmp(s->notifications[j].id, s->notifications[i].id) == 0)
                    return fail(c, map_get(c, node_at(c, *it), "id"), key, "id \"%s\" is already used by store.notifications[%zu]",
                                s->notifications[i].id, j);
    }
    return 0;
}

static int parse_store(ctx_t *c, const conf_t *conf, yaml_node_t *n, conf_store_t *s)
{
    static const char *const keys[] = {"listen",
                                       "root",
                                       "domain",
                                       "region",
                                       "credentials",
                                       "max_put_size",
                                       "seed",
                                       "threads",
                                       "io_threads",
                                       "notifications",
                                       "notify_max_generations",
                                       NULL};
    static const bounds_t put_size = {1024, 5ull << 30, "must be between 1KB and 5GB"};
    yaml_node_t *v;
    if (expect_map(c, n, "store") != 0 || check_keys(c, n, "store", keys) != 0)
        return -1;
    s->enabled = 1;
    s->line = (int)node_line(c, n);
    s->root = xstrdup("./data");
    s->domain = xstrdup("s3.localhost");
    s->region = xstrdup("us-east-1");
    s->max_put_size = 5ull << 30;
    s->threads = 2;
    s->io_threads = 1;
    if ((v = map_get(c, n, "listen")) == NULL)
        return fail(c, n, "store", "listen is required");
    if (parse_listen(c, v, "store.listen", &s->listen, 0) != 0)
        return -1;
    if (opt_string(c, n, "store", "root", &s->root) != 0 || opt_string(c, n, "store", "domain", &s->domain) != 0 ||
        opt_string(c, n, "store", "region", &s->region) != 0 || parse_store_keys(c, n, s) != 0 ||
        opt_size(c, n, "store", "max_put_size", &put_size, &s->max_put_size) != 0 ||
        opt_uint(c, n, "store", "threads", 1, 64, &s->threads) != 0 ||
        opt_uint(c, n, "store", "io_threads", 1, 16, &s->io_threads) != 0)
        return -1;
    if ((v = map_get(c, n, "seed")) != NULL && parse_seeds(c, v, s) != 0)
        return -1;
    s->notify_max_generations = 16;
    if (opt_uint(c, n, "store", "notify_max_generations", 1, 1000, &s->notify_max_generations) != 0)
        return -1;
    if ((v = map_get(c, n, "notifications")) != NULL && parse_notifications(c, conf, v, s) != 0)
        return -1;
    return 0;
}

static int parse_admin(ctx_t *c, yaml_node_t *n, conf_admin_t *a)
{
    static const char *const keys[] = {"listen", "token", "token_env", "plugin_dirs", NULL};
    yaml_node_t *v;
    if (expect_map(c, n, "admin") != 0 || check_keys(c, n, "admin", keys) != 0)
        return -1;
    a->enabled = 1;
    a->line = (int)node_line(c, n);
    if ((v = map_get(c, n, "listen")) == NULL)
        return fail(c, n, "admin", "listen is required");
    if (parse_listen(c, v, "admin.listen", &a->listen, 0) != 0)
        return -1;
    if (get_string_or_env(c, n, "admin", "token", &a->token, &a->token_env) != 0)
        return -1;
    if (a->token == NULL)
        return fail(c, n, "admin", "token or token_env is required: every admin call needs Authorization: Bearer TOKEN");
    if (strlen(a->token) < 8) {
        if ((v = map_get(c, n, "token")) != NULL)
            return fail(c, v, "admin.token", "is too short (at least 8 characters)");
        return fail(c, map_get(c, n, "token_env"), "admin.token_env", "the value of %s is too short (at least 8 characters)",
                    scalar(map_get(c, n, "token_env")));
    }
    if ((v = map_get(c, n, "plugin_dirs")) != NULL) {
        if (parse_namelist(c, v, "admin.plugin_dirs", &a->plugin_dirs, 0) != 0)
            return -1;
        for (size_t i = 0; i != a->plugin_dirs.count; ++i) {
            char *real = realpath(a->plugin_dirs.names[i], NULL);
            struct stat st;
            if (real == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
                free(real);
                return fail(c, v, "admin.plugin_dirs", "%s: not a directory", a->plugin_dirs.names[i]);
            }
            free(a->plugin_dirs.names[i]);
            a->plugin_dirs.names[i] = real;
        }
    }
    return 0;
}

/* `distribution: {id, domain_name}`: the identity hooks see in their event's config */
static int parse_distribution(ctx_t *c, yaml_node_t *n, conf_t *conf)
{
    static const char *const keys[] = {"id", "domain_name", NULL};
    yaml_node_t *v;
    if (expect_map(c, n, "distribution") != 0 || check_keys(c, n, "distribution", keys) != 0)
        return -1;
    if (opt_string(c, n, "distribution", "id", &conf->distribution.id) != 0)
        return -1;
    if (conf->distribution.id != NULL && (!valid_name(conf->distribution.id) || strlen(conf->distribution.id) > 128))
        return fail(c, map_get(c, n, "id"), "distribution.id",
                    "\"%s\" is not an id (letters, digits, '-', '_' and '.', at most 128 characters, e.g. E2QWRUHAPOMQZL)",
                    conf->distribution.id);
    if (opt_string(c, n, "distribution", "domain_name", &conf->distribution.domain_name) != 0)
        return -1;
    if ((v = map_get(c, n, "domain_name")) != NULL) {
        const char *d = conf->distribution.domain_name;
        int ok = strlen(d) <= 253 && d[0] != '.' && d[0] != '-';
        for (const char *p = d; ok && *p != '\0'; ++p)
            ok = isalnum((unsigned char)*p) || *p == '.' || *p == '-';
        if (!ok)
            return fail(c, v, "distribution.domain_name",
                        "\"%s\" is not a domain name (letters, digits, '-' and '.', e.g. d111111abcdef8.cloudfront.net)", d);
    }
    return 0;
}

/* kv: {NAME: {path, max_keys, max_bytes, max_value}} (limits in kv/kv.h: KV_DEFAULT_*, KV_LIMIT_*) */
static int parse_kv_store(ctx_t *c, yaml_node_t *n, const char *key, conf_kv_store_t *s)
{
    static const char *const keys[] = {"path", "max_keys", "max_bytes", "max_value", NULL};
    static const bounds_t max_bytes = {1, 1ull << 30, "must be between 1 byte and 1GB"};
    static const bounds_t max_value = {1, 1u << 20, "must be between 1 byte and 1MB"};
    unsigned max_keys = 100000;
    if (expect_map(c, n, key) != 0 || check_keys(c, n, key, keys) != 0)
        return -1;
    s->line = (int)node_line(c, n);
    s->max_bytes = 5ull << 20;
    s->max_value = 1024;
    if (opt_string(c, n, key, "path", &s->path) != 0 || opt_uint(c, n, key, "max_keys", 1, 10000000, &max_keys) != 0 ||
        opt_size(c, n, key, "max_bytes", &max_bytes, &s->max_bytes) != 0 ||
        opt_size(c, n, key, "max_value", &max_value, &s->max_value) != 0)
        return -1;
    s->max_keys = max_keys;
    if (s->path == NULL) {
        s->path = xcalloc(strlen(s->name) + 32, 1);
        sprintf(s->path, "./data/kv/%s.kvlog", s->name);
    }
    return 0;
}

static int parse_kv(ctx_t *c, conf_t *conf, yaml_node_t *v)
{
    char key[256];
    if (expect_map(c, v, "kv") != 0)
        return -1;
    conf->kv = xcalloc(v->data.mapping.pairs.top - v->data.mapping.pairs.start + 1, sizeof(conf_kv_store_t));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; ++p) {
        const char *name = scalar(node_at(c, p->key));
        conf_kv_store_t *prev;
        if (name == NULL || !valid_name(name) || strlen(name) > 128)
            return fail(c, node_at(c, p->key), "kv", "a kv store name is letters, digits, - _ . (at most 128)");
        snprintf(key, sizeof(key), "kv.%s", name);
        if ((prev = conf_find_kv(conf, name)) != NULL)
            return fail(c, node_at(c, p->key), key, "duplicate key (first given on line %d)", prev->line);
        conf->kv[conf->num_kv].name = xstrdup(name);
        if (parse_kv_store(c, node_at(c, p->value), key, &conf->kv[conf->num_kv++]) != 0)
            return -1;
        for (prev = conf->kv; prev != &conf->kv[conf->num_kv - 1]; ++prev)
            if (strcmp(prev->path, conf->kv[conf->num_kv - 1].path) == 0)
                return fail(c, node_at(c, p->value), key, "path %s is already the log of kv store %s", prev->path, prev->name);
    }
    return 0;
}

static int check_listeners(ctx_t *c, conf_t *conf, int listen_is_map);

static int parse_root(ctx_t *c, conf_t *conf, yaml_node_t *root)
{
    static const char *const keys[] = {"threads", "listen", "access_log", "error_log",   "limits",      "origins",
                                       "cache",   "hooks",  "behaviors",  "store",       "admin",       "distribution",
                                       "geoip",   "kv",     "state_dir",  "async_queue", "error_pages", "fleet",
                                       "node_name", NULL};
    yaml_node_t *v;
    char key[256];

    if (root == NULL)
        return fail(c, NULL, "(file)", "the file is empty (it needs at least listen, origins and behaviors)");
    if (expect_map(c, root, "(file)") != 0 || check_keys(c, root, "", keys) != 0)
        return -1;

    /* threads */
    conf->threads = 0;
    if ((v = map_get(c, root, "threads")) != NULL) {
        const char *s = scalar(v);
        if (s == NULL)
            return fail_type(c, v, "threads", "auto or a number between 1 and 128");
        if (strcmp(s, "auto") != 0) {
            char *end;
            unsigned long t = 0;
            if (s != NULL && isdigit((unsigned char)s[0])) {
                errno = 0;
                t = strtoul(s, &end, 10);
                if (errno != 0 || *end != '\0')
                    t = 0;
            }
            if (t < 1 || t > 128)
                return fail(c, v, "threads", "must be auto or a number between 1 and 128");
            conf->threads = (unsigned)t;
        }
    }
    if (conf->threads == 0) {
        conf->threads_auto = 1;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        conf->threads = n > 128 ? 128 : n > 0 ? (unsigned)n : 1; /* the hook runtime keeps per-thread state for at most 128 */
    }

    /* listen */
    if ((v = map_get(c, root, "listen")) == NULL)
        return fail(c, root, "listen", "at least one listener is required");
    if (v->type == YAML_MAPPING_NODE) {
        conf->listen = xcalloc(1, sizeof(conf_listen_t));
        conf->num_listen = 1;
        if (parse_listen(c, v, "listen", &conf->listen[0], 1) != 0)
            return -1;
    } else if (v->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it;
        size_t n = v->data.sequence.items.top - v->data.sequence.items.start;
        if (n == 0)
            return fail(c, v, "listen", "at least one listener is required");
        conf->listen = xcalloc(n, sizeof(conf_listen_t));
        for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
            snprintf(key, sizeof(key), "listen[%zu]", conf->num_listen);
            if (parse_listen(c, node_at(c, *it), key, &conf->listen[conf->num_listen++], 1) != 0)
                return -1;
        }
    } else {
        return fail_type(c, v, "listen", "a list of {host, port[, tls]}");
    }

    /* logs */
    conf->access_log.path = NULL;
    if ((v = map_get(c, root, "access_log")) != NULL) {
        static const char *const akeys[] = {"path", "format", NULL};
        static const char *const formats[] = {"combined", "json", NULL}; /* the index is access_log.json */
        if (is_plain_null(v) || (scalar(v) != NULL && strcmp(scalar(v), "off") == 0)) {
            /* off */
        } else {
            if (v->type != YAML_MAPPING_NODE)
                return fail_type(c, v, "access_log", "a map {path, format} or off");
            if (check_keys(c, v, "access_log", akeys) != 0)
                return -1;
            conf->access_log.path = xstrdup("-");
            if (opt_string(c, v, "access_log", "path", &conf->access_log.path) != 0 ||
                opt_enum(c, v, "access_log", "format", formats, "must be combined or json", &conf->access_log.json) != 0)
                return -1;
        }
    }
    conf->error_log.path = xstrdup("-");
    conf->error_log.level = 2; /* info */
    if ((v = map_get(c, root, "error_log")) != NULL) {
        static const char *const ekeys[] = {"path", "level", "format", NULL};
        static const char *const levels[] = {"error", "warn", "info", "debug", NULL}; /* LOG_ERROR..LOG_DEBUG */
        static const char *const eformats[] = {"text", "json", NULL};                 /* the index is error_log.json */
        if (expect_map(c, v, "error_log") != 0 || check_keys(c, v, "error_log", ekeys) != 0)
            return -1;
        if (opt_string(c, v, "error_log", "path", &conf->error_log.path) != 0 ||
            opt_enum(c, v, "error_log", "level", levels, "must be error, warn, info or debug", &conf->error_log.level) != 0 ||
            opt_enum(c, v, "error_log", "format", eformats, "must be text or json", &conf->error_log.json) != 0)
            return -1;
    }

    /* limits */
    conf->limits.max_request_body = 16ull << 20;
    conf->limits.shutdown_grace_ms = 30000;
    conf->limits.client_timeout_ms = 30000;
    conf->limits.max_streams_per_connection = 100;
    conf->limits.max_request_headers = 100;
    conf->limits.max_request_header_size = 64 << 10;
    conf->limits.max_response_header_size = 64 << 10;
    conf->limits.send_timeout_ms = 30000;
    conf->limits.max_unsent_per_connection = 4 << 20;
    conf->limits.allow_path_params = 0;
    if ((v = map_get(c, root, "limits")) != NULL) {
        static const char *const lkeys[] = {"max_request_body",
                                            "shutdown_grace",
                                            "client_timeout",
                                            "max_streams_per_connection",
                                            "max_request_headers",
                                            "max_request_header_size",
                                            "max_response_header_size",
                                            "send_timeout",
                                            "max_unsent_per_connection",
                                            "allow_path_params",
                                            NULL};
        static const bounds_t hsize = {1024, 1 << 20, "must be between 1KB and 1MB"};
        static const bounds_t unsent = {64 << 10, 1ull << 30, "must be between 64KB and 1GB"};
        static const bounds_t body = {0, 1ull << 30, "must be at most 1GB (request bodies are buffered in memory)"};
        static const bounds_t client = {100, UINT64_MAX, "must be at least 100ms"};
        if (expect_map(c, v, "limits") != 0 || check_keys(c, v, "limits", lkeys) != 0)
            return -1;
        if (opt_size(c, v, "limits", "max_request_body", &body, &conf->limits.max_request_body) != 0 ||
            opt_duration(c, v, "limits", "shutdown_grace", NULL, &conf->limits.shutdown_grace_ms) != 0 ||
            opt_duration(c, v, "limits", "client_timeout", &client, &conf->limits.client_timeout_ms) != 0 ||
            opt_uint(c, v, "limits", "max_streams_per_connection", 1, 1000, &conf->limits.max_streams_per_connection) != 0 ||
            opt_uint(c, v, "limits", "max_request_headers", 1, 10000, &conf->limits.max_request_headers) != 0 ||
            opt_size(c, v, "limits", "max_request_header_size", &hsize, &conf->limits.max_request_header_size) != 0 ||
            opt_size(c, v, "limits", "max_response_header_size", &hsize, &conf->limits.max_response_header_size) != 0 ||
            opt_duration(c, v, "limits", "send_timeout", &client, &conf->limits.send_timeout_ms) != 0 ||
            opt_size(c, v, "limits", "max_unsent_per_connection", &unsent, &conf->limits.max_unsent_per_connection) != 0 ||
            opt_bool(c, v, "limits", "allow_path_params", &conf->limits.allow_path_params) != 0)
            return -1;
    }

    /* origins */
    if ((v = map_get(c, root, "origins")) == NULL)
        return fail(c, root, "origins", "at least one origin is required");
    if (expect_map(c, v, "origins") != 0)
        return -1;
    {
        yaml_node_pair_t *p;
        size_t n = v->data.mapping.pairs.top - v->data.mapping.pairs.start;
        if (n == 0)
            return fail(c, v, "origins", "at least one origin is required");
        conf->origins = xcalloc(n, sizeof(conf_origin_t));
        for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; ++p) {
            const char *name = scalar(node_at(c, p->key));
            conf_origin_t *prev;
            if (name == NULL)
                return fail_type(c, node_at(c, p->key), "origins", "an origin name");
            if (!valid_name(name) || strlen(name) > 128)
                return fail(c, node_at(c, p->key), "origins", "\"%s\": an origin name is letters, digits, - _ . (at most 128)",
                            name);
            snprintf(key, sizeof(key), "origins.%s", name);
            if ((prev = conf_find_origin(conf, name)) != NULL)
                return fail(c, node_at(c, p->key), key, "duplicate key (first given on line %d)", prev->line);
            conf->origins[conf->num_origins].name = xstrdup(name);
            if (parse_origin(c, node_at(c, p->value), key, &conf->origins[conf->num_origins++]) != 0)
                return -1;
        }
    }

    /* cache */
    conf->cache.memory = 256ull << 20;
    conf->cache.max_object_size = 0;
    conf->cache.stale_while_revalidate_ms = 0;
    conf->cache.stale_if_error_ms = -1; /* not given: CACHE_DEFAULT_STALE_IF_ERROR_MS (cache/policy.h), like CloudFront */
    if ((v = map_get(c, root, "cache")) != NULL) {
        static const char *const ckeys[] = {"memory", "max_object_size", "stale_while_revalidate", "stale_if_error", "disk", "ranges", NULL};
        static const char *const ranges[] = {"whole", "forward", NULL};
        if (expect_map(c, v, "cache") != 0 || check_keys(c, v, "cache", ckeys) != 0)
            return -1;
        if (opt_size(c, v, "cache", "memory", &at_least_1mb, &conf->cache.memory) != 0 ||
            opt_size(c, v, "cache", "max_object_size", &positive, &conf->cache.max_object_size) != 0 ||
            opt_enum(c, v, "cache", "ranges", ranges, "must be whole or forward", &conf->cache.ranges_forward) != 0)
            return -1;
        if (conf->cache.max_object_size > conf->cache.memory) /* 0 (not given) until the default below */
            return fail(c, map_get(c, v, "max_object_size"), "cache.max_object_size", "is larger than cache.memory");
        if (opt_duration_signed(c, v, "cache", "stale_while_revalidate", NULL, &conf->cache.stale_while_revalidate_ms) != 0 ||
            opt_duration_signed(c, v, "cache", "stale_if_error", NULL, &conf->cache.stale_if_error_ms) != 0)
            return -1;
        /* cache.disk: {path:, size:} (cache/disk.h) */
        yaml_node_t *dv = map_get(c, v, "disk");
        if (dv != NULL) {
            static const char *const dkeys[] = {"path", "size", NULL};
            static const bounds_t disk_size = {64ull << 20, 1ull << 50, "must be at least 64MB"};
            if (expect_map(c, dv, "cache.disk") != 0 || check_keys(c, dv, "cache.disk", dkeys) != 0 ||
                opt_string(c, dv, "cache.disk", "path", &conf->cache.disk_path) != 0 ||
                opt_size(c, dv, "cache.disk", "size", &disk_size, &conf->cache.disk_size) != 0)
                return -1;
            if (conf->cache.disk_path == NULL || conf->cache.disk_path[0] == '\0')
                return fail(c, dv, "cache.disk.path", "is required (a directory for the disk tier)");
            if (conf->cache.disk_size == 0)
                return fail(c, dv, "cache.disk.size", "is required (the bound of the disk tier, e.g. 10GB)");
        }
    }
    if (conf->cache.max_object_size == 0)
        conf->cache.max_object_size = conf->cache.memory / 8;

    /* kv stores (before the hooks, whose kv: lists name them) */
    if ((v = map_get(c, root, "kv")) != NULL && parse_kv(c, conf, v) != 0)
        return -1;

    /* hooks */
    if ((v = map_get(c, root, "hooks")) != NULL) {
        yaml_node_pair_t *p;
        if (expect_map(c, v, "hooks") != 0)
            return -1;
        conf->hooks = xcalloc(v->data.mapping.pairs.top - v->data.mapping.pairs.start, sizeof(conf_hook_t));
        for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; ++p) {
            const char *name = scalar(node_at(c, p->key));
            conf_hook_t *prev;
            if (name == NULL)
                return fail_type(c, node_at(c, p->key), "hooks", "a hook name");
            if (!valid_name(name) || strlen(name) > 128)
                return fail(c, node_at(c, p->key), "hooks", "\"%s\": a hook name is letters, digits, - _ . (at most 128)", name);
            snprintf(key, sizeof(key), "hooks.%s", name);
            if ((prev = conf_find_hook(conf, name)) != NULL)
                return fail(c, node_at(c, p->key), key, "duplicate key (first given on line %d)", prev->line);
            conf->hooks[conf->num_hooks].name = xstrdup(name);
            if (parse_hook(c, conf, node_at(c, p->value), key, &conf->hooks[conf->num_hooks++]) != 0)
                return -1;
        }
    }

    /* geoip (before behaviors: their CloudFront-Viewer-* geo headers need it) */
    if ((v = map_get(c, root, "geoip")) != NULL && parse_geoip(c, v, conf) != 0)
        return -1;

    /* error_pages (before behaviors, whose lists include them) */
    if ((v = map_get(c, root, "error_pages")) != NULL && parse_error_pages(c, v, "error_pages", &conf->error_pages) != 0)
        return -1;

    /* behaviors */
    if ((v = map_get(c, root, "behaviors")) == NULL)
        return fail(c, root, "behaviors", "at least one behavior is required (e.g. - {path: \"*\", origin: NAME})");
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_type(c, v, "behaviors", "a list of {path, origin, ...}");
    {
        yaml_node_item_t *it;
        size_t n = v->data.sequence.items.top - v->data.sequence.items.start;
        if (n == 0)
            return fail(c, v, "behaviors", "at least one behavior is required");
        conf->behaviors = xcalloc(n, sizeof(conf_behavior_t));
        for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
            conf_behavior_t *b = &conf->behaviors[conf->num_behaviors];
            snprintf(key, sizeof(key), "behaviors[%zu]", conf->num_behaviors++);
            if (parse_behavior(c, conf, node_at(c, *it), key, b) != 0)
                return -1;
            /* the first match wins, so a repeated pattern is dead configuration and almost always a mistake */
            for (conf_behavior_t *prev = conf->behaviors; prev < b; ++prev) {
                if (strcmp(prev->path, b->path) == 0) {
                    snprintf(key, sizeof(key), "behaviors[%zu].path", conf->num_behaviors - 1);
                    return fail(c, map_get(c, node_at(c, *it), "path"), key,
                                "\"%s\" is already the pattern of behaviors[%zu] (line %d), which wins: this one would never match",
                                b->path, (size_t)(prev - conf->behaviors), prev->line);
                }
                /* an earlier pattern that matches every path this one does leaves it nothing (a `*` before `/images/...`) */
                if (conf_pattern_covers(prev->path, b->path)) {
                    snprintf(key, sizeof(key), "behaviors[%zu].path", conf->num_behaviors - 1);
                    return fail(c, map_get(c, node_at(c, *it), "path"), key,
                                "\"%s\" can never match: behaviors[%zu] (\"%s\", line %d) comes first and matches every path it "
                                "does (the first match wins: put the more specific pattern first)",
                                b->path, (size_t)(prev - conf->behaviors), prev->path, prev->line);
                }
            }
        }
    }

    merge_error_pages(conf);

    /* store, admin */
    if ((v = map_get(c, root, "store")) != NULL && parse_store(c, conf, v, &conf->store) != 0)
        return -1;
    if ((v = map_get(c, root, "admin")) != NULL && parse_admin(c, v, &conf->admin) != 0)
        return -1;
    if ((v = map_get(c, root, "distribution")) != NULL && parse_distribution(c, v, conf) != 0)
        return -1;
    /* state_dir (hook versions and aliases, the async queue): given, or under the store's root, or ./edgehook-state */
    if ((v = map_get(c, root, "state_dir")) != NULL) {
        if (get_string(c, v, "state_dir", &conf->state_dir) != 0)
            return -1;
        if (conf->state_dir[0] == '\0')
            return fail(c, v, "state_dir", "must be a directory path");
        conf->state_dir_line = (int)node_line(c, v);
    } else if (conf->store.enabled) {
        conf->state_dir = xcalloc(1, strlen(conf->store.root) + sizeof("/.edgehook"));
        sprintf(conf->state_dir, "%s/.edgehook", conf->store.root);
    } else {
        conf->state_dir = xstrdup("./edgehook-state");
    }
    if ((v = map_get(c, root, "node_name")) != NULL) {
        if (get_string(c, v, "node_name", &conf->node_name) != 0)
            return -1;
        size_t nl = strlen(conf->node_name);
        if (nl == 0 || nl > 63 ||
            strspn(conf->node_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != nl)
            return fail(c, v, "node_name", "must be 1-63 letters, digits, '.', '-' or '_' (it goes into Via and X-Served-By)");
    }
    conf->async_queue.max_events = 100000;
    conf->async_queue.max_bytes = 256u << 20;
    conf->async_queue.threads = 2;
    conf->async_queue.visibility_ms = 15 * 60000;
    if ((v = map_get(c, root, "async_queue")) != NULL && parse_async_queue(c, v, conf) != 0)
        return -1;
    if ((v = map_get(c, root, "fleet")) != NULL && parse_fleet(c, v, conf) != 0)
        return -1;

    /* cross checks */
    for (size_t i = 0; i != conf->num_origins; ++i) {
        if (conf->origins[i].embedded && !conf->store.enabled) {
            yaml_node_t *o = map_get(c, map_get(c, root, "origins"), conf->origins[i].name);
            snprintf(key, sizeof(key), "origins.%s.endpoint", conf->origins[i].name);
            return fail(c, map_get(c, o, "endpoint"), key, "embedded needs a store: section (the embedded S3 store is off)");
        }
    }
    return check_listeners(c, conf, map_get(c, root, "listen")->type == YAML_MAPPING_NODE);
}

static int is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* two listeners on one address cannot both bind (SO_REUSEADDR only, and a wildcard address covers every other one) */
static int check_listeners(ctx_t *c, conf_t *conf, int listen_is_map)
{
    struct {
        conf_listen_t *l;
        char key[32];
    } *all = xcalloc(conf->num_listen + 2, sizeof(*all));
    size_t n = 0;
    int r = 0;
    for (size_t i = 0; i != conf->num_listen; ++i) {
        all[n].l = &conf->listen[i];
        if (listen_is_map)
            snprintf(all[n++].key, sizeof(all[0].key), "listen");
        else
            snprintf(all[n++].key, sizeof(all[0].key), "listen[%zu]", i);
    }
    if (conf->store.enabled) {
        all[n].l = &conf->store.listen;
        snprintf(all[n++].key, sizeof(all[0].key), "store.listen");
    }
    if (conf->admin.enabled) {
        all[n].l = &conf->admin.listen;
        snprintf(all[n++].key, sizeof(all[0].key), "admin.listen");
    }
    for (size_t i = 0; i != n && r == 0; ++i) {
        conf_listen_t *a = all[i].l;
        for (size_t j = 0; j != i; ++j) {
            conf_listen_t *b = all[j].l;
            if (a->port != 0 && a->port == b->port &&
                (strcmp(a->host, b->host) == 0 || is_wildcard(a->host) || is_wildcard(b->host))) {
                r = fail_line(c, (unsigned long)a->line, all[i].key, "%s port %u is already used by %s (line %d)", a->host, a->port,
                              all[j].key, b->line);
                break;
            }
        }
    }
    free(all);
    return r;
}

conf_origin_t *conf_find_origin(conf_t *conf, const char *name)
{
    for (size_t i = 0; i != conf->num_origins; ++i)
        if (conf->origins[i].name != NULL && strcmp(conf->origins[i].name, name) == 0)
            return &conf->origins[i];
    return NULL;
}

conf_hook_t *conf_find_hook(conf_t *conf, const char *name)
{
    for (size_t i = 0; i != conf->num_hooks; ++i)
        if (conf->hooks[i].name != NULL && strcmp(conf->hooks[i].name, name) == 0)
            return &conf->hooks[i];
    return NULL;
}

conf_kv_store_t *conf_find_kv(conf_t *conf, const char *name)
{
    for (size_t i = 0; i != conf->num_kv; ++i)
        if (conf->kv[i].name != NULL && strcmp(conf->kv[i].name, name) == 0)
            return &conf->kv[i];
    return NULL;
}

static void free_namelist(conf_namelist_t *l)
{
    for (size_t i = 0; i != l->count; ++i)
        free(l->names[i]);
    free(l->names);
}

static void free_credentials(conf_credentials_t *c)
{
    free(c->access_key);
    free(c->secret_key);
    free(c->session_token);
    free(c->access_key_env);
    free(c->secret_key_env);
    free(c->session_token_env);
    free(c->secret_key_file);
    free(c->profile);
    free(c->shared_credentials_file);
}

static void free_listen(conf_listen_t *l)
{
    free(l->host);
    free(l->tls_certificate);
    free(l->tls_key);
}

void conf_free(conf_t *conf)
{
    size_t i;
    if (conf == NULL)
        return;
    conf_diff_free(conf);
    free(conf->file);
    free(conf->geoip.database);
    free(conf->geoip.asn_database);
    for (i = 0; i != conf->num_listen; ++i)
        free_listen(&conf->listen[i]);
    free(conf->listen);
    free(conf->access_log.path);
    free(conf->cache.disk_path);
    free(conf->error_log.path);
    free(conf->distribution.id);
    free(conf->distribution.domain_name);
    for (i = 0; i != conf->num_origins; ++i) {
        conf_origin_t *o = &conf->origins[i];
        free(o->name);
        free(o->host);
        free(o->path_prefix);
        free(o->host_header);
        free(o->sni);
        free(o->ca_file);
        free(o->bucket);
        free(o->region);
        free_credentials(&o->credentials);
        for (size_t j = 0; j != o->num_parents; ++j) {
            free(o->parents[j].name);
            free(o->parents[j].host);
            free(o->parents[j].health_host);
            free(o->parents[j].health_path);
        }
        free(o->parents);
    }
    free(conf->node_name);
    free(conf->origins);
    for (i = 0; i != conf->num_hooks; ++i) {
        free(conf->hooks[i].name);
        free(conf->hooks[i].lua);
        free(conf->hooks[i].native);
        free(conf->hooks[i].config_json);
        free_namelist(&conf->hooks[i].fetch_allow);
        free_namelist(&conf->hooks[i].kv);
        free(conf->hooks[i].async.on_failure);
        free(conf->hooks[i].async.on_success);
    }
    for (i = 0; i != conf->num_kv; ++i) {
        free(conf->kv[i].name);
        free(conf->kv[i].path);
    }
    free(conf->kv);
    free(conf->hooks);
    for (i = 0; i != conf->num_behaviors; ++i) {
        conf_behavior_t *b = &conf->behaviors[i];
        free(b->path);
        free(b->origin_name);
        free_namelist(&b->cache.query);
        free_namelist(&b->cache.headers);
        free_namelist(&b->cache.cookies);
        free_namelist(&b->origin_request.headers);
        free_namelist(&b->origin_request.cookies);
        for (int j = 0; j != CONF_HOOK_NUM; ++j)
            free(b->hooks[j]);
        free_error_pages(&b->error_pages);
    }
    free(conf->behaviors);
    free_error_pages(&conf->error_pages);
    free_listen(&conf->store.listen);
    free(conf->store.root);
    free(conf->state_dir);
    free(conf->store.domain);
    free(conf->store.region);
    for (size_t i = 0; i != conf->store.num_keys; ++i) {
        free_credentials(&conf->store.keys[i].cred);
        for (size_t j = 0; j != conf->store.keys[i].num_buckets; ++j)
            free(conf->store.keys[i].buckets[j]);
        free(conf->store.keys[i].buckets);
    }
    free(conf->store.keys);
    for (size_t i = 0; i != conf->store.num_seeds; ++i) {
        free(conf->store.seeds[i].bucket);
        free(conf->store.seeds[i].dir);
        free(conf->store.seeds[i].cors);
        free(conf->store.seeds[i].cors_xml);
    }
    free(conf->store.seeds);
    for (size_t i = 0; i != conf->store.num_notifications; ++i) {
        conf_store_notification_t *r = &conf->store.notifications[i];
        free(r->bucket);
        free(r->id);
        free(r->function);
        free(r->prefix);
        free(r->suffix);
        for (size_t j = 0; j != r->num_events; ++j)
            free(r->events[j]);
        free(r->events);
    }
    free(conf->store.notifications);
    free_listen(&conf->admin.listen);
    free(conf->admin.token);
    free(conf->admin.token_env);
    free_namelist(&conf->admin.plugin_dirs);
    free_namelist(&conf->fleet.etcd);
    free(conf->fleet.prefix);
    free(conf->fleet.node);
    free(conf);
}

static void syntax_error(yaml_parser_t *parser, const char *name, const char *yaml, size_t len, char *err, size_t errlen)
{
    unsigned long line = (unsigned long)parser->problem_mark.line;
    char where[64] = "";
    if (parser->error == YAML_READER_ERROR) { /* a reader error (bad encoding) has no mark, only a byte offset */
        line = 0;
        for (size_t i = 0; i < parser->problem_offset && i < len; ++i)
            line += yaml[i] == '\n';
    }
    /* at the end of the input after a final newline, the mark is on a line that does not exist: name the last one */
    if (parser->error != YAML_READER_ERROR && parser->problem_mark.index >= len && parser->problem_mark.column == 0 && line > 0)
        --line;
    /* "... while parsing a flow sequence" is only useful with where that sequence starts */
    if (parser->context != NULL && parser->context_mark.line != line)
        snprintf(where, sizeof(where), " that starts on line %lu", (unsigned long)parser->context_mark.line + 1);
    snprintf(err, errlen, "%s:%lu: (syntax): %s%s%s%s", name, line + 1, parser->problem != NULL ? parser->problem : "invalid YAML",
             parser->context != NULL ? " " : "", parser->context != NULL ? parser->context : "", where);
}

/* records for every map value the line of its key: see node_line() */
static void index_owner_lines(ctx_t *c)
{
    size_t n = c->doc.nodes.top - c->doc.nodes.start;
    c->owner_line = xcalloc(n, sizeof(int));
    for (yaml_node_t *m = c->doc.nodes.start; m < c->doc.nodes.top; ++m) {
        if (m->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; ++p) {
            yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
            if (k != NULL && v != NULL)
                c->owner_line[v - c->doc.nodes.start] = (int)k->start_mark.line + 1;
        }
    }
}

/* the dotted key of node n (`origins.web.url`, `listen[0].port`) found by walking up its first parent; for messages about a
 * node met outside the parse (the ${VAR} expansion) */
static void key_path(ctx_t *c, const int *parent, const int *slot, yaml_node_t *n, char *buf, size_t len)
{
    int chain[64], depth = 0, id = (int)(n - c->doc.nodes.start) + 1;
    size_t o = 0;
    while (parent[id - 1] != 0 && depth != 64) {
        chain[depth++] = id;
        id = parent[id - 1];
    }
    buf[0] = '\0';
    while (depth-- > 0 && o + 1 < len) {
        yaml_node_t *p = node_at(c, parent[chain[depth] - 1]);
        if (p->type == YAML_SEQUENCE_NODE)
            o += snprintf(buf + o, len - o, "[%d]", slot[chain[depth] - 1]);
        else
            o += snprintf(buf + o, len - o, "%s%s", o != 0 ? "." : "",
                          scalar(node_at(c, slot[chain[depth] - 1])) != NULL ? scalar(node_at(c, slot[chain[depth] - 1])) : "?");
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "(file)");
}

/* expands ${VAR} / ${VAR:-default} in every scalar that is a value, not a key (conf_expand_env), before anything reads them */
static int expand_env(ctx_t *c)
{
    size_t n = c->doc.nodes.top - c->doc.nodes.start;
    int *parent = xcalloc(n, sizeof(int)), *slot = xcalloc(n, sizeof(int)), r = 0;
    char *is_key = xcalloc(n, 1);
    for (yaml_node_t *m = c->doc.nodes.start; m < c->doc.nodes.top; ++m) {
        int id = (int)(m - c->doc.nodes.start) + 1;
        if (m->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; ++p) {
                is_key[p->key - 1] = 1;
                if (parent[p->value - 1] == 0 && p->value != id) {
                    parent[p->value - 1] = id;
                    slot[p->value - 1] = p->key;
                }
            }
        } else if (m->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = m->data.sequence.items.start; it < m->data.sequence.items.top; ++it)
                if (parent[*it - 1] == 0 && *it != id) {
                    parent[*it - 1] = id;
                    slot[*it - 1] = (int)(it - m->data.sequence.items.start);
                }
        }
    }
    for (yaml_node_t *m = c->doc.nodes.start; r == 0 && m < c->doc.nodes.top; ++m) {
        char *out, why[512], key[256];
        if (m->type != YAML_SCALAR_NODE || is_key[m - c->doc.nodes.start])
            continue;
        if (conf_expand_env((const char *)m->data.scalar.value, &out, why, sizeof(why)) != 0) {
            key_path(c, parent, slot, m, key, sizeof(key));
            r = fail(c, m, key, "%s", why);
        } else if (out != NULL) {
            free(m->data.scalar.value); /* libyaml's yaml_free is free() */
            m->data.scalar.value = (yaml_char_t *)out;
            m->data.scalar.length = strlen(out);
        }
    }
    free(parent);
    free(slot);
    free(is_key);
    return r;
}

conf_t *conf_load_string(const char *name, const char *yaml, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    ctx_t c;
    conf_t *conf = xcalloc(1, sizeof(*conf));

    memset(&c, 0, sizeof(c));
    c.file = name;
    c.err = err;
    c.errlen = errlen;
    conf->file = xstrdup(name);
    err[0] = '\0';
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s:1: (syntax): cannot initialise the YAML parser", name);
        conf_free(conf);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &c.doc)) {
        syntax_error(&parser, name, yaml, len, err, errlen);
        yaml_parser_delete(&parser);
        conf_free(conf);
        return NULL;
    }
    /* a second document (after ---) would be silently ignored: refuse it */
    if (yaml_document_get_root_node(&c.doc) != NULL) {
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(&parser, name, yaml, len, err, errlen);
            c.failed = 1;
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2 != NULL)
                fail_line(&c, (unsigned long)extra.start_mark.line + 1, "(file)",
                          "a second YAML document starts here: a config file holds one");
            yaml_document_delete(&extra);
        }
    }
    if (!c.failed) {
        index_owner_lines(&c);
        if (expand_env(&c) == 0 && parse_root(&c, conf, yaml_document_get_root_node(&c.doc)) != 0 && !c.failed)
            snprintf(err, errlen, "%s:1: (file): invalid configuration", name);
        else
            conf_diff_index(conf, &c.doc); /* what a reload compares */
    }
    if (c.failed || err[0] != '\0') {
        conf_free(conf);
        conf = NULL;
    }
    free(c.owner_line);
    yaml_document_delete(&c.doc);
    yaml_parser_delete(&parser);
    return conf;
}

conf_t *conf_load(const char *file, char *err, size_t errlen)
{
    FILE *fp;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    conf_t *conf;

    if ((fp = fopen(file, "rb")) == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    do {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) {
                snprintf(err, errlen, "%s: file too large", file);
                free(buf);
                fclose(fp);
                return NULL;
            }
            if ((buf = realloc(buf, cap)) == NULL)
                abort();
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n != 0);
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error: %s", file, strerror(errno));
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    conf = conf_load_string(file, buf, len, err, errlen);
    free(buf);
    return conf;
}
