/* base/clock.h - the clocks: monotonic (durations, deadlines) and real time (timestamps), in the units the modules use. */
#ifndef EDGE_BASE_CLOCK_H
#define EDGE_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/** CLOCK_MONOTONIC in ns: only differences mean something */
static inline uint64_t edge_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/** CLOCK_MONOTONIC in ms */
static inline uint64_t edge_mono_ms(void)
{
    return edge_mono_ns() / 1000000u;
}

/** wall-clock time in ns since the epoch (UTC) */
static inline int64_t edge_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/** wall-clock time in µs since the epoch */
static inline int64_t edge_realtime_us(void)
{
    return edge_realtime_ns() / 1000;
}

/** wall-clock time in ms since the epoch (a worker thread has the cheaper h2o_now() of its loop) */
static inline int64_t edge_realtime_ms(void)
{
    return edge_realtime_ns() / 1000000;
}

/** the absolute time `ms` from now on clock clk, for pthread_cond_timedwait (with the condition's clock) */
static inline struct timespec edge_deadline(clockid_t clk, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
