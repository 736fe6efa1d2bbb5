/* proxy/fleetwire.c - what the fleet reads from etcd, checked (see fleetwire.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/fleetwire.h"
#include "base/str.h"

const char *const fleet_purge_kinds[4] = {"url", "prefix", "tag", "all"};

long long fleet_int_member(const hook_json_t *o, const char *name)
{
    const hook_json_t *v = hook_json_get(o, name);
    if (v == NULL)
        return 0;
    if (v->type == HOOK_JSON_NUMBER)
        return v->number >= -9.2e18 && v->number <= 9.2e18 ? (long long)v->number : 0;
    if (v->type == HOOK_JSON_STRING)
        return strtoll(v->str, NULL, 10);
    return 0;
}

void fleet_b64(hook_buf_t *b, const void *p, size_t len)
{
    char *enc = malloc(EDGE_BASE64_ENCODED_SIZE(len));
    if (enc == NULL)
        abort();
    size_t n = edge_base64_encode(enc, p, len);
    hook_buf_append(b, "\"", 1);
    hook_buf_append(b, enc, n);
    hook_buf_append(b, "\"", 1);
    free(enc);
}

/* a base64 member of o, decoded and NUL-terminated (absent: empty, as the gateway omits empty values); NULL if not base64 */
static char *b64_member(const hook_json_t *o, const char *name, size_t *len)
{
    const hook_json_t *v = hook_json_get(o, name);
    size_t sl = 0;
    const char *s = "";
    if (v != NULL) {
        if (v->type != HOOK_JSON_STRING)
            return NULL;
        s = v->str;
        sl = v->len;
    }
    char *out = malloc(3 * ((sl + 3) / 4) + 1);
    if (out == NULL)
        abort();
    long d = sl == 0 ? 0 : edge_base64_decode(out, s, sl, EDGE_BASE64_STRICT);
    if (d < 0) {
        free(out);
        return NULL;
    }
    out[d] = '\0';
    *len = (size_t)d;
    return out;
}

static void add_kv(fleet_watch_msg_t *m, const hook_json_t *kv, int del)
{
    fleet_kv_t e = {.del = del};
    if (kv == NULL || kv->type != HOOK_JSON_OBJECT || (e.key = b64_member(kv, "key", &e.klen)) == NULL)
        return;
    if ((e.val = b64_member(kv, "value", &e.vlen)) == NULL) {
        free(e.key);
        return;
    }
    e.mod_revision = fleet_int_member(kv, "mod_revision");
    fleet_kv_t *n = realloc(m->events, (m->num_events + 1) * sizeof(*n));
    if (n == NULL)
        abort();
    m->events = n;
    m->events[m->num_events++] = e;
}

static int is_true(const hook_json_t *v)
{
    return v != NULL && v->type == HOOK_JSON_TRUE;
}

void fleet_watch_decode(const hook_json_t *msg, fleet_watch_msg_t *out)
{
    const hook_json_t *res = hook_json_get(msg, "result"), *events;
    memset(out, 0, sizeof(*out));
    if (res == NULL || res->type != HOOK_JSON_OBJECT) {
        out->error = 1;
        return;
    }
    out->created = is_true(hook_json_get(res, "created"));
    out->canceled = is_true(hook_json_get(res, "canceled"));
    out->compact_revision = fleet_int_member(res, "compact_revision");
    out->header_revision = fleet_int_member(hook_json_get(res, "header"), "revision");
    if ((events = hook_json_get(res, "events")) == NULL || events->type != HOOK_JSON_ARRAY)
        return;
    for (size_t i = 0; i != events->count; ++i) {
        const hook_json_t *ev = events->items[i];
        const char *type = hook_json_string(hook_json_get(ev, "type"), NULL);
        add_kv(out, hook_json_get(ev, "kv"), type != NULL && strcmp(type, "DELETE") == 0);
    }
}

void fleet_range_decode(const hook_json_t *answer, fleet_watch_msg_t *out)
{
    const hook_json_t *kvs = hook_json_get(answer, "kvs");
    memset(out, 0, sizeof(*out));
    out->header_revision = fleet_int_member(hook_json_get(answer, "header"), "revision");
    for (size_t i = 0; kvs != NULL && kvs->type == HOOK_JSON_ARRAY && i != kvs->count; ++i)
        add_kv(out, kvs->items[i], 0);
}

void fleet_watch_free(fleet_watch_msg_t *m)
{
    for (size_t i = 0; i != m->num_events; ++i) {
        free(m->events[i].key);
        free(m->events[i].val);
    }
    free(m->events);
    m->events = NULL;
    m->num_events = 0;
}

/* a name: 1..FLEET_NAME_MAX bytes, no '/', no control byte or DEL */
static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > FLEET_NAME_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

fleet_key_kind_t fleet_key_parse(const char *prefix, const char *key, size_t klen, fleet_key_t *out)
{
    static const struct {
        const char *head;
        fleet_key_kind_t kind;
        int parts; /* 1: a; 2: a/b (b a name); 3: a/b with b any bytes */
    } kinds[] = {{"nodes/", FLEET_KEY_NODE, 1},
                 {"ack/", FLEET_KEY_ACK, 2},
                 {"purge/", FLEET_KEY_PURGE, 1},
                 {"alias/", FLEET_KEY_ALIAS, 2},
                 {"kv/", FLEET_KEY_KV, 3},
                 {"versions/", FLEET_KEY_VERSION, 2},
                 {"latest/", FLEET_KEY_LATEST, 1}};
    size_t pl = strlen(prefix);
    memset(out, 0, sizeof(*out));
    if (klen <= pl + 1 || memcmp(key, prefix, pl) != 0 || key[pl] != '/')
        return FLEET_KEY_OTHER;
    const char *rel = key + pl + 1;
    size_t rlen = klen - pl - 1;
    for (size_t k = 0; k != sizeof(kinds) / sizeof(kinds[0]); ++k) {
        size_t hl = strlen(kinds[k].head);
        if (rlen <= hl || memcmp(rel, kinds[k].head, hl) != 0)
            continue;
        const char *a = rel + hl;
        size_t alen = rlen - hl;
        if (kinds[k].parts == 1) {
            if (!name_ok(a, alen))
                return FLEET_KEY_OTHER;
            out->a = a;
            out->alen = alen;
        } else {
            const char *slash = memchr(a, '/', alen);
            if (slash == NULL || !name_ok(a, (size_t)(slash - a)))
                return FLEET_KEY_OTHER;
            out->a = a;
            out->alen = (size_t)(slash - a);
            out->b = slash + 1;
            out->blen = (size_t)(a + alen - slash - 1);
            if (out->blen == 0 || (kinds[k].parts == 2 && !name_ok(out->b, out->blen)) || (kinds[k].parts == 3 && out->blen > 512)) {
                memset(out, 0, sizeof(*out));
                return FLEET_KEY_OTHER;
            }
        }
        if (kinds[k].kind == FLEET_KEY_VERSION && fleet_version_number(out->b, out->blen) == 0) {
            memset(out, 0, sizeof(*out));
            return FLEET_KEY_OTHER;
        }
        return out->kind = kinds[k].kind;
    }
    return FLEET_KEY_OTHER;
}

unsigned fleet_version_number(const char *s, size_t len)
{
    unsigned long n = 0;
    if (len == 0 || len > 9 || s[0] == '0')
        return 0;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        n = n * 10 + (unsigned long)(s[i] - '0');
    }
    return (unsigned)n;
}

int fleet_version_parse(const char *val, size_t len, hook_json_t **doc, fleet_version_t *out, char *err, size_t errlen)
{
    char perr[128];
    const hook_json_t *v;
    memset(out, 0, sizeof(*out));
    *doc = hook_json_parse_max(val, len, 64, perr, sizeof(perr));
    if (*doc == NULL) {
        snprintf(err, errlen, "not JSON: %s", perr);
        return -1;
    }
    if ((*doc)->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "not an object");
        goto Fail;
    }
    out->node = hook_json_string(hook_json_get(*doc, "node"), NULL);
    if (out->node == NULL || !name_ok(out->node, strlen(out->node))) {
        snprintf(err, errlen, "no node");
        goto Fail;
    }
    const char *sha = hook_json_string(hook_json_get(*doc, "sha256"), NULL);
    if (sha == NULL || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
        snprintf(err, errlen, "no sha256 (64 lowercase hex digits)");
        goto Fail;
    }
    memcpy(out->sha256, sha, 65);
    const char *ext = hook_json_string(hook_json_get(*doc, "ext"), NULL);
    if (ext == NULL || (strcmp(ext, "lua") != 0 && strcmp(ext, "so") != 0)) {
        snprintf(err, errlen, "ext is lua or so");
        goto Fail;
    }
    out->is_lua = strcmp(ext, "lua") == 0;
    if ((v = hook_json_get(*doc, "size")) == NULL || v->type != HOOK_JSON_NUMBER || !(v->number >= 0) ||
        v->number > (double)FLEET_CODE_MAX || v->number != (double)(size_t)v->number) {
        snprintf(err, errlen, "size is 0..%u bytes", FLEET_CODE_MAX);
        goto Fail;
    }
    out->size = (size_t)v->number;
    return 0;
Fail:
    hook_json_free(*doc);
    *doc = NULL;
    memset(out, 0, sizeof(*out));
    return -1;
}

int fleet_alias_parse(const char *val, size_t len, fleet_alias_t *out, char *err, size_t errlen)
{
    char perr[128];
    hook_json_t *doc = hook_json_parse_max(val, len, 64, perr, sizeof(perr));
    const hook_json_t *vs = doc != NULL ? hook_json_get(doc, "versions") : NULL, *k = doc != NULL ? hook_json_get(doc, "key") : NULL;
    double sum = 0;
    memset(out, 0, sizeof(*out));
    if (doc == NULL) {
        snprintf(err, errlen, "not JSON: %s", perr);
        return -1;
    }
    if (vs == NULL || vs->type != HOOK_JSON_OBJECT || vs->count < 1 || vs->count > 2) {
        snprintf(err, errlen, "\"versions\" is not an object of one or two versions");
        goto fail;
    }
    for (size_t i = 0; i != vs->count; ++i) {
        char *end;
        unsigned long v = strtoul(vs->keys[i], &end, 10);
        double w = vs->items[i]->number;
        if (vs->keys[i][0] < '1' || vs->keys[i][0] > '9' || *end != '\0' || v > 4294967295ul || vs->items[i]->type != HOOK_JSON_NUMBER ||
            !(w > 0 && w <= 1)) {
            snprintf(err, errlen, "version #%zu is not a number >= 1 with a weight in (0, 1]", i + 1);
            goto fail;
        }
        if (i == 1 && v == out->versions[0]) {
            snprintf(err, errlen, "the same version twice");
            goto fail;
        }
        out->versions[i] = (unsigned)v;
        out->weights[i] = w;
        sum += w;
    }
    if (fabs(sum - 1) > 1e-6) {
        snprintf(err, errlen, "the weights do not sum to 1");
        goto fail;
    }
    out->n = vs->count;
    if (k != NULL && (k->type != HOOK_JSON_STRING || k->len == 0 || k->len >= sizeof(out->key) || strlen(k->str) != k->len)) {
        snprintf(err, errlen, "\"key\" is not a short string");
        goto fail;
    }
    snprintf(out->key, sizeof(out->key), "%s", k != NULL ? k->str : "ip");
    const hook_json_t *sha = hook_json_get(doc, "sha256");
    if (sha != NULL && sha->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "\"sha256\" is not an object");
        goto fail;
    }
    for (size_t i = 0; sha != NULL && i != out->n; ++i) {
        char num[16];
        snprintf(num, sizeof(num), "%u", out->versions[i]);
        const hook_json_t *h = hook_json_get(sha, num);
        if (h == NULL)
            continue;
        if (h->type != HOOK_JSON_STRING || h->len != 64 || strspn(h->str, "0123456789abcdef") != 64) {
            snprintf(err, errlen, "the sha256 of version %u is not 64 lowercase hex digits", out->versions[i]);
            goto fail;
        }
        memcpy(out->sha256[i], h->str, 65);
    }
    hook_json_free(doc);
    return 0;
fail:
    hook_json_free(doc);
    out->n = 0;
    return -1;
}

int fleet_purge_parse(const char *val, size_t len, hook_json_t **doc, fleet_purge_t *out, char *err, size_t errlen)
{
    char perr[128];
    size_t nl = 0;
    const char *kind;
    memset(out, 0, sizeof(*out));
    if ((*doc = hook_json_parse_max(val, len, 64, perr, sizeof(perr))) == NULL) {
        snprintf(err, errlen, "not JSON: %s", perr);
        return -1;
    }
    out->node = hook_json_string(hook_json_get(*doc, "node"), &nl);
    out->arg = hook_json_string(hook_json_get(*doc, "arg"), &out->arglen);
    kind = hook_json_string(hook_json_get(*doc, "kind"), NULL);
    out->soft = is_true(hook_json_get(*doc, "soft"));
    for (out->kind = 0; kind != NULL && out->kind != 4 && strcmp(fleet_purge_kinds[out->kind], kind) != 0; ++out->kind)
        ;
    if (out->node == NULL || !name_ok(out->node, nl) || strlen(out->node) != nl) {
        snprintf(err, errlen, "no node");
    } else if (kind == NULL || out->kind == 4) {
        snprintf(err, errlen, "unknown kind");
    } else if (out->arg == NULL || (out->arglen == 0 && out->kind != 3) || out->arglen > 8192) {
        snprintf(err, errlen, "no argument");
    } else {
        return 0;
    }
    hook_json_free(*doc);
    *doc = NULL;
    return -1;
}
