/* hooks/logtail.c - the last 4 KB of an invocation's log, and Lambda's REPORT line. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "hooks/logtail.h"

void hook_logtail_write(hook_logtail_t *t, const char *s, size_t len)
{
    if (len > HOOK_LOGTAIL_SIZE) { /* only the last bytes can stay */
        t->total += len - HOOK_LOGTAIL_SIZE;
        s += len - HOOK_LOGTAIL_SIZE;
        len = HOOK_LOGTAIL_SIZE;
    }
    size_t at = (size_t)(t->total % HOOK_LOGTAIL_SIZE), first = HOOK_LOGTAIL_SIZE - at < len ? HOOK_LOGTAIL_SIZE - at : len;
    memcpy(t->ring + at, s, first);
    memcpy(t->ring, s + first, len - first);
    t->total += len;
}

void hook_logtail_line(hook_logtail_t *t, const char *request_id, size_t id_len, int level, const char *msg, size_t len)
{
    static const char *const levels[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    struct timespec ts;
    struct tm tm;
    char head[160];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(head + n, sizeof(head) - n, ".%03ldZ\t%.*s\t%s\t", ts.tv_nsec / 1000000, (int)(id_len > 64 ? 64 : id_len),
                     request_id != NULL ? request_id : "", levels[level < 0 ? 0 : level > 3 ? 3 : level]);
    hook_logtail_write(t, head, n + (size_t)m);
    hook_logtail_write(t, msg, len);
    hook_logtail_write(t, "\n", 1);
}

size_t hook_logtail_get(const hook_logtail_t *t, char *out)
{
    if (t->total <= HOOK_LOGTAIL_SIZE) {
        memcpy(out, t->ring, (size_t)t->total);
        return (size_t)t->total;
    }
    size_t at = (size_t)(t->total % HOOK_LOGTAIL_SIZE);
    memcpy(out, t->ring + at, HOOK_LOGTAIL_SIZE - at);
    memcpy(out + HOOK_LOGTAIL_SIZE - at, t->ring, at);
    size_t skip = 0; /* a character cut in two at the start: its continuation bytes (10xxxxxx) go, at most 3 */
    while (skip < 3 && ((unsigned char)out[skip] & 0xc0) == 0x80)
        ++skip;
    memmove(out, out + skip, HOOK_LOGTAIL_SIZE - skip);
    return HOOK_LOGTAIL_SIZE - skip;
}

size_t hook_logtail_report_line(char *out, size_t len, const char *request_id, const hook_logtail_report_t *r)
{
    uint64_t billed = (r->duration_ns + 999999) / 1000000;
    char init[64] = "";
    if (billed == 0)
        billed = 1;
    if (r->init_ns != 0)
        snprintf(init, sizeof(init), "\tInit Duration: %.2f ms", (double)r->init_ns / 1e6);
    int n = snprintf(out, len,
                     "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %llu ms\tMemory Size: %llu MB\tMax Memory Used: %llu "
                     "MB%s\n",
                     request_id, (double)r->duration_ns / 1e6, (unsigned long long)billed,
                     (unsigned long long)(r->memory_size >> 20), (unsigned long long)((r->max_memory_used + (1u << 20) - 1) >> 20),
                     init);
    return n < 0 ? 0 : (size_t)n;
}
