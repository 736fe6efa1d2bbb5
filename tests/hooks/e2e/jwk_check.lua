-- tests/hooks/e2e/jwk_check.lua - viewer-request: answers what edge.jwk_verify says (tests/e2e/test_lambda_edge_set.py).
-- The key comes from headers: X-Pem (the PEM text, base64) or the JWK's fields X-Kty, X-N, X-E, X-Crv, X-X, X-Y, X-Jwk-Alg,
-- X-Use; X-Alg, X-Data (text) and X-Sig (base64url) are the rest. The body: "true", "false" or "nil: REASON".
function handler(event, context)
    local h = event.Records[1].cf.request.headers
    local function get(name)
        return h[name] and h[name][1].value or nil
    end
    local key
    if get("x-pem") then
        key = edge.base64_decode(get("x-pem"))
    else
        key = { kty = get("x-kty"), n = get("x-n"), e = get("x-e"), crv = get("x-crv"), x = get("x-x"), y = get("x-y"),
            alg = get("x-jwk-alg"), use = get("x-use") }
    end
    local ok, err = edge.jwk_verify(key, get("x-alg") or "", get("x-data") or "", edge.base64_decode(get("x-sig") or "") or "")
    local body = ok == nil and ("nil: " .. tostring(err)) or tostring(ok)
    return { status = "200", headers = { ["content-type"] = { { key = "Content-Type", value = "text/plain" } } }, body = body }
end
