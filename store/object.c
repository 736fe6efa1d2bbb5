/* store/object.c - object-level S3 operations: Get/Head (ranges, conditionals, streamed), Put, Copy, Delete, and the dispatcher */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
#include "base/str.h"
#include "store/checksum.h"
#include "store/internal.h"
#include "store/direct.h"
#include "store/notify.h"

/* paths are bounded: the store root is at most STORE_ROOT_MAX bytes (fs.c), so the fixed buffers below always fit */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define READ_CHUNK 65536
#define MAX_COPY_SIZE (5ull << 30)

static int is_method(store_req_t *sr, const char *m)
{
    return h2o_memis(sr->req->method.base, sr->req->method.len, m, strlen(m));
}

static int not_found(store_req_t *sr)
{
    return store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL);
}

/* ---- conditionals and ranges ------------------------------------------------------------------------------------------------- */

/* does a list of entity tags (If-Match / If-None-Match / If-Range) contain the object's? "*" matches any; weak comparison, as S3
 * does (its ETags are strong, and a client's W/ tag matches by value) */
static int etag_list_matches(h2o_iovec_t list, const char *etag)
{
    return edge_etag_list_matches(list.base, list.len, etag, strlen(etag), 1);
}

/* a 304 carries what a 200 would have of the validators and caching headers (RFC 7232 section 4.1), as S3's does */
static int not_modified(store_req_t *sr, const store_obj_t *o)
{
    static const char *const keep[] = {"cache-control", "expires", "content-location", "vary"};
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "\"%s\"", o->etag);
    store_add_header(sr, "etag", buf, (size_t)n);
    store_http_date(o->mtime_ms, buf);
    store_add_header(sr, "last-modified", buf, strlen(buf));
    for (size_t i = 0; i != sizeof(keep) / sizeof(keep[0]); ++i) {
        const char *v = store_fs_obj_header(o, keep[i]);
        if (v != NULL)
            store_add_header(sr, keep[i], v, strlen(v));
    }
    return store_send_empty(sr, 304);
}

/* RFC 7232 section 6 order; 0 to go on, else the response (304 or 412) has been sent */
static int check_conditions(store_req_t *sr, const store_obj_t *o, int *answered)
{
    h2o_iovec_t im = store_req_header(sr, "if-match"), inm = store_req_header(sr, "if-none-match"),
                ims = store_req_header(sr, "if-modified-since"), ius = store_req_header(sr, "if-unmodified-since");
    int64_t mtime = o->mtime_ms / 1000, t;
    *answered = 1;
    if (im.base != NULL) {
        if (!etag_list_matches(im, o->etag))
            return store_send_error(sr, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                    "<Condition>If-Match</Condition>");
    } else if (ius.base != NULL && store_parse_http_date(ius, &t) == 0 && mtime > t) {
        return store_send_error(sr, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                "<Condition>If-Unmodified-Since</Condition>");
    }
    if (inm.base != NULL) {
        if (etag_list_matches(inm, o->etag))
            return not_modified(sr, o);
    } else if (ims.base != NULL && store_parse_http_date(ims, &t) == 0 && mtime <= t) {
        return not_modified(sr, o);
    }
    *answered = 0;
    return 0;
}

/* Range: bytes=a-b | a- | -n. 0: whole object; 1: start and len set; -1: unsatisfiable */
static int parse_range(h2o_iovec_t v, uint64_t size, uint64_t *start, uint64_t *len)
{
    if (v.base == NULL || v.len < 7 || memcmp(v.base, "bytes=", 6) != 0)
        return 0;
    const char *p = v.base + 6, *end = v.base + v.len;
    if (memchr(p, ',', (size_t)(end - p)) != NULL)
        return 0; /* several ranges: S3 answers the whole object */
    while (p < end && *p == ' ')
        ++p;
    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (a > UINT64_MAX / 10 - 10)
            return 0;
        a = a * 10 + (uint64_t)(*p++ - '0');
        has_a = 1;
    }
    if (p >= end || *p++ != '-')
        return 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (b > UINT64_MAX / 10 - 10)
            b = UINT64_MAX / 10;
        else
            b = b * 10 + (uint64_t)(*p - '0');
        ++p;
        has_b = 1;
    }
    while (p < end && *p == ' ')
        ++p;
    if (p != end || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *len = b < size ? b : size;
        *start = size - *len;
        return 1;
    }
    if (has_b && b < a)
        return 0; /* syntactically invalid: ignored */
    if (a >= size)
        return -1;
    uint64_t last = has_b && b < size - 1 ? b : size - 1;
    *start = a;
    *len = last - a + 1;
    return 1;
}

/* ---- response headers -------------------------------------------------------------------------------------------------------- */

static void object_headers(store_req_t *sr, const store_obj_t *o)
{
    static const char *const overrides[][2] = {{"response-content-type", "content-type"},
                                               {"response-content-language", "content-language"},
                                               {"response-expires", "expires"},
                                               {"response-cache-control", "cache-control"},
                                               {"response-content-disposition", "content-disposition"},
                                               {"response-content-encoding", "content-encoding"}};
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "\"%s\"", o->etag);
    store_add_header(sr, "etag", buf, (size_t)n);
    store_http_date(o->mtime_ms, buf);
    store_add_header(sr, "last-modified", buf, strlen(buf));
    store_add_header(sr, "accept-ranges", "bytes", 5);
    store_tagging_count_header(sr, o);
    store_tagging_cache_header(sr, o);
    for (size_t i = 0; i != o->num_headers; ++i) {
        const char *name = o->headers[i].name;
        int overridden = strcmp(name, STORE_TAGS_HEADER) == 0; /* the tags are not a header: x-amz-tagging-count says how many */
        for (size_t k = 0; k != sizeof(overrides) / sizeof(overrides[0]); ++k)
            if (strcmp(name, overrides[k][1]) == 0 && store_req_param(sr, overrides[k][0]) != NULL)
                overridden = 1;
        if (!overridden)
            store_add_header(sr, name, o->headers[i].value, strlen(o->headers[i].value));
    }
    for (size_t k = 0; k != sizeof(overrides) / sizeof(overrides[0]); ++k) {
        const store_param_t *p = store_req_param(sr, overrides[k][0]);
        if (p != NULL)
            store_add_header(sr, overrides[k][1], p->value.base, p->value.len);
    }
}

/* ---- GET: a generator that reads 64 KB per proceed() ------------------------------------------------------------------------- */

typedef struct get_gen {
    h2o_generator_t super;
    store_t *store;
    h2o_context_t *ctx;
    store_obj_t *obj;
    int fd;
    uint32_t seg;     /* current segment (part) */
    uint64_t seg_off; /* offset within it */
    uint64_t left;
    char *buf;
} get_gen_t;

static uint64_t seg_size(const store_obj_t *o, uint32_t seg)
{
    return o->num_parts != 0 ? o->part_sizes[seg] : o->size;
}

static int open_seg(get_gen_t *g)
{
    char path[4200];
    if (g->obj->num_parts != 0)
        snprintf(path, sizeof(path), "%s/%u", g->obj->data_path, g->seg + 1);
    else
        snprintf(path, sizeof(path), "%s", g->obj->data_path);
    g->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (g->fd < 0)
        log_error("store: cannot open %s: %s", path, strerror(errno));
    return g->fd;
}

static void on_gen_dispose(void *p)
{
    get_gen_t *g = p;
    if (g->fd >= 0)
        close(g->fd);
    store_release_obj(g->store, g->ctx, g->obj);
}

static void on_proceed(h2o_generator_t *_g, h2o_req_t *req)
{
    get_gen_t *g = (get_gen_t *)_g;
    size_t want = g->left < READ_CHUNK ? (size_t)g->left : READ_CHUNK, got = 0;
    while (got < want) {
        if (g->seg_off == seg_size(g->obj, g->seg)) {
            if (g->fd >= 0)
                close(g->fd);
            g->fd = -1;
            ++g->seg;
            g->seg_off = 0;
            continue;
        }
        if (g->fd < 0 && open_seg(g) < 0)
            goto fail;
        uint64_t in_seg = seg_size(g->obj, g->seg) - g->seg_off;
        size_t n = want - got < in_seg ? want - got : (size_t)in_seg;
        ssize_t r = pread(g->fd, g->buf + got, n, (off_t)g->seg_off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            log_error("store: cannot read %s: %s", g->obj->data_path, r < 0 ? strerror(errno) : "unexpected end of file");
            goto fail;
        }
        got += (size_t)r;
        g->seg_off += (uint64_t)r;
    }
    g->left -= got;
    h2o_iovec_t buf = h2o_iovec_init(g->buf, got);
    h2o_send(req, &buf, 1, g->left == 0 ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
    return;
fail:
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    /* the file and the object reference go with the pool (on_gen_dispose) */
}

static int get_object(store_req_t *sr, store_bucket_t *b)
{
    store_http_t *req = sr->req;
    const store_param_t *pn = store_req_param(sr, "partNumber");
    const char *vid;
    if (store_version_param(sr, &vid) != 0)
        return 0;
    store_obj_t *o = store_fs_obj_get_version(b, sr->key.base, sr->key.len, vid);
    int answered;
    if (o == NULL || o->delete_marker) {
        int r = store_version_not_found(sr, b, o, vid);
        store_fs_obj_release(o);
        return r;
    }
    if (check_conditions(sr, o, &answered), answered) {
        store_fs_obj_release(o);
        return 0;
    }
    uint64_t start = 0, len = o->size;
    int status = 200, rr = 0;
    h2o_iovec_t range = store_req_header(sr, "range"), if_range = store_req_header(sr, "if-range");
    if (pn != NULL) {
        /* partNumber=N: part N of a multipart object, the whole of a simple one (N = 1) */
        char *end;
        unsigned long n = strtoul(pn->value.base, &end, 10);
        if (*end != '\0' || n < 1 || n > (o->num_parts != 0 ? o->num_parts : 1)) {
            store_fs_obj_release(o);
            return store_send_error(sr, 416, "InvalidPartNumber", "The requested partnumber is not satisfiable", NULL);
        }
        if (o->num_parts != 0) {
            for (unsigned long i = 0; i + 1 < n; ++i)
                start += o->part_sizes[i];
            len = o->part_sizes[n - 1];
            char pc[16];
            snprintf(pc, sizeof(pc), "%u", o->num_parts);
            store_add_header(sr, "x-amz-mp-parts-count", pc, strlen(pc));
            status = 206;
        }
    } else if (range.base != NULL && (if_range.base == NULL || etag_list_matches(if_range, o->etag))) {
        rr = parse_range(range, o->size, &start, &len);
        if (rr < 0) {
            char cr[64];
            int n = snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)o->size);
            store_add_header(sr, "content-range", cr, (size_t)n);
            store_fs_obj_release(o);
            return store_send_error(sr, 416, "InvalidRange", "The requested range is not satisfiable",
                                    "<RangeRequested>bytes</RangeRequested>");
        }
        if (rr > 0)
            status = 206;
    }
    object_headers(sr, o);
    store_version_headers(sr, b, o);
    if (status == 206) {
        char cr[96];
        int n = snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start, (unsigned long long)(start + len - 1),
                         (unsigned long long)o->size);
        if (len != 0)
            store_add_header(sr, "content-range", cr, (size_t)n);
    }
    req->res.content_length = len;
    if (sr->is_head || len == 0) {
        store_fs_obj_release(o);
        return store_send_empty(sr, status);
    }
    return store_send_stream(sr, status, o, start, len);
}

/*
 * The body of a GET is read on the loop that sends it, 64 KB per proceed() (the client's pace), with pread(): short reads, mostly
 * from the page cache. Everything before the first byte (lookup, conditions, headers) ran on a store thread.
 */
void store_object_start_stream(store_req_t *sr, h2o_req_t *req)
{
    store_obj_t *o = sr->res_obj;
    uint64_t start = sr->res_start;
    get_gen_t *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), on_gen_dispose);
    memset(g, 0, sizeof(*g));
    g->super.proceed = on_proceed;
    g->super.stop = on_stop;
    g->store = sr->store;
    g->ctx = req->conn->ctx;
    g->obj = o;
    sr->res_obj = NULL; /* the generator has the reference now */
    g->fd = -1;
    g->left = sr->res_len;
    g->buf = h2o_mem_alloc_pool(&req->pool, READ_CHUNK);
    /* position on the first byte */
    while (g->seg + 1 < (o->num_parts != 0 ? o->num_parts : 1) && start >= seg_size(o, g->seg)) {
        start -= seg_size(o, g->seg);
        ++g->seg;
    }
    g->seg_off = start;
    h2o_start_response(req, &g->super);
    on_proceed(&g->super, req);
}

/* ---- PUT --------------------------------------------------------------------------------------------------------------------- */

int store_put_precond(void *ctx, const store_obj_t *cur)
{
    store_put_precond_t *p = ctx;
    if (p->if_none_match.base != NULL && cur != NULL && etag_list_matches(p->if_none_match, cur->etag))
        return 412;
    if (p->if_match.base != NULL && (cur == NULL || !etag_list_matches(p->if_match, cur->etag)))
        return cur == NULL ? 404 : 412;
    return 0;
}

int store_put_precond_error(store_req_t *sr, int refusal)
{
    if (refusal == 404)
        return not_found(sr);
    return store_send_error(sr, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                            "<Condition>If-Match or If-None-Match</Condition>");
}

static int on_writer_data(void *ctx, const void *data, size_t len)
{
    return store_fs_writer_write(ctx, data, len);
}

static int put_object(store_req_t *sr, store_bucket_t *b)
{
    store_http_t *req = sr->req;
    store_header_t *headers;
    size_t num_headers;
    store_fs_writer_t w;
    store_body_t body;
    store_put_precond_t pc = {store_req_header(sr, "if-match"), store_req_header(sr, "if-none-match")};
    int refusal = 0, e;

    if (req->entity.base == NULL && req->version < 0x200 && store_req_header(sr, "x-amz-decoded-content-length").base == NULL)
        return store_send_error(sr, 411, "MissingContentLength", "You must provide the Content-Length HTTP header.", NULL);
    if (store_collect_headers(sr, &headers, &num_headers) != 0 ||
        store_tagging_headers(sr, headers, num_headers, NULL, &headers, &num_headers) != 0)
        return 0;
    /* a cheap early check; the binding one runs again under the bucket lock at the commit */
    store_obj_t *cur = store_fs_obj_get(b, sr->key.base, sr->key.len);
    refusal = store_put_precond(&pc, cur);
    store_fs_obj_release(cur);
    if (refusal != 0)
        return store_put_precond_error(sr, refusal);

    store_notify_ticket_t nt;
    if (store_notify_req_begin(sr, STORE_EV_PUT, &nt) != 0)
        return 0;
    if ((e = store_fs_writer_open(&w, b, sr->key.base, sr->key.len)) != 0) {
        store_notify_abort(&nt);
        return store_send_fs_error(sr, e);
    }
    if (store_body_run(sr, sr->store->max_put_size, on_writer_data, &w, &body) != 0) {
        store_fs_writer_abort(&w);
        store_notify_abort(&nt);
        return 0;
    }
    char etag[33];
    sigv4_hex(body.md5, 16, etag);
    store_obj_meta_t meta = {etag, 0, headers, num_headers};
    store_obj_t *o;
    e = store_fs_writer_commit(&w, &meta, store_put_precond, &pc, &refusal, &o);
    if (e != 0)
        store_notify_abort(&nt);
    if (e == STORE_FS_EPRECOND)
        return store_put_precond_error(sr, refusal);
    if (e != 0)
        return store_send_fs_error(sr, e);
    store_notify_req_change(sr, &nt, sr->key.base, sr->key.len, o, NULL);
    char q[40];
    int n = snprintf(q, sizeof(q), "\"%s\"", etag);
    store_add_header(sr, "etag", q, (size_t)n);
    store_version_headers(sr, b, o); /* the new version's id: o->version_id ("" = null) */
    store_fs_obj_release(o);
    return store_send_empty(sr, 200);
}

/* ---- from inside the process ----------------------------------------------------------------------------------------------- */

int store_put_object_internal(store_t *store, const char *bucket, const char *key, const void *data, size_t len,
                              const char *content_type, char *err, size_t errlen)
{
    const char *names[1] = {"content-type"}, *values[1] = {content_type};
    char etag[48];
    return store_direct_put(store, bucket, key, strlen(key), data, len, names, values, content_type != NULL ? 1 : 0, NULL, etag,
                            err, errlen) == 0
               ? 0
               : -1;
}

/* ---- CopyObject -------------------------------------------------------------------------------------------------------------- */

/*
 * Copies len bytes of src's data from offset start into the writer, computing their MD5 if md5 is not NULL. Without an MD5 the
 * kernel copies (copy_file_range: no user-space copy, reflinks where the filesystem has them); with one, 64 KB reads.
 */
int store_copy_data(store_fs_writer_t *w, const store_obj_t *src, uint64_t start, uint64_t len, uint8_t md5[16])
{
    store_checksum_digest_t d;
    char path[4200];
    char *buf = NULL;
    int r = -1;
    if (md5 != NULL && store_checksum_digest_init(&d, 0, 0) != 0)
        return -1;
    uint32_t nseg = src->num_parts != 0 ? src->num_parts : 1;
    for (uint32_t i = 0; i != nseg && len != 0; ++i) {
        uint64_t ss = seg_size(src, i);
        if (start >= ss) {
            start -= ss;
            continue;
        }
        uint64_t take = ss - start < len ? ss - start : len;
        if (src->num_parts != 0)
            snprintf(path, sizeof(path), "%s/%u", src->data_path, i + 1);
        else
            snprintf(path, sizeof(path), "%s", src->data_path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            goto out;
        off_t off = (off_t)start;
        uint64_t left = take;
        if (md5 == NULL) {
            while (left != 0) {
                ssize_t n = copy_file_range(fd, &off, w->fd, NULL, left > (1u << 30) ? (1u << 30) : (size_t)left, 0);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                left -= (uint64_t)n;
                w->size += (uint64_t)n;
            }
        }
        /* with an MD5, or where copy_file_range cannot (another filesystem, an old kernel): read and write */
        while (left != 0) {
            if (buf == NULL && (buf = malloc(READ_CHUNK)) == NULL) {
                close(fd);
                goto out;
            }
            ssize_t n = pread(fd, buf, left < READ_CHUNK ? (size_t)left : READ_CHUNK, off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || store_fs_writer_write(w, buf, (size_t)n) != 0) {
                close(fd);
                goto out;
            }
            if (md5 != NULL)
                store_checksum_digest_update(&d, buf, (size_t)n);
            off += n;
            left -= (uint64_t)n;
        }
        close(fd);
        len -= take;
        start = 0;
    }
    r = len == 0 ? 0 : -1;
out:
    free(buf);
    if (md5 != NULL) {
        if (r == 0)
            store_checksum_digest_final(&d, md5);
        else
            store_checksum_digest_dispose(&d);
    }
    return r;
}

store_obj_t *store_copy_source(store_req_t *sr, h2o_iovec_t source, char bucket[64])
{
    h2o_mem_pool_t *pool = &sr->req->pool;
    const char *reason;
    /* [/]bucket/key[?versionId=...], percent-encoded */
    const char *p = source.base, *end = source.base + source.len;
    if (p < end && *p == '/')
        ++p;
    const char *q = memchr(p, '?', (size_t)(end - p)), *vid = NULL;
    if (q != NULL) {
        /* ?versionId=ID: "null" or an id (hex digits: nothing to decode) */
        h2o_iovec_t qs = h2o_iovec_init(q + 1, (size_t)(end - q - 1));
        if (qs.len != 0) {
            if (qs.len < 10 || memcmp(qs.base, "versionId=", 10) != 0 || !store_fs_valid_version_id(qs.base + 10, qs.len - 10))
                return store_send_error(sr, 400, "InvalidArgument", "Invalid version id specified", NULL), NULL;
            char *v = h2o_mem_alloc_pool(pool, qs.len - 10 + 1);
            memcpy(v, qs.base + 10, qs.len - 10);
            v[qs.len - 10] = '\0';
            vid = v;
        }
        end = q;
    }
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (slash == NULL || slash == p || slash + 1 == end)
        return store_send_error(sr, 400, "InvalidArgument",
                                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", NULL),
               NULL;
    h2o_iovec_t sb = store_decode(pool, p, (size_t)(slash - p)), sk = store_decode(pool, slash + 1, (size_t)(end - slash - 1));
    if (!store_valid_key(sk.base, sk.len, &reason))
        return store_send_error(sr, 400, "InvalidArgument", reason, NULL), NULL;
    store_bucket_t *srcb = store_fs_valid_bucket_name(sb.base, sb.len) ? store_fs_bucket_get(sr->store->fs, sb.base, sb.len) : NULL;
    if (srcb == NULL)
        return store_send_error(sr, 404, "NoSuchBucket", "The specified source bucket does not exist.", NULL), NULL;
    store_obj_t *src = store_fs_obj_get_version(srcb, sk.base, sk.len, vid);
    int src_versioned = store_fs_bucket_versioning(srcb) != STORE_FS_VERSIONING_OFF;
    snprintf(bucket, 64, "%s", store_fs_bucket_name(srcb));
    store_fs_bucket_release(srcb);
    if (src == NULL && vid != NULL)
        return store_send_error(sr, 404, "NoSuchVersion", "The specified version does not exist.", NULL), NULL;
    if (src != NULL && src->delete_marker) {
        store_fs_obj_release(src);
        if (vid != NULL)
            return store_send_error(sr, 400, "InvalidRequest",
                                    "The source of a copy request may not specifically refer to a delete marker by version id.",
                                    NULL),
                   NULL;
        src = NULL;
    }
    if (src == NULL)
        return store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL), NULL;
    if (src_versioned || src->version_id[0] != '\0') {
        const char *sv = store_fs_obj_version(src);
        store_add_header(sr, "x-amz-copy-source-version-id", sv, strlen(sv));
    }
    /* x-amz-copy-source-if-* (RFC 7232 order, like a GET) */
    h2o_iovec_t im = store_req_header(sr, "x-amz-copy-source-if-match"),
                inm = store_req_header(sr, "x-amz-copy-source-if-none-match"),
                ims = store_req_header(sr, "x-amz-copy-source-if-modified-since"),
                ius = store_req_header(sr, "x-amz-copy-source-if-unmodified-since");
    int64_t t, mtime = src->mtime_ms / 1000;
    if ((im.base != NULL && !etag_list_matches(im, src->etag)) || (inm.base != NULL && etag_list_matches(inm, src->etag)) ||
        (im.base == NULL && ius.base != NULL && store_parse_http_date(ius, &t) == 0 && mtime > t) ||
        (inm.base == NULL && ims.base != NULL && store_parse_http_date(ims, &t) == 0 && mtime <= t)) {
        store_fs_obj_release(src);
        return store_send_error(sr, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                "<Condition>x-amz-copy-source-If-*</Condition>"),
               NULL;
    }
    return src;
}

static int copy_object(store_req_t *sr, store_bucket_t *b, h2o_iovec_t source)
{
    char srcb[64];
    /* If-Match / If-None-Match are about the destination (conditional write), x-amz-copy-source-if-* about the source */
    store_put_precond_t pc = {store_req_header(sr, "if-match"), store_req_header(sr, "if-none-match")};
    int refusal;
    store_obj_t *cur = store_fs_obj_get(b, sr->key.base, sr->key.len);
    refusal = store_put_precond(&pc, cur);
    store_fs_obj_release(cur);
    if (refusal != 0)
        return store_put_precond_error(sr, refusal);
    store_obj_t *src = store_copy_source(sr, source, srcb);
    if (src == NULL)
        return 0;
    int r = 0, e;
    h2o_iovec_t directive = store_req_header(sr, "x-amz-metadata-directive");
    int replace = directive.base != NULL && h2o_memis(directive.base, directive.len, H2O_STRLIT("REPLACE"));
    if (directive.base != NULL && !replace && !h2o_memis(directive.base, directive.len, H2O_STRLIT("COPY"))) {
        r = store_send_error(sr, 400, "InvalidArgument", "Unknown metadata directive.", NULL);
        goto out;
    }
    /* onto itself: refused unless the metadata changes, or an older version is copied over the latest (a restore) */
    if (!replace && strcmp(store_fs_bucket_name(b), srcb) == 0 && src->key_len == sr->key.len &&
        memcmp(src->key, sr->key.base, src->key_len) == 0 && memchr(source.base, '?', source.len) == NULL) {
        r = store_send_error(sr, 400, "InvalidRequest",
                             "This copy request is illegal because it is trying to copy an object to itself without changing the "
                             "object's metadata, storage class, website redirect location or encryption attributes.",
                             NULL);
        goto out;
    }
    if (src->size > MAX_COPY_SIZE) {
        r = store_send_error(sr, 400, "InvalidRequest",
                             "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120",
                             NULL);
        goto out;
    }
    store_header_t *headers = src->headers;
    size_t num_headers = src->num_headers;
    if ((replace && store_collect_headers(sr, &headers, &num_headers) != 0) ||
        store_tagging_headers(sr, headers, num_headers, src, &headers, &num_headers) != 0)
        goto out;

    store_fs_writer_t w;
    uint8_t md5[16];
    char etag[48];
    store_notify_ticket_t nt;
    if (store_notify_req_begin(sr, STORE_EV_COPY, &nt) != 0)
        goto out;
    if ((e = store_fs_writer_open(&w, b, sr->key.base, sr->key.len)) != 0) {
        store_notify_abort(&nt);
        r = store_send_fs_error(sr, e);
        goto out;
    }
    if (store_copy_data(&w, src, 0, src->size, src->num_parts != 0 ? md5 : NULL) != 0) {
        store_fs_writer_abort(&w);
        store_notify_abort(&nt);
        r = store_send_fs_error(sr, STORE_FS_EIO);
        goto out;
    }
    if (src->num_parts != 0)
        sigv4_hex(md5, 16, etag);
    else
        snprintf(etag, sizeof(etag), "%s", src->etag);
    store_obj_meta_t meta = {etag, 0, headers, num_headers};
    store_obj_t *o;
    if ((e = store_fs_writer_commit(&w, &meta, store_put_precond, &pc, &refusal, &o)) != 0) {
        store_notify_abort(&nt);
        r = e == STORE_FS_EPRECOND ? store_put_precond_error(sr, refusal) : store_send_fs_error(sr, e);
        goto out;
    }
    store_notify_req_change(sr, &nt, sr->key.base, sr->key.len, o, NULL);
    store_xml_t x;
    char quoted[64];
    store_xml_begin(&x, "CopyObjectResult", STORE_XML_NS);
    store_xml_elem_time(&x, "LastModified", o->mtime_ms);
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    store_xml_elem_str(&x, "ETag", quoted);
    store_xml_close(&x, "CopyObjectResult");
    store_version_headers(sr, b, o);
    store_fs_obj_release(o);
    r = store_send_xml(sr, 200, &x);
out:
    store_fs_obj_release(src);
    return r;
}

/* ---- dispatch ---------------------------------------------------------------------------------------------------------------- */

static int delete_object(store_req_t *sr, store_bucket_t *b)
{
    const char *vid;
    store_fs_deleted_t d;
    store_notify_ticket_t nt;
    if (store_version_param(sr, &vid) != 0)
        return 0;
    if (store_notify_req_begin(sr, STORE_EV_DELETE, &nt) != 0)
        return 0;
    int e = store_fs_obj_delete_version(b, sr->key.base, sr->key.len, vid, &d);
    if (e == 0)
        store_notify_req_deleted(sr, &nt, sr->key.base, sr->key.len, &d);
    else
        store_notify_abort(&nt);
    if (e != 0 && e != STORE_FS_ENOENT)
        return store_send_fs_error(sr, e);
    if (e == 0 && d.version_id[0] != '\0') { /* a version removed or a delete marker created */
        store_add_header(sr, "x-amz-version-id", d.version_id, strlen(d.version_id));
        if (d.delete_marker)
            store_add_header(sr, "x-amz-delete-marker", "true", 4);
    }
    return store_send_empty(sr, 204); /* also when the key did not exist */
}

static int has_param(store_req_t *sr, const char *name)
{
    return store_req_param(sr, name) != NULL;
}

int store_object_dispatch(store_req_t *sr)
{
    store_bucket_t *b = store_fs_bucket_get(sr->store->fs, sr->bucket.base, sr->bucket.len);
    const char *ver;
    int r;
    if (b == NULL)
        return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
    if (store_version_param(sr, &ver) != 0) { /* a malformed versionId: 400 whatever the operation */
        r = 0;
    } else if (is_method(sr, "GET") || sr->is_head) {
        if (has_param(sr, "uploadId") && !sr->is_head)
            r = store_multipart_list_parts(sr, b);
        else if (has_param(sr, "acl"))
            r = store_send_acl(sr);
        else if (has_param(sr, "tagging") && !sr->is_head)
            r = store_object_tagging(sr, b, ver);
        else if (has_param(sr, "attributes") && !sr->is_head)
            r = store_object_attributes(sr, b, ver);
        else if (has_param(sr, "retention") || has_param(sr, "legal-hold") || has_param(sr, "torrent"))
            r = store_send_error(sr, 501, "NotImplemented",
                                 "A query parameter you provided implies functionality that is not implemented.", NULL);
        else
            r = get_object(sr, b);
    } else if (is_method(sr, "PUT")) {
        h2o_iovec_t source = store_req_header(sr, "x-amz-copy-source");
        if (has_param(sr, "uploadId") || has_param(sr, "partNumber")) {
            if (source.base != NULL)
                r = store_multipart_upload_part_copy(sr, b, source);
            else
                r = store_multipart_upload_part(sr, b);
        } else if (has_param(sr, "acl")) {
            r = store_send_empty(sr, 200); /* accepted and ignored: every object is private */
        } else if (has_param(sr, "tagging")) {
            r = store_object_tagging(sr, b, ver);
        } else if (has_param(sr, "retention") || has_param(sr, "legal-hold")) {
            r = store_send_error(sr, 501, "NotImplemented",
                                 "A query parameter you provided implies functionality that is not implemented.", NULL);
        } else if (source.base != NULL) {
            r = copy_object(sr, b, source);
        } else {
            r = put_object(sr, b);
        }
    } else if (is_method(sr, "DELETE")) {
        if (has_param(sr, "uploadId"))
            r = store_multipart_abort(sr, b);
        else if (has_param(sr, "tagging"))
            r = store_object_tagging(sr, b, ver);
        else
            r = delete_object(sr, b);
    } else if (is_method(sr, "POST")) {
        if (has_param(sr, "uploads"))
            r = store_multipart_create(sr, b);
        else if (has_param(sr, "uploadId"))
            r = store_multipart_complete(sr, b);
        else
            r = store_send_error(sr, 501, "NotImplemented", "This POST operation is not implemented.", NULL);
    } else {
        r = store_send_error(sr, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", NULL);
    }
    store_fs_bucket_release(b);
    return r;
}
