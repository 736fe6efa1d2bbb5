/* proxy/headers.h - header rules of a proxy: hop-by-hop fields (RFC 9110 section 7.6.1), forwarding headers, small helpers. */
#ifndef EDGE_PROXY_HEADERS_H
#define EDGE_PROXY_HEADERS_H

#include <h2o.h>

/** a list of lowercase header names named by Connection header values (RFC 9110 section 7.6.1) */
typedef struct headers_connection_list {
    h2o_iovec_t names[16];
    size_t count;
    int overflow; /* more than 16 names: treat every non-standard header as named (safe side) */
} headers_connection_list_t;

/** collects the names listed in every Connection header of `headers` */
void headers_connection_tokens(const h2o_headers_t *headers, headers_connection_list_t *out);
/**
 * true when `name` (lowercase) must not be forwarded: the hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE,
 * Transfer-Encoding, Upgrade, Trailer, Proxy-Authenticate, Proxy-Authorization) and any named in Connection
 */
int headers_is_hop_by_hop(const h2o_iovec_t *name, const headers_connection_list_t *conn);
/** case-insensitive equality of a header name with a literal */
int headers_name_is(const h2o_iovec_t *name, const char *lit, size_t len);
/** the value of the first header with `token`, or {NULL, 0} */
h2o_iovec_t headers_get(const h2o_headers_t *headers, const h2o_token_t *token);
/** the value of the first header named `name` (lowercase), tokens included */
h2o_iovec_t headers_get_str(const h2o_headers_t *headers, const char *name, size_t len);
/** adds a header by name: interned as a token when h2o knows it; name and value are referenced, not copied */
void headers_add(h2o_mem_pool_t *pool, h2o_headers_t *headers, const char *name, size_t name_len, h2o_iovec_t value);
/** parses a decimal Content-Length; -1 when invalid (including signs, spaces inside, overflow) */
int64_t headers_parse_content_length(h2o_iovec_t value);
/** writes an IPv4 address in dotted-decimal to buf (at least 16 bytes, not NUL-terminated); returns its length */
size_t headers_format_ipv4(const uint8_t addr[4], char *buf);

#endif
