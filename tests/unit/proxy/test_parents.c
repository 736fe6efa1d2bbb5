/* tests/unit/proxy/test_parents.c - Via parsing for loop detection, and rendezvous ordering of parents (proxy/parents.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "proxy/parents.h"

static int names(const char *via, const char *name)
{
    return parents_via_names_node(h2o_iovec_init(via, strlen(via)), h2o_iovec_init(name, strlen(name)));
}

static void test_via_names_node(void **state)
{
    (void)state;
    assert_true(names("1.1 edge-1 (edgehook)", "edge-1"));
    assert_true(names("1.0 fred, 1.1 edge-1 (edgehook)", "edge-1"));
    assert_true(names("1.1 a (x, y), HTTP/1.1 edge-1   (edgehook) ,1.1 b", "edge-1"));
    assert_true(names("1.1 edge-1 (edgehook/2)", "edge-1"));
    assert_false(names("1.1 edge-1", "edge-1"));               /* not ours: no (edgehook) comment */
    assert_false(names("1.1 edge-1 (Varnish)", "edge-1"));
    assert_false(names("1.1 edge-10 (edgehook)", "edge-1"));   /* a longer name */
    assert_false(names("1.1 xedge-1 (edgehook)", "edge-1"));
    assert_false(names("1.1 a (edge-1 (edgehook)), 1.1 b", "edge-1")); /* inside a comment */
    assert_false(names("edge-1 (edgehook)", "edge-1"));        /* "edge-1" is the protocol here, "(edgehook)" no name */
    assert_false(names("", "edge-1"));
    assert_false(names(",,, ,", "edge-1"));
    assert_false(names("1.1 (edgehook)", "edge-1"));
    assert_false(names("1.1 edge-1 (edgehook", "x"));
    assert_false(names("1.1 edge-1 (\\", "edge-1"));           /* a quoted-pair at the very end */
    assert_false(names("1.1 edge-1 (edgehook)", ""));
}

static void test_node_name(void **state)
{
    (void)state;
    parents_set_node_name("shield-9", 0);
    h2o_iovec_t v = parents_via_entry(), by = parents_served_by();
    assert_int_equal(v.len, strlen("1.1 shield-9 (edgehook)"));
    assert_memory_equal(v.base, "1.1 shield-9 (edgehook)", v.len);
    assert_memory_equal(by.base, "shield-9", by.len);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t h = {NULL, 0, 0};
    h2o_add_header(&pool, &h, H2O_TOKEN_VIA, NULL, H2O_STRLIT("1.1 other (edgehook)"));
    assert_false(parents_request_loops(&h));
    h2o_add_header(&pool, &h, H2O_TOKEN_VIA, NULL, H2O_STRLIT("1.0 x, 1.1 shield-9 (edgehook)"));
    assert_true(parents_request_loops(&h));
    h2o_mem_clear_pool(&pool);
    /* not configured: the host name, and no X-Served-By */
    parents_set_node_name(NULL, 8080);
    assert_null(parents_served_by().base);
    v = parents_via_entry();
    assert_true(v.len > strlen("1.1 :8080 (edgehook)") && memcmp(v.base, "1.1 ", 4) == 0);
    assert_non_null(memmem(v.base, v.len, ":8080 (edgehook)", strlen(":8080 (edgehook)")));
    parents_set_node_name(NULL, 0); /* HOST-PID */
    v = parents_via_entry();
    assert_null(memmem(v.base, v.len, ":", 1));
}

/* a parents_t with n parents named p0..p{n-1}, without health state (all up) */
static conf_origin_t conf_of(size_t n, conf_parent_t *ps, char names_buf[][8])
{
    conf_origin_t c = {0};
    c.name = "web";
    for (size_t i = 0; i != n; ++i) {
        snprintf(names_buf[i], 8, "p%zu", i);
        ps[i] = (conf_parent_t){.name = names_buf[i], .host = "127.0.0.1", .port = (uint16_t)(9000 + i)};
    }
    c.parents = ps;
    c.num_parents = n;
    c.parents_fallback_origin = 1;
    c.connect_timeout_ms = c.first_byte_timeout_ms = c.read_timeout_ms = c.keepalive_timeout_ms = 1000;
    c.max_connections = 4;
    return c;
}

static void test_rendezvous(void **state)
{
    (void)state;
    conf_parent_t ps[4];
    char nb[4][8];
    conf_origin_t c4 = conf_of(4, ps, nb);
    char err[256];
    parents_t *p4 = parents_new(&c4, 1, err, sizeof(err));
    assert_non_null(p4);
    unsigned counts[4] = {0}, moved = 0;
    static unsigned char first[4000][PARENTS_MAX];
    for (int k = 0; k != 4000; ++k) {
        char key[32];
        unsigned char o2[PARENTS_MAX];
        snprintf(key, sizeof(key), "0\nwww.example\n/k%d", k);
        assert_int_equal(parents_order(p4, h2o_iovec_init(key, strlen(key)), first[k]), 4);
        assert_int_equal(parents_order(p4, h2o_iovec_init(key, strlen(key)), o2), 4);
        assert_memory_equal(first[k], o2, 4); /* the same key, the same order */
        ++counts[first[k][0]];
    }
    /* parent 2 down: its keys go to their second choice, no other key moves */
    parents_mark_down(p4, 2, "test"); /* one failure: still up (parent_health_fails 2 by default) */
    assert_true(parents_is_up(p4, 2));
    parents_mark_down(p4, 2, "test");
    assert_false(parents_is_up(p4, 2));
    for (int k = 0; k != 4000; ++k) {
        char key[32];
        unsigned char o3[PARENTS_MAX];
        snprintf(key, sizeof(key), "0\nwww.example\n/k%d", k);
        assert_int_equal(parents_order(p4, h2o_iovec_init(key, strlen(key)), o3), 3);
        if (first[k][0] == 2) {
            assert_int_equal(o3[0], first[k][1]);
            ++moved;
        } else {
            assert_int_equal(o3[0], first[k][0]);
        }
    }
    for (int i = 0; i != 4; ++i)
        assert_true(counts[i] > 800 && counts[i] < 1200); /* about a quarter each */
    assert_true(moved == counts[2]);
    parents_free(p4);
}

/* fall and rise: parent_health_fails failures in a row mark a parent down, parent_health_passes good probes in a row up; a
 * good probe between failures (or a failure between good probes) starts the count again */
static void test_health_thresholds(void **state)
{
    (void)state;
    conf_parent_t ps[2];
    char nb[2][8];
    conf_origin_t c = conf_of(2, ps, nb);
    c.parent_health_fails = 3;
    c.parent_health_passes = 2;
    char err[256];
    parents_t *p = parents_new(&c, 1, err, sizeof(err));
    assert_non_null(p);
    assert_true(parents_report(p, 0, 0, "x"));
    assert_true(parents_report(p, 0, 0, "x"));
    assert_true(parents_report(p, 0, 1, NULL)); /* the count starts again */
    assert_true(parents_report(p, 0, 0, "x"));
    assert_true(parents_report(p, 0, 0, "x"));
    parents_mark_down(p, 0, "a request failed"); /* the third failure in a row: down */
    assert_false(parents_is_up(p, 0));
    unsigned char order[PARENTS_MAX];
    assert_int_equal(parents_order(p, h2o_iovec_init(H2O_STRLIT("k")), order), 1);
    assert_int_equal(order[0], 1);
    assert_false(parents_report(p, 0, 1, NULL));
    assert_false(parents_report(p, 0, 0, "x")); /* a failure between good probes: again */
    assert_false(parents_report(p, 0, 1, NULL));
    assert_true(parents_report(p, 0, 1, NULL)); /* two good probes in a row: up */
    assert_true(parents_is_up(p, 0));
    assert_true(parents_is_up(p, 1));
    parents_free(p);
}

/* weighted rendezvous: each parent's share of 100,000 keys follows its weight, and a parent going down moves its keys only */
static void test_weights(void **state)
{
    (void)state;
    conf_parent_t ps[3];
    char nb[3][8];
    conf_origin_t c = conf_of(3, ps, nb);
    ps[0].weight = 1;
    ps[1].weight = 2;
    ps[2].weight = 5;
    c.parent_health_fails = 1;
    char err[256];
    parents_t *p = parents_new(&c, 1, err, sizeof(err));
    assert_non_null(p);
    enum { N = 100000 };
    static unsigned char first[N];
    unsigned counts[3] = {0};
    for (int k = 0; k != N; ++k) {
        char key[32];
        unsigned char o[PARENTS_MAX];
        snprintf(key, sizeof(key), "0\nwww.example\n/w%d", k);
        assert_int_equal(parents_order(p, h2o_iovec_init(key, strlen(key)), o), 3);
        first[k] = o[0];
        ++counts[o[0]];
    }
    /* shares 1/8, 2/8, 5/8 within 1.5 % of all keys */
    assert_true(abs((int)counts[0] - N / 8) < N * 15 / 1000);
    assert_true(abs((int)counts[1] - N * 2 / 8) < N * 15 / 1000);
    assert_true(abs((int)counts[2] - N * 5 / 8) < N * 15 / 1000);
    parents_mark_down(p, 2, "test");
    unsigned moved = 0;
    for (int k = 0; k != N; ++k) {
        char key[32];
        unsigned char o[PARENTS_MAX];
        snprintf(key, sizeof(key), "0\nwww.example\n/w%d", k);
        assert_int_equal(parents_order(p, h2o_iovec_init(key, strlen(key)), o), 2);
        if (first[k] == 2)
            ++moved;
        else
            assert_int_equal(o[0], first[k]); /* only the down parent's keys move */
    }
    assert_int_equal(moved, counts[2]);
    parents_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_via_names_node),
        cmocka_unit_test(test_node_name),
        cmocka_unit_test(test_rendezvous),
        cmocka_unit_test(test_health_thresholds),
        cmocka_unit_test(test_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
