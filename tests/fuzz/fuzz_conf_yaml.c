/* tests/fuzz/fuzz_conf_yaml.c - libFuzzer target: the YAML config loader (conf_load_string of conf/config.c, with libyaml)
 *
 * Properties: any bytes load or fail without crashing or leaking; a failure is one `fuzz.yaml:LINE: KEY: reason` line (or
 * `fuzz.yaml: reason`) without control characters, whatever the file holds; a loaded config is consistent (every behavior names
 * an origin of the config, listeners have ports, threads are bounded); its `edgehook -T` text (conf_dump) loads again to a
 * configuration that dumps to the same text, unless it holds a secret printed as <redacted> (which the loader refuses).
 * The corpus has ${VAR} references (env-*.yaml): the expansion runs on every value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/config.h"
#include "tests/fuzz/fuzz_check.h"

static char *dump(const conf_t *conf)
{
    char *buf = NULL, *nl;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    FUZZ_CHECK(fp != NULL, "open_memstream");
    conf_dump(conf, fp);
    fclose(fp);
    if ((nl = strchr(buf, '\n')) != NULL)
        memmove(buf, nl + 1, strlen(nl + 1) + 1);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONF_ERRBUF_SIZE];
    memset(err, 'X', sizeof(err));
    conf_t *conf = conf_load_string("fuzz.yaml", (const char *)data, size, err, sizeof(err));
    if (conf == NULL) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "error not terminated");
        FUZZ_CHECK(strncmp(err, "fuzz.yaml:", 10) == 0 || strncmp(err, "fuzz.yaml: ", 11) == 0, "error: %s", err);
        for (const char *p = err; *p != '\0'; ++p)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "a control character in the error: %s", err);
        return 0;
    }
    FUZZ_CHECK(conf->num_listen >= 1 && conf->num_behaviors >= 1, "a config without listeners or behaviors");
    FUZZ_CHECK(conf->threads >= 1 && conf->threads <= 128, "threads %u", conf->threads);
    for (size_t i = 0; i != conf->num_behaviors; ++i) {
        const conf_behavior_t *b = &conf->behaviors[i];
        FUZZ_CHECK(b->path != NULL && b->origin != NULL && b->origin == conf_find_origin(conf, b->origin_name),
                   "behavior %zu has no origin", i);
    }
    for (size_t i = 0; i != conf->store.num_seeds; ++i)
        FUZZ_CHECK(conf->store.seeds[i].bucket != NULL && conf->store.seeds[i].dir != NULL, "seed %zu incomplete", i);
    /* -T: the dump (after its first line, which names the file) loads again and dumps to the same text */
    char *d1 = dump(conf), *d2;
    conf_free(conf);
    if (strstr(d1, CONF_REDACTED) == NULL) {
        conf_t *again = conf_load_string("fuzz.yaml", d1, strlen(d1), err, sizeof(err));
        FUZZ_CHECK(again != NULL, "the dump is refused: %s\n%s", err, d1);
        d2 = dump(again);
        conf_free(again);
        FUZZ_CHECK(strcmp(d1, d2) == 0, "the dump of the dump differs:\n%s\n---\n%s", d1, d2);
        free(d2);
    }
    free(d1);
    return 0;
}
