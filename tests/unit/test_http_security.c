/* Tests for the shared HTTP security settings and secrets: the key table matches
 * docs/configuration.md, the YAML loader names file and line, production refusals name the
 * setting, and secrets come from NAME or NAME_FILE (never both). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/secrets.h"
#include "http/security.h"

static void repo_path(char *out, size_t cap, const char *rel)
{
    const char *self = __FILE__;
    const char *cut = strstr(self, "tests/unit/test_http_security.c");
    size_t n = cut ? (size_t)(cut - self) : 0;
    snprintf(out, cap, "%.*s%s", (int)n, self, rel);
}

static void test_docs_list_every_key_with_its_default(void **state)
{
    char path[4096];
    repo_path(path, sizeof(path), "docs/configuration.md");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char docs[1 << 20];
    size_t n = fread(docs, 1, sizeof(docs) - 1, f);
    fclose(f);
    docs[n] = 0;
    for (size_t i = 0; i < http_security_key_count(); i++) {
        const char *name, *def;
        http_security_key_at(i, &name, &def);
        char row[256];
        snprintf(row, sizeof(row), "| `%s` | `%s` |", name, def);
        if (!strstr(docs, row)) fail_msg("docs/configuration.md lacks the row starting %s", row);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_names_file_and_line(void **state)
{
    char path[] = "/tmp/sb-httpsec-XXXXXX";
    close(mkstemp(path));
    http_security_config_t c;
    http_security_defaults(&c);
    sb_err_t err = {0};
    write_file(
        path,
        "security:\n  mode: production\nhttp:\n  auth:\n    enabled: true\n    clock_skew_s: 60\n"
        "  rate_limit:\n    per_address: 5\n");
    assert_int_equal(http_security_load(&c, path, &err), 0);
    assert_true(c.production);
    assert_true(c.auth_enabled);
    assert_int_equal(c.jwt_leeway_s, 60);
    assert_true(c.rate_per_address == 5.0);
    write_file(path, "http:\n  auth:\n    enabeld: true\n");
    assert_int_equal(http_security_load(&c, path, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, ":3: unknown key \"http.auth.enabeld\""));
    write_file(path, "http:\n  auth:\n    clock_skew_s: 3600\n");
    assert_int_equal(http_security_load(&c, path, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "http.auth.clock_skew_s"));
    write_file(path, "security:\n  mode: prod\n");
    assert_int_equal(http_security_load(&c, path, &err), SB_EINVAL);
    unlink(path);
}

static void test_production_listener_rules(void **state)
{
    http_security_config_t c;
    http_security_defaults(&c);
    sb_err_t err = {0};
    assert_int_equal(http_security_check_listener(&c, "0.0.0.0", &err),
                     0); /* development: allowed */
    c.production = true;
    assert_int_equal(http_security_check_listener(&c, "0.0.0.0", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "http.tls.cert_file"));
    assert_int_equal(http_security_check_listener(&c, "127.0.0.1", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "http.auth.enabled"));
    c.auth_enabled = true;
    assert_int_equal(http_security_check_listener(&c, "127.0.0.1", &err), 0);
    assert_int_equal(http_security_check_listener(&c, "::1", &err), 0);
    assert_int_equal(http_security_check_listener(&c, "10.1.2.3", &err), SB_EINVAL);
    snprintf(c.tls_cert_file, sizeof(c.tls_cert_file), "/x.pem");
    assert_int_equal(http_security_check_listener(&c, "10.1.2.3", &err), 0);
}

static void test_secret_env_and_file(void **state)
{
    char *s = NULL;
    size_t len = 0;
    sb_err_t err = {0};
    unsetenv("SB_TEST_SECRET");
    unsetenv("SB_TEST_SECRET_FILE");
    assert_int_equal(sb_secret_from_env("SB_TEST_SECRET", &s, &len, &err), SB_ENOENT);
    setenv("SB_TEST_SECRET", "from-env", 1);
    assert_int_equal(sb_secret_from_env("SB_TEST_SECRET", &s, &len, &err), 0);
    assert_string_equal(s, "from-env");
    sb_secret_free(s, len);
    char path[] = "/tmp/sb-secret-XXXXXX";
    close(mkstemp(path));
    write_file(path, "from-file\n");
    setenv("SB_TEST_SECRET_FILE", path, 1);
    assert_int_equal(sb_secret_from_env("SB_TEST_SECRET", &s, &len, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "both SB_TEST_SECRET and SB_TEST_SECRET_FILE"));
    assert_null(strstr(err.msg, "from-env"));
    unsetenv("SB_TEST_SECRET");
    assert_int_equal(sb_secret_from_env("SB_TEST_SECRET", &s, &len, &err), 0);
    assert_string_equal(s, "from-file"); /* trailing newline dropped */
    assert_int_equal(len, 9);
    sb_secret_free(s, len);
    unlink(path);
    assert_int_equal(sb_secret_from_env("SB_TEST_SECRET", &s, &len, &err), SB_EIO);
    assert_non_null(strstr(err.msg, "SB_TEST_SECRET_FILE"));
    unsetenv("SB_TEST_SECRET_FILE");
    sb_vault_config_t v = {.addr = "http://127.0.0.1:1", .token = "t"};
    assert_int_equal(sb_secret_from_vault(&v, "no-field-here", &s, &len, &err), SB_EINVAL);
    assert_int_equal(sb_secret_from_vault(&v, "kv/a?x=1#f", &s, &len, &err), SB_EINVAL);
    assert_int_equal(sb_secret_from_vault(&v, "kv/app#f", &s, &len, &err),
                     SB_EIO); /* nothing listens */
    assert_null(strstr(err.msg, "X-Vault-Token"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_list_every_key_with_its_default),
        cmocka_unit_test(test_load_names_file_and_line),
        cmocka_unit_test(test_production_listener_rules),
        cmocka_unit_test(test_secret_env_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
