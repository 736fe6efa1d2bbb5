#!/bin/sh
# tests/fuzz/build.sh - builds the libFuzzer targets of tests/fuzz/ with clang-14 (ASan + UBSan), without CMake.
#
#   tests/fuzz/build.sh [OUTDIR]                      # default OUTDIR: build-fuzz (in the repository root)
#   OUTDIR/fuzz_sigv4_auth tests/fuzz/corpus/sigv4_auth -max_total_time=60     # fuzz one target (new inputs go to the corpus dir;
#                                                                               # pass an empty dir first to keep the committed one)
#   OUTDIR/fuzz_store_xml tests/fuzz/corpus/store_xml/*                        # replay a corpus
#
# Needs clang-14 and libclang-rt-14-dev (scripts/deps.sh test), libssl-dev, libyaml-dev, libexpat1-dev and libh2o-evloop-dev.
# CC overrides the compiler.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRC/build-fuzz}
CC=${CC:-clang-14}
mkdir -p "$OUT"
CFLAGS="-std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
 -D_GNU_SOURCE -I$SRC -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers"

# h2o's types and memory pools, for the targets that use them (the access-log formatter, the cache key and policy); libh2o's
# headers need H2O_USE_LIBUV=0 for the evloop flavour
H2O="-DH2O_USE_LIBUV=0 $(pkg-config --cflags --libs libh2o-evloop)"

# target: its sources and libraries (the parsers are pure functions; only the h2o-typed ones link libh2o; base/str.c, the shared
# text helpers, needs libcrypto for base64 and SHA-256)
build() {
    name=$1
    shift
    # shellcheck disable=SC2086
    $CC $CFLAGS -o "$OUT/fuzz_$name" "$SRC/tests/fuzz/fuzz_$name.c" "$@" &
    pids="$pids $!"
}
pids=""
build sigv4_auth "$SRC/sigv4/sigv4.c" "$SRC/base/str.c" -lcrypto -lpthread
build sigv4_presigned "$SRC/sigv4/sigv4.c" "$SRC/base/str.c" -lcrypto -lpthread
build sigv2 "$SRC/sigv4/sigv2.c" "$SRC/sigv4/sigv4.c" "$SRC/base/str.c" -lcrypto -lpthread
build aws_chunked "$SRC/store/chunked.c" "$SRC/sigv4/sigv4.c" "$SRC/base/str.c" -lcrypto -lpthread
build store_xml "$SRC/store/xml.c" "$SRC/sigv4/sigv4.c" "$SRC/base/str.c" -lexpat -lcrypto -lpthread
build store_notify "$SRC/store/notifyconf.c" "$SRC/store/xml.c" "$SRC/sigv4/sigv4.c" "$SRC/base/str.c" -lexpat -lcrypto -lpthread
build store_post "$SRC/store/multipartform.c" "$SRC/store/postpolicy.c"
build store_tagset "$SRC/store/tagset.c"
build conf_yaml "$SRC/conf/config.c" "$SRC/conf/units.c" "$SRC/conf/cfheaders.c" "$SRC/conf/envsubst.c" "$SRC/conf/pattern.c" "$SRC/conf/dump.c" "$SRC/conf/diff.c" "$SRC/base/str.c" -lyaml -lcrypto
build accesslog "$SRC/proxy/accesslog.c" "$SRC/base/str.c" $H2O -lcrypto
build cache_key "$SRC/cache/key.c" "$SRC/cache/policy.c" "$SRC/base/str.c" $H2O -lcrypto
build cache_head "$SRC/cache/head.c" $H2O -lpthread
build disk_record "$SRC/cache/disk.c" "$SRC/base/fileio.c" "$SRC/cache/object.c" "$SRC/cache/memory.c" "$SRC/cache/head.c" "$SRC/cache/key.c" "$SRC/cache/policy.c" "$SRC/base/str.c" "$SRC/base/log.c" "$SRC/base/worker.c" $H2O -lz -lcrypto -lpthread
build cache_partial "$SRC/cache/partial.c" "$SRC/cache/head.c" "$SRC/cache/object.c" "$SRC/cache/memory.c" "$SRC/cache/key.c" "$SRC/cache/policy.c" "$SRC/base/str.c" $H2O -lcrypto -lpthread
build path "$SRC/proxy/reqcheck.c" "$SRC/base/str.c" -lcrypto
build origin_head "$SRC/proxy/originhead.c" "$SRC/base/str.c" -lcrypto
build h1_chunked "$SRC/store/h1chunked.c"
build fleet_wire "$SRC/proxy/fleetwire.c" "$SRC/proxy/originhead.c" "$SRC/hooks/json.c" "$SRC/base/str.c" -lcrypto -lm
build viewer "$SRC/viewer/device.c" "$SRC/viewer/geoip.c" -lpthread
build image_parse
build via "$SRC/proxy/via.c"
fail=0
for pid in $pids; do
    wait "$pid" || fail=1
done
[ $fail = 0 ] || { echo "fuzz: a target did not build" >&2; exit 1; }
echo "fuzz targets in $OUT: $(cd "$OUT" && ls fuzz_* | tr '\n' ' ')"
