/* streambus connect: the connector runtime. Loads config/connect.yaml, connects to the broker,
 * resumes every stored connector and serves the REST API until SIGINT/SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/config.h"
#include "cmd/roles.h"
#include "common/clock.h"
#include "common/log.h"
#include "connect/connect_config.h"
#include "connect/rest.h"
#include "connect/worker.h"
#include "http/admin_http.h"
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
                 "  --validate-config check the configuration and exit\n");
}

static bool ready_probe(void *arg, char *detail, size_t cap)
{
    return connect_worker_ready(arg, detail, cap);
}

int connect_main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool validate_only = false;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
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
    /* The broker may still be starting (e.g. under `streambus up`): wait for it a while. */
    connect_worker_t *w = NULL;
    int64_t deadline = sb_mono_ms() + 60000;
    while (!g_connect_stop) {
        w = connect_worker_new(&cfg.worker, &err);
        if (w || sb_mono_ms() > deadline) break;
        sb_warn("connect", "%s; retrying", err.msg);
        sleep(1);
    }
    if (!w) {
        if (!g_connect_stop) sb_error("connect", "cannot start: %s", err.msg);
        metrics_registry_free(reg);
        return g_connect_stop ? 0 : 1;
    }
    admin_http_t *http = NULL;
    recon_service_t *recon = NULL;
    if (cfg.rest_listen[0]) {
        admin_http_hooks_t hooks = {.registry = reg, .ready = ready_probe, .arg = w};
        http = admin_http_start(host, port, &hooks, &err);
        if (http && connect_rest_register(http, w, &err) == 0) recon = recon_service_new(w, reg, &err);
        if (!http || !recon || recon_rest_register(http, recon, &err) < 0) {
            sb_error("connect", "REST API on %s: %s", cfg.rest_listen, err.msg);
            admin_http_stop(http);
            recon_service_free(recon);
            connect_worker_free(w);
            metrics_registry_free(reg);
            return 1;
        }
    }
    sb_info("connect", "streambus connect %s: REST API on http://%s, broker %s", STREAMBUS_VERSION, cfg.rest_listen,
            cfg.worker.bootstrap);
    while (!g_connect_stop) pause();
    sb_info("connect", "stopping");
    admin_http_stop(http);
    recon_service_free(recon);
    connect_worker_free(w);
    metrics_registry_free(reg);
    return 0;
}
