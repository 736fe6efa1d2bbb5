-- tests/hooks/syntax_error.lua - does not compile: the load error names this file and line.
function handler(event, context)
    return event.Records[1].cf.request +
end
