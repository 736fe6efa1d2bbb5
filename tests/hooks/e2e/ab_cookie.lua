-- tests/hooks/e2e/ab_cookie.lua - the viewer-response half of examples/hooks/lua/ab_test.lua (tests/e2e/test_hook_examples.py):
-- ab_test.lua passes the group it chose in X-Experiment-Group "so the origin (or a viewer-response hook) can set the cookie";
-- this sets X-Experiment-Name when the viewer does not have it yet, so the next request sticks to the group by cookie.
function handler(event, context)
    local cf = event.Records[1].cf
    local response = cf.response
    local group = cf.request.headers["x-experiment-group"]
    if group and edge.parse_cookies(cf.request.headers)["X-Experiment-Name"] ~= group[1].value then
        response.headers["set-cookie"] = { { key = "Set-Cookie", value = "X-Experiment-Name=" .. group[1].value .. "; Path=/" } }
    end
    return response
end
