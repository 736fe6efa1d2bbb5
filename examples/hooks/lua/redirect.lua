-- examples/hooks/lua/redirect.lua - redirects by path prefix, and mobile devices to a mobile site (AWS examples
-- "Redirecting viewer requests to a new URL" and "Serving different content based on the device type").
-- config: {moves: {"/old/": "/new/"}, mobile_host: "m.example.com"}   (both optional)
local function redirect(location)
    return {
        status = "301",
        statusDescription = "Moved Permanently",
        headers = { location = { { key = "Location", value = location } },
            ["cache-control"] = { { key = "Cache-Control", value = "max-age=3600" } } },
    }
end

local function is_mobile(headers)
    local cf = headers["cloudfront-is-mobile-viewer"]
    if cf and cf[1].value == "true" then
        return true
    end
    local ua = headers["user-agent"] and headers["user-agent"][1].value or ""
    return ua:find("Mobile") ~= nil or ua:find("Android") ~= nil or ua:find("iPhone") ~= nil
end

function handler(event, context)
    local request = event.Records[1].cf.request
    local moves = edge.config.moves or { ["/old/"] = "/new/" }
    for from, to in pairs(moves) do
        if request.uri:sub(1, #from) == from then
            local location = to .. request.uri:sub(#from + 1)
            if request.querystring ~= "" then
                location = location .. "?" .. request.querystring
            end
            return redirect(location)
        end
    end
    local mobile_host = edge.config.mobile_host
    local host = request.headers.host and request.headers.host[1].value
    if mobile_host and host ~= mobile_host and is_mobile(request.headers) then
        return redirect("https://" .. mobile_host .. request.uri)
    end
    return request
end
