/* cache/disk.c - the disk tier (cache/disk.h).
 *
 * Layout of the directory:
 *   seg-NNNNNNNN   segment files, appended to one at a time; each holds records (head, key, metadata, block CRCs, body)
 *   index.log      the journal: one entry per record written (PUT), purged (DEL) or soft-purged (SOFT), appended after the
 *                  record's data; rewritten whole (index.tmp, then rename) when it holds mostly dead entries
 * Crash safety: checksummed records. A record is written first, its journal entry after; at start the journal is read
 * sequentially and stops at the first entry that fails its CRC (a torn append), and an entry whose record lies beyond its
 * segment's end is dropped. A record's head (with its key and metadata) carries a CRC-32 and so does each 64 KB block of its
 * body: what does not match is never served (a small object is checked whole before its head is published; a streamed one
 * block by block before each block is handed to readers). No fsync on the write path (a kill -9 loses nothing the kernel has;
 * a power loss may lose the last writes, never serve them torn); the journal and the open segment are synced at a clean stop.
 * Eviction: segments are reclaimed oldest first (a FIFO over the log); an entry read since it was written (freq > 0) is copied
 * forward into the open segment with one credit less - the reinsertion of S3-FIFO's main queue - the others are dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/fileio.h"
#include "cache/disk.h"
#include "cache/key.h"
#include "cache/policy.h"
#include "base/log.h"

#define REC_MAGIC 0x31444845u /* "EHD1" */
#define REC_FIXED 64
#define JNL_MAGIC 0x314a4845u /* "EHJ1" */
#define JNL_FIXED 48
#define LOAD_AHEAD 16 /* journal entries checked ahead of the one applied at start (prefetching) */
#define MAX_READERS 2
#define QUEUE_MAX_BYTES CACHE_DISK_QUEUE_MAX

enum { J_PUT = 1, J_DEL = 2, J_SOFT = 3 };
/* flags of a journal entry (its byte 9): JF_VARIANT - the entry is one variant of a Vary'd response (a PUT's extra starts with the
 * variant; a DEL's or SOFT's extra is the variant, 8 bytes). Journals written before variants have 0 there: no Vary. */
#define JF_VARIANT 1
/* variants of one URL (one cache key) the index keeps at most: one more drops the oldest (a client choosing header values must
 * not grow one hash chain without bound) */
#define MAX_VARIANTS 32
enum { JOB_STORE = 0, JOB_STREAM_BEGIN, JOB_STREAM_DATA, JOB_STREAM_END };

/* ---- little-endian helpers ------------------------------------------------------------------------------------------------ */

static void put32(char *p, uint32_t v)
{
    for (int i = 0; i != 4; ++i)
        p[i] = (char)(v >> (8 * i));
}
static void put64(char *p, uint64_t v)
{
    for (int i = 0; i != 8; ++i)
        p[i] = (char)(v >> (8 * i));
}
static uint32_t get32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i != 4; ++i)
        v |= (uint32_t)(uint8_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i != 8; ++i)
        v |= (uint64_t)(uint8_t)p[i] << (8 * i);
    return v;
}

/* CRC-32C (Castagnoli): the SSE 4.2 instruction where the CPU has it, a table otherwise; chained like zlib's crc32 (start
 * with 0). The crc32 instruction has a latency of 3 cycles and a throughput of 1 per cycle, so one dependency chain runs at a
 * third of what the unit can do: long buffers are cut in chunks of three equal lanes (A, B, C) whose CRCs run as three
 * independent chains in one loop and are then combined. The combination uses linearity: for the raw (not inverted) register,
 * crc(r, X‖Y) = shift_|Y|(crc(r, X)) ⊕ crc(0, Y), where shift_n(r) = crc(r, n zero bytes) = r·x^(8n) mod P is a linear map
 * on 32 bits, applied by four 256-entry tables built once at init from the images of the 32 unit vectors. Results are the
 * same as one chain, bit for bit (tests/unit/cache/test_disk.c compares against the bitwise definition). */
static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static int crc32c_hw;

/* lane lengths of the three-way loop (bytes, multiples of 8); a shift table set for each */
#define CRC_LANE_LONG 4096
#define CRC_LANE_SHORT 256
static uint32_t crc32c_shift_long[4][256], crc32c_shift_short[4][256];

static uint32_t crc32c_raw_table(uint32_t c, const uint8_t *p, size_t len)
{
    while (len-- != 0)
        c = crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

static void crc32c_build_shift(uint32_t tab[4][256], size_t n)
{
    uint32_t img[32];
    for (int bit = 0; bit != 32; ++bit) { /* r·x^(8n): the register fed n zero bytes */
        uint32_t c = (uint32_t)1 << bit;
        for (size_t i = 0; i != n; ++i)
            c = crc32c_table[c & 0xff] ^ (c >> 8);
        img[bit] = c;
    }
    for (int k = 0; k != 4; ++k)
        for (uint32_t b = 0; b != 256; ++b) {
            uint32_t v = 0;
            for (int j = 0; j != 8; ++j)
                if (b & (1u << j))
                    v ^= img[8 * k + j];
            tab[k][b] = v;
        }
}

static inline uint32_t crc32c_shift(uint32_t tab[4][256], uint32_t c)
{
    return tab[0][c & 0xff] ^ tab[1][(c >> 8) & 0xff] ^ tab[2][(c >> 16) & 0xff] ^ tab[3][c >> 24];
}

static void crc32c_init(void)
{
    for (uint32_t i = 0; i != 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k != 8; ++k)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc32c_table[i] = c;
    }
    crc32c_build_shift(crc32c_shift_long, CRC_LANE_LONG);
    crc32c_build_shift(crc32c_shift_short, CRC_LANE_SHORT);
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
/* three chains over lanes of `lane` bytes each, for as many whole 3·lane chunks as len holds; returns the raw register */
__attribute__((target("sse4.2"))) static uint64_t crc32c_sse42_3way(uint64_t c64, const uint8_t **pp, size_t *lenp, size_t lane,
                                                                    uint32_t tab[4][256])
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    for (; len >= 3 * lane; p += 3 * lane, len -= 3 * lane) {
        uint64_t a = c64, b = 0, c = 0;
        for (size_t i = 0; i != lane; i += 8) {
            uint64_t wa, wb, wc;
            memcpy(&wa, p + i, 8);
            memcpy(&wb, p + lane + i, 8);
            memcpy(&wc, p + 2 * lane + i, 8);
            a = __builtin_ia32_crc32di(a, wa);
            b = __builtin_ia32_crc32di(b, wb);
            c = __builtin_ia32_crc32di(c, wc);
        }
        c64 = crc32c_shift(tab, crc32c_shift(tab, (uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
    }
    *pp = p;
    *lenp = len;
    return c64;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c64 = c;
    while (len != 0 && ((uintptr_t)p & 7) != 0) {
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
        --len;
    }
    c64 = crc32c_sse42_3way(c64, &p, &len, CRC_LANE_LONG, crc32c_shift_long);
    c64 = crc32c_sse42_3way(c64, &p, &len, CRC_LANE_SHORT, crc32c_shift_short);
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
    }
    while (len-- != 0)
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
    return (uint32_t)c64;
}
#endif

uint32_t cache_disk_crc(uint32_t c, const void *data, size_t len)
{
    const uint8_t *p = data;
    pthread_once(&crc32c_once, crc32c_init);
#if defined(__x86_64__)
    if (crc32c_hw)
        return ~crc32c_sse42(~c, p, len);
#endif
    return ~crc32c_raw_table(~c, p, len);
}

static uint32_t crc(uint32_t c, const void *p, size_t len)
{
    return cache_disk_crc(c, p, len);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- a growable buffer ---------------------------------------------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    if ((b->p = realloc(b->p, cap)) == NULL)
        h2o_fatal("no memory");
    b->cap = cap;
}
static void buf_add(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n != 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void buf_u8(buf_t *b, uint8_t v)
{
    buf_add(b, &v, 1);
}
static void buf_u16(buf_t *b, uint16_t v)
{
    char x[2] = {(char)v, (char)(v >> 8)};
    buf_add(b, x, 2);
}
static void buf_u32(buf_t *b, uint32_t v)
{
    char x[4];
    put32(x, v);
    buf_add(b, x, 4);
}
static void buf_u64(buf_t *b, uint64_t v)
{
    char x[8];
    put64(x, v);
    buf_add(b, x, 8);
}
static void buf_str(buf_t *b, const char *p, size_t n)
{
    buf_u32(b, (uint32_t)n);
    buf_add(b, p, n);
}

/* a bounds-checked reader */
typedef struct cur {
    const char *p, *end;
    int bad;
} cur_t;

static const char *cur_take(cur_t *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const char *r = c->p;
    c->p += n;
    return r;
}
static uint8_t cur_u8(cur_t *c)
{
    const char *p = cur_take(c, 1);
    return p != NULL ? (uint8_t)*p : 0;
}
static uint16_t cur_u16(cur_t *c)
{
    const char *p = cur_take(c, 2);
    return p != NULL ? (uint16_t)((uint8_t)p[0] | (uint8_t)p[1] << 8) : 0;
}
static uint32_t cur_u32(cur_t *c)
{
    const char *p = cur_take(c, 4);
    return p != NULL ? get32(p) : 0;
}
static uint64_t cur_u64(cur_t *c)
{
    const char *p = cur_take(c, 8);
    return p != NULL ? get64(p) : 0;
}
static h2o_iovec_t cur_str(cur_t *c)
{
    uint32_t n = cur_u32(c);
    const char *p = cur_take(c, n);
    return p != NULL ? h2o_iovec_init(p, n) : h2o_iovec_init("", 0);
}

/* ---- the record format ---------------------------------------------------------------------------------------------------- */

static uint32_t num_blocks(uint64_t body_len)
{
    return (uint32_t)((body_len + CACHE_DISK_BLOCK - 1) / CACHE_DISK_BLOCK);
}

/* the head of a record: fixed part, key, metadata, block CRCs (crcs NULL: zeros, to be filled in later) */
static int encode_head(cache_obj_t *obj, uint64_t hash, uint64_t body_len, const uint32_t *crcs, char **head, size_t *head_len)
{
    buf_t meta = {NULL, 0, 0}, out = {NULL, 0, 0};
    uint32_t nblocks = num_blocks(body_len);
    size_t i;

    h2o_iovec_t key = cache_obj_key(obj), url = cache_obj_url(obj), vary_key = cache_obj_vary_key(obj);
    const h2o_iovec_t *vary_names = cache_obj_vary_names(obj), *tags;
    size_t num_tags;
    cache_decision_t dec;
    tags = cache_obj_tags(obj, &num_tags);
    if (key.len > UINT32_MAX / 2 || cache_obj_state(obj) == CACHE_OBJ_BUSY || num_tags > UINT16_MAX)
        return -1;
    if (obj->head == NULL)
        return -1;
    cache_obj_decision(obj, &dec);
    buf_str(&meta, obj->head, obj->head_len); /* status, reason and fields: the object's compact head as it is (cache/head.h) */
    buf_u16(&meta, obj->num_vary);
    buf_u16(&meta, (uint16_t)num_tags);
    buf_u64(&meta, (uint64_t)obj->content_length);
    buf_u64(&meta, (uint64_t)dec.response_time_ms);
    buf_u64(&meta, (uint64_t)dec.initial_age_ms);
    buf_u64(&meta, (uint64_t)dec.lifetime_ms);
    buf_u64(&meta, (uint64_t)dec.swr_ms);
    buf_u64(&meta, (uint64_t)dec.sie_ms);
    buf_u8(&meta, dec.no_cache);
    buf_u8(&meta, dec.must_revalidate);
    buf_u8(&meta, obj->response_hooked);
    buf_u8(&meta, 0);
    for (i = 0; i != obj->num_vary; ++i)
        buf_str(&meta, vary_names[i].base, vary_names[i].len);
    buf_str(&meta, vary_key.base, vary_key.len);
    for (i = 0; i != num_tags; ++i)
        buf_str(&meta, tags[i].base, tags[i].len);
    buf_str(&meta, url.base, url.len);

    buf_reserve(&out, REC_FIXED);
    memset(out.p, 0, REC_FIXED);
    out.len = REC_FIXED;
    put32(out.p, REC_MAGIC);
    put64(out.p + 8, hash);
    put32(out.p + 16, (uint32_t)key.len);
    put32(out.p + 20, (uint32_t)meta.len);
    put64(out.p + 24, body_len);
    put32(out.p + 32, nblocks);
    put64(out.p + 40, (uint64_t)now_ms());
    buf_add(&out, key.base, key.len);
    buf_add(&out, meta.p, meta.len);
    free(meta.p);
    for (uint32_t b = 0; b != nblocks; ++b)
        buf_u32(&out, crcs != NULL ? crcs[b] : 0);
    while (out.len % 8 != 0)
        buf_u8(&out, 0);
    put32(out.p + 4, crc(0, out.p + 8, out.len - 8));
    *head = out.p;
    *head_len = out.len;
    return 0;
}

/* the CRC-32 of each block of a body, which may lie across several of the object's segments */
static uint32_t *body_crcs(cache_obj_t *obj, uint64_t body_len)
{
    uint32_t nblocks = num_blocks(body_len);
    uint32_t *crcs = malloc(sizeof(uint32_t) * (nblocks + 1));
    cache_seg_t *s = cache_obj_body(obj)->first;
    size_t in_seg = 0;
    uint64_t left = body_len;
    if (crcs == NULL)
        h2o_fatal("no memory");
    for (uint32_t b = 0; b != nblocks; ++b) {
        uint32_t c = 0;
        size_t want = left < CACHE_DISK_BLOCK ? (size_t)left : CACHE_DISK_BLOCK;
        left -= want;
        while (want != 0) {
            if (s == NULL) {
                free(crcs);
                return NULL;
            }
            size_t n = s->len - in_seg < want ? s->len - in_seg : want;
            c = crc(c, cache_seg_data(s) + in_seg, n);
            in_seg += n;
            want -= n;
            if (in_seg == s->len) {
                s = s->next;
                in_seg = 0;
            }
        }
        crcs[b] = c;
    }
    return crcs;
}

int cache_disk_encode(cache_obj_t *obj, uint64_t hash, char **head, size_t *head_len)
{
    uint64_t body_len = cache_obj_avail(obj);
    uint32_t *crcs;
    if (cache_obj_state(obj) != CACHE_OBJ_COMPLETE || (crcs = body_crcs(obj, body_len)) == NULL)
        return -1;
    int r = encode_head(obj, hash, body_len, crcs, head, head_len);
    free(crcs);
    return r;
}

int cache_disk_parse_head(const char *buf, size_t len, cache_disk_record_t *rec, size_t *need)
{
    if (len < REC_FIXED)
        return -1;
    if (get32(buf) != REC_MAGIC || get32(buf + 36) != 0)
        return -1;
    uint64_t key_len = get32(buf + 16), meta_len = get32(buf + 20), body_len = get64(buf + 24), nblocks = get32(buf + 32);
    if (nblocks != num_blocks(body_len) || body_len > (1ull << 40))
        return -1;
    uint64_t head_len = REC_FIXED + key_len + meta_len + 4 * nblocks;
    head_len = (head_len + 7) & ~(uint64_t)7;
    if (head_len > (64u << 20))
        return -1;
    if (head_len > len) {
        *need = (size_t)head_len;
        return 1;
    }
    if (get32(buf + 4) != crc(0, buf + 8, (size_t)head_len - 8))
        return -1;
    rec->hash = get64(buf + 8);
    rec->body_len = body_len;
    rec->key = h2o_iovec_init(buf + REC_FIXED, (size_t)key_len);
    rec->meta = buf + REC_FIXED + key_len;
    rec->meta_len = (size_t)meta_len;
    rec->crcs = (const uint8_t *)(rec->meta + meta_len);
    rec->nblocks = (uint32_t)nblocks;
    rec->head_len = (size_t)head_len;
    return 0;
}

int cache_disk_check_block(const cache_disk_record_t *rec, uint32_t i, const char *data, size_t len)
{
    if (i >= rec->nblocks)
        return -1;
    uint64_t start = (uint64_t)i * CACHE_DISK_BLOCK, want = rec->body_len - start < CACHE_DISK_BLOCK ? rec->body_len - start : CACHE_DISK_BLOCK;
    if (len != want)
        return -1;
    return get32((const char *)rec->crcs + 4 * i) == crc(0, data, len) ? 0 : -1;
}

int cache_disk_apply_meta(const cache_disk_record_t *rec, cache_obj_t *obj, int transient)
{
    cur_t c = {rec->meta, rec->meta + rec->meta_len, 0};
    h2o_iovec_t blob = cur_str(&c);
    uint16_t num_vary = cur_u16(&c), num_tags = cur_u16(&c);
    int64_t content_length = (int64_t)cur_u64(&c);
    cache_decision_t d;
    const char *why;
    memset(&d, 0, sizeof(d));
    d.storable = 1;
    d.response_time_ms = (int64_t)cur_u64(&c);
    d.request_time_ms = d.response_time_ms;
    d.initial_age_ms = (int64_t)cur_u64(&c);
    d.lifetime_ms = (int64_t)cur_u64(&c);
    d.swr_ms = (int64_t)cur_u64(&c);
    d.sie_ms = (int64_t)cur_u64(&c);
    d.no_cache = cur_u8(&c) != 0;
    d.must_revalidate = cur_u8(&c) != 0;
    int hooked = cur_u8(&c) != 0;
    cur_u8(&c);
    if (c.bad || (uint64_t)content_length != rec->body_len || cache_head_check(blob.base, blob.len, &why) != 0)
        return -1;
    h2o_iovec_t *vt = calloc((size_t)num_vary + num_tags + 1, sizeof(*vt));
    if (vt == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != num_vary; ++i)
        vt[i] = cur_str(&c);
    vt[num_vary + num_tags] = cur_str(&c); /* the secondary key, kept aside */
    for (size_t i = 0; i != num_tags; ++i)
        vt[num_vary + i] = cur_str(&c);
    cur_str(&c); /* the URL (the index keeps it for purges) */
    if (c.bad || c.p != c.end) {
        free(vt);
        return -1;
    }
    cache_head_view_t v;
    h2o_mem_pool_t pool;
    cache_head_open(blob.base, blob.len, &v);
    h2o_mem_init_pool(&pool);
    h2o_header_t *headers = h2o_mem_alloc_pool(&pool, sizeof(*headers) * (v.num_headers + 1));
    cache_head_decode(&v, &pool, headers);
    cache_obj_set_decision(obj, &d);
    obj->response_hooked = hooked;
    cache_obj_set_meta(obj, vt, num_vary, vt[num_vary + num_tags], vt + num_vary, num_tags);
    if (transient)
        cache_obj_make_transient(obj, NULL);
    cache_obj_set_head(obj, v.status, v.reason, headers, v.num_headers, v.num_plain, content_length, 0);
    h2o_mem_clear_pool(&pool);
    free(vt);
    return 0;
}

/* ---- the tier ------------------------------------------------------------------------------------------------------------- */

typedef struct seg {
    uint32_t id;
    int fd;
    _Atomic uint32_t refs; /* the list's, and each read in progress */
    uint64_t size;         /* bytes appended (guarded by the tier's lock) */
    const char *map;       /* the file mapped read-only, map_len bytes (NULL: not mapped, reads use pread) */
    size_t map_len;
    h2o_linklist_t entries;
    struct seg *next; /* oldest first */
} seg_t;

typedef struct dentry {
    struct dentry *hnext;
    h2o_linklist_t seglink;
    seg_t *seg;
    uint64_t hash, off, len;
    int64_t expires_ms;
    uint8_t freq;
    uint8_t soft : 1;     /* soft-purged: stale */
    uint8_t in_chunk : 1; /* allocated in a load chunk (see entry_free) */
    uint8_t verified : 1; /* every body block of the record passed its CRC in a read by this process (see verify_done) */
    uint8_t varied : 1;   /* one variant of a Vary'd response: extra starts with its variant and ends with the Vary names */
    uint32_t extra_len;   /* [variant (8 bytes)], url, tags (a u32 count, then each), [Vary names (a u16 count, then each)];
                             strings are a u32 length and the bytes */
    char extra[];
} dentry_t;

typedef struct job {
    struct job *next;
    int kind; /* JOB_* */
    struct cache_disk_stream *stream;
    char *data; /* JOB_STREAM_DATA */
    size_t len;
    cache_obj_t *obj;
    uint64_t bytes;
    /* a streamed read in progress */
    seg_t *seg;
    uint64_t off, pos;
    char *head;
    cache_disk_record_t rec;
    const char *map; /* the record in its segment's mapping (NULL: read with pread) */
    uint64_t not_before_us;
    int started;
    int verified;     /* the entry said its body's blocks were checked already: they are not checked again */
    uint64_t hash;    /* the disk index's hash of the object's key */
    uint64_t variant; /* which of the key's entries (variant_of) */
} job_t;

typedef struct queue {
    job_t *first, **tail;
    uint64_t bytes, max_bytes;
    size_t count;
} queue_t;

struct cache_disk {
    char *path;
    uint64_t capacity, seg_size, promote_max;
    cache_mem_t *mem;

    pthread_mutex_t lock; /* the index, the segments */
    dentry_t **buckets;
    size_t num_buckets, count;
    seg_t *oldest, *active;
    uint64_t bytes;
    uint32_t next_seg_id;

    pthread_mutex_t jlock; /* the journal (taken before lock) */
    int jfd;
    uint64_t jbytes;
    uint64_t extra_bytes; /* of the live entries: what a rewritten journal would hold (with JNL_FIXED + 8 each) */

    pthread_mutex_t qlock; /* the queues */
    pthread_cond_t wcond, rcond, idle;
    queue_t wq, rq, parked;
    int writing, stopping;
    pthread_t writer, readers[MAX_READERS];

    unsigned char seed[16]; /* the key of the index's hash (SipHash), kept in the directory: the same across restarts */
    _Atomic uint64_t hits, writes, write_bytes, evictions, reinserted, corrupt, dropped, verified_hits;
    uint64_t load_us, load_entries;
};

static void q_init(queue_t *q)
{
    q->first = NULL;
    q->tail = &q->first;
    q->bytes = 0;
    q->max_bytes = 0;
    q->count = 0;
}
static void q_push(queue_t *q, job_t *j)
{
    j->next = NULL;
    *q->tail = j;
    q->tail = &j->next;
    q->bytes += j->bytes;
    if (q->bytes > q->max_bytes)
        q->max_bytes = q->bytes;
    ++q->count;
}
static job_t *q_pop(queue_t *q)
{
    job_t *j = q->first;
    if (j != NULL) {
        if ((q->first = j->next) == NULL)
            q->tail = &q->first;
        q->bytes -= j->bytes;
        --q->count;
    }
    return j;
}

static void seg_release(seg_t *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        if (s->map != NULL)
            munmap((void *)s->map, s->map_len);
        close(s->fd);
        free(s);
    }
}

/* the release of an external body segment pointing into a mapped segment file */
static void seg_release_cb(void *ctx)
{
    seg_release(ctx);
}

/* maps a segment file read-only, shared, for at least len bytes (past its end is allowed: only bytes of records already written
 * are ever touched, and nothing in edgehook truncates a segment file while it runs). Without a mapping reads use pread. */
static void seg_map(seg_t *s, uint64_t len)
{
    void *m = len != 0 ? mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, s->fd, 0) : MAP_FAILED;
    if (m != MAP_FAILED) {
        s->map = m;
        s->map_len = (size_t)len;
    }
}

static void seg_name(cache_disk_t *d, uint32_t id, char *out, size_t len)
{
    snprintf(out, len, "%s/seg-%08" PRIu32, d->path, id);
}


/* the index's hash of a cache key: keyed (clients cannot aim keys at one chain) and stable across restarts */
static uint64_t disk_hash(cache_disk_t *d, h2o_iovec_t key)
{
    return cache_key_siphash24(d->seed, key.base, key.len);
}

/* reads the hash key from DIR/seed, or draws one and writes it (write-then-rename: never a torn seed) */
static int load_seed(cache_disk_t *d, char *err, size_t errlen)
{
    char name[4096], tmp[4096];
    snprintf(name, sizeof(name), "%s/seed", d->path);
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        int ok = fileio_pread_all(fd, (char *)d->seed, sizeof(d->seed), 0) == 0;
        close(fd);
        if (ok)
            return 0;
    }
    if (getrandom(d->seed, sizeof(d->seed), 0) != (ssize_t)sizeof(d->seed)) {
        snprintf(err, errlen, "no random bytes for the index's hash key");
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s/seed.tmp", d->path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        fileio_pwrite_all(fd, (const char *)d->seed, sizeof(d->seed), 0) != 0 || fsync(fd) != 0 || rename(tmp, name) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    /* a new key: entries hashed under an old one (a lost seed file) can never be found; the journal starts again */
    snprintf(name, sizeof(name), "%s/index.log", d->path);
    unlink(name);
    return 0;
}

/* Entries loaded at start are carved out of 1MB chunks aligned on their size (one malloc per chunk, not per entry: a million
 * allocations less at start, and their frees at the stop); a chunk counts its live entries and goes with the last of them (and
 * the loader's own reference, dropped when it moves on to the next chunk). Entries are freed under the index lock or alone. */
#define LOAD_CHUNK ((size_t)1 << 20)
#define LOAD_CHUNK_FIRST 64 /* where the first entry of a chunk starts (after its count) */

typedef struct load_chunk {
    _Atomic uint32_t live;
} load_chunk_t;

static void chunk_release(load_chunk_t *c)
{
    if (atomic_fetch_sub(&c->live, 1) == 1)
        free(c);
}

static void entry_free(dentry_t *e)
{
    if (e->in_chunk)
        chunk_release((load_chunk_t *)((uintptr_t)e & ~(uintptr_t)(LOAD_CHUNK - 1)));
    else
        free(e);
}

/* an entry of `size` bytes for the load (zeroed), from the current chunk *cur (a new one when it is full) */
static dentry_t *load_alloc(load_chunk_t **cur, size_t *used, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > LOAD_CHUNK - LOAD_CHUNK_FIRST) {
        dentry_t *e = calloc(1, size);
        if (e == NULL)
            h2o_fatal("no memory");
        return e;
    }
    if (*cur == NULL || *used + size > LOAD_CHUNK) {
        if (*cur != NULL)
            chunk_release(*cur);
        if ((*cur = aligned_alloc(LOAD_CHUNK, LOAD_CHUNK)) == NULL)
            h2o_fatal("no memory");
        atomic_init(&(*cur)->live, 1);
        *used = LOAD_CHUNK_FIRST;
    }
    dentry_t *e = (dentry_t *)((char *)*cur + *used);
    *used += size;
    atomic_fetch_add(&(*cur)->live, 1);
    memset(e, 0, sizeof(*e));
    e->in_chunk = 1;
    return e;
}

/* ---- the index (d->lock held) --------------------------------------------------------------------------------------------- */

static dentry_t **bucket_of(cache_disk_t *d, uint64_t hash)
{
    return &d->buckets[(hash ^ (hash >> 29)) & (d->num_buckets - 1)];
}

/* an entry's variant: 0 without Vary */
static uint64_t entry_variant(const dentry_t *e)
{
    return e->varied ? get64(e->extra) : 0;
}

/* a cursor over an entry's url and tags */
static cur_t entry_cur(const dentry_t *e)
{
    size_t skip = e->varied ? 8 : 0;
    return (cur_t){e->extra + skip, e->extra + e->extra_len, 0};
}

/* the Vary names of an entry as stored (a u16 count, then each): empty without Vary. All the entries of one key share them. */
static h2o_iovec_t entry_names(const dentry_t *e)
{
    if (!e->varied)
        return h2o_iovec_init("", 0);
    cur_t c = entry_cur(e);
    cur_str(&c);
    for (uint32_t n = cur_u32(&c), i = 0; i != n && !c.bad; ++i)
        cur_str(&c);
    return c.bad ? h2o_iovec_init("", 0) : h2o_iovec_init(c.p, (size_t)(c.end - c.p));
}

static dentry_t *find_locked(cache_disk_t *d, uint64_t hash, uint64_t variant)
{
    for (dentry_t *e = *bucket_of(d, hash); e != NULL; e = e->hnext)
        if (e->hash == hash && entry_variant(e) == variant)
            return e;
    return NULL;
}

static void grow_locked(cache_disk_t *d)
{
    size_t n = d->num_buckets * 2;
    dentry_t **b = calloc(n, sizeof(*b)), **old = d->buckets;
    size_t oldn = d->num_buckets;
    if (b == NULL)
        return;
    d->buckets = b;
    d->num_buckets = n;
    for (size_t i = 0; i != oldn; ++i) {
        for (dentry_t *e = old[i], *next; e != NULL; e = next) {
            next = e->hnext;
            dentry_t **p = bucket_of(d, e->hash);
            e->hnext = *p;
            *p = e;
        }
    }
    free(old);
}

static void unlink_locked(cache_disk_t *d, dentry_t *e)
{
    dentry_t **p = bucket_of(d, e->hash);
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    h2o_linklist_unlink(&e->seglink);
    --d->count;
    d->extra_bytes -= e->extra_len;
}

static void jdel(buf_t *b, int type, uint64_t hash, int varied, uint64_t variant);

/* the entry another one of the same key displaces: the same variant (replaced), or one stored under other Vary names (the origin
 * changed its Vary: a lookup asks with the new names); with `cap`, the last (the oldest inserted, as a rule) of MAX_VARIANTS */
static dentry_t *displaced_locked(cache_disk_t *d, dentry_t *e, int cap)
{
    uint64_t variant = entry_variant(e);
    h2o_iovec_t names = entry_names(e);
    dentry_t *last = NULL;
    size_t same = 0;
    for (dentry_t *o = *bucket_of(d, e->hash); o != NULL; o = o->hnext) {
        if (o == e || o->hash != e->hash)
            continue;
        h2o_iovec_t on = entry_names(o);
        if (entry_variant(o) == variant || !h2o_memis(on.base, on.len, names.base, names.len))
            return o;
        ++same;
        last = o;
    }
    return cap && same >= MAX_VARIANTS ? last : NULL;
}

/* (index lock held, and jlock except while loading: cache_disk_purge counts on the buckets not growing under jlock). `drops`
 * (NULL while loading) gets a DEL for each other variant the entry displaces, so that a replay of the journal does too. */
static void insert_locked(cache_disk_t *d, dentry_t *e, buf_t *drops)
{
    for (dentry_t *old; (old = displaced_locked(d, e, drops != NULL)) != NULL;) {
        if (drops != NULL && entry_variant(old) != entry_variant(e))
            jdel(drops, J_DEL, old->hash, old->varied, entry_variant(old));
        unlink_locked(d, old);
        entry_free(old);
    }
    dentry_t **p = bucket_of(d, e->hash);
    e->hnext = *p;
    *p = e;
    h2o_linklist_insert(&e->seg->entries, &e->seglink);
    d->extra_bytes += e->extra_len;
    if (++d->count > d->num_buckets)
        grow_locked(d);
}

static seg_t *seg_of_id_locked(cache_disk_t *d, uint32_t id)
{
    for (seg_t *s = d->oldest; s != NULL; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

/* ---- the journal ---------------------------------------------------------------------------------------------------------- */

static void jentry(buf_t *b, int type, uint64_t hash, int flags, uint32_t seg, uint64_t off, uint64_t len, int64_t expires,
                   const char *extra, uint32_t extra_len)
{
    uint32_t xl = type == J_PUT ? 8 + extra_len : extra_len;
    size_t at = b->len;
    buf_reserve(b, JNL_FIXED + xl);
    char *p = b->p + at;
    memset(p, 0, JNL_FIXED);
    put32(p, JNL_MAGIC);
    p[8] = (char)type;
    p[9] = (char)flags;
    put32(p + 12, xl);
    put64(p + 16, hash);
    put32(p + 24, seg);
    put64(p + 32, off);
    put64(p + 40, len);
    if (type == J_PUT) {
        put64(p + JNL_FIXED, (uint64_t)expires);
        if (extra_len != 0)
            memcpy(p + JNL_FIXED + 8, extra, extra_len);
    } else if (extra_len != 0) {
        memcpy(p + JNL_FIXED, extra, extra_len);
    }
    b->len += JNL_FIXED + xl;
    put32(p + 4, crc(0, p + 8, JNL_FIXED - 8 + xl));
}

/* a DEL or SOFT entry: the key's entry without Vary, or (varied) its variant */
static void jdel(buf_t *b, int type, uint64_t hash, int varied, uint64_t variant)
{
    char v[8];
    put64(v, variant);
    jentry(b, type, hash, varied ? JF_VARIANT : 0, 0, 0, 0, 0, v, varied ? 8 : 0);
}

/* appends to the journal (jlock held) */
static void jwrite_locked(cache_disk_t *d, const buf_t *b)
{
    size_t done = 0;
    while (done < b->len) {
        ssize_t n = write(d->jfd, b->p + done, b->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_error("cache.disk: cannot write %s/index.log: %s", d->path, strerror(errno));
            return;
        }
        done += (size_t)n;
    }
    d->jbytes += b->len;
}

/* the extra of a PUT entry: expires (8 bytes), url and tags */
static void put_entry_locked(buf_t *b, const dentry_t *e)
{
    jentry(b, J_PUT, e->hash, e->varied ? JF_VARIANT : 0, e->seg->id, e->off, e->len, e->expires_ms, e->extra, e->extra_len);
}

/* the size of the journal if it were rewritten now */
static uint64_t live_journal_bytes(cache_disk_t *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t n = (uint64_t)d->count * (JNL_FIXED + 8) + d->extra_bytes;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* rewrites the journal from the index when it holds mostly dead entries (jlock held) */
static void compact_journal_locked(cache_disk_t *d)
{
    char tmp[4096], final[4096];
    buf_t b = {NULL, 0, 0};
    snprintf(tmp, sizeof(tmp), "%s/index.tmp", d->path);
    snprintf(final, sizeof(final), "%s/index.log", d->path);
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i != d->num_buckets; ++i)
        for (dentry_t *e = d->buckets[i]; e != NULL; e = e->hnext) {
            put_entry_locked(&b, e);
            if (e->soft)
                jdel(&b, J_SOFT, e->hash, e->varied, entry_variant(e));
        }
    pthread_mutex_unlock(&d->lock);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(b.p);
        return;
    }
    size_t done = 0;
    while (done < b.len) {
        ssize_t n = write(fd, b.p + done, b.len - done);
        if (n <= 0 && errno != EINTR)
            break;
        if (n > 0)
            done += (size_t)n;
    }
    if (done != b.len || fdatasync(fd) != 0 || rename(tmp, final) != 0) {
        close(fd);
        unlink(tmp);
        free(b.p);
        return;
    }
    close(d->jfd);
    d->jfd = open(final, O_WRONLY | O_APPEND | O_CLOEXEC);
    d->jbytes = b.len;
    free(b.p);
}

/* ---- writing -------------------------------------------------------------------------------------------------------------- */

/* opens a new active segment (writer thread; lock held) */
static int roll_locked(cache_disk_t *d)
{
    char name[4096];
    seg_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->id = d->next_seg_id++;
    seg_name(d, s->id, name, sizeof(name));
    if ((s->fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        log_error("cache.disk: cannot create %s: %s", name, strerror(errno));
        free(s);
        return -1;
    }
    atomic_init(&s->refs, 1);
    seg_map(s, d->seg_size);
    h2o_linklist_init_anchor(&s->entries);
    if (d->active != NULL)
        d->active->next = s;
    else
        d->oldest = s;
    d->active = s;
    return 0;
}

/* reclaims the oldest segment: entries read since written move forward (reinsertion), the others go (writer thread) */
static void reclaim_oldest(cache_disk_t *d)
{
    typedef struct {
        uint64_t hash, variant, off, len;
    } keep_t;
    keep_t *keep = NULL;
    size_t nkeep = 0, cap = 0;
    uint64_t budget;
    int64_t now = now_ms();
    char name[4096];

    pthread_mutex_lock(&d->lock);
    seg_t *s = d->oldest;
    if (s == NULL || s == d->active) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    budget = d->seg_size / 2;
    for (h2o_linklist_t *l = s->entries.next; l != &s->entries; l = l->next) {
        dentry_t *e = H2O_STRUCT_FROM_MEMBER(dentry_t, seglink, l);
        if (e->freq > 0 && !e->soft && e->expires_ms > now && e->len <= budget) {
            if (nkeep == cap && (keep = realloc(keep, (cap = cap ? cap * 2 : 64) * sizeof(*keep))) == NULL)
                h2o_fatal("no memory");
            keep[nkeep++] = (keep_t){e->hash, entry_variant(e), e->off, e->len};
            budget -= e->len;
        }
    }
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&d->lock);

    /* copy the kept records forward (a record does not depend on where it lies) */
    for (size_t i = 0; i != nkeep; ++i) {
        char *rec = malloc(keep[i].len);
        if (rec == NULL || fileio_pread_all(s->fd, rec, keep[i].len, keep[i].off) != 0) {
            free(rec);
            continue;
        }
        /* room in the open segment under the lock, the copy written without it (lookups on the event loops take the lock: a
         * record can be half a segment), the entry moved under it again if it is still that record. Only this thread appends
         * to segments, so the room stays ours. */
        pthread_mutex_lock(&d->lock);
        dentry_t *e = find_locked(d, keep[i].hash, keep[i].variant);
        if (e == NULL || e->seg != s || e->off != keep[i].off ||
            (d->active->size + keep[i].len > d->seg_size && roll_locked(d) != 0)) {
            pthread_mutex_unlock(&d->lock);
            free(rec);
            continue;
        }
        seg_t *a = d->active;
        atomic_fetch_add(&a->refs, 1);
        uint64_t off = a->size;
        a->size += keep[i].len;
        d->bytes += keep[i].len;
        pthread_mutex_unlock(&d->lock);
        int written = fileio_pwrite_all(a->fd, rec, keep[i].len, off) == 0;
        free(rec);
        pthread_mutex_lock(&d->jlock);
        pthread_mutex_lock(&d->lock);
        e = find_locked(d, keep[i].hash, keep[i].variant);
        if (written && e != NULL && e->seg == s && e->off == keep[i].off) {
            h2o_linklist_unlink(&e->seglink);
            e->seg = a;
            e->off = off;
            e->freq--;
            h2o_linklist_insert(&a->entries, &e->seglink);
            buf_t b = {NULL, 0, 0};
            put_entry_locked(&b, e);
            pthread_mutex_unlock(&d->lock);
            jwrite_locked(d, &b);
            free(b.p);
            atomic_fetch_add(&d->reinserted, 1);
        } else {
            pthread_mutex_unlock(&d->lock);
        }
        pthread_mutex_unlock(&d->jlock);
        seg_release(a);
    }
    free(keep);

    /* what is left in the segment goes, and the segment with it */
    pthread_mutex_lock(&d->lock);
    while (!h2o_linklist_is_empty(&s->entries)) {
        dentry_t *e = H2O_STRUCT_FROM_MEMBER(dentry_t, seglink, s->entries.next);
        unlink_locked(d, e);
        entry_free(e);
        atomic_fetch_add(&d->evictions, 1);
    }
    d->oldest = s->next;
    d->bytes -= s->size;
    seg_name(d, s->id, name, sizeof(name));
    unlink(name);
    pthread_mutex_unlock(&d->lock);
    seg_release(s); /* the list's */
    seg_release(s); /* ours */
}

/* which variant of its key a stored object is: 0 without Vary, else the keyed hash of its secondary key (the Vary'd request
 * headers' values, cache_vary_key), never 0 */
static uint64_t variant_of(cache_disk_t *d, cache_obj_t *obj)
{
    if (obj->num_vary == 0)
        return 0;
    h2o_iovec_t vk = cache_obj_vary_key(obj);
    uint64_t v = cache_key_siphash24(d->seed, vk.base, vk.len);
    return v != 0 ? v : 1;
}

/* the extra of an index entry (see dentry_t): the object's variant, url, tags and Vary names */
static char *entry_extra(cache_disk_t *d, cache_obj_t *obj, uint32_t *len)
{
    buf_t b = {NULL, 0, 0};
    h2o_iovec_t url = cache_obj_url(obj);
    size_t num_tags;
    const h2o_iovec_t *tags = cache_obj_tags(obj, &num_tags), *names = cache_obj_vary_names(obj);
    if (obj->num_vary != 0)
        buf_u64(&b, variant_of(d, obj));
    buf_str(&b, url.base, url.len);
    buf_u32(&b, (uint32_t)num_tags);
    for (size_t i = 0; i != num_tags; ++i)
        buf_str(&b, tags[i].base, tags[i].len);
    if (obj->num_vary != 0) {
        buf_u16(&b, obj->num_vary);
        for (size_t i = 0; i != obj->num_vary; ++i)
            buf_str(&b, names[i].base, names[i].len);
    }
    *len = (uint32_t)b.len;
    return b.p;
}

/* room for len bytes: a new segment when the open one is full, the oldest ones reclaimed while the tier would exceed its size
 * (writer thread). *seg gets a reference. */
static int reserve(cache_disk_t *d, uint64_t len, seg_t **seg, uint64_t *off)
{
    for (;;) {
        pthread_mutex_lock(&d->lock);
        int full = d->bytes + len > d->capacity && d->oldest != d->active;
        pthread_mutex_unlock(&d->lock);
        if (!full)
            break;
        reclaim_oldest(d);
    }
    pthread_mutex_lock(&d->lock);
    if ((d->active == NULL || d->active->size + len > d->seg_size) && roll_locked(d) != 0) {
        pthread_mutex_unlock(&d->lock);
        return -1;
    }
    *seg = d->active;
    atomic_fetch_add(&d->active->refs, 1);
    *off = d->active->size;
    d->active->size += len;
    d->bytes += len;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

/* adds the index entry of a record written at (seg, off), and its journal entry (writer thread); 0, or -1 when the segment was
 * reclaimed meanwhile */
static int publish_entry(cache_disk_t *d, cache_obj_t *obj, uint64_t hash, seg_t *seg, uint64_t off, uint64_t len, int64_t expires)
{
    uint32_t extra_len;
    char *extra = entry_extra(d, obj, &extra_len);
    dentry_t *e = malloc(sizeof(*e) + extra_len);
    if (e == NULL)
        h2o_fatal("no memory");
    memset(e, 0, sizeof(*e));
    e->varied = obj->num_vary != 0;
    e->hash = hash;
    e->off = off;
    e->len = len;
    e->expires_ms = expires;
    e->extra_len = extra_len;
    memcpy(e->extra, extra, extra_len);
    free(extra);
    buf_t b = {NULL, 0, 0};
    pthread_mutex_lock(&d->jlock);
    pthread_mutex_lock(&d->lock);
    if (seg_of_id_locked(d, seg->id) != seg) {
        pthread_mutex_unlock(&d->lock);
        pthread_mutex_unlock(&d->jlock);
        entry_free(e);
        return -1;
    }
    e->seg = seg;
    insert_locked(d, e, &b);
    put_entry_locked(&b, e);
    pthread_mutex_unlock(&d->lock);
    jwrite_locked(d, &b);
    if (d->jbytes > 2 * (live_journal_bytes(d) + (4u << 20)))
        compact_journal_locked(d);
    pthread_mutex_unlock(&d->jlock);
    free(b.p);
    atomic_fetch_add(&d->writes, 1);
    atomic_fetch_add(&d->write_bytes, len);
    return 0;
}

static void write_object(cache_disk_t *d, cache_obj_t *obj)
{
    uint64_t hash = disk_hash(d, cache_obj_key(obj));
    char *head = NULL;
    size_t head_len;
    cache_decision_t dec;
    int64_t now = now_ms(), ttl;

    cache_obj_decision(obj, &dec);
    ttl = cache_policy_ttl(&dec, now);
    if (ttl <= 0 || atomic_load(&obj->invalidated) || cache_disk_encode(obj, hash, &head, &head_len) != 0) {
        atomic_fetch_add(&d->dropped, 1);
        return;
    }
    uint64_t body_len = cache_obj_avail(obj), len = head_len + body_len;
    if (len > d->seg_size) {
        atomic_fetch_add(&d->dropped, 1);
        free(head);
        return;
    }
    seg_t *a;
    uint64_t off;
    if (reserve(d, len, &a, &off) != 0) {
        free(head);
        atomic_fetch_add(&d->dropped, 1);
        return;
    }
    /* the data first */
    int ok = fileio_pwrite_all(a->fd, head, head_len, off) == 0;
    uint64_t at = off + head_len, left = body_len;
    for (cache_seg_t *s = cache_obj_body(obj)->first; ok && s != NULL && left != 0; s = s->next) {
        size_t n = s->len < left ? s->len : (size_t)left;
        ok = fileio_pwrite_all(a->fd, cache_seg_data(s), n, at) == 0;
        at += n;
        left -= n;
    }
    free(head);
    if (!ok || left != 0 || publish_entry(d, obj, hash, a, off, len, now + ttl) != 0)
        atomic_fetch_add(&d->dropped, 1);
    seg_release(a);
}

/* ---- streamed writes: a body too big for memory, written as it arrives -------------------------------------------------- */

struct cache_disk_stream {
    cache_disk_t *d;
    cache_obj_t *obj; /* holds the head (not the body); a reference */
    uint64_t hash, body_len;
    int64_t expires_ms;
    /* the fill's side */
    uint64_t received;
    int given_up;
    _Atomic uint64_t queued; /* bytes handed over and not yet written */
    /* the writer's side */
    seg_t *seg;
    uint64_t off, written;
    size_t head_len;
    uint32_t *crcs, cur;
    int failed;
};

static void stream_job(cache_disk_t *d, cache_disk_stream_t *st, int kind, char *data, size_t len)
{
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        h2o_fatal("no memory");
    j->kind = kind;
    j->stream = st;
    j->data = data;
    j->len = len;
    j->bytes = data != NULL ? len : 0; /* JOB_STREAM_END carries its `complete` flag in len: no bytes of the queue's bound */
    pthread_mutex_lock(&d->qlock);
    q_push(&d->wq, j);
    pthread_cond_signal(&d->wcond);
    pthread_mutex_unlock(&d->qlock);
}

uint64_t cache_disk_max_object(cache_disk_t *d)
{
    return d != NULL ? d->seg_size - (d->seg_size / 16) : 0;
}

cache_disk_stream_t *cache_disk_stream_begin(cache_disk_t *d, cache_obj_t *head, uint64_t body_len)
{
    cache_decision_t dec;
    int64_t now = now_ms(), ttl;
    if (d == NULL || body_len > cache_disk_max_object(d) || head->hit_for_pass || atomic_load(&head->store_tag) != 0)
        return NULL;
    cache_obj_decision(head, &dec);
    if ((ttl = cache_policy_ttl(&dec, now)) <= 0)
        return NULL;
    cache_disk_stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        h2o_fatal("no memory");
    st->d = d;
    st->obj = head;
    cache_obj_addref(head);
    st->hash = disk_hash(d, cache_obj_key(head));
    st->body_len = body_len;
    st->expires_ms = now + ttl;
    st->cur = 0;
    stream_job(d, st, JOB_STREAM_BEGIN, NULL, 0);
    return st;
}

void cache_disk_stream_write(cache_disk_stream_t *st, const void *data, size_t len)
{
    if (st->given_up || len == 0)
        return;
    /* a disk slower than the origins: the copies would pile up in memory; the record is given up instead (a quarter of the
     * queue for one stream, and the queue's bound for everything handed to the writer: stored objects and every stream) */
    if (atomic_load(&st->queued) + len > QUEUE_MAX_BYTES / 4 || st->received + len > st->body_len) {
        st->given_up = 1;
        return;
    }
    cache_disk_t *d = st->d;
    job_t *j = calloc(1, sizeof(*j));
    char *copy = malloc(len);
    if (j == NULL || copy == NULL)
        h2o_fatal("no memory");
    memcpy(copy, data, len);
    j->kind = JOB_STREAM_DATA;
    j->stream = st;
    j->data = copy;
    j->len = len;
    j->bytes = len;
    pthread_mutex_lock(&d->qlock);
    if (d->wq.bytes + len > QUEUE_MAX_BYTES) {
        pthread_mutex_unlock(&d->qlock);
        free(copy);
        free(j);
        st->given_up = 1;
        return;
    }
    st->received += len;
    atomic_fetch_add(&st->queued, len);
    q_push(&d->wq, j);
    pthread_cond_signal(&d->wcond);
    pthread_mutex_unlock(&d->qlock);
}

void cache_disk_stream_end(cache_disk_stream_t *st, int complete)
{
    stream_job(st->d, st, JOB_STREAM_END, NULL, complete && !st->given_up && st->received == st->body_len);
}

static void stream_begin_w(cache_disk_t *d, cache_disk_stream_t *st)
{
    char *head;
    if (encode_head(st->obj, st->hash, st->body_len, NULL, &head, &st->head_len) != 0) {
        st->failed = 1;
        return;
    }
    free(head);
    if ((st->crcs = calloc(num_blocks(st->body_len) + 1, sizeof(uint32_t))) == NULL)
        h2o_fatal("no memory");
    if (reserve(d, st->head_len + st->body_len, &st->seg, &st->off) != 0)
        st->failed = 1;
}

static void stream_data_w(cache_disk_stream_t *st, const char *data, size_t len)
{
    if (st->failed)
        return;
    if (fileio_pwrite_all(st->seg->fd, data, len, st->off + st->head_len + st->written) != 0) {
        st->failed = 1;
        return;
    }
    while (len != 0) {
        size_t in_block = (size_t)(st->written % CACHE_DISK_BLOCK), n = CACHE_DISK_BLOCK - in_block < len ? CACHE_DISK_BLOCK - in_block : len;
        st->cur = crc(st->cur, data, n);
        st->written += n;
        data += n;
        len -= n;
        if (st->written % CACHE_DISK_BLOCK == 0 || st->written == st->body_len) {
            st->crcs[(st->written - 1) / CACHE_DISK_BLOCK] = st->cur;
            st->cur = 0;
        }
    }
}

/* the body is whole: the head (with the CRCs) last, then the index entry; a record never finished has no entry */
static void stream_end_w(cache_disk_t *d, cache_disk_stream_t *st, int complete)
{
    char *head = NULL;
    size_t head_len;
    int ok = complete && !st->failed && st->written == st->body_len &&
             encode_head(st->obj, st->hash, st->body_len, st->crcs, &head, &head_len) == 0 && head_len == st->head_len &&
             fileio_pwrite_all(st->seg->fd, head, head_len, st->off) == 0 &&
             publish_entry(d, st->obj, st->hash, st->seg, st->off, st->head_len + st->body_len, st->expires_ms) == 0;
    if (!ok)
        atomic_fetch_add(&d->dropped, 1);
    free(head);
    free(st->crcs);
    if (st->seg != NULL)
        seg_release(st->seg);
    cache_obj_release(st->obj);
    free(st);
}

static void *writer_main(void *arg)
{
    cache_disk_t *d = arg;
    pthread_mutex_lock(&d->qlock);
    for (;;) {
        job_t *j = q_pop(&d->wq);
        if (j == NULL) {
            pthread_cond_broadcast(&d->idle);
            if (d->stopping)
                break;
            pthread_cond_wait(&d->wcond, &d->qlock);
            continue;
        }
        d->writing = 1;
        pthread_mutex_unlock(&d->qlock);
        switch (j->kind) {
        case JOB_STORE:
            write_object(d, j->obj);
            cache_obj_release(j->obj);
            break;
        case JOB_STREAM_BEGIN:
            stream_begin_w(d, j->stream);
            break;
        case JOB_STREAM_DATA:
            stream_data_w(j->stream, j->data, j->len);
            atomic_fetch_sub(&j->stream->queued, j->len);
            free(j->data);
            break;
        case JOB_STREAM_END:
            stream_end_w(d, j->stream, (int)j->len);
            break;
        }
        free(j);
        pthread_mutex_lock(&d->qlock);
        d->writing = 0;
    }
    pthread_mutex_unlock(&d->qlock);
    return NULL;
}

void cache_disk_store(cache_disk_t *d, cache_obj_t *obj)
{
    if (d == NULL || obj->hit_for_pass || atomic_load(&obj->store_tag) != 0 || cache_obj_state(obj) != CACHE_OBJ_COMPLETE)
        return;
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        h2o_fatal("no memory");
    j->kind = JOB_STORE;
    j->obj = obj;
    j->bytes = cache_obj_avail(obj);
    pthread_mutex_lock(&d->qlock);
    if (d->wq.bytes + j->bytes > QUEUE_MAX_BYTES || d->stopping) {
        pthread_mutex_unlock(&d->qlock);
        free(j);
        atomic_fetch_add(&d->dropped, 1);
        return;
    }
    cache_obj_addref(obj);
    q_push(&d->wq, j);
    pthread_cond_signal(&d->wcond);
    pthread_mutex_unlock(&d->qlock);
}

void cache_disk_flush(cache_disk_t *d)
{
    pthread_mutex_lock(&d->qlock);
    while (d->wq.first != NULL || d->writing)
        pthread_cond_wait(&d->idle, &d->qlock);
    pthread_mutex_unlock(&d->qlock);
}

/* ---- reading -------------------------------------------------------------------------------------------------------------- */

int cache_disk_has(cache_disk_t *d, h2o_iovec_t key, int64_t now)
{
    uint64_t hash = disk_hash(d, key);
    int has = 0;
    pthread_mutex_lock(&d->lock);
    for (dentry_t *e = *bucket_of(d, hash); e != NULL && !has; e = e->hnext)
        has = e->hash == hash && !e->soft && e->expires_ms > now;
    pthread_mutex_unlock(&d->lock);
    return has;
}

int cache_disk_lookup(cache_disk_t *d, h2o_iovec_t key, const h2o_headers_t *reqh, h2o_mem_pool_t *pool, int64_t now,
                      uint64_t *variant)
{
    uint64_t hash = disk_hash(d, key), want = 0;
    h2o_iovec_t names_done = {NULL, 0};
    int found = CACHE_DISK_NONE;
    pthread_mutex_lock(&d->lock);
    for (dentry_t *e = *bucket_of(d, hash); e != NULL; e = e->hnext) {
        if (e->hash != hash)
            continue;
        if (e->varied) {
            /* the request's variant under the entry's Vary names (all the key's entries have the same ones: computed once) */
            h2o_iovec_t names = entry_names(e);
            if (names_done.base == NULL || !h2o_memis(names.base, names.len, names_done.base, names_done.len)) {
                cur_t c = {names.base, names.base + names.len, 0};
                uint16_t n = cur_u16(&c);
                cache_vary_t vary = {h2o_mem_alloc_pool(pool, sizeof(h2o_iovec_t) * (n + 1)), n, 0};
                h2o_iovec_t vk;
                for (uint16_t i = 0; i != n; ++i)
                    vary.names[i] = cur_str(&c);
                want = 0;
                if (!c.bad && n != 0 && cache_vary_key(pool, &vary, reqh, &vk) == 0) {
                    want = cache_key_siphash24(d->seed, vk.base, vk.len);
                    want = want != 0 ? want : 1;
                }
                names_done = names.len != 0 ? names : h2o_iovec_init("", 0);
            }
            if (want == 0 || entry_variant(e) != want)
                continue;
        }
        *variant = entry_variant(e);
        found = !e->soft && e->expires_ms > now ? CACHE_DISK_FRESH : CACHE_DISK_STALE;
        break;
    }
    pthread_mutex_unlock(&d->lock);
    return found;
}

/* the record of a job's object could not be used: the entry goes (if it is still that record) and the readers look again */
static void load_failed(cache_disk_t *d, job_t *j, int corrupt)
{
    if (corrupt) {
        atomic_fetch_add(&d->corrupt, 1);
        pthread_mutex_lock(&d->jlock);
        pthread_mutex_lock(&d->lock);
        dentry_t *e = find_locked(d, j->hash, j->variant);
        buf_t b = {NULL, 0, 0};
        if (e != NULL && e->seg == j->seg && e->off == j->off) {
            jdel(&b, J_DEL, j->hash, e->varied, j->variant);
            unlink_locked(d, e);
            entry_free(e);
        }
        pthread_mutex_unlock(&d->lock);
        if (b.len != 0)
            jwrite_locked(d, &b);
        pthread_mutex_unlock(&d->jlock);
        free(b.p);
    }
    if (cache_obj_state(j->obj) == CACHE_OBJ_BUSY) {
        cache_mem_remove(d->mem, j->obj);
        cache_obj_fail(j->obj, CACHE_DISK_RETRY, "the disk record could not be read", NULL);
    } else {
        cache_obj_fail(j->obj, 0, "the disk record is corrupted", NULL);
    }
}

static void job_free(job_t *j)
{
    if (j->seg != NULL)
        seg_release(j->seg);
    free(j->head);
    cache_obj_release(j->obj);
    free(j);
}

/* every body block of the job's record passed its CRC: later reads of that record (while its entry stands: a record copied
 * forward by a reclaim is a new entry) skip the checks. The CRCs are there for what a crash or the media can do to the bytes
 * at rest - a torn write, a damaged sector - which a first read in this process catches; bytes in the page cache do not
 * change under a verified record unless something outside edgehook writes to its segment file. */
static void verify_done(cache_disk_t *d, job_t *j)
{
    if (j->verified)
        return;
    pthread_mutex_lock(&d->lock);
    dentry_t *e = find_locked(d, j->hash, j->variant);
    if (e != NULL && e->seg == j->seg && e->off == j->off)
        e->verified = 1;
    pthread_mutex_unlock(&d->lock);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
/* maps in the pages of [p, p + len) of a segment's mapping here, on the reader thread, so that the event loop that writes
 * them to a socket takes no page faults (without MADV_POPULATE_READ - an older kernel - the pages are touched instead) */
static void populate(const char *p, size_t len)
{
    static const size_t page = 4096;
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1), end = (uintptr_t)p + len;
    if (madvise((void *)start, end - start, MADV_POPULATE_READ) != 0) {
        volatile const char *q = p;
        for (size_t at = 0; at < len; at += page)
            (void)q[at];
    }
}

#define CACHE_DISK_HEAD_READ 16384
/* the first step of a load: the record's head (and the whole of a small body). Returns 1 when a streamed body remains. */
static int load_start(cache_disk_t *d, job_t *j)
{
    cache_obj_t *obj = j->obj;
    size_t first, need = 0;
    char *buf;
    uint64_t len;

    pthread_mutex_lock(&d->lock);
    j->hash = disk_hash(d, cache_obj_key(obj));
    dentry_t *e = find_locked(d, j->hash, j->variant);
    if (e == NULL || e->soft || e->expires_ms <= now_ms()) {
        pthread_mutex_unlock(&d->lock);
        load_failed(d, j, 0);
        return 0;
    }
    if (e->freq < 3)
        ++e->freq;
    j->verified = e->verified;
    if (j->verified)
        atomic_fetch_add(&d->verified_hits, 1);
    j->seg = e->seg;
    atomic_fetch_add(&j->seg->refs, 1);
    j->off = e->off;
    len = e->len;
    /* a published record was written whole (pwrite, same page cache), so its bytes can be read through the mapping */
    j->map = j->seg->map != NULL && j->off + len <= j->seg->map_len && j->off + len <= j->seg->size ? j->seg->map + j->off : NULL;
    pthread_mutex_unlock(&d->lock);

    /* a record of up to two blocks is read whole; of a bigger one, what holds its head as a rule (a longer head is read again
     * below): its body is read in place (promoted) or streamed, not copied out of this buffer */
    first = len < 2 * CACHE_DISK_BLOCK ? (size_t)len : CACHE_DISK_HEAD_READ;
    if ((buf = malloc(first)) == NULL)
        h2o_fatal("no memory");
    int r = fileio_pread_all(j->seg->fd, buf, first, j->off) == 0 ? cache_disk_parse_head(buf, first, &j->rec, &need) : -1;
    if (r == 1 && need <= len) {
        char *more = realloc(buf, need);
        if (more == NULL)
            h2o_fatal("no memory");
        buf = more;
        r = fileio_pread_all(j->seg->fd, buf, need, j->off) == 0 ? cache_disk_parse_head(buf, need, &j->rec, &need) : -1;
        first = need;
    }
    if (r != 0 || j->rec.head_len + j->rec.body_len != len || j->rec.hash != j->hash || j->rec.key.len != obj->key_len ||
        memcmp(j->rec.key.base, cache_obj_key(obj).base, obj->key_len) != 0) {
        free(buf);
        load_failed(d, j, 1);
        return 0;
    }
    j->head = buf;
    j->pos = 0;
    if (j->rec.body_len <= d->promote_max) {
        /* read and check it whole before anyone sees its head; it goes to the memory tier (from the mapping: checked there and
         * copied once, into the object's segment) */
        char *body = NULL;
        const char *src;
        int ok = 1;
        if (j->map != NULL) {
            src = j->map + j->rec.head_len;
        } else {
            if ((body = malloc(j->rec.body_len + 1)) == NULL)
                h2o_fatal("no memory");
            size_t have = first > j->rec.head_len ? first - j->rec.head_len : 0;
            if (have > j->rec.body_len)
                have = (size_t)j->rec.body_len;
            memcpy(body, buf + j->rec.head_len, have);
            ok = have == j->rec.body_len ||
                 fileio_pread_all(j->seg->fd, body + have, (size_t)j->rec.body_len - have, j->off + j->rec.head_len + have) == 0;
            src = body;
        }
        for (uint32_t b = 0; ok && !j->verified && b != j->rec.nblocks; ++b) {
            uint64_t at = (uint64_t)b * CACHE_DISK_BLOCK;
            size_t n = j->rec.body_len - at < CACHE_DISK_BLOCK ? (size_t)(j->rec.body_len - at) : CACHE_DISK_BLOCK;
            ok = cache_disk_check_block(&j->rec, b, src + at, n) == 0;
        }
        if (!ok) {
            free(body);
            load_failed(d, j, 1);
            return 0;
        }
        verify_done(d, j);
        /* counted before the object is visible: a client that has its answer finds the hit in the metrics */
        atomic_fetch_add(&d->hits, 1);
        if (cache_disk_apply_meta(&j->rec, obj, 0) != 0 || variant_of(d, obj) != j->variant) {
            atomic_fetch_sub(&d->hits, 1);
            free(body);
            load_failed(d, j, 1);
            return 0;
        }
        int stored = cache_mem_store_head(d->mem, obj) == 0;
        cache_obj_append(obj, src, (size_t)j->rec.body_len);
        free(body);
        if (stored && cache_mem_charge(d->mem, obj, d->promote_max) != 0)
            stored = 0;
        cache_obj_complete(obj);
        if (stored)
            cache_mem_complete(d->mem, obj);
        return 0;
    }
    /* too big for memory: streamed, no further ahead of its readers than the window */
    cache_mem_remove(d->mem, obj);
    atomic_fetch_add(&d->hits, 1);
    /* a hit like any other (conditionals answered, Age computed); read through the mapping, a range costs no memory for the
     * bytes before it (they are appended in place, and freed as the readers are past them), so ranges are answered from it;
     * through pread a range stays a whole 200 (the bytes before it would be read into memory) */
    obj->from_disk = 1;
    obj->disk_mapped = j->map != NULL;
    if (cache_disk_apply_meta(&j->rec, obj, 1) != 0 || variant_of(d, obj) != j->variant) {
        atomic_fetch_sub(&d->hits, 1);
        load_failed(d, j, 1);
        return 0;
    }
    return 1;
}

/* streams blocks of a big body; returns 1 when more remains (the job waits for its readers), 0 when done. The blocks are read
 * straight into the object's tail (cache_obj_reserve), up to CACHE_DISK_READ_CHUNK with one pread, checked there and only
 * then published (cache_obj_commit): readers never see a block before its CRC matched, and a damaged one is never committed.
 * A tail segment with room for less than a block (bodies whose segments grow from 16KB) takes the block through a buffer. */
#define CACHE_DISK_READ_CHUNK (4 * CACHE_DISK_BLOCK)
static int load_more(cache_disk_t *d, job_t *j)
{
    cache_obj_t *obj = j->obj;
    char *blk = NULL;
    uint64_t done = 0;
    if (j->map != NULL) {
        /* mapped: each step checks up to CACHE_DISK_READ_CHUNK of blocks on the mapped bytes (the CRC pass touches every page here, on the
         * reader thread, so the event loops do not fault them in) and appends them as one external segment holding a ref on
         * the segment file: no copy, no anonymous memory */
        while (done < CACHE_DISK_WINDOW && j->pos < j->rec.body_len) {
            if (cache_obj_num_readers(obj) == 0) {
                cache_obj_fail(obj, 0, "all readers left", NULL);
                return 0;
            }
            if (cache_obj_window_full(obj, CACHE_DISK_WINDOW))
                return 1;
            uint64_t left = j->rec.body_len - j->pos;
            size_t want = left < CACHE_DISK_READ_CHUNK ? (size_t)left : CACHE_DISK_READ_CHUNK;
            const char *src = j->map + j->rec.head_len + j->pos;
            int ok = 1;
            populate(src, want);
            for (size_t at = 0; ok && !j->verified && at < want; at += CACHE_DISK_BLOCK) {
                size_t n = want - at < CACHE_DISK_BLOCK ? want - at : CACHE_DISK_BLOCK;
                ok = cache_disk_check_block(&j->rec, (uint32_t)((j->pos + at) / CACHE_DISK_BLOCK), src + at, n) == 0;
            }
            if (!ok) {
                load_failed(d, j, 1);
                return 0;
            }
            atomic_fetch_add(&j->seg->refs, 1);
            cache_obj_append_external(obj, src, want, seg_release_cb, j->seg);
            j->pos += want;
            done += want;
        }
        if (j->pos < j->rec.body_len)
            return 1;
        verify_done(d, j);
        cache_obj_complete(obj);
        return 0;
    }
    while (done < CACHE_DISK_WINDOW && j->pos < j->rec.body_len) {
        if (cache_obj_num_readers(obj) == 0) {
            cache_obj_fail(obj, 0, "all readers left", NULL);
            free(blk);
            return 0;
        }
        if (cache_obj_window_full(obj, CACHE_DISK_WINDOW)) {
            free(blk);
            return 1;
        }
        uint64_t left = j->rec.body_len - j->pos;
        size_t want = left < CACHE_DISK_READ_CHUNK ? (size_t)left : CACHE_DISK_READ_CHUNK, room;
        char *dst = cache_obj_reserve(obj, want, &room);
        if (room < want) {
            if (room >= CACHE_DISK_BLOCK) {
                want = room - room % CACHE_DISK_BLOCK; /* whole blocks (j->pos is at a block's start) */
            } else {
                want = left < CACHE_DISK_BLOCK ? (size_t)left : CACHE_DISK_BLOCK;
                if (blk == NULL && (blk = malloc(CACHE_DISK_BLOCK)) == NULL)
                    h2o_fatal("no memory");
                dst = blk;
            }
        }
        int ok = fileio_pread_all(j->seg->fd, dst, want, j->off + j->rec.head_len + j->pos) == 0;
        for (size_t at = 0; ok && !j->verified && at < want; at += CACHE_DISK_BLOCK) {
            size_t n = want - at < CACHE_DISK_BLOCK ? want - at : CACHE_DISK_BLOCK;
            ok = cache_disk_check_block(&j->rec, (uint32_t)((j->pos + at) / CACHE_DISK_BLOCK), dst + at, n) == 0;
        }
        if (!ok) {
            free(blk);
            load_failed(d, j, 1);
            return 0;
        }
        if (dst == blk)
            cache_obj_append(obj, blk, want);
        else
            cache_obj_commit(obj, want);
        j->pos += want;
        done += want;
    }
    free(blk);
    if (j->pos < j->rec.body_len)
        return 1;
    verify_done(d, j);
    cache_obj_complete(obj);
    return 0;
}

static void *reader_main(void *arg)
{
    cache_disk_t *d = arg;
    pthread_mutex_lock(&d->qlock);
    for (;;) {
        job_t *j = q_pop(&d->rq);
        if (j == NULL && d->parked.first != NULL) {
            /* streamed bodies waiting for their readers: the oldest when it is due */
            uint64_t now = mono_us();
            if (d->parked.first->not_before_us <= now || d->stopping) {
                j = q_pop(&d->parked);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (d->parked.first->not_before_us - now) * 1000;
                ts.tv_sec += (time_t)(ns / 1000000000);
                ts.tv_nsec = (long)(ns % 1000000000);
                pthread_cond_timedwait(&d->rcond, &d->qlock, &ts);
                continue;
            }
        }
        if (j == NULL) {
            if (d->stopping)
                break;
            pthread_cond_wait(&d->rcond, &d->qlock);
            continue;
        }
        pthread_mutex_unlock(&d->qlock);
        int more;
        if (!j->started) {
            j->started = 1;
            more = load_start(d, j);
        } else {
            more = 1;
        }
        if (more)
            more = load_more(d, j);
        pthread_mutex_lock(&d->qlock);
        if (more && d->stopping) {
            pthread_mutex_unlock(&d->qlock);
            cache_obj_fail(j->obj, 0, "shutting down", NULL);
            pthread_mutex_lock(&d->qlock);
            more = 0;
        }
        if (more) {
            if (cache_obj_window_full(j->obj, CACHE_DISK_WINDOW)) {
                j->not_before_us = mono_us() + 1000;
                q_push(&d->parked, j);
            } else {
                q_push(&d->rq, j);
            }
            pthread_cond_signal(&d->rcond);
        } else {
            pthread_mutex_unlock(&d->qlock);
            job_free(j);
            pthread_mutex_lock(&d->qlock);
        }
    }
    pthread_mutex_unlock(&d->qlock);
    return NULL;
}

void cache_disk_load(cache_disk_t *d, cache_obj_t *obj, uint64_t variant)
{
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        h2o_fatal("no memory");
    cache_obj_addref(obj);
    j->obj = obj;
    j->variant = variant;
    pthread_mutex_lock(&d->qlock);
    q_push(&d->rq, j);
    pthread_cond_signal(&d->rcond);
    pthread_mutex_unlock(&d->qlock);
}

/* ---- purges --------------------------------------------------------------------------------------------------------------- */

static int entry_matches(const dentry_t *e, cache_purge_kind_t kind, h2o_iovec_t arg)
{
    cur_t c = entry_cur(e);
    h2o_iovec_t url = cur_str(&c);
    switch (kind) {
    case CACHE_PURGE_URL:
        return url.len == arg.len && memcmp(url.base, arg.base, arg.len) == 0;
    case CACHE_PURGE_PREFIX:
        return url.len >= arg.len && memcmp(url.base, arg.base, arg.len) == 0;
    case CACHE_PURGE_TAG: {
        uint32_t n = cur_u32(&c);
        for (uint32_t i = 0; i != n && !c.bad; ++i) {
            h2o_iovec_t t = cur_str(&c);
            if (!c.bad && t.len == arg.len && memcmp(t.base, arg.base, arg.len) == 0)
                return 1;
        }
        return 0;
    }
    default:
        return 1;
    }
}

size_t cache_disk_purge(cache_disk_t *d, cache_purge_kind_t kind, h2o_iovec_t arg, int soft)
{
    size_t purged = 0;
    buf_t b = {NULL, 0, 0};
    if (d == NULL)
        return 0;
    /* jlock held throughout: entries are inserted (and the buckets grown) only with it, so the bucket array stays as it is and
     * the index lock can be let go now and then (lookups on the event loops take it) */
    pthread_mutex_lock(&d->jlock);
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i != d->num_buckets; ++i) {
        if (i % 4096 == 4095) {
            pthread_mutex_unlock(&d->lock);
            pthread_mutex_lock(&d->lock);
        }
        for (dentry_t **p = &d->buckets[i]; *p != NULL;) {
            dentry_t *e = *p;
            if (!entry_matches(e, kind, arg) || (soft && e->soft)) {
                p = &e->hnext;
                continue;
            }
            ++purged;
            jdel(&b, soft ? J_SOFT : J_DEL, e->hash, e->varied, entry_variant(e));
            if (soft) {
                e->soft = 1;
                p = &e->hnext;
            } else {
                *p = e->hnext;
                h2o_linklist_unlink(&e->seglink);
                --d->count;
                d->extra_bytes -= e->extra_len;
                entry_free(e);
            }
        }
    }
    pthread_mutex_unlock(&d->lock);
    if (b.len != 0)
        jwrite_locked(d, &b);
    pthread_mutex_unlock(&d->jlock);
    free(b.p);
    return purged;
}

/* ---- opening: the journal read back --------------------------------------------------------------------------------------- */

static int load_index(cache_disk_t *d, char *err, size_t errlen)
{
    char name[4096];
    struct stat st;
    uint64_t t0 = mono_us();
    int64_t now = now_ms();
    uint32_t max_id = 0;

    /* the segments (a few dozen files) */
    DIR *dir = opendir(d->path);
    if (dir == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", d->path, strerror(errno));
        return -1;
    }
    seg_t *list = NULL;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        unsigned id;
        char tail;
        if (sscanf(de->d_name, "seg-%8u%c", &id, &tail) != 1)
            continue;
        seg_t *s = calloc(1, sizeof(*s));
        if (s == NULL)
            h2o_fatal("no memory");
        s->id = id;
        seg_name(d, id, name, sizeof(name));
        if ((s->fd = open(name, O_RDWR | O_CLOEXEC)) < 0 || fstat(s->fd, &st) != 0) {
            if (s->fd >= 0)
                close(s->fd);
            free(s);
            continue;
        }
        s->size = (uint64_t)st.st_size;
        atomic_init(&s->refs, 1);
        seg_map(s, s->size > d->seg_size ? s->size : d->seg_size);
        h2o_linklist_init_anchor(&s->entries);
        /* sorted by id: oldest first */
        seg_t **p = &list;
        while (*p != NULL && (*p)->id < s->id)
            p = &(*p)->next;
        s->next = *p;
        *p = s;
        if (id >= max_id)
            max_id = id + 1;
    }
    closedir(dir);
    d->oldest = list;
    for (seg_t *s = list; s != NULL; s = s->next) {
        d->bytes += s->size;
        d->active = s;
    }
    d->next_seg_id = max_id + 1;

    /* the journal, read sequentially */
    snprintf(name, sizeof(name), "%s/index.log", d->path);
    int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, pos = 0;
    /* mapped, not read into a buffer: the page cache's pages as they are (no copy, no 70 MB of fresh pages to fault in and zero
     * for a million entries); read sequentially */
    const char *j = NULL;
    if (size != 0) {
        int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
        flags |= MAP_POPULATE;
#endif
        void *m = mmap(NULL, size, PROT_READ, flags, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "cannot read %s: %s", name, strerror(errno));
            close(fd);
            return -1;
        }
        madvise(m, size, MADV_SEQUENTIAL);
        j = m;
    }
    seg_t *last_seg = NULL;
    load_chunk_t *chunk = NULL;
    size_t chunk_used = 0;
    /* buckets for what the journal holds at most (an entry takes 70 bytes or more): no rehash while loading */
    while (d->num_buckets < size / 70) {
        size_t before = d->num_buckets;
        grow_locked(d);
        if (d->num_buckets == before)
            break;
    }
    /* The entries are checked LOAD_AHEAD ahead of where they are applied, and the bucket of each checked one is prefetched (and
     * the first entry of its chain when it is LOAD_AHEAD/2 away): applying an entry is a walk of a random hash chain, two
     * cache misses that the load waited for one after the other (perf: most of the load in insert_locked). */
    size_t ring[LOAD_AHEAD], scan = 0;
    unsigned ring_first = 0, ring_count = 0;
    int scan_done = 0;
    for (;;) {
        while (!scan_done && ring_count != LOAD_AHEAD) {
            const char *p = j + scan;
            uint32_t extra_len = scan + JNL_FIXED <= size ? get32(p + 12) : 0;
            if (scan + JNL_FIXED > size || get32(p) != JNL_MAGIC || extra_len > (1u << 20) || scan + JNL_FIXED + extra_len > size ||
                get32(p + 4) != crc(0, p + 8, JNL_FIXED - 8 + extra_len)) {
                scan_done = 1; /* a torn or damaged tail: the journal ends here */
                break;
            }
            __builtin_prefetch(bucket_of(d, get64(p + 16)));
            ring[(ring_first + ring_count++) % LOAD_AHEAD] = scan;
            scan += JNL_FIXED + extra_len;
        }
        if (ring_count == 0)
            break;
        if (ring_count > LOAD_AHEAD / 2) {
            dentry_t *first = *bucket_of(d, get64(j + ring[(ring_first + LOAD_AHEAD / 2) % LOAD_AHEAD] + 16));
            if (first != NULL)
                __builtin_prefetch(first);
        }
        pos = ring[ring_first];
        ring_first = (ring_first + 1) % LOAD_AHEAD;
        --ring_count;
        const char *p = j + pos;
        uint32_t extra_len = get32(p + 12);
        int type = (uint8_t)p[8], varied = ((uint8_t)p[9] & JF_VARIANT) != 0;
        uint64_t hash = get64(p + 16);
        ++d->load_entries;
        if (type == J_PUT) {
            uint32_t id = get32(p + 24);
            uint64_t off = get64(p + 32), len = get64(p + 40);
            seg_t *s = last_seg != NULL && last_seg->id == id ? last_seg : seg_of_id_locked(d, id);
            cur_t c = {p + JNL_FIXED, p + JNL_FIXED + extra_len, 0};
            int64_t expires = (int64_t)cur_u64(&c);
            uint64_t variant = varied && extra_len >= 16 ? get64(p + JNL_FIXED + 8) : 0;
            if (s != NULL && !c.bad && extra_len >= (varied ? 16u : 8u) && off <= s->size && len <= s->size - off &&
                expires > now) {
                last_seg = s;
                dentry_t *e = load_alloc(&chunk, &chunk_used, sizeof(*e) + extra_len - 8);
                e->hash = hash;
                e->seg = s;
                e->off = off;
                e->len = len;
                e->expires_ms = expires;
                e->varied = (uint8_t)varied;
                e->extra_len = extra_len - 8;
                memcpy(e->extra, p + JNL_FIXED + 8, extra_len - 8);
                insert_locked(d, e, NULL);
            } else {
                dentry_t *old = find_locked(d, hash, variant);
                if (old != NULL) {
                    unlink_locked(d, old);
                    entry_free(old);
                }
            }
        } else if (type == J_DEL || type == J_SOFT) {
            dentry_t *e = find_locked(d, hash, varied && extra_len >= 8 ? get64(p + JNL_FIXED) : 0);
            if (e != NULL && type == J_DEL) {
                unlink_locked(d, e);
                entry_free(e);
            } else if (e != NULL) {
                e->soft = 1;
            }
        }
    }
    pos = scan; /* the end of the entries that passed their checks */
    if (chunk != NULL)
        chunk_release(chunk);
    if (j != NULL)
        munmap((void *)j, size);
    if (pos != size && ftruncate(fd, (off_t)pos) != 0) {
        snprintf(err, errlen, "cannot truncate %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    d->jfd = open(name, O_WRONLY | O_APPEND | O_CLOEXEC);
    d->jbytes = pos;
    /* segments nothing points to any more go (their space counts no more) */
    for (seg_t **p = &d->oldest; *p != NULL;) {
        seg_t *s = *p;
        if (h2o_linklist_is_empty(&s->entries)) {
            *p = s->next;
            d->bytes -= s->size;
            seg_name(d, s->id, name, sizeof(name));
            unlink(name);
            seg_release(s);
        } else {
            p = &s->next;
        }
    }
    d->active = NULL;
    for (seg_t *s = d->oldest; s != NULL; s = s->next)
        d->active = s;
    /* appends go to a new segment: the tail of the last one may hold a record cut short */
    if (roll_locked(d) != 0) {
        snprintf(err, errlen, "cannot create a segment in %s", d->path);
        return -1;
    }
    d->load_us = mono_us() - t0;
    return 0;
}

cache_disk_t *cache_disk_open(const char *path, uint64_t size, cache_mem_t *mem, uint64_t promote_max, char *err, size_t errlen)
{
    cache_disk_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        h2o_fatal("no memory");
    d->path = strdup(path);
    d->capacity = size;
    d->seg_size = size / 16;
    if (d->seg_size < (4u << 20))
        d->seg_size = 4u << 20;
    if (d->seg_size > (256u << 20))
        d->seg_size = 256u << 20;
    d->mem = mem;
    d->promote_max = promote_max;
    d->num_buckets = 1024;
    d->buckets = calloc(d->num_buckets, sizeof(*d->buckets));
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->jlock, NULL);
    pthread_mutex_init(&d->qlock, NULL);
    pthread_cond_init(&d->wcond, NULL);
    pthread_cond_init(&d->rcond, NULL);
    pthread_cond_init(&d->idle, NULL);
    q_init(&d->wq);
    q_init(&d->rq);
    q_init(&d->parked);
    d->jfd = -1;
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto Fail;
    }
    if (load_seed(d, err, errlen) != 0 || load_index(d, err, errlen) != 0)
        goto Fail;
    if (pthread_create(&d->writer, NULL, writer_main, d) != 0)
        h2o_fatal("cannot start the disk writer");
    for (int i = 0; i != MAX_READERS; ++i)
        if (pthread_create(&d->readers[i], NULL, reader_main, d) != 0)
            h2o_fatal("cannot start a disk reader");
    return d;
Fail:
    d->stopping = 1;
    for (seg_t *s = d->oldest, *next; s != NULL; s = next) {
        next = s->next;
        seg_release(s);
    }
    for (size_t i = 0; i != d->num_buckets; ++i)
        for (dentry_t *e = d->buckets[i], *next; e != NULL; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    free(d->buckets);
    if (d->jfd >= 0)
        close(d->jfd);
    free(d->path);
    free(d);
    return NULL;
}

void cache_disk_close(cache_disk_t *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->qlock);
    d->stopping = 1;
    pthread_cond_broadcast(&d->wcond);
    pthread_cond_broadcast(&d->rcond);
    pthread_mutex_unlock(&d->qlock);
    pthread_join(d->writer, NULL);
    for (int i = 0; i != MAX_READERS; ++i)
        pthread_join(d->readers[i], NULL);
    /* jobs left in the read queue (a stop while they waited) */
    while (d->parked.first != NULL)
        q_push(&d->rq, q_pop(&d->parked));
    for (job_t *j; (j = q_pop(&d->rq)) != NULL;) {
        if (cache_obj_state(j->obj) == CACHE_OBJ_BUSY)
            cache_mem_remove(d->mem, j->obj);
        if (cache_obj_state(j->obj) != CACHE_OBJ_COMPLETE && cache_obj_state(j->obj) != CACHE_OBJ_FAILED)
            cache_obj_fail(j->obj, 503, "shutting down", NULL);
        job_free(j);
    }
    if (d->active != NULL)
        fdatasync(d->active->fd);
    if (d->jfd >= 0) {
        fdatasync(d->jfd);
        close(d->jfd);
    }
    for (seg_t *s = d->oldest, *next; s != NULL; s = next) {
        next = s->next;
        seg_release(s);
    }
    for (size_t i = 0; i != d->num_buckets; ++i)
        for (dentry_t *e = d->buckets[i], *next; e != NULL; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    free(d->buckets);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->jlock);
    pthread_mutex_destroy(&d->qlock);
    pthread_cond_destroy(&d->wcond);
    pthread_cond_destroy(&d->rcond);
    pthread_cond_destroy(&d->idle);
    free(d->path);
    free(d);
}

void cache_disk_stats(cache_disk_t *d, cache_disk_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&d->lock);
    out->capacity = d->capacity;
    out->bytes = d->bytes;
    out->objects = d->count;
    for (seg_t *s = d->oldest; s != NULL; s = s->next)
        ++out->segments;
    pthread_mutex_unlock(&d->lock);
    out->hits = atomic_load(&d->hits);
    out->writes = atomic_load(&d->writes);
    out->write_bytes = atomic_load(&d->write_bytes);
    out->evictions = atomic_load(&d->evictions);
    out->reinserted = atomic_load(&d->reinserted);
    out->corrupt = atomic_load(&d->corrupt);
    out->dropped = atomic_load(&d->dropped);
    out->verified_hits = atomic_load(&d->verified_hits);
    out->load_us = d->load_us;
    out->load_entries = d->load_entries;
    pthread_mutex_lock(&d->qlock);
    out->queue_max_bytes = d->wq.max_bytes;
    pthread_mutex_unlock(&d->qlock);
}
