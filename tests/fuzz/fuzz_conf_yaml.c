/* tests/fuzz/fuzz_conf_yaml.c - libFuzzer target: the YAML config loader (conf_load_string of conf/config.c, with libyaml)
 *
 * Properties: any bytes load or fail without crashing or leaking; a failure is one `fuzz.yaml:LINE: KEY: reason` line (or
 * `fuzz.yaml: reason`) without control characters, whatever the file holds; a loaded config is consistent (every behavior names
 * an origin of the config, listeners have ports, threads are bounded).
 */
#include <stdint.h>
#include <string.h>
#include "conf/config.h"
#include "tests/fuzz/fuzz_check.h"

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
    conf_free(conf);
    return 0;
}
