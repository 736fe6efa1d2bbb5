-- tests/hooks/sandbox.lua - checks what hooks can and cannot reach; answers with a report in a header.
function handler(event, context)
    local report = {}
    for _, name in ipairs({ "io", "ffi", "debug", "jit", "load", "loadstring", "dofile", "getfenv", "setfenv", "newproxy" }) do
        if _G[name] ~= nil then
            report[#report + 1] = name
        end
    end
    local ok = pcall(require, "ffi")
    if ok then
        report[#report + 1] = "require-ffi"
    end
    local request = event.Records[1].cf.request
    request.headers["x-leaks"] = { { key = "X-Leaks", value = table.concat(report, ",") } }
    request.headers["x-sha"] = { { key = "X-Sha", value = edge.hex(edge.sha256("abc")) } }
    request.headers["x-hmac"] = { { key = "X-Hmac", value = edge.hex(edge.hmac_sha256("key", "The quick brown fox jumps over the lazy dog")) } }
    request.headers["x-b64"] = { { key = "X-B64", value = edge.base64_encode("hello") .. "," .. edge.base64_decode("aGVsbG8=") } }
    request.headers["x-config"] = { { key = "X-Config", value = tostring(edge.config.greeting) } }
    local n = 0
    for name in pairs(request.headers) do
        n = n + 1
    end
    request.headers["x-count"] = { { key = "X-Count", value = tostring(n) } }
    return request
end
