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

/* aliases that make the document a cycle (an alias inside the node it names), or a fan 200 levels deep (each level a list of
 * the one below and two aliases to it: 3^200 paths), are fingerprinted once per node: the load ends (with its error, or a
 * config), it does not run for ever */
static void test_alias_graphs_are_hashed_in_linear_time(void **state)
{
    (void)state;
    char err[1024];
    static const char cycle[] = "listen: [{port: 0}]\norigins: &o\n  s: {type:t:/0}\n  seed:\n"
                                "    - {bucket: site, dir: examples/site}\n"
                                "    - {bucket: b.2, dir: examples}: &a [*o, *o, *o]\n";
    conf_t *c = conf_load_string("t.yaml", cycle, strlen(cycle), err, sizeof(err));
    if (c != NULL)
        conf_free(c);
    /* x: &a199 [&a198 [... &a0 [1], *a0, *a0] ..., *a198, *a198]: each level defined inside the one above and named twice */
    size_t cap = 64 * 1024, len = 0;
    char *fan = malloc(cap), *tail = malloc(cap);
    assert_non_null(fan);
    assert_non_null(tail);
    size_t tlen = 0;
    len += (size_t)snprintf(fan + len, cap - len, "%sx: ", BASE);
    for (int i = 199; i != 0; --i)
        len += (size_t)snprintf(fan + len, cap - len, "&a%d [", i);
    len += (size_t)snprintf(fan + len, cap - len, "&a0 [1]");
    for (int i = 1; i != 200; ++i)
        tlen += (size_t)snprintf(tail + tlen, cap - tlen, ", *a%d, *a%d]", i - 1, i - 1);
    assert_true(len + tlen + 2 < cap);
    memcpy(fan + len, tail, tlen);
    len += tlen;
    fan[len++] = '\n';
    fan[len] = '\0';
    free(tail);
    c = conf_load_string("t.yaml", fan, len, err, sizeof(err));
    if (c != NULL)
        conf_free(c);
    free(fan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_change),
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_alias_graphs_are_hashed_in_linear_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
