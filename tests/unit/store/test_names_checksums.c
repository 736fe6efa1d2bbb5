/* tests/unit/store/test_names_checksums.c - bucket names S3 reserves (the store and store.seed), CRC64/NVME and the
 * x-amz-checksum-* checks DeleteObjects applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "conf/config.h"
#include "base/str.h"
#include "store/checksum.h"
#include "store/fs.h"

static int valid(const char *name)
{
    return store_fs_valid_bucket_name(name, strlen(name));
}

static int reserved(const char *name)
{
    return store_fs_reserved_bucket_name(name, strlen(name));
}

static void test_reserved_bucket_names(void **state)
{
    static const char *const refused[] = {"xn--abc",      "xn--",       "sthree-abc", "sthree-configurator", "amzn-s3-demo-bucket",
                                          "abc-s3alias",  "abc--ol-s3", "abc.mrap",   "abc--x-s3",           "abc--table-s3",
                                          "xn--a-s3alias"};
    static const char *const fine[] = {"abc",         "xn-abc",  "axn--bc", "sthree",    "sthreeabc", "amzn-s3-demo",
                                       "s3alias-abc", "abc-s3a", "ol-s3ab", "abc-ol-s3", "mrap.abc",  "abc-x-s3"};
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i)
        if (!reserved(refused[i]))
            fail_msg("%s should be reserved", refused[i]);
    for (size_t i = 0; i != sizeof(fine) / sizeof(fine[0]); ++i)
        if (reserved(fine[i]))
            fail_msg("%s is not reserved", fine[i]);
    /* the syntax rule alone still takes them (existing buckets of such names stay usable) */
    assert_true(valid("xn--abc"));
    assert_true(valid("abc-s3alias"));
}

static void test_create_refuses_reserved(void **state)
{
    char tmpl[] = "/tmp/unit-store-names-XXXXXX", err[512];
    assert_non_null(mkdtemp(tmpl));
    store_fs_t *fs = NULL;
    if (store_fs_open(tmpl, &fs, err, sizeof(err)) != 0)
        fail_msg("store_fs_open: %s", err);
    assert_int_equal(store_fs_bucket_create(fs, "xn--abc"), STORE_FS_EINVAL);
    assert_int_equal(store_fs_bucket_create(fs, "abc--ol-s3"), STORE_FS_EINVAL);
    assert_int_equal(store_fs_bucket_create(fs, "amzn-s3-demo-x"), STORE_FS_EINVAL);
    assert_int_equal(store_fs_bucket_create(fs, "xn-abc"), 0);
    store_fs_close(fs);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
    assert_int_equal(system(cmd), 0);
}

/* store.seed takes the same rule (conf/config.c's valid_bucket_name) */
static void test_seed_refuses_reserved(void **state)
{
    static const char *const names[] = {"xn--site", "sthree-site", "site-s3alias", "site--ol-s3", "site.mrap"};
    char yaml[512], err[1024];
    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i) {
        int n = snprintf(yaml, sizeof(yaml),
                         "listen: [{host: 127.0.0.1, port: 0}]\norigins: {web: {type: http, url: "
                         "\"http://127.0.0.1:9\"}}\nbehaviors: [{path: \"*\", origin: web}]\n"
                         "store:\n  listen: {host: 127.0.0.1, port: 0}\n  seed: {bucket: %s, dir: tests}\n",
                         names[i]);
        conf_t *c = conf_load_string("t.yaml", yaml, (size_t)n, err, sizeof(err));
        if (c != NULL || strstr(err, "store.seed.bucket") == NULL || strstr(err, names[i]) == NULL)
            fail_msg("%s: %s", names[i], c != NULL ? "accepted" : err);
    }
    int n = snprintf(yaml, sizeof(yaml),
                     "listen: [{host: 127.0.0.1, port: 0}]\norigins: {web: {type: http, url: \"http://127.0.0.1:9\"}}\nbehaviors: "
                     "[{path: \"*\", origin: web}]\n"
                     "store:\n  listen: {host: 127.0.0.1, port: 0}\n  seed: {bucket: xn-site, dir: tests}\n");
    conf_t *c = conf_load_string("t.yaml", yaml, (size_t)n, err, sizeof(err));
    if (c == NULL)
        fail_msg("xn-site: %s", err);
    conf_free(c);
}

static void test_crc64nvme(void **state)
{
    /* the catalogue check value of CRC-64/NVME, and continuation across pieces */
    assert_true(store_checksum_crc64nvme(0, "123456789", 9) == 0xAE8B14860A799888ull);
    assert_true(store_checksum_crc64nvme(store_checksum_crc64nvme(0, "1234", 4), "56789", 5) == 0xAE8B14860A799888ull);
    assert_true(store_checksum_crc64nvme(0, "", 0) == 0);
}

static void b64_of(const uint8_t *raw, size_t n, char *out)
{
    edge_base64_encode(out, raw, n);
}

static void test_checksum_verify(void **state)
{
    static const char body[] = "<Delete><Object><Key>a</Key></Object></Delete>";
    size_t len = sizeof(body) - 1;
    char v[128];
    uint8_t d[64];
    unsigned int n;
    /* each algorithm: the right value matches, a flipped bit does not, a wrong length or bad base64 is invalid */
    struct {
        const char *alg;
        size_t size;
    } algs[] = {{"crc32", 4}, {"crc32c", 4}, {"crc64nvme", 8}, {"sha1", 20}, {"sha256", 32}};
    for (size_t i = 0; i != sizeof(algs) / sizeof(algs[0]); ++i) {
        const char *a = algs[i].alg;
        if (strcmp(a, "crc32") == 0 || strcmp(a, "crc32c") == 0) {
            uint32_t c = a[5] == 'c' ? store_checksum_crc32c(0, body, len) : store_checksum_crc32(0, body, len);
            d[0] = (uint8_t)(c >> 24), d[1] = (uint8_t)(c >> 16), d[2] = (uint8_t)(c >> 8), d[3] = (uint8_t)c;
        } else if (strcmp(a, "crc64nvme") == 0) {
            uint64_t c = store_checksum_crc64nvme(0, body, len);
            for (int k = 0; k != 8; ++k)
                d[k] = (uint8_t)(c >> (56 - 8 * k));
        } else {
            EVP_Digest(body, len, d, &n, a[3] == '1' ? EVP_sha1() : EVP_sha256(), NULL);
        }
        b64_of(d, algs[i].size, v);
        if (store_checksum_verify(a, v, strlen(v), body, len) != 1)
            fail_msg("%s: the right value does not match", a);
        d[0] ^= 1;
        b64_of(d, algs[i].size, v);
        if (store_checksum_verify(a, v, strlen(v), body, len) != 0)
            fail_msg("%s: a wrong value matches", a);
        b64_of(d, algs[i].size - 1, v);
        if (store_checksum_verify(a, v, strlen(v), body, len) != -1)
            fail_msg("%s: a short value is not refused", a);
    }
    assert_int_equal(store_checksum_verify("sha256", "not base64", 10, body, len), -1);
    assert_int_equal(store_checksum_verify("sha256", "", 0, body, len), -1);
    assert_int_equal(store_checksum_verify("md4", "AAAA", 4, body, len), -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserved_bucket_names), cmocka_unit_test(test_create_refuses_reserved),
        cmocka_unit_test(test_seed_refuses_reserved), cmocka_unit_test(test_crc64nvme),
        cmocka_unit_test(test_checksum_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
