/* proxy/s3origin.h - S3 origins: bucket addressing (path or virtual-hosted) and SigV4 signing of every origin request. */
#ifndef EDGE_PROXY_S3ORIGIN_H
#define EDGE_PROXY_S3ORIGIN_H

#include <h2o.h>
#include "conf/config.h"
#include "proxy/origin.h"

/** makes `o` an S3 origin for conf (bucket, region, addressing, credentials); 0 or -1 with a message */
int s3origin_attach(origin_t *o, const conf_origin_t *conf, char *err, size_t errlen);
/** makes a hook's dynamic origin an S3 origin: the bucket is in its host name or its path; signed with the credentials of
 * `base` when that is an S3 origin, else with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; -1 when there are none */
int s3origin_attach_dynamic(origin_t *o, const char *region, origin_t *base);
/** `endpoint: embedded` origins learn the store's address and credentials once its listener is bound */
void s3origin_set_embedded(origin_t *o, const char *host, uint16_t port, const char *access_key, const char *secret_key);
/** true when the origin is the embedded store */
int s3origin_is_embedded(origin_t *o);
/**
 * Rewrites `*path` (the request's path and query, prefix applied) to the bucket's object path and adds Host and the SigV4 headers
 * (x-amz-date, x-amz-content-sha256, x-amz-security-token, authorization) to `headers`, dropping any x-amz-* header the client
 * sent. Returns 0, or -1 when the origin has no credentials.
 */
int s3origin_sign(origin_t *o, h2o_mem_pool_t *pool, h2o_iovec_t method, h2o_iovec_t *path, h2o_headers_t *headers,
                  h2o_iovec_t body, int64_t now_ms);
void s3origin_detach(origin_t *o);

#endif
