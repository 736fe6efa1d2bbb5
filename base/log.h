/* base/log.h - the error log (levels, one line per event, thread-safe) */
#ifndef EDGE_BASE_LOG_H
#define EDGE_BASE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/** the current threshold; messages above it cost one comparison. Atomic: a reload sets it while every thread reads it; read
 * it with log_get_level(), set it with log_set_level() (relaxed: nothing else is ordered by it). */
extern _Atomic int log_level;

static inline int log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

static inline void log_set_level(int level)
{
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

/** opens the error log ("-" = stderr); may be called again on reload. Returns 0 or -1 with errno set. */
int log_open(const char *path, int level);
/** opens the error log's file again by its name (SIGUSR1, after logrotate renamed it): lines written meanwhile go whole to the
 * old file or to the new one. A no-op for stderr. Returns 0 or -1 with errno set (the old file stays in use). */
int log_reopen(void);
/** 1: one JSON object per line {"time", "level", "thread", "message"} (`error_log: {format: json}`); 0: text lines */
void log_set_json(int json);
/** writes one line `TIME [level] [tN] message` with a single write(2) */
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(int level, const char *fmt, va_list ap);
/* the thread in log lines is edge_worker_name() (base/worker.h) */

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)                                                                                                              \
    do {                                                                                                                           \
        if (log_get_level() >= LOG_WARN)                                                                                           \
            log_write(LOG_WARN, __VA_ARGS__);                                                                                      \
    } while (0)
#define log_info(...)                                                                                                              \
    do {                                                                                                                           \
        if (log_get_level() >= LOG_INFO)                                                                                           \
            log_write(LOG_INFO, __VA_ARGS__);                                                                                      \
    } while (0)
#define log_debug(...)                                                                                                             \
    do {                                                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                                                          \
            log_write(LOG_DEBUG, __VA_ARGS__);                                                                                     \
    } while (0)

#endif
