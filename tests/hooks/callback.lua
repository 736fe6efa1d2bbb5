-- tests/hooks/callback.lua - the Node.js shape: handler(event, context, callback), Records[0], headers[...][0].
function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local host = request.headers["host"][0].value
    request.headers["x-host-seen"] = { { key = "X-Host-Seen", value = host } }
    request.headers["x-request-id"] = { { key = "X-Request-Id", value = context.awsRequestId } }
    if request.uri == "/error" then
        callback("refused by callback")
        return
    end
    callback(nil, request)
end
