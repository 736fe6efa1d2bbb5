/* store/fs.h - the embedded store's storage engine: buckets, objects and multipart uploads on the filesystem, with in-memory
 * indexes */
#ifndef EDGE_STORE_FS_H
#define EDGE_STORE_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * On-disk layout under root (everything below is created by the store; nothing else should write there):
 *
 *   root/.credentials                  generated key pair (mode 0600), see store.c
 *   root/.lock                         flock()ed by the running process: one process per root
 *   root/.seeding-NAME                 a store.seed of bucket NAME ('.' written '_') in progress, see store/seed.h
 *   root/<bucket>/.bucket              bucket record (creation time)
 *   root/<bucket>/.cors                bucket configuration documents (store_fs_bucket_config_*): the CORS rules
 *   root/<bucket>/<hh>/<H>.meta        object record ("sidecar"): key, size, ETag, time, headers, data file name
 *   root/<bucket>/<hh>/<H>.<gen>       object data (single PUT, copy) - immutable once written
 *   root/<bucket>/<hh>/<H>.<gen>.parts/1..N   object data of a completed multipart upload (the parts, renamed in)
 *   root/<bucket>/<hh>/<H>.<vid>.ver   record of a named version (versioning, see "Versions" below); <H>.meta is the null version
 *   root/.uploads/<id>/upload.meta     multipart upload record; parts are <n>.<md5 hex>
 *
 * H is the SHA-256 of the object key in hex and hh its first two digits, so no key - whatever bytes it holds (`..`, `/`, NUL,
 * 1024 bytes) - ever becomes part of a path. Bucket names are validated ([a-z0-9.-], 3-63) before they reach a path.
 *
 * Atomicity and durability: data is written to a file with a fresh random name and fsync()ed; the record is written to a
 * temporary file, fsync()ed and rename()d over <H>.meta (the commit point), then the directory is fsync()ed before the request is
 * acknowledged. A crash leaves either the old or the new record, never a partial object; unreferenced data and temporary files are
 * swept at the next start. Replaced data is deleted only when no reader holds it any more (reference counts), so a GET that
 * started before an overwrite or delete finishes with the old bytes.
 *
 * Versions (a bucket whose versioning was ever Enabled or Suspended, `versioning` line in .bucket): every version of a key has
 * a record of its own - <H>.meta for the null version (exactly the record of an unversioned bucket, so enabling versioning moves
 * nothing), <H>.<vid>.ver for a named version (vid: 32 lowercase hex digits, validated before it reaches a path). Each record
 * carries a `stamp` (microseconds, strictly increasing per process and above every loaded stamp); the latest version of a key
 * is the record with the greatest stamp, so there is no "latest" pointer that could disagree with the records. A delete
 * marker is a record with `deletemarker 1` and no data. A new named version is committed exactly like an unversioned object
 * (data fsync, record tmp + fsync + rename + directory fsync) and never touches another version's files; a null write renames
 * over <H>.meta (the previous null version goes, as an unversioned overwrite); a permanent delete unlinks one record. In
 * memory the bucket index holds the latest version of each key (possibly a delete marker), and the older versions hang off it
 * newest first (`older`, changed only under the bucket's write lock).
 *
 * Threads: every function may be called from any thread. Each bucket's index is a sorted array under a read-write lock (writers
 * hold it only for the rename and the index update, never across data I/O or fsync); uploads have a mutex each. All I/O is
 * synchronous: the S3 requests call these functions on the store's own threads (store/jobs.h), never on an event loop, except
 * store_fs_obj_get/header (memory only) and store_fs_obj_release of an object that is not superseded (no file to remove).
 */

/** error codes (negative) */
enum {
    STORE_FS_OK = 0,
    STORE_FS_EIO = -1,       /* an I/O error (logged) */
    STORE_FS_ENOENT = -2,    /* no such bucket / object / upload / part */
    STORE_FS_EEXIST = -3,    /* the bucket exists */
    STORE_FS_ENOTEMPTY = -4, /* the bucket has objects */
    STORE_FS_EPRECOND = -5,  /* a precondition callback refused the commit */
    STORE_FS_EINVAL = -6,    /* bad argument (part order, etag, ...) */
    STORE_FS_ETOOSMALL = -7, /* a multipart part other than the last is under 5 MiB */
    STORE_FS_EORDER = -8,    /* multipart parts not in ascending order */
    STORE_FS_ENOMEM = -9,
};

#define STORE_FS_MAX_KEY 1024
#define STORE_FS_MIN_PART_SIZE (5u << 20)
#define STORE_FS_MAX_PARTS 10000

typedef struct store_fs store_fs_t;
typedef struct store_bucket store_bucket_t;
typedef struct store_upload store_upload_t;

/** a stored header (lowercase name), e.g. content-type or x-amz-meta-foo */
typedef struct store_header {
    char *name;
    char *value;
} store_header_t;

/** an object version: immutable once published, reference-counted (store_fs_obj_release) */
typedef struct store_obj {
    atomic_uint refcnt;
    atomic_int superseded; /* replaced or deleted: the data goes when the last reference does */
    char *key;
    size_t key_len;
    char *data_path; /* absolute: a file, or a directory of parts 1..num_parts */
    uint64_t size;
    char etag[48]; /* without quotes: 32 hex digits, or 32 hex digits "-N" */
    int64_t mtime_ms;
    uint32_t num_parts; /* 0: a single file */
    uint64_t *part_sizes;
    store_header_t *headers;
    size_t num_headers;
    /* versions: version_id "" is the null version (every object of an unversioned bucket) */
    char version_id[33];
    int delete_marker;       /* a delete marker: no data (data_path NULL, size 0) */
    uint64_t stamp;          /* orders the versions of a key (microseconds, unique) */
    struct store_obj *older; /* the next older version (the index's; read or changed only under the bucket lock) */
} store_obj_t;

/** the length of a version id (lowercase hex digits; the first 16 are the stamp, so ids sort by time) */
#define STORE_FS_VERSION_ID_LEN 32

/** what a writer commits besides the data */
typedef struct store_obj_meta {
    const char *etag;
    int64_t mtime_ms;              /* 0: now */
    const store_header_t *headers; /* copied */
    size_t num_headers;
} store_obj_meta_t;

/**
 * Opens (creating if needed) a store rooted at root: takes the root lock, loads every bucket, object and upload record, and sweeps
 * temporary and unreferenced files. Returns 0 or a negative code with a message in err.
 */
int store_fs_open(const char *root, store_fs_t **fs, char *err, size_t errlen);
/** releases everything (no request may be running) */
void store_fs_close(store_fs_t *fs);
/** the absolute root directory */
const char *store_fs_root(store_fs_t *fs);

/* ---- buckets ---- */

/** 1 if name is a valid bucket name: 3-63 of [a-z0-9.-], starting and ending with a letter or digit, no `..`, not an IPv4 address
 */
int store_fs_valid_bucket_name(const char *name, size_t len);
/**
 * 1 if name (valid by store_fs_valid_bucket_name) is one S3 refuses to create: it starts with xn--, sthree- or amzn-s3-demo-, or
 * ends with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3. Only creation refuses them: a bucket of such a name that exists
 * under root (made by an older edgehook) stays usable.
 */
int store_fs_reserved_bucket_name(const char *name, size_t len);
/** creates a bucket (directory and record, synced); STORE_FS_EEXIST if it exists, STORE_FS_EINVAL for a bad or reserved name */
int store_fs_bucket_create(store_fs_t *fs, const char *name);
/** the same with a LocationConstraint (NULL: none; 1-63 of [A-Za-z0-9-], else STORE_FS_EINVAL), kept in the bucket record */
int store_fs_bucket_create_in(store_fs_t *fs, const char *name, const char *location);
/** the LocationConstraint given at creation, "" if none */
const char *store_fs_bucket_location(const store_bucket_t *b);
/** deletes an empty bucket (its pending multipart uploads are aborted); STORE_FS_ENOTEMPTY if it has objects */
int store_fs_bucket_delete(store_fs_t *fs, const char *name);
/** a reference to a bucket, or NULL; release with store_fs_bucket_release */
store_bucket_t *store_fs_bucket_get(store_fs_t *fs, const char *name, size_t len);
/** drops a reference (the bucket is freed with the last one; NULL is ignored) */
void store_fs_bucket_release(store_bucket_t *b);
/** the bucket name (lives as long as the reference) */
const char *store_fs_bucket_name(const store_bucket_t *b);
/** the creation time, ms since the epoch */
int64_t store_fs_bucket_created_ms(const store_bucket_t *b);

typedef struct store_bucket_info {
    char name[64];
    char location[64]; /* "" if none was given */
    int64_t created_ms;
} store_bucket_info_t;
enum { STORE_FS_VERSIONING_OFF = 0, STORE_FS_VERSIONING_ENABLED = 1, STORE_FS_VERSIONING_SUSPENDED = 2 };
/** the versioning state of b (STORE_FS_VERSIONING_*; OFF: never enabled) */
int store_fs_bucket_versioning(const store_bucket_t *b);
/** sets it (ENABLED or SUSPENDED; durable: the bucket record is rewritten); 0 or a negative code */
int store_fs_bucket_set_versioning(store_bucket_t *b, int state);

/** all buckets sorted by name (malloc'd array in *out, free() it); returns the count or a negative code */
long store_fs_bucket_list(store_fs_t *fs, store_bucket_info_t **out);

/* ---- bucket configuration documents ---- */

/**
 * A bucket's configuration document NAME (a lowercase word: "cors"), kept as root/<bucket>/.NAME: written atomically and durably
 * (data NULL removes it). STORE_FS_ENOENT if the bucket was deleted meanwhile.
 */
int store_fs_bucket_config_put(store_bucket_t *b, const char *name, const void *data, size_t len);
/** reads it (at most max bytes) into a malloc'd, NUL-terminated *out; *version (if not NULL) changes whenever it is rewritten.
 * STORE_FS_ENOENT if there is none. */
int store_fs_bucket_config_get(store_bucket_t *b, const char *name, size_t max, char **out, size_t *len, uint64_t *version);
/** its version without reading it (one stat); STORE_FS_ENOENT if there is none */
int store_fs_bucket_config_version(store_bucket_t *b, const char *name, uint64_t *version);

/* ---- objects ---- */

/** the current version of key, with a reference, or NULL (also when the latest version is a delete marker) */
store_obj_t *store_fs_obj_get(store_bucket_t *b, const char *key, size_t len);
/** 1 if id is a well-formed version id: "null" or STORE_FS_VERSION_ID_LEN lowercase hex digits */
int store_fs_valid_version_id(const char *id, size_t len);
/**
 * A version of key with a reference, or NULL: version_id NULL for the latest (which may be a delete marker: check
 * o->delete_marker), "null" for the null version, or a version id (well-formed: store_fs_valid_version_id).
 */
store_obj_t *store_fs_obj_get_version(store_bucket_t *b, const char *key, size_t len, const char *version_id);
/** "null" for the null version, else o->version_id */
const char *store_fs_obj_version(const store_obj_t *o);
/** takes another reference to o (thread-safe, atomic) */
void store_fs_obj_addref(store_obj_t *o);
/** drops a reference; the last one frees o and, if it was replaced or deleted, its data (NULL is ignored) */
void store_fs_obj_release(store_obj_t *o);
/** the value of a stored header (lowercase name) or NULL */
const char *store_fs_obj_header(const store_obj_t *o, const char *name);
/** removes key; 0 or STORE_FS_ENOENT (callers answer 204 either way). On a versioned bucket: store_fs_obj_delete_version. */
int store_fs_obj_delete(store_bucket_t *b, const char *key, size_t len);

/** what a delete did */
typedef struct store_fs_deleted {
    char version_id[33]; /* the version removed or the delete marker created ("null" for the null version); "" if none */
    int delete_marker;   /* that version is a delete marker */
    int created_marker;  /* a delete marker was created (no version_id given, versioning Enabled or Suspended) */
} store_fs_deleted_t;

/**
 * DeleteObject with versioning: without version_id (NULL) on a bucket whose versioning is OFF it removes the key (as
 * store_fs_obj_delete), else it adds a delete marker (a named one if Enabled, the null one if Suspended, which replaces the null
 * version). With version_id ("null" or an id) it removes that version for good (a delete marker too: the older version becomes
 * the latest again); STORE_FS_ENOENT if there is no such version. 0 or a negative code; *res says what happened.
 */
int store_fs_obj_delete_version(store_bucket_t *b, const char *key, size_t len, const char *version_id, store_fs_deleted_t *res);

/**
 * A precondition checked under the bucket lock just before a commit replaces current (NULL if none): return 0 to go on, or
 * anything else to refuse (the commit then returns STORE_FS_EPRECOND and *refusal holds the value).
 */
typedef int (*store_fs_precond_cb)(void *ctx, const store_obj_t *current);

/** writes one object's data; on the stack, single-threaded */
typedef struct store_fs_writer {
    store_bucket_t *bucket;
    store_upload_t *upload; /* set for a part writer */
    unsigned part_number;
    char *key;
    size_t key_len;
    char *data_path;
    int fd;
    uint64_t size;
} store_fs_writer_t;

/** starts a new data file for key in b (key: 1..1024 bytes, any) */
int store_fs_writer_open(store_fs_writer_t *w, store_bucket_t *b, const char *key, size_t len);
/** appends data; 0 or STORE_FS_EIO (logged) */
int store_fs_writer_write(store_fs_writer_t *w, const void *buf, size_t len);
/**
 * Syncs the data, writes the record and makes it the key's current version (replacing any; on a bucket with versioning Enabled
 * the new version gets an id and the older ones stay; Suspended or OFF, it is the null version and replaces the previous null
 * version: (*out)->version_id says which), unless the bucket was deleted
 * meanwhile (STORE_FS_ENOENT) or precond refuses. On success *out (if not NULL) receives a reference to the new version. The
 * writer is finished either way.
 */
int store_fs_writer_commit(store_fs_writer_t *w, const store_obj_meta_t *meta, store_fs_precond_cb precond, void *ctx, int *refusal,
                           store_obj_t **out);
/** discards the data (safe after a failed commit, and on a writer that failed to open) */
void store_fs_writer_abort(store_fs_writer_t *w);

/**
 * Sets (value NULL: removes) one stored header of key's current version (version_id NULL) or of that version, keeping the rest:
 * its other headers, data (hard-linked, not copied), ETag, time and version id. A new record renamed over the old one, as atomic
 * and durable as a write; readers of the old version finish with it; a concurrent write of the key is never mixed with it. 0, or
 * STORE_FS_ENOENT (no such key or version, or a delete marker).
 */
int store_fs_obj_set_header(store_bucket_t *b, const char *key, size_t len, const char *version_id, const char *name,
                            const char *value);

/* ---- listing ---- */

typedef struct store_list_params {
    const char *prefix;
    size_t prefix_len;
    const char *delimiter; /* NULL or empty: none */
    size_t delimiter_len;
    const char *after; /* start after this key (marker / start-after / continuation) or NULL */
    size_t after_len;
    size_t max_keys;
} store_list_params_t;

typedef struct store_list_result {
    store_obj_t **objs; /* references */
    size_t num_objs;
    char **prefixes; /* common prefixes (malloc'd, NUL-terminated; keys have no NUL) */
    size_t *prefix_lens;
    size_t num_prefixes;
    int truncated;
    char *next; /* the last key or prefix returned, when truncated (malloc'd) */
    size_t next_len;
    unsigned char *latest; /* store_fs_list_versions: per object, 1 if it is its key's latest version (malloc'd) */
    char next_version[33]; /* store_fs_list_versions: the version id of the last entry when truncated ("" for a prefix) */
} store_list_result_t;

/** lists keys in UTF-8 binary order with S3 semantics (prefix, delimiter roll-up, start after, max keys) */
int store_fs_list(store_bucket_t *b, const store_list_params_t *p, store_list_result_t *r);
/** releases the references and memory of a listing */
void store_fs_list_free(store_list_result_t *r);

/**
 * ListObjectVersions: every version of the keys (newest first per key, delete markers included) in key order, with prefix,
 * delimiter and max_keys as store_fs_list. Paging: p->after is the key marker; version_after (NULL or "") starts after the
 * whole key, else after that version of it. r->objs are the versions, r->latest[i] says whether objs[i] is its key's latest;
 * when truncated, r->next is the next key marker and r->next_version the next version id marker ("" after a common prefix).
 */
int store_fs_list_versions(store_bucket_t *b, const store_list_params_t *p, const char *version_after, store_list_result_t *r);

/* ---- multipart uploads ---- */

typedef struct store_part_info {
    unsigned number;
    uint64_t size;
    char etag[33]; /* md5 hex */
    int64_t mtime_ms;
} store_part_info_t;

/** creates an upload for key in b; id receives 32 hex digits */
int store_fs_upload_create(store_bucket_t *b, const char *key, size_t len, const store_header_t *headers, size_t num_headers,
                           char id[33]);
/** a reference to an upload of bucket b and key (both must match), or NULL */
store_upload_t *store_fs_upload_get(store_bucket_t *b, const char *id, const char *key, size_t len);
/** drops a reference to an upload (NULL is ignored) */
void store_fs_upload_release(store_upload_t *u);
/** starts writing part n (1..10000) of u; commit with store_fs_upload_part_commit */
int store_fs_upload_part_open(store_fs_writer_t *w, store_upload_t *u, unsigned n);
/** publishes the part (replacing an earlier one of the same number); md5 is its 16-byte MD5 */
int store_fs_upload_part_commit(store_fs_writer_t *w, const uint8_t md5[16]);

typedef struct store_complete_part {
    unsigned number;
    char etag[33]; /* md5 hex, lowercase */
} store_complete_part_t;

/**
 * Completes u with the given parts (ascending numbers, matching ETags, all but the last >= 5 MiB): the parts become the
 * object's data without copying. On success the upload is gone and *out (if not NULL) is a reference to the new object.
 * Errors: STORE_FS_EORDER, STORE_FS_EINVAL (unknown part or ETag mismatch; *bad_part says which), STORE_FS_ETOOSMALL,
 * STORE_FS_ENOENT (the upload or bucket went away).
 */
int store_fs_upload_complete(store_upload_t *u, const store_complete_part_t *parts, size_t n, unsigned *bad_part,
                             store_obj_t **out);
/**
 * The same with a precondition on the key's current version (see store_fs_precond_cb): checked before anything moves (a refusal
 * then leaves the upload as it was) and again at the commit under the bucket lock (a refusal there, when a concurrent writer
 * changed the key meanwhile, ends the upload). STORE_FS_EPRECOND and *refusal when refused.
 *
 * A completed upload leaves a completion record (root/.uploads/<id>.done: bucket, key, ETag, time) for 24 hours, or until the
 * key is overwritten or deleted: store_fs_upload_completed answers from it.
 */
int store_fs_upload_complete_if(store_upload_t *u, const store_complete_part_t *parts, size_t n, store_fs_precond_cb precond,
                                void *ctx, int *refusal, unsigned *bad_part, store_obj_t **out);
/**
 * 0 if upload id of key in b completed within the last 24 hours and the key's current version is still the object it made (its
 * ETag and time in etag and *mtime_ms), else STORE_FS_ENOENT.
 */
int store_fs_upload_completed(store_bucket_t *b, const char *id, const char *key, size_t len, char etag[48], int64_t *mtime_ms);
/** deletes u and its parts; STORE_FS_ENOENT if it was already gone */
int store_fs_upload_abort(store_upload_t *u);
/** the parts of u with number > after, at most max (malloc'd array in *out); returns the count and sets *truncated */
long store_fs_upload_parts(store_upload_t *u, unsigned after, size_t max, store_part_info_t **out, int *truncated);
/** the key, initiation time and headers of u (valid while the reference is held) */
const char *store_fs_upload_key(const store_upload_t *u, size_t *len);
/** when the upload was created, ms since the epoch */
int64_t store_fs_upload_initiated_ms(const store_upload_t *u);

typedef struct store_upload_info {
    char id[33];
    char *key; /* malloc'd */
    size_t key_len;
    int64_t initiated_ms;
} store_upload_info_t;
/** the uploads of b whose key starts with prefix, sorted by key then id (malloc'd; free with store_fs_upload_list_free) */
long store_fs_upload_list(store_bucket_t *b, const char *prefix, size_t prefix_len, store_upload_info_t **out);
/** frees a list returned by store_fs_upload_list */
void store_fs_upload_list_free(store_upload_info_t *list, long n);

#endif
