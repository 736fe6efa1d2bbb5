/* proxy/cfheaders.c - generates the CloudFront-* request headers of a behavior, and drops the viewer's. */
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include "conf/cfheaders.h"
#include "proxy/cfheaders.h"
#include "proxy/headers.h"
#include "viewer/device.h"

size_t cfheaders_strip(h2o_headers_t *headers)
{
    size_t removed = 0;
    for (size_t i = 0; i < headers->size;) {
        const h2o_iovec_t *n = headers->entries[i].name;
        if (!h2o_iovec_is_token(n) && conf_cf_is_reserved(n->base, n->len)) {
            h2o_delete_header(headers, (ssize_t)i);
            ++removed;
        } else {
            ++i;
        }
    }
    return removed;
}

size_t cfheaders_http_version(int version, char *buf)
{
    int major = version >> 8, minor = version & 0xff;
    if (major >= 2)
        minor = 0; /* CloudFront writes 2.0 and 3.0 */
    return (size_t)snprintf(buf, 8, "%d.%d", major > 9 ? 9 : major, minor > 9 ? 9 : minor);
}

static void add(h2o_req_t *req, conf_cf_header_t h, const char *value, size_t len)
{
    const conf_cf_header_info_t *info = &conf_cf_headers[h];
    char *lower = h2o_mem_alloc_pool(&req->pool, info->len + 1);
    for (size_t i = 0; i != info->len; ++i)
        lower[i] = (char)h2o_tolower((unsigned char)info->name[i]);
    lower[info->len] = '\0';
    char *v = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(v, value, len);
    v[len] = '\0';
    /* the name as CloudFront writes it is what the origin and the hooks' `key` see */
    h2o_add_header_by_str(&req->pool, &req->headers, lower, info->len, 0, info->name, v, len);
}

static void add_str(h2o_req_t *req, conf_cf_header_t h, const char *value)
{
    add(req, h, value, strlen(value));
}

/* "TLSv1.3:TLS_AES_128_GCM_SHA256:fullHandshake"; 0 when the connection is not TLS */
static size_t tls_value(h2o_req_t *req, char *buf, size_t cap)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    const char *version, *cipher, *handshake = "fullHandshake";
    if (sock == NULL || (version = h2o_socket_get_ssl_protocol_version(sock)) == NULL)
        return 0;
    cipher = h2o_socket_get_ssl_cipher(sock);
    /* not the connection's first request: HTTP/1's request index, HTTP/2's stream id (the first client stream is 1) */
    h2o_iovec_t idx = {NULL, 0};
    if (req->version < 0x200 && req->conn->callbacks->log_.http1.request_index != NULL)
        idx = req->conn->callbacks->log_.http1.request_index(req);
    else if (req->version >= 0x200 && req->conn->callbacks->log_.http2.stream_id != NULL)
        idx = req->conn->callbacks->log_.http2.stream_id(req);
    if (idx.len != 0 && !(idx.len == 1 && (idx.base[0] == '0' || idx.base[0] == '1')))
        handshake = "connectionReused";
    else if (h2o_socket_get_ssl_session_reused(sock) == 1)
        handshake = "sessionResumed";
    int n = snprintf(buf, cap, "%s:%s:%s", version, cipher != NULL ? cipher : "", handshake);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static const struct {
    conf_cf_header_t header;
    unsigned field;
} geo_fields[] = {{CONF_CF_COUNTRY, VIEWER_GEO_COUNTRY},
                  {CONF_CF_COUNTRY_NAME, VIEWER_GEO_COUNTRY_NAME},
                  {CONF_CF_COUNTRY_REGION, VIEWER_GEO_REGION},
                  {CONF_CF_COUNTRY_REGION_NAME, VIEWER_GEO_REGION_NAME},
                  {CONF_CF_CITY, VIEWER_GEO_CITY},
                  {CONF_CF_POSTAL_CODE, VIEWER_GEO_POSTAL_CODE},
                  {CONF_CF_LATITUDE, VIEWER_GEO_LATITUDE},
                  {CONF_CF_LONGITUDE, VIEWER_GEO_LONGITUDE},
                  {CONF_CF_METRO_CODE, VIEWER_GEO_METRO_CODE},
                  {CONF_CF_TIME_ZONE, VIEWER_GEO_TIME_ZONE},
                  {CONF_CF_ASN, VIEWER_GEO_ASN}};

static const char *geo_value(const viewer_geo_result_t *r, unsigned field)
{
    switch (field) {
    case VIEWER_GEO_COUNTRY:
        return r->country;
    case VIEWER_GEO_COUNTRY_NAME:
        return r->country_name;
    case VIEWER_GEO_REGION:
        return r->region;
    case VIEWER_GEO_REGION_NAME:
        return r->region_name;
    case VIEWER_GEO_CITY:
        return r->city;
    case VIEWER_GEO_POSTAL_CODE:
        return r->postal_code;
    case VIEWER_GEO_LATITUDE:
        return r->latitude;
    case VIEWER_GEO_LONGITUDE:
        return r->longitude;
    case VIEWER_GEO_METRO_CODE:
        return r->metro_code;
    case VIEWER_GEO_TIME_ZONE:
        return r->time_zone;
    default:
        return r->asn;
    }
}

static void add_geo(h2o_req_t *req, uint32_t mask, const viewer_geo_t *geo, const struct sockaddr *sa)
{
    unsigned want = 0;
    viewer_geo_result_t r;
    for (size_t i = 0; i != sizeof(geo_fields) / sizeof(geo_fields[0]); ++i)
        if (mask & CONF_CF_BIT(geo_fields[i].header))
            want |= geo_fields[i].field;
    if (want == 0 || viewer_geo_lookup(geo, sa, want, &r) == 0)
        return;
    for (size_t i = 0; i != sizeof(geo_fields) / sizeof(geo_fields[0]); ++i)
        if ((want & r.found & geo_fields[i].field) != 0)
            add_str(req, geo_fields[i].header, geo_value(&r, geo_fields[i].field));
}

void cfheaders_add(h2o_req_t *req, uint32_t mask, const viewer_geo_t *geo, h2o_iovec_t client_ip)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char buf[256];
    size_t n;

    cfheaders_strip(&req->headers);
    if (mask == 0)
        return;
    memset(&ss, 0, sizeof(ss));
    sslen = req->conn->callbacks->get_peername(req->conn, (void *)&ss);
    if (mask & CONF_CF_BIT(CONF_CF_FORWARDED_PROTO))
        add_str(req, CONF_CF_FORWARDED_PROTO, req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http");
    if (mask & CONF_CF_BIT(CONF_CF_HTTP_VERSION)) {
        n = cfheaders_http_version(req->version, buf);
        add(req, CONF_CF_HTTP_VERSION, buf, n);
    }
    if ((mask & CONF_CF_BIT(CONF_CF_ADDRESS)) && sslen != 0 && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        unsigned port =
            ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
        int k = snprintf(buf, sizeof(buf), "%.*s:%u", (int)client_ip.len, client_ip.base, port);
        if (k > 0 && (size_t)k < sizeof(buf))
            add(req, CONF_CF_ADDRESS, buf, (size_t)k);
    }
    if ((mask & CONF_CF_BIT(CONF_CF_TLS)) && (n = tls_value(req, buf, sizeof(buf))) != 0)
        add(req, CONF_CF_TLS, buf, n);
    if (mask & (CONF_CF_BIT(CONF_CF_IS_ANDROID) | CONF_CF_BIT(CONF_CF_IS_DESKTOP) | CONF_CF_BIT(CONF_CF_IS_IOS) |
                CONF_CF_BIT(CONF_CF_IS_MOBILE) | CONF_CF_BIT(CONF_CF_IS_SMARTTV) | CONF_CF_BIT(CONF_CF_IS_TABLET))) {
        static const struct {
            conf_cf_header_t header;
            unsigned flag;
        } dev[] = {{CONF_CF_IS_ANDROID, VIEWER_DEVICE_ANDROID}, {CONF_CF_IS_DESKTOP, VIEWER_DEVICE_DESKTOP},
                   {CONF_CF_IS_IOS, VIEWER_DEVICE_IOS},         {CONF_CF_IS_MOBILE, VIEWER_DEVICE_MOBILE},
                   {CONF_CF_IS_SMARTTV, VIEWER_DEVICE_SMARTTV}, {CONF_CF_IS_TABLET, VIEWER_DEVICE_TABLET}};
        h2o_iovec_t ua = headers_get(&req->headers, H2O_TOKEN_USER_AGENT);
        unsigned flags = viewer_device_classify(ua.base, ua.len);
        for (size_t i = 0; i != sizeof(dev) / sizeof(dev[0]); ++i)
            if (mask & CONF_CF_BIT(dev[i].header))
                add_str(req, dev[i].header, (flags & dev[i].flag) ? "true" : "false");
    }
    if (geo != NULL && sslen != 0 && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
        add_geo(req, mask, geo, (const struct sockaddr *)&ss);
}
