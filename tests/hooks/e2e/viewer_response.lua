-- tests/hooks/e2e/viewer_response.lua - e2e viewer-response hook (tests/e2e/test_hooks.py): stamps every response it runs on
-- with this state's call count (x-vres), the client IP and the status it saw and whether X-Cache was visible to it, copies the viewer-request
-- hook's x-vreq-calls from the request, and by the x-vres-test request header changes an origin header, removes one, tries
-- to change the status, or sets a framing header (Content-Length, Transfer-Encoding).
local calls = 0

function handler(event, context)
    local cf = event.Records[1].cf
    local request, response = cf.request, cf.response
    calls = calls + 1
    response.headers["x-vres"] = { { key = "X-Vres", value = tostring(calls) } }
    local v = request.headers["x-vreq-calls"]
    if v then
        response.headers["x-seen-vreq-calls"] = { { key = "X-Seen-Vreq-Calls", value = v[1].value } }
    end
    response.headers["x-vres-saw-client-ip"] = { { key = "X-Vres-Saw-Client-Ip", value = request.clientIp } }
    response.headers["x-vres-saw-status"] = { { key = "X-Vres-Saw-Status", value = response.status } }
    response.headers["x-vres-saw-x-cache"] = { { key = "X-Vres-Saw-X-Cache", value = tostring(response.headers["x-cache"] ~= nil) } }
    local t = request.headers["x-vres-test"] and request.headers["x-vres-test"][1].value or ""
    if t == "change" then
        response.headers["content-type"] = { { key = "Content-Type", value = "text/x-changed-by-vres" } }
        response.headers["x-origin-extra"] = nil
    elseif t == "status" then
        response.status = "201"
    elseif t == "status-same" then
        response.status = response.status -- unchanged: allowed
    elseif t == "content-length" then
        response.headers["content-length"] = { { key = "Content-Length", value = "5" } }
    elseif t == "transfer-encoding" then
        response.headers["transfer-encoding"] = { { key = "Transfer-Encoding", value = "chunked" } }
    end
    return response
end
