/* conf/units.c - sizes (`256MB`) and durations (`500ms`, `30s`, `5m`, `1d`, `1h30m`) as written in the config. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include "conf/config.h"

/* parses the leading decimal (with an optional fraction) of s; returns the number of characters used, 0 on error */
static size_t parse_decimal(const char *s, double *out, int *fractional)
{
    const char *p = s;
    double v = 0, frac = 0.1;
    int digits = 0;
    *fractional = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        ++digits;
        if (v > 1e18)
            return 0;
    }
    if (*p == '.') {
        ++p;
        /* "1." and "." are typos, not numbers */
        if (digits == 0 || !isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p)) {
            if (*p != '0')
                *fractional = 1;
            v += (*p++ - '0') * frac;
            frac /= 10;
        }
    }
    if (digits == 0)
        return 0;
    *out = v;
    return p - s;
}

int conf_parse_size(const char *s, uint64_t *bytes)
{
    /* binary multiples, as nginx and most servers read k/m/g */
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1ull << 10},
                 {"kb", 1ull << 10},
                 {"kib", 1ull << 10},
                 {"m", 1ull << 20},
                 {"mb", 1ull << 20},
                 {"mib", 1ull << 20},
                 {"g", 1ull << 30},
                 {"gb", 1ull << 30},
                 {"gib", 1ull << 30},
                 {"t", 1ull << 40},
                 {"tb", 1ull << 40},
                 {"tib", 1ull << 40}};
    double v;
    size_t n, i;
    int fractional;
    if (s == NULL || (n = parse_decimal(s, &v, &fractional)) == 0)
        return -1;
    s += n;
    while (*s == ' ')
        ++s;
    for (i = 0; i != sizeof(units) / sizeof(units[0]); ++i) {
        if (strcasecmp(s, units[i].name) == 0) {
            double r = v * (double)units[i].mult;
            if (fractional && units[i].mult == 1) /* half a byte is a typo */
                return -1;
            if (r >= 18446744073709551615.0) /* that double is 2^64 */
                return -1;
            *bytes = (uint64_t)r; /* 1.5KB = 1536; fractions of a byte round down */
            return 0;
        }
    }
    return -1;
}

int conf_parse_duration(const char *s, uint64_t *millis)
{
    /* largest first: the parts of "1h30m" must come in this order, each at most once (as nginx reads "1h 30m") */
    static const struct {
        const char *name;
        double mult;
        int rank;
    } units[] = {{"y", 365 * 86400000.0, 0}, {"w", 7 * 86400000.0, 1}, {"d", 86400000, 2}, {"h", 3600000, 3}, {"m", 60000, 4},
                 {"min", 60000, 4},          {"s", 1000, 5},           {"sec", 1000, 5},   {"ms", 1, 6}};
    double total = 0;
    int parts = 0, last_rank = -1;
    if (s == NULL)
        return -1;
    while (*s != '\0') {
        double v;
        int fractional;
        size_t n = parse_decimal(s, &v, &fractional), i, ulen = 0;
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
        if (i == sizeof(units) / sizeof(units[0]) || units[i].rank <= last_rank)
            return -1;
        last_rank = units[i].rank;
        total += v * units[i].mult;
        s += ulen;
        ++parts;
        while (*s == ' ')
            ++s;
    }
    if (parts == 0 || total > 1e15)
        return -1;
    *millis = (uint64_t)(total + 0.5); /* to the nearest millisecond */
    return 0;
}
