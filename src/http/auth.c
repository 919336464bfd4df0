/* JWT HS256 tokens, roles and password hashes for the HTTP APIs; see auth.h. */
#include "http/auth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A token longer than this is refused before decoding: no legitimate token comes near it. */
#define HTTP_AUTH_MAX_TOKEN 4096

typedef struct auth_route {
    struct auth_route *next;
    http_auth_t *auth;
    http_role_t need;
    http_auth_handler_fn handler;
    void *arg;
} auth_route_t;

struct http_auth {
    uint8_t secret[256];
    size_t secret_len;
    int64_t access_ttl_s, refresh_ttl_s;
    pthread_mutex_t mu; /* guards routes */
    auth_route_t *routes;
};

static const char *const role_names[] = {"none", "viewer", "operator", "admin"};

const char *http_role_name(http_role_t role)
{
    return role >= HTTP_ROLE_NONE && role <= HTTP_ROLE_ADMIN ? role_names[role] : "?";
}

int http_role_parse(const char *s, http_role_t *out)
{
    for (int r = HTTP_ROLE_VIEWER; r <= HTTP_ROLE_ADMIN; r++)
        if (s && strcmp(s, role_names[r]) == 0) {
            *out = (http_role_t)r;
            return 0;
        }
    return SB_EINVAL;
}

http_auth_t *http_auth_new(const void *secret, size_t secret_len, int64_t access_ttl_s, int64_t refresh_ttl_s,
                           sb_err_t *err)
{
    if (secret_len < HTTP_AUTH_MIN_SECRET || secret_len > sizeof(((http_auth_t *)0)->secret)) {
        sb_err_set(err, SB_EINVAL, "JWT secret must be %d to 256 bytes (got %zu)", HTTP_AUTH_MIN_SECRET, secret_len);
        return NULL;
    }
    if (access_ttl_s <= 0 || refresh_ttl_s <= 0) {
        sb_err_set(err, SB_EINVAL, "token lifetimes must be positive");
        return NULL;
    }
    http_auth_t *a = calloc(1, sizeof(*a));
    if (!a) {
        sb_err_set(err, SB_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(a->secret, secret, secret_len);
    a->secret_len = secret_len;
    a->access_ttl_s = access_ttl_s;
    a->refresh_ttl_s = refresh_ttl_s;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void http_auth_free(http_auth_t *auth)
{
    if (!auth) return;
    for (auth_route_t *r = auth->routes, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    OPENSSL_cleanse(auth->secret, sizeof(auth->secret));
    pthread_mutex_destroy(&auth->mu);
    free(auth);
}

/* ---- base64url without padding (RFC 7515 §2) */

static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = tab[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = tab[v & 63];
    }
    out[o] = 0;
    return o;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes n characters into out (cap bytes); returns the decoded length or -1 when the input
 * has a character outside the alphabet, an impossible length, or does not fit. */
static long b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

static void sign(const http_auth_t *a, const char *data, size_t n, uint8_t mac[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), a->secret, (int)a->secret_len, (const uint8_t *)data, n, mac, &len);
}

int http_auth_issue(const http_auth_t *auth, const char *subject, http_role_t role, http_token_use_t use,
                    int64_t now_s, char **out)
{
    int64_t ttl = use == HTTP_TOKEN_REFRESH ? auth->refresh_ttl_s : auth->access_ttl_s;
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "sub", subject, "role", http_role_name(role), "use",
                               use == HTTP_TOKEN_REFRESH ? "refresh" : "access", "iat", (json_int_t)now_s, "exp",
                               (json_int_t)(now_s + ttl));
    char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    if (!payload) return SB_ENOMEM;
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t plen = strlen(payload);
    size_t cap = (sizeof(header) + plen) * 4 / 3 + 64 + 8;
    char *tok = malloc(cap);
    if (!tok) {
        free(payload);
        return SB_ENOMEM;
    }
    size_t o = b64url_encode((const uint8_t *)header, sizeof(header) - 1, tok);
    tok[o++] = '.';
    o += b64url_encode((const uint8_t *)payload, plen, tok + o);
    free(payload);
    uint8_t mac[32];
    sign(auth, tok, o, mac);
    tok[o++] = '.';
    b64url_encode(mac, sizeof(mac), tok + o);
    *out = tok;
    return 0;
}

static json_t *decode_json_part(const char *p, size_t n)
{
    uint8_t buf[HTTP_AUTH_MAX_TOKEN];
    long len = b64url_decode(p, n, buf, sizeof(buf));
    if (len < 0) return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int http_auth_verify(const http_auth_t *auth, const char *token, int64_t now_s, http_auth_claims_t *out,
                     sb_err_t *err)
{
    size_t n = token ? strnlen(token, HTTP_AUTH_MAX_TOKEN + 1) : 0;
    if (n == 0) return sb_err_set(err, SB_EINVAL, "no token");
    if (n > HTTP_AUTH_MAX_TOKEN) return sb_err_set(err, SB_EINVAL, "token too long");
    const char *dot1 = memchr(token, '.', n);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', n - (size_t)(dot2 + 1 - token)))
        return sb_err_set(err, SB_EINVAL, "malformed token: expected header.payload.signature");
    json_t *hdr = decode_json_part(token, (size_t)(dot1 - token));
    if (!hdr) return sb_err_set(err, SB_EINVAL, "malformed token header");
    /* The algorithm is pinned: the header may only confirm HS256. Trusting the header's choice is
     * how "alg":"none" and RS256/HS256 confusion attacks work. */
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    int alg_ok = alg && strcmp(alg, "HS256") == 0;
    json_decref(hdr);
    if (!alg_ok) return sb_err_set(err, SB_EINVAL, "token algorithm is not HS256");
    uint8_t mac[32], given[64];
    sign(auth, token, (size_t)(dot2 - token), mac);
    long glen = b64url_decode(dot2 + 1, n - (size_t)(dot2 + 1 - token), given, sizeof(given));
    if (glen != 32 || CRYPTO_memcmp(mac, given, 32) != 0) return sb_err_set(err, SB_EINVAL, "bad token signature");
    json_t *claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!claims) return sb_err_set(err, SB_EINVAL, "malformed token claims");
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *role = json_string_value(json_object_get(claims, "role"));
    const char *use = json_string_value(json_object_get(claims, "use"));
    json_t *exp = json_object_get(claims, "exp");
    http_auth_claims_t c = {0};
    int rc = 0;
    if (!sub || strlen(sub) >= sizeof(c.subject) || !use || !json_is_integer(exp) ||
        http_role_parse(role, &c.role) < 0 || (strcmp(use, "access") != 0 && strcmp(use, "refresh") != 0)) {
        rc = sb_err_set(err, SB_EINVAL, "token claims incomplete (sub, role, use, exp)");
    } else if (json_integer_value(exp) <= now_s) {
        rc = sb_err_set(err, SB_EINVAL, "token expired");
    } else {
        snprintf(c.subject, sizeof(c.subject), "%s", sub);
        c.use = strcmp(use, "refresh") == 0 ? HTTP_TOKEN_REFRESH : HTTP_TOKEN_ACCESS;
        c.expires_at = json_integer_value(exp);
        c.issued_at = json_integer_value(json_object_get(claims, "iat"));
        if (out) *out = c;
    }
    json_decref(claims);
    return rc;
}

int http_auth_check(const http_auth_t *auth, const char *authorization, http_role_t need, int64_t now_s,
                    http_auth_claims_t *who, sb_err_t *err)
{
    http_auth_claims_t c = {0};
    if (need == HTTP_ROLE_NONE) {
        if (who) *who = c;
        return 0;
    }
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
        sb_err_set(err, SB_EINVAL, "authentication required: send Authorization: Bearer <token>");
        return 401;
    }
    sb_err_t e = {0};
    if (http_auth_verify(auth, authorization + 7, now_s, &c, &e) < 0) {
        sb_err_set(err, SB_EINVAL, "invalid token: %s", e.msg);
        return 401;
    }
    if (c.use != HTTP_TOKEN_ACCESS) {
        sb_err_set(err, SB_EINVAL, "invalid token: a refresh token only works at /auth/refresh");
        return 401;
    }
    if (c.role < need) {
        sb_err_set(err, SB_EINVAL, "role %s may not do this; needs %s", http_role_name(c.role), http_role_name(need));
        return 403;
    }
    if (who) *who = c;
    return 0;
}

static void route_thunk(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    auth_route_t *r = arg;
    http_auth_claims_t who;
    sb_err_t err = {0};
    int status = http_auth_check(r->auth, admin_http_header(req, "Authorization"), r->need, (int64_t)time(NULL), &who,
                                 &err);
    if (status != 0) {
        admin_http_respond_error(resp, status, err.msg);
        return;
    }
    r->handler(r->arg, req, &who, resp);
}

int http_auth_add_route(http_auth_t *auth, admin_http_t *http, const char *method, const char *path_prefix,
                        http_role_t need, http_auth_handler_fn handler, void *arg)
{
    auth_route_t *r = calloc(1, sizeof(*r));
    if (!r) return SB_ENOMEM;
    *r = (auth_route_t){.auth = auth, .need = need, .handler = handler, .arg = arg};
    int rc = admin_http_add_route(http, method, path_prefix, route_thunk, r);
    if (rc < 0) {
        free(r);
        return rc;
    }
    pthread_mutex_lock(&auth->mu);
    r->next = auth->routes;
    auth->routes = r;
    pthread_mutex_unlock(&auth->mu);
    return 0;
}

/* ---- passwords */

int http_auth_password_hash(const char *password, int iterations, char *out, size_t cap)
{
    if (iterations <= 0) iterations = HTTP_AUTH_PBKDF2_DEFAULT_ITERATIONS;
    uint8_t salt[16], dk[32];
    if (RAND_bytes(salt, sizeof(salt)) != 1) return SB_EIO;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), iterations, EVP_sha256(), sizeof(dk),
                          dk) != 1)
        return SB_EIO;
    char s64[32], d64[64];
    b64url_encode(salt, sizeof(salt), s64);
    b64url_encode(dk, sizeof(dk), d64);
    int n = snprintf(out, cap, "pbkdf2-sha256$%d$%s$%s", iterations, s64, d64);
    return n < 0 || (size_t)n >= cap ? SB_ERANGE : 0;
}

int http_auth_password_verify(const char *password, const char *encoded)
{
    if (!password || !encoded || strncmp(encoded, "pbkdf2-sha256$", 14) != 0) return SB_EINVAL;
    const char *p = encoded + 14;
    char *end = NULL;
    long iterations = strtol(p, &end, 10);
    if (end == p || *end != '$' || iterations < 1 || iterations > 100000000) return SB_EINVAL;
    const char *salt = end + 1, *d = strchr(salt, '$');
    if (!d) return SB_EINVAL;
    uint8_t sbuf[64], want[64], got[32];
    long slen = b64url_decode(salt, (size_t)(d - salt), sbuf, sizeof(sbuf));
    long wlen = b64url_decode(d + 1, strlen(d + 1), want, sizeof(want));
    if (slen < 8 || wlen != 32) return SB_EINVAL;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), sbuf, (int)slen, (int)iterations, EVP_sha256(), 32, got) !=
        1)
        return SB_EIO;
    return CRYPTO_memcmp(got, want, 32) == 0 ? 0 : SB_EINVAL;
}
