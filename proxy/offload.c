/* proxy/offload.c - a small pool of threads with their own hooks runtimes, running the hook calls workers hand them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/assert.h"
#include "base/log.h"
#include "base/worker.h"
#include "proxy/offload.h"

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static h2o_linklist_t queue = {&queue, &queue};

static void *offload_main(void *arg)
{
    hook_thread_t *t;
    char name[16];
    snprintf(name, sizeof(name), "offload%u", (unsigned)(uintptr_t)arg);
    edge_thread_name(name);
    if ((t = hook_thread_new()) == NULL)
        h2o_fatal("cannot create the hooks runtime of an offload thread");
    for (;;) {
        offload_job_t *job;
        pthread_mutex_lock(&mutex);
        while (h2o_linklist_is_empty(&queue))
            pthread_cond_wait(&cond, &mutex);
        job = H2O_STRUCT_FROM_MEMBER(offload_job_t, queue_link, queue.next);
        h2o_linklist_unlink(&job->queue_link);
        pthread_mutex_unlock(&mutex);
        EDGE_CHECK_OBJ(job, OFFLOAD_JOB_MAGIC);
        /* the call goes on from where it was, under the rest of its timeout: here a long call only delays its own request. None
         * is left after a long wait in the queue: the call ends as a timeout without running further */
        job->result = HOOK_RUN_FINISHED;
        if (hook_call_remaining_ms(job->call) == 0)
            hook_call_expire(t, job->call, "its timeout passed while it waited for an offload thread");
        else
            job->result = hook_call_run(t, job->call, 0);
        if (job->result == HOOK_RUN_FINISHED)
            job->status = hook_call_result(job->call, &job->rep);
        hook_thread_sweep(t);
        /* after this the job belongs to its worker again */
        h2o_multithread_send_message(job->receiver, &job->message);
    }
    return NULL;
}

static unsigned num_offload_threads;
static _Atomic uint64_t inline_budget_ms = OFFLOAD_INLINE_BUDGET_MS;
static _Atomic unsigned jobs_alive;

uint64_t offload_budget_ms(void)
{
    return num_offload_threads != 0 ? atomic_load_explicit(&inline_budget_ms, memory_order_relaxed) : 0;
}

void offload_set_budget_ms(uint64_t ms)
{
    atomic_store(&inline_budget_ms, ms);
}

unsigned offload_jobs_alive(void)
{
    return atomic_load(&jobs_alive);
}

void offload_init(unsigned num_threads)
{
    num_offload_threads = num_threads;
    for (unsigned i = 0; i != num_threads; ++i) {
        pthread_t tid;
        h2o_multithread_create_thread(&tid, NULL, offload_main, (void *)(uintptr_t)i);
    }
}

static void on_results(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        offload_job_t *job = H2O_STRUCT_FROM_MEMBER(offload_job_t, message.link, messages->next);
        h2o_linklist_unlink(&job->message.link);
        EDGE_CHECK_OBJ(job, OFFLOAD_JOB_MAGIC);
        if (job->orphaned && job->result == HOOK_RUN_PARKED) {
            /* its caller is gone: its fetches fail and it goes on to its end (freeing it mid-flight would leak its state's
             * machine code) */
            hook_call_abort_fetches(job->call);
            offload_submit(job, job->receiver);
        } else if (job->orphaned) {
            offload_job_free(job);
        } else {
            job->on_done(job);
        }
    }
}

void offload_receiver_init(h2o_multithread_receiver_t *receiver, h2o_multithread_queue_t *queue)
{
    h2o_multithread_register_receiver(queue, receiver, on_results);
}

offload_job_t *offload_job_new(hook_call_t *call, hook_fn_t *fn, void (*on_done)(offload_job_t *job), void *data)
{
    offload_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        h2o_fatal("no memory");
    job->magic = OFFLOAD_JOB_MAGIC;
    atomic_fetch_add_explicit(&jobs_alive, 1, memory_order_relaxed);
    h2o_mem_init_pool(&job->pool);
    job->fn = fn;
    hook_fn_addref(fn);
    job->call = call;
    hook_call_move_memory(call, &job->ev, &job->pool);
    job->on_done = on_done;
    job->data = data;
    return job;
}

void offload_submit(offload_job_t *job, h2o_multithread_receiver_t *receiver)
{
    EDGE_CHECK_OBJ(job, OFFLOAD_JOB_MAGIC);
    job->receiver = receiver;
    pthread_mutex_lock(&mutex);
    h2o_linklist_insert(&queue, &job->queue_link);
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
}

void offload_orphan(offload_job_t *job)
{
    EDGE_CHECK_OBJ(job, OFFLOAD_JOB_MAGIC);
    job->orphaned = 1;
}

void offload_job_free(offload_job_t *job)
{
    EDGE_FREE_OBJ(job, OFFLOAD_JOB_MAGIC);
    hook_call_free(job->call); /* before the reference to its hook goes */
    hook_fn_release(job->fn);
    h2o_mem_clear_pool(&job->pool);
    free(job);
    atomic_fetch_sub_explicit(&jobs_alive, 1, memory_order_relaxed);
}
