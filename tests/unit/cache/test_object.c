/* tests/unit/cache/test_object.c - cache objects: heads, bodies across segments, readers, transient windows, waiters across
 * threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "cache/object.h"

static h2o_iovec_t s(const char *str)
{
    return h2o_iovec_init(str, strlen(str));
}

static void test_head_is_copied(void **state)
{
    cache_obj_t *o = cache_obj_new(1, s("key"), s("/url"));
    h2o_header_t hdrs[2];
    char value[] = "text/plain", name[] = "x-custom", orig[] = "X-Custom";
    h2o_iovec_t n = h2o_iovec_init(name, strlen(name));
    hdrs[0] = (h2o_header_t){(h2o_iovec_t *)&H2O_TOKEN_CONTENT_TYPE->buf, NULL, h2o_iovec_init(value, strlen(value))};
    hdrs[1] = (h2o_header_t){&n, orig, h2o_iovec_init(H2O_STRLIT("v"))};
    cache_obj_set_head(o, 200, "OK", hdrs, 2, 2, 5, 0);
    /* the caller's memory may go: the object holds its own copies */
    memset(value, 'X', sizeof(value) - 1);
    memset(name, 'Y', sizeof(name) - 1);
    memset(orig, 'Z', sizeof(orig) - 1);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_header_t got[2];
    size_t plain;
    assert_int_equal(cache_obj_num_headers(o), 2);
    assert_int_equal(cache_obj_headers(o, &pool, got, &plain), 2);
    assert_int_equal(plain, 2);
    assert_string_equal(cache_obj_reason(o), "OK");
    assert_ptr_equal(got[0].name, &H2O_TOKEN_CONTENT_TYPE->buf);
    assert_null(got[0].orig_name);
    assert_int_equal(got[0].value.len, 10);
    assert_memory_equal(got[0].value.base, "text/plain", 11); /* NUL-terminated */
    assert_int_equal(got[1].name->len, 8);
    assert_memory_equal(got[1].name->base, "x-custom", 8);
    assert_memory_equal(got[1].orig_name, "X-Custom", 8);
    assert_memory_equal(got[1].value.base, "v", 2);
    assert_int_equal(cache_obj_find_header(o, H2O_TOKEN_CONTENT_TYPE), 0);
    assert_int_equal(cache_obj_find_header(o, H2O_TOKEN_ETAG), -1);
    /* a small stored body of known length shares the head's block */
    assert_true(o->head_in_seg);
    assert_non_null(cache_obj_body(o)->first);
    assert_int_equal(cache_obj_body(o)->first->cap, 5);
    cache_obj_append(o, "hello", 5);
    cache_obj_complete(o);
    assert_memory_equal(cache_obj_body(o)->first->data, "hello", 5);
    assert_null(cache_obj_body(o)->first->next);
    assert_int_equal(cache_obj_headers(o, &pool, got, &plain), 2); /* the body did not overwrite the head */
    assert_memory_equal(got[1].value.base, "v", 2);
    h2o_mem_clear_pool(&pool);
    cache_obj_release(o);
}

static void test_body_across_segments(void **state)
{
    cache_obj_t *o = cache_obj_new(1, s("k"), s("u"));
    cache_reader_t r;
    h2o_iovec_t v[64];
    size_t n, nbytes, total = 0;
    unsigned char *data = malloc(3 << 20);
    for (size_t i = 0; i != 3u << 20; ++i)
        data[i] = (unsigned char)(i * 31 + (i >> 13));
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, -1, 0);
    cache_reader_attach(o, &r);
    /* odd sizes so that appends straddle segment boundaries */
    for (size_t off = 0; off < (3u << 20);) {
        size_t len = 7777 + off % 50000;
        if (off + len > (3u << 20))
            len = (3u << 20) - off;
        cache_obj_append(o, data + off, len);
        off += len;
    }
    cache_obj_complete(o);
    assert_int_equal(o->content_length, 3 << 20);
    uint64_t pos = 0;
    while ((n = cache_reader_peek(o, &r, pos, UINT64_MAX, v, 64, &nbytes)) != 0) {
        for (size_t i = 0; i != n; ++i) {
            assert_memory_equal(v[i].base, data + pos, v[i].len);
            pos += v[i].len;
        }
        total += nbytes;
        cache_reader_ack(o, &r, pos);
    }
    assert_int_equal(total, 3 << 20);
    /* a range in the middle */
    n = cache_reader_peek(o, &r, 1000000, 1000010, v, 64, &nbytes);
    assert_int_equal(nbytes, 10);
    assert_memory_equal(v[0].base, data + 1000000, v[0].len);
    cache_reader_detach(o, &r);
    cache_obj_release(o);
    free(data);
}

static void test_transient_frees_what_readers_took(void **state)
{
    cache_obj_t *o = cache_obj_new(1, s("k"), s("u"));
    cache_reader_t r;
    h2o_iovec_t v[16];
    size_t nbytes;
    char buf[65536];
    memset(buf, 'a', sizeof(buf));
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, -1, 1);
    assert_int_equal(cache_obj_state(o), CACHE_OBJ_PASS);
    cache_reader_attach(o, &r);
    cache_obj_make_transient(o, NULL);
    for (int i = 0; i != 64; ++i) /* 4 MB */
        cache_obj_append(o, buf, sizeof(buf));
    assert_true(cache_obj_window_full(o, 1 << 20));
    size_t before = cache_obj_body(o)->allocated;
    uint64_t pos = 0;
    while (pos < (3u << 20)) {
        cache_reader_peek(o, &r, pos, UINT64_MAX, v, 16, &nbytes);
        pos += nbytes;
        cache_reader_ack(o, &r, pos);
    }
    assert_true(cache_obj_body(o)->allocated < before / 2); /* what the only reader took is gone */
    assert_false(cache_obj_window_full(o, 2 << 20));
    cache_reader_detach(o, &r);
    assert_int_equal(cache_obj_num_readers(o), 0);
    cache_obj_release(o);
}

/* external segments: the bytes stay where they are; each segment's release runs once, when a reader of a transient body is
 * past it or when the object goes - never while a reader may still point into it */
static int ext_released[8];
static void ext_release(void *ctx)
{
    ++ext_released[(intptr_t)ctx];
}

static void test_external_segments_released_once(void **state)
{
    cache_obj_t *o = cache_obj_new(1, s("k"), s("u"));
    cache_reader_t r;
    h2o_iovec_t v[16];
    size_t nbytes;
    static char area[4][300000];
    for (int i = 0; i != 4; ++i)
        memset(area[i], 'a' + i, sizeof(area[i]));
    memset(ext_released, 0, sizeof(ext_released));
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, -1, 1);
    cache_reader_attach(o, &r);
    cache_obj_make_transient(o, NULL);
    size_t before = cache_obj_body(o)->allocated;
    for (intptr_t i = 0; i != 4; ++i)
        cache_obj_append_external(o, area[i], sizeof(area[i]), ext_release, (void *)i);
    assert_true(cache_obj_body(o)->allocated - before < 4 * 256); /* headers only: the mapped bytes are not malloc'd */
    cache_obj_append(o, "tail", 4); /* an ordinary segment after external ones */
    assert_int_equal(cache_obj_avail(o), 4 * sizeof(area[0]) + 4);
    /* the bytes read are the external ones, in place */
    size_t n = cache_reader_peek(o, &r, 0, UINT64_MAX, v, 16, &nbytes);
    assert_int_equal(n, 5);
    assert_ptr_equal(v[0].base, area[0]);
    assert_ptr_equal(v[2].base, area[2] + 0);
    assert_memory_equal(v[4].base, "tail", 4);
    /* a read from the middle of the second one */
    n = cache_reader_peek(o, &r, sizeof(area[0]) + 10, sizeof(area[0]) + 20, v, 16, &nbytes);
    assert_int_equal(n, 1);
    assert_int_equal(nbytes, 10);
    assert_ptr_equal(v[0].base, area[1] + 10);
    /* the reader past the first two: they are released (once), the others are not */
    cache_reader_ack(o, &r, 2 * sizeof(area[0]) + 1);
    assert_int_equal(ext_released[0], 1);
    assert_int_equal(ext_released[1], 1);
    assert_int_equal(ext_released[2], 0);
    assert_int_equal(ext_released[3], 0);
    cache_reader_detach(o, &r);
    cache_obj_complete(o);
    cache_obj_release(o);
    for (int i = 0; i != 4; ++i)
        assert_int_equal(ext_released[i], 1);
}

/* ---- waiters: a producer thread wakes a reader on the test's loop ------------------------------------------------------------ */

static cache_thread_t thread_state;
static int woken;
static void on_wake(cache_waiter_t *w)
{
    ++woken;
}

static void *producer(void *arg)
{
    cache_obj_t *o = arg;
    usleep(50000);
    cache_obj_set_head(o, 200, "OK", NULL, 0, 0, 3, 0);
    usleep(20000);
    cache_obj_append(o, "abc", 3);
    cache_obj_complete(o);
    return NULL;
}

static void test_waiters_are_woken_from_another_thread(void **state)
{
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_multithread_queue_t *queue = h2o_multithread_create_queue(loop);
    h2o_timeout_t zero;
    h2o_timeout_init(loop, &zero, 0);
    cache_thread_init(&thread_state, loop, queue, &zero);
    cache_obj_t *o = cache_obj_new(1, s("k"), s("u"));
    cache_waiter_t w;
    pthread_t tid;
    cache_waiter_init(&w, on_wake);
    cache_obj_wait(o, &w, CACHE_OBJ_BUSY, 0);
    pthread_create(&tid, NULL, producer, o);
    for (int i = 0; i != 100 && woken == 0; ++i)
        h2o_evloop_run(loop, 20);
    assert_int_equal(woken, 1);
    assert_true(cache_obj_state(o) >= CACHE_OBJ_STREAMING);
    /* waiting again with what we saw: woken when it changes (or at once if it already did) */
    cache_obj_wait(o, &w, cache_obj_state(o), cache_obj_avail(o));
    for (int i = 0; i != 100 && woken == 1; ++i)
        h2o_evloop_run(loop, 20);
    assert_int_equal(woken, 2);
    pthread_join(tid, NULL);
    /* a cancelled waiter is not called */
    cache_obj_wait(o, &w, CACHE_OBJ_STREAMING, 0); /* state differs: queued at once */
    cache_waiter_cancel(&w);
    for (int i = 0; i != 5; ++i)
        h2o_evloop_run(loop, 1);
    assert_int_equal(woken, 2);
    cache_obj_release(o);
    cache_thread_dispose(&thread_state, queue);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_is_copied),
        cmocka_unit_test(test_body_across_segments),
        cmocka_unit_test(test_transient_frees_what_readers_took),
        cmocka_unit_test(test_external_segments_released_once),
        cmocka_unit_test(test_waiters_are_woken_from_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
