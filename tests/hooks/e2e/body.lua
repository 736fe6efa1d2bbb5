-- tests/hooks/e2e/body.lua - e2e viewer-request hook with include_body (tests/e2e/test_hooks.py): reports what it saw of the
-- body in request headers (to the origin's /echo), and replaces the body when the request has x-replace.
function handler(event, context)
    local request = event.Records[1].cf.request
    local body = request.body
    if body == nil then
        request.headers["x-body"] = { { key = "X-Body", value = "absent" } }
    else
        local data = edge.base64_decode(body.data)
        request.headers["x-body"] = { { key = "X-Body", value = "present" } }
        request.headers["x-body-encoding"] = { { key = "X-Body-Encoding", value = body.encoding } }
        request.headers["x-body-action"] = { { key = "X-Body-Action", value = body.action } }
        request.headers["x-body-truncated"] = { { key = "X-Body-Truncated", value = tostring(body.inputTruncated) } }
        request.headers["x-body-len"] = { { key = "X-Body-Len", value = tostring(#data) } }
        request.headers["x-body-sha256"] = { { key = "X-Body-Sha256", value = edge.hex(edge.sha256(data)) } }
        if request.headers["x-replace"] then
            body.action = "replace"
            body.encoding = "text"
            body.data = "replaced:" .. data:sub(1, 8)
        elseif request.headers["x-replace-b64"] then
            body.action = "replace"
            body.encoding = "base64"
            body.data = edge.base64_encode("\0b64\255")
        end
    end
    request.uri = "/echo"
    return request
end
