/* proxy/main.c - the edgehook command line: run a config, check it (-t), print it (-T), or run one hook locally (invoke). */
#include <expat.h>
#include <getopt.h>
#include <h2o/version.h>
#include <luajit.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <zlib.h>
#ifdef EDGE_HAVE_MAXMINDDB
#include <maxminddb.h>
#endif
#include "conf/config.h"
#include "hooks/hooks.h"
#include "base/log.h"
#include "proxy/gen.h"
#include "proxy/origin.h"
#include "proxy/server.h"
#ifdef EDGE_HAVE_HOOKS_INVOKE
#define HAVE_INVOKE 1
#endif

#ifndef EDGE_GIT_REVISION
#define EDGE_GIT_REVISION "unknown"
#endif
#ifndef EDGE_BUILD_TYPE
#define EDGE_BUILD_TYPE "unknown"
#endif

/* --version: what was built, from which revision, and the libraries it runs with (run-time versions where the library says) */
static void print_version(void)
{
    const char *sanitizer = "";
#ifdef EDGE_SANITIZE
    sanitizer = " (ASan+UBSan)";
#elif defined(EDGE_TSAN)
    sanitizer = " (ThreadSanitizer)";
#endif
    printf("edgehook %s\n", EDGE_VERSION);
    printf("git revision: %s\n", EDGE_GIT_REVISION);
    printf("build type: %s%s\n", EDGE_BUILD_TYPE, sanitizer);
    printf("h2o: %s\n", H2O_VERSION);
    printf("LuaJIT: %s\n", strncmp(LUAJIT_VERSION, "LuaJIT ", 7) == 0 ? LUAJIT_VERSION + 7 : LUAJIT_VERSION);
    printf("OpenSSL: %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("libyaml: %s\n", yaml_get_version_string());
#ifdef EDGE_HAVE_MAXMINDDB
    printf("libmaxminddb: %s\n", MMDB_lib_version());
#else
    printf("libmaxminddb: not built in (no CloudFront-Viewer-* geo headers)\n");
#endif
    printf("zlib: %s\n", zlibVersion());
    printf("expat: %s\n", XML_ExpatVersion());
}

/* -t goes as far as a start would before listening: listeners' certificates and keys are loaded, origins are set up (TLS: CA
 * file, client certificate) and hooks are loaded (Lua compiled, plugins' ABI checked), so that a config -t accepts is one that
 * starts */
static int check_loadable(const conf_t *conf, char *err, size_t errlen)
{
    char e[512];
    if (server_check_tls(conf, err, errlen) != 0)
        return -1;
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
    fprintf(fp,
            "edgehook %s - an edge CDN node: caching reverse proxy with Lambda@Edge-style hooks\n"
            "\n"
            "usage:\n"
            "  edgehook -c FILE            run with the configuration in FILE\n"
            "  edgehook -t -c FILE         check FILE and exit (0: valid, 1: invalid, with FILE:LINE: KEY: reason)\n"
            "  edgehook -T -c FILE         check FILE, then print the effective configuration (every default filled in)\n"
            "  edgehook invoke --hook FILE --event EVENT.json [--type viewer-request] [--config JSON]\n"
            "                              run one hook locally on a Lambda@Edge test event\n"
            "  edgehook --version          print the version, git revision, build type and library versions\n"
            "  edgehook --help             print this help\n"
            "\n"
            "signals: SIGTERM/SIGINT stop gracefully (in-flight requests finish within limits.shutdown_grace)\n",
            EDGE_VERSION);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"conf", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
                                             {"version", no_argument, NULL, 'v'},    {"help", no_argument, NULL, 'h'},
                                             {"dump", no_argument, NULL, 'T'},       {NULL, 0, NULL, 0}};
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
    while ((ch = getopt_long(argc, argv, "c:tTvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 't':
            test = test != 0 ? test : 1;
            break;
        case 'T':
            test = 2;
            break;
        case 'v':
            print_version();
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
        if (test == 2) { /* -T, as nginx -T: the verdict on stderr, the configuration alone on stdout (a file -t accepts) */
            fprintf(stderr, "%s: configuration is valid\n", file);
            conf_dump(conf, stdout);
        } else {
            printf("%s: configuration is valid\n", file);
        }
        conf_free(conf);
        return 0;
    }
    return server_run(conf);
}
