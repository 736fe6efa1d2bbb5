/* store/postpolicy.c - POST Object policy documents: a small strict JSON reader (the subset a policy uses, bounded) and the
 * condition checks (see postpolicy.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "store/postpolicy.h"

/* ---- JSON: just enough for a policy (objects, arrays, strings, numbers, literals), depth and count bounded ----------------------
 */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jval {
    int type;
    char *str; /* J_STR: decoded, NUL-terminated; J_NUM: the literal text */
    size_t len;
    struct jval *items; /* J_ARR, J_OBJ (values) */
    char **keys;        /* J_OBJ */
    size_t *key_lens;
    size_t count;
    const char *src; /* where the value starts in the text, and its length: conditions are quoted in messages as written */
    size_t src_len;
} jval_t;

typedef struct jparser {
    const char *p, *end;
    size_t values;
    const char *error;
} jparser_t;

#define J_MAX_DEPTH 8
#define J_MAX_VALUES 2000

static void jfree(jval_t *v)
{
    free(v->str);
    for (size_t i = 0; i != v->count; ++i) {
        jfree(&v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
}

static void jws(jparser_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        ++j->p;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i != 4; ++i) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* a string at j->p (after the opening quote has been checked); decoded into malloc'd *out */
static int jstring(jparser_t *j, char **out, size_t *out_len)
{
    const char *s = ++j->p;
    size_t cap = 0;
    /* the decoded text is never longer than the escaped one */
    while (s < j->end && *s != '"') {
        if (*s == '\\')
            ++s;
        ++s;
    }
    if (s >= j->end)
        return j->error = "unterminated string", -1;
    cap = (size_t)(s - j->p) + 1;
    char *o = malloc(cap);
    size_t n = 0;
    if (o == NULL)
        return j->error = "out of memory", -1;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) {
            free(o);
            return j->error = "control character in a string", -1;
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        c = (unsigned char)*j->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            o[n++] = (char)c;
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (j->end - j->p < 4 || hex4(j->p, &cp) != 0)
                goto bad;
            j->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) != 0 || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    goto bad;
                j->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto bad;
            }
            if (cp == 0)
                goto bad; /* no NUL in policy strings */
            /* "\uXXXX" is 6 bytes, its UTF-8 at most 3; a pair is 12 bytes for 4 */
            if (cp < 0x80) {
                o[n++] = (char)cp;
            } else if (cp < 0x800) {
                o[n++] = (char)(0xC0 | cp >> 6);
                o[n++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                o[n++] = (char)(0xE0 | cp >> 12);
                o[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                o[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                o[n++] = (char)(0xF0 | cp >> 18);
                o[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
                o[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                o[n++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            goto bad;
        }
    }
    ++j->p;
    o[n] = '\0';
    *out = o;
    *out_len = n;
    return 0;
bad:
    free(o);
    return j->error = "invalid escape in a string", -1;
}

static int jvalue(jparser_t *j, jval_t *v, int depth)
{
    memset(v, 0, sizeof(*v));
    jws(j);
    if (j->p >= j->end)
        return j->error = "unexpected end", -1;
    if (++j->values > J_MAX_VALUES)
        return j->error = "too many values", -1;
    v->src = j->p;
    char c = *j->p;
    if (c == '"') {
        v->type = J_STR;
        if (jstring(j, &v->str, &v->len) != 0)
            return -1;
    } else if (c == '{' || c == '[') {
        int obj = c == '{';
        char close = obj ? '}' : ']';
        size_t cap = 0;
        if (depth >= J_MAX_DEPTH)
            return j->error = "nested too deeply", -1;
        v->type = obj ? J_OBJ : J_ARR;
        ++j->p;
        jws(j);
        if (j->p < j->end && *j->p == close) {
            ++j->p;
        } else {
            for (;;) {
                if (v->count == cap) {
                    size_t nc = cap != 0 ? cap * 2 : 4;
                    jval_t *items = realloc(v->items, nc * sizeof(*items));
                    if (items == NULL)
                        return j->error = "out of memory", -1;
                    v->items = items;
                    if (obj) {
                        char **keys = realloc(v->keys, nc * sizeof(*keys));
                        if (keys != NULL)
                            v->keys = keys;
                        size_t *kl = keys != NULL ? realloc(v->key_lens, nc * sizeof(*kl)) : NULL;
                        if (kl == NULL)
                            return j->error = "out of memory", -1;
                        v->key_lens = kl;
                    }
                    cap = nc;
                }
                if (obj) {
                    jws(j);
                    if (j->p >= j->end || *j->p != '"')
                        return j->error = "expected a member name", -1;
                    if (jstring(j, &v->keys[v->count], &v->key_lens[v->count]) != 0)
                        return -1;
                    jws(j);
                    if (j->p >= j->end || *j->p != ':') {
                        v->items[v->count] = (jval_t){0};
                        ++v->count; /* so that the key is freed */
                        return j->error = "expected ':'", -1;
                    }
                    ++j->p;
                }
                int r = jvalue(j, &v->items[v->count], depth + 1);
                ++v->count;
                if (r != 0)
                    return -1;
                jws(j);
                if (j->p < j->end && *j->p == ',') {
                    ++j->p;
                    continue;
                }
                if (j->p < j->end && *j->p == close) {
                    ++j->p;
                    break;
                }
                return j->error = obj ? "expected ',' or '}'" : "expected ',' or ']'", -1;
            }
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        const char *s = j->p;
        if (*j->p == '-')
            ++j->p;
        if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9'))
            return j->error = "invalid number", -1;
        while (j->p < j->end &&
               ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' || *j->p == 'e' || *j->p == 'E' || *j->p == '+' || *j->p == '-'))
            ++j->p;
        v->type = J_NUM;
        v->len = (size_t)(j->p - s);
        if ((v->str = malloc(v->len + 1)) == NULL)
            return j->error = "out of memory", -1;
        memcpy(v->str, s, v->len);
        v->str[v->len] = '\0';
    } else {
        static const struct {
            const char *lit;
            int type;
        } lits[] = {{"true", J_BOOL}, {"false", J_BOOL}, {"null", J_NULL}};
        size_t i;
        for (i = 0; i != 3; ++i) {
            size_t n = strlen(lits[i].lit);
            if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i].lit, n) == 0) {
                j->p += n;
                v->type = lits[i].type;
                break;
            }
        }
        if (i == 3)
            return j->error = "unexpected character", -1;
    }
    v->src_len = (size_t)(j->p - v->src);
    return 0;
}

/* ---- the policy -------------------------------------------------------------------------------------------------------------- */

static int days_from_civil(int y, int m, int d, int64_t *out)
{
    /* Howard Hinnant's algorithm */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = era * 146097 + doe - 719468;
    return 0;
}

int store_post_parse_time(const char *s, size_t len, int64_t *sec)
{
    /* YYYY-MM-DDTHH:MM:SS[.fff...]Z */
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd";
    int v[6] = {0}, f = 0;
    if (len < 20)
        return -1;
    for (size_t i = 0; i != 19; ++i) {
        if (pattern[i] == 'd') {
            if (s[i] < '0' || s[i] > '9')
                return -1;
        } else if (s[i] != pattern[i]) {
            return -1;
        }
    }
    static const int at[6] = {0, 5, 8, 11, 14, 17}, width[6] = {4, 2, 2, 2, 2, 2};
    for (int k = 0; k != 6; ++k)
        for (int i = 0; i != width[k]; ++i)
            v[k] = v[k] * 10 + (s[at[k] + i] - '0');
    size_t i = 19;
    if (s[i] == '.') {
        ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9' && f < 9)
            ++i, ++f;
        if (f == 0)
            return -1;
    }
    if (i + 1 != len || s[i] != 'Z')
        return -1;
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    int64_t days;
    days_from_civil(v[0], v[1], v[2], &days);
    *sec = days * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
    return 0;
}

static char *lower_dup(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i != n; ++i)
        o[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    o[n] = '\0';
    return o;
}

static char *text_dup(const char *s, size_t n)
{
    /* a condition as written, for a message: at most 200 bytes, newlines as spaces */
    size_t m = n < 200 ? n : 200;
    char *o = malloc(m + 1);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i != m; ++i)
        o[i] = s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i];
    o[m] = '\0';
    return o;
}

/* a content-length-range bound: a non-negative integer, as a number or a string of digits */
static int parse_bound(const jval_t *v, uint64_t *out)
{
    if ((v->type != J_NUM && v->type != J_STR) || v->len == 0 || v->len > 19)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i != v->len; ++i) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v->str[i] - '0');
    }
    *out = n;
    return 0;
}

static store_post_cond_t *add_cond(store_post_policy_t *p, const jval_t *src)
{
    if (p->num_conds == STORE_POST_MAX_CONDITIONS)
        return NULL;
    store_post_cond_t *c = &p->conds[p->num_conds];
    memset(c, 0, sizeof(*c));
    if ((c->text = text_dup(src->src, src->src_len)) == NULL)
        return NULL;
    ++p->num_conds;
    return c;
}

int store_post_policy_parse(const char *json, size_t len, store_post_policy_t *p, char *err, size_t errlen)
{
    jparser_t j = {json, json + len, 0, NULL};
    jval_t root;
    const jval_t *exp = NULL, *conds = NULL;
    memset(p, 0, sizeof(*p));
    if (len > STORE_POST_MAX_POLICY) {
        snprintf(err, errlen, "Invalid Policy: the policy document exceeds %u bytes.", STORE_POST_MAX_POLICY);
        return -1;
    }
    int r = jvalue(&j, &root, 0);
    if (r == 0) {
        jws(&j);
        if (j.p != j.end)
            r = -1, j.error = "text after the document";
    }
    if (r != 0) {
        snprintf(err, errlen, "Invalid Policy: Invalid JSON (%s at byte %zu).", j.error, (size_t)(j.p - json));
        jfree(&root);
        return -1;
    }
    if (root.type != J_OBJ) {
        snprintf(err, errlen, "Invalid Policy: the policy must be a JSON object.");
        goto fail;
    }
    for (size_t i = 0; i != root.count; ++i) {
        if (strcmp(root.keys[i], "expiration") == 0)
            exp = &root.items[i];
        else if (strcmp(root.keys[i], "conditions") == 0)
            conds = &root.items[i];
        else {
            snprintf(err, errlen, "Invalid Policy: Unexpected field: %.100s", root.keys[i]);
            goto fail;
        }
    }
    if (exp == NULL) {
        snprintf(err, errlen, "Invalid Policy: Policy missing expiration.");
        goto fail;
    }
    if (exp->type != J_STR || store_post_parse_time(exp->str, exp->len, &p->expiration) != 0) {
        snprintf(err, errlen, "Invalid Policy: Invalid 'expiration' value: '%.64s'", exp->type == J_STR ? exp->str : "");
        goto fail;
    }
    if (conds == NULL) {
        snprintf(err, errlen, "Invalid Policy: Policy missing conditions.");
        goto fail;
    }
    if (conds->type != J_ARR) {
        snprintf(err, errlen, "Invalid Policy: 'conditions' must be a list.");
        goto fail;
    }
    if ((p->conds = calloc(STORE_POST_MAX_CONDITIONS, sizeof(*p->conds))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i != conds->count; ++i) {
        const jval_t *c = &conds->items[i];
        store_post_cond_t *pc;
        if (c->type == J_OBJ) {
            /* {"field": "value"}: eq */
            if (c->count == 0)
                goto invalid;
            for (size_t k = 0; k != c->count; ++k) {
                if (c->items[k].type != J_STR || c->key_lens[k] == 0 || memchr(c->keys[k], '\0', c->key_lens[k]) != NULL ||
                    memchr(c->items[k].str, '\0', c->items[k].len) != NULL)
                    goto invalid;
                if ((pc = add_cond(p, c)) == NULL)
                    goto too_many;
                pc->op = STORE_POST_EQ;
                const char *name = c->keys[k];
                size_t nlen = c->key_lens[k];
                if (name[0] == '$')
                    ++name, --nlen;
                if ((pc->field = lower_dup(name, nlen)) == NULL || (pc->value = malloc(c->items[k].len + 1)) == NULL)
                    goto nomem;
                memcpy(pc->value, c->items[k].str, c->items[k].len + 1);
                pc->value_len = c->items[k].len;
            }
        } else if (c->type == J_ARR && c->count == 3 && c->items[0].type == J_STR) {
            const char *op = c->items[0].str;
            if (strcasecmp(op, "content-length-range") == 0) {
                if ((pc = add_cond(p, c)) == NULL)
                    goto too_many;
                pc->op = STORE_POST_RANGE;
                if ((pc->field = lower_dup("content-length-range", 20)) == NULL)
                    goto nomem;
                if (parse_bound(&c->items[1], &pc->min) != 0 || parse_bound(&c->items[2], &pc->max) != 0 || pc->min > pc->max)
                    goto invalid;
                continue;
            }
            int is_eq = strcasecmp(op, "eq") == 0, is_sw = strcasecmp(op, "starts-with") == 0;
            if (!is_eq && !is_sw)
                goto invalid;
            const jval_t *f = &c->items[1], *v = &c->items[2];
            if (f->type != J_STR || f->len < 2 || f->str[0] != '$' || memchr(f->str, '\0', f->len) != NULL || v->type != J_STR ||
                memchr(v->str, '\0', v->len) != NULL)
                goto invalid;
            if ((pc = add_cond(p, c)) == NULL)
                goto too_many;
            pc->op = is_eq ? STORE_POST_EQ : STORE_POST_STARTS_WITH;
            if ((pc->field = lower_dup(f->str + 1, f->len - 1)) == NULL || (pc->value = malloc(v->len + 1)) == NULL)
                goto nomem;
            memcpy(pc->value, v->str, v->len + 1);
            pc->value_len = v->len;
        } else {
            goto invalid;
        }
        continue;
    invalid : {
        char *t = text_dup(c->src, c->src_len);
        snprintf(err, errlen, "Invalid Policy: Invalid Condition: %s", t != NULL ? t : "");
        free(t);
    }
        goto fail;
    too_many:
        snprintf(err, errlen, "Invalid Policy: more than %d conditions.", STORE_POST_MAX_CONDITIONS);
        goto fail;
    nomem:
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    jfree(&root);
    return 0;
fail:
    jfree(&root);
    store_post_policy_free(p);
    return -1;
}

void store_post_policy_free(store_post_policy_t *p)
{
    if (p->conds != NULL)
        for (size_t i = 0; i != p->num_conds; ++i) {
            free(p->conds[i].field);
            free(p->conds[i].value);
            free(p->conds[i].text);
        }
    free(p->conds);
    memset(p, 0, sizeof(*p));
}

int store_post_field_exempt(const char *name)
{
    return strcmp(name, "file") == 0 || strcmp(name, "policy") == 0 || strcmp(name, "x-amz-signature") == 0 ||
           strcmp(name, "signature") == 0 || strcmp(name, "awsaccesskeyid") == 0 || strncmp(name, "x-ignore-", 9) == 0;
}

static int cond_holds(const store_post_cond_t *c, const char *v, size_t vlen)
{
    if (c->op == STORE_POST_EQ)
        return vlen == c->value_len && memcmp(v, c->value, vlen) == 0;
    return vlen >= c->value_len && memcmp(v, c->value, c->value_len) == 0;
}

int store_post_policy_check(const store_post_policy_t *p, const store_post_field_t *fields, size_t n, const char *bucket,
                            const char *alt_key, char *msg, size_t msglen)
{
    for (size_t i = 0; i != p->num_conds; ++i) {
        const store_post_cond_t *c = &p->conds[i];
        if (c->op == STORE_POST_RANGE)
            continue;
        const char *v = "";
        size_t vlen = 0;
        int ok;
        if (strcmp(c->field, "bucket") == 0) {
            v = bucket;
            vlen = strlen(bucket);
        } else {
            for (size_t k = 0; k != n; ++k)
                if (strcmp(fields[k].name, c->field) == 0) {
                    v = fields[k].value;
                    vlen = fields[k].value_len;
                    break;
                }
        }
        ok = cond_holds(c, v, vlen);
        if (!ok && alt_key != NULL && strcmp(c->field, "key") == 0)
            ok = cond_holds(c, alt_key, strlen(alt_key));
        if (!ok) {
            snprintf(msg, msglen, "Invalid according to Policy: Policy Condition failed: %s", c->text);
            return -1;
        }
    }
    for (size_t k = 0; k != n; ++k) {
        if (store_post_field_exempt(fields[k].name))
            continue;
        int covered = 0;
        for (size_t i = 0; i != p->num_conds && !covered; ++i)
            covered = p->conds[i].op != STORE_POST_RANGE && strcmp(p->conds[i].field, fields[k].name) == 0;
        if (!covered) {
            snprintf(msg, msglen, "Invalid according to Policy: Extra input fields: %.200s", fields[k].name);
            return -1;
        }
    }
    return 0;
}
