/* The stack `streambus up` runs; see stack.h. What is generic about watching processes lives
 * in supervisor.c; this file knows PostgreSQL, the broker, connect and the demo. */
#include "up/stack.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/dir_lock.h"
#include "http/auth.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"

void up_stack_opts_default(up_stack_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->data_dir, sizeof(o->data_dir), "data");
    o->broker_port = 9092;
    o->broker_admin_port = 8080;
    o->rest_port = 8083;
    o->pg_port = 5433;
    o->jobs_port = 8090;
    o->demo = true;
    sv_policy_default(&o->policy);
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

/* ---- child processes ------------------------------------------------------------------- */

/* In a freshly forked child: output appended to log_path, a process group of its own (Ctrl-C
 * in the terminal reaches only `up`, which stops the children in order), and death_sig when
 * `up` itself dies, so that a killed `up` leaves no orphaned stack behind. */
static void child_setup(const char *log_path, int death_sig, pid_t parent)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    setpgid(0, 0);
    if (death_sig) {
        prctl(PR_SET_PDEATHSIG, death_sig);
        /* The parent may have died before the line above. */
        if (getppid() != parent) raise(death_sig);
    }
}

/* PostgreSQL refuses to run as root; as root its processes run as the postgres user. Returns
 * 0, or -1 (in the child, which then exits). */
static int drop_to_postgres(void)
{
    if (geteuid() != 0) return 0;
    struct passwd *pw = getpwnam("postgres");
    if (!pw) return -1;
    if (setgid(pw->pw_gid) != 0 || initgroups("postgres", pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return -1;
    return 0;
}

/* Runs argv to completion (as the postgres user when as_postgres), output appended to
 * log_path. Returns the exit status, -1 if it could not run. */
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
        if (as_postgres && drop_to_postgres() != 0) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef struct up_role_child {
    const char *self, *role;
    const char *worker_id; /* non-NULL: `<role> worker --id worker_id` */
    char config[PATH_MAX + 32];
    char log[PATH_MAX + 32];
    char ready_url[256];
    int port; /* > 0: must accept on this port too */
    char probe_what[320];
} up_role_child_t;

static int start_role(void *arg, pid_t *out)
{
    up_role_child_t *r = arg;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        child_setup(r->log, SIGTERM, parent);
        if (r->worker_id)
            execl(r->self, r->self, r->role, "worker", "--id", r->worker_id, "--config", r->config,
                  (char *)NULL);
        else
            execl(r->self, r->self, r->role, "--config", r->config, (char *)NULL);
        _exit(127);
    }
    *out = pid;
    return 0;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* The HTTP status of a GET (0 when nothing answered). A probe: short timeout. */
static long http_status(const char *url)
{
    CURL *h = curl_easy_init();
    if (!h) return 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static int probe_role(void *arg, pid_t pid)
{
    (void)pid;
    up_role_child_t *r = arg;
    if (r->port > 0 && !port_open(r->port)) return 0;
    /* A worker serves nothing to ask; it is ready once it runs (it waits for the broker and
     * PostgreSQL itself, and an exit is seen like any other child's). */
    if (!r->ready_url[0]) return 1;
    return http_status(r->ready_url) == 200;
}

/* ---- PostgreSQL ------------------------------------------------------------------------ */

typedef struct up_pg_child {
    char pgdata[PATH_MAX + 16];
    char log[PATH_MAX + 32];
    char conninfo[256];
    int port;
} up_pg_child_t;

int up_pg_clear_stale_pid(const char *pgdata, FILE *report)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char first[32] = "";
    bool got = fgets(first, sizeof(first), f) != NULL;
    fclose(f);
    char *end;
    long pid = got ? strtol(first, &end, 10) : 0;
    if (!got || pid <= 0 || pid > INT32_MAX || (*end != '\n' && *end != '\0'))
        return 0;                                             /* PostgreSQL's to judge */
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0; /* dead: PostgreSQL ignores it */
    char comm_path[64], comm[64] = "";
    snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", pid);
    FILE *c = fopen(comm_path, "r");
    if (!c) return 0; /* cannot tell what it is: leave it */
    bool read_ok = fgets(comm, sizeof(comm), c) != NULL;
    fclose(c);
    if (!read_ok) return 0;
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, "postgres") == 0 || strcmp(comm, "postmaster") == 0) return 0;
    if (unlink(path) != 0) return -errno;
    if (report)
        fprintf(report,
                "[up] removed the stale %s: the PostgreSQL that wrote it is gone (pid %ld now "
                "belongs to '%s')\n",
                path, pid, comm);
    return 1;
}

static int start_postgres_child(void *arg, pid_t *out)
{
    up_pg_child_t *pg = arg;
    up_pg_clear_stale_pid(pg->pgdata, stderr);
    char port[16];
    snprintf(port, sizeof(port), "%d", pg->port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        /* SIGINT is PostgreSQL's "fast" shutdown: what pg_ctl stop -m fast sends. */
        child_setup(pg->log, 0, parent);
        if (drop_to_postgres() != 0) {
            fprintf(stderr, "streambus up: cannot run as the postgres user: %s\n", strerror(errno));
            _exit(126);
        }
        /* After setuid: a change of credentials clears the parent-death signal. */
        prctl(PR_SET_PDEATHSIG, SIGINT);
        if (getppid() != parent) raise(SIGINT);
        /* argv[0] with its path: PostgreSQL finds its own installation from argv[0] and
         * would otherwise search PATH, which need not hold PG_BIN (a fresh Debian does not). */
        execl(PG_BIN "/postgres", PG_BIN "/postgres", "-D", pg->pgdata, "-p", port, (char *)NULL);
        _exit(127);
    }
    *out = pid;
    return 0;
}

static int probe_postgres(void *arg, pid_t pid)
{
    (void)pid;
    up_pg_child_t *pg = arg;
    char ci[320];
    snprintf(ci, sizeof(ci), "%s connect_timeout=2", pg->conninfo);
    return PQping(ci) == PQPING_OK;
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

static int append_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Creates the cluster on first use (initdb); afterwards only ownership and reachability are
 * fixed. Nothing is started here. */
static int prepare_postgres(up_pg_child_t *pg)
{
    if (access(PG_BIN "/postgres", X_OK) != 0) {
        fprintf(stderr,
                "streambus up: PostgreSQL 15 is not installed (%s/postgres); run "
                "scripts/install-deps.sh run,\n"
                "or pass --postgres CONNINFO\n",
                PG_BIN);
        return -1;
    }
    mkdir(pg->pgdata, 0700);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "streambus up: running as root needs the postgres user (from the "
                            "postgresql package)\n");
            return -1;
        }
        if (chown(pg->pgdata, pw->pw_uid, pw->pw_gid) != 0) return -1;
        open_parents_for_postgres(pg->pgdata);
        /* The server log lives beside the data; postgres must be able to write it. */
        int fd = open(pg->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            if (fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
            }
            close(fd);
        }
    }
    char version_file[PATH_MAX + 32];
    snprintf(version_file, sizeof(version_file), "%s/PG_VERSION", pg->pgdata);
    if (access(version_file, F_OK) == 0) return 0;
    say("initialising PostgreSQL in %s", pg->pgdata);
    char *initdb[] = {
        PG_BIN "/initdb",   "-D", pg->pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--locale=C.UTF-8", NULL};
    if (run_cmd(initdb, true, pg->log) != 0) {
        fprintf(stderr, "streambus up: initdb failed; see %s\n", pg->log);
        return -1;
    }
    char conf[PATH_MAX + 64];
    snprintf(conf, sizeof(conf), "%s/postgresql.auto.conf", pg->pgdata);
    /* TCP only: a Unix socket under a long data path would exceed the 107-byte limit and stop
     * the server from starting. */
    if (append_file(
            conf,
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nwal_level = logical\n"
            "max_replication_slots = 10\nmax_wal_senders = 10\n") != 0)
        return -1;
    snprintf(conf, sizeof(conf), "%s/pg_hba.conf", pg->pgdata);
    return append_file(conf, "host replication all 127.0.0.1/32 trust\n") == 0 ? 0 : -1;
}

/* ---- the demo ---------------------------------------------------------------------------- */

static const char *DEMO_SCHEMA_SQL =
    "SET client_min_messages = warning;"
    "CREATE SCHEMA IF NOT EXISTS demo;"
    "CREATE SCHEMA IF NOT EXISTS target;"
    "CREATE TABLE IF NOT EXISTS demo.orders (id serial PRIMARY KEY, customer text NOT NULL,"
    " amount numeric(10,2) NOT NULL, status text NOT NULL DEFAULT 'new',"
    " updated_at timestamptz NOT NULL DEFAULT now());"
    "INSERT INTO demo.orders (customer, amount) SELECT 'customer-' || g, (g * 7.5)::numeric(10,2)"
    " FROM generate_series(1, 5) g WHERE NOT EXISTS (SELECT 1 FROM demo.orders);";

/* One tick of demo traffic: a new order, and a status change of a random one. */
static const char *DEMO_TICK_SQL =
    "INSERT INTO demo.orders (customer, amount) VALUES ('customer-' || (floor(random() * "
    "1000))::int,"
    " round((random() * 100)::numeric, 2));"
    "UPDATE demo.orders SET status = (ARRAY['new','paid','shipped'])[1 + floor(random() * 3)::int],"
    " updated_at = now() WHERE id = (SELECT id FROM demo.orders ORDER BY random() LIMIT 1);";

/* The demo's traffic: one libpq connection of `up` itself, not a child process, so that a
 * restarted PostgreSQL costs it a reconnect rather than a crash to supervise. */
typedef struct up_traffic {
    char conninfo[1200];
    char log[PATH_MAX + 32];
    PGconn *conn;
    bool failing; /* the last tick failed: said once in the log, not every second */
} up_traffic_t;

static void traffic_log(up_traffic_t *t, const char *what, const char *detail)
{
    FILE *f = fopen(t->log, "a");
    if (!f) return;
    fprintf(f, "%s: %s", what, detail && *detail ? detail : "\n");
    if (detail && *detail && detail[strlen(detail) - 1] != '\n') fputc('\n', f);
    fclose(f);
}

static void traffic_tick(up_traffic_t *t)
{
    if (!t->conn || PQstatus(t->conn) != CONNECTION_OK) {
        PQfinish(t->conn);
        t->conn = PQconnectdb(t->conninfo);
    }
    PGresult *res = PQstatus(t->conn) == CONNECTION_OK ? PQexec(t->conn, DEMO_TICK_SQL) : NULL;
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok && !t->failing) traffic_log(t, "demo traffic paused", PQerrorMessage(t->conn));
    if (ok && t->failing) traffic_log(t, "demo traffic resumed", "");
    t->failing = !ok;
    PQclear(res);
    if (!ok) {
        PQfinish(t->conn);
        t->conn = NULL;
    }
}

/* Runs sql (several statements allowed) on a connection of its own. The supervisor ticks
 * while the statement runs, since a lock held by someone else can keep it waiting for as long
 * as they like: 0; -ECHILD when a child failed meanwhile; -EINTR on a stop request; -EIO with
 * the server's message in why. */
static int exec_sql(sv_t *sv, volatile sig_atomic_t *stop, const char *conninfo, const char *sql,
                    char *why, size_t cap)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = 0;
    if (PQstatus(c) != CONNECTION_OK || !PQsendQuery(c, sql)) {
        snprintf(why, cap, "%s", PQerrorMessage(c));
        PQfinish(c);
        return -EIO;
    }
    for (;;) {
        if (!PQconsumeInput(c)) {
            snprintf(why, cap, "%s", PQerrorMessage(c));
            rc = -EIO;
            break;
        }
        if (!PQisBusy(c)) {
            PGresult *res;
            while ((res = PQgetResult(c)) != NULL) {
                if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
                    snprintf(why, cap, "%s", PQresultErrorMessage(res));
                    rc = -EIO;
                }
                PQclear(res);
            }
            break;
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        poll(&pfd, 1, 100);
        if (*stop)
            rc = -EINTR;
        else if (sv_tick(sv, sb_mono_ms()) < 0)
            rc = -ECHILD;
        if (rc != 0) {
            PGcancel *cancel = PQgetCancel(c);
            char ignored[256];
            if (cancel) PQcancel(cancel, ignored, sizeof(ignored));
            PQfreeCancel(cancel);
            break;
        }
    }
    PQfinish(c);
    return rc;
}

/* One JSON request (method, url, body; bearer may be NULL); returns the HTTP status (0 =
 * unreachable) with the answer in answer. The supervisor ticks while the request runs, so a
 * child that dies meanwhile is noticed at once. */
static long http_json(sv_t *sv, volatile sig_atomic_t *stop, const char *method, const char *url,
                      const char *json_body, const char *bearer, char *answer, size_t cap)
{
    CURL *h = curl_easy_init();
    CURLM *m = curl_multi_init();
    if (!h || !m) {
        curl_easy_cleanup(h);
        curl_multi_cleanup(m);
        return 0;
    }
    FILE *mem = fmemopen(answer, cap, "w");
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1200];
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(m, h);
    long status = 0;
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) break;
        if (!running) break;
        curl_multi_poll(m, NULL, 0, 100, NULL);
        if ((stop && *stop) || sv_tick(sv, sb_mono_ms()) < 0) {
            running = -1;
            break;
        }
    }
    int left;
    CURLMsg *msg = curl_multi_info_read(m, &left);
    if (running == 0 && msg && msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(m, h);
    if (mem) fclose(mem);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_multi_cleanup(m);
    return status;
}

/* PUT /connectors/{name}/config on connect's REST API. */
static long put_connector(sv_t *sv, volatile sig_atomic_t *stop, int rest_port, const char *name,
                          const char *json_body, char *answer, size_t cap)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/connectors/%s/config", rest_port, name);
    return http_json(sv, stop, "PUT", url, json_body, NULL, answer, cap);
}

static bool create_demo_pipeline(sv_t *sv, volatile sig_atomic_t *stop, const up_stack_opts_t *o,
                                 const char *conninfo)
{
    char body[2048], answer[4096] = "";
    snprintf(body, sizeof(body),
             "{\"connector.class\":\"postgres-source\",\"database.conninfo\":\"%s\",\"topic."
             "prefix\":\"app\","
             "\"table.include.list\":\"demo.orders\",\"slot.name\":\"streambus_demo\",\"snapshot."
             "mode\":\"initial\"}",
             conninfo);
    long st = put_connector(sv, stop, o->rest_port, "demo-orders-source", body, answer,
                            sizeof(answer) - 1);
    if (st != 200 && st != 201) {
        if (!sv_failed(sv) && !*stop) say("demo source not created (HTTP %ld): %s", st, answer);
        return false;
    }
    snprintf(body, sizeof(body),
             "{\"connector.class\":\"postgres-sink\",\"connection.conninfo\":\"%s\",\"topics\":"
             "\"app.demo.orders\","
             "\"target.schema\":\"target\"}",
             conninfo);
    memset(answer, 0, sizeof(answer));
    st =
        put_connector(sv, stop, o->rest_port, "demo-orders-sink", body, answer, sizeof(answer) - 1);
    if (st != 200 && st != 201) {
        if (!sv_failed(sv) && !*stop) say("demo sink not created (HTTP %ld): %s", st, answer);
        return false;
    }
    return true;
}

/* ---- the stack ------------------------------------------------------------------------- */

/* A config a child reads at every (re)start: replaced whole, so that a restart after a crash
 * never reads half a file. Tells why on failure. */
static int write_config(const char *path, const char *text)
{
    sb_err_t err = {0};
    if (sb_write_file_atomic(path, text, strlen(text), &err) == 0) return 0;
    fprintf(stderr, "streambus up: %s\n", err.msg);
    return -1;
}

/* ---- jobs ------------------------------------------------------------------------------ */

/* What the jobs API needs that must not be in a config file or a process listing: its JWT
 * secret (handed to the children in their environment) and the admin's password. Both are
 * made at the first start and kept in DIR/jobs-secrets (0600) with the password's Argon2id
 * hash, so that tokens and the password outlive a restart and the hash (the slow part) is
 * computed once per data directory, not at every start. */
typedef struct up_jobs_secrets {
    char jwt_secret[65];
    char admin_password[33];
    char admin_hash[200];
} up_jobs_secrets_t;

static int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[32];
    if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1) return -1;
    for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", raw[i]);
    return 0;
}

static int jobs_secrets_load_or_make(const char *dir, up_jobs_secrets_t *s)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/jobs-secrets", dir);
    memset(s, 0, sizeof(*s));
    FILE *f = fopen(path, "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            char *sp = strchr(line, ' ');
            if (!sp) continue;
            *sp++ = '\0';
            if (strcmp(line, "jwt_secret") == 0)
                snprintf(s->jwt_secret, sizeof(s->jwt_secret), "%s", sp);
            else if (strcmp(line, "admin_password") == 0)
                snprintf(s->admin_password, sizeof(s->admin_password), "%s", sp);
            else if (strcmp(line, "admin_hash") == 0)
                snprintf(s->admin_hash, sizeof(s->admin_hash), "%s", sp);
        }
        fclose(f);
        if (strlen(s->jwt_secret) == 64 && strlen(s->admin_password) == 32 &&
            strncmp(s->admin_hash, "$argon2id$", 10) == 0)
            return 0;
        /* Damaged or hand-edited: made anew (the old tokens stop working, nothing else). */
    }
    if (random_hex(s->jwt_secret, 32) != 0 || random_hex(s->admin_password, 16) != 0 ||
        http_auth_password_hash(s->admin_password, s->admin_hash, sizeof(s->admin_hash)) < 0) {
        fprintf(stderr, "streambus up: cannot make the jobs API's secrets\n");
        return -1;
    }
    char text[512];
    snprintf(text, sizeof(text), "jwt_secret %s\nadmin_password %s\nadmin_hash %s\n", s->jwt_secret,
             s->admin_password, s->admin_hash);
    mode_t old = umask(077);
    int rc = write_config(path, text);
    umask(old);
    if (rc == 0) chmod(path, 0600);
    return rc;
}

/* The demo job: a one-shot SQL no-op submitted as admin through the API, as a user would.
 * Its idempotency key makes a second `up` on the same data find the job it made before. The
 * id goes to *id (0 when not submitted; why is said). */
static bool submit_demo_job(sv_t *sv, volatile sig_atomic_t *stop, const up_stack_opts_t *o,
                            const up_jobs_secrets_t *sec, long long *id)
{
    *id = 0;
    char url[256], body[512], answer[4096] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/auth/login", o->jobs_port);
    snprintf(body, sizeof(body), "{\"username\":\"admin\",\"password\":\"%s\"}",
             sec->admin_password);
    long st = http_json(sv, stop, "POST", url, body, NULL, answer, sizeof(answer) - 1);
    json_t *j = st == 200 ? json_loads(answer, 0, NULL) : NULL;
    const char *token = j ? json_string_value(json_object_get(j, "accessToken")) : NULL;
    if (!token) {
        if (!sv_failed(sv) && !*stop) say("demo job not submitted: login answered HTTP %ld", st);
        json_decref(j);
        return false;
    }
    char bearer[1024];
    snprintf(bearer, sizeof(bearer), "%s", token);
    json_decref(j);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/jobs", o->jobs_port);
    memset(answer, 0, sizeof(answer));
    st = http_json(sv, stop, "POST", url,
                   "{\"name\":\"up-demo\",\"type\":\"SQL\",\"payload\":{\"statement\":\"SELECT 1\"},"
                   "\"idempotencyKey\":\"streambus-up-demo\",\"maxRetries\":3}",
                   bearer, answer, sizeof(answer) - 1);
    j = st == 200 || st == 201 ? json_loads(answer, 0, NULL) : NULL;
    json_t *jid = j ? json_object_get(j, "id") : NULL;
    if (json_is_integer(jid)) *id = (long long)json_integer_value(jid);
    json_decref(j);
    if (!*id && !sv_failed(sv) && !*stop)
        say("demo job not submitted (HTTP %ld): %s", st, answer);
    return *id != 0;
}

/* Every port must be free before anything starts: a broker failing to bind while a foreign
 * one answers on its port would have connect join that other cluster. */
static int check_ports(const up_stack_opts_t *o)
{
    struct {
        int port;
        const char *flag;
        bool used;
    } ports[] = {{o->broker_port, "--broker-port", true},
                 {o->broker_admin_port, "--admin-port", true},
                 {o->rest_port, "--rest-port", true},
                 {o->jobs_port, "--jobs-port", true},
                 {o->pg_port, "--pg-port", !o->postgres[0]}};
    int nports = (int)(sizeof(ports) / sizeof(ports[0]));
    for (int i = 0; i < nports; i++) {
        if (!ports[i].used) continue;
        for (int k = 0; k < i; k++) {
            if (ports[k].used && ports[k].port == ports[i].port) {
                fprintf(stderr, "streambus up: %s and %s are both %d; give each its own port\n",
                        ports[k].flag, ports[i].flag, ports[i].port);
                return -1;
            }
        }
        int e = 0;
        if (!port_free(ports[i].port, &e)) {
            fprintf(stderr,
                    "streambus up: port %d (%s) on 127.0.0.1 is not free: %s.\n"
                    "  Is another StreamBus or service running? Stop it, or pick another port with "
                    "%s N.\n",
                    ports[i].port, ports[i].flag, strerror(e), ports[i].flag);
            return -1;
        }
    }
    return 0;
}

static void print_banner(const up_stack_opts_t *o, const char *self, const char *conninfo,
                         bool pipeline, long long demo_job)
{
    printf("\n"
           "  StreamBus is up. Ctrl-C stops everything.\n\n"
           "  Kafka bootstrap   127.0.0.1:%d        kcat -b 127.0.0.1:%d -L\n"
           "  Broker admin      http://127.0.0.1:%d/metrics\n"
           "  Connect REST      http://127.0.0.1:%d/connectors      %s ctl connector list --url "
           "http://127.0.0.1:%d\n"
           "  PostgreSQL        psql \"%s\"\n",
           o->broker_port, o->broker_port, o->broker_admin_port, o->rest_port, self, o->rest_port,
           conninfo);
    printf("  Jobs API          http://127.0.0.1:%d/api/v1      user admin, password in "
           "%s/jobs-secrets\n"
           "    list jobs       STREAMBUS_JOBS_PASSWORD=$(sed -n 's/^admin_password //p' "
           "%s/jobs-secrets) %s ctl job list --url http://127.0.0.1:%d --user admin\n",
           o->jobs_port, o->data_dir, o->data_dir, self, o->jobs_port);
    if (demo_job)
        printf("    demo job        #%lld (SQL SELECT 1, run by worker up-worker-1)   ctl job show "
               "%lld, options as above\n",
               demo_job, demo_job);
    printf(
        "\n  Security          OPEN: no TLS, no authentication, no ACLs on any listener; every "
        "port\n"
        "                    is bound to 127.0.0.1 only (development). To turn everything on, see\n"
        "                    docs/security.md \"Turning everything on\" and config/secure/.\n");
    if (pipeline)
        printf(
            "\n  Demo pipeline     demo.orders -> topic app.demo.orders -> target.orders (a change "
            "every second)\n"
            "    watch events    kcat -b 127.0.0.1:%d -t app.demo.orders -C -o beginning\n"
            "    compare counts  psql \"%s\" -c 'SELECT count(*) FROM demo.orders' -c 'SELECT "
            "count(*) FROM target.orders'\n"
            "    status          curl -s http://127.0.0.1:%d/connectors/demo-orders-sink/status\n",
            o->broker_port, conninfo, o->rest_port);
    printf("\n  Children that exit are restarted (%d exits within %lld s stop the stack).\n"
           "  Logs and data in %s\n\n",
           o->policy.crash_limit, (long long)(o->policy.crash_window_ms / 1000), o->data_dir);
    fflush(stdout);
}

/* The stack's failure, told once on stderr (the supervisor already showed the child's log). */
static void tell_failure(const sv_t *sv)
{
    if (sv_failed(sv)) fprintf(stderr, "streambus up: %s\n", sv_failure(sv));
}

/* Starts child id and waits until it is ready, every child watched meanwhile: 0, or negative
 * (a failure is told; a stop request is not a failure). */
static int start_and_wait(sv_t *sv, int id, volatile sig_atomic_t *stop)
{
    int rc = sv_start(sv, id, sb_mono_ms());
    if (rc == 0) rc = sv_wait_ready(sv, id, stop);
    tell_failure(sv);
    return rc;
}

int up_stack_run(up_stack_opts_t *o, const char *self, volatile sig_atomic_t *stop)
{
    if (mkdir(o->data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "streambus up: cannot create %s: %s\n", o->data_dir, strerror(errno));
        return 1;
    }
    char abs_dir[PATH_MAX];
    if (!realpath(o->data_dir, abs_dir)) {
        fprintf(stderr, "streambus up: %s: %s\n", o->data_dir, strerror(errno));
        return 1;
    }
    snprintf(o->data_dir, sizeof(o->data_dir), "%s", abs_dir);
    /* First of all, before a file in it is written: the data dir is this stack's alone. A
     * second `up` on it would rewrite the configs the running children restart from. Held
     * until we return; the kernel drops it if we are killed. */
    sb_dir_lock_t *lock = NULL;
    sb_err_t lock_err = {0};
    if (sb_dir_lock_new(o->data_dir, "streambus up", &lock, NULL, &lock_err) != 0) {
        fprintf(stderr, "streambus up: %s\n", lock_err.msg);
        if (lock_err.code == SB_EEXIST)
            fprintf(stderr, "  Stop that one first (Ctrl-C where it runs), or give this one "
                            "another --data-dir.\n");
        return 1;
    }
    if (check_ports(o) != 0) {
        sb_dir_lock_free(lock);
        return 1;
    }

    sv_t *sv = NULL;
    if (sv_new(&o->policy, stderr, &sv) != 0) {
        fprintf(stderr, "streambus up: invalid restart policy\n");
        sb_dir_lock_free(lock);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 1, err;
    char text[2 * PATH_MAX + 512], why[512] = "";
    up_pg_child_t pg = {.port = o->pg_port};
    up_role_child_t broker = {.self = self, .role = "broker", .port = o->broker_port};
    up_role_child_t connect = {.self = self, .role = "connect"};
    up_role_child_t jobs = {.self = self, .role = "jobs", .port = o->jobs_port};
    up_role_child_t worker = {.self = self, .role = "jobs", .worker_id = "up-worker-1"};
    up_jobs_secrets_t secrets;
    long long demo_job = 0;
    up_traffic_t traffic = {0};
    char conninfo[1024];
    int pg_id = -1, broker_id = -1, connect_id = -1, jobs_id = -1, worker_id = -1;

    /* 1. PostgreSQL: first, since nothing else needs it to be created and the broker and
     * connect are then stopped before it. initdb runs before any child is started. */
    if (o->postgres[0]) {
        snprintf(conninfo, sizeof(conninfo), "%s", o->postgres);
    } else {
        snprintf(pg.pgdata, sizeof(pg.pgdata), "%s/postgres", o->data_dir);
        snprintf(pg.log, sizeof(pg.log), "%s/postgres.log", o->data_dir);
        snprintf(pg.conninfo, sizeof(pg.conninfo),
                 "host=127.0.0.1 port=%d user=postgres dbname=postgres", o->pg_port);
        snprintf(conninfo, sizeof(conninfo), "%s", pg.conninfo);
        if (prepare_postgres(&pg) != 0) goto out;
        sv_child_spec_t spec = {.name = "PostgreSQL",
                                .log_path = pg.log,
                                .start = start_postgres_child,
                                .probe = probe_postgres,
                                .probe_what = pg.conninfo,
                                .arg = &pg,
                                .stop_signal = SIGINT};
        if (sv_add(sv, &spec, &pg_id) != 0) goto out;
        say("starting PostgreSQL on 127.0.0.1:%d (log %s)", o->pg_port, pg.log);
        if (start_and_wait(sv, pg_id, stop) != 0) goto out;
    }

    /* 2. the broker */
    snprintf(broker.config, sizeof(broker.config), "%s/broker.yaml", o->data_dir);
    snprintf(text, sizeof(text),
             "broker:\n  listen: \"127.0.0.1:%d\"\n  data_dir: \"%s/broker\"\nadmin:\n  listen: "
             "\"127.0.0.1:%d\"\n"
             "logging:\n  level: info\n",
             o->broker_port, o->data_dir, o->broker_admin_port);
    if (write_config(broker.config, text) != 0) goto out;
    snprintf(broker.log, sizeof(broker.log), "%s/broker.log", o->data_dir);
    snprintf(broker.ready_url, sizeof(broker.ready_url), "http://127.0.0.1:%d/health/ready",
             o->broker_admin_port);
    snprintf(broker.probe_what, sizeof(broker.probe_what), "127.0.0.1:%d and %s", o->broker_port,
             broker.ready_url);
    sv_child_spec_t bspec = {.name = "the broker",
                             .log_path = broker.log,
                             .start = start_role,
                             .probe = probe_role,
                             .probe_what = broker.probe_what,
                             .arg = &broker};
    if (sv_add(sv, &bspec, &broker_id) != 0) goto out;
    say("starting the broker on 127.0.0.1:%d (log %s)", o->broker_port, broker.log);
    if (start_and_wait(sv, broker_id, stop) != 0) goto out;

    if (o->demo && (err = exec_sql(sv, stop, conninfo, DEMO_SCHEMA_SQL, why, sizeof(why))) != 0) {
        if (err == -EIO)
            fprintf(stderr, "streambus up: creating the demo table failed: %s", why);
        else
            tell_failure(sv);
        goto out;
    }

    /* 3. connect. GET /connectors answers once connect has reached the broker (its health
     * probes answer earlier). */
    snprintf(connect.config, sizeof(connect.config), "%s/connect.yaml", o->data_dir);
    snprintf(text, sizeof(text),
             "connect:\n  bootstrap_servers: \"127.0.0.1:%d\"\n  rest_listen: "
             "\"127.0.0.1:%d\"\nlogging:\n  level: info\n",
             o->broker_port, o->rest_port);
    if (write_config(connect.config, text) != 0) goto out;
    snprintf(connect.log, sizeof(connect.log), "%s/connect.log", o->data_dir);
    snprintf(connect.ready_url, sizeof(connect.ready_url), "http://127.0.0.1:%d/connectors",
             o->rest_port);
    snprintf(connect.probe_what, sizeof(connect.probe_what), "%s", connect.ready_url);
    sv_child_spec_t cspec = {.name = "connect",
                             .log_path = connect.log,
                             .start = start_role,
                             .probe = probe_role,
                             .probe_what = connect.probe_what,
                             .arg = &connect};
    if (sv_add(sv, &cspec, &connect_id) != 0) goto out;

    /* 3b. the jobs API and one worker (same config; the JWT secret in their environment),
     * started together with connect, since none of the three needs the others: start-up
     * waits for the slowest of them, not for their sum. */
    if (jobs_secrets_load_or_make(o->data_dir, &secrets) != 0) goto out;
    setenv("STREAMBUS_JOBS_JWT_SECRET", secrets.jwt_secret, 1);
    snprintf(jobs.config, sizeof(jobs.config), "%s/jobs.yaml", o->data_dir);
    snprintf(text, sizeof(text),
             "jobs:\n  listen: \"127.0.0.1:%d\"\n  bootstrap_servers: \"127.0.0.1:%d\"\n"
             "  postgres: \"%s\"\n  logs_topic: \"job.logs\"\n"
             "auth:\n  jwt_secret_env: \"STREAMBUS_JOBS_JWT_SECRET\"\n  users:\n"
             "    - {name: admin, role: admin, password_hash: \"%s\"}\n"
             "logging:\n  level: info\n",
             o->jobs_port, o->broker_port, conninfo, secrets.admin_hash);
    if (write_config(jobs.config, text) != 0) goto out;
    snprintf(jobs.log, sizeof(jobs.log), "%s/jobs.log", o->data_dir);
    snprintf(jobs.ready_url, sizeof(jobs.ready_url), "http://127.0.0.1:%d/health/ready",
             o->jobs_port);
    snprintf(jobs.probe_what, sizeof(jobs.probe_what), "%s", jobs.ready_url);
    sv_child_spec_t jspec = {.name = "the jobs API",
                             .log_path = jobs.log,
                             .start = start_role,
                             .probe = probe_role,
                             .probe_what = jobs.probe_what,
                             .arg = &jobs};
    if (sv_add(sv, &jspec, &jobs_id) != 0) goto out;
    snprintf(worker.config, sizeof(worker.config), "%s", jobs.config);
    snprintf(worker.log, sizeof(worker.log), "%s/jobs-worker.log", o->data_dir);
    snprintf(worker.probe_what, sizeof(worker.probe_what), "a running process");
    sv_child_spec_t wspec = {.name = "the jobs worker",
                             .log_path = worker.log,
                             .start = start_role,
                             .probe = probe_role,
                             .probe_what = worker.probe_what,
                             .arg = &worker};
    if (sv_add(sv, &wspec, &worker_id) != 0) goto out;

    say("starting connect, REST API on 127.0.0.1:%d (log %s)", o->rest_port, connect.log);
    say("starting the jobs API on 127.0.0.1:%d (log %s) and worker up-worker-1 (log %s)",
        o->jobs_port, jobs.log, worker.log);
    int now_rc = sv_start(sv, connect_id, sb_mono_ms());
    if (now_rc == 0) now_rc = sv_start(sv, jobs_id, sb_mono_ms());
    if (now_rc == 0) now_rc = sv_start(sv, worker_id, sb_mono_ms());
    if (now_rc != 0) {
        tell_failure(sv);
        goto out;
    }
    if (sv_wait_ready(sv, connect_id, stop) != 0 || sv_wait_ready(sv, jobs_id, stop) != 0 ||
        sv_wait_ready(sv, worker_id, stop) != 0) {
        tell_failure(sv);
        goto out;
    }

    /* 4. the demo pipeline (PUT is idempotent: a second `up` on the same data finds it). */
    bool pipeline = o->demo && create_demo_pipeline(sv, stop, o, conninfo);
    if (sv_failed(sv)) {
        tell_failure(sv);
        goto out;
    }
    if (*stop) goto out;
    if (o->demo) submit_demo_job(sv, stop, o, &secrets, &demo_job);
    if (sv_failed(sv)) {
        tell_failure(sv);
        goto out;
    }
    if (*stop) goto out;
    if (o->demo) {
        snprintf(traffic.conninfo, sizeof(traffic.conninfo),
                 "%s connect_timeout=2 options='-c statement_timeout=5000'", conninfo);
        snprintf(traffic.log, sizeof(traffic.log), "%s/demo.log", o->data_dir);
    }
    print_banner(o, self, conninfo, pipeline, demo_job);

    rc = 0;
    for (;;) {
        err = sv_sleep(sv, 1000, stop);
        if (err == -EINTR) break;
        if (err == -ECHILD) {
            fprintf(stderr, "streambus up: stopping: %s\n", sv_failure(sv));
            rc = 1;
            goto out;
        }
        if (o->demo) traffic_tick(&traffic);
    }
out:
    /* Ctrl-C during start-up is a requested stop too, not a failure. */
    if (*stop && !sv_failed(sv)) {
        say("stopping");
        rc = 0;
    }
    PQfinish(traffic.conn);
    sv_stop_all(sv);
    sv_free(sv);
    curl_global_cleanup();
    sb_dir_lock_free(lock); /* after the children stopped: they use the data dir till then */
    return rc;
}
