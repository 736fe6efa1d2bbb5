-- tests/hooks/e2e/identity.lua - viewer-response (tests/e2e/test_origin_edits.py): the event's config and the Lambda context,
-- in response headers.
function handler(event, context)
    local cf = event.Records[0].cf
    local response = cf.response
    response.headers["x-config"] = { { key = "X-Config", value = table.concat({ cf.config.distributionId,
        cf.config.distributionDomainName, cf.config.requestId, cf.config.eventType }, "|") } }
    response.headers["x-context"] = { { key = "X-Context", value = table.concat({ context.functionName,
        context.functionVersion, context.memoryLimitInMB, context.invokedFunctionArn, context.awsRequestId,
        context.logGroupName, context.logStreamName, tostring(context.getRemainingTimeInMillis() > 0) }, "|") } }
    return response
end
