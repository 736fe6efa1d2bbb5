/* proxy/gen.c - builds behaviors and origins from a config, and matches request paths to behaviors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/gen.h"
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

edge_gen_t *gen_new(conf_t *conf, unsigned num_threads, char *err, size_t errlen)
{
    edge_gen_t *gen = calloc(1, sizeof(*gen));
    size_t i;
    if (gen == NULL)
        h2o_fatal("no memory");
    atomic_init(&gen->refcnt, 1);
    gen->id = atomic_fetch_add(&next_gen_id, 1);
    gen->conf = conf;
    gen->origins = calloc(conf->num_origins + 1, sizeof(origin_t *));
    for (i = 0; i != conf->num_origins; ++i) {
        char e[256];
        if ((gen->origins[i] = origin_new(&conf->origins[i], num_threads, e, sizeof(e))) == NULL) {
            snprintf(err, errlen, "%s:%d: origins.%s: %s", conf->file, conf->origins[i].line, conf->origins[i].name, e);
            gen->conf = NULL;
            gen_release(gen);
            return NULL;
        }
        if (conf->origins[i].type == CONF_ORIGIN_S3 && s3origin_attach(gen->origins[i], &conf->origins[i], e, sizeof(e)) != 0) {
            snprintf(err, errlen, "%s:%d: origins.%s: %s", conf->file, conf->origins[i].line, conf->origins[i].name, e);
            gen->conf = NULL;
            gen_release(gen);
            return NULL;
        }
    }
    gen->num_behaviors = conf->num_behaviors;
    gen->behaviors = calloc(conf->num_behaviors + 1, sizeof(edge_behavior_t));
    for (i = 0; i != conf->num_behaviors; ++i) {
        edge_behavior_t *b = &gen->behaviors[i];
        b->conf = &conf->behaviors[i];
        b->index = (unsigned)i;
        b->origin = gen->origins[conf->behaviors[i].origin - conf->origins];
        b->pattern = h2o_iovec_init(conf->behaviors[i].path, strlen(conf->behaviors[i].path));
        b->cache_enabled = conf->behaviors[i].cache.enabled;
        cache_policy_init(&b->policy, &conf->behaviors[i].cache, conf->cache.stale_while_revalidate_ms, conf->cache.stale_if_error_ms);
    }
    return gen;
}

void gen_addref(edge_gen_t *gen)
{
    atomic_fetch_add(&gen->refcnt, 1);
}

void gen_release(edge_gen_t *gen)
{
    if (atomic_fetch_sub(&gen->refcnt, 1) != 1)
        return;
    if (gen->origins != NULL && gen->conf != NULL) {
        for (size_t i = 0; i != gen->conf->num_origins; ++i)
            if (gen->origins[i] != NULL)
                origin_release(gen->origins[i]);
    } else if (gen->origins != NULL) {
        for (size_t i = 0; gen->origins[i] != NULL; ++i)
            origin_release(gen->origins[i]);
    }
    free(gen->origins);
    free(gen->behaviors);
    conf_free(gen->conf);
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
