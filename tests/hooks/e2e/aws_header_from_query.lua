-- tests/hooks/e2e/aws_header_from_query.lua - AWS's Lambda@Edge example "Adding a header based on a query string parameter"
-- (viewer-request), ported line by line from its Node.js version (querystring.parse/stringify -> edge.parse_query and
-- edge.build_query, whose map form sorts the names). Tested by tests/e2e/test_porting.py.
local edge = require "edge"

function handler(event, context, callback)
    local request = event.Records[0].cf.request

    -- Parse request querystring to get a Lua table
    local params = edge.parse_query(request.querystring)

    -- Move auth param from querystring to headers
    local headerName = 'Auth-Header'
    request.headers[headerName:lower()] = { { key = headerName, value = params.auth } }
    params.auth = nil

    -- Update request querystring
    request.querystring = edge.build_query(params)

    callback(nil, request)
end
