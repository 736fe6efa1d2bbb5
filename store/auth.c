/* store/auth.c - the embedded store's keys and request authentication: the configured key pairs (or the one generated on first
 * start), SigV4 and SigV2 (Authorization header or presigned URL), and what each key may do (its buckets, read-only) */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "base/log.h"
#include "base/str.h"
#include "sigv4/sigv2.h"
#include "store/internal.h"

/* ---- keys -------------------------------------------------------------------------------------------------------------------- */

/* n characters drawn uniformly from alphabet (rejection sampling: no modulo bias); 0 or -1 if the RNG fails */
static int random_chars(char *out, size_t n, const char *alphabet)
{
    size_t m = strlen(alphabet), limit = 256 - 256 % m, i = 0;
    uint8_t r[64];
    while (i != n) {
        if (RAND_bytes(r, sizeof(r)) != 1)
            return -1;
        for (size_t k = 0; k != sizeof(r) && i != n; ++k)
            if (r[k] < limit)
                out[i++] = alphabet[r[k] % m];
    }
    out[n] = '\0';
    return 0;
}

static int random_pair(char ak[21], char sk[41], const char *prefix)
{
    size_t pl = strlen(prefix);
    memcpy(ak, prefix, pl);
    return random_chars(ak + pl, 20 - pl, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 0 &&
                   random_chars(sk, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 0
               ? 0
               : -1;
}

static char *trim_dup(const char *s)
{
    h2o_iovec_t t = h2o_str_stripws(s, strlen(s));
    return strndup(t.base, t.len);
}

static store_cred_t *add_cred(store_t *s, const char *ak, const char *sk)
{
    store_cred_t *n = realloc(s->creds, sizeof(*s->creds) * (s->num_creds + 1));
    if (n == NULL)
        return NULL;
    s->creds = n;
    store_cred_t *c = &s->creds[s->num_creds];
    memset(c, 0, sizeof(*c));
    if ((c->access_key = strdup(ak)) == NULL || (c->secret_key = strdup(sk)) == NULL) {
        free(c->access_key);
        free(c->secret_key);
        return NULL;
    }
    ++s->num_creds;
    return c;
}

/* reads root/.credentials: `access_key = ...` and `secret_key = ...` lines; 1 if found, 0 if absent, -1 on error */
static int read_credentials(store_t *s, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char line[512], *ak = NULL, *sk = NULL;
    struct stat st;
    if (fp == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0)
        log_warn("store: %s is readable by other users; run chmod 600 on it", path);
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL)
            continue;
        *eq = '\0';
        char *name = trim_dup(line), *value = trim_dup(eq + 1);
        if (name != NULL && value != NULL && strcmp(name, "access_key") == 0 && ak == NULL) {
            ak = value;
            value = NULL;
        } else if (name != NULL && value != NULL && strcmp(name, "secret_key") == 0 && sk == NULL) {
            sk = value;
            value = NULL;
        }
        free(name);
        free(value);
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(fp);
    int r = 1;
    if (ak == NULL || sk == NULL || ak[0] == '\0' || sk[0] == '\0') {
        snprintf(err, errlen, "%s must have access_key = ... and secret_key = ... lines (delete it to generate a new pair)", path);
        r = -1;
    } else if (add_cred(s, ak, sk) == NULL) {
        snprintf(err, errlen, "out of memory");
        r = -1;
    }
    free(ak);
    if (sk != NULL)
        OPENSSL_cleanse(sk, strlen(sk));
    free(sk);
    return r;
}

static int generate_credentials(store_t *s, const char *path, const conf_store_t *conf, char *err, size_t errlen)
{
    char ak[21], sk[41], tmp[4200], text[512];
    if (random_pair(ak, sk, "EH") != 0) {
        snprintf(err, errlen, "cannot generate credentials: the random number generator failed");
        return -1;
    }
    time_t now = time(NULL);
    struct tm tm;
    char date[32];
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(text, sizeof(text),
                     "# edgehook embedded S3 store credentials, generated %s. Keep this file private (mode 0600).\n"
                     "access_key = %s\nsecret_key = %s\n",
                     date, ak, sk);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    OPENSSL_cleanse(text, sizeof(text));
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (add_cred(s, ak, sk) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char port[16];
    snprintf(port, sizeof(port), "%u", (unsigned)conf->listen.port);
    fprintf(stderr,
            "edgehook: the embedded S3 store generated a key pair (saved in %s, mode 0600; shown only this once):\n"
            "    export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n"
            "    aws --endpoint-url http://%s:%s s3 ls\n",
            path, ak, sk, conf->listen.host != NULL ? conf->listen.host : "127.0.0.1",
            conf->listen.port != 0 ? port : "<store port>");
    fflush(stderr);
    OPENSSL_cleanse(sk, sizeof(sk));
    return 0;
}

static int full_access(const store_cred_t *c)
{
    return !c->read_only && c->num_buckets == 0;
}

int store_auth_init(store_t *s, const conf_store_t *conf, char *err, size_t errlen)
{
    s->self_cred = SIZE_MAX;
    if (conf->num_keys != 0) {
        for (size_t i = 0; i != conf->num_keys; ++i) {
            const conf_store_key_t *k = &conf->keys[i];
            store_cred_t *c = add_cred(s, k->cred.access_key, k->cred.secret_key);
            if (c == NULL)
                goto nomem;
            c->read_only = k->read_only;
            if (k->num_buckets != 0 && (c->buckets = calloc(k->num_buckets, sizeof(char *))) == NULL)
                goto nomem;
            for (size_t j = 0; j != k->num_buckets; ++j, ++c->num_buckets)
                if ((c->buckets[j] = strdup(k->buckets[j])) == NULL)
                    goto nomem;
        }
    } else {
        char path[4096];
        snprintf(path, sizeof(path), "%s/.credentials", store_fs_root(s->fs));
        int r = read_credentials(s, path, err, errlen);
        if (r < 0 || (r == 0 && generate_credentials(s, path, conf, err, errlen) != 0))
            return -1;
    }
    /* the key the process signs its own requests with (embedded S3 origins, hooks naming the store): the first configured key
     * that may do everything, else one made up for this run, known to nobody else */
    for (size_t i = 0; i != s->num_creds && s->self_cred == SIZE_MAX; ++i)
        if (full_access(&s->creds[i]))
            s->self_cred = i;
    if (s->self_cred == SIZE_MAX) {
        char ak[21], sk[41];
        store_cred_t *c;
        if (random_pair(ak, sk, "EHSELF") != 0) {
            snprintf(err, errlen, "cannot generate credentials: the random number generator failed");
            return -1;
        }
        if ((c = add_cred(s, ak, sk)) == NULL)
            goto nomem;
        OPENSSL_cleanse(sk, sizeof(sk));
        c->internal = 1;
        s->self_cred = s->num_creds - 1;
    }
    sigv4_sha256_hex(s->creds[0].access_key, strlen(s->creds[0].access_key), s->owner_id);
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

void store_auth_dispose(store_t *s)
{
    for (size_t i = 0; i != s->num_creds; ++i) {
        store_cred_t *c = &s->creds[i];
        OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
        free(c->access_key);
        free(c->secret_key);
        for (size_t j = 0; j != c->num_buckets; ++j)
            free(c->buckets[j]);
        free(c->buckets);
    }
    free(s->creds);
    s->creds = NULL;
    s->num_creds = 0;
}

const store_cred_t *store_find_cred(const store_t *s, const char *access_key)
{
    /* access key ids are not secret (they travel in the clear); the secrets are compared by HMAC in constant time */
    for (size_t i = 0; i != s->num_creds; ++i)
        if (strcmp(s->creds[i].access_key, access_key) == 0)
            return &s->creds[i];
    return NULL;
}

int store_cred_bucket_allowed(const store_cred_t *c, const char *bucket, size_t len)
{
    char name[64]; /* bucket names have 3 to 63 characters */
    if (c->num_buckets == 0)
        return 1;
    if (len >= sizeof(name))
        return 0;
    memcpy(name, bucket, len);
    name[len] = '\0';
    for (size_t i = 0; i != c->num_buckets; ++i)
        if (fnmatch(c->buckets[i], name, 0) == 0)
            return 1;
    return 0;
}

void store_get_credentials(store_t *s, const char **access_key, const char **secret_key)
{
    *access_key = s->creds[s->self_cred].access_key;
    *secret_key = s->creds[s->self_cred].secret_key;
}

const char *store_api_secret(store_t *s, const char *access_key, int *restricted)
{
    const store_cred_t *c = store_find_cred(s, access_key);
    *restricted = 0;
    if (c == NULL || c->internal)
        return NULL;
    if (!full_access(c)) {
        *restricted = 1;
        return NULL;
    }
    return c->secret_key;
}

/* ---- authentication ---------------------------------------------------------------------------------------------------------- */

static char *xml_escape_dup(h2o_mem_pool_t *pool, const char *tag, const char *s, size_t len)
{
    store_xml_t x = {{0}, 0};
    store_xml_elem(&x, tag, s, len);
    if (x.failed || x.buf.base == NULL) {
        store_xml_free(&x);
        return NULL;
    }
    char *r = h2o_strdup(pool, x.buf.base, x.buf.len).base;
    store_xml_free(&x);
    return r;
}

/* `<tag>2026-...Z</tag>` of a time in seconds, in pool memory */
static char *xml_time(h2o_mem_pool_t *pool, const char *tag, time_t t)
{
    char iso[32];
    store_xml_iso8601((int64_t)t * 1000, iso);
    return xml_escape_dup(pool, tag, iso, strlen(iso));
}

/* every request header, plus host (h2o keeps it elsewhere) and content-length (h2o keeps it elsewhere too: the value the
 * client sent, from the head, so that a request can be authenticated before its body is read); room for one more (expect) */
static sigv4_header_t *all_headers(store_req_t *sr, int with_length, size_t *num)
{
    store_http_t *req = sr->req;
    size_t n = 0;
    sigv4_header_t *hs = h2o_mem_alloc_pool(&req->pool, sizeof(*hs) * (req->headers.size + 4));
    for (size_t i = 0; i != req->headers.size; ++i)
        hs[n++] = (sigv4_header_t){{req->headers.entries[i].name->base, req->headers.entries[i].name->len},
                                   {req->headers.entries[i].value.base, req->headers.entries[i].value.len}};
    hs[n++] = (sigv4_header_t){sigv4_cstr("host"), {req->input.authority.base, req->input.authority.len}};
    if (with_length) {
        size_t len = req->entity.base != NULL ? req->entity.len : 0; /* a streamed body: its Content-Length */
        char *cl = h2o_mem_alloc_pool(&req->pool, 24);
        snprintf(cl, 24, "%zu", len);
        hs[n++] = (sigv4_header_t){sigv4_cstr("content-length"), sigv4_cstr(cl)};
    }
    *num = n;
    return hs;
}

static int unknown_key(store_req_t *sr)
{
    return store_send_error(sr, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                            NULL);
}

/* the payload mode of a SigV2 request: a body digest the client sent is still checked; aws-chunked with chunk signatures is
 * SigV4's alone */
static int v2_payload(store_req_t *sr)
{
    h2o_iovec_t ph = store_req_header(sr, "x-amz-content-sha256");
    if (ph.base == NULL || h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_UNSIGNED_PAYLOAD))) {
        sr->payload_hash = h2o_iovec_init(H2O_STRLIT(SIGV4_UNSIGNED_PAYLOAD));
        return 0;
    }
    if (store_is_hex64(ph) || h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_STREAMING_UNSIGNED_TRAILER))) {
        sr->payload_hash = ph;
        return 0;
    }
    return store_send_error(sr, 400, "InvalidRequest",
                            "x-amz-content-sha256 must be a SHA-256 hex digest, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-"
                            "TRAILER with AWS Signature Version 2 (signed aws-chunked bodies need Signature Version 4).",
                            NULL),
           -1;
}

/* AWS Signature Version 2: `Authorization: AWS AKID:signature`, or a presigned URL (AWSAccessKeyId, Expires, Signature) */
static int authenticate_v2(store_req_t *sr, h2o_iovec_t authz)
{
    store_http_t *req = sr->req;
    h2o_mem_pool_t *pool = &req->pool;
    sigv2_auth_t auth;
    const char *reason = "";
    sigv4_str_t query = {sr->raw_query.base, sr->raw_query.len};
    time_t now = time(NULL), t;
    int r;

    if (authz.base != NULL) {
        if (sigv2_parse_authorization((sigv4_str_t){authz.base, authz.len}, &auth, &reason) != 0)
            return store_send_error(sr, 400, "InvalidArgument", reason, NULL), -1;
    } else if ((r = sigv2_parse_presigned(query, &auth, &reason)) != 0) {
        if (r == SIGV4_ERR_NOMEM)
            return store_send_fs_error(sr, STORE_FS_ENOMEM), -1;
        return store_send_error(sr, 403, "AccessDenied", reason, NULL), -1;
    }
    const store_cred_t *cred = store_find_cred(sr->store, auth.access_key);
    if (cred == NULL)
        return unknown_key(sr), -1;

    size_t n;
    sigv4_header_t *hs = all_headers(sr, 0, &n);
    sigv2_request_t vreq = {{req->method.base, req->method.len},
                            {sr->raw_path.base, sr->raw_path.len},
                            query,
                            sr->virtual_hosted ? (sigv4_str_t){sr->bucket.base, sr->bucket.len} : (sigv4_str_t){NULL, 0},
                            hs,
                            n};
    if ((r = sigv2_check_time(&auth, &vreq, now, &t, &reason)) != 0) {
        char *a = xml_time(pool, auth.presigned ? "Expires" : "RequestTime", t), *b = xml_time(pool, "ServerTime", now);
        char extra[256];
        snprintf(extra, sizeof(extra), "%s%s", r == SIGV4_ERR_EXPIRED || r == SIGV4_ERR_SKEW ? a : "", b);
        if (r == SIGV4_ERR_SKEW)
            snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "<MaxAllowedSkewMilliseconds>%d</MaxAllowedSkewMilliseconds>",
                     SIGV2_MAX_SKEW * 1000);
        return store_send_error(sr, 403, r == SIGV4_ERR_SKEW ? "RequestTimeTooSkewed" : "AccessDenied", reason, extra), -1;
    }
    sigv4_buf_t sts = {0};
    r = sigv2_verify(&auth, &vreq, sigv4_cstr(cred->secret_key), &sts);
    if (r == SIGV4_ERR_NOMEM) {
        sigv4_buf_free(&sts);
        return store_send_fs_error(sr, STORE_FS_ENOMEM), -1;
    }
    if (r != 0) {
        /* what S3 answers: the string to sign it computed, as text and as bytes, to compare with the client's */
        char *extra = NULL;
        if (sts.base != NULL) {
            char *bytes = h2o_mem_alloc_pool(pool, sts.len * 3 + 1);
            for (size_t i = 0; i != sts.len; ++i)
                snprintf(bytes + 3 * i, 4, i + 1 == sts.len ? "%02x" : "%02x ", (unsigned char)sts.base[i]);
            bytes[sts.len != 0 ? sts.len * 3 - 1 : 0] = '\0';
            char *a = xml_escape_dup(pool, "AWSAccessKeyId", auth.access_key, strlen(auth.access_key));
            char *b = xml_escape_dup(pool, "StringToSign", sts.base, sts.len);
            char *c = xml_escape_dup(pool, "SignatureProvided", auth.signature, strlen(auth.signature));
            char *d = xml_escape_dup(pool, "StringToSignBytes", bytes, strlen(bytes));
            if (a != NULL && b != NULL && c != NULL && d != NULL) {
                size_t len = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
                extra = h2o_mem_alloc_pool(pool, len);
                snprintf(extra, len, "%s%s%s%s", a, b, c, d);
            }
        }
        sigv4_buf_free(&sts);
        return store_send_error(sr, 403, "SignatureDoesNotMatch",
                                "The request signature we calculated does not match the signature you provided. Check your key "
                                "and signing method.",
                                extra),
               -1;
    }
    sigv4_buf_free(&sts);
    if (v2_payload(sr) != 0)
        return -1;
    sr->cred = cred;
    sr->sigv2 = 1;
    return 0;
}

int store_authenticate(store_req_t *sr)
{
    store_t *s = sr->store;
    store_http_t *req = sr->req;
    sigv4_auth_t auth;
    const char *reason = "";
    h2o_iovec_t authz = store_req_header(sr, "authorization");
    sigv4_str_t query = {sr->raw_query.base, sr->raw_query.len};
    int presigned = sigv4_query_is_presigned(query), presigned_v2 = !presigned && sigv2_query_is_presigned(query);
    time_t now = time(NULL);
    int r;

    sr->cred = NULL;
    if (authz.base == NULL && !presigned && !presigned_v2)
        return store_send_error(sr, 403, "AccessDenied",
                                "Access Denied: anonymous requests are not allowed; sign requests with AWS Signature Version 4 "
                                "or 2.",
                                NULL),
               -1;
    if (authz.base != NULL && (presigned || presigned_v2))
        return store_send_error(sr, 400, "InvalidArgument",
                                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                                "string parameter or the Authorization header should be specified.",
                                NULL),
               -1;
    if (presigned_v2 || sigv2_is_authorization((sigv4_str_t){authz.base, authz.len}))
        return authenticate_v2(sr, authz);
    if (authz.base != NULL) {
        h2o_iovec_t amz_date = store_req_header(sr, "x-amz-date"), date = store_req_header(sr, "date");
        r = sigv4_parse_authorization((sigv4_str_t){authz.base, authz.len}, (sigv4_str_t){amz_date.base, amz_date.len},
                                      (sigv4_str_t){date.base, date.len}, &auth, &reason);
        if (r != 0)
            return store_send_error(sr, 400, "AuthorizationHeaderMalformed", reason, NULL), -1;
    } else {
        r = sigv4_parse_presigned(query, &auth, &reason);
        if (r != 0)
            return store_send_error(sr, 400, "AuthorizationQueryParametersError", reason, NULL), -1;
    }
    const store_cred_t *cred = store_find_cred(s, auth.access_key);
    if (cred == NULL)
        return unknown_key(sr), -1;
    if (strcmp(auth.service, "s3") != 0)
        return store_send_error(sr, 400, auth.presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
                                "The credential scope must name the service 's3'.", NULL),
               -1;
    if ((r = sigv4_check_time(&auth, now, &reason)) != 0) {
        if (r == SIGV4_ERR_EXPIRED)
            return store_send_error(sr, 403, "AccessDenied", "Request has expired", NULL), -1;
        if (r == SIGV4_ERR_SKEW)
            return store_send_error(sr, 403, "RequestTimeTooSkewed", reason, NULL), -1;
        return store_send_error(sr, auth.presigned ? 403 : 400,
                                auth.presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed", reason,
                                NULL),
               -1;
    }

    /* the payload mode */
    h2o_iovec_t ph = store_req_header(sr, "x-amz-content-sha256");
    if (ph.base == NULL) {
        if (!auth.presigned)
            return store_send_error(sr, 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256",
                                    NULL),
                   -1;
        ph = h2o_iovec_init(H2O_STRLIT(SIGV4_UNSIGNED_PAYLOAD));
    }
    if (!(store_is_hex64(ph) || h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_UNSIGNED_PAYLOAD)) ||
          h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_STREAMING_PAYLOAD)) ||
          h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_STREAMING_PAYLOAD_TRAILER)) ||
          h2o_memis(ph.base, ph.len, H2O_STRLIT(SIGV4_STREAMING_UNSIGNED_TRAILER))))
        return store_send_error(sr, 400, "InvalidArgument",
                                "x-amz-content-sha256 must be a SHA-256 hex digest, UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-"
                                "TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER].",
                                NULL),
               -1;
    sr->payload_hash = ph;

    size_t n;
    sigv4_header_t *hs = all_headers(sr, sigv4_signs_header(&auth, "content-length"), &n);
    /* h2o answers Expect: 100-continue itself and drops the header, keeping no copy of its case */
    static const char *const expect_variants[] = {"100-continue", "100-Continue"};
    int with_expect = sigv4_signs_header(&auth, "expect"), num_variants = with_expect ? 2 : 1;
    size_t base_n = n;
    /* the canonical URI: S3's rule (each segment decoded and encoded once); then the raw path, for clients that sign as sent */
    sigv4_buf_t canon = {0};
    sigv4_canonical_uri((sigv4_str_t){sr->raw_path.base, sr->raw_path.len}, SIGV4_F_S3, &canon);
    int num_flags =
        canon.base != NULL && (canon.len != sr->raw_path.len || memcmp(canon.base, sr->raw_path.base, canon.len) != 0) ? 2 : 1;
    sigv4_buf_free(&canon);
    static const int flag_set[] = {SIGV4_F_S3, SIGV4_F_PATH_AS_IS};

    sigv4_request_t vreq = {
        {req->method.base, req->method.len}, {sr->raw_path.base, sr->raw_path.len}, query, hs, 0, {ph.base, ph.len}};
    sigv4_verify_detail_t detail = {{0}};
    uint8_t key[32];
    r = SIGV4_ERR_MISMATCH;
    for (int e = 0; e != num_variants && r != 0; ++e) {
        n = base_n;
        if (with_expect)
            hs[n++] = (sigv4_header_t){sigv4_cstr("expect"), sigv4_cstr(expect_variants[e])};
        vreq.num_headers = n;
        for (int f = 0; f != num_flags && r != 0; ++f) {
            sigv4_verify_detail_t *d = detail.canonical_request.base == NULL ? &detail : NULL;
            r = sigv4_verify(&auth, &vreq, sigv4_cstr(cred->secret_key), flag_set[f], key, d, &reason);
            if (r == SIGV4_ERR_MISSING || r == SIGV4_ERR_MALFORMED || r == SIGV4_ERR_NOMEM)
                goto verdict;
        }
    }
verdict:
    if (r != 0) {
        if (r == SIGV4_ERR_MISMATCH) {
            char *extra = NULL;
            if (detail.canonical_request.base != NULL) {
                char *a = xml_escape_dup(&req->pool, "StringToSign", detail.string_to_sign.base, detail.string_to_sign.len);
                char *b =
                    xml_escape_dup(&req->pool, "CanonicalRequest", detail.canonical_request.base, detail.canonical_request.len);
                char *c = xml_escape_dup(&req->pool, "AWSAccessKeyId", auth.access_key, strlen(auth.access_key));
                char *d = xml_escape_dup(&req->pool, "SignatureProvided", auth.signature, 64);
                if (a != NULL && b != NULL && c != NULL && d != NULL) {
                    size_t len = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
                    extra = h2o_mem_alloc_pool(&req->pool, len);
                    snprintf(extra, len, "%s%s%s%s", c, a, d, b);
                }
            }
            store_send_error(sr, 403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature you provided. Check your key "
                             "and signing method.",
                             extra);
        } else if (r == SIGV4_ERR_NOMEM) {
            store_send_fs_error(sr, STORE_FS_ENOMEM);
        } else {
            store_send_error(sr, 403, auth.presigned ? "AccessDenied" : "SignatureDoesNotMatch", reason, NULL);
        }
        sigv4_buf_free(&detail.canonical_request);
        sigv4_buf_free(&detail.string_to_sign);
        return -1;
    }
    sigv4_buf_free(&detail.canonical_request);
    sigv4_buf_free(&detail.string_to_sign);
    char scope[160];
    sigv4_scope(scope, sizeof(scope), auth.date, sigv4_cstr(auth.region), sigv4_cstr(auth.service));
    sigv4_chunk_init(&sr->chain, key, auth.amz_date, scope, auth.signature);
    OPENSSL_cleanse(key, sizeof(key));
    sr->cred = cred;
    return 0;
}

/* ---- authorization ----------------------------------------------------------------------------------------------------------- */

static int denied(store_req_t *sr, const char *why, const char *bucket, size_t len)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "Access Denied: the access key %s %s%.*s%s", sr->cred->access_key, why, (int)len, bucket,
             len != 0 ? "." : "");
    return store_send_error(sr, 403, "AccessDenied", msg, NULL), -1;
}

int store_authorize(store_req_t *sr)
{
    const store_cred_t *c = sr->cred;
    h2o_iovec_t m = sr->req->method;
    int read = h2o_memis(m.base, m.len, H2O_STRLIT("GET")) || h2o_memis(m.base, m.len, H2O_STRLIT("HEAD"));
    if (c == NULL)
        return store_send_error(sr, 403, "AccessDenied", "Access Denied", NULL), -1;
    if (c->read_only && !read)
        return denied(sr, "is read-only: it may not write (PUT, POST, DELETE)", "", 0);
    if (c->num_buckets == 0 || sr->bucket.len == 0) /* ListBuckets shows such a key only its buckets */
        return 0;
    if (!store_cred_bucket_allowed(c, sr->bucket.base, sr->bucket.len))
        return denied(sr, "may not use the bucket ", sr->bucket.base, sr->bucket.len);
    /* a copy reads its source: [/]bucket/key[?versionId=...], percent-encoded */
    h2o_iovec_t src = store_req_header(sr, "x-amz-copy-source");
    if (src.base != NULL) {
        const char *p = src.base, *end = src.base + src.len;
        if (p < end && *p == '/')
            ++p;
        const char *slash = memchr(p, '/', (size_t)(end - p)), *q = memchr(p, '?', (size_t)(end - p));
        const char *e = slash != NULL ? slash : q != NULL ? q : end;
        h2o_iovec_t b = store_decode(&sr->req->pool, p, (size_t)(e - p));
        if (!store_cred_bucket_allowed(c, b.base, b.len))
            return denied(sr, "may not read the copy source bucket ", b.base, b.len);
    }
    return 0;
}

int store_auth_bucket_visible(const store_req_t *sr, const char *bucket)
{
    return sr->cred == NULL || store_cred_bucket_allowed(sr->cred, bucket, strlen(bucket));
}
