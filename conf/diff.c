/* conf/diff.c - fingerprints of a configuration's parts, and the difference between two configurations (POST /reload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "conf/config.h"
#include "conf/diff.h"

/* aliases can make a document a deep graph, even a cyclic one (an alias inside the node it names): a part deeper than this
 * hashes as its type only (no part of a real config is this deep; the bound keeps the recursion's stack small) */
#define MAX_DEPTH 64

static void *xrealloc(void *p, size_t n)
{
    if ((p = realloc(p, n)) == NULL) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

/* FNV-1a, 64 bits: parts are compared with the same process's hashes only */
static uint64_t mix(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;
    for (size_t i = 0; i != len; ++i)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* what hashing one document needs: each node's own hash is kept once computed, so a graph of aliases (`b: [*a, *a, ...]`,
 * nested) hashes in time linear in its nodes, not in its expansion (an "alias bomb" of 10^9 nodes took minutes) */
typedef struct hash_ctx {
    yaml_document_t *doc;
    uint64_t *memo;
    unsigned char *done; /* NODE_* */
} hash_ctx_t;

enum { NODE_NEW = 0, NODE_DONE = 1, NODE_HASHING = 2 };

/* the hash of node n's content, computed once per node whatever the paths to it (a node met again while it is being hashed -
 * a cycle of aliases - hashes as its type only; so does a part deeper than MAX_DEPTH below the first path to it). Every
 * result is kept: the work is linear in the document's nodes whatever the aliases do (keeping only whole results made a
 * 64-deep fan of aliases exponential: a fuzzed 150-byte config took minutes). */
static uint64_t node_hash(hash_ctx_t *x, yaml_node_t *n, int depth)
{
    char tag = n == NULL ? '0' : n->type == YAML_SCALAR_NODE ? 's' : n->type == YAML_SEQUENCE_NODE ? 'l' : 'm';
    uint64_t h = mix(0xcbf29ce484222325ull, &tag, 1);
    if (n == NULL)
        return h;
    size_t id = (size_t)(n - x->doc->nodes.start);
    if (x->done[id] == NODE_DONE)
        return x->memo[id];
    if (x->done[id] == NODE_HASHING || depth > MAX_DEPTH)
        return h;
    x->done[id] = NODE_HASHING;
    if (n->type == YAML_SCALAR_NODE) {
        uint64_t len = n->data.scalar.length;
        h = mix(h, &len, sizeof(len));
        h = mix(h, n->data.scalar.value, n->data.scalar.length);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
            uint64_t c = node_hash(x, yaml_document_get_node(x->doc, *it), depth + 1);
            h = mix(h, &c, sizeof(c));
        }
    } else {
        /* a map's keys in any order: the sum of its pairs' hashes */
        uint64_t sum = 0;
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; ++pr) {
            uint64_t kv[2] = {node_hash(x, yaml_document_get_node(x->doc, pr->key), depth + 1),
                              node_hash(x, yaml_document_get_node(x->doc, pr->value), depth + 1)};
            sum += mix(0xcbf29ce484222325ull, kv, sizeof(kv));
        }
        h = mix(h, &sum, sizeof(sum));
    }
    x->memo[id] = h;
    x->done[id] = NODE_DONE;
    return h;
}

static uint64_t hash_node(hash_ctx_t *x, yaml_node_t *n)
{
    return node_hash(x, n, 0);
}

static void add_part(conf_t *conf, const char *name, uint64_t hash)
{
    conf->parts = xrealloc(conf->parts, sizeof(*conf->parts) * (conf->num_parts + 1));
    conf->parts[conf->num_parts].name = xstrdup(name);
    conf->parts[conf->num_parts].hash = hash;
    ++conf->num_parts;
}

static const char *scalar(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* behaviors are named by their path pattern (what `path:` holds), or by their position when they have none */
static void index_behaviors(conf_t *conf, hash_ctx_t *x, const char *section, yaml_node_t *seq)
{
    yaml_document_t *doc = x->doc;
    char name[1100];
    uint64_t order = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; ++it, ++i) {
        yaml_node_t *b = yaml_document_get_node(doc, *it);
        const char *path = NULL;
        if (b != NULL && b->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *pr = b->data.mapping.pairs.start; pr < b->data.mapping.pairs.top && path == NULL; ++pr)
                if (scalar(yaml_document_get_node(doc, pr->key)) != NULL &&
                    strcmp(scalar(yaml_document_get_node(doc, pr->key)), "path") == 0)
                    path = scalar(yaml_document_get_node(doc, pr->value));
        if (path != NULL)
            snprintf(name, sizeof(name), "%s.%s", section, path);
        else
            snprintf(name, sizeof(name), "%s[%zu]", section, i);
        add_part(conf, name, hash_node(x, b));
        order = mix(order, name, strlen(name) + 1);
    }
    snprintf(name, sizeof(name), "%s (order)", section);
    add_part(conf, name, order);
}

void conf_diff_index(conf_t *conf, yaml_document_t *doc)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    char name[1100];
    if (root == NULL || root->type != YAML_MAPPING_NODE)
        return;
    size_t n = (size_t)(doc->nodes.top - doc->nodes.start);
    hash_ctx_t x = {doc, xrealloc(NULL, n * sizeof(uint64_t)), xrealloc(NULL, n)};
    memset(x.done, 0, n);
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; ++pr) {
        const char *key = scalar(yaml_document_get_node(doc, pr->key));
        yaml_node_t *v = yaml_document_get_node(doc, pr->value);
        if (key == NULL)
            continue;
        if ((strcmp(key, "origins") == 0 || strcmp(key, "hooks") == 0) && v != NULL && v->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; ++q) {
                const char *item = scalar(yaml_document_get_node(doc, q->key));
                if (item == NULL)
                    continue;
                snprintf(name, sizeof(name), "%s.%s", key, item);
                add_part(conf, name, hash_node(&x, yaml_document_get_node(doc, q->value)));
            }
        } else if ((strcmp(key, "behaviors") == 0 || strcmp(key, "behaviours") == 0) && v != NULL &&
                   v->type == YAML_SEQUENCE_NODE) {
            index_behaviors(conf, &x, "behaviors", v);
        } else {
            add_part(conf, key, hash_node(&x, v));
        }
    }
    free(x.memo);
    free(x.done);
}

void conf_diff_free(conf_t *conf)
{
    for (size_t i = 0; i != conf->num_parts; ++i)
        free(conf->parts[i].name);
    free(conf->parts);
    conf->parts = NULL;
    conf->num_parts = 0;
}

static const conf_part_t *find_part(const conf_t *conf, const char *name)
{
    for (size_t i = 0; i != conf->num_parts; ++i)
        if (strcmp(conf->parts[i].name, name) == 0)
            return &conf->parts[i];
    return NULL;
}

typedef struct {
    char *p;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_name(out_t *o, const char *name, int *first)
{
    char buf[2300];
    if (!*first)
        put(o, ",", 1);
    *first = 0;
    put(o, buf, edge_json_string(buf, sizeof(buf), name, strlen(name)));
}

char *conf_diff_json(const conf_t *old, const conf_t *new, size_t *num_changes)
{
    out_t o = {NULL, 0, 0};
    int first;
    *num_changes = 0;
    put(&o, "{\"added\":[", 10);
    first = 1;
    for (size_t i = 0; i != new->num_parts; ++i)
        if (find_part(old, new->parts[i].name) == NULL && strstr(new->parts[i].name, " (order)") == NULL) {
            put_name(&o, new->parts[i].name, &first);
            ++*num_changes;
        }
    put(&o, "],\"removed\":[", 13);
    first = 1;
    for (size_t i = 0; i != old->num_parts; ++i)
        if (find_part(new, old->parts[i].name) == NULL && strstr(old->parts[i].name, " (order)") == NULL) {
            put_name(&o, old->parts[i].name, &first);
            ++*num_changes;
        }
    put(&o, "],\"changed\":[", 13);
    first = 1;
    /* the behaviors' order is news only when the same behaviors moved (an added or removed one changes it anyway) */
    int same_behaviors = 1;
    for (size_t i = 0; i != new->num_parts; ++i)
        if (strncmp(new->parts[i].name, "behaviors", 9) == 0 && find_part(old, new->parts[i].name) == NULL)
            same_behaviors = 0;
    for (size_t i = 0; i != old->num_parts; ++i)
        if (strncmp(old->parts[i].name, "behaviors", 9) == 0 && find_part(new, old->parts[i].name) == NULL)
            same_behaviors = 0;
    for (size_t i = 0; i != new->num_parts; ++i) {
        const conf_part_t *was = find_part(old, new->parts[i].name);
        if (!same_behaviors && strstr(new->parts[i].name, " (order)") != NULL)
            continue;
        if (was != NULL && was->hash != new->parts[i].hash) {
            put_name(&o, new->parts[i].name, &first);
            ++*num_changes;
        }
    }
    put(&o, "]}", 2);
    return o.p;
}
