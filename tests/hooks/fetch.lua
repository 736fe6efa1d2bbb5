-- tests/hooks/fetch.lua - edge.fetch driven by the request: X-Fetch-Url (one fetch; X-Fetch-Timeout, X-Fetch-Method, X-Fetch-Body)
-- or X-Fetch-All (space-separated URLs, fetched in parallel). Answers with what came back, as JSON: per fetch its status, body
-- length, body sha256 (hex), the x-test header and the error.
local edge = require "edge"

local function summary(res, err)
    if not res then
        return { err = err }
    end
    return { status = res.status, len = #res.body, sha = edge.hex(edge.sha256(res.body)), x_test = res.headers["x-test"],
        echo = res.headers["content-type"] == "application/json" and res.body or nil }
end

function handler(event, context)
    local h = event.Records[1].cf.request.headers
    local out = { results = {} }
    if h["x-fetch-all"] then
        local list = {}
        for url in h["x-fetch-all"][1].value:gmatch("%S+") do
            list[#list + 1] = { url }
        end
        local res, errs = edge.fetch_all(list)
        for i = 1, #list do
            out.results[i] = summary(res[i], errs[i])
        end
    else
        local opts = { headers = { ["X-From-Hook"] = "yes" } }
        if h["x-fetch-timeout"] then
            opts.timeout_ms = tonumber(h["x-fetch-timeout"][1].value)
        end
        if h["x-fetch-method"] then
            opts.method = h["x-fetch-method"][1].value
        end
        if h["x-fetch-body"] then
            opts.body = h["x-fetch-body"][1].value
        end
        out.results[1] = summary(edge.fetch(h["x-fetch-url"][1].value, opts))
    end
    out.left = context.getRemainingTimeInMillis()
    return {
        status = "200",
        headers = { ["content-type"] = { { key = "Content-Type", value = "application/json" } } },
        body = edge.json_encode(out),
    }
end
