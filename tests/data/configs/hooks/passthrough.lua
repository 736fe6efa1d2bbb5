-- tests/data/configs/hooks/passthrough.lua - test fixture for config files: a hook that changes nothing
function handler(event, context, callback)
    local cf = event.Records[1].cf
    return cf.response or cf.request
end
