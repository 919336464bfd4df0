/* The topic-config table and its validation: what AlterConfigs, CreateTopics and the .topics
 * files accept, and the messages that name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker/topic_config.h"

static int check(const char *key, const char *value, char *why, size_t cap)
{
    const tcfg_def_t *d = tcfg_find(key);
    assert_non_null(d);
    return tcfg_validate(d, key, value, why, cap);
}

static void test_values_are_checked_by_type_and_range(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(check("retention.ms", "-1", why, sizeof(why)), 0);
    assert_int_equal(check("retention.ms", "abc", why, sizeof(why)), -1);
    assert_string_equal(
        why, "Invalid value abc for configuration retention.ms: Not a number of type LONG");
    assert_int_equal(check("retention.ms", "-2", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "retention.ms"));
    assert_int_equal(check("retention.ms", "12x", why, sizeof(why)), -1);
    assert_int_equal(check("retention.ms", "", why, sizeof(why)), -1);
    assert_int_equal(check("retention.ms", "99999999999999999999", why, sizeof(why)), -1);
    assert_int_equal(check("segment.bytes", "1023", why, sizeof(why)), -1);
    assert_int_equal(check("segment.bytes", "2147483648", why, sizeof(why)), -1);
    assert_int_equal(check("segment.bytes", "1024", why, sizeof(why)), 0);
    assert_int_equal(check("preallocate", "yes", why, sizeof(why)), -1);
    assert_int_equal(check("preallocate", "true", why, sizeof(why)), 0);
    assert_int_equal(check("min.cleanable.dirty.ratio", "0.7", why, sizeof(why)), 0);
    assert_int_equal(check("min.cleanable.dirty.ratio", "1.5", why, sizeof(why)), -1);
    assert_int_equal(check("compression.type", "zstd", why, sizeof(why)), 0);
    assert_int_equal(check("compression.type", "brotli", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "gzip"));
    assert_int_equal(check("cleanup.policy", "compact,delete", why, sizeof(why)), 0);
    assert_int_equal(check("cleanup.policy", "compact,,delete", why, sizeof(why)), -1);
    assert_int_equal(check("cleanup.policy", "", why, sizeof(why)), -1);
    assert_int_equal(check("message.format.version", "0.10.0.0", why, sizeof(why)), 0);
    assert_int_equal(check("leader.replication.throttled.replicas", "", why, sizeof(why)), 0);
    /* Values live one per line in key=value files: no line breaks, bounded length. */
    assert_int_equal(check("message.format.version", "1\nretention.ms=1", why, sizeof(why)), -1);
    char big[TCFG_VALUE_MAX + 2];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(check("message.format.version", big, why, sizeof(why)), -1);
    assert_int_equal(check("retention.ms", NULL, why, sizeof(why)), -1);
}

static void test_names(void **state)
{
    (void)state;
    assert_null(tcfg_find("retention.mss"));
    assert_null(tcfg_find(NULL));
    assert_non_null(tcfg_find("delete.retention.ms"));
    /* Broker synonyms validate with the topic config's rules. */
    assert_ptr_equal(tcfg_find_broker("log.retention.ms"), tcfg_find("retention.ms"));
    assert_non_null(tcfg_find_broker("sasl.kerberos.min.time.before.relogin"));
    assert_null(tcfg_find_broker("retention.ms"));
    /* The table is sorted (DescribeConfigs lists it in order) and has no duplicates. */
    size_t n;
    const tcfg_def_t *t = tcfg_table(&n);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(t[i - 1].name, t[i].name) < 0);
    /* Every default passes its own validation. */
    char why[256];
    for (size_t i = 0; i < n; i++)
        if (t[i].type != TCFG_LIST || t[i].kafka_default[0])
            assert_int_equal(tcfg_validate(&t[i], t[i].name, t[i].kafka_default, why, sizeof(why)),
                             0);
}

static void test_config_set(void **state)
{
    (void)state;
    config_set_t s, c;
    config_set_init(&s);
    config_set_init(&c);
    assert_int_equal(config_set_put(&s, "a", "1"), 0);
    assert_int_equal(config_set_put(&s, "b", "2"), 0);
    assert_int_equal(config_set_put(&s, "a", "3"), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(config_set_get(&s, "a"), "3");
    assert_int_equal(config_set_copy(&c, &s), 0);
    assert_true(config_set_del(&s, "a"));
    assert_false(config_set_del(&s, "a"));
    assert_null(config_set_get(&s, "a"));
    assert_string_equal(config_set_get(&s, "b"), "2");
    assert_string_equal(config_set_get(&c, "a"), "3");
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(config_set_put(&s, k, k), 0);
    }
    assert_int_equal(s.n, 41);
    config_set_swap(&s, &c);
    assert_int_equal(s.n, 2);
    config_set_deinit(&s);
    config_set_deinit(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_are_checked_by_type_and_range),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_config_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
