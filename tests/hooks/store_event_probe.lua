-- tests/hooks/store_event_probe.lua - a hook for the store's event notifications (tests/e2e/test_store_events.py): each S3
-- event record is counted at the test origin (/count/s3/BUCKET/EVENTNAME/KEY, ?gate=NAME when the config gates it); then,
-- as its config says, it fails on purpose, or writes KEY.."x" back into the bucket (a loop the guard must stop), and it
-- checks edge.s3.get/head/list/delete on what it wrote.
local edge = require "edge"

function handler(event, context)
    local cfg = edge.config
    for _, r in ipairs(event.Records or {}) do
        local bucket, key = r.s3.bucket.name, r.s3.object.key
        local url = cfg.origin .. "/count/s3/" .. bucket .. "/" .. r.eventName .. "/" .. key
        if cfg.gate then
            url = url .. "?gate=" .. cfg.gate
        end
        local res, err = edge.fetch(url)
        if not res then
            error("the probe could not reach the origin: " .. tostring(err))
        end
        if cfg.fail then
            error("probe fails on purpose for " .. key)
        end
        if cfg.write_back then
            local plain = edge.url_decode((key:gsub("%+", " ")))
            local ok, e = edge.s3.put(bucket, plain .. "x", "written by a hook at generation " .. r.edgehook.generation,
                { content_type = "text/plain", metadata = { generation = r.edgehook.generation } })
            if not ok then
                error(e)
            end
            -- read it back, head it, list it
            local body, info = edge.s3.get(bucket, plain .. "x")
            if body == nil or info.content_type ~= "text/plain" or info.metadata.generation ~= tostring(r.edgehook.generation) then
                error("edge.s3.get did not read back what was written: " .. tostring(info and info.content_type))
            end
            local h = edge.s3.head(bucket, plain .. "x")
            if h == nil or h.size ~= #body then
                error("edge.s3.head: wrong size")
            end
            local l = edge.s3.list(bucket, { prefix = plain })
            if l == nil or #l.keys < 1 then
                error("edge.s3.list found nothing")
            end
            local none, nerr = edge.s3.get(bucket, "no/such/key")
            if none ~= nil or not tostring(nerr):find("NoSuchKey") then
                error("edge.s3.get of a missing key: " .. tostring(nerr))
            end
        end
    end
    return { ok = true }
end
