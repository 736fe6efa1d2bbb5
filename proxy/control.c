/* proxy/control.c - the control thread: a queue of jobs run one at a time; completions go back to the posting worker's loop
 * through an h2o_multithread receiver. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "proxy/control.h"
#include "base/log.h"
#include "base/worker.h"

typedef struct control_job {
    h2o_multithread_message_t super; /* the completion message (link reused: first in the control queue, then to the worker) */
    struct control_job *next;
    control_fn fn;
    control_done_fn done;
    void *arg;
    h2o_multithread_receiver_t *receiver; /* the posting worker's, or NULL */
} control_job_t;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static control_job_t *head, **tail = &head;
static int running, stopping;
static pthread_t tid;
static __thread int on_control;
static __thread h2o_multithread_receiver_t *worker_receiver;
static _Atomic uint64_t stat_jobs, stat_busy_us, stat_max_us;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void *control_main(void *unused)
{
    edge_thread_name("control");
    on_control = 1;
    /* when the CPUs are busy the worker loops go first: a compile here may take longer, a hit must not wait for it */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        log_debug("control thread: cannot lower its priority: %s", strerror(errno));
    pthread_mutex_lock(&mutex);
    for (;;) {
        control_job_t *job;
        while (head == NULL && !stopping)
            pthread_cond_wait(&cond, &mutex);
        if (head == NULL)
            break;
        job = head;
        if ((head = job->next) == NULL)
            tail = &head;
        pthread_mutex_unlock(&mutex);

        uint64_t t0 = now_us();
        job->fn(job->arg);
        uint64_t d = now_us() - t0;
        atomic_fetch_add_explicit(&stat_jobs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&stat_busy_us, d, memory_order_relaxed);
        if (d > atomic_load_explicit(&stat_max_us, memory_order_relaxed))
            atomic_store_explicit(&stat_max_us, d, memory_order_relaxed);
        if (job->receiver != NULL) {
            h2o_multithread_send_message(job->receiver, &job->super); /* done runs there, and frees the job */
        } else {
            if (job->done != NULL)
                job->done(job->arg);
            free(job);
        }

        pthread_mutex_lock(&mutex);
    }
    pthread_mutex_unlock(&mutex);
    return NULL;
}

void control_start(void)
{
    pthread_mutex_lock(&mutex);
    if (!running) {
        running = 1;
        stopping = 0;
        h2o_multithread_create_thread(&tid, NULL, control_main, NULL);
    }
    pthread_mutex_unlock(&mutex);
}

void control_stop(void)
{
    pthread_mutex_lock(&mutex);
    if (!running) {
        pthread_mutex_unlock(&mutex);
        return;
    }
    stopping = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
    pthread_join(tid, NULL);
    running = 0;
}

static void on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        control_job_t *job = H2O_STRUCT_FROM_MEMBER(control_job_t, super.link, messages->next);
        h2o_linklist_unlink(&job->super.link);
        job->done(job->arg);
        free(job);
    }
}

void control_bind_worker(h2o_multithread_queue_t *queue)
{
    h2o_multithread_receiver_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        h2o_fatal("no memory");
    h2o_multithread_register_receiver(queue, r, on_completions); /* kept for the life of the worker's loop */
    worker_receiver = r;
}

void *control_worker_receiver(void)
{
    return worker_receiver;
}

static void post(h2o_multithread_receiver_t *receiver, control_fn fn, control_done_fn done, void *arg);

void control_post(control_fn fn, control_done_fn done, void *arg)
{
    post(worker_receiver, fn, done, arg);
}

void control_post_to(void *receiver, control_fn fn, control_done_fn done, void *arg)
{
    post(receiver, fn, done, arg);
}

static void post(h2o_multithread_receiver_t *receiver, control_fn fn, control_done_fn done, void *arg)
{
    control_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        h2o_fatal("no memory");
    job->fn = fn;
    job->done = done;
    job->arg = arg;
    job->receiver = done != NULL ? receiver : NULL;
    pthread_mutex_lock(&mutex);
    *tail = job;
    tail = &job->next;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
}

int control_is_current(void)
{
    return on_control;
}

void control_stats(uint64_t *jobs, uint64_t *busy_us, uint64_t *max_us)
{
    *jobs = atomic_load(&stat_jobs);
    *busy_us = atomic_load(&stat_busy_us);
    *max_us = atomic_load(&stat_max_us);
}
