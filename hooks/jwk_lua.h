/* hooks/jwk_lua.h - edge.jwk_verify (hooks/jwk_lua.c): JWS signature checks with a JWK or PEM public key, for the prelude. */
#ifndef EDGE_HOOKS_JWK_LUA_H
#define EDGE_HOOKS_JWK_LUA_H

#include <lua.h>

/** sets jwk_verify in the table at the top of L's stack (the standard library's table the prelude receives) */
void hook_jwk_register(lua_State *L);

#endif
