/* tests/unit/proxy/test_origin.c - the origin client: its pure framing functions (proxy/originhead.c) table by table, and the
 * client against a scripted origin on a real socket: response framing (Content-Length, chunked edge cases, read-until-close),
 * informational responses, header limits and hop-by-hop removal, truncation errors, which connections are reused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <cmocka.h>
#include "proxy/origin.h"
#include "proxy/originhead.h"
#include "proxy/server.h"

static h2o_globalconf_t gconf;
static server_worker_t worker;

/* ---- the scripted origin: one connection, the response written in pieces --------------------------------------------------- */

typedef struct script {
    const char *parts[8];
    int close_after; /* close the connection after the parts */
    int listen_fd;
    int reset_after; /* reset the connection (RST) after the parts */
    char request[8192];
} script_t;

static void *serve(void *arg)
{
    script_t *sc = arg;
    int fd = accept(sc->listen_fd, NULL, NULL);
    ssize_t n = read(fd, sc->request, sizeof(sc->request) - 1);
    sc->request[n > 0 ? n : 0] = '\0';
    for (int i = 0; i != 8 && sc->parts[i] != NULL; ++i) {
        if (write(fd, sc->parts[i], strlen(sc->parts[i])) < 0)
            break;
        usleep(20000); /* separate reads on the client side */
    }
    if (sc->reset_after) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else if (sc->close_after) {
        shutdown(fd, SHUT_WR);
        usleep(20000);
    } else {
        usleep(300000);
    }
    close(fd);
    return NULL;
}

typedef struct result {
    int done, status, head_status, head_calls, had_secret, had_conn;
    int64_t content_length;
    char err[256];
    char body[1 << 16];
    size_t body_len;
    h2o_header_t headers[512];
    size_t num_headers;
    char hdrbuf[1 << 16];
} result_t;

static int has_header(result_t *r, const char *name)
{
    for (size_t i = 0; i != r->num_headers; ++i)
        if (r->headers[i].name->len == strlen(name) && memcmp(r->headers[i].name->base, name, strlen(name)) == 0)
            return 1;
    return 0;
}

static void on_head(origin_req_t *req, int status, h2o_iovec_t reason, h2o_header_t *headers, size_t num_headers, int64_t clen)
{
    result_t *r = req->data;
    r->head_status = status;
    r->head_calls++;
    r->content_length = clen;
    r->num_headers = num_headers < 512 ? num_headers : 512;
    if (r->num_headers != 0)
        memcpy(r->headers, headers, sizeof(h2o_header_t) * r->num_headers); /* valid until on_done */
    r->had_secret = has_header(r, "x-secret");
    r->had_conn = has_header(r, "connection") || has_header(r, "keep-alive");
}

static void on_body(origin_req_t *req, const char *data, size_t len)
{
    result_t *r = req->data;
    assert_true(r->body_len + len <= sizeof(r->body));
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
}

static void on_done(origin_req_t *req, int status, const char *err)
{
    result_t *r = req->data;
    /* headers must be read before they go: note the names we test for */
    r->done = 1;
    r->status = status;
    snprintf(r->err, sizeof(r->err), "%s", err != NULL ? err : "");
}

static const origin_req_callbacks_t cbs = {on_head, on_body, on_done};

/* runs the loop until the request is done: the origin's own timeouts (2 s here) end it, so the bound only catches a hang, and is
 * far above anything a loaded machine needs */
#define RUN_LOOP_UNTIL(cond)                                                                                                       \
    do {                                                                                                                           \
        time_t give_up_ = time(NULL) + 60;                                                                                         \
        while (!(cond) && time(NULL) < give_up_)                                                                                   \
            h2o_evloop_run(worker.ctx.loop, 10);                                                                                   \
    } while (0)

static void wait_done(result_t *res)
{
    RUN_LOOP_UNTIL(res->done);
    assert_true(res->done);
}

/* headers sent after Host by run_script */
static const h2o_header_t *extra_headers;
static size_t num_extra_headers;

static result_t *run_script(script_t *sc, const char *method, int *had_x_secret, int *had_connection)
{
    static result_t res;
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof(sin);
    pthread_t tid;
    char err[256];
    origin_t *o;

    memset(&res, 0, sizeof(res));
    sc->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sc->listen_fd, (void *)&sin, sizeof(sin)), 0);
    listen(sc->listen_fd, 4);
    getsockname(sc->listen_fd, (void *)&sin, &len);
    pthread_create(&tid, NULL, serve, sc);
    o = origin_new_dynamic("test", 0, "127.0.0.1", ntohs(sin.sin_port), "", 2000, 1000, 1, err, sizeof(err));
    assert_non_null(o);
    h2o_header_t hdrs[8] = {{(h2o_iovec_t *)&H2O_TOKEN_HOST->buf, NULL, h2o_iovec_init(H2O_STRLIT("test"))}};
    size_t num_hdrs = 1;
    for (size_t i = 0; i != num_extra_headers && num_hdrs != 8; ++i)
        hdrs[num_hdrs++] = extra_headers[i];
    origin_req_start(o, h2o_iovec_init(method, strlen(method)), h2o_iovec_init(H2O_STRLIT("/p")), hdrs, num_hdrs,
                     h2o_iovec_init(NULL, 0), 1, &cbs, &res);
    wait_done(&res);
    if (had_x_secret != NULL) {
        *had_x_secret = res.had_secret;
        *had_connection = res.had_conn;
    }
    pthread_join(tid, NULL);
    close(sc->listen_fd);
    origin_release(o);
    /* let pooled connections close */
    for (int i = 0; i != 5; ++i)
        h2o_evloop_run(worker.ctx.loop, 1);
    return &res;
}

static void test_content_length_in_pieces(void **state)
{
    script_t sc = {{"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 11\r\nX-A: 1\r\n\r\nhello", " world", NULL}, 0};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_string_equal(r->err, "");
    assert_int_equal(r->head_status, 200);
    assert_int_equal(r->content_length, 11);
    assert_int_equal(r->body_len, 11);
    assert_memory_equal(r->body, "hello world", 11);
    assert_non_null(strstr(sc.request, "GET /p HTTP/1.1\r\n"));
    assert_non_null(strstr(sc.request, "host: test\r\n"));
}

static void test_chunked_extensions_trailers_split(void **state)
{
    script_t sc = {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel", "lo\r\n6\r",
                    "\n world\r\n0\r\nTrailer-X: 1\r\n", "\r\n", NULL},
                   0};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_string_equal(r->err, "");
    assert_int_equal(r->content_length, -1);
    assert_int_equal(r->body_len, 11);
    assert_memory_equal(r->body, "hello world", 11);
}

static void test_chunked_cut_at_boundary_is_an_error(void **state)
{
    script_t sc = {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", NULL}, 1};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_int_equal(r->head_status, 200);
    assert_int_equal(r->body_len, 5);
    assert_non_null(strstr(r->err, "before the last chunk")); /* H2O.md D2: never a complete response */
}

static void test_chunked_bad_size_line(void **state)
{
    script_t sc = {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", NULL}, 0};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_non_null(strstr(r->err, "invalid chunked"));
}

static void test_content_length_cut_short(void **state)
{
    script_t sc = {{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", NULL}, 1};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_non_null(strstr(r->err, "before the end of the body"));
}

static void test_read_until_close(void **state)
{
    script_t sc = {{"HTTP/1.0 200 OK\r\n\r\nall of ", "this", NULL}, 1};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_string_equal(r->err, "");
    assert_int_equal(r->body_len, 11);
    assert_memory_equal(r->body, "all of this", 11);
}

static void test_read_until_close_cut_by_a_reset(void **state)
{
    /* RFC 9112 §8: a body delimited by the close is complete only if the connection ended cleanly */
    script_t sc = {{"HTTP/1.1 200 OK\r\n\r\nall of ", "this", NULL}, 0};
    sc.reset_after = 1;
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_int_equal(r->head_status, 200);
    assert_non_null(strstr(r->err, "failed before the end of the body"));
}

static void test_head_cut_by_eof(void **state)
{
    script_t sc = {{"HTTP/1.1 200 OK\r\nContent-Len", NULL}, 1};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
    assert_int_equal(r->head_calls, 0);
    assert_non_null(strstr(r->err, "in the middle of the response head"));
}

static void test_request_framing_is_ours(void **state)
{
    /* a caller's Content-Length or Transfer-Encoding is not sent: the client frames the request itself */
    static h2o_iovec_t cl = {H2O_STRLIT("Content-Length")}, te = {H2O_STRLIT("transfer-encoding")};
    h2o_header_t extra[] = {{&cl, NULL, h2o_iovec_init(H2O_STRLIT("99"))}, {&te, NULL, h2o_iovec_init(H2O_STRLIT("chunked"))}};
    script_t sc = {{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", NULL}, 0};
    extra_headers = extra;
    num_extra_headers = 2;
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    extra_headers = NULL;
    num_extra_headers = 0;
    assert_string_equal(r->err, "");
    assert_null(strcasestr(sc.request, "content-length"));
    assert_null(strcasestr(sc.request, "transfer-encoding"));
}

static void test_request_that_would_split_is_refused(void **state)
{
    /* nothing listens on the origin's port: a refused request never gets as far as connecting */
    static h2o_iovec_t name = {H2O_STRLIT("x-hook")}, bad_name = {H2O_STRLIT("x hook")};
    const struct {
        const char *method, *path;
        h2o_header_t h;
        const char *why;
    } cases[] = {
        {"GET", "/p", {&name, NULL, h2o_iovec_init(H2O_STRLIT("a\r\nX-Injected: 1"))}, "CR, LF or NUL in a header value"},
        {"GET", "/p", {&name, NULL, h2o_iovec_init("a\0b", 3)}, "CR, LF or NUL in a header value"},
        {"GET", "/p", {&bad_name, NULL, h2o_iovec_init(H2O_STRLIT("v"))}, "a header name that is not a token"},
        {"GET",
         "/p HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /q",
         {&name, NULL, h2o_iovec_init(H2O_STRLIT("v"))},
         "a space or a control byte in the request target"},
        {"GET", "", {&name, NULL, h2o_iovec_init(H2O_STRLIT("v"))}, "an empty request target"},
        {"GE T", "/p", {&name, NULL, h2o_iovec_init(H2O_STRLIT("v"))}, "a method that is not a token"},
    };
    char err[256];
    origin_t *o = origin_new_dynamic("refuse", 0, "127.0.0.1", 1, "", 2000, 1000, 1, err, sizeof(err));
    assert_non_null(o);
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        static result_t res;
        memset(&res, 0, sizeof(res));
        origin_req_start(o, h2o_iovec_init(cases[i].method, strlen(cases[i].method)),
                         h2o_iovec_init(cases[i].path, strlen(cases[i].path)), &cases[i].h, 1, h2o_iovec_init(NULL, 0), 1, &cbs,
                         &res);
        assert_false(res.done); /* never from inside origin_req_start */
        for (int k = 0; k != 100 && !res.done; ++k)
            h2o_evloop_run(worker.ctx.loop, 10);
        assert_true(res.done);
        assert_int_equal(res.status, 502);
        assert_int_equal(res.head_calls, 0);
        if (strstr(res.err, cases[i].why) == NULL || strstr(res.err, "refused to send") == NULL)
            fail_msg("case %zu: %s", i, res.err);
    }
    assert_int_equal(atomic_load(&o->stats[ORIGIN_STAT_CONNECTS]), 0);
    origin_release(o);
}

static void test_informational_then_final(void **state)
{
    script_t sc = {{"HTTP/1.1 100 Continue\r\n\r\n",
                    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", NULL},
                   0};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_string_equal(r->err, "");
    assert_int_equal(r->head_status, 201);
    assert_int_equal(r->head_calls, 1);
}

static void test_conflicting_framing_is_refused(void **state)
{
    script_t a = {{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", NULL}, 0};
    result_t *r = run_script(&a, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
    assert_non_null(strstr(r->err, "Content-Length values that differ"));
    script_t b = {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", NULL}, 0};
    r = run_script(&b, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
    script_t c = {{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", NULL}, 0};
    r = run_script(&c, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
    script_t d = {{"NOT HTTP AT ALL\r\n\r\n", NULL}, 0};
    r = run_script(&d, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
}

static void test_many_headers_and_hop_by_hop(void **state)
{
    /* 300 headers: more than h2o's own client takes (D5); Connection-named and hop-by-hop ones are removed */
    static char big[300 * 16 + 256];
    char *p = big;
    p += sprintf(p, "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n");
    for (int i = 0; i != 300; ++i)
        p += sprintf(p, "X-H%d: %d\r\n", i, i);
    sprintf(p, "Content-Length: 2\r\n\r\nok");
    script_t sc = {{big, NULL}, 0};
    int had_secret = -1, had_conn = -1;
    result_t *r = run_script(&sc, "GET", &had_secret, &had_conn);
    assert_string_equal(r->err, "");
    assert_int_equal(r->num_headers, 300);
    assert_int_equal(had_secret, 0);
    assert_int_equal(had_conn, 0);
}

static void test_head_too_large(void **state)
{
    static char big[80000];
    char *p = big + sprintf(big, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(p, 'a', 70000);
    strcpy(p + 70000, "\r\n\r\n");
    script_t sc = {{big, NULL}, 0};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
    assert_non_null(strstr(r->err, "larger than 64 KB"));
}

static void test_head_request_and_204(void **state)
{
    script_t a = {{"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", NULL}, 0};
    result_t *r = run_script(&a, "HEAD", NULL, NULL);
    assert_string_equal(r->err, "");
    assert_int_equal(r->content_length, 1000);
    assert_int_equal(r->body_len, 0);
    script_t b = {{"HTTP/1.1 204 No Content\r\n\r\n", NULL}, 0};
    r = run_script(&b, "GET", NULL, NULL);
    assert_string_equal(r->err, "");
    assert_int_equal(r->head_status, 204);
}

static void test_no_response_is_502(void **state)
{
    script_t sc = {{NULL}, 1};
    result_t *r = run_script(&sc, "GET", NULL, NULL);
    assert_int_equal(r->status, 502);
    assert_non_null(strstr(r->err, "without responding"));
}

/* ---- a consumer that pauses at the head and resumes later from the loop (the fill with an origin-response hook on an offload
 * thread): the request ends inside a callback that the resume runs ------------------------------------------------------------ */

typedef struct paused_run {
    result_t res; /* first: the shared callbacks take req->data as a result_t */
    origin_req_t *req;
    int cancel_in_body; /* the consumer cancels the request from on_body (the fill does when all readers left) */
    int body_calls;
} paused_run_t;

static void paused_on_head(origin_req_t *req, int status, h2o_iovec_t reason, h2o_header_t *headers, size_t num_headers,
                           int64_t clen)
{
    on_head(req, status, reason, headers, num_headers, clen);
    origin_req_pause(req); /* like fill.c while the hook call is pending */
}

static void paused_on_body(origin_req_t *req, const char *data, size_t len)
{
    paused_run_t *p = req->data;
    ++p->body_calls;
    on_body(req, data, len);
    if (p->cancel_in_body) {
        origin_req_cancel(req); /* inside the callback: no callback runs afterwards */
        p->req = NULL;
        p->res.done = 1;
    }
}

static void paused_on_done(origin_req_t *req, int status, const char *err)
{
    paused_run_t *p = req->data;
    on_done(req, status, err);
    p->req = NULL;
}

static const origin_req_callbacks_t paused_cbs = {paused_on_head, paused_on_body, paused_on_done};

static void run_paused_script(script_t *sc, paused_run_t *p)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof(sin);
    pthread_t tid;
    char err[256];
    origin_t *o;

    sc->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sc->listen_fd, (void *)&sin, sizeof(sin)), 0);
    listen(sc->listen_fd, 4);
    getsockname(sc->listen_fd, (void *)&sin, &len);
    pthread_create(&tid, NULL, serve, sc);
    o = origin_new_dynamic("test", 0, "127.0.0.1", ntohs(sin.sin_port), "", 2000, 1000, 1, err, sizeof(err));
    assert_non_null(o);
    h2o_header_t host = {(h2o_iovec_t *)&H2O_TOKEN_HOST->buf, NULL, h2o_iovec_init(H2O_STRLIT("test"))};
    p->req = origin_req_start(o, h2o_iovec_init(H2O_STRLIT("GET")), h2o_iovec_init(H2O_STRLIT("/p")), &host, 1,
                              h2o_iovec_init(NULL, 0), 1, &paused_cbs, p);
    /* the head and the whole body come in one write: the body is buffered while the consumer is paused */
    RUN_LOOP_UNTIL(p->res.head_calls != 0 || p->res.done);
    assert_int_equal(p->res.head_calls, 1);
    assert_false(p->res.done);
    /* paused: nothing is delivered, however long the loop runs */
    for (int i = 0; i != 3; ++i)
        h2o_evloop_run(worker.ctx.loop, 10);
    assert_int_equal(p->body_calls, 0);
    assert_non_null(p->req);
    /* the hook call completed: resume from the loop; the resume delivers the buffered body, and the request ends inside that
     * callback (complete, or cancelled by the consumer) while the resume is still running */
    origin_req_resume(p->req);
    wait_done(&p->res);
    assert_null(p->req);
    pthread_join(tid, NULL);
    close(sc->listen_fd);
    origin_release(o);
    for (int i = 0; i != 5; ++i)
        h2o_evloop_run(worker.ctx.loop, 1);
}

static void test_request_ends_inside_a_callback_of_a_resume(void **state)
{
    static paused_run_t p;

    /* the body completes in the resume: on_done frees the request below on_resume */
    script_t sc = {{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", NULL}, 0};
    memset(&p, 0, sizeof(p));
    run_paused_script(&sc, &p);
    assert_string_equal(p.res.err, "");
    assert_int_equal(p.res.status, 200);
    assert_int_equal(p.res.body_len, 5);
    assert_memory_equal(p.res.body, "hello", 5);

    /* the same with a chunked body */
    script_t sc2 = {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", NULL}, 0};
    memset(&p, 0, sizeof(p));
    run_paused_script(&sc2, &p);
    assert_string_equal(p.res.err, "");
    assert_int_equal(p.res.body_len, 5);

    /* read until close, the connection closed while paused: the resume delivers, and the EOF ends it */
    script_t sc3 = {{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", NULL}, 1};
    memset(&p, 0, sizeof(p));
    run_paused_script(&sc3, &p);
    assert_string_equal(p.res.err, "");
    assert_int_equal(p.res.body_len, 5);

    /* the consumer cancels from on_body during the resume */
    script_t sc4 = {{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", NULL}, 0};
    memset(&p, 0, sizeof(p));
    p.cancel_in_body = 1;
    run_paused_script(&sc4, &p);
    assert_int_equal(p.body_calls, 1);
    assert_int_equal(p.res.body_len, 5);
}

/* ---- which connections are reused: a scripted origin that serves several connections ----------------------------------------- */

typedef struct pool_script {
    const char *responses[4]; /* the answer to the i-th request, whatever connection it comes on */
    const char *stray[4];     /* bytes sent after response i once `go` is set (NULL: none) */
    int listen_fd;
    _Atomic int go, stray_sent, conns, requests, closed, stop;
    int conn_of[4]; /* the connection (0, 1...) each request came on */
} pool_script_t;

static void *pool_serve(void *arg)
{
    pool_script_t *sc = arg;
    struct pollfd fds[9];
    nfds_t nfds = 1;
    fds[0].fd = sc->listen_fd;
    fds[0].events = POLLIN;
    while (!sc->stop) {
        if (poll(fds, nfds, 10) <= 0)
            continue;
        for (nfds_t i = 1; i < nfds; ++i) {
            char req[4096];
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
                continue;
            ssize_t n = read(fds[i].fd, req, sizeof(req));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                ++sc->closed;
                continue;
            }
            int k = sc->requests;
            if (k >= 4 || sc->responses[k] == NULL)
                continue;
            sc->conn_of[k] = (int)i - 1;
            if (send(fds[i].fd, sc->responses[k], strlen(sc->responses[k]), MSG_NOSIGNAL) < 0)
                continue;
            ++sc->requests;
            if (sc->stray[k] != NULL) {
                int unsent = 1;
                while (!sc->go && !sc->stop)
                    usleep(1000);
                /* the client may have closed already (no reuse): no SIGPIPE */
                if (send(fds[i].fd, sc->stray[k], strlen(sc->stray[k]), MSG_NOSIGNAL) > 0) {
                    /* in the client's receive queue once acknowledged: nothing left in our send queue; or refused by a client
                     * that closed the connection (reset: what was queued is never acknowledged). No tight bound: a loaded
                     * machine may take long; 60 s only guards against a hang */
                    struct timespec start, now;
                    clock_gettime(CLOCK_MONOTONIC, &start);
                    while (unsent != 0 && !sc->stop && ioctl(fds[i].fd, SIOCOUTQ, &unsent) == 0 && unsent != 0) {
                        struct tcp_info ti;
                        socklen_t tilen = sizeof(ti);
                        if (getsockopt(fds[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &tilen) != 0 || ti.tcpi_state == TCP_CLOSE)
                            break;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        if (now.tv_sec - start.tv_sec >= 60)
                            break;
                        usleep(100);
                    }
                }
                sc->stray_sent = 1;
            }
        }
        if ((fds[0].revents & POLLIN) != 0 && nfds < 9) {
            fds[nfds].fd = accept(sc->listen_fd, NULL, NULL);
            fds[nfds].events = POLLIN;
            fds[nfds].revents = 0;
            ++nfds;
            ++sc->conns;
        }
    }
    for (nfds_t i = 1; i < nfds; ++i)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    return NULL;
}

static origin_t *pool_start(pool_script_t *sc, pthread_t *tid)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof(sin);
    char err[256];
    sc->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sc->listen_fd, (void *)&sin, sizeof(sin)), 0);
    listen(sc->listen_fd, 8);
    getsockname(sc->listen_fd, (void *)&sin, &len);
    pthread_create(tid, NULL, pool_serve, sc);
    origin_t *o = origin_new_dynamic("pool", 0, "127.0.0.1", ntohs(sin.sin_port), "", 2000, 5000, 1, err, sizeof(err));
    assert_non_null(o);
    return o;
}

/* sends one request; with run_loop 0 the caller runs the loop (the request has started: a pooled connection was chosen) */
static void pool_send(origin_t *o, const char *method, result_t *res)
{
    h2o_header_t host = {(h2o_iovec_t *)&H2O_TOKEN_HOST->buf, NULL, h2o_iovec_init(H2O_STRLIT("test"))};
    memset(res, 0, sizeof(*res));
    origin_req_start(o, h2o_iovec_init(method, strlen(method)), h2o_iovec_init(H2O_STRLIT("/p")), &host, 1, h2o_iovec_init(NULL, 0),
                     1, &cbs, res);
}

static void pool_stop(pool_script_t *sc, pthread_t tid, origin_t *o)
{
    sc->stop = 1;
    pthread_join(tid, NULL);
    close(sc->listen_fd);
    origin_release(o);
    /* the pooled connections see the EOF and close */
    for (int i = 0; i != 10; ++i)
        h2o_evloop_run(worker.ctx.loop, 5);
}

#define FIRST "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
#define SECOND "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"
#define POISON "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nCache-Control: max-age=3600\r\n\r\npoisoned"

/* runs FIRST-like response 0 for method0, then a GET; returns the number of connections the origin saw */
static int pool_two_requests(const char *method0, const char *resp0, const char *stray0, int wait_for_close, int *had_error)
{
    static pool_script_t sc;
    static result_t a, b;
    pthread_t tid;
    memset(&sc, 0, sizeof(sc));
    sc.responses[0] = resp0;
    sc.responses[1] = SECOND;
    sc.stray[0] = stray0;
    origin_t *o = pool_start(&sc, &tid);
    pool_send(o, method0, &a);
    wait_done(&a);
    assert_string_equal(a.err, "");
    if (stray0 != NULL) {
        sc.go = 1;
        /* wait for the event itself (the helper thread sent the bytes and the client's kernel has them), not for a time that a
         * loaded machine may exceed; 60 s only guards against a hang */
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        do {
            usleep(1000);
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (!sc.stray_sent && now.tv_sec - start.tv_sec < 60);
        assert_true(sc.stray_sent);
        /* either the loop sees the bytes first (the idle connection is dropped), or the request comes at once and the check on
         * reuse must see them */
        RUN_LOOP_UNTIL(!wait_for_close || sc.closed != 0);
        if (wait_for_close)
            assert_int_equal(sc.closed, 1);
    }
    pool_send(o, "GET", &b);
    wait_done(&b);
    *had_error = b.err[0] != '\0';
    assert_string_equal(b.err, "");
    assert_int_equal(b.body_len, 6);
    assert_memory_equal(b.body, "second", 6); /* never the stray "poisoned" */
    int conns = sc.conns;
    if (conns == 2)
        assert_int_equal(sc.conn_of[1], 1);
    pool_stop(&sc, tid, o);
    return conns;
}

static void test_pool_reuses_a_clean_connection(void **state)
{
    int err;
    assert_int_equal(pool_two_requests("GET", FIRST, NULL, 0, &err), 1);
    assert_int_equal(pool_two_requests("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NULL, 0, &err), 1);
    assert_int_equal(
        pool_two_requests("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n", NULL, 0, &err), 1);
}

static void test_pool_bytes_after_a_response_close_it(void **state)
{
    int err;
    /* in the same write as the response: left in the input buffer at its end */
    assert_int_equal(pool_two_requests("GET", FIRST POISON, NULL, 0, &err), 2);
    assert_int_equal(pool_two_requests("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n" POISON,
                                       NULL, 0, &err),
                     2);
    /* after it, while the connection is idle: seen by the loop (on_idle_read), or by the check when it is taken again */
    assert_int_equal(pool_two_requests("GET", FIRST, POISON, 1, &err), 2);
    assert_int_equal(pool_two_requests("GET", FIRST, POISON, 0, &err), 2);
    assert_int_equal(pool_two_requests("GET", FIRST, "\r\n", 0, &err), 2);
}

static void test_pool_no_reuse_after_an_announced_body_without_framing(void **state)
{
    int err;
    /* HEAD, 204 and 304 end at their head: a body they announce, sent or not, must not be read as the next response */
    assert_int_equal(pool_two_requests("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n", NULL, 0, &err), 2);
    assert_int_equal(pool_two_requests("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned", NULL, 0, &err), 2);
    assert_int_equal(pool_two_requests("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 75\r\n\r\n", POISON, 0, &err), 2);
    assert_int_equal(pool_two_requests("GET", "HTTP/1.1 204 No Content\r\nContent-Length: 75\r\n\r\n" POISON, NULL, 0, &err), 2);
    assert_int_equal(pool_two_requests("GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", POISON, 0, &err),
                     2);
}

/* ---- the pure head parser (proxy/originhead.c) ----------------------------------------------------------------------------- */

#define NOT_CHECKED -99

typedef struct head_case {
    const char *in;
    int flags, result, status;
    int framing; /* origin_framing_t, or NOT_CHECKED */
    int64_t clen;
    int keepalive;
    const char *error; /* a substring of the reason, for ORIGIN_HEAD_ERROR */
} head_case_t;

#define OK_ ORIGIN_HEAD_COMPLETE
#define INC ORIGIN_HEAD_INCOMPLETE
#define ERR ORIGIN_HEAD_ERROR
#define H ORIGIN_HEAD_REQ_HEAD
#define F_NONE ORIGIN_FRAMING_NONE
#define F_LEN ORIGIN_FRAMING_LENGTH
#define F_CHK ORIGIN_FRAMING_CHUNKED
#define F_EOF ORIGIN_FRAMING_EOF

static const head_case_t head_cases[] = {
    /* accepted: RFC 9112 §6.3 framing decisions */
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, OK_, 200, F_LEN, 5, 1, NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n", 0, OK_, 200, F_CHK, -1, 1, NULL},
    {"HTTP/1.1 200 OK\r\ntransfer-encoding: \t CHUNKED \t\r\n\r\n", 0, OK_, 200, F_CHK, -1, 1, NULL},
    {"HTTP/1.0 200 OK\r\n\r\nbody", 0, OK_, 200, F_EOF, -1, 0, NULL},
    {"HTTP/1.1 200 OK\r\n\r\n", 0, OK_, 200, F_EOF, -1, 0, NULL},
    {"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", 0, OK_, 200, F_LEN, 0, 0, NULL},
    {"HTTP/1.1 200 OK\r\nConnection: keep-alive, closed\r\nContent-Length: 0\r\n\r\n", 0, OK_, 200, F_LEN, 0, 1, NULL},
    {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 0, OK_, 200, F_LEN, 2, 0, NULL},
    {"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, OK_, 200, F_LEN, 0, 1, NULL},
    {"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, OK_, 200, F_LEN, 0, 1, NULL},
    {"HTTP/1.1 404 Not \x80\xff Found\tx\r\nContent-Length: 0\r\n\r\n", 0, OK_, 404, F_LEN, 0, 1, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 005\r\n\r\n", 0, OK_, 200, F_LEN, 5, 1, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\n", 0, OK_, 200, F_LEN, (int64_t)1 << 62, 1, NULL},
    {"HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n", 0, OK_, 200, F_LEN, 0, 1, NULL},
    {"HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", 0, OK_, 599, F_LEN, 0, 1, NULL},
    {"HTTP/1.1 100 Continue\r\n\r\n", 0, OK_, 100, F_NONE, 0, 0, NULL},
    {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 0, OK_, 103, F_NONE, 0, 0, NULL},
    /* no body by status or method (rule 1): framing fields frame nothing; an announced body closes the connection after it */
    {"HTTP/1.1 204 No Content\r\n\r\n", 0, OK_, 204, F_NONE, 0, 1, NULL},
    {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0, OK_, 204, F_NONE, 0, 1, NULL},
    {"HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\npoisoned", 0, OK_, 204, F_NONE, 0, 0, NULL},
    {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0, OK_, 304, F_NONE, 0, 0, NULL},
    {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 0, OK_, 304, F_NONE, 0, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", H, OK_, 200, F_NONE, 1000, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", H, OK_, 200, F_NONE, 0, 1, NULL},
    {"HTTP/1.1 200 OK\r\n\r\n", H, OK_, 200, F_NONE, -1, 1, NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H, OK_, 200, F_NONE, -1, 0, NULL},
    {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H, OK_, 200, F_NONE, -1, 0, NULL},
    /* incomplete: nothing wrong yet */
    {"", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    {"HTT", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    {"HTTP/1.", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    {"HTTP/1.1 20", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    {"HTTP/1.1 200 OK\r", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r", 0, INC, 0, NOT_CHECKED, 0, 0, NULL},
    /* status line (RFC 9112 §4), refused as soon as the bytes are there */
    {"NOT HTTP AT ALL", 0, ERR, 0, NOT_CHECKED, 0, 0, "not an HTTP/1.x status line"},
    {"http/1.1 200 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not an HTTP/1.x status line"},
    {"HTTP/2.0 200 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not an HTTP/1.x status line"},
    {"HTTP/1.x 200 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not an HTTP/1.x status line"},
    {"HTTP/1.1\t200 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not an HTTP/1.x status line"},
    {"HTTP/1.1 999 Weird", 0, ERR, 0, NOT_CHECKED, 0, 0, "outside 100-599"},
    {"HTTP/1.1 600 X\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "outside 100-599"},
    {"HTTP/1.1 099 X\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "outside 100-599"},
    {"HTTP/1.1 000 X\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "outside 100-599"},
    {"HTTP/1.1 20x OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not 3 digits"},
    {"HTTP/1.1 2000 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not 3 digits"},
    {"HTTP/1.1 20 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not 3 digits"},
    {"HTTP/1.1  200 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not 3 digits"},
    {"HTTP/1.1 -20 OK\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "not 3 digits"},
    {"HTTP/1.1 200 O\001K\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "control character in the status line"},
    {"HTTP/1.1 200 OK\n\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "LF without CR"},
    {"HTTP/1.1 200 OK\rX", 0, ERR, 0, NOT_CHECKED, 0, 0, "CR not followed by LF"},
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "switched protocols"},
    /* Transfer-Encoding (§6.1) */
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedx\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0,
     "other than"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0,
     "more than one Transfer-Encoding"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "both"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "both"},
    {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "HTTP/1.0"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", H, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    {"HTTP/1.1 100 Continue\r\nTransfer-Encoding: gzip\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "other than chunked"},
    /* Content-Length (§6.3 rule 5) */
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "differ"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "differ"},
    {"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "differ"},
    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5,,5\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "empty Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387905\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "larger than 2^62"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "larger than 2^62"},
    /* field lines (§5) */
    {"HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 0\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "obsolete line folding"},
    {"HTTP/1.1 200 OK\r\nX-A: 1\r\n\tcontinued\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "obsolete line folding"},
    {"HTTP/1.1 200 OK\r\n X-A: 1\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "whitespace before the first header field"},
    {"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "between a header name and its colon"},
    {"HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid character in a header name"},
    {"HTTP/1.1 200 OK\r\nX\x80: 1\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "invalid character in a header name"},
    {"HTTP/1.1 200 OK\r\nX-A 1\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "between a header name and its colon"},
    {"HTTP/1.1 200 OK\r\n: 1\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "empty header name"},
    {"HTTP/1.1 200 OK\r\nX-A: a\001b\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "control character in a header value"},
    {"HTTP/1.1 200 OK\r\nX-A: a\177b\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "control character in a header value"},
    {"HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "LF without CR"},
    {"HTTP/1.1 200 OK\r\nX-A: 1\r\n\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "LF without CR"},
    {"HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n", 0, ERR, 0, NOT_CHECKED, 0, 0, "CR not followed by LF"},
    {"HTTP/1.1 200 OK\r\nX-A: 1\r\n\rX", 0, ERR, 0, NOT_CHECKED, 0, 0, "CR not followed by LF"},
};

static void test_parse_head_table(void **state)
{
    static origin_head_t h;
    for (size_t i = 0; i != sizeof(head_cases) / sizeof(head_cases[0]); ++i) {
        const head_case_t *c = &head_cases[i];
        int ret = origin_parse_head(c->in, strlen(c->in), c->flags, &h);
        if (ret != c->result)
            fail_msg("case %zu (%s): result %d (%s), expected %d", i, c->in, ret, h.error != NULL ? h.error : "-", c->result);
        if (ret == ORIGIN_HEAD_ERROR) {
            assert_non_null(h.error);
            if (strstr(h.error, c->error) == NULL)
                fail_msg("case %zu (%s): error \"%s\", expected \"%s\"", i, c->in, h.error, c->error);
            continue;
        }
        assert_null(h.error);
        if (ret != ORIGIN_HEAD_COMPLETE)
            continue;
        if (h.status != c->status || (int)h.framing != c->framing || h.content_length != c->clen || h.keepalive != c->keepalive)
            fail_msg("case %zu (%s): status %d framing %d length %lld keepalive %d", i, c->in, h.status, (int)h.framing,
                     (long long)h.content_length, h.keepalive);
        /* the head ends at its empty line; the rest is body */
        assert_true(h.head_len >= 4 && h.head_len <= strlen(c->in));
        assert_memory_equal(c->in + h.head_len - 4, "\r\n\r\n", 4);
        /* every shorter prefix is incomplete, never an error or a different head */
        for (size_t k = 0; k != h.head_len; ++k) {
            static origin_head_t p;
            if (origin_parse_head(c->in, k, c->flags, &p) != ORIGIN_HEAD_INCOMPLETE)
                fail_msg("case %zu: the prefix of %zu bytes is not incomplete", i, k);
        }
    }
}

static void test_parse_head_fields_and_reason(void **state)
{
    static origin_head_t h;
    const char *in =
        "HTTP/1.1 404 Not  Found \r\nX-Empty:\r\nX-Ws: \t a  b \t\r\nx-obs: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\nrest";
    assert_int_equal(origin_parse_head(in, strlen(in), 0, &h), ORIGIN_HEAD_COMPLETE);
    assert_int_equal(h.minor_version, 1);
    assert_int_equal(h.reason_len, 11);
    assert_memory_equal(h.reason, "Not  Found ", 11);
    assert_int_equal(h.num_fields, 4);
    assert_int_equal(h.fields[0].name_len, 7);
    assert_memory_equal(h.fields[0].name, "X-Empty", 7);
    assert_int_equal(h.fields[0].value_len, 0);
    assert_int_equal(h.fields[1].value_len, 4);
    assert_memory_equal(h.fields[1].value, "a  b", 4);
    assert_int_equal(h.fields[2].value_len, 5);
    assert_int_equal(h.head_len, strlen(in) - 4);
    /* no reason phrase at all */
    in = "HTTP/1.0 200\r\n\r\n";
    assert_int_equal(origin_parse_head(in, strlen(in), 0, &h), ORIGIN_HEAD_COMPLETE);
    assert_int_equal(h.minor_version, 0);
    assert_int_equal(h.reason_len, 0);
}

static void test_parse_head_limits(void **state)
{
    static char buf[ORIGIN_HEAD_MAX_SIZE + 4096];
    static origin_head_t h;
    char *p;
    /* 512 fields are fine, 513 are not */
    for (int n = 512; n <= 513; ++n) {
        p = buf + sprintf(buf, "HTTP/1.1 200 OK\r\n");
        for (int i = 1; i != n; ++i)
            p += sprintf(p, "X-%d: %d\r\n", i, i);
        p += sprintf(p, "Content-Length: 0\r\n\r\n");
        int ret = origin_parse_head(buf, (size_t)(p - buf), 0, &h);
        if (n == 512) {
            assert_int_equal(ret, ORIGIN_HEAD_COMPLETE);
            assert_int_equal(h.num_fields, 512);
        } else {
            assert_int_equal(ret, ORIGIN_HEAD_ERROR);
            assert_non_null(strstr(h.error, "more than 512"));
        }
    }
    /* a head of exactly 64 KB is fine; one byte more is not, whether its end is in the buffer or not */
    for (size_t size = ORIGIN_HEAD_MAX_SIZE; size <= ORIGIN_HEAD_MAX_SIZE + 1; ++size) {
        size_t pre = (size_t)sprintf(buf, "HTTP/1.1 200 OK\r\nX-Big: ");
        memset(buf + pre, 'a', size - pre - 4);
        memcpy(buf + size - 4, "\r\n\r\n", 4);
        memcpy(buf + size, "body", 4);
        int ret = origin_parse_head(buf, size + 4, 0, &h);
        assert_int_equal(ret, size == ORIGIN_HEAD_MAX_SIZE ? ORIGIN_HEAD_COMPLETE : ORIGIN_HEAD_ERROR);
        if (ret == ORIGIN_HEAD_COMPLETE)
            assert_int_equal(h.head_len, ORIGIN_HEAD_MAX_SIZE);
        else
            assert_non_null(strstr(h.error, "larger than 64 KB"));
        /* its prefixes: incomplete below the limit, refused at it */
        assert_int_equal(origin_parse_head(buf, ORIGIN_HEAD_MAX_SIZE - 1, 0, &h), ORIGIN_HEAD_INCOMPLETE);
    }
    assert_int_equal(origin_parse_head(buf, ORIGIN_HEAD_MAX_SIZE, 0, &h), ORIGIN_HEAD_ERROR);
}

/* ---- the chunked decoder --------------------------------------------------------------------------------------------------- */

typedef struct chunk_case {
    const char *in;
    ssize_t result;    /* ORIGIN_CHUNKED_* or the bytes after the body */
    const char *data;  /* the decoded bytes (complete and incomplete cases) */
    const char *error; /* a substring of the reason */
    size_t len;        /* 0: strlen(in) */
} chunk_case_t;

static const chunk_case_t chunk_cases[] = {
    {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0, "hello world", NULL},
    {"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", 17, "hello", NULL},
    {"5;a=b;c=\"d e\"\r\nhello\r\n0;last\r\nT: 1\r\nTrailer-Two:  x y \r\n\r\n", 0, "hello", NULL},
    {"5 \t;ext\r\nhello\r\n0 \r\n\r\n", 0, "hello", NULL},
    {"000000A\r\n0123456789\r\n00\r\n\r\n", 0, "0123456789", NULL},
    {"a\r\n0123456789\r\n", ORIGIN_CHUNKED_INCOMPLETE, "0123456789", NULL},
    {"4000000000000000\r\nabc", ORIGIN_CHUNKED_INCOMPLETE, "abc", NULL},
    {"0\r\n\r", ORIGIN_CHUNKED_INCOMPLETE, "", NULL},
    {"", ORIGIN_CHUNKED_INCOMPLETE, "", NULL},
    {"zz\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not hexadecimal"},
    {"\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not hexadecimal"},
    {" 5\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not hexadecimal"},
    {"-5\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not hexadecimal"},
    {"0x5\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "invalid character after a chunk size"},
    {"5 x\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "invalid character after a chunk size"},
    {"5\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "LF without CR"},
    {"5\r\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "CR not followed by LF"},
    {"5;a\001\r\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "control character in a chunk extension"},
    {"5;a\nhello\r\n", ORIGIN_CHUNKED_ERROR, NULL, "control character in a chunk extension"},
    {"5\r\nhello\n0\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not followed by CRLF"},
    {"5\r\nhelloX\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not followed by CRLF"},
    {"5\r\nhello\r\r\n0\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "not followed by CRLF"},
    {"4000000000000001\r\n", ORIGIN_CHUNKED_ERROR, NULL, "larger than 2^62"},
    {"10000000000000000\r\n", ORIGIN_CHUNKED_ERROR, NULL, "larger than 2^62"},
    {"ffffffffffffffffffff\r\n", ORIGIN_CHUNKED_ERROR, NULL, "larger than 2^62"},
    {"0\r\n x: 1\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "obsolete line folding in the trailers"},
    {"0\r\nX: 1\r\n\tmore\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "obsolete line folding in the trailers"},
    {"0\r\nX : 1\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "invalid character in a trailer name"},
    {"0\r\n: 1\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "invalid trailer field"},
    {"0\r\nX: a\000b\r\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "control character in a trailer value", 13},
    {"0\r\nX: 1\n\r\n", ORIGIN_CHUNKED_ERROR, NULL, "control character in a trailer value"},
    {"0\r\nX: 1\rY\r\n", ORIGIN_CHUNKED_ERROR, NULL, "CR not followed by LF in the trailers"},
    {"0\r\n\rX", ORIGIN_CHUNKED_ERROR, NULL, "at the end of a chunked body"},
    {"0\r\n\n", ORIGIN_CHUNKED_ERROR, NULL, "invalid trailer field"},
};

/* decodes in pieces of `step` bytes (0: all at once) into out; returns the result, *outlen the decoded bytes and *after the bytes
 * reported after the body */
static ssize_t decode_in_steps(const char *in, size_t len, size_t step, char *out, size_t *outlen, char *after, const char **err)
{
    static char buf[1 << 18];
    origin_chunked_t d;
    ssize_t ret = ORIGIN_CHUNKED_INCOMPLETE;
    size_t i = 0;
    origin_chunked_init(&d);
    *outlen = 0;
    after[0] = '\0';
    do {
        size_t n = step == 0 || len - i < step ? len - i : step, size = n;
        memcpy(buf, in + i, n);
        ret = origin_chunked_decode(&d, buf, &size);
        assert_true(size <= n);
        memcpy(out + *outlen, buf, size);
        *outlen += size;
        if (ret >= 0) {
            /* the bytes after the body follow the decoded ones */
            memcpy(after, buf + size, (size_t)ret);
            after[ret] = '\0';
            size_t rest = len - i - n; /* not fed yet: it follows as is */
            memcpy(after + ret, in + i + n, rest);
            after[ret + rest] = '\0';
            return ret + (ssize_t)rest;
        }
        i += n;
    } while (ret == ORIGIN_CHUNKED_INCOMPLETE && i < len);
    *err = d.error;
    return ret;
}

static void test_chunked_table(void **state)
{
    static char out[1 << 18], after[1 << 18];
    for (size_t i = 0; i != sizeof(chunk_cases) / sizeof(chunk_cases[0]); ++i) {
        const chunk_case_t *c = &chunk_cases[i];
        size_t len = c->len != 0 ? c->len : strlen(c->in);
        for (size_t step = 0; step <= 3; ++step) {
            size_t outlen;
            const char *err = NULL;
            ssize_t ret = decode_in_steps(c->in, len, step, out, &outlen, after, &err);
            if (ret != c->result)
                fail_msg("case %zu (%s) in steps of %zu: result %zd (%s), expected %zd", i, c->in, step, ret, err ? err : "-",
                         c->result);
            if (ret == ORIGIN_CHUNKED_ERROR) {
                if (err == NULL || strstr(err, c->error) == NULL)
                    fail_msg("case %zu: error \"%s\", expected \"%s\"", i, err ? err : "-", c->error);
                continue;
            }
            if (outlen != strlen(c->data) || memcmp(out, c->data, outlen) != 0)
                fail_msg("case %zu in steps of %zu: decoded \"%.*s\"", i, step, (int)outlen, out);
            if (ret >= 0)
                assert_string_equal(after, c->in + len - (size_t)ret);
        }
    }
}

static void test_chunked_limits(void **state)
{
    static char in[ORIGIN_TRAILERS_MAX_SIZE + 8192], out[sizeof(in)], after[sizeof(in)];
    size_t outlen;
    const char *err;
    char *p;
    /* a size line of 4 KB (leading zeros or extensions) is fine, one byte more is not */
    for (size_t line = ORIGIN_CHUNK_LINE_MAX; line <= ORIGIN_CHUNK_LINE_MAX + 1; ++line) {
        memset(in, '0', line - 3);
        memcpy(in + line - 3, "1\r\nx\r\n0\r\n\r\n", 12);
        err = NULL;
        ssize_t ret = decode_in_steps(in, strlen(in), 0, out, &outlen, after, &err);
        assert_int_equal(ret, line == ORIGIN_CHUNK_LINE_MAX ? 0 : ORIGIN_CHUNKED_ERROR);
        if (ret < 0)
            assert_non_null(strstr(err, "longer than 4 KB"));
    }
    /* 512 trailer fields are fine, 513 are not; trailers above 64 KB are refused */
    for (int n = 512; n <= 513; ++n) {
        p = in + sprintf(in, "0\r\n");
        for (int i = 0; i != n; ++i)
            p += sprintf(p, "T%d: v\r\n", i);
        strcpy(p, "\r\n");
        err = NULL;
        ssize_t ret = decode_in_steps(in, strlen(in), 7, out, &outlen, after, &err);
        assert_int_equal(ret, n == 512 ? 0 : ORIGIN_CHUNKED_ERROR);
        if (ret < 0)
            assert_non_null(strstr(err, "more than 512 trailer fields"));
    }
    p = in + sprintf(in, "0\r\nT: ");
    memset(p, 'v', ORIGIN_TRAILERS_MAX_SIZE);
    strcpy(p + ORIGIN_TRAILERS_MAX_SIZE, "\r\n\r\n");
    err = NULL;
    assert_int_equal(decode_in_steps(in, strlen(in), 1000, out, &outlen, after, &err), ORIGIN_CHUNKED_ERROR);
    assert_non_null(strstr(err, "larger than 64 KB"));
    /* a finished decoder takes nothing more */
    origin_chunked_t d;
    size_t size = 5;
    origin_chunked_init(&d);
    memcpy(in, "0\r\n\r\n", 5);
    assert_int_equal(origin_chunked_decode(&d, in, &size), 0);
    size = 1;
    assert_int_equal(origin_chunked_decode(&d, in, &size), ORIGIN_CHUNKED_ERROR);
}

int main(void)
{
    h2o_config_init(&gconf);
    h2o_config_register_host(&gconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_context_init(&worker.ctx, h2o_evloop_create(), &gconf);
    server.num_workers = 1;
    server_worker_bind(&worker);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_in_pieces),
        cmocka_unit_test(test_chunked_extensions_trailers_split),
        cmocka_unit_test(test_chunked_cut_at_boundary_is_an_error),
        cmocka_unit_test(test_chunked_bad_size_line),
        cmocka_unit_test(test_content_length_cut_short),
        cmocka_unit_test(test_read_until_close),
        cmocka_unit_test(test_informational_then_final),
        cmocka_unit_test(test_conflicting_framing_is_refused),
        cmocka_unit_test(test_many_headers_and_hop_by_hop),
        cmocka_unit_test(test_head_too_large),
        cmocka_unit_test(test_head_request_and_204),
        cmocka_unit_test(test_no_response_is_502),
        cmocka_unit_test(test_parse_head_table),
        cmocka_unit_test(test_parse_head_fields_and_reason),
        cmocka_unit_test(test_parse_head_limits),
        cmocka_unit_test(test_chunked_table),
        cmocka_unit_test(test_read_until_close_cut_by_a_reset),
        cmocka_unit_test(test_head_cut_by_eof),
        cmocka_unit_test(test_chunked_limits),
        cmocka_unit_test(test_request_framing_is_ours),
        cmocka_unit_test(test_request_that_would_split_is_refused),
        cmocka_unit_test(test_pool_reuses_a_clean_connection),
        cmocka_unit_test(test_pool_bytes_after_a_response_close_it),
        cmocka_unit_test(test_pool_no_reuse_after_an_announced_body_without_framing),
        cmocka_unit_test(test_request_ends_inside_a_callback_of_a_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
