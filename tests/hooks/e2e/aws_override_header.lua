-- tests/hooks/e2e/aws_override_header.lua - AWS's Lambda@Edge example "Overriding a response header" (origin-response),
-- ported line by line from its Node.js version: the array it builds holds an entry copied from another header (key
-- X-Amz-Meta-Last-Modified under the name last-modified), and it reads it back at [0]. Tested by tests/e2e/test_porting.py.

function handler(event, context, callback)
    local response = event.Records[0].cf.response
    local headers = response.headers

    local headerNameSrc = 'X-Amz-Meta-Last-Modified'
    local headerNameDst = 'Last-Modified'

    if headers[headerNameSrc:lower()] then
        headers[headerNameDst:lower()] = {
            headers[headerNameSrc:lower()][0],
        }
        print('Response header "' .. headerNameDst .. '" was set to ' ..
              '"' .. headers[headerNameDst:lower()][0].value .. '"')
    end

    callback(nil, response)
end
