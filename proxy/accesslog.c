/* proxy/accesslog.c - access log lines (combined + edgehook fields, or JSON) buffered per thread, written whole with write(2). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "proxy/accesslog.h"

#define BUF_SIZE 65536
#define FLUSH_AT 32768

static int log_fd = -1;
static int log_json;
static __thread char buf[BUF_SIZE];
static __thread size_t buf_len;

int accesslog_enabled(void)
{
    return log_fd != -1;
}

int accesslog_open(const char *path, int json)
{
    int fd = -1;
    if (path != NULL) {
        if (strcmp(path, "-") == 0) {
            fd = 1;
        } else if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1) {
            return -1;
        }
    }
    if (log_fd > 2 && log_fd != fd)
        close(log_fd);
    log_fd = fd;
    log_json = json;
    return 0;
}

void accesslog_flush(void)
{
    size_t off = 0;
    while (off < buf_len) {
        ssize_t n = write(log_fd, buf + off, buf_len - off);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            break; /* a full disk must not stop the proxy */
        }
        off += n;
    }
    buf_len = 0;
}

/* appends s escaped for the chosen format: JSON string escapes, or \xNN for quotes and control bytes in combined */
static void put_escaped(char **p, char *end, const char *s, size_t len)
{
    for (size_t i = 0; i != len && *p < end - 8; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (log_json) {
            if (c == '"' || c == '\\') {
                *(*p)++ = '\\';
                *(*p)++ = c;
            } else if (c < 0x20 || c == 0x7f) {
                *p += sprintf(*p, "\\u%04x", c);
            } else {
                *(*p)++ = c;
            }
        } else {
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
                *p += sprintf(*p, "\\x%02x", c);
            else
                *(*p)++ = c;
        }
    }
}

static void put_str(char **p, char *end, const char *s)
{
    size_t n = strlen(s);
    if (*p + n < end) {
        memcpy(*p, s, n);
        *p += n;
    }
}

void accesslog_write(const accesslog_entry_t *e)
{
    h2o_req_t *req = e->req;
    char line[8192], *p = line, *end = line + sizeof(line) - 2;
    char addr[NI_MAXHOST];
    struct sockaddr_storage ss;
    socklen_t sslen;
    h2o_iovec_t referer = {NULL, 0}, ua = {NULL, 0};
    ssize_t i;
    const char *proto = req->version >= 0x200 ? "HTTP/2" : req->version == 0x101 ? "HTTP/1.1" : "HTTP/1.0";

    if (log_fd == -1)
        return;
    addr[0] = '-';
    addr[1] = '\0';
    if ((sslen = req->conn->callbacks->get_peername(req->conn, (void *)&ss)) != 0)
        h2o_socket_getnumerichost((void *)&ss, sslen, addr);
    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_REFERER, -1)) != -1)
        referer = req->headers.entries[i].value;
    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1)) != -1)
        ua = req->headers.entries[i].value;

    if (log_json) {
        char ts[64];
        struct tm tm;
        time_t now = req->processed_at.at.tv_sec;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        p += snprintf(p, end - p, "{\"time\":\"%s.%03dZ\",\"request_id\":\"", ts, (int)(req->processed_at.at.tv_usec / 1000));
        put_escaped(&p, end, e->request_id.base, e->request_id.len);
        p += snprintf(p, end - p, "\",\"client\":\"%s\",\"method\":\"", addr);
        put_escaped(&p, end, req->input.method.base, req->input.method.len);
        put_str(&p, end, "\",\"uri\":\"");
        put_escaped(&p, end, req->input.path.base, req->input.path.len);
        p += snprintf(p, end - p, "\",\"protocol\":\"%s\",\"status\":%d,\"bytes\":%llu,\"duration\":%.6f,\"cache\":\"%s\",\"hooks\":\"",
                      proto, e->status, (unsigned long long)e->bytes, e->duration_us / 1e6,
                      e->cache_status != NULL ? e->cache_status : "-");
        put_escaped(&p, end, e->hooks.base, e->hooks.len);
        put_str(&p, end, "\",\"origin\":\"");
        if (e->origin != NULL)
            put_escaped(&p, end, e->origin, strlen(e->origin));
        put_str(&p, end, "\",\"referer\":\"");
        put_escaped(&p, end, referer.base, referer.len);
        put_str(&p, end, "\",\"user_agent\":\"");
        put_escaped(&p, end, ua.base, ua.len);
        put_str(&p, end, "\"}");
    } else {
        /* combined, then key=value fields of our own */
        p += snprintf(p, end - p, "%s - - [%s] \"", addr, req->processed_at.str->log);
        put_escaped(&p, end, req->input.method.base, req->input.method.len);
        *p++ = ' ';
        put_escaped(&p, end, req->input.path.base, req->input.path.len);
        p += snprintf(p, end - p, " %s\" %d %llu \"", proto, e->status, (unsigned long long)e->bytes);
        if (referer.base != NULL)
            put_escaped(&p, end, referer.base, referer.len);
        else
            put_str(&p, end, "-");
        put_str(&p, end, "\" \"");
        if (ua.base != NULL)
            put_escaped(&p, end, ua.base, ua.len);
        else
            put_str(&p, end, "-");
        p += snprintf(p, end - p, "\" rid=%.*s dur=%.6f cache=%s", (int)e->request_id.len, e->request_id.base, e->duration_us / 1e6,
                      e->cache_status != NULL ? e->cache_status : "-");
        put_str(&p, end, " hooks=");
        if (e->hooks.len != 0)
            put_escaped(&p, end, e->hooks.base, e->hooks.len);
        else
            put_str(&p, end, "-");
        put_str(&p, end, " origin=");
        put_str(&p, end, e->origin != NULL ? e->origin : "-");
    }
    if (p > end)
        p = end;
    *p++ = '\n';
    if (buf_len + (p - line) > BUF_SIZE)
        accesslog_flush();
    memcpy(buf + buf_len, line, p - line);
    buf_len += p - line;
    if (buf_len >= FLUSH_AT)
        accesslog_flush();
}
