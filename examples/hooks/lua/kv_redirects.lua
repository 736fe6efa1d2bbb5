-- examples/hooks/lua/kv_redirects.lua - viewer-request: redirects kept in a kv store (CloudFront KeyValueStore's own example), so
-- they change through the admin API, seen by the next request, without a new version of the hook:
--   curl -X PUT -H "Authorization: Bearer $T" --data-binary /new/place http://127.0.0.1:9901/kv/redirects/%2Fold%2Fplace
-- The hook needs `kv: [redirects]` in its config (a hook reads only the stores it names).
local redirects = edge.kv("redirects")

function handler(event, context)
    local request = event.Records[1].cf.request
    local target = redirects:get(request.uri)
    if target == nil then
        return request
    end
    return {
        status = "301",
        statusDescription = "Moved Permanently",
        headers = {
            location = {{key = "Location", value = target}},
            ["cache-control"] = {{key = "Cache-Control", value = "max-age=300"}},
        },
    }
end
