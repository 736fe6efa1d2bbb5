/* proxy/s3origin.h - S3 origins: bucket addressing (path or virtual-hosted) and SigV4 signing of every origin request. */
#ifndef EDGE_PROXY_S3ORIGIN_H
#define EDGE_PROXY_S3ORIGIN_H

#include <h2o.h>
#include "conf/config.h"
#include "proxy/origin.h"

/** makes `o` an S3 origin for conf (bucket, region, addressing, credentials); 0 or -1 with a message */
int s3origin_attach(origin_t *o, const conf_origin_t *conf, char *err, size_t errlen);
/** makes a hook's dynamic origin an S3 origin: the bucket is in its host name or its path; signed for `region` with the
 * credentials of `creds` when that is an S3 origin with credentials, else with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; -1
 * when there are none */
int s3origin_attach_dynamic(origin_t *o, const char *region, const origin_t *creds);
/** `endpoint: embedded` origins learn the store's address and credentials once its listener is bound */
void s3origin_set_embedded(origin_t *o, const char *host, uint16_t port, const char *access_key, const char *secret_key);
/** true when the origin is the embedded store */
int s3origin_is_embedded(origin_t *o);

/** the embedded store as hooks may name it (set once, when the store's listener is bound; later calls change nothing): its
 * address, its virtual-hosted domain (store.domain) and its credentials */
void s3origin_set_store(const char *host, uint16_t port, const char *domain, const char *access_key, const char *secret_key);
/**
 * Whether an S3 domainName (`host`, `port`: 0 when none was given) names the embedded store: its listen address, its domain, or
 * BUCKET.its domain, on its port. Then *connect_host and *connect_port are where to connect (the listener; 127.0.0.1 or ::1
 * for a wildcard address).
 */
int s3origin_store_endpoint(const char *host, uint16_t port, const char **connect_host, uint16_t *connect_port);
/** signs `o` (a dynamic origin to the embedded store) with the store's credentials; -1 when there is no store */
int s3origin_attach_store(origin_t *o, const char *region);

/**
 * The domainName the origin-request event shows for an S3 origin, written into `domain`: the embedded store as BUCKET.its
 * domain:port (the virtual-hosted name, as CloudFront names buckets: AWS's examples switch buckets by domainName and Host), a
 * virtual-hosted origin as its host (with a port other than 443), a path-style one as host[:port]. Returns the bucket the path
 * must start with (path-style), or NULL.
 */
const char *s3origin_describe(const origin_t *o, char *domain, size_t size);
/** the signing region of an S3 origin */
const char *s3origin_region(const origin_t *o);
/**
 * Rewrites `*path` (the request's path and query, prefix applied) to the bucket's object path and adds the SigV4 headers
 * (x-amz-date, x-amz-content-sha256, x-amz-security-token, authorization) to `headers`, dropping any x-amz-* header the client
 * sent. The Host signed is the one in `headers` (an origin-request hook may have set it), else the origin's. A version_id
 * (len != 0: request.origin.s3.versionId of an origin-request hook) is the one query parameter sent, `?versionId=`, signed.
 * Returns 0, or -1 when the origin has no credentials or the version id is unusable.
 */
int s3origin_sign(origin_t *o, h2o_mem_pool_t *pool, h2o_iovec_t method, h2o_iovec_t *path, h2o_headers_t *headers,
                  h2o_iovec_t body, h2o_iovec_t version_id, int64_t now_ms);
void s3origin_detach(origin_t *o);

#endif
