/* streambus jobs: the job orchestrator. `streambus jobs` serves the REST API and runs the
 * scheduler; `streambus jobs worker --id W` runs one worker; `streambus jobs hash-password`
 * prints a password hash for auth.users (the password is read from stdin). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/config.h"
#include "cmd/roles.h"
#include "common/log.h"
#include "http/admin_http.h"
#include "http/auth.h"
#include "http/security.h"
#include "jobs/api.h"
#include "jobs/dispatch.h"
#include "jobs/jobs_config.h"
#include "jobs/store.h"
#include "metrics/metrics.h"
#include "version.h"

/* Set by the signal handler (globals are allowed in src/cmd/). */
static volatile sig_atomic_t g_jobs_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_jobs_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus jobs [--config FILE] [--set key=value]...        API + scheduler\n"
                 "       streambus jobs worker --id ID [--config FILE] [--set k=v]... one worker\n"
                 "       streambus jobs hash-password < password                    Argon2id hash for auth.users\n\n"
                 "  --config FILE     YAML configuration (see config/jobs.yaml, docs/jobs.md)\n"
                 "  --http-security FILE  TLS, CORS, rate limits, token keys (docs/security.md#http-apis)\n"
                 "  --production      refuse to start with unsafe settings (same as security.mode: production)\n"
                 "  --set key=value   override one key, e.g. --set jobs.lease_ms=3000\n"
                 "  --validate-config check the configuration and exit\n");
}

static int hash_password(int argc, char **argv)
{
    /* --iterations N was PBKDF2's work factor; Argon2id's is fixed (interactive limits), and
     * the option is still accepted so that existing scripts keep working. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) i++;
        else {
            usage(stderr);
            return 2;
        }
    }
    char line[1024];
    if (!fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "streambus jobs hash-password: no password on stdin\n");
        return 2;
    }
    line[strcspn(line, "\r\n")] = 0;
    char out[200];
    if (http_auth_password_hash(line, out, sizeof(out)) < 0) {
        fprintf(stderr, "streambus jobs hash-password: hashing failed\n");
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

typedef struct jobs_app {
    jobs_scheduler_t *sched;
    jobs_store_t *store;
} jobs_app_t;

/* GET /health/ready: one entry per dependency, {"status":"UP"|"DOWN","components":{name:
 * {"status":..,"detail":..}}}; 200 only when all are up. */
static bool ready_body(void *arg, sb_wr_t *out)
{
    jobs_app_t *app = arg;
    sb_err_t err = {0};
    char sched[400] = "", broker[300] = "";
    bool pg = jobs_store_ping(app->store, &err) == 0;
    bool sc = jobs_scheduler_ready(app->sched, sched, sizeof(sched));
    bool br = jobs_scheduler_broker_ready(app->sched, broker, sizeof(broker));
    json_t *body = json_pack("{s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}}", "status",
                             pg && sc && br ? "UP" : "DOWN", "components", "postgres", "status", pg ? "UP" : "DOWN",
                             "detail", pg ? "" : err.msg, "scheduler", "status", sc ? "UP" : "DOWN", "detail", sched,
                             "broker", "status", br ? "UP" : "DOWN", "detail", broker);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text) sb_wr_bytes(out, text, strlen(text));
    free(text);
    json_decref(body);
    return pg && sc && br;
}

/* After a submit: a job may be due now, dispatch it without waiting for the next interval. */
static void kick_scheduler(void *sched)
{
    jobs_scheduler_kick(sched);
}

static void collect_metrics(void *arg, sb_wr_t *out)
{
    jobs_app_t *app = arg;
    sb_err_t err = {0};
    /* A scrape while PostgreSQL is away shows the job families missing; readiness says why. */
    if (jobs_store_metrics(app->store, out, &err) < 0) sb_debug("jobs", "metrics: %s", err.msg);
}

static bool ready(void *arg, char *detail, size_t cap)
{
    jobs_app_t *app = arg;
    sb_err_t err = {0};
    if (jobs_store_ping(app->store, &err) < 0) {
        snprintf(detail, cap, "postgres: %s", err.msg);
        return false;
    }
    char why[400];
    if (!jobs_scheduler_ready(app->sched, why, sizeof(why))) {
        snprintf(detail, cap, "scheduler: %s", why);
        return false;
    }
    return true;
}

int jobs_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "hash-password") == 0) return hash_password(argc - 1, argv + 1);
    bool worker = argc >= 2 && strcmp(argv[1], "worker") == 0;
    if (worker) {
        argc--;
        argv++;
    }
    const char *config_path = NULL, *worker_id = NULL, *security_path = NULL;
    bool validate_only = false, production = false;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"http-security", required_argument, NULL, 'S'}, {"production", no_argument, NULL, 'P'},
        {"id", required_argument, NULL, 'i'},     {"validate-config", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    jobs_config_t *cfg = calloc(1, sizeof(*cfg));
    jobs_config_defaults(cfg);
    const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
    int nsets = 0, opt, rc = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:i:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 's': sets[nsets++] = optarg; break;
        case 'i': worker_id = optarg; break;
        case 'S': security_path = optarg; break;
        case 'P': production = true; break;
        case 'V': validate_only = true; break;
        case 'h': usage(stdout); free(sets); free(cfg); return 0;
        default: usage(stderr); free(sets); free(cfg); return 2;
        }
    }
    sb_err_t err = {0};
    if (optind < argc) rc = sb_err_set(&err, SB_EINVAL, "unexpected argument '%s'", argv[optind]);
    if (rc == 0 && worker && (!worker_id || !worker_id[0])) rc = sb_err_set(&err, SB_EINVAL, "worker needs --id ID");
    if (rc == 0 && config_path) rc = jobs_config_load(cfg, config_path, &err);
    for (int i = 0; rc == 0 && i < nsets; i++) {
        char key[256];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof(key)) {
            rc = sb_err_set(&err, SB_EINVAL, "--set %s: expected key=value", sets[i]);
            break;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - sets[i]), sets[i]);
        rc = jobs_config_set(cfg, key, eq + 1, &err);
    }
    free(sets);
    char host[256] = "";
    int port = 0;
    if (rc == 0 && !worker && cfg->listen[0]) rc = sb_config_parse_hostport(cfg->listen, host, sizeof(host), &port, &err);
    /* The jobs API always requires tokens; its secret comes from the environment variable its
     * config names (or that variable's _FILE twin, or Vault when the security file says so), so
     * it is in no config file and no process listing. */
    http_security_config_t sec;
    http_security_defaults(&sec);
    if (rc == 0 && security_path) rc = http_security_load(&sec, security_path, &err);
    if (production) sec.production = true;
    sec.auth_enabled = true;
    if (strcmp(sec.jwt_secret_env, "STREAMBUS_JWT_SECRET") == 0)
        snprintf(sec.jwt_secret_env, sizeof(sec.jwt_secret_env), "%s", cfg->jwt_secret_env);
    sec.access_ttl_s = cfg->access_ttl_s;
    sec.refresh_ttl_s = cfg->refresh_ttl_s;
    if (rc < 0) {
        fprintf(stderr, "streambus jobs: %s\n", err.msg);
        free(cfg);
        return 2;
    }
    if (validate_only) {
        printf("configuration is valid\n");
        free(cfg);
        return 0;
    }
    sb_log_setup(cfg->log_level, cfg->log_format);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (worker) {
        rc = jobs_worker_run(cfg, worker_id, &g_jobs_stop, &err);
        if (rc < 0) sb_error("jobs.worker", "%s", err.msg);
        free(cfg);
        return rc < 0 ? 1 : 0;
    }
    jobs_app_t app = {0};
    jobs_api_t *api = NULL;
    http_security_server_t srv = {0};
    metrics_registry_t *registry = metrics_registry_new();
    admin_http_hooks_t hooks = {.registry = registry, .ready = ready, .ready_body = ready_body, .arg = &app};
    app.store = jobs_store_open_pool(cfg->postgres, (int)cfg->api_connections, &err);
    if (app.store) app.sched = jobs_scheduler_start(cfg, &err);
    if (registry && app.store) metrics_register_collector(registry, collect_metrics, &app);
    rc = app.sched ? http_security_start(&sec, "jobs", host, port, &hooks, "/api/v1/auth", &srv, &err) : SB_EIO;
    for (int i = 0; rc == 0 && i < cfg->nusers; i++) {
        http_role_t role = HTTP_ROLE_VIEWER;
        http_role_parse(cfg->users[i].role, &role);
        rc = http_auth_add_user(srv.auth, cfg->users[i].name, role, cfg->users[i].password_hash, &err);
    }
    if (rc == 0) rc = http_security_check_users(&sec, srv.auth, "auth.users", &err);
    if (rc == 0) api = jobs_api_new(cfg, app.store, srv.auth, &err);
    if (api) jobs_api_on_submit(api, kick_scheduler, app.sched);
    admin_http_t *http = srv.http;
    rc = 0;
    if (api && jobs_api_register(api, http, &err) == 0) {
        sb_info("jobs", "streambus jobs %s: API on %s://%s:%d/api/v1, topic %s, broker %s", STREAMBUS_VERSION,
                admin_http_is_tls(http) ? "https" : "http", host, admin_http_port(http), cfg->topic, cfg->bootstrap);
        /* Not pause(): SIGTERM may be handled by any thread that does not block it (libmicrohttpd's
     * per-connection threads, librdkafka's), and pause() returns only for a signal delivered to
     * this thread; the flag is set either way. */
    while (!g_jobs_stop) usleep(100 * 1000);
        sb_info("jobs", "stopping");
    } else {
        sb_error("jobs", "%s", err.msg);
        rc = 1;
    }
    admin_http_stop(srv.http);
    srv.http = NULL;
    if (registry && app.store) metrics_unregister_collector(registry, collect_metrics, &app);
    metrics_registry_free(registry);
    jobs_scheduler_stop(app.sched);
    jobs_api_free(api);
    jobs_store_free(app.store);
    http_security_stop(&srv);
    free(cfg);
    return rc;
}
