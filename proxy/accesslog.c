/* proxy/accesslog.c - access log lines (combined + edgehook fields, or JSON) buffered per thread, written whole with write(2). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/str.h"
#include "proxy/accesslog.h"

#define BUF_SIZE 65536
#define FLUSH_AT 32768

/* where lines go: immutable once published, refcounted. `current` holds one reference (the log a reload opened); each worker
 * holds one on the sink its buffered lines were formatted for (`mine`), and moves to the current one at its next write or
 * flush (at most 100 ms after a reload). The descriptor is closed when the last reference goes, so no thread ever writes to a
 * descriptor that was closed (and maybe reused for a client socket). */
typedef struct sink {
    atomic_uint refs;
    int fd;
    int json;
} sink_t;

static _Atomic(sink_t *) current;
/* taking a reference on `current` and replacing it: so that a reference is never taken on a sink being freed */
static pthread_mutex_t current_mutex = PTHREAD_MUTEX_INITIALIZER;
static __thread sink_t *mine;
static __thread char buf[BUF_SIZE];
static __thread size_t buf_len;

static void sink_release(sink_t *s)
{
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        if (s->fd > 2)
            close(s->fd);
        free(s);
    }
}

/* a reference on the current sink (NULL: no access log) */
static sink_t *sink_acquire_current(void)
{
    pthread_mutex_lock(&current_mutex);
    sink_t *s = atomic_load_explicit(&current, memory_order_acquire);
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&current_mutex);
    return s;
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* the formatter: a pure function of accesslog_fields_t                                                                  */

/* the string fields (escaped, cut when the line is too long), then the preformatted ones (plain ASCII, never cut) */
enum {
    F_CLIENT,
    F_METHOD,
    F_URI,
    F_RID,
    F_CACHE,
    F_HOOKS,
    F_ORIGIN,
    F_REFERER,
    F_UA,
    F_NUM, /* string fields */
    R_TIME = F_NUM,
    R_PROTO,
    R_STATUS,
    R_BYTES,
    R_DUR,
    SLOT_NUM
};

/* a line's template: constant text with one byte 1..SLOT_NUM (slot + 1) where each field goes */
#define CLIENT "\x01"
#define METHOD "\x02"
#define URI "\x03"
#define RID "\x04"
#define CACHE "\x05"
#define HOOKS "\x06"
#define ORIGIN "\x07"
#define REFERER "\x08"
#define UA "\x09"
#define TIME "\x0a"
#define PROTO "\x0b"
#define STATUS "\x0c"
#define BYTES "\x0d"
#define DUR "\x0e"
static const char combined_template[] =
    CLIENT " - - [" TIME "] \"" METHOD " " URI " " PROTO "\" " STATUS " " BYTES " \"" REFERER "\" \"" UA "\" rid=" RID " dur=" DUR
           " cache=" CACHE " hooks=" HOOKS " origin=" ORIGIN;
static const char json_template[] =
    "{\"time\":\"" TIME "\",\"request_id\":\"" RID "\",\"client\":\"" CLIENT "\",\"method\":\"" METHOD "\",\"uri\":\"" URI
    "\",\"protocol\":\"" PROTO "\",\"status\":" STATUS ",\"bytes\":" BYTES ",\"duration\":" DUR ",\"cache\":\"" CACHE
    "\",\"hooks\":\"" HOOKS "\",\"origin\":\"" ORIGIN "\",\"referer\":\"" REFERER "\",\"user_agent\":\"" UA "\"";
#undef CLIENT
#undef METHOD
#undef URI
#undef RID
#undef CACHE
#undef HOOKS
#undef ORIGIN
#undef REFERER
#undef UA
#undef TIME
#undef PROTO
#undef STATUS
#undef BYTES
#undef DUR

/* the length of the constant text at t (up to the next field or the end) */
static size_t text_len(const char *t)
{
    const char *q = t;
    while ((unsigned char)*q > SLOT_NUM)
        ++q;
    return (size_t)(q - t);
}

/* what ends a line (before its newline): not cut, cut */
static const char combined_tail[] = "", combined_tail_cut[] = " cut=1";
static const char json_tail[] = "}", json_tail_cut[] = ",\"cut\":true}";

/*
 * How many output bytes each input byte takes, per escaping mode; the width also says which escape it is: 1 itself, 2 \c
 * (JSON), 4 \xHH (combined), 6 \u00HH (JSON). Ranges are listed without overlap (-Woverride-init).
 */
enum { ESC_JSON, ESC_QUOTED, ESC_BARE };
static const unsigned char esc_width[3][256] = {
    [ESC_JSON] = {[0x00 ... 0x1f] = 6,
                  [0x20 ... 0x21] = 1,
                  ['"'] = 2,
                  [0x23 ... 0x5b] = 1,
                  ['\\'] = 2,
                  [0x5d ... 0x7e] = 1,
                  [0x7f ... 0xff] = 6},
    /* combined, inside quotes (referer, user agent) */
    [ESC_QUOTED] = {[0x00 ... 0x1f] = 4,
                    [0x20 ... 0x21] = 1,
                    ['"'] = 4,
                    [0x23 ... 0x5b] = 1,
                    ['\\'] = 4,
                    [0x5d ... 0x7e] = 1,
                    [0x7f ... 0xff] = 4},
    /* combined, outside quotes or split on spaces: a space too */
    [ESC_BARE] =
        {[0x00 ... 0x20] = 4, [0x21] = 1, ['"'] = 4, [0x23 ... 0x5b] = 1, ['\\'] = 4, [0x5d ... 0x7e] = 1, [0x7f ... 0xff] = 4},
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* 1 when none of the 8 bytes in x needs an escape: each is in [lo, 0x7e] (lo <= 0x80) and is neither '"' nor '\\'. Each term
 * is the classic "some byte is zero / below n" test, exact as a yes-or-no answer for the whole word. */
static inline int plain8(uint64_t x, uint64_t lo)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\'), del = x ^ (ONES * 0x7f);
    uint64_t bad = (x | ((x - ONES * lo) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((del - ONES) & ~del)) & HIGHS;
    return bad == 0;
}

/* the escaped length of s, or some value above limit once it exceeds limit (so a huge field costs at most limit steps) */
static size_t escaped_len(const unsigned char *s, size_t len, const unsigned char *width, size_t limit)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        n += width[s[i]];
        if (n > limit)
            break;
    }
    return n;
}

/* writes s escaped into [p, lim): whole escapes only, stops at the first that does not fit (then clears *whole); returns the new
 * end */
static char *put_escaped(char *p, char *lim, const unsigned char *s, size_t len, const unsigned char *width, int *whole)
{
    uint64_t lo = width[' '] == 1 ? ' ' : ' ' + 1; /* the first byte written as itself */
    size_t i = 0;
    while (i != len) {
        size_t run = i;
        for (uint64_t x; len - run >= 8 && (memcpy(&x, s + run, 8), plain8(x, lo)); run += 8)
            ;
        while (run != len && width[s[run]] == 1)
            ++run;
        if (run != i) {
            size_t n = run - i, room = (size_t)(lim - p);
            if (n > room)
                n = room;
            memcpy(p, s + i, n);
            p += n;
            if (i + n != run) {
                *whole = 0;
                return p;
            }
            i = run;
            if (i == len)
                break;
        }
        unsigned c = s[i], w = width[c];
        if (w > (size_t)(lim - p)) {
            *whole = 0;
            return p;
        }
        *p++ = '\\';
        if (w == 2) {
            *p++ = (char)c;
        } else {
            if (w == 4) {
                *p++ = 'x';
            } else {
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
            }
            p = edge_hex_byte(p, (unsigned char)c);
        }
        ++i;
    }
    return p;
}

/* decimal of v into p (room for 20 digits); returns the length */
static size_t format_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i != n; ++i)
        p[i] = tmp[n - 1 - i];
    return n;
}

static size_t format_int(char *p, int v)
{
    if (v < 0) {
        *p = '-';
        return 1 + format_u64(p + 1, (uint64_t)(-(int64_t)v));
    }
    return format_u64(p, (uint64_t)v);
}

/* n digits of v, zero-padded */
static void put_digits(char *p, unsigned v, int n)
{
    while (n-- != 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* the civil date (proleptic Gregorian) of a day number counted from 1970-01-01 (>= 0): the year is cut into 400-year eras of
 * 146097 days counted from a 1 March, so that the leap day is the last day of a year and months have a linear formula */
static void civil_date(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                          /* day of era, 0..146096 */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* year of era, 0..399 */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* day of the March-based year, 0..365 */
    unsigned mp = (5 * doy + 2) / 153;                                    /* month from March, 0..11 */
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = era * 400 + yoe + (*month <= 2);
}

/* the timestamp: combined "26/Nov/2026:17:19:15 +0000" (26 bytes), JSON "2026-11-26T17:19:15.123Z" (24 bytes) */
static size_t format_time(char *p, int64_t ms, int json)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t year;
    unsigned month, day;
    if (ms < 0)
        ms = 0;
    if (ms > INT64_C(253402300799999)) /* 9999-12-31T23:59:59.999Z */
        ms = INT64_C(253402300799999);
    int64_t secs = ms / 1000;
    unsigned sod = (unsigned)(secs % 86400);
    civil_date(secs / 86400, &year, &month, &day);
    if (json) {
        put_digits(p, (unsigned)year, 4);
        p[4] = '-';
        put_digits(p + 5, month, 2);
        p[7] = '-';
        put_digits(p + 8, day, 2);
        p[10] = 'T';
        put_digits(p + 11, sod / 3600, 2);
        p[13] = ':';
        put_digits(p + 14, sod / 60 % 60, 2);
        p[16] = ':';
        put_digits(p + 17, sod % 60, 2);
        p[19] = '.';
        put_digits(p + 20, (unsigned)(ms % 1000), 3);
        p[23] = 'Z';
        return 24;
    }
    put_digits(p, day, 2);
    p[2] = '/';
    memcpy(p + 3, months[month - 1], 3);
    p[6] = '/';
    put_digits(p + 7, (unsigned)year, 4);
    p[11] = ':';
    put_digits(p + 12, sod / 3600, 2);
    p[14] = ':';
    put_digits(p + 15, sod / 60 % 60, 2);
    p[17] = ':';
    put_digits(p + 18, sod % 60, 2);
    memcpy(p + 20, " +0000", 6);
    return 26;
}

/* max-min fair shares of `avail` bytes for fields wanting want[i]: in increasing order of want, each takes what it wants or an
 * equal share of what is left, whichever is less */
static void fair_shares(const size_t want[F_NUM], size_t give[F_NUM], size_t avail)
{
    int order[F_NUM];
    for (int i = 0; i != F_NUM; ++i) {
        int j = i;
        for (; j != 0 && want[order[j - 1]] > want[i]; --j)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (int k = 0; k != F_NUM; ++k) {
        size_t share = avail / (size_t)(F_NUM - k), w = want[order[k]];
        give[order[k]] = w < share ? w : share;
        avail -= give[order[k]];
    }
}

/* writes the template's parts into [out, end): each string field at most give[slot] bytes (give NULL: no budget); clears *whole
 * when something did not fit; returns the new end */
static char *put_line(const char *tmpl, const h2o_iovec_t *src, const unsigned char *const *width, const size_t *give, char *out,
                      char *end, int *whole)
{
    char *p = out;
    for (const char *t = tmpl; *t != '\0';) {
        int slot = (unsigned char)*t - 1;
        if (slot < F_NUM) {
            size_t room = (size_t)(end - p), budget = give != NULL && give[slot] < room ? give[slot] : room;
            p = put_escaped(p, p + budget, (const unsigned char *)src[slot].base, src[slot].len, width[slot], whole);
            ++t;
        } else if (slot < SLOT_NUM) {
            size_t n = src[slot].len;
            if (n > (size_t)(end - p)) {
                n = (size_t)(end - p);
                *whole = 0;
            }
            memcpy(p, src[slot].base, n);
            p += n;
            ++t;
        } else {
            /* constant text, a few bytes: copied here rather than measured for memcpy */
            for (; (unsigned char)*t > SLOT_NUM; ++t) {
                if (p == end) {
                    *whole = 0;
                    t += text_len(t);
                    break;
                }
                *p++ = *t;
            }
        }
        if (!*whole && give == NULL)
            break; /* the first attempt failed: the line is written again with budgets */
    }
    return p;
}

static h2o_iovec_t or_dash(h2o_iovec_t v)
{
    return v.len != 0 ? v : h2o_iovec_init(H2O_STRLIT("-"));
}

size_t accesslog_format(const accesslog_fields_t *f, int json, char *out, size_t cap)
{
    h2o_iovec_t src[SLOT_NUM];
    const unsigned char *width[F_NUM];
    size_t want[F_NUM], give[F_NUM], fixed = 0;
    char rawbuf[R_DUR - R_TIME + 1][32];
    const char *tmpl = json ? json_template : combined_template;
    const char *tail = json ? json_tail : combined_tail, *tail_cut = json ? json_tail_cut : combined_tail_cut;
    size_t tail_len = strlen(tail), tail_cut_len = strlen(tail_cut);

    if (cap < ACCESSLOG_LINE_MIN)
        return 0;

    /* the string fields, with the stand-ins for empty ones */
    static const h2o_iovec_t empty = {NULL, 0};
    src[F_CLIENT] = or_dash(f->client);
    src[F_METHOD] = f->method;
    src[F_URI] = f->uri;
    src[F_RID] = f->request_id;
    src[F_CACHE] = or_dash(f->cache);
    src[F_HOOKS] = json ? f->hooks : or_dash(f->hooks);
    src[F_ORIGIN] = json ? f->origin : or_dash(f->origin);
    src[F_REFERER] = f->referer.base != NULL ? f->referer : json ? empty : h2o_iovec_init(H2O_STRLIT("-"));
    src[F_UA] = f->user_agent.base != NULL ? f->user_agent : json ? empty : h2o_iovec_init(H2O_STRLIT("-"));
    for (int i = 0; i != F_NUM; ++i)
        width[i] = esc_width[json ? ESC_JSON : i == F_REFERER || i == F_UA ? ESC_QUOTED : ESC_BARE];

    /* the preformatted ones */
    src[R_TIME] = h2o_iovec_init(rawbuf[R_TIME - R_TIME], format_time(rawbuf[R_TIME - R_TIME], f->time_ms, json));
    src[R_PROTO] = f->version >= 0x200   ? h2o_iovec_init(H2O_STRLIT("HTTP/2"))
                   : f->version == 0x101 ? h2o_iovec_init(H2O_STRLIT("HTTP/1.1"))
                                         : h2o_iovec_init(H2O_STRLIT("HTTP/1.0"));
    src[R_STATUS] = h2o_iovec_init(rawbuf[R_STATUS - R_TIME], format_int(rawbuf[R_STATUS - R_TIME], f->status));
    src[R_BYTES] = h2o_iovec_init(rawbuf[R_BYTES - R_TIME], format_u64(rawbuf[R_BYTES - R_TIME], f->bytes));
    {
        char *d = rawbuf[R_DUR - R_TIME];
        size_t n = format_u64(d, f->duration_us / 1000000);
        d[n] = '.';
        put_digits(d + n + 1, (unsigned)(f->duration_us % 1000000), 6);
        src[R_DUR] = h2o_iovec_init(d, n + 7);
    }

    /* most lines fit: one pass, written as they come */
    int whole = 1;
    char *p = put_line(tmpl, src, width, NULL, out, out + cap - 1 - tail_len, &whole);
    if (!whole) {
        /* too long: the string fields share what is left after the fixed parts and the cut marker */
        for (const char *t = tmpl; *t != '\0';) {
            int slot = (unsigned char)*t - 1;
            size_t n = slot < SLOT_NUM ? 1 : text_len(t);
            fixed += slot >= SLOT_NUM ? n : slot >= F_NUM ? src[slot].len : 0;
            t += n;
        }
        for (int i = 0; i != F_NUM; ++i)
            want[i] = escaped_len((const unsigned char *)src[i].base, src[i].len, width[i], cap);
        if (fixed + tail_cut_len + 1 > cap) /* cannot happen above ACCESSLOG_LINE_MIN */
            return 0;
        fair_shares(want, give, cap - fixed - tail_cut_len - 1);
        tail = tail_cut;
        tail_len = tail_cut_len;
        /* every write is bounded by the end too, which keeps the marker's and the newline's place */
        whole = 1;
        p = put_line(tmpl, src, width, give, out, out + cap - 1 - tail_len, &whole);
    }
    memcpy(p, tail, tail_len);
    p += tail_len;
    *p++ = '\n';
    return (size_t)(p - out);
}

/* ------------------------------------------------------------------------------------------------------------------- */
/* the log file and the per-thread buffer                                                                                */

int accesslog_enabled(void)
{
    /* this thread's sink too: its buffered lines still go out (and the sink is dropped) at the next flush */
    return mine != NULL || atomic_load_explicit(&current, memory_order_acquire) != NULL;
}

int accesslog_open(const char *path, int json)
{
    sink_t *s = NULL, *old;
    if (path != NULL) {
        int fd = 1;
        if (strcmp(path, "-") != 0 && (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
            return -1;
        if ((s = malloc(sizeof(*s))) == NULL) {
            int err = errno;
            if (fd > 2)
                close(fd);
            errno = err;
            return -1;
        }
        atomic_init(&s->refs, 1);
        s->fd = fd;
        s->json = json;
    }
    pthread_mutex_lock(&current_mutex);
    old = atomic_exchange_explicit(&current, s, memory_order_acq_rel);
    pthread_mutex_unlock(&current_mutex);
    sink_release(old); /* closed here, or by the last worker still holding it */
    return 0;
}

/* writes the buffer out to this thread's sink */
static void flush_buffer(void)
{
    size_t off = 0;
    while (mine != NULL && off < buf_len) {
        ssize_t n = write(mine->fd, buf + off, buf_len - off);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            break; /* a full disk must not stop the proxy */
        }
        off += n;
    }
    buf_len = 0;
}

void accesslog_flush(void)
{
    flush_buffer();
    /* a reload replaced the log: this thread lets go of the old one (its last holder closes it) */
    if (mine != NULL && mine != atomic_load_explicit(&current, memory_order_acquire)) {
        sink_release(mine);
        mine = NULL;
    }
}

/* the first value of a request header, base NULL when absent */
static h2o_iovec_t first_header(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i != -1 ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

void accesslog_write(const accesslog_entry_t *e)
{
    h2o_req_t *req = e->req;
    accesslog_fields_t f;
    char addr[NI_MAXHOST];
    struct sockaddr_storage ss;
    socklen_t sslen;
    size_t addr_len = 0;

    /* `mine` holds a reference, so it cannot be freed and reused at the same address: equal means it is the current one */
    if (mine != atomic_load_explicit(&current, memory_order_acquire)) {
        accesslog_flush(); /* the lines formatted for the old log go to it */
        mine = sink_acquire_current();
    }
    if (mine == NULL)
        return;
    if ((sslen = req->conn->callbacks->get_peername(req->conn, (void *)&ss)) != 0 &&
        (addr_len = h2o_socket_getnumerichost((void *)&ss, sslen, addr)) == SIZE_MAX)
        addr_len = 0;
    f.time_ms = (int64_t)req->processed_at.at.tv_sec * 1000 + req->processed_at.at.tv_usec / 1000;
    f.client = h2o_iovec_init(addr, addr_len);
    f.method = req->input.method;
    f.uri = req->input.path;
    f.version = req->version;
    f.status = e->status;
    f.bytes = e->bytes;
    f.duration_us = e->duration_us;
    f.request_id = e->request_id;
    f.cache = e->cache_status != NULL ? h2o_iovec_init(e->cache_status, strlen(e->cache_status)) : h2o_iovec_init(NULL, 0);
    f.hooks = e->hooks;
    f.origin = e->origin != NULL ? h2o_iovec_init(e->origin, strlen(e->origin)) : h2o_iovec_init(NULL, 0);
    f.referer = first_header(req, H2O_TOKEN_REFERER);
    f.user_agent = first_header(req, H2O_TOKEN_USER_AGENT);

    /* straight into the buffer: room for the longest line first */
    if (buf_len + ACCESSLOG_LINE_MAX > BUF_SIZE)
        flush_buffer();
    buf_len += accesslog_format(&f, mine->json, buf + buf_len, ACCESSLOG_LINE_MAX);
    if (buf_len >= FLUSH_AT)
        flush_buffer();
}
