/* tests/unit/queue/test_queue.c - the durable queue: every torn tail, a crash between take and done, the bounds, the order,
 * retries with their not-before time across a restart, the visibility timeout, compaction, and consumers on several threads */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "queue/queue.h"

static char dir[256], logpath[320];

static int on_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/edgehook-test-queue-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(logpath, sizeof(logpath), "%s/events.log", dir);
    return 0;
}

static int teardown(void **state)
{
    nftw(dir, on_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static queue_t *open_q(const queue_limits_t *lim)
{
    char err[512] = "";
    queue_limits_t none = {0};
    queue_t *q = queue_open(dir, lim != NULL ? lim : &none, err, sizeof(err));
    if (q == NULL)
        fail_msg("open: %s", err);
    return q;
}

static uint64_t enq(queue_t *q, const char *key, const char *payload)
{
    char err[256];
    uint64_t id = 0;
    assert_int_equal(queue_enqueue(q, key, strlen(key), payload, strlen(payload), &id, err, sizeof(err)), 0);
    return id;
}

/* takes the next visible event (at a time far ahead when later is set: every backoff has passed) and checks its payload */
static uint64_t take_expect(queue_t *q, const char *payload, uint32_t attempts)
{
    queue_event_t ev;
    assert_int_equal(queue_take(q, queue_now_ms(), NULL, NULL, &ev, NULL), 1);
    assert_string_equal(ev.payload, payload);
    assert_int_equal(ev.len, strlen(payload));
    assert_int_equal(ev.attempts, attempts);
    uint64_t id = ev.id;
    queue_event_clear(&ev);
    return id;
}

static void expect_empty(queue_t *q, uint64_t now)
{
    queue_event_t ev;
    assert_int_equal(queue_take(q, now, NULL, NULL, &ev, NULL), 0);
}

static long file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return (long)st.st_size;
}

static void test_order_and_done(void **state)
{
    queue_t *q = open_q(NULL);
    enq(q, "f", "one");
    enq(q, "g", "two");
    enq(q, "f", "three");
    uint64_t a = take_expect(q, "one", 1), b = take_expect(q, "two", 1), c = take_expect(q, "three", 1);
    expect_empty(q, queue_now_ms());
    queue_stats_t st;
    queue_get_stats(q, &st);
    assert_int_equal(st.events, 3);
    assert_int_equal(st.in_flight, 3);
    assert_int_equal(queue_done(q, b), 0);
    assert_int_equal(queue_done(q, b), -1); /* twice: unknown */
    assert_int_equal(queue_done(q, a), 0);
    assert_int_equal(queue_done(q, c), 0);
    queue_get_stats(q, &st);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.oldest_ms, 0);
    queue_close(q);
    q = open_q(NULL); /* nothing comes back */
    expect_empty(q, UINT64_MAX / 2);
    queue_close(q);
}

static int only_g(void *arg, const char *key, size_t len)
{
    ++*(int *)arg;
    return len == 1 && key[0] == 'g';
}

static void test_filter_skips_keys(void **state)
{
    queue_t *q = open_q(NULL);
    enq(q, "f", "one");
    enq(q, "g", "two");
    queue_event_t ev;
    int calls = 0;
    assert_int_equal(queue_take(q, queue_now_ms(), only_g, &calls, &ev, NULL), 1);
    assert_string_equal(ev.payload, "two");
    assert_string_equal(ev.key, "g");
    assert_int_equal(calls, 2);
    queue_event_clear(&ev);
    take_expect(q, "one", 1);
    queue_close(q);
}

static void test_crash_between_take_and_done(void **state)
{
    queue_t *q = open_q(NULL);
    enq(q, "f", "one");
    enq(q, "f", "two");
    uint64_t a = take_expect(q, "one", 1);
    take_expect(q, "two", 1);
    assert_int_equal(queue_done(q, a), 0);
    queue_close(q); /* as kill -9: nothing more is written at close */
    q = open_q(NULL);
    take_expect(q, "two", 2); /* redelivered, its attempts kept */
    queue_close(q);
    q = open_q(NULL);
    take_expect(q, "two", 3);
    queue_close(q);
}

static void test_retry_not_before_survives_restart(void **state)
{
    queue_t *q = open_q(NULL);
    enq(q, "f", "one");
    uint64_t now = queue_now_ms(), next = 0;
    uint64_t id = take_expect(q, "one", 1);
    assert_int_equal(queue_retry(q, id, now + 60000), 0);
    queue_event_t ev;
    assert_int_equal(queue_take(q, now + 1000, NULL, NULL, &ev, &next), 0);
    assert_int_equal(next, now + 60000);
    queue_close(q);
    q = open_q(NULL);
    assert_int_equal(queue_take(q, now + 59999, NULL, NULL, &ev, &next), 0);
    assert_int_equal(next, now + 60000);
    assert_int_equal(queue_take(q, now + 60000, NULL, NULL, &ev, NULL), 1);
    assert_int_equal(ev.attempts, 2);
    queue_event_clear(&ev);
    queue_close(q);
}

static void test_visibility_timeout(void **state)
{
    queue_limits_t lim = {.visibility_ms = 5000};
    queue_t *q = open_q(&lim);
    enq(q, "f", "one");
    uint64_t now = queue_now_ms(), next;
    queue_event_t ev;
    assert_int_equal(queue_take(q, now, NULL, NULL, &ev, NULL), 1);
    uint64_t id = ev.id;
    queue_event_clear(&ev);
    assert_int_equal(queue_take(q, now + 4999, NULL, NULL, &ev, &next), 0);
    assert_int_equal(next, now + 5000);
    assert_int_equal(queue_take(q, now + 5000, NULL, NULL, &ev, NULL), 1); /* a consumer that vanished: redelivered */
    assert_int_equal(ev.id, id);
    assert_int_equal(ev.attempts, 2);
    queue_event_clear(&ev);
    assert_int_equal(queue_done(q, id), 0); /* either consumer finishing ends it */
    assert_int_equal(queue_done(q, id), -1);
    queue_close(q);
}

static void test_bounds_refuse_never_drop(void **state)
{
    queue_limits_t lim = {.max_events = 3, .max_bytes = 20};
    queue_t *q = open_q(&lim);
    char err[256];
    uint64_t id;
    enq(q, "f", "aaaa");
    enq(q, "f", "bbbb");
    enq(q, "f", "cccc");
    assert_int_equal(queue_enqueue(q, "f", 1, "dddd", 4, &id, err, sizeof(err)), QUEUE_FULL);
    assert_non_null(strstr(err, "full"));
    uint64_t a = take_expect(q, "aaaa", 1);
    assert_int_equal(queue_enqueue(q, "f", 1, "dddd", 4, &id, err, sizeof(err)), QUEUE_FULL); /* taken is still queued */
    assert_int_equal(queue_done(q, a), 0);
    /* 10 bytes live: 11 more would pass max_bytes */
    assert_int_equal(queue_enqueue(q, "f", 1, "dddddddddd", 10, &id, err, sizeof(err)), QUEUE_FULL);
    assert_non_null(strstr(err, "bytes"));
    enq(q, "f", "dddd");
    take_expect(q, "bbbb", 1); /* the oldest are all still there */
    take_expect(q, "cccc", 1);
    take_expect(q, "dddd", 1);
    char *big = calloc(1, QUEUE_MAX_PAYLOAD + 2);
    assert_int_equal(queue_enqueue(q, "f", 1, big, QUEUE_MAX_PAYLOAD + 1, &id, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too large"));
    free(big);
    queue_close(q);
}

/* every prefix of a log cut inside its last record: that record is dropped, every earlier one kept, the file cut back */
static void test_every_torn_tail(void **state)
{
    queue_t *q = open_q(NULL);
    enq(q, "f", "one");
    uint64_t id = take_expect(q, "one", 1);
    long before_retry = file_size(logpath);
    assert_int_equal(queue_retry(q, id, 1), 0);
    long before_enq = file_size(logpath);
    enq(q, "function-name", "the second event");
    long full = file_size(logpath);
    queue_close(q);
    FILE *f = fopen(logpath, "rb");
    char *orig = malloc((size_t)full);
    assert_int_equal(fread(orig, 1, (size_t)full, f), (size_t)full);
    fclose(f);
    for (long cut = before_retry; cut < full; ++cut) {
        f = fopen(logpath, "wb");
        fwrite(orig, 1, (size_t)cut, f);
        fclose(f);
        q = open_q(NULL);
        assert_int_equal(file_size(logpath), cut < before_enq ? before_retry : before_enq);
        queue_stats_t st;
        queue_get_stats(q, &st);
        assert_int_equal(st.events, cut < before_enq ? 1 : 1); /* the torn enqueue is not there */
        queue_event_t ev;
        assert_int_equal(queue_take(q, queue_now_ms(), NULL, NULL, &ev, NULL), 1);
        assert_string_equal(ev.payload, "one");
        assert_int_equal(ev.attempts, 2);
        queue_event_clear(&ev);
        assert_int_equal(queue_take(q, queue_now_ms(), NULL, NULL, &ev, NULL), 0);
        queue_close(q);
    }
    /* a damaged byte in the middle of the last record: the same */
    orig[full - 3] ^= 0x40;
    f = fopen(logpath, "wb");
    fwrite(orig, 1, (size_t)full, f);
    fclose(f);
    q = open_q(NULL);
    assert_int_equal(file_size(logpath), before_enq);
    queue_close(q);
    /* a partial header (a crash at creation) starts afresh; a foreign file is refused */
    f = fopen(logpath, "wb");
    fwrite("EDGE", 1, 4, f);
    fclose(f);
    q = open_q(NULL);
    expect_empty(q, UINT64_MAX / 2);
    queue_close(q);
    f = fopen(logpath, "wb");
    fwrite("hello world\n", 1, 12, f);
    fclose(f);
    char err[512];
    queue_limits_t none = {0};
    assert_null(queue_open(dir, &none, err, sizeof(err)));
    assert_non_null(strstr(err, "not an edgehook queue log"));
    free(orig);
}

static void test_compaction(void **state)
{
    queue_limits_t lim = {.compact_min = 4096};
    queue_t *q = open_q(&lim);
    char payload[200];
    memset(payload, 'x', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = '\0';
    uint64_t keep = enq(q, "keep", "the survivor");
    uint64_t keep_id = take_expect(q, "the survivor", 1);
    assert_int_equal(keep, keep_id);
    uint64_t later = queue_now_ms() + 600000;            /* before the visibility timeout of the takes below */
    assert_int_equal(queue_retry(q, keep_id, later), 0); /* out of the way of the loop's takes */
    for (int i = 0; i != 200; ++i) {
        enq(q, "f", payload);
        queue_event_t ev;
        assert_int_equal(queue_take(q, queue_now_ms(), NULL, NULL, &ev, NULL), 1);
        assert_int_equal(queue_done(q, ev.id), 0);
        queue_event_clear(&ev);
    }
    queue_stats_t st;
    queue_get_stats(q, &st);
    assert_true(st.compactions >= 1);
    assert_true(file_size(logpath) < 8192); /* 200 events of 200 bytes went through */
    assert_int_equal(st.events, 1);
    uint64_t last = enq(q, "f", "after");
    queue_close(q);
    q = open_q(&lim);
    queue_event_t ev;
    uint64_t next = enq(q, "f", "new");
    assert_true(next > last); /* ids are never reused */
    take_expect(q, "after", 1);
    take_expect(q, "new", 1);
    assert_int_equal(queue_take(q, later - 1, NULL, NULL, &ev, NULL), 0); /* not-before kept by the rewrite */
    assert_int_equal(queue_take(q, later, NULL, NULL, &ev, NULL), 1);
    assert_int_equal(ev.id, keep_id); /* attempts and key kept too */
    assert_int_equal(ev.attempts, 2);
    assert_string_equal(ev.key, "keep");
    assert_string_equal(ev.payload, "the survivor");
    queue_event_clear(&ev);
    queue_close(q);
}

#define THREADS 4
#define PER_THREAD 200
static queue_t *shared;
static int seen[THREADS * PER_THREAD + 1];
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;

static void *producer(void *arg)
{
    for (int i = 0; i != PER_THREAD; ++i) {
        char p[32], err[128];
        uint64_t id;
        snprintf(p, sizeof(p), "%d", (int)(intptr_t)arg * PER_THREAD + i + 1);
        assert_int_equal(queue_enqueue(shared, "f", 1, p, strlen(p), &id, err, sizeof(err)), 0);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    int got = 0;
    while (got != PER_THREAD) {
        uint64_t seen_changes = queue_changes(shared), next;
        queue_event_t ev;
        int r = queue_take(shared, queue_now_ms(), NULL, NULL, &ev, &next);
        assert_int_not_equal(r, -1);
        if (r == 0) {
            queue_wait(shared, seen_changes, queue_now_ms() + 1000);
            continue;
        }
        pthread_mutex_lock(&seen_mu);
        seen[atoi(ev.payload)] += 1;
        pthread_mutex_unlock(&seen_mu);
        assert_int_equal(queue_done(shared, ev.id), 0);
        queue_event_clear(&ev);
        ++got;
    }
    return NULL;
}

static void test_threads(void **state)
{
    queue_limits_t lim = {.compact_min = 16384};
    shared = open_q(&lim);
    pthread_t p[THREADS], c[THREADS];
    for (intptr_t i = 0; i != THREADS; ++i) {
        pthread_create(&c[i], NULL, consumer, NULL);
        pthread_create(&p[i], NULL, producer, (void *)i);
    }
    for (int i = 0; i != THREADS; ++i) {
        pthread_join(p[i], NULL);
        pthread_join(c[i], NULL);
    }
    for (int i = 1; i <= THREADS * PER_THREAD; ++i)
        assert_int_equal(seen[i], 1);
    queue_stats_t st;
    queue_get_stats(shared, &st);
    assert_int_equal(st.events, 0);
    queue_close(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_skips_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_take_and_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_not_before_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visibility_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_refuse_never_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
