/* tests/unit/base/test_worker_clock.c - the per-thread identity the log and the metrics read, and the clock helpers */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "base/clock.h"
#include "base/worker.h"

static void *other_thread(void *arg)
{
    char *out = arg;
    /* a new thread is nobody until it says: not the creator's identity */
    snprintf(out, 32, "%d %s", edge_worker_id(), edge_worker_name());
    edge_worker_enter(7);
    return NULL;
}

static void test_worker_identity(void **state)
{
    char other[32];
    pthread_t t;
    assert_int_equal(edge_worker_id(), -1);
    assert_string_equal(edge_worker_name(), "main");
    edge_worker_enter(3);
    assert_int_equal(edge_worker_id(), 3);
    assert_string_equal(edge_worker_name(), "t3");
    assert_int_equal(pthread_create(&t, NULL, other_thread, other), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(other, "-1 main");
    assert_int_equal(edge_worker_id(), 3); /* the other thread's enter changed only its own */
    edge_thread_name("offload-with-a-long-name");
    assert_int_equal(edge_worker_id(), -1);
    assert_string_equal(edge_worker_name(), "offload-with-a-"); /* 15 characters kept */
    assert_int_equal(edge_store_loop_id(), -1);
    /* a store loop is no worker, and a worker no store loop */
    edge_store_loop_enter(2);
    assert_int_equal(edge_store_loop_id(), 2);
    assert_int_equal(edge_worker_id(), -1);
    assert_string_equal(edge_worker_name(), "store-io2");
    char comm[16];
    assert_int_equal(pthread_getname_np(pthread_self(), comm, sizeof(comm)), 0);
    assert_string_equal(comm, "store-io2"); /* the kernel's name too */
    edge_worker_enter(1);
    assert_int_equal(edge_store_loop_id(), -1);
    assert_int_equal(edge_worker_id(), 1);
    edge_store_loop_enter(0);
    edge_thread_name("s0");
    assert_int_equal(edge_store_loop_id(), -1);
    assert_int_equal(edge_worker_id(), -1);
}

static void test_clocks(void **state)
{
    uint64_t m0 = edge_mono_ns(), m1 = edge_mono_ns();
    assert_true(m1 >= m0);
    int64_t ms = edge_realtime_ms(), us = edge_realtime_us();
    assert_true(ms > 1700000000000LL);  /* after 2023 */
    assert_true(us / 1000 - ms >= 0 && us / 1000 - ms < 1000);
    /* a deadline's nanoseconds stay below one second whatever the start */
    for (uint64_t add = 0; add < 2000; add += 7) {
        struct timespec now, d;
        clock_gettime(CLOCK_MONOTONIC, &now);
        d = edge_deadline(CLOCK_MONOTONIC, add);
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        int64_t diff_ms = ((int64_t)d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
        assert_true(diff_ms >= (int64_t)add - 1 && diff_ms <= (int64_t)add + 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_identity),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
