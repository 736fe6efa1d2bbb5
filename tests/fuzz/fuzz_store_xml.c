/* tests/fuzz/fuzz_store_xml.c - libFuzzer target: the store's strict XML request-body parser (store/xml.c) and its response writer
 *
 * Properties: parsing any bytes never crashes, leaks or overreads, a document that opens with a DOCTYPE is never accepted, and an
 * accepted document is a sane tree (names without markup characters, text lengths that match); text written by the writer (any
 * bytes: what S3 echoes back of keys and prefixes) is always well-formed for the parser, and plain text (no control characters,
 * valid UTF-8) reads back byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "store/xml.h"
#include "tests/fuzz/fuzz_check.h"

static size_t walk(const store_xml_node_t *n, int depth)
{
    size_t count = 0;
    for (; n != NULL; n = n->next) {
        FUZZ_CHECK(depth < 1000, "depth");
        FUZZ_CHECK(n->name != NULL && n->name[0] != '\0', "an element without a name");
        FUZZ_CHECK(strpbrk(n->name, "<>/= \t\r\n\"'") == NULL, "a name with markup: %s", n->name);
        FUZZ_CHECK(n->text != NULL && n->text[n->text_len] == '\0', "text not terminated");
        count += 1 + walk(n->child, depth + 1);
    }
    return count;
}

/* 1 if s is valid UTF-8 without the control characters XML 1.0 cannot hold (tab, LF and CR are fine) */
static int plain_text(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                return 0;
            ++i;
            continue;
        }
        size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || i + n > len)
            return 0;
        uint32_t cp = c & (0x7F >> n);
        for (size_t k = 1; k != n; ++k) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
            return 0;
        i += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *error = NULL;
    store_xml_node_t *root = store_xml_parse((const char *)data, size, &error);
    /* no document with a DTD is ever read (expat would expand its entities) */
    FUZZ_CHECK(root == NULL || size < 9 || memcmp(data, "<!DOCTYPE", 9) != 0, "a document with a DOCTYPE was accepted");
    if (root != NULL) {
        FUZZ_CHECK(walk(root, 0) >= 1, "empty tree");
        (void)store_xml_child(root, "Part");
        store_xml_node_free(root);
    } else {
        FUZZ_CHECK(error != NULL && error[0] != '\0', "refused without a reason");
    }

    /* the writer: the input as the text of an element (an echoed key) */
    store_xml_t x;
    memset(&x, 0, sizeof(x));
    store_xml_begin(&x, "ListBucketResult", STORE_XML_NS);
    store_xml_elem(&x, "Key", (const char *)data, size);
    store_xml_elem_u64(&x, "Size", size);
    store_xml_close(&x, "ListBucketResult");
    FUZZ_CHECK(!x.failed, "writer failed");
    root = store_xml_parse(x.buf.base, x.buf.len, &error);
    FUZZ_CHECK(root != NULL, "the parser refuses the writer's output (%s):\n%s", error, x.buf.base);
    const store_xml_node_t *key = store_xml_child(root, "Key");
    FUZZ_CHECK(key != NULL && store_xml_child(root, "Size") != NULL, "elements lost");
    if (plain_text(data, size))
        FUZZ_CHECK(key->text_len == size && memcmp(key->text, data, size) == 0, "text of %zu bytes read back as %zu", size,
                   key->text_len);
    store_xml_node_free(root);
    store_xml_free(&x);
    return 0;
}
