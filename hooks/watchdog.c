/* hooks/watchdog.c - the timeout watchdog: a thread that stops Lua hooks past their deadline, softly (debug hook) then hard
 * (siglongjmp). */
#include <errno.h>
#include <stdio.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <lauxlib.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/worker.h"
#include "hooks/internal.h"

/*
 * Protocol. A thread runs a call's fiber for a slice (hook_call_run, call.c): it arms its entry (seq++, move, deadline) before
 * switching in and disarms it after. The watchdog wakes every HOOK_WD_TICK_MS and, for a slice past its deadline:
 *   move (the deadline is an inline budget): signals the thread every tick until the call has left; the handler switches
 *            from the fiber back to the thread's own context when the interrupted code is JIT machine code or LuaJIT
 *            itself (pc_safe), else asks the allocator or host function it is in to do it on its way out (in_host), or
 *            sets a Lua debug hook that does it at the next instruction the interpreter runs. The suspended call goes on
 *            elsewhere: resumed by another thread, the handler returns there (rt_sigreturn restores the interrupted
 *            registers; fs, the thread pointer, is the new thread's) and the hook continues where it was.
 *   phase 1 (the call's timeout): signals the thread, whose handler sets a Lua debug hook (count 1, call, return) that
 *            raises "timed out": this stops code running in the interpreter, and a trace as soon as it exits to the
 *            interpreter; the error unwinds normally and the state stays usable.
 *   phase 2: HOOK_WD_GRACE_MS later, if the call still runs (a compiled loop never exits its trace, since Debian's
 *            LuaJIT is built without LUAJIT_ENABLE_CHECKHOOK), signals again every tick; the handler leaves the fiber for
 *            good, but only when the interrupted code is JIT machine code or LuaJIT itself - never inside the allocator
 *            or a host function (in_host, which then leaves on its way out), libc, libgcc's unwinder, the sanitizer
 *            runtime or any other library, whose locks or state we could leave broken. The abandoned lua_State is freed
 *            wholesale by its counting allocator.
 * Threads name their slice by seq, so a late signal never hits the next one. Under ThreadSanitizer the handler never
 * switches (signals are delivered at the runtime's own points, never in JIT code): calls move and stop at host functions and
 * debug hooks only.
 */
#define HOOK_WD_TICK_MS 5
#define HOOK_WD_GRACE_MS 50

__thread hook_thread_t *hook_tls_thread;

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static hook_thread_t *wd_threads[HOOK_MAX_THREADS];
static int wd_count, wd_running, wd_stop; /* wd_stop is never set: kept for a future shutdown */
static pthread_t wd_tid;
static int wd_signal;
static int wd_handler_installed;

/* executable ranges of loaded objects: where a hard stop may (LuaJIT) or may not (anything else) jump from */
typedef struct code_range {
    uintptr_t lo, hi;
    int allowed;
} code_range_t;
#define MAX_RANGES 512
static code_range_t ranges[2][MAX_RANGES];
static _Atomic int ranges_count[2];
static _Atomic int ranges_cur;

/*
 * The clock of hook_run (two reads per call). With an invariant TSC (cpuid 0x80000007 EDX bit 8), monotonic ns are
 * derived from rdtsc (~12 ns here, against ~33 ns for clock_gettime in a VM): calibrated over 2 ms when the first
 * thread registers, then refined by the watchdog thread against CLOCK_MONOTONIC over an ever longer baseline.
 * Otherwise, and on other architectures, clock_gettime. Only differences of this clock are used (durations, deadlines).
 */
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
static _Atomic int clk_tsc; /* 1: rdtsc-derived */
static uint64_t clk_tsc_base, clk_mono_base;
static _Atomic uint64_t clk_mult; /* ns per tick, 32.32 fixed point */

static void clock_calibrate(void)
{
    unsigned a, b, c, d;
    if (atomic_load(&clk_tsc) || getenv("EDGEHOOK_NO_TSC") != NULL || !__get_cpuid(0x80000007, &a, &b, &c, &d) ||
        (d & (1u << 8)) == 0)
        return;
    uint64_t m0 = edge_mono_ns(), t0 = __rdtsc(), m1, t1;
    do {
        m1 = edge_mono_ns();
        t1 = __rdtsc();
    } while (m1 - m0 < 2000000);
    if (t1 <= t0)
        return;
    clk_tsc_base = t0;
    clk_mono_base = m0;
    atomic_store(&clk_mult, (uint64_t)(((unsigned __int128)(m1 - m0) << 32) / (t1 - t0)));
    atomic_store(&clk_tsc, 1);
}

static void clock_refine(void)
{
    if (!atomic_load(&clk_tsc))
        return;
    uint64_t m = edge_mono_ns(), t = __rdtsc();
    if (m - clk_mono_base > 1000000000u && t > clk_tsc_base)
        atomic_store(&clk_mult, (uint64_t)(((unsigned __int128)(m - clk_mono_base) << 32) / (t - clk_tsc_base)));
}

uint64_t hook_now_ns(void)
{
    /* acquire: pairs with clock_calibrate's store, after which clk_tsc_base and clk_mono_base (plain variables) are read */
    if (atomic_load_explicit(&clk_tsc, memory_order_acquire)) {
        uint64_t d = __rdtsc() - clk_tsc_base;
        return clk_mono_base + (uint64_t)(((unsigned __int128)d * atomic_load_explicit(&clk_mult, memory_order_relaxed)) >> 32);
    }
    return edge_mono_ns();
}
#else
static void clock_calibrate(void)
{
}

static void clock_refine(void)
{
}

uint64_t hook_now_ns(void)
{
    return edge_mono_ns();
}
#endif

static int on_phdr(struct dl_phdr_info *info, size_t size, void *data)
{
    int *n = data;
    int buf = 1 - atomic_load(&ranges_cur);
    int allowed = info->dlpi_name != NULL && strstr(info->dlpi_name, "libluajit") != NULL;
    for (int i = 0; i != info->dlpi_phnum && *n < MAX_RANGES; ++i) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_X) == 0)
            continue;
        ranges[buf][*n] = (code_range_t){info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz, allowed};
        ++*n;
    }
    return 0;
}

static void refresh_ranges(void)
{
    int n = 0;
    dl_iterate_phdr(on_phdr, &n);
    int buf = 1 - atomic_load(&ranges_cur);
    atomic_store(&ranges_count[buf], n);
    atomic_store(&ranges_cur, buf);
}

static int pc_safe(void *ucv)
{
    ucontext_t *uc = ucv;
    uintptr_t pc;
#if defined(__x86_64__)
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pc = (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0; /* unknown architecture: soft stops only */
#endif
    int cur = atomic_load(&ranges_cur), n = atomic_load(&ranges_count[cur]);
    for (int i = 0; i != n; ++i)
        if (pc >= ranges[cur][i].lo && pc < ranges[cur][i].hi)
            return ranges[cur][i].allowed;
    return 1; /* in no loaded object: JIT machine code */
}

#ifdef EDGE_TSAN
#define SWITCH_IN_HANDLER 0
#else
#define SWITCH_IN_HANDLER 1
#endif

static void arm_debug_hook(hook_call_t *c)
{
    if (!c->hook_armed && c->L != NULL) {
        c->hook_armed = 1;
        lua_sethook(c->L, hook_call_debug_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    }
}

/* errno of the thread the handler returns on: __errno_location is `const` to the compiler, which may reuse the old thread's */
__attribute__((noipa)) static void set_errno(int e)
{
    errno = e;
}

/* leaves the fiber from inside the handler; for a move, returns on the thread that resumed the call */
__attribute__((noipa)) static void switch_out_of_handler(hook_call_t *c, ucontext_t *uc, int how)
{
    c->from_signal = 1;
    hook_call_switch_out(c, how);
    /* resumed: rt_sigreturn is to restore this thread's signal mask and alternate stack, not the old thread's */
    uc->uc_sigmask = c->resumer_mask;
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0)
        uc->uc_stack = ss;
    c->from_signal = 0;
}

static void on_signal(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    int saved = errno;
    hook_thread_t *t = hook_tls_thread;
    hook_call_t *c = t != NULL ? t->cur : NULL;
    if (c != NULL && c->in_fiber && c->in_lua && atomic_load(&t->kill_seq) == atomic_load(&t->seq)) {
        int phase = atomic_load(&t->kill_phase);
        if (phase == 3) {
            /* move: the inline budget passed */
            c->pending = HOOK_PENDING_MOVE;
            if (!c->in_host && SWITCH_IN_HANDLER && pc_safe(ucv)) {
                c->pending = HOOK_PENDING_NONE;
                switch_out_of_handler(c, ucv, HOOK_CALL_MOVED);
                set_errno(saved);
                return;
            }
            if (!c->in_host)
                arm_debug_hook(c);
        } else {
            c->timed_out = 1;
            arm_debug_hook(c);
            if (phase >= 2) {
                if (c->in_host)
                    c->pending = HOOK_PENDING_KILL;
                else if (SWITCH_IN_HANDLER && pc_safe(ucv))
                    switch_out_of_handler(c, ucv, HOOK_CALL_KILLED); /* never returns */
            }
        }
    }
    set_errno(saved);
}

static void *on_watchdog(void *arg)
{
    (void)arg;
    edge_thread_name("hook-watchdog");
    pthread_mutex_lock(&wd_lock);
    while (!wd_stop) {
        uint64_t now = hook_now_ns();
        for (size_t i = 0; i != HOOK_MAX_THREADS; ++i) {
            hook_thread_t *t = wd_threads[i];
            if (t == NULL)
                continue;
            uint32_t seq = atomic_load(&t->seq);
            uint64_t deadline = atomic_load(&t->deadline_ns);
            if (deadline == 0 || now < deadline || atomic_load(&t->seq) != seq)
                continue;
            int move = atomic_load(&t->move);
            if (atomic_load(&t->seq) != seq)
                continue;
            if (atomic_load(&t->kill_seq) != seq) {
                atomic_store(&t->kill_phase, move ? 3 : 1);
                atomic_store(&t->kill_seq, seq);
            } else if (atomic_load(&t->kill_phase) == 1 && now >= deadline + atomic_load(&t->grace_ns)) {
                atomic_store(&t->kill_phase, 2);
            } else if (atomic_load(&t->kill_phase) == 1) {
                continue;
            }
            pthread_kill(t->tid, wd_signal);
        }
        if (wd_count == 0) {
            pthread_cond_wait(&wd_cond, &wd_lock); /* idle until a thread registers */
            continue;
        }
        clock_refine();
        struct timespec ts = edge_deadline(CLOCK_MONOTONIC, HOOK_WD_TICK_MS);
        pthread_cond_timedwait(&wd_cond, &wd_lock, &ts);
    }
    pthread_mutex_unlock(&wd_lock);
    return NULL;
}

int hook_watchdog_register(hook_thread_t *t)
{
    int ret = -1;
    pthread_mutex_lock(&wd_lock);
    if (!wd_handler_installed) {
        wd_signal = SIGRTMIN + 4;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(wd_signal, &sa, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&wd_cond, &ca);
        pthread_condattr_destroy(&ca);
        clock_calibrate();
        wd_handler_installed = 1;
    }
    refresh_ranges();
    for (int i = 0; i != HOOK_MAX_THREADS; ++i) {
        if (wd_threads[i] == NULL) {
            wd_threads[i] = t;
            t->index = i;
            atomic_store(&t->grace_ns, (uint64_t)HOOK_WD_GRACE_MS * 1000000u);
            ++wd_count;
            ret = 0;
            break;
        }
    }
    if (ret == 0 && !wd_running) {
        /* started once, never stopped: it sleeps while no thread is registered */
        sigset_t all, old;
        pthread_attr_t attr;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&wd_tid, &attr, on_watchdog, NULL) == 0)
            wd_running = 1;
        else
            log_error("hooks: cannot start the watchdog thread: Lua hooks have no timeout");
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
    return ret;
}

void hook_watchdog_unregister(hook_thread_t *t)
{
    pthread_mutex_lock(&wd_lock);
    if (wd_threads[t->index] == t) {
        wd_threads[t->index] = NULL;
        --wd_count;
    }
    pthread_mutex_unlock(&wd_lock);
}

void hook_watchdog_unblock(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, wd_signal);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}
