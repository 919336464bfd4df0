/* Tests for the metrics registry: exposition text, handle identity, rejection of malformed
 * names, exact counts under concurrent updates, collectors, and promtool's verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "metrics/metrics.h"

static char *render(metrics_registry_t *reg)
{
    sb_wr_t w;
    sb_wr_init(&w, 0);
    assert_int_equal(metrics_render(reg, &w), 0);
    char *text = malloc(w.len + 1);
    if (w.len) memcpy(text, w.buf, w.len);
    text[w.len] = 0;
    sb_wr_deinit(&w);
    return text;
}

static void test_render_exposition_text(void **state)
{
    (void)state;
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_t *produce =
        metrics_counter(reg, "streambus_requests_total", "Requests handled, by API.", "api=\"Produce\"");
    metrics_counter_t *fetch =
        metrics_counter(reg, "streambus_requests_total", "ignored: first help wins", "api=\"Fetch\"");
    metrics_gauge_t *conns = metrics_gauge(reg, "streambus_connections", "Open client connections.\nNow.", NULL);
    metrics_gauge_t *ratio = metrics_gauge_f64(reg, "streambus_cache_hit_ratio", "Hit ratio.", "");
    const double bounds[] = {0.001, 0.1, 1};
    metrics_histogram_t *lat = metrics_histogram(reg, "streambus_request_seconds", "Latency \\ time.",
                                                 "api=\"Produce\"", bounds, 3);
    assert_non_null(produce);
    assert_non_null(fetch);
    assert_non_null(conns);
    assert_non_null(ratio);
    assert_non_null(lat);

    metrics_counter_add(produce, 41);
    metrics_counter_inc(produce);
    metrics_counter_add_f64(fetch, 0.5);
    metrics_counter_add_f64(fetch, -3); /* counters never go down */
    metrics_gauge_set(conns, 10);
    metrics_gauge_add(conns, -3);
    metrics_gauge_set_f64(ratio, 0.25);
    metrics_histogram_observe(lat, 0.0005);
    metrics_histogram_observe(lat, 0.001); /* upper bounds are inclusive */
    metrics_histogram_observe(lat, 0.5);
    metrics_histogram_observe(lat, 7);

    char *text = render(reg);
    const char *want = "# HELP streambus_requests_total Requests handled, by API.\n"
                             "# TYPE streambus_requests_total counter\n"
                             "streambus_requests_total{api=\"Produce\"} 42\n"
                             "streambus_requests_total{api=\"Fetch\"} 0.5\n"
                             "# HELP streambus_connections Open client connections.\\nNow.\n"
                             "# TYPE streambus_connections gauge\n"
                             "streambus_connections 7\n"
                             "# HELP streambus_cache_hit_ratio Hit ratio.\n"
                             "# TYPE streambus_cache_hit_ratio gauge\n"
                             "streambus_cache_hit_ratio 0.25\n"
                             "# HELP streambus_request_seconds Latency \\\\ time.\n"
                             "# TYPE streambus_request_seconds histogram\n"
                             "streambus_request_seconds_bucket{api=\"Produce\",le=\"0.001\"} 2\n"
                             "streambus_request_seconds_bucket{api=\"Produce\",le=\"0.1\"} 2\n"
                             "streambus_request_seconds_bucket{api=\"Produce\",le=\"1\"} 3\n"
                             "streambus_request_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 4\n"
                             "streambus_request_seconds_sum{api=\"Produce\"} 7.5015\n"
                             "streambus_request_seconds_count{api=\"Produce\"} 4\n";
    assert_string_equal(text, want);
    free(text);
    metrics_registry_free(reg);
}

static void test_same_name_and_labels_give_same_handle(void **state)
{
    (void)state;
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_t *a = metrics_counter(reg, "x_total", "X.", "k=\"v\"");
    assert_ptr_equal(a, metrics_counter(reg, "x_total", "X.", "k=\"v\""));
    assert_ptr_not_equal(a, metrics_counter(reg, "x_total", "X.", "k=\"w\""));
    metrics_counter_t *bare = metrics_counter(reg, "x_total", "X.", NULL);
    assert_ptr_equal(bare, metrics_counter(reg, "x_total", "X.", ""));

    /* One name, one type. */
    assert_null(metrics_gauge(reg, "x_total", "X.", NULL));
    const double b1[] = {1, 2}, b2[] = {1, 3};
    assert_non_null(metrics_histogram(reg, "h_seconds", "H.", NULL, b1, 2));
    assert_null(metrics_histogram(reg, "h_seconds", "H.", "a=\"b\"", b2, 2));

    /* Malformed input is refused rather than rendered into an unparseable scrape. */
    assert_null(metrics_counter(reg, "9starts_with_digit", "", NULL));
    assert_null(metrics_counter(reg, "has-dash", "", NULL));
    assert_null(metrics_counter(reg, "", "", NULL));
    assert_null(metrics_counter(reg, "ok_total", "", "k=v"));
    assert_null(metrics_counter(reg, "ok_total", "", "k=\"v\","));
    assert_null(metrics_counter(reg, "ok_total", "", "k=\"unterminated"));
    assert_null(metrics_counter(reg, "ok_total", "", "__reserved=\"v\""));
    assert_null(metrics_counter(reg, "ok_total", "", "k=\"bad \\x escape\""));
    assert_non_null(metrics_counter(reg, "ok_total", "", "k=\"quote \\\" and \\\\ ok\",k2=\"\""));
    assert_null(metrics_histogram(reg, "h2_seconds", "", "le=\"1\"", b1, 2));
    const double unsorted[] = {2, 1};
    assert_null(metrics_histogram(reg, "h3_seconds", "", NULL, unsorted, 2));
    assert_null(metrics_histogram(reg, "h4_seconds", "", NULL, b1, 0));
    metrics_registry_free(reg);
}

typedef struct hammer {
    metrics_counter_t *counter;
    metrics_gauge_t *gauge;
    metrics_gauge_t *fgauge;
    metrics_histogram_t *hist;
} hammer_t;

#define HAMMER_THREADS 4
#define HAMMER_ROUNDS 100000

static void *hammer_thread(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        metrics_counter_inc(h->counter);
        metrics_gauge_add(h->gauge, 2);
        metrics_gauge_add_f64(h->fgauge, 0.5);
        metrics_histogram_observe(h->hist, (i % 2) ? 0.0002 : 3.0);
    }
    return NULL;
}

static void test_concurrent_updates_are_not_lost(void **state)
{
    (void)state;
    metrics_registry_t *reg = metrics_registry_new();
    hammer_t h = {
        metrics_counter(reg, "hammer_total", "H.", NULL),
        metrics_gauge(reg, "hammer_gauge", "G.", NULL),
        metrics_gauge_f64(reg, "hammer_fgauge", "F.", NULL),
        metrics_histogram(reg, "hammer_seconds", "S.", NULL, METRICS_LATENCY_BUCKETS_SECONDS,
                          METRICS_LATENCY_BUCKETS_COUNT),
    };
    pthread_t t[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h), 0);
    for (int i = 0; i < HAMMER_THREADS; i++) pthread_join(t[i], NULL);

    const uint64_t n = (uint64_t)HAMMER_THREADS * HAMMER_ROUNDS;
    assert_true(metrics_counter_value(h.counter) == (double)n);
    assert_true(metrics_gauge_value(h.gauge) == (double)(2 * n));
    assert_true(metrics_gauge_value(h.fgauge) == (double)n / 2);
    assert_int_equal(metrics_histogram_count(h.hist), n);

    char *text = render(reg);
    char line[128];
    snprintf(line, sizeof(line), "\nhammer_total %llu\n", (unsigned long long)n);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "\nhammer_seconds_bucket{le=\"0.00025\"} %llu\n", (unsigned long long)n / 2);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "\nhammer_seconds_count %llu\n", (unsigned long long)n);
    assert_non_null(strstr(text, line));
    free(text);
    metrics_registry_free(reg);
}

typedef struct lag_source {
    int calls;
} lag_source_t;

static void render_lag(void *arg, sb_wr_t *out)
{
    lag_source_t *src = arg;
    src->calls++;
    metrics_write_family(out, "streambus_consumer_lag", "Messages not yet consumed.", METRICS_GAUGE);
    metrics_label_t l1[] = {{"group", "billing"}, {"topic", "orders \"eu\"\\x"}, {"partition", "0"}};
    metrics_write_sample_i64(out, "streambus_consumer_lag", l1, 3, 12);
    metrics_label_t l2[] = {{"group", "line\nbreak"}, {"topic", "orders"}, {"partition", "1"}};
    metrics_write_sample(out, "streambus_consumer_lag", l2, 3, 1.5);
}

static void test_collectors_render_at_scrape_time(void **state)
{
    (void)state;
    metrics_registry_t *reg = metrics_registry_new();
    lag_source_t src = {0};
    assert_int_equal(metrics_register_collector(reg, render_lag, &src), 0);
    char *text = render(reg);
    assert_string_equal(text,
                        "# HELP streambus_consumer_lag Messages not yet consumed.\n"
                        "# TYPE streambus_consumer_lag gauge\n"
                        "streambus_consumer_lag{group=\"billing\",topic=\"orders \\\"eu\\\"\\\\x\",partition=\"0\"} 12\n"
                        "streambus_consumer_lag{group=\"line\\nbreak\",topic=\"orders\",partition=\"1\"} 1.5\n");
    free(text);
    assert_int_equal(src.calls, 1);
    metrics_unregister_collector(reg, render_lag, &src);
    text = render(reg);
    assert_string_equal(text, "");
    free(text);
    assert_int_equal(src.calls, 1);
    metrics_registry_free(reg);
}

static void test_format_labels_escapes_values(void **state)
{
    (void)state;
    char buf[128];
    metrics_label_t labels[] = {{"topic", "a\"b\\c\nd"}, {"partition", "3"}};
    assert_int_equal(metrics_format_labels(buf, sizeof(buf), labels, 2), 0);
    assert_string_equal(buf, "topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"");
    /* The formatted text is accepted back as the labels of a metric. */
    metrics_registry_t *reg = metrics_registry_new();
    assert_non_null(metrics_counter(reg, "t_total", "T.", buf));
    metrics_registry_free(reg);
    assert_int_equal(metrics_format_labels(buf, 8, labels, 2), SB_ERANGE);
    metrics_label_t bad[] = {{"has space", "x"}};
    assert_int_equal(metrics_format_labels(buf, sizeof(buf), bad, 1), SB_EINVAL);
}

/* Feeds text to `promtool check metrics` and returns its exit status. */
static int promtool_check(const char *text)
{
    FILE *p = popen("/usr/bin/promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(p);
    fputs(text, p);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_promtool_accepts_the_exposition(void **state)
{
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0) skip();
    /* First make sure promtool does reject broken input, so that its "ok" below means something. */
    assert_int_not_equal(promtool_check("# TYPE broken counter\nbroken{le=\"1\" 1\n"), 0);

    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_add(metrics_counter(reg, "streambus_requests_total", "Requests.", "api=\"Produce\""), 3);
    metrics_counter_add(metrics_counter(reg, "streambus_requests_total", "Requests.", "api=\"Fetch\""), 5);
    metrics_gauge_set(metrics_gauge(reg, "streambus_connections", "Connections.", NULL), 2);
    metrics_gauge_set_f64(metrics_gauge_f64(reg, "streambus_uptime_seconds", "Uptime.", NULL), 1.25);
    metrics_histogram_t *h = metrics_histogram(reg, "streambus_request_duration_seconds", "Latency.",
                                               "api=\"Produce\"", METRICS_LATENCY_BUCKETS_SECONDS,
                                               METRICS_LATENCY_BUCKETS_COUNT);
    metrics_histogram_observe(h, 0.0003);
    metrics_histogram_observe(h, 20);
    metrics_histogram_t *sz = metrics_histogram(reg, "streambus_request_size_bytes", "Sizes.", NULL,
                                                METRICS_SIZE_BUCKETS_BYTES, METRICS_SIZE_BUCKETS_COUNT);
    metrics_histogram_observe(sz, 5000);
    lag_source_t src = {0};
    metrics_register_collector(reg, render_lag, &src);
    char *text = render(reg);
    int rc = promtool_check(text);
    if (rc != 0) fail_msg("promtool check metrics failed (%d) on:\n%s", rc, text);
    free(text);
    metrics_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exposition_text),
        cmocka_unit_test(test_same_name_and_labels_give_same_handle),
        cmocka_unit_test(test_concurrent_updates_are_not_lost),
        cmocka_unit_test(test_collectors_render_at_scrape_time),
        cmocka_unit_test(test_format_labels_escapes_values),
        cmocka_unit_test(test_promtool_accepts_the_exposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
