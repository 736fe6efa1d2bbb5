/* tests/unit/hooks/test_kv_hooks.c - hooks reading kv stores: edge.kv in Lua and host->kv_get in C, only the stores a hook's
 * kv: list names, one snapshot per call while a writer replaces both keys a call reads */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include "hooks/edge_hook.h"
#include "kv/kv.h"
#include "helpers.h"

static char dir[128];
static kv_db_t *db;

static int on_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    char err[1024], p1[256], p2[256];
    snprintf(dir, sizeof(dir), "/tmp/edgehook-test-kvhooks-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(p1, sizeof(p1), "%s/flags.kvlog", dir);
    snprintf(p2, sizeof(p2), "%s/secret.kvlog", dir);
    kv_store_conf_t stores[] = {{"flags", p1, 1000, 1 << 20, 1024}, {"secret", p2, 1000, 1 << 20, 1024}};
    assert_non_null(db = kv_db_open(stores, 2, err, sizeof(err)));
    kv_op_t ops[] = {{"color", 5, "blue", 4, 0}, {"a", 1, "0", 1, 0}, {"b", 1, "0", 1, 0}};
    assert_int_equal(kv_db_write(db, 0, ops, 3, 0, err, sizeof(err)), KV_OK);
    kv_op_t s = {"token", 5, "s3cr3t", 6, 0};
    assert_int_equal(kv_db_write(db, 1, &s, 1, 0, err, sizeof(err)), KV_OK);
    kv_global_set(db);
    return 0;
}

static int teardown(void **state)
{
    kv_global_set(NULL);
    kv_db_close(db);
    nftw(dir, on_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* a hook allowed to read `flags` only */
static hook_fn_t *load_kv_hook(const char *path)
{
    char err[1024];
    char *names[] = {"flags"};
    conf_hook_t c = {0};
    size_t len = strlen(path);
    c.name = (char *)"kvtest";
    if (len > 4 && strcmp(path + len - 4, ".lua") == 0)
        c.lua = (char *)path;
    else
        c.native = (char *)path;
    c.config_json = (char *)"{}";
    c.timeout_ms = -1;
    c.memory_limit = 64u << 20;
    c.kv.names = names;
    c.kv.count = 1;
    hook_fn_t *fn = hook_fn_load(&c, err, sizeof(err));
    if (fn == NULL)
        fail_msg("loading %s: %s", path, err);
    return fn;
}

/* runs fn on a viewer-request with the given headers (NULL-terminated pairs); the generated response in ev */
static hook_status_t call(hook_thread_t *t, hook_fn_t *fn, h2o_mem_pool_t *pool, hook_event_t *ev, const char *k1, const char *v1,
                          const char *k2, const char *v2)
{
    make_event(pool, ev, HOOK_VIEWER_REQUEST, "/", "", k1, v1, k2, v2, NULL);
    hook_report_t rep;
    return hook_run(t, fn, ev, pool, &rep);
}

static void check_reader(const char *path)
{
    hook_thread_t *t = hook_thread_new();
    hook_fn_t *fn = load_kv_hook(path);
    h2o_mem_pool_t pool;
    hook_event_t ev;
    h2o_mem_init_pool(&pool);
    assert_int_equal(call(t, fn, &pool, &ev, "X-Key", "color", NULL, NULL), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 200);
    assert_true(iov_is(ev.response.body, "blue"));
    assert_int_equal(call(t, fn, &pool, &ev, "X-Key", "nothing", NULL, NULL), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 404);
    /* the store its kv: list does not name, and one that does not exist */
    assert_int_equal(call(t, fn, &pool, &ev, "X-Key", "token", "X-Store", "secret"), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 403);
    assert_false(iov_is(ev.response.body, "s3cr3t"));
    assert_int_equal(call(t, fn, &pool, &ev, "X-Key", "x", "X-Store", "nosuch"), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 403);
    /* a write is seen by the next call */
    char err[256];
    kv_op_t op = {"color", 5, "green", 5, 0};
    assert_int_equal(kv_db_write(db, 0, &op, 1, 0, err, sizeof(err)), KV_OK);
    assert_int_equal(call(t, fn, &pool, &ev, "X-Key", "color", NULL, NULL), HOOK_RESPOND);
    assert_true(iov_is(ev.response.body, "green"));
    h2o_mem_clear_pool(&pool);
    hook_fn_release(fn);
    hook_thread_free(t);
}

static void test_lua_reads(void **state)
{
    check_reader("tests/hooks/kv_read.lua");
    /* :exists and :meta */
    hook_thread_t *t = hook_thread_new();
    hook_fn_t *fn = load_kv_hook("tests/hooks/kv_read.lua");
    h2o_mem_pool_t pool;
    hook_event_t ev;
    h2o_mem_init_pool(&pool);
    assert_int_equal(call(t, fn, &pool, &ev, "X-Key", "a", NULL, NULL), HOOK_RESPOND);
    assert_string_equal(hval(&ev.response.headers, "x-exists"), "true");
    assert_int_equal(call(t, fn, &pool, &ev, "X-Other", "1", NULL, NULL), HOOK_RESPOND);
    assert_true(iov_is(ev.response.body, "keys=3 bytes=14 version=2"));
    h2o_mem_clear_pool(&pool);
    hook_fn_release(fn);
    hook_thread_free(t);
}

static void test_c_reads(void **state)
{
    check_reader(plugin_path("tests/hooks", "kv_reader"));
}

/* a writer sets a and b to the same new value, again and again; every call reads a, spins, reads b: always equal */
static _Atomic int writer_stop, writes, writer_failed;

static void *writer(void *arg)
{
    char err[256], v[32];
    for (int i = 1; !writer_stop; ++i) {
        snprintf(v, sizeof(v), "%d", i);
        kv_op_t ops[] = {{"a", 1, v, strlen(v), 0}, {"b", 1, v, strlen(v), 0}};
        if (kv_db_write(db, 0, ops, 2, 0, err, sizeof(err)) != KV_OK) {
            writer_failed = 1; /* asserted by the test's thread: cmocka cannot fail from this one */
            break;
        }
        ++writes;
    }
    return NULL;
}

static void test_one_snapshot_per_call(void **state)
{
    const char *paths[] = {"tests/hooks/kv_read.lua", plugin_path("tests/hooks", "kv_reader")};
    int changed[2] = {0, 0}, bad_status = 0, torn = 0;
    pthread_t th;
    writer_stop = writer_failed = 0;
    pthread_create(&th, NULL, writer, NULL);
    /* nothing asserts while the writer runs (a failed assertion would leave it writing into the db teardown closes) */
    for (size_t p = 0; p != 2; ++p) {
        hook_thread_t *t = hook_thread_new();
        hook_fn_t *fn = load_kv_hook(paths[p]);
        char last[32] = "";
        /* at least 300 calls, and on until the calls have seen the value change 3 times (each write waits for fdatasync; a
         * loaded machine may run all 300 calls between two writes) */
        for (int i = 0; (i < 300 || changed[p] < 3) && !writer_failed && !bad_status && !torn; ++i) {
            h2o_mem_pool_t pool;
            hook_event_t ev;
            hook_report_t rep;
            h2o_mem_init_pool(&pool);
            make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "X-Key", "a", "X-Key2", "b", "X-Spin", "20000", NULL);
            const char *b = NULL;
            if (hook_run(t, fn, &ev, &pool, &rep) != HOOK_RESPOND || (b = hval(&ev.response.headers, "x-value2")) == NULL)
                bad_status = 1;
            else if (!iov_is(ev.response.body, b)) /* a and b from one snapshot */
                torn = 1;
            else if (strcmp(last, b) != 0)
                ++changed[p], snprintf(last, sizeof(last), "%s", b);
            h2o_mem_clear_pool(&pool);
        }
        hook_fn_release(fn);
        hook_thread_free(t);
    }
    writer_stop = 1;
    pthread_join(th, NULL);
    assert_false(writer_failed);
    assert_false(bad_status);
    assert_false(torn);
    assert_true(changed[0] >= 3 && changed[1] >= 3); /* the writer really ran meanwhile */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lua_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_snapshot_per_call, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
