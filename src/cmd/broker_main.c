/* streambus broker: loads the YAML config, starts the admin HTTP server and runs the broker's
 * network loop on the main thread until SIGINT/SIGTERM. SIGHUP reloads the TLS certificates and
 * keys of every SSL/SASL_SSL listener and of the HTTPS admin server. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/config.h"
#include "broker/server.h"
#include "cmd/roles.h"
#include "common/log.h"
#include "http/admin_http.h"
#include "http/security.h"
#include "metrics/metrics.h"
#include "version.h"

/* The one broker of this process, for the signal handler (globals are allowed in src/cmd/). */
static broker_t *g_broker;
/* Its admin HTTP server, for SIGHUP (certificate reload). */
static http_security_server_t *g_admin_srv;

static void on_signal(int sig)
{
    if (!g_broker) return;
    if (sig == SIGHUP) {
        broker_request_tls_reload(g_broker);
        http_security_request_tls_reload(g_admin_srv);
    }
    else broker_stop(g_broker);
}

/* Copies a string into a fixed field, failing rather than cutting a path short. */
static int copy_field(char *dst, size_t cap, const char *src, const char *what, sb_err_t *err)
{
    if (!src) src = "";
    if (strlen(src) >= cap) return sb_err_set(err, SB_ERANGE, "%s is longer than %zu bytes", what, cap - 1);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int listener_from_config(const sb_listener_config_t *l, broker_listener_options_t *o, sb_err_t *err)
{
    int port, rc;
    if ((rc = copy_field(o->name, sizeof(o->name), l->name, "listener name", err)) < 0) return rc;
    if ((rc = sb_config_parse_hostport(l->address, o->host, sizeof(o->host), &port, err)) < 0) return rc;
    o->port = port;
    if (l->advertised) {
        if ((rc = sb_config_listener_advertised(l, o->advertised_host, sizeof(o->advertised_host), &port, err)) < 0)
            return rc;
        o->advertised_port = port;
    }
    o->protocol = (net_security_protocol_t)l->protocol;
    o->client_auth = (net_tls_client_auth_t)l->client_auth;
    if ((rc = copy_field(o->tls_cert, sizeof(o->tls_cert), l->tls_cert, "tls.cert", err)) < 0 ||
        (rc = copy_field(o->tls_key, sizeof(o->tls_key), l->tls_key, "tls.key", err)) < 0 ||
        (rc = copy_field(o->tls_ca, sizeof(o->tls_ca), l->tls_ca, "tls.ca", err)) < 0 ||
        (rc = copy_field(o->sasl_mechanisms, sizeof(o->sasl_mechanisms), l->sasl_mechanisms, "sasl_mechanisms",
                         err)) < 0)
        return rc;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus broker [--config FILE] [--set key=value]... [--validate-config] [--print-config]\n\n"
                 "  --config FILE       YAML configuration (default: built-in defaults; see docs/configuration.md)\n"
                 "  --set key=value     override one key, e.g. --set broker.listen=0.0.0.0:9092\n"
                 "  --validate-config   check the configuration and exit (0 = valid)\n"
                 "  --print-config      print the effective configuration as YAML and exit\n"
                 "  --http-security FILE  TLS, tokens, CORS and rate limits of the admin HTTP server\n"
                 "                      (default: $STREAMBUS_HTTP_SECURITY; see docs/security.md#http-apis)\n"
                 "  --production        refuse unsafe settings (same as security.mode: production)\n"
                 "  --version           print the version\n");
}

static bool ready_probe(void *arg, char *detail, size_t cap)
{
    broker_t *b = arg;
    if (broker_ready(b)) return true;
    snprintf(detail, cap, "broker is starting");
    return false;
}

/* Copies the config into the broker's own options. */
static int options_from_config(const sb_config_t *c, broker_options_t *o, sb_err_t *err)
{
    broker_options_defaults(o);
    int port;
    int rc = sb_config_parse_hostport(c->broker.listen, o->listen_host, sizeof(o->listen_host), &port, err);
    if (rc < 0) return rc;
    o->listen_port = port;
    if (c->broker.advertised_listener && c->broker.advertised_listener[0]) {
        rc = sb_config_advertised(c, o->advertised_host, sizeof(o->advertised_host), &port, err);
        if (rc < 0) return rc;
        o->advertised_port = port;
    }
    o->node_id = (int32_t)c->broker.node_id;
    snprintf(o->data_dir, sizeof(o->data_dir), "%s", c->broker.data_dir);
    o->auto_create_topics = c->broker.auto_create_topics;
    o->default_partitions = (int32_t)c->broker.default_partitions;
    o->max_partitions_per_topic = (int32_t)c->broker.max_partitions_per_topic;
    o->max_request_bytes = c->broker.max_request_bytes;
    o->max_connections = (int32_t)c->broker.max_connections;
    o->idle_connection_timeout_ms = c->broker.idle_connection_timeout_ms;
    o->segment_bytes = (uint64_t)c->log.segment_bytes;
    o->index_interval_bytes = (uint32_t)c->log.index_interval_bytes;
    o->retention_ms = c->log.retention_ms;
    o->retention_bytes = c->log.retention_bytes;
    o->retention_check_interval_ms = c->log.retention_check_interval_ms;
    o->flush_interval_ms = c->log.flush_interval_ms;
    o->group_initial_rebalance_delay_ms = c->groups.initial_rebalance_delay_ms;
    o->group_session_timeout_min_ms = c->groups.session_timeout_min_ms;
    o->group_session_timeout_max_ms = c->groups.session_timeout_max_ms;
    o->offsets_retention_ms = c->groups.offsets_retention_ms;
    o->authorizer_enabled = c->authorizer.enabled;
    o->allow_everyone_if_no_acl_found = c->authorizer.allow_everyone_if_no_acl_found;
    o->audit_allowed = c->authorizer.audit_allowed;
    if (snprintf(o->super_users, sizeof(o->super_users), "%s", c->authorizer.super_users) >= (int)sizeof(o->super_users))
        return sb_err_set(err, SB_EINVAL, "authorizer.super_users is longer than %zu bytes", sizeof(o->super_users) - 1);
    if (snprintf(o->audit_log, sizeof(o->audit_log), "%s", c->authorizer.audit_log) >= (int)sizeof(o->audit_log))
        return sb_err_set(err, SB_EINVAL, "authorizer.audit_log is longer than %zu bytes", sizeof(o->audit_log) - 1);
    snprintf(o->sasl_mechanisms, sizeof(o->sasl_mechanisms), "%s", c->sasl.enabled_mechanisms);
    o->sasl_plain_without_tls = c->sasl.plain_without_tls;
    o->sasl_reauth_ms = c->sasl.connections_max_reauth_ms;
    snprintf(o->sasl_oauthbearer_secret_file, sizeof(o->sasl_oauthbearer_secret_file), "%s",
             c->sasl.oauthbearer_secret_file);
    if (snprintf(o->sasl_oauthbearer_audience, sizeof(o->sasl_oauthbearer_audience), "%s",
                 c->sasl.oauthbearer_expected_audience) >= (int)sizeof(o->sasl_oauthbearer_audience))
        return sb_err_set(err, SB_EINVAL, "sasl.oauthbearer_expected_audience is longer than %zu bytes",
                          sizeof(o->sasl_oauthbearer_audience) - 1);
    if (snprintf(o->sasl_oauthbearer_issuer, sizeof(o->sasl_oauthbearer_issuer), "%s",
                 c->sasl.oauthbearer_expected_issuer) >= (int)sizeof(o->sasl_oauthbearer_issuer))
        return sb_err_set(err, SB_EINVAL, "sasl.oauthbearer_expected_issuer is longer than %zu bytes",
                          sizeof(o->sasl_oauthbearer_issuer) - 1);
    o->sasl_max_failures = (int32_t)c->sasl.max_failed_authentications;
    o->sasl_failure_window_ms = c->sasl.failed_authentication_window_ms;
    o->sasl_failure_delay_ms = c->sasl.failed_authentication_delay_ms;
    if (c->broker.listeners.n > BROKER_MAX_LISTENERS)
        return sb_err_set(err, SB_ELIMIT, "broker.listeners: at most %d listeners", BROKER_MAX_LISTENERS);
    for (size_t i = 0; i < c->broker.listeners.n; i++) {
        if ((rc = listener_from_config(&c->broker.listeners.items[i], &o->listeners[i], err)) < 0) {
            sb_err_t inner = *err;
            return sb_err_set(err, rc, "broker.listeners[%zu]: %s", i, inner.msg);
        }
    }
    o->nlisteners = (int)c->broker.listeners.n;
    return 0;
}

int broker_main(int argc, char **argv)
{
    const char *config_path = NULL, *security_path = getenv("STREAMBUS_HTTP_SECURITY");
    bool validate_only = false, print_config = false, production = false;
    enum { OPT_VALIDATE = 1000, OPT_PRINT, OPT_VERSION, OPT_SECURITY, OPT_PRODUCTION };
    static const struct option longopts[] = {
        {"http-security", required_argument, NULL, OPT_SECURITY}, {"production", no_argument, NULL, OPT_PRODUCTION},
        {"config", required_argument, NULL, 'c'},       {"set", required_argument, NULL, 's'},
        {"validate-config", no_argument, NULL, OPT_VALIDATE}, {"print-config", no_argument, NULL, OPT_PRINT},
        {"version", no_argument, NULL, OPT_VERSION},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Overrides are applied after the file, so collect them first. */
    const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
    int nsets = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 's': sets[nsets++] = optarg; break;
        case OPT_VALIDATE: validate_only = true; break;
        case OPT_PRINT: print_config = true; break;
        case OPT_SECURITY: security_path = optarg; break;
        case OPT_PRODUCTION: production = true; break;
        case OPT_VERSION: printf("streambus %s\n", STREAMBUS_VERSION); free(sets); return 0;
        case 'h': usage(stdout); free(sets); return 0;
        default: usage(stderr); free(sets); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "streambus broker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        free(sets);
        return 2;
    }

    sb_config_t cfg;
    sb_err_t err = {0};
    int rc = 0;
    /* sb_config_load starts from the defaults itself. */
    if (config_path) rc = sb_config_load(&cfg, config_path, &err);
    else sb_config_defaults(&cfg);
    for (int i = 0; rc == 0 && i < nsets; i++) {
        char key[256];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof(key)) {
            rc = sb_err_set(&err, SB_EINVAL, "--set %s: expected key=value", sets[i]);
            break;
        }
        memcpy(key, sets[i], (size_t)(eq - sets[i]));
        key[eq - sets[i]] = 0;
        rc = sb_config_set(&cfg, key, eq + 1, &err);
    }
    free(sets);
    if (rc == 0) rc = sb_config_validate(&cfg, &err);
    http_security_config_t sec;
    http_security_defaults(&sec);
    if (rc == 0 && security_path && security_path[0]) rc = http_security_load(&sec, security_path, &err);
    if (production) sec.production = true;
    broker_options_t bo;
    if (rc == 0) rc = options_from_config(&cfg, &bo, &err);
    if (rc == 0 && sec.production) rc = broker_options_check_production(&bo, &err);
    if (rc < 0) {
        fprintf(stderr, "streambus broker: invalid configuration: %s\n", err.msg);
        sb_config_deinit(&cfg);
        return 1;
    }
    /* What start-up reads besides the config: certificates and keys. */
    if (validate_only && (rc = broker_options_check_tls_files(&bo, &err)) == 0)
        rc = http_security_check_tls_files(&sec, &err);
    if (rc < 0) {
        fprintf(stderr, "streambus broker: invalid configuration: %s\n", err.msg);
        sb_config_deinit(&cfg);
        return 1;
    }
    if (validate_only) {
        printf("configuration OK%s%s\n", config_path ? ": " : " (defaults)", config_path ? config_path : "");
        sb_config_deinit(&cfg);
        return 0;
    }
    if (print_config) {
        sb_config_write_values(&cfg, stdout);
        sb_config_deinit(&cfg);
        return 0;
    }
    sb_log_setup(cfg.logging.level, cfg.logging.format);
    sb_info("broker", "streambus %s starting (config %s)", STREAMBUS_VERSION, config_path ? config_path : "defaults");

    signal(SIGPIPE, SIG_IGN);
    metrics_registry_t *reg = metrics_registry_new();
    broker_t *b = NULL;
    if ((rc = broker_new(&bo, reg, &b, &err)) < 0) {
        sb_error("broker", "cannot start: %s", err.msg);
        fprintf(stderr, "streambus broker: cannot start: %s\n", err.msg);
        metrics_registry_free(reg);
        sb_config_deinit(&cfg);
        return 1;
    }
    admin_http_t *admin = NULL;
    http_security_server_t srv = {0};
    if (cfg.admin.listen && cfg.admin.listen[0]) {
        char host[256];
        int port;
        admin_http_hooks_t hooks = {.registry = reg, .ready = ready_probe, .arg = b};
        if (sb_config_parse_hostport(cfg.admin.listen, host, sizeof(host), &port, &err) < 0 ||
            http_security_start(&sec, "broker admin", host, port, &hooks, "/auth", &srv, &err) < 0) {
            sb_error("admin", "cannot start admin HTTP on %s: %s", cfg.admin.listen, err.msg);
            fprintf(stderr, "streambus broker: cannot start admin HTTP on %s: %s\n", cfg.admin.listen, err.msg);
            broker_free(b);
            metrics_registry_free(reg);
            sb_config_deinit(&cfg);
            return 1;
        }
        admin = srv.http;
        sb_info("admin", "admin HTTP on %s://%s:%d (/health/live, /health/ready, /metrics)",
                admin_http_is_tls(admin) ? "https" : "http", host, admin_http_port(admin));
    }
    g_admin_srv = &srv;
    g_broker = b;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    printf("StreamBus broker %s is up.\n"
           "  Kafka clients: %s:%d    admin: %s\n"
           "  try:  kcat -b 127.0.0.1:%d -L\n"
           "        echo hello | kcat -b 127.0.0.1:%d -t demo -P && kcat -b 127.0.0.1:%d -t demo -C -e\n"
           "  stop with Ctrl-C\n",
           STREAMBUS_VERSION, broker_advertised_host(b), broker_port(b),
           admin ? cfg.admin.listen : "disabled", broker_port(b), broker_port(b), broker_port(b));
    fflush(stdout);

    rc = broker_run(b);
    g_broker = NULL;
    g_admin_srv = NULL;
    http_security_stop(&srv);
    broker_free(b);
    metrics_registry_free(reg);
    sb_config_deinit(&cfg);
    sb_info("broker", "stopped");
    return rc < 0 ? 1 : 0;
}
