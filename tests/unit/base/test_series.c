/* tests/unit/base/test_series.c - named counter blocks: shared by name, kept while referenced, new (zeroed) after the last release
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/series.h"

static void test_shared_by_name(void **state)
{
    size_t before = edge_series_count();
    _Atomic uint64_t *a = edge_series_get("origin", "web", 3), *b = edge_series_get("origin", "web", 3);
    _Atomic uint64_t *other = edge_series_get("origin", "web2", 3), *kind = edge_series_get("hook", "web", 3);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, other);
    assert_ptr_not_equal(a, kind);
    assert_int_equal(edge_series_count(), before + 3);
    atomic_fetch_add(&a[2], 7);
    assert_int_equal(atomic_load(&b[2]), 7);
    /* the generation that built it goes; the next one's origin of the same name goes on from 7 */
    edge_series_release(a);
    _Atomic uint64_t *c = edge_series_get("origin", "web", 3);
    assert_ptr_equal(c, b);
    assert_int_equal(atomic_load(&c[2]), 7);
    edge_series_release(b);
    edge_series_release(c);
    /* no holder left: the name starts again at 0 */
    _Atomic uint64_t *d = edge_series_get("origin", "web", 3);
    assert_int_equal(atomic_load(&d[0]) + atomic_load(&d[1]) + atomic_load(&d[2]), 0);
    edge_series_release(d);
    edge_series_release(other);
    edge_series_release(kind);
    edge_series_release(NULL);
    assert_int_equal(edge_series_count(), before);
}

static void *add_many(void *arg)
{
    _Atomic uint64_t *c = edge_series_get("origin", "busy", 1);
    for (int i = 0; i != 100000; ++i)
        atomic_fetch_add_explicit(&c[0], 1, memory_order_relaxed);
    edge_series_release(c);
    return arg;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    _Atomic uint64_t *c = edge_series_get("origin", "busy", 1);
    for (int i = 0; i != 4; ++i)
        pthread_create(&t[i], NULL, add_many, NULL);
    for (int i = 0; i != 4; ++i)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&c[0]), 400000);
    edge_series_release(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shared_by_name), cmocka_unit_test(test_threads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
