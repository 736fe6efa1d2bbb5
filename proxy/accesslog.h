/* proxy/accesslog.h - the access log: one line per request, combined or JSON, buffered per worker and flushed at least every
 * 100 ms (and at exit); lines are bounded (ACCESSLOG_LINE_MAX) and say when they were cut. */
#ifndef EDGE_PROXY_ACCESSLOG_H
#define EDGE_PROXY_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>

/** the longest access-log line, newline included; a longer one is cut and says so (` cut=1` / `"cut":true`) */
#define ACCESSLOG_LINE_MAX 8192
/** the smallest `cap` accesslog_format() accepts: room for every fixed part of a line and the cut marker */
#define ACCESSLOG_LINE_MIN 512

typedef struct accesslog_entry {
    h2o_req_t *req;
    int status;
    uint64_t bytes;
    uint64_t duration_us;
    h2o_iovec_t request_id;
    const char *cache_status; /* handler_cache_status_name(): Hit, RefreshHit, Miss, StaleHit, StaleIfError, Pass, Generated, Error;
                                 NULL: "-" */
    h2o_iovec_t hooks;        /* "name@version:event,..." or empty */
    const char *origin;       /* origin name or NULL */
} accesslog_entry_t;

/**
 * Everything one access-log line shows, as plain values: any bytes, no terminating NUL needed, none of it owned. A string
 * with len 0 is empty; base may then be NULL.
 */
typedef struct accesslog_fields {
    int64_t time_ms;        /**< when the request was received, ms since the epoch (clamped to 1970..9999), shown in UTC */
    h2o_iovec_t client;     /**< the client's numeric address; empty: "-" */
    h2o_iovec_t method;     /**< as received */
    h2o_iovec_t uri;        /**< the request-target as received */
    int version;            /**< h2o's req->version: 0x200 and above HTTP/2, 0x101 HTTP/1.1, else HTTP/1.0 */
    int status;             /**< the response status */
    uint64_t bytes;         /**< bytes of the response sent */
    uint64_t duration_us;   /**< from the request to the log entry */
    h2o_iovec_t request_id; /**< the x-request-id edgehook gave the request */
    h2o_iovec_t cache;      /**< Hit, Miss, ...; empty: "-" */
    h2o_iovec_t hooks;      /**< "vreq:name@version,..."; empty: "-" in combined, "" in JSON */
    h2o_iovec_t origin;     /**< the origin's name; empty: "-" in combined, "" in JSON */
    h2o_iovec_t referer;    /**< base NULL: no Referer ("-" in combined, "" in JSON) */
    h2o_iovec_t user_agent; /**< base NULL: no User-Agent (as referer) */
} accesslog_fields_t;

/**
 * Formats one access-log line of `f` into `buf` (at most `cap` bytes, `cap` >= ACCESSLOG_LINE_MIN) and returns its length;
 * the line always ends with '\n' and is printable ASCII before it, whatever bytes the fields hold. Returns 0 (and writes
 * nothing) when cap < ACCESSLOG_LINE_MIN. Pure: no I/O, no globals, thread-safe.
 *
 * combined (`json` 0): Apache's combined format, then edgehook's key=value fields:
 *     CLIENT - - [26/Nov/2026:17:19:15 +0000] "METHOD URI PROTO" STATUS BYTES "REFERER" "UA" rid=ID dur=SECONDS
 *     cache=STATUS hooks=LIST origin=NAME
 *   A byte of a field that is '"', '\\', a control byte or above 0x7e is written \xHH; in the fields outside quotes (client,
 *   method, URI and the key=value ones) so is a space, so the line splits on spaces unambiguously.
 * JSON (`json` 1): one object {"time","request_id","client","method","uri","protocol","status","bytes","duration","cache",
 *   "hooks","origin","referer","user_agent"}; strings hold the field's bytes as code points U+0000..U+00FF (bytes above
 *   0x7e and control bytes as \u00HH, '"' and '\\' as \" and \\), so a consumer gets the exact bytes back with
 *   .encode("latin-1").
 *
 * When the line would be longer than `cap`, the string fields are cut (max-min fair: the short ones stay whole, the long
 * ones share the rest; never inside an escape) and the line says so: combined ends with " cut=1", JSON carries "cut":true
 * as its last member (still valid JSON). A line that is not cut never carries either.
 */
size_t accesslog_format(const accesslog_fields_t *f, int json, char *buf, size_t cap);

/** opens the log (path "-" = stdout; NULL = no access log) and publishes it to every thread (a reload: any thread, while workers
 * write); the old log's descriptor is closed once no worker holds it any more (each lets go at its next write or flush). Returns
 * 0 or -1 with errno (the old log stays). */
int accesslog_open(const char *path, int json);
/** formats an entry (at most ACCESSLOG_LINE_MAX bytes) into the calling worker's buffer (flushed when large or by accesslog_flush)
 */
void accesslog_write(const accesslog_entry_t *e);
/** writes the calling thread's buffer out (to the log its lines were formatted for) and lets go of a replaced log */
void accesslog_flush(void);
/** 1 when an access log is open, or the calling thread still holds a replaced one (its next flush lets go of it) */
int accesslog_enabled(void);

#endif
