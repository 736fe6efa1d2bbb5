/* cache_disk_crc (the three-lane CRC-32C of cache/disk.c) against the bitwise definition: many lengths, alignments and chained
 * starts, so records written before the three-lane loop still verify */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cache/disk.h"

static uint32_t crc_bitwise(uint32_t c, const uint8_t *p, size_t len)
{
    c = ~c;
    while (len-- != 0) {
        c ^= *p++;
        for (int k = 0; k != 8; ++k)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

static void test_crc_matches_definition(void **state)
{
    (void)state;
    size_t cap = 3 * 4096 * 3 + 3 * 256 * 2 + 64;
    uint8_t *buf = malloc(cap + 16);
    assert_non_null(buf);
    uint32_t x = 12345;
    for (size_t i = 0; i != cap + 16; ++i) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    static const size_t lens[] = {0,     1,     7,     8,     9,         255,       256,       767,       768,  769,
                                  1000,  3071,  3072,  4096,  3 * 4096 - 1, 3 * 4096, 3 * 4096 + 1, 3 * 4096 + 768, 30000,
                                  36864, 38400, 38401, 38470};
    for (size_t li = 0; li != sizeof(lens) / sizeof(lens[0]); ++li) {
        size_t len = lens[li];
        if (len > cap)
            continue;
        for (size_t off = 0; off != 9; ++off) {
            const uint8_t *p = buf + off;
            uint32_t want = crc_bitwise(0, p, len);
            assert_int_equal(cache_disk_crc(0, p, len), want);
            /* chained: any split point gives the same value */
            size_t cut = len / 3 + off;
            if (cut <= len)
                assert_int_equal(cache_disk_crc(cache_disk_crc(0, p, cut), p + cut, len - cut), want);
            /* a non-zero start */
            assert_int_equal(cache_disk_crc(0xdeadbeefu, p, len), crc_bitwise(0xdeadbeefu, p, len));
        }
    }
    /* one whole 1 MB buffer, as a disk block set is checked */
    size_t big = 1 << 20;
    uint8_t *b = malloc(big);
    assert_non_null(b);
    for (size_t i = 0; i != big; ++i) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    assert_int_equal(cache_disk_crc(0, b, big), crc_bitwise(0, b, big));
    assert_int_equal(cache_disk_crc(0, b + 5, big - 5), crc_bitwise(0, b + 5, big - 5));
    free(b);
    free(buf);
    assert_int_equal(cache_disk_crc(0, "123456789", 9), 0xe3069283u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_matches_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
