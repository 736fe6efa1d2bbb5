/* store/internal.h - what the store's request handling files share: the store, the per-request context, response helpers */
#ifndef EDGE_STORE_INTERNAL_H
#define EDGE_STORE_INTERNAL_H

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <h2o.h>
#include "store/chunked.h"
#include "store/fs.h"
#include "store/http1.h"
#include "store/jobs.h"
#include "sigv4/sigv4.h"
#include "store/store.h"
#include "store/tagset.h"
#include "store/xml.h"

/** a key pair of the store (store/auth.c) and what it may do */
typedef struct store_cred {
    char *access_key;
    char *secret_key;
    char **buckets; /* names or globs (fnmatch); num_buckets 0: every bucket */
    size_t num_buckets;
    int read_only; /* GET and HEAD only */
    int internal;  /* made up at start for the process's own requests (no configured key may do everything) */
} store_cred_t;

struct store {
    store_fs_t *fs;
    store_jobs_t *jobs; /* the store threads: every request runs there (store/jobs.h) */
    store_cred_t *creds; /* immutable once the store is created */
    size_t num_creds;
    size_t self_cred; /* the key of the process's own requests (store_get_credentials); SIZE_MAX until chosen */
    char *domain; /* lowercase, no leading dot; "" disables virtual-hosted addressing */
    char *region;
    uint64_t max_put_size;
    char owner_id[65];
    uint64_t rid_base;
    atomic_ulong rid_counter;
};

/*
 * What a store thread sees of a request: a copy made on the event loop when the request arrives (the fields keep the names of
 * h2o_req_t's), and the response it builds, which the loop sends when the job is done. Nothing here belongs to h2o except the
 * request body, which stays in h2o's buffer and is read through store_req_entity() only.
 */
typedef struct store_http {
    h2o_mem_pool_t pool; /* the job's memory, freed when both the job and the h2o request are over */
    h2o_iovec_t method;
    int version;
    struct {
        h2o_iovec_t authority;
        h2o_iovec_t path;
        size_t query_at;
    } input;
    h2o_headers_t headers;
    h2o_iovec_t entity; /* h2o's buffer (base NULL: no body): only its length may be read directly; with stream, base is "" and
                         * len the Content-Length (0 for a chunked body: entity_unknown) */
    store_h1body_t *stream; /* HTTP/1.1: the body streamed by the connection (store/http1.h), read through store_req_entity() */
    int entity_unknown;     /* a chunked body: its length is known at its end only */
    struct {
        int status;
        const char *reason;
        h2o_headers_t headers;
        size_t content_length;
    } res;
} store_http_t;

/** how the loop answers once the job is done */
enum { STORE_RES_NONE, STORE_RES_BODY, STORE_RES_EMPTY, STORE_RES_STREAM };

/** a query parameter, percent-decoded, NUL-terminated (pool memory) */
typedef struct store_param {
    h2o_iovec_t name;
    h2o_iovec_t value;
    int has_value;
} store_param_t;

/**
 * One S3 request: a job of the store threads (malloc'd, with its own pool). It lives until both the job is done and the h2o
 * request is over, whichever comes last; the h2o request may end first (the client went away), and then the job still runs to
 * its end (a commit is never torn) and its answer is dropped.
 */
typedef struct store_req {
    store_job_t job;
    store_t *store;
    store_http_t *req; /* &http */
    store_http_t http;
    /* loop side (touched only on the loop thread that received the request, except h2o under lock) */
    pthread_mutex_t lock; /* guards h2o against the loop ending the request while a store thread reads the body */
    h2o_req_t *h2o;       /* NULL once the request is over */
    h2o_context_t *ctx;   /* of the loop that received the request */
    int refs;             /* the job and the h2o request */
    /* the response the job built */
    int res_kind; /* STORE_RES_* */
    h2o_iovec_t res_body;
    store_obj_t *res_obj; /* STORE_RES_STREAM: a reference, and the byte range */
    uint64_t res_start, res_len;
    char request_id[17];
    char peer[NI_MAXHOST]; /* the client's address (event records' sourceIPAddress) */
    int is_head;
    h2o_iovec_t raw_path;  /* without the query */
    h2o_iovec_t raw_query; /* without '?' */
    store_param_t *params;
    size_t num_params;
    h2o_iovec_t bucket; /* NUL-terminated; len 0 for service-level requests */
    h2o_iovec_t key;    /* decoded, NUL-terminated; len 0 for bucket-level requests */
    int virtual_hosted;
    int responded; /* a response was started: a second one would corrupt the connection */
    /* from authentication */
    const store_cred_t *cred;  /* the key that signed the request (NULL before authentication) */
    int sigv2;                 /* signed with AWS Signature Version 2 */
    h2o_iovec_t payload_hash;  /* x-amz-content-sha256 or UNSIGNED-PAYLOAD */
    sigv4_chunk_chain_t chain; /* seed of the chunk-signature chain */
} store_req_t;

/*
 * Every function that answers a request returns 0 once the response is sent (success or error); helpers that may fail
 * before answering say so (-1 after sending the error).
 */

/* ---- store.c ---- */

/** a request header's value (first occurrence) or {NULL, 0} */
h2o_iovec_t store_req_header(store_req_t *sr, const char *name);
/** the value of a query parameter, or NULL if absent ("" for a bare key) */
const store_param_t *store_req_param(store_req_t *sr, const char *name);
/** adds a response header (name lowercase, value copied into the pool) */
void store_add_header(store_req_t *sr, const char *name, const char *value, size_t len);

/**
 * Sends an S3 error: status, `<Error><Code>code</Code><Message>message</Message>...` with Resource and RequestId (no body for
 * HEAD). extra is optional raw XML inserted after Message (already escaped). Returns 0 (the request is answered).
 */
int store_send_error(store_req_t *sr, int status, const char *code, const char *message, const char *extra);
/** sends a 200 (or status) XML document built in x (freed here); a failed builder gives 500 */
int store_send_xml(store_req_t *sr, int status, store_xml_t *x);
/** sends a response without body (content-length 0, or as set by the caller in res.content_length for HEAD) */
int store_send_empty(store_req_t *sr, int status);
/** marks the response as started: 0 the first time, -1 (and an error log line) if the request was already answered */
int store_begin_response(store_req_t *sr);
/**
 * Copies up to max bytes of the request body from offset off into buf (a store thread reads h2o's buffer only this way: the
 * loop may end the request meanwhile). Returns the number of bytes copied, or -1 if the request is over.
 */
long store_req_entity(store_req_t *sr, uint64_t off, void *buf, size_t max);
/** answers with len bytes of o from start, streamed from disk by the loop; takes over the reference o */
int store_send_stream(store_req_t *sr, int status, store_obj_t *o, uint64_t start, uint64_t len);
/**
 * On a loop: drops a reference to o. If it may be the last one of a replaced or deleted object, whose data files go with it,
 * a store thread drops it instead (removing a big file blocks).
 */
void store_release_obj(store_t *s, h2o_context_t *ctx, store_obj_t *o);
/** maps a store_fs error to an S3 error response */
int store_send_fs_error(store_req_t *sr, int err);

/** the result of running a request body */
typedef struct store_body {
    uint8_t md5[16];
    uint64_t size;
} store_body_t;

/**
 * Runs the request body through its payload mode (x-amz-content-sha256: SHA-256 check, UNSIGNED-PAYLOAD, aws-chunked decoding
 * with chunk signatures) and the checksums the client sent (Content-MD5, x-amz-checksum-crc32/crc32c as header or trailer), at
 * most max_size decoded bytes, handing the payload to sink. Returns 0, or -1 after sending the error response.
 */
int store_body_run(store_req_t *sr, uint64_t max_size, store_chunked_sink_cb sink, void *ctx, store_body_t *res);
/** runs a small body (an XML document, at most max bytes) into memory (pool); -1 after sending the error */
int store_body_read(store_req_t *sr, size_t max, h2o_iovec_t *out);

/** formats an HTTP date (RFC 1123) from ms */
void store_http_date(int64_t ms, char out[32]);
/** parses an HTTP date; 0 and the time in seconds, or -1 */
int store_parse_http_date(h2o_iovec_t v, int64_t *sec);
/** 1 if key (decoded) is acceptable: 1..1024 bytes of valid UTF-8 without control characters */
int store_valid_key(const char *key, size_t len, const char **reason);
/** percent-decodes into pool memory (NUL-terminated) */
h2o_iovec_t store_decode(h2o_mem_pool_t *pool, const char *s, size_t len);
/** appends s url-encoded (encoding-type=url: everything but unreserved characters and '/') */
void store_xml_url_elem(store_xml_t *x, const char *tag, const char *s, size_t len, int url);
/** the object headers a PUT, CopyObject (REPLACE) or CreateMultipartUpload stores, from the request (pool memory) */
int store_collect_headers(store_req_t *sr, store_header_t **out, size_t *num);

/** 1 if v is 64 hexadecimal digits (an x-amz-content-sha256 digest) */
int store_is_hex64(h2o_iovec_t v);

/* ---- auth.c ---- */
/** sets the store's keys: conf->keys, else the pair in root/.credentials, else a new pair written there; 0 or -1 with err */
int store_auth_init(store_t *s, const conf_store_t *conf, char *err, size_t errlen);
/** frees the keys (their secrets wiped) */
void store_auth_dispose(store_t *s);
/** the key of an access key id, or NULL */
const store_cred_t *store_find_cred(const store_t *s, const char *access_key);
/** 1 if the key may use the bucket (len bytes) */
int store_cred_bucket_allowed(const store_cred_t *c, const char *bucket, size_t len);
/**
 * Authenticates a request from its head alone (method, target, headers, Content-Length; never its body): SigV4 or SigV2,
 * Authorization header or presigned URL, with any of the store's keys. Needs raw_path, raw_query and the addressing (bucket,
 * virtual_hosted). On success sets cred, sigv2, payload_hash and the chunk-signature seed, and returns 0; otherwise the error
 * has been answered and -1 is returned.
 */
int store_authenticate(store_req_t *sr);
/** after store_authenticate: what the key may do (read-only: GET/HEAD only; its buckets, and a copy's source bucket). 0, or
 * -1 after answering 403 AccessDenied */
int store_authorize(store_req_t *sr);
/** 1 if the request's key may see the bucket (ListBuckets lists only those) */
int store_auth_bucket_visible(const store_req_t *sr, const char *bucket);

/* ---- bucket.c ---- */
/** answers a bucket-level request (/bucket or bucket.domain/): bucket operations, listings, DeleteObjects, sub-resources */
int store_bucket_dispatch(store_req_t *sr);
/** answers a GET ?acl: the owner has FULL_CONTROL (the only ACL the store has) */
int store_send_acl(store_req_t *sr);
/** ListBuckets (GET /) */
int store_list_buckets(store_req_t *sr);

/** 1 if the request names a body checksum (Content-MD5, x-amz-checksum-*, x-amz-sdk-checksum-algorithm, a checksum trailer), as
 * S3 requires of DeleteObjects and PutBucketCors */
int store_body_checksum_present(store_req_t *sr);
/** verifies the x-amz-checksum-crc64nvme/sha1/sha256 headers against a small body read whole; -1 after sending the error */
int store_body_check_other_checksums(store_req_t *sr, h2o_iovec_t body);

/* ---- cors.c ---- */
/** GetBucketCors, PutBucketCors, DeleteBucketCors (?cors) */
int store_cors_get(store_req_t *sr, store_bucket_t *b);
int store_cors_put(store_req_t *sr, store_bucket_t *b);
/** a CORSConfiguration document checked as PutBucketCors checks it, into *out as the store keeps it (store.seed's cors:); 0 or
 * -1 with msg */
int store_cors_document(const char *xml, size_t len, store_xml_t *out, char *msg, size_t msglen);
int store_cors_delete(store_req_t *sr, store_bucket_t *b);
/** answers a preflight OPTIONS request (unauthenticated) from the bucket's rules */
int store_cors_preflight(store_req_t *sr);
/** adds Vary and, when a rule matches the request's Origin and method, the Access-Control-* headers to the response built */
void store_cors_response(store_req_t *sr);

/* ---- post.c ---- */
/** 1 if the request is a POST Object form upload (POST to a bucket, multipart/form-data, no sub-resource) */
int store_post_is_form(store_req_t *sr);
/** POST Object: authenticates the form by its policy signature (not the Authorization header), stores the file */
int store_post_object(store_req_t *sr);

/* ---- object.c ---- */
/** answers an object-level request: Get/Head/Put/Copy/Delete and the multipart operations on a key */
int store_object_dispatch(store_req_t *sr);
/**
 * The object named by an x-amz-copy-source value (a reference), after its x-amz-copy-source-if-* conditions; its bucket name in
 * bucket. NULL after sending the error.
 */
store_obj_t *store_copy_source(store_req_t *sr, h2o_iovec_t source, char bucket[64]);
/** on the loop: starts streaming the response recorded by store_send_stream to req */
void store_object_start_stream(store_req_t *sr, h2o_req_t *req);
/** copies len bytes of src from start into w; the MD5 of those bytes into md5 unless NULL. 0 or -1 (I/O error). */
int store_copy_data(store_fs_writer_t *w, const store_obj_t *src, uint64_t start, uint64_t len, uint8_t md5[16]);

/* ---- versioning.c ---- */
/** the ?versionId= argument: 0 and *version_id NULL (absent), "null" or a well-formed id; -1 after a 400 InvalidArgument */
int store_version_param(store_req_t *sr, const char **version_id);
/** x-amz-version-id (and x-amz-delete-marker) for o: on a bucket whose versioning is OFF only for a named version */
void store_version_headers(store_req_t *sr, const store_bucket_t *b, const store_obj_t *o);
/**
 * answers a GET/HEAD that found no object: o NULL (NoSuchKey, or NoSuchVersion when version_id was given) or a delete marker
 * (404 NoSuchKey for the latest, 405 when asked for by id; both with x-amz-delete-marker: true)
 */
int store_version_not_found(store_req_t *sr, const store_bucket_t *b, const store_obj_t *o, const char *version_id);
/** GetBucketVersioning, PutBucketVersioning, ListObjectVersions */
int store_versioning_get(store_req_t *sr, store_bucket_t *b);
int store_versioning_put(store_req_t *sr, store_bucket_t *b);
int store_versioning_list(store_req_t *sr, store_bucket_t *b);

/** a conditional write's If-Match / If-None-Match (PUT, CopyObject, CompleteMultipartUpload) */
typedef struct store_put_precond {
    h2o_iovec_t if_match, if_none_match;
} store_put_precond_t;
/** a store_fs_precond_cb for store_put_precond_t: 0, 412 (a condition failed) or 404 (If-Match on a missing key) */
int store_put_precond(void *ctx, const store_obj_t *cur);
/** answers a refusal of store_put_precond: 412 PreconditionFailed or 404 NoSuchKey */
int store_put_precond_error(store_req_t *sr, int refusal);

/* ---- tagging.c ---- */
/** the stored header that holds an object's tags: k=v&k2=v2, sorted by key, percent-encoded; never sent as a header */
#define STORE_TAGS_HEADER "x-amz-tagging"
/** the stored tags of o (query form) or NULL */
const char *store_tagging_of(const store_obj_t *o);
/** how many tags o has */
size_t store_tagging_count(const store_obj_t *o);
/**
 * The request header edgehook's own S3 origin sends to the embedded store (proxy/s3origin.c): the answer to a GET or HEAD then
 * carries the object's tags as Surrogate-Key (`key=value` pairs, percent-encoded, space-separated), which the edge cache takes as
 * the entry's purge tags and never shows to viewers.
 */
#define STORE_CACHE_TAGS_REQUEST "x-edgehook-cache-tags"
/** adds Surrogate-Key with o's tags when the request asks for them (STORE_CACHE_TAGS_REQUEST) */
void store_tagging_cache_header(store_req_t *sr, const store_obj_t *o);
/** adds x-amz-tagging-count when o has tags (GET, HEAD) */
void store_tagging_count_header(store_req_t *sr, const store_obj_t *o);
/**
 * The headers a write stores: in (any stored tags dropped) plus the tags of the request's x-amz-tagging header, or, for a copy
 * (copy_src set) without x-amz-tagging-directive: REPLACE, the source's tags. Pool memory. 0, or -1 after answering InvalidTag
 * or InvalidArgument.
 */
int store_tagging_headers(store_req_t *sr, const store_header_t *in, size_t n_in, const store_obj_t *copy_src, store_header_t **out,
                          size_t *n_out);
/** Get/Put/DeleteObjectTagging (?tagging on a key), of the current version or version_id */
int store_object_tagging(store_req_t *sr, store_bucket_t *b, const char *version_id);

/* ---- attributes.c ---- */
/** GetObjectAttributes (GET ?attributes with x-amz-object-attributes) */
int store_object_attributes(store_req_t *sr, store_bucket_t *b, const char *version_id);

/* ---- multipart.c ---- */
/** CreateMultipartUpload: POST ?uploads */
int store_multipart_create(store_req_t *sr, store_bucket_t *b);
/** UploadPart: PUT ?partNumber=N&uploadId=ID */
int store_multipart_upload_part(store_req_t *sr, store_bucket_t *b);
/** UploadPartCopy: the same with x-amz-copy-source[-range] */
int store_multipart_upload_part_copy(store_req_t *sr, store_bucket_t *b, h2o_iovec_t source);
/** CompleteMultipartUpload: POST ?uploadId=ID */
int store_multipart_complete(store_req_t *sr, store_bucket_t *b);
/** AbortMultipartUpload: DELETE ?uploadId=ID */
int store_multipart_abort(store_req_t *sr, store_bucket_t *b);
/** ListParts: GET ?uploadId=ID */
int store_multipart_list_parts(store_req_t *sr, store_bucket_t *b);
/** ListMultipartUploads: GET /bucket?uploads */
int store_multipart_list_uploads(store_req_t *sr, store_bucket_t *b);

#endif
