/* proxy/picohttp.h - prototypes of picohttpparser, which libh2o exports but Debian does not ship a header for (H2O.md section 1).
 * They match deps/picohttpparser/picohttpparser.h of h2o v2.2.5. */
#ifndef EDGE_PROXY_PICOHTTP_H
#define EDGE_PROXY_PICOHTTP_H

#include <sys/types.h>

struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

/* zero-filled before use */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

/* decodes in place; returns -2 when more input is needed (bufsz = decoded bytes so far), -1 on a framing error, or the number
 * of undecoded bytes after the terminating chunk (and trailers, with consume_trailer) */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
