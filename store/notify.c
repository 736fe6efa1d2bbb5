/* store/notify.c - bucket event notifications: the configurations (S3's XML, durable per bucket, or the config file's), the
 * rules' matching, the S3 event records, the reservation before a write and the enqueue + cache purge after it (store/notify.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"
#include "base/str.h"
#include "store/internal.h"
#include "store/notify.h"
#include "store/notifyconf.h"

#define RESERVE_OVERHEAD 3072u /* the record without key and ids: what begin reserves besides 3 x the key */

typedef store_notify_rule_t rule_t;
typedef store_notify_perr_t perr_t;

typedef struct bconf {
    char bucket[64];
    rule_t *rules;
    size_t num;
    int from_config; /* store.notifications: PutBucketNotificationConfiguration is refused */
} bconf_t;

static struct {
    pthread_rwlock_t lock;
    bconf_t *b;
    size_t num;
    unsigned max_generations;
    store_notify_backend_t backend;
    _Atomic int have_backend;
    _Atomic uint64_t seq;
    _Atomic uint64_t events, refused, lost, loop_stopped, excluded, purges;
} N = {.lock = PTHREAD_RWLOCK_INITIALIZER, .max_generations = 16};

void store_notify_set_backend(const store_notify_backend_t *b)
{
    N.backend = *b;
    atomic_store(&N.have_backend, 1);
}

/* S3's destination validation: the hook must exist (no backend: nothing to ask) */
static int function_exists(const char *name)
{
    return !atomic_load(&N.have_backend) || N.backend.function_exists(name);
}

uint64_t store_notify_tag(const char *bucket, size_t blen, const char *key, size_t klen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i != blen; ++i)
        h = (h ^ (unsigned char)bucket[i]) * 0x100000001b3ull;
    h = (h ^ 0) * 0x100000001b3ull;
    for (size_t i = 0; i != klen; ++i)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
    return h != 0 ? h : 1;
}

/* ---- the table -----------------------------------------------------------------------------------------------------------------
 */

/* under the write lock: replaces bucket's rules (n 0 removes it) */
static void set_rules(const char *bucket, rule_t *rules, size_t n, int from_config)
{
    size_t i;
    for (i = 0; i != N.num; ++i)
        if (strcmp(N.b[i].bucket, bucket) == 0)
            break;
    if (i != N.num) {
        store_notify_rules_free(N.b[i].rules, N.b[i].num);
        if (n == 0) {
            N.b[i] = N.b[--N.num];
            free(rules);
            return;
        }
    } else {
        if (n == 0) {
            free(rules);
            return;
        }
        bconf_t *nb = realloc(N.b, (N.num + 1) * sizeof(*nb));
        if (nb == NULL)
            abort();
        N.b = nb;
        memset(&N.b[i], 0, sizeof(N.b[i]));
        snprintf(N.b[i].bucket, sizeof(N.b[i].bucket), "%s", bucket);
        N.num += 1;
    }
    N.b[i].rules = rules;
    N.b[i].num = n;
    N.b[i].from_config = from_config;
}

static bconf_t *find_locked(const char *bucket)
{
    for (size_t i = 0; i != N.num; ++i)
        if (strcmp(N.b[i].bucket, bucket) == 0)
            return &N.b[i];
    return NULL;
}

/* the bucket's document root/<bucket>/.notification (store_fs_bucket_config_put: atomic, durable); len 0 removes it */
static int save_doc(store_bucket_t *b, const char *data, size_t len)
{
    int e = store_fs_bucket_config_put(b, "notification", len != 0 ? data : NULL, len);
    if (e != 0 && !(len == 0 && e == STORE_FS_ENOENT)) {
        log_error("store: bucket %s: cannot write its notification configuration (%d)", store_fs_bucket_name(b), e);
        return -1;
    }
    return 0;
}

static int conf_rule(const conf_store_notification_t *cn, rule_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", cn->id != NULL ? cn->id : "");
    if (store_notify_parse_function(cn->function, r) != 0) {
        snprintf(err, errlen, "store.notifications: line %d: function: not a hook name, NAME:ALIAS or a Lambda ARN: %s", cn->line,
                 cn->function);
        return -1;
    }
    for (size_t k = 0; k != cn->num_events; ++k)
        if (store_notify_parse_event(cn->events[k], &r->events, &r->given) != 0) {
            snprintf(err, errlen, "store.notifications: line %d: unknown event %s", cn->line, cn->events[k]);
            return -1;
        }
    if (cn->prefix != NULL)
        r->prefix = strdup(cn->prefix);
    if (cn->suffix != NULL)
        r->suffix = strdup(cn->suffix);
    r->exclude_hook_writes = cn->exclude_hook_writes;
    if (r->id[0] == '\0')
        snprintf(r->id, sizeof(r->id), "config-%d", cn->line);
    return 0;
}

int store_notify_open(store_t *s, const conf_store_t *conf, char *err, size_t errlen)
{
    N.max_generations = conf->notify_max_generations != 0 ? conf->notify_max_generations : 16;
    pthread_rwlock_wrlock(&N.lock);
    /* the API's, kept beside each bucket */
    store_bucket_info_t *infos = NULL;
    long nb = store_fs_bucket_list(s->fs, &infos);
    for (long i = 0; i < nb; ++i) {
        store_bucket_t *b = store_fs_bucket_get(s->fs, infos[i].name, strlen(infos[i].name));
        char *doc = NULL;
        size_t len = 0;
        if (b != NULL && store_fs_bucket_config_get(b, "notification", STORE_XML_MAX_SIZE, &doc, &len, NULL) == 0) {
            rule_t *rules;
            size_t n;
            perr_t pe = {0};
            if (store_notify_parse_config(doc, len, NULL, &rules, &n, &pe) == 0)
                set_rules(infos[i].name, rules, n, 0);
            else
                log_error("store: bucket %s: its notification configuration is not valid (ignored): %s", infos[i].name, pe.message);
        }
        free(doc);
        store_fs_bucket_release(b);
    }
    free(infos);
    /* the config file's, per bucket: they replace what the API set */
    for (size_t i = 0; i != conf->num_notifications; ++i) {
        const conf_store_notification_t *cn = &conf->notifications[i];
        int seen = 0;
        for (size_t j = 0; j != i; ++j)
            seen |= strcmp(conf->notifications[j].bucket, cn->bucket) == 0;
        if (seen)
            continue;
        rule_t *rules = calloc(STORE_NOTIFY_MAX_RULES, sizeof(*rules));
        size_t n = 0;
        if (rules == NULL)
            abort();
        for (size_t j = i; j != conf->num_notifications; ++j) {
            if (strcmp(conf->notifications[j].bucket, cn->bucket) != 0)
                continue;
            if (n == STORE_NOTIFY_MAX_RULES || conf_rule(&conf->notifications[j], &rules[n++], err, errlen) != 0) {
                store_notify_rules_free(rules, n);
                pthread_rwlock_unlock(&N.lock);
                return -1;
            }
            rules[n - 1].exclude_hook_writes = conf->notifications[j].exclude_hook_writes;
        }
        set_rules(cn->bucket, rules, n, 1);
    }
    pthread_rwlock_unlock(&N.lock);
    return 0;
}

void store_notify_close(void)
{
    pthread_rwlock_wrlock(&N.lock);
    for (size_t i = 0; i != N.num; ++i)
        store_notify_rules_free(N.b[i].rules, N.b[i].num);
    free(N.b);
    N.b = NULL;
    N.num = 0;
    pthread_rwlock_unlock(&N.lock);
}

void store_notify_bucket_deleted(store_t *s, const char *bucket)
{
    (void)s;
    pthread_rwlock_wrlock(&N.lock);
    bconf_t *bc = find_locked(bucket);
    if (bc != NULL && !bc->from_config)
        set_rules(bucket, NULL, 0, 0); /* (its document went with the bucket's directory) */
    pthread_rwlock_unlock(&N.lock);
}

/* ---- the S3 API
 * ------------------------------------------------------------------------------------------------------------------ */

int store_notify_get_config(store_req_t *sr, store_bucket_t *b)
{
    store_xml_t x;
    pthread_rwlock_rdlock(&N.lock);
    bconf_t *bc = find_locked(store_fs_bucket_name(b));
    store_notify_write_config(&x, bc != NULL ? bc->rules : NULL, bc != NULL ? bc->num : 0);
    pthread_rwlock_unlock(&N.lock);
    return store_send_xml(sr, 200, &x);
}

int store_notify_put_config(store_req_t *sr, store_bucket_t *b)
{
    h2o_iovec_t body;
    if (store_body_read(sr, 1u << 20, &body) != 0)
        return 0;
    const char *bucket = store_fs_bucket_name(b);
    h2o_iovec_t skip = store_req_header(sr, "x-amz-skip-destination-validation");
    int validate = !(skip.base != NULL && h2o_memis(skip.base, skip.len, H2O_STRLIT("true")));
    rule_t *rules;
    size_t n;
    perr_t pe = {0};
    if (store_notify_parse_config(body.base != NULL ? body.base : "", body.len, validate ? function_exists : NULL, &rules, &n,
                                  &pe) != 0)
        return store_send_error(sr, pe.status, pe.code, pe.message, pe.extra[0] != '\0' ? pe.extra : NULL);
    store_xml_t x;
    store_notify_write_config(&x, rules, n);
    pthread_rwlock_wrlock(&N.lock);
    bconf_t *bc = find_locked(bucket);
    if (bc != NULL && bc->from_config) {
        pthread_rwlock_unlock(&N.lock);
        store_notify_rules_free(rules, n);
        store_xml_free(&x);
        return store_send_error(sr, 400, "InvalidArgument",
                                "This bucket's notification configuration is declared in edgehook's configuration file "
                                "(store.notifications): change it there.",
                                NULL);
    }
    if (x.failed || save_doc(b, n != 0 ? x.buf.base : NULL, n != 0 ? x.buf.len : 0) != 0) {
        pthread_rwlock_unlock(&N.lock);
        store_notify_rules_free(rules, n);
        store_xml_free(&x);
        return store_send_error(sr, 500, "InternalError", "We encountered an internal error. Please try again.", NULL);
    }
    set_rules(bucket, rules, n, 0);
    pthread_rwlock_unlock(&N.lock);
    store_xml_free(&x);
    log_info("store: bucket %s: notification configuration set (%zu function configurations)", bucket, n);
    return store_send_empty(sr, 200);
}

/* ---- begin / change ---------------------------------------------------------------------------------------------------------- */

/* the rules of bucket matching key and kind, for origin o: count (and their functions' names' bytes); under the read lock */
static size_t count_matches(const bconf_t *bc, const char *key, size_t klen, int kind, const store_notify_origin_t *o,
                            size_t *extra)
{
    size_t n = 0;
    *extra = 0;
    for (size_t i = 0; bc != NULL && i != bc->num; ++i) {
        const rule_t *r = &bc->rules[i];
        /* a delete may turn out to create a marker: reserve for either */
        int m = store_notify_rule_matches(r, key, klen, kind) ||
                (kind == STORE_EV_DELETE && store_notify_rule_matches(r, key, klen, STORE_EV_DELETE_MARKER));
        if (!m || (o->hook != NULL && r->exclude_hook_writes))
            continue;
        n += 1;
        *extra += strlen(r->function) + strlen(r->id) * 2 + strlen(r->qualifier) + 128;
    }
    return n;
}

static void copy_origin(store_notify_ticket_t *t, const store_notify_origin_t *o)
{
    snprintf(t->request_id, sizeof(t->request_id), "%s", o->request_id != NULL ? o->request_id : "");
    snprintf(t->source_ip, sizeof(t->source_ip), "%s", o->source_ip != NULL ? o->source_ip : "");
    snprintf(t->principal, sizeof(t->principal), "%s", o->principal != NULL ? o->principal : "");
    snprintf(t->hook, sizeof(t->hook), "%s", o->hook != NULL ? o->hook : "");
    t->origin.generation = o->generation;
    t->origin.request_id = t->request_id;
    t->origin.source_ip = t->source_ip;
    t->origin.principal = t->principal;
    t->origin.hook = o->hook != NULL ? t->hook : NULL;
}

int store_notify_begin(store_t *s, const char *bucket, const char *key, size_t klen, int kind, const store_notify_origin_t *o,
                       store_notify_ticket_t *t, char *err, size_t errlen)
{
    (void)s;
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    if (o == NULL)
        return 0; /* the process's own write (an invocation record): purges, makes no event */
    copy_origin(t, o);
    t->active = 1;
    if (!atomic_load(&N.have_backend) || o->generation >= N.max_generations)
        return 0; /* (a chain past the loop guard makes no events: change counts them) */
    pthread_rwlock_rdlock(&N.lock);
    size_t extra, n = count_matches(find_locked(bucket), key, klen, kind, o, &extra);
    pthread_rwlock_unlock(&N.lock);
    if (n == 0)
        return 0;
    uint64_t bytes = n * (RESERVE_OVERHEAD + 3 * (uint64_t)klen + strlen(bucket) * 3) + extra;
    int r = N.backend.reserve((unsigned)n, bytes, &t->reserved_events, &t->reserved_bytes, err, errlen);
    if (r == -2) {
        atomic_fetch_add(&N.refused, 1);
        t->active = 0;
        return -1;
    }
    if (r != 0)
        log_error("store: %s: notifications cannot be reserved (the events will be tried after the write): %s", bucket, err);
    return 0;
}

void store_notify_abort(store_notify_ticket_t *t)
{
    if (t->active && (t->reserved_events != 0 || t->reserved_bytes != 0) && atomic_load(&N.have_backend))
        N.backend.unreserve(&t->reserved_events, &t->reserved_bytes);
    t->active = 0;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* a JSON string (quotes included); bytes >= 0x80 pass as they are (keys are valid UTF-8) */
static void sb_json(sbuf_t *b, const char *s, size_t n)
{
    sb_add(b, "\"", 1);
    for (size_t i = 0; i != n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof(e), "\\u%04x", c);
            sb_add(b, e, 6);
        } else {
            sb_add(b, (const char *)&s[i], 1);
        }
    }
    sb_add(b, "\"", 1);
}

static void sb_key(sbuf_t *b, const char *key, size_t klen)
{
    static const char hex[] = "0123456789ABCDEF";
    sb_add(b, "\"", 1);
    for (size_t i = 0; i != klen; ++i) {
        unsigned char c = (unsigned char)key[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '*' || c == '/') {
            sb_add(b, (const char *)&key[i], 1);
        } else if (c == ' ') {
            sb_add(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_add(b, e, 3);
        }
    }
    sb_add(b, "\"", 1);
}

static uint64_t next_sequencer(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, prev = atomic_load(&N.seq), next;
    do
        next = now > prev ? now : prev + 1;
    while (!atomic_compare_exchange_weak(&N.seq, &prev, next));
    return next;
}

static void build_record(sbuf_t *b, store_t *s, const rule_t *r, const store_notify_ticket_t *t, const char *bucket,
                         const char *key, size_t klen, const store_obj_t *o, const char *version_id, uint64_t seq)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[64], num[64];
    snprintf(tbuf, sizeof(tbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    sb_str(b, "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":");
    sb_json(b, s->region, strlen(s->region));
    sb_str(b, ",\"eventTime\":\"");
    sb_str(b, tbuf);
    sb_str(b, "\",\"eventName\":\"");
    sb_str(b, store_notify_event_names[t->kind]);
    sb_str(b, "\",\"userIdentity\":{\"principalId\":");
    char principal[300];
    if (t->origin.hook != NULL)
        snprintf(principal, sizeof(principal), "edgehook:hook:%s:generation:%u", t->hook, t->origin.generation);
    else if (t->principal[0] != '\0')
        snprintf(principal, sizeof(principal), "AWS:%s", t->principal);
    else
        snprintf(principal, sizeof(principal), "edgehook");
    sb_json(b, principal, strlen(principal));
    sb_str(b, "},\"requestParameters\":{\"sourceIPAddress\":");
    sb_json(b, t->source_ip[0] != '\0' ? t->source_ip : "127.0.0.1", strlen(t->source_ip[0] != '\0' ? t->source_ip : "127.0.0.1"));
    sb_str(b, "},\"responseElements\":{\"x-amz-request-id\":");
    sb_json(b, t->request_id, strlen(t->request_id));
    sb_str(b, ",\"x-amz-id-2\":");
    sb_json(b, t->request_id, strlen(t->request_id));
    sb_str(b, "},\"s3\":{\"s3SchemaVersion\":\"1.0\",\"configurationId\":");
    sb_json(b, r->id, strlen(r->id));
    sb_str(b, ",\"bucket\":{\"name\":");
    sb_json(b, bucket, strlen(bucket));
    sb_str(b, ",\"ownerIdentity\":{\"principalId\":");
    sb_json(b, s->owner_id, strlen(s->owner_id));
    sb_str(b, "},\"arn\":\"arn:aws:s3:::");
    sb_str(b, bucket);
    sb_str(b, "\"},\"object\":{\"key\":");
    sb_key(b, key, klen);
    if (o != NULL) {
        snprintf(num, sizeof(num), ",\"size\":%" PRIu64 ",\"eTag\":", o->size);
        sb_str(b, num);
        sb_json(b, o->etag, strlen(o->etag));
    }
    if (version_id == NULL && o != NULL && o->version_id[0] != '\0')
        version_id = o->version_id; /* a named version (versioned bucket); the null version has none in the record */
    if (version_id != NULL) {
        sb_str(b, ",\"versionId\":");
        sb_json(b, version_id, strlen(version_id));
    }
    snprintf(num, sizeof(num), ",\"sequencer\":\"%016" PRIX64 "\"}},", seq);
    sb_str(b, num);
    /* edgehook's own: who wrote (a hook's writes carry their generation, what the loop guard counts) */
    snprintf(num, sizeof(num), "\"edgehook\":{\"generation\":%u", t->origin.generation);
    sb_str(b, num);
    if (t->origin.hook != NULL) {
        sb_str(b, ",\"hook\":");
        sb_json(b, t->hook, strlen(t->hook));
    }
    sb_str(b, "}}]}");
}

void store_notify_change(store_t *s, store_notify_ticket_t *t, const char *bucket, const char *key, size_t klen,
                         const store_obj_t *o, const char *version_id)
{
    if (!atomic_load(&N.have_backend)) {
        t->active = 0;
        return;
    }
    /* the edge first: no viewer gets the old object once the writer is answered */
    N.backend.purge(store_notify_tag(bucket, strlen(bucket), key, klen));
    atomic_fetch_add(&N.purges, 1);
    if (!t->active)
        return;
    pthread_rwlock_rdlock(&N.lock);
    bconf_t *bc = find_locked(bucket);
    size_t n = bc != NULL ? bc->num : 0;
    rule_t *rules = n != 0 ? malloc(n * sizeof(*rules)) : NULL;
    if (n != 0) {
        memcpy(rules, bc->rules, n * sizeof(*rules));
        for (size_t i = 0; i != n; ++i) {
            rules[i].prefix = NULL; /* not needed past the match below */
            rules[i].suffix = NULL;
            rules[i].events = store_notify_rule_matches(&bc->rules[i], key, klen, t->kind) ? rules[i].events : 0;
        }
    }
    pthread_rwlock_unlock(&N.lock);
    char source[80];
    snprintf(source, sizeof(source), "s3:%s", bucket);
    uint64_t seq = 0;
    for (size_t i = 0; i != n; ++i) {
        const rule_t *r = &rules[i];
        if (r->events == 0)
            continue;
        if (t->origin.hook != NULL && r->exclude_hook_writes) {
            atomic_fetch_add(&N.excluded, 1);
            continue;
        }
        if (t->origin.generation >= N.max_generations) {
            atomic_fetch_add(&N.loop_stopped, 1);
            log_warn("store: s3://%s/%.*s: the event for %s is not made: hook %s wrote it at generation %u, and "
                     "store.notify_max_generations is %u (a loop of hooks writing what triggers them?)",
                     bucket, (int)(klen > 200 ? 200 : klen), key, r->function, t->hook, t->origin.generation, N.max_generations);
            continue;
        }
        if (seq == 0)
            seq = next_sequencer();
        sbuf_t b = {NULL, 0, 0};
        build_record(&b, s, r, t, bucket, key, klen, o, version_id, seq);
        char err[512];
        int e = N.backend.enqueue(r->function, r->qualifier[0] != '\0' ? r->qualifier : NULL, source, &t->reserved_events,
                                  &t->reserved_bytes, b.p, b.len, err, sizeof(err));
        free(b.p);
        if (e == 0) {
            atomic_fetch_add(&N.events, 1);
        } else {
            atomic_fetch_add(&N.lost, 1);
            log_error("store: s3://%s/%.*s: the %s event for hook %s could not be queued: %s", bucket,
                      (int)(klen > 200 ? 200 : klen), key, store_notify_event_names[t->kind], r->function, err);
        }
    }
    free(rules);
    store_notify_abort(t);
}

/* ---- for S3 requests ------------------------------------------------------------------------------------------------------------
 */

static void req_origin(store_req_t *sr, store_notify_origin_t *o)
{
    memset(o, 0, sizeof(*o));
    o->source_ip = sr->peer;
    o->request_id = sr->request_id;
    o->principal = sr->cred != NULL ? sr->cred->access_key : NULL; /* the key that signed the request */
}

int store_notify_req_begin(store_req_t *sr, int kind, store_notify_ticket_t *t)
{
    store_notify_origin_t o;
    char err[256];
    req_origin(sr, &o);
    if (store_notify_begin(sr->store, sr->bucket.base, sr->key.base != NULL ? sr->key.base : "", sr->key.len, kind, &o, t, err,
                           sizeof(err)) == 0)
        return 0;
    store_add_header(sr, "retry-after", "1", 1);
    store_send_error(sr, 503, "SlowDown",
                     "Please reduce your request rate. (The queue of event notifications is full: nothing was written.)", NULL);
    return -1;
}

int store_notify_req_begin_key(store_req_t *sr, int kind, const char *key, size_t klen, store_notify_ticket_t *t)
{
    store_notify_origin_t o;
    char err[256];
    req_origin(sr, &o);
    return store_notify_begin(sr->store, sr->bucket.base, key, klen, kind, &o, t, err, sizeof(err)) == 0 ? 0 : STORE_NOTIFY_FULL;
}

void store_notify_req_change(store_req_t *sr, store_notify_ticket_t *t, const char *key, size_t klen, const store_obj_t *o,
                             const char *version_id)
{
    store_notify_change(sr->store, t, sr->bucket.base, key, klen, o, version_id);
}

void store_notify_req_deleted(store_req_t *sr, store_notify_ticket_t *t, const char *key, size_t klen, const store_fs_deleted_t *d)
{
    if (d->created_marker)
        t->kind = STORE_EV_DELETE_MARKER;
    const char *vid = d->version_id[0] != '\0' && strcmp(d->version_id, "null") != 0 ? d->version_id : NULL;
    store_notify_change(sr->store, t, sr->bucket.base, key, klen, NULL, vid);
}

void store_notify_get_stats(store_notify_stats_t *st)
{
    st->events = atomic_load(&N.events);
    st->refused = atomic_load(&N.refused);
    st->lost = atomic_load(&N.lost);
    st->loop_stopped = atomic_load(&N.loop_stopped);
    st->excluded = atomic_load(&N.excluded);
    st->purges = atomic_load(&N.purges);
}
