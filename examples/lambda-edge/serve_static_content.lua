-- examples/lambda-edge/serve_static_content.lua - viewer-request: a generated HTML response.
-- Source: AWS, "Lambda@Edge example functions", Generate responses, "Serve static content (generated response)". Ported line
-- by line: every request is answered with this page (the origin is never asked).
local content = [[
<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Simple Lambda@Edge Static Content Response</title>
  </head>
  <body>
    <p>Hello from Lambda@Edge!</p>
  </body>
</html>
]]

function handler(event, context, callback)
    -- Generate HTTP OK response using 200 status code with HTML body.
    local response = {
        status = "200",
        statusDescription = "OK",
        headers = {
            ["cache-control"] = { {
                key = "Cache-Control",
                value = "max-age=100",
            } },
            ["content-type"] = { {
                key = "Content-Type",
                value = "text/html",
            } },
        },
        body = content,
    }
    callback(nil, response)
end
