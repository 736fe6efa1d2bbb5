/* tests/fuzz/fuzz_fleet_wire.c - libFuzzer target: what the fleet reads from etcd (proxy/fleetwire.c), from the bytes of a watch
 * stream on: the chunked body decoder (proxy/originhead.c), the split into messages at newlines, the JSON parser (hooks/json.c),
 * watch messages and range answers, keys under the prefix, alias, purge and version values (versions/HOOK/N, latest/HOOK).
 *
 * Input: byte 0 bit 0: the rest is a chunked watch body (else: one JSON document, a message and a range answer), bit 1: also
 * parse the rest whole as an alias value and a purge value. Properties: key slices lie inside the key and hold names without
 * '/' or control bytes (kv keys: any bytes, at most 512); an alias has 1 or 2 distinct versions >= 1 with weights in (0, 1]
 * summing to 1 and a NUL-free key; a purge has a known kind, a node and an argument (empty only for all) inside the document;
 * a failure has a reason; round trip: a key made of a prefix and valid names parses back to them.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/json.h"
#include "proxy/fleetwire.h"
#include "proxy/originhead.h"
#include "tests/fuzz/fuzz_check.h"

static const char PREFIX[] = "/edgehook/p";

static void check_name(const char *s, size_t len, int any)
{
    FUZZ_CHECK(len >= 1, "an empty name");
    if (any) {
        FUZZ_CHECK(len <= 512, "a kv key of %zu bytes", len);
        return;
    }
    FUZZ_CHECK(len <= FLEET_NAME_MAX, "a name of %zu bytes", len);
    for (size_t i = 0; i != len; ++i)
        FUZZ_CHECK(s[i] != '/' && (unsigned char)s[i] >= 0x20 && s[i] != 0x7f, "byte %zu of a name is 0x%02x", i, (unsigned char)s[i]);
}

static void check_key(const char *key, size_t klen)
{
    fleet_key_t k;
    fleet_key_kind_t kind = fleet_key_parse(PREFIX, key, klen, &k);
    FUZZ_CHECK(kind == k.kind, "the result and out->kind differ");
    if (kind == FLEET_KEY_OTHER)
        return;
    FUZZ_CHECK(k.a > key && k.a + k.alen <= key + klen, "a outside the key");
    check_name(k.a, k.alen, 0);
    if (kind == FLEET_KEY_ACK || kind == FLEET_KEY_ALIAS || kind == FLEET_KEY_KV || kind == FLEET_KEY_VERSION) {
        FUZZ_CHECK(k.b > k.a + k.alen && k.b + k.blen == key + klen, "b not the key's end");
        check_name(k.b, k.blen, kind == FLEET_KEY_KV);
        if (kind == FLEET_KEY_VERSION) {
            unsigned n = fleet_version_number(k.b, k.blen);
            char back[16];
            FUZZ_CHECK(n >= 1, "version key %.*s without a number", (int)k.blen, k.b);
            snprintf(back, sizeof(back), "%u", n);
            FUZZ_CHECK(strlen(back) == k.blen && memcmp(back, k.b, k.blen) == 0, "version %.*s read as %u", (int)k.blen, k.b, n);
        }
    } else {
        FUZZ_CHECK(k.a + k.alen == key + klen && k.b == NULL, "a not the key's end");
    }
}

static void check_values(const char *v, size_t len)
{
    fleet_alias_t a;
    fleet_purge_t p;
    hook_json_t *doc;
    char err[256] = "";
    if (fleet_alias_parse(v, len, &a, err, sizeof(err)) == 0) {
        FUZZ_CHECK(a.n == 1 || a.n == 2, "n = %zu", a.n);
        double sum = 0;
        for (size_t i = 0; i != a.n; ++i) {
            FUZZ_CHECK(a.versions[i] >= 1 && a.weights[i] > 0 && a.weights[i] <= 1, "version %u weight %g", a.versions[i], a.weights[i]);
            sum += a.weights[i];
        }
        FUZZ_CHECK(fabs(sum - 1) <= 1e-6, "weights sum to %g", sum);
        FUZZ_CHECK(a.n == 1 || a.versions[0] != a.versions[1], "the same version twice");
        FUZZ_CHECK(a.key[0] != '\0' && memchr(a.key, '\0', sizeof(a.key)) != NULL, "a bad key");
        for (size_t i = 0; i != 2; ++i)
            FUZZ_CHECK(a.sha256[i][0] == '\0' || (i < a.n && strlen(a.sha256[i]) == 64 && strspn(a.sha256[i], "0123456789abcdef") == 64),
                       "a bad sha256");
    } else {
        FUZZ_CHECK(err[0] != '\0' && a.n == 0, "an alias refused without a reason");
    }
    fleet_version_t ver;
    err[0] = '\0';
    if (fleet_version_parse(v, len, &doc, &ver, err, sizeof(err)) == 0) {
        FUZZ_CHECK(doc != NULL && ver.node != NULL && ver.size <= FLEET_CODE_MAX, "an incomplete version");
        FUZZ_CHECK(strlen(ver.sha256) == 64 && strspn(ver.sha256, "0123456789abcdef") == 64, "a bad sha256");
        check_name(ver.node, strlen(ver.node), 0);
        hook_json_free(doc);
    } else {
        FUZZ_CHECK(doc == NULL && err[0] != '\0' && ver.node == NULL, "a version refused without a reason");
    }
    err[0] = '\0';
    if (fleet_purge_parse(v, len, &doc, &p, err, sizeof(err)) == 0) {
        FUZZ_CHECK(doc != NULL && p.kind >= 0 && p.kind < 4 && p.node != NULL && p.arg != NULL, "an incomplete purge");
        FUZZ_CHECK(p.arglen > 0 || p.kind == 3, "an empty argument for %s", fleet_purge_kinds[p.kind]);
        check_name(p.node, strlen(p.node), 0);
        hook_json_free(doc);
    } else {
        FUZZ_CHECK(doc == NULL && err[0] != '\0', "a purge refused without a reason");
    }
}

static void check_msg(const char *text, size_t len)
{
    char err[128];
    hook_json_t *doc = hook_json_parse_max(text, len, 100000, err, sizeof(err));
    fleet_watch_msg_t m;
    if (doc == NULL)
        return;
    for (int range = 0; range <= 1; ++range) {
        if (range)
            fleet_range_decode(doc, &m);
        else
            fleet_watch_decode(doc, &m);
        FUZZ_CHECK(!range || (!m.error && !m.created && !m.canceled), "a range answer with watch flags");
        for (size_t i = 0; i != m.num_events; ++i) {
            const fleet_kv_t *e = &m.events[i];
            FUZZ_CHECK(e->key != NULL && e->val != NULL && e->key[e->klen] == '\0' && e->val[e->vlen] == '\0', "an unterminated event");
            FUZZ_CHECK(!range || !e->del, "a delete in a range");
            check_key(e->key, e->klen);
            check_values(e->val, e->vlen);
        }
        fleet_watch_free(&m);
    }
    hook_json_free(doc);
}

/* round trip: a key built from names parses back to them */
static void round_trip(const uint8_t *data, size_t size)
{
    char a[FLEET_NAME_MAX + 1], key[1024];
    size_t alen = 0;
    for (size_t i = 0; i != size && alen < 40; ++i)
        if (data[i] >= 0x21 && data[i] < 0x7f && data[i] != '/')
            a[alen++] = (char)data[i];
    if (alen == 0)
        return;
    a[alen] = '\0';
    int n = snprintf(key, sizeof(key), "%s/alias/%s/%s", PREFIX, a, a);
    fleet_key_t k;
    FUZZ_CHECK(fleet_key_parse(PREFIX, key, (size_t)n, &k) == FLEET_KEY_ALIAS, "%s is not an alias key", key);
    FUZZ_CHECK(k.alen == alen && memcmp(k.a, a, alen) == 0 && k.blen == alen && memcmp(k.b, a, alen) == 0, "%s parsed wrong", key);
    n = snprintf(key, sizeof(key), "%s/versions/%s/%u", PREFIX, a, (unsigned)(alen * 7919u));
    FUZZ_CHECK(fleet_key_parse(PREFIX, key, (size_t)n, &k) == FLEET_KEY_VERSION && fleet_version_number(k.b, k.blen) == alen * 7919u,
               "%s parsed wrong", key);
    n = snprintf(key, sizeof(key), "%s/latest/%s", PREFIX, a);
    FUZZ_CHECK(fleet_key_parse(PREFIX, key, (size_t)n, &k) == FLEET_KEY_LATEST && k.alen == alen, "%s parsed wrong", key);
    n = snprintf(key, sizeof(key), "%s/kv/%s/%s/x", PREFIX, a, a);
    FUZZ_CHECK(fleet_key_parse(PREFIX, key, (size_t)n, &k) == FLEET_KEY_KV && k.blen == alen + 2, "%s parsed wrong", key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int flags = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    round_trip(data + 1, len);
    check_key(in, len);
    if (flags & 2)
        check_values(in, len);
    if (!(flags & 1)) {
        check_msg(in, len);
        return 0;
    }
    /* a watch body: chunked, messages separated by newlines */
    char *buf = malloc(len + 1);
    origin_chunked_t ch;
    size_t n = len;
    if (len != 0)
        memcpy(buf, in, len);
    origin_chunked_init(&ch);
    ssize_t r = origin_chunked_decode(&ch, buf, &n);
    if (r != ORIGIN_CHUNKED_ERROR) {
        FUZZ_CHECK(n <= len, "more data than input");
        size_t start = 0;
        for (size_t i = 0; i != n; ++i)
            if (buf[i] == '\n') {
                check_msg(buf + start, i - start);
                start = i + 1;
            }
    }
    free(buf);
    return 0;
}
