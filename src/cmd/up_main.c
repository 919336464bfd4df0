/* streambus up: the one-machine development stack. Starts, as child processes of this same
 * binary, the broker and the connect runtime; starts a local PostgreSQL under the data
 * directory (unless --postgres names one); creates a demo source table with a little traffic
 * and a demo pipeline (postgres-source -> broker -> postgres-sink) a newcomer can watch; prints
 * where to look; stays in the foreground until Ctrl-C and then stops everything it started,
 * in reverse order. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/roles.h"
#include "common/clock.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"

/* Set by the signal handler (globals are allowed in src/cmd/). */
static volatile sig_atomic_t g_up_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_up_stop = 1;
}

typedef struct up_opts {
    char data_dir[PATH_MAX];
    char postgres[1024]; /* "" = start our own */
    int broker_port, broker_admin_port, rest_port, pg_port;
    bool demo;
} up_opts_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus up [--data-dir DIR] [--postgres CONNINFO] [--broker-port N] [--admin-port N]\n"
                 "                    [--rest-port N] [--pg-port N] [--no-demo]\n\n"
                 "Starts the broker, connect, a local PostgreSQL (under DIR/postgres, unless --postgres is given)\n"
                 "and a demo pipeline demo.orders -> topic app.demo.orders -> target.orders. Ctrl-C stops all.\n"
                 "Defaults: --data-dir data, ports 9092 (Kafka), 8080 (broker admin), 8083 (connect), 5433 (PostgreSQL).\n");
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("[up] ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

/* Runs argv (optionally as the postgres user when we are root, since PostgreSQL refuses to
 * run as root), with output appended to log_path. Returns the exit status, -1 if it could not
 * run. */
static int run_cmd(char *const argv[], bool as_postgres, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (as_postgres && geteuid() == 0) {
            char *args[64] = {"runuser", "-u", "postgres", "--"};
            int n = 4;
            for (int i = 0; argv[i] && n < 63; i++) args[n++] = argv[i];
            args[n] = NULL;
            execvp("runuser", args);
        } else {
            execvp(argv[0], argv);
        }
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts `self role --config path` with output to log_path; returns the pid. */
static pid_t spawn_role(const char *self, const char *role, const char *config, const char *log_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* Its own process group: Ctrl-C reaches only us, and we stop children in order. */
        setpgid(0, 0);
        execl(self, self, role, "--config", config, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Whether port can be bound on 127.0.0.1 now (SO_REUSEADDR, as the servers bind), with why
 * not in *why_errno. */
static bool port_free(int port, int *why_errno)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why_errno = errno;
        return false;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    *why_errno = ok ? 0 : errno;
    close(fd);
    return ok;
}

/* The HTTP status of a GET (0 when nothing answered). */
static long http_status(const char *url)
{
    CURL *h = curl_easy_init();
    if (!h) return 0;
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (sink) fclose(sink);
    curl_easy_cleanup(h);
    return status;
}

/* Prints the last lines of a child's log, so that the reason it stopped is on the screen. */
static void print_log_tail(const char *log_path, int lines)
{
    FILE *f = fopen(log_path, "r");
    if (!f) return;
    char *ring[64] = {0};
    if (lines > 64) lines = 64;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        free(ring[n % (size_t)lines]);
        ring[n % (size_t)lines] = strdup(line);
        n++;
    }
    free(line);
    fclose(f);
    fprintf(stderr, "--- last lines of %s ---\n", log_path);
    size_t first = n > (size_t)lines ? n - (size_t)lines : 0;
    for (size_t i = first; i < n; i++) fputs(ring[i % (size_t)lines] ? ring[i % (size_t)lines] : "", stderr);
    fprintf(stderr, "---\n");
    for (int i = 0; i < lines; i++) free(ring[i]);
}

/* Waits until our own child answers url with 200 (and, when port > 0, accepts on port).
 * A port answering while our child has exited is someone else's, so the child is checked
 * first. On failure *child_exited tells whether the child is gone (and reaped). */
static bool wait_child_up(pid_t child, const char *url, int port, int seconds, bool *child_exited)
{
    *child_exited = false;
    for (int i = 0; i < seconds * 10 && !g_up_stop; i++) {
        if (waitpid(child, NULL, WNOHANG) == child) {
            *child_exited = true;
            return false;
        }
        if ((port <= 0 || port_open(port)) && http_status(url) == 200) {
            /* Still ours: it did not exit while we asked. */
            if (waitpid(child, NULL, WNOHANG) == child) {
                *child_exited = true;
                return false;
            }
            return true;
        }
        usleep(100000);
    }
    return false;
}

static void stop_child(pid_t pid, const char *what)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            say("%s stopped", what);
            return;
        }
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    say("%s killed after 30 s", what);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Makes every parent of path traversable, so the postgres user can reach a data directory
 * under root's home or a 0700 temp dir. */
static void open_parents_for_postgres(const char *path)
{
    char buf[PATH_MAX];
    if (!realpath(path, buf)) return;
    for (char *slash = strrchr(buf, '/'); slash && slash != buf; slash = strrchr(buf, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(buf, &st) == 0) chmod(buf, st.st_mode | S_IXOTH);
    }
}

static int start_postgres(const up_opts_t *o, char *conninfo, size_t cap, bool *started)
{
    char pgdata[PATH_MAX + 16], log[PATH_MAX + 32], port[16];
    snprintf(pgdata, sizeof(pgdata), "%s/postgres", o->data_dir);
    snprintf(log, sizeof(log), "%s/postgres.log", o->data_dir);
    snprintf(port, sizeof(port), "%d", o->pg_port);
    char version_file[PATH_MAX + 32];
    snprintf(version_file, sizeof(version_file), "%s/PG_VERSION", pgdata);
    if (access(PG_BIN "/initdb", X_OK) != 0) {
        fprintf(stderr, "streambus up: PostgreSQL 15 is not installed (%s/initdb); run scripts/install-deps.sh run,\n"
                        "or pass --postgres CONNINFO\n", PG_BIN);
        return -1;
    }
    mkdir(pgdata, 0700);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "streambus up: running as root needs the postgres user (from the postgresql package)\n");
            return -1;
        }
        if (chown(pgdata, pw->pw_uid, pw->pw_gid) != 0) return -1;
        open_parents_for_postgres(pgdata);
        /* The server log lives beside the data; postgres must be able to write it. */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            if (fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {}
            close(fd);
        }
    }
    if (access(version_file, F_OK) != 0) {
        say("initialising PostgreSQL in %s", pgdata);
        char *initdb[] = {PG_BIN "/initdb", "-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                          "--locale=C.UTF-8", NULL};
        if (run_cmd(initdb, true, log) != 0) {
            fprintf(stderr, "streambus up: initdb failed; see %s\n", log);
            return -1;
        }
        char conf[PATH_MAX + 64], text[PATH_MAX + 512];
        snprintf(conf, sizeof(conf), "%s/postgresql.auto.conf", pgdata);
        snprintf(text, sizeof(text),
                 /* TCP only: a Unix socket under a long data path would exceed the 107-byte
                  * limit and stop the server from starting. */
                 "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nwal_level = logical\n"
                 "max_replication_slots = 10\nmax_wal_senders = 10\n");
        FILE *f = fopen(conf, "a");
        if (!f) return -1;
        fputs(text, f);
        fclose(f);
        snprintf(conf, sizeof(conf), "%s/pg_hba.conf", pgdata);
        f = fopen(conf, "a");
        if (!f) return -1;
        fputs("host replication all 127.0.0.1/32 trust\n", f);
        fclose(f);
    }
    char opts[64];
    snprintf(opts, sizeof(opts), "-p %s", port);
    char *start[] = {PG_BIN "/pg_ctl", "-D", pgdata, "-l", log, "-o", opts, "-w", "-t", "60", "start", NULL};
    if (run_cmd(start, true, log) != 0) {
        fprintf(stderr, "streambus up: PostgreSQL did not start; see %s\n", log);
        return -1;
    }
    *started = true;
    snprintf(conninfo, cap, "host=127.0.0.1 port=%d user=postgres dbname=postgres", o->pg_port);
    return 0;
}

static void stop_postgres(const up_opts_t *o)
{
    char pgdata[PATH_MAX + 16], log[PATH_MAX + 32];
    snprintf(pgdata, sizeof(pgdata), "%s/postgres", o->data_dir);
    snprintf(log, sizeof(log), "%s/postgres.log", o->data_dir);
    char *stop[] = {PG_BIN "/pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop", NULL};
    run_cmd(stop, true, log);
    say("PostgreSQL stopped");
}

static int psql(const char *conninfo, const char *sql, const char *log)
{
    char *argv[] = {PG_BIN "/psql", (char *)conninfo, "-v", "ON_ERROR_STOP=1", "-q", "-c", (char *)sql, NULL};
    return run_cmd(argv, false, log);
}

static const char *DEMO_SCHEMA_SQL =
    "CREATE SCHEMA IF NOT EXISTS demo;"
    "CREATE SCHEMA IF NOT EXISTS target;"
    "CREATE TABLE IF NOT EXISTS demo.orders (id serial PRIMARY KEY, customer text NOT NULL,"
    " amount numeric(10,2) NOT NULL, status text NOT NULL DEFAULT 'new',"
    " updated_at timestamptz NOT NULL DEFAULT now());"
    "INSERT INTO demo.orders (customer, amount) SELECT 'customer-' || g, (g * 7.5)::numeric(10,2)"
    " FROM generate_series(1, 5) g WHERE NOT EXISTS (SELECT 1 FROM demo.orders);";

/* One tick of demo traffic: a new order, and a status change of a random one. */
static const char *DEMO_TICK_SQL =
    "INSERT INTO demo.orders (customer, amount) VALUES ('customer-' || (floor(random() * 1000))::int,"
    " round((random() * 100)::numeric, 2));"
    "UPDATE demo.orders SET status = (ARRAY['new','paid','shipped'])[1 + floor(random() * 3)::int],"
    " updated_at = now() WHERE id = (SELECT id FROM demo.orders ORDER BY random() LIMIT 1);\n";

/* PUT /connectors/{name}/config; returns the HTTP status (0 = unreachable). */
static long put_connector(int rest_port, const char *name, const char *json_body, char *answer, size_t cap)
{
    CURL *h = curl_easy_init();
    if (!h) return 0;
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/connectors/%s/config", rest_port, name);
    FILE *mem = fmemopen(answer, cap, "w");
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (mem) fclose(mem);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return status;
}

static bool create_demo_pipeline(const up_opts_t *o, const char *conninfo)
{
    char body[2048], answer[4096] = "";
    snprintf(body, sizeof(body),
             "{\"connector.class\":\"postgres-source\",\"database.conninfo\":\"%s\",\"topic.prefix\":\"app\","
             "\"table.include.list\":\"demo.orders\",\"slot.name\":\"streambus_demo\",\"snapshot.mode\":\"initial\"}",
             conninfo);
    long st = put_connector(o->rest_port, "demo-orders-source", body, answer, sizeof(answer) - 1);
    if (st != 200 && st != 201) {
        say("demo source not created (HTTP %ld): %s", st, answer);
        if (strstr(answer, "connector.class"))
            say("this build has no postgres-source connector yet; broker and connect run without the demo pipeline");
        return false;
    }
    snprintf(body, sizeof(body),
             "{\"connector.class\":\"postgres-sink\",\"connection.conninfo\":\"%s\",\"topics\":\"app.demo.orders\","
             "\"target.schema\":\"target\"}",
             conninfo);
    memset(answer, 0, sizeof(answer));
    st = put_connector(o->rest_port, "demo-orders-sink", body, answer, sizeof(answer) - 1);
    if (st != 200 && st != 201) {
        say("demo sink not created (HTTP %ld): %s", st, answer);
        return false;
    }
    return true;
}

/* A psql child fed SQL through a pipe: the demo's traffic generator. */
static pid_t start_traffic(const char *conninfo, const char *log, FILE **in)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execl(PG_BIN "/psql", "psql", conninfo, "-q", (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    *in = fdopen(fds[1], "w");
    return pid;
}

static int parse_port(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 65535) return -1;
    *out = (int)v;
    return 0;
}

int up_main(int argc, char **argv)
{
    up_opts_t o = {.broker_port = 9092, .broker_admin_port = 8080, .rest_port = 8083, .pg_port = 5433, .demo = true};
    snprintf(o.data_dir, sizeof(o.data_dir), "data");
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},   {"postgres", required_argument, NULL, 'p'},
        {"broker-port", required_argument, NULL, 'b'}, {"admin-port", required_argument, NULL, 'a'},
        {"rest-port", required_argument, NULL, 'r'},  {"pg-port", required_argument, NULL, 'g'},
        {"no-demo", no_argument, NULL, 'n'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'd': snprintf(o.data_dir, sizeof(o.data_dir), "%s", optarg); break;
        case 'p': snprintf(o.postgres, sizeof(o.postgres), "%s", optarg); break;
        case 'b': bad = parse_port(optarg, &o.broker_port); break;
        case 'a': bad = parse_port(optarg, &o.broker_admin_port); break;
        case 'r': bad = parse_port(optarg, &o.rest_port); break;
        case 'g': bad = parse_port(optarg, &o.pg_port); break;
        case 'n': o.demo = false; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "streambus up: %s is not a port number\n", optarg);
            return 2;
        }
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "streambus up: cannot find my own executable\n");
        return 1;
    }
    self[n] = '\0';
    if (mkdir(o.data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "streambus up: cannot create %s: %s\n", o.data_dir, strerror(errno));
        return 1;
    }
    char abs_dir[PATH_MAX];
    if (!realpath(o.data_dir, abs_dir)) return 1;
    snprintf(o.data_dir, sizeof(o.data_dir), "%s", abs_dir);

    /* Every port must be free before anything starts: a broker failing to bind while a
     * foreign one answers on its port would have connect join that other cluster. */
    struct {
        int port;
        const char *flag;
        bool used;
    } ports[] = {{o.broker_port, "--broker-port", true},
                 {o.broker_admin_port, "--admin-port", true},
                 {o.rest_port, "--rest-port", true},
                 {o.pg_port, "--pg-port", !o.postgres[0]}};
    int nports = (int)(sizeof(ports) / sizeof(ports[0]));
    for (int i = 0; i < nports; i++) {
        if (!ports[i].used) continue;
        for (int k = 0; k < i; k++) {
            if (ports[k].used && ports[k].port == ports[i].port) {
                fprintf(stderr, "streambus up: %s and %s are both %d; give each its own port\n", ports[k].flag,
                        ports[i].flag, ports[i].port);
                return 1;
            }
        }
        int e = 0;
        if (!port_free(ports[i].port, &e)) {
            fprintf(stderr,
                    "streambus up: port %d (%s) on 127.0.0.1 is not free: %s.\n"
                    "  Is another StreamBus or service running? Stop it, or pick another port with %s N.\n",
                    ports[i].port, ports[i].flag, strerror(e), ports[i].flag);
            return 1;
        }
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char path[PATH_MAX + 64], log[PATH_MAX + 64], text[2 * PATH_MAX], url[256];
    char broker_log[PATH_MAX + 64], connect_log[PATH_MAX + 64];
    bool exited = false;
    int rc = 1;
    pid_t broker = -1, connect = -1, traffic = -1;
    FILE *traffic_in = NULL;
    bool pg_started = false;
    char conninfo[1024] = "";

    /* 1. broker */
    snprintf(path, sizeof(path), "%s/broker.yaml", o.data_dir);
    snprintf(text, sizeof(text),
             "broker:\n  listen: \"127.0.0.1:%d\"\n  data_dir: \"%s/broker\"\nadmin:\n  listen: \"127.0.0.1:%d\"\n"
             "logging:\n  level: info\n",
             o.broker_port, o.data_dir, o.broker_admin_port);
    write_file(path, text);
    snprintf(broker_log, sizeof(broker_log), "%s/broker.log", o.data_dir);
    say("starting the broker on 127.0.0.1:%d (log %s)", o.broker_port, broker_log);
    broker = spawn_role(self, "broker", path, broker_log);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health/ready", o.broker_admin_port);
    if (!wait_child_up(broker, url, o.broker_port, 30, &exited)) {
        if (g_up_stop) goto out;
        fprintf(stderr, "streambus up: the broker %s\n", exited ? "exited while starting" : "did not start within 30 s");
        print_log_tail(broker_log, 15);
        if (exited) broker = -1;
        goto out;
    }

    /* 2. PostgreSQL */
    if (o.postgres[0]) {
        snprintf(conninfo, sizeof(conninfo), "%s", o.postgres);
    } else {
        say("starting PostgreSQL on 127.0.0.1:%d", o.pg_port);
        if (start_postgres(&o, conninfo, sizeof(conninfo), &pg_started) < 0) goto out;
    }
    snprintf(log, sizeof(log), "%s/demo.log", o.data_dir);
    if (o.demo && psql(conninfo, DEMO_SCHEMA_SQL, log) != 0) {
        fprintf(stderr, "streambus up: creating the demo table failed; see %s\n", log);
        goto out;
    }

    /* 3. connect */
    snprintf(path, sizeof(path), "%s/connect.yaml", o.data_dir);
    snprintf(text, sizeof(text),
             "connect:\n  bootstrap_servers: \"127.0.0.1:%d\"\n  rest_listen: \"127.0.0.1:%d\"\nlogging:\n  level: info\n",
             o.broker_port, o.rest_port);
    write_file(path, text);
    snprintf(connect_log, sizeof(connect_log), "%s/connect.log", o.data_dir);
    say("starting connect, REST API on 127.0.0.1:%d (log %s)", o.rest_port, connect_log);
    connect = spawn_role(self, "connect", path, connect_log);
    /* GET /connectors answers once connect has reached the broker (its health probes answer
     * earlier). */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/connectors", o.rest_port);
    if (!wait_child_up(connect, url, 0, 60, &exited)) {
        if (g_up_stop) goto out;
        fprintf(stderr, "streambus up: connect %s\n", exited ? "exited while starting" : "did not start within 60 s");
        print_log_tail(connect_log, 15);
        if (exited) connect = -1;
        goto out;
    }

    /* 4. demo pipeline and traffic */
    bool pipeline = o.demo && create_demo_pipeline(&o, conninfo);
    if (o.demo) {
        snprintf(log, sizeof(log), "%s/demo.log", o.data_dir);
        traffic = start_traffic(conninfo, log, &traffic_in);
    }
    /* Announced only while both children are still ours and alive. */
    if (waitpid(broker, NULL, WNOHANG) == broker || waitpid(connect, NULL, WNOHANG) == connect) {
        bool broker_gone = kill(broker, 0) != 0;
        fprintf(stderr, "streambus up: %s exited while starting\n", broker_gone ? "the broker" : "connect");
        print_log_tail(broker_gone ? broker_log : connect_log, 15);
        if (broker_gone) broker = -1;
        else connect = -1;
        goto out;
    }

    printf("\n"
           "  StreamBus is up. Ctrl-C stops everything.\n\n"
           "  Kafka bootstrap   127.0.0.1:%d        kcat -b 127.0.0.1:%d -L\n"
           "  Broker admin      http://127.0.0.1:%d/metrics\n"
           "  Connect REST      http://127.0.0.1:%d/connectors      %s ctl connector list --url http://127.0.0.1:%d\n"
           "  PostgreSQL        psql \"%s\"\n",
           o.broker_port, o.broker_port, o.broker_admin_port, o.rest_port, self, o.rest_port, conninfo);
    if (pipeline)
        printf("\n  Demo pipeline     demo.orders -> topic app.demo.orders -> target.orders (a change every second)\n"
               "    watch events    kcat -b 127.0.0.1:%d -t app.demo.orders -C -o beginning\n"
               "    compare counts  psql \"%s\" -c 'SELECT count(*) FROM demo.orders' -c 'SELECT count(*) FROM target.orders'\n"
               "    status          curl -s http://127.0.0.1:%d/connectors/demo-orders-sink/status\n",
               o.broker_port, conninfo, o.rest_port);
    printf("\n  Logs and data in %s\n\n", o.data_dir);
    fflush(stdout);

    rc = 0;
    while (!g_up_stop) {
        if (waitpid(broker, NULL, WNOHANG) == broker) {
            say("the broker exited unexpectedly; stopping");
            print_log_tail(broker_log, 15);
            broker = -1;
            rc = 1;
            break;
        }
        if (waitpid(connect, NULL, WNOHANG) == connect) {
            say("connect exited unexpectedly; stopping");
            print_log_tail(connect_log, 15);
            connect = -1;
            rc = 1;
            break;
        }
        if (traffic_in) {
            fputs(DEMO_TICK_SQL, traffic_in);
            fflush(traffic_in);
        }
        sleep(1);
    }
    say("stopping");
out:
    if (traffic_in) fclose(traffic_in); /* psql exits at end of input */
    if (traffic > 0) stop_child(traffic, "demo traffic");
    stop_child(connect, "connect");
    stop_child(broker, "broker");
    if (pg_started) stop_postgres(&o);
    curl_global_cleanup();
    return rc;
}
