-- examples/lambda-edge/prerender.lua - viewer-request + origin-request: send search and social bots to a prerender service.
-- Source: jinty/prerender-cloudfront (prerender.io's CloudFront example middleware), its two Lambda@Edge functions in one
-- file: viewer_request marks bot requests with X-Prerender-Token / -Host / -Cachebuster (the behavior's cache key lists them,
-- so bots get their own copies), origin_request then points the request at the prerender service. The regexes' /i flag ->
-- the User-Agent lowercased and lowercase Lua patterns; the alternations -> a list. config: {token:, service_domain:,
-- service_port:, service_protocol:} replace the hard-coded YOUR_TOKEN and service.prerender.io:443 over https.
local bots = { "googlebot", "adsbot%-google", "feedfetcher%-google", "bingbot", "yandex", "baiduspider", "facebot",
    "facebookexternalhit", "twitterbot", "rogerbot", "linkedinbot", "embedly", "quora link preview", "showyoubot",
    "outbrain", "pinterest", "slackbot", "vkshare", "w3c_validator" }
local static = {}
for e in ("js css xml less png jpg jpeg gif pdf doc txt ico rss zip mp3 rar exe wmv avi ppt mpg mpeg tif wav mov psd ai xls "
    .. "mp4 m4a swf dat dmg iso flv m4v torrent ttf woff svg eot"):gmatch("%S+") do
    static[e] = true
end

local function test_any(s, patterns)
    for _, p in ipairs(patterns) do
        if s:find(p) then
            return true
        end
    end
    return false
end

function viewer_request(event, context, callback)
    local request = event.Records[0].cf.request
    local headers = request.headers
    local user_agent = headers["user-agent"]
    local host = headers["host"]
    if user_agent and host then
        local prerender = test_any(user_agent[0].value:lower(), bots)
        prerender = prerender or request.querystring:find("_escaped_fragment_", 1, true) ~= nil
        -- ! /\.(js|css|...)$/i.test(request.uri)
        local ext = request.uri:lower():match("%.(%w+)$")
        prerender = prerender and not (ext and static[ext])
        if prerender then
            headers["x-prerender-token"] = { { key = "X-Prerender-Token", value = edge.config.token or "YOUR_TOKEN" } }
            headers["x-prerender-host"] = { { key = "X-Prerender-Host", value = host[0].value } }
            headers["x-prerender-cachebuster"] = { { key = "X-Prerender-Cachebuster", value = tostring(math.floor(os.time() *
                1000)) } }
        end
    end
    callback(nil, request)
end

function origin_request(event, context, callback)
    local request = event.Records[0].cf.request
    if request.headers["x-prerender-token"] and request.headers["x-prerender-host"] then
        request.origin = {
            custom = {
                domainName = edge.config.service_domain or "service.prerender.io",
                port = edge.config.service_port or 443,
                protocol = edge.config.service_protocol or "https",
                readTimeout = 20,
                keepaliveTimeout = 5,
                customHeaders = {},
                sslProtocols = { "TLSv1", "TLSv1.1" },
                path = "/https%3A%2F%2F" .. request.headers["x-prerender-host"][0].value,
            },
        }
    end
    callback(nil, request)
end
