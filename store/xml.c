/* store/xml.c - XML writer and strict minimal parser for the S3 API (see xml.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store/xml.h"

/* ---- writer ------------------------------------------------------------------------------------------------------------------ */

static void put(store_xml_t *x, const char *s, size_t len)
{
    if (!x->failed && sigv4_buf_append(&x->buf, s, len) != 0)
        x->failed = 1;
}

static void puts_(store_xml_t *x, const char *s)
{
    put(x, s, strlen(s));
}

void store_xml_begin(store_xml_t *x, const char *root, const char *ns)
{
    memset(x, 0, sizeof(*x));
    puts_(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    puts_(x, root);
    if (ns != NULL) {
        puts_(x, " xmlns=\"");
        puts_(x, ns);
        puts_(x, "\"");
    }
    puts_(x, ">");
}

void store_xml_open(store_xml_t *x, const char *tag)
{
    puts_(x, "<");
    puts_(x, tag);
    puts_(x, ">");
}

void store_xml_close(store_xml_t *x, const char *tag)
{
    puts_(x, "</");
    puts_(x, tag);
    puts_(x, ">");
}

/* the length of a valid UTF-8 sequence at s (1-4), or 0 */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i != n; ++i) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return n;
}

/*
 * Escapes markup characters. What XML 1.0 cannot carry at all (control characters other than tab, LF and CR, and bytes that are
 * not UTF-8) becomes U+FFFD, so every document stays well-formed for strict parsers (botocore's); keys the store accepts never
 * contain such bytes, only the echo of a refused request can.
 */
void store_xml_text(store_xml_t *x, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0, i = 0;
    while (i < len) {
        unsigned char c = u[i];
        const char *rep = NULL;
        size_t n = 1;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r':
            rep = "&#xD;";
            break;
        case '\t':
        case '\n':
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                rep = "\xEF\xBF\xBD";
            } else if (c >= 0x80 && (n = utf8_len(u + i, len - i)) == 0) {
                rep = "\xEF\xBF\xBD";
                n = 1;
            }
            break;
        }
        if (rep != NULL) {
            put(x, s + start, i - start);
            puts_(x, rep);
            start = i + n;
        }
        i += n;
    }
    put(x, s + start, len - start);
}

void store_xml_elem(store_xml_t *x, const char *tag, const char *text, size_t len)
{
    store_xml_open(x, tag);
    store_xml_text(x, text, len);
    store_xml_close(x, tag);
}

void store_xml_elem_str(store_xml_t *x, const char *tag, const char *text)
{
    store_xml_elem(x, tag, text, strlen(text));
}

void store_xml_elem_u64(store_xml_t *x, const char *tag, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    store_xml_elem_str(x, tag, s);
}

void store_xml_iso8601(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy(out, buf, 25);
    out[24] = '\0';
}

void store_xml_elem_time(store_xml_t *x, const char *tag, int64_t ms)
{
    char s[32];
    store_xml_iso8601(ms, s);
    store_xml_elem_str(x, tag, s);
}

void store_xml_raw(store_xml_t *x, const char *s)
{
    puts_(x, s);
}

void store_xml_free(store_xml_t *x)
{
    sigv4_buf_free(&x->buf);
}

/* ---- parser ------------------------------------------------------------------------------------------------------------------ */

#define MAX_DEPTH 16
#define MAX_NODES 200000

typedef struct parser {
    const char *p, *end;
    const char *error;
    size_t nodes;
} parser_t;

void store_xml_node_free(store_xml_node_t *n)
{
    while (n != NULL) {
        store_xml_node_t *next = n->next;
        store_xml_node_free(n->child);
        free(n->name);
        free(n->text);
        free(n);
        n = next;
    }
}

const store_xml_node_t *store_xml_child(const store_xml_node_t *n, const char *name)
{
    for (const store_xml_node_t *c = n != NULL ? n->child : NULL; c != NULL; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_name_char(char c)
{
    return !(is_space(c) || c == '>' || c == '/' || c == '=' || c == '<' || c == '"' || c == '\'' || c == '\0');
}

static int append_text(store_xml_node_t *n, const char *s, size_t len)
{
    char *t = realloc(n->text, n->text_len + len + 1);
    if (t == NULL)
        return -1;
    memcpy(t + n->text_len, s, len);
    n->text = t;
    n->text_len += len;
    t[n->text_len] = '\0';
    return 0;
}

/* appends the UTF-8 encoding of a character reference */
static int append_codepoint(store_xml_node_t *n, unsigned long cp)
{
    char u[4];
    size_t len;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    if (cp < 0x80) {
        u[0] = (char)cp;
        len = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        len = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        len = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        len = 4;
    }
    return append_text(n, u, len);
}

/* character data up to the next '<', entities decoded */
static int parse_text(parser_t *ps, store_xml_node_t *n)
{
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p != '<') {
        if (*ps->p == '&') {
            if (append_text(n, start, (size_t)(ps->p - start)) != 0)
                return -1;
            const char *semi = memchr(ps->p, ';', (size_t)(ps->end - ps->p));
            if (semi == NULL || semi - ps->p > 12) {
                ps->error = "an entity reference is not terminated";
                return -1;
            }
            size_t elen = (size_t)(semi - ps->p - 1);
            const char *e = ps->p + 1;
            int r;
            if (elen == 3 && memcmp(e, "amp", 3) == 0)
                r = append_text(n, "&", 1);
            else if (elen == 2 && memcmp(e, "lt", 2) == 0)
                r = append_text(n, "<", 1);
            else if (elen == 2 && memcmp(e, "gt", 2) == 0)
                r = append_text(n, ">", 1);
            else if (elen == 4 && memcmp(e, "quot", 4) == 0)
                r = append_text(n, "\"", 1);
            else if (elen == 4 && memcmp(e, "apos", 4) == 0)
                r = append_text(n, "'", 1);
            else if (elen >= 2 && e[0] == '#') {
                char num[16], *endp;
                memcpy(num, e + 1, elen - 1);
                num[elen - 1] = '\0';
                unsigned long cp = num[0] == 'x' ? strtoul(num + 1, &endp, 16) : strtoul(num, &endp, 10);
                r = (*endp != '\0' || endp == num || (num[0] == 'x' && endp == num + 1)) ? -1 : append_codepoint(n, cp);
            } else {
                r = -1;
            }
            if (r != 0) {
                ps->error = "an unknown or invalid entity reference";
                return -1;
            }
            ps->p = semi + 1;
            start = ps->p;
        } else {
            ++ps->p;
        }
    }
    return append_text(n, start, (size_t)(ps->p - start));
}

static int skip_until(parser_t *ps, const char *term)
{
    size_t tl = strlen(term);
    while (ps->p + tl <= ps->end) {
        if (memcmp(ps->p, term, tl) == 0) {
            ps->p += tl;
            return 0;
        }
        ++ps->p;
    }
    ps->error = "an unterminated comment, CDATA section or processing instruction";
    return -1;
}

static int starts(parser_t *ps, const char *s)
{
    size_t l = strlen(s);
    return (size_t)(ps->end - ps->p) >= l && memcmp(ps->p, s, l) == 0;
}

/* misc between elements: whitespace, comments, processing instructions; a DTD is refused */
static int skip_misc(parser_t *ps)
{
    for (;;) {
        while (ps->p < ps->end && is_space(*ps->p))
            ++ps->p;
        if (starts(ps, "<?")) {
            if (skip_until(ps, "?>") != 0)
                return -1;
        } else if (starts(ps, "<!--")) {
            if (skip_until(ps, "-->") != 0)
                return -1;
        } else if (starts(ps, "<!")) {
            ps->error = "DTDs are not allowed";
            return -1;
        } else {
            return 0;
        }
    }
}

static store_xml_node_t *parse_element(parser_t *ps, int depth)
{
    if (depth > MAX_DEPTH || ++ps->nodes > MAX_NODES) {
        ps->error = "the document is nested too deeply or too large";
        return NULL;
    }
    if (ps->p >= ps->end || *ps->p != '<') {
        ps->error = "an element was expected";
        return NULL;
    }
    ++ps->p;
    const char *name = ps->p;
    while (ps->p < ps->end && is_name_char(*ps->p))
        ++ps->p;
    size_t nlen = (size_t)(ps->p - name);
    if (nlen == 0) {
        ps->error = "an element has no name";
        return NULL;
    }
    const char *colon = memchr(name, ':', nlen);
    const char *local = colon != NULL ? colon + 1 : name;
    size_t llen = nlen - (size_t)(local - name);
    if (llen == 0 || local == name + 1) { /* `<p:>` or `<:a>`: a prefix or a local name is missing */
        ps->error = "an element has no name";
        return NULL;
    }
    store_xml_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    if ((n->name = malloc(llen + 1)) == NULL || (n->text = calloc(1, 1)) == NULL)
        goto fail;
    memcpy(n->name, local, llen);
    n->name[llen] = '\0';
    /* attributes are skipped (quoted values may contain '>') */
    while (ps->p < ps->end && *ps->p != '>' && !(*ps->p == '/' && ps->p + 1 < ps->end && ps->p[1] == '>')) {
        if (*ps->p == '"' || *ps->p == '\'') {
            const char *q = memchr(ps->p + 1, *ps->p, (size_t)(ps->end - ps->p - 1));
            if (q == NULL) {
                ps->error = "an attribute value is not terminated";
                goto fail;
            }
            ps->p = q + 1;
        } else if (*ps->p == '<') {
            ps->error = "a '<' inside a tag";
            goto fail;
        } else {
            ++ps->p;
        }
    }
    if (ps->p >= ps->end) {
        ps->error = "a tag is not terminated";
        goto fail;
    }
    if (*ps->p == '/') {
        ps->p += 2;
        return n;
    }
    ++ps->p;
    for (;;) {
        if (parse_text(ps, n) != 0) {
            if (ps->error == NULL)
                ps->error = "out of memory";
            goto fail;
        }
        if (ps->p >= ps->end) {
            ps->error = "an element is not closed";
            goto fail;
        }
        if (starts(ps, "</")) {
            ps->p += 2;
            const char *e = ps->p;
            while (ps->p < ps->end && is_name_char(*ps->p))
                ++ps->p;
            if ((size_t)(ps->p - e) != nlen || memcmp(e, name, nlen) != 0) {
                ps->error = "a closing tag does not match its opening tag";
                goto fail;
            }
            while (ps->p < ps->end && is_space(*ps->p))
                ++ps->p;
            if (ps->p >= ps->end || *ps->p != '>') {
                ps->error = "a closing tag is malformed";
                goto fail;
            }
            ++ps->p;
            return n;
        }
        if (starts(ps, "<!--")) {
            if (skip_until(ps, "-->") != 0)
                goto fail;
            continue;
        }
        if (starts(ps, "<![CDATA[")) {
            ps->p += 9;
            const char *s = ps->p;
            if (skip_until(ps, "]]>") != 0 || append_text(n, s, (size_t)(ps->p - 3 - s)) != 0)
                goto fail;
            continue;
        }
        if (starts(ps, "<?")) {
            if (skip_until(ps, "?>") != 0)
                goto fail;
            continue;
        }
        store_xml_node_t *c = parse_element(ps, depth + 1);
        if (c == NULL)
            goto fail;
        if (n->last_child != NULL)
            n->last_child->next = c;
        else
            n->child = c;
        n->last_child = c;
    }
fail:
    store_xml_node_free(n);
    return NULL;
}

store_xml_node_t *store_xml_parse(const char *text, size_t len, const char **error)
{
    parser_t ps = {text, text + len, NULL, 0};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        ps.p += 3;
    if (skip_misc(&ps) != 0) {
        *error = ps.error;
        return NULL;
    }
    store_xml_node_t *root = parse_element(&ps, 0);
    if (root == NULL) {
        *error = ps.error != NULL ? ps.error : "out of memory";
        return NULL;
    }
    if (skip_misc(&ps) != 0 || ps.p != ps.end) {
        *error = ps.error != NULL ? ps.error : "content after the root element";
        store_xml_node_free(root);
        return NULL;
    }
    return root;
}
