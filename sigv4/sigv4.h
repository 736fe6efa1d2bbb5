/* sigv4/sigv4.h - AWS Signature Version 4: canonical requests, signing keys, header and presigned signing, verification, chunk
 * signatures */
#ifndef EDGE_SIGV4_SIGV4_H
#define EDGE_SIGV4_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Everything here is a pure function of its arguments (plus a process-wide, mutex-protected cache of derived signing keys), so
 * every function may be called from any thread. Strings are (pointer, length) slices that are never NUL-terminated by
 * necessity; output goes to caller-owned fixed buffers or to a malloc-backed sigv4_buf_t the caller frees.
 *
 * Its own module (sigv4/, on OpenSSL alone) because two modules need it: the embedded store (verifying) and the S3 origin client
 * in proxy/ (signing); neither includes the other.
 */

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/** SHA-256 of the empty string: the payload hash of a GET, HEAD or DELETE */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD_TRAILER "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
#define SIGV4_STREAMING_UNSIGNED_TRAILER "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
/** the longest validity of a presigned URL (7 days), in seconds */
#define SIGV4_MAX_EXPIRES 604800
/** the largest clock difference S3 accepts for header-signed requests, in seconds */
#define SIGV4_MAX_SKEW 900

/** error codes (every function returns 0 on success or one of these) */
enum {
    SIGV4_OK = 0,
    SIGV4_ERR_MALFORMED = -1, /* the Authorization header or presigned query cannot be parsed */
    SIGV4_ERR_MISSING = -2,   /* a required header or parameter is absent */
    SIGV4_ERR_MISMATCH = -3,  /* the signature does not match */
    SIGV4_ERR_EXPIRED = -4,   /* a presigned URL is past its expiry */
    SIGV4_ERR_SKEW = -5,      /* the request time is too far from the server's clock */
    SIGV4_ERR_NOMEM = -6,
    SIGV4_ERR_ARG = -7, /* invalid argument (e.g. an expiry out of range) */
};

/** a byte slice; base may be NULL when len is 0 */
typedef struct sigv4_str {
    const char *base;
    size_t len;
} sigv4_str_t;

/** makes a slice of a NUL-terminated string (NULL gives the empty slice) */
sigv4_str_t sigv4_cstr(const char *s);

/** one request header; names are compared case-insensitively */
typedef struct sigv4_header {
    sigv4_str_t name;
    sigv4_str_t value;
} sigv4_header_t;

/** a growable, malloc-backed byte buffer, always NUL-terminated when base != NULL. Zero-initialise, free with sigv4_buf_free. */
typedef struct sigv4_buf {
    char *base;
    size_t len;
    size_t capacity;
} sigv4_buf_t;

/** releases the memory of buf and zeroes it (safe on a zeroed buffer) */
void sigv4_buf_free(sigv4_buf_t *buf);

/* ---- canonicalisation ------------------------------------------------------------------------------------------------------ */

/**
 * Canonical URI flags. The default (0) is S3's rule: the path is not normalised (`a//b`, `.` and `..` stay, since they are part of
 * object keys) and each segment is percent-decoded then encoded once with the RFC 3986 unreserved set, so `/test$file.text` and
 * `/test%24file.text` both give `/test%24file.text`.
 */
enum {
    SIGV4_F_S3 = 0,
    /** other AWS services: the path as sent is URI-encoded once more (a `%` becomes `%25`) instead of being decoded first */
    SIGV4_F_ENCODE_TWICE = 1,
    /** other AWS services: remove `.`, `..` and empty segments before encoding (RFC 3986 section 5.2.4) */
    SIGV4_F_NORMALIZE = 2,
    /** use the raw path verbatim (a verifier's fallback for clients that sign exactly what they send) */
    SIGV4_F_PATH_AS_IS = 4,
};

/** appends the canonical URI of a raw path (without the query; empty means `/`) to out */
int sigv4_canonical_uri(sigv4_str_t path, int flags, sigv4_buf_t *out);

/**
 * Appends the canonical query string of a raw query (without `?`): each `key[=value]` is percent-decoded and re-encoded with the
 * RFC 3986 unreserved set (`+` is a literal plus, as in S3), a bare key becomes `key=`, and the pairs are sorted by encoded key,
 * then encoded value. With skip_signature set, an `X-Amz-Signature` parameter is left out (verifying a presigned URL).
 */
int sigv4_canonical_query(sigv4_str_t query, int skip_signature, sigv4_buf_t *out);

/** one request to sign or verify */
typedef struct sigv4_request {
    sigv4_str_t method;
    sigv4_str_t path;  /* raw path as on the wire, without the query */
    sigv4_str_t query; /* raw query without `?`; may be empty */
    /** the headers that are signed, in any case and order; a name that repeats has its values joined with `,` */
    const sigv4_header_t *headers;
    size_t num_headers;
    /** last line of the canonical request: 64 lowercase hex digits, UNSIGNED-PAYLOAD or a STREAMING-* literal */
    sigv4_str_t payload_hash;
} sigv4_request_t;

/**
 * Builds the canonical request of req into creq (appended) and, if signed_headers is not NULL, the `;`-separated lowercase list of
 * signed header names into it. Header values are trimmed, inner runs of whitespace (including folded lines) become one space.
 */
int sigv4_canonical_request(const sigv4_request_t *req, int flags, sigv4_buf_t *creq, sigv4_buf_t *signed_headers);

/* ---- primitives ------------------------------------------------------------------------------------------------------------ */

/** hex SHA-256 of data (lowercase, NUL-terminated) */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);
/** lowercase hex of len bytes */
void sigv4_hex(const uint8_t *bytes, size_t len, char *hex);
/** formats t as `YYYYMMDDTHHMMSSZ` (UTC) */
void sigv4_format_amz_date(time_t t, char out[17]);
/** parses `YYYYMMDDTHHMMSSZ`; returns 0 or SIGV4_ERR_MALFORMED */
int sigv4_parse_amz_date(sigv4_str_t s, time_t *t);
/** writes the credential scope `DATE/REGION/SERVICE/aws4_request` (date = first 8 characters of amz_date); returns its length */
size_t sigv4_scope(char *out, size_t outlen, const char *date8, sigv4_str_t region, sigv4_str_t service);

/** appends `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(creq)>` to out */
int sigv4_string_to_sign(const char *amz_date, const char *scope, sigv4_str_t creq, sigv4_buf_t *out);

/**
 * Derives the signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request"). Results are kept in a
 * small process-wide cache keyed by (date, region, service, SHA-256 of the secret) and guarded by a mutex: thread-safe.
 */
int sigv4_signing_key(sigv4_str_t secret, const char *date8, sigv4_str_t region, sigv4_str_t service, uint8_t key[32]);

/** the hex HMAC-SHA256 of msg under a signing key: the signature of a string to sign */
void sigv4_signature(const uint8_t key[32], sigv4_str_t msg, char hex[65]);

/** compares two NUL-terminated 64-hex signatures in constant time (case-sensitive: signatures are lowercase); 1 if equal */
int sigv4_signature_equal(const char *a, const char *b);

/* ---- signing (the S3 origin client) ----------------------------------------------------------------------------------------- */

typedef struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" when none */
} sigv4_credentials_t;

typedef struct sigv4_sign_params {
    const sigv4_credentials_t *credentials;
    const char *region;  /* e.g. "us-east-1" */
    const char *service; /* "s3" (NULL means "s3") */
    time_t now;          /* the signing time, UTC seconds: time(NULL) */
    int flags;           /* SIGV4_F_*: 0 for S3 */
    /** add and sign `x-amz-content-sha256: <payload hash>`; S3 requires it on every header-signed request, so set it for S3 */
    int sign_content_sha256;
    /** sign without the session token and leave adding it to the caller (services that want it unsigned; never S3) */
    int omit_session_token;
} sigv4_sign_params_t;

/** the result of signing; free with sigv4_signed_free */
typedef struct sigv4_signed {
    char amz_date[17];
    char signature[65];
    char scope[160];
    sigv4_buf_t authorization;     /* header signing: the Authorization value */
    sigv4_buf_t query;             /* presigning: the complete new raw query (the original one plus the X-Amz-* parameters) */
    sigv4_buf_t signed_headers;    /* `host;x-amz-date` */
    sigv4_buf_t canonical_request; /* kept for logs and tests */
    sigv4_buf_t string_to_sign;
    /**
     * header signing: the headers the caller must add to the request, in this order: x-amz-date, x-amz-content-sha256 (if
     * sign_content_sha256), x-amz-security-token (if a token), authorization. They point into this struct and into the request's
     * payload hash and credentials, and live as long as those.
     */
    sigv4_header_t add[4];
    size_t num_add;
} sigv4_signed_t;

/** frees the buffers of a signing result (safe on a zeroed or failed one) */
void sigv4_signed_free(sigv4_signed_t *s);

/**
 * Signs req with an Authorization header.
 *
 * Signed headers: every header in req->headers (callers pass `host` and whatever else must not change in transit: the x-amz-*
 * headers they forward, range, if-*, content-type, content-md5...), except hop-by-hop and unsignable ones which are skipped
 * (authorization, connection, expect, keep-alive, proxy-*, te, trailer, transfer-encoding, upgrade, user-agent,
 * x-amzn-trace-id), plus the added x-amz-date, x-amz-content-sha256 (if sign_content_sha256) and x-amz-security-token (if the
 * credentials have one and omit_session_token is 0). Any x-amz-date, x-amz-content-sha256 or x-amz-security-token in
 * req->headers is ignored and replaced by the added one. `host` must be among req->headers (SIGV4_ERR_MISSING otherwise).
 */
int sigv4_sign(const sigv4_request_t *req, const sigv4_sign_params_t *params, sigv4_signed_t *out);

/**
 * Presigns req: out->query receives req->query followed by X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
 * X-Amz-Security-Token (if any and not omitted), X-Amz-SignedHeaders and X-Amz-Signature. The headers signed are req->headers
 * minus the skipped ones (normally just `host`); the payload hash is req->payload_hash (S3: UNSIGNED-PAYLOAD).
 * expires is 1..SIGV4_MAX_EXPIRES seconds.
 */
int sigv4_presign(const sigv4_request_t *req, const sigv4_sign_params_t *params, unsigned expires, sigv4_signed_t *out);

/* ---- verification (the embedded store) ------------------------------------------------------------------------------------- */

/** the claims of a signed request, parsed from an Authorization header or a presigned query */
typedef struct sigv4_auth {
    int presigned;
    char access_key[129];
    char date[9]; /* the scope date, YYYYMMDD */
    char region[64];
    char service[32];
    char signed_headers[1024]; /* as sent: lowercase names separated by `;` */
    char signature[65];        /* lowercase hex */
    char amz_date[17];         /* request time, YYYYMMDDTHHMMSSZ */
    time_t time;               /* the same, parsed */
    unsigned expires;          /* presigned: X-Amz-Expires */
    int has_security_token;    /* presigned: an X-Amz-Security-Token parameter was present */
} sigv4_auth_t;

/**
 * Parses `AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex` (parameters in
 * any order, spaces after the commas optional) and the request time from amz_date (the x-amz-date header) or, if that is empty,
 * http_date (the Date header, RFC 1123). Strict: every part must be present once and well-formed. On failure returns
 * SIGV4_ERR_MALFORMED or SIGV4_ERR_MISSING and points *reason at a static English sentence for the error message.
 */
int sigv4_parse_authorization(sigv4_str_t authorization, sigv4_str_t amz_date, sigv4_str_t http_date, sigv4_auth_t *auth,
                              const char **reason);

/**
 * Parses the presigned-URL parameters of a raw query: X-Amz-Algorithm (AWS4-HMAC-SHA256), X-Amz-Credential, X-Amz-Date,
 * X-Amz-Expires (1..604800), X-Amz-SignedHeaders, X-Amz-Signature and the optional X-Amz-Security-Token. Returns
 * SIGV4_ERR_MISSING if the query has no X-Amz-Algorithm/X-Amz-Signature at all (not a presigned URL).
 */
int sigv4_parse_presigned(sigv4_str_t query, sigv4_auth_t *auth, const char **reason);
/** 1 if the lowercase header `name` is one of auth's signed headers, else 0 */
int sigv4_signs_header(const sigv4_auth_t *auth, const char *name);

/** 1 if the raw query carries presigned parameters (X-Amz-Signature or X-Amz-Credential) */
int sigv4_query_is_presigned(sigv4_str_t query);

/**
 * Checks the request time against now: the scope date must be the date of the request time (SIGV4_ERR_MALFORMED), a header-signed
 * request must be within SIGV4_MAX_SKEW of now (SIGV4_ERR_SKEW), and a presigned one must not be used before its time minus the
 * skew (SIGV4_ERR_SKEW) or after its time plus expires (SIGV4_ERR_EXPIRED).
 */
int sigv4_check_time(const sigv4_auth_t *auth, time_t now, const char **reason);

/** optional outputs of sigv4_verify, for error messages (free the buffers with sigv4_buf_free) */
typedef struct sigv4_verify_detail {
    char expected[65];
    sigv4_buf_t canonical_request;
    sigv4_buf_t string_to_sign;
} sigv4_verify_detail_t;

/**
 * Recomputes the signature of a request and compares it in constant time with auth->signature.
 * req->headers are ALL the request headers (the verifier picks the signed ones, joining repeats); req->query is the raw query
 * (for a presigned request the X-Amz-Signature parameter is skipped); req->payload_hash is the x-amz-content-sha256 header value
 * (header auth) or, for a presigned request, that header if sent, else UNSIGNED-PAYLOAD. `host` must be signed.
 * Returns 0, SIGV4_ERR_MISMATCH, or SIGV4_ERR_MISSING/MALFORMED with *reason set. Also returns the signing key in key_out (for
 * chunk signatures) if not NULL.
 */
int sigv4_verify(const sigv4_auth_t *auth, const sigv4_request_t *req, sigv4_str_t secret, int flags, uint8_t key_out[32],
                 sigv4_verify_detail_t *detail, const char **reason);

/* ---- chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD and -TRAILER) ---------------------------------------------------- */

/** the running state of a chunk-signature chain; plain data, copyable */
typedef struct sigv4_chunk_chain {
    uint8_t key[32];
    char amz_date[17];
    char scope[160];
    char previous[65];
} sigv4_chunk_chain_t;

/** starts a chain from the seed signature (the request's own signature) */
void sigv4_chunk_init(sigv4_chunk_chain_t *chain, const uint8_t key[32], const char *amz_date, const char *scope,
                      const char *seed_signature);
/**
 * Computes the signature of the next chunk from the SHA-256 of its data: HMAC over
 * `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<empty hash>\n<hex sha256(data)>`, and makes it the previous one.
 */
void sigv4_chunk_next(sigv4_chunk_chain_t *chain, const uint8_t data_sha256[32], char out[65]);
/**
 * Computes the trailer signature: HMAC over `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous>\n<hex sha256(trailer)>`,
 * where trailer is the trailing headers as `name:value\n` lines.
 */
void sigv4_chunk_trailer(sigv4_chunk_chain_t *chain, const uint8_t trailer_sha256[32], char out[65]);

/* ---- small helpers shared with the store ----------------------------------------------------------------------------------- */

/** appends s percent-encoded with the RFC 3986 unreserved set; `/` stays when keep_slash is set */
int sigv4_uri_encode(sigv4_buf_t *out, sigv4_str_t s, int keep_slash);
/** percent-decodes s into out (appended); invalid escapes are kept literally, `+` stays `+` */
int sigv4_uri_decode(sigv4_buf_t *out, sigv4_str_t s);
/** appends bytes to buf; returns 0 or SIGV4_ERR_NOMEM */
int sigv4_buf_append(sigv4_buf_t *buf, const void *bytes, size_t len);

#endif
