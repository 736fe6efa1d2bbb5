/* hooks/edge_hook.h - the public ABI of edgehook native hook plugins: the only header a plugin author includes. */
#ifndef EDGE_HOOK_H
#define EDGE_HOOK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ABI version. The host loads a plugin iff its abi_major equals EDGE_HOOK_ABI_MAJOR and its abi_minor is not above
 * EDGE_HOOK_ABI_MINOR, and its descriptor is at least as large as the 1.0 descriptor.
 *   - whenever something is added (a field at the END of a struct, a new function slot at the END of edge_host_t,
 *     a new enum value), increment MINOR;
 *   - whenever something is removed or changed in a way that is not binary compatible, increment MAJOR and reset MINOR.
 * Structs only grow at the end. The growable ones carry their size (the descriptor, edge_host_t, edge_origin_t), so
 * either side can tell which fields the other one knows: the host reads no descriptor field past `size`, a plugin
 * checks host->size before using a slot added after the minor it was built for.
 *
 * Changelog
 *   2026-11-26  1.0  first version: descriptor edge_hook_plugin, host vtable edge_host_t (fields, status, headers,
 *                    generated responses, origin selection, per-request arena, log, fail).
 *   2026-12-02  1.1  edge_origin_t.ssl_protocols (Lambda@Edge's custom-origin sslProtocols, EDGE_SSL_* bits); get_origin
 *                    works in origin-response too.
 *   2026-12-02  1.2  host->fetch / host->fetch_wait (HTTP requests from a plugin, answered through a completion callback while
 *                    the worker serves other requests), host->thread_state; descriptor thread_init / thread_fini (per worker
 *                    thread state); EDGE_E_FAILED; which host calls may block (below).
 *   2026-12-02  1.3  edge_host_t.kv_get: reads a key of a kv store the hook's `kv:` list names (one snapshot per call).
 *   2026-12-02  1.4  descriptor on_invoke: a generic invocation (the Lambda invoke API) with any JSON payload, answered with
 *                    any JSON; a plugin with on_invoke may declare no events (and have no on_event).
 *   2026-12-02  1.5  edge_origin_t.version_id: an S3 origin request pinned to an object version (request.origin.s3.versionId).
 *   2026-12-02  1.6  edge_host_t.s3: the embedded store's objects without HTTP (get, head, put, delete, list: edge.s3 in Lua),
 *                    answered like a fetch (its callback inside fetch_wait); writes carry the hook's generation (loop guard).
 *   2026-12-03  1.7  EDGE_FIELD_ORIGIN_BODY: origin-response reads the origin's body, buffered for a hook with `origin_body:` in
 *                    its config when the origin's Content-Length is within it (replace it with EDGE_FIELD_RESPONSE_BODY, as
 *                    before); edge_host_t.offload: the rest of a call runs on an offload thread, off the worker's event loop.
 */
#define EDGE_HOOK_ABI_MAJOR 1
#define EDGE_HOOK_ABI_MINOR 7

/** the name of the one data symbol a plugin exports (see EDGE_HOOK_PLUGIN below) */
#define EDGE_HOOK_PLUGIN_SYMBOL "edge_hook_plugin"

/** a byte string: not NUL-terminated, not owned; valid for the duration of the call that produced it */
typedef struct edge_str {
    const char *ptr;
    size_t len;
} edge_str_t;

/** the event being processed (opaque); valid only during on_event, on the thread that called it */
typedef struct edge_ctx edge_ctx_t;

/** the four trigger points of Lambda@Edge */
typedef enum edge_event {
    EDGE_VIEWER_REQUEST = 0,  /* every request, before the cache */
    EDGE_ORIGIN_REQUEST = 1,  /* cache miss, before the origin is contacted */
    EDGE_ORIGIN_RESPONSE = 2, /* cache miss, after the origin answered, before the response is cached */
    EDGE_VIEWER_RESPONSE = 3  /* hits and misses, before the response goes to the viewer */
} edge_event_t;
/** the bit of an event in edge_hook_plugin_t.events */
#define EDGE_EVENT_BIT(ev) (1u << (ev))
/** all four events */
#define EDGE_ALL_EVENTS 0xfu

/** what on_event returns; any other value is "garbage" and answers 502 */
typedef enum edge_action {
    EDGE_CONTINUE = 0, /* go on with the (possibly modified) request or response */
    EDGE_RESPOND = 1,  /* request events only: answer with the response built by host->respond() */
    EDGE_FAIL = 2      /* the hook failed (503, like an unhandled exception); say why with host->fail() first */
} edge_action_t;

/** return codes of host functions: 0 or positive on success, negative on error */
enum {
    EDGE_OK = 0,
    EDGE_E_NOTFOUND = -1, /* no such header / field not present at this hook point */
    EDGE_E_INVALID = -2,  /* bad argument (CR/LF in a value, status out of range, bad header name ...) */
    EDGE_E_DENIED = -3,   /* not allowed at this hook point (e.g. a set of the uri in a response event) */
    EDGE_E_NOMEM = -4,    /* the per-request arena is exhausted */
    EDGE_E_FAILED = -5    /* 1.2: a fetch got no answer (connection, timeout, too large): the response's error says why */
};

/** string fields of the event (host->get, host->set) */
typedef enum edge_field {
    EDGE_FIELD_EVENT_TYPE = 0,          /* "viewer-request" ... (read-only) */
    EDGE_FIELD_REQUEST_ID = 1,          /* read-only */
    EDGE_FIELD_DISTRIBUTION_DOMAIN = 2, /* read-only */
    EDGE_FIELD_DISTRIBUTION_ID = 3,     /* read-only */
    EDGE_FIELD_CLIENT_IP = 4,           /* read-only */
    EDGE_FIELD_METHOD = 5,              /* read-only */
    EDGE_FIELD_URI = 6,                 /* settable in viewer-request and origin-request; must start with '/' */
    EDGE_FIELD_QUERYSTRING = 7,         /* settable in viewer-request and origin-request; without '?' */
    EDGE_FIELD_REQUEST_BODY = 8,        /* raw bytes, only with include_body; get returns 1 if it was truncated; settable in
                                           request events (replaces the body) */
    EDGE_FIELD_STATUS_DESCRIPTION = 9,  /* response events; settable in origin-response and for a generated response */
    EDGE_FIELD_RESPONSE_BODY = 10,      /* settable in origin-response (replaces the origin's body) and for a generated response;
                                           get returns EDGE_E_NOTFOUND unless a body was set (the origin's body: ORIGIN_BODY) */
    EDGE_FIELD_ORIGIN_BODY = 11         /* 1.7, read-only, origin-response: the origin's body, whole (raw bytes, as the origin sent
                                           them: no Content-Encoding is undone). Present only when the hook's `origin_body:` limit
                                           is set and the origin's Content-Length is within it (the body is then read before the
                                           hook runs); else EDGE_E_NOTFOUND, and the body streams as before. A 1.6 host answers
                                           EDGE_E_NOTFOUND too */
} edge_field_t;

/** which header list host->header_* work on */
enum { EDGE_MSG_REQUEST = 0, EDGE_MSG_RESPONSE = 1 };

/** log levels of host->log */
enum { EDGE_LOG_ERROR = 0, EDGE_LOG_WARN = 1, EDGE_LOG_INFO = 2, EDGE_LOG_DEBUG = 3 };

/** a header as exposed to a plugin (name lowercase, key in its original case) */
typedef struct edge_header {
    edge_str_t name;
    edge_str_t key;
    edge_str_t value;
} edge_header_t;

/** origin kinds of edge_origin_t */
enum { EDGE_ORIGIN_NONE = 0, EDGE_ORIGIN_CUSTOM = 1, EDGE_ORIGIN_S3 = 2 };

/**
 * The origin of a request (Lambda@Edge `request.origin`), read with host->get_origin in origin events and replaced with
 * host->set_origin in origin-request. Set `size = sizeof(edge_origin_t)` before passing one to the host.
 */
typedef struct edge_origin {
    uint32_t size;
    uint32_t kind;              /* EDGE_ORIGIN_CUSTOM or EDGE_ORIGIN_S3 */
    edge_str_t domain_name;     /* both */
    edge_str_t path;            /* both: prefix added to the uri, "" or "/prefix" */
    edge_str_t protocol;        /* custom: "http" or "https" */
    edge_str_t region;          /* s3 */
    edge_str_t auth_method;     /* s3: "origin-access-identity" (signed by the host) or "none" */
    uint32_t port;              /* custom: 80, 443 or 1024-65535 */
    uint32_t read_timeout;      /* custom: seconds, 4-60 */
    uint32_t keepalive_timeout; /* custom: seconds, 1-60 */
    uint32_t num_custom_headers;
    const edge_header_t *custom_headers; /* headers the host adds to the origin request */
    /* since 1.1 (a smaller `size` leaves it out: the origin's default) */
    uint32_t ssl_protocols; /* custom: EDGE_SSL_* bits (sslProtocols); the lowest is the oldest TLS version offered; 0 = default */
    /* since 1.5 */
    edge_str_t version_id; /* s3: the object version to fetch (request.origin.s3.versionId, an edgehook extension; "" = the latest):
                              sent signed as ?versionId=; 1-1024 of A-Z a-z 0-9 . _ - + / = */
} edge_origin_t;

/** edge_origin_t.ssl_protocols: Lambda@Edge's sslProtocols values, plus TLSv1.3 */
enum { EDGE_SSL_SSLV3 = 1, EDGE_SSL_TLSV1 = 2, EDGE_SSL_TLSV1_1 = 4, EDGE_SSL_TLSV1_2 = 8, EDGE_SSL_TLSV1_3 = 16 };
/** 1.2: a request for host->fetch. Set `size = sizeof(edge_fetch_request_t)`. */
typedef struct edge_fetch_request {
    uint32_t size;
    uint32_t timeout_ms;          /* 0: the rest of the call's time (it is capped by it anyway) */
    edge_str_t url;               /* http:// or https://, to a host the hook's `fetch_allow` lists */
    edge_str_t method;            /* empty: GET */
    edge_str_t body;              /* may be empty */
    const edge_header_t *headers; /* key and value of each are sent; Host and the framing headers are the host's */
    size_t num_headers;
} edge_fetch_request_t;

/** 1.2: the answer of a fetch, given to its completion callback; valid until that callback returns */
typedef struct edge_fetch_response {
    int status;                   /* the HTTP status (any, 404 included), or EDGE_E_DENIED (not in fetch_allow, not a URL),
                                     EDGE_E_FAILED (no answer: error says why) */
    edge_str_t error;             /* why it failed, else empty */
    edge_str_t body;              /* at most 1 MB (a larger answer fails) */
    const edge_header_t *headers; /* names lower-case */
    size_t num_headers;
} edge_fetch_response_t;

/** 1.6: the operations of host->s3 */
enum { EDGE_S3_GET = 0, EDGE_S3_HEAD = 1, EDGE_S3_PUT = 2, EDGE_S3_DELETE = 3, EDGE_S3_LIST = 4 };

/**
 * 1.6: a request for host->s3. Set `size = sizeof(edge_s3_request_t)`. The answer comes as an edge_fetch_response_t: status
 * 200 (GET/HEAD/PUT/LIST), 204 (DELETE, also for a key that was absent), 404 (no such bucket or key), 400 (an invalid key,
 * too large), 503 (the event queue is full: nothing written), 500; the body is the object (GET), a JSON listing
 * {"keys":[{"key","size","etag","last_modified"}],"truncated","next"} (LIST) or the error message; headers: etag,
 * content-length, content-type and x-amz-meta-* as stored (GET/HEAD), etag (PUT).
 */
typedef struct edge_s3_request {
    size_t size;
    int op; /* EDGE_S3_* */
    edge_str_t bucket;
    edge_str_t key;                /* all but LIST */
    edge_str_t body;               /* PUT */
    const edge_header_t *headers;  /* PUT: content-type, cache-control, content-disposition, content-encoding, x-amz-meta-* */
    size_t num_headers;
    edge_str_t prefix, start_after; /* LIST */
    unsigned max_keys;              /* LIST: 1-1000 (0: 1000) */
} edge_s3_request_t;

/** 1.2: a fetch's completion callback: runs inside host->fetch_wait, on the plugin's thread, once per fetch */
typedef void (*edge_fetch_done_t)(edge_ctx_t *ctx, void *arg, const edge_fetch_response_t *response);

/**
 * The host's functions, passed to init and to every on_event. Every function takes the ctx of the current call and
 * may be called only from inside on_event, on the calling thread. Strings returned through edge_str_t stay valid until
 * on_event returns (they live in the request's memory); strings passed in are copied.
 * Check `size` before using a slot added after 1.0 (offsetof(edge_host_t, slot) < host->size).
 *
 * Blocking: no host function blocks the thread on I/O or a lock held by another request. All are bounded by the size of
 * what they are given (header functions walk the header list), except fetch_wait (1.2), which returns when every fetch
 * of the call has an answer: at most the call's remaining time (its timeout: 5 s at viewer events, 30 s at origin events,
 * or the hook's `timeout:`). While it waits the call is parked and the worker thread serves other requests; on_event goes
 * on on the same thread afterwards.
 */
typedef struct edge_host {
    uint32_t abi_major, abi_minor;
    uint32_t size; /* sizeof(edge_host_t) of the host */
    uint32_t reserved;
    /** reads a string field; 0 (1 for a truncated request body) or EDGE_E_NOTFOUND. All events. */
    int (*get)(edge_ctx_t *ctx, int field, edge_str_t *out);
    /** replaces a string field (see edge_field_t for where each may be set); 0 or EDGE_E_DENIED/INVALID/NOMEM */
    int (*set)(edge_ctx_t *ctx, int field, const char *value, size_t len);
    /** the response status: response events, or the generated response of a request event (0 before respond) */
    int (*get_status)(edge_ctx_t *ctx);
    /** origin-response: 200-599; viewer-response: denied unless unchanged; request events: the generated response's */
    int (*set_status)(edge_ctx_t *ctx, int status);
    /** number of headers of msg (EDGE_MSG_REQUEST / EDGE_MSG_RESPONSE) */
    size_t (*header_count)(edge_ctx_t *ctx, int msg);
    /** the index-th header of msg; 0 or EDGE_E_NOTFOUND */
    int (*header_at)(edge_ctx_t *ctx, int msg, size_t index, edge_header_t *out);
    /** the nth (0-based) header named `name` (any case) of msg; 0 or EDGE_E_NOTFOUND */
    int (*header_get)(edge_ctx_t *ctx, int msg, const char *name, size_t name_len, size_t nth, edge_header_t *out);
    /** appends a header; key is the name in the case to send (the lowercase name is derived); 0 or EDGE_E_INVALID/NOMEM.
        Touching a disallowed or read-only header (Lambda@Edge lists) makes the whole call answer 502 when it returns. */
    int (*header_add)(edge_ctx_t *ctx, int msg, const char *key, size_t key_len, const char *value, size_t value_len);
    /** removes every header named `name` (any case); returns how many were removed */
    int (*header_remove)(edge_ctx_t *ctx, int msg, const char *name, size_t name_len);
    /** header_remove + header_add */
    int (*header_set)(edge_ctx_t *ctx, int msg, const char *key, size_t key_len, const char *value, size_t value_len);
    /** request events: starts a generated response (status 200-599, description and body may be empty); add its headers
        with EDGE_MSG_RESPONSE, then return EDGE_RESPOND. 0 or EDGE_E_DENIED/INVALID */
    int (*respond)(edge_ctx_t *ctx, int status, const char *description, size_t description_len, const char *body, size_t body_len);
    /** origin events: the origin the request goes to (origin-response: the one it went to, as the origin-request hook left
        it); 0 or EDGE_E_NOTFOUND (viewer events) */
    int (*get_origin)(edge_ctx_t *ctx, edge_origin_t *out);
    /** origin-request: sends the request to this origin (may be one not declared in the config); 0 or EDGE_E_DENIED/INVALID */
    int (*set_origin)(edge_ctx_t *ctx, const edge_origin_t *origin);
    /** per-request arena: freed when the request ends, never free it yourself; NULL when exhausted */
    void *(*alloc)(edge_ctx_t *ctx, size_t size);
    /** writes a line to the error log, prefixed with the hook name and request id */
    void (*log)(edge_ctx_t *ctx, int level, const char *msg, size_t len);
    /** records why the hook fails (logged with the 503); call it and return EDGE_FAIL */
    void (*fail)(edge_ctx_t *ctx, const char *msg, size_t len);
    /** 1.2: starts a fetch (in parallel with the call's other fetches); `done` runs with its answer inside fetch_wait. 0, or
        EDGE_E_INVALID (a malformed request, or more than 64 fetches at once). A fetch the hook's fetch_allow does not permit
        is answered EDGE_E_DENIED in its callback; it does not fail the call unless the plugin returns EDGE_FAIL. */
    int (*fetch)(edge_ctx_t *ctx, const edge_fetch_request_t *request, edge_fetch_done_t done, void *arg);
    /** 1.2: waits for the answers of every fetch started, calling each callback (see "Blocking" above). 0, or EDGE_E_NOTFOUND
        when no fetch was started */
    int (*fetch_wait)(edge_ctx_t *ctx);
    /** 1.2: what the descriptor's thread_init returned for the calling thread (NULL without one) */
    void *(*thread_state)(edge_ctx_t *ctx);
    /** 1.3: reads `key` from the kv store named `store`, one the hook's `kv:` config lists: 0 with *out = the value (valid
        until on_event returns), EDGE_E_NOTFOUND when the key is absent, EDGE_E_DENIED when the hook may not read that store (not
        in its `kv:` list, or no such store), EDGE_E_INVALID for a NULL argument. All the reads of one call see one snapshot of
        the stores: a bulk update is seen whole or not at all. Never blocks: a hash lookup (the call's first read also takes a
        reference on the current snapshot, under a mutex held for a few instructions). All events. */
    int (*kv_get)(edge_ctx_t *ctx, const char *store, size_t store_len, const char *key, size_t key_len, edge_str_t *out);
    /** 1.6: starts an operation on the embedded store (no HTTP, no fetch_allow): like fetch, `done` runs with its answer inside
        fetch_wait (the call parks; the store's I/O runs off the worker). 0, or EDGE_E_INVALID (a malformed request, more than
        64 at once). Writes purge the edge's cached copies and notify like an S3 PUT/DELETE; their event records carry this
        hook and its generation (store.notify_max_generations stops a loop). */
    int (*s3)(edge_ctx_t *ctx, const edge_s3_request_t *request, edge_fetch_done_t done, void *arg);
    /** 1.7: moves the rest of the call off the worker's event loop: it returns on an offload thread (the worker goes on serving
        other requests; the viewer waits for this call only), for work that takes long (decoding an image). 0 once moved, or
        EDGE_E_DENIED where the call cannot move (a generic or asynchronous invocation, already on its own thread; `edgehook
        invoke`; offload disabled): it goes on where it is. Every host function works as before after the move, but
        host->thread_state is the starting worker's (which runs other calls meanwhile): read what you need of it before; and
        strings returned before the move may be the caller's memory, which the move does not keep: get them again after it. */
    int (*offload)(edge_ctx_t *ctx);
} edge_host_t;

/**
 * The descriptor a plugin exports as `const edge_hook_plugin_t edge_hook_plugin` (use EDGE_HOOK_PLUGIN).
 *
 * Lifecycle and threading:
 *   - init runs once when the host loads the plugin (one load per hook version), on a non-worker thread, with the hook's
 *     `config:` map as a JSON object text. It returns 0 and sets *state, or non-zero with a message in err.
 *   - on_event runs on every worker thread at once, concurrently: treat the state from init as read-only (or guard it
 *     yourself), keep per-request data in host->alloc memory, never block (the host gives each call a wall-clock budget
 *     but cannot stop C code: a plugin that overruns is only counted and logged), never keep ctx or strings from it.
 *   - fini runs once when the version is unloaded, after the last on_event returned.
 *   - 1.2: thread_init (optional) runs on each worker thread before the first on_event there, with init's state; what it
 *     stores in *thread_state is the thread's own (host->thread_state). thread_fini runs on that thread when the version is
 *     dropped there or the thread ends. A thread_init that fails (non-zero) fails the calls on that thread (503).
 *   - A plugin that crashes (SIGSEGV, abort) takes the process down: native hooks are trusted code.
 */
typedef struct edge_hook_plugin {
    uint32_t abi_major; /* these three must stay first: they protect the rest */
    uint32_t abi_minor;
    uint32_t size;   /* sizeof(edge_hook_plugin_t) as the plugin was built */
    uint32_t events; /* EDGE_EVENT_BIT(...) of the events the plugin handles (others continue unchanged) */
    const char *name;
    const char *version;
    int (*init)(const edge_host_t *host, const char *config_json, size_t config_len, void **state, char *err, size_t errlen);
    edge_action_t (*on_event)(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event);
    void (*fini)(void *state);
    /* 1.2 */
    int (*thread_init)(void *state, void **thread_state);
    void (*thread_fini)(void *state, void *thread_state);
    /* 1.4: a generic invocation (`aws lambda invoke` with a payload that is not a Lambda@Edge event: an S3 event record, any
     * JSON). `payload` is the JSON text given (valid during the call); the plugin sets *result to the JSON text it answers
     * with (host->alloc memory, or static; at most 6 MB; the host checks it is JSON) and returns EDGE_CONTINUE, or says why
     * with host->fail and returns EDGE_FAIL (the caller gets Lambda's error JSON). host->log lines go to the invocation's log
     * (--log-type Tail) too; host->alloc, fetch, kv_get work as in on_event; the event's fields and headers are empty. */
    edge_action_t (*on_invoke)(void *state, const edge_host_t *host, edge_ctx_t *ctx, const char *payload, size_t payload_len,
                               edge_str_t *result);
} edge_hook_plugin_t;

/** the descriptor size of ABI 1.0: smaller descriptors are refused */
#define EDGE_HOOK_PLUGIN_SIZE_1_0 (offsetof(edge_hook_plugin_t, fini) + sizeof(void (*)(void *)))

/** 1.2: the descriptor with per-thread state: EDGE_HOOK_PLUGIN_THREADS(..., fini, thread_init, thread_fini) */
#define EDGE_HOOK_PLUGIN_THREADS(name_, version_, events_, init_, on_event_, fini_, thread_init_, thread_fini_)                    \
    __attribute__((visibility("default"))) const edge_hook_plugin_t edge_hook_plugin = {EDGE_HOOK_ABI_MAJOR,                       \
                                                                                        EDGE_HOOK_ABI_MINOR,                       \
                                                                                        sizeof(edge_hook_plugin_t),                \
                                                                                        (events_),                                 \
                                                                                        (name_),                                   \
                                                                                        (version_),                                \
                                                                                        (init_),                                   \
                                                                                        (on_event_),                               \
                                                                                        (fini_),                                   \
                                                                                        (thread_init_),                            \
                                                                                        (thread_fini_)}

/** 1.4: the descriptor of a plugin for generic invocations only (no trigger point): EDGE_HOOK_PLUGIN_INVOKE(..., fini, on_invoke) */
#define EDGE_HOOK_PLUGIN_INVOKE(name_, version_, init_, fini_, on_invoke_)                                                         \
    __attribute__((visibility("default"))) const edge_hook_plugin_t edge_hook_plugin = {.abi_major = EDGE_HOOK_ABI_MAJOR,          \
                                                                                        .abi_minor = EDGE_HOOK_ABI_MINOR,          \
                                                                                        .size = sizeof(edge_hook_plugin_t),        \
                                                                                        .name = (name_),                           \
                                                                                        .version = (version_),                     \
                                                                                        .init = (init_),                           \
                                                                                        .fini = (fini_),                           \
                                                                                        .on_invoke = (on_invoke_)}

/** declares the descriptor: EDGE_HOOK_PLUGIN("name", "1.0", EDGE_ALL_EVENTS, init, on_event, fini) */
#define EDGE_HOOK_PLUGIN(name_, version_, events_, init_, on_event_, fini_)                                                        \
    __attribute__((visibility("default"))) const edge_hook_plugin_t edge_hook_plugin = {EDGE_HOOK_ABI_MAJOR,                       \
                                                                                        EDGE_HOOK_ABI_MINOR,                       \
                                                                                        sizeof(edge_hook_plugin_t),                \
                                                                                        (events_),                                 \
                                                                                        (name_),                                   \
                                                                                        (version_),                                \
                                                                                        (init_),                                   \
                                                                                        (on_event_),                               \
                                                                                        (fini_)}

#ifdef __cplusplus
}
#endif

#endif
