/* kv/kvlog.c - the append-only, checksummed log of one kv store (format in kv/kvlog.h). */
#include <stdlib.h>
#include <string.h>
#include "kv/kvlog.h"

#define FRAME RECLOG_FRAME
#define PAYLOAD_HEAD 13 /* u8 kind + u64 version + u32 nops */
#define OP_HEAD 7       /* u8 type + u16 klen + u32 vlen */

char *kvlog_encode(int kind, uint64_t version, const kv_op_t *ops, size_t n, size_t *len)
{
    size_t payload = PAYLOAD_HEAD;
    for (size_t i = 0; i != n; ++i)
        payload += OP_HEAD + ops[i].klen + (ops[i].del ? 0 : ops[i].vlen);
    unsigned char *buf = malloc(FRAME + payload), *p = buf + FRAME;
    if (buf == NULL)
        return NULL;
    *p++ = (unsigned char)kind;
    reclog_put64(p, version);
    reclog_put32(p + 8, (uint32_t)n);
    p += 12;
    for (size_t i = 0; i != n; ++i) {
        size_t vlen = ops[i].del ? 0 : ops[i].vlen;
        *p++ = ops[i].del ? KVLOG_OP_DELETE : KVLOG_OP_PUT;
        p[0] = (unsigned char)ops[i].klen;
        p[1] = (unsigned char)(ops[i].klen >> 8);
        reclog_put32(p + 2, (uint32_t)vlen);
        p += 6;
        memcpy(p, ops[i].key, ops[i].klen);
        p += ops[i].klen;
        if (vlen != 0)
            memcpy(p, ops[i].val, vlen);
        p += vlen;
    }
    reclog_frame((char *)buf, payload);
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
    size_t klen = (size_t)p[1] | (size_t)p[2] << 8, vlen = reclog_get32(p + 3);
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
    const char *body;
    size_t payload, total = reclog_unframe(buf, len, KVLOG_MAX_PAYLOAD, &body, &payload);
    if (total == 0 || payload < PAYLOAD_HEAD)
        return 0;
    const unsigned char *p = (const unsigned char *)body;
    rec->kind = p[0];
    rec->version = reclog_get64(p + 1);
    rec->nops = reclog_get32(p + 9);
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
    return total;
}

int kvlog_record_next(const kvlog_record_t *rec, size_t *pos, kv_op_t *op)
{
    return next_op((const unsigned char *)rec->ops, rec->ops_len, pos, op) == 1;
}

/* ---- the file: base/reclog ------------------------------------------------------------------------------------------- */

int kvlog_open(kvlog_t *log, const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    return reclog_open(log, path, KVLOG_HEADER, "an edgehook kv log", KVLOG_MAX_PAYLOAD * 4, data, len, err, errlen);
}

int kvlog_truncate(kvlog_t *log, uint64_t size, char *err, size_t errlen)
{
    return reclog_truncate(log, size, err, errlen);
}

int kvlog_append(kvlog_t *log, const char *rec, size_t len, char *err, size_t errlen)
{
    return reclog_append(log, rec, len, err, errlen);
}

int kvlog_rewrite(kvlog_t *log, const char *rec, size_t len, char *err, size_t errlen)
{
    return reclog_rewrite(log, rec, len, err, errlen);
}

void kvlog_close(kvlog_t *log)
{
    reclog_close(log);
}
