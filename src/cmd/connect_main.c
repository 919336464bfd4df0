/* streambus connect: the connector runtime. Loads config/connect.yaml, connects to the broker,
 * resumes every stored connector and serves the REST API until SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/config.h"
#include "cmd/roles.h"
#include "common/clock.h"
#include "common/log.h"
#include "connect/connect_config.h"
#include "connect/rest.h"
#include "connect/worker.h"
#include "http/admin_http.h"
#include "http/security.h"
#include "connect/reconcile/reconcile.h"
#include "metrics/metrics.h"
#include "version.h"

/* Set by the signal handler (globals are allowed in src/cmd/). */
static volatile sig_atomic_t g_connect_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_connect_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus connect [--config FILE] [--set key=value]...\n\n"
                 "  --config FILE     YAML configuration (see config/connect.yaml, docs/connect.md)\n"
                 "  --set key=value   override one key, e.g. --set connect.rest_listen=127.0.0.1:18083\n"
                 "  --http-security FILE  TLS, tokens, CORS and rate limits of the REST API\n"
                 "                    (default: $STREAMBUS_HTTP_SECURITY; see docs/security.md#http-apis)\n"
                 "  --production      refuse unsafe settings (same as security.mode: production)\n"
                 "  --validate-config check the configuration and exit\n");
}

/* What /health/ready answers from, before and after the broker is first reached: the REST
 * server starts before the worker (which needs the broker) so that probes answer at once. */
typedef struct connect_app {
    pthread_mutex_t mu;
    connect_worker_t *w; /* NULL until the broker was reached */
    char bootstrap[512];
    char broker_error[512];
    int64_t broker_since_ms;
} connect_app_t;

static bool ready_body(void *arg, sb_wr_t *out)
{
    connect_app_t *app = arg;
    pthread_mutex_lock(&app->mu);
    connect_worker_t *w = app->w;
    json_t *body;
    if (w) {
        body = connect_worker_health(w);
    } else {
        json_t *b = connect_health_component("broker", "broker", "down", app->broker_error, app->broker_since_ms);
        json_object_set_new(b, "address", json_string(app->bootstrap));
        body = connect_health_body(json_pack("[o]", b));
    }
    pthread_mutex_unlock(&app->mu);
    bool ready = strcmp(json_string_value(json_object_get(body, "status")), "ready") == 0;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text) {
        sb_wr_bytes(out, text, strlen(text));
        sb_wr_bytes(out, "\n", 1);
    }
    free(text);
    return ready;
}

/* Whether some bootstrap address accepts a TCP connection within timeout_ms. Checked before
 * the worker's own (10-second) metadata wait, so that a broker that is simply not there costs
 * a refused connect and a SIGTERM meanwhile is served at once. */
static bool broker_accepts(const char *bootstrap, int timeout_ms, char *why, size_t cap)
{
    char list[512];
    snprintf(list, sizeof(list), "%s", bootstrap);
    char *save = NULL;
    snprintf(why, cap, "no address in \"%.400s\"", bootstrap);
    for (char *hp = strtok_r(list, ", ", &save); hp; hp = strtok_r(NULL, ", ", &save)) {
        char host[256];
        int port = 0;
        sb_err_t err = {0};
        if (sb_config_parse_hostport(hp, host, sizeof(host), &port, &err) < 0) {
            snprintf(why, cap, "%s", err.msg);
            continue;
        }
        char service[16];
        snprintf(service, sizeof(service), "%d", port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int gai = getaddrinfo(host, service, &hints, &ai);
        if (gai != 0) {
            snprintf(why, cap, "broker %s: %s", hp, gai_strerror(gai));
            continue;
        }
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) continue;
            int rc = connect(fd, a->ai_addr, a->ai_addrlen);
            int e = rc == 0 ? 0 : errno;
            if (e == EINPROGRESS) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                e = ETIMEDOUT;
                if (poll(&p, 1, timeout_ms) == 1) {
                    socklen_t len = sizeof(e);
                    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
                }
            }
            close(fd);
            if (e == 0) {
                freeaddrinfo(ai);
                return true;
            }
            snprintf(why, cap, "broker %s not reachable: %s", hp, strerror(e));
        }
        freeaddrinfo(ai);
    }
    return false;
}

int connect_main(int argc, char **argv)
{
    const char *config_path = NULL, *security_path = getenv("STREAMBUS_HTTP_SECURITY");
    bool validate_only = false, production = false;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"http-security", required_argument, NULL, 'S'}, {"production", no_argument, NULL, 'P'},
        {"validate-config", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
    int nsets = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 's': sets[nsets++] = optarg; break;
        case 'S': security_path = optarg; break;
        case 'P': production = true; break;
        case 'V': validate_only = true; break;
        case 'h': usage(stdout); free(sets); return 0;
        default: usage(stderr); free(sets); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "streambus connect: unexpected argument '%s'\n", argv[optind]);
        free(sets);
        return 2;
    }
    connect_config_t cfg;
    connect_config_defaults(&cfg);
    sb_err_t err = {0};
    int rc = config_path ? connect_config_load(&cfg, config_path, &err) : 0;
    for (int i = 0; rc == 0 && i < nsets; i++) {
        char key[256];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof(key)) {
            rc = sb_err_set(&err, SB_EINVAL, "--set %s: expected key=value", sets[i]);
            break;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - sets[i]), sets[i]);
        rc = connect_config_set(&cfg, key, eq + 1, &err);
    }
    free(sets);
    char host[256] = "";
    int port = 0;
    if (rc == 0 && cfg.rest_listen[0])
        rc = sb_config_parse_hostport(cfg.rest_listen, host, sizeof(host), &port, &err);
    http_security_config_t sec;
    http_security_defaults(&sec);
    if (rc == 0 && security_path && security_path[0]) rc = http_security_load(&sec, security_path, &err);
    if (production) sec.production = true;
    if (rc == 0 && cfg.rest_listen[0]) rc = http_security_check_listener(&sec, host, &err);
    if (rc < 0) {
        fprintf(stderr, "streambus connect: %s\n", err.msg);
        return 2;
    }
    if (validate_only) {
        printf("configuration is valid\n");
        return 0;
    }
    if (!cfg.worker.worker_id[0]) snprintf(cfg.worker.worker_id, sizeof(cfg.worker.worker_id), "%.127s", cfg.rest_listen);
    sb_log_setup(cfg.log_level, cfg.log_format);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    metrics_registry_t *reg = metrics_registry_new();
    cfg.worker.metrics = reg;
    connect_app_t app = {.broker_since_ms = sb_now_ms()};
    pthread_mutex_init(&app.mu, NULL);
    snprintf(app.bootstrap, sizeof(app.bootstrap), "%s", cfg.worker.bootstrap);
    /* Until the first attempt has an answer (the first metadata request may wait 10 s on a
     * port that accepts but does not answer), readiness still names the broker it waits for. */
    snprintf(app.broker_error, sizeof(app.broker_error), "broker %.400s not reached yet", cfg.worker.bootstrap);
    admin_http_t *http = NULL;
    http_security_server_t srv = {0};
    if (cfg.rest_listen[0]) {
        admin_http_hooks_t hooks = {.registry = reg, .ready_body = ready_body, .arg = &app};
        if (http_security_start(&sec, "connect REST", host, port, &hooks, "/auth", &srv, &err) == 0) {
            http = srv.http;
            connect_rest_add_auth_rules(srv.auth);
        }
        if (!http) {
            sb_error("connect", "REST API on %s: %s", cfg.rest_listen, err.msg);
            metrics_registry_free(reg);
            pthread_mutex_destroy(&app.mu);
            return 1;
        }
    }
    /* The broker may still be starting (e.g. under `streambus up`) or be down: wait for it,
     * answering health probes meanwhile (live, and not ready naming the broker). */
    connect_worker_t *w = NULL;
    bool warned = false;
    while (!g_connect_stop) {
        char why[512];
        if (broker_accepts(cfg.worker.bootstrap, 1000, why, sizeof(why))) {
            w = connect_worker_new(&cfg.worker, &err);
            if (w) break;
            snprintf(why, sizeof(why), "%.400s", err.msg);
        }
        pthread_mutex_lock(&app.mu);
        snprintf(app.broker_error, sizeof(app.broker_error), "%s", why);
        pthread_mutex_unlock(&app.mu);
        if (!warned) sb_warn("connect", "%s; retrying every second (GET /health/ready says why)", why);
        warned = true;
        for (int i = 0; i < 10 && !g_connect_stop; i++) usleep(100000);
    }
    if (!w) {
        http_security_stop(&srv);
        metrics_registry_free(reg);
        pthread_mutex_destroy(&app.mu);
        return 0;
    }
    if (warned) sb_info("connect", "broker %s reached", cfg.worker.bootstrap);
    pthread_mutex_lock(&app.mu);
    app.w = w;
    pthread_mutex_unlock(&app.mu);
    recon_service_t *recon = NULL;
    if (http) {
        if (connect_rest_register(http, w, &err) == 0) recon = recon_service_new(w, reg, &err);
        if (!recon || recon_rest_register(http, recon, &err) < 0) {
            sb_error("connect", "REST API on %s: %s", cfg.rest_listen, err.msg);
            http_security_stop(&srv);
            recon_service_free(recon);
            connect_worker_free(w);
            metrics_registry_free(reg);
            pthread_mutex_destroy(&app.mu);
            return 1;
        }
    }
    sb_info("connect", "streambus connect %s: REST API on %s://%s, broker %s", STREAMBUS_VERSION,
            http && admin_http_is_tls(http) ? "https" : "http", cfg.rest_listen,
            cfg.worker.bootstrap);
    /* Not pause(): SIGTERM may be handled by any thread that does not block it (libmicrohttpd's
     * per-connection threads, librdkafka's), and pause() returns only for a signal delivered to
     * this thread; the flag is set either way. */
    while (!g_connect_stop) usleep(100 * 1000);
    sb_info("connect", "stopping");
    http_security_stop(&srv);
    recon_service_free(recon);
    connect_worker_free(w);
    metrics_registry_free(reg);
    pthread_mutex_destroy(&app.mu);
    return 0;
}
