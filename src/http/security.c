/* Shared HTTP security settings and start-up; see security.h. */
#include "http/security.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/secrets.h"
#include "common/yaml_keys.h"
#include "net/listener.h"

/* Passwords that ship in examples and tutorials; production mode refuses a user who has one. */
static const char *const default_passwords[] = {"admin",  "password", "changeme", "streambus",
                                                "secret", "admin123", NULL};

typedef enum { K_STR, K_BOOL, K_INT, K_DOUBLE, K_MODE } kind_t;
typedef struct key_def {
    const char *name;
    kind_t kind;
    size_t off, cap;
    const char *def;
} key_def_t;

#define S(n, f, d)                                                                                 \
    {                                                                                              \
        n, K_STR, offsetof(http_security_config_t, f), sizeof(((http_security_config_t *)0)->f), d \
    }
#define B(n, f, d)                                                                                 \
    {                                                                                              \
        n, K_BOOL, offsetof(http_security_config_t, f), 0, d                                       \
    }
#define I(n, f, d)                                                                                 \
    {                                                                                              \
        n, K_INT, offsetof(http_security_config_t, f), 0, d                                        \
    }
#define D(n, f, d)                                                                                 \
    {                                                                                              \
        n, K_DOUBLE, offsetof(http_security_config_t, f), 0, d                                     \
    }

static const key_def_t keys[] = {
    {"security.mode", K_MODE, offsetof(http_security_config_t, production), 0, "development"},
    S("http.tls.cert_file", tls_cert_file, ""),
    S("http.tls.key_file", tls_key_file, ""),
    S("http.cors_origins", cors_origins, ""),
    B("http.auth.enabled", auth_enabled, "false"),
    S("http.auth.jwt_secret_env", jwt_secret_env, "STREAMBUS_JWT_SECRET"),
    S("http.auth.jwt_secret_vault", jwt_secret_vault, ""),
    S("http.auth.jwt_key_files", jwt_key_files, ""),
    S("http.auth.issuer", jwt_issuer, ""),
    S("http.auth.audience", jwt_audience, ""),
    I("http.auth.clock_skew_s", jwt_leeway_s, "30"),
    I("http.auth.access_ttl_s", access_ttl_s, "900"),
    I("http.auth.refresh_ttl_s", refresh_ttl_s, "86400"),
    S("http.auth.users_file", users_file, ""),
    S("http.auth.revocations_file", revocations_file, ""),
    S("http.auth.admin_password_env", admin_password_env, "STREAMBUS_ADMIN_PASSWORD"),
    B("http.auth.protect_health", protect_health, "false"),
    D("http.rate_limit.per_address", rate_per_address, "0"),
    D("http.rate_limit.per_principal", rate_per_principal, "0"),
    S("vault.addr", vault_addr, ""),
    S("vault.token_env", vault_token_env, "VAULT_TOKEN"),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

size_t http_security_key_count(void)
{
    return NKEYS;
}

void http_security_key_at(size_t i, const char **name, const char **def)
{
    *name = keys[i].name;
    *def = keys[i].def;
}

void http_security_defaults(http_security_config_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++)
        http_security_set(c, keys[i].name, keys[i].def, NULL);
}

int http_security_set(http_security_config_t *c, const char *key, const char *value, sb_err_t *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def_t *k = &keys[i];
        if (strcmp(k->name, key) != 0) continue;
        void *f = (char *)c + k->off;
        char *end = NULL;
        switch (k->kind) {
        case K_MODE:
            if (strcmp(value, "production") == 0)
                *(bool *)f = true;
            else if (strcmp(value, "development") == 0)
                *(bool *)f = false;
            else
                return sb_err_set(err, SB_EINVAL, "%s: \"%.64s\" is not development or production",
                                  key, value);
            return 0;
        case K_BOOL:
            if (strcmp(value, "true") == 0)
                *(bool *)f = true;
            else if (strcmp(value, "false") == 0)
                *(bool *)f = false;
            else
                return sb_err_set(err, SB_EINVAL, "%s: \"%.64s\" is not true or false", key, value);
            return 0;
        case K_INT: {
            errno = 0;
            long long v = strtoll(value, &end, 10);
            if (errno || end == value || *end || v < 0 || v > 100000000)
                return sb_err_set(err, SB_EINVAL, "%s: \"%.64s\" is not a whole number of seconds",
                                  key, value);
            if (strcmp(key, "http.auth.clock_skew_s") == 0 && v > 300)
                return sb_err_set(err, SB_EINVAL, "%s: at most 300 s", key);
            *(int64_t *)f = v;
            return 0;
        }
        case K_DOUBLE: {
            double v = strtod(value, &end);
            if (end == value || *end || !(v >= 0 && v <= 1e6))
                return sb_err_set(err, SB_EINVAL,
                                  "%s: \"%.64s\" is not a rate 0..1000000 (requests per second)",
                                  key, value);
            *(double *)f = v;
            return 0;
        }
        case K_STR:
            if (strlen(value) >= k->cap)
                return sb_err_set(err, SB_EINVAL, "%s: longer than %zu bytes", key, k->cap - 1);
            snprintf((char *)f, k->cap, "%s", value);
            return 0;
        }
    }
    return sb_err_set(err, SB_EINVAL, "unknown key \"%.100s\"", key);
}

static int set_key(void *arg, const char *key, const char *value, sb_err_t *err)
{
    return http_security_set(arg, key, value, err);
}

int http_security_load(http_security_config_t *c, const char *path, sb_err_t *err)
{
    return sb_yaml_keys_load_file(path, 0, set_key, c, err);
}

int http_security_check_listener(const http_security_config_t *c, const char *host, sb_err_t *err)
{
    if (!c->production) return 0;
    if (!c->tls_cert_file[0] && !net_host_is_loopback(host))
        return sb_err_set(err, SB_EINVAL,
                          "production mode: http.tls.cert_file/http.tls.key_file are not set and "
                          "the listener %s is "
                          "beyond loopback (plaintext HTTP)",
                          host);
    if (!c->auth_enabled)
        return sb_err_set(err, SB_EINVAL, "production mode: http.auth.enabled is false");
    return 0;
}

static int read_pem(const char *path, const char *key, char **out, size_t *len, sb_err_t *err)
{
    sb_err_t e = {0};
    int rc = sb_secret_from_file(path, out, len, &e);
    if (rc < 0) sb_err_set(err, rc, "%s: %s", key, e.msg);
    return rc;
}

static int check_pair(const http_security_config_t *c, const char *cert, const char *key, sb_err_t *err)
{
    sb_err_t e = {0};
    int rc = admin_http_check_tls_pair(cert, key, &e);
    if (rc < 0)
        sb_err_set(err, rc, "http.tls.cert_file %s / http.tls.key_file %s: %s", c->tls_cert_file,
                   c->tls_key_file, e.msg);
    return rc;
}

int http_security_check_tls_files(const http_security_config_t *c, sb_err_t *err)
{
    if (!c->tls_cert_file[0] || !c->tls_key_file[0]) return 0;
    char *cert = NULL, *key = NULL;
    size_t cert_len = 0, key_len = 0;
    int rc = read_pem(c->tls_cert_file, "http.tls.cert_file", &cert, &cert_len, err);
    if (rc == 0) rc = read_pem(c->tls_key_file, "http.tls.key_file", &key, &key_len, err);
    if (rc == 0) rc = check_pair(c, cert, key, err);
    sb_secret_free(cert, cert_len);
    sb_secret_free(key, key_len);
    return rc;
}

/* The JWT secret: Vault when a reference is set, otherwise the environment variable or its
 * _FILE twin. SB_ENOENT when none is set. */
static int resolve_jwt_secret(const http_security_config_t *c, char **out, size_t *len,
                              sb_err_t *err)
{
    if (!c->jwt_secret_vault[0]) return sb_secret_from_env(c->jwt_secret_env, out, len, err);
    char *token = NULL;
    size_t tlen = 0;
    sb_err_t e = {0};
    int rc = sb_secret_from_env(c->vault_token_env, &token, &tlen, &e);
    if (rc < 0) return sb_err_set(err, rc, "http.auth.jwt_secret_vault: Vault token: %s", e.msg);
    sb_vault_config_t v = {.addr = c->vault_addr, .token = token};
    rc = sb_secret_from_vault(&v, c->jwt_secret_vault, out, len, &e);
    sb_secret_free(token, tlen);
    if (rc < 0) sb_err_set(err, rc, "http.auth.jwt_secret_vault: %s", e.msg);
    return rc;
}

static bool is_default_password(const char *pw)
{
    for (int i = 0; default_passwords[i]; i++)
        if (strcmp(pw, default_passwords[i]) == 0) return true;
    return false;
}

int http_security_check_users(const http_security_config_t *c, http_auth_t *auth,
                              const char *setting, sb_err_t *err)
{
    char weak[128] = "";
    if (c->production && http_auth_user_with_password(auth, default_passwords, weak, sizeof(weak)))
        return sb_err_set(err, SB_EINVAL,
                          "production mode: user \"%s\" (%s) has a default password", weak,
                          setting);
    return 0;
}

static int tls_watch_start(const http_security_config_t *c, admin_http_t *http,
                           http_tls_watch_t **out, sb_err_t *err);

int http_security_start(const http_security_config_t *c, const char *server_name, const char *host,
                        int port, const admin_http_hooks_t *hooks, const char *auth_prefix,
                        http_security_server_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    int rc = http_security_check_listener(c, host, err);
    if (rc < 0) return rc;
    if (!c->tls_cert_file[0] != !c->tls_key_file[0])
        return sb_err_set(err, SB_EINVAL,
                          "http.tls.cert_file and http.tls.key_file must be set together");
    char *secret = NULL, *cert = NULL, *key = NULL, *admin_pw = NULL;
    size_t secret_len = 0, cert_len = 0, key_len = 0, admin_pw_len = 0;
    sb_err_t e = {0};
    if (c->auth_enabled) {
        rc = resolve_jwt_secret(c, &secret, &secret_len, &e);
        if (rc == SB_ENOENT && c->jwt_key_files[0] && !c->jwt_secret_vault[0])
            rc = 0; /* verify-only */
        else if (rc < 0)
            sb_err_set(err, rc, "http.auth.jwt_secret_env: %s", e.msg);
        if (rc == 0 && secret && secret_len < HTTP_AUTH_MIN_SECRET)
            rc = sb_err_set(err, SB_EINVAL,
                            "%s: the JWT secret has %zu bytes; at least %d (256 bits) are needed "
                            "(e.g. openssl rand -hex 32)",
                            c->jwt_secret_vault[0] ? "http.auth.jwt_secret_vault"
                                                   : "http.auth.jwt_secret_env",
                            secret_len, HTTP_AUTH_MIN_SECRET);
        if (rc == 0 && c->admin_password_env[0]) {
            int r = sb_secret_from_env(c->admin_password_env, &admin_pw, &admin_pw_len, &e);
            if (r < 0 && r != SB_ENOENT)
                rc = sb_err_set(err, r, "http.auth.admin_password_env: %s", e.msg);
            if (rc == 0 && admin_pw && c->production &&
                (is_default_password(admin_pw) || admin_pw_len < 12))
                rc = sb_err_set(err, SB_EINVAL,
                                "production mode: http.auth.admin_password_env (%s) holds a "
                                "default or short password (use 12 characters or more)",
                                c->admin_password_env);
        }
    }
    if (rc == 0 && c->tls_cert_file[0])
        rc = read_pem(c->tls_cert_file, "http.tls.cert_file", &cert, &cert_len, err);
    if (rc == 0 && c->tls_key_file[0])
        rc = read_pem(c->tls_key_file, "http.tls.key_file", &key, &key_len, err);
    if (rc == 0 && cert && key) rc = check_pair(c, cert, key, err);
    http_auth_config_t ac = {
        .enabled = c->auth_enabled,
        .secret = secret,
        .secret_len = secret_len,
        .key_files = c->jwt_key_files,
        .issuer = c->jwt_issuer,
        .audience = c->jwt_audience,
        .leeway_s = c->jwt_leeway_s,
        .access_ttl_s = c->access_ttl_s,
        .refresh_ttl_s = c->refresh_ttl_s,
        .users_file = c->users_file,
        .revocations_file = c->revocations_file,
        .rate_per_address = c->rate_per_address,
        .rate_per_principal = c->rate_per_principal,
        .protect_health = c->protect_health,
    };
    if (rc == 0) rc = http_auth_new(&ac, &out->auth, err);
    if (rc == 0) rc = http_security_check_users(c, out->auth, "http.auth.users_file", err);
    if (rc == 0 && admin_pw) {
        char hash[160];
        rc = http_auth_password_hash(admin_pw, hash, sizeof(hash));
        if (rc == 0)
            rc = http_auth_add_user(out->auth, "admin", HTTP_ROLE_ADMIN, hash, err);
        else
            sb_err_set(err, rc, "cannot hash the bootstrap admin password");
    }
    sb_secret_free(secret, secret_len);
    sb_secret_free(admin_pw, admin_pw_len);
    if (rc == 0) {
        admin_http_hooks_t h = hooks ? *hooks : (admin_http_hooks_t){0};
        h.tls_cert_pem = cert;
        h.tls_key_pem = key;
        h.cors_origins = c->cors_origins;
        out->http = admin_http_start(host, port, &h, err);
        if (!out->http) rc = SB_EIO;
    }
    sb_secret_free(cert, cert_len);
    sb_secret_free(key, key_len);
    if (rc == 0) rc = http_auth_attach(out->auth, out->http, auth_prefix, err);
    if (rc == 0 && cert_len) rc = tls_watch_start(c, out->http, &out->tls_watch, err);
    if (rc < 0) {
        http_security_stop(out);
        return rc;
    }
    bool loop = net_host_is_loopback(host);
    const char *scheme = cert_len ? "https" : "http";
    if (!c->auth_enabled)
        sb_warn("http",
                "%s HTTP API on %s://%s:%d is OPEN: no authentication (http.auth.enabled false)%s",
                server_name, scheme, host, admin_http_port(out->http),
                loop ? "; loopback only: for local tools and development" : " and NOT on loopback");
    else
        sb_info("http", "%s HTTP API on %s://%s:%d: bearer tokens required (login at %s/login)%s",
                server_name, scheme, host, admin_http_port(out->http), auth_prefix,
                c->production ? ", production mode" : "");
    return 0;
}

/* ---- certificate reload ---------------------------------------------------------------- */

typedef struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool ok;
} file_sig_t;

struct http_tls_watch {
    admin_http_t *http;
    char cert_file[512], key_file[512];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;                    /* under lock */
    volatile sig_atomic_t forced; /* set by a signal handler */
    file_sig_t loaded[2];         /* what the server runs with */
    file_sig_t seen[2];           /* the last check's, for "held still" */
};

static file_sig_t sig_of(const char *path)
{
    file_sig_t f = {0};
    struct stat st;
    if (stat(path, &st) == 0) {
        f = (file_sig_t){.dev = st.st_dev,
                         .ino = st.st_ino,
                         .size = st.st_size,
                         .mtime = st.st_mtim,
                         .ok = true};
    }
    return f;
}

static bool sig_eq(const file_sig_t *a, const file_sig_t *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void tls_reload_now(http_tls_watch_t *w, const file_sig_t now[2])
{
    char *cert = NULL, *key = NULL;
    size_t cert_len = 0, key_len = 0;
    sb_err_t err = {0};
    int rc = read_pem(w->cert_file, "http.tls.cert_file", &cert, &cert_len, &err);
    if (rc == 0) rc = read_pem(w->key_file, "http.tls.key_file", &key, &key_len, &err);
    if (rc == 0) {
        sb_err_t e = {0};
        rc = admin_http_reload_tls(w->http, cert, key, &e);
        if (rc < 0) sb_err_set(&err, rc, "%s / %s: %s", w->cert_file, w->key_file, e.msg);
    }
    sb_secret_free(cert, cert_len);
    sb_secret_free(key, key_len);
    /* Either way these files have been tried: a failure is not retried until they change. */
    w->loaded[0] = now[0];
    w->loaded[1] = now[1];
    if (rc == 0)
        sb_info("http", "HTTPS certificate and key reloaded from %s and %s", w->cert_file,
                w->key_file);
    else
        sb_error("http",
                 "HTTPS certificate reload failed, the previous certificate stays in use: %s",
                 err.msg);
}

static void *tls_watch_main(void *arg)
{
    http_tls_watch_t *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&w->cond, &w->lock, &until);
        if (w->stop) break;
        pthread_mutex_unlock(&w->lock);
        file_sig_t now[2] = {sig_of(w->cert_file), sig_of(w->key_file)};
        bool forced = w->forced != 0;
        bool changed = !sig_eq(&now[0], &w->loaded[0]) || !sig_eq(&now[1], &w->loaded[1]);
        /* A renewal writes two files, often one after the other: act once both have held
         * still for one check, not between the two writes. */
        bool still = sig_eq(&now[0], &w->seen[0]) && sig_eq(&now[1], &w->seen[1]);
        w->seen[0] = now[0];
        w->seen[1] = now[1];
        if (forced || (changed && still)) {
            w->forced = 0;
            tls_reload_now(w, now);
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int tls_watch_start(const http_security_config_t *c, admin_http_t *http,
                           http_tls_watch_t **out, sb_err_t *err)
{
    http_tls_watch_t *w = calloc(1, sizeof(*w));
    if (!w) return sb_err_set(err, SB_ENOMEM, "out of memory");
    w->http = http;
    snprintf(w->cert_file, sizeof(w->cert_file), "%s", c->tls_cert_file);
    snprintf(w->key_file, sizeof(w->key_file), "%s", c->tls_key_file);
    /* The files as read at start (they may change between that read and this; the first
     * check then sees the change and reloads). */
    w->loaded[0] = w->seen[0] = sig_of(w->cert_file);
    w->loaded[1] = w->seen[1] = sig_of(w->key_file);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, tls_watch_main, w) != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return sb_err_set(err, SB_EIO, "cannot start the certificate reload thread");
    }
    *out = w;
    return 0;
}

static void tls_watch_stop(http_tls_watch_t *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

void http_security_request_tls_reload(http_security_server_t *s)
{
    if (s && s->tls_watch) s->tls_watch->forced = 1;
}

void http_security_stop(http_security_server_t *s)
{
    tls_watch_stop(s->tls_watch);
    s->tls_watch = NULL;
    admin_http_stop(s->http);
    http_auth_free(s->auth);
    s->http = NULL;
    s->auth = NULL;
}
