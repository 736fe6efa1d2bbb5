/* hooks/internal.h - internals shared by the files of the hooks runtime (not for the pipeline, not for plugins). */
#ifndef EDGE_HOOKS_INTERNAL_H
#define EDGE_HOOKS_INTERNAL_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <lua.h>
#include "hooks/edge_hook.h"
#include "hooks/hooks.h"

typedef struct hook_lua_state hook_lua_state_t;

/** per-thread counters of one hook version: written by one thread only (relaxed atomics), read by any */
typedef struct hook_counters {
    _Atomic uint64_t invocations, errors, invalid, timeouts, oom, duration_ns_sum;
    _Atomic uint64_t buckets[HOOK_HIST_BUCKETS];
} hook_counters_t;

struct hook_fn {
    unsigned magic;           /* HOOK_FN_MAGIC while loaded (base/assert.h): every worker thread runs it */
    _Atomic long refs;        /* owners (hook_fn_load, hook_fn_addref) */
    _Atomic long thread_refs; /* per-thread Lua states, plus one while any owner remains; the last one destroys */
    _Atomic int retired;      /* owners are gone: threads drop their states */
    int is_lua;
    uint32_t events; /* EDGE_EVENT_BIT mask */
    char *name, *path, *config_json;
    int include_body;
    int64_t timeout_ms; /* -1: per event default */
    uint64_t memory_limit;
    char hash[65];
    /* lua */
    char *source;
    size_t source_len;
    char *chunkname; /* "@path" */
    char *bytecode;  /* the chunk compiled once at load (lua_dump): what the threads' states load, no source parsed there */
    size_t bytecode_len;
    /* states built ahead (hook_fn_prebuild) that threads take on their first call instead of building one */
    pthread_mutex_t spares_mutex;
    hook_lua_state_t **spares;
    size_t num_spares;
    _Atomic int prebuilt;
    /* native */
    void *dl;
    const edge_hook_plugin_t *plugin;
    void *plugin_state;
    /* counters: one lazily allocated slot per thread index */
    hook_counters_t *_Atomic slots[HOOK_MAX_THREADS];
};
#define HOOK_FN_MAGIC 0x4f0cf7a3u

/** one (thread, hook version) Lua state */
typedef struct hook_thread_slot {
    hook_fn_t *fn;
    hook_lua_state_t *ls;
    int jit_off; /* after a hard stop the state is rebuilt interpreted: later overruns stop softly and leak nothing */
    size_t peak; /* the largest peak of the states discarded so far (hard stop, memory cap) */
} hook_thread_slot_t;

struct hook_thread {
    int index; /* slot index in hook_fn_t.slots and the watchdog table */
    pthread_t tid;
    hook_thread_slot_t *slots;
    size_t num_slots, cap_slots;
    unsigned calls;
    /* watchdog protocol (see watchdog.c) */
    _Atomic uint64_t deadline_ns; /* 0: not in a Lua call */
    _Atomic uint64_t grace_ns;
    _Atomic uint32_t seq;          /* incremented per Lua call */
    _Atomic uint32_t kill_seq;     /* the call the watchdog acts on */
    _Atomic int kill_phase;        /* 1: set the Lua debug hook, 2: jump out */
    volatile sig_atomic_t in_lua;  /* inside lua_pcall of a hook */
    volatile sig_atomic_t in_host; /* inside the allocator or a host function: never jump from there */
    volatile sig_atomic_t kill_pending;
    volatile sig_atomic_t timed_out;
    volatile sig_atomic_t hook_armed; /* the Lua debug hook of phase 1 is set on L */
    lua_State *L;                     /* the state running now */
    sigjmp_buf jmp;
};

/** the thread running hooks now (NULL elsewhere); read by the signal handler and host functions */
extern __thread hook_thread_t *hook_tls_thread;

/** the per-call context behind edge_ctx_t */
struct edge_ctx {
    hook_event_t *ev;
    h2o_mem_pool_t *pool;
    hook_fn_t *fn;
    hook_thread_t *t;
    int responding;           /* request events: respond() was called */
    int invalid;              /* a host call broke a rule: 502 */
    int failed;               /* fail() was called */
    const char *error;        /* message for the log (pool or static) */
    int protected_touched[2]; /* a disallowed/read-only header of msg was touched: snapshot taken */
    hook_headers_t snapshot[2];
    int status_at_start;
    uint64_t start_ns;  /* hook_now_ns() when hook_run began */
    uint64_t budget_ms; /* hook_run_budget: stop a Lua call this early (0: its timeout) */
    int64_t timeout_ms; /* hook_run_timeout: the call's timeout (0: the hook's, hook_fn_timeout_ms) */
    size_t head_bytes_in, head_count_in; /* the head the hook was given (request events: the request's; else the response's) */
};

/** the host vtable (host.c) */
extern const edge_host_t hook_host;
/** marks ctx invalid (502) with a printf-style message (the first one wins) */
void hook_ctx_invalid(struct edge_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** the Lua bridge's header add: name must be lowercase (invalid otherwise); key gives the case when it spells name, else (NULL
 * too) the name is Title-Cased */
int hook_header_put(edge_ctx_t *ctx, int msg, const char *name, size_t nlen, const char *key, size_t klen, const char *value,
                    size_t vlen);
/** the size (sum of name + value lengths) and field count of the head event type `type` shows a hook: the request's (with
 * the origin's custom headers at origin-request) for request events, the response's for response events (host.c) */
void hook_event_head(const hook_event_t *ev, int response, size_t *bytes, size_t *count);
/** final validation of a call's output (host.c); returns st or HOOK_INVALID */
hook_status_t hook_ctx_finish(struct edge_ctx *ctx, hook_status_t st);
/** base64 (host.c); decode returns -1 on bad input */

/** the helpers the prelude calls through FFI besides edge_host_t; must match the cdef in prelude.lua (tests compare) */
typedef struct hook_lua_api {
    void (*invalid)(edge_ctx_t *ctx, const char *msg, size_t len);
    void (*headers_clear)(edge_ctx_t *ctx, int msg);
    size_t (*b64enc)(const char *src, size_t len, char *dst);
    int (*b64dec)(const char *src, size_t len, char *dst, size_t *dlen);
    int (*digest)(const char *alg, const char *data, size_t len, unsigned char *out);
    int (*hmac)(const char *alg, const char *key, size_t klen, const char *data, size_t len, unsigned char *out);
    double (*time)(void);
    double (*remaining_ms)(void);
    uint32_t (*fnv1a)(const char *s, size_t len);
    void (*log)(int level, const char *msg, size_t len);
    char *(*scratch)(size_t len);
    int (*header_put)(edge_ctx_t *ctx, int msg, const char *name, size_t nlen, const char *key, size_t klen, const char *value,
                      size_t vlen);
} hook_lua_api_t;

/* lua.c */
/** compiles fn's source in a scratch state to validate it at load; 0 or -1 with err */
int hook_lua_validate(hook_fn_t *fn, char *err, size_t errlen);
/** runs a Lua hook; see hook_run */
hook_status_t hook_lua_run(hook_thread_t *t, hook_thread_slot_t *slot, struct edge_ctx *ctx, hook_report_t *rep);
void hook_lua_state_free(hook_lua_state_t *ls);
/** builds n states of fn ahead, on the calling thread (no watchdog: top-level code bounded as at load), as spares */
void hook_lua_prebuild(hook_fn_t *fn, unsigned n);
/** builds the slot's state now (a spare if there is one); 0 or -1 with err */
int hook_lua_prepare(hook_thread_t *t, hook_thread_slot_t *slot, char *err, size_t errlen);
/** the thread's slot for fn (created if needed) */
hook_thread_slot_t *hook_thread_slot(hook_thread_t *t, hook_fn_t *fn);
/** frees the calling thread's scratch buffer */
void hook_lua_thread_cleanup(void);
/** peak bytes of the slot's states, current and discarded */
size_t hook_lua_slot_peak(const hook_thread_slot_t *slot);

/* watchdog.c */
/** registers the calling thread's runtime (index, signal handler, watchdog thread); -1 if full */
int hook_watchdog_register(hook_thread_t *t);
void hook_watchdog_unregister(hook_thread_t *t);
/** unblocks the watchdog signal on the calling thread (after a hard stop jumped out of its handler) */
void hook_watchdog_unblock(void);
/** monotonic clock in ns */
uint64_t hook_now_ns(void);

#define HOST_ENTER()                                                                                                               \
    do {                                                                                                                           \
        hook_thread_t *t_ = hook_tls_thread;                                                                                       \
        if (t_ != NULL)                                                                                                            \
            ++t_->in_host;                                                                                                         \
    } while (0)
/* leaving a host function: if the watchdog asked for a hard stop while we were inside, jump now that we are out */
#define HOST_LEAVE()                                                                                                               \
    do {                                                                                                                           \
        hook_thread_t *t_ = hook_tls_thread;                                                                                       \
        if (t_ != NULL && --t_->in_host == 0 && t_->kill_pending && t_->in_lua)                                                    \
            siglongjmp(t_->jmp, 1);                                                                                                \
    } while (0)

#endif
