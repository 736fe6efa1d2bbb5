/* hooks/versions.h - immutable numbered versions of each hook and named aliases that point at one version or split viewers
 * between two by weight (canary), sticky per viewer. What Lambda@Edge cannot do: aliases, in place, in a second. */
#ifndef EDGE_HOOKS_VERSIONS_H
#define EDGE_HOOKS_VERSIONS_H

#include <stddef.h>
#include <stdint.h>
#include "conf/config.h"
#include "hooks/hooks.h"

/** how an alias picks the same version for the same viewer: a hash of the client IP, a cookie or a header */
typedef enum hook_key_kind { HOOK_KEY_IP = 0, HOOK_KEY_COOKIE = 1, HOOK_KEY_HEADER = 2 } hook_key_kind_t;

/**
 * A resolved reference from a behavior to a hook (`NAME`, `NAME@ALIAS` or `NAME@VERSION`): one version, or two with the
 * share of viewers that get the first. Immutable; holds references on its hook versions. Built by hook_versions_bind.
 */
typedef struct hook_binding {
    hook_fn_t *fn[2];
    unsigned version[2];
    double weight0; /* share of viewers that get fn[0]; 1.0 when there is one version */
    hook_key_kind_t key_kind;
    char key_name[64]; /* lowercase cookie or header name */
    char label[2][280]; /* "NAME@VERSION" for the access log */
} hook_binding_t;

/** the version a viewer with this sticky-key hash gets (0 or 1) */
static inline int hook_binding_pick(const hook_binding_t *b, uint64_t viewer_hash)
{
    if (b->fn[1] == NULL)
        return 0;
    /* the top 53 bits as a fraction in [0, 1): a viewer's hash always falls on the same side of the weight */
    double u = (double)(viewer_hash >> 11) * (1.0 / 9007199254740992.0);
    return u < b->weight0 ? 0 : 1;
}
void hook_binding_free(hook_binding_t *b);

/**
 * The registry of versions and aliases: one per process, kept across reloads. Writers (config loads, the admin API) are
 * serialised by a mutex; request paths never touch it (they use bindings).
 */

/**
 * Registers the hook of a configuration: the file's content becomes a version (a new one if its content is new; the same
 * one if a version with that content exists), and the `live` alias moves to it when the config brought new content (or
 * `live` does not exist yet). Returns the version number, or 0 with `FILE: reason` in err.
 */
unsigned hook_versions_from_config(const conf_hook_t *conf, char *err, size_t errlen);
/**
 * Publishes a new version of hook `name` from `path` (a .lua or a .so), with the settings (config, timeout, memory) of the hook's
 * latest version. The file is copied, so the version never changes even if the file does. Returns the version number (an
 * existing one when the content is the same) or 0 with a reason in err.
 */
unsigned hook_versions_publish(const char *name, const char *path, char *err, size_t errlen);
/**
 * Creates or moves an alias: versions[i] with weights[i] (n = 1 or 2, weights > 0 summing to 1), sticky by `key`
 * ("ip", "cookie:NAME" or "header:NAME"; NULL keeps the alias's key, default ip). 0, or -1 with a reason.
 */
int hook_versions_set_alias(const char *name, const char *alias, const unsigned *versions, const double *weights, size_t n,
                            const char *key, char *err, size_t errlen);
/** removes an alias (`live` cannot be removed); 0 or -1 with a reason */
int hook_versions_delete_alias(const char *name, const char *alias, char *err, size_t errlen);
/** moves an alias back to what it pointed at before its last change; 0 or -1 with a reason */
int hook_versions_rollback(const char *name, const char *alias, char *err, size_t errlen);
/**
 * Resolves `ref` into *out for event `type` (an undefined alias means `live`, with a warning). 0, or -1 with a reason (unknown
 * hook or version, a version that cannot be loaded or does not handle the event).
 */
int hook_versions_bind(const char *ref, int type, hook_binding_t *out, char *err, size_t errlen);
/** appends the registry as JSON ({"hooks": {NAME: {"versions": [...], "aliases": {...}}}}) to a malloc'ed string */
char *hook_versions_json(void);
/** the version number of fn (0 if it is not a registered version) */
unsigned hook_versions_number_of(const hook_fn_t *fn);
/** removes the versions' file copies and their directory (at exit; the versions stay usable as loaded) */
void hook_versions_remove_files(void);

#endif
