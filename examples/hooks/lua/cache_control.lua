-- examples/hooks/lua/cache_control.lua - sets Cache-Control in origin-response (AWS example "Setting the Cache-Control
-- header"): a long max-age for static assets, a short one otherwise, unless the origin set one.
-- config: {static_max_age: 31536000, default_max_age: 60}
function handler(event, context)
    local response = event.Records[1].cf.response
    local request = event.Records[1].cf.request
    local headers = response.headers
    if headers["cache-control"] == nil and response.status == "200" then
        local static = request.uri:match("%.(%w+)$")
        local age = (static and ({ css = true, js = true, png = true, jpg = true, jpeg = true, gif = true, svg = true,
            woff2 = true, ico = true })[static:lower()]) and (edge.config.static_max_age or 31536000)
            or (edge.config.default_max_age or 60)
        headers["cache-control"] = { { key = "Cache-Control", value = "public, max-age=" .. age } }
    end
    return response
end
