-- tests/hooks/weird.lua - hostile results chosen by x-test: none may crash the host; each is a 502 (or 503 for errors).
local bomb = setmetatable({}, { __index = function() error("metamethod bomb") end })

function handler(event, context)
    local request = event.Records[1].cf.request
    local t = request.headers["x-test"][1].value
    if t == "numkey" then
        request.headers[1] = { { key = "X", value = "1" } }
    elseif t == "boolarr" then
        request.headers["x-b"] = true
    elseif t == "entry" then
        request.headers["x-b"] = { "not a table" }
    elseif t == "upper" then
        request.headers["X-Upper"] = { { key = "X-Upper", value = "1" } }
    elseif t == "crlf" then
        request.headers["x-c"] = { { key = "X-C", value = "a\r\nInjected: 1" } }
    elseif t == "badname" then
        request.headers["x y"] = { { key = "x y", value = "1" } }
    elseif t == "uri" then
        request.uri = "no-slash"
    elseif t == "urispace" then
        request.uri = "/a b"
    elseif t == "uritype" then
        request.uri = 42
    elseif t == "bomb" then
        return bomb
    elseif t == "bombheaders" then
        return { status = "200", headers = { ["x-a"] = { bomb } } }
    elseif t == "origin" then
        request.origin = { custom = { domainName = "x.example", port = 22, protocol = "https" } }
    elseif t == "origin2" then
        request.origin = { custom = { domainName = "x.example" }, s3 = { domainName = "y" } }
    elseif t == "status" then
        return { status = 200.5 }
    elseif t == "desc" then
        return { status = 200, statusDescription = "OK\r\nX: 1" }
    elseif t == "bodytype" then
        return { status = 200, body = {} }
    elseif t == "encoding" then
        return { status = 200, body = "x", bodyEncoding = "gzip" }
    elseif t == "huge" then
        request.headers["x-h"] = { { key = "X-H", value = string.rep("v", 100000) } }
        return request -- over the default cap on the request head (64 KB); allowed under a larger one
    end
    return request
end
