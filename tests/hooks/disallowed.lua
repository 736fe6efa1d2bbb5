-- tests/hooks/disallowed.lua - adds a disallowed header (X-Real-IP): 502.
function handler(event, context)
    local request = event.Records[1].cf.request
    request.headers["x-real-ip"] = { { key = "X-Real-IP", value = "10.0.0.1" } }
    return request
end
