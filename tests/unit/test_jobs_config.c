/* Tests for the job orchestrator's configuration (src/jobs/jobs_config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/jobs_config.h"

static int load(jobs_config_t *c, const char *yaml, sb_err_t *err)
{
    jobs_config_defaults(c);
    return jobs_config_load_string(c, "jobs.yaml", yaml, strlen(yaml), err);
}

static void test_defaults(void **state)
{
    jobs_config_t c;
    jobs_config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8090");
    assert_string_equal(c.topic, "job.tasks");
    assert_int_equal(c.lease_ms, 30000);
    assert_false(c.shell_enabled);
    assert_int_equal(c.nusers, 0);
}

static void test_users_and_allow_list(void **state)
{
    jobs_config_t c;
    sb_err_t err = {0};
    assert_int_equal(load(&c,
                          "jobs:\n  lease_ms: 2000\nauth:\n  users:\n"
                          "    - {name: a, role: admin, password_hash: \"pbkdf2-sha256$1$x$y\"}\n"
                          "    - {name: v, role: viewer, password_hash: h}\n"
                          "executors:\n  shell_enabled: true\n  shell_allow: [/bin/echo, /bin/sh]\n",
                          &err),
                     0);
    assert_int_equal(c.lease_ms, 2000);
    assert_int_equal(c.nusers, 2);
    assert_string_equal(c.users[1].role, "viewer");
    assert_true(c.shell_enabled);
    assert_int_equal(c.nshell_allow, 2);
    assert_string_equal(c.shell_allow[1], "/bin/sh");
}

static void test_errors_name_key_and_line(void **state)
{
    jobs_config_t c;
    sb_err_t err = {0};
    assert_int_equal(load(&c, "jobs:\n  listen: x\n  leese_ms: 5\n", &err), SB_EINVAL);
    assert_string_equal(err.msg, "jobs.yaml:3: unknown key \"jobs.leese_ms\"");
    assert_int_equal(load(&c, "jobs:\n  lease_ms: soon\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "jobs.yaml:2: jobs.lease_ms"));
    assert_int_equal(load(&c, "auth:\n  users:\n    - {name: a, role: root, password_hash: h}\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "role viewer, operator or admin"));
    assert_int_equal(load(&c, "executors:\n  shell_allow: [sh]\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "absolute"));
    assert_int_equal(load(&c, "executors:\n  shell_enabled: yes please\n", &err), SB_EINVAL);
    assert_int_equal(jobs_config_set(&c, "auth.jwt_secret", "x", &err), SB_EINVAL); /* no secret in config */
}

static void test_job_log_ttl(void **state)
{
    jobs_config_t c;
    sb_err_t err = {0};
    jobs_config_defaults(&c);
    assert_int_equal(c.logs_ttl_days, 0); /* kept forever unless configured */
    assert_int_equal(c.logs_ttl_check_s, 3600);
    assert_int_equal(load(&c, "logs:\n  ttl_days: 30\n  ttl_check_s: 60\n", &err), 0);
    assert_int_equal(c.logs_ttl_days, 30);
    assert_int_equal(c.logs_ttl_check_s, 60);
    assert_int_equal(load(&c, "logs:\n  ttl_days: 0\n", &err), 0);
    assert_int_equal(load(&c, "logs:\n  ttl_days: -1\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "logs.ttl_days: \"-1\" is not a non-negative integer"));
    assert_int_equal(load(&c, "logs:\n  ttl_check_s: 0\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "is not a positive integer"));
}

static void test_worker_concurrency_bounds(void **state)
{
    jobs_config_t c;
    sb_err_t err = {0};
    jobs_config_defaults(&c);
    assert_int_equal(c.worker_concurrency, 1);
    assert_int_equal(load(&c, "jobs:\n  worker_concurrency: 256\n", &err), 0);
    assert_int_equal(c.worker_concurrency, 256);
    assert_int_equal(load(&c, "jobs:\n  worker_concurrency: 257\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "jobs.worker_concurrency: 257 is more than 256"));
    assert_int_equal(load(&c, "jobs:\n  worker_concurrency: 0\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "jobs.worker_concurrency: \"0\" is not a positive integer"));
}

static void test_queue_limits_and_smtp(void **state)
{
    jobs_config_t c;
    sb_err_t err = {0};
    assert_int_equal(load(&c,
                          "queues:\n  - {name: serial, concurrency: 1}\n  - {name: paced, rate_per_s: 0.5}\n"
                          "executors:\n  smtp_url: \"smtp://mail:587\"\n  smtp_from: a@b.c\n  smtp_require_tls: false\n",
                          &err),
                     0);
    assert_int_equal(c.nqueues, 2);
    assert_string_equal(c.queues[0].name, "serial");
    assert_int_equal(c.queues[0].concurrency, 1);
    assert_true(c.queues[1].rate_per_s == 0.5);
    assert_int_equal(c.queues[1].concurrency, 0);
    assert_string_equal(c.smtp_url, "smtp://mail:587");
    assert_false(c.smtp_require_tls);
    jobs_config_defaults(&c);
    assert_true(c.smtp_require_tls);
    assert_int_equal(c.api_connections, 4);
    assert_int_equal(load(&c, "queues:\n  - {name: q, concurrency: -1}\n", &err), SB_EINVAL);
    assert_string_equal(err.msg, "jobs.yaml:2: queues[0].concurrency: \"-1\" is not an integer 0-1000000");
    assert_int_equal(load(&c, "queues:\n  - {name: q}\n  - {name: q, rate_per_s: 1}\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "listed twice"));
    assert_int_equal(load(&c, "queues:\n  - {name: q, burst: 3}\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "unknown key \"burst\""));
    assert_int_equal(load(&c, "queues:\n  - {concurrency: 3}\n", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "needs a name"));
}

/* Errors in the lists name the item and field ("auth.users[1]", "queues[0].concurrency") with
 * the file and line, as scalar keys do; a value of the wrong type is refused by name, not
 * reported as a "malformed" item or an unknown key. */
static void test_list_errors_name_the_key_path(void **state)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"auth:\n  users:\n    - {name: a, role: admin, password_hash: h}\n    - {name: b, role: viewer, passwd: h}\n",
         "jobs.yaml:4: auth.users[1]: unknown key \"passwd\" (known: name, role, password_hash)"},
        {"queues:\n  - name: q\n    concurrency: [1]\n", "jobs.yaml:3: queues[0].concurrency: expected a value, not a list"},
        {"queues:\n  - name: q\n    concurrency: {max: 1}\n",
         "jobs.yaml:3: queues[0].concurrency: expected a value, not a mapping"},
        {"queues:\n  - {name: q}\n  - {name: r, concurrency: lots}\n",
         "jobs.yaml:3: queues[1].concurrency: \"lots\" is not an integer 0-1000000"},
        {"queues:\n  - {name: q}\n  - {name: q}\n", "jobs.yaml:3: queues[1]: \"q\" is listed twice (also queues[0])"},
        {"queues: 3\n", "jobs.yaml:1: queues: expected a list, not a value (write [] for none)"},
        {"auth:\n  users:\n", "jobs.yaml:2: auth.users: expected a list, not a null (write [] for none)"},
        {"auth:\n  users: [a]\n", "jobs.yaml:2: auth.users[0]: expected a mapping, not a value"},
        {"auth:\n  users:\n    - {name: a, name: b}\n", "jobs.yaml:3: duplicate key \"auth.users[0].name\" (first at line 3)"},
        {"executors:\n  shell_allow: [/bin/echo, sh]\n",
         "jobs.yaml:2: executors.shell_allow[1]: \"sh\" is not an absolute command path (at most 255 bytes)"},
        {"executors:\n  shell_allow:\n    - [/bin/sh]\n",
         "jobs.yaml:3: executors.shell_allow[0]: expected a value, not a list"},
        /* a user's fields are no longer cut silently to fit */
        {"auth:\n  users:\n    - {name: " "0123456789012345678901234567890123456789012345678901234567890123"
         ", role: admin, password_hash: h}\n",
         "jobs.yaml:3: auth.users[0].name: longer than 63 bytes"},
    };
    jobs_config_t c;
    sb_err_t err = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(load(&c, cases[i].yaml, &err), SB_EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
    }
    /* at most JOBS_MAX_USERS */
    char many[4096] = "auth:\n  users:\n";
    for (int i = 0; i <= JOBS_MAX_USERS; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "    - {name: u%d, role: viewer, password_hash: h}\n", i);
    assert_int_equal(load(&c, many, &err), SB_ELIMIT);
    assert_string_equal(err.msg, "jobs.yaml:35: auth.users[32]: more than 32 users");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_users_and_allow_list),
        cmocka_unit_test(test_errors_name_key_and_line),
        cmocka_unit_test(test_job_log_ttl),
        cmocka_unit_test(test_worker_concurrency_bounds),
        cmocka_unit_test(test_queue_limits_and_smtp),
        cmocka_unit_test(test_list_errors_name_the_key_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
