/* proxy/etcd.h - a small client of etcd's v3 JSON gateway (etcd 3.4: POST /v3/kv/put, /v3/kv/range, /v3/kv/deleterange,
 * /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke, /v3/watch) over plain HTTP/1.1, one connection per call,
 * with failover among the cluster's members. Blocking, with a deadline per call: used on the fleet's own threads (and short
 * publishes from the control thread), never on an event loop. Responses are framed by the origin client's parser
 * (proxy/originhead.c, fuzzed) and read with the project's JSON parser (hooks/json.c). */
#ifndef EDGE_PROXY_ETCD_H
#define EDGE_PROXY_ETCD_H

#include <stddef.h>
#include "hooks/json.h"

typedef struct etcd etcd_t;

/** endpoints: "http://HOST:PORT" or "HOST:PORT" (no TLS); NULL with the reason in err */
etcd_t *etcd_new(char *const *endpoints, size_t n, int timeout_ms, char *err, size_t errlen);
void etcd_free(etcd_t *e);
/**
 * POSTs body (JSON) to path on the first member that answers (starting with the last one that did), reads the whole answer
 * and parses it. 0 with *out (free with hook_json_free), or -1 with the reason (every member failed, a non-200 answer with
 * etcd's message, a malformed answer).
 */
int etcd_call(etcd_t *e, const char *path, const char *body, size_t len, hook_json_t **out, char *err, size_t errlen);

/** a watch stream: one connection reading the gateway's stream of JSON messages */
typedef struct etcd_stream etcd_stream_t;
/** opens POST /v3/watch with body (a create_request) on the first member that answers; NULL with the reason */
etcd_stream_t *etcd_watch(etcd_t *e, const char *body, size_t len, char *err, size_t errlen);
/** the next message: 1 with *out, 0 when none came within timeout_ms, -1 when the stream ended or failed (reason in err) */
int etcd_stream_next(etcd_stream_t *s, int timeout_ms, hook_json_t **out, char *err, size_t errlen);
void etcd_stream_close(etcd_stream_t *s);

/** the "HOST:PORT" of the member that last answered (for logs and metrics) */
const char *etcd_current(etcd_t *e);

#endif
