/* examples/hooks/c/image_resize.c - image thumbnails and resizing with libvips, as a native hook.
 *
 * Asynchronously, on store events (a bucket notification naming this hook; on_invoke with the S3 event record): for each
 * uploaded object SOURCE_PREFIX/NAME.EXT it reads the image with host->s3, and writes THUMBS_PREFIX/NAME-W.webp and
 * THUMBS_PREFIX/NAME-W.jpg for each W of thumb_widths (W px wide, the height in proportion; never enlarged) with host->s3 (no
 * HTTP). Its writes are outside SOURCE_PREFIX, so a notification filtered on that prefix is not triggered by them (and the
 * store's loop guard, store.notify_max_generations, stops any chain anyway).
 *
 * Hostile images fail that invocation only (the queue retries it, then it goes to the on-failure destination): only JPEG, PNG
 * and WebP are decoded (by their first bytes), the dimensions are read from the header first and an image over max_pixels is
 * refused before any pixel is decoded (decompression bombs), and a truncated or corrupt file fails the load (fail_on=error).
 *
 * In origin-response (ABI 1.7; give the hook `origin_body: 16MB` or so, and put w in the behavior's cache key: `key: {query:
 * [w]}`): a 200 answer to a request with ?w=W, W one of `widths`, is resized to W px wide (never enlarged), as WebP when the
 * viewer's Accept admits image/webp, else JPEG, with Vary: Accept. The decoding runs on an offload thread (host->offload), not on
 * the worker's event loop. A w that is not in the list, a body the host did not read (larger than origin_body, no
 * Content-Length), or a non-200 answer pass unchanged. A hostile or broken image is answered 422 with the reason in a short
 * text body (Cache-Control: no-store), never the original bytes under a resized URL.
 *
 * Config (the hook's `config:` map): source_prefix ("photos/"), thumbs_prefix ("thumbs/"), thumb_widths ([320, 1280]),
 * widths ([160, 320, 640, 1280]: the ?w= allowed), max_pixels (50000000), quality (80: WebP and JPEG).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <vips/vips.h>
#include "edge_hook.h"
#include "image_resize_parse.h"

#define MAX_WIDTHS 16

typedef struct state {
    char source_prefix[256], thumbs_prefix[256];
    unsigned thumb_widths[MAX_WIDTHS], widths[MAX_WIDTHS];
    size_t num_thumb_widths, num_widths;
    uint64_t max_pixels;
    int quality;
} state_t;

/* ---- config --------------------------------------------------------------------------------------------------------------- */

static int conf_string(const char *json, size_t len, const char *name, char *out, size_t outlen, const char *def, char *err,
                       size_t errlen)
{
    int r = ir_config_scalar(json, len, name, out, outlen);
    if (r < 0) {
        snprintf(err, errlen, "config: %s must be a string of at most %zu bytes", name, outlen - 1);
        return -1;
    }
    if (r == 0)
        snprintf(out, outlen, "%s", def);
    return 0;
}

static int conf_number(const char *json, size_t len, const char *name, uint64_t min, uint64_t max, uint64_t def, uint64_t *out,
                       char *err, size_t errlen)
{
    char buf[32], *end;
    int r = ir_config_scalar(json, len, name, buf, sizeof(buf));
    if (r == 0) {
        *out = def;
        return 0;
    }
    unsigned long long v = r > 0 && buf[0] >= '0' && buf[0] <= '9' ? strtoull(buf, &end, 10) : 0;
    if (r < 0 || buf[0] < '0' || buf[0] > '9' || *end != '\0' || v < min || v > max) {
        snprintf(err, errlen, "config: %s must be a number between %llu and %llu", name, (unsigned long long)min,
                 (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int conf_widths(const char *json, size_t len, const char *name, unsigned *out, size_t *n, const unsigned *def,
                       size_t ndef, char *err, size_t errlen)
{
    long r = ir_config_widths(json, len, name, out, MAX_WIDTHS);
    if (r < 0 || (r == 0 && ir_config_scalar(json, len, name, (char[8]){0}, 8) != 0)) {
        snprintf(err, errlen, "config: %s must be a list of 1-%d widths, each 1-10000", name, MAX_WIDTHS);
        return -1;
    }
    if (r == 0) {
        memcpy(out, def, ndef * sizeof(*def));
        *n = ndef;
    } else {
        *n = (size_t)r;
    }
    return 0;
}

static void quiet(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    (void)domain;
    (void)level;
    (void)message;
    (void)data;
}

static int init(const edge_host_t *host, const char *config, size_t len, void **state, char *err, size_t errlen)
{
    static const unsigned def_thumbs[] = {320, 1280}, def_widths[] = {160, 320, 640, 1280};
    uint64_t v;
    (void)host;
    state_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "no memory");
        return -1;
    }
    if (conf_string(config, len, "source_prefix", st->source_prefix, sizeof(st->source_prefix), "photos/", err, errlen) != 0 ||
        conf_string(config, len, "thumbs_prefix", st->thumbs_prefix, sizeof(st->thumbs_prefix), "thumbs/", err, errlen) != 0 ||
        conf_widths(config, len, "thumb_widths", st->thumb_widths, &st->num_thumb_widths, def_thumbs, 2, err, errlen) != 0 ||
        conf_widths(config, len, "widths", st->widths, &st->num_widths, def_widths, 4, err, errlen) != 0 ||
        conf_number(config, len, "max_pixels", 1, 1000000000, 50000000, &st->max_pixels, err, errlen) != 0 ||
        conf_number(config, len, "quality", 1, 100, 80, &v, err, errlen) != 0)
        goto fail;
    st->quality = (int)v;
    if (st->thumbs_prefix[0] == '\0' || strncmp(st->thumbs_prefix, st->source_prefix, strlen(st->source_prefix)) == 0 ||
        strncmp(st->source_prefix, st->thumbs_prefix, strlen(st->thumbs_prefix)) == 0) {
        snprintf(err, errlen, "config: thumbs_prefix must not be empty nor overlap source_prefix (its writes would notify it)");
        goto fail;
    }
    if (VIPS_INIT("edgehook") != 0) {
        snprintf(err, errlen, "libvips did not start: %s", vips_error_buffer());
        goto fail;
    }
    vips_concurrency_set(1); /* one thread per resize: the caller's (the async consumers and offload threads are the pool) */
    vips_cache_set_max(0);   /* no operation cache: every image is new, and hostile ones must not stay around */
    vips_block_untrusted_set(TRUE);
    /* libvips' per-tile warnings on a corrupt image would go to stderr: the error that fails the call says it once */
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, quiet, NULL);
    *state = st;
    return 0;
fail:
    free(st);
    return -1;
}

static void fini(void *state)
{
    free(state);
}

/* ---- resizing ------------------------------------------------------------------------------------------------------------- */

/* the last libvips error, one line, into err */
static void vips_why(const char *what, char *err, size_t errlen)
{
    char *e = vips_error_buffer_copy();
    for (char *p = e; p != NULL && *p != '\0'; ++p)
        if (*p == '\n')
            *p = *(p + 1) != '\0' ? ' ' : '\0';
    snprintf(err, errlen, "%s: %s", what, e != NULL && *e != '\0' ? e : "libvips failed");
    g_free(e);
}

/* checks an image before decoding it: a type we decode, dimensions from its header within max_pixels. 0, or -1 with why */
static int check_image(const state_t *st, const void *data, size_t len, int *w, int *h, char *err, size_t errlen)
{
    if (ir_sniff(data, len) == IR_TYPE_NONE) {
        snprintf(err, errlen, "not a JPEG, PNG or WebP image");
        return -1;
    }
    VipsImage *hdr = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (hdr == NULL) {
        vips_why("unreadable image header", err, errlen);
        return -1;
    }
    uint64_t pixels = (uint64_t)vips_image_get_width(hdr) * (uint64_t)vips_image_get_height(hdr) *
                      (uint64_t)(vips_image_get_n_pages(hdr) > 0 ? vips_image_get_n_pages(hdr) : 1);
    *w = vips_image_get_width(hdr);
    *h = vips_image_get_height(hdr);
    g_object_unref(hdr);
    if (pixels > st->max_pixels) {
        snprintf(err, errlen, "the image is %dx%d (%llu pixels), over max_pixels %llu (a decompression bomb?)", *w, *h,
                 (unsigned long long)pixels, (unsigned long long)st->max_pixels);
        return -1;
    }
    return 0;
}

/* a resized copy: `width` px wide (never enlarged), the height in proportion. NULL with why */
static VipsImage *resize(const void *data, size_t len, unsigned width, char *err, size_t errlen)
{
    VipsImage *t = NULL, *out;
    if (vips_thumbnail_buffer((void *)data, len, &t, (int)width, "height", VIPS_MAX_COORD, "size", VIPS_SIZE_DOWN,
                              "option_string", "fail_on=error", NULL) != 0) {
        vips_why("cannot decode the image", err, errlen);
        return NULL;
    }
    /* decoded once into memory (the thumbnail reads its source sequentially: two encodings would read it twice) */
    out = vips_image_copy_memory(t);
    g_object_unref(t);
    if (out == NULL)
        vips_why("cannot decode the image", err, errlen);
    return out;
}

/* encodes img: WebP or JPEG (g_free the result). 0, or -1 with why */
static int encode(const state_t *st, VipsImage *img, int webp, void **out, size_t *outlen, char *err, size_t errlen)
{
    int r = webp ? vips_webpsave_buffer(img, out, outlen, "Q", st->quality, "strip", TRUE, NULL)
                 : vips_jpegsave_buffer(img, out, outlen, "Q", st->quality, "strip", TRUE, "interlace", TRUE, NULL);
    if (r != 0) {
        vips_why(webp ? "cannot encode WebP" : "cannot encode JPEG", err, errlen);
        return -1;
    }
    return 0;
}

/* ---- the store (host->s3) ------------------------------------------------------------------------------------------------- */

typedef struct answer {
    int status;
    edge_str_t body; /* copied to the call's arena */
    char error[200];
} answer_t;

static void on_s3(edge_ctx_t *ctx, void *arg, const edge_fetch_response_t *r)
{
    answer_t *a = arg;
    (void)ctx;
    a->status = r->status;
    a->body = r->body;
    snprintf(a->error, sizeof(a->error), "%.*s", (int)(r->body.len < 150 ? r->body.len : 150), r->body.ptr);
}

/* one store operation, waited for: the status (EDGE_E_* when it could not be made) */
static int s3_op(const edge_host_t *host, edge_ctx_t *ctx, int op, const char *bucket, const char *key, const void *body,
                 size_t len, const char *ctype, answer_t *a, void **keep)
{
    edge_s3_request_t r = {.size = sizeof(r), .op = op};
    edge_header_t hs[1] = {{{"content-type", 12}, {"Content-Type", 12}, {ctype, ctype != NULL ? strlen(ctype) : 0}}};
    r.bucket = (edge_str_t){bucket, strlen(bucket)};
    r.key = (edge_str_t){key, strlen(key)};
    if (body != NULL) {
        r.body = (edge_str_t){body, len};
        r.headers = hs;
        r.num_headers = 1;
    }
    memset(a, 0, sizeof(*a));
    a->status = EDGE_E_FAILED;
    int e = host->s3(ctx, &r, on_s3, a);
    if (e != EDGE_OK || (e = host->fetch_wait(ctx)) != EDGE_OK)
        return e;
    if (keep != NULL && a->status == 200) {
        /* the answer's bytes are valid in the callback only: kept in the call's arena */
        void *copy = host->alloc(ctx, a->body.len != 0 ? a->body.len : 1);
        if (copy == NULL)
            return EDGE_E_NOMEM;
        memcpy(copy, a->body.ptr, a->body.len);
        *keep = copy;
    }
    return a->status;
}

/* ---- asynchronous: thumbnails of each uploaded object ---------------------------------------------------------------------- */

typedef struct job {
    const state_t *st;
    const edge_host_t *host;
    edge_ctx_t *ctx;
    int failed;
    unsigned written, skipped;
    char why[2800];
} job_t;

static void logf_(const edge_host_t *host, edge_ctx_t *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void logf_(const edge_host_t *host, edge_ctx_t *ctx, int level, const char *fmt, ...)
{
    char line[900];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    host->log(ctx, level, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* THUMBS_PREFIX + NAME (the key after SOURCE_PREFIX, without its extension) + "-W." + ext */
static int thumb_key(const state_t *st, const char *key, unsigned width, const char *ext, char *out, size_t outlen)
{
    const char *name = key + strlen(st->source_prefix), *slash = strrchr(name, '/'), *dot = strrchr(name, '.');
    size_t nlen = dot != NULL && (slash == NULL || dot > slash) && dot != name && dot[-1] != '/' ? (size_t)(dot - name) : strlen(name);
    int n = snprintf(out, outlen, "%s%.*s-%u.%s", st->thumbs_prefix, (int)nlen, name, width, ext);
    return n > 0 && (size_t)n < outlen && (size_t)n <= 1024 ? 0 : -1;
}

static void one_record(const ir_record_t *rec, void *arg)
{
    job_t *j = arg;
    const state_t *st = j->st;
    answer_t a;
    void *img = NULL;
    int w, h;
    if (j->failed)
        return;
    if (strncmp(rec->key, st->source_prefix, strlen(st->source_prefix)) != 0 || strstr(rec->event, "ObjectCreated") == NULL) {
        logf_(j->host, j->ctx, EDGE_LOG_INFO, "skipped %s %s/%s (not a creation under %s)", rec->event, rec->bucket, rec->key,
              st->source_prefix);
        ++j->skipped;
        return;
    }
    int s = s3_op(j->host, j->ctx, EDGE_S3_GET, rec->bucket, rec->key, NULL, 0, NULL, &a, &img);
    if (s == 404) { /* deleted since: nothing to do */
        logf_(j->host, j->ctx, EDGE_LOG_INFO, "skipped %s/%s: no longer there", rec->bucket, rec->key);
        ++j->skipped;
        return;
    }
    if (s != 200) {
        snprintf(j->why, sizeof(j->why), "get %s/%s: %d %s", rec->bucket, rec->key, s, a.error);
        j->failed = 1;
        return;
    }
    size_t len = a.body.len;
    char err[400];
    if (check_image(st, img, len, &w, &h, err, sizeof(err)) != 0) {
        snprintf(j->why, sizeof(j->why), "%s/%s: %s", rec->bucket, rec->key, err);
        j->failed = 1;
        return;
    }
    for (size_t i = 0; i != st->num_thumb_widths; ++i) {
        VipsImage *t = resize(img, len, st->thumb_widths[i], err, sizeof(err));
        if (t == NULL) {
            snprintf(j->why, sizeof(j->why), "%s/%s: %s", rec->bucket, rec->key, err);
            j->failed = 1;
            return;
        }
        for (int webp = 1; webp >= 0; --webp) {
            void *out = NULL;
            size_t outlen = 0;
            char key[1100];
            if (thumb_key(st, rec->key, st->thumb_widths[i], webp ? "webp" : "jpg", key, sizeof(key)) != 0) {
                snprintf(j->why, sizeof(j->why), "%s/%s: the thumbnail's key is too long", rec->bucket, rec->key);
                j->failed = 1;
            } else if (encode(st, t, webp, &out, &outlen, err, sizeof(err)) != 0) {
                snprintf(j->why, sizeof(j->why), "%s/%s: %s", rec->bucket, rec->key, err);
                j->failed = 1;
            } else if ((s = s3_op(j->host, j->ctx, EDGE_S3_PUT, rec->bucket, key, out, outlen, webp ? "image/webp" : "image/jpeg",
                                  &a, NULL)) != 200) {
                snprintf(j->why, sizeof(j->why), "put %s/%s: %d %s", rec->bucket, key, s, a.error);
                j->failed = 1;
            } else {
                ++j->written;
                logf_(j->host, j->ctx, EDGE_LOG_INFO, "wrote %s/%s (%dx%d, %zu bytes) from %s (%dx%d)", rec->bucket, key,
                      vips_image_get_width(t), vips_image_get_height(t), outlen, rec->key, w, h);
            }
            g_free(out);
            if (j->failed)
                break;
        }
        g_object_unref(t);
        if (j->failed)
            return;
    }
}

static edge_action_t on_invoke(void *state, const edge_host_t *host, edge_ctx_t *ctx, const char *payload, size_t len,
                               edge_str_t *result)
{
    job_t j = {.st = state, .host = host, .ctx = ctx};
    if (host->size < offsetof(edge_host_t, s3) + sizeof(host->s3)) {
        host->fail(ctx, "the host has no store API (ABI 1.6)", 35);
        return EDGE_FAIL;
    }
    long n = ir_parse_event(payload, len, one_record, &j);
    if (j.failed) {
        host->fail(ctx, j.why, strlen(j.why));
        return EDGE_FAIL;
    }
    if (n < 0) {
        static const char msg[] = "not an S3 event (Records[].s3.bucket.name and .object.key)";
        host->fail(ctx, msg, sizeof(msg) - 1);
        return EDGE_FAIL;
    }
    char *out = host->alloc(ctx, 80);
    if (out == NULL)
        return EDGE_FAIL;
    int m = snprintf(out, 80, "{\"records\":%ld,\"thumbnails\":%u,\"skipped\":%u}", n, j.written, j.skipped);
    result->ptr = out;
    result->len = (size_t)m;
    return EDGE_CONTINUE;
}

/* ---- origin-response: ?w=W resized on the fly ------------------------------------------------------------------------------ */

static void set_header(const edge_host_t *host, edge_ctx_t *ctx, const char *name, const char *value)
{
    host->header_set(ctx, EDGE_MSG_RESPONSE, name, strlen(name), value, strlen(value));
}

/* a hostile or broken image: 422 with why, never stored */
static edge_action_t refuse(const edge_host_t *host, edge_ctx_t *ctx, const char *why)
{
    char body[700];
    int n = snprintf(body, sizeof(body), "image_resize: %s\n", why);
    logf_(host, ctx, EDGE_LOG_WARN, "422: %s", why);
    host->set_status(ctx, 422);
    host->set(ctx, EDGE_FIELD_STATUS_DESCRIPTION, "Unprocessable Entity", 20);
    host->header_remove(ctx, EDGE_MSG_RESPONSE, "etag", 4);
    host->header_remove(ctx, EDGE_MSG_RESPONSE, "last-modified", 13);
    set_header(host, ctx, "Content-Type", "text/plain; charset=utf-8");
    set_header(host, ctx, "Cache-Control", "no-store");
    host->set(ctx, EDGE_FIELD_RESPONSE_BODY, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
    return EDGE_CONTINUE;
}

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    const state_t *st = state;
    edge_str_t q, body;
    edge_header_t accept;
    if (event != EDGE_ORIGIN_RESPONSE || host->get_status(ctx) != 200 || host->get(ctx, EDGE_FIELD_QUERYSTRING, &q) != EDGE_OK)
        return EDGE_CONTINUE;
    long w = ir_query_w(q.ptr, q.len);
    size_t i = 0;
    while (w > 0 && i != st->num_widths && st->widths[i] != (unsigned long)w)
        ++i;
    if (w <= 0 || i == st->num_widths)
        return EDGE_CONTINUE; /* no w, or one not allowed: the original, untouched */
    if (host->size < offsetof(edge_host_t, offload) + sizeof(host->offload) ||
        host->get(ctx, EDGE_FIELD_ORIGIN_BODY, &body) != EDGE_OK) {
        logf_(host, ctx, EDGE_LOG_WARN, "?w=%ld: the origin's body was not read (set origin_body: on the hook, over the image's "
              "size, and a Content-Length from the origin): the original is passed", w);
        return EDGE_CONTINUE;
    }
    int webp = 0;
    for (size_t n = 0; host->header_get(ctx, EDGE_MSG_REQUEST, "accept", 6, n, &accept) == EDGE_OK; ++n)
        webp |= ir_accepts_webp(accept.value.ptr, accept.value.len);
    /* decoding takes milliseconds to seconds: not on the worker's event loop (EDGE_E_DENIED: already off it, or no offload).
     * Strings read before the move may be the caller's memory: the body is read again after it */
    if (host->offload(ctx) == EDGE_OK && host->get(ctx, EDGE_FIELD_ORIGIN_BODY, &body) != EDGE_OK)
        return EDGE_CONTINUE;
    char err[400];
    int iw, ih;
    if (check_image(st, body.ptr, body.len, &iw, &ih, err, sizeof(err)) != 0)
        return refuse(host, ctx, err);
    VipsImage *t = resize(body.ptr, body.len, (unsigned)w, err, sizeof(err));
    if (t == NULL)
        return refuse(host, ctx, err);
    void *out = NULL;
    size_t outlen = 0;
    int r = encode(st, t, webp, &out, &outlen, err, sizeof(err));
    g_object_unref(t);
    if (r != 0)
        return refuse(host, ctx, err);
    host->set(ctx, EDGE_FIELD_RESPONSE_BODY, out, outlen);
    g_free(out);
    set_header(host, ctx, "Content-Type", webp ? "image/webp" : "image/jpeg");
    set_header(host, ctx, "Vary", "Accept");
    host->header_remove(ctx, EDGE_MSG_RESPONSE, "etag", 4); /* the original's: not these bytes */
    host->header_remove(ctx, EDGE_MSG_RESPONSE, "content-md5", 11);
    return EDGE_CONTINUE;
}

/* both: on_event (origin-response) and on_invoke (store events) */
__attribute__((visibility("default"))) const edge_hook_plugin_t edge_hook_plugin = {
    .abi_major = EDGE_HOOK_ABI_MAJOR,
    .abi_minor = EDGE_HOOK_ABI_MINOR,
    .size = sizeof(edge_hook_plugin_t),
    .events = EDGE_EVENT_BIT(EDGE_ORIGIN_RESPONSE),
    .name = "image_resize",
    .version = "1.1",
    .init = init,
    .on_event = on_event,
    .fini = fini,
    .on_invoke = on_invoke,
};
