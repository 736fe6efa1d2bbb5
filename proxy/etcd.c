/* proxy/etcd.c - etcd's v3 JSON gateway over plain HTTP/1.1: calls and watch streams (see etcd.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "proxy/etcd.h"
#include "proxy/originhead.h"
#include "base/str.h"

#define ETCD_MAX_BODY (16u << 20) /* a range or txn answer; a watch message is bounded the same way */

struct etcd {
    size_t n;
    char **host, **port, **label;
    int timeout_ms;
    _Atomic size_t current; /* the member that answered last */
};

struct etcd_stream {
    int fd;
    origin_chunked_t chunked;
    int chunked_done;
    hook_buf_t msg; /* decoded bytes not yet split into messages */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

etcd_t *etcd_new(char *const *endpoints, size_t n, int timeout_ms, char *err, size_t errlen)
{
    etcd_t *e = calloc(1, sizeof(*e));
    if (e == NULL || n == 0) {
        free(e);
        snprintf(err, errlen, "no etcd endpoint");
        return NULL;
    }
    e->host = calloc(n, sizeof(char *));
    e->port = calloc(n, sizeof(char *));
    e->label = calloc(n, sizeof(char *));
    e->timeout_ms = timeout_ms;
    if (e->host == NULL || e->port == NULL || e->label == NULL)
        goto fail_mem;
    for (size_t i = 0; i < n; ++i) {
        const char *s = endpoints[i], *colon;
        if (strncmp(s, "http://", 7) == 0)
            s += 7;
        size_t len = strcspn(s, "/");
        if ((colon = memrchr(s, ':', len)) == NULL || colon == s || colon + 1 == s + len) {
            snprintf(err, errlen, "etcd endpoint %s: give http://HOST:PORT", endpoints[i]);
            e->n = i;
            etcd_free(e);
            return NULL;
        }
        e->n = i + 1;
        e->host[i] = strndup(s, (size_t)(colon - s));
        e->port[i] = strndup(colon + 1, (size_t)(s + len - colon - 1));
        e->label[i] = strndup(s, len);
        if (e->host[i] == NULL || e->port[i] == NULL || e->label[i] == NULL)
            goto fail_mem;
        /* [::1]:2379 */
        if (e->host[i][0] == '[' && e->host[i][strlen(e->host[i]) - 1] == ']') {
            memmove(e->host[i], e->host[i] + 1, strlen(e->host[i]));
            e->host[i][strlen(e->host[i]) - 1] = '\0';
        }
    }
    return e;
fail_mem:
    snprintf(err, errlen, "no memory");
    etcd_free(e);
    return NULL;
}

void etcd_free(etcd_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; ++i) {
        free(e->host[i]);
        free(e->port[i]);
        free(e->label[i]);
    }
    free(e->host);
    free(e->port);
    free(e->label);
    free(e);
}

const char *etcd_current(etcd_t *e)
{
    return e->label[atomic_load(&e->current) % e->n];
}

/* a connected socket to member i before the deadline, or -1 */
static int connect_member(etcd_t *e, size_t i, long long deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int r, fd = -1;
    if ((r = getaddrinfo(e->host[i], e->port[i], &hints, &res)) != 0) {
        snprintf(err, errlen, "%s: %s", e->label[i], gai_strerror(r));
        return -1;
    }
    snprintf(err, errlen, "%s: no address", e->label[i]);
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)) < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            long long left = deadline - now_ms();
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (left > 0 && poll(&p, 1, (int)left) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                break;
            }
            snprintf(err, errlen, "%s: connect: %s", e->label[i], soerr != 0 ? strerror(soerr) : "timed out");
        } else {
            snprintf(err, errlen, "%s: connect: %s", e->label[i], strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const char *p, size_t len, long long deadline)
{
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return -1;
        struct pollfd pf = {fd, POLLOUT, 0};
        long long left = deadline - now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) != 1)
            return -1;
    }
    return 0;
}

/* reads what is there within the deadline: >0 bytes, 0 end of stream, -1 error, -2 timed out */
static ssize_t recv_some(int fd, char *buf, size_t cap, long long deadline)
{
    for (;;) {
        ssize_t r = recv(fd, buf, cap, 0);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        if (left <= 0)
            return -2;
        int p = poll(&pf, 1, (int)left);
        if (p == 0)
            return -2;
        if (p < 0 && errno != EINTR)
            return -1;
    }
}

/*
 * Sends the request to member i and reads the response head; the body bytes that came with it are left in *rest. 0 with the
 * status, framing and content length; -1 with the reason.
 */
static int request(etcd_t *e, size_t i, int fd, const char *path, const char *body, size_t len, long long deadline, int *status,
                   origin_framing_t *framing, int64_t *clen, hook_buf_t *rest, char *err, size_t errlen)
{
    hook_buf_t req = {NULL, 0, 0};
    hook_buf_appendf(&req,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     path, e->label[i], len);
    hook_buf_append(&req, body, len);
    int r = send_all(fd, req.base, req.len, deadline);
    hook_buf_free(&req);
    if (r != 0) {
        snprintf(err, errlen, "%s: send: %s", e->label[i], strerror(errno));
        return -1;
    }
    origin_head_t *head = malloc(sizeof(*head));
    hook_buf_t in = {NULL, 0, 0};
    char buf[16384];
    if (head == NULL) {
        snprintf(err, errlen, "no memory");
        return -1;
    }
    for (;;) {
        ssize_t n = recv_some(fd, buf, sizeof(buf), deadline);
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s before the response head", e->label[i],
                     n == 0 ? "connection closed" : n == -2 ? "timed out" : strerror(errno));
            break;
        }
        hook_buf_append(&in, buf, (size_t)n);
        int p = origin_parse_head(in.base, in.len, 0, head);
        if (p == ORIGIN_HEAD_ERROR) {
            snprintf(err, errlen, "%s: bad response head: %s", e->label[i], head->error);
            break;
        }
        if (p == ORIGIN_HEAD_INCOMPLETE)
            continue;
        if (head->status < 200) { /* 100 Continue: drop it */
            memmove(in.base, in.base + head->head_len, in.len - head->head_len);
            in.len -= head->head_len;
            continue;
        }
        *status = head->status;
        *framing = head->framing;
        *clen = head->content_length;
        hook_buf_append(rest, in.base + head->head_len, in.len - head->head_len);
        free(head);
        hook_buf_free(&in);
        return 0;
    }
    free(head);
    hook_buf_free(&in);
    return -1;
}

/* a member's answer body, read to its end */
static int read_body(int fd, origin_framing_t framing, int64_t clen, hook_buf_t *body, long long deadline, char *err,
                     size_t errlen)
{
    origin_chunked_t ch;
    hook_buf_t raw = *body;
    char buf[16384];
    *body = (hook_buf_t){NULL, 0, 0};
    origin_chunked_init(&ch);
    int first = 1;
    for (;;) {
        size_t n;
        if (first) {
            first = 0;
            if (raw.len == 0)
                continue;
            n = raw.len;
        } else {
            ssize_t r;
            if (framing == ORIGIN_FRAMING_LENGTH && (int64_t)body->len >= clen)
                break;
            if ((r = recv_some(fd, buf, sizeof(buf), deadline)) <= 0) {
                if (r == 0 && framing == ORIGIN_FRAMING_EOF)
                    break;
                snprintf(err, errlen, "%s reading the answer", r == 0 ? "connection closed" : r == -2 ? "timed out" : "error");
                hook_buf_free(&raw);
                return -1;
            }
            hook_buf_free(&raw);
            hook_buf_append(&raw, buf, (size_t)r);
            n = (size_t)r;
        }
        if (framing == ORIGIN_FRAMING_CHUNKED) {
            ssize_t d = origin_chunked_decode(&ch, raw.base, &n);
            if (d == ORIGIN_CHUNKED_ERROR) {
                snprintf(err, errlen, "bad chunked answer: %s", ch.error);
                hook_buf_free(&raw);
                return -1;
            }
            hook_buf_append(body, raw.base, n);
            if (d != ORIGIN_CHUNKED_INCOMPLETE)
                break;
        } else {
            hook_buf_append(body, raw.base, n);
        }
        if (body->len > ETCD_MAX_BODY) {
            snprintf(err, errlen, "answer over %u bytes", ETCD_MAX_BODY);
            hook_buf_free(&raw);
            return -1;
        }
        if (framing == ORIGIN_FRAMING_NONE)
            break;
    }
    hook_buf_free(&raw);
    return 0;
}

static int parse_answer(hook_buf_t *body, int status, hook_json_t **out, char *err, size_t errlen)
{
    char perr[128];
    hook_json_t *doc = hook_json_parse_max(body->base != NULL ? body->base : "", body->len, 1000000, perr, sizeof(perr));
    if (status != 200) {
        const char *msg = NULL;
        size_t ml = 0;
        if (doc != NULL)
            msg = hook_json_string(hook_json_get(doc, "error"), &ml);
        if (msg == NULL)
            msg = hook_json_string(hook_json_get(doc, "message"), &ml);
        snprintf(err, errlen, "etcd answered %d: %.*s", status, msg != NULL ? (int)(ml > 200 ? 200 : ml) : 0, msg != NULL ? msg : "");
        hook_json_free(doc);
        return -1;
    }
    if (doc == NULL || doc->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "etcd's answer is not a JSON object: %s", doc == NULL ? perr : "");
        hook_json_free(doc);
        return -1;
    }
    *out = doc;
    return 0;
}

/* a request sent to a member and its answer's head */
typedef struct {
    size_t member;
    long long deadline;
    int status;
    origin_framing_t framing;
    int64_t clen;
    hook_buf_t rest; /* what came after the head */
} asked_t;

/* sends the request to the next member that takes it, from `start` (the one that answered last) on, the k-th try first;
 * returns its connection (the answer's head in *a, *k advanced past it), or -1 when every member was tried (why says the
 * last failure) */
static int ask_next(etcd_t *e, size_t start, size_t *k, const char *path, const char *body, size_t len, asked_t *a, char *why,
                    size_t whylen)
{
    while (*k < e->n) {
        size_t i = (start + (*k)++) % e->n;
        memset(a, 0, sizeof(*a));
        a->member = i;
        a->deadline = now_ms() + e->timeout_ms;
        int fd = connect_member(e, i, a->deadline, why, whylen);
        if (fd < 0)
            continue;
        if (request(e, i, fd, path, body, len, a->deadline, &a->status, &a->framing, &a->clen, &a->rest, why, whylen) == 0)
            return fd;
        hook_buf_free(&a->rest);
        close(fd);
    }
    return -1;
}

int etcd_call(etcd_t *e, const char *path, const char *body, size_t len, hook_json_t **out, char *err, size_t errlen)
{
    size_t start = atomic_load(&e->current), k = 0;
    char why[256] = "";
    asked_t a;
    int fd;
    *out = NULL;
    while ((fd = ask_next(e, start, &k, path, body, len, &a, why, sizeof(why))) >= 0) {
        int r = read_body(fd, a.framing, a.clen, &a.rest, a.deadline, why, sizeof(why));
        close(fd);
        if (r != 0) { /* the answer broke off: another member may do */
            hook_buf_free(&a.rest);
            continue;
        }
        r = parse_answer(&a.rest, a.status, out, why, sizeof(why));
        hook_buf_free(&a.rest);
        if (r != 0 && a.status >= 500 && k < e->n)
            continue; /* this member cannot serve (no leader, stopping): another may */
        if (r == 0)
            atomic_store(&e->current, a.member);
        if (r != 0)
            snprintf(err, errlen, "%s: %s", path, why);
        return r;
    }
    snprintf(err, errlen, "no etcd member answered (last: %s)", why);
    return -1;
}

etcd_stream_t *etcd_watch(etcd_t *e, const char *body, size_t len, char *err, size_t errlen)
{
    size_t start = atomic_load(&e->current), k = 0;
    char why[256] = "";
    asked_t a;
    int fd;
    while ((fd = ask_next(e, start, &k, "/v3/watch", body, len, &a, why, sizeof(why))) >= 0) {
        if (a.status != 200 || a.framing != ORIGIN_FRAMING_CHUNKED) {
            snprintf(why, sizeof(why), "%s: watch answered %d%s", e->label[a.member], a.status,
                     a.framing != ORIGIN_FRAMING_CHUNKED ? " without a chunked stream" : "");
            hook_buf_free(&a.rest);
            close(fd);
            continue;
        }
        etcd_stream_t *s = calloc(1, sizeof(*s));
        if (s == NULL) {
            hook_buf_free(&a.rest);
            close(fd);
            break;
        }
        s->fd = fd;
        origin_chunked_init(&s->chunked);
        if (a.rest.len > 0) {
            size_t n = a.rest.len;
            ssize_t d = origin_chunked_decode(&s->chunked, a.rest.base, &n);
            if (d == ORIGIN_CHUNKED_ERROR) {
                snprintf(why, sizeof(why), "%s: bad chunked stream: %s", e->label[a.member], s->chunked.error);
                hook_buf_free(&a.rest);
                etcd_stream_close(s);
                continue;
            }
            hook_buf_append(&s->msg, a.rest.base, n);
            s->chunked_done = d != ORIGIN_CHUNKED_INCOMPLETE;
        }
        hook_buf_free(&a.rest);
        atomic_store(&e->current, a.member);
        return s;
    }
    snprintf(err, errlen, "no etcd member accepted the watch (last: %s)", why);
    return NULL;
}

int etcd_stream_next(etcd_stream_t *s, int timeout_ms, hook_json_t **out, char *err, size_t errlen)
{
    long long deadline = now_ms() + timeout_ms;
    char buf[16384];
    *out = NULL;
    for (;;) {
        char *nl = s->msg.len > 0 ? memchr(s->msg.base, '\n', s->msg.len) : NULL;
        if (nl != NULL) {
            size_t mlen = (size_t)(nl - s->msg.base);
            char perr[128];
            hook_json_t *doc = hook_json_parse_max(s->msg.base, mlen, 1000000, perr, sizeof(perr));
            memmove(s->msg.base, nl + 1, s->msg.len - mlen - 1);
            s->msg.len -= mlen + 1;
            if (doc == NULL || doc->type != HOOK_JSON_OBJECT) {
                snprintf(err, errlen, "a watch message is not a JSON object: %s", doc == NULL ? perr : "");
                hook_json_free(doc);
                return -1;
            }
            *out = doc;
            return 1;
        }
        if (s->msg.len > ETCD_MAX_BODY) {
            snprintf(err, errlen, "a watch message over %u bytes", ETCD_MAX_BODY);
            return -1;
        }
        if (s->chunked_done) {
            snprintf(err, errlen, "the watch stream ended");
            return -1;
        }
        ssize_t r = recv_some(s->fd, buf, sizeof(buf), deadline);
        if (r == -2)
            return 0;
        if (r <= 0) {
            snprintf(err, errlen, "the watch stream %s", r == 0 ? "was closed" : "failed");
            return -1;
        }
        size_t n = (size_t)r;
        ssize_t d = origin_chunked_decode(&s->chunked, buf, &n);
        if (d == ORIGIN_CHUNKED_ERROR) {
            snprintf(err, errlen, "bad chunked watch stream: %s", s->chunked.error);
            return -1;
        }
        hook_buf_append(&s->msg, buf, n);
        s->chunked_done = d != ORIGIN_CHUNKED_INCOMPLETE;
    }
}

void etcd_stream_close(etcd_stream_t *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    hook_buf_free(&s->msg);
    free(s);
}
