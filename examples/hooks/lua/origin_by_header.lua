-- examples/hooks/lua/origin_by_header.lua - picks the origin per request (AWS examples "Changing the origin based on a
-- request header" / "Using an origin-request trigger to change from an Amazon S3 origin to a custom origin"):
-- viewers from some countries go to a nearer custom origin, requests for /media/ go to an S3 bucket.
-- Bind to origin-request. config: {eu_origin: "eu.example.com", bucket_domain: "media.s3.eu-west-1.amazonaws.com", region: "eu-west-1"}
local EU = { DE = true, FR = true, IT = true, ES = true, NL = true, IE = true }

function handler(event, context)
    local request = event.Records[1].cf.request
    local cfg = edge.config
    if request.uri:sub(1, 7) == "/media/" then
        request.origin = { s3 = { domainName = cfg.bucket_domain or "media.s3.eu-west-1.amazonaws.com",
            region = cfg.region or "eu-west-1", authMethod = "origin-access-identity", path = "", customHeaders = {} } }
        request.headers.host = { { key = "Host", value = cfg.bucket_domain or "media.s3.eu-west-1.amazonaws.com" } }
        return request
    end
    local country = request.headers["cloudfront-viewer-country"] or request.headers["x-country"]
    if country and EU[country[1].value] then
        local domain = cfg.eu_origin or "eu.example.com"
        request.origin = { custom = { domainName = domain, port = 443, protocol = "https", path = "", sslProtocols = { "TLSv1.2" },
            readTimeout = 30, keepaliveTimeout = 5, customHeaders = {} } }
        request.headers.host = { { key = "Host", value = domain } }
    end
    return request
end
