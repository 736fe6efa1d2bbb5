#!/bin/sh
# bench/run.sh - the one benchmark command: installs the peers (scripts/deps.sh bench), builds edgehook Release into
# build-bench/ and runs bench/bench.py, which measures edgehook, nginx proxy_cache and Varnish side by side on loopback.
#   bench/run.sh                 full run (35-50 minutes on 2 cores), table in bench/results/latest.md and .json
#   bench/run.sh --quick         a smoke run (about 4 minutes): one repetition of 3 s runs
#   bench/run.sh --profile       also where edgehook's CPU goes (strace, perf, callgrind): bench/results/profile.txt
#   bench/run.sh --rev HEAD      measure a commit (exported and built apart) instead of the working tree
#   bench/run.sh --help          every option
set -eu
cd "$(dirname "$0")/.."
case " $* " in *" --help "* | *" -h "*) exec /usr/bin/python3 bench/bench.py --help ;; esac
sh scripts/deps.sh bench
case " $* " in
*" --rev"*) ;; # bench.py exports and builds that revision itself
*)
    if [ ! -f build-bench/CMakeCache.txt ]; then
        cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DEDGE_TESTS=ON >/dev/null
    fi
    echo "bench: building edgehook (Release) in build-bench/" >&2
    cmake --build build-bench -j"$(nproc)" >/dev/null
    ;;
esac
exec /usr/bin/python3 bench/bench.py --build build-bench "$@"
