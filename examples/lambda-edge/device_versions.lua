-- examples/lambda-edge/device_versions.lua - origin-request: serve a different version of an object by device type.
-- Source: AWS, "Lambda@Edge example functions", Personalize content by country or device type headers, "Serve different
-- versions of an object based on the device". Ported line by line. The behavior lists the CloudFront-Is-*-Viewer headers in
-- its cache key (they are generated from the User-Agent after viewer-request, as in CloudFront).
function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local headers = request.headers

    local desktopPath = "/desktop"
    local mobilePath = "/mobile"
    local tabletPath = "/tablet"
    local smarttvPath = "/smarttv"

    if headers["cloudfront-is-desktop-viewer"]
        and headers["cloudfront-is-desktop-viewer"][0].value == "true" then
        request.uri = desktopPath .. request.uri
    elseif headers["cloudfront-is-mobile-viewer"]
        and headers["cloudfront-is-mobile-viewer"][0].value == "true" then
        request.uri = mobilePath .. request.uri
    elseif headers["cloudfront-is-tablet-viewer"]
        and headers["cloudfront-is-tablet-viewer"][0].value == "true" then
        request.uri = tabletPath .. request.uri
    elseif headers["cloudfront-is-smarttv-viewer"]
        and headers["cloudfront-is-smarttv-viewer"][0].value == "true" then
        request.uri = smarttvPath .. request.uri
    end
    print('Request uri set to "' .. request.uri .. '"')

    callback(nil, request)
end
