/* base/worker.h - which thread is running: worker N, store loop N, or another named thread. The log and the metrics read it. */
#ifndef EDGE_BASE_WORKER_H
#define EDGE_BASE_WORKER_H

/*
 * A worker thread calls edge_worker_enter(N) once, first thing; a store event-loop thread edge_store_loop_enter(N); other
 * threads (offload pool, hook watchdog, store threads) name themselves with edge_thread_name(). The main thread and tools are
 * "main" and neither. The name is also given to the kernel (/proc/PID/task/TID/comm, top -H, perf). Per-thread, no locking.
 */

/** makes the calling thread worker `id` (0-based), named `tID` in log lines */
void edge_worker_enter(unsigned id);
/** makes the calling thread store event loop `id` (0-based), named `store-ioID` in log lines; it is no worker */
void edge_store_loop_enter(unsigned id);
/** names a thread that is neither a worker nor a store loop (at most 15 characters kept) */
void edge_thread_name(const char *name);
/** the calling thread's worker number, or -1 if it is not a worker */
int edge_worker_id(void);
/** the calling thread's store loop number, or -1 if it is not a store loop */
int edge_store_loop_id(void);
/** the calling thread's name: `t0`, `t1`... for workers, `store-io0`... for store loops, `main` until named */
const char *edge_worker_name(void);

#endif
