-- tests/hooks/loop_host.lua - a compiled loop that spends much of its time in host functions (OpenSSL via FFI, which
-- mallocs): the hard stop must wait until the thread is out of them, then still stop it.
function handler(event, context)
    local n = 0
    while true do
        n = n + #edge.sha256("abc" .. (n % 7)) + #edge.base64_encode("xyz")
    end
end
