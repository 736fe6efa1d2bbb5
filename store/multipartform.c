/* store/multipartform.c - the streaming multipart/form-data parser of POST Object (see multipartform.h) */
#include <stdio.h>
#include <string.h>
#include "store/multipartform.h"

enum { S_PREAMBLE, S_AFTER, S_HEAD, S_DATA, S_EPILOGUE };
/* f->after: nothing seen yet, one '-', transport padding, CR */
enum { A_START, A_DASH, A_PAD, A_CR };

static int lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i != alen; ++i)
        if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
            return 0;
    return 1;
}

static int is_ws(int c)
{
    return c == ' ' || c == '\t';
}

/* RFC 7230 tchar */
static int is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 2046 bchars */
static int is_bchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c != 0 && strchr("'()+_,-./:=? ", c));
}

static int fail(store_form_t *f, const char *why)
{
    if (f->result == STORE_FORM_OK) {
        snprintf(f->error, sizeof(f->error), "%s", why);
        f->result = STORE_FORM_EMALFORMED;
    }
    return f->result;
}

/* ---- Content-Type: multipart/form-data; boundary=... ------------------------------------------------------------------------- */

/* reads a parameter value (token or quoted-string) at *p; unescaped into out (at most cap - 1 bytes, NUL-terminated); -1 if invalid
 */
static int param_value(const char **p, const char *end, char *out, size_t cap, size_t *out_len)
{
    const char *s = *p;
    size_t n = 0;
    if (s < end && *s == '"') {
        ++s;
        for (;;) {
            if (s == end)
                return -1; /* unterminated */
            unsigned char c = (unsigned char)*s++;
            if (c == '"')
                break;
            if (c == '\\') {
                if (s == end)
                    return -1;
                c = (unsigned char)*s++;
            }
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -1;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)c;
        }
    } else {
        while (s < end && is_tchar((unsigned char)*s)) {
            if (n + 1 >= cap)
                return -1;
            out[n++] = *s++;
        }
        if (n == 0)
            return -1;
    }
    out[n] = '\0';
    *out_len = n;
    *p = s;
    return 0;
}

/* the next `; name=value` of a header value at *p: 1 found (name in [*name, *name + *name_len), value in out), 0 at the end, -1
 * invalid */
static int next_param(const char **p, const char *end, const char **name, size_t *name_len, char *out, size_t cap, size_t *out_len)
{
    const char *s = *p;
    while (s < end && is_ws((unsigned char)*s))
        ++s;
    if (s == end)
        return 0;
    if (*s++ != ';')
        return -1;
    while (s < end && is_ws((unsigned char)*s))
        ++s;
    if (s == end)
        return 0; /* a trailing ';' */
    *name = s;
    while (s < end && is_tchar((unsigned char)*s))
        ++s;
    *name_len = (size_t)(s - *name);
    while (s < end && is_ws((unsigned char)*s))
        ++s;
    if (*name_len == 0 || s == end || *s++ != '=')
        return -1;
    while (s < end && is_ws((unsigned char)*s))
        ++s;
    if (param_value(&s, end, out, cap, out_len) != 0)
        return -1;
    *p = s;
    return 1;
}

int store_form_boundary(const char *ct, size_t len, char out[STORE_FORM_MAX_BOUNDARY + 1], int *is_form)
{
    const char *p = ct, *end = ct + len, *t;
    char value[STORE_FORM_MAX_BOUNDARY + 2];
    size_t vlen, nlen;
    int found = 0;
    *is_form = 0;
    while (p < end && is_ws((unsigned char)*p))
        ++p;
    t = p;
    while (p < end && (is_tchar((unsigned char)*p) || *p == '/'))
        ++p;
    if (!ieq(t, (size_t)(p - t), "multipart/form-data"))
        return -1;
    *is_form = 1;
    const char *name;
    int r;
    while ((r = next_param(&p, end, &name, &nlen, value, sizeof(value), &vlen)) == 1) {
        if (!ieq(name, nlen, "boundary"))
            continue;
        if (found || vlen == 0 || vlen > STORE_FORM_MAX_BOUNDARY || value[vlen - 1] == ' ')
            return -1;
        for (size_t i = 0; i != vlen; ++i)
            if (!is_bchar((unsigned char)value[i]))
                return -1;
        memcpy(out, value, vlen + 1);
        found = 1;
    }
    return r == 0 && found ? 0 : -1;
}

/* ---- the parser -------------------------------------------------------------------------------------------------------------- */

int store_form_init(store_form_t *f, const char *boundary, const store_form_callbacks_t *cb, void *ctx)
{
    size_t n = strlen(boundary);
    memset(f, 0, offsetof(store_form_t, head));
    f->values[0] = '\0';
    f->error[0] = '\0';
    if (n == 0 || n > STORE_FORM_MAX_BOUNDARY)
        return -1;
    for (size_t i = 0; i != n; ++i)
        if (!is_bchar((unsigned char)boundary[i]))
            return -1;
    f->cb = cb;
    f->ctx = ctx;
    memcpy(f->delim, "\r\n--", 4);
    memcpy(f->delim + 4, boundary, n);
    f->delim_len = 4 + n;
    f->state = S_PREAMBLE;
    f->match = 2; /* the body starts with the delimiter without its CRLF */
    f->result = STORE_FORM_OK;
    return 0;
}

static int callback_result(store_form_t *f, int r)
{
    if (r == 0)
        return 0;
    if (r > 0) {
        f->result = STORE_FORM_STOPPED;
    } else {
        f->result = STORE_FORM_ECALLBACK;
        snprintf(f->error, sizeof(f->error), "stopped by the consumer");
    }
    return f->result;
}

/* data of the current part (nothing in the preamble) */
static int emit(store_form_t *f, const char *p, size_t n)
{
    if (n == 0 || f->state != S_DATA || f->cb->on_data == NULL)
        return 0;
    return callback_result(f, f->cb->on_data(f->ctx, p, n));
}

/*
 * Looks for the delimiter in p[0, n): the bytes before it are data (or preamble). Returns 0 or a non-zero result; *used is what
 * was consumed, *found whether the delimiter ended there. Only the delimiter's first byte is a CR (a boundary has none), so a
 * partial match that fails can never hide the start of another: each byte is compared at most twice.
 */
static int scan(store_form_t *f, const char *p, size_t n, size_t *used, int *found)
{
    size_t i = 0, start;
    int r;
    *found = 0;
    if (f->match != 0) {
        while (i < n && f->match < f->delim_len && p[i] == f->delim[f->match]) {
            ++i;
            ++f->match;
        }
        if (f->match == f->delim_len) {
            f->match = 0;
            *found = 1;
            *used = i;
            return 0;
        }
        if (i == n) {
            *used = n;
            return 0;
        }
        size_t held = f->match;
        f->match = 0;
        if ((r = emit(f, f->delim, held)) != 0)
            return r;
    }
    start = i;
    while (i < n) {
        const char *cr = memchr(p + i, '\r', n - i);
        if (cr == NULL)
            break;
        size_t j = (size_t)(cr - p), k = 1;
        while (k < f->delim_len && j + k < n && p[j + k] == f->delim[k])
            ++k;
        if (k == f->delim_len || j + k == n) {
            if ((r = emit(f, p + start, j - start)) != 0)
                return r;
            if (k == f->delim_len)
                *found = 1;
            else
                f->match = k; /* held: the piece ends inside what may be the delimiter */
            *used = j + k;
            return 0;
        }
        i = j + k;
    }
    *used = n;
    return emit(f, p + start, n - start);
}

/* the part's header block (f->head: lines ending in CRLF, then CRLF) into part; -1 (with f->error) if invalid */
static int parse_head(store_form_t *f, store_form_part_t *part)
{
    const char *p = f->head, *end = f->head + f->head_len - 2; /* without the empty line's CRLF */
    char *v = f->values, *vend = f->values + sizeof(f->values);
    int has_cd = 0, has_ct = 0;
    memset(part, 0, sizeof(*part));
    while (p < end) {
        const char *eol = p;
        while (*eol != '\r')
            ++eol; /* every line ends in CRLF (f->head was cut there) */
        if (eol + 1 >= f->head + f->head_len || eol[1] != '\n')
            return fail(f, "a part header line does not end in CRLF"), -1;
        for (const char *c = p; c != eol; ++c)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return fail(f, "a part header has a control character"), -1;
        if (is_ws((unsigned char)*p))
            return fail(f, "folded part header lines are not allowed"), -1;
        const char *colon = memchr(p, ':', (size_t)(eol - p)), *name = p;
        if (colon == NULL || colon == p)
            return fail(f, "a part header line has no name"), -1;
        for (const char *c = p; c != colon; ++c)
            if (!is_tchar((unsigned char)*c))
                return fail(f, "a part header name is invalid"), -1;
        size_t name_len = (size_t)(colon - p);
        const char *val = colon + 1, *vende = eol;
        while (val < vende && is_ws((unsigned char)*val))
            ++val;
        while (vende > val && is_ws((unsigned char)vende[-1]))
            --vende;
        if (ieq(name, name_len, "content-disposition")) {
            const char *s = val, *t;
            if (has_cd++)
                return fail(f, "a part has two Content-Disposition headers"), -1;
            t = s;
            while (s < vende && is_tchar((unsigned char)*s))
                ++s;
            if (!ieq(t, (size_t)(s - t), "form-data"))
                return fail(f, "a part's Content-Disposition is not form-data"), -1;
            const char *pn;
            size_t pnlen, vlen;
            int r;
            while ((r = next_param(&s, vende, &pn, &pnlen, v, (size_t)(vend - v), &vlen)) == 1) {
                int is_name = ieq(pn, pnlen, "name"), is_file = ieq(pn, pnlen, "filename");
                if ((is_name && part->name != NULL) || (is_file && part->filename != NULL))
                    return fail(f, "a Content-Disposition parameter appears twice"), -1;
                if (is_name) {
                    part->name = v;
                    part->name_len = vlen;
                } else if (is_file) {
                    part->filename = v;
                    part->filename_len = vlen;
                } else {
                    continue; /* another parameter (filename*: RFC 7578 says senders do not use it): its value is dropped */
                }
                v += vlen + 1;
            }
            if (r != 0)
                return fail(f, "a part's Content-Disposition parameters are malformed"), -1;
        } else if (ieq(name, name_len, "content-type")) {
            if (has_ct++)
                return fail(f, "a part has two Content-Type headers"), -1;
            size_t n = (size_t)(vende - val);
            if (n + 1 > (size_t)(vend - v))
                return fail(f, "a part header is too long"), -1;
            memcpy(v, val, n);
            v[n] = '\0';
            part->content_type = v;
            part->content_type_len = n;
            v += n + 1;
        }
        p = eol + 2;
    }
    if (part->name == NULL)
        return fail(f, "a part has no Content-Disposition: form-data with a name"), -1;
    return 0;
}

/* header block bytes until the empty line; returns what was consumed, sets *complete */
static size_t take_head(store_form_t *f, const char *p, size_t n, int *complete)
{
    size_t i = 0;
    *complete = 0;
    while (i < n) {
        if (f->head_len == sizeof(f->head)) {
            fail(f, "a part's header block exceeds 8192 bytes");
            return i;
        }
        char c = p[i++];
        f->head[f->head_len++] = c;
        if (c == '\n' && f->head_len >= 2 && f->head[f->head_len - 2] == '\r' &&
            (f->head_len == 2 || (f->head_len >= 4 && f->head[f->head_len - 3] == '\n' && f->head[f->head_len - 4] == '\r'))) {
            *complete = 1;
            return i;
        }
    }
    return i;
}

int store_form_feed(store_form_t *f, const void *data, size_t len)
{
    const char *p = data;
    size_t used;
    int r, found;
    while (f->result == STORE_FORM_OK && len != 0) {
        switch (f->state) {
        case S_PREAMBLE:
        case S_DATA:
            if ((r = scan(f, p, len, &used, &found)) != 0)
                return r;
            p += used;
            len -= used;
            if (found) {
                if (f->state == S_DATA && f->cb->on_part_end != NULL && callback_result(f, f->cb->on_part_end(f->ctx)) != 0)
                    return f->result;
                f->state = S_AFTER;
                f->after = A_START;
            }
            break;
        case S_AFTER: {
            char c = *p++;
            --len;
            if (f->after == A_START && c == '-')
                f->after = A_DASH;
            else if (f->after == A_DASH && c == '-')
                f->state = S_EPILOGUE;
            else if ((f->after == A_START || f->after == A_PAD) && is_ws((unsigned char)c))
                f->after = A_PAD;
            else if ((f->after == A_START || f->after == A_PAD) && c == '\r')
                f->after = A_CR;
            else if (f->after == A_CR && c == '\n') {
                f->state = S_HEAD;
                f->head_len = 0;
            } else
                return fail(f, "a boundary delimiter is not followed by CRLF or \"--\"");
            break;
        }
        case S_HEAD: {
            int complete;
            used = take_head(f, p, len, &complete);
            p += used;
            len -= used;
            if (f->result != STORE_FORM_OK)
                return f->result;
            if (complete) {
                store_form_part_t part;
                if (f->head_len == 2)
                    return fail(f, "a part has no headers (Content-Disposition: form-data is required)");
                if (parse_head(f, &part) != 0)
                    return f->result;
                ++f->num_parts;
                f->state = S_DATA;
                if (f->cb->on_part != NULL && callback_result(f, f->cb->on_part(f->ctx, &part)) != 0)
                    return f->result;
            }
            break;
        }
        case S_EPILOGUE:
            return STORE_FORM_OK; /* ignored */
        }
    }
    return f->result;
}

int store_form_finish(store_form_t *f)
{
    if (f->result != STORE_FORM_OK)
        return f->result == STORE_FORM_STOPPED ? STORE_FORM_OK : f->result;
    if (f->state != S_EPILOGUE)
        return fail(f, f->num_parts == 0 ? "the body has no form parts (no boundary delimiter)"
                                         : "the body ends before the closing boundary delimiter");
    return STORE_FORM_OK;
}
