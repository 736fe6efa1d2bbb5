/* sigv4/sigv2.h - AWS Signature Version 2 for S3 (HMAC-SHA1): the Authorization header (`AWS AKID:signature`) and the
 * presigned query (`AWSAccessKeyId`, `Expires`, `Signature`), as S3's REST authentication documentation defines them */
#ifndef EDGE_SIGV4_SIGV2_H
#define EDGE_SIGV4_SIGV2_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "sigv4/sigv4.h"

/*
 * The string to sign:
 *
 *     VERB \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders CanonicalizedResource
 *
 * - Date is the Date header, or empty when an x-amz-date header is sent (that header is then among the amz headers); for a
 *   presigned URL it is the Expires parameter as sent (seconds since the epoch).
 * - CanonicalizedAmzHeaders: every x-amz-* header, names lowercased, sorted, `name:value\n` with the value trimmed and the values
 *   of a repeated name joined with `,`. For a presigned URL the x-amz-* query parameters count as headers (botocore moves the
 *   signed x-amz-security-token there).
 * - CanonicalizedResource: `/BUCKET` for a virtual-hosted request, then the path as sent (path-style: `/BUCKET/KEY`), then the
 *   sub-resources of the query that S3 lists (sigv2_is_subresource), sorted by name, `?name[=value]&...`, values decoded.
 *
 * Clients do not agree on every detail (botocore keeps `acl=` for an empty value and decodes values; s3cmd sends and signs
 * values encoded), so the verifier tries a few variants of the resource (SIGV2_V_*) and accepts the request if any of them
 * matches; each comparison is constant-time. Like sigv4.h, everything here is a pure function: any thread.
 */

/** the largest clock difference accepted for a header-signed request (15 minutes, as S3) */
#define SIGV2_MAX_SKEW 900

/** the claims of a V2-signed request */
typedef struct sigv2_auth {
    int presigned;
    char access_key[129];
    char signature[129]; /* base64 as sent (decoded from the query for a presigned URL), NUL-terminated, for error messages */
    uint8_t mac[20];     /* the signature decoded; mac_ok is 0 when it was not the base64 of 20 bytes (then nothing matches) */
    int mac_ok;
    char expires_text[24]; /* presigned: Expires as sent (the Date line of the string to sign) */
    time_t expires;        /* presigned: the same, parsed */
} sigv2_auth_t;

/** 1 if an Authorization value is a V2 one (`AWS ` followed by something) */
int sigv2_is_authorization(sigv4_str_t authorization);

/**
 * Parses `AWS AKID:base64signature` (the access key may not contain `:`; space around the parts is ignored). 0, or
 * SIGV4_ERR_MALFORMED with *reason set to S3's sentence.
 */
int sigv2_parse_authorization(sigv4_str_t authorization, sigv2_auth_t *auth, const char **reason);

/** 1 if the raw query (without `?`) carries a V2 presigned parameter: AWSAccessKeyId or Signature */
int sigv2_query_is_presigned(sigv4_str_t query);

/**
 * Parses the presigned parameters of a raw query: AWSAccessKeyId, Signature (percent-decoded; a space, which a `+` left
 * unencoded becomes in some decoders, is read as `+`) and Expires (decimal seconds since the epoch). SIGV4_ERR_MISSING when one
 * of the three is absent or given twice, SIGV4_ERR_MALFORMED when Expires is not a number; *reason says which.
 */
int sigv2_parse_presigned(sigv4_str_t query, sigv2_auth_t *auth, const char **reason);

/** a request to sign or verify */
typedef struct sigv2_request {
    sigv4_str_t method;
    sigv4_str_t path;   /* raw path as on the wire, without the query */
    sigv4_str_t query;  /* raw query without `?` */
    sigv4_str_t bucket; /* the bucket when it is addressed in the Host (virtual-hosted), else empty */
    const sigv4_header_t *headers; /* ALL the request headers (names in any case) */
    size_t num_headers;
} sigv2_request_t;

/** variants of the string to sign; 0 is the documented one (values decoded, `=` kept as sent, path as sent) */
enum {
    SIGV2_V_RAW_VALUES = 1,     /* sub-resource values as sent (percent-encoded), as s3cmd signs them */
    SIGV2_V_NO_EMPTY_EQUALS = 2, /* `name` for `name=` (an empty value loses its `=`), as RGW builds it */
    SIGV2_V_PATH_ENCODED = 4,   /* the path decoded and encoded again (RFC 3986 unreserved set, `/` kept) */
    SIGV2_V_PATH_DECODED = 8,   /* the path fully percent-decoded */
    SIGV2_V_DATE_HEADER = 16,   /* the Date header's value on the Date line even when x-amz-date is sent */
    SIGV2_V_BUCKET_SLASH = 32,  /* `/bucket/` for a path-style `/bucket` (botocore signs bucket requests so) */
    /* botocore (1.29 at least) signs its model's request URI, fixed query included, then `?` and the sub-resources again:
     * `/b?acl?acl`, `/b?list-type=2`, `/b/k?uploads?uploads`; this variant puts the first query pair as sent after the path */
    SIGV2_V_LITERAL_QUERY = 64,
};

/** 1 if name is one of the query parameters that are part of the canonicalized resource */
int sigv2_is_subresource(sigv4_str_t name);

/**
 * Appends the string to sign of req to out. expires_text (presigned) replaces the Date line and makes the x-amz-* query
 * parameters amz headers; pass NULL for header signing. variant: SIGV2_V_* flags (0 for signing). 0 or SIGV4_ERR_NOMEM.
 */
int sigv2_string_to_sign(const sigv2_request_t *req, const char *expires_text, int variant, sigv4_buf_t *out);

/** the raw HMAC-SHA1 of a string to sign under secret */
void sigv2_mac(sigv4_str_t secret, sigv4_str_t string_to_sign, uint8_t mac[20]);
/** the same, base64 (28 characters and a NUL) */
void sigv2_signature(sigv4_str_t secret, sigv4_str_t string_to_sign, char b64[29]);

/**
 * Checks the time of a request: a presigned one is refused after its Expires (SIGV4_ERR_EXPIRED); a header-signed one needs
 * x-amz-date or Date (x-amz-date wins; RFC 1123 with GMT, UTC or a numeric zone, or ISO 8601 basic `YYYYMMDDTHHMMSSZ`):
 * SIGV4_ERR_MISSING without one, SIGV4_ERR_MALFORMED when it cannot be read, SIGV4_ERR_SKEW more than SIGV2_MAX_SKEW from now.
 * *reason is S3's sentence; *request_time (may be NULL) receives the time read.
 */
int sigv2_check_time(const sigv2_auth_t *auth, const sigv2_request_t *req, time_t now, time_t *request_time,
                     const char **reason);

/**
 * Recomputes the signature (each variant in turn) and compares it in constant time with auth's. 0 on a match,
 * SIGV4_ERR_MISMATCH otherwise (SIGV4_ERR_NOMEM on allocation failure). If string_to_sign is not NULL it receives the
 * documented variant's string to sign (for the SignatureDoesNotMatch answer).
 */
int sigv2_verify(const sigv2_auth_t *auth, const sigv2_request_t *req, sigv4_str_t secret, sigv4_buf_t *string_to_sign);

/**
 * Signs a request (tests, tools): out receives the Authorization value `AWS AKID:signature` (header form; req must carry a Date
 * or x-amz-date header), or, when expires is not 0, the presigned query: req->query, then AWSAccessKeyId, Expires and Signature
 * (percent-encoded). 0 or SIGV4_ERR_NOMEM.
 */
int sigv2_sign(const sigv2_request_t *req, sigv4_str_t access_key, sigv4_str_t secret, time_t expires, sigv4_buf_t *out);

#endif
