-- tests/hooks/stdlib.lua - the hooks' standard library against known vectors and hostile input. The x-test header names one
-- check; the hook answers 200 with "ok" in x-result, or the check fails (an assert: 503 with its message). Run by
-- tests/unit/hooks/test_stdlib.c, each check under the default memory cap and the bounded ones under a small one.
local edge = require "edge"

local function unhex(h)
    return (h:gsub("%x%x", function(x)
        return string.char(tonumber(x, 16))
    end))
end

local function eq(got, want, what)
    if got ~= want then
        error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want), 2)
    end
end

-- a Lua error with a message containing `needle`, not a crash
local function raises(needle, f, ...)
    local ok, err = pcall(f, ...)
    if ok or not tostring(err):find(needle, 1, true) then
        error("expected an error with '" .. needle .. "', got " .. tostring(ok) .. " " .. tostring(err), 2)
    end
end

local checks = {}

-- FIPS 180-2 appendix B (and the empty string)
checks.sha256 = function()
    eq(edge.sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc")
    eq(edge.sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty")
    eq(edge.sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "448 bits")
    eq(edge.sha256_hex(string.rep("a", 1000000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        "a million a")
    eq(edge.sha256("abc"), unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "raw")
    eq(#edge.sha256("\0\1\2"), 32, "binary input")
    eq(edge.hex("\0\255a"), "00ff61", "hex")
    eq(edge.sha256_hex(12), edge.sha256_hex("12"), "a number is its string")
    raises("expected a string, got nil", edge.sha256_hex, nil)
    raises("expected a string, got table", edge.sha256, {})
    raises("string expected", edge.hex, nil)
end

-- RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (5 truncates the output)
checks.hmac = function()
    local cases = {
        { string.rep("\11", 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { "Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { string.rep("\170", 20), string.rep("\221", 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), string.rep("\205", 50),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { string.rep("\170", 131), "Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { string.rep("\170", 131), "This is a test using a larger than block-size key and a larger than block-size data." ..
            " The key needs to be hashed before being used by the HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    }
    for i, c in ipairs(cases) do
        eq(edge.hmac_sha256_hex(c[1], c[2]), c[3], "RFC 4231 case " .. i)
        eq(edge.hmac_sha256(c[1], c[2]), unhex(c[3]), "raw, case " .. i)
        eq(edge.hmac("sha256", c[1], c[2]), unhex(c[3]), "hmac(sha256), case " .. i)
    end
    raises("expected a string, got nil", edge.hmac_sha256_hex, nil, "x")
    raises("expected a string, got boolean", edge.hmac_sha256_hex, "k", true)
end

-- ECMAScript encodeURIComponent: exactly A-Z a-z 0-9 - _ . ! ~ * ' ( ) stay, every other byte is %XX (uppercase)
checks.uri = function()
    for b = 0, 255 do
        local c = string.char(b)
        local keep = c:find("^[A-Za-z0-9%-_%.!~%*'%(%)]$") ~= nil
        eq(edge.encode_uri_component(c), keep and c or string.format("%%%02X", b), "byte " .. b)
    end
    -- MDN's examples
    eq(edge.encode_uri_component(";,/?:@&=+$#"), "%3B%2C%2F%3F%3A%40%26%3D%2B%24%23", "reserved")
    eq(edge.encode_uri_component("-_.!~*'()"), "-_.!~*'()", "unreserved marks")
    eq(edge.encode_uri_component("ABC abc 123"), "ABC%20abc%20123", "spaces")
    eq(edge.encode_uri_component("шеллы"), "%D1%88%D0%B5%D0%BB%D0%BB%D1%8B", "UTF-8")
    eq(edge.encode_uri_component("\240\159\152\128"), "%F0%9F%98%80", "4-byte UTF-8")
    eq(edge.encode_uri_component(5), "5", "a number")
    -- decodeURIComponent decodes every escape, keeps '+', refuses what is not UTF-8
    eq(edge.decode_uri_component("%3B%2C%2F%3F%3A%40%26%3D%2B%24%23"), ";,/?:@&=+$#", "reserved")
    eq(edge.decode_uri_component("a+b%20c"), "a+b c", "plus stays")
    eq(edge.decode_uri_component("%D1%88%d0%b5"), "ше", "either case")
    eq(edge.decode_uri_component("%F0%9F%98%80"), "\240\159\152\128", "4 bytes")
    eq(edge.decode_uri_component("%00"), "\0", "NUL")
    eq(edge.decode_uri_component("caf\195\169"), "caf\195\169", "raw UTF-8 passes")
    local all = {}
    for b = 0, 127 do
        all[#all + 1] = string.char(b)
    end
    local s = table.concat(all) .. "шеллы\240\159\152\128"
    eq(edge.decode_uri_component(edge.encode_uri_component(s)), s, "round trip")
    for _, bad in ipairs({ "%", "%A", "%GG", "a%2", "%C3", "%C3%28", "%C3%", "%80", "%FF", "%C0%AF", "%E0%80%AF",
        "%ED%A0%80", "%F4%90%80%80", "%F8%88%80%80%80" }) do
        raises("URIError: URI malformed", edge.decode_uri_component, bad)
    end
    raises("string expected", edge.encode_uri_component, nil)
    raises("string expected", edge.decode_uri_component, {})
    local big = string.rep("\255", 1024 * 1024)
    eq(#edge.encode_uri_component(big), 3 * 1024 * 1024, "1 MB of binary")
end

checks.query = function()
    eq(edge.build_query({ { "b", "2" }, { "a", "1 2" }, { "b", "3" }, { "flag", true }, { "skip", false }, { "e", "" } }),
        "b=2&a=1%202&b=3&flag&e=", "a list keeps its order")
    eq(edge.build_query({ b = "2", a = { "x", "y" } }), "a=x&a=y&b=2", "a map is sorted")
    local list = edge.parse_query_list("z=1&a=%20&z=2&k")
    eq(#list, 4, "pairs")
    eq(list[1][1] .. list[1][2] .. list[2][1] .. list[2][2] .. list[4][1] .. list[4][2], "z1a k", "in order")
    eq(edge.build_query(edge.parse_query_list("z=1&a=b%2Fc&z=2")), "z=1&a=b%2Fc&z=2", "round trip")
    raises("expected a table", edge.build_query, "a=1")
    raises("must be a {name, value} pair", edge.build_query, { "a", "b" })
end

checks.uuid = function()
    local seen = {}
    for _ = 1, 1000 do
        local u = edge.uuid()
        assert(u:find("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"), "shape: " .. u)
        assert(u == u:lower(), "lowercase: " .. u)
        assert(not seen[u], "repeated: " .. u)
        seen[u] = true
    end
    eq(#edge.random_bytes(0), 0, "0 bytes")
    eq(#edge.random_bytes(65536), 65536, "64 KB")
    assert(edge.random_bytes(32) ~= edge.random_bytes(32), "two draws differ")
    raises("must be 0-65536", edge.random_bytes, 65537)
    raises("must be 0-65536", edge.random_bytes, -1)
    raises("number expected", edge.random_bytes, "x")
end

checks.gzip = function()
    -- `printf 'hello\n' | gzip -n`, and zlib's compress("hello")
    eq(edge.gunzip(unhex("1f8b0800000000000003cb48cdc9c9e7020020303a3606000000")), "hello\n", "gzip -n")
    eq(edge.gunzip(unhex("789ccb48cdc9c90700062c0215")), "hello", "zlib")
    local all = {}
    for b = 0, 255 do
        all[#all + 1] = string.char(b)
    end
    local bin = table.concat(all):rep(100)
    for level = 0, 9 do
        local z = edge.gzip(bin, level)
        eq(z:sub(1, 2), "\31\139", "gzip magic, level " .. level)
        eq(edge.gunzip(z), bin, "round trip, level " .. level)
    end
    eq(edge.gunzip(edge.gzip("")), "", "empty")
    -- two members, as `cat a.gz b.gz`: both, as gunzip and Node's gunzipSync
    eq(edge.gunzip(edge.gzip("one ") .. edge.gzip("two")), "one two", "concatenated members")
    -- the limit: exactly max is fine, one byte over is not
    local z = edge.gzip(string.rep("x", 1000))
    eq(#edge.gunzip(z, 1000), 1000, "exactly max")
    local d, err = edge.gunzip(z, 999)
    eq(d, nil, "one over max")
    assert(err:find("larger than the limit"), err)
    -- bad input is nil and a reason, never a crash
    for what, bad in pairs({ truncated = z:sub(1, #z - 5), garbage = "not gzip at all", empty = "",
        trailing = z .. "junk", header_only = z:sub(1, 10), corrupt = z:sub(1, 12) .. "\255\255\255" .. z:sub(16) }) do
        local out, e = edge.gunzip(bad)
        assert(out == nil and type(e) == "string" and e:find("^edge.gunzip: "), what .. ": " .. tostring(out) .. " " ..
            tostring(e))
    end
    raises("expected a string, got nil", edge.gzip, nil)
    raises("expected a string, got nil", edge.gunzip, nil)
    raises("level must be 0-9", edge.gzip, "x", 10)
    raises("max_bytes must be a number", edge.gunzip, z, "big")
end

-- a gzip bomb: 64 MB of zeros in 64 KB. Under the default cap the limit is the room left; under a small cap (the test runs
-- this one at 8 MB) it is refused without the memory ever being taken
checks.bomb = function()
    local one = edge.gzip(string.rep("\0", 1024 * 1024)) -- 1 MB in 1 KB: 64 members make the bomb, never 64 MB at once
    local parts = {}
    for i = 1, 64 do
        parts[i] = one
    end
    local bomb = table.concat(parts)
    assert(#bomb < 100 * 1024, "bomb size " .. #bomb)
    local d, err = edge.gunzip(bomb)
    assert(d == nil and err:find("larger than the limit"), "bomb: " .. tostring(d and #d) .. " " .. tostring(err))
    local small = edge.gunzip(bomb, 4096)
    assert(small == nil, "bomb under 4 KB")
    -- what fits is inflated
    eq(#edge.gunzip(one), 1024 * 1024, "1 MB fits")
end

checks.json = function()
    local v = edge.json_decode('{"a": [1, -2.5e2, true, false, null, "x\\u00e9\\ud83d\\ude00\\n"], "o": {"k": {}}, "e": [],' ..
        ' "d": 1, "d": 2, "n": null}')
    eq(#v.a, 6, "null keeps the array's length")
    eq(v.a[0], 1, "[0] of a decoded array")
    eq(v.a[1], 1, "[1] of a decoded array")
    eq(v.a[2], -250, "number")
    eq(v.a[3], true, "true")
    eq(v.a[4], false, "false")
    eq(v.a[5], edge.json_null, "null")
    eq(tostring(edge.json_null), "null", "tostring(null)")
    eq(v.a[6], "x\195\169\240\159\152\128\n", "escapes, surrogate pair")
    eq(v.d, 2, "the last duplicate wins, as JSON.parse")
    eq(v.n, edge.json_null, "null member")
    eq(next(v.o.k), nil, "empty object")
    eq(edge.json_encode(v.e), "[]", "an empty decoded array encodes as []")
    eq(edge.json_encode(v.o), '{"k":{}}', "an empty object as {}")
    local text = '{"a":[1,2,{"b":null,"c":[true,false]}],"s":"q\\"\\\\\\u0001"}'
    eq(edge.json_encode(edge.json_decode(text)), text, "round trip")
    eq(edge.json_decode("12"), 12, "a scalar")
    eq(edge.json_decode(' "s" '), "s", "white space")
    -- bad input: nil and line:col, never a crash
    for _, bad in ipairs({ "", "{", "[1,]", "{'a':1}", "nul", "[1] x", '"\\ud800', "\0", "01x", string.rep("[", 66) ..
        string.rep("]", 66) }) do
        local out, err = edge.json_decode(bad)
        assert(out == nil and err:find("^edge.json_decode: %d+:%d+: "), "bad " .. bad:sub(1, 20) .. ": " .. tostring(err))
    end
    eq(edge.json_decode(string.rep("[", 65) .. string.rep("]", 65))[1][1][1] ~= nil, true, "65 levels deep")
    raises("expected a string, got nil", edge.json_decode, nil)
    -- binary garbage
    local g = {}
    for i = 1, 4096 do
        g[i] = string.char((i * 7919) % 256)
    end
    assert(edge.json_decode(table.concat(g)) == nil, "binary garbage")
end

-- a document of a million values: past what the room under the test's 8 MB cap allows, refused before it is built
checks.json_big = function()
    local doc = "[" .. string.rep("0,", 1000000) .. "0]"
    local v, err = edge.json_decode(doc)
    assert(v == nil and err:find("too many values"), "big: " .. tostring(err))
    eq(#edge.json_decode("[" .. string.rep("0,", 999) .. "0]"), 1000, "a thousand fit")
end

-- header arrays: [0] and [1] wherever they come from
checks.arrays = function(event)
    local request = event.Records[0].cf.request
    local headers = request.headers
    -- built by the hook, stored into the event, read back at [0]
    headers["x-built"] = { { key = "X-Built", value = "b" } }
    eq(headers["x-built"][0].value, "b", "[0] of an array the hook stored")
    eq(headers["x-built"][1].value, "b", "[1] of it")
    -- stored a second time under the same name
    headers["x-built"] = { { key = "X-Built", value = "c" } }
    eq(headers["x-built"][0].value, "c", "[0] after a second store")
    -- copied from another header (key X-Copy-From under x-copied)
    headers["x-copied"] = { headers["x-copy-from"][0] }
    eq(headers["x-copied"][0].value, "from", "a copied entry")
    -- written at [0], Node.js style
    headers["x-zero"] = {}
    headers["x-zero"][0] = { key = "X-Zero", value = "z" }
    eq(headers["x-zero"][1].value, "z", "[0] writes [1]")
    -- a whole new map
    local old = headers
    request.headers = { ["x-new"] = { { key = "X-New", value = "n" } } }
    eq(request.headers["x-new"][0].value, "n", "a new map's arrays")
    request.headers["x-later"] = { { value = "l" } }
    eq(request.headers["x-later"][0].value, "l", "stored into the new map")
    local n = 0
    for name, arr in pairs(request.headers) do
        n = n + 1
        assert(arr[0] ~= nil, name)
    end
    eq(n, 2, "pairs over the new map")
    eq(rawget(request.headers, "x-new")[0].value, "n", "rawget sees through")
    assert(old ~= request.headers)
    request.headers = old
    eq(request.headers["x-built"][0].value, "c", "the event's map again")
    return request
end

function handler(event, context)
    local request = event.Records[1].cf.request
    local t = request.headers["x-test"][1].value
    local check = checks[t]
    assert(check ~= nil, "no check " .. t)
    local r = check(event)
    if r ~= nil then
        r.headers["x-result"] = { { value = "ok " .. t } }
        return r
    end
    request.headers["x-result"] = { { value = "ok " .. t } }
    return request
end
