/* Base64 and base64url (src/common/base64.c): RFC 4648's test vectors (§10) in both forms,
 * round trips of every length near a quantum boundary, and the strict decoder's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/err.h"

static const struct {
    const char *plain, *std, *url;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    char text[32];
    uint8_t bytes[32];
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t n = strlen(vectors[i].plain);
        assert_int_equal(sb_base64_encode((const uint8_t *)vectors[i].plain, n, text, sizeof(text)),
                         (int)strlen(vectors[i].std));
        assert_string_equal(text, vectors[i].std);
        assert_int_equal(
            sb_base64url_encode((const uint8_t *)vectors[i].plain, n, text, sizeof(text)),
            (int)strlen(vectors[i].url));
        assert_string_equal(text, vectors[i].url);
        assert_int_equal(
            sb_base64_decode(vectors[i].std, strlen(vectors[i].std), bytes, sizeof(bytes)), (int)n);
        assert_memory_equal(bytes, vectors[i].plain, n);
        assert_int_equal(
            sb_base64url_decode(vectors[i].url, strlen(vectors[i].url), bytes, sizeof(bytes)),
            (int)n);
        assert_memory_equal(bytes, vectors[i].plain, n);
    }
}

static void test_the_two_alphabets_differ_in_62_and_63(void **state)
{
    (void)state;
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char text[8];
    uint8_t out[4];
    sb_base64_encode(in, 3, text, sizeof(text));
    assert_string_equal(text, "+/+/");
    sb_base64url_encode(in, 3, text, sizeof(text));
    assert_string_equal(text, "-_-_");
    assert_int_equal(sb_base64_decode("-_-_", 4, out, sizeof(out)), SB_EINVAL);
    assert_int_equal(sb_base64url_decode("+/+/", 4, out, sizeof(out)), SB_EINVAL);
}

static void test_round_trips_of_every_length(void **state)
{
    (void)state;
    uint8_t in[40], out[40];
    char text[SB_BASE64_ENCODED_CAP(40)];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(in); n++) {
        int len = sb_base64_encode(in, n, text, sizeof(text));
        assert_int_equal(sb_base64_decode(text, (size_t)len, out, sizeof(out)), (int)n);
        assert_memory_equal(in, out, n);
        len = sb_base64url_encode(in, n, text, sizeof(text));
        assert_int_equal(sb_base64url_decode(text, (size_t)len, out, sizeof(out)), (int)n);
        assert_memory_equal(in, out, n);
    }
}

static void test_malformed_input_is_refused(void **state)
{
    (void)state;
    uint8_t out[16];
    const char *bad_std[] = {"Zg=",      "Zg=a", "Z===", "=Zg=", "Zh==" /* trailing bits */,
                             "Zm9=Zm9v", "Zm 9"};
    for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++)
        assert_int_equal(sb_base64_decode(bad_std[i], strlen(bad_std[i]), out, sizeof(out)),
                         SB_EINVAL);
    const char *bad_url[] = {"Z", "Zg==", "Zh" /* trailing bits */, "Zm9vY", "Zm9v*"};
    for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
        assert_int_equal(sb_base64url_decode(bad_url[i], strlen(bad_url[i]), out, sizeof(out)),
                         SB_EINVAL);
    /* too small an output buffer, either way */
    assert_int_equal(sb_base64_decode("Zm9vYmFy", 8, out, 5), SB_ERANGE);
    assert_int_equal(sb_base64url_decode("Zm9vYmFy", 8, out, 5), SB_ERANGE);
    char text[4];
    assert_int_equal(sb_base64url_encode((const uint8_t *)"foo", 3, text, sizeof(text)), SB_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_the_two_alphabets_differ_in_62_and_63),
        cmocka_unit_test(test_round_trips_of_every_length),
        cmocka_unit_test(test_malformed_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
