/* store/xml.c - the XML writer of the S3 API, and the request-body parser over expat (see xml.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <expat.h>
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

/* ---- parser (expat) ---------------------------------------------------------------------------------------------------------- */

#define MAX_DEPTH 16
#define MAX_NODES 200000

/* the tree being built: stack[d] is the open element at depth d (stack[0] the root), cap[d] the capacity of its text */
typedef struct parser {
    XML_Parser xp;
    store_xml_node_t *root;
    store_xml_node_t *stack[MAX_DEPTH + 1];
    size_t cap[MAX_DEPTH + 1];
    int depth; /* open elements */
    size_t nodes;
    const char *error; /* set by a handler that stopped the parser */
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

static void stop(parser_t *ps, const char *why)
{
    if (ps->error == NULL)
        ps->error = why;
    XML_StopParser(ps->xp, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    parser_t *ps = ud;
    (void)attrs; /* attributes (xmlns, ...) carry nothing the S3 bodies need */
    if (ps->depth > MAX_DEPTH || ++ps->nodes > MAX_NODES) {
        stop(ps, "the document is nested too deeply or too large");
        return;
    }
    /* namespaces are not resolved: a prefix is dropped, as S3 does; `<p:>` and `<:a>` miss a part */
    const char *colon = strchr(name, ':');
    const char *local = colon != NULL ? colon + 1 : name;
    if (*local == '\0' || local == name + 1) {
        stop(ps, "an element has no name");
        return;
    }
    store_xml_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL || (n->name = strdup(local)) == NULL || (n->text = calloc(1, 1)) == NULL) {
        store_xml_node_free(n);
        stop(ps, "out of memory");
        return;
    }
    if (ps->depth == 0) {
        ps->root = n;
    } else {
        store_xml_node_t *parent = ps->stack[ps->depth - 1];
        if (parent->last_child != NULL)
            parent->last_child->next = n;
        else
            parent->child = n;
        parent->last_child = n;
    }
    ps->stack[ps->depth] = n;
    ps->cap[ps->depth] = 1;
    ++ps->depth;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    parser_t *ps = ud;
    (void)name; /* expat has matched it with its start tag */
    --ps->depth;
}

/* character data (entities and character references decoded, CDATA sections included) of the innermost open element */
static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    parser_t *ps = ud;
    if (ps->depth == 0 || len <= 0)
        return;
    store_xml_node_t *n = ps->stack[ps->depth - 1];
    size_t *cap = &ps->cap[ps->depth - 1];
    if (n->text_len + (size_t)len + 1 > *cap) {
        size_t want = *cap * 2 > n->text_len + (size_t)len + 1 ? *cap * 2 : n->text_len + (size_t)len + 1;
        char *t = realloc(n->text, want);
        if (t == NULL) {
            stop(ps, "out of memory");
            return;
        }
        n->text = t;
        *cap = want;
    }
    memcpy(n->text + n->text_len, s, (size_t)len);
    n->text_len += (size_t)len;
    n->text[n->text_len] = '\0';
}

/* a DOCTYPE (and so any entity declaration, which can only stand in one) is refused before its internal subset is read: no
 * entity expansion, internal or external */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int has_internal)
{
    stop(ud, "DTDs are not allowed");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int vlen,
                                   const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
    stop(ud, "DTDs are not allowed");
}

store_xml_node_t *store_xml_parse(const char *text, size_t len, const char **error)
{
    parser_t ps;
    memset(&ps, 0, sizeof(ps));
    if (len > STORE_XML_MAX_SIZE) {
        *error = "the document is too large";
        return NULL;
    }
    /* "UTF-8" overrides any encoding declaration: S3 bodies are UTF-8 */
    if ((ps.xp = XML_ParserCreate("UTF-8")) == NULL) {
        *error = "out of memory";
        return NULL;
    }
    XML_SetUserData(ps.xp, &ps);
    XML_SetElementHandler(ps.xp, on_start, on_end);
    XML_SetCharacterDataHandler(ps.xp, on_text);
    XML_SetStartDoctypeDeclHandler(ps.xp, on_doctype);
    XML_SetEntityDeclHandler(ps.xp, on_entity_decl);
    XML_SetParamEntityParsing(ps.xp, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(ps.xp, text, (int)len, XML_TRUE);
    if (st != XML_STATUS_OK || ps.error != NULL) {
        *error = ps.error != NULL ? ps.error : XML_ErrorString(XML_GetErrorCode(ps.xp));
        if (*error == NULL || **error == '\0')
            *error = "the document is not well-formed";
        store_xml_node_free(ps.root);
        ps.root = NULL;
    }
    XML_ParserFree(ps.xp);
    return ps.root;
}
