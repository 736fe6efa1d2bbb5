/* tests/unit/conf/test_diff.c - what changed between two configurations (conf/diff.c): sections, origins, hooks, behaviors */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/config.h"
#include "conf/diff.h"

static const char BASE[] = "listen: [{host: 127.0.0.1, port: 0}]\n"
                           "cache: {memory: 64MB}\n"
                           "origins:\n"
                           "  a: {type: http, url: \"http://127.0.0.1:1\"}\n"
                           "  b: {type: http, url: \"http://127.0.0.1:2\"}\n"
                           "behaviors:\n"
                           "  - {path: \"/x/*\", origin: a}\n"
                           "  - {path: \"*\", origin: b}\n";

static conf_t *load(const char *yaml)
{
    char err[1024];
    conf_t *c = conf_load_string("t.yaml", yaml, strlen(yaml), err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    return c;
}

/* the diff of `from` and `to` as JSON, and its number of changes */
static char *diff2(const char *from, const char *to, size_t *n)
{
    conf_t *a = load(from), *b = load(to);
    char *d = conf_diff_json(a, b, n);
    conf_free(a);
    conf_free(b);
    return d;
}

static char *diff(const char *other, size_t *n)
{
    return diff2(BASE, other, n);
}

/* s with its first `from` replaced by `to` (in one of two buffers used in turn: replace(replace(...)) works) */
static char *replace(const char *s, const char *from, const char *to)
{
    static char bufs[2][4096];
    static int which;
    char *buf = bufs[which ^= 1];
    const char *p = strstr(s, from);
    assert_non_null(p);
    size_t head = (size_t)(p - s), tlen = strlen(to), tail = strlen(p + strlen(from));
    assert_true(head + tlen + tail < sizeof(bufs[0]));
    memmove(buf, s, head); /* s may be the other buffer, never this one */
    memcpy(buf + head, to, tlen);
    memmove(buf + head + tlen, p + strlen(from), tail + 1);
    return buf;
}

static void test_no_change(void **state)
{
    size_t n;
    /* comments, spacing, quoting and the order of keys are no change */
    char *d = diff("# a comment\nlisten: [{port: 0, host: \"127.0.0.1\"}]\ncache:   {memory: 64MB}\norigins:\n"
                   "  b: {url: \"http://127.0.0.1:2\", type: http}\n  a: {type: http, url: \"http://127.0.0.1:1\"}\n"
                   "behaviors:\n  - {origin: a, path: \"/x/*\"}\n  - {path: \"*\", origin: b}\n",
                   &n);
    assert_int_equal(n, 0);
    assert_string_equal(d, "{\"added\":[],\"removed\":[],\"changed\":[]}");
    free(d);
}

static void test_changes(void **state)
{
    size_t n;
    char *d = diff(replace(BASE, "64MB", "128MB"), &n);
    assert_int_equal(n, 1);
    assert_string_equal(d, "{\"added\":[],\"removed\":[],\"changed\":[\"cache\"]}");
    free(d);
    d = diff(replace(BASE, "127.0.0.1:2", "127.0.0.1:3"), &n);
    assert_string_equal(d, "{\"added\":[],\"removed\":[],\"changed\":[\"origins.b\"]}");
    free(d);
    /* an origin and a behavior added: named, and the behaviors' order is not news then */
    d = diff(replace(replace(BASE, "behaviors:\n", "behaviors:\n  - {path: \"/y/*\", origin: c}\n"), "origins:\n",
                     "origins:\n  c: {type: http, url: \"http://127.0.0.1:4\"}\n"),
             &n);
    assert_int_equal(n, 2);
    assert_string_equal(d, "{\"added\":[\"origins.c\",\"behaviors./y/*\"],\"removed\":[],\"changed\":[]}");
    free(d);
    /* the same behaviors in another order: the order changed */
    const char *xy = "listen: [{host: 127.0.0.1, port: 0}]\norigins:\n  a: {type: http, url: \"http://127.0.0.1:1\"}\n"
                     "behaviors:\n  - {path: \"/x/*\", origin: a}\n  - {path: \"/y/*\", origin: a}\n";
    d = diff2(xy,
              "listen: [{host: 127.0.0.1, port: 0}]\norigins:\n  a: {type: http, url: \"http://127.0.0.1:1\"}\n"
              "behaviors:\n  - {path: \"/y/*\", origin: a}\n  - {path: \"/x/*\", origin: a}\n",
              &n);
    assert_string_equal(d, "{\"added\":[],\"removed\":[],\"changed\":[\"behaviors (order)\"]}");
    free(d);
    /* a section removed */
    d = diff("listen: [{host: 127.0.0.1, port: 0}]\norigins:\n"
             "  a: {type: http, url: \"http://127.0.0.1:1\"}\n  b: {type: http, url: \"http://127.0.0.1:2\"}\n"
             "behaviors:\n  - {path: \"/x/*\", origin: a}\n  - {path: \"*\", origin: b}\n",
             &n);
    assert_string_equal(d, "{\"added\":[],\"removed\":[\"cache\"],\"changed\":[]}");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_change),
        cmocka_unit_test(test_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
