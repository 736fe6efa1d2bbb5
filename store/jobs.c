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
    /* threads blocked in a job waiting for the network (a request body), and the extra threads started so that they do not hold
     * up the queue: while jobs wait, up to STORE_JOBS_MAX_EXTRA more threads run; an extra one ends when it is not needed */
    unsigned idle, blocked, extra;
    pthread_cond_t extra_gone;
};

static __thread struct store_jobs_loop *this_loop;
static __thread store_jobs_t *this_pool; /* on a store thread: its pool */

#define STORE_JOBS_MAX_EXTRA 64

static void *thread_main(void *arg);
static __thread int is_extra; /* a detached thread started by maybe_add_thread */

static void *extra_main(void *arg)
{
    is_extra = 1;
    return thread_main(arg);
}

/* under p->lock: an extra thread ends */
static void *extra_ends(store_jobs_t *p)
{
    if (--p->extra == 0)
        pthread_cond_broadcast(&p->extra_gone);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* under p->lock: one more thread if jobs wait while every thread is busy and some are blocked on the network */
static void maybe_add_thread(store_jobs_t *p)
{
    pthread_t tid;
    pthread_attr_t attr;
    if (p->head == NULL || p->idle != 0 || p->blocked <= p->extra || p->extra >= STORE_JOBS_MAX_EXTRA || p->stopping)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, extra_main, p) == 0)
        ++p->extra;
    pthread_attr_destroy(&attr);
}

void store_jobs_blocking(int begin)
{
    store_jobs_t *p = this_pool;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    if (begin) {
        ++p->blocked;
        maybe_add_thread(p);
    } else {
        --p->blocked;
    }
    pthread_mutex_unlock(&p->lock);
}

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
    this_pool = p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->head == NULL && !p->stopping) {
            if (is_extra && p->extra > p->blocked)
                return extra_ends(p); /* more threads than the blocked jobs call for */
            ++p->idle;
            pthread_cond_wait(&p->cond, &p->lock);
            --p->idle;
        }
        if (p->head == NULL) {
            if (is_extra)
                return extra_ends(p);
            break;
        }
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
    pthread_cond_init(&p->extra_gone, NULL);
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
    pthread_mutex_lock(&p->lock);
    while (p->extra != 0) {
        pthread_cond_broadcast(&p->cond);
        pthread_cond_wait(&p->extra_gone, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->extra_gone);
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
    maybe_add_thread(p);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

unsigned store_jobs_pending(void)
{
    return this_loop != NULL ? this_loop->pending : 0;
}
