-- tests/hooks/escape.lua - tries the sandbox escape the request's x-escape header names; each must fail with a clear error (a few
-- must quietly do nothing instead). The result of a try that did not fail goes back in x-escaped.
local tries = {
    dump = function() return string.dump(handler) end,
    string_mt_dump = function() return ("").dump(handler) end,
    string_mt_index = function() return getmetatable("").__index.dump(handler) end,
    string_setmetatable = function() return setmetatable("", { __index = {} }) end,
    debug = function() return debug.getinfo(1) end,
    loadlib = function() return package.loadlib("libc.so.6", "system") end,
    require_ffi = function() return require("ffi") end,
    require_io = function() return require("io") end,
    ffi = function() return ffi.C end,
    load = function() return load("return 1") end,
    loadstring = function() return loadstring("\27LJ\2") end,
    dofile = function() return dofile("/etc/passwd") end,
    io = function() return io.open("/etc/passwd") end,
    os_execute = function() return os.execute("true") end,
    os_getenv = function() return os.getenv("HOME") end,
    jit = function() return jit.off() end,
    getfenv = function() return getfenv(1) end,
    newproxy = function() return newproxy(true) end,
    rep = function() return #string.rep("x", 2 ^ 30) end,
    rep_overflow = function() return #string.rep("x", 2 ^ 40) end,
    event_mt = function(request) return setmetatable(request, {}) end,
    array_mt = function(request) return setmetatable(request.headers["x-escape"], {}) end,
    context_mt = function(request, context) return setmetatable(context, {}) end,
    collectgarbage = function()
        return collectgarbage("stop") .. "," .. collectgarbage("collect") .. "," .. type(collectgarbage("count"))
    end,
    -- globals and libraries are per hook: what one plants, another does not see
    plant = function()
        rawset(_G, "planted", "yes")
        string.format = nil
        edge.hex = nil
        return "planted"
    end,
    look = function() return tostring(rawget(_G, "planted")) .. "," .. type(string.format) .. "," .. type(edge.hex) end,
}

function handler(event, context)
    local request = event.Records[1].cf.request
    local name = request.headers["x-escape"] and request.headers["x-escape"][1].value
    local try = tries[name]
    if try == nil then
        error("no such try: " .. tostring(name))
    end
    request.headers["x-escaped"] = { { key = "X-Escaped", value = tostring(try(request, context)) } }
    return request
end
