/* store/chunked.c - incremental aws-chunked decoder with chunk and trailer signature verification (see chunked.h) */
#include <string.h>
#include <openssl/evp.h>
#include "base/str.h"
#include "store/chunked.h"

enum { S_HEADER, S_DATA, S_DATA_CR, S_DATA_LF, S_TRAILER, S_DONE };

static void *sha_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return c;
}

static void sha_final(void *c, uint8_t out[32])
{
    unsigned int n = 32;
    EVP_DigestFinal_ex(c, out, &n);
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
}

int store_chunked_init(store_chunked_t *d, int mode, const sigv4_chunk_chain_t *chain)
{
    memset(d, 0, sizeof(*d));
    d->mode = mode;
    d->state = S_HEADER;
    d->error = "";
    if (mode != STORE_CHUNKED_UNSIGNED) {
        if (chain == NULL)
            return -1;
        d->chain = *chain;
        if ((d->sha = sha_new()) == NULL)
            return -1;
        if (mode == STORE_CHUNKED_SIGNED_TRAILER && (d->trailer_sha = sha_new()) == NULL) {
            store_chunked_dispose(d);
            return -1;
        }
    }
    return 0;
}

void store_chunked_dispose(store_chunked_t *d)
{
    EVP_MD_CTX_free(d->sha);
    EVP_MD_CTX_free(d->trailer_sha);
    d->sha = d->trailer_sha = NULL;
}

static int fail(store_chunked_t *d, int code, const char *why)
{
    d->error = why;
    d->state = S_DONE;
    d->last_chunk = -1; /* finish() fails too */
    return code;
}

/* the signature of the chunk that just ended (or the empty final chunk) must match the claimed one */
static int check_chunk_signature(store_chunked_t *d)
{
    uint8_t md[32];
    char expected[65];
    sha_final(d->sha, md);
    sigv4_chunk_next(&d->chain, md, expected);
    if (!sigv4_signature_equal(expected, d->claimed))
        return fail(d, STORE_CHUNKED_ESIGNATURE, "a chunk signature does not match the signed payload");
    return STORE_CHUNKED_OK;
}

static int parse_header(store_chunked_t *d)
{
    const char *p = d->line, *end = d->line + d->line_len;
    uint64_t size = 0;
    int digits = 0, v;
    while (p < end && (v = edge_hex_value((unsigned char)*p)) >= 0) {
        if (++digits > 15)
            return fail(d, STORE_CHUNKED_EFRAMING, "an aws-chunked chunk size is too large");
        size = size << 4 | (uint64_t)v;
        ++p;
    }
    if (digits == 0)
        return fail(d, STORE_CHUNKED_EFRAMING, "an aws-chunked chunk header does not start with a hexadecimal size");
    d->claimed[0] = '\0';
    /* extensions: ;name=value ... (only chunk-signature matters) */
    while (p < end) {
        if (*p != ';')
            return fail(d, STORE_CHUNKED_EFRAMING, "an aws-chunked chunk header is malformed");
        const char *n = ++p;
        while (p < end && *p != ';')
            ++p;
        size_t len = (size_t)(p - n);
        if (len == 16 + 64 && memcmp(n, "chunk-signature=", 16) == 0) {
            memcpy(d->claimed, n + 16, 64);
            d->claimed[64] = '\0';
        }
    }
    if (d->mode != STORE_CHUNKED_UNSIGNED && d->claimed[0] == '\0')
        return fail(d, STORE_CHUNKED_EFRAMING, "a chunk of a signed aws-chunked body has no chunk-signature");
    d->chunk_left = size;
    if (size == 0) {
        d->last_chunk = 1;
        if (d->mode != STORE_CHUNKED_UNSIGNED) {
            int r = check_chunk_signature(d);
            if (r != 0)
                return r;
        }
        d->state = S_TRAILER;
    } else {
        d->state = S_DATA;
    }
    return STORE_CHUNKED_OK;
}

static int parse_trailer(store_chunked_t *d)
{
    char *line = d->line, *colon = memchr(line, ':', d->line_len);
    if (colon == NULL || colon == line)
        return fail(d, STORE_CHUNKED_EFRAMING, "an aws-chunked trailer is not name:value");
    size_t nlen = (size_t)(colon - line);
    char *v = colon + 1, *vend = line + d->line_len;
    while (v < vend && (*v == ' ' || *v == '\t'))
        ++v;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        --vend;
    for (size_t i = 0; i != nlen; ++i)
        line[i] = (char)edge_tolower((unsigned char)line[i]);
    if (d->mode == STORE_CHUNKED_SIGNED)
        return fail(d, STORE_CHUNKED_EFRAMING, "trailers are not allowed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    if (d->mode == STORE_CHUNKED_SIGNED_TRAILER && nlen == 23 && memcmp(line, "x-amz-trailer-signature", 23) == 0) {
        uint8_t md[32];
        char expected[65], claimed[65];
        if (vend - v != 64)
            return fail(d, STORE_CHUNKED_ESIGNATURE, "x-amz-trailer-signature is not 64 hexadecimal digits");
        memcpy(claimed, v, 64);
        claimed[64] = '\0';
        unsigned int n = 32;
        EVP_DigestFinal_ex(d->trailer_sha, md, &n);
        EVP_MD_CTX_free(d->trailer_sha);
        d->trailer_sha = NULL;
        sigv4_chunk_trailer(&d->chain, md, expected);
        if (!sigv4_signature_equal(expected, claimed))
            return fail(d, STORE_CHUNKED_ESIGNATURE, "the trailer signature does not match the trailing headers");
        return STORE_CHUNKED_OK;
    }
    if (d->mode == STORE_CHUNKED_SIGNED_TRAILER) {
        if (d->trailer_sha == NULL)
            return fail(d, STORE_CHUNKED_EFRAMING, "a trailer follows x-amz-trailer-signature");
        EVP_DigestUpdate(d->trailer_sha, line, nlen);
        EVP_DigestUpdate(d->trailer_sha, ":", 1);
        EVP_DigestUpdate(d->trailer_sha, v, (size_t)(vend - v));
        EVP_DigestUpdate(d->trailer_sha, "\n", 1);
    }
    if (d->num_trailers == STORE_CHUNKED_MAX_TRAILERS || nlen >= sizeof(d->trailers[0].name) ||
        (size_t)(vend - v) >= sizeof(d->trailers[0].value))
        return fail(d, STORE_CHUNKED_EFRAMING, "too many or too long aws-chunked trailers");
    memcpy(d->trailers[d->num_trailers].name, line, nlen);
    d->trailers[d->num_trailers].name[nlen] = '\0';
    memcpy(d->trailers[d->num_trailers].value, v, (size_t)(vend - v));
    d->trailers[d->num_trailers].value[vend - v] = '\0';
    ++d->num_trailers;
    return STORE_CHUNKED_OK;
}

int store_chunked_feed(store_chunked_t *d, const void *input, size_t len, store_chunked_sink_cb sink, void *ctx)
{
    const char *p = input, *end = p + len;
    int r;
    while (p < end) {
        switch (d->state) {
        case S_HEADER:
        case S_TRAILER: {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t take = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
            if (d->line_len + take >= sizeof(d->line))
                return fail(d, STORE_CHUNKED_EFRAMING, "an aws-chunked header line is too long");
            memcpy(d->line + d->line_len, p, take);
            d->line_len += take;
            p += take;
            if (nl == NULL)
                break;
            ++p; /* the LF */
            if (d->line_len == 0 || d->line[d->line_len - 1] != '\r')
                return fail(d, STORE_CHUNKED_EFRAMING, "an aws-chunked line does not end with CRLF");
            d->line[--d->line_len] = '\0';
            if (d->state == S_HEADER) {
                r = parse_header(d);
            } else if (d->line_len == 0) {
                if (d->mode == STORE_CHUNKED_SIGNED_TRAILER && d->trailer_sha != NULL)
                    return fail(d, STORE_CHUNKED_ESIGNATURE, "the trailing headers have no x-amz-trailer-signature");
                d->state = S_DONE;
                r = STORE_CHUNKED_OK;
            } else {
                r = parse_trailer(d);
            }
            d->line_len = 0;
            if (r != 0)
                return r;
            break;
        }
        case S_DATA: {
            size_t take = (size_t)(end - p) < d->chunk_left ? (size_t)(end - p) : (size_t)d->chunk_left;
            if (d->sha != NULL)
                EVP_DigestUpdate(d->sha, p, take);
            if (sink != NULL && sink(ctx, p, take) != 0)
                return fail(d, STORE_CHUNKED_ESINK, "cannot store the data");
            d->decoded += take;
            d->chunk_left -= take;
            p += take;
            if (d->chunk_left == 0) {
                if (d->mode != STORE_CHUNKED_UNSIGNED && (r = check_chunk_signature(d)) != 0)
                    return r;
                d->state = S_DATA_CR;
            }
            break;
        }
        case S_DATA_CR:
            if (*p++ != '\r')
                return fail(d, STORE_CHUNKED_EFRAMING, "aws-chunked data is not followed by CRLF (wrong chunk size?)");
            d->state = S_DATA_LF;
            break;
        case S_DATA_LF:
            if (*p++ != '\n')
                return fail(d, STORE_CHUNKED_EFRAMING, "aws-chunked data is not followed by CRLF (wrong chunk size?)");
            d->state = S_HEADER;
            break;
        default:
            return fail(d, STORE_CHUNKED_EFRAMING, "data follows the final aws-chunked chunk");
        }
    }
    return STORE_CHUNKED_OK;
}

int store_chunked_finish(store_chunked_t *d)
{
    if (d->last_chunk < 0)
        return STORE_CHUNKED_EFRAMING;
    if (d->state != S_DONE) {
        d->error = "the aws-chunked body ends before its final chunk";
        return STORE_CHUNKED_EFRAMING;
    }
    return STORE_CHUNKED_OK;
}

const char *store_chunked_trailer(const store_chunked_t *d, const char *name)
{
    for (size_t i = 0; i != d->num_trailers; ++i)
        if (strcmp(d->trailers[i].name, name) == 0)
            return d->trailers[i].value;
    return NULL;
}
