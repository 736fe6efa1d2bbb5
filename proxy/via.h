/* proxy/via.h - reading Via field values (RFC 9110 section 7.6.3): whether an entry names a given edgehook node. Pure: fuzzed by
 * tests/fuzz/fuzz_via.c. */
#ifndef EDGE_PROXY_VIA_H
#define EDGE_PROXY_VIA_H

#include <stddef.h>

/**
 * Whether the Via value lists an entry `PROTOCOL NAME (edgehook...)` with exactly this NAME: entries are split at commas outside
 * comments (nested parentheses and quoted-pairs are honoured); any bytes are safe. An empty name matches nothing.
 */
int via_names_node(const char *via, size_t via_len, const char *name, size_t name_len);

#endif
