-- examples/lambda-edge/language_redirect.lua - viewer-request: redirect / to the viewer's language from Accept-Language.
-- Source: pbougie/aws-static-site, cloudfront/accept-language ("Redirects root path to /fr/ if Accept-Language starts with fr.
-- Otherwise it redirects to /en/"), the Lambda@Edge version on a behavior for "/". Ported line by line; the language list is
-- the hook's config: {languages: ["fr"], default: "en"} (the original hard-codes fr and en).
local languages = edge.config.languages or { "fr" }
local default = edge.config.default or "en"

local function redirect(to)
    return {
        status = "302",
        statusDescription = "Found",
        headers = {
            location = { { key = "Location", value = to } },
            ["cache-control"] = { { key = "Cache-Control", value = "no-cache" } },
        },
    }
end

function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local headers = request.headers

    if request.uri ~= "/" then
        return callback(nil, request)
    end

    local acceptLanguage = headers["accept-language"] and headers["accept-language"][0].value or ""
    for _, lang in ipairs(languages) do
        -- acceptLanguage.startsWith(lang)
        if acceptLanguage:sub(1, #lang):lower() == lang then
            return callback(nil, redirect("/" .. lang .. "/"))
        end
    end
    return callback(nil, redirect("/" .. default .. "/"))
end
