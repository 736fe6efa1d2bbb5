-- tests/hooks/fetch_once.lua - logs one line, works past the inline budget (60 ms, a compiled loop: the call moves to an offload
-- thread), fetches (the call parks and goes on on its worker), works again past the budget, fetches again: one call, one line.
local edge = require "edge"

local function work(s)
    local t0 = edge.time()
    while edge.time() - t0 < s do
    end
end

function handler(event, context)
    local r = event.Records[1].cf.request
    local url = edge.config.url
    print("fetch_once.lua: started " .. r.uri)
    work(0.06)
    local a = edge.fetch(url .. "/size/10")
    work(0.06)
    local b = edge.fetch(url .. "/size/20")
    return {
        status = "200",
        headers = { ["cache-control"] = { { key = "Cache-Control", value = "no-store" } } },
        body = string.format("a=%s b=%s", a and #a.body or "nil", b and #b.body or "nil"),
    }
end
