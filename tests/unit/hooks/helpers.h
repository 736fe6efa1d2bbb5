/* tests/unit/hooks/helpers.h - shared helpers of the hooks unit tests: events, hook loading, plugin paths. */
#ifndef EDGE_TESTS_UNIT_HOOKS_HELPERS_H
#define EDGE_TESTS_UNIT_HOOKS_HELPERS_H

#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hooks/hooks.h"
#include "base/log.h"

/* ThreadSanitizer defers a signal that arrives while a thread runs uninstrumented code until the thread next calls into
 * the runtime: a JIT-compiled Lua loop never does, so the timeout watchdog's signal never stops it there. Tests of stopping
 * hooks say so and skip in a ThreadSanitizer build (EDGE_TSAN). */
#ifdef EDGE_TSAN
#define SKIP_UNDER_TSAN(why)                                                                                                   \
    do {                                                                                                                       \
        print_message("skipped under ThreadSanitizer: %s\n", why);                                                             \
        skip();                                                                                                                \
    } while (0)
#else
#define SKIP_UNDER_TSAN(why)                                                                                                   \
    do {                                                                                                                       \
    } while (0)
#endif
#define TSAN_LOOP_REASON "a Lua loop is stopped by a signal that ThreadSanitizer holds back while the loop runs"

/* the build dir: $EDGEHOOK_BUILD, else the directory of this test program (unit tests live in the build dir's root) */
static inline const char *build_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0] != '\0')
        return dir;
    const char *env = getenv("EDGEHOOK_BUILD");
    if (env != NULL && *env != '\0') {
        snprintf(dir, sizeof(dir), "%s", env);
        return dir;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return ".";
    exe[n] = '\0';
    snprintf(dir, sizeof(dir), "%s", dirname(exe));
    return dir;
}

/* path of a built plugin: plugin_path("tests/hooks", "garbage") -> BUILD/tests/hooks/libgarbage.so */
static inline const char *plugin_path(const char *sub, const char *name)
{
    static char bufs[4][PATH_MAX + 256];
    static int i;
    char *b = bufs[i++ & 3];
    int n = snprintf(b, sizeof(bufs[0]), "%.*s/%.64s/lib%.64s.so", PATH_MAX - 200, build_dir(), sub, name);
    (void)n;
    return b;
}

/* loads a hook: a path ending in .lua is Lua, anything else native; asserts success unless err != NULL */
static inline hook_fn_t *load_hook(const char *path, const char *config, int64_t timeout_ms, uint64_t memory, char *err,
                                   size_t errlen)
{
    conf_hook_t c = {0};
    char ebuf[1024];
    size_t len = strlen(path);
    c.name = (char *)path;
    if (len > 4 && strcmp(path + len - 4, ".lua") == 0)
        c.lua = (char *)path;
    else
        c.native = (char *)path;
    c.config_json = (char *)(config != NULL ? config : "{}");
    c.timeout_ms = timeout_ms;
    c.memory_limit = memory != 0 ? memory : 64u << 20;
    c.include_body = 1;
    hook_fn_t *fn = hook_fn_load(&c, err != NULL ? err : ebuf, err != NULL ? errlen : sizeof(ebuf));
    if (fn == NULL && err == NULL)
        fail_msg("loading %s: %s", path, ebuf);
    return fn;
}

/* an event: headers as NULL-terminated "Key", "value" pairs */
static inline void make_event(h2o_mem_pool_t *pool, hook_event_t *ev, int type, const char *uri, const char *qs, ...)
{
    hook_event_init(ev, type);
    ev->request_id = h2o_iovec_init("req-123", 7);
    ev->distribution_domain_name = h2o_iovec_init("d111.example.net", 16);
    ev->distribution_id = h2o_iovec_init("EDFDVBD6EXAMPLE", 15);
    ev->request.client_ip = h2o_iovec_init("203.0.113.178", 13);
    ev->request.method = h2o_iovec_init("GET", 3);
    ev->request.uri = h2o_iovec_init(uri, strlen(uri));
    ev->request.querystring = h2o_iovec_init(qs, strlen(qs));
    va_list ap;
    va_start(ap, qs);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        hook_headers_add(pool, &ev->request.headers, k, strlen(k), v, strlen(v));
    }
    va_end(ap);
    if (type == HOOK_ORIGIN_RESPONSE || type == HOOK_VIEWER_RESPONSE) {
        ev->response.status = 200;
        ev->response.status_description = h2o_iovec_init("OK", 2);
        hook_headers_add(pool, &ev->response.headers, "Content-Type", 12, "text/html", 9);
        hook_headers_add(pool, &ev->response.headers, "Via", 3, "1.1 edge", 8);
    }
    if (type == HOOK_ORIGIN_REQUEST || type == HOOK_ORIGIN_RESPONSE) {
        ev->request.origin.kind = HOOK_ORIGIN_CUSTOM;
        ev->request.origin.domain_name = h2o_iovec_init("origin.example.com", 18);
        ev->request.origin.protocol = h2o_iovec_init("https", 5);
        ev->request.origin.path = h2o_iovec_init("", 0);
        ev->request.origin.port = 443;
        ev->request.origin.read_timeout_s = 30;
        ev->request.origin.keepalive_timeout_s = 5;
    }
}

/* the first value of a header (NUL-terminated: hook_headers_add copies terminate), or NULL */
static inline const char *hval(const hook_headers_t *h, const char *name)
{
    ssize_t i = hook_headers_find(h, name, strlen(name), 0);
    return i < 0 ? NULL : h->entries[i].value.base;
}

static inline size_t hcount(const hook_headers_t *h, const char *name)
{
    size_t n = 0;
    for (ssize_t i = hook_headers_find(h, name, strlen(name), 0); i >= 0;
         i = hook_headers_find(h, name, strlen(name), (size_t)i + 1))
        ++n;
    return n;
}

static inline int iov_is(h2o_iovec_t v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.base, s, v.len) == 0;
}

#endif
