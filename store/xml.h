/* store/xml.h - the XML of the S3 API: a small writer for responses and a strict parser (expat) for request bodies */
#ifndef EDGE_STORE_XML_H
#define EDGE_STORE_XML_H

#include <stddef.h>
#include <stdint.h>
#include "sigv4/sigv4.h"

/** a response being written: malloc-backed; failed is set by the first allocation failure and every later call is a no-op */
typedef struct store_xml {
    sigv4_buf_t buf;
    int failed;
} store_xml_t;

#define STORE_XML_NS "http://s3.amazonaws.com/doc/2006-03-01/"

/** starts a document: the XML declaration and `<root xmlns="...">` (ns NULL: no namespace) */
void store_xml_begin(store_xml_t *x, const char *root, const char *ns);
/** `<tag>` */
void store_xml_open(store_xml_t *x, const char *tag);
/** `</tag>` */
void store_xml_close(store_xml_t *x, const char *tag);
/** `<tag>text</tag>` with text escaped (control characters other than tab/LF/CR become &#xN; references) */
void store_xml_elem(store_xml_t *x, const char *tag, const char *text, size_t len);
/** `<tag>text</tag>` for a NUL-terminated text */
void store_xml_elem_str(store_xml_t *x, const char *tag, const char *text);
/** `<tag>decimal</tag>` */
void store_xml_elem_u64(store_xml_t *x, const char *tag, uint64_t v);
/** `<tag>2026-11-26T14:20:52.000Z</tag>` */
void store_xml_elem_time(store_xml_t *x, const char *tag, int64_t ms);
/** appends text escaped */
void store_xml_text(store_xml_t *x, const char *text, size_t len);
/** appends raw markup */
void store_xml_raw(store_xml_t *x, const char *s);
/** frees the document buffer */
void store_xml_free(store_xml_t *x);

/** formats ms since the epoch as ISO 8601 with milliseconds, UTC (25 bytes incl. NUL) */
void store_xml_iso8601(int64_t ms, char out[32]);

/** a parsed element: local name (namespace prefix removed), its character data (entities decoded), children */
typedef struct store_xml_node {
    char *name;
    char *text;
    size_t text_len;
    struct store_xml_node *child, *last_child, *next;
} store_xml_node_t;

/** the largest document store_xml_parse reads (the S3 bodies it serves are at most 4 MB) */
#define STORE_XML_MAX_SIZE (8u << 20)

/**
 * Parses a document into a tree (malloc'd; free with store_xml_node_free), with expat. Strict: well-formed XML 1.0 in UTF-8, no
 * DOCTYPE (so no entity declarations or expansion), at most 16 levels of nesting, 200,000 elements and STORE_XML_MAX_SIZE bytes;
 * namespace prefixes are dropped from names (not resolved). On failure returns NULL and *error (a static string) says why.
 */
store_xml_node_t *store_xml_parse(const char *text, size_t len, const char **error);
/** frees a parsed tree (and its siblings; NULL is ignored) */
void store_xml_node_free(store_xml_node_t *n);
/** the first child element named name, or NULL */
const store_xml_node_t *store_xml_child(const store_xml_node_t *n, const char *name);

#endif
