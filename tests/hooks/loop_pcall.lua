-- tests/hooks/loop_pcall.lua - loops forever in the interpreter-visible way and tries to swallow the timeout with pcall.
function handler(event, context)
    while true do
        pcall(function()
            local t = {}
            for i = 1, 100 do
                t[i] = tostring(i)
            end
        end)
    end
end
