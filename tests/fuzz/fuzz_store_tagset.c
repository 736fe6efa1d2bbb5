/* tests/fuzz/fuzz_store_tagset.c - the object tag parser (store/tagset.c): x-amz-tagging headers and stored tag sets.
 * Invariants: a parsed set has at most 10 tags, sorted, each within S3's limits; its stored form is made of unreserved characters,
 * %XX, '=' and '&' only, and parses back to the same set (the same stored form). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"
#include "store/tagset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_tagset_t ts, again;
    const char *err = NULL;
    if (store_tagset_parse(&ts, (const char *)data, size, &err) != 0) {
        FUZZ_CHECK(err != NULL && ts.n == 0, "tagset");
        return 0;
    }
    FUZZ_CHECK(ts.n <= STORE_MAX_TAGS, "tagset");
    for (size_t i = 0; i != ts.n; ++i) {
        FUZZ_CHECK(ts.tags[i].key_len >= 1 && ts.tags[i].key_len <= 128 * 4 && ts.tags[i].value_len <= 256 * 4, "tagset");
        if (i != 0) {
            size_t a = ts.tags[i - 1].key_len, b = ts.tags[i].key_len;
            int c = memcmp(ts.tags[i - 1].key, ts.tags[i].key, a < b ? a : b);
            FUZZ_CHECK(c < 0 || (c == 0 && a < b), "tagset");
        }
    }
    char *f = store_tagset_format(&ts);
    FUZZ_CHECK(f != NULL, "tagset");
    for (const char *p = f; *p != '\0'; ++p)
        FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~%=&", *p) != NULL, "tagset");
    FUZZ_CHECK(store_tagset_parse(&again, f, strlen(f), &err) == 0, "tagset");
    FUZZ_CHECK(again.n == ts.n, "tagset");
    char *g = store_tagset_format(&again);
    FUZZ_CHECK(g != NULL && strcmp(f, g) == 0, "tagset");
    free(f);
    free(g);
    store_tagset_free(&again);
    store_tagset_free(&ts);
    return 0;
}
