-- tests/hooks/loop.lua - loops forever in a loop the JIT compiles (a trace never polls debug hooks): must be stopped hard.
function handler(event, context)
    while true do
    end
end
