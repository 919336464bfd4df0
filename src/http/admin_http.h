#ifndef STREAMBUS_HTTP_ADMIN_HTTP_H
#define STREAMBUS_HTTP_ADMIN_HTTP_H

/* The admin HTTP server: health probes, Prometheus metrics, and a small router on which other
 * modules hang their admin API routes.
 *
 * libmicrohttpd runs one thread per connection (at most 128), so a handler that blocks (a
 * password hash, a PostgreSQL round trip) holds up only its own client. Every answer carries
 * X-Content-Type-Options: nosniff, X-Frame-Options: DENY and Cache-Control: no-store. Built-in routes:
 *   GET /health/live   200 {"status":"live"}
 *   GET /health/ready  200 {"status":"ready"} or 503 {"status":"not_ready","detail":"..."}
 *   GET /metrics       Prometheus text format 0.0.4 from hooks->registry
 * An unknown path answers 404, a known path with another method 405 (with an Allow header),
 * both with a JSON body {"error":"...","error_code":N,"message":"..."}. HEAD is answered wherever GET is. A URL with an
 * escaped NUL (%00) anywhere is refused with 400 before any route sees it: the path and query
 * reach handlers as C strings, which a NUL would cut short. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "metrics/metrics.h"

typedef struct admin_http admin_http_t;

typedef struct admin_http_hooks {
    /* Rendered at GET /metrics; NULL serves an empty exposition. Borrowed: must outlive the
     * server. */
    metrics_registry_t *registry;
    /* Readiness probe, called on the HTTP thread for each GET /health/ready. Returns true when
     * ready; otherwise writes a short reason into detail (NUL-terminated, at most cap bytes).
     * NULL means always ready. */
    bool (*ready)(void *arg, char *detail, size_t cap);
    /* Optional, takes precedence over ready: writes the whole JSON body of /health/ready (e.g.
     * per-component readiness) and returns true when ready (200) or false (503). */
    bool (*ready_body)(void *arg, sb_wr_t *out);
    void *arg;
    /* HTTPS: both PEM texts set = the listener speaks TLS only (TLS 1.2 and 1.3 with AEAD
     * ciphers and forward secrecy; see admin_http.c for the GnuTLS priority string), and every
     * answer carries Strict-Transport-Security. Borrowed for the call only (copied). */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    /* CORS allow-list: origins ("https://ui.example.com") separated by commas or spaces; a
     * request whose Origin is in it gets Access-Control-Allow-Origin (and preflight OPTIONS
     * is answered); any other Origin gets no CORS headers, so browsers refuse the answer.
     * NULL or "" = no cross-origin access. Copied. */
    const char *cors_origins;
} admin_http_hooks_t;

/* Largest request body a route receives; larger uploads get 413. */
#define ADMIN_HTTP_MAX_BODY (1024 * 1024)

typedef struct admin_http_request {
    const char *method;    /* "GET", "POST", ... */
    const char *path;      /* without the query string */
    const char *path_rest; /* the part of path after the route's prefix ("" when equal) */
    const uint8_t *body;   /* NULL when empty */
    size_t body_len;
    void *conn_; /* private; use admin_http_query */
    /* Filled by the gate (admin_http_set_gate) before the route runs: the authenticated
     * principal ("" when anonymous) and its role (an http_role_t; 0 = none). */
    char principal[128];
    int role;
} admin_http_request_t;

typedef struct admin_http_response {
    int status;             /* defaults to 200 */
    char content_type[96];  /* defaults to application/json */
    sb_wr_t body;           /* append the body here */
    char location[256];     /* optional Location header, "" for none */
    int retry_after_s;      /* > 0: a Retry-After header (429, 503) */
    char www_authenticate[160]; /* optional WWW-Authenticate header, "" for none */
} admin_http_response_t;

/* A route handler fills in resp; it runs on the HTTP thread. */
typedef void (*admin_http_handler_fn)(void *arg, const admin_http_request_t *req,
                                      admin_http_response_t *resp);

/* Starts the server bound to host:port only (port 0 picks a free port; see admin_http_port).
 * host may be a name or a numeric IPv4/IPv6 address. hooks is copied. Returns NULL with
 * err set on failure (address in use, bad host). */
admin_http_t *admin_http_start(const char *host, int port, const admin_http_hooks_t *hooks, sb_err_t *err);

/* Stops the server, waiting for a handler in progress to return. Accepts NULL. */
void admin_http_stop(admin_http_t *admin);

/* The bound port (useful after starting on port 0). */
int admin_http_port(const admin_http_t *admin);

/* Adds a route; may be called while the server runs. `method` is "GET", "POST", ... or NULL
 * for any method. A route matches when the request path equals path_prefix or continues it
 * with '/' (so "/admin/topics" matches "/admin/topics/orders" but not "/admin/topicsx");
 * a prefix ending in '/' matches anything under it. The longest matching prefix wins; routes
 * with the same prefix are told apart by method. Returns SB_EEXIST if the same method and
 * prefix are already routed. `arg` is borrowed. */
int admin_http_add_route(admin_http_t *admin, const char *method, const char *path_prefix,
                         admin_http_handler_fn handler, void *arg);

/* A gate runs before routing for every request except CORS preflights: it may fill
 * req->principal / req->role and return true to let the request reach its route, or answer
 * resp itself (401, 403, 429 ...) and return false. It runs on the request's own thread (the
 * server runs one thread per connection), so it may block briefly. Set it before traffic
 * arrives; `arg` is borrowed. */
typedef bool (*admin_http_gate_fn)(void *arg, admin_http_request_t *req, admin_http_response_t *resp);
void admin_http_set_gate(admin_http_t *admin, admin_http_gate_fn gate, void *arg);

/* True when the server speaks TLS. */
/* Replaces the certificate and key of a TLS server without a restart: connections accepted
 * afterwards get the new ones; open connections keep their session until they end. On failure
 * (PEM that does not load, a key that does not match) the server keeps the old ones and
 * SB_EINVAL says why; SB_ENOENT for a server without TLS. PEM texts are borrowed for the call.
 * Any thread; not concurrently with admin_http_stop. */
int admin_http_reload_tls(admin_http_t *admin, const char *cert_pem, const char *key_pem, sb_err_t *err);
/* 0 when cert_pem holds a PEM certificate and key_pem a PEM private key that belongs to it;
 * else an error saying which is wrong (libmicrohttpd's own start-up failure says neither). */
int admin_http_check_tls_pair(const char *cert_pem, const char *key_pem, sb_err_t *err);
bool admin_http_is_tls(const admin_http_t *admin);

/* The value of a query-string argument of the request, or NULL. */
const char *admin_http_query(const admin_http_request_t *req, const char *name);
/* The value of a request header (name case-insensitive), or NULL. */
const char *admin_http_header(const admin_http_request_t *req, const char *name);
/* The client's address as text ("127.0.0.1:54321"), "unknown" when not available. */
void admin_http_remote_addr(const admin_http_request_t *req, char *out, size_t cap);
/* The client's address without the port ("127.0.0.1", "::1"), "unknown" when not available. */
void admin_http_remote_host(const admin_http_request_t *req, char *out, size_t cap);

/* Sets status and a body {"error": message, "error_code": status, "message": message} (message
 * JSON-escaped): the admin API's shape and Kafka Connect's in one. */
void admin_http_respond_error(admin_http_response_t *resp, int status, const char *message);

/* Appends s to the body as a JSON string literal, quotes included. */
void admin_http_write_json_string(sb_wr_t *out, const char *s);

#endif
