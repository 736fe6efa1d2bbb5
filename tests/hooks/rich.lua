-- tests/hooks/rich.lua - request-side features chosen by x-test: generated responses (text, base64), origin selection
-- (custom, s3), querystring rewrite, request body replacement, origin-response body and status.
function handler(event, context)
    local cf = event.Records[1].cf
    local request = cf.request
    local t = request.headers["x-test"] and request.headers["x-test"][1].value
    if cf.config.eventType == "origin-response" then
        local response = cf.response
        response.status = 200
        response.headers["cache-control"] = { { key = "Cache-Control", value = "max-age=60" } }
        response.body = "replaced"
        return response
    end
    if t == "base64" then
        return { status = "200", statusDescription = "OK", headers = { ["content-type"] = { { key = "Content-Type", value = "text/plain" } } },
            body = edge.base64_encode("binary\0ok"), bodyEncoding = "base64" }
    elseif t == "redirect" then
        return { status = 302, headers = { location = { { value = "https://example.com/new" } } } }
    elseif t == "custom" then
        request.origin = { custom = { domainName = "other.example.com", port = 8443, protocol = "https", path = "/base",
            readTimeout = 10, keepaliveTimeout = 5, sslProtocols = { "TLSv1.2" },
            customHeaders = { ["x-origin-key"] = { { key = "X-Origin-Key", value = "k" } } } } }
        request.headers["host"] = { { key = "Host", value = "other.example.com" } }
        return request
    elseif t == "s3" then
        request.origin = { s3 = { domainName = "bucket.s3.eu-west-1.amazonaws.com", region = "eu-west-1",
            authMethod = "origin-access-identity", path = "/photos", customHeaders = {} } }
        return request
    elseif t == "query" then
        request.querystring = "b=2&a=1"
        return request
    elseif t == "body" then
        request.body.action = "replace"
        request.body.encoding = "text"
        request.body.data = "new body"
        return request
    elseif t == "newtable" then
        return { uri = "/fresh", querystring = "", headers = { host = { { key = "Host", value = request.headers.host[1].value } } } }
    end
    return request
end
