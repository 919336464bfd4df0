/* The data-directory lock (src/common/dir_lock.c): a second holder is refused with a message
 * naming the directory, the owner and its pid; the lock goes with its holder however that
 * ends (kill -9 included), so that a stale file never blocks a start; children that exec do
 * not keep it; the lock file's parser takes only what the lock writes. */
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
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/dir_lock.h"

typedef struct fixture {
    char dir[64];
    char lock_path[96];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sb-dirlock-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->lock_path, sizeof(f->lock_path), "%s/%s", f->dir, SB_DIR_LOCK_FILE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    unlink(f->lock_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void test_second_holder_is_refused_naming_the_first(void **state)
{
    fixture_t *f = *state;
    sb_dir_lock_t *first = NULL, *second = NULL;
    sb_err_t err = {0};
    assert_int_equal(sb_dir_lock_new(f->dir, "streambus up", &first, NULL, &err), 0);
    char text[128];
    read_file(f->lock_path, text, sizeof(text));
    char want[128];
    snprintf(want, sizeof(want), "%d\nstreambus up\n", (int)getpid());
    assert_string_equal(text, want);

    /* flock conflicts between two open file descriptions, also within one process. */
    pid_t holder = -1;
    assert_int_equal(sb_dir_lock_new(f->dir, "streambus broker", &second, &holder, &err),
                     SB_EEXIST);
    assert_null(second);
    assert_int_equal(holder, getpid());
    snprintf(want, sizeof(want), "data dir %s is in use by streambus up (pid %d)", f->dir,
             (int)getpid());
    assert_string_equal(err.msg, want);
    /* the refused one did not touch the holder's file */
    read_file(f->lock_path, text, sizeof(text));
    assert_non_null(strstr(text, "streambus up"));

    sb_dir_lock_free(first);
    assert_int_equal(sb_dir_lock_new(f->dir, "streambus broker", &second, NULL, &err), 0);
    read_file(f->lock_path, text, sizeof(text));
    assert_non_null(strstr(text, "streambus broker"));
    sb_dir_lock_free(second);
    sb_dir_lock_free(NULL);
}

/* A holder killed with -9 leaves its file (with its pid) behind, but not its lock. */
static void test_a_killed_holder_leaves_no_lock(void **state)
{
    fixture_t *f = *state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        sb_dir_lock_t *l = NULL;
        char ok = sb_dir_lock_new(f->dir, "doomed", &l, NULL, NULL) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1) _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    close(ready[0]);
    assert_int_equal(ok, 'y');

    sb_dir_lock_t *l = NULL;
    sb_err_t err = {0};
    pid_t holder = 0;
    assert_int_equal(sb_dir_lock_new(f->dir, "me", &l, &holder, &err), SB_EEXIST);
    assert_int_equal(holder, child);
    assert_non_null(strstr(err.msg, "in use by doomed"));

    kill(child, SIGKILL);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    char text[128];
    read_file(f->lock_path, text, sizeof(text));
    assert_non_null(strstr(text, "doomed")); /* the stale file is still there ... */
    assert_int_equal(sb_dir_lock_new(f->dir, "me", &l, NULL, &err), 0); /* ... and harmless */
    read_file(f->lock_path, text, sizeof(text));
    char want[64];
    snprintf(want, sizeof(want), "%d\nme\n", (int)getpid());
    assert_string_equal(text, want); /* rewritten whole, nothing of the longer old text left */
    sb_dir_lock_free(l);
}

/* A child that execs (a broker started by up, PostgreSQL) does not keep its parent's lock. */
static void test_a_child_that_execs_does_not_hold_the_lock(void **state)
{
    fixture_t *f = *state;
    sb_dir_lock_t *l = NULL;
    sb_err_t err = {0};
    assert_int_equal(sb_dir_lock_new(f->dir, "parent", &l, NULL, &err), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    /* Once the child has exec'd, its comm is "sleep". */
    for (int i = 0; i < 500; i++) {
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)child);
        FILE *fp = fopen(path, "r");
        if (fp) {
            if (!fgets(comm, sizeof(comm), fp)) comm[0] = '\0';
            fclose(fp);
        }
        if (strcmp(comm, "sleep\n") == 0) break;
        usleep(10000);
    }
    sb_dir_lock_free(l);
    l = NULL;
    int rc = sb_dir_lock_new(f->dir, "next", &l, NULL, &err);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(rc, 0);
    sb_dir_lock_free(l);
}

/* Locked by someone who has not written the file yet (or by a foreign tool): still refused. */
static void test_a_holder_that_has_not_written_is_still_a_holder(void **state)
{
    fixture_t *f = *state;
    int fd = open(f->lock_path, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    sb_dir_lock_t *l = NULL;
    sb_err_t err = {0};
    pid_t holder = -1;
    assert_int_equal(sb_dir_lock_new(f->dir, "me", &l, &holder, &err), SB_EEXIST);
    assert_int_equal(holder, 0);
    char want[256];
    snprintf(want, sizeof(want), "data dir %s is in use by another process (it holds %s/.lock)",
             f->dir, f->dir);
    assert_string_equal(err.msg, want);
    close(fd);
}

static void test_a_missing_dir_is_an_io_error_naming_the_file(void **state)
{
    fixture_t *f = *state;
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    sb_dir_lock_t *l = NULL;
    sb_err_t err = {0};
    assert_int_equal(sb_dir_lock_new(missing, "me", &l, NULL, &err), SB_EIO);
    assert_non_null(strstr(err.msg, "nope/.lock"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
}

/* A symlink planted as .lock is not followed (and the file it points to not truncated). */
static void test_a_symlinked_lock_file_is_refused(void **state)
{
    fixture_t *f = *state;
    char target[128];
    snprintf(target, sizeof(target), "%s/precious", f->dir);
    FILE *fp = fopen(target, "w");
    assert_non_null(fp);
    fputs("keep me\n", fp);
    fclose(fp);
    assert_int_equal(symlink(target, f->lock_path), 0);
    sb_dir_lock_t *l = NULL;
    sb_err_t err = {0};
    assert_int_equal(sb_dir_lock_new(f->dir, "me", &l, NULL, &err), SB_EIO);
    char text[64];
    read_file(target, text, sizeof(text));
    assert_string_equal(text, "keep me\n");
    unlink(target);
}

static void test_parse_takes_only_what_the_lock_writes(void **state)
{
    (void)state;
    pid_t pid = 0;
    char owner[16];
    assert_int_equal(sb_dir_lock_parse("42\nstreambus up\n", 16, &pid, owner, sizeof(owner)), 0);
    assert_int_equal(pid, 42);
    assert_string_equal(owner, "streambus up");
    /* a long owner is cut to the buffer */
    assert_int_equal(
        sb_dir_lock_parse("7\nabcdefghijklmnopqrstuvwxyz\n", 29, &pid, owner, sizeof(owner)), 0);
    assert_string_equal(owner, "abcdefghijklmno");
    static const char *bad[] = {
        "",                  /* not written yet */
        "42",                /* no newline */
        "42\nup",            /* owner not ended */
        "42\n\n",            /* no owner */
        "0\nup\n",           /* pid 0 */
        "-1\nup\n",          /* sign */
        "12345678901\nup\n", /* too many digits */
        "4294967297\nup\n",  /* above INT_MAX */
        "4x\nup\n",          /* not a number */
        "42\nu\x1b[2Jp\n",   /* a terminal escape in the owner */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sb_dir_lock_parse(bad[i], strlen(bad[i]), &pid, owner, sizeof(owner)),
                         SB_EINVAL);
    /* bounded by len, not by a NUL */
    assert_int_equal(sb_dir_lock_parse("42\nup\n", 5, &pid, owner, sizeof(owner)), SB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_holder_is_refused_naming_the_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_holder_leaves_no_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_child_that_execs_does_not_hold_the_lock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_holder_that_has_not_written_is_still_a_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_dir_is_an_io_error_naming_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_symlinked_lock_file_is_refused, setup, teardown),
        cmocka_unit_test(test_parse_takes_only_what_the_lock_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
