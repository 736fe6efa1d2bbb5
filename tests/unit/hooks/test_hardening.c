/* tests/unit/hooks/test_hardening.c - sandbox escapes, the base64 decoder from many threads, the caps on the heads hooks return,
 * the admin API's token check and where it may load hooks from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include <lualib.h>
#include "base/str.h"
#include "hooks/internal.h"
#include "hooks/stdlib_lua.h"
#include "proxy/admin.h"
#include "tests/unit/hooks/helpers.h"

extern const char hook_lua_prelude[];
extern const size_t hook_lua_prelude_len;

static hook_thread_t *T;
static h2o_mem_pool_t pool;

static int setup(void **state)
{
    log_open("-", getenv("EDGE_TEST_VERBOSE") != NULL ? LOG_DEBUG : -1);
    T = hook_thread_new();
    h2o_mem_init_pool(&pool);
    return T == NULL;
}

static int teardown(void **state)
{
    hook_thread_free(T);
    h2o_mem_clear_pool(&pool);
    return 0;
}

static hook_status_t run(hook_fn_t *fn, hook_event_t *ev, hook_report_t *rep)
{
    return hook_run(T, fn, ev, &pool, rep);
}

/* --- 1. the sandbox --- */

/* runs tests/hooks/escape.lua's try `name`: the status, and the error or the x-escaped result */
static hook_status_t try_escape(hook_fn_t *fn, const char *name, hook_report_t *rep, const char **result)
{
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Escape", name, NULL);
    hook_status_t st = run(fn, &ev, rep);
    *result = st == HOOK_CONTINUE ? hval(&ev.request.headers, "x-escaped") : rep->error;
    return st;
}

static void test_sandbox_escapes(void **state)
{
    static const struct {
        const char *name, *error;
    } fails[] = {
        {"dump", "attempt to call field 'dump' (a nil value)"},
        {"string_mt_dump", "attempt to call field 'dump' (a nil value)"},
        {"string_mt_index", "attempt to index a boolean value"},
        {"string_setmetatable", "table expected, got string"},
        {"debug", "attempt to index global 'debug' (a nil value)"},
        {"loadlib", "attempt to index global 'package' (a nil value)"},
        {"require_ffi", "module 'ffi' is not available to hooks"},
        {"require_io", "module 'io' is not available to hooks"},
        {"ffi", "attempt to index global 'ffi' (a nil value)"},
        {"load", "attempt to call global 'load' (a nil value)"},
        {"loadstring", "attempt to call global 'loadstring' (a nil value)"},
        {"dofile", "attempt to call global 'dofile' (a nil value)"},
        {"io", "attempt to index global 'io' (a nil value)"},
        {"os_execute", "attempt to call field 'execute' (a nil value)"},
        {"os_getenv", "attempt to call field 'getenv' (a nil value)"},
        {"jit", "attempt to index global 'jit' (a nil value)"},
        {"getfenv", "attempt to call global 'getfenv' (a nil value)"},
        {"newproxy", "attempt to call global 'newproxy' (a nil value)"},
        {"event_mt", "cannot change a protected metatable"},
        {"array_mt", "cannot change a protected metatable"},
        {"context_mt", "cannot change a protected metatable"},
    };
    hook_fn_t *fn = load_hook("tests/hooks/escape.lua", NULL, -1, 16u << 20, NULL, 0);
    hook_report_t rep;
    const char *res;
    for (size_t i = 0; i != sizeof(fails) / sizeof(fails[0]); ++i) {
        hook_status_t st = try_escape(fn, fails[i].name, &rep, &res);
        if (st != HOOK_FAILED || rep.http_status != 503 || res == NULL || strstr(res, fails[i].error) == NULL)
            fail_msg("%s: status %d (%d), %s; expected 503 with \"%s\"", fails[i].name, (int)st, rep.http_status,
                     res != NULL ? res : "(null)", fails[i].error);
    }
    /* string.rep past the memory cap: the cap stops it, the state is rebuilt */
    assert_int_equal(try_escape(fn, "rep", &rep, &res), HOOK_FAILED);
    assert_true(rep.out_of_memory);
    assert_non_null(strstr(res, "memory limit"));
    /* a count past 2^31 wraps to nothing in LuaJIT (no allocation at all) */
    assert_int_equal(try_escape(fn, "rep_overflow", &rep, &res), HOOK_CONTINUE);
    assert_string_equal(res, "0");
    /* collectgarbage: only "count" does anything */
    assert_int_equal(try_escape(fn, "collectgarbage", &rep, &res), HOOK_CONTINUE);
    assert_string_equal(res, "0,0,number");
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.errors, sizeof(fails) / sizeof(fails[0]) + 1);
    hook_fn_release(fn);
}

/* globals, libraries and the edge module are per hook (each has its own lua_State): one hook cannot reach another's */
static void test_sandbox_isolation(void **state)
{
    hook_fn_t *a = load_hook("tests/hooks/escape.lua", NULL, -1, 0, NULL, 0),
              *b = load_hook("tests/hooks/escape.lua", NULL, -1, 0, NULL, 0);
    hook_report_t rep;
    const char *res;
    assert_int_equal(try_escape(a, "plant", &rep, &res), HOOK_CONTINUE);
    assert_int_equal(try_escape(a, "look", &rep, &res), HOOK_CONTINUE);
    assert_string_equal(res, "yes,nil,nil");
    assert_int_equal(try_escape(b, "look", &rep, &res), HOOK_CONTINUE);
    assert_string_equal(res, "nil,function,function");
    hook_fn_release(a);
    hook_fn_release(b);
}

/* the trusted side (the prelude's own globals) keeps no way to bytecode or C libraries either */
static void test_trusted_side_text_only(void **state)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    assert_int_equal(luaL_loadbuffer(L, hook_lua_prelude, hook_lua_prelude_len, "=edge.prelude"), 0);
    lua_pushlightuserdata(L, NULL);
    lua_pushlightuserdata(L, NULL);
    hook_stdlib_push(L);
    if (lua_pcall(L, 3, 2, 0) != 0)
        fail_msg("prelude: %s", lua_tostring(L, -1));
    static const char check[] =
        "assert(string.dump == nil and (\"\").dump == nil, 'string.dump')\n"
        "local f, err = load(string.char(27) .. 'LJ' .. string.char(2, 10), 'b')\n"
        "assert(f == nil and err:find('wrong mode'), 'load took bytecode: ' .. tostring(err))\n"
        "f, err = loadstring(string.char(27) .. 'LJ' .. string.char(2, 10), 'b', 'b')\n"
        "assert(f == nil and err:find('wrong mode'), 'loadstring took bytecode (mode b asked): ' .. tostring(err))\n"
        "local n = 0\n"
        "f = load(function() n = n + 1; return n == 1 and string.char(27) or nil end)\n"
        "assert(f == nil, 'load took bytecode from a reader')\n"
        "assert(load('return 40 + 2')() == 42, 'text still loads')\n"
        "assert(loadfile == nil and dofile == nil, 'loadfile/dofile')\n"
        "assert(package.loadlib == nil and package.cpath == '' and package.loaders[3] == nil, 'C loaders')\n"
        "assert(getmetatable('') == false, 'string metatable')\n";
    if (luaL_dostring(L, check) != 0)
        fail_msg("%s", lua_tostring(L, -1));
    lua_close(L);
}

/* --- 2. base64 without lazily filled statics --- */

typedef struct b64case {
    const char *in, *out; /* out NULL: refused */
} b64case_t;

static const b64case_t b64cases[] = {
    {"", ""},
    {"aGVsbG8=", "hello"},
    {"aGVsbG8", "hello"},
    {"aGVsbA==", "hell"},
    {"aGVsbA", "hell"},
    {"-_-_", "\xfb\xff\xbf"},
    {"+/+/", "\xfb\xff\xbf"},
    {"a", NULL},
    {"aGV*", NULL},
    {"aG=V", NULL},
    {"aGVs bG8=", NULL},
    {"aGVs\nbG8=", NULL},
    {"\xc3\xa9xyz", NULL},
};

static int b64_check_all(void)
{
    char out[64];
    size_t n;
    for (size_t i = 0; i != sizeof(b64cases) / sizeof(b64cases[0]); ++i) {
        const b64case_t *c = &b64cases[i];
        long r = edge_base64_decode(out, c->in, strlen(c->in), EDGE_BASE64_LENIENT);
        n = r < 0 ? 0 : (size_t)r;
        if (c->out == NULL ? r >= 0 : r < 0 || n != strlen(c->out) || memcmp(out, c->out, n) != 0)
            return (int)i + 1;
    }
    return 0;
}

static void *b64_thread(void *arg)
{
    intptr_t bad = 0;
    for (int k = 0; k != 2000 && bad == 0; ++k)
        bad = b64_check_all();
    return (void *)bad;
}

static void test_base64_decode(void **state)
{
    assert_int_equal(b64_check_all(), 0);
    /* every byte value round trips */
    char raw[256], enc[400], dec[258]; /* the decoder writes whole groups of 3 bytes (2 of the last group padding) */
    for (int i = 0; i != 256; ++i)
        raw[i] = (char)i;
    size_t e = edge_base64_encode(enc, raw, sizeof(raw));
    assert_int_equal(e, 344);
    assert_int_equal(edge_base64_decode(dec, enc, e, EDGE_BASE64_LENIENT), 256);
    assert_memory_equal(raw, dec, 256);
    /* decoding from many threads at once, from the first call on (the table used to be filled lazily by whoever came first) */
    pthread_t th[8];
    for (int i = 0; i != 8; ++i)
        assert_int_equal(pthread_create(&th[i], NULL, b64_thread, NULL), 0);
    for (int i = 0; i != 8; ++i) {
        void *bad;
        pthread_join(th[i], &bad);
        assert_int_equal((intptr_t)bad, 0);
    }
}

/* --- 3. the heads hooks return --- */

static hook_status_t run_big(hook_fn_t *fn, int type, const char *how, hook_event_t *ev, hook_report_t *rep)
{
    make_event(&pool, ev, type, "/", "", "Host", "example.com", "X-Big", how, NULL);
    return run(fn, ev, rep);
}

static void test_response_head_cap(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/big_headers.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    /* 5 MB of headers from a viewer-response hook: invalid (502), counted and logged as such */
    assert_int_equal(run_big(fn, HOOK_VIEWER_RESPONSE, "bytes:5242880", &ev, &rep), HOOK_INVALID);
    assert_int_equal(rep.http_status, 502);
    assert_non_null(strstr(rep.error, "over the limit of 65536 (limits.max_response_header_size)"));
    /* up to the cap is fine: the event's two headers are 32 bytes, the new name 11 */
    assert_int_equal(run_big(fn, HOOK_VIEWER_RESPONSE, "bytes:65493", &ev, &rep), HOOK_CONTINUE);
    assert_int_equal(run_big(fn, HOOK_VIEWER_RESPONSE, "bytes:65494", &ev, &rep), HOOK_INVALID);
    /* the same at origin-response */
    assert_int_equal(run_big(fn, HOOK_ORIGIN_RESPONSE, "bytes:100000", &ev, &rep), HOOK_INVALID);
    /* the number of header fields: 2 given + 198 is the most */
    assert_int_equal(run_big(fn, HOOK_VIEWER_RESPONSE, "count:198", &ev, &rep), HOOK_CONTINUE);
    assert_int_equal(run_big(fn, HOOK_VIEWER_RESPONSE, "count:199", &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "has 201 header fields, over the limit of 200"));
    /* the configured cap (hookcall_limits) replaces the default; 0 is none */
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big", "bytes:2000", NULL);
    ev.limits.response_bytes = 1024;
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "over the limit of 1024"));
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big", "bytes:5242880", NULL);
    ev.limits.response_bytes = 0;
    assert_int_equal(run(fn, &ev, &rep), HOOK_CONTINUE);
    /* a head that came in over the cap (the origin's) is not the hook's doing: shrinking it or leaving it is fine */
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big", "drop", NULL);
    char *filler = h2o_mem_alloc_pool(&pool, 70000);
    memset(filler, 'f', 70000);
    hook_headers_add(&pool, &ev.response.headers, "X-Filler", 8, filler, 70000);
    hook_headers_add(&pool, &ev.response.headers, "X-Other", 7, filler, 100);
    assert_int_equal(run(fn, &ev, &rep), HOOK_CONTINUE);
    assert_null(hval(&ev.response.headers, "x-filler"));
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big", "none", NULL);
    hook_headers_add(&pool, &ev.response.headers, "X-Filler", 8, filler, 70000);
    assert_int_equal(run(fn, &ev, &rep), HOOK_CONTINUE);
    /* ...but growing it further is */
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big", "bytes:10", NULL);
    hook_headers_add(&pool, &ev.response.headers, "X-Filler", 8, filler, 70000);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.invalid, 6);
    hook_fn_release(fn);
}

static void test_request_head_cap(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/big_headers.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    assert_int_equal(run_big(fn, HOOK_VIEWER_REQUEST, "bytes:70000", &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "request head the hook left is 70"));
    assert_non_null(strstr(rep.error, "(limits.max_request_header_size)"));
    assert_int_equal(run_big(fn, HOOK_ORIGIN_REQUEST, "bytes:70000", &ev, &rep), HOOK_INVALID);
    assert_int_equal(run_big(fn, HOOK_ORIGIN_REQUEST, "count:99", &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "over the limit of 100 (limits.max_request_headers)"));
    assert_int_equal(run_big(fn, HOOK_VIEWER_REQUEST, "count:98", &ev, &rep), HOOK_CONTINUE);
    /* generated responses are held to the response caps, whatever the request was */
    assert_int_equal(run_big(fn, HOOK_ORIGIN_REQUEST, "respond:70000", &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "generated response's head"));
    assert_int_equal(run_big(fn, HOOK_ORIGIN_REQUEST, "respond:60000", &ev, &rep), HOOK_RESPOND);
    hook_fn_release(fn);
}

/* a C plugin is held to the same caps */
static void test_head_cap_native(void **state)
{
    hook_fn_t *fn = load_hook(plugin_path("tests/hooks", "big_headers"), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big-Count", "5000", "X-Big-Size", "1000", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "limits.max_response_header_size"));
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "X-Big-Count", "300", "X-Big-Size", "1", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "over the limit of 200"));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "X-Big-Count", "10", "X-Big-Size", "10", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_CONTINUE);
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.invalid, 2);
    hook_fn_release(fn);
}

/* --- 4. the admin token --- */

static void test_admin_token(void **state)
{
    const char *token = "s3cret-admin-token";
#define MATCH(v) admin_token_matches(v, strlen(v), token)
    assert_true(MATCH("Bearer s3cret-admin-token"));
    assert_true(MATCH("bearer s3cret-admin-token"));
    assert_false(MATCH("Bearer s3cret-admin-toke"));
    assert_false(MATCH("Bearer s3cret-admin-token "));
    assert_false(MATCH("Bearer s3cret-admin-tokeN"));
    assert_false(MATCH("Basic s3cret-admin-token"));
    assert_false(MATCH("s3cret-admin-token"));
    assert_false(MATCH("Bearer "));
    assert_false(MATCH(""));
    assert_false(MATCH("Bearer"));
#undef MATCH
    /* the header value is not NUL-terminated: only len bytes count */
    assert_true(admin_token_matches("Bearer s3cret-admin-tokenXYZ", 25, token));
}

/* --- 5. where the admin API may load hooks from --- */

static char base[PATH_MAX];

static const char *at(const char *rel)
{
    static char bufs[8][PATH_MAX + 64];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, sizeof(bufs[0]), "%s/%s", base, rel);
    return b;
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) != 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static int check_path(const conf_t *conf, const char *path, char *resolved)
{
    char err[PATH_MAX + 512];
    int r = admin_check_hook_path(conf, path, resolved, err, sizeof(err));
    if (r != 0 && strstr(err, path) == NULL)
        fail_msg("%s: the reason does not name the path: %s", path, err);
    return r;
}

static void test_admin_hook_paths(void **state)
{
    char tmpl[] = "/tmp/unit-admin-paths-XXXXXX", resolved[PATH_MAX];
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, base));
    static const char *const dirs[] = {"native", "lua", "conf", "plugins", "plugins/sub", "plugins/dir.so", "other"};
    for (size_t i = 0; i != sizeof(dirs) / sizeof(dirs[0]); ++i)
        assert_int_equal(mkdir(at(dirs[i]), 0700), 0);
    const char *so = plugin_path("tests/hooks", "exercise");
    copy_file(so, at("native/libn.so"));
    copy_file(so, at("native/libn2.so"));
    copy_file(so, at("plugins/libp.so"));
    copy_file(so, at("plugins/sub/libs.so"));
    copy_file(so, at("other/libo.so"));
    copy_file(so, at("plugins/libp.so.1"));
    put_file(at("plugins/notes.txt"), "x");
    put_file(at("lua/h.lua"), "function handler(e) return e.Records[1].cf.request end\n");
    put_file(at("lua/h2.lua"), "function handler(e) return e.Records[1].cf.request end\n");
    put_file(at("conf/c.lua"), "-- next to the config\n");
    put_file(at("conf/edgehook.yaml"), "# the config\n");
    put_file(at("plugins/p.lua"), "-- in plugin_dirs\n");
    put_file(at("native/n.lua"), "-- next to a native hook\n");
    put_file(at("other/o.lua"), "-- elsewhere\n");
    assert_int_equal(symlink(at("other/libo.so"), at("plugins/escape.so")), 0);   /* a link out of an allowed directory */
    assert_int_equal(symlink(at("native/libn2.so"), at("other/into.so")), 0);     /* a link into one */
    assert_int_equal(symlink(at("plugins/notes.txt"), at("plugins/text.so")), 0); /* a .so name for a text file */
    assert_int_equal(symlink(at("other/o.lua"), at("lua/escape.lua")), 0);

    /* at()'s buffers are reused: the config keeps copies */
    conf_hook_t hooks[2] = {{.name = "n", .native = strdup(at("native/libn.so"))}, {.name = "l", .lua = strdup(at("lua/h.lua"))}};
    char *plugin_dirs[1] = {strdup(at("plugins"))};
    conf_t conf;
    memset(&conf, 0, sizeof(conf));
    conf.file = strdup(at("conf/edgehook.yaml"));
    conf.hooks = hooks;
    conf.num_hooks = 2;
    conf.admin.plugin_dirs.names = plugin_dirs;
    conf.admin.plugin_dirs.count = 1;

    /* native plugins: the native hooks' directories and plugin_dirs, the file itself resolved */
    assert_int_equal(check_path(&conf, at("native/libn2.so"), resolved), 0);
    assert_string_equal(resolved, at("native/libn2.so"));
    assert_int_equal(check_path(&conf, at("plugins/libp.so"), resolved), 0);
    assert_int_equal(check_path(&conf, at("other/into.so"), resolved), 0);
    assert_string_equal(resolved, at("native/libn2.so"));
    assert_int_equal(check_path(&conf, at("plugins/../native/./libn2.so"), resolved), 0);
    assert_int_equal(check_path(&conf, at("other/libo.so"), resolved), 403);
    assert_int_equal(check_path(&conf, at("plugins/escape.so"), resolved), 403);
    assert_int_equal(check_path(&conf, at("plugins/../other/libo.so"), resolved), 403);
    assert_int_equal(check_path(&conf, at("plugins/sub/libs.so"), resolved), 403); /* subdirectories are not included */
    assert_int_equal(check_path(&conf, at("plugins/dir.so"), resolved), 403);      /* not a regular file */
    assert_int_equal(check_path(&conf, at("plugins/text.so"), resolved), 403);     /* resolves to a .txt */
    assert_int_equal(check_path(&conf, at("plugins/notes.txt"), resolved), 403);
    assert_int_equal(check_path(&conf, at("plugins/libp.so.1"), resolved), 403);
    assert_int_equal(check_path(&conf, at("lua/libn.so"), resolved), 403); /* a Lua hook's directory is not for plugins */
    assert_int_equal(check_path(&conf, at("plugins/missing.so"), resolved), 422);
    assert_int_equal(check_path(&conf, at("other/missing.so"), resolved), 403);
    assert_int_equal(check_path(&conf, "/etc/passwd", resolved), 403);
    assert_int_equal(check_path(&conf, "relative/nothing.so", resolved), 403);
    /* Lua files: the Lua hooks' directories, plugin_dirs and the config file's directory; not the native hooks' */
    assert_int_equal(check_path(&conf, at("lua/h2.lua"), resolved), 0);
    assert_int_equal(check_path(&conf, at("conf/c.lua"), resolved), 0);
    assert_int_equal(check_path(&conf, at("plugins/p.lua"), resolved), 0);
    assert_int_equal(check_path(&conf, at("native/n.lua"), resolved), 403);
    assert_int_equal(check_path(&conf, at("other/o.lua"), resolved), 403);
    assert_int_equal(check_path(&conf, at("lua/escape.lua"), resolved), 403);
    free(hooks[0].native);
    free(hooks[1].lua);
    free(plugin_dirs[0]);
    free(conf.file);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_escapes),        cmocka_unit_test(test_sandbox_isolation),
        cmocka_unit_test(test_trusted_side_text_only), cmocka_unit_test(test_base64_decode),
        cmocka_unit_test(test_response_head_cap),      cmocka_unit_test(test_request_head_cap),
        cmocka_unit_test(test_head_cap_native),        cmocka_unit_test(test_admin_token),
        cmocka_unit_test(test_admin_hook_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
