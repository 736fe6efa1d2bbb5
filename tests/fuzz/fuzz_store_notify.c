/* tests/fuzz/fuzz_store_notify.c - libFuzzer target: bucket notification configurations (store/notifyconf.c), the XML body of
 * PutBucketNotificationConfiguration and the documents kept beside each bucket.
 *
 * Properties: any bytes are refused with an S3 error (status 400, a code, a message) or give at most 100 rules, each with a hook
 * name, at least one event and filters within a key's length; what the store answers for accepted rules (GetBucket...) parses
 * again into the same rules, and writing those gives the same bytes (the stored document is a fixed point); matching any key
 * never reads outside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "store/notifyconf.h"
#include "tests/fuzz/fuzz_check.h"

static void check_rules(const store_notify_rule_t *r, size_t n)
{
    FUZZ_CHECK(n <= STORE_NOTIFY_MAX_RULES, "%zu rules", n);
    for (size_t i = 0; i != n; ++i) {
        FUZZ_CHECK(r[i].function[0] != '\0', "a rule without a hook");
        FUZZ_CHECK(r[i].events != 0, "a rule without events");
        FUZZ_CHECK(r[i].id[0] != '\0' && strlen(r[i].id) <= STORE_NOTIFY_MAX_ID, "id");
        FUZZ_CHECK(r[i].prefix == NULL || strlen(r[i].prefix) <= 1024, "prefix");
        FUZZ_CHECK(r[i].suffix == NULL || strlen(r[i].suffix) <= 1024, "suffix");
    }
}

static int no_hook_named_missing(const char *name)
{
    return strcmp(name, "missing") != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_notify_rule_t *rules = NULL, *again = NULL;
    size_t n = 0, m = 0;
    store_notify_perr_t e = {0};
    if (store_notify_parse_config((const char *)data, size, no_hook_named_missing, &rules, &n, &e) != 0) {
        FUZZ_CHECK(e.status == 400 && e.code != NULL && e.message[0] != '\0', "a refusal without an S3 error");
        FUZZ_CHECK(rules == NULL && n == 0, "rules left after a refusal");
        return 0;
    }
    check_rules(rules, n);
    /* the key is the input itself: matching reads only within it */
    for (size_t i = 0; i != n; ++i)
        for (int k = 0; k != STORE_EV_NUM; ++k)
            (void)store_notify_rule_matches(&rules[i], (const char *)data, size, k);

    store_xml_t x1, x2;
    store_notify_write_config(&x1, rules, n);
    FUZZ_CHECK(!x1.failed, "write");
    store_notify_perr_t e2 = {0};
    FUZZ_CHECK(store_notify_parse_config(x1.buf.base, x1.buf.len, NULL, &again, &m, &e2) == 0,
               "the answer does not parse again: %s", e2.message);
    FUZZ_CHECK(m == n, "%zu rules became %zu", n, m);
    for (size_t i = 0; i != n; ++i) {
        FUZZ_CHECK(strcmp(rules[i].id, again[i].id) == 0 && strcmp(rules[i].arn, again[i].arn) == 0, "rule %zu changed", i);
        FUZZ_CHECK(rules[i].events == again[i].events && rules[i].given == again[i].given, "rule %zu's events changed", i);
    }
    store_notify_write_config(&x2, again, m);
    FUZZ_CHECK(!x2.failed && x1.buf.len == x2.buf.len && memcmp(x1.buf.base, x2.buf.base, x1.buf.len) == 0,
               "the stored document is not a fixed point");
    store_xml_free(&x1);
    store_xml_free(&x2);
    store_notify_rules_free(rules, n);
    store_notify_rules_free(again, m);
    return 0;
}
