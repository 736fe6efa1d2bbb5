/* tests/unit/store/test_xml.c - the store's XML: request bodies parsed strictly, responses always well-formed */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "store/xml.h"

static void test_parse_s3_bodies(void **state)
{
    const char *doc =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n"
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "  <Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag></Part>\n"
        "  <Part><PartNumber>2</PartNumber><ETag><![CDATA[\"d<e>f\"]]></ETag><ChecksumCRC32>x</ChecksumCRC32></Part>\n"
        "  <s3:Part xmlns:s3=\"x\"><s3:PartNumber>3</s3:PartNumber><ETag attr='a>b'>g</ETag></s3:Part>\n"
        "</CompleteMultipartUpload>\n";
    const char *err = NULL;
    store_xml_node_t *root = store_xml_parse(doc, strlen(doc), &err);
    assert_non_null(root);
    assert_string_equal(root->name, "CompleteMultipartUpload");
    const store_xml_node_t *p = root->child;
    assert_string_equal(store_xml_child(p, "ETag")->text, "\"abc\"");
    p = p->next;
    assert_string_equal(store_xml_child(p, "ETag")->text, "\"d<e>f\"");
    p = p->next;
    assert_string_equal(p->name, "Part");
    assert_string_equal(store_xml_child(p, "PartNumber")->text, "3");
    assert_string_equal(store_xml_child(p, "ETag")->text, "g");
    assert_null(p->next);
    store_xml_node_free(root);

    /* keys with entities and character references (UTF-8 encoded), and a self-closing element */
    doc = "<Delete><Quiet/><Object><Key>a&amp;b&lt;&#233;&#x1F600;</Key></Object></Delete>";
    root = store_xml_parse(doc, strlen(doc), &err);
    assert_non_null(root);
    assert_non_null(store_xml_child(root, "Quiet"));
    const store_xml_node_t *k = store_xml_child(store_xml_child(root, "Object"), "Key");
    assert_string_equal(k->text, "a&b<\xC3\xA9\xF0\x9F\x98\x80");
    assert_int_equal(k->text_len, 10);
    store_xml_node_free(root);
}

static void test_parse_refuses(void **state)
{
    const char *bad[] = {
        "",
        "   ",
        "<a>",
        "<a></b>",
        "<a><b></a></b>",
        "<a>&unknown;</a>",
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a>&amp</a>",
        "<a></a><b></b>",
        "<a></a>trailing",
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        "<a><!-- unterminated </a>",
        "<a attr=\"unterminated></a>",
        "<>",
        "<a><<b></b></a>",
        "<p:/>",              /* no local name (found by fuzz_store_xml) */
        "<\xff:\r\t/>",       /* the same, as the fuzzer wrote it */
        "<:a></:a>",          /* no prefix */
        "<a><s3:></s3:></a>", /* a child without a local name */
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        const char *err = NULL;
        store_xml_node_t *n = store_xml_parse(bad[i], strlen(bad[i]), &err);
        if (n != NULL)
            fail_msg("accepted bad document #%zu: %s", i, bad[i]);
        assert_non_null(err);
    }
    /* nesting deeper than the limit */
    char deep[2000] = "";
    for (int i = 0; i != 40; ++i)
        strcat(deep, "<a>");
    for (int i = 0; i != 40; ++i)
        strcat(deep, "</a>");
    const char *err;
    assert_null(store_xml_parse(deep, strlen(deep), &err));
    /* garbage of every byte value never crashes */
    char junk[256];
    for (int seed = 0; seed != 2000; ++seed) {
        srand((unsigned)seed);
        size_t len = (size_t)(rand() % 64);
        for (size_t i = 0; i != len; ++i)
            junk[i] = "<>/&;#x!-[]CDATA?\"' ab"[rand() % 23];
        store_xml_node_t *n = store_xml_parse(junk, len, &err);
        store_xml_node_free(n);
    }
}

/* what the hand parser needed a fuzz fix for, and what expat must be kept from doing: no DTD of any kind is read */
static void test_parse_refuses_dtds(void **state)
{
    const char *dtds[] = {
        "<!DOCTYPE a><a/>",
        "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a>&x;</a>",
        "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>",
        "<!DOCTYPE a [<!ENTITY % p SYSTEM \"http://127.0.0.1/x.dtd\"> %p;]><a/>",
        "<?xml version=\"1.0\"?>\n<!-- c --><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>"
        "<lolz>&lol2;</lolz>",
    };
    for (size_t i = 0; i != sizeof(dtds) / sizeof(dtds[0]); ++i) {
        const char *err = NULL;
        store_xml_node_t *n = store_xml_parse(dtds[i], strlen(dtds[i]), &err);
        if (n != NULL)
            fail_msg("accepted a DTD #%zu: %s", i, dtds[i]);
        assert_string_equal(err, "DTDs are not allowed");
    }
    /* an undeclared entity is refused by expat with its own reason */
    const char *err = NULL;
    assert_null(store_xml_parse("<a>&x;</a>", 10, &err));
    assert_non_null(err);
    assert_string_not_equal(err, "DTDs are not allowed");
}

/* the limits: 17 levels (the root and 16 below it) are read, 18 are not; a document over STORE_XML_MAX_SIZE is not read */
static void test_parse_limits(void **state)
{
    char doc[400] = "";
    for (int i = 0; i != 17; ++i)
        strcat(doc, "<a>");
    strcat(doc, "x");
    for (int i = 0; i != 17; ++i)
        strcat(doc, "</a>");
    const char *err = NULL;
    store_xml_node_t *n = store_xml_parse(doc, strlen(doc), &err);
    assert_non_null(n);
    const store_xml_node_t *leaf = n;
    for (int i = 0; i != 16; ++i)
        leaf = store_xml_child(leaf, "a");
    assert_non_null(leaf);
    assert_string_equal(leaf->text, "x");
    store_xml_node_free(n);
    memmove(doc + 3, doc, strlen(doc) + 1);
    memcpy(doc, "<b>", 3);
    strcat(doc, "</b>");
    assert_null(store_xml_parse(doc, strlen(doc), &err));
    assert_string_equal(err, "the document is nested too deeply or too large");

    /* a large text, delivered to the handler in many pieces, is read whole */
    size_t big = 1u << 20;
    char *t = malloc(big + 16);
    assert_non_null(t);
    memcpy(t, "<a>", 3);
    for (size_t i = 0; i != big; ++i)
        t[3 + i] = i % 100 == 99 ? '\n' : (i % 7 == 0 ? '&' : 'x');
    /* '&' must be escaped: replace each with a reference the parser decodes back to one byte */
    size_t o = 0;
    char *u = malloc(STORE_XML_MAX_SIZE + 1); /* room for the escaped text, and a buffer over the limit below */
    assert_non_null(u);
    for (size_t i = 0; i != big + 3; ++i) {
        if (t[i] == '&') {
            memcpy(u + o, "&amp;", 5);
            o += 5;
        } else {
            u[o++] = t[i];
        }
    }
    memcpy(u + o, "</a>", 4);
    o += 4;
    n = store_xml_parse(u, o, &err);
    assert_non_null(n);
    assert_int_equal(n->text_len, big);
    assert_memory_equal(n->text, t + 3, big);
    store_xml_node_free(n);
    memset(u + o, ' ', STORE_XML_MAX_SIZE + 1 - o); /* well-formed but for its size (trailing white space) */
    assert_null(store_xml_parse(u, STORE_XML_MAX_SIZE + 1, &err));
    assert_string_equal(err, "the document is too large");
    free(u);
    free(t);
}

static void test_writer(void **state)
{
    store_xml_t x;
    store_xml_begin(&x, "ListBucketResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Key", "a<b>&\"'c");
    store_xml_elem(&x, "Key", "x\x01y\xFFz\r\t\n", 8); /* control character, a byte that is not UTF-8, CR */
    store_xml_elem_str(&x, "Key", "\xC3\xA9t\xC3\xA9");
    store_xml_elem_u64(&x, "Size", 18446744073709551615ull);
    store_xml_elem_time(&x, "LastModified", 1700000000123ll);
    store_xml_close(&x, "ListBucketResult");
    assert_false(x.failed);
    assert_string_equal(x.buf.base, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"" STORE_XML_NS "\">"
                                    "<Key>a&lt;b&gt;&amp;&quot;&apos;c</Key>"
                                    "<Key>x\xEF\xBF\xBDy\xEF\xBF\xBDz&#xD;\t\n</Key>"
                                    "<Key>\xC3\xA9t\xC3\xA9</Key>"
                                    "<Size>18446744073709551615</Size>"
                                    "<LastModified>2023-11-14T22:13:20.123Z</LastModified>"
                                    "</ListBucketResult>");
    /* and what it writes, the parser reads back */
    const char *err;
    store_xml_node_t *root = store_xml_parse(x.buf.base, x.buf.len, &err);
    assert_non_null(root);
    assert_string_equal(root->child->text, "a<b>&\"'c");
    store_xml_node_free(root);
    store_xml_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_s3_bodies),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_parse_refuses_dtds),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
