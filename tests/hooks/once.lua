-- tests/hooks/once.lua - logs one line, then works past the inline budget (100 ms by the wall clock, in a loop the JIT
-- compiles), and answers with the time it had left when it started and when it ended (context.getRemainingTimeInMillis).
-- A call that ran twice would log twice.
local edge = require "edge"
function handler(event, context)
    local r = event.Records[1].cf.request
    local left_at_start = context.getRemainingTimeInMillis()
    print("once.lua: started " .. r.uri)
    local t0 = edge.time()
    while edge.time() - t0 < 0.1 do
    end
    local left_at_end = context.getRemainingTimeInMillis()
    return {
        status = "200",
        headers = {["cache-control"] = {{key = "Cache-Control", value = "no-store"}}},
        body = string.format("start=%d end=%d", left_at_start, left_at_end),
    }
end
