#ifndef STREAMBUS_UP_SUPERVISOR_H
#define STREAMBUS_UP_SUPERVISOR_H

/* A small process supervisor: the part of `streambus up` that knows nothing of brokers or
 * databases. It starts children in the order they were added, waits for each to answer its
 * readiness probe, notices a child that exits in any phase, reports it with the tail of its log
 * and restarts it with exponential backoff; a child that exits too often (crash_limit exits
 * within crash_window_ms) stops the stack. It stops children in reverse order.
 *
 * The policy (backoff sequence, crash-loop window) is pure arithmetic on times passed in, so it
 * is unit-testable without waiting; sv_tick() takes the current time for the same reason.
 *
 * Single-threaded: every function is called from the one thread that runs the stack. Children
 * are reaped only by pid (waitpid(pid, WNOHANG)), so other children of the process (a psql run
 * meanwhile) are left alone. */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct sv_policy {
    int64_t backoff_initial_ms; /* delay before the first restart (default 1000) */
    int64_t backoff_max_ms;     /* cap of the doubling delay (default 30000) */
    int crash_limit;            /* this many exits ... (default 5) */
    int64_t crash_window_ms;    /* ... within this window stop the stack (default 60000) */
    int64_t start_timeout_ms;   /* a (re)started child must be ready within this (default 60000) */
    int64_t stop_timeout_ms;    /* after its stop signal, SIGKILL after this (default 30000) */
} sv_policy_t;

void sv_policy_default(sv_policy_t *p);

/* The delay before restart number n (1 = the first restart after an exit): initial, 2x, 4x, ...
 * capped at backoff_max_ms. */
int64_t sv_backoff_ms(const sv_policy_t *p, int n);

typedef enum {
    SV_STOPPED = 0, /* not started yet, or stopped by sv_stop_all */
    SV_STARTING,    /* running, not yet answering its probe */
    SV_RUNNING,     /* answered its probe: ready */
    SV_BACKOFF,     /* exited; waits for its restart time */
    SV_FAILED,      /* exited while first starting, or crash-looped: the stack stops */
} sv_state_t;

const char *sv_state_name(sv_state_t s);

typedef struct sv_child_spec {
    const char *name;     /* as said in messages: "the broker", "connect", "PostgreSQL" */
    const char *log_path; /* whose tail is shown when the child exits; may be NULL */
    /* Starts the child process; 0 with *pid set, or a negative errno. */
    int (*start)(void *arg, pid_t *pid);
    /* 1 when the child is ready, 0 not yet. NULL: ready as soon as started. Called only while
     * the child is alive and ours; should answer within about a second. */
    int (*probe)(void *arg, pid_t pid);
    /* What the probe checks, for the start-timeout message ("127.0.0.1:9092 and
     * http://127.0.0.1:8080/health/ready"): a timeout that names the port it waited on shows
     * at once when the child listens elsewhere. May be NULL. */
    const char *probe_what;
    void *arg;
    int stop_signal; /* 0 = SIGTERM (PostgreSQL wants SIGINT: "fast" shutdown) */
} sv_child_spec_t;

typedef struct sv sv_t;

/* report: where exits, restarts and stops are told (borrowed; typically stderr). */
int sv_new(const sv_policy_t *policy, FILE *report, sv_t **out);
void sv_free(sv_t *sv);

/* Adds a child (not started); the spec's strings are copied. *id is its handle. */
int sv_add(sv_t *sv, const sv_child_spec_t *spec, int *id);

/* Starts child id for the first time. Whether it became ready is told by sv_tick/sv_wait_ready. */
int sv_start(sv_t *sv, int id, int64_t now_ms);

/* One step at time now_ms: reaps children that exited (each reported at once with the tail of
 * its log), decides restart or failure, restarts children whose backoff has passed, probes
 * starting children. Returns 0 while the stack may go on, -ECHILD once a child has failed
 * (sv_failure() says which and why). */
int sv_tick(sv_t *sv, int64_t now_ms);

/* Whether the stack must stop, and the one-line reason ("the broker exited 5 times within 60 s;
 * see /data/broker.log"). */
bool sv_failed(const sv_t *sv);
const char *sv_failure(const sv_t *sv);

/* Ticks (real time, every 100 ms) until child id is ready: 0; -ECHILD when a child failed;
 * -ETIMEDOUT after start_timeout_ms; -EINTR when *stop became non-zero. Every child is
 * watched meanwhile, not only the one awaited. */
int sv_wait_ready(sv_t *sv, int id, volatile sig_atomic_t *stop);

/* Ticks (real time) for ms milliseconds or until *stop or a failure: 0, -EINTR or -ECHILD. */
int sv_sleep(sv_t *sv, int64_t ms, volatile sig_atomic_t *stop);

/* Stops every live child in reverse order of sv_add: its stop signal, then SIGKILL after
 * stop_timeout_ms; tells "<name> stopped" for each. */
void sv_stop_all(sv_t *sv);

sv_state_t sv_child_state(const sv_t *sv, int id);
pid_t sv_child_pid(const sv_t *sv, int id);
int sv_child_restarts(const sv_t *sv, int id);

/* Writes the last `lines` lines of path to out (at most 64, each cut at 400 bytes), between
 * "--- last lines of PATH ---" and "---". Nothing when the file cannot be read. */
void sv_print_log_tail(FILE *out, const char *path, int lines);

/* "exit status 3" / "killed by signal 9 (Killed)" for a waitpid status. */
void sv_describe_status(int status, char *buf, size_t cap);

#endif
