-- tests/hooks/readonly.lua - changes a read-only header (Host in viewer-request, Via in viewer-response): 502.
function handler(event, context)
    local cf = event.Records[1].cf
    if cf.config.eventType == "viewer-response" then
        cf.response.headers["via"] = { { key = "Via", value = "1.1 evil" } }
        return cf.response
    end
    cf.request.headers.host[1].value = "evil.example"
    return cf.request
end
