/* hooks/event.c - header lists of the hook event model and the Lambda@Edge rules on them (disallowed, read-only, sizes). */
#include <string.h>
#include <h2o.h>
#include "hooks/event.h"
#include "hooks/logtail.h"

static const char *const event_names[HOOK_NUM_EVENTS] = {"viewer-request", "origin-request", "origin-response", "viewer-response"};

const char *hook_event_type_name(int type)
{
    if (type == HOOK_INVOKE)
        return "invoke";
    return type >= 0 && type < HOOK_NUM_EVENTS ? event_names[type] : "unknown";
}

int hook_event_type_parse(const char *s, size_t len)
{
    for (int i = 0; i != HOOK_NUM_EVENTS; ++i)
        if (strlen(event_names[i]) == len && memcmp(event_names[i], s, len) == 0)
            return i;
    return -1;
}

static const char *const ssl_names[] = {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};

unsigned hook_ssl_protocol_parse(const char *s, size_t len)
{
    for (unsigned i = 0; i != sizeof(ssl_names) / sizeof(ssl_names[0]); ++i)
        if (strlen(ssl_names[i]) == len && memcmp(ssl_names[i], s, len) == 0)
            return 1u << i;
    return 0;
}

const char *hook_ssl_protocol_name(unsigned bit)
{
    for (unsigned i = 0; i != sizeof(ssl_names) / sizeof(ssl_names[0]); ++i)
        if (bit == 1u << i)
            return ssl_names[i];
    return "?";
}

void hook_event_init(hook_event_t *ev, int type)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->request.querystring = h2o_iovec_init("", 0);
    ev->limits = (hook_head_limits_t){HOOK_DEFAULT_HEAD_BYTES, HOOK_DEFAULT_REQUEST_HEADERS, HOOK_DEFAULT_HEAD_BYTES,
                                      HOOK_MAX_RESPONSE_HEADERS};
}

static inline char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int eq_lower(const char *lc, size_t lclen, const char *any, size_t len)
{
    if (lclen != len)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (lc[i] != lower(any[i]))
            return 0;
    return 1;
}

ssize_t hook_headers_find(const hook_headers_t *h, const char *name, size_t len, size_t from)
{
    for (size_t i = from; i < h->size; ++i)
        if (eq_lower(h->entries[i].name.base, h->entries[i].name.len, name, len))
            return (ssize_t)i;
    return -1;
}

static void reserve(h2o_mem_pool_t *pool, hook_headers_t *h, size_t n)
{
    if (h->size + n <= h->capacity)
        return;
    size_t cap = h->capacity < 8 ? 8 : h->capacity * 2;
    while (cap < h->size + n)
        cap *= 2;
    hook_header_t *e = h2o_mem_alloc_pool(pool, sizeof(*e) * cap);
    if (h->size != 0)
        memcpy(e, h->entries, sizeof(*e) * h->size);
    h->entries = e;
    h->capacity = cap;
}

void hook_headers_add_nocopy(h2o_mem_pool_t *pool, hook_headers_t *h, h2o_iovec_t name, h2o_iovec_t key, h2o_iovec_t value)
{
    reserve(pool, h, 1);
    h->entries[h->size++] = (hook_header_t){name, key, value};
}

void hook_headers_add(h2o_mem_pool_t *pool, hook_headers_t *h, const char *key, size_t klen, const char *value, size_t vlen)
{
    /* one allocation: name, key, value, each NUL-terminated for the convenience of C plugins */
    char *p = h2o_mem_alloc_pool(pool, klen * 2 + vlen + 3);
    h2o_iovec_t n = h2o_iovec_init(p, klen), k = h2o_iovec_init(p + klen + 1, klen), v = h2o_iovec_init(p + klen * 2 + 2, vlen);
    for (size_t i = 0; i != klen; ++i)
        p[i] = lower(key[i]);
    p[klen] = '\0';
    memcpy(k.base, key, klen);
    k.base[klen] = '\0';
    if (vlen != 0)
        memcpy(v.base, value, vlen);
    v.base[vlen] = '\0';
    hook_headers_add_nocopy(pool, h, n, k, v);
}

size_t hook_headers_remove(hook_headers_t *h, const char *name, size_t len)
{
    size_t w = 0, removed = 0;
    for (size_t r = 0; r != h->size; ++r) {
        if (eq_lower(h->entries[r].name.base, h->entries[r].name.len, name, len)) {
            ++removed;
            continue;
        }
        h->entries[w++] = h->entries[r];
    }
    h->size = w;
    return removed;
}

void hook_headers_copy(h2o_mem_pool_t *pool, hook_headers_t *dst, const hook_headers_t *src)
{
    dst->size = dst->capacity = 0;
    dst->entries = NULL;
    if (src->size == 0)
        return;
    reserve(pool, dst, src->size);
    memcpy(dst->entries, src->entries, sizeof(*dst->entries) * src->size);
    dst->size = src->size;
}

/* the headers Lambda@Edge never shows nor lets a function add; lengths precomputed: these run on every header a hook adds */
typedef struct name_entry {
    size_t len;
    const char *name;
} name_entry_t;
#define N(s)                                                                                                                       \
    {                                                                                                                              \
        sizeof(s) - 1, s                                                                                                           \
    }
static const name_entry_t disallowed[] = {N("connection"),
                                          N("expect"),
                                          N("keep-alive"),
                                          N("proxy-authenticate"),
                                          N("proxy-authorization"),
                                          N("proxy-connection"),
                                          N("trailer"),
                                          N("upgrade"),
                                          N("x-accel-buffering"),
                                          N("x-accel-charset"),
                                          N("x-accel-limit-rate"),
                                          N("x-accel-redirect"),
                                          N("x-amzn-auth"),
                                          N("x-amzn-cf-billing"),
                                          N("x-amzn-cf-id"),
                                          N("x-amzn-cf-xff"),
                                          N("x-amzn-errortype"),
                                          N("x-amzn-fle-profile"),
                                          N("x-amzn-header-count"),
                                          N("x-amzn-header-order"),
                                          N("x-amzn-lambda-integration-tag"),
                                          N("x-amzn-requestid"),
                                          N("x-cache"),
                                          N("x-forwarded-proto"),
                                          N("x-real-ip"),
                                          {0, NULL}};

static int in_list(const name_entry_t *list, const char *name, size_t len)
{
    for (; list->name != NULL; ++list)
        if (list->len == len && memcmp(list->name, name, len) == 0)
            return 1;
    return 0;
}

static int has_prefix(const char *name, size_t len, const char *prefix, size_t pl)
{
    return len >= pl && memcmp(name, prefix, pl) == 0;
}

/* first characters of every disallowed or read-only name: most headers are ruled out by one lookup */
static int first_char_listed(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    switch (name[0]) {
    case 'a':
    case 'c':
    case 'e':
    case 'h':
    case 'i':
    case 'k':
    case 'p':
    case 't':
    case 'u':
    case 'v':
    case 'w':
    case 'x':
        return 1;
    }
    return 0;
}

int hook_header_in_disallowed_list(const char *name, size_t len)
{
    return in_list(disallowed, name, len);
}

int hook_header_is_readonly(int type, int msg, const char *name, size_t len)
{
    static const name_entry_t vreq[] = {N("content-length"), N("host"), N("transfer-encoding"), N("via"), {0, NULL}};
    static const name_entry_t oreq[] = {N("accept-encoding"),
                                        N("content-length"),
                                        N("if-modified-since"),
                                        N("if-none-match"),
                                        N("if-range"),
                                        N("if-unmodified-since"),
                                        N("transfer-encoding"),
                                        N("via"),
                                        {0, NULL}};
    static const name_entry_t oresp[] = {N("transfer-encoding"), N("via"), {0, NULL}};
    static const name_entry_t vresp[] = {N("warning"), N("via"), {0, NULL}};
    if (!first_char_listed(name, len))
        return 0;
    switch (type) {
    case HOOK_VIEWER_REQUEST:
        return msg == 0 && (in_list(vreq, name, len) || has_prefix(name, len, "cloudfront-viewer-", 18));
    case HOOK_ORIGIN_REQUEST:
        return msg == 0 && in_list(oreq, name, len);
    case HOOK_ORIGIN_RESPONSE:
        return msg == 1 && in_list(oresp, name, len);
    case HOOK_VIEWER_RESPONSE:
        return msg == 1 && in_list(vresp, name, len);
    }
    return 0;
}

int hook_header_name_valid(const char *s, size_t len)
{
    /* RFC 9110 tchar: ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~ */
    static const uint8_t tchar[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1,
        ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1,  ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
        ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
        ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,  ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,
        ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,  ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
        ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,  ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
        ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1};
    if (len == 0 || len > 1024)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (!tchar[(unsigned char)s[i]])
            return 0;
    return 1;
}

int hook_header_value_valid(const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    return 1;
}

void hook_header_title_case(char *out, const char *name, size_t len)
{
    int up = 1;
    for (size_t i = 0; i != len; ++i) {
        char c = name[i];
        out[i] = up && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        up = c == '-';
    }
}

size_t hook_headers_bytes(const hook_headers_t *h)
{
    size_t n = 0;
    for (size_t i = 0; i != h->size; ++i)
        n += h->entries[i].name.len + h->entries[i].value.len;
    return n;
}

size_t hook_response_size_limit(int type)
{
    return hook_size_limit(type);
}

size_t hook_response_size(const hook_response_t *resp)
{
    size_t n = sizeof("HTTP/1.1 200 \r\n") - 1 + resp->status_description.len;
    for (size_t i = 0; i != resp->headers.size; ++i)
        n += resp->headers.entries[i].key.len + resp->headers.entries[i].value.len + 4;
    return n + 2 + (resp->has_body ? resp->body.len : 0);
}

static h2o_iovec_t dup_iov(h2o_mem_pool_t *pool, h2o_iovec_t v)
{
    return v.base == NULL ? v : h2o_strdup(pool, v.base, v.len);
}

void hook_headers_dup(h2o_mem_pool_t *pool, hook_headers_t *dst, const hook_headers_t *src)
{
    dst->size = dst->capacity = src->size;
    dst->entries = src->size != 0 ? h2o_mem_alloc_pool(pool, sizeof(hook_header_t) * src->size) : NULL;
    for (size_t i = 0; i != src->size; ++i) {
        dst->entries[i].name = dup_iov(pool, src->entries[i].name);
        dst->entries[i].key = dup_iov(pool, src->entries[i].key);
        dst->entries[i].value = dup_iov(pool, src->entries[i].value);
    }
}

void hook_event_copy(h2o_mem_pool_t *pool, hook_event_t *dst, const hook_event_t *src)
{
    *dst = *src;
    dst->request_id = dup_iov(pool, src->request_id);
    dst->distribution_domain_name = dup_iov(pool, src->distribution_domain_name);
    dst->distribution_id = dup_iov(pool, src->distribution_id);
    dst->request.client_ip = dup_iov(pool, src->request.client_ip);
    dst->request.method = dup_iov(pool, src->request.method);
    dst->request.uri = dup_iov(pool, src->request.uri);
    dst->request.querystring = dup_iov(pool, src->request.querystring);
    hook_headers_dup(pool, &dst->request.headers, &src->request.headers);
    dst->request.body.data = dup_iov(pool, src->request.body.data);
    dst->request.origin.domain_name = dup_iov(pool, src->request.origin.domain_name);
    dst->request.origin.path = dup_iov(pool, src->request.origin.path);
    dst->request.origin.protocol = dup_iov(pool, src->request.origin.protocol);
    dst->request.origin.region = dup_iov(pool, src->request.origin.region);
    dst->request.origin.auth_method = dup_iov(pool, src->request.origin.auth_method);
    hook_headers_dup(pool, &dst->request.origin.custom_headers, &src->request.origin.custom_headers);
    dst->request.origin.version_id = dup_iov(pool, src->request.origin.version_id);
    dst->response.status_description = dup_iov(pool, src->response.status_description);
    hook_headers_dup(pool, &dst->response.headers, &src->response.headers);
    dst->response.body = dup_iov(pool, src->response.body);
    dst->response.origin_body = dup_iov(pool, src->response.origin_body);
    dst->invoke.payload = dup_iov(pool, src->invoke.payload);
    dst->invoke.result = dup_iov(pool, src->invoke.result);
    if (src->invoke.tail != NULL) {
        dst->invoke.tail = h2o_mem_alloc_pool(pool, sizeof(*dst->invoke.tail));
        *dst->invoke.tail = *src->invoke.tail;
    }
}

int hook_origin_version_id_valid(const char *v, size_t len)
{
    if (len == 0 || len > 1024)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
              c == '+' || c == '/' || c == '='))
            return 0;
    }
    return 1;
}
