/* proxy/gen.h - a configuration generation: the behaviors and origins built from one loaded config. Requests use the generation
 * that was current when they started; a reload builds a new one beside it. */
#ifndef EDGE_PROXY_GEN_H
#define EDGE_PROXY_GEN_H

#include <stdatomic.h>
#include <h2o.h>
#include "base/assert.h"
#include "cache/forward.h"
#include "cache/policy.h"
#include "conf/config.h"
#include "proxy/origin.h"
#include "hooks/hooks.h"
#include "hooks/versions.h"
#include "viewer/geoip.h"

typedef struct edge_behavior {
    const conf_behavior_t *conf;
    unsigned index;
    origin_t *origin;
    h2o_iovec_t pattern;
    int cache_enabled;
    cache_policy_t policy;   /* the behavior's cache settings resolved against the global defaults; policy.forward = &forward */
    cache_forward_t forward; /* what a request whose response may be stored forwards to the origin (key + origin_request) */
    hook_binding_t *hooks[CONF_HOOK_NUM]; /* per trigger point: the version(s) the behavior's reference resolves to, or NULL */
} edge_behavior_t;

/** a configuration shared by the generations built from it (a registry change rebinds hooks without reloading the file) */
typedef struct edge_conf_ref {
    _Atomic uint32_t refcnt;
    conf_t *conf;
} edge_conf_ref_t;

typedef struct edge_gen {
    unsigned magic; /* EDGE_GEN_MAGIC while alive (base/assert.h): workers and the admin API hold references */
    _Atomic uint32_t refcnt;
    uint64_t id;
    conf_t *conf;
    origin_t **origins; /* parallel to conf->origins */
    edge_behavior_t *behaviors;
    size_t num_behaviors;
    hook_fn_t **hooks;         /* every hook version the bindings use, NULL-terminated (compiled per worker, in metrics) */
    edge_conf_ref_t *conf_ref; /* set once built: the generation shares conf through it */
    hook_versions_txn_t *staged; /* the registry changes this generation was built on, committed when it is published */
    viewer_geo_t *geo;           /* the `geoip:` databases, mmap'd once for this generation (and those rebound from it), or NULL */
} edge_gen_t;
#define EDGE_GEN_MAGIC 0x6e8c2a41u

/**
 * Builds the runtime objects of conf; NULL with a message on failure (conf stays the caller's until gen_own_conf). The config's
 * hooks are registered in a registry transaction the generation holds: nothing changes in the registry until gen_commit, and a
 * generation released unpublished drops the transaction (a refused reload leaves no trace).
 */
edge_gen_t *gen_new(conf_t *conf, unsigned num_threads, char *err, size_t errlen);
/**
 * A generation like gen with the hook bindings resolved again against txn (a change of versions or aliases staged in it); on
 * success the new generation takes txn (committed by gen_commit); NULL with a message, txn still the caller's.
 */
edge_gen_t *gen_rebind(edge_gen_t *gen, hook_versions_txn_t *txn, char *err, size_t errlen);
/**
 * Opens the `geoip:` databases of conf (NULL in *out when there are none); -1 with "FILE:LINE: geoip.database: reason" when one
 * cannot be opened or is not a MaxMind DB. Built without libmaxminddb: logs once per call that the geo headers are not generated,
 * and succeeds with NULL.
 */
int gen_open_geo(const conf_t *conf, viewer_geo_t **out, char *err, size_t errlen);
/** commits the registry changes gen was built on (before it is published; once): -1 with the reason when they cannot be written
 * to the state dir (the registry stays as it was: gen must not be published) */
int gen_commit(edge_gen_t *gen, char *err, size_t errlen);
/**
 * What `edgehook -t` checks of the hooks: every hook loads, and every behavior's `NAME`, `NAME@ALIAS`, `NAME@N` resolves against
 * conf's state dir (read, never written) as a start would register them. 0, or -1 with `FILE:LINE: KEY: reason`.
 */
int gen_check_hooks(const conf_t *conf, char *err, size_t errlen);
/** makes gen own conf (shared by the generations rebound from it) */
void gen_own_conf(edge_gen_t *gen);
void gen_addref(edge_gen_t *gen);
void gen_release(edge_gen_t *gen);
/** the first behavior whose pattern matches the path (without its query); NULL when none does */
edge_behavior_t *gen_match(edge_gen_t *gen, const char *path, size_t len);
/** CloudFront path-pattern matching: `*` any run of characters (also /), `?` exactly one; case-sensitive */
int gen_pattern_match(const char *pat, size_t plen, const char *s, size_t slen);

#endif
