/* Tests for job states, retry backoff and submission validation (src/jobs/job.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "jobs/job.h"

static void test_state_names_roundtrip(void **state)
{
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        job_state_t back;
        assert_int_equal(job_state_parse(job_state_name((job_state_t)s), &back), 0);
        assert_int_equal(back, s);
    }
    job_state_t x;
    assert_int_equal(job_state_parse("running", &x), SB_EINVAL); /* names are upper case */
    assert_int_equal(job_state_parse(NULL, &x), SB_EINVAL);
}

static void test_transitions(void **state)
{
    /* the happy path and the retry loop */
    assert_true(job_transition_allowed(JOB_PENDING, JOB_QUEUED));
    assert_true(job_transition_allowed(JOB_QUEUED, JOB_RUNNING));
    assert_true(job_transition_allowed(JOB_RUNNING, JOB_COMPLETED));
    assert_true(job_transition_allowed(JOB_RUNNING, JOB_FAILED));
    assert_true(job_transition_allowed(JOB_FAILED, JOB_RETRYING));
    assert_true(job_transition_allowed(JOB_RETRYING, JOB_QUEUED));
    assert_true(job_transition_allowed(JOB_FAILED, JOB_DEAD_LETTER));
    assert_true(job_transition_allowed(JOB_DEAD_LETTER, JOB_PENDING));
    /* what must never happen */
    assert_false(job_transition_allowed(JOB_COMPLETED, JOB_RUNNING));
    assert_false(job_transition_allowed(JOB_COMPLETED, JOB_PENDING));
    assert_false(job_transition_allowed(JOB_PENDING, JOB_RUNNING)); /* never without a queue step */
    assert_false(job_transition_allowed(JOB_RUNNING, JOB_RETRYING)); /* a failure is always recorded */
    assert_false(job_transition_allowed(JOB_CANCELLED, JOB_RUNNING));
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        assert_false(job_transition_allowed(JOB_COMPLETED, (job_state_t)s));
        assert_int_equal(job_state_terminal((job_state_t)s),
                         s == JOB_COMPLETED || s == JOB_DEAD_LETTER || s == JOB_CANCELLED);
    }
}

static void test_backoff(void **state)
{
    /* equal jitter: [d/2, d) where d = base * 2^(attempt-1), capped */
    assert_int_equal(job_backoff_ms(1, 1000, 60000, 0.0), 500);
    assert_int_equal(job_backoff_ms(1, 1000, 60000, 0.999999), 999);
    assert_int_equal(job_backoff_ms(2, 1000, 60000, 0.0), 1000);
    assert_int_equal(job_backoff_ms(4, 1000, 60000, 0.5), 6000);
    assert_int_equal(job_backoff_ms(30, 1000, 60000, 0.0), 30000); /* capped, no overflow */
    assert_int_equal(job_backoff_ms(1000, 1000, 60000, 1.5), 59999);
    assert_int_equal(job_backoff_ms(0, 1000, 60000, 0.0), 500);
    for (int a = 1; a < 12; a++) assert_true(job_backoff_ms(a + 1, 100, 100000, 0.0) >= job_backoff_ms(a, 100, 100000, 0.0));
}

static void test_parse_time(void **state)
{
    int64_t ms;
    assert_int_equal(job_parse_time("1970-01-01T00:00:01Z", &ms), 0);
    assert_int_equal(ms, 1000);
    assert_int_equal(job_parse_time("2026-12-04T10:00:00.25Z", &ms), 0);
    assert_int_equal(ms % 1000, 250);
    assert_int_equal(job_parse_time("2026-12-04T10:00:00+00:00", &ms), 0);
    assert_int_equal(job_parse_time("2026-12-04T10:00:00+02:00", &ms), SB_EINVAL); /* UTC only, said so */
    assert_int_equal(job_parse_time("2026-13-04T10:00:00Z", &ms), SB_EINVAL);
    assert_int_equal(job_parse_time("tomorrow", &ms), SB_EINVAL);
    assert_int_equal(job_parse_time("2026-12-04", &ms), SB_EINVAL);
}

/* Parses text; returns the sorted-by-appearance field names of the errors joined by ','. */
static int parse(const char *text, job_spec_t *spec, char *fields, size_t cap)
{
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    json_t *errors = json_array();
    int rc = job_spec_parse(body, "", spec, errors);
    fields[0] = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (fields[0]) strncat(fields, ",", cap - strlen(fields) - 1);
        strncat(fields, json_string_value(json_object_get(e, "field")), cap - strlen(fields) - 1);
    }
    json_decref(errors);
    json_decref(body);
    return rc;
}

static void test_valid_job_with_defaults(void **state)
{
    job_spec_t s;
    char f[512];
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"HTTP\",\"payload\":{\"url\":\"http://x/\"}}", &s, f, sizeof(f)), 0);
    assert_string_equal(s.queue, "default");
    assert_int_equal(s.priority, 5);
    assert_int_equal(s.max_retries, 3);
    assert_int_equal(s.timeout_s, 300);
    assert_int_equal(s.ndeps, 0);
    assert_int_equal(s.run_at_ms, 0);
    job_spec_deinit(&s);
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"SQL\",\"priority\":10,\"maxRetries\":0,\"queue\":\"q\","
                           "\"dependsOn\":[3,4],\"idempotencyKey\":\"k\",\"runAt\":\"2030-01-01T00:00:00Z\","
                           "\"payload\":{\"statement\":\"SELECT $1\",\"params\":[1,\"a\",null,true]}}",
                           &s, f, sizeof(f)),
                     0);
    assert_int_equal(s.ndeps, 2);
    assert_int_equal(s.depends_on[1], 4);
    assert_int_equal(s.priority, 10);
    assert_string_equal(s.idempotency_key, "k");
    job_spec_deinit(&s);
    /* NOOP needs no payload (stored as {}); any other type does */
    assert_int_equal(parse("{\"name\":\"join\",\"type\":\"NOOP\",\"dependsOn\":[1,2]}", &s, f, sizeof(f)), 0);
    assert_true(json_is_object(s.payload));
    assert_int_equal(json_object_size(s.payload), 0);
    job_spec_deinit(&s);
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"SQL\"}", &s, f, sizeof(f)), SB_EINVAL);
    assert_string_equal(f, "payload");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"NOOP\",\"payload\":[1]}", &s, f, sizeof(f)), SB_EINVAL);
    assert_string_equal(f, "payload");
}

static void test_each_wrong_field_is_named(void **state)
{
    job_spec_t s;
    char f[512];
    assert_int_equal(parse("{\"type\":\"FTP\",\"priority\":11,\"maxRetries\":-1,\"timeoutSeconds\":0,"
                           "\"runAt\":\"soon\",\"dependsOn\":[0],\"payload\":{},\"extra\":1}",
                           &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "extra,name,type,priority,maxRetries,timeoutSeconds,runAt,dependsOn");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"HTTP\",\"payload\":{\"url\":\"file:///etc/passwd\","
                           "\"headers\":{\"X\":\"a\\r\\nInjected: 1\"},\"expectStatus\":99,\"body\":{}}}",
                           &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "payload.url,payload.headers,payload.body,payload.expectStatus");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"SHELL\",\"payload\":{\"command\":\"ls\",\"args\":[1]}}", &s, f,
                           sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "payload.command,payload.args");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"SQL\",\"payload\":{\"params\":[{}]}}", &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "payload.statement,payload.params");
    assert_int_equal(parse("{\"name\":\"\",\"type\":\"SQL\",\"payload\":\"x\"}", &s, f, sizeof(f)), SB_EINVAL);
    assert_string_equal(f, "name,payload");
    assert_int_equal(parse("[1]", &s, f, sizeof(f)), SB_EINVAL);
}

static void test_cron_and_email_fields(void **state)
{
    job_spec_t s;
    char f[512];
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"HTTP\",\"cron\":\"*/5 * * * *\",\"timeZone\":\"Europe/Berlin\","
                           "\"payload\":{\"url\":\"http://x/\"}}",
                           &s, f, sizeof(f)),
                     0);
    assert_string_equal(s.cron, "*/5 * * * *");
    assert_string_equal(s.time_zone, "Europe/Berlin");
    /* the first tick: 2026-12-04T21:07Z is 22:07 in Berlin, so 22:10 (21:10Z) */
    json_t *errors = json_array();
    assert_int_equal(job_spec_schedule(&s, 1796418000000LL + 7 * 60000, "", errors), 0);
    assert_int_equal(s.run_at_ms, 1796418000000LL + 10 * 60000);
    job_spec_deinit(&s);
    /* an unknown zone is a wrong timeZone field */
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"HTTP\",\"cron\":\"0 3 * * *\",\"timeZone\":\"Nowhere/City\","
                           "\"payload\":{\"url\":\"http://x/\"}}",
                           &s, f, sizeof(f)),
                     0);
    assert_int_equal(job_spec_schedule(&s, 1796418000000LL, "jobs[2].", errors), SB_EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "field")), "jobs[2].timeZone");
    job_spec_deinit(&s);
    json_decref(errors);
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"HTTP\",\"cron\":\"* * *\",\"dependsOn\":[1],"
                           "\"payload\":{\"url\":\"http://x/\"}}",
                           &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "cron,dependsOn");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"HTTP\",\"timeZone\":\"UTC\",\"payload\":{\"url\":\"http://x/\"}}",
                           &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "timeZone");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"EMAIL\",\"payload\":{\"to\":[\"a@b.c\"],\"subject\":\"s\","
                           "\"body\":\"b\"}}",
                           &s, f, sizeof(f)),
                     0);
    job_spec_deinit(&s);
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"EMAIL\",\"payload\":{\"to\":[\"a@b.c>\\r\\nDATA\"],"
                           "\"subject\":\"x\\r\\nBcc: z@z\"}}",
                           &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "payload.to,payload.subject,payload.body");
    assert_int_equal(parse("{\"name\":\"n\",\"type\":\"EMAIL\",\"payload\":{\"to\":[],\"subject\":\"s\",\"body\":\"b\"}}",
                           &s, f, sizeof(f)),
                     SB_EINVAL);
    assert_string_equal(f, "payload.to");
}

static void test_batch_prefix(void **state)
{
    json_t *errors = json_array();
    job_spec_t s;
    json_t *body = json_pack("{s:s}", "name", "x");
    assert_int_equal(job_spec_parse(body, "jobs[7].", &s, errors), SB_EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "field")), "jobs[7].type");
    json_decref(body);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names_roundtrip), cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_backoff),               cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_valid_job_with_defaults), cmocka_unit_test(test_each_wrong_field_is_named),
        cmocka_unit_test(test_batch_prefix),          cmocka_unit_test(test_cron_and_email_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
