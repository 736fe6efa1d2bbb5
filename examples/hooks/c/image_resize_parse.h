/* examples/hooks/c/image_resize_parse.h - the hostile-input parsing of image_resize.c, apart from libvips so that it can be
 * fuzzed (tests/fuzz/fuzz_image_parse.c): the bucket and key of each record of an S3 event (JSON), the URL-decoding of the key,
 * the image type from its first bytes, ?w= from a query string, and the width lists of the hook's config. No allocation: every
 * output goes into a caller's buffer, and every input is bounded by its length. */
#ifndef IMAGE_RESIZE_PARSE_H
#define IMAGE_RESIZE_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IR_JSON_MAX_DEPTH 32

/* ---- a minimal JSON walker: skips any value, reads strings (escapes decoded, \u to UTF-8) -------------------------------- */

typedef struct ir_json {
    const char *p, *end;
    int depth;
} ir_json_t;

static __attribute__((unused)) void ir_ws(ir_json_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        ++j->p;
}

static __attribute__((unused)) int ir_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* a string at j->p (its opening quote): decoded into out (NUL-terminated, at most outlen - 1 bytes) when out is not NULL. 0, or
 * -1 when malformed or longer than out */
static __attribute__((unused)) int ir_string(ir_json_t *j, char *out, size_t outlen)
{
    size_t n = 0;
    if (j->p >= j->end || *j->p != '"')
        return -1;
    ++j->p;
    while (j->p < j->end && *j->p != '"') {
        unsigned c = (unsigned char)*j->p++;
        char buf[4];
        size_t blen = 1;
        if (c < 0x20)
            return -1;
        buf[0] = (char)c;
        if (c == '\\') {
            if (j->p >= j->end)
                return -1;
            char e = *j->p++;
            switch (e) {
            case '"': case '\\': case '/': buf[0] = e; break;
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'n': buf[0] = '\n'; break;
            case 'r': buf[0] = '\r'; break;
            case 't': buf[0] = '\t'; break;
            case 'u': {
                unsigned cp = 0;
                if (j->end - j->p < 4)
                    return -1;
                for (int i = 0; i != 4; ++i) {
                    int h = ir_hex(j->p[i]);
                    if (h < 0)
                        return -1;
                    cp = cp << 4 | (unsigned)h;
                }
                j->p += 4;
                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp = 0xfffd; /* no surrogate pairs in keys we handle: replaced */
                if (cp < 0x80) {
                    buf[0] = (char)cp;
                } else if (cp < 0x800) {
                    buf[0] = (char)(0xc0 | cp >> 6);
                    buf[1] = (char)(0x80 | (cp & 0x3f));
                    blen = 2;
                } else {
                    buf[0] = (char)(0xe0 | cp >> 12);
                    buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                    buf[2] = (char)(0x80 | (cp & 0x3f));
                    blen = 3;
                }
                break;
            }
            default:
                return -1;
            }
        }
        if (out != NULL) {
            if (n + blen >= outlen)
                return -1;
            memcpy(out + n, buf, blen);
        }
        n += blen;
    }
    if (j->p >= j->end)
        return -1;
    ++j->p;
    if (out != NULL)
        out[n] = '\0';
    return 0;
}

static __attribute__((unused)) int ir_value(ir_json_t *j);

/* an object or array at j->p: each member's value goes through `each` (NULL: skipped) */
typedef int (*ir_member_fn)(ir_json_t *j, const char *name, size_t index, void *arg);

static __attribute__((unused)) int ir_container(ir_json_t *j, ir_member_fn each, void *arg)
{
    char open = *j->p, close = open == '{' ? '}' : ']';
    char name[64];
    size_t index = 0;
    if (++j->depth > IR_JSON_MAX_DEPTH)
        return -1;
    ++j->p;
    ir_ws(j);
    if (j->p < j->end && *j->p == close) {
        ++j->p;
        --j->depth;
        return 0;
    }
    for (;;) {
        name[0] = '\0';
        ir_ws(j);
        if (open == '{') {
            const char *at = j->p;
            if (ir_string(j, name, sizeof(name)) != 0) {
                j->p = at; /* a long name: read it again, unkept */
                if (ir_string(j, NULL, 0) != 0)
                    return -1;
                name[0] = '\0';
            }
            ir_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return -1;
            ++j->p;
            ir_ws(j);
        }
        if (j->p >= j->end) /* the callbacks look at the value's first byte */
            return -1;
        if (each != NULL) {
            int r = each(j, name, index, arg);
            if (r < 0)
                return -1;
            if (r == 0 && ir_value(j) != 0) /* 0: not consumed */
                return -1;
        } else if (ir_value(j) != 0) {
            return -1;
        }
        ++index;
        ir_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == ',') {
            ++j->p;
            continue;
        }
        if (*j->p != close)
            return -1;
        ++j->p;
        --j->depth;
        return 0;
    }
}

static __attribute__((unused)) int ir_value(ir_json_t *j)
{
    ir_ws(j);
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
    case '[':
        return ir_container(j, NULL, NULL);
    case '"':
        return ir_string(j, NULL, 0);
    default: {
        const char *s = j->p;
        while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '-' || *j->p == '+' || *j->p == '.' || *j->p == 'e' ||
                                 *j->p == 'E' || (*j->p >= 'a' && *j->p <= 'z')))
            ++j->p;
        return j->p == s ? -1 : 0;
    }
    }
}

/* ---- the S3 event: Records[i].s3.bucket.name and Records[i].s3.object.key ------------------------------------------------- */

#define IR_BUCKET_MAX 64
#define IR_KEY_MAX 1100 /* a key is at most 1024 bytes; URL-encoded it may be three times that */
#define IR_KEY_ENC_MAX (3 * 1024 + 1)

typedef struct ir_record {
    char bucket[IR_BUCKET_MAX];
    char key[IR_KEY_MAX]; /* decoded */
    char event[64];       /* eventName */
} ir_record_t;

typedef void (*ir_record_fn)(const ir_record_t *r, void *arg);

typedef struct ir_walk {
    ir_record_t rec;
    char enc_key[IR_KEY_ENC_MAX];
    int have_bucket, have_key;
    ir_record_fn cb;
    void *arg;
    size_t count;
} ir_walk_t;

/* S3's key encoding in event records: %XX and '+' for a space. 0, or -1 (malformed, a NUL, too long) */
static __attribute__((unused)) int ir_url_decode(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0'; ++p) {
        int c = (unsigned char)*p;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = ir_hex(p[1]), lo = hi >= 0 ? ir_hex(p[2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            p += 2;
        }
        if (c == 0 || n + 1 >= outlen)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static __attribute__((unused)) int ir_on_bucket(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_walk_t *w = arg;
    (void)index;
    if (strcmp(name, "name") != 0 || *j->p != '"')
        return 0;
    if (ir_string(j, w->rec.bucket, sizeof(w->rec.bucket)) != 0)
        return -1;
    w->have_bucket = 1;
    return 1;
}

static __attribute__((unused)) int ir_on_object(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_walk_t *w = arg;
    (void)index;
    if (strcmp(name, "key") != 0 || *j->p != '"')
        return 0;
    if (ir_string(j, w->enc_key, sizeof(w->enc_key)) != 0 || ir_url_decode(w->enc_key, w->rec.key, sizeof(w->rec.key)) != 0)
        return -1;
    w->have_key = 1;
    return 1;
}

static __attribute__((unused)) int ir_on_s3(ir_json_t *j, const char *name, size_t index, void *arg)
{
    (void)index;
    if (*j->p != '{')
        return 0;
    if (strcmp(name, "bucket") == 0)
        return ir_container(j, ir_on_bucket, arg) == 0 ? 1 : -1;
    if (strcmp(name, "object") == 0)
        return ir_container(j, ir_on_object, arg) == 0 ? 1 : -1;
    return 0;
}

static __attribute__((unused)) int ir_on_record(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_walk_t *w = arg;
    (void)index;
    if (strcmp(name, "s3") == 0 && *j->p == '{')
        return ir_container(j, ir_on_s3, arg) == 0 ? 1 : -1;
    if (strcmp(name, "eventName") == 0 && *j->p == '"')
        return ir_string(j, w->rec.event, sizeof(w->rec.event)) == 0 ? 1 : -1;
    return 0;
}

static __attribute__((unused)) int ir_on_records(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_walk_t *w = arg;
    (void)name;
    (void)index;
    if (*j->p != '{')
        return -1;
    memset(&w->rec, 0, sizeof(w->rec));
    w->have_bucket = w->have_key = 0;
    if (ir_container(j, ir_on_record, arg) != 0 || !w->have_bucket || !w->have_key)
        return -1;
    w->cb(&w->rec, w->arg);
    ++w->count;
    return 1;
}

static __attribute__((unused)) int ir_on_top(ir_json_t *j, const char *name, size_t index, void *arg)
{
    (void)index;
    if (strcmp(name, "Records") != 0 || *j->p != '[')
        return 0;
    return ir_container(j, ir_on_records, arg) == 0 ? 1 : -1;
}

/* calls cb for each record of an S3 event; the number of records, or -1 (not JSON, not an S3 event, a record without bucket
 * or key, a key that does not decode). Records before a malformed one have been given to cb. */
static __attribute__((unused)) long ir_parse_event(const char *doc, size_t len, ir_record_fn cb, void *arg)
{
    ir_walk_t walk, *tw = &walk; /* 4 KB: the fiber stacks are 512 KB */
    ir_json_t j = {doc, doc + len, 0};
    memset(tw, 0, sizeof(*tw));
    tw->cb = cb;
    tw->arg = arg;
    ir_ws(&j);
    if (j.p >= j.end || *j.p != '{' || ir_container(&j, ir_on_top, tw) != 0)
        return -1;
    ir_ws(&j);
    if (j.p != j.end || tw->count == 0)
        return -1;
    return (long)tw->count;
}

/* ---- the rest ------------------------------------------------------------------------------------------------------------- */

enum { IR_TYPE_NONE = 0, IR_TYPE_JPEG = 1, IR_TYPE_PNG = 2, IR_TYPE_WEBP = 3 };

/* the image type from its first bytes: only these three are decoded (the other loaders of libvips are never reached) */
static __attribute__((unused)) int ir_sniff(const unsigned char *p, size_t len)
{
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return IR_TYPE_JPEG;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return IR_TYPE_PNG;
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return IR_TYPE_WEBP;
    return IR_TYPE_NONE;
}

/* a decimal 1-99999 without sign or leading zero; -1 otherwise */
static __attribute__((unused)) long ir_number(const char *s, size_t len)
{
    long v = 0;
    if (len == 0 || len > 5 || s[0] == '0')
        return -1;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* the value of w= in a query string (no '?'): >0, 0 when absent, -1 when present but not a number (or given twice) */
static __attribute__((unused)) long ir_query_w(const char *q, size_t len)
{
    long found = 0;
    const char *p = q, *end = q + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp != NULL ? amp : end;
        if (e - p >= 2 && p[0] == 'w' && p[1] == '=') {
            if (found != 0)
                return -1;
            found = ir_number(p + 2, (size_t)(e - p - 2));
            if (found < 0)
                return -1;
        }
        p = e + 1;
    }
    return found;
}

/* the bytes from a to b (none when b is not after a) */
static __attribute__((unused)) size_t ir_span(const char *a, const char *b)
{
    return b > a ? (size_t)(b - a) : 0;
}

/* whether an Accept header value admits image/webp with a non-zero q (image/webp, image/any, or any/any) */
static __attribute__((unused)) int ir_accepts_webp(const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    int best = 0; /* 0 none, 1 by wildcard, 2 explicitly */
    int verdict = 0;
    while (p < end) {
        const char *comma = memchr(p, ',', ir_span(p, end)), *e = comma != NULL ? comma : end, *semi;
        while (p < e && (*p == ' ' || *p == '\t'))
            ++p;
        semi = memchr(p, ';', ir_span(p, e));
        const char *te = semi != NULL ? semi : e;
        while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
            --te;
        size_t tl = (size_t)(te - p);
        int rank = 0;
        if (tl == 10 && strncasecmp(p, "image/webp", 10) == 0)
            rank = 2;
        else if ((tl == 7 && strncasecmp(p, "image/*", 7) == 0) || (tl == 3 && memcmp(p, "*/*", 3) == 0))
            rank = 1;
        if (rank != 0 && rank >= best) {
            int zero = 0;
            for (const char *s = semi; s != NULL && s < e;) {
                ++s;
                while (s < e && (*s == ' ' || *s == '\t'))
                    ++s;
                if (e - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
                    const char *d = s + 2;
                    zero = d < e && *d == '0';
                    for (++d; zero && d < e && *d != ';'; ++d)
                        if (*d != '.' && *d != '0' && *d != ' ')
                            zero = 0;
                }
                s = memchr(s, ';', ir_span(s, e));
            }
            if (rank > best || !zero)
                verdict = !zero;
            best = rank;
        }
        p = e + 1;
    }
    return verdict;
}

/* a JSON array of widths in the hook's config ("NAME":[320,1280]): up to max of them into out (1-10000 each); the count, 0 when
 * the name is absent, -1 when malformed */
typedef struct ir_widths {
    const char *name;
    unsigned *out;
    size_t max, n;
    int found, bad;
} ir_widths_t;

static __attribute__((unused)) int ir_on_width(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_widths_t *w = arg;
    const char *s = j->p;
    (void)name;
    (void)index;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        ++j->p;
    long v = ir_number(s, (size_t)(j->p - s));
    if (v < 1 || v > 10000 || w->n == w->max) {
        w->bad = 1;
        return -1;
    }
    w->out[w->n++] = (unsigned)v;
    return 1;
}

static __attribute__((unused)) int ir_on_config(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_widths_t *w = arg;
    (void)index;
    if (strcmp(name, w->name) != 0)
        return 0;
    if (*j->p != '[') {
        w->bad = 1;
        return -1;
    }
    w->found = 1;
    return ir_container(j, ir_on_width, arg) == 0 ? 1 : -1;
}

static __attribute__((unused)) long ir_config_widths(const char *doc, size_t len, const char *name, unsigned *out, size_t max)
{
    ir_widths_t w = {name, out, max, 0, 0, 0};
    ir_json_t j = {doc, doc + len, 0};
    ir_ws(&j);
    if (j.p >= j.end || *j.p != '{' || ir_container(&j, ir_on_config, &w) != 0)
        return -1;
    return w.found ? (long)w.n : 0;
}

/* "NAME":"string" or "NAME":number (as text) at the top of the config: 1 found, 0 absent, -1 malformed */
typedef struct ir_scalar {
    const char *name;
    char *out;
    size_t outlen;
    int found;
} ir_scalar_t;

static __attribute__((unused)) int ir_on_scalar(ir_json_t *j, const char *name, size_t index, void *arg)
{
    ir_scalar_t *s = arg;
    (void)index;
    if (strcmp(name, s->name) != 0)
        return 0;
    s->found = 1;
    if (*j->p == '"')
        return ir_string(j, s->out, s->outlen) == 0 ? 1 : -1;
    const char *b = j->p;
    if (ir_value(j) != 0 || (size_t)(j->p - b) >= s->outlen || *b == '{' || *b == '[')
        return -1;
    memcpy(s->out, b, (size_t)(j->p - b));
    s->out[j->p - b] = '\0';
    return 1;
}

static __attribute__((unused)) int ir_config_scalar(const char *doc, size_t len, const char *name, char *out, size_t outlen)
{
    ir_scalar_t s = {name, out, outlen, 0};
    ir_json_t j = {doc, doc + len, 0};
    ir_ws(&j);
    if (j.p >= j.end || *j.p != '{' || ir_container(&j, ir_on_scalar, &s) != 0)
        return -1;
    return s.found;
}

#endif
