-- tests/hooks/async_probe.lua - a generic hook for `Event` invocations (tests/e2e/test_lambda_async.py): each attempt fetches
-- the test origin's /count/async/ID (the test counts attempts there; ?gate=NAME holds the attempt until the test releases it),
-- then fails when the event says fail = true.
local edge = require "edge"

function handler(event, context)
    local url = edge.config.origin .. "/count/async/" .. tostring(event.id)
    if event.gate then
        url = url .. "?gate=" .. event.gate
    end
    local r, err = edge.fetch(url)
    if not r then
        error("the probe could not reach the origin: " .. tostring(err))
    end
    if event.fail then
        error("probe " .. tostring(event.id) .. " fails on purpose")
    end
    return { ok = true, id = event.id }
end
