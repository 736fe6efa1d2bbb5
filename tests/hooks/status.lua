-- tests/hooks/status.lua - changes the status: allowed in origin-response, 502 in viewer-response (read-only there).
function handler(event, context)
    local response = event.Records[1].cf.response
    response.status = "404"
    response.statusDescription = "Not Found"
    return response
end
