#!/bin/sh
# Installs what edgehook needs from Debian 12 (and npm for the S3 client tests); idempotent. (test: `prometheus` is there for
# promtool, which checks GET /metrics; only its binary is used, the service it installs is not needed)
#   scripts/deps.sh build   - compiler, CMake and the libraries edgehook links against
#   scripts/deps.sh test    - build deps + the real clients and origins the test suite drives
#   scripts/deps.sh bench   - build deps + the peers and load generators of bench/
set -eu
what=${1:-build}
BUILD="build-essential cmake pkg-config libh2o-evloop-dev libluajit2-5.1-dev libssl-dev libyaml-dev libexpat1-dev zlib1g-dev libcmocka-dev libmaxminddb-dev libzip-dev libsystemd-dev openssl ca-certificates libvips-dev"
TEST="man-db groff-base curl nghttp2-client python3 python3-h2 python3-hpack python3-boto3 awscli s3cmd rclone procps iproute2 ceph-mon ceph-osd radosgw clang-14 libclang-rt-14-dev lsof libmaxmind-db-writer-perl systemd logrotate prometheus chromium libvips-tools etcd-server etcd-client"
# tests/s3tests (the vendored ceph/s3-tests) runs on these, with python3-boto3 above
TEST="$TEST python3-pytest python3-pytest-xdist python3-pytest-timeout python3-munch python3-isodate python3-tz python3-dateutil python3-requests"
BENCH="wrk nghttp2-client nginx libnginx-mod-http-lua varnish procps curl util-linux linux-perf valgrind strace libjansson-dev"
case "$what" in
build) pkgs="$BUILD" ;;
test) pkgs="$BUILD $TEST" ;;
bench) pkgs="$BUILD $BENCH" ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm (the AWS JS SDK and s3rver tests): Debian's, unless a node is already there
if [ "$what" = test ]; then
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
