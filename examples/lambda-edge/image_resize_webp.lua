-- examples/lambda-edge/image_resize_webp.lua - viewer-request: pick an image variant by ?d=WxH and the Accept header (WebP).
-- Source: AWS Networking & Content Delivery blog, "Resizing Images with Amazon CloudFront & Lambda@Edge", the viewer-request
-- function. Ported line by line: ?d=105x105 with Accept: image/webp asks the origin for /images/100x100/webp/image.jpg. The
-- rewritten URI is the cache key, so each variant is cached once. (querystring.parse -> edge.parse_query, the regex
-- /(.*)\/(.*)\.(.*)/ -> the Lua pattern "^(.*)/(.*)%.(.*)$", accept.includes -> string.find plain.)

-- defines the allowed dimensions, default dimensions and how much variance from allowed dimension is allowed.
local variables = {
    allowedDimension = { { w = 100, h = 100 }, { w = 200, h = 200 }, { w = 300, h = 300 }, { w = 400, h = 400 } },
    defaultDimension = { w = 200, h = 200 },
    variance = 20,
    webpExtension = "webp",
}

function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local headers = request.headers

    -- parse the querystrings key-value pairs. In our case it would be d=100x100
    local params = edge.parse_query(request.querystring)

    -- fetch the uri of original image
    local fwdUri = request.uri

    -- if there is no dimension attribute, just pass the request
    if not params.d then
        callback(nil, request)
        return
    end
    -- read the dimension parameter value = width x height and split it by 'x'
    local dimensionMatch = {}
    for part in (params.d .. "x"):gmatch("([^x]*)x") do
        dimensionMatch[#dimensionMatch + 1] = part
    end

    -- set the width and height parameters
    local width = dimensionMatch[1]
    local height = dimensionMatch[2]

    -- parse the prefix, image name and extension from the uri. In our case /images/image.jpg
    local prefix, imageName, extension = fwdUri:match("^(.*)/(.*)%.(.*)$")

    -- define variable to be set to true if requested dimension is allowed.
    local matchFound = false

    -- calculate the acceptable variance. If image dimension is 105 and is within acceptable range, then in our case, the
    -- dimension would be corrected to 100.
    local variancePercent = (variables.variance / 100)

    for _, dimension in ipairs(variables.allowedDimension) do
        local minWidth = dimension.w - (dimension.w * variancePercent)
        local maxWidth = dimension.w + (dimension.w * variancePercent)
        -- JavaScript compares the string width with numbers numerically: tonumber
        if tonumber(width) and tonumber(width) >= minWidth and tonumber(width) <= maxWidth then
            width = dimension.w
            height = dimension.h
            matchFound = true
            break
        end
    end
    -- if no match is found from allowed dimension with variance then set to default dimensions.
    if not matchFound then
        width = variables.defaultDimension.w
        height = variables.defaultDimension.h
    end

    -- read the accept header to determine if webP is supported.
    local accept = headers["accept"] and headers["accept"][0].value or ""

    local url = {}
    -- build the new uri to be forwarded upstream
    url[#url + 1] = prefix
    url[#url + 1] = width .. "x" .. height

    -- check support for webp
    if accept:find(variables.webpExtension, 1, true) then
        url[#url + 1] = variables.webpExtension
    else
        url[#url + 1] = extension
    end
    url[#url + 1] = imageName .. "." .. extension

    fwdUri = table.concat(url, "/")

    -- final modified url is of format /images/200x200/webp/image.jpg
    request.uri = fwdUri
    callback(nil, request)
end
