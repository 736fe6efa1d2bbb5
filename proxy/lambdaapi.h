/* proxy/lambdaapi.h - Lambda's REST management API on the admin listener: the paths, JSON shapes and errors of
 * /2015-03-31/functions/... (what `aws lambda ...` and the AWS SDKs call), with hooks as functions (hooks/versions.h). */
#ifndef EDGE_PROXY_LAMBDAAPI_H
#define EDGE_PROXY_LAMBDAAPI_H

#include <h2o.h>
#include "conf/config.h"

/** 1 if a raw request path is one of the Lambda API's (/2015-03-31/functions..., /2019-09-25/functions...) */
int lambdaapi_is_path(h2o_iovec_t path);

/**
 * Answers an authorised request whose path lambdaapi_is_path accepted (the caller, admin.c, has checked the bearer token or
 * the SigV4 signature):
 *   GET    /2015-03-31/functions/                          list-functions (?Marker, ?MaxItems)
 *   GET    /2015-03-31/functions/NAME                      get-function (?Qualifier)
 *   DELETE /2015-03-31/functions/NAME                      delete-function (409 while a behavior of the config uses it)
 *   GET    /2015-03-31/functions/NAME/configuration        get-function-configuration (?Qualifier)
 *   PUT    /2015-03-31/functions/NAME/code                 update-function-code ({"ZipFile": base64 of a zip with one .lua or .so})
 *   GET    /2015-03-31/functions/NAME/versions             list-versions-by-function (?Marker, ?MaxItems)
 *   POST   /2015-03-31/functions/NAME/versions             publish-version ({"CodeSha256", "Description"})
 *   GET    /2015-03-31/functions/NAME/aliases              list-aliases (?FunctionVersion, ?Marker, ?MaxItems)
 *   POST   /2015-03-31/functions/NAME/aliases              create-alias
 *   GET|PUT|DELETE /2015-03-31/functions/NAME/aliases/A    get-alias, update-alias, delete-alias
 * and hands the other operations (invoke, event-invoke-config) to their modules through the table in lambdaapi.c.
 * NAME is a name, NAME:QUALIFIER, a partial ARN (ACCOUNT:function:NAME) or a full ARN. Changes run on the control thread.
 */
void lambdaapi_handle(h2o_req_t *req);

/** what the router found in the path and query, for the operations other modules answer */
typedef struct lambdaapi_target {
    const char *function;  /* the hook name (an ARN reduced to its name) */
    const char *qualifier; /* from NAME:QUALIFIER or ?Qualifier=, NULL when none */
    const char *sub;       /* the alias of /aliases/NAME, else NULL */
    const char *region;    /* store.region (for ARNs) */
} lambdaapi_target_t;
typedef void (*lambdaapi_fn)(h2o_req_t *req, const lambdaapi_target_t *t);

/** Lambda's error: status, x-amzn-ErrorType: type, body {"Type":"User","message":"..."} (and x-amzn-RequestId) */
void lambdaapi_error(h2o_req_t *req, int status, const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** a JSON answer (application/json, x-amzn-RequestId); len 0 with status 204 sends no body */
void lambdaapi_json(h2o_req_t *req, int status, const char *json, size_t len);
/** writes `arn:aws:lambda:REGION:000000000000:function:FUNCTION[:QUALIFIER]` into out; returns its length */
size_t lambdaapi_arn(char *out, size_t outlen, const char *region, const char *function, const char *qualifier);
/** the region of the Lambda API and of SigV4 scopes: store.region, us-east-1 when there is no store */
const char *lambdaapi_region(const conf_t *conf);

#endif
