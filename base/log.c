/* base/log.c - the error log: timestamped lines with a level and the thread, one write(2) each so threads never interleave. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/str.h"
#include "base/worker.h"

_Atomic int log_level = LOG_INFO;
static _Atomic int log_json;
/* where lines go: 2 (stderr), or the log file's descriptor. The file keeps its descriptor number for the life of the process
 * (a reopen dup2()s the new file onto it), so a thread that read log_fd never writes to a closed or reused descriptor, and each
 * line goes whole to the old file or to the new one */
static _Atomic int log_fd = 2;
static int file_fd = -1;
static char *file_path;
static pthread_mutex_t open_mutex = PTHREAD_MUTEX_INITIALIZER;

/* points file_fd at path (opened now); 0 or -1 with errno set */
static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd == -1)
        return -1;
    if (file_fd == -1) {
        file_fd = fd;
    } else if (fd != file_fd) {
        if (dup3(fd, file_fd, O_CLOEXEC) == -1) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        close(fd);
    }
    return 0;
}

int log_open(const char *path, int level)
{
    int r = 0;
    pthread_mutex_lock(&open_mutex);
    if (path != NULL && strcmp(path, "-") != 0) {
        if ((r = open_file(path)) == 0) {
            char *p = strdup(path);
            free(file_path);
            file_path = p;
            atomic_store(&log_fd, file_fd);
        }
    } else {
        atomic_store(&log_fd, 2); /* the file's descriptor stays open (a thread may be writing to it) */
        free(file_path);
        file_path = NULL;
    }
    pthread_mutex_unlock(&open_mutex);
    if (r == 0)
        log_set_level(level);
    return r;
}

int log_reopen(void)
{
    int r = 0;
    pthread_mutex_lock(&open_mutex);
    if (file_path != NULL)
        r = open_file(file_path);
    pthread_mutex_unlock(&open_mutex);
    return r;
}

void log_set_json(int json)
{
    atomic_store_explicit(&log_json, json != 0, memory_order_relaxed);
}

void log_vwrite(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char buf[4096], msg[4096], ts[64];
    int64_t now_ms;
    time_t secs;
    struct tm tm;
    size_t n;
    int r;
    const char *name = names[level < 0 ? 0 : level > 3 ? 3 : level];

    if (level > log_get_level())
        return;
    now_ms = edge_realtime_ms();
    secs = (time_t)(now_ms / 1000);
    gmtime_r(&secs, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(now_ms % 1000));
    if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
        /* one JSON object per line: {"time", "level", "thread", "message"}, the fields of a text line */
        if ((r = vsnprintf(msg, sizeof(msg), fmt, ap)) < 0)
            r = 0;
        n = (size_t)snprintf(buf, sizeof(buf), "{\"time\":\"%s\",\"level\":\"%s\",\"thread\":", ts, name);
        n += edge_json_string(buf + n, sizeof(buf) - n, edge_worker_name(), strlen(edge_worker_name()));
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"message\":");
        /* room for the closing brace and the newline */
        n += edge_json_string(buf + n, sizeof(buf) - n - 2, msg, (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1);
        buf[n++] = '}';
    } else {
        n = (size_t)snprintf(buf, sizeof(buf), "%s [%s] [%s] ", ts, name, edge_worker_name());
        r = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
        if (r < 0)
            r = 0;
        n += (size_t)r < sizeof(buf) - n - 1 ? (size_t)r : sizeof(buf) - n - 2;
    }
    buf[n++] = '\n';
    int fd = atomic_load(&log_fd);
    while (write(fd, buf, n) == -1 && errno == EINTR)
        ;
}

void log_write(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}
