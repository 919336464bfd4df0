/* SCRAM server (RFC 5802, RFC 7677). See scram.h for the contract.
 *
 * Message grammar handled here (RFC 5802 §7), with Kafka's additions:
 *   client-first  = gs2-header client-first-bare
 *   gs2-header    = ("n" / "y") "," ["a=" saslname] ","      ("p=" is refused: no channel binding)
 *   client-first-bare = "n=" saslname ",r=" c-nonce *("," ext)  (Kafka sends "tokenauth=true")
 *   client-final  = "c=" base64(gs2-header) ",r=" nonce *("," ext) ",p=" base64(proof)
 * saslname escapes ',' as "=2C" and '=' as "=3D"; any other '=' is malformed. */
#include "security/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

/* Client messages are a few hundred bytes; the cap bounds what a stranger can make us copy. */
#define SCRAM_MAX_MESSAGE 4096
#define SCRAM_NONCE_BYTES 24

enum { ST_FIRST, ST_FINAL, ST_DONE, ST_FAILED };

struct scram_server {
    scram_mechanism_t m;
    scram_lookup_fn lookup;
    void *lookup_arg;
    uint8_t mock_secret[64];
    size_t mock_secret_len;
    int state;
    bool known_user;
    char user[SCRAM_MAX_USER + 1];
    scram_credential_t cred;
    char *gs2_header;        /* e.g. "n,," */
    char *client_first_bare; /* for AuthMessage */
    char *server_first;
    char *nonce; /* c-nonce + s-nonce */
    size_t cnonce_len;
    char snonce[64];
};

const char *scram_mechanism_name(scram_mechanism_t m)
{
    return m == SCRAM_SHA_512 ? "SCRAM-SHA-512" : "SCRAM-SHA-256";
}

int scram_mechanism_parse(const char *name, size_t len, scram_mechanism_t *out)
{
    if (len == 13 && memcmp(name, "SCRAM-SHA-256", 13) == 0) {
        *out = SCRAM_SHA_256;
        return 0;
    }
    if (len == 13 && memcmp(name, "SCRAM-SHA-512", 13) == 0) {
        *out = SCRAM_SHA_512;
        return 0;
    }
    return SB_EINVAL;
}

int8_t scram_mechanism_kafka_id(scram_mechanism_t m)
{
    return m == SCRAM_SHA_512 ? 2 : 1;
}

int scram_mechanism_from_kafka_id(int8_t id, scram_mechanism_t *out)
{
    if (id == 1) *out = SCRAM_SHA_256;
    else if (id == 2) *out = SCRAM_SHA_512;
    else return SB_EINVAL;
    return 0;
}

size_t scram_hash_len(scram_mechanism_t m)
{
    return m == SCRAM_SHA_512 ? 64 : 32;
}

static const EVP_MD *md_of(scram_mechanism_t m)
{
    return m == SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

static int hmac(scram_mechanism_t m, const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (!HMAC(md_of(m), key, (int)key_len, data, len, out, &n) || n != scram_hash_len(m)) return SB_EIO;
    return 0;
}

static int hash(scram_mechanism_t m, const void *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, md_of(m), NULL) || n != scram_hash_len(m)) return SB_EIO;
    return 0;
}

int scram_salted_password(scram_mechanism_t m, const void *password, size_t password_len, const uint8_t *salt,
                          size_t salt_len, int32_t iterations, uint8_t *out)
{
    if (iterations < 1 || password_len > INT32_MAX || salt_len > INT32_MAX) return SB_EINVAL;
    if (!PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations, md_of(m),
                           (int)scram_hash_len(m), out))
        return SB_EIO;
    return 0;
}

int scram_credential_from_salted(scram_mechanism_t m, const uint8_t *salted_password, const uint8_t *salt,
                                 size_t salt_len, int32_t iterations, scram_credential_t *out)
{
    if (salt_len == 0 || salt_len > SCRAM_MAX_SALT) return SB_EINVAL;
    size_t hl = scram_hash_len(m);
    uint8_t client_key[SCRAM_MAX_HASH];
    memset(out, 0, sizeof(*out));
    out->mechanism = m;
    out->iterations = iterations;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    int rc = hmac(m, salted_password, hl, "Client Key", 10, client_key);
    if (rc == 0) rc = hash(m, client_key, hl, out->stored_key);
    if (rc == 0) rc = hmac(m, salted_password, hl, "Server Key", 10, out->server_key);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return rc;
}

int scram_credential_from_password(scram_mechanism_t m, const char *password, const uint8_t *salt,
                                   size_t salt_len, int32_t iterations, scram_credential_t *out)
{
    uint8_t fresh[32];
    if (!salt) {
        if (RAND_bytes(fresh, sizeof(fresh)) != 1) return SB_EIO;
        salt = fresh;
        salt_len = sizeof(fresh);
    }
    uint8_t salted[SCRAM_MAX_HASH];
    int rc = scram_salted_password(m, password, strlen(password), salt, salt_len, iterations, salted);
    if (rc == 0) rc = scram_credential_from_salted(m, salted, salt, salt_len, iterations, out);
    OPENSSL_cleanse(salted, sizeof(salted));
    return rc;
}

bool scram_credential_check_password(const scram_credential_t *c, const char *password, size_t password_len)
{
    uint8_t salted[SCRAM_MAX_HASH];
    scram_credential_t probe;
    bool ok = scram_salted_password(c->mechanism, password, password_len, c->salt, c->salt_len, c->iterations,
                                    salted) == 0 &&
              scram_credential_from_salted(c->mechanism, salted, c->salt, c->salt_len, c->iterations, &probe) == 0 &&
              CRYPTO_memcmp(probe.stored_key, c->stored_key, scram_hash_len(c->mechanism)) == 0;
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(&probe, sizeof(probe));
    return ok;
}

/* ---- the exchange ---- */

scram_server_t *scram_server_new(scram_mechanism_t m, scram_lookup_fn lookup, void *arg, const uint8_t *mock_secret,
                                 size_t mock_secret_len)
{
    scram_server_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->m = m;
    s->lookup = lookup;
    s->lookup_arg = arg;
    if (mock_secret_len > sizeof(s->mock_secret)) mock_secret_len = sizeof(s->mock_secret);
    if (mock_secret) memcpy(s->mock_secret, mock_secret, mock_secret_len);
    s->mock_secret_len = mock_secret_len;
    /* The server nonce: printable and free of ',', so base64 of random bytes. */
    uint8_t raw[SCRAM_NONCE_BYTES];
    if (RAND_bytes(raw, sizeof(raw)) != 1 || sb_base64_encode(raw, sizeof(raw), s->snonce, sizeof(s->snonce)) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void scram_server_free(scram_server_t *s)
{
    if (!s) return;
    free(s->gs2_header);
    free(s->client_first_bare);
    free(s->server_first);
    free(s->nonce);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

int scram_server_set_nonce_for_test(scram_server_t *s, const char *nonce)
{
    if (s->state != ST_FIRST || strlen(nonce) >= sizeof(s->snonce) || strchr(nonce, ',')) return SB_EINVAL;
    strcpy(s->snonce, nonce);
    return 0;
}

const char *scram_server_user(const scram_server_t *s)
{
    return s && s->state == ST_DONE ? s->user : NULL;
}

const char *scram_server_claimed_user(const scram_server_t *s)
{
    return s && s->user[0] ? s->user : NULL;
}

/* Unescapes a saslname (RFC 5802 §5.1) into out (NUL-terminated). Refuses '=' not followed
 * by "2C"/"3D", a raw ',' (the caller splits on it, so it cannot occur), NUL and control
 * characters, an empty name and one longer than SCRAM_MAX_USER. */
static int saslname_decode(const char *p, size_t n, char *out, size_t cap, sb_err_t *err)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '=') {
            if (n - i < 3) return sb_err_set(err, SB_EINVAL, "malformed user name escape");
            if (p[i + 1] == '2' && p[i + 2] == 'C') c = ',';
            else if (p[i + 1] == '3' && p[i + 2] == 'D') c = '=';
            else return sb_err_set(err, SB_EINVAL, "malformed user name escape");
            i += 2;
        } else if ((unsigned char)c < 0x20 || c == 0x7f) {
            return sb_err_set(err, SB_EINVAL, "user name contains a control character");
        }
        if (o + 1 >= cap) return sb_err_set(err, SB_EINVAL, "user name longer than %d bytes", SCRAM_MAX_USER);
        out[o++] = c;
    }
    if (o == 0) return sb_err_set(err, SB_EINVAL, "empty user name");
    out[o] = 0;
    return 0;
}

/* A cursor over a comma-separated attribute list. */
typedef struct {
    const char *p, *end;
} attr_rd_t;

/* Next "x=value" field: returns 0 with *key/klen and *val/vlen, SB_ENOENT at the end, SB_EINVAL
 * when the field has no '='. Values may contain '=' (base64 padding). */
static int attr_next(attr_rd_t *r, const char **key, size_t *klen, const char **val, size_t *vlen)
{
    if (r->p > r->end) return SB_ENOENT;
    const char *comma = memchr(r->p, ',', (size_t)(r->end - r->p));
    const char *fend = comma ? comma : r->end;
    const char *eq = memchr(r->p, '=', (size_t)(fend - r->p));
    if (!eq || eq == r->p) return SB_EINVAL;
    *key = r->p;
    *klen = (size_t)(eq - r->p);
    *val = eq + 1;
    *vlen = (size_t)(fend - eq - 1);
    r->p = fend + 1; /* one past end when this was the last field */
    return 0;
}

static bool key_is(const char *k, size_t klen, const char *want)
{
    return klen == strlen(want) && memcmp(k, want, klen) == 0;
}

static char *dup_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* The made-up credential for a user without one: a salt derived from the mock secret and the
 * name (stable across attempts, like a real one) and keys no proof can match. */
static int mock_credential(scram_server_t *s)
{
    scram_credential_t *c = &s->cred;
    memset(c, 0, sizeof(*c));
    c->mechanism = s->m;
    c->iterations = SCRAM_DEFAULT_ITERATIONS;
    uint8_t mac[SCRAM_MAX_HASH];
    if (hmac(SCRAM_SHA_256, s->mock_secret, s->mock_secret_len, s->user, strlen(s->user), mac) != 0) return SB_EIO;
    memcpy(c->salt, mac, 32);
    c->salt_len = 32;
    if (RAND_bytes(c->stored_key, sizeof(c->stored_key)) != 1) return SB_EIO;
    if (RAND_bytes(c->server_key, sizeof(c->server_key)) != 1) return SB_EIO;
    return 0;
}

static int fail(scram_server_t *s, int rc)
{
    s->state = ST_FAILED;
    return rc;
}

static int step_first(scram_server_t *s, const char *msg, size_t n, uint8_t **out, size_t *out_len, sb_err_t *err)
{
    /* gs2-header: cbind flag, authzid, then the bare message. */
    if (n < 3) return sb_err_set(err, SB_EINVAL, "client-first message too short");
    if (msg[0] == 'p') return sb_err_set(err, SB_EINVAL, "channel binding is not supported");
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
        return sb_err_set(err, SB_EINVAL, "client-first message has a malformed gs2 header");
    const char *authz = msg + 2;
    const char *comma = memchr(authz, ',', n - 2);
    if (!comma) return sb_err_set(err, SB_EINVAL, "client-first message has a malformed gs2 header");
    char authzid[SCRAM_MAX_USER + 1] = "";
    if (comma > authz) {
        if (comma - authz < 3 || authz[0] != 'a' || authz[1] != '=')
            return sb_err_set(err, SB_EINVAL, "client-first message has a malformed authzid");
        int rc = saslname_decode(authz + 2, (size_t)(comma - authz - 2), authzid, sizeof(authzid), err);
        if (rc) return rc;
    }
    size_t gs2_len = (size_t)(comma + 1 - msg);
    const char *bare = comma + 1;
    size_t bare_len = n - gs2_len;

    attr_rd_t r = {bare, bare + bare_len};
    const char *k, *v;
    size_t kl, vl;
    if (attr_next(&r, &k, &kl, &v, &vl) != 0) return sb_err_set(err, SB_EINVAL, "client-first message has no user");
    if (key_is(k, kl, "m")) return sb_err_set(err, SB_EINVAL, "mandatory SCRAM extensions are not supported");
    if (!key_is(k, kl, "n")) return sb_err_set(err, SB_EINVAL, "client-first message has no user");
    int rc = saslname_decode(v, vl, s->user, sizeof(s->user), err);
    if (rc) {
        s->user[0] = 0;
        return rc;
    }
    if (attr_next(&r, &k, &kl, &v, &vl) != 0 || !key_is(k, kl, "r") || vl == 0)
        return sb_err_set(err, SB_EINVAL, "client-first message has no nonce");
    for (size_t i = 0; i < vl; i++)
        if (v[i] < 0x21 || v[i] > 0x7e) return sb_err_set(err, SB_EINVAL, "client nonce is not printable");
    const char *cnonce = v;
    size_t cnonce_len = vl;
    /* Extensions. Kafka's "tokenauth" asks for delegation-token authentication, which this
     * broker does not offer; accepting the exchange would authenticate a token as a user. */
    int ext;
    while ((ext = attr_next(&r, &k, &kl, &v, &vl)) == 0) {
        if (key_is(k, kl, "tokenauth") && vl == 4 && memcmp(v, "true", 4) == 0)
            return sb_err_set(err, SB_EINVAL, "delegation tokens (tokenauth) are not supported");
    }
    if (ext == SB_EINVAL) return sb_err_set(err, SB_EINVAL, "client-first message has a malformed extension");
    if (authzid[0] && strcmp(authzid, s->user) != 0)
        return sb_err_set(err, SB_EINVAL, "authorization id differs from the user name");

    rc = s->lookup ? s->lookup(s->lookup_arg, s->user, s->m, &s->cred) : SB_ENOENT;
    if (rc == 0 && s->cred.mechanism == s->m && s->cred.salt_len > 0 && s->cred.salt_len <= SCRAM_MAX_SALT) {
        s->known_user = true;
    } else if (rc == 0 || rc == SB_ENOENT) {
        if (mock_credential(s) != 0) return sb_err_set(err, SB_EIO, "cannot make a server nonce");
    } else {
        return sb_err_set(err, SB_EIO, "credential lookup failed");
    }

    size_t snonce_len = strlen(s->snonce);
    s->gs2_header = dup_n(msg, gs2_len);
    s->client_first_bare = dup_n(bare, bare_len);
    s->nonce = malloc(cnonce_len + snonce_len + 1);
    char salt_b64[SB_BASE64_ENCODED_CAP(SCRAM_MAX_SALT)];
    if (!s->gs2_header || !s->client_first_bare || !s->nonce) return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(s->nonce, cnonce, cnonce_len);
    s->cnonce_len = cnonce_len;
    memcpy(s->nonce + cnonce_len, s->snonce, snonce_len + 1);
    sb_base64_encode(s->cred.salt, s->cred.salt_len, salt_b64, sizeof(salt_b64));
    size_t cap = strlen(s->nonce) + strlen(salt_b64) + 32;
    s->server_first = malloc(cap);
    if (!s->server_first) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int len = snprintf(s->server_first, cap, "r=%s,s=%s,i=%d", s->nonce, salt_b64, (int)s->cred.iterations);
    *out = (uint8_t *)dup_n(s->server_first, (size_t)len);
    if (!*out) return sb_err_set(err, SB_ENOMEM, "out of memory");
    *out_len = (size_t)len;
    s->state = ST_FINAL;
    return SB_EAGAIN;
}

static int step_final(scram_server_t *s, const char *msg, size_t n, uint8_t **out, size_t *out_len, sb_err_t *err)
{
    attr_rd_t r = {msg, msg + n};
    const char *k, *v;
    size_t kl, vl;
    /* channel binding: base64 of the gs2 header sent in client-first */
    if (attr_next(&r, &k, &kl, &v, &vl) != 0 || !key_is(k, kl, "c"))
        return sb_err_set(err, SB_EINVAL, "client-final message has no channel binding");
    char cb[SB_BASE64_ENCODED_CAP(2 + 2 + 3 * SCRAM_MAX_USER + 1)];
    int cbl = sb_base64_encode((const uint8_t *)s->gs2_header, strlen(s->gs2_header), cb, sizeof(cb));
    if (cbl < 0 || (size_t)cbl != vl || memcmp(cb, v, vl) != 0)
        return sb_err_set(err, SB_EINVAL, "client-final channel binding does not match client-first");
    if (attr_next(&r, &k, &kl, &v, &vl) != 0 || !key_is(k, kl, "r"))
        return sb_err_set(err, SB_EINVAL, "client-final message has no nonce");
    /* RFC 5802 wants the server-first nonce itself. librdkafka (up to at least 2.x) sends its
     * own nonce in front of it once more; Kafka accepts a nonce that ends with the server-first
     * one, so we accept exactly those two forms. */
    size_t nl = strlen(s->nonce);
    bool nonce_ok = (vl == nl && CRYPTO_memcmp(v, s->nonce, vl) == 0) ||
                    (vl == nl + s->cnonce_len && CRYPTO_memcmp(v, s->nonce, s->cnonce_len) == 0 &&
                     CRYPTO_memcmp(v + s->cnonce_len, s->nonce, nl) == 0);
    if (!nonce_ok)
        return sb_err_set(err, SB_EINVAL, "client-final nonce does not match");
    /* Extensions may follow; the proof is the last field. */
    const char *proof_b64 = NULL;
    size_t proof_b64_len = 0;
    const char *without_proof_end = NULL;
    int rc;
    for (;;) {
        const char *field = r.p;
        rc = attr_next(&r, &k, &kl, &v, &vl);
        if (rc != 0) break;
        if (key_is(k, kl, "p")) {
            if (r.p <= r.end) return sb_err_set(err, SB_EINVAL, "client-final proof is not the last field");
            proof_b64 = v;
            proof_b64_len = vl;
            without_proof_end = field - 1; /* the ',' before "p=" */
            break;
        }
    }
    if (rc == SB_EINVAL) return sb_err_set(err, SB_EINVAL, "client-final message has a malformed field");
    if (!proof_b64) return sb_err_set(err, SB_EINVAL, "client-final message has no proof");

    size_t hl = scram_hash_len(s->m);
    uint8_t proof[SCRAM_MAX_HASH + 3];
    int pl = sb_base64_decode(proof_b64, proof_b64_len, proof, sizeof(proof));
    if (pl < 0 || (size_t)pl != hl) return sb_err_set(err, SB_EINVAL, "client-final proof is malformed");

    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    size_t wp_len = (size_t)(without_proof_end - msg);
    size_t cfb = strlen(s->client_first_bare), sf = strlen(s->server_first);
    size_t am_len = cfb + 1 + sf + 1 + wp_len;
    char *am = malloc(am_len);
    if (!am) return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(am, s->client_first_bare, cfb);
    am[cfb] = ',';
    memcpy(am + cfb + 1, s->server_first, sf);
    am[cfb + 1 + sf] = ',';
    memcpy(am + cfb + 2 + sf, msg, wp_len);

    uint8_t client_sig[SCRAM_MAX_HASH], client_key[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH],
        server_sig[SCRAM_MAX_HASH];
    rc = hmac(s->m, s->cred.stored_key, hl, am, am_len, client_sig);
    if (rc == 0) {
        for (size_t i = 0; i < hl; i++) client_key[i] = proof[i] ^ client_sig[i];
        rc = hash(s->m, client_key, hl, stored);
    }
    if (rc == 0) rc = hmac(s->m, s->cred.server_key, hl, am, am_len, server_sig);
    free(am);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (rc != 0) return sb_err_set(err, SB_EIO, "digest computation failed");
    /* Evaluate the comparison even for a made-up credential, so an unknown user costs the
     * same time as a wrong password. */
    bool match = CRYPTO_memcmp(stored, s->cred.stored_key, hl) == 0;
    if (!match || !s->known_user) return sb_err_set(err, SB_EINVAL, "invalid credentials");

    char sig_b64[SB_BASE64_ENCODED_CAP(SCRAM_MAX_HASH)];
    sb_base64_encode(server_sig, hl, sig_b64, sizeof(sig_b64));
    size_t len = 2 + strlen(sig_b64);
    *out = malloc(len + 1);
    if (!*out) return sb_err_set(err, SB_ENOMEM, "out of memory");
    snprintf((char *)*out, len + 1, "v=%s", sig_b64);
    *out_len = len;
    s->state = ST_DONE;
    return 0;
}

int scram_server_step(scram_server_t *s, const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len,
                      sb_err_t *err)
{
    *out = NULL;
    *out_len = 0;
    if (s->state == ST_DONE || s->state == ST_FAILED)
        return fail(s, sb_err_set(err, SB_EINVAL, "SCRAM exchange already finished"));
    if (in_len > SCRAM_MAX_MESSAGE) return fail(s, sb_err_set(err, SB_EINVAL, "SCRAM message too long"));
    if (memchr(in, 0, in_len)) return fail(s, sb_err_set(err, SB_EINVAL, "SCRAM message contains a NUL byte"));
    int rc = s->state == ST_FIRST ? step_first(s, (const char *)in, in_len, out, out_len, err)
                                  : step_final(s, (const char *)in, in_len, out, out_len, err);
    if (rc != 0 && rc != SB_EAGAIN) {
        free(*out);
        *out = NULL;
        *out_len = 0;
        return fail(s, rc);
    }
    return rc;
}

/* ---- client ---- */

struct scram_client {
    scram_mechanism_t m;
    char *user_escaped;
    char *password;
    char cnonce[SB_BASE64_ENCODED_CAP(SCRAM_NONCE_BYTES)];
    char *client_first_bare;
    uint8_t server_sig[SCRAM_MAX_HASH];
    bool have_sig;
};

scram_client_t *scram_client_new(scram_mechanism_t m, const char *user, const char *password)
{
    scram_client_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->m = m;
    size_t n = strlen(user);
    c->user_escaped = malloc(3 * n + 1);
    c->password = strdup(password);
    uint8_t raw[SCRAM_NONCE_BYTES];
    if (!c->user_escaped || !c->password || RAND_bytes(raw, sizeof(raw)) != 1) {
        scram_client_free(c);
        return NULL;
    }
    sb_base64_encode(raw, sizeof(raw), c->cnonce, sizeof(c->cnonce));
    char *o = c->user_escaped;
    for (size_t i = 0; i < n; i++) {
        if (user[i] == ',') o += sprintf(o, "=2C");
        else if (user[i] == '=') o += sprintf(o, "=3D");
        else *o++ = user[i];
    }
    *o = 0;
    return c;
}

void scram_client_free(scram_client_t *c)
{
    if (!c) return;
    free(c->user_escaped);
    if (c->password) OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c->client_first_bare);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

int scram_client_first(scram_client_t *c, uint8_t **out, size_t *out_len)
{
    size_t cap = strlen(c->user_escaped) + strlen(c->cnonce) + 16;
    free(c->client_first_bare);
    c->client_first_bare = malloc(cap);
    *out = malloc(cap + 3);
    if (!c->client_first_bare || !*out) {
        free(*out);
        *out = NULL;
        return SB_ENOMEM;
    }
    snprintf(c->client_first_bare, cap, "n=%s,r=%s", c->user_escaped, c->cnonce);
    *out_len = (size_t)snprintf((char *)*out, cap + 3, "n,,%s", c->client_first_bare);
    return 0;
}

int scram_client_final(scram_client_t *c, const uint8_t *server_first, size_t n, uint8_t **out, size_t *out_len,
                       sb_err_t *err)
{
    *out = NULL;
    if (!c->client_first_bare) return sb_err_set(err, SB_EINVAL, "client-first was not sent");
    if (n > SCRAM_MAX_MESSAGE || memchr(server_first, 0, n))
        return sb_err_set(err, SB_EINVAL, "malformed server-first message");
    attr_rd_t r = {(const char *)server_first, (const char *)server_first + n};
    const char *k, *v, *nonce = NULL, *salt_b64 = NULL;
    size_t kl, vl, nonce_len = 0, salt_len_b64 = 0;
    long iterations = 0;
    while (attr_next(&r, &k, &kl, &v, &vl) == 0) {
        if (key_is(k, kl, "r")) {
            nonce = v;
            nonce_len = vl;
        } else if (key_is(k, kl, "s")) {
            salt_b64 = v;
            salt_len_b64 = vl;
        } else if (key_is(k, kl, "i")) {
            char num[16];
            if (vl == 0 || vl >= sizeof(num)) return sb_err_set(err, SB_EINVAL, "malformed iteration count");
            memcpy(num, v, vl);
            num[vl] = 0;
            char *end;
            iterations = strtol(num, &end, 10);
            if (*end) return sb_err_set(err, SB_EINVAL, "malformed iteration count");
        } else if (key_is(k, kl, "e")) {
            return sb_err_set(err, SB_EINVAL, "server refused: %.*s", (int)(vl > 64 ? 64 : vl), v);
        }
    }
    size_t cl = strlen(c->cnonce);
    if (!nonce || nonce_len <= cl || memcmp(nonce, c->cnonce, cl) != 0)
        return sb_err_set(err, SB_EINVAL, "server nonce does not extend the client nonce");
    if (iterations < SCRAM_MIN_ITERATIONS || iterations > 1000000)
        return sb_err_set(err, SB_EINVAL, "server asks for %ld iterations (at least %d expected)", iterations,
                          SCRAM_MIN_ITERATIONS);
    uint8_t salt[SCRAM_MAX_SALT * 2];
    int sl = salt_b64 ? sb_base64_decode(salt_b64, salt_len_b64, salt, sizeof(salt)) : -1;
    if (sl <= 0) return sb_err_set(err, SB_EINVAL, "malformed salt");

    size_t hl = scram_hash_len(c->m);
    uint8_t salted[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH], skey[SCRAM_MAX_HASH],
        csig[SCRAM_MAX_HASH], proof[SCRAM_MAX_HASH];
    int rc = scram_salted_password(c->m, c->password, strlen(c->password), salt, (size_t)sl, (int32_t)iterations,
                                   salted);
    if (rc == 0) rc = hmac(c->m, salted, hl, "Client Key", 10, ckey);
    if (rc == 0) rc = hash(c->m, ckey, hl, stored);
    if (rc == 0) rc = hmac(c->m, salted, hl, "Server Key", 10, skey);
    size_t wp_cap = nonce_len + 16;
    char *without_proof = malloc(wp_cap);
    size_t am_cap = strlen(c->client_first_bare) + n + wp_cap + 4;
    char *am = malloc(am_cap);
    if (rc == 0 && (!without_proof || !am)) rc = SB_ENOMEM;
    if (rc == 0) {
        snprintf(without_proof, wp_cap, "c=biws,r=%.*s", (int)nonce_len, nonce);
        int am_len = snprintf(am, am_cap, "%s,%.*s,%s", c->client_first_bare, (int)n, (const char *)server_first,
                              without_proof);
        rc = hmac(c->m, stored, hl, am, (size_t)am_len, csig);
        if (rc == 0) rc = hmac(c->m, skey, hl, am, (size_t)am_len, c->server_sig);
    }
    if (rc == 0) {
        for (size_t i = 0; i < hl; i++) proof[i] = ckey[i] ^ csig[i];
        char proof_b64[SB_BASE64_ENCODED_CAP(SCRAM_MAX_HASH)];
        sb_base64_encode(proof, hl, proof_b64, sizeof(proof_b64));
        size_t cap = strlen(without_proof) + strlen(proof_b64) + 4;
        *out = malloc(cap);
        if (!*out) rc = SB_ENOMEM;
        else *out_len = (size_t)snprintf((char *)*out, cap, "%s,p=%s", without_proof, proof_b64);
        c->have_sig = true;
    }
    free(without_proof);
    free(am);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ckey, sizeof(ckey));
    OPENSSL_cleanse(skey, sizeof(skey));
    if (rc) return sb_err_set(err, rc, "cannot compute the client proof");
    return 0;
}

int scram_client_verify(scram_client_t *c, const uint8_t *server_final, size_t n, sb_err_t *err)
{
    if (!c->have_sig) return sb_err_set(err, SB_EINVAL, "client-final was not sent");
    size_t hl = scram_hash_len(c->m);
    if (n > 2 && server_final[0] == 'e' && server_final[1] == '=')
        return sb_err_set(err, SB_EINVAL, "server refused: %.*s", (int)(n - 2 > 64 ? 64 : n - 2), server_final + 2);
    uint8_t sig[SCRAM_MAX_HASH + 3];
    if (n < 3 || server_final[0] != 'v' || server_final[1] != '=' ||
        sb_base64_decode((const char *)server_final + 2, n - 2, sig, sizeof(sig)) != (int)hl ||
        CRYPTO_memcmp(sig, c->server_sig, hl) != 0)
        return sb_err_set(err, SB_EINVAL, "the server's signature does not match: it does not know this credential");
    return 0;
}
