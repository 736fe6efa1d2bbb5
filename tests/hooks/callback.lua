-- tests/hooks/callback.lua - the Node.js shape: handler(event, context, callback), Records[0], headers[...][0].
function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local host = request.headers["host"][0].value
    request.headers["x-host-seen"] = { { key = "X-Host-Seen", value = host } }
    request.headers["x-aws-request-id"] = { { key = "X-Aws-Request-Id", value = context.awsRequestId } }
    request.headers["x-aws-request-id-again"] = { { key = "X-Aws-Request-Id-Again", value = context.awsRequestId } }
    request.headers["x-context"] = { { key = "X-Context", value = table.concat({ context.functionName,
        context.functionVersion, context.memoryLimitInMB, context.invokedFunctionArn, context.logGroupName,
        type(context.memoryLimitInMB) }, "|") } }
    request.headers["x-log-stream"] = { { key = "X-Log-Stream", value = context.logStreamName } }
    if request.uri == "/error" then
        callback("refused by callback")
        return
    end
    callback(nil, request)
end
