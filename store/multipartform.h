/* store/multipartform.h - a streaming multipart/form-data parser (RFC 7578, RFC 2046 section 5.1) for POST Object uploads.
 *
 * Push parser: the body is fed in pieces of any size (split anywhere), and the parser calls back for each part's head, its data
 * (in pieces, never buffered: a part may be gigabytes) and its end. Linear in the input: every byte is looked at a bounded number
 * of times whatever its content (the delimiter search skips by memchr on CR; a partial delimiter at the end of a piece is held, at
 * most 74 bytes). Bounded memory: a part's header block is at most STORE_FORM_MAX_HEAD bytes; the preamble and epilogue are
 * skipped, not kept. Strict where browsers and SDKs are: CRLF line ends, a Content-Disposition: form-data with a name on every
 * part.
 */
#ifndef EDGE_STORE_MULTIPARTFORM_H
#define EDGE_STORE_MULTIPARTFORM_H

#include <stddef.h>
#include <stdint.h>

#define STORE_FORM_MAX_BOUNDARY 70 /* RFC 2046 */
#define STORE_FORM_MAX_HEAD 8192   /* one part's header block */

enum {
    STORE_FORM_OK = 0,
    STORE_FORM_STOPPED = 1,     /* a callback returned STORE_FORM_STOPPED: the rest of the input is ignored */
    STORE_FORM_EMALFORMED = -1, /* error[] says why */
    STORE_FORM_ECALLBACK = -2,  /* a callback returned a negative value */
};

/** one part's head; the strings are NUL-terminated (they cannot contain NUL) and valid during the on_part call only */
typedef struct store_form_part {
    const char *name; /* the name parameter of Content-Disposition (required) */
    size_t name_len;
    const char *filename; /* NULL when the part has no filename parameter */
    size_t filename_len;
    const char *content_type; /* NULL when the part has no Content-Type */
    size_t content_type_len;
} store_form_part_t;

/** callbacks: 0 goes on, STORE_FORM_STOPPED ends parsing successfully, a negative value ends it with STORE_FORM_ECALLBACK */
typedef struct store_form_callbacks {
    int (*on_part)(void *ctx, const store_form_part_t *part);
    int (*on_data)(void *ctx, const void *data, size_t len);
    int (*on_part_end)(void *ctx);
} store_form_callbacks_t;

typedef struct store_form {
    const store_form_callbacks_t *cb;
    void *ctx;
    char delim[4 + STORE_FORM_MAX_BOUNDARY]; /* CRLF "--" boundary */
    size_t delim_len;
    int state;
    int after;    /* the state after a delimiter: what of "--" / padding / CRLF was seen */
    size_t match; /* how much of delim the bytes held at the end of the last piece matched */
    char head[STORE_FORM_MAX_HEAD];
    size_t head_len;
    char values[STORE_FORM_MAX_HEAD + 3]; /* the decoded name, filename and content type of the current part */
    uint64_t num_parts;
    int result; /* once not STORE_FORM_OK, every call returns it */
    char error[160];
} store_form_t;

/**
 * The boundary parameter of a Content-Type value, which must be multipart/form-data (case-insensitive; the boundary may be quoted).
 * Returns 0 and the boundary in out (NUL-terminated), or -1: not multipart/form-data (*is_form = 0), or no valid boundary.
 */
int store_form_boundary(const char *content_type, size_t len, char out[STORE_FORM_MAX_BOUNDARY + 1], int *is_form);

/** prepares f (caller's memory, ~17 KB: put it on the heap) for a body with this boundary (1-70 characters of RFC 2046's set) */
int store_form_init(store_form_t *f, const char *boundary, const store_form_callbacks_t *cb, void *ctx);
/** feeds len bytes; returns STORE_FORM_OK (more wanted), STORE_FORM_STOPPED, or an error (sticky) */
int store_form_feed(store_form_t *f, const void *data, size_t len);
/** the body is over: STORE_FORM_OK if the closing delimiter was seen (or parsing was stopped), else STORE_FORM_EMALFORMED */
int store_form_finish(store_form_t *f);

#endif
