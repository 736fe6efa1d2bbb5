-- tests/hooks/triggers.lua - trigger-named functions instead of handler(): handles viewer-request and viewer-response only.
function viewer_request(event)
    local request = event.Records[1].cf.request
    request.headers["x-trigger"] = { { key = "X-Trigger", value = "viewer-request" } }
    return request
end

function viewer_response(event)
    local response = event.Records[1].cf.response
    response.headers["x-trigger"] = { { key = "X-Trigger", value = "viewer-response" } }
    return response
end
