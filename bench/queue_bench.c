/* bench/queue_bench.c - what an enqueue of the async queue costs (queue/queue.h): one append + fdatasync per event, on the
 * filesystem of DIR (default: a new directory under the current one, so run it where the state dir lives). Prints the median,
 * 90th and 99th percentile wall time of an enqueue for payloads of 100 B, 1 KB and 64 KB, one thread, then the throughput of
 * 4 threads enqueueing at once (the queue's mutex is held across the fdatasync: they take turns), and a take + done pair.
 * A measuring tool, not a test: it asserts no time. Build and run from the repository root:
 *
 *   cmake --build build --target queue_bench && build/queue_bench [N] [DIR]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "queue/queue.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static queue_t *q;
static int n_each;
static char payload[65536];

static void *producer(void *arg)
{
    char err[256];
    uint64_t id;
    for (int i = 0; i != n_each; ++i)
        if (queue_enqueue(q, "fn", 2, payload, 1024, &id, err, sizeof(err)) != 0)
            fprintf(stderr, "enqueue: %s\n", err);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 500;
    char dir[512], err[512];
    if (argc > 2)
        snprintf(dir, sizeof(dir), "%s", argv[2]);
    else if (mkdtemp(strcpy(dir, "./queue-bench-XXXXXX")) == NULL)
        return 1;
    queue_limits_t lim = {.max_events = 10000000, .max_bytes = 1ull << 40};
    if ((q = queue_open(dir, &lim, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    memset(payload, 'x', sizeof(payload));
    double *t = calloc((size_t)n, sizeof(*t));
    static const size_t sizes[] = {100, 1024, 65536};
    printf("queue_bench: %d enqueues per size into %s (append + fdatasync each)\n", n, dir);
    for (size_t s = 0; s != 3; ++s) {
        for (int i = 0; i != n; ++i) {
            uint64_t id;
            double t0 = now_us();
            if (queue_enqueue(q, "fn", 2, payload, sizes[s], &id, err, sizeof(err)) != 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            t[i] = now_us() - t0;
        }
        qsort(t, (size_t)n, sizeof(*t), cmp);
        printf("  enqueue %6zu B: median %7.0f us  p90 %7.0f us  p99 %7.0f us\n", sizes[s], t[n / 2], t[n * 9 / 10],
               t[n * 99 / 100]);
    }
    n_each = n / 4;
    pthread_t th[4];
    double t0 = now_us();
    for (int i = 0; i != 4; ++i)
        pthread_create(&th[i], NULL, producer, NULL);
    for (int i = 0; i != 4; ++i)
        pthread_join(th[i], NULL);
    double el = now_us() - t0;
    printf("  4 threads, 1 KB: %d enqueues in %.0f ms = %.0f per second\n", n_each * 4, el / 1000, n_each * 4 / (el / 1e6));
    for (int i = 0; i != n; ++i) {
        queue_event_t ev;
        double a = now_us();
        if (queue_take(q, queue_now_ms(), NULL, NULL, &ev, NULL) != 1 || queue_done(q, ev.id) != 0)
            return 1;
        t[i] = now_us() - a;
        queue_event_clear(&ev);
    }
    qsort(t, (size_t)n, sizeof(*t), cmp);
    printf("  take + done (two fdatasyncs): median %.0f us  p99 %.0f us\n", t[n / 2], t[n * 99 / 100]);
    queue_close(q);
    free(t);
    if (argc <= 2) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        (void)!system(cmd);
    }
    return 0;
}
