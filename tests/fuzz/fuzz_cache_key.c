/* tests/fuzz/fuzz_cache_key.c - libFuzzer target: the cache key (cache/key.c) and the pure caching rules (cache/policy.c)
 *
 * Input: 64 control bytes (modes, status, times, TTLs), then parts separated by NUL bytes: host, request-target, the policy's
 * query, header and cookie name lists (comma-separated), request headers, response headers, a 304's headers ("name:value" lines
 * separated by 0x01), method, a Range value, an If-None-Match list. Every header value and name list entry is copied to memory
 * of its exact size, so ASan sees any read past it.
 *
 * Properties. Key: cache_key_build() gives the same length and bytes whatever the buffer (too small, exact) and equals
 * cache_key_build_pool(); the key is '\n'-terminated entries BEHAVIOR, HOST, URL, one "h:" per policy header, then "c:" ones
 * (none when cookies are off); cache_key_url_of/host_of/cache_key_url/cache_key_query agree with it; the query is sorted by
 * name, absent when the query mode is none; normalising a URL twice changes nothing; the hash does not depend on alignment.
 * Policy: Cache-Control parsing never reads outside its bytes, its values are in range, and the first occurrence of a
 * directive wins when field lines are combined; CDN-Cache-Control read as a Structured Field means the same when its line is
 * repeated and leaves nothing when invalid; Accept-Language's normal form is no longer than the value and idempotent; dates parse to whole seconds from 1970 and read back from their IMF-fixdate
 * form; cache_policy_evaluate() gives a reason exactly when not storable, a lifetime within [min_ttl, max_ttl] where the
 * policy applies, no stale windows under no-cache/must-revalidate; freshness, cache_policy_use() and stale-if-error agree and
 * do not improve with time; a Range is inside the representation; Vary names are sorted, unique and lowercase; conditionals
 * are stripped and added as documented; a stored response's own ETag matches it; invalidation gives at most
 * CACHE_INVALIDATE_MAX distinct URIs.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cache/key.h"
#include "cache/policy.h"
#include "tests/fuzz/fuzz_check.h"

enum { P_CTL, P_HOST, P_PATH, P_QNAMES, P_HNAMES, P_CNAMES, P_REQH, P_RESH, P_304, P_METHOD, P_RANGE, P_INM, P_NUM };

/* exact-size copies, freed after each input */
static void *allocs[4096];
static size_t num_allocs;

static void *track(void *p)
{
    FUZZ_CHECK(p != NULL && num_allocs < sizeof(allocs) / sizeof(allocs[0]), "too many copies");
    allocs[num_allocs++] = p;
    return p;
}

/* len bytes of s (s NULL: uninitialised memory) */
static char *copy(const char *s, size_t len)
{
    char *p = track(malloc(len != 0 ? len : 1));
    if (s != NULL && len != 0)
        memcpy(p, s, len);
    return p;
}

static char *copy_str(const char *s, size_t len)
{
    char *p = copy(NULL, len + 1);
    if (len != 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i != n; ++i)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* a comma-separated list of names (C strings, as the config gives them; a NUL cannot occur in a part) */
static conf_namelist_t names_of(fuzz_part_t part)
{
    conf_namelist_t l = {NULL, 0};
    if (part.len == 0)
        return l;
    size_t n = 1;
    for (size_t i = 0; i != part.len; ++i)
        n += part.base[i] == ',';
    if (n > 64)
        n = 64;
    l.names = track(malloc(sizeof(char *) * n));
    const char *p = part.base, *end = part.base + part.len;
    while (l.count != n) {
        const char *c = memchr(p, ',', end - p);
        if (c == NULL || l.count + 1 == n)
            c = end;
        l.names[l.count++] = copy_str(p, c - p);
        p = c < end ? c + 1 : end;
    }
    return l;
}

/* "name:value" lines separated by 0x01; names lowercased (as h2o's parsers give them), interned as tokens when `intern` */
static h2o_headers_t headers_of(h2o_mem_pool_t *pool, fuzz_part_t part, int intern)
{
    h2o_headers_t hs = {NULL, 0, 0};
    const char *p = part.base, *end = part.base + part.len;
    while (p < end && hs.size < 64) {
        const char *nl = memchr(p, 0x01, end - p), *le_ = nl != NULL ? nl : end;
        const char *colon = memchr(p, ':', le_ - p);
        if (colon != NULL && colon != p) {
            char *name = copy(p, colon - p);
            for (size_t i = 0; i != (size_t)(colon - p); ++i)
                name[i] = (char)h2o_tolower((unsigned char)name[i]);
            const char *v = colon + 1;
            h2o_add_header_by_str(pool, &hs, name, colon - p, intern, NULL, copy(v, le_ - v), le_ - v);
        }
        p = le_ + 1;
    }
    return hs;
}

static int iov_eq(h2o_iovec_t a, h2o_iovec_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n != 0 ? memcmp(a, b, n) : 0;
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* ---- the key ---------------------------------------------------------------------------------------------------------------- */

static void check_key(h2o_mem_pool_t *pool, const conf_cache_policy_t *pol, const cache_key_request_t *req, int hash_seed)
{
    char small[8];
    ssize_t len = cache_key_build(pol, req, small, sizeof(small));
    h2o_iovec_t key = cache_key_build_pool(pool, pol, req);
    if (len < 0) {
        /* more than CACHE_KEY_MAX_ITEMS parameters or cookies: the pool variant has no limit */
        FUZZ_CHECK(key.len >= 4, "the pool key of a request with many items is empty");
    } else {
        FUZZ_CHECK((size_t)len == key.len, "cache_key_build says %zd, the pool key is %zu", len, key.len);
        char *exact = copy(NULL, (size_t)len);
        FUZZ_CHECK(cache_key_build(pol, req, exact, (size_t)len) == len, "length changed with the buffer");
        FUZZ_CHECK(len == 0 || memcmp(exact, key.base, (size_t)len) == 0, "cache_key_build and the pool key differ");
        if ((size_t)len <= sizeof(small))
            FUZZ_CHECK(memcmp(small, key.base, (size_t)len) == 0, "a key that fits differs");
        else
            FUZZ_CHECK(memcmp(small, key.base, sizeof(small)) == 0, "the prefix of a key that does not fit differs");
    }

    /* entries: BEHAVIOR \n HOST \n URL \n {h:...\n} {c:...\n} */
    FUZZ_CHECK(key.len != 0 && key.base[key.len - 1] == '\n', "the key does not end with a newline");
    size_t entry = 0, nh = pol != NULL ? pol->headers.count : 0;
    h2o_iovec_t entries[3];
    for (const char *p = key.base, *end = key.base + key.len; p < end; ++entry) {
        const char *nl = memchr(p, '\n', end - p);
        h2o_iovec_t e = h2o_iovec_init(p, nl - p);
        if (entry < 3)
            entries[entry] = e;
        else if (entry < 3 + nh)
            FUZZ_CHECK(e.len >= 2 && memcmp(e.base, "h:", 2) == 0, "entry %zu is not a header", entry);
        else
            FUZZ_CHECK(e.len >= 2 && memcmp(e.base, "c:", 2) == 0 && pol != NULL && pol->cookie_mode != CONF_KEY_NONE,
                       "entry %zu is not a cookie", entry);
        p = nl + 1;
    }
    FUZZ_CHECK(entry >= 3 + nh, "%zu entries, %zu headers in the policy", entry, nh);
    char num[32];
    snprintf(num, sizeof(num), "%zu", req->behavior);
    FUZZ_CHECK(entries[0].len == strlen(num) && memcmp(entries[0].base, num, entries[0].len) == 0, "behavior entry");
    FUZZ_CHECK(iov_eq(cache_key_host_of(key), entries[1]), "cache_key_host_of");
    for (size_t i = 0; i != entries[1].len; ++i) {
        if (entries[1].base[i] == '%') /* an escape: %XX in uppercase hex */
            i += 2;
        else
            FUZZ_CHECK(!(entries[1].base[i] >= 'A' && entries[1].base[i] <= 'Z'), "the host is not lowercased");
    }

    /* the URL part: the same through cache_key_url and cache_key_url_of; visible ASCII; sorted query */
    h2o_iovec_t url = cache_key_url(pool, pol, req->path);
    FUZZ_CHECK(iov_eq(url, entries[2]), "cache_key_url differs from the key's URL part");
    FUZZ_CHECK(iov_eq(cache_key_url_of(key), url), "cache_key_url_of");
    for (size_t i = 0; i != url.len; ++i)
        FUZZ_CHECK(url.base[i] > 0x20 && url.base[i] < 0x7f, "byte %02x in the URL part", (unsigned char)url.base[i]);
    const char *q = memchr(url.base, '?', url.len);
    const char *rq = memchr(req->path.base, '?', req->path.len);
    h2o_iovec_t query = q != NULL ? h2o_iovec_init(q + 1, url.base + url.len - q - 1) : h2o_iovec_init(NULL, 0);
    if (q != NULL) {
        FUZZ_CHECK(rq != NULL, "a query in the key of a request without one");
        FUZZ_CHECK(pol == NULL || pol->query_mode != CONF_KEY_NONE, "a query with query mode none");
        FUZZ_CHECK(query.len != 0, "an empty query keeps its '?'");
        const char *prev = NULL;
        size_t prev_len = 0;
        for (const char *p = query.base, *end = query.base + query.len; p <= end;) {
            const char *amp = memchr(p, '&', end - p);
            if (amp == NULL)
                amp = end;
            FUZZ_CHECK(amp != p, "an empty parameter in the key");
            const char *eq = memchr(p, '=', amp - p);
            size_t nlen = (eq != NULL ? eq : amp) - p;
            if (prev != NULL)
                FUZZ_CHECK(cmp_bytes(prev, prev_len, p, nlen) <= 0, "the query is not sorted: %.*s before %.*s", (int)prev_len,
                           prev, (int)nlen, p);
            prev = p;
            prev_len = nlen;
            p = amp + 1;
        }
    }
    if (rq != NULL) {
        h2o_iovec_t kq = cache_key_query(pool, pol, h2o_iovec_init(rq + 1, req->path.base + req->path.len - rq - 1));
        FUZZ_CHECK(iov_eq(kq, query), "cache_key_query differs from the key's query");
    }
    /* normalising is idempotent, so a purge by the URL of a key finds it, and two requests share a key only when they are
     * equivalent (a '%' that starts no valid escape is written %25, so "%%32F" is not the key of "%2F") */
    {
        h2o_iovec_t again = cache_key_url(pool, pol, url);
        FUZZ_CHECK(iov_eq(again, url), "normalising twice changes the URL part: %.*s -> %.*s", (int)url.len, url.base,
                   (int)again.len, again.base);
    }

    /* the hash: deterministic, independent of alignment */
    char *shifted = copy(NULL, key.len + 8);
    memcpy(shifted + (hash_seed & 7), key.base, key.len);
    FUZZ_CHECK(cache_key_hash(key.base, key.len) == cache_key_hash(shifted + (hash_seed & 7), key.len),
               "hash depends on alignment");
}

/* ---- the policy ------------------------------------------------------------------------------------------------------------- */

static void check_cc_value(int64_t v, int any_ok)
{
    FUZZ_CHECK(v == CACHE_ABSENT || (v >= 0 && v <= INT64_C(2147483648) * 1000) || (any_ok && v == CACHE_CC_ANY), "duration %lld",
               (long long)v);
}

static void check_cc(const cache_cc_t *cc)
{
    check_cc_value(cc->max_age_ms, 0);
    check_cc_value(cc->s_maxage_ms, 0);
    check_cc_value(cc->swr_ms, 0);
    check_cc_value(cc->sie_ms, 0);
    check_cc_value(cc->max_stale_ms, 1);
    check_cc_value(cc->min_fresh_ms, 0);
}

/* the first occurrence wins: what `first` alone set stays when more lines follow */
static void check_cc_combining(const char *a, size_t alen, const char *b, size_t blen)
{
    cache_cc_t one, both;
    cache_cc_init(&one);
    cache_cc_parse_str(a, alen, &one);
    check_cc(&one);
    both = one;
    cache_cc_parse_str(b, blen, &both);
    check_cc(&both);
#define KEPT(f) FUZZ_CHECK(one.f == CACHE_ABSENT || one.f == both.f, #f " changed by a later line")
    KEPT(max_age_ms);
    KEPT(s_maxage_ms);
    KEPT(swr_ms);
    KEPT(sie_ms);
    KEPT(max_stale_ms);
    KEPT(min_fresh_ms);
#undef KEPT
#define FLAG(f) FUZZ_CHECK(!one.f || both.f, #f " lost")
    FLAG(present);
    FLAG(no_store);
    FLAG(no_cache);
    FLAG(private_);
    FLAG(public_);
    FLAG(must_revalidate);
    FLAG(proxy_revalidate);
    FLAG(no_transform);
    FLAG(immutable);
    FLAG(only_if_cached);
    FLAG(must_understand);
#undef FLAG
}

/* CDN-Cache-Control as a Structured Field Dictionary: values in range; a field of one line and of that line twice are valid
 * or invalid together and mean the same (a repeated key: the later wins); an invalid field leaves no directive */
static void check_cdn_cc(h2o_mem_pool_t *pool, const char *v, size_t len)
{
    static h2o_iovec_t name = {"cdn-cache-control", sizeof("cdn-cache-control") - 1};
    h2o_header_t lines[2] = {{&name, NULL, h2o_iovec_init(v, len)}, {&name, NULL, h2o_iovec_init(v, len)}};
    h2o_headers_t one = {lines, 1, 1}, two = {lines, 2, 2};
    cache_cc_t a, b;
    int va = cache_cdn_cc_parse(&one, &a), vb = cache_cdn_cc_parse(&two, &b);
    check_cc(&a);
    FUZZ_CHECK(va == vb && memcmp(&a, &b, sizeof(a)) == 0, "a CDN-Cache-Control line means something else when repeated");
    FUZZ_CHECK(va == a.present, "return value and present disagree");
    if (!va)
        FUZZ_CHECK(a.max_age_ms == CACHE_ABSENT && !a.no_store && !a.private_, "an ignored field left a directive");
    (void)pool;
}

/* Accept-Language's normal form: never longer than the value, nothing to escape, and normal already (idempotent) */
static void check_accept_language(const char *v, size_t len)
{
    char *a = track(malloc(len + 1)), *b = track(malloc(len + 1));
    ssize_t n = cache_accept_language_normalise(v, len, a);
    if (n < 0)
        return;
    FUZZ_CHECK((size_t)n <= len, "the normal form grew: %zd > %zu", n, len);
    for (ssize_t i = 0; i != n; ++i)
        FUZZ_CHECK(isalnum((unsigned char)a[i]) || strchr("-*;=.,", a[i]) != NULL, "byte %02x in the normal form",
                   (unsigned char)a[i]);
    ssize_t m = cache_accept_language_normalise(a, (size_t)n, b);
    FUZZ_CHECK(m == n && memcmp(a, b, (size_t)n) == 0, "normalising twice changes it: %.*s / %.*s", (int)n, a, (int)(m < 0 ? 0 : m),
               b);
}

static void check_date(const char *s, size_t len)
{
    int64_t t = cache_policy_parse_date(s, len);
    if (t == CACHE_ABSENT)
        return;
    FUZZ_CHECK(t >= 0 && t % 1000 == 0 && t <= INT64_C(253402300800000), "date %lld", (long long)t);
    /* its IMF-fixdate reads back */
    time_t secs = (time_t)(t / 1000);
    struct tm tm;
    char buf[64];
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    FUZZ_CHECK(cache_policy_parse_date(buf, n) == t, "%s does not read back as %lld", buf, (long long)t);
}

static int has_header(const h2o_headers_t *hs, const char *name)
{
    for (size_t i = 0; i != hs->size; ++i)
        if (h2o_memis(hs->entries[i].name->base, hs->entries[i].name->len, name, strlen(name)))
            return 1;
    return 0;
}

static void check_policy(h2o_mem_pool_t *pool, const uint8_t *ctl, const conf_cache_policy_t *behavior, fuzz_part_t *parts,
                         h2o_headers_t *reqh, h2o_headers_t *resh, h2o_headers_t *r304)
{
    /* times: a plausible clock (2020..2090), the response after the request, now after the response */
    int64_t request_time = INT64_C(1577836800000) + (int64_t)le(ctl + 32, 5);
    int64_t response_time = request_time + (int64_t)le(ctl + 37, 3);
    int64_t now = response_time + (int64_t)le(ctl + 40, 5);
    int status = 100 + (int)(le(ctl + 4, 2) % 500);
    h2o_iovec_t method = h2o_iovec_init(copy(parts[P_METHOD].base, parts[P_METHOD].len), parts[P_METHOD].len);
    cache_policy_t pol;
    cache_policy_init(&pol, (ctl[3] & 8) ? NULL : behavior, (int64_t)le(ctl + 45, 3) - 1, (int64_t)le(ctl + 48, 3) - 1);

    /* Cache-Control of every header line, alone and combined with the next one; dates of every line */
    for (size_t i = 0; i != resh->size; ++i) {
        const h2o_iovec_t *a = &resh->entries[i].value, *b = &resh->entries[(i + 1) % resh->size].value;
        check_cc_combining(a->base, a->len, b->base, b->len);
        check_cdn_cc(pool, a->base, a->len);
        check_accept_language(a->base, a->len);
        check_date(a->base, a->len);
    }
    for (size_t i = 0; i != reqh->size; ++i)
        check_date(reqh->entries[i].value.base, reqh->entries[i].value.len);

    cache_decision_t d;
    cache_policy_evaluate(&pol, method, (ctl[3] & 16) ? NULL : reqh, status, resh, request_time, response_time, &d);
    FUZZ_CHECK(d.storable == (d.reason == NULL), "storable %d with reason %s", d.storable, d.reason != NULL ? d.reason : "NULL");
    FUZZ_CHECK(d.lifetime_ms >= 0 && d.swr_ms >= 0 && d.sie_ms >= 0 && d.initial_age_ms >= 0 && d.date_ms >= 0, "negative time");
    FUZZ_CHECK(d.request_time_ms == request_time && d.response_time_ms == response_time, "times not kept");
    if (d.no_cache || d.must_revalidate)
        FUZZ_CHECK(d.swr_ms == 0 && d.sie_ms == 0, "a stale window under no-cache or must-revalidate");
    if (pol.max_ttl_ms != CACHE_ABSENT)
        FUZZ_CHECK(d.lifetime_ms <= pol.max_ttl_ms || pol.min_ttl_ms > pol.max_ttl_ms, "lifetime %lld above max_ttl %lld",
                   (long long)d.lifetime_ms, (long long)pol.max_ttl_ms);
    if (pol.min_ttl_ms != CACHE_ABSENT &&
        (d.source == CACHE_LIFETIME_S_MAXAGE || d.source == CACHE_LIFETIME_MAX_AGE || d.source == CACHE_LIFETIME_EXPIRES ||
         d.source == CACHE_LIFETIME_DEFAULT_TTL || d.source == CACHE_LIFETIME_HEURISTIC))
        FUZZ_CHECK(d.lifetime_ms >= pol.min_ttl_ms || (pol.max_ttl_ms != CACHE_ABSENT && pol.max_ttl_ms < pol.min_ttl_ms),
                   "lifetime %lld below min_ttl %lld", (long long)d.lifetime_ms, (long long)pol.min_ttl_ms);
    if (!pol.enabled)
        FUZZ_CHECK(!d.storable, "stored with caching off");

    /* freshness over time: use() and stale-if-error agree with the ttl and never get better later */
    cache_cc_t reqcc;
    cache_cc_parse(reqh, H2O_TOKEN_CACHE_CONTROL, &reqcc);
    check_cc(&reqcc);
    cache_use_t prev_use = CACHE_USE_FRESH;
    int prev_sie = 1;
    int64_t prev_ttl = INT64_MAX;
    for (int k = 0; k != 4; ++k) {
        int64_t t = now + (int64_t)k * (int64_t)(le(ctl + 51, 3) + 1) * 1000;
        int64_t ttl = cache_policy_ttl(&d, t);
        cache_use_t u = cache_policy_use(&d, NULL, t);
        int sie = cache_policy_stale_if_error(&d, NULL, t);
        FUZZ_CHECK(ttl <= prev_ttl, "the ttl grew with time");
        FUZZ_CHECK((u == CACHE_USE_FRESH) == (!d.no_cache && ttl > 0), "use %d with ttl %lld", (int)u, (long long)ttl);
        FUZZ_CHECK(!(u == CACHE_USE_FRESH) || sie, "fresh but not usable on error");
        FUZZ_CHECK(u >= prev_use, "use got better with time: %d then %d", (int)prev_use, (int)u); /* fresh, stale, revalidate */
        FUZZ_CHECK(!sie || prev_sie, "stale-if-error got better with time");
        FUZZ_CHECK(cache_policy_age_header_seconds(&d, t) >= 0, "negative Age");
        (void)cache_policy_use(&d, &reqcc, t);
        (void)cache_policy_stale_if_error(&d, &reqcc, t);
        prev_use = u;
        prev_sie = sie;
        prev_ttl = ttl;
    }

    /* Vary */
    cache_vary_t vary;
    h2o_iovec_t vkey;
    cache_vary_parse(pool, resh, &vary);
    for (size_t i = 0; i != vary.count; ++i) {
        FUZZ_CHECK(vary.names[i].len != 0, "an empty Vary name");
        for (size_t j = 0; j != vary.names[i].len; ++j)
            FUZZ_CHECK(!(vary.names[i].base[j] >= 'A' && vary.names[i].base[j] <= 'Z'), "a Vary name is not lowercase");
        if (i != 0)
            FUZZ_CHECK(cmp_bytes(vary.names[i - 1].base, vary.names[i - 1].len, vary.names[i].base, vary.names[i].len) < 0,
                       "Vary names not sorted and unique");
    }
    int vr = cache_vary_key(pool, &vary, reqh, &vkey);
    FUZZ_CHECK(vr == (vary.star ? -1 : 0), "cache_vary_key returned %d", vr);
    int names_have_nl =
        0; /* names are not escaped (a Vary value from an origin has no control bytes: the head parser refuses them) */
    for (size_t i = 0; i != vary.count; ++i)
        names_have_nl |= memchr(vary.names[i].base, '\n', vary.names[i].len) != NULL;
    if (vr == 0 && !names_have_nl) {
        size_t lines = 0;
        for (size_t i = 0; i != vkey.len; ++i)
            lines += vkey.base[i] == '\n';
        FUZZ_CHECK(lines == vary.count && (vkey.len == 0 || vkey.base[vkey.len - 1] == '\n'), "vary key of %zu lines for %zu names",
                   lines, vary.count);
    }

    /* validators, If-None-Match, conditionals, 304 */
    cache_validators_t v;
    cache_policy_validators(resh, &v);
    if (v.etag.len != 0) {
        FUZZ_CHECK(cache_policy_etag_matches(h2o_iovec_init(H2O_STRLIT("*")), v.etag, 0), "* does not match");
        int quoted = v.etag.len >= 2 && v.etag.base[0] == '"' && v.etag.base[v.etag.len - 1] == '"' &&
                     memchr(v.etag.base + 1, '"', v.etag.len - 2) == NULL && memchr(v.etag.base, ',', v.etag.len) == NULL;
        if (quoted) {
            FUZZ_CHECK(cache_policy_etag_matches(v.etag, v.etag, 1) && cache_policy_etag_matches(v.etag, v.etag, 0),
                       "a strong ETag does not match itself");
            char *w = copy(NULL, v.etag.len + 2);
            memcpy(w, "W/", 2);
            memcpy(w + 2, v.etag.base, v.etag.len);
            FUZZ_CHECK(cache_policy_etag_matches(h2o_iovec_init(w, v.etag.len + 2), v.etag, 1), "W/ does not match weakly");
            FUZZ_CHECK(!cache_policy_etag_matches(h2o_iovec_init(w, v.etag.len + 2), v.etag, 0), "W/ matches strongly");
        }
    }
    h2o_iovec_t inm = h2o_iovec_init(copy(parts[P_INM].base, parts[P_INM].len), parts[P_INM].len);
    (void)cache_policy_etag_matches(inm, v.etag, ctl[3] & 1);
    cache_cond_t cond = cache_policy_conditional(method, reqh, status, &v);
    FUZZ_CHECK(cond == CACHE_COND_PASS || cond == CACHE_COND_NOT_MODIFIED || cond == CACHE_COND_PRECONDITION_FAILED, "cond %d",
               (int)cond);
    if (status < 200 || status > 299)
        FUZZ_CHECK(cond == CACHE_COND_PASS, "a precondition on a non-2xx response");

    h2o_headers_t origin_reqh = {NULL, 0, 0};
    for (size_t i = 0; i != reqh->size; ++i)
        h2o_add_header_by_str(pool, &origin_reqh, reqh->entries[i].name->base, reqh->entries[i].name->len, 1, NULL,
                              reqh->entries[i].value.base, reqh->entries[i].value.len);
    size_t added = cache_policy_add_conditionals(pool, resh, &origin_reqh);
    FUZZ_CHECK(added <= 2, "%zu conditionals added", added);
    size_t conds = 0;
    for (size_t i = 0; i != origin_reqh.size; ++i) {
        const h2o_iovec_t *n = origin_reqh.entries[i].name;
        conds +=
            h2o_memis(n->base, n->len, H2O_STRLIT("if-none-match")) || h2o_memis(n->base, n->len, H2O_STRLIT("if-modified-since"));
        FUZZ_CHECK(!h2o_memis(n->base, n->len, H2O_STRLIT("if-match")) && !h2o_memis(n->base, n->len, H2O_STRLIT("if-range")) &&
                       !h2o_memis(n->base, n->len, H2O_STRLIT("if-unmodified-since")),
                   "a client conditional survived");
    }
    FUZZ_CHECK(conds == added, "%zu conditionals, %zu added", conds, added);
    FUZZ_CHECK(cache_policy_strip_conditionals(&origin_reqh) == added && !has_header(&origin_reqh, "if-none-match"),
               "strip after add");

    (void)cache_policy_304_selects(resh, r304);
    h2o_headers_t merged;
    cache_policy_merge_304(pool, resh, r304, &merged);
    for (size_t i = 0; i != merged.size; ++i) {
        const h2o_iovec_t *n = merged.entries[i].name;
        FUZZ_CHECK(!h2o_memis(n->base, n->len, H2O_STRLIT("transfer-encoding")) || has_header(resh, "transfer-encoding"),
                   "a 304's Transfer-Encoding merged");
    }
    cache_decision_t d2;
    cache_policy_evaluate(&pol, method, reqh, status, &merged, response_time, now, &d2);
    FUZZ_CHECK(d2.storable == (d2.reason == NULL), "merged: storable %d", d2.storable);
    cache_policy_strip_targeted(&merged);
    for (size_t i = 0; i != merged.size; ++i)
        FUZZ_CHECK(!cache_policy_is_targeted_header(merged.entries[i].name), "a targeted field survived the strip");

    /* Range */
    uint64_t length = le(ctl + 54, 5), start = 0, end = 0;
    h2o_iovec_t range = h2o_iovec_init(copy(parts[P_RANGE].base, parts[P_RANGE].len), parts[P_RANGE].len);
    cache_range_result_t rr = cache_policy_parse_range(range.base, range.len, length, &start, &end);
    if (rr == CACHE_RANGE_PARTIAL)
        FUZZ_CHECK(start <= end && end < length, "range %llu-%llu of %llu", (unsigned long long)start, (unsigned long long)end,
                   (unsigned long long)length);
    rr = cache_policy_range(method, reqh, status, length, &v, &start, &end);
    if (rr == CACHE_RANGE_PARTIAL)
        FUZZ_CHECK(start <= end && end < length && status == 200, "range %llu-%llu of %llu", (unsigned long long)start,
                   (unsigned long long)end, (unsigned long long)length);

    /* invalidation */
    h2o_iovec_t uris[CACHE_INVALIDATE_MAX];
    h2o_iovec_t host = h2o_iovec_init(copy(parts[P_HOST].base, parts[P_HOST].len), parts[P_HOST].len);
    h2o_iovec_t path = h2o_iovec_init(copy(parts[P_PATH].base, parts[P_PATH].len), parts[P_PATH].len);
    size_t ni = cache_policy_invalidations(pool, method, status, (ctl[3] & 1) ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP, host,
                                           path, resh, uris);
    FUZZ_CHECK(ni <= CACHE_INVALIDATE_MAX, "%zu invalidations", ni);
    if (cache_policy_method_is_safe(method))
        FUZZ_CHECK(ni == 0, "a safe method invalidates");
    for (size_t i = 0; i != ni; ++i)
        for (size_t j = 0; j != i; ++j)
            FUZZ_CHECK(!iov_eq(uris[i], uris[j]), "invalidation %zu repeats %zu", i, j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t parts[P_NUM];
    uint8_t ctl[64] = {0};
    h2o_mem_pool_t pool;

    size_t nctl = size < sizeof(ctl) ? size : sizeof(ctl);
    memcpy(ctl, data, nctl);
    parts[P_CTL] = (fuzz_part_t){(const char *)data, nctl};
    fuzz_split(data + nctl, size - nctl, '\0', parts + 1, P_NUM - 1);
    h2o_mem_init_pool(&pool);
    num_allocs = 0;

    /* the behavior's cache settings */
    conf_cache_policy_t behavior;
    memset(&behavior, 0, sizeof(behavior));
    behavior.enabled = !(ctl[3] & 4);
    behavior.query_mode = (conf_key_mode_t)(ctl[0] & 3);
    behavior.cookie_mode = (conf_key_mode_t)(ctl[1] & 3);
    behavior.query = names_of(parts[P_QNAMES]);
    behavior.headers = names_of(parts[P_HNAMES]);
    behavior.cookies = names_of(parts[P_CNAMES]);
    /* TTLs: 0xffffff is unset (-1), else seconds; min <= default <= max as the config loader requires is not assumed */
    int64_t *ttls[] = {&behavior.min_ttl_ms,        &behavior.default_ttl_ms,
                       &behavior.max_ttl_ms,        &behavior.stale_while_revalidate_ms,
                       &behavior.stale_if_error_ms, &behavior.error_ttl_ms};
    for (size_t i = 0; i != sizeof(ttls) / sizeof(ttls[0]); ++i) {
        uint64_t v = le(ctl + 8 + 4 * i, 3);
        *ttls[i] = v == 0xffffff ? -1 : (int64_t)v * 1000;
    }

    h2o_headers_t reqh = headers_of(&pool, parts[P_REQH], !(ctl[3] & 2));
    h2o_headers_t resh = headers_of(&pool, parts[P_RESH], !(ctl[3] & 2));
    h2o_headers_t r304 = headers_of(&pool, parts[P_304], !(ctl[3] & 2));

    cache_key_request_t req = {ctl[2], h2o_iovec_init(copy(parts[P_HOST].base, parts[P_HOST].len), parts[P_HOST].len),
                               h2o_iovec_init(copy(parts[P_PATH].base, parts[P_PATH].len), parts[P_PATH].len),
                               (ctl[3] & 32) ? NULL : &reqh};
    check_key(&pool, (ctl[3] & 64) ? NULL : &behavior, &req, ctl[5]);
    check_policy(&pool, ctl, &behavior, parts, &reqh, &resh, &r304);

    h2o_mem_clear_pool(&pool);
    for (size_t i = 0; i != num_allocs; ++i)
        free(allocs[i]);
    return 0;
}
