/* proxy/dynorigin.h - origins chosen per request by origin-request hooks (Lambda@Edge `request.origin`), kept per worker thread
 * so that their connections are pooled like those of configured origins. */
#ifndef EDGE_PROXY_DYNORIGIN_H
#define EDGE_PROXY_DYNORIGIN_H

#include "hooks/event.h"
#include "proxy/origin.h"

/**
 * The origin a hook asked for: `custom` (protocol, domainName, port, path, timeouts, sslProtocols) or `s3` (domainName [host or
 * host:port], path, region, authMethod), built as a configured origin of those fields would be:
 *   - the same endpoint as `base` (the behavior's origin, which the event showed: same S3 domainName, or same protocol, host and
 *     port) keeps what the event cannot express: TLS settings (sni, ca_file, tls_verify), host_header, connect and first-byte
 *     timeouts, connection limits, retries, an S3 origin's scheme, port and credentials;
 *   - an S3 domainName naming the embedded store (its address, or BUCKET.store.domain, on its port) goes to the store's
 *     listener, with that domainName as Host, signed with the store's credentials;
 *   - any other S3 host is HTTPS on 443, host:port plain HTTP (unless the port is 443), signed with the credentials of `base`
 *     when it is an S3 origin, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
 * S3 requests are signed for `region` (us-east-1 when empty) unless authMethod is "none"; sslProtocols sets the oldest TLS
 * version offered. Returns a borrowed origin owned by the calling worker's table (valid for the current request), or NULL with
 * a reason.
 */
origin_t *dynorigin_get(const hook_origin_t *ho, origin_t *base, char *err, size_t errlen);
/** fills `ho` with what the origin-request event shows of an origin, so that a hook that returns it unchanged (or edits one
 * field) gets an origin that behaves the same: an S3 domainName keeps a port other than 443, a path-style bucket is the first
 * segment of `path`, `region` is the signing region; a custom origin's sslProtocols is its oldest TLS version */
void dynorigin_describe(origin_t *o, h2o_mem_pool_t *pool, hook_origin_t *ho);
/** lets go of the calling worker thread's table (at its end) */
void dynorigin_thread_dispose(void);

#endif
