/* base/export.h - EDGE_EXPORT: the one way a function of the binary becomes visible to plugins and LuaJIT FFI. */
#ifndef EDGE_BASE_EXPORT_H
#define EDGE_BASE_EXPORT_H

/*
 * Every module is compiled with -fvisibility=hidden, so the binary's dynamic symbol table holds none of its functions. A function
 * that plugins (dlopen'ed, resolving against the binary) or Lua through ffi.C must call is declared EDGE_EXPORT, and must be
 * declared in hooks/edge_hook.h (or called through ffi.C in hooks/prelude.lua): the ctest `exports` fails on any other exported
 * symbol, and on a declared one that is missing.
 *
 * Today the plugin API is the host vtable (edge_host_t) handed to init and on_event, and prelude.lua reaches C through the same
 * vtable and a private one (hook_lua_api_t), so nothing is exported.
 */
#define EDGE_EXPORT __attribute__((visibility("default")))

#endif
