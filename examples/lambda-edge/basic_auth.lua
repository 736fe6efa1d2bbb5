-- examples/lambda-edge/basic_auth.lua - viewer-request: HTTP Basic authentication.
-- Source: the widely used gist lmakarov/lambda-basic-auth.js ("Basic HTTP Authentication for CloudFront with Lambda@Edge").
-- Ported line by line (new Buffer(...).toString('base64') -> edge.base64_encode). config: {user:, password:} replace the
-- hard-coded 'user' / 'pass'.
function handler(event, context, callback)
    -- Get request and request headers
    local request = event.Records[0].cf.request
    local headers = request.headers

    -- Configure authentication
    local authUser = edge.config.user or "user"
    local authPass = edge.config.password or "pass"

    -- Construct the Basic Auth string
    local authString = "Basic " .. edge.base64_encode(authUser .. ":" .. authPass)

    -- Require Basic authentication
    if headers.authorization == nil or headers.authorization[0].value ~= authString then
        local body = "Unauthorized"
        local response = {
            status = "401",
            statusDescription = "Unauthorized",
            body = body,
            headers = {
                ["www-authenticate"] = { { key = "WWW-Authenticate", value = "Basic" } },
            },
        }
        callback(nil, response)
        return -- the gist falls through to a second callback, which Lambda ignores
    end

    -- Continue request processing if authentication passed
    callback(nil, request)
end
