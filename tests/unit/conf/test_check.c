/* tests/unit/conf/test_check.c - what `edgehook -t` checks beyond the schema, and -T: ${VAR} expansion, wrong-type messages,
 * path patterns (supported syntax, shadowing), addressing: virtual on an IP endpoint, <redacted> secrets, and conf_dump's
 * output loading back to the same configuration */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/config.h"
#include "conf/pattern.h"

#define L "listen: [{port: 8080}]\n"
#define O "origins:\n  web: {type: http, url: \"http://127.0.0.1:9000\"}\n"
#define B "behaviors:\n  - {path: \"*\", origin: web}\n"

static conf_t *load(const char *yaml, char *err, size_t errlen)
{
    return conf_load_string("t.yaml", yaml, strlen(yaml), err, errlen);
}

static void expect_error(const char *yaml, const char *want)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = load(yaml, err, sizeof(err));
    if (conf != NULL)
        fail_msg("accepted, want %s\n---\n%s", want, yaml);
    if (strcmp(err, want) != 0)
        fail_msg("\n   got: %s\n  want: %s\n---\n%s", err, want, yaml);
}

static void test_expand_env(void **state)
{
    static const struct {
        const char *in, *out; /* out NULL: unchanged; "!" prefix: an error with that reason */
    } cases[] = {
        {"plain", NULL},
        {"a $ b $1 $x", NULL},
        {"${EH_A}", "alpha"},
        {"x${EH_A}y${EH_A}", "xalphayalpha"},
        {"${EH_EMPTY}", ""},
        {"${EH_EMPTY:-d}", "d"},
        {"${EH_UNSET:-}", ""},
        {"${EH_UNSET:-http://h:1/p}", "http://h:1/p"},
        {"${EH_A:-d}", "alpha"},
        {"$${EH_A}", "${EH_A}"},
        {"$$${EH_A}", "$${EH_A}"}, /* only $${ is an escape: the first $ is itself */
        {"cost: $5 ${EH_A}", "cost: $5 alpha"},
        {"${EH_UNSET}", "!environment variable EH_UNSET is not set"},
        {"${EH_A", "!\"${EH_A\": no closing } (write $${ for a literal ${)"},
        {"${1X}", "!\"${1X}\": a variable name is letters, digits and _, not starting with a digit (write $${ for a literal ${)"},
        {"${}", "!\"${}\": a variable name is letters, digits and _, not starting with a digit (write $${ for a literal ${)"},
        {"${EH_A-x}", "!\"${EH_A-x}\": write ${NAME} or ${NAME:-default} (and $${ for a literal ${)"},
        {"${EH_A:-${EH_B}}", "!\"${EH_A:-${EH_B}\": a default cannot hold another ${...}"},
    };
    setenv("EH_A", "alpha", 1);
    setenv("EH_EMPTY", "", 1);
    unsetenv("EH_UNSET");
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char *out = (char *)1, why[256] = "";
        int r = conf_expand_env(cases[i].in, &out, why, sizeof(why));
        if (cases[i].out != NULL && cases[i].out[0] == '!') {
            if (r != -1 || strcmp(why, cases[i].out + 1) != 0)
                fail_msg("%s: r=%d why=%s, want %s", cases[i].in, r, why, cases[i].out + 1);
            continue;
        }
        if (r != 0)
            fail_msg("%s: refused: %s", cases[i].in, why);
        if (cases[i].out == NULL ? out != NULL : out == NULL || strcmp(out, cases[i].out) != 0)
            fail_msg("%s: got %s, want %s", cases[i].in, out != NULL ? out : "(unchanged)",
                     cases[i].out ? cases[i].out : "(unchanged)");
        free(out);
    }
}

/* ${VAR} in a loaded file: values of every type, not keys; errors with the value's line and key */
static void test_env_in_config(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    setenv("EH_PORT", "8123", 1);
    setenv("EH_HOST", "origin.example", 1);
    setenv("EH_MEM", "64MB", 1);
    unsetenv("EH_UNSET");
    conf_t *conf = load("listen: [{port: \"${EH_PORT}\"}]\n"
                        "origins:\n  web: {type: http, url: \"http://${EH_HOST}:${EH_UNSET:-9000}/p\"}\n"
                        "cache: {memory: \"${EH_MEM}\", max_object_size: \"${EH_MEM}\"}\n"
                        "behaviors:\n  - {path: \"/$x/*\", origin: web}\n  - {path: \"*\", origin: web}\n",
                        err, sizeof(err));
    if (conf == NULL)
        fail_msg("%s", err);
    assert_int_equal(conf->listen[0].port, 8123);
    assert_string_equal(conf->origins[0].host, "origin.example");
    assert_int_equal(conf->origins[0].port, 9000);
    assert_int_equal(conf->cache.max_object_size, 64u << 20);
    assert_string_equal(conf->behaviors[0].path, "/$x/*"); /* a $ without { is itself */
    conf_free(conf);
    /* $EH_MEM without braces is not a reference: an invalid size, said with the text as written */
    expect_error(L O B "cache: {memory: $EH_MEM}\n",
                 "t.yaml:6: cache.memory: invalid size \"$EH_MEM\" (write e.g. 512KB, 256MB, 2GB)");
    expect_error(L O B "cache:\n  memory: ${EH_UNSET}\n", "t.yaml:7: cache.memory: environment variable EH_UNSET is not set");
    expect_error("listen:\n  - port: 8080\n  - {host: \"${EH_UNSET}\", port: 1}\n" O B,
                 "t.yaml:3: listen[1].host: environment variable EH_UNSET is not set");
    expect_error(L O "behaviors:\n  - path: \"*\"\n    origin: ${EH_UNSET}\n",
                 "t.yaml:6: behaviors[0].origin: environment variable EH_UNSET is not set");
    /* keys are not expanded: ${...} as a key is an unknown key */
    expect_error(L O B "${EH_HOST}: 1\n", "t.yaml:6: ${EH_HOST}: unknown key");
    /* an alias to an expanded value is expanded once ($${ stays a literal ${ however often it is used) */
    conf = load(L "origins:\n  web: {type: http, url: \"http://127.0.0.1:9000\", host_header: &h \"a$${b}\", sni: *h}\n" B, err,
                sizeof(err));
    if (conf == NULL)
        fail_msg("%s", err);
    assert_string_equal(conf->origins[0].host_header, "a${b}");
    assert_string_equal(conf->origins[0].sni, "a${b}");
    conf_free(conf);
}

static void test_wrong_types(void **state)
{
    expect_error(L O B "cache: {memory: [256MB]}\n", "t.yaml:6: cache.memory: expected a size, got a list");
    expect_error(L O B "limits: {shutdown_grace: {s: 1}}\n", "t.yaml:6: limits.shutdown_grace: expected a duration, got a map");
    expect_error(L O B "limits: {allow_path_params: [1]}\n",
                 "t.yaml:6: limits.allow_path_params: expected true or false, got a list");
    expect_error(L O B "error_log: {level: [warn]}\n",
                 "t.yaml:6: error_log.level: expected error, warn, info or debug, got a list");
    expect_error(L O B "store: {listen: {port: 9000}, root: [a]}\n", "t.yaml:6: store.root: expected a string, got a list");
    expect_error(L O B "threads: {n: 2}\n", "t.yaml:6: threads: expected auto or a number between 1 and 128, got a map");
    expect_error("listen: 8080\n" O B, "t.yaml:1: listen: expected a list of {host, port[, tls]}, got \"8080\"");
    expect_error(L O B "cache: \""
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
                 "t.yaml:6: cache: expected a map, got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
    expect_error(L O B "access_log: [x]\n", "t.yaml:6: access_log: expected a map {path, format} or off, got a list");
}

static void test_pattern_syntax(void **state)
{
    static const struct {
        const char *pat;
        int ok;
    } cases[] = {
        {"*", 1},     {"/images/*", 1}, {"*.jpg", 1},   {"/api/v?/*", 1},    {"/a%20b", 1}, {"/caf%C3%A9", 1},
        {"/a;b", 0},  {"/**", 0},       {"/a/**/b", 0}, {"/[a-z]*", 0},      {"/a]", 0},    {"/{a,b}", 0},
        {"/a\\*", 0}, {"/a b", 0},      {"/a#b", 0},    {"/caf\xc3\xa9", 0}, {"/a%2", 0},   {"/a%zz", 0},
        {"/a%2f", 0}, {"/a%41", 0},     {"/a%7E", 0},   {"/a\t", 0},
    };
    char why[256];
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        if ((conf_pattern_check(cases[i].pat, 0, why, sizeof(why)) == 0) != cases[i].ok)
            fail_msg("%s: %s", cases[i].pat, cases[i].ok ? why : "accepted");
    assert_int_equal(conf_pattern_check("/a;b", 1, why, sizeof(why)), 0);
    expect_error(L O "behaviors:\n  - {path: \"/x;y\", origin: web}\n",
                 "t.yaml:5: behaviors[0].path: \"/x;y\": ';' never appears in an accepted request path (limits.allow_path_params "
                 "is off)");
    expect_error(L O "limits: {allow_path_params: true}\nbehaviors:\n  - {path: \"/x/**\", origin: web}\n",
                 "t.yaml:6: behaviors[0].path: \"/x/**\": \"**\" is not supported: a single * already matches any run of "
                 "characters, / included");
}

static void test_pattern_covers(void **state)
{
    static const struct {
        const char *earlier, *later;
        int covers;
    } cases[] = {
        {"*", "/images/*", 1},
        {"*", "*", 1},
        {"/images/*", "/images/*", 1},
        {"/images/*", "/images/a/*.jpg", 1},
        {"*.jpg", "/images/*.jpg", 1},
        {"/a/*", "/a/?", 1},
        {"/a/?*", "/a/*?", 1}, /* both: at least one character after /a/ */
        {"/a/*?", "/a/?*", 1},
        {"*a*", "*a*a*", 1},
        {"/??", "/ab", 1},
        {"/images/*", "*", 0},
        {"/images/*", "/img/*", 0},
        {"/a/?", "/a/*", 0},
        {"/a/?", "/a/??", 0},
        {"*.jpg", "*.jpeg", 0},
        {"*.jpg", "/x/*", 0},
        {"/a*b", "/a*", 0},
        {"*a*a*", "*a*", 0},
        {"/x", "/x/", 0},
        {"/api/v?/*", "/api/v1/users", 1},
        {"/api/v?/*", "/api/v10/*", 0}, /* one character between v and / */
        {"/api/v?/*", "/api/*", 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        if (conf_pattern_covers(cases[i].earlier, cases[i].later) != cases[i].covers)
            fail_msg("covers(%s, %s) != %d", cases[i].earlier, cases[i].later, cases[i].covers);
    /* long patterns are not decided (no error) */
    char longp[400];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(conf_pattern_covers("*", longp), 0);
    /* in a file: a shadowed behaviour is refused at the line of its path; an overlap is not */
    expect_error(L O "behaviors:\n  - {path: \"*.jpg\", origin: web}\n  - {path: \"/img/*.jpg\", origin: web}\n",
                 "t.yaml:6: behaviors[1].path: \"/img/*.jpg\" can never match: behaviors[0] (\"*.jpg\", line 5) comes first and "
                 "matches every path it does (the first match wins: put the more specific pattern first)");
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = load(L O "behaviors:\n  - {path: \"/img/*\", origin: web}\n  - {path: \"*.jpg\", origin: web}\n"
                            "  - {path: \"*\", origin: web}\n",
                        err, sizeof(err));
    if (conf == NULL)
        fail_msg("%s", err);
    conf_free(conf);
}

static void test_virtual_addressing(void **state)
{
    char err[CONF_ERRBUF_SIZE];
#define S3(endpoint, addressing)                                                                                                   \
    L "origins:\n  s:\n    type: s3\n    endpoint: " endpoint "\n    bucket: b1\n    addressing: " addressing                      \
      "\n    credentials: {access_key: a, secret_key: b}\n"                                                                        \
      "behaviors:\n  - {path: \"*\", origin: s}\n"
    expect_error(S3("\"http://[2001:db8::1]:9000\"", "virtual"),
                 "t.yaml:7: origins.s.addressing: virtual needs a host name in endpoint, not the IP address 2001:db8::1 (it "
                 "would send Host: b1.2001:db8::1): write addressing: path");
    expect_error(S3("\"https://192.168.1.10\"", "virtual"),
                 "t.yaml:7: origins.s.addressing: virtual needs a host name in endpoint, not the IP address 192.168.1.10 (it "
                 "would send Host: b1.192.168.1.10): write addressing: path");
    expect_error(L "origins:\n  s: {type: s3, endpoint: embedded, bucket: b1, addressing: virtual}\n"
                   "behaviors:\n  - {path: \"*\", origin: s}\nstore: {listen: {port: 9000}}\n",
                 "t.yaml:3: origins.s.addressing: the embedded store is reached on its own address, by path: virtual cannot "
                 "apply (remove it)");
    conf_t *conf = load(S3("\"https://s3.eu-west-1.amazonaws.com\"", "virtual"), err, sizeof(err));
    if (conf == NULL)
        fail_msg("%s", err);
    conf_free(conf);
    conf = load(S3("\"http://10.0.0.1:9000\"", "path"), err, sizeof(err));
    if (conf == NULL)
        fail_msg("%s", err);
    conf_free(conf);
}

static char *dump(const conf_t *conf)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    conf_dump(conf, fp);
    fclose(fp);
    /* the first line names the file */
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    memmove(buf, nl + 1, strlen(nl + 1) + 1);
    return buf;
}

/* -T's output loads to a configuration whose -T output is the same: every setting survives the round trip */
static void test_dump_round_trip(void **state)
{
    static const char *const files[] = {
        L O B,
        "threads: 3\n"
        "listen:\n  - {host: \"::1\", port: 0, tls: {certificate: tests/data/configs/tls/localhost.crt, key: "
        "tests/data/configs/tls/localhost.key}}\n  - {port: 8081}\n"
        "access_log: {path: /tmp/a.log, format: json}\nerror_log: {level: debug, format: json}\n"
        "limits: {max_request_body: 1536, shutdown_grace: 1m30s, client_timeout: 1.5s, allow_path_params: on}\n"
        "origins:\n  web: {type: http, url: \"https://[2001:db8::1]:8443/base/\", host_header: h.example, sni: s.example, "
        "tls_verify: false, retries: 0, first_byte_timeout: 1d}\n"
        "  s3: {type: s3, endpoint: \"https://s3.amazonaws.com\", bucket: b.x, addressing: virtual, region: eu-west-1,\n"
        "       credentials: {access_key_env: EH_AK, secret_key_env: EH_SK, session_token_env: EH_ST}, pass_amz_headers: true}\n"
        "  emb: {type: s3, endpoint: embedded, bucket: site}\n"
        "cache: {memory: 1GB, stale_if_error: 1h}\n"
        "error_pages: {404: {path: /404.html, ttl: 10s}, 503: {path: /busy.html, status: 200}}\n"
        "kv: {flags: {max_keys: 10, max_bytes: 1MB}}\n"
        "hooks:\n  h: {lua: tests/data/configs/hooks/passthrough.lua, timeout: 250ms, memory: 3MB, include_body: yes,\n"
        "      fetch_allow: [web, \"*.example.org\"], kv: [flags],\n"
        "      config: {s: \"q\\\"u\\\\o\\tte $${x}\", n: 1.5e3, t: true, z: null, l: [1, \"a, b: c\", {k: v}], e: {}}}\n"
        "behaviors:\n"
        "  - path: \"/a/*\"\n    origin: web\n    cache: {min_ttl: 0s, default_ttl: 1h, max_ttl: 1d, error_ttl: 0s, "
        "ignore_set_cookie: true,\n      key: {query: [w, h], headers: [Origin], cookies: {except: [sid]}}}\n"
        "    origin_request: {headers: none, cookies: all}\n"
        "    hooks: {viewer-request: h, origin-response: h@live}\n"
        "  - {path: \"*.jpg\", origin: s3, cache: off, error_pages: {404: {path: /img404.png, ttl: 1m, status: 200}}}\n"
        "  - {path: \"*\", origin: emb, cache: {key: {query: {except: [utm]}}}}\n"
        "store: {listen: {port: 0}, root: /tmp/x, seed: [{bucket: site, dir: tests/data/configs}], threads: 3,\n"
        "        credentials: {access_key: AK, secret_key_env: EH_SK}}\n"
        "admin: {listen: {port: 0}, token_env: EH_TOKEN}\n"
        "distribution: {id: E2QWRUHAPOMQZL}\n",
        L O B "fleet: {etcd: [\"http://127.0.0.1:2379\", \"10.0.0.2:2379\"], prefix: /edgehook/prod, node: e-1, ack_timeout: 2.5s}\n",
    };
    setenv("EH_AK", "AKIDEXAMPLE", 1);
    setenv("EH_SK", "secret", 1);
    setenv("EH_ST", "token", 1);
    setenv("EH_TOKEN", "a-long-enough-token", 1);
    for (size_t i = 0; i != sizeof(files) / sizeof(files[0]); ++i) {
        char err[CONF_ERRBUF_SIZE];
        conf_t *a = load(files[i], err, sizeof(err)), *b;
        if (a == NULL)
            fail_msg("file %zu: %s", i, err);
        char *d1 = dump(a);
        if ((b = load(d1, err, sizeof(err))) == NULL)
            fail_msg("file %zu: its dump is refused: %s\n---\n%s", i, err, d1);
        char *d2 = dump(b);
        if (strcmp(d1, d2) != 0)
            fail_msg("file %zu: the dump of the dump differs\n--- first\n%s--- second\n%s", i, d1, d2);
        if (i == 1) {
            /* the values themselves, beyond the text being stable */
            assert_string_equal(b->hooks[0].config_json, a->hooks[0].config_json);
            assert_true(strstr(a->hooks[0].config_json, "\"$${x}\"") == NULL && strstr(a->hooks[0].config_json, "${x}") != NULL);
            assert_int_equal(b->limits.client_timeout_ms, 1500);
            assert_int_equal(b->limits.max_request_body, 1536);
            assert_string_equal(b->origins[0].path_prefix, "/base");
            assert_int_equal(b->threads, 3);
            assert_int_equal(b->error_log.json, 1);
            assert_int_equal(b->origins[1].pass_amz_headers, 1);
            assert_int_equal(b->error_pages.count, 2);
            /* the second behavior: its own 404 page, and the top level's 503 */
            assert_int_equal(b->behaviors[1].error_pages.count, 2);
            const conf_error_page_t *e404 = conf_error_page_find(&b->behaviors[1].error_pages, 404);
            assert_non_null(e404);
            assert_string_equal(e404->path, "/img404.png");
            assert_int_equal(e404->status, 200);
            assert_int_equal(e404->ttl_ms, 60000);
            assert_non_null(conf_error_page_find(&b->behaviors[1].error_pages, 503));
            assert_string_equal(b->origins[1].credentials.secret_key, "secret");
            assert_string_equal(b->admin.token, "a-long-enough-token");
            /* secrets are never printed */
            assert_null(strstr(d1, "secret\""));
            assert_null(strstr(d1, "a-long-enough-token"));
            assert_non_null(strstr(d1, "token_env: \"EH_TOKEN\""));
        }
        free(d1);
        free(d2);
        conf_free(a);
        conf_free(b);
    }
}

/* a secret written in the file is printed as <redacted>, which the loader refuses: the dump cannot run as it is */
static void test_dump_redacts(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *a = load(L O B "admin: {listen: {port: 9901}, token: inline-secret-token}\n", err, sizeof(err));
    if (a == NULL)
        fail_msg("%s", err);
    char *d = dump(a);
    assert_null(strstr(d, "inline-secret-token"));
    assert_non_null(strstr(d, "token: \"<redacted>\""));
    assert_null(load(d, err, sizeof(err)));
    assert_non_null(strstr(err, "admin.token: <redacted> is what edgehook -T prints in place of a secret"));
    free(d);
    conf_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_env),      cmocka_unit_test(test_env_in_config),  cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_pattern_syntax),  cmocka_unit_test(test_pattern_covers), cmocka_unit_test(test_virtual_addressing),
        cmocka_unit_test(test_dump_round_trip), cmocka_unit_test(test_dump_redacts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
