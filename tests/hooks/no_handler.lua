-- tests/hooks/no_handler.lua - compiles but defines no handler: refused at load.
local x = 1
