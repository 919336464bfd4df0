#ifndef STREAMBUS_HTTP_AUTH_H
#define STREAMBUS_HTTP_AUTH_H

/* The shared authentication and authorisation layer of every StreamBus HTTP API (the broker's
 * admin HTTP, connect's REST API, the jobs API). One http_auth_t per server:
 *
 *  - Tokens: Bearer JWTs checked by the shared verifier (http/jwt.h): HS256 tokens this server
 *    issues at its login endpoint, and optionally RS256/ES256 tokens of an external identity
 *    provider (PEM or JWKS key files). exp/nbf with a clock-skew allowance, aud/iss when set.
 *  - Roles viewer < operator < admin, mapped to routes by a rule table (http_auth_add_rule):
 *    the first rule whose method and path pattern match decides the role needed; a request no
 *    rule matches needs admin (fail closed).
 *  - Users with Argon2id password hashes (libsodium crypto_pwhash_str), a login endpoint,
 *    refresh with rotation, logout (revocation). Revoked token ids are persisted.
 *  - Per-address and per-principal rate limits (token buckets) answering 429 + Retry-After.
 *
 * Answers: no or malformed token, bad signature, wrong algorithm, expired, revoked → 401 (with
 * WWW-Authenticate: Bearer); a valid token whose role is below the route's → 403. Tokens and
 * passwords are never logged and never quoted in an answer.
 *
 * Threads: the admin HTTP server runs a thread per connection; everything here is safe to call
 * from any thread (a mutex guards users, revocations and buckets). Password hashing runs on
 * the request's own thread, at most HTTP_AUTH_MAX_CONCURRENT_HASHES at a time. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "http/admin_http.h"
#include "http/jwt.h"

typedef enum {
    HTTP_ROLE_NONE = 0, /* route needs no token */
    HTTP_ROLE_VIEWER = 1,
    HTTP_ROLE_OPERATOR = 2,
    HTTP_ROLE_ADMIN = 3,
} http_role_t;

/* Shortest accepted HMAC secret: 256 bits. */
#define HTTP_AUTH_MIN_SECRET HTTP_JWT_MIN_HMAC_SECRET
/* Argon2id hashes run at most this many at once (each takes 64 MiB for ~0.1-0.5 s). */
#define HTTP_AUTH_MAX_CONCURRENT_HASHES 2

typedef enum { HTTP_TOKEN_ACCESS = 0, HTTP_TOKEN_REFRESH = 1 } http_token_use_t;

typedef struct http_auth_claims {
    char subject[128];
    char jti[64];
    http_role_t role;
    http_token_use_t use;
    int64_t issued_at; /* seconds since the epoch */
    int64_t expires_at;
} http_auth_claims_t;

typedef struct http_auth_config {
    bool enabled;       /* false = open: every request is allowed as role admin (loopback dev) */
    const void *secret; /* HS256 secret for tokens this server issues; NULL = issues none */
    size_t secret_len;
    const char *key_files; /* PEM or JWKS files of external issuers, comma separated; NULL = none */
    const char *issuer;    /* "iss" written and required; NULL/"" = not checked */
    const char *audience;  /* "aud" written and required; NULL/"" = not checked */
    int64_t leeway_s;      /* clock skew allowance; < 0 = default (30 s) */
    int64_t access_ttl_s;  /* 0 = 900 */
    int64_t refresh_ttl_s; /* 0 = 86400 */
    const char *users_file; /* JSON {"users":[{name, role, password_hash}]}; NULL = none; admin
                               edits persist here */
    const char
        *revocations_file; /* revoked token ids, one "jti exp" a line; NULL = in memory only */
    /* Token buckets: requests per second (sustained) with a burst of 2x; 0 = no limit. */
    double rate_per_address;
    double rate_per_principal;
    /* /health/ready and /metrics need a viewer token when true (/health/live never does). */
    bool protect_health;
} http_auth_config_t;

typedef struct http_auth http_auth_t;

/* Builds the auth layer; reads key_files, users_file and revocations_file. cfg is copied. */
int http_auth_new(const http_auth_config_t *cfg, http_auth_t **out, sb_err_t *err);
/* Frees the auth object; the HTTP server must have been stopped. Accepts NULL. */
void http_auth_free(http_auth_t *auth);

/* The verifier (borrowed; lives as long as auth). */
const http_jwt_verifier_t *http_auth_verifier(const http_auth_t *auth);

/* "viewer" / "operator" / "admin" ↔ role. parse returns SB_EINVAL for anything else. */
const char *http_role_name(http_role_t role);
int http_role_parse(const char *s, http_role_t *out);

/* Adds a user in memory (replacing one of the same name); the hash is an Argon2id string. */
int http_auth_add_user(http_auth_t *auth, const char *name, http_role_t role,
                       const char *password_hash, sb_err_t *err);

/* True when a user's password is one of passwords (NULL-terminated); its name goes to name.
 * Slow (one Argon2id hash per user and password): for start-up checks only. */
bool http_auth_user_with_password(http_auth_t *auth, const char *const *passwords, char *name,
                                  size_t cap);

/* Issues a signed token with a fresh jti; *out is malloc'd (caller frees). SB_ENOENT without a
 * secret. */
int http_auth_issue(const http_auth_t *auth, const char *subject, http_role_t role,
                    http_token_use_t use, int64_t now_s, char **out);

/* Verifies a token (http_jwt_verify) and checks it is not revoked. Tokens without a "role"
 * claim (external issuers that do not set one) get HTTP_ROLE_NONE; without "use", access. */
int http_auth_verify(const http_auth_t *auth, const char *token, int64_t now_s,
                     http_auth_claims_t *out, sb_err_t *err);

/* Revokes a token id until exp (persisted when a revocations file is configured). */
int http_auth_revoke(http_auth_t *auth, const char *jti, int64_t exp, sb_err_t *err);

/* Checks an Authorization header value ("Bearer <jwt>") against a need. Returns 0 and fills
 * *who when allowed; otherwise returns the HTTP status to answer (401 or 403) with a message
 * in err. need == HTTP_ROLE_NONE always allows. Refresh tokens are not accepted here. */
int http_auth_check(const http_auth_t *auth, const char *authorization, http_role_t need,
                    int64_t now_s, http_auth_claims_t *who, sb_err_t *err);

/* Role rule: method "GET" / "POST" / ... or NULL for any; pattern is a path whose segments are
 * literal, "*" (any one segment) or a final "**" (anything below, including nothing). Rules
 * are checked in the order added; the first match decides. */
int http_auth_add_rule(http_auth_t *auth, const char *method, const char *pattern,
                       http_role_t need);
/* The role a request needs (HTTP_ROLE_ADMIN when no rule matches). HEAD is matched as GET. */
http_role_t http_auth_need(const http_auth_t *auth, const char *method, const char *path);

/* Installs the gate on the server (rate limits, then the role rules) and the endpoints under
 * prefix ("/auth" or "/api/v1/auth"):
 *   POST {prefix}/login    {"username","password"} → {"accessToken","refreshToken",...}
 *   POST {prefix}/refresh  {"refreshToken"} → a new pair; the old refresh token is revoked
 *   POST {prefix}/logout   {"refreshToken"} (+ Authorization) → 204, both revoked
 *   GET  {prefix}/users    (admin) the users and roles, never hashes
 *   PUT  {prefix}/users/{name}  (admin) {"password","role"} → 201/200; persisted to users_file
 *   DELETE {prefix}/users/{name} (admin) → 204
 * and the rules for /health/live (open), /health/ready and /metrics (open or viewer). */
int http_auth_attach(http_auth_t *auth, admin_http_t *http, const char *prefix, sb_err_t *err);

/* A handler behind authentication: who is the verified caller (role NONE and empty subject on
 * an open route). */
typedef void (*http_auth_handler_fn)(void *arg, const admin_http_request_t *req,
                                     const http_auth_claims_t *who, admin_http_response_t *resp);

/* Adds a route and a rule (method, path_prefix and everything below it, need) in one call. The
 * route entry is owned by auth (freed by http_auth_free). */
int http_auth_add_route(http_auth_t *auth, admin_http_t *http, const char *method,
                        const char *path_prefix, http_role_t need, http_auth_handler_fn handler,
                        void *arg);

/* Argon2id password hashing (libsodium crypto_pwhash_str, interactive limits: 64 MiB, 2
 * passes). out receives the encoded "$argon2id$v=19$m=65536,t=2,p=1$..." (cap >= 128). */
int http_auth_password_hash(const char *password, char *out, size_t cap);
/* 0 when password matches encoded, SB_EINVAL when not or when encoded is not an Argon2id hash. */
int http_auth_password_verify(const char *password, const char *encoded);

/* Token bucket limiter, exposed for tests: true when a request by key may go now; otherwise
 * false with *retry_after_s the whole seconds until it may. */
bool http_auth_rate_allow(http_auth_t *auth, bool principal, const char *key, double now,
                          int *retry_after_s);

#endif
