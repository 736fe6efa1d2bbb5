/* proxy/reqcheck.h - strict checks of what a viewer sends before anything else looks at it: the raw HTTP/1.x request head
 * (framing, smuggling, obs-fold, Host) and the request target, normalised once into the one path that selects the behaviour,
 * keys the cache, is shown to hooks and is sent to the origin. Pure functions over bytes (fuzzed by tests/fuzz). */
#ifndef EDGE_PROXY_REQCHECK_H
#define EDGE_PROXY_REQCHECK_H

#include <stddef.h>

/**
 * Checks the raw HTTP/1.x request head at the start of `buf` (`len` bytes available; the head ends at its first empty line)
 * the way RFC 9112 asks a server to, beyond what h2o's parser (picohttpparser) refuses:
 * - every line ends in CRLF (a bare LF is refused, §2.2), no obs-fold (a line starting with SP or HTAB, §5.2);
 * - the method is a token, the version HTTP/1.0 or HTTP/1.1 (HTTP/1.2..1.9: 505), one SP between the three parts;
 * - header names are tokens with no whitespace before the colon (§5.1); values hold no control byte but HTAB;
 * - at most one Content-Length, a plain decimal; not both Content-Length and Transfer-Encoding (§6.3: 400 and close);
 *   Transfer-Encoding, when present, is exactly `chunked`;
 * - HTTP/1.1 has exactly one Host, HTTP/1.0 at most one; a Host value has no whitespace and only authority characters.
 * Returns 0 when the head is acceptable, otherwise the status to answer (400 or 505) and sets *reason (a static string).
 * A head that does not end within `len` bytes is refused (h2o only hands a request over once its head is complete).
 */
int reqcheck_http1_head(const char *buf, size_t len, const char **reason);

/** 0 when an authority (Host, :authority) holds only authority characters (reg-name, IP literal, `:port`), else 400 */
int reqcheck_authority(const char *v, size_t len);

/** 0 when `name` is a token (RFC 9110 §5.6.2) of at least one character, else 400 (an HTTP/2 :method or header name) */
int reqcheck_token(const char *name, size_t len);
/** 0 when a field value holds no control byte but HTAB (RFC 9110 §5.5), else 400 (an HTTP/2 header value) */
int reqcheck_field_value(const char *v, size_t len);

/** the outcome of reqcheck_target */
typedef struct reqcheck_target {
    size_t path_len;       /**< bytes written to dst: the normalised path, then `?` and the query if there was one */
    size_t query_at;       /**< offset of `?` in dst, or (size_t)-1 */
    const char *authority; /**< absolute-form only: the authority inside src (NULL otherwise) */
    size_t authority_len;
} reqcheck_target_t;

/** the request is HTTP/2 (absolute-form is refused: RFC 9113 §8.3.1) */
#define REQCHECK_HTTP2 1
/** `;` is allowed in the path (off: 400, since origins disagree on path parameters) */
#define REQCHECK_ALLOW_PARAMS 2

/**
 * Normalises a request target into origin-form in dst (which needs room for max(len, 1) bytes):
 * - absolute-form `http://host[:port]/p?q` (HTTP/1.1 only) becomes `/p?q` and the authority is returned (RFC 9112 §3.2.2);
 * - in the path, `%XX` of an unreserved character (letters, digits, `-._~`) is decoded, other `%XX` are kept with upper-case
 *   hex; `%2F`, `%5C`, `%00` and encoded control bytes are refused, as is a malformed `%`;
 * - `//` becomes `/`; `.` segments are removed and `..` removes the segment before it (above the root: refused);
 *   a trailing `/` is kept;
 * - refused anywhere: control bytes, SP, DEL, `#`, bytes above 0x7f, `\`; in the path, `;` unless REQCHECK_ALLOW_PARAMS;
 *   an empty target or one that does not start with `/` (after absolute-form), and `*`.
 * The query is kept byte for byte. Returns 0, or 400 with *reason set (a static string).
 */
int reqcheck_target(const char *src, size_t len, int flags, char *dst, reqcheck_target_t *out, const char **reason);

#endif
