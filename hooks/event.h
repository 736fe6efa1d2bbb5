/* hooks/event.h - the C event model shared by Lua and C hooks: a Lambda@Edge event (config, request, response) in one request's
 * pool. */
#ifndef EDGE_HOOKS_EVENT_H
#define EDGE_HOOKS_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <h2o/memory.h>

/** event types; same values as CONF_HOOK_* (conf/config.h) and EDGE_* (hooks/edge_hook.h) */
typedef enum hook_event_type {
    HOOK_VIEWER_REQUEST = 0,
    HOOK_ORIGIN_REQUEST = 1,
    HOOK_ORIGIN_RESPONSE = 2,
    HOOK_VIEWER_RESPONSE = 3,
    HOOK_NUM_EVENTS = 4, /* the trigger points; HOOK_INVOKE is not one */
    HOOK_INVOKE = 4      /* a direct invocation (the Lambda invoke API) with any JSON: ev->invoke.payload in, .result out */
} hook_event_type_t;

/** "viewer-request" ... ("invoke" for HOOK_INVOKE) for a type, and the reverse (-1 when unknown; "invoke" is not parsed) */
const char *hook_event_type_name(int type);
int hook_event_type_parse(const char *s, size_t len);

/** one header: name is the lowercase form of key */
typedef struct hook_header {
    h2o_iovec_t name;
    h2o_iovec_t key;
    h2o_iovec_t value;
} hook_header_t;

/** a header list in the order it is sent; entries live in the request's pool */
typedef struct hook_headers {
    hook_header_t *entries;
    size_t size, capacity;
} hook_headers_t;

/** hook_origin_t.kind: none (viewer events), an HTTP origin, an S3 bucket */
enum { HOOK_ORIGIN_NONE = 0, HOOK_ORIGIN_CUSTOM = 1, HOOK_ORIGIN_S3 = 2 };

/** Lambda@Edge `request.origin`: where a miss is fetched from (origin events only) */
typedef struct hook_origin {
    int kind;                /* HOOK_ORIGIN_* */
    int changed;             /* set by the runtime when an origin-request hook replaced it */
    h2o_iovec_t domain_name; /* both */
    h2o_iovec_t path;        /* both: "" or "/prefix" */
    h2o_iovec_t protocol;    /* custom: "http" | "https" */
    h2o_iovec_t region;      /* s3 */
    h2o_iovec_t auth_method; /* s3: "origin-access-identity" | "none" */
    uint16_t port;           /* custom */
    int read_timeout_s;      /* custom, 4-60 */
    int keepalive_timeout_s; /* custom, 1-60 */
    unsigned ssl_protocols;  /* custom: HOOK_SSL_* bits of sslProtocols; 0: not given (the origin's default) */
    hook_headers_t custom_headers;
    h2o_iovec_t version_id; /* s3: the object version to fetch (request.origin.s3.versionId); len 0: the latest */
} hook_origin_t;

/** 1 if v is a usable S3 version id for request.origin.s3.versionId: 1-1024 bytes of A-Z a-z 0-9 . _ - + / = (S3's ids are
 * URL-ready strings of at most 1024 bytes; the store's are 32 hex digits or "null") */
int hook_origin_version_id_valid(const char *v, size_t len);

/** hook_origin_t.ssl_protocols: the values of Lambda@Edge's sslProtocols (and TLSv1.3, edgehook's), one bit each, oldest first */
enum {
    HOOK_SSL_SSLV3 = 1,
    HOOK_SSL_TLSV1 = 2,
    HOOK_SSL_TLSV1_1 = 4,
    HOOK_SSL_TLSV1_2 = 8,
    HOOK_SSL_TLSV1_3 = 16,
    HOOK_SSL_ALL = 31
};
/** the bit of an sslProtocols value ("TLSv1.2"), 0 when it is none of them */
unsigned hook_ssl_protocol_parse(const char *s, size_t len);
/** the name of one HOOK_SSL_* bit */
const char *hook_ssl_protocol_name(unsigned bit);

/** the viewer's request; uri, querystring, headers, body and origin may be changed by request hooks */
typedef struct hook_request {
    h2o_iovec_t client_ip, method, uri, querystring; /* querystring without '?', "" if none */
    hook_headers_t headers;
    struct {
        int present;      /* the hook has include_body and the pipeline passed the body */
        int truncated;    /* the body was longer than the event limit (hook_size_limit()) */
        int replaced;     /* set by the runtime when a hook replaced it */
        h2o_iovec_t data; /* raw bytes */
    } body;
    hook_origin_t origin;
} hook_request_t;

/** a response: the origin's or cached one in response events, or one a request hook generated */
typedef struct hook_response {
    int status; /* 0: none (request events before a hook generated one) */
    h2o_iovec_t status_description;
    hook_headers_t headers;
    int has_body;     /* a hook set the body (origin-response replacement, or generated) */
    h2o_iovec_t body; /* decoded bytes */
    int has_origin_body;     /* origin-response: the origin's body was read before the hook (conf origin_body) */
    h2o_iovec_t origin_body; /* its bytes (read-only for the hook) */
} hook_response_t;

/** the defaults of hook_head_limits_t: edgehook's own defaults of limits.max_request_header_size, max_request_headers and
 * max_response_header_size, and the fixed cap on the header fields of a response a hook leaves */
#define HOOK_DEFAULT_HEAD_BYTES (64 * 1024)
#define HOOK_DEFAULT_REQUEST_HEADERS 100
#define HOOK_MAX_RESPONSE_HEADERS 200

/**
 * How large a head a hook's result may carry: the size is the sum of name + value lengths of the header fields (the origin's
 * custom headers included for origin-request), the count the number of fields. A result over a cap and larger than the head
 * the hook was given is invalid output (502), as Lambda@Edge answers a result over its size limits. Request events that
 * continue are held to the request caps; response events and generated responses to the response caps. 0: no cap.
 */
typedef struct hook_head_limits {
    size_t request_bytes, request_count;
    size_t response_bytes, response_count;
} hook_head_limits_t;

/**
 * One event. The pipeline fills it (type, ids, request, and response for response events) with memory from the request's
 * pool, calls hook_run, and reads it back; the runtime changes it in place, allocating from the same pool.
 */
typedef struct hook_event {
    int type; /* HOOK_VIEWER_REQUEST ... */
    h2o_iovec_t request_id, distribution_domain_name, distribution_id;
    hook_request_t request;
    hook_response_t response;
    hook_head_limits_t limits; /* hook_event_init sets the HOOK_DEFAULT_* values; the pipeline sets the configured ones */
    struct {
        h2o_iovec_t payload;       /* HOOK_INVOKE: the JSON the hook is given */
        h2o_iovec_t result;        /* HOOK_INVOKE: the JSON it returned (set by the runtime, in the event's pool) */
        struct hook_logtail *tail; /* any type: the call's log lines are copied here too (hooks/logtail.h), or NULL */
    } invoke;
} hook_event_t;

/** zeroes ev, sets its type and the default head limits */
void hook_event_init(hook_event_t *ev, int type);
/** a deep copy of src into pool (every string and list), so that it outlives the memory src points into */
void hook_event_copy(h2o_mem_pool_t *pool, hook_event_t *dst, const hook_event_t *src);
/** a deep copy of a header list (entries and bytes) in pool */
void hook_headers_dup(h2o_mem_pool_t *pool, hook_headers_t *dst, const hook_headers_t *src);

/** index of the first header named `name` (lowercase) at or after `from`, or -1 */
ssize_t hook_headers_find(const hook_headers_t *h, const char *name, size_t len, size_t from);
/** appends a header; `key` any case (name = lowercase copy); copies into pool */
void hook_headers_add(h2o_mem_pool_t *pool, hook_headers_t *h, const char *key, size_t klen, const char *value, size_t vlen);
/** appends without copying: the caller guarantees name is lowercase and all three outlive the event */
void hook_headers_add_nocopy(h2o_mem_pool_t *pool, hook_headers_t *h, h2o_iovec_t name, h2o_iovec_t key, h2o_iovec_t value);
/** removes every header named `name` (any case); returns how many */
size_t hook_headers_remove(hook_headers_t *h, const char *name, size_t len);
/** a shallow copy of the entry array into pool */
void hook_headers_copy(h2o_mem_pool_t *pool, hook_headers_t *dst, const hook_headers_t *src);

int hook_header_in_disallowed_list(const char *name, size_t len);

/**
 * 1 if `name` (lowercase) may never appear in an event nor be added (as Lambda@Edge rules). Inline: it runs for every
 * header of every event, and the first character and the length rule out almost every name at once.
 */
static inline int hook_header_is_disallowed(const char *name, size_t len)
{
    if (len < 6) /* "expect" is the shortest */
        return 0;
    switch (name[0]) {
    case 'c':
        return len == 10 && memcmp(name, "connection", 10) == 0;
    case 'e':
        return len == 6 && memcmp(name, "expect", 6) == 0;
    case 'k':
        return len == 10 && memcmp(name, "keep-alive", 10) == 0;
    case 'p':
        return len >= 16 && memcmp(name, "proxy-", 6) == 0 && hook_header_in_disallowed_list(name, len);
    case 't':
        return len == 7 && memcmp(name, "trailer", 7) == 0;
    case 'u':
        return len == 7 && memcmp(name, "upgrade", 7) == 0;
    case 'x':
        if (len < 7 || name[1] != '-')
            return 0;
        switch (name[2]) {
        case 'a': /* x-accel-*, x-amzn-*, x-amz-cf-* */
            return (len >= 9 && memcmp(name, "x-amz-cf-", 9) == 0) || hook_header_in_disallowed_list(name, len);
        case 'c':
            return len == 7 && memcmp(name, "x-cache", 7) == 0;
        case 'e':
            return memcmp(name, "x-edge-", 7) == 0;
        case 'f':
            return len == 17 && memcmp(name, "x-forwarded-proto", 17) == 0;
        case 'r':
            return len == 9 && memcmp(name, "x-real-ip", 9) == 0;
        default:
            return 0;
        }
    default:
        return 0;
    }
}
/** 1 if `name` (lowercase) is read-only for this event type and message (0 request, 1 response) */
int hook_header_is_readonly(int type, int msg, const char *name, size_t len);
/** 1 if s is a valid header name (RFC 9110 token) / value (no CR, LF or NUL) */
int hook_header_name_valid(const char *s, size_t len);
int hook_header_value_valid(const char *s, size_t len);
/** writes the Title-Case form of name into out (len bytes), as Lambda@Edge fills an omitted `key` */
void hook_header_title_case(char *out, const char *name, size_t len);

/** the sum of name + value lengths of a header list */
size_t hook_headers_bytes(const hook_headers_t *h);

/**
 * Lambda@Edge's size limits, the one definition: 40 KB at viewer-request, 1 MB at the other trigger points. They cap the request
 * body a hook with include_body is shown (a longer one is cut and marked truncated), the body a hook may write, and a generated
 * response (headers + body).
 */
#define HOOK_VIEWER_SIZE_LIMIT (40 * 1024)
#define HOOK_ORIGIN_SIZE_LIMIT (1024 * 1024)

/** the size limit of an event type: HOOK_VIEWER_SIZE_LIMIT for viewer-request, HOOK_ORIGIN_SIZE_LIMIT otherwise */
static inline size_t hook_size_limit(int type)
{
    return type == HOOK_VIEWER_REQUEST ? HOOK_VIEWER_SIZE_LIMIT : HOOK_ORIGIN_SIZE_LIMIT;
}
/** the largest generated response (headers + body) for a request event type: hook_size_limit() */
size_t hook_response_size_limit(int type);
/** size of a response as Lambda@Edge counts it: status line, each "Key: value\r\n", body */
size_t hook_response_size(const hook_response_t *resp);

#endif
