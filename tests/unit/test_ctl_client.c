/* ctl's own IncrementalAlterConfigs response decoder: the resource's error code and message
 * are read, and malformed or foreign-shaped bytes are refused instead of trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/ctl_client.h"

static size_t put_str(uint8_t *p, const char *s)
{
    if (!s) {
        p[0] = 0xff;
        p[1] = 0xff;
        return 2;
    }
    size_t n = strlen(s);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return 2 + n;
}

/* throttle 0, one resource {code, message, type 2, name}. */
static size_t response(uint8_t *buf, int16_t code, const char *message, const char *name, int32_t count)
{
    size_t n = 0;
    memset(buf, 0, 4);
    n += 4;
    buf[n++] = (uint8_t)(count >> 24);
    buf[n++] = (uint8_t)(count >> 16);
    buf[n++] = (uint8_t)(count >> 8);
    buf[n++] = (uint8_t)count;
    buf[n++] = (uint8_t)((uint16_t)code >> 8);
    buf[n++] = (uint8_t)code;
    n += put_str(buf + n, message);
    buf[n++] = 2;
    n += put_str(buf + n, name);
    return n;
}

static void test_reads_the_resource_error(void **state)
{
    (void)state;
    uint8_t buf[256];
    int16_t code = -99;
    char msg[128];
    size_t n = response(buf, 0, NULL, "orders", 1);
    assert_int_equal(ctl_iac_parse_response(buf, n, &code, msg, sizeof(msg)), 0);
    assert_int_equal(code, 0);
    assert_string_equal(msg, "");
    n = response(buf, 40, "Unknown topic config name: no.such.key", "orders", 1);
    assert_int_equal(ctl_iac_parse_response(buf, n, &code, msg, sizeof(msg)), 0);
    assert_int_equal(code, 40);
    assert_string_equal(msg, "Unknown topic config name: no.such.key");
    /* A long message is cut to the buffer, never overrun. */
    char small[8];
    assert_int_equal(ctl_iac_parse_response(buf, n, &code, small, sizeof(small)), 0);
    assert_string_equal(small, "Unknown");
}

static void test_refuses_malformed_answers(void **state)
{
    (void)state;
    uint8_t buf[256];
    int16_t code = 0;
    char msg[64];
    size_t n = response(buf, 40, "bad", "orders", 1);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(ctl_iac_parse_response(buf, cut, &code, msg, sizeof(msg)), SB_EINVAL);
    /* One resource was asked about: an answer about none or two is not ours. */
    n = response(buf, 0, NULL, "orders", 0);
    assert_int_equal(ctl_iac_parse_response(buf, n, &code, msg, sizeof(msg)), SB_EINVAL);
    n = response(buf, 0, NULL, "orders", 2);
    assert_int_equal(ctl_iac_parse_response(buf, n, &code, msg, sizeof(msg)), SB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_the_resource_error),
        cmocka_unit_test(test_refuses_malformed_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
