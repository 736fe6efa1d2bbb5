-- examples/lambda-edge/cors.lua - origin-response: CORS headers on every response of a behavior.
-- Source: djmeph/strapi-serverless, infrastructure/lambdas/origin-response/index.js (Access-Control-Allow-Origin, -Methods,
-- -Max-Age set at origin-response, so they are cached with the object). Ported line by line; the allowed origin, which the
-- original reads from a custom header of its S3 origin (X-Allowed-Origin-Uri, set in the distribution's origin settings), is
-- the hook's config: {allowed_origin: "https://app.example.com"}.
function handler(event, context, callback)
    local response = event.Records[0].cf.response
    local allowedOriginUri = edge.config.allowed_origin

    response.headers["access-control-allow-origin"] = {
        {
            key = "Access-Control-Allow-Origin",
            value = allowedOriginUri,
        },
    }

    response.headers["access-control-allow-methods"] = {
        {
            key = "Access-Control-Allow-Methods",
            value = "OPTIONS, GET, HEAD, POST, PUT, DELETE",
        },
    }

    response.headers["access-control-max-age"] = {
        { key = "Access-Control-Max-Age", value = "86400" },
    }

    return callback(nil, response)
end
