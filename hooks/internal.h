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
    _Atomic uint64_t invocations, errors, invalid, timeouts, oom, moved, fetches, fetch_errors, duration_ns_sum;
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
    conf_namelist_t fetch_allow;
    int include_body;
    uint64_t origin_body; /* conf origin_body: the origin's body is read before origin-response up to this size (0: never) */
    int64_t timeout_ms; /* -1: per event default */
    uint64_t memory_limit;
    char hash[65];
    char **kv_names; /* the kv stores the hook may read (conf `kv:`) */
    size_t num_kv;
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

/** one (thread, hook version): the Lua states its calls take (one per call in flight) */
#define HOOK_SLOT_STATES 4
typedef struct hook_thread_slot {
    hook_fn_t *fn;
    hook_lua_state_t *states[HOOK_SLOT_STATES]; /* idle states, ready for the next call */
    size_t num_states;
    int jit_off; /* after a hard stop states are rebuilt interpreted: later overruns stop softly and leak nothing */
    int warned;  /* the hard stop's warning was logged */
    int thread_inited, thread_init_failed; /* native: the plugin's thread_init ran (1.2) */
    void *thread_state;                    /* native: what it returned */
    size_t peak;                           /* the largest peak of the states discarded or handed back so far */
} hook_thread_slot_t;

/*
 * A fiber: a C stack of its own, so that a hook call can be suspended at any safe point and go on later, on this thread or
 * another one (hooks/fiber.c). The resumer switches in with hook_fiber_resume, which returns when the fiber yields; the fiber
 * leaves with hook_fiber_yield (final: it never runs again). A fiber is a plain memory object: whoever holds it may resume
 * it on any thread.
 */
#if defined(__x86_64__) && !defined(EDGE_FIBER_UCONTEXT)
#define HOOK_FIBER_ASM 1
#else
#include <ucontext.h>
#endif
typedef struct hook_fiber {
    void *map;
    size_t map_len;
    char *stack;
    size_t stack_len;
    void (*entry)(void *);
    void *arg;
#ifdef HOOK_FIBER_ASM
    void *sp, *resumer_sp;
#else
    ucontext_t uc, resumer_uc;
#endif
#ifdef EDGE_SANITIZE
    void *asan_fake;
    const void *resumer_bottom;
    size_t resumer_size;
#endif
#ifdef EDGE_TSAN
    void *tsan_fiber, *tsan_resumer;
#endif
} hook_fiber_t;
/** maps a stack of stack_len bytes under a guard page; 0 or -1 */
int hook_fiber_init(hook_fiber_t *f, size_t stack_len);
void hook_fiber_destroy(hook_fiber_t *f);
/** the next resume starts entry(arg) from the top of the stack; entry never returns (it ends with hook_fiber_yield(f, 1)) */
void hook_fiber_prepare(hook_fiber_t *f, void (*entry)(void *), void *arg);
void hook_fiber_resume(hook_fiber_t *f);
/** inside the fiber: back to the resumer (final: for good) */
void hook_fiber_yield(hook_fiber_t *f, int final);
/** the first thing an entry does (the sanitizers learn the resumer's stack) */
void hook_fiber_entered(hook_fiber_t *f);
/** a fiber that will not be resumed again (a suspended call abandoned) releases what the sanitizers hold for it */
void hook_fiber_forget(hook_fiber_t *f);

/** how a call's fiber last gave the thread back (hook_call_t.how) */
enum { HOOK_CALL_RAN = 0, HOOK_CALL_FINISHED = 1, HOOK_CALL_MOVED = 2, HOOK_CALL_KILLED = 3, HOOK_CALL_PARKED = 4 };
/** what the watchdog asked of a running call that could not be done at once (hook_call_t.pending) */
enum { HOOK_PENDING_NONE = 0, HOOK_PENDING_MOVE = 1, HOOK_PENDING_KILL = 2 };

/** the per-call context behind edge_ctx_t */
struct edge_ctx {
    hook_event_t *ev;
    h2o_mem_pool_t *pool;
    hook_fn_t *fn;
    int responding;           /* request events: respond() was called */
    int invalid;              /* a host call broke a rule: 502 */
    int failed;               /* fail() was called */
    const char *error;        /* message for the log (pool or static) */
    int protected_touched[2]; /* a disallowed/read-only header of msg was touched: snapshot taken */
    hook_headers_t snapshot[2];
    int status_at_start;
    uint64_t start_ns;                   /* hook_now_ns() when the call began */
    int64_t timeout_ms;                  /* the call's timeout */
    void *thread_state;                  /* native: the plugin's state of this thread (host->thread_state) */
    size_t head_bytes_in, head_count_in; /* the head the hook was given (request events: the request's; else the response's) */
    struct kv_view *kv; /* the kv snapshot the call reads (taken at its first read, released when the call ends), or NULL */
    size_t alloc_bytes; /* what host->alloc gave the call (a native call's Max Memory Used) */
};

/*
 * One call of a hook (hooks.h: hook_call_new). A Lua call runs on its own fiber with a Lua state of its own (taken from the
 * starting thread's slot, handed back there when the call is freed), so that it can be suspended past its inline budget and
 * continued, exactly once, by another thread.
 */
struct hook_call {
    unsigned magic; /* HOOK_CALL_MAGIC while alive */
    hook_fiber_t fiber;
    hook_fn_t *fn;
    hook_thread_t *home; /* the thread that started it: its slot gets the Lua state back */
    struct edge_ctx ctx;
    hook_report_t rep;
    hook_status_t st;
    int phase;            /* HOOK_PHASE_* */
    int how;              /* HOOK_CALL_* */
    int prepare_only;     /* hook_thread_prepare: build the state, run nothing */
    hook_lua_state_t *ls; /* the Lua state it runs on */
    lua_State *L;
    int jit_off;          /* the state is (to be) built interpreted */
    size_t dead_peak;     /* the peak of a state freed by the call (hard stop, memory cap) */
    uint64_t deadline_ns; /* start + timeout: what the watchdog enforces and getRemainingTimeInMillis counts down to */
    /* the watchdog protocol of the running call (its thread and that thread's signal handler) */
    volatile sig_atomic_t in_fiber; /* the fiber runs (set on it after each switch in, cleared before each switch out) */
    volatile sig_atomic_t in_lua;   /* inside the call's lua_pcall */
    volatile sig_atomic_t in_host;  /* inside the allocator or a host function: never switch from there */
    volatile sig_atomic_t pending;  /* HOOK_PENDING_*: done on the way out of the host function, or by the debug hook */
    volatile sig_atomic_t timed_out;
    volatile sig_atomic_t hook_armed;  /* a Lua debug hook is set on L */
    volatile sig_atomic_t from_signal; /* the last switch out was made by the signal handler, which is still on the fiber */
    sigset_t resumer_mask;             /* the signal mask the handler returns with, on the thread that resumed the call */
    /* edge.fetch: the requests of the batch the hook waits for, and their answers (fetch_pool) */
    int can_park;
    int can_move; /* a native call may move itself to an offload thread (host->offload, ABI 1.7) */
    int fetch_waited;  /* the batch was waited for: the next fetch starts a new one */
    int fetch_aborted; /* the caller is gone: fetches fail at once (hook_call_abort_fetches) */
    hook_fetch_t *fetches;
    size_t num_fetches, cap_fetches;
    h2o_mem_pool_t fetch_pool;
    struct hook_call *next; /* the thread's idle list */
};
#define HOOK_CALL_MAGIC 0x6ca11fb3u
enum { HOOK_PHASE_IDLE = 0, HOOK_PHASE_NEW, HOOK_PHASE_SUSPENDED, HOOK_PHASE_DONE };

struct hook_thread {
    int index; /* slot index in hook_fn_t.slots and the watchdog table */
    pthread_t tid;
    hook_thread_slot_t *slots;
    size_t num_slots, cap_slots;
    unsigned calls;
    hook_call_t *idle_calls; /* calls (with their stacks) ready for reuse */
    unsigned num_idle_calls;
    /* watchdog protocol (see watchdog.c) */
    _Atomic uint64_t deadline_ns; /* 0: no call running */
    _Atomic int move;             /* the deadline is an inline budget: move the call, do not stop it */
    _Atomic uint64_t grace_ns;
    _Atomic uint32_t seq;      /* incremented per slice of a call on this thread */
    _Atomic uint32_t kill_seq; /* the slice the watchdog acts on */
    _Atomic int kill_phase;    /* 1: set the Lua debug hook, 2: stop hard, 3: move */
    hook_call_t *volatile cur; /* the call whose fiber runs on this thread now */
};

/** the thread running hooks now (NULL elsewhere); read by the signal handler and host functions */
extern __thread hook_thread_t *hook_tls_thread;
/** the call whose fiber runs on this thread now (NULL elsewhere): host functions and the allocator count in_host on it */
extern __thread hook_call_t *hook_tls_call;
/**
 * The same two, read afresh: code on a fiber that may have moved to another thread since it last looked (the compiler may
 * keep the thread pointer of the old thread in a register across a switch) reads them through these.
 */
hook_thread_t *hook_thread_self(void);
hook_call_t *hook_call_self(void);
/** inside a call's fiber: gives the thread back to the resumer, which sees `how` (HOOK_CALL_MOVED, HOOK_CALL_KILLED: for good) */
void hook_call_switch_out(hook_call_t *c, int how);
/** what the watchdog asked while a host function ran (HOOK_PENDING_*), done on its way out: move or stop the call */
void hook_call_pending_now(hook_call_t *c);

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
    int (*fetch_add)(edge_ctx_t *ctx, const char *url, size_t ulen, const char *method, size_t mlen, const char *body, size_t blen,
                     double timeout_ms);
    int (*fetch_header)(edge_ctx_t *ctx, int idx, const char *name, size_t nlen, const char *value, size_t vlen);
    int (*fetch_wait)(edge_ctx_t *ctx);
    int (*fetch_result)(edge_ctx_t *ctx, int idx, edge_str_t *body, edge_str_t *err);
    int (*fetch_header_at)(edge_ctx_t *ctx, int idx, size_t i, edge_header_t *out);
    int (*kv_meta)(edge_ctx_t *ctx, const char *store, size_t len, uint64_t *out);
    int (*get)(edge_ctx_t *ctx, int field, edge_str_t *out);
    int (*header_get)(edge_ctx_t *ctx, int msg, const char *name, size_t name_len, size_t nth, edge_header_t *out);
    int (*header_at)(edge_ctx_t *ctx, int msg, size_t index, edge_header_t *out);
    int (*get_origin)(edge_ctx_t *ctx, edge_origin_t *out);
} hook_lua_api_t;

/** a kv store's keys, bytes and version (out[0..2]) in the call's snapshot: 0, or EDGE_E_DENIED as kv_get (host.c) */
int hook_kv_meta(edge_ctx_t *ctx, const char *store, size_t len, uint64_t *out);
/** releases the call's kv snapshot, if it took one (host.c) */
void hook_ctx_kv_release(struct edge_ctx *ctx);

/* lua.c */
/** compiles fn's source in a scratch state to validate it at load; 0 or -1 with err */
int hook_lua_validate(hook_fn_t *fn, char *err, size_t errlen);
/**
 * On the call's fiber: builds c->ls if it has none (from a spare or fn's bytecode, running the top level), then (unless
 * c->prepare_only) calls the hook; sets c->st and c->ctx.error, c->rep's flags. A state hit by the memory cap is freed.
 */
void hook_lua_exec(hook_call_t *c);
/** frees a state that a hard stop abandoned mid-call (wholesale: its allocator knows every block); returns its peak */
size_t hook_lua_state_abandon(hook_lua_state_t *ls);
void hook_lua_state_free(hook_lua_state_t *ls);
/** the peak bytes of a state */
size_t hook_lua_state_peak(const hook_lua_state_t *ls);
/** its peak since the running call began (hook_lua_exec; a state built for the call: since it was built) */
size_t hook_lua_state_call_peak(const hook_lua_state_t *ls);
/** builds n states of fn ahead, on the calling thread (no watchdog: top-level code bounded as at load), as spares */
void hook_lua_prebuild(hook_fn_t *fn, unsigned n);
/** a state built ahead (hook_fn_prebuild) of fn, or NULL */
hook_lua_state_t *hook_lua_take_spare(hook_fn_t *fn);
/** the thread's slot for fn (created if needed) */
hook_thread_slot_t *hook_thread_slot(hook_thread_t *t, hook_fn_t *fn);
/** peak bytes of the slot's states, current and discarded */
size_t hook_lua_slot_peak(const hook_thread_slot_t *slot);

/* hooks.c */
/** the thread's slot for fn, or NULL (none is created) */
hook_thread_slot_t *hook_thread_find_slot(hook_thread_t *t, const hook_fn_t *fn);
/** what a hook_lua_api_t fetch function does for the running call (lua.c's api_fetch_*): fetch.c */
int hook_fetch_add(edge_ctx_t *ctx, const char *url, size_t ulen, const char *method, size_t mlen, const char *body, size_t blen,
                   double timeout_ms);
int hook_fetch_header(edge_ctx_t *ctx, int idx, const char *name, size_t nlen, const char *value, size_t vlen);
int hook_fetch_wait(edge_ctx_t *ctx);
int hook_fetch_result(edge_ctx_t *ctx, int idx, edge_str_t *body, edge_str_t *err);
int hook_fetch_header_at(edge_ctx_t *ctx, int idx, size_t i, edge_header_t *out);
/** the host functions of ABI 1.2 (fetch.c) */
int hook_native_fetch(edge_ctx_t *ctx, const edge_fetch_request_t *request, edge_fetch_done_t done, void *arg);
int hook_native_fetch_wait(edge_ctx_t *ctx);
/** ABI 1.6: host->s3 (an edge-s3: fetch answered by the server) */
int hook_native_s3(edge_ctx_t *ctx, const edge_s3_request_t *req, edge_fetch_done_t done, void *arg);
void *hook_native_thread_state(edge_ctx_t *ctx);
int hook_native_offload(edge_ctx_t *ctx);
/** runs the plugin's thread_init on this thread once (slot: this thread's); -1 when it failed */
int hook_native_thread_init(hook_fn_t *fn, hook_thread_slot_t *slot);
/** calls a native plugin's on_event */
hook_status_t hook_run_native(struct edge_ctx *ctx);
/** counts a finished call in fn's counters of thread t */
void hook_count(hook_fn_t *fn, hook_thread_t *t, hook_status_t st, const hook_report_t *rep);
/** counts a call moved off thread t past its inline budget */
void hook_count_moved(hook_fn_t *fn, hook_thread_t *t);

/* call.c */
/** frees the thread's idle calls (their stacks) */
void hook_call_cache_free(hook_thread_t *t);
/** the Lua debug hook the watchdog sets (a soft stop raises "timed out"; a pending move switches out) */
void hook_call_debug_hook(lua_State *L, lua_Debug *ar);

/* watchdog.c */
/** registers the calling thread's runtime (index, signal handler, watchdog thread); -1 if full */
int hook_watchdog_register(hook_thread_t *t);
void hook_watchdog_unregister(hook_thread_t *t);
/** unblocks the watchdog signal on the calling thread (after a call's fiber left from inside the signal handler) */
void hook_watchdog_unblock(void);
/** monotonic clock in ns */
uint64_t hook_now_ns(void);

#define HOST_ENTER()                                                                                                               \
    do {                                                                                                                           \
        hook_call_t *c_ = hook_tls_call;                                                                                           \
        if (c_ != NULL)                                                                                                            \
            ++c_->in_host;                                                                                                         \
    } while (0)
/* leaving a host function: what the watchdog asked while we were inside (move the call, stop it hard) is done now that we are
 * out. Nothing of the thread may be used after it in the same function: the call may go on on another thread */
#define HOST_LEAVE()                                                                                                               \
    do {                                                                                                                           \
        hook_call_t *c_ = hook_tls_call;                                                                                           \
        if (c_ != NULL && --c_->in_host == 0 && c_->pending && c_->in_lua)                                                         \
            hook_call_pending_now(c_);                                                                                             \
    } while (0)

#endif
