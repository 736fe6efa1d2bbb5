-- tests/hooks/alloc.lua - allocates without bound when the request has x-alloc; behaves otherwise (so the rebuilt state serves).
local keep = {}

function handler(event, context)
    local request = event.Records[1].cf.request
    if request.headers["x-alloc"] then
        while true do
            keep[#keep + 1] = string.rep("x", 65536) .. #keep
        end
    end
    request.headers["x-kept"] = { { key = "X-Kept", value = tostring(#keep) } }
    return request
end
