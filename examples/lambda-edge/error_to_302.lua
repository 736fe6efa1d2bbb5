-- examples/lambda-edge/error_to_302.lua - origin-response: turn an origin error into a redirect to another behavior.
-- Source: AWS, "Lambda@Edge example functions", Update error statuses, "Use an origin response trigger to update the error
-- status code to 302". Ported line by line: 4xx/5xx -> 302 to /plan-b/path with the request's query string.
function handler(event, context, callback)
    local response = event.Records[0].cf.response
    local request = event.Records[0].cf.request

    -- This function updates the HTTP status code in the response to 302, to redirect to another path (cache behavior) that
    -- has a different origin configured. Note the following:
    -- 1. The function is triggered in an origin response
    -- 2. The response status from the origin server is an error status code (4xx or 5xx)
    if tonumber(response.status) >= 400 and tonumber(response.status) <= 599 then
        local redirect_path = "/plan-b/path?" .. request.querystring

        response.status = 302
        response.statusDescription = "Found"

        -- Drop the body, as it is not required for redirects
        response.body = ""
        response.headers["location"] = { { key = "Location", value = redirect_path } }
    end

    callback(nil, response)
end
