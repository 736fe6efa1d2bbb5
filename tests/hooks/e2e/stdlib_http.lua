-- tests/hooks/e2e/stdlib_http.lua - the hooks' standard library through real requests (tests/e2e/test_porting.py), at
-- viewer-request with include_body, chosen by the path:
--   /std/json: the body is gzip'd JSON {"items": [...], "key": K}: answers JSON with the items' count, the first item (at [0]),
--              the HMAC-SHA256 of the items' JSON under K (hex), a UUID and the body's SHA-256
--   /std/gunzip: answers 200 with the inflated length, or 400 with edge.gunzip's reason (a bomb, garbage)
--   /std/uri: answers encodeURIComponent and decodeURIComponent of the x-in header, or 400 with the URIError
local edge = require "edge"

local function answer(status, body, ctype)
    return { status = tostring(status), headers = { ["content-type"] = { { key = "Content-Type", value = ctype or
        "application/json" } } }, body = body }
end

function handler(event)
    local request = event.Records[0].cf.request
    if request.uri == "/std/json" then
        local raw = edge.base64_decode(request.body.data)
        local text, err = edge.gunzip(raw)
        if text == nil then
            return answer(400, err, "text/plain")
        end
        local doc, jerr = edge.json_decode(text)
        if doc == nil then
            return answer(400, jerr, "text/plain")
        end
        return answer(200, edge.json_encode({
            count = #doc.items,
            first = doc.items[0],
            mac = edge.hmac_sha256_hex(doc.key, edge.json_encode(doc.items)),
            id = edge.uuid(),
            sha = edge.sha256_hex(raw),
        }))
    elseif request.uri == "/std/gunzip" then
        local out, err = edge.gunzip(edge.base64_decode(request.body.data))
        if out == nil then
            return answer(400, err, "text/plain")
        end
        return answer(200, tostring(#out), "text/plain")
    elseif request.uri == "/std/uri" then
        local v = request.headers["x-in"][0].value
        local ok, dec = pcall(edge.decode_uri_component, v)
        if not ok then
            return answer(400, dec, "text/plain")
        end
        return answer(200, edge.json_encode({ enc = edge.encode_uri_component(v), dec = dec }))
    end
    return request
end
