/* hooks/json.c - a small recursive-descent JSON parser with a depth bound, and a JSON emitter. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "hooks/json.h"

typedef struct parser {
    const char *s, *end, *start;
    char *err;
    size_t errlen;
    int failed;
    size_t values_left; /* hook_json_parse_max's budget of values */
} parser_t;

static void fail(parser_t *p, const char *reason)
{
    if (p->failed)
        return;
    p->failed = 1;
    size_t line = 1, col = 1;
    for (const char *c = p->start; c < p->s && c < p->end; ++c) {
        if (*c == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    if (p->err != NULL && p->errlen != 0)
        snprintf(p->err, p->errlen, "%zu:%zu: %s", line, col, reason);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n != 0 ? n : 1, sz);
    if (p == NULL)
        abort();
    return p;
}

static void *xrealloc(void *p, size_t sz)
{
    p = realloc(p, sz != 0 ? sz : 1);
    if (p == NULL)
        abort();
    return p;
}

/* a new value, or NULL (failed) past the parse's budget of values */
static hook_json_t *new_value(parser_t *p, hook_json_type_t type)
{
    if (p->values_left == 0) {
        fail(p, "too many values");
        return NULL;
    }
    --p->values_left;
    hook_json_t *v = xcalloc(1, sizeof(*v));
    v->type = type;
    return v;
}

static void skip_ws(parser_t *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        ++p->s;
}

static int read_hex4(parser_t *p, unsigned *out)
{
    if (p->end - p->s < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i != 4; ++i) {
        int h = edge_hex_value((unsigned char)p->s[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    p->s += 4;
    *out = v;
    return 0;
}

static size_t utf8(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* at the opening quote; returns a malloc'd string */
static char *parse_string(parser_t *p, size_t *len)
{
    ++p->s;
    /* the decoded form is never longer than the encoded one */
    const char *q = p->s;
    while (q < p->end && *q != '"') {
        if (*q == '\\' && q + 1 < p->end)
            ++q;
        ++q;
    }
    if (q >= p->end) {
        fail(p, "unterminated string");
        return NULL;
    }
    char *out = xcalloc((size_t)(q - p->s) + 1, 1);
    size_t o = 0;
    while (p->s < q && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) {
            fail(p, "control character in string");
            free(out);
            return NULL;
        }
        if (c != '\\') {
            out[o++] = (char)c;
            ++p->s;
            continue;
        }
        ++p->s;
        char e = *p->s++;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            out[o++] = e;
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (read_hex4(p, &cp) != 0) {
                fail(p, "bad \\u escape");
                free(out);
                return NULL;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (q - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                    p->s += 2;
                    if (read_hex4(p, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                        fail(p, "bad surrogate pair");
                        free(out);
                        return NULL;
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cp = 0xfffd;
            }
            /* \uXXXX is 6 bytes of input for at most 3 of output, a pair 12 for 4: always fits */
            o += utf8(cp, out + o);
            break;
        }
        default:
            fail(p, "bad escape");
            free(out);
            return NULL;
        }
    }
    if (p->s != q) {
        fail(p, "bad string");
        free(out);
        return NULL;
    }
    ++p->s;
    out[o] = '\0';
    *len = o;
    return out;
}

static hook_json_t *parse_value(parser_t *p, int depth);

static hook_json_t *parse_container(parser_t *p, int depth, int is_object)
{
    hook_json_t *v = new_value(p, is_object ? HOOK_JSON_OBJECT : HOOK_JSON_ARRAY);
    if (v == NULL)
        return NULL;
    size_t cap = 0;
    char close = is_object ? '}' : ']';
    ++p->s;
    skip_ws(p);
    if (p->s < p->end && *p->s == close) {
        ++p->s;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        skip_ws(p);
        if (is_object) {
            if (p->s >= p->end || *p->s != '"') {
                fail(p, "expected a member name");
                goto error;
            }
            if ((key = parse_string(p, &klen)) == NULL)
                goto error;
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(key);
                fail(p, "expected ':'");
                goto error;
            }
            ++p->s;
        }
        hook_json_t *item = parse_value(p, depth + 1);
        if (item == NULL) {
            free(key);
            goto error;
        }
        if (v->count == cap) {
            cap = cap == 0 ? 4 : cap * 2;
            v->items = xrealloc(v->items, cap * sizeof(*v->items));
            if (is_object) {
                v->keys = xrealloc(v->keys, cap * sizeof(*v->keys));
                v->key_lens = xrealloc(v->key_lens, cap * sizeof(*v->key_lens));
            }
        }
        if (is_object) {
            v->keys[v->count] = key;
            v->key_lens[v->count] = klen;
        }
        v->items[v->count++] = item;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            ++p->s;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            ++p->s;
            return v;
        }
        fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto error;
    }
error:
    hook_json_free(v);
    return NULL;
}

static hook_json_t *parse_number(parser_t *p)
{
    const char *b = p->s;
    if (p->s < p->end && *p->s == '-')
        ++p->s;
    if (p->s >= p->end || !(*p->s >= '0' && *p->s <= '9')) {
        fail(p, "bad number");
        return NULL;
    }
    if (*p->s == '0')
        ++p->s;
    else
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            ++p->s;
    if (p->s < p->end && *p->s == '.') {
        ++p->s;
        if (p->s >= p->end || !(*p->s >= '0' && *p->s <= '9')) {
            fail(p, "bad number");
            return NULL;
        }
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            ++p->s;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        ++p->s;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            ++p->s;
        if (p->s >= p->end || !(*p->s >= '0' && *p->s <= '9')) {
            fail(p, "bad number");
            return NULL;
        }
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            ++p->s;
    }
    char buf[64];
    size_t n = (size_t)(p->s - b);
    if (n >= sizeof(buf)) {
        fail(p, "number too long");
        return NULL;
    }
    memcpy(buf, b, n);
    buf[n] = '\0';
    hook_json_t *v = new_value(p, HOOK_JSON_NUMBER);
    if (v == NULL)
        return NULL;
    v->number = strtod(buf, NULL);
    return v;
}

static int literal(parser_t *p, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n) != 0)
        return 0;
    p->s += n;
    return 1;
}

static hook_json_t *parse_value(parser_t *p, int depth)
{
    if (depth > HOOK_JSON_MAX_DEPTH) {
        fail(p, "nested too deep");
        return NULL;
    }
    skip_ws(p);
    if (p->s >= p->end) {
        fail(p, "unexpected end of input");
        return NULL;
    }
    hook_json_t *v;
    switch (*p->s) {
    case '{':
        return parse_container(p, depth, 1);
    case '[':
        return parse_container(p, depth, 0);
    case '"': {
        size_t len;
        char *s = parse_string(p, &len);
        if (s == NULL)
            return NULL;
        if ((v = new_value(p, HOOK_JSON_STRING)) == NULL) {
            free(s);
            return NULL;
        }
        v->str = s;
        v->len = len;
        return v;
    }
    case 't':
    case 'f':
    case 'n': {
        hook_json_type_t t;
        if (literal(p, "true"))
            t = HOOK_JSON_TRUE;
        else if (literal(p, "false"))
            t = HOOK_JSON_FALSE;
        else if (literal(p, "null"))
            t = HOOK_JSON_NULL;
        else {
            fail(p, "unexpected literal");
            return NULL;
        }
        return new_value(p, t);
    }
    default:
        return parse_number(p);
    }
}

hook_json_t *hook_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    return hook_json_parse_max(text, len, SIZE_MAX, err, errlen);
}

hook_json_t *hook_json_parse_max(const char *text, size_t len, size_t max_values, char *err, size_t errlen)
{
    parser_t p = {text, text + len, text, err, errlen, 0, max_values};
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        p.s += 3;
    hook_json_t *v = parse_value(&p, 0);
    if (v == NULL)
        return NULL;
    skip_ws(&p);
    if (p.s != p.end) {
        fail(&p, "trailing characters after the value");
        hook_json_free(v);
        return NULL;
    }
    return v;
}

void hook_json_free(hook_json_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i != v->count; ++i) {
        hook_json_free(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->str);
    free(v);
}

const hook_json_t *hook_json_get(const hook_json_t *v, const char *key)
{
    if (v == NULL || v->type != HOOK_JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = v->count; i-- != 0;)
        if (v->key_lens[i] == kl && memcmp(v->keys[i], key, kl) == 0)
            return v->items[i];
    return NULL;
}

const char *hook_json_string(const hook_json_t *v, size_t *len)
{
    if (v == NULL || v->type != HOOK_JSON_STRING)
        return NULL;
    if (len != NULL)
        *len = v->len;
    return v->str;
}

void hook_buf_append(hook_buf_t *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap < 256 ? 256 : b->cap;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->base = xrealloc(b->base, cap);
        b->cap = cap;
    }
    if (len != 0)
        memcpy(b->base + b->len, s, len);
    b->len += len;
    b->base[b->len] = '\0';
}

void hook_buf_appendf(hook_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        hook_buf_append(b, tmp, (size_t)n);
        return;
    }
    char *big = xcalloc((size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    hook_buf_append(b, big, (size_t)n);
    free(big);
}

void hook_buf_json_string(hook_buf_t *b, const char *s, size_t len)
{
    hook_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        hook_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            hook_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            hook_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            hook_buf_append(b, "\\n", 2);
            break;
        case '\r':
            hook_buf_append(b, "\\r", 2);
            break;
        case '\t':
            hook_buf_append(b, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            hook_buf_append(b, esc, 6);
        }
    }
    hook_buf_append(b, s + run, len - run);
    hook_buf_append(b, "\"", 1);
}

static void newline(hook_buf_t *b, int indent, int level)
{
    if (indent <= 0)
        return;
    hook_buf_append(b, "\n", 1);
    for (int i = 0; i < indent * level; ++i)
        hook_buf_append(b, " ", 1);
}

static void emit(hook_buf_t *b, const hook_json_t *v, int indent, int level)
{
    switch (v->type) {
    case HOOK_JSON_NULL:
        hook_buf_append(b, "null", 4);
        break;
    case HOOK_JSON_FALSE:
        hook_buf_append(b, "false", 5);
        break;
    case HOOK_JSON_TRUE:
        hook_buf_append(b, "true", 4);
        break;
    case HOOK_JSON_NUMBER:
        if (!isfinite(v->number))
            hook_buf_append(b, "null", 4);
        else if (v->number == (double)(long long)v->number && fabs(v->number) < 1e15)
            hook_buf_appendf(b, "%lld", (long long)v->number);
        else
            hook_buf_appendf(b, "%.17g", v->number);
        break;
    case HOOK_JSON_STRING:
        hook_buf_json_string(b, v->str, v->len);
        break;
    case HOOK_JSON_ARRAY:
    case HOOK_JSON_OBJECT: {
        int obj = v->type == HOOK_JSON_OBJECT;
        hook_buf_append(b, obj ? "{" : "[", 1);
        for (size_t i = 0; i != v->count; ++i) {
            if (i != 0)
                hook_buf_append(b, ",", 1);
            newline(b, indent, level + 1);
            if (obj) {
                hook_buf_json_string(b, v->keys[i], v->key_lens[i]);
                hook_buf_append(b, indent > 0 ? ": " : ":", indent > 0 ? 2 : 1);
            }
            emit(b, v->items[i], indent, level + 1);
        }
        if (v->count != 0)
            newline(b, indent, level);
        hook_buf_append(b, obj ? "}" : "]", 1);
        break;
    }
    }
}

void hook_buf_json(hook_buf_t *b, const hook_json_t *v, int indent)
{
    emit(b, v, indent, 0);
}

void hook_buf_free(hook_buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}
