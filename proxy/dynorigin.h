/* proxy/dynorigin.h - origins chosen per request by origin-request hooks (Lambda@Edge `request.origin`), kept per worker thread
 * so that their connections are pooled like those of configured origins. */
#ifndef EDGE_PROXY_DYNORIGIN_H
#define EDGE_PROXY_DYNORIGIN_H

#include "hooks/event.h"
#include "proxy/origin.h"

/**
 * The origin a hook asked for: `custom` (protocol, domainName, port, path, timeouts) or `s3` (domainName [host or host:port],
 * path, region, authMethod: requests are SigV4-signed with the credentials of `base` when it is an S3 origin, else with
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, unless authMethod is "none"). Returns a borrowed origin owned by the calling
 * worker's table (valid for the current request), or NULL with a reason.
 */
origin_t *dynorigin_get(const hook_origin_t *ho, origin_t *base, char *err, size_t errlen);
/** fills `ho` with the fields of a configured origin, as the origin-request event shows it */
void dynorigin_describe(origin_t *o, h2o_mem_pool_t *pool, hook_origin_t *ho);
/** lets go of the calling worker thread's table (at its end) */
void dynorigin_thread_dispose(void);

#endif
