-- tests/hooks/e2e/origin_edit.lua - origin-request edits (tests/e2e/test_origin_edits.py), chosen by the uri's first segment.
-- Written as AWS's examples are, ported line by line: request.origin edited in place, the Host header set with it.
--   /inplace/...     edits the S3 origin in place without changing where it is (a custom header): the embedded store on its
--                    own port must still answer
--   /region/...      request.origin.s3.region = the x-test-region header
--   /bucketpath/...  path-style to the store's address: the first segment of request.origin.s3.path is the bucket
--   /country/...     AWS "change the Amazon S3 origin domain name by country": region, domainName and Host in place
--   /unsigned/...    authMethod = "none"
--   /sigv4/...       an S3 origin on the HTTP test origin (config.plain_port): what it is sent can be checked
--   /host/...        sets only the Host header
--   /custom/...      AWS "change the origin based on a request header": custom.domainName, port and Host in place
--   /cpath/...       the configured custom origin's path, in place (the rest of it must stay: host_header)
--   /tls/...         request.origin.custom.sslProtocols = the comma-separated list of x-test-ssl
--   /tos3/...        AWS "change from a custom origin to an Amazon S3 origin", to bucket config.bucket of the store
local countryToRegion = { DE = "eu-central-1", JP = "ap-northeast-1" }

local function split(s)
    local t = {}
    for p in s:gmatch("[^,]+") do
        t[#t + 1] = p
    end
    return t
end

function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local seg = request.uri:match("^/([^/]+)/")
    local h = request.headers
    if seg == "inplace" then
        request.origin.s3.customHeaders["x-edited"] = { { key = "X-Edited", value = "yes" } }
    elseif seg == "region" then
        request.origin.s3.region = h["x-test-region"][0].value
    elseif seg == "bucketpath" then
        request.origin.s3.domainName = "127.0.0.1:" .. edge.config.store_port
        request.origin.s3.path = "/" .. h["x-test-bucket"][0].value
    elseif seg == "country" then
        if h["x-test-country"] then
            local countryCode = h["x-test-country"][0].value
            local region = countryToRegion[countryCode]
            if region then
                request.origin.s3.region = region
                local domainName = "bucket-in-" .. region .. ".s3.localhost:" .. edge.config.store_port
                request.origin.s3.domainName = domainName
                request.headers["host"] = { { key = "host", value = domainName } }
            end
        end
    elseif seg == "unsigned" then
        request.origin.s3.authMethod = "none"
    elseif seg == "sigv4" then
        request.origin = { s3 = { domainName = "127.0.0.1:" .. edge.config.plain_port, region = "eu-west-2",
            authMethod = h["x-test-auth"] and h["x-test-auth"][0].value or "origin-access-identity", path = "/sigbucket",
            customHeaders = {} } }
        request.headers["host"] = { { key = "host", value = "127.0.0.1:" .. edge.config.plain_port } }
    elseif seg == "host" then
        request.headers["host"] = { { key = "Host", value = "set-by-hook.example" } }
    elseif seg == "custom" then
        if h["x-test-country"] and h["x-test-country"][0].value == "DE" then
            local domainName = "127.0.0.1"
            request.origin.custom.domainName = domainName
            request.origin.custom.port = tonumber(edge.config.eu_port)
            request.headers["host"] = { { key = "host", value = "eu.example.test" } }
        end
    elseif seg == "cpath" then
        request.origin.custom.path = "/count"
    elseif seg == "tls" then
        request.origin.custom.sslProtocols = split(h["x-test-ssl"][0].value)
    elseif seg == "tos3" then
        request.origin = { s3 = { domainName = "127.0.0.1:" .. edge.config.store_port, region = "us-east-1",
            authMethod = "origin-access-identity", path = "/" .. edge.config.bucket, customHeaders = {} } }
        request.headers["host"] = { { key = "host", value = "127.0.0.1:" .. edge.config.store_port } }
    end
    callback(nil, request)
end
