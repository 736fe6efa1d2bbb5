/* hooks/versions.c - the registry of hook versions (immutable, content-addressed code + settings), $LATEST and aliases
 * (weighted, sticky, with their history), kept in STATE_DIR across restarts. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/series.h"
#include "base/str.h"
#include "hooks/json.h"
#include "hooks/versions.h"
#include "base/assert.h"
#include "base/log.h"

/* one immutable version (number > 0) or a $LATEST (number 0): shared by the registries (the committed one and a staged copy),
 * refcounted */
typedef struct version {
    unsigned magic; /* VERSION_MAGIC while alive (base/assert.h): the committed and staged registries share it */
    _Atomic unsigned refs;
    unsigned number;
    char *label; /* NAME@NUMBER or NAME@$LATEST: the name its loaded instances carry (logs, metrics) */
    char hash[65];
    char hash_b64[48];
    uint64_t size;
    int is_lua;
    char *code_path; /* what it loads from: STATE_DIR/code/HASH.lua|.so (without a state dir: the file it came from) */
    char *source;    /* where it came from: the config's path, or "api" */
    char *description;
    conf_hook_t conf; /* settings; lua / native point at code_path, source_name at source */
    int64_t created_ms;
    hook_fn_t *invoke_fn; /* loaded for an invocation (hook_versions_resolve) while no alias held it: kept for the next ones
                             (warm), until the version goes; set and read under `mutex` */
} version_t;
#define VERSION_MAGIC 0x7e5104b9u

/* a version as one registry holds it: loaded (fn) while an alias of that registry points at it */
typedef struct vref {
    version_t *v;
    hook_fn_t *fn;
} vref_t;

typedef struct target {
    unsigned versions[2];
    double weights[2];
    size_t n;
} target_t;

/* one change of an alias. pos: the set entry whose target this is (itself for a set, the one returned to for a rollback);
 * prev (set entries): the pos that was current before it, -1 for the first: rollbacks walk prev */
typedef struct hist {
    target_t t;
    int64_t at_ms;
    char by[8];
    int rollback;
    long pos, prev;
} hist_t;

typedef struct alias {
    char *name;
    target_t cur; /* = hist[num_hist - 1].t */
    hook_key_kind_t key_kind;
    char key_name[64];
    char *description;
    hist_t *hist;
    size_t num_hist;
} alias_t;

typedef struct entry {
    char *name;
    vref_t latest; /* latest.v NULL only for a deleted hook */
    vref_t *versions;
    size_t num_versions;
    alias_t *aliases;
    size_t num_aliases;
    unsigned next_version;
    char config_fp[65]; /* what the config's file and settings were when the config last set $LATEST ("" none) */
    int deleted; /* removed by hook_versions_delete_hook: kept only so that its numbers are never reused */
} entry_t;

typedef struct registry {
    entry_t *entries;
    size_t num_entries;
} registry_t;

/*
 * A transaction: a private copy of the registry that changes are staged on. Committing writes it to the state dir and makes it
 * the registry (and says what changed in the log); aborting drops it with every version it created (their new code files
 * included), so that a refused reload or a refused admin change leaves no trace.
 */
struct hook_versions_txn {
    registry_t *reg;
    char **new_files; /* code files this transaction wrote */
    size_t num_new_files;
    char **log; /* the log lines of the changes, written at commit */
    size_t num_log;
    hook_versions_err_t err_kind;
};

/* `current` is read under the mutex (GET /hooks, the version of a hook); writers are serialised by the caller, one transaction
 * at a time, and only hold the mutex to swap the pointer at commit */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static registry_t empty_registry;
static registry_t *current = &empty_registry;
static _Atomic int txn_open;
static char *state_dir;    /* NULL: in memory only */
static int state_readonly; /* -t: the state is read, never written (new code is loaded from its own file) */
static int lock_fd = -1;   /* STATE_DIR/hooks/lock, flock'ed: one edgehook per state dir */

#define STATE_FORMAT 1

/* ---- helpers -------------------------------------------------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *r = strdup(s != NULL ? s : "");
    if (r == NULL)
        abort();
    return r;
}

static void *xrealloc(void *p, size_t n)
{
    if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
        abort();
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lambda's time format: 2026-12-02T10:55:00.123+0000 */
static void iso_time(int64_t ms, char out[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];
    gmtime_r(&s, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03d+0000", base, (int)(ms % 1000));
}

static void txn_fail(hook_versions_txn_t *txn, hook_versions_err_t kind, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void txn_fail(hook_versions_txn_t *txn, hook_versions_err_t kind, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    txn->err_kind = kind;
}

static int read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    size_t cap = 0, n;
    *data = NULL;
    *len = 0;
    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    do {
        if (*len + 65536 > cap) {
            cap = cap ? cap * 2 : 131072;
            if (cap > (256u << 20)) {
                snprintf(err, errlen, "%s: too large", path);
                fclose(fp);
                free(*data);
                return -1;
            }
            *data = xrealloc(*data, cap);
        }
        n = fread(*data + *len, 1, cap - *len, fp);
        *len += n;
    } while (n != 0);
    fclose(fp);
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
    if (fd == -1)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

/* writes dir/name durably: a temporary file in dir, fsync, rename over name, fsync dir. A crash leaves the old file or the new
 * one, never a torn one */
static int write_durably(const char *dir, const char *name, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    int fd;
    snprintf(final, sizeof(final), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
    if ((fd = mkstemp(tmp)) == -1) {
        snprintf(err, errlen, "%s: cannot write: %s", final, strerror(errno));
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left != 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto Fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || fchmod(fd, 0644) != 0)
        goto Fail;
    if (close(fd) != 0) {
        fd = -1;
        goto Fail;
    }
    fd = -1;
    if (rename(tmp, final) != 0 || fsync_dir(dir) != 0)
        goto Fail;
    return 0;
Fail:
    snprintf(err, errlen, "%s: cannot write: %s", final, strerror(errno != 0 ? errno : EIO));
    if (fd != -1)
        close(fd);
    unlink(tmp);
    return -1;
}

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1;; ++p) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "%s: cannot create: %s", buf, strerror(errno));
                return -1;
            }
            if ((*p = c) == '\0')
                break;
        }
    }
    return 0;
}

static entry_t *find_entry_any(registry_t *r, const char *name)
{
    for (size_t i = 0; i != r->num_entries; ++i)
        if (strcmp(r->entries[i].name, name) == 0)
            return &r->entries[i];
    return NULL;
}

static entry_t *find_entry(registry_t *r, const char *name)
{
    entry_t *e = find_entry_any(r, name);
    return e != NULL && !e->deleted ? e : NULL;
}

static vref_t *find_version(entry_t *e, unsigned number)
{
    for (size_t i = 0; i != e->num_versions; ++i)
        if (e->versions[i].v->number == number)
            return &e->versions[i];
    return NULL;
}

static alias_t *find_alias(entry_t *e, const char *name)
{
    for (size_t i = 0; i != e->num_aliases; ++i)
        if (strcmp(e->aliases[i].name, name) == 0)
            return &e->aliases[i];
    return NULL;
}

static int parse_key(const char *key, hook_key_kind_t *kind, char *name, size_t namelen)
{
    if (key == NULL || strcmp(key, "ip") == 0) {
        *kind = HOOK_KEY_IP;
        name[0] = '\0';
        return 0;
    }
    const char *colon = strchr(key, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= namelen)
        return -1;
    if (strncmp(key, "cookie:", 7) == 0)
        *kind = HOOK_KEY_COOKIE;
    else if (strncmp(key, "header:", 7) == 0)
        *kind = HOOK_KEY_HEADER;
    else
        return -1;
    snprintf(name, namelen, "%s", colon + 1);
    if (*kind == HOOK_KEY_HEADER)
        for (char *p = name; *p; ++p)
            if (*p >= 'A' && *p <= 'Z')
                *p += 'a' - 'A';
    return 0;
}

static void namelist_dup(conf_namelist_t *dst, const conf_namelist_t *src)
{
    dst->names = calloc(src->count + 1, sizeof(char *));
    if (dst->names == NULL)
        abort();
    for (size_t i = 0; i != src->count; ++i)
        dst->names[i] = xstrdup(src->names[i]);
    dst->count = src->count;
}

static void namelist_free(conf_namelist_t *l)
{
    for (size_t i = 0; i != l->count; ++i)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->count = 0;
}

static int namelist_equal(const conf_namelist_t *a, const conf_namelist_t *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i != a->count; ++i)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return 1;
}

/* whether v is that code with those settings */
static int version_is(const version_t *v, const char *hash, int is_lua, const conf_hook_t *s)
{
    return strcmp(v->hash, hash) == 0 && v->is_lua == is_lua && v->conf.timeout_ms == s->timeout_ms &&
           v->conf.memory_limit == s->memory_limit && v->conf.include_body == s->include_body &&
           v->conf.origin_body == s->origin_body && strcmp(v->conf.config_json, s->config_json != NULL ? s->config_json : "{}") == 0 &&
           namelist_equal(&v->conf.fetch_allow, &s->fetch_allow) && namelist_equal(&v->conf.kv, &s->kv);
}

/* ---- versions --------------------------------------------------------------------------------------------------------------- */

static version_t *version_new(const char *name, unsigned number, const char *hash, uint64_t size, int is_lua, const char *code_path,
                              const char *source, const char *description, const conf_hook_t *settings, int64_t created_ms)
{
    version_t *v = calloc(1, sizeof(*v));
    char label[300];
    if (v == NULL)
        abort();
    v->magic = VERSION_MAGIC;
    atomic_init(&v->refs, 1);
    v->number = number;
    if (number != 0)
        snprintf(label, sizeof(label), "%s@%u", name, number);
    else
        snprintf(label, sizeof(label), "%s@$LATEST", name);
    v->label = xstrdup(label);
    snprintf(v->hash, sizeof(v->hash), "%s", hash);
    unsigned char raw[32];
    for (int i = 0; i != 32; ++i) {
        unsigned hi = (unsigned)(hash[2 * i] <= '9' ? hash[2 * i] - '0' : hash[2 * i] - 'a' + 10);
        unsigned lo = (unsigned)(hash[2 * i + 1] <= '9' ? hash[2 * i + 1] - '0' : hash[2 * i + 1] - 'a' + 10);
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    edge_base64_encode(v->hash_b64, raw, sizeof(raw));
    v->size = size;
    v->is_lua = is_lua;
    v->code_path = xstrdup(code_path);
    v->source = xstrdup(source);
    v->description = xstrdup(description);
    v->created_ms = created_ms;
    v->conf = *settings;
    v->conf.name = v->label;
    v->conf.lua = is_lua ? v->code_path : NULL;
    v->conf.native = is_lua ? NULL : v->code_path;
    v->conf.source_name = v->source;
    /* the settings are the version's own: the configuration they came from may be freed by a reload */
    v->conf.config_json = xstrdup(settings->config_json != NULL ? settings->config_json : "{}");
    namelist_dup(&v->conf.fetch_allow, &settings->fetch_allow);
    namelist_dup(&v->conf.kv, &settings->kv);
    return v;
}

static void version_release(version_t *v)
{
    if (v == NULL)
        return;
    EDGE_CHECK_OBJ(v, VERSION_MAGIC);
    unsigned before = atomic_fetch_sub(&v->refs, 1);
    EDGE_ASSERT(before != 0);
    if (before != 1)
        return;
    if (v->invoke_fn != NULL)
        hook_fn_release(v->invoke_fn);
    free(v->label);
    free(v->code_path);
    free(v->source);
    free(v->description);
    free(v->conf.config_json);
    namelist_free(&v->conf.fetch_allow);
    namelist_free(&v->conf.kv);
    v->magic = 0;
    free(v);
}

static void vref_copy(vref_t *dst, const vref_t *src)
{
    *dst = *src;
    if (dst->v != NULL)
        atomic_fetch_add(&dst->v->refs, 1);
    if (dst->fn != NULL)
        hook_fn_addref(dst->fn);
}

static void vref_clear(vref_t *r)
{
    hook_fn_release(r->fn); /* unloaded once no registry, binding or request holds it */
    version_release(r->v);
    r->fn = NULL;
    r->v = NULL;
}

/* ---- registries and transactions ------------------------------------------------------------------------------------------ */

static void alias_copy(alias_t *d, const alias_t *a)
{
    *d = *a;
    d->name = xstrdup(a->name);
    d->description = xstrdup(a->description);
    d->hist = xrealloc(NULL, sizeof(hist_t) * (a->num_hist + 1));
    memcpy(d->hist, a->hist, sizeof(hist_t) * a->num_hist);
}

static void alias_free(alias_t *a)
{
    free(a->name);
    free(a->description);
    free(a->hist);
}

static void entry_clear(entry_t *e)
{
    vref_clear(&e->latest);
    for (size_t k = 0; k != e->num_versions; ++k)
        vref_clear(&e->versions[k]);
    for (size_t k = 0; k != e->num_aliases; ++k)
        alias_free(&e->aliases[k]);
    free(e->versions);
    free(e->aliases);
    e->versions = NULL;
    e->aliases = NULL;
    e->num_versions = e->num_aliases = 0;
}

/* a copy sharing the versions (and their loaded instances) of r */
static registry_t *registry_copy(const registry_t *r)
{
    registry_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->entries = calloc(r->num_entries + 1, sizeof(entry_t))) == NULL)
        abort();
    c->num_entries = r->num_entries;
    for (size_t i = 0; i != r->num_entries; ++i) {
        const entry_t *e = &r->entries[i];
        entry_t *d = &c->entries[i];
        d->name = xstrdup(e->name);
        d->next_version = e->next_version;
        memcpy(d->config_fp, e->config_fp, sizeof(d->config_fp));
        d->deleted = e->deleted;
        vref_copy(&d->latest, &e->latest);
        d->versions = xrealloc(NULL, sizeof(vref_t) * (e->num_versions + 1));
        d->aliases = xrealloc(NULL, sizeof(alias_t) * (e->num_aliases + 1));
        for (size_t k = 0; k != e->num_versions; ++k)
            vref_copy(&d->versions[k], &e->versions[k]);
        d->num_versions = e->num_versions;
        for (size_t k = 0; k != e->num_aliases; ++k)
            alias_copy(&d->aliases[k], &e->aliases[k]);
        d->num_aliases = e->num_aliases;
    }
    return c;
}

static void registry_free(registry_t *r)
{
    if (r == NULL || r == &empty_registry)
        return;
    for (size_t i = 0; i != r->num_entries; ++i) {
        entry_clear(&r->entries[i]);
        free(r->entries[i].name);
    }
    free(r->entries);
    free(r);
}

static void txn_log(hook_versions_txn_t *txn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void txn_log(hook_versions_txn_t *txn, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    txn->log = xrealloc(txn->log, sizeof(char *) * (txn->num_log + 1));
    txn->log[txn->num_log++] = xstrdup(line);
}

hook_versions_txn_t *hook_versions_begin(void)
{
    hook_versions_txn_t *txn = calloc(1, sizeof(*txn));
    if (txn == NULL)
        abort();
    if (atomic_exchange(&txn_open, 1) != 0) {
        /* writers are serialised by the caller (the control thread): two at once would lose one's changes */
        log_error("hook registry: a second transaction was opened while one is open");
        abort();
    }
    pthread_mutex_lock(&mutex);
    txn->reg = registry_copy(current);
    pthread_mutex_unlock(&mutex);
    return txn;
}

hook_versions_err_t hook_versions_error_kind(const hook_versions_txn_t *txn)
{
    return txn->err_kind;
}

static void txn_free(hook_versions_txn_t *txn)
{
    for (size_t i = 0; i != txn->num_new_files; ++i)
        free(txn->new_files[i]);
    free(txn->new_files);
    for (size_t i = 0; i != txn->num_log; ++i)
        free(txn->log[i]);
    free(txn->log);
    free(txn);
    atomic_store(&txn_open, 0);
}

static char *registry_json(const registry_t *r, int state);

/* writes the staged registry to STATE_DIR/hooks/state.json (nothing without a state dir or with a read-only one) */
static int save_state(const registry_t *r, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (state_dir == NULL || state_readonly)
        return 0;
    snprintf(dir, sizeof(dir), "%s/hooks", state_dir);
    char *json = registry_json(r, 1);
    int ret = write_durably(dir, "state.json", json, strlen(json), err, errlen);
    free(json);
    return ret;
}

int hook_versions_commit(hook_versions_txn_t *txn, char *err, size_t errlen)
{
    registry_t *old;
    if (txn == NULL)
        return 0;
    /* on disk first: a change that cannot be kept does not happen */
    if (save_state(txn->reg, err, errlen) != 0) {
        log_error("hook registry: change refused, the state stays as it was: %s", err);
        hook_versions_abort(txn);
        return -1;
    }
    pthread_mutex_lock(&mutex);
    old = current;
    current = txn->reg;
    pthread_mutex_unlock(&mutex);
    for (size_t i = 0; i != txn->num_log; ++i)
        log_info("%s", txn->log[i]);
    registry_free(old); /* versions no alias holds any more are unloaded once their last request ends */
    txn_free(txn);
    return 0;
}

void hook_versions_abort(hook_versions_txn_t *txn)
{
    if (txn == NULL)
        return;
    registry_free(txn->reg); /* the versions it created go with it */
    for (size_t i = 0; i != txn->num_new_files; ++i)
        unlink(txn->new_files[i]);
    if (txn->num_log != 0)
        log_debug("hook registry: %zu staged change(s) dropped", txn->num_log);
    txn_free(txn);
}

/* keeps loaded exactly the versions some alias points at */
static void sync_loaded(entry_t *e)
{
    for (size_t i = 0; i != e->num_versions; ++i) {
        vref_t *r = &e->versions[i];
        int used = 0;
        for (size_t a = 0; a != e->num_aliases && !used; ++a)
            for (size_t k = 0; k != e->aliases[a].cur.n; ++k)
                if (e->aliases[a].cur.versions[k] == r->v->number)
                    used = 1;
        if (used && r->fn == NULL) {
            char err[512];
            if ((r->fn = hook_fn_load(&r->v->conf, err, sizeof(err))) == NULL)
                log_error("hook %s@%u: %s", e->name, r->v->number, err);
        } else if (!used && r->fn != NULL) {
            /* requests still running on it keep it until they end; then it is unloaded */
            hook_fn_release(r->fn);
            r->fn = NULL;
        }
    }
}

/* ---- code ------------------------------------------------------------------------------------------------------------------- */

/*
 * Stores code (len bytes with sha256 `hash`) content-addressed as STATE_DIR/code/HASH.lua|.so (kept if it is there already; a
 * new file is removed again if txn is aborted). Without a writable state dir the code stays where it is: `source_path` (NULL:
 * STORAGE error). The path is written to out.
 */
static int code_store(hook_versions_txn_t *txn, const void *data, size_t len, const char *hash, int is_lua, const char *source_path,
                      char *out, size_t outlen, char *err, size_t errlen)
{
    char dir[PATH_MAX], name[80];
    struct stat st;
    if (state_dir == NULL || state_readonly) {
        if (source_path == NULL) {
            txn_fail(txn, HOOK_VERSIONS_STORAGE, err, errlen, "no state dir to keep the code in");
            return -1;
        }
        snprintf(out, outlen, "%s", source_path);
        return 0;
    }
    snprintf(name, sizeof(name), "%s.%s", hash, is_lua ? "lua" : "so");
    if ((size_t)snprintf(dir, sizeof(dir), "%s/code", state_dir) >= sizeof(dir) ||
        (size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen) {
        txn_fail(txn, HOOK_VERSIONS_STORAGE, err, errlen, "%s: path too long", state_dir);
        return -1;
    }
    if (stat(out, &st) == 0 && (uint64_t)st.st_size == len)
        return 0;
    if (write_durably(dir, name, data, len, err, errlen) != 0) {
        txn->err_kind = HOOK_VERSIONS_STORAGE;
        return -1;
    }
    txn->new_files = xrealloc(txn->new_files, sizeof(char *) * (txn->num_new_files + 1));
    txn->new_files[txn->num_new_files++] = xstrdup(out);
    return 0;
}

/* a message about the stored copy names where the code came from */
static void name_source(char *err, size_t errlen, const char *code_path, const char *source)
{
    char *p = strstr(err, code_path);
    if (p != NULL && strcmp(code_path, source) != 0) {
        char tail[1024];
        snprintf(tail, sizeof(tail), "%s", p + strlen(code_path));
        snprintf(p, errlen - (size_t)(p - err), "%s%s", source, tail);
    }
}

static entry_t *entry_get_or_create(registry_t *r, const char *name)
{
    entry_t *e = find_entry_any(r, name);
    if (e == NULL) {
        r->entries = xrealloc(r->entries, sizeof(*r->entries) * (r->num_entries + 1));
        e = &r->entries[r->num_entries++];
        memset(e, 0, sizeof(*e));
        e->name = xstrdup(name);
        e->next_version = 1;
    }
    e->deleted = 0;
    return e;
}

/*
 * Makes (data, len) with `settings` the `$LATEST` of hook `name` in txn (created if it does not exist, when create), unless
 * it is that already: the code is stored and loaded first (refused if it does not load). *changed: whether $LATEST changed.
 * Returns the entry, or NULL with a reason.
 */
static entry_t *set_latest(hook_versions_txn_t *txn, const char *name, const char *data, size_t len, int is_lua, const char *source,
                           const char *source_path, const conf_hook_t *settings, int create, int *changed, char *err, size_t errlen)
{
    char hash[65], path[PATH_MAX];
    entry_t *e = find_entry(txn->reg, name);
    *changed = 0;
    if (e == NULL && !create) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        return NULL;
    }
    edge_sha256_hex(data, len, hash);
    if (e != NULL && e->latest.v != NULL && version_is(e->latest.v, hash, is_lua, settings))
        return e;
    if (code_store(txn, data, len, hash, is_lua, source_path, path, sizeof(path), err, errlen) != 0)
        return NULL;
    version_t *v = version_new(name, 0, hash, len, is_lua, path, source, "", settings, now_ms());
    /* loading validates it (syntax, handler, ABI) before it becomes $LATEST */
    hook_fn_t *fn = hook_fn_load(&v->conf, err, errlen);
    if (fn == NULL) {
        name_source(err, errlen, path, source_path != NULL ? source_path : source);
        txn->err_kind = HOOK_VERSIONS_INVALID;
        version_release(v);
        return NULL;
    }
    e = entry_get_or_create(txn->reg, name);
    vref_clear(&e->latest);
    e->latest = (vref_t){v, fn}; /* kept: what NAME@$LATEST and an unqualified invoke run (its versions load on their own) */
    *changed = 1;
    return e;
}

static _Atomic(hook_versions_claim_fn) claim_fn; /* set while a fleet runs */

void hook_versions_set_claim(hook_versions_claim_fn fn)
{
    atomic_store(&claim_fn, fn);
}

static void json_code(hook_buf_t *b, const version_t *v);

/* the version of e with $LATEST's code and settings, or a new one (*created); claim: an API publish, whose number is claimed
 * through claim_fn (the fleet) when one is set. NULL (claim refused) with the reason. */
static vref_t *version_of_latest(hook_versions_txn_t *txn, entry_t *e, const char *description, int *created, int claim, char *err,
                                 size_t errlen)
{
    version_t *l = e->latest.v;
    *created = 0;
    for (size_t i = 0; i != e->num_versions; ++i)
        if (version_is(e->versions[i].v, l->hash, l->is_lua, &l->conf))
            return &e->versions[i];
    unsigned number = e->next_version;
    int64_t created_ms = now_ms();
    hook_versions_claim_fn cf = claim ? atomic_load(&claim_fn) : NULL;
    if (cf != NULL) {
        /* the record the fleet writes: the version's code and settings, as hook_versions_json gives them */
        version_t *tmp = version_new(e->name, number, l->hash, l->size, l->is_lua, l->code_path, l->source, description, &l->conf,
                                     created_ms);
        hook_buf_t rec = {NULL, 0, 0};
        hook_buf_append(&rec, "{", 1);
        json_code(&rec, tmp);
        hook_buf_append(&rec, "}", 1);
        version_release(tmp);
        for (int tries = 0;; ++tries) {
            int r = tries < 1000 ? cf(e->name, number, rec.base, rec.len, l->code_path, err, errlen) : -1;
            if (r == 1) { /* another node has this number: the next one */
                ++number;
                continue;
            }
            if (r == -2) {
                hook_buf_free(&rec);
                txn->err_kind = HOOK_VERSIONS_INVALID;
                return NULL;
            }
            break; /* claimed, or not written to the fleet (it holds here only: logged by the fleet) */
        }
        hook_buf_free(&rec);
    }
    e->next_version = number + 1;
    version_t *v =
        version_new(e->name, number, l->hash, l->size, l->is_lua, l->code_path, l->source, description, &l->conf, created_ms);
    e->versions = xrealloc(e->versions, sizeof(*e->versions) * (e->num_versions + 1));
    e->versions[e->num_versions] = (vref_t){v, NULL}; /* loaded when an alias points here (sync_loaded) */
    *created = 1;
    txn_log(txn, "hook %s: version %u published from %s (sha256 %.12s)", e->name, number, l->source, l->hash);
    return &e->versions[e->num_versions++];
}

/* ---- aliases ---------------------------------------------------------------------------------------------------------------- */

static alias_t *alias_get_or_create(entry_t *e, const char *name, hook_key_kind_t kind, const char *key_name)
{
    alias_t *a = find_alias(e, name);
    if (a == NULL) {
        e->aliases = xrealloc(e->aliases, sizeof(*e->aliases) * (e->num_aliases + 1));
        a = &e->aliases[e->num_aliases++];
        memset(a, 0, sizeof(*a));
        a->name = xstrdup(name);
        a->description = xstrdup("");
        a->key_kind = kind;
        snprintf(a->key_name, sizeof(a->key_name), "%s", key_name);
    }
    return a;
}

/* an alias keeps its last HIST_MAX targets: the oldest goes, and the links into it are cut (a rollback entry that returned
 * to it becomes a target of its own, where walks back end) */
#define HIST_MAX 256
static void hist_drop_oldest(alias_t *a)
{
    memmove(a->hist, a->hist + 1, sizeof(hist_t) * --a->num_hist);
    for (size_t i = 0; i != a->num_hist; ++i) {
        hist_t *h = &a->hist[i];
        h->prev = h->prev > 0 ? h->prev - 1 : -1;
        if (--h->pos < 0) {
            h->pos = (long)i;
            h->rollback = 0;
            h->prev = -1;
        }
    }
}

static void alias_push(alias_t *a, const target_t *t, const char *by, int rollback, long pos)
{
    hist_t h;
    if (a->num_hist == HIST_MAX) {
        hist_drop_oldest(a);
        --pos;
        if (rollback && pos < 0)
            rollback = 0;
    }
    memset(&h, 0, sizeof(h));
    h.t = *t;
    h.at_ms = now_ms();
    snprintf(h.by, sizeof(h.by), "%s", by);
    h.rollback = rollback;
    if (rollback) {
        h.pos = pos;
        h.prev = -1;
    } else {
        h.pos = (long)a->num_hist;
        h.prev = a->num_hist != 0 ? a->hist[a->num_hist - 1].pos : -1;
    }
    a->hist = xrealloc(a->hist, sizeof(hist_t) * (a->num_hist + 1));
    a->hist[a->num_hist++] = h;
    a->cur = *t;
}

static int target_is(const target_t *t, unsigned version)
{
    return t->n == 1 && t->versions[0] == version;
}

static void describe_target(const target_t *t, char *out, size_t outlen)
{
    if (t->n == 1)
        snprintf(out, outlen, "version %u", t->versions[0]);
    else
        snprintf(out, outlen, "version %u (%g) and %u (%g)", t->versions[0], t->weights[0], t->versions[1], t->weights[1]);
}

/* ---- the configuration ------------------------------------------------------------------------------------------------------ */

/* a digest of a config's hook: its code and its settings */
static void config_fingerprint(const conf_hook_t *c, const char *data, size_t len, char out[65])
{
    hook_buf_t b = {NULL, 0, 0};
    char hash[65];
    edge_sha256_hex(data, len, hash);
    hook_buf_appendf(&b, "%s %s %lld %llu %d %s", hash, c->lua != NULL ? "lua" : "so", (long long)c->timeout_ms,
                     (unsigned long long)c->memory_limit, c->include_body, c->config_json != NULL ? c->config_json : "{}");
    if (c->origin_body != 0)
        hook_buf_appendf(&b, " o:%llu", (unsigned long long)c->origin_body);
    for (size_t i = 0; i != c->fetch_allow.count; ++i)
        hook_buf_appendf(&b, " f:%s", c->fetch_allow.names[i]);
    for (size_t i = 0; i != c->kv.count; ++i)
        hook_buf_appendf(&b, " k:%s", c->kv.names[i]);
    edge_sha256_hex(b.base, b.len, out);
    hook_buf_free(&b);
}

unsigned hook_versions_from_config(hook_versions_txn_t *txn, const conf_hook_t *conf, char *err, size_t errlen)
{
    int is_lua = conf->lua != NULL, changed, created;
    const char *path = is_lua ? conf->lua : conf->native;
    char *data, fp[65];
    size_t len;
    entry_t *e;
    if (read_file(path, &data, &len, err, errlen) != 0) {
        txn->err_kind = HOOK_VERSIONS_INVALID;
        return 0;
    }
    config_fingerprint(conf, data, len, fp);
    if ((e = find_entry(txn->reg, conf->name)) != NULL && strcmp(e->config_fp, fp) == 0) {
        /* the file and settings the config brought last time: nothing to do ($LATEST may be the API's code since) */
        free(data);
        return find_alias(e, "live")->cur.versions[0];
    }
    e = set_latest(txn, conf->name, data, len, is_lua, path, path, conf, 1, &changed, err, errlen);
    free(data);
    if (e == NULL)
        return 0;
    memcpy(e->config_fp, fp, sizeof(fp));
    vref_t *r = version_of_latest(txn, e, "", &created, 0, err, errlen);
    unsigned number = r->v->number;
    alias_t *live = find_alias(e, "live");
    target_t t = {{number, 0}, {1.0, 0}, 1};
    if (live == NULL) {
        live = alias_get_or_create(e, "live", HOOK_KEY_IP, "");
        alias_push(live, &t, "config", 0, 0);
        txn_log(txn, "hook %s: alias live -> version %u (from the configuration)", conf->name, number);
    } else if (!target_is(&live->cur, number)) {
        const hist_t *last = &live->hist[live->num_hist - 1];
        if (strcmp(last->by, "config") == 0) {
            /* the config is the source of `live` until a person sets it */
            alias_push(live, &t, "config", 0, 0);
            txn_log(txn, "hook %s: alias live -> version %u (from the configuration)", conf->name, number);
        } else if (changed) {
            char cur[128], at[40];
            describe_target(&live->cur, cur, sizeof(cur));
            iso_time(last->at_ms, at);
            txn_log(txn, "hook %s: live stays at %s; set by %s at %s; %s version %u %s, move it with update-alias", conf->name, cur,
                    last->by, at, created ? "new" : "the configuration's file is", number, created ? "published" : "again");
        }
    }
    sync_loaded(e);
    return number;
}

int hook_versions_conf_uses(const conf_t *conf, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i != conf->num_behaviors; ++i)
        for (int ev = 0; ev != CONF_HOOK_NUM; ++ev) {
            const char *ref = conf->behaviors[i].hooks[ev];
            if (ref != NULL && strncmp(ref, name, nlen) == 0 && (ref[nlen] == '\0' || ref[nlen] == '@'))
                return 1;
        }
    return 0;
}

/* ---- the API ---------------------------------------------------------------------------------------------------------------- */

int hook_versions_update_code(hook_versions_txn_t *txn, const char *name, const void *code, size_t len, const char *ext, char *err,
                              size_t errlen)
{
    entry_t *e = find_entry(txn->reg, name);
    int is_lua, changed;
    if (e == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        return -1;
    }
    if (ext == NULL || (strcmp(ext, "lua") != 0 && strcmp(ext, "so") != 0)) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "the code is a .lua file or a .so plugin");
        return -1;
    }
    is_lua = strcmp(ext, "lua") == 0;
    char source[300];
    snprintf(source, sizeof(source), "%s.%s", name, ext);
    if (set_latest(txn, name, code, len, is_lua, source, NULL, &e->latest.v->conf, 0, &changed, err, errlen) == NULL)
        return -1;
    if (changed)
        txn_log(txn, "hook %s: $LATEST updated (sha256 %.12s)", name, find_entry(txn->reg, name)->latest.v->hash);
    return 0;
}

int hook_versions_publish_latest(hook_versions_txn_t *txn, const char *name, const char *expect_sha256_b64, const char *description,
                                 unsigned *out_version, char *err, size_t errlen)
{
    entry_t *e = find_entry(txn->reg, name);
    int created;
    if (e == NULL || e->latest.v == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        return -1;
    }
    if (expect_sha256_b64 != NULL && strcmp(expect_sha256_b64, e->latest.v->hash_b64) != 0) {
        txn_fail(txn, HOOK_VERSIONS_PRECONDITION, err, errlen, "CodeSha256 %s does not match $LATEST's (%s)", expect_sha256_b64,
                 e->latest.v->hash_b64);
        return -1;
    }
    vref_t *r = version_of_latest(txn, e, description != NULL ? description : "", &created, 1, err, errlen);
    if (r == NULL)
        return -1;
    *out_version = r->v->number;
    sync_loaded(e);
    return 0;
}

unsigned hook_versions_publish(hook_versions_txn_t *txn, const char *name, const char *path, char *err, size_t errlen)
{
    entry_t *e = find_entry(txn->reg, name);
    size_t plen = strlen(path), len;
    int is_lua = plen > 4 && strcmp(path + plen - 4, ".lua") == 0, changed, created;
    char *data;
    if (e == NULL || e->latest.v == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        return 0;
    }
    if (read_file(path, &data, &len, err, errlen) != 0) {
        txn->err_kind = HOOK_VERSIONS_INVALID;
        return 0;
    }
    /* the settings of $LATEST carry over */
    e = set_latest(txn, name, data, len, is_lua, path, path, &e->latest.v->conf, 0, &changed, err, errlen);
    free(data);
    if (e == NULL)
        return 0;
    vref_t *r = version_of_latest(txn, e, "", &created, 1, err, errlen);
    if (r == NULL)
        return 0;
    unsigned number = r->v->number;
    sync_loaded(e); /* a version no alias uses yet is not kept loaded */
    return number;
}

static version_t *load_version(const char *file, const char *name, unsigned number, const hook_json_t *o, char *err, size_t errlen);

int hook_versions_add_version(hook_versions_txn_t *txn, const char *name, unsigned number, const hook_json_t *record, const void *code,
                              size_t len, unsigned *out_version, char *err, size_t errlen)
{
    entry_t *e = find_entry(txn->reg, name);
    const char *want = hook_json_string(hook_json_get(record, "sha256"), NULL), *ext = hook_json_string(hook_json_get(record, "ext"), NULL);
    char hash[65], path[PATH_MAX];
    *out_version = 0;
    if (e == NULL || e->latest.v == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\" here", name);
        return -1;
    }
    if (number == 0 || want == NULL || ext == NULL || (strcmp(ext, "lua") != 0 && strcmp(ext, "so") != 0)) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "a version without its number, sha256 or ext");
        return -1;
    }
    /* the code is checked against its sha256 before anything is stored or loaded */
    edge_sha256_hex(code, len, hash);
    if (strcmp(hash, want) != 0) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "the code's sha256 is %.12s, the version says %.12s: refused", hash, want);
        return -1;
    }
    if (state_dir == NULL || state_readonly) {
        txn_fail(txn, HOOK_VERSIONS_STORAGE, err, errlen, "no state dir to keep the code in");
        return -1;
    }
    if (code_store(txn, code, len, hash, strcmp(ext, "lua") == 0, NULL, path, sizeof(path), err, errlen) != 0)
        return -1;
    version_t *v = load_version("fleet", name, number, record, err, errlen);
    if (v == NULL) {
        char *tail = strstr(err, " (the hook versions and aliases kept there");
        if (tail != NULL)
            *tail = '\0';
        txn->err_kind = HOOK_VERSIONS_INVALID;
        return -1;
    }
    if (v->size != len) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "the version says %llu bytes, its code is %zu", (unsigned long long)v->size, len);
        version_release(v);
        return -1;
    }
    vref_t *have = find_version(e, number);
    if (have != NULL && version_is(have->v, v->hash, v->is_lua, &v->conf)) {
        version_release(v); /* this node has it (its own publish coming back, or one seen before) */
        *out_version = number;
        return 0;
    }
    /* loading validates it (syntax, handler, ABI) as a local publish does */
    hook_fn_t *fn = hook_fn_load(&v->conf, err, errlen);
    if (fn == NULL) {
        txn->err_kind = HOOK_VERSIONS_INVALID;
        version_release(v);
        return -1;
    }
    hook_fn_release(fn);
    if (have != NULL) {
        /* this number is other code here (published while the fleet was away): the version gets this node's next number; an
         * alias's target names it by its sha256 */
        unsigned mine = e->next_version;
        version_t *w = version_new(name, mine, v->hash, v->size, v->is_lua, v->code_path, v->source, v->description, &v->conf,
                                   v->created_ms);
        txn_log(txn, "hook %s: version %u of the fleet is version %u here (version %u here is other code, sha256 %.12s)", name, number,
                mine, number, have->v->hash);
        version_release(v);
        v = w;
        number = mine;
    }
    if (e->next_version <= number)
        e->next_version = number + 1;
    e->versions = xrealloc(e->versions, sizeof(*e->versions) * (e->num_versions + 1));
    size_t at = e->num_versions;
    while (at > 0 && e->versions[at - 1].v->number > number) { /* oldest first */
        e->versions[at] = e->versions[at - 1];
        --at;
    }
    e->versions[at] = (vref_t){v, NULL};
    ++e->num_versions;
    txn_log(txn, "hook %s: version %u published from the fleet (sha256 %.12s)", name, number, v->hash);
    sync_loaded(e);
    *out_version = number;
    return 0;
}

int hook_versions_set_alias_by(hook_versions_txn_t *txn, const char *name, const char *alias, const unsigned *versions,
                               const double *weights, size_t n, const char *key, const char *description, const char *by, char *err,
                               size_t errlen)
{
    entry_t *e;
    hook_key_kind_t kind;
    char key_name[64];
    double sum = 0;
    if ((e = find_entry(txn->reg, name)) == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        return -1;
    }
    if (alias[0] == '\0' || strlen(alias) > 64 ||
        strspn(alias, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.") != strlen(alias)) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "an alias name is letters, - _ . (digits would read as a version)");
        return -1;
    }
    if (n < 1 || n > 2) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "an alias points at one version, or two with weights");
        return -1;
    }
    for (size_t i = 0; i != n; ++i) {
        if (find_version(e, versions[i]) == NULL) {
            txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "hook %s has no version %u", name, versions[i]);
            return -1;
        }
        if (!(weights[i] > 0 && weights[i] <= 1)) {
            txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "weights are between 0 and 1");
            return -1;
        }
        sum += weights[i];
    }
    if (n == 2 && versions[0] == versions[1]) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "the two versions of a split must differ");
        return -1;
    }
    if (sum < 0.999999 || sum > 1.000001) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "the weights must sum to 1 (they sum to %g)", sum);
        return -1;
    }
    alias_t *cur = find_alias(e, alias);
    if (key == NULL && cur != NULL) {
        kind = cur->key_kind;
        snprintf(key_name, sizeof(key_name), "%s", cur->key_name);
    } else if (parse_key(key, &kind, key_name, sizeof(key_name)) != 0) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "key must be ip, cookie:NAME or header:NAME");
        return -1;
    }
    target_t t;
    memset(&t, 0, sizeof(t));
    memcpy(t.versions, versions, sizeof(unsigned) * n);
    memcpy(t.weights, weights, sizeof(double) * n);
    t.n = n;
    alias_t *a = alias_get_or_create(e, alias, kind, key_name);
    a->key_kind = kind;
    snprintf(a->key_name, sizeof(a->key_name), "%s", key_name);
    if (description != NULL) {
        free(a->description);
        a->description = xstrdup(description);
    }
    alias_push(a, &t, by != NULL ? by : "admin", 0, 0);
    sync_loaded(e);
    char desc[128];
    describe_target(&t, desc, sizeof(desc));
    txn_log(txn, "hook %s: alias %s -> %s (set by %s)", name, alias, desc, a->hist[a->num_hist - 1].by);
    return 0;
}

int hook_versions_set_alias(hook_versions_txn_t *txn, const char *name, const char *alias, const unsigned *versions,
                            const double *weights, size_t n, const char *key, char *err, size_t errlen)
{
    return hook_versions_set_alias_by(txn, name, alias, versions, weights, n, key, NULL, "admin", err, errlen);
}

int hook_versions_delete_alias(hook_versions_txn_t *txn, const char *name, const char *alias, char *err, size_t errlen)
{
    entry_t *e;
    alias_t *a;
    if ((e = find_entry(txn->reg, name)) == NULL || (a = find_alias(e, alias)) == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no alias %s of hook %s", alias, name);
        return -1;
    }
    if (strcmp(alias, "live") == 0) {
        txn_fail(txn, HOOK_VERSIONS_CONFLICT, err, errlen, "the live alias cannot be removed (move it instead)");
        return -1;
    }
    alias_free(a);
    *a = e->aliases[--e->num_aliases];
    sync_loaded(e);
    txn_log(txn, "hook %s: alias %s removed", name, alias);
    return 0;
}

int hook_versions_rollback(hook_versions_txn_t *txn, const char *name, const char *alias, unsigned steps, const char *by, char *err,
                           size_t errlen)
{
    entry_t *e;
    alias_t *a;
    if ((e = find_entry(txn->reg, name)) == NULL || (a = find_alias(e, alias)) == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no alias %s of hook %s", alias, name);
        return -1;
    }
    if (steps == 0) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "steps is 1 or more");
        return -1;
    }
    long pos = a->hist[a->num_hist - 1].pos;
    for (unsigned i = 0; i != steps; ++i) {
        if ((pos = a->hist[pos].prev) < 0) {
            if (i == 0)
                txn_fail(txn, HOOK_VERSIONS_CONFLICT, err, errlen, "alias %s of hook %s has no earlier target", alias, name);
            else
                txn_fail(txn, HOOK_VERSIONS_CONFLICT, err, errlen, "alias %s of hook %s has %u earlier target%s, not %u", alias,
                         name, i, i == 1 ? "" : "s", steps);
            return -1;
        }
    }
    target_t t = a->hist[pos].t;
    alias_push(a, &t, by != NULL ? by : "admin", 1, pos);
    sync_loaded(e);
    char desc[128];
    describe_target(&t, desc, sizeof(desc));
    txn_log(txn, "hook %s: alias %s rolled back %u step%s to %s (by %s)", name, alias, steps, steps == 1 ? "" : "s", desc,
            a->hist[a->num_hist - 1].by);
    return 0;
}

int hook_versions_delete_hook(hook_versions_txn_t *txn, const char *name, char *err, size_t errlen)
{
    entry_t *e = find_entry(txn->reg, name);
    if (e == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        return -1;
    }
    entry_clear(e);
    e->config_fp[0] = '\0'; /* a config that still declares it brings it back at the next reload */
    e->deleted = 1; /* its numbers stay used */
    txn_log(txn, "hook %s: removed with its versions and aliases", name);
    return 0;
}

/* ---- binding -------------------------------------------------------------------------------------------------------------- */

void hook_binding_free(hook_binding_t *b)
{
    for (int i = 0; i != 2; ++i) {
        if (b->fn[i] != NULL)
            hook_fn_release(b->fn[i]);
        edge_series_release(b->picks[i]);
    }
    memset(b, 0, sizeof(*b));
}

static hook_fn_t *fn_of(vref_t *r, char *err, size_t errlen)
{
    if (r->fn != NULL) {
        hook_fn_addref(r->fn);
        return r->fn;
    }
    /* a version no alias points at (pinned by NAME@VERSION): its own instance */
    return hook_fn_load(&r->v->conf, err, errlen);
}

int hook_versions_bind(hook_versions_txn_t *txn, const char *ref, int type, hook_binding_t *out, char *err, size_t errlen)
{
    char name[256];
    const char *at = strchr(ref, '@'), *target = at != NULL ? at + 1 : "live";
    size_t nlen = at != NULL ? (size_t)(at - ref) : strlen(ref);
    entry_t *e;
    memset(out, 0, sizeof(*out));
    out->weight0 = 1.0;
    if (nlen >= sizeof(name)) {
        txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "hook name too long");
        return -1;
    }
    memcpy(name, ref, nlen);
    name[nlen] = '\0';
    if ((e = find_entry(txn->reg, name)) == NULL) {
        txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "no hook named \"%s\"", name);
        goto Fail;
    }
    if (strcmp(target, "$LATEST") == 0) {
        if ((out->fn[0] = fn_of(&e->latest, err, errlen)) == NULL)
            goto Fail;
    } else if (target[0] >= '0' && target[0] <= '9') {
        char *end;
        unsigned long n = strtoul(target, &end, 10);
        vref_t *r = *end == '\0' ? find_version(e, (unsigned)n) : NULL;
        if (r == NULL) {
            txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "hook %s has no version %s (its numbers go up to %u)", name, target,
                     e->next_version - 1);
            goto Fail;
        }
        if ((out->fn[0] = fn_of(r, err, errlen)) == NULL)
            goto Fail;
        out->version[0] = r->v->number;
    } else {
        alias_t *a = find_alias(e, target);
        if (a == NULL) {
            log_warn("hook %s: alias %s does not exist (yet): it serves like live", name, target);
            a = find_alias(e, "live");
        }
        if (a == NULL) {
            txn_fail(txn, HOOK_VERSIONS_NOT_FOUND, err, errlen, "hook %s has no live alias", name);
            goto Fail;
        }
        for (size_t i = 0; i != a->cur.n; ++i) {
            vref_t *r = find_version(e, a->cur.versions[i]);
            if ((out->fn[i] = fn_of(r, err, errlen)) == NULL)
                goto Fail;
            out->version[i] = r->v->number;
        }
        out->weight0 = a->cur.n == 2 ? a->cur.weights[0] : 1.0;
        out->key_kind = a->key_kind;
        snprintf(out->key_name, sizeof(out->key_name), "%s", a->key_name);
        snprintf(out->alias, sizeof(out->alias), "%s", target);
        for (size_t i = 0; i != a->cur.n; ++i) {
            char key[400];
            snprintf(key, sizeof(key), "%s@%s %u", name, target, out->version[i]);
            out->picks[i] = edge_series_get("alias", key, 1);
        }
    }
    for (int i = 0; i != 2; ++i) {
        if (out->fn[i] == NULL)
            continue;
        if (!hook_fn_handles(out->fn[i], type)) {
            txn_fail(txn, HOOK_VERSIONS_INVALID, err, errlen, "%s@%u does not handle %s events", name, out->version[i],
                     hook_event_type_name(type));
            goto Fail;
        }
        if (out->version[i] != 0)
            snprintf(out->label[i], sizeof(out->label[i]), "%s@%u", name, out->version[i]);
        else
            snprintf(out->label[i], sizeof(out->label[i]), "%s@$LATEST", name);
    }
    return 0;
Fail:
    hook_binding_free(out);
    return -1;
}

hook_fn_t *hook_versions_resolve(const char *name, const char *qualifier, double u, unsigned *version, int *loaded_now, char *err,
                                 size_t errlen)
{
    int as_latest = 0;
    hook_fn_t *fn = NULL;
    version_t *v = NULL;
    vref_t *r = NULL;
    *loaded_now = 0;
    pthread_mutex_lock(&mutex);
    entry_t *e = find_entry(current, name);
    if (e == NULL) {
        snprintf(err, errlen, "Function not found: %s", name);
    } else if (qualifier == NULL || qualifier[0] == '\0' || strcmp(qualifier, "$LATEST") == 0) {
        r = &e->latest; /* version 0 */
        /* not loaded (after a restart): the same code and settings loaded as a version will do */
        for (size_t i = 0; r->fn == NULL && i != e->num_versions; ++i)
            if (e->versions[i].fn != NULL && version_is(e->versions[i].v, r->v->hash, r->v->is_lua, &r->v->conf))
                r = &e->versions[i];
        as_latest = 1;
    } else if (qualifier[0] >= '0' && qualifier[0] <= '9') {
        char *end;
        unsigned long n = strtoul(qualifier, &end, 10);
        if (*end != '\0' || (r = find_version(e, (unsigned)n)) == NULL)
            snprintf(err, errlen, "Function not found: %s:%s (no such version)", name, qualifier);
    } else {
        alias_t *a = find_alias(e, qualifier);
        if (a == NULL)
            snprintf(err, errlen, "Function not found: %s:%s (no such alias)", name, qualifier);
        else
            r = find_version(e, a->cur.versions[a->cur.n == 2 && u >= a->cur.weights[0] ? 1 : 0]);
    }
    if (r != NULL) {
        *version = as_latest ? 0 : r->v->number;
        if ((fn = r->fn != NULL ? r->fn : r->v->invoke_fn) != NULL) {
            hook_fn_addref(fn);
        } else {
            v = r->v; /* loaded below, out of the lock */
            atomic_fetch_add(&v->refs, 1);
        }
    }
    pthread_mutex_unlock(&mutex);
    if (v != NULL) {
        fn = hook_fn_load(&v->conf, err, errlen);
        *loaded_now = fn != NULL;
        pthread_mutex_lock(&mutex);
        if (fn != NULL && v->invoke_fn == NULL) { /* the next invocations find it loaded */
            hook_fn_addref(fn);
            v->invoke_fn = fn;
        }
        pthread_mutex_unlock(&mutex);
        version_release(v);
    }
    return fn;
}

unsigned hook_versions_number_of(const hook_fn_t *fn)
{
    /* registered versions are loaded under the name NAME@NUMBER ($LATEST: 0) */
    const char *at = strrchr(hook_fn_name(fn), '@');
    return at != NULL ? (unsigned)strtoul(at + 1, NULL, 10) : 0;
}

/* ---- JSON: GET /hooks and state.json ---------------------------------------------------------------------------------------- */

static void json_namelist(hook_buf_t *b, const conf_namelist_t *l)
{
    hook_buf_append(b, "[", 1);
    for (size_t i = 0; i != l->count; ++i) {
        if (i != 0)
            hook_buf_append(b, ",", 1);
        hook_buf_json_string(b, l->names[i], strlen(l->names[i]));
    }
    hook_buf_append(b, "]", 1);
}

/* the members of a version (CODE in versions.h) */
static void json_code(hook_buf_t *b, const version_t *v)
{
    char ts[40];
    iso_time(v->created_ms, ts);
    hook_buf_appendf(b,
                     "\"sha256\":\"%s\",\"code_sha256\":\"%s\",\"size\":%llu,\"kind\":\"%s\",\"ext\":\"%s\",\"created\":\"%s\","
                     "\"created_ms\":%lld,\"timeout_ms\":%lld,\"memory\":%llu,\"include_body\":%s,\"description\":",
                     v->hash, v->hash_b64, (unsigned long long)v->size, v->is_lua ? "lua" : "native", v->is_lua ? "lua" : "so", ts,
                     (long long)v->created_ms, (long long)v->conf.timeout_ms, (unsigned long long)v->conf.memory_limit,
                     v->conf.include_body ? "true" : "false");
    hook_buf_json_string(b, v->description, strlen(v->description));
    if (v->conf.origin_body != 0)
        hook_buf_appendf(b, ",\"origin_body\":%llu", (unsigned long long)v->conf.origin_body);
    hook_buf_append(b, ",\"source\":", 10);
    hook_buf_json_string(b, v->source, strlen(v->source));
    hook_buf_append(b, ",\"fetch_allow\":", 15);
    json_namelist(b, &v->conf.fetch_allow);
    hook_buf_append(b, ",\"kv\":", 6);
    json_namelist(b, &v->conf.kv);
    hook_buf_append(b, ",\"config\":", 10);
    hook_buf_append(b, v->conf.config_json, strlen(v->conf.config_json)); /* JSON already (the config's map, or {}) */
}

static void json_target(hook_buf_t *b, const target_t *t, int state)
{
    hook_buf_append(b, "{", 1);
    for (size_t j = 0; j != t->n; ++j)
        hook_buf_appendf(b, state ? "%s\"%u\":%.17g" : "%s\"%u\":%g", j ? "," : "", t->versions[j], t->weights[j]);
    hook_buf_append(b, "}", 1);
}

static void json_alias(hook_buf_t *b, const alias_t *a, int state)
{
    char ts[40];
    hook_buf_append(b, "{\"versions\":", 12);
    json_target(b, &a->cur, state);
    hook_buf_appendf(b, ",\"key\":\"%s%s%s\",\"description\":",
                     a->key_kind == HOOK_KEY_IP       ? "ip"
                     : a->key_kind == HOOK_KEY_COOKIE ? "cookie"
                                                      : "header",
                     a->key_kind == HOOK_KEY_IP ? "" : ":", a->key_name);
    hook_buf_json_string(b, a->description, strlen(a->description));
    iso_time(a->hist[a->num_hist - 1].at_ms, ts);
    /* revision: changes with every change of the alias (Lambda's RevisionId) */
    hook_buf_appendf(b, ",\"modified\":\"%s\",\"revision\":\"%lld-%zu\",\"history\":[", ts,
                     (long long)a->hist[a->num_hist - 1].at_ms, a->num_hist);
    for (size_t i = 0; i != a->num_hist; ++i) {
        const hist_t *h = &a->hist[i];
        iso_time(h->at_ms, ts);
        hook_buf_appendf(b, "%s{\"versions\":", i ? "," : "");
        json_target(b, &h->t, state);
        hook_buf_appendf(b, ",\"at\":\"%s\",\"by\":\"%s\",\"rollback\":%s", ts, h->by, h->rollback ? "true" : "false");
        if (state)
            hook_buf_appendf(b, ",\"at_ms\":%lld,\"pos\":%ld,\"prev\":%ld", (long long)h->at_ms, h->pos, h->prev);
        hook_buf_append(b, "}", 1);
    }
    hook_buf_append(b, "]}", 2);
}

/* state: the form state.json keeps (deleted hooks, history links, exact weights) */
static char *registry_json(const registry_t *r, int state)
{
    hook_buf_t b = {NULL, 0, 0};
    int first = 1;
    if (state)
        hook_buf_appendf(&b, "{\"format\":%d,\"hooks\":{", STATE_FORMAT);
    else
        hook_buf_append(&b, "{\"hooks\":{", 10);
    for (size_t i = 0; i != r->num_entries; ++i) {
        const entry_t *e = &r->entries[i];
        if (e->deleted && !state)
            continue;
        if (!first)
            hook_buf_append(&b, ",", 1);
        first = 0;
        hook_buf_json_string(&b, e->name, strlen(e->name));
        hook_buf_appendf(&b, ":{\"next_version\":%u", e->next_version);
        if (state)
            hook_buf_appendf(&b, ",\"config_fp\":\"%s\"", e->config_fp);
        if (e->deleted) {
            hook_buf_append(&b, ",\"deleted\":true}", 16);
            continue;
        }
        hook_buf_append(&b, ",\"latest\":{", 11);
        json_code(&b, e->latest.v);
        hook_buf_append(&b, "},\"versions\":[", 14);
        for (size_t k = 0; k != e->num_versions; ++k) {
            hook_buf_appendf(&b, "%s{\"version\":%u,", k ? "," : "", e->versions[k].v->number);
            json_code(&b, e->versions[k].v);
            if (!state)
                hook_buf_appendf(&b, ",\"loaded\":%s", e->versions[k].fn != NULL ? "true" : "false");
            hook_buf_append(&b, "}", 1);
        }
        hook_buf_append(&b, "],\"aliases\":{", 13);
        for (size_t k = 0; k != e->num_aliases; ++k) {
            if (k != 0)
                hook_buf_append(&b, ",", 1);
            hook_buf_json_string(&b, e->aliases[k].name, strlen(e->aliases[k].name));
            hook_buf_append(&b, ":", 1);
            json_alias(&b, &e->aliases[k], state);
        }
        hook_buf_append(&b, "}}", 2);
    }
    hook_buf_append(&b, "}}\n", 3);
    return b.base;
}

char *hook_versions_json(void)
{
    pthread_mutex_lock(&mutex);
    char *json = registry_json(current, 0);
    pthread_mutex_unlock(&mutex);
    return json;
}

/* ---- loading the state ------------------------------------------------------------------------------------------------------ */

static int load_fail(char *err, size_t errlen, const char *file, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int load_fail(char *err, size_t errlen, const char *file, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen,
             "%s: %s (the hook versions and aliases kept there cannot be read: repair or move the file; edgehook does "
             "not start without it, so that no alias is lost)",
             file, msg);
    return -1;
}

static int json_num(const hook_json_t *o, const char *key, double *out)
{
    const hook_json_t *v = hook_json_get(o, key);
    if (v == NULL || v->type != HOOK_JSON_NUMBER)
        return -1;
    *out = v->number;
    return 0;
}

static const char *json_str(const hook_json_t *o, const char *key)
{
    return hook_json_string(hook_json_get(o, key), NULL);
}

static int json_names(const hook_json_t *a, conf_namelist_t *out)
{
    memset(out, 0, sizeof(*out));
    if (a == NULL || a->type != HOOK_JSON_ARRAY)
        return -1;
    out->names = calloc(a->count + 1, sizeof(char *));
    if (out->names == NULL)
        abort();
    for (size_t i = 0; i != a->count; ++i) {
        if (a->items[i]->type != HOOK_JSON_STRING) {
            namelist_free(out);
            return -1;
        }
        out->names[out->count++] = xstrdup(a->items[i]->str);
    }
    return 0;
}

/* a version (or $LATEST: number 0) from its state.json object */
static version_t *load_version(const char *file, const char *name, unsigned number, const hook_json_t *o, char *err, size_t errlen)
{
    const char *hash = json_str(o, "sha256"), *ext = json_str(o, "ext"), *source = json_str(o, "source"),
               *description = json_str(o, "description");
    const hook_json_t *config = hook_json_get(o, "config");
    double size, created, timeout, memory;
    conf_hook_t s;
    char path[PATH_MAX];
    memset(&s, 0, sizeof(s));
    if (hash == NULL || strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64 || ext == NULL ||
        (strcmp(ext, "lua") != 0 && strcmp(ext, "so") != 0) || source == NULL || description == NULL || config == NULL ||
        config->type != HOOK_JSON_OBJECT || json_num(o, "size", &size) != 0 || json_num(o, "created_ms", &created) != 0 ||
        json_num(o, "timeout_ms", &timeout) != 0 || json_num(o, "memory", &memory) != 0) {
        load_fail(err, errlen, file, "hook %s: a version without its code, settings or times", name);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/code/%s.%s", state_dir, hash, ext);
    if (access(path, R_OK) != 0) {
        load_fail(err, errlen, file, "hook %s: the code of %s%u is missing: %s: %s", name, number ? "version " : "$LATEST", number,
                  path, strerror(errno));
        return NULL;
    }
    hook_buf_t cj = {NULL, 0, 0};
    hook_buf_json(&cj, config, 0);
    s.config_json = cj.base;
    s.timeout_ms = (int64_t)timeout;
    s.memory_limit = (uint64_t)memory;
    const hook_json_t *ib = hook_json_get(o, "include_body");
    s.include_body = ib != NULL && ib->type == HOOK_JSON_TRUE;
    double origin_body;
    if (json_num(o, "origin_body", &origin_body) == 0 && origin_body >= 0 && origin_body <= (double)(64u << 20))
        s.origin_body = (uint64_t)origin_body;
    if (json_names(hook_json_get(o, "fetch_allow"), &s.fetch_allow) != 0 || json_names(hook_json_get(o, "kv"), &s.kv) != 0) {
        namelist_free(&s.fetch_allow);
        free(cj.base);
        load_fail(err, errlen, file, "hook %s: fetch_allow and kv are lists of names", name);
        return NULL;
    }
    version_t *v =
        version_new(name, number, hash, (uint64_t)size, strcmp(ext, "lua") == 0, path, source, description, &s, (int64_t)created);
    free(cj.base);
    namelist_free(&s.fetch_allow);
    namelist_free(&s.kv);
    if (number == 0)
        v->conf.name = v->label;
    return v;
}

static int load_target(const hook_json_t *o, target_t *t)
{
    memset(t, 0, sizeof(*t));
    if (o == NULL || o->type != HOOK_JSON_OBJECT || o->count < 1 || o->count > 2)
        return -1;
    for (size_t i = 0; i != o->count; ++i) {
        char *end;
        unsigned long n = strtoul(o->keys[i], &end, 10);
        if (*end != '\0' || n == 0 || o->items[i]->type != HOOK_JSON_NUMBER)
            return -1;
        t->versions[i] = (unsigned)n;
        t->weights[i] = o->items[i]->number;
    }
    t->n = o->count;
    return 0;
}

static int load_alias(const char *file, entry_t *e, const char *name, const hook_json_t *o, char *err, size_t errlen)
{
    const char *key = json_str(o, "key"), *description = json_str(o, "description");
    const hook_json_t *hist = hook_json_get(o, "history");
    hook_key_kind_t kind;
    char key_name[64];
    if (key == NULL || parse_key(key, &kind, key_name, sizeof(key_name)) != 0 || description == NULL || hist == NULL ||
        hist->type != HOOK_JSON_ARRAY || hist->count == 0)
        return load_fail(err, errlen, file, "hook %s: alias %s: key, description or history missing", e->name, name);
    alias_t *a = alias_get_or_create(e, name, kind, key_name);
    free(a->description);
    a->description = xstrdup(description);
    a->hist = xrealloc(NULL, sizeof(hist_t) * hist->count);
    for (size_t i = 0; i != hist->count; ++i) {
        const hook_json_t *h = hist->items[i];
        hist_t *d = &a->hist[i];
        double at, pos, prev;
        const char *by = json_str(h, "by");
        const hook_json_t *rb = hook_json_get(h, "rollback");
        memset(d, 0, sizeof(*d));
        if (load_target(hook_json_get(h, "versions"), &d->t) != 0 || json_num(h, "at_ms", &at) != 0 ||
            json_num(h, "pos", &pos) != 0 || json_num(h, "prev", &prev) != 0 || by == NULL || pos < 0 ||
            pos >= (double)hist->count || prev >= (double)i)
            return load_fail(err, errlen, file, "hook %s: alias %s: history entry %zu is not a target, time, author and links",
                             e->name, name, i);
        for (size_t k = 0; k != d->t.n; ++k)
            if (find_version(e, d->t.versions[k]) == NULL)
                return load_fail(err, errlen, file, "hook %s: alias %s points at version %u, which it does not have", e->name, name,
                                 d->t.versions[k]);
        d->at_ms = (int64_t)at;
        snprintf(d->by, sizeof(d->by), "%s", by);
        d->rollback = rb != NULL && rb->type == HOOK_JSON_TRUE;
        d->pos = (long)pos;
        d->prev = (long)prev;
        a->num_hist = i + 1;
    }
    a->cur = a->hist[a->num_hist - 1].t;
    return 0;
}

static int load_hook(const char *file, registry_t *r, const char *name, const hook_json_t *o, char *err, size_t errlen)
{
    double next;
    const hook_json_t *del = hook_json_get(o, "deleted"), *latest = hook_json_get(o, "latest"),
                      *versions = hook_json_get(o, "versions"), *aliases = hook_json_get(o, "aliases");
    if (o->type != HOOK_JSON_OBJECT || json_num(o, "next_version", &next) != 0 || next < 1)
        return load_fail(err, errlen, file, "hook %s: no next_version", name);
    entry_t *e = entry_get_or_create(r, name);
    e->next_version = (unsigned)next;
    const char *cfp = json_str(o, "config_fp");
    snprintf(e->config_fp, sizeof(e->config_fp), "%s", cfp != NULL && strlen(cfp) == 64 ? cfp : "");
    if (del != NULL && del->type == HOOK_JSON_TRUE) {
        e->deleted = 1;
        return 0;
    }
    if (latest == NULL || versions == NULL || versions->type != HOOK_JSON_ARRAY || aliases == NULL ||
        aliases->type != HOOK_JSON_OBJECT)
        return load_fail(err, errlen, file, "hook %s: latest, versions or aliases missing", name);
    if ((e->latest.v = load_version(file, name, 0, latest, err, errlen)) == NULL)
        return -1;
    e->versions = xrealloc(NULL, sizeof(vref_t) * (versions->count + 1));
    for (size_t i = 0; i != versions->count; ++i) {
        double num;
        if (json_num(versions->items[i], "version", &num) != 0 || num < 1 || num >= next || find_version(e, (unsigned)num) != NULL)
            return load_fail(err, errlen, file, "hook %s: versions[%zu] has no valid number", name, i);
        version_t *v = load_version(file, name, (unsigned)num, versions->items[i], err, errlen);
        if (v == NULL)
            return -1;
        e->versions[e->num_versions++] = (vref_t){v, NULL};
    }
    for (size_t i = 0; i != aliases->count; ++i)
        if (load_alias(file, e, aliases->keys[i], aliases->items[i], err, errlen) != 0)
            return -1;
    if (find_alias(e, "live") == NULL)
        return load_fail(err, errlen, file, "hook %s has no live alias", name);
    return 0;
}

/* reads STATE_DIR/hooks/state.json into a new registry (empty when the file does not exist) */
static registry_t *load_state(char *err, size_t errlen)
{
    char file[PATH_MAX], perr[256];
    char *text;
    size_t len;
    struct stat st;
    registry_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    snprintf(file, sizeof(file), "%s/hooks/state.json", state_dir);
    if (stat(file, &st) != 0 && errno == ENOENT)
        return r;
    if (read_file(file, &text, &len, err, errlen) != 0) {
        free(r);
        return NULL;
    }
    hook_json_t *doc = hook_json_parse(text, len, perr, sizeof(perr));
    free(text);
    double format;
    const hook_json_t *hooks;
    if (doc == NULL) {
        load_fail(err, errlen, file, "not JSON: %s", perr);
        goto Fail;
    }
    if (json_num(doc, "format", &format) != 0 || format != STATE_FORMAT || (hooks = hook_json_get(doc, "hooks")) == NULL ||
        hooks->type != HOOK_JSON_OBJECT) {
        load_fail(err, errlen, file, "not an edgehook hook state (format %d)", STATE_FORMAT);
        goto Fail;
    }
    for (size_t i = 0; i != hooks->count; ++i)
        if (load_hook(file, r, hooks->keys[i], hooks->items[i], err, errlen) != 0)
            goto Fail;
    hook_json_free(doc);
    return r;
Fail:
    hook_json_free(doc);
    registry_free(r);
    return NULL;
}

/* two processes writing one state.json would each overwrite the other's changes: the second one is refused */
static int lock_state(const char *hooks_dir, char *err, size_t errlen)
{
    char path[PATH_MAX], pid[32] = "";
    if ((size_t)snprintf(path, sizeof(path), "%s/lock", hooks_dir) >= sizeof(path) ||
        (lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = pread(lock_fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen, "%s: the state dir is in use by another edgehook (pid %s): give each its own state_dir", path,
                 pid[0] != '\0' ? pid : "?");
        close(lock_fd);
        lock_fd = -1;
        return -1;
    }
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, pid, (size_t)n, 0) != n)
        log_warn("%s: cannot write the pid: %s", path, strerror(errno));
    return 0;
}

int hook_versions_open(const char *dir, int readonly, char *err, size_t errlen)
{
    char sub[PATH_MAX];
    registry_t *r;
    EDGE_ASSERT(atomic_load(&txn_open) == 0);
    free(state_dir);
    state_dir = xstrdup(dir);
    state_readonly = readonly;
    if (lock_fd != -1) {
        close(lock_fd);
        lock_fd = -1;
    }
    if (!readonly) {
        snprintf(sub, sizeof(sub), "%s/code", dir);
        if (mkdir_p(sub, err, errlen) != 0)
            return -1;
        snprintf(sub, sizeof(sub), "%s/hooks", dir);
        if (mkdir_p(sub, err, errlen) != 0 || lock_state(sub, err, errlen) != 0)
            return -1;
    }
    if ((r = load_state(err, errlen)) == NULL)
        return -1;
    for (size_t i = 0; i != r->num_entries; ++i)
        if (!r->entries[i].deleted)
            sync_loaded(&r->entries[i]);
    pthread_mutex_lock(&mutex);
    registry_t *old = current;
    current = r;
    pthread_mutex_unlock(&mutex);
    registry_free(old);
    return 0;
}

const char *hook_versions_state_dir(void)
{
    return state_dir;
}

void hook_versions_close(void)
{
    pthread_mutex_lock(&mutex);
    registry_t *old = current;
    current = &empty_registry;
    pthread_mutex_unlock(&mutex);
    registry_free(old);
    free(state_dir);
    state_dir = NULL;
    state_readonly = 0;
    if (lock_fd != -1) {
        close(lock_fd);
        lock_fd = -1;
    }
}
