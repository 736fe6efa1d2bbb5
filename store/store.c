/* store/store.c - the embedded S3 store: lifecycle, credentials, requests handed to the store threads and answered on their
 * loop, request parsing and addressing, SigV4 authentication, bodies, errors */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "base/log.h"
#include "base/str.h"
#include "store/checksum.h"
#include "store/internal.h"
#include "store/notify.h"
#include "store/seed.h"

typedef struct store_handler {
    h2o_handler_t super;
    store_t *store;
} store_handler_t;

/* ---- lifecycle --------------------------------------------------------------------------------------------------------------- */

store_t *store_create(const conf_store_t *conf, char *err, size_t errlen)
{
    store_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (store_fs_open(conf->root != NULL ? conf->root : "./data", &s->fs, err, errlen) != 0)
        goto fail;
    if ((s->jobs = store_jobs_start(conf->threads != 0 ? conf->threads : 2, err, errlen)) == NULL)
        goto fail;
    if (store_auth_init(s, conf, err, errlen) != 0)
        goto fail;
    const char *d = conf->domain != NULL ? conf->domain : "";
    while (*d == '.')
        ++d;
    s->domain = strdup(d);
    for (char *p = s->domain; p != NULL && *p != '\0'; ++p)
        *p = (char)tolower((unsigned char)*p);
    s->region = strdup(conf->region != NULL ? conf->region : "us-east-1");
    s->max_put_size = conf->max_put_size != 0 ? conf->max_put_size : (5ull << 30);
    RAND_bytes((unsigned char *)&s->rid_base, sizeof(s->rid_base));
    atomic_init(&s->rid_counter, 0);
    if (s->domain == NULL || s->region == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (store_notify_open(s, conf, err, errlen) != 0)
        goto fail;
    log_info("store: serving %s (region %s, virtual-hosted domain %s, max_put_size %llu, %u store threads)", store_fs_root(s->fs),
             s->region, s->domain[0] != '\0' ? s->domain : "(none)", (unsigned long long)s->max_put_size,
             conf->threads != 0 ? conf->threads : 2);
    return s;
fail:
    store_destroy(s);
    return NULL;
}

int store_seed_buckets(store_t *s, const conf_store_t *conf, char *err, size_t errlen)
{
    return store_seed(s->fs, conf->seeds, conf->num_seeds, err, errlen);
}

void store_destroy(store_t *s)
{
    if (s == NULL)
        return;
    store_jobs_stop(s->jobs);
    store_fs_close(s->fs);
    store_auth_dispose(s);
    free(s->domain);
    free(s->region);
    free(s);
}

/* ---- small helpers ----------------------------------------------------------------------------------------------------------- */

h2o_iovec_t store_req_header(store_req_t *sr, const char *name)
{
    size_t len = strlen(name);
    ssize_t i = h2o_find_header_by_str(&sr->req->headers, name, len, -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    return sr->req->headers.entries[i].value;
}

const store_param_t *store_req_param(store_req_t *sr, const char *name)
{
    for (size_t i = 0; i != sr->num_params; ++i)
        if (strcmp(sr->params[i].name.base, name) == 0)
            return &sr->params[i];
    return NULL;
}

void store_add_header(store_req_t *sr, const char *name, const char *value, size_t len)
{
    h2o_mem_pool_t *pool = &sr->req->pool;
    h2o_iovec_t n = h2o_strdup(pool, name, strlen(name)), v = h2o_strdup(pool, value, len);
    h2o_add_header_by_str(pool, &sr->req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
}

h2o_iovec_t store_decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *o = h2o_mem_alloc_pool(pool, len + 1);
    size_t n = edge_pct_decode(o, s, len);
    o[n] = '\0';
    return h2o_iovec_init(o, n);
}

int store_valid_key(const char *key, size_t len, const char **reason)
{
    if (len == 0) {
        *reason = "The object key is empty.";
        return 0;
    }
    if (len > STORE_FS_MAX_KEY) {
        *reason = "Your key is too long (the maximum is 1024 bytes).";
        return 0;
    }
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)key[i];
        size_t n;
        uint32_t cp;
        if (c < 0x20 || c == 0x7f) {
            *reason = "Object keys may not contain control characters.";
            return 0;
        }
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            goto bad;
        }
        if (i + n > len)
            goto bad;
        for (size_t k = 1; k != n; ++k) {
            if (((unsigned char)key[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = cp << 6 | ((unsigned char)key[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += n;
    }
    return 1;
bad:
    *reason = "Object keys must be valid UTF-8.";
    return 0;
}

void store_http_date(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    h2o_time2str_rfc1123(out, &tm);
}

int store_parse_http_date(h2o_iovec_t v, int64_t *sec)
{
    return edge_http_date_parse(v.base, v.len, sec);
}

void store_xml_url_elem(store_xml_t *x, const char *tag, const char *s, size_t len, int url)
{
    if (!url) {
        store_xml_elem(x, tag, s, len);
        return;
    }
    sigv4_buf_t b = {0};
    if (sigv4_uri_encode(&b, (sigv4_str_t){s, len}, 1) != 0) {
        x->failed = 1;
        return;
    }
    store_xml_elem(x, tag, b.base != NULL ? b.base : "", b.len);
    sigv4_buf_free(&b);
}

/* ---- responses --------------------------------------------------------------------------------------------------------------- */

/* marks the response as started; 0 the first time, -1 (logged) if the request was already answered */
int store_begin_response(store_req_t *sr)
{
    if (sr->responded) {
        log_error("store: internal error: a second response to %.*s %.*s was suppressed", (int)sr->req->method.len,
                  sr->req->method.base, (int)sr->raw_path.len, sr->raw_path.base);
        return -1;
    }
    sr->responded = 1;
    return 0;
}

/* the response is recorded here and sent by the loop when the job is done (on_job_done) */
static void send_body(store_req_t *sr, int status, const char *body, size_t len, const char *type)
{
    store_http_t *req = sr->req;
    if (store_begin_response(sr) != 0)
        return;
    req->res.status = status;
    req->res.reason = edge_http_reason(status);
    if (type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    req->res.content_length = len;
    sr->res_kind = STORE_RES_BODY;
    sr->res_body = h2o_strdup(&req->pool, body, len);
}

int store_send_error(store_req_t *sr, int status, const char *code, const char *message, const char *extra)
{
    store_xml_t x;
    char resource[1100];
    if (message == NULL || message[0] == '\0')
        message = code; /* awscli breaks on an empty Message */
    snprintf(resource, sizeof(resource), "%.*s", (int)(sr->raw_path.len < 1024 ? sr->raw_path.len : 1024), sr->raw_path.base);
    store_xml_begin(&x, "Error", NULL);
    store_xml_elem_str(&x, "Code", code);
    store_xml_elem_str(&x, "Message", message);
    if (extra != NULL)
        store_xml_raw(&x, extra);
    if (sr->bucket.len != 0)
        store_xml_elem(&x, "BucketName", sr->bucket.base, sr->bucket.len);
    if (sr->key.len != 0)
        store_xml_elem(&x, "Key", sr->key.base, sr->key.len);
    store_xml_elem_str(&x, "Resource", resource);
    store_xml_elem_str(&x, "RequestId", sr->request_id);
    store_xml_elem_str(&x, "HostId", sr->request_id);
    store_xml_close(&x, "Error");
    if (x.failed) {
        store_xml_free(&x);
        send_body(sr, 500, "", 0, NULL);
        return 0;
    }
    if (status >= 500 && status != 501)
        log_warn("store: %.*s %.*s: %d %s: %s", (int)sr->req->method.len, sr->req->method.base, (int)sr->raw_path.len,
                 sr->raw_path.base, status, code, message);
    send_body(sr, status, x.buf.base, x.buf.len, "application/xml");
    store_xml_free(&x);
    return 0;
}

int store_send_xml(store_req_t *sr, int status, store_xml_t *x)
{
    if (x->failed) {
        store_xml_free(x);
        return store_send_error(sr, 500, "InternalError", "We encountered an internal error (out of memory).", NULL);
    }
    send_body(sr, status, x->buf.base, x->buf.len, "application/xml");
    store_xml_free(x);
    return 0;
}

int store_send_empty(store_req_t *sr, int status)
{
    store_http_t *req = sr->req;
    if (store_begin_response(sr) != 0)
        return 0;
    req->res.status = status;
    req->res.reason = edge_http_reason(status);
    if (status == 204 || status == 304)
        req->res.content_length = SIZE_MAX; /* no body and no Content-Length by definition */
    else if (!(sr->is_head && req->res.content_length != SIZE_MAX))
        req->res.content_length = 0; /* a HEAD keeps the length its caller set: that of the GET body */
    sr->res_kind = STORE_RES_EMPTY;
    return 0;
}

int store_send_stream(store_req_t *sr, int status, store_obj_t *o, uint64_t start, uint64_t len)
{
    store_http_t *req = sr->req;
    if (store_begin_response(sr) != 0) {
        store_fs_obj_release(o);
        return 0;
    }
    req->res.status = status;
    req->res.reason = edge_http_reason(status);
    req->res.content_length = len;
    sr->res_kind = STORE_RES_STREAM;
    sr->res_obj = o;
    sr->res_start = start;
    sr->res_len = len;
    return 0;
}

int store_send_fs_error(store_req_t *sr, int err)
{
    switch (err) {
    case STORE_FS_ENOENT:
        return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
    case STORE_FS_ENOMEM:
        return store_send_error(sr, 503, "SlowDown", "The server is out of memory; please retry.", NULL);
    default:
        return store_send_error(sr, 500, "InternalError",
                                "We encountered an internal error (see the server log). Please try again.", NULL);
    }
}

/* ---- request bodies ---------------------------------------------------------------------------------------------------------- */

typedef struct body_ctx {
    store_chunked_sink_cb sink;
    void *ctx;
    store_checksum_digest_t digest;
    EVP_MD_CTX *sha;
    uint64_t max;
    int failure; /* 1: too large, 2: the sink failed */
} body_ctx_t;

static int on_body_data(void *p, const void *data, size_t len)
{
    body_ctx_t *b = p;
    if (b->digest.size + len > b->max) {
        b->failure = 1;
        return -1;
    }
    store_checksum_digest_update(&b->digest, data, len);
    if (b->sha != NULL)
        EVP_DigestUpdate(b->sha, data, len);
    if (b->sink != NULL && b->sink(b->ctx, data, len) != 0) {
        b->failure = 2;
        return -1;
    }
    return 0;
}

/* a base64 checksum of n bytes from a header or trailer value: 1 parsed, 0 absent, -1 invalid */
static int parse_b64(const char *v, size_t len, uint8_t *out, size_t n)
{
    uint8_t buf[66]; /* what the longest value taken, 88 characters, decodes to */
    if (v == NULL || len == 0)
        return 0;
    if (len > 88)
        return -1;
    long r = edge_base64_decode(buf, v, len, EDGE_BASE64_STRICT);
    if (r != (long)n)
        return -1;
    memcpy(out, buf, n);
    return 1;
}

int store_is_hex64(h2o_iovec_t v)
{
    if (v.len != 64)
        return 0;
    for (size_t i = 0; i != 64; ++i)
        if (edge_hex_value((unsigned char)v.base[i]) < 0)
            return 0;
    return 1;
}

static int too_large(store_req_t *sr, uint64_t max)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "Your proposed upload exceeds the maximum allowed size of %llu bytes for a single request (store.max_put_size); use "
             "a multipart upload.",
             (unsigned long long)max);
    return store_send_error(sr, 400, "EntityTooLarge", msg, NULL);
}

long store_req_entity(store_req_t *sr, uint64_t off, void *buf, size_t max)
{
    long n = -1;
    if (sr->req->stream != NULL)
        return store_h1body_read(sr->req->stream, buf, max); /* in order: off is where the previous read ended */
    pthread_mutex_lock(&sr->lock);
    if (sr->h2o != NULL) {
        size_t len = sr->req->entity.base != NULL ? sr->req->entity.len : 0;
        n = off < len ? (long)(len - off < max ? len - off : max) : 0;
        if (n > 0)
            memcpy(buf, sr->req->entity.base + off, (size_t)n);
    }
    pthread_mutex_unlock(&sr->lock);
    return n;
}

/* what the body is read in: the loop waits at most for one slice's copy when it ends the request meanwhile */
#define BODY_SLICE (256u << 10)

#define FEED_GONE (-100) /* the request is over: nothing is answered */
#define FEED_NOMEM (-101)

/* feeds the whole request body to feed (the aws-chunked decoder or on_body_data) one slice at a time; 0, the feeder's non-zero
 * result, FEED_GONE or FEED_NOMEM */
static int feed_body(store_req_t *sr, int (*feed)(void *fctx, const void *data, size_t len), void *fctx)
{
    size_t len = sr->req->entity.base != NULL ? sr->req->entity.len : 0;
    char *buf;
    int r = 0;
    if (sr->req->stream != NULL) {
        /* streamed: read until its end (the connection checks it against Content-Length or the chunked framing) */
        if ((buf = malloc(BODY_SLICE)) == NULL)
            return FEED_NOMEM;
        for (uint64_t off = 0;;) {
            long n = store_req_entity(sr, off, buf, BODY_SLICE);
            if (n < 0) {
                r = FEED_GONE;
                break;
            }
            if (n == 0 || (r = feed(fctx, buf, (size_t)n)) != 0)
                break;
            off += (uint64_t)n;
        }
        free(buf);
        return r;
    }
    buf = len != 0 ? malloc(len < BODY_SLICE ? len : BODY_SLICE) : NULL;
    if (len != 0 && buf == NULL)
        return FEED_NOMEM;
    for (uint64_t off = 0; off < len && r == 0;) {
        long n = store_req_entity(sr, off, buf, BODY_SLICE);
        if (n <= 0) {
            r = FEED_GONE;
            break;
        }
        r = feed(fctx, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    return r;
}

typedef struct chunked_feed {
    store_chunked_t *dec;
    body_ctx_t *b;
} chunked_feed_t;

static int feed_chunked(void *p, const void *data, size_t len)
{
    chunked_feed_t *f = p;
    return store_chunked_feed(f->dec, data, len, on_body_data, f->b);
}

int store_body_run(store_req_t *sr, uint64_t max_size, store_chunked_sink_cb sink, void *ctx, store_body_t *res)
{
    store_http_t *req = sr->req;
    h2o_iovec_t entity = req->entity.base != NULL ? req->entity : h2o_iovec_init("", 0);
    h2o_iovec_t ph = sr->payload_hash;
    body_ctx_t b = {sink, ctx};
    uint8_t want_md5[16], want_crc32[4], want_crc32c[4];
    int has_md5, has_crc32, has_crc32c, r = -1;
    store_chunked_t dec;
    int streaming = ph.len > 10 && memcmp(ph.base, "STREAMING-", 10) == 0, dec_ready = 0;

    b.max = max_size;
    h2o_iovec_t v = store_req_header(sr, "content-md5");
    if ((has_md5 = parse_b64(v.base, v.len, want_md5, 16)) < 0 || (v.base != NULL && v.len == 0))
        return store_send_error(sr, 400, "InvalidDigest", "The Content-MD5 you specified is not valid.", NULL), -1;
    v = store_req_header(sr, "x-amz-checksum-crc32");
    if ((has_crc32 = parse_b64(v.base, v.len, want_crc32, 4)) < 0)
        return store_send_error(sr, 400, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid.", NULL), -1;
    v = store_req_header(sr, "x-amz-checksum-crc32c");
    if ((has_crc32c = parse_b64(v.base, v.len, want_crc32c, 4)) < 0)
        return store_send_error(sr, 400, "InvalidRequest", "Value for x-amz-checksum-crc32c header is invalid.", NULL), -1;
    h2o_iovec_t trailer = store_req_header(sr, "x-amz-trailer");
    int trailer_crc32 =
        trailer.base != NULL && h2o_contains_token(trailer.base, trailer.len, H2O_STRLIT("x-amz-checksum-crc32"), ',');
    int trailer_crc32c =
        trailer.base != NULL && h2o_contains_token(trailer.base, trailer.len, H2O_STRLIT("x-amz-checksum-crc32c"), ',');
    if (!streaming && entity.len > max_size)
        return too_large(sr, max_size), -1;
    if (streaming) {
        /* before reading: the decoded size the client announced (the encoded one, Content-Length, is larger) */
        h2o_iovec_t dl = store_req_header(sr, "x-amz-decoded-content-length");
        size_t want = dl.base != NULL ? h2o_strtosize(dl.base, dl.len) : SIZE_MAX;
        if (want != SIZE_MAX && want > max_size)
            return too_large(sr, max_size), -1;
    }
    if (store_checksum_digest_init(&b.digest, has_crc32 || trailer_crc32, has_crc32c || trailer_crc32c) != 0)
        return store_send_fs_error(sr, STORE_FS_ENOMEM), -1;

    if (store_is_hex64(ph)) {
        if ((b.sha = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(b.sha, EVP_sha256(), NULL) != 1) {
            store_send_fs_error(sr, STORE_FS_ENOMEM);
            goto out;
        }
    }
    if (streaming) {
        int mode = STORE_CHUNKED_UNSIGNED;
        if (h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_STREAMING_PAYLOAD)))
            mode = STORE_CHUNKED_SIGNED;
        else if (h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_STREAMING_PAYLOAD_TRAILER)))
            mode = STORE_CHUNKED_SIGNED_TRAILER;
        if (store_chunked_init(&dec, mode, mode != STORE_CHUNKED_UNSIGNED ? &sr->chain : NULL) != 0) {
            store_send_fs_error(sr, STORE_FS_ENOMEM);
            goto out;
        }
        dec_ready = 1;
        chunked_feed_t cf = {&dec, &b};
        int dr = feed_body(sr, feed_chunked, &cf);
        if (dr == 0)
            dr = store_chunked_finish(&dec);
        if (dr != 0) {
            if (dr == FEED_GONE)
                goto out; /* the request is over: nobody to answer */
            if (dr == FEED_NOMEM)
                store_send_fs_error(sr, STORE_FS_ENOMEM);
            else if (b.failure == 1)
                too_large(sr, max_size);
            else if (b.failure == 2)
                store_send_fs_error(sr, STORE_FS_EIO);
            else if (dr == STORE_CHUNKED_ESIGNATURE)
                store_send_error(sr, 403, "SignatureDoesNotMatch",
                                 "The request signature we calculated does not match the signature you provided: a chunk "
                                 "signature of the aws-chunked body is wrong.",
                                 NULL);
            else
                store_send_error(sr, 400, "IncompleteBody", dec.error[0] != '\0' ? dec.error : "The aws-chunked body is malformed.",
                                 NULL);
            goto out;
        }
        h2o_iovec_t dl = store_req_header(sr, "x-amz-decoded-content-length");
        if (dl.base != NULL) {
            size_t want = h2o_strtosize(dl.base, dl.len);
            if (want == SIZE_MAX || want != b.digest.size) {
                store_send_error(sr, 400, "IncompleteBody", "The decoded body length does not match x-amz-decoded-content-length.",
                                 NULL);
                goto out;
            }
        }
        const char *t;
        if ((t = store_chunked_trailer(&dec, "x-amz-checksum-crc32")) != NULL &&
            (has_crc32 = parse_b64(t, strlen(t), want_crc32, 4)) < 0) {
            store_send_error(sr, 400, "InvalidRequest", "Value for x-amz-checksum-crc32 trailer is invalid.", NULL);
            goto out;
        }
        if ((t = store_chunked_trailer(&dec, "x-amz-checksum-crc32c")) != NULL &&
            (has_crc32c = parse_b64(t, strlen(t), want_crc32c, 4)) < 0) {
            store_send_error(sr, 400, "InvalidRequest", "Value for x-amz-checksum-crc32c trailer is invalid.", NULL);
            goto out;
        }
    } else {
        int fr = feed_body(sr, on_body_data, &b);
        if (fr != 0) {
            if (fr == FEED_GONE)
                goto out;
            if (fr == FEED_NOMEM)
                store_send_fs_error(sr, STORE_FS_ENOMEM);
            else if (b.failure == 1)
                too_large(sr, max_size);
            else
                store_send_fs_error(sr, STORE_FS_EIO);
            goto out;
        }
    }
    if (b.sha != NULL) {
        uint8_t md[32];
        char hex[65];
        unsigned int n = 32;
        EVP_DigestFinal_ex(b.sha, md, &n);
        sigv4_hex(md, 32, hex);
        if (strncasecmp(hex, ph.base, 64) != 0) {
            store_send_error(sr, 400, "XAmzContentSHA256Mismatch",
                             "The provided 'x-amz-content-sha256' header does not match what was computed.", NULL);
            goto out;
        }
    }
    res->size = b.digest.size;
    store_checksum_digest_final(&b.digest, res->md5);
    if (has_md5 > 0 && memcmp(want_md5, res->md5, 16) != 0) {
        store_send_error(sr, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.", NULL);
        goto out;
    }
    if (has_crc32 > 0) {
        uint32_t w = (uint32_t)want_crc32[0] << 24 | (uint32_t)want_crc32[1] << 16 | (uint32_t)want_crc32[2] << 8 | want_crc32[3];
        if (w != b.digest.crc32) {
            store_send_error(sr, 400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.", NULL);
            goto out;
        }
    }
    if (has_crc32c > 0) {
        uint32_t w =
            (uint32_t)want_crc32c[0] << 24 | (uint32_t)want_crc32c[1] << 16 | (uint32_t)want_crc32c[2] << 8 | want_crc32c[3];
        if (w != b.digest.crc32c) {
            store_send_error(sr, 400, "BadDigest", "The CRC32C you specified did not match the calculated checksum.", NULL);
            goto out;
        }
    }
    r = 0;
out:
    if (dec_ready)
        store_chunked_dispose(&dec);
    store_checksum_digest_dispose(&b.digest);
    EVP_MD_CTX_free(b.sha);
    return r;
}

typedef struct mem_sink {
    h2o_mem_pool_t *pool;
    char *buf;
    size_t len, cap;
} mem_sink_t;

static int on_mem_data(void *p, const void *data, size_t len)
{
    mem_sink_t *m = p;
    if (m->len + len > m->cap)
        return -1;
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    return 0;
}

int store_body_read(store_req_t *sr, size_t max, h2o_iovec_t *out)
{
    size_t cap = sr->req->entity.base != NULL ? sr->req->entity.len : 0;
    if (sr->req->entity_unknown || cap > max)
        cap = max;
    mem_sink_t m = {&sr->req->pool, h2o_mem_alloc_pool(&sr->req->pool, cap + 1), 0, cap};
    store_body_t res;
    if (store_body_run(sr, max, on_mem_data, &m, &res) != 0)
        return -1;
    m.buf[m.len] = '\0';
    *out = h2o_iovec_init(m.buf, m.len);
    return 0;
}

/* ---- object headers from a request ------------------------------------------------------------------------------------------- */

/* value without its aws-chunked tokens (case-insensitive), otherwise unchanged; pool memory */
static h2o_iovec_t strip_aws_chunked(h2o_mem_pool_t *pool, h2o_iovec_t value)
{
    char *buf = h2o_mem_alloc_pool(pool, value.len + 1);
    memcpy(buf, value.base, value.len);
    size_t len = value.len, p = 0;
    while (p < len) {
        size_t s = p, e, t;
        while (s < len && (buf[s] == ' ' || buf[s] == '\t'))
            ++s;
        for (e = s; e < len && buf[e] != ','; ++e)
            ;
        for (t = e; t > s && (buf[t - 1] == ' ' || buf[t - 1] == '\t'); --t)
            ;
        if (!h2o_lcstris(buf + s, t - s, H2O_STRLIT("aws-chunked"))) {
            p = e + 1;
            continue;
        }
        /* remove [p, e+1) when a comma follows, else [the previous comma, end) */
        size_t from = p, to = e < len ? e + 1 : len;
        if (e >= len) {
            from = p;
            while (from > 0 && buf[from - 1] != ',')
                --from;
            if (from > 0)
                --from;
        }
        memmove(buf + from, buf + to, len - to);
        len -= to - from;
        p = from;
    }
    /* a leading separator left by removing the first token */
    size_t lead = 0;
    while (lead < len && (buf[lead] == ' ' || buf[lead] == '\t'))
        ++lead;
    buf[len] = '\0';
    return h2o_iovec_init(buf + lead, len - lead);
}

int store_collect_headers(store_req_t *sr, store_header_t **out, size_t *num)
{
    static const char *const standard[] = {
        "content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires", NULL};
    h2o_headers_t *hs = &sr->req->headers;
    store_header_t *list = h2o_mem_alloc_pool(&sr->req->pool, sizeof(*list) * (hs->size + 1));
    size_t n = 0, meta_size = 0;
    int has_type = 0;
    for (size_t i = 0; i != hs->size; ++i) {
        const h2o_iovec_t *name = hs->entries[i].name;
        h2o_iovec_t value = hs->entries[i].value;
        int keep = name->len > 11 && memcmp(name->base, "x-amz-meta-", 11) == 0;
        for (const char *const *s = standard; !keep && *s != NULL; ++s)
            if (h2o_memis(name->base, name->len, *s, strlen(*s)))
                keep = 1;
        if (!keep)
            continue;
        if (name->len > 11 && memcmp(name->base, "x-amz-meta-", 11) == 0)
            meta_size += name->len - 11 + value.len;
        if (h2o_memis(name->base, name->len, H2O_STRLIT("content-encoding"))) {
            /* aws-chunked is the transfer framing, not the object's encoding: it goes with the separator after it (or before it,
             * when last); everything else is kept byte for byte ("deflate, gzip" stays so) */
            value = strip_aws_chunked(&sr->req->pool, value);
            if (value.len == 0)
                continue;
        }
        if (h2o_memis(name->base, name->len, H2O_STRLIT("content-type")))
            has_type = 1;
        list[n].name = h2o_strdup(&sr->req->pool, name->base, name->len).base;
        list[n].value = h2o_strdup(&sr->req->pool, value.base, value.len).base;
        ++n;
    }
    if (meta_size > 2048) {
        store_send_error(sr, 400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size (2 KB).",
                         NULL);
        return -1;
    }
    if (!has_type) {
        list[n].name = "content-type";
        list[n].value = "binary/octet-stream";
        ++n;
    }
    *out = list;
    *num = n;
    return 0;
}

/* ---- request parsing and dispatch -------------------------------------------------------------------------------------------- */

static void parse_query(store_req_t *sr)
{
    h2o_mem_pool_t *pool = &sr->req->pool;
    size_t max = 1;
    for (size_t i = 0; i != sr->raw_query.len; ++i)
        if (sr->raw_query.base[i] == '&')
            ++max;
    sr->params = h2o_mem_alloc_pool(pool, sizeof(*sr->params) * max);
    const char *p = sr->raw_query.base, *end = p + sr->raw_query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp != NULL ? amp : end;
        if (e != p) {
            const char *eq = memchr(p, '=', (size_t)(e - p));
            store_param_t *prm = &sr->params[sr->num_params++];
            prm->name = store_decode(pool, p, (size_t)((eq != NULL ? eq : e) - p));
            prm->has_value = eq != NULL;
            prm->value = eq != NULL ? store_decode(pool, eq + 1, (size_t)(e - eq - 1)) : store_decode(pool, "", 0);
        }
        p = e + 1;
    }
}

/* splits the request into bucket and key (path-style, or virtual-hosted under the configured domain) */
static int address(store_req_t *sr)
{
    store_t *s = sr->store;
    h2o_mem_pool_t *pool = &sr->req->pool;
    h2o_iovec_t host = sr->req->input.authority;
    const char *path = sr->raw_path.base;
    size_t plen = sr->raw_path.len;

    /* the host without its port */
    size_t hl = host.len;
    if (hl != 0 && host.base[0] == '[') {
        const char *rb = memchr(host.base, ']', hl);
        hl = rb != NULL ? (size_t)(rb - host.base + 1) : hl;
    } else {
        const char *colon = memchr(host.base, ':', hl);
        if (colon != NULL)
            hl = (size_t)(colon - host.base);
    }
    size_t dl = strlen(s->domain);
    if (dl != 0 && hl > dl + 1 && host.base[hl - dl - 1] == '.' && h2o_lcstris(host.base + hl - dl, dl, s->domain, dl)) {
        char *b = h2o_mem_alloc_pool(pool, hl - dl);
        for (size_t i = 0; i != hl - dl - 1; ++i)
            b[i] = (char)tolower((unsigned char)host.base[i]);
        b[hl - dl - 1] = '\0';
        sr->bucket = h2o_iovec_init(b, hl - dl - 1);
        sr->virtual_hosted = 1;
        sr->key = store_decode(pool, path + 1, plen - 1);
        return 0;
    }
    /* path style: /bucket[/key] */
    const char *slash = memchr(path + 1, '/', plen - 1);
    size_t blen = (slash != NULL ? (size_t)(slash - path) : plen) - 1;
    sr->bucket = store_decode(pool, path + 1, blen);
    sr->key = slash != NULL ? store_decode(pool, slash + 1, plen - (size_t)(slash - path) - 1) : store_decode(pool, "", 0);
    return 0;
}

/* ---- requests as store jobs -------------------------------------------------------------------------------------------------- */

/* on a store thread: the whole S3 request, from parsing to the response it records (then its CORS headers: run_request) */
static void handle_request(store_req_t *sr)
{
    store_t *s = sr->store;
    store_http_t *req = sr->req;
    const char *reason;

    snprintf(sr->request_id, sizeof(sr->request_id), "%016llX",
             (unsigned long long)(s->rid_base + atomic_fetch_add(&s->rid_counter, 1) * 0x9E3779B97F4A7C15ull));
    store_add_header(sr, "x-amz-request-id", sr->request_id, 16);
    store_add_header(sr, "x-amz-id-2", sr->request_id, 16);
    sr->is_head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));

    h2o_iovec_t target = req->input.path;
    size_t qat = req->input.query_at;
    sr->raw_path = qat != SIZE_MAX ? h2o_iovec_init(target.base, qat) : target;
    sr->raw_query = qat != SIZE_MAX ? h2o_iovec_init(target.base + qat + 1, target.len - qat - 1) : h2o_iovec_init("", 0);
    if (sr->raw_path.len == 0 || sr->raw_path.base[0] != '/') {
        sr->raw_path = h2o_iovec_init("/", 1);
        store_send_error(sr, 400, "InvalidURI", "Couldn't parse the specified URI.", NULL);
        return;
    }
    parse_query(sr);
    address(sr);
    /* unauthenticated by the Authorization header: CORS preflights, and form uploads (signed in their fields) */
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
        store_cors_preflight(sr);
        return;
    }
    if (store_post_is_form(sr)) {
        store_post_object(sr);
        return;
    }
    if (store_authenticate(sr) != 0 || store_authorize(sr) != 0)
        return;

    if (sr->bucket.len == 0) {
        if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
            store_list_buckets(sr);
        else
            store_send_error(sr, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", NULL);
        return;
    }
    if (!store_fs_valid_bucket_name(sr->bucket.base, sr->bucket.len)) {
        if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")) && sr->key.len == 0)
            store_send_error(sr, 400, "InvalidBucketName", "The specified bucket is not valid.", NULL);
        else
            store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
        return;
    }
    if (sr->key.len == 0) {
        store_bucket_dispatch(sr);
        return;
    }
    if (!store_valid_key(sr->key.base, sr->key.len, &reason)) {
        store_send_error(sr, 400, sr->key.len > STORE_FS_MAX_KEY ? "KeyTooLongError" : "InvalidArgument", reason, NULL);
        return;
    }
    store_object_dispatch(sr);
}

static void run_request(store_job_t *job)
{
    store_req_t *sr = (store_req_t *)job;
    handle_request(sr);
    store_cors_response(sr);
}

typedef struct release_job {
    store_job_t super;
    store_obj_t *obj;
} release_job_t;

static void run_release(store_job_t *job)
{
    store_fs_obj_release(((release_job_t *)job)->obj);
}

static void on_release_done(store_job_t *job)
{
    free(job);
}

void store_release_obj(store_t *s, h2o_context_t *ctx, store_obj_t *o)
{
    release_job_t *job;
    if (o == NULL)
        return;
    /* only a replaced or deleted object's last reference removes files; others just free memory */
    if (!atomic_load(&o->superseded) || (job = malloc(sizeof(*job))) == NULL) {
        store_fs_obj_release(o);
        return;
    }
    job->super.run = run_release;
    job->super.done = on_release_done;
    job->obj = o;
    store_jobs_submit(s->jobs, ctx, &job->super);
}

/* on the loop: drops one of the two references (the job's, the h2o request's); the last frees the request */
static void release_req(store_req_t *sr)
{
    if (--sr->refs != 0)
        return;
    store_release_obj(sr->store, sr->ctx, sr->res_obj);
    store_h1body_release(sr->http.stream);
    h2o_mem_clear_pool(&sr->http.pool);
    pthread_mutex_destroy(&sr->lock);
    free(sr);
}

/* the h2o request is over (answered, or the client went away): a store thread must not read its body any more */
static void on_h2o_req_dispose(void *p)
{
    store_req_t *sr = *(store_req_t **)p;
    pthread_mutex_lock(&sr->lock);
    sr->h2o = NULL;
    pthread_mutex_unlock(&sr->lock);
    release_req(sr);
}

/* on the loop: sends the response the job recorded, unless the request is over */
static void send_response(store_req_t *sr, h2o_req_t *req)
{
    static h2o_generator_t empty_generator = {NULL, NULL};
    store_http_t *res = sr->req;
    if (sr->res_kind == STORE_RES_NONE) {
        log_error("store: internal error: no response to %.*s %.*s", (int)req->method.len, req->method.base, (int)req->path.len,
                  req->path.base);
        h2o_send_error_500(req, "Internal Server Error", "internal error", 0);
        return;
    }
    req->res.status = res->res.status;
    req->res.reason = res->res.reason;
    req->res.content_length = res->res.content_length;
    /* the names and values live in the job's pool, which lasts as long as the request */
    for (size_t i = 0; i != res->res.headers.size; ++i) {
        const h2o_header_t *h = &res->res.headers.entries[i];
        h2o_add_header_by_str(&req->pool, &req->res.headers, h->name->base, h->name->len, 1, NULL, h->value.base, h->value.len);
    }
    switch (sr->res_kind) {
    case STORE_RES_BODY:
        h2o_send_inline(req, sr->res_body.base, sr->res_body.len); /* sends no body for HEAD */
        break;
    case STORE_RES_EMPTY:
        h2o_start_response(req, &empty_generator);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        break;
    case STORE_RES_STREAM:
        store_object_start_stream(sr, req);
        break;
    }
}

static void on_job_done(store_job_t *job)
{
    store_req_t *sr = (store_req_t *)job;
    if (sr->h2o != NULL)
        send_response(sr, sr->h2o); /* if that ends the request, the job's reference keeps sr */
    release_req(sr);
}

/* a copy of the request headers in pool (token names are static and shared) */
static void copy_headers(h2o_mem_pool_t *pool, h2o_headers_t *dst, const h2o_headers_t *src)
{
    h2o_vector_reserve(pool, dst, src->size);
    for (size_t i = 0; i != src->size; ++i) {
        const h2o_header_t *h = &src->entries[i];
        h2o_header_t *d = &dst->entries[i];
        *d = (h2o_header_t){0};
        if (h2o_iovec_is_token(h->name)) {
            d->name = h->name;
        } else {
            h2o_iovec_t *name = h2o_mem_alloc_pool(pool, sizeof(*name));
            *name = h2o_strdup(pool, h->name->base, h->name->len);
            d->name = name;
        }
        d->value = h2o_strdup(pool, h->value.base, h->value.len);
    }
    dst->size = src->size;
}

/* on the loop: copies what the store threads need of the request and hands it to them; the answer comes in on_job_done */
/* the client's address, for the event records' sourceIPAddress */
static void store_peer_name(h2o_req_t *req, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername != NULL ? req->conn->callbacks->get_peername(req->conn, (void *)&ss) : 0;
    out[0] = '\0';
    if (sl != 0 && h2o_socket_getnumerichost((void *)&ss, sl, out) == SIZE_MAX)
        out[0] = '\0';
    (void)len;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    store_t *s = ((store_handler_t *)self)->store;
    store_req_t *sr = calloc(1, sizeof(*sr));
    if (sr == NULL) {
        h2o_send_error_503(req, "Service Unavailable", "out of memory", 0);
        return 0;
    }
    sr->store = s;
    sr->req = &sr->http;
    store_http_t *h = &sr->http;
    h2o_mem_init_pool(&h->pool);
    h->method = h2o_strdup(&h->pool, req->method.base, req->method.len);
    h->version = req->version;
    h->input.authority = h2o_strdup(&h->pool, req->input.authority.base, req->input.authority.len);
    h->input.path = h2o_strdup(&h->pool, req->input.path.base, req->input.path.len);
    h->input.query_at = req->input.query_at;
    copy_headers(&h->pool, &h->headers, &req->headers);
    if ((h->stream = store_http1_body(req)) != NULL) {
        uint64_t len = store_h1body_length(h->stream);
        h->entity_unknown = len == UINT64_MAX;
        h->entity = h2o_iovec_init("", h->entity_unknown ? 0 : (size_t)len);
    } else {
        h->entity = req->entity;
    }
    h->res.content_length = SIZE_MAX;
    store_peer_name(req, sr->peer, sizeof(sr->peer));
    pthread_mutex_init(&sr->lock, NULL);
    sr->h2o = req;
    sr->ctx = req->conn->ctx;
    sr->refs = 2;
    *(store_req_t **)h2o_mem_alloc_shared(&req->pool, sizeof(store_req_t *), on_h2o_req_dispose) = sr;
    sr->job.run = run_request;
    sr->job.done = on_job_done;
    store_jobs_submit(s->jobs, req->conn->ctx, &sr->job);
    return 0;
}

unsigned store_thread_jobs(void)
{
    return store_jobs_pending();
}

void store_lower_priority(void)
{
    store_jobs_lower_priority();
}

void store_register(store_t *store, h2o_pathconf_t *pathconf)
{
    store_handler_t *h = (store_handler_t *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->store = store;
}

/* ---- operation names (metrics) ----------------------------------------------------------------------------------------------- */

const char *const store_op_names[STORE_OP_NUM] = {
    "Other",
    "ListBuckets",
    "CreateBucket",
    "DeleteBucket",
    "HeadBucket",
    "ListObjects",
    "GetObject",
    "HeadObject",
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "ListMultipartUploads",
};

/* 1 if the query (without '?') has the parameter `name` (with or without a value) */
static int query_has(h2o_iovec_t q, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = q.base, *end = q.base + q.len;
    while (p < end) {
        const char *e = memchr(p, '&', (size_t)(end - p));
        size_t l = (size_t)((e != NULL ? e : end) - p);
        if (l >= nlen && memcmp(p, name, nlen) == 0 && (l == nlen || p[nlen] == '='))
            return 1;
        p += l + 1;
    }
    return 0;
}

int store_op_of(const store_t *s, h2o_req_t *req)
{
    h2o_iovec_t m = req->method, target = req->input.path, path, query = h2o_iovec_init("", 0);
    size_t qat = req->input.query_at;
    int has_bucket, has_key;
    path = qat != SIZE_MAX ? h2o_iovec_init(target.base, qat) : target;
    if (qat != SIZE_MAX)
        query = h2o_iovec_init(target.base + qat + 1, target.len - qat - 1);
    if (path.len == 0 || path.base[0] != '/')
        return STORE_OP_OTHER;
    /* virtual-hosted: the bucket is in the host, the whole path is the key */
    h2o_iovec_t host = req->input.authority;
    size_t hl = host.len, dl = strlen(s->domain);
    const char *colon = host.len != 0 && host.base[0] != '[' ? memchr(host.base, ':', host.len) : NULL;
    if (colon != NULL)
        hl = (size_t)(colon - host.base);
    if (dl != 0 && hl > dl + 1 && host.base[hl - dl - 1] == '.' && h2o_lcstris(host.base + hl - dl, dl, s->domain, dl)) {
        has_bucket = 1;
        has_key = path.len > 1;
    } else {
        const char *slash = memchr(path.base + 1, '/', path.len - 1);
        has_bucket = path.len > 1;
        has_key = slash != NULL && slash + 1 < path.base + path.len;
    }
#define IS(name) h2o_memis(m.base, m.len, H2O_STRLIT(name))
    if (!has_bucket)
        return IS("GET") ? STORE_OP_LIST_BUCKETS : STORE_OP_OTHER;
    if (!has_key) {
        if (IS("PUT"))
            return STORE_OP_CREATE_BUCKET;
        if (IS("DELETE"))
            return STORE_OP_DELETE_BUCKET;
        if (IS("HEAD"))
            return STORE_OP_HEAD_BUCKET;
        if (IS("POST"))
            return query_has(query, "delete") ? STORE_OP_DELETE_OBJECTS : STORE_OP_OTHER;
        if (IS("GET"))
            return query_has(query, "uploads") ? STORE_OP_LIST_MULTIPART_UPLOADS : STORE_OP_LIST_OBJECTS;
        return STORE_OP_OTHER;
    }
    if (IS("GET"))
        return query_has(query, "uploadId") ? STORE_OP_LIST_PARTS : STORE_OP_GET_OBJECT;
    if (IS("HEAD"))
        return STORE_OP_HEAD_OBJECT;
    if (IS("PUT")) {
        int copy = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-amz-copy-source"), -1) != -1;
        if (query_has(query, "uploadId") || query_has(query, "partNumber"))
            return copy ? STORE_OP_UPLOAD_PART_COPY : STORE_OP_UPLOAD_PART;
        return copy ? STORE_OP_COPY_OBJECT : STORE_OP_PUT_OBJECT;
    }
    if (IS("POST"))
        return query_has(query, "uploads")    ? STORE_OP_CREATE_MULTIPART_UPLOAD
               : query_has(query, "uploadId") ? STORE_OP_COMPLETE_MULTIPART_UPLOAD
                                              : STORE_OP_OTHER;
    if (IS("DELETE"))
        return query_has(query, "uploadId") ? STORE_OP_ABORT_MULTIPART_UPLOAD : STORE_OP_DELETE_OBJECT;
#undef IS
    return STORE_OP_OTHER;
}
