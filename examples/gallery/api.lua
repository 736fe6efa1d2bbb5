-- examples/gallery/api.lua - the gallery's two endpoints, answered at the edge (viewer-request on /api/*, cache off):
--
--   GET /api/photos                       the photos under photos/ and, for each, whether its thumbnail exists yet:
--                                         {"photos": [{"key", "url", "thumb", "ready", "size", "last_modified"}...]}
--   GET /api/upload-form?name=N&type=T    a presigned POST (S3 POST Object) for one new photo: {"url", "key", "fields"}.
--                                         The key is chosen here (photos/<time>-<random>-<name>), the policy fixes it, the
--                                         Content-Type (image/jpeg, png or webp: what image_resize decodes) and the size (1
--                                         byte to max_size),
--                                         and expires after 5 minutes. The store checks all of it when the form comes back.
--
-- The policy is signed by the store with the process's own key (edge.s3.presign_post): no secret in this file or in the
-- config. Listing reads the store directly (edge.s3.list): no credential in the browser, one JSON answer shaped for the page
-- instead of S3's XML, and never a stale list (the page polls it until a new thumbnail exists; thumbnails themselves are
-- fetched through the cache, under /thumbs/).
--
-- config: bucket (gallery), store_url (the store's address as the browser reaches it), max_size (bytes, 20 MB),
--         thumb (the thumbnail the page shows: a key pattern, {name} = the photo's key without photos/ and its extension)
local edge = require "edge"

local BUCKET = edge.config.bucket or "gallery"
local STORE_URL = edge.config.store_url or "http://127.0.0.1:9000"
local MAX_SIZE = tonumber(edge.config.max_size) or 20 * 1024 * 1024
local THUMB = edge.config.thumb or "thumbs/{name}-320.webp"
-- what image_resize decodes (it tells formats by their first bytes and refuses the rest)
local TYPES = { ["image/jpeg"] = "jpg", ["image/png"] = "png", ["image/webp"] = "webp" }

local function answer(status, doc)
    return {
        status = tostring(status),
        headers = {
            ["content-type"] = { { key = "Content-Type", value = "application/json" } },
            ["cache-control"] = { { key = "Cache-Control", value = "no-store" } },
        },
        body = edge.json_encode(doc),
    }
end

local function thumb_key(photo_key)
    local name = photo_key:sub(#"photos/" + 1):gsub("%.[^./]*$", "")
    return (THUMB:gsub("{name}", function() return name end))
end

-- every key under prefix (paged, at most `limit`)
local function list_all(prefix, limit)
    local keys, after = {}, nil
    repeat
        local l, err = edge.s3.list(BUCKET, { prefix = prefix, start_after = after, max_keys = 1000 })
        if l == nil then
            return nil, err
        end
        for _, k in ipairs(l.keys) do
            keys[#keys + 1] = k
            after = k.key
        end
    until not l.truncated or #keys >= limit
    return keys
end

local function photos()
    local ps, err = list_all("photos/", 1000)
    if ps == nil then
        return answer(500, { error = err })
    end
    local prefix = THUMB:match("^[^{]*")
    local ts, err2 = list_all(prefix, 20000)
    if ts == nil then
        return answer(500, { error = err2 })
    end
    local have = {}
    for _, t in ipairs(ts) do
        have[t.key] = true
    end
    local out = {}
    for _, p in ipairs(ps) do
        if not p.key:match("/$") then
            local t = thumb_key(p.key)
            out[#out + 1] = { key = p.key, url = "/" .. p.key, thumb = "/" .. t, ready = have[t] == true, size = p.size,
                              last_modified = p.last_modified }
        end
    end
    table.sort(out, function(a, b)
        if a.last_modified ~= b.last_modified then
            return a.last_modified > b.last_modified
        end
        return a.key < b.key
    end)
    if #out == 0 then
        return answer(200, { photos = edge.json_decode("[]") })
    end
    return answer(200, { photos = out })
end

local function upload_form(qs)
    local q = edge.parse_query(qs or "")
    local ctype, name = q.type, q.name
    if type(ctype) ~= "string" or TYPES[ctype] == nil then
        return answer(400, { error = "type must be one of image/jpeg, image/png, image/webp" })
    end
    if type(name) ~= "string" then
        name = "photo"
    end
    -- the file's name, tamed: letters, digits, - and _ only, at most 60; the extension follows the type
    name = name:gsub("%.[^.]*$", ""):gsub("[^%w_-]+", "-"):sub(1, 60)
    if name == "" or name == "-" then
        name = "photo"
    end
    local key = string.format("photos/%d-%s-%s.%s", math.floor(edge.time()), edge.hex(edge.random_bytes(4)), name,
                              TYPES[ctype])
    local form, err = edge.s3.presign_post(BUCKET, {
        key = key, content_type = ctype, min_size = 1, max_size = MAX_SIZE, expires = 300,
        fields = { success_action_status = "201" },
    })
    if form == nil then
        return answer(500, { error = err })
    end
    return answer(200, { url = STORE_URL .. "/" .. BUCKET, key = key, fields = form.fields, expiration = form.expiration,
                         max_size = MAX_SIZE })
end

function viewer_request(event, context)
    local request = event.Records[1].cf.request
    if request.method ~= "GET" and request.method ~= "HEAD" then
        return answer(405, { error = "GET only" })
    end
    if request.uri == "/api/photos" then
        return photos()
    elseif request.uri == "/api/upload-form" then
        return upload_form(request.querystring)
    end
    return answer(404, { error = "no such endpoint: " .. request.uri })
end
