#include "http/admin_http.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

typedef struct route {
    char *method; /* NULL = any */
    char *prefix;
    admin_http_handler_fn handler;
    void *arg;
} route_t;

struct admin_http {
    struct MHD_Daemon *daemon;
    admin_http_hooks_t hooks;
    int port;
    /* Routes may be added while the server runs, from another thread. They are never removed,
     * so a copy taken under the lock stays valid after it is released. */
    pthread_mutex_t routes_lock;
    route_t *routes;
    size_t nroutes, routes_cap;
    /* The last libmicrohttpd error message, so that a failed start can say why. */
    char last_error[256];
    admin_http_gate_fn gate;
    void *gate_arg;
    bool tls;
    /* TLS reload (admin_http_reload_tls): the start flags, and the daemons a reload retired.
     * A retired daemon no longer accepts but finishes its open connections, which still call
     * on_request with this struct; it is stopped once it has none, or at admin_http_stop. */
    unsigned flags;
    pthread_mutex_t reload_lock;
    struct MHD_Daemon *retired[8];
    int nretired;
    char *cors_origins; /* "" = none; separators normalised to spaces, padded: " a b " */
};

/* Per-request state across libmicrohttpd's repeated calls for one request. */
typedef struct request_state {
    sb_wr_t body;
    bool headers_seen; /* the first on_request call (headers only) is over */
    bool too_large;
    /* The raw URL has an escaped NUL. libmicrohttpd unescapes the path and query in place and
     * hands them on as C strings, so "%00" would silently cut them short: "/connectors/a%00x/status"
     * would reach the handler as "/connectors/a". Such a request is refused instead. */
    bool nul_in_url;
} request_state_t;

/* TLS 1.2 and 1.3 only; AEAD ciphers (AES-GCM, ChaCha20-Poly1305) with ECDHE or TLS 1.3 key
 * exchange only, so every session has forward secrecy; no CBC, RC4, 3DES, SHA-1 MACs, RSA key
 * exchange or static DH. */
static const char tls_priorities[] =
    "SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"
    "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1:"
    "%SAFE_RENEGOTIATION";

static const char JSON_TYPE[] = "application/json";
static const char METRICS_TYPE[] = "text/plain; version=0.0.4; charset=utf-8";

/* ----- JSON helpers ----- */

void admin_http_write_json_string(sb_wr_t *out, const char *s)
{
    sb_wr_bytes(out, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        switch (ch) {
        case '"': sb_wr_bytes(out, "\\\"", 2); break;
        case '\\': sb_wr_bytes(out, "\\\\", 2); break;
        case '\n': sb_wr_bytes(out, "\\n", 2); break;
        case '\r': sb_wr_bytes(out, "\\r", 2); break;
        case '\t': sb_wr_bytes(out, "\\t", 2); break;
        default:
            if (ch < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", ch);
                sb_wr_bytes(out, esc, 6);
            } else {
                sb_wr_bytes(out, s, 1);
            }
        }
    }
    sb_wr_bytes(out, "\"", 1);
}

static void write_str(sb_wr_t *out, const char *s)
{
    sb_wr_bytes(out, s, strlen(s));
}

void admin_http_respond_error(admin_http_response_t *resp, int status, const char *message)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", JSON_TYPE);
    sb_wr_reset(&resp->body);
    /* "error" is what the broker's admin clients read; "error_code" and "message" are Kafka
     * Connect's shape, which the connect REST API (served by this same router) promises for
     * every error, including an unknown path or a refused method. */
    char code[48];
    snprintf(code, sizeof(code), ",\"error_code\":%d,\"message\":", status);
    write_str(&resp->body, "{\"error\":");
    admin_http_write_json_string(&resp->body, message);
    write_str(&resp->body, code);
    admin_http_write_json_string(&resp->body, message);
    write_str(&resp->body, "}\n");
}

const char *admin_http_query(const admin_http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

const char *admin_http_header(const admin_http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

void admin_http_remote_addr(const admin_http_request_t *req, char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn_, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    char host[INET6_ADDRSTRLEN] = "";
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host))) snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
            snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    }
}

void admin_http_remote_host(const admin_http_request_t *req, char *out, size_t cap)
{
    char addr[INET6_ADDRSTRLEN + 16];
    admin_http_remote_addr(req, addr, sizeof(addr));
    char *colon = strrchr(addr, ':');
    if (addr[0] == '[') {
        char *end = strchr(addr, ']');
        if (end) *end = 0;
        snprintf(out, cap, "%s", addr + 1);
        return;
    }
    if (colon && strcmp(addr, "unknown") != 0) *colon = 0;
    snprintf(out, cap, "%s", addr);
}

void admin_http_set_gate(admin_http_t *admin, admin_http_gate_fn gate, void *arg)
{
    admin->gate_arg = arg;
    admin->gate = gate;
}

bool admin_http_is_tls(const admin_http_t *admin)
{
    return admin->tls;
}

/* The request's Origin when it is on the allow-list, else NULL. */
static const char *allowed_origin(const admin_http_t *admin, struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (!origin || !origin[0] || !admin->cors_origins[0] || strchr(origin, ' ') || strlen(origin) > 200) return NULL;
    char needle[208];
    snprintf(needle, sizeof(needle), " %s ", origin);
    return strstr(admin->cors_origins, needle) ? origin : NULL;
}

/* ----- built-in routes ----- */

/* The built-in routes are exact paths; the prefix router would also hand them "/metrics/x". */
static bool exact(const admin_http_request_t *req, admin_http_response_t *resp)
{
    if (req->path_rest[0] == 0) return true;
    admin_http_respond_error(resp, MHD_HTTP_NOT_FOUND, "no such path");
    return false;
}

static void handle_live(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    if (exact(req, resp)) write_str(&resp->body, "{\"status\":\"live\"}\n");
}

static void handle_ready(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    if (!exact(req, resp)) return;
    admin_http_t *admin = arg;
    if (admin->hooks.ready_body) {
        if (!admin->hooks.ready_body(admin->hooks.arg, &resp->body)) resp->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return;
    }
    char detail[256] = "";
    if (!admin->hooks.ready || admin->hooks.ready(admin->hooks.arg, detail, sizeof(detail))) {
        write_str(&resp->body, "{\"status\":\"ready\"}\n");
        return;
    }
    detail[sizeof(detail) - 1] = 0;
    resp->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    write_str(&resp->body, "{\"status\":\"not_ready\",\"detail\":");
    admin_http_write_json_string(&resp->body, detail[0] ? detail : "not ready");
    write_str(&resp->body, "}\n");
}

static void handle_metrics(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    if (!exact(req, resp)) return;
    admin_http_t *admin = arg;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", METRICS_TYPE);
    if (admin->hooks.registry && metrics_render(admin->hooks.registry, &resp->body) < 0)
        admin_http_respond_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory rendering metrics");
}

/* ----- router ----- */

int admin_http_add_route(admin_http_t *admin, const char *method, const char *path_prefix,
                         admin_http_handler_fn handler, void *arg)
{
    if (!path_prefix || path_prefix[0] != '/' || !handler) return SB_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&admin->routes_lock);
    for (size_t i = 0; i < admin->nroutes; i++) {
        const route_t *r = &admin->routes[i];
        bool same_method = (!r->method && !method) || (r->method && method && strcmp(r->method, method) == 0);
        if (same_method && strcmp(r->prefix, path_prefix) == 0) {
            rc = SB_EEXIST;
            goto out;
        }
    }
    if (admin->nroutes == admin->routes_cap) {
        size_t cap = admin->routes_cap ? admin->routes_cap * 2 : 16;
        route_t *nr = realloc(admin->routes, cap * sizeof(*nr));
        if (!nr) {
            rc = SB_ENOMEM;
            goto out;
        }
        admin->routes = nr;
        admin->routes_cap = cap;
    }
    route_t r = {method ? strdup(method) : NULL, strdup(path_prefix), handler, arg};
    if (!r.prefix || (method && !r.method)) {
        free(r.method);
        free(r.prefix);
        rc = SB_ENOMEM;
        goto out;
    }
    admin->routes[admin->nroutes++] = r;
out:
    pthread_mutex_unlock(&admin->routes_lock);
    return rc;
}

/* Returns the length of prefix if it matches path at a segment boundary, else -1. */
static long prefix_match(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (strncmp(prefix, path, n) != 0) return -1;
    if (path[n] == 0 || path[n] == '/' || (n > 0 && prefix[n - 1] == '/')) return (long)n;
    return -1;
}

typedef struct route_choice {
    route_t route; /* copy; handler NULL when none fits */
    size_t prefix_len;
    bool path_known;  /* some route has this path, perhaps for another method */
    char allow[128];  /* methods accepted for this path, for 405 */
} route_choice_t;

static void choose_route(admin_http_t *admin, const char *method, const char *path, route_choice_t *out)
{
    memset(out, 0, sizeof(*out));
    /* HEAD is served by GET routes; libmicrohttpd leaves the body out. */
    const char *match_method = strcmp(method, "HEAD") == 0 ? "GET" : method;
    long best = -1;
    pthread_mutex_lock(&admin->routes_lock);
    for (size_t i = 0; i < admin->nroutes; i++) {
        long n = prefix_match(admin->routes[i].prefix, path);
        if (n > best) best = n;
    }
    for (size_t i = 0; best >= 0 && i < admin->nroutes; i++) {
        const route_t *r = &admin->routes[i];
        if ((long)strlen(r->prefix) != best || prefix_match(r->prefix, path) < 0) continue;
        out->path_known = true;
        size_t used = strlen(out->allow);
        const char *m = r->method ? r->method : "*";
        snprintf(out->allow + used, sizeof(out->allow) - used, "%s%s", used ? ", " : "", m);
        if (r->method && strcmp(r->method, "GET") == 0 && !strstr(out->allow, "HEAD")) {
            used = strlen(out->allow);
            snprintf(out->allow + used, sizeof(out->allow) - used, ", HEAD");
        }
        bool fits = !r->method || strcmp(r->method, match_method) == 0;
        /* A route for the exact method beats an any-method route on the same prefix. */
        if (fits && (!out->route.handler || (r->method && !out->route.method))) {
            out->route = *r;
            out->prefix_len = (size_t)best;
        }
    }
    pthread_mutex_unlock(&admin->routes_lock);
}

/* ----- libmicrohttpd glue ----- */

static enum MHD_Result send_response(admin_http_t *admin, struct MHD_Connection *conn, admin_http_response_t *resp,
                                     const char *allow)
{
    struct MHD_Response *r;
    if (resp->body.oom) {
        sb_wr_deinit(&resp->body);
        static const char oom[] = "{\"error\":\"out of memory\",\"error_code\":500,\"message\":\"out of memory\"}\n";
        resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        snprintf(resp->content_type, sizeof(resp->content_type), "%s", JSON_TYPE);
        r = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    } else if (resp->body.len == 0) {
        sb_wr_deinit(&resp->body);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        /* The response takes the writer's heap buffer and frees it when sent. */
        r = MHD_create_response_from_buffer(resp->body.len, resp->body.buf, MHD_RESPMEM_MUST_FREE);
        if (r) resp->body.buf = NULL;
        sb_wr_deinit(&resp->body);
    }
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (resp->location[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    /* The answers are JSON and metrics for programs: no browser should sniff them into
     * something executable or frame them. */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    if (admin->tls) MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    if (resp->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%d", resp->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (resp->www_authenticate[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, resp->www_authenticate);
    const char *origin = allowed_origin(admin, conn);
    if (origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "Retry-After, Location");
    }
    if (admin->cors_origins[0]) MHD_add_response_header(r, "Vary", "Origin");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void response_init(admin_http_response_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = MHD_HTTP_OK;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", JSON_TYPE);
    sb_wr_init(&resp->body, 0);
}

/* An escaped NUL anywhere in the raw URL, path or query. */
static bool has_escaped_nul(const char *uri)
{
    for (const char *p = strchr(uri, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0') return true;
    return false;
}

/* Called by libmicrohttpd with the URL as the client sent it, before unescaping; the pointer
 * returned becomes the request's state (*con_cls), so the verdict on the raw URL reaches
 * on_request. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    request_state_t *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    sb_wr_init(&st->body, 0);
    st->nul_in_url = has_escaped_nul(uri);
    return st;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    admin_http_t *admin = cls;
    request_state_t *st = *con_cls;
    if (!st) {
        /* on_uri ran out of memory. */
        st = calloc(1, sizeof(*st));
        if (!st) return MHD_NO;
        sb_wr_init(&st->body, 0);
        *con_cls = st;
    }
    if (!st->headers_seen) {
        /* First call: only the headers are known. Body chunks, if any, follow. */
        st->headers_seen = true;
        if (st->nul_in_url) {
            admin_http_response_t resp;
            response_init(&resp);
            admin_http_respond_error(&resp, MHD_HTTP_BAD_REQUEST, "the URL contains an escaped NUL (%00)");
            return send_response(admin, conn, &resp, NULL);
        }
        /* libmicrohttpd accepts a response only before or after the body, not during it, so
         * an announced oversized body is refused here, before the client sends it. */
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > ADMIN_HTTP_MAX_BODY) {
            st->too_large = true;
            admin_http_response_t resp;
            response_init(&resp);
            admin_http_respond_error(&resp, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
            return send_response(admin, conn, &resp, NULL);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* A chunked body has no announced length: drop what exceeds the limit and answer 413
         * once it has been read. */
        if (st->body.len + *upload_data_size > ADMIN_HTTP_MAX_BODY) st->too_large = true;
        if (!st->too_large) sb_wr_bytes(&st->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    admin_http_response_t resp;
    response_init(&resp);
    if (st->too_large) {
        admin_http_respond_error(&resp, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        return send_response(admin, conn, &resp, NULL);
    }
    if (st->nul_in_url) {
        admin_http_respond_error(&resp, MHD_HTTP_BAD_REQUEST, "the URL contains an escaped NUL (%00)");
        return send_response(admin, conn, &resp, NULL);
    }
    /* A CORS preflight carries no credentials, so it is answered before the gate: allowed
     * origins learn what they may send, others get no CORS headers (the browser then refuses). */
    if (strcmp(method, "OPTIONS") == 0 && MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method")) {
        if (!allowed_origin(admin, conn)) {
            admin_http_respond_error(&resp, MHD_HTTP_FORBIDDEN, "origin not allowed (http.cors_origins)");
            return send_response(admin, conn, &resp, NULL);
        }
        resp.status = MHD_HTTP_NO_CONTENT;
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        sb_wr_deinit(&resp.body);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Access-Control-Allow-Origin", allowed_origin(admin, conn));
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        if (admin->tls) MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
        MHD_destroy_response(r);
        return ret;
    }
    route_choice_t choice;
    choose_route(admin, method, url, &choice);
    const char *allow = NULL;
    admin_http_request_t req = {
        .method = method,
        .path = url,
        .path_rest = url + choice.prefix_len,
        .body = st->body.len ? st->body.buf : NULL,
        .body_len = st->body.len,
        .conn_ = conn,
    };
    if (admin->gate && !admin->gate(admin->gate_arg, &req, &resp)) {
        sb_debug("http", "%s %s -> %d (gate)", method, url, resp.status);
        return send_response(admin, conn, &resp, NULL);
    }
    if (st->body.oom) {
        admin_http_respond_error(&resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory reading the body");
    } else if (choice.route.handler) {
        choice.route.handler(choice.route.arg, &req, &resp);
    } else if (choice.path_known) {
        allow = choice.allow;
        admin_http_respond_error(&resp, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    } else {
        admin_http_respond_error(&resp, MHD_HTTP_NOT_FOUND, "no such path");
    }
    sb_debug("http", "%s %s -> %d", method, url, resp.status);
    return send_response(admin, conn, &resp, allow);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request_state_t *st = *con_cls;
    if (!st) return;
    sb_wr_deinit(&st->body);
    free(st);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    admin_http_t *admin = cls;
    vsnprintf(admin->last_error, sizeof(admin->last_error), fmt, ap);
    size_t n = strlen(admin->last_error);
    while (n && (admin->last_error[n - 1] == '\n' || admin->last_error[n - 1] == ' ')) admin->last_error[--n] = 0;
    sb_warn("http", "%s", admin->last_error);
}

static void free_routes(admin_http_t *admin)
{
    for (size_t i = 0; i < admin->nroutes; i++) {
        free(admin->routes[i].method);
        free(admin->routes[i].prefix);
    }
    free(admin->routes);
}

admin_http_t *admin_http_start(const char *host, int port, const admin_http_hooks_t *hooks, sb_err_t *err)
{
    if (port < 0 || port > 65535) {
        sb_err_set(err, SB_EINVAL, "admin HTTP: port %d out of range", port);
        return NULL;
    }
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        sb_err_set(err, SB_EINVAL, "admin HTTP: cannot resolve \"%s\": %s", host, gai_strerror(gai));
        return NULL;
    }

    admin_http_t *admin = calloc(1, sizeof(*admin));
    if (!admin) {
        freeaddrinfo(ai);
        sb_err_set(err, SB_ENOMEM, "admin HTTP: out of memory");
        return NULL;
    }
    if (hooks) admin->hooks = *hooks;
    admin->hooks.tls_cert_pem = admin->hooks.tls_key_pem = admin->hooks.cors_origins = NULL;
    admin->tls = hooks && hooks->tls_cert_pem && hooks->tls_key_pem;
    const char *cors = hooks && hooks->cors_origins ? hooks->cors_origins : "";
    admin->cors_origins = malloc(strlen(cors) + 3);
    if (!admin->cors_origins) {
        freeaddrinfo(ai);
        free(admin);
        sb_err_set(err, SB_ENOMEM, "admin HTTP: out of memory");
        return NULL;
    }
    if (cors[0]) {
        sprintf(admin->cors_origins, " %s ", cors);
        for (char *c = admin->cors_origins; *c; c++)
            if (*c == ',' || *c == '\t' || *c == '\n') *c = ' ';
    } else {
        admin->cors_origins[0] = 0;
    }
    pthread_mutex_init(&admin->routes_lock, NULL);
    pthread_mutex_init(&admin->reload_lock, NULL);
    if (admin_http_add_route(admin, "GET", "/health/live", handle_live, admin) < 0 ||
        admin_http_add_route(admin, "GET", "/health/ready", handle_ready, admin) < 0 ||
        admin_http_add_route(admin, "GET", "/metrics", handle_metrics, admin) < 0) {
        freeaddrinfo(ai);
        free_routes(admin);
        pthread_mutex_destroy(&admin->routes_lock);
        free(admin->cors_origins);
        free(admin);
        sb_err_set(err, SB_ENOMEM, "admin HTTP: out of memory");
        return NULL;
    }

    /* One thread per connection: handlers may block (a login's Argon2id hash, a DLQ listing
     * reading the broker, a reconciliation query) without holding up the health probes, the
     * metric scrapes or anyone else's request. There is no shared event loop to stall. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES) flags |= MHD_USE_POLL;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (admin->tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        freeaddrinfo(ai);
        free_routes(admin);
        pthread_mutex_destroy(&admin->routes_lock);
        free(admin->cors_origins);
        free(admin);
        sb_err_set(err, SB_EINVAL, "admin HTTP: this libmicrohttpd was built without TLS support");
        return NULL;
    }
    if (admin->tls) flags |= MHD_USE_TLS | MHD_USE_ITC; /* ITC: MHD_quiesce_daemon at reload */
    admin->flags = flags;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)(admin->tls ? hooks->tls_cert_pem : NULL)},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)(admin->tls ? hooks->tls_key_pem : NULL)},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!admin->tls) tls_opts[0].option = MHD_OPTION_END;
    admin->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, admin, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        admin, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, admin,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, admin,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)128,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!admin->daemon) {
        sb_err_set(err, SB_EIO, "admin HTTP: cannot listen on %s:%d: %s", host, port,
                   admin->last_error[0] ? admin->last_error : "libmicrohttpd failed to start");
        free_routes(admin);
        pthread_mutex_destroy(&admin->routes_lock);
        free(admin->cors_origins);
        free(admin);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(admin->daemon, MHD_DAEMON_INFO_BIND_PORT);
    admin->port = info ? info->port : port;
    bool v6 = strchr(host, ':') != NULL;
    sb_info("http", "admin HTTP server listening on %s://%s%s%s:%d", admin->tls ? "https" : "http", v6 ? "[" : "", host,
            v6 ? "]" : "", admin->port);
    return admin;
}

/* The new PEM texts parse, and the key belongs to the certificate (the first in cert_pem).
 * Checked with OpenSSL before libmicrohttpd sees them, so a failure says which is wrong. */
int admin_http_check_tls_pair(const char *cert_pem, const char *key_pem, sb_err_t *err)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int rc = 0;
    if (!cert) rc = sb_err_set(err, SB_EINVAL, "the certificate is not a PEM certificate");
    else if (!key) rc = sb_err_set(err, SB_EINVAL, "the key is not a PEM private key");
    else if (X509_check_private_key(cert, key) != 1)
        rc = sb_err_set(err, SB_EINVAL, "the key does not match the certificate");
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

/* Stops the retired daemons that have no connection left (all of them when all is true).
 * Called with reload_lock held. */
static void reap_retired(admin_http_t *admin, bool all)
{
    int keep = 0;
    for (int i = 0; i < admin->nretired; i++) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(admin->retired[i], MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (all || (info && info->num_connections == 0)) MHD_stop_daemon(admin->retired[i]);
        else admin->retired[keep++] = admin->retired[i];
    }
    admin->nretired = keep;
}

/* A new daemon with the new certificate accepts on a duplicate of the listening socket before
 * the old one stops accepting, so there is no moment without a listener and a certificate that
 * does not load leaves the old daemon untouched. The old daemon is quiesced (it accepts no
 * more) and keeps its open connections until they end. */
int admin_http_reload_tls(admin_http_t *admin, const char *cert_pem, const char *key_pem, sb_err_t *err)
{
    if (!admin->tls) return sb_err_set(err, SB_ENOENT, "admin HTTP: this server does not use TLS");
    int rc = admin_http_check_tls_pair(cert_pem, key_pem, err);
    if (rc < 0) return rc;
    pthread_mutex_lock(&admin->reload_lock);
    reap_retired(admin, false);
    if (admin->nretired == (int)(sizeof(admin->retired) / sizeof(admin->retired[0]))) {
        rc = sb_err_set(err, SB_EAGAIN,
                        "admin HTTP: %d earlier reloads still have open connections; try again later",
                        admin->nretired);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(admin->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    int fd = info ? fcntl(info->listen_fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (fd < 0) {
        rc = sb_err_set(err, SB_EIO, "admin HTTP: cannot duplicate the listening socket: %s", strerror(errno));
        goto out;
    }
    admin->last_error[0] = 0;
    struct MHD_Daemon *fresh = MHD_start_daemon(
        admin->flags, 0, NULL, NULL, on_request, admin, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, admin,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, admin,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, admin, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_HTTPS_PRIORITIES, tls_priorities, MHD_OPTION_END);
    if (!fresh) {
        /* Whether libmicrohttpd closed the socket it was given on its failure path is not
         * documented: close the duplicate only if that number is still this listening socket
         * (only this function duplicates it), never a descriptor another thread opened since. */
        struct stat a, b;
        if (fstat(info->listen_fd, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            close(fd);
        rc = sb_err_set(err, SB_EINVAL, "admin HTTP: the new certificate and key do not load: %s",
                        admin->last_error[0] ? admin->last_error : "libmicrohttpd refused them");
        goto out;
    }
    struct MHD_Daemon *old = admin->daemon;
    admin->daemon = fresh;
    MHD_socket old_fd = MHD_quiesce_daemon(old);
    if (old_fd != MHD_INVALID_SOCKET) close(old_fd);
    admin->retired[admin->nretired++] = old;
    reap_retired(admin, false);
out:
    pthread_mutex_unlock(&admin->reload_lock);
    return rc;
}

void admin_http_stop(admin_http_t *admin)
{
    if (!admin) return;
    pthread_mutex_lock(&admin->reload_lock);
    reap_retired(admin, true);
    pthread_mutex_unlock(&admin->reload_lock);
    MHD_stop_daemon(admin->daemon);
    pthread_mutex_destroy(&admin->reload_lock);
    free_routes(admin);
    pthread_mutex_destroy(&admin->routes_lock);
    free(admin->cors_origins);
    free(admin);
}

int admin_http_port(const admin_http_t *admin)
{
    return admin->port;
}
