/* base/str.h - the text helpers every module shares: hex digits, percent-escapes, base64 (OpenSSL), HTTP-dates, and the ASCII
 * case-insensitive / white-space / comma-list helpers of the files that are built without h2o.
 *
 * No dependency on h2o: proxy/reqcheck.c, proxy/originhead.c, sigv4/sigv4.c and store/chunked.c build without it for their fuzz
 * targets (tests/fuzz/build.sh). Code that has h2o uses h2o's own helpers for case and white space (h2o_lcstris, h2o_memis,
 * h2o_strtolower, h2o_str_stripws, h2o_contains_token) and these for the rest. Everything here is a pure function. */
#ifndef EDGE_BASE_STR_H
#define EDGE_BASE_STR_H

#include <stddef.h>
#include <stdint.h>

/* ---- case, white space, lists (ASCII) ---------------------------------------------------------------------------------------- */

/** ASCII lowercase of c (other bytes unchanged) */
static inline int edge_tolower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}
/** 1 if s (len bytes) equals the lowercase literal lc (lclen bytes) ignoring ASCII case: h2o_lcstris for code without h2o */
int edge_lcstris(const char *s, size_t len, const char *lc, size_t lclen);
/** 1 if a and b are equal ignoring ASCII case (both of any case; h2o has only the lowercase-literal form) */
int edge_caseeq(const char *a, size_t alen, const char *b, size_t blen);
/** narrows *s / *len to the value without the optional white space (SP, HTAB) around it (RFC 9110 §5.6.3) */
void edge_strip_ows(const char **s, size_t *len);
/** 1 if the comma-separated list (with OWS and empty elements) has the element lc, compared ignoring ASCII case */
int edge_list_has(const char *list, size_t len, const char *lc, size_t lclen);

/* ---- hex --------------------------------------------------------------------------------------------------------------------- */

/** the value of a hex digit of either case, or -1 */
int edge_hex_value(int c);
/** writes the two lowercase hex digits of c (no NUL); returns dst + 2 */
char *edge_hex_byte(char *dst, unsigned char c);
/** writes the 2 * len lowercase hex digits of src and a NUL into dst (2 * len + 1 bytes) */
void edge_hex_encode(char *dst, const void *src, size_t len);
/** writes a version 4 UUID (RFC 9562: 122 bits from OpenSSL's CSPRNG) as 36 lowercase characters and a NUL; 0, or -1 if the
 * generator failed (out is then untouched) */
int edge_uuid4(char out[37]);
/** the reason phrase of an HTTP status code (RFC 9110's wording; "Error" or "Internal Server Error" for codes it does not list) */
const char *edge_http_reason(int status);
/** the SHA-256 of data as 64 lowercase hex digits and a NUL (OpenSSL) */
void edge_sha256_hex(const void *data, size_t len, char out[65]);
/** writes the percent-escape of c (`%` and two uppercase hex digits, RFC 3986 §2.1) into dst; returns dst + 3 */
char *edge_pct_escape(char *dst, unsigned char c);

/** decodes the %XX escapes of src into dst (len bytes at most; a `%` that starts no escape stays as it is); returns the length */
size_t edge_pct_decode(char *dst, const char *src, size_t len);

/* ---- base64 (RFC 4648 §4, OpenSSL's coder) ----------------------------------------------------------------------------------- */

/** the buffer edge_base64_encode needs for len bytes, its NUL included */
#define EDGE_BASE64_ENCODED_SIZE(len) (((len) + 2) / 3 * 4 + 1)
/** standard alphabet, padded, NUL-terminated; returns the length without the NUL */
size_t edge_base64_encode(char *dst, const void *src, size_t len);

enum {
    EDGE_BASE64_STRICT = 0,  /**< the standard alphabet, padding required, nothing else (S3's Content-MD5, checksums, tokens) */
    EDGE_BASE64_LENIENT = 1, /**< also base64url's `-` and `_`, padding optional (Lambda@Edge bodies, edge.base64_decode) */
};
/** decodes into dst (at least 3 * ((len + 3) / 4) bytes); returns the decoded length, or -1 if src is not base64 */
long edge_base64_decode(void *dst, const char *src, size_t len, int mode);

/* ---- entity tags (RFC 9110 §8.8.3) ------------------------------------------------------------------------------------------ */

/** one entity-tag: its opaque part (without the quotes, pointing into the parsed text) and whether it is weak (`W/`) */
typedef struct edge_etag {
    const char *opaque;
    size_t len;
    int weak;
} edge_etag_t;
/** reads one entity-tag at *p (after OWS; lenient: an unquoted tag runs to the next comma or white space) and moves *p past it;
 * 1 if there was one */
int edge_etag_read(const char **p, const char *end, edge_etag_t *out);
/** edge_etag_read on a whole value (an ETag field, a stored tag such as S3's unquoted hex) */
int edge_etag_parse(const char *s, size_t len, edge_etag_t *out);
/** 1 if a and b match: strong comparison (weak = 0: a weak tag never matches) or weak comparison (opaque parts equal) */
int edge_etag_equal(const edge_etag_t *a, const edge_etag_t *b, int weak);
/** 1 if the If-Match / If-None-Match / If-Range style list (`*` or comma-separated tags, junk after a tag skipped) matches the
 * current tag `etag` (quoted or not), by strong (weak = 0) or weak comparison; `*` matches any existing representation */
int edge_etag_list_matches(const char *list, size_t len, const char *etag, size_t etag_len, int weak);

/* ---- HTTP-date (RFC 9110 §5.6.7) --------------------------------------------------------------------------------------------- */

/**
 * Parses an HTTP-date in any of its three forms: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850
 * (`Sunday, 06-Nov-94 08:49:37 GMT`, two-digit years 70-99 are 19xx, others 20xx) and asctime (`Sun Nov  6 08:49:37 1994`); month
 * names in any case, `UTC` for `GMT`, OWS around the value. *sec: seconds since the epoch (a date before it: 0). 0, or -1 if it
 * is not such a date (or a date that does not exist, or a year before 1000).
 */
int edge_http_date_parse(const char *s, size_t len, int64_t *sec);

/* ---- JSON ------------------------------------------------------------------------------------------------------------------- */

/**
 * Writes s (len bytes) as a JSON string, quotes included, at out (cap bytes; always NUL-terminated when cap > 0): `"` `\\` and
 * control characters escaped, other bytes as they are. A string that does not fit is cut at an escape boundary and still
 * closed. Returns the number of bytes written (without the NUL).
 */
size_t edge_json_string(char *out, size_t cap, const char *s, size_t len);

#endif
