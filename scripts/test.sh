#!/bin/sh
# Installs what is missing (Debian 12 packages, npm packages of tests/), builds edgehook twice - a normal build with
# -Werror and an AddressSanitizer+UndefinedBehaviorSanitizer build - and runs the whole test suite (ctest) in both.
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
status=0
echo "== tests: release build"
(cd build && ctest --output-on-failure -j"$jobs" "$@") || status=1
echo "== tests: ASan+UBSan build"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE noasan "$@") || status=1
[ $status = 0 ] && echo "== all tests passed" || echo "== SOME TESTS FAILED"
exit $status
