#ifndef STREAMBUS_HTTP_JWT_H
#define STREAMBUS_HTTP_JWT_H

/* The JWT verifier shared by every StreamBus HTTP API and by the broker's SASL OAUTHBEARER.
 *
 * A verifier holds a set of keys; each key is pinned to exactly one algorithm when it is added:
 *   HS256  an HMAC secret of at least 32 bytes (256 bits)
 *   RS256  an RSA public key (PEM "PUBLIC KEY" (SubjectPublicKeyInfo), or a JWKS "kty":"RSA" n/e)
 *   ES256  a P-256 public key (PEM, or a JWKS "kty":"EC","crv":"P-256" x/y)
 * A token is checked only against keys whose algorithm equals its header's "alg" (and whose
 * "kid" equals the header's "kid" when both have one). So "alg":"none" matches no key, and an
 * RS256 public key can never be used as an HS256 secret: the classic confusion attack (HMAC the
 * token with the public key's PEM text) finds no HS256 key to verify against.
 *
 * Claims: "exp" is required and must be in the future, "nbf" (if present) in the past, both with
 * the verifier's leeway (clock skew allowance). "aud" (string or array) must contain the
 * configured audience and "iss" equal the configured issuer, when those are configured.
 *
 * Thread-safety: a verifier is immutable after it is built; http_jwt_verify may be called from
 * any number of threads at once. It never logs and its error messages never quote the token. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum {
    HTTP_JWT_NONE = 0,
    HTTP_JWT_HS256 = 1,
    HTTP_JWT_RS256 = 2,
    HTTP_JWT_ES256 = 3,
} http_jwt_alg_t;

/* Longest token accepted; anything longer is refused before it is decoded. */
#define HTTP_JWT_MAX_TOKEN 8192
/* Shortest HS256 secret: 256 bits. */
#define HTTP_JWT_MIN_HMAC_SECRET 32
/* The default clock-skew allowance for exp and nbf. */
#define HTTP_JWT_DEFAULT_LEEWAY_S 30

typedef struct http_jwt_options {
    int64_t leeway_s;     /* < 0 = HTTP_JWT_DEFAULT_LEEWAY_S; at most 300 */
    const char *audience; /* NULL or "" = "aud" not checked */
    const char *issuer;   /* NULL or "" = "iss" not checked */
} http_jwt_options_t;

/* The claims a caller may act on. Strings are truncated never: a claim that does not fit is
 * an invalid token. Absent optional claims are "" / 0. */
typedef struct http_jwt_claims {
    char sub[128];
    char jti[64];
    char role[16];   /* StreamBus tokens: viewer, operator, admin */
    char use[16];    /* StreamBus tokens: access or refresh */
    char scope[256]; /* OAuth "scope", space separated */
    int64_t exp, nbf, iat;
    http_jwt_alg_t alg; /* the algorithm of the key that verified it */
} http_jwt_claims_t;

typedef struct http_jwt_verifier http_jwt_verifier_t;

/* opt is copied (NULL = defaults). */
int http_jwt_verifier_new(const http_jwt_options_t *opt, http_jwt_verifier_t **out, sb_err_t *err);
void http_jwt_verifier_free(http_jwt_verifier_t *v);

/* Adds an HS256 secret (copied); kid may be NULL. SB_EINVAL when shorter than 32 bytes. */
int http_jwt_verifier_add_hmac(http_jwt_verifier_t *v, const void *secret, size_t len,
                               const char *kid, sb_err_t *err);
/* Adds a PEM public key; its algorithm follows from the key type (RSA → RS256, P-256 → ES256;
 * anything else is refused). kid may be NULL. */
int http_jwt_verifier_add_pem(http_jwt_verifier_t *v, const char *pem, size_t len, const char *kid,
                              sb_err_t *err);
/* Adds every usable key of a JWKS document ({"keys":[...]}): RSA (n, e) and EC P-256 (x, y).
 * A key whose "alg" is present and differs from RS256/ES256 for its type, or whose "use" is
 * not "sig", is skipped; a malformed key is an error naming its index. */
int http_jwt_verifier_add_jwks(http_jwt_verifier_t *v, const char *json, size_t len, sb_err_t *err);
/* Reads path and adds it as JWKS when it starts with '{', otherwise as PEM. */
int http_jwt_verifier_add_key_file(http_jwt_verifier_t *v, const char *path, sb_err_t *err);
/* Number of keys held. */
size_t http_jwt_verifier_key_count(const http_jwt_verifier_t *v);

/* Verifies the compact JWS token[0..len) at time now_s (seconds since the epoch). Returns 0 and
 * fills *out (may be NULL), or SB_EINVAL with a reason in err ("token expired", "bad token
 * signature", "token algorithm none is not accepted", "wrong audience", ...). */
int http_jwt_verify(const http_jwt_verifier_t *v, const char *token, size_t len, int64_t now_s,
                    http_jwt_claims_t *out, sb_err_t *err);

/* Signs claims_json (a JSON object text) with the verifier's first HS256 key (with its kid in
 * the header when it has one). *out is malloc'd. SB_ENOENT when there is no HS256 key. */
int http_jwt_sign_hs256(const http_jwt_verifier_t *v, const char *claims_json, char **out);

#endif
