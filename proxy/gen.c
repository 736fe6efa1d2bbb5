/* proxy/gen.c - builds behaviors and origins from a config, and matches request paths to behaviors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/gen.h"
#include "proxy/parents.h"
#include "base/log.h"
#include "proxy/s3origin.h"

static _Atomic uint64_t next_gen_id = 1;

int gen_pattern_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    /* iterative glob with single-star backtracking: linear in practice, no recursion on hostile paths */
    size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0;
    while (i < slen) {
        if (p < plen && (pat[p] == '?' || pat[p] == s[i])) {
            ++p;
            ++i;
        } else if (p < plen && pat[p] == '*') {
            star_p = p++;
            star_i = i;
        } else if (star_p != SIZE_MAX) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (p < plen && pat[p] == '*')
        ++p;
    return p == plen;
}

/* resolves every behavior's hook references and lists the versions they use */
static int bind_hooks(edge_gen_t *gen, char *err, size_t errlen)
{
    conf_t *conf = gen->conf;
    size_t nfns = 0;
    gen->hooks = calloc(conf->num_behaviors * CONF_HOOK_NUM * 2 + 1, sizeof(hook_fn_t *));
    for (size_t i = 0; i != conf->num_behaviors; ++i) {
        edge_behavior_t *b = &gen->behaviors[i];
        for (int ev = 0; ev != CONF_HOOK_NUM; ++ev) {
            const char *ref = conf->behaviors[i].hooks[ev];
            char e[512];
            if (ref == NULL)
                continue;
            b->hooks[ev] = calloc(1, sizeof(hook_binding_t));
            if (hook_versions_bind(gen->staged, ref, ev, b->hooks[ev], e, sizeof(e)) != 0) {
                snprintf(err, errlen, "%s:%d: behaviors[%zu].hooks.%s: %s", conf->file, conf->behaviors[i].line, i,
                         conf_hook_event_names[ev], e);
                free(b->hooks[ev]);
                b->hooks[ev] = NULL;
                return -1;
            }
            for (int k = 0; k != 2; ++k) {
                hook_fn_t *fn = b->hooks[ev]->fn[k];
                size_t j;
                if (fn == NULL)
                    continue;
                for (j = 0; j != nfns && gen->hooks[j] != fn; ++j)
                    ;
                if (j == nfns) {
                    hook_fn_addref(fn);
                    gen->hooks[nfns++] = fn;
                }
            }
        }
    }
    return 0;
}

static void init_behaviors(edge_gen_t *gen)
{
    conf_t *conf = gen->conf;
    gen->num_behaviors = conf->num_behaviors;
    gen->behaviors = calloc(conf->num_behaviors + 1, sizeof(edge_behavior_t));
    for (size_t i = 0; i != conf->num_behaviors; ++i) {
        edge_behavior_t *b = &gen->behaviors[i];
        b->conf = &conf->behaviors[i];
        b->index = (unsigned)i;
        b->origin = gen->origins[conf->behaviors[i].origin - conf->origins];
        b->pattern = h2o_iovec_init(conf->behaviors[i].path, strlen(conf->behaviors[i].path));
        b->cache_enabled = conf->behaviors[i].cache.enabled;
        cache_policy_init(&b->policy, &conf->behaviors[i].cache, conf->cache.stale_while_revalidate_ms,
                          conf->cache.stale_if_error_ms);
        /* error_pages' ttl: how long such an error is cached (the config allows at most CACHE_MAX_STATUS_TTL codes) */
        for (size_t k = 0; k != conf->behaviors[i].error_pages.count && b->policy.num_status_ttl != CACHE_MAX_STATUS_TTL; ++k) {
            const conf_error_page_t *ep = &conf->behaviors[i].error_pages.items[k];
            if (ep->ttl_ms >= 0) {
                b->policy.status_ttl[b->policy.num_status_ttl].status = ep->code;
                b->policy.status_ttl[b->policy.num_status_ttl++].ttl_ms = ep->ttl_ms;
            }
        }
        /* compiled once here: the filter of every fill through this behavior only reads it */
        cache_forward_init(&b->forward, &conf->behaviors[i].cache, &conf->behaviors[i].origin_request);
        b->policy.forward = &b->forward;
    }
}

int gen_open_geo(const conf_t *conf, viewer_geo_t **out, char *err, size_t errlen)
{
    char e[512];
    *out = NULL;
    if (conf->geoip.database == NULL)
        return 0;
    if (!viewer_geo_available()) {
        log_warn("%s:%d: geoip: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev): the CloudFront-Viewer-* "
                 "geo headers (Country, City, ASN, ...) are not generated",
                 conf->file, conf->geoip.line);
        return 0;
    }
    if ((*out = viewer_geo_open(conf->geoip.database, conf->geoip.asn_database, e, sizeof(e))) == NULL) {
        snprintf(err, errlen, "%s:%d: geoip: %s", conf->file, conf->geoip.line, e);
        return -1;
    }
    return 0;
}

edge_gen_t *gen_new(conf_t *conf, unsigned num_threads, char *err, size_t errlen)
{
    edge_gen_t *gen = calloc(1, sizeof(*gen));
    size_t i;
    if (gen == NULL)
        h2o_fatal("no memory");
    gen->magic = EDGE_GEN_MAGIC;
    atomic_init(&gen->refcnt, 1);
    gen->id = atomic_fetch_add(&next_gen_id, 1);
    gen->conf = conf;
    gen->origins = calloc(conf->num_origins + 1, sizeof(origin_t *));
    for (i = 0; i != conf->num_origins; ++i) {
        char e[256];
        if ((gen->origins[i] = origin_new(&conf->origins[i], num_threads, e, sizeof(e))) == NULL) {
            snprintf(err, errlen, "%s:%d: origins.%s: %s", conf->file, conf->origins[i].line, conf->origins[i].name, e);
            gen_release(gen);
            return NULL;
        }
        parents_start(gen->origins[i]->parents);
        if (conf->origins[i].type == CONF_ORIGIN_S3 && s3origin_attach(gen->origins[i], &conf->origins[i], e, sizeof(e)) != 0) {
            snprintf(err, errlen, "%s:%d: origins.%s: %s", conf->file, conf->origins[i].line, conf->origins[i].name, e);
            gen_release(gen);
            return NULL;
        }
    }
    if (gen_open_geo(conf, &gen->geo, err, errlen) != 0) {
        gen_release(gen);
        return NULL;
    }
    /* each hook of the config is (or becomes) a version in the registry: staged until the generation is published */
    gen->staged = hook_versions_begin();
    for (i = 0; i != conf->num_hooks; ++i) {
        char e[512];
        if (hook_versions_from_config(gen->staged, &conf->hooks[i], e, sizeof(e)) == 0) {
            snprintf(err, errlen, "%s:%d: hooks.%s: %s", conf->file, conf->hooks[i].line, conf->hooks[i].name, e);
            gen_release(gen);
            return NULL;
        }
    }
    init_behaviors(gen);
    if (bind_hooks(gen, err, errlen) != 0) {
        gen_release(gen);
        return NULL;
    }
    parents_set_node_name(conf->node_name, conf->num_listen != 0 ? conf->listen[0].port : 0);
    return gen;
}

void gen_own_conf(edge_gen_t *gen)
{
    gen->conf_ref = calloc(1, sizeof(*gen->conf_ref));
    atomic_init(&gen->conf_ref->refcnt, 1);
    gen->conf_ref->conf = gen->conf;
}

edge_gen_t *gen_rebind(edge_gen_t *old, hook_versions_txn_t *txn, char *err, size_t errlen)
{
    edge_gen_t *gen = calloc(1, sizeof(*gen));
    size_t i;
    if (gen == NULL)
        h2o_fatal("no memory");
    gen->magic = EDGE_GEN_MAGIC;
    atomic_init(&gen->refcnt, 1);
    gen->id = atomic_fetch_add(&next_gen_id, 1);
    gen->conf = old->conf;
    gen->conf_ref = old->conf_ref;
    atomic_fetch_add(&gen->conf_ref->refcnt, 1);
    gen->origins = calloc(gen->conf->num_origins + 1, sizeof(origin_t *));
    for (i = 0; i != gen->conf->num_origins; ++i) {
        gen->origins[i] = old->origins[i];
        origin_addref(gen->origins[i]);
    }
    if ((gen->geo = old->geo) != NULL)
        viewer_geo_addref(gen->geo);
    init_behaviors(gen);
    gen->staged = txn;
    if (bind_hooks(gen, err, errlen) != 0) {
        gen->staged = NULL; /* the caller's again */
        gen_release(gen);
        return NULL;
    }
    return gen;
}

int gen_commit(edge_gen_t *gen, char *err, size_t errlen)
{
    hook_versions_txn_t *txn = gen->staged;
    gen->staged = NULL; /* committed or dropped: either way the registry's business now */
    return hook_versions_commit(txn, err, errlen);
}

int gen_check_hooks(const conf_t *conf, char *err, size_t errlen)
{
    char e[512];
    int r = -1;
    /* read-only: -t writes nothing, and a state dir that does not exist yet is an empty one */
    if (hook_versions_open(conf->state_dir, 1, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "%s:%d: state_dir: %s", conf->file, conf->state_dir_line, e);
        return -1;
    }
    hook_versions_txn_t *txn = hook_versions_begin();
    for (size_t i = 0; i != conf->num_hooks; ++i) {
        if (hook_versions_from_config(txn, &conf->hooks[i], e, sizeof(e)) == 0) {
            snprintf(err, errlen, "%s:%d: hooks.%s: %s", conf->file, conf->hooks[i].line, conf->hooks[i].name, e);
            goto Exit;
        }
    }
    for (size_t i = 0; i != conf->num_behaviors; ++i) {
        for (int ev = 0; ev != CONF_HOOK_NUM; ++ev) {
            const char *ref = conf->behaviors[i].hooks[ev];
            hook_binding_t b;
            if (ref == NULL)
                continue;
            if (hook_versions_bind(txn, ref, ev, &b, e, sizeof(e)) != 0) {
                snprintf(err, errlen, "%s:%d: behaviors[%zu].hooks.%s: %s", conf->file, conf->behaviors[i].line, i,
                         conf_hook_event_names[ev], e);
                goto Exit;
            }
            hook_binding_free(&b);
        }
    }
    r = 0;
Exit:
    hook_versions_abort(txn);
    hook_versions_close();
    return r;
}

void gen_addref(edge_gen_t *gen)
{
    EDGE_CHECK_OBJ(gen, EDGE_GEN_MAGIC);
    atomic_fetch_add(&gen->refcnt, 1);
}

void gen_release(edge_gen_t *gen)
{
    EDGE_CHECK_OBJ(gen, EDGE_GEN_MAGIC);
    uint32_t before = atomic_fetch_sub(&gen->refcnt, 1);
    EDGE_ASSERT(before != 0);
    if (before != 1)
        return;
    if (gen->origins != NULL)
        for (size_t i = 0; gen->origins[i] != NULL; ++i)
            origin_release(gen->origins[i]);
    if (gen->behaviors != NULL) {
        for (size_t i = 0; i != gen->num_behaviors; ++i) {
            for (int ev = 0; ev != CONF_HOOK_NUM; ++ev)
                if (gen->behaviors[i].hooks[ev] != NULL) {
                    hook_binding_free(gen->behaviors[i].hooks[ev]);
                    free(gen->behaviors[i].hooks[ev]);
                }
            cache_forward_dispose(&gen->behaviors[i].forward);
        }
    }
    if (gen->hooks != NULL) {
        for (size_t i = 0; gen->hooks[i] != NULL; ++i)
            hook_fn_release(gen->hooks[i]);
        free(gen->hooks);
    }
    free(gen->origins);
    free(gen->behaviors);
    if (gen->geo != NULL)
        viewer_geo_release(gen->geo);
    hook_versions_abort(gen->staged); /* never published: its registry changes are dropped */
    if (gen->conf_ref != NULL && atomic_fetch_sub(&gen->conf_ref->refcnt, 1) == 1) {
        conf_free(gen->conf_ref->conf);
        free(gen->conf_ref);
    }
    EDGE_FREE_OBJ(gen, EDGE_GEN_MAGIC);
    free(gen);
}

edge_behavior_t *gen_match(edge_gen_t *gen, const char *path, size_t len)
{
    const char *q = memchr(path, '?', len);
    if (q != NULL)
        len = q - path;
    for (size_t i = 0; i != gen->num_behaviors; ++i) {
        edge_behavior_t *b = &gen->behaviors[i];
        if (gen_pattern_match(b->pattern.base, b->pattern.len, path, len))
            return b;
    }
    return NULL;
}
