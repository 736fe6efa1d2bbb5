#!/usr/bin/python3
# hooks/prelude_gen.py - embeds hooks/prelude.lua into hooks/prelude.c (run after editing prelude.lua; tests check they match).
import os

here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, "prelude.lua"), "rb").read()
lines = ['/* hooks/prelude.c - GENERATED from hooks/prelude.lua by hooks/prelude_gen.py: do not edit. */',
         '#include <stddef.h>', '', 'const char hook_lua_prelude[] =']
body = src[:-1] if src.endswith(b"\n") else src
for line in body.split(b"\n"):
    out = []
    for b in line + b"\n":
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    lines.append('    "' + "".join(out) + '"')
lines[-1] += ";"
lines.append("const size_t hook_lua_prelude_len = sizeof(hook_lua_prelude) - 1;")
open(os.path.join(here, "prelude.c"), "w").write("\n".join(lines) + "\n")
