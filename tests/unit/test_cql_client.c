/* The CQL client's configuration handling, which needs no server: contact point lists (the
 * error must name the bad entry), the consistency name, and a start-up that reaches nobody.
 * Includes cql_client.c to reach the static parser. The client's behaviour against a server is
 * tested in tests/integration/test_cql_client.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cql/cql_client.c"

static cql_client_t *parsed(const char *list, sb_err_t *err, int *rc)
{
    cql_client_t *cl = calloc(1, sizeof(*cl));
    *rc = parse_contact_points(cl, list, 9042, err);
    return cl;
}

static void test_contact_points(void **state)
{
    (void)state;
    sb_err_t err = {0};
    int rc;
    cql_client_t *cl = parsed(" 10.0.0.1, node2:9043,[::1]:9044,[fe80::1],node2:9043,", &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(cl->nhosts, 4); /* the repeated node2:9043 is one node */
    assert_string_equal(cl->hosts[0].name, "10.0.0.1:9042");
    assert_string_equal(cl->hosts[1].name, "node2:9043");
    assert_string_equal(cl->hosts[2].address, "::1");
    assert_string_equal(cl->hosts[2].name, "[::1]:9044");
    assert_string_equal(cl->hosts[3].name, "[fe80::1]:9042");
    cql_client_free(cl);

    static const struct {
        const char *list;
        const char *msg;
    } bad[] = {
        {"", "no CQL contact points given"},
        {" , ", "no CQL contact points given"},
        {"a:0", "contact point 'a:0' has a bad port"},
        {"a,b:70000", "contact point 'b:70000' has a bad port"},
        {"a:x9", "contact point 'a:x9' has a bad port"},
        {"a:", "contact point 'a:' has a bad port"},
        {"[::1", "contact point '[::1' has no closing ']'"},
        {":9042", "contact point ':9042' has no host"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        cl = parsed(bad[i].list, &err, &rc);
        assert_int_equal(rc, SB_EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        cql_client_free(cl);
    }
}

static void test_new_refuses_bad_options(void **state)
{
    (void)state;
    sb_err_t err = {0};
    cql_client_t *cl = (cql_client_t *)1;
    cql_client_opts_t o = {.contact_points = "127.0.0.1", .consistency = "MOSTLY"};
    assert_int_equal(cql_client_new(&o, &cl, &err), SB_EINVAL);
    assert_null(cl);
    assert_string_equal(err.msg, "unknown consistency level 'MOSTLY'");

    /* Port 1 on loopback refuses connections: the message names the node and the reason. */
    cql_client_opts_t dead = {.contact_points = "127.0.0.1:1", .connect_timeout_ms = 2000};
    assert_int_equal(cql_client_new(&dead, &cl, &err), SB_EIO);
    assert_null(cl);
    assert_non_null(strstr(err.msg, "no CQL node reachable: cannot connect to CQL node 127.0.0.1:1"));
    assert_non_null(strstr(err.msg, "Connection refused"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contact_points),
        cmocka_unit_test(test_new_refuses_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
