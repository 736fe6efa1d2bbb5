/* hooks/json.h - a small JSON parser (DOM, bounded depth and size, for hostile input) and emitter used by hooks and `invoke`. */
#ifndef EDGE_HOOKS_JSON_H
#define EDGE_HOOKS_JSON_H

#include <stddef.h>

/** the type of a parsed JSON value */
typedef enum {
    HOOK_JSON_NULL = 0,
    HOOK_JSON_FALSE,
    HOOK_JSON_TRUE,
    HOOK_JSON_NUMBER,
    HOOK_JSON_STRING,
    HOOK_JSON_ARRAY,
    HOOK_JSON_OBJECT
} hook_json_type_t;

/** a parsed value; arrays and objects own their items (objects keep keys in document order, duplicates kept) */
typedef struct hook_json {
    hook_json_type_t type;
    double number;
    char *str; /* STRING: bytes, NUL-terminated (may contain NUL: use len) */
    size_t len;
    struct hook_json **items; /* ARRAY, OBJECT */
    char **keys;              /* OBJECT */
    size_t *key_lens;
    size_t count;
} hook_json_t;

/** deeper nesting is refused (no recursion past it) */
#define HOOK_JSON_MAX_DEPTH 64

/** parses len bytes (the whole text must be one value, whitespace around); NULL with `line:col: reason` in err */
hook_json_t *hook_json_parse(const char *text, size_t len, char *err, size_t errlen);
/** hook_json_parse refusing ("too many values") a text of more than max_values values (arrays, objects and scalars): what
 * the tree costs is bounded by the count, not by the text's length */
hook_json_t *hook_json_parse_max(const char *text, size_t len, size_t max_values, char *err, size_t errlen);
void hook_json_free(hook_json_t *v);
/** the last member named key of an object (NULL if absent or v is not an object) */
const hook_json_t *hook_json_get(const hook_json_t *v, const char *key);
/** the string of v, or NULL if v is not a string */
const char *hook_json_string(const hook_json_t *v, size_t *len);

/** a growable output buffer (malloc) */
typedef struct hook_buf {
    char *base;
    size_t len, cap;
} hook_buf_t;

void hook_buf_append(hook_buf_t *b, const char *s, size_t len);
void hook_buf_appendf(hook_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** appends s as a JSON string literal (escapes controls, quotes, backslash; bytes >= 0x80 pass through) */
void hook_buf_json_string(hook_buf_t *b, const char *s, size_t len);
/** appends v as JSON; indent > 0 pretty-prints with that many spaces per level */
void hook_buf_json(hook_buf_t *b, const hook_json_t *v, int indent);
void hook_buf_free(hook_buf_t *b);

#endif
