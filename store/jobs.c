/* store/jobs.c - the store's thread pool: a FIFO of jobs under one mutex, served by a few threads; completions go back to the
 * submitting loop through its h2o_multithread_queue */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "base/log.h"
#include "base/worker.h"
#include "store/jobs.h"

/* how many nice levels the store threads run below the process */
#define STORE_JOBS_NICE 10

/* one per loop thread that submitted a job; lives until the process exits (the loop's queue may outlive a pool) */
struct store_jobs_loop {
    h2o_multithread_receiver_t receiver;
    unsigned pending;
};

struct store_jobs {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    store_job_t *head, *tail;
    int stopping;
    unsigned num_threads;
    pthread_t *tids;
};

static __thread struct store_jobs_loop *this_loop;

static void on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct store_jobs_loop *l = H2O_STRUCT_FROM_MEMBER(struct store_jobs_loop, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        store_job_t *job = H2O_STRUCT_FROM_MEMBER(store_job_t, _message.link, messages->next);
        h2o_linklist_unlink(&job->_message.link);
        --l->pending;
        job->done(job); /* may free or resubmit the job */
    }
}

void store_jobs_lower_priority(void)
{
    /* below the workers: when the CPU is short, the loops serving cache hits get it first (10 nice levels weigh about a tenth).
     * The process's nice is that of the main thread, which never changes its own. */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)getpid());
    if (errno == 0) {
        nice = nice + STORE_JOBS_NICE < 19 ? nice + STORE_JOBS_NICE : 19;
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), nice) != 0)
            log_warn("store: cannot lower the priority of thread %s: %s", edge_worker_name(), strerror(errno));
    }
}

static void *thread_main(void *arg)
{
    store_jobs_t *p = arg;
    static atomic_uint num;
    char name[16];
    snprintf(name, sizeof(name), "s%u", atomic_fetch_add(&num, 1)); /* error log lines say [s0], [s1]... */
    edge_thread_name(name);
    store_jobs_lower_priority();
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->head == NULL)
            break;
        store_job_t *job = p->head;
        if ((p->head = job->_next) == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        job->run(job);
        if (job->_loop != NULL)
            h2o_multithread_send_message(&job->_loop->receiver, &job->_message);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

store_jobs_t *store_jobs_start(unsigned num_threads, char *err, size_t errlen)
{
    store_jobs_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->tids = calloc(num_threads, sizeof(*p->tids))) == NULL) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (unsigned i = 0; i != num_threads; ++i) {
        int e = pthread_create(&p->tids[i], NULL, thread_main, p);
        if (e != 0) {
            snprintf(err, errlen, "cannot start a store thread: %s", strerror(e));
            store_jobs_stop(p);
            return NULL;
        }
        ++p->num_threads;
    }
    return p;
}

void store_jobs_stop(store_jobs_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i != p->num_threads; ++i)
        pthread_join(p->tids[i], NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->tids);
    free(p);
}

void store_jobs_submit(store_jobs_t *p, h2o_context_t *ctx, store_job_t *job)
{
    if (this_loop == NULL) {
        if ((this_loop = calloc(1, sizeof(*this_loop))) == NULL)
            h2o_fatal("no memory");
        h2o_multithread_register_receiver(ctx->queue, &this_loop->receiver, on_done);
    }
    ++this_loop->pending;
    job->_loop = this_loop;
    job->_message = (h2o_multithread_message_t){{NULL, NULL}};
    job->_next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail != NULL)
        p->tail->_next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

unsigned store_jobs_pending(void)
{
    return this_loop != NULL ? this_loop->pending : 0;
}
