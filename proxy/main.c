/* proxy/main.c - the edgehook command line: run a config, check it (-t), or run one hook locally (invoke). */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/config.h"
#include "hooks/hooks.h"
#include "base/log.h"
#include "proxy/gen.h"
#include "proxy/origin.h"
#include "proxy/server.h"
#ifdef EDGE_HAVE_HOOKS_INVOKE
#define HAVE_INVOKE 1
#endif

/* -t goes as far as a start would before listening: origins are set up (TLS: CA file, client certificate) and hooks are loaded
 * (Lua compiled, plugins' ABI checked), so that a config -t accepts is one that starts */
static int check_loadable(const conf_t *conf, char *err, size_t errlen)
{
    char e[512];
    for (size_t i = 0; i != conf->num_origins; ++i) {
        origin_t *o = origin_new(&conf->origins[i], 1, e, sizeof(e));
        if (o == NULL) {
            snprintf(err, errlen, "%s:%d: origins.%s: %s", conf->file, conf->origins[i].line, conf->origins[i].name, e);
            return -1;
        }
        origin_release(o);
    }
    /* the hooks load, and the behaviors' NAME@ALIAS / NAME@N resolve against the state dir (read only) */
    if (gen_check_hooks(conf, err, errlen) != 0)
        return -1;
    viewer_geo_t *geo;
    if (gen_open_geo(conf, &geo, err, errlen) != 0)
        return -1;
    if (geo != NULL)
        viewer_geo_release(geo);
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "edgehook %s - an edge CDN node: caching reverse proxy with Lambda@Edge-style hooks\n"
                "\n"
                "usage:\n"
                "  edgehook -c FILE            run with the configuration in FILE\n"
                "  edgehook -t -c FILE         check FILE and exit (0: valid, 1: invalid, with FILE:LINE: KEY: reason)\n"
                "  edgehook invoke --hook FILE --event EVENT.json [--type viewer-request] [--config JSON]\n"
                "                              run one hook locally on a Lambda@Edge test event\n"
                "  edgehook --version          print the version\n"
                "  edgehook --help             print this help\n"
                "\n"
                "signals: SIGTERM/SIGINT stop gracefully (in-flight requests finish within limits.shutdown_grace)\n",
            EDGE_VERSION);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"conf", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
                                             {"version", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int test = 0, ch;
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf;

    /* body segments of 256 KB and more are mapped and unmapped on their own: glibc's default raises its mmap threshold after
     * the first such free, and then keeps freed segments of passed-through bodies in the heap, where RSS no longer shows what
     * is live */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);

    if (argc >= 2 && strcmp(argv[1], "invoke") == 0) {
#ifdef HAVE_INVOKE
        return hooks_invoke_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "edgehook: invoke is not available in this build\n");
        return 2;
#endif
    }
    while ((ch = getopt_long(argc, argv, "c:tvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'v':
            printf("edgehook %s\n", EDGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || file == NULL) {
        usage(stderr);
        return 2;
    }
    if ((conf = conf_load(file, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (test) {
        log_set_level(LOG_WARN); /* -t prints the verdict, not what loading did */
        if (check_loadable(conf, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            conf_free(conf);
            return 1;
        }
        printf("%s: configuration is valid\n", file);
        conf_free(conf);
        return 0;
    }
    return server_run(conf);
}
