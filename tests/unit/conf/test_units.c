/* tests/unit/conf/test_units.c - size (`256MB`) and duration (`500ms`, `1h30m`) parsing of conf/units.c, table-driven */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "conf/config.h"

#define KB 1024ull
#define MB (1024ull * KB)
#define GB (1024ull * MB)
#define TB (1024ull * GB)

#define SEC 1000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

typedef struct {
    const char *in;
    int ok;
    uint64_t want;
} row_t;

static const row_t sizes[] = {
    /* bare numbers are bytes */
    {"0", 1, 0},
    {"1", 1, 1},
    {"1024", 1, 1024},
    {"18446744073709550000", 0, 0}, /* more than 1e18 digits-wise: refused before any rounding */
    {"512B", 1, 512},
    {"512b", 1, 512},
    /* binary multiples, any case, with or without B / iB, an optional space */
    {"1k", 1, KB},
    {"1K", 1, KB},
    {"1KB", 1, KB},
    {"1kb", 1, KB},
    {"1KiB", 1, KB},
    {"512KB", 1, 512 * KB},
    {"256MB", 1, 256 * MB},
    {"256mb", 1, 256 * MB},
    {"256M", 1, 256 * MB},
    {"256MiB", 1, 256 * MB},
    {"256 MB", 1, 256 * MB},
    {"2GB", 1, 2 * GB},
    {"2g", 1, 2 * GB},
    {"1TB", 1, TB},
    {"16383TB", 1, 16383 * TB},
    /* fractions of a unit */
    {"1.5KB", 1, 1536},
    {"1.5GB", 1, 3 * GB / 2},
    {"0.5MB", 1, 512 * KB},
    {"0.3KB", 1, 307}, /* 307.2 rounds down */
    {"2.0", 1, 2},     /* a zero fraction of a byte is still whole */
    {"1.5", 0, 0},     /* half a byte */
    {"1.5B", 0, 0},
    {"1.", 0, 0},
    {".5MB", 0, 0},
    {"1.MB", 0, 0},
    /* overflow: 2^64 and beyond */
    {"16777216TB", 0, 0},
    {"16777215TB", 1, 16777215 * TB}, /* 2^64 - 1TB: the largest whole number of TB */
    {"17179869184GB", 0, 0},
    {"99999999999999999999", 0, 0},
    {"1000000000000000000TB", 0, 0},
    /* negative, signs, empty, garbage, unknown units */
    {"-1", 0, 0},
    {"-1MB", 0, 0},
    {"+1MB", 0, 0},
    {"", 0, 0},
    {" ", 0, 0},
    {"MB", 0, 0},
    {"1PB", 0, 0},
    {"1 XB", 0, 0},
    {"1MBs", 0, 0},
    {"1MB ", 0, 0},
    {" 1MB", 0, 0},
    {"1e6", 0, 0},
    {"0x10", 0, 0},
    {"1,024", 0, 0},
    {"1MB1KB", 0, 0},
    {"ten", 0, 0},
};

static const row_t durations[] = {
    {"0s", 1, 0},
    {"0ms", 1, 0},
    {"1ms", 1, 1},
    {"500ms", 1, 500},
    {"1s", 1, SEC},
    {"30s", 1, 30 * SEC},
    {"30sec", 1, 30 * SEC},
    {"5m", 1, 5 * MIN},
    {"5min", 1, 5 * MIN},
    {"1h", 1, HOUR},
    {"1d", 1, DAY},
    {"2w", 1, 14 * DAY},
    {"1y", 1, 365 * DAY},
    /* compound, largest unit first, each unit once; spaces between the parts */
    {"1h30m", 1, 90 * MIN},
    {"1h 30m", 1, 90 * MIN},
    {"1d12h", 1, 36 * HOUR},
    {"1m30s500ms", 1, 90 * SEC + 500},
    {"1y2w3d4h5m6s7ms", 1, 365 * DAY + 14 * DAY + 3 * DAY + 4 * HOUR + 5 * MIN + 6 * SEC + 7},
    {"30m1h", 0, 0}, /* out of order */
    {"1s1s", 0, 0},  /* repeated */
    {"1m1min", 0, 0},
    {"1h30", 0, 0}, /* the last part has no unit */
    /* fractions */
    {"1.5s", 1, 1500},
    {"0.5h", 1, 30 * MIN},
    {"0.25d", 1, 6 * HOUR},
    {"1.5ms", 1, 2}, /* to the nearest millisecond */
    {"0.4ms", 1, 0},
    {"1.", 0, 0},
    {".5s", 0, 0},
    {"1.s", 0, 0},
    /* a bare number is not a duration */
    {"0", 0, 0},
    {"30", 0, 0},
    {"1.5", 0, 0},
    /* negative, empty, unknown units, wrong case, spaces inside a part */
    {"-1s", 0, 0},
    {"-0s", 0, 0},
    {"+1s", 0, 0},
    {"", 0, 0},
    {" ", 0, 0},
    {"s", 0, 0},
    {"ms", 0, 0},
    {"1S", 0, 0},
    {"5M", 0, 0},
    {"1H", 0, 0},
    {"1hr", 0, 0},
    {"1mo", 0, 0},
    {"1us", 0, 0},
    {"1ns", 0, 0},
    {"1seconds", 0, 0},
    {"1minutes", 0, 0},
    {"5 s", 0, 0},
    {" 5s", 0, 0},
    {"5s;", 0, 0},
    {"1e3ms", 0, 0},
    /* overflow: the limit is 1e15 ms (about 31 700 years) */
    {"31000y", 1, 31000 * 365 * DAY},
    {"32000y", 0, 0},
    {"1000000000000000ms", 1, 1000000000000000ull},
    {"1000000000000001ms", 0, 0},
    {"9999999999999999999s", 0, 0},
    {"99999999999999999999999999d", 0, 0},
};

static void test_sizes(void **state)
{
    for (size_t i = 0; i != sizeof(sizes) / sizeof(sizes[0]); ++i) {
        uint64_t v = 0xdeadbeef;
        int r = conf_parse_size(sizes[i].in, &v);
        if (r != (sizes[i].ok ? 0 : -1) || (sizes[i].ok && v != sizes[i].want) || (!sizes[i].ok && v != 0xdeadbeef))
            fail_msg("size \"%s\": got r=%d v=%llu, want %s %llu", sizes[i].in, r, (unsigned long long)v,
                     sizes[i].ok ? "ok" : "error (output untouched)", (unsigned long long)sizes[i].want);
    }
}

static void test_durations(void **state)
{
    for (size_t i = 0; i != sizeof(durations) / sizeof(durations[0]); ++i) {
        uint64_t v = 0xdeadbeef;
        int r = conf_parse_duration(durations[i].in, &v);
        if (r != (durations[i].ok ? 0 : -1) || (durations[i].ok && v != durations[i].want) || (!durations[i].ok && v != 0xdeadbeef))
            fail_msg("duration \"%s\": got r=%d v=%llu, want %s %llu", durations[i].in, r, (unsigned long long)v,
                     durations[i].ok ? "ok" : "error (output untouched)", (unsigned long long)durations[i].want);
    }
}

static void test_null_input(void **state)
{
    uint64_t v = 7;
    assert_int_equal(conf_parse_size(NULL, &v), -1);
    assert_int_equal(conf_parse_duration(NULL, &v), -1);
    assert_int_equal(v, 7);
}

/* every prefix of every valid row parses or fails cleanly (no read past the end: ASan watches) */
static void test_prefixes(void **state)
{
    char buf[64];
    for (size_t i = 0; i != sizeof(sizes) / sizeof(sizes[0]); ++i)
        for (size_t n = 0; n <= strlen(sizes[i].in) && n < sizeof(buf); ++n) {
            uint64_t v;
            memcpy(buf, sizes[i].in, n);
            buf[n] = '\0';
            (void)conf_parse_size(buf, &v);
        }
    for (size_t i = 0; i != sizeof(durations) / sizeof(durations[0]); ++i)
        for (size_t n = 0; n <= strlen(durations[i].in) && n < sizeof(buf); ++n) {
            uint64_t v;
            memcpy(buf, durations[i].in, n);
            buf[n] = '\0';
            (void)conf_parse_duration(buf, &v);
        }
}

static void test_edit_distance(void **state)
{
    assert_int_equal(conf_edit_distance("", ""), 0);
    assert_int_equal(conf_edit_distance("port", "port"), 0);
    assert_int_equal(conf_edit_distance("prot", "port"), 1); /* a swap of two neighbours is one edit */
    assert_int_equal(conf_edit_distance("listne", "listen"), 1);
    assert_int_equal(conf_edit_distance("ab", "ba"), 1);
    assert_int_equal(conf_edit_distance("abc", "ca"), 3); /* optimal string alignment, not full Damerau */
    assert_int_equal(conf_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(conf_edit_distance("conect_timeout", "connect_timeout"), 1);
    assert_int_equal(conf_edit_distance("orign", "origin"), 1);
    assert_int_equal(conf_edit_distance("ORIGIN", "origin"), 0); /* case does not count */
    assert_int_equal(conf_edit_distance("", "abc"), 3);
    assert_int_equal(conf_edit_distance("abc", ""), 3);
    /* past 64 characters: "far away", never a suggestion */
    char longname[80];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_true(conf_edit_distance(longname, "port") == SIZE_MAX);
    assert_true(conf_edit_distance("port", longname) == SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),    cmocka_unit_test(test_durations),     cmocka_unit_test(test_null_input),
        cmocka_unit_test(test_prefixes), cmocka_unit_test(test_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
