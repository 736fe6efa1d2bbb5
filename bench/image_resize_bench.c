/* bench/image_resize_bench.c - what a resize of the image hook (examples/hooks/c/image_resize.c) costs, per source megapixel.
 *
 *   cmake --build build --target image_resize_bench && build/image_resize_bench [REPS]
 *
 * Runs the plugin's own code (this file includes it: check_image, resize, encode) on JPEG sources of 1, 4, 12 and 24 MP made
 * here (3-band Gaussian noise at Q 85: it does not compress away, so decoding is not made easy), to 320 and 1280 px wide, saved
 * as WebP and as JPEG, with the plugin's settings (vips_concurrency_set(1)). Prints the medians of REPS runs (default 5) per case
 * and per source megapixel: wall time, and CPU time of the process (what a shared machine's load does not inflate). Built only with libvips (EDGE_VIPS). Not a test: nothing here asserts a time. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "../examples/hooks/c/image_resize.c"

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    void *st = NULL;
    char err[512];
    static const char config[] = "{\"max_pixels\":100000000}";
    if (reps < 1 || reps > 100 || init(NULL, config, sizeof(config) - 1, &st, err, sizeof(err)) != 0) {
        fprintf(stderr, "usage: image_resize_bench [REPS 1-100] (%s)\n", reps < 1 || reps > 100 ? "bad REPS" : err);
        return 2;
    }
    static const int sources[][2] = {{1152, 864}, {2304, 1728}, {4000, 3000}, {6000, 4000}};
    static const unsigned widths[] = {320, 1280};
    printf("| source | MP | JPEG bytes | width | format | wall ms | CPU ms | CPU ms per source MP |\n|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s != sizeof(sources) / sizeof(sources[0]); ++s) {
        VipsImage *noise = NULL, *bands[3] = {NULL, NULL, NULL}, *rgb = NULL;
        void *jpeg = NULL;
        size_t jlen = 0;
        for (int b = 0; b != 3; ++b)
            if (vips_gaussnoise(&bands[b], sources[s][0], sources[s][1], "mean", 128.0, "sigma", 40.0, NULL) != 0)
                return 1;
        if (vips_bandjoin(bands, &noise, 3, NULL) != 0 || vips_cast_uchar(noise, &rgb, NULL) != 0 ||
            vips_jpegsave_buffer(rgb, &jpeg, &jlen, "Q", 85, NULL) != 0) {
            fprintf(stderr, "cannot make the source: %s\n", vips_error_buffer());
            return 1;
        }
        double mp = sources[s][0] * (double)sources[s][1] / 1e6;
        for (size_t w = 0; w != 2; ++w)
            for (int webp = 1; webp >= 0; --webp) {
                double t[100], c[100];
                for (int r = 0; r != reps; ++r) {
                    int iw, ih;
                    void *out = NULL;
                    size_t outlen;
                    double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
                    VipsImage *img = check_image(st, jpeg, jlen, &iw, &ih, err, sizeof(err)) == 0
                                         ? resize(jpeg, jlen, widths[w], err, sizeof(err))
                                         : NULL;
                    if (img == NULL || encode(st, img, webp, &out, &outlen, err, sizeof(err)) != 0) {
                        fprintf(stderr, "resize failed: %s\n", err);
                        return 1;
                    }
                    t[r] = now_ms(CLOCK_MONOTONIC) - t0;
                    c[r] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
                    g_object_unref(img);
                    g_free(out);
                }
                qsort(t, (size_t)reps, sizeof(double), cmp);
                qsort(c, (size_t)reps, sizeof(double), cmp);
                printf("| %dx%d | %.1f | %zu | %u | %s | %.1f | %.1f | %.1f |\n", sources[s][0], sources[s][1], mp, jlen, widths[w],
                       webp ? "WebP" : "JPEG", t[reps / 2], c[reps / 2], c[reps / 2] / mp);
                fflush(stdout);
            }
        g_free(jpeg);
        for (int b = 0; b != 3; ++b)
            g_object_unref(bands[b]);
        g_object_unref(noise);
        g_object_unref(rgb);
    }
    fini(st);
    return 0;
}
