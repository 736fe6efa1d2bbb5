/* proxy/reqcheck.c - strict checks of the raw HTTP/1.x request head and normalisation of the request target (see reqcheck.h). */
#include <string.h>
#include "base/str.h"
#include "proxy/reqcheck.h"

/* tchar of RFC 9110 §5.6.2 */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int name_is(const char *name, size_t len, const char *lit)
{
    return edge_lcstris(name, len, lit, strlen(lit));
}

/* reg-name / IPv4 / [IPv6] characters and an optional :port */
static int valid_host_value(const char *v, size_t len)
{
    if (len == 0)
        return 1; /* an empty Host is allowed by RFC 9112 §3.2 when the target has no authority */
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-._~!$&'()*+,;=:[]%", c) != NULL))
            return 0;
    }
    return 1;
}

int reqcheck_token(const char *name, size_t len)
{
    if (len == 0)
        return 400;
    for (size_t i = 0; i != len; ++i)
        if (!is_tchar((unsigned char)name[i]))
            return 400;
    return 0;
}

int reqcheck_field_value(const char *v, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    return 0;
}

int reqcheck_authority(const char *v, size_t len)
{
    return valid_host_value(v, len) ? 0 : 400;
}

static int fail(const char **reason, int status, const char *why)
{
    *reason = why;
    return status;
}

/* the request line: method SP target SP HTTP/1.x */
static int check_request_line(const char *p, size_t len, int *minor, const char **reason)
{
    size_t i = 0, sp1;
    while (i != len && p[i] != ' ') {
        if (!is_tchar((unsigned char)p[i]))
            return fail(reason, 400, "the method is not a token");
        ++i;
    }
    if (i == 0 || i == len)
        return fail(reason, 400, "malformed request line");
    sp1 = i++;
    while (i != len && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(reason, 400, "a control character or whitespace in the request target");
        ++i;
    }
    if (i == sp1 + 1 || i == len)
        return fail(reason, 400, "malformed request line");
    ++i;
    if (len - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || !(p[i + 5] >= '0' && p[i + 5] <= '9') || p[i + 6] != '.' ||
        !(p[i + 7] >= '0' && p[i + 7] <= '9'))
        return fail(reason, 400, "malformed HTTP version");
    if (p[i + 5] != '1')
        return fail(reason, 505, "only HTTP/1.0 and HTTP/1.1 are served over this protocol");
    if (p[i + 7] != '0' && p[i + 7] != '1')
        return fail(reason, 505, "only HTTP/1.0 and HTTP/1.1 are served over this protocol");
    *minor = p[i + 7] - '0';
    return 0;
}

int reqcheck_http1_head(const char *buf, size_t len, const char **reason)
{
    size_t pos = 0, line = 0;
    int minor = 1, hosts = 0, content_lengths = 0, transfer_encodings = 0, r;

    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end, eol;
        if (nl == NULL)
            return fail(reason, 400, "the request head does not end");
        eol = nl - buf;
        if (eol == pos || buf[eol - 1] != '\r')
            return fail(reason, 400, "a line of the request head ends in a bare LF");
        end = eol - 1; /* the line is buf[pos, end) */
        if (memchr(buf + pos, '\r', end - pos) != NULL)
            return fail(reason, 400, "a bare CR in the request head");
        if (line == 0) {
            if (end == pos && pos == 0) {
                /* RFC 9112 §2.2: empty lines before the request line may be ignored; h2o skips them too */
                pos = eol + 1;
                continue;
            }
            if ((r = check_request_line(buf + pos, end - pos, &minor, reason)) != 0)
                return r;
        } else if (end == pos) {
            break; /* the empty line: end of the head */
        } else {
            const char *p = buf + pos, *colon = memchr(p, ':', end - pos), *v;
            size_t nlen, vlen;
            if (*p == ' ' || *p == '\t')
                return fail(reason, 400, "obs-fold (a header line starting with whitespace) is not accepted");
            if (colon == NULL || colon == p)
                return fail(reason, 400, "a header line without a name and colon");
            nlen = colon - p;
            for (size_t i = 0; i != nlen; ++i)
                if (!is_tchar((unsigned char)p[i]))
                    return fail(reason, 400, "a header name is not a token (or has whitespace before the colon)");
            v = colon + 1;
            vlen = buf + end - v;
            for (size_t i = 0; i != vlen; ++i) {
                unsigned char c = (unsigned char)v[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return fail(reason, 400, "a control character in a header value");
            }
            edge_strip_ows(&v, &vlen);
            if (name_is(p, nlen, "content-length")) {
                if (++content_lengths > 1)
                    return fail(reason, 400, "more than one Content-Length");
                if (vlen == 0 || vlen > 19)
                    return fail(reason, 400, "a Content-Length that is not a plain decimal");
                for (size_t i = 0; i != vlen; ++i)
                    if (!(v[i] >= '0' && v[i] <= '9'))
                        return fail(reason, 400, "a Content-Length that is not a plain decimal");
            } else if (name_is(p, nlen, "transfer-encoding")) {
                if (++transfer_encodings > 1)
                    return fail(reason, 400, "more than one Transfer-Encoding");
                if (!(vlen == 7 && name_is(v, vlen, "chunked")))
                    return fail(reason, 400, "a Transfer-Encoding other than chunked");
            } else if (name_is(p, nlen, "host")) {
                if (++hosts > 1)
                    return fail(reason, 400, "more than one Host");
                if (!valid_host_value(v, vlen))
                    return fail(reason, 400, "a Host with whitespace or characters outside an authority");
            }
        }
        ++line;
        pos = eol + 1;
    }
    if (content_lengths != 0 && transfer_encodings != 0)
        return fail(reason, 400, "both Content-Length and Transfer-Encoding");
    if (transfer_encodings != 0 && minor == 0)
        return fail(reason, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (minor == 1 && hosts == 0)
        return fail(reason, 400, "an HTTP/1.1 request without Host");
    return 0;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* a byte that may stand in a request target at all: visible ASCII but `#` (and `\`, refused on its own) */
static int is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

/* decodes the path's %XX of unreserved characters into dst; returns its length, or -1 */
static long decode_path(const char *src, size_t len, int flags, char *dst, const char **reason)
{
    size_t o = 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)src[i];
        if (!is_target_char(c)) {
            *reason = "a control character, whitespace, `#` or a non-ASCII byte in the path";
            return -1;
        }
        if (c == '\\') {
            *reason = "a backslash in the path";
            return -1;
        }
        if (c == ';' && !(flags & REQCHECK_ALLOW_PARAMS)) {
            *reason = "`;` (a path parameter) in the path";
            return -1;
        }
        if (c == '%') {
            int hi, lo, v;
            if (len - i < 3 || (hi = edge_hex_value((unsigned char)src[i + 1])) < 0 ||
                (lo = edge_hex_value((unsigned char)src[i + 2])) < 0) {
                *reason = "a malformed percent-encoding in the path";
                return -1;
            }
            v = hi << 4 | lo;
            if (v == '/' || v == '\\' || v < 0x20 || v == 0x7f) {
                *reason = "an encoded slash, backslash or control character in the path";
                return -1;
            }
            if (is_unreserved((unsigned char)v)) {
                dst[o++] = (char)v;
            } else {
                edge_pct_escape(dst + o, (unsigned char)v);
                o += 3;
            }
            i += 2;
            continue;
        }
        dst[o++] = (char)c;
    }
    return (long)o;
}

/* removes empty, `.` and `..` segments of the path in p[0, len) (which starts with `/`), in place; returns the new length or -1 */
static long remove_dot_segments(char *p, size_t len)
{
    size_t o = 0, i = 0; /* output is p[0, o); input is read at i (always ahead of o) */
    int trailing = 0;
    while (i < len) {
        size_t s, e;
        while (i < len && p[i] == '/')
            ++i;
        s = i;
        while (i < len && p[i] != '/')
            ++i;
        e = i;
        trailing = e == len ? 0 : 1; /* a `/` follows this segment */
        if (e == s) {
            trailing = 1;
            continue;
        }
        if (e - s == 1 && p[s] == '.') {
            trailing = 1;
            continue;
        }
        if (e - s == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (o == 0)
                return -1;
            while (o != 0 && p[o - 1] != '/')
                --o;
            --o; /* the `/` before the removed segment */
            trailing = 1;
            continue;
        }
        p[o++] = '/';
        memmove(p + o, p + s, e - s);
        o += e - s;
    }
    if (o == 0 || trailing)
        p[o++] = '/';
    return (long)o;
}

int reqcheck_target(const char *src, size_t len, int flags, char *dst, reqcheck_target_t *out, const char **reason)
{
    const char *q;
    size_t plen;
    long n;

    out->authority = NULL;
    out->authority_len = 0;
    out->query_at = (size_t)-1;
    out->path_len = 0;
    if (len == 0)
        return fail(reason, 400, "an empty request target");
    if (src[0] != '/') {
        size_t skip = 0, a;
        if (len >= 7 && name_is(src, 7, "http://"))
            skip = 7;
        else if (len >= 8 && name_is(src, 8, "https://"))
            skip = 8;
        if (skip == 0)
            return fail(reason, 400, src[0] == '*' ? "the asterisk form is not served" : "the request target is not a path");
        if (flags & REQCHECK_HTTP2)
            return fail(reason, 400, "an absolute URL in :path (HTTP/2 carries the authority in :authority)");
        for (a = skip; a != len && src[a] != '/' && src[a] != '?' && src[a] != '#'; ++a) {
            unsigned char c = (unsigned char)src[a];
            if (c == '@')
                return fail(reason, 400, "user information in the request target");
            if (!is_target_char(c) || c == '\\')
                return fail(reason, 400, "a control character, whitespace or non-ASCII byte in the authority");
        }
        if (a == skip || !valid_host_value(src + skip, a - skip))
            return fail(reason, 400, "an absolute-form target without a valid authority");
        out->authority = src + skip;
        out->authority_len = a - skip;
        src += a;
        len -= a;
        /* an empty path (`http://cdn`, `http://cdn?q`) is `/` (RFC 9112 §3.2.2): remove_dot_segments makes it so */
        if (len != 0 && src[0] != '/' && src[0] != '?')
            return fail(reason, 400, "the request target is not a path");
    }
    q = memchr(src, '?', len);
    plen = q != NULL ? (size_t)(q - src) : len;
    if ((n = decode_path(src, plen, flags, dst, reason)) < 0)
        return 400;
    if ((n = remove_dot_segments(dst, (size_t)n)) < 0)
        return fail(reason, 400, "a `..` segment above the root");
    if (q != NULL) {
        size_t qn = len - plen; /* with the `?` */
        for (size_t i = 1; i != qn; ++i)
            if (!is_target_char((unsigned char)q[i]))
                return fail(reason, 400, "a control character, whitespace, `#` or a non-ASCII byte in the query");
        out->query_at = (size_t)n;
        memcpy(dst + n, q, qn);
        n += (long)qn;
    }
    out->path_len = (size_t)n;
    return 0;
}
