/* proxy/main.c - the edgehook command line: run a config, check it (-t), or run one hook locally (invoke). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/config.h"
#include "proxy/log.h"
#include "proxy/server.h"
#ifdef EDGE_HAVE_HOOKS_INVOKE
#include "hooks/hooks.h"
#define HAVE_INVOKE 1
#endif

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
        printf("%s: configuration is valid\n", file);
        conf_free(conf);
        return 0;
    }
    return server_run(conf);
}
