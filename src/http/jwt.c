/* JWT (compact JWS) verification with algorithm-pinned keys; see jwt.h. */
#include "http/jwt.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

/* A JWKS or PEM file larger than this is not a key file. */
#define JWT_MAX_KEY_FILE (1024 * 1024)
#define JWT_MAX_KEYS 64

typedef struct jwt_key {
    http_jwt_alg_t alg;
    char kid[128];   /* "" = none */
    uint8_t *secret; /* HS256 */
    size_t secret_len;
    EVP_PKEY *pkey; /* RS256 / ES256 */
} jwt_key_t;

struct http_jwt_verifier {
    int64_t leeway_s;
    char audience[256];
    char issuer[256];
    jwt_key_t keys[JWT_MAX_KEYS];
    size_t nkeys;
};

/* ---- verifier and keys */

int http_jwt_verifier_new(const http_jwt_options_t *opt, http_jwt_verifier_t **out, sb_err_t *err)
{
    http_jwt_options_t o = opt ? *opt : (http_jwt_options_t){.leeway_s = -1};
    if (o.leeway_s < 0) o.leeway_s = HTTP_JWT_DEFAULT_LEEWAY_S;
    if (o.leeway_s > 300)
        return sb_err_set(err, SB_EINVAL, "JWT clock skew allowance must be 0..300 s (got %lld)",
                          (long long)o.leeway_s);
    if ((o.audience && strlen(o.audience) >= 256) || (o.issuer && strlen(o.issuer) >= 256))
        return sb_err_set(err, SB_EINVAL, "JWT audience and issuer must be shorter than 256 bytes");
    http_jwt_verifier_t *v = calloc(1, sizeof(*v));
    if (!v) return sb_err_set(err, SB_ENOMEM, "out of memory");
    v->leeway_s = o.leeway_s;
    snprintf(v->audience, sizeof(v->audience), "%s", o.audience ? o.audience : "");
    snprintf(v->issuer, sizeof(v->issuer), "%s", o.issuer ? o.issuer : "");
    *out = v;
    return 0;
}

void http_jwt_verifier_free(http_jwt_verifier_t *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->nkeys; i++) {
        if (v->keys[i].secret) OPENSSL_cleanse(v->keys[i].secret, v->keys[i].secret_len);
        free(v->keys[i].secret);
        EVP_PKEY_free(v->keys[i].pkey);
    }
    free(v);
}

size_t http_jwt_verifier_key_count(const http_jwt_verifier_t *v)
{
    return v->nkeys;
}

static int check_kid(const char *kid, sb_err_t *err)
{
    if (kid && strlen(kid) >= sizeof(((jwt_key_t *)0)->kid))
        return sb_err_set(err, SB_EINVAL, "key id (kid) longer than 127 bytes");
    return 0;
}

static jwt_key_t *next_slot(http_jwt_verifier_t *v, sb_err_t *err)
{
    if (v->nkeys >= JWT_MAX_KEYS) {
        sb_err_set(err, SB_ELIMIT, "more than %d JWT keys", JWT_MAX_KEYS);
        return NULL;
    }
    jwt_key_t *k = &v->keys[v->nkeys];
    memset(k, 0, sizeof(*k));
    return k;
}

int http_jwt_verifier_add_hmac(http_jwt_verifier_t *v, const void *secret, size_t len,
                               const char *kid, sb_err_t *err)
{
    if (len < HTTP_JWT_MIN_HMAC_SECRET)
        return sb_err_set(err, SB_EINVAL,
                          "an HS256 secret must be at least %d bytes (256 bits); this one has %zu",
                          HTTP_JWT_MIN_HMAC_SECRET, len);
    if (len > 1024) return sb_err_set(err, SB_EINVAL, "an HS256 secret must be at most 1024 bytes");
    int rc = check_kid(kid, err);
    if (rc < 0) return rc;
    jwt_key_t *k = next_slot(v, err);
    if (!k) return SB_ELIMIT;
    k->secret = malloc(len);
    if (!k->secret) return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    k->alg = HTTP_JWT_HS256;
    snprintf(k->kid, sizeof(k->kid), "%s", kid ? kid : "");
    v->nkeys++;
    return 0;
}

/* The algorithm a public key is pinned to, from its type alone. */
static http_jwt_alg_t alg_for_pkey(EVP_PKEY *pkey)
{
    if (EVP_PKEY_is_a(pkey, "RSA"))
        return EVP_PKEY_get_bits(pkey) >= 2048 ? HTTP_JWT_RS256 : HTTP_JWT_NONE;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            return HTTP_JWT_ES256;
    }
    return HTTP_JWT_NONE;
}

static int add_pkey(http_jwt_verifier_t *v, EVP_PKEY *pkey, const char *kid, const char *what,
                    sb_err_t *err)
{
    http_jwt_alg_t alg = alg_for_pkey(pkey);
    if (alg == HTTP_JWT_NONE) {
        EVP_PKEY_free(pkey);
        return sb_err_set(
            err, SB_EINVAL,
            "%s: only RSA (2048 bits or more, RS256) and P-256 (ES256) public keys are accepted",
            what);
    }
    int rc = check_kid(kid, err);
    jwt_key_t *k = rc < 0 ? NULL : next_slot(v, err);
    if (!k) {
        EVP_PKEY_free(pkey);
        return rc < 0 ? rc : SB_ELIMIT;
    }
    k->alg = alg;
    k->pkey = pkey;
    snprintf(k->kid, sizeof(k->kid), "%s", kid ? kid : "");
    v->nkeys++;
    return 0;
}

int http_jwt_verifier_add_pem(http_jwt_verifier_t *v, const char *pem, size_t len, const char *kid,
                              sb_err_t *err)
{
    if (len > JWT_MAX_KEY_FILE) return sb_err_set(err, SB_EINVAL, "PEM key larger than 1 MiB");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return sb_err_set(err, SB_ENOMEM, "out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pkey) {
        (void)BIO_reset(bio);
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (pkey) {
            /* A private key in a verifier's file is a deployment mistake that would spread
             * the signing key to every verifier; refuse it. */
            EVP_PKEY_free(pkey);
            BIO_free(bio);
            return sb_err_set(err, SB_EINVAL,
                              "the PEM holds a private key; give the verifier the public key only");
        }
    }
    BIO_free(bio);
    if (!pkey)
        return sb_err_set(err, SB_EINVAL,
                          "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
    return add_pkey(v, pkey, kid, "PEM key", err);
}

/* Decodes a base64url JWKS member into a BIGNUM; NULL when absent or malformed. */
static BIGNUM *jwk_bn(json_t *jwk, const char *name, uint8_t *buf, size_t cap, long *len_out)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s) return NULL;
    int n = sb_base64url_decode(s, strlen(s), buf, cap);
    if (n <= 0) return NULL;
    if (len_out) *len_out = n;
    return BN_bin2bn(buf, (int)n, NULL);
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    uint8_t buf[1024];
    BIGNUM *n = jwk_bn(jwk, "n", buf, sizeof(buf), NULL);
    BIGNUM *e = jwk_bn(jwk, "e", buf, sizeof(buf), NULL);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (n && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
        pkey = pkey_fromdata("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *xs = json_string_value(json_object_get(jwk, "x"));
    const char *ys = json_string_value(json_object_get(jwk, "y"));
    if (!crv || strcmp(crv, "P-256") != 0 || !xs || !ys) return NULL;
    /* The uncompressed point 0x04 || x || y, each coordinate exactly 32 bytes. */
    uint8_t point[65];
    point[0] = 4;
    if (sb_base64url_decode(xs, strlen(xs), point + 1, 32) != 32 ||
        sb_base64url_decode(ys, strlen(ys), point + 33, 32) != 32)
        return NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) == 1)
        pkey = pkey_fromdata("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

int http_jwt_verifier_add_jwks(http_jwt_verifier_t *v, const char *json, size_t len, sb_err_t *err)
{
    if (len > JWT_MAX_KEY_FILE) return sb_err_set(err, SB_EINVAL, "JWKS larger than 1 MiB");
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        return sb_err_set(err, SB_EINVAL, "JWKS: expected an object with a \"keys\" array");
    }
    int rc = 0;
    size_t added = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(keys); i++) {
        json_t *jwk = json_array_get(keys, i);
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        const char *alg = json_string_value(json_object_get(jwk, "alg"));
        const char *use = json_string_value(json_object_get(jwk, "use"));
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        if (!kty) {
            rc = sb_err_set(err, SB_EINVAL, "JWKS key %zu: no \"kty\"", i);
            break;
        }
        if (use && strcmp(use, "sig") != 0) continue;
        EVP_PKEY *pkey = NULL;
        if (strcmp(kty, "RSA") == 0) {
            if (alg && strcmp(alg, "RS256") != 0) continue;
            pkey = jwk_rsa(jwk);
        } else if (strcmp(kty, "EC") == 0) {
            if (alg && strcmp(alg, "ES256") != 0) continue;
            pkey = jwk_ec(jwk);
        } else {
            /* "oct" (shared secrets) never come from a key set: a JWKS is meant to be public. */
            continue;
        }
        if (!pkey) {
            rc = sb_err_set(err, SB_EINVAL, "JWKS key %zu: malformed %s key", i, kty);
            break;
        }
        char what[48];
        snprintf(what, sizeof(what), "JWKS key %zu", i);
        rc = add_pkey(v, pkey, kid, what, err);
        if (rc == 0) added++;
    }
    json_decref(doc);
    if (rc == 0 && added == 0)
        rc = sb_err_set(err, SB_EINVAL, "JWKS: no RS256 or ES256 signing key in it");
    return rc;
}

int http_jwt_verifier_add_key_file(http_jwt_verifier_t *v, const char *path, sb_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_err_set(err, SB_EIO, "cannot open JWT key file %s: %s", path, strerror(errno));
    char *buf = malloc(JWT_MAX_KEY_FILE + 1);
    size_t n = buf ? fread(buf, 1, JWT_MAX_KEY_FILE + 1, f) : 0;
    fclose(f);
    if (!buf) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int rc;
    if (n > JWT_MAX_KEY_FILE) {
        rc = sb_err_set(err, SB_EINVAL, "JWT key file %s is larger than 1 MiB", path);
    } else {
        size_t i = 0;
        while (i < n && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
            i++;
        sb_err_t e = {0};
        rc = i < n && buf[i] == '{' ? http_jwt_verifier_add_jwks(v, buf, n, &e)
                                    : http_jwt_verifier_add_pem(v, buf, n, NULL, &e);
        if (rc < 0) sb_err_set(err, rc, "JWT key file %s: %s", path, e.msg);
    }
    free(buf);
    return rc;
}

/* ---- verification */

static json_t *decode_json_part(const char *p, size_t n)
{
    uint8_t buf[HTTP_JWT_MAX_TOKEN];
    int len = sb_base64url_decode(p, n, buf, sizeof(buf));
    if (len < 0) return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool verify_with(const jwt_key_t *k, const char *signed_part, size_t slen,
                        const uint8_t *sig, size_t siglen)
{
    if (k->alg == HTTP_JWT_HS256) {
        uint8_t mac[32];
        unsigned int maclen = sizeof(mac);
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const uint8_t *)signed_part, slen,
                  mac, &maclen))
            return false;
        return siglen == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
    }
    uint8_t der[80];
    const uint8_t *s = sig;
    size_t sl = siglen;
    if (k->alg == HTTP_JWT_ES256) {
        /* JWS carries r || s (32 bytes each); OpenSSL verifies the DER form. */
        if (siglen != 64) return false;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !ss || ECDSA_SIG_set0(es, r, ss) != 1) {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(ss);
            return false;
        }
        uint8_t *p = der;
        int dl = i2d_ECDSA_SIG(es, NULL);
        if (dl <= 0 || (size_t)dl > sizeof(der)) {
            ECDSA_SIG_free(es);
            return false;
        }
        dl = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        s = der;
        sl = (size_t)dl;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestVerify(ctx, s, sl, (const uint8_t *)signed_part, slen) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static int copy_claim(json_t *claims, const char *name, char *out, size_t cap, bool required)
{
    json_t *j = json_object_get(claims, name);
    if (!j) return required ? SB_EINVAL : 0;
    const char *s = json_string_value(j);
    if (!s || strlen(s) >= cap) return SB_EINVAL;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static bool audience_matches(json_t *aud, const char *want)
{
    if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a) if (json_is_string(a) &&
                                      strcmp(json_string_value(a), want) == 0) return true;
    return false;
}

int http_jwt_verify(const http_jwt_verifier_t *v, const char *token, size_t n, int64_t now_s,
                    http_jwt_claims_t *out, sb_err_t *err)
{
    if (!token || n == 0) return sb_err_set(err, SB_EINVAL, "no token");
    if (n > HTTP_JWT_MAX_TOKEN) return sb_err_set(err, SB_EINVAL, "token too long");
    if (memchr(token, 0, n)) return sb_err_set(err, SB_EINVAL, "malformed token");
    const char *dot1 = memchr(token, '.', n);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', n - (size_t)(dot2 + 1 - token)))
        return sb_err_set(err, SB_EINVAL, "malformed token: expected header.payload.signature");
    json_t *hdr = decode_json_part(token, (size_t)(dot1 - token));
    if (!hdr) return sb_err_set(err, SB_EINVAL, "malformed token header");
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    json_t *kidj = json_object_get(hdr, "kid");
    char kid[128] = "";
    int bad_kid = kidj && (!json_is_string(kidj) || strlen(json_string_value(kidj)) >= sizeof(kid));
    if (!bad_kid && kidj) snprintf(kid, sizeof(kid), "%s", json_string_value(kidj));
    http_jwt_alg_t talg = !alg                        ? HTTP_JWT_NONE
                          : strcmp(alg, "HS256") == 0 ? HTTP_JWT_HS256
                          : strcmp(alg, "RS256") == 0 ? HTTP_JWT_RS256
                          : strcmp(alg, "ES256") == 0 ? HTTP_JWT_ES256
                                                      : HTTP_JWT_NONE;
    /* A "crit" header names extensions the token requires us to understand; we understand
     * none, so RFC 7515 §4.1.11 says refuse. */
    int crit = json_object_get(hdr, "crit") != NULL;
    char alg_name[24];
    snprintf(alg_name, sizeof(alg_name), "%.20s", alg ? alg : "(missing)");
    json_decref(hdr);
    if (bad_kid) return sb_err_set(err, SB_EINVAL, "malformed token header (kid)");
    if (crit)
        return sb_err_set(err, SB_EINVAL,
                          "token header has \"crit\" extensions, which are not supported");
    if (talg == HTTP_JWT_NONE)
        return sb_err_set(err, SB_EINVAL, "token algorithm %s is not accepted", alg_name);

    uint8_t sig[512];
    int siglen = sb_base64url_decode(dot2 + 1, n - (size_t)(dot2 + 1 - token), sig, sizeof(sig));
    if (siglen <= 0) return sb_err_set(err, SB_EINVAL, "bad token signature");
    bool have_alg = false, verified = false;
    http_jwt_alg_t used = HTTP_JWT_NONE;
    for (size_t i = 0; i < v->nkeys && !verified; i++) {
        const jwt_key_t *k = &v->keys[i];
        /* The algorithm is pinned per key: only keys made for the token's algorithm are tried. */
        if (k->alg != talg) continue;
        if (kid[0] && k->kid[0] && strcmp(kid, k->kid) != 0) continue;
        have_alg = true;
        if (verify_with(k, token, (size_t)(dot2 - token), sig, (size_t)siglen)) {
            verified = true;
            used = k->alg;
        }
    }
    if (!have_alg)
        return sb_err_set(err, SB_EINVAL, "no key for token algorithm %s%s", alg_name,
                          kid[0] ? " and key id" : "");
    if (!verified) return sb_err_set(err, SB_EINVAL, "bad token signature");

    json_t *claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!claims) return sb_err_set(err, SB_EINVAL, "malformed token claims");
    http_jwt_claims_t c = {.alg = used};
    int rc = 0;
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf"),
           *iat = json_object_get(claims, "iat");
    if (!json_is_integer(exp))
        rc = sb_err_set(err, SB_EINVAL, "token has no integer \"exp\"");
    else if ((nbf && !json_is_integer(nbf)) || (iat && !json_is_integer(iat)))
        rc = sb_err_set(err, SB_EINVAL, "token \"nbf\"/\"iat\" must be integers");
    else if (copy_claim(claims, "sub", c.sub, sizeof(c.sub), true) < 0)
        rc = sb_err_set(err, SB_EINVAL, "token has no usable \"sub\"");
    else if (copy_claim(claims, "jti", c.jti, sizeof(c.jti), false) < 0 ||
             copy_claim(claims, "role", c.role, sizeof(c.role), false) < 0 ||
             copy_claim(claims, "use", c.use, sizeof(c.use), false) < 0 ||
             copy_claim(claims, "scope", c.scope, sizeof(c.scope), false) < 0)
        rc = sb_err_set(err, SB_EINVAL, "token claims jti/role/use/scope malformed");
    if (rc == 0) {
        c.exp = json_integer_value(exp);
        c.nbf = nbf ? json_integer_value(nbf) : 0;
        c.iat = iat ? json_integer_value(iat) : 0;
        /* now - leeway >= exp: expired; now + leeway < nbf: not yet valid. Written to avoid
         * overflow on hostile values. */
        if (c.exp <= now_s - v->leeway_s)
            rc = sb_err_set(err, SB_EINVAL, "token expired");
        else if (nbf && c.nbf > now_s + v->leeway_s)
            rc = sb_err_set(err, SB_EINVAL, "token not valid yet (nbf)");
    }
    if (rc == 0 && v->issuer[0]) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (!iss || strcmp(iss, v->issuer) != 0)
            rc = sb_err_set(err, SB_EINVAL, "wrong token issuer");
    }
    if (rc == 0 && v->audience[0] && !audience_matches(json_object_get(claims, "aud"), v->audience))
        rc = sb_err_set(err, SB_EINVAL, "wrong token audience");
    json_decref(claims);
    if (rc == 0 && out) *out = c;
    return rc;
}

int http_jwt_sign_hs256(const http_jwt_verifier_t *v, const char *claims_json, char **out)
{
    const jwt_key_t *k = NULL;
    for (size_t i = 0; i < v->nkeys && !k; i++)
        if (v->keys[i].alg == HTTP_JWT_HS256) k = &v->keys[i];
    if (!k) return SB_ENOENT;
    char header[200];
    if (k->kid[0])
        snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 k->kid);
    else
        snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    size_t hlen = strlen(header), plen = strlen(claims_json);
    size_t cap = (hlen + plen) * 4 / 3 + 64 + 16;
    char *tok = malloc(cap);
    if (!tok) return SB_ENOMEM;
    size_t o = (size_t)sb_base64url_encode((const uint8_t *)header, hlen, tok, cap);
    tok[o++] = '.';
    o += (size_t)sb_base64url_encode((const uint8_t *)claims_json, plen, tok + o, cap - o);
    uint8_t mac[32];
    unsigned int maclen = sizeof(mac);
    if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const uint8_t *)tok, o, mac, &maclen)) {
        free(tok);
        return SB_EIO;
    }
    tok[o++] = '.';
    sb_base64url_encode(mac, sizeof(mac), tok + o, cap - o);
    *out = tok;
    return 0;
}
