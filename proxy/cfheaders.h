/* proxy/cfheaders.h - the CloudFront-* request headers: a viewer's are dropped, a behavior's are generated (from the connection,
 * the User-Agent and the geo database) after viewer-request and before the cache key, as CloudFront adds them. */
#ifndef EDGE_PROXY_CFHEADERS_H
#define EDGE_PROXY_CFHEADERS_H

#include <h2o.h>
#include "viewer/geoip.h"

/**
 * Removes every field of `headers` whose name starts with "cloudfront-" (any case): those names are edgehook's own, so a viewer
 * (or a viewer-request hook) cannot pass one off as generated. Returns how many were removed.
 */
size_t cfheaders_strip(h2o_headers_t *headers);

/**
 * Adds to req->headers the generated headers of `mask` (conf/cfheaders.h bits), after removing any of those names: CloudFront-
 * Forwarded-Proto, -Viewer-Address (ip:port, IPv6 without brackets as CloudFront writes it), -Viewer-Http-Version (1.0, 1.1,
 * 2.0), -Viewer-TLS (version:cipher:fullHandshake|sessionResumed|connectionReused; https only), the device headers of the
 * User-Agent (viewer/device.h) and, with `geo`, the geo headers the database knows for the viewer's address (one lookup; a
 * field it does not know is left out). client_ip: the viewer's address as text. Values and names are allocated in req->pool.
 */
void cfheaders_add(h2o_req_t *req, uint32_t mask, const viewer_geo_t *geo, h2o_iovec_t client_ip);

/** the value CloudFront-Viewer-Http-Version has for an h2o version (0x101: "1.1"), written into buf (8 bytes); its length */
size_t cfheaders_http_version(int version, char *buf);

#endif
