/* bench/kv_bench.c - what a kv read costs: kv_view_get at 10k and 1M keys against plain hash lookups of the same keys (glibc's
 * hsearch_r, and a bare open-addressing table with kv's hash: the floor), the per-call snapshot reference (acquire + release,
 * one thread and two at once), a read from a Lua hook (edge.kv(...):get) against a Lua table index, and a write (a new snapshot
 * of the whole store plus fdatasync). A measuring tool, not a test: it asserts no time. Build and run from the repository root:
 *
 *   cmake --build build --target kv_bench && build/kv_bench [ROUNDS]
 *
 * Lookups go through a shuffled list of the keys (hits) or of keys that are not there (misses), so the caches see what a store
 * larger than them sees; each figure is the best of 5 runs of ROUNDS lookups (default 2,000,000), in ns per lookup. */
#include <pthread.h>
#include <search.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hooks/hooks.h"
#include "kv/kv.h"
#include "base/log.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: this machine is shared */
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile size_t sink;

/* ---- the floor: a bare open-addressing table of the same keys, with kv's hash --------------------------------------------- */

static uint64_t hash(const char *p, size_t len)
{
    return kv_hash(0x1234567, p, len);
}

typedef struct {
    const char *key;
    size_t klen;
    const char *val;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t mask;
} plain_t;

static void plain_init(plain_t *t, char **keys, size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    t->slots = calloc(cap, sizeof(slot_t));
    t->mask = cap - 1;
    for (size_t i = 0; i != n; ++i) {
        size_t klen = strlen(keys[i]), j = hash(keys[i], klen) & t->mask;
        while (t->slots[j].key != NULL)
            j = (j + 1) & t->mask;
        t->slots[j] = (slot_t){keys[i], klen, keys[i]};
    }
}

static const char *plain_get(const plain_t *t, const char *key, size_t klen)
{
    for (size_t j = hash(key, klen) & t->mask;; j = (j + 1) & t->mask) {
        const slot_t *s = &t->slots[j];
        if (s->key == NULL)
            return NULL;
        if (s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s->val;
    }
}

/* ---- the runs ------------------------------------------------------------------------------------------------------------ */

static void shuffle(char **a, size_t *lens, size_t n)
{
    for (size_t i = n - 1; i > 0; --i) {
        size_t j = (size_t)rand() % (i + 1);
        char *t = a[i];
        a[i] = a[j];
        a[j] = t;
        size_t l = lens[i];
        lens[i] = lens[j];
        lens[j] = l;
    }
}

enum { KV, PLAIN, HSEARCH };

static double run(int kind, kv_view_t *view, plain_t *plain, struct hsearch_data *hs, char **probe, size_t *lens, size_t n,
                  size_t rounds)
{
    double best = 1e18;
    for (int r = 0; r != 5; ++r) {
        size_t found = 0;
        double t0 = now_ns();
        for (size_t i = 0; i != rounds; ++i) {
            size_t k = i % n;
            const char *v;
            size_t vlen;
            if (kind == KV) {
                found += kv_view_get(view, 0, probe[k], lens[k], &v, &vlen);
            } else if (kind == PLAIN) {
                found += plain_get(plain, probe[k], lens[k]) != NULL;
            } else {
                ENTRY e = {probe[k], NULL}, *out;
                found += hsearch_r(e, FIND, &out, hs) != 0;
            }
        }
        double ns = (now_ns() - t0) / rounds;
        sink += found;
        if (ns < best)
            best = ns;
    }
    return best;
}

static _Atomic int pin_stop;
static void *pin_loop(void *arg)
{
    kv_db_t *db = arg;
    while (!pin_stop)
        kv_view_release(kv_view_acquire(db));
    return NULL;
}

static double pin_cost(kv_db_t *db, size_t rounds, int contended)
{
    pthread_t th;
    pin_stop = 0;
    if (contended)
        pthread_create(&th, NULL, pin_loop, db);
    double best = 1e18;
    for (int r = 0; r != 5; ++r) {
        double t0 = now_ns();
        for (size_t i = 0; i != rounds; ++i)
            kv_view_release(kv_view_acquire(db));
        double ns = (now_ns() - t0) / rounds;
        best = ns < best ? ns : best;
    }
    if (contended) {
        pin_stop = 1;
        pthread_join(th, NULL);
    }
    return best;
}

/* a Lua hook doing `calls` rounds of 1000 reads: through edge.kv, or of a Lua table holding the same keys */
static double lua_cost(const char *dir, int use_kv, size_t nkeys)
{
    char path[512], err[1024];
    snprintf(path, sizeof(path), "%s/bench_%s.lua", dir, use_kv ? "kv" : "table");
    FILE *f = fopen(path, "w");
    fprintf(f,
            "local store, tbl, keys = edge.kv('bench'), {}, {}\n"
            "for i = 1, %zu do tbl['key-' .. i] = 'key-' .. i end\n"
            "for i = 1, 1000 do keys[i] = 'key-' .. ((i * 7919) %% %zu + 1) end\n"
            "function handler(event, context)\n"
            "  local n = 0\n"
            "  for i = 1, 1000 do if %s then n = n + 1 end end\n"
            "  return {status = '200', body = tostring(n)}\n"
            "end\n",
            nkeys, nkeys, use_kv ? "store:get(keys[i])" : "tbl[keys[i]]");
    fclose(f);
    char *names[] = {"bench"};
    conf_hook_t c = {0};
    c.name = "bench";
    c.lua = path;
    c.config_json = "{}";
    c.timeout_ms = -1;
    c.memory_limit = 256u << 20;
    c.kv.names = names;
    c.kv.count = 1;
    hook_fn_t *fn = hook_fn_load(&c, err, sizeof(err));
    if (fn == NULL) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    hook_thread_t *t = hook_thread_new();
    double best = 1e18;
    for (int r = 0; r != 5; ++r) {
        double t0 = now_ns();
        for (int i = 0; i != 200; ++i) {
            h2o_mem_pool_t pool;
            hook_event_t ev;
            h2o_mem_init_pool(&pool);
            hook_event_init(&ev, HOOK_VIEWER_REQUEST);
            ev.request.uri = h2o_iovec_init("/", 1);
            ev.request.method = h2o_iovec_init("GET", 3);
            if (hook_run(t, fn, &ev, &pool, NULL) != HOOK_RESPOND ||
                !h2o_memis(ev.response.body.base, ev.response.body.len, "1000", 4)) {
                fprintf(stderr, "the Lua bench hook failed\n");
                exit(1);
            }
            h2o_mem_clear_pool(&pool);
        }
        double ns = (now_ns() - t0) / (200 * 1000.0);
        best = ns < best ? ns : best;
    }
    hook_thread_free(t);
    hook_fn_release(fn);
    return best;
}

int main(int argc, char **argv)
{
    size_t rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    size_t sizes[] = {10000, 1000000};
    char dir[] = "/tmp/edgehook-kvbench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    log_set_level(LOG_ERROR);
    srand(42);
    printf("%-44s %12s %12s\n", "ns per lookup (best of 5)", "10k keys", "1M keys");
    double res[6][2];
    double put_ms[2];
    kv_db_t *db10k = NULL;
    for (size_t s = 0; s != 2; ++s) {
        size_t n = sizes[s];
        char **keys = malloc(n * sizeof(char *)), **miss = malloc(n * sizeof(char *));
        size_t *klens = malloc(n * sizeof(size_t)), *mlens = malloc(n * sizeof(size_t));
        kv_op_t *ops = malloc(n * sizeof(kv_op_t));
        for (size_t i = 0; i != n; ++i) {
            char buf[64];
            snprintf(buf, sizeof(buf), "key-%zu", i + 1);
            keys[i] = strdup(buf);
            klens[i] = strlen(buf);
            snprintf(buf, sizeof(buf), "absent-key-%zu", i + 1);
            miss[i] = strdup(buf);
            mlens[i] = strlen(buf);
            ops[i] = (kv_op_t){keys[i], klens[i], keys[i], klens[i], 0};
        }
        char path[300], err[1024];
        snprintf(path, sizeof(path), "%s/bench%zu.kvlog", dir, n);
        kv_store_conf_t conf = {"bench", path, n, 1ull << 30, 1024};
        kv_db_t *db = kv_db_open(&conf, 1, err, sizeof(err));
        if (db == NULL || kv_db_write(db, 0, ops, n, 0, err, sizeof(err)) != KV_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        /* one more put: a whole new snapshot and an fdatasync */
        double t0 = now_ns();
        kv_op_t one = {"one-more", 8, "value", 5, 0};
        kv_db_write(db, 0, &one, 1, 0, err, sizeof(err));
        put_ms[s] = (now_ns() - t0) / 1e6;
        plain_t plain;
        plain_init(&plain, keys, n);
        struct hsearch_data hs = {0};
        hcreate_r(n * 2, &hs);
        for (size_t i = 0; i != n; ++i) {
            ENTRY e = {keys[i], keys[i]}, *out;
            hsearch_r(e, ENTER, &out, &hs);
        }
        /* the probes are copies: a table that holds the probe's own string would compare it without a cache miss */
        char **probe = malloc(n * sizeof(char *));
        for (size_t i = 0; i != n; ++i)
            probe[i] = strdup(keys[i]);
        shuffle(probe, klens, n);
        shuffle(miss, mlens, n);
        kv_view_t *view = kv_view_acquire(db);
        res[0][s] = run(KV, view, &plain, &hs, probe, klens, n, rounds);
        res[1][s] = run(PLAIN, view, &plain, &hs, probe, klens, n, rounds);
        res[2][s] = run(HSEARCH, view, &plain, &hs, probe, klens, n, rounds);
        res[3][s] = run(KV, view, &plain, &hs, miss, mlens, n, rounds);
        res[4][s] = run(PLAIN, view, &plain, &hs, miss, mlens, n, rounds);
        res[5][s] = run(HSEARCH, view, &plain, &hs, miss, mlens, n, rounds);
        kv_view_release(view);
        hdestroy_r(&hs);
        free(plain.slots);
        if (s == 0) {
            db10k = db;
        } else {
            kv_db_close(db);
        }
        /* the keys are freed with the process: the 10k db's snapshot holds its own copies */
        free(ops);
    }
    const char *names[] = {"hit: kv_view_get",  "hit: bare open-addressing table (floor)",  "hit: glibc hsearch_r",
                           "miss: kv_view_get", "miss: bare open-addressing table (floor)", "miss: glibc hsearch_r"};
    for (int i = 0; i != 6; ++i)
        printf("%-44s %12.1f %12.1f\n", names[i], res[i][0], res[i][1]);
    printf("%-44s %12.1f\n", "per call: snapshot acquire + release", pin_cost(db10k, rounds, 0));
    printf("%-44s %12.1f\n", "  the same while another thread does it", pin_cost(db10k, rounds, 1));
    printf("%-44s %12.3f %12.3f\n", "one PUT (new snapshot + fdatasync), ms", put_ms[0], put_ms[1]);
    kv_global_set(db10k);
    double lkv = lua_cost(dir, 1, 10000), ltab = lua_cost(dir, 0, 10000);
    printf("%-44s %12.1f\n", "Lua: store:get(key), 10k keys", lkv);
    printf("%-44s %12.1f\n", "Lua: tbl[key] of a 10k-entry table", ltab);
    kv_global_set(NULL);
    kv_db_close(db10k);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
