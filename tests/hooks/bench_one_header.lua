-- tests/hooks/bench_one_header.lua - the benchmark's Lua hook: a viewer-response that adds one header.
function handler(event, context)
    local response = event.Records[1].cf.response
    response.headers["strict-transport-security"] = { { key = "Strict-Transport-Security", value = "max-age=63072000" } }
    return response
end
