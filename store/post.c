/* store/post.c - POST Object: browser form uploads (multipart/form-data, S3's "POST policy"), signed with SigV4 (x-amz-*) or
 * SigV2 (AWSAccessKeyId, signature); the policy's conditions are store/postpolicy.c, the form parser store/multipartform.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "base/log.h"
#include "base/str.h"
#include "store/checksum.h"
#include "store/internal.h"
#include "store/notify.h"
#include "store/multipartform.h"
#include "store/postpolicy.h"

#define POST_MAX_FIELDS_SIZE (64u << 10) /* every field but the file, names and values */
#define POST_MAX_FIELDS 200
#define POST_SLICE (256u << 10)        /* the request body is read in slices of this */
#define POST_WBUF (256u << 10)         /* file data is written in blocks of this */
#define POST_MAX_OVERHEAD (128u << 10) /* a body may be this much larger than the largest file (fields, part heads) */

typedef struct post_ctx {
    store_req_t *sr;
    store_bucket_t *b;
    store_post_field_t fields[POST_MAX_FIELDS];
    size_t num_fields;
    char *fbuf; /* field names and values (pool) */
    size_t fbuf_len;
    char *cur_value; /* the field being read */
    int in_field, in_file, file_seen, committed;
    int answered; /* an error response was sent */
    store_post_policy_t policy;
    int has_policy;
    const store_cred_t *cred; /* the key that signed the policy */
    h2o_iovec_t key;
    const char *file_type; /* the file part's own Content-Type */
    store_fs_writer_t w;
    int writer_open;
    store_checksum_digest_t digest;
    int digest_ready;
    char *wbuf;
    size_t wlen;
    uint64_t size, min_size, max_size;
    int has_range;
    char etag[33];
    store_notify_ticket_t nt; /* the event notifications (store/notify.h): begun before the file is written */
} post_ctx_t;

static int err(post_ctx_t *c, int status, const char *code, const char *msg, const char *extra)
{
    store_send_error(c->sr, status, code, msg, extra);
    c->answered = 1;
    return -1;
}

static const store_post_field_t *field(post_ctx_t *c, const char *name)
{
    for (size_t i = 0; i != c->num_fields; ++i)
        if (strcmp(c->fields[i].name, name) == 0)
            return &c->fields[i];
    return NULL;
}

/* ---- authorization: the signature of the policy, then the policy --------------------------------------------------------------
 */

static int denied_anonymous(post_ctx_t *c)
{
    return err(c, 403, "AccessDenied",
               "Access Denied: anonymous POST uploads are not allowed; sign the policy (x-amz-signature with SigV4, or "
               "AWSAccessKeyId and signature).",
               NULL);
}

static int missing_field(post_ctx_t *c, const char *name)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.", name);
    return err(c, 400, "InvalidArgument", msg, NULL);
}

/* the SigV4 form: x-amz-algorithm, x-amz-credential (AK/date/region/s3/aws4_request), x-amz-date, x-amz-signature */
static int check_sigv4(post_ctx_t *c, const store_post_field_t *policy)
{
    store_t *s = c->sr->store;
    const store_post_field_t *alg = field(c, "x-amz-algorithm"), *cred = field(c, "x-amz-credential"),
                             *date = field(c, "x-amz-date"), *sig = field(c, "x-amz-signature");
    if (alg == NULL)
        return missing_field(c, "x-amz-algorithm");
    if (cred == NULL)
        return missing_field(c, "x-amz-credential");
    if (date == NULL)
        return missing_field(c, "x-amz-date");
    if (strcmp(alg->value, "AWS4-HMAC-SHA256") != 0)
        return err(c, 400, "InvalidArgument", "Only the AWS4-HMAC-SHA256 algorithm is supported for x-amz-algorithm.", NULL);
    time_t t;
    if (sigv4_parse_amz_date((sigv4_str_t){date->value, date->value_len}, &t) != 0)
        return err(c, 400, "InvalidArgument", "x-amz-date must be in the ISO8601 basic format (YYYYMMDD'T'HHMMSS'Z').", NULL);
    /* AK/YYYYMMDD/region/s3/aws4_request */
    const char *parts[5];
    size_t lens[5], np = 0;
    const char *p = cred->value, *end = cred->value + cred->value_len;
    while (np != 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        parts[np] = p;
        lens[np] = (size_t)((slash != NULL ? slash : end) - p);
        ++np;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    if (np != 5 || p + lens[4] != end || lens[1] != 8 || lens[2] == 0 || lens[2] > 32 ||
        !h2o_memis(parts[3], lens[3], H2O_STRLIT("s3")) || !h2o_memis(parts[4], lens[4], H2O_STRLIT("aws4_request")))
        return err(c, 400, "InvalidArgument", "x-amz-credential must be <access key>/<YYYYMMDD>/<region>/s3/aws4_request.", NULL);
    for (size_t i = 0; i != 8; ++i)
        if (parts[1][i] < '0' || parts[1][i] > '9')
            return err(c, 400, "InvalidArgument", "x-amz-credential has an invalid date.", NULL);
    char akbuf[129];
    const store_cred_t *sc = NULL;
    if (lens[0] < sizeof(akbuf)) {
        memcpy(akbuf, parts[0], lens[0]);
        akbuf[lens[0]] = '\0';
        sc = store_find_cred(s, akbuf);
    }
    if (sc == NULL)
        return err(c, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", NULL);
    c->cred = sc;
    char date8[9], region[33], hex[65], want[65];
    memcpy(date8, parts[1], 8);
    date8[8] = '\0';
    memcpy(region, parts[2], lens[2]);
    region[lens[2]] = '\0';
    uint8_t key[32];
    if (sigv4_signing_key(sigv4_cstr(sc->secret_key), date8, sigv4_cstr(region), sigv4_cstr("s3"), key) != 0)
        return err(c, 500, "InternalError", "We encountered an internal error. Please try again.", NULL);
    sigv4_signature(key, (sigv4_str_t){policy->value, policy->value_len}, want);
    OPENSSL_cleanse(key, sizeof(key));
    size_t n = sig->value_len < 64 ? sig->value_len : 64;
    for (size_t i = 0; i != n; ++i)
        hex[i] = (char)(sig->value[i] >= 'A' && sig->value[i] <= 'F' ? sig->value[i] + 32 : sig->value[i]);
    hex[n] = '\0';
    if (sig->value_len != 64 || !sigv4_signature_equal(hex, want))
        return err(c, 403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. Check your key and signing "
                   "method.",
                   NULL);
    c->sr->cred = sc;
    return 0;
}

/* the SigV2 form: AWSAccessKeyId, signature = base64(HMAC-SHA1(secret, policy)) */
static int check_sigv2(post_ctx_t *c, const store_post_field_t *policy)
{
    store_t *s = c->sr->store;
    const store_post_field_t *ak = field(c, "awsaccesskeyid"), *sig = field(c, "signature");
    if (ak == NULL)
        return missing_field(c, "AWSAccessKeyId");
    const store_cred_t *sc = store_find_cred(s, ak->value);
    if (sc == NULL)
        return err(c, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", NULL);
    c->cred = sc;
    uint8_t mac[EVP_MAX_MD_SIZE], given[64];
    unsigned mac_len = 0;
    if (HMAC(EVP_sha1(), sc->secret_key, (int)strlen(sc->secret_key), (const unsigned char *)policy->value, policy->value_len, mac,
             &mac_len) == NULL)
        return err(c, 500, "InternalError", "We encountered an internal error. Please try again.", NULL);
    long gl = sig->value_len <= 40 ? edge_base64_decode(given, sig->value, sig->value_len, EDGE_BASE64_STRICT) : -1;
    if (gl != (long)mac_len || CRYPTO_memcmp(given, mac, mac_len) != 0)
        return err(c, 403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. Check your key and signing "
                   "method.",
                   NULL);
    c->sr->cred = sc;
    return 0;
}

/* everything known before the file: who signed, the policy and its conditions, the key */
static int authorize(post_ctx_t *c, const char *filename, size_t filename_len)
{
    store_req_t *sr = c->sr;
    const store_post_field_t *policy = field(c, "policy");
    int v4 = field(c, "x-amz-signature") != NULL, v2 = field(c, "signature") != NULL || field(c, "awsaccesskeyid") != NULL;
    char msg[512];

    if (policy == NULL && !v4 && !v2)
        return denied_anonymous(c);
    if (policy == NULL)
        return missing_field(c, "policy");
    if (!v4 && !v2)
        return missing_field(c, "x-amz-signature");
    if (v4 && v2)
        return err(c, 400, "InvalidArgument", "Only one auth mechanism allowed: x-amz-signature or AWSAccessKeyId/signature.",
                   NULL);
    if (v2 && field(c, "signature") == NULL)
        return missing_field(c, "signature");
    if ((v4 ? check_sigv4(c, policy) : check_sigv2(c, policy)) != 0)
        return -1;
    if (c->cred->read_only || !store_cred_bucket_allowed(c->cred, sr->bucket.base, sr->bucket.len))
        return err(c, 403, "AccessDenied", "Access Denied: the key that signed the policy may not write to this bucket.", NULL);
    /* what the key may do: a read-only key or one limited to other buckets may not upload here */
    if (store_authorize(sr) != 0) {
        c->answered = 1;
        return -1;
    }

    /* the policy: base64 (line breaks tolerated) of a JSON document */
    char *b64 = h2o_mem_alloc_pool(&sr->req->pool, policy->value_len + 1);
    size_t bl = 0;
    for (size_t i = 0; i != policy->value_len; ++i)
        if (policy->value[i] != '\r' && policy->value[i] != '\n' && policy->value[i] != ' ')
            b64[bl++] = policy->value[i];
    char *json = h2o_mem_alloc_pool(&sr->req->pool, bl / 4 * 3 + 4);
    long jl = edge_base64_decode(json, b64, bl, EDGE_BASE64_STRICT);
    if (jl < 0)
        return err(c, 400, "InvalidPolicyDocument", "Invalid Policy: Invalid Base64 Encoding.", NULL);
    if (store_post_policy_parse(json, (size_t)jl, &c->policy, msg, sizeof(msg)) != 0)
        return err(c, 400, "InvalidPolicyDocument", msg, NULL);
    c->has_policy = 1;
    if (c->policy.expiration <= (int64_t)time(NULL))
        return err(c, 403, "AccessDenied", "Invalid according to Policy: Policy expired.", NULL);

    /* the key, with ${filename} replaced by the file's name */
    const store_post_field_t *kf = field(c, "key");
    if (kf == NULL)
        return missing_field(c, "key");
    const char *var = "${filename}";
    size_t cnt = 0;
    for (const char *p = kf->value; (p = strstr(p, var)) != NULL; p += 11)
        ++cnt;
    size_t klen = kf->value_len + cnt * filename_len;
    char *k = h2o_mem_alloc_pool(&sr->req->pool, klen + 1), *o = k;
    for (const char *p = kf->value;;) {
        const char *at = strstr(p, var);
        size_t n = at != NULL ? (size_t)(at - p) : strlen(p);
        memcpy(o, p, n);
        o += n;
        if (at == NULL)
            break;
        memcpy(o, filename, filename_len);
        o += filename_len;
        p = at + 11;
    }
    *o = '\0';
    c->key = h2o_iovec_init(k, (size_t)(o - k));

    if (store_post_policy_check(&c->policy, c->fields, c->num_fields, sr->bucket.base, cnt != 0 ? k : NULL, msg, sizeof(msg)) != 0)
        return err(c, 403, "AccessDenied", msg, NULL);
    for (size_t i = 0; i != c->policy.num_conds; ++i) {
        const store_post_cond_t *pc = &c->policy.conds[i];
        if (pc->op != STORE_POST_RANGE)
            continue;
        /* several ranges: all must hold */
        if (!c->has_range || pc->min > c->min_size)
            c->min_size = pc->min;
        if (!c->has_range || pc->max < c->max_size)
            c->max_size = pc->max;
        c->has_range = 1;
    }
    return 0;
}

/* ---- the form's parts ---------------------------------------------------------------------------------------------------------
 */

static int flush(post_ctx_t *c)
{
    if (c->wlen == 0)
        return 0;
    int e = store_fs_writer_write(&c->w, c->wbuf, c->wlen);
    c->wlen = 0;
    if (e != 0)
        return store_send_fs_error(c->sr, e), c->answered = 1, -1;
    return 0;
}

static int too_large(post_ctx_t *c)
{
    char extra[100];
    int by_policy = c->has_range && c->max_size < c->sr->store->max_put_size;
    snprintf(extra, sizeof(extra), "<MaxSizeAllowed>%llu</MaxSizeAllowed>", (unsigned long long)c->max_size);
    return err(c, 400, "EntityTooLarge",
               by_policy ? "Your proposed upload exceeds the maximum allowed size"
                         : "Your proposed upload exceeds the maximum allowed size (store.max_put_size)",
               extra);
}

static int begin_file(post_ctx_t *c, const store_form_part_t *part)
{
    store_req_t *sr = c->sr;
    const char *reason;
    c->max_size = sr->store->max_put_size;
    if (authorize(c, part->filename != NULL ? part->filename : "", part->filename_len) != 0)
        return -1;
    if (c->max_size > sr->store->max_put_size)
        c->max_size = sr->store->max_put_size;
    if (!store_valid_key(c->key.base, c->key.len, &reason))
        return err(c, 400, c->key.len > STORE_FS_MAX_KEY ? "KeyTooLongError" : "InvalidArgument", reason, NULL);
    /* the answer's <Key> is the object's */
    sr->key = c->key;
    if (part->content_type != NULL && part->content_type_len != 0)
        c->file_type = h2o_strdup(&sr->req->pool, part->content_type, part->content_type_len).base;
    if (store_checksum_digest_init(&c->digest, 0, 0) != 0)
        return store_send_fs_error(sr, STORE_FS_ENOMEM), c->answered = 1, -1;
    c->digest_ready = 1;
    if ((c->wbuf = malloc(POST_WBUF)) == NULL)
        return store_send_fs_error(sr, STORE_FS_ENOMEM), c->answered = 1, -1;
    if (store_notify_req_begin(sr, STORE_EV_POST, &c->nt) != 0) /* a full event queue: 503 SlowDown, nothing written */
        return c->answered = 1, -1;
    int e = store_fs_writer_open(&c->w, c->b, c->key.base, c->key.len);
    if (e != 0)
        return store_send_fs_error(sr, e), c->answered = 1, -1;
    c->writer_open = 1;
    c->in_file = c->file_seen = 1;
    return 0;
}

static int on_part(void *p, const store_form_part_t *part)
{
    post_ctx_t *c = p;
    char name[128];
    if (part->name_len >= sizeof(name))
        return err(c, 400, "InvalidArgument", "A form field name is longer than 127 bytes.", NULL);
    for (size_t i = 0; i != part->name_len; ++i)
        name[i] = part->name[i] >= 'A' && part->name[i] <= 'Z' ? (char)(part->name[i] + 32) : part->name[i];
    name[part->name_len] = '\0';
    if (strcmp(name, "file") == 0)
        return begin_file(c, part);
    if (c->num_fields == POST_MAX_FIELDS)
        return err(c, 400, "MaxPostPreDataLengthExceeded",
                   "Your POST request fields preceeding the upload file were too large (more than 200 fields).", NULL);
    if (field(c, name) != NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "The form field '%s' appears more than once.", name);
        return err(c, 400, "InvalidArgument", msg, NULL);
    }
    if (c->fbuf_len + part->name_len + 2 > POST_MAX_FIELDS_SIZE)
        goto too_much;
    char *n = c->fbuf + c->fbuf_len;
    memcpy(n, name, part->name_len + 1);
    c->fbuf_len += part->name_len + 1;
    c->cur_value = c->fbuf + c->fbuf_len;
    c->fields[c->num_fields] = (store_post_field_t){n, c->cur_value, 0};
    c->in_field = 1;
    return 0;
too_much:
    return err(c, 400, "MaxPostPreDataLengthExceeded", "Your POST request fields preceeding the upload file were too large.", NULL);
}

static int on_data(void *p, const void *data, size_t len)
{
    post_ctx_t *c = p;
    if (c->in_file) {
        if (c->size + len > c->max_size)
            return too_large(c);
        c->size += len;
        store_checksum_digest_update(&c->digest, data, len);
        while (len != 0) {
            size_t n = POST_WBUF - c->wlen < len ? POST_WBUF - c->wlen : len;
            memcpy(c->wbuf + c->wlen, data, n);
            c->wlen += n;
            data = (const char *)data + n;
            len -= n;
            if (c->wlen == POST_WBUF && flush(c) != 0)
                return -1;
        }
        return 0;
    }
    /* a field's value: NUL is not allowed in one (nothing could match it in a policy) */
    if (c->fbuf_len + len + 1 > POST_MAX_FIELDS_SIZE)
        return err(c, 400, "MaxPostPreDataLengthExceeded", "Your POST request fields preceeding the upload file were too large.",
                   NULL);
    if (memchr(data, '\0', len) != NULL)
        return err(c, 400, "InvalidArgument", "A form field's value contains a NUL byte.", NULL);
    memcpy(c->fbuf + c->fbuf_len, data, len);
    c->fbuf_len += len;
    return 0;
}

/* the object headers: Content-Type (the field, else the file part's), Cache-Control, Content-Disposition, Content-Encoding,
 * Content-Language, Expires, x-amz-meta-* */
static int collect_headers(post_ctx_t *c, store_header_t **out, size_t *num)
{
    static const char *const standard[] = {
        "content-type", "cache-control", "content-disposition", "content-encoding", "content-language", "expires", NULL};
    store_header_t *list = h2o_mem_alloc_pool(&c->sr->req->pool, sizeof(*list) * (c->num_fields + 1));
    size_t n = 0, meta = 0;
    int has_type = 0;
    for (size_t i = 0; i != c->num_fields; ++i) {
        const store_post_field_t *f = &c->fields[i];
        int keep = strncmp(f->name, "x-amz-meta-", 11) == 0 && f->name[11] != '\0';
        if (keep)
            meta += strlen(f->name) - 11 + f->value_len;
        for (const char *const *s = standard; !keep && *s != NULL; ++s)
            keep = strcmp(f->name, *s) == 0;
        if (!keep)
            continue;
        for (size_t k = 0; k != f->value_len; ++k)
            if ((unsigned char)f->value[k] < 0x20 && f->value[k] != '\t')
                return err(c, 400, "InvalidArgument", "A header field's value contains a control character.", NULL);
        has_type |= strcmp(f->name, "content-type") == 0;
        list[n].name = (char *)f->name;
        list[n].value = (char *)f->value;
        ++n;
    }
    if (meta > 2048)
        return err(c, 400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size (2 KB).", NULL);
    if (!has_type) {
        int ok = c->file_type != NULL;
        for (const char *t = c->file_type; ok && *t != '\0'; ++t)
            ok = (unsigned char)*t >= 0x20 || *t == '\t';
        list[n].name = "content-type";
        list[n].value = ok ? (char *)c->file_type : "binary/octet-stream";
        ++n;
    }
    *out = list;
    *num = n;
    return 0;
}

static int end_file(post_ctx_t *c)
{
    store_header_t *headers;
    size_t num_headers;
    uint8_t md5[16];
    char extra[120];
    c->in_file = 0;
    if (flush(c) != 0)
        return -1;
    if (c->has_range && c->size < c->min_size) {
        snprintf(extra, sizeof(extra), "<ProposedSize>%llu</ProposedSize><MinSizeAllowed>%llu</MinSizeAllowed>",
                 (unsigned long long)c->size, (unsigned long long)c->min_size);
        return err(c, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", extra);
    }
    if (collect_headers(c, &headers, &num_headers) != 0)
        return -1;
    store_checksum_digest_final(&c->digest, md5);
    sigv4_hex(md5, 16, c->etag);
    store_obj_meta_t meta = {c->etag, 0, headers, num_headers};
    c->writer_open = 0;
    store_obj_t *obj = NULL;
    int e = store_fs_writer_commit(&c->w, &meta, NULL, NULL, NULL, &obj);
    if (e != 0)
        return store_send_fs_error(c->sr, e), c->answered = 1, -1;
    store_notify_req_change(c->sr, &c->nt, c->key.base, c->key.len, obj, NULL); /* purge + events, before the answer */
    store_version_headers(c->sr, c->b, obj); /* x-amz-version-id on a versioned bucket */
    store_fs_obj_release(obj);
    c->committed = 1;
    return STORE_FORM_STOPPED; /* S3 ignores what follows the file */
}

static int on_part_end(void *p)
{
    post_ctx_t *c = p;
    if (c->in_file)
        return end_file(c);
    c->fbuf[c->fbuf_len++] = '\0';
    c->fields[c->num_fields].value_len = strlen(c->cur_value);
    ++c->num_fields;
    c->in_field = 0;
    return 0;
}

/* ---- the answer ---------------------------------------------------------------------------------------------------------------
 */

static void append_encoded(sigv4_buf_t *b, const char *s, size_t len, int keep_slash)
{
    sigv4_uri_encode(b, (sigv4_str_t){s, len}, keep_slash);
}

static int answer(post_ctx_t *c)
{
    store_req_t *sr = c->sr;
    char q[40];
    int n = snprintf(q, sizeof(q), "\"%s\"", c->etag);
    sigv4_buf_t loc = {0};
    h2o_iovec_t host = sr->req->input.authority;
    sigv4_buf_append(&loc, "http://", 7);
    sigv4_buf_append(&loc, host.base, host.len);
    sigv4_buf_append(&loc, "/", 1);
    if (!sr->virtual_hosted) {
        sigv4_buf_append(&loc, sr->bucket.base, sr->bucket.len);
        sigv4_buf_append(&loc, "/", 1);
    }
    append_encoded(&loc, c->key.base, c->key.len, 1);
    store_add_header(sr, "etag", q, (size_t)n);
    if (loc.base != NULL)
        store_add_header(sr, "location", loc.base, loc.len);

    const store_post_field_t *redirect = field(c, "success_action_redirect");
    if (redirect == NULL)
        redirect = field(c, "redirect");
    if (redirect != NULL && (strncmp(redirect->value, "http://", 7) == 0 || strncmp(redirect->value, "https://", 8) == 0)) {
        sigv4_buf_t to = {0};
        sigv4_buf_append(&to, redirect->value, redirect->value_len);
        sigv4_buf_append(&to, memchr(redirect->value, '?', redirect->value_len) != NULL ? "&bucket=" : "?bucket=", 8);
        append_encoded(&to, sr->bucket.base, sr->bucket.len, 0);
        sigv4_buf_append(&to, "&key=", 5);
        append_encoded(&to, c->key.base, c->key.len, 0);
        sigv4_buf_append(&to, "&etag=", 6);
        append_encoded(&to, q, (size_t)n, 0);
        int bad = to.base == NULL;
        for (size_t i = 0; !bad && i != to.len; ++i)
            bad = (unsigned char)to.base[i] <= 0x20 || to.base[i] == 0x7f;
        if (!bad) {
            /* replace the object's Location with the redirect's */
            h2o_headers_t *hs = &sr->req->res.headers;
            for (size_t i = 0; i != hs->size; ++i)
                if (h2o_memis(hs->entries[i].name->base, hs->entries[i].name->len, H2O_STRLIT("location")))
                    hs->entries[i].value = h2o_strdup(&sr->req->pool, to.base, to.len);
            sigv4_buf_free(&to);
            sigv4_buf_free(&loc);
            store_send_empty(sr, 303);
            sr->req->res.reason = "See Other";
            return 0;
        }
        sigv4_buf_free(&to);
    }
    const store_post_field_t *st = field(c, "success_action_status");
    int status = st != NULL && strcmp(st->value, "200") == 0 ? 200 : st != NULL && strcmp(st->value, "201") == 0 ? 201 : 204;
    if (status != 201) {
        sigv4_buf_free(&loc);
        return store_send_empty(sr, status);
    }
    store_xml_t x;
    store_xml_begin(&x, "PostResponse", NULL);
    store_xml_elem(&x, "Location", loc.base != NULL ? loc.base : "", loc.len);
    store_xml_elem(&x, "Bucket", sr->bucket.base, sr->bucket.len);
    store_xml_elem(&x, "Key", c->key.base, c->key.len);
    store_xml_elem(&x, "ETag", q, (size_t)n);
    store_xml_close(&x, "PostResponse");
    sigv4_buf_free(&loc);
    return store_send_xml(sr, 201, &x);
}

/* ---- the request --------------------------------------------------------------------------------------------------------------
 */

int store_post_is_form(store_req_t *sr)
{
    if (sr->bucket.len == 0 || sr->key.len != 0 || !h2o_memis(sr->req->method.base, sr->req->method.len, H2O_STRLIT("POST")))
        return 0;
    for (size_t i = 0; i != sr->num_params; ++i)
        if (strncasecmp(sr->params[i].name.base, "x-amz-", 6) != 0 && strcmp(sr->params[i].name.base, "x-id") != 0)
            return 0; /* ?delete, ?uploads...: another operation, authenticated as usual */
    h2o_iovec_t ct = store_req_header(sr, "content-type");
    return ct.base != NULL && ct.len >= 19 && h2o_lcstris(ct.base, 19, H2O_STRLIT("multipart/form-data"));
}

int store_post_object(store_req_t *sr)
{
    static const store_form_callbacks_t cbs = {on_part, on_data, on_part_end};
    store_t *s = sr->store;
    char boundary[STORE_FORM_MAX_BOUNDARY + 1];
    int is_form;
    h2o_iovec_t ct = store_req_header(sr, "content-type");
    size_t len = sr->req->entity.base != NULL ? sr->req->entity.len : 0;
    if (!store_fs_valid_bucket_name(sr->bucket.base, sr->bucket.len))
        return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
    if (store_form_boundary(ct.base, ct.len, boundary, &is_form) != 0)
        return store_send_error(sr, 400, "MalformedPOSTRequest",
                                "The body of your POST request is not well-formed multipart/form-data (no valid boundary).", NULL);
    if (len > s->max_put_size + POST_MAX_OVERHEAD) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Your proposed upload exceeds the maximum allowed size (store.max_put_size: %llu bytes).",
                 (unsigned long long)s->max_put_size);
        return store_send_error(sr, 400, "EntityTooLarge", msg, NULL);
    }
    post_ctx_t *c = calloc(1, sizeof(*c));
    store_form_t *f = malloc(sizeof(*f));
    char *buf = malloc(POST_SLICE);
    if (c == NULL || f == NULL || buf == NULL) {
        free(c);
        free(f);
        free(buf);
        return store_send_fs_error(sr, STORE_FS_ENOMEM);
    }
    c->sr = sr;
    c->fbuf = h2o_mem_alloc_pool(&sr->req->pool, POST_MAX_FIELDS_SIZE + 1);
    if ((c->b = store_fs_bucket_get(s->fs, sr->bucket.base, sr->bucket.len)) == NULL) {
        store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
        goto out;
    }
    store_form_init(f, boundary, &cbs, c);
    int r = STORE_FORM_OK, gone = 0, streamed = sr->req->stream != NULL;
    uint64_t total = 0;
    /* streamed (HTTP/1.1): read to the end (n == 0); buffered (HTTP/2): Content-Length bytes */
    for (uint64_t off = 0; r == STORE_FORM_OK && (streamed || off < len);) {
        long n = store_req_entity(sr, off, buf, POST_SLICE);
        if (n < 0 || (n == 0 && !streamed)) {
            gone = 1; /* the client went away: nobody to answer */
            break;
        }
        if (n == 0)
            break;
        if ((total += (uint64_t)n) > s->max_put_size + POST_MAX_OVERHEAD) {
            /* a chunked body (no Content-Length to check first) that goes on and on */
            if (!c->answered)
                store_send_error(sr, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.", NULL);
            c->answered = 1;
            break;
        }
        r = store_form_feed(f, buf, (size_t)n);
        off += (uint64_t)n;
    }
    if (gone || c->answered)
        goto out;
    if (r == STORE_FORM_OK)
        r = store_form_finish(f);
    if (r == STORE_FORM_EMALFORMED) {
        char msg[300];
        snprintf(msg, sizeof(msg), "The body of your POST request is not well-formed multipart/form-data: %s.", f->error);
        store_send_error(sr, 400, "MalformedPOSTRequest", msg, NULL);
    } else if (!c->file_seen) {
        /* no file: who signed still decides between 403 and 400 */
        const store_post_field_t *policy = field(c, "policy");
        if (policy == NULL && field(c, "x-amz-signature") == NULL && field(c, "signature") == NULL)
            denied_anonymous(c);
        else
            store_send_error(sr, 400, "InvalidArgument", "POST requires exactly one file upload per request.", NULL);
    } else if (!c->committed) {
        store_send_error(sr, 400, "MalformedPOSTRequest",
                         "The body of your POST request is not well-formed multipart/form-data: the file part does not end.", NULL);
    } else {
        answer(c);
    }
out:
    store_notify_abort(&c->nt); /* (nothing once the change was notified) */
    if (c->writer_open)
        store_fs_writer_abort(&c->w);
    if (c->digest_ready)
        store_checksum_digest_dispose(&c->digest);
    if (c->has_policy)
        store_post_policy_free(&c->policy);
    store_fs_bucket_release(c->b);
    free(c->wbuf);
    free(c);
    free(f);
    free(buf);
    return 0;
}
