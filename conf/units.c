/* conf/units.c - sizes (`256MB`) and durations (`500ms`, `30s`, `5m`, `1d`) as written in the config. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include "conf/config.h"

/* parses the leading decimal (with an optional fraction) of s; returns the number of characters used, 0 on error */
static size_t parse_decimal(const char *s, double *out)
{
    const char *p = s;
    double v = 0, frac = 0.1;
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        ++digits;
        if (v > 1e18)
            return 0;
    }
    if (*p == '.') {
        ++p;
        while (isdigit((unsigned char)*p)) {
            v += (*p++ - '0') * frac;
            frac /= 10;
            ++digits;
        }
    }
    if (digits == 0)
        return 0;
    *out = v;
    return p - s;
}

static int unit_eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

int conf_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {{"", 1},        {"b", 1},        {"k", 1ull << 10}, {"kb", 1ull << 10}, {"kib", 1ull << 10},
                 {"m", 1ull << 20}, {"mb", 1ull << 20}, {"mib", 1ull << 20}, {"g", 1ull << 30}, {"gb", 1ull << 30},
                 {"gib", 1ull << 30}, {"t", 1ull << 40}, {"tb", 1ull << 40}, {"tib", 1ull << 40}};
    double v;
    size_t n, i;
    if (s == NULL || (n = parse_decimal(s, &v)) == 0)
        return -1;
    s += n;
    while (*s == ' ')
        ++s;
    for (i = 0; i != sizeof(units) / sizeof(units[0]); ++i) {
        if (unit_eq(s, units[i].name)) {
            double r = v * (double)units[i].mult;
            if (r >= 18446744073709551615.0)
                return -1;
            *bytes = (uint64_t)r;
            return 0;
        }
    }
    return -1;
}

int conf_parse_duration(const char *s, uint64_t *millis)
{
    static const struct {
        const char *name;
        double mult;
    } units[] = {{"ms", 1},           {"s", 1000},        {"sec", 1000},        {"m", 60000},        {"min", 60000},
                 {"h", 3600000},      {"d", 86400000},    {"w", 7 * 86400000.0}, {"y", 365 * 86400000.0}};
    double total = 0;
    int parts = 0;
    if (s == NULL)
        return -1;
    /* "1h30m" is accepted as well as "90m" */
    while (*s != '\0') {
        double v;
        size_t n = parse_decimal(s, &v), i, ulen = 0;
        char unit[8];
        if (n == 0)
            return -1;
        s += n;
        while (isalpha((unsigned char)s[ulen]) && ulen < sizeof(unit) - 1) {
            unit[ulen] = s[ulen];
            ++ulen;
        }
        unit[ulen] = '\0';
        if (isalpha((unsigned char)s[ulen]))
            return -1;
        if (ulen == 0) /* a bare number is not a duration: force the user to say the unit */
            return -1;
        for (i = 0; i != sizeof(units) / sizeof(units[0]); ++i)
            if (strcmp(unit, units[i].name) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return -1;
        total += v * units[i].mult;
        s += ulen;
        ++parts;
        while (*s == ' ')
            ++s;
    }
    if (parts == 0 || total > 1e15)
        return -1;
    *millis = (uint64_t)(total + 0.5);
    return 0;
}
