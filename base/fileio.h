/* base/fileio.h - whole writes and reads on file descriptors, and syncing a directory: the loops every file owner (cache/disk,
 * base/reclog, store/fs, store/seed) needs around write(2), pwrite(2) and pread(2), which may move fewer bytes than asked or be
 * interrupted by a signal. Each returns 0 when every byte moved, -1 with errno set otherwise (EIO for a write of 0 bytes or a
 * read that met the end of the file). */
#ifndef EDGE_BASE_FILEIO_H
#define EDGE_BASE_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/** writes len bytes at the file's current offset */
int fileio_write_all(int fd, const void *buf, size_t len);
/** writes len bytes at offset off (the file's offset does not move) */
int fileio_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/** reads len bytes from offset off */
int fileio_pread_all(int fd, void *buf, size_t len, uint64_t off);
/** fsyncs the directory dir, so that names created, renamed or removed in it are durable */
int fileio_sync_dir(const char *dir);

#endif
