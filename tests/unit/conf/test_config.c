/* tests/unit/conf/test_config.c - the YAML config loader of conf/config.c: typed values and defaults, every error message with its
 * line, robustness */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conf/config.h"

#define MB (1024ull * 1024)

/* fixtures under tests/data/configs (the tests run from the repository root) */
#define CERT "tests/data/configs/tls/localhost.crt"
#define KEY "tests/data/configs/tls/localhost.key"
#define LUA "tests/data/configs/hooks/passthrough.lua"
#define UNSET_VAR "EDGEHOOK_TEST_SURELY_UNSET_VARIABLE"

static conf_t *load(const char *yaml, char *err, size_t errlen)
{
    return conf_load_string("t.yaml", yaml, strlen(yaml), err, errlen);
}

static conf_t *load_ok(const char *yaml)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = load(yaml, err, sizeof(err));
    if (conf == NULL)
        fail_msg("config refused: %s\n---\n%s---", err, yaml);
    return conf;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* valid configs                                                                                                        */

#define MINIMAL                                                                                                                    \
    "listen:\n"                                                                                                                    \
    "  - {host: 127.0.0.1, port: 8080}\n"                                                                                          \
    "origins:\n"                                                                                                                   \
    "  web: {type: http, url: \"http://127.0.0.1:9000\"}\n"                                                                        \
    "behaviors:\n"                                                                                                                 \
    "  - {path: \"*\", origin: web}\n"

static void test_minimal_and_defaults(void **state)
{
    conf_t *conf = load_ok(MINIMAL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    assert_string_equal(conf->file, "t.yaml");
    assert_int_equal(conf->threads, cores > 0 ? (unsigned)cores : 1); /* threads: auto */
    assert_int_equal(conf->num_listen, 1);
    assert_string_equal(conf->listen[0].host, "127.0.0.1");
    assert_int_equal(conf->listen[0].port, 8080);
    assert_null(conf->listen[0].tls_certificate);
    assert_null(conf->listen[0].tls_key);
    assert_int_equal(conf->listen[0].line, 2);

    assert_null(conf->access_log.path); /* no access_log: off */
    assert_string_equal(conf->error_log.path, "-");
    assert_int_equal(conf->error_log.level, 2);

    assert_int_equal(conf->limits.max_request_body, 16 * MB);
    assert_int_equal(conf->limits.shutdown_grace_ms, 30000);
    assert_int_equal(conf->limits.client_timeout_ms, 30000);
    assert_int_equal(conf->limits.max_streams_per_connection, 100);

    assert_int_equal(conf->num_origins, 1);
    conf_origin_t *o = &conf->origins[0];
    assert_ptr_equal(conf_find_origin(conf, "web"), o);
    assert_null(conf_find_origin(conf, "nope"));
    assert_string_equal(o->name, "web");
    assert_int_equal(o->type, CONF_ORIGIN_HTTP);
    assert_int_equal(o->https, 0);
    assert_string_equal(o->host, "127.0.0.1");
    assert_int_equal(o->port, 9000);
    assert_string_equal(o->path_prefix, "");
    assert_null(o->host_header);
    assert_null(o->sni);
    assert_null(o->ca_file);
    assert_int_equal(o->tls_verify, 1);
    assert_int_equal(o->connect_timeout_ms, 5000);
    assert_int_equal(o->read_timeout_ms, 30000);
    assert_int_equal(o->first_byte_timeout_ms, 30000); /* defaults to read_timeout */
    assert_int_equal(o->keepalive_timeout_ms, 4000);
    assert_int_equal(o->max_connections, 256);
    assert_int_equal(o->retries, 1);
    assert_int_equal(o->embedded, 0);
    assert_null(o->bucket);
    assert_int_equal(o->line, 4);

    assert_int_equal(conf->cache.memory, 256 * MB);
    assert_int_equal(conf->cache.max_object_size, 256 * MB / 8);
    assert_int_equal(conf->cache.stale_while_revalidate_ms, 0);
    assert_int_equal(conf->cache.stale_if_error_ms, -1); /* not given: CONF_DEFAULT_STALE_IF_ERROR_MS */

    assert_int_equal(conf->num_hooks, 0);
    assert_null(conf_find_hook(conf, "x"));

    assert_int_equal(conf->num_behaviors, 1);
    conf_behavior_t *b = &conf->behaviors[0];
    assert_string_equal(b->path, "*");
    assert_string_equal(b->origin_name, "web");
    assert_ptr_equal(b->origin, o);
    assert_int_equal(b->line, 6);
    assert_int_equal(b->cache.enabled, 1);
    assert_int_equal(b->cache.min_ttl_ms, -1);
    assert_int_equal(b->cache.default_ttl_ms, -1);
    assert_int_equal(b->cache.max_ttl_ms, -1);
    assert_int_equal(b->cache.stale_while_revalidate_ms, -1);
    assert_int_equal(b->cache.stale_if_error_ms, -1);
    assert_int_equal(b->cache.error_ttl_ms, -1);
    assert_int_equal(b->cache.query_mode, CONF_KEY_ALL);
    assert_int_equal(b->cache.query.count, 0);
    assert_int_equal(b->cache.headers.count, 0);
    assert_int_equal(b->cache.cookie_mode, CONF_KEY_NONE);
    assert_int_equal(b->cache.cookies.count, 0);
    for (int i = 0; i != CONF_HOOK_NUM; ++i)
        assert_null(b->hooks[i]);

    assert_int_equal(conf->store.enabled, 0);
    assert_int_equal(conf->admin.enabled, 0);
    conf_free(conf);
}

/* the documented schema, every key given */
static void test_full_schema(void **state)
{
    setenv("EDGEHOOK_TEST_AK", "AKIDEXAMPLE", 1);
    setenv("EDGEHOOK_TEST_SK", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("EDGEHOOK_TEST_TOKEN", "s3cr3t-admin-token", 1);
    conf_t *conf =
        load_ok("threads: 3\n"
                "listen:\n"
                "  - {host: 127.0.0.1, port: 8080}\n"
                "  - {host: \"::1\", port: 8443, tls: {certificate: " CERT ", key: " KEY "}}\n"
                "access_log: {path: /tmp/access.log, format: json}\n"
                "error_log: {path: /tmp/error.log, level: debug}\n"
                "limits: {max_request_body: 1.5MB, shutdown_grace: 1m30s, client_timeout: 10s, max_streams_per_connection: 50,\n"
                "         max_request_headers: 60, max_request_header_size: 32KB, max_response_header_size: 16KB, send_timeout: 5s,\n"
                "         max_unsent_per_connection: 8MB, allow_path_params: true}\n"
                "origins:\n"
                "  web:   {type: http, url: \"https://Example.COM:8443/base//\", connect_timeout: 2s, read_timeout: 30s,\n"
                "          first_byte_timeout: 10s, keepalive_timeout: 1m, max_connections: 64, retries: 0,\n"
                "          host_header: www.example.com, sni: origin.example.com, ca_file: " CERT ", tls_verify: false}\n"
                "  media: {type: s3, endpoint: embedded, bucket: photos, region: eu-west-1}\n"
                "  remote:\n"
                "    type: s3\n"
                "    endpoint: \"http://[::1]:9100\"\n"
                "    bucket: backups\n"
                "    addressing: path\n"
                "    credentials: {access_key_env: EDGEHOOK_TEST_AK, secret_key_env: EDGEHOOK_TEST_SK, session_token: tok}\n"
                "cache:\n"
                "  memory: 1GB\n"
                "  max_object_size: 64MB\n"
                "  stale_while_revalidate: 30s\n"
                "  stale_if_error: 1d\n"
                "hooks:\n"
                "  security-headers: {lua: " LUA "}\n"
                "  auth: {lua: " LUA ", config: {secret_env: AUTH_SECRET, n: 3, f: -1.5, b: true, z: null, s: \"3\",\n"
                "         l: [1, a], m: {x: \"q\\\"uote\"}}, timeout: 1s, include_body: true, memory: 16MB, "
                "fetch_allow: [API.example.com, \"example.net:8443\", \"*.example.org\", media]}\n"
                "behaviors:\n"
                "  - path: \"/images/*\"\n"
                "    origin: media\n"
                "    cache: {min_ttl: 0s, default_ttl: 1d, max_ttl: 1y, stale_while_revalidate: 1m, stale_if_error: 1h,\n"
                "            error_ttl: 30s, key: {query: [w, h], headers: [Accept, X-Device], cookies: {except: [session]}},\n"
                "            ignore_set_cookie: true}\n"
                "    origin_request: {headers: [User-Agent, X-Tier], cookies: [lang]}\n"
                "    hooks: {viewer-request: auth@live, viewer-response: security-headers@3}\n"
                "  - {path: \"/api/*\", origin: web, cache: off, hooks: {origin-request: auth, origin-response: auth}}\n"
                "  - {path: \"/static/*.css\", origin: web, cache: {key: {query: none, headers: [], cookies: all}}}\n"
                "  - {path: \"/q/*\", origin: remote, cache: {key: {query: {except: [utm_source]}}, enabled: false}}\n"
                "  - path: \"*\"\n"
                "    origin: web\n"
                "store:\n"
                "  listen: {host: 127.0.0.1, port: 9000}\n"
                "  root: /tmp/edgehook-data\n"
                "  domain: s3.example.test\n"
                "  region: eu-central-1\n"
                "  credentials: {access_key: EXAMPLEKEY, secret_key: EXAMPLESECRET}\n"
                "  max_put_size: 1GB\n"
                "  io_threads: 3\n"
                "admin:\n"
                "  listen: {host: 127.0.0.1, port: 9901}\n"
                "  token_env: EDGEHOOK_TEST_TOKEN\n"
                "  plugin_dirs: [tests/data]\n");

    assert_int_equal(conf->threads, 3);
    assert_int_equal(conf->num_listen, 2);
    assert_string_equal(conf->listen[1].host, "::1");
    assert_int_equal(conf->listen[1].port, 8443);
    assert_string_equal(conf->listen[1].tls_certificate, CERT);
    assert_string_equal(conf->listen[1].tls_key, KEY);
    assert_int_equal(conf->listen[1].line, 4);
    assert_string_equal(conf->access_log.path, "/tmp/access.log");
    assert_int_equal(conf->access_log.json, 1);
    assert_string_equal(conf->error_log.path, "/tmp/error.log");
    assert_int_equal(conf->error_log.level, 3);
    assert_int_equal(conf->limits.max_request_body, 3 * MB / 2);
    assert_int_equal(conf->limits.shutdown_grace_ms, 90000);
    assert_int_equal(conf->limits.client_timeout_ms, 10000);
    assert_int_equal(conf->limits.max_streams_per_connection, 50);
    assert_int_equal(conf->limits.max_request_headers, 60);
    assert_int_equal(conf->limits.max_request_header_size, 32 << 10);
    assert_int_equal(conf->limits.max_response_header_size, 16 << 10);
    assert_int_equal(conf->limits.send_timeout_ms, 5000);
    assert_int_equal(conf->limits.max_unsent_per_connection, 8 * MB);
    assert_int_equal(conf->limits.allow_path_params, 1);
    assert_int_equal(conf->behaviors[0].cache.ignore_set_cookie, 1);
    assert_int_equal(conf->behaviors[0].origin_request.headers_set, 1);
    assert_int_equal(conf->behaviors[0].origin_request.headers.count, 2);
    assert_string_equal(conf->behaviors[0].origin_request.headers.names[0], "user-agent"); /* lower-cased */
    assert_int_equal(conf->behaviors[0].origin_request.cookie_mode, CONF_KEY_LIST);
    assert_string_equal(conf->behaviors[0].origin_request.cookies.names[0], "lang");
    assert_int_equal(conf->behaviors[1].origin_request.headers_set, 0);
    assert_int_equal(conf->admin.plugin_dirs.count, 1);
    assert_int_equal(conf->admin.plugin_dirs.names[0][0], '/'); /* resolved */

    assert_int_equal(conf->num_origins, 3);
    conf_origin_t *web = conf_find_origin(conf, "web"), *media = conf_find_origin(conf, "media"),
                  *remote = conf_find_origin(conf, "remote");
    assert_non_null(web);
    assert_int_equal(web->https, 1);
    assert_string_equal(web->host, "Example.COM");
    assert_int_equal(web->port, 8443);
    assert_string_equal(web->path_prefix, "/base"); /* trailing slashes dropped */
    assert_int_equal(web->connect_timeout_ms, 2000);
    assert_int_equal(web->read_timeout_ms, 30000);
    assert_int_equal(web->first_byte_timeout_ms, 10000);
    assert_int_equal(web->keepalive_timeout_ms, 60000);
    assert_int_equal(web->max_connections, 64);
    assert_int_equal(web->retries, 0);
    assert_string_equal(web->host_header, "www.example.com");
    assert_string_equal(web->sni, "origin.example.com");
    assert_string_equal(web->ca_file, CERT);
    assert_int_equal(web->tls_verify, 0);
    assert_int_equal(web->line, 11);

    assert_non_null(media);
    assert_int_equal(media->type, CONF_ORIGIN_S3);
    assert_int_equal(media->embedded, 1);
    assert_string_equal(media->bucket, "photos");
    assert_string_equal(media->region, "eu-west-1");
    assert_int_equal(media->addressing, CONF_S3_AUTO);
    assert_null(media->credentials.access_key);
    assert_string_equal(media->path_prefix, "");

    assert_non_null(remote);
    assert_int_equal(remote->embedded, 0);
    assert_int_equal(remote->https, 0);
    assert_string_equal(remote->host, "::1");
    assert_int_equal(remote->port, 9100);
    assert_string_equal(remote->region, "us-east-1");
    assert_int_equal(remote->addressing, CONF_S3_PATH);
    assert_string_equal(remote->credentials.access_key, "AKIDEXAMPLE");
    assert_string_equal(remote->credentials.secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_string_equal(remote->credentials.session_token, "tok");
    assert_int_equal(remote->line, 15); /* the line of its name, not of its first key */

    assert_int_equal(conf->cache.memory, 1024 * MB);
    assert_int_equal(conf->cache.max_object_size, 64 * MB);
    assert_int_equal(conf->cache.stale_while_revalidate_ms, 30000);
    assert_int_equal(conf->cache.stale_if_error_ms, 86400000);

    assert_int_equal(conf->num_hooks, 2);
    conf_hook_t *sh = conf_find_hook(conf, "security-headers"), *auth = conf_find_hook(conf, "auth");
    assert_non_null(sh);
    assert_string_equal(sh->lua, LUA);
    assert_null(sh->native);
    assert_string_equal(sh->config_json, "{}");
    assert_int_equal(sh->timeout_ms, -1);
    assert_int_equal(sh->memory_limit, 64 * MB);
    assert_int_equal(sh->include_body, 0);
    assert_non_null(auth);
    assert_string_equal(auth->config_json,
                        "{\"secret_env\":\"AUTH_SECRET\",\"n\":3,\"f\":-1.5,\"b\":true,\"z\":null,\"s\":\"3\",\"l\":[1,\"a\"],"
                        "\"m\":{\"x\":\"q\\\"uote\"}}");
    assert_int_equal(auth->timeout_ms, 1000);
    assert_int_equal(auth->include_body, 1);
    assert_int_equal(auth->memory_limit, 16 * MB);
    assert_int_equal(sh->fetch_allow.count, 0);
    assert_int_equal(auth->fetch_allow.count, 4);
    assert_string_equal(auth->fetch_allow.names[0], "api.example.com"); /* lower-cased */
    assert_string_equal(auth->fetch_allow.names[1], "example.net:8443");
    assert_string_equal(auth->fetch_allow.names[2], "*.example.org");
    assert_string_equal(auth->fetch_allow.names[3], "media");

    /* behaviors keep their order: the first match wins */
    assert_int_equal(conf->num_behaviors, 5);
    conf_behavior_t *b = conf->behaviors;
    assert_string_equal(b[0].path, "/images/*");
    assert_ptr_equal(b[0].origin, media);
    assert_int_equal(b[0].line, 31);
    assert_int_equal(b[0].cache.enabled, 1);
    assert_int_equal(b[0].cache.min_ttl_ms, 0);
    assert_int_equal(b[0].cache.default_ttl_ms, 86400000);
    assert_int_equal(b[0].cache.max_ttl_ms, 365 * 86400000LL);
    assert_int_equal(b[0].cache.stale_while_revalidate_ms, 60000);
    assert_int_equal(b[0].cache.stale_if_error_ms, 3600000);
    assert_int_equal(b[0].cache.error_ttl_ms, 30000);
    assert_int_equal(b[0].cache.query_mode, CONF_KEY_LIST);
    assert_int_equal(b[0].cache.query.count, 2);
    assert_string_equal(b[0].cache.query.names[0], "w");
    assert_string_equal(b[0].cache.query.names[1], "h");
    assert_int_equal(b[0].cache.headers.count, 2);
    assert_string_equal(b[0].cache.headers.names[0], "accept"); /* header names are lowercased */
    assert_string_equal(b[0].cache.headers.names[1], "x-device");
    assert_int_equal(b[0].cache.cookie_mode, CONF_KEY_EXCEPT);
    assert_int_equal(b[0].cache.cookies.count, 1);
    assert_string_equal(b[0].cache.cookies.names[0], "session");
    assert_string_equal(b[0].hooks[CONF_HOOK_VIEWER_REQUEST], "auth@live");
    assert_string_equal(b[0].hooks[CONF_HOOK_VIEWER_RESPONSE], "security-headers@3");
    assert_null(b[0].hooks[CONF_HOOK_ORIGIN_REQUEST]);
    assert_null(b[0].hooks[CONF_HOOK_ORIGIN_RESPONSE]);

    assert_string_equal(b[1].path, "/api/*");
    assert_ptr_equal(b[1].origin, web);
    assert_int_equal(b[1].cache.enabled, 0);
    assert_string_equal(b[1].hooks[CONF_HOOK_ORIGIN_REQUEST], "auth");
    assert_string_equal(b[1].hooks[CONF_HOOK_ORIGIN_RESPONSE], "auth");

    assert_int_equal(b[2].cache.query_mode, CONF_KEY_NONE);
    assert_int_equal(b[2].cache.headers.count, 0);
    assert_int_equal(b[2].cache.cookie_mode, CONF_KEY_ALL);

    assert_ptr_equal(b[3].origin, remote);
    assert_int_equal(b[3].cache.enabled, 0);
    assert_int_equal(b[3].cache.query_mode, CONF_KEY_EXCEPT);
    assert_string_equal(b[3].cache.query.names[0], "utm_source");

    assert_string_equal(b[4].path, "*");
    assert_int_equal(b[4].line, 41);

    assert_int_equal(conf->store.enabled, 1);
    assert_int_equal(conf->store.listen.port, 9000);
    assert_null(conf->store.listen.tls_certificate);
    assert_string_equal(conf->store.root, "/tmp/edgehook-data");
    assert_string_equal(conf->store.domain, "s3.example.test");
    assert_string_equal(conf->store.region, "eu-central-1");
    assert_int_equal(conf->store.num_keys, 1);
    assert_int_equal(conf->store.keys_list, 0);
    assert_string_equal(conf->store.keys[0].cred.access_key, "EXAMPLEKEY");
    assert_string_equal(conf->store.keys[0].cred.secret_key, "EXAMPLESECRET");
    assert_int_equal(conf->store.keys[0].num_buckets, 0);
    assert_int_equal(conf->store.keys[0].read_only, 0);
    assert_int_equal(conf->store.max_put_size, 1024 * MB);
    assert_int_equal(conf->store.io_threads, 3);
    assert_int_equal(conf->store.line, 43);

    assert_int_equal(conf->admin.enabled, 1);
    assert_int_equal(conf->admin.listen.port, 9901);
    assert_string_equal(conf->admin.token, "s3cr3t-admin-token");
    assert_int_equal(conf->admin.line, 51);
    conf_free(conf);
}

static void test_small_forms(void **state)
{
    conf_t *conf;

    /* listen as one map; threads as a number; access_log on with its defaults; cache: on */
    conf = load_ok("threads: 1\n"
                   "listen: {port: 0}\n"
                   "access_log: {}\n"
                   "origins: {web: {type: http, url: \"http://localhost\"}}\n"
                   "behaviors: [{path: /, origin: web, cache: on}]\n");
    assert_int_equal(conf->threads, 1);
    assert_int_equal(conf->num_listen, 1);
    assert_string_equal(conf->listen[0].host, "127.0.0.1");
    assert_int_equal(conf->listen[0].port, 0); /* ephemeral */
    assert_string_equal(conf->access_log.path, "-");
    assert_int_equal(conf->access_log.json, 0);
    assert_int_equal(conf->origins[0].port, 80);
    assert_string_equal(conf->origins[0].host, "localhost");
    assert_int_equal(conf->behaviors[0].cache.enabled, 1);
    conf_free(conf);

    /* access_log: off, https default port, store defaults, admin token inline, max_object_size defaults to memory/8 */
    conf = load_ok("threads: auto\n"
                   "listen: [{host: 0.0.0.0, port: 8080}]\n"
                   "access_log: off\n"
                   "cache: {memory: 64MB}\n"
                   "origins: {s: {type: s3, endpoint: \"https://s3.amazonaws.com\", bucket: b, addressing: path}}\n"
                   "behaviors: [{path: \"*\", origin: s}]\n"
                   "store: {listen: {port: 9000}}\n"
                   "admin: {listen: {port: 9901}, token: \"0123456789abcdef\"}\n");
    assert_null(conf->access_log.path);
    assert_int_equal(conf->cache.memory, 64 * MB);
    assert_int_equal(conf->cache.max_object_size, 8 * MB);
    assert_int_equal(conf->origins[0].https, 1);
    assert_int_equal(conf->origins[0].port, 443);
    assert_int_equal(conf->origins[0].addressing, CONF_S3_PATH);
    assert_int_equal(conf->store.enabled, 1);
    assert_string_equal(conf->store.listen.host, "127.0.0.1");
    assert_string_equal(conf->store.root, "./data");
    assert_string_equal(conf->store.domain, "s3.localhost");
    assert_string_equal(conf->store.region, "us-east-1");
    assert_int_equal(conf->store.num_keys, 0); /* generated on first start */
    assert_int_equal(conf->store.max_put_size, 5ull * 1024 * MB);
    assert_int_equal(conf->store.threads, 2);
    assert_int_equal(conf->store.io_threads, 1);
    assert_string_equal(conf->admin.token, "0123456789abcdef");
    assert_string_equal(conf->admin.listen.host, "127.0.0.1");
    conf_free(conf);

    /* port 0 twice is fine: each gets its own ephemeral port; different hosts on one port are fine */
    conf = load_ok("listen: [{port: 0}, {port: 0}, {host: 127.0.0.1, port: 80}, {host: 127.0.0.2, port: 80}]\n"
                   "origins: {a: {type: http, url: \"http://[2001:db8::1]:8080/\"}}\n"
                   "behaviors: [{path: \"*\", origin: a}]\n"
                   "store: {listen: {port: 0}}\n"
                   "admin: {listen: {port: 0}, token: abcdefgh}\n");
    assert_string_equal(conf->origins[0].host, "2001:db8::1");
    assert_int_equal(conf->origins[0].port, 8080);
    assert_string_equal(conf->origins[0].path_prefix, "");
    conf_free(conf);

    /* YAML features: comments, anchors and aliases, quoted keys, a document start marker, CRLF line ends */
    conf = load_ok("---\r\n"
                   "# comment\r\n"
                   "\"listen\": [{port: 8080}]\r\n"
                   "origins:\r\n"
                   "  web: &o {type: http, url: \"http://127.0.0.1:9000\"}\r\n"
                   "  web2: *o\r\n"
                   "behaviors:\r\n"
                   "  - {path: \"/a\", origin: web2}\r\n"
                   "  - {path: \"*\", origin: web}\r\n"
                   "...\r\n");
    assert_int_equal(conf->num_origins, 2);
    assert_int_equal(conf->origins[1].port, 9000);
    assert_int_equal(conf->behaviors[1].line, 9);
    conf_free(conf);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* broken configs: each gives exactly one `t.yaml:LINE: KEY: reason`                                                    */

/* one line each, so that line numbers can be counted: 1 listen, 2 origins, 3 behaviors */
#define L "listen: [{port: 8080}]\n"
#define O "origins: {web: {type: http, url: \"http://127.0.0.1:9000\"}}\n"
#define B "behaviors: [{path: \"*\", origin: web}]\n"

typedef struct {
    const char *what;
    const char *yaml;
    const char *want; /* without the leading "t.yaml:" */
} bad_t;

static const bad_t bad[] = {
    /* unknown keys at every level, with a suggestion when one is close */
    {"top level typo", L O B "listne: []\n", "4: listne: unknown key (did you mean \"listen\"?)"},
    {"top level unknown", "foo: 1\n" L O B, "1: foo: unknown key"},
    {"top level case", L O B "Threads: 2\n", "4: Threads: unknown key (did you mean \"threads\"?)"},
    {"listen", "listen: [{host: 127.0.0.1, prot: 8080}]\n" O B, "1: listen[0].prot: unknown key (did you mean \"port\"?)"},
    {"listen 2nd", "listen:\n  - {port: 1}\n  - {port: 2, hots: x}\n" O B,
     "3: listen[1].hots: unknown key (did you mean \"host\"?)"},
    {"listen map", "listen: {port: 1, ssl: {}}\n" O B, "1: listen.ssl: unknown key"},
    {"tls", "listen: [{port: 1, tls: {certificate: " CERT ", kye: " KEY "}}]\n" O B,
     "1: listen[0].tls.kye: unknown key (did you mean \"key\"?)"},
    {"access_log", L O B "access_log: {path: \"-\", fromat: json}\n",
     "4: access_log.fromat: unknown key (did you mean \"format\"?)"},
    {"error_log", L O B "error_log: {levle: debug}\n", "4: error_log.levle: unknown key (did you mean \"level\"?)"},
    {"limits", L O B "limits:\n  shutdown_grase: 1s\n", "5: limits.shutdown_grase: unknown key (did you mean \"shutdown_grace\"?)"},
    {"limits far", L O B "limits: {max_body: 1MB}\n", "4: limits.max_body: unknown key"},
    {"origin", L "origins:\n  web:\n    type: http\n    url: \"http://a\"\n    conect_timeout: 2s\n" B,
     "6: origins.web.conect_timeout: unknown key (did you mean \"connect_timeout\"?)"},
    {"origin credentials", L "origins: {s: {type: s3, endpoint: \"http://a\", bucket: b, credentials: {acces_key: x}}}\n" B,
     "2: origins.s.credentials.acces_key: unknown key (did you mean \"access_key\"?)"},
    {"cache", L O B "cache: {memroy: 1GB}\n", "4: cache.memroy: unknown key (did you mean \"memory\"?)"},
    {"hook", L O "hooks:\n  auth: {lau: x.lua}\n" B, "4: hooks.auth.lau: unknown key (did you mean \"lua\"?)"},
    {"behavior", L O "behaviors: [{path: \"*\", orign: web}]\n", "3: behaviors[0].orign: unknown key (did you mean \"origin\"?)"},
    {"behavior cache", L O "behaviors: [{path: \"*\", origin: web, cache: {min_tll: 1s}}]\n",
     "3: behaviors[0].cache.min_tll: unknown key (did you mean \"min_ttl\"?)"},
    {"behavior cache key", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {querry: all}}}]\n",
     "3: behaviors[0].cache.key.querry: unknown key (did you mean \"query\"?)"},
    {"behavior cache key except", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {query: {excpet: [a]}}}}]\n",
     "3: behaviors[0].cache.key.query.excpet: unknown key (did you mean \"except\"?)"},
    {"behavior hook event",
     L O "hooks: {auth: {lua: " LUA "}}\nbehaviors:\n  - {path: \"*\", origin: web, hooks: {viewer-requset: auth}}\n",
     "5: behaviors[0].hooks.viewer-requset: unknown key (did you mean \"viewer-request\"?)"},
    {"behavior hook event underscore",
     L O "hooks: {auth: {lua: " LUA "}}\n"
         "behaviors: [{path: \"*\", origin: web, hooks: {viewer_request: auth}}]\n",
     "4: behaviors[0].hooks.viewer_request: unknown key (did you mean \"viewer-request\"?)"},
    {"store", L O B "store: {listen: {port: 9000}, rot: ./d}\n", "4: store.rot: unknown key (did you mean \"root\"?)"},
    {"store listen tls", L O B "store: {listen: {port: 9000, tls: {}}}\n", "4: store.listen.tls: unknown key"},
    {"admin", L O B "admin: {listen: {port: 9901}, tokn: abcdefgh}\n", "4: admin.tokn: unknown key (did you mean \"token\"?)"},
    {"non-scalar key", L O B "? [a, b]\n: 1\n", "4: (file): expected a name as the key, got a list"},

    /* duplicate keys */
    {"duplicate top", L O B "listen: [{port: 1}]\n", "4: listen: duplicate key (first given on line 1)"},
    {"duplicate in origin", L "origins: {web: {type: http, url: \"http://a\", type: s3}}\n" B,
     "2: origins.web.type: duplicate key (first given on line 2)"},
    {"duplicate origin", L "origins:\n  web: {type: http, url: \"http://a\"}\n  web: {type: http, url: \"http://b\"}\n" B,
     "4: origins.web: duplicate key (first given on line 3)"},
    {"duplicate hook", L O "hooks:\n  h: {lua: " LUA "}\n  h: {lua: " LUA "}\n" B,
     "5: hooks.h: duplicate key (first given on line 4)"},
    {"duplicate in hook config", L O "hooks:\n  h:\n    lua: " LUA "\n    config:\n      a: 1\n      b: 2\n      a: 3\n" B,
     "9: hooks.h.config: duplicate key \"a\" (first given on line 7)"},
    {"duplicate event",
     L O "hooks: {h: {lua: " LUA "}}\nbehaviors:\n  - path: \"*\"\n    origin: web\n    hooks:\n"
         "      viewer-request: h\n      viewer-request: h\n",
     "9: behaviors[0].hooks.viewer-request: duplicate key (first given on line 8)"},

    /* wrong types: map vs list vs scalar */
    {"listen scalar", "listen: 8080\n" O B, "1: listen: expected a list of {host, port[, tls]}, got \"8080\""},
    {"listen item scalar", "listen: [8080]\n" O B, "1: listen[0]: expected a map, got \"8080\""},
    {"listen empty", "listen:\n" O B, "1: listen: expected a list of {host, port[, tls]}, got an empty value"},
    {"listen empty list", "listen: []\n" O B, "1: listen: at least one listener is required"},
    {"origins list", L "origins: [web]\n" B, "2: origins: expected a map, got a list"},
    {"origin scalar", L "origins: {web: \"http://127.0.0.1\"}\n" B, "2: origins.web: expected a map, got \"http://127.0.0.1\""},
    {"origin block list", L "origins:\n  web:\n    - type: http\n" B, "3: origins.web: expected a map, got a list"},
    {"behaviors map", L O "behaviors: {path: \"*\", origin: web}\n",
     "3: behaviors: expected a list of {path, origin, ...}, got a map"},
    {"behavior scalar", L O "behaviors: [\"*\"]\n", "3: behaviors[0]: expected a map, got \"*\""},
    {"limits scalar", L O B "limits: 16MB\n", "4: limits: expected a map, got \"16MB\""},
    {"cache list", L O B "cache: [256MB]\n", "4: cache: expected a map, got a list"},
    {"hooks list", L O "hooks: [a]\n" B, "3: hooks: expected a map, got a list"},
    {"hook scalar", L O "hooks: {a: " LUA "}\n" B, "3: hooks.a: expected a map, got \"tests/data/configs/hooks/passthrough.lua\""},
    {"store scalar", L O B "store: on\n", "4: store: expected a map, got \"on\""},
    {"admin list", L O B "admin:\n  - 1\n", "4: admin: expected a map, got a list"},
    {"path list", L O "behaviors: [{path: [a], origin: web}]\n", "3: behaviors[0].path: expected a string, got a list"},
    {"origin name map", L O "behaviors: [{path: \"*\", origin: {web: 1}}]\n",
     "3: behaviors[0].origin: expected a string, got a map"},
    {"host empty", "listen: [{host: \"\", port: 1}]\n" O B, "1: listen[0].host: must not be empty"},
    {"host brackets", "listen: [{host: \"[::1]\", port: 1}]\n" O B,
     "1: listen[0].host: \"[::1]\": write an IPv6 address without brackets (e.g. ::1)"},
    {"host url", "listen: [{host: \"http://0.0.0.0\", port: 1}]\n" O B,
     "1: listen[0].host: \"http://0.0.0.0\" is not a host name or an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1, localhost)"},
    {"host colon port", "listen: [{host: \"127.0.0.1:8080\", port: 8080}]\n" O B,
     "1: listen[0].host: \"127.0.0.1:8080\": give the port in port:, not in host"},
    {"host with port", "listen: [{host: \"127.0.0.1 8080\"}]\n" O B,
     "1: listen[0].host: \"127.0.0.1 8080\" is not a host name or an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1, localhost)"},
    {"url list", L "origins: {web: {type: http, url: [a]}}\n" B, "2: origins.web.url: expected a string, got a list"},
    {"threads word", L O B "threads: many\n", "4: threads: must be auto or a number between 1 and 128"},
    {"threads zero", L O B "threads: 0\n", "4: threads: must be auto or a number between 1 and 128"},
    {"threads big", L O B "threads: 129\n", "4: threads: must be auto or a number between 1 and 128"},
    {"threads negative", L O B "threads: -1\n", "4: threads: must be auto or a number between 1 and 128"},
    {"threads fraction", L O B "threads: 1.5\n", "4: threads: must be auto or a number between 1 and 128"},
    {"threads list", L O B "threads: [1]\n", "4: threads: expected auto or a number between 1 and 128, got a list"},
    {"tls_verify", L "origins: {web: {type: http, url: \"https://a\", tls_verify: maybe}}\n" B,
     "2: origins.web.tls_verify: must be true or false"},
    {"behavior cache word", L O "behaviors: [{path: \"*\", origin: web, cache: sometimes}]\n",
     "3: behaviors[0].cache: must be a map {min_ttl, default_ttl, max_ttl, key, ...} or off"},
    {"behavior cache enabled", L O "behaviors: [{path: \"*\", origin: web, cache: {enabled: 2}}]\n",
     "3: behaviors[0].cache.enabled: must be true or false"},
    {"key headers all", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {headers: all}}}]\n",
     "3: behaviors[0].cache.key.headers: must be a list of header names (all headers in the key would defeat the cache)"},
    {"key headers except", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {headers: {except: [a]}}}}]\n",
     "3: behaviors[0].cache.key.headers: expected none or a list of names, got a map"},
    {"key query word", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {query: some}}}]\n",
     "3: behaviors[0].cache.key.query: must be none, all, a list of names or {except: [names]}"},
    {"key query item", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {query: [a, [b]]}}}]\n",
     "3: behaviors[0].cache.key.query: expected names in the list, got a list"},
    {"key cookies except empty", L O "behaviors: [{path: \"*\", origin: web, cache: {key: {cookies: {}}}}]\n",
     "3: behaviors[0].cache.key.cookies: a map here must be {except: [names]}"},
    {"key not map", L O "behaviors: [{path: \"*\", origin: web, cache: {key: all}}]\n",
     "3: behaviors[0].cache.key: expected a map, got \"all\""},
    {"access_log format", L O B "access_log: {format: xml}\n", "4: access_log.format: must be combined or json"},
    {"access_log path", L O B "access_log: \"-\"\n", "4: access_log: expected a map {path, format} or off, got \"-\""},
    {"error_log level", L O B "error_log: {level: verbose}\n", "4: error_log.level: must be error, warn, info or debug"},
    {"hook config list", L O "hooks: {h: {lua: " LUA ", config: [1]}}\n" B, "3: hooks.h.config: expected a map, got a list"},
    {"hook include_body", L O "hooks: {h: {lua: " LUA ", include_body: 1}}\n" B, "3: hooks.h.include_body: must be true or false"},
    {"hook fetch_allow scalar", L O "hooks: {h: {lua: " LUA ", fetch_allow: a.com}}\n" B,
     "3: hooks.h.fetch_allow: expected a list of names, got \"a.com\""},
    {"hook fetch_allow url", L O "hooks: {h: {lua: " LUA ", fetch_allow: [\"http://a.com/\"]}}\n" B,
     "3: hooks.h.fetch_allow: \"http://a.com/\" is not a host, host:port, *.domain or origin name"},
    {"hook fetch_allow port", L O "hooks: {h: {lua: " LUA ", fetch_allow: [\"a.com:99999\"]}}\n" B,
     "3: hooks.h.fetch_allow: \"a.com:99999\" is not a host, host:port, *.domain or origin name"},
    {"hook fetch_allow wildcard", L O "hooks: {h: {lua: " LUA ", fetch_allow: [\"a.*.com\"]}}\n" B,
     "3: hooks.h.fetch_allow: \"a.*.com\" is not a host, host:port, *.domain or origin name"},
    {"s3 addressing", L "origins: {s: {type: s3, endpoint: \"http://a\", bucket: b, addressing: host}}\n" B,
     "2: origins.s.addressing: must be path, virtual or auto"},

    /* sizes and durations */
    {"size unit", L O B "limits: {max_request_body: 16XB}\n",
     "4: limits.max_request_body: invalid size \"16XB\" (write e.g. 512KB, 256MB, 2GB)"},
    {"size negative", L O B "cache: {memory: -1GB}\n", "4: cache.memory: invalid size \"-1GB\" (write e.g. 512KB, 256MB, 2GB)"},
    {"size overflow", L O B "cache: {memory: 99999999999TB}\n",
     "4: cache.memory: invalid size \"99999999999TB\" (write e.g. 512KB, 256MB, 2GB)"},
    {"size map", L O B "cache: {memory: {a: 1}}\n", "4: cache.memory: expected a size, got a map"},
    {"duration bare", L O B "limits: {shutdown_grace: 30}\n",
     "4: limits.shutdown_grace: invalid duration \"30\" (write e.g. 500ms, 30s, 5m, 1h, 1d)"},
    {"duration unit", L "origins: {web: {type: http, url: \"http://a\", connect_timeout: 2 seconds}}\n" B,
     "2: origins.web.connect_timeout: invalid duration \"2 seconds\" (write e.g. 500ms, 30s, 5m, 1h, 1d)"},
    {"duration negative", L "origins: {web: {type: http, url: \"http://a\", read_timeout: -1s}}\n" B,
     "2: origins.web.read_timeout: invalid duration \"-1s\" (write e.g. 500ms, 30s, 5m, 1h, 1d)"},
    {"duration zero", L "origins: {web: {type: http, url: \"http://a\", connect_timeout: 0s}}\n" B,
     "2: origins.web.connect_timeout: must be greater than zero"},
    {"ttl duration", L O "behaviors: [{path: \"*\", origin: web, cache: {max_ttl: forever}}]\n",
     "3: behaviors[0].cache.max_ttl: invalid duration \"forever\" (write e.g. 500ms, 30s, 5m, 1h, 1d)"},
    {"cache memory small", L O B "cache: {memory: 512KB}\n", "4: cache.memory: must be at least 1MB"},
    {"max_object_size", L O B "cache:\n  memory: 256MB\n  max_object_size: 1GB\n",
     "6: cache.max_object_size: is larger than cache.memory"},
    {"max_object_size zero", L O B "cache: {max_object_size: 0}\n", "4: cache.max_object_size: must be greater than zero"},
    {"max_request_body", L O B "limits: {max_request_body: 2GB}\n",
     "4: limits.max_request_body: must be at most 1GB (request bodies are buffered in memory)"},
    {"client_timeout", L O B "limits: {client_timeout: 50ms}\n", "4: limits.client_timeout: must be at least 100ms"},
    {"max_streams", L O B "limits: {max_streams_per_connection: 0}\n",
     "4: limits.max_streams_per_connection: must be a number between 1 and 1000"},
    {"hook timeout", L O "hooks: {h: {lua: " LUA ", timeout: 10m}}\n" B, "3: hooks.h.timeout: must be between 1ms and 5m"},
    {"hook memory", L O "hooks: {h: {lua: " LUA ", memory: 512KB}}\n" B, "3: hooks.h.memory: must be at least 1MB"},
    {"store max_put_size", L O B "store: {listen: {port: 9000}, max_put_size: 10GB}\n",
     "4: store.max_put_size: must be between 1KB and 5GB"},
    {"store threads", L O B "store: {listen: {port: 9000}, threads: 0}\n", "4: store.threads: must be a number between 1 and 64"},
    {"store io_threads", L O B "store: {listen: {port: 9000}, io_threads: 17}\n",
     "4: store.io_threads: must be a number between 1 and 16"},

    /* ports and listeners */
    {"port high", "listen: [{port: 65536}]\n" O B, "1: listen[0].port: must be a number between 0 and 65535"},
    {"port negative", "listen: [{port: -1}]\n" O B, "1: listen[0].port: must be a number between 0 and 65535"},
    {"port word", "listen: [{port: http}]\n" O B, "1: listen[0].port: must be a number between 0 and 65535"},
    {"port huge", "listen: [{port: 99999999999999999999999}]\n" O B, "1: listen[0].port: must be a number between 0 and 65535"},
    {"listen without port", "listen:\n  - {host: 127.0.0.1, port: 1}\n  - {host: 127.0.0.1}\n" O B,
     "3: listen[1]: port is required"},
    {"store listen without port", L O B "store:\n  listen: {host: 127.0.0.1}\n", "5: store.listen: port is required"},
    {"store without listen", L O B "store: {root: ./data}\n", "4: store: listen is required"},
    {"seed scalar", L O B "store: {listen: {port: 9000}, seed: site}\n",
     "4: store.seed: expected a map {bucket: NAME, dir: PATH} or a list of them, got \"site\""},
    {"seed unknown key", L O B "store: {listen: {port: 9000}, seed: {bucket: site, dir: tests, dri: x}}\n",
     "4: store.seed.dri: unknown key (did you mean \"dir\"?)"},
    {"seed without bucket", L O B "store:\n  listen: {port: 9000}\n  seed:\n    dir: tests\n",
     "6: store.seed: bucket is required (the bucket to create, e.g. site)"},
    {"seed without dir", L O B "store:\n  listen: {port: 9000}\n  seed: [{bucket: site}]\n",
     "6: store.seed[0]: dir is required (the directory whose files fill the bucket)"},
    {"seed bad bucket", L O B "store: {listen: {port: 9000}, seed: {bucket: My_Site, dir: tests}}\n",
     "4: store.seed.bucket: \"My_Site\" is not a valid bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends, none of S3's reserved prefixes and suffixes such as xn-- or -s3alias)"},
    {"seed ip bucket", L O B "store: {listen: {port: 9000}, seed: {bucket: 192.168.1.1, dir: tests}}\n",
     "4: store.seed.bucket: \"192.168.1.1\" is not a valid bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends, none of S3's reserved prefixes and suffixes such as xn-- or -s3alias)"},
    {"seed dotdot bucket", L O B "store: {listen: {port: 9000}, seed: {bucket: a..b, dir: tests}}\n",
     "4: store.seed.bucket: \"a..b\" is not a valid bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends, none of S3's reserved prefixes and suffixes such as xn-- or -s3alias)"},
    {"seed short bucket", L O B "store: {listen: {port: 9000}, seed: {bucket: ab, dir: tests}}\n",
     "4: store.seed.bucket: \"ab\" is not a valid bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends, none of S3's reserved prefixes and suffixes such as xn-- or -s3alias)"},
    {"seed reserved bucket", L O B "store: {listen: {port: 9000}, seed: {bucket: xn--site, dir: tests}}\n",
     "4: store.seed.bucket: \"xn--site\" is not a valid bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends, none of S3's reserved prefixes and suffixes such as xn-- or -s3alias)"},
    {"seed bucket list", L O B "store: {listen: {port: 9000}, seed: {bucket: [a], dir: tests}}\n",
     "4: store.seed.bucket: expected a string, got a list"},
    {"seed missing dir", L O B "store: {listen: {port: 9000}, seed: {bucket: site, dir: /nonexistent/site}}\n",
     "4: store.seed.dir: cannot read \"/nonexistent/site\": No such file or directory"},
    {"seed dir is a file", L O B "store: {listen: {port: 9000}, seed: {bucket: site, dir: " LUA "}}\n",
     "4: store.seed.dir: \"" LUA "\" is not a directory"},
    {"seed empty dir", L O B "store: {listen: {port: 9000}, seed: {bucket: site, dir: \"\"}}\n",
     "4: store.seed.dir: must not be empty"},
    {"seed item scalar", L O B "store:\n  listen: {port: 9000}\n  seed:\n    - {bucket: site, dir: tests}\n    - site\n",
     "8: store.seed[1]: expected a map {bucket: NAME, dir: PATH}, got \"site\""},
    {"seed twice",
     L O B "store:\n  listen: {port: 9000}\n  seed:\n    - {bucket: site, dir: tests}\n    - {bucket: site, dir: conf}\n",
     "8: store.seed[1].bucket: \"site\" is already seeded by store.seed[0] (line 7)"},
    {"admin without listen", L O B "admin: {token: abcdefghij}\n", "4: admin: listen is required"},
    {"tls missing key", "listen:\n  - port: 8443\n    tls:\n      certificate: " CERT "\n" O B,
     "3: listen[0].tls: needs both certificate and key"},
    {"tls scalar", "listen: [{port: 8443, tls: on}]\n" O B, "1: listen[0].tls: expected a map, got \"on\""},
    {"tls unreadable cert", "listen: [{port: 8443, tls: {certificate: /nonexistent/cert.pem, key: " KEY "}}]\n" O B,
     "1: listen[0].tls.certificate: cannot read \"/nonexistent/cert.pem\": No such file or directory"},
    {"tls unreadable key", "listen:\n  - port: 8443\n    tls:\n      certificate: " CERT "\n      key: missing.key\n" O B,
     "5: listen[0].tls.key: cannot read \"missing.key\": No such file or directory"},
    {"duplicate listeners", "listen:\n  - {host: 127.0.0.1, port: 8080}\n  - {host: 127.0.0.1, port: 8080}\n" O B,
     "3: listen[1]: 127.0.0.1 port 8080 is already used by listen[0] (line 2)"},
    {"wildcard overlap", "listen:\n  - {host: 0.0.0.0, port: 8080}\n  - {host: 127.0.0.1, port: 8080}\n" O B,
     "3: listen[1]: 127.0.0.1 port 8080 is already used by listen[0] (line 2)"},
    {"store on a listener", L O B "store: {listen: {port: 8080}}\n",
     "4: store.listen: 127.0.0.1 port 8080 is already used by listen[0] (line 1)"},
    {"admin on the store", L O B "store:\n  listen: {port: 9000}\nadmin:\n  listen: {port: 9000}\n  token: abcdefgh\n",
     "7: admin.listen: 127.0.0.1 port 9000 is already used by store.listen (line 5)"},
    {"single listen map dup", "listen: {port: 9901}\n" O B "admin: {listen: {port: 9901}, token: abcdefgh}\n",
     "4: admin.listen: 127.0.0.1 port 9901 is already used by listen (line 1)"},

    /* origins */
    {"no origins", L B, "1: origins: at least one origin is required"},
    {"empty origins", L "origins: {}\n" B, "2: origins: at least one origin is required"},
    {"origin name", L "origins: {\"my web\": {type: http, url: \"http://a\"}}\n" B,
     "2: origins: \"my web\": an origin name is letters, digits, - _ . (at most 128)"},
    {"origin missing type", L "origins:\n  web:\n    url: \"http://a\"\n" B, "3: origins.web: type is required (http or s3)"},
    {"origin type", L "origins: {web: {type: ftp, url: \"http://a\"}}\n" B,
     "2: origins.web.type: unknown origin type \"ftp\" (http or s3)"},
    {"origin missing url", L "origins:\n  web:\n    type: http\n    connect_timeout: 1s\n" B,
     "3: origins.web: url is required for an http origin"},
    {"url scheme", L "origins: {web: {type: http, url: \"ftp://a\"}}\n" B,
     "2: origins.web.url: \"ftp://a\" must start with http:// or https://"},
    {"url no scheme", L "origins: {web: {type: http, url: \"127.0.0.1:9000\"}}\n" B,
     "2: origins.web.url: \"127.0.0.1:9000\" must start with http:// or https://"},
    {"url newline", L "origins: {web: {type: http, url: \"ftp://a\\nb\\x01\"}}\n" B,
     "2: origins.web.url: \"ftp://a\\nb\\x01\" must start with http:// or https://"}, /* one line, whatever the value holds */
    {"url no host", L "origins: {web: {type: http, url: \"http:///x\"}}\n" B, "2: origins.web.url: \"http:///x\" has no host"},
    {"url userinfo", L "origins: {web: {type: http, url: \"http://u:p@a\"}}\n" B,
     "2: origins.web.url: \"http://u:p@a\": user:password@ in a URL is not supported (use credentials or host_header)"},
    {"url host char", L "origins: {web: {type: http, url: \"http://a_b!c\"}}\n" B,
     "2: origins.web.url: \"http://a_b!c\": invalid character in host"},
    {"url port", L "origins: {web: {type: http, url: \"http://127.0.0.1:99999\"}}\n" B,
     "2: origins.web.url: \"http://127.0.0.1:99999\": invalid port (1-65535)"},
    {"url port zero", L "origins: {web: {type: http, url: \"http://a:0\"}}\n" B,
     "2: origins.web.url: \"http://a:0\": invalid port (1-65535)"},
    {"url port empty", L "origins: {web: {type: http, url: \"http://a:/\"}}\n" B,
     "2: origins.web.url: \"http://a:/\": invalid port (1-65535)"},
    {"url port junk", L "origins: {web: {type: http, url: \"http://a:80x\"}}\n" B,
     "2: origins.web.url: \"http://a:80x\": invalid port (1-65535)"},
    {"url query", L "origins: {web: {type: http, url: \"http://a/x?b=1\"}}\n" B,
     "2: origins.web.url: \"http://a/x?b=1\": a query or fragment is not allowed here"},
    {"url query no path", L "origins: {web: {type: http, url: \"http://a?b\"}}\n" B,
     "2: origins.web.url: \"http://a?b\": a query or fragment is not allowed here"},
    {"url fragment", L "origins: {web: {type: http, url: \"http://a:81#f\"}}\n" B,
     "2: origins.web.url: \"http://a:81#f\": a query or fragment is not allowed here"},
    {"url ipv6", L "origins: {web: {type: http, url: \"http://[::1\"}}\n" B,
     "2: origins.web.url: \"http://[::1\": unterminated IPv6 address"},
    {"url after ipv6", L "origins: {web: {type: http, url: \"http://[::1]x\"}}\n" B,
     "2: origins.web.url: \"http://[::1]x\": unexpected characters after the host"},
    {"s3 key on http", L "origins: {web: {type: http, url: \"http://a\", bucket: b}}\n" B,
     "2: origins.web.bucket: only for origins of type s3"},
    {"s3 without bucket", L "origins:\n  s:\n    type: s3\n    endpoint: embedded\n" B "store: {listen: {port: 9000}}\n",
     "3: origins.s: bucket is required for an s3 origin"},
    {"s3 without endpoint", L "origins: {s: {type: s3, bucket: b}}\n" B,
     "2: origins.s: endpoint is required for an s3 origin (embedded or a URL)"},
    {"s3 with url", L "origins: {s: {type: s3, url: \"http://a\", bucket: b}}\n" B,
     "2: origins.s.url: an s3 origin takes endpoint, not url"},
    {"s3 bad endpoint", L "origins: {s: {type: s3, endpoint: s3.amazonaws.com, bucket: b}}\n" B,
     "2: origins.s.endpoint: \"s3.amazonaws.com\" must start with http:// or https://"},
    {"s3 embedded without store",
     L "origins:\n  s:\n    type: s3\n    endpoint: embedded\n    bucket: b\nbehaviors: [{path: \"*\", origin: s}]\n",
     "5: origins.s.endpoint: embedded needs a store: section (the embedded S3 store is off)"},
    {"s3 half credentials", L "origins: {s: {type: s3, endpoint: \"http://a\", bucket: b, credentials: {access_key: AK}}}\n" B,
     "2: origins.s.credentials: needs both an access key and a secret key"},
    {"s3 key and env",
     L "origins: {s: {type: s3, endpoint: \"http://a\", bucket: b, credentials: {access_key: AK, access_key_env: X}}}\n" B,
     "2: origins.s.credentials.access_key_env: give either access_key or access_key_env, not both"},
    {"s3 env unset",
     L "origins: {s: {type: s3, endpoint: \"http://a\", bucket: b, credentials: {access_key_env: " UNSET_VAR
       ", secret_key: x}}}\n" B,
     "2: origins.s.credentials.access_key_env: environment variable " UNSET_VAR " is not set"},
    {"max_connections", L "origins: {web: {type: http, url: \"http://a\", max_connections: 0}}\n" B,
     "2: origins.web.max_connections: must be a number between 1 and 1000000"},
    {"retries", L "origins: {web: {type: http, url: \"http://a\", retries: 9}}\n" B,
     "2: origins.web.retries: must be a number between 0 and 5"},
    {"ca_file", L "origins: {web: {type: http, url: \"https://a\", ca_file: /nonexistent/ca.pem}}\n" B,
     "2: origins.web.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory"},

    /* behaviors */
    {"no behaviors", L O, "1: behaviors: at least one behavior is required (e.g. - {path: \"*\", origin: NAME})"},
    {"empty behaviors", L O "behaviors: []\n", "3: behaviors: at least one behavior is required"},
    {"null behaviors", L O "behaviors:\n", "3: behaviors: expected a list of {path, origin, ...}, got an empty value"},
    {"unknown origin", L O "behaviors:\n  - {path: \"/a\", origin: web}\n  - {path: \"*\", origin: api}\n",
     "5: behaviors[1].origin: no origin named \"api\" in origins"},
    {"unknown origin close", L O "behaviors: [{path: \"*\", origin: wbe}]\n",
     "3: behaviors[0].origin: no origin named \"wbe\" in origins (did you mean \"web\"?)"},
    {"behavior without path", L O "behaviors:\n  - origin: web\n",
     "4: behaviors[0]: path is required (e.g. \"/images/*\" or \"*\")"},
    {"behavior without origin", L O "behaviors: [{path: \"*\"}]\n", "3: behaviors[0]: origin is required"},
    {"path pattern", L O "behaviors: [{path: \"images/*\", origin: web}]\n",
     "3: behaviors[0].path: a path pattern starts with / or *"},
    {"duplicate path", L O "behaviors:\n  - {path: \"/a/*\", origin: web}\n  - path: \"/a/*\"\n    origin: web\n",
     "5: behaviors[1].path: \"/a/*\" is already the pattern of behaviors[0] (line 4), which wins: this one would never match"},
    {"min_ttl > max_ttl", L O "behaviors:\n  - path: \"*\"\n    origin: web\n    cache:\n      max_ttl: 1h\n      min_ttl: 1d\n",
     "8: behaviors[0].cache.min_ttl: 1d is greater than max_ttl (1h)"},
    {"default_ttl", L O "behaviors: [{path: \"*\", origin: web, cache: {min_ttl: 1m, default_ttl: 30s}}]\n",
     "3: behaviors[0].cache.default_ttl: 30s must lie between min_ttl and max_ttl"},
    {"unknown hook", L O "hooks: {auth: {lua: " LUA "}}\nbehaviors: [{path: \"*\", origin: web, hooks: {viewer-request: auht}}]\n",
     "4: behaviors[0].hooks.viewer-request: no hook named \"auht\" in hooks (did you mean \"auth\"?)"},
    {"unknown hook no hooks", L O "behaviors: [{path: \"*\", origin: web, hooks: {viewer-request: x}}]\n",
     "3: behaviors[0].hooks.viewer-request: no hook named \"x\" in hooks"},
    {"hook ref empty suffix",
     L O "hooks: {auth: {lua: " LUA "}}\nbehaviors: [{path: \"*\", origin: web, hooks: {origin-request: auth@}}]\n",
     "4: behaviors[0].hooks.origin-request: \"auth@\": an alias or version after @ is letters, digits, - _ ."},
    {"hook ref bad suffix",
     L O "hooks: {auth: {lua: " LUA "}}\nbehaviors: [{path: \"*\", origin: web, hooks: {origin-request: auth@a@b}}]\n",
     "4: behaviors[0].hooks.origin-request: \"auth@a@b\": an alias or version after @ is letters, digits, - _ ."},
    {"hook ref unknown with suffix",
     L O "hooks: {auth: {lua: " LUA "}}\nbehaviors: [{path: \"*\", origin: web, hooks: {origin-response: a@1}}]\n",
     "4: behaviors[0].hooks.origin-response: no hook named \"a\" in hooks"},
    {"hooks not map", L O "hooks: {auth: {lua: " LUA "}}\nbehaviors: [{path: \"*\", origin: web, hooks: [auth]}]\n",
     "4: behaviors[0].hooks: expected a map, got a list"},

    /* hooks */
    {"hook without code", L O "hooks:\n  h:\n    timeout: 1s\n" B, "4: hooks.h: needs lua: FILE.lua or native: FILE.so"},
    {"hook lua unreadable", L O "hooks: {h: {lua: missing.lua}}\n" B,
     "3: hooks.h.lua: cannot read \"missing.lua\": No such file or directory"},
    {"hook native unreadable", L O "hooks: {h: {native: ./libmissing.so}}\n" B,
     "3: hooks.h.native: cannot read \"./libmissing.so\": No such file or directory"},
    {"hook lua and native", L O "hooks: {h: {lua: " LUA ", native: x.so}}\n" B,
     "3: hooks.h.native: a hook is either lua or native, not both"},
    {"hook name", L O "hooks: {\"a@b\": {lua: " LUA "}}\n" B,
     "3: hooks: \"a@b\": a hook name is letters, digits, - _ . (at most 128)"},
    {"hook config deep",
     L O "hooks: {h: {lua: " LUA
         ", config: {a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}\n" B,
     "3: hooks.h.config: is nested too deeply (more than 32 levels)"},

    /* admin */
    {"admin without token", L O B "admin:\n  listen: {port: 9901}\n",
     "4: admin: token or token_env is required: every admin call needs Authorization: Bearer TOKEN"},
    {"admin token_env unset", L O B "admin:\n  listen: {port: 9901}\n  token_env: " UNSET_VAR "\n",
     "6: admin.token_env: environment variable " UNSET_VAR " is not set"},
    {"admin token and env", L O B "admin: {listen: {port: 9901}, token: abcdefgh, token_env: X}\n",
     "4: admin.token_env: give either token or token_env, not both"},
    {"admin token short", L O B "admin:\n  listen: {port: 9901}\n  token: abc\n",
     "6: admin.token: is too short (at least 8 characters)"},

    /* the file itself */
    {"empty file", "", "1: (file): the file is empty (it needs at least listen, origins and behaviors)"},
    {"only comments", "# nothing here\n\n", "1: (file): the file is empty (it needs at least listen, origins and behaviors)"},
    {"a list", "- listen: [{port: 1}]\n", "1: (file): expected a map, got a list"},
    {"a scalar", "hello\n", "1: (file): expected a map, got \"hello\""},
    {"null", "~\n", "1: (file): expected a map, got an empty value"},
    {"two documents", L O B "---\n" L, "4: (file): a second YAML document starts here: a config file holds one"},
    {"syntax unclosed flow", L O "behaviors: [{path: \"*\", origin: web}\n",
     "3: (syntax): did not find expected ',' or ']' while parsing a flow sequence"},
    {"syntax bad indent", "listen:\n  - {port: 1}\n origins: {}\n" B,
     "3: (syntax): did not find expected key while parsing a block mapping that starts on line 1"},
    {"syntax tab", L O "behaviors:\n\t- {path: \"*\", origin: web}\n",
     "4: (syntax): found character that cannot start any token while scanning for the next token"},
    {"syntax mapping value", L O "behaviors: a: b\n", "3: (syntax): mapping values are not allowed in this context"},
    {"syntax unclosed quote", L O "behaviors: [{path: \"*, origin: web}]\n",
     "3: (syntax): found unexpected end of stream while scanning a quoted scalar"},
    {"syntax undefined alias", L O "behaviors: [{path: \"*\", origin: *web}]\n", "3: (syntax): found undefined alias"},
    {"syntax bad utf-8", L O "behaviors: [{path: \"/\xff\", origin: web}]\n", "3: (syntax): invalid leading UTF-8 octet"},
};

/* store.seed: one map or a list; the default configuration seeds the demo site */
static void test_store_seed(void **state)
{
    conf_t *conf = load_ok(L O B "store: {listen: {port: 9000}}\n");
    assert_int_equal(conf->store.num_seeds, 0);
    assert_null(conf->store.seeds);
    conf_free(conf);

    conf = load_ok(L O B "store:\n  listen: {port: 9000}\n  seed: {bucket: site, dir: tests/data}\n");
    assert_int_equal(conf->store.num_seeds, 1);
    assert_string_equal(conf->store.seeds[0].bucket, "site");
    assert_string_equal(conf->store.seeds[0].dir, "tests/data");
    assert_int_equal(conf->store.seeds[0].line, 6);
    conf_free(conf);

    conf = load_ok(L O B "store:\n  listen: {port: 9000}\n  seed:\n    - {bucket: site, dir: tests/data}\n"
                         "    - bucket: my.assets-2\n      dir: ./conf\n");
    assert_int_equal(conf->store.num_seeds, 2);
    assert_string_equal(conf->store.seeds[0].bucket, "site");
    assert_int_equal(conf->store.seeds[0].line, 7);
    assert_string_equal(conf->store.seeds[1].bucket, "my.assets-2");
    assert_string_equal(conf->store.seeds[1].dir, "./conf");
    assert_int_equal(conf->store.seeds[1].line, 8);
    conf_free(conf);

    conf = load_ok(L O B "store: {listen: {port: 9000}, seed: []}\n");
    assert_int_equal(conf->store.num_seeds, 0);
    conf_free(conf);

    /* the default configuration, from the repository root as scripts/run.sh starts it */
    char err[CONF_ERRBUF_SIZE];
    setenv("EDGEHOOK_ADMIN_TOKEN", "a-test-token-of-some-length", 1);
    if ((conf = conf_load("conf/edgehook.yaml", err, sizeof(err))) == NULL)
        fail_msg("conf/edgehook.yaml: %s", err);
    assert_int_equal(conf->store.enabled, 1);
    assert_int_equal(conf->store.num_keys, 0); /* generated on first start, never in the file */
    assert_int_equal(conf->store.num_seeds, 1);
    assert_string_equal(conf->store.seeds[0].bucket, "site");
    assert_string_equal(conf->store.seeds[0].dir, "examples/site");
    conf_origin_t *o = conf_find_origin(conf, "site");
    assert_non_null(o);
    assert_int_equal(o->embedded, 1);
    assert_string_equal(o->bucket, "site");
    conf_free(conf);
}

static void test_distribution(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = load_ok(L O B);
    assert_null(conf->distribution.id); /* hooks then see "edgehook" and the viewer's Host */
    assert_null(conf->distribution.domain_name);
    conf_free(conf);

    conf = load_ok(L O B "distribution: {id: E2QWRUHAPOMQZL, domain_name: d111111abcdef8.cloudfront.net}\n");
    assert_string_equal(conf->distribution.id, "E2QWRUHAPOMQZL");
    assert_string_equal(conf->distribution.domain_name, "d111111abcdef8.cloudfront.net");
    conf_free(conf);
    conf = load_ok(L O B "distribution:\n  id: edge-1\n");
    assert_string_equal(conf->distribution.id, "edge-1");
    assert_null(conf->distribution.domain_name);
    conf_free(conf);

    static const struct {
        const char *yaml, *error;
    } bad[] = {
        {"distribution: {id: \"E2 QW\"}\n", "t.yaml:4: distribution.id: \"E2 QW\" is not an id"},
        {"distribution: {domain_name: \"-x.example\"}\n",
         "t.yaml:4: distribution.domain_name: \"-x.example\" is not a domain name"},
        {"distribution: {domain_name: \"a_b.example\"}\n",
         "t.yaml:4: distribution.domain_name: \"a_b.example\" is not a domain name"},
        {"distribution:\n  ids: x\n", "t.yaml:5: distribution.ids: unknown key (did you mean \"id\"?)"},
        {"distribution: [x]\n", "t.yaml:4: distribution: expected a map, got a list"},
        {"distribution: {id: \"\"}\n", "t.yaml:4: distribution.id:"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), "%s%s", L O B, bad[i].yaml);
        assert_null(load(yaml, err, sizeof(err)));
        if (strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
            fail_msg("%s: got %s, expected %s", bad[i].yaml, err, bad[i].error);
    }
}

/* a hook's `async:` and the top-level `async_queue:` (Event invocations) */
static void test_async(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = load_ok(L O B "hooks: {h: {lua: " LUA "}}\n");
    assert_int_equal(conf->hooks[0].async.retries, 2);
    assert_int_equal(conf->hooks[0].async.max_age_ms, 6 * 3600000ull);
    assert_int_equal(conf->hooks[0].async.backoff_ms, 60000);
    assert_int_equal(conf->hooks[0].async.concurrency, 2);
    assert_null(conf->hooks[0].async.on_failure);
    assert_int_equal(conf->async_queue.max_events, 100000);
    assert_int_equal(conf->async_queue.threads, 2);
    conf_free(conf);
    conf =
        load_ok(L O B "hooks:\n  h:\n    lua: " LUA "\n    async: {retries: 0, max_age: 2m, backoff: 100ms, concurrency: 8,"
                      " on_failure: \"arn:aws:s3:::failed\", on_success: \"arn:aws:lambda:us-east-1:000000000000:function:h2\"}\n"
                      "async_queue: {max_events: 10, max_bytes: 1MB, threads: 3, visibility: 30s}\n");
    assert_int_equal(conf->hooks[0].async.retries, 0);
    assert_int_equal(conf->hooks[0].async.max_age_ms, 120000);
    assert_int_equal(conf->hooks[0].async.backoff_ms, 100);
    assert_int_equal(conf->hooks[0].async.concurrency, 8);
    assert_string_equal(conf->hooks[0].async.on_failure, "arn:aws:s3:::failed");
    assert_string_equal(conf->hooks[0].async.on_success, "arn:aws:lambda:us-east-1:000000000000:function:h2");
    assert_int_equal(conf->async_queue.max_events, 10);
    assert_int_equal(conf->async_queue.max_bytes, MB);
    assert_int_equal(conf->async_queue.threads, 3);
    assert_int_equal(conf->async_queue.visibility_ms, 30000);
    conf_free(conf);

    static const struct {
        const char *yaml, *error;
    } bad[] = {
        {"    async: {retries: 3}\n", "t.yaml:7: hooks.h.async.retries: must be a number between 0 and 2"},
        {"    async: {max_age: 30s}\n", "t.yaml:7: hooks.h.async.max_age: must be between 60s and 6h"},
        {"    async: {max_age: 7h}\n", "t.yaml:7: hooks.h.async.max_age: must be between 60s and 6h"},
        {"    async: {concurrency: 0}\n", "t.yaml:7: hooks.h.async.concurrency: must be a number between 1 and 1000"},
        {"    async: {on_failure: \"arn:aws:sqs:us-east-1:1:q\"}\n", "t.yaml:7: hooks.h.async.on_failure: \"arn:aws:sqs:"},
        {"    async: {on_success: \"arn:aws:s3:::a/b\"}\n", "t.yaml:7: hooks.h.async.on_success: \"arn:aws:s3:::a/b\" is not a"},
        {"    async: {retry: 1}\n", "t.yaml:7: hooks.h.async.retry: unknown key (did you mean \"retries\"?)"},
        {"    async: [1]\n", "t.yaml:7: hooks.h.async: expected a map, got a list"},
        {"async_queue: {threads: 0}\n", "t.yaml:7: async_queue.threads: must be a number between 1 and 64"},
        {"async_queue: {visibility: 10ms}\n", "t.yaml:7: async_queue.visibility: must be between 1s and 12h"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml), "%s%s", L O B "hooks:\n  h:\n    lua: " LUA "\n", bad[i].yaml);
        assert_null(load(yaml, err, sizeof(err)));
        if (strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
            fail_msg("%s: got %s, expected %s", bad[i].yaml, err, bad[i].error);
    }
    assert_true(conf_valid_destination_arn("arn:aws:lambda:eu-west-1:123456789012:function:name:live"));
    assert_false(conf_valid_destination_arn("arn:aws:lambda:eu-west-1:123456789012:layer:x"));
    assert_false(conf_valid_destination_arn("arn:aws:s3:::ab"));
}

/* `fleet:` fleet state on etcd */
static void test_fleet(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = load_ok(L O B);
    assert_int_equal(conf->fleet.line, 0);
    conf_free(conf);
    conf = load_ok(L O B "fleet: {etcd: [\"http://127.0.0.1:2379\", \"10.0.0.2:2379\"], prefix: /edgehook/prod}\n");
    assert_int_equal(conf->fleet.line, 4);
    assert_int_equal(conf->fleet.etcd.count, 2);
    assert_string_equal(conf->fleet.etcd.names[1], "10.0.0.2:2379");
    assert_string_equal(conf->fleet.prefix, "/edgehook/prod");
    assert_non_null(conf->fleet.node); /* the host name */
    assert_int_equal(conf->fleet.ack_timeout_ms, 5000);
    assert_int_equal(conf->fleet.lease_ttl_ms, 10000);
    assert_int_equal(conf->fleet.timeout_ms, 2000);
    conf_free(conf);
    conf = load_ok(L O B "fleet:\n  etcd: [\"http://[::1]:2379\"]\n  prefix: /e/x\n  node: edge-1.par\n  ack_timeout: 2s\n"
                         "  lease_ttl: 30s\n  timeout: 500ms\n");
    assert_string_equal(conf->fleet.node, "edge-1.par");
    assert_int_equal(conf->fleet.ack_timeout_ms, 2000);
    assert_int_equal(conf->fleet.lease_ttl_ms, 30000);
    assert_int_equal(conf->fleet.timeout_ms, 500);
    conf_free(conf);
    static const struct {
        const char *yaml, *error;
    } bad[] = {
        {"fleet: {prefix: /e/x}\n", "t.yaml:4: fleet.etcd: is required"},
        {"fleet: {etcd: [\"http://a:1\"]}\n", "t.yaml:4: fleet.prefix: is required"},
        {"fleet: {etcd: [], prefix: /e/x}\n", "t.yaml:4: fleet.etcd: give 1 to 16"},
        {"fleet: {etcd: [\"https://a:2379\"], prefix: /e/x}\n", "t.yaml:4: fleet.etcd: https://a:2379: TLS to etcd is not supported"},
        {"fleet: {etcd: [\"http://a\"], prefix: /e/x}\n", "t.yaml:4: fleet.etcd: http://a: give http://HOST:PORT"},
        {"fleet: {etcd: [\"a:99999\"], prefix: /e/x}\n", "t.yaml:4: fleet.etcd: a:99999: give http://HOST:PORT"},
        {"fleet: {etcd: [\"http://a:1/v3\"], prefix: /e/x}\n", "t.yaml:4: fleet.etcd: http://a:1/v3: give http://HOST:PORT"},
        {"fleet: {etcd: [\"a:1\"], prefix: e/x}\n", "t.yaml:4: fleet.prefix: must be a path like /edgehook/NAME"},
        {"fleet: {etcd: [\"a:1\"], prefix: /e/x/}\n", "t.yaml:4: fleet.prefix: must be a path like /edgehook/NAME"},
        {"fleet: {etcd: [\"a:1\"], prefix: /e/x, node: \"a/b\"}\n", "t.yaml:4: fleet.node: must be 1 to 128"},
        {"fleet: {etcd: [\"a:1\"], prefix: /e/x, ack_timeout: 10m}\n", "t.yaml:4: fleet.ack_timeout: must be between 100ms and 5m"},
        {"fleet: {etcd: [\"a:1\"], prefix: /e/x, lease_ttl: 1s}\n", "t.yaml:4: fleet.lease_ttl: must be between 2s and 5m"},
        {"fleet: {etcd: [\"a:1\"], prefix: /e/x, prefx: 1}\n", "t.yaml:4: fleet.prefx: unknown key (did you mean \"prefix\"?)"},
        {"fleet: [1]\n", "t.yaml:4: fleet: expected a map, got a list"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml), "%s%s", L O B, bad[i].yaml);
        assert_null(load(yaml, err, sizeof(err)));
        if (strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
            fail_msg("%s: got %s, expected %s", bad[i].yaml, err, bad[i].error);
    }
}

static void test_broken(void **state)
{
    int failures = 0;
    unsetenv(UNSET_VAR);
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char err[CONF_ERRBUF_SIZE], want[CONF_ERRBUF_SIZE];
        conf_t *conf = load(bad[i].yaml, err, sizeof(err));
        snprintf(want, sizeof(want), "t.yaml:%s", bad[i].want);
        if (conf != NULL) {
            print_error("%s: accepted\n", bad[i].what);
            conf_free(conf);
            ++failures;
        } else if (strcmp(err, want) != 0) {
            print_error("%s:\n   got: %s\n  want: %s\n", bad[i].what, err, want);
            ++failures;
        }
    }
    assert_int_equal(failures, 0);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* the sample files                                                                                                     */

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* calls fn on every .yaml file in dir; returns how many */
static int each_yaml(const char *dir, void (*fn)(const char *path, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        fail_msg("cannot open %s (the tests run from the repository root)", dir);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        if (!has_suffix(e->d_name, ".yaml"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        fn(path, arg);
        ++n;
    }
    closedir(d);
    return n;
}

static void load_valid_file(const char *path, void *arg)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf;
    /* the hooks sample needs a Lua example another module provides; without it that sample cannot load yet */
    if (has_suffix(path, "/hooks.yaml") && access("examples/hooks/lua/security_headers.lua", R_OK) != 0) {
        print_message("skipped %s: examples/hooks/lua/security_headers.lua does not exist yet\n", path);
        return;
    }
    if ((conf = conf_load(path, err, sizeof(err))) == NULL)
        fail_msg("%s: %s", path, err);
    assert_true(conf->num_listen >= 1);
    assert_true(conf->num_origins >= 1);
    assert_true(conf->num_behaviors >= 1);
    conf_free(conf);
}

/* every broken file says what it expects on a line "# error: LINE: KEY: reason" */
static void load_broken_file(const char *path, void *arg)
{
    char err[CONF_ERRBUF_SIZE], want[CONF_ERRBUF_SIZE], line[1024];
    FILE *fp = fopen(path, "r");
    conf_t *conf;
    want[0] = '\0';
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, "# error: ", 9) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(want, sizeof(want), "%s:%s", path, line + 9);
            break;
        }
    }
    fclose(fp);
    if (want[0] == '\0')
        fail_msg("%s has no \"# error: LINE: KEY: reason\" line", path);
    if ((conf = conf_load(path, err, sizeof(err))) != NULL) {
        conf_free(conf);
        fail_msg("%s: accepted", path);
    }
    if (strcmp(err, want) != 0)
        fail_msg("%s:\n   got: %s\n  want: %s", path, err, want);
}

/* the environment the sample files name in *_env keys */
static void set_sample_env(void)
{
    setenv("EDGEHOOK_ADMIN_TOKEN", "a-test-token-of-some-length", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("EDGEHOOK_TEST_ACCESS_KEY", "AKIDEXAMPLE", 1);
    setenv("EDGEHOOK_TEST_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    unsetenv(UNSET_VAR);
}

static void test_test_data_files(void **state)
{
    set_sample_env();
    assert_true(each_yaml("tests/data/configs/valid", load_valid_file, NULL) >= 3);
    assert_true(each_yaml("tests/data/configs/broken", load_broken_file, NULL) >= 15);
}

/* the examples name paths relative to where edgehook starts (tls/..., examples/hooks/...): load them from a directory that
 * has those, as a user would run them */
static void test_examples(void **state)
{
    char cwd[1024], dir[] = "/tmp/edgehook-conf-XXXXXX", from[1200], to[1200];
    int n;
    set_sample_env();
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_non_null(mkdtemp(dir));
    snprintf(from, sizeof(from), "%s/tests/data/configs/tls", cwd);
    snprintf(to, sizeof(to), "%s/tls", dir);
    assert_int_equal(symlink(from, to), 0);
    snprintf(from, sizeof(from), "%s/examples", cwd);
    snprintf(to, sizeof(to), "%s/examples", dir);
    assert_int_equal(symlink(from, to), 0);
    assert_int_equal(chdir(dir), 0);
    /* gallery.yaml names the libvips example as the normal build makes it (build/examples/hooks/c/): only its presence is
     * checked at load */
    assert_int_equal(system("mkdir -p build/examples/hooks/c && : > build/examples/hooks/c/libimage_resize.so"), 0);
    n = each_yaml("examples/configs", load_valid_file, NULL);
    assert_int_equal(system("rm -r build"), 0);
    assert_int_equal(chdir(cwd), 0);
    unlink(to);
    snprintf(to, sizeof(to), "%s/tls", dir);
    unlink(to);
    rmdir(dir);
    assert_true(n >= 5);
}

static void test_file_errors(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    assert_null(conf_load("/nonexistent/edgehook.yaml", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/edgehook.yaml: cannot open: No such file or directory");
    assert_null(conf_load("tests", err, sizeof(err)));
    assert_string_equal(err, "tests: read error: Is a directory");
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* robustness: truncations and byte flips of a valid config load or fail cleanly, without leaks (ASan)                   */

static const char fuzz_seed[] =
    "threads: 2\n"
    "listen:\n"
    "  - {host: 127.0.0.1, port: 8080}\n"
    "  - {host: 127.0.0.1, port: 8443, tls: {certificate: " CERT ", key: " KEY "}}\n"
    "access_log: {path: \"-\", format: json}\n"
    "limits: {max_request_body: 16MB, shutdown_grace: 30s}\n"
    "origins:\n"
    "  web: {type: http, url: \"http://127.0.0.1:9000/p\", connect_timeout: 2s, max_connections: 8}\n"
    "  media: {type: s3, endpoint: embedded, bucket: photos, credentials: {access_key: a, secret_key: b}}\n"
    "cache: {memory: 64MB, max_object_size: 1MB}\n"
    "hooks:\n"
    "  sec: {lua: " LUA ", config: {a: [1, {b: c}], d: &x {e: f}, g: *x}, timeout: 1s}\n"
    "behaviors:\n"
    "  - path: \"/images/*\"\n"
    "    origin: media\n"
    "    cache: {min_ttl: 0s, default_ttl: 1d, max_ttl: 1y, key: {query: [w, h], headers: [], cookies: none}}\n"
    "    hooks: {viewer-request: sec, viewer-response: sec@v2}\n"
    "  - {path: \"*\", origin: web, cache: off}\n"
    "store:\n"
    "  listen: {host: 127.0.0.1, port: 9000}\n"
    "  credentials: {access_key: EXAMPLEKEY, secret_key: EXAMPLESECRET}\n"
    "admin:\n"
    "  listen: {host: 127.0.0.1, port: 9901}\n"
    "  token: abcdefghijkl\n";

static void check_one(const char *buf, size_t len, int *accepted)
{
    char err[CONF_ERRBUF_SIZE];
    conf_t *conf = conf_load_string("f.yaml", buf, len, err, sizeof(err));
    if (conf != NULL) {
        ++*accepted;
        assert_true(conf->num_listen >= 1 && conf->num_origins >= 1 && conf->num_behaviors >= 1);
        for (size_t i = 0; i != conf->num_behaviors; ++i)
            assert_non_null(conf->behaviors[i].origin);
        conf_free(conf);
    } else {
        /* every refusal names the file and a line */
        if (strncmp(err, "f.yaml:", 7) != 0 || !(err[7] >= '1' && err[7] <= '9'))
            fail_msg("malformed error \"%s\" for:\n%.*s", err, (int)len, buf);
    }
}

static void test_truncations(void **state)
{
    size_t n = sizeof(fuzz_seed) - 1;
    int accepted = 0;
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t len = 0; len <= n; ++len) {
        /* an exact-size heap copy so that ASan sees any read past the end */
        memcpy(buf, fuzz_seed, len);
        check_one(buf, len, &accepted);
    }
    free(buf);
    assert_true(accepted >= 1); /* the whole file at least */
}

static void test_byte_flips(void **state)
{
    static const char interesting[] = "{}[],:-?*&!|>'\"#%@` \t\n\r\\0Zz\x80\xff";
    size_t n = sizeof(fuzz_seed) - 1;
    int accepted = 0;
    unsigned seed = 12345;
    char *buf = malloc(n);
    assert_non_null(buf);
    /* EDGE_CONF_FUZZ_ROUNDS=N runs longer (and EDGE_CONF_FUZZ_SEED=S elsewhere) by hand; the suite keeps it short */
    const char *env_rounds = getenv("EDGE_CONF_FUZZ_ROUNDS"), *env_seed = getenv("EDGE_CONF_FUZZ_SEED");
    int rounds = env_rounds != NULL ? atoi(env_rounds) : 4000;
    if (env_seed != NULL)
        seed = (unsigned)strtoul(env_seed, NULL, 10);
    for (int round = 0; round != rounds; ++round) {
        memcpy(buf, fuzz_seed, n);
        int flips = 1 + rand_r(&seed) % 4;
        for (int f = 0; f != flips; ++f) {
            size_t at = rand_r(&seed) % n;
            if (rand_r(&seed) % 2)
                buf[at] = interesting[rand_r(&seed) % (sizeof(interesting) - 1)];
            else
                buf[at] ^= (char)(1 << (rand_r(&seed) % 8));
        }
        check_one(buf, n, &accepted);
    }
    free(buf);
    assert_true(accepted >= 1);
}

/* aliases can make a small file expand exponentially; the loader must refuse it quickly */
static void test_alias_bomb(void **state)
{
    char err[CONF_ERRBUF_SIZE];
    const char *yaml = L O B "hooks:\n  h:\n    lua: " LUA "\n    config:\n"
                             "      a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                             "      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                             "      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                             "      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                             "      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                             "      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                             "      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                             "      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                             "      i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    assert_null(load(yaml, err, sizeof(err)));
    assert_string_equal(err, "t.yaml:7: hooks.h.config: is too large (more than 1MB as JSON)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_and_defaults), cmocka_unit_test(test_full_schema),
        cmocka_unit_test(test_small_forms),          cmocka_unit_test(test_broken),
        cmocka_unit_test(test_test_data_files),      cmocka_unit_test(test_examples),
        cmocka_unit_test(test_file_errors),          cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_byte_flips),           cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_store_seed),           cmocka_unit_test(test_distribution), cmocka_unit_test(test_async), cmocka_unit_test(test_fleet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
