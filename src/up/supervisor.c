/* The supervisor core of `streambus up`; see supervisor.h for the contract. */
#include "up/supervisor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

/* Exit times remembered per child: the crash-loop limit can not usefully exceed this. */
#define SV_MAX_EXITS 64
#define SV_TICK_MS 100

typedef struct sv_child {
    char *name;
    char *log_path;
    char *probe_what; /* may be NULL */
    int (*start)(void *arg, pid_t *pid);
    int (*probe)(void *arg, pid_t pid);
    void *arg;
    int stop_signal;

    sv_state_t state;
    pid_t pid;
    bool ever_ready;       /* answered its probe at least once in this run */
    int64_t started_at_ms; /* when the current process was started */
    int64_t ready_at_ms;
    int64_t restart_at_ms; /* in SV_BACKOFF: when to start it again */
    int consecutive;       /* exits since it last ran stably: the backoff exponent */
    int64_t exits[SV_MAX_EXITS];
    int nexits; /* exit times within the crash window, oldest first */
    int restarts;
} sv_child_t;

struct sv {
    sv_policy_t policy;
    FILE *report;
    sv_child_t *children;
    int nchildren;
    bool failed;
    char failure[1024];
};

void sv_policy_default(sv_policy_t *p)
{
    p->backoff_initial_ms = 1000;
    p->backoff_max_ms = 30000;
    p->crash_limit = 5;
    p->crash_window_ms = 60000;
    p->start_timeout_ms = 60000;
    p->stop_timeout_ms = 30000;
}

int64_t sv_backoff_ms(const sv_policy_t *p, int n)
{
    int64_t d = p->backoff_initial_ms;
    for (int i = 1; i < n && d < p->backoff_max_ms; i++)
        d *= 2;
    return d < p->backoff_max_ms ? d : p->backoff_max_ms;
}

const char *sv_state_name(sv_state_t s)
{
    switch (s) {
    case SV_STOPPED:
        return "stopped";
    case SV_STARTING:
        return "starting";
    case SV_RUNNING:
        return "running";
    case SV_BACKOFF:
        return "backoff";
    case SV_FAILED:
        return "failed";
    }
    return "?";
}

int sv_new(const sv_policy_t *policy, FILE *report, sv_t **out)
{
    if (policy->crash_limit < 1 || policy->crash_limit > SV_MAX_EXITS ||
        policy->backoff_initial_ms < 0 || policy->backoff_max_ms < policy->backoff_initial_ms ||
        policy->crash_window_ms < 0)
        return -EINVAL;
    sv_t *sv = calloc(1, sizeof(*sv));
    if (!sv) return -ENOMEM;
    sv->policy = *policy;
    sv->report = report;
    *out = sv;
    return 0;
}

void sv_free(sv_t *sv)
{
    if (!sv) return;
    for (int i = 0; i < sv->nchildren; i++) {
        free(sv->children[i].name);
        free(sv->children[i].log_path);
        free(sv->children[i].probe_what);
    }
    free(sv->children);
    free(sv);
}

int sv_add(sv_t *sv, const sv_child_spec_t *spec, int *id)
{
    if (!spec->name || !spec->start) return -EINVAL;
    sv_child_t *grown = realloc(sv->children, (size_t)(sv->nchildren + 1) * sizeof(*grown));
    if (!grown) return -ENOMEM;
    sv->children = grown;
    sv_child_t *c = &sv->children[sv->nchildren];
    memset(c, 0, sizeof(*c));
    c->name = strdup(spec->name);
    c->log_path = spec->log_path ? strdup(spec->log_path) : NULL;
    c->probe_what = spec->probe_what ? strdup(spec->probe_what) : NULL;
    if (!c->name || (spec->log_path && !c->log_path) || (spec->probe_what && !c->probe_what)) {
        free(c->name);
        free(c->log_path);
        free(c->probe_what);
        return -ENOMEM;
    }
    c->start = spec->start;
    c->probe = spec->probe;
    c->arg = spec->arg;
    c->stop_signal = spec->stop_signal ? spec->stop_signal : SIGTERM;
    c->pid = -1;
    *id = sv->nchildren++;
    return 0;
}

static void say(sv_t *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(sv_t *sv, const char *fmt, ...)
{
    if (!sv->report) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("[up] ", sv->report);
    vfprintf(sv->report, fmt, ap);
    fputc('\n', sv->report);
    fflush(sv->report);
    va_end(ap);
}

void sv_describe_status(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "wait status %d", status);
}

void sv_print_log_tail(FILE *out, const char *path, int lines)
{
    enum { MAX_LINES = 64, MAX_LINE = 400 };
    if (!out || !path || lines <= 0) return;
    if (lines > MAX_LINES) lines = MAX_LINES;
    FILE *f = fopen(path, "r");
    if (!f) return;
    /* A ring of the last lines, each cut to MAX_LINE bytes: a log can hold anything, including
     * one enormous line, and only its end is wanted. */
    static const size_t cap = MAX_LINE + 2;
    char ring[MAX_LINES][MAX_LINE + 2];
    size_t n = 0;
    bool in_line = false;
    char chunk[MAX_LINE + 2];
    while (fgets(chunk, (int)sizeof(chunk), f)) {
        size_t len = strlen(chunk);
        bool ends = len > 0 && chunk[len - 1] == '\n';
        if (!in_line) {
            snprintf(ring[n % (size_t)lines], cap, "%s", chunk);
            n++;
        } else {
            /* The rest of a long line: dropped, but its line end is kept. */
            char *slot = ring[(n - 1) % (size_t)lines];
            size_t sl = strlen(slot);
            if (ends && (sl == 0 || slot[sl - 1] != '\n') && sl + 1 < cap) {
                slot[sl] = '\n';
                slot[sl + 1] = '\0';
            }
        }
        in_line = !ends;
    }
    fclose(f);
    fprintf(out, "--- last lines of %s ---\n", path);
    size_t first = n > (size_t)lines ? n - (size_t)lines : 0;
    for (size_t i = first; i < n; i++) {
        const char *l = ring[i % (size_t)lines];
        fputs(l, out);
        if (!*l || l[strlen(l) - 1] != '\n') fputc('\n', out);
    }
    fputs("---\n", out);
    fflush(out);
}

static void fail(sv_t *sv, sv_child_t *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(sv_t *sv, sv_child_t *c, const char *fmt, ...)
{
    c->state = SV_FAILED;
    if (sv->failed) return; /* the first failure is the one to tell */
    sv->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sv->failure, sizeof(sv->failure), fmt, ap);
    va_end(ap);
}

static void log_ref(const sv_child_t *c, char *buf, size_t cap)
{
    if (c->log_path)
        snprintf(buf, cap, "; see %s", c->log_path);
    else
        buf[0] = '\0';
}

/* The state machine's answer to an exit of c at now_ms. */
static void on_exit_status(sv_t *sv, sv_child_t *c, int status, int64_t now_ms)
{
    char how[128], see[sizeof(((sv_t *)0)->failure) / 2];
    sv_describe_status(status, how, sizeof(how));
    log_ref(c, see, sizeof(see));
    pid_t pid = c->pid;
    c->pid = -1;

    /* A child that never became ready in this run did not fail by accident: its config or
     * environment is wrong, and restarting it would only bury the reason under retries. */
    if (!c->ever_ready) {
        fail(sv, c, "%s exited while starting (%s)%s", c->name, how, see);
        say(sv, "%s (pid %d) exited while starting: %s", c->name, (int)pid, how);
        sv_print_log_tail(sv->report, c->log_path, 10);
        return;
    }

    int keep = 0;
    for (int i = 0; i < c->nexits; i++)
        if (now_ms - c->exits[i] < sv->policy.crash_window_ms) c->exits[keep++] = c->exits[i];
    c->nexits = keep;
    if (c->nexits == SV_MAX_EXITS) {
        memmove(c->exits, c->exits + 1, (SV_MAX_EXITS - 1) * sizeof(c->exits[0]));
        c->nexits--;
    }
    c->exits[c->nexits++] = now_ms;

    if (c->nexits >= sv->policy.crash_limit) {
        fail(sv, c, "%s exited %d times within %lld s (last: %s); not restarting it%s", c->name,
             c->nexits, (long long)(sv->policy.crash_window_ms / 1000), how, see);
        say(sv, "%s (pid %d) exited unexpectedly: %s; that is %d exits within %lld s, giving up",
            c->name, (int)pid, how, c->nexits, (long long)(sv->policy.crash_window_ms / 1000));
        sv_print_log_tail(sv->report, c->log_path, 10);
        return;
    }

    /* A child that ran for a whole crash window since it was last ready starts its backoff
     * over: the earlier crashes are history. */
    if (c->state == SV_RUNNING && now_ms - c->ready_at_ms >= sv->policy.crash_window_ms)
        c->consecutive = 0;
    c->consecutive++;
    int64_t delay = sv_backoff_ms(&sv->policy, c->consecutive);
    c->state = SV_BACKOFF;
    c->restart_at_ms = now_ms + delay;
    say(sv, "%s (pid %d) exited unexpectedly: %s; restarting it in %.1f s", c->name, (int)pid, how,
        (double)delay / 1000.0);
    sv_print_log_tail(sv->report, c->log_path, 10);
}

/* Whether c's process has exited; reaps it and runs the state machine if so. */
static bool reap(sv_t *sv, sv_child_t *c, int64_t now_ms)
{
    if (c->pid <= 0) return false;
    int status = 0;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == 0) return false;
    if (r < 0 && errno == EINTR) return false;
    if (r < 0) status = 0; /* reaped elsewhere: gone all the same */
    on_exit_status(sv, c, status, now_ms);
    return true;
}

static int launch(sv_t *sv, sv_child_t *c, int64_t now_ms)
{
    pid_t pid = -1;
    int rc = c->start(c->arg, &pid);
    if (rc < 0) {
        char see[512];
        log_ref(c, see, sizeof(see));
        fail(sv, c, "%s could not be started: %s%s", c->name, strerror(-rc), see);
        say(sv, "%s could not be started: %s", c->name, strerror(-rc));
        return rc;
    }
    c->pid = pid;
    c->state = SV_STARTING;
    c->started_at_ms = now_ms;
    return 0;
}

int sv_start(sv_t *sv, int id, int64_t now_ms)
{
    if (id < 0 || id >= sv->nchildren) return -EINVAL;
    sv_child_t *c = &sv->children[id];
    if (c->pid > 0) return -EBUSY;
    return launch(sv, c, now_ms);
}

int sv_tick(sv_t *sv, int64_t now_ms)
{
    if (sv->failed) return -ECHILD;
    /* Every exit first, so that a probe never sees a port answered by anyone but our own
     * live child, and so that all children are looked at before anything is restarted. */
    for (int i = 0; i < sv->nchildren; i++) {
        sv_child_t *c = &sv->children[i];
        if (c->state == SV_STARTING || c->state == SV_RUNNING) reap(sv, c, now_ms);
    }
    if (sv->failed) return -ECHILD;
    for (int i = 0; i < sv->nchildren; i++) {
        sv_child_t *c = &sv->children[i];
        if (c->state == SV_BACKOFF && now_ms >= c->restart_at_ms) {
            c->restarts++;
            say(sv, "restarting %s (restart %d)", c->name, c->restarts);
            if (launch(sv, c, now_ms) < 0) return -ECHILD;
        }
        if (c->state != SV_STARTING) continue;
        if (now_ms - c->started_at_ms > sv->policy.start_timeout_ms) {
            char see[512];
            log_ref(c, see, sizeof(see));
            char probed[300] = "";
            if (c->probe_what) snprintf(probed, sizeof(probed), " (probed %s)", c->probe_what);
            fail(sv, c, "%s did not become ready within %lld s%s%s", c->name,
                 (long long)(sv->policy.start_timeout_ms / 1000), probed, see);
            say(sv, "%s (pid %d) did not become ready within %lld s%s", c->name, (int)c->pid,
                (long long)(sv->policy.start_timeout_ms / 1000), probed);
            sv_print_log_tail(sv->report, c->log_path, 10);
            return -ECHILD;
        }
        if (c->probe && c->probe(c->arg, c->pid) != 1) continue;
        /* It answered; but a child that exited meanwhile left the port to someone else. */
        if (reap(sv, c, now_ms)) {
            if (sv->failed) return -ECHILD;
            continue;
        }
        c->state = SV_RUNNING;
        c->ready_at_ms = now_ms;
        if (c->ever_ready) say(sv, "%s is back (pid %d)", c->name, (int)c->pid);
        c->ever_ready = true;
    }
    return sv->failed ? -ECHILD : 0;
}

bool sv_failed(const sv_t *sv)
{
    return sv->failed;
}

const char *sv_failure(const sv_t *sv)
{
    return sv->failed ? sv->failure : "";
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what a stop request wants */
}

int sv_wait_ready(sv_t *sv, int id, volatile sig_atomic_t *stop)
{
    if (id < 0 || id >= sv->nchildren) return -EINVAL;
    for (;;) {
        if (stop && *stop) return -EINTR;
        if (sv_tick(sv, sb_mono_ms()) < 0) return -ECHILD;
        if (sv->children[id].state == SV_RUNNING) return 0;
        if (sv->children[id].state == SV_STOPPED) return -ESRCH;
        sleep_ms(SV_TICK_MS);
    }
}

int sv_sleep(sv_t *sv, int64_t ms, volatile sig_atomic_t *stop)
{
    int64_t end = sb_mono_ms() + ms;
    for (;;) {
        if (stop && *stop) return -EINTR;
        if (sv_tick(sv, sb_mono_ms()) < 0) return -ECHILD;
        int64_t left = end - sb_mono_ms();
        if (left <= 0) return 0;
        sleep_ms(left < SV_TICK_MS ? left : SV_TICK_MS);
    }
}

void sv_stop_all(sv_t *sv)
{
    for (int i = sv->nchildren - 1; i >= 0; i--) {
        sv_child_t *c = &sv->children[i];
        if (c->pid <= 0) {
            c->state = SV_STOPPED;
            continue;
        }
        kill(c->pid, c->stop_signal);
        int64_t deadline = sb_mono_ms() + sv->policy.stop_timeout_ms;
        bool gone = false;
        while (!gone && sb_mono_ms() < deadline) {
            pid_t r = waitpid(c->pid, NULL, WNOHANG);
            if (r == c->pid || (r < 0 && errno == ECHILD))
                gone = true;
            else
                sleep_ms(20);
        }
        if (gone) {
            say(sv, "%s stopped", c->name);
        } else {
            kill(c->pid, SIGKILL);
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
            }
            say(sv, "%s killed after %lld s", c->name,
                (long long)(sv->policy.stop_timeout_ms / 1000));
        }
        c->pid = -1;
        c->state = SV_STOPPED;
    }
}

sv_state_t sv_child_state(const sv_t *sv, int id)
{
    return id >= 0 && id < sv->nchildren ? sv->children[id].state : SV_STOPPED;
}

pid_t sv_child_pid(const sv_t *sv, int id)
{
    return id >= 0 && id < sv->nchildren ? sv->children[id].pid : -1;
}

int sv_child_restarts(const sv_t *sv, int id)
{
    return id >= 0 && id < sv->nchildren ? sv->children[id].restarts : 0;
}
