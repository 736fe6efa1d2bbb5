/* base/reclog.h - an append-only file of checksummed records, synced before a write is acknowledged (kv's log, the async queue).
 *
 * File:   a fixed header (e.g. "EDGEKV1\n"), then records.
 * Record: u32 payload length, u32 CRC-32 (zlib) of the payload, payload. Integers little-endian.
 *
 * reclog_append writes one record and fdatasyncs it before returning, so an acknowledged write survives kill -9 and power loss.
 * A record cut short by a crash (or damaged) fails its length or CRC check in reclog_unframe; the owner stops reading there and
 * cuts the file back with reclog_truncate, so a torn write is never read. Compaction (reclog_rewrite) writes the header and the
 * given records to FILE.tmp, syncs it, renames it over FILE and syncs the directory. The framing of the payload is the owner's. */
#ifndef EDGE_BASE_RECLOG_H
#define EDGE_BASE_RECLOG_H

#include <stddef.h>
#include <stdint.h>

#define RECLOG_FRAME 8 /* u32 length + u32 crc */

/** fills buf[0..RECLOG_FRAME) for the payload that follows it at buf + RECLOG_FRAME (payload_len bytes) */
void reclog_frame(char *buf, size_t payload_len);
/**
 * The record at buf[0..len): its total length (framing included) with *payload / *payload_len set, or 0 when there is no
 * whole, valid record there (too short, a length over max_payload or past the end, a CRC mismatch).
 */
size_t reclog_unframe(const char *buf, size_t len, uint64_t max_payload, const char **payload, size_t *payload_len);
/** little-endian helpers for the owners' payloads */
void reclog_put32(unsigned char *p, uint32_t v);
uint32_t reclog_get32(const unsigned char *p);
void reclog_put64(unsigned char *p, uint64_t v);
uint64_t reclog_get64(const unsigned char *p);

/** an open log file */
typedef struct reclog {
    int fd;
    char *path;
    uint64_t size; /* bytes of whole records (and the header): where the next record goes */
    const char *header;
    size_t header_len;
} reclog_t;

/**
 * Opens (creating it, and its directories, when missing) the log at path and reads it whole into *data (malloc'ed, *len bytes,
 * the header included). A file that is empty or holds only part of the header (a crash while it was created) is started afresh;
 * a file with another header is refused ("not WHAT (its first bytes are not "HEADER"); refusing to touch it"), and so is one
 * larger than max_size. header must outlive the log. 0, or -1 with `FILE: reason` in err.
 */
int reclog_open(reclog_t *log, const char *path, const char *header, const char *what, uint64_t max_size, char **data, size_t *len,
                char *err, size_t errlen);
/** cuts the file back to size bytes (a torn tail found at open) and syncs it; 0 or -1 with err */
int reclog_truncate(reclog_t *log, uint64_t size, char *err, size_t errlen);
/** appends framed records (len bytes) and syncs them (fdatasync); on failure the file is cut back to where it was: 0 or -1 */
int reclog_append(reclog_t *log, const char *rec, size_t len, char *err, size_t errlen);
/** compaction: replaces the file by the header and these framed records (FILE.tmp, fsync, rename, directory fsync); 0 or -1 */
int reclog_rewrite(reclog_t *log, const char *rec, size_t len, char *err, size_t errlen);
void reclog_close(reclog_t *log);

#endif
