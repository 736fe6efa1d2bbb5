/* tests/fuzz/fuzz_check.h - what the libFuzzer targets of tests/fuzz share: a property check that crashes loudly, input splitting
 */
#ifndef EDGE_TESTS_FUZZ_CHECK_H
#define EDGE_TESTS_FUZZ_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** a broken property is a crash for libFuzzer: the input is saved as crash-* and the run fails */
#define FUZZ_CHECK(cond, ...)                                                                                                      \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                                                                          \
            fputc('\n', stderr);                                                                                                   \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

/** a slice of the fuzzer's input */
typedef struct fuzz_part {
    const char *base;
    size_t len;
} fuzz_part_t;

/** splits data at the first n-1 occurrences of sep into parts[0..n-1] (missing parts are empty); the last part takes the rest */
static inline void fuzz_split(const uint8_t *data, size_t size, char sep, fuzz_part_t *parts, size_t n)
{
    const char *p = (const char *)data, *end = p + size;
    for (size_t i = 0; i != n; ++i) {
        const char *q = i + 1 == n ? NULL : memchr(p, sep, (size_t)(end - p));
        parts[i].base = p;
        parts[i].len = q != NULL ? (size_t)(q - p) : (size_t)(end - p);
        p = q != NULL ? q + 1 : end;
    }
}

#endif
