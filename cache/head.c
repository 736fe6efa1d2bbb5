/* cache/head.c - the compact encoding of a stored response head (format in cache/head.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/assert.h"
#include "cache/head.h"

#define NUM_TOKENS 62 /* h2o__tokens of libh2o 2.2.5: H2O_TOKEN_AUTHORITY ... H2O_TOKEN_X_TRAFFIC */

enum { KIND_TOKEN_TITLE = 0x80, KIND_TOKEN = 0x01, KIND_TOKEN_ORIG = 0x02, KIND_NAME = 0x03, KIND_NAME_ORIG = 0x04 };

/* the usual spelling of each token's name ("Content-Type"): the orig_name of KIND_TOKEN_TITLE fields points here */
static char title_names[NUM_TOKENS][32];
static uint8_t tokens_id;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    uint32_t h = 2166136261u; /* FNV-1a over the token names, in order */
    EDGE_ASSERT(H2O_TOKEN_X_TRAFFIC - h2o__tokens + 1 == NUM_TOKENS);
    for (size_t i = 0; i != NUM_TOKENS; ++i) {
        const h2o_iovec_t *n = &h2o__tokens[i].buf;
        EDGE_ASSERT(n->len < sizeof(title_names[i]));
        for (size_t j = 0; j != n->len; ++j) {
            char c = n->base[j];
            title_names[i][j] = (j == 0 || n->base[j - 1] == '-') && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
            h = (h ^ (uint8_t)c) * 16777619u;
        }
        h = (h ^ 0xff) * 16777619u;
    }
    tokens_id = (uint8_t)(h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24));
}

static void init(void)
{
    pthread_once(&init_once, init_tables);
}

uint8_t cache_head_tokens_id(void)
{
    init();
    return tokens_id;
}

/* the token number of a name, or -1 */
static int token_of(const h2o_iovec_t *name)
{
    if (!h2o_iovec_is_token(name))
        return -1;
    ptrdiff_t i = (const h2o_token_t *)name - h2o__tokens;
    return i >= 0 && i < NUM_TOKENS ? (int)i : -1;
}

static size_t varint_size(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

static char *put_varint(char *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

static char *put_bytes(char *p, const char *s, size_t len)
{
    if (len != 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p + len + 1;
}

/* the kind of a field and whether it keeps its orig_name */
static int field_kind(const h2o_header_t *h, int *tok)
{
    *tok = token_of(h->name);
    if (*tok >= 0) {
        if (h->orig_name == NULL)
            return KIND_TOKEN;
        return memcmp(h->orig_name, title_names[*tok], h->name->len) == 0 ? KIND_TOKEN_TITLE : KIND_TOKEN_ORIG;
    }
    return h->orig_name == NULL ? KIND_NAME : KIND_NAME_ORIG;
}

size_t cache_head_size(const char *reason, const h2o_header_t *headers, size_t num_headers)
{
    size_t rlen = reason != NULL ? strlen(reason) : 0, n;
    init();
    if (num_headers > CACHE_HEAD_MAX_HEADERS)
        num_headers = CACHE_HEAD_MAX_HEADERS;
    n = 2 + 2 + varint_size(rlen) + rlen + 1 + varint_size(num_headers) * 2;
    for (size_t i = 0; i != num_headers; ++i) {
        const h2o_header_t *h = &headers[i];
        int tok;
        switch (field_kind(h, &tok)) {
        case KIND_TOKEN_TITLE:
            n += 1;
            break;
        case KIND_TOKEN:
            n += 2;
            break;
        case KIND_TOKEN_ORIG:
            n += 2 + h->name->len + 1;
            break;
        case KIND_NAME:
            n += 1 + varint_size(h->name->len) + h->name->len + 1;
            break;
        default:
            n += 1 + varint_size(h->name->len) + (h->name->len + 1) * 2;
            break;
        }
        n += varint_size(h->value.len) + h->value.len + 1;
    }
    return n;
}

size_t cache_head_encode(char *dst, int status, const char *reason, const h2o_header_t *headers, size_t num_headers,
                         size_t num_plain)
{
    size_t rlen = reason != NULL ? strlen(reason) : 0;
    char *p = dst;
    init();
    if (num_headers > CACHE_HEAD_MAX_HEADERS)
        num_headers = CACHE_HEAD_MAX_HEADERS;
    if (num_plain > num_headers)
        num_plain = num_headers;
    *p++ = CACHE_HEAD_FORMAT;
    *p++ = (char)tokens_id;
    if (status < 100 || status > 999)
        status = 999;
    *p++ = (char)(0x80 | (status & 0x7f)); /* two bytes always, so that cache_head_size() is exact */
    *p++ = (char)(status >> 7);
    p = put_varint(p, rlen);
    p = put_bytes(p, reason, rlen);
    /* fixed width: cache_head_size() counted varint_size(num_headers) for both counts */
    p = put_varint(p, num_headers);
    {
        size_t w = varint_size(num_headers), v = num_plain;
        for (size_t i = 0; i != w; ++i, v >>= 7)
            *p++ = (char)((i + 1 != w ? 0x80 : 0) | (v & 0x7f));
    }
    for (size_t i = 0; i != num_headers; ++i) {
        const h2o_header_t *h = &headers[i];
        int tok, kind = field_kind(h, &tok);
        switch (kind) {
        case KIND_TOKEN_TITLE:
            *p++ = (char)(KIND_TOKEN_TITLE | tok);
            break;
        case KIND_TOKEN:
            *p++ = KIND_TOKEN;
            *p++ = (char)tok;
            break;
        case KIND_TOKEN_ORIG:
            *p++ = KIND_TOKEN_ORIG;
            *p++ = (char)tok;
            p = put_bytes(p, h->orig_name, h->name->len);
            break;
        default:
            *p++ = (char)kind;
            p = put_varint(p, h->name->len);
            p = put_bytes(p, h->name->base, h->name->len);
            if (kind == KIND_NAME_ORIG)
                p = put_bytes(p, h->orig_name, h->name->len);
            break;
        }
        p = put_varint(p, h->value.len);
        p = put_bytes(p, h->value.base, h->value.len);
    }
    return (size_t)(p - dst);
}

/* ---- reading ---------------------------------------------------------------------------------------------------------- */

/* a varint of a blob known to be valid */
static size_t get_varint(const uint8_t **pp)
{
    const uint8_t *p = *pp;
    size_t v = 0;
    unsigned shift = 0;
    for (;;) {
        uint8_t b = *p++;
        v |= (size_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            break;
        shift += 7;
    }
    *pp = p;
    return v;
}

void cache_head_open(const void *blob, size_t len, cache_head_view_t *v)
{
    const uint8_t *p = (const uint8_t *)blob + 2;
    init();
    v->status = (int)get_varint(&p);
    v->reason_len = get_varint(&p);
    v->reason = (const char *)p;
    p += v->reason_len + 1;
    v->num_headers = get_varint(&p);
    v->num_plain = get_varint(&p);
    v->fields = p;
    v->end = (const uint8_t *)blob + len;
}

void cache_head_decode(const cache_head_view_t *v, h2o_mem_pool_t *pool, h2o_header_t *out)
{
    const uint8_t *p = v->fields;
    for (size_t i = 0; i != v->num_headers; ++i) {
        h2o_header_t *h = &out[i];
        uint8_t kind = *p++;
        if ((kind & 0x80) != 0) {
            unsigned t = kind & 0x7f;
            h->name = (h2o_iovec_t *)&h2o__tokens[t].buf;
            h->orig_name = title_names[t];
        } else if (kind <= KIND_TOKEN_ORIG) {
            unsigned t = *p++;
            h->name = (h2o_iovec_t *)&h2o__tokens[t].buf;
            if (kind == KIND_TOKEN) {
                h->orig_name = NULL;
            } else {
                h->orig_name = (const char *)p;
                p += h->name->len + 1;
            }
        } else {
            size_t nlen = get_varint(&p);
            h2o_iovec_t *n = h2o_mem_alloc_pool(pool, sizeof(*n));
            *n = h2o_iovec_init(p, nlen);
            h->name = n;
            p += nlen + 1;
            if (kind == KIND_NAME_ORIG) {
                h->orig_name = (const char *)p;
                p += nlen + 1;
            } else {
                h->orig_name = NULL;
            }
        }
        size_t vlen = get_varint(&p);
        h->value = h2o_iovec_init(p, vlen);
        p += vlen + 1;
    }
}

ssize_t cache_head_find(const cache_head_view_t *v, const h2o_token_t *token)
{
    const uint8_t *p = v->fields;
    for (size_t i = 0; i != v->num_headers; ++i) {
        uint8_t kind = *p++;
        const h2o_token_t *t = NULL;
        if ((kind & 0x80) != 0) {
            t = &h2o__tokens[kind & 0x7f];
        } else if (kind <= KIND_TOKEN_ORIG) {
            t = &h2o__tokens[*p++];
            if (kind == KIND_TOKEN_ORIG)
                p += t->buf.len + 1;
        } else {
            size_t nlen = get_varint(&p);
            p += (nlen + 1) * (kind == KIND_NAME_ORIG ? 2 : 1);
        }
        if (t == token)
            return (ssize_t)i;
        size_t vlen = get_varint(&p);
        p += vlen + 1;
    }
    return -1;
}

/* ---- checking untrusted blobs ------------------------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
} reader_t;

/* a varint of at most 4 bytes (values below 2^28); -1 when cut or longer */
static int64_t read_varint(reader_t *r)
{
    uint64_t v = 0;
    for (unsigned i = 0; i != 4; ++i) {
        if (r->p == r->end)
            return -1;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0)
            return (int64_t)v;
    }
    return -1;
}

/* len bytes and a NUL; the bytes' address, or NULL */
static const uint8_t *read_str(reader_t *r, size_t len)
{
    if ((size_t)(r->end - r->p) < len + 1 || r->p[len] != '\0')
        return NULL;
    const uint8_t *s = r->p;
    r->p += len + 1;
    return s;
}

static int is_tchar(uint8_t c)
{
    /* RFC 9110 token characters */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int same_but_case(const uint8_t *orig, const char *name, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        uint8_t c = orig[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)name[i])
            return 0;
    }
    return 1;
}

#define FAIL(msg)                                                                                                                  \
    do {                                                                                                                           \
        *err = (msg);                                                                                                              \
        return -1;                                                                                                                 \
    } while (0)

int cache_head_check(const void *blob, size_t len, const char **err)
{
    reader_t r = {blob, (const uint8_t *)blob + len};
    int64_t status, rlen, nh, np;
    init();
    if (len < 2)
        FAIL("truncated head");
    if (r.p[0] != CACHE_HEAD_FORMAT)
        FAIL("unknown head format");
    if (r.p[1] != tokens_id)
        FAIL("head written with another header token table");
    r.p += 2;
    if ((status = read_varint(&r)) < 100 || status > 999)
        FAIL("bad status");
    const uint8_t *reason;
    if ((rlen = read_varint(&r)) < 0 || (reason = read_str(&r, (size_t)rlen)) == NULL)
        FAIL("bad reason");
    for (int64_t i = 0; i != rlen; ++i)
        if (reason[i] < 0x20 ? reason[i] != '\t' : reason[i] == 0x7f)
            FAIL("control byte in the reason");
    if ((nh = read_varint(&r)) < 0 || nh > CACHE_HEAD_MAX_HEADERS)
        FAIL("bad header count");
    if ((np = read_varint(&r)) < 0 || np > nh)
        FAIL("bad count of plain headers");
    if ((size_t)nh > (size_t)(r.end - r.p) / 3) /* every field takes at least 3 bytes */
        FAIL("truncated head");
    for (int64_t i = 0; i != nh; ++i) {
        if (r.p == r.end)
            FAIL("truncated head");
        uint8_t kind = *r.p++;
        if ((kind & 0x80) != 0 || kind == KIND_TOKEN || kind == KIND_TOKEN_ORIG) {
            unsigned t;
            if ((kind & 0x80) != 0) {
                t = kind & 0x7f;
            } else {
                if (r.p == r.end)
                    FAIL("truncated head");
                t = *r.p++;
            }
            if (t >= NUM_TOKENS)
                FAIL("unknown header token");
            if (kind == KIND_TOKEN_ORIG) {
                const uint8_t *o = read_str(&r, h2o__tokens[t].buf.len);
                if (o == NULL || !same_but_case(o, h2o__tokens[t].buf.base, h2o__tokens[t].buf.len))
                    FAIL("bad original header name");
            }
        } else if (kind == KIND_NAME || kind == KIND_NAME_ORIG) {
            int64_t nlen = read_varint(&r);
            const uint8_t *n;
            if (nlen <= 0 || (n = read_str(&r, (size_t)nlen)) == NULL)
                FAIL("bad header name");
            for (int64_t j = 0; j != nlen; ++j)
                if (!is_tchar(n[j]) || (n[j] >= 'A' && n[j] <= 'Z'))
                    FAIL("bad header name");
            if (kind == KIND_NAME_ORIG) {
                const uint8_t *o = read_str(&r, (size_t)nlen);
                if (o == NULL || !same_but_case(o, (const char *)n, (size_t)nlen))
                    FAIL("bad original header name");
            }
        } else {
            FAIL("unknown header field kind");
        }
        int64_t vlen = read_varint(&r);
        const uint8_t *val;
        if (vlen < 0 || (val = read_str(&r, (size_t)vlen)) == NULL)
            FAIL("bad header value");
        for (int64_t j = 0; j != vlen; ++j)
            if (val[j] == '\r' || val[j] == '\n' || val[j] == '\0')
                FAIL("CR, LF or NUL in a header value");
    }
    if (r.p != r.end)
        FAIL("bytes after the head");
    return 0;
}
