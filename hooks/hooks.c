/* hooks/hooks.c - hook versions (load, refcount, native plugin loader), per-thread runtimes, hook_run and the counters. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <h2o/string_.h>
#include "base/assert.h"
#include "base/log.h"
#include "base/series.h"
#include "base/str.h"
#include "hooks/internal.h"
#include "hooks/json.h"

#define HOOK_MAX_SOURCE (16u << 20)
/* the descriptor sizes of the minors that added fields */
#define PLUGIN_SIZE_1_2 (offsetof(edge_hook_plugin_t, thread_fini) + sizeof(void (*)(void *, void *)))
#define PLUGIN_SIZE_1_4 (offsetof(edge_hook_plugin_t, on_invoke) + sizeof(void *))

const double hook_hist_bounds[HOOK_HIST_BUCKETS - 1] = {0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                        0.005,   0.01,    0.05,   0.1,     0.5,    1};

static char *xstrdup(const char *s)
{
    char *p = strdup(s != NULL ? s : "");
    if (p == NULL)
        abort();
    return p;
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= HOOK_MAX_SOURCE) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, HOOK_MAX_SOURCE);
                free(buf);
                fclose(fp);
                return -1;
            }
            cap *= 2;
            buf = realloc(buf, cap);
        }
        if (buf == NULL)
            abort();
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        if (r == 0)
            break;
        n += r;
    }
    int failed = ferror(fp);
    fclose(fp);
    if (failed) {
        snprintf(err, errlen, "%s: read error", path);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void fn_destroy(hook_fn_t *fn)
{
    log_info("hook %s (sha256 %.12s) unloaded", fn->name, fn->hash);
    if (fn->plugin != NULL && fn->plugin->fini != NULL)
        fn->plugin->fini(fn->plugin_state);
    if (fn->dl != NULL)
        dlclose(fn->dl);
    for (size_t i = 0; i != HOOK_MAX_THREADS; ++i)
        edge_series_release((_Atomic uint64_t *)atomic_load(&fn->slots[i]));
    free(fn->name);
    free(fn->path);
    free(fn->config_json);
    for (size_t i = 0; i != fn->fetch_allow.count; ++i)
        free(fn->fetch_allow.names[i]);
    free(fn->fetch_allow.names);
    for (size_t i = 0; i != fn->num_kv; ++i)
        free(fn->kv_names[i]);
    free(fn->kv_names);
    free(fn->source);
    free(fn->chunkname);
    free(fn->bytecode);
    for (size_t i = 0; i != fn->num_spares; ++i)
        hook_lua_state_free(fn->spares[i]);
    free(fn->spares);
    pthread_mutex_destroy(&fn->spares_mutex);
    fn->magic = 0;
    free(fn);
}

/* drops one of thread_refs: the owners' one (hook_fn_release) or a thread's state (drop_slot). Only the call that takes it to
 * zero touches fn afterwards, and destroys it: a thread that looked at fn after its own decrement could read it after another
 * thread freed it (ThreadSanitizer saw two workers' sweeps do that) */
static void fn_put_thread_ref(hook_fn_t *fn)
{
    if (atomic_fetch_sub(&fn->thread_refs, 1) == 1)
        fn_destroy(fn);
}

static int load_native(hook_fn_t *fn, char *err, size_t errlen)
{
    /* dlopen searches the library path for a name without '/': make it a path */
    char *path = fn->path;
    char *tmp = NULL;
    if (strchr(path, '/') == NULL) {
        tmp = malloc(strlen(path) + 3);
        sprintf(tmp, "./%s", path);
        path = tmp;
    }
    fn->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    free(tmp);
    if (fn->dl == NULL) {
        snprintf(err, errlen, "%s: cannot load the plugin: %s", fn->path, dlerror());
        return -1;
    }
    const edge_hook_plugin_t *p = dlsym(fn->dl, EDGE_HOOK_PLUGIN_SYMBOL);
    if (p == NULL) {
        snprintf(err, errlen, "%s: not an edgehook plugin: no symbol %s (declare it with EDGE_HOOK_PLUGIN)", fn->path,
                 EDGE_HOOK_PLUGIN_SYMBOL);
        return -1;
    }
    if (p->abi_major != EDGE_HOOK_ABI_MAJOR) {
        snprintf(err, errlen,
                 "%s: built for plugin ABI %u.%u, this edgehook speaks %u.%u: a different major version is not "
                 "compatible, rebuild the plugin against this hooks/edge_hook.h",
                 fn->path, p->abi_major, p->abi_minor, EDGE_HOOK_ABI_MAJOR, EDGE_HOOK_ABI_MINOR);
        return -1;
    }
    if (p->abi_minor > EDGE_HOOK_ABI_MINOR) {
        snprintf(err, errlen,
                 "%s: built for plugin ABI %u.%u, newer than this edgehook's %u.%u: upgrade edgehook or rebuild the plugin",
                 fn->path, p->abi_major, p->abi_minor, EDGE_HOOK_ABI_MAJOR, EDGE_HOOK_ABI_MINOR);
        return -1;
    }
    if (p->size < EDGE_HOOK_PLUGIN_SIZE_1_0) {
        snprintf(err, errlen,
                 "%s: plugin descriptor is %u bytes, smaller than the %zu of ABI %u.0: corrupt or hand-made descriptor", fn->path,
                 p->size, (size_t)EDGE_HOOK_PLUGIN_SIZE_1_0, EDGE_HOOK_ABI_MAJOR);
        return -1;
    }
    int invoke = p->abi_minor >= 4 && p->size >= PLUGIN_SIZE_1_4 && p->on_invoke != NULL;
    if (p->on_event == NULL && (!invoke || p->events != 0)) {
        snprintf(err, errlen, "%s: plugin descriptor has no on_event%s", fn->path, invoke ? " for the events it declares" : "");
        return -1;
    }
    if ((p->events & ~EDGE_ALL_EVENTS) != 0 || (p->events == 0 && !invoke)) {
        snprintf(err, errlen, "%s: plugin declares invalid events 0x%x", fn->path, p->events);
        return -1;
    }
    fn->plugin = p;
    fn->events = p->events | (invoke ? EDGE_EVENT_BIT(HOOK_INVOKE) : 0);
    if (p->init != NULL) {
        char perr[512] = "";
        if (p->init(&hook_host, fn->config_json, strlen(fn->config_json), &fn->plugin_state, perr, sizeof(perr)) != 0) {
            perr[sizeof(perr) - 1] = '\0';
            snprintf(err, errlen, "%s: plugin init failed: %s", fn->path, perr[0] != '\0' ? perr : "(no message)");
            fn->plugin = NULL; /* no fini */
            return -1;
        }
    }
    return 0;
}

hook_fn_t *hook_fn_load(const conf_hook_t *conf, char *err, size_t errlen)
{
    const char *path = conf->lua != NULL ? conf->lua : conf->native;
    if (path == NULL) {
        snprintf(err, errlen, "hook %s: neither lua nor native", conf->name != NULL ? conf->name : "?");
        return NULL;
    }
    hook_fn_t *fn = calloc(1, sizeof(*fn));
    if (fn == NULL)
        abort();
    fn->magic = HOOK_FN_MAGIC;
    atomic_init(&fn->refs, 1);
    atomic_init(&fn->thread_refs, 1); /* the owners' one, dropped with the last owner */
    pthread_mutex_init(&fn->spares_mutex, NULL);
    fn->is_lua = conf->lua != NULL;
    fn->name = xstrdup(conf->name != NULL ? conf->name : path);
    fn->path = xstrdup(path);
    fn->config_json = xstrdup(conf->config_json != NULL ? conf->config_json : "{}");
    if ((fn->fetch_allow.names = calloc(conf->fetch_allow.count + 1, sizeof(char *))) == NULL)
        abort();
    for (size_t i = 0; i != conf->fetch_allow.count; ++i)
        fn->fetch_allow.names[fn->fetch_allow.count++] = xstrdup(conf->fetch_allow.names[i]);
    fn->include_body = conf->include_body;
    fn->origin_body = conf->origin_body;
    if (conf->kv.count != 0 && (fn->kv_names = calloc(conf->kv.count, sizeof(char *))) == NULL)
        abort();
    for (size_t i = 0; i != conf->kv.count; ++i)
        fn->kv_names[fn->num_kv++] = xstrdup(conf->kv.names[i]);
    fn->timeout_ms = conf->timeout_ms;
    fn->memory_limit = conf->memory_limit != 0 ? conf->memory_limit : 64u << 20;
    fn->events = EDGE_ALL_EVENTS;
    char *content;
    size_t len;
    if (read_file(path, &content, &len, err, errlen) != 0)
        goto error;
    edge_sha256_hex(content, len, fn->hash);
    if (fn->is_lua) {
        fn->source = content;
        fn->source_len = len;
        /* tracebacks name the user's file, not the stored copy a version loads from */
        const char *shown = conf->source_name != NULL ? conf->source_name : path;
        fn->chunkname = malloc(strlen(shown) + 2);
        sprintf(fn->chunkname, "@%s", shown);
        if (hook_lua_validate(fn, err, errlen) != 0)
            goto error;
    } else {
        free(content);
        if (load_native(fn, err, errlen) != 0)
            goto error;
    }
    return fn;
error:
    fn_destroy(fn);
    return NULL;
}

void hook_fn_addref(hook_fn_t *fn)
{
    EDGE_CHECK_OBJ(fn, HOOK_FN_MAGIC);
    atomic_fetch_add(&fn->refs, 1);
}

void hook_fn_release(hook_fn_t *fn)
{
    if (fn == NULL)
        return;
    EDGE_CHECK_OBJ(fn, HOOK_FN_MAGIC);
    long before = atomic_fetch_sub(&fn->refs, 1);
    EDGE_ASSERT(before > 0);
    if (before == 1) {
        atomic_store_explicit(&fn->retired, 1, memory_order_release); /* threads drop their states at their next sweep */
        fn_put_thread_ref(fn);
    }
}

const char *hook_fn_name(const hook_fn_t *fn)
{
    return fn->name;
}

const char *hook_fn_path(const hook_fn_t *fn)
{
    return fn->path;
}

const char *hook_fn_hash(const hook_fn_t *fn)
{
    return fn->hash;
}

int hook_fn_is_lua(const hook_fn_t *fn)
{
    return fn->is_lua;
}

int hook_fn_handles(const hook_fn_t *fn, int type)
{
    return type >= 0 && type <= HOOK_INVOKE && (fn->events & EDGE_EVENT_BIT(type)) != 0;
}

uint64_t hook_fn_memory_limit(const hook_fn_t *fn)
{
    return fn->memory_limit;
}

int64_t hook_fn_timeout_ms(const hook_fn_t *fn, int type)
{
    if (fn->timeout_ms > 0)
        return fn->timeout_ms;
    return type == HOOK_VIEWER_REQUEST || type == HOOK_VIEWER_RESPONSE ? 5000 : 30000;
}

uint64_t hook_fn_origin_body(const hook_fn_t *fn)
{
    return fn->origin_body;
}

int hook_fn_include_body(const hook_fn_t *fn)
{
    return fn->include_body;
}

hook_thread_t *hook_thread_new(void)
{
    hook_thread_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    t->tid = pthread_self();
    if (hook_watchdog_register(t) != 0) {
        free(t);
        return NULL;
    }
    hook_watchdog_unblock(); /* a server that blocks signals in its workers must still let the watchdog's through */
    hook_tls_thread = t;
    return t;
}

/* the size of a 1.2 descriptor: the per-thread functions are read only from one that large */

int hook_native_thread_init(hook_fn_t *fn, hook_thread_slot_t *slot)
{
    if (!slot->thread_inited) {
        const edge_hook_plugin_t *p = fn->plugin;
        slot->thread_inited = 1;
        if (p->size >= PLUGIN_SIZE_1_2 && p->thread_init != NULL && p->thread_init(fn->plugin_state, &slot->thread_state) != 0) {
            log_error("hook %s: the plugin's thread_init failed on this thread: its calls here fail", fn->name);
            slot->thread_init_failed = 1;
        }
    }
    return slot->thread_init_failed ? -1 : 0;
}

static void drop_slot(hook_thread_t *t, size_t i)
{
    hook_thread_slot_t s = t->slots[i];
    const edge_hook_plugin_t *p = s.fn->plugin;
    if (p != NULL && s.thread_inited && !s.thread_init_failed && p->size >= PLUGIN_SIZE_1_2 && p->thread_fini != NULL)
        p->thread_fini(s.fn->plugin_state, s.thread_state);
    for (size_t j = 0; j != s.num_states; ++j)
        hook_lua_state_free(s.states[j]);
    t->slots[i] = t->slots[--t->num_slots];
    fn_put_thread_ref(s.fn);
}

void hook_thread_sweep(hook_thread_t *t)
{
    for (size_t i = t->num_slots; i-- != 0;)
        if (atomic_load_explicit(&t->slots[i].fn->retired, memory_order_acquire) != 0)
            drop_slot(t, i);
}

void hook_thread_free(hook_thread_t *t)
{
    if (t == NULL)
        return;
    hook_tls_thread = t;
    while (t->num_slots != 0)
        drop_slot(t, t->num_slots - 1);
    free(t->slots);
    hook_call_cache_free(t);
    hook_watchdog_unregister(t);
    if (hook_tls_thread == t)
        hook_tls_thread = NULL;
    free(t);
}

hook_thread_slot_t *hook_thread_find_slot(hook_thread_t *t, const hook_fn_t *fn)
{
    for (size_t i = 0; i != t->num_slots; ++i)
        if (t->slots[i].fn == fn)
            return &t->slots[i];
    return NULL;
}

hook_thread_slot_t *hook_thread_slot(hook_thread_t *t, hook_fn_t *fn)
{
    hook_thread_slot_t *slot = hook_thread_find_slot(t, fn);
    if (slot != NULL)
        return slot;
    if (t->num_slots == t->cap_slots) {
        t->cap_slots = t->cap_slots == 0 ? 8 : t->cap_slots * 2;
        t->slots = realloc(t->slots, t->cap_slots * sizeof(*t->slots));
        if (t->slots == NULL)
            abort();
    }
    atomic_fetch_add(&fn->thread_refs, 1);
    slot = &t->slots[t->num_slots++];
    memset(slot, 0, sizeof(*slot));
    slot->fn = fn;
    return slot;
}

void hook_fn_prebuild(hook_fn_t *fn, unsigned n)
{
    int expected = 0;
    if (fn->is_lua && atomic_compare_exchange_strong(&fn->prebuilt, &expected, 1))
        hook_lua_prebuild(fn, n);
}

/* a generic invocation: the plugin's on_invoke, its result checked to be JSON and kept in the event's pool */
static int run_native_invoke(struct edge_ctx *ctx)
{
    const edge_hook_plugin_t *p = ctx->fn->plugin;
    hook_event_t *ev = ctx->ev;
    edge_str_t out = {NULL, 0};
    int action = (int)p->on_invoke(ctx->fn->plugin_state, &hook_host, ctx, ev->invoke.payload.base, ev->invoke.payload.len, &out);
    if (action == EDGE_CONTINUE) {
        char err[256];
        hook_json_t *doc = NULL;
        if (out.ptr == NULL || out.len > HOOK_INVOKE_RESULT_MAX ||
            (doc = hook_json_parse_max(out.ptr, out.len, 1u << 20, err, sizeof(err))) == NULL) {
            hook_ctx_invalid(ctx, "the plugin's result is not JSON%s%s", out.ptr == NULL ? " (none)" : ": ",
                             out.ptr == NULL ? "" : out.len > HOOK_INVOKE_RESULT_MAX ? "larger than 6 MB" : err);
            return -1;
        }
        hook_json_free(doc);
        ev->invoke.result = h2o_strdup(ctx->pool, out.ptr, out.len);
    }
    return action;
}

hook_status_t hook_run_native(struct edge_ctx *ctx)
{
    const edge_hook_plugin_t *p = ctx->fn->plugin;
    int action = ctx->ev->type == HOOK_INVOKE ? run_native_invoke(ctx)
                                              : (int)p->on_event(ctx->fn->plugin_state, &hook_host, ctx, (edge_event_t)ctx->ev->type);
    if (action == -1)
        return HOOK_INVALID;
    switch (action) {
    case EDGE_CONTINUE:
        return HOOK_CONTINUE;
    case EDGE_RESPOND:
        return HOOK_RESPOND;
    case EDGE_FAIL:
        if (ctx->error == NULL)
            ctx->error = "the plugin returned EDGE_FAIL";
        return HOOK_FAILED;
    default:
        hook_ctx_invalid(ctx, "the plugin returned garbage: action %d is not EDGE_CONTINUE, EDGE_RESPOND or EDGE_FAIL", action);
        return HOOK_INVALID;
    }
}

static inline void bump(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}

static hook_counters_t *counters_for(hook_fn_t *fn, hook_thread_t *t)
{
    hook_counters_t *c = atomic_load_explicit(&fn->slots[t->index], memory_order_acquire);
    if (c == NULL) {
        /* shared with the instances of this version other generations loaded on this thread index (the same thread writes
         * both): a reload that loads the version again keeps its counts */
        char key[300];
        _Static_assert(sizeof(hook_counters_t) % sizeof(uint64_t) == 0, "hook_counters_t is a run of uint64_t counters");
        snprintf(key, sizeof(key), "%s %.12s %u", fn->name, fn->hash, (unsigned)t->index);
        c = (hook_counters_t *)edge_series_get("hook", key, sizeof(hook_counters_t) / sizeof(uint64_t));
        atomic_store_explicit(&fn->slots[t->index], c, memory_order_release);
    }
    return c;
}

const conf_namelist_t *hook_fn_fetch_allow(const hook_fn_t *fn)
{
    return &fn->fetch_allow;
}

void hook_fn_count_fetch(hook_fn_t *fn, int failed)
{
    hook_thread_t *t = hook_tls_thread;
    if (t == NULL)
        return;
    hook_counters_t *c = counters_for(fn, t);
    bump(&c->fetches, 1);
    if (failed)
        bump(&c->fetch_errors, 1);
}

void hook_count_moved(hook_fn_t *fn, hook_thread_t *t)
{
    bump(&counters_for(fn, t)->moved, 1);
}

void hook_count(hook_fn_t *fn, hook_thread_t *t, hook_status_t st, const hook_report_t *rep)
{
    hook_counters_t *c = counters_for(fn, t);
    bump(&c->invocations, 1);
    if (st == HOOK_INVALID || st == HOOK_FAILED)
        bump(&c->errors, 1);
    if (st == HOOK_INVALID)
        bump(&c->invalid, 1);
    if (rep->timed_out)
        bump(&c->timeouts, 1);
    if (rep->out_of_memory)
        bump(&c->oom, 1);
    bump(&c->duration_ns_sum, rep->duration_ns);
    static const uint64_t bounds_ns[HOOK_HIST_BUCKETS - 1] = {10000,   50000,    100000,   250000,    500000,    1000000,   2500000,
                                                              5000000, 10000000, 50000000, 100000000, 500000000, 1000000000};
    size_t b = 0;
    while (b < HOOK_HIST_BUCKETS - 1 && rep->duration_ns > bounds_ns[b])
        ++b;
    bump(&c->buckets[b], 1);
}

void hook_fn_stats(const hook_fn_t *fn, hook_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i != HOOK_MAX_THREADS; ++i) {
        hook_counters_t *c = atomic_load_explicit(&((hook_fn_t *)fn)->slots[i], memory_order_acquire);
        if (c == NULL)
            continue;
#define ADD(f) out->f += atomic_load_explicit(&c->f, memory_order_relaxed)
        ADD(invocations);
        ADD(errors);
        ADD(invalid);
        ADD(timeouts);
        ADD(oom);
        ADD(moved);
        ADD(fetches);
        ADD(fetch_errors);
        ADD(duration_ns_sum);
        for (size_t b = 0; b != HOOK_HIST_BUCKETS; ++b)
            ADD(buckets[b]);
#undef ADD
    }
}

/* the Prometheus label value of fn's name (backslash, double quote and newline escaped) */
static void label_of(const hook_fn_t *fn, char *lbl, size_t size)
{
    size_t o = 0;
    for (const char *c = fn->name; *c != '\0' && o + 3 < size; ++c) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            lbl[o++] = '\\';
            lbl[o++] = *c == '\n' ? 'n' : *c;
        } else {
            lbl[o++] = *c;
        }
    }
    lbl[o] = '\0';
}

/* 1 if an earlier one of fns is the same version (two instances of one pinned version: one series) */
static int seen_before(const hook_fn_t *const *fns, size_t i)
{
    for (size_t j = 0; j != i; ++j)
        if (strcmp(fns[j]->name, fns[i]->name) == 0 && memcmp(fns[j]->hash, fns[i]->hash, 12) == 0)
            return 1;
    return 0;
}

static size_t render_metrics(const hook_fn_t *const *fns, size_t num, char *buf, size_t len, int with_help)
{
    enum { F_INVOCATIONS, F_ERRORS, F_TIMEOUTS, F_OOM, F_MOVED, F_FETCHES, F_DURATION, F_NUM };
    static const char *const help[F_NUM] = {
        "# HELP edgehook_hook_invocations_total Calls of a hook version.\n# TYPE edgehook_hook_invocations_total counter\n",
        "# HELP edgehook_hook_errors_total Calls that answered 502 or 503.\n# TYPE edgehook_hook_errors_total counter\n",
        "# HELP edgehook_hook_timeouts_total Calls stopped by their timeout.\n# TYPE edgehook_hook_timeouts_total counter\n",
        "# HELP edgehook_hook_memory_limit_total Calls stopped by the Lua memory cap.\n"
        "# TYPE edgehook_hook_memory_limit_total counter\n",
        "# HELP edgehook_hook_moved_total Calls that outgrew their inline budget on the event loop and went on, from where they "
        "were, on an offload thread.\n# TYPE edgehook_hook_moved_total counter\n",
        "# HELP edgehook_hook_fetches_total Requests hooks made with edge.fetch, by result (ok: an HTTP answer of any status; "
        "error: denied, failed, timed out or too large).\n# TYPE edgehook_hook_fetches_total counter\n",
        "# HELP edgehook_hook_duration_seconds Wall-clock time of hook calls.\n# TYPE edgehook_hook_duration_seconds histogram\n",
    };
    size_t n = 0;
#define OUT(...)                                                                                                                   \
    do {                                                                                                                           \
        int r_ = snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, __VA_ARGS__);                                           \
        if (r_ > 0)                                                                                                                \
            n += (size_t)r_;                                                                                                       \
    } while (0)
    /* every sample of a family together, one # HELP / # TYPE group each (the text format wants families contiguous) */
    for (int f = 0; f != F_NUM; ++f) {
        if (with_help)
            OUT("%s", help[f]);
        for (size_t i = 0; i != num; ++i) {
            hook_stats_t s;
            char lbl[256], hash[13];
            unsigned long long v;
            if (seen_before(fns, i))
                continue;
            hook_fn_stats(fns[i], &s);
            label_of(fns[i], lbl, sizeof(lbl));
            memcpy(hash, fns[i]->hash, 12);
            hash[12] = '\0';
            switch (f) {
            case F_INVOCATIONS:
                OUT("edgehook_hook_invocations_total{hook=\"%s\",hash=\"%s\"} %llu\n", lbl, hash,
                    (unsigned long long)s.invocations);
                break;
            case F_ERRORS:
                OUT("edgehook_hook_errors_total{hook=\"%s\",hash=\"%s\",status=\"502\"} %llu\n", lbl, hash,
                    (unsigned long long)s.invalid);
                OUT("edgehook_hook_errors_total{hook=\"%s\",hash=\"%s\",status=\"503\"} %llu\n", lbl, hash,
                    (unsigned long long)(s.errors - s.invalid));
                break;
            case F_TIMEOUTS:
                OUT("edgehook_hook_timeouts_total{hook=\"%s\",hash=\"%s\"} %llu\n", lbl, hash, (unsigned long long)s.timeouts);
                break;
            case F_OOM:
                OUT("edgehook_hook_memory_limit_total{hook=\"%s\",hash=\"%s\"} %llu\n", lbl, hash, (unsigned long long)s.oom);
                break;
            case F_MOVED:
                OUT("edgehook_hook_moved_total{hook=\"%s\",hash=\"%s\"} %llu\n", lbl, hash, (unsigned long long)s.moved);
                break;
            case F_FETCHES:
                OUT("edgehook_hook_fetches_total{hook=\"%s\",hash=\"%s\",result=\"ok\"} %llu\n", lbl, hash,
                    (unsigned long long)(s.fetches - s.fetch_errors));
                OUT("edgehook_hook_fetches_total{hook=\"%s\",hash=\"%s\",result=\"error\"} %llu\n", lbl, hash,
                    (unsigned long long)s.fetch_errors);
                break;
            default:
                v = 0;
                for (size_t b = 0; b != HOOK_HIST_BUCKETS; ++b) {
                    v += s.buckets[b];
                    if (b + 1 < HOOK_HIST_BUCKETS)
                        OUT("edgehook_hook_duration_seconds_bucket{hook=\"%s\",hash=\"%s\",le=\"%g\"} %llu\n", lbl, hash,
                            hook_hist_bounds[b], v);
                    else
                        OUT("edgehook_hook_duration_seconds_bucket{hook=\"%s\",hash=\"%s\",le=\"+Inf\"} %llu\n", lbl, hash, v);
                }
                OUT("edgehook_hook_duration_seconds_sum{hook=\"%s\",hash=\"%s\"} %.9f\n", lbl, hash,
                    (double)s.duration_ns_sum / 1e9);
                OUT("edgehook_hook_duration_seconds_count{hook=\"%s\",hash=\"%s\"} %llu\n", lbl, hash,
                    (unsigned long long)s.invocations);
            }
        }
    }
#undef OUT
    return n;
}

size_t hook_fn_metrics(const hook_fn_t *fn, char *buf, size_t len, int with_help)
{
    return render_metrics(&fn, 1, buf, len, with_help);
}

size_t hook_fns_metrics(const hook_fn_t *const *fns, size_t num, char *buf, size_t len)
{
    return num != 0 ? render_metrics(fns, num, buf, len, 1) : 0;
}
