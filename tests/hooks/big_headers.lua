-- tests/hooks/big_headers.lua - grows the head it is given as the request's x-big header says: "bytes:N" adds one header of N
-- bytes, "count:N" N small headers (to the request at request events, to the response at response events), "respond:N" answers
-- with a generated response carrying a header of N bytes, "drop" removes x-filler (a head already over a cap may shrink).
function handler(event, context)
    local cf = event.Records[1].cf
    local request = cf.request
    local how = request.headers["x-big"] and request.headers["x-big"][1].value or ""
    local mode, n = how:match("^(%a+):?(%d*)$")
    n = tonumber(n) or 0
    local target = cf.response or request
    if mode == "bytes" then
        target.headers["x-big-value"] = { { key = "X-Big-Value", value = string.rep("b", n) } }
    elseif mode == "count" then
        for i = 1, n do
            target.headers["x-many-" .. i] = { { key = "X-Many-" .. i, value = "v" } }
        end
    elseif mode == "respond" then
        return { status = "200", headers = { ["x-big-value"] = { { key = "X-Big-Value", value = string.rep("r", n) } } } }
    elseif mode == "drop" then
        target.headers["x-filler"] = nil
    end
    return cf.response or request
end
