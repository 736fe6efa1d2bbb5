#!/bin/sh
# Installs what is missing (Debian 12), builds edgehook and runs it on conf/edgehook.yaml (127.0.0.1:8080).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/edgehook -c conf/edgehook.yaml "$@"
