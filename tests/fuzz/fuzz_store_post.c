/* tests/fuzz/fuzz_store_post.c - libFuzzer target: POST Object's multipart/form-data parser (store/multipartform.c) and policy
 * documents (store/postpolicy.c)
 *
 * Input: byte 0 = mode (bit 0: policy instead of form; bit 1: round trip), byte 1 = piece size, then the body (form: its first
 * line is the Content-Type value).
 * Properties: the form parser's outcome (result, parts, each part's bytes) does not depend on how the body is split across
 * feeds; it never hands out more data bytes than it was given; a well-formed body built from any part contents that do not
 * contain the delimiter parses back to exactly those parts, and any strict prefix of it is refused by store_form_finish. A
 * parsed policy has at most STORE_POST_MAX_CONDITIONS conditions, each with a lowercase field and a sane range; checking
 * fields against it never fails to say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/multipartform.h"
#include "store/postpolicy.h"
#include "tests/fuzz/fuzz_check.h"

typedef struct events {
    char *buf;
    size_t len, cap;
    size_t data;
    int stop_after; /* stop (STORE_FORM_STOPPED) at the end of this part number (1-based), 0 never */
    int parts;
} events_t;

static void add(events_t *e, const void *p, size_t n)
{
    if (e->len + n > e->cap) {
        e->cap = (e->len + n) * 2 + 64;
        e->buf = realloc(e->buf, e->cap);
    }
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

static int on_part(void *ctx, const store_form_part_t *p)
{
    events_t *e = ctx;
    FUZZ_CHECK(p->name != NULL && strlen(p->name) == p->name_len, "name terminated");
    FUZZ_CHECK(p->filename == NULL || strlen(p->filename) == p->filename_len, "filename terminated");
    FUZZ_CHECK(p->content_type == NULL || strlen(p->content_type) == p->content_type_len, "type terminated");
    add(e, "P", 1);
    add(e, p->name, p->name_len + 1);
    if (p->filename != NULL)
        add(e, p->filename, p->filename_len + 1);
    else
        add(e, "-", 1);
    if (p->content_type != NULL)
        add(e, p->content_type, p->content_type_len + 1);
    ++e->parts;
    return 0;
}

static int on_data(void *ctx, const void *d, size_t n)
{
    events_t *e = ctx;
    FUZZ_CHECK(n != 0, "no empty data callbacks");
    e->data += n;
    add(e, d, n);
    return 0;
}

static int on_end(void *ctx)
{
    events_t *e = ctx;
    add(e, "E", 1);
    return e->stop_after != 0 && e->parts == e->stop_after ? STORE_FORM_STOPPED : 0;
}

static const store_form_callbacks_t cbs = {on_part, on_data, on_end};

/* parses body in pieces of step bytes (0: whole); the result, events in e */
static int parse(const char *boundary, const uint8_t *body, size_t len, size_t step, events_t *e)
{
    store_form_t *f = malloc(sizeof(*f));
    FUZZ_CHECK(store_form_init(f, boundary, &cbs, e) == 0, "init");
    int r = STORE_FORM_OK;
    size_t i = 0;
    while (r == STORE_FORM_OK && i < len) {
        size_t n = step == 0 || len - i < step ? len - i : step;
        r = store_form_feed(f, body + i, n);
        i += n;
    }
    if (r == STORE_FORM_OK || r == STORE_FORM_STOPPED)
        r = store_form_finish(f);
    if (r == STORE_FORM_EMALFORMED)
        FUZZ_CHECK(f->error[0] != '\0', "a refusal says why");
    FUZZ_CHECK(e->data <= len, "never more data than input");
    free(f);
    return r;
}

static void form(const uint8_t *data, size_t size, size_t step)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl == NULL)
        return;
    char ct[256], boundary[STORE_FORM_MAX_BOUNDARY + 1];
    size_t ctlen = (size_t)(nl - data) < sizeof(ct) ? (size_t)(nl - data) : sizeof(ct) - 1;
    int is_form;
    memcpy(ct, data, ctlen);
    if (store_form_boundary(ct, ctlen, boundary, &is_form) != 0)
        return;
    FUZZ_CHECK(is_form && strlen(boundary) >= 1 && strlen(boundary) <= STORE_FORM_MAX_BOUNDARY, "boundary");
    const uint8_t *body = nl + 1;
    size_t len = size - (size_t)(body - data);
    events_t a = {0}, b = {0}, c = {0};
    int ra = parse(boundary, body, len, 0, &a);
    int rb = parse(boundary, body, len, 1, &b);
    int rc = parse(boundary, body, len, step, &c);
    FUZZ_CHECK(ra == rb && ra == rc, "split-invariant result");
    FUZZ_CHECK(a.len == b.len && a.len == c.len &&
                   (a.len == 0 || (memcmp(a.buf, b.buf, a.len) == 0 && memcmp(a.buf, c.buf, a.len) == 0)),
               "split-invariant events");
    free(a.buf);
    free(b.buf);
    free(c.buf);
}

/* a body of parts whose contents come from the input, built correctly: it must parse back to them */
static void round_trip(const uint8_t *data, size_t size, size_t step)
{
    static const char boundary[] = "----fuzzBoundary0123456789abcdefXYZ";
    char delim[64];
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    events_t want = {0}, got = {0};
    char *body = NULL;
    size_t blen = 0, cap = 0;
#define PUT(p, n)                                                                                                                  \
    do {                                                                                                                           \
        if (blen + (n) > cap) {                                                                                                    \
            cap = (blen + (n)) * 2 + 64;                                                                                           \
            body = realloc(body, cap);                                                                                             \
        }                                                                                                                          \
        memcpy(body + blen, (p), (n));                                                                                             \
        blen += (n);                                                                                                               \
    } while (0)
    /* parts split at 0xff bytes; part i is named fI */
    size_t i = 0, part = 0;
    while (i <= size && part < 50) {
        const uint8_t *end = memchr(data + i, 0xff, size - i);
        size_t n = end != NULL ? (size_t)(end - (data + i)) : size - i;
        if (memmem(data + i, n, delim, strlen(delim)) != NULL)
            goto out; /* the delimiter cannot be content */
        char head[160], name[16];
        snprintf(name, sizeof(name), "f%zu", part);
        int hl = snprintf(head, sizeof(head), "%s--%s\r\nContent-Disposition: form-data; name=\"%s\"%s\r\n\r\n", part ? "\r\n" : "",
                          boundary, name, part % 2 ? "; filename=\"a \\\"b\\\".txt\"" : "");
        PUT(head, (size_t)hl);
        PUT(data + i, n);
        add(&want, "P", 1);
        add(&want, name, strlen(name) + 1);
        if (part % 2)
            add(&want, "a \"b\".txt", 10);
        else
            add(&want, "-", 1);
        add(&want, data + i, n);
        add(&want, "E", 1);
        ++part;
        i += n + 1;
    }
    char tail[64];
    int tl = snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", boundary);
    PUT(tail, (size_t)tl);
    FUZZ_CHECK(parse(boundary, (const uint8_t *)body, blen, step, &got) == STORE_FORM_OK, "a well-formed body parses");
    FUZZ_CHECK(got.len == want.len && (want.len == 0 || memcmp(got.buf, want.buf, want.len) == 0), "round trip");
    /* any strict prefix that ends before the closing delimiter's "--" is incomplete */
    size_t cut = (step * 7919 + size) % (blen - (size_t)tl + 4 + strlen(boundary) + 2);
    events_t pre = {0};
    FUZZ_CHECK(parse(boundary, (const uint8_t *)body, cut, step, &pre) != STORE_FORM_OK, "a cut body is refused");
    free(pre.buf);
    /* stopping after the first part ignores the rest, whatever it is */
    events_t st = {0};
    st.stop_after = 1;
    FUZZ_CHECK(parse(boundary, (const uint8_t *)body, blen, step, &st) == STORE_FORM_OK, "stopped parse succeeds");
    free(st.buf);
#undef PUT
out:
    free(body);
    free(want.buf);
    free(got.buf);
}

static void policy(const uint8_t *data, size_t size)
{
    store_post_policy_t p;
    char err[512];
    if (store_post_policy_parse((const char *)data, size, &p, err, sizeof(err)) != 0) {
        FUZZ_CHECK(strncmp(err, "Invalid Policy: ", 16) == 0 || strcmp(err, "out of memory") == 0, "refusal says why");
        return;
    }
    FUZZ_CHECK(p.num_conds <= STORE_POST_MAX_CONDITIONS, "bounded conditions");
    for (size_t i = 0; i != p.num_conds; ++i) {
        const store_post_cond_t *c = &p.conds[i];
        for (const char *s = c->field; *s != '\0'; ++s)
            FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'), "lowercase field");
        if (c->op == STORE_POST_RANGE)
            FUZZ_CHECK(c->min <= c->max, "sane range");
        else
            FUZZ_CHECK(c->value != NULL && strlen(c->value) == c->value_len, "terminated value");
    }
    store_post_field_t fields[3] = {{"key", "uploads/a", 9}, {"content-type", "text/plain", 10}, {"x-ignore-z", "", 0}};
    char msg[512];
    msg[0] = '\0';
    if (store_post_policy_check(&p, fields, 3, "bucket", "uploads/b", msg, sizeof(msg)) != 0)
        FUZZ_CHECK(strncmp(msg, "Invalid according to Policy: ", 29) == 0, "check says why");
    store_post_policy_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0];
    size_t step = data[1] != 0 ? data[1] : 1;
    if (mode & 1)
        policy(data + 2, size - 2);
    else if (mode & 2)
        round_trip(data + 2, size - 2, step);
    else
        form(data + 2, size - 2, step);
    return 0;
}
