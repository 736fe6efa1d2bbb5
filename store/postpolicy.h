/* store/postpolicy.h - the POST Object policy document (S3's "POST policy"): parsing its JSON and checking form fields against it.
 * Pure functions (no h2o, no I/O), fuzzed by tests/fuzz/fuzz_store_post.c. */
#ifndef EDGE_STORE_POSTPOLICY_H
#define EDGE_STORE_POSTPOLICY_H

#include <stddef.h>
#include <stdint.h>

#define STORE_POST_MAX_POLICY (20u << 10) /* the decoded JSON */
#define STORE_POST_MAX_CONDITIONS 100

enum { STORE_POST_EQ, STORE_POST_STARTS_WITH, STORE_POST_RANGE };

typedef struct store_post_cond {
    int op;
    char *field; /* lowercase, without '$' (RANGE: "content-length-range"); NUL-terminated */
    char *value; /* EQ / STARTS_WITH: NUL-terminated (a value with NUL is refused) */
    size_t value_len;
    uint64_t min, max; /* RANGE */
    char *text;        /* the condition as written (compact JSON), for error messages */
} store_post_cond_t;

typedef struct store_post_policy {
    int64_t expiration; /* seconds since the epoch */
    store_post_cond_t *conds;
    size_t num_conds;
} store_post_policy_t;

/** parses a decoded policy document; 0, or -1 with the reason in err (S3's "Invalid Policy: ..." wording) */
int store_post_policy_parse(const char *json, size_t len, store_post_policy_t *p, char *err, size_t errlen);
void store_post_policy_free(store_post_policy_t *p);
/** ISO 8601 UTC as in policies: 2026-12-02T16:00:00Z or with fractional seconds (.000Z); 0 or -1 */
int store_post_parse_time(const char *s, size_t len, int64_t *sec);

/** a form field as the checker sees it: name lowercase */
typedef struct store_post_field {
    const char *name;
    const char *value;
    size_t value_len;
} store_post_field_t;

/** 1 if a field of this (lowercase) name needs no condition: file, policy, x-amz-signature, signature, awsaccesskeyid, x-ignore-*
 */
int store_post_field_exempt(const char *name);

/**
 * Checks the fields (and the bucket, which a `bucket` condition names) against the policy's eq and starts-with conditions, and
 * that every field that is not exempt is named by a condition. alt_key, when not NULL, is a second value of the `key` field (the
 * key after ${filename} substitution): a key condition holds if either value satisfies it. Returns 0, or -1 with S3's message in
 * msg ("Invalid according to Policy: ..."). content-length-range is the caller's (it needs the file's size).
 */
int store_post_policy_check(const store_post_policy_t *p, const store_post_field_t *fields, size_t n, const char *bucket,
                            const char *alt_key, char *msg, size_t msglen);

#endif
