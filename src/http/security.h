#ifndef STREAMBUS_HTTP_SECURITY_H
#define STREAMBUS_HTTP_SECURITY_H

/* HTTP security settings shared by every StreamBus HTTP server (broker admin, connect REST,
 * jobs API): one file format, one parser, one start-up path. A server is given the file with
 * `--http-security FILE` (YAML, keys below; docs/configuration.md "HTTP security") and turns
 * production mode on with `security.mode: production` or `--production`.
 *
 * http_security_start resolves secrets (environment, *_FILE, Vault), refuses an unsafe
 * production start naming the setting, starts the admin HTTP server (TLS when configured) and
 * attaches the shared auth layer (http/auth.h). */

#include <stdbool.h>

#include "common/err.h"
#include "http/admin_http.h"
#include "http/auth.h"

typedef struct http_security_config {
    bool production;
    char tls_cert_file[512], tls_key_file[512];
    char cors_origins[1024];
    bool auth_enabled;
    char
        jwt_secret_env[96]; /* environment variable (and its _FILE twin) holding the HS256 secret */
    char jwt_secret_vault[512]; /* "<mount>/<path>#<field>", "" = not from Vault */
    char jwt_key_files[1024];
    char jwt_issuer[256], jwt_audience[256];
    int64_t jwt_leeway_s, access_ttl_s, refresh_ttl_s;
    char users_file[512], revocations_file[512];
    char
        admin_password_env[96]; /* bootstrap user "admin" from this variable (+ _FILE), "" = none */
    bool protect_health;
    double rate_per_address, rate_per_principal;
    char vault_addr[256];
    char vault_token_env[96];
} http_security_config_t;

void http_security_defaults(http_security_config_t *c);
/* The key table (name and default text), for the docs check in tests. */
size_t http_security_key_count(void);
void http_security_key_at(size_t i, const char **name, const char **def);
/* One key ("http.tls.cert_file"); unknown keys and bad values are SB_EINVAL naming the key. */
int http_security_set(http_security_config_t *c, const char *key, const char *value, sb_err_t *err);
/* A YAML file of nested mappings whose leaves are the keys above; errors name file and line. */
int http_security_load(http_security_config_t *c, const char *path, sb_err_t *err);

/* Reads http.tls.cert_file and key_file, if set, and checks that the key belongs to the
 * certificate: what start-up would refuse, for --validate-config. */
int http_security_check_tls_files(const http_security_config_t *c, sb_err_t *err);

/* Checks the production rules (no secrets needed): a plaintext listener beyond loopback,
 * authentication off. Returns SB_EINVAL naming the setting. Called by http_security_start. */
int http_security_check_listener(const http_security_config_t *c, const char *host, sb_err_t *err);

typedef struct http_tls_watch http_tls_watch_t;

typedef struct http_security_server {
    admin_http_t *http;
    http_auth_t *auth;
    http_tls_watch_t *tls_watch; /* HTTPS: the thread that reloads changed certificate files */
} http_security_server_t;

/* With TLS, http_security_start also starts a thread that checks http.tls.cert_file and
 * key_file once a second (inode, size, modification time) and, once a change has held still
 * for a check, loads them into the running server (admin_http_reload_tls). A pair that does not
 * load is logged naming the file and the reason, and the server keeps the previous one.
 * Asks that thread to reload at its next check even if the files look unchanged (SIGHUP).
 * Async-signal-safe; does nothing for a server without TLS. */
void http_security_request_tls_reload(http_security_server_t *s);

/* Starts `server_name`'s HTTP server on host:port with hooks (TLS fields are filled here) and
 * the auth layer with its endpoints under auth_prefix. On success the caller owns out->http and
 * out->auth (stop http first). */
int http_security_start(const http_security_config_t *c, const char *server_name, const char *host,
                        int port, const admin_http_hooks_t *hooks, const char *auth_prefix,
                        http_security_server_t *out, sb_err_t *err);
/* In production mode, SB_EINVAL when a user of auth has a well-known default password; the
 * message names the user and `setting` (where the user came from). */
int http_security_check_users(const http_security_config_t *c, http_auth_t *auth,
                              const char *setting, sb_err_t *err);

void http_security_stop(http_security_server_t *s);

#endif
