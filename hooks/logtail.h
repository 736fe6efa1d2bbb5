/* hooks/logtail.h - the log of one invocation as Lambda's `--log-type Tail` returns it: the last 4 KB of its lines (a fixed
 * ring that travels with the call's event), and Lambda's START / END / REPORT lines. */
#ifndef EDGE_HOOKS_LOGTAIL_H
#define EDGE_HOOKS_LOGTAIL_H

#include <stddef.h>
#include <stdint.h>

/** what X-Amz-Log-Result carries at most (before base64), as Lambda: the last 4 KB */
#define HOOK_LOGTAIL_SIZE 4096

/**
 * The last HOOK_LOGTAIL_SIZE bytes written to it (a ring: older bytes are overwritten). A plain value (no pointers): it is
 * copied with the event when a call moves to another thread (hook_event_copy). Zeroed memory is an empty tail.
 */
typedef struct hook_logtail {
    char ring[HOOK_LOGTAIL_SIZE];
    uint64_t total; /* bytes ever written */
} hook_logtail_t;

/** appends len bytes */
void hook_logtail_write(hook_logtail_t *t, const char *s, size_t len);
/**
 * Appends one line as Lambda's Node.js runtime writes console output: `2026-12-02T10:00:00.123Z\tREQUEST_ID\tLEVEL\tmsg\n`
 * (level: EDGE_LOG_* number: ERROR, WARN, INFO, DEBUG), with the time now (wall clock).
 */
void hook_logtail_line(hook_logtail_t *t, const char *request_id, size_t id_len, int level, const char *msg, size_t len);
/**
 * Copies the tail into out (HOOK_LOGTAIL_SIZE bytes) and returns its length: the last HOOK_LOGTAIL_SIZE bytes written, or all
 * of them; when older bytes were dropped, the copy starts at a UTF-8 character's first byte (the continuation bytes of a
 * character cut in two are left out, so that the text decodes).
 */
size_t hook_logtail_get(const hook_logtail_t *t, char *out);

/** the figures of Lambda's REPORT line */
typedef struct hook_logtail_report {
    uint64_t duration_ns;
    uint64_t memory_size;     /* the limit, bytes (printed in MB) */
    uint64_t max_memory_used; /* bytes (printed in MB, rounded up) */
    uint64_t init_ns;         /* a cold start's initialisation; 0: warm, no Init Duration */
} hook_logtail_report_t;

/**
 * Formats `REPORT RequestId: ID\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 64 MB\tMax Memory Used: 3 MB` with
 * `\tInit Duration: 4.56 ms` after it on a cold start, and a newline, into out (snprintf's contract: returns the length needed).
 * Billed Duration is the duration rounded up to the next millisecond (at least 1), as Lambda bills.
 */
size_t hook_logtail_report_line(char *out, size_t len, const char *request_id, const hook_logtail_report_t *r);

#endif
