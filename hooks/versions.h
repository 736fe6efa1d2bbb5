/* hooks/versions.h - immutable numbered versions of each hook and named aliases that point at one version or split viewers
 * between two by weight (canary), sticky per viewer. What Lambda@Edge cannot do: aliases, in place, in a second. */
#ifndef EDGE_HOOKS_VERSIONS_H
#define EDGE_HOOKS_VERSIONS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "conf/config.h"
#include "hooks/hooks.h"

struct hook_json;

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
    char alias[128];    /* the alias the reference names (`NAME` is `live`); "" for a pinned version or $LATEST */
    /* an alias's versions: the requests each was picked for (base/series.h blocks named "NAME@ALIAS VERSION", so a rebinding
     * that keeps the version keeps the count: the admin dashboard's canary split); NULL for a pinned version or $LATEST */
    _Atomic uint64_t *picks[2];
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
/** counts a request that runs version k (0 or 1) of b: the alias's split as it happens */
static inline void hook_binding_count(const hook_binding_t *b, int k)
{
    if (b->picks[k] != NULL)
        atomic_fetch_add_explicit(b->picks[k], 1, memory_order_relaxed);
}
void hook_binding_free(hook_binding_t *b);

/**
 * What kind of failure a registry call reported (hook_versions_error_kind): the Lambda API maps it to its exception.
 */
typedef enum hook_versions_err {
    HOOK_VERSIONS_OK = 0,
    HOOK_VERSIONS_NOT_FOUND,    /* no such hook, version or alias: 404 ResourceNotFoundException */
    HOOK_VERSIONS_PRECONDITION, /* the expected code sha256 is not $LATEST's: 412 PreconditionFailedException */
    HOOK_VERSIONS_INVALID,      /* a bad argument, or code that does not load: 400 InvalidParameterValueException */
    HOOK_VERSIONS_CONFLICT,     /* not possible in this state (removing `live`, no earlier target): 409 ResourceConflictException */
    HOOK_VERSIONS_STORAGE,      /* the state dir cannot be written: 500 ServiceException (nothing changed) */
} hook_versions_err_t;

/**
 * The registry of versions and aliases: one per process, kept across reloads and (with hook_versions_open) across restarts.
 *
 * Per hook: `$LATEST` (its current code and settings: set by the config's file, at start and on reload when the file's content
 * or settings changed, or by hook_versions_update_code), numbered versions (immutable snapshots of code + settings, numbered 1,
 * 2, ... and never renumbered or reused, even after hook_versions_delete_hook) and aliases (one version, or two with weights,
 * sticky by a key), each with its history: every target it had, when, and who set it ("config", "api", "admin").
 *
 * Who wins: a config whose file brings new content publishes a new version (logged); `live` moves to it unless the last change
 * of `live` came from the API or the admin API (then it stays, and the log says where it stays, who set it, and the new
 * version's number).
 *
 * Every change is staged in a transaction (a private copy of the registry) and made the registry by hook_versions_commit, or
 * dropped, with the versions it created, by hook_versions_abort: a configuration generation commits its transaction when it is
 * published, so a refused reload or a refused admin change leaves the registry exactly as it was. One transaction at a time
 * (the caller serialises writers: the control thread); the log lines of the changes are written at commit. Request paths
 * never touch the registry (they use bindings); readers (hook_versions_json) take a short mutex.
 *
 * Failing calls on a transaction return 0 or -1 with a reason in err, and the kind of failure is hook_versions_error_kind(txn).
 */
typedef struct hook_versions_txn hook_versions_txn_t;

/**
 * Opens the state dir (created if missing: DIR/hooks/state.json, DIR/code/SHA256HEX.lua|.so) and loads the registry from it,
 * before the first transaction. Without it (unit tests, `invoke`) the registry lives in memory and code goes to a temporary
 * directory removed at exit. 0, or -1 with `PATH: reason` in err (an unreadable or corrupt state.json is an error, never an
 * empty start: aliases would be lost). readonly (`edgehook -t`): nothing is created or written, a missing state is empty, and
 * new code is loaded from its own file.
 */
int hook_versions_open(const char *state_dir, int readonly, char *err, size_t errlen);
/** forgets the registry and the state dir (unit tests; nothing may hold a transaction) */
void hook_versions_close(void);
/** the state dir given to hook_versions_open, or NULL */
const char *hook_versions_state_dir(void);

/** opens a transaction on a copy of the registry (aborts the process if one is already open: a caller bug) */
hook_versions_txn_t *hook_versions_begin(void);
/**
 * Makes the staged registry the registry and logs what changed; versions no alias holds any more are unloaded after their
 * last request; txn is freed (NULL: nothing, 0). With a state dir, the staged registry is written first (state.json: a
 * temporary file, fsync, rename, fsync of the directory); if that fails the change is dropped as by hook_versions_abort and
 * -1 is returned with the reason in err: the registry, in memory and on disk, stays as it was.
 */
int hook_versions_commit(hook_versions_txn_t *txn, char *err, size_t errlen);
/** drops the staged changes: the versions txn created are unloaded, its new code files removed; txn is freed (NULL: nothing) */
void hook_versions_abort(hook_versions_txn_t *txn);
/** the kind of the last failure of a call on txn */
hook_versions_err_t hook_versions_error_kind(const hook_versions_txn_t *txn);

/**
 * Registers the hook of a configuration in txn: the file's content and settings become `$LATEST`, and a version (a new one if
 * that code and those settings are new; the existing one otherwise). `live` is created on the first registration, and moves to
 * a new version unless its last change came from the API or the admin API. Returns the version number, or 0 with
 * `FILE: reason` in err.
 */
unsigned hook_versions_from_config(hook_versions_txn_t *txn, const conf_hook_t *conf, char *err, size_t errlen);
/**
 * Publishes in txn a version of hook `name` from `path` (a .lua or a .so) with the settings of `$LATEST` (the admin API's
 * POST /hooks/NAME/versions: update the code, then publish). The content is stored, so the version never changes even if the
 * file does. Returns the version number (an existing one when code and settings are the same) or 0 with a reason in err.
 */
unsigned hook_versions_publish(hook_versions_txn_t *txn, const char *name, const char *path, char *err, size_t errlen);
/**
 * Makes `code` (len bytes; ext "lua" or "so") hook `name`'s `$LATEST` in txn, keeping its settings: the code is loaded first
 * (Lua compiled, plugin ABI checked) and refused if it does not load. Creates no numbered version. 0, or -1 with a reason
 * (NOT_FOUND: no such hook; INVALID: bad ext or code that does not load).
 */
int hook_versions_update_code(hook_versions_txn_t *txn, const char *name, const void *code, size_t len, const char *ext, char *err,
                              size_t errlen);
/**
 * Publishes `$LATEST` of hook `name` as a numbered version in txn (Lambda's PublishVersion): if a version has the same code and
 * settings, that version is given (and `description` ignored). expect_sha256_b64 (NULL: no check) must be the base64 SHA-256
 * of `$LATEST`'s code (PRECONDITION otherwise). 0 with *out_version, or -1 with a reason (NOT_FOUND, PRECONDITION).
 */
int hook_versions_publish_latest(hook_versions_txn_t *txn, const char *name, const char *expect_sha256_b64, const char *description,
                                 unsigned *out_version, char *err, size_t errlen);
/**
 * The fleet's claim of a version number (proxy/fleet.c), called by an API publish (hook_versions_publish_latest,
 * hook_versions_publish) that creates a version: `record` (rlen bytes) is the new version's JSON object (the members of CODE
 * below), `code_path` its stored code. Returns 0 (claimed: number is this version's in the whole fleet), 1 (another node has
 * that number: number + 1 is tried), -1 (not written to the fleet: the version holds on this node only; logged by the callee) or
 * -2 (refused, reason in err: the publish fails with HOOK_VERSIONS_INVALID).
 */
typedef int (*hook_versions_claim_fn)(const char *name, unsigned number, const char *record, size_t rlen, const char *code_path,
                                      char *err, size_t errlen);
/** sets (NULL: clears) the claim function; control thread */
void hook_versions_set_claim(hook_versions_claim_fn fn);
/**
 * Adds version `number` of hook `name` from another node (the fleet) in txn: `record` is the version's JSON object (CODE
 * below), `code` (len bytes) its code, which must have the record's sha256 and size (refused otherwise, before anything is
 * stored). The code is stored and loaded (refused if it does not load) as a local publish does. A version of that number with
 * the same code and settings is left as it is (*out_version = number); one with other code makes this one the hook's next
 * number here (*out_version, logged). 0, or -1 with a reason (NOT_FOUND: no such hook here; INVALID).
 */
int hook_versions_add_version(hook_versions_txn_t *txn, const char *name, unsigned number, const struct hook_json *record,
                              const void *code, size_t len, unsigned *out_version, char *err, size_t errlen);
/**
 * Creates or moves an alias in txn: versions[i] with weights[i] (n = 1 or 2, weights > 0 summing to 1), sticky by `key`
 * ("ip", "cookie:NAME" or "header:NAME"; NULL keeps the alias's key, default ip). description: NULL keeps the alias's (new:
 * ""). by: who sets it, recorded in the history ("config", "api", "admin"). 0, or -1 with a reason.
 */
int hook_versions_set_alias_by(hook_versions_txn_t *txn, const char *name, const char *alias, const unsigned *versions,
                               const double *weights, size_t n, const char *key, const char *description, const char *by, char *err,
                               size_t errlen);
/** hook_versions_set_alias_by(..., description NULL, by "admin", ...) */
int hook_versions_set_alias(hook_versions_txn_t *txn, const char *name, const char *alias, const unsigned *versions,
                            const double *weights, size_t n, const char *key, char *err, size_t errlen);
/** removes an alias in txn (`live` cannot be removed: CONFLICT); 0 or -1 with a reason */
int hook_versions_delete_alias(hook_versions_txn_t *txn, const char *name, const char *alias, char *err, size_t errlen);
/**
 * Moves an alias in txn back `steps` (>= 1) targets through its history (an undo: rolling back twice by 1 = once by 2; a target
 * set after a rollback goes back to the target it replaced). The rollback is recorded in the history as set by `by`. 0, or -1
 * with a reason (NOT_FOUND; CONFLICT: the history has fewer earlier targets).
 */
int hook_versions_rollback(hook_versions_txn_t *txn, const char *name, const char *alias, unsigned steps, const char *by, char *err,
                           size_t errlen);
/**
 * Removes hook `name` with its versions and aliases from txn (Lambda's DeleteFunction: the caller first checks that no behavior
 * uses it, e.g. with hook_versions_conf_uses). Its version numbers stay used: a hook of that name created again goes on from
 * the next number. 0, or -1 (NOT_FOUND).
 */
int hook_versions_delete_hook(hook_versions_txn_t *txn, const char *name, char *err, size_t errlen);
/** whether a behavior of conf references hook `name` (`NAME`, `NAME@...`) */
int hook_versions_conf_uses(const conf_t *conf, const char *name);
/**
 * Resolves `ref` against txn's registry into *out for event `type`: `NAME` (= `live`), `NAME@ALIAS` (an undefined alias means
 * `live`, with a warning), `NAME@N`, `NAME@$LATEST`. 0, or -1 with a reason (unknown hook or version, a version that cannot be
 * loaded or does not handle the event).
 */
int hook_versions_bind(hook_versions_txn_t *txn, const char *ref, int type, hook_binding_t *out, char *err, size_t errlen);
/**
 * The version an invocation of hook `name` runs (the Lambda invoke API), in the committed registry: `qualifier` NULL, "" or
 * "$LATEST" (the hook's $LATEST; *version 0), a version number, or an alias (one
 * of two weighted versions is picked by u in [0, 1): below the first one's weight, the first). Returns a reference to the loaded
 * version, with its number in *version and *loaded_now = 1 when it was loaded for this call (no alias held it loaded, nor an
 * earlier invocation: that instance is kept with the version for the next invocations, which are warm), or NULL with the reason in
 * err (no such hook, version or alias). May load a hook (reads a file, compiles it): never on an event loop. Any thread.
 */
hook_fn_t *hook_versions_resolve(const char *name, const char *qualifier, double u, unsigned *version, int *loaded_now, char *err,
                                 size_t errlen);
/**
 * The committed registry as JSON, malloc'ed (the admin API's GET /hooks, and what the Lambda API reshapes):
 *
 *   {"hooks": {NAME: {
 *      "latest": CODE,                                  // $LATEST
 *      "versions": [{"version": N, ...CODE, "loaded": bool}, ...],   // oldest first
 *      "aliases": {ALIAS: {"versions": {"N": WEIGHT, ...}, // one, or two: the first listed is the main one (FunctionVersion)
 *                          "key": "ip"|"cookie:NAME"|"header:NAME", "description": "...", "modified": TIME,
 *                          "revision": "..." (differs after every change of the alias: Lambda's RevisionId),
 *                          "history": [{"versions": {...}, "at": TIME, "by": "config"|"api"|"admin", "rollback": bool}, ...]}},
 *      "next_version": N}}}
 *   CODE = "sha256": HEX, "code_sha256": BASE64 (Lambda's CodeSha256), "size": BYTES, "kind": "lua"|"native",
 *          "ext": "lua"|"so", "created": TIME (for $LATEST: when it was last set; Lambda's LastModified), "description": "...",
 *          "source": where it came from (the config's path, or "api"), "timeout_ms": N (-1: the event's default),
 *          "memory": BYTES, "include_body": bool, "config": {...}
 *   TIME = ISO 8601 UTC with milliseconds, "2026-12-02T10:55:00.123+0000" (Lambda's format)
 */
char *hook_versions_json(void);
/** the version number of fn (0 if it is not a registered version) */
unsigned hook_versions_number_of(const hook_fn_t *fn);

#endif
