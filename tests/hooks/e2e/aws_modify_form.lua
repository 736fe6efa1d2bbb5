-- tests/hooks/e2e/aws_modify_form.lua - AWS's Lambda@Edge example "Using a request trigger to modify an HTML form"
-- (viewer-request, include_body), ported line by line from its Node.js version (Buffer.from(data, 'base64').toString() ->
-- edge.base64_decode; querystring -> edge.parse_query/build_query). Tested by tests/e2e/test_porting.py.
local edge = require "edge"

local getUpdatedBody

function handler(event, context, callback)
    local request = event.Records[0].cf.request
    if request.method == 'POST' then
        -- Request body is being replaced: body.action, body.encoding, body.data
        request.body.action = 'replace'
        request.body.encoding = 'text'
        request.body.data = getUpdatedBody(request)
    end
    callback(nil, request)
end

function getUpdatedBody(request)
    -- HTTP body is always passed as base64-encoded string. Decode it.
    local body = edge.base64_decode(request.body.data)

    -- HTML forms send data in query string format. Parse it.
    local params = edge.parse_query(body)

    -- For demonstration purposes, we're adding one more param.
    params['new-param-name'] = 'new-param-value'
    return edge.build_query(params)
end
