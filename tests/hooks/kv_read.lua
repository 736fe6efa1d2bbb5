-- tests/hooks/kv_read.lua - reads the kv store "flags" (made at the top level, read during calls): viewer-request answers the
-- value of the key in X-Key (404 "absent" when there is none); X-Key2 reads a second key, after a busy wait of X-Spin rounds,
-- into X-Value2 (one snapshot per call); X-Store reads another store (denied unless the hook's kv: lists it).
local flags = edge.kv("flags")

local function first(headers, name)
    local h = headers[name]
    return h and h[1].value
end

function handler(event, context)
    local request = event.Records[1].cf.request
    local key = first(request.headers, "x-key")
    if key == nil then
        -- at the top level or without a key: edge.kv reads only during a call (and this call has one)
        local m = flags:meta()
        return {status = "200", body = string.format("keys=%d bytes=%d version=%d", m.keys, m.bytes, m.version)}
    end
    local store = flags
    local other = first(request.headers, "x-store")
    if other then
        local ok, err = pcall(function() return edge.kv(other):get(key) end)
        if not ok then
            return {status = "403", body = tostring(err)}
        end
        store = edge.kv(other)
    end
    local value = store:get(key)
    if value == nil then
        return {status = "404", body = "absent", headers = {["x-exists"] = {{key = "X-Exists", value = tostring(store:exists(key))}}}}
    end
    local headers = {["x-exists"] = {{key = "X-Exists", value = tostring(store:exists(key))}}}
    local key2 = first(request.headers, "x-key2")
    if key2 then
        local spin = tonumber(first(request.headers, "x-spin") or "0")
        local x = 0
        for i = 1, spin do
            x = x + i % 7
        end
        headers["x-value2"] = {{key = "X-Value2", value = tostring(store:get(key2)) .. (x < 0 and "" or "")}}
    end
    return {status = "200", headers = headers, body = value}
end
