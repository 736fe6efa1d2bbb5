/* sigv4/sigv4.c - AWS Signature Version 4 (see sigv4.h): canonicalisation, signing keys, signing, presigning, verifying, chunks */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "base/str.h"
#include "sigv4/sigv4.h"

/* ---- buffers and slices ---------------------------------------------------------------------------------------------------- */

sigv4_str_t sigv4_cstr(const char *s)
{
    sigv4_str_t r = {s, s != NULL ? strlen(s) : 0};
    return r;
}

void sigv4_buf_free(sigv4_buf_t *buf)
{
    free(buf->base);
    buf->base = NULL;
    buf->len = buf->capacity = 0;
}

static int buf_reserve(sigv4_buf_t *buf, size_t extra)
{
    if (buf->len + extra + 1 <= buf->capacity)
        return 0;
    size_t cap = buf->capacity != 0 ? buf->capacity : 256;
    while (cap < buf->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return SIGV4_ERR_NOMEM;
        cap *= 2;
    }
    char *p = realloc(buf->base, cap);
    if (p == NULL)
        return SIGV4_ERR_NOMEM;
    buf->base = p;
    buf->capacity = cap;
    return 0;
}

int sigv4_buf_append(sigv4_buf_t *buf, const void *bytes, size_t len)
{
    if (buf_reserve(buf, len) != 0)
        return SIGV4_ERR_NOMEM;
    if (len != 0)
        memcpy(buf->base + buf->len, bytes, len);
    buf->len += len;
    buf->base[buf->len] = '\0';
    return 0;
}

static int buf_puts(sigv4_buf_t *buf, const char *s)
{
    return sigv4_buf_append(buf, s, strlen(s));
}

static int buf_putc(sigv4_buf_t *buf, char c)
{
    return sigv4_buf_append(buf, &c, 1);
}

static int str_ieq(sigv4_str_t a, const char *b)
{
    return edge_caseeq(a.base, a.len, b, strlen(b));
}

static int str_eq(sigv4_str_t a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && (n == 0 || memcmp(a.base, b, n) == 0);
}

/* ---- percent encoding ------------------------------------------------------------------------------------------------------ */

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static int encode_byte(sigv4_buf_t *out, unsigned char c)
{
    char e[3];
    if (is_unreserved(c))
        return buf_putc(out, (char)c);
    edge_pct_escape(e, c);
    return sigv4_buf_append(out, e, 3);
}

int sigv4_uri_encode(sigv4_buf_t *out, sigv4_str_t s, int keep_slash)
{
    if (buf_reserve(out, s.len * 3) != 0)
        return SIGV4_ERR_NOMEM;
    for (size_t i = 0; i != s.len; ++i) {
        unsigned char c = (unsigned char)s.base[i];
        if (c == '/' && keep_slash) {
            out->base[out->len++] = '/';
        } else if (encode_byte(out, c) != 0) {
            return SIGV4_ERR_NOMEM;
        }
    }
    out->base[out->len] = '\0';
    return 0;
}

int sigv4_uri_decode(sigv4_buf_t *out, sigv4_str_t s)
{
    if (buf_reserve(out, s.len) != 0)
        return SIGV4_ERR_NOMEM;
    out->len += edge_pct_decode(out->base + out->len, s.base, s.len);
    out->base[out->len] = '\0';
    return 0;
}

/* decodes then encodes one path segment (S3: a key is encoded exactly once, whatever the client sent) */
static int reencode(sigv4_buf_t *out, sigv4_str_t seg)
{
    for (size_t i = 0; i != seg.len; ++i) {
        int c = (unsigned char)seg.base[i], hi, lo;
        if (c == '%' && i + 2 < seg.len && (hi = edge_hex_value(seg.base[i + 1])) >= 0 &&
            (lo = edge_hex_value(seg.base[i + 2])) >= 0) {
            c = hi << 4 | lo;
            i += 2;
        }
        if (encode_byte(out, (unsigned char)c) != 0)
            return SIGV4_ERR_NOMEM;
    }
    return 0;
}

/* ---- canonical URI --------------------------------------------------------------------------------------------------------- */

static int encode_segment(sigv4_buf_t *out, sigv4_str_t seg, int flags)
{
    if (flags & SIGV4_F_ENCODE_TWICE)
        return sigv4_uri_encode(out, seg, 0);
    return reencode(out, seg);
}

static int canonical_uri_normalized(sigv4_str_t path, int flags, sigv4_buf_t *out)
{
    /* collect the kept segments as (offset, length) pairs; a path has at most len/2+1 segments */
    size_t max = path.len / 2 + 2, n = 0;
    sigv4_str_t *segs = malloc(max * sizeof(*segs));
    int r = 0;
    if (segs == NULL)
        return SIGV4_ERR_NOMEM;
    size_t i = 0;
    while (i <= path.len) {
        size_t j = i;
        while (j < path.len && path.base[j] != '/')
            ++j;
        sigv4_str_t seg = {path.base + i, j - i};
        if (seg.len == 0 || str_eq(seg, ".")) {
            /* skip */
        } else if (str_eq(seg, "..")) {
            if (n != 0)
                --n;
        } else {
            segs[n++] = seg;
        }
        i = j + 1;
    }
    int trailing = path.len != 0 && path.base[path.len - 1] == '/';
    /* a trailing "." or ".." also denotes a directory */
    if (!trailing && path.len != 0) {
        size_t k = path.len;
        while (k != 0 && path.base[k - 1] != '/')
            --k;
        sigv4_str_t last = {path.base + k, path.len - k};
        if (str_eq(last, ".") || str_eq(last, ".."))
            trailing = 1;
    }
    if ((r = buf_putc(out, '/')) != 0)
        goto out;
    for (size_t k = 0; k != n; ++k) {
        if (k != 0 && (r = buf_putc(out, '/')) != 0)
            goto out;
        if ((r = encode_segment(out, segs[k], flags)) != 0)
            goto out;
    }
    if (n != 0 && trailing)
        r = buf_putc(out, '/');
out:
    free(segs);
    return r;
}

int sigv4_canonical_uri(sigv4_str_t path, int flags, sigv4_buf_t *out)
{
    if (path.len == 0)
        return buf_putc(out, '/');
    if (flags & SIGV4_F_PATH_AS_IS)
        return sigv4_buf_append(out, path.base, path.len);
    if (flags & SIGV4_F_NORMALIZE)
        return canonical_uri_normalized(path, flags, out);
    size_t i = 0;
    while (i < path.len) {
        size_t j = i;
        while (j < path.len && path.base[j] != '/')
            ++j;
        if (j != i) {
            sigv4_str_t seg = {path.base + i, j - i};
            if (encode_segment(out, seg, flags) != 0)
                return SIGV4_ERR_NOMEM;
        }
        if (j < path.len && buf_putc(out, '/') != 0)
            return SIGV4_ERR_NOMEM;
        i = j + 1;
    }
    return 0;
}

/* ---- canonical query ------------------------------------------------------------------------------------------------------- */

typedef struct qparam {
    char *key; /* encoded, NUL-terminated */
    char *value;
} qparam_t;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encode_component(sigv4_str_t s)
{
    sigv4_buf_t dec = {0}, enc = {0};
    if (sigv4_uri_decode(&dec, s) != 0 || sigv4_uri_encode(&enc, (sigv4_str_t){dec.base, dec.len}, 0) != 0 ||
        (enc.base == NULL && buf_putc(&enc, '\0') != 0)) {
        sigv4_buf_free(&dec);
        sigv4_buf_free(&enc);
        return NULL;
    }
    sigv4_buf_free(&dec);
    if (enc.base == NULL)
        return strdup("");
    return enc.base;
}

int sigv4_canonical_query(sigv4_str_t query, int skip_signature, sigv4_buf_t *out)
{
    size_t max = 1, n = 0;
    int r = 0;
    for (size_t i = 0; i != query.len; ++i)
        if (query.base[i] == '&')
            ++max;
    qparam_t *params = calloc(max, sizeof(*params));
    if (params == NULL)
        return SIGV4_ERR_NOMEM;
    size_t i = 0;
    while (i < query.len) {
        size_t j = i;
        while (j < query.len && query.base[j] != '&')
            ++j;
        if (j != i) {
            sigv4_str_t comp = {query.base + i, j - i}, k = comp, v = {"", 0};
            const char *eq = memchr(comp.base, '=', comp.len);
            if (eq != NULL) {
                k.len = eq - comp.base;
                v.base = eq + 1;
                v.len = comp.len - k.len - 1;
            }
            if (skip_signature && str_eq(k, "X-Amz-Signature")) {
                i = j + 1;
                continue;
            }
            if ((params[n].key = encode_component(k)) == NULL || (params[n].value = encode_component(v)) == NULL) {
                free(params[n].key);
                r = SIGV4_ERR_NOMEM;
                goto out;
            }
            ++n;
        }
        i = j + 1;
    }
    qsort(params, n, sizeof(*params), qparam_cmp);
    for (size_t k = 0; k != n; ++k) {
        if ((k != 0 && buf_putc(out, '&') != 0) || buf_puts(out, params[k].key) != 0 || buf_putc(out, '=') != 0 ||
            buf_puts(out, params[k].value) != 0) {
            r = SIGV4_ERR_NOMEM;
            goto out;
        }
    }
    if (out->base == NULL)
        r = sigv4_buf_append(out, "", 0);
out:
    for (size_t k = 0; k != n; ++k) {
        free(params[k].key);
        free(params[k].value);
    }
    free(params);
    return r;
}

/* ---- canonical headers ----------------------------------------------------------------------------------------------------- */

typedef struct hdr_ref {
    const sigv4_header_t *h;
    size_t index;
} hdr_ref_t;

static int name_cmp(sigv4_str_t a, sigv4_str_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    for (size_t i = 0; i != n; ++i) {
        int x = tolower((unsigned char)a.base[i]), y = tolower((unsigned char)b.base[i]);
        if (x != y)
            return x - y;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

static int hdr_ref_cmp(const void *a, const void *b)
{
    const hdr_ref_t *x = a, *y = b;
    int c = name_cmp(x->h->name, y->h->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* appends the value trimmed, with every inner run of whitespace (folded lines included) turned into one space */
static int append_value(sigv4_buf_t *out, sigv4_str_t v)
{
    size_t b = 0, e = v.len;
    while (b < e && is_ws(v.base[b]))
        ++b;
    while (e > b && is_ws(v.base[e - 1]))
        --e;
    if (buf_reserve(out, e - b) != 0)
        return SIGV4_ERR_NOMEM;
    for (size_t i = b; i < e; ++i) {
        if (is_ws(v.base[i])) {
            while (i + 1 < e && is_ws(v.base[i + 1]))
                ++i;
            out->base[out->len++] = ' ';
        } else {
            out->base[out->len++] = v.base[i];
        }
    }
    out->base[out->len] = '\0';
    return 0;
}

static int append_lower(sigv4_buf_t *out, sigv4_str_t s)
{
    if (buf_reserve(out, s.len) != 0)
        return SIGV4_ERR_NOMEM;
    for (size_t i = 0; i != s.len; ++i)
        out->base[out->len++] = (char)tolower((unsigned char)s.base[i]);
    out->base[out->len] = '\0';
    return 0;
}

/* canonical headers block (each `name:value\n`) into creq and the signed-headers list into signed_headers */
static int canonical_headers(const sigv4_header_t *headers, size_t n, sigv4_buf_t *creq, sigv4_buf_t *signed_headers)
{
    hdr_ref_t *refs = malloc((n != 0 ? n : 1) * sizeof(*refs));
    int r = 0;
    if (refs == NULL)
        return SIGV4_ERR_NOMEM;
    for (size_t i = 0; i != n; ++i) {
        refs[i].h = headers + i;
        refs[i].index = i;
    }
    qsort(refs, n, sizeof(*refs), hdr_ref_cmp);
    for (size_t i = 0; i != n; ++i) {
        int same = i != 0 && name_cmp(refs[i].h->name, refs[i - 1].h->name) == 0;
        if (same) {
            if ((r = buf_putc(creq, ',')) != 0)
                goto out;
        } else {
            if (i != 0 && (r = buf_putc(creq, '\n')) != 0)
                goto out;
            if ((r = append_lower(creq, refs[i].h->name)) != 0 || (r = buf_putc(creq, ':')) != 0)
                goto out;
            if (signed_headers != NULL) {
                if ((i != 0 && (r = buf_putc(signed_headers, ';')) != 0) ||
                    (r = append_lower(signed_headers, refs[i].h->name)) != 0)
                    goto out;
            }
        }
        if ((r = append_value(creq, refs[i].h->value)) != 0)
            goto out;
    }
    if (n != 0)
        r = buf_putc(creq, '\n');
    if (r == 0 && signed_headers != NULL && signed_headers->base == NULL)
        r = sigv4_buf_append(signed_headers, "", 0);
out:
    free(refs);
    return r;
}

int sigv4_canonical_request(const sigv4_request_t *req, int flags, sigv4_buf_t *creq, sigv4_buf_t *signed_headers)
{
    sigv4_buf_t sh = {0};
    int r;
    if ((r = sigv4_buf_append(creq, req->method.base, req->method.len)) != 0 || (r = buf_putc(creq, '\n')) != 0 ||
        (r = sigv4_canonical_uri(req->path, flags, creq)) != 0 || (r = buf_putc(creq, '\n')) != 0 ||
        (r = sigv4_canonical_query(req->query, 0, creq)) != 0 || (r = buf_putc(creq, '\n')) != 0 ||
        (r = canonical_headers(req->headers, req->num_headers, creq, &sh)) != 0 || (r = buf_putc(creq, '\n')) != 0 ||
        (r = sigv4_buf_append(creq, sh.base, sh.len)) != 0 || (r = buf_putc(creq, '\n')) != 0 ||
        (r = sigv4_buf_append(creq, req->payload_hash.base, req->payload_hash.len)) != 0)
        goto out;
    if (signed_headers != NULL)
        r = sigv4_buf_append(signed_headers, sh.base, sh.len);
out:
    sigv4_buf_free(&sh);
    return r;
}

/* ---- primitives ------------------------------------------------------------------------------------------------------------ */

void sigv4_hex(const uint8_t *bytes, size_t len, char *hex)
{
    edge_hex_encode(hex, bytes, len);
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    edge_sha256_hex(data != NULL ? data : (const void *)"", len, hex);
}

static void hmac(const void *key, size_t keylen, const void *msg, size_t len, uint8_t out[32])
{
    unsigned int outlen = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg != NULL ? msg : (const void *)"", len, out, &outlen);
}

void sigv4_format_amz_date(time_t t, char out[17])
{
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    memcpy(out, buf, 16);
    out[16] = '\0';
}

static int digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i != n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

int sigv4_parse_amz_date(sigv4_str_t s, time_t *t)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    if (s.len != 16 || s.base[8] != 'T' || s.base[15] != 'Z' || digits(s.base, 4, &y) || digits(s.base + 4, 2, &mo) ||
        digits(s.base + 6, 2, &d) || digits(s.base + 9, 2, &h) || digits(s.base + 11, 2, &mi) || digits(s.base + 13, 2, &se))
        return SIGV4_ERR_MALFORMED;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return SIGV4_ERR_MALFORMED;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *t = timegm(&tm);
    return 0;
}

size_t sigv4_scope(char *out, size_t outlen, const char *date8, sigv4_str_t region, sigv4_str_t service)
{
    int n = snprintf(out, outlen, "%.8s/%.*s/%.*s/aws4_request", date8, (int)region.len, region.base != NULL ? region.base : "",
                     (int)service.len, service.base != NULL ? service.base : "");
    return n < 0 ? 0 : (size_t)n;
}

int sigv4_string_to_sign(const char *amz_date, const char *scope, sigv4_str_t creq, sigv4_buf_t *out)
{
    char hash[65];
    sigv4_sha256_hex(creq.base, creq.len, hash);
    if (buf_puts(out, SIGV4_ALGORITHM "\n") != 0 || buf_puts(out, amz_date) != 0 || buf_putc(out, '\n') != 0 ||
        buf_puts(out, scope) != 0 || buf_putc(out, '\n') != 0 || buf_puts(out, hash) != 0)
        return SIGV4_ERR_NOMEM;
    return 0;
}

/* the signing-key cache: a handful of entries is plenty (one secret, one or two regions, the date rolls once a day) */
#define KEY_CACHE_SIZE 16
static struct {
    pthread_mutex_t lock;
    struct key_cache_entry {
        int used;
        char date[9];
        char region[64];
        char service[32];
        uint8_t secret_hash[32];
        uint8_t key[32];
    } entries[KEY_CACHE_SIZE];
    unsigned next;
} key_cache = {PTHREAD_MUTEX_INITIALIZER};

int sigv4_signing_key(sigv4_str_t secret, const char *date8, sigv4_str_t region, sigv4_str_t service, uint8_t key[32])
{
    uint8_t secret_hash[32], k[32];
    int cacheable = region.len < sizeof(key_cache.entries[0].region) && service.len < sizeof(key_cache.entries[0].service);

    SHA256((const unsigned char *)(secret.base != NULL ? secret.base : ""), secret.len, secret_hash);
    if (cacheable) {
        pthread_mutex_lock(&key_cache.lock);
        for (size_t i = 0; i != KEY_CACHE_SIZE; ++i) {
            struct key_cache_entry *e = key_cache.entries + i;
            if (e->used && memcmp(e->date, date8, 8) == 0 && str_eq(region, e->region) && str_eq(service, e->service) &&
                memcmp(e->secret_hash, secret_hash, 32) == 0) {
                memcpy(key, e->key, 32);
                pthread_mutex_unlock(&key_cache.lock);
                return 0;
            }
        }
        pthread_mutex_unlock(&key_cache.lock);
    }

    size_t klen = 4 + secret.len;
    char *kbuf = malloc(klen);
    if (kbuf == NULL)
        return SIGV4_ERR_NOMEM;
    memcpy(kbuf, "AWS4", 4);
    if (secret.len != 0)
        memcpy(kbuf + 4, secret.base, secret.len);
    hmac(kbuf, klen, date8, 8, k);
    OPENSSL_cleanse(kbuf, klen);
    free(kbuf);
    hmac(k, 32, region.base, region.len, k);
    hmac(k, 32, service.base, service.len, k);
    hmac(k, 32, "aws4_request", 12, k);
    memcpy(key, k, 32);

    if (cacheable) {
        pthread_mutex_lock(&key_cache.lock);
        struct key_cache_entry *e = key_cache.entries + key_cache.next++ % KEY_CACHE_SIZE;
        e->used = 1;
        memcpy(e->date, date8, 8);
        e->date[8] = '\0';
        memcpy(e->region, region.base, region.len);
        e->region[region.len] = '\0';
        memcpy(e->service, service.base, service.len);
        e->service[service.len] = '\0';
        memcpy(e->secret_hash, secret_hash, 32);
        memcpy(e->key, k, 32);
        pthread_mutex_unlock(&key_cache.lock);
    }
    OPENSSL_cleanse(k, sizeof(k));
    return 0;
}

void sigv4_signature(const uint8_t key[32], sigv4_str_t msg, char hex[65])
{
    uint8_t md[32];
    hmac(key, 32, msg.base, msg.len, md);
    sigv4_hex(md, 32, hex);
}

int sigv4_signature_equal(const char *a, const char *b)
{
    if (strlen(a) != 64 || strlen(b) != 64)
        return 0;
    return CRYPTO_memcmp(a, b, 64) == 0;
}

/* ---- signing --------------------------------------------------------------------------------------------------------------- */

static const char *const skipped_headers[] = {"authorization",
                                              "connection",
                                              "expect",
                                              "keep-alive",
                                              "proxy-authenticate",
                                              "proxy-authorization",
                                              "proxy-connection",
                                              "te",
                                              "trailer",
                                              "transfer-encoding",
                                              "upgrade",
                                              "user-agent",
                                              "x-amzn-trace-id",
                                              NULL};

static int is_skipped(sigv4_str_t name)
{
    for (const char *const *s = skipped_headers; *s != NULL; ++s)
        if (str_ieq(name, *s))
            return 1;
    return 0;
}

void sigv4_signed_free(sigv4_signed_t *s)
{
    sigv4_buf_free(&s->authorization);
    sigv4_buf_free(&s->query);
    sigv4_buf_free(&s->signed_headers);
    sigv4_buf_free(&s->canonical_request);
    sigv4_buf_free(&s->string_to_sign);
}

/* the headers that get signed: req's minus the skipped and replaced ones, plus the added ones */
static sigv4_header_t *collect_headers(const sigv4_request_t *req, const sigv4_header_t *extra, size_t num_extra, size_t *n,
                                       int *has_host)
{
    sigv4_header_t *hs = malloc((req->num_headers + num_extra + 1) * sizeof(*hs));
    if (hs == NULL)
        return NULL;
    *n = 0;
    *has_host = 0;
    for (size_t i = 0; i != req->num_headers; ++i) {
        sigv4_str_t name = req->headers[i].name;
        if (is_skipped(name) || str_ieq(name, "x-amz-date") || str_ieq(name, "x-amz-content-sha256") ||
            str_ieq(name, "x-amz-security-token"))
            continue;
        if (str_ieq(name, "host"))
            *has_host = 1;
        hs[(*n)++] = req->headers[i];
    }
    for (size_t i = 0; i != num_extra; ++i)
        hs[(*n)++] = extra[i];
    return hs;
}

static int sign_common(const sigv4_request_t *req, const sigv4_sign_params_t *p, sigv4_signed_t *out, int presign, unsigned expires)
{
    const sigv4_credentials_t *cr = p->credentials;
    sigv4_str_t service = sigv4_cstr(p->service != NULL ? p->service : "s3"), region = sigv4_cstr(p->region);
    int with_token = cr->session_token != NULL && cr->session_token[0] != '\0' && !p->omit_session_token;
    sigv4_header_t extra[3];
    size_t num_extra = 0, n;
    int has_host, r;
    uint8_t key[32];
    sigv4_buf_t query = {0};

    memset(out, 0, sizeof(*out));
    if (cr == NULL || cr->access_key == NULL || cr->secret_key == NULL || p->region == NULL)
        return SIGV4_ERR_ARG;
    sigv4_format_amz_date(p->now, out->amz_date);
    sigv4_scope(out->scope, sizeof(out->scope), out->amz_date, region, service);

    if (!presign) {
        extra[num_extra++] = (sigv4_header_t){sigv4_cstr("x-amz-date"), {out->amz_date, 16}};
        if (p->sign_content_sha256)
            extra[num_extra++] = (sigv4_header_t){sigv4_cstr("x-amz-content-sha256"), req->payload_hash};
        if (with_token)
            extra[num_extra++] = (sigv4_header_t){sigv4_cstr("x-amz-security-token"), sigv4_cstr(cr->session_token)};
    }
    sigv4_header_t *hs = collect_headers(req, extra, num_extra, &n, &has_host);
    if (hs == NULL)
        return SIGV4_ERR_NOMEM;
    if (!has_host) {
        free(hs);
        return SIGV4_ERR_MISSING;
    }
    sigv4_request_t sreq = *req;
    sreq.headers = hs;
    sreq.num_headers = n;

    if (presign) {
        /* the signed-headers list is needed inside the query, so build it first */
        sigv4_buf_t scratch = {0};
        char exp[16];
        if ((r = canonical_headers(hs, n, &scratch, &out->signed_headers)) != 0) {
            sigv4_buf_free(&scratch);
            goto out;
        }
        sigv4_buf_free(&scratch);
        snprintf(exp, sizeof(exp), "%u", expires);
        if ((r = sigv4_buf_append(&query, req->query.base, req->query.len)) != 0)
            goto out;
        if (query.len != 0 && (r = buf_putc(&query, '&')) != 0)
            goto out;
        if ((r = buf_puts(&query, "X-Amz-Algorithm=" SIGV4_ALGORITHM "&X-Amz-Credential=")) != 0 ||
            (r = sigv4_uri_encode(&query, sigv4_cstr(cr->access_key), 0)) != 0 || (r = buf_puts(&query, "%2F")) != 0 ||
            (r = sigv4_uri_encode(&query, sigv4_cstr(out->scope), 0)) != 0 || (r = buf_puts(&query, "&X-Amz-Date=")) != 0 ||
            (r = buf_puts(&query, out->amz_date)) != 0 || (r = buf_puts(&query, "&X-Amz-Expires=")) != 0 ||
            (r = buf_puts(&query, exp)) != 0)
            goto out;
        if (with_token && ((r = buf_puts(&query, "&X-Amz-Security-Token=")) != 0 ||
                           (r = sigv4_uri_encode(&query, sigv4_cstr(cr->session_token), 0)) != 0))
            goto out;
        if ((r = buf_puts(&query, "&X-Amz-SignedHeaders=")) != 0 ||
            (r = sigv4_uri_encode(&query, (sigv4_str_t){out->signed_headers.base, out->signed_headers.len}, 0)) != 0)
            goto out;
        sreq.query = (sigv4_str_t){query.base, query.len};
        sigv4_buf_free(&out->signed_headers);
    }

    if ((r = sigv4_canonical_request(&sreq, p->flags, &out->canonical_request, &out->signed_headers)) != 0 ||
        (r = sigv4_string_to_sign(out->amz_date, out->scope, (sigv4_str_t){out->canonical_request.base, out->canonical_request.len},
                                  &out->string_to_sign)) != 0 ||
        (r = sigv4_signing_key(sigv4_cstr(cr->secret_key), out->amz_date, region, service, key)) != 0)
        goto out;
    sigv4_signature(key, (sigv4_str_t){out->string_to_sign.base, out->string_to_sign.len}, out->signature);
    OPENSSL_cleanse(key, sizeof(key));

    if (presign) {
        if ((r = buf_puts(&query, "&X-Amz-Signature=")) != 0 || (r = buf_puts(&query, out->signature)) != 0)
            goto out;
        out->query = query;
        query = (sigv4_buf_t){0};
    } else {
        if ((r = buf_puts(&out->authorization, SIGV4_ALGORITHM " Credential=")) != 0 ||
            (r = buf_puts(&out->authorization, cr->access_key)) != 0 || (r = buf_putc(&out->authorization, '/')) != 0 ||
            (r = buf_puts(&out->authorization, out->scope)) != 0 || (r = buf_puts(&out->authorization, ", SignedHeaders=")) != 0 ||
            (r = sigv4_buf_append(&out->authorization, out->signed_headers.base, out->signed_headers.len)) != 0 ||
            (r = buf_puts(&out->authorization, ", Signature=")) != 0 || (r = buf_puts(&out->authorization, out->signature)) != 0)
            goto out;
        out->num_add = 0;
        out->add[out->num_add++] = (sigv4_header_t){sigv4_cstr("x-amz-date"), {out->amz_date, 16}};
        if (p->sign_content_sha256)
            out->add[out->num_add++] = (sigv4_header_t){sigv4_cstr("x-amz-content-sha256"), req->payload_hash};
        if (with_token)
            out->add[out->num_add++] = (sigv4_header_t){sigv4_cstr("x-amz-security-token"), sigv4_cstr(cr->session_token)};
        out->add[out->num_add++] = (sigv4_header_t){sigv4_cstr("authorization"), {out->authorization.base, out->authorization.len}};
    }
out:
    free(hs);
    sigv4_buf_free(&query);
    if (r != 0)
        sigv4_signed_free(out);
    return r;
}

int sigv4_sign(const sigv4_request_t *req, const sigv4_sign_params_t *params, sigv4_signed_t *out)
{
    return sign_common(req, params, out, 0, 0);
}

int sigv4_presign(const sigv4_request_t *req, const sigv4_sign_params_t *params, unsigned expires, sigv4_signed_t *out)
{
    if (expires == 0 || expires > SIGV4_MAX_EXPIRES) {
        memset(out, 0, sizeof(*out));
        return SIGV4_ERR_ARG;
    }
    return sign_common(req, params, out, 1, expires);
}

/* ---- parsing the claims ---------------------------------------------------------------------------------------------------- */

static int copy_field(char *dst, size_t dstlen, sigv4_str_t s)
{
    if (s.len == 0 || s.len >= dstlen)
        return -1;
    memcpy(dst, s.base, s.len);
    dst[s.len] = '\0';
    return 0;
}

static int is_hex_lower(sigv4_str_t s)
{
    for (size_t i = 0; i != s.len; ++i)
        if (!((s.base[i] >= '0' && s.base[i] <= '9') || (s.base[i] >= 'a' && s.base[i] <= 'f')))
            return 0;
    return 1;
}

/* `AK/YYYYMMDD/region/service/aws4_request`; the access key may not contain `/` */
static int parse_credential(sigv4_str_t cred, sigv4_auth_t *a, const char **reason)
{
    sigv4_str_t part[5];
    size_t np = 0, i = 0;
    while (np < 5) {
        size_t j = i;
        while (j < cred.len && cred.base[j] != '/')
            ++j;
        part[np++] = (sigv4_str_t){cred.base + i, j - i};
        if (j >= cred.len)
            break;
        i = j + 1;
    }
    if (np != 5 || part[4].base + part[4].len != cred.base + cred.len) {
        *reason = "the Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request";
        return SIGV4_ERR_MALFORMED;
    }
    if (copy_field(a->access_key, sizeof(a->access_key), part[0]) != 0) {
        *reason = "the access key in the Credential is empty or too long";
        return SIGV4_ERR_MALFORMED;
    }
    int dummy;
    if (part[1].len != 8 || digits(part[1].base, 8, &dummy) != 0) {
        *reason = "the date in the Credential must be YYYYMMDD";
        return SIGV4_ERR_MALFORMED;
    }
    memcpy(a->date, part[1].base, 8);
    a->date[8] = '\0';
    if (copy_field(a->region, sizeof(a->region), part[2]) != 0) {
        *reason = "the region in the Credential is empty or too long";
        return SIGV4_ERR_MALFORMED;
    }
    for (size_t k = 0; k != part[2].len; ++k) {
        char c = part[2].base[k];
        if (!(isalnum((unsigned char)c) || c == '-' || c == '_')) {
            *reason = "the region in the Credential has invalid characters";
            return SIGV4_ERR_MALFORMED;
        }
    }
    if (copy_field(a->service, sizeof(a->service), part[3]) != 0) {
        *reason = "the service in the Credential is empty or too long";
        return SIGV4_ERR_MALFORMED;
    }
    if (!str_eq(part[4], "aws4_request")) {
        *reason = "the Credential must end with /aws4_request";
        return SIGV4_ERR_MALFORMED;
    }
    return 0;
}

static int parse_signed_headers(sigv4_str_t sh, sigv4_auth_t *a, const char **reason)
{
    if (copy_field(a->signed_headers, sizeof(a->signed_headers), sh) != 0) {
        *reason = "SignedHeaders is empty or too long";
        return SIGV4_ERR_MALFORMED;
    }
    int host = 0;
    size_t i = 0;
    while (i <= sh.len) {
        size_t j = i;
        while (j < sh.len && sh.base[j] != ';')
            ++j;
        sigv4_str_t name = {sh.base + i, j - i};
        if (name.len == 0) {
            *reason = "SignedHeaders has an empty header name";
            return SIGV4_ERR_MALFORMED;
        }
        for (size_t k = 0; k != name.len; ++k) {
            unsigned char c = (unsigned char)name.base[k];
            if (!(islower(c) || isdigit(c) || c == '-' || c == '_' || c == '.')) {
                *reason = "SignedHeaders must be lowercase header names separated by ';'";
                return SIGV4_ERR_MALFORMED;
            }
        }
        if (str_eq(name, "host"))
            host = 1;
        i = j + 1;
    }
    if (!host) {
        *reason = "SignedHeaders must include host";
        return SIGV4_ERR_MALFORMED;
    }
    return 0;
}

static int set_signature(sigv4_str_t sig, sigv4_auth_t *a, const char **reason)
{
    if (sig.len != 64 || !is_hex_lower(sig)) {
        *reason = "the Signature must be 64 lowercase hexadecimal digits";
        return SIGV4_ERR_MALFORMED;
    }
    memcpy(a->signature, sig.base, 64);
    a->signature[64] = '\0';
    return 0;
}

int sigv4_parse_authorization(sigv4_str_t authz, sigv4_str_t amz_date, sigv4_str_t http_date, sigv4_auth_t *a, const char **reason)
{
    static const char prefix[] = SIGV4_ALGORITHM " ";
    sigv4_str_t cred = {NULL, 0}, sh = {NULL, 0}, sig = {NULL, 0};
    int r;

    memset(a, 0, sizeof(*a));
    *reason = "";
    if (authz.len < sizeof(prefix) - 1 || memcmp(authz.base, prefix, sizeof(prefix) - 1) != 0) {
        *reason = "the Authorization header must start with 'AWS4-HMAC-SHA256 ' (only Signature Version 4 is supported)";
        return SIGV4_ERR_MALFORMED;
    }
    size_t i = sizeof(prefix) - 1;
    while (i < authz.len) {
        while (i < authz.len && authz.base[i] == ' ')
            ++i;
        size_t j = i;
        while (j < authz.len && authz.base[j] != ',')
            ++j;
        size_t e = j;
        while (e > i && authz.base[e - 1] == ' ')
            --e;
        sigv4_str_t item = {authz.base + i, e - i};
        const char *eq = memchr(item.base, '=', item.len);
        if (item.len == 0 || eq == NULL) {
            *reason = "the Authorization header must be 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'";
            return SIGV4_ERR_MALFORMED;
        }
        sigv4_str_t name = {item.base, (size_t)(eq - item.base)}, value = {eq + 1, item.len - (size_t)(eq - item.base) - 1};
        sigv4_str_t *slot = NULL;
        if (str_eq(name, "Credential"))
            slot = &cred;
        else if (str_eq(name, "SignedHeaders"))
            slot = &sh;
        else if (str_eq(name, "Signature"))
            slot = &sig;
        if (slot == NULL) {
            *reason = "the Authorization header has an unknown parameter (expected Credential, SignedHeaders, Signature)";
            return SIGV4_ERR_MALFORMED;
        }
        if (slot->base != NULL) {
            *reason = "the Authorization header repeats a parameter";
            return SIGV4_ERR_MALFORMED;
        }
        *slot = value;
        if (slot->base == NULL)
            slot->base = "";
        i = j + 1;
    }
    if (cred.base == NULL || sh.base == NULL || sig.base == NULL) {
        *reason = "the Authorization header needs Credential, SignedHeaders and Signature";
        return SIGV4_ERR_MALFORMED;
    }
    if ((r = parse_credential(cred, a, reason)) != 0 || (r = parse_signed_headers(sh, a, reason)) != 0 ||
        (r = set_signature(sig, a, reason)) != 0)
        return r;
    if (amz_date.len != 0) {
        if (sigv4_parse_amz_date(amz_date, &a->time) != 0) {
            *reason = "X-Amz-Date must be in the ISO 8601 basic format YYYYMMDDTHHMMSSZ";
            return SIGV4_ERR_MALFORMED;
        }
        memcpy(a->amz_date, amz_date.base, 16);
    } else if (http_date.len != 0) {
        int64_t sec;
        if (edge_http_date_parse(http_date.base, http_date.len, &sec) != 0) {
            *reason = "the Date header is not an HTTP-date";
            return SIGV4_ERR_MALFORMED;
        }
        a->time = (time_t)sec;
        sigv4_format_amz_date(a->time, a->amz_date);
    } else {
        *reason = "a signed request needs an X-Amz-Date or Date header";
        return SIGV4_ERR_MISSING;
    }
    a->amz_date[16] = '\0';
    return 0;
}

int sigv4_query_is_presigned(sigv4_str_t query)
{
    size_t i = 0;
    while (i < query.len) {
        size_t j = i;
        while (j < query.len && query.base[j] != '&')
            ++j;
        sigv4_str_t c = {query.base + i, j - i};
        if ((c.len >= 16 && memcmp(c.base, "X-Amz-Signature=", 16) == 0) ||
            (c.len >= 17 && memcmp(c.base, "X-Amz-Credential=", 17) == 0) || str_eq(c, "X-Amz-Signature") ||
            str_eq(c, "X-Amz-Credential"))
            return 1;
        i = j + 1;
    }
    return 0;
}

int sigv4_parse_presigned(sigv4_str_t query, sigv4_auth_t *a, const char **reason)
{
    static const char *const names[] = {"X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
                                        "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token"};
    enum { ALG, CRED, DATE, EXPIRES, SH, SIG, TOKEN, NUM };
    sigv4_buf_t val[NUM];
    int seen[NUM] = {0}, r = SIGV4_ERR_MALFORMED;

    memset(a, 0, sizeof(*a));
    memset(val, 0, sizeof(val));
    *reason = "";
    a->presigned = 1;
    size_t i = 0;
    while (i < query.len) {
        size_t j = i;
        while (j < query.len && query.base[j] != '&')
            ++j;
        sigv4_str_t c = {query.base + i, j - i}, k = c, v = {"", 0};
        const char *eq = memchr(c.base, '=', c.len);
        if (eq != NULL) {
            k.len = eq - c.base;
            v = (sigv4_str_t){eq + 1, c.len - k.len - 1};
        }
        for (int n = 0; n != NUM; ++n) {
            if (str_eq(k, names[n])) {
                if (seen[n]) {
                    *reason = "a presigned URL parameter is repeated";
                    goto out;
                }
                seen[n] = 1;
                if (sigv4_uri_decode(&val[n], v) != 0 || sigv4_buf_append(&val[n], "", 0) != 0) {
                    r = SIGV4_ERR_NOMEM;
                    goto out;
                }
            }
        }
        i = j + 1;
    }
    if (!seen[ALG] && !seen[SIG] && !seen[CRED]) {
        *reason = "the query has no presigned-URL parameters";
        r = SIGV4_ERR_MISSING;
        goto out;
    }
    for (int n = 0; n != TOKEN; ++n) {
        if (!seen[n]) {
            switch (n) {
            case ALG:
                *reason = "the presigned URL lacks X-Amz-Algorithm";
                break;
            case CRED:
                *reason = "the presigned URL lacks X-Amz-Credential";
                break;
            case DATE:
                *reason = "the presigned URL lacks X-Amz-Date";
                break;
            case EXPIRES:
                *reason = "the presigned URL lacks X-Amz-Expires";
                break;
            case SH:
                *reason = "the presigned URL lacks X-Amz-SignedHeaders";
                break;
            default:
                *reason = "the presigned URL lacks X-Amz-Signature";
                break;
            }
            r = SIGV4_ERR_MISSING;
            goto out;
        }
    }
    if (strcmp(val[ALG].base, SIGV4_ALGORITHM) != 0) {
        *reason = "X-Amz-Algorithm must be AWS4-HMAC-SHA256";
        goto out;
    }
    if ((r = parse_credential((sigv4_str_t){val[CRED].base, val[CRED].len}, a, reason)) != 0 ||
        (r = parse_signed_headers((sigv4_str_t){val[SH].base, val[SH].len}, a, reason)) != 0 ||
        (r = set_signature((sigv4_str_t){val[SIG].base, val[SIG].len}, a, reason)) != 0)
        goto out;
    r = SIGV4_ERR_MALFORMED;
    if (sigv4_parse_amz_date((sigv4_str_t){val[DATE].base, val[DATE].len}, &a->time) != 0) {
        *reason = "X-Amz-Date must be in the ISO 8601 basic format YYYYMMDDTHHMMSSZ";
        goto out;
    }
    memcpy(a->amz_date, val[DATE].base, 16);
    a->amz_date[16] = '\0';
    {
        int e;
        if (val[EXPIRES].len == 0 || val[EXPIRES].len > 7 || digits(val[EXPIRES].base, val[EXPIRES].len, &e) != 0) {
            *reason = "X-Amz-Expires must be a number of seconds";
            goto out;
        }
        if (e < 1 || e > SIGV4_MAX_EXPIRES) {
            *reason = "X-Amz-Expires must be between 1 and 604800 seconds (7 days)";
            goto out;
        }
        a->expires = (unsigned)e;
    }
    a->has_security_token = seen[TOKEN];
    r = 0;
out:
    for (int n = 0; n != NUM; ++n)
        sigv4_buf_free(&val[n]);
    return r;
}

int sigv4_check_time(const sigv4_auth_t *a, time_t now, const char **reason)
{
    *reason = "";
    if (memcmp(a->date, a->amz_date, 8) != 0) {
        *reason = "the date in the Credential scope does not match the request date (X-Amz-Date)";
        return SIGV4_ERR_MALFORMED;
    }
    if (a->presigned) {
        if (a->time > now + SIGV4_MAX_SKEW) {
            *reason = "the presigned URL is not valid yet (X-Amz-Date is in the future)";
            return SIGV4_ERR_SKEW;
        }
        if (now >= a->time + (time_t)a->expires) {
            *reason = "Request has expired";
            return SIGV4_ERR_EXPIRED;
        }
        return 0;
    }
    if (a->time > now + SIGV4_MAX_SKEW || a->time < now - SIGV4_MAX_SKEW) {
        *reason = "The difference between the request time and the current time is too large.";
        return SIGV4_ERR_SKEW;
    }
    return 0;
}

/* ---- verification ---------------------------------------------------------------------------------------------------------- */

int sigv4_verify(const sigv4_auth_t *a, const sigv4_request_t *req, sigv4_str_t secret, int flags, uint8_t key_out[32],
                 sigv4_verify_detail_t *detail, const char **reason)
{
    size_t cap = req->num_headers + 1, n = 0;
    sigv4_header_t *hs = malloc(cap * sizeof(*hs));
    sigv4_buf_t creq = {0}, sts = {0};
    char scope[160], expected[65];
    uint8_t key[32];
    int r;

    *reason = "";
    if (hs == NULL)
        return SIGV4_ERR_NOMEM;
    /* pick the signed headers, in request order (values of a repeated header are joined in that order) */
    const char *sh = a->signed_headers;
    while (*sh != '\0') {
        const char *e = strchr(sh, ';');
        sigv4_str_t name = {sh, e != NULL ? (size_t)(e - sh) : strlen(sh)};
        int found = 0;
        for (size_t i = 0; i != req->num_headers; ++i) {
            if (name_cmp(req->headers[i].name, name) == 0) {
                if (n == cap) { /* only reachable if a name repeats in SignedHeaders */
                    *reason = "SignedHeaders repeats a header name";
                    r = SIGV4_ERR_MALFORMED;
                    goto out;
                }
                hs[n++] = req->headers[i];
                found = 1;
            }
        }
        if (!found) {
            *reason = "a header listed in SignedHeaders is not in the request";
            r = SIGV4_ERR_MISSING;
            goto out;
        }
        sh += name.len + (e != NULL);
    }
    if ((r = sigv4_buf_append(&creq, req->method.base, req->method.len)) != 0 || (r = buf_putc(&creq, '\n')) != 0 ||
        (r = sigv4_canonical_uri(req->path, flags, &creq)) != 0 || (r = buf_putc(&creq, '\n')) != 0 ||
        (r = sigv4_canonical_query(req->query, a->presigned, &creq)) != 0 || (r = buf_putc(&creq, '\n')) != 0)
        goto out;
    {
        sigv4_buf_t sigh = {0};
        r = canonical_headers(hs, n, &creq, &sigh);
        if (r == 0 && strcmp(sigh.base, a->signed_headers) != 0)
            r = SIGV4_ERR_MISMATCH; /* unsorted or repeated names: no client produces that */
        sigv4_buf_free(&sigh);
        if (r != 0) {
            if (r == SIGV4_ERR_MISMATCH)
                *reason = "SignedHeaders must be sorted and unique";
            goto out;
        }
    }
    if ((r = buf_putc(&creq, '\n')) != 0 || (r = buf_puts(&creq, a->signed_headers)) != 0 || (r = buf_putc(&creq, '\n')) != 0 ||
        (r = sigv4_buf_append(&creq, req->payload_hash.base, req->payload_hash.len)) != 0)
        goto out;
    sigv4_scope(scope, sizeof(scope), a->date, sigv4_cstr(a->region), sigv4_cstr(a->service));
    if ((r = sigv4_string_to_sign(a->amz_date, scope, (sigv4_str_t){creq.base, creq.len}, &sts)) != 0 ||
        (r = sigv4_signing_key(secret, a->date, sigv4_cstr(a->region), sigv4_cstr(a->service), key)) != 0)
        goto out;
    sigv4_signature(key, (sigv4_str_t){sts.base, sts.len}, expected);
    if (key_out != NULL)
        memcpy(key_out, key, 32);
    OPENSSL_cleanse(key, sizeof(key));
    r = sigv4_signature_equal(expected, a->signature) ? 0 : SIGV4_ERR_MISMATCH;
    if (r != 0)
        *reason = "The request signature we calculated does not match the signature you provided. Check your key and signing "
                  "method.";
    if (detail != NULL) {
        memcpy(detail->expected, expected, sizeof(expected));
        detail->canonical_request = creq;
        detail->string_to_sign = sts;
        creq = (sigv4_buf_t){0};
        sts = (sigv4_buf_t){0};
    }
out:
    free(hs);
    sigv4_buf_free(&creq);
    sigv4_buf_free(&sts);
    return r;
}

/* ---- chunk signatures ------------------------------------------------------------------------------------------------------ */

void sigv4_chunk_init(sigv4_chunk_chain_t *c, const uint8_t key[32], const char *amz_date, const char *scope,
                      const char *seed_signature)
{
    memcpy(c->key, key, 32);
    snprintf(c->amz_date, sizeof(c->amz_date), "%s", amz_date);
    snprintf(c->scope, sizeof(c->scope), "%s", scope);
    snprintf(c->previous, sizeof(c->previous), "%s", seed_signature);
}

static void chunk_sign(sigv4_chunk_chain_t *c, const char *algorithm, int with_empty_hash, const uint8_t sha[32], char out[65])
{
    char msg[512], hex[65];
    sigv4_hex(sha, 32, hex);
    int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n%s%s%s", algorithm, c->amz_date, c->scope, c->previous,
                     with_empty_hash ? SIGV4_EMPTY_SHA256 : "", with_empty_hash ? "\n" : "", hex);
    sigv4_signature(c->key, (sigv4_str_t){msg, (size_t)n}, out);
    memcpy(c->previous, out, 65);
}

void sigv4_chunk_next(sigv4_chunk_chain_t *c, const uint8_t data_sha256[32], char out[65])
{
    chunk_sign(c, "AWS4-HMAC-SHA256-PAYLOAD", 1, data_sha256, out);
}

void sigv4_chunk_trailer(sigv4_chunk_chain_t *c, const uint8_t trailer_sha256[32], char out[65])
{
    chunk_sign(c, "AWS4-HMAC-SHA256-TRAILER", 0, trailer_sha256, out);
}

int sigv4_signs_header(const sigv4_auth_t *auth, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = auth->signed_headers; *p != '\0';) {
        const char *e = strchr(p, ';');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p += len + (e != NULL);
    }
    return 0;
}
