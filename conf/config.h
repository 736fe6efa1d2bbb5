/* conf/config.h - the typed configuration of edgehook, loaded from YAML (see conf/config.c and README "Config reference"). */
#ifndef EDGE_CONF_CONFIG_H
#define EDGE_CONF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONF_ERRBUF_SIZE 1024

/** a value of the form `256MB` etc. is parsed into bytes; a duration `500ms`, `30s` into milliseconds */
int conf_parse_size(const char *s, uint64_t *bytes);
int conf_parse_duration(const char *s, uint64_t *millis);

/** one listening socket; port 0 asks the kernel for an ephemeral port (the bound port is logged) */
typedef struct conf_listen {
    char *host;
    uint16_t port;
    char *tls_certificate; /* NULL: plain text (HTTP/1.1 and h2c) */
    char *tls_key;
    int line;
} conf_listen_t;

typedef enum conf_origin_type { CONF_ORIGIN_HTTP = 1, CONF_ORIGIN_S3 = 2 } conf_origin_type_t;
typedef enum conf_s3_addressing { CONF_S3_AUTO = 0, CONF_S3_PATH, CONF_S3_VIRTUAL } conf_s3_addressing_t;

typedef struct conf_credentials {
    char *access_key;
    char *secret_key;
    char *session_token;
} conf_credentials_t;

/** an origin: a plain HTTP(S) server, or an S3 bucket (remote or the embedded store) */
typedef struct conf_origin {
    char *name;
    conf_origin_type_t type;
    /* where to connect: for http, from `url`; for s3, from `endpoint` (embedded: the store's listener) */
    int https;
    char *host;       /* host name or address to connect to */
    uint16_t port;
    char *path_prefix; /* prepended to the request path ("" or "/base") */
    char *host_header; /* Host sent to the origin (`host_header`, default host[:port]) */
    char *sni;         /* TLS server name and the name the certificate must match (default host) */
    char *ca_file;     /* NULL: the system store */
    int tls_verify;    /* default 1 */
    uint64_t connect_timeout_ms;
    uint64_t first_byte_timeout_ms;
    uint64_t read_timeout_ms; /* idle time between two reads of the response */
    uint64_t keepalive_timeout_ms;
    unsigned max_connections;
    unsigned retries; /* retries of an idempotent request on a stale pooled connection (default 1) */
    /* s3 */
    int embedded;
    char *bucket;
    char *region;
    conf_s3_addressing_t addressing;
    conf_credentials_t credentials;
    int line;
} conf_origin_t;

/** which parts of the request enter the cache key (CloudFront cache policy) */
typedef enum conf_key_mode { CONF_KEY_NONE = 0, CONF_KEY_ALL, CONF_KEY_LIST, CONF_KEY_EXCEPT } conf_key_mode_t;

typedef struct conf_namelist {
    char **names;
    size_t count;
} conf_namelist_t;

typedef struct conf_cache_policy {
    int enabled;          /* `cache: off` disables caching for a behavior */
    int64_t min_ttl_ms;   /* -1: unset */
    int64_t default_ttl_ms;
    int64_t max_ttl_ms;
    int64_t stale_while_revalidate_ms; /* default when the origin sends none; -1 unset */
    int64_t stale_if_error_ms;
    conf_key_mode_t query_mode;
    conf_namelist_t query;
    conf_namelist_t headers;
    conf_key_mode_t cookie_mode;
    conf_namelist_t cookies;
} conf_cache_policy_t;

enum { CONF_HOOK_VIEWER_REQUEST = 0, CONF_HOOK_ORIGIN_REQUEST, CONF_HOOK_ORIGIN_RESPONSE, CONF_HOOK_VIEWER_RESPONSE, CONF_HOOK_NUM };
extern const char *const conf_hook_event_names[CONF_HOOK_NUM]; /* "viewer-request", ... */

typedef struct conf_hook {
    char *name;
    char *lua;    /* path of a Lua file, or NULL */
    char *native; /* path of a .so, or NULL */
    char *config_json; /* the `config:` map as a JSON object text ("{}" when absent) */
    int include_body;
    int64_t timeout_ms; /* -1: the default of the event (5 s viewer, 30 s origin) */
    uint64_t memory_limit; /* Lua memory cap per state, bytes */
    int line;
} conf_hook_t;

typedef struct conf_behavior {
    char *path; /* CloudFront path pattern: `*` any run of characters, `?` one character */
    char *origin_name;
    conf_origin_t *origin;
    conf_cache_policy_t cache;
    char *hooks[CONF_HOOK_NUM]; /* `NAME`, `NAME@ALIAS` or `NAME@VERSION`, or NULL */
    int line;
} conf_behavior_t;

typedef struct conf_store {
    int enabled;
    conf_listen_t listen;
    char *root;
    char *domain;
    char *region;
    conf_credentials_t credentials; /* NULL keys: generated on first start under root */
    uint64_t max_put_size;
    int line;
} conf_store_t;

typedef struct conf_admin {
    int enabled;
    conf_listen_t listen;
    char *token;
    int line;
} conf_admin_t;

typedef struct conf {
    char *file;
    unsigned threads; /* resolved: `auto` = number of cores */
    conf_listen_t *listen;
    size_t num_listen;
    struct {
        char *path; /* "-" = stdout; NULL = off */
        int json;
    } access_log;
    struct {
        char *path; /* "-" = stderr */
        int level;  /* LOG_ERROR..LOG_DEBUG of proxy/log.h */
    } error_log;
    struct {
        uint64_t max_request_body;
        uint64_t shutdown_grace_ms;
        uint64_t client_timeout_ms;   /* HTTP/1 request timeout and HTTP/2 idle timeout */
        unsigned max_streams_per_connection;
    } limits;
    conf_origin_t *origins;
    size_t num_origins;
    struct {
        uint64_t memory;
        uint64_t max_object_size;
        int64_t stale_while_revalidate_ms;
        int64_t stale_if_error_ms;
    } cache;
    conf_hook_t *hooks;
    size_t num_hooks;
    conf_behavior_t *behaviors;
    size_t num_behaviors;
    conf_store_t store;
    conf_admin_t admin;
} conf_t;

/**
 * Loads and validates FILE. On failure returns NULL and writes `FILE:LINE: KEY: reason` into err.
 * Relative paths inside the file (certificates, hooks, store root) are resolved against the current directory, as nginx does
 * for paths given on its command line.
 */
conf_t *conf_load(const char *file, char *err, size_t errlen);
/** same from a string (used by tests); `name` is what errors call the file */
conf_t *conf_load_string(const char *name, const char *yaml, size_t len, char *err, size_t errlen);
void conf_free(conf_t *conf);

conf_origin_t *conf_find_origin(conf_t *conf, const char *name);
conf_hook_t *conf_find_hook(conf_t *conf, const char *name);

/** Levenshtein distance, used to suggest the closest known key */
size_t conf_edit_distance(const char *a, const char *b);

#endif
