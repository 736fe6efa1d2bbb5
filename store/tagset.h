/* store/tagset.h - object tag sets: S3's limits, the query form (x-amz-tagging, and how tags are stored), pure functions */
#ifndef EDGE_STORE_TAGSET_H
#define EDGE_STORE_TAGSET_H

#include <stddef.h>

#define STORE_MAX_TAGS 10

typedef struct store_tag {
    char *key, *value; /* malloc'd, NUL-terminated (a key or value holding NUL is refused) */
    size_t key_len, value_len;
} store_tag_t;

typedef struct store_tagset {
    store_tag_t tags[STORE_MAX_TAGS];
    size_t n;
} store_tagset_t;

/** an empty set */
void store_tagset_init(store_tagset_t *ts);
/** frees the tags */
void store_tagset_free(store_tagset_t *ts);
/** adds a tag (copied); 0, or -1 with *err when there would be more than 10 or out of memory */
int store_tagset_add(store_tagset_t *ts, const char *key, size_t key_len, const char *value, size_t value_len, const char **err);
/**
 * Checks S3's limits - keys 1-128 and values 0-256 characters (UTF-8) of letters, digits, white space and + - = . _ : / @,
 * no key twice, no aws: prefix - and sorts the tags by key. 0, or -1 with *err (the InvalidTag message).
 */
int store_tagset_check(store_tagset_t *ts, const char **err);
/**
 * Parses the query form `k=v&k2` (percent-encoded, '+' a space; a bare key has an empty value) into ts (initialised here) and
 * checks it. 0, or -1 with *err; ts is empty after a failure.
 */
int store_tagset_parse(store_tagset_t *ts, const char *s, size_t len, const char **err);
/** the stored form: k=v&k2=v2 in ts's order, everything but A-Z a-z 0-9 - . _ ~ percent-encoded; malloc'd ("" if empty), NULL if
 * out of memory */
char *store_tagset_format(const store_tagset_t *ts);

#endif
