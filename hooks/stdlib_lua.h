/* hooks/stdlib_lua.h - the C half of the hooks' standard library (hooks/stdlib_lua.c), handed to the prelude. */
#ifndef EDGE_HOOKS_STDLIB_LUA_H
#define EDGE_HOOKS_STDLIB_LUA_H

#include <lua.h>

/** pushes a table of lua_CFunctions: gzip, gunzip, json_decode, encode_uri_component, decode_uri_component, uuid,
 * random_bytes, hex, jwk_verify (hooks/jwk_lua.c); the prelude (its third argument) wraps them into the `edge` module */
void hook_stdlib_push(lua_State *L);

#endif
