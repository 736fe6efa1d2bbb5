/* conf/cfheaders.c - the names of the CloudFront-* request headers edgehook generates. */
#include <string.h>
#include "base/str.h"
#include "conf/cfheaders.h"

#define H(s, f)                                                                                                                    \
    {                                                                                                                              \
        s, sizeof(s) - 1, f                                                                                                        \
    }
const conf_cf_header_info_t conf_cf_headers[CONF_CF_NUM] = {
    [CONF_CF_FORWARDED_PROTO] = H("CloudFront-Forwarded-Proto", 0),
    [CONF_CF_IS_ANDROID] = H("CloudFront-Is-Android-Viewer", CONF_CF_DEVICE),
    [CONF_CF_IS_DESKTOP] = H("CloudFront-Is-Desktop-Viewer", CONF_CF_DEVICE),
    [CONF_CF_IS_IOS] = H("CloudFront-Is-IOS-Viewer", CONF_CF_DEVICE),
    [CONF_CF_IS_MOBILE] = H("CloudFront-Is-Mobile-Viewer", CONF_CF_DEVICE),
    [CONF_CF_IS_SMARTTV] = H("CloudFront-Is-SmartTV-Viewer", CONF_CF_DEVICE),
    [CONF_CF_IS_TABLET] = H("CloudFront-Is-Tablet-Viewer", CONF_CF_DEVICE),
    [CONF_CF_ADDRESS] = H("CloudFront-Viewer-Address", CONF_CF_NOT_IN_KEY),
    [CONF_CF_ASN] = H("CloudFront-Viewer-ASN", CONF_CF_GEO | CONF_CF_NOT_IN_KEY),
    [CONF_CF_CITY] = H("CloudFront-Viewer-City", CONF_CF_GEO),
    [CONF_CF_COUNTRY] = H("CloudFront-Viewer-Country", CONF_CF_GEO),
    [CONF_CF_COUNTRY_NAME] = H("CloudFront-Viewer-Country-Name", CONF_CF_GEO),
    [CONF_CF_COUNTRY_REGION] = H("CloudFront-Viewer-Country-Region", CONF_CF_GEO),
    [CONF_CF_COUNTRY_REGION_NAME] = H("CloudFront-Viewer-Country-Region-Name", CONF_CF_GEO),
    [CONF_CF_HTTP_VERSION] = H("CloudFront-Viewer-Http-Version", 0),
    [CONF_CF_LATITUDE] = H("CloudFront-Viewer-Latitude", CONF_CF_GEO),
    [CONF_CF_LONGITUDE] = H("CloudFront-Viewer-Longitude", CONF_CF_GEO),
    [CONF_CF_METRO_CODE] = H("CloudFront-Viewer-Metro-Code", CONF_CF_GEO),
    [CONF_CF_POSTAL_CODE] = H("CloudFront-Viewer-Postal-Code", CONF_CF_GEO),
    [CONF_CF_TIME_ZONE] = H("CloudFront-Viewer-Time-Zone", CONF_CF_GEO),
    [CONF_CF_TLS] = H("CloudFront-Viewer-TLS", CONF_CF_NOT_IN_KEY),
};
#undef H

int conf_cf_header_find(const char *name, size_t len)
{
    for (int i = 0; i != CONF_CF_NUM; ++i)
        if (edge_caseeq(conf_cf_headers[i].name, conf_cf_headers[i].len, name, len))
            return i;
    return -1;
}

int conf_cf_is_reserved(const char *name, size_t len)
{
    return len > 11 && (name[0] == 'c' || name[0] == 'C') && edge_caseeq(name, 11, "cloudfront-", 11);
}

uint32_t conf_cf_geo_mask(void)
{
    uint32_t m = 0;
    for (int i = 0; i != CONF_CF_NUM; ++i)
        if (conf_cf_headers[i].flags & CONF_CF_GEO)
            m |= CONF_CF_BIT(i);
    return m;
}
