/* tests/unit/store/vectors.h - helpers for the store unit tests: locating tests/data, reading files, parsing raw HTTP requests */
#ifndef EDGE_TESTS_UNIT_STORE_VECTORS_H
#define EDGE_TESTS_UNIT_STORE_VECTORS_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sigv4/sigv4.h"

/** the test data directory: $EDGE_TESTDATA (set by CMake), else tests/data relative to the working directory */
static inline const char *testdata_dir(void)
{
    const char *d = getenv("EDGE_TESTDATA");
    return d != NULL && d[0] != '\0' ? d : "tests/data";
}

/** reads a whole file into a malloc'd NUL-terminated buffer; NULL if it cannot be read */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, fp)) != 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(fp);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/** a request parsed from the test-suite text format (`METHOD PATH HTTP/1.1`, `Name:value` lines, folded lines, blank, body) */
typedef struct raw_req {
    char *text; /* owned copy; every slice points into it */
    sigv4_str_t method, path, query;
    sigv4_header_t headers[64];
    size_t num_headers;
    sigv4_str_t body;
} raw_req_t;

static inline void raw_req_free(raw_req_t *r)
{
    free(r->text);
    memset(r, 0, sizeof(*r));
}

static inline int raw_req_parse_(const char *src, size_t len, raw_req_t *r);

/** parses src into r (r->text owned; freed here on failure) */
static inline int raw_req_parse(const char *src, size_t len, raw_req_t *r)
{
    int ret = raw_req_parse_(src, len, r);
    if (ret != 0)
        raw_req_free(r);
    return ret;
}

static inline int raw_req_parse_(const char *src, size_t len, raw_req_t *r)
{
    memset(r, 0, sizeof(*r));
    r->text = malloc(len + 1);
    memcpy(r->text, src, len);
    r->text[len] = '\0';
    char *p = r->text, *end = r->text + len;
    char *eol = memchr(p, '\n', end - p);
    if (eol == NULL)
        eol = end;
    char *sp = memchr(p, ' ', eol - p), *ver = NULL;
    for (char *q = eol - 1; q > p; --q)
        if (*q == ' ') {
            ver = q;
            break;
        }
    if (sp == NULL || ver == NULL || ver <= sp)
        return -1;
    r->method = (sigv4_str_t){p, (size_t)(sp - p)};
    char *target = sp + 1, *qm = memchr(target, '?', ver - target);
    if (qm != NULL) {
        r->path = (sigv4_str_t){target, (size_t)(qm - target)};
        r->query = (sigv4_str_t){qm + 1, (size_t)(ver - qm - 1)};
    } else {
        r->path = (sigv4_str_t){target, (size_t)(ver - target)};
        r->query = (sigv4_str_t){"", 0};
    }
    p = eol < end ? eol + 1 : end;
    while (p < end) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL)
            eol = end;
        char *le = eol;
        if (le > p && le[-1] == '\r')
            --le;
        if (le == p) { /* blank line: the body follows */
            p = eol + 1;
            break;
        }
        if ((*p == ' ' || *p == '\t') && r->num_headers != 0) { /* folded line: extend the previous value */
            sigv4_header_t *h = &r->headers[r->num_headers - 1];
            h->value.len = (size_t)(le - h->value.base);
        } else {
            char *colon = memchr(p, ':', le - p);
            if (colon == NULL || r->num_headers == 64)
                return -1;
            sigv4_header_t *h = &r->headers[r->num_headers++];
            h->name = (sigv4_str_t){p, (size_t)(colon - p)};
            h->value = (sigv4_str_t){colon + 1, (size_t)(le - colon - 1)};
        }
        p = eol + 1;
    }
    if (p < end)
        r->body = (sigv4_str_t){p, (size_t)(end - p)};
    else
        r->body = (sigv4_str_t){"", 0};
    return 0;
}

/** the first header of that name (case-insensitive), with the value trimmed; {NULL,0} if absent */
static inline sigv4_str_t raw_req_header(const raw_req_t *r, const char *name)
{
    for (size_t i = 0; i != r->num_headers; ++i) {
        if (r->headers[i].name.len == strlen(name) && strncasecmp(r->headers[i].name.base, name, strlen(name)) == 0) {
            sigv4_str_t v = r->headers[i].value;
            while (v.len != 0 && isspace((unsigned char)v.base[0])) {
                ++v.base;
                --v.len;
            }
            while (v.len != 0 && isspace((unsigned char)v.base[v.len - 1]))
                --v.len;
            return v;
        }
    }
    return (sigv4_str_t){NULL, 0};
}

/** removes every header of that name */
static inline void raw_req_remove(raw_req_t *r, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i != r->num_headers; ++i)
        if (!(r->headers[i].name.len == strlen(name) && strncasecmp(r->headers[i].name.base, name, strlen(name)) == 0))
            r->headers[o++] = r->headers[i];
    r->num_headers = o;
}

/** the value of a string field `"name": "value"` in a flat JSON text (no escapes), malloc'd; NULL if absent */
static inline char *json_string(const char *json, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\"", name);
    const char *p = strstr(json, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t')
        ++p;
    if (*p != '"')
        return NULL;
    const char *e = strchr(p + 1, '"');
    if (e == NULL)
        return NULL;
    char *v = malloc(e - p);
    memcpy(v, p + 1, e - p - 1);
    v[e - p - 1] = '\0';
    return v;
}

/** a bare value (`true`, `false`, a number) of `"name": value`; def if absent */
static inline long json_number(const char *json, const char *name, long def)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\"", name);
    const char *p = strstr(json, pat);
    if (p == NULL)
        return def;
    p += strlen(pat);
    while (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t')
        ++p;
    if (strncmp(p, "true", 4) == 0)
        return 1;
    if (strncmp(p, "false", 5) == 0)
        return 0;
    return strtol(p, NULL, 10);
}

#endif
