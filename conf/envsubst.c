/* conf/envsubst.c - `${VAR}` and `${VAR:-default}` in the config's values (see conf_expand_env in conf/config.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf/config.h"

typedef struct buf {
    char *s;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap != 0 ? b->cap * 2 : 64;
        if ((b->s = realloc(b->s, b->cap)) == NULL)
            abort();
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static int fail(buf_t *b, char *why, size_t whylen, const char *ref, size_t reflen, const char *fmt)
{
    char quoted[80];
    if (reflen > 60)
        snprintf(quoted, sizeof(quoted), "%.60s...", ref);
    else
        snprintf(quoted, sizeof(quoted), "%.*s", (int)reflen, ref);
    snprintf(why, whylen, fmt, quoted);
    free(b->s);
    return -1;
}

int conf_expand_env(const char *s, char **out, char *why, size_t whylen)
{
    buf_t b = {NULL, 0, 0};
    const char *p = s, *lit = s;
    *out = NULL;
    if (strchr(s, '$') == NULL)
        return 0;
    while ((p = strchr(p, '$')) != NULL) {
        if (p[1] == '$' && p[2] == '{') { /* $${ is a literal ${ */
            put(&b, lit, p - lit);
            put(&b, "${", 2);
            p += 3;
            lit = p;
            continue;
        }
        if (p[1] != '{') { /* a lone $ is itself */
            ++p;
            continue;
        }
        const char *name = p + 2, *n = name, *end, *def = NULL;
        if (strchr(name, '}') == NULL)
            return fail(&b, why, whylen, p, strlen(p), "\"%s\": no closing } (write $${ for a literal ${)");
        if (!(isalpha((unsigned char)*n) || *n == '_'))
            return fail(&b, why, whylen, p, strcspn(p, "}") + (strchr(p, '}') != NULL),
                        "\"%s\": a variable name is letters, digits and _, not starting with a digit (write $${ for a "
                        "literal ${)");
        while (isalnum((unsigned char)*n) || *n == '_')
            ++n;
        if (n[0] == ':' && n[1] == '-')
            def = n + 2;
        else if (n[0] != '}')
            return fail(&b, why, whylen, p, strcspn(p, "}") + (strchr(p, '}') != NULL),
                        "\"%s\": write ${NAME} or ${NAME:-default} (and $${ for a literal ${)");
        if ((end = strchr(def != NULL ? def : n, '}')) == NULL)
            return fail(&b, why, whylen, p, strlen(p), "\"%s\": no closing } (write $${ for a literal ${)");
        if (def != NULL && memmem(def, end - def, "${", 2) != NULL)
            return fail(&b, why, whylen, p, end + 1 - p, "\"%s\": a default cannot hold another ${...}");
        char var[256];
        if ((size_t)(n - name) >= sizeof(var))
            return fail(&b, why, whylen, p, end + 1 - p, "\"%s\": the variable name is too long");
        memcpy(var, name, n - name);
        var[n - name] = '\0';
        const char *val = getenv(var);
        put(&b, lit, p - lit);
        if (val != NULL && (def == NULL || val[0] != '\0')) {
            put(&b, val, strlen(val));
        } else if (def != NULL) {
            put(&b, def, end - def);
        } else {
            snprintf(why, whylen, "environment variable %s is not set", var);
            free(b.s);
            return -1;
        }
        p = lit = end + 1;
    }
    if (b.s == NULL) /* only lone $ signs */
        return 0;
    put(&b, lit, strlen(lit));
    *out = b.s;
    return 0;
}
