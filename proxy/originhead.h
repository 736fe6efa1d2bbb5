/* proxy/originhead.h - how the origin client frames a response (RFC 9112), as pure functions over bytes: the response-head parser
 * and the chunked body decoder. No sockets and no h2o, so they are unit-tested and fuzzed on their own (tests/fuzz). */
#ifndef EDGE_PROXY_ORIGINHEAD_H
#define EDGE_PROXY_ORIGINHEAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** the largest response head accepted, from the status line through the empty line that ends it */
#define ORIGIN_HEAD_MAX_SIZE (64 * 1024)
/** the most header fields in one response head */
#define ORIGIN_HEAD_MAX_FIELDS 512
/** the largest Content-Length and chunk size accepted (2^62): far above any object, far from int64 overflow in any sum */
#define ORIGIN_MAX_LENGTH ((uint64_t)1 << 62)
/** the longest chunk-size line (size, extensions, CRLF) and the largest trailer section of a chunked body */
#define ORIGIN_CHUNK_LINE_MAX 4096
#define ORIGIN_TRAILERS_MAX_SIZE (64 * 1024)

/** how the body of a response is delimited (RFC 9112 §6.3) */
typedef enum origin_framing {
    ORIGIN_FRAMING_NONE,    /**< no body: 1xx, 204, 304, or any response to HEAD */
    ORIGIN_FRAMING_LENGTH,  /**< Content-Length bytes */
    ORIGIN_FRAMING_CHUNKED, /**< Transfer-Encoding: chunked */
    ORIGIN_FRAMING_EOF      /**< everything until the origin closes the connection */
} origin_framing_t;

/** one header field: slices of the parsed buffer; the value has no leading or trailing SP/HTAB */
typedef struct origin_head_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} origin_head_field_t;

/** a parsed response head; every pointer points into the buffer given to origin_parse_head */
typedef struct origin_head {
    int minor_version;  /**< 0 or 1 (HTTP/1.2 to 1.9 read as 1.1, RFC 9112 §2.3) */
    int status;         /**< 100-599, never 101 */
    const char *reason; /**< the reason phrase (may be empty) */
    size_t reason_len;
    size_t head_len; /**< bytes of the head, its final CRLF CRLF included; the body starts there */
    origin_framing_t framing;
    int64_t content_length; /**< body length for LENGTH, 0 for 204/304, for HEAD what a GET would carry; -1 when unknown */
    int keepalive;          /**< the connection may carry another request once this response has been read to its end */
    const char *error;      /**< why the head was refused (a static string), NULL otherwise */
    size_t num_fields;
    origin_head_field_t fields[ORIGIN_HEAD_MAX_FIELDS];
} origin_head_t;

/** results of origin_parse_head */
#define ORIGIN_HEAD_ERROR (-1)
#define ORIGIN_HEAD_INCOMPLETE 0
#define ORIGIN_HEAD_COMPLETE 1

/** flag of origin_parse_head: the request was HEAD, so the response has no body whatever its fields say (RFC 9112 §6.3 rule 1) */
#define ORIGIN_HEAD_REQ_HEAD 1

/**
 * Parses the response head at the start of buf (len bytes available) and decides how its body is framed. Strict, in the way
 * RFC 9112 lets a recipient be; a refused head is ORIGIN_HEAD_ERROR with out->error set, and the proxy answers 502:
 * - the status line is `HTTP/1.<digit> SP 3DIGIT [SP reason] CRLF` with a status of 100-599; 101 is refused (we never ask to
 *   switch protocols);
 * - every line ends in CRLF: a bare LF or a bare CR is refused (§2.2 allows accepting a bare LF; we do not);
 * - a line starting with SP or HTAB (obs-fold, or whitespace before the first field) is refused: §5.2 lets a proxy either
 *   replace obs-fold with SP or answer 502, and we answer 502;
 * - field names are tokens and are followed by the colon at once (§5.1); values hold no control byte but HTAB (no NUL, CR, LF,
 *   DEL); more than ORIGIN_HEAD_MAX_FIELDS fields, or a head longer than ORIGIN_HEAD_MAX_SIZE, is refused;
 * - Content-Length is 1*DIGIT, or a list of equal values (§6.3 rule 5); several fields must agree; at most ORIGIN_MAX_LENGTH;
 * - Transfer-Encoding must be one field whose value is exactly `chunked` (any case, surrounding whitespace allowed): any other
 *   coding, a list even ending in chunked (`gzip, chunked`: we do not decode other codings), chunked twice, or an empty value
 *   is refused (§6.1);
 * - where the fields frame the body (not HEAD, 1xx, 204, 304), Transfer-Encoding with Content-Length (§6.3 rule 3: "ought to be
 *   handled as an error") and Transfer-Encoding in an HTTP/1.0 response (§6.1: "MUST treat the message as if the framing is
 *   faulty") are refused. Where they frame nothing, the response is passed on but its connection is not reused.
 * Keep-alive: HTTP/1.1, no `Connection: close`, not read-until-close, and no announced body on a response that cannot have one
 * (HEAD, 204, 304 with a Content-Length above 0 or with Transfer-Encoding: bytes could follow that no framing accounts for).
 * A 1xx other than 101 is returned COMPLETE with framing NONE: the caller drops it and parses again after head_len.
 * INCOMPLETE means no error so far in the first len bytes and no end of head yet. Errors are found as soon as the bytes that
 * cause them are in the buffer, without waiting for the end of the head.
 */
int origin_parse_head(const char *buf, size_t len, int flags, origin_head_t *out);

/**
 * Checks what the origin client is asked to send before it writes it into an HTTP/1.1 request head, so that no caller (a hook's
 * URI or header, a dynamic origin's prefix) can split the request or add framing of its own: the method is a token, the target
 * is non-empty without SP, DEL or control bytes, header names are tokens, values hold no CR, LF or NUL. Returns NULL when the
 * request can be written, else the reason (a static string).
 */
const char *origin_request_check(const char *method, size_t method_len, const char *target, size_t target_len);
/** the same for one header field (see origin_request_check) */
const char *origin_request_check_field(const char *name, size_t name_len, const char *value, size_t value_len);

/** the state of a chunked body decoder; zero it with origin_chunked_init */
typedef struct origin_chunked {
    uint64_t left;        /**< bytes of chunk data still to come in the current chunk */
    uint32_t line_len;    /**< bytes of the current chunk-size line so far */
    uint32_t trailer_len; /**< bytes of the trailer section so far */
    uint32_t trailer_fields;
    uint8_t state;
    const char *error; /**< why ORIGIN_CHUNKED_ERROR (a static string) */
} origin_chunked_t;

/** results of origin_chunked_decode besides the count of bytes left after the body */
#define ORIGIN_CHUNKED_ERROR (-1)
#define ORIGIN_CHUNKED_INCOMPLETE (-2)

void origin_chunked_init(origin_chunked_t *d);
/**
 * Decodes the next *bufsz bytes of a chunked body in place (RFC 9112 §7.1): on return the first *bufsz bytes of buf are chunk
 * data. Returns ORIGIN_CHUNKED_INCOMPLETE when the body goes on, ORIGIN_CHUNKED_ERROR (d->error set) on a framing error, or,
 * once the last chunk and the trailer section are read, the number of bytes that came after them, moved to buf + *bufsz.
 * Strict: chunk-size is 1*HEXDIG up to ORIGIN_MAX_LENGTH, optionally followed by whitespace and `;` extensions of printable
 * bytes (ignored); every line ends in CRLF; chunk data is followed by CRLF; trailer fields are checked like header fields and
 * dropped; the size line is bounded by ORIGIN_CHUNK_LINE_MAX, the trailers by ORIGIN_TRAILERS_MAX_SIZE and
 * ORIGIN_HEAD_MAX_FIELDS. The result does not depend on how the body is split across calls.
 */
ssize_t origin_chunked_decode(origin_chunked_t *d, char *buf, size_t *bufsz);

#endif
