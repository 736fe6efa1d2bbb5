-- examples/lambda-edge/spa_404_fetch.lua - origin-response: a single-page app's 403/404 answered with the app's index.html.
-- Source: the widely copied "Angular Lambda rewrite" origin-response function for SPAs on S3 behind CloudFront (403/404 on a
-- GET -> https.get of /APP/index.html from the distribution's own domain, so the index comes out of the edge cache; only
-- content-type, content-length, last-modified, date and etag are kept). Ported line by line: https.get -> edge.fetch (the
-- hook waits for the answer while the worker serves others; the host must be in the hook's fetch_allow). config: {scheme:
-- "http"} to fetch over plain HTTP (the original always uses https).
local indexPage = "index.html"

print("Angular Lambda rewrite started v0.1")

-- Get the app path segment e.g. candidates.app, employers.client etc
local function getAppPath(path)
    if not path then
        return ""
    end
    if path:sub(1, 1) == "/" then
        path = path:sub(2)
    end
    -- will always have at least one segment (may be empty)
    return path:match("^[^/]*")
end

-- CloudFront requires header values to be wrapped in an array
local function wrapAndFilterHeaders(headers)
    local allowedHeaders = { ["content-type"] = true, ["content-length"] = true, ["last-modified"] = true, ["date"] = true,
        ["etag"] = true }
    local responseHeaders = {}
    if not headers then
        return responseHeaders
    end
    for propName, header in pairs(headers) do
        -- only include allowed headers
        if allowedHeaders[propName:lower()] then
            if type(header) == "table" then
                -- assume already 'wrapped' format
                responseHeaders[propName] = header
            else
                -- fix to required format
                responseHeaders[propName] = { { value = header } }
            end
        end
    end
    return responseHeaders
end

local function httpGet(params)
    local res, err = edge.fetch((edge.config.scheme or "https") .. "://" .. params.hostname .. params.path,
        { timeout_ms = 2000 })
    if not res then
        error(err)
    end
    return res
end

local function generateResponse(domain, path)
    local ok, s3Response = pcall(httpGet, { hostname = domain, path = path })
    if ok then
        -- Load HTML index from the CloudFront cache
        local headers = s3Response.headers or { ["content-type"] = { { value = "text/html;charset=UTF-8" } } }
        return {
            status = "200",
            headers = wrapAndFilterHeaders(headers),
            body = s3Response.body,
        }
    else
        return {
            status = "500",
            headers = { ["content-type"] = { { value = "text/plain" } } },
            body = "An error occurred loading the page",
        }
    end
end

local function generateResponseAndLog(cf, request, indexPage)
    local domain = cf.config.distributionDomainName
    local appPath = getAppPath(request.uri)
    local indexPath = "/" .. appPath .. "/" .. indexPage
    local response = generateResponse(domain, indexPath)
    print("response: " .. edge.json_encode({ status = response.status }))
    return response
end

function handler(event, context, callback)
    local cf = event.Records[0].cf
    local request = cf.request
    local response = cf.response
    local statusCode = response.status

    -- Only replace 403 and 404 requests typically received when loading a page for a SPA that uses client-side routing
    local doReplace = request.method == "GET" and (statusCode == "403" or statusCode == "404")

    local result = doReplace and generateResponseAndLog(cf, request, indexPage) or response

    callback(nil, result)
end
