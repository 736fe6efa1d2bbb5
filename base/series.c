/* base/series.c - named counter blocks shared by the generations that use the same name (a list under a mutex: a few dozen
 * names, looked up when a generation is built). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/series.h"

typedef struct series {
    struct series *next;
    char *key; /* kind '\0' name */
    size_t key_len, n;
    long refs;
    _Atomic uint64_t counters[];
} series_t;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static series_t *head;

_Atomic uint64_t *edge_series_get(const char *kind, const char *name, size_t n)
{
    size_t klen = strlen(kind), nlen = strlen(name), len = klen + 1 + nlen;
    series_t *s;
    pthread_mutex_lock(&mutex);
    for (s = head; s != NULL; s = s->next)
        if (s->key_len == len && s->n == n && memcmp(s->key, kind, klen + 1) == 0 && memcmp(s->key + klen + 1, name, nlen) == 0)
            break;
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s) + n * sizeof(s->counters[0]))) == NULL || (s->key = malloc(len + 1)) == NULL)
            abort();
        memcpy(s->key, kind, klen + 1);
        memcpy(s->key + klen + 1, name, nlen + 1);
        s->key_len = len;
        s->n = n;
        for (size_t i = 0; i != n; ++i)
            atomic_init(&s->counters[i], 0);
        s->next = head;
        head = s;
    }
    ++s->refs;
    pthread_mutex_unlock(&mutex);
    return s->counters;
}

void edge_series_release(_Atomic uint64_t *counters)
{
    series_t *s, **p;
    if (counters == NULL)
        return;
    s = (series_t *)((char *)counters - offsetof(series_t, counters));
    pthread_mutex_lock(&mutex);
    if (--s->refs == 0) {
        for (p = &head; *p != s; p = &(*p)->next)
            ;
        *p = s->next;
    } else {
        s = NULL;
    }
    pthread_mutex_unlock(&mutex);
    if (s != NULL) {
        free(s->key);
        free(s);
    }
}

size_t edge_series_count(void)
{
    size_t n = 0;
    pthread_mutex_lock(&mutex);
    for (series_t *s = head; s != NULL; s = s->next)
        ++n;
    pthread_mutex_unlock(&mutex);
    return n;
}
