/* sigv4/sigv2.c - AWS Signature Version 2 for S3: parsing the Authorization header and the presigned query, the string to
 * sign, HMAC-SHA1 signing and constant-time verification */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "base/str.h"
#include "sigv4/sigv2.h"

/* ---- small helpers ------------------------------------------------------------------------------------------------------------- */

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static sigv4_str_t trim(sigv4_str_t s)
{
    while (s.len != 0 && is_ws(s.base[0])) {
        ++s.base;
        --s.len;
    }
    while (s.len != 0 && is_ws(s.base[s.len - 1]))
        --s.len;
    return s;
}

static int ci_prefix(sigv4_str_t s, const char *lc)
{
    size_t n = strlen(lc);
    return s.len >= n && edge_lcstris(s.base, n, lc, n);
}

static int buf_add(sigv4_buf_t *b, sigv4_str_t s)
{
    return sigv4_buf_append(b, s.base != NULL ? s.base : "", s.len);
}

static int buf_addc(sigv4_buf_t *b, const char *s)
{
    return sigv4_buf_append(b, s, strlen(s));
}

/* the value of the first header named lc (lowercase), or {NULL, 0} */
static sigv4_str_t header(const sigv2_request_t *req, const char *lc)
{
    size_t n = strlen(lc);
    for (size_t i = 0; i != req->num_headers; ++i)
        if (req->headers[i].name.len == n && edge_lcstris(req->headers[i].name.base, n, lc, n))
            return req->headers[i].value.base != NULL ? req->headers[i].value : (sigv4_str_t){"", 0};
    return (sigv4_str_t){NULL, 0};
}

/* one `name[=value]` pair of a raw query */
typedef struct qpair {
    sigv4_str_t name, value; /* raw */
    int has_eq;
} qpair_t;

/* the next pair at *p (empty pairs skipped); 0 at the end */
static int next_pair(const char **p, const char *end, qpair_t *out)
{
    while (*p < end) {
        const char *amp = memchr(*p, '&', (size_t)(end - *p)), *e = amp != NULL ? amp : end;
        const char *s = *p;
        *p = e < end ? e + 1 : end;
        if (e == s)
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        out->name = (sigv4_str_t){s, (size_t)((eq != NULL ? eq : e) - s)};
        out->value = eq != NULL ? (sigv4_str_t){eq + 1, (size_t)(e - eq - 1)} : (sigv4_str_t){"", 0};
        out->has_eq = eq != NULL;
        return 1;
    }
    return 0;
}

/* percent-decodes s into a new NUL-terminated malloc'd string (NULL on allocation failure) */
static char *decode_dup(sigv4_str_t s, size_t *len)
{
    char *d = malloc(s.len + 1);
    if (d == NULL)
        return NULL;
    *len = s.len != 0 ? edge_pct_decode(d, s.base, s.len) : 0;
    d[*len] = '\0';
    return d;
}

/* 1 if the raw query name decodes to exactly `want` */
static int name_is(sigv4_str_t raw, const char *want)
{
    char buf[64];
    size_t n;
    if (raw.len >= sizeof(buf))
        return 0;
    n = raw.len != 0 ? edge_pct_decode(buf, raw.base, raw.len) : 0;
    return n == strlen(want) && memcmp(buf, want, n) == 0;
}

/* ---- parsing ---------------------------------------------------------------------------------------------------------------- */

int sigv2_is_authorization(sigv4_str_t a)
{
    return a.len > 4 && memcmp(a.base, "AWS ", 4) == 0;
}

static void set_signature(sigv2_auth_t *auth, const char *sig, size_t len)
{
    uint8_t mac[3 * (128 + 3) / 4 + 4];
    if (len >= sizeof(auth->signature))
        len = sizeof(auth->signature) - 1;
    memcpy(auth->signature, sig, len);
    auth->signature[len] = '\0';
    for (size_t i = 0; i != len; ++i)
        if (auth->signature[i] == ' ')
            auth->signature[i] = '+'; /* an unencoded `+` of a presigned URL that a decoder read as a space */
    long n = len <= 128 ? edge_base64_decode(mac, auth->signature, len, EDGE_BASE64_STRICT) : -1;
    auth->mac_ok = n == 20;
    if (auth->mac_ok)
        memcpy(auth->mac, mac, 20);
}

int sigv2_parse_authorization(sigv4_str_t value, sigv2_auth_t *auth, const char **reason)
{
    memset(auth, 0, sizeof(*auth));
    *reason = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature";
    if (!sigv2_is_authorization(value))
        return SIGV4_ERR_MALFORMED;
    sigv4_str_t rest = trim((sigv4_str_t){value.base + 4, value.len - 4});
    const char *colon = rest.len != 0 ? memrchr(rest.base, ':', rest.len) : NULL;
    if (colon == NULL)
        return SIGV4_ERR_MALFORMED;
    sigv4_str_t ak = trim((sigv4_str_t){rest.base, (size_t)(colon - rest.base)});
    sigv4_str_t sig = trim((sigv4_str_t){colon + 1, (size_t)(rest.base + rest.len - colon - 1)});
    if (ak.len == 0 || ak.len >= sizeof(auth->access_key) || sig.len == 0 || memchr(ak.base, ':', ak.len) != NULL)
        return SIGV4_ERR_MALFORMED;
    for (size_t i = 0; i != ak.len; ++i)
        if ((unsigned char)ak.base[i] <= ' ' || ak.base[i] == 0x7f)
            return SIGV4_ERR_MALFORMED;
    memcpy(auth->access_key, ak.base, ak.len);
    auth->access_key[ak.len] = '\0';
    set_signature(auth, sig.base, sig.len);
    *reason = "";
    return 0;
}

int sigv2_query_is_presigned(sigv4_str_t query)
{
    const char *p = query.base, *end = query.base + query.len;
    qpair_t q;
    if (query.len == 0)
        return 0;
    while (next_pair(&p, end, &q))
        if (name_is(q.name, "AWSAccessKeyId") || name_is(q.name, "Signature"))
            return 1;
    return 0;
}

int sigv2_parse_presigned(sigv4_str_t query, sigv2_auth_t *auth, const char **reason)
{
    const char *p = query.base, *end = query.base + query.len;
    qpair_t q, ak = {{0}}, sig = {{0}}, exp = {{0}};
    int nak = 0, nsig = 0, nexp = 0;
    memset(auth, 0, sizeof(*auth));
    auth->presigned = 1;
    while (query.len != 0 && next_pair(&p, end, &q)) {
        if (name_is(q.name, "AWSAccessKeyId"))
            ak = q, ++nak;
        else if (name_is(q.name, "Signature"))
            sig = q, ++nsig;
        else if (name_is(q.name, "Expires"))
            exp = q, ++nexp;
    }
    if (nak != 1 || nsig != 1 || nexp != 1) {
        *reason = nak > 1 || nsig > 1 || nexp > 1
                      ? "Query-string authentication takes each of the AWSAccessKeyId, Expires and Signature parameters once."
                      : "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters";
        return SIGV4_ERR_MISSING;
    }
    size_t len;
    char *v = decode_dup(ak.value, &len);
    if (v == NULL) {
        *reason = "out of memory";
        return SIGV4_ERR_NOMEM;
    }
    int bad = len == 0 || len >= sizeof(auth->access_key) || strlen(v) != len;
    if (!bad)
        memcpy(auth->access_key, v, len + 1);
    free(v);
    if (bad) {
        *reason = "The AWSAccessKeyId parameter is empty or invalid.";
        return SIGV4_ERR_MALFORMED;
    }
    if ((v = decode_dup(sig.value, &len)) == NULL) {
        *reason = "out of memory";
        return SIGV4_ERR_NOMEM;
    }
    set_signature(auth, v, len);
    free(v);
    /* Expires: decimal seconds since the epoch, as sent (it is the Date line of the string to sign) */
    if ((v = decode_dup(exp.value, &len)) == NULL) {
        *reason = "out of memory";
        return SIGV4_ERR_NOMEM;
    }
    bad = len == 0 || len > 15;
    long long t = 0;
    for (size_t i = 0; !bad && i != len; ++i) {
        if (v[i] < '0' || v[i] > '9')
            bad = 1;
        else
            t = t * 10 + (v[i] - '0');
    }
    if (!bad) {
        memcpy(auth->expires_text, v, len + 1);
        auth->expires = (time_t)t;
    }
    free(v);
    if (bad) {
        *reason = "Invalid date (should be seconds since epoch): the Expires parameter is not a number.";
        return SIGV4_ERR_MALFORMED;
    }
    *reason = "";
    return 0;
}

/* ---- the string to sign ----------------------------------------------------------------------------------------------------- */

int sigv2_is_subresource(sigv4_str_t name)
{
    /* S3's list (the REST authentication documentation), the response-* overrides, and what botocore and s3cmd add */
    static const char *const names[] = {"accelerate",
                                        "acl",
                                        "analytics",
                                        "cors",
                                        "defaultObjectAcl",
                                        "delete",
                                        "inventory",
                                        "lifecycle",
                                        "location",
                                        "logging",
                                        "metrics",
                                        "notification",
                                        "object-lock",
                                        "partNumber",
                                        "policy",
                                        "replication",
                                        "requestPayment",
                                        "response-cache-control",
                                        "response-content-disposition",
                                        "response-content-encoding",
                                        "response-content-language",
                                        "response-content-type",
                                        "response-expires",
                                        "restore",
                                        "select",
                                        "select-type",
                                        "storageClass",
                                        "tagging",
                                        "torrent",
                                        "uploadId",
                                        "uploads",
                                        "versionId",
                                        "versioning",
                                        "versions",
                                        "website",
                                        NULL};
    for (const char *const *n = names; *n != NULL; ++n)
        if (strlen(*n) == name.len && memcmp(*n, name.base, name.len) == 0)
            return 1;
    return 0;
}

/* a name/value entry sorted by name, stably (the input order breaks ties, so repeated names keep their order) */
typedef struct entry {
    char *name; /* malloc'd: lowercased header name, or decoded parameter name */
    size_t name_len;
    sigv4_str_t value;
    char *value_owned; /* malloc'd value (decoded), or NULL when value points into the request */
    int has_eq;
    size_t order;
} entry_t;

static int entry_cmp(const void *pa, const void *pb)
{
    const entry_t *a = pa, *b = pb;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c != 0)
        return c;
    if (a->name_len != b->name_len)
        return a->name_len < b->name_len ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static void entries_free(entry_t *e, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        free(e[i].name);
        free(e[i].value_owned);
    }
    free(e);
}

/* CanonicalizedAmzHeaders: `name:v1,v2\n` for each x-amz-* name */
static int amz_headers(const sigv2_request_t *req, int presigned, sigv4_buf_t *out)
{
    size_t cap = req->num_headers, n = 0;
    const char *p = req->query.base, *end = req->query.base + req->query.len;
    qpair_t q;
    int r = SIGV4_ERR_NOMEM;
    if (presigned)
        for (size_t i = 0; i != req->query.len; ++i)
            cap += req->query.base[i] == '&';
    entry_t *e = calloc(cap + 1, sizeof(*e));
    if (e == NULL)
        return SIGV4_ERR_NOMEM;
    for (size_t i = 0; i != req->num_headers; ++i) {
        const sigv4_header_t *h = &req->headers[i];
        if (!ci_prefix(h->name, "x-amz-"))
            continue;
        if ((e[n].name = malloc(h->name.len + 1)) == NULL)
            goto out;
        for (size_t k = 0; k != h->name.len; ++k)
            e[n].name[k] = (char)edge_tolower((unsigned char)h->name.base[k]);
        e[n].name_len = h->name.len;
        e[n].value = trim(h->value.base != NULL ? h->value : (sigv4_str_t){"", 0});
        e[n].order = n;
        ++n;
    }
    /* a presigned URL carries the x-amz-* headers it signed as query parameters (botocore puts x-amz-security-token there) */
    while (presigned && req->query.len != 0 && next_pair(&p, end, &q)) {
        size_t nl, vl;
        char *name = decode_dup(q.name, &nl);
        if (name == NULL)
            goto out;
        if (!ci_prefix((sigv4_str_t){name, nl}, "x-amz-")) {
            free(name);
            continue;
        }
        for (size_t k = 0; k != nl; ++k)
            name[k] = (char)edge_tolower((unsigned char)name[k]);
        e[n].name = name;
        e[n].name_len = nl;
        if ((e[n].value_owned = decode_dup(q.value, &vl)) == NULL)
            goto out_n;
        e[n].value = trim((sigv4_str_t){e[n].value_owned, vl});
        e[n].order = n;
        ++n;
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    for (size_t i = 0; i != n;) {
        if (sigv4_buf_append(out, e[i].name, e[i].name_len) != 0 || buf_addc(out, ":") != 0 || buf_add(out, e[i].value) != 0)
            goto out;
        size_t j = i + 1;
        for (; j != n && e[j].name_len == e[i].name_len && memcmp(e[j].name, e[i].name, e[i].name_len) == 0; ++j)
            if (buf_addc(out, ",") != 0 || buf_add(out, e[j].value) != 0)
                goto out;
        if (buf_addc(out, "\n") != 0)
            goto out;
        i = j;
    }
    r = 0;
    goto out;
out_n:
    ++n; /* the entry being filled owns its name */
out:
    entries_free(e, n);
    return r;
}

/* CanonicalizedResource */
static int resource(const sigv2_request_t *req, int variant, sigv4_buf_t *out)
{
    const char *p = req->query.base, *end = req->query.base + req->query.len;
    qpair_t q;
    size_t cap = 1, n = 0;
    int r = SIGV4_ERR_NOMEM;
    if (req->bucket.len != 0 && (buf_addc(out, "/") != 0 || buf_add(out, req->bucket) != 0))
        return SIGV4_ERR_NOMEM;
    sigv4_str_t path = req->path.len != 0 ? req->path : (sigv4_str_t){"/", 1};
    if (variant & SIGV2_V_PATH_ENCODED) {
        if (sigv4_canonical_uri(path, SIGV4_F_S3, out) != 0)
            return SIGV4_ERR_NOMEM;
    } else if (variant & SIGV2_V_PATH_DECODED) {
        if (sigv4_uri_decode(out, path) != 0)
            return SIGV4_ERR_NOMEM;
    } else if (buf_add(out, path) != 0) {
        return SIGV4_ERR_NOMEM;
    }
    if ((variant & SIGV2_V_BUCKET_SLASH) && req->bucket.len == 0 && path.len > 1 && memchr(path.base + 1, '/', path.len - 1) == NULL &&
        buf_addc(out, "/") != 0)
        return SIGV4_ERR_NOMEM;
    if ((variant & SIGV2_V_LITERAL_QUERY) && req->query.len != 0) {
        const char *amp = memchr(req->query.base, '&', req->query.len);
        size_t l = amp != NULL ? (size_t)(amp - req->query.base) : req->query.len;
        if (buf_addc(out, "?") != 0 || sigv4_buf_append(out, req->query.base, l) != 0)
            return SIGV4_ERR_NOMEM;
    }
    for (size_t i = 0; i != req->query.len; ++i)
        cap += req->query.base[i] == '&';
    entry_t *e = calloc(cap, sizeof(*e));
    if (e == NULL)
        return SIGV4_ERR_NOMEM;
    while (req->query.len != 0 && next_pair(&p, end, &q)) {
        size_t nl, vl;
        char *name = decode_dup(q.name, &nl);
        if (name == NULL)
            goto out;
        if (!sigv2_is_subresource((sigv4_str_t){name, nl})) {
            free(name);
            continue;
        }
        e[n].name = name;
        e[n].name_len = nl;
        e[n].has_eq = q.has_eq;
        e[n].order = n;
        if (variant & SIGV2_V_RAW_VALUES) {
            e[n].value = q.value;
        } else {
            if ((e[n].value_owned = decode_dup(q.value, &vl)) == NULL) {
                ++n;
                goto out;
            }
            e[n].value = (sigv4_str_t){e[n].value_owned, vl};
        }
        ++n;
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    for (size_t i = 0; i != n; ++i) {
        if (buf_addc(out, i == 0 ? "?" : "&") != 0 || sigv4_buf_append(out, e[i].name, e[i].name_len) != 0)
            goto out;
        int eq = e[i].value.len != 0 || (e[i].has_eq && !(variant & SIGV2_V_NO_EMPTY_EQUALS));
        if (eq && (buf_addc(out, "=") != 0 || buf_add(out, e[i].value) != 0))
            goto out;
    }
    r = 0;
out:
    entries_free(e, n);
    return r;
}

int sigv2_string_to_sign(const sigv2_request_t *req, const char *expires_text, int variant, sigv4_buf_t *out)
{
    int presigned = expires_text != NULL, from_query[3] = {0, 0, 0};
    sigv4_str_t lines[3] = {header(req, "content-md5"), header(req, "content-type"), {NULL, 0}};
    if (presigned) {
        /* botocore moves the signed Content-MD5 and Content-Type into the query of a presigned URL (percent-encoded there) */
        const char *p = req->query.base, *end = req->query.base + req->query.len;
        qpair_t q;
        while (req->query.len != 0 && next_pair(&p, end, &q)) {
            for (int i = 0; i != 2; ++i)
                if (lines[i].base == NULL && name_is(q.name, i == 0 ? "content-md5" : "content-type")) {
                    lines[i] = q.value;
                    from_query[i] = 1;
                }
        }
        lines[2] = sigv4_cstr(expires_text);
    } else {
        lines[2] = header(req, "x-amz-date").base != NULL && !(variant & SIGV2_V_DATE_HEADER) ? (sigv4_str_t){"", 0}
                                                                                             : header(req, "date");
    }
    int r = buf_add(out, req->method) != 0 || buf_addc(out, "\n") != 0;
    for (int i = 0; i != 3 && r == 0; ++i) {
        sigv4_str_t v = lines[i].base != NULL ? lines[i] : (sigv4_str_t){"", 0};
        if (from_query[i]) {
            sigv4_buf_t d = {0};
            r = sigv4_uri_decode(&d, v) != 0 || buf_add(out, trim((sigv4_str_t){d.base, d.len})) != 0;
            sigv4_buf_free(&d);
        } else {
            r = buf_add(out, trim(v)) != 0;
        }
        r = r || buf_addc(out, "\n") != 0;
    }
    if (r != 0)
        return SIGV4_ERR_NOMEM;
    if ((r = amz_headers(req, presigned, out)) != 0)
        return r;
    return resource(req, variant, out);
}

/* ---- signing and verification ------------------------------------------------------------------------------------------------ */

void sigv2_mac(sigv4_str_t secret, sigv4_str_t sts, uint8_t mac[20])
{
    unsigned int len = 20;
    if (HMAC(EVP_sha1(), secret.base != NULL ? secret.base : "", (int)secret.len,
             (const unsigned char *)(sts.base != NULL ? sts.base : ""), sts.len, mac, &len) == NULL)
        memset(mac, 0, 20); /* never matches a real signature by chance: the caller compares 20 bytes */
}

void sigv2_signature(sigv4_str_t secret, sigv4_str_t sts, char b64[29])
{
    uint8_t mac[20];
    sigv2_mac(secret, sts, mac);
    edge_base64_encode(b64, mac, 20);
    OPENSSL_cleanse(mac, sizeof(mac));
}

/* RFC 1123 with GMT/UTC or a numeric zone (`+0000`, as s3cmd writes x-amz-date), other HTTP-date forms, or ISO 8601 basic */
static int parse_date(sigv4_str_t s, time_t *t)
{
    int64_t sec;
    s = trim(s);
    if (s.len == 0)
        return -1;
    if (edge_http_date_parse(s.base, s.len, &sec) == 0) {
        *t = (time_t)sec;
        return 0;
    }
    if (s.len > 6 && s.len < 64 && s.base[s.len - 6] == ' ' && (s.base[s.len - 5] == '+' || s.base[s.len - 5] == '-')) {
        char buf[72];
        int hh = 0, mm = 0;
        for (size_t i = s.len - 4; i != s.len; ++i)
            if (s.base[i] < '0' || s.base[i] > '9')
                return -1;
        hh = (s.base[s.len - 4] - '0') * 10 + (s.base[s.len - 3] - '0');
        mm = (s.base[s.len - 2] - '0') * 10 + (s.base[s.len - 1] - '0');
        if (hh > 23 || mm > 59)
            return -1;
        memcpy(buf, s.base, s.len - 5);
        memcpy(buf + s.len - 5, "GMT", 3);
        if (edge_http_date_parse(buf, s.len - 2, &sec) != 0)
            return -1;
        int64_t off = (int64_t)hh * 3600 + mm * 60;
        *t = (time_t)(s.base[s.len - 5] == '+' ? sec - off : sec + off);
        return 0;
    }
    return sigv4_parse_amz_date(s, t) == 0 ? 0 : -1;
}

int sigv2_check_time(const sigv2_auth_t *auth, const sigv2_request_t *req, time_t now, time_t *request_time, const char **reason)
{
    time_t t;
    if (auth->presigned) {
        if (request_time != NULL)
            *request_time = auth->expires;
        if (now > auth->expires) {
            *reason = "Request has expired";
            return SIGV4_ERR_EXPIRED;
        }
        *reason = "";
        return 0;
    }
    sigv4_str_t d = header(req, "x-amz-date");
    if (d.base == NULL)
        d = header(req, "date");
    if (d.base == NULL || trim(d).len == 0) {
        *reason = "AWS authentication requires a valid Date or x-amz-date header";
        return SIGV4_ERR_MISSING;
    }
    if (parse_date(d, &t) != 0) {
        *reason = "AWS authentication requires a valid Date or x-amz-date header";
        return SIGV4_ERR_MALFORMED;
    }
    if (request_time != NULL)
        *request_time = t;
    if (t > now + SIGV2_MAX_SKEW || t < now - SIGV2_MAX_SKEW) {
        *reason = "The difference between the request time and the current time is too large.";
        return SIGV4_ERR_SKEW;
    }
    *reason = "";
    return 0;
}

int sigv2_verify(const sigv2_auth_t *auth, const sigv2_request_t *req, sigv4_str_t secret, sigv4_buf_t *string_to_sign)
{
    static const int variants[] = {0,
                                   SIGV2_V_RAW_VALUES,
                                   SIGV2_V_NO_EMPTY_EQUALS,
                                   SIGV2_V_RAW_VALUES | SIGV2_V_NO_EMPTY_EQUALS,
                                   SIGV2_V_PATH_ENCODED,
                                   SIGV2_V_PATH_ENCODED | SIGV2_V_RAW_VALUES,
                                   SIGV2_V_PATH_DECODED,
                                   SIGV2_V_BUCKET_SLASH,
                                   SIGV2_V_BUCKET_SLASH | SIGV2_V_RAW_VALUES,
                                   SIGV2_V_LITERAL_QUERY,
                                   SIGV2_V_DATE_HEADER,
                                   SIGV2_V_DATE_HEADER | SIGV2_V_BUCKET_SLASH};
    const char *expires = auth->presigned ? auth->expires_text : NULL;
    int has_both_dates = !auth->presigned && header(req, "x-amz-date").base != NULL && header(req, "date").base != NULL;
    int bucket_only = req->bucket.len == 0 && req->path.len > 1 && memchr(req->path.base + 1, '/', req->path.len - 1) == NULL;
    int matched = 0;
    for (size_t i = 0; i != sizeof(variants) / sizeof(variants[0]); ++i) {
        if (((variants[i] & SIGV2_V_DATE_HEADER) && !has_both_dates) || ((variants[i] & SIGV2_V_BUCKET_SLASH) && !bucket_only) ||
            ((variants[i] & SIGV2_V_LITERAL_QUERY) && (auth->presigned || req->query.len == 0)))
            continue;
        sigv4_buf_t sts = {0};
        uint8_t mac[20];
        if (sigv2_string_to_sign(req, expires, variants[i], &sts) != 0) {
            sigv4_buf_free(&sts);
            return SIGV4_ERR_NOMEM;
        }
        sigv2_mac(secret, (sigv4_str_t){sts.base, sts.len}, mac);
        /* constant time, and every 20 bytes compared even when the claimed signature could not be decoded */
        int eq = CRYPTO_memcmp(mac, auth->mac, 20) == 0;
        matched |= eq & (auth->mac_ok != 0);
        OPENSSL_cleanse(mac, sizeof(mac));
        if (i == 0 && string_to_sign != NULL) {
            *string_to_sign = sts;
        } else {
            sigv4_buf_free(&sts);
        }
        if (matched)
            return 0;
    }
    return SIGV4_ERR_MISMATCH;
}

static int append_encoded(sigv4_buf_t *out, const char *s, size_t len)
{
    return sigv4_uri_encode(out, (sigv4_str_t){s, len}, 0);
}

int sigv2_sign(const sigv2_request_t *req, sigv4_str_t access_key, sigv4_str_t secret, time_t expires, sigv4_buf_t *out)
{
    char exp[24], sig[29];
    sigv4_buf_t sts = {0};
    if (expires != 0)
        snprintf(exp, sizeof(exp), "%lld", (long long)expires);
    if (sigv2_string_to_sign(req, expires != 0 ? exp : NULL, 0, &sts) != 0) {
        sigv4_buf_free(&sts);
        return SIGV4_ERR_NOMEM;
    }
    sigv2_signature(secret, (sigv4_str_t){sts.base, sts.len}, sig);
    sigv4_buf_free(&sts);
    int r;
    if (expires == 0) {
        r = buf_addc(out, "AWS ") != 0 || buf_add(out, access_key) != 0 || buf_addc(out, ":") != 0 || buf_addc(out, sig) != 0;
    } else {
        r = buf_add(out, req->query) != 0 || (req->query.len != 0 && buf_addc(out, "&") != 0) ||
            buf_addc(out, "AWSAccessKeyId=") != 0 || append_encoded(out, access_key.base, access_key.len) != 0 ||
            buf_addc(out, "&Expires=") != 0 || buf_addc(out, exp) != 0 || buf_addc(out, "&Signature=") != 0 ||
            append_encoded(out, sig, strlen(sig)) != 0;
    }
    return r != 0 ? SIGV4_ERR_NOMEM : 0;
}
