/* proxy/offload.h - hook calls that outgrew their inline budget go on on offload threads (suspended where they were, continued
 * from there: each runs once), so that a slow or looping hook never stalls the other requests of its worker: the worker goes
 * on serving and picks the result up when it is ready. Used by proxy/hookcall.c, whose callers see a call that completes
 * later. */
#ifndef EDGE_PROXY_OFFLOAD_H
#define EDGE_PROXY_OFFLOAD_H

#include <stdatomic.h>
#include <h2o.h>
#include "hooks/hooks.h"

/** how long a Lua hook call may run on a worker's event loop before it is moved off it (ms) */
#define OFFLOAD_INLINE_BUDGET_MS 20

typedef struct offload_job offload_job_t;
struct offload_job {
    unsigned magic;       /* OFFLOAD_JOB_MAGIC while alive (base/assert.h): it travels worker -> offload thread -> worker */
    hook_fn_t *fn;        /* a reference */
    hook_event_t ev;      /* the call's event from its move on (a deep copy, in pool); the result after the run */
    h2o_mem_pool_t pool;  /* the job's memory: the result points into it, so free the job after using the result */
    hook_call_t *call;    /* the call (hooks/hooks.h), started on the worker and suspended there */
    hook_run_t result;    /* what the offload thread's run did: finished, or parked on fetches (the worker starts them) */
    hook_status_t status; /* the result, once finished */
    hook_report_t rep;
    void (*on_done)(offload_job_t *job); /* on the submitting worker's thread, unless the job was orphaned */
    void *data;
    h2o_multithread_message_t message;
    h2o_multithread_receiver_t *receiver;
    h2o_linklist_t queue_link;
    int orphaned;                    /* touched only on the submitting worker's thread */
    struct offload_job *next;        /* the owner's list (proxy/hookcall.c keeps results until its caller ends) */
};
#define OFFLOAD_JOB_MAGIC 0x0ff10ad5u

/** the inline budget to give hook calls: OFFLOAD_INLINE_BUDGET_MS (or what offload_set_budget_ms set), 0 without offload threads */
uint64_t offload_budget_ms(void);
/** sets the inline budget (ms) from now on; for tests, which give a quick call room to finish inline on a starved machine */
void offload_set_budget_ms(uint64_t ms);
/** the number of jobs alive (made and not freed yet), on every thread: tests wait for it to come back to 0 */
unsigned offload_jobs_alive(void);

/** starts the offload threads (call once, before the workers) */
void offload_init(unsigned num_threads);
/** the receiver a worker registers on its queue for the results of its jobs */
void offload_receiver_init(h2o_multithread_receiver_t *receiver, h2o_multithread_queue_t *queue);
/** a job for a call of fn suspended past its inline budget: the job takes the call, which goes on with the job's own memory
 * (hook_call_move_memory: a copy of its event in the job's pool), so that the caller's may go away meanwhile */
offload_job_t *offload_job_new(hook_call_t *call, hook_fn_t *fn, void (*on_done)(offload_job_t *job), void *data);
/** queues a job whose call was suspended past its inline budget; an offload thread continues the call under the rest of its
 * timeout, or ends it as a timeout without running it further when the timeout passed while it waited; on_done runs later on
 * this worker thread (given its receiver) */
void offload_submit(offload_job_t *job, h2o_multithread_receiver_t *receiver);
/** the submitter is gone: the job is freed when it comes back, without calling on_done */
void offload_orphan(offload_job_t *job);
/** frees the job and its call (on the worker that made it: the call's Lua state goes back to it) */
void offload_job_free(offload_job_t *job);

#endif
