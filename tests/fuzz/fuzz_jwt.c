/* Fuzz driver for the JWT verifier: arbitrary bytes as a compact token against a verifier holding
 * an HS256 secret (whose tokens the corpus signs) and an ES256 key, and the same bytes as a JWKS
 * document and as a PEM key. A token is never accepted unless correctly signed, so the fuzzer
 * mostly explores the parsing before the signature check and, through the corpus's valid
 * tokens, the claim checks after it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "http/jwt.h"

/* The corpus's tokens are signed with this secret (tests/fuzz/gen_jwt_corpus.py). */
static const char SECRET[] = "fuzz-secret-0123456789abcdef0123456789";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    http_jwt_options_t o = {.leeway_s = 30, .audience = "streambus", .issuer = ""};
    http_jwt_verifier_t *v = NULL;
    if (http_jwt_verifier_new(&o, &v, NULL) < 0) return 0;
    http_jwt_verifier_add_hmac(v, SECRET, strlen(SECRET), NULL, NULL);
    http_jwt_claims_t c;
    sb_err_t err;
    int rc = http_jwt_verify(v, (const char *)data, size, 1800000000, &c, &err);
    if (rc == 0 && (c.sub[0] == 0 || c.alg != HTTP_JWT_HS256))
        abort(); /* accepted without a subject or key */
    http_jwt_verifier_add_jwks(v, (const char *)data, size, &err);
    http_jwt_verifier_add_pem(v, (const char *)data, size, NULL, &err);
    uint8_t out[256];
    sb_base64url_decode((const char *)data, size < 300 ? size : 300, out, sizeof(out));
    http_jwt_verifier_free(v);
    return 0;
}
