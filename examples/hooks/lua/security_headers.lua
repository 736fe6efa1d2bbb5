-- examples/hooks/lua/security_headers.lua - adds security headers to every response (AWS example "Adding HTTP security headers").
-- Bind to viewer-response (or origin-response, to cache them with the object).
local H = {
    { "strict-transport-security", "Strict-Transport-Security", "max-age=63072000; includeSubdomains; preload" },
    { "content-security-policy", "Content-Security-Policy",
        "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'" },
    { "x-content-type-options", "X-Content-Type-Options", "nosniff" },
    { "x-frame-options", "X-Frame-Options", "DENY" },
    { "x-xss-protection", "X-XSS-Protection", "1; mode=block" },
    { "referrer-policy", "Referrer-Policy", "same-origin" },
}

function handler(event, context, callback)
    local response = event.Records[1].cf.response
    local headers = response.headers
    for i = 1, #H do
        local h = H[i]
        headers[h[1]] = { { key = h[2], value = h[3] } }
    end
    callback(nil, response)
end
