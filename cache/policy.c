/* cache/policy.c - the pure HTTP caching rules of a shared cache: RFC 9111, RFC 9110 §13-14, RFC 5861, RFC 9213. */
#include <string.h>
#include <stdlib.h>
#include "base/str.h"
#include "cache/policy.h"

#define DELTA_MAX_S 2147483648LL /* RFC 9111 §1.2.2: larger delta-seconds read as 2^31 */
#define ONE_DAY_MS (86400LL * 1000)

/* ------------------------------------------------------------------------------------------------------------------- */
/* small string and header helpers                                                                                      */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

#define LIT_IS(s, len, lit) h2o_lcstris((s), (len), (lit), sizeof(lit) - 1)

/* a header line has the token's name: pointer compare first (h2o interns known names), then by string for fields added
 * without interning */
static int hdr_is(const h2o_header_t *h, const h2o_token_t *tok)
{
    return h->name == &tok->buf || h2o_lcstris(h->name->base, h->name->len, tok->buf.base, tok->buf.len);
}

static int names_equal(const h2o_iovec_t *a, const h2o_iovec_t *b)
{
    return a == b || edge_caseeq(a->base, a->len, b->base, b->len);
}

static const h2o_header_t *find_first(const h2o_headers_t *headers, const h2o_token_t *tok)
{
    if (headers == NULL)
        return NULL;
    for (size_t i = 0; i != headers->size; ++i)
        if (hdr_is(headers->entries + i, tok))
            return headers->entries + i;
    return NULL;
}

static size_t count_lines(const h2o_headers_t *headers, const h2o_token_t *tok)
{
    size_t n = 0;
    if (headers != NULL)
        for (size_t i = 0; i != headers->size; ++i)
            n += hdr_is(headers->entries + i, tok);
    return n;
}

static int method_is(h2o_iovec_t method, const char *m)
{
    return h2o_memis(method.base, method.len, m, strlen(m));
}

/* 1*DIGIT as ms, capped at 2^31 s; -2 when not a valid delta-seconds */
static int64_t parse_delta_ms(const char *s, size_t len)
{
    if (len == 0)
        return -2;
    int64_t v = 0;
    for (size_t i = 0; i != len; ++i) {
        if (!is_digit(s[i]))
            return -2;
        if (v < DELTA_MAX_S)
            v = v * 10 + (s[i] - '0');
    }
    if (v > DELTA_MAX_S)
        v = DELTA_MAX_S;
    return v * 1000;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* Cache-Control                                                                                                        */

void cache_cc_init(cache_cc_t *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->max_age_ms = CACHE_ABSENT;
    cc->s_maxage_ms = CACHE_ABSENT;
    cc->swr_ms = CACHE_ABSENT;
    cc->sie_ms = CACHE_ABSENT;
    cc->max_stale_ms = CACHE_ABSENT;
    cc->min_fresh_ms = CACHE_ABSENT;
}

/* first occurrence wins (§4.2.1); an invalid value leaves the directive as it was */
static void set_delta(int64_t *slot, const char *v, size_t vlen, int has_value)
{
    int64_t ms;
    if (*slot != CACHE_ABSENT || !has_value || (ms = parse_delta_ms(v, vlen)) < 0)
        return;
    *slot = ms;
}

/* max-age and s-maxage: an invalid value makes the response stale (§4.2.1 "encouraged to consider ... stale") */
static void set_freshness(int64_t *slot, const char *v, size_t vlen, int has_value)
{
    if (*slot != CACHE_ABSENT)
        return;
    int64_t ms = has_value ? parse_delta_ms(v, vlen) : -2;
    *slot = ms < 0 ? 0 : ms;
}

static void apply_directive(cache_cc_t *cc, const char *n, size_t nlen, const char *v, size_t vlen, int has_value, int surrogate)
{
    cc->present = 1;
    switch (nlen) {
    case 6:
        if (LIT_IS(n, nlen, "public"))
            cc->public_ = 1;
        break;
    case 7:
        if (LIT_IS(n, nlen, "max-age")) {
            /* Surrogate-Control (Edge Architecture 1.0) writes max-age=N+M, M being how long stale may serve on error */
            const char *plus;
            if (surrogate && has_value && (plus = memchr(v, '+', vlen)) != NULL) {
                set_delta(&cc->sie_ms, plus + 1, v + vlen - plus - 1, 1);
                vlen = plus - v;
            }
            set_freshness(&cc->max_age_ms, v, vlen, has_value);
        } else if (LIT_IS(n, nlen, "private")) {
            cc->private_ = 1;
        }
        break;
    case 8:
        if (LIT_IS(n, nlen, "no-store"))
            cc->no_store = 1;
        else if (LIT_IS(n, nlen, "no-cache"))
            cc->no_cache = 1;
        else if (LIT_IS(n, nlen, "s-maxage"))
            set_freshness(&cc->s_maxage_ms, v, vlen, has_value);
        break;
    case 9:
        if (LIT_IS(n, nlen, "max-stale")) {
            if (!has_value) {
                if (cc->max_stale_ms == CACHE_ABSENT)
                    cc->max_stale_ms = CACHE_CC_ANY;
            } else {
                set_delta(&cc->max_stale_ms, v, vlen, 1);
            }
        } else if (LIT_IS(n, nlen, "min-fresh")) {
            set_delta(&cc->min_fresh_ms, v, vlen, has_value);
        } else if (LIT_IS(n, nlen, "immutable")) {
            cc->immutable = 1;
        }
        break;
    case 12:
        if (LIT_IS(n, nlen, "no-transform"))
            cc->no_transform = 1;
        break;
    case 14:
        if (LIT_IS(n, nlen, "only-if-cached"))
            cc->only_if_cached = 1;
        else if (LIT_IS(n, nlen, "stale-if-error"))
            set_delta(&cc->sie_ms, v, vlen, has_value);
        break;
    case 15:
        if (LIT_IS(n, nlen, "must-revalidate"))
            cc->must_revalidate = 1;
        else if (LIT_IS(n, nlen, "must-understand"))
            cc->must_understand = 1;
        break;
    case 16:
        if (LIT_IS(n, nlen, "proxy-revalidate"))
            cc->proxy_revalidate = 1;
        break;
    case 22:
        if (LIT_IS(n, nlen, "stale-while-revalidate"))
            set_delta(&cc->swr_ms, v, vlen, has_value);
        break;
    default:
        break;
    }
}

/* skips a quoted-string starting at *p == '"'; returns the content (escapes left in place) */
static h2o_iovec_t skip_quoted(const char **p, const char *end)
{
    const char *s = ++*p;
    while (*p < end && **p != '"') {
        if (**p == '\\' && *p + 1 < end)
            ++*p;
        ++*p;
    }
    h2o_iovec_t r = h2o_iovec_init(s, *p - s);
    if (*p < end)
        ++*p; /* closing quote */
    return r;
}

/* directive *( OWS "," OWS directive ), directive = token [ "=" ( token / quoted-string ) ]; junk up to the next comma
 * outside quotes is skipped so one bogus directive cannot hide the following ones */
typedef void (*directive_cb_t)(void *ctx, const char *n, size_t nlen, const char *v, size_t vlen, int has_value);

static void each_directive(const char *p, size_t len, directive_cb_t cb, void *ctx)
{
    const char *end = p + len;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ','))
            ++p;
        if (p == end)
            break;
        const char *n = p;
        while (p < end && *p != '=' && *p != ',' && !is_ows(*p) && *p != '"' && *p != ';')
            ++p;
        size_t nlen = p - n;
        while (p < end && is_ows(*p))
            ++p;
        const char *v = NULL;
        size_t vlen = 0;
        int has_value = 0;
        if (p < end && *p == '=') {
            ++p;
            while (p < end && is_ows(*p))
                ++p;
            has_value = 1;
            if (p < end && *p == '"') {
                h2o_iovec_t q = skip_quoted(&p, end);
                v = q.base;
                vlen = q.len;
            } else {
                /* ';' ends it too: CDN-Cache-Control is a Structured Field whose members may carry parameters */
                v = p;
                while (p < end && *p != ',' && *p != ';' && !is_ows(*p))
                    ++p;
                vlen = p - v;
            }
        }
        /* anything else before the next comma is junk */
        while (p < end && *p != ',') {
            if (*p == '"')
                skip_quoted(&p, end);
            else
                ++p;
        }
        if (nlen != 0)
            cb(ctx, n, nlen, v, vlen, has_value);
    }
}

typedef struct cc_ctx {
    cache_cc_t *cc;
    int surrogate;
} cc_ctx_t;

static void on_cc_directive(void *ctx, const char *n, size_t nlen, const char *v, size_t vlen, int has_value)
{
    cc_ctx_t *c = ctx;
    apply_directive(c->cc, n, nlen, v, vlen, has_value, c->surrogate);
}

static void parse_directives(const char *p, size_t len, cache_cc_t *cc, int surrogate)
{
    cc_ctx_t c = {cc, surrogate};
    each_directive(p, len, on_cc_directive, &c);
}

void cache_cc_parse_str(const char *s, size_t len, cache_cc_t *cc)
{
    parse_directives(s, len, cc, 0);
}

void cache_cc_parse(const h2o_headers_t *headers, const h2o_token_t *name, cache_cc_t *out)
{
    cache_cc_init(out);
    if (headers == NULL)
        return;
    for (size_t i = 0; i != headers->size; ++i)
        if (hdr_is(headers->entries + i, name))
            parse_directives(headers->entries[i].value.base, headers->entries[i].value.len, out, 0);
}

/* parses every line of a field given by (lowercase) name; returns 1 when it held at least one directive */
static int parse_cc_by_name(const h2o_headers_t *headers, const char *lcname, size_t nlen, int surrogate, cache_cc_t *out)
{
    cache_cc_init(out);
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_header_t *h = headers->entries + i;
        if (h2o_lcstris(h->name->base, h->name->len, lcname, nlen))
            parse_directives(h->value.base, h->value.len, out, surrogate);
    }
    return out->present;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* CDN-Cache-Control: a Structured Field Dictionary (RFC 9213 §2.1, RFC 9651 §4.2.2)                                     */

typedef enum sf_type { SF_NONE = 0, SF_INTEGER, SF_DECIMAL, SF_STRING, SF_TOKEN, SF_BINARY, SF_BOOLEAN, SF_DATE, SF_INNER_LIST } sf_type_t;

typedef struct sf_cursor {
    const char *p, *end;
} sf_cursor_t;

static int sf_is_lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static int sf_is_alpha(char c)
{
    return sf_is_lcalpha(c) || (c >= 'A' && c <= 'Z');
}

/* tchar of RFC 9110 §5.6.2 */
static int sf_is_tchar(char c)
{
    return sf_is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int sf_peek(const sf_cursor_t *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static void sf_skip_sp(sf_cursor_t *c)
{
    while (c->p < c->end && *c->p == ' ')
        ++c->p;
}

static void sf_skip_ows(sf_cursor_t *c)
{
    while (c->p < c->end && is_ows(*c->p))
        ++c->p;
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int sf_key(sf_cursor_t *c, h2o_iovec_t *key)
{
    const char *s = c->p;
    if (c->p == c->end || !(sf_is_lcalpha(*c->p) || *c->p == '*'))
        return 0;
    ++c->p;
    while (c->p < c->end && (sf_is_lcalpha(*c->p) || is_digit(*c->p) || *c->p == '_' || *c->p == '-' || *c->p == '.' || *c->p == '*'))
        ++c->p;
    *key = h2o_iovec_init(s, c->p - s);
    return 1;
}

/* sf-integer / sf-decimal (§4.2.4): at most 15 digits, or 12 + "." + 1 to 3; *ival gets an integer's value */
static int sf_number(sf_cursor_t *c, sf_type_t *type, int64_t *ival)
{
    int neg = 0, digits = 0, frac = -1;
    int64_t v = 0;
    if (sf_peek(c, '-')) {
        neg = 1;
        ++c->p;
    }
    if (c->p == c->end || !is_digit(*c->p))
        return 0;
    for (; c->p < c->end; ++c->p) {
        if (is_digit(*c->p)) {
            if (frac >= 0) {
                if (++frac > 3)
                    return 0;
            } else {
                if (++digits > 15)
                    return 0;
                v = v * 10 + (*c->p - '0');
            }
        } else if (*c->p == '.' && frac < 0) {
            if (digits > 12)
                return 0;
            frac = 0;
        } else {
            break;
        }
    }
    if (frac == 0)
        return 0; /* "1." */
    *type = frac > 0 ? SF_DECIMAL : SF_INTEGER;
    *ival = neg ? -v : v;
    return 1;
}

static int sf_bare_item(sf_cursor_t *c, sf_type_t *type, int64_t *ival)
{
    *type = SF_NONE;
    *ival = 0;
    if (c->p == c->end)
        return 0;
    char ch = *c->p;
    if (ch == '-' || is_digit(ch))
        return sf_number(c, type, ival);
    if (ch == '"') { /* sf-string: printable ASCII, with \" and \\ only */
        for (++c->p; c->p < c->end; ++c->p) {
            unsigned char u = (unsigned char)*c->p;
            if (u == '\\') {
                if (++c->p == c->end || (*c->p != '"' && *c->p != '\\'))
                    return 0;
            } else if (u == '"') {
                ++c->p;
                *type = SF_STRING;
                return 1;
            } else if (u < 0x20 || u > 0x7e) {
                return 0;
            }
        }
        return 0;
    }
    if (sf_is_alpha(ch) || ch == '*') { /* sf-token */
        ++c->p;
        while (c->p < c->end && (sf_is_tchar(*c->p) || *c->p == ':' || *c->p == '/'))
            ++c->p;
        *type = SF_TOKEN;
        return 1;
    }
    if (ch == ':') { /* sf-binary: base64 between colons */
        for (++c->p; c->p < c->end && *c->p != ':'; ++c->p)
            if (!(sf_is_alpha(*c->p) || is_digit(*c->p) || *c->p == '+' || *c->p == '/' || *c->p == '='))
                return 0;
        if (c->p == c->end)
            return 0;
        ++c->p;
        *type = SF_BINARY;
        return 1;
    }
    if (ch == '?') { /* sf-boolean */
        if (c->end - c->p < 2 || (c->p[1] != '0' && c->p[1] != '1'))
            return 0;
        *ival = c->p[1] == '1';
        c->p += 2;
        *type = SF_BOOLEAN;
        return 1;
    }
    if (ch == '@') { /* sf-date (RFC 9651) */
        ++c->p;
        if (!sf_number(c, type, ival) || *type != SF_INTEGER)
            return 0;
        *type = SF_DATE;
        return 1;
    }
    return 0;
}

/* parameters = *( ";" *SP key [ "=" bare-item ] ); their values mean nothing to a cache directive */
static int sf_parameters(sf_cursor_t *c)
{
    while (sf_peek(c, ';')) {
        ++c->p;
        sf_skip_sp(c);
        h2o_iovec_t key;
        sf_type_t t;
        int64_t v;
        if (!sf_key(c, &key))
            return 0;
        if (sf_peek(c, '=')) {
            ++c->p;
            if (!sf_bare_item(c, &t, &v))
                return 0;
        }
    }
    return 1;
}

/* member-value = sf-item / inner-list */
static int sf_member_value(sf_cursor_t *c, sf_type_t *type, int64_t *ival)
{
    if (sf_peek(c, '(')) {
        ++c->p;
        for (;;) {
            sf_skip_sp(c);
            if (sf_peek(c, ')')) {
                ++c->p;
                break;
            }
            sf_type_t t;
            int64_t v;
            if (!sf_bare_item(c, &t, &v) || !sf_parameters(c))
                return 0;
            if (!(sf_peek(c, ' ') || sf_peek(c, ')')))
                return 0;
        }
        *type = SF_INNER_LIST;
        *ival = 0;
        return sf_parameters(c);
    }
    return sf_bare_item(c, type, ival) && sf_parameters(c);
}

typedef void (*sf_member_cb_t)(void *ctx, h2o_iovec_t key, sf_type_t type, int64_t ival);

/* one field line as a Dictionary; 0 on any syntax error (callbacks may have run for the members before it) */
static int sf_dictionary(const char *s, size_t len, sf_member_cb_t cb, void *ctx)
{
    sf_cursor_t c = {s, s + len};
    sf_skip_sp(&c);
    while (c.end > c.p && c.end[-1] == ' ')
        --c.end;
    if (c.p == c.end)
        return 1; /* an empty line adds nothing */
    for (;;) {
        h2o_iovec_t key;
        sf_type_t type = SF_BOOLEAN;
        int64_t ival = 1;
        if (!sf_key(&c, &key))
            return 0;
        if (sf_peek(&c, '=')) {
            ++c.p;
            if (!sf_member_value(&c, &type, &ival))
                return 0;
        } else if (!sf_parameters(&c)) {
            return 0;
        }
        if (cb != NULL)
            cb(ctx, key, type, ival);
        sf_skip_ows(&c);
        if (c.p == c.end)
            return 1;
        if (*c.p != ',')
            return 0;
        ++c.p;
        sf_skip_ows(&c);
        if (c.p == c.end)
            return 0; /* a trailing comma */
    }
}

/* a member of a valid CDN-Cache-Control: the later of two same keys wins (a Dictionary); a value of the wrong type leaves
 * the directive as it was (RFC 9213 §2.1) */
static void on_sf_directive(void *ctx, h2o_iovec_t key, sf_type_t type, int64_t ival)
{
    cache_cc_t *cc = ctx;
    int64_t *delta = NULL;
    unsigned flag = type == SF_BOOLEAN && ival == 1;
    cc->present = 1;
    if (LIT_IS(key.base, key.len, "max-age"))
        delta = &cc->max_age_ms;
    else if (LIT_IS(key.base, key.len, "s-maxage"))
        delta = &cc->s_maxage_ms;
    else if (LIT_IS(key.base, key.len, "stale-while-revalidate"))
        delta = &cc->swr_ms;
    else if (LIT_IS(key.base, key.len, "stale-if-error"))
        delta = &cc->sie_ms;
    if (delta != NULL) {
        if (type == SF_INTEGER && ival >= 0)
            *delta = (ival > DELTA_MAX_S ? DELTA_MAX_S : ival) * 1000;
        return;
    }
    /* no-cache and private may list field names (an Inner List or a String): read as the plain directive, as in Cache-Control */
    if (type == SF_INNER_LIST || type == SF_STRING) {
        if (LIT_IS(key.base, key.len, "no-cache"))
            cc->no_cache = 1;
        else if (LIT_IS(key.base, key.len, "private"))
            cc->private_ = 1;
        return;
    }
    if (type != SF_BOOLEAN)
        return;
    if (LIT_IS(key.base, key.len, "no-store"))
        cc->no_store = flag;
    else if (LIT_IS(key.base, key.len, "no-cache"))
        cc->no_cache = flag;
    else if (LIT_IS(key.base, key.len, "private"))
        cc->private_ = flag;
    else if (LIT_IS(key.base, key.len, "public"))
        cc->public_ = flag;
    else if (LIT_IS(key.base, key.len, "must-revalidate"))
        cc->must_revalidate = flag;
    else if (LIT_IS(key.base, key.len, "proxy-revalidate"))
        cc->proxy_revalidate = flag;
    else if (LIT_IS(key.base, key.len, "no-transform"))
        cc->no_transform = flag;
    else if (LIT_IS(key.base, key.len, "immutable"))
        cc->immutable = flag;
    else if (LIT_IS(key.base, key.len, "must-understand"))
        cc->must_understand = flag;
}

int cache_cdn_cc_parse(const h2o_headers_t *headers, cache_cc_t *out)
{
    cache_cc_init(out);
    int lines = 0;
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_header_t *h = headers->entries + i;
        if (!LIT_IS(h->name->base, h->name->len, "cdn-cache-control"))
            continue;
        if (!sf_dictionary(h->value.base, h->value.len, NULL, NULL))
            return 0; /* RFC 9213 §2.1: a field that does not parse is ignored whole */
        ++lines;
    }
    for (size_t i = 0; lines != 0 && i != headers->size; ++i) {
        const h2o_header_t *h = headers->entries + i;
        if (LIT_IS(h->name->base, h->name->len, "cdn-cache-control"))
            sf_dictionary(h->value.base, h->value.len, on_sf_directive, out);
    }
    return out->present;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* HTTP-date                                                                                                            */

int64_t cache_policy_parse_date(const char *s, size_t len)
{
    int64_t sec;
    return edge_http_date_parse(s, len, &sec) == 0 ? sec * 1000 : CACHE_ABSENT;
}

static int64_t header_date(const h2o_headers_t *headers, const h2o_token_t *tok)
{
    const h2o_header_t *h = find_first(headers, tok);
    return h == NULL ? CACHE_ABSENT : cache_policy_parse_date(h->value.base, h->value.len);
}

/* Expires (§5.3): an HTTP-date in the grammar's own terms. The shared parser also takes `UTC` for `GMT` (some servers
 * write it in Last-Modified and conditionals, where leniency costs nothing); an Expires that is not a valid HTTP-date is
 * a time in the past, so one ending `UTC` is already expired */
static int64_t header_expires(const h2o_headers_t *headers)
{
    const h2o_header_t *h = find_first(headers, H2O_TOKEN_EXPIRES);
    if (h == NULL)
        return CACHE_ABSENT;
    h2o_iovec_t v = h2o_str_stripws(h->value.base, h->value.len);
    if (v.len >= 3 && LIT_IS(v.base + v.len - 3, 3, "utc"))
        return CACHE_ABSENT;
    return cache_policy_parse_date(v.base, v.len);
}

/* Age: the first member of a (wrongly) list-valued field; invalid → ignored (§5.1) */
static int64_t header_age(const h2o_headers_t *headers)
{
    const h2o_header_t *h = find_first(headers, H2O_TOKEN_AGE);
    if (h == NULL)
        return CACHE_ABSENT;
    const char *comma = memchr(h->value.base, ',', h->value.len);
    h2o_iovec_t v = h2o_str_stripws(h->value.base, comma != NULL ? (size_t)(comma - h->value.base) : h->value.len);
    int64_t ms = parse_delta_ms(v.base, v.len);
    return ms < 0 ? CACHE_ABSENT : ms;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* fields a shared cache does not store (RFC 9111 §3.1, §5.2.2.4, §5.2.2.7; Set-Cookie)                                  */

static int is_set_cookie(const h2o_iovec_t *name)
{
    return name == &H2O_TOKEN_SET_COOKIE->buf || LIT_IS(name->base, name->len, "set-cookie") ||
           LIT_IS(name->base, name->len, "set-cookie2");
}

static int sets_cookie(const h2o_headers_t *resh)
{
    for (size_t i = 0; i != resh->size; ++i)
        if (is_set_cookie(resh->entries[i].name))
            return 1;
    return 0;
}

/* the fields that carry directives for this cache or downstream ones; a field list in any of them counts */
static int is_cc_field(const h2o_iovec_t *name)
{
    return name == &H2O_TOKEN_CACHE_CONTROL->buf || LIT_IS(name->base, name->len, "cache-control") ||
           cache_policy_is_targeted_header(name);
}

typedef struct listed_ctx {
    const char *name; /* NULL: any list at all */
    size_t nlen;
    int found;
} listed_ctx_t;

/* a qualified no-cache="a, b" or private="a, b" (the token form no-cache=a too) naming ctx->name */
static void on_listed_directive(void *ctx, const char *n, size_t nlen, const char *v, size_t vlen, int has_value)
{
    listed_ctx_t *c = ctx;
    if (!has_value || c->found || !(LIT_IS(n, nlen, "no-cache") || LIT_IS(n, nlen, "private")))
        return;
    const char *p = v, *end = v + vlen;
    while (p < end) {
        const char *e = memchr(p, ',', end - p);
        if (e == NULL)
            e = end;
        h2o_iovec_t t = h2o_str_stripws(p, e - p);
        if (t.len != 0 && (c->name == NULL || edge_caseeq(t.base, t.len, c->name, c->nlen))) {
            c->found = 1;
            return;
        }
        p = e + 1;
    }
}

static int field_listed(const h2o_headers_t *resh, const char *name, size_t nlen)
{
    listed_ctx_t c = {name, nlen, 0};
    for (size_t i = 0; i != resh->size && !c.found; ++i)
        if (is_cc_field(resh->entries[i].name))
            each_directive(resh->entries[i].value.base, resh->entries[i].value.len, on_listed_directive, &c);
    return c.found;
}

int cache_policy_field_is_unshared(const h2o_headers_t *resh, const char *name, size_t len)
{
    return field_listed(resh, name, len);
}

size_t cache_policy_shareable_headers(h2o_mem_pool_t *pool, const h2o_headers_t *resh, h2o_headers_t *out)
{
    int lists = field_listed(resh, NULL, 0);
    memset(out, 0, sizeof(*out));
    h2o_vector_reserve(pool, out, resh->size);
    for (size_t i = 0; i != resh->size; ++i) {
        const h2o_header_t *h = resh->entries + i;
        if (is_set_cookie(h->name) || (lists && field_listed(resh, h->name->base, h->name->len)))
            continue;
        out->entries[out->size++] = *h;
    }
    return resh->size - out->size;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* storability, freshness, age                                                                                          */

void cache_policy_init(cache_policy_t *pol, const conf_cache_policy_t *behavior, int64_t global_swr_ms, int64_t global_sie_ms)
{
    pol->enabled = 1;
    pol->min_ttl_ms = CACHE_ABSENT;
    pol->default_ttl_ms = CACHE_ABSENT;
    pol->max_ttl_ms = CACHE_ABSENT;
    pol->swr_ms = global_swr_ms > 0 ? global_swr_ms : 0;
    pol->sie_ms = global_sie_ms < 0 ? CACHE_DEFAULT_STALE_IF_ERROR_MS : global_sie_ms;
    pol->sie_default = global_sie_ms < 0;
    pol->heuristic_max_ms = ONE_DAY_MS;
    pol->error_ttl_ms = CACHE_DEFAULT_ERROR_TTL_MS;
    pol->num_status_ttl = 0;
    pol->ignore_set_cookie = 0;
    pol->forward = NULL;
    if (behavior == NULL)
        return;
    pol->ignore_set_cookie = behavior->ignore_set_cookie;
    pol->enabled = behavior->enabled;
    pol->min_ttl_ms = behavior->min_ttl_ms >= 0 ? behavior->min_ttl_ms : CACHE_ABSENT;
    pol->default_ttl_ms = behavior->default_ttl_ms >= 0 ? behavior->default_ttl_ms : CACHE_ABSENT;
    pol->max_ttl_ms = behavior->max_ttl_ms >= 0 ? behavior->max_ttl_ms : CACHE_ABSENT;
    if (behavior->stale_while_revalidate_ms >= 0)
        pol->swr_ms = behavior->stale_while_revalidate_ms;
    if (behavior->stale_if_error_ms >= 0) {
        pol->sie_ms = behavior->stale_if_error_ms;
        pol->sie_default = 0;
    }
    if (behavior->error_ttl_ms >= 0)
        pol->error_ttl_ms = behavior->error_ttl_ms;
}

/* §4.2.2: statuses "defined as heuristically cacheable" (RFC 9110 §15.1) */
static int heuristically_cacheable(int status)
{
    switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
        return 1;
    default:
        return 0;
    }
}

static int64_t clamp_ttl(const cache_policy_t *pol, int64_t ms)
{
    if (pol->min_ttl_ms != CACHE_ABSENT && ms < pol->min_ttl_ms)
        ms = pol->min_ttl_ms;
    if (pol->max_ttl_ms != CACHE_ABSENT && ms > pol->max_ttl_ms)
        ms = pol->max_ttl_ms;
    return ms;
}

static int has_vary_star(const h2o_headers_t *resh)
{
    for (size_t i = 0; i != resh->size; ++i) {
        const h2o_header_t *h = resh->entries + i;
        if (!hdr_is(h, H2O_TOKEN_VARY))
            continue;
        const char *p = h->value.base, *end = p + h->value.len;
        while (p < end) {
            const char *e = memchr(p, ',', end - p);
            if (e == NULL)
                e = end;
            h2o_iovec_t t = h2o_str_stripws(p, e - p);
            if (t.len == 1 && t.base[0] == '*')
                return 1;
            p = e + 1;
        }
    }
    return 0;
}

int64_t cache_policy_initial_age(int64_t date_ms, int64_t age_ms, int64_t request_time_ms, int64_t response_time_ms)
{
    int64_t apparent = date_ms == CACHE_ABSENT ? 0 : response_time_ms - date_ms;
    if (apparent < 0)
        apparent = 0;
    int64_t delay = response_time_ms - request_time_ms;
    if (delay < 0)
        delay = 0;
    /* the Age sent by an upstream cache plus the time the response spent in flight (§4.2.3) */
    int64_t corrected_age_value = (age_ms == CACHE_ABSENT ? 0 : age_ms) + delay;
    return apparent > corrected_age_value ? apparent : corrected_age_value;
}

int64_t cache_policy_current_age(const cache_decision_t *d, int64_t now_ms)
{
    int64_t resident = now_ms - d->response_time_ms;
    return d->initial_age_ms + (resident > 0 ? resident : 0);
}

int64_t cache_policy_ttl(const cache_decision_t *d, int64_t now_ms)
{
    return d->lifetime_ms - cache_policy_current_age(d, now_ms);
}

int64_t cache_policy_age_header_seconds(const cache_decision_t *d, int64_t now_ms)
{
    return cache_policy_current_age(d, now_ms) / 1000;
}

void cache_policy_evaluate(const cache_policy_t *pol, h2o_iovec_t method, const h2o_headers_t *reqh, int status,
                           const h2o_headers_t *resh, int64_t request_time_ms, int64_t response_time_ms, cache_decision_t *out)
{
    static const h2o_headers_t no_headers = {NULL};
    static const cache_policy_t rfc_only = {.enabled = 1,
                                            .min_ttl_ms = CACHE_ABSENT,
                                            .default_ttl_ms = CACHE_ABSENT,
                                            .max_ttl_ms = CACHE_ABSENT,
                                            .heuristic_max_ms = ONE_DAY_MS};
    const char *reason = NULL;
    cache_cc_t cc, reqcc;

    if (pol == NULL)
        pol = &rfc_only;
    if (reqh == NULL)
        reqh = &no_headers;
    memset(out, 0, sizeof(*out));
    out->request_time_ms = request_time_ms;
    out->response_time_ms = response_time_ms;

    /* §4.2.3 age; a missing Date is the time of receipt (RFC 9110 §6.6.1) */
    int64_t date = header_date(resh, H2O_TOKEN_DATE);
    out->date_ms = date != CACHE_ABSENT ? date : response_time_ms;
    out->age_ms = header_age(resh);
    out->initial_age_ms = cache_policy_initial_age(out->date_ms, out->age_ms, request_time_ms, response_time_ms);
    out->last_modified_ms = header_date(resh, H2O_TOKEN_LAST_MODIFIED);
    const h2o_header_t *etag = find_first(resh, H2O_TOKEN_ETAG);
    out->has_validator =
        (etag != NULL && h2o_str_stripws(etag->value.base, etag->value.len).len != 0) || out->last_modified_ms != CACHE_ABSENT;

    /* RFC 9213 §2.2: the first targeted field present replaces Cache-Control and Expires for this cache */
    if (cache_cdn_cc_parse(resh, &cc) || parse_cc_by_name(resh, H2O_STRLIT("surrogate-control"), 1, &cc)) {
        out->targeted = 1;
    } else {
        cache_cc_parse(resh, H2O_TOKEN_CACHE_CONTROL, &cc);
    }
    cache_cc_parse(reqh, H2O_TOKEN_CACHE_CONTROL, &reqcc);
    out->no_cache = cc.no_cache;
    out->must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage_ms != CACHE_ABSENT;
    out->immutable = cc.immutable;

    /* §4.2.1 freshness lifetime, shared cache */
    int explicit_freshness = 1;
    if (cc.s_maxage_ms != CACHE_ABSENT) {
        out->lifetime_ms = cc.s_maxage_ms;
        out->source = CACHE_LIFETIME_S_MAXAGE;
    } else if (cc.max_age_ms != CACHE_ABSENT) {
        out->lifetime_ms = cc.max_age_ms;
        out->source = CACHE_LIFETIME_MAX_AGE;
    } else if (!out->targeted && find_first(resh, H2O_TOKEN_EXPIRES) != NULL) {
        /* §5.3: an invalid Expires (e.g. "0") is a time in the past */
        int64_t expires = header_expires(resh);
        out->lifetime_ms = expires == CACHE_ABSENT || expires < out->date_ms ? 0 : expires - out->date_ms;
        out->source = CACHE_LIFETIME_EXPIRES;
    } else {
        explicit_freshness = 0;
    }
    int heuristic_ok = heuristically_cacheable(status) || cc.public_;
    int64_t status_ttl = -1;
    for (unsigned i = 0; i != pol->num_status_ttl; ++i)
        if (pol->status_ttl[i].status == status)
            status_ttl = pol->status_ttl[i].ttl_ms;
    if (explicit_freshness) {
        /* CloudFront: min_ttl and max_ttl clamp what the origin says */
        out->lifetime_ms = clamp_ttl(pol, out->lifetime_ms);
    } else if (status_ttl >= 0 && status >= 400) {
        /* CloudFront's custom error response: the error is cached for its ErrorCachingMinTTL, whatever the status */
        out->lifetime_ms = status_ttl;
        out->source = CACHE_LIFETIME_ERROR_TTL;
        heuristic_ok = 1;
    } else if (heuristic_ok && status >= 400) {
        /* CloudFront: an error (404, 410, ...) without freshness information is cached for the error caching TTL */
        out->lifetime_ms = pol->error_ttl_ms;
        out->source = CACHE_LIFETIME_ERROR_TTL;
        if (pol->max_ttl_ms != CACHE_ABSENT && out->lifetime_ms > pol->max_ttl_ms)
            out->lifetime_ms = pol->max_ttl_ms;
    } else if (heuristic_ok) {
        if (pol->default_ttl_ms != CACHE_ABSENT) {
            /* CloudFront: default_ttl only when the origin gives no freshness information at all */
            out->lifetime_ms = pol->default_ttl_ms;
            out->source = CACHE_LIFETIME_DEFAULT_TTL;
        } else if (out->last_modified_ms != CACHE_ABSENT && out->last_modified_ms <= out->date_ms) {
            /* §4.2.2: a fraction of the time since the last modification, with an upper bound */
            int64_t h = (out->date_ms - out->last_modified_ms) / 10;
            out->lifetime_ms = h < pol->heuristic_max_ms ? h : pol->heuristic_max_ms;
            out->source = CACHE_LIFETIME_HEURISTIC;
        }
        out->lifetime_ms = clamp_ttl(pol, out->lifetime_ms);
    }

    /* RFC 5861 windows; forbidden by the directives of §4.2.4 */
    if (!out->no_cache && !out->must_revalidate) {
        out->swr_ms = cc.swr_ms != CACHE_ABSENT ? cc.swr_ms : pol->swr_ms;
        out->sie_ms = cc.sie_ms != CACHE_ABSENT ? cc.sie_ms : pol->sie_ms;
    }

    /* §3 storability, for a shared cache; first failing rule wins */
    if (!pol->enabled)
        reason = "caching disabled for this behavior";
    else if (!method_is(method, "GET") && !method_is(method, "HEAD"))
        reason = "request method is not cacheable (RFC 9111 §3)";
    else if (status < 200 || status > 599)
        reason = "status is not final or not understood (RFC 9111 §3)";
    else if (status == 206)
        reason = "partial content (206) is not stored";
    else if (status == 304)
        reason = "304 is not a complete response (RFC 9111 §3)";
    else if (cc.must_understand && !cache_policy_status_understood(status))
        reason = "must-understand with a status this cache does not understand (RFC 9111 §5.2.2.3)";
    else if (reqcc.no_store)
        reason = "request no-store (RFC 9111 §5.2.1.5)";
    else if (cc.no_store && !cc.must_understand)
        reason = "response no-store (RFC 9111 §5.2.2.5)";
    else if (cc.private_)
        reason = "response private, shared cache (RFC 9111 §5.2.2.7)";
    else if (!pol->ignore_set_cookie && sets_cookie(resh) && !cache_policy_field_is_unshared(resh, H2O_STRLIT("set-cookie")))
        reason = "response sets a cookie (Set-Cookie), not shared without cache.ignore_set_cookie";
    else if (find_first(reqh, H2O_TOKEN_AUTHORIZATION) != NULL && !cc.public_ && cc.s_maxage_ms == CACHE_ABSENT &&
             !cc.must_revalidate)
        reason = "request has Authorization without public, s-maxage or must-revalidate (RFC 9111 §3.5)";
    else if (has_vary_star(resh))
        reason = "Vary: * never matches (RFC 9111 §4.1)";
    else if (!explicit_freshness && !heuristic_ok)
        reason = "status not heuristically cacheable and no explicit freshness (RFC 9111 §4.2.2)";
    else if ((out->lifetime_ms == 0 || out->no_cache) && !out->has_validator && out->swr_ms == 0 &&
             (out->sie_ms == 0 || (pol->sie_default && cc.sie_ms == CACHE_ABSENT)))
        reason = "never reusable: no freshness and no validator (RFC 9111 §4.3)";

    out->storable = reason == NULL;
    out->reason = reason;
}

cache_use_t cache_policy_use(const cache_decision_t *d, const cache_cc_t *reqcc, int64_t now_ms)
{
    if (d->no_cache || (reqcc != NULL && reqcc->no_cache))
        return CACHE_USE_REVALIDATE;
    int64_t age = cache_policy_current_age(d, now_ms);
    int64_t left = d->lifetime_ms - age;
    if (reqcc != NULL) {
        /* the client asks for something fresher than this: only the origin can tell (§5.2.1.1, §5.2.1.3) */
        if (reqcc->max_age_ms != CACHE_ABSENT && age > reqcc->max_age_ms)
            return CACHE_USE_REVALIDATE;
        if (reqcc->min_fresh_ms != CACHE_ABSENT && left < reqcc->min_fresh_ms)
            return CACHE_USE_REVALIDATE;
    }
    if (left > 0)
        return CACHE_USE_FRESH;
    int64_t staleness = -left;
    if (d->must_revalidate)
        return CACHE_USE_REVALIDATE;
    if (d->swr_ms > 0 && staleness <= d->swr_ms)
        return CACHE_USE_STALE_REVALIDATE;
    if (reqcc != NULL && reqcc->max_stale_ms != CACHE_ABSENT && staleness <= reqcc->max_stale_ms)
        return CACHE_USE_STALE_REVALIDATE;
    return CACHE_USE_REVALIDATE;
}

int cache_policy_stale_if_error(const cache_decision_t *d, const cache_cc_t *reqcc, int64_t now_ms)
{
    if (d->no_cache)
        return 0;
    int64_t left = cache_policy_ttl(d, now_ms);
    if (left > 0)
        return 1;
    if (d->must_revalidate)
        return 0;
    int64_t window = d->sie_ms;
    if (reqcc != NULL && reqcc->sie_ms != CACHE_ABSENT && reqcc->sie_ms > window)
        window = reqcc->sie_ms;
    return window > 0 && -left <= window;
}

int cache_policy_status_understood(int status)
{
    return (status >= 200 && status <= 206) || (status >= 300 && status <= 308 && status != 306) || (status >= 400 && status <= 417) ||
           status == 421 || status == 422 || status == 426 || (status >= 500 && status <= 505);
}

int cache_policy_is_error_status(int status)
{
    return status == 500 || status == 502 || status == 503 || status == 504;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* targeted fields                                                                                                      */

int cache_policy_is_targeted_header(const h2o_iovec_t *name)
{
    return LIT_IS(name->base, name->len, "cdn-cache-control") || LIT_IS(name->base, name->len, "surrogate-control");
}

int cache_policy_is_consumed_header(const h2o_iovec_t *name)
{
    return LIT_IS(name->base, name->len, "surrogate-control");
}

size_t cache_policy_strip_targeted(h2o_headers_t *headers)
{
    size_t w = 0, n = headers->size;
    for (size_t r = 0; r != n; ++r)
        if (!cache_policy_is_targeted_header(headers->entries[r].name))
            headers->entries[w++] = headers->entries[r];
    headers->size = w;
    return n - w;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* Vary                                                                                                                 */

static int cmp_iovec(const void *a, const void *b)
{
    const h2o_iovec_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->base, y->base, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

void cache_vary_parse(h2o_mem_pool_t *pool, const h2o_headers_t *resh, cache_vary_t *out)
{
    size_t cap = 0;
    out->names = NULL;
    out->count = 0;
    out->star = 0;
    for (size_t i = 0; i != resh->size; ++i) {
        const h2o_header_t *h = resh->entries + i;
        if (hdr_is(h, H2O_TOKEN_VARY)) {
            cap += 1;
            for (size_t j = 0; j != h->value.len; ++j)
                cap += h->value.base[j] == ',';
        }
    }
    if (cap == 0)
        return;
    out->names = h2o_mem_alloc_pool(pool, sizeof(h2o_iovec_t) * cap);
    for (size_t i = 0; i != resh->size; ++i) {
        const h2o_header_t *h = resh->entries + i;
        if (!hdr_is(h, H2O_TOKEN_VARY))
            continue;
        const char *p = h->value.base, *end = p + h->value.len;
        while (p < end) {
            const char *e = memchr(p, ',', end - p);
            if (e == NULL)
                e = end;
            h2o_iovec_t t = h2o_str_stripws(p, e - p);
            p = e + 1;
            if (t.len == 0)
                continue;
            if (t.len == 1 && t.base[0] == '*') {
                out->star = 1;
                continue;
            }
            char *lc = h2o_mem_alloc_pool(pool, t.len);
            for (size_t j = 0; j != t.len; ++j)
                lc[j] = (char)h2o_tolower((unsigned char)t.base[j]);
            out->names[out->count++] = h2o_iovec_init(lc, t.len);
        }
    }
    qsort(out->names, out->count, sizeof(h2o_iovec_t), cmp_iovec);
    size_t w = 0;
    for (size_t r = 0; r != out->count; ++r)
        if (w == 0 || cmp_iovec(out->names + w - 1, out->names + r) != 0)
            out->names[w++] = out->names[r];
    out->count = w;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* Accept-Language (RFC 9110 §12.5.4)                                                                                   */

typedef struct lang_item {
    const char *range;
    size_t len;
    int q; /* 0..1000 */
} lang_item_t;

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) as thousandths; -1 when invalid */
static int parse_qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    if (len == 1)
        return q;
    if (s[1] != '.' || len > 5)
        return -1;
    for (size_t i = 2; i != len; ++i, scale /= 10) {
        if (!is_digit(s[i]))
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

static int cmp_lang(const void *pa, const void *pb)
{
    const lang_item_t *a = pa, *b = pb;
    if (a->q != b->q)
        return b->q - a->q;
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i != n; ++i) {
        int x = h2o_tolower((unsigned char)a->range[i]), y = h2o_tolower((unsigned char)b->range[i]);
        if (x != y)
            return x - y;
    }
    return (a->len > b->len) - (a->len < b->len);
}

ssize_t cache_accept_language_normalise(const char *s, size_t len, char *out)
{
    lang_item_t items[CACHE_LANG_MAX_ITEMS];
    size_t n = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *e = memchr(p, ',', end - p);
        if (e == NULL)
            e = end;
        h2o_iovec_t item = h2o_str_stripws(p, e - p);
        p = e + 1;
        if (item.len == 0)
            continue; /* empty list elements (RFC 9110 §5.6.1) */
        const char *semi = memchr(item.base, ';', item.len);
        h2o_iovec_t range = h2o_str_stripws(item.base, semi != NULL ? (size_t)(semi - item.base) : item.len);
        if (range.len == 0 || n == CACHE_LANG_MAX_ITEMS)
            return -1;
        for (size_t i = 0; i != range.len; ++i)
            if (!(sf_is_alpha(range.base[i]) || is_digit(range.base[i]) || range.base[i] == '-' || range.base[i] == '*'))
                return -1;
        int q = 1000;
        if (semi != NULL) {
            /* weight = OWS ";" OWS "q=" qvalue; any other parameter: not ours to reorder */
            h2o_iovec_t w = h2o_str_stripws(semi + 1, item.base + item.len - semi - 1);
            if (w.len < 2 || (w.base[0] != 'q' && w.base[0] != 'Q') || w.base[1] != '=' ||
                (q = parse_qvalue(w.base + 2, w.len - 2)) < 0)
                return -1;
        }
        items[n++] = (lang_item_t){range.base, range.len, q};
    }
    qsort(items, n, sizeof(items[0]), cmp_lang);
    char *d = out;
    for (size_t i = 0; i != n; ++i) {
        if (i != 0)
            *d++ = ',';
        for (size_t j = 0; j != items[i].len; ++j)
            *d++ = (char)h2o_tolower((unsigned char)items[i].range[j]);
        if (items[i].q != 1000) {
            /* the shortest form: ;q=0, ;q=0.5, ;q=0.25, ;q=0.125 */
            int q = items[i].q, digits = 3;
            memcpy(d, ";q=0", 4);
            d += 4;
            while (digits != 0 && q % 10 == 0 && q != 0) {
                q /= 10;
                --digits;
            }
            if (q != 0) {
                *d++ = '.';
                for (int k = digits - 1; k >= 0; --k) {
                    int div = k == 2 ? 100 : k == 1 ? 10 : 1;
                    *d++ = (char)('0' + q / div % 10);
                }
            }
        }
    }
    return d - out;
}

/* control bytes and '%' become %XX so that '\n' only ever separates entries */
static char *put_escaped(char *d, const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '%') {
            d = edge_pct_escape(d, c);
        } else {
            *d++ = (char)c;
        }
    }
    return d;
}

/* one field line: trimmed, and whitespace around commas removed */
static char *put_normalised_value(char *d, const char *s, size_t len)
{
    h2o_iovec_t v = h2o_str_stripws(s, len);
    const char *p = v.base, *end = v.base + v.len;
    while (p < end) {
        const char *e = memchr(p, ',', end - p);
        h2o_iovec_t item = h2o_str_stripws(p, (e != NULL ? e : end) - p);
        d = put_escaped(d, item.base, item.len);
        if (e == NULL)
            break;
        *d++ = ',';
        p = e + 1;
    }
    return d;
}

int cache_vary_key(h2o_mem_pool_t *pool, const cache_vary_t *vary, const h2o_headers_t *reqh, h2o_iovec_t *out)
{
    *out = h2o_iovec_init(NULL, 0);
    if (vary->star)
        return -1;
    if (vary->count == 0)
        return 0;
    size_t cap = 0;
    for (size_t i = 0; i != vary->count; ++i) {
        cap += vary->names[i].len + 2;
        for (size_t j = 0; reqh != NULL && j != reqh->size; ++j)
            if (h2o_lcstris(reqh->entries[j].name->base, reqh->entries[j].name->len, vary->names[i].base, vary->names[i].len))
                cap += reqh->entries[j].value.len * 3 + 1;
    }
    char *buf = h2o_mem_alloc_pool(pool, cap), *d = buf;
    for (size_t i = 0; i != vary->count; ++i) {
        const h2o_iovec_t *name = vary->names + i;
        memcpy(d, name->base, name->len);
        d += name->len;
        int seen = 0;
        for (size_t j = 0; reqh != NULL && j != reqh->size; ++j) {
            const h2o_header_t *h = reqh->entries + j;
            if (!h2o_lcstris(h->name->base, h->name->len, name->base, name->len))
                continue;
            h2o_iovec_t t = h2o_str_stripws(h->value.base, h->value.len);
            if (seen && t.len == 0)
                continue; /* an empty line adds nothing to a combined list */
            *d++ = seen ? ',' : '=';
            seen = 1;
            if (LIT_IS(name->base, name->len, "accept-language")) {
                /* RFC 9110 §12.5.4: case, whitespace and the order of equal weights mean nothing; the normal form is never
                 * longer than the value and has nothing to escape (letters, digits, "-*;=.,") */
                ssize_t nl = cache_accept_language_normalise(t.base, t.len, d);
                if (nl >= 0) {
                    d += nl;
                    continue;
                }
            }
            d = put_normalised_value(d, t.base, t.len);
        }
        *d++ = '\n';
    }
    *out = h2o_iovec_init(buf, d - buf);
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* validators and entity tags                                                                                           */

void cache_policy_validators(const h2o_headers_t *resh, cache_validators_t *out)
{
    const h2o_header_t *h = find_first(resh, H2O_TOKEN_ETAG);
    out->etag = h != NULL ? h2o_str_stripws(h->value.base, h->value.len) : h2o_iovec_init(NULL, 0);
    out->last_modified_ms = header_date(resh, H2O_TOKEN_LAST_MODIFIED);
    out->date_ms = header_date(resh, H2O_TOKEN_DATE);
}

int cache_policy_etag_matches(h2o_iovec_t list, h2o_iovec_t etag, int weak)
{
    return edge_etag_list_matches(list.base, list.len, etag.base, etag.len, weak);
}

/* any line of the field matches */
static int etag_field_matches(const h2o_headers_t *reqh, const h2o_token_t *tok, h2o_iovec_t etag, int weak)
{
    for (size_t i = 0; i != reqh->size; ++i)
        if (hdr_is(reqh->entries + i, tok) && cache_policy_etag_matches(reqh->entries[i].value, etag, weak))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* revalidation                                                                                                         */

static int is_conditional(const h2o_header_t *h)
{
    return hdr_is(h, H2O_TOKEN_IF_MATCH) || hdr_is(h, H2O_TOKEN_IF_NONE_MATCH) || hdr_is(h, H2O_TOKEN_IF_MODIFIED_SINCE) ||
           hdr_is(h, H2O_TOKEN_IF_UNMODIFIED_SINCE) || hdr_is(h, H2O_TOKEN_IF_RANGE);
}

size_t cache_policy_strip_conditionals(h2o_headers_t *reqh)
{
    size_t w = 0, n = reqh->size;
    for (size_t r = 0; r != n; ++r)
        if (!is_conditional(reqh->entries + r))
            reqh->entries[w++] = reqh->entries[r];
    reqh->size = w;
    return n - w;
}

size_t cache_policy_add_conditionals(h2o_mem_pool_t *pool, const h2o_headers_t *stored_resh, h2o_headers_t *origin_reqh)
{
    size_t added = 0;
    cache_policy_strip_conditionals(origin_reqh);
    const h2o_header_t *etag = find_first(stored_resh, H2O_TOKEN_ETAG);
    if (etag != NULL) {
        h2o_iovec_t v = h2o_str_stripws(etag->value.base, etag->value.len);
        if (v.len != 0) {
            v = h2o_strdup(pool, v.base, v.len);
            h2o_add_header(pool, origin_reqh, H2O_TOKEN_IF_NONE_MATCH, NULL, v.base, v.len);
            ++added;
        }
    }
    /* only a valid date: an origin may well reject a malformed If-Modified-Since */
    const h2o_header_t *lm = find_first(stored_resh, H2O_TOKEN_LAST_MODIFIED);
    if (lm != NULL && cache_policy_parse_date(lm->value.base, lm->value.len) != CACHE_ABSENT) {
        h2o_iovec_t v = h2o_str_stripws(lm->value.base, lm->value.len);
        v = h2o_strdup(pool, v.base, v.len);
        h2o_add_header(pool, origin_reqh, H2O_TOKEN_IF_MODIFIED_SINCE, NULL, v.base, v.len);
        ++added;
    }
    return added;
}

int cache_policy_304_selects(const h2o_headers_t *stored_resh, const h2o_headers_t *resp304)
{
    cache_validators_t s, n;
    edge_etag_t se, ne;
    cache_policy_validators(stored_resh, &s);
    cache_policy_validators(resp304, &n);
    if (edge_etag_parse(n.etag.base, n.etag.len, &ne)) {
        if (!edge_etag_parse(s.etag.base, s.etag.len, &se))
            return 0;
        return edge_etag_equal(&se, &ne, ne.weak);
    }
    if (n.last_modified_ms != CACHE_ABSENT)
        return s.last_modified_ms == n.last_modified_ms;
    return 1;
}

/* hop-by-hop and framing fields a 304 never overrides (§3.1, §3.2) */
static int not_updated_by_304(const h2o_header_t *h, const h2o_headers_t *resp304)
{
    const h2o_iovec_t *n = h->name;
    if (hdr_is(h, H2O_TOKEN_CONTENT_LENGTH) || hdr_is(h, H2O_TOKEN_CONTENT_RANGE) || hdr_is(h, H2O_TOKEN_CONNECTION) ||
        hdr_is(h, H2O_TOKEN_KEEP_ALIVE) || hdr_is(h, H2O_TOKEN_TE) || hdr_is(h, H2O_TOKEN_TRANSFER_ENCODING) ||
        hdr_is(h, H2O_TOKEN_UPGRADE) || hdr_is(h, H2O_TOKEN_PROXY_AUTHENTICATE) || LIT_IS(n->base, n->len, "proxy-connection") ||
        LIT_IS(n->base, n->len, "trailer"))
        return 1;
    /* fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1) */
    for (size_t i = 0; i != resp304->size; ++i) {
        const h2o_header_t *c = resp304->entries + i;
        if (!hdr_is(c, H2O_TOKEN_CONNECTION))
            continue;
        const char *p = c->value.base, *end = p + c->value.len;
        while (p < end) {
            const char *e = memchr(p, ',', end - p);
            if (e == NULL)
                e = end;
            h2o_iovec_t t = h2o_str_stripws(p, e - p);
            if (edge_caseeq(t.base, t.len, n->base, n->len))
                return 1;
            p = e + 1;
        }
    }
    return 0;
}

void cache_policy_merge_304(h2o_mem_pool_t *pool, const h2o_headers_t *stored_resh, const h2o_headers_t *resp304,
                            h2o_headers_t *out)
{
    memset(out, 0, sizeof(*out));
    h2o_vector_reserve(pool, out, stored_resh->size + resp304->size);
    for (size_t i = 0; i != stored_resh->size; ++i) {
        const h2o_header_t *h = stored_resh->entries + i;
        /* Date and Age describe the old response: keeping them would age the refreshed one from its first fetch */
        int replaced = hdr_is(h, H2O_TOKEN_DATE) || hdr_is(h, H2O_TOKEN_AGE);
        for (size_t j = 0; !replaced && j != resp304->size; ++j) {
            const h2o_header_t *u = resp304->entries + j;
            replaced = names_equal(h->name, u->name) && !not_updated_by_304(u, resp304);
        }
        if (!replaced)
            out->entries[out->size++] = *h;
    }
    for (size_t j = 0; j != resp304->size; ++j)
        if (!not_updated_by_304(resp304->entries + j, resp304))
            out->entries[out->size++] = resp304->entries[j];
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* client conditionals (RFC 9110 §13.2.2)                                                                               */

cache_cond_t cache_policy_conditional(h2o_iovec_t method, const h2o_headers_t *reqh, int status, const cache_validators_t *v)
{
    if (status < 200 || status > 299 || reqh == NULL)
        return CACHE_COND_PASS; /* §13.2.1: preconditions apply to what would be a 2xx */
    int get_or_head = method_is(method, "GET") || method_is(method, "HEAD");

    /* step 1 and 2: If-Match, else If-Unmodified-Since */
    if (find_first(reqh, H2O_TOKEN_IF_MATCH) != NULL) {
        if (!etag_field_matches(reqh, H2O_TOKEN_IF_MATCH, v->etag, 0))
            return CACHE_COND_PRECONDITION_FAILED;
    } else if (v->last_modified_ms != CACHE_ABSENT && count_lines(reqh, H2O_TOKEN_IF_UNMODIFIED_SINCE) == 1) {
        int64_t ius = header_date(reqh, H2O_TOKEN_IF_UNMODIFIED_SINCE);
        if (ius != CACHE_ABSENT && v->last_modified_ms > ius)
            return CACHE_COND_PRECONDITION_FAILED;
    }

    /* step 3 and 4: If-None-Match, else If-Modified-Since */
    if (find_first(reqh, H2O_TOKEN_IF_NONE_MATCH) != NULL) {
        if (etag_field_matches(reqh, H2O_TOKEN_IF_NONE_MATCH, v->etag, 1))
            return get_or_head ? CACHE_COND_NOT_MODIFIED : CACHE_COND_PRECONDITION_FAILED;
    } else if (get_or_head && count_lines(reqh, H2O_TOKEN_IF_MODIFIED_SINCE) == 1) {
        /* RFC 9111 §4.3.2: without Last-Modified, a cache evaluates the condition against the stored response's Date */
        int64_t modified = v->last_modified_ms != CACHE_ABSENT ? v->last_modified_ms : v->date_ms;
        int64_t ims = header_date(reqh, H2O_TOKEN_IF_MODIFIED_SINCE);
        if (modified != CACHE_ABSENT && ims != CACHE_ABSENT && modified <= ims)
            return CACHE_COND_NOT_MODIFIED;
    }
    return CACHE_COND_PASS;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* ranges (RFC 9110 §14)                                                                                                */

/* 1*DIGIT, saturating; returns 0 when there is no digit */
static int read_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    for (; *p < end && is_digit(**p); ++*p) {
        unsigned d = (unsigned)(**p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return *p != s;
}

cache_range_result_t cache_policy_parse_range(const char *s, size_t len, uint64_t length, uint64_t *start, uint64_t *end)
{
    h2o_iovec_t v = h2o_str_stripws(s, len);
    const char *eq = memchr(v.base, '=', v.len);
    if (eq == NULL)
        return CACHE_RANGE_FULL;
    h2o_iovec_t unit = h2o_str_stripws(v.base, eq - v.base);
    if (!LIT_IS(unit.base, unit.len, "bytes"))
        return CACHE_RANGE_FULL; /* §14.2: an unknown unit is ignored */

    /* range-set = 1#range-spec: empty list elements are allowed and ignored (RFC 9110 §5.6.1) */
    const char *p = eq + 1, *e = v.base + v.len, *spec = NULL, *spec_end = NULL;
    while (p < e) {
        const char *c = memchr(p, ',', e - p);
        if (c == NULL)
            c = e;
        h2o_iovec_t t = h2o_str_stripws(p, c - p);
        if (t.len != 0) {
            if (spec != NULL)
                return CACHE_RANGE_FULL; /* several ranges: we answer the whole, as CloudFront does */
            spec = t.base;
            spec_end = t.base + t.len;
        }
        p = c + 1;
    }
    if (spec == NULL)
        return CACHE_RANGE_FULL;

    uint64_t first, last;
    if (*spec == '-') {
        /* suffix-range */
        ++spec;
        if (!read_u64(&spec, spec_end, &last) || spec != spec_end)
            return CACHE_RANGE_FULL;
        if (last == 0)
            return CACHE_RANGE_UNSATISFIABLE; /* §14.1.1: a zero suffix-length is not satisfiable */
        if (length == 0)
            return CACHE_RANGE_FULL; /* the whole of nothing: 200 with an empty body */
        *start = length > last ? length - last : 0;
        *end = length - 1;
        return CACHE_RANGE_PARTIAL;
    }
    if (!read_u64(&spec, spec_end, &first) || spec == spec_end || *spec++ != '-')
        return CACHE_RANGE_FULL;
    int has_last = read_u64(&spec, spec_end, &last);
    if (spec != spec_end)
        return CACHE_RANGE_FULL;
    if (has_last && last < first)
        return CACHE_RANGE_FULL; /* §14.1.1: invalid, so the field is ignored */
    if (first >= length)
        return CACHE_RANGE_UNSATISFIABLE;
    *start = first;
    *end = !has_last || last >= length ? length - 1 : last;
    return CACHE_RANGE_PARTIAL;
}

cache_range_result_t cache_policy_range(h2o_iovec_t method, const h2o_headers_t *reqh, int status, uint64_t length,
                                        const cache_validators_t *v, uint64_t *start, uint64_t *end)
{
    if (reqh == NULL || status != 200 || !method_is(method, "GET") || count_lines(reqh, H2O_TOKEN_RANGE) != 1)
        return CACHE_RANGE_FULL;
    const h2o_header_t *ir = find_first(reqh, H2O_TOKEN_IF_RANGE);
    if (ir != NULL) {
        /* §13.1.5: an entity-tag starts with a DQUOTE (or W/), anything else is an HTTP-date */
        h2o_iovec_t t = h2o_str_stripws(ir->value.base, ir->value.len);
        if (t.len != 0 && (t.base[0] == '"' || (t.len >= 2 && t.base[0] == 'W' && t.base[1] == '/'))) {
            edge_etag_t want, have; /* strong comparison: a weak tag never matches */
            if (!edge_etag_parse(t.base, t.len, &want) || !edge_etag_parse(v->etag.base, v->etag.len, &have) ||
                !edge_etag_equal(&have, &want, 0))
                return CACHE_RANGE_FULL;
        } else {
            int64_t d = cache_policy_parse_date(t.base, t.len);
            if (d == CACHE_ABSENT || v->last_modified_ms == CACHE_ABSENT || d != v->last_modified_ms)
                return CACHE_RANGE_FULL;
        }
    }
    const h2o_header_t *r = find_first(reqh, H2O_TOKEN_RANGE);
    return cache_policy_parse_range(r->value.base, r->value.len, length, start, end);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* invalidation (RFC 9111 §4.4)                                                                                         */

int cache_policy_method_is_safe(h2o_iovec_t method)
{
    return method_is(method, "GET") || method_is(method, "HEAD") || method_is(method, "OPTIONS") || method_is(method, "TRACE");
}

static void add_unique(h2o_iovec_t *out, size_t *n, h2o_iovec_t v)
{
    for (size_t i = 0; i != *n; ++i)
        if (h2o_memis(out[i].base, out[i].len, v.base, v.len))
            return;
    out[(*n)++] = v;
}

/* the path+query of `ref` when it resolves to the same origin as `base`; len 0 otherwise */
static h2o_iovec_t same_origin_path(h2o_mem_pool_t *pool, const h2o_url_t *base, h2o_iovec_t ref)
{
    h2o_url_t rel, dest;
    ref = h2o_str_stripws(ref.base, ref.len);
    const char *hash = memchr(ref.base, '#', ref.len);
    if (hash != NULL)
        ref.len = hash - ref.base;
    if (ref.len == 0 || h2o_url_parse_relative(ref.base, ref.len, &rel) != 0)
        return h2o_iovec_init(NULL, 0);
    if (rel.scheme != NULL && rel.authority.base == NULL)
        return h2o_iovec_init(NULL, 0); /* "http:foo": not worth guessing */
    if (rel.authority.base == NULL && rel.path.len != 0 && rel.path.base[0] == '?') {
        /* "?q" keeps the base path (RFC 3986 §5.2.2); h2o_url_resolve() would drop its last segment */
        return h2o_concat(pool, base->path, rel.path);
    }
    if (rel.authority.base != NULL) {
        const h2o_url_scheme_t *scheme = rel.scheme != NULL ? rel.scheme : base->scheme;
        if (scheme != base->scheme || !edge_caseeq(rel.host.base, rel.host.len, base->host.base, base->host.len))
            return h2o_iovec_init(NULL, 0);
        uint16_t port = rel._port != 65535 ? rel._port : scheme->default_port;
        if (port != h2o_url_get_port(base))
            return h2o_iovec_init(NULL, 0);
        return rel.path;
    }
    h2o_url_resolve(pool, base, &rel, &dest);
    return dest.path;
}

size_t cache_policy_invalidations(h2o_mem_pool_t *pool, h2o_iovec_t method, int status, const h2o_url_scheme_t *scheme,
                                  h2o_iovec_t authority, h2o_iovec_t path, const h2o_headers_t *resh,
                                  h2o_iovec_t out[CACHE_INVALIDATE_MAX])
{
    size_t n = 0;
    if (cache_policy_method_is_safe(method) || status < 200 || status > 399)
        return 0;
    out[n++] = path;
    h2o_url_t base;
    /* h2o_url_resolve() needs an absolute path to resolve against; the query is not part of the base */
    const char *q = memchr(path.base, '?', path.len);
    h2o_iovec_t base_path = h2o_iovec_init(path.base, q != NULL ? (size_t)(q - path.base) : path.len);
    if (resh == NULL || base_path.len == 0 || base_path.base[0] != '/' || h2o_url_init(&base, scheme, authority, base_path) != 0)
        return n;
    const h2o_token_t *fields[] = {H2O_TOKEN_LOCATION, H2O_TOKEN_CONTENT_LOCATION};
    for (size_t f = 0; f != sizeof(fields) / sizeof(fields[0]); ++f) {
        const h2o_header_t *h = find_first(resh, fields[f]);
        if (h == NULL)
            continue;
        h2o_iovec_t p = same_origin_path(pool, &base, h->value);
        if (p.len != 0)
            add_unique(out, &n, p);
    }
    return n;
}
