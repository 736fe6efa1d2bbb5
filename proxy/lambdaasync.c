/* proxy/lambdaasync.c - `Event` invocations on the durable queue: consumers, retries, destinations, the event invoke config
 * (semantics in proxy/lambdaasync.h). */
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
#include "hooks/json.h"
#include "proxy/admin.h"
#include "proxy/control.h"
#include "proxy/lambdaapi.h"
#include "proxy/lambdainvoke.h"
#include "proxy/lambdaasync.h"
#include "proxy/server.h"
#include "queue/queue.h"
#ifdef EDGE_HAVE_STORE_STORE
#include "store/store.h"
#endif

#define MAX_PAYLOAD (256u << 10) /* Lambda's limit of an asynchronous invocation's payload */
#define MAX_ARN 350
#define DEFAULT_RETRIES 2
#define DEFAULT_MAX_AGE_MS (6 * 3600000ull)

/* one function (hook) the queue has seen or the config declares; never freed while the module runs */
typedef struct fn_entry {
    char *name;
    int declared; /* in the running configuration */
    /* the config's `async:` */
    unsigned retries, concurrency;
    uint64_t max_age_ms, backoff_ms;
    char on_failure[MAX_ARN + 1], on_success[MAX_ARN + 1];
    /* PutFunctionEventInvokeConfig's (api_set: there is one) */
    int api_set;
    unsigned api_retries;
    uint64_t api_max_age_ms;
    char api_on_failure[MAX_ARN + 1], api_on_success[MAX_ARN + 1];
    double api_modified; /* seconds since the epoch */
    unsigned running;    /* attempts running now */
} fn_entry_t;

/* the settings an attempt uses */
/* the outcome of one attempt */
typedef struct lambda_async_result {
    int status;                /* the Invoke API's status: 200 when the function ran (even with a function error) */
    char function_error[32];   /* "Unhandled" or "" */
    char executed_version[32]; /* "$LATEST", "3", ... */
    char *payload;             /* the response or the error document (malloc'ed, may be NULL) */
    size_t len;
} lambda_async_result_t;

typedef struct settings {
    unsigned retries, concurrency;
    uint64_t max_age_ms, backoff_ms;
    char on_failure[MAX_ARN + 1], on_success[MAX_ARN + 1];
} settings_t;

static struct {
    pthread_mutex_t mu; /* fns, region; never held while calling the queue */
    queue_t *q;
    store_t *store;
    char *dir; /* STATE_DIR/queue */
    char region[64];
    fn_entry_t **fns;
    size_t num_fns;
    pthread_t *threads;
    unsigned num_threads;
    _Atomic int stopping;
    unsigned running_threads; /* under mu: consumers not yet returned */
    pthread_cond_t threads_done;
    _Atomic uint64_t enqueued, refused, invocations, retries, failures, successes, age_exceeded, dest_ok, dest_failed;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .threads_done = PTHREAD_COND_INITIALIZER};

/* ---- per-source counters (store notifications: s3:BUCKET) ---------------------------------------------------------------- */

enum { SRC_ENQUEUED, SRC_INVOCATIONS, SRC_RETRIES, SRC_SUCCESSES, SRC_FAILURES, SRC_NUM };
#define MAX_SOURCES 64 /* the first 64 sources get counters of their own; later ones count under "other" */
static struct {
    pthread_mutex_t mu;
    size_t num;
    char names[MAX_SOURCES + 1][72];
    uint64_t counts[MAX_SOURCES + 1][SRC_NUM];
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void source_count(const char *src, size_t len, int which)
{
    pthread_mutex_lock(&S.mu);
    size_t i;
    for (i = 0; i != S.num; ++i)
        if (strlen(S.names[i]) == len && memcmp(S.names[i], src, len) == 0)
            break;
    if (i == S.num) {
        if (S.num < MAX_SOURCES && len < sizeof(S.names[0])) {
            memcpy(S.names[i], src, len);
            S.names[i][len] = '\0';
            S.num += 1;
        } else {
            i = MAX_SOURCES;
            snprintf(S.names[i], sizeof(S.names[i]), "other");
        }
    }
    S.counts[i][which] += 1;
    pthread_mutex_unlock(&S.mu);
}

/* ---- functions and their settings --------------------------------------------------------------------------------------- */

static fn_entry_t *find_fn(const char *name, size_t len, int add)
{
    for (size_t i = 0; i != A.num_fns; ++i)
        if (strlen(A.fns[i]->name) == len && memcmp(A.fns[i]->name, name, len) == 0)
            return A.fns[i];
    if (!add)
        return NULL;
    fn_entry_t *f = calloc(1, sizeof(*f)), **fns = realloc(A.fns, (A.num_fns + 1) * sizeof(*fns));
    if (f == NULL || fns == NULL)
        h2o_fatal("no memory");
    A.fns = fns;
    f->name = h2o_strdup(NULL, name, len).base;
    f->retries = DEFAULT_RETRIES;
    f->max_age_ms = DEFAULT_MAX_AGE_MS;
    f->backoff_ms = 60000;
    f->concurrency = 2;
    A.fns[A.num_fns++] = f;
    return f;
}

static void get_settings(const char *name, size_t len, settings_t *s)
{
    pthread_mutex_lock(&A.mu);
    fn_entry_t *f = find_fn(name, len, 1);
    s->concurrency = f->concurrency;
    s->backoff_ms = f->backoff_ms;
    s->retries = f->api_set ? f->api_retries : f->retries;
    s->max_age_ms = f->api_set ? f->api_max_age_ms : f->max_age_ms;
    memcpy(s->on_failure, f->api_set ? f->api_on_failure : f->on_failure, sizeof(s->on_failure));
    memcpy(s->on_success, f->api_set ? f->api_on_success : f->on_success, sizeof(s->on_success));
    pthread_mutex_unlock(&A.mu);
}

void lambda_async_configure(const conf_t *conf)
{
    pthread_mutex_lock(&A.mu);
    snprintf(A.region, sizeof(A.region), "%s",
             conf->store.enabled && conf->store.region != NULL ? conf->store.region : "us-east-1");
    for (size_t i = 0; i != A.num_fns; ++i)
        A.fns[i]->declared = 0;
    for (size_t i = 0; i != conf->num_hooks; ++i) {
        const conf_hook_t *h = &conf->hooks[i];
        fn_entry_t *f = find_fn(h->name, strlen(h->name), 1);
        f->declared = 1;
        f->retries = h->async.retries;
        f->max_age_ms = h->async.max_age_ms;
        f->backoff_ms = h->async.backoff_ms;
        f->concurrency = h->async.concurrency;
        snprintf(f->on_failure, sizeof(f->on_failure), "%s", h->async.on_failure != NULL ? h->async.on_failure : "");
        snprintf(f->on_success, sizeof(f->on_success), "%s", h->async.on_success != NULL ? h->async.on_success : "");
    }
    pthread_mutex_unlock(&A.mu);
    if (A.q != NULL)
        queue_wake(A.q); /* concurrency may have grown */
}

/* ---- the event invoke config, durable ------------------------------------------------------------------------------------ */

static void config_json(hook_buf_t *b, const fn_entry_t *f)
{
    char arn[512];
    lambdaapi_arn(arn, sizeof(arn), A.region, f->name, "$LATEST");
    hook_buf_appendf(b, "{\"LastModified\":%.3f,\"FunctionArn\":", f->api_modified);
    hook_buf_json_string(b, arn, strlen(arn));
    hook_buf_appendf(b,
                     ",\"MaximumRetryAttempts\":%u,\"MaximumEventAgeInSeconds\":%" PRIu64 ",\"DestinationConfig\":{\"OnSuccess\":{",
                     f->api_retries, f->api_max_age_ms / 1000);
    if (f->api_on_success[0] != '\0') {
        hook_buf_append(b, "\"Destination\":", 14);
        hook_buf_json_string(b, f->api_on_success, strlen(f->api_on_success));
    }
    hook_buf_append(b, "},\"OnFailure\":{", 15);
    if (f->api_on_failure[0] != '\0') {
        hook_buf_append(b, "\"Destination\":", 14);
        hook_buf_json_string(b, f->api_on_failure, strlen(f->api_on_failure));
    }
    hook_buf_append(b, "}}}", 3);
}

/* writes every function's API config to dir/event-invoke-config.json (temp file, fsync, rename, directory fsync); under A.mu */
static int save_configs(char *err, size_t errlen)
{
    hook_buf_t b = {NULL, 0, 0};
    char path[4200], tmp[4220];
    int first = 1;
    hook_buf_append(&b, "{", 1);
    for (size_t i = 0; i != A.num_fns; ++i) {
        if (!A.fns[i]->api_set)
            continue;
        hook_buf_append(&b, first ? "\n" : ",\n", first ? 1 : 2);
        first = 0;
        hook_buf_json_string(&b, A.fns[i]->name, strlen(A.fns[i]->name));
        hook_buf_append(&b, ":", 1);
        config_json(&b, A.fns[i]);
    }
    hook_buf_append(&b, "\n}\n", 3);
    snprintf(path, sizeof(path), "%s/event-invoke-config.json", A.dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ok = fd != -1;
    ok = ok && write(fd, b.base, b.len) == (ssize_t)b.len && fsync(fd) == 0;
    if (fd != -1)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (ok && (fd = open(A.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
        (void)fsync(fd);
        close(fd);
    }
    hook_buf_free(&b);
    if (!ok) {
        snprintf(err, errlen, "cannot write %.300s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void copy_dest(char *out, const hook_json_t *dc, const char *which)
{
    size_t len;
    const char *s = hook_json_string(hook_json_get(hook_json_get(dc, which), "Destination"), &len);
    snprintf(out, MAX_ARN + 1, "%.*s", s != NULL && len <= MAX_ARN ? (int)len : 0, s != NULL ? s : "");
}

static int load_configs(char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/event-invoke-config.json", A.dir);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno)), -1);
    hook_buf_t b = {NULL, 0, 0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) != 0)
        hook_buf_append(&b, chunk, n);
    fclose(fp);
    char perr[256];
    hook_json_t *doc = hook_json_parse(b.base != NULL ? b.base : "", b.len, perr, sizeof(perr));
    hook_buf_free(&b);
    if (doc == NULL || doc->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "%s: %s", path, doc == NULL ? perr : "not an object");
        hook_json_free(doc);
        return -1;
    }
    for (size_t i = 0; i != doc->count; ++i) {
        const hook_json_t *c = doc->items[i], *v;
        fn_entry_t *f = find_fn(doc->keys[i], doc->key_lens[i], 1);
        f->api_set = 1;
        f->api_retries = (v = hook_json_get(c, "MaximumRetryAttempts")) != NULL ? (unsigned)v->number : DEFAULT_RETRIES;
        f->api_max_age_ms =
            (v = hook_json_get(c, "MaximumEventAgeInSeconds")) != NULL ? (uint64_t)v->number * 1000 : DEFAULT_MAX_AGE_MS;
        f->api_modified = (v = hook_json_get(c, "LastModified")) != NULL ? v->number : 0;
        copy_dest(f->api_on_success, hook_json_get(c, "DestinationConfig"), "OnSuccess");
        copy_dest(f->api_on_failure, hook_json_get(c, "DestinationConfig"), "OnFailure");
    }
    hook_json_free(doc);
    return 0;
}

/* ---- enqueue -------------------------------------------------------------------------------------------------------------- */

static void new_request_id(char out[37])
{
    if (edge_uuid4(out) != 0)
        h2o_fatal("no random bytes");
}

/* the queued form: "REQUEST_ID\nQUALIFIER[\tSOURCE]\n" then the payload (SOURCE: s3:BUCKET for a store notification, none for
 * the Lambda API's Event invocations and destinations) */
static int enqueue(const char *function, const char *qualifier, const char *source, queue_reservation_t *reserved,
                   const char *payload, size_t len, char request_id[37], int *status, const char **error_type, char *err,
                   size_t errlen)
{
    if (A.q == NULL) {
        *status = 503;
        *error_type = "ServiceException";
        snprintf(err, errlen, "asynchronous invocations are not running");
        return -1;
    }
    if (len > MAX_PAYLOAD) {
        *status = 413;
        *error_type = "RequestTooLargeException";
        snprintf(err, errlen, "Request must be smaller than %u bytes for the InvokeAsync operation", MAX_PAYLOAD);
        return -1;
    }
    new_request_id(request_id);
    size_t qlen = qualifier != NULL ? strlen(qualifier) : 0, slen = source != NULL ? strlen(source) + 1 : 0,
           head = 36 + 1 + qlen + slen + 1;
    char *data = malloc(head + len);
    if (data == NULL)
        h2o_fatal("no memory");
    memcpy(data, request_id, 36);
    data[36] = '\n';
    if (qlen != 0)
        memcpy(data + 37, qualifier, qlen);
    if (slen != 0) {
        data[37 + qlen] = '\t';
        memcpy(data + 37 + qlen + 1, source, slen - 1);
    }
    data[37 + qlen + slen] = '\n';
    if (len != 0)
        memcpy(data + head, payload, len);
    uint64_t id;
    int r = queue_enqueue_reserved(A.q, reserved, function, strlen(function), data, head + len, &id, err, errlen);
    free(data);
    if (r == 0) {
        atomic_fetch_add(&A.enqueued, 1);
        return 0;
    }
    if (r == QUEUE_FULL) {
        atomic_fetch_add(&A.refused, 1);
        *status = 429;
        *error_type = "TooManyRequestsException";
    } else {
        *status = 500;
        *error_type = "ServiceException";
    }
    return -1;
}

int lambda_enqueue(const char *function, const char *qualifier, const char *payload, size_t len, char request_id[37], int *status,
                   const char **error_type, char *err, size_t errlen)
{
    pthread_mutex_lock(&A.mu);
    fn_entry_t *f = find_fn(function, strlen(function), 0);
    int known = f != NULL && f->declared;
    pthread_mutex_unlock(&A.mu);
    if (!known) {
        char arn[512];
        pthread_mutex_lock(&A.mu);
        lambdaapi_arn(arn, sizeof(arn), A.region, function, qualifier);
        pthread_mutex_unlock(&A.mu);
        *status = 404;
        *error_type = "ResourceNotFoundException";
        snprintf(err, errlen, "Function not found: %s", arn);
        return -1;
    }
    return enqueue(function, qualifier, NULL, NULL, payload, len, request_id, status, error_type, err, errlen);
}

int lambda_async_function_exists(const char *function)
{
    pthread_mutex_lock(&A.mu);
    fn_entry_t *f = find_fn(function, strlen(function), 0);
    int known = f != NULL && f->declared;
    pthread_mutex_unlock(&A.mu);
    return known;
}

int lambda_async_reserve(unsigned events, uint64_t bytes, queue_reservation_t *r, char *err, size_t errlen)
{
    if (A.q == NULL) {
        snprintf(err, errlen, "asynchronous invocations are not running");
        return -1;
    }
    int ret = queue_reserve(A.q, events, bytes, r, err, errlen);
    if (ret == QUEUE_FULL)
        atomic_fetch_add(&A.refused, 1);
    return ret;
}

void lambda_async_unreserve(queue_reservation_t *r)
{
    if (A.q != NULL && (r->events != 0 || r->bytes != 0))
        queue_unreserve(A.q, r);
}

int lambda_enqueue_source(const char *function, const char *qualifier, const char *source, queue_reservation_t *reserved,
                          const char *payload, size_t len, char *err, size_t errlen)
{
    char rid[37];
    int status;
    const char *type;
    if (!lambda_async_function_exists(function)) {
        snprintf(err, errlen, "no hook named %s", function);
        return -1;
    }
    int r = enqueue(function, qualifier, source, reserved, payload, len, rid, &status, &type, err, errlen);
    if (r == 0 && source != NULL)
        source_count(source, strlen(source), SRC_ENQUEUED);
    return r == 0 ? 0 : status == 429 ? QUEUE_FULL : -1;
}

/* ---- destinations --------------------------------------------------------------------------------------------------------- */

static void iso_time(char *out, size_t outlen, uint64_t ms, int key_form)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (key_form)
        strftime(out, outlen, "%Y/%m/%d/%Y-%m-%dT%H.%M.%S", &tm);
    else
        snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* a JSON text as itself, anything else as a JSON string */
static void json_or_string(hook_buf_t *b, const char *s, size_t len)
{
    char err[64];
    hook_json_t *v = hook_json_parse_max(s, len, 100000, err, sizeof(err));
    if (v != NULL)
        hook_buf_append(b, s, len);
    else
        hook_buf_json_string(b, s, len);
    hook_json_free(v);
}

/* Lambda's invocation record */
static void build_record(hook_buf_t *b, const char *function, const char *qualifier, const char *request_id, const char *condition,
                         unsigned count, const char *payload, size_t len, const lambda_async_result_t *res)
{
    char ts[64], arn[512];
    iso_time(ts, sizeof(ts), queue_now_ms(), 0);
    pthread_mutex_lock(&A.mu);
    lambdaapi_arn(arn, sizeof(arn), A.region, function, qualifier != NULL && qualifier[0] != '\0' ? qualifier : "$LATEST");
    pthread_mutex_unlock(&A.mu);
    hook_buf_appendf(b, "{\"version\":\"1.0\",\"timestamp\":\"%s\",\"requestContext\":{\"requestId\":\"%s\",\"functionArn\":", ts,
                     request_id);
    hook_buf_json_string(b, arn, strlen(arn));
    hook_buf_appendf(b, ",\"condition\":\"%s\",\"approximateInvokeCount\":%u},\"requestPayload\":", condition, count);
    json_or_string(b, payload, len);
    if (res != NULL) {
        const char *ver = res->executed_version[0] != '\0' ? res->executed_version : "$LATEST";
        hook_buf_appendf(b, ",\"responseContext\":{\"statusCode\":%d,\"executedVersion\":", res->status);
        hook_buf_json_string(b, ver, strlen(ver));
        if (res->function_error[0] != '\0') {
            hook_buf_append(b, ",\"functionError\":", 17);
            hook_buf_json_string(b, res->function_error, strlen(res->function_error));
        }
        hook_buf_append(b, "},\"responsePayload\":", 20);
        if (res->payload != NULL && res->len != 0)
            json_or_string(b, res->payload, res->len);
        else
            hook_buf_append(b, "null", 4);
    }
    hook_buf_append(b, "}", 1);
}

static int deliver(const char *dest, const char *function, const char *record, size_t len)
{
    char err[512];
    int ok = 0;
    if (strncmp(dest, "arn:aws:s3:::", 13) == 0) {
        char key[1024], when[64], uuid[37];
        iso_time(when, sizeof(when), queue_now_ms(), 1);
        new_request_id(uuid);
        snprintf(key, sizeof(key), "aws/lambda/async/%s/%s-%s", function, when, uuid);
#ifdef EDGE_HAVE_STORE_STORE
        if (A.store == NULL)
            snprintf(err, sizeof(err), "no embedded store is configured (store:)");
        else
            ok = store_put_object_internal(A.store, dest + 13, key, record, len, "application/json", err, sizeof(err)) == 0;
#else
        snprintf(err, sizeof(err), "this build has no embedded store");
#endif
        if (ok)
            log_info("async: %s: invocation record written to s3://%s/%s", function, dest + 13, key);
    } else {
        const char *p = strstr(dest, ":function:");
        char name[256], qual[129], rid[37];
        const char *etype;
        int status;
        qual[0] = '\0';
        if (p != NULL) {
            p += 10;
            const char *colon = strchr(p, ':');
            snprintf(name, sizeof(name), "%.*s", (int)(colon != NULL ? (size_t)(colon - p) : strlen(p)), p);
            if (colon != NULL)
                snprintf(qual, sizeof(qual), "%s", colon + 1);
            ok = lambda_enqueue(name, qual[0] != '\0' ? qual : NULL, record, len, rid, &status, &etype, err, sizeof(err)) == 0;
            if (ok)
                log_info("async: %s: invocation record queued for %s (request %s)", function, name, rid);
        } else {
            snprintf(err, sizeof(err), "not a destination ARN");
        }
    }
    if (ok) {
        atomic_fetch_add(&A.dest_ok, 1);
    } else {
        atomic_fetch_add(&A.dest_failed, 1);
        log_error("async: %s: the invocation record could not be delivered to %s (it is dropped): %s", function, dest, err);
    }
    return ok ? 0 : -1;
}

/* ---- one attempt, on a worker's loop -------------------------------------------------------------------------------------- */

typedef struct attempt {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done;
    const char *function, *qualifier, *payload;
    size_t len;
    lambda_async_result_t res;
} attempt_t;

static void on_attempt_result(const lambda_invoke_result_t *r, void *arg)
{
    attempt_t *a = arg;
    lambda_async_result_t *res = &a->res;
    res->status = r->status;
    snprintf(res->function_error, sizeof(res->function_error), "%s", r->function_error != NULL ? r->function_error : "");
    snprintf(res->executed_version, sizeof(res->executed_version), "%s",
             r->executed_version != NULL ? r->executed_version : "$LATEST");
    if (r->body.len != 0) {
        res->payload = h2o_strdup(NULL, r->body.base, r->body.len).base;
        res->len = r->body.len;
    }
    pthread_mutex_lock(&a->mu);
    a->done = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mu);
}

/* on the worker: lambda_invoke_run calls back on this loop */
static void start_attempt(void *arg)
{
    attempt_t *a = arg;
    lambda_invoke_run(a->function, a->qualifier, a->payload, a->len, 0, on_attempt_result, a);
}

/* runs one attempt to its end: 0 with a->res, or -1 when the server stops first (the attempt may not have run) */
static int run_attempt(attempt_t *a)
{
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    if (server_run_on_worker(start_attempt, a) != 0)
        return -1;
    pthread_mutex_lock(&a->mu);
    while (!a->done)
        pthread_cond_wait(&a->cond, &a->mu);
    pthread_mutex_unlock(&a->mu);
    return 0;
}

/* ---- consumers ------------------------------------------------------------------------------------------------------------ */

typedef struct consumer {
    fn_entry_t *accepted; /* the function the filter gave a slot to */
} consumer_t;

static int take_filter(void *arg, const char *key, size_t len)
{
    consumer_t *c = arg;
    pthread_mutex_lock(&A.mu);
    fn_entry_t *f = find_fn(key, len, 1);
    int ok = f->running < f->concurrency;
    if (ok) {
        f->running += 1;
        c->accepted = f;
    }
    pthread_mutex_unlock(&A.mu);
    return ok;
}

static void release_slot(consumer_t *c)
{
    pthread_mutex_lock(&A.mu);
    if (c->accepted != NULL)
        c->accepted->running -= 1;
    c->accepted = NULL;
    pthread_mutex_unlock(&A.mu);
    queue_wake(A.q); /* another event of that function may run now */
}

static void give_up(const queue_event_t *ev, const settings_t *s, const char *rid, const char *qual, const char *condition,
                    unsigned count, const char *payload, size_t len, const lambda_async_result_t *res)
{
    atomic_fetch_add(&A.failures, 1);
    {
        /* the source, from the queued header (REQUEST_ID \n QUALIFIER \t SOURCE \n) */
        const char *nl1 = memchr(ev->payload, '\n', ev->len),
                   *nl2 = nl1 != NULL ? memchr(nl1 + 1, '\n', ev->len - (size_t)(nl1 + 1 - ev->payload)) : NULL;
        const char *tab = nl2 != NULL ? memchr(nl1 + 1, '\t', (size_t)(nl2 - nl1 - 1)) : NULL;
        if (tab != NULL)
            source_count(tab + 1, (size_t)(nl2 - tab - 1), SRC_FAILURES);
    }
    if (strcmp(condition, "EventAgeExceeded") == 0)
        atomic_fetch_add(&A.age_exceeded, 1);
    log_error("async: %s: request %s failed (%s after %u attempts)%s%s", ev->key, rid, condition, count,
              s->on_failure[0] != '\0' ? "; on-failure destination " : "; no on-failure destination, dropped",
              s->on_failure[0] != '\0' ? s->on_failure : "");
    if (s->on_failure[0] != '\0') {
        hook_buf_t b = {NULL, 0, 0};
        build_record(&b, ev->key, qual, rid, condition, count, payload, len, res);
        deliver(s->on_failure, ev->key, b.base, b.len);
        hook_buf_free(&b);
    }
}

static void process(queue_event_t *ev)
{
    settings_t s;
    get_settings(ev->key, ev->key_len, &s);
    /* REQUEST_ID \n QUALIFIER \n PAYLOAD */
    char rid[37] = "", qual[129] = "", src[72] = "";
    const char *nl1 = memchr(ev->payload, '\n', ev->len),
               *nl2 = nl1 != NULL ? memchr(nl1 + 1, '\n', ev->len - (size_t)(nl1 + 1 - ev->payload)) : NULL,
               *tab = nl2 != NULL ? memchr(nl1 + 1, '\t', (size_t)(nl2 - nl1 - 1)) : NULL, *qend = tab != NULL ? tab : nl2;
    if (nl2 == NULL || nl1 - ev->payload != 36 || qend - nl1 - 1 > 128 ||
        (tab != NULL && nl2 - tab - 1 >= (ptrdiff_t)sizeof(src))) {
        log_error("async: %s: a malformed queued event was dropped", ev->key);
        queue_done(A.q, ev->id);
        return;
    }
    memcpy(rid, ev->payload, 36);
    memcpy(qual, nl1 + 1, (size_t)(qend - nl1 - 1));
    if (tab != NULL)
        memcpy(src, tab + 1, (size_t)(nl2 - tab - 1));
    const char *payload = nl2 + 1;
    size_t len = ev->len - (size_t)(payload - ev->payload);
    uint64_t now = queue_now_ms();
    if (now - ev->enqueued_ms > s.max_age_ms) {
        give_up(ev, &s, rid, qual, "EventAgeExceeded", ev->attempts - 1, payload, len, NULL);
        queue_done(A.q, ev->id);
        return;
    }
    if (ev->attempts > s.retries + 1) { /* attempts cut short by crashes used up the retries */
        give_up(ev, &s, rid, qual, "RetriesExhausted", ev->attempts - 1, payload, len, NULL);
        queue_done(A.q, ev->id);
        return;
    }
    attempt_t *a = calloc(1, sizeof(*a)); /* on the heap: a consumer given up on at shutdown may leave it to its worker */
    if (a == NULL)
        h2o_fatal("no memory");
    a->function = ev->key;
    a->qualifier = qual[0] != '\0' ? qual : NULL;
    a->payload = payload;
    a->len = len;
    atomic_fetch_add(&A.invocations, 1);
    if (src[0] != '\0')
        source_count(src, strlen(src), SRC_INVOCATIONS);
    if (run_attempt(a) != 0) {
        free(a); /* stopping: it stays taken, and runs again at the next start */
        return;
    }
    lambda_async_result_t res = a->res;
    free(a);
    if (res.status / 100 == 2 && res.function_error[0] == '\0') {
        atomic_fetch_add(&A.successes, 1);
        if (src[0] != '\0')
            source_count(src, strlen(src), SRC_SUCCESSES);
        if (s.on_success[0] != '\0') {
            hook_buf_t b = {NULL, 0, 0};
            build_record(&b, ev->key, qual[0] != '\0' ? qual : NULL, rid, "Success", ev->attempts, payload, len, &res);
            deliver(s.on_success, ev->key, b.base, b.len);
            hook_buf_free(&b);
        }
        queue_done(A.q, ev->id);
    } else if (ev->attempts < s.retries + 1) {
        uint64_t wait = s.backoff_ms << (ev->attempts - 1);
        atomic_fetch_add(&A.retries, 1);
        if (src[0] != '\0')
            source_count(src, strlen(src), SRC_RETRIES);
        log_info("async: %s: request %s attempt %u failed (status %d%s%s); retry in %" PRIu64 " ms", ev->key, rid, ev->attempts,
                 res.status, res.function_error[0] != '\0' ? ", " : "", res.function_error, wait);
        queue_retry(A.q, ev->id, queue_now_ms() + wait);
    } else {
        give_up(ev, &s, rid, qual[0] != '\0' ? qual : NULL, "RetriesExhausted", ev->attempts, payload, len, &res);
        queue_done(A.q, ev->id);
    }
    free(res.payload);
}

static void *consumer_main(void *arg)
{
    consumer_t c = {NULL};
    while (!atomic_load(&A.stopping)) {
        uint64_t seen = queue_changes(A.q), next = UINT64_MAX, now = queue_now_ms();
        queue_event_t ev;
        int r = queue_take(A.q, now, take_filter, &c, &ev, &next);
        if (r == 1) {
            process(&ev);
            queue_event_clear(&ev);
        }
        if (r != 0 || c.accepted != NULL)
            release_slot(&c);
        if (r == 1)
            continue;
        queue_wait(A.q, seen, r < 0 ? now + 1000 : (next < now + 1000 ? next : now + 1000));
    }
    pthread_mutex_lock(&A.mu);
    A.running_threads -= 1;
    pthread_cond_signal(&A.threads_done);
    pthread_mutex_unlock(&A.mu);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------------------------------------ */

int lambda_async_start(const conf_t *conf, const char *state_dir, store_t *store, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/queue", state_dir);
    queue_limits_t lim = {.max_events = conf->async_queue.max_events,
                          .max_bytes = conf->async_queue.max_bytes,
                          .visibility_ms = conf->async_queue.visibility_ms};
    if ((A.q = queue_open(dir, &lim, err, errlen)) == NULL)
        return -1;
    A.dir = strdup(dir);
    A.store = store;
    lambda_async_configure(conf);
    pthread_mutex_lock(&A.mu);
    int r = load_configs(err, errlen);
    pthread_mutex_unlock(&A.mu);
    if (r != 0) {
        queue_close(A.q);
        A.q = NULL;
        return -1;
    }
    queue_stats_t st;
    queue_get_stats(A.q, &st);
    if (st.events != 0)
        log_info("async: %" PRIu64 " queued invocations in %s (redelivered now)", st.events, dir);
    A.num_threads = conf->async_queue.threads;
    return 0;
}

void lambda_async_run(void)
{
    if (A.q == NULL)
        return;
    A.threads = calloc(A.num_threads, sizeof(*A.threads));
    A.running_threads = A.num_threads;
    for (unsigned i = 0; i != A.num_threads; ++i) {
        if (pthread_create(&A.threads[i], NULL, consumer_main, NULL) != 0)
            h2o_fatal("cannot start a consumer thread");
        pthread_detach(A.threads[i]); /* lambda_async_stop waits for them with a deadline */
    }
}

void lambda_async_stop(uint64_t grace_ms)
{
    if (A.q == NULL)
        return;
    atomic_store(&A.stopping, 1);
    queue_wake(A.q);
    uint64_t until = queue_now_ms() + grace_ms;
    struct timespec ts = {.tv_sec = (time_t)(until / 1000), .tv_nsec = (long)(until % 1000) * 1000000};
    pthread_mutex_lock(&A.mu);
    while (A.running_threads != 0)
        if (pthread_cond_timedwait(&A.threads_done, &A.mu, &ts) == ETIMEDOUT)
            break;
    unsigned left = A.running_threads;
    pthread_mutex_unlock(&A.mu);
    if (left != 0)
        log_warn("async: %u invocations still running at shutdown: they run again at the next start", left);
}

void lambda_async_close(void)
{
    if (A.q == NULL)
        return;
    pthread_mutex_lock(&A.mu);
    unsigned left = A.running_threads;
    pthread_mutex_unlock(&A.mu);
    if (left != 0)
        return; /* a consumer still waits for its attempt: the queue stays open until the process exits */
    free(A.threads);
    A.threads = NULL;
    queue_close(A.q);
    A.q = NULL;
    free(A.dir);
    A.dir = NULL;
    for (size_t i = 0; i != A.num_fns; ++i) {
        free(A.fns[i]->name);
        free(A.fns[i]);
    }
    free(A.fns);
    A.fns = NULL;
    A.num_fns = 0;
}

/* ---- the HTTP routes ------------------------------------------------------------------------------------------------------ */

enum { JOB_INVOKE, JOB_PUT, JOB_UPDATE, JOB_GET, JOB_DELETE };

typedef struct async_job {
    h2o_req_t *req; /* NULL once the request is gone */
    struct async_guard *guard;
    int kind;
    char function[256], qualifier[129];
    char *body;
    size_t len;
    /* the answer */
    int status;
    const char *error_type; /* an error: lambdaapi_error(status, error_type, message) */
    char message[1024];
    hook_buf_t out;
    char request_id[37];
} async_job_t;

typedef struct async_guard {
    async_job_t *job;
} async_guard_t;

static void on_guard_dispose(void *p)
{
    async_guard_t *g = p;
    if (g->job != NULL)
        g->job->req = NULL;
}

static void job_error(async_job_t *job, int status, const char *type, const char *msg)
{
    job->status = status;
    job->error_type = type;
    snprintf(job->message, sizeof(job->message), "%s", msg);
}

/* PutFunctionEventInvokeConfig (replace) and UpdateFunctionEventInvokeConfig (merge) */
static void run_config_write(async_job_t *job)
{
    char perr[256], err[1024];
    hook_json_t *doc = hook_json_parse(job->body != NULL ? job->body : "{}", job->body != NULL ? job->len : 2, perr, sizeof(perr));
    const hook_json_t *v, *dc;
    if (doc == NULL || doc->type != HOOK_JSON_OBJECT) {
        snprintf(err, sizeof(err), "Could not parse request body into json: %s", doc == NULL ? perr : "not an object");
        job_error(job, 400, "InvalidRequestContentException", err);
        goto out;
    }
    pthread_mutex_lock(&A.mu);
    fn_entry_t *f = find_fn(job->function, strlen(job->function), 0), old;
    if (f == NULL || !f->declared) {
        char arn[512];
        lambdaapi_arn(arn, sizeof(arn), A.region, job->function, NULL);
        snprintf(err, sizeof(err), "Function not found: %s", arn);
        pthread_mutex_unlock(&A.mu);
        job_error(job, 404, "ResourceNotFoundException", err);
        goto out;
    }
    old = *f;
    if (job->kind == JOB_PUT || !f->api_set) {
        f->api_retries = DEFAULT_RETRIES;
        f->api_max_age_ms = DEFAULT_MAX_AGE_MS;
        f->api_on_failure[0] = f->api_on_success[0] = '\0';
    }
    const char *bad = NULL;
    if ((v = hook_json_get(doc, "MaximumRetryAttempts")) != NULL) {
        if (v->type != HOOK_JSON_NUMBER || v->number < 0 || v->number > 2 || v->number != (unsigned)v->number)
            bad = "1 validation error detected: Value at 'maximumRetryAttempts' failed to satisfy constraint: Member must have "
                  "value less than or equal to 2";
        else
            f->api_retries = (unsigned)v->number;
    }
    if ((v = hook_json_get(doc, "MaximumEventAgeInSeconds")) != NULL) {
        if (v->type != HOOK_JSON_NUMBER || v->number < 60 || v->number > 21600 || v->number != (unsigned)v->number)
            bad = "1 validation error detected: Value at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must "
                  "have value between 60 and 21600";
        else
            f->api_max_age_ms = (uint64_t)v->number * 1000;
    }
    if ((dc = hook_json_get(doc, "DestinationConfig")) != NULL) {
        static const char *const which[] = {"OnSuccess", "OnFailure"};
        for (int i = 0; i != 2; ++i) {
            const hook_json_t *d = hook_json_get(dc, which[i]);
            if (d == NULL)
                continue;
            char arn[MAX_ARN + 1];
            copy_dest(arn, dc, which[i]);
            if (arn[0] != '\0' && !conf_valid_destination_arn(arn))
                bad = "The destination ARN is not supported here: use arn:aws:s3:::BUCKET or arn:aws:lambda:REGION:ACCOUNT:"
                      "function:NAME";
            else if (i == 0 && strncmp(arn, "arn:aws:s3:::", 13) == 0)
                bad = "S3 destinations are supported only for OnFailure";
            else
                memcpy(i == 0 ? f->api_on_success : f->api_on_failure, arn, sizeof(arn));
        }
    }
    if (bad != NULL) {
        *f = old;
        pthread_mutex_unlock(&A.mu);
        job_error(job, 400, "InvalidParameterValueException", bad);
        goto out;
    }
    f->api_set = 1;
    f->api_modified = (double)queue_now_ms() / 1000;
    if (save_configs(err, sizeof(err)) != 0) {
        *f = old;
        pthread_mutex_unlock(&A.mu);
        job_error(job, 500, "ServiceException", err);
        goto out;
    }
    job->status = 200;
    config_json(&job->out, f);
    pthread_mutex_unlock(&A.mu);
    log_info("async: %s: event invoke config set by the API (retries %u, max age %" PRIu64 " s)", job->function, f->api_retries,
             f->api_max_age_ms / 1000);
out:
    hook_json_free(doc);
}

static void run_job(void *arg)
{
    async_job_t *job = arg;
    char err[1024];
    switch (job->kind) {
    case JOB_INVOKE: {
        int status, loaded_now;
        unsigned version;
        const char *type;
        hook_fn_t *fn = NULL;
        /* a version or alias that does not exist is refused now, as Lambda does, not after every attempt failed */
        if (job->qualifier[0] != '\0' && (fn = lambda_invoke_resolve(job->function, job->qualifier, 0, &version, &loaded_now,
                                                                     &status, &type, err, sizeof(err))) == NULL)
            job_error(job, status, type, err);
        else if (lambda_enqueue(job->function, job->qualifier[0] != '\0' ? job->qualifier : NULL, job->body, job->len,
                                job->request_id, &status, &type, err, sizeof(err)) != 0)
            job_error(job, status, type, err);
        else
            job->status = 202;
        if (fn != NULL)
            hook_fn_release(fn);
        break;
    }
    case JOB_PUT:
    case JOB_UPDATE:
        run_config_write(job);
        break;
    case JOB_GET:
    case JOB_DELETE: {
        pthread_mutex_lock(&A.mu);
        fn_entry_t *f = find_fn(job->function, strlen(job->function), 0);
        if (f == NULL || !f->api_set) {
            char arn[512];
            lambdaapi_arn(arn, sizeof(arn), A.region, job->function, "$LATEST");
            snprintf(err, sizeof(err), "The function %s doesn't have an EventInvokeConfig", arn);
            job_error(job, 404, "ResourceNotFoundException", err);
        } else if (job->kind == JOB_GET) {
            job->status = 200;
            config_json(&job->out, f);
        } else {
            f->api_set = 0;
            if (save_configs(err, sizeof(err)) != 0) {
                f->api_set = 1;
                job_error(job, 500, "ServiceException", err);
            } else {
                job->status = 204;
            }
        }
        pthread_mutex_unlock(&A.mu);
        break;
    }
    }
}

static void job_done(void *arg)
{
    async_job_t *job = arg;
    h2o_req_t *req = job->req;
    if (req != NULL) {
        job->guard->job = NULL;
        if (job->request_id[0] != '\0')
            h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-requestid"), 0, NULL,
                                  h2o_strdup(&req->pool, job->request_id, 36).base, 36);
        if (job->error_type != NULL)
            lambdaapi_error(req, job->status, job->error_type, "%s", job->message);
        else
            admin_respond(req, job->status,
                          job->status == 202  ? "Accepted"
                          : job->status < 300 ? "OK"
                                              : "Error",
                          "application/json", h2o_strdup(&req->pool, job->out.base != NULL ? job->out.base : "", job->out.len));
    }
    hook_buf_free(&job->out);
    free(job->body);
    free(job);
}

static void post(h2o_req_t *req, int kind, const char *function, const char *qualifier)
{
    async_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        h2o_fatal("no memory");
    job->kind = kind;
    snprintf(job->function, sizeof(job->function), "%s", function);
    snprintf(job->qualifier, sizeof(job->qualifier), "%s", qualifier != NULL ? qualifier : "");
    if (req->entity.base != NULL) {
        job->body = h2o_strdup(NULL, req->entity.base, req->entity.len).base;
        job->len = req->entity.len;
    }
    job->req = req;
    job->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*job->guard), on_guard_dispose);
    job->guard->job = job;
    control_post(run_job, job_done, job);
}

void lambda_async_handle_invoke(h2o_req_t *req, const char *function, const char *qualifier)
{
    post(req, JOB_INVOKE, function, qualifier);
}

void lambda_async_handle_config(h2o_req_t *req, const char *function, const char *qualifier)
{
    int kind = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"))      ? JOB_PUT
               : h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))   ? JOB_UPDATE
               : h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))    ? JOB_GET
               : h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE")) ? JOB_DELETE
                                                                                    : -1;
    if (A.q == NULL)
        lambdaapi_error(req, 503, "ServiceException", "asynchronous invocations are not running");
    else if (kind == -1)
        lambdaapi_error(req, 405, "InvalidRequestContentException", "use PUT, POST, GET or DELETE");
    else
        post(req, kind, function, qualifier);
}

/* ---- metrics --------------------------------------------------------------------------------------------------------------- */

static void put_metric(h2o_buffer_t **buf, const char *name, const char *type, const char *help, uint64_t v)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
    h2o_iovec_t room = h2o_buffer_reserve(buf, (size_t)n + 1);
    memcpy(room.base, line, (size_t)n);
    (*buf)->size += (size_t)n;
}

void lambda_async_metrics(h2o_buffer_t **buf)
{
    if (A.q == NULL)
        return;
    queue_stats_t st;
    queue_get_stats(A.q, &st);
    uint64_t now = queue_now_ms();
    put_metric(buf, "edgehook_async_queue_depth", "gauge", "Event invocations queued (waiting, backing off or running)", st.events);
    put_metric(buf, "edgehook_async_queue_bytes", "gauge", "their bytes (async_queue.max_bytes bounds them)", st.bytes);
    put_metric(buf, "edgehook_async_queue_in_flight", "gauge", "Event invocations running now", st.in_flight);
    put_metric(buf, "edgehook_async_queue_oldest_age_seconds", "gauge", "age of the oldest queued event",
               st.oldest_ms != 0 && now > st.oldest_ms ? (now - st.oldest_ms) / 1000 : 0);
    put_metric(buf, "edgehook_async_queue_log_bytes", "gauge", "size of the queue's log file", st.log_bytes);
    put_metric(buf, "edgehook_async_enqueued_total", "counter", "Event invocations accepted (202)", atomic_load(&A.enqueued));
    put_metric(buf, "edgehook_async_refused_total", "counter", "Event invocations refused because the queue was full (429)",
               atomic_load(&A.refused));
    put_metric(buf, "edgehook_async_invocations_total", "counter", "attempts run", atomic_load(&A.invocations));
    put_metric(buf, "edgehook_async_retries_total", "counter", "failed attempts that will be retried", atomic_load(&A.retries));
    put_metric(buf, "edgehook_async_successes_total", "counter", "events whose attempt succeeded", atomic_load(&A.successes));
    put_metric(buf, "edgehook_async_failures_total", "counter", "events given up on (retries exhausted or too old)",
               atomic_load(&A.failures));
    put_metric(buf, "edgehook_async_age_exceeded_total", "counter", "events given up on because of their age",
               atomic_load(&A.age_exceeded));
    put_metric(buf, "edgehook_async_destination_deliveries_total", "counter", "invocation records delivered to a destination",
               atomic_load(&A.dest_ok));
    put_metric(buf, "edgehook_async_destination_failures_total", "counter", "invocation records that could not be delivered",
               atomic_load(&A.dest_failed));
    static const char *const names[SRC_NUM] = {"enqueued", "invocations", "retries", "successes", "failures"};
    static const char *const helps[SRC_NUM] = {"events queued", "attempts run", "failed attempts that will be retried",
                                               "events whose attempt succeeded", "events given up on"};
    pthread_mutex_lock(&S.mu);
    size_t n = S.num + (S.counts[MAX_SOURCES][SRC_ENQUEUED] != 0 || S.counts[MAX_SOURCES][SRC_INVOCATIONS] != 0);
    for (int k = 0; k != SRC_NUM; ++k) {
        char line[512];
        int len = snprintf(line, sizeof(line),
                           "# HELP edgehook_async_source_%s_total %s, by source (store notifications: s3:BUCKET)\n# TYPE "
                           "edgehook_async_source_%s_total counter\n",
                           names[k], helps[k], names[k]);
        h2o_iovec_t room = h2o_buffer_reserve(buf, (size_t)len + 1);
        memcpy(room.base, line, (size_t)len);
        (*buf)->size += (size_t)len;
        for (size_t i = 0; i != n; ++i) {
            size_t at = i < S.num ? i : MAX_SOURCES;
            len = snprintf(line, sizeof(line), "edgehook_async_source_%s_total{source=\"%s\"} %" PRIu64 "\n", names[k], S.names[at],
                           S.counts[at][k]);
            room = h2o_buffer_reserve(buf, (size_t)len + 1);
            memcpy(room.base, line, (size_t)len);
            (*buf)->size += (size_t)len;
        }
    }
    pthread_mutex_unlock(&S.mu);
}
