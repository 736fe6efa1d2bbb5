#!/bin/sh
# bench/run.sh - the one benchmark command: installs the peers (scripts/deps.sh bench), builds edgehook Release into
# build-bench/ and runs bench/bench.py, which measures edgehook, nginx proxy_cache and Varnish side by side on loopback.
#   bench/run.sh            full run (about 30 minutes on 2 cores), table in bench/results/latest.md and .json
#   bench/run.sh --quick    a smoke run (about 3 minutes): one repetition, short runs, fewer cells
#   bench/run.sh --help     every option
set -eu
cd "$(dirname "$0")/.."
case " $* " in *" --help "* | *" -h "*) exec /usr/bin/python3 bench/bench.py --help ;; esac
sh scripts/deps.sh bench
if [ ! -f build-bench/CMakeCache.txt ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DEDGE_TESTS=ON >/dev/null
fi
echo "bench: building edgehook (Release) in build-bench/" >&2
cmake --build build-bench -j"$(nproc)" >/dev/null
exec /usr/bin/python3 bench/bench.py --build build-bench "$@"
