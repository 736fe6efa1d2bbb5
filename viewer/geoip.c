/* viewer/geoip.c - geo lookups in MaxMind DB files (libmaxminddb, when edgehook is built with it). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "viewer/geoip.h"
#ifdef EDGE_HAVE_MAXMINDDB
#include <maxminddb.h>
#endif

size_t viewer_geo_encode_name(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '%') {
            if (o + 3 >= cap)
                break;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

size_t viewer_geo_format_coordinate(double v, char *out, size_t cap)
{
    int n;
    if (v != v || v > 1e6 || v < -1e6) /* NaN or nonsense: not a coordinate */
        n = 0, out[0] = '\0';
    else
        n = snprintf(out, cap, "%.5f", v);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

#ifdef EDGE_HAVE_MAXMINDDB

struct viewer_geo {
    _Atomic uint32_t refcnt;
    MMDB_s city;
    MMDB_s asn;
    int has_asn;
};

int viewer_geo_available(void)
{
    return 1;
}

static int open_db(const char *path, MMDB_s *db, char *err, size_t errlen)
{
    int r = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (r != MMDB_SUCCESS) {
        snprintf(err, errlen, "%s: %s", path, MMDB_strerror(r));
        return -1;
    }
    return 0;
}

viewer_geo_t *viewer_geo_open(const char *database, const char *asn_database, char *err, size_t errlen)
{
    viewer_geo_t *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, errlen, "no memory");
        return NULL;
    }
    atomic_init(&g->refcnt, 1);
    if (open_db(database, &g->city, err, errlen) != 0) {
        free(g);
        return NULL;
    }
    if (asn_database != NULL) {
        if (open_db(asn_database, &g->asn, err, errlen) != 0) {
            MMDB_close(&g->city);
            free(g);
            return NULL;
        }
        g->has_asn = 1;
    }
    return g;
}

void viewer_geo_addref(viewer_geo_t *g)
{
    atomic_fetch_add(&g->refcnt, 1);
}

void viewer_geo_release(viewer_geo_t *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refcnt, 1) != 1)
        return;
    MMDB_close(&g->city);
    if (g->has_asn)
        MMDB_close(&g->asn);
    free(g);
}

/* the entry data at path (NULL-terminated) under entry, of type `type`; 0 when absent or of another type */
static int get(MMDB_entry_s *entry, const char *const *path, uint32_t type, MMDB_entry_data_s *out)
{
    return MMDB_aget_value(entry, out, path) == MMDB_SUCCESS && out->has_data && out->type == type;
}

static unsigned get_text(MMDB_entry_s *e, const char *const *path, int encode, char *out, size_t cap, unsigned bit)
{
    MMDB_entry_data_s d;
    if (!get(e, path, MMDB_DATA_TYPE_UTF8_STRING, &d) || d.data_size == 0)
        return 0;
    if (encode) {
        viewer_geo_encode_name(d.utf8_string, d.data_size, out, cap);
    } else {
        /* a code (country, region, time zone, postal code): printable ASCII only, or it is not used */
        if (d.data_size >= cap)
            return 0;
        for (uint32_t i = 0; i != d.data_size; ++i)
            if (d.utf8_string[i] <= 0x20 || d.utf8_string[i] > 0x7e)
                return 0;
        memcpy(out, d.utf8_string, d.data_size);
        out[d.data_size] = '\0';
    }
    return out[0] != '\0' ? bit : 0;
}

static unsigned get_uint(MMDB_entry_s *e, const char *const *path, char *out, size_t cap, unsigned bit)
{
    MMDB_entry_data_s d;
    uint64_t v;
    if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data)
        return 0;
    switch (d.type) {
    case MMDB_DATA_TYPE_UINT16:
        v = d.uint16;
        break;
    case MMDB_DATA_TYPE_UINT32:
        v = d.uint32;
        break;
    case MMDB_DATA_TYPE_UINT64:
        v = d.uint64;
        break;
    default:
        return 0;
    }
    snprintf(out, cap, "%llu", (unsigned long long)v);
    return bit;
}

static unsigned get_coordinate(MMDB_entry_s *e, const char *const *path, char *out, size_t cap, unsigned bit)
{
    MMDB_entry_data_s d;
    if (!get(e, path, MMDB_DATA_TYPE_DOUBLE, &d))
        return 0;
    return viewer_geo_format_coordinate(d.double_value, out, cap) != 0 ? bit : 0;
}

/* an IPv4-mapped IPv6 address (a dual-stack listener's IPv4 viewer) as the IPv4 address it is */
static const struct sockaddr *unmap(const struct sockaddr *sa, struct sockaddr_in *v4)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
        return sa;
    memset(v4, 0, sizeof(*v4));
    v4->sin_family = AF_INET;
    memcpy(&v4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
    return (const struct sockaddr *)v4;
}

#define PATH(...)                                                                                                                  \
    (const char *const[])                                                                                                          \
    {                                                                                                                              \
        __VA_ARGS__, NULL                                                                                                          \
    }

/* the map at path under e, as an entry of its own (0: absent): the fields inside it are then looked up without walking (and
 * skipping over) the record's other maps again */
static int sub(MMDB_entry_s *e, const char *const *path, MMDB_entry_s *out)
{
    MMDB_entry_data_s d;
    if (!get(e, path, MMDB_DATA_TYPE_MAP, &d))
        return 0;
    out->mmdb = e->mmdb;
    out->offset = d.offset;
    return 1;
}

static unsigned lookup_city(MMDB_entry_s *e, unsigned want, int asn_here, viewer_geo_result_t *out)
{
    MMDB_entry_s m;
    unsigned f = 0;
    if ((want & (VIEWER_GEO_COUNTRY | VIEWER_GEO_COUNTRY_NAME)) && sub(e, PATH("country"), &m)) {
        if (want & VIEWER_GEO_COUNTRY)
            f |= get_text(&m, PATH("iso_code"), 0, out->country, sizeof(out->country), VIEWER_GEO_COUNTRY);
        if (want & VIEWER_GEO_COUNTRY_NAME)
            f |= get_text(&m, PATH("names", "en"), 1, out->country_name, sizeof(out->country_name), VIEWER_GEO_COUNTRY_NAME);
    }
    if ((want & VIEWER_GEO_COUNTRY) && !(f & VIEWER_GEO_COUNTRY))
        f |= get_text(e, PATH("registered_country", "iso_code"), 0, out->country, sizeof(out->country), VIEWER_GEO_COUNTRY);
    if ((want & (VIEWER_GEO_REGION | VIEWER_GEO_REGION_NAME)) && sub(e, PATH("subdivisions", "0"), &m)) {
        if (want & VIEWER_GEO_REGION)
            f |= get_text(&m, PATH("iso_code"), 0, out->region, sizeof(out->region), VIEWER_GEO_REGION);
        if (want & VIEWER_GEO_REGION_NAME)
            f |= get_text(&m, PATH("names", "en"), 1, out->region_name, sizeof(out->region_name), VIEWER_GEO_REGION_NAME);
    }
    if (want & VIEWER_GEO_CITY)
        f |= get_text(e, PATH("city", "names", "en"), 1, out->city, sizeof(out->city), VIEWER_GEO_CITY);
    if (want & VIEWER_GEO_POSTAL_CODE)
        f |= get_text(e, PATH("postal", "code"), 0, out->postal_code, sizeof(out->postal_code), VIEWER_GEO_POSTAL_CODE);
    if ((want & (VIEWER_GEO_LATITUDE | VIEWER_GEO_LONGITUDE | VIEWER_GEO_METRO_CODE | VIEWER_GEO_TIME_ZONE)) &&
        sub(e, PATH("location"), &m)) {
        if (want & VIEWER_GEO_LATITUDE)
            f |= get_coordinate(&m, PATH("latitude"), out->latitude, sizeof(out->latitude), VIEWER_GEO_LATITUDE);
        if (want & VIEWER_GEO_LONGITUDE)
            f |= get_coordinate(&m, PATH("longitude"), out->longitude, sizeof(out->longitude), VIEWER_GEO_LONGITUDE);
        if (want & VIEWER_GEO_METRO_CODE)
            f |= get_uint(&m, PATH("metro_code"), out->metro_code, sizeof(out->metro_code), VIEWER_GEO_METRO_CODE);
        if (want & VIEWER_GEO_TIME_ZONE)
            f |= get_text(&m, PATH("time_zone"), 0, out->time_zone, sizeof(out->time_zone), VIEWER_GEO_TIME_ZONE);
    }
    if ((want & VIEWER_GEO_ASN) && asn_here)
        f |= get_uint(e, PATH("autonomous_system_number"), out->asn, sizeof(out->asn), VIEWER_GEO_ASN) |
             get_uint(e, PATH("traits", "autonomous_system_number"), out->asn, sizeof(out->asn), VIEWER_GEO_ASN);
    return f;
}

unsigned viewer_geo_lookup(const viewer_geo_t *g, const struct sockaddr *sa, unsigned want, viewer_geo_result_t *out)
{
    struct sockaddr_in v4;
    int mmdb = MMDB_SUCCESS;
    unsigned f = 0;
    out->found = 0;
    sa = unmap(sa, &v4);
    if ((want & ~VIEWER_GEO_ASN) || ((want & VIEWER_GEO_ASN) && !g->has_asn)) {
        MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->city, sa, &mmdb);
        if (mmdb == MMDB_SUCCESS && r.found_entry)
            f |= lookup_city(&r.entry, want, !g->has_asn, out);
    }
    if ((want & VIEWER_GEO_ASN) && g->has_asn) {
        MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->asn, sa, &mmdb);
        if (mmdb == MMDB_SUCCESS && r.found_entry)
            f |= get_uint(&r.entry, PATH("autonomous_system_number"), out->asn, sizeof(out->asn), VIEWER_GEO_ASN);
    }
    out->found = f;
    return f;
}

#else /* built without libmaxminddb */

struct viewer_geo {
    int unused;
};

int viewer_geo_available(void)
{
    return 0;
}

viewer_geo_t *viewer_geo_open(const char *database, const char *asn_database, char *err, size_t errlen)
{
    snprintf(err, errlen, "this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)");
    return NULL;
}

void viewer_geo_addref(viewer_geo_t *g)
{
}

void viewer_geo_release(viewer_geo_t *g)
{
}

unsigned viewer_geo_lookup(const viewer_geo_t *g, const struct sockaddr *sa, unsigned want, viewer_geo_result_t *out)
{
    out->found = 0;
    return 0;
}

#endif
