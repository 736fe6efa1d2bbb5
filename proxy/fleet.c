/* proxy/fleet.c - fleet state on etcd: publish local changes, watch the prefix, apply remote ones on the control thread,
 * catch up from the last applied revision, purge acks from the live nodes (see fleet.h). Two threads: `fleet-watch` (the
 * watch stream and everything it applies) and `fleet-lease` (the node's lease, purge-ack deadlines). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "proxy/fleet.h"
#include "proxy/admin.h"
#include "proxy/control.h"
#include "proxy/etcd.h"
#include "proxy/fleetwire.h"
#include "proxy/handler.h"
#include "proxy/server.h"
#include "base/log.h"
#include "base/str.h"
#include "base/worker.h"
#include "hooks/json.h"
#include "hooks/versions.h"

typedef struct waiter {
    struct waiter *next;
    char id[200];
    char **nodes; /* the live nodes (but this one) when the purge was written */
    int *state;   /* per node: 0 waiting, 1 acked, 2 left the fleet meanwhile */
    size_t n;
    long long t0, deadline; /* ms, monotonic */
    fleet_purge_done_fn done;
    void *arg;
    int written; /* the purge's key is in etcd: until then only fleet_publish_purge may take it out of the list */
} waiter_t;

static struct {
    _Atomic int enabled;
    etcd_t *etcd;
    char *prefix, *node, *rev_path;
    uint64_t ack_timeout_ms, lease_ttl_ms;
    pthread_t watch_tid, lease_tid;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stopping;     /* under mu */
    long long lease;  /* under mu: the node's lease, 0 when none */
    char **live;      /* under mu: the live nodes */
    size_t num_live;
    waiter_t *waiters; /* under mu */
    unsigned long seq; /* under mu */
} F = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static _Atomic long long st_revision;
static _Atomic int st_connected;
static _Atomic uint64_t st_applied, st_apply_failed, st_published, st_publish_failed, st_purges, st_purges_complete,
    st_purges_timed_out, st_resyncs, st_ack_last_ms, st_live;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fleet_enabled(void)
{
    return F.enabled;
}

static int stopping(void)
{
    pthread_mutex_lock(&F.mu);
    int s = F.stopping;
    pthread_mutex_unlock(&F.mu);
    return s;
}

/* waits ms or until stopping; returns stopping */
static int pause_ms(long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&F.mu);
    while (!F.stopping && pthread_cond_timedwait(&F.cond, &F.mu, &ts) != ETIMEDOUT)
        ;
    int s = F.stopping;
    pthread_mutex_unlock(&F.mu);
    return s;
}

/* ---- etcd calls ------------------------------------------------------------------------------------------------------------ */

static void key_buf(hook_buf_t *b, const char *a, const char *c, size_t clen)
{
    hook_buf_appendf(b, "%s/%s", F.prefix, a);
    if (c != NULL)
        hook_buf_append(b, c, clen);
}

/* the JSON of a key range: every key starting with PREFIX/rel */
static void range_json(hook_buf_t *b, const char *rel, const char *extra)
{
    hook_buf_t k = {NULL, 0, 0};
    key_buf(&k, rel, NULL, 0);
    hook_buf_append(b, "{\"key\":", 7);
    fleet_b64(b, k.base, k.len);
    k.base[k.len - 1]++; /* the end of the range: the prefix with its last byte + 1 */
    hook_buf_append(b, ",\"range_end\":", 13);
    fleet_b64(b, k.base, k.len);
    hook_buf_appendf(b, "%s}", extra != NULL ? extra : "");
    hook_buf_free(&k);
}

static int put(const char *key, size_t klen, const char *val, size_t vlen, long long lease, char *err, size_t errlen)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_json_t *out;
    hook_buf_append(&b, "{\"key\":", 7);
    fleet_b64(&b, key, klen);
    hook_buf_append(&b, ",\"value\":", 9);
    fleet_b64(&b, val, vlen);
    if (lease != 0)
        hook_buf_appendf(&b, ",\"lease\":\"%lld\"", lease);
    hook_buf_append(&b, "}", 1);
    int r = etcd_call(F.etcd, "/v3/kv/put", b.base, b.len, &out, err, errlen);
    hook_buf_free(&b);
    hook_json_free(r == 0 ? out : NULL);
    return r;
}

static int delete_range(const char *rel, int prefix, char *err, size_t errlen)
{
    hook_buf_t b = {NULL, 0, 0}, k = {NULL, 0, 0};
    hook_json_t *out;
    if (prefix) {
        range_json(&b, rel, NULL);
    } else {
        key_buf(&k, rel, NULL, 0);
        hook_buf_append(&b, "{\"key\":", 7);
        fleet_b64(&b, k.base, k.len);
        hook_buf_append(&b, "}", 1);
    }
    int r = etcd_call(F.etcd, "/v3/kv/deleterange", b.base, b.len, &out, err, errlen);
    hook_buf_free(&b);
    hook_buf_free(&k);
    hook_json_free(r == 0 ? out : NULL);
    return r;
}

/* ---- the live nodes -------------------------------------------------------------------------------------------------------- */

/* under mu */
static void live_set(const char *node, int present)
{
    size_t i;
    for (i = 0; i != F.num_live && strcmp(F.live[i], node) != 0; ++i)
        ;
    if (present && i == F.num_live) {
        char **n = realloc(F.live, (F.num_live + 1) * sizeof(char *));
        if (n == NULL || (n[F.num_live] = strdup(node)) == NULL)
            abort();
        F.live = n;
        ++F.num_live;
    } else if (!present && i != F.num_live) {
        free(F.live[i]);
        F.live[i] = F.live[--F.num_live];
        /* a purge does not wait for a node that left */
        for (waiter_t *w = F.waiters; w != NULL; w = w->next)
            for (size_t k = 0; k != w->n; ++k)
                if (w->state[k] == 0 && strcmp(w->nodes[k], node) == 0)
                    w->state[k] = 2;
    }
    atomic_store(&st_live, F.num_live);
}

static void live_clear(void)
{
    for (size_t i = 0; i != F.num_live; ++i)
        free(F.live[i]);
    free(F.live);
    F.live = NULL;
    F.num_live = 0;
}

/* ---- purge waiters --------------------------------------------------------------------------------------------------------- */

static void waiter_free(waiter_t *w)
{
    for (size_t i = 0; i != w->n; ++i)
        free(w->nodes[i]);
    free(w->nodes);
    free(w->state);
    free(w);
}

/* under mu: 1 when no node is still awaited */
static int waiter_complete(const waiter_t *w)
{
    for (size_t i = 0; i != w->n; ++i)
        if (w->state[i] == 0)
            return 0;
    return 1;
}

/* unlinked already: answers and forgets the purge's keys */
static void waiter_finish(waiter_t *w)
{
    hook_buf_t b = {NULL, 0, 0};
    long long ms = now_ms() - w->t0;
    int complete = 1;
    hook_buf_append(&b, "\"fleet\":{\"id\":", 14);
    hook_buf_json_string(&b, w->id, strlen(w->id));
    hook_buf_append(&b, ",\"acked\":[", 10);
    hook_buf_json_string(&b, F.node, strlen(F.node));
    for (size_t i = 0; i != w->n; ++i)
        if (w->state[i] == 1) {
            hook_buf_append(&b, ",", 1);
            hook_buf_json_string(&b, w->nodes[i], strlen(w->nodes[i]));
        }
    for (int want = 0; want <= 2; want += 2) {
        int first = 1;
        hook_buf_appendf(&b, want == 0 ? "],\"stragglers\":[" : "],\"left\":[");
        for (size_t i = 0; i != w->n; ++i)
            if (w->state[i] == want) {
                if (!first)
                    hook_buf_append(&b, ",", 1);
                first = 0;
                hook_buf_json_string(&b, w->nodes[i], strlen(w->nodes[i]));
                if (want == 0)
                    complete = 0;
            }
    }
    hook_buf_appendf(&b, "],\"complete\":%s,\"ms\":%lld}", complete ? "true" : "false", ms);
    if (complete) {
        atomic_fetch_add(&st_purges_complete, 1);
        atomic_store(&st_ack_last_ms, (uint64_t)ms);
    } else {
        atomic_fetch_add(&st_purges_timed_out, 1);
        log_warn("fleet: purge %s: no ack within %" PRIu64 " ms from %.*s", w->id, F.ack_timeout_ms, (int)b.len, b.base);
    }
    char err[512], rel[300];
    w->done(w->arg, b.base);
    /* the purge is done: its keys go (a node that was down still finds it in the history) */
    snprintf(rel, sizeof(rel), "purge/%s", w->id);
    if (delete_range(rel, 0, err, sizeof(err)) != 0)
        log_debug("fleet: purge %s: cannot delete its key: %s", w->id, err);
    snprintf(rel, sizeof(rel), "ack/%s/", w->id);
    if (delete_range(rel, 1, err, sizeof(err)) != 0)
        log_debug("fleet: purge %s: cannot delete its acks: %s", w->id, err);
    waiter_free(w);
}

/* takes out of the list the waiters that are complete (or past their deadline when `now` is not 0) */
static void waiters_reap(long long now)
{
    waiter_t *done = NULL, **pp;
    pthread_mutex_lock(&F.mu);
    for (pp = &F.waiters; *pp != NULL;) {
        waiter_t *w = *pp;
        if (w->written && (waiter_complete(w) || (now != 0 && now >= w->deadline))) {
            *pp = w->next;
            w->next = done;
            done = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&F.mu);
    while (done != NULL) {
        waiter_t *w = done;
        done = w->next;
        waiter_finish(w);
    }
}

static void ack_seen(const char *id, size_t idlen, const char *node)
{
    pthread_mutex_lock(&F.mu);
    for (waiter_t *w = F.waiters; w != NULL; w = w->next)
        if (strlen(w->id) == idlen && memcmp(w->id, id, idlen) == 0)
            for (size_t i = 0; i != w->n; ++i)
                if (strcmp(w->nodes[i], node) == 0 && w->state[i] == 0)
                    w->state[i] = 1;
    pthread_mutex_unlock(&F.mu);
    waiters_reap(0);
}

/* ---- applying on the control thread ---------------------------------------------------------------------------------------- */

enum { APPLY_PURGE, APPLY_ALIAS, APPLY_KV, APPLY_VERSION, APPLY_LATEST };

typedef struct apply_job {
    int kind;
    /* purge */
    cache_purge_kind_t pkind;
    h2o_iovec_t parg;
    int soft;
    /* alias: n 0 removes it */
    const char *hook, *alias, *key;
    unsigned versions[2];
    double weights[2];
    size_t n;
    char sha256[2][65]; /* the code of each version on the node that wrote it ("": not given) */
    /* kv */
    const char *store;
    kv_op_t *ops;
    size_t nops;
    /* version: hook, number, record, code */
    unsigned number;
    const hook_json_t *record;
    const char *code;
    size_t code_len;
    /* outcome */
    int result, changed, finished;
    char err[1024];
    pthread_mutex_t mu;
    pthread_cond_t cond;
} apply_job_t;

/* the committed target of an alias: 1 with versions, weights and key filled, 0 absent */
static int alias_current(hook_json_t *all, const char *hook, const char *alias, const hook_json_t **versions, const char **key)
{
    const hook_json_t *a = hook_json_get(hook_json_get(hook_json_get(hook_json_get(all, "hooks"), hook), "aliases"), alias);
    if (a == NULL)
        return 0;
    *versions = hook_json_get(a, "versions");
    *key = hook_json_string(hook_json_get(a, "key"), NULL);
    return *versions != NULL && (*versions)->type == HOOK_JSON_OBJECT;
}

/* the sha256 of version `number` of hook in the registry's JSON, or NULL */
static const char *version_sha(const hook_json_t *all, const char *hook, unsigned number)
{
    const hook_json_t *vs = hook_json_get(hook_json_get(hook_json_get(all, "hooks"), hook), "versions");
    for (size_t i = 0; vs != NULL && vs->type == HOOK_JSON_ARRAY && i != vs->count; ++i) {
        const hook_json_t *n = hook_json_get(vs->items[i], "version");
        if (n != NULL && n->type == HOOK_JSON_NUMBER && n->number == (double)number)
            return hook_json_string(hook_json_get(vs->items[i], "sha256"), NULL);
    }
    return NULL;
}

/*
 * Version numbers are each node's own: a target written with the code's sha256 names, on this node, the version with that code
 * (the same number when it has the same code, else the newest version with it). 0, or -1 when this node has no such code.
 */
static int map_versions(apply_job_t *job, const hook_json_t *all)
{
    for (size_t i = 0; i != job->n; ++i) {
        if (job->sha256[i][0] == '\0')
            continue;
        const char *mine = version_sha(all, job->hook, job->versions[i]);
        if (mine != NULL && strcmp(mine, job->sha256[i]) == 0)
            continue;
        unsigned found = 0;
        const hook_json_t *vs = hook_json_get(hook_json_get(hook_json_get(all, "hooks"), job->hook), "versions");
        for (size_t k = 0; vs != NULL && vs->type == HOOK_JSON_ARRAY && k != vs->count; ++k) {
            const char *h = hook_json_string(hook_json_get(vs->items[k], "sha256"), NULL);
            const hook_json_t *n = hook_json_get(vs->items[k], "version");
            if (h != NULL && n != NULL && n->type == HOOK_JSON_NUMBER && strcmp(h, job->sha256[i]) == 0 && n->number > found)
                found = (unsigned)n->number;
        }
        if (found == 0) {
            snprintf(job->err, sizeof(job->err),
                     "this node has no version of hook %s with the code of version %u there (sha256 %.12s): publish it here", job->hook,
                     job->versions[i], job->sha256[i]);
            return -1;
        }
        log_info("fleet: alias %s@%s: version %u there is version %u here (the same code, sha256 %.12s)", job->hook, job->alias,
                 job->versions[i], found, job->sha256[i]);
        job->versions[i] = found;
    }
    if (job->n == 2 && job->versions[0] == job->versions[1]) {
        snprintf(job->err, sizeof(job->err), "both versions have the same code here (version %u)", job->versions[0]);
        return -1;
    }
    return 0;
}

/* ends job's registry transaction: aborted when its change failed (r != 0), else committed (`rebind` as server_hooks_commit
 * takes it); -1 with job->result set to -1 when nothing was committed */
static int end_txn(apply_job_t *job, hook_versions_txn_t *txn, int r, int rebind)
{
    if (r != 0) {
        server_hooks_abort(txn);
        job->result = -1;
        return -1;
    }
    if (server_hooks_commit(txn, rebind, job->err, sizeof(job->err)) != 0) {
        job->result = -1;
        return -1;
    }
    return 0;
}

static void apply_alias(apply_job_t *job)
{
    char *text = hook_versions_json();
    hook_json_t *all = text != NULL ? hook_json_parse(text, strlen(text), job->err, sizeof(job->err)) : NULL;
    const hook_json_t *cur = NULL;
    const char *curkey = NULL;
    int have = all != NULL && alias_current(all, job->hook, job->alias, &cur, &curkey);
    free(text);
    if (job->n != 0 && all != NULL && map_versions(job, all) != 0) {
        hook_json_free(all);
        job->result = -1;
        return;
    }
    if (job->n == 0 && !have) {
        hook_json_free(all);
        return; /* already gone */
    }
    if (job->n != 0 && have && cur->count == job->n && curkey != NULL && strcmp(curkey, job->key) == 0) {
        int same = 1;
        for (size_t i = 0; i != job->n; ++i) {
            char num[16];
            snprintf(num, sizeof(num), "%u", job->versions[i]);
            const hook_json_t *w = hook_json_get(cur, num);
            if (w == NULL || w->type != HOOK_JSON_NUMBER || w->number - job->weights[i] > 1e-9 || job->weights[i] - w->number > 1e-9)
                same = 0;
        }
        if (same) {
            hook_json_free(all);
            return; /* this node has it already (its own change coming back, or one seen before) */
        }
    }
    hook_json_free(all);
    hook_versions_txn_t *txn = server_hooks_begin();
    int r = job->n == 0 ? hook_versions_delete_alias(txn, job->hook, job->alias, job->err, sizeof(job->err))
                        : hook_versions_set_alias_by(txn, job->hook, job->alias, job->versions, job->weights, job->n, job->key, NULL,
                                                     "fleet", job->err, sizeof(job->err));
    if (end_txn(job, txn, r, 1) != 0)
        return;
    job->changed = 1;
}

static void apply_kv(apply_job_t *job)
{
    kv_db_t *db = kv_global();
    int store = db != NULL ? kv_db_find(db, job->store, strlen(job->store)) : -1;
    if (store < 0) {
        snprintf(job->err, sizeof(job->err), "this node has no kv store %s", job->store);
        job->result = -1;
        return;
    }
    /* only what differs: this node's own writes come back, and a write seen before changes nothing */
    kv_view_t *view = kv_view_acquire(db);
    size_t m = 0;
    for (size_t i = 0; i != job->nops; ++i) {
        const char *val;
        size_t vlen;
        int found = kv_view_get(view, store, job->ops[i].key, job->ops[i].klen, &val, &vlen);
        if (job->ops[i].del ? !found : (found && vlen == job->ops[i].vlen && memcmp(val, job->ops[i].val, vlen) == 0))
            continue;
        job->ops[m++] = job->ops[i];
    }
    kv_view_release(view);
    if (m == 0)
        return;
    int r = kv_db_write(db, store, job->ops, m, 0, job->err, sizeof(job->err));
    if (r != KV_OK && !(r == KV_E_NOTFOUND && m == 1)) {
        job->result = -1;
        return;
    }
    job->changed = 1;
}

static void apply_version(apply_job_t *job)
{
    unsigned mine = 0;
    hook_versions_txn_t *txn = server_hooks_begin();
    char *text = hook_versions_json();
    hook_json_t *all = text != NULL ? hook_json_parse(text, strlen(text), job->err, sizeof(job->err)) : NULL;
    const char *have = all != NULL ? version_sha(all, job->hook, job->number) : NULL;
    const char *sha = hook_json_string(hook_json_get(job->record, "sha256"), NULL);
    int same = have != NULL && sha != NULL && strcmp(have, sha) == 0;
    hook_json_free(all);
    free(text);
    int r = hook_versions_add_version(txn, job->hook, job->number, job->record, job->code, job->code_len, &mine, job->err,
                                      sizeof(job->err));
    if (end_txn(job, txn, r, 0) != 0)
        return;
    job->changed = !same;
    job->number = mine;
}

/* $LATEST of another node (or this one's coming back: etcd's order decides, as for aliases), where it differs */
static void apply_latest(apply_job_t *job)
{
    const hook_json_t *ext = hook_json_get(job->record, "ext");
    hook_versions_txn_t *txn = server_hooks_begin();
    int r = hook_versions_update_code(txn, job->hook, job->code, job->code_len, hook_json_string(ext, NULL), job->err,
                                      sizeof(job->err));
    if (end_txn(job, txn, r, 1) != 0)
        return;
    job->changed = 1;
}

static void apply_run(void *arg)
{
    apply_job_t *job = arg;
    switch (job->kind) {
    case APPLY_PURGE:
        snprintf(job->err, sizeof(job->err), "%zu objects", admin_purge_tiers(job->pkind, job->parg, job->soft));
        job->changed = 1;
        break;
    case APPLY_ALIAS:
        apply_alias(job);
        break;
    case APPLY_KV:
        apply_kv(job);
        break;
    case APPLY_VERSION:
        apply_version(job);
        break;
    case APPLY_LATEST:
        apply_latest(job);
        break;
    }
    pthread_mutex_lock(&job->mu);
    job->finished = 1;
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->mu);
}

/* runs job on the control thread, as every local change does, and waits for it */
static int apply_on_control(apply_job_t *job)
{
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->cond, NULL);
    control_post(apply_run, NULL, job);
    pthread_mutex_lock(&job->mu);
    while (!job->finished)
        pthread_cond_wait(&job->cond, &job->mu);
    pthread_mutex_unlock(&job->mu);
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cond);
    atomic_fetch_add(job->result == 0 ? &st_applied : &st_apply_failed, 1);
    return job->result;
}

/* ---- events ---------------------------------------------------------------------------------------------------------------- */

_Static_assert(CACHE_PURGE_URL == 0 && CACHE_PURGE_PREFIX == 1 && CACHE_PURGE_TAG == 2 && CACHE_PURGE_ALL == 3,
               "fleet_purge_kinds follows cache_purge_kind_t");

static void on_purge(const fleet_key_t *k, const char *val, size_t vlen)
{
    char err[512];
    hook_json_t *doc;
    fleet_purge_t p;
    apply_job_t job = {.kind = APPLY_PURGE};
    if (fleet_purge_parse(val, vlen, &doc, &p, err, sizeof(err)) != 0) {
        log_warn("fleet: purge %.*s: not a purge (%s): ignored", (int)k->alen, k->a, err);
        atomic_fetch_add(&st_apply_failed, 1);
        return;
    }
    if (strcmp(p.node, F.node) == 0) {
        hook_json_free(doc); /* purged here before it was written */
        return;
    }
    job.pkind = (cache_purge_kind_t)p.kind;
    job.parg = h2o_iovec_init(p.arg, p.arglen);
    job.soft = p.soft;
    apply_on_control(&job);
    log_info("fleet: purge %s %.*s%s from %s (%.*s): %s", fleet_purge_kinds[p.kind], (int)(p.arglen > 200 ? 200 : p.arglen), p.arg,
             p.soft ? " (soft)" : "", p.node, (int)k->alen, k->a, job.err);
    hook_json_free(doc);
    /* the ack, with this node's lease */
    hook_buf_t key = {NULL, 0, 0};
    pthread_mutex_lock(&F.mu);
    long long lease = F.lease;
    pthread_mutex_unlock(&F.mu);
    hook_buf_appendf(&key, "%s/ack/%.*s/%s", F.prefix, (int)k->alen, k->a, F.node);
    if (put(key.base, key.len, "", 0, lease, err, sizeof(err)) != 0)
        log_warn("fleet: purge %.*s: cannot write the ack: %s", (int)k->alen, k->a, err);
    hook_buf_free(&key);
}

static void on_alias(const fleet_key_t *k, const char *val, size_t vlen, int del)
{
    char hook[FLEET_NAME_MAX + 1], alias[FLEET_NAME_MAX + 1], err[256];
    fleet_alias_t t = {.n = 0};
    apply_job_t job = {.kind = APPLY_ALIAS, .hook = hook, .alias = alias};
    snprintf(hook, sizeof(hook), "%.*s", (int)k->alen, k->a);
    snprintf(alias, sizeof(alias), "%.*s", (int)k->blen, k->b);
    if (!del && fleet_alias_parse(val, vlen, &t, err, sizeof(err)) != 0) {
        log_warn("fleet: alias %s@%s: not a target (%s): ignored", hook, alias, err);
        atomic_fetch_add(&st_apply_failed, 1);
        return;
    }
    job.n = t.n;
    memcpy(job.versions, t.versions, sizeof(t.versions));
    memcpy(job.weights, t.weights, sizeof(t.weights));
    job.key = t.key;
    memcpy(job.sha256, t.sha256, sizeof(t.sha256));
    if (apply_on_control(&job) != 0)
        log_warn("fleet: alias %s@%s: cannot apply: %s", hook, alias, job.err);
    else if (job.changed)
        log_info("fleet: alias %s@%s %s", hook, alias, del ? "removed" : "moved");
}

/* a range over one key: its value (malloc'ed) with *len, or NULL (absent: err says so) */
static char *get_value(const char *key, size_t klen, size_t *len, char *err, size_t errlen)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_json_t *out;
    fleet_watch_msg_t m;
    char *val = NULL;
    hook_buf_append(&b, "{\"key\":", 7);
    fleet_b64(&b, key, klen);
    hook_buf_append(&b, "}", 1);
    int r = etcd_call(F.etcd, "/v3/kv/range", b.base, b.len, &out, err, errlen);
    hook_buf_free(&b);
    if (r != 0)
        return NULL;
    fleet_range_decode(out, &m);
    hook_json_free(out);
    if (m.num_events == 1 && m.events[0].klen == klen && memcmp(m.events[0].key, key, klen) == 0) {
        val = m.events[0].val;
        *len = m.events[0].vlen;
        m.events[0].val = NULL;
    } else {
        snprintf(err, errlen, "%.*s is not in etcd", (int)klen, key);
    }
    fleet_watch_free(&m);
    return val;
}

/* a version another node published: its code is read from PREFIX/code/SHA and checked against the sha256 here (on this thread),
 * then the version is added on the control thread as a local publish is */
/* the sha256 of $LATEST of hook here, in buf ("" when none) */
static void latest_sha(const char *hook, char buf[65])
{
    char *text = hook_versions_json(), perr[64];
    hook_json_t *all = text != NULL ? hook_json_parse(text, strlen(text), perr, sizeof(perr)) : NULL;
    const char *sha =
        hook_json_string(hook_json_get(hook_json_get(hook_json_get(hook_json_get(all, "hooks"), hook), "latest"), "sha256"), NULL);
    snprintf(buf, 65, "%s", sha != NULL ? sha : "");
    hook_json_free(all);
    free(text);
}

/* latest: PREFIX/latest/HOOK (else PREFIX/versions/HOOK/N) */
static void on_version(const fleet_key_t *k, const char *val, size_t vlen, int latest)
{
    char hook[FLEET_NAME_MAX + 1], err[512], what[300];
    hook_json_t *doc;
    fleet_version_t v;
    unsigned number = latest ? 0 : fleet_version_number(k->b, k->blen);
    snprintf(hook, sizeof(hook), "%.*s", (int)k->alen, k->a);
    if (latest)
        snprintf(what, sizeof(what), "version %s@$LATEST", hook);
    else
        snprintf(what, sizeof(what), "version %s@%u", hook, number);
    if (fleet_version_parse(val, vlen, &doc, &v, err, sizeof(err)) != 0) {
        log_warn("fleet: %s: not a version (%s): ignored", what, err);
        atomic_fetch_add(&st_apply_failed, 1);
        return;
    }
    if (latest) {
        char mine[65];
        latest_sha(hook, mine);
        if (strcmp(mine, v.sha256) == 0 && v.is_lua == (strcmp(hook_json_string(hook_json_get(doc, "ext"), NULL), "lua") == 0)) {
            hook_json_free(doc); /* this node has it (its own change coming back, or one seen before) */
            return;
        }
    } else {
        /* this node has it (published here before it was written, or seen before): nothing to read; a version this node
         * wrote to etcd but lost (its local commit failed after the claim) is added like another node's */
        char *text = hook_versions_json(), perr[64];
        hook_json_t *all = text != NULL ? hook_json_parse(text, strlen(text), perr, sizeof(perr)) : NULL;
        const char *mine = all != NULL ? version_sha(all, hook, number) : NULL;
        int have = mine != NULL && strcmp(mine, v.sha256) == 0;
        hook_json_free(all);
        free(text);
        if (have) {
            hook_json_free(doc);
            return;
        }
    }
    hook_buf_t key = {NULL, 0, 0};
    size_t len = 0;
    key_buf(&key, "code/", v.sha256, 64);
    char *code = get_value(key.base, key.len, &len, err, sizeof(err)), hash[65];
    if (code == NULL) {
        log_warn("fleet: %s from %s: cannot read its code: %s", what, v.node, err);
        atomic_fetch_add(&st_apply_failed, 1);
    } else if (edge_sha256_hex(code, len, hash), strcmp(hash, v.sha256) != 0 || len != v.size) {
        log_warn("fleet: %s from %s: the code in etcd (%.*s, %zu bytes, sha256 %.12s) is not the version's (sha256 %.12s, "
                 "%zu bytes): refused",
                 what, v.node, (int)key.len, key.base, len, hash, v.sha256, v.size);
        atomic_fetch_add(&st_apply_failed, 1);
    } else {
        apply_job_t job = {.kind = latest ? APPLY_LATEST : APPLY_VERSION, .hook = hook, .number = number, .record = doc,
                           .code = code, .code_len = len};
        if (apply_on_control(&job) != 0)
            log_warn("fleet: %s from %s: cannot apply: %s", what, v.node, job.err);
        else if (job.changed && latest)
            log_info("fleet: %s from %s: set (sha256 %.12s)", what, v.node, v.sha256);
        else if (job.changed)
            log_info("fleet: %s from %s added%s (sha256 %.12s)", what, v.node, job.number != number ? " under another number here" : "",
                     v.sha256);
    }
    free(code);
    hook_buf_free(&key);
    hook_json_free(doc);
}

/* consecutive kv events of one revision and store: one write here too (all or nothing, as on the node that made it); the ops
 * point into the events, which live until the batch is flushed */
typedef struct kv_batch {
    long long rev;
    char store[FLEET_NAME_MAX + 1];
    kv_op_t *ops;
    size_t n;
} kv_batch_t;

static void kv_flush(kv_batch_t *b)
{
    if (b->n != 0) {
        apply_job_t job = {.kind = APPLY_KV, .store = b->store, .ops = b->ops, .nops = b->n};
        if (apply_on_control(&job) != 0)
            log_warn("fleet: kv %s: cannot apply a write of %zu keys: %s", b->store, b->n, job.err);
        else if (job.changed)
            log_debug("fleet: kv %s: applied a write of %zu keys", b->store, b->n);
    }
    free(b->ops);
    b->ops = NULL;
    b->n = 0;
}

static void on_kv(kv_batch_t *b, const fleet_key_t *k, const fleet_kv_t *e)
{
    if (b->n != 0 && (b->rev != e->mod_revision || strlen(b->store) != k->alen || memcmp(b->store, k->a, k->alen) != 0))
        kv_flush(b);
    b->rev = e->mod_revision;
    snprintf(b->store, sizeof(b->store), "%.*s", (int)k->alen, k->a);
    kv_op_t *ops = realloc(b->ops, (b->n + 1) * sizeof(*ops));
    if (ops == NULL)
        abort();
    b->ops = ops;
    b->ops[b->n++] = (kv_op_t){k->b, k->blen, e->del ? "" : e->val, e->del ? 0 : e->vlen, e->del};
}

/* one key-value of a range answer or a watch event (the batch may point into it until flushed) */
static void on_event(kv_batch_t *b, const fleet_kv_t *e)
{
    fleet_key_t k;
    char node[FLEET_NAME_MAX + 1];
    switch (fleet_key_parse(F.prefix, e->key, e->klen, &k)) {
    case FLEET_KEY_KV:
        on_kv(b, &k, e);
        return;
    case FLEET_KEY_OTHER:
        return;
    default:
        break;
    }
    kv_flush(b);
    switch (k.kind) {
    case FLEET_KEY_NODE:
        snprintf(node, sizeof(node), "%.*s", (int)k.alen, k.a);
        pthread_mutex_lock(&F.mu);
        live_set(node, !e->del);
        pthread_mutex_unlock(&F.mu);
        if (e->del)
            waiters_reap(0);
        break;
    case FLEET_KEY_ACK:
        if (!e->del) {
            snprintf(node, sizeof(node), "%.*s", (int)k.blen, k.b);
            ack_seen(k.a, k.alen, node);
        }
        break;
    case FLEET_KEY_PURGE:
        if (!e->del)
            on_purge(&k, e->val, e->vlen);
        break;
    case FLEET_KEY_ALIAS:
        on_alias(&k, e->val, e->vlen, e->del);
        break;
    case FLEET_KEY_VERSION:
    case FLEET_KEY_LATEST:
        if (!e->del)
            on_version(&k, e->val, e->vlen, k.kind == FLEET_KEY_LATEST);
        break;
    default:
        break;
    }
}

/* the events of one message, in order; the highest revision among them (or rev) */
static long long on_events(const fleet_watch_msg_t *m, long long rev)
{
    kv_batch_t batch = {0};
    for (size_t i = 0; i != m->num_events; ++i) {
        on_event(&batch, &m->events[i]);
        if (m->events[i].mod_revision > rev)
            rev = m->events[i].mod_revision;
    }
    kv_flush(&batch);
    return rev;
}

/* ---- the revision applied so far ------------------------------------------------------------------------------------------- */

static long long rev_load(void)
{
    FILE *fp = fopen(F.rev_path, "r");
    long long r = 0;
    if (fp == NULL)
        return 0;
    if (fscanf(fp, "%lld", &r) != 1 || r < 0)
        r = 0;
    fclose(fp);
    return r;
}

static void rev_save(long long rev)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", F.rev_path);
    FILE *fp = fopen(tmp, "w");
    atomic_store(&st_revision, rev);
    if (fp == NULL) {
        log_warn("fleet: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(fp, "%lld\n", rev);
    if (fflush(fp) != 0 || fdatasync(fileno(fp)) != 0 || fclose(fp) != 0 || rename(tmp, F.rev_path) != 0)
        log_warn("fleet: cannot write %s: %s", F.rev_path, strerror(errno));
}

/* ---- the watch ------------------------------------------------------------------------------------------------------------- */

/* a range over PREFIX/rel, each key applied; the revision of the answer, or -1 */
static long long range_apply(const char *rel, char *err, size_t errlen)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_json_t *out;
    fleet_watch_msg_t m;
    range_json(&b, rel, NULL);
    int r = etcd_call(F.etcd, "/v3/kv/range", b.base, b.len, &out, err, errlen);
    hook_buf_free(&b);
    if (r != 0)
        return -1;
    fleet_range_decode(out, &m);
    hook_json_free(out);
    on_events(&m, 0);
    fleet_watch_free(&m);
    return m.header_revision;
}

/* the live nodes as etcd has them now, then (first start, or after a compaction) the state: aliases and kv */
static long long sync_state(long long rev, char *err, size_t errlen)
{
    long long r;
    pthread_mutex_lock(&F.mu);
    live_clear();
    pthread_mutex_unlock(&F.mu);
    if ((r = range_apply("nodes/", err, errlen)) < 0)
        return -1;
    if (rev > r) {
        /* this node applied revisions etcd does not have: a new (or restored) cluster; what it holds now is the truth */
        log_warn("fleet: etcd is at revision %lld, behind this node's %lld (a new or restored cluster?): purging the whole cache and "
                 "reading the state again",
                 r, rev);
        apply_job_t job = {.kind = APPLY_PURGE, .pkind = CACHE_PURGE_ALL};
        apply_on_control(&job);
        atomic_fetch_add(&st_resyncs, 1);
        rev = 0;
    }
    if (rev != 0)
        return rev;
    log_info("fleet: reading the fleet's state (versions, $LATEST, aliases, kv) at revision %lld", r);
    if (range_apply("versions/", err, errlen) < 0 || range_apply("latest/", err, errlen) < 0 ||
        range_apply("alias/", err, errlen) < 0 || range_apply("kv/", err, errlen) < 0)
        return -1;
    rev_save(r);
    return r;
}

static void *watch_main(void *unused)
{
    edge_thread_name("fleet-watch");
    long long rev = rev_load();
    char err[512];
    int logged_down = 0;
    if (rev != 0)
        log_info("fleet: catching up from revision %lld", rev);
    atomic_store(&st_revision, rev);
    while (!stopping()) {
        long long r = sync_state(rev, err, sizeof(err));
        etcd_stream_t *s = NULL;
        if (r >= 0) {
            rev = r;
            hook_buf_t b = {NULL, 0, 0};
            hook_buf_append(&b, "{\"create_request\":", 18);
            range_json(&b, "", NULL);
            b.len -= 1; /* reopen the object */
            hook_buf_appendf(&b, ",\"start_revision\":%lld}}", rev + 1);
            s = etcd_watch(F.etcd, b.base, b.len, err, sizeof(err));
            hook_buf_free(&b);
        }
        if (s == NULL) {
            if (!logged_down)
                log_warn("fleet: etcd unreachable (%s); retrying", err);
            logged_down = 1;
            atomic_store(&st_connected, 0);
            pause_ms(500);
            continue;
        }
        for (;;) {
            hook_json_t *msg;
            int n = etcd_stream_next(s, 200, &msg, err, sizeof(err));
            if (n == 0) {
                if (stopping())
                    break;
                continue;
            }
            if (n < 0) {
                log_warn("fleet: watch: %s; reconnecting", err);
                logged_down = 1;
                break;
            }
            fleet_watch_msg_t m;
            fleet_watch_decode(msg, &m);
            if (m.error) {
                const char *em = hook_json_string(hook_json_get(hook_json_get(msg, "error"), "message"), NULL);
                log_warn("fleet: watch error: %s", em != NULL ? em : "(no message)");
                hook_json_free(msg);
                break;
            }
            hook_json_free(msg);
            if (m.created) {
                atomic_store(&st_connected, 1);
                log_info("fleet: watching %s/ from revision %lld at %s as node %s", F.prefix, rev + 1, etcd_current(F.etcd), F.node);
                logged_down = 0;
            }
            if (m.compact_revision > 0) {
                /* the history this node needs is gone: what it missed is unknown, so it forgets its cache and reads the state */
                log_warn("fleet: etcd compacted the history past revision %lld (this node had %lld): purging the whole cache and "
                         "reading the state again",
                         m.compact_revision, rev);
                apply_job_t job = {.kind = APPLY_PURGE, .pkind = CACHE_PURGE_ALL};
                apply_on_control(&job);
                atomic_fetch_add(&st_resyncs, 1);
                rev = 0;
                fleet_watch_free(&m);
                break;
            }
            long long last = on_events(&m, rev);
            fleet_watch_free(&m);
            if (last != rev) {
                rev = last;
                rev_save(rev);
            }
            if (m.canceled) {
                log_warn("fleet: etcd canceled the watch; watching again");
                break;
            }
        }
        atomic_store(&st_connected, 0);
        etcd_stream_close(s);
        if (!stopping())
            pause_ms(200);
    }
    return NULL;
}

/* ---- the node's lease ------------------------------------------------------------------------------------------------------ */

static int lease_register(char *err, size_t errlen)
{
    hook_buf_t b = {NULL, 0, 0}, k = {NULL, 0, 0};
    hook_json_t *out;
    hook_buf_appendf(&b, "{\"TTL\":%" PRIu64 "}", (F.lease_ttl_ms + 999) / 1000);
    int r = etcd_call(F.etcd, "/v3/lease/grant", b.base, b.len, &out, err, errlen);
    hook_buf_free(&b);
    if (r != 0)
        return -1;
    long long id = fleet_int_member(out, "ID");
    hook_json_free(out);
    if (id == 0) {
        snprintf(err, errlen, "etcd granted no lease");
        return -1;
    }
    hook_buf_appendf(&b, "{\"node\":");
    hook_buf_json_string(&b, F.node, strlen(F.node));
    hook_buf_appendf(&b, ",\"pid\":%d}", (int)getpid());
    key_buf(&k, "nodes/", F.node, strlen(F.node));
    r = put(k.base, k.len, b.base, b.len, id, err, errlen);
    hook_buf_free(&b);
    hook_buf_free(&k);
    if (r != 0)
        return -1;
    pthread_mutex_lock(&F.mu);
    F.lease = id;
    pthread_mutex_unlock(&F.mu);
    log_info("fleet: node %s registered (lease %llx, %" PRIu64 " ms)", F.node, (unsigned long long)id, F.lease_ttl_ms);
    return 0;
}

static void *lease_main(void *unused)
{
    edge_thread_name("fleet-lease");
    char err[512];
    long long next = 0;
    int logged = 0;
    while (!pause_ms(100)) {
        waiters_reap(now_ms());
        if (now_ms() < next)
            continue;
        pthread_mutex_lock(&F.mu);
        long long lease = F.lease;
        pthread_mutex_unlock(&F.mu);
        int ok;
        if (lease == 0) {
            ok = lease_register(err, sizeof(err)) == 0;
        } else {
            char body[64];
            hook_json_t *out;
            snprintf(body, sizeof(body), "{\"ID\":\"%lld\"}", lease);
            ok = etcd_call(F.etcd, "/v3/lease/keepalive", body, strlen(body), &out, err, sizeof(err)) == 0;
            if (ok) {
                long long ttl = fleet_int_member(hook_json_get(out, "result"), "TTL");
                hook_json_free(out);
                if (ttl <= 0) { /* expired meanwhile (etcd was away longer than the TTL): register again */
                    log_warn("fleet: the node's lease expired; registering again");
                    pthread_mutex_lock(&F.mu);
                    F.lease = 0;
                    pthread_mutex_unlock(&F.mu);
                    ok = lease_register(err, sizeof(err)) == 0;
                }
            }
        }
        if (!ok && !logged)
            log_warn("fleet: cannot renew the node's lease: %s", err);
        logged = !ok;
        next = now_ms() + (ok ? (long long)F.lease_ttl_ms / 3 : 1000);
    }
    return NULL;
}

/* ---- start, stop, publish -------------------------------------------------------------------------------------------------- */

static int claim_version(const char *name, unsigned number, const char *record, size_t rlen, const char *code_path, char *err,
                         size_t errlen);

int fleet_start(const conf_t *conf, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (conf->fleet.line == 0)
        return 0;
    snprintf(dir, sizeof(dir), "%s/fleet", conf->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if ((F.etcd = etcd_new(conf->fleet.etcd.names, conf->fleet.etcd.count, (int)conf->fleet.timeout_ms, err, errlen)) == NULL)
        return -1;
    F.prefix = strdup(conf->fleet.prefix);
    F.node = strdup(conf->fleet.node);
    F.rev_path = malloc(strlen(dir) + sizeof("/revision"));
    if (F.prefix == NULL || F.node == NULL || F.rev_path == NULL)
        abort();
    sprintf(F.rev_path, "%s/revision", dir);
    F.ack_timeout_ms = conf->fleet.ack_timeout_ms;
    F.lease_ttl_ms = conf->fleet.lease_ttl_ms;
    F.stopping = 0;
    /* registered before the start goes on when etcd answers, so that a purge made right after sees this node */
    if (lease_register(err, errlen) != 0)
        log_warn("fleet: cannot register node %s yet: %s (retrying)", F.node, err);
    F.enabled = 1;
    hook_versions_set_claim(claim_version);
    h2o_multithread_create_thread(&F.lease_tid, NULL, lease_main, NULL);
    h2o_multithread_create_thread(&F.watch_tid, NULL, watch_main, NULL);
    return 0;
}

void fleet_stop(void)
{
    char err[512], body[64];
    hook_json_t *out;
    if (!F.enabled)
        return;
    pthread_mutex_lock(&F.mu);
    F.stopping = 1;
    pthread_cond_broadcast(&F.cond);
    pthread_mutex_unlock(&F.mu);
    hook_versions_set_claim(NULL);
    pthread_join(F.watch_tid, NULL);
    pthread_join(F.lease_tid, NULL);
    waiters_reap(LLONG_MAX); /* the purges still waiting answer with what they have */
    if (F.lease != 0) {
        snprintf(body, sizeof(body), "{\"ID\":\"%lld\"}", F.lease);
        if (etcd_call(F.etcd, "/v3/lease/revoke", body, strlen(body), &out, err, sizeof(err)) == 0)
            hook_json_free(out);
        else
            log_warn("fleet: cannot revoke the node's lease (it expires by itself): %s", err);
    }
    F.enabled = 0;
}

void fleet_close(void)
{
    if (F.etcd == NULL)
        return;
    pthread_mutex_lock(&F.mu);
    live_clear();
    pthread_mutex_unlock(&F.mu);
    etcd_free(F.etcd);
    free(F.prefix);
    free(F.node);
    free(F.rev_path);
    F.etcd = NULL;
}

static int published(int r, const char *what, char *err)
{
    atomic_fetch_add(r == 0 ? &st_published : &st_publish_failed, 1);
    if (r != 0)
        log_warn("fleet: %s not written to etcd (it holds on this node only): %s", what, err);
    return r;
}

/* the claim of a version number (hook_versions_claim_fn), control thread: one etcd transaction writes the code and the version
 * record if no node has that number yet (versions/HOOK/N's create_revision is 0) */
static int claim_version(const char *name, unsigned number, const char *record, size_t rlen, const char *code_path, char *err,
                         size_t errlen)
{
    char what[300], hash[65];
    FILE *fp;
    struct stat st;
    hook_buf_t code = {NULL, 0, 0}, vk = {NULL, 0, 0}, ck = {NULL, 0, 0}, v = {NULL, 0, 0}, b = {NULL, 0, 0};
    hook_json_t *out;
    int r = -1;
    snprintf(what, sizeof(what), "version %u of hook %s", number, name);
    if (stat(code_path, &st) != 0 || (fp = fopen(code_path, "rb")) == NULL) {
        snprintf(err, errlen, "%s: %s", code_path, strerror(errno));
        return published(-1, what, err);
    }
    if ((uint64_t)st.st_size > FLEET_CODE_MAX) {
        fclose(fp);
        snprintf(err, errlen,
                 "the code is %llu bytes: a fleet ships a version's code through etcd, whose requests are at most 1.5 MiB by "
                 "default (--max-request-bytes); at most %u bytes of code",
                 (unsigned long long)st.st_size, FLEET_CODE_MAX);
        log_warn("fleet: %s refused: %s", what, err);
        atomic_fetch_add(&st_publish_failed, 1);
        return -2;
    }
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) != 0)
        hook_buf_append(&code, chunk, got);
    fclose(fp);
    edge_sha256_hex(code.base != NULL ? code.base : "", code.len, hash);
    key_buf(&vk, "versions/", name, strlen(name));
    hook_buf_appendf(&vk, "/%u", number);
    key_buf(&ck, "code/", hash, 64);
    hook_buf_append(&v, "{\"node\":", 8);
    hook_buf_json_string(&v, F.node, strlen(F.node));
    hook_buf_appendf(&v, ",\"hook\":");
    hook_buf_json_string(&v, name, strlen(name));
    hook_buf_appendf(&v, ",\"version\":%u,", number);
    hook_buf_append(&v, record + 1, rlen - 1); /* the record's members */
    hook_buf_appendf(&b, "%s", "{\"compare\":[{\"key\":");
    fleet_b64(&b, vk.base, vk.len);
    hook_buf_appendf(&b, "%s", ",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":\"0\"}],\"success\":[{\"request_put\":{\"key\":");
    fleet_b64(&b, ck.base, ck.len);
    hook_buf_append(&b, ",\"value\":", 9);
    fleet_b64(&b, code.base != NULL ? code.base : "", code.len);
    hook_buf_appendf(&b, "%s", "}},{\"request_put\":{\"key\":");
    fleet_b64(&b, vk.base, vk.len);
    hook_buf_append(&b, ",\"value\":", 9);
    fleet_b64(&b, v.base, v.len);
    hook_buf_append(&b, "}}]}", 4);
    if (etcd_call(F.etcd, "/v3/kv/txn", b.base, b.len, &out, err, errlen) == 0) {
        const hook_json_t *ok = hook_json_get(out, "succeeded");
        r = ok != NULL && ok->type == HOOK_JSON_TRUE ? 0 : 1;
        hook_json_free(out);
        if (r == 1)
            log_info("fleet: %s: another node has that number; trying %u", what, number + 1);
        else
            published(0, what, err);
    } else {
        published(-1, what, err);
    }
    hook_buf_free(&code);
    hook_buf_free(&vk);
    hook_buf_free(&ck);
    hook_buf_free(&v);
    hook_buf_free(&b);
    return r;
}

int fleet_publish_alias(const char *hook, const char *alias, char *err, size_t errlen)
{
    if (!F.enabled)
        return 0;
    char *text = hook_versions_json(), what[300];
    hook_json_t *all = text != NULL ? hook_json_parse(text, strlen(text), err, errlen) : NULL;
    const hook_json_t *versions;
    const char *key;
    hook_buf_t k = {NULL, 0, 0}, v = {NULL, 0, 0};
    int r;
    free(text);
    snprintf(what, sizeof(what), "alias %s@%s", hook, alias);
    key_buf(&k, "alias/", hook, strlen(hook));
    hook_buf_appendf(&k, "/%s", alias);
    if (all != NULL && alias_current(all, hook, alias, &versions, &key)) {
        hook_buf_append(&v, "{\"node\":", 8);
        hook_buf_json_string(&v, F.node, strlen(F.node));
        hook_buf_append(&v, ",\"versions\":", 12);
        hook_buf_json(&v, versions, 0);
        hook_buf_append(&v, ",\"key\":", 7);
        hook_buf_json_string(&v, key != NULL ? key : "ip", strlen(key != NULL ? key : "ip"));
        /* each version's code: another node maps it to its own version with that code */
        hook_buf_append(&v, ",\"sha256\":{", 11);
        for (size_t i = 0, first = 1; i != versions->count; ++i) {
            const char *sha = version_sha(all, hook, (unsigned)strtoul(versions->keys[i], NULL, 10));
            if (sha == NULL)
                continue;
            hook_buf_appendf(&v, "%s\"%s\":", first ? "" : ",", versions->keys[i]);
            hook_buf_json_string(&v, sha, strlen(sha));
            first = 0;
        }
        hook_buf_append(&v, "}}", 2);
        r = put(k.base, k.len, v.base, v.len, 0, err, errlen);
    } else {
        r = delete_range(k.base + strlen(F.prefix) + 1, 0, err, errlen);
    }
    hook_json_free(all);
    hook_buf_free(&k);
    hook_buf_free(&v);
    return published(r, what, err);
}

int fleet_publish_latest(const char *hook, char *err, size_t errlen)
{
    if (!F.enabled)
        return 0;
    char *text = hook_versions_json(), what[300], path[PATH_MAX];
    hook_json_t *all = text != NULL ? hook_json_parse(text, strlen(text), err, errlen) : NULL;
    const hook_json_t *l = hook_json_get(hook_json_get(hook_json_get(all, "hooks"), hook), "latest");
    const char *sha = hook_json_string(hook_json_get(l, "sha256"), NULL), *ext = hook_json_string(hook_json_get(l, "ext"), NULL);
    const char *dir = hook_versions_state_dir();
    hook_buf_t code = {NULL, 0, 0}, lk = {NULL, 0, 0}, ck = {NULL, 0, 0}, v = {NULL, 0, 0}, b = {NULL, 0, 0};
    hook_json_t *out;
    FILE *fp = NULL;
    int r = -1;
    free(text);
    snprintf(what, sizeof(what), "$LATEST of hook %s", hook);
    if (sha == NULL || ext == NULL || dir == NULL) {
        snprintf(err, errlen, "no $LATEST code in a state dir");
        goto Done;
    }
    snprintf(path, sizeof(path), "%s/code/%s.%s", dir, sha, ext);
    if ((fp = fopen(path, "rb")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto Done;
    }
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) != 0 && code.len <= FLEET_CODE_MAX)
        hook_buf_append(&code, chunk, got);
    fclose(fp);
    if (code.len > FLEET_CODE_MAX) {
        snprintf(err, errlen,
                 "the code is over %u bytes: a fleet ships code through etcd, whose requests are at most 1.5 MiB by default "
                 "(--max-request-bytes)",
                 FLEET_CODE_MAX);
        goto Done;
    }
    key_buf(&lk, "latest/", hook, strlen(hook));
    key_buf(&ck, "code/", sha, strlen(sha));
    hook_buf_append(&v, "{\"node\":", 8);
    hook_buf_json_string(&v, F.node, strlen(F.node));
    hook_buf_appendf(&v, ",\"sha256\":\"%s\",\"ext\":\"%s\",\"size\":%zu}", sha, ext, code.len);
    hook_buf_appendf(&b, "%s", "{\"success\":[{\"request_put\":{\"key\":");
    fleet_b64(&b, ck.base, ck.len);
    hook_buf_appendf(&b, "%s", ",\"value\":");
    fleet_b64(&b, code.base != NULL ? code.base : "", code.len);
    hook_buf_appendf(&b, "%s", "}},{\"request_put\":{\"key\":");
    fleet_b64(&b, lk.base, lk.len);
    hook_buf_appendf(&b, "%s", ",\"value\":");
    fleet_b64(&b, v.base, v.len);
    hook_buf_appendf(&b, "%s", "}}]}");
    if ((r = etcd_call(F.etcd, "/v3/kv/txn", b.base, b.len, &out, err, errlen)) == 0)
        hook_json_free(out);
Done:
    hook_json_free(all);
    hook_buf_free(&code);
    hook_buf_free(&lk);
    hook_buf_free(&ck);
    hook_buf_free(&v);
    hook_buf_free(&b);
    return published(r, what, err);
}

int fleet_publish_kv(const char *store, const kv_op_t *ops, size_t n, char *err, size_t errlen)
{
    if (!F.enabled || n == 0)
        return 0;
    hook_buf_t b = {NULL, 0, 0}, k = {NULL, 0, 0};
    hook_json_t *out;
    char what[200];
    hook_buf_append(&b, "{\"success\":[", 12);
    /* a key named twice in one txn is refused by etcd: the last op of a key wins, as in kv_db_write */
    int first = 1;
    for (size_t i = 0; i != n; ++i) {
        size_t j;
        for (j = i + 1; j != n && !(ops[j].klen == ops[i].klen && memcmp(ops[j].key, ops[i].key, ops[i].klen) == 0); ++j)
            ;
        if (j != n)
            continue;
        k.len = 0;
        key_buf(&k, "kv/", store, strlen(store));
        hook_buf_append(&k, "/", 1);
        hook_buf_append(&k, ops[i].key, ops[i].klen);
        hook_buf_append(&b, first ? "{" : ",{", first ? 1 : 2);
        first = 0;
        hook_buf_append(&b, ops[i].del ? "\"request_delete_range\":{\"key\":" : "\"request_put\":{\"key\":", ops[i].del ? 30 : 21);
        fleet_b64(&b, k.base, k.len);
        if (!ops[i].del) {
            hook_buf_append(&b, ",\"value\":", 9);
            fleet_b64(&b, ops[i].val, ops[i].vlen);
        }
        hook_buf_append(&b, "}}", 2);
    }
    hook_buf_append(&b, "]}", 2);
    int r = etcd_call(F.etcd, "/v3/kv/txn", b.base, b.len, &out, err, errlen);
    hook_json_free(r == 0 ? out : NULL);
    hook_buf_free(&b);
    hook_buf_free(&k);
    snprintf(what, sizeof(what), "a write of %zu keys to kv %s", n, store);
    return published(r, what, err);
}

int fleet_publish_purge(cache_purge_kind_t kind, h2o_iovec_t arg, int soft, fleet_purge_done_fn done, void *done_arg, char *err,
                        size_t errlen)
{
    waiter_t *w = calloc(1, sizeof(*w));
    hook_buf_t k = {NULL, 0, 0}, v = {NULL, 0, 0};
    struct timespec ts;
    if (w == NULL)
        abort();
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&F.mu);
    snprintf(w->id, sizeof(w->id), "%s.%lu.%lld", F.node, ++F.seq, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    w->nodes = calloc(F.num_live + 1, sizeof(char *));
    w->state = calloc(F.num_live + 1, sizeof(int));
    if (w->nodes == NULL || w->state == NULL)
        abort();
    for (size_t i = 0; i != F.num_live; ++i)
        if (strcmp(F.live[i], F.node) != 0 && (w->nodes[w->n] = strdup(F.live[i])) != NULL)
            ++w->n;
    w->t0 = now_ms();
    w->deadline = w->t0 + (long long)F.ack_timeout_ms;
    w->done = done;
    w->arg = done_arg;
    long long lease = F.lease;
    w->next = F.waiters; /* before the write: an ack may come back before the put's answer */
    F.waiters = w;
    pthread_mutex_unlock(&F.mu);

    key_buf(&k, "purge/", w->id, strlen(w->id));
    hook_buf_append(&v, "{\"node\":", 8);
    hook_buf_json_string(&v, F.node, strlen(F.node));
    hook_buf_appendf(&v, ",\"kind\":\"%s\",\"arg\":", fleet_purge_kinds[kind]);
    hook_buf_json_string(&v, arg.base != NULL ? arg.base : "", arg.len);
    hook_buf_appendf(&v, ",\"soft\":%s}", soft ? "true" : "false");
    int r = put(k.base, k.len, v.base, v.len, lease, err, errlen);
    hook_buf_free(&k);
    hook_buf_free(&v);
    atomic_fetch_add(&st_purges, 1);
    if (r != 0) {
        pthread_mutex_lock(&F.mu);
        for (waiter_t **pp = &F.waiters; *pp != NULL; pp = &(*pp)->next)
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        pthread_mutex_unlock(&F.mu);
        waiter_free(w);
        return published(-1, "a purge", err);
    }
    pthread_mutex_lock(&F.mu);
    w->written = 1;
    pthread_mutex_unlock(&F.mu);
    published(0, "a purge", err);
    /* no other live node, or every ack came before the put's answer: done now; and when the node stops meanwhile (fleet_stop
     * answered the written ones already), it is answered with what it has */
    waiters_reap(stopping() ? LLONG_MAX : 0);
    return 0;
}

void fleet_metrics(h2o_buffer_t **buf)
{
    if (!F.enabled)
        return;
    hook_buf_t b = {NULL, 0, 0};
    static const struct {
        const char *name, *type, *help;
        _Atomic uint64_t *v;
    } m[] = {
        {"edgehook_fleet_applied_total", "counter", "changes from etcd applied on this node (purges, aliases, kv writes)", &st_applied},
        {"edgehook_fleet_apply_failed_total", "counter", "changes from etcd this node could not apply (logged)", &st_apply_failed},
        {"edgehook_fleet_published_total", "counter", "local changes written to etcd", &st_published},
        {"edgehook_fleet_publish_failed_total", "counter", "local changes that could not be written to etcd (they hold on this node only)",
         &st_publish_failed},
        {"edgehook_fleet_purges_total", "counter", "purges this node wrote to etcd", &st_purges},
        {"edgehook_fleet_purges_acked_total", "counter", "purges of this node acked by every live node in time", &st_purges_complete},
        {"edgehook_fleet_purges_timed_out_total", "counter", "purges of this node with stragglers at fleet.ack_timeout",
         &st_purges_timed_out},
        {"edgehook_fleet_resyncs_total", "counter", "times the history was compacted past this node's revision (cache purged, state read)",
         &st_resyncs},
        {"edgehook_fleet_live_nodes", "gauge", "nodes registered in the fleet (this one included)", &st_live},
        {"edgehook_fleet_last_ack_seconds", "gauge", "time from writing this node's last acked purge to its last ack", NULL},
    };
    hook_buf_appendf(&b,
                     "# HELP edgehook_fleet_revision the last etcd revision this node applied\n# TYPE edgehook_fleet_revision gauge\n"
                     "edgehook_fleet_revision %lld\n"
                     "# HELP edgehook_fleet_connected 1 while the watch on etcd is established\n# TYPE edgehook_fleet_connected "
                     "gauge\nedgehook_fleet_connected %d\n",
                     atomic_load(&st_revision), atomic_load(&st_connected));
    for (size_t i = 0; i != sizeof(m) / sizeof(m[0]); ++i) {
        hook_buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help, m[i].name, m[i].type);
        if (m[i].v != NULL)
            hook_buf_appendf(&b, "%s %" PRIu64 "\n", m[i].name, atomic_load(m[i].v));
        else
            hook_buf_appendf(&b, "%s %.3f\n", m[i].name, (double)atomic_load(&st_ack_last_ms) / 1000.0);
    }
    h2o_iovec_t room = h2o_buffer_reserve(buf, b.len + 1);
    memcpy(room.base, b.base, b.len);
    (*buf)->size += b.len;
    hook_buf_free(&b);
}
