-- tests/hooks/e2e/origin_seen.lua - origin-response (tests/e2e/test_origin_edits.py): says which origin the request went to
-- (request.origin, as the origin-request hook left it) and the event's identity, in response headers.
function handler(event, context)
    local cf = event.Records[0].cf
    local response, o = cf.response, cf.request.origin
    local desc = "none"
    if o and o.s3 then
        desc = table.concat({ "s3", o.s3.domainName, o.s3.path, o.s3.region, o.s3.authMethod }, "|")
    elseif o and o.custom then
        desc = table.concat({ "custom", o.custom.protocol, o.custom.domainName, tostring(o.custom.port), o.custom.path,
            table.concat(o.custom.sslProtocols, ",") }, "|")
    end
    response.headers["x-origin-seen"] = { { key = "X-Origin-Seen", value = desc } }
    response.headers["x-ores-config"] = { { key = "X-Ores-Config", value = table.concat({ cf.config.distributionId,
        cf.config.distributionDomainName, cf.config.requestId, cf.config.eventType }, "|") } }
    return response
end
