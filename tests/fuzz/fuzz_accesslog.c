/* tests/fuzz/fuzz_accesslog.c - libFuzzer target: the access-log formatter accesslog_format() (proxy/accesslog.c), both formats
 *
 * Input: 33 bytes of numbers (cap, time, status, bytes, duration, version, flags), then the nine string fields, each but the last
 * preceded by a 2-byte little-endian length (the last takes the rest). Every input is formatted in both formats, into a buffer of
 * exactly `cap` bytes (ACCESSLOG_LINE_MIN..+16383) and into one large enough that the line is never cut.
 *
 * Properties: at most cap bytes, printable ASCII ending in exactly one '\n'; the JSON line is one valid JSON object (a strict
 * validator below) with the documented members in order; every string field decodes back (\xHH, or JSON escapes with code
 * points <= U+00FF) to exactly the field's bytes (or its documented stand-in); a line is cut if and only if the uncut line is
 * longer than cap, and then it ends with the marker (" cut=1" / ,"cut":true}), each field is a prefix of the uncut field ending
 * on an escape boundary, fields not longer than an equal share stay whole, the numbers stay whole, and at most one escape's
 * width per field is left unused; the timestamp is gmtime_r's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "proxy/accesslog.h"
#include "tests/fuzz/fuzz_check.h"

/* the fields in the order of the input (and of accesslog_fields_t) */
enum { CLIENT, METHOD, URI, RID, CACHE, HOOKS, ORIGIN, REFERER, UA, NFIELDS };
/* the numbers as they appear on a line */
enum { TIME, PROTO, STATUS, BYTES, DUR, NNUMS };

/* a parsed line: the text of every field as written (escaped) */
typedef struct parsed {
    fuzz_part_t field[NFIELDS];
    fuzz_part_t num[NNUMS];
    int cut;
} parsed_t;

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i != n; ++i)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- combined ------------------------------------------------------------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor_t;

static void expect(cursor_t *c, const char *lit)
{
    size_t n = strlen(lit);
    FUZZ_CHECK((size_t)(c->end - c->p) >= n && memcmp(c->p, lit, n) == 0, "expected \"%s\" at \"%.40s\"", lit, c->p);
    c->p += n;
}

/* the text up to (not including) the first of `stops` */
static fuzz_part_t until(cursor_t *c, const char *stops)
{
    const char *q = c->p;
    while (q < c->end && strchr(stops, *q) == NULL)
        ++q;
    FUZZ_CHECK(q < c->end, "no '%s' after \"%.40s\"", stops, c->p);
    fuzz_part_t r = {c->p, (size_t)(q - c->p)};
    c->p = q;
    return r;
}

static void parse_combined(const char *line, size_t len, parsed_t *out)
{
    cursor_t c = {line, line + len};
    out->field[CLIENT] = until(&c, " ");
    expect(&c, " - - [");
    out->num[TIME] = until(&c, "]");
    expect(&c, "] \"");
    out->field[METHOD] = until(&c, " ");
    expect(&c, " ");
    out->field[URI] = until(&c, " ");
    expect(&c, " ");
    out->num[PROTO] = until(&c, "\"");
    expect(&c, "\" ");
    out->num[STATUS] = until(&c, " ");
    expect(&c, " ");
    out->num[BYTES] = until(&c, " ");
    expect(&c, " \"");
    out->field[REFERER] = until(&c, "\"");
    expect(&c, "\" \"");
    out->field[UA] = until(&c, "\"");
    expect(&c, "\" rid=");
    out->field[RID] = until(&c, " ");
    expect(&c, " dur=");
    out->num[DUR] = until(&c, " ");
    expect(&c, " cache=");
    out->field[CACHE] = until(&c, " ");
    expect(&c, " hooks=");
    out->field[HOOKS] = until(&c, " ");
    expect(&c, " origin=");
    out->field[ORIGIN] = until(&c, " \n");
    out->cut = 0;
    if (*c.p == ' ') {
        expect(&c, " cut=1");
        out->cut = 1;
    }
    expect(&c, "\n");
    FUZZ_CHECK(c.p == c.end, "bytes after the newline");
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* decodes an escaped field (combined \xHH; JSON \" \\ \/ \b \f \n \r \t \u00HH) into out; returns the length */
static size_t decode(fuzz_part_t f, int json, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i != f.len;) {
        char c = f.base[i];
        if (c != '\\') {
            out[n++] = (uint8_t)c;
            ++i;
            continue;
        }
        FUZZ_CHECK(i + 1 < f.len, "a lone backslash");
        char e = f.base[i + 1];
        if (!json) {
            FUZZ_CHECK(e == 'x' && i + 3 < f.len && hexval(f.base[i + 2]) >= 0 && hexval(f.base[i + 3]) >= 0, "bad escape %.4s",
                       f.base + i);
            out[n++] = (uint8_t)(hexval(f.base[i + 2]) * 16 + hexval(f.base[i + 3]));
            i += 4;
            continue;
        }
        static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
        const char *s = strchr(simple, e);
        if (s != NULL && e != '\0') {
            out[n++] = (uint8_t)value[s - simple];
            i += 2;
            continue;
        }
        FUZZ_CHECK(e == 'u' && i + 5 < f.len, "bad JSON escape");
        int cp = 0;
        for (int k = 2; k != 6; ++k) {
            int h = hexval(f.base[i + k]);
            FUZZ_CHECK(h >= 0, "bad \\u escape");
            cp = cp * 16 + h;
        }
        FUZZ_CHECK(cp <= 0xff, "a code point above U+00FF: %04x", cp);
        out[n++] = (uint8_t)cp;
        i += 6;
    }
    return n;
}

/* ---- JSON: a strict validator for one value, and the members of the top-level object -------------------------------------- */

typedef struct json {
    const char *p, *end;
    int depth;
} json_t;

static void ws(json_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        ++j->p;
}

/* a string; returns its inner text (escapes kept) */
static fuzz_part_t jstring(json_t *j)
{
    FUZZ_CHECK(j->p < j->end && *j->p == '"', "a string expected at \"%.20s\"", j->p);
    const char *b = ++j->p;
    for (;;) {
        FUZZ_CHECK(j->p < j->end, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        FUZZ_CHECK(c >= 0x20, "a control byte in a string");
        if (c == '"')
            break;
        if (c == '\\') {
            FUZZ_CHECK(j->end - j->p >= 2, "a lone backslash");
            char e = j->p[1];
            if (e == 'u') {
                FUZZ_CHECK(j->end - j->p >= 6, "short \\u");
                for (int k = 2; k != 6; ++k)
                    FUZZ_CHECK(strchr("0123456789abcdefABCDEF", j->p[k]) != NULL && j->p[k] != '\0', "bad \\u");
                j->p += 6;
            } else {
                FUZZ_CHECK(strchr("\"\\/bfnrt", e) != NULL && e != '\0', "bad escape \\%c", e);
                j->p += 2;
            }
            continue;
        }
        ++j->p;
    }
    fuzz_part_t r = {b, (size_t)(j->p - b)};
    ++j->p;
    return r;
}

static void jdigits(json_t *j)
{
    FUZZ_CHECK(j->p < j->end && *j->p >= '0' && *j->p <= '9', "a digit expected");
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        ++j->p;
}

static void jvalue(json_t *j);

static void jnumber(json_t *j)
{
    if (*j->p == '-')
        ++j->p;
    FUZZ_CHECK(j->p < j->end, "a number expected");
    if (*j->p == '0')
        ++j->p;
    else
        jdigits(j);
    if (j->p < j->end && *j->p == '.') {
        ++j->p;
        jdigits(j);
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        ++j->p;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            ++j->p;
        jdigits(j);
    }
}

static void jliteral(json_t *j, const char *lit)
{
    size_t n = strlen(lit);
    FUZZ_CHECK((size_t)(j->end - j->p) >= n && memcmp(j->p, lit, n) == 0, "bad literal");
    j->p += n;
}

static void jvalue(json_t *j)
{
    FUZZ_CHECK(++j->depth < 100, "too deep");
    ws(j);
    FUZZ_CHECK(j->p < j->end, "a value expected");
    switch (*j->p) {
    case '"':
        jstring(j);
        break;
    case '{':
    case '[': {
        char close = *j->p == '{' ? '}' : ']';
        ++j->p;
        ws(j);
        if (j->p < j->end && *j->p == close) {
            ++j->p;
            break;
        }
        for (;;) {
            if (close == '}') {
                ws(j);
                jstring(j);
                ws(j);
                FUZZ_CHECK(j->p < j->end && *j->p == ':', "':' expected");
                ++j->p;
            }
            jvalue(j);
            ws(j);
            FUZZ_CHECK(j->p < j->end, "unterminated");
            if (*j->p == ',') {
                ++j->p;
                continue;
            }
            FUZZ_CHECK(*j->p == close, "',' or '%c' expected", close);
            ++j->p;
            break;
        }
        break;
    }
    case 't':
        jliteral(j, "true");
        break;
    case 'f':
        jliteral(j, "false");
        break;
    case 'n':
        jliteral(j, "null");
        break;
    default:
        jnumber(j);
    }
    ws(j);
    --j->depth;
}

static void parse_json(const char *line, size_t len, parsed_t *out)
{
    static const char *const names[] = {"time",     "request_id", "client", "method", "uri",     "protocol",   "status", "bytes",
                                        "duration", "cache",      "hooks",  "origin", "referer", "user_agent", "cut"};
    /* where each member goes: a field, a number (+ NFIELDS), or the cut flag (-1) */
    static const int slot[] = {
        NFIELDS + TIME, RID,    CLIENT,  METHOD, URI, NFIELDS + PROTO, NFIELDS + STATUS, NFIELDS + BYTES, NFIELDS + DUR, CACHE,
        HOOKS,          ORIGIN, REFERER, UA,     -1};
    FUZZ_CHECK(len >= 2 && line[len - 1] == '\n', "no newline");
    json_t whole = {line, line + len - 1, 0};
    jvalue(&whole); /* the whole line is one JSON value... */
    FUZZ_CHECK(whole.p == whole.end, "bytes after the JSON value");

    json_t j = {line, line + len - 1, 0}; /* ...an object with the members in order */
    FUZZ_CHECK(*j.p == '{', "not an object");
    ++j.p;
    out->cut = 0;
    for (size_t m = 0; m != sizeof(names) / sizeof(names[0]); ++m) {
        if (m != 0) {
            if (*j.p == '}')
                break;
            FUZZ_CHECK(*j.p == ',', "',' expected");
            ++j.p;
        }
        fuzz_part_t key = jstring(&j);
        FUZZ_CHECK(key.len == strlen(names[m]) && memcmp(key.base, names[m], key.len) == 0, "member %zu is %.*s, not %s", m,
                   (int)key.len, key.base, names[m]);
        FUZZ_CHECK(*j.p == ':', "':' expected");
        ++j.p;
        const char *v = j.p;
        if (slot[m] < 0) {
            jliteral(&j, "true");
            out->cut = 1;
        } else if (*v == '"') {
            fuzz_part_t s = jstring(&j);
            if (slot[m] >= NFIELDS)
                out->num[slot[m] - NFIELDS] = s;
            else
                out->field[slot[m]] = s;
        } else {
            FUZZ_CHECK(slot[m] == NFIELDS + STATUS || slot[m] == NFIELDS + BYTES || slot[m] == NFIELDS + DUR, "%s not a string",
                       names[m]);
            jnumber(&j);
            out->num[slot[m] - NFIELDS] = (fuzz_part_t){v, (size_t)(j.p - v)};
        }
    }
    FUZZ_CHECK(*j.p == '}' && j.p + 1 == j.end, "the object does not end the line");
}

/* ---- the target ------------------------------------------------------------------------------------------------------------- */

static int part_eq(fuzz_part_t a, fuzz_part_t b)
{
    return a.len == b.len && memcmp(a.base, b.base, a.len) == 0;
}

static void check(const accesslog_fields_t *f, int json, size_t cap, const h2o_iovec_t *expected, size_t huge)
{
    /* the uncut line */
    char *ref = malloc(huge);
    size_t rlen = accesslog_format(f, json, ref, huge);
    parsed_t r;
    FUZZ_CHECK(rlen >= 2 && rlen <= huge, "uncut length %zu", rlen);
    for (size_t i = 0; i + 1 < rlen; ++i)
        FUZZ_CHECK(ref[i] >= 0x20 && ref[i] < 0x7f, "byte %02x at %zu", (unsigned char)ref[i], i);
    if (json)
        parse_json(ref, rlen, &r);
    else
        parse_combined(ref, rlen, &r);
    FUZZ_CHECK(!r.cut, "a line of %zu bytes cut with cap %zu", rlen, huge);
    uint8_t *dec = malloc(huge);
    for (int i = 0; i != NFIELDS; ++i) {
        size_t n = decode(r.field[i], json, dec);
        FUZZ_CHECK(n == expected[i].len && (n == 0 || memcmp(dec, expected[i].base, n) == 0),
                   "field %d does not read back (%zu/%zu)", i, n, expected[i].len);
    }
    free(dec);

    /* the timestamp is gmtime_r's */
    int64_t ms = f->time_ms < 0 ? 0 : f->time_ms > INT64_C(253402300799999) ? INT64_C(253402300799999) : f->time_ms;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char want[64];
    gmtime_r(&t, &tm);
    size_t wn = strftime(want, sizeof(want), json ? "%Y-%m-%dT%H:%M:%S" : "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (json)
        wn += (size_t)snprintf(want + wn, sizeof(want) - wn, ".%03dZ", (int)(ms % 1000));
    FUZZ_CHECK(r.num[TIME].len == wn && memcmp(r.num[TIME].base, want, wn) == 0, "time %.*s, gmtime_r %s", (int)r.num[TIME].len,
               r.num[TIME].base, want);

    /* the line with cap: exactly cap bytes of memory, so that ASan sees a byte too many */
    char *out = malloc(cap);
    size_t n = accesslog_format(f, json, out, cap);
    parsed_t o;
    FUZZ_CHECK(n >= 2 && n <= cap, "length %zu, cap %zu", n, cap);
    FUZZ_CHECK(out[n - 1] == '\n', "no newline");
    if (json)
        parse_json(out, n, &o);
    else
        parse_combined(out, n, &o);
    if (rlen <= cap) {
        FUZZ_CHECK(n == rlen && memcmp(out, ref, n) == 0, "a line that fits (%zu <= %zu) is not the uncut line", rlen, cap);
        FUZZ_CHECK(!o.cut, "marked cut");
    } else {
        FUZZ_CHECK(o.cut, "a line of %zu bytes in %zu without the cut marker", rlen, cap);
        size_t tail_growth = json ? strlen(",\"cut\":true") : strlen(" cut=1"), sum = 0;
        for (int i = 0; i != NFIELDS; ++i)
            sum += r.field[i].len;
        size_t avail = cap - (rlen - sum) - tail_growth;
        for (int i = 0; i != NNUMS; ++i)
            FUZZ_CHECK(part_eq(o.num[i], r.num[i]), "number %d changed by the cut", i);
        uint8_t *dec = malloc(cap);
        for (int i = 0; i != NFIELDS; ++i) {
            fuzz_part_t a = o.field[i], b = r.field[i];
            FUZZ_CHECK(a.len <= b.len && memcmp(a.base, b.base, a.len) == 0, "field %d is not a prefix of the uncut one", i);
            /* cut between escapes, never inside one: the cut field decodes to a prefix of the field's bytes */
            size_t dn = decode(a, json, dec);
            FUZZ_CHECK(dn <= expected[i].len && (dn == 0 || memcmp(dec, expected[i].base, dn) == 0), "field %d cut is no prefix",
                       i);
            if (b.len <= avail / NFIELDS)
                FUZZ_CHECK(a.len == b.len, "field %d (%zu bytes, share %zu) cut", i, b.len, avail / NFIELDS);
        }
        free(dec);
        FUZZ_CHECK(n + 5 * NFIELDS >= cap, "a cut line of %zu bytes leaves too much of %zu unused", n, cap);
    }
    free(out);
    free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { HEAD = 33 };
    uint8_t head[HEAD] = {0};
    memcpy(head, data, size < HEAD ? size : HEAD);
    const uint8_t *p = data + (size < HEAD ? size : HEAD), *end = data + size;

    accesslog_fields_t f;
    memset(&f, 0, sizeof(f));
    size_t cap = ACCESSLOG_LINE_MIN + le(head, 2) % 16384;
    f.time_ms = (int64_t)le(head + 2, 8);
    f.status = (int)(int32_t)le(head + 10, 4);
    f.bytes = le(head + 14, 8);
    f.duration_us = le(head + 22, 8);
    f.version = (int)le(head + 30, 2);
    uint8_t flags = head[32];

    /* the fields, each copied to memory of its exact size */
    h2o_iovec_t in[NFIELDS];
    uint8_t *copies[NFIELDS];
    for (int i = 0; i != NFIELDS; ++i) {
        size_t len = (size_t)(end - p);
        if (i + 1 != NFIELDS) {
            size_t want = end - p >= 2 ? (size_t)le(p, 2) : 0;
            p += end - p >= 2 ? 2 : end - p;
            len = want < (size_t)(end - p) ? want : (size_t)(end - p);
        }
        copies[i] = malloc(len + 1);
        memcpy(copies[i], p, len);
        p += len;
        in[i] = h2o_iovec_init(len != 0 ? (char *)copies[i] : NULL, len);
    }
    f.client = in[CLIENT];
    f.method = in[METHOD];
    f.uri = in[URI];
    f.request_id = in[RID];
    f.cache = in[CACHE];
    f.hooks = in[HOOKS];
    f.origin = in[ORIGIN];
    /* referer and user agent: absent (base NULL), present and empty, or the bytes */
    f.referer = (flags & 1) ? h2o_iovec_init(NULL, 0) : h2o_iovec_init(in[REFERER].len ? in[REFERER].base : "", in[REFERER].len);
    f.user_agent = (flags & 2) ? h2o_iovec_init(NULL, 0) : h2o_iovec_init(in[UA].len ? in[UA].base : "", in[UA].len);

    /* room for any uncut line: 6 bytes per input byte at most, plus the fixed parts */
    size_t huge = 6 * size + 1024;
    for (int json = 0; json != 2; ++json) {
        h2o_iovec_t dash = h2o_iovec_init(H2O_STRLIT("-")), none = h2o_iovec_init("", 0), expected[NFIELDS];
        expected[CLIENT] = f.client.len ? f.client : dash;
        expected[METHOD] = f.method;
        expected[URI] = f.uri;
        expected[RID] = f.request_id;
        expected[CACHE] = f.cache.len ? f.cache : dash;
        expected[HOOKS] = f.hooks.len || json ? f.hooks : dash;
        expected[ORIGIN] = f.origin.len || json ? f.origin : dash;
        expected[REFERER] = f.referer.base != NULL ? f.referer : json ? none : dash;
        expected[UA] = f.user_agent.base != NULL ? f.user_agent : json ? none : dash;
        check(&f, json, cap, expected, huge);
    }
    /* below the minimum nothing is written */
    char small[ACCESSLOG_LINE_MIN - 1];
    FUZZ_CHECK(accesslog_format(&f, flags & 4, small, sizeof(small)) == 0, "wrote below ACCESSLOG_LINE_MIN");
    for (int i = 0; i != NFIELDS; ++i)
        free(copies[i]);
    return 0;
}
