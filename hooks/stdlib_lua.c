/* hooks/stdlib_lua.c - the C half of the hooks' thin standard library (gzip, JSON decoding, encodeURIComponent, UUIDs, random
 * bytes): lua_CFunctions in one table that the prelude receives as its third argument and wraps into the `edge` module.
 *
 * Rules every function here keeps, for hostile input and the runtime's hard stop:
 * - arguments of the wrong type raise a Lua error (luaL_check*), before any resource is taken;
 * - work that holds malloc'ed memory (zlib streams, JSON trees, output buffers) runs between HOST_ENTER and HOST_LEAVE, so
 *   the watchdog never jumps out of it, and calls nothing that raises a Lua error: the results are pushed by a protected
 *   call (push_protected) and the memory freed before a memory error is raised again, so nothing leaks past the state's cap;
 * - outputs are bounded: gunzip stops at the byte limit it is given, JSON decoding at a value count (the prelude derives both
 *   from the room left under the hook's memory cap).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <openssl/rand.h>
#include <zlib.h>
#include "base/str.h"
#include "hooks/internal.h"
#include "hooks/json.h"
#include "hooks/jwk_lua.h"
#include "hooks/stdlib_lua.h"

/* what push_protected's callee receives */
typedef struct push_job {
    int (*push)(lua_State *L, void *arg);
    void *arg;
} push_job_t;

static int push_trampoline(lua_State *L)
{
    push_job_t *job = lua_touserdata(L, lua_gettop(L));
    lua_pop(L, 1);
    return job->push(L, job->arg);
}

/* the trampoline is pushed by std_prepare before any resource is taken (pushing a C function allocates) */
static void std_prepare(lua_State *L)
{
    luaL_checkstack(L, 8, "edge: Lua stack");
    lua_pushcfunction(L, push_trampoline);
}

/* runs push(L, arg) protected, with the trampoline std_prepare left below nargs values (push's stack: those values, from 1):
 * 0 and one result on the stack, or the error code and the error object */
static int push_protected(lua_State *L, int (*push)(lua_State *L, void *arg), void *arg, int nargs)
{
    push_job_t job = {push, arg};
    lua_pushlightuserdata(L, &job);
    return lua_pcall(L, nargs + 1, 1, 0);
}

static int push_lstring(lua_State *L, void *arg)
{
    const hook_buf_t *b = arg;
    lua_pushlstring(L, b->base != NULL ? b->base : "", b->len);
    return 1;
}

/* --- gzip --- */

/* a malloc'ed output that refuses to grow past max; 0 or -1 (too large or no memory) */
static int out_reserve(hook_buf_t *b, size_t more, size_t max)
{
    if (more > max || b->len > max - more)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap < 16384 ? 16384 : b->cap;
    while (cap < b->len + more)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > max)
        cap = max;
    char *p = realloc(b->base, cap != 0 ? cap : 1);
    if (p == NULL)
        return -1;
    b->base = p;
    b->cap = cap;
    return 0;
}

/* edge.gzip(data [, level]): the gzip member of data (RFC 1952), level 0-9 (default 6 as Node's zlib) */
static int l_gzip(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int level = (int)luaL_optinteger(L, 2, Z_DEFAULT_COMPRESSION);
    luaL_argcheck(L, level == Z_DEFAULT_COMPRESSION || (level >= 0 && level <= 9), 2, "level must be 0-9");
    std_prepare(L);
    HOST_ENTER();
    z_stream z = {0};
    hook_buf_t out = {NULL, 0, 0};
    const char *err = NULL;
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        err = "edge.gzip: zlib could not start";
    } else {
        size_t bound = deflateBound(&z, (uLong)len);
        if (len > UINT32_MAX || out_reserve(&out, bound, bound) != 0) {
            err = "edge.gzip: input too large";
        } else {
            z.next_in = (Bytef *)s;
            z.avail_in = (uInt)len;
            z.next_out = (Bytef *)out.base;
            z.avail_out = (uInt)bound;
            if (deflate(&z, Z_FINISH) != Z_STREAM_END)
                err = "edge.gzip: zlib failed";
            out.len = bound - z.avail_out;
        }
        deflateEnd(&z);
    }
    int rc = err == NULL ? push_protected(L, push_lstring, &out, 0) : 0;
    free(out.base);
    HOST_LEAVE();
    if (err != NULL)
        return luaL_error(L, "%s", err);
    if (rc != 0)
        return lua_error(L);
    return 1;
}

/* inflates a gzip or zlib stream (concatenated gzip members too, as Node's gunzipSync) into out, at most max bytes; NULL or
 * the reason */
static const char *inflate_all(const char *s, size_t len, size_t max, hook_buf_t *out)
{
    z_stream z = {0};
    if (len > UINT32_MAX)
        return "input too large";
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* 15 + 32: gzip or zlib, detected from the header */
        return "zlib could not start";
    z.next_in = (Bytef *)s;
    z.avail_in = (uInt)len;
    const char *err = NULL;
    for (;;) {
        /* room for 4 KB more output, or for what is left up to max */
        size_t want = max - out->len < 4096 ? max - out->len : 4096;
        if (out->cap - out->len < want && out_reserve(out, want, max) != 0) {
            err = "output larger than the limit";
            break;
        }
        if (out->cap == out->len) { /* reached max exactly: anything more is over it */
            unsigned char probe;
            z.next_out = &probe;
            z.avail_out = 1;
            int r = inflate(&z, Z_NO_FLUSH);
            if (z.avail_out == 0 || (r != Z_STREAM_END && r != Z_OK && r != Z_BUF_ERROR)) {
                err = z.avail_out == 0 ? "output larger than the limit" : (z.msg != NULL ? z.msg : "invalid data");
                break;
            }
            if (r == Z_STREAM_END && z.avail_in == 0)
                break;
            if (r != Z_STREAM_END) {
                err = "truncated input";
                break;
            }
            err = "output larger than the limit";
            break;
        }
        z.next_out = (Bytef *)out->base + out->len;
        z.avail_out = (uInt)(out->cap - out->len);
        int r = inflate(&z, Z_NO_FLUSH);
        out->len = out->cap - z.avail_out;
        if (r == Z_STREAM_END) {
            if (z.avail_in == 0)
                break;
            if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) { /* another gzip member */
                inflateReset(&z);
                continue;
            }
            err = "trailing garbage after the compressed data";
            break;
        }
        if (r == Z_BUF_ERROR && z.avail_in == 0) {
            err = "truncated input";
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            err = z.msg != NULL ? z.msg : "invalid data";
            break;
        }
    }
    inflateEnd(&z);
    return err;
}

/* edge.gunzip(data, max): the inflated bytes, or nil and the reason (bad data, truncated, over max bytes) */
static int l_gunzip(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Number maxn = luaL_checknumber(L, 2);
    size_t max = maxn <= 0 ? 0 : maxn >= (lua_Number)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)maxn;
    std_prepare(L);
    HOST_ENTER();
    hook_buf_t out = {NULL, 0, 0};
    const char *err = inflate_all(s, len, max, &out);
    int rc = err == NULL ? push_protected(L, push_lstring, &out, 0) : 0;
    free(out.base);
    HOST_LEAVE();
    if (err != NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "edge.gunzip: %s", err);
        return 2;
    }
    if (rc != 0)
        return lua_error(L);
    return 1;
}

/* --- JSON --- */

typedef struct json_job {
    const hook_json_t *root;
    int array_mt, null_idx; /* stack indexes of the array metatable and the null value */
} json_job_t;

static void push_json(lua_State *L, const json_job_t *j, const hook_json_t *v)
{
    luaL_checkstack(L, 4, "edge.json_decode: nested too deep");
    switch (v->type) {
    case HOOK_JSON_NULL:
        lua_pushvalue(L, j->null_idx);
        return;
    case HOOK_JSON_FALSE:
    case HOOK_JSON_TRUE:
        lua_pushboolean(L, v->type == HOOK_JSON_TRUE);
        return;
    case HOOK_JSON_NUMBER:
        lua_pushnumber(L, v->number);
        return;
    case HOOK_JSON_STRING:
        lua_pushlstring(L, v->str, v->len);
        return;
    case HOOK_JSON_ARRAY:
        lua_createtable(L, v->count > INT32_MAX ? INT32_MAX : (int)v->count, 0);
        for (size_t i = 0; i != v->count; ++i) {
            push_json(L, j, v->items[i]);
            lua_rawseti(L, -2, (int)(i + 1));
        }
        lua_pushvalue(L, j->array_mt);
        lua_setmetatable(L, -2);
        return;
    case HOOK_JSON_OBJECT:
        lua_createtable(L, 0, v->count > INT32_MAX ? INT32_MAX : (int)v->count);
        for (size_t i = 0; i != v->count; ++i) { /* a duplicate name: the last one wins, as JSON.parse */
            lua_pushlstring(L, v->keys[i], v->key_lens[i]);
            push_json(L, j, v->items[i]);
            lua_rawset(L, -3);
        }
        return;
    }
    lua_pushnil(L);
}

static int push_json_root(lua_State *L, void *arg)
{
    push_json(L, arg, ((json_job_t *)arg)->root);
    return 1;
}

/* edge.json_decode(text, array_mt, null, max_values): the value (arrays get array_mt, JSON null is `null`), or nil and
 * `line:col: reason` */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Number maxn = luaL_checknumber(L, 4);
    size_t max_values = maxn < 1 ? 1 : maxn >= (lua_Number)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)maxn;
    json_job_t job = {NULL, 1, 2}; /* push_json_root's stack: the array metatable, null */
    std_prepare(L);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    HOST_ENTER();
    char err[160] = "";
    hook_json_t *root = hook_json_parse_max(s, len, max_values, err, sizeof(err));
    int rc = 0;
    if (root != NULL) {
        job.root = root;
        rc = push_protected(L, push_json_root, &job, 2);
        hook_json_free(root);
    }
    HOST_LEAVE();
    if (root == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "edge.json_decode: %s", err);
        return 2;
    }
    if (rc != 0)
        return lua_error(L);
    return 1;
}

/* --- encodeURIComponent / decodeURIComponent --- */

/* ECMAScript's encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) as they are and escapes every other byte */
static int uri_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-_.!~*'()", c) != NULL;
}

static int l_encode_uri_component(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c != 0 && uri_unreserved(c)) {
            luaL_addchar(&b, (char)c);
        } else {
            char esc[3];
            edge_pct_escape(esc, c);
            luaL_addlstring(&b, esc, 3);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

static int pct_byte(const char *s, size_t len, size_t i)
{
    if (i + 3 > len || s[i] != '%')
        return -1;
    int h = edge_hex_value((unsigned char)s[i + 1]), l = edge_hex_value((unsigned char)s[i + 2]);
    return h < 0 || l < 0 ? -1 : h << 4 | l;
}

/* decodeURIComponent: every %XX is decoded ('+' stays '+'); a malformed escape or escapes that are not UTF-8 (overlong,
 * surrogates, past U+10FFFF) raise "URIError: URI malformed", as in JavaScript */
static int l_decode_uri_component(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t i = 0;
    while (i < len) {
        if (s[i] != '%') {
            luaL_addchar(&b, s[i]);
            ++i;
            continue;
        }
        int c0 = pct_byte(s, len, i);
        if (c0 < 0)
            goto malformed;
        if (c0 < 0x80) {
            luaL_addchar(&b, (char)c0);
            i += 3;
            continue;
        }
        int n = (c0 & 0xe0) == 0xc0 ? 2 : (c0 & 0xf0) == 0xe0 ? 3 : (c0 & 0xf8) == 0xf0 ? 4 : 0;
        if (n == 0)
            goto malformed;
        unsigned char seq[4] = {(unsigned char)c0};
        uint32_t cp = (uint32_t)c0 & (0x7f >> n);
        for (int k = 1; k != n; ++k) {
            int c = pct_byte(s, len, i + 3 * (size_t)k);
            if (c < 0 || (c & 0xc0) != 0x80)
                goto malformed;
            seq[k] = (unsigned char)c;
            cp = cp << 6 | ((uint32_t)c & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto malformed;
        luaL_addlstring(&b, (const char *)seq, (size_t)n);
        i += 3 * (size_t)n;
    }
    luaL_pushresult(&b);
    return 1;
malformed:
    return luaL_error(L, "URIError: URI malformed (at byte %d)", (int)(i + 1));
}

/* --- randomness --- */

/* OpenSSL's generator takes locks: never jumped out of (HOST_ENTER) */
static int random_fill(unsigned char *p, size_t n)
{
    HOST_ENTER();
    int ok = RAND_bytes(p, (int)n) == 1;
    HOST_LEAVE();
    return ok;
}

/* edge.uuid(): a version 4 UUID from OpenSSL's CSPRNG, lowercase, as crypto.randomUUID() */
static int l_uuid(lua_State *L)
{
    char out[37];
    if (edge_uuid4(out) != 0)
        return luaL_error(L, "edge.uuid: the random generator failed");
    lua_pushlstring(L, out, 36);
    return 1;
}

/* edge.random_bytes(n): n bytes (0 <= n <= 65536) from OpenSSL's CSPRNG, as crypto.randomBytes(n) */
static int l_random_bytes(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 65536, 1, "must be 0-65536");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t left = (size_t)n;
    while (left != 0) {
        size_t chunk = left < LUAL_BUFFERSIZE ? left : LUAL_BUFFERSIZE;
        char *p = luaL_prepbuffer(&b);
        if (!random_fill((unsigned char *)p, chunk))
            return luaL_error(L, "edge.random_bytes: the random generator failed");
        luaL_addsize(&b, chunk);
        left -= chunk;
    }
    luaL_pushresult(&b);
    return 1;
}

/* edge.hex(s): lowercase hex of s's bytes */
static int l_hex(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i != len; ++i) {
        char two[2];
        edge_hex_byte(two, (unsigned char)s[i]);
        luaL_addlstring(&b, two, 2);
    }
    luaL_pushresult(&b);
    return 1;
}

void hook_stdlib_push(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"gzip", l_gzip},
        {"gunzip", l_gunzip},
        {"json_decode", l_json_decode},
        {"encode_uri_component", l_encode_uri_component},
        {"decode_uri_component", l_decode_uri_component},
        {"uuid", l_uuid},
        {"random_bytes", l_random_bytes},
        {"hex", l_hex},
        {NULL, NULL},
    };
    lua_createtable(L, 0, (int)(sizeof(fns) / sizeof(fns[0])));
    for (const luaL_Reg *r = fns; r->name != NULL; ++r) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    hook_jwk_register(L); /* jwk_verify (hooks/jwk_lua.c) */
}
