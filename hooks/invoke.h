/* hooks/invoke.h - Lambda@Edge test events as JSON ({"Records":[{"cf":{...}}]}) into hook events and results back into JSON:
 * what `edgehook invoke` and the Lambda invoke API (proxy/lambdainvoke.h) run a hook on. */
#ifndef EDGE_HOOKS_INVOKE_H
#define EDGE_HOOKS_INVOKE_H

#include <stddef.h>
#include "hooks/event.h"
#include "hooks/hooks.h"
#include "hooks/json.h"

/** 1 if a parsed payload is a Lambda@Edge event (Records[0].cf is an object); anything else is a generic invocation */
int hook_event_json_is_edge(const hook_json_t *root);
/**
 * Fills ev from a Lambda@Edge test event (strings copied into pool). type < 0: from Records[0].cf.config.eventType (default
 * viewer-request). The request body is shown only with include_body. 0, or -1 with the reason in err.
 */
int hook_event_from_json(h2o_mem_pool_t *pool, const hook_json_t *root, int type, int include_body, hook_event_t *ev, char *err,
                         size_t errlen);
/**
 * Appends what a Lambda@Edge function returns after a call that ended with st (HOOK_CONTINUE or HOOK_RESPOND), pretty-printed:
 * the request (request events that continued) or the response (generated, or the response events').
 */
void hook_event_result_json(hook_buf_t *b, const hook_event_t *ev, hook_status_t st);

#endif
