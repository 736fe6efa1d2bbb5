-- tests/hooks/garbage.lua - returns garbage, chosen by the x-test header: a number, a table that is neither request nor
-- response, a response with a bad status, a header value that is not a string; and (valid, as in CloudFront) a header key
-- naming another header.
function handler(event, context)
    local request = event.Records[1].cf.request
    local t = request.headers["x-test"] and request.headers["x-test"][1].value or "number"
    if t == "number" then
        return 42
    elseif t == "table" then
        return { hello = "world" }
    elseif t == "status" then
        return { status = "99x" }
    elseif t == "range" then
        return { status = 700 }
    elseif t == "value" then
        request.headers["x-n"] = { { key = "X-N", value = 5 } }
        return request
    elseif t == "key" then
        request.headers["x-a"] = { { key = "X-B", value = "1" } }
        return request
    elseif t == "base64" then
        return { status = "200", body = "not base64 at all!", bodyEncoding = "base64" }
    elseif t == "big" then
        return { status = "200", body = string.rep("x", 41 * 1024) }
    elseif t == "nobody204" then
        return { status = 204, body = "no" }
    end
    return nil
end
