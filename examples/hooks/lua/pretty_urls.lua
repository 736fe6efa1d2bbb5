-- examples/hooks/lua/pretty_urls.lua - serves /about/ and /about from /about/index.html (AWS example "Add index.html to
-- request URLs that don't include a file name"). Bind to viewer-request (or origin-request to keep pretty cache keys).
function handler(event, context, callback)
    local request = event.Records[0].cf.request -- Records[0] works too, as in the Node.js original
    local uri = request.uri
    if uri:sub(-1) == "/" then
        request.uri = uri .. "index.html"
    elseif not uri:match("%.[%w]+$") then
        request.uri = uri .. "/index.html"
    end
    callback(nil, request)
end
