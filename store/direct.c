/* store/direct.c - the embedded store from inside the process (store/direct.h) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "base/log.h"
#include "base/str.h"
#include "store/checksum.h"
#include "store/direct.h"
#include "store/internal.h"

void store_direct_obj_free(store_direct_obj_t *o)
{
    free(o->data);
    for (size_t i = 0; i != o->num_headers; ++i) {
        free(o->names[i]);
        free(o->values[i]);
    }
    free(o->names);
    free(o->values);
    memset(o, 0, sizeof(*o));
}

static store_bucket_t *get_bucket(store_t *s, const char *bucket, char *err, size_t errlen)
{
    store_bucket_t *b = store_fs_bucket_get(s->fs, bucket, strlen(bucket));
    if (b == NULL)
        snprintf(err, errlen, "NoSuchBucket: the bucket %s does not exist", bucket);
    return b;
}

static int check_key(const char *key, size_t klen, char *err, size_t errlen)
{
    const char *reason = NULL;
    if (key == NULL || !store_valid_key(key, klen, &reason) || memchr(key, '\0', klen) != NULL) {
        snprintf(err, errlen, "InvalidArgument: %s", reason != NULL ? reason : "the key is not valid");
        return -1;
    }
    return 0;
}

/* reads o's data whole (a file, or the parts of a multipart object) */
static int read_data(const store_obj_t *o, char **out)
{
    char *buf = malloc(o->size + 1), path[4200];
    uint64_t at = 0;
    if (buf == NULL)
        return -1;
    for (uint32_t seg = 0; seg < (o->num_parts != 0 ? o->num_parts : 1); ++seg) {
        if (o->num_parts != 0)
            snprintf(path, sizeof(path), "%s/%u", o->data_path, seg + 1);
        else
            snprintf(path, sizeof(path), "%s", o->data_path);
        uint64_t want = o->num_parts != 0 ? o->part_sizes[seg] : o->size, got = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            log_error("store: cannot open %s: %s", path, strerror(errno));
            free(buf);
            return -1;
        }
        while (got < want) {
            ssize_t n = pread(fd, buf + at + got, want - got, (off_t)got);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                close(fd);
                free(buf);
                return -1;
            }
            got += (uint64_t)n;
        }
        close(fd);
        at += want;
    }
    buf[o->size] = '\0';
    *out = buf;
    return 0;
}

int store_direct_get(store_t *s, const char *bucket, const char *key, size_t klen, int head_only, store_direct_obj_t *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_key(key, klen, err, errlen) != 0)
        return STORE_DIRECT_INVALID;
    store_bucket_t *b = get_bucket(s, bucket, err, errlen);
    if (b == NULL)
        return STORE_DIRECT_NOBUCKET;
    store_obj_t *o = store_fs_obj_get(b, key, klen);
    int r = 0;
    if (o == NULL) {
        snprintf(err, errlen, "NoSuchKey: the key does not exist");
        r = STORE_DIRECT_NOKEY;
        goto out;
    }
    if (!head_only && o->size > STORE_DIRECT_MAX_GET) {
        snprintf(err, errlen, "InvalidArgument: the object is %" PRIu64 " bytes, over the %u bytes edge.s3.get reads", o->size,
                 STORE_DIRECT_MAX_GET);
        r = STORE_DIRECT_INVALID;
        goto out;
    }
    out->size = o->size;
    out->mtime_ms = o->mtime_ms;
    snprintf(out->etag, sizeof(out->etag), "%s", o->etag);
    if (o->num_headers != 0) {
        out->names = calloc(o->num_headers, sizeof(char *));
        out->values = calloc(o->num_headers, sizeof(char *));
        if (out->names == NULL || out->values == NULL)
            abort();
        for (size_t i = 0; i != o->num_headers; ++i) {
            out->names[i] = strdup(o->headers[i].name);
            out->values[i] = strdup(o->headers[i].value);
            if (out->names[i] == NULL || out->values[i] == NULL)
                abort();
            out->num_headers = i + 1;
        }
    }
    if (!head_only && read_data(o, &out->data) != 0) {
        snprintf(err, errlen, "InternalError: cannot read the object");
        store_direct_obj_free(out);
        r = STORE_DIRECT_EIO;
    }
out:
    store_fs_obj_release(o);
    store_fs_bucket_release(b);
    return r;
}

int store_direct_put(store_t *s, const char *bucket, const char *key, size_t klen, const void *data, size_t len,
                     const char *const *names, const char *const *values, size_t num_headers, const store_notify_origin_t *o,
                     char etag[48], char *err, size_t errlen)
{
    if (check_key(key, klen, err, errlen) != 0)
        return STORE_DIRECT_INVALID;
    if (len > s->max_put_size) {
        snprintf(err, errlen, "EntityTooLarge: %zu bytes, over store.max_put_size", len);
        return STORE_DIRECT_INVALID;
    }
    store_bucket_t *b = get_bucket(s, bucket, err, errlen);
    if (b == NULL)
        return STORE_DIRECT_NOBUCKET;
    store_header_t *hdrs = num_headers != 0 ? calloc(num_headers, sizeof(*hdrs)) : NULL;
    for (size_t i = 0; i != num_headers; ++i)
        hdrs[i] = (store_header_t){(char *)names[i], (char *)values[i]};
    store_checksum_digest_t d;
    store_fs_writer_t w;
    store_notify_ticket_t nt;
    store_obj_t *obj = NULL;
    uint8_t md5[16];
    int e, r = 0;
    if (store_checksum_digest_init(&d, 0, 0) != 0) {
        r = STORE_DIRECT_EIO;
        snprintf(err, errlen, "InternalError: out of memory");
        goto out;
    }
    store_checksum_digest_update(&d, data, len);
    store_checksum_digest_final(&d, md5);
    sigv4_hex(md5, 16, etag);
    if (store_notify_begin(s, bucket, key, klen, STORE_EV_PUT, o, &nt, err, errlen) != 0) {
        r = STORE_DIRECT_FULL;
        goto out;
    }
    if ((e = store_fs_writer_open(&w, b, key, klen)) != 0 || (e = store_fs_writer_write(&w, data, len)) != 0) {
        store_fs_writer_abort(&w);
        store_notify_abort(&nt);
        r = STORE_DIRECT_EIO;
        snprintf(err, errlen, "InternalError: cannot write the object");
        goto out;
    }
    store_obj_meta_t meta = {etag, 0, hdrs, num_headers};
    if ((e = store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, &obj)) != 0) {
        store_notify_abort(&nt);
        r = e == STORE_FS_ENOENT ? STORE_DIRECT_NOBUCKET : STORE_DIRECT_EIO;
        snprintf(err, errlen, "%s", e == STORE_FS_ENOENT ? "NoSuchBucket: the bucket was deleted" : "InternalError: cannot write");
        goto out;
    }
    store_notify_change(s, &nt, bucket, key, klen, obj, NULL);
    store_fs_obj_release(obj);
out:
    free(hdrs);
    store_fs_bucket_release(b);
    return r;
}

int store_direct_delete(store_t *s, const char *bucket, const char *key, size_t klen, const store_notify_origin_t *o, char *err,
                        size_t errlen)
{
    if (check_key(key, klen, err, errlen) != 0)
        return STORE_DIRECT_INVALID;
    store_bucket_t *b = get_bucket(s, bucket, err, errlen);
    if (b == NULL)
        return STORE_DIRECT_NOBUCKET;
    store_notify_ticket_t nt;
    int r = 0;
    if (store_notify_begin(s, bucket, key, klen, STORE_EV_DELETE, o, &nt, err, errlen) != 0) {
        r = STORE_DIRECT_FULL;
    } else {
        int e = store_fs_obj_delete(b, key, klen);
        if (e == 0)
            store_notify_change(s, &nt, bucket, key, klen, NULL, NULL);
        else
            store_notify_abort(&nt);
        if (e != 0 && e != STORE_FS_ENOENT) {
            r = STORE_DIRECT_EIO;
            snprintf(err, errlen, "InternalError: cannot delete the object");
        }
    }
    store_fs_bucket_release(b);
    return r;
}

static void json_str(sigv4_buf_t *b, const char *s, size_t n)
{
    sigv4_buf_append(b, "\"", 1);
    for (size_t i = 0; i != n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sigv4_buf_append(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof(e), "\\u%04x", c);
            sigv4_buf_append(b, e, 6);
        } else {
            sigv4_buf_append(b, (const char *)&s[i], 1);
        }
    }
    sigv4_buf_append(b, "\"", 1);
}

int store_direct_list(store_t *s, const char *bucket, const char *prefix, size_t plen, const char *after, size_t alen,
                      size_t max_keys, char **json, size_t *json_len, char *err, size_t errlen)
{
    store_bucket_t *b = get_bucket(s, bucket, err, errlen);
    if (b == NULL)
        return STORE_DIRECT_NOBUCKET;
    store_list_params_t p = {prefix, plen, NULL, 0, after, alen, max_keys == 0 || max_keys > 1000 ? 1000 : max_keys};
    store_list_result_t res;
    memset(&res, 0, sizeof(res));
    int e = store_fs_list(b, &p, &res);
    store_fs_bucket_release(b);
    if (e != 0) {
        snprintf(err, errlen, "InternalError: cannot list");
        return STORE_DIRECT_EIO;
    }
    sigv4_buf_t out = {0};
    sigv4_buf_append(&out, "{\"keys\":[", 9);
    for (size_t i = 0; i != res.num_objs; ++i) {
        const store_obj_t *o = res.objs[i];
        char num[160];
        if (i != 0)
            sigv4_buf_append(&out, ",", 1);
        sigv4_buf_append(&out, "{\"key\":", 7);
        json_str(&out, o->key, o->key_len);
        int n = snprintf(num, sizeof(num), ",\"size\":%" PRIu64 ",\"etag\":\"%s\",\"last_modified\":%" PRId64 "}", o->size, o->etag,
                         o->mtime_ms / 1000);
        sigv4_buf_append(&out, num, (size_t)n);
    }
    sigv4_buf_append(&out, "],\"truncated\":", 14);
    sigv4_buf_append(&out, res.truncated ? "true" : "false", res.truncated ? 4 : 5);
    if (res.truncated && res.next != NULL) {
        sigv4_buf_append(&out, ",\"next\":", 8);
        json_str(&out, res.next, res.next_len);
    }
    sigv4_buf_append(&out, "}", 1);
    store_fs_list_free(&res);
    *json = out.base;
    *json_len = out.len;
    return 0;
}

static int append_str(sigv4_buf_t *b, const char *s)
{
    return sigv4_buf_append(b, s, strlen(s));
}

int store_direct_post_policy(store_t *s, const char *bucket, const char *conditions, size_t clen, unsigned expires, time_t now,
                             char **json, size_t *json_len, char *err, size_t errlen)
{
    store_bucket_t *b = get_bucket(s, bucket, err, errlen);
    if (b == NULL)
        return STORE_DIRECT_NOBUCKET;
    store_fs_bucket_release(b);
    /* the hook's conditions: a JSON array, spliced in as it is (the store parses the policy when the form comes back) */
    while (clen != 0 && (conditions[0] == ' ' || conditions[0] == '\n' || conditions[0] == '\t' || conditions[0] == '\r'))
        ++conditions, --clen;
    while (clen != 0 && (conditions[clen - 1] == ' ' || conditions[clen - 1] == '\n' || conditions[clen - 1] == '\t' ||
                         conditions[clen - 1] == '\r'))
        --clen;
    if (clen < 2 || conditions[0] != '[' || conditions[clen - 1] != ']' || memchr(conditions, '\0', clen) != NULL || clen > 16384) {
        snprintf(err, errlen, "InvalidArgument: the conditions must be a JSON array of at most 16 KB");
        return STORE_DIRECT_INVALID;
    }
    if (expires < 1 || expires > 7 * 86400) {
        snprintf(err, errlen, "InvalidArgument: expires must be 1 second to 7 days");
        return STORE_DIRECT_INVALID;
    }
    const char *ak, *sk;
    store_get_credentials(s, &ak, &sk);
    char amz_date[17], date8[9], scope[160], credential[320], expiration[32];
    sigv4_format_amz_date(now, amz_date);
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    sigv4_scope(scope, sizeof(scope), date8, sigv4_cstr(s->region), sigv4_cstr("s3"));
    snprintf(credential, sizeof(credential), "%s/%s", ak, scope);
    time_t exp = now + (time_t)expires;
    struct tm tm;
    gmtime_r(&exp, &tm);
    strftime(expiration, sizeof(expiration), "%Y-%m-%dT%H:%M:%S.000Z", &tm);

    sigv4_buf_t policy = {0};
    int bad = 0;
    bad |= append_str(&policy, "{\"expiration\":\"");
    bad |= sigv4_buf_append(&policy, expiration, strlen(expiration));
    bad |= append_str(&policy, "\",\"conditions\":[{\"bucket\":");
    json_str(&policy, bucket, strlen(bucket));
    bad |= append_str(&policy, "},{\"x-amz-algorithm\":\"AWS4-HMAC-SHA256\"},{\"x-amz-credential\":");
    json_str(&policy, credential, strlen(credential));
    bad |= append_str(&policy, "},{\"x-amz-date\":\"");
    bad |= sigv4_buf_append(&policy, amz_date, strlen(amz_date));
    bad |= append_str(&policy, "\"}");
    const char *inner = conditions + 1;
    size_t ilen = clen - 2, k = 0;
    while (k != ilen && (inner[k] == ' ' || inner[k] == '\n' || inner[k] == '\t' || inner[k] == '\r'))
        ++k;
    if (k != ilen) {
        bad |= append_str(&policy, ",");
        bad |= sigv4_buf_append(&policy, inner, ilen);
    }
    bad |= append_str(&policy, "]}");
    if (bad != 0) {
        sigv4_buf_free(&policy);
        snprintf(err, errlen, "InternalError: out of memory");
        return STORE_DIRECT_EIO;
    }
    char *b64 = malloc(EDGE_BASE64_ENCODED_SIZE(policy.len));
    if (b64 == NULL) {
        sigv4_buf_free(&policy);
        snprintf(err, errlen, "InternalError: out of memory");
        return STORE_DIRECT_EIO;
    }
    size_t b64len = edge_base64_encode(b64, policy.base, policy.len);
    sigv4_buf_free(&policy);
    uint8_t key[32];
    char sig[65];
    if (sigv4_signing_key(sigv4_cstr(sk), date8, sigv4_cstr(s->region), sigv4_cstr("s3"), key) != 0) {
        free(b64);
        snprintf(err, errlen, "InternalError: cannot derive the signing key");
        return STORE_DIRECT_EIO;
    }
    sigv4_signature(key, (sigv4_str_t){b64, b64len}, sig);
    OPENSSL_cleanse(key, sizeof(key));

    sigv4_buf_t out = {0};
    bad |= append_str(&out, "{\"policy\":");
    json_str(&out, b64, b64len);
    bad |= append_str(&out, ",\"x-amz-algorithm\":\"AWS4-HMAC-SHA256\",\"x-amz-credential\":");
    json_str(&out, credential, strlen(credential));
    bad |= append_str(&out, ",\"x-amz-date\":\"");
    bad |= sigv4_buf_append(&out, amz_date, strlen(amz_date));
    bad |= append_str(&out, "\",\"x-amz-signature\":\"");
    bad |= sigv4_buf_append(&out, sig, 64);
    bad |= append_str(&out, "\",\"expiration\":\"");
    bad |= sigv4_buf_append(&out, expiration, strlen(expiration));
    bad |= append_str(&out, "\"}");
    free(b64);
    if (bad != 0) {
        sigv4_buf_free(&out);
        snprintf(err, errlen, "InternalError: out of memory");
        return STORE_DIRECT_EIO;
    }
    *json = out.base;
    *json_len = out.len;
    return 0;
}
