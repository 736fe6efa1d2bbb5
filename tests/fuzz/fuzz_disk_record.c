/* tests/fuzz/fuzz_disk_record.c - libFuzzer target: the disk tier's record reader (cache/disk.c: cache_disk_parse_head,
 * cache_disk_apply_meta, cache_disk_check_block) on records whose checksums are right but whose contents are anything, as a
 * record written by another build, or damaged in a way a CRC-32 cannot see, would be.
 *
 * Input: byte 0 = the key length (0-63), then the key, then the metadata (the rest, up to 4 KB), then a body of
 * (byte 0 * 131) bytes made from the input. A header with the right lengths and CRCs is put in front.
 * Properties: no crash, leak or UB; parsing the record as it is written succeeds and gives back the key and lengths; the
 * metadata is either refused (-1) or applied to an object, which then has a valid head (its status 100-999, its header count
 * what its blob says); every prefix of the head asks for more or is refused, never accepted; a block checks iff it is the
 * block that was written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cache/disk.h"
#include "tests/fuzz/fuzz_check.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t key_len = data[0] % 64;
    if (size < 1 + key_len)
        return 0;
    const char *key = (const char *)data + 1;
    const char *meta = key + key_len;
    size_t meta_len = size - 1 - key_len;
    if (meta_len > 4096)
        meta_len = 4096;
    uint64_t body_len = (uint64_t)data[0] * 131;
    uint32_t nblocks = (uint32_t)((body_len + CACHE_DISK_BLOCK - 1) / CACHE_DISK_BLOCK);
    size_t head_len = (64 + key_len + meta_len + 4 * nblocks + 7) & ~(size_t)7;
    char *rec = calloc(1, head_len + body_len + 1);
    char *body = rec + head_len;
    for (uint64_t i = 0; i != body_len; ++i)
        body[i] = (char)data[i % size];
    put32(rec, 0x31444845u);
    put64(rec + 8, 77);
    put32(rec + 16, (uint32_t)key_len);
    put32(rec + 20, (uint32_t)meta_len);
    put64(rec + 24, body_len);
    put32(rec + 32, nblocks);
    memcpy(rec + 64, key, key_len);
    memcpy(rec + 64 + key_len, meta, meta_len);
    for (uint32_t b = 0; b != nblocks; ++b) {
        uint64_t at = (uint64_t)b * CACHE_DISK_BLOCK, n = body_len - at < CACHE_DISK_BLOCK ? body_len - at : CACHE_DISK_BLOCK;
        put32(rec + 64 + key_len + meta_len + 4 * b, cache_disk_crc(0, body + at, (size_t)n));
    }
    put32(rec + 4, cache_disk_crc(0, rec + 8, head_len - 8));

    cache_disk_record_t r;
    size_t need = 0;
    FUZZ_CHECK(cache_disk_parse_head(rec, head_len + body_len, &r, &need) == 0, "a well-formed record refused");
    FUZZ_CHECK(r.head_len == head_len && r.body_len == body_len && r.key.len == key_len && r.hash == 77, "lengths");
    for (size_t cut = 0; cut < head_len; cut += 1 + cut / 3) {
        cache_disk_record_t r2;
        int x = cache_disk_parse_head(rec, cut, &r2, &need);
        FUZZ_CHECK(x != 0, "a prefix of %zu bytes accepted", cut);
        FUZZ_CHECK(x != 1 || need == head_len, "asked for %zu bytes, not %zu", need, head_len);
    }
    for (uint32_t b = 0; b != nblocks; ++b) {
        uint64_t at = (uint64_t)b * CACHE_DISK_BLOCK, n = body_len - at < CACHE_DISK_BLOCK ? body_len - at : CACHE_DISK_BLOCK;
        FUZZ_CHECK(cache_disk_check_block(&r, b, body + at, (size_t)n) == 0, "block %u", b);
        if (n > 1)
            FUZZ_CHECK(cache_disk_check_block(&r, b, body + at, (size_t)n - 1) != 0, "a short block checks");
    }
    cache_obj_t *o = cache_obj_new(77, h2o_iovec_init(key, key_len), h2o_iovec_init(key, key_len));
    if (cache_disk_apply_meta(&r, o, data[0] & 1) == 0) {
        FUZZ_CHECK(o->status >= 100 && o->status <= 999, "status %d", o->status);
        FUZZ_CHECK(o->content_length == (int64_t)body_len, "content length");
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_headers_t hs = cache_obj_headers_pool(o, &pool);
        FUZZ_CHECK(hs.size == cache_obj_num_headers(o), "header count");
        h2o_mem_clear_pool(&pool);
    }
    cache_obj_release(o);
    free(rec);
    return 0;
}
