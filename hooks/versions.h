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
 * The registry of versions and aliases: one per process, kept across reloads. Every change is staged in a transaction (a
 * private copy of the registry) and made the registry by hook_versions_commit, or dropped, with the versions it created,
 * by hook_versions_abort: a configuration generation commits its transaction when it is published, so a refused reload or a
 * refused admin change leaves the registry exactly as it was. One transaction at a time (the caller serialises writers: the
 * control thread); the log lines of the changes are written at commit. Request paths never touch the registry (they use
 * bindings); readers (hook_versions_json) take a short mutex.
 */
typedef struct hook_versions_txn hook_versions_txn_t;

/** opens a transaction on a copy of the registry (aborts the process if one is already open: a caller bug) */
hook_versions_txn_t *hook_versions_begin(void);
/** makes the staged registry the registry and logs what changed; versions no alias holds any more are unloaded after their
 * last request; txn is freed (NULL: nothing) */
void hook_versions_commit(hook_versions_txn_t *txn);
/** drops the staged changes: the versions txn created are unloaded and their file copies removed; txn is freed (NULL: nothing) */
void hook_versions_abort(hook_versions_txn_t *txn);

/**
 * Registers the hook of a configuration in txn: the file's content becomes a version (a new one if its content is new; the
 * same one if a version with that content exists), and the `live` alias moves to it when the config brought new content (or
 * `live` does not exist yet). Returns the version number, or 0 with `FILE: reason` in err.
 */
unsigned hook_versions_from_config(hook_versions_txn_t *txn, const conf_hook_t *conf, char *err, size_t errlen);
/**
 * Publishes in txn a new version of hook `name` from `path` (a .lua or a .so), with the settings (config, timeout, memory) of the
 * hook's latest version. The file is copied, so the version never changes even if the file does. Returns the version number
 * (an existing one when the content is the same) or 0 with a reason in err.
 */
unsigned hook_versions_publish(hook_versions_txn_t *txn, const char *name, const char *path, char *err, size_t errlen);
/**
 * Creates or moves an alias in txn: versions[i] with weights[i] (n = 1 or 2, weights > 0 summing to 1), sticky by `key`
 * ("ip", "cookie:NAME" or "header:NAME"; NULL keeps the alias's key, default ip). 0, or -1 with a reason.
 */
int hook_versions_set_alias(hook_versions_txn_t *txn, const char *name, const char *alias, const unsigned *versions,
                            const double *weights, size_t n, const char *key, char *err, size_t errlen);
/** removes an alias in txn (`live` cannot be removed); 0 or -1 with a reason */
int hook_versions_delete_alias(hook_versions_txn_t *txn, const char *name, const char *alias, char *err, size_t errlen);
/** moves an alias in txn back to what it pointed at before its last change; 0 or -1 with a reason */
int hook_versions_rollback(hook_versions_txn_t *txn, const char *name, const char *alias, char *err, size_t errlen);
/**
 * Resolves `ref` against txn's registry into *out for event `type` (an undefined alias means `live`, with a warning). 0, or -1
 * with a reason (unknown hook or version, a version that cannot be loaded or does not handle the event).
 */
int hook_versions_bind(hook_versions_txn_t *txn, const char *ref, int type, hook_binding_t *out, char *err, size_t errlen);
/**
 * The version an invocation of hook `name` runs (the Lambda invoke API), in the committed registry: `qualifier` NULL, "" or
 * "$LATEST" (the hook's current code: the version the configuration's file last brought), a version number, or an alias (one
 * of two weighted versions is picked by u in [0, 1): below the first one's weight, the first). Returns a reference to the loaded
 * version, with its number in *version and *loaded_now = 1 when no alias held it loaded (it was loaded for this call: its
 * instance goes with the reference), or NULL with the reason in err (no such hook, version or alias). May load a hook (reads a
 * file, compiles it): never on an event loop. Any thread.
 */
hook_fn_t *hook_versions_resolve(const char *name, const char *qualifier, double u, unsigned *version, int *loaded_now, char *err,
                                 size_t errlen);
/** appends the (committed) registry as JSON ({"hooks": {NAME: {"versions": [...], "aliases": {...}}}}) to a malloc'ed string */
char *hook_versions_json(void);
/** the version number of fn (0 if it is not a registered version) */
unsigned hook_versions_number_of(const hook_fn_t *fn);
/** removes the versions' file copies and their directory (at exit; the versions stay usable as loaded) */
void hook_versions_remove_files(void);

#endif
