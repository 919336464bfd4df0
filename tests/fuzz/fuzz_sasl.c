/* Fuzz driver for the SASL messages a client sends before it is authenticated: the first byte
 * picks the mechanism (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN, OAUTHBEARER), the rest is split at
 * the first "\n--\n" into the first and (for SCRAM) the second client message. A SCRAM input
 * whose client-first names "user" reaches the proof check against a real credential. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "http/jwt.h"
#include "security/sasl.h"
#include "security/scram.h"

static int lookup(void *arg, const char *user, scram_mechanism_t m, scram_credential_t *out)
{
    if (strcmp(user, "user") != 0) return SB_ENOENT;
    static const uint8_t salt[16] = "0123456789abcdef";
    /* The salted password is a constant: the driver must stay fast (no PBKDF2 per input). */
    uint8_t salted[SCRAM_MAX_HASH];
    memset(salted, 0x5a, sizeof(salted));
    return scram_credential_from_salted(m, salted, salt, sizeof(salt), 4096, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const sasl_mechanism_t mechs[] = {SASL_MECH_SCRAM_SHA_256, SASL_MECH_SCRAM_SHA_512, SASL_MECH_PLAIN,
                                             SASL_MECH_OAUTHBEARER};
    sasl_mechanism_t m = mechs[data[0] % 4];
    data++;
    size--;
    const uint8_t *second = NULL;
    size_t first_len = size, second_len = 0;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, "\n--\n", 4) == 0) {
            first_len = i;
            second = data + i + 4;
            second_len = size - i - 4;
            break;
        }

    /* SCRAM directly, through its own API (the lookup does not need a store). */
    if (m == SASL_MECH_SCRAM_SHA_256 || m == SASL_MECH_SCRAM_SHA_512) {
        scram_server_t *s = scram_server_new(m == SASL_MECH_SCRAM_SHA_512 ? SCRAM_SHA_512 : SCRAM_SHA_256, lookup,
                                             NULL, (const uint8_t *)"k", 1);
        if (!s) return 0;
        scram_server_set_nonce_for_test(s, "SRV");
        uint8_t *out = NULL;
        size_t out_len = 0;
        sb_err_t err;
        int rc = scram_server_step(s, data, first_len, &out, &out_len, &err);
        free(out);
        if (rc == SB_EAGAIN && second) {
            rc = scram_server_step(s, second, second_len, &out, &out_len, &err);
            free(out);
        }
        scram_server_free(s);
        uint8_t buf[256];
        sb_base64_decode((const char *)data, first_len, buf, sizeof(buf));
        return 0;
    }

    static const char secret[] = "fuzz-secret-fuzz-secret-fuzz-secret!";
    http_jwt_verifier_t *auth = NULL;
    http_jwt_options_t opt = {.leeway_s = 60};
    if (http_jwt_verifier_new(&opt, &auth, NULL) == 0 &&
        http_jwt_verifier_add_hmac(auth, secret, sizeof(secret) - 1, NULL, NULL) != 0) {
        http_jwt_verifier_free(auth);
        auth = NULL;
    }
    sasl_config_t cfg = {.mechanisms = SASL_MECH_ALL, .plain_without_tls = true,
                         .verify_token = sasl_verify_http_jwt, .verify_arg = auth};
    sasl_session_t *s = NULL;
    if (auth && sasl_session_new(&cfg, m, false, &s, NULL) == 0) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        sasl_session_step(s, data, first_len, 1800000000, &out, &out_len, NULL);
        free(out);
        sasl_session_free(s);
    }
    http_jwt_verifier_free(auth);
    return 0;
}
