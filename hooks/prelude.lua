-- hooks/prelude.lua - the trusted Lua side of the hooks runtime: lazy event proxies over the C event (via FFI), write-back, the `edge` module, the sandbox.
-- Embedded into hooks/prelude.c by hooks/prelude_gen.py (run it after editing this file; a unit test checks they match).
-- Called once per lua_State with (host vtable, helper api) as light userdata and the table of hooks/stdlib_lua.c's functions; returns
-- run(ctx, type[, payload]) and init(chunk, config, name, hash, mem_mb).
local host_ptr, api_ptr, std = ...
local ffi = require "ffi"
local clear = require "table.clear"
local jit = require "jit"

ffi.cdef [[
typedef struct edge_str { const char *ptr; size_t len; } edge_str_t;
typedef struct edge_ctx edge_ctx_t;
typedef struct edge_header { edge_str_t name; edge_str_t key; edge_str_t value; } edge_header_t;
typedef struct edge_origin {
    uint32_t size; uint32_t kind;
    edge_str_t domain_name, path, protocol, region, auth_method;
    uint32_t port, read_timeout, keepalive_timeout, num_custom_headers;
    const edge_header_t *custom_headers;
    uint32_t ssl_protocols;
    edge_str_t version_id;
} edge_origin_t;
typedef struct edge_host {
    uint32_t abi_major, abi_minor, size, reserved;
    int (*get)(edge_ctx_t *ctx, int field, edge_str_t *out);
    int (*set)(edge_ctx_t *ctx, int field, const char *value, size_t len);
    int (*get_status)(edge_ctx_t *ctx);
    int (*set_status)(edge_ctx_t *ctx, int status);
    size_t (*header_count)(edge_ctx_t *ctx, int msg);
    int (*header_at)(edge_ctx_t *ctx, int msg, size_t index, edge_header_t *out);
    int (*header_get)(edge_ctx_t *ctx, int msg, const char *name, size_t name_len, size_t nth, edge_header_t *out);
    int (*header_add)(edge_ctx_t *ctx, int msg, const char *key, size_t key_len, const char *value, size_t value_len);
    int (*header_remove)(edge_ctx_t *ctx, int msg, const char *name, size_t name_len);
    int (*header_set)(edge_ctx_t *ctx, int msg, const char *key, size_t key_len, const char *value, size_t value_len);
    int (*respond)(edge_ctx_t *ctx, int status, const char *description, size_t description_len, const char *body, size_t body_len);
    int (*get_origin)(edge_ctx_t *ctx, edge_origin_t *out);
    int (*set_origin)(edge_ctx_t *ctx, const edge_origin_t *origin);
    void *(*alloc)(edge_ctx_t *ctx, size_t size);
    void (*log)(edge_ctx_t *ctx, int level, const char *msg, size_t len);
    void (*fail)(edge_ctx_t *ctx, const char *msg, size_t len);
    void *fetch, *fetch_wait, *thread_state;
    int (*kv_get)(edge_ctx_t *ctx, const char *store, size_t store_len, const char *key, size_t key_len, edge_str_t *out);
    void *s3, *offload;
} edge_host_t;
typedef struct hook_lua_api {
    void (*invalid)(edge_ctx_t *ctx, const char *msg, size_t len);
    void (*headers_clear)(edge_ctx_t *ctx, int msg);
    size_t (*b64enc)(const char *src, size_t len, char *dst);
    int (*b64dec)(const char *src, size_t len, char *dst, size_t *dlen);
    int (*digest)(const char *alg, const char *data, size_t len, unsigned char *out);
    int (*hmac)(const char *alg, const char *key, size_t klen, const char *data, size_t len, unsigned char *out);
    double (*time)(void);
    double (*remaining_ms)(void);
    uint32_t (*fnv1a)(const char *s, size_t len);
    void (*log)(int level, const char *msg, size_t len);
    char *(*scratch)(size_t len);
    int (*header_put)(edge_ctx_t *ctx, int msg, const char *name, size_t nlen, const char *key, size_t klen, const char *value,
                      size_t vlen);
    int (*fetch_add)(edge_ctx_t *ctx, const char *url, size_t ulen, const char *method, size_t mlen, const char *body, size_t blen,
                     double timeout_ms);
    int (*fetch_header)(edge_ctx_t *ctx, int idx, const char *name, size_t nlen, const char *value, size_t vlen);
    int (*fetch_wait)(edge_ctx_t *ctx);
    int (*fetch_result)(edge_ctx_t *ctx, int idx, edge_str_t *body, edge_str_t *err);
    int (*fetch_header_at)(edge_ctx_t *ctx, int idx, size_t i, edge_header_t *out);
    int (*kv_meta)(edge_ctx_t *ctx, const char *store, size_t len, uint64_t *out);
    int (*get)(edge_ctx_t *ctx, int field, edge_str_t *out);
    int (*header_get)(edge_ctx_t *ctx, int msg, const char *name, size_t name_len, size_t nth, edge_header_t *out);
    int (*header_at)(edge_ctx_t *ctx, int msg, size_t index, edge_header_t *out);
    int (*get_origin)(edge_ctx_t *ctx, edge_origin_t *out);
} hook_lua_api_t;
]]

local H = ffi.cast("const edge_host_t *", host_ptr)
local A = ffi.cast("const hook_lua_api_t *", api_ptr)
local fstring, fnew = ffi.string, ffi.new
local type, rawget, rawset, setmetatable, tostring, tonumber, error, pairs, next, select =
    type, rawget, rawset, setmetatable, tostring, tonumber, error, pairs, next, select
local getmt = debug.getmetatable
local find, lower, upper, gsub, sub, byte, char, format, concat, sort =
    string.find, string.lower, string.upper, string.gsub, string.sub, string.byte, string.char, string.format, table.concat,
    table.sort
local floor = math.floor

-- fields (edge_field_t) and messages
local F_TYPE, F_REQID, F_DOMAIN, F_DISTID, F_IP, F_METHOD, F_URI, F_QS, F_RBODY, F_SDESC, F_SBODY = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
local REQ, RESP = 0, 1

local str1 = fnew("edge_str_t[1]")
local hdr1 = fnew("edge_header_t[1]")
local sizet1 = fnew("size_t[1]")

local cur = nil   -- the edge_ctx_t of the running call (light userdata), nil between calls
local etype = 0   -- its event type
local S_cf, S_req, S_resp, S_origin_fp = nil, nil, nil, nil
local hproxy = {}
local tracks = {}
for m = 0, 1 do
    tracks[m] = { nf = 0, fl = {}, fset = {}, snap = {}, na = 0, al = {}, aset = {}, all = false }
end

local function getf(field)
    if A.get(cur, field, str1) < 0 then
        return nil
    end
    return fstring(str1[0].ptr, str1[0].len)
end

local invalid_msg = nil
local function bad(msg)
    invalid_msg = msg
    return 2
end

-- arrays accept [0] as an alias of [1], so Node.js code (headers.host[0].value) ports line by line
local arr_mt = {
    __index = function(t, k)
        if k == 0 then
            return rawget(t, 1)
        end
    end,
    __newindex = function(t, k, v)
        if k == 0 then
            k = 1
        end
        rawset(t, k, v)
    end,
}

-- header arrays the hook builds itself get arr_mt when they enter the event (assigned into a header map), so that Node.js code
-- that reads back what it stored (headers['x'] = [{...}]; headers['x'][0].value) ports line by line too
local function wrap_arr(v)
    if type(v) == "table" and getmt(v) == nil then
        setmetatable(v, arr_mt)
    end
    return v
end

local function title(name)
    return (gsub(gsub(name, "^%l", upper), "%-%l", upper))
end

-- all values of one header, as { {key=, value=}, ... }, and a snapshot to tell later whether the hook changed them
local function fetch(m, name)
    local arr, snap, i = nil, nil, 0
    while A.header_get(cur, m, name, #name, i, hdr1) == 0 do
        if arr == nil then
            arr = setmetatable({}, arr_mt)
            snap = { arr, 0 }
        end
        local h = hdr1[0]
        local k, v = fstring(h.key.ptr, h.key.len), fstring(h.value.ptr, h.value.len)
        local e = { key = k, value = v }
        i = i + 1
        arr[i] = e
        snap[3 * i], snap[3 * i + 1], snap[3 * i + 2] = e, k, v
    end
    if snap then
        snap[2] = i
    end
    return arr, snap
end

-- what the event's header maps hold: the proxies themselves stay empty, so that every read and every write of a name (a
-- second assignment too) goes through their metamethods
local D = { [0] = {}, [1] = {} }

local function record_fetch(tr, m, name, arr, snap)
    tr.nf = tr.nf + 1
    tr.fl[tr.nf] = name
    tr.fset[name] = true
    if arr then
        tr.snap[name] = snap
        D[m][name] = arr
    end
end

local hp_mt = {}
for m = 0, 1 do
    local tr = tracks[m]
    hp_mt[m] = {
        __metatable = "edge.headers",
        __index = function(P, name)
            if P ~= hproxy[m] or cur == nil then
                return nil
            end
            local v = D[m][name]
            if v ~= nil or type(name) ~= "string" or tr.fset[name] or tr.aset[name] or find(name, "%u") then
                return v
            end
            local arr, snap = fetch(m, name)
            record_fetch(tr, m, name, arr, snap)
            return arr
        end,
        __newindex = function(P, name, v)
            if P ~= hproxy[m] or cur == nil then
                return -- a map of an earlier call: nothing reads it any more
            end
            D[m][name] = wrap_arr(v)
            if not tr.fset[name] and not tr.aset[name] then
                tr.na = tr.na + 1
                tr.al[tr.na] = name
                tr.aset[name] = true
            end
        end,
    }
end

-- a header map the hook built and put into the event (request.headers = {...}, origin customHeaders): its entries move to a
-- shadow table, as in the event's own maps, so that arrays stored into it later get arr_mt as well
local shadow = setmetatable({}, { __mode = "k" })
local hmap_mt = {
    __metatable = "edge.headers",
    __index = function(t, k)
        return shadow[t][k]
    end,
    __newindex = function(t, k, v)
        shadow[t][k] = wrap_arr(v)
    end,
}

local function wrap_headers(t)
    if type(t) ~= "table" then
        return t
    end
    local mt = getmt(t)
    if mt == hp_mt[0] or mt == hp_mt[1] or mt == hmap_mt then
        return t
    end
    if mt ~= nil then -- the hook's own kind of table: its arrays get [0], the table stays as it is
        for _, arr in next, t do
            wrap_arr(arr)
        end
        return t
    end
    local s = {}
    for k, arr in next, t do
        s[k] = wrap_arr(arr)
    end
    clear(t)
    shadow[t] = s
    setmetatable(t, hmap_mt)
    return t
end

-- the event's tables are recycled from call to call (cleared when first used in a call): the only garbage a call makes
-- is what the hook itself builds. Hooks must not keep references to event objects across calls.
local P_h = { [0] = setmetatable({}, hp_mt[0]), [1] = setmetatable({}, hp_mt[1]) }

-- the table that holds a header map's entries (for next/pairs and the write-back)
local function new_proxy(m)
    local P = P_h[m]
    clear(D[m])
    hproxy[m] = P
    return P
end

local function materialise_headers(P, m)
    local tr = tracks[m]
    if P ~= hproxy[m] or cur == nil or tr.all then
        return
    end
    tr.all = true
    local n = tonumber(H.header_count(cur, m))
    for i = 0, n - 1 do
        if A.header_at(cur, m, i, hdr1) == 0 then
            local name = fstring(hdr1[0].name.ptr, hdr1[0].name.len)
            if D[m][name] == nil and not tr.fset[name] and not tr.aset[name] then
                local arr, snap = fetch(m, name)
                record_fetch(tr, m, name, arr, snap)
            end
        end
    end
end

local function map_view(h)
    local mt = getmt(h)
    if mt == hp_mt[0] or mt == hp_mt[1] then
        local m = mt == hp_mt[0] and 0 or 1
        if h ~= hproxy[m] then
            return {}
        end
        materialise_headers(h, m)
        return D[m]
    elseif mt == hmap_mt then
        return shadow[h]
    end
    return h
end

-- request.headers and response.headers of the event's request and response: kept out of those tables, so that assigning a
-- new map always goes through __newindex (which wraps it); R_set[t]: the hook assigned one (nil included)
local R_h, R_set = {}, {}

local function unchanged(s, v)
    if s == nil or v ~= s[1] then
        return false
    end
    local n = s[2]
    if rawget(v, n + 1) ~= nil then
        return false
    end
    for i = 1, n do
        local e, b = rawget(v, i), 3 * i
        if e ~= s[b] or e.key ~= s[b + 1] or e.value ~= s[b + 2] then
            return false
        end
    end
    return true
end

local function header_entries(name, arr)
    if type(arr) ~= "table" then
        return nil, "headers['" .. name .. "'] must be an array of {key = ..., value = ...}"
    end
    if rawget(arr, 1) == nil and rawget(arr, 0) ~= nil then
        return { rawget(arr, 0) } -- built 0-based, Node.js style
    end
    return arr
end

-- appends the entries of one header name
local function add_entries(m, name, arr)
    if type(name) ~= "string" then
        return bad("header names must be strings")
    end
    local list, err = header_entries(name, arr)
    if list == nil then
        return bad(err)
    end
    for i = 1, #list do
        local e = list[i]
        if type(e) ~= "table" then
            return bad("headers['" .. name .. "'][" .. i .. "] must be a table {key = ..., value = ...}")
        end
        local k, v = e.key, e.value
        if k ~= nil and type(k) ~= "string" then
            return bad("headers['" .. name .. "'][" .. i .. "].key must be a string, not " .. type(k))
        end
        if type(v) ~= "string" then
            return bad("headers['" .. name .. "'][" .. i .. "].value must be a string, not " .. type(v))
        end
        -- case checks (name lowercase, key matching it, Title-Case when key is omitted) are done in C: no string.lower here
        if A.header_put(cur, m, name, #name, k, k and #k or 0, v, #v) ~= 0 then
            return 2
        end
    end
    return 0
end

local function write_name(m, name, arr)
    if type(name) ~= "string" then
        return bad("header names must be strings")
    end
    H.header_remove(cur, m, name, #name)
    if arr == nil then
        return 0
    end
    return add_entries(m, name, arr)
end

local function wb_tracked(m)
    local P, tr = hproxy[m], tracks[m]
    for i = 1, tr.nf do
        local name = tr.fl[i]
        local v = D[m][name]
        if not unchanged(tr.snap[name], v) and (v ~= nil or tr.snap[name] ~= nil) then
            if write_name(m, name, v) ~= 0 then
                return 2
            end
        end
    end
    for i = 1, tr.na do
        local name = tr.al[i]
        if not tr.fset[name] then
            if write_name(m, name, D[m][name]) ~= 0 then
                return 2
            end
        end
    end
    return 0
end

local function wb_full(h, m, clear_first)
    if type(h) ~= "table" then
        return bad("headers must be a table of lowercase name -> array of {key, value}")
    end
    if clear_first then
        A.headers_clear(cur, m)
    end
    for name, arr in next, map_view(h) do
        if add_entries(m, name, arr) ~= 0 then
            return 2
        end
    end
    return 0
end

local function wb_headers(r, m, lazy)
    local h
    if r == S_req or r == S_resp then
        h = R_h[r]
    else
        h = rawget(r, "headers")
    end
    if h == nil then
        return 0 -- untouched (lazy) or left out (a new table): the headers stay as they are
    end
    if lazy and h == hproxy[m] then
        return wb_tracked(m)
    end
    return wb_full(h, m, true)
end

local b64enc, b64dec

local function decode_body(body, enc, what)
    if type(body) ~= "string" then
        return nil, what .. ".body must be a string"
    end
    if enc == nil or enc == "text" then
        return body
    end
    if enc == "base64" then
        local d = b64dec(body)
        if d == nil then
            return nil, what .. ".body is not valid base64"
        end
        return d
    end
    return nil, what .. ".bodyEncoding must be \"text\" or \"base64\""
end

local function to_status(s, what)
    local n = tonumber(s)
    if n == nil or n % 1 ~= 0 or (type(s) ~= "string" and type(s) ~= "number") then
        return nil, what .. ".status must be a number or a numeric string, not " .. tostring(s)
    end
    return n
end

-- origin <-> tables in the Lambda@Edge shape
local origin_keys = { "domain_name", "path", "protocol", "region", "auth_method" }
local function origin_fp(o)
    if type(o) ~= "table" then
        return tostring(o)
    end
    local parts = {}
    for _, kind in ipairs({ "custom", "s3" }) do
        local c = o[kind]
        if type(c) == "table" then
            parts[#parts + 1] = kind
            for _, k in ipairs({ "domainName", "path", "protocol", "region", "authMethod", "port", "readTimeout",
                "keepaliveTimeout", "versionId" }) do
                parts[#parts + 1] = tostring(c[k])
            end
            local sp = c.sslProtocols
            if type(sp) == "table" then
                for i = 1, #sp do
                    parts[#parts + 1] = tostring(sp[i])
                end
            else
                parts[#parts + 1] = tostring(sp)
            end
            local ch = c.customHeaders
            if type(ch) == "table" then
                ch = map_view(ch)
                local names = {}
                for n in next, ch do
                    names[#names + 1] = tostring(n)
                end
                sort(names)
                for _, n in ipairs(names) do
                    local arr = ch[n]
                    parts[#parts + 1] = n
                    if type(arr) == "table" then
                        for i = 1, #arr do
                            local e = arr[i]
                            parts[#parts + 1] = type(e) == "table" and (tostring(e.key) .. "=" .. tostring(e.value)) or "?"
                        end
                    end
                end
            end
        end
    end
    return concat(parts, "\0")
end

-- sslProtocols values, in the order of their EDGE_SSL_* bits
local ssl_names = { "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" }
local ssl_bits = {}
for i, n in ipairs(ssl_names) do
    ssl_bits[n] = 2 ^ (i - 1)
end

local function read_origin()
    local o = fnew("edge_origin_t")
    o.size = ffi.sizeof("edge_origin_t")
    if A.get_origin(cur, o) ~= 0 then
        return nil
    end
    local function s(v)
        return fstring(v.ptr, v.len)
    end
    local ch = {}
    for i = 0, tonumber(o.num_custom_headers) - 1 do
        local h = o.custom_headers[i]
        local name = s(h.name)
        local arr = ch[name] or setmetatable({}, arr_mt)
        arr[#arr + 1] = { key = s(h.key), value = s(h.value) }
        ch[name] = arr
    end
    ch = wrap_headers(ch)
    if o.kind == 1 then
        local sp = setmetatable({}, arr_mt)
        for i = 1, #ssl_names do
            if floor(tonumber(o.ssl_protocols) / 2 ^ (i - 1)) % 2 == 1 then
                sp[#sp + 1] = ssl_names[i]
            end
        end
        return { custom = { customHeaders = ch, domainName = s(o.domain_name), path = s(o.path), protocol = s(o.protocol),
            port = tonumber(o.port), readTimeout = tonumber(o.read_timeout), keepaliveTimeout = tonumber(o.keepalive_timeout),
            sslProtocols = sp } }
    end
    local vid = s(o.version_id)
    return { s3 = { customHeaders = ch, domainName = s(o.domain_name), path = s(o.path), region = s(o.region),
        authMethod = s(o.auth_method), versionId = vid ~= "" and vid or nil } }
end

local function opt_string(t, k, what)
    local v = t[k]
    if v == nil then
        return ""
    end
    if type(v) ~= "string" then
        error(what .. "." .. k .. " must be a string", 0)
    end
    return v
end

local function opt_int(t, k, what)
    local v = t[k]
    if v == nil then
        return 0
    end
    v = tonumber(v)
    if v == nil or v % 1 ~= 0 or v < 0 or v > 65535 then
        error(what .. "." .. k .. " must be an integer", 0)
    end
    return v
end

local function wb_origin(o)
    if type(o) ~= "table" then
        return bad("request.origin must be a table {custom = {...}} or {s3 = {...}}")
    end
    local c, s3 = o.custom, o.s3
    if (c ~= nil) == (s3 ~= nil) or type(c or s3) ~= "table" then
        return bad("request.origin must have exactly one of custom or s3")
    end
    local t, what = c or s3, c and "request.origin.custom" or "request.origin.s3"
    local eo = fnew("edge_origin_t")
    eo.size = ffi.sizeof("edge_origin_t")
    eo.kind = c and 1 or 2
    local keep = {}
    local function str(field, v)
        keep[#keep + 1] = v
        eo[field].ptr = v
        eo[field].len = #v
    end
    local ok, err = pcall(function()
        str("domain_name", opt_string(t, "domainName", what))
        str("path", opt_string(t, "path", what))
        if c then
            str("protocol", opt_string(t, "protocol", what))
            eo.port = opt_int(t, "port", what)
            eo.read_timeout = opt_int(t, "readTimeout", what)
            eo.keepalive_timeout = opt_int(t, "keepaliveTimeout", what)
            local sp, bits = t.sslProtocols, 0
            if sp ~= nil then
                if type(sp) ~= "table" then
                    error(what .. ".sslProtocols must be a list of SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", 0)
                end
                for i = 1, #sp do
                    local b = ssl_bits[sp[i]]
                    if b == nil then
                        error(what .. ".sslProtocols: " .. tostring(sp[i]) .. " is not one of SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", 0)
                    end
                    if floor(bits / b) % 2 == 0 then
                        bits = bits + b
                    end
                end
            end
            eo.ssl_protocols = bits
        else
            str("region", opt_string(t, "region", what))
            str("auth_method", opt_string(t, "authMethod", what))
            str("version_id", opt_string(t, "versionId", what))
        end
    end)
    if not ok then
        return bad(err)
    end
    local ch = t.customHeaders
    local list = {}
    if ch ~= nil then
        if type(ch) ~= "table" then
            return bad(what .. ".customHeaders must be a table")
        end
        for name, arr in next, map_view(ch) do
            local entries, e2 = header_entries(tostring(name), arr)
            if entries == nil then
                return bad(what .. ".customHeaders: " .. e2)
            end
            for i = 1, #entries do
                local e = entries[i]
                if type(e) ~= "table" or type(e.value) ~= "string" or (e.key ~= nil and type(e.key) ~= "string") or
                    type(name) ~= "string" then
                    return bad(what .. ".customHeaders['" .. tostring(name) .. "'] must hold {key = string, value = string}")
                end
                -- the map's name says which header it is; a key gives its case only when it spells that name (as in
                -- request.headers: a key copied from another header is ignored)
                local k = e.key
                if k == nil or lower(k) ~= lower(name) then
                    k = title(lower(name))
                end
                list[#list + 1] = { k, e.value }
            end
        end
    end
    local hs = fnew("edge_header_t[?]", #list + 1)
    for i, kv in ipairs(list) do
        hs[i - 1].key.ptr, hs[i - 1].key.len = kv[1], #kv[1]
        hs[i - 1].name.ptr, hs[i - 1].name.len = kv[1], #kv[1]
        hs[i - 1].value.ptr, hs[i - 1].value.len = kv[2], #kv[2]
    end
    eo.num_custom_headers = #list
    eo.custom_headers = hs
    local rc = H.set_origin(cur, eo)
    keep, list = nil, nil
    return rc ~= 0 and 2 or 0
end

local function wb_request(r, lazy)
    for _, f in ipairs({ { "uri", F_URI }, { "querystring", F_QS } }) do
        local v = rawget(r, f[1])
        if v ~= nil then
            if type(v) ~= "string" then
                return bad("request." .. f[1] .. " must be a string")
            end
            if v ~= getf(f[2]) and H.set(cur, f[2], v, #v) ~= 0 then
                return 2
            end
        end
    end
    if wb_headers(r, REQ, lazy) ~= 0 then
        return 2
    end
    if etype == 1 then
        local o = rawget(r, "origin")
        if o ~= nil and origin_fp(o) ~= S_origin_fp then
            if wb_origin(o) ~= 0 then
                return 2
            end
        end
    end
    local b = rawget(r, "body")
    if type(b) == "table" and b.action == "replace" then
        local data, err = decode_body(b.data, b.encoding or "base64", "request.body")
        if data == nil then
            return bad(err)
        end
        if H.set(cur, F_RBODY, data, #data) ~= 0 then
            return 2
        end
    end
    return 0
end

local function wb_generated(r)
    local st, err = to_status(rawget(r, "status"), "response")
    if st == nil then
        return bad(err)
    end
    local desc = r.statusDescription or ""
    if type(desc) ~= "string" then
        return bad("response.statusDescription must be a string")
    end
    local body = r.body
    if body ~= nil then
        body, err = decode_body(body, r.bodyEncoding, "response")
        if body == nil then
            return bad(err)
        end
    end
    if H.respond(cur, st, desc, #desc, body, body and #body or 0) ~= 0 then
        return 2
    end
    local h = r.headers
    if h ~= nil and wb_full(h, RESP, false) ~= 0 then
        return 2
    end
    return 1
end

local function wb_response(r, lazy)
    local s = rawget(r, "status")
    if s ~= nil then
        local n, err = to_status(s, "response")
        if n == nil then
            return bad(err)
        end
        if n ~= H.get_status(cur) and H.set_status(cur, n) ~= 0 then
            return 2
        end
    end
    local d = rawget(r, "statusDescription")
    if d ~= nil then
        if type(d) ~= "string" then
            return bad("response.statusDescription must be a string")
        end
        if d ~= getf(F_SDESC) and H.set(cur, F_SDESC, d, #d) ~= 0 then
            return 2
        end
    end
    if wb_headers(r, RESP, lazy) ~= 0 then
        return 2
    end
    local b = rawget(r, "body")
    if b ~= nil then
        local body, err = decode_body(b, rawget(r, "bodyEncoding"), "response")
        if body == nil then
            return bad(err)
        end
        if H.set(cur, F_SBODY, body, #body) ~= 0 then
            return 2
        end
    end
    return 0
end

local function writeback(r)
    if type(r) ~= "table" then
        return bad("the handler returned " .. (r == nil and "nothing" or ("a " .. type(r))) .. ", not a " ..
            (etype <= 1 and "request or response" or "response") .. " table")
    end
    if etype <= 1 then
        if r == S_req then
            return wb_request(r, true)
        end
        if rawget(r, "status") ~= nil then
            return wb_generated(r)
        end
        if rawget(r, "uri") ~= nil or rawget(r, "headers") ~= nil or rawget(r, "querystring") ~= nil then
            return wb_request(r, false)
        end
        return bad("the handler returned a table that is neither a request (uri, headers) nor a response (status)")
    end
    if r == S_resp then
        return wb_response(r, true)
    end
    if r == S_req then
        return bad("a " .. (etype == 2 and "origin" or "viewer") .. "-response hook must return the response, not the request")
    end
    if rawget(r, "status") ~= nil or rawget(r, "headers") ~= nil then
        return wb_response(r, false)
    end
    return bad("the handler returned a table that is not a response (status, headers)")
end

local function headers_field(t, m)
    local v = R_h[t]
    if v == nil and not R_set[t] then
        v = new_proxy(m)
        R_h[t] = v
    end
    return v
end

-- lazy views of the C event
local req_mt, resp_mt, cf_mt = { __metatable = "edge.request" }, { __metatable = "edge.response" }, { __metatable = "edge.cf" }
local req_fields = { clientIp = F_IP, method = F_METHOD, uri = F_URI, querystring = F_QS }
local P_req, P_resp, P_cf = setmetatable({}, req_mt), setmetatable({}, resp_mt), setmetatable({}, cf_mt)
local P_rec = { cf = P_cf }
local P_records = { [0] = P_rec, P_rec }
local P_event = { Records = P_records }

req_mt.__index = function(t, k)
    if t ~= S_req or cur == nil then
        return nil
    end
    local f = req_fields[k]
    if f then
        return getf(f)
    end
    local v
    if k == "headers" then
        return headers_field(t, REQ)
    elseif k == "origin" then
        if etype ~= 1 and etype ~= 2 then
            return nil
        end
        v = read_origin()
        S_origin_fp = origin_fp(v)
    elseif k == "body" then
        local rc = A.get(cur, F_RBODY, str1)
        if rc < 0 then
            return nil
        end
        v = { inputTruncated = rc == 1, action = "read-only", encoding = "base64",
            data = b64enc(fstring(str1[0].ptr, str1[0].len)) }
    end
    if v ~= nil then
        rawset(t, k, v)
    end
    return v
end

resp_mt.__index = function(t, k)
    if t ~= S_resp or cur == nil then
        return nil
    end
    if k == "status" then
        return tostring(H.get_status(cur))
    elseif k == "statusDescription" then
        return getf(F_SDESC)
    elseif k == "headers" then
        return headers_field(t, RESP)
    end
    return nil
end

local function set_field(t, k, v)
    if k == "headers" and (t == S_req or t == S_resp) and cur ~= nil then
        R_set[t] = true
        R_h[t] = wrap_headers(v)
    else
        rawset(t, k, v)
    end
end
req_mt.__newindex, resp_mt.__newindex = set_field, set_field

cf_mt.__index = function(t, k)
    if t ~= S_cf or cur == nil then
        return nil
    end
    local v
    if k == "config" then
        v = { distributionDomainName = getf(F_DOMAIN), distributionId = getf(F_DISTID), eventType = getf(F_TYPE),
            requestId = getf(F_REQID) }
    elseif k == "request" then
        v = P_req
        clear(v)
        S_req = v
    elseif k == "response" then
        if etype < 2 then
            return nil
        end
        v = P_resp
        clear(v)
        S_resp = v
    else
        return nil
    end
    rawset(t, k, v)
    return v
end

-- pairs/next in the sandbox see every field of the lazy views
local function materialise(t)
    local mt = getmt(t)
    if mt == nil then
        return
    elseif mt == hp_mt[0] then
        materialise_headers(t, 0)
    elseif mt == hp_mt[1] then
        materialise_headers(t, 1)
    elseif mt == cf_mt then
        local _ = t.config, t.request, t.response
    elseif mt == req_mt and t == S_req then
        for k in next, req_fields do
            rawset(t, k, t[k])
        end
        local _ = t.headers, t.origin, t.body
    elseif mt == resp_mt and t == S_resp then
        rawset(t, "status", t.status)
        rawset(t, "statusDescription", t.statusDescription)
        local _ = t.headers
    end
end

-- what next/pairs walk for t: the entries of a header map, the fields of the event's request or response with their headers,
-- t itself otherwise
local function view(t)
    local mt = getmt(t)
    if mt == nil then
        return t
    end
    materialise(t)
    if mt == hp_mt[0] or mt == hp_mt[1] or mt == hmap_mt then
        return map_view(t)
    elseif (mt == req_mt or mt == resp_mt) and (t == S_req or t == S_resp) then
        local c = {}
        for k, v in next, t do
            c[k] = v
        end
        c.headers = R_h[t]
        return c
    end
    return t
end

local walking = setmetatable({}, { __mode = "k" }) -- t -> the view a next(t, nil) started

local function spairs(t)
    return next, view(t), nil
end

local function snext(t, k)
    if getmt(t) == nil then
        return next(t, k)
    end
    local v
    if k == nil then
        v = view(t)
        walking[t] = v
    else
        v = walking[t] or view(t)
    end
    return next(v, k)
end

-- rawget/rawset in the sandbox see through the event's lazy tables (their fields are not stored in them)
local function srawget(t, k)
    local mt = getmt(t)
    if mt == hp_mt[0] or mt == hp_mt[1] or mt == hmap_mt or mt == req_mt or mt == resp_mt or mt == cf_mt then
        return t[k]
    end
    return rawget(t, k)
end

local function srawset(t, k, v)
    local mt = getmt(t)
    if mt == hp_mt[0] or mt == hp_mt[1] or mt == hmap_mt or mt == req_mt or mt == resp_mt then
        t[k] = v
        return t
    end
    return rawset(t, k, v)
end

-- the edge module
local edge = {}
local hook_name = "?"

b64enc = function(s)
    s = tostring(s)
    local n = #s
    local out = A.scratch(floor((n + 2) / 3) * 4 + 4)
    local len = A.b64enc(s, n, out)
    return fstring(out, len)
end

b64dec = function(s)
    if type(s) ~= "string" then
        return nil
    end
    local out = A.scratch(#s + 4)
    if A.b64dec(s, #s, out, sizet1) ~= 0 then
        return nil
    end
    return fstring(out, sizet1[0])
end

-- a string argument (numbers are turned into strings, as JavaScript would); anything else is an error
local function checkstr(v, what)
    local tv = type(v)
    if tv == "string" then
        return v
    elseif tv == "number" then
        return tostring(v)
    end
    error(what .. ": expected a string, got " .. tv, 3)
end

local function digest(alg)
    local what = "edge." .. alg
    return function(s)
        s = checkstr(s, what)
        local out = A.scratch(64)
        local n = A.digest(alg, s, #s, ffi.cast("unsigned char *", out))
        if n <= 0 then
            error("edge: digest " .. alg .. " failed", 2)
        end
        return fstring(out, n)
    end
end

local function hmac(alg, key, msg)
    key, msg = checkstr(key, "edge.hmac"), checkstr(msg, "edge.hmac")
    local out = A.scratch(64)
    local n = A.hmac(alg, key, #key, msg, #msg, ffi.cast("unsigned char *", out))
    if n <= 0 then
        error("edge: hmac " .. tostring(alg) .. " failed", 2)
    end
    return fstring(out, n)
end

local function log_at(level)
    return function(...)
        local n = select("#", ...)
        local parts = { ... }
        for i = 1, n do
            parts[i] = tostring(parts[i])
        end
        local msg = concat(parts, "\t", 1, n)
        if cur ~= nil then
            H.log(cur, level, msg, #msg)
        else
            msg = "hook " .. hook_name .. ": " .. msg
            A.log(level, msg, #msg)
        end
    end
end

local function url_decode(s)
    s = gsub(tostring(s), "+", " ")
    return (gsub(s, "%%(%x%x)", function(h)
        return char(tonumber(h, 16))
    end))
end

local function url_encode(s)
    return (gsub(tostring(s), "[^%w%-%._~]", function(c)
        return format("%%%02X", byte(c))
    end))
end

local function parse_query(qs)
    local t = {}
    if type(qs) ~= "string" or qs == "" then
        return t
    end
    for pair in qs:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=?(.*)$")
        k, v = url_decode(k), url_decode(v)
        local old = t[k]
        if old == nil then
            t[k] = v
        elseif type(old) == "table" then
            old[#old + 1] = v
        else
            t[k] = { old, v }
        end
    end
    return t
end

-- the same pairs as parse_query, in their order: { {name, value}, ... } (build_query takes it back unchanged)
local function parse_query_list(qs)
    local t = {}
    if type(qs) ~= "string" or qs == "" then
        return t
    end
    for pair in qs:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=?(.*)$")
        t[#t + 1] = { url_decode(k), url_decode(v) }
    end
    return t
end

-- a map: its names sorted (a stable cache key); a list of {name, value} pairs: in the list's order
local function build_query(t)
    if type(t) ~= "table" then
        error("edge.build_query: expected a table, got " .. type(t), 2)
    end
    local parts = {}
    local function add(k, v)
        k = url_encode(k)
        if type(v) == "table" then
            for i = 1, #v do
                parts[#parts + 1] = k .. "=" .. url_encode(v[i])
            end
        elseif v == true then
            parts[#parts + 1] = k
        elseif v ~= nil and v ~= false then
            parts[#parts + 1] = k .. "=" .. url_encode(v)
        end
    end
    local n = #t
    if n > 0 then
        for i = 1, n do
            local p = t[i]
            if type(p) ~= "table" then
                error("edge.build_query: item " .. i .. " must be a {name, value} pair, not a " .. type(p), 2)
            end
            add(p[1], p[2])
        end
        return concat(parts, "&")
    end
    local keys = {}
    for k in next, t do
        keys[#keys + 1] = tostring(k)
    end
    sort(keys)
    for _, k in ipairs(keys) do
        add(k, t[k])
    end
    return concat(parts, "&")
end

local function parse_cookies(headers)
    local t = {}
    local arr = headers and headers.cookie
    if type(arr) ~= "table" then
        return t
    end
    for i = 1, #arr do
        local v = arr[i] and arr[i].value
        if type(v) == "string" then
            for part in v:gmatch("[^;]+") do
                local k, val = part:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
                if k and k ~= "" and t[k] == nil then
                    t[k] = val
                end
            end
        end
    end
    return t
end

local json_null = setmetatable({}, {
    __metatable = "edge.json_null",
    __tostring = function()
        return "null"
    end,
    __newindex = function()
        error("edge.json_null is read-only", 2)
    end,
})

local function json_encode(v, depth)
    depth = depth or 0
    if depth > 64 then
        error("edge.json_encode: nested too deep", 2)
    end
    local tv = type(v)
    if tv == "nil" or v == json_null then
        return "null"
    elseif tv == "boolean" then
        return v and "true" or "false"
    elseif tv == "number" then
        if v ~= v or v == math.huge or v == -math.huge then
            return "null"
        end
        if v % 1 == 0 and v > -1e15 and v < 1e15 then
            return format("%d", v)
        end
        return format("%.17g", v)
    elseif tv == "string" then
        return '"' .. gsub(v, '[%c"\\]', function(c)
            local m = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
            return m[c] or format("\\u%04x", byte(c))
        end) .. '"'
    elseif tv == "table" then
        local is_arr = getmt(v) == arr_mt -- header arrays, decoded JSON arrays: [] when empty
        v = view(v)
        local n = 0
        for _ in next, v do
            n = n + 1
        end
        if (n > 0 and n == #v) or (is_arr and n == 0) then
            local out = {}
            for i = 1, n do
                out[i] = json_encode(v[i], depth + 1)
            end
            return "[" .. concat(out, ",") .. "]"
        end
        local keys = {}
        for k in next, v do
            if type(k) == "string" then
                keys[#keys + 1] = k
            end
        end
        sort(keys)
        local out = {}
        for _, k in ipairs(keys) do
            out[#out + 1] = json_encode(k) .. ":" .. json_encode(v[k], depth + 1)
        end
        return "{" .. concat(out, ",") .. "}"
    end
    error("edge.json_encode: cannot encode a " .. tv, 2)
end

edge.log = log_at(2)
edge.info = log_at(2)
edge.warn = log_at(1)
edge.error = log_at(0)
edge.debug = log_at(3)
edge.base64_encode = b64enc
edge.base64_decode = b64dec
edge.md5 = digest("md5")
edge.sha1 = digest("sha1")
edge.sha256 = digest("sha256")
edge.sha512 = digest("sha512")
edge.hmac = hmac
edge.hmac_sha256 = function(key, msg)
    return hmac("sha256", key, msg)
end
edge.hash = function(s)
    s = tostring(s)
    return tonumber(A.fnv1a(s, #s))
end
edge.time = function()
    return A.time()
end
-- edge.fetch: the requests go into the call, the call parks until the server answers them (the worker keeps serving)
local str2 = fnew("edge_str_t[1]")
local function fetch_add(url, opts)
    if type(url) ~= "string" then
        return nil, "edge.fetch: the url must be a string"
    end
    if opts ~= nil and type(opts) ~= "table" then
        return nil, "edge.fetch: opts must be a table"
    end
    opts = opts or {}
    local method, body, timeout = opts.method or "GET", opts.body or "", opts.timeout_ms or 0
    if type(method) ~= "string" or type(body) ~= "string" or type(timeout) ~= "number" then
        return nil, "edge.fetch: method and body are strings, timeout_ms a number"
    end
    local i = A.fetch_add(cur, url, #url, method, #method, body, #body, timeout)
    if i < 0 then
        return nil, "edge.fetch: too many fetches at once"
    end
    if opts.headers ~= nil then
        if type(opts.headers) ~= "table" then
            return nil, "edge.fetch: headers must be a table of name = value"
        end
        for k, v in pairs(opts.headers) do
            k, v = tostring(k), tostring(v)
            A.fetch_header(cur, i, k, #k, v, #v)
        end
    end
    return i
end

local function fetch_read(i)
    local st = A.fetch_result(cur, i, str1, str2)
    if st <= 0 then
        return nil, fstring(str2[0].ptr, str2[0].len)
    end
    local headers, n = {}, 0
    while A.fetch_header_at(cur, i, n, hdr1) == 0 do
        local h = hdr1[0]
        local name, value = fstring(h.name.ptr, h.name.len), fstring(h.value.ptr, h.value.len)
        headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
        n = n + 1
    end
    return { status = st, headers = headers, body = fstring(str1[0].ptr, str1[0].len) }
end

edge.fetch = function(url, opts)
    if cur == nil then
        return nil, "edge.fetch: only inside a hook call"
    end
    local i, err = fetch_add(url, opts)
    if i == nil then
        return nil, err
    end
    A.fetch_wait(cur)
    return fetch_read(i)
end
-- edge.fetch_all({ {url, opts}, ... }): in parallel; returns an array of responses (false where one failed) and one of errors
edge.fetch_all = function(list)
    if cur == nil then
        return nil, "edge.fetch_all: only inside a hook call"
    end
    if type(list) ~= "table" then
        return nil, "edge.fetch_all: a list of {url, opts}"
    end
    local idx, res, errs, any = {}, {}, {}, false
    for k = 1, #list do
        local item = list[k]
        local i, err
        if type(item) == "table" then
            i, err = fetch_add(item[1] or item.url, item[2] or item.opts)
        else
            i, err = fetch_add(item, nil)
        end
        idx[k], errs[k] = i, err
        any = any or i ~= nil
    end
    if any then
        A.fetch_wait(cur)
    end
    for k = 1, #list do
        if idx[k] ~= nil then
            local r, err = fetch_read(idx[k])
            res[k], errs[k] = r or false, err
        else
            res[k] = false
        end
    end
    return res, errs
end
-- edge.s3: the embedded store, without HTTP (the call parks like edge.fetch while the store does its I/O). Objects a hook
-- writes carry its name and generation in their event records (the loop guard counts them). Failures return nil, err.
local function s3_op(what, method, bucket, key, body, extra)
    if cur == nil then
        return nil, "edge.s3." .. what .. ": only inside a hook call"
    end
    if type(bucket) ~= "string" or (key ~= nil and type(key) ~= "string") then
        return nil, "edge.s3." .. what .. ": bucket and key must be strings"
    end
    local h = { ["x-edge-s3-bucket"] = bucket, ["x-edge-s3-key"] = key }
    if extra ~= nil then
        for k, v in pairs(extra) do
            h[k] = v
        end
    end
    local r, err = edge.fetch("edge-s3:", { method = method, body = body or "", headers = h })
    if r == nil then
        return nil, "edge.s3." .. what .. ": " .. tostring(err)
    end
    if r.status >= 300 then
        return nil, "edge.s3." .. what .. ": " .. r.body, r.status
    end
    return r
end
local function s3_info(r)
    local meta = {}
    for k, v in pairs(r.headers) do
        local m = k:match("^x%-amz%-meta%-(.+)$")
        if m ~= nil then
            meta[m] = v
        end
    end
    return {
        size = tonumber(r.headers["content-length"]),
        etag = r.headers["etag"],
        content_type = r.headers["content-type"],
        cache_control = r.headers["cache-control"],
        last_modified = tonumber(r.headers["x-edge-last-modified"]),
        metadata = meta,
    }
end
edge.s3 = {
    -- body, info ({size, etag, content_type, last_modified, metadata}), or nil, err (err "NoSuchKey: ..." when absent)
    get = function(bucket, key)
        local r, err, st = s3_op("get", "GET", bucket, key)
        if r == nil then
            return nil, err, st
        end
        return r.body, s3_info(r)
    end,
    head = function(bucket, key)
        local r, err, st = s3_op("head", "HEAD", bucket, key)
        if r == nil then
            return nil, err, st
        end
        return s3_info(r)
    end,
    -- opts: {content_type = "image/webp", cache_control = "...", metadata = {name = value}}; returns {etag} or nil, err
    put = function(bucket, key, body, opts)
        if type(body) ~= "string" then
            return nil, "edge.s3.put: the body must be a string"
        end
        if opts ~= nil and type(opts) ~= "table" then
            return nil, "edge.s3.put: opts must be a table"
        end
        local h = {}
        if opts ~= nil then
            if opts.content_type ~= nil then
                h["content-type"] = tostring(opts.content_type)
            end
            if opts.cache_control ~= nil then
                h["cache-control"] = tostring(opts.cache_control)
            end
            if opts.metadata ~= nil then
                if type(opts.metadata) ~= "table" then
                    return nil, "edge.s3.put: metadata must be a table of name = value"
                end
                for k, v in pairs(opts.metadata) do
                    h["x-amz-meta-" .. string.lower(tostring(k))] = tostring(v)
                end
            end
        end
        local r, err, st = s3_op("put", "PUT", bucket, key, body, h)
        if r == nil then
            return nil, err, st
        end
        return { etag = r.headers["etag"] }
    end,
    delete = function(bucket, key)
        local r, err, st = s3_op("delete", "DELETE", bucket, key)
        if r == nil then
            return nil, err, st
        end
        return true
    end,
    -- opts: {prefix, start_after, max_keys (1-1000)}; returns {keys = {{key, size, etag, last_modified}...}, truncated, next}
    list = function(bucket, opts)
        if opts ~= nil and type(opts) ~= "table" then
            return nil, "edge.s3.list: opts must be a table"
        end
        opts = opts or {}
        local h = {}
        if opts.prefix ~= nil then
            h["x-edge-s3-prefix"] = tostring(opts.prefix)
        end
        if opts.start_after ~= nil then
            h["x-edge-s3-start-after"] = tostring(opts.start_after)
        end
        if opts.max_keys ~= nil then
            h["x-edge-s3-max-keys"] = tostring(opts.max_keys)
        end
        local r, err, st = s3_op("list", "LIST", bucket, nil, nil, h)
        if r == nil then
            return nil, err, st
        end
        return edge.json_decode(r.body)
    end,
    -- a browser upload form (S3 POST Object) for bucket, its policy signed by the store with the process's own key (the
    -- secret never reaches the hook). opts: key (exact) or key_prefix, content_type (exact) or content_type_prefix,
    -- max_size (and min_size, default 0), expires (seconds, default 900, at most 7 days), fields = {name = value} (fixed
    -- form fields, e.g. success_action_status), conditions (more policy conditions, as S3 writes them). Returns {fields =
    -- {name = value} (the form's fields but key when only a prefix is fixed, and file), expiration} or nil, err.
    presign_post = function(bucket, opts)
        if opts ~= nil and type(opts) ~= "table" then
            return nil, "edge.s3.presign_post: opts must be a table"
        end
        opts = opts or {}
        local conds, fields = {}, {}
        if opts.key ~= nil then
            conds[#conds + 1] = { "eq", "$key", tostring(opts.key) }
            fields.key = tostring(opts.key)
        else
            conds[#conds + 1] = { "starts-with", "$key", tostring(opts.key_prefix or "") }
        end
        if opts.content_type ~= nil then
            conds[#conds + 1] = { "eq", "$Content-Type", tostring(opts.content_type) }
            fields["Content-Type"] = tostring(opts.content_type)
        elseif opts.content_type_prefix ~= nil then
            conds[#conds + 1] = { "starts-with", "$Content-Type", tostring(opts.content_type_prefix) }
        end
        if opts.max_size ~= nil then
            local lo, hi = tonumber(opts.min_size or 0), tonumber(opts.max_size)
            if lo == nil or hi == nil or lo < 0 or hi < lo or hi ~= math.floor(hi) or lo ~= math.floor(lo) or hi > 2 ^ 53 then
                return nil, "edge.s3.presign_post: min_size and max_size must be whole numbers, 0 <= min_size <= max_size"
            end
            conds[#conds + 1] = { "content-length-range", lo, hi }
        end
        if opts.fields ~= nil then
            if type(opts.fields) ~= "table" then
                return nil, "edge.s3.presign_post: fields must be a table of name = value"
            end
            for k, v in pairs(opts.fields) do
                conds[#conds + 1] = { "eq", "$" .. tostring(k), tostring(v) }
                fields[tostring(k)] = tostring(v)
            end
        end
        if opts.conditions ~= nil then
            if type(opts.conditions) ~= "table" then
                return nil, "edge.s3.presign_post: conditions must be a list"
            end
            for _, c in ipairs(opts.conditions) do
                conds[#conds + 1] = c
            end
        end
        local h = { ["x-edge-s3-expires"] = tostring(math.floor(tonumber(opts.expires or 900) or 0)) }
        local r, err, st = s3_op("presign_post", "POLICY", bucket, nil, edge.json_encode(conds), h)
        if r == nil then
            return nil, err, st
        end
        local signed = edge.json_decode(r.body)
        if type(signed) ~= "table" then
            return nil, "edge.s3.presign_post: the store's answer is not a form"
        end
        for _, k in ipairs({ "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature" }) do
            fields[k] = signed[k]
        end
        return { fields = fields, expiration = signed.expiration }
    end,
}
edge.url_decode = url_decode
edge.url_encode = url_encode
edge.parse_query = parse_query
edge.build_query = build_query
edge.parse_cookies = parse_cookies
edge.json_encode = function(v)
    return json_encode(v, 0)
end
edge.config = {}

-- the thin standard library (hooks/stdlib_lua.c does the work): what ported functions reach for
local mem_limit = 64 * 1048576 -- the hook's memory cap (init sets it)
local function room() -- what the state may still allocate
    local r = mem_limit - collectgarbage("count") * 1024
    return r > 0 and floor(r) or 0
end
edge.hex = std.hex
edge.sha256_hex = function(s)
    return std.hex(edge.sha256(checkstr(s, "edge.sha256_hex")))
end
edge.hmac_sha256_hex = function(key, msg)
    return std.hex(hmac("sha256", checkstr(key, "edge.hmac_sha256_hex"), checkstr(msg, "edge.hmac_sha256_hex")))
end
edge.gzip = function(s, level)
    return std.gzip(checkstr(s, "edge.gzip"), level)
end
edge.gunzip = function(s, max_bytes)
    s = checkstr(s, "edge.gunzip")
    local cap = room()
    if max_bytes ~= nil then
        if type(max_bytes) ~= "number" or max_bytes < 0 then
            error("edge.gunzip: max_bytes must be a number >= 0", 2)
        end
        cap = max_bytes < cap and max_bytes or cap
    end
    return std.gunzip(s, cap)
end
edge.json_null = json_null
edge.json_decode = function(s)
    -- the parsed tree costs about 100 bytes a value before it becomes Lua tables: bounded by the room left
    return std.json_decode(checkstr(s, "edge.json_decode"), arr_mt, json_null, room() / 128 + 16)
end
edge.encode_uri_component = std.encode_uri_component
edge.decode_uri_component = std.decode_uri_component
edge.parse_query_list = parse_query_list
edge.uuid = std.uuid
edge.random_bytes = std.random_bytes
edge.jwk_verify = std.jwk_verify

-- Math.random in Node.js starts from a random seed; LuaJIT's starts every state on the same sequence. Seeded here from
-- OpenSSL's generator, once per state, so that two states (workers, offload threads, rebuilt states) do not roll the same
-- dice (A/B tests, gradual traffic shifts ported from Lambda@Edge)
do
    local b, seed = std.random_bytes(6), 0
    for i = 1, 6 do
        seed = seed * 256 + byte(b, i)
    end
    math.randomseed(seed)
end

-- edge.kv(NAME): a kv store the hook's `kv:` config lists (CloudFront KeyValueStore). :get(key) is the value or nil, :exists(key)
-- a boolean, :meta() {keys=, bytes=, version=}. Every read of one call sees one snapshot of the stores. A handle may be made at
-- the top level and kept; it reads only during a call.
local KV_NOTFOUND, KV_DENIED = -1, -3
local kv_handles, kv_meta3 = {}, fnew("uint64_t[3]")
local kv_methods = {}
local kv_mt = { __metatable = "edge.kv", __index = kv_methods }
local function kv_denied(name, level)
    error("edge.kv: hook " .. hook_name .. " may not read kv store \"" .. name .. "\" (list it in the hook's kv: setting)", level)
end
local function kv_lookup(self, key, what)
    if cur == nil then
        error("edge.kv: " .. what .. " works only while the hook handles a request", 3)
    end
    if type(key) == "number" then
        key = tostring(key)
    elseif type(key) ~= "string" then
        error("edge.kv: " .. what .. ": the key must be a string, not a " .. type(key), 3)
    end
    local name = self.name
    local r = H.kv_get(cur, name, #name, key, #key, str1)
    if r == 0 then
        return true
    elseif r == KV_NOTFOUND then
        return false
    elseif r == KV_DENIED then
        kv_denied(name, 4)
    end
    error("edge.kv: " .. what .. ": invalid arguments", 3)
end
function kv_methods.get(self, key)
    if kv_lookup(self, key, "get") then
        return fstring(str1[0].ptr, str1[0].len)
    end
    return nil
end
function kv_methods.exists(self, key)
    return kv_lookup(self, key, "exists")
end
function kv_methods.meta(self)
    if cur == nil then
        error("edge.kv: meta works only while the hook handles a request", 2)
    end
    local name = self.name
    if A.kv_meta(cur, name, #name, kv_meta3) ~= 0 then
        kv_denied(name, 3)
    end
    return { name = name, keys = tonumber(kv_meta3[0]), bytes = tonumber(kv_meta3[1]), version = tonumber(kv_meta3[2]) }
end
edge.kv = function(name)
    if type(name) ~= "string" then
        error("edge.kv: the store name must be a string", 2)
    end
    local h = kv_handles[name]
    if h == nil then
        h = setmetatable({ name = name }, kv_mt)
        kv_handles[name] = h
    end
    return h
end

-- the sandbox: what hook code sees as its globals (no ffi, io, debug, jit, package, load*, dofile, getfenv/setfenv, newproxy,
-- string.dump; os is time functions only; collectgarbage only counts; getmetatable("") is false)
local function copy(t)
    local c = {}
    for k, v in next, t do
        c[k] = v
    end
    return c
end
local env = {
    assert = assert, error = error, ipairs = ipairs, next = snext, pairs = spairs, pcall = pcall, xpcall = xpcall,
    select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, rawequal = rawequal,
    rawget = srawget, rawset = srawset, setmetatable = setmetatable, getmetatable = getmetatable, _VERSION = _VERSION,
    string = copy(string), table = copy(table), math = copy(math), bit = copy(bit), coroutine = copy(coroutine),
    os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime },
    print = edge.log, edge = edge,
    collectgarbage = function(opt)
        if opt == "count" then
            return collectgarbage("count")
        end
        return 0
    end,
    require = function(name)
        if name == "edge" then
            return edge
        end
        error("module '" .. tostring(name) .. "' is not available to hooks", 2)
    end,
}
env.string.dump = nil
env._G = env
do
    local smt = getmt("")
    smt.__metatable = false -- the string metatable's __index is the prelude's string table too: keep hooks off it
end
-- no bytecode in or out. string.dump goes from the string table itself, not only from the hooks' copy: the string metatable's
-- __index is that table, so ("").dump would reach it. Every loader left on the trusted side takes text only (bytecode
-- crafted by hand is how LuaJIT sandboxes are escaped), and no C library can be loaded from here on.
string.dump = nil
do
    local load0 = load
    local function text_only(chunk, name, _, ...)
        return load0(chunk, name, "t", ...)
    end
    load, loadstring, loadfile, dofile = text_only, text_only, nil, nil
    package.loadlib, package.cpath = nil, ""
    package.loaders[3], package.loaders[4] = nil, nil -- the C and all-in-one searchers
end
arr_mt.__metatable = "edge.array" -- hooks may not rewire the prelude's tables (their own state only, but still)

local handlers = {}
local trigger_names = { [0] = "viewer_request", "origin_request", "origin_response", "viewer_response" }

local cb_done, cb_err, cb_res = false, nil, nil
local function callback(err, res)
    if cb_done then
        return
    end
    cb_done, cb_err, cb_res = true, err, res
end

-- handler(event, context, callback): what it returned, or what it passed to the callback; true as the second result when it
-- called back with an error (then the first is the error)
local function call_handler(handler, event, context)
    cb_done, cb_err, cb_res = false, nil, nil
    local ret = handler(event, context, callback)
    if cb_done then
        if cb_err ~= nil then
            return cb_err, true
        end
        return cb_res, false
    end
    return ret, false
end

local function errstr(e)
    if type(e) == "table" then
        local m = rawget(e, "message")
        if m ~= nil then
            return tostring(m)
        end
    end
    return tostring(e)
end

-- context.awsRequestId: Lambda's invocation id, a UUID; here one per (request, event, hook), derived from the request id so that
-- the log lines of one invocation can be found from it
local aws_req_id = nil
-- 32 hex digits from four salted FNV-1a hashes of src (no OpenSSL: this also runs while a state is built)
local function hex128(src)
    local h = {}
    for i = 1, 4 do
        local s = src .. "\0" .. i
        h[i] = format("%08x", tonumber(A.fnv1a(s, #s)))
    end
    return concat(h)
end
local function invocation_id()
    if aws_req_id == nil and cur ~= nil then
        local x = hex128((getf(F_REQID) or "") .. "\0" .. tostring(etype) .. "\0" .. tostring(hook_name))
        -- UUID version 4, RFC 4122 variant
        aws_req_id = sub(x, 1, 8) .. "-" .. sub(x, 9, 12) .. "-4" .. sub(x, 14, 16) .. "-" ..
            sub("89ab", tonumber(sub(x, 17, 17), 16) % 4 + 1, tonumber(sub(x, 17, 17), 16) % 4 + 1) .. sub(x, 18, 20) .. "-" ..
            sub(x, 21, 32)
    end
    return aws_req_id
end

local context = setmetatable({ callbackWaitsForEmptyEventLoop = true }, {
    __metatable = "edge.context",
    __index = function(t, k)
        if k == "awsRequestId" then
            return invocation_id()
        end
    end,
})
context.getRemainingTimeInMillis = function()
    return A.remaining_ms()
end

local function reset_track(tr)
    if tr.nf ~= 0 or tr.na ~= 0 or tr.all then
        clear(tr.fl)
        clear(tr.fset)
        clear(tr.snap)
        clear(tr.al)
        clear(tr.aset)
        tr.nf, tr.na, tr.all = 0, 0, false
    end
end

local ctxp_t = ffi.typeof("edge_ctx_t *")
local track0, track1 = tracks[0], tracks[1]

-- ctxn: the edge_ctx_t address as a number (a light userdata would make every FFI call NYI for the JIT)
-- a generic invocation (et 4: the Lambda invoke API with any JSON): handler(event, context[, callback]) gets the decoded payload;
-- returns 0 and its result as JSON
local function run_generic(ctx, handler, payload)
    local event, err = edge.json_decode(payload)
    if event == nil and err ~= nil then
        cur = nil
        return 3, "the payload is not JSON: " .. tostring(err)
    end
    local ret, failed = call_handler(handler, event, context)
    if failed then
        cur = nil
        return 3, errstr(ret)
    end
    local ok, out = pcall(json_encode, ret, 0)
    cur = nil
    if not ok then
        local msg = "the handler's result cannot be encoded as JSON: " .. errstr(out)
        A.invalid(ctx, msg, #msg)
        return 2
    end
    return 0, out
end

local function run(ctxn, et, payload)
    local ctx = ffi.cast(ctxp_t, ctxn)
    cur, etype = ctx, et
    S_cf, S_req, S_resp, S_origin_fp, invalid_msg, aws_req_id = nil, nil, nil, nil, nil, nil
    reset_track(track0)
    reset_track(track1)
    hproxy[0], hproxy[1] = nil, nil
    R_h[P_req], R_h[P_resp], R_set[P_req], R_set[P_resp] = nil, nil, nil, nil
    local handler = handlers[et] -- named so: tracebacks read "in function 'handler'"
    if handler == nil then
        cur = nil
        if et == 4 then
            return 3, "the hook defines no handler(event, context, callback): only handler() takes a generic invocation"
        end
        return 3, "the hook defines neither handler(event, context, callback) nor " .. trigger_names[et] .. "(event, context)"
    end
    if et == 4 then
        return run_generic(ctx, handler, payload)
    end
    clear(P_cf)
    S_cf = P_cf
    P_rec.cf = P_cf
    P_records[0], P_records[1] = P_rec, P_rec
    P_event.Records = P_records
    local event = P_event
    local ret, failed = call_handler(handler, event, context)
    if failed then
        cur = nil
        return 3, errstr(ret)
    end
    local ok, code = pcall(writeback, ret)
    if not ok then
        code = bad(errstr(code))
    end
    if code == 2 and invalid_msg ~= nil then
        A.invalid(ctx, invalid_msg, #invalid_msg)
    end
    cur = nil
    return code
end

local function init(chunk, config, name, hash, mem_mb)
    hook_name = name
    edge.config = config
    edge.name = name
    -- as Lambda sets them: a version loaded from the registry is named NAME@NUMBER (a numbered version, as Lambda@Edge
    -- requires); a hook run on its own (edgehook invoke) is $LATEST
    local fname, fversion = name:match("^(.*)@(%d+)$")
    if fname == nil and name:sub(-8) == "@$LATEST" then -- the registry's $LATEST: NAME@$LATEST
        fname, fversion = name:sub(1, -9), "$LATEST"
    end
    if fname == nil then
        fname, fversion = name, "$LATEST"
    end
    context.functionName = fname
    context.functionVersion = fversion
    context.memoryLimitInMB = tostring(floor(mem_mb)) -- a string, as in Node.js
    mem_limit = mem_mb * 1048576
    context.invokedFunctionArn = "arn:aws:lambda:us-east-1:000000000000:function:" .. fname ..
        (fversion ~= "$LATEST" and (":" .. fversion) or "")
    context.logGroupName = "/aws/lambda/us-east-1." .. fname
    -- one stream per execution environment (this Lua state): DATE/[VERSION] and 32 hex digits
    context.logStreamName = os.date("!%Y/%m/%d") .. "/[" .. fversion .. "]" ..
        hex128(name .. "\0" .. hash .. "\0" .. tostring(context) .. "\0" .. tostring(A.time()))
    setfenv(chunk, env)
    chunk()
    local main = rawget(env, "handler")
    local mask = 0
    for et = 0, 3 do
        local f = rawget(env, trigger_names[et])
        if type(f) ~= "function" then
            f = main
        end
        if type(f) == "function" then
            handlers[et] = f
            mask = mask + 2 ^ et
        end
    end
    if type(main) == "function" then
        handlers[4] = main -- generic invocations (any JSON)
        mask = mask + 16
    end
    if mask == 0 then
        error("the hook defines no function handler(event, context, callback) (nor viewer_request, origin_request, " ..
            "origin_response, viewer_response)", 0)
    end
    return mask -- the events it handles (EDGE_EVENT_BIT)
end

return run, init
