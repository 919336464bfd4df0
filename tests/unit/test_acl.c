/* ACL matching semantics (src/security/acl.c) and the authorizer's policy on top of it
 * (super users, allow.everyone.if.no.acl.found, file storage). Each case states the Kafka
 * rule it checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "security/acl.h"
#include "security/authorizer.h"

#define ALICE "User:alice"
#define BOB "User:bob"
#define IP "10.0.0.1"

static void add(acl_store_t *s, int rtype, int ptype, const char *name, const char *principal, const char *host,
                int op, int perm)
{
    acl_binding_t b = {(int8_t)rtype, (int8_t)ptype, (int8_t)op, (int8_t)perm, name, principal, host};
    sb_err_t err = {0};
    int rc = acl_store_add(s, &b, &err);
    if (rc != 0) fail_msg("add failed: %s", err.msg);
}

static acl_result_t check(acl_store_t *s, const char *principal, const char *host, int op, int rtype, const char *name)
{
    return acl_store_check(s, principal, host, op, rtype, name, strlen(name));
}

static void test_literal(void **state)
{
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "orders"), ACL_RESULT_NO_BINDINGS);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "orders", ALICE, "*", ACL_OP_READ, ACL_PERM_ALLOW);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "orders"), ACL_RESULT_ALLOWED);
    /* Another principal on a resource that has ACLs is denied, not "no ACL found". */
    assert_int_equal(check(s, BOB, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "orders"), ACL_RESULT_DENIED);
    /* An operation READ does not imply is denied. */
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "orders"), ACL_RESULT_DENIED);
    /* Literal means exactly that name: neither a longer one nor the same name of another type. */
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "orders2"), ACL_RESULT_NO_BINDINGS);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_GROUP, "orders"), ACL_RESULT_NO_BINDINGS);
    /* Adding the same binding twice keeps one. */
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "orders", ALICE, "*", ACL_OP_READ, ACL_PERM_ALLOW);
    assert_int_equal(acl_store_count(s), 1);
    acl_store_free(s);
}

static void test_prefixed(void **state)
{
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, "sales-", ALICE, "*", ACL_OP_WRITE, ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, "sales-eu-", BOB, "*", ACL_OP_WRITE, ACL_PERM_ALLOW);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales-eu-1"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, BOB, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales-eu-1"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, BOB, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales-us-1"), ACL_RESULT_DENIED);
    /* The prefix itself is covered; a shorter name or another start is not. */
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales-"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales"), ACL_RESULT_NO_BINDINGS);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "xsales-1"), ACL_RESULT_NO_BINDINGS);
    /* Removing the last binding of a prefix length takes the length out of the index. */
    acl_filter_t f = {ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, ACL_OP_ANY, ACL_PERM_ANY, "sales-", NULL, NULL};
    assert_int_equal(acl_store_remove(s, &f, NULL, NULL), 1);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales-us-1"), ACL_RESULT_NO_BINDINGS);
    assert_int_equal(check(s, BOB, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "sales-eu-1"), ACL_RESULT_ALLOWED);
    acl_store_free(s);
}

static void test_wildcards(void **state)
{
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    /* "*" as resource name, "User:*" as principal, and a host that must match. */
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "*", "User:*", IP, ACL_OP_DESCRIBE, ACL_PERM_ALLOW);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, "any"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, "User:ANONYMOUS", IP, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, "x"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, ALICE, "10.0.0.2", ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, "any"), ACL_RESULT_DENIED);
    /* "User:*" is not a prefix match on the name part of other types. */
    assert_int_equal(check(s, "Group:x", IP, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, "any"), ACL_RESULT_ALLOWED);
    acl_store_free(s);
}

static void test_deny_wins(void **state)
{
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "*", ALICE, "*", ACL_OP_ALL, ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, "secret", ALICE, "*", ACL_OP_READ, ACL_PERM_DENY);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "public"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "secret-plans"), ACL_RESULT_DENIED);
    /* The deny names READ only: WRITE on the same topic still follows the allow. */
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "secret-plans"), ACL_RESULT_ALLOWED);
    /* A DENY for every principal and one host beats a user's ALLOW. */
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "public", "User:*", IP, ACL_OP_ALL, ACL_PERM_DENY);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "public"), ACL_RESULT_DENIED);
    assert_int_equal(check(s, ALICE, "10.9.9.9", ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "public"), ACL_RESULT_ALLOWED);
    /* Denying READ does not deny DESCRIBE: implications widen allows, not denies. */
    add(s, ACL_RESOURCE_GROUP, ACL_PATTERN_LITERAL, "g", BOB, "*", ACL_OP_DESCRIBE, ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_GROUP, ACL_PATTERN_LITERAL, "g", BOB, "*", ACL_OP_READ, ACL_PERM_DENY);
    assert_int_equal(check(s, BOB, IP, ACL_OP_DESCRIBE, ACL_RESOURCE_GROUP, "g"), ACL_RESULT_ALLOWED);
    assert_int_equal(check(s, BOB, IP, ACL_OP_READ, ACL_RESOURCE_GROUP, "g"), ACL_RESULT_DENIED);
    acl_store_free(s);
}

static void test_implications(void **state)
{
    static const int describe_implied_by[] = {ACL_OP_READ, ACL_OP_WRITE, ACL_OP_DELETE, ACL_OP_ALTER, ACL_OP_ALL};
    for (size_t i = 0; i < sizeof(describe_implied_by) / sizeof(describe_implied_by[0]); i++) {
        acl_store_t *s;
        assert_int_equal(acl_store_new(&s), 0);
        add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "t", ALICE, "*", describe_implied_by[i], ACL_PERM_ALLOW);
        assert_int_equal(check(s, ALICE, IP, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, "t"), ACL_RESULT_ALLOWED);
        acl_store_free(s);
    }
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "t", ALICE, "*", ACL_OP_ALTER_CONFIGS, ACL_PERM_ALLOW);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_DESCRIBE_CONFIGS, ACL_RESOURCE_TOPIC, "t"), ACL_RESULT_ALLOWED);
    /* Nothing implies more than Kafka says: ALTER_CONFIGS gives no DESCRIBE, CREATE no WRITE,
     * DESCRIBE no READ. */
    assert_int_equal(check(s, ALICE, IP, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, "t"), ACL_RESULT_DENIED);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "t", ALICE, "*", ACL_OP_CREATE, ACL_PERM_ALLOW);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t"), ACL_RESULT_DENIED);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "u", ALICE, "*", ACL_OP_DESCRIBE, ACL_PERM_ALLOW);
    assert_int_equal(check(s, ALICE, IP, ACL_OP_READ, ACL_RESOURCE_TOPIC, "u"), ACL_RESULT_DENIED);
    acl_store_free(s);
}

static void test_validation_and_filters(void **state)
{
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    sb_err_t err = {0};
    acl_binding_t bad[] = {
        {ACL_RESOURCE_ANY, ACL_PATTERN_LITERAL, ACL_OP_READ, ACL_PERM_ALLOW, "t", ALICE, "*"},
        {ACL_RESOURCE_TOPIC, ACL_PATTERN_MATCH, ACL_OP_READ, ACL_PERM_ALLOW, "t", ALICE, "*"},
        {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_ANY, ACL_PERM_ALLOW, "t", ALICE, "*"},
        {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_READ, ACL_PERM_ANY, "t", ALICE, "*"},
        {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_READ, ACL_PERM_ALLOW, "t", "alice", "*"},
        {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_READ, ACL_PERM_ALLOW, "", ALICE, "*"},
        {ACL_RESOURCE_CLUSTER, ACL_PATTERN_LITERAL, ACL_OP_ALTER, ACL_PERM_ALLOW, "c", ALICE, "*"},
        {ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, ACL_OP_READ, ACL_PERM_ALLOW, "*", ALICE, "*"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(acl_store_add(s, &bad[i], &err), SB_EINVAL);
        assert_true(err.msg[0] != 0);
    }
    assert_int_equal(acl_store_count(s), 0);

    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "orders", ALICE, "*", ACL_OP_READ, ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, "ord", BOB, "*", ACL_OP_WRITE, ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, "*", BOB, "*", ACL_OP_DESCRIBE, ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_GROUP, ACL_PATTERN_LITERAL, "orders", ALICE, "*", ACL_OP_READ, ACL_PERM_ALLOW);
    /* MATCH selects every binding that applies to topic "orders": literal, "*" and prefix. */
    acl_filter_t match = {ACL_RESOURCE_TOPIC, ACL_PATTERN_MATCH, ACL_OP_ANY, ACL_PERM_ANY, "orders", NULL, NULL};
    acl_filter_t any = {ACL_RESOURCE_ANY, ACL_PATTERN_ANY, ACL_OP_ANY, ACL_PERM_ANY, "orders", NULL, NULL};
    acl_filter_t bob = {ACL_RESOURCE_ANY, ACL_PATTERN_ANY, ACL_OP_ANY, ACL_PERM_ANY, NULL, BOB, NULL};
    acl_filter_t literal = {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_ANY, ACL_PERM_ANY, NULL, NULL, NULL};
    size_t counts[4] = {0};
    acl_filter_t *fs[4] = {&match, &any, &bob, &literal};
    for (int i = 0; i < 4; i++) {
        acl_binding_t b;
        acl_store_t *c;
        assert_int_equal(acl_store_clone(s, &c), 0);
        counts[i] = acl_store_remove(c, fs[i], NULL, NULL);
        (void)b;
        acl_store_free(c);
    }
    assert_int_equal(counts[0], 3); /* literal orders, prefix ord, literal * */
    assert_int_equal(counts[1], 2); /* topic and group named exactly "orders" */
    assert_int_equal(counts[2], 2);
    assert_int_equal(counts[3], 2);
    acl_filter_t unknown = {ACL_RESOURCE_UNKNOWN, ACL_PATTERN_ANY, ACL_OP_ANY, ACL_PERM_ANY, NULL, NULL, NULL};
    assert_int_equal(acl_filter_validate(&unknown, &err), SB_EINVAL);
    acl_store_free(s);
}

static void test_persistence_roundtrip(void **state)
{
    acl_store_t *s, *t;
    assert_int_equal(acl_store_new(&s), 0);
    /* Names with spaces, '%' and non-ASCII survive the text form. */
    add(s, ACL_RESOURCE_GROUP, ACL_PATTERN_PREFIXED, "team a %1 \xc3\xa9", "User:o'neil x", "*", ACL_OP_READ,
        ACL_PERM_ALLOW);
    add(s, ACL_RESOURCE_CLUSTER, ACL_PATTERN_LITERAL, ACL_CLUSTER_NAME, ALICE, IP, ACL_OP_ALTER, ACL_PERM_DENY);
    char *text;
    size_t len;
    assert_int_equal(acl_store_serialize(s, &text, &len), 0);
    assert_int_equal(acl_store_new(&t), 0);
    sb_err_t err = {0};
    assert_int_equal(acl_store_parse(t, "mem", text, len, &err), 0);
    assert_int_equal(acl_store_count(t), 2);
    char *text2;
    size_t len2;
    assert_int_equal(acl_store_serialize(t, &text2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    assert_int_equal(check(t, "User:o'neil x", IP, ACL_OP_READ, ACL_RESOURCE_GROUP, "team a %1 \xc3\xa9-2"),
                     ACL_RESULT_ALLOWED);
    free(text);
    free(text2);

    /* Bad lines are refused with the line number and the reason. */
    static const char *bad[] = {
        "TOPIC LITERAL t User:a * READ\n",           /* 6 fields */
        "TOPIC LITERAL t User:a * READ ALLOW x\n",   /* 8 fields */
        "TOPIC LITERAL t%2 User:a * READ ALLOW\n",   /* truncated escape */
        "TOPIC LITERAL t%00 User:a * READ ALLOW\n",  /* encoded NUL */
        "TOPIC LITERAL t User:a * READX ALLOW\n",    /* unknown operation */
        "# c\nTOPIC BOGUS t User:a * READ ALLOW\n",  /* unknown pattern, on line 2 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        acl_store_t *u;
        assert_int_equal(acl_store_new(&u), 0);
        memset(&err, 0, sizeof(err));
        assert_int_equal(acl_store_parse(u, "f.acls", bad[i], strlen(bad[i]), &err), SB_EINVAL);
        assert_non_null(strstr(err.msg, i == 5 ? "f.acls:2" : "f.acls:1"));
        acl_store_free(u);
    }
    acl_store_free(t);
    acl_store_free(s);
}

static void test_allows_any(void **state)
{
    acl_store_t *s;
    assert_int_equal(acl_store_new(&s), 0);
    assert_false(acl_store_allows_any(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC));
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, "logs-", ALICE, "*", ACL_OP_WRITE, ACL_PERM_ALLOW);
    assert_true(acl_store_allows_any(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC));
    assert_false(acl_store_allows_any(s, BOB, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC));
    /* A deny covering the whole prefix takes it back. */
    add(s, ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, "log", ALICE, "*", ACL_OP_WRITE, ACL_PERM_DENY);
    assert_false(acl_store_allows_any(s, ALICE, IP, ACL_OP_WRITE, ACL_RESOURCE_TOPIC));
    acl_store_free(s);
}

/* ---- authorizer policy ---- */

static authz_subject_t subject(const char *principal)
{
    authz_subject_t w = {principal, IP, IP ":5000", "Produce"};
    return w;
}

static void test_authorizer_policy(void **state)
{
    char dir[] = "/tmp/test_acl_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], audit[256];
    snprintf(path, sizeof(path), "%s/acls", dir);
    snprintf(audit, sizeof(audit), "%s/audit.log", dir);

    authorizer_config_t cfg = {.enabled = true, .super_users = "User:admin; User:ops ", .audit_log = audit};
    acl_storage_t st;
    assert_int_equal(acl_storage_file(path, &st, NULL), 0);
    authorizer_t *a;
    sb_err_t err = {0};
    assert_int_equal(authorizer_new(&cfg, &st, &a, &err), 0);
    authz_subject_t alice = subject(ALICE), admin = subject("User:admin"), ops = subject("User:ops");

    /* Default: no ACL found means denied; super users are allowed everything. */
    assert_false(authorizer_authorize(a, &alice, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t", 1, true));
    assert_true(authorizer_authorize(a, &admin, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t", 1, true));
    assert_true(authorizer_authorize(a, &ops, ACL_OP_ALTER, ACL_RESOURCE_CLUSTER, "kafka-cluster", 13, true));
    assert_int_equal(authorizer_denials(a), 1);

    /* A change is persisted and survives a restart. */
    acl_store_t *next;
    assert_int_equal(acl_store_clone(authorizer_acls(a), &next), 0);
    acl_binding_t b = {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_WRITE, ACL_PERM_ALLOW, "t", ALICE, "*"};
    assert_int_equal(acl_store_add(next, &b, NULL), 0);
    assert_int_equal(authorizer_replace_acls(a, next, &err), 0);
    assert_true(authorizer_authorize(a, &alice, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t", 1, true));
    authorizer_free(a);

    assert_int_equal(acl_storage_file(path, &st, NULL), 0);
    assert_int_equal(authorizer_new(&cfg, &st, &a, &err), 0);
    assert_int_equal(acl_store_count(authorizer_acls(a)), 1);
    assert_true(authorizer_authorize(a, &alice, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t", 1, true));
    authorizer_free(a);

    /* The denial was audited with principal, address, operation and resource. */
    FILE *f = fopen(audit, "r");
    assert_non_null(f);
    char line[1024] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_non_null(strstr(line, "\"principal\":\"User:alice\""));
    assert_non_null(strstr(line, "\"address\":\"10.0.0.1:5000\""));
    assert_non_null(strstr(line, "\"operation\":\"WRITE\""));
    assert_non_null(strstr(line, "\"resource\":\"t\""));
    assert_non_null(strstr(line, "\"result\":\"DENIED\""));

    /* allow.everyone.if.no.acl.found opens resources nobody named, not the named ones. */
    cfg.allow_everyone_if_no_acl_found = true;
    cfg.audit_log = NULL;
    assert_int_equal(acl_storage_file(path, &st, NULL), 0);
    assert_int_equal(authorizer_new(&cfg, &st, &a, &err), 0);
    authz_subject_t bob = subject(BOB);
    assert_true(authorizer_authorize(a, &bob, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "other", 5, true));
    assert_false(authorizer_authorize(a, &bob, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t", 1, true));
    authorizer_free(a);

    /* Disabled: everything is allowed and nothing is loaded. */
    cfg.enabled = false;
    assert_int_equal(acl_storage_file(path, &st, NULL), 0);
    assert_int_equal(authorizer_new(&cfg, &st, &a, &err), 0);
    assert_true(authorizer_authorize(a, &bob, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, "t", 1, true));
    authorizer_free(a);

    /* A malformed super user and a corrupt ACL file fail start-up, naming the problem. */
    cfg.enabled = true;
    cfg.super_users = "admin";
    assert_int_equal(acl_storage_file(path, &st, NULL), 0);
    assert_int_equal(authorizer_new(&cfg, &st, &a, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "\"admin\""));
    cfg.super_users = NULL;
    f = fopen(path, "a");
    fputs("TOPIC LITERAL x User:a\n", f);
    fclose(f);
    assert_int_equal(acl_storage_file(path, &st, NULL), 0);
    assert_int_equal(authorizer_new(&cfg, &st, &a, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, ":3:"));

    unlink(path);
    unlink(audit);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal),          cmocka_unit_test(test_prefixed),
        cmocka_unit_test(test_wildcards),        cmocka_unit_test(test_deny_wins),
        cmocka_unit_test(test_implications),     cmocka_unit_test(test_validation_and_filters),
        cmocka_unit_test(test_persistence_roundtrip), cmocka_unit_test(test_allows_any),
        cmocka_unit_test(test_authorizer_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
