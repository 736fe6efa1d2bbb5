/* base/fileio.c - see fileio.h */
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

enum { OP_WRITE, OP_PWRITE, OP_PREAD };

/* moves len bytes with one of the three calls, resuming after short counts and EINTR */
static int move_all(int op, int fd, char *p, size_t len, uint64_t off)
{
    while (len != 0) {
        ssize_t n = op == OP_WRITE    ? write(fd, p, len)
                    : op == OP_PWRITE ? pwrite(fd, p, len, (off_t)off)
                                      : pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* a write that took nothing, or the end of the file before len bytes */
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int fileio_write_all(int fd, const void *buf, size_t len)
{
    return move_all(OP_WRITE, fd, (char *)buf, len, 0);
}

int fileio_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    return move_all(OP_PWRITE, fd, (char *)buf, len, off);
}

int fileio_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    return move_all(OP_PREAD, fd, buf, len, off);
}

int fileio_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}
