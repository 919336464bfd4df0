/* Tokens, roles, users, revocation and rate limits for the HTTP APIs; see auth.h. */
#include "http/auth.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/atomic_file.h"
#include "common/base64.h"
#include "common/log.h"

#define AUTH_MAX_USERS 1024
#define AUTH_MAX_REVOKED 100000
/* Rate-limit buckets kept at once; the least recently used is recycled when full, so a flood
 * of distinct addresses costs bounded memory (and each new address starts with a full bucket,
 * which is the documented limit of an address-keyed limiter). */
#define AUTH_MAX_BUCKETS 4096

typedef struct auth_user {
    char name[128];
    http_role_t role;
    char hash[crypto_pwhash_STRBYTES];
} auth_user_t;

typedef struct revoked {
    char jti[64];
    int64_t exp;
} revoked_t;

typedef struct auth_rule {
    char method[12]; /* "" = any */
    char pattern[192];
    http_role_t need;
} auth_rule_t;

typedef struct auth_route {
    struct auth_route *next;
    http_auth_t *auth;
    http_auth_handler_fn handler;
    void *arg;
} auth_route_t;

typedef struct bucket {
    char key[136]; /* "a:" address or "p:" principal */
    double tokens, last;
} bucket_t;

struct http_auth {
    bool enabled, protect_health;
    char issuer[256], audience[256];
    int64_t access_ttl_s, refresh_ttl_s;
    double rate_addr, rate_principal;
    char *users_file, *revocations_file;
    http_jwt_verifier_t *verifier;
    bool can_issue;

    pthread_mutex_t mu; /* guards everything below */
    auth_user_t *users;
    size_t nusers;
    revoked_t *revoked;
    size_t nrevoked, revoked_cap;
    auth_rule_t *rules;
    size_t nrules, rules_cap;
    auth_route_t *routes;
    bucket_t *buckets;
    size_t nbuckets;

    pthread_mutex_t hash_mu;
    pthread_cond_t hash_cv;
    int hashing; /* Argon2id hashes running now */
    /* A hash of a random password, so that a login for an unknown user costs as much as one
     * for a known user: response times do not reveal which names exist. */
    char dummy_hash[crypto_pwhash_STRBYTES];
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

const http_jwt_verifier_t *http_auth_verifier(const http_auth_t *auth)
{
    return auth->verifier;
}

/* ---- users file */

static int load_users(http_auth_t *a, const char *path, sb_err_t *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        FILE *f = fopen(path, "r");
        if (!f && errno == ENOENT) return 0; /* no users yet: created by the first PUT */
        if (f) fclose(f);
        return sb_err_set(err, SB_EINVAL, "users file %s:%d: %s", path, je.line, je.text);
    }
    json_t *list = json_object_get(doc, "users");
    size_t i;
    json_t *u;
    int rc = json_is_array(list)
                 ? 0
                 : sb_err_set(err, SB_EINVAL, "users file %s: expected {\"users\": [...]}", path);
    json_array_foreach(list, i, u)
    {
        if (rc < 0) break;
        const char *name = json_string_value(json_object_get(u, "name"));
        const char *role = json_string_value(json_object_get(u, "role"));
        const char *hash = json_string_value(json_object_get(u, "password_hash"));
        http_role_t r;
        if (!name || !hash || http_role_parse(role, &r) < 0) {
            rc = sb_err_set(err, SB_EINVAL,
                            "users file %s: user %zu needs name, password_hash and role viewer, "
                            "operator or admin",
                            path, i);
            break;
        }
        sb_err_t e = {0};
        if ((rc = http_auth_add_user(a, name, r, hash, &e)) < 0)
            sb_err_set(err, rc, "users file %s: %s", path, e.msg);
    }
    json_decref(doc);
    return rc;
}

/* Writes the users file; called with a->mu held. */
static int save_users(http_auth_t *a, sb_err_t *err)
{
    if (!a->users_file) return 0;
    json_t *list = json_array();
    for (size_t i = 0; i < a->nusers; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", a->users[i].name, "role",
                                              http_role_name(a->users[i].role), "password_hash",
                                              a->users[i].hash));
    json_t *doc = json_pack("{s:o}", "users", list);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int rc = sb_write_file_atomic_private(a->users_file, text, strlen(text), err);
    free(text);
    return rc;
}

int http_auth_add_user(http_auth_t *a, const char *name, http_role_t role, const char *hash,
                       sb_err_t *err)
{
    if (!name[0] || strlen(name) >= sizeof(a->users[0].name))
        return sb_err_set(err, SB_EINVAL, "user name must be 1 to 127 bytes");
    if (strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) >= sizeof(a->users[0].hash))
        return sb_err_set(err, SB_EINVAL,
                          "user %s: password_hash is not an Argon2id hash (make one with "
                          "`streambus jobs hash-password`)",
                          name);
    pthread_mutex_lock(&a->mu);
    size_t i = 0;
    while (i < a->nusers && strcmp(a->users[i].name, name) != 0)
        i++;
    int rc = 0;
    if (i == a->nusers && a->nusers >= AUTH_MAX_USERS)
        rc = sb_err_set(err, SB_ELIMIT, "more than %d users", AUTH_MAX_USERS);
    if (rc == 0) {
        if (i == a->nusers) a->nusers++;
        snprintf(a->users[i].name, sizeof(a->users[i].name), "%s", name);
        snprintf(a->users[i].hash, sizeof(a->users[i].hash), "%s", hash);
        a->users[i].role = role;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

bool http_auth_user_with_password(http_auth_t *a, const char *const *passwords, char *name,
                                  size_t cap)
{
    pthread_mutex_lock(&a->mu);
    bool found = false;
    for (size_t i = 0; i < a->nusers && !found; i++)
        for (int j = 0; passwords[j] && !found; j++)
            if (http_auth_password_verify(passwords[j], a->users[i].hash) == 0) {
                found = true;
                snprintf(name, cap, "%s", a->users[i].name);
            }
    pthread_mutex_unlock(&a->mu);
    return found;
}

/* ---- revocations */

static bool is_revoked_locked(const http_auth_t *a, const char *jti)
{
    for (size_t i = 0; i < a->nrevoked; i++)
        if (strcmp(a->revoked[i].jti, jti) == 0) return true;
    return false;
}

/* Drops entries whose token has expired anyway (called with mu held). */
static void prune_revoked_locked(http_auth_t *a, int64_t now_s)
{
    size_t o = 0;
    for (size_t i = 0; i < a->nrevoked; i++)
        if (a->revoked[i].exp > now_s - 300) a->revoked[o++] = a->revoked[i];
    a->nrevoked = o;
}

static int add_revoked_locked(http_auth_t *a, const char *jti, int64_t exp)
{
    if (is_revoked_locked(a, jti)) return 0;
    if (a->nrevoked == a->revoked_cap) {
        prune_revoked_locked(a, (int64_t)time(NULL));
        if (a->nrevoked == a->revoked_cap) {
            if (a->revoked_cap >= AUTH_MAX_REVOKED) return SB_ELIMIT;
            size_t cap = a->revoked_cap ? a->revoked_cap * 2 : 64;
            revoked_t *n = realloc(a->revoked, cap * sizeof(*n));
            if (!n) return SB_ENOMEM;
            a->revoked = n;
            a->revoked_cap = cap;
        }
    }
    snprintf(a->revoked[a->nrevoked].jti, sizeof(a->revoked[0].jti), "%s", jti);
    a->revoked[a->nrevoked++].exp = exp;
    return 0;
}

static int load_revocations(http_auth_t *a, const char *path, sb_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT
                   ? 0
                   : sb_err_set(err, SB_EIO, "revocations file %s: %s", path, strerror(errno));
    char line[160];
    int64_t now = (int64_t)time(NULL);
    int rc = 0;
    for (int n = 1; rc == 0 && fgets(line, sizeof(line), f); n++) {
        char jti[64];
        long long exp;
        if (sscanf(line, "%63s %lld", jti, &exp) != 2) {
            rc = sb_err_set(err, SB_EINVAL, "revocations file %s:%d: expected \"<jti> <exp>\"",
                            path, n);
            break;
        }
        if (exp > now - 300) rc = add_revoked_locked(a, jti, exp);
    }
    fclose(f);
    return rc;
}

/* Rewrites the revocations file with the live entries (mu held): small, because expired
 * entries are dropped, and atomic, so a crash never loses earlier revocations. */
static int save_revocations_locked(http_auth_t *a, sb_err_t *err)
{
    if (!a->revocations_file) return 0;
    prune_revoked_locked(a, (int64_t)time(NULL));
    size_t cap = a->nrevoked * 96 + 1, len = 0;
    char *text = malloc(cap);
    if (!text) return sb_err_set(err, SB_ENOMEM, "out of memory");
    text[0] = 0;
    for (size_t i = 0; i < a->nrevoked; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s %lld\n", a->revoked[i].jti,
                                (long long)a->revoked[i].exp);
    int rc = sb_write_file_atomic_private(a->revocations_file, text, len, err);
    free(text);
    return rc;
}

int http_auth_revoke(http_auth_t *a, const char *jti, int64_t exp, sb_err_t *err)
{
    if (!jti || !jti[0]) return 0; /* a token without an id cannot be revoked, only expire */
    pthread_mutex_lock(&a->mu);
    int rc = add_revoked_locked(a, jti, exp);
    if (rc < 0)
        sb_err_set(err, rc, "cannot record the revocation");
    else
        rc = save_revocations_locked(a, err);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- lifecycle */

int http_auth_new(const http_auth_config_t *cfg, http_auth_t **out, sb_err_t *err)
{
    if (sodium_init() < 0) return sb_err_set(err, SB_EIO, "libsodium failed to initialise");
    http_auth_t *a = calloc(1, sizeof(*a));
    if (!a) return sb_err_set(err, SB_ENOMEM, "out of memory");
    a->users = calloc(AUTH_MAX_USERS, sizeof(*a->users));
    a->buckets = calloc(AUTH_MAX_BUCKETS, sizeof(*a->buckets));
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->hash_mu, NULL);
    pthread_cond_init(&a->hash_cv, NULL);
    a->enabled = cfg->enabled;
    a->protect_health = cfg->protect_health;
    snprintf(a->issuer, sizeof(a->issuer), "%s", cfg->issuer ? cfg->issuer : "");
    snprintf(a->audience, sizeof(a->audience), "%s", cfg->audience ? cfg->audience : "");
    a->access_ttl_s = cfg->access_ttl_s > 0 ? cfg->access_ttl_s : 900;
    a->refresh_ttl_s = cfg->refresh_ttl_s > 0 ? cfg->refresh_ttl_s : 86400;
    a->rate_addr = cfg->rate_per_address;
    a->rate_principal = cfg->rate_per_principal;
    a->users_file = cfg->users_file && cfg->users_file[0] ? strdup(cfg->users_file) : NULL;
    a->revocations_file =
        cfg->revocations_file && cfg->revocations_file[0] ? strdup(cfg->revocations_file) : NULL;
    int rc = a->users && a->buckets ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
    http_jwt_options_t jo = {
        .leeway_s = cfg->leeway_s, .audience = a->audience, .issuer = a->issuer};
    if (rc == 0) rc = http_jwt_verifier_new(&jo, &a->verifier, err);
    if (rc == 0 && cfg->secret) {
        rc = http_jwt_verifier_add_hmac(a->verifier, cfg->secret, cfg->secret_len, NULL, err);
        a->can_issue = rc == 0;
    }
    if (rc == 0 && cfg->key_files && cfg->key_files[0]) {
        char *list = strdup(cfg->key_files), *save = NULL;
        for (char *f = strtok_r(list, ", ", &save); rc == 0 && f; f = strtok_r(NULL, ", ", &save))
            rc = http_jwt_verifier_add_key_file(a->verifier, f, err);
        free(list);
    }
    if (rc == 0 && a->enabled && http_jwt_verifier_key_count(a->verifier) == 0)
        rc = sb_err_set(err, SB_EINVAL,
                        "authentication is on but there is no JWT secret and no key file");
    if (rc == 0 && a->enabled) {
        uint8_t rnd[16];
        char pw[32];
        randombytes_buf(rnd, sizeof(rnd));
        sb_base64url_encode(rnd, sizeof(rnd), pw, sizeof(pw));
        if (http_auth_password_hash(pw, a->dummy_hash, sizeof(a->dummy_hash)) < 0)
            rc = sb_err_set(err, SB_ENOMEM, "cannot compute a password hash (out of memory?)");
    }
    if (rc == 0 && a->users_file) rc = load_users(a, a->users_file, err);
    if (rc == 0 && a->revocations_file) rc = load_revocations(a, a->revocations_file, err);
    if (rc < 0) {
        http_auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void http_auth_free(http_auth_t *a)
{
    if (!a) return;
    for (auth_route_t *r = a->routes, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    if (a->users) sodium_memzero(a->users, AUTH_MAX_USERS * sizeof(*a->users));
    free(a->users);
    free(a->revoked);
    free(a->rules);
    free(a->buckets);
    free(a->users_file);
    free(a->revocations_file);
    http_jwt_verifier_free(a->verifier);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->hash_mu);
    pthread_cond_destroy(&a->hash_cv);
    free(a);
}

/* ---- tokens */

int http_auth_issue(const http_auth_t *a, const char *subject, http_role_t role,
                    http_token_use_t use, int64_t now_s, char **out)
{
    if (!a->can_issue) return SB_ENOENT;
    int64_t ttl = use == HTTP_TOKEN_REFRESH ? a->refresh_ttl_s : a->access_ttl_s;
    uint8_t rnd[16];
    char jti[32];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) return SB_EIO;
    sb_base64url_encode(rnd, sizeof(rnd), jti, sizeof(jti));
    json_t *claims = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "sub", subject, "role", http_role_name(role), "use",
        use == HTTP_TOKEN_REFRESH ? "refresh" : "access", "jti", jti, "iat", (json_int_t)now_s,
        "nbf", (json_int_t)now_s, "exp", (json_int_t)(now_s + ttl));
    if (claims && a->issuer[0]) json_object_set_new(claims, "iss", json_string(a->issuer));
    if (claims && a->audience[0]) json_object_set_new(claims, "aud", json_string(a->audience));
    char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    if (!payload) return SB_ENOMEM;
    int rc = http_jwt_sign_hs256(a->verifier, payload, out);
    free(payload);
    return rc;
}

int http_auth_verify(const http_auth_t *a, const char *token, int64_t now_s,
                     http_auth_claims_t *out, sb_err_t *err)
{
    http_jwt_claims_t j;
    int rc = http_jwt_verify(a->verifier, token, token ? strnlen(token, HTTP_JWT_MAX_TOKEN + 1) : 0,
                             now_s, &j, err);
    if (rc < 0) return rc;
    http_auth_claims_t c = {0};
    snprintf(c.subject, sizeof(c.subject), "%s", j.sub);
    snprintf(c.jti, sizeof(c.jti), "%s", j.jti);
    if (j.role[0] && http_role_parse(j.role, &c.role) < 0)
        return sb_err_set(err, SB_EINVAL, "token role is not viewer, operator or admin");
    if (j.use[0] && strcmp(j.use, "access") != 0 && strcmp(j.use, "refresh") != 0)
        return sb_err_set(err, SB_EINVAL, "token \"use\" is not access or refresh");
    c.use = strcmp(j.use, "refresh") == 0 ? HTTP_TOKEN_REFRESH : HTTP_TOKEN_ACCESS;
    c.issued_at = j.iat;
    c.expires_at = j.exp;
    if (c.jti[0]) {
        pthread_mutex_lock(&((http_auth_t *)a)->mu);
        bool revoked = is_revoked_locked(a, c.jti);
        pthread_mutex_unlock(&((http_auth_t *)a)->mu);
        if (revoked) return sb_err_set(err, SB_EINVAL, "token revoked");
    }
    if (out) *out = c;
    return 0;
}

int http_auth_check(const http_auth_t *a, const char *authorization, http_role_t need,
                    int64_t now_s, http_auth_claims_t *who, sb_err_t *err)
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
    if (http_auth_verify(a, authorization + 7, now_s, &c, &e) < 0) {
        sb_err_set(err, SB_EINVAL, "invalid token: %s", e.msg);
        return 401;
    }
    if (c.use != HTTP_TOKEN_ACCESS) {
        sb_err_set(err, SB_EINVAL,
                   "invalid token: a refresh token only works at the refresh endpoint");
        return 401;
    }
    if (c.role < need) {
        sb_err_set(err, SB_EINVAL, "role %s may not do this; needs %s", http_role_name(c.role),
                   http_role_name(need));
        return 403;
    }
    if (who) *who = c;
    return 0;
}

/* ---- rules */

int http_auth_add_rule(http_auth_t *a, const char *method, const char *pattern, http_role_t need)
{
    if (!pattern || pattern[0] != '/' || strlen(pattern) >= sizeof(a->rules[0].pattern) ||
        (method && strlen(method) >= sizeof(a->rules[0].method)))
        return SB_EINVAL;
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    if (a->nrules == a->rules_cap) {
        size_t cap = a->rules_cap ? a->rules_cap * 2 : 32;
        auth_rule_t *n = realloc(a->rules, cap * sizeof(*n));
        if (!n)
            rc = SB_ENOMEM;
        else {
            a->rules = n;
            a->rules_cap = cap;
        }
    }
    if (rc == 0) {
        auth_rule_t *r = &a->rules[a->nrules++];
        snprintf(r->method, sizeof(r->method), "%s", method ? method : "");
        snprintf(r->pattern, sizeof(r->pattern), "%s", pattern);
        r->need = need;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* Segment-wise match: "*" is one segment, a final "**" anything below (or nothing). */
static bool pattern_match(const char *pat, const char *path)
{
    for (;;) {
        if (pat[0] == '*' && pat[1] == '*' && pat[2] == 0) return true;
        if (*pat == 0) return *path == 0 || strcmp(path, "/") == 0;
        if (*pat == '/' && pat[1] == '*' && pat[2] == '*' && pat[3] == 0)
            return *path == 0 || *path == '/';
        if (*pat == '*') {
            while (*path && *path != '/')
                path++;
            pat++;
            continue;
        }
        if (*pat != *path) return false;
        pat++;
        path++;
    }
}

http_role_t http_auth_need(const http_auth_t *a, const char *method, const char *path)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    http_role_t need = HTTP_ROLE_ADMIN;
    pthread_mutex_lock(&((http_auth_t *)a)->mu);
    for (size_t i = 0; i < a->nrules; i++) {
        const auth_rule_t *r = &a->rules[i];
        if ((r->method[0] == 0 || strcmp(r->method, m) == 0) && pattern_match(r->pattern, path)) {
            need = r->need;
            break;
        }
    }
    pthread_mutex_unlock(&((http_auth_t *)a)->mu);
    return need;
}

/* ---- rate limits */

bool http_auth_rate_allow(http_auth_t *a, bool principal, const char *key, double now,
                          int *retry_after_s)
{
    double rate = principal ? a->rate_principal : a->rate_addr;
    if (rate <= 0) return true;
    double burst = rate * 2 < 1 ? 1 : rate * 2;
    char k[136];
    snprintf(k, sizeof(k), "%c:%.128s", principal ? 'p' : 'a', key);
    pthread_mutex_lock(&a->mu);
    bucket_t *b = NULL, *oldest = NULL;
    for (size_t i = 0; i < a->nbuckets && !b; i++) {
        if (strcmp(a->buckets[i].key, k) == 0)
            b = &a->buckets[i];
        else if (!oldest || a->buckets[i].last < oldest->last)
            oldest = &a->buckets[i];
    }
    if (!b) {
        b = a->nbuckets < AUTH_MAX_BUCKETS ? &a->buckets[a->nbuckets++] : oldest;
        snprintf(b->key, sizeof(b->key), "%s", k);
        b->tokens = burst;
        b->last = now;
    }
    double t = b->tokens + (now - b->last) * rate;
    b->tokens = t > burst ? burst : t;
    b->last = now;
    bool ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else if (retry_after_s)
        *retry_after_s = (int)ceil((1.0 - b->tokens) / rate);
    pthread_mutex_unlock(&a->mu);
    if (!ok && retry_after_s && *retry_after_s < 1) *retry_after_s = 1;
    return ok;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- gate */

static bool too_many(admin_http_response_t *resp, int retry_after, const char *what)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "too many requests from this %s; retry in %d s", what, retry_after);
    admin_http_respond_error(resp, 429, msg);
    resp->retry_after_s = retry_after;
    return false;
}

static bool gate(void *arg, admin_http_request_t *req, admin_http_response_t *resp)
{
    http_auth_t *a = arg;
    char host[64];
    admin_http_remote_host(req, host, sizeof(host));
    int retry = 0;
    double now = now_seconds();
    /* /health/live stays open and unlimited: an orchestrator's liveness probe must never be
     * answered 429 and restart a healthy process. */
    bool live = strcmp(req->path, "/health/live") == 0;
    if (!live && !http_auth_rate_allow(a, false, host, now, &retry))
        return too_many(resp, retry, "address");
    if (!a->enabled) {
        snprintf(req->principal, sizeof(req->principal), "anonymous");
        req->role = HTTP_ROLE_ADMIN;
        return true;
    }
    http_role_t need = http_auth_need(a, req->method, req->path);
    http_auth_claims_t who = {0};
    sb_err_t err = {0};
    const char *authz = admin_http_header(req, "Authorization");
    int status = 0;
    if (need == HTTP_ROLE_NONE && authz) {
        /* An open route with a token: identify the caller when the token is good, but an open
         * route never fails because of a bad one. */
        if (http_auth_check(a, authz, HTTP_ROLE_VIEWER, (int64_t)time(NULL), &who, NULL) != 0)
            memset(&who, 0, sizeof(who));
    } else {
        status = http_auth_check(a, authz, need, (int64_t)time(NULL), &who, &err);
    }
    if (status != 0) {
        admin_http_respond_error(resp, status, err.msg);
        if (status == 401)
            snprintf(resp->www_authenticate, sizeof(resp->www_authenticate),
                     "Bearer realm=\"streambus\"%s", authz ? ", error=\"invalid_token\"" : "");
        else
            snprintf(resp->www_authenticate, sizeof(resp->www_authenticate),
                     "Bearer realm=\"streambus\", error=\"insufficient_scope\"");
        return false;
    }
    snprintf(req->principal, sizeof(req->principal), "%s", who.subject);
    req->role = who.role;
    if (who.subject[0] && !http_auth_rate_allow(a, true, who.subject, now, &retry))
        return too_many(resp, retry, "user");
    return true;
}

/* ---- passwords */

/* Argon2id is slow and takes 64 MiB on purpose; a bounded number run at once so a burst of
 * logins cannot exhaust memory. Waiters block their own connection thread only. */
static void hash_slot_take(http_auth_t *a)
{
    pthread_mutex_lock(&a->hash_mu);
    while (a->hashing >= HTTP_AUTH_MAX_CONCURRENT_HASHES)
        pthread_cond_wait(&a->hash_cv, &a->hash_mu);
    a->hashing++;
    pthread_mutex_unlock(&a->hash_mu);
}

static void hash_slot_give(http_auth_t *a)
{
    pthread_mutex_lock(&a->hash_mu);
    a->hashing--;
    pthread_cond_signal(&a->hash_cv);
    pthread_mutex_unlock(&a->hash_mu);
}

int http_auth_password_hash(const char *password, char *out, size_t cap)
{
    if (sodium_init() < 0) return SB_EIO;
    if (cap < crypto_pwhash_STRBYTES) return SB_ERANGE;
    if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return SB_ENOMEM;
    return 0;
}

int http_auth_password_verify(const char *password, const char *encoded)
{
    if (!password || !encoded || strncmp(encoded, "$argon2id$", 10) != 0) return SB_EINVAL;
    if (sodium_init() < 0) return SB_EIO;
    return crypto_pwhash_str_verify(encoded, password, strlen(password)) == 0 ? 0 : SB_EINVAL;
}

/* ---- endpoints */

static void respond_json(admin_http_response_t *resp, int status, json_t *body)
{
    resp->status = status;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        admin_http_respond_error(resp, 500, "out of memory");
        return;
    }
    sb_wr_bytes(&resp->body, text, strlen(text));
    free(text);
}

static json_t *body_json(const admin_http_request_t *req, admin_http_response_t *resp)
{
    json_error_t je;
    json_t *j =
        req->body ? json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je)
                  : NULL;
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    if (!j) admin_http_respond_error(resp, 400, "the body must be a JSON object");
    return j;
}

static void issue_pair(const http_auth_t *a, const char *user, http_role_t role,
                       admin_http_response_t *resp)
{
    char *access = NULL, *refresh = NULL;
    int64_t now = (int64_t)time(NULL);
    if (http_auth_issue(a, user, role, HTTP_TOKEN_ACCESS, now, &access) < 0 ||
        http_auth_issue(a, user, role, HTTP_TOKEN_REFRESH, now, &refresh) < 0) {
        free(access);
        admin_http_respond_error(resp, 503,
                                 "this server does not issue tokens (no JWT secret configured)");
        return;
    }
    respond_json(resp, 200,
                 json_pack("{s:s, s:s, s:s, s:I, s:s}", "accessToken", access, "refreshToken",
                           refresh, "tokenType", "Bearer", "expiresIn", (json_int_t)a->access_ttl_s,
                           "role", http_role_name(role)));
    sodium_memzero(access, strlen(access));
    sodium_memzero(refresh, strlen(refresh));
    free(access);
    free(refresh);
}

static void on_login(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    http_auth_t *a = arg;
    json_t *body = body_json(req, resp);
    if (!body) return;
    const char *user = json_string_value(json_object_get(body, "username"));
    const char *pass = json_string_value(json_object_get(body, "password"));
    auth_user_t found = {0};
    bool known = false;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; user && i < a->nusers && !known; i++)
        if (strcmp(a->users[i].name, user) == 0) {
            found = a->users[i];
            known = true;
        }
    pthread_mutex_unlock(&a->mu);
    hash_slot_take(a);
    bool ok =
        http_auth_password_verify(pass ? pass : "", known ? found.hash : a->dummy_hash) == 0 &&
        known && pass;
    hash_slot_give(a);
    char host[64];
    admin_http_remote_host(req, host, sizeof(host));
    /* One answer for an unknown user and a wrong password, so names cannot be probed. */
    if (!ok) {
        sb_info("http.auth", "login refused for user \"%.64s\" from %s", user ? user : "", host);
        admin_http_respond_error(resp, 401, "wrong username or password");
    } else {
        sb_info("http.auth", "login of user \"%s\" (%s) from %s", found.name,
                http_role_name(found.role), host);
        issue_pair(a, found.name, found.role, resp);
    }
    sodium_memzero(&found, sizeof(found));
    json_decref(body);
}

static void on_refresh(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    http_auth_t *a = arg;
    json_t *body = body_json(req, resp);
    if (!body) return;
    http_auth_claims_t c;
    sb_err_t err = {0};
    const char *tok = json_string_value(json_object_get(body, "refreshToken"));
    if (http_auth_verify(a, tok, (int64_t)time(NULL), &c, &err) < 0 ||
        c.use != HTTP_TOKEN_REFRESH || !c.jti[0]) {
        char msg[300];
        snprintf(msg, sizeof(msg), "invalid refresh token: %.250s",
                 err.msg[0] ? err.msg : "not a refresh token");
        admin_http_respond_error(resp, 401, msg);
    } else if (http_auth_revoke(a, c.jti, c.expires_at, &err) < 0) {
        /* Rotation: the old refresh token dies with this use, so a stolen one works once. */
        admin_http_respond_error(resp, 503, "cannot record the used refresh token");
    } else {
        /* The role comes from the current user list when the user is known here, so a
         * demoted or removed user cannot refresh their way back. */
        http_role_t role = c.role;
        bool known = false, any = false;
        pthread_mutex_lock(&a->mu);
        any = a->nusers > 0;
        for (size_t i = 0; i < a->nusers; i++)
            if (strcmp(a->users[i].name, c.subject) == 0) {
                role = a->users[i].role;
                known = true;
            }
        pthread_mutex_unlock(&a->mu);
        if (any && !known)
            admin_http_respond_error(resp, 401, "invalid refresh token: the user no longer exists");
        else
            issue_pair(a, c.subject, role, resp);
    }
    json_decref(body);
}

static void on_logout(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    http_auth_t *a = arg;
    json_t *body = req->body ? body_json(req, resp) : json_object();
    if (!body) return;
    sb_err_t err = {0};
    int rc = 0;
    http_auth_claims_t c;
    const char *tok = json_string_value(json_object_get(body, "refreshToken"));
    if (tok && http_auth_verify(a, tok, (int64_t)time(NULL), &c, NULL) == 0)
        rc = http_auth_revoke(a, c.jti, c.expires_at, &err);
    const char *authz = admin_http_header(req, "Authorization");
    if (rc == 0 && authz && strncasecmp(authz, "Bearer ", 7) == 0 &&
        http_auth_verify(a, authz + 7, (int64_t)time(NULL), &c, NULL) == 0)
        rc = http_auth_revoke(a, c.jti, c.expires_at, &err);
    json_decref(body);
    if (rc < 0)
        admin_http_respond_error(resp, 503, "cannot record the revocation");
    else
        resp->status = 204;
}

static void on_users(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    http_auth_t *a = arg;
    const char *rest = req->path_rest;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        if (rest[0] && strcmp(rest, "/") != 0) {
            admin_http_respond_error(resp, 404, "no such path");
            return;
        }
        json_t *list = json_array();
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < a->nusers; i++)
            json_array_append_new(list, json_pack("{s:s,s:s}", "name", a->users[i].name, "role",
                                                  http_role_name(a->users[i].role)));
        pthread_mutex_unlock(&a->mu);
        respond_json(resp, 200, json_pack("{s:o}", "users", list));
        return;
    }
    const char *name = rest[0] == '/' ? rest + 1 : "";
    if (!name[0] || strchr(name, '/') || strlen(name) >= 128) {
        admin_http_respond_error(resp, 404, "use /users/{name}");
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        pthread_mutex_lock(&a->mu);
        size_t i = 0;
        while (i < a->nusers && strcmp(a->users[i].name, name) != 0)
            i++;
        bool found = i < a->nusers;
        if (found) a->users[i] = a->users[--a->nusers];
        sb_err_t err = {0};
        int rc = found ? save_users(a, &err) : 0;
        pthread_mutex_unlock(&a->mu);
        if (!found)
            admin_http_respond_error(resp, 404, "no such user");
        else if (rc < 0)
            admin_http_respond_error(resp, 503, "cannot save the users file");
        else {
            sb_info("http.auth", "user \"%s\" removed by %s", name, req->principal);
            resp->status = 204;
        }
        return;
    }
    json_t *body = body_json(req, resp);
    if (!body) return;
    const char *pass = json_string_value(json_object_get(body, "password"));
    http_role_t role;
    if (!pass || strlen(pass) < 12 ||
        http_role_parse(json_string_value(json_object_get(body, "role")), &role) < 0) {
        admin_http_respond_error(
            resp, 400,
            "expected {\"password\": at least 12 characters, \"role\": viewer, operator or admin}");
        json_decref(body);
        return;
    }
    char hash[crypto_pwhash_STRBYTES];
    hash_slot_take(a);
    int rc = http_auth_password_hash(pass, hash, sizeof(hash));
    hash_slot_give(a);
    json_decref(body);
    sb_err_t err = {0};
    bool existed = false;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nusers; i++)
        existed |= strcmp(a->users[i].name, name) == 0;
    pthread_mutex_unlock(&a->mu);
    if (rc == 0) rc = http_auth_add_user(a, name, role, hash, &err);
    if (rc == 0) {
        pthread_mutex_lock(&a->mu);
        rc = save_users(a, &err);
        pthread_mutex_unlock(&a->mu);
    }
    sodium_memzero(hash, sizeof(hash));
    if (rc < 0) {
        admin_http_respond_error(resp, rc == SB_EINVAL ? 400 : 503,
                                 err.msg[0] ? err.msg : "cannot store the user");
        return;
    }
    sb_info("http.auth", "user \"%s\" %s as %s by %s", name, existed ? "updated" : "created",
            http_role_name(role), req->principal);
    respond_json(resp, existed ? 200 : 201,
                 json_pack("{s:s,s:s}", "name", name, "role", http_role_name(role)));
}

int http_auth_attach(http_auth_t *a, admin_http_t *http, const char *prefix, sb_err_t *err)
{
    char p[160];
    int rc = 0;
    http_role_t health = a->protect_health ? HTTP_ROLE_VIEWER : HTTP_ROLE_NONE;
    rc = http_auth_add_rule(a, "GET", "/health/live", HTTP_ROLE_NONE);
    if (rc == 0) rc = http_auth_add_rule(a, "GET", "/health/ready", health);
    if (rc == 0) rc = http_auth_add_rule(a, "GET", "/metrics", health);
#define ROUTE(method, suffix, handler, need)                                                       \
    do {                                                                                           \
        snprintf(p, sizeof(p), "%s%s", prefix, suffix);                                            \
        if (rc == 0) rc = admin_http_add_route(http, method, p, handler, a);                       \
        if (rc == 0) rc = http_auth_add_rule(a, method, p, need);                                  \
        snprintf(p, sizeof(p), "%s%s/**", prefix, suffix);                                         \
        if (rc == 0) rc = http_auth_add_rule(a, method, p, need);                                  \
    } while (0)
    ROUTE("POST", "/login", on_login, HTTP_ROLE_NONE);
    ROUTE("POST", "/refresh", on_refresh, HTTP_ROLE_NONE);
    ROUTE("POST", "/logout", on_logout, HTTP_ROLE_NONE);
    ROUTE("GET", "/users", on_users, HTTP_ROLE_ADMIN);
    ROUTE("PUT", "/users", on_users, HTTP_ROLE_ADMIN);
    ROUTE("DELETE", "/users", on_users, HTTP_ROLE_ADMIN);
#undef ROUTE
    if (rc < 0) return sb_err_set(err, rc, "cannot add the authentication routes under %s", prefix);
    admin_http_set_gate(http, gate, a);
    return 0;
}

static void route_thunk(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    auth_route_t *r = arg;
    /* The gate has already enforced the rule; the handler gets who the gate found. */
    http_auth_claims_t who = {0};
    snprintf(who.subject, sizeof(who.subject), "%s", req->principal);
    who.role = (http_role_t)req->role;
    r->handler(r->arg, req, &who, resp);
}

int http_auth_add_route(http_auth_t *a, admin_http_t *http, const char *method,
                        const char *path_prefix, http_role_t need, http_auth_handler_fn handler,
                        void *arg)
{
    auth_route_t *r = calloc(1, sizeof(*r));
    if (!r) return SB_ENOMEM;
    *r = (auth_route_t){.auth = a, .handler = handler, .arg = arg};
    char below[200];
    snprintf(below, sizeof(below), "%s/**", path_prefix);
    int rc = http_auth_add_rule(a, method, below, need);
    if (rc == 0) rc = admin_http_add_route(http, method, path_prefix, route_thunk, r);
    if (rc < 0) {
        free(r);
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    r->next = a->routes;
    a->routes = r;
    pthread_mutex_unlock(&a->mu);
    return 0;
}
