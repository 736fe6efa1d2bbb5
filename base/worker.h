/* base/worker.h - which thread is running: worker N or another named thread. The log and the metrics read it. */
#ifndef EDGE_BASE_WORKER_H
#define EDGE_BASE_WORKER_H

/*
 * A worker thread calls edge_worker_enter(N) once, first thing; other threads (offload pool, hook watchdog) name themselves
 * with edge_thread_name(). The main thread and tools are "main" and no worker. Per-thread, no locking.
 */

/** makes the calling thread worker `id` (0-based), named `tID` in log lines */
void edge_worker_enter(unsigned id);
/** names a thread that is not a worker (at most 15 characters kept) */
void edge_thread_name(const char *name);
/** the calling thread's worker number, or -1 if it is not a worker */
int edge_worker_id(void);
/** the calling thread's name: `t0`, `t1`... for workers, `main` until named */
const char *edge_worker_name(void);

#endif
