/* cache/key.c - the cache key of a request under a CloudFront-style cache policy, its 64-bit hash, and the URL part for purges. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "base/assert.h"
#include "base/str.h"
#include "cache/key.h"
#include "cache/policy.h"

/* ------------------------------------------------------------------------------------------------------------------- */
/* an output buffer that counts what does not fit                                                                       */

typedef struct kbuf {
    char *p;
    size_t len, cap;
} kbuf_t;

static void put1(kbuf_t *b, char c)
{
    if (b->len < b->cap)
        b->p[b->len] = c;
    ++b->len;
}

static void put(kbuf_t *b, const char *s, size_t n)
{
    if (b->len < b->cap) {
        size_t room = b->cap - b->len;
        memcpy(b->p + b->len, s, n < room ? n : room);
    }
    b->len += n;
}

static void put_pct(kbuf_t *b, unsigned char c)
{
    char e[3];
    edge_pct_escape(e, c);
    put(b, e, 3);
}

/* header values, cookies, host: control bytes and '%' escaped so that '\n' only separates entries */
static void put_escaped(kbuf_t *b, const char *s, size_t n, int lower)
{
    for (size_t i = 0; i != n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '%')
            put_pct(b, c);
        else
            put1(b, lower ? (char)h2o_tolower(c) : (char)c);
    }
}

static int is_cookie(const h2o_header_t *h)
{
    return h->name == &H2O_TOKEN_COOKIE->buf || h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("cookie"));
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* percent-encoding normalisation (RFC 3986 §6.2.2.1, §6.2.2.2), one output byte at a time so that sorting and matching */
/* compare normalised forms without materialising them                                                                  */

typedef struct norm {
    const unsigned char *p, *end;
    char pend[2];
    int pi, pn;
} norm_t;

static void norm_init(norm_t *n, const char *s, size_t len)
{
    n->p = (const unsigned char *)s;
    n->end = n->p + len;
    n->pi = n->pn = 0;
}

static int is_unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static int norm_pct(norm_t *n, int v)
{
    char e[3];
    edge_pct_escape(e, (unsigned char)v);
    memcpy(n->pend, e + 1, 2);
    n->pi = 0;
    n->pn = 2;
    return '%';
}

/* the next byte of the normalised form, -1 at the end */
static int norm_next(norm_t *n)
{
    if (n->pi < n->pn)
        return (unsigned char)n->pend[n->pi++];
    if (n->p == n->end)
        return -1;
    int c = *n->p++, hi, lo;
    if (c == '%' && n->end - n->p >= 2 && (hi = edge_hex_value(n->p[0])) >= 0 && (lo = edge_hex_value(n->p[1])) >= 0) {
        int v = hi * 16 + lo;
        n->p += 2;
        return is_unreserved(v) ? v : norm_pct(n, v);
    }
    /* a `%` that starts no escape is written %25, so that normalising never makes an escape (`%%32F` is not `%2F`) and a
     * normal form stays what it is */
    if (c <= 0x20 || c >= 0x7f || c == '%')
        return norm_pct(n, c);
    return c;
}

static void put_norm(kbuf_t *b, const char *s, size_t len)
{
    norm_t n;
    int c;
    norm_init(&n, s, len);
    while ((c = norm_next(&n)) >= 0)
        put1(b, (char)c);
}

static int norm_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    norm_t x, y;
    norm_init(&x, a, alen);
    norm_init(&y, b, blen);
    for (;;) {
        int c = norm_next(&x), d = norm_next(&y);
        if (c != d)
            return c < d ? -1 : 1;
        if (c < 0)
            return 0;
    }
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* query parameters and cookies                                                                                         */

typedef struct kitem {
    const char *name, *value;
    size_t nlen, vlen;
    int has_value;
    size_t pos; /* place in the request: ties between equal names keep it (the sort is stable) */
} kitem_t;

static int cmp_raw(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* the place in the request breaks ties: qsort with it is a stable sort by name alone */
static int cmp_pos(const kitem_t *a, const kitem_t *b)
{
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* by normalised name only; repeated names keep their order (`a=1&a=2` and `a=2&a=1` are different requests to an origin that
 * reads the first value, or all of them as a list) */
static int cmp_param(const void *pa, const void *pb)
{
    const kitem_t *a = pa, *b = pb;
    int c = norm_cmp(a->name, a->nlen, b->name, b->nlen);
    return c != 0 ? c : cmp_pos(a, b);
}

/* by name only, as for the query: of two cookies with one name, servers read the first */
static int cmp_cookie(const void *pa, const void *pb)
{
    const kitem_t *a = pa, *b = pb;
    int c = cmp_raw(a->name, a->nlen, b->name, b->nlen);
    return c != 0 ? c : cmp_pos(a, b);
}

static int in_list(const conf_namelist_t *list, const char *name, size_t nlen, int normalise)
{
    for (size_t i = 0; i != list->count; ++i) {
        const char *want = list->names[i];
        size_t wlen = strlen(want);
        if (normalise ? norm_cmp(name, nlen, want, wlen) == 0 : cmp_raw(name, nlen, want, wlen) == 0)
            return 1;
    }
    return 0;
}

static int selected(conf_key_mode_t mode, const conf_namelist_t *list, const char *name, size_t nlen, int normalise)
{
    switch (mode) {
    case CONF_KEY_ALL:
        return 1;
    case CONF_KEY_LIST:
        return in_list(list, name, nlen, normalise);
    case CONF_KEY_EXCEPT:
        return !in_list(list, name, nlen, normalise);
    default:
        return 0;
    }
}

static void split_item(const char *s, size_t len, kitem_t *it)
{
    const char *eq = memchr(s, '=', len);
    it->name = s;
    it->nlen = eq != NULL ? (size_t)(eq - s) : len;
    it->has_value = eq != NULL;
    it->value = eq != NULL ? eq + 1 : NULL;
    it->vlen = eq != NULL ? len - it->nlen - 1 : 0;
}

/* the selected parameters of a raw query; -1 when there are more than `cap` */
static ssize_t collect_query(const conf_cache_policy_t *pol, const char *q, size_t qlen, kitem_t *items, size_t cap)
{
    conf_key_mode_t mode = pol != NULL ? pol->query_mode : CONF_KEY_ALL;
    size_t n = 0;
    if (mode == CONF_KEY_NONE)
        return 0;
    const char *p = q, *end = q + qlen;
    while (p < end) {
        const char *amp = memchr(p, '&', end - p);
        if (amp == NULL)
            amp = end;
        if (amp != p) {
            kitem_t it;
            split_item(p, amp - p, &it);
            if (selected(mode, pol != NULL ? &pol->query : NULL, it.name, it.nlen, 1)) {
                if (n == cap)
                    return -1;
                it.pos = n;
                items[n++] = it;
            }
        }
        p = amp + 1;
    }
    qsort(items, n, sizeof(*items), cmp_param);
    return (ssize_t)n;
}

static void put_query(kbuf_t *b, const kitem_t *items, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        if (i != 0)
            put1(b, '&');
        put_norm(b, items[i].name, items[i].nlen);
        if (items[i].has_value) {
            put1(b, '=');
            put_norm(b, items[i].value, items[i].vlen);
        }
    }
}

/* path [ '?' query ]; -1 when the query has too many parameters */
static int put_url(kbuf_t *b, const conf_cache_policy_t *pol, h2o_iovec_t path, kitem_t *scratch, size_t cap)
{
    const char *q = memchr(path.base, '?', path.len);
    size_t plen = q != NULL ? (size_t)(q - path.base) : path.len;
    put_norm(b, path.base, plen);
    if (q == NULL)
        return 0;
    ssize_t n = collect_query(pol, q + 1, path.base + path.len - q - 1, scratch, cap);
    if (n < 0)
        return -1;
    if (n != 0) {
        put1(b, '?');
        put_query(b, scratch, (size_t)n);
    }
    return 0;
}

static ssize_t collect_cookies(const conf_cache_policy_t *pol, const h2o_headers_t *headers, kitem_t *items, size_t cap)
{
    size_t n = 0;
    if (pol == NULL || pol->cookie_mode == CONF_KEY_NONE || headers == NULL)
        return 0;
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_header_t *h = headers->entries + i;
        if (!is_cookie(h))
            continue;
        /* HTTP/2 sends one field line per cookie; HTTP/1 joins them with "; " */
        const char *p = h->value.base, *end = p + h->value.len;
        while (p < end) {
            const char *semi = memchr(p, ';', end - p);
            if (semi == NULL)
                semi = end;
            h2o_iovec_t t = h2o_str_stripws(p, semi - p);
            p = semi + 1;
            if (t.len == 0)
                continue;
            kitem_t it;
            split_item(t.base, t.len, &it);
            h2o_iovec_t name = h2o_str_stripws(it.name, it.nlen);
            it.name = name.base;
            it.nlen = name.len;
            if (it.has_value) {
                h2o_iovec_t v = h2o_str_stripws(it.value, it.vlen);
                it.value = v.base;
                it.vlen = v.len;
            }
            if (!selected(pol->cookie_mode, &pol->cookies, it.name, it.nlen, 0))
                continue;
            if (n == cap)
                return -1;
            it.pos = n;
            items[n++] = it;
        }
    }
    qsort(items, n, sizeof(*items), cmp_cookie);
    return (ssize_t)n;
}

static void put_headers(kbuf_t *b, const conf_cache_policy_t *pol, const h2o_headers_t *headers)
{
    if (pol == NULL)
        return;
    for (size_t i = 0; i != pol->headers.count; ++i) {
        const char *name = pol->headers.names[i];
        size_t nlen = strlen(name);
        put(b, "h:", 2);
        put_escaped(b, name, nlen, 1);
        int seen = 0;
        for (size_t j = 0; headers != NULL && j != headers->size; ++j) {
            const h2o_header_t *h = headers->entries + j;
            if (!edge_caseeq(h->name->base, h->name->len, name, nlen))
                continue;
            h2o_iovec_t v = h2o_str_stripws(h->value.base, h->value.len);
            put1(b, seen ? ',' : '=');
            seen = 1;
            if (edge_caseeq(name, nlen, H2O_STRLIT("accept-language")) && v.len <= 512) {
                /* requests stating the same preferences share an entry (as in a Vary key, cache/policy.h) */
                char norm[512];
                ssize_t nl = cache_accept_language_normalise(v.base, v.len, norm);
                if (nl >= 0) {
                    put(b, norm, (size_t)nl);
                    continue;
                }
            }
            put_escaped(b, v.base, v.len, 0);
        }
        put1(b, '\n');
    }
}

static ssize_t build(const conf_cache_policy_t *pol, const cache_key_request_t *req, kbuf_t *b, kitem_t *scratch, size_t cap)
{
    char num[24];
    int nlen = snprintf(num, sizeof(num), "%zu", req->behavior);
    put(b, num, (size_t)nlen);
    put1(b, '\n');
    put_escaped(b, req->host.base, req->host.len, 1);
    put1(b, '\n');
    if (put_url(b, pol, req->path, scratch, cap) != 0)
        return -1;
    put1(b, '\n');
    put_headers(b, pol, req->headers);
    ssize_t n = collect_cookies(pol, req->headers, scratch, cap);
    if (n < 0)
        return -1;
    for (ssize_t i = 0; i != n; ++i) {
        put(b, "c:", 2);
        put_escaped(b, scratch[i].name, scratch[i].nlen, 0);
        if (scratch[i].has_value) {
            put1(b, '=');
            put_escaped(b, scratch[i].value, scratch[i].vlen, 0);
        }
        put1(b, '\n');
    }
    return (ssize_t)b->len;
}

ssize_t cache_key_build(const conf_cache_policy_t *pol, const cache_key_request_t *req, char *buf, size_t cap)
{
    kitem_t scratch[CACHE_KEY_MAX_ITEMS];
    kbuf_t b = {buf, 0, cap};
    return build(pol, req, &b, scratch, CACHE_KEY_MAX_ITEMS);
}

static size_t count_byte(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i)
        n += s[i] == c;
    return n;
}

h2o_iovec_t cache_key_build_pool(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, const cache_key_request_t *req)
{
    /* enough scratch for every '&'-separated parameter and every ';'-separated cookie */
    size_t items = count_byte(req->path.base, req->path.len, '&') + 1, cookies = 0;
    for (size_t i = 0; req->headers != NULL && i != req->headers->size; ++i)
        if (is_cookie(req->headers->entries + i))
            cookies += count_byte(req->headers->entries[i].value.base, req->headers->entries[i].value.len, ';') + 1;
    if (cookies > items)
        items = cookies;
    kitem_t *scratch = h2o_mem_alloc_pool(pool, sizeof(*scratch) * items);

    /* one pass in the common case: a guess that holds the key unless listed headers or cookies are long */
    size_t cap = 64 + 3 * (req->host.len + req->path.len);
    kbuf_t b = {h2o_mem_alloc_pool(pool, cap), 0, cap};
    ssize_t len = build(pol, req, &b, scratch, items);
    EDGE_ASSERT(len >= 0);
    if ((size_t)len > cap) {
        b = (kbuf_t){h2o_mem_alloc_pool(pool, (size_t)len), 0, (size_t)len};
        build(pol, req, &b, scratch, items);
    }
    return h2o_iovec_init(b.p, (size_t)len);
}

h2o_iovec_t cache_key_url(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, h2o_iovec_t path)
{
    size_t items = count_byte(path.base, path.len, '&') + 1, cap = 3 * path.len + 1;
    kitem_t *scratch = h2o_mem_alloc_pool(pool, sizeof(*scratch) * items);
    kbuf_t b = {h2o_mem_alloc_pool(pool, cap), 0, cap};
    put_url(&b, pol, path, scratch, items);
    EDGE_ASSERT(b.len <= cap);
    return h2o_iovec_init(b.p, b.len);
}

h2o_iovec_t cache_key_query(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, h2o_iovec_t query)
{
    size_t items = count_byte(query.base, query.len, '&') + 1, cap = 3 * query.len + 1;
    kitem_t *scratch = h2o_mem_alloc_pool(pool, sizeof(*scratch) * items);
    kbuf_t b = {h2o_mem_alloc_pool(pool, cap), 0, cap};
    ssize_t n = collect_query(pol, query.base, query.len, scratch, items);
    put_query(&b, scratch, n > 0 ? (size_t)n : 0);
    EDGE_ASSERT(b.len <= cap);
    return h2o_iovec_init(b.p, b.len);
}

/* the n-th (0-based) '\n'-terminated entry of a key */
static h2o_iovec_t key_entry(h2o_iovec_t key, int n)
{
    const char *p = key.base, *end = key.base + key.len;
    for (;;) {
        const char *nl = p < end ? memchr(p, '\n', end - p) : NULL;
        if (nl == NULL)
            return h2o_iovec_init(NULL, 0);
        if (n-- == 0)
            return h2o_iovec_init(p, nl - p);
        p = nl + 1;
    }
}

h2o_iovec_t cache_key_url_of(h2o_iovec_t key)
{
    return key_entry(key, 2);
}

h2o_iovec_t cache_key_host_of(h2o_iovec_t key)
{
    return key_entry(key, 1);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* hashes                                                                                                               */

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), written from the paper's description: four 64-bit
 * words of state initialised from the 128-bit key and four constants ("somepseudorandomlygeneratedbytes"); each 8-byte
 * little-endian message word m is xored into v3, followed by c SipRounds, then xored into v0; the last word holds the 0-7
 * remaining bytes and the length mod 256 in its top byte; finalisation xors 0xff into v2, runs d SipRounds and returns the
 * xor of the four words. */

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state_t;

/* the paper's SipRound: additions, rotations and xors in two interleaved halves */
static inline __attribute__((always_inline)) void sip_round(sip_state_t *s)
{
    s->v0 += s->v1;
    s->v2 += s->v3;
    s->v1 = SIP_ROTL(s->v1, 13);
    s->v3 = SIP_ROTL(s->v3, 16);
    s->v1 ^= s->v0;
    s->v3 ^= s->v2;
    s->v0 = SIP_ROTL(s->v0, 32);
    s->v2 += s->v1;
    s->v0 += s->v3;
    s->v1 = SIP_ROTL(s->v1, 17);
    s->v3 = SIP_ROTL(s->v3, 21);
    s->v1 ^= s->v2;
    s->v3 ^= s->v0;
    s->v2 = SIP_ROTL(s->v2, 32);
}

static inline __attribute__((always_inline)) void sip_word(sip_state_t *s, uint64_t m, int crounds)
{
    s->v3 ^= m;
    for (int r = 0; r != crounds; ++r)
        sip_round(s);
    s->v0 ^= m;
}

/* SipHash-c-d; c and d are constants at every call, so the rounds unroll */
static inline __attribute__((always_inline)) uint64_t sip_hash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t len,
                                                               int crounds, int drounds)
{
    sip_state_t s = {k0 ^ UINT64_C(0x736f6d6570736575), k1 ^ UINT64_C(0x646f72616e646f6d), k0 ^ UINT64_C(0x6c7967656e657261),
                     k1 ^ UINT64_C(0x7465646279746573)};
    size_t n = len;
    for (; n >= 8; n -= 8, p += 8)
        sip_word(&s, read_le64(p), crounds);
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i != n; ++i)
        last |= (uint64_t)p[i] << (8 * i);
    sip_word(&s, last, crounds);
    s.v2 ^= 0xff;
    for (int r = 0; r != drounds; ++r)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t cache_key_siphash13(const unsigned char key[16], const void *data, size_t len)
{
    return sip_hash(read_le64(key), read_le64(key + 8), data, len, 1, 3);
}

uint64_t cache_key_siphash24(const unsigned char key[16], const void *data, size_t len)
{
    return sip_hash(read_le64(key), read_le64(key + 8), data, len, 2, 4);
}

/* the process's key: drawn once, before the first hash (hash_seeded is set, with release order, after both halves) */
static uint64_t hash_k0, hash_k1;
static _Atomic int hash_seeded;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static int fill_random(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(buf + got, len - got, 0); /* blocks only until the kernel's pool is initialised, once per boot */
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == len)
        return 0;
    /* a kernel without getrandom (before 3.17): the same pool through the device */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got == len ? 0 : -1;
}

static void hash_seed_once(void)
{
    unsigned char seed[16];
    if (fill_random(seed, sizeof(seed)) != 0) {
        /* an unkeyed hash would let a client aim every key at one chain: refuse to run without one */
        fprintf(stderr, "cache: no random bytes for the cache key hash (getrandom and /dev/urandom failed)\n");
        abort();
    }
    hash_k0 = read_le64(seed);
    hash_k1 = read_le64(seed + 8);
    atomic_store_explicit(&hash_seeded, 1, memory_order_release);
}

void cache_key_hash_seed(void)
{
    pthread_once(&hash_once, hash_seed_once);
}

uint64_t cache_key_hash(const void *data, size_t len)
{
    if (__builtin_expect(!atomic_load_explicit(&hash_seeded, memory_order_acquire), 0))
        cache_key_hash_seed();
    return sip_hash(hash_k0, hash_k1, data, len, 1, 3);
}

/* The fixed hash: one multiply-rotate-multiply round per 8-byte word, then a finaliser that spreads every bit over the output.
 * Each round is a bijection of the state for a given word (and of the word for a given state), so inputs of one length that
 * differ in a single word never collide. Constants: fractional bits of the golden ratio, sqrt(2), sqrt(3), sqrt(5). */

#define HASH_P1 0x9E3779B97F4A7C15ULL
#define HASH_P2 0xBB67AE8584CAA73BULL
#define HASH_P3 0x6A09E667F3BCC909ULL
#define HASH_P4 0x3C6EF372FE94F82BULL

static uint64_t hash_round(uint64_t h, uint64_t w)
{
    h ^= w * HASH_P1;
    h = (h << 31) | (h >> 33);
    return h * HASH_P2;
}

uint64_t cache_key_hash_fixed(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = HASH_P3 ^ ((uint64_t)len * HASH_P4);
    size_t n = len;
    for (; n >= 8; n -= 8, p += 8)
        h = hash_round(h, read_le64(p));
    if (n != 0) {
        unsigned char tail[8] = {0};
        memcpy(tail, p, n);
        h = hash_round(h, read_le64(tail));
    }
    h ^= h >> 32;
    h *= HASH_P3;
    h ^= h >> 29;
    h *= HASH_P4;
    h ^= h >> 32;
    return h;
}
