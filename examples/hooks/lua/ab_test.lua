-- examples/hooks/lua/ab_test.lua - A/B test by cookie (AWS example "A/B testing"): a viewer with the cookie
-- X-Experiment-Name=A|B sees that variant; a new viewer is placed in a group by a hash of its address, and the group is
-- passed on in a header so the origin (or a viewer-response hook) can set the cookie. On a cacheable behavior the origin
-- gets that header only if the behavior lists it: origin_request: {headers: [x-experiment-group]} (or in cache.key.headers).
local COOKIE = "X-Experiment-Name"
local PATHS = { A = "/experiment-group/control-pixel.jpg", B = "/experiment-group/treatment-pixel.jpg" }

function handler(event, context)
    local request = event.Records[1].cf.request
    if request.uri ~= "/experiment-pixel.jpg" then
        return request
    end
    local group = edge.parse_cookies(request.headers)[COOKIE]
    if group ~= "A" and group ~= "B" then
        group = edge.hash(request.clientIp) % 2 == 0 and "A" or "B"
    end
    request.uri = PATHS[group]
    request.headers["x-experiment-group"] = { { key = "X-Experiment-Group", value = group } }
    return request
end
