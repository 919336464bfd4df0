/* sasl_bench: the broker's side of a SCRAM handshake alone, in process.
 *
 * For SCRAM-SHA-256 and -512 it times complete server exchanges (scram_server_new, client-first,
 * client-final with a valid proof, server-final, free) with the credential looked up from memory.
 * The client's PBKDF2 runs once before the clock starts (a real client pays it on its own CPU),
 * so the figure is what one broker network thread can accept per second; the second figure
 * includes the client half too (scram_client_*), i.e. both ends on one core.
 *
 * Usage: sasl_bench [--seconds S]   (default 2 per figure; prints exchanges/s)
 *
 * Build: `cmake --build <dir> --target sasl_bench` (bench/CMakeLists.txt). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base64.h"
#include "security/scram.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static scram_credential_t cred;
static uint8_t salted[SCRAM_MAX_HASH];

static int lookup(void *arg, const char *user, scram_mechanism_t m, scram_credential_t *out)
{
    *out = cred;
    return 0;
}

/* client-final from server-first with the cached SaltedPassword (RFC 5802 §3). */
static size_t client_final(scram_mechanism_t m, const char *first_bare, const char *sf, size_t sf_len, char *out,
                           size_t cap)
{
    const EVP_MD *md = m == SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
    size_t hl = scram_hash_len(m);
    const char *comma = memchr(sf, ',', sf_len);
    char wp[256], am[1024];
    snprintf(wp, sizeof(wp), "c=biws,%.*s", (int)(comma - sf), sf);
    int am_len = snprintf(am, sizeof(am), "%s,%.*s,%s", first_bare, (int)sf_len, sf, wp);
    uint8_t ckey[64], stored[64], sig[64], proof[64];
    unsigned int n;
    HMAC(md, salted, (int)hl, (const uint8_t *)"Client Key", 10, ckey, &n);
    EVP_Digest(ckey, hl, stored, &n, md, NULL);
    HMAC(md, stored, (int)hl, (const uint8_t *)am, (size_t)am_len, sig, &n);
    for (size_t i = 0; i < hl; i++) proof[i] = ckey[i] ^ sig[i];
    char pb[128];
    sb_base64_encode(proof, hl, pb, sizeof(pb));
    return (size_t)snprintf(out, cap, "%s,p=%s", wp, pb);
}

int main(int argc, char **argv)
{
    double seconds = 2;
    if (argc == 3 && strcmp(argv[1], "--seconds") == 0) seconds = atof(argv[2]);
    const uint8_t mock[32] = {1};
    for (int mi = 0; mi < 2; mi++) {
        scram_mechanism_t m = mi ? SCRAM_SHA_512 : SCRAM_SHA_256;
        const uint8_t salt[32] = "bench-salt-bench-salt-bench-salt";
        scram_salted_password(m, "bench-password", 14, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS, salted);
        scram_credential_from_salted(m, salted, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS, &cred);
        long done = 0;
        double t0 = now_s(), t = t0;
        const char *first = "n,,n=bench,r=0123456789abcdef0123456789";
        while (t - t0 < seconds) {
            for (int k = 0; k < 100; k++) {
                scram_server_t *s = scram_server_new(m, lookup, NULL, mock, sizeof(mock));
                uint8_t *o1, *o2;
                size_t l1, l2;
                if (scram_server_step(s, (const uint8_t *)first, strlen(first), &o1, &l1, NULL) != SB_EAGAIN) return 1;
                char fin[512];
                size_t fl = client_final(m, first + 3, (const char *)o1, l1, fin, sizeof(fin));
                if (scram_server_step(s, (const uint8_t *)fin, fl, &o2, &l2, NULL) != 0) return 1;
                free(o1);
                free(o2);
                scram_server_free(s);
                done++;
            }
            t = now_s();
        }
        printf("%s server side: %.0f exchanges/s\n", scram_mechanism_name(m), (double)done / (t - t0));

        done = 0;
        t0 = t = now_s();
        while (t - t0 < seconds) {
            scram_client_t *c = scram_client_new(m, "bench", "bench-password");
            scram_server_t *s = scram_server_new(m, lookup, NULL, mock, sizeof(mock));
            uint8_t *a, *b, *cc, *d;
            size_t al, bl, cl, dl;
            scram_client_first(c, &a, &al);
            if (scram_server_step(s, a, al, &b, &bl, NULL) != SB_EAGAIN) return 1;
            scram_client_final(c, b, bl, &cc, &cl, NULL);
            if (scram_server_step(s, cc, cl, &d, &dl, NULL) != 0 || scram_client_verify(c, d, dl, NULL) != 0) return 1;
            free(a);
            free(b);
            free(cc);
            free(d);
            scram_client_free(c);
            scram_server_free(s);
            done++;
            t = now_s();
        }
        printf("%s client and server (4096 iterations): %.0f exchanges/s\n", scram_mechanism_name(m),
               (double)done / (t - t0));
    }
    return 0;
}
