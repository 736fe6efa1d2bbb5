/* proxy/s3origin.c - S3 origins: bucket addressing and SigV4 request signing (placeholder until store/sigv4 lands). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/s3origin.h"

typedef struct s3_signer {
    char *bucket;
    char *region;
    int virtual_host;
    int embedded;
    char *access_key, *secret_key, *session_token;
} s3_signer_t;

int s3origin_attach(origin_t *o, const conf_origin_t *c, char *err, size_t errlen)
{
    s3_signer_t *s = calloc(1, sizeof(*s));
    s->bucket = strdup(c->bucket);
    s->region = strdup(c->region);
    s->embedded = c->embedded;
    o->s3 = s;
    return 0;
}

void s3origin_set_embedded(origin_t *o, const char *host, uint16_t port, const char *access_key, const char *secret_key)
{
}

int s3origin_is_embedded(origin_t *o)
{
    return o->s3 != NULL && o->s3->embedded;
}

int s3origin_sign(origin_t *o, h2o_mem_pool_t *pool, h2o_iovec_t method, h2o_iovec_t *path, h2o_headers_t *headers,
                  h2o_iovec_t body, int64_t now_ms)
{
    return -1;
}

void s3origin_detach(origin_t *o)
{
}
