/* tests/unit/proxy/test_control.c - the control thread (proxy/control.h): jobs run on it one at a time in the order they were
 * posted, never on the poster's thread; their completions run on the posting worker's loop; jobs posted from a thread that is
 * no worker complete on the control thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "proxy/control.h"

#define N 200

typedef struct job {
    int index;
    pthread_t ran_on, done_on;
    int on_control, done_on_control;
    int order; /* when fn ran, among all jobs */
} job_t;

static int ran; /* written by the control thread only */
static int done_count;
static int busy; /* a job that overlaps another sees it set */
static int overlapped;

static void job_fn(void *arg)
{
    job_t *j = arg;
    if (__atomic_exchange_n(&busy, 1, __ATOMIC_SEQ_CST))
        overlapped = 1;
    j->ran_on = pthread_self();
    j->on_control = control_is_current();
    j->order = ran++;
    __atomic_store_n(&busy, 0, __ATOMIC_SEQ_CST);
}

static void job_done(void *arg)
{
    job_t *j = arg;
    j->done_on = pthread_self();
    j->done_on_control = control_is_current();
    __atomic_add_fetch(&done_count, 1, __ATOMIC_SEQ_CST);
}

static void test_jobs_and_completions(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    h2o_multithread_queue_t *queue = h2o_multithread_create_queue(loop);
    job_t jobs[N];

    control_start();
    control_bind_worker(queue); /* this thread plays a worker */
    assert_false(control_is_current());
    for (int i = 0; i != N; ++i) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].index = i;
        control_post(job_fn, job_done, &jobs[i]);
    }
    /* the completions come back through the loop's queue: run it until all have */
    for (int spins = 0; __atomic_load_n(&done_count, __ATOMIC_SEQ_CST) != N && spins != 10000; ++spins)
        h2o_evloop_run(loop, 10);
    assert_int_equal(done_count, N);
    for (int i = 0; i != N; ++i) {
        assert_true(jobs[i].on_control);
        assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
        assert_int_equal(jobs[i].order, i);                          /* in the order posted */
        assert_true(pthread_equal(jobs[i].done_on, pthread_self())); /* on the poster's loop */
        assert_false(jobs[i].done_on_control);
    }
    assert_false(overlapped);

    uint64_t count, busy_us, max_us;
    control_stats(&count, &busy_us, &max_us);
    assert_int_equal(count, N);
    control_stop();
}

static job_t from_other;

static void *other_thread(void *unused)
{
    control_post(job_fn, job_done, &from_other); /* no worker here: done runs on the control thread */
    return NULL;
}

static void test_post_from_a_non_worker(void **state)
{
    pthread_t t;
    done_count = 0;
    control_start();
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    control_stop(); /* runs what was posted before it stops */
    assert_int_equal(done_count, 1);
    assert_true(from_other.on_control);
    assert_true(from_other.done_on_control);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_jobs_and_completions), cmocka_unit_test(test_post_from_a_non_worker)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
