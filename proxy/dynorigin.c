/* proxy/dynorigin.c - origins that origin-request hooks chose: how an origin is shown to hooks (Lambda@Edge `request.origin`), how
 * what a hook returns becomes an origin, and a small per-thread table of them, least recently used out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "proxy/dynorigin.h"
#include "proxy/s3origin.h"
#include "proxy/server.h"

#define TABLE_SIZE 32

typedef struct entry {
    char key[1400];
    origin_t *origin;
    uint64_t used;
} entry_t;

static __thread entry_t table[TABLE_SIZE];
static __thread uint64_t clock_;

void dynorigin_describe(origin_t *o, h2o_mem_pool_t *pool, hook_origin_t *ho)
{
    char buf[600];
    memset(ho, 0, sizeof(*ho));
    ho->path = o->path_prefix;
    if (o->s3 != NULL) {
        /* an S3 domainName has no protocol: a port other than HTTPS's is written, as for a local S3 on host:port */
        const char *bucket = s3origin_describe(o, buf, sizeof(buf));
        ho->kind = HOOK_ORIGIN_S3;
        ho->domain_name = h2o_strdup(pool, buf, SIZE_MAX);
        if (bucket != NULL) /* path-style addressing: the bucket is the first segment of the path */
            ho->path = h2o_concat(pool, h2o_iovec_init(H2O_STRLIT("/")), h2o_iovec_init(bucket, strlen(bucket)), o->path_prefix);
        ho->region = h2o_strdup(pool, s3origin_region(o), SIZE_MAX);
        ho->auth_method = h2o_iovec_init(H2O_STRLIT("origin-access-identity"));
    } else {
        ho->kind = HOOK_ORIGIN_CUSTOM;
        ho->domain_name = h2o_strdup(pool, o->host, SIZE_MAX);
        ho->protocol = o->https ? h2o_iovec_init(H2O_STRLIT("https")) : h2o_iovec_init(H2O_STRLIT("http"));
        ho->port = o->port;
        ho->read_timeout_s = (int)(o->read_timeout_ms / 1000);
        ho->keepalive_timeout_s = (int)(o->keepalive_timeout_ms / 1000);
        ho->ssl_protocols = o->ssl_protocols != 0 ? o->ssl_protocols : HOOK_SSL_TLSV1_2;
    }
}

/* splits an S3 domainName into host and port (0: none given); -1 when the port is not a number of 1-65535 */
static int split_host_port(char *host, uint16_t *port)
{
    char *colon = strrchr(host, ':');
    *port = 0;
    if (host[0] == '[') { /* [v6] or [v6]:port */
        char *close = strchr(host, ']');
        if (close == NULL)
            return -1;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] != '\0' && colon == NULL)
            return -1;
        *close = '\0';
        memmove(host, host + 1, strlen(host + 1) + 1);
        if (colon != NULL)
            colon -= 2;
    } else if (colon != NULL && strchr(host, ':') != colon) {
        return 0; /* a bare IPv6 address */
    }
    if (colon == NULL)
        return 0;
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p == 0 || p > 65535)
        return -1;
    *colon = '\0';
    *port = (uint16_t)p;
    return 0;
}

/* the hook's origin is the one it was shown (the behavior's), maybe with another path, timeouts or protocols: the endpoint is
 * the same, so what the event cannot express (TLS settings, credentials, addressing, connect timeout, limits) is kept */
static int same_endpoint(const hook_origin_t *ho, origin_t *base, int https, const char *host, uint16_t port)
{
    char buf[600];
    if (base == NULL)
        return 0;
    if (ho->kind == HOOK_ORIGIN_S3) {
        if (base->s3 == NULL)
            return 0;
        s3origin_describe(base, buf, sizeof(buf));
        return ho->domain_name.len == strlen(buf) && strncasecmp(ho->domain_name.base, buf, ho->domain_name.len) == 0;
    }
    return base->s3 == NULL && base->https == https && strcasecmp(base->host, host) == 0 && base->port == port;
}

/* the timeouts of the event are whole seconds: an unchanged value keeps the base's milliseconds */
static void keep_or_set(uint64_t *ms, uint64_t *also, int s)
{
    if (s == 0 || (uint64_t)s == *ms / 1000)
        return;
    *ms = (uint64_t)s * 1000;
    if (also != NULL)
        *also = *ms;
}

origin_t *dynorigin_get(const hook_origin_t *ho, origin_t *base, char *err, size_t errlen)
{
    char key[sizeof(table[0].key)], host[300], domain[300], path[256], region[64], auth[48], host_header[320];
    int https, same = 0, to_store = 0, sign;
    uint16_t port;
    origin_spec_t spec;
    entry_t *victim = NULL;
    origin_t *o;

#define COPY(dst, iov)                                                                                                             \
    do {                                                                                                                           \
        size_t n_ = (iov).len < sizeof(dst) - 1 ? (iov).len : sizeof(dst) - 1;                                                     \
        if (n_ != 0)                                                                                                               \
            memcpy(dst, (iov).base, n_);                                                                                           \
        dst[n_] = '\0';                                                                                                            \
    } while (0)
    COPY(host, ho->domain_name);
    COPY(domain, ho->domain_name);
    COPY(path, ho->path);
    COPY(region, ho->region);
    COPY(auth, ho->auth_method);
#undef COPY
    if (host[0] == '\0') {
        snprintf(err, errlen, "the origin has no domainName");
        return NULL;
    }
    if (region[0] == '\0')
        snprintf(region, sizeof(region), "us-east-1");
    origin_spec_init(&spec, server.num_workers);
    if (ho->kind == HOOK_ORIGIN_CUSTOM) {
        https = ho->protocol.len == 5 && memcmp(ho->protocol.base, "https", 5) == 0;
        port = ho->port != 0 ? ho->port : (https ? 443 : 80);
        same = same_endpoint(ho, base, https, host, port);
        sign = 0;
    } else {
        uint16_t given;
        const char *store_host;
        if (split_host_port(host, &given) != 0) {
            snprintf(err, errlen, "the S3 domainName %s has an invalid port", domain);
            return NULL;
        }
        sign = strcmp(auth, "none") != 0;
        if (s3origin_store_endpoint(host, given, &store_host, &port)) {
            /* the embedded store, maybe as BUCKET.its domain (virtual-hosted: the Host names the bucket, no DNS needed) */
            to_store = 1;
            https = 0;
            snprintf(host_header, sizeof(host_header), "%s", domain);
            spec.host_header = host_header;
            snprintf(host, sizeof(host), "%s", store_host);
        } else if ((same = same_endpoint(ho, base, 0, host, given))) {
            https = base->https;
            port = base->port;
        } else {
            /* a host name is S3 over HTTPS; host:port a local S3 over plain HTTP unless the port is 443 */
            port = given != 0 ? given : 443;
            https = port == 443;
        }
    }
    if (same) {
        origin_spec_of(base, &spec);
        spec.path_prefix = path;
    }
    if (ho->kind == HOOK_ORIGIN_CUSTOM) {
        keep_or_set(&spec.read_timeout_ms, &spec.first_byte_timeout_ms, ho->read_timeout_s);
        keep_or_set(&spec.keepalive_timeout_ms, NULL, ho->keepalive_timeout_s);
        if (ho->ssl_protocols != 0)
            spec.ssl_protocols = ho->ssl_protocols;
    }
    if (!same) {
        spec.https = https;
        spec.host = host;
        spec.port = port;
        spec.path_prefix = path;
    }
    snprintf(key, sizeof(key), "%d|%llu|%d|%d|%s|%u|%s|%llu|%llu|%u|%s|%d|%s", ho->kind,
             same ? (unsigned long long)base->serial : 0ull, to_store, https, domain, port, path,
             (unsigned long long)spec.read_timeout_ms, (unsigned long long)spec.keepalive_timeout_ms, spec.ssl_protocols, region,
             sign, host);
    ++clock_;
    for (size_t i = 0; i != TABLE_SIZE; ++i) {
        if (table[i].origin != NULL && strcmp(table[i].key, key) == 0) {
            table[i].used = clock_;
            return table[i].origin;
        }
        if (victim == NULL || table[i].used < victim->used)
            victim = &table[i];
    }
    if ((o = origin_new_spec(domain, &spec, server.num_workers, err, errlen)) == NULL)
        return NULL;
    if (sign) {
        /* the same endpoint signs with the edited origin's credentials, the store with its own; any other S3 with those of the
         * behavior's origin when it is an S3 one, else with the AWS_* environment */
        int rc = to_store ? s3origin_attach_store(o, region)
                          : s3origin_attach_dynamic(o, region, base != NULL && base->s3 != NULL ? base : NULL);
        if (rc != 0) {
            snprintf(err, errlen, "no credentials to sign requests to the S3 origin %s", domain);
            origin_release(o);
            return NULL;
        }
    }
    /* the entry it replaces may still serve requests in flight: they hold their own references */
    if (victim->origin != NULL)
        origin_release(victim->origin);
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->origin = o;
    victim->used = clock_;
    return o;
}

void dynorigin_thread_dispose(void)
{
    for (size_t i = 0; i != TABLE_SIZE; ++i)
        if (table[i].origin != NULL) {
            origin_release(table[i].origin);
            table[i].origin = NULL;
        }
}
