/* Tests for the shared HTTP auth layer: the JWT verifier (HS256/RS256/ES256, PEM and JWKS keys,
 * algorithm pinning, exp/nbf with clock skew, aud/iss), revocation that survives a restart,
 * role rules, rate limits, Argon2id passwords, and the gate answered over real HTTP (libcurl
 * against the admin HTTP server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "http/auth.c"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";
#define NOW 1800000000
#define CLAIMS_OK "{\"sub\":\"x\",\"role\":\"admin\",\"use\":\"access\",\"exp\":1800000100}"

static http_auth_t *new_auth_cfg(http_auth_config_t *cfg)
{
    http_auth_t *a = NULL;
    sb_err_t err = {0};
    if (http_auth_new(cfg, &a, &err) < 0) fail_msg("http_auth_new: %s", err.msg);
    return a;
}

static http_auth_t *new_auth(void)
{
    http_auth_config_t cfg = {.enabled = true,
                              .secret = SECRET,
                              .secret_len = strlen(SECRET),
                              .access_ttl_s = 60,
                              .refresh_ttl_s = 3600,
                              .leeway_s = 0};
    return new_auth_cfg(&cfg);
}

/* header.payload.signature with an arbitrary header; the signature is HMAC-SHA256 with key
 * (or empty when key is NULL, as "alg":"none" tokens are). */
static void forge_hmac(const char *header, const char *payload, const void *key, size_t keylen,
                       char *out)
{
    size_t o = sb_base64url_encode((const uint8_t *)header, strlen(header), out, SB_BASE64_ENCODED_CAP(strlen(header)));
    out[o++] = '.';
    o += sb_base64url_encode((const uint8_t *)payload, strlen(payload), out + o, SB_BASE64_ENCODED_CAP(strlen(payload)));
    uint8_t mac[32];
    unsigned int len = 32;
    HMAC(EVP_sha256(), key ? key : "", key ? (int)keylen : 0, (const uint8_t *)out, o, mac, &len);
    out[o++] = '.';
    out[o] = 0;
    if (key) sb_base64url_encode(mac, 32, out + o, SB_BASE64_ENCODED_CAP(32));
}

/* Signs with an RSA (RS256) or P-256 (ES256, JWS r||s form) private key. */
static void sign_pkey(EVP_PKEY *k, const char *header, const char *payload, char *out)
{
    size_t o = sb_base64url_encode((const uint8_t *)header, strlen(header), out, SB_BASE64_ENCODED_CAP(strlen(header)));
    out[o++] = '.';
    o += sb_base64url_encode((const uint8_t *)payload, strlen(payload), out + o, SB_BASE64_ENCODED_CAP(strlen(payload)));
    uint8_t sig[600];
    size_t slen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &slen, (const uint8_t *)out, o), 1);
    EVP_MD_CTX_free(ctx);
    out[o++] = '.';
    if (EVP_PKEY_is_a(k, "EC")) {
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
        uint8_t rs[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
        ECDSA_SIG_free(es);
        sb_base64url_encode(rs, 64, out + o, SB_BASE64_ENCODED_CAP(64));
    } else {
        sb_base64url_encode(sig, slen, out + o, SB_BASE64_ENCODED_CAP(slen));
    }
}

static char *public_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static int verify(const http_jwt_verifier_t *v, const char *tok, int64_t now, sb_err_t *err)
{
    return http_jwt_verify(v, tok, strlen(tok), now, NULL, err);
}

static void test_hs256_roundtrip_and_claims(void **state)
{
    http_auth_t *a = new_auth();
    char *tok = NULL;
    assert_int_equal(http_auth_issue(a, "alice", HTTP_ROLE_OPERATOR, HTTP_TOKEN_ACCESS, NOW, &tok),
                     0);
    http_auth_claims_t c;
    assert_int_equal(http_auth_verify(a, tok, NOW + 1, &c, NULL), 0);
    assert_string_equal(c.subject, "alice");
    assert_int_equal(c.role, HTTP_ROLE_OPERATOR);
    assert_int_equal(c.expires_at, NOW + 60);
    assert_true(strlen(c.jti) >= 16);
    free(tok);
    http_auth_free(a);
}

static void test_short_secret_refused(void **state)
{
    http_jwt_verifier_t *v = NULL;
    sb_err_t err = {0};
    assert_int_equal(http_jwt_verifier_new(NULL, &v, &err), 0);
    assert_int_equal(
        http_jwt_verifier_add_hmac(v, "0123456789abcdef0123456789abcde", 31, NULL, &err),
        SB_EINVAL);
    assert_non_null(strstr(err.msg, "256 bits"));
    http_jwt_verifier_free(v);
}

static void test_refusals_hs256(void **state)
{
    http_jwt_options_t o = {.leeway_s = 30, .audience = "streambus", .issuer = "https://idp"};
    http_jwt_verifier_t *v = NULL;
    sb_err_t err = {0};
    assert_int_equal(http_jwt_verifier_new(&o, &v, &err), 0);
    assert_int_equal(http_jwt_verifier_add_hmac(v, SECRET, strlen(SECRET), NULL, &err), 0);
    const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char tok[2048];
    forge_hmac(h,
               "{\"sub\":\"x\",\"exp\":1800000100,\"aud\":[\"other\",\"streambus\"],\"iss\":"
               "\"https://idp\"}",
               SECRET, strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), 0);
    /* expired, with the 30 s skew allowance on both sides of the edge */
    assert_int_equal(verify(v, tok, 1800000100 + 29, &err), 0);
    assert_int_equal(verify(v, tok, 1800000100 + 30, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token expired");
    /* not yet valid */
    forge_hmac(h,
               "{\"sub\":\"x\",\"exp\":1800000900,\"nbf\":1800000100,\"aud\":\"streambus\",\"iss\":"
               "\"https://idp\"}",
               SECRET, strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token not valid yet (nbf)");
    assert_int_equal(verify(v, tok, 1800000100 - 30, &err), 0);
    /* wrong audience, no audience, wrong issuer */
    forge_hmac(h, "{\"sub\":\"x\",\"exp\":1800000100,\"aud\":\"kafka\",\"iss\":\"https://idp\"}",
               SECRET, strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "wrong token audience");
    forge_hmac(h, "{\"sub\":\"x\",\"exp\":1800000100,\"iss\":\"https://idp\"}", SECRET,
               strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    forge_hmac(h,
               "{\"sub\":\"x\",\"exp\":1800000100,\"aud\":\"streambus\",\"iss\":\"https://evil\"}",
               SECRET, strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "wrong token issuer");
    /* forged signature: signed with another secret */
    forge_hmac(h,
               "{\"sub\":\"x\",\"exp\":1800000100,\"aud\":\"streambus\",\"iss\":\"https://idp\"}",
               "ffffffffffffffffffffffffffffffffffff", 36, tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "bad token signature");
    /* alg none, with and without a signature; and other algorithms */
    forge_hmac("{\"alg\":\"none\"}",
               "{\"sub\":\"x\",\"exp\":1800000100,\"aud\":\"streambus\",\"iss\":\"https://idp\"}",
               NULL, 0, tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token algorithm none is not accepted");
    forge_hmac("{\"alg\":\"None\"}", "{\"sub\":\"x\",\"exp\":1800000100}", SECRET, strlen(SECRET),
               tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    forge_hmac("{\"alg\":\"HS512\"}", "{\"sub\":\"x\",\"exp\":1800000100}", SECRET, strlen(SECRET),
               tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    forge_hmac("{\"typ\":\"JWT\"}", "{\"sub\":\"x\",\"exp\":1800000100}", SECRET, strlen(SECRET),
               tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    /* exp required; crit refused */
    forge_hmac(h, "{\"sub\":\"x\",\"aud\":\"streambus\",\"iss\":\"https://idp\"}", SECRET,
               strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    forge_hmac("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}",
               "{\"sub\":\"x\",\"exp\":1800000100,\"aud\":\"streambus\",\"iss\":\"https://idp\"}",
               SECRET, strlen(SECRET), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    /* malformed shapes */
    assert_int_equal(verify(v, "a.b", NOW, &err), SB_EINVAL);
    assert_int_equal(verify(v, "a.b.c.d", NOW, &err), SB_EINVAL);
    assert_int_equal(verify(v, "!!.!!.!!", NOW, &err), SB_EINVAL);
    assert_int_equal(verify(v, "", NOW, &err), SB_EINVAL);
    http_jwt_verifier_free(v);
}

/* The classic confusion attack: the verifier holds an RSA public key; the attacker makes an
 * HS256 token whose HMAC key is that public key's PEM text. A verifier that let the token's
 * header choose the algorithm would accept it. */
static void test_rs256_and_key_confusion(void **state)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(rsa);
    char *pem = public_pem(rsa);
    http_jwt_verifier_t *v = NULL;
    sb_err_t err = {0};
    assert_int_equal(http_jwt_verifier_new(NULL, &v, &err), 0);
    assert_int_equal(http_jwt_verifier_add_pem(v, pem, strlen(pem), NULL, &err), 0);
    char tok[4096];
    sign_pkey(rsa, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", CLAIMS_OK, tok);
    http_jwt_claims_t c;
    assert_int_equal(http_jwt_verify(v, tok, strlen(tok), NOW, &c, &err), 0);
    assert_int_equal(c.alg, HTTP_JWT_RS256);
    forge_hmac("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", CLAIMS_OK, pem, strlen(pem), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "no key for token algorithm HS256");
    /* An RS256 header over that HMAC signature fails the RSA check. */
    forge_hmac("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", CLAIMS_OK, pem, strlen(pem), tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    assert_string_equal(err.msg, "bad token signature");
    /* A private key is refused as a verifier key. */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, rsa, NULL, NULL, 0, NULL, NULL);
    char *priv;
    long n = BIO_get_mem_data(b, &priv);
    assert_int_equal(http_jwt_verifier_add_pem(v, priv, (size_t)n, NULL, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "private key"));
    BIO_free(b);
    free(pem);
    EVP_PKEY_free(rsa);
    http_jwt_verifier_free(v);
}

static void b64_bn(EVP_PKEY *k, const char *param, char *out)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    uint8_t buf[600];
    int n = BN_bn2bin(bn, buf);
    sb_base64url_encode(buf, (size_t)n, out, SB_BASE64_ENCODED_CAP((size_t)n));
    BN_free(bn);
}

static void test_jwks_rsa_and_ec(void **state)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    char n[800], e[16], x[64], y[64];
    b64_bn(rsa, OSSL_PKEY_PARAM_RSA_N, n);
    b64_bn(rsa, OSSL_PKEY_PARAM_RSA_E, e);
    uint8_t pt[65];
    size_t ptlen = 0;
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptlen), 1);
    assert_int_equal(ptlen, 65);
    sb_base64url_encode(pt + 1, 32, x, SB_BASE64_ENCODED_CAP(32));
    sb_base64url_encode(pt + 33, 32, y, SB_BASE64_ENCODED_CAP(32));
    char jwks[2048];
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":"
             "\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
             n, e, x, y);
    http_jwt_verifier_t *v = NULL;
    sb_err_t err = {0};
    assert_int_equal(http_jwt_verifier_new(NULL, &v, &err), 0);
    assert_int_equal(http_jwt_verifier_add_jwks(v, jwks, strlen(jwks), &err), 0);
    assert_int_equal(http_jwt_verifier_key_count(v),
                     2); /* the "oct" key is never taken from a JWKS */
    char tok[4096];
    sign_pkey(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", CLAIMS_OK, tok);
    assert_int_equal(verify(v, tok, NOW, &err), 0);
    sign_pkey(ec, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", CLAIMS_OK, tok);
    http_jwt_claims_t c;
    assert_int_equal(http_jwt_verify(v, tok, strlen(tok), NOW, &c, &err), 0);
    assert_int_equal(c.alg, HTTP_JWT_ES256);
    /* a kid that is not in the set */
    sign_pkey(ec, "{\"alg\":\"ES256\",\"kid\":\"zz\"}", CLAIMS_OK, tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    /* ES256 token claiming RS256 */
    sign_pkey(ec, "{\"alg\":\"RS256\"}", CLAIMS_OK, tok);
    assert_int_equal(verify(v, tok, NOW, &err), SB_EINVAL);
    /* malformed JWKS entries are named */
    const char *bad = "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}";
    assert_int_equal(http_jwt_verifier_add_jwks(v, bad, strlen(bad), &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "JWKS key 0"));
    assert_int_equal(http_jwt_verifier_add_jwks(v, "[]", 2, &err), SB_EINVAL);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    http_jwt_verifier_free(v);
}

static void test_revocation_survives_restart(void **state)
{
    char path[] = "/tmp/sb-revoked-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    http_auth_config_t cfg = {
        .enabled = true, .secret = SECRET, .secret_len = strlen(SECRET), .revocations_file = path};
    http_auth_t *a = new_auth_cfg(&cfg);
    char *tok = NULL;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(http_auth_issue(a, "bob", HTTP_ROLE_VIEWER, HTTP_TOKEN_REFRESH, now, &tok), 0);
    http_auth_claims_t c;
    assert_int_equal(http_auth_verify(a, tok, now, &c, NULL), 0);
    assert_int_equal(http_auth_revoke(a, c.jti, c.expires_at, NULL), 0);
    sb_err_t err = {0};
    assert_int_equal(http_auth_verify(a, tok, now, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token revoked");
    http_auth_free(a);
    a = new_auth_cfg(&cfg);
    assert_int_equal(http_auth_verify(a, tok, now, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token revoked");
    http_auth_free(a);
    free(tok);
    unlink(path);
}

static void test_rules(void **state)
{
    http_auth_t *a = new_auth();
    http_auth_add_rule(a, "GET", "/connectors/**", HTTP_ROLE_VIEWER);
    http_auth_add_rule(a, "PUT", "/connectors/*/pause", HTTP_ROLE_OPERATOR);
    http_auth_add_rule(a, "POST", "/connectors/*/tasks/*/restart", HTTP_ROLE_OPERATOR);
    assert_int_equal(http_auth_need(a, "GET", "/connectors"), HTTP_ROLE_VIEWER);
    assert_int_equal(http_auth_need(a, "HEAD", "/connectors/x/config"), HTTP_ROLE_VIEWER);
    assert_int_equal(http_auth_need(a, "PUT", "/connectors/x/pause"), HTTP_ROLE_OPERATOR);
    assert_int_equal(http_auth_need(a, "PUT", "/connectors/x/y/pause"), HTTP_ROLE_ADMIN);
    assert_int_equal(http_auth_need(a, "POST", "/connectors/x/tasks/0/restart"),
                     HTTP_ROLE_OPERATOR);
    assert_int_equal(http_auth_need(a, "PUT", "/connectors/x/config"),
                     HTTP_ROLE_ADMIN); /* no rule: admin */
    assert_int_equal(http_auth_need(a, "GET", "/connectorsX"), HTTP_ROLE_ADMIN);
    http_auth_free(a);
}

static void test_rate_limit(void **state)
{
    http_auth_config_t cfg = {
        .enabled = true, .secret = SECRET, .secret_len = strlen(SECRET), .rate_per_address = 1};
    http_auth_t *a = new_auth_cfg(&cfg);
    int retry = 0;
    /* burst of 2, then refused until a token refills */
    assert_true(http_auth_rate_allow(a, false, "10.0.0.1", 100.0, &retry));
    assert_true(http_auth_rate_allow(a, false, "10.0.0.1", 100.0, &retry));
    assert_false(http_auth_rate_allow(a, false, "10.0.0.1", 100.0, &retry));
    assert_int_equal(retry, 1);
    assert_true(http_auth_rate_allow(a, false, "10.0.0.2", 100.0, &retry)); /* per address */
    assert_true(
        http_auth_rate_allow(a, true, "10.0.0.1", 100.0, &retry)); /* per principal: no limit set */
    assert_true(http_auth_rate_allow(a, false, "10.0.0.1", 101.0, &retry));
    http_auth_free(a);
}

static void test_rate_limit_per_principal(void **state)
{
    http_auth_config_t cfg = {
        .enabled = true, .secret = SECRET, .secret_len = strlen(SECRET), .rate_per_principal = 0.5};
    http_auth_t *a = new_auth_cfg(&cfg);
    int retry = 0;
    /* rate 0.5/s: burst of 1, then the next token is 2 s away */
    assert_true(http_auth_rate_allow(a, true, "alice", 10.0, &retry));
    assert_false(http_auth_rate_allow(a, true, "alice", 10.0, &retry));
    assert_int_equal(retry, 2);
    assert_true(http_auth_rate_allow(a, true, "bob", 10.0, &retry));
    assert_true(http_auth_rate_allow(a, false, "alice", 10.0, &retry)); /* no address limit set */
    assert_true(http_auth_rate_allow(a, true, "alice", 12.0, &retry));
    http_auth_free(a);
}

static void test_password_hash(void **state)
{
    char enc[160], enc2[160];
    assert_int_equal(http_auth_password_hash("s3cret", enc, sizeof(enc)), 0);
    assert_int_equal(http_auth_password_hash("s3cret", enc2, sizeof(enc2)), 0);
    assert_int_equal(strncmp(enc, "$argon2id$", 10), 0);
    assert_string_not_equal(enc, enc2); /* salted */
    assert_int_equal(http_auth_password_verify("s3cret", enc), 0);
    assert_int_equal(http_auth_password_verify("s3creT", enc), SB_EINVAL);
    assert_int_equal(http_auth_password_verify("s3cret", "plain"), SB_EINVAL);
    assert_int_equal(http_auth_password_verify("s3cret", "pbkdf2-sha256$1000$AAAA$AAAA"),
                     SB_EINVAL);
}

/* ---- over HTTP */

static void handler(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                    admin_http_response_t *resp)
{
    sb_wr_bytes(&resp->body, "{\"hello\":", 9);
    admin_http_write_json_string(&resp->body, who->subject);
    sb_wr_bytes(&resp->body, "}", 1);
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    strncat(arg, p, 1023 - strlen(arg) < size * n ? 1023 - strlen(arg) : size * n);
    return size * n;
}

static long request(int port, const char *token, char *body)
{
    CURL *c = curl_easy_init();
    char url[128], hdr[1200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/things", port);
    struct curl_slist *h = NULL;
    if (token) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, hdr);
    }
    body[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void test_route_over_http(void **state)
{
    http_auth_t *a = new_auth();
    admin_http_hooks_t hooks = {0};
    admin_http_t *http = admin_http_start("127.0.0.1", 0, &hooks, NULL);
    assert_non_null(http);
    assert_int_equal(http_auth_attach(a, http, "/auth", NULL), 0);
    assert_int_equal(
        http_auth_add_route(a, http, "POST", "/api/v1/things", HTTP_ROLE_OPERATOR, handler, NULL),
        0);
    int port = admin_http_port(http);
    char body[1024], *viewer = NULL, *op = NULL;
    int64_t now = (int64_t)time(NULL);
    http_auth_issue(a, "vic", HTTP_ROLE_VIEWER, HTTP_TOKEN_ACCESS, now, &viewer);
    http_auth_issue(a, "ola", HTTP_ROLE_OPERATOR, HTTP_TOKEN_ACCESS, now, &op);
    assert_int_equal(request(port, NULL, body), 401);
    assert_non_null(strstr(body, "\"error_code\":401"));
    assert_non_null(strstr(body, "authentication required"));
    assert_int_equal(request(port, viewer, body), 403);
    assert_non_null(strstr(body, "needs operator"));
    assert_int_equal(request(port, op, body), 200);
    assert_string_equal(body, "{\"hello\":\"ola\"}");
    op[strlen(op) - 3] ^= 1;
    assert_int_equal(request(port, op, body), 401);
    assert_non_null(strstr(body, "bad token signature"));
    admin_http_stop(http);
    free(viewer);
    free(op);
    http_auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs256_roundtrip_and_claims),
        cmocka_unit_test(test_short_secret_refused),
        cmocka_unit_test(test_refusals_hs256),
        cmocka_unit_test(test_rs256_and_key_confusion),
        cmocka_unit_test(test_jwks_rsa_and_ec),
        cmocka_unit_test(test_revocation_survives_restart),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_rate_limit), cmocka_unit_test(test_rate_limit_per_principal),
        cmocka_unit_test(test_password_hash),
        cmocka_unit_test(test_route_over_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
