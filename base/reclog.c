/* base/reclog.c - the append-only, checksummed record file (format in base/reclog.h). */
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
#include "base/fileio.h"
#include "base/reclog.h"

void reclog_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i != 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t reclog_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void reclog_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i != 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t reclog_get64(const unsigned char *p)
{
    return (uint64_t)reclog_get32(p) | (uint64_t)reclog_get32(p + 4) << 32;
}

void reclog_frame(char *buf, size_t payload_len)
{
    unsigned char *p = (unsigned char *)buf;
    reclog_put32(p, (uint32_t)payload_len);
    reclog_put32(p + 4, (uint32_t)crc32_z(0, p + RECLOG_FRAME, payload_len));
}

size_t reclog_unframe(const char *buf, size_t len, uint64_t max_payload, const char **payload, size_t *payload_len)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len < RECLOG_FRAME)
        return 0;
    uint64_t n = reclog_get32(p);
    if (n > max_payload || n > len - RECLOG_FRAME)
        return 0;
    if ((uint32_t)crc32_z(0, p + RECLOG_FRAME, (size_t)n) != reclog_get32(p + 4))
        return 0;
    *payload = buf + RECLOG_FRAME;
    *payload_len = (size_t)n;
    return RECLOG_FRAME + (size_t)n;
}

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

/* syncs the directory holding path */
static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    return fileio_sync_dir(dirname(dir));
}

static int read_whole(int fd, uint64_t max_size, char **data, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    if ((uint64_t)st.st_size > max_size) {
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

int reclog_open(reclog_t *log, const char *path, const char *header, const char *what, uint64_t max_size, char **data, size_t *len,
                char *err, size_t errlen)
{
    size_t hlen = strlen(header);
    memset(log, 0, sizeof(*log));
    log->fd = -1;
    errno = 0;
    if (make_parent(path) != 0)
        return fail(err, errlen, path, "cannot create its directory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1)
        return fail(err, errlen, path, "cannot open");
    if (read_whole(fd, max_size, data, len) != 0) {
        fail(err, errlen, path, "cannot read");
        close(fd);
        return -1;
    }
    errno = 0;
    if (*len < hlen && memcmp(*data, header, *len) == 0) {
        /* new, or created by a start that died before the header was synced */
        if (ftruncate(fd, 0) != 0 || fileio_pwrite_all(fd, header, hlen, 0) != 0 || fsync(fd) != 0 || sync_dir(path) != 0) {
            fail(err, errlen, path, "cannot write");
            free(*data);
            close(fd);
            return -1;
        }
        free(*data);
        if ((*data = malloc(hlen + 1)) == NULL) {
            close(fd);
            return fail(err, errlen, path, "out of memory");
        }
        memcpy(*data, header, *len = hlen);
    } else if (*len < hlen || memcmp(*data, header, hlen) != 0) {
        char why[160];
        snprintf(why, sizeof(why), "not %s (its first bytes are not \"%.*s\"); refusing to touch it", what,
                 (int)(hlen != 0 && header[hlen - 1] == '\n' ? hlen - 1 : hlen), header);
        fail(err, errlen, path, why);
        free(*data);
        close(fd);
        return -1;
    }
    log->fd = fd;
    log->path = strdup(path);
    log->size = *len;
    log->header = header;
    log->header_len = hlen;
    return 0;
}

int reclog_truncate(reclog_t *log, uint64_t size, char *err, size_t errlen)
{
    errno = 0;
    if (ftruncate(log->fd, (off_t)size) != 0 || fsync(log->fd) != 0)
        return fail(err, errlen, log->path, "cannot cut off the torn tail");
    log->size = size;
    return 0;
}

int reclog_append(reclog_t *log, const char *rec, size_t len, char *err, size_t errlen)
{
    errno = 0;
    if (fileio_pwrite_all(log->fd, rec, len, log->size) != 0 || fdatasync(log->fd) != 0) {
        int e = errno;
        if (ftruncate(log->fd, (off_t)log->size) == 0)
            (void)fdatasync(log->fd);
        errno = e;
        return fail(err, errlen, log->path, "cannot write");
    }
    log->size += len;
    return 0;
}

int reclog_rewrite(reclog_t *log, const char *rec, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    size_t hlen = log->header_len;
    const char *header = log->header;
    errno = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", log->path) >= (int)sizeof(tmp))
        return fail(err, errlen, log->path, "path too long");
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1)
        return fail(err, errlen, tmp, "cannot create");
    if (fileio_pwrite_all(fd, header, hlen, 0) != 0 || fileio_pwrite_all(fd, rec, len, hlen) != 0 || fsync(fd) != 0 ||
        rename(tmp, log->path) != 0) {
        fail(err, errlen, tmp, "cannot write");
        close(fd);
        unlink(tmp);
        return -1;
    }
    (void)sync_dir(log->path); /* the rename is durable once the directory is; the old file stays valid until then */
    close(log->fd);
    log->fd = fd;
    log->size = hlen + len;
    return 0;
}

void reclog_close(reclog_t *log)
{
    if (log->fd != -1)
        close(log->fd);
    free(log->path);
    log->fd = -1;
    log->path = NULL;
}
