/* cache/forward.c - what a request whose response may be stored forwards to the origin: CloudFront's origin request policy. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "cache/forward.h"

static h2o_iovec_t dup_lower(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != len; ++i)
        p[i] = (char)h2o_tolower((unsigned char)s[i]);
    p[len] = '\0';
    return h2o_iovec_init(p, len);
}

static void add_name(cache_forward_t *fwd, const char *s, size_t len)
{
    h2o_iovec_t t = h2o_str_stripws(s, len);
    s = t.base;
    len = t.len;
    if (len == 0)
        return;
    for (size_t i = 0; i != fwd->num_headers; ++i)
        if (edge_caseeq(fwd->headers[i].name.base, fwd->headers[i].name.len, s, len))
            return;
    if (edge_caseeq(s, len, H2O_STRLIT("cookie")))
        fwd->whole_cookie = 1;
    cache_forward_name_t *n = realloc(fwd->headers, sizeof(*n) * (fwd->num_headers + 1));
    if (n == NULL)
        h2o_fatal("no memory");
    fwd->headers = n;
    n += fwd->num_headers++;
    n->name = dup_lower(s, len);
    n->token = h2o_lookup_token(n->name.base, n->name.len);
}

static void add_list(cache_forward_t *fwd, const conf_namelist_t *list)
{
    for (size_t i = 0; i != list->count; ++i)
        add_name(fwd, list->names[i], strlen(list->names[i]));
}

static void init_cookies(cache_forward_cookies_t *c, conf_key_mode_t mode, const conf_namelist_t *list)
{
    c->mode = mode;
    c->count = 0;
    c->names = NULL;
    if ((mode != CONF_KEY_LIST && mode != CONF_KEY_EXCEPT) || list->count == 0)
        return;
    if ((c->names = calloc(list->count, sizeof(*c->names))) == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != list->count; ++i) {
        char *p = strdup(list->names[i]);
        if (p == NULL)
            h2o_fatal("no memory");
        c->names[c->count++] = h2o_iovec_init(p, strlen(p));
    }
}

void cache_forward_init(cache_forward_t *fwd, const conf_cache_policy_t *key, const conf_origin_request_t *oreq)
{
    static const conf_namelist_t empty = {NULL, 0};
    memset(fwd, 0, sizeof(*fwd));
    if (key != NULL)
        add_list(fwd, &key->headers);
    if (oreq != NULL && oreq->headers_set) {
        add_list(fwd, &oreq->headers);
    } else {
        const char *p = CACHE_FORWARD_DEFAULT, *end = p + strlen(p);
        while (p < end) {
            const char *comma = memchr(p, ',', end - p);
            if (comma == NULL)
                comma = end;
            add_name(fwd, p, comma - p);
            p = comma + 1;
        }
    }
    init_cookies(&fwd->key, key != NULL ? key->cookie_mode : CONF_KEY_NONE, key != NULL ? &key->cookies : &empty);
    init_cookies(&fwd->requests, oreq != NULL ? oreq->cookie_mode : CONF_KEY_NONE, oreq != NULL ? &oreq->cookies : &empty);
}

static void dispose_cookies(cache_forward_cookies_t *c)
{
    for (size_t i = 0; i != c->count; ++i)
        free(c->names[i].base);
    free(c->names);
}

void cache_forward_dispose(cache_forward_t *fwd)
{
    for (size_t i = 0; i != fwd->num_headers; ++i)
        free(fwd->headers[i].name.base);
    free(fwd->headers);
    dispose_cookies(&fwd->key);
    dispose_cookies(&fwd->requests);
    memset(fwd, 0, sizeof(*fwd));
}

/* the defaults, compiled on first use (a plain value once built; pthread_once keeps two threads from building it at once) */
static cache_forward_t defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void init_defaults(void)
{
    cache_forward_init(&defaults, NULL, NULL);
}

static const cache_forward_t *or_defaults(const cache_forward_t *fwd)
{
    if (fwd != NULL)
        return fwd;
    pthread_once(&defaults_once, init_defaults);
    return &defaults;
}

/* the proxy's own: read from the client's list by the code that builds the origin request */
static int always_kept(const h2o_header_t *h)
{
    const h2o_iovec_t *n = h->name;
    if (h2o_iovec_is_token(n))
        return n == &H2O_TOKEN_X_FORWARDED_FOR->buf || n == &H2O_TOKEN_VIA->buf || n == &H2O_TOKEN_CONNECTION->buf;
    return edge_caseeq(n->base, n->len, H2O_STRLIT("x-forwarded-for")) || edge_caseeq(n->base, n->len, H2O_STRLIT("via")) ||
           edge_caseeq(n->base, n->len, H2O_STRLIT("connection"));
}

static int listed(const cache_forward_t *fwd, const h2o_iovec_t *name)
{
    if (h2o_iovec_is_token(name)) {
        for (size_t i = 0; i != fwd->num_headers; ++i)
            if (fwd->headers[i].token != NULL && &fwd->headers[i].token->buf == name)
                return 1;
        return 0;
    }
    /* a name that is not interned (a hook may add one so): by string */
    for (size_t i = 0; i != fwd->num_headers; ++i)
        if (edge_caseeq(fwd->headers[i].name.base, fwd->headers[i].name.len, name->base, name->len))
            return 1;
    return 0;
}

int cache_forward_has_header(const cache_forward_t *fwd, const char *name, size_t len)
{
    fwd = or_defaults(fwd);
    for (size_t i = 0; i != fwd->num_headers; ++i)
        if (edge_caseeq(fwd->headers[i].name.base, fwd->headers[i].name.len, name, len))
            return 1;
    return 0;
}

static int cookie_selected(const cache_forward_cookies_t *c, const char *name, size_t len)
{
    int in = 0;
    switch (c->mode) {
    case CONF_KEY_ALL:
        return 1;
    case CONF_KEY_LIST:
    case CONF_KEY_EXCEPT:
        for (size_t i = 0; i != c->count && !in; ++i)
            in = h2o_memis(c->names[i].base, c->names[i].len, name, len);
        return c->mode == CONF_KEY_LIST ? in : !in;
    default:
        return 0;
    }
}

static int is_cookie(const h2o_iovec_t *name)
{
    return name == &H2O_TOKEN_COOKIE->buf ||
           (!h2o_iovec_is_token(name) && edge_caseeq(name->base, name->len, H2O_STRLIT("cookie")));
}

/* the cookies of every Cookie line of `in` that the key or origin_request selects, as one "a=1; b=2" value (len 0: none) */
static h2o_iovec_t reduce_cookies(h2o_mem_pool_t *pool, const cache_forward_t *fwd, const h2o_headers_t *in)
{
    size_t cap = 0, len = 0;
    for (size_t i = 0; i != in->size; ++i)
        if (is_cookie(in->entries[i].name))
            cap += in->entries[i].value.len + 2;
    char *buf = h2o_mem_alloc_pool(pool, cap + 1);
    for (size_t i = 0; i != in->size; ++i) {
        if (!is_cookie(in->entries[i].name))
            continue;
        /* HTTP/2 sends one line per cookie; HTTP/1 joins them with "; " */
        const char *p = in->entries[i].value.base, *end = p + in->entries[i].value.len;
        while (p < end) {
            const char *semi = memchr(p, ';', end - p);
            if (semi == NULL)
                semi = end;
            h2o_iovec_t pair = h2o_str_stripws(p, semi - p);
            p = semi + 1;
            if (pair.len == 0)
                continue;
            const char *eq = memchr(pair.base, '=', pair.len);
            h2o_iovec_t name = h2o_str_stripws(pair.base, eq != NULL ? (size_t)(eq - pair.base) : pair.len);
            if (!cookie_selected(&fwd->key, name.base, name.len) && !cookie_selected(&fwd->requests, name.base, name.len))
                continue;
            if (len != 0) {
                memcpy(buf + len, "; ", 2);
                len += 2;
            }
            memcpy(buf + len, pair.base, pair.len);
            len += pair.len;
        }
    }
    return h2o_iovec_init(buf, len);
}

size_t cache_forward_filter(h2o_mem_pool_t *pool, const cache_forward_t *fwd, const h2o_headers_t *in, h2o_headers_t *out)
{
    size_t dropped = 0;
    int cookie_done = 0;
    fwd = or_defaults(fwd);
    memset(out, 0, sizeof(*out));
    h2o_vector_reserve(pool, out, in->size + 1);
    for (size_t i = 0; i != in->size; ++i) {
        const h2o_header_t *h = in->entries + i;
        if (is_cookie(h->name) && !fwd->whole_cookie) {
            ++dropped;
            if (cookie_done)
                continue;
            /* the reduced cookies take the place of the first Cookie line */
            cookie_done = 1;
            h2o_iovec_t v = reduce_cookies(pool, fwd, in);
            if (v.len != 0) {
                out->entries[out->size] = *h;
                out->entries[out->size++].value = v;
            }
            continue;
        }
        if (always_kept(h) || listed(fwd, h->name))
            out->entries[out->size++] = *h;
        else
            ++dropped;
    }
    return dropped;
}
