#ifndef STREAMBUS_HTTP_AUTH_H
#define STREAMBUS_HTTP_AUTH_H

/* The shared authentication layer of every StreamBus HTTP API: JWT access and refresh tokens
 * (HS256 only — the algorithm is pinned, so a token claiming "none", RS256 or anything else is
 * refused without looking at its signature), roles viewer < operator < admin, and a per-route
 * role requirement that is checked before the route's handler runs.
 *
 * Answers: no or malformed token, bad signature, wrong algorithm, expired token → 401;
 * a valid token whose role is below the route's → 403. Both with the admin HTTP JSON error
 * shape and a WWW-Authenticate-style reason in "message". Tokens are never logged.
 *
 * Passwords are stored as PBKDF2-HMAC-SHA256 ("pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>")
 * from OpenSSL: Debian's OpenSSL 3.0 has no Argon2, and libsodium is not a dependency yet. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "http/admin_http.h"

typedef enum {
    HTTP_ROLE_NONE = 0, /* route needs no token */
    HTTP_ROLE_VIEWER = 1,
    HTTP_ROLE_OPERATOR = 2,
    HTTP_ROLE_ADMIN = 3,
} http_role_t;

/* Shortest accepted HMAC secret: 256 bits. */
#define HTTP_AUTH_MIN_SECRET 32

typedef enum { HTTP_TOKEN_ACCESS = 0, HTTP_TOKEN_REFRESH = 1 } http_token_use_t;

typedef struct http_auth_claims {
    char subject[128];
    http_role_t role;
    http_token_use_t use;
    int64_t issued_at; /* seconds since the epoch */
    int64_t expires_at;
} http_auth_claims_t;

typedef struct http_auth http_auth_t;

/* secret is copied and must be at least HTTP_AUTH_MIN_SECRET bytes. ttl in seconds. */
http_auth_t *http_auth_new(const void *secret, size_t secret_len, int64_t access_ttl_s, int64_t refresh_ttl_s,
                           sb_err_t *err);
/* Frees the auth object and its route table; the HTTP server must have been stopped. */
void http_auth_free(http_auth_t *auth);

/* "viewer" / "operator" / "admin" ↔ role. parse returns SB_EINVAL for anything else. */
const char *http_role_name(http_role_t role);
int http_role_parse(const char *s, http_role_t *out);

/* Issues a signed token; *out is malloc'd (caller frees). now_s is the issue time. */
int http_auth_issue(const http_auth_t *auth, const char *subject, http_role_t role, http_token_use_t use,
                    int64_t now_s, char **out);

/* Verifies a compact JWS: exactly three base64url parts, header {"alg":"HS256"}, signature
 * (constant-time compare), "exp" in the future, "sub", "role" and "use" present. On failure
 * returns SB_EINVAL with a reason in err that never quotes the token. */
int http_auth_verify(const http_auth_t *auth, const char *token, int64_t now_s, http_auth_claims_t *out,
                     sb_err_t *err);

/* Checks an Authorization header value ("Bearer <jwt>") against a route's need. Returns 0 and
 * fills *who when allowed; otherwise returns the HTTP status to answer (401 or 403) with a
 * message in err. need == HTTP_ROLE_NONE always allows. Refresh tokens are not accepted here. */
int http_auth_check(const http_auth_t *auth, const char *authorization, http_role_t need, int64_t now_s,
                    http_auth_claims_t *who, sb_err_t *err);

/* A handler behind authentication: who is the verified caller (role NONE and empty subject on
 * an open route). */
typedef void (*http_auth_handler_fn)(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                                     admin_http_response_t *resp);

/* Adds a route to the admin HTTP server whose handler runs only when the caller's token holds
 * at least `need`. The route entry is owned by auth (freed by http_auth_free). */
int http_auth_add_route(http_auth_t *auth, admin_http_t *http, const char *method, const char *path_prefix,
                        http_role_t need, http_auth_handler_fn handler, void *arg);

/* Password hashing (PBKDF2-HMAC-SHA256, 16-byte random salt). iterations 0 = the default
 * (600000, OWASP 2023). out receives the encoded form (cap >= 128). */
#define HTTP_AUTH_PBKDF2_DEFAULT_ITERATIONS 600000
int http_auth_password_hash(const char *password, int iterations, char *out, size_t cap);
/* 0 when password matches encoded, SB_EINVAL when not or when encoded is malformed. */
int http_auth_password_verify(const char *password, const char *encoded);

#endif
