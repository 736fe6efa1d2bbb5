/* conf/pattern.h - what `edgehook -t` knows about behaviour path patterns: the syntax the matcher (gen_pattern_match of
 * proxy/gen.c) supports, and whether an earlier pattern leaves a later one nothing to match. Pure functions, any thread. */
#ifndef EDGE_CONF_PATTERN_H
#define EDGE_CONF_PATTERN_H

#include <stddef.h>

/**
 * Checks a behaviour path pattern against what the matcher does: `*` (any run of bytes, `/` included) and `?` (one byte) are
 * the only special characters, and the path it is matched against is the normalised one (proxy/reqcheck.h). Refused, with the
 * reason in why: `**` (a globstar: `*` already crosses `/`), `[`, `]`, `{`, `}` (character classes and alternatives, which
 * the matcher would take literally), `\` (an escape; the normaliser refuses `\` in paths), and what the normalised path never
 * holds: a space, `#`, a control byte, a byte above 0x7f (write it percent-encoded), `%` not followed by two hex digits,
 * lower-case hex after `%` (the path has upper-case hex) or `%XX` of an unreserved character (the path has it decoded), and
 * `;` unless allow_params. Returns 0 when the pattern is accepted, -1 otherwise.
 */
int conf_pattern_check(const char *pat, int allow_params, char *why, size_t whylen);

/**
 * Whether every path `later` matches is also matched by `earlier` (the language of `later` is a subset of that of `earlier`),
 * so that a behaviour with `later` placed after one with `earlier` can never be chosen: 1 yes, 0 no. Exact (an automaton
 * walk over both patterns); patterns longer than 255 bytes, or a search that grows past its bound, answer 0.
 */
int conf_pattern_covers(const char *earlier, const char *later);

#endif
