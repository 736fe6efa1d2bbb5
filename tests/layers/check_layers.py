#!/usr/bin/python3
"""tests/layers/check_layers.py - fails when a module uses one it must not (the ctest `layers`).

    check_layers.py SRC [BUILD]     check SRC's includes and CMakeLists.txt; with BUILD, also the symbols of BUILD's module libraries
    check_layers.py --selftest      show that each check fails on a violation

Three checks against the table LAYERS below:
  1. includes: every `#include "X/..."` in a module's .c/.h names the module itself or one of its allowed modules;
  2. CMake: every edge_X a module's edge_module() line in CMakeLists.txt links is allowed (so the link interface says the same);
  3. symbols (with BUILD): every symbol a module's static library (libedge_M.a) leaves undefined and another module's library
     defines belongs to an allowed module (catches a hand-written prototype that bypasses the includes).
"""
import os
import re
import subprocess
import sys
import tempfile

# module -> the modules it may use (directly). Everything may use base. Keep README's layer table in step.
LAYERS = {
    "base": [],
    "conf": ["base"],
    "sigv4": ["base"],
    "cache": ["base", "conf"],
    "kv": ["base"],
    "queue": ["base"],
    "hooks": ["base", "conf", "kv"],
    "store": ["base", "conf", "sigv4"],
    "viewer": ["base"],
    "proxy": ["base", "conf", "sigv4", "cache", "kv", "queue", "hooks", "store", "viewer"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def check_includes(src):
    errors = []
    for mod, allowed in LAYERS.items():
        d = os.path.join(src, mod)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                if "/" not in inc:
                    continue  # a file of the same directory
                other = inc.split("/")[0]
                if other == ".." or (other not in LAYERS and other != mod):
                    errors.append(f"{mod}/{name}:{line}: includes \"{inc}\", which is outside the modules")
                elif other != mod and other not in allowed:
                    errors.append(f"{mod}/{name}:{line}: {mod} may not use {other} (includes \"{inc}\"); "
                                  f"{mod} may use: {', '.join(allowed) or 'nothing'}")
    return errors


def check_cmake(src):
    errors = []
    with open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    seen = set()
    for m in re.finditer(r"^edge_module\((\w+)([^)]*)\)", text, re.M):
        mod, args = m.group(1), m.group(2).split()
        seen.add(mod)
        if mod not in LAYERS:
            errors.append(f"CMakeLists.txt: edge_module({mod}) is not in the layer table")
            continue
        for a in args:
            if a.startswith("edge_") and a[5:] not in LAYERS[mod]:
                errors.append(f"CMakeLists.txt: edge_{mod} links {a}, which {mod} may not use")
    for mod in LAYERS:
        if mod not in seen:
            errors.append(f"CMakeLists.txt: no edge_module({mod})")
    return errors


def nm(path):
    """(defined, undefined) global symbol names of an archive or object"""
    out = subprocess.run(["nm", "-g", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("U", "w", "v"):
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] not in ("U", "w", "v"):
            defined.add(parts[2])
    return defined, undefined


def check_symbols(libs):
    """libs: module -> path of its static library"""
    errors = []
    owner = {}
    tables = {mod: nm(path) for mod, path in libs.items()}
    for mod, (defined, _) in tables.items():
        for s in defined:
            owner.setdefault(s, mod)
    for mod, (defined, undefined) in tables.items():
        bad = {}
        for s in undefined - defined:
            other = owner.get(s)
            if other is not None and other != mod and other not in LAYERS[mod]:
                bad.setdefault(other, []).append(s)
        for other, syms in sorted(bad.items()):
            errors.append(f"libedge_{mod}.a uses {other}, which {mod} may not use: {', '.join(sorted(syms)[:8])}")
    return errors


def run(src, build):
    errors = check_includes(src) + check_cmake(src)
    if build is not None:
        libs = {}
        for mod in LAYERS:
            p = os.path.join(build, f"libedge_{mod}.a")
            if not os.path.exists(p):
                errors.append(f"{p}: missing (build first)")
            else:
                libs[mod] = p
        errors += check_symbols(libs)
    return errors


def selftest():
    """a tree with one violation of each kind must fail, and the same tree without them must pass"""
    failures = []
    with tempfile.TemporaryDirectory() as t:
        for mod in LAYERS:
            os.mkdir(os.path.join(t, mod))
        lines = [f"edge_module({m} {' '.join('edge_' + d for d in deps)})" for m, deps in LAYERS.items()]
        with open(os.path.join(t, "CMakeLists.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(t, "cache", "ok.c"), "w") as f:
            f.write('#include "base/log.h"\n#include "conf/config.h"\n#include "cache/key.h"\n#include "local.h"\n')
        if run(t, None):
            failures.append(f"a clean tree was refused: {run(t, None)}")
        with open(os.path.join(t, "cache", "bad.c"), "w") as f:
            f.write('/* x */\n#include "proxy/log.h"\n')
        errs = run(t, None)
        if not any("cache/bad.c:2: cache may not use proxy" in e for e in errs):
            failures.append(f"cache including proxy/ was not caught: {errs}")
        os.remove(os.path.join(t, "cache", "bad.c"))
        with open(os.path.join(t, "CMakeLists.txt"), "a") as f:
            f.write("edge_module(store edge_base edge_cache)\n")
        errs = run(t, None)
        if not any("edge_store links edge_cache" in e for e in errs):
            failures.append(f"store linking cache was not caught: {errs}")
        # symbols: hooks calling a proxy function through a hand-written prototype
        objs = {}
        for mod, code in (("proxy", "int server_now(void){return 1;}\n"), ("hooks", "int server_now(void);\nint h(void){return server_now();}\n"),
                          ("base", "int b(void){return 0;}\n"), ("conf", "int b(void);\nint c(void){return b();}\n")):
            c = os.path.join(t, f"{mod}_sym.c")
            with open(c, "w") as f:
                f.write(code)
            objs[mod] = os.path.join(t, f"{mod}_sym.o")
            subprocess.run(["cc", "-c", "-o", objs[mod], c], check=True)
        errs = check_symbols(objs)
        if errs != ["libedge_hooks.a uses proxy, which hooks may not use: server_now"]:
            failures.append(f"hooks calling into proxy was not caught exactly: {errs}")
    return failures


def main():
    if sys.argv[1:] == ["--selftest"]:
        failures = selftest()
        for f in failures:
            print("selftest:", f, file=sys.stderr)
        print("layers selftest:", "FAILED" if failures else "ok")
        return 1 if failures else 0
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    errors = run(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"layers: {len(errors)} violation(s); the table is LAYERS in {sys.argv[0]}", file=sys.stderr)
        return 1
    print("layers: ok (" + "; ".join(f"{m}: {', '.join(d) or '-'}" for m, d in LAYERS.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
