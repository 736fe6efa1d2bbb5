-- examples/lambda-edge/trailing_slash_redirect.lua - viewer-request: 301 from /dir to /dir/, keeping the query string.
-- Source: the "slash-trigger" viewer-request function from Chris Pointon's "Default files in S3 subdirectories using
-- CloudFront and Lambda@Edge" (copied into many repositories, e.g. brendandixon-myrecalls/arwen src/lambda/slash-trigger.js).
-- Ported line by line: olduri.replace(/(\/[\w\-]+)$/, '$1/') -> olduri:gsub("(/[%w_%-]+)$", "%1/").
function handler(event, context, callback)
    -- Extract the request from the CloudFront event that is sent to Lambda@Edge
    local request = event.Records[0].cf.request

    -- Extract the URI and params from the request
    local olduri = request.uri

    -- Match any uri that ends with some combination of [0-9][a-z][A-Z]_- and append a slash
    local endslashuri = olduri:gsub("(/[%w_%-]+)$", "%1/")

    if endslashuri ~= olduri then
        -- If we changed the uri, 301 to the version with a slash, appending querystring
        local params = ""
        if request.querystring and #request.querystring > 0 then
            params = "?" .. request.querystring
        end
        local newuri = endslashuri .. params

        local response = {
            status = "301",
            statusDescription = "Permanently moved",
            headers = {
                location = { {
                    key = "Location",
                    value = newuri,
                } },
            },
        }
        return callback(nil, response)
    else
        -- Return to CloudFront
        return callback(nil, request)
    end
end
