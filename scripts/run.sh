#!/bin/sh
# Installs what is missing (Debian 12), builds edgehook and runs it on conf/edgehook.yaml (http://127.0.0.1:8080).
#
# The admin API (127.0.0.1:9901) needs a token: EDGEHOOK_ADMIN_TOKEN if set, else the one kept in data/.admin-token
# (made on the first run, mode 0600, next to the store's data/.credentials), so `curl -H "Authorization: Bearer $(cat
# data/.admin-token)"` works from any shell. EDGEHOOK_BIN=FILE runs that binary instead of installing and building (the
# README's test runs the tested build so).
set -eu
cd "$(dirname "$0")/.."
if [ -n "${EDGEHOOK_BIN:-}" ]; then
    bin=$EDGEHOOK_BIN
else
    scripts/deps.sh build
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_TESTS=OFF -DEDGE_WERROR=OFF >/dev/null
    cmake --build build -j"$(nproc)"
    bin=./build/edgehook
fi
if [ -z "${EDGEHOOK_ADMIN_TOKEN:-}" ]; then
    token_file=data/.admin-token
    if [ ! -s "$token_file" ]; then
        mkdir -p data
        (umask 077 && openssl rand -hex 16 >"$token_file.tmp" && mv "$token_file.tmp" "$token_file")
        echo "admin API token generated in $token_file (mode 0600): curl -H \"Authorization: Bearer \$(cat $token_file)\" http://127.0.0.1:9901/metrics" >&2
    else
        echo "admin API token: $token_file" >&2
    fi
    EDGEHOOK_ADMIN_TOKEN=$(cat "$token_file")
    export EDGEHOOK_ADMIN_TOKEN
fi
exec "$bin" -c conf/edgehook.yaml "$@"
