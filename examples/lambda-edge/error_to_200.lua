-- examples/lambda-edge/error_to_200.lua - origin-response: turn an origin error into a 200 with a generated body.
-- Source: AWS, "Lambda@Edge example functions", Update error statuses, "Use an origin response trigger to update the error
-- status code to 200". Ported line by line (the status is a string in the event: tonumber, as JavaScript's >= coerces).
function handler(event, context, callback)
    local response = event.Records[0].cf.response

    -- This function updates the response status to 200 and generates static body content to return to the viewer in the
    -- following scenario:
    -- 1. The function is triggered in an origin response
    -- 2. The response status from the origin server is an error status code (4xx or 5xx)
    if tonumber(response.status) >= 400 and tonumber(response.status) <= 599 then
        response.status = 200
        response.statusDescription = "OK"
        response.body = "Body generation example"
    end

    callback(nil, response)
end
