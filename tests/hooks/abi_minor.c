/* tests/hooks/abi_minor.c - test plugin built for a newer ABI minor than the host's: the loader must refuse it. */
#include "edge_hook.h"

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    return EDGE_CONTINUE;
}

__attribute__((visibility("default"))) const edge_hook_plugin_t edge_hook_plugin = {EDGE_HOOK_ABI_MAJOR,
                                                                                    EDGE_HOOK_ABI_MINOR + 1,
                                                                                    sizeof(edge_hook_plugin_t),
                                                                                    EDGE_ALL_EVENTS,
                                                                                    "abi-minor",
                                                                                    "1",
                                                                                    NULL,
                                                                                    on_event,
                                                                                    NULL};
