/* conf/pattern.c - behaviour path patterns at config time: the supported syntax and shadowing (see conf/pattern.h). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/pattern.h"

static int is_unreserved(int ch)
{
    return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int conf_pattern_check(const char *pat, int allow_params, char *why, size_t whylen)
{
    for (const unsigned char *p = (const unsigned char *)pat; *p != '\0'; ++p) {
        switch (*p) {
        case '*':
            if (p[1] == '*') {
                snprintf(why, whylen, "\"**\" is not supported: a single * already matches any run of characters, / included");
                return -1;
            }
            continue;
        case '[':
        case ']':
            snprintf(why, whylen,
                     "'%c': character classes ([a-z]) are not supported; the only wildcards are * (any run of characters) and ? "
                     "(one character)",
                     *p);
            return -1;
        case '{':
        case '}':
            snprintf(why, whylen,
                     "'%c': alternatives ({a,b}) are not supported: write one behavior per pattern; the only wildcards are * and ?",
                     *p);
            return -1;
        case '\\':
            snprintf(why, whylen, "'\\': escapes are not supported (and a request path never holds \\)");
            return -1;
        case ' ':
        case '#':
            snprintf(why, whylen, "'%c' never appears in a request path (it arrives percent-encoded: %%%02X)", *p, *p);
            return -1;
        case ';':
            if (!allow_params) {
                snprintf(why, whylen, "';' never appears in an accepted request path (limits.allow_path_params is off)");
                return -1;
            }
            continue;
        case '%': {
            int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(why, whylen, "'%%' must be followed by two hex digits (%%20, %%C3)");
                return -1;
            }
            if (islower(p[1]) || islower(p[2])) {
                snprintf(why, whylen, "write %%%c%c with upper-case hex: request paths are matched in that form", toupper(p[1]),
                         toupper(p[2]));
                return -1;
            }
            if (is_unreserved(hi * 16 + lo)) {
                snprintf(why, whylen, "write '%c' instead of %%%c%c: request paths are matched with it decoded", hi * 16 + lo, p[1],
                         p[2]);
                return -1;
            }
            p += 2;
            continue;
        }
        default:
            if (*p < 0x20 || *p >= 0x7f) {
                snprintf(why, whylen, "byte 0x%02x never appears in a request path (write it percent-encoded: %%%02X)", *p, *p);
                return -1;
            }
        }
    }
    return 0;
}

/*
 * Inclusion of glob languages, L(later) within L(earlier), by walking the product of later's automaton (one position) with the
 * subset automaton of earlier (a set of positions), over an alphabet of the bytes either pattern names plus one byte neither
 * does (all such bytes behave alike). A reachable state where later may end and earlier is not at its end is a path that
 * later matches and earlier does not.
 */
#define MAXLEN 255
#define WORDS ((MAXLEN + 1 + 63) / 64)
#define MAXSTATES 8192

typedef struct state {
    unsigned pos;        /* in later */
    uint64_t set[WORDS]; /* positions of earlier */
} state_t;

static void set_add(uint64_t *s, size_t j)
{
    s[j / 64] |= (uint64_t)1 << (j % 64);
}

static int set_has(const uint64_t *s, size_t j)
{
    return (s[j / 64] >> (j % 64)) & 1;
}

static int set_empty(const uint64_t *s)
{
    for (size_t w = 0; w != WORDS; ++w)
        if (s[w] != 0)
            return 0;
    return 1;
}

/* adds to s every position reachable through `*` without reading (a star may match nothing) */
static void closure(const char *a, size_t la, uint64_t *s)
{
    for (size_t j = 0; j < la; ++j)
        if (set_has(s, j) && a[j] == '*')
            set_add(s, j + 1);
}

static void step(const char *a, size_t la, const uint64_t *s, unsigned char ch, uint64_t *out)
{
    memset(out, 0, sizeof(uint64_t) * WORDS);
    for (size_t j = 0; j < la; ++j) {
        if (!set_has(s, j))
            continue;
        if (a[j] == '*')
            set_add(out, j);
        else if (a[j] == '?' || (unsigned char)a[j] == ch)
            set_add(out, j + 1);
    }
    closure(a, la, out);
}

typedef struct seen {
    state_t *states;
    size_t count;
    uint32_t *slots; /* index + 1, 0 empty */
    size_t nslots;
} seen_t;

static uint64_t state_hash(const state_t *st)
{
    uint64_t h = 1469598103934665603ull ^ st->pos;
    for (size_t w = 0; w != WORDS; ++w)
        h = (h ^ st->set[w]) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* 1 if new (added), 0 if seen, -1 when full */
static int seen_add(seen_t *sn, const state_t *st)
{
    size_t i = state_hash(st) & (sn->nslots - 1);
    while (sn->slots[i] != 0) {
        const state_t *o = &sn->states[sn->slots[i] - 1];
        if (o->pos == st->pos && memcmp(o->set, st->set, sizeof(st->set)) == 0)
            return 0;
        i = (i + 1) & (sn->nslots - 1);
    }
    if (sn->count == MAXSTATES)
        return -1;
    sn->states[sn->count++] = *st;
    sn->slots[i] = (uint32_t)sn->count;
    return 1;
}

int conf_pattern_covers(const char *earlier, const char *later)
{
    size_t la = strlen(earlier), lb = strlen(later), nalpha = 0, next = 0;
    unsigned char alpha[257];
    int used[256] = {0}, covered = 1;
    seen_t sn;
    state_t st;
    if (la > MAXLEN || lb > MAXLEN)
        return 0;
    for (const char *p = earlier; *p != '\0'; ++p)
        used[(unsigned char)*p] = 1;
    for (const char *p = later; *p != '\0'; ++p)
        used[(unsigned char)*p] = 1;
    for (int ch = 1; ch != 256; ++ch)
        if (used[ch] && ch != '*' && ch != '?')
            alpha[nalpha++] = (unsigned char)ch;
    for (int ch = 1; ch != 256; ++ch)
        if (!used[ch]) {
            alpha[nalpha++] = (unsigned char)ch; /* stands for every byte neither pattern names */
            break;
        }
    sn.nslots = MAXSTATES * 2;
    sn.count = 0;
    if ((sn.states = malloc(MAXSTATES * sizeof(state_t))) == NULL || (sn.slots = calloc(sn.nslots, sizeof(uint32_t))) == NULL)
        abort();
    memset(&st, 0, sizeof(st));
    set_add(st.set, 0);
    closure(earlier, la, st.set);
    seen_add(&sn, &st);
    while (covered && next != sn.count) {
        state_t cur = sn.states[next++], nx;
        if (set_empty(cur.set) || (cur.pos == lb && !set_has(cur.set, la))) {
            covered = 0; /* later can still end (any glob can be completed), earlier cannot accept */
            break;
        }
        if (cur.pos == lb)
            continue;
        if (later[cur.pos] == '*') { /* the star matches nothing */
            nx = cur;
            ++nx.pos;
            if (seen_add(&sn, &nx) < 0) {
                covered = 0;
                break;
            }
        }
        for (size_t k = 0; k != nalpha; ++k) {
            char c = later[cur.pos];
            if (c != '*' && c != '?' && (unsigned char)c != alpha[k])
                continue;
            nx.pos = c == '*' ? cur.pos : cur.pos + 1;
            step(earlier, la, cur.set, alpha[k], nx.set);
            if (seen_add(&sn, &nx) < 0) {
                covered = 0; /* too large to decide: say nothing */
                break;
            }
        }
    }
    free(sn.states);
    free(sn.slots);
    return covered;
}
