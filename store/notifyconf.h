/* store/notifyconf.h - bucket notification configurations as S3 writes them (NotificationConfiguration XML with
 * LambdaFunctionConfiguration / CloudFunctionConfiguration elements): parsed and checked the way S3 checks them, written back as S3
 * answers them. Pure functions of their arguments (no store, no locks): store/notify.c keeps the table and the files, and
 * tests/fuzz/fuzz_store_notify.c fuzzes the parser. */
#ifndef EDGE_STORE_NOTIFYCONF_H
#define EDGE_STORE_NOTIFYCONF_H

#include <stddef.h>
#include "store/notify.h"
#include "store/xml.h"

#define STORE_NOTIFY_MAX_RULES 100 /* per bucket (S3 allows 100 destinations per bucket) */
#define STORE_NOTIFY_MAX_ID 255    /* S3: the Id is at most 255 characters */

/** one function configuration */
typedef struct store_notify_rule {
    char id[STORE_NOTIFY_MAX_ID + 1];
    char arn[600];      /* as given (the ARN or the bare name) */
    char function[256]; /* the hook */
    char qualifier[129];
    unsigned events; /* bit STORE_EV_* */
    unsigned given;  /* the Event values as given: bit 0-5 a specific one, 6 ObjectCreated:*, 7 ObjectRemoved:* */
    char *prefix, *suffix;
    int exclude_hook_writes;
    int legacy; /* a CloudFunctionConfiguration (answered as one) */
} store_notify_rule_t;

/** why a document was refused: the S3 error to answer */
typedef struct store_notify_perr {
    int status;
    const char *code;
    char message[512];
    char extra[1400]; /* raw XML after Message (escaped) */
} store_notify_perr_t;

/** the event names without "s3:", indexed by STORE_EV_* */
extern const char *const store_notify_event_names[STORE_EV_NUM];

/** frees n rules and the array */
void store_notify_rules_free(store_notify_rule_t *r, size_t n);
/** an Event value (s3:ObjectCreated:*, s3:ObjectRemoved:Delete, ...): ORs its STORE_EV_* bits into bits and the bit that records
 * how it was given into given (0-5 a specific kind, 6 ObjectCreated:*, 7 ObjectRemoved:*); -1 if unknown */
int store_notify_parse_event(const char *s, unsigned *bits, unsigned *given);
/** NAME, NAME:QUALIFIER or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] into r's function, qualifier and arn; -1 if
 * malformed */
int store_notify_parse_function(const char *s, store_notify_rule_t *r);
/** whether a change of kind STORE_EV_* to key matches r's events and filters */
int store_notify_rule_matches(const store_notify_rule_t *r, const char *key, size_t klen, int kind);
/**
 * A NotificationConfiguration document into rules (a malloc'ed array, *num of them; free with store_notify_rules_free).
 * function_exists, if not NULL, is asked for each rule's hook (S3's destination validation). -1 with e filled on refusal.
 */
int store_notify_parse_config(const char *text, size_t len, int (*function_exists)(const char *name), store_notify_rule_t **out,
                              size_t *num, store_notify_perr_t *e);
/** the rules as S3 answers GetBucketNotificationConfiguration */
void store_notify_write_config(store_xml_t *x, const store_notify_rule_t *rules, size_t n);

#endif
