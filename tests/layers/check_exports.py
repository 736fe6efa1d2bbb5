#!/usr/bin/python3
"""tests/layers/check_exports.py - fails when the binary exports anything but the plugin/FFI API (the ctest `exports`).

    check_exports.py SRC BINARY     compare BINARY's dynamic symbols with the API declared in SRC
    check_exports.py --selftest     show that an extra or a missing export is caught

The API is: the functions and variables declared in hooks/edge_hook.h (the one header plugins include), plus what
hooks/prelude.lua calls through ffi.C. Every module is built with -fvisibility=hidden and marks API functions EDGE_EXPORT
(base/export.h), so `nm -D --defined-only BINARY` must list exactly the API, apart from symbols the C runtime and the linker
define in every executable and copies of library variables (name@VERSION). EDGE_EXPORT on anything outside the API fails too.
Today the API is a vtable (edge_host_t) passed to plugins and to prelude.lua, so the expected list is empty.
"""
import os
import re
import subprocess
import sys

# defined in every executable by crt1.o, the linker or the sanitizer runtimes' startup code
RUNTIME = {"_IO_stdin_used", "__bss_start", "__data_start", "data_start", "_edata", "_end", "_start", "_init", "_fini",
           "__dso_handle", "__libc_csu_init", "__libc_csu_fini"}
# copies of the sanitizer runtimes' variables (libasan's __asan_option_detect_stack_use_after_return carries no version)
SANITIZER_PREFIXES = ("__asan_", "__ubsan_", "__lsan_", "__tsan_", "__msan_", "__sanitizer_")
MODULES = ("base", "conf", "sigv4", "cache", "hooks", "store", "proxy")


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)  # preprocessor lines with their continuations
    text = text.replace('extern "C" {', " ")
    prev = None
    while prev != text:  # struct/enum/function bodies, innermost first
        prev = text
        text = re.sub(r"\{[^{}]*\}", " ", text)
    return text


def header_api(text):
    """names of the functions and variables a C header declares at file scope (not typedefs, not struct members)"""
    names = set()
    for decl in strip_c(text).split(";"):
        decl = " ".join(decl.split())
        if not decl or decl.startswith("typedef") or decl in ("}",):
            continue
        m = re.search(r"\b([A-Za-z_]\w*)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*(?:__attribute__\s*\(\(.*\)\))?$", decl)
        if m and "(*" not in decl[: m.start(1)]:
            names.add(m.group(1))
            continue
        m = re.search(r"^(?:extern\s+)[\w\s\*]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?$", decl)
        if m:
            names.add(m.group(1))
    return names


def ffi_api(lua):
    """names prelude.lua reaches through ffi.C (ffi.C.name, or C.name after `local C = ffi.C`)"""
    names = set(re.findall(r"\bffi\.C\.([A-Za-z_]\w*)", lua))
    for alias in re.findall(r"\blocal\s+(\w+)\s*=\s*ffi\.C\b", lua):
        names |= set(re.findall(r"(?<![\w.])" + re.escape(alias) + r"\.([A-Za-z_]\w*)", lua))
    return names


def marked_exports(src):
    """(file, name) of every declaration marked EDGE_EXPORT in the modules"""
    found = []
    for mod in MODULES:
        d = os.path.join(src, mod)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")) or f"{mod}/{name}" == "base/export.h":
                continue
            with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                for m in re.finditer(r"\bEDGE_EXPORT\b[^;{(]*?\b([A-Za-z_]\w*)\s*[(\[;=]", f.read()):
                    found.append((f"{mod}/{name}", m.group(1)))
    return found


def exported(nm_output):
    """the binary's own exported symbols from `nm -D --defined-only` output"""
    names = set()
    for line in nm_output.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        name = parts[2]
        if "@" in name or name in RUNTIME or name.startswith(SANITIZER_PREFIXES):
            continue  # a copy of a shared library's variable (stdout@GLIBC_2.2.5), or the C or sanitizer runtime's own
        names.add(name)
    return names


def compare(api, exports, marked):
    errors = []
    for name in sorted(exports - api):
        errors.append(f"exported but not in the plugin/FFI API: {name} (hidden visibility lost? or add it to hooks/edge_hook.h)")
    for name in sorted(api - exports):
        errors.append(f"in the plugin/FFI API but not exported: {name} (mark its definition EDGE_EXPORT)")
    for where, name in marked:
        if name not in api:
            errors.append(f"{where}: {name} is EDGE_EXPORT but is not declared in hooks/edge_hook.h nor called through ffi.C")
    return errors


def selftest():
    failures = []
    hdr = """
    /* a comment with f(x); */
    #define EDGE_X(a) \\
        g(a);
    typedef struct edge_host { int (*get)(int f); void (*log)(const char *m, size_t n); } edge_host_t;
    typedef int (*edge_cb_t)(void *);
    int edge_version(void);
    const char *edge_name(int which, char buf[16]) __attribute__((nonnull));
    extern const int edge_abi;
    """
    api = header_api(hdr)
    if api != {"edge_version", "edge_name", "edge_abi"}:
        failures.append(f"header parser: {sorted(api)}")
    lua = 'local ffi = require "ffi"\nlocal C = ffi.C\nC.edge_now() ffi.C.edge_log(1) local x = A.remaining_ms()\n'
    if ffi_api(lua) != {"edge_now", "edge_log"}:
        failures.append(f"ffi parser: {sorted(ffi_api(lua))}")
    nm_out = "0000 R _IO_stdin_used\n0000 B stdout@GLIBC_2.2.5\n0000 T edge_version\n0000 T cache_obj_ref\n"
    errs = compare({"edge_version", "edge_abi"}, exported(nm_out), [("proxy/x.c", "server_run")])
    want = ["exported but not in the plugin/FFI API: cache_obj_ref", "in the plugin/FFI API but not exported: edge_abi",
            "proxy/x.c: server_run is EDGE_EXPORT"]
    if len(errs) != 3 or not all(e.startswith(w) for e, w in zip(errs, want)):
        failures.append(f"compare: {errs}")
    if compare({"edge_version"}, exported("0000 T edge_version\n0000 D __data_start\n0000 B __asan_option_x\n"), []):
        failures.append("a binary exporting exactly the API was refused")
    return failures


def main():
    if sys.argv[1:] == ["--selftest"]:
        failures = selftest()
        for f in failures:
            print("selftest:", f, file=sys.stderr)
        print("exports selftest:", "FAILED" if failures else "ok")
        return 1 if failures else 0
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, binary = sys.argv[1:]
    with open(os.path.join(src, "hooks", "edge_hook.h"), encoding="utf-8") as f:
        api = header_api(f.read())
    with open(os.path.join(src, "hooks", "prelude.lua"), encoding="utf-8") as f:
        api |= ffi_api(f.read())
    out = subprocess.run(["nm", "-D", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    exports = exported(out)
    errors = compare(api, exports, marked_exports(src))
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"exports: {len(errors)} problem(s) in {binary}", file=sys.stderr)
        return 1
    print(f"exports: ok, {binary} exports exactly the API ({', '.join(sorted(api)) or 'nothing: plugins get a vtable'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
