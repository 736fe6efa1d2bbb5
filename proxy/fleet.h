/* proxy/fleet.h - fleet state on etcd (`fleet:` in the config): hook aliases, kv writes and purges made on one node are written
 * under the fleet's prefix in etcd, and every node applies what it sees there by watching the prefix, through the same calls
 * as a local change, on the control thread. A node that was down catches up from the last revision it applied (kept in
 * STATE_DIR/fleet/revision). Purges are acknowledged by every live node (registered under PREFIX/nodes/ with a lease). Without
 * `fleet:` nothing here runs and everything stays local.
 *
 * Keys (PREFIX = fleet.prefix):
 *   PREFIX/nodes/NODE          {"node", "pid", "started"}                 with the node's lease: the live nodes
 *   PREFIX/alias/HOOK/ALIAS    {"node", "versions": {"N": W, ...}, "key"}  an alias's target (deleted: the alias is removed)
 *   PREFIX/kv/STORE/KEY        the value's bytes                          (deleted: the key is deleted; one txn per write)
 *   PREFIX/versions/HOOK/N     {"node", "hook", "version", "sha256", "ext", "size", settings...}  a published version (never deleted)
 *   PREFIX/latest/HOOK         {"node", "sha256", "ext", "size"}         $LATEST's code, as set through the API
 *   PREFIX/code/SHA256HEX      the code's bytes                          content-addressed: written with a version or $LATEST
 *   PREFIX/purge/ID            {"node", "kind", "arg", "soft"}            a purge, ID = NODE.SEQ.TIME
 *   PREFIX/ack/ID/NODE         ""                                         NODE applied purge ID
 */
#ifndef EDGE_PROXY_FLEET_H
#define EDGE_PROXY_FLEET_H

#include <h2o.h>
#include "cache/memory.h"
#include "conf/config.h"
#include "kv/kv.h"

/** starts the fleet's threads when conf has `fleet:` (after the control thread and the workers); 0, or -1 with the reason */
int fleet_start(const conf_t *conf, char *err, size_t errlen);
/** stops them (before the control thread stops): the node's lease is revoked, so it leaves the live nodes at once */
void fleet_stop(void);
/** frees what fleet_start kept (after the control thread stopped: a publish may still be running until then) */
void fleet_close(void);
/** 1 when `fleet:` is configured and started */
int fleet_enabled(void);

/**
 * Control thread, after a local change was committed: writes the current target of alias ALIAS of HOOK (or its removal, when
 * the registry no longer has it) to etcd. 0, or -1 with the reason (logged and counted too; the change holds on this node).
 */
int fleet_publish_alias(const char *hook, const char *alias, char *err, size_t errlen);
/**
 * Control thread, after $LATEST of hook changed through the API (update-function-code, the admin API's publish): its code
 * (PREFIX/code/SHA) and `PREFIX/latest/HOOK` = {"node", "sha256", "ext", "size"}. 0 or -1 with the reason (logged, counted).
 */
int fleet_publish_latest(const char *hook, char *err, size_t errlen);
/** control thread, after a local kv write: its puts and deletes, as one etcd transaction. 0 or -1 with the reason */
int fleet_publish_kv(const char *store, const kv_op_t *ops, size_t n, char *err, size_t errlen);

/** the outcome of a fleet purge, given to its completion: a JSON fragment `"fleet": {...}` (malloc'ed, the callee frees it) */
typedef void (*fleet_purge_done_fn)(void *arg, char *fleet_json);
/**
 * Control thread, after a local purge: writes it to etcd and waits (off this thread) for every live node's ack, or
 * fleet.ack_timeout. done(arg, json) is then called on a fleet thread, with `"fleet":{"acked":[...],"stragglers":[...],
 * "ms":N}`. 0 (done will be called), or -1 with the reason (done is not called).
 */
int fleet_publish_purge(cache_purge_kind_t kind, h2o_iovec_t arg, int soft, fleet_purge_done_fn done, void *done_arg, char *err,
                        size_t errlen);

/** the fleet's metrics (Prometheus text) */
void fleet_metrics(h2o_buffer_t **buf);

#endif
