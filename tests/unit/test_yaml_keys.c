/* common/yaml_keys: nested mappings as dotted keys, the depth limit, errors with file and line,
 * duplicate keys and second documents refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/yaml_keys.h"

typedef struct seen {
    char text[1024];
    int n;
} seen_t;

/* Records "key=value;" and refuses the key "bad" as a setter would refuse a value. */
static int record(void *arg, const char *key, const char *value, sb_err_t *err)
{
    seen_t *s = arg;
    if (strcmp(key, "a.bad") == 0)
        return sb_err_set(err, SB_EINVAL, "a.bad: \"%s\" is not allowed", value);
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "%s=%s;", key, value);
    s->n++;
    return 0;
}

static int load(const char *yaml, int depth, seen_t *s, sb_err_t *err)
{
    memset(s, 0, sizeof(*s));
    return sb_yaml_keys_load_string("t.yaml", yaml, strlen(yaml), depth, record, s, err);
}

static void test_nested_keys_in_order(void **state)
{
    (void)state;
    seen_t s;
    sb_err_t err = {0};
    assert_int_equal(load("a:\n  b: 1\n  c:\n    d: \"x y\"\ne: z\n", 0, &s, &err), 0);
    assert_string_equal(s.text, "a.b=1;a.c.d=x y;e=z;");
}

static void test_depth_limit_names_the_key_and_line(void **state)
{
    (void)state;
    seen_t s;
    sb_err_t err = {0};
    assert_int_equal(load("a:\n  b: 1\n", 2, &s, &err), 0);
    assert_int_equal(load("a:\n  b: 1\n  c:\n    d: 2\n", 2, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:3: unknown key \"a.c\"");
}

static void test_errors_carry_source_and_line(void **state)
{
    (void)state;
    seen_t s;
    sb_err_t err = {0};
    assert_int_equal(load("a:\n  ok: 1\n  bad: 2\n", 0, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:3: a.bad: \"2\" is not allowed");
    assert_int_equal(load("a:\n  l: [1, 2]\n", 0, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:2: a.l: expected a value, not a list");
    assert_int_equal(load("- 1\n", 0, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:1: expected a mapping");
    assert_int_equal(load("a: [\n", 0, &s, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:"));
}

/* The checks the broker's config always had, now shared by every file the walker reads: a key
 * written twice (the second would silently win), a second document (silently ignored) and a
 * syntax error located by line and column. None of them sets anything. */
static void test_duplicates_second_documents_and_syntax_errors(void **state)
{
    (void)state;
    seen_t s;
    sb_err_t err = {0};
    assert_int_equal(load("a:\n  b: 1\n  b: 2\n", 0, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:3: duplicate key \"a.b\" (first at line 2)");
    assert_int_equal(s.n, 0);
    assert_int_equal(load("a: 1\nc: 2\na: 3\n", 0, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:3: duplicate key \"a\" (first at line 1)");
    assert_int_equal(load("a: 1\n---\nb: 2\n", 0, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "t.yaml:3: only one YAML document is allowed");
    assert_int_equal(s.n, 0);
    assert_int_equal(load("a:\n  b: \"open\n", 0, &s, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "YAML syntax error"));
    assert_int_equal(strncmp(err.msg, "t.yaml:", 7), 0);
    /* a null document (~) sets nothing, as an empty one */
    assert_int_equal(load("~\n", 0, &s, &err), 0);
    assert_int_equal(s.n, 0);
}

static void test_empty_documents_set_nothing(void **state)
{
    (void)state;
    seen_t s;
    sb_err_t err = {0};
    assert_int_equal(load("", 0, &s, &err), 0);
    assert_int_equal(load("# only a comment\n", 0, &s, &err), 0);
    assert_int_equal(s.n, 0);
}

static void test_file_errors(void **state)
{
    (void)state;
    seen_t s = {0};
    sb_err_t err = {0};
    assert_int_equal(sb_yaml_keys_load_file("/nonexistent/x.yaml", 0, record, &s, &err), SB_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.yaml"));
    char path[] = "/tmp/yaml_keys_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "x:\n  y: 7\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
    close(fd);
    assert_int_equal(sb_yaml_keys_load_file(path, 0, record, &s, &err), 0);
    assert_string_equal(s.text, "x.y=7;");
    unlink(path);
}

/* Records "done <item>;" and refuses a maps item without a field "id". */
static int record_item(void *arg, const char *item, sb_err_t *err)
{
    seen_t *s = arg;
    size_t used = strlen(s->text);
    if (strncmp(item, "maps[", 5) == 0 && !strstr(s->text, "].id="))
        return sb_err_set(err, SB_EINVAL, "%s: needs an id", item);
    snprintf(s->text + used, sizeof(s->text) - used, "done %s;", item);
    return 0;
}

static const sb_yaml_list_t test_lists[] = {
    {"a.vals", SB_YAML_LIST_OF_VALUES},
    {"maps", SB_YAML_LIST_OF_MAPPINGS},
    {NULL, 0},
};

static int load_lists(const char *yaml, seen_t *s, sb_err_t *err)
{
    sb_yaml_keys_spec_t spec = {
        .max_depth = 2, .set = record, .lists = test_lists, .item_done = record_item};
    memset(s, 0, sizeof(*s));
    return sb_yaml_keys_load_string_spec("t.yaml", yaml, strlen(yaml), &spec, s, err);
}

/* Declared lists: items of values and fields of mapping items become indexed leaves, each
 * mapping item is checked whole after its fields, and every wrong shape names the key path. */
static void test_lists_of_values_and_mappings(void **state)
{
    (void)state;
    seen_t s;
    sb_err_t err = {0};
    assert_int_equal(
        load_lists("a:\n  vals: [x, y]\nmaps:\n  - {id: 1, n: 2}\n  - id: 3\n", &s, &err), 0);
    assert_string_equal(s.text, "a.vals[0]=x;done a.vals[0];a.vals[1]=y;done a.vals[1];"
                                "maps[0].id=1;maps[0].n=2;done maps[0];maps[1].id=3;done maps[1];");
    assert_int_equal(load_lists("a:\n  vals: []\nmaps: []\n", &s, &err), 0);
    assert_int_equal(s.n, 0);
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"maps:\n  - {n: 2}\n", "t.yaml:2: maps[0]: needs an id"},
        {"maps:\n  - id: 1\n    n: {x: 1}\n",
         "t.yaml:3: maps[0].n: expected a value, not a mapping"},
        {"maps:\n  - id: [1]\n", "t.yaml:2: maps[0].id: expected a value, not a list"},
        {"maps:\n  - {id: 1}\n  - x\n", "t.yaml:3: maps[1]: expected a mapping, not a value"},
        {"maps:\n  - {id: 1, id: 2}\n", "t.yaml:2: duplicate key \"maps[0].id\" (first at line 2)"},
        {"a:\n  vals:\n    - {k: v}\n", "t.yaml:3: a.vals[0]: expected a value, not a mapping"},
        {"a:\n  vals: x\n", "t.yaml:2: a.vals: expected a list, not a value (write [] for none)"},
        {"maps:\n", "t.yaml:1: maps: expected a list, not a null (write [] for none)"},
        /* a list not declared is still refused */
        {"a:\n  other: [1]\n", "t.yaml:2: a.other: expected a value, not a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(load_lists(cases[i].yaml, &s, &err), SB_EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
    }
}

static void test_list_item_keys(void **state)
{
    (void)state;
    size_t i = 99;
    const char *field = NULL;
    assert_true(sb_yaml_list_item("maps[12].id", "maps", &i, &field));
    assert_int_equal(i, 12);
    assert_string_equal(field, "id");
    assert_true(sb_yaml_list_item("a.vals[0]", "a.vals", &i, &field));
    assert_int_equal(i, 0);
    assert_string_equal(field, "");
    assert_false(sb_yaml_list_item("maps", "maps", &i, &field));
    assert_false(sb_yaml_list_item("mapsx[0]", "maps", &i, &field));
    assert_false(sb_yaml_list_item("maps[x]", "maps", &i, &field));
    assert_false(sb_yaml_list_item("maps[1]x", "maps", &i, &field));
    assert_false(sb_yaml_list_item("maps[-1]", "maps", &i, &field));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_keys_in_order),
        cmocka_unit_test(test_depth_limit_names_the_key_and_line),
        cmocka_unit_test(test_errors_carry_source_and_line),
        cmocka_unit_test(test_duplicates_second_documents_and_syntax_errors),
        cmocka_unit_test(test_empty_documents_set_nothing),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_lists_of_values_and_mappings),
        cmocka_unit_test(test_list_item_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
