/* proxy/lambdainvoke.h - Lambda's Invoke on the admin listener (POST /2015-03-31/functions/NAME/invocations: RequestResponse,
 * DryRun, --log-type Tail), and one invocation run off any request (lambda_invoke_run) for the asynchronous queue. */
#ifndef EDGE_PROXY_LAMBDAINVOKE_H
#define EDGE_PROXY_LAMBDAINVOKE_H

#include <h2o.h>
#include "hooks/hooks.h"

/** the outcome of one invocation, as Lambda's Invoke answers it */
typedef struct lambda_invoke_result {
    int status;                   /* 200 (ran; see function_error), 204 (a dry run passed); or the caller's mistake: 404 (no such
                                     function, version or alias), 400 (payload not JSON), 413 (payload over 6 MB); 500 (internal) */
    const char *error_code;       /* status >= 400: Lambda's error type (ResourceNotFoundException, InvalidRequestContentException,
                                     RequestTooLargeException, ServiceException), the message in body */
    const char *function_error;   /* status 200: NULL, or "Unhandled" (the hook threw, timed out, ran out of memory, or returned
                                     something invalid): body is Lambda's {"errorMessage","errorType","stackTrace"} */
    h2o_iovec_t body;             /* the hook's result JSON, the error JSON, or (status >= 400) the message */
    const char *request_id;       /* the invocation's id (a UUID; the log's RequestId) */
    const char *executed_version; /* "$LATEST" or the version number that ran (an alias picks one) */
    h2o_iovec_t log;              /* the last 4 KB of its log (START, the hook's lines, END, REPORT), raw: base64 it for a header */
    hook_report_t report;         /* the runtime's figures (duration_ns, max_memory, init_ns); zero when it did not run */
    uint64_t memory_size;         /* the hook's memory limit, bytes */
} lambda_invoke_result_t;

/** the end of an invocation: on the thread that started it; res (and everything it points to) is valid until it returns */
typedef void (*lambda_invoke_cb_t)(const lambda_invoke_result_t *res, void *arg);

typedef struct lambda_invoke lambda_invoke_t;

/**
 * Runs one invocation of hook `name` as Lambda's synchronous Invoke does, off any HTTP request (the Event queue calls it):
 * `qualifier` NULL, "" or "$LATEST", a version number or an alias; `payload` (len bytes, copied) any JSON: a Lambda@Edge event
 * (Records[0].cf) runs the handler of its eventType and answers the request or response the hook returns; anything else is a
 * generic invocation (Lua handler(event, context) gets the decoded JSON and returns any JSON-able value; a C plugin's on_invoke).
 * dry_run: only checks the function and qualifier exist (status 204). The version is resolved (loaded if needed) on the control
 * thread; the hook runs on this worker through proxy/hookcall.h (moved to an offload thread past its inline budget, stopped at
 * its timeout), so the loop never blocks. cb runs later on this thread, never from inside this call, exactly once unless
 * lambda_invoke_cancel comes first. Call it on a server worker thread (server_worker_current() with hooks: the admin API's,
 * or a job the queue runs on a worker's loop).
 */
lambda_invoke_t *lambda_invoke_run(const char *name, const char *qualifier, const char *payload, size_t len, int dry_run,
                                   lambda_invoke_cb_t cb, void *arg);
/**
 * The version an invocation of hook `name` at `qualifier` runs, resolved as lambda_invoke_run does (hook_versions_resolve: u in
 * [0, 1) picks one of an alias's two weighted versions), or NULL with Lambda's answer: *status 404 and *error_code
 * "ResourceNotFoundException" (no such function, version or alias) or 500 "ServiceException", the message in err. May load the
 * version: on the control thread, never on an event loop (the Event invoke checks its qualifier with it before enqueueing).
 */
hook_fn_t *lambda_invoke_resolve(const char *name, const char *qualifier, double u, unsigned *version, int *loaded_now, int *status,
                                 const char **error_code, char *err, size_t errlen);
/** the caller goes away: cb never runs; the hook, if it runs elsewhere already, finishes there and its result is dropped. On the
 * thread that started it, before cb ran. */
void lambda_invoke_cancel(lambda_invoke_t *inv);

/** 1 if an admin request's path is Invoke's: /2015-03-31/functions/NAME/invocations (query allowed) */
int lambdainvoke_is_path(h2o_iovec_t path);
/**
 * Answers POST /2015-03-31/functions/NAME/invocations (the caller is authorised): NAME a name, `NAME:QUALIFIER`, or a full
 * or partial ARN; `?Qualifier=`; X-Amz-Invocation-Type RequestResponse (default) or DryRun; X-Amz-Log-Type Tail (the log in
 * X-Amz-Log-Result, base64). Errors as Lambda's: status, x-amzn-ErrorType and {"Type":"User","message":...}.
 */
void lambdainvoke_handle(h2o_req_t *req);

/**
 * Lambda's error JSON for a failed call ({"errorMessage","errorType","stackTrace"}) into b: a Lua error's first line is the
 * message and the lines of its traceback the stack; errorType says what happened (Error, Sandbox.Timedout,
 * Runtime.OutOfMemory, Runtime.InvalidResult).
 */
void lambda_invoke_error_json(hook_buf_t *b, hook_status_t st, const hook_report_t *rep);

#endif
