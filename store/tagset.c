/* store/tagset.c - object tag sets (see tagset.h): no h2o, no store state, so the fuzz target links it alone */
#include <stdlib.h>
#include <string.h>
#include "store/tagset.h"

void store_tagset_init(store_tagset_t *ts)
{
    memset(ts, 0, sizeof(*ts));
}

void store_tagset_free(store_tagset_t *ts)
{
    for (size_t i = 0; i != ts->n; ++i) {
        free(ts->tags[i].key);
        free(ts->tags[i].value);
    }
    ts->n = 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        if (n != 0)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int store_tagset_add(store_tagset_t *ts, const char *key, size_t key_len, const char *value, size_t value_len, const char **err)
{
    if (ts->n == STORE_MAX_TAGS) {
        *err = "Object tags cannot be greater than 10";
        return -1;
    }
    store_tag_t *t = &ts->tags[ts->n];
    t->key = dup_n(key, key_len);
    t->value = dup_n(value, value_len);
    if (t->key == NULL || t->value == NULL) {
        free(t->key);
        free(t->value);
        *err = "out of memory";
        return -1;
    }
    t->key_len = key_len;
    t->value_len = value_len;
    ++ts->n;
    return 0;
}

/* the number of characters of s, valid UTF-8 (shortest forms, no surrogates) whose ASCII characters are letters, digits, white
 * space (space, tab) or + - = . _ : / @ (non-ASCII characters count as letters); -1 otherwise */
static long tag_chars(const char *s, size_t len)
{
    long n = 0;
    for (size_t i = 0; i < len; ++n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '\t' ||
                  strchr("+-=._:/@", c) != NULL) ||
                c == '\0')
                return -1;
            ++i;
            continue;
        }
        size_t k;
        unsigned cp;
        if ((c & 0xE0) == 0xC0)
            k = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            k = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            k = 4, cp = c & 0x07;
        else
            return -1;
        if (i + k > len)
            return -1;
        for (size_t j = 1; j != k; ++j) {
            if (((unsigned char)s[i + j] & 0xC0) != 0x80)
                return -1;
            cp = cp << 6 | ((unsigned char)s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += k;
    }
    return n;
}

static int tag_cmp(const void *a, const void *b)
{
    const store_tag_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
    return c != 0 ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

int store_tagset_check(store_tagset_t *ts, const char **err)
{
    long c;
    for (size_t i = 0; i != ts->n; ++i) {
        const store_tag_t *t = &ts->tags[i];
        if ((c = tag_chars(t->key, t->key_len)) < 1 || c > 128) {
            *err = c > 128 ? "The TagKey you have provided is too long, max 128" : "The TagKey you have provided is invalid";
            return -1;
        }
        if ((c = tag_chars(t->value, t->value_len)) < 0 || c > 256) {
            *err = c > 256 ? "The TagValue you have provided is too long, max 256" : "The TagValue you have provided is invalid";
            return -1;
        }
        if (t->key_len >= 4 && memcmp(t->key, "aws:", 4) == 0) {
            *err = "Your TagKey cannot be prefixed with aws:";
            return -1;
        }
    }
    qsort(ts->tags, ts->n, sizeof(ts->tags[0]), tag_cmp);
    for (size_t i = 1; i < ts->n; ++i)
        if (tag_cmp(&ts->tags[i - 1], &ts->tags[i]) == 0) {
            *err = "Cannot provide multiple Tags with the same key";
            return -1;
        }
    return 0;
}

static int hex_value(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* decodes a component in place into out (at most len bytes): %XX, '+' is a space; a malformed escape stays as it is */
static size_t form_decode(char *out, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return n;
}

int store_tagset_parse(store_tagset_t *ts, const char *s, size_t len, const char **err)
{
    store_tagset_init(ts);
    char *buf = malloc(len + 1);
    if (buf == NULL) {
        *err = "out of memory";
        return -1;
    }
    const char *p = s, *end = s + len;
    int r = 0;
    while (r == 0 && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp != NULL ? amp : end;
        if (e != p) {
            const char *eq = memchr(p, '=', (size_t)(e - p));
            const char *ke = eq != NULL ? eq : e;
            size_t kl = form_decode(buf, p, (size_t)(ke - p));
            size_t vl = eq != NULL ? form_decode(buf + kl, eq + 1, (size_t)(e - eq - 1)) : 0;
            r = store_tagset_add(ts, buf, kl, buf + kl, vl, err);
        }
        p = e + 1;
    }
    free(buf);
    if (r == 0)
        r = store_tagset_check(ts, err);
    if (r != 0)
        store_tagset_free(ts);
    return r;
}

static size_t encoded_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        n += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~", c) != NULL) ? 1 : 3;
    }
    return n;
}

static char *encode(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~", c) != NULL)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return o;
}

char *store_tagset_format(const store_tagset_t *ts)
{
    size_t n = 1;
    for (size_t i = 0; i != ts->n; ++i)
        n += encoded_len(ts->tags[i].key, ts->tags[i].key_len) + encoded_len(ts->tags[i].value, ts->tags[i].value_len) + 2;
    char *out = malloc(n), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i != ts->n; ++i) {
        if (i != 0)
            *o++ = '&';
        o = encode(o, ts->tags[i].key, ts->tags[i].key_len);
        *o++ = '=';
        o = encode(o, ts->tags[i].value, ts->tags[i].value_len);
    }
    *o = '\0';
    return out;
}
