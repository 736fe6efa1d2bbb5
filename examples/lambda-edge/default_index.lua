-- examples/lambda-edge/default_index.lua - origin-request: a directory URI is served from its index.html.
-- Source: AWS Compute blog, "Implementing Default Directory Indexes in Amazon S3-backed Amazon CloudFront Origins Using
-- Lambda@Edge". Ported line by line: olduri.replace(/\/$/, '\/index.html') -> olduri:gsub("/$", "/index.html").
function handler(event, context, callback)
    -- Extract the request from the CloudFront event that is sent to Lambda@Edge
    local request = event.Records[0].cf.request

    -- Extract the URI from the request
    local olduri = request.uri

    -- Match any '/' that occurs at the end of a URI. Replace it with a default index
    local newuri = olduri:gsub("/$", "/index.html")

    -- Log the URI as received by CloudFront and the new URI to be used to fetch from origin
    print("Old URI: " .. olduri)
    print("New URI: " .. newuri)

    -- Replace the received URI with the URI that includes the index page
    request.uri = newuri

    -- Return to CloudFront
    return callback(nil, request)
end
