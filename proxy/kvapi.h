/* proxy/kvapi.h - the process's kv stores (kv/kv.h) as the server runs them: opened at start from the config's `kv:`, written
 * through the admin API's /kv calls on the control thread, read on the workers, and their metrics. */
#ifndef EDGE_PROXY_KVAPI_H
#define EDGE_PROXY_KVAPI_H

#include <h2o.h>
#include "conf/config.h"

/** opens conf's stores (none: nothing) and makes them the ones hooks read (kv_global); 0 or -1 with the reason in err */
int kvapi_open(const conf_t *conf, char *err, size_t errlen);
/** after the workers and the control thread have stopped: nothing is left to write (the stores stay readable until exit) */
void kvapi_close(void);
/** a reload cannot change the stores: says so when the new config's `kv:` differs */
void kvapi_warn_restart(const conf_t *old, const conf_t *now);

/**
 * Answers an authorised admin request whose raw path is /kv or starts with /kv/:
 *   GET /kv                    the stores and their sizes
 *   GET /kv/NAME               the store's size, version and limits, and its keys in byte order with their values
 *                              (?prefix=P&after=K&limit=N, at most 1000 a page; `next` gives the page after)
 *   POST /kv/NAME              a JSON object {"key": "value" | null, ...}: puts and deletes applied all or nothing
 *                              (?replace=1: the store becomes exactly the object's strings)
 *   GET /kv/NAME/KEY           the value (application/octet-stream), 404 when absent
 *   PUT /kv/NAME/KEY           the body becomes the value
 *   DELETE /kv/NAME/KEY        404 when absent
 * KEY is everything after NAME/ in the raw target (not normalised: `..` and `/` are bytes of the key), percent-decoded.
 * Writes run on the control thread and are answered once synced to disk and visible to every worker.
 */
void kvapi_handle(h2o_req_t *req);

/** appends the kv metrics (edgehook_kv_keys, _bytes, _updates_total, _write_errors_total, _log_bytes per store) */
void kvapi_metrics(h2o_buffer_t **buf);

#endif
