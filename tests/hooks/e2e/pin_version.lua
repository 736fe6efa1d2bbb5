-- tests/hooks/e2e/pin_version.lua - origin-request (tests/e2e/test_store_versioning.py): pins the S3 object version with
-- request.origin.s3.versionId, from the query's v= (part of the cache key) or from an x-pin header (not part of it).
function handler(event, context)
    local request = event.Records[0].cf.request
    local v = request.querystring:match("^v=([^&]*)") or request.querystring:match("&v=([^&]*)")
    local h = request.headers["x-pin"]
    if h then
        v = h[1].value
    end
    if v and v ~= "" and request.origin and request.origin.s3 then
        request.origin.s3.versionId = v
    end
    return request
end
