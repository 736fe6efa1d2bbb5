/* bench/json_bench.c - hooks/json.c against jansson on what the hook and admin paths parse and write: a Lambda@Edge event (the
 * `edgehook invoke` input and output), a hook's config: map, and an admin API body. A measuring tool, not a test: it asserts no
 * time. Build and run from the repository root (libjansson-dev):
 *
 *   cc -O2 -I. -o build/json_bench bench/json_bench.c hooks/json.c -ljansson -lm && build/json_bench [ROUNDS]
 *
 * Each case is parsed and serialised ROUNDS times (default 200,000) by each library, best of 5 runs; it prints ns per operation.
 * Both sides build a full tree and write it back compact, which is what invoke.c, admin.c and lua.c do with hook_json_t.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hooks/json.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s == NULL || fread(s, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static volatile size_t sink;

/* ns per parse, per serialise (best of 5) */
static void run_ours(const char *s, size_t len, long rounds, double *parse, double *emit)
{
    char err[128];
    *parse = *emit = 1e300;
    for (int rep = 0; rep != 5; ++rep) {
        double t0 = now_ns();
        for (long i = 0; i != rounds; ++i) {
            hook_json_t *v = hook_json_parse(s, len, err, sizeof(err));
            sink += v->count;
            hook_json_free(v);
        }
        double t1 = now_ns();
        hook_json_t *v = hook_json_parse(s, len, err, sizeof(err));
        hook_buf_t b = {0};
        double t2 = now_ns();
        for (long i = 0; i != rounds; ++i) {
            b.len = 0;
            hook_buf_json(&b, v, 0);
            sink += b.len;
        }
        double t3 = now_ns();
        hook_buf_free(&b);
        hook_json_free(v);
        if ((t1 - t0) / rounds < *parse)
            *parse = (t1 - t0) / rounds;
        if ((t3 - t2) / rounds < *emit)
            *emit = (t3 - t2) / rounds;
    }
}

static void run_jansson(const char *s, size_t len, long rounds, double *parse, double *emit)
{
    json_error_t e;
    *parse = *emit = 1e300;
    for (int rep = 0; rep != 5; ++rep) {
        double t0 = now_ns();
        for (long i = 0; i != rounds; ++i) {
            json_t *v = json_loadb(s, len, JSON_ALLOW_NUL, &e);
            sink += json_object_size(v);
            json_decref(v);
        }
        double t1 = now_ns();
        json_t *v = json_loadb(s, len, JSON_ALLOW_NUL, &e);
        char *buf = malloc(len * 2 + 64);
        double t2 = now_ns();
        for (long i = 0; i != rounds; ++i)
            sink += json_dumpb(v, buf, len * 2 + 64, JSON_COMPACT | JSON_PRESERVE_ORDER);
        double t3 = now_ns();
        free(buf);
        json_decref(v);
        if ((t1 - t0) / rounds < *parse)
            *parse = (t1 - t0) / rounds;
        if ((t3 - t2) / rounds < *emit)
            *emit = (t3 - t2) / rounds;
    }
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 200000;
    struct {
        const char *name, *path, *text;
    } cases[] = {
        {"viewer-request event", "examples/hooks/events/viewer-request.json", NULL},
        {"origin-request event", "examples/hooks/events/origin-request.json", NULL},
        {"origin-response event", "examples/hooks/events/origin-response.json", NULL},
        {"hook config: map", NULL, "{\"secret_env\":\"AUTH_SECRET\",\"ttl\":300,\"paths\":[\"/a/*\",\"/b/*\"],\"strict\":true}"},
        {"admin purge body", NULL, "{\"url\": \"/photos/photo.jpg\"}"},
    };
    printf("%-24s %6s | %12s %12s | %12s %12s\n", "input", "bytes", "ours parse", "jansson", "ours write", "jansson");
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t len;
        char *s = cases[i].path != NULL ? slurp(cases[i].path, &len) : strdup(cases[i].text);
        len = strlen(s);
        double op, oe, jp, je;
        run_ours(s, len, rounds, &op, &oe);
        run_jansson(s, len, rounds, &jp, &je);
        printf("%-24s %6zu | %9.0f ns %9.0f ns | %9.0f ns %9.0f ns\n", cases[i].name, len, op, jp, oe, je);
        free(s);
    }
    return 0;
}
