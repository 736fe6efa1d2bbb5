-- tests/hooks/e2e/origin_request.lua - e2e origin-request hook (tests/e2e/test_hooks.py), chosen by the uri (the cache key):
--   /oreq/rewrite/...  the origin sees /echo?from=oreq with added headers
--   /oreq/gen/...      a generated response (cached like an origin's); /oreq/gennocc/... the same without Cache-Control
--   /oreq/big/...      a generated 100 KB response (allowed: 1 MB at origin-request); /oreq/huge/... 1.1 MB (502)
--   /oreq/dyn/...      sent to the origin at config.other_port, not declared in the config, with a custom header
--   /oreq/s3/...       sent to the embedded store (config.store_port), bucket config.bucket, signed
-- Every call stamps the request with this state's call count (x-oreq-calls).
local calls = 0

function handler(event, context)
    local request = event.Records[1].cf.request
    calls = calls + 1
    request.headers["x-oreq-calls"] = { { key = "X-Oreq-Calls", value = tostring(calls) } }
    local uri = request.uri
    local origin = request.origin
    local kind = origin and (origin.custom and "custom" or origin.s3 and "s3") or "none"
    request.headers["x-oreq-saw-origin"] = { { key = "X-Oreq-Saw-Origin", value = kind .. ":" ..
        tostring(origin and origin.custom and origin.custom.domainName) .. ":" .. tostring(origin and origin.custom and origin.custom.port) } }
    if uri:find("^/oreq/rewrite/") then
        request.headers["x-oreq-original-uri"] = { { key = "X-Oreq-Original-Uri", value = uri } }
        request.uri = "/echo"
        request.querystring = "from=oreq"
        request.headers["x-oreq-added"] = { { key = "X-Oreq-Added", value = "yes" } }
    elseif uri:find("^/oreq/gen/") or uri:find("^/oreq/gennocc/") then
        local headers = { ["content-type"] = { { key = "Content-Type", value = "text/plain" } },
            ["x-generated-by"] = { { key = "X-Generated-By", value = "oreq #" .. calls } } }
        if uri:find("^/oreq/gen/") then
            headers["cache-control"] = { { key = "Cache-Control", value = "max-age=600" } }
        end
        return { status = "200", statusDescription = "OK", headers = headers, body = "generated at origin-request #" .. calls .. "\n" }
    elseif uri:find("^/oreq/big/") then
        return { status = 200, headers = { ["cache-control"] = { { value = "max-age=600" } } }, body = string.rep("b", 100 * 1024) }
    elseif uri:find("^/oreq/huge/") then
        return { status = 200, body = string.rep("h", 1100 * 1024) }
    elseif uri:find("^/oreq/dyn/") then
        request.origin = { custom = { domainName = "127.0.0.1", port = tonumber(edge.config.other_port), protocol = "http", path = "",
            customHeaders = { ["x-origin-key"] = { { key = "X-Origin-Key", value = "k1" } } } } }
    elseif uri:find("^/oreq/dynpath/") then
        request.origin = { custom = { domainName = "127.0.0.1", port = tonumber(edge.config.other_port), protocol = "http", path = "/prefix" } }
    elseif uri:find("^/oreq/s3/") then
        request.origin = { s3 = { domainName = "127.0.0.1:" .. edge.config.store_port, region = "us-east-1",
            authMethod = "origin-access-identity", path = "/" .. edge.config.bucket } }
    elseif uri:find("^/oreq/badorigin/") then
        request.origin = { custom = { domainName = "127.0.0.1", port = 22, protocol = "http", path = "" } }
    end
    return request
end
