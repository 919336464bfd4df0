/* streambus up: the one-machine development stack (src/up/stack.c), supervised
 * (src/up/supervisor.c). This file only reads the command line and turns Ctrl-C, SIGTERM and
 * SIGHUP into a stop request. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/roles.h"
#include "up/stack.h"

/* Set by the signal handler (globals are allowed in src/cmd/). */
static volatile sig_atomic_t g_up_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_up_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: streambus up [--data-dir DIR] [--postgres CONNINFO] [--broker-port N] "
            "[--admin-port N]\n"
            "                    [--rest-port N] [--pg-port N] [--jobs-port N] [--no-demo]\n"
            "                    [--restart-backoff MS] [--crash-limit N] [--crash-window S] "
            "[--start-timeout S]\n\n"
            "Starts a local PostgreSQL (under DIR/postgres, unless --postgres is given), the "
            "broker, connect,\n"
            "the jobs API with one worker (and a demo job), and a demo pipeline demo.orders -> topic app.demo.orders -> target.orders. A child "
            "that exits is\n"
            "reported with the end of its log and restarted after a backoff (1 s, doubling up to "
            "30 s); one that\n"
            "exits --crash-limit times within --crash-window seconds stops the stack. Ctrl-C stops "
            "all.\n"
            "Defaults: --data-dir data, ports 9092 (Kafka), 8080 (broker admin), 8083 (connect), "
            "5433 (PostgreSQL), 8090 (jobs API),\n"
            "--restart-backoff 1000, --crash-limit 5, --crash-window 60, --start-timeout 60.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int up_main(int argc, char **argv)
{
    up_stack_opts_t o;
    up_stack_opts_default(&o);
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"postgres", required_argument, NULL, 'p'},
        {"broker-port", required_argument, NULL, 'b'},
        {"admin-port", required_argument, NULL, 'a'},
        {"rest-port", required_argument, NULL, 'r'},
        {"pg-port", required_argument, NULL, 'g'},
        {"jobs-port", required_argument, NULL, 'j'},
        {"no-demo", no_argument, NULL, 'n'},
        {"restart-backoff", required_argument, NULL, 'B'},
        {"crash-limit", required_argument, NULL, 'L'},
        {"crash-window", required_argument, NULL, 'W'},
        {"start-timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, idx = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
        long v = 0;
        int bad = 0;
        const char *what = "a port number";
        switch (opt) {
        case 'd':
            snprintf(o.data_dir, sizeof(o.data_dir), "%s", optarg);
            break;
        case 'p':
            snprintf(o.postgres, sizeof(o.postgres), "%s", optarg);
            break;
        case 'b':
            bad = parse_long(optarg, 1, 65535, &v), o.broker_port = (int)v;
            break;
        case 'a':
            bad = parse_long(optarg, 1, 65535, &v), o.broker_admin_port = (int)v;
            break;
        case 'r':
            bad = parse_long(optarg, 1, 65535, &v), o.rest_port = (int)v;
            break;
        case 'g':
            bad = parse_long(optarg, 1, 65535, &v), o.pg_port = (int)v;
            break;
        case 'j':
            bad = parse_long(optarg, 1, 65535, &v), o.jobs_port = (int)v;
            break;
        case 'n':
            o.demo = false;
            break;
        case 'B':
            what = "a delay in milliseconds (0..600000)";
            bad = parse_long(optarg, 0, 600000, &v);
            o.policy.backoff_initial_ms = v;
            if (o.policy.backoff_max_ms < v) o.policy.backoff_max_ms = v;
            break;
        case 'L':
            what = "a number of exits (1..64)";
            bad = parse_long(optarg, 1, 64, &v);
            o.policy.crash_limit = (int)v;
            break;
        case 'W':
            what = "a number of seconds (1..86400)";
            bad = parse_long(optarg, 1, 86400, &v);
            o.policy.crash_window_ms = v * 1000;
            break;
        case 'T':
            what = "a number of seconds (1..3600)";
            bad = parse_long(optarg, 1, 3600, &v);
            o.policy.start_timeout_ms = v * 1000;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "streambus up: --%s %s: not %s\n", longopts[idx].name, optarg, what);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "streambus up: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "streambus up: cannot find my own executable\n");
        return 1;
    }
    self[n] = '\0';

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return up_stack_run(&o, self, &g_up_stop);
}
