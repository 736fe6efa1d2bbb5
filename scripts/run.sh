#!/bin/sh
# Installs what is missing (Debian 12), builds edgehook and runs it on conf/edgehook.yaml (http://127.0.0.1:8080).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_TESTS=OFF -DEDGE_WERROR=OFF >/dev/null
cmake --build build -j"$(nproc)"
if [ -z "${EDGEHOOK_ADMIN_TOKEN:-}" ]; then
    # the admin API (127.0.0.1:9901) needs a token: make one for this run
    EDGEHOOK_ADMIN_TOKEN=$(openssl rand -hex 16)
    export EDGEHOOK_ADMIN_TOKEN
    echo "admin API token for this run (set EDGEHOOK_ADMIN_TOKEN to choose your own): $EDGEHOOK_ADMIN_TOKEN" >&2
fi
exec ./build/edgehook -c conf/edgehook.yaml "$@"
