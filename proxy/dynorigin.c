/* proxy/dynorigin.c - a small per-thread table of origins that hooks chose, least recently used out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/dynorigin.h"
#include "proxy/s3origin.h"
#include "proxy/server.h"

#define TABLE_SIZE 32

typedef struct entry {
    char key[1024];
    origin_t *origin;
    uint64_t used;
} entry_t;

static __thread entry_t table[TABLE_SIZE];
static __thread uint64_t clock_;

void dynorigin_describe(origin_t *o, h2o_mem_pool_t *pool, hook_origin_t *ho)
{
    memset(ho, 0, sizeof(*ho));
    ho->domain_name = h2o_strdup(pool, o->host, SIZE_MAX);
    ho->path = o->path_prefix;
    if (o->s3 != NULL) {
        ho->kind = HOOK_ORIGIN_S3;
        ho->region = h2o_iovec_init(H2O_STRLIT("us-east-1"));
        ho->auth_method = h2o_iovec_init(H2O_STRLIT("origin-access-identity"));
    } else {
        ho->kind = HOOK_ORIGIN_CUSTOM;
        ho->protocol = o->https ? h2o_iovec_init(H2O_STRLIT("https")) : h2o_iovec_init(H2O_STRLIT("http"));
        ho->port = o->port;
        ho->read_timeout_s = (int)(o->read_timeout_ms / 1000);
        ho->keepalive_timeout_s = (int)(o->keepalive_timeout_ms / 1000);
    }
}

origin_t *dynorigin_get(const hook_origin_t *ho, origin_t *base, char *err, size_t errlen)
{
    char key[1024], host[256], path[256], region[64], auth[48];
    int https;
    uint16_t port;
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
    COPY(path, ho->path);
    COPY(region, ho->region);
    COPY(auth, ho->auth_method);
#undef COPY
    if (host[0] == '\0') {
        snprintf(err, errlen, "the origin has no domainName");
        return NULL;
    }
    if (ho->kind == HOOK_ORIGIN_CUSTOM) {
        https = ho->protocol.len == 5 && memcmp(ho->protocol.base, "https", 5) == 0;
        port = ho->port != 0 ? ho->port : (https ? 443 : 80);
    } else {
        /* an S3 endpoint: a host name (HTTPS on 443), or host:port for a local S3 (plain HTTP) */
        char *colon = strrchr(host, ':');
        if (colon != NULL && strchr(host, ']') == NULL && strchr(host, ':') == colon) {
            *colon = '\0';
            port = (uint16_t)atoi(colon + 1);
            https = port == 443;
        } else {
            port = 443;
            https = 1;
        }
    }
    snprintf(key, sizeof(key), "%d|%d|%s|%u|%s|%d|%d|%s|%s", ho->kind, https, host, port, path, ho->read_timeout_s,
             ho->keepalive_timeout_s, region, auth);
    ++clock_;
    for (size_t i = 0; i != TABLE_SIZE; ++i) {
        if (table[i].origin != NULL && strcmp(table[i].key, key) == 0) {
            table[i].used = clock_;
            return table[i].origin;
        }
        if (victim == NULL || table[i].used < victim->used)
            victim = &table[i];
    }
    if ((o = origin_new_dynamic(host, https, host, port, path, (uint64_t)ho->read_timeout_s * 1000,
                                (uint64_t)ho->keepalive_timeout_s * 1000, server.num_workers, err, errlen)) == NULL)
        return NULL;
    if (ho->kind == HOOK_ORIGIN_S3 && !(strcmp(auth, "none") == 0)) {
        if (s3origin_attach_dynamic(o, region[0] != '\0' ? region : "us-east-1", base) != 0) {
            snprintf(err, errlen, "no credentials to sign requests to the S3 origin %s", host);
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
