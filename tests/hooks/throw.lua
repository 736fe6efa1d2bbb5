-- tests/hooks/throw.lua - raises an error from a nested function: 503 with a traceback naming this file.
local function check(request)
    error("boom: no way to handle " .. request.uri)
end

function handler(event, context)
    check(event.Records[1].cf.request)
    return event.Records[1].cf.request
end
