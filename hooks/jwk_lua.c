/* hooks/jwk_lua.c - edge.jwk_verify: checks a JWS signature (RS256/384/512, PS256/384/512, ES256/384/512) with a public key given
 * as a JWK (a table as decoded from a JWKS document) or as PEM text (a public key or a certificate), with OpenSSL. What a ported
 * Lambda@Edge function does with `jwks-rsa` + `jsonwebtoken`, or with crypto.createVerify(...).verify(pem, sig).
 *
 *   edge.jwk_verify(key, alg, signing_input, signature) -> true | false | nil, reason
 *
 * `signature` is the raw signature (base64url-decode the token's third part first); ES* signatures are JWS's fixed-size R || S,
 * converted here to the DER OpenSSL verifies. A bad signature is false; a key or alg that cannot be used is nil and the reason:
 * an unknown alg ("none" and the HMAC algorithms too: a public key is never used as an HMAC secret), a key of another type
 * than alg's, a JWK whose own "alg" or "use" says otherwise, an RSA key under 2048 bits or over 8192, an EC point off its curve.
 *
 * The same rules as hooks/stdlib_lua.c: arguments are checked (luaL_check*, lua_getfield) before any resource is taken; the
 * OpenSSL work runs between HOST_ENTER and HOST_LEAVE (the watchdog never jumps out of it) and raises no Lua error.
 */
#include <string.h>
#include <lauxlib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "base/str.h"
#include "hooks/internal.h"
#include "hooks/jwk_lua.h"

enum { KEY_RSA, KEY_EC };

/* one JWS algorithm */
typedef struct jws_alg {
    const char *name;
    int kind;        /* KEY_RSA or KEY_EC */
    int pss;         /* RSASSA-PSS (salt length = digest length) instead of PKCS #1 v1.5 */
    const char *md;  /* digest */
    size_t coord;    /* EC: the size of R and S (and of a coordinate) in bytes */
    const char *crv; /* EC: the JWK curve name */
    const char *group;
} jws_alg_t;

static const jws_alg_t algs[] = {
    {"RS256", KEY_RSA, 0, "SHA256", 0, NULL, NULL},
    {"RS384", KEY_RSA, 0, "SHA384", 0, NULL, NULL},
    {"RS512", KEY_RSA, 0, "SHA512", 0, NULL, NULL},
    {"PS256", KEY_RSA, 1, "SHA256", 0, NULL, NULL},
    {"PS384", KEY_RSA, 1, "SHA384", 0, NULL, NULL},
    {"PS512", KEY_RSA, 1, "SHA512", 0, NULL, NULL},
    {"ES256", KEY_EC, 0, "SHA256", 32, "P-256", "prime256v1"},
    {"ES384", KEY_EC, 0, "SHA384", 48, "P-384", "secp384r1"},
    {"ES512", KEY_EC, 0, "SHA512", 66, "P-521", "secp521r1"},
};

#define RSA_MIN_BITS 2048
#define RSA_MAX_BYTES 1024 /* 8192 bits */
#define PEM_MAX 16384

/* the key as the arguments gave it: strings that stay on the Lua stack while it is used */
typedef struct key_in {
    const char *pem; /* PEM text, or NULL for a JWK */
    size_t pem_len;
    const char *kty, *crv, *n, *e, *x, *y, *jwk_alg, *use;
    size_t n_len, e_len, x_len, y_len;
} key_in_t;

static const jws_alg_t *find_alg(const char *name)
{
    for (size_t i = 0; i != sizeof(algs) / sizeof(algs[0]); ++i)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

/* a string field of the JWK table at index idx (NULL when absent); the value stays on the stack */
static const char *jwk_field(lua_State *L, int idx, const char *name, size_t *len)
{
    lua_getfield(L, idx, name);
    if (lua_type(L, -1) != LUA_TSTRING)
        return NULL;
    return lua_tolstring(L, -1, len);
}

/* base64url (padding optional) into dst of cap bytes; the decoded length, or -1 */
static long b64url(unsigned char *dst, size_t cap, const char *src, size_t len)
{
    if (src == NULL || len == 0 || (len + 3) / 4 * 3 > cap)
        return -1;
    return edge_base64_decode(dst, src, len, EDGE_BASE64_LENIENT);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_from_jwk(const key_in_t *k, const char **why)
{
    unsigned char n[RSA_MAX_BYTES + 3], e[16];
    long nl = b64url(n, sizeof(n), k->n, k->n_len), el = b64url(e, sizeof(e), k->e, k->e_len);
    if (nl <= 0 || el <= 0) {
        *why = "the JWK's n or e is missing, not base64url or too large";
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bn != NULL && be != NULL && bld != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        pkey = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (pkey == NULL)
        *why = "the JWK is not a usable RSA key";
    return pkey;
}

static EVP_PKEY *ec_from_jwk(const key_in_t *k, const jws_alg_t *a, const char **why)
{
    if (k->crv == NULL || strcmp(k->crv, a->crv) != 0) {
        *why = "the JWK's crv does not match alg";
        return NULL;
    }
    unsigned char x[80], y[80], point[1 + 2 * 66];
    long xl = b64url(x, sizeof(x), k->x, k->x_len), yl = b64url(y, sizeof(y), k->y, k->y_len);
    if (xl != (long)a->coord || yl != (long)a->coord) {
        *why = "the JWK's x or y is missing, not base64url or not the curve's size";
        return NULL;
    }
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, a->coord);
    memcpy(point + 1 + a->coord, y, a->coord);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld != NULL && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, a->group, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * a->coord) == 1)
        pkey = from_params("EC", bld); /* OpenSSL checks that the point is on the curve */
    OSSL_PARAM_BLD_free(bld);
    if (pkey == NULL)
        *why = "the JWK is not a point on its curve";
    return pkey;
}

static EVP_PKEY *from_pem(const key_in_t *k, const char **why)
{
    BIO *bio = BIO_new_mem_buf(k->pem, (int)k->pem_len);
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    if (pkey == NULL && bio != NULL && BIO_reset(bio) == 1) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert != NULL)
            pkey = X509_get_pubkey(cert);
        X509_free(cert);
    }
    BIO_free(bio);
    if (pkey == NULL)
        *why = "not a PEM public key or certificate";
    return pkey;
}

static int rsa_size_ok(EVP_PKEY *pkey)
{
    return EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= RSA_MIN_BITS && EVP_PKEY_get_bits(pkey) <= RSA_MAX_BYTES * 8;
}

/* the curve by name: another curve of the same size (secp256k1 for ES256) is refused too */
static int ec_curve_ok(EVP_PKEY *pkey, const jws_alg_t *a)
{
    char group[64];
    size_t len = 0;
    return EVP_PKEY_is_a(pkey, "EC") &&
           EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) == 1 &&
           strcmp(group, a->group) == 0;
}

/* the key for alg a, or NULL and *why */
static EVP_PKEY *make_key(const key_in_t *k, const jws_alg_t *a, const char **why)
{
    EVP_PKEY *pkey;
    if (k->pem != NULL) {
        pkey = from_pem(k, why);
    } else {
        const char *want = a->kind == KEY_RSA ? "RSA" : "EC";
        if (k->kty == NULL || strcmp(k->kty, want) != 0) {
            *why = "the JWK's kty does not match alg";
            return NULL;
        }
        if (k->jwk_alg != NULL && strcmp(k->jwk_alg, a->name) != 0) {
            *why = "the JWK's alg does not match alg";
            return NULL;
        }
        if (k->use != NULL && strcmp(k->use, "sig") != 0) {
            *why = "the JWK's use is not sig";
            return NULL;
        }
        pkey = a->kind == KEY_RSA ? rsa_from_jwk(k, why) : ec_from_jwk(k, a, why);
    }
    if (pkey == NULL)
        return NULL;
    int ok = a->kind == KEY_RSA ? rsa_size_ok(pkey) : ec_curve_ok(pkey, a);
    if (!ok) {
        *why = a->kind == KEY_RSA ? "the key is not an RSA key of 2048 to 8192 bits" : "the key is not an EC key on alg's curve";
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* JWS's R || S as DER (what OpenSSL verifies); its length, or 0 */
static size_t ecdsa_der(const jws_alg_t *a, const unsigned char *sig, size_t len, unsigned char *out, size_t cap)
{
    if (len != 2 * a->coord)
        return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)a->coord, NULL), *s = BN_bin2bn(sig + a->coord, (int)a->coord, NULL);
    size_t n = 0;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        int dl = i2d_ECDSA_SIG(es, NULL);
        unsigned char *p = out;
        if (dl > 0 && (size_t)dl <= cap && i2d_ECDSA_SIG(es, &p) == dl)
            n = (size_t)dl;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return n;
}

/* 1 valid, 0 not, -1 and *why when the key cannot be used */
static int verify(const key_in_t *k, const jws_alg_t *a, const unsigned char *data, size_t dlen, const unsigned char *sig,
                  size_t slen, const char **why)
{
    EVP_PKEY *pkey = make_key(k, a, why);
    if (pkey == NULL)
        return -1;
    unsigned char der[2 * 66 + 16];
    if (a->kind == KEY_EC) {
        slen = ecdsa_der(a, sig, slen, der, sizeof(der));
        sig = der;
    }
    int rc = 0;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (slen != 0 && mctx != NULL && EVP_DigestVerifyInit_ex(mctx, &pctx, a->md, NULL, NULL, pkey, NULL) == 1 &&
        (!a->pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1)))
        rc = EVP_DigestVerify(mctx, sig, slen, data, dlen) == 1;
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pkey);
    return rc;
}

/* edge.jwk_verify(key, alg, signing_input, signature) */
static int l_jwk_verify(lua_State *L)
{
    key_in_t k;
    memset(&k, 0, sizeof(k));
    const char *alg = luaL_checkstring(L, 2);
    size_t dlen, slen;
    const char *data = luaL_checklstring(L, 3, &dlen), *sig = luaL_checklstring(L, 4, &slen);
    if (lua_type(L, 1) == LUA_TSTRING) {
        k.pem = lua_tolstring(L, 1, &k.pem_len);
        luaL_argcheck(L, k.pem_len <= PEM_MAX, 1, "PEM text over 16 KB");
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        luaL_checkstack(L, 12, "edge.jwk_verify");
        k.kty = jwk_field(L, 1, "kty", NULL);
        k.crv = jwk_field(L, 1, "crv", NULL);
        k.n = jwk_field(L, 1, "n", &k.n_len);
        k.e = jwk_field(L, 1, "e", &k.e_len);
        k.x = jwk_field(L, 1, "x", &k.x_len);
        k.y = jwk_field(L, 1, "y", &k.y_len);
        k.jwk_alg = jwk_field(L, 1, "alg", NULL);
        k.use = jwk_field(L, 1, "use", NULL);
    }
    const jws_alg_t *a = find_alg(alg);
    if (a == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "unsupported alg %s (RS256/384/512, PS256/384/512, ES256/384/512)", alg);
        return 2;
    }
    const char *why = NULL;
    HOST_ENTER();
    int rc = verify(&k, a, (const unsigned char *)data, dlen, (const unsigned char *)sig, slen, &why);
    ERR_clear_error(); /* a refused key or signature leaves entries in the thread's queue */
    HOST_LEAVE();
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushboolean(L, rc);
    return 1;
}

void hook_jwk_register(lua_State *L)
{
    lua_pushcfunction(L, l_jwk_verify);
    lua_setfield(L, -2, "jwk_verify");
}
