/* proxy/fleetwire.h - what the fleet reads from etcd, as pure functions over bytes (no sockets, no threads, no h2o): the events of
 * a watch message, the keys under the fleet's prefix, and the values of aliases and purges. What etcd holds may have been written
 * by anyone with access to it: everything is checked, nothing is trusted. Fuzzed by tests/fuzz/fuzz_fleet_wire.c. */
#ifndef EDGE_PROXY_FLEETWIRE_H
#define EDGE_PROXY_FLEETWIRE_H

#include <stddef.h>
#include "hooks/json.h"

/** one key-value of a watch event or a range answer, decoded (key and value are malloc'ed, NUL-terminated) */
typedef struct fleet_kv {
    int del; /* a DELETE event */
    char *key, *val;
    size_t klen, vlen;
    long long mod_revision;
} fleet_kv_t;

/** what one message of the watch stream says */
typedef struct fleet_watch_msg {
    int error;                  /* the gateway sent an error instead of a result */
    int created, canceled;      /* the watch was created / canceled */
    long long compact_revision; /* > 0: the history before it is gone */
    long long header_revision;
    fleet_kv_t *events;
    size_t num_events;
} fleet_watch_msg_t;

/** decodes a watch message (`{"result": {...}}` or `{"error": {...}}`); events whose key or value is not base64 are skipped */
void fleet_watch_decode(const hook_json_t *msg, fleet_watch_msg_t *out);
/** the kvs of a range answer (`{"header": ..., "kvs": [...]}`), as events that are not deletes */
void fleet_range_decode(const hook_json_t *answer, fleet_watch_msg_t *out);
void fleet_watch_free(fleet_watch_msg_t *m);

/** what a key under PREFIX/ names */
typedef enum fleet_key_kind {
    FLEET_KEY_OTHER = 0, /* outside the prefix, or not one of ours: ignored */
    FLEET_KEY_NODE,      /* nodes/NODE: a = NODE */
    FLEET_KEY_ACK,       /* ack/ID/NODE: a = ID, b = NODE */
    FLEET_KEY_PURGE,     /* purge/ID: a = ID */
    FLEET_KEY_ALIAS,     /* alias/HOOK/ALIAS: a = HOOK, b = ALIAS */
    FLEET_KEY_KV,        /* kv/STORE/KEY: a = STORE, b = KEY (any bytes) */
    FLEET_KEY_VERSION,   /* versions/HOOK/N: a = HOOK, b = N (decimal, 1..999999999, no leading 0) */
    FLEET_KEY_LATEST,    /* latest/HOOK: a = HOOK */
} fleet_key_kind_t;

typedef struct fleet_key {
    fleet_key_kind_t kind;
    const char *a, *b; /* slices of the key */
    size_t alen, blen;
} fleet_key_t;

/** longest names the fleet accepts in keys (node, purge id, hook, alias, store) */
#define FLEET_NAME_MAX 200

/** classifies key (klen bytes) under prefix; names (a, and b but for kv keys) are 1..FLEET_NAME_MAX bytes without '/' or control
 * bytes, else the key is FLEET_KEY_OTHER */
fleet_key_kind_t fleet_key_parse(const char *prefix, const char *key, size_t klen, fleet_key_t *out);

/** an alias's target: one or two versions (>= 1) with weights in (0, 1] that sum to 1, and the sticky key */
typedef struct fleet_alias {
    unsigned versions[2];
    double weights[2];
    size_t n;
    char key[80]; /* "ip", "cookie:NAME" or "header:NAME" (as given; the registry checks it) */
    char sha256[2][65]; /* each version's code on the node that wrote it (64 lowercase hex digits), or "" when not given */
} fleet_alias_t;
/** parses an alias value `{"versions": {"N": W, ...}, "key": "...", "sha256": {"N": HEX, ...}}`: 0, or -1 with the reason */
int fleet_alias_parse(const char *val, size_t len, fleet_alias_t *out, char *err, size_t errlen);

/** N of a versions/HOOK/N key: 1..999999999 in decimal without a leading 0, else 0 */
unsigned fleet_version_number(const char *s, size_t len);

/** the most code bytes a version may have in a fleet: etcd's default request limit (--max-request-bytes, 1.5 MiB) less room for
 * the key and the version's record in the same transaction */
#define FLEET_CODE_MAX (1572864u - 16384u)

/** a version record `{"node": NODE, "sha256": HEX, "ext": "lua"|"so", "size": N, ...settings}` (hook_versions_json's members
 * of a version); node points into *doc (free it), which the registry reads the settings from */
typedef struct fleet_version {
    const char *node;
    char sha256[65];
    int is_lua;
    size_t size; /* <= FLEET_CODE_MAX */
} fleet_version_t;
/** 0 with *doc to free, or -1 with the reason (*doc NULL) */
int fleet_version_parse(const char *val, size_t len, hook_json_t **doc, fleet_version_t *out, char *err, size_t errlen);

/** the purge kinds in the order of cache_purge_kind_t (url, prefix, tag, all) */
extern const char *const fleet_purge_kinds[4];
/** a purge value `{"node": NODE, "kind": K, "arg": A, "soft": bool}`; node and arg point into *doc (free it) */
typedef struct fleet_purge {
    const char *node, *arg;
    size_t arglen;
    int kind; /* index into fleet_purge_kinds */
    int soft;
} fleet_purge_t;
/** 0 with *doc to free, or -1 with the reason (*doc NULL): node 1..FLEET_NAME_MAX bytes, a known kind, arg non-empty but for all */
int fleet_purge_parse(const char *val, size_t len, hook_json_t **doc, fleet_purge_t *out, char *err, size_t errlen);

/** base64 of len bytes as a JSON string (the gateway's bytes fields); appends to b */
void fleet_b64(hook_buf_t *b, const void *p, size_t len);
/** an int64 member (the gateway writes them as strings, or omits them when 0) */
long long fleet_int_member(const hook_json_t *o, const char *name);

#endif
