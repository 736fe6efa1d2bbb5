/* tests/fuzz/fuzz_via.c - libFuzzer target: the Via reader of loop detection (proxy/via.c)
 *
 * Properties: no crash, overread or UB for any bytes (the value is copied to a buffer of exactly its size); a name whose bytes
 * do not occur in the value is never found; a value that starts with this node's own entry is always found, whatever follows;
 * an empty name is never found. The first input byte (mod 16) is the name's length, taken from the next bytes; the rest is the
 * value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/via.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t nlen = data[0] % 16;
    if (nlen > size - 1)
        nlen = size - 1;
    char *name = malloc(nlen + 1), *via = malloc(size - 1 - nlen + 1);
    size_t vlen = size - 1 - nlen;
    memcpy(name, data + 1, nlen);
    memcpy(via, data + 1 + nlen, vlen);
    int found = via_names_node(via, vlen, name, nlen);
    if (nlen == 0)
        FUZZ_CHECK(!found, "an empty name was found");
    if (nlen != 0 && memmem(via, vlen, name, nlen) == NULL)
        FUZZ_CHECK(!found, "a name that is not in the value was found");
    /* a clean name (a token, as node_name allows) in front: "1.1 NAME (edgehook), " + value */
    int clean = nlen != 0;
    for (size_t i = 0; i != nlen; ++i)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '.'))
            clean = 0;
    if (clean) {
        size_t plen = 4 + nlen + 13;
        char *v2 = malloc(plen + vlen);
        memcpy(v2, "1.1 ", 4);
        memcpy(v2 + 4, name, nlen);
        memcpy(v2 + 4 + nlen, " (edgehook), ", 13);
        memcpy(v2 + plen, via, vlen);
        FUZZ_CHECK(via_names_node(v2, plen + vlen, name, nlen), "this node's own first entry was not found");
        free(v2);
    }
    free(name);
    free(via);
    return 0;
}
