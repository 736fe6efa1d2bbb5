-- examples/lambda-edge/country_redirect.lua - origin-request: redirect viewers to a country-specific URL.
-- Source: AWS, "Lambda@Edge example functions", Personalize content by country or device type headers, "Redirect viewer
-- requests to a country-specific URL". Ported line by line. The behavior must list CloudFront-Viewer-Country in its cache key
-- (cache: {key: {headers: [cloudfront-viewer-country]}}) and edgehook needs geoip: {database: ...}; as in CloudFront, the
-- header exists from origin-request on.
function handler(event, context, callback)
    local request = event.Records[0].cf.request

    -- Based on the value of the CloudFront-Viewer-Country header, generate an HTTP status code 302 (Redirect) response, and
    -- return a country-specific URL in the Location header.
    local url = "https://example.com/"
    if request.headers["cloudfront-viewer-country"] then
        local countryCode = request.headers["cloudfront-viewer-country"][0].value
        if countryCode == "TW" then
            url = "https://tw.example.com/"
        elseif countryCode == "US" then
            url = "https://us.example.com/"
        end
    end

    local response = {
        status = "302",
        statusDescription = "Found",
        headers = {
            location = { {
                key = "Location",
                value = url,
            } },
        },
    }
    callback(nil, response)
end
