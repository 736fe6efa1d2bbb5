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
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
