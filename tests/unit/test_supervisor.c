/* The supervisor core of `streambus up` (src/up/supervisor.c) with real child processes
 * (/bin/sh, sleep) and a clock the test moves: backoff sequence, the crash-loop window, the
 * state machine, which death is noticed in which phase, stop order; the log tail; and the
 * stale postmaster.pid check of src/up/stack.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "up/stack.h"
#include "up/supervisor.h"

typedef struct tchild {
    const char *argv[6];
    char log[256];
    int ready; /* what the probe answers */
} tchild_t;

static int tstart(void *arg, pid_t *out)
{
    tchild_t *t = arg;
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(t->argv[0], (char *const *)t->argv);
        _exit(127);
    }
    *out = pid;
    return 0;
}

static int tprobe(void *arg, pid_t pid)
{
    (void)pid;
    return ((tchild_t *)arg)->ready;
}

typedef struct fixture {
    char dir[64];
    char *report_buf;
    size_t report_len;
    FILE *report;
    sv_policy_t policy;
    sv_t *sv;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sv_test_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    f->report = open_memstream(&f->report_buf, &f->report_len);
    sv_policy_default(&f->policy);
    f->policy.backoff_initial_ms = 100;
    f->policy.backoff_max_ms = 400;
    f->policy.crash_limit = 3;
    f->policy.crash_window_ms = 10000;
    f->policy.start_timeout_ms = 5000;
    f->policy.stop_timeout_ms = 2000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->sv) sv_stop_all(f->sv);
    sv_free(f->sv);
    fclose(f->report);
    free(f->report_buf);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) {
    }
    free(f);
    return 0;
}

static const char *report(fixture_t *f)
{
    fflush(f->report);
    return f->report_buf ? f->report_buf : "";
}

static void make_sv(fixture_t *f)
{
    assert_int_equal(sv_new(&f->policy, f->report, &f->sv), 0);
}

static int add_child(fixture_t *f, tchild_t *t, const char *name, bool probe)
{
    snprintf(t->log, sizeof(t->log), "%s/%s.log", f->dir, name);
    sv_child_spec_t spec = {.name = name,
                            .log_path = t->log,
                            .start = tstart,
                            .probe = probe ? tprobe : NULL,
                            .arg = t};
    int id = -1;
    assert_int_equal(sv_add(f->sv, &spec, &id), 0);
    return id;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ticks at the fixed (test) time now until child id is in state want; real waiting is only for
 * the process to exit. */
static int tick_until(fixture_t *f, int id, sv_state_t want, int64_t now)
{
    int rc = 0;
    for (int i = 0; i < 500 && sv_child_state(f->sv, id) != want; i++) {
        rc = sv_tick(f->sv, now);
        if (sv_child_state(f->sv, id) != want) sleep_ms(10);
    }
    assert_string_equal(sv_state_name(sv_child_state(f->sv, id)), sv_state_name(want));
    return rc;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

static void test_backoff_doubles_up_to_its_cap(void **state)
{
    (void)state;
    sv_policy_t p;
    sv_policy_default(&p);
    const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (int n = 1; n <= 7; n++)
        assert_int_equal(sv_backoff_ms(&p, n), want[n - 1]);
    p.backoff_initial_ms = 0;
    assert_int_equal(sv_backoff_ms(&p, 5), 0);
    p.backoff_initial_ms = 100;
    p.backoff_max_ms = 250;
    assert_int_equal(sv_backoff_ms(&p, 2), 200);
    assert_int_equal(sv_backoff_ms(&p, 3), 250);
    assert_int_equal(sv_backoff_ms(&p, 60), 250); /* no overflow for a long crash history */
}

static void test_policy_is_checked(void **state)
{
    fixture_t *f = *state;
    sv_t *sv = NULL;
    f->policy.crash_limit = 0;
    assert_int_equal(sv_new(&f->policy, f->report, &sv), -EINVAL);
    f->policy.crash_limit = 65;
    assert_int_equal(sv_new(&f->policy, f->report, &sv), -EINVAL);
    f->policy.crash_limit = 5;
    f->policy.backoff_max_ms = 10;
    assert_int_equal(sv_new(&f->policy, f->report, &sv), -EINVAL);
    assert_null(sv);
}

/* A child that never became ready is a start failure: the stack stops at once, naming the
 * child, its exit status and its log, with the log's end on the report. */
static void test_exit_while_starting_stops_the_stack_without_restart(void **state)
{
    fixture_t *f = *state;
    make_sv(f);
    tchild_t t = {.argv = {"/bin/sh", "-c", "echo 'fatal: no such directory' >&2; exit 3", NULL}};
    int id = add_child(f, &t, "broker", true);
    assert_int_equal(sv_start(f->sv, id, 0), 0);
    assert_int_equal(tick_until(f, id, SV_FAILED, 0), -ECHILD);
    assert_true(sv_failed(f->sv));
    assert_non_null(strstr(sv_failure(f->sv), "broker exited while starting (exit status 3)"));
    assert_non_null(strstr(sv_failure(f->sv), t.log));
    assert_non_null(strstr(report(f), "fatal: no such directory"));
    assert_null(strstr(report(f), "restarting"));
    assert_int_equal(sv_child_restarts(f->sv, id), 0);
    /* Failed stays failed: later ticks do not restart anything. */
    assert_int_equal(sv_tick(f->sv, 100000), -ECHILD);
    assert_int_equal(sv_child_restarts(f->sv, id), 0);
}

/* Ready, killed, restarted after 100, 200 ms; the third exit within the window stops the
 * stack with a message naming the child and its log. */
static void test_restart_with_backoff_then_crash_loop(void **state)
{
    fixture_t *f = *state;
    make_sv(f);
    tchild_t t = {.argv = {"/bin/sleep", "30", NULL}};
    int id = add_child(f, &t, "broker", false);
    assert_int_equal(sv_start(f->sv, id, 0), 0);
    assert_int_equal(sv_tick(f->sv, 0), 0);
    assert_int_equal(sv_child_state(f->sv, id), SV_RUNNING);

    pid_t first = sv_child_pid(f->sv, id);
    sleep_ms(100); /* the child has opened its log by then */
    kill(first, SIGKILL);
    assert_int_equal(tick_until(f, id, SV_BACKOFF, 1000), 0);
    assert_non_null(strstr(report(f), "broker (pid"));
    assert_non_null(strstr(report(f), "killed by signal 9"));
    assert_non_null(strstr(report(f), "restarting it in 0.1 s"));
    assert_non_null(strstr(report(f), "--- last lines of"));
    /* Not before its time. */
    assert_int_equal(sv_tick(f->sv, 1099), 0);
    assert_int_equal(sv_child_state(f->sv, id), SV_BACKOFF);
    assert_int_equal(sv_tick(f->sv, 1100), 0);
    assert_int_equal(sv_child_state(f->sv, id), SV_RUNNING); /* no probe: ready when started */
    assert_int_equal(sv_child_restarts(f->sv, id), 1);
    pid_t second = sv_child_pid(f->sv, id);
    assert_true(second > 0 && second != first);
    assert_false(alive(first));

    kill(second, SIGKILL);
    assert_int_equal(tick_until(f, id, SV_BACKOFF, 2000), 0);
    assert_non_null(strstr(report(f), "restarting it in 0.2 s"));
    assert_int_equal(sv_tick(f->sv, 2200), 0);
    assert_int_equal(sv_child_restarts(f->sv, id), 2);

    kill(sv_child_pid(f->sv, id), SIGKILL);
    assert_int_equal(tick_until(f, id, SV_FAILED, 3000), -ECHILD);
    assert_non_null(strstr(sv_failure(f->sv), "broker exited 3 times within 10 s"));
    assert_non_null(strstr(sv_failure(f->sv), t.log));
    assert_int_equal(sv_child_restarts(f->sv, id), 2);
    assert_int_equal(sv_child_pid(f->sv, id), -1);
}

/* Exits further apart than the window never add up to a crash loop, and a child that ran a
 * whole window before exiting starts its backoff over. */
static void test_old_exits_leave_the_window(void **state)
{
    fixture_t *f = *state;
    f->policy.crash_limit = 2;
    f->policy.crash_window_ms = 1000;
    make_sv(f);
    tchild_t t = {.argv = {"/bin/sh", "-c", "sleep 30; exit 0", NULL}};
    int id = add_child(f, &t, "connect", false);
    assert_int_equal(sv_start(f->sv, id, 0), 0);
    int64_t now = 0;
    assert_int_equal(sv_tick(f->sv, now), 0);
    for (int round = 1; round <= 4; round++) {
        now += 1500; /* ran 1.5 windows since it was ready */
        kill(sv_child_pid(f->sv, id), SIGTERM);
        assert_int_equal(tick_until(f, id, SV_BACKOFF, now), 0);
        now += 100;
        assert_int_equal(sv_tick(f->sv, now), 0);
        assert_int_equal(sv_child_state(f->sv, id), SV_RUNNING);
    }
    assert_false(sv_failed(f->sv));
    assert_int_equal(sv_child_restarts(f->sv, id), 4);
    /* Every restart was the first of a fresh series: 0.1 s each time, never 0.2 s. */
    assert_null(strstr(report(f), "restarting it in 0.2 s"));
    assert_non_null(strstr(report(f), "killed by signal 15"));
}

/* One child dies while another is still starting (not yet answering its probe): the dead one
 * is reported and restarted at once, the starting one keeps starting; then the starting one
 * dies before it was ever ready, which stops the stack. */
static void test_death_noticed_while_another_child_starts(void **state)
{
    fixture_t *f = *state;
    f->policy.backoff_initial_ms = 50;
    make_sv(f);
    tchild_t a = {.argv = {"/bin/sleep", "30", NULL}};
    tchild_t b = {.argv = {"/bin/sleep", "30", NULL}, .ready = 0};
    int ida = add_child(f, &a, "the broker", false);
    int idb = add_child(f, &b, "connect", true);
    /* sv_sleep and sv_wait_ready run on the real clock, so this test does too. */
    assert_int_equal(sv_start(f->sv, ida, sb_mono_ms()), 0);
    assert_int_equal(sv_tick(f->sv, sb_mono_ms()), 0);
    assert_int_equal(sv_start(f->sv, idb, sb_mono_ms()), 0);
    assert_int_equal(sv_tick(f->sv, sb_mono_ms()), 0);
    assert_int_equal(sv_child_state(f->sv, idb), SV_STARTING);

    kill(sv_child_pid(f->sv, ida), SIGKILL);
    /* sv_wait_ready for connect would run exactly these ticks. Real time: the exit, the 50 ms
     * backoff and the restart take a few ticks (more on a loaded machine). */
    volatile sig_atomic_t stop = 0;
    for (int i = 0;
         i < 50 && (sv_child_restarts(f->sv, ida) == 0 || sv_child_state(f->sv, ida) != SV_RUNNING);
         i++)
        assert_int_equal(sv_sleep(f->sv, 100, &stop), 0);
    assert_non_null(strstr(report(f), "the broker (pid"));
    assert_non_null(strstr(report(f), "restarting the broker (restart 1)"));
    assert_int_equal(sv_child_state(f->sv, ida), SV_RUNNING);
    assert_int_equal(sv_child_state(f->sv, idb), SV_STARTING);

    kill(sv_child_pid(f->sv, idb), SIGKILL);
    assert_int_equal(sv_wait_ready(f->sv, idb, &stop), -ECHILD);
    assert_non_null(strstr(sv_failure(f->sv), "connect exited while starting (killed by signal 9"));
}

/* sv_wait_ready answers once the probe does; a stop request ends it. */
static void test_wait_ready_and_stop_request(void **state)
{
    fixture_t *f = *state;
    make_sv(f);
    tchild_t t = {.argv = {"/bin/sleep", "30", NULL}, .ready = 1};
    int id = add_child(f, &t, "PostgreSQL", true);
    volatile sig_atomic_t stop = 0;
    assert_int_equal(sv_start(f->sv, id, sb_mono_ms()), 0);
    assert_int_equal(sv_wait_ready(f->sv, id, &stop), 0);
    assert_int_equal(sv_child_state(f->sv, id), SV_RUNNING);
    stop = 1;
    assert_int_equal(sv_sleep(f->sv, 10000, &stop), -EINTR);
}

static void test_start_timeout(void **state)
{
    fixture_t *f = *state;
    make_sv(f);
    tchild_t t = {.argv = {"/bin/sleep", "30", NULL}, .ready = 0};
    snprintf(t.log, sizeof(t.log), "%s/connect.log", f->dir);
    /* The message names what was probed: when the child listens elsewhere, that shows. */
    sv_child_spec_t spec = {.name = "connect",
                            .log_path = t.log,
                            .start = tstart,
                            .probe = tprobe,
                            .probe_what = "http://127.0.0.1:18083/connectors",
                            .arg = &t};
    int id = -1;
    assert_int_equal(sv_add(f->sv, &spec, &id), 0);
    assert_int_equal(sv_start(f->sv, id, 0), 0);
    assert_int_equal(sv_tick(f->sv, 5000), 0);
    assert_int_equal(sv_tick(f->sv, 5001), -ECHILD);
    assert_non_null(strstr(sv_failure(f->sv), "connect did not become ready within 5 s (probed "
                                              "http://127.0.0.1:18083/connectors)"));
    assert_non_null(strstr(report(f), "did not become ready within 5 s (probed "
                                      "http://127.0.0.1:18083/connectors)"));
    /* Still running: stopping it is sv_stop_all's job. */
    pid_t pid = sv_child_pid(f->sv, id);
    assert_true(alive(pid));
    sv_stop_all(f->sv);
    assert_false(alive(pid));
}

/* Stop in reverse order of start; a child that ignores its stop signal is killed. */
static void test_stop_all_in_reverse_order(void **state)
{
    fixture_t *f = *state;
    f->policy.stop_timeout_ms = 300;
    make_sv(f);
    tchild_t a = {.argv = {"/bin/sleep", "30", NULL}};
    tchild_t b = {.argv = {"/bin/sh", "-c", "trap '' TERM; exec sleep 30", NULL}};
    tchild_t c = {.argv = {"/bin/sleep", "30", NULL}};
    int ida = add_child(f, &a, "first", false);
    int idb = add_child(f, &b, "second", false);
    int idc = add_child(f, &c, "third", false);
    pid_t pids[3];
    int ids[3] = {ida, idb, idc};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sv_start(f->sv, ids[i], 0), 0);
        pids[i] = sv_child_pid(f->sv, ids[i]);
    }
    assert_int_equal(sv_tick(f->sv, 0), 0);
    sleep_ms(100); /* let sh install its trap */
    sv_stop_all(f->sv);
    const char *r = report(f);
    const char *p3 = strstr(r, "third stopped"), *p2 = strstr(r, "second killed after"),
               *p1 = strstr(r, "first stopped");
    assert_non_null(p3);
    assert_non_null(p2);
    assert_non_null(p1);
    assert_true(p3 < p2 && p2 < p1);
    for (int i = 0; i < 3; i++) {
        assert_false(alive(pids[i]));
        assert_int_equal(sv_child_state(f->sv, ids[i]), SV_STOPPED);
    }
}

static void test_log_tail_shows_the_last_lines_cut_to_a_bound(void **state)
{
    fixture_t *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/x.log", f->dir);
    FILE *w = fopen(path, "w");
    for (int i = 1; i <= 20; i++)
        fprintf(w, "line %d\n", i);
    for (int i = 0; i < 5000; i++)
        fputc('x', w);
    fputs("\nlast line without newline", w);
    fclose(w);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    sv_print_log_tail(out, path, 4);
    fclose(out);
    /* lines 19, 20, the long one (cut), the last */
    assert_non_null(strstr(buf, "--- last lines of "));
    assert_null(strstr(buf, "line 18\n"));
    assert_non_null(strstr(buf, "line 19\nline 20\nxxx"));
    assert_non_null(strstr(buf, "x\nlast line without newline\n---\n"));
    assert_true(len < 4 * 420 + 200);
    free(buf);
    /* A log that does not exist prints nothing. */
    buf = NULL;
    out = open_memstream(&buf, &len);
    sv_print_log_tail(out, "/nonexistent/x.log", 10);
    fclose(out);
    assert_int_equal(len, 0);
    free(buf);
}

static void write_pidfile(const char *dir, long pid)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
    FILE *w = fopen(path, "w");
    fprintf(w, "%ld\n/some/data\n1700000000\n5433\n\n127.0.0.1\n  5433001    32768\nready   \n",
            pid);
    fclose(w);
}

static bool pidfile_exists(const char *dir)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
    return access(path, F_OK) == 0;
}

/* After a power loss the pid in postmaster.pid may belong to some other process: PostgreSQL
 * would refuse to start, so the file goes. A dead pid is left to PostgreSQL. */
static void test_stale_postmaster_pid(void **state)
{
    fixture_t *f = *state;
    /* The pid of a live process that is not PostgreSQL: this test itself. */
    write_pidfile(f->dir, (long)getpid());
    assert_int_equal(up_pg_clear_stale_pid(f->dir, f->report), 1);
    assert_false(pidfile_exists(f->dir));
    assert_non_null(strstr(report(f), "removed the stale"));

    /* A dead pid: left for PostgreSQL, which checks it itself. */
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    write_pidfile(f->dir, (long)child);
    assert_int_equal(up_pg_clear_stale_pid(f->dir, f->report), 0);
    assert_true(pidfile_exists(f->dir));

    /* Not a pid at all: PostgreSQL's to judge. */
    char path[128];
    snprintf(path, sizeof(path), "%s/postmaster.pid", f->dir);
    FILE *w = fopen(path, "w");
    fputs("12ab\n", w);
    fclose(w);
    assert_int_equal(up_pg_clear_stale_pid(f->dir, f->report), 0);
    assert_true(pidfile_exists(f->dir));

    /* No file: nothing to do. */
    unlink(path);
    assert_int_equal(up_pg_clear_stale_pid(f->dir, f->report), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_up_to_its_cap),
        cmocka_unit_test_setup_teardown(test_policy_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_while_starting_stops_the_stack_without_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_with_backoff_then_crash_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_exits_leave_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_death_noticed_while_another_child_starts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wait_ready_and_stop_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_all_in_reverse_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_tail_shows_the_last_lines_cut_to_a_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_postmaster_pid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
