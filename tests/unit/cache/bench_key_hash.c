/* tests/unit/cache/bench_key_hash.c - ns per cache_key_hash() call for a 60-byte key; run by hand, not part of ctest:
 *   cc -O2 -DH2O_USE_LIBUV=0 -D_GNU_SOURCE -I. $(pkg-config --cflags libh2o-evloop) tests/unit/cache/bench_key_hash.c \
 *      cache/key.c -o /tmp/bench_key_hash $(pkg-config --libs libh2o-evloop) -lssl -lcrypto -lpthread && /tmp/bench_key_hash
 * An argument sets the calls per round (e.g. 100000 under valgrind --tool=callgrind, for instructions per call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cache/key.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    enum { ROUNDS = 5 };
    unsigned N = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000000;
    char key[61] = "0\nwww.example.com\n/images/photo-0001.jpg?w=640&h=480\n"; /* padded to 60 bytes below */
    size_t len = 60;
    memset(key + strlen(key), 'x', len - strlen(key));
    double best = 1e300;
    uint64_t sink = 0;
    for (int r = 0; r != ROUNDS; ++r) {
        double t0 = now_ns();
        for (unsigned i = 0; i != N; ++i) {
            key[20] = (char)i; /* defeat hoisting: a different key each call */
            sink += cache_key_hash(key, len);
        }
        double ns = (now_ns() - t0) / N;
        if (ns < best)
            best = ns;
    }
    printf("cache_key_hash, %zu-byte key: %.2f ns per call (best of %d x %u) [%llx]\n", len, best, ROUNDS, N,
           (unsigned long long)sink);
    return 0;
}
