/* proxy/headers.c - hop-by-hop header rules (RFC 9110 section 7.6.1) and small header helpers. */
#include <ctype.h>
#include <string.h>
#include "base/str.h"
#include "proxy/headers.h"

int headers_name_is(const h2o_iovec_t *name, const char *lit, size_t len)
{
    return edge_caseeq(name->base, name->len, lit, len);
}

void headers_connection_tokens(const h2o_headers_t *headers, headers_connection_list_t *out)
{
    out->count = 0;
    out->overflow = 0;
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_header_t *h = headers->entries + i;
        const char *p, *end;
        if (h->name != &H2O_TOKEN_CONNECTION->buf)
            continue;
        p = h->value.base;
        end = p + h->value.len;
        while (p < end) {
            const char *s;
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                ++p;
            s = p;
            while (p < end && *p != ',' && *p != ' ' && *p != '\t')
                ++p;
            if (p > s) {
                if (out->count == sizeof(out->names) / sizeof(out->names[0])) {
                    out->overflow = 1;
                    return;
                }
                out->names[out->count++] = h2o_iovec_init(s, p - s);
            }
        }
    }
}

int headers_is_hop_by_hop(const h2o_iovec_t *name, const headers_connection_list_t *conn)
{
    static const struct {
        const char *s;
        size_t n;
    } fixed[] = {{H2O_STRLIT("connection")},          {H2O_STRLIT("keep-alive")}, {H2O_STRLIT("proxy-connection")},
                 {H2O_STRLIT("te")},                  {H2O_STRLIT("transfer-encoding")}, {H2O_STRLIT("upgrade")},
                 {H2O_STRLIT("trailer")},             {H2O_STRLIT("proxy-authenticate")}, {H2O_STRLIT("proxy-authorization")},
                 {H2O_STRLIT("http2-settings")}};
    size_t i;
    for (i = 0; i != sizeof(fixed) / sizeof(fixed[0]); ++i)
        if (headers_name_is(name, fixed[i].s, fixed[i].n))
            return 1;
    if (conn != NULL) {
        for (i = 0; i != conn->count; ++i)
            if (edge_caseeq(name->base, name->len, conn->names[i].base, conn->names[i].len))
                return 1;
        if (conn->overflow && !h2o_iovec_is_token(name))
            return 1;
    }
    return 0;
}

h2o_iovec_t headers_get(const h2o_headers_t *headers, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(headers, token, -1);
    return i == -1 ? h2o_iovec_init(NULL, 0) : headers->entries[i].value;
}

h2o_iovec_t headers_get_str(const h2o_headers_t *headers, const char *name, size_t len)
{
    for (size_t i = 0; i != headers->size; ++i)
        if (headers_name_is(headers->entries[i].name, name, len))
            return headers->entries[i].value;
    return h2o_iovec_init(NULL, 0);
}

void headers_add(h2o_mem_pool_t *pool, h2o_headers_t *headers, const char *name, size_t name_len, h2o_iovec_t value)
{
    const h2o_token_t *token = h2o_lookup_token(name, name_len);
    if (token != NULL)
        h2o_add_header(pool, headers, token, NULL, value.base, value.len);
    else
        h2o_add_header_by_str(pool, headers, name, name_len, 0, NULL, value.base, value.len);
}

int64_t headers_parse_content_length(h2o_iovec_t value)
{
    int64_t v = 0;
    size_t i = 0;
    while (i < value.len && (value.base[i] == ' ' || value.base[i] == '\t'))
        ++i;
    if (i == value.len)
        return -1;
    for (; i < value.len && isdigit((unsigned char)value.base[i]); ++i) {
        int d = value.base[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    while (i < value.len && (value.base[i] == ' ' || value.base[i] == '\t'))
        ++i;
    return i == value.len ? v : -1;
}

size_t headers_format_ipv4(const uint8_t addr[4], char *buf)
{
    char *p = buf;
    for (int i = 0; i != 4; ++i) {
        if (i != 0)
            *p++ = '.';
        if (addr[i] >= 100)
            *p++ = (char)('0' + addr[i] / 100);
        if (addr[i] >= 10)
            *p++ = (char)('0' + addr[i] / 10 % 10);
        *p++ = (char)('0' + addr[i] % 10);
    }
    return (size_t)(p - buf);
}
