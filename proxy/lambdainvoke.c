/* proxy/lambdainvoke.c - Lambda's Invoke: resolve the version (control thread), build the event, run it through hookcall on the
 * worker, answer as Lambda (result, X-Amz-Function-Error, X-Amz-Log-Result with START/END/REPORT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "base/log.h"
#include "base/str.h"
#include "hooks/invoke.h"
#include "hooks/json.h"
#include "hooks/logtail.h"
#include "hooks/versions.h"
#include "proxy/admin.h"
#include "proxy/control.h"
#include "proxy/hookcall.h"
#include "proxy/lambdaasync.h"
#include "proxy/lambdainvoke.h"

#define PATH_PREFIX "/2015-03-31/functions/"
#define PATH_SUFFIX "/invocations"

struct lambda_invoke {
    /* what was asked (owned) */
    char name[256], qualifier[128];
    char *payload;
    size_t payload_len;
    int dry_run;
    lambda_invoke_cb_t cb;
    void *arg;
    int cancelled; /* worker thread only: the caller went while resolve was out */
    int running;   /* worker thread only: the call was started */
    /* filled on the control thread: the version and the event */
    hook_fn_t *fn;
    unsigned version;
    int status; /* != 0: the invocation ends with this error */
    const char *error_code;
    char message[1024];
    hook_event_t ev;
    int generic;
    uint64_t load_ns; /* the version was loaded for this invocation (a C plugin's cold start) */
    /* the call, on the worker */
    h2o_mem_pool_t pool;
    hookcall_t call;
    char request_id[40];
    char executed[16];
    uint64_t started_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* a version 4 UUID, and a uniform number in [0, 1) for a weighted alias */
static double random_id(char out[40])
{
    uint64_t u;
    if (edge_uuid4(out) != 0 || RAND_bytes((unsigned char *)&u, sizeof(u)) != 1)
        h2o_fatal("RAND_bytes failed");
    return (double)(u >> 11) * (1.0 / 9007199254740992.0);
}

static void fail(lambda_invoke_t *inv, int status, const char *code, const char *msg)
{
    inv->status = status;
    inv->error_code = code;
    snprintf(inv->message, sizeof(inv->message), "%s", msg);
}

hook_fn_t *lambda_invoke_resolve(const char *name, const char *qualifier, double u, unsigned *version, int *loaded_now, int *status,
                                 const char **error_code, char *err, size_t errlen)
{
    hook_fn_t *fn = hook_versions_resolve(name, qualifier, u, version, loaded_now, err, errlen);
    if (fn == NULL) {
        int missing = strncmp(err, "Function not found", 18) == 0;
        *status = missing ? 404 : 500;
        *error_code = missing ? "ResourceNotFoundException" : "ServiceException";
    }
    return fn;
}

/* control thread: the version (loaded if no alias holds it), then the event from the payload */
static void resolve(void *arg)
{
    lambda_invoke_t *inv = arg;
    char err[512];
    int loaded_now = 0;
    uint64_t t0 = now_ns();
    int status;
    const char *code;
    inv->fn = lambda_invoke_resolve(inv->name, inv->qualifier, random_id(inv->request_id), &inv->version, &loaded_now, &status,
                                    &code, err, sizeof(err));
    if (inv->fn == NULL) {
        fail(inv, status, code, err);
        return;
    }
    if (loaded_now && !hook_fn_is_lua(inv->fn))
        inv->load_ns = now_ns() - t0; /* a plugin's init ran for this call; a Lua state's build is the runtime's init_ns */
    if (inv->dry_run)
        return;
    if (inv->payload_len > HOOK_INVOKE_PAYLOAD_MAX) {
        snprintf(err, sizeof(err), "%zu byte payload is too large for the RequestResponse invocation type (%u byte maximum)",
                 inv->payload_len, HOOK_INVOKE_PAYLOAD_MAX);
        fail(inv, 413, "RequestTooLargeException", err);
        return;
    }
    const char *text = inv->payload_len != 0 ? inv->payload : "{}"; /* no payload: Lambda gives {} */
    size_t len = inv->payload_len != 0 ? inv->payload_len : 2;
    hook_json_t *doc = hook_json_parse_max(text, len, 1u << 20, err, sizeof(err));
    if (doc == NULL) {
        char msg[600];
        snprintf(msg, sizeof(msg), "Could not parse request body into json: %s", err);
        fail(inv, 400, "InvalidRequestContentException", msg);
        return;
    }
    if (hook_event_json_is_edge(doc)) {
        if (hook_event_from_json(&inv->pool, doc, -1, hook_fn_include_body(inv->fn), &inv->ev, err, sizeof(err)) != 0)
            fail(inv, 400, "InvalidRequestContentException", err);
    } else {
        inv->generic = 1;
        hook_event_init(&inv->ev, HOOK_INVOKE);
        inv->ev.invoke.payload = h2o_iovec_init(text, len); /* inv->payload: kept until the call is over */
    }
    hook_json_free(doc);
}

static void finish(lambda_invoke_t *inv);

static void on_call_done(hookcall_t *call, void *arg)
{
    finish(arg);
}

static void invoke_free(lambda_invoke_t *inv)
{
    hookcall_cancel(&inv->call);
    if (inv->fn != NULL)
        hook_fn_release(inv->fn);
    h2o_mem_clear_pool(&inv->pool);
    free(inv->payload);
    free(inv);
}

/* the worker, after resolve: answer an error or a dry run, or start the call */
static void resolved(void *arg)
{
    lambda_invoke_t *inv = arg;
    if (inv->cancelled) {
        invoke_free(inv);
        return;
    }
    if (inv->version != 0 && inv->qualifier[0] != '\0' && strcmp(inv->qualifier, "$LATEST") != 0)
        snprintf(inv->executed, sizeof(inv->executed), "%u", inv->version);
    else
        snprintf(inv->executed, sizeof(inv->executed), "$LATEST");
    if (inv->status != 0 || inv->dry_run) {
        lambda_invoke_result_t res = {.status = inv->status != 0 ? inv->status : 204,
                                      .error_code = inv->error_code,
                                      .request_id = inv->request_id,
                                      .executed_version = inv->executed};
        if (inv->status != 0)
            res.body = h2o_iovec_init(inv->message, strlen(inv->message));
        inv->cb(&res, inv->arg);
        invoke_free(inv);
        return;
    }
    if (inv->generic && !hook_fn_handles(inv->fn, HOOK_INVOKE)) {
        static const char body[] = "{\"errorMessage\":\"the function takes Lambda@Edge events only: a generic invocation needs "
                                   "handler(event, context) in a Lua hook, on_invoke in a plugin\",\"errorType\":"
                                   "\"Runtime.HandlerNotFound\",\"stackTrace\":[]}";
        lambda_invoke_result_t res = {.status = 200,
                                      .function_error = "Unhandled",
                                      .body = h2o_iovec_init(body, sizeof(body) - 1),
                                      .request_id = inv->request_id,
                                      .executed_version = inv->executed,
                                      .memory_size = hook_fn_memory_limit(inv->fn)};
        inv->cb(&res, inv->arg);
        invoke_free(inv);
        return;
    }
    hook_event_t *ev = &inv->ev;
    ev->request_id = h2o_iovec_init(inv->request_id, strlen(inv->request_id));
    ev->invoke.tail = h2o_mem_alloc_pool(&inv->pool, sizeof(*ev->invoke.tail));
    memset(ev->invoke.tail, 0, sizeof(*ev->invoke.tail));
    char line[128];
    int n = snprintf(line, sizeof(line), "START RequestId: %s Version: %s\n", inv->request_id, inv->executed);
    hook_logtail_write(ev->invoke.tail, line, (size_t)n);
    inv->started_ns = now_ns();
    inv->running = 1;
    if (hookcall_start(&inv->call, inv->fn, ev, &inv->pool, NULL, on_call_done, inv) == HOOKCALL_DONE)
        finish(inv);
}

/* the lines of a Lua traceback ("stack traceback:\n\tfile:1: in ..."), without the tab */
static void emit_stack(hook_buf_t *b, const char *tb)
{
    int first = 1;
    hook_buf_append(b, "[", 1);
    while (tb != NULL && *tb != '\0') {
        const char *nl = strchr(tb, '\n');
        size_t len = nl != NULL ? (size_t)(nl - tb) : strlen(tb);
        const char *s = tb;
        while (len != 0 && (*s == '\t' || *s == ' '))
            ++s, --len;
        if (len != 0) {
            hook_buf_append(b, first ? "" : ",", first ? 0 : 1);
            hook_buf_json_string(b, s, len);
            first = 0;
        }
        tb = nl != NULL ? nl + 1 : NULL;
    }
    hook_buf_append(b, "]", 1);
}

void lambda_invoke_error_json(hook_buf_t *b, hook_status_t st, const hook_report_t *rep)
{
    const char *msg = rep->error != NULL ? rep->error : "unknown error";
    const char *type = st == HOOK_INVALID    ? "Runtime.InvalidResult"
                       : rep->timed_out     ? "Sandbox.Timedout"
                       : rep->out_of_memory ? "Runtime.OutOfMemory"
                                            : "Error";
    const char *tb = strstr(msg, "\nstack traceback:");
    size_t mlen = tb != NULL ? (size_t)(tb - msg) : strlen(msg);
    hook_buf_append(b, "{\"errorMessage\":", 16);
    hook_buf_json_string(b, msg, mlen);
    hook_buf_appendf(b, ",\"errorType\":\"%s\",\"stackTrace\":", type);
    emit_stack(b, tb != NULL ? strchr(tb + 1, '\n') : NULL);
    hook_buf_append(b, "}", 1);
}

/* the worker: the call is over; the answer and the log's last lines */
static void finish(lambda_invoke_t *inv)
{
    hookcall_t *call = &inv->call;
    hook_event_t *ev = call->ev; /* the call's own copy if it moved */
    hook_logtail_t *tail = ev->invoke.tail;
    lambda_invoke_result_t res = {.status = 200,
                                  .request_id = inv->request_id,
                                  .executed_version = inv->executed,
                                  .report = call->rep,
                                  .memory_size = hook_fn_memory_limit(inv->fn)};
    if (res.report.init_ns == 0)
        res.report.init_ns = inv->load_ns;
    hook_buf_t out = {NULL, 0, 0};
    if (call->status == HOOK_CONTINUE || call->status == HOOK_RESPOND) {
        if (inv->generic)
            hook_buf_append(&out, ev->invoke.result.base != NULL ? ev->invoke.result.base : "null",
                            ev->invoke.result.base != NULL ? ev->invoke.result.len : 4);
        else
            hook_event_result_json(&out, ev, call->status);
    } else {
        res.function_error = "Unhandled";
        lambda_invoke_error_json(&out, call->status, &call->rep);
        hook_buf_t line = {NULL, 0, 0};
        hook_buf_append(&line, "Invoke Error \t", 14);
        hook_buf_append(&line, out.base, out.len);
        hook_logtail_line(tail, inv->request_id, strlen(inv->request_id), 0, line.base, line.len);
        hook_buf_free(&line);
    }
    res.body = h2o_strdup(&inv->pool, out.base != NULL ? out.base : "", out.len);
    hook_buf_free(&out);
    char lines[512];
    hook_logtail_report_t r = {.duration_ns = res.report.duration_ns,
                               .memory_size = res.memory_size,
                               .max_memory_used = res.report.max_memory,
                               .init_ns = res.report.init_ns};
    int n = snprintf(lines, sizeof(lines), "END RequestId: %s\n", inv->request_id);
    n += (int)hook_logtail_report_line(lines + n, sizeof(lines) - (size_t)n, inv->request_id, &r);
    hook_logtail_write(tail, lines, (size_t)n < sizeof(lines) ? (size_t)n : sizeof(lines) - 1);
    char *log = h2o_mem_alloc_pool(&inv->pool, HOOK_LOGTAIL_SIZE);
    res.log = h2o_iovec_init(log, hook_logtail_get(tail, log));
    log_debug("lambda invoke %s:%s [%s]: %s %.2f ms, %zu bytes", inv->name, inv->executed, inv->request_id,
              res.function_error != NULL ? "Unhandled" : "ok", (double)res.report.duration_ns / 1e6, res.report.max_memory);
    inv->cb(&res, inv->arg);
    invoke_free(inv);
}

lambda_invoke_t *lambda_invoke_run(const char *name, const char *qualifier, const char *payload, size_t len, int dry_run,
                                   lambda_invoke_cb_t cb, void *arg)
{
    lambda_invoke_t *inv = calloc(1, sizeof(*inv));
    if (inv == NULL || (inv->payload = malloc(len + 1)) == NULL)
        h2o_fatal("no memory");
    snprintf(inv->name, sizeof(inv->name), "%s", name);
    snprintf(inv->qualifier, sizeof(inv->qualifier), "%s", qualifier != NULL ? qualifier : "");
    memcpy(inv->payload, payload, len);
    inv->payload[len] = '\0';
    inv->payload_len = len;
    inv->dry_run = dry_run;
    inv->cb = cb;
    inv->arg = arg;
    h2o_mem_init_pool(&inv->pool);
    control_post(resolve, resolved, inv);
    return inv;
}

void lambda_invoke_cancel(lambda_invoke_t *inv)
{
    if (inv->running) {
        invoke_free(inv); /* the call was started: hookcall_cancel lets it finish elsewhere */
        return;
    }
    inv->cancelled = 1; /* resolve is still out: freed when it comes back */
}

/* ---- the HTTP API --------------------------------------------------------------------------------------------------------- */

int lambdainvoke_is_path(h2o_iovec_t path)
{
    size_t end = path.len, pl = sizeof(PATH_PREFIX) - 1, sl = sizeof(PATH_SUFFIX) - 1;
    const char *q = memchr(path.base, '?', path.len);
    if (q != NULL)
        end = (size_t)(q - path.base);
    return end > pl + sl && memcmp(path.base, PATH_PREFIX, pl) == 0 && memcmp(path.base + end - sl, PATH_SUFFIX, sl) == 0 &&
           memchr(path.base + pl, '/', end - pl - sl) == NULL;
}

static void respond_error(h2o_req_t *req, int status, const char *code, const char *msg)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_append(&b, H2O_STRLIT("{\"Type\":\"User\",\"message\":"));
    hook_buf_json_string(&b, msg, strlen(msg));
    hook_buf_append(&b, "}", 1);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-errortype"), 0, "x-amzn-ErrorType", code,
                          strlen(code));
    admin_respond(req, status, status == 404 ? "Not Found" : status == 413 ? "Request Entity Too Large" : "Bad Request",
                  "application/json", h2o_strdup(&req->pool, b.base, b.len));
    hook_buf_free(&b);
}

/* the request's end (its pool) cancels an invocation still running */
typedef struct invoke_guard {
    lambda_invoke_t *inv;
    h2o_req_t *req;
    int tail;
} invoke_guard_t;

static void on_guard_dispose(void *p)
{
    invoke_guard_t *g = p;
    if (g->inv != NULL)
        lambda_invoke_cancel(g->inv);
}

static void add_header(h2o_req_t *req, const char *lc, const char *orig, const char *value, size_t len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, lc, strlen(lc), 0, orig, value, len);
}

static void on_result(const lambda_invoke_result_t *res, void *arg)
{
    invoke_guard_t *g = arg;
    h2o_req_t *req = g->req;
    g->inv = NULL;
    add_header(req, "x-amzn-requestid", "x-amzn-RequestId", res->request_id, strlen(res->request_id));
    if (res->status >= 400) {
        respond_error(req, res->status, res->error_code, res->body.base);
        return;
    }
    add_header(req, "x-amz-executed-version", "X-Amz-Executed-Version", res->executed_version, strlen(res->executed_version));
    if (res->status == 204) {
        admin_respond(req, 204, "No Content", "application/json", h2o_iovec_init("", 0));
        return;
    }
    if (res->function_error != NULL)
        add_header(req, "x-amz-function-error", "X-Amz-Function-Error", res->function_error, strlen(res->function_error));
    if (g->tail) {
        char *b64 = h2o_mem_alloc_pool(&req->pool, EDGE_BASE64_ENCODED_SIZE(res->log.len));
        size_t n = edge_base64_encode(b64, res->log.base, res->log.len);
        add_header(req, "x-amz-log-result", "X-Amz-Log-Result", b64, n);
    }
    admin_respond(req, 200, "OK", "application/json", h2o_strdup(&req->pool, res->body.base, res->body.len));
}

/* the value of query parameter `name` of the raw path (percent-decoded, into out), or -1 */
static int query_param(h2o_iovec_t path, const char *name, char *out, size_t outlen)
{
    const char *q = memchr(path.base, '?', path.len), *end = path.base + path.len;
    size_t nl = strlen(name);
    while (q != NULL && q < end) {
        const char *p = q + 1, *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp != NULL ? amp : end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = (size_t)(e - p) - nl - 1;
            if (vl >= outlen)
                return -1;
            out[edge_pct_decode(out, p + nl + 1, vl)] = '\0';
            return 0;
        }
        q = amp;
    }
    return -1;
}

/* NAME of the path: a name, NAME:QUALIFIER, or a full / partial ARN (...:function:NAME[:QUALIFIER]); 0 or -1 */
static int parse_function(const char *ref, char *name, size_t namelen, char *qual, size_t quallen)
{
    const char *f = strstr(ref, ":function:");
    const char *n = f != NULL ? f + 10 : ref;
    if (f == NULL && strchr(ref, ':') != NULL && strncmp(ref, "arn:", 4) == 0)
        return -1;
    const char *colon = strchr(n, ':');
    size_t len = colon != NULL ? (size_t)(colon - n) : strlen(n);
    if (len == 0 || len >= namelen || (colon != NULL && (strlen(colon + 1) >= quallen || strchr(colon + 1, ':') != NULL)))
        return -1;
    memcpy(name, n, len);
    name[len] = '\0';
    snprintf(qual, quallen, "%s", colon != NULL ? colon + 1 : "");
    for (const char *p = name; *p != '\0'; ++p)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == '.'))
            return -1;
    return 0;
}

static int header_is(h2o_req_t *req, const char *lc, const char *value)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, lc, strlen(lc), -1);
    return i != -1 && h2o_lcstris(req->headers.entries[i].value.base, req->headers.entries[i].value.len, value, strlen(value));
}

static int header_present(h2o_req_t *req, const char *lc)
{
    return h2o_find_header_by_str(&req->headers, lc, strlen(lc), -1) != -1;
}

void lambdainvoke_handle(h2o_req_t *req)
{
    char ref[512], name[256], qual[128], qparam[128];
    h2o_iovec_t path = req->path;
    size_t pl = sizeof(PATH_PREFIX) - 1, end = path.len;
    const char *q = memchr(path.base, '?', path.len);
    if (q != NULL)
        end = (size_t)(q - path.base);
    size_t rl = end - pl - (sizeof(PATH_SUFFIX) - 1);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        respond_error(req, 405, "InvalidRequestContentException", "Invoke is POST");
        return;
    }
    if (rl >= sizeof(ref)) {
        respond_error(req, 400, "InvalidParameterValueException", "the function name is too long");
        return;
    }
    ref[edge_pct_decode(ref, path.base + pl, rl)] = '\0';
    if (parse_function(ref, name, sizeof(name), qual, sizeof(qual)) != 0) {
        respond_error(req, 400, "InvalidParameterValueException",
                      "the function name must be a name, NAME:QUALIFIER or an ARN (letters, digits, - _ .)");
        return;
    }
    if (query_param(path, "Qualifier", qparam, sizeof(qparam)) == 0) {
        if (qual[0] != '\0' && strcmp(qual, qparam) != 0) {
            respond_error(req, 400, "InvalidParameterValueException",
                          "The derived qualifier from the function name does not match the specified qualifier.");
            return;
        }
        snprintf(qual, sizeof(qual), "%s", qparam);
    }
    int dry_run = 0;
    if (header_present(req, "x-amz-invocation-type") && !header_is(req, "x-amz-invocation-type", "requestresponse")) {
        if (header_is(req, "x-amz-invocation-type", "dryrun")) {
            dry_run = 1;
        } else {
            if (header_is(req, "x-amz-invocation-type", "event")) { /* the durable queue's (proxy/lambdaasync.h) */
                lambda_async_handle_invoke(req, name, qual[0] != '\0' ? qual : NULL);
                return;
            }
            respond_error(req, 400, "InvalidParameterValueException",
                          "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun");
            return;
        }
    }
    invoke_guard_t *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), on_guard_dispose);
    g->req = req;
    g->tail = header_is(req, "x-amz-log-type", "tail");
    g->inv = NULL;
    g->inv = lambda_invoke_run(name, qual, req->entity.base != NULL ? req->entity.base : "", req->entity.len, dry_run, on_result, g);
}
