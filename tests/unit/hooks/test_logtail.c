/* tests/unit/hooks/test_logtail.c - the invocation log's tail (hooks/logtail.c): exactly the last 4 KB, a UTF-8 character cut
 * at its start left out, Lambda's line format, and the REPORT line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "hooks/logtail.h"

static void test_short(void **state)
{
    hook_logtail_t t;
    char out[HOOK_LOGTAIL_SIZE];
    memset(&t, 0, sizeof(t));
    assert_int_equal(hook_logtail_get(&t, out), 0);
    hook_logtail_write(&t, "START\n", 6);
    hook_logtail_write(&t, "abc\n", 4);
    assert_int_equal(hook_logtail_get(&t, out), 10);
    assert_memory_equal(out, "START\nabc\n", 10);
}

/* bytes 0..n-1 of a known sequence, written in pieces of varying size: the tail is exactly the last 4096 of them */
static void test_exact_last_4k(void **state)
{
    static const size_t totals[] = {4095, 4096, 4097, 8192, 10000, 123457};
    for (size_t k = 0; k != sizeof(totals) / sizeof(totals[0]); ++k) {
        size_t total = totals[k];
        char *all = malloc(total);
        for (size_t i = 0; i != total; ++i)
            all[i] = (char)('a' + (i * 7 + i / 26) % 26); /* ASCII: no UTF-8 trimming */
        hook_logtail_t t;
        memset(&t, 0, sizeof(t));
        for (size_t at = 0, step = 1; at < total; at += step, step = step * 3 % 5000 + 1)
            hook_logtail_write(&t, all + at, at + step <= total ? step : total - at);
        char out[HOOK_LOGTAIL_SIZE];
        size_t n = hook_logtail_get(&t, out), want = total < HOOK_LOGTAIL_SIZE ? total : HOOK_LOGTAIL_SIZE;
        assert_int_equal(n, want);
        assert_memory_equal(out, all + total - want, want);
        free(all);
    }
    /* one write larger than the ring */
    hook_logtail_t t;
    memset(&t, 0, sizeof(t));
    char big[10000], out[HOOK_LOGTAIL_SIZE];
    for (size_t i = 0; i != sizeof(big); ++i)
        big[i] = (char)('0' + i % 10);
    hook_logtail_write(&t, "x", 1);
    hook_logtail_write(&t, big, sizeof(big));
    assert_int_equal(hook_logtail_get(&t, out), HOOK_LOGTAIL_SIZE);
    assert_memory_equal(out, big + sizeof(big) - HOOK_LOGTAIL_SIZE, HOOK_LOGTAIL_SIZE);
}

/* a multi-byte character cut by the 4 KB boundary: its continuation bytes are left out, the rest is intact */
static void test_utf8_cut(void **state)
{
    for (int cut = 1; cut <= 3; ++cut) {
        /* "€" is E2 82 AC, "😀" is F0 9F 98 80: end the text so that the boundary falls `cut` bytes into a 4-byte character */
        hook_logtail_t t;
        memset(&t, 0, sizeof(t));
        char head[100];
        memset(head, 'h', sizeof(head));
        hook_logtail_write(&t, head, sizeof(head));
        const char *emoji = "\xf0\x9f\x98\x80";
        hook_logtail_write(&t, emoji, 4);
        size_t rest = HOOK_LOGTAIL_SIZE - (size_t)(4 - cut);
        char *fill = malloc(rest);
        for (size_t i = 0; i != rest; ++i)
            fill[i] = i % 3 == 0 ? 'z' : 'y';
        hook_logtail_write(&t, fill, rest);
        char out[HOOK_LOGTAIL_SIZE];
        size_t n = hook_logtail_get(&t, out);
        /* the window held the last 4 - cut bytes of the emoji (continuation bytes): all dropped */
        assert_int_equal(n, rest);
        assert_memory_equal(out, fill, rest);
        free(fill);
    }
    /* a boundary right at a character's first byte keeps it */
    hook_logtail_t t;
    memset(&t, 0, sizeof(t));
    hook_logtail_write(&t, "abc", 3);
    char *fill = malloc(HOOK_LOGTAIL_SIZE);
    for (size_t i = 0; i + 3 <= HOOK_LOGTAIL_SIZE; i += 3)
        memcpy(fill + i, "\xe2\x82\xac", 3);
    fill[HOOK_LOGTAIL_SIZE - 1] = '\n'; /* 4096 = 3 * 1365 + 1 */
    hook_logtail_write(&t, fill, HOOK_LOGTAIL_SIZE);
    char out[HOOK_LOGTAIL_SIZE];
    assert_int_equal(hook_logtail_get(&t, out), HOOK_LOGTAIL_SIZE);
    assert_memory_equal(out, fill, HOOK_LOGTAIL_SIZE);
    free(fill);
}

static void test_line(void **state)
{
    hook_logtail_t t;
    memset(&t, 0, sizeof(t));
    hook_logtail_line(&t, "rid-1", 5, 2, "hello\tworld", 11);
    hook_logtail_line(&t, "rid-1", 5, 0, "bad", 3);
    char out[HOOK_LOGTAIL_SIZE];
    size_t n = hook_logtail_get(&t, out);
    out[n] = '\0';
    /* 2026-12-02T10:00:00.123Z\trid-1\tINFO\thello\tworld\n */
    char *second = strchr(out, '\n') + 1;
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[23], 'Z');
    assert_memory_equal(out + 24, "\trid-1\tINFO\thello\tworld\n", 24);
    assert_memory_equal(second + 24, "\trid-1\tERROR\tbad\n", 17);
}

static void test_report(void **state)
{
    char line[256];
    hook_logtail_report_t r = {
        .duration_ns = 1234567, .memory_size = 64u << 20, .max_memory_used = (2u << 20) + 1, .init_ns = 4561000};
    size_t n = hook_logtail_report_line(line, sizeof(line), "abc", &r);
    assert_int_equal(n, strlen(line));
    assert_string_equal(line,
                        "REPORT RequestId: abc\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 64 MB\tMax Memory Used: 3 "
                        "MB\tInit Duration: 4.56 ms\n");
    /* warm: no Init Duration; billed at least 1 ms, whole milliseconds stay */
    r = (hook_logtail_report_t){.duration_ns = 40000, .memory_size = 128u << 20, .max_memory_used = 1u << 20};
    hook_logtail_report_line(line, sizeof(line), "x", &r);
    assert_string_equal(
        line, "REPORT RequestId: x\tDuration: 0.04 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB\n");
    r.duration_ns = 3000000;
    hook_logtail_report_line(line, sizeof(line), "x", &r);
    assert_non_null(strstr(line, "\tBilled Duration: 3 ms\t"));
    /* snprintf's contract: the length it needs */
    assert_int_equal(hook_logtail_report_line(line, 10, "x", &r),
                     strlen("REPORT RequestId: x\tDuration: 3.00 ms\tBilled Duration: 3 "
                            "ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB\n"));
    assert_int_equal(strlen(line), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short), cmocka_unit_test(test_exact_last_4k), cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_line),  cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
