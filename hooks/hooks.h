/* hooks/hooks.h - the hooks runtime the request pipeline calls: loaded hook versions, per-thread runtimes, hook_run, counters. */
#ifndef EDGE_HOOKS_HOOKS_H
#define EDGE_HOOKS_HOOKS_H

#include <stddef.h>
#include <stdint.h>
#include "conf/config.h"
#include "hooks/event.h"

/**
 * One loaded, immutable version of a hook: a Lua file (compiled once at load into bytecode; each worker thread's state loads
 * that bytecode, or takes a state built ahead by hook_fn_prebuild) or a
 * native plugin (dlopen'ed, its init run once). Identified by its name and the SHA-256 of the file's content.
 * Refcounted and shareable across threads; the lead's versions/aliases layer holds these as versions.
 */
typedef struct hook_fn hook_fn_t;

/**
 * Loads the hook `conf` describes: reads the file, compiles a Lua hook once to validate it (syntax errors, no handler) or
 * dlopens a plugin, checks its ABI (another major, a newer minor, a too-small descriptor are refused) and runs its init
 * with conf->config_json. Returns a hook with one reference, or NULL with `FILE: reason` in err. Any thread; not on the
 * hot path (it reads files).
 */
hook_fn_t *hook_fn_load(const conf_hook_t *conf, char *err, size_t errlen);
/**
 * Builds n ready Lua states of fn on the calling thread (the control thread, after a load), once per version: the first call of
 * fn on each of n threads takes one instead of building its own, so a worker loop never compiles or runs a hook's top level
 * when a new version goes live. A thread without a spare builds its state from the bytecode compiled at load (never from
 * source). No-op for native hooks and on later calls. Not on the hot path.
 */
void hook_fn_prebuild(hook_fn_t *fn, unsigned n);
/** adds a reference (any thread) */
void hook_fn_addref(hook_fn_t *fn);
/**
 * Drops a reference (any thread). When the last one the owners hold goes, the worker threads drop their compiled copies
 * at their next hook_thread_sweep (or hook_thread_free), and the version is unloaded (plugin fini, dlclose) after that.
 */
void hook_fn_release(hook_fn_t *fn);
/** the hook's name (from the config); valid while a reference is held */
const char *hook_fn_name(const hook_fn_t *fn);
/** the file it was loaded from */
const char *hook_fn_path(const hook_fn_t *fn);
/** hex SHA-256 of the file's content (64 chars) */
const char *hook_fn_hash(const hook_fn_t *fn);
/** 1 for a Lua hook, 0 for a native plugin */
int hook_fn_is_lua(const hook_fn_t *fn);
/**
 * 1 if the hook runs at this event type: a plugin declares its events; a Lua file defining handler() runs at all four,
 * one defining only trigger-named functions (viewer_request, origin_request, ...) at those. hook_run on an event the hook
 * does not handle is a no-op (HOOK_CONTINUE); a binding check at config time can refuse it instead. HOOK_INVOKE (any JSON): a
 * Lua file defining handler(), a plugin with on_invoke (ABI 1.4).
 */
int hook_fn_handles(const hook_fn_t *fn, int type);
/** the wall-clock budget of a call at this event type, in ms (conf timeout, or 5 s viewer / 30 s origin and HOOK_INVOKE) */
int64_t hook_fn_timeout_ms(const hook_fn_t *fn, int type);
/** the largest payload and result of a generic invocation (HOOK_INVOKE), as Lambda's synchronous invoke: 6 MB */
#define HOOK_INVOKE_PAYLOAD_MAX (6u << 20)
#define HOOK_INVOKE_RESULT_MAX (6u << 20)
/** the memory limit of the hook's Lua states, bytes (conf memory_limit, default 64 MB; what REPORT's Memory Size says) */
uint64_t hook_fn_memory_limit(const hook_fn_t *fn);
/** 1 if the hook wants the request body (include_body) */
int hook_fn_include_body(const hook_fn_t *fn);
/** origin-response: the largest origin body read whole before the hook runs (conf origin_body; 0: never) */
uint64_t hook_fn_origin_body(const hook_fn_t *fn);

/**
 * The runtime of one worker thread: the Lua states (one per hook version used on the thread, created on first use,
 * each with its own memory cap) and the thread's registration with the watchdog that enforces timeouts.
 * Create it on the worker thread that uses it; use and free it only there. At most HOOK_MAX_THREADS at once.
 */
typedef struct hook_thread hook_thread_t;
#define HOOK_MAX_THREADS 128

/**
 * Creates the calling thread's runtime (starts the shared watchdog thread on first use); NULL if too many threads.
 * The watchdog stops runaway Lua hooks with SIGRTMIN+4 (handler installed on first use; this call unblocks it on the
 * calling thread): do not block, ignore or take over that signal.
 */
hook_thread_t *hook_thread_new(void);
/** frees it (closes its Lua states, drops its references); on its own thread */
void hook_thread_free(hook_thread_t *t);
/**
 * Compiles fn on this thread now (builds its Lua state and runs the file's top level), so that the first request does not
 * pay for it, e.g. right after a (re)load. 0, or -1 with the reason in err. No-op for native hooks.
 */
int hook_thread_prepare(hook_thread_t *t, hook_fn_t *fn, char *err, size_t errlen);
/** drops compiled copies of hook versions nobody holds any more; cheap, call it e.g. once per event-loop iteration */
void hook_thread_sweep(hook_thread_t *t);

typedef enum hook_status {
    HOOK_CONTINUE = 0, /* go on: ev->request (request events) or ev->response (response events) was updated in place */
    HOOK_RESPOND = 1,  /* request events: answer with ev->response, generated by the hook (cache it after origin-request) */
    HOOK_INVALID = 2,  /* the hook's output broke a Lambda@Edge rule or was malformed: answer 502 */
    HOOK_FAILED = 3    /* exception, error, timeout or memory cap: answer 503 */
} hook_status_t;

/** what hook_run reports about a call, for the access log and `edgehook invoke` (all optional to read) */
typedef struct hook_report {
    const char *name;     /* hook_fn_name */
    const char *hash;     /* hook_fn_hash */
    uint64_t duration_ns; /* wall clock of the call, validation included */
    int http_status;      /* 502 / 503 for INVALID / FAILED, else 0 */
    int timed_out;        /* the call ran past its budget */
    int out_of_memory;    /* the Lua state hit its memory cap (the state is rebuilt) */
    const char *error;    /* why INVALID or FAILED (in the pool), else NULL; already written to the error log */
    /* what Lambda's REPORT line gives: */
    uint64_t init_ns;  /* a cold start: the Lua state was built (top level run) for this call, for so long; 0: warm */
    size_t max_memory; /* Lua: the peak of the state's allocator during the call (its build included on a cold start); native:
                          the bytes the call took from host->alloc (what the plugin mallocs itself is not seen) */
} hook_report_t;

/**
 * Runs fn for event ev on the calling worker thread (t must be this thread's). Synchronous (a hook_call run to its end); returns
 * within the hook's timeout plus a short grace even if a Lua hook loops forever (the Lua state is then discarded and rebuilt), and
 * never crashes on a Lua error, a garbage result, or a plugin returning garbage (a plugin that crashes is out of scope). Memory for
 * every change comes from `pool` (the request's); on INVALID or FAILED ev may be partly modified: discard it and answer
 * rep->http_status. Errors are logged with the hook's name, the request id and the Lua traceback or plugin message. Counters of fn
 * are updated. `rep` may be NULL.
 */
hook_status_t hook_run(hook_thread_t *t, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool, hook_report_t *rep);

/**
 * One call that may outgrow the event loop: hook_call_run runs it on this thread for at most budget_ms, and a Lua call still
 * running then is suspended where it is (not stopped: its fiber, C stack and Lua state are kept) and moved — hook_call_run
 * returns 0, and another thread continues it with hook_call_run, exactly once, from where it was, under the rest of its timeout
 * (context.getRemainingTimeInMillis counts down to the deadline set when it started). Native plugins always run to their end.
 *
 *     hook_call_t *c = hook_call_new(t, fn, ev, pool);
 *     if (!hook_call_run(t, c, 20))          // suspended: hand c to another thread, which calls
 *         hook_call_run(other, c, 0);        // ... on its own runtime; 1: finished
 *     st = hook_call_result(c, &rep);        // the outcome (rep's strings in pool)
 *     hook_call_free(c);                     // back on the starting thread: its Lua state is reused there
 *
 * ev and pool must stay valid and untouched by others until the call has finished. One thread at a time runs a call.
 */
typedef struct hook_call hook_call_t;
/** a call of fn on ev (memory from pool) */
hook_call_t *hook_call_new(hook_thread_t *t, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool);
/** what hook_call_run did */
typedef enum hook_run {
    HOOK_RUN_MOVED = 0,    /* budget_ms passed: the call is suspended, for another thread to continue */
    HOOK_RUN_FINISHED = 1, /* hook_call_result has the outcome */
    HOOK_RUN_PARKED = 2    /* the hook waits for its fetches (hook_call_fetches): answer them, then continue it (any thread) */
} hook_run_t;
/** runs c on this thread (t is this thread's runtime) until it finishes, parks, or (with budget_ms != 0) until budget_ms passed */
hook_run_t hook_call_run(hook_thread_t *t, hook_call_t *c, uint64_t budget_ms);

/**
 * A request a hook made with edge.fetch (or edge.fetch_all: several at once). Whoever runs a call that may park says so with
 * hook_call_allow_park; elsewhere (edgehook invoke) fetches fail with "edge.fetch is not available here".
 */
typedef struct hook_fetch {
    /* the request, as the hook gave it */
    h2o_iovec_t url, method, body;
    hook_headers_t headers;
    int64_t timeout_ms; /* the hook's timeout_ms, or 0 (the rest of the call's time) */
    /* the answer, filled by the runner before it continues the call (memory from hook_call_fetch_pool) */
    int status;                  /* the HTTP status; 0 when the fetch failed */
    const char *error;           /* why it failed (denied, timed out, too large, ...) */
    hook_headers_t resp_headers; /* names lower-case */
    h2o_iovec_t resp_body;
    int denied; /* failed because fetch_allow does not permit it, or not an http(s) URL */
    /* the runtime's: a native plugin's completion callback */
    void *plugin_done, *plugin_arg;
} hook_fetch_t;
/** lets c park on fetches (the caller answers them) */
void hook_call_allow_park(hook_call_t *c);
/** lets a native call move itself on (host->offload: hook_call_run returns HOOK_RUN_MOVED): the caller continues it elsewhere */
void hook_call_allow_move(hook_call_t *c);
/** the fetches a parked call waits for */
size_t hook_call_fetches(hook_call_t *c, hook_fetch_t **fetches);
/**
 * The caller of a parked call is gone: the fetches it waits for fail ("the request ended"), and every later one fails at once
 * without parking. Continue the call then (an offload thread) so that it ends and its Lua state goes back to its thread:
 * freeing a call mid-flight would leak the machine code the JIT made for its state.
 */
void hook_call_abort_fetches(hook_call_t *c);
/** the memory answers go in: valid until the hook has read them */
h2o_mem_pool_t *hook_call_fetch_pool(hook_call_t *c);
/** the hook the call runs */
hook_fn_t *hook_call_fn(const hook_call_t *c);
/** the event c runs on (its invoke payload, for a generic invocation) */
const hook_event_t *hook_call_event(const hook_call_t *c);
/** counts a fetch of fn (on the calling thread's counters): its result is `failed` or not */
void hook_fn_count_fetch(hook_fn_t *fn, int failed);
/** what edge.fetch may reach (conf_hook_t.fetch_allow); valid while a reference is held */
const conf_namelist_t *hook_fn_fetch_allow(const hook_fn_t *fn);
/**
 * A suspended call goes on with memory of its own: *ev becomes a deep copy (in pool) of the event as the call has left it so far
 * (with what the runtime keeps of it), and the call uses ev and pool from now on, so that the caller's may go away. Only the
 * bytes an instruction interrupted by the move was reading (between a host function's return and the copy of what it
 * returned into a Lua string) are still the caller's: keep them until the call has been resumed.
 */
void hook_call_move_memory(hook_call_t *c, hook_event_t *ev, h2o_mem_pool_t *pool);
/** the outcome of a finished call (as hook_run's); rep may be NULL */
hook_status_t hook_call_result(const hook_call_t *c, hook_report_t *rep);
/** ms left before a call's timeout (0 when it has passed) */
int64_t hook_call_remaining_ms(const hook_call_t *c);
/**
 * Ends a suspended call as a timeout without running it further (its deadline passed while it waited for a thread): its Lua
 * state is discarded, and it finishes with HOOK_FAILED, 503 and rep->timed_out, logged with `why` and counted like a timeout.
 */
void hook_call_expire(hook_thread_t *t, hook_call_t *c, const char *why);
/** frees a call that finished (or never ran, or was suspended: it is abandoned), on a thread with a runtime; when that is the
 * thread that started it, the call's Lua state goes back to it for the next calls */
void hook_call_free(hook_call_t *c);

/** fixed duration histogram buckets (upper bounds, seconds), as Prometheus `le`; the last bucket is +Inf */
#define HOOK_HIST_BUCKETS 14
extern const double hook_hist_bounds[HOOK_HIST_BUCKETS - 1];

/** counters of one hook version, summed over all threads */
typedef struct hook_stats {
    uint64_t invocations;
    uint64_t errors;   /* every 502 and 503 */
    uint64_t invalid;  /* 502 */
    uint64_t timeouts; /* 503 by timeout (also counted in errors) */
    uint64_t oom;      /* 503 by memory cap (also counted in errors) */
    uint64_t moved;    /* calls suspended past their inline budget and continued on another thread */
    uint64_t fetches, fetch_errors; /* edge.fetch requests, and those that failed (no HTTP answer) */
    uint64_t duration_ns_sum;
    uint64_t buckets[HOOK_HIST_BUCKETS]; /* not cumulative: buckets[i] counts bounds[i-1] < d <= bounds[i] */
} hook_stats_t;

/** reads fn's counters; any thread, lock-free (each worker thread writes only its own slot) */
void hook_fn_stats(const hook_fn_t *fn, hook_stats_t *out);
/**
 * Appends fn's counters in Prometheus text format (edgehook_hook_invocations_total{hook="NAME",hash="..."} ..., errors,
 * timeouts, and the edgehook_hook_duration_seconds histogram) to buf; returns the length it needed (like snprintf).
 * `with_help` adds the # HELP / # TYPE lines (once per scrape).
 */
size_t hook_fn_metrics(const hook_fn_t *fn, char *buf, size_t len, int with_help);
/**
 * Like hook_fn_metrics for the `num` versions in fns, with each family's samples together under one # HELP / # TYPE group (what
 * the text format requires); two instances of one version (name and hash) give one set of samples. Nothing when num is 0.
 */
size_t hook_fns_metrics(const hook_fn_t *const *fns, size_t num, char *buf, size_t len);

/**
 * `edgehook invoke --hook FILE --event EVENT.json [--type TYPE] [--config JSON] [--timeout MS] [--memory BYTES]
 * [--include-body]`: runs one hook on a Lambda@Edge test event (or any other JSON: a generic invocation), prints the result JSON
 * on stdout and the START/END/REPORT lines on stderr; exit 0, 1 (the hook failed: 502/503) or 2 (usage, unreadable event, load
 * error). With `--sweep-memory 16,32,64MB [--runs N]`: runs it N times (default 20) at each memory limit and prints a table
 * (duration median and p90, max memory used, init, errors); exit 1 if any run failed. argv[0] = "invoke".
 */
int hooks_invoke_main(int argc, char **argv);

#endif
