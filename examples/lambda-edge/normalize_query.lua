-- examples/lambda-edge/normalize_query.lua - viewer-request: normalize query string parameters for a better hit ratio.
-- Source: AWS, "Lambda@Edge example functions", Query strings, "Normalize query string parameters to improve the cache hit
-- ratio". Ported line by line: names and values lowercased, names sorted (querystring.parse/stringify -> edge.parse_query /
-- edge.build_query, which sorts by name).
function handler(event, context, callback)
    local request = event.Records[0].cf.request
    -- When you configure a distribution to forward query strings to the origin and to cache based on an allowlist of query
    -- string parameters, we recommend the following to improve the cache-hit ratio: always list parameters in the same
    -- order; use the same case for parameter names and values. This function normalizes query strings so that parameter
    -- names and values are lowercase and parameter names are in alphabetical order.
    print("Query String: ", request.querystring)

    -- Parse request query string to get a Lua table
    local params = edge.parse_query(request.querystring:lower())
    local sortedParams = {}

    -- Sort param keys (edge.build_query writes them sorted)
    for key, value in pairs(params) do
        sortedParams[key] = value
    end

    -- Update request querystring with normalized
    request.querystring = edge.build_query(sortedParams)

    callback(nil, request)
end
