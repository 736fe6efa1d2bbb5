/* store/checksum.c - CRC32 (zlib), CRC32C (slicing-by-8 tables: zlib has no Castagnoli CRC), CRC64/NVME, x-amz-checksum-* checks,
 * and the body digests of the store */
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>
#include "base/str.h"
#include "store/checksum.h"

static uint32_t crc32c_table[8][256];
static uint64_t crc64nvme_table[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void make_table(uint32_t t[8][256], uint32_t poly)
{
    for (uint32_t i = 0; i != 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k != 8; ++k)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        t[0][i] = c;
    }
    for (uint32_t i = 0; i != 256; ++i)
        for (int s = 1; s != 8; ++s)
            t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
}

static void init_tables(void)
{
    make_table(crc32c_table, 0x82F63B78u);
    for (uint64_t i = 0; i != 256; ++i) {
        uint64_t c = i;
        for (int k = 0; k != 8; ++k)
            c = (c & 1) ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ull : c >> 1; /* CRC-64/NVME, reflected */
        crc64nvme_table[i] = c;
    }
}

static uint32_t crc32c_update(uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][hi & 0xff] ^
              t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- != 0)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

uint32_t store_checksum_crc32(uint32_t crc, const void *buf, size_t len)
{
    return (uint32_t)crc32_z(crc, buf, len);
}

uint32_t store_checksum_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&tables_once, init_tables);
    return crc32c_update(crc32c_table, crc, buf, len);
}

uint64_t store_checksum_crc64nvme(uint64_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    pthread_once(&tables_once, init_tables);
    crc = ~crc;
    while (len-- != 0)
        crc = (crc >> 8) ^ crc64nvme_table[(crc ^ *p++) & 0xff];
    return ~crc;
}

int store_checksum_verify(const char *alg, const char *value, size_t vlen, const void *data, size_t len)
{
    uint8_t want[64], got[64];
    size_t n;
    if (strcmp(alg, "crc32") == 0 || strcmp(alg, "crc32c") == 0) {
        uint32_t c = alg[5] == 'c' ? store_checksum_crc32c(0, data, len) : store_checksum_crc32(0, data, len);
        for (n = 0; n != 4; ++n)
            got[n] = (uint8_t)(c >> (24 - 8 * n));
    } else if (strcmp(alg, "crc64nvme") == 0) {
        uint64_t c = store_checksum_crc64nvme(0, data, len);
        for (n = 0; n != 8; ++n)
            got[n] = (uint8_t)(c >> (56 - 8 * n));
    } else if (strcmp(alg, "sha1") == 0 || strcmp(alg, "sha256") == 0) {
        unsigned int mdlen = 0;
        if (EVP_Digest(data, len, got, &mdlen, alg[3] == '1' ? EVP_sha1() : EVP_sha256(), NULL) != 1)
            return -1;
        n = mdlen;
    } else {
        return -2;
    }
    /* the base64 of n bytes is 4 * ceil(n / 3) characters: anything longer cannot be that digest */
    if (vlen != (n + 2) / 3 * 4 || edge_base64_decode(want, value, vlen, EDGE_BASE64_STRICT) != (long)n)
        return -1;
    return memcmp(want, got, n) == 0;
}

int store_checksum_digest_init(store_checksum_digest_t *d, int want_crc32, int want_crc32c)
{
    memset(d, 0, sizeof(*d));
    d->want_crc32 = want_crc32;
    d->want_crc32c = want_crc32c;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    d->md5 = md;
    return 0;
}

void store_checksum_digest_update(store_checksum_digest_t *d, const void *buf, size_t len)
{
    if (len == 0)
        return;
    if (d->md5 != NULL)
        EVP_DigestUpdate(d->md5, buf, len);
    if (d->want_crc32)
        d->crc32 = store_checksum_crc32(d->crc32, buf, len);
    if (d->want_crc32c)
        d->crc32c = store_checksum_crc32c(d->crc32c, buf, len);
    d->size += len;
}

void store_checksum_digest_final(store_checksum_digest_t *d, uint8_t md5[16])
{
    unsigned int n = 16;
    if (d->md5 != NULL)
        EVP_DigestFinal_ex(d->md5, md5, &n);
    store_checksum_digest_dispose(d);
}

void store_checksum_digest_dispose(store_checksum_digest_t *d)
{
    EVP_MD_CTX_free(d->md5);
    d->md5 = NULL;
}
