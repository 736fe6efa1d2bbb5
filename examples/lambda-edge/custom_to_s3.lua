-- examples/lambda-edge/custom_to_s3.lua - origin-request: switch from a custom origin to an S3 origin by query parameter.
-- Source: AWS, "Lambda@Edge example functions", Content-based dynamic origin selection, "Use an origin request trigger to
-- change from a custom origin to an Amazon S3 origin". Ported line by line (querystring.parse -> edge.parse_query). The
-- bucket's domain name is the example's constant unless the hook's config gives one (config: {s3_domain: "HOST[:PORT]"}).
function handler(event, context, callback)
    local request = event.Records[0].cf.request

    -- Reads query string to check if S3 origin should be used, and if true, sets S3 origin properties.
    local params = edge.parse_query(request.querystring)
    if params["useS3Origin"] then
        if params["useS3Origin"] == "true" then
            local s3DomainName = edge.config.s3_domain or "amzn-s3-demo-bucket.s3.amazonaws.com"

            -- Set S3 origin fields
            request.origin = {
                s3 = {
                    domainName = s3DomainName,
                    region = "",
                    authMethod = "none",
                    path = "",
                    customHeaders = {},
                },
            }
            request.headers["host"] = { { key = "host", value = s3DomainName } }
        end
    end
    callback(nil, request)
end
