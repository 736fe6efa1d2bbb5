/* base/str.c - the shared text helpers (see str.h) */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "base/str.h"

/* ---- case, white space, lists ------------------------------------------------------------------------------------------------ */

int edge_lcstris(const char *s, size_t len, const char *lc, size_t lclen)
{
    if (len != lclen)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (edge_tolower((unsigned char)s[i]) != (unsigned char)lc[i])
            return 0;
    return 1;
}

int edge_caseeq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i != alen; ++i)
        if (edge_tolower((unsigned char)a[i]) != edge_tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void edge_strip_ows(const char **s, size_t *len)
{
    while (*len != 0 && is_ows(**s)) {
        ++*s;
        --*len;
    }
    while (*len != 0 && is_ows((*s)[*len - 1]))
        --*len;
}

int edge_list_has(const char *list, size_t len, const char *lc, size_t lclen)
{
    const char *end = list + len;
    while (list != end) {
        const char *comma = memchr(list, ',', (size_t)(end - list));
        const char *e = comma != NULL ? comma : end;
        size_t n = (size_t)(e - list);
        edge_strip_ows(&list, &n);
        if (edge_lcstris(list, n, lc, lclen))
            return 1;
        list = comma != NULL ? comma + 1 : end;
    }
    return 0;
}

/* ---- hex --------------------------------------------------------------------------------------------------------------------- */

int edge_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = edge_tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *edge_hex_byte(char *dst, unsigned char c)
{
    static const char digits[] = "0123456789abcdef";
    dst[0] = digits[c >> 4];
    dst[1] = digits[c & 15];
    return dst + 2;
}

void edge_hex_encode(char *dst, const void *src, size_t len)
{
    const unsigned char *p = src;
    for (size_t i = 0; i != len; ++i)
        dst = edge_hex_byte(dst, p[i]);
    *dst = '\0';
}

void edge_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, 32); /* cannot happen with OpenSSL's own SHA-256; an all-zero hash matches nothing real */
    edge_hex_encode(out, md, 32);
}

char *edge_pct_escape(char *dst, unsigned char c)
{
    static const char digits[] = "0123456789ABCDEF";
    dst[0] = '%';
    dst[1] = digits[c >> 4];
    dst[2] = digits[c & 15];
    return dst + 3;
}

size_t edge_pct_decode(char *dst, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i != len; ++i) {
        int hi, lo;
        if (src[i] == '%' && len - i > 2 && (hi = edge_hex_value((unsigned char)src[i + 1])) >= 0 &&
            (lo = edge_hex_value((unsigned char)src[i + 2])) >= 0) {
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    return o;
}

/* ---- base64 ------------------------------------------------------------------------------------------------------------------ */

size_t edge_base64_encode(char *dst, const void *src, size_t len)
{
    /* EVP_EncodeBlock takes an int: whole groups of 3 bytes at a time */
    const size_t step = (size_t)3 << 20;
    const unsigned char *p = src;
    size_t o = 0;
    do {
        size_t n = len < step ? len : step;
        o += (size_t)EVP_EncodeBlock((unsigned char *)dst + o, p, (int)n); /* NUL-terminates */
        p += n;
        len -= n;
    } while (len != 0);
    return o;
}

static int is_b64(char c, int mode)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           (mode == EDGE_BASE64_LENIENT && (c == '-' || c == '_'));
}

long edge_base64_decode(void *dst, const char *src, size_t len, int mode)
{
    size_t pad = 0;
    /* OpenSSL's decoder skips white space around the text and reads `=` anywhere as zero bits: what it is given is checked here */
    if (mode == EDGE_BASE64_STRICT) {
        if (len % 4 != 0)
            return -1;
        pad = len != 0 && src[len - 1] == '=' ? (len >= 2 && src[len - 2] == '=' ? 2 : 1) : 0;
    } else {
        while (len != 0 && src[len - 1] == '=')
            --len;
        if (len % 4 == 1)
            return -1;
        pad = (4 - len % 4) % 4;
    }
    size_t chars = len - (mode == EDGE_BASE64_STRICT ? pad : 0);
    for (size_t i = 0; i != chars; ++i)
        if (!is_b64(src[i], mode))
            return -1;
    /* whole quads, through a buffer where base64url's characters become the standard ones and missing padding is added */
    unsigned char quad[4096], *out = dst;
    size_t o = 0;
    for (size_t i = 0; i < chars;) {
        size_t n = chars - i < sizeof(quad) ? chars - i : sizeof(quad), q = n;
        for (size_t k = 0; k != n; ++k) {
            char c = src[i + k];
            quad[k] = (unsigned char)(c == '-' ? '+' : c == '_' ? '/' : c);
        }
        while (q % 4 != 0)
            quad[q++] = '=';
        int r = EVP_DecodeBlock(out + o, quad, (int)q);
        if (r < 0)
            return -1;
        o += (size_t)r;
        i += n;
    }
    return (long)(o - pad);
}

/* ---- HTTP-date --------------------------------------------------------------------------------------------------------------- */

typedef struct date_cursor {
    const char *p, *end;
} date_cursor_t;

static int dc_char(date_cursor_t *c, char ch)
{
    if (c->p == c->end || *c->p != ch)
        return 0;
    ++c->p;
    return 1;
}

/* between min and max digits */
static int dc_digits(date_cursor_t *c, int min, int max, int *out)
{
    int n = 0, v = 0;
    while (n < max && c->p != c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (*c->p++ - '0');
        ++n;
    }
    *out = v;
    return n >= min;
}

static int dc_month(date_cursor_t *c, int *mon)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (c->end - c->p < 3)
        return 0;
    char m[3] = {(char)edge_tolower((unsigned char)c->p[0]), (char)edge_tolower((unsigned char)c->p[1]),
                 (char)edge_tolower((unsigned char)c->p[2])};
    for (int i = 0; i != 12; ++i) {
        if (memcmp(names + i * 3, m, 3) == 0) {
            *mon = i + 1;
            c->p += 3;
            return 1;
        }
    }
    return 0;
}

/* HH:MM:SS */
static int dc_time(date_cursor_t *c, int *h, int *m, int *s)
{
    return dc_digits(c, 2, 2, h) && dc_char(c, ':') && dc_digits(c, 2, 2, m) && dc_char(c, ':') && dc_digits(c, 2, 2, s);
}

/* the end of the value: GMT (UTC is not in the grammar but some servers write it; it means the same) */
static int dc_gmt(date_cursor_t *c)
{
    size_t n = (size_t)(c->end - c->p);
    return edge_lcstris(c->p, n, "gmt", 3) || edge_lcstris(c->p, n, "utc", 3);
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t days_since_epoch(int y, int m, int d)
{
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    /* leap days in the years [1, y) */
#define LEAPS_BEFORE(yy) ((int64_t)((yy)-1) / 4 - ((yy)-1) / 100 + ((yy)-1) / 400)
    int64_t days = (int64_t)(y - 1970) * 365 + (LEAPS_BEFORE(y) - LEAPS_BEFORE(1970));
#undef LEAPS_BEFORE
    days += cum[m - 1] + (m > 2 && is_leap(y)) + (d - 1);
    return days;
}

static int make_time(int y, int mon, int d, int h, int mi, int s, int64_t *sec)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1000 || mon < 1 || mon > 12 || d < 1 || d > mdays[mon - 1] + (mon == 2 && is_leap(y)) || h > 23 || mi > 59 || s > 60)
        return -1;
    int64_t t = ((days_since_epoch(y, mon, d) * 24 + h) * 60 + mi) * 60 + s;
    *sec = t < 0 ? 0 : t;
    return 0;
}

int edge_http_date_parse(const char *s, size_t len, int64_t *sec)
{
    edge_strip_ows(&s, &len);
    date_cursor_t c = {s, s + len};
    int y, mon, d, h, mi, se;

    /* skip the day name */
    while (c.p != c.end && ((*c.p >= 'a' && *c.p <= 'z') || (*c.p >= 'A' && *c.p <= 'Z')))
        ++c.p;
    if (c.p - s < 3)
        return -1;
    if (dc_char(&c, ',')) {
        if (!dc_char(&c, ' ') || !dc_digits(&c, 1, 2, &d))
            return -1;
        if (dc_char(&c, ' ')) {
            /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
            if (!dc_month(&c, &mon) || !dc_char(&c, ' ') || !dc_digits(&c, 4, 4, &y) || !dc_char(&c, ' ') ||
                !dc_time(&c, &h, &mi, &se) || !dc_char(&c, ' ') || !dc_gmt(&c))
                return -1;
        } else if (dc_char(&c, '-')) {
            /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
            if (!dc_month(&c, &mon) || !dc_char(&c, '-') || !dc_digits(&c, 2, 2, &y) || !dc_char(&c, ' ') ||
                !dc_time(&c, &h, &mi, &se) || !dc_char(&c, ' ') || !dc_gmt(&c))
                return -1;
            y += y >= 70 ? 1900 : 2000;
        } else {
            return -1;
        }
    } else {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        if (!dc_char(&c, ' ') || !dc_month(&c, &mon) || !dc_char(&c, ' '))
            return -1;
        dc_char(&c, ' ');
        if (!dc_digits(&c, 1, 2, &d) || !dc_char(&c, ' ') || !dc_time(&c, &h, &mi, &se) || !dc_char(&c, ' ') ||
            !dc_digits(&c, 4, 4, &y) || c.p != c.end)
            return -1;
    }
    return make_time(y, mon, d, h, mi, se, sec);
}

/* ---- entity tags -------------------------------------------------------------------------------------------------------------- */

int edge_etag_read(const char **p, const char *end, edge_etag_t *out)
{
    while (*p < end && is_ows(**p))
        ++*p;
    out->weak = 0;
    if (end - *p >= 2 && (**p == 'W' || **p == 'w') && (*p)[1] == '/') {
        out->weak = 1;
        *p += 2;
    }
    const char *s;
    int quoted = *p < end && **p == '"';
    if (quoted) {
        s = ++*p;
        while (*p < end && **p != '"')
            ++*p;
        out->opaque = s;
        out->len = (size_t)(*p - s);
        if (*p < end)
            ++*p;
    } else {
        s = *p;
        while (*p < end && **p != ',' && !is_ows(**p))
            ++*p;
        out->opaque = s;
        out->len = (size_t)(*p - s);
    }
    return quoted || out->len != 0 || out->weak; /* `""` is a tag (an empty opaque-tag), an empty unquoted one is not */
}

int edge_etag_parse(const char *s, size_t len, edge_etag_t *out)
{
    edge_strip_ows(&s, &len);
    return len != 0 && edge_etag_read(&s, s + len, out);
}

int edge_etag_equal(const edge_etag_t *a, const edge_etag_t *b, int weak)
{
    if (!weak && (a->weak || b->weak))
        return 0;
    return a->len == b->len && memcmp(a->opaque, b->opaque, a->len) == 0;
}

int edge_etag_list_matches(const char *list, size_t len, const char *etag, size_t etag_len, int weak)
{
    edge_etag_t cur, t;
    edge_strip_ows(&list, &len);
    if (len == 1 && list[0] == '*')
        return 1;
    if (!edge_etag_parse(etag, etag_len, &cur))
        return 0;
    const char *p = list, *end = list + len;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ','))
            ++p;
        if (p == end)
            break;
        if (edge_etag_read(&p, end, &t) && edge_etag_equal(&cur, &t, weak))
            return 1;
        while (p < end && *p != ',')
            ++p; /* junk after a tag */
    }
    return 0;
}

size_t edge_json_string(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap < 3) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    out[n++] = '"';
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t w = 0;
        if (c == '"' || c == '\\') {
            esc[w++] = '\\';
            esc[w++] = (char)c;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            esc[w++] = '\\';
            esc[w++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            w = 4;
            esc[w++] = hex[c >> 4];
            esc[w++] = hex[c & 15];
        } else {
            esc[w++] = (char)c;
        }
        if (n + w + 2 > cap) /* room for the closing quote and the NUL */
            break;
        memcpy(out + n, esc, w);
        n += w;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

int edge_uuid4(char out[37])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return -1;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant 10 */
    char *o = out;
    for (int i = 0; i != 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        o = edge_hex_byte(o, r[i]);
    }
    *o = '\0';
    return 0;
}

const char *edge_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 416:
        return "Range Not Satisfiable";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 508:
        return "Loop Detected";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}
