/* kv/kvlog.h - the durable form of one kv store: an append-only log of checksummed records, compacted by write-then-rename.
 *
 * File:    "EDGEKV1\n" (8 bytes), then records.
 * Record:  base/reclog's: u32 payload length, u32 CRC-32 (zlib) of the payload, payload. Integers little-endian.
 * Payload: u8 kind (1 changes, 2 full content: the store becomes exactly its puts), u64 the store's version after it,
 *          u32 number of ops, ops.
 * Op:      u8 type (1 put, 2 delete), u16 key length, u32 value length (0 for a delete), key bytes, value bytes.
 *
 * A write is one record, appended and fdatasync'ed before it is acknowledged: a bulk write is all or nothing on disk too. A
 * record cut short by a crash (or otherwise damaged) fails its length or CRC check; reading stops there and the file is cut
 * back to the last whole record, so a torn write is never read. Compaction writes one full-content record to FILE.tmp, syncs
 * it, renames it over FILE and syncs the directory. */
#ifndef EDGE_KV_KVLOG_H
#define EDGE_KV_KVLOG_H

#include <stddef.h>
#include <stdint.h>
#include "base/reclog.h"
#include "kv/kv.h"

#define KVLOG_HEADER "EDGEKV1\n"
#define KVLOG_HEADER_LEN 8
enum { KVLOG_CHANGES = 1, KVLOG_FULL = 2 };
enum { KVLOG_OP_PUT = 1, KVLOG_OP_DELETE = 2 };
/** the largest payload a reader accepts (a full record of the largest store, with room for its framing) */
#define KVLOG_MAX_PAYLOAD (KV_LIMIT_MAX_BYTES + (uint64_t)KV_LIMIT_MAX_KEYS * 7 + 64)

/** a record parsed in place (its ops point into the buffer it was parsed from) */
typedef struct kvlog_record {
    int kind;
    uint64_t version;
    uint32_t nops;
    const char *ops; /* the encoded ops */
    size_t ops_len;
} kvlog_record_t;

/** encodes one record of ops into a malloc'ed buffer of *len bytes (deletes carry no value); NULL when out of memory */
char *kvlog_encode(int kind, uint64_t version, const kv_op_t *ops, size_t n, size_t *len);
/**
 * Parses the record at buf[0..len): its total length (framing included), or 0 when there is no whole, valid record there
 * (too short, a length past the end or over KVLOG_MAX_PAYLOAD, a CRC mismatch, an unknown kind or op, ops that do not fill the
 * payload exactly). A record it accepts can be walked with kvlog_record_next without further checks.
 */
size_t kvlog_parse(const char *buf, size_t len, kvlog_record_t *rec);
/** the op at *pos of a parsed record (start with *pos = 0): 1 and *pos advanced, or 0 after the last */
int kvlog_record_next(const kvlog_record_t *rec, size_t *pos, kv_op_t *op);

/** an open log file (base/reclog: framing, append + fdatasync, torn tails, write-then-rename compaction) */
typedef reclog_t kvlog_t;

/**
 * Opens (creating it, and its directory, when missing) the log at path and reads it whole into *data (malloc'ed, *len bytes,
 * the header included). A file that is empty or holds only part of the header (a crash while it was created) is started afresh.
 * A file with another header is refused. 0, or -1 with `FILE: reason` in err.
 */
int kvlog_open(kvlog_t *log, const char *path, char **data, size_t *len, char *err, size_t errlen);
/** cuts the file back to size bytes (a torn tail found at open) and syncs it; 0 or -1 with err */
int kvlog_truncate(kvlog_t *log, uint64_t size, char *err, size_t errlen);
/** appends one encoded record and syncs it (fdatasync); on failure the file is cut back to where it was: 0 or -1 with err */
int kvlog_append(kvlog_t *log, const char *rec, size_t len, char *err, size_t errlen);
/** compaction: replaces the file by the header and this one record (FILE.tmp, fsync, rename, directory fsync); 0 or -1 */
int kvlog_rewrite(kvlog_t *log, const char *rec, size_t len, char *err, size_t errlen);
void kvlog_close(kvlog_t *log);

#endif
