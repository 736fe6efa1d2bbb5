-- examples/lambda-edge/redirect_to_signin.lua - viewer-request: redirect unauthenticated users to a sign-in page.
-- Source: AWS, "Lambda@Edge example functions", Query strings, "Redirect unauthenticated users to a sign-in page". Ported
-- line by line: no session-id cookie -> 302 to the sign-in page with the original URL, encodeURIComponent'ed, in
-- redirect_url (encodeURIComponent -> edge.encode_uri_component).
local function parseCookies(headers)
    local parsedCookie = {}
    if headers.cookie then
        for cookie in (headers.cookie[0].value .. ";"):gmatch("([^;]*);") do
            if cookie ~= "" then
                local name, value = cookie:match("^([^=]*)=?(.*)$")
                parsedCookie[name:match("^%s*(.-)%s*$")] = value:match("^%s*(.-)%s*$")
            end
        end
    end
    return parsedCookie
end

function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local headers = request.headers

    -- Check for session-id in request cookie in viewer-request event, if session-id is absent, redirect the user to sign in
    -- page with original request sent as redirect_url in query params.

    -- Check for session-id in cookie, if present then proceed with request
    local parsedCookies = parseCookies(headers)
    if parsedCookies and parsedCookies["session-id"] then
        callback(nil, request)
        return
    end

    -- URI encode the original request to be sent as redirect_url in query params
    local encodedRedirectUrl = edge.encode_uri_component("https://" .. headers.host[0].value .. request.uri .. "?" ..
        request.querystring)
    local response = {
        status = "302",
        statusDescription = "Found",
        headers = {
            location = { {
                key = "Location",
                value = "https://www.example.com/signin?redirect_url=" .. encodedRedirectUrl,
            } },
        },
    }
    callback(nil, response)
end
