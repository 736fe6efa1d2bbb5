/* hooks/lua.c - the LuaJIT runtime: one counting-allocator lua_State per (worker thread, hook version), compile, call, stop,
 * rebuild. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <h2o/string_.h>
#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <openssl/evp.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/str.h"
#include "hooks/internal.h"
#include "hooks/json.h"
#include "hooks/logtail.h"
#include "hooks/stdlib_lua.h"

extern const char hook_lua_prelude[];
extern const size_t hook_lua_prelude_len;

#define HOOK_LUA_SLACK (1u << 20) /* room past the cap so the error path (traceback) can run */

/*
 * The counting allocator. It knows every byte the state owns, so that an abandoned state (hard stop) can be freed
 * wholesale: small blocks (<= SMALL_MAX) come from per-size-class free lists carved out of CHUNK-sized mallocs, which are
 * listed; larger blocks are malloc'ed with a header that links them into a list. LuaJIT passes the original size of a
 * block to every free and realloc (lua_Alloc contract), which tells the two kinds apart. Under sanitizers every block
 * is a plain malloc so that ASan sees each one.
 */
#ifdef EDGE_SANITIZE
#define SMALL_MAX 0
#else
#define SMALL_MAX 512
#endif
#define SMALL_CLASSES 32 /* 16-byte steps up to 512 */
#define CHUNK (64 * 1024)

typedef struct blk {
    struct blk *prev, *next;
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
} blk_t;

typedef struct chunk {
    struct chunk *next;
    size_t pad;
} chunk_t;

struct hook_lua_state {
    lua_State *L;
    blk_t head; /* large blocks */
    chunk_t *chunks;
    char *bump, *bump_end;
    void *free_lists[SMALL_CLASSES];
    size_t bytes, peak, limit;
    size_t call_peak; /* the peak since the running call began (its build included, for a state built for it) */
    int oom;
    char *scratch; /* the prelude's buffer (api_scratch): the state's own, as a call may move to another thread */
    size_t scratch_cap;
};

static void *small_alloc(hook_lua_state_t *ls, size_t cls)
{
    void *p = ls->free_lists[cls];
    if (p != NULL) {
        ls->free_lists[cls] = *(void **)p;
        return p;
    }
    size_t sz = (cls + 1) * 16;
    if (ls->bump + sz > ls->bump_end) {
        chunk_t *c = malloc(CHUNK);
        if (c == NULL)
            return NULL;
        c->next = ls->chunks;
        ls->chunks = c;
        ls->bump = (char *)(c + 1);
        ls->bump_end = (char *)c + CHUNK;
    }
    p = ls->bump;
    ls->bump += sz;
    return p;
}

static void small_free(hook_lua_state_t *ls, void *p, size_t cls)
{
    *(void **)p = ls->free_lists[cls];
    ls->free_lists[cls] = p;
}

static void *large_alloc(hook_lua_state_t *ls, blk_t *old, size_t nsize)
{
    if (old != NULL) {
        old->prev->next = old->next;
        old->next->prev = old->prev;
    }
    blk_t *b = realloc(old, sizeof(blk_t) + nsize);
    blk_t *keep = b != NULL ? b : old;
    if (keep != NULL) {
        keep->next = ls->head.next;
        keep->prev = &ls->head;
        ls->head.next->prev = keep;
        ls->head.next = keep;
    }
    if (b == NULL)
        return NULL;
    b->size = nsize;
    return b + 1;
}

static void large_free(blk_t *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
    free(b);
}

#define CLASS_OF(n) (((n) + 15) / 16 - 1)
/* 1..SMALL_MAX: never true when SMALL_MAX is 0, so that the compiler sees no class -1 */
static const size_t small_max = SMALL_MAX;
#define IS_SMALL(n) ((n) != 0 && (n) <= small_max)
#define ROUNDED(n) (IS_SMALL(n) ? (CLASS_OF(n) + 1) * 16 : (n))

static void *alloc_locked(hook_lua_state_t *ls, void *ptr, size_t osize, size_t nsize)
{
    if (ptr == NULL)
        osize = 0; /* LuaJIT passes a type tag there */
    if (nsize == 0) {
        if (ptr != NULL) {
            if (IS_SMALL(osize))
                small_free(ls, ptr, CLASS_OF(osize));
            else
                large_free((blk_t *)ptr - 1);
            ls->bytes -= ROUNDED(osize);
        }
        return NULL;
    }
    size_t ro = osize != 0 ? ROUNDED(osize) : 0, rn = ROUNDED(nsize);
    if (rn > ro && ls->bytes - ro + rn > ls->limit + (ls->oom ? HOOK_LUA_SLACK : 0)) {
        ls->oom = 1; /* refuse: LuaJIT raises "not enough memory"; the old block stays valid */
        return NULL;
    }
    void *ret;
    if (osize > SMALL_MAX && nsize > SMALL_MAX) {
        ret = large_alloc(ls, (blk_t *)ptr - 1, nsize);
    } else if (IS_SMALL(osize) && IS_SMALL(nsize) && CLASS_OF(osize) == CLASS_OF(nsize)) {
        ret = ptr;
    } else {
        ret = IS_SMALL(nsize) ? small_alloc(ls, CLASS_OF(nsize)) : large_alloc(ls, NULL, nsize);
        if (ret != NULL && ptr != NULL) {
            memcpy(ret, ptr, osize < nsize ? osize : nsize);
            if (IS_SMALL(osize))
                small_free(ls, ptr, CLASS_OF(osize));
            else
                large_free((blk_t *)ptr - 1);
        }
    }
    if (ret != NULL) {
        ls->bytes = ls->bytes - ro + rn;
        if (ls->bytes > ls->peak)
            ls->peak = ls->bytes;
        if (ls->bytes > ls->call_peak)
            ls->call_peak = ls->bytes;
    }
    return ret;
}

static void *on_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    HOST_ENTER();
    void *ret = alloc_locked(ud, ptr, osize, nsize);
    HOST_LEAVE();
    return ret;
}

static void free_blocks(hook_lua_state_t *ls)
{
    blk_t *b = ls->head.next;
    while (b != &ls->head) {
        blk_t *n = b->next;
        free(b);
        b = n;
    }
    ls->head.next = ls->head.prev = &ls->head;
    while (ls->chunks != NULL) {
        chunk_t *c = ls->chunks;
        ls->chunks = c->next;
        free(c);
    }
    ls->bump = ls->bump_end = NULL;
    memset(ls->free_lists, 0, sizeof(ls->free_lists));
    ls->bytes = 0;
}

void hook_lua_state_free(hook_lua_state_t *ls)
{
    if (ls == NULL)
        return;
    if (ls->L != NULL)
        lua_close(ls->L);
    free_blocks(ls);
    free(ls->scratch);
    free(ls);
}

size_t hook_lua_state_abandon(hook_lua_state_t *ls)
{
    if (ls == NULL)
        return 0;
    /* L is abandoned mid-flight: everything it allocated is freed without running it (its JIT machine code areas leak) */
    size_t peak = ls->peak;
    free_blocks(ls);
    free(ls->scratch);
    free(ls);
    return peak;
}

size_t hook_lua_state_peak(const hook_lua_state_t *ls)
{
    return ls != NULL ? ls->peak : 0;
}

size_t hook_lua_state_call_peak(const hook_lua_state_t *ls)
{
    return ls != NULL ? ls->call_peak : 0;
}

size_t hook_lua_slot_peak(const hook_thread_slot_t *slot)
{
    size_t peak = slot->peak;
    for (size_t i = 0; i != slot->num_states; ++i)
        if (slot->states[i]->peak > peak)
            peak = slot->states[i]->peak;
    return peak;
}

/* helpers for the prelude (FFI) */
static void api_invalid(edge_ctx_t *ctx, const char *msg, size_t len)
{
    if (ctx == NULL)
        return;
    HOST_ENTER();
    hook_ctx_invalid(ctx, "%.*s", (int)(len > 2048 ? 2048 : len), msg);
    HOST_LEAVE();
}

static void api_headers_clear(edge_ctx_t *ctx, int msg)
{
    if (ctx == NULL)
        return;
    HOST_ENTER();
    /* removing through the host keeps the read-only bookkeeping */
    for (;;) {
        edge_header_t h;
        if (hook_host.header_at(ctx, msg, 0, &h) != 0)
            break;
        if (hook_host.header_remove(ctx, msg, h.name.ptr, h.name.len) <= 0)
            break;
    }
    HOST_LEAVE();
}

static char *api_scratch(size_t len)
{
    hook_call_t *c = hook_tls_call;
    hook_lua_state_t *ls = c != NULL ? c->ls : NULL;
    if (ls == NULL)
        abort(); /* the prelude calls it only from a hook call */
    if (len > ls->scratch_cap) {
        HOST_ENTER();
        char *p = realloc(ls->scratch, len);
        if (p == NULL)
            abort();
        ls->scratch = p;
        ls->scratch_cap = len;
        HOST_LEAVE();
    }
    return ls->scratch;
}

/*
 * The host's getters as the prelude calls them: what they return is copied into the state's scratch buffer before the host
 * function is left. A move (which can happen at HOST_LEAVE, or anywhere in LuaJIT up to the ffi.string that reads the result)
 * copies the event into the offload job and leaves the caller's memory behind - the request may end before the call goes on
 * - so the prelude must never hold a pointer into it: it holds pointers into memory of its Lua state, which moves with the
 * call. The scratch is reused by the next getter: the prelude turns each result into Lua strings right away.
 */
static char *scratch_reserve(size_t len)
{
    hook_lua_state_t *ls = hook_tls_call->ls; /* inside HOST_ENTER: the thread cannot change under us */
    if (len > ls->scratch_cap) {
        size_t cap = ls->scratch_cap * 2 > len ? ls->scratch_cap * 2 : len < 256 ? 256 : len;
        char *p = realloc(ls->scratch, cap);
        if (p == NULL)
            abort();
        ls->scratch = p;
        ls->scratch_cap = cap;
    }
    return ls->scratch;
}

static void own_str(edge_str_t *s, char **at)
{
    if (s->len != 0) {
        memcpy(*at, s->ptr, s->len);
        s->ptr = *at;
        *at += s->len;
    }
}

static int own_header(int r, edge_header_t *out)
{
    if (r == 0) {
        char *at = scratch_reserve(out->name.len + out->key.len + out->value.len);
        own_str(&out->name, &at);
        own_str(&out->key, &at);
        own_str(&out->value, &at);
    }
    return r;
}

static int api_get(edge_ctx_t *ctx, int field, edge_str_t *out)
{
    HOST_ENTER();
    int r = hook_host.get(ctx, field, out);
    if (r >= 0) {
        char *at = scratch_reserve(out->len);
        own_str(out, &at);
    }
    HOST_LEAVE();
    return r;
}

static int api_header_get(edge_ctx_t *ctx, int msg, const char *name, size_t nlen, size_t nth, edge_header_t *out)
{
    HOST_ENTER();
    int r = own_header(hook_host.header_get(ctx, msg, name, nlen, nth, out), out);
    HOST_LEAVE();
    return r;
}

static int api_header_at(edge_ctx_t *ctx, int msg, size_t index, edge_header_t *out)
{
    HOST_ENTER();
    int r = own_header(hook_host.header_at(ctx, msg, index, out), out);
    HOST_LEAVE();
    return r;
}

/* the origin's strings and its custom headers (the array too: it is in the caller's pool) */
static int api_get_origin(edge_ctx_t *ctx, edge_origin_t *out)
{
    HOST_ENTER();
    int r = hook_host.get_origin(ctx, out);
    if (r == 0) {
        edge_str_t *strs[] = {&out->domain_name, &out->path, &out->protocol, &out->region, &out->auth_method, &out->version_id};
        size_t n = sizeof(edge_header_t) * out->num_custom_headers, nstrs = sizeof(strs) / sizeof(strs[0]);
        if (out->size < offsetof(edge_origin_t, version_id) + sizeof(out->version_id))
            --nstrs; /* a caller built for an older edge_origin_t */
        for (size_t i = 0; i != nstrs; ++i)
            n += strs[i]->len;
        for (uint32_t i = 0; i != out->num_custom_headers; ++i)
            n += out->custom_headers[i].name.len + out->custom_headers[i].key.len + out->custom_headers[i].value.len;
        char *at = scratch_reserve(n);
        if (out->num_custom_headers != 0) {
            edge_header_t *hs = (edge_header_t *)at; /* scratch is malloc'ed: aligned for it */
            memcpy(hs, out->custom_headers, sizeof(edge_header_t) * out->num_custom_headers);
            at += sizeof(edge_header_t) * out->num_custom_headers;
            for (uint32_t i = 0; i != out->num_custom_headers; ++i) {
                own_str(&hs[i].name, &at);
                own_str(&hs[i].key, &at);
                own_str(&hs[i].value, &at);
            }
            out->custom_headers = hs;
        }
        for (size_t i = 0; i != nstrs; ++i)
            own_str(strs[i], &at);
    }
    HOST_LEAVE();
    return r;
}

static size_t api_b64enc(const char *src, size_t len, char *dst)
{
    return edge_base64_encode(dst, src, len);
}

static int api_b64dec(const char *src, size_t len, char *dst, size_t *dlen)
{
    long n = edge_base64_decode(dst, src, len, EDGE_BASE64_LENIENT);
    if (n < 0)
        return -1;
    *dlen = (size_t)n;
    return 0;
}

static int api_digest(const char *alg, const char *data, size_t len, unsigned char *out)
{
    unsigned n = 0;
    HOST_ENTER();
    const EVP_MD *md = EVP_get_digestbyname(alg);
    int ok = md != NULL && EVP_MD_get_size(md) <= 64 && EVP_Digest(data, len, out, &n, md, NULL) == 1;
    HOST_LEAVE();
    return ok ? (int)n : -1;
}

static int api_hmac(const char *alg, const char *key, size_t klen, const char *data, size_t len, unsigned char *out)
{
    size_t n = 0;
    HOST_ENTER();
    const EVP_MD *md = EVP_get_digestbyname(alg);
    int ok = md != NULL && EVP_MD_get_size(md) <= 64 &&
             EVP_Q_mac(NULL, "HMAC", NULL, alg, NULL, key, klen, (const unsigned char *)data, len, out, 64, &n) != NULL;
    HOST_LEAVE();
    return ok ? (int)n : -1;
}

static double api_time(void)
{
    return (double)edge_realtime_ns() / 1e9;
}

static double api_remaining_ms(void)
{
    /* the call's own deadline, set when it started: not the slice the thread runs it for (an inline budget) */
    hook_call_t *c = hook_tls_call;
    uint64_t d = c != NULL ? c->deadline_ns : 0, now = hook_now_ns();
    return d > now ? (double)(d - now) / 1e6 : 0;
}

static uint32_t api_fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i != len; ++i) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* the prelude's log outside a hook call's handler (the top level, while a state is built): into the invocation's log too when
 * the state is built for a call that has one (a cold start) */
static void api_log(int level, const char *msg, size_t len)
{
    HOST_ENTER(); /* first: the call cannot move (and its event change) from here */
    hook_call_t *c = hook_call_self();
    hook_event_t *ev = c != NULL ? c->ctx.ev : NULL;
    if (ev != NULL && ev->invoke.tail != NULL)
        hook_logtail_line(ev->invoke.tail, ev->request_id.base, ev->request_id.len, level, msg, len);
    if (level <= log_get_level())
        log_write(level < 0 ? 0 : level > 3 ? 3 : level, "%.*s", (int)(len > 8192 ? 8192 : len), msg);
    HOST_LEAVE();
}

/* the prelude's ffi.cdef copies edge_hook.h's structs field for field: catch a field added to one and not the other */
_Static_assert(sizeof(edge_str_t) == 16 && sizeof(edge_header_t) == 48, "edge_str_t/edge_header_t changed: update prelude.lua");
_Static_assert(offsetof(edge_origin_t, custom_headers) == 104 && offsetof(edge_origin_t, ssl_protocols) == 112 &&
                   offsetof(edge_origin_t, version_id) == 120 && sizeof(edge_origin_t) == 136,
               "edge_origin_t changed: update prelude.lua");
_Static_assert(offsetof(edge_host_t, kv_get) == 16 + 19 * sizeof(void *) && offsetof(edge_host_t, s3) == 16 + 20 * sizeof(void *) &&
                   offsetof(edge_host_t, offload) == 16 + 21 * sizeof(void *) &&
                   sizeof(edge_host_t) == 16 + 22 * sizeof(void *),
               "edge_host_t changed: update prelude.lua");
_Static_assert(sizeof(hook_lua_api_t) == 22 * sizeof(void *), "hook_lua_api_t changed: update prelude.lua");

static const hook_lua_api_t lua_api = {
    .invalid = api_invalid,
    .headers_clear = api_headers_clear,
    .b64enc = api_b64enc,
    .b64dec = api_b64dec,
    .digest = api_digest,
    .hmac = api_hmac,
    .time = api_time,
    .remaining_ms = api_remaining_ms,
    .fnv1a = api_fnv1a,
    .log = api_log,
    .scratch = api_scratch,
    .header_put = hook_header_put,
    .fetch_add = hook_fetch_add,
    .fetch_header = hook_fetch_header,
    .fetch_wait = hook_fetch_wait,
    .fetch_result = hook_fetch_result,
    .fetch_header_at = hook_fetch_header_at,
    .kv_meta = hook_kv_meta,
    .get = api_get,
    .header_get = api_header_get,
    .header_at = api_header_at,
    .get_origin = api_get_origin,
};

static int on_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (lua_istable(L, 1)) {
            lua_getfield(L, 1, "message");
            msg = lua_tostring(L, -1);
        }
        if (msg == NULL)
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static void push_json(lua_State *L, const hook_json_t *v)
{
    switch (v->type) {
    case HOOK_JSON_NULL:
        lua_pushnil(L);
        break;
    case HOOK_JSON_FALSE:
    case HOOK_JSON_TRUE:
        lua_pushboolean(L, v->type == HOOK_JSON_TRUE);
        break;
    case HOOK_JSON_NUMBER:
        lua_pushnumber(L, v->number);
        break;
    case HOOK_JSON_STRING:
        lua_pushlstring(L, v->str, v->len);
        break;
    case HOOK_JSON_ARRAY:
        lua_createtable(L, (int)v->count, 0);
        for (size_t i = 0; i != v->count; ++i) {
            push_json(L, v->items[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        break;
    case HOOK_JSON_OBJECT:
        lua_createtable(L, 0, (int)v->count);
        for (size_t i = 0; i != v->count; ++i) {
            lua_pushlstring(L, v->keys[i], v->key_lens[i]);
            push_json(L, v->items[i]);
            lua_rawset(L, -3);
        }
        break;
    }
}

/* lua_dump's writer: appends to a malloc'ed buffer */
typedef struct dump_buf {
    char *base;
    size_t len, cap;
} dump_buf_t;

static int on_dump(lua_State *L, const void *p, size_t sz, void *ud)
{
    dump_buf_t *b = ud;
    (void)L;
    if (b->len + sz > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 4096;
        while (cap < b->len + sz)
            cap *= 2;
        char *n = realloc(b->base, cap);
        if (n == NULL)
            return 1;
        b->base = n;
        b->cap = cap;
    }
    memcpy(b->base + b->len, p, sz);
    b->len += sz;
    return 0;
}

/* the prelude, compiled once per process: every state loads its bytecode instead of parsing it */
static pthread_once_t prelude_once = PTHREAD_ONCE_INIT;
static dump_buf_t prelude_bc;

static void compile_prelude(void)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return;
    if (luaL_loadbuffer(L, hook_lua_prelude, hook_lua_prelude_len, "=edge.prelude") != 0 || lua_dump(L, on_dump, &prelude_bc) != 0) {
        free(prelude_bc.base);
        prelude_bc = (dump_buf_t){NULL, 0, 0}; /* states parse the source then (and report its error) */
    }
    lua_close(L);
}

/*
 * Builds a state for fn: stack [1] = traceback handler, [2] = run. Returns NULL with a message in err.
 * `validate`: the JIT is off and a count hook bounds the top-level code (used at load, where no watchdog runs).
 */
static void on_validate_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_getfield(L, LUA_REGISTRYINDEX, "edgehook.deadline");
    double deadline = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if ((double)hook_now_ns() > deadline)
        luaL_error(L, "the hook's top-level code runs too long");
}

/* runs L's function under the watchdog: a's thread armed it (hook_call_run) for the slice it runs */
static int armed_call(hook_call_t *c, lua_State *L, int nargs, int nres);

/*
 * c == NULL: no watchdog (validate: the load, which compiles the source into fn->bytecode; or prebuild, on the control thread):
 * the top level runs with the JIT off under a count hook. Otherwise (on the call's fiber) the state loads fn->bytecode, and is
 * c->ls while its top level runs (a hard stop there abandons it). jit_off: run interpreted (after a hard stop of this hook).
 */
enum { STATE_RUN = 0, STATE_VALIDATE = 1, STATE_PREBUILD = 2 };
static hook_lua_state_t *state_new(hook_fn_t *fn, int validate, int jit_off, hook_call_t *c, char *err, size_t errlen)
{
    hook_lua_state_t *ls = calloc(1, sizeof(*ls));
    if (ls == NULL)
        abort();
    ls->head.next = ls->head.prev = &ls->head;
    ls->limit = fn->memory_limit;
    lua_State *L = lua_newstate(on_lua_alloc, ls);
    if (L == NULL) {
        snprintf(err, errlen, "%s: cannot create a Lua state (memory limit %llu bytes?)", fn->path, (unsigned long long)ls->limit);
        free_blocks(ls);
        free(ls);
        return NULL;
    }
    ls->L = L;
    lua_gc(L, LUA_GCSTOP, 0);
    luaL_openlibs(L);
    lua_gc(L, LUA_GCRESTART, 0);
    /* after openlibs: luaopen_jit turns the JIT (back) on */
    if (validate || jit_off)
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    /* debugging aid: EDGEHOOK_JIT_V=FILE logs LuaJIT trace events (jit.v) of every hook state */
    if (getenv("EDGEHOOK_JIT_V") != NULL && luaL_dostring(L, "require('jit.v').on(os.getenv('EDGEHOOK_JIT_V'))") != 0)
        lua_pop(L, 1);
    lua_pushcfunction(L, on_traceback);
    /* the prelude: returns run, init */
    pthread_once(&prelude_once, compile_prelude);
    if ((prelude_bc.base != NULL ? luaL_loadbufferx(L, prelude_bc.base, prelude_bc.len, "=edge.prelude", "b")
                                 : luaL_loadbuffer(L, hook_lua_prelude, hook_lua_prelude_len, "=edge.prelude")) != 0) {
        snprintf(err, errlen, "%s: internal error: prelude: %s", fn->path, lua_tostring(L, -1));
        goto error;
    }
    lua_pushlightuserdata(L, (void *)&hook_host);
    lua_pushlightuserdata(L, (void *)&lua_api);
    hook_stdlib_push(L);
    if (lua_pcall(L, 3, 2, 1) != 0) {
        snprintf(err, errlen, "%s: internal error: prelude: %s", fn->path, lua_tostring(L, -1));
        goto error;
    }
    /* stack: tb, run, init. The source is parsed once, at load; every other state loads the bytecode made then (ours:
     * hooks themselves can load neither) */
    if (validate == STATE_VALIDATE || fn->bytecode == NULL) {
        if (luaL_loadbufferx(L, fn->source, fn->source_len, fn->chunkname, "t") != 0) {
            snprintf(err, errlen, "%s", lua_tostring(L, -1));
            goto error;
        }
        if (validate == STATE_VALIDATE && fn->bytecode == NULL) {
            dump_buf_t bc = {NULL, 0, 0};
            if (lua_dump(L, on_dump, &bc) == 0) {
                fn->bytecode = bc.base;
                fn->bytecode_len = bc.len;
            } else {
                free(bc.base);
            }
        }
    } else if (luaL_loadbufferx(L, fn->bytecode, fn->bytecode_len, fn->chunkname, "b") != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        goto error;
    }
    hook_json_t *cfg = hook_json_parse(fn->config_json, strlen(fn->config_json), err, errlen);
    if (cfg == NULL) {
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errlen, "%s: config is not valid JSON: %s", fn->path, tmp);
        goto error;
    }
    push_json(L, cfg);
    hook_json_free(cfg);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_pushstring(L, fn->name);
    lua_pushstring(L, fn->hash);
    lua_pushnumber(L, (double)(fn->memory_limit >> 20));
    if (validate) {
        /* the bound of the top level without a watchdog: 2 s from now (the compile above does not count: a big hook's parse on
         * a busy control thread may take a while) */
        lua_pushnumber(L, (double)(hook_now_ns() + 2000000000ull));
        lua_setfield(L, LUA_REGISTRYINDEX, "edgehook.deadline");
        lua_sethook(L, on_validate_hook, LUA_MASKCOUNT, 10000);
    }
    int rc;
    if (c != NULL) {
        c->ls = ls;
        rc = armed_call(c, L, 5, 1);
    } else {
        rc = lua_pcall(L, 5, 1, 1);
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1) != NULL ? lua_tostring(L, -1) : "error");
        goto error;
    }
    if (validate == STATE_VALIDATE) /* which triggers the file defines: hook_fn_handles() */
        fn->events = (uint32_t)lua_tointeger(L, -1) & (EDGE_ALL_EVENTS | EDGE_EVENT_BIT(HOOK_INVOKE));
    lua_settop(L, 2);
    if (validate)
        lua_sethook(L, NULL, 0, 0);
    if (validate == STATE_PREBUILD && !jit_off)
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON); /* the calls run compiled, as in a state built by a worker */
    return ls;
error:
    if (c != NULL)
        c->ls = NULL;
    hook_lua_state_free(ls);
    return NULL;
}

int hook_lua_validate(hook_fn_t *fn, char *err, size_t errlen)
{
    hook_thread_t *saved = hook_tls_thread;
    hook_tls_thread = NULL; /* no watchdog protocol on this thread */
    hook_lua_state_t *ls = state_new(fn, STATE_VALIDATE, 1, NULL, err, errlen);
    hook_tls_thread = saved;
    if (ls == NULL)
        return -1;
    hook_lua_state_free(ls);
    return 0;
}

void hook_lua_prebuild(hook_fn_t *fn, unsigned n)
{
    hook_thread_t *saved = hook_tls_thread;
    hook_tls_thread = NULL; /* no watchdog protocol on this thread: the top level is bounded by the count hook */
    for (unsigned i = 0; i != n; ++i) {
        char err[512];
        hook_lua_state_t *ls = state_new(fn, STATE_PREBUILD, 0, NULL, err, sizeof(err));
        if (ls == NULL) {
            log_warn("hook %s: cannot build a state ahead: %s", fn->name, err); /* the threads build theirs */
            break;
        }
        pthread_mutex_lock(&fn->spares_mutex);
        hook_lua_state_t **spares = realloc(fn->spares, sizeof(*spares) * (fn->num_spares + 1));
        if (spares != NULL) {
            fn->spares = spares;
            fn->spares[fn->num_spares++] = ls;
            ls = NULL;
        }
        pthread_mutex_unlock(&fn->spares_mutex);
        hook_lua_state_free(ls);
    }
    hook_tls_thread = saved;
}

/* a state built ahead, if one is left (a short lock: a pointer is popped) */
hook_lua_state_t *hook_lua_take_spare(hook_fn_t *fn)
{
    hook_lua_state_t *ls = NULL;
    if (atomic_load_explicit(&fn->prebuilt, memory_order_acquire) == 0)
        return NULL;
    pthread_mutex_lock(&fn->spares_mutex);
    if (fn->num_spares != 0)
        ls = fn->spares[--fn->num_spares];
    pthread_mutex_unlock(&fn->spares_mutex);
    return ls;
}

static int armed_call(hook_call_t *c, lua_State *L, int nargs, int nres)
{
    c->L = L;
    c->in_lua = 1;
    int rc = lua_pcall(L, nargs, nres, 1);
    /* the call may have moved to another thread meanwhile: nothing of a thread is used from here on */
    c->in_lua = 0;
    if (c->hook_armed) {
        lua_sethook(L, NULL, 0, 0);
        c->hook_armed = 0;
    }
    return rc;
}

static const char *pool_printf(h2o_mem_pool_t *pool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pool_printf(h2o_mem_pool_t *pool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return "error";
    char *p = h2o_mem_alloc_pool(pool, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void hook_lua_exec(hook_call_t *c)
{
    struct edge_ctx *ctx = &c->ctx;
    hook_fn_t *fn = c->fn;
    if (c->ls == NULL) {
        char err[1024];
        uint64_t t0 = hook_now_ns();
        c->ls = state_new(fn, STATE_RUN, c->jit_off, c, err, sizeof(err));
        if (c->ls == NULL) {
            c->rep.timed_out = c->timed_out;
            ctx->error = pool_printf(ctx->pool, "cannot load the hook: %s", err);
            c->st = HOOK_FAILED;
            return;
        }
        c->rep.init_ns = hook_now_ns() - t0; /* a cold start: the state is built for this call; call_peak counts since then */
        if (c->rep.init_ns == 0)
            c->rep.init_ns = 1;
    } else {
        c->ls->call_peak = c->ls->bytes;
    }
    if (c->prepare_only) {
        c->st = HOOK_CONTINUE;
        return;
    }
    hook_lua_state_t *ls = c->ls;
    lua_State *L = ls->L;
    int generic = ctx->ev->type == HOOK_INVOKE;
    lua_pushvalue(L, 2);
    lua_pushnumber(L, (lua_Number)(uintptr_t)ctx); /* exact: user-space addresses are < 2^53 */
    lua_pushinteger(L, ctx->ev->type);
    if (generic) /* the payload, decoded by the prelude; it returns 0 and the result's JSON */
        lua_pushlstring(L, ctx->ev->invoke.payload.base != NULL ? ctx->ev->invoke.payload.base : "null",
                        ctx->ev->invoke.payload.base != NULL ? ctx->ev->invoke.payload.len : 4);
    int rc = armed_call(c, L, generic ? 3 : 2, 2);
    hook_status_t st;
    size_t len;
    const char *m;
    if (rc != 0) {
        m = lua_tolstring(L, -1, &len);
        if (rc == LUA_ERRERR)
            ctx->error = "error in the error handler (a stack overflow: runaway recursion?)";
        else
            ctx->error = m != NULL ? pool_printf(ctx->pool, "%.*s", (int)len, m) : "error";
        st = HOOK_FAILED;
    } else {
        switch (lua_tointeger(L, -2)) {
        case 0:
            st = HOOK_CONTINUE;
            if (generic) {
                m = lua_tolstring(L, -1, &len);
                if (m == NULL || len > HOOK_INVOKE_RESULT_MAX) {
                    hook_ctx_invalid(ctx, "the handler's result is %s", m == NULL ? "missing" : "larger than 6 MB as JSON");
                    st = HOOK_INVALID;
                } else {
                    ctx->ev->invoke.result = h2o_strdup(ctx->pool, m, len);
                }
            }
            break;
        case 1:
            st = HOOK_RESPOND;
            break;
        case 2:
            st = HOOK_INVALID;
            if (!ctx->invalid)
                hook_ctx_invalid(ctx, "invalid result");
            break;
        default:
            m = lua_tolstring(L, -1, &len);
            ctx->error = m != NULL ? pool_printf(ctx->pool, "%.*s", (int)len, m) : "the hook failed";
            st = HOOK_FAILED;
            break;
        }
    }
    lua_settop(L, 2);
    c->rep.max_memory = ls->call_peak;
    if (c->timed_out) {
        c->rep.timed_out = 1;
        ctx->error =
            pool_printf(ctx->pool, "timed out after %lld ms: %s", (long long)ctx->timeout_ms, ctx->error != NULL ? ctx->error : "");
        st = HOOK_FAILED;
    }
    if (ls->oom) {
        c->rep.out_of_memory = 1;
        ctx->error = pool_printf(ctx->pool, "memory limit of %llu bytes exceeded, the Lua state is rebuilt: %s",
                                 (unsigned long long)ls->limit, ctx->error != NULL ? ctx->error : "");
        st = HOOK_FAILED;
        if (ls->peak > c->dead_peak)
            c->dead_peak = ls->peak;
        hook_lua_state_free(ls);
        c->ls = NULL;
        c->L = NULL;
    }
    c->st = st;
}
