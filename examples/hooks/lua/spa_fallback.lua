-- examples/hooks/lua/spa_fallback.lua - a single-page app's 404 (origin-response): a path the origin does not know is one of the
-- app's client-side routes, so it is answered with the app's index.html (fetched with edge.fetch) and status 200, instead of the
-- origin's 404. Configure: `config: {index_url: "https://app.example.com/index.html"}` and `fetch_allow: [app.example.com]`.
local edge = require "edge"

function origin_response(event, context)
    local response = event.Records[1].cf.response
    if response.status ~= "404" then
        return response
    end
    local index, err = edge.fetch(edge.config.index_url)
    if not index or index.status ~= 200 then
        edge.warn("spa_fallback: cannot fetch index.html: " .. (err or ("status " .. index.status)))
        return response -- the origin's 404 stays
    end
    response.status = "200"
    response.statusDescription = "OK"
    response.headers["content-type"] = { { key = "Content-Type", value = "text/html; charset=utf-8" } }
    response.body = index.body
    return response
end
