-- examples/lambda-edge/override_response_header.lua - origin-response: override a response header.
-- Source: AWS, "Lambda@Edge example functions", General examples, "Override a response header". Ported line by line: the
-- origin's X-Amz-Meta-Last-Modified becomes Last-Modified. The copied entry keeps its key ("X-Amz-Meta-Last-Modified") under
-- the name last-modified, and the hook reads back [0] of the array it built itself: both as in CloudFront.
function handler(event, context, callback)
    local response = event.Records[0].cf.response
    local headers = response.headers

    local headerNameSrc = "X-Amz-Meta-Last-Modified"
    local headerNameDst = "Last-Modified"

    if headers[headerNameSrc:lower()] then
        headers[headerNameDst:lower()] = {
            headers[headerNameSrc:lower()][0],
        }
        print('Response header "' .. headerNameDst .. '" was set to "' .. headers[headerNameDst:lower()][0].value .. '"')
    end

    callback(nil, response)
end
