/* store/jobs.h - the store's own threads: the blocking work of S3 requests (disk I/O, fsync, rename, listings) runs there, off
 * the event loops that serve cache hits, and each job's completion comes back to the loop that submitted it */
#ifndef EDGE_STORE_JOBS_H
#define EDGE_STORE_JOBS_H

#include <h2o.h>

/*
 * A job is submitted on an event-loop thread (a worker). run() executes on one of the store threads, where it may block on the
 * filesystem for as long as it needs; then done() executes on the submitting loop's thread, where it may touch h2o objects (the
 * request, its pool, its connection). Nothing of h2o is touched on a store thread.
 *
 * Delivery back uses the worker context's h2o_multithread_queue: each loop thread that submits gets a receiver on it, registered
 * with its first job. A loop thread must not stop running its loop while it has jobs out (store_jobs_pending()): their done()
 * would never run.
 *
 * Jobs are independent and may run in any order on any store thread. A caller that needs several steps in order (a body written
 * chunk by chunk as it arrives) submits the next step from the done() of the previous one; the job structure can be submitted
 * again once its done() has been called.
 */

typedef struct store_jobs store_jobs_t;
typedef struct store_job store_job_t;

struct store_job {
    void (*run)(store_job_t *job);  /* on a store thread */
    void (*done)(store_job_t *job); /* on the submitting loop's thread */
    /* private */
    h2o_multithread_message_t _message;
    struct store_jobs_loop *_loop;
    store_job_t *_next;
};

/** starts num_threads store threads (1..64); NULL with a message in err */
store_jobs_t *store_jobs_start(unsigned num_threads, char *err, size_t errlen);
/** runs the jobs still queued, then stops and joins the threads (no loop may submit any more); their done() calls are not made */
void store_jobs_stop(store_jobs_t *jobs);
/** queues job (run and done set) from the loop of ctx; done() later runs on this thread */
void store_jobs_submit(store_jobs_t *jobs, h2o_context_t *ctx, store_job_t *job);
/** the number of jobs this loop thread has submitted whose done() has not run yet */
unsigned store_jobs_pending(void);
/**
 * On a store thread, around a wait for the network (a request body that has not arrived): while jobs are so blocked and others
 * are queued with no thread free, the pool runs up to 64 more threads, so that slow uploads do not hold up other requests.
 * Elsewhere a no-op.
 */
void store_jobs_blocking(int begin);
/** puts the calling thread at the store threads' priority: 10 nice levels below the process (at most 19) */
void store_jobs_lower_priority(void);

#endif
