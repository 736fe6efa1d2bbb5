/* conf/cfheaders.h - the CloudFront-* request headers edgehook generates: their names, and which of them a cache key may hold or a
 * geo database must answer. The one table of them; the proxy (proxy/cfheaders.c) computes their values. */
#ifndef EDGE_CONF_CFHEADERS_H
#define EDGE_CONF_CFHEADERS_H

#include <stddef.h>
#include <stdint.h>

/** one generated header; the value is its bit in a behavior's mask (conf_behavior_t.cf_headers) */
typedef enum conf_cf_header {
    CONF_CF_FORWARDED_PROTO = 0,
    CONF_CF_IS_ANDROID,
    CONF_CF_IS_DESKTOP,
    CONF_CF_IS_IOS,
    CONF_CF_IS_MOBILE,
    CONF_CF_IS_SMARTTV,
    CONF_CF_IS_TABLET,
    CONF_CF_ADDRESS,
    CONF_CF_ASN,
    CONF_CF_CITY,
    CONF_CF_COUNTRY,
    CONF_CF_COUNTRY_NAME,
    CONF_CF_COUNTRY_REGION,
    CONF_CF_COUNTRY_REGION_NAME,
    CONF_CF_HTTP_VERSION,
    CONF_CF_LATITUDE,
    CONF_CF_LONGITUDE,
    CONF_CF_METRO_CODE,
    CONF_CF_POSTAL_CODE,
    CONF_CF_TIME_ZONE,
    CONF_CF_TLS,
    CONF_CF_NUM
} conf_cf_header_t;

#define CONF_CF_BIT(h) ((uint32_t)1 << (h))
/** a header whose value comes from the geo database (geoip:) */
#define CONF_CF_GEO 1u
/** a header CloudFront allows in an origin request policy only, not in a cache policy (one entry per viewer) */
#define CONF_CF_NOT_IN_KEY 2u
/** the User-Agent classifier's headers */
#define CONF_CF_DEVICE 4u

typedef struct conf_cf_header_info {
    const char *name; /**< as CloudFront writes it: CloudFront-Viewer-Country */
    size_t len;
    unsigned flags; /**< CONF_CF_GEO, CONF_CF_NOT_IN_KEY, CONF_CF_DEVICE */
} conf_cf_header_info_t;

/** indexed by conf_cf_header_t */
extern const conf_cf_header_info_t conf_cf_headers[CONF_CF_NUM];

/** the generated header named `name` (any case), or -1 */
int conf_cf_header_find(const char *name, size_t len);
/** 1 when `name` (any case) starts with "cloudfront-": a name edgehook owns (never taken from the viewer) */
int conf_cf_is_reserved(const char *name, size_t len);
/** the mask of the geo headers (CONF_CF_GEO) */
uint32_t conf_cf_geo_mask(void);

#endif
