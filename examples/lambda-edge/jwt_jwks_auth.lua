-- examples/lambda-edge/jwt_jwks_auth.lua - viewer-request: only requests with a valid JWT (RS256/ES256...) reach the origin.
-- Source: aws-samples/authorization-lambda-at-edge (Cognito JWTs checked with jsonwebtoken + jwk-to-pem), in its common
-- variant that downloads the user pool's JWKS with https.get on a cold start and keeps it for later invocations. Ported line
-- by line: jwt.decode -> base64url + edge.json_decode, the PEMs built from the JWKS -> the JWKs themselves, jwt.verify ->
-- edge.jwk_verify (signature) plus the checks jsonwebtoken makes (exp, nbf, issuer), https.get -> edge.fetch.
-- config: {jwks_url: "https://.../.well-known/jwks.json", issuer: "https://cognito-idp.REGION.amazonaws.com/POOL"}.
local iss = edge.config.issuer
local jwksUrl = edge.config.jwks_url

-- Cache the keys (jwks) so we only have to fetch them on a cold start.
local pems = nil

local function getJwks()
    local res, err = edge.fetch(jwksUrl, { timeout_ms = 2000 })
    if not res or res.status ~= 200 then
        error("JWKS download failed: " .. tostring(err or res.status))
    end
    local jwks = edge.json_decode(res.body)
    local keys = {}
    for i = 1, #jwks.keys do
        -- Lambda: convert each key to PEM (jwk-to-pem); edgehook verifies with the JWK as it is
        keys[jwks.keys[i].kid] = jwks.keys[i]
    end
    return keys
end

local response401 = {
    status = "401",
    statusDescription = "Unauthorized",
}

-- jwt.decode(token, {complete: true}): header and payload, or nil when the token is not a JWT
local function decode(token)
    local h, p, s = token:match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]*)$")
    if not h then
        return nil
    end
    local hj, pj, sig = edge.base64_decode(h), edge.base64_decode(p), edge.base64_decode(s)
    local header = hj and edge.json_decode(hj)
    local payload = pj and edge.json_decode(pj)
    if type(header) ~= "table" or type(payload) ~= "table" or not sig then
        return nil
    end
    return { header = header, payload = payload, signature = sig, signingInput = h .. "." .. p }
end

-- jwt.verify(token, pem, {issuer}): the signature with the header's alg, then exp, nbf and iss
local function verify(decoded, key)
    local ok, err = edge.jwk_verify(key, tostring(decoded.header.alg), decoded.signingInput, decoded.signature)
    if not ok then
        return err or "invalid signature"
    end
    local now = os.time()
    if decoded.payload.exp ~= nil and (type(decoded.payload.exp) ~= "number" or now >= decoded.payload.exp) then
        return "jwt expired"
    end
    if decoded.payload.nbf ~= nil and (type(decoded.payload.nbf) ~= "number" or now < decoded.payload.nbf) then
        return "jwt not active"
    end
    if decoded.payload.iss ~= iss then
        return "jwt issuer invalid"
    end
    return nil
end

function handler(event, context, callback)
    local cfrequest = event.Records[0].cf.request
    local headers = cfrequest.headers
    print("getting started")

    -- Fail if no authorization header found
    if not headers.authorization then
        print("no auth header")
        callback(nil, response401)
        return false
    end

    -- strip out "Bearer " to extract JWT token only
    local jwtToken = headers.authorization[0].value:sub(8)
    print("jwtToken=" .. jwtToken)

    -- Fail if the token is not jwt
    local decodedJwt = decode(jwtToken)
    if not decodedJwt then
        print("Not a valid JWT token")
        callback(nil, response401)
        return false
    end

    -- Fail if token is not from your UserPool
    if decodedJwt.payload.iss ~= iss then
        print("invalid issuer")
        callback(nil, response401)
        return false
    end

    -- Reject the jwt if it's not an 'Access Token'
    if decodedJwt.payload.token_use ~= "access" then
        print("Not an access token")
        callback(nil, response401)
        return false
    end

    if pems == nil then
        pems = getJwks()
    end

    -- Get the kid from the token and retrieve corresponding PEM
    local kid = decodedJwt.header.kid
    local pem = pems[kid]
    if not pem then
        print("Invalid access token")
        callback(nil, response401)
        return false
    end

    -- Verify the signature of the JWT token to ensure it's really coming from your User Pool
    local err = verify(decodedJwt, pem)
    if err then
        print("Token failed verification: " .. err)
        callback(nil, response401)
        return false
    end
    -- Valid token.
    print("Successful verification")
    -- remove authorization header
    cfrequest.headers.authorization = nil
    -- CloudFront can proceed to fetch the content from origin
    callback(nil, cfrequest)
    return true
end
