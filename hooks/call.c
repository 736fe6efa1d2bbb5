/* hooks/call.c - hook calls: each Lua call runs on a fiber of its own with a Lua state of its own, so that it can be suspended
 * past its inline budget and continued, exactly once, on another thread; the end of every call (validation, log, counters). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <h2o/string_.h>
#include <lauxlib.h>
#include "base/assert.h"
#include "base/log.h"
#include "hooks/internal.h"

/* a call's C stack: LuaJIT nests C frames for C functions that call back into Lua (at most LUAI_MAXCCALLS deep), plus the
 * host's (OpenSSL, the log's formatting) and a signal frame. Pages are committed only when touched */
#ifdef EDGE_SANITIZE
#define HOOK_CALL_STACK (2u << 20)
#else
#define HOOK_CALL_STACK (512u << 10)
#endif
#define HOOK_IDLE_CALLS 16 /* kept per thread for reuse (each with its stack) */

__thread hook_call_t *hook_tls_call;

/* read through a call the compiler cannot see into: fresh after a switch, on the thread the code now runs on */
__attribute__((noipa)) hook_thread_t *hook_thread_self(void)
{
    return hook_tls_thread;
}

__attribute__((noipa)) hook_call_t *hook_call_self(void)
{
    return hook_tls_call;
}

__attribute__((noipa)) void hook_call_switch_out(hook_call_t *c, int how)
{
    c->how = how;
    c->in_fiber = 0; /* from here the signal handler leaves the call alone: the stack is about to be the resumer's */
    hook_fiber_yield(&c->fiber, how == HOOK_CALL_FINISHED || how == HOOK_CALL_KILLED);
    c->in_fiber = 1;
}

__attribute__((noipa)) void hook_call_pending_now(hook_call_t *c)
{
    int pending = c->pending;
    c->pending = HOOK_PENDING_NONE;
    if (pending == HOOK_PENDING_MOVE && c->how == HOOK_CALL_RAN)
        hook_call_switch_out(c, HOOK_CALL_MOVED);
    else if (pending == HOOK_PENDING_KILL)
        hook_call_switch_out(c, HOOK_CALL_KILLED);
}

void hook_call_debug_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    hook_call_t *c = hook_call_self();
    if (c == NULL)
        return;
    if (c->timed_out)
        luaL_error(L, "hook timed out");
    if (c->pending == HOOK_PENDING_MOVE) {
        lua_sethook(L, NULL, 0, 0);
        c->hook_armed = 0;
        hook_call_pending_now(c);
    }
}

/* the fiber's entry */
static void call_main(void *arg)
{
    hook_call_t *c = arg;
    hook_fiber_entered(&c->fiber);
    c->in_fiber = 1;
    if (c->fn->is_lua)
        hook_lua_exec(c);
    else
        c->st = hook_run_native(&c->ctx); /* on the fiber too: host->fetch_wait parks it */
    hook_call_switch_out(c, HOOK_CALL_FINISHED);
    abort(); /* a finished call is never resumed */
}

/* checks fn and starts the report of one of its calls */
static void report_begin(hook_fn_t *fn, hook_report_t *rep)
{
    EDGE_CHECK_OBJ(fn, HOOK_FN_MAGIC);
    memset(rep, 0, sizeof(*rep));
    rep->name = fn->name;
    rep->hash = fn->hash;
}

static void call_end(hook_thread_t *t, hook_call_t *c);

static hook_call_t *call_init(hook_thread_t *t, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool, int prepare_only)
{
    EDGE_CHECK_OBJ(fn, HOOK_FN_MAGIC);
    hook_call_t *c = t->idle_calls;
    if (c != NULL) {
        t->idle_calls = c->next;
        --t->num_idle_calls;
    } else if ((c = calloc(1, sizeof(*c))) == NULL) {
        abort();
    }
    hook_fiber_t fiber = c->fiber; /* the stack is reused */
    memset(c, 0, sizeof(*c));
    c->fiber = fiber;
    c->magic = HOOK_CALL_MAGIC;
    c->fn = fn;
    c->home = t;
    c->prepare_only = prepare_only;
    h2o_mem_init_pool(&c->fetch_pool);
    report_begin(fn, &c->rep);
    uint64_t start = hook_now_ns();
    c->ctx = (struct edge_ctx){.ev = ev,
                               .pool = pool,
                               .fn = fn,
                               .status_at_start = ev->response.status,
                               .start_ns = start,
                               .timeout_ms = hook_fn_timeout_ms(fn, ev->type)};
    c->deadline_ns = start + (uint64_t)c->ctx.timeout_ms * 1000000u;
    c->phase = HOOK_PHASE_NEW;
    if (!prepare_only && !hook_fn_handles(fn, ev->type)) {
        c->st = HOOK_CONTINUE; /* a no-op, uncounted */
        c->phase = HOOK_PHASE_DONE;
        return c;
    }
    hook_event_head(ev, ev->type >= HOOK_ORIGIN_RESPONSE, &c->ctx.head_bytes_in, &c->ctx.head_count_in);
    hook_thread_slot_t *slot = hook_thread_slot(t, fn);
    if (fn->is_lua) {
        c->jit_off = slot->jit_off;
        if (slot->num_states != 0)
            c->ls = slot->states[--slot->num_states];
        else if (!slot->jit_off)
            c->ls = hook_lua_take_spare(fn);
    } else if (hook_native_thread_init(fn, slot) != 0) {
        c->st = HOOK_FAILED;
        c->ctx.error = "the plugin's thread_init failed on this thread";
        call_end(t, c);
    } else {
        c->ctx.thread_state = slot->thread_state;
    }
    return c;
}

hook_call_t *hook_call_new(hook_thread_t *t, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool)
{
    return call_init(t, fn, ev, pool, 0);
}

/* the end of a call, on the thread that finished it: validation of the output, the error log, the counters */
static void call_end(hook_thread_t *t, hook_call_t *c)
{
    struct edge_ctx *ctx = &c->ctx;
    hook_report_t *rep = &c->rep;
    hook_fn_t *fn = c->fn;
    hook_event_t *ev = ctx->ev;
    hook_status_t st = c->st;
    c->phase = HOOK_PHASE_DONE;
    if (c->prepare_only)
        return;
    if (st != HOOK_FAILED)
        st = hook_ctx_finish(ctx, st);
    else if (ctx->invalid && !rep->timed_out && !rep->out_of_memory)
        st = HOOK_INVALID; /* a host call broke a rule before the hook gave up: that is the error to report */
    uint64_t end = hook_now_ns();
    rep->duration_ns = end > ctx->start_ns ? end - ctx->start_ns : 0; /* the TSC clock may be re-calibrated meanwhile */
    if (!fn->is_lua && rep->duration_ns / 1000000 >= (uint64_t)ctx->timeout_ms && st != HOOK_FAILED) {
        /* C code cannot be stopped: answer as Lambda@Edge would have */
        st = HOOK_FAILED;
        rep->timed_out = 1;
        ctx->error = "the plugin ran past its timeout";
    }
    if (st == HOOK_INVALID || st == HOOK_FAILED) {
        rep->http_status = st == HOOK_INVALID ? 502 : 503;
        rep->error = ctx->error != NULL ? ctx->error : "unknown error";
        log_error("hook %s [%.*s] %s: %d %s: %s", fn->name, (int)ev->request_id.len, ev->request_id.base ? ev->request_id.base : "",
                  hook_event_type_name(ev->type), rep->http_status,
                  st == HOOK_INVALID   ? "invalid output"
                  : rep->timed_out     ? "timeout"
                  : rep->out_of_memory ? "memory limit"
                                       : "execution error",
                  rep->error);
    }
    if (!fn->is_lua)
        rep->max_memory = ctx->alloc_bytes;
    c->st = st;
    hook_count(fn, t, st, rep);
    if ((++t->calls & 1023) == 0)
        hook_thread_sweep(t);
}

/* a hard stop left the call's fiber for good: its state is freed wholesale */
static void call_killed(hook_call_t *c)
{
    c->rep.max_memory = hook_lua_state_call_peak(c->ls);
    size_t peak = hook_lua_state_abandon(c->ls);
    if (peak > c->dead_peak)
        c->dead_peak = peak;
    c->ls = NULL;
    c->L = NULL;
    c->jit_off = 1; /* the starting thread rebuilds its states interpreted (hook_call_free) */
    c->rep.timed_out = 1;
    c->st = HOOK_FAILED;
    c->ctx.error = h2o_mem_alloc_pool(c->ctx.pool, 128);
    snprintf((char *)c->ctx.error, 128, "timed out after %lld ms; stopped hard (in compiled code), the Lua state is rebuilt",
             (long long)c->ctx.timeout_ms);
}

hook_run_t hook_call_run(hook_thread_t *t, hook_call_t *c, uint64_t budget_ms)
{
    EDGE_CHECK_OBJ(c, HOOK_CALL_MAGIC);
    hook_tls_thread = t;
    if (c->phase == HOOK_PHASE_DONE)
        return HOOK_RUN_FINISHED;
    if (c->phase == HOOK_PHASE_NEW) {
        if (c->fiber.map == NULL && hook_fiber_init(&c->fiber, HOOK_CALL_STACK) != 0) {
            log_error("hook %s: no memory for a call's stack", c->fn->name);
            c->st = HOOK_FAILED;
            c->ctx.error = "no memory for the call's stack";
            call_end(t, c);
            return HOOK_RUN_FINISHED;
        }
        hook_fiber_prepare(&c->fiber, call_main, c);
    }
    /* the slice: up to the inline budget (then the call moves), or up to the call's deadline (then it is stopped) */
    uint64_t now = hook_now_ns(), deadline = c->deadline_ns;
    int move = 0;
    if (budget_ms != 0 && now + budget_ms * 1000000u < deadline) {
        deadline = now + budget_ms * 1000000u;
        move = 1;
    }
    if (c->hook_armed && !c->timed_out && c->L != NULL) {
        lua_sethook(c->L, NULL, 0, 0); /* set for a move that happened otherwise */
        c->hook_armed = 0;
    }
    c->pending = HOOK_PENDING_NONE;
    c->how = HOOK_CALL_RAN;
    if (c->from_signal)
        pthread_sigmask(SIG_SETMASK, NULL, &c->resumer_mask); /* the handler the call left from returns with this thread's */
    if (c->fn->is_lua) {
        /* C code cannot be stopped nor moved: no watchdog (its signals would only interrupt the plugin's system calls) */
        atomic_store(&t->seq, atomic_load_explicit(&t->seq, memory_order_relaxed) + 1);
        atomic_store(&t->move, move);
        atomic_store(&t->deadline_ns, deadline);
    }
    t->cur = c;
    hook_tls_call = c;
    hook_fiber_resume(&c->fiber);
    hook_tls_call = NULL;
    t->cur = NULL;
    atomic_store(&t->deadline_ns, 0);
    if (c->from_signal)
        hook_watchdog_unblock(); /* the call left from inside the signal handler: the signal is still blocked here */
    switch (c->how) {
    case HOOK_CALL_MOVED:
        c->phase = HOOK_PHASE_SUSPENDED;
        hook_count_moved(c->fn, t);
        return HOOK_RUN_MOVED;
    case HOOK_CALL_PARKED:
        c->phase = HOOK_PHASE_SUSPENDED;
        return HOOK_RUN_PARKED;
    case HOOK_CALL_KILLED:
        hook_fiber_forget(&c->fiber);
        call_killed(c);
        break;
    default:
        hook_fiber_forget(&c->fiber);
        break;
    }
    call_end(t, c);
    return HOOK_RUN_FINISHED;
}

void hook_call_allow_park(hook_call_t *c)
{
    c->can_park = 1;
}

void hook_call_allow_move(hook_call_t *c)
{
    c->can_move = 1;
}

size_t hook_call_fetches(hook_call_t *c, hook_fetch_t **fetches)
{
    EDGE_CHECK_OBJ(c, HOOK_CALL_MAGIC);
    *fetches = c->fetches;
    return c->how == HOOK_CALL_PARKED ? c->num_fetches : 0;
}

h2o_mem_pool_t *hook_call_fetch_pool(hook_call_t *c)
{
    return &c->fetch_pool;
}

hook_fn_t *hook_call_fn(const hook_call_t *c)
{
    return c->fn;
}

const hook_event_t *hook_call_event(const hook_call_t *c)
{
    return c->ctx.ev;
}

void hook_call_move_memory(hook_call_t *c, hook_event_t *ev, h2o_mem_pool_t *pool)
{
    EDGE_CHECK_OBJ(c, HOOK_CALL_MAGIC);
    EDGE_ASSERT(c->phase == HOOK_PHASE_SUSPENDED);
    struct edge_ctx *ctx = &c->ctx;
    hook_event_copy(pool, ev, ctx->ev);
    for (int m = 0; m != 2; ++m)
        if (ctx->protected_touched[m]) {
            hook_headers_t copy;
            hook_headers_dup(pool, &copy, &ctx->snapshot[m]);
            ctx->snapshot[m] = copy;
        }
    if (ctx->error != NULL)
        ctx->error = h2o_strdup(pool, ctx->error, SIZE_MAX).base;
    ctx->ev = ev;
    ctx->pool = pool;
}

hook_status_t hook_call_result(const hook_call_t *c, hook_report_t *rep)
{
    EDGE_CHECK_OBJ(c, HOOK_CALL_MAGIC);
    if (rep != NULL)
        *rep = c->rep;
    return c->st;
}

int64_t hook_call_remaining_ms(const hook_call_t *c)
{
    uint64_t now = hook_now_ns();
    return c->deadline_ns > now ? (int64_t)((c->deadline_ns - now + 999999) / 1000000) : 0;
}

/* a suspended call that will never go on: its fiber is dropped and its Lua state abandoned (freed wholesale). An abandoned state
 * leaks its JIT machine code, as after a hard stop: the thread's next states for this hook are interpreted, so it happens once */
static void abandon_suspended(hook_call_t *c)
{
    hook_fiber_forget(&c->fiber);
    size_t peak = hook_lua_state_abandon(c->ls);
    if (peak > c->dead_peak)
        c->dead_peak = peak;
    if (c->ls != NULL)
        c->jit_off = 1;
    c->ls = NULL;
    c->L = NULL;
}

void hook_call_expire(hook_thread_t *t, hook_call_t *c, const char *why)
{
    EDGE_CHECK_OBJ(c, HOOK_CALL_MAGIC);
    hook_fn_t *fn = c->fn;
    const hook_event_t *ev = c->ctx.ev;
    if (c->phase == HOOK_PHASE_SUSPENDED)
        abandon_suspended(c);
    c->phase = HOOK_PHASE_DONE;
    c->st = HOOK_FAILED;
    c->rep.timed_out = 1;
    c->rep.http_status = 503;
    c->rep.error = why;
    uint64_t end = hook_now_ns();
    c->rep.duration_ns = end > c->ctx.start_ns ? end - c->ctx.start_ns : 0;
    log_error("hook %s [%.*s] %s: 503 timeout: %s", fn->name, (int)ev->request_id.len,
              ev->request_id.base ? ev->request_id.base : "", hook_event_type_name(ev->type), why);
    hook_count(fn, t, HOOK_FAILED, &c->rep);
}

void hook_call_free(hook_call_t *c)
{
    if (c == NULL)
        return;
    EDGE_CHECK_OBJ(c, HOOK_CALL_MAGIC);
    hook_thread_t *t = hook_tls_thread;
    if (c->phase == HOOK_PHASE_SUSPENDED)
        abandon_suspended(c);
    hook_thread_slot_t *slot = t != NULL && t == c->home ? hook_thread_find_slot(t, c->fn) : NULL;
    if (slot != NULL) {
        if (c->dead_peak > slot->peak)
            slot->peak = c->dead_peak;
        if (c->jit_off && !slot->jit_off) {
            log_warn("hook %s: a call was stopped hard in compiled code (or abandoned mid-flight); its states on this thread are "
                     "rebuilt with the JIT off (interpreted), so later ones stop softly without leaking the JIT's machine code",
                     c->fn->name);
            slot->jit_off = 1;
        }
    }
    if (c->ls != NULL) {
        if (slot != NULL && slot->num_states < HOOK_SLOT_STATES) {
            slot->states[slot->num_states++] = c->ls; /* the next call here takes it */
        } else {
            size_t peak = hook_lua_state_peak(c->ls);
            if (slot != NULL && peak > slot->peak)
                slot->peak = peak;
            hook_lua_state_free(c->ls);
        }
        c->ls = NULL;
    }
    h2o_mem_clear_pool(&c->fetch_pool);
    hook_ctx_kv_release(&c->ctx); /* the kv snapshot the call read, if it read one */
    c->magic = 0;
    c->phase = HOOK_PHASE_IDLE;
    if (t != NULL && t->num_idle_calls < HOOK_IDLE_CALLS) {
        c->next = t->idle_calls;
        t->idle_calls = c;
        ++t->num_idle_calls;
    } else {
        hook_fiber_destroy(&c->fiber);
        free(c);
    }
}

void hook_call_cache_free(hook_thread_t *t)
{
    while (t->idle_calls != NULL) {
        hook_call_t *c = t->idle_calls;
        t->idle_calls = c->next;
        hook_fiber_destroy(&c->fiber);
        free(c);
    }
    t->num_idle_calls = 0;
}

hook_status_t hook_run(hook_thread_t *t, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool, hook_report_t *rep)
{
    hook_call_t *c = hook_call_new(t, fn, ev, pool);
    hook_call_run(t, c, 0);
    hook_status_t st = hook_call_result(c, rep);
    hook_call_free(c);
    return st;
}

int hook_thread_prepare(hook_thread_t *t, hook_fn_t *fn, char *err, size_t errlen)
{
    if (!fn->is_lua)
        return 0;
    hook_tls_thread = t;
    hook_thread_slot_t *slot = hook_thread_slot(t, fn);
    if (slot->num_states != 0)
        return 0;
    h2o_mem_pool_t pool;
    hook_event_t ev;
    h2o_mem_init_pool(&pool);
    hook_event_init(&ev, HOOK_VIEWER_REQUEST);
    hook_call_t *c = call_init(t, fn, &ev, &pool, 1);
    hook_call_run(t, c, 0);
    int ret = 0;
    if (c->st == HOOK_FAILED) {
        snprintf(err, errlen, "%s", c->ctx.error != NULL ? c->ctx.error : "cannot build the hook's state");
        ret = -1;
    }
    hook_call_free(c);
    h2o_mem_clear_pool(&pool);
    return ret;
}
