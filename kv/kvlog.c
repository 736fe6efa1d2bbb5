/* kv/kvlog.c - the append-only, checksummed log of one kv store (format in kv/kvlog.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "kv/kvlog.h"

#define FRAME 8         /* u32 length + u32 crc */
#define PAYLOAD_HEAD 13 /* u8 kind + u64 version + u32 nops */
#define OP_HEAD 7       /* u8 type + u16 klen + u32 vlen */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i != 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i != 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

char *kvlog_encode(int kind, uint64_t version, const kv_op_t *ops, size_t n, size_t *len)
{
    size_t payload = PAYLOAD_HEAD;
    for (size_t i = 0; i != n; ++i)
        payload += OP_HEAD + ops[i].klen + (ops[i].del ? 0 : ops[i].vlen);
    unsigned char *buf = malloc(FRAME + payload), *p = buf + FRAME;
    if (buf == NULL)
        return NULL;
    *p++ = (unsigned char)kind;
    put64(p, version);
    put32(p + 8, (uint32_t)n);
    p += 12;
    for (size_t i = 0; i != n; ++i) {
        size_t vlen = ops[i].del ? 0 : ops[i].vlen;
        *p++ = ops[i].del ? KVLOG_OP_DELETE : KVLOG_OP_PUT;
        p[0] = (unsigned char)ops[i].klen;
        p[1] = (unsigned char)(ops[i].klen >> 8);
        put32(p + 2, (uint32_t)vlen);
        p += 6;
        memcpy(p, ops[i].key, ops[i].klen);
        p += ops[i].klen;
        if (vlen != 0)
            memcpy(p, ops[i].val, vlen);
        p += vlen;
    }
    put32(buf, (uint32_t)payload);
    put32(buf + 4, (uint32_t)crc32_z(0, buf + FRAME, payload));
    *len = FRAME + payload;
    return (char *)buf;
}

/* walks the ops of a payload: 1 and *pos advanced, 0 at the end, -1 when malformed */
static int next_op(const unsigned char *ops, size_t len, size_t *pos, kv_op_t *op)
{
    if (*pos == len)
        return 0;
    if (len - *pos < OP_HEAD)
        return -1;
    const unsigned char *p = ops + *pos;
    unsigned type = p[0];
    size_t klen = (size_t)p[1] | (size_t)p[2] << 8, vlen = get32(p + 3);
    if ((type != KVLOG_OP_PUT && type != KVLOG_OP_DELETE) || (type == KVLOG_OP_DELETE && vlen != 0) ||
        len - *pos - OP_HEAD < klen || len - *pos - OP_HEAD - klen < vlen)
        return -1;
    op->del = type == KVLOG_OP_DELETE;
    op->key = (const char *)p + OP_HEAD;
    op->klen = klen;
    op->val = (const char *)p + OP_HEAD + klen;
    op->vlen = vlen;
    *pos += OP_HEAD + klen + vlen;
    return 1;
}

size_t kvlog_parse(const char *buf, size_t len, kvlog_record_t *rec)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len < FRAME)
        return 0;
    uint64_t payload = get32(p);
    if (payload < PAYLOAD_HEAD || payload > KVLOG_MAX_PAYLOAD || payload > len - FRAME)
        return 0;
    if ((uint32_t)crc32_z(0, p + FRAME, (size_t)payload) != get32(p + 4))
        return 0;
    p += FRAME;
    rec->kind = p[0];
    rec->version = get64(p + 1);
    rec->nops = get32(p + 9);
    rec->ops = (const char *)p + PAYLOAD_HEAD;
    rec->ops_len = (size_t)payload - PAYLOAD_HEAD;
    if (rec->kind != KVLOG_CHANGES && rec->kind != KVLOG_FULL)
        return 0;
    size_t pos = 0, count = 0;
    kv_op_t op;
    int r;
    while ((r = next_op((const unsigned char *)rec->ops, rec->ops_len, &pos, &op)) == 1)
        ++count;
    if (r != 0 || count != rec->nops)
        return 0;
    return FRAME + (size_t)payload;
}

int kvlog_record_next(const kvlog_record_t *rec, size_t *pos, kv_op_t *op)
{
    return next_op((const unsigned char *)rec->ops, rec->ops_len, pos, op) == 1;
}

/* ---- the file ------------------------------------------------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s%s%s", path, what, errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
    return -1;
}

/* mkdir -p of path's directory (0700 for what it creates) */
static int make_parent(const char *path)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return -1;
    char *d = dirname(dir);
    for (char *s = d + 1; *s != '\0'; ++s) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(d, 0700) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    if (mkdir(d, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int write_all(int fd, const char *p, size_t len, off_t at)
{
    while (len != 0) {
        ssize_t w = pwrite(fd, p, len, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        at += w;
    }
    return 0;
}

static int read_whole(int fd, char **data, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    if ((uint64_t)st.st_size > KVLOG_MAX_PAYLOAD * 4) {
        errno = EFBIG;
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return -1;
    while (got != size) {
        ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* shorter than fstat said: read what is there */
        got += (size_t)r;
    }
    *data = buf;
    *len = got;
    return 0;
}

int kvlog_open(kvlog_t *log, const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    memset(log, 0, sizeof(*log));
    log->fd = -1;
    errno = 0;
    if (make_parent(path) != 0)
        return fail(err, errlen, path, "cannot create its directory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1)
        return fail(err, errlen, path, "cannot open");
    if (read_whole(fd, data, len) != 0) {
        fail(err, errlen, path, "cannot read");
        close(fd);
        return -1;
    }
    errno = 0;
    if (*len < KVLOG_HEADER_LEN && memcmp(*data, KVLOG_HEADER, *len) == 0) {
        /* new, or created by a start that died before the header was synced */
        if (ftruncate(fd, 0) != 0 || write_all(fd, KVLOG_HEADER, KVLOG_HEADER_LEN, 0) != 0 || fsync(fd) != 0 ||
            sync_dir(path) != 0) {
            fail(err, errlen, path, "cannot write");
            free(*data);
            close(fd);
            return -1;
        }
        free(*data);
        if ((*data = malloc(KVLOG_HEADER_LEN + 1)) == NULL) {
            close(fd);
            return fail(err, errlen, path, "out of memory");
        }
        memcpy(*data, KVLOG_HEADER, *len = KVLOG_HEADER_LEN);
    } else if (*len < KVLOG_HEADER_LEN || memcmp(*data, KVLOG_HEADER, KVLOG_HEADER_LEN) != 0) {
        fail(err, errlen, path, "not an edgehook kv log (its first bytes are not \"EDGEKV1\"); refusing to touch it");
        free(*data);
        close(fd);
        return -1;
    }
    log->fd = fd;
    log->path = strdup(path);
    log->size = *len;
    return 0;
}

int kvlog_truncate(kvlog_t *log, uint64_t size, char *err, size_t errlen)
{
    errno = 0;
    if (ftruncate(log->fd, (off_t)size) != 0 || fsync(log->fd) != 0)
        return fail(err, errlen, log->path, "cannot cut off the torn tail");
    log->size = size;
    return 0;
}

int kvlog_append(kvlog_t *log, const char *rec, size_t len, char *err, size_t errlen)
{
    errno = 0;
    if (write_all(log->fd, rec, len, (off_t)log->size) != 0 || fdatasync(log->fd) != 0) {
        int e = errno;
        if (ftruncate(log->fd, (off_t)log->size) == 0)
            (void)fdatasync(log->fd);
        errno = e;
        return fail(err, errlen, log->path, "cannot write");
    }
    log->size += len;
    return 0;
}

int kvlog_rewrite(kvlog_t *log, const char *rec, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    errno = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", log->path) >= (int)sizeof(tmp))
        return fail(err, errlen, log->path, "path too long");
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1)
        return fail(err, errlen, tmp, "cannot create");
    if (write_all(fd, KVLOG_HEADER, KVLOG_HEADER_LEN, 0) != 0 || write_all(fd, rec, len, KVLOG_HEADER_LEN) != 0 || fsync(fd) != 0 ||
        rename(tmp, log->path) != 0) {
        fail(err, errlen, tmp, "cannot write");
        close(fd);
        unlink(tmp);
        return -1;
    }
    (void)sync_dir(log->path); /* the rename is durable once the directory is; the old file stays valid until then */
    close(log->fd);
    log->fd = fd;
    log->size = KVLOG_HEADER_LEN + len;
    return 0;
}

void kvlog_close(kvlog_t *log)
{
    if (log->fd != -1)
        close(log->fd);
    free(log->path);
    log->fd = -1;
    log->path = NULL;
}
