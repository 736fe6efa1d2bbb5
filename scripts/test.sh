#!/bin/sh
# Installs what is missing (Debian 12 packages, npm packages of tests/), builds edgehook three times - a normal build with
# -Werror, an AddressSanitizer+UndefinedBehaviorSanitizer build and a ThreadSanitizer build - and runs the whole test suite
# (ctest) in the first two, and in the third what ThreadSanitizer can run (it prints what it skips, and why).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
if [ -f tests/package.json ]; then
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_WERROR=ON -DEDGE_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEDGE_SANITIZE=ON -DEDGE_WERROR=ON -DEDGE_TESTS=ON >/dev/null
cmake --build build-asan -j"$jobs"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_TSAN=ON -DEDGE_WERROR=ON -DEDGE_TESTS=ON >/dev/null
cmake --build build-tsan -j"$jobs"
status=0
echo "== tests: release build"
(cd build && ctest --output-on-failure -j"$jobs" "$@") || status=1
echo "== tests: ASan+UBSan build"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE noasan "$@") || status=1
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
echo "== tests: ThreadSanitizer build"
# LuaJIT and libh2o are not instrumented: tests/tsan.supp names the reports inside them it suppresses, and why. Skipped:
# the end-to-end files labelled notsan (each says why in a "# notsan:" line), and, inside the files that run, the
# scenarios that stop a looping Lua hook (ThreadSanitizer holds the watchdog's signal back while compiled code runs)
export TSAN_OPTIONS="suppressions=$(pwd)/tests/tsan.supp:print_suppressions=0:second_deadlock_stack=1"
echo "skipped under ThreadSanitizer:"
grep -H "^# notsan:" tests/e2e/test_*.py | sed 's|^tests/e2e/\(test_[a-z0-9_]*\)\.py:# notsan:|  e2e_\1:|'
echo "  scenarios that stop a looping Lua hook:" $(grep -h -A1 "^@notsan" tests/e2e/test_*.py | sed -n 's/^def \([a-z0-9_]*\).*/\1/p')
echo "  unit tests (SKIP_UNDER_TSAN: a looping Lua hook to stop, or a benchmark):" $(grep -h -B2 "SKIP_UNDER_TSAN(" tests/unit/*/test_*.c |
    sed -n 's/^static void \(test_[a-z0-9_]*\).*/\1/p') "(and test_invoke's loop case)"
(cd build-tsan && ctest --output-on-failure -j"$jobs" -LE notsan "$@") || status=1
[ $status = 0 ] && echo "== all tests passed" || echo "== SOME TESTS FAILED"
exit $status
