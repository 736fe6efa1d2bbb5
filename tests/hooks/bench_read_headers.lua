-- tests/hooks/bench_read_headers.lua - the benchmark's reading Lua hook: a viewer-response that reads two headers (two host
-- getters) and adds one made of them.
function handler(event, context)
    local response = event.Records[1].cf.response
    local h = response.headers
    h["x-seen"] = { { key = "X-Seen", value = h["content-type"][1].value .. h["etag"][1].value } }
    return response
end
