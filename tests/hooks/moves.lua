-- tests/hooks/moves.lua - counts its calls in a global of its Lua state, then works 60 ms (a compiled loop): a call moved to
-- another thread past its inline budget goes on there, on the same state, and counts once. The count is in X-Calls.
local edge = require "edge"
calls = 0
function handler(event, context)
    local r = event.Records[1].cf.request
    calls = calls + 1
    local seen = calls
    local t0 = edge.time()
    while edge.time() - t0 < 0.06 do
    end
    r.headers["x-calls"] = {{key = "X-Calls", value = tostring(seen)}}
    return r
end
