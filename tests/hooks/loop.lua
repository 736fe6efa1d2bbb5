-- tests/hooks/loop.lua - loops forever in a loop the JIT compiles (a trace never polls debug hooks): must be stopped hard.
function handler(event, context)
    local n = 0
    while true do
        n = n + 1
    end
end
