/* base/log.c - the error log: timestamped lines with a level and the thread, one write(2) each so threads never interleave. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"

int log_level = LOG_INFO;
static int log_fd = 2;
static __thread char thread_name[16] = "main";

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
    log_level = level;
    return 0;
}

void log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name);
}

void log_vwrite(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char buf[4096];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    if (level > log_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(buf + n, sizeof(buf) - n, ".%03dZ [%s] [%s] ", (int)(tv.tv_usec / 1000), names[level < 0 ? 0 : level > 3 ? 3 : level],
                  thread_name);
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
