/* bench/disk_bench.c - the disk tier's index load time at a million objects (the restart goal of the disk tier: hits within
 * 2 s of start). Built on request: cmake --build build --target disk_bench.
 *
 *   disk_bench DIR [N] [BODY]
 *
 * Fills DIR (when it holds no index yet) with N objects of BODY bytes (default 1000000 x 1024) through the tier's writer, under
 * the keys edgehook gives GET http://bench.test/obj/I on its first behavior (so `edgehook` started on DIR serves them: see
 * bench/disk_restart.py), then opens the tier 3 times and prints the load times and the first read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cache/disk.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int key_of(char *buf, size_t cap, long i)
{
    return snprintf(buf, cap, "0\nbench.test\n/obj/%ld\n", i);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N] [BODY]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    size_t body_len = argc > 3 ? (size_t)atol(argv[3]) : 1024;
    uint64_t size = (uint64_t)n * (body_len + 400) * 5 / 4 + (512ull << 20);
    char err[256], path[4096], key[128];
    struct stat st;
    cache_mem_t *m = cache_mem_new(256 << 20, CACHE_EVICT_S3FIFO);
    snprintf(path, sizeof(path), "%s/index.log", dir);
    if (stat(path, &st) != 0 || st.st_size == 0) {
        cache_disk_t *d = cache_disk_open(dir, size, m, 128 << 10, err, sizeof(err));
        if (d == NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        char *body = malloc(body_len);
        memset(body, 'x', body_len);
        h2o_header_t h[2];
        memset(h, 0, sizeof(h));
        h[0].name = (h2o_iovec_t *)&H2O_TOKEN_CONTENT_TYPE->buf;
        h[0].value = h2o_iovec_init(H2O_STRLIT("application/octet-stream"));
        h[1].name = (h2o_iovec_t *)&H2O_TOKEN_CACHE_CONTROL->buf;
        h[1].value = h2o_iovec_init(H2O_STRLIT("max-age=86400"));
        double t0 = mono();
        for (long i = 0; i != n; ++i) {
            int kl = key_of(key, sizeof(key), i);
            h2o_iovec_t k = h2o_iovec_init(key, (size_t)kl), url = h2o_iovec_init(key + 13, (size_t)kl - 14);
            cache_obj_t *o = cache_obj_new((uint64_t)i, k, url);
            cache_decision_t dec;
            memset(&dec, 0, sizeof(dec));
            dec.response_time_ms = wall_ms();
            dec.lifetime_ms = 86400000;
            cache_obj_set_decision(o, &dec);
            cache_obj_set_head(o, 200, "OK", h, 2, 2, (int64_t)body_len, 0);
            cache_obj_append(o, body, body_len);
            cache_obj_complete(o);
            cache_disk_store(d, o);
            cache_obj_release(o);
            if (i % 20000 == 19999)
                cache_disk_flush(d);
        }
        cache_disk_flush(d);
        cache_disk_stats_t ds;
        cache_disk_stats(d, &ds);
        printf("filled: %llu objects, %llu bytes in %.1f s (%llu dropped)\n", (unsigned long long)ds.objects,
               (unsigned long long)ds.bytes, mono() - t0, (unsigned long long)ds.dropped);
        cache_disk_close(d);
        free(body);
    }
    stat(path, &st);
    for (int run = 0; run != 3; ++run) {
        double t0 = mono(), c0 = cpu();
        cache_disk_t *d = cache_disk_open(dir, size, m, 128 << 10, err, sizeof(err));
        double c1 = cpu();
        if (d == NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double opened = mono();
        /* the first hit after the start: one object read back (a miss in memory, a read from disk) */
        int kl = key_of(key, sizeof(key), n / 2);
        h2o_iovec_t k = h2o_iovec_init(key, (size_t)kl);
        int created;
        cache_obj_t *o = cache_mem_begin(m, (uint64_t)(n / 2), k, h2o_iovec_init(key + 13, (size_t)kl - 14), &created);
        if (!cache_disk_has(d, k, wall_ms())) {
            fprintf(stderr, "object %ld not in the index\n", n / 2);
            return 1;
        }
        cache_disk_load(d, o, 0); /* the objects have no Vary: variant 0 */
        while (cache_obj_state(o) == CACHE_OBJ_BUSY || cache_obj_state(o) == CACHE_OBJ_STREAMING)
            usleep(100);
        double hit = mono();
        cache_disk_stats_t ds;
        cache_disk_stats(d, &ds);
        printf("run %d: index load %.0f ms wall, %.0f ms CPU (%llu objects, journal %.0f MB, %llu entries), open-to-first-hit %.0f ms, "
               "state %d\n",
               run + 1, ds.load_us / 1000.0, (c1 - c0) * 1000, (unsigned long long)ds.objects, st.st_size / 1048576.0,
               (unsigned long long)ds.load_entries, (hit - t0) * 1000, cache_obj_state(o));
        (void)opened;
        cache_mem_remove(m, o);
        cache_obj_release(o);
        cache_disk_close(d);
    }
    cache_mem_free(m);
    return 0;
}
