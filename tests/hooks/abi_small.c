/* tests/hooks/abi_small.c - test plugin whose descriptor is smaller than ABI 1.0's: the loader must refuse it. */
#include <stdint.h>
#include "edge_hook.h"

/* a hand-made, truncated descriptor: only the version fields */
struct small_descriptor {
    uint32_t abi_major, abi_minor, size, events;
};

__attribute__((visibility("default"))) const struct small_descriptor edge_hook_plugin = {
    EDGE_HOOK_ABI_MAJOR, EDGE_HOOK_ABI_MINOR, sizeof(struct small_descriptor), EDGE_ALL_EVENTS};
