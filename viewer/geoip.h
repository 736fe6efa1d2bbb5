/* viewer/geoip.h - where a viewer is, from MaxMind DB files (libmaxminddb): the CloudFront-Viewer-* geo headers. A database is
 * opened (mmap'd) once per configuration generation and shared read-only by every thread; a lookup allocates nothing. */
#ifndef EDGE_VIEWER_GEOIP_H
#define EDGE_VIEWER_GEOIP_H

#include <stddef.h>
#include <sys/socket.h>

/** 1 when edgehook was built with libmaxminddb (else viewer_geo_open fails and the geo headers are not generated) */
int viewer_geo_available(void);

/** opened databases (refcounted: a generation, and those rebound from it, share them) */
typedef struct viewer_geo viewer_geo_t;

/**
 * Opens `database` (a City or Country database) and, unless NULL, `asn_database` (an ASN database). NULL with a message in err
 * when a file cannot be opened or is not a MaxMind DB ("FILE: reason").
 */
viewer_geo_t *viewer_geo_open(const char *database, const char *asn_database, char *err, size_t errlen);
void viewer_geo_addref(viewer_geo_t *g);
void viewer_geo_release(viewer_geo_t *g);

/** the fields of a lookup (a bit each: only the asked ones are read) */
enum {
    VIEWER_GEO_COUNTRY = 1u << 0,
    VIEWER_GEO_COUNTRY_NAME = 1u << 1,
    VIEWER_GEO_REGION = 1u << 2,
    VIEWER_GEO_REGION_NAME = 1u << 3,
    VIEWER_GEO_CITY = 1u << 4,
    VIEWER_GEO_POSTAL_CODE = 1u << 5,
    VIEWER_GEO_LATITUDE = 1u << 6,
    VIEWER_GEO_LONGITUDE = 1u << 7,
    VIEWER_GEO_METRO_CODE = 1u << 8,
    VIEWER_GEO_TIME_ZONE = 1u << 9,
    VIEWER_GEO_ASN = 1u << 10,
};

/** what a lookup found, formatted as CloudFront writes it; an empty string: not known (the header is left out) */
typedef struct viewer_geo_result {
    unsigned found;         /**< the VIEWER_GEO_* bits that have a value */
    char country[8];        /**< ISO 3166-1 alpha-2: "US" (the registered country when the database has no other) */
    char country_name[192]; /**< English, non-ASCII bytes percent-encoded (RFC 3986): "United States" */
    char region[16];        /**< the first subdivision's ISO 3166-2 code without the country: "WA" */
    char region_name[192];  /**< English, percent-encoded like country_name */
    char city[192];         /**< English, percent-encoded: "S%C3%A3o Paulo" */
    char postal_code[48];
    char latitude[24];   /**< five decimals: "47.60620" */
    char longitude[24];  /**< "-122.33210" */
    char metro_code[16]; /**< US only: "819" */
    char time_zone[64];  /**< IANA: "America/Los_Angeles" */
    char asn[16];        /**< "16509" */
} viewer_geo_result_t;

/**
 * Looks up the address `sa` (AF_INET or AF_INET6; an IPv4-mapped IPv6 address is looked up as IPv4) for the `want` fields.
 * Returns the bits found (also in out->found); 0 when the address is in no network of the databases.
 */
unsigned viewer_geo_lookup(const viewer_geo_t *g, const struct sockaddr *sa, unsigned want, viewer_geo_result_t *out);

/**
 * Copies the UTF-8 text s (len bytes) into out (cap bytes, NUL-terminated) as CloudFront writes a name in a header: bytes
 * above 0x7e, control bytes and '%' percent-encoded ("%C3%A3"); cut at a whole character when out is too small. Returns the
 * length written.
 */
size_t viewer_geo_encode_name(const char *s, size_t len, char *out, size_t cap);
/** writes a coordinate with five decimals, as CloudFront does ("47.60620", "-122.33210"); returns the length */
size_t viewer_geo_format_coordinate(double v, char *out, size_t cap);

#endif
