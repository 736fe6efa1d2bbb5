-- examples/lambda-edge/origin_by_country.lua - origin-request: change the origin's domain name by the viewer's country.
-- Source: AWS, "Lambda@Edge example functions", Content-based dynamic origin selection, "Use an origin request trigger to
-- change the origin domain name based on the country header". Ported line by line: viewers from GB, DE or IE go to the EU
-- origin (request.origin.custom.domainName and Host edited in place). Needs geoip: {database: ...} and the behavior listing
-- CloudFront-Viewer-Country (origin_request or cache key). config: {eu_domain: "..."} replaces "eu.example.com".
function handler(event, context, callback)
    local request = event.Records[0].cf.request

    if request.headers["cloudfront-viewer-country"] then
        local countryCode = request.headers["cloudfront-viewer-country"][0].value
        if countryCode == "GB" or countryCode == "DE" or countryCode == "IE" then
            local domainName = edge.config.eu_domain or "eu.example.com"
            request.origin.custom.domainName = domainName
            request.headers["host"] = { { key = "host", value = domainName } }
        end
    end

    callback(nil, request)
end
