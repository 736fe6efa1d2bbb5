/* tests/unit/proxy/test_origin.c - the origin client against a scripted origin on a real socket: response framing (Content-Length,
 * chunked edge cases, read-until-close), informational responses, header limits and hop-by-hop removal, truncation errors. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "proxy/origin.h"
#include "proxy/server.h"

static h2o_globalconf_t gconf;
static server_worker_t worker;

/* ---- the scripted origin: one connection, the response written in pieces --------------------------------------------------- */

typedef struct script {
    const char *parts[8];
    int close_after; /* close the connection after the parts */
    int listen_fd;
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
    if (sc->close_after) {
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
    h2o_header_t host = {(h2o_iovec_t *)&H2O_TOKEN_HOST->buf, NULL, h2o_iovec_init(H2O_STRLIT("test"))};
    origin_req_start(o, h2o_iovec_init(method, strlen(method)), h2o_iovec_init(H2O_STRLIT("/p")), &host, 1, h2o_iovec_init(NULL, 0),
                     1, &cbs, &res);
    for (int i = 0; i != 300 && !res.done; ++i) {
        h2o_evloop_run(worker.ctx.loop, 10);
    }
    if (had_x_secret != NULL) {
        *had_x_secret = res.had_secret;
        *had_connection = res.had_conn;
    }
    assert_true(res.done);
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
    script_t sc = {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel", "lo\r\n6\r", "\n world\r\n0\r\nTrailer-X: 1\r\n",
                    "\r\n", NULL},
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

static void test_informational_then_final(void **state)
{
    script_t sc = {{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                    NULL},
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

int main(void)
{
    h2o_config_init(&gconf);
    h2o_config_register_host(&gconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_context_init(&worker.ctx, h2o_evloop_create(), &gconf);
    server.num_workers = 1;
    server_worker_bind(&worker);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_in_pieces),      cmocka_unit_test(test_chunked_extensions_trailers_split),
        cmocka_unit_test(test_chunked_cut_at_boundary_is_an_error), cmocka_unit_test(test_chunked_bad_size_line),
        cmocka_unit_test(test_content_length_cut_short),      cmocka_unit_test(test_read_until_close),
        cmocka_unit_test(test_informational_then_final),      cmocka_unit_test(test_conflicting_framing_is_refused),
        cmocka_unit_test(test_many_headers_and_hop_by_hop),   cmocka_unit_test(test_head_too_large),
        cmocka_unit_test(test_head_request_and_204),          cmocka_unit_test(test_no_response_is_502),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
