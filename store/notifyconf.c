/* store/notifyconf.c - bucket notification configurations: S3's XML into rules and back (store/notifyconf.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "base/str.h"
#include "store/notifyconf.h"

#define MAX_FILTER 1024 /* a prefix or suffix: at most a key */

typedef store_notify_rule_t rule_t;
typedef store_notify_perr_t perr_t;

const char *const store_notify_event_names[STORE_EV_NUM] = {"ObjectCreated:Put",    "ObjectCreated:Post",
                                                            "ObjectCreated:Copy",   "ObjectCreated:CompleteMultipartUpload",
                                                            "ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated"};
#define CREATED_ALL ((1u << STORE_EV_PUT) | (1u << STORE_EV_POST) | (1u << STORE_EV_COPY) | (1u << STORE_EV_COMPLETE))
#define REMOVED_ALL ((1u << STORE_EV_DELETE) | (1u << STORE_EV_DELETE_MARKER))

/* ---- rules ------------------------------------------------------------------------------------------------------------------ */

void store_notify_rules_free(rule_t *r, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        free(r[i].prefix);
        free(r[i].suffix);
    }
    free(r);
}

int store_notify_parse_event(const char *s, unsigned *bits, unsigned *given)
{
    if (strcmp(s, "s3:ObjectCreated:*") == 0) {
        *bits |= CREATED_ALL;
        *given |= 1u << 6;
        return 0;
    }
    if (strcmp(s, "s3:ObjectRemoved:*") == 0) {
        *bits |= REMOVED_ALL;
        *given |= 1u << 7;
        return 0;
    }
    for (int i = 0; i != STORE_EV_NUM; ++i)
        if (strncmp(s, "s3:", 3) == 0 && strcmp(s + 3, store_notify_event_names[i]) == 0) {
            *bits |= 1u << i;
            *given |= 1u << i;
            return 0;
        }
    return -1;
}

int store_notify_parse_function(const char *s, rule_t *r)
{
    const char *name = s;
    if (strncmp(s, "arn:", 4) == 0) {
        const char *p = strstr(s, ":function:");
        if (strncmp(s, "arn:aws:lambda:", 15) != 0 || p == NULL)
            return -1;
        /* REGION:ACCOUNT: letters, digits, '-', '_' and '.' (what the answer gives back byte for byte) */
        int colons = 0;
        for (const char *q = s + 15; q != p; ++q) {
            char c = *q;
            if (c == ':')
                colons += 1;
            else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                       c == '.'))
                return -1;
        }
        if (colons != 1)
            return -1;
        name = p + 10;
    }
    const char *colon = strchr(name, ':');
    size_t nlen = colon != NULL ? (size_t)(colon - name) : strlen(name);
    if (nlen == 0 || nlen >= sizeof(r->function) ||
        (colon != NULL && (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(r->qualifier))))
        return -1;
    for (size_t i = 0; i != nlen; ++i) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return -1;
    }
    if (colon != NULL)
        for (const char *q = colon + 1; *q != '\0'; ++q)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' || *q == '_' ||
                  *q == '$'))
                return -1;
    memcpy(r->function, name, nlen);
    r->function[nlen] = '\0';
    snprintf(r->qualifier, sizeof(r->qualifier), "%s", colon != NULL ? colon + 1 : "");
    snprintf(r->arn, sizeof(r->arn), "%s", s);
    return 0;
}

static int starts_with(const char *s, size_t slen, const char *p)
{
    size_t plen = strlen(p);
    return slen >= plen && memcmp(s, p, plen) == 0;
}

static int ends_with(const char *s, size_t slen, const char *p)
{
    size_t plen = strlen(p);
    return slen >= plen && memcmp(s + slen - plen, p, plen) == 0;
}

int store_notify_rule_matches(const rule_t *r, const char *key, size_t klen, int kind)
{
    return (r->events & (1u << kind)) != 0 && (r->prefix == NULL || starts_with(key, klen, r->prefix)) &&
           (r->suffix == NULL || ends_with(key, klen, r->suffix));
}

/* two rules overlap when they share an event and a key could match both (S3 refuses that) */
static int overlap(const rule_t *a, const rule_t *b)
{
    if ((a->events & b->events) == 0)
        return 0;
    const char *pa = a->prefix != NULL ? a->prefix : "", *pb = b->prefix != NULL ? b->prefix : "";
    const char *sa = a->suffix != NULL ? a->suffix : "", *sb = b->suffix != NULL ? b->suffix : "";
    int prefixes = starts_with(pa, strlen(pa), pb) || starts_with(pb, strlen(pb), pa);
    int suffixes = ends_with(sa, strlen(sa), sb) || ends_with(sb, strlen(sb), sa);
    return prefixes && suffixes;
}

/* ---- the XML ----------------------------------------------------------------------------------------------------------------- */

static int bad(perr_t *e, const char *code, const char *fmt, const char *arg)
{
    e->status = 400;
    e->code = code;
    snprintf(e->message, sizeof(e->message), fmt, arg != NULL ? arg : "");
    return -1;
}

/* appends s XML-escaped to out */
static void xml_escape(char *out, size_t outlen, const char *s)
{
    size_t o = strlen(out);
    for (; *s != '\0' && o + 7 < outlen; ++s) {
        const char *rep = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" : *s == '"' ? "&quot;" : NULL;
        if (rep != NULL) {
            memcpy(out + o, rep, strlen(rep));
            o += strlen(rep);
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

static char *dup_text(const store_xml_node_t *n)
{
    char *s = malloc(n->text_len + 1);
    if (s == NULL)
        abort();
    memcpy(s, n->text, n->text_len);
    s[n->text_len] = '\0';
    return s;
}

/* no control characters but tab, LF and CR: what the answer gives back byte for byte (the XML writer replaces the others, and
 * DEL, which keys the store accepts never hold either) */
static int plain(const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* a plain text of 1..max bytes */
static int text_ok(const store_xml_node_t *n, size_t max)
{
    return n->text_len != 0 && n->text_len <= max && plain(n->text, n->text_len);
}

/* an Id for a configuration given without one (S3 makes one up too) */
static void random_id(char *out, size_t len)
{
    char u[37];
    if (edge_uuid4(u) != 0)
        snprintf(u, sizeof(u), "%016llx", (unsigned long long)time(NULL));
    snprintf(out, len, "%s", u);
}

/* one LambdaFunctionConfiguration / CloudFunctionConfiguration */
static int parse_rule(const store_xml_node_t *c, rule_t *r, int (*function_exists)(const char *name), perr_t *e)
{
    memset(r, 0, sizeof(*r));
    r->legacy = strcmp(c->name, "CloudFunctionConfiguration") == 0;
    int have_fn = 0;
    for (const store_xml_node_t *f = c->child; f != NULL; f = f->next) {
        if (strcmp(f->name, "Id") == 0) {
            if (!text_ok(f, STORE_NOTIFY_MAX_ID))
                return bad(e, "InvalidArgument", "The Id must be 1 to 255 characters.", NULL);
            memcpy(r->id, f->text, f->text_len);
            r->id[f->text_len] = '\0';
        } else if (strcmp(f->name, "CloudFunction") == 0 || strcmp(f->name, "LambdaFunctionArn") == 0) {
            char *s = dup_text(f);
            int ok = text_ok(f, sizeof(r->arn) - 1) && store_notify_parse_function(s, r) == 0;
            free(s);
            if (!ok)
                return bad(e, "InvalidArgument",
                           "The function ARN is not valid: give arn:aws:lambda:REGION:ACCOUNT:function:NAME"
                           "[:ALIAS] or a hook name.",
                           NULL);
            have_fn = 1;
        } else if (strcmp(f->name, "Event") == 0) {
            char *s = dup_text(f);
            int ok = text_ok(f, 128) && store_notify_parse_event(s, &r->events, &r->given) == 0;
            if (!ok) {
                bad(e, "InvalidArgument", "The event is not supported for notifications: %s", s);
                free(s);
                return -1;
            }
            free(s);
        } else if (strcmp(f->name, "Filter") == 0) {
            for (const store_xml_node_t *k = f->child; k != NULL; k = k->next) {
                if (strcmp(k->name, "S3Key") != 0)
                    return bad(e, "InvalidArgument", "Only S3Key filters are supported, not %s.", k->name);
                for (const store_xml_node_t *fr = k->child; fr != NULL; fr = fr->next) {
                    if (strcmp(fr->name, "FilterRule") != 0)
                        return bad(e, "MalformedXML",
                                   "The XML you provided was not well-formed or did not validate against our "
                                   "published schema.",
                                   NULL);
                    const store_xml_node_t *nm = store_xml_child(fr, "Name"), *vl = store_xml_child(fr, "Value");
                    if (nm == NULL || vl == NULL || vl->text_len > MAX_FILTER || !plain(vl->text, vl->text_len))
                        return bad(e, "InvalidArgument",
                                   "A filter rule needs a Name (prefix or suffix) and a Value of at most 1024 "
                                   "bytes.",
                                   NULL);
                    char **slot;
                    if (nm->text_len == 6 && strncasecmp(nm->text, "prefix", 6) == 0)
                        slot = &r->prefix;
                    else if (nm->text_len == 6 && strncasecmp(nm->text, "suffix", 6) == 0)
                        slot = &r->suffix;
                    else
                        return bad(e, "InvalidArgument", "filter rule name must be either prefix or suffix", NULL);
                    if (*slot != NULL)
                        return bad(e, "InvalidArgument", "Cannot specify more than one %s rule in a filter.",
                                   slot == &r->prefix ? "prefix" : "suffix");
                    *slot = dup_text(vl);
                }
            }
        } else if (strcmp(f->name, "InvocationRole") == 0) {
            /* the legacy element: accepted and ignored (no IAM here) */
        } else {
            return bad(e, "MalformedXML",
                       "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
        }
    }
    if (!have_fn)
        return bad(e, "InvalidArgument", "A function configuration needs a CloudFunction (the function ARN).", NULL);
    if (r->events == 0)
        return bad(e, "InvalidArgument", "A function configuration needs at least one Event.", NULL);
    if (r->id[0] == '\0')
        random_id(r->id, sizeof(r->id));
    if (function_exists != NULL && !function_exists(r->function)) {
        e->status = 400;
        e->code = "InvalidArgument";
        snprintf(e->message, sizeof(e->message), "Unable to validate the following destination configurations");
        snprintf(e->extra, sizeof(e->extra), "<ArgumentName1>");
        xml_escape(e->extra, sizeof(e->extra), r->arn);
        snprintf(e->extra + strlen(e->extra), sizeof(e->extra) - strlen(e->extra), "</ArgumentName1><ArgumentValue1>");
        char msg[400];
        snprintf(msg, sizeof(msg), "The function does not exist: no hook named %s", r->function);
        xml_escape(e->extra, sizeof(e->extra), msg);
        snprintf(e->extra + strlen(e->extra), sizeof(e->extra) - strlen(e->extra), "</ArgumentValue1>");
        return -1;
    }
    return 0;
}

int store_notify_parse_config(const char *text, size_t len, int (*function_exists)(const char *name), rule_t **out, size_t *num,
                              perr_t *e)
{
    const char *xerr;
    store_xml_node_t *doc = store_xml_parse(text, len, &xerr);
    *out = NULL;
    *num = 0;
    if (doc == NULL || strcmp(doc->name, "NotificationConfiguration") != 0) {
        store_xml_node_free(doc);
        return bad(e, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.",
                   NULL);
    }
    rule_t *rules = calloc(STORE_NOTIFY_MAX_RULES, sizeof(*rules));
    size_t n = 0;
    int ret = 0;
    if (rules == NULL)
        abort();
    for (const store_xml_node_t *c = doc->child; c != NULL && ret == 0; c = c->next) {
        if (strcmp(c->name, "LambdaFunctionConfiguration") == 0 || strcmp(c->name, "CloudFunctionConfiguration") == 0) {
            if (n == STORE_NOTIFY_MAX_RULES) {
                ret = bad(e, "InvalidArgument", "Too many notification configurations (at most 100 per bucket).", NULL);
                break;
            }
            ret = parse_rule(c, &rules[n], function_exists, e);
            n += 1; /* freed with the rest, parsed or not */
            for (size_t i = 0; ret == 0 && i + 1 < n; ++i) {
                if (strcmp(rules[i].id, rules[n - 1].id) == 0)
                    ret = bad(e, "InvalidArgument", "Configuration Id %s is used more than once.", rules[i].id);
                else if (overlap(&rules[i], &rules[n - 1]))
                    ret = bad(e, "InvalidArgument",
                              "Configurations overlap. Configurations on the same bucket cannot share a common event type.", NULL);
            }
        } else if (strcmp(c->name, "TopicConfiguration") == 0 || strcmp(c->name, "QueueConfiguration") == 0 ||
                   strcmp(c->name, "EventBridgeConfiguration") == 0) {
            e->status = 400;
            e->code = "InvalidArgument";
            snprintf(e->message, sizeof(e->message), "Unable to validate the following destination configurations");
            snprintf(e->extra, sizeof(e->extra),
                     "<ArgumentName1>%s</ArgumentName1><ArgumentValue1>edgehook delivers events to hooks only "
                     "(LambdaFunctionConfiguration)</ArgumentValue1>",
                     c->name);
            ret = -1;
        } else {
            ret = bad(e, "MalformedXML",
                      "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
        }
    }
    store_xml_node_free(doc);
    if (ret != 0) {
        store_notify_rules_free(rules, n);
        return -1;
    }
    *out = rules;
    *num = n;
    return 0;
}

void store_notify_write_config(store_xml_t *x, const rule_t *rules, size_t n)
{
    store_xml_begin(x, "NotificationConfiguration", STORE_XML_NS);
    for (size_t i = 0; i != n; ++i) {
        const rule_t *r = &rules[i];
        /* S3 answers Lambda configurations as CloudFunctionConfiguration (the SDKs parse that name only) */
        const char *el = "CloudFunctionConfiguration";
        store_xml_open(x, el);
        store_xml_elem_str(x, "Id", r->id);
        store_xml_elem_str(x, "CloudFunction", r->arn);
        if (r->given & (1u << 6))
            store_xml_elem_str(x, "Event", "s3:ObjectCreated:*");
        if (r->given & (1u << 7))
            store_xml_elem_str(x, "Event", "s3:ObjectRemoved:*");
        for (int k = 0; k != STORE_EV_NUM; ++k)
            if (r->given & (1u << k)) {
                char ev[64];
                snprintf(ev, sizeof(ev), "s3:%s", store_notify_event_names[k]);
                store_xml_elem_str(x, "Event", ev);
            }
        if (r->prefix != NULL || r->suffix != NULL) {
            store_xml_open(x, "Filter");
            store_xml_open(x, "S3Key");
            for (int k = 0; k != 2; ++k) {
                const char *v = k == 0 ? r->prefix : r->suffix;
                if (v == NULL)
                    continue;
                store_xml_open(x, "FilterRule");
                store_xml_elem_str(x, "Name", k == 0 ? "Prefix" : "Suffix");
                store_xml_elem_str(x, "Value", v);
                store_xml_close(x, "FilterRule");
            }
            store_xml_close(x, "S3Key");
            store_xml_close(x, "Filter");
        }
        store_xml_close(x, el);
    }
    store_xml_close(x, "NotificationConfiguration");
}
