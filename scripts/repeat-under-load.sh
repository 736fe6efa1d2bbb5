#!/bin/sh
# Runs the test suite of a build folder N times in a row (`ctest -j2`) while CPU-bound jobs keep every core busy, and stops
# at the first failure: a test that passes only on a quiet machine is a defect. The suite passes when all N runs pass.
#   [HOGS=n] scripts/repeat-under-load.sh [BUILD_DIR] [N] [ctest args...]   (defaults: build, 5 runs, one job per core)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-5}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
[ -f "$build/CTestTestfile.cmake" ] || { echo "no test build in $build (cmake -DEDGE_TESTS=ON)" >&2; exit 2; }
hogs=""
stop_hogs() { [ -n "$hogs" ] && kill $hogs 2>/dev/null; hogs=""; }
trap stop_hogs EXIT INT TERM
for _ in $(seq "${HOGS:-$(nproc)}"); do
    sh -c 'while :; do :; done' &
    hogs="$hogs $!"
done
echo "== ${HOGS:-$(nproc)} CPU-bound jobs running (pids$hogs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
i=1
while [ "$i" -le "$runs" ]; do
    start=$(date +%s)
    if ! (cd "$build" && ctest -j2 --output-on-failure "$@" >"ctest-under-load-$i.log" 2>&1); then
        echo "== run $i of $runs FAILED after $(( $(date +%s) - start )) s; load $(cut -d' ' -f1-3 /proc/loadavg); log: $build/ctest-under-load-$i.log"
        grep -E "Failed|\*\*\*" "$build/ctest-under-load-$i.log" | head -20
        exit 1
    fi
    echo "== run $i of $runs passed in $(( $(date +%s) - start )) s; load $(cut -d' ' -f1-3 /proc/loadavg); $(grep -o '[0-9]* tests passed.*' "$build/ctest-under-load-$i.log" || grep 'tests passed' "$build/ctest-under-load-$i.log")"
    i=$((i + 1))
done
echo "== all $runs runs passed under load"
