/* hooks/versions.c - the registry of hook versions (immutable copies of the files) and aliases (weighted, sticky). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "base/str.h"
#include "hooks/json.h"
#include "hooks/versions.h"
#include "base/assert.h"
#include "base/log.h"

/* one immutable version: shared by the registries (the committed one and a staged copy), refcounted */
typedef struct version {
    unsigned magic; /* VERSION_MAGIC while alive (base/assert.h): the committed and staged registries share it */
    _Atomic unsigned refs;
    unsigned number;
    char *label; /* NAME@NUMBER: the name its loaded instances carry (logs, metrics) */
    char hash[65];
    char *copy_path; /* the immutable copy this version loads from */
    char *orig_path; /* where it came from */
    conf_hook_t conf; /* settings; lua / native point at copy_path */
    time_t created;
} version_t;
#define VERSION_MAGIC 0x7e5104b9u

/* a version as one registry holds it: loaded (fn) while an alias of that registry points at it */
typedef struct vref {
    version_t *v;
    hook_fn_t *fn;
} vref_t;

typedef struct alias {
    char *name;
    unsigned versions[2];
    double weights[2];
    size_t n;
    hook_key_kind_t key_kind;
    char key_name[64];
    int has_prev;
    unsigned prev_versions[2];
    double prev_weights[2];
    size_t prev_n;
} alias_t;

typedef struct entry {
    char *name;
    vref_t *versions;
    size_t num_versions;
    alias_t *aliases;
    size_t num_aliases;
    char config_hash[65]; /* the content the last configuration load brought */
} entry_t;

typedef struct registry {
    entry_t *entries;
    size_t num_entries;
} registry_t;

/*
 * A transaction: a private copy of the registry that changes are staged on. Committing makes the copy the registry (and says
 * what changed in the log); aborting drops it with every version it created (their file copies included), so that a refused
 * reload or a refused admin change leaves no trace.
 */
struct hook_versions_txn {
    registry_t *reg;
    char **new_files; /* copies written for versions this transaction created */
    size_t num_new_files;
    char **log; /* the log lines of the changes, written at commit */
    size_t num_log;
};

/* `current` is read under the mutex (GET /hooks, the version of a hook); writers are serialised by the caller, one transaction
 * at a time, and only hold the mutex to swap the pointer at commit */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static registry_t empty_registry;
static registry_t *current = &empty_registry;
static _Atomic int txn_open;
static char *dir;

/* ---- helpers -------------------------------------------------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *r = strdup(s != NULL ? s : "");
    if (r == NULL)
        abort();
    return r;
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
            *data = realloc(*data, cap);
        }
        n = fread(*data + *len, 1, cap - *len, fp);
        *len += n;
    } while (n != 0);
    fclose(fp);
    return 0;
}

static int ensure_dir(char *err, size_t errlen)
{
    if (dir != NULL)
        return 0;
    char tmpl[] = "/tmp/edgehook-hooks-XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        snprintf(err, errlen, "cannot create a directory for hook versions: %s", strerror(errno));
        return -1;
    }
    dir = xstrdup(tmpl);
    return 0;
}

static entry_t *find_entry(registry_t *r, const char *name)
{
    for (size_t i = 0; i != r->num_entries; ++i)
        if (strcmp(r->entries[i].name, name) == 0)
            return &r->entries[i];
    return NULL;
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

/* ---- registries and transactions ------------------------------------------------------------------------------------------ */

static void version_release(version_t *v)
{
    EDGE_CHECK_OBJ(v, VERSION_MAGIC);
    unsigned before = atomic_fetch_sub(&v->refs, 1);
    EDGE_ASSERT(before != 0);
    if (before != 1)
        return;
    free(v->label);
    free(v->copy_path);
    free(v->orig_path);
    free(v->conf.config_json);
    for (size_t i = 0; i != v->conf.fetch_allow.count; ++i)
        free(v->conf.fetch_allow.names[i]);
    free(v->conf.fetch_allow.names);
    for (size_t i = 0; i != v->conf.kv.count; ++i)
        free(v->conf.kv.names[i]);
    free(v->conf.kv.names);
    v->magic = 0;
    free(v);
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
        memcpy(d->config_hash, e->config_hash, sizeof(d->config_hash));
        if ((d->versions = calloc(e->num_versions + 1, sizeof(vref_t))) == NULL ||
            (d->aliases = calloc(e->num_aliases + 1, sizeof(alias_t))) == NULL)
            abort();
        for (size_t k = 0; k != e->num_versions; ++k) {
            d->versions[k] = e->versions[k];
            atomic_fetch_add(&d->versions[k].v->refs, 1);
            if (d->versions[k].fn != NULL)
                hook_fn_addref(d->versions[k].fn);
        }
        d->num_versions = e->num_versions;
        for (size_t k = 0; k != e->num_aliases; ++k) {
            d->aliases[k] = e->aliases[k];
            d->aliases[k].name = xstrdup(e->aliases[k].name);
        }
        d->num_aliases = e->num_aliases;
    }
    return c;
}

static void registry_free(registry_t *r)
{
    if (r == NULL || r == &empty_registry)
        return;
    for (size_t i = 0; i != r->num_entries; ++i) {
        entry_t *e = &r->entries[i];
        for (size_t k = 0; k != e->num_versions; ++k) {
            hook_fn_release(e->versions[k].fn); /* unloaded once no registry, binding or request holds it */
            version_release(e->versions[k].v);
        }
        for (size_t k = 0; k != e->num_aliases; ++k)
            free(e->aliases[k].name);
        free(e->versions);
        free(e->aliases);
        free(e->name);
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
    if ((txn->log = realloc(txn->log, sizeof(char *) * (txn->num_log + 1))) == NULL)
        abort();
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

void hook_versions_commit(hook_versions_txn_t *txn)
{
    registry_t *old;
    if (txn == NULL)
        return;
    pthread_mutex_lock(&mutex);
    old = current;
    current = txn->reg;
    pthread_mutex_unlock(&mutex);
    for (size_t i = 0; i != txn->num_log; ++i)
        log_info("%s", txn->log[i]);
    registry_free(old); /* versions no alias holds any more are unloaded once their last request ends */
    txn_free(txn);
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
            for (size_t k = 0; k != e->aliases[a].n; ++k)
                if (e->aliases[a].versions[k] == r->v->number)
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

/* ---- publishing ------------------------------------------------------------------------------------------------------------ */

/* makes `path` a version of `name` with settings `tmpl` in txn; returns the version (existing when the content is known) */
static vref_t *publish_staged(hook_versions_txn_t *txn, const char *name, const char *path, const conf_hook_t *tmpl, int is_lua,
                              char *err, size_t errlen)
{
    entry_t *e;
    char *data, hash[65], copy[4096];
    size_t len;
    version_t *v;
    hook_fn_t *fn;
    int fd;

    if (read_file(path, &data, &len, err, errlen) != 0)
        return NULL;
    edge_sha256_hex(data, len, hash);
    if ((e = find_entry(txn->reg, name)) != NULL) {
        for (size_t i = 0; i != e->num_versions; ++i) {
            if (strcmp(e->versions[i].v->hash, hash) == 0 && (e->versions[i].v->conf.lua != NULL) == is_lua) {
                free(data);
                return &e->versions[i];
            }
        }
    }
    if (ensure_dir(err, errlen) != 0) {
        free(data);
        return NULL;
    }
    unsigned number = e != NULL ? (unsigned)e->num_versions + 1 : 1;
    /* the immutable copy: what the version is, whatever happens to the file later */
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    snprintf(copy, sizeof(copy), "%s/%s-v%u-%.12s-%s", dir, name, number, hash, base);
    if ((fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 || write(fd, data, len) != (ssize_t)len) {
        snprintf(err, errlen, "%s: cannot keep a copy of the version: %s", path, strerror(errno));
        if (fd != -1) {
            close(fd);
            unlink(copy);
        }
        free(data);
        return NULL;
    }
    close(fd);
    free(data);

    char label[300];
    snprintf(label, sizeof(label), "%s@%u", name, number);
    conf_hook_t c = *tmpl;
    c.name = label;
    c.lua = is_lua ? copy : NULL;
    c.native = is_lua ? NULL : copy;
    /* loading validates it (syntax, handler, ABI) before it becomes a version */
    if ((fn = hook_fn_load(&c, err, errlen)) == NULL) {
        /* name the user's file, not our copy (which Lua's messages may shorten to "...TAIL": the whole token goes) */
        const char *copy_base = strrchr(copy, '/') + 1;
        char *p = strstr(err, copy_base);
        if (p != NULL) {
            char tail[1024], *start = p;
            while (start > err && start[-1] != ' ' && start[-1] != '\n')
                --start;
            snprintf(tail, sizeof(tail), "%s", p + strlen(copy_base));
            snprintf(start, errlen - (start - err), "%s%s", path, tail);
        }
        unlink(copy);
        return NULL;
    }
    if (e == NULL) {
        registry_t *r = txn->reg;
        if ((r->entries = realloc(r->entries, sizeof(*r->entries) * (r->num_entries + 1))) == NULL)
            abort();
        e = &r->entries[r->num_entries++];
        memset(e, 0, sizeof(*e));
        e->name = xstrdup(name);
    }
    if ((v = calloc(1, sizeof(*v))) == NULL)
        abort();
    v->magic = VERSION_MAGIC;
    atomic_init(&v->refs, 1);
    v->number = number;
    memcpy(v->hash, hash, sizeof(hash));
    v->copy_path = xstrdup(copy);
    v->orig_path = xstrdup(path);
    v->label = xstrdup(label);
    v->conf = *tmpl;
    v->conf.name = v->label;
    v->conf.lua = is_lua ? v->copy_path : NULL;
    v->conf.native = is_lua ? NULL : v->copy_path;
    v->conf.config_json = xstrdup(tmpl->config_json != NULL ? tmpl->config_json : "{}");
    v->conf.fetch_allow.names = calloc(tmpl->fetch_allow.count + 1, sizeof(char *));
    if (v->conf.fetch_allow.names == NULL)
        abort();
    for (size_t i = 0; i != tmpl->fetch_allow.count; ++i)
        v->conf.fetch_allow.names[i] = xstrdup(tmpl->fetch_allow.names[i]);
    /* the settings are the version's own: the configuration they came from may be freed by a reload */
    v->conf.kv.names = tmpl->kv.count != 0 ? calloc(tmpl->kv.count, sizeof(char *)) : NULL;
    for (size_t i = 0; i != tmpl->kv.count; ++i)
        v->conf.kv.names[i] = xstrdup(tmpl->kv.names[i]);
    v->created = time(NULL);
    if ((e->versions = realloc(e->versions, sizeof(*e->versions) * (e->num_versions + 1))) == NULL ||
        (txn->new_files = realloc(txn->new_files, sizeof(char *) * (txn->num_new_files + 1))) == NULL)
        abort();
    txn->new_files[txn->num_new_files++] = xstrdup(copy);
    e->versions[e->num_versions] = (vref_t){v, fn}; /* fn kept if an alias points here (sync_loaded), released otherwise */
    txn_log(txn, "hook %s: version %u published from %s (sha256 %.12s)", name, number, path, hash);
    return &e->versions[e->num_versions++];
}

static alias_t *set_alias_staged(entry_t *e, const char *name, const unsigned *versions, const double *weights, size_t n,
                                 hook_key_kind_t kind, const char *key_name)
{
    alias_t *a = find_alias(e, name);
    if (a == NULL) {
        if ((e->aliases = realloc(e->aliases, sizeof(*e->aliases) * (e->num_aliases + 1))) == NULL)
            abort();
        a = &e->aliases[e->num_aliases++];
        memset(a, 0, sizeof(*a));
        a->name = xstrdup(name);
        a->key_kind = kind;
        snprintf(a->key_name, sizeof(a->key_name), "%s", key_name);
    } else {
        a->has_prev = 1;
        memcpy(a->prev_versions, a->versions, sizeof(a->versions));
        memcpy(a->prev_weights, a->weights, sizeof(a->weights));
        a->prev_n = a->n;
    }
    memcpy(a->versions, versions, sizeof(unsigned) * n);
    memcpy(a->weights, weights, sizeof(double) * n);
    a->n = n;
    return a;
}

unsigned hook_versions_from_config(hook_versions_txn_t *txn, const conf_hook_t *conf, char *err, size_t errlen)
{
    int is_lua = conf->lua != NULL;
    vref_t *r;
    entry_t *e;
    unsigned number;
    if ((r = publish_staged(txn, conf->name, is_lua ? conf->lua : conf->native, conf, is_lua, err, errlen)) == NULL)
        return 0;
    number = r->v->number;
    e = find_entry(txn->reg, conf->name);
    /* the config is the source of `live`: it moves when the config brings content it did not bring last time */
    if (find_alias(e, "live") == NULL || strcmp(e->config_hash, r->v->hash) != 0) {
        alias_t *live = find_alias(e, "live");
        if (live == NULL || !(live->n == 1 && live->versions[0] == number)) {
            double one = 1.0;
            set_alias_staged(e, "live", &number, &one, 1, live != NULL ? live->key_kind : HOOK_KEY_IP,
                             live != NULL ? live->key_name : "");
            txn_log(txn, "hook %s: alias live -> version %u (from the configuration)", conf->name, number);
        }
    }
    memcpy(e->config_hash, find_version(e, number)->v->hash, sizeof(e->config_hash));
    sync_loaded(e);
    return number;
}

unsigned hook_versions_publish(hook_versions_txn_t *txn, const char *name, const char *path, char *err, size_t errlen)
{
    entry_t *e;
    vref_t *r;
    size_t plen = strlen(path);
    int is_lua = plen > 4 && strcmp(path + plen - 4, ".lua") == 0;
    unsigned number;
    if ((e = find_entry(txn->reg, name)) == NULL || e->num_versions == 0) {
        snprintf(err, errlen, "no hook named \"%s\"", name);
        return 0;
    }
    /* the settings of the latest version carry over */
    conf_hook_t tmpl = e->versions[e->num_versions - 1].v->conf;
    if ((r = publish_staged(txn, name, path, &tmpl, is_lua, err, errlen)) == NULL)
        return 0;
    number = r->v->number;
    sync_loaded(find_entry(txn->reg, name)); /* a version no alias uses yet is not kept loaded */
    return number;
}

int hook_versions_set_alias(hook_versions_txn_t *txn, const char *name, const char *alias, const unsigned *versions,
                            const double *weights, size_t n, const char *key, char *err, size_t errlen)
{
    entry_t *e;
    hook_key_kind_t kind;
    char key_name[64];
    double sum = 0;
    if ((e = find_entry(txn->reg, name)) == NULL) {
        snprintf(err, errlen, "no hook named \"%s\"", name);
        return -1;
    }
    if (alias[0] == '\0' || strlen(alias) > 64 || strspn(alias, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.") != strlen(alias)) {
        snprintf(err, errlen, "an alias name is letters, - _ . (digits would read as a version)");
        return -1;
    }
    if (n < 1 || n > 2) {
        snprintf(err, errlen, "an alias points at one version, or two with weights");
        return -1;
    }
    for (size_t i = 0; i != n; ++i) {
        if (find_version(e, versions[i]) == NULL) {
            snprintf(err, errlen, "hook %s has no version %u", name, versions[i]);
            return -1;
        }
        if (!(weights[i] > 0 && weights[i] <= 1)) {
            snprintf(err, errlen, "weights are between 0 and 1");
            return -1;
        }
        sum += weights[i];
    }
    if (n == 2 && versions[0] == versions[1]) {
        snprintf(err, errlen, "the two versions of a split must differ");
        return -1;
    }
    if (sum < 0.999999 || sum > 1.000001) {
        snprintf(err, errlen, "the weights must sum to 1 (they sum to %g)", sum);
        return -1;
    }
    alias_t *cur = find_alias(e, alias);
    if (key == NULL && cur != NULL) {
        kind = cur->key_kind;
        snprintf(key_name, sizeof(key_name), "%s", cur->key_name);
    } else if (parse_key(key, &kind, key_name, sizeof(key_name)) != 0) {
        snprintf(err, errlen, "key must be ip, cookie:NAME or header:NAME");
        return -1;
    }
    alias_t *a = set_alias_staged(e, alias, versions, weights, n, kind, key_name);
    a->key_kind = kind;
    snprintf(a->key_name, sizeof(a->key_name), "%s", key_name);
    sync_loaded(e);
    if (n == 1)
        txn_log(txn, "hook %s: alias %s -> version %u", name, alias, versions[0]);
    else
        txn_log(txn, "hook %s: alias %s -> version %u (%g) and %u (%g)", name, alias, versions[0], weights[0], versions[1],
                weights[1]);
    return 0;
}

int hook_versions_delete_alias(hook_versions_txn_t *txn, const char *name, const char *alias, char *err, size_t errlen)
{
    entry_t *e;
    alias_t *a;
    if ((e = find_entry(txn->reg, name)) == NULL || (a = find_alias(e, alias)) == NULL) {
        snprintf(err, errlen, "no alias %s of hook %s", alias, name);
        return -1;
    }
    if (strcmp(alias, "live") == 0) {
        snprintf(err, errlen, "the live alias cannot be removed (move it instead)");
        return -1;
    }
    free(a->name);
    *a = e->aliases[--e->num_aliases];
    sync_loaded(e);
    txn_log(txn, "hook %s: alias %s removed", name, alias);
    return 0;
}

int hook_versions_rollback(hook_versions_txn_t *txn, const char *name, const char *alias, char *err, size_t errlen)
{
    entry_t *e;
    alias_t *a;
    unsigned v[2];
    double w[2];
    size_t n;
    if ((e = find_entry(txn->reg, name)) == NULL || (a = find_alias(e, alias)) == NULL) {
        snprintf(err, errlen, "no alias %s of hook %s", alias, name);
        return -1;
    }
    if (!a->has_prev) {
        snprintf(err, errlen, "alias %s of hook %s has no earlier target", alias, name);
        return -1;
    }
    memcpy(v, a->prev_versions, sizeof(v));
    memcpy(w, a->prev_weights, sizeof(w));
    n = a->prev_n;
    set_alias_staged(e, alias, v, w, n, a->key_kind, a->key_name);
    sync_loaded(e);
    txn_log(txn, "hook %s: alias %s rolled back to version %u%s", name, alias, v[0], n == 2 ? " (split)" : "");
    return 0;
}

/* ---- binding -------------------------------------------------------------------------------------------------------------- */

void hook_binding_free(hook_binding_t *b)
{
    for (int i = 0; i != 2; ++i)
        if (b->fn[i] != NULL)
            hook_fn_release(b->fn[i]);
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
        snprintf(err, errlen, "hook name too long");
        return -1;
    }
    memcpy(name, ref, nlen);
    name[nlen] = '\0';
    if ((e = find_entry(txn->reg, name)) == NULL) {
        snprintf(err, errlen, "no hook named \"%s\"", name);
        goto Fail;
    }
    if (target[0] >= '0' && target[0] <= '9') {
        char *end;
        unsigned long n = strtoul(target, &end, 10);
        vref_t *r = *end == '\0' ? find_version(e, (unsigned)n) : NULL;
        if (r == NULL) {
            snprintf(err, errlen, "hook %s has no version %s", name, target);
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
            snprintf(err, errlen, "hook %s has no live alias", name);
            goto Fail;
        }
        for (size_t i = 0; i != a->n; ++i) {
            vref_t *r = find_version(e, a->versions[i]);
            if ((out->fn[i] = fn_of(r, err, errlen)) == NULL)
                goto Fail;
            out->version[i] = r->v->number;
        }
        out->weight0 = a->n == 2 ? a->weights[0] : 1.0;
        out->key_kind = a->key_kind;
        snprintf(out->key_name, sizeof(out->key_name), "%s", a->key_name);
    }
    for (int i = 0; i != 2; ++i) {
        if (out->fn[i] == NULL)
            continue;
        if (!hook_fn_handles(out->fn[i], type)) {
            snprintf(err, errlen, "%s@%u does not handle %s events", name, out->version[i], hook_event_type_name(type));
            goto Fail;
        }
        snprintf(out->label[i], sizeof(out->label[i]), "%s@%u", name, out->version[i]);
    }
    return 0;
Fail:
    hook_binding_free(out);
    return -1;
}

/* the version of e the configuration's file last brought ($LATEST), or its newest */
static vref_t *latest_version(entry_t *e)
{
    vref_t *newest = NULL;
    for (size_t i = 0; i != e->num_versions; ++i) {
        if (strcmp(e->versions[i].v->hash, e->config_hash) == 0)
            return &e->versions[i];
        if (newest == NULL || e->versions[i].v->number > newest->v->number)
            newest = &e->versions[i];
    }
    return newest;
}

hook_fn_t *hook_versions_resolve(const char *name, const char *qualifier, double u, unsigned *version, int *loaded_now, char *err,
                                 size_t errlen)
{
    hook_fn_t *fn = NULL;
    version_t *v = NULL;
    vref_t *r = NULL;
    *loaded_now = 0;
    pthread_mutex_lock(&mutex);
    entry_t *e = find_entry(current, name);
    if (e == NULL) {
        snprintf(err, errlen, "Function not found: %s", name);
    } else if (qualifier == NULL || qualifier[0] == '\0' || strcmp(qualifier, "$LATEST") == 0) {
        if ((r = latest_version(e)) == NULL)
            snprintf(err, errlen, "Function not found: %s (no version)", name);
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
            r = find_version(e, a->versions[a->n == 2 && u >= a->weights[0] ? 1 : 0]);
    }
    if (r != NULL) {
        *version = r->v->number;
        if ((fn = r->fn) != NULL) {
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
        version_release(v);
    }
    return fn;
}

unsigned hook_versions_number_of(const hook_fn_t *fn)
{
    /* registered versions are loaded under the name NAME@NUMBER */
    const char *at = strrchr(hook_fn_name(fn), '@');
    return at != NULL ? (unsigned)strtoul(at + 1, NULL, 10) : 0;
}

char *hook_versions_json(void)
{
    hook_buf_t b = {NULL, 0, 0};
    pthread_mutex_lock(&mutex);
    registry_t *r = current;
    hook_buf_append(&b, "{\"hooks\":{", 10);
    for (size_t i = 0; i != r->num_entries; ++i) {
        entry_t *e = &r->entries[i];
        if (i != 0)
            hook_buf_append(&b, ",", 1);
        hook_buf_json_string(&b, e->name, strlen(e->name));
        hook_buf_append(&b, ":{\"versions\":[", 14);
        for (size_t k = 0; k != e->num_versions; ++k) {
            version_t *v = e->versions[k].v;
            char ts[32];
            struct tm tm;
            gmtime_r(&v->created, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
            hook_buf_appendf(&b, "%s{\"version\":%u,\"sha256\":\"%s\",\"kind\":\"%s\",\"loaded\":%s,\"created\":\"%s\",\"source\":",
                             k ? "," : "", v->number, v->hash, v->conf.lua != NULL ? "lua" : "native",
                             e->versions[k].fn != NULL ? "true" : "false", ts);
            hook_buf_json_string(&b, v->orig_path, strlen(v->orig_path));
            hook_buf_append(&b, "}", 1);
        }
        hook_buf_append(&b, "],\"aliases\":{", 13);
        for (size_t k = 0; k != e->num_aliases; ++k) {
            alias_t *a = &e->aliases[k];
            if (k != 0)
                hook_buf_append(&b, ",", 1);
            hook_buf_json_string(&b, a->name, strlen(a->name));
            hook_buf_append(&b, ":{\"versions\":{", 14);
            for (size_t j = 0; j != a->n; ++j)
                hook_buf_appendf(&b, "%s\"%u\":%g", j ? "," : "", a->versions[j], a->weights[j]);
            hook_buf_appendf(&b, "},\"key\":\"%s%s%s\"}", a->key_kind == HOOK_KEY_IP ? "ip" : a->key_kind == HOOK_KEY_COOKIE ? "cookie" : "header",
                             a->key_kind == HOOK_KEY_IP ? "" : ":", a->key_name);
        }
        hook_buf_append(&b, "}}", 2);
    }
    hook_buf_append(&b, "}}\n", 3);
    pthread_mutex_unlock(&mutex);
    return b.base;
}

void hook_versions_remove_files(void)
{
    pthread_mutex_lock(&mutex);
    for (size_t i = 0; i != current->num_entries; ++i)
        for (size_t j = 0; j != current->entries[i].num_versions; ++j)
            unlink(current->entries[i].versions[j].v->copy_path); /* a loaded plugin stays mapped; Lua states keep compiled code */
    if (dir != NULL && rmdir(dir) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", dir, strerror(errno));
    pthread_mutex_unlock(&mutex);
}
