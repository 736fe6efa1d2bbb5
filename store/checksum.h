/* store/checksum.h - the checksums S3 clients send: CRC32, CRC32C, CRC64/NVME, MD5 (Content-MD5, ETag); base64: base/str.h */
#ifndef EDGE_STORE_CHECKSUM_H
#define EDGE_STORE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/** continues a CRC-32 (IEEE 802.3: zlib's crc32_z) over buf; start with crc = 0. Pure function, thread-safe. */
uint32_t store_checksum_crc32(uint32_t crc, const void *buf, size_t len);
/** continues a CRC-32C (Castagnoli; zlib has none, so the store keeps this one implementation) over buf; start with crc = 0 */
uint32_t store_checksum_crc32c(uint32_t crc, const void *buf, size_t len);

/** continues a CRC-64/NVME (the x-amz-checksum-crc64nvme of S3) over buf; start with crc = 0 */
uint64_t store_checksum_crc64nvme(uint64_t crc, const void *buf, size_t len);

/**
 * Checks an x-amz-checksum-ALG value (base64 of the big-endian digest) against data, for alg "crc32", "crc32c", "crc64nvme",
 * "sha1" or "sha256" (lowercase): 1 it matches, 0 it does not, -1 the value is not base64 of the algorithm's digest size,
 * -2 unknown algorithm.
 */
int store_checksum_verify(const char *alg, const char *value, size_t vlen, const void *data, size_t len);

/** the running digests of a request body: MD5 always, CRC32/CRC32C when asked for */
typedef struct store_checksum_digest {
    void *md5; /* EVP_MD_CTX */
    int want_crc32, want_crc32c;
    uint32_t crc32, crc32c;
    uint64_t size;
} store_checksum_digest_t;

/** 0 or -1 (out of memory) */
int store_checksum_digest_init(store_checksum_digest_t *d, int want_crc32, int want_crc32c);
/** feeds len bytes to every digest being computed */
void store_checksum_digest_update(store_checksum_digest_t *d, const void *buf, size_t len);
/** finishes the MD5 (md5 receives 16 bytes); the CRCs stay readable. Disposes the MD5 context. */
void store_checksum_digest_final(store_checksum_digest_t *d, uint8_t md5[16]);
/** disposes without finishing (safe after store_checksum_digest_final) */
void store_checksum_digest_dispose(store_checksum_digest_t *d);

#endif
