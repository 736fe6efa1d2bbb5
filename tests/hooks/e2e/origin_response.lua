-- tests/hooks/e2e/origin_response.lua - e2e origin-response hook (tests/e2e/test_hooks.py): stamps every response it runs on
-- (x-ores = this state's call count, x-ores-saw-status, whether the origin body is visible), and by the uri:
--   .../chg/...      status 200 -> 203 "Changed By Hook", an origin header changed, one removed, one added
--   .../body/...     replaces the body
--   .../cl/...       sets Content-Length: 5 (a framing header)
--   /status/500      turned into 200 with a body and a Cache-Control (a custom error page)
local calls = 0

function handler(event, context)
    local cf = event.Records[1].cf
    local request, response = cf.request, cf.response
    calls = calls + 1
    local uri = request.uri
    response.headers["x-ores"] = { { key = "X-Ores", value = tostring(calls) } }
    response.headers["x-ores-saw-status"] = { { key = "X-Ores-Saw-Status", value = response.status } }
    response.headers["x-ores-saw-body"] = { { key = "X-Ores-Saw-Body", value = tostring(response.body ~= nil) } }
    if uri:find("/chg/") then
        response.status = "203"
        response.statusDescription = "Changed By Hook"
        response.headers["x-origin-h"] = { { key = "X-Origin-H", value = "changed" } }
        response.headers["x-origin-gone"] = nil
    elseif uri:find("/body/") then
        response.body = "replaced by origin-response #" .. calls .. "\n"
        response.headers["content-type"] = { { key = "Content-Type", value = "text/x-replaced" } }
    elseif uri:find("/cl/") then
        response.headers["content-length"] = { { key = "Content-Length", value = "5" } }
    elseif uri:find("/status/500") then
        response.status = 200
        response.statusDescription = "OK"
        response.headers["cache-control"] = { { key = "Cache-Control", value = "max-age=600" } }
        response.body = "custom error page\n"
    end
    return response
end
