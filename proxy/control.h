/* proxy/control.h - the control thread: where blocking control-plane work runs (reloads, admin changes, hook compilation,
 * purges), one job at a time, so that the worker loops that serve cache hits never block on it (Varnish's manager/child split,
 * in one process). A worker posts a job and goes on serving; the job's completion runs back on that worker's loop. */
#ifndef EDGE_PROXY_CONTROL_H
#define EDGE_PROXY_CONTROL_H

#include <h2o.h>

/** a job's work: runs on the control thread, jobs one after the other in the order they were posted (a job may block) */
typedef void (*control_fn)(void *arg);
/** a job's completion: runs on the loop of the worker that posted the job, after fn */
typedef void (*control_done_fn)(void *arg);

/** starts the control thread (once, before anything is posted) */
void control_start(void);
/** runs the jobs already posted, then stops and joins the control thread (after the workers have stopped) */
void control_stop(void);

/**
 * Queues fn(arg) on the control thread. When it has run, done(arg) runs on the loop of the worker thread that posted it (a
 * worker must have called control_bind_worker); posted from another thread (signals, the main thread), or with done NULL,
 * done runs on the control thread right after fn. Never blocks beyond a short queue lock. Any thread.
 */
void control_post(control_fn fn, control_done_fn done, void *arg);

/** the calling worker's completion receiver (NULL off a worker): for a completion that another thread triggers later */
void *control_worker_receiver(void);
/** control_post whose done runs on the loop of the worker whose receiver is given (NULL: on the control thread, after fn) */
void control_post_to(void *receiver, control_fn fn, control_done_fn done, void *arg);

/** makes the calling worker thread able to receive completions: registers a receiver on its loop's queue (once per worker) */
void control_bind_worker(h2o_multithread_queue_t *queue);

/** 1 on the control thread (for assertions: registry changes and generation builds happen there only) */
int control_is_current(void);

/** the number of jobs run so far and the total and longest time spent in them, in microseconds (for metrics) */
void control_stats(uint64_t *jobs, uint64_t *busy_us, uint64_t *max_us);

#endif
