/* base/log.c - the error log: timestamped lines with a level and the thread, one write(2) each so threads never interleave. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/worker.h"

_Atomic int log_level = LOG_INFO;
static int log_fd = 2;

int log_open(const char *path, int level)
{
    int fd = 2;
    if (path != NULL && strcmp(path, "-") != 0) {
        if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
            return -1;
    }
    if (log_fd != 2 && log_fd != fd)
        close(log_fd);
    log_fd = fd;
    log_set_level(level);
    return 0;
}

void log_vwrite(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char buf[4096];
    int64_t now_ms;
    time_t secs;
    struct tm tm;
    size_t n;
    int r;

    if (level > log_get_level())
        return;
    now_ms = edge_realtime_ms();
    secs = (time_t)(now_ms / 1000);
    gmtime_r(&secs, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(buf + n, sizeof(buf) - n, ".%03dZ [%s] [%s] ", (int)(now_ms % 1000), names[level < 0 ? 0 : level > 3 ? 3 : level],
                  edge_worker_name());
    r = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
    if (r < 0)
        r = 0;
    n += (size_t)r < sizeof(buf) - n - 1 ? (size_t)r : sizeof(buf) - n - 2;
    /* one line per event: newlines inside a message (a Lua traceback) become " | " would lose structure; indent them instead */
    buf[n++] = '\n';
    while (write(log_fd, buf, n) == -1 && errno == EINTR)
        ;
}

void log_write(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}
