/* store/direct.h - the embedded store from inside the process, without HTTP: what hooks' edge.s3.get/head/put/delete/list
 * (Lua and the C ABI) run on. Writes take the same atomic path as an S3 PUT/DELETE, notify like one (store/notify.h: the
 * event records carry the writing hook and its generation, the loop guard counts them) and purge the cache before they return.
 * Every function does file I/O (and writes fsync): call them on a thread that may block (not an event loop).
 */
#ifndef EDGE_STORE_DIRECT_H
#define EDGE_STORE_DIRECT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "store/notify.h"

#define STORE_DIRECT_MAX_GET (64u << 20) /* the largest object edge.s3.get reads into memory */

/** an object read (or headed): data malloc'ed (NULL for a head), headers copied (lowercase names) */
typedef struct store_direct_obj {
    char *data;
    uint64_t size;
    char etag[48];
    int64_t mtime_ms;
    char **names, **values;
    size_t num_headers;
} store_direct_obj_t;
void store_direct_obj_free(store_direct_obj_t *o);

/** result codes besides 0 */
enum {
    STORE_DIRECT_NOBUCKET = -2, /* no such bucket */
    STORE_DIRECT_NOKEY = -3,    /* no such key */
    STORE_DIRECT_INVALID = -4,  /* an invalid key, too large, bad argument (err says) */
    STORE_DIRECT_FULL = -5,     /* the event queue is full: nothing was written (S3's 503 SlowDown) */
    STORE_DIRECT_EIO = -1,
};

/** GET (head_only: HEAD) bucket/key: 0 with *out, or a code with err */
int store_direct_get(store_t *s, const char *bucket, const char *key, size_t klen, int head_only, store_direct_obj_t *out,
                     char *err, size_t errlen);
/**
 * PUT bucket/key with data and headers (names lowercase: content-type, x-amz-meta-*, cache-control, ...): 0 with etag (32 hex
 * digits) or a code with err. o: who writes (its hook and generation go into the event records).
 */
int store_direct_put(store_t *s, const char *bucket, const char *key, size_t klen, const void *data, size_t len,
                     const char *const *names, const char *const *values, size_t num_headers, const store_notify_origin_t *o,
                     char etag[48], char *err, size_t errlen);
/** DELETE bucket/key: 0 (also when the key did not exist, as S3) or a code with err */
int store_direct_delete(store_t *s, const char *bucket, const char *key, size_t klen, const store_notify_origin_t *o, char *err,
                        size_t errlen);
/**
 * Lists up to max_keys (1-1000) keys of bucket under prefix after `after` (NULL: from the start): a JSON document
 * {"keys":[{"key","size","etag","last_modified"}...],"truncated":bool,"next":KEY} into *json (malloc'ed). 0 or a code.
 */
int store_direct_list(store_t *s, const char *bucket, const char *prefix, size_t plen, const char *after, size_t alen,
                      size_t max_keys, char **json, size_t *json_len, char *err, size_t errlen);

/**
 * A browser upload form for bucket (S3 POST Object), signed with the key of the process's own requests (store_get_credentials):
 * the policy expires `expires` seconds (1 s to 7 days) after now, names the bucket, x-amz-algorithm, x-amz-credential and
 * x-amz-date, then the caller's conditions (a JSON array, e.g. [["starts-with","$key","photos/"],["content-length-range",1,N]],
 * spliced in unparsed: the store checks the whole policy when the form comes back). *json (malloc'ed): {"policy",
 * "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "expiration"}. The signature covers a base64 policy
 * only (no string a request signature covers is base64), so this signs nothing but forms. 0 or a code with err.
 */
int store_direct_post_policy(store_t *s, const char *bucket, const char *conditions, size_t clen, unsigned expires, time_t now,
                             char **json, size_t *json_len, char *err, size_t errlen);

#endif
