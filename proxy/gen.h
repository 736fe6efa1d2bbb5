/* proxy/gen.h - a configuration generation: the behaviors and origins built from one loaded config. Requests use the generation
 * that was current when they started; a reload builds a new one beside it. */
#ifndef EDGE_PROXY_GEN_H
#define EDGE_PROXY_GEN_H

#include <stdatomic.h>
#include <h2o.h>
#include "cache/policy.h"
#include "conf/config.h"
#include "proxy/origin.h"
#include "hooks/hooks.h"

typedef struct edge_behavior {
    const conf_behavior_t *conf;
    unsigned index;
    origin_t *origin;
    h2o_iovec_t pattern;
    int cache_enabled;
    cache_policy_t policy; /* the behavior's cache settings resolved against the global defaults */
    hook_fn_t *hooks[CONF_HOOK_NUM]; /* per trigger point, or NULL */
} edge_behavior_t;

typedef struct edge_gen {
    _Atomic uint32_t refcnt;
    uint64_t id;
    conf_t *conf;
    origin_t **origins; /* parallel to conf->origins */
    edge_behavior_t *behaviors;
    size_t num_behaviors;
    hook_fn_t **hooks; /* parallel to conf->hooks */
    int owns_conf;     /* set once built: the generation frees conf */
} edge_gen_t;

/** builds the runtime objects of conf; NULL with a message on failure (conf stays the caller's until owns_conf is set) */
edge_gen_t *gen_new(conf_t *conf, unsigned num_threads, char *err, size_t errlen);
void gen_addref(edge_gen_t *gen);
void gen_release(edge_gen_t *gen);
/** the first behavior whose pattern matches the path (without its query); NULL when none does */
edge_behavior_t *gen_match(edge_gen_t *gen, const char *path, size_t len);
/** CloudFront path-pattern matching: `*` any run of characters (also /), `?` exactly one; case-sensitive */
int gen_pattern_match(const char *pat, size_t plen, const char *s, size_t slen);

#endif
