/* conf/config.h - the typed configuration of edgehook, loaded from YAML (see conf/config.c and docs/config-reference.md). */
#ifndef EDGE_CONF_CONFIG_H
#define EDGE_CONF_CONFIG_H

/** `cache.stale_if_error` when not given: a day (serve a stored copy rather than an origin's error, as CloudFront does) */
#define CONF_DEFAULT_STALE_IF_ERROR_MS (86400LL * 1000)

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_ERRBUF_SIZE 1024

/**
 * Parses a size: a decimal number with an optional fraction and an optional unit, case-insensitive, binary multiples
 * (`512`, `512B`, `64KB`/`64K`/`64KiB`, `256MB`, `1.5GB`, `1TB`; a space before the unit is allowed). A fraction of a byte,
 * a sign, an unknown unit and anything of 2^64 bytes or more are refused. Returns 0 and sets *bytes, or -1 (*bytes untouched).
 */
int conf_parse_size(const char *s, uint64_t *bytes);
/**
 * Parses a duration into milliseconds: one or more parts NUMBER UNIT with unit ms, s (sec), m (min), h, d, w or y (365 d),
 * largest unit first and each once (`1h30m`, `1h 30m`, `1.5s`), rounded to the nearest millisecond, at most 1e15 ms.
 * A bare number is refused (the unit must be said), as are signs and unknown or upper-case units.
 * Returns 0 and sets *millis, or -1 (*millis untouched).
 */
int conf_parse_duration(const char *s, uint64_t *millis);

/** one listening socket; port 0 asks the kernel for an ephemeral port (the bound port is logged) */
typedef struct conf_listen {
    char *host;
    uint16_t port;
    char *tls_certificate; /* NULL: plain text (HTTP/1.1 and h2c) */
    char *tls_key;
    int line; /* where it is given in the file (the line of its key), for later error messages */
    int certificate_line, key_line; /* the lines of tls.certificate and tls.key */
    char key[32];                   /* what errors call it: `listen[0]`, `listen`, `store.listen`, `admin.listen` */
} conf_listen_t;

typedef enum conf_origin_type { CONF_ORIGIN_HTTP = 1, CONF_ORIGIN_S3 = 2 } conf_origin_type_t;
typedef enum conf_s3_addressing { CONF_S3_AUTO = 0, CONF_S3_PATH, CONF_S3_VIRTUAL } conf_s3_addressing_t;

typedef struct conf_credentials {
    char *access_key;
    char *secret_key;
    char *session_token;
    /* the variables they were read from (`access_key_env: NAME`...), or NULL when given in the file: what -T prints */
    char *access_key_env;
    char *secret_key_env;
    char *session_token_env;
    char *secret_key_file; /* `secret_key_file: PATH`: the file the secret was read from (at load), or NULL */
    /* s3 origins: a profile of the AWS shared credentials file (`profile: NAME`, `shared_credentials_file: PATH`; read when
     * the origin is built: at start and at every reload) */
    char *profile;
    char *shared_credentials_file;
} conf_credentials_t;

/** one key pair of the embedded store (`store.credentials`: one map, or a list of them) */
typedef struct conf_store_key {
    conf_credentials_t cred;
    char **buckets; /* bucket names or shell globs (fnmatch) the key may use; num_buckets 0: every bucket */
    size_t num_buckets;
    int read_only; /* 1: every write (PUT, POST, DELETE) is refused with AccessDenied */
    int line;      /* where it is given in the file */
} conf_store_key_t;

/** an origin: a plain HTTP(S) server, or an S3 bucket (remote or the embedded store) */
/** a parent of an origin (`parents:`): another edgehook node that misses go to before the origin (tiered caching) */
typedef struct conf_parent {
    char *name; /* `name`, default host:port of the url; in X-Served-By of the parent itself only if it sets node_name */
    int https;
    char *host;
    uint16_t port;
    char *health_host; /* `health_url` (http only): probed with GET; NULL: a TCP connect to host:port is the probe */
    uint16_t health_port;
    char *health_path;
    unsigned weight; /* `weight` 1-100, default 1: its share of the keys (weighted rendezvous) */
    int line;
} conf_parent_t;

typedef struct conf_origin {
    char *name;
    conf_origin_type_t type;
    /* where to connect: for http, from `url`; for s3, from `endpoint` (embedded: the store's listener) */
    int https;
    char *host; /* host name or address to connect to */
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
    int region_given; /* 1: `region:` was written (else the default us-east-1, or the region of a credentials profile) */
    int pass_amz_headers; /* s3: the origin's x-amz-* response headers reach viewers (default 0: only x-amz-meta-* and
                             x-amz-version-id do; see proxy/fill.c) */
    /* tiered caching (proxy/parents.h): cache misses go to a parent chosen by rendezvous hashing of the cache key */
    conf_parent_t *parents;
    size_t num_parents;
    int parents_fallback_origin;   /* `parents_fallback: origin` (default) or `error`: when no parent can be reached */
    uint64_t parent_health_interval_ms; /* `parent_health_interval`, default 2s */
    uint64_t parent_health_timeout_ms;  /* `parent_health_timeout`, default 1s */
    unsigned parent_health_fails;       /* `parent_health_fails`: consecutive failures (probes or requests) that mark it down, default 2 */
    unsigned parent_health_passes;      /* `parent_health_passes`: consecutive good probes that mark it up again, default 2 */
    int line; /* where it is given in the file (the line of its key), for later error messages */
} conf_origin_t;

/** a CloudFront-style custom error response (`error_pages: {404: {path: /404.html, ttl: 10s, status: 404}}`) */
typedef struct conf_error_page {
    int code;       /* the error status it replaces (400-599) */
    char *path;     /* the page, fetched through the distribution (the behavior its path matches) and cached like any object */
    int64_t ttl_ms; /* how long the error itself is cached (CloudFront's ErrorCachingMinTTL); -1: not given (cache.error_ttl) */
    int status;     /* the status the viewer gets with the page (default: code) */
    int line;
} conf_error_page_t;

typedef struct conf_error_pages {
    conf_error_page_t *items;
    size_t count;
} conf_error_pages_t;

/** the page for an error status in pages, or NULL */
const conf_error_page_t *conf_error_page_find(const conf_error_pages_t *pages, int code);

/** which parts of the request enter the cache key (CloudFront cache policy) */
typedef enum conf_key_mode { CONF_KEY_NONE = 0, CONF_KEY_ALL, CONF_KEY_LIST, CONF_KEY_EXCEPT } conf_key_mode_t;

typedef struct conf_namelist {
    char **names;
    size_t count;
} conf_namelist_t;

typedef struct conf_cache_policy {
    int enabled;        /* `cache: off` disables caching for a behavior */
    int64_t min_ttl_ms; /* -1: unset */
    int64_t default_ttl_ms;
    int64_t max_ttl_ms;
    int64_t stale_while_revalidate_ms; /* default when the origin sends none; -1 unset */
    int64_t stale_if_error_ms;
    int64_t error_ttl_ms; /* lifetime of an error (4xx/5xx) the origin gave no freshness for; -1: the default (10 s) */
    conf_key_mode_t query_mode;
    conf_namelist_t query;
    conf_namelist_t headers;
    conf_key_mode_t cookie_mode;
    conf_namelist_t cookies;
    int ignore_set_cookie; /* store responses that carry Set-Cookie, without it (default 0: such responses are not stored) */
} conf_cache_policy_t;

/**
 * What a cacheable request forwards to the origin beyond the cache key (CloudFront's origin request policy). Headers in the
 * key are always forwarded; so are the ones listed here. `headers_set` 0: the default list (accept, accept-encoding,
 * accept-language, authorization). Cookies: the key's cookies plus these (mode as for the key). A CloudFront-* name here or in
 * the key's headers (conf/cfheaders.h) makes the behavior generate that header (conf_behavior_t.cf_headers).
 */
typedef struct conf_origin_request {
    int headers_set;
    conf_namelist_t headers; /* lower-case */
    conf_key_mode_t cookie_mode;
    conf_namelist_t cookies;
} conf_origin_request_t;

enum {
    CONF_HOOK_VIEWER_REQUEST = 0,
    CONF_HOOK_ORIGIN_REQUEST,
    CONF_HOOK_ORIGIN_RESPONSE,
    CONF_HOOK_VIEWER_RESPONSE,
    CONF_HOOK_NUM
};
extern const char *const conf_hook_event_names[CONF_HOOK_NUM]; /* "viewer-request", ... */

typedef struct conf_hook {
    char *name;
    char *lua;         /* path of a Lua file, or NULL */
    char *native;      /* path of a .so, or NULL */
    char *config_json; /* the `config:` map as a JSON object text ("{}" when absent) */
    int include_body;
    uint64_t origin_body;  /* origin-response: the origin's body is read before the hook when its Content-Length is at most this
                              many bytes (ABI 1.7 EDGE_FIELD_ORIGIN_BODY); 0 (the default): never */
    int64_t timeout_ms;    /* -1: the default of the event (5 s viewer, 30 s origin) */
    uint64_t memory_limit; /* Lua memory cap per state, bytes */
    /* what edge.fetch may reach: "host", "host:port", "*.domain" (any host under it), or the name of a configured origin (its
     * host and port); lower-case. Empty: nothing */
    conf_namelist_t fetch_allow;
    int line;              /* where it is given in the file (the line of its key), for later error messages */
    conf_namelist_t kv;    /* the kv stores the hook may read (`kv: [NAME, ...]`, each one of conf->kv); none by default */
    const char *source_name; /* what Lua's messages and tracebacks call the code (NULL: the path); not set by conf_load */
    /* `async:` how `Event` invocations of the hook run (Lambda's event invoke config; PutFunctionEventInvokeConfig wins) */
    struct {
        unsigned retries;     /* MaximumRetryAttempts 0..2, default 2 */
        uint64_t max_age_ms;  /* MaximumEventAgeInSeconds: 60 s .. 6 h, default 6 h */
        uint64_t backoff_ms;  /* the wait before the first retry (the second waits twice it): default 1 min */
        unsigned concurrency; /* invocations of this hook running at once from the queue: default 2 */
        char *on_failure;     /* destination ARN (arn:aws:s3:::BUCKET or arn:aws:lambda:...:function:NAME) or NULL */
        char *on_success;     /* the same, or NULL */
    } async;
} conf_hook_t;

/** a named key-value store (`kv: {NAME: {...}}`, CloudFront KeyValueStore): limits as kv/kv.h checks them */
typedef struct conf_kv_store {
    char *name;
    char *path;         /* its log file (default ./data/kv/NAME.kvlog) */
    uint64_t max_keys;  /* default 100000, at most 10000000 */
    uint64_t max_bytes; /* keys plus values, default 5MB, at most 1GB */
    uint64_t max_value; /* one value, default 1KB, at most 1MB */
    int line;
} conf_kv_store_t;

typedef struct conf_behavior {
    char *path; /* CloudFront path pattern: `*` any run of characters, `?` one character */
    char *origin_name;
    conf_origin_t *origin;
    conf_cache_policy_t cache;
    conf_origin_request_t origin_request;
    char *hooks[CONF_HOOK_NUM]; /* `NAME`, `NAME@ALIAS` or `NAME@VERSION`, or NULL */
    uint32_t cf_headers;        /* the CloudFront-* headers it generates (conf/cfheaders.h bits): those named in cache.key.headers
                                   or origin_request.headers */
    conf_error_pages_t error_pages; /* its own `error_pages`, then the top level's for the codes it does not name (resolved at
                                       load: this is the whole list) */
    int line;                   /* where it is given in the file (the line of its key), for later error messages */
} conf_behavior_t;

/** a bucket the store creates on start from the files of a directory, if it does not exist yet (`store.seed`) */
typedef struct conf_store_seed {
    char *bucket; /* a valid S3 bucket name */
    char *dir;    /* as given (relative: to the current directory); checked to be a readable directory at load */
    int line;     /* where it is given in the file, for later error messages */
    /* `cors:` a CORSConfiguration XML file (as given), or NULL: the bucket's CORS rules when the seed creates it; its text is
     * read at load (at most 64 KB), the store checks the rules before it creates the bucket */
    char *cors;
    char *cors_xml;
    size_t cors_len;
} conf_store_seed_t;

/** a bucket notification rule of `store.notifications` (S3's LambdaFunctionConfiguration; store/notify.h) */
typedef struct conf_store_notification {
    char *bucket;
    char *id;       /* NULL: config-LINE */
    char *function; /* a hook: NAME, NAME:ALIAS, NAME:VERSION or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
    char **events;  /* s3:ObjectCreated:*, s3:ObjectCreated:Put, ... (validated) */
    size_t num_events;
    char *prefix, *suffix;   /* NULL: none */
    int exclude_hook_writes; /* objects written by hooks (edge.s3.put/delete) make no event here */
    int line;
} conf_store_notification_t;

typedef struct conf_store {
    int enabled;
    conf_listen_t listen;
    char *root;
    char *domain;
    char *region;
    /* store.credentials: none (num_keys 0: a pair is generated on first start under root), one map, or a list of them */
    conf_store_key_t *keys;
    size_t num_keys;
    int keys_list; /* 1: given as a list (what -T prints back) */
    uint64_t max_put_size;
    unsigned threads; /* the store's own threads, which do its disk I/O (1-64, default 2) */
    unsigned io_threads; /* the store's event-loop threads, which alone accept the store listener (1-16, default 1) */
    int line; /* where it is given in the file (the line of its key), for later error messages */
    conf_store_seed_t *seeds; /* `seed:` - one map or a list of them; distinct buckets */
    size_t num_seeds;
    conf_store_notification_t *notifications; /* `notifications:` - a bucket listed here takes these rules, and its
                                                 PutBucketNotificationConfiguration is refused */
    size_t num_notifications;
    unsigned notify_max_generations; /* the loop guard: a hook's write at this generation makes no event (default 16) */
} conf_store_t;

typedef struct conf_admin {
    int enabled;
    conf_listen_t listen;
    char *token;
    char *token_env;             /* the variable the token was read from, or NULL */
    conf_namelist_t plugin_dirs; /* directories (absolute, resolved) the admin API may load native plugins from */
    int line; /* where it is given in the file (the line of its key), for later error messages */
} conf_admin_t;

typedef struct conf {
    char *file;
    struct conf_part *parts; /* fingerprints of its sections, origins, hooks and behaviors (conf/diff.h) */
    size_t num_parts;
    unsigned threads; /* resolved: `auto` = number of cores */
    int threads_auto; /* 1: threads is `auto` (what -T prints) */
    conf_listen_t *listen;
    size_t num_listen;
    struct {
        char *path; /* "-" = stdout; NULL = off */
        int json;
    } access_log;
    struct {
        char *path; /* "-" = stderr */
        int level;  /* LOG_ERROR..LOG_DEBUG of base/log.h */
        int json;   /* format: json (one JSON object per line) */
    } error_log;
    struct {
        uint64_t max_request_body;
        uint64_t shutdown_grace_ms;
        uint64_t client_timeout_ms; /* HTTP/1 request timeout and HTTP/2 idle timeout */
        unsigned max_streams_per_connection;
        unsigned max_request_headers;      /* count of request header fields (431 above) */
        uint64_t max_request_header_size;  /* sum of name + value lengths of the request's header fields (431 above) */
        uint64_t max_response_header_size; /* the response head after hooks (502 above) */
        uint64_t send_timeout_ms;          /* a response that makes no progress this long is aborted */
        uint64_t max_unsent_per_connection; /* response bytes handed to h2o and not yet written, per connection */
        int allow_path_params;             /* 1: `;` is allowed in the path (0: 400) */
    } limits;
    conf_origin_t *origins;
    size_t num_origins;
    struct {
        uint64_t memory;
        uint64_t max_object_size;
        int64_t stale_while_revalidate_ms;
        int64_t stale_if_error_ms; /* -1: not given, CONF_DEFAULT_STALE_IF_ERROR_MS applies (cache/policy.h) */
        char *disk_path;    /* cache.disk.path: the disk tier's directory (NULL: no disk tier) */
        uint64_t disk_size; /* cache.disk.size */
        int ranges_forward; /* cache.ranges: 0 whole (a Range miss fetches the whole object), 1 forward (cache/partial.h) */
    } cache;
    conf_hook_t *hooks;
    size_t num_hooks;
    /** `async_queue:` the durable queue of `Event` invocations (STATE_DIR/queue) */
    struct {
        uint64_t max_events;    /* live events, default 100000 (a full queue refuses with 429) */
        uint64_t max_bytes;     /* their payload bytes, default 256MB */
        unsigned threads;       /* consumer threads, default 2 */
        uint64_t visibility_ms; /* an attempt not finished within it runs again, default 15m */
        int line;
    } async_queue;
    conf_behavior_t *behaviors;
    size_t num_behaviors;
    conf_error_pages_t error_pages; /* the top level's `error_pages` (each behavior's list includes them) */
    conf_store_t store;
    conf_admin_t admin;
    /** `distribution:` what hooks read as event.Records[0].cf.config.distributionId / distributionDomainName. NULL: not given
     * (the id is then "edgehook", the domain the request's Host) */
    struct {
        char *id;          /* letters, digits, '-', '_', '.'; at most 128 */
        char *domain_name; /* a host name (letters, digits, '-', '.'), at most 253 */
    } distribution;
    /** `geoip:` the MaxMind databases of the CloudFront-Viewer-* geo headers (database NULL: none) */
    struct {
        char *database;     /* a City (or Country) database: country, region, city, location, postal code, time zone */
        char *asn_database; /* an ASN database (CloudFront-Viewer-ASN), or NULL: the ASN is read from `database` if it has one */
        int line;           /* the line of `geoip:` */
    } geoip;
    conf_kv_store_t *kv; /* the kv stores, in the file's order */
    size_t num_kv;
    /** `state_dir:` where hook versions and aliases (hooks/state.json, code/) and the async queue live: given, else
     * STORE_ROOT/.edgehook with a store, else ./edgehook-state (relative: to the current directory) */
    char *state_dir;
    int state_dir_line; /* 0: not given */
    /** `fleet:` fleet state on etcd (hook aliases, kv writes, purges replicated to every node); line 0: not configured */
    struct {
        conf_namelist_t etcd;    /* the members' client URLs, "http://HOST:PORT" */
        char *prefix;            /* the keys' prefix, "/edgehook/NAME" (starts with '/', no trailing '/') */
        char *node;              /* this node's name in the fleet: given, else the host name */
        uint64_t ack_timeout_ms; /* how long a purge waits for every live node's ack, default 5s */
        uint64_t lease_ttl_ms;   /* a node that stops renewing for this long is no longer live, default 10s */
        uint64_t timeout_ms;     /* one etcd call (connect + answer), default 2s */
        int line;
    } fleet;
    /** `node_name:` this node's name in Via (loop detection) and X-Served-By; NULL: not given (Via uses the host name and no
     * X-Served-By is sent) */
    char *node_name;
} conf_t;

/**
 * Loads and validates FILE (at most 16MB). On success returns a config the caller frees with conf_free; on failure returns
 * NULL and writes one line without a newline into err (CONF_ERRBUF_SIZE is enough): `FILE:LINE: KEY: reason`, where KEY is
 * the dotted path of the offending setting (`origins.web.connect_timeout`, `behaviors[1].origin`), `(syntax)` for a YAML
 * syntax error or `(top level)` for the file as a whole. Only a file that cannot be read at all gives `FILE: reason`.
 * The first error is reported. Relative paths inside the file (certificates, hooks, store root) are resolved against the
 * current directory, as nginx does for paths given on its command line; they are checked for readability here.
 * `*_env` keys are read from the environment here. Not thread-safe with respect to setenv; otherwise any thread.
 */
conf_t *conf_load(const char *file, char *err, size_t errlen);
/** same from a string of len bytes (need not be NUL-terminated); `name` is what errors call the file */
conf_t *conf_load_string(const char *name, const char *yaml, size_t len, char *err, size_t errlen);
/**
 * `${VAR}` and `${VAR:-default}` in a value, as conf_load expands them in every scalar value of the file (not in keys):
 * ${VAR} is the variable's value (set but empty: empty), ${VAR:-default} the default when VAR is unset or empty (the default is
 * literal text up to the first `}`); `$${` is a literal `${` and a `$` not followed by `{` is itself. NAME is letters, digits
 * and `_`, not starting with a digit. Returns 0 with *out NULL (nothing to expand) or a malloc'd expansion; -1 with the reason
 * in why (`environment variable VAR is not set`, an unterminated or malformed reference).
 */
int conf_expand_env(const char *s, char **out, char *why, size_t whylen);

/** the value -T prints in place of a secret; refused as a secret's value, so that a printed config cannot run as is */
#define CONF_REDACTED "<redacted>"

/**
 * Writes conf as YAML with every default filled in (`edgehook -T`): a file conf_load accepts again and that loads to the same
 * configuration, save the secrets: a secret read from a variable is printed as its `*_env` key, one given in the file as
 * CONF_REDACTED, which conf_load refuses. Comments say what a value left unset means.
 */
void conf_dump(const conf_t *conf, FILE *fp);

/** frees a config from conf_load; NULL is allowed */
void conf_free(conf_t *conf);

/** the origin or hook of that name, or NULL; the pointer lives as long as conf */
conf_origin_t *conf_find_origin(conf_t *conf, const char *name);
conf_hook_t *conf_find_hook(conf_t *conf, const char *name);
conf_kv_store_t *conf_find_kv(conf_t *conf, const char *name);

/** edit distance (optimal string alignment: a swap of two neighbours counts 1; case-insensitive; SIZE_MAX past 64 characters),
 * used to suggest the closest known key */
size_t conf_edit_distance(const char *a, const char *b);

/** 1 if arn names a destination of asynchronous invocations: arn:aws:s3:::BUCKET or arn:aws:lambda:REGION:ACCOUNT:function:NAME */
int conf_valid_destination_arn(const char *arn);

#endif
