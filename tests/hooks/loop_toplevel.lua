-- tests/hooks/loop_toplevel.lua - loops forever in the file's top-level code: refused at load, in bounded time.
local n = 0
while true do
    n = n + 1
end
function handler(event)
    return event.Records[1].cf.request
end
