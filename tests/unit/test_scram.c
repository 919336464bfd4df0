/* Tests for the SCRAM server state machine (RFC 5802/7677), the credential store and the SASL
 * mechanism layer (PLAIN, OAUTHBEARER through the HTTP JWT verifier). The client side of
 * SCRAM is written out here from the RFC so that SHA-512 and failure cases can be driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/base64.h"
#include "http/jwt.h"
#include "security/credentials.h"
#include "security/sasl.h"
#include "security/scram.h"

/* ---- a one-credential lookup ---- */

typedef struct {
    const char *user;
    scram_credential_t cred;
    char last_lookup[300];
    int lookups;
} one_user_t;

static int one_lookup(void *arg, const char *user, scram_mechanism_t m, scram_credential_t *out)
{
    one_user_t *u = arg;
    u->lookups++;
    snprintf(u->last_lookup, sizeof(u->last_lookup), "%s", user);
    if (strcmp(user, u->user) != 0 || m != u->cred.mechanism) return SB_ENOENT;
    *out = u->cred;
    return 0;
}

static const uint8_t MOCK[32] = "mock-secret-for-unknown-users!!";

static int step_str(scram_server_t *s, const char *in, char **out, sb_err_t *err)
{
    uint8_t *o = NULL;
    size_t ol = 0;
    int rc = scram_server_step(s, (const uint8_t *)in, strlen(in), &o, &ol, err);
    if (o) {
        *out = malloc(ol + 1);
        memcpy(*out, o, ol);
        (*out)[ol] = 0;
        free(o);
    } else {
        *out = NULL;
    }
    return rc;
}

/* RFC 7677 §3: the SCRAM-SHA-256 exchange for user "user", password "pencil". */
static void test_rfc7677_vector(void **state)
{
    one_user_t u = {.user = "user"};
    uint8_t salt[16];
    const char *salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
    assert_int_equal(sb_base64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt)), 16);
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_256, "pencil", salt, 16, 4096, &u.cred), 0);

    scram_server_t *s = scram_server_new(SCRAM_SHA_256, one_lookup, &u, MOCK, sizeof(MOCK));
    assert_int_equal(scram_server_set_nonce_for_test(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"), 0);
    char *out;
    sb_err_t err = {0};
    assert_int_equal(step_str(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &out, &err), SB_EAGAIN);
    assert_string_equal(out, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    free(out);
    assert_null(scram_server_user(s));
    assert_int_equal(step_str(s,
                              "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                              "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                              &out, &err),
                     0);
    assert_string_equal(out, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    free(out);
    assert_string_equal(scram_server_user(s), "user");
    /* A finished exchange accepts nothing more. */
    assert_int_equal(step_str(s, "c=biws", &out, &err), SB_EINVAL);
    scram_server_free(s);
}

/* ---- a SCRAM client, from RFC 5802 §3 ---- */

typedef struct {
    scram_mechanism_t m;
    const char *password;
    char first_bare[512];
    char final_msg[1024];
    uint8_t server_sig[64];
} client_t;

static const char *client_first(client_t *c, const char *gs2, const char *user_escaped)
{
    snprintf(c->first_bare, sizeof(c->first_bare), "n=%s,r=clientnonce123", user_escaped);
    static char buf[600];
    snprintf(buf, sizeof(buf), "%s%s", gs2, c->first_bare);
    return buf;
}

/* Builds client-final from server-first; gs2 is the header sent in client-first. */
static const char *client_final(client_t *c, const char *server_first, const char *gs2, const char *password)
{
    const EVP_MD *md = c->m == SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
    size_t hl = scram_hash_len(c->m);
    char nonce[256] = "", salt_b64[256] = "";
    int iter = 0;
    assert_int_equal(sscanf(server_first, "r=%255[^,],s=%255[^,],i=%d", nonce, salt_b64, &iter), 3);
    uint8_t salt[128];
    int sl = sb_base64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt));
    assert_true(sl > 0);
    uint8_t salted[64], ckey[64], stored[64], csig[64], proof[64], skey[64];
    assert_int_equal(scram_salted_password(c->m, password, strlen(password), salt, (size_t)sl, iter, salted), 0);
    unsigned int n;
    HMAC(md, salted, (int)hl, (const uint8_t *)"Client Key", 10, ckey, &n);
    EVP_Digest(ckey, hl, stored, &n, md, NULL);
    HMAC(md, salted, (int)hl, (const uint8_t *)"Server Key", 10, skey, &n);
    char cb[128];
    sb_base64_encode((const uint8_t *)gs2, strlen(gs2), cb, sizeof(cb));
    char without_proof[512];
    snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s", cb, nonce);
    char am[2048];
    snprintf(am, sizeof(am), "%s,%s,%s", c->first_bare, server_first, without_proof);
    HMAC(md, stored, (int)hl, (const uint8_t *)am, strlen(am), csig, &n);
    for (size_t i = 0; i < hl; i++) proof[i] = ckey[i] ^ csig[i];
    HMAC(md, skey, (int)hl, (const uint8_t *)am, strlen(am), c->server_sig, &n);
    char proof_b64[128];
    sb_base64_encode(proof, hl, proof_b64, sizeof(proof_b64));
    snprintf(c->final_msg, sizeof(c->final_msg), "%s,p=%s", without_proof, proof_b64);
    return c->final_msg;
}

/* Runs a whole exchange; returns the final step's result and the server-first in sf. */
static int exchange(scram_mechanism_t m, one_user_t *u, const char *gs2, const char *user_escaped,
                    const char *password, char *sf, size_t sf_cap, sb_err_t *err)
{
    client_t c = {.m = m};
    scram_server_t *s = scram_server_new(m, one_lookup, u, MOCK, sizeof(MOCK));
    char *out = NULL;
    int rc = step_str(s, client_first(&c, gs2, user_escaped), &out, err);
    if (rc != SB_EAGAIN) {
        scram_server_free(s);
        return rc;
    }
    if (sf) snprintf(sf, sf_cap, "%s", out);
    const char *fin = client_final(&c, out, gs2, password);
    free(out);
    rc = step_str(s, fin, &out, err);
    if (rc == 0) {
        /* The server proves it knows ServerKey: the client checks v=. */
        char want[200], sig[128];
        sb_base64_encode(c.server_sig, scram_hash_len(m), sig, sizeof(sig));
        snprintf(want, sizeof(want), "v=%s", sig);
        assert_string_equal(out, want);
        assert_string_equal(scram_server_user(s), u->user);
    }
    free(out);
    scram_server_free(s);
    return rc;
}

static void test_sha512_good_and_wrong_password(void **state)
{
    one_user_t u = {.user = "alice"};
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_512, "s3cret", NULL, 0, 4096, &u.cred), 0);
    sb_err_t err = {0};
    assert_int_equal(exchange(SCRAM_SHA_512, &u, "n,,", "alice", "s3cret", NULL, 0, &err), 0);
    assert_int_equal(exchange(SCRAM_SHA_512, &u, "n,,", "alice", "s3creT", NULL, 0, &err), SB_EINVAL);
    assert_string_equal(err.msg, "invalid credentials");
    /* The SHA-256 exchange finds no SHA-512 credential: the user has none for that mechanism. */
    assert_int_equal(exchange(SCRAM_SHA_256, &u, "n,,", "alice", "s3cret", NULL, 0, &err), SB_EINVAL);
    /* An authzid equal to the user is fine; a different one is refused. */
    assert_int_equal(exchange(SCRAM_SHA_512, &u, "n,a=alice,", "alice", "s3cret", NULL, 0, &err), 0);
    assert_int_equal(exchange(SCRAM_SHA_512, &u, "y,a=bob,", "alice", "s3cret", NULL, 0, &err), SB_EINVAL);
    assert_string_equal(err.msg, "authorization id differs from the user name");
}

/* An unknown user gets a server-first like a real one, with the same salt on every attempt,
 * and fails only at the end with the same reason as a wrong password. */
static void test_unknown_user_looks_like_wrong_password(void **state)
{
    one_user_t u = {.user = "alice"};
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_256, "pw", NULL, 0, 4096, &u.cred), 0);
    char sf1[256], sf2[256];
    sb_err_t err = {0};
    assert_int_equal(exchange(SCRAM_SHA_256, &u, "n,,", "mallory", "pw", sf1, sizeof(sf1), &err), SB_EINVAL);
    assert_string_equal(err.msg, "invalid credentials");
    assert_int_equal(exchange(SCRAM_SHA_256, &u, "n,,", "mallory", "pw", sf2, sizeof(sf2), &err), SB_EINVAL);
    const char *s1 = strstr(sf1, ",s="), *s2 = strstr(sf2, ",s=");
    assert_non_null(s1);
    assert_string_equal(s1, s2);
    assert_non_null(strstr(sf1, ",i=4096"));
}

static void test_username_escapes(void **state)
{
    one_user_t u = {.user = "a,b=c"};
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_256, "pw", NULL, 0, 4096, &u.cred), 0);
    sb_err_t err = {0};
    assert_int_equal(exchange(SCRAM_SHA_256, &u, "n,,", "a=2Cb=3Dc", "pw", NULL, 0, &err), 0);
    assert_string_equal(u.last_lookup, "a,b=c");
    const char *bad[] = {"a=2cb", "a=", "a=3", "a=41", "", "x\x01y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u.lookups = 0;
        int rc = exchange(SCRAM_SHA_256, &u, "n,,", bad[i], "pw", NULL, 0, &err);
        assert_int_equal(rc, SB_EINVAL);
        assert_int_equal(u.lookups, 0); /* refused before any lookup */
    }
}

static void test_malformed_messages(void **state)
{
    one_user_t u = {.user = "user"};
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_256, "pencil", NULL, 0, 4096, &u.cred), 0);
    struct {
        const char *first;
        const char *why;
    } firsts[] = {
        {"p=tls-unique,,n=user,r=abc", "channel binding is not supported"},
        {"n,,n=user,r=abc,tokenauth=true", "delegation tokens (tokenauth) are not supported"},
        {"n,,m=ext,n=user,r=abc", "mandatory SCRAM extensions are not supported"},
        {"n,,n=user", "client-first message has no nonce"},
        {"n,,n=user,r=", "client-first message has no nonce"},
        {"x,,n=user,r=abc", "client-first message has a malformed gs2 header"},
        {"n,,r=abc,n=user", "client-first message has no user"},
        {"n,,n=user,r=ab c", "client nonce is not printable"},
        {"n,", "client-first message too short"},
        {"n,n=user,r=abc", "client-first message has a malformed authzid"},
    };
    for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
        scram_server_t *s = scram_server_new(SCRAM_SHA_256, one_lookup, &u, MOCK, sizeof(MOCK));
        char *out;
        sb_err_t err = {0};
        assert_int_equal(step_str(s, firsts[i].first, &out, &err), SB_EINVAL);
        assert_null(out);
        assert_string_equal(err.msg, firsts[i].why);
        scram_server_free(s);
    }
    /* client-final faults after a good client-first */
    const char *finals[][2] = {
        {"c=eSws,r=%N,p=AAAA", "client-final channel binding does not match client-first"},
        {"c=biws,r=wrongnonce,p=AAAA", "client-final nonce does not match"},
        {"c=biws,r=%N", "client-final message has no proof"},
        {"c=biws,r=%N,p=!!!!", "client-final proof is malformed"},
        {"c=biws,r=%N,p=AAAA,x=1", "client-final proof is not the last field"},
        {"c=biws,r=XCLISRV,p=AAAA", "client-final nonce does not match"},
        {"c=biws,r=CLISRVCLI,p=AAAA", "client-final nonce does not match"},
        {"r=%N,c=biws,p=AAAA", "client-final message has no channel binding"},
    };
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
        scram_server_t *s = scram_server_new(SCRAM_SHA_256, one_lookup, &u, MOCK, sizeof(MOCK));
        assert_int_equal(scram_server_set_nonce_for_test(s, "SRV"), 0);
        char *out;
        sb_err_t err = {0};
        assert_int_equal(step_str(s, "n,,n=user,r=CLI", &out, &err), SB_EAGAIN);
        free(out);
        char msg[256];
        const char *t = finals[i][0];
        const char *pct = strstr(t, "%N");
        if (pct)
            snprintf(msg, sizeof(msg), "%.*sCLISRV%s", (int)(pct - t), t, pct + 2);
        else
            snprintf(msg, sizeof(msg), "%s", t);
        assert_int_equal(step_str(s, msg, &out, &err), SB_EINVAL);
        assert_string_equal(err.msg, finals[i][1]);
        assert_null(scram_server_user(s));
        scram_server_free(s);
    }
    /* A NUL byte inside a message */
    scram_server_t *s = scram_server_new(SCRAM_SHA_256, one_lookup, &u, MOCK, sizeof(MOCK));
    uint8_t *o;
    size_t ol;
    sb_err_t err = {0};
    assert_int_equal(scram_server_step(s, (const uint8_t *)"n,,n=us\0er,r=a", 14, &o, &ol, &err), SB_EINVAL);
    scram_server_free(s);
}

/* librdkafka sends r=<client nonce><server-first nonce> (its nonce twice); Kafka accepts a
 * nonce ending with the server-first one, and so must we, with a valid proof over that form. */
static void test_librdkafka_nonce_form(void **state)
{
    one_user_t u = {.user = "alice"};
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_256, "pw", NULL, 0, 4096, &u.cred), 0);
    client_t c = {.m = SCRAM_SHA_256};
    scram_server_t *s = scram_server_new(SCRAM_SHA_256, one_lookup, &u, MOCK, sizeof(MOCK));
    char *out;
    sb_err_t err = {0};
    assert_int_equal(step_str(s, client_first(&c, "n,,", "alice"), &out, &err), SB_EAGAIN);
    /* The nonce as librdkafka echoes it: its own nonce, then server-first's whole r=. */
    char nonce[256];
    assert_int_equal(sscanf(out, "r=%200[^,]", nonce + 14), 1);
    memcpy(nonce, "clientnonce123", 14);
    const EVP_MD *md = EVP_sha256();
    char salt_b64[128];
    int iter;
    assert_int_equal(sscanf(out, "r=%*[^,],s=%127[^,],i=%d", salt_b64, &iter), 2);
    uint8_t salt[64], salted[32], ckey[32], stored[32], csig[32], proof[32];
    int sl = sb_base64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt));
    scram_salted_password(SCRAM_SHA_256, "pw", 2, salt, (size_t)sl, iter, salted);
    unsigned int n;
    HMAC(md, salted, 32, (const uint8_t *)"Client Key", 10, ckey, &n);
    EVP_Digest(ckey, 32, stored, &n, md, NULL);
    char wp[512], am[2048];
    snprintf(wp, sizeof(wp), "c=biws,r=%s", nonce);
    snprintf(am, sizeof(am), "%s,%s,%s", c.first_bare, out, wp);
    HMAC(md, stored, 32, (const uint8_t *)am, strlen(am), csig, &n);
    for (int i = 0; i < 32; i++) proof[i] = ckey[i] ^ csig[i];
    char pb[64], msg[700];
    sb_base64_encode(proof, 32, pb, sizeof(pb));
    snprintf(msg, sizeof(msg), "%s,p=%s", wp, pb);
    free(out);
    assert_int_equal(step_str(s, msg, &out, &err), 0);
    assert_non_null(out);
    free(out);
    scram_server_free(s);
}

static void test_base64_strict(void **state)
{
    uint8_t out[16];
    assert_int_equal(sb_base64_decode("Zm9v", 4, out, sizeof(out)), 3);
    assert_int_equal(sb_base64_decode("Zm8=", 4, out, sizeof(out)), 2);
    assert_int_equal(sb_base64_decode("Zg==", 4, out, sizeof(out)), 1);
    assert_int_equal(sb_base64_decode("Zh==", 4, out, sizeof(out)), SB_EINVAL); /* non-zero trailing bits */
    assert_int_equal(sb_base64_decode("Zg=a", 4, out, sizeof(out)), SB_EINVAL);
    assert_int_equal(sb_base64_decode("Zg==Zm9v", 8, out, sizeof(out)), SB_EINVAL);
    assert_int_equal(sb_base64_decode("Zm9", 3, out, sizeof(out)), SB_EINVAL);
    assert_int_equal(sb_base64_decode("Zm9vZm9v", 8, out, 5), SB_ERANGE);
    char enc[8];
    assert_int_equal(sb_base64_encode((const uint8_t *)"fo", 2, enc, sizeof(enc)), 4);
    assert_string_equal(enc, "Zm8=");
    assert_int_equal(sb_base64_encode((const uint8_t *)"foobar", 6, enc, sizeof(enc)), SB_ERANGE);
}

/* ---- credential store ---- */

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/test_scram_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static int count_cb(void *arg, const char *user, const scram_credential_t *c)
{
    char *buf = arg;
    size_t n = strlen(buf);
    snprintf(buf + n, 512 - n, "%s/%s;", user, scram_mechanism_name(c->mechanism));
    return 0;
}

static void test_store_persists_and_never_holds_password(void **state)
{
    char *dir = tmpdir();
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/security", dir);
    cred_store_t *st;
    sb_err_t err = {0};
    assert_int_equal(cred_store_open_file(sub, &st, &err), 0);
    scram_credential_t c256, c512, got;
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_256, "Password-256", NULL, 0, 4096, &c256), 0);
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_512, "Password-512", NULL, 0, 8192, &c512), 0);
    assert_int_equal(cred_store_put(st, "bob", &c256, &err), 0);
    assert_int_equal(cred_store_put(st, "alice", &c256, &err), 0);
    assert_int_equal(cred_store_put(st, "alice", &c512, &err), 0);
    /* bounds */
    scram_credential_t weak = c256;
    weak.iterations = 4095;
    assert_int_equal(cred_store_put(st, "carol", &weak, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "iterations 4095"));
    assert_int_equal(cred_store_put(st, "", &c256, &err), SB_EINVAL);
    assert_int_equal(cred_store_put(st, "tab\there", &c256, &err), SB_EINVAL);
    cred_store_free(st);

    /* reopen: everything is back, in name order */
    assert_int_equal(cred_store_open_file(sub, &st, &err), 0);
    assert_int_equal(cred_store_get(st, "alice", SCRAM_SHA_512, &got), 0);
    assert_int_equal(got.iterations, 8192);
    assert_memory_equal(got.stored_key, c512.stored_key, 64);
    assert_memory_equal(got.salt, c512.salt, c512.salt_len);
    assert_true(scram_credential_check_password(&got, "Password-512", 12));
    assert_false(scram_credential_check_password(&got, "Password-51", 11));
    assert_int_equal(cred_store_get(st, "bob", SCRAM_SHA_512, &got), SB_ENOENT);
    char listing[512] = "";
    assert_int_equal(cred_store_list(st, count_cb, listing), 0);
    assert_string_equal(listing, "alice/SCRAM-SHA-256;alice/SCRAM-SHA-512;bob/SCRAM-SHA-256;");
    assert_int_equal(cred_store_remove(st, "alice", SCRAM_SHA_256, &err), 0);
    assert_int_equal(cred_store_remove(st, "alice", SCRAM_SHA_256, &err), SB_ENOENT);
    cred_store_free(st);

    /* the file: only the broker user may read the directory; no password in it */
    char path[600];
    snprintf(path, sizeof(path), "%s/scram-credentials.json", sub);
    struct stat sbuf;
    assert_int_equal(stat(sub, &sbuf), 0);
    assert_int_equal(sbuf.st_mode & 0777, 0700);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = 0;
    fclose(fp);
    assert_null(strstr(text, "Password"));
    assert_null(strstr(text, "\"user\": \"alice\",\n  \"mechanism\": \"SCRAM-SHA-256\""));
    assert_non_null(strstr(text, "stored_key"));

    /* a damaged file stops start-up with the file's name */
    fp = fopen(path, "w");
    fputs("{\"version\":1,\"credentials\":[{\"user\":\"x\",\"mechanism\":\"SCRAM-SHA-256\",\"iterations\":4096,"
          "\"salt\":\"AA==\",\"stored_key\":\"short\",\"server_key\":\"AA==\"}]}",
          fp);
    fclose(fp);
    assert_int_equal(cred_store_open_file(sub, &st, &err), SB_ECORRUPT);
    assert_non_null(strstr(err.msg, "scram-credentials.json"));
    assert_non_null(strstr(err.msg, "entry 0"));
    fp = fopen(path, "w");
    fputs("not json", fp);
    fclose(fp);
    assert_int_equal(cred_store_open_file(sub, &st, &err), SB_ECORRUPT);

    unlink(path);
    rmdir(sub);
    rmdir(dir);
    free(dir);
}

/* ---- SASL mechanisms ---- */

static int sasl_run(sasl_session_t *s, const void *msg, size_t n, sb_err_t *err)
{
    uint8_t *o = NULL;
    size_t ol = 0;
    int rc = sasl_session_step(s, msg, n, 1800000000, &o, &ol, err);
    free(o);
    return rc;
}

static void test_plain(void **state)
{
    char *dir = tmpdir();
    cred_store_t *st;
    sb_err_t err = {0};
    assert_int_equal(cred_store_open_file(dir, &st, &err), 0);
    scram_credential_t c;
    assert_int_equal(scram_credential_from_password(SCRAM_SHA_512, "pw1", NULL, 0, 4096, &c), 0);
    assert_int_equal(cred_store_put(st, "alice", &c, &err), 0);
    sasl_config_t cfg = {.mechanisms = SASL_MECH_PLAIN | SASL_MECH_SCRAM_SHA_256, .creds = st};
    sasl_session_t *s;
    /* PLAIN over an unencrypted connection is refused unless allowed for development. */
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_PLAIN, false, &s, &err), SB_EINVAL);
    assert_string_equal(err.msg, "SASL PLAIN is only allowed over TLS (SASL_SSL)");
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_OAUTHBEARER, true, &s, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "not enabled"));

    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_PLAIN, true, &s, &err), 0);
    assert_int_equal(sasl_run(s, "\0alice\0pw1", 10, &err), 0);
    assert_string_equal(sasl_session_user(s), "alice");
    sasl_session_free(s);

    cfg.plain_without_tls = true;
    struct {
        const char *msg;
        size_t n;
        const char *why;
    } bad[] = {
        {"\0alice\0pw2", 10, "invalid credentials"},
        {"\0nobody\0pw1", 11, "invalid credentials"},
        {"bob\0alice\0pw1", 13, "PLAIN authorization id differs from the user name"},
        {"alice\0pw1", 9, "malformed PLAIN message"},
        {"\0alice\0", 7, "malformed PLAIN password"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sasl_session_new(&cfg, SASL_MECH_PLAIN, false, &s, &err), 0);
        assert_int_equal(sasl_run(s, bad[i].msg, bad[i].n, &err), SB_EINVAL);
        assert_string_equal(err.msg, bad[i].why);
        assert_null(sasl_session_user(s));
        sasl_session_free(s);
    }
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_PLAIN, false, &s, &err), 0);
    assert_int_equal(sasl_run(s, "alice\0alice\0pw1", 15, &err), 0);
    sasl_session_free(s);
    cred_store_free(st);
    char path[600];
    snprintf(path, sizeof(path), "%s/scram-credentials.json", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static const char JWT_SECRET[] = "0123456789abcdef0123456789abcdef-sasl";

static void test_oauthbearer(void **state)
{
    /* The broker's OAUTHBEARER uses the HTTP APIs' JWT verifier (src/http/jwt.h). */
    http_jwt_verifier_t *a = NULL;
    http_jwt_options_t opt = {.leeway_s = 60};
    assert_int_equal(http_jwt_verifier_new(&opt, &a, NULL), 0);
    assert_int_equal(http_jwt_verifier_add_hmac(a, JWT_SECRET, strlen(JWT_SECRET), NULL, NULL), 0);
    sasl_config_t cfg = {.mechanisms = SASL_MECH_OAUTHBEARER, .verify_token = sasl_verify_http_jwt, .verify_arg = a};
    char *tok = NULL, *refresh = NULL;
    assert_int_equal(http_jwt_sign_hs256(a, "{\"sub\":\"svc-app\",\"role\":\"viewer\",\"use\":\"access\","
                                            "\"iat\":1799999990,\"exp\":1800000050}", &tok), 0);
    assert_int_equal(http_jwt_sign_hs256(a, "{\"sub\":\"svc-app\",\"role\":\"viewer\",\"use\":\"refresh\","
                                            "\"iat\":1799999990,\"exp\":1800000050}", &refresh), 0);
    char msg[2048];
    sasl_session_t *s;
    sb_err_t err = {0};

    int n = snprintf(msg, sizeof(msg), "n,,\x01" "auth=Bearer %s\x01\x01", tok);
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_OAUTHBEARER, false, &s, &err), 0);
    assert_int_equal(sasl_run(s, msg, (size_t)n, &err), 0);
    assert_string_equal(sasl_session_user(s), "svc-app");
    assert_int_equal(sasl_session_credential_expiry_s(s), 1800000000 - 10 + 60);
    sasl_session_free(s);

    /* authzid naming someone else */
    n = snprintf(msg, sizeof(msg), "n,a=admin,\x01" "auth=Bearer %s\x01\x01", tok);
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_OAUTHBEARER, false, &s, &err), 0);
    assert_int_equal(sasl_run(s, msg, (size_t)n, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "authorization id"));
    sasl_session_free(s);

    /* refresh token, unsecured token (alg none), garbage, no terminator */
    const char *unsecured = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdmMtYXBwIiwicm9sZSI6ImFkbWluIiwidXNlIjoiYWNjZXNzIiwiZXhwIjo0MDAwMDAwMDAwfQ.";
    const char *toks[] = {refresh, unsecured, "abc"};
    const char *why[] = {"token is a refresh token", "token algorithm none is not accepted", "malformed token"};
    for (int i = 0; i < 3; i++) {
        n = snprintf(msg, sizeof(msg), "n,,\x01" "auth=Bearer %s\x01\x01", toks[i]);
        assert_int_equal(sasl_session_new(&cfg, SASL_MECH_OAUTHBEARER, false, &s, &err), 0);
        assert_int_equal(sasl_run(s, msg, (size_t)n, &err), SB_EINVAL);
        assert_non_null(strstr(err.msg, why[i]));
        assert_null(strstr(err.msg, "eyJ")); /* the token never appears in the reason */
        sasl_session_free(s);
    }
    n = snprintf(msg, sizeof(msg), "n,,\x01" "auth=Bearer %s\x01", tok);
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_OAUTHBEARER, false, &s, &err), 0);
    assert_int_equal(sasl_run(s, msg, (size_t)n, &err), SB_EINVAL);
    assert_string_equal(err.msg, "malformed OAUTHBEARER message (not terminated)");
    sasl_session_free(s);
    /* an expired token */
    cfg.verify_arg = a;
    n = snprintf(msg, sizeof(msg), "n,,\x01" "auth=Bearer %s\x01\x01", tok);
    assert_int_equal(sasl_session_new(&cfg, SASL_MECH_OAUTHBEARER, false, &s, &err), 0);
    uint8_t *o;
    size_t ol;
    assert_int_equal(sasl_session_step(s, (const uint8_t *)msg, (size_t)n, 1800000000 + 3600, &o, &ol, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token expired");
    sasl_session_free(s);
    free(tok);
    free(refresh);
    http_jwt_verifier_free(a);
}

/* The client half (used by streambus ctl) against the server half, both mechanisms, and a
 * server that does not know the credential failing the client's check of v=. */
static void test_client_against_server(void **state)
{
    for (int mech = 0; mech < 2; mech++) {
        scram_mechanism_t m = mech ? SCRAM_SHA_512 : SCRAM_SHA_256;
        one_user_t u = {.user = "a,b"};
        assert_int_equal(scram_credential_from_password(m, "pässword", NULL, 0, 4096, &u.cred), 0);
        for (int wrong = 0; wrong < 2; wrong++) {
            scram_client_t *c = scram_client_new(m, "a,b", wrong ? "password" : "pässword");
            scram_server_t *s = scram_server_new(m, one_lookup, &u, MOCK, sizeof(MOCK));
            uint8_t *o1, *o2, *o3, *o4;
            size_t l1, l2, l3, l4;
            sb_err_t err = {0};
            assert_int_equal(scram_client_first(c, &o1, &l1), 0);
            assert_int_equal(scram_server_step(s, o1, l1, &o2, &l2, &err), SB_EAGAIN);
            assert_int_equal(scram_client_final(c, o2, l2, &o3, &l3, &err), 0);
            int rc = scram_server_step(s, o3, l3, &o4, &l4, &err);
            if (wrong) {
                assert_int_equal(rc, SB_EINVAL);
            } else {
                assert_int_equal(rc, 0);
                assert_string_equal(scram_server_user(s), "a,b");
                assert_int_equal(scram_client_verify(c, o4, l4, &err), 0);
                /* a forged server-final */
                o4[3] ^= 1;
                assert_int_equal(scram_client_verify(c, o4, l4, &err), SB_EINVAL);
                free(o4);
            }
            free(o1);
            free(o2);
            free(o3);
            scram_client_free(c);
            scram_server_free(s);
        }
    }
    /* A server that offers fewer iterations than the minimum is refused by the client. */
    scram_client_t *c = scram_client_new(SCRAM_SHA_256, "u", "p");
    uint8_t *o;
    size_t l;
    sb_err_t err = {0};
    assert_int_equal(scram_client_first(c, &o, &l), 0);
    char sf[200];
    snprintf(sf, sizeof(sf), "r=%.*sXYZ,s=QUJD,i=100", (int)(l - 9), (const char *)o + 9);
    free(o);
    assert_int_equal(scram_client_final(c, (const uint8_t *)sf, strlen(sf), &o, &l, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "100 iterations"));
    scram_client_free(c);
}

static void test_mechanism_list_parse(void **state)
{
    unsigned m;
    sb_err_t err = {0};
    assert_int_equal(sasl_mechanisms_parse("SCRAM-SHA-256, SCRAM-SHA-512", &m, &err), 0);
    assert_int_equal(m, SASL_MECH_SCRAM_SHA_256 | SASL_MECH_SCRAM_SHA_512);
    assert_int_equal(sasl_mechanisms_parse("SCRAM-SHA-256,GSSAPI", &m, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "\"GSSAPI\""));
    assert_int_equal(sasl_mechanisms_parse("scram-sha-256", &m, &err), SB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7677_vector),
        cmocka_unit_test(test_sha512_good_and_wrong_password),
        cmocka_unit_test(test_unknown_user_looks_like_wrong_password),
        cmocka_unit_test(test_username_escapes),
        cmocka_unit_test(test_malformed_messages),
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_librdkafka_nonce_form),
        cmocka_unit_test(test_store_persists_and_never_holds_password),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_oauthbearer),
        cmocka_unit_test(test_mechanism_list_parse),
        cmocka_unit_test(test_client_against_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
