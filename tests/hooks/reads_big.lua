-- tests/hooks/reads_big.lua - reads the request's X-B1..X-B<X-Count> headers (large values: most of the call is spent between a
-- host getter's return and the Lua string made of its result) and says in X-Read how many bytes it read and whether each value
-- began as the test wrote it ("ok", else the first header that did not); it removes them.
function handler(event, context)
    local r = event.Records[1].cf.request
    local n, bad = 0, nil
    for i = 1, tonumber(r.headers["x-count"][1].value) do
        local v = r.headers["x-b" .. i][1].value
        r.headers["x-b" .. i] = nil -- the head the hook leaves must be within the request-head limit
        n = n + #v
        if bad == nil and v:sub(1, #tostring(i) + 1) ~= tostring(i) .. ":" then
            bad = i
        end
    end
    r.headers["x-read"] = { { key = "X-Read", value = tostring(n) .. " " .. (bad and tostring(bad) or "ok") } }
    return r
end
