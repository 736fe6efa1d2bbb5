/* proxy/s3origin.c - S3 origins: bucket addressing (path or virtual-hosted) and SigV4 header signing of every origin request. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "hooks/event.h"
#include "proxy/headers.h"
#include "base/log.h"
#include "proxy/awsprofile.h"
#include "proxy/s3origin.h"
#include "sigv4/sigv4.h"

typedef struct s3_signer {
    char *bucket;
    char *region;
    int virtual_host;
    int embedded;
    char *access_key, *secret_key, *session_token;
} s3_signer_t;

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* takes the keys of a loaded profile (and its region when the origin gave none) */
static void use_profile(s3_signer_t *s, awsprofile_t *p, int region_given)
{
    s->access_key = p->access_key;
    s->secret_key = p->secret_key;
    s->session_token = p->session_token;
    p->access_key = p->secret_key = p->session_token = NULL;
    if (!region_given && p->region != NULL) {
        free(s->region);
        s->region = p->region;
        p->region = NULL;
    }
    awsprofile_free(p);
}

int s3origin_attach(origin_t *o, const conf_origin_t *c, char *err, size_t errlen)
{
    s3_signer_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        h2o_fatal("no memory");
    s->bucket = strdup(c->bucket);
    s->region = strdup(c->region != NULL ? c->region : "us-east-1");
    s->embedded = c->embedded;
    switch (c->addressing) {
    case CONF_S3_PATH:
        s->virtual_host = 0;
        break;
    case CONF_S3_VIRTUAL:
        /* the embedded store is reached on its own address: path style always */
        s->virtual_host = !c->embedded;
        break;
    default:
        /* like botocore: virtual-hosted on AWS, path style on custom endpoints; dotted buckets need path style over TLS */
        s->virtual_host = !c->embedded && c->host != NULL && ends_with(c->host, ".amazonaws.com") && strchr(c->bucket, '.') == NULL;
        break;
    }
    /* like the AWS tools: keys in the configuration, then a profile named there, then the environment, then the shared
     * credentials file's profile ($AWS_PROFILE or default); read again at every reload */
    awsprofile_t prof;
    char perr[1200];
    if (c->credentials.access_key != NULL) {
        s->access_key = strdup(c->credentials.access_key);
        s->secret_key = strdup(c->credentials.secret_key);
        s->session_token = dup_or_null(c->credentials.session_token);
    } else if (c->credentials.profile != NULL || c->credentials.shared_credentials_file != NULL) {
        int r = awsprofile_load(c->credentials.profile, c->credentials.shared_credentials_file, &prof, perr, sizeof(perr));
        if (r != 1) {
            snprintf(err, errlen, "credentials: %s", perr);
            o->s3 = s;
            s3origin_detach(o);
            return -1;
        }
        log_info("origins.%s: signing with the profile %s of %s", c->name, prof.profile, prof.file);
        use_profile(s, &prof, c->region_given);
    } else if (!c->embedded) {
        /* the standard environment of AWS tools */
        s->access_key = dup_or_null(getenv("AWS_ACCESS_KEY_ID"));
        s->secret_key = dup_or_null(getenv("AWS_SECRET_ACCESS_KEY"));
        s->session_token = dup_or_null(getenv("AWS_SESSION_TOKEN"));
        if (s->access_key == NULL || s->secret_key == NULL) {
            free(s->access_key);
            free(s->secret_key);
            free(s->session_token);
            s->access_key = s->secret_key = s->session_token = NULL;
            int r = awsprofile_load(NULL, NULL, &prof, perr, sizeof(perr));
            if (r == 1) {
                log_info("origins.%s: signing with the profile %s of %s", c->name, prof.profile, prof.file);
                use_profile(s, &prof, c->region_given);
            } else {
                log_warn("origins.%s: no credentials (credentials:, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a shared "
                         "credentials file: %s): requests will fail with 502",
                         c->name, perr);
            }
        }
    }
    if (s->virtual_host && !c->embedded) {
        /* the connection goes to BUCKET.host */
        char buf[512];
        snprintf(buf, sizeof(buf), "%s.%s", s->bucket, o->host);
        free(o->host);
        o->host = strdup(buf);
        free(o->host_header.base);
        if ((o->https && o->port == 443) || (!o->https && o->port == 80))
            o->host_header = h2o_strdup(NULL, buf, SIZE_MAX);
        else {
            char hb[600];
            snprintf(hb, sizeof(hb), "%s:%u", buf, o->port);
            o->host_header = h2o_strdup(NULL, hb, SIZE_MAX);
        }
        if (c->sni == NULL) {
            free(o->sni);
            o->sni = strdup(buf);
        }
    }
    o->s3 = s;
    (void)err;
    (void)errlen;
    return 0;
}

int s3origin_attach_dynamic(origin_t *o, const char *region, const origin_t *creds)
{
    s3_signer_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        h2o_fatal("no memory");
    s->bucket = NULL; /* already in the host name or the path */
    s->region = strdup(region);
    if (creds != NULL && creds->s3 != NULL && creds->s3->access_key != NULL && creds->s3->secret_key != NULL) {
        s->access_key = strdup(creds->s3->access_key);
        s->secret_key = strdup(creds->s3->secret_key);
        s->session_token = creds->s3->session_token != NULL ? strdup(creds->s3->session_token) : NULL;
        s->embedded = creds->s3->embedded;
    } else {
        s->access_key = dup_or_null(getenv("AWS_ACCESS_KEY_ID"));
        s->secret_key = dup_or_null(getenv("AWS_SECRET_ACCESS_KEY"));
        s->session_token = dup_or_null(getenv("AWS_SESSION_TOKEN"));
        if (s->access_key == NULL || s->secret_key == NULL) {
            awsprofile_t prof;
            char perr[1200];
            free(s->access_key);
            free(s->secret_key);
            free(s->session_token);
            s->access_key = s->secret_key = s->session_token = NULL;
            if (awsprofile_load(NULL, NULL, &prof, perr, sizeof(perr)) == 1)
                use_profile(s, &prof, 1);
        }
    }
    o->s3 = s;
    if (s->access_key == NULL || s->secret_key == NULL) {
        s3origin_detach(o);
        return -1;
    }
    return 0;
}

void s3origin_set_embedded(origin_t *o, const char *host, uint16_t port, const char *access_key, const char *secret_key)
{
    s3_signer_t *s = o->s3;
    char buf[300];
    if (s == NULL)
        return;
    free(o->host);
    o->host = strdup(strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(host, "::") == 0 ? "::1" : host);
    o->port = port;
    o->https = 0;
    snprintf(buf, sizeof(buf), strchr(o->host, ':') != NULL ? "[%s]:%u" : "%s:%u", o->host, port);
    free(o->host_header.base);
    o->host_header = h2o_strdup(NULL, buf, SIZE_MAX);
    free(s->access_key);
    free(s->secret_key);
    s->access_key = dup_or_null(access_key);
    s->secret_key = dup_or_null(secret_key);
}

int s3origin_is_embedded(origin_t *o)
{
    return o->s3 != NULL && o->s3->embedded;
}

/* the embedded store as hooks may name it: written once before ready is published, read-only afterwards */
static struct {
    char host[256], domain[256];
    uint16_t port;
    origin_t creds; /* only its s3 signer's credentials are used */
    s3_signer_t signer;
} store;
static _Atomic int store_ready;

void s3origin_set_store(const char *host, uint16_t port, const char *domain, const char *access_key, const char *secret_key)
{
    if (atomic_load_explicit(&store_ready, memory_order_acquire) || access_key == NULL || secret_key == NULL)
        return;
    snprintf(store.host, sizeof(store.host), "%s",
             strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
             : strcmp(host, "::") == 0    ? "::1"
                                          : host);
    snprintf(store.domain, sizeof(store.domain), "%s", domain != NULL ? domain : "");
    store.port = port;
    store.signer.access_key = strdup(access_key);
    store.signer.secret_key = strdup(secret_key);
    store.signer.embedded = 1;
    store.creds.s3 = &store.signer;
    atomic_store_explicit(&store_ready, 1, memory_order_release);
}

static int host_is(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

int s3origin_store_endpoint(const char *host, uint16_t port, const char **connect_host, uint16_t *connect_port)
{
    size_t hl = strlen(host), dl;
    if (!atomic_load_explicit(&store_ready, memory_order_acquire) || port != store.port)
        return 0;
    dl = strlen(store.domain);
    int named = host_is(host, store.host) || (dl != 0 && host_is(host, store.domain)) ||
                (dl != 0 && hl > dl + 1 && host[hl - dl - 1] == '.' && host_is(host + hl - dl, store.domain)) ||
                (host_is(host, "localhost") && strcmp(store.host, "127.0.0.1") == 0);
    if (!named)
        return 0;
    *connect_host = store.host;
    *connect_port = store.port;
    return 1;
}

int s3origin_attach_store(origin_t *o, const char *region)
{
    if (!atomic_load_explicit(&store_ready, memory_order_acquire))
        return -1;
    return s3origin_attach_dynamic(o, region, &store.creds);
}

const char *s3origin_region(const origin_t *o)
{
    return o->s3 != NULL ? o->s3->region : "us-east-1";
}

const char *s3origin_describe(const origin_t *o, char *domain, size_t size)
{
    const s3_signer_t *s = o->s3;
    if (s != NULL && s->embedded && s->bucket != NULL && atomic_load_explicit(&store_ready, memory_order_acquire) &&
        store.domain[0] != '\0' && o->port == store.port) {
        snprintf(domain, size, "%s.%s:%u", s->bucket, store.domain, store.port);
        return NULL;
    }
    if (o->port == 443)
        snprintf(domain, size, "%s", o->host);
    else
        snprintf(domain, size, strchr(o->host, ':') != NULL ? "[%s]:%u" : "%s:%u", o->host, o->port);
    return s != NULL && !s->virtual_host ? s->bucket : NULL;
}

/* headers an S3 origin may see from the client: what matters for caching and conditional reads, and CORS (Origin and a
 * preflight's Access-Control-Request-*: the bucket's CORS rules answer them, when the behavior forwards them); the rest
 * (cookies, the client's Authorization and x-amz-* headers) could change what S3 does or break the signature */
static int s3_forwardable(const h2o_iovec_t *name)
{
    static const char *const keep[] = {"host",
                                       "range",
                                       "if-match",
                                       "if-none-match",
                                       "if-modified-since",
                                       "if-unmodified-since",
                                       "if-range",
                                       "user-agent",
                                       "via",
                                       "x-forwarded-for",
                                       "accept",
                                       "accept-encoding",
                                       "origin",
                                       "access-control-request-method",
                                       "access-control-request-headers",
                                       NULL};
    for (const char *const *k = keep; *k != NULL; ++k)
        if (headers_name_is(name, *k, strlen(*k)))
            return 1;
    return 0;
}

int s3origin_sign(origin_t *o, h2o_mem_pool_t *pool, h2o_iovec_t method, h2o_iovec_t *path, h2o_headers_t *headers,
                  h2o_iovec_t body, h2o_iovec_t version_id, int64_t now_ms)
{
    s3_signer_t *s = o->s3;
    sigv4_credentials_t cred;
    sigv4_sign_params_t params;
    sigv4_request_t req;
    sigv4_signed_t out;
    sigv4_header_t signed_headers[2];
    h2o_iovec_t rest, newpath;
    size_t i, j;
    char payload[65];

    if (s->access_key == NULL || s->secret_key == NULL)
        return -1;
    if (version_id.len != 0 && !hook_origin_version_id_valid(version_id.base, version_id.len))
        return -1;

    /* the object path: the query of the client is not forwarded (S3 would read unknown parameters as sub-resources) */
    rest = h2o_iovec_init(path->base + o->path_prefix.len, path->len - o->path_prefix.len);
    for (i = 0; i != rest.len; ++i)
        if (rest.base[i] == '?') {
            rest.len = i;
            break;
        }
    if (s->virtual_host || s->bucket == NULL) {
        newpath = h2o_concat(pool, o->path_prefix, rest);
    } else {
        newpath = h2o_concat(pool, o->path_prefix, h2o_iovec_init(H2O_STRLIT("/")), h2o_iovec_init(s->bucket, strlen(s->bucket)), rest);
    }
    /* a pinned object version: the one query parameter S3 sees (percent-encoded: ids may hold + / =) */
    h2o_iovec_t query = h2o_iovec_init(NULL, 0);
    if (version_id.len != 0) {
        sigv4_buf_t qb = {0};
        sigv4_buf_append(&qb, "versionId=", 10);
        sigv4_uri_encode(&qb, (sigv4_str_t){version_id.base, version_id.len}, 0);
        if (qb.base == NULL) {
            sigv4_buf_free(&qb);
            return -1;
        }
        query = h2o_strdup(pool, qb.base, qb.len);
        sigv4_buf_free(&qb);
        *path = h2o_concat(pool, newpath, h2o_iovec_init(H2O_STRLIT("?")), query);
    } else {
        *path = newpath;
    }

    /* keep only what S3 should see */
    for (i = 0, j = 0; i != headers->size; ++i)
        if (s3_forwardable(headers->entries[i].name))
            headers->entries[j++] = headers->entries[i];
    headers->size = j;
    /* the embedded store then answers with the object's tags as Surrogate-Key: the cache's purge tags (store/tagging.c) */
    if (s->embedded)
        headers_add(pool, headers, H2O_STRLIT("x-edgehook-cache-tags"), h2o_iovec_init(H2O_STRLIT("1")));

    cred.access_key = s->access_key;
    cred.secret_key = s->secret_key;
    cred.session_token = s->session_token;
    memset(&params, 0, sizeof(params));
    params.credentials = &cred;
    params.region = s->region;
    params.service = "s3";
    params.now = (time_t)(now_ms / 1000);
    params.sign_content_sha256 = 1;
    if (body.len != 0)
        sigv4_sha256_hex(body.base, body.len, payload);
    else
        memcpy(payload, SIGV4_EMPTY_SHA256, 65);
    /* the Host that goes out: the origin's, or what an origin-request hook set */
    h2o_iovec_t host = o->host_header;
    ssize_t hi = h2o_find_header(headers, H2O_TOKEN_HOST, -1);
    if (hi != -1)
        host = headers->entries[hi].value;
    signed_headers[0].name = sigv4_cstr("host");
    signed_headers[0].value = (sigv4_str_t){host.base, host.len};
    memset(&req, 0, sizeof(req));
    req.method = (sigv4_str_t){method.base, method.len};
    req.path = (sigv4_str_t){newpath.base, newpath.len};
    req.query = (sigv4_str_t){query.base, query.len};
    req.headers = signed_headers;
    req.num_headers = 1;
    req.payload_hash = sigv4_cstr(payload);
    memset(&out, 0, sizeof(out));
    if (sigv4_sign(&req, &params, &out) != 0) {
        sigv4_signed_free(&out);
        return -1;
    }
    for (i = 0; i != out.num_add; ++i)
        headers_add(pool, headers, h2o_strdup(pool, out.add[i].name.base, out.add[i].name.len).base, out.add[i].name.len,
                    h2o_strdup(pool, out.add[i].value.base, out.add[i].value.len));
    sigv4_signed_free(&out);
    return 0;
}

void s3origin_detach(origin_t *o)
{
    s3_signer_t *s = o->s3;
    if (s == NULL)
        return;
    free(s->bucket);
    free(s->region);
    free(s->access_key);
    free(s->secret_key);
    free(s->session_token);
    free(s);
    o->s3 = NULL;
}
