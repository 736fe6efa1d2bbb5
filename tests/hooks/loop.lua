-- tests/hooks/loop.lua - loops forever in a loop the JIT compiles (a trace never polls debug hooks): must be stopped hard.
-- It says which request it loops on first (an info line in the error log), so that a test can wait until it runs.
function handler(event, context)
    print("loop.lua: looping on " .. event.Records[1].cf.request.uri)
    while true do
    end
end
