-- examples/hooks/lua/basic_auth.lua - HTTP basic authentication at the edge (AWS example "Basic authentication").
-- config: {user: "alice", password: "s3cret", realm: "edge"}
function handler(event, context, callback)
    local request = event.Records[1].cf.request
    local cfg = edge.config
    local expected = "Basic " .. edge.base64_encode((cfg.user or "user") .. ":" .. (cfg.password or "pass"))
    local auth = request.headers.authorization
    if auth == nil or auth[1].value ~= expected then
        callback(nil, {
            status = "401",
            statusDescription = "Unauthorized",
            headers = { ["www-authenticate"] = { { key = "WWW-Authenticate", value = 'Basic realm="' .. (cfg.realm or "edge") .. '"' } },
                ["content-type"] = { { key = "Content-Type", value = "text/plain" } } },
            body = "Unauthorized",
        })
        return
    end
    callback(nil, request)
end
