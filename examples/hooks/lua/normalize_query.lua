-- examples/hooks/lua/normalize_query.lua - normalises the query string to raise the cache hit ratio (AWS example
-- "Normalize query string parameters"): lowercase names, drop tracking parameters, sort.
-- config: {drop: ["utm_source", ...]}   (default: the utm_* family, fbclid, gclid)
local DROP = { utm_source = true, utm_medium = true, utm_campaign = true, utm_term = true, utm_content = true, fbclid = true,
    gclid = true }

function handler(event, context)
    local request = event.Records[1].cf.request
    local drop = DROP
    if type(edge.config.drop) == "table" then
        drop = {}
        for _, name in ipairs(edge.config.drop) do
            drop[name] = true
        end
    end
    local params = {}
    for name, value in pairs(edge.parse_query(request.querystring)) do
        name = name:lower()
        if not drop[name] then
            params[name] = value
        end
    end
    request.querystring = edge.build_query(params)
    return request
end
