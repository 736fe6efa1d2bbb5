/* proxy/accesslog.h - the access log: one line per request, combined or JSON, buffered per worker and flushed at least every
 * 100 ms (and at exit). */
#ifndef EDGE_PROXY_ACCESSLOG_H
#define EDGE_PROXY_ACCESSLOG_H

#include <h2o.h>

typedef struct accesslog_entry {
    h2o_req_t *req;
    int status;
    uint64_t bytes;
    uint64_t duration_us;
    h2o_iovec_t request_id;
    const char *cache_status; /* Hit, Miss, RefreshHit, Stale, Pass, Generated, Error, or "-" */
    h2o_iovec_t hooks;        /* "name@version:event,..." or empty */
    const char *origin;       /* origin name or NULL */
} accesslog_entry_t;

/** opens the log (path "-" = stdout; NULL = no access log); returns 0 or -1 with errno */
int accesslog_open(const char *path, int json);
/** appends an entry to the calling worker's buffer (flushed when large or by accesslog_flush) */
void accesslog_write(const accesslog_entry_t *e);
/** writes the calling thread's buffer out */
void accesslog_flush(void);
int accesslog_enabled(void);

#endif
