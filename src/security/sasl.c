/* SASL mechanisms for the Kafka protocol; see sasl.h. */
#include "security/sasl.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/jwt.h"

/* PLAIN and OAUTHBEARER messages carry a name, a password or a token: a JWT is rarely above a
 * few kilobytes. The cap bounds what a stranger can make us hold. */
#define SASL_MAX_MESSAGE 16384
#define SASL_MAX_TOKEN 8192

struct sasl_session {
    const sasl_config_t *cfg;
    sasl_mechanism_t m;
    scram_server_t *scram;
    bool done;
    bool failed;
    char user[SCRAM_MAX_USER + 1];
    char claimed[SCRAM_MAX_USER + 1];
    int64_t expiry_s;
};

static const struct {
    sasl_mechanism_t m;
    const char *name;
} mech_names[] = {
    {SASL_MECH_SCRAM_SHA_512, "SCRAM-SHA-512"},
    {SASL_MECH_SCRAM_SHA_256, "SCRAM-SHA-256"},
    {SASL_MECH_PLAIN, "PLAIN"},
    {SASL_MECH_OAUTHBEARER, "OAUTHBEARER"},
};
#define NMECH (sizeof(mech_names) / sizeof(mech_names[0]))

const char *sasl_mechanism_name(sasl_mechanism_t m)
{
    for (size_t i = 0; i < NMECH; i++)
        if (mech_names[i].m == m) return mech_names[i].name;
    return "?";
}

int sasl_mechanism_parse(const char *name, size_t len, sasl_mechanism_t *out)
{
    for (size_t i = 0; i < NMECH; i++)
        if (strlen(mech_names[i].name) == len && memcmp(mech_names[i].name, name, len) == 0) {
            *out = mech_names[i].m;
            return 0;
        }
    return SB_EINVAL;
}

int sasl_mechanisms_parse(const char *list, unsigned *out, sb_err_t *err)
{
    unsigned mask = 0;
    const char *p = list;
    while (*p) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t n = strcspn(p, ", \t");
        if (n == 0) break;
        sasl_mechanism_t m;
        if (sasl_mechanism_parse(p, n, &m) != 0)
            return sb_err_set(err, SB_EINVAL,
                              "unknown SASL mechanism \"%.*s\" (known: SCRAM-SHA-256, SCRAM-SHA-512, PLAIN, OAUTHBEARER)",
                              (int)(n > 64 ? 64 : n), p);
        mask |= m;
        p += n;
    }
    *out = mask;
    return 0;
}

void sasl_mechanisms_foreach(unsigned mask, void (*cb)(void *arg, const char *name), void *arg)
{
    for (size_t i = 0; i < NMECH; i++)
        if (mask & mech_names[i].m) cb(arg, mech_names[i].name);
}

int sasl_session_new(const sasl_config_t *cfg, sasl_mechanism_t m, bool encrypted, sasl_session_t **out,
                     sb_err_t *err)
{
    *out = NULL;
    if (!(cfg->mechanisms & m))
        return sb_err_set(err, SB_EINVAL, "SASL mechanism %s is not enabled on this listener", sasl_mechanism_name(m));
    /* PLAIN sends the password itself: without TLS anyone on the path reads it. */
    if (m == SASL_MECH_PLAIN && !encrypted && !cfg->plain_without_tls)
        return sb_err_set(err, SB_EINVAL, "SASL PLAIN is only allowed over TLS (SASL_SSL)");
    sasl_session_t *s = calloc(1, sizeof(*s));
    if (!s) return sb_err_set(err, SB_ENOMEM, "out of memory");
    s->cfg = cfg;
    s->m = m;
    if (m == SASL_MECH_SCRAM_SHA_256 || m == SASL_MECH_SCRAM_SHA_512) {
        s->scram = scram_server_new(m == SASL_MECH_SCRAM_SHA_512 ? SCRAM_SHA_512 : SCRAM_SHA_256,
                                    cfg->creds ? cred_store_scram_lookup : NULL, cfg->creds, cfg->mock_secret,
                                    sizeof(cfg->mock_secret));
        if (!s->scram) {
            free(s);
            return sb_err_set(err, SB_ENOMEM, "cannot start a SCRAM exchange");
        }
    }
    *out = s;
    return 0;
}

void sasl_session_free(sasl_session_t *s)
{
    if (!s) return;
    scram_server_free(s->scram);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

sasl_mechanism_t sasl_session_mechanism(const sasl_session_t *s)
{
    return s->m;
}

const char *sasl_session_user(const sasl_session_t *s)
{
    return s && s->done ? s->user : NULL;
}

const char *sasl_session_claimed_user(const sasl_session_t *s)
{
    if (!s) return NULL;
    if (s->scram) return scram_server_claimed_user(s->scram);
    return s->claimed[0] ? s->claimed : NULL;
}

int64_t sasl_session_credential_expiry_s(const sasl_session_t *s)
{
    return s->expiry_s;
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. */
static int step_plain(sasl_session_t *s, const uint8_t *in, size_t n, sb_err_t *err)
{
    const uint8_t *nul1 = memchr(in, 0, n);
    const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - in)) : NULL;
    if (!nul1 || !nul2) return sb_err_set(err, SB_EINVAL, "malformed PLAIN message");
    size_t authz_len = (size_t)(nul1 - in);
    const char *authc = (const char *)nul1 + 1;
    size_t authc_len = (size_t)(nul2 - nul1 - 1);
    const char *pw = (const char *)nul2 + 1;
    size_t pw_len = n - (size_t)(nul2 + 1 - in);
    if (!cred_user_name_valid(authc, authc_len)) return sb_err_set(err, SB_EINVAL, "malformed PLAIN user name");
    memcpy(s->claimed, authc, authc_len);
    s->claimed[authc_len] = 0;
    if (authz_len && (authz_len != authc_len || memcmp(in, authc, authc_len) != 0))
        return sb_err_set(err, SB_EINVAL, "PLAIN authorization id differs from the user name");
    if (pw_len == 0 || memchr(pw, 0, pw_len)) return sb_err_set(err, SB_EINVAL, "malformed PLAIN password");

    /* The SCRAM credentials double as PLAIN's: one salted hash per user and mechanism, and
     * the password is checked by deriving it again. An unknown user costs the same derivation
     * (against a made-up credential), so timing does not reveal which names exist. */
    scram_credential_t c;
    bool known = s->cfg->creds && (cred_store_get(s->cfg->creds, s->claimed, SCRAM_SHA_256, &c) == 0 ||
                                   cred_store_get(s->cfg->creds, s->claimed, SCRAM_SHA_512, &c) == 0);
    if (!known) {
        memset(&c, 0, sizeof(c));
        c.mechanism = SCRAM_SHA_256;
        c.iterations = SCRAM_DEFAULT_ITERATIONS;
        c.salt_len = 16;
    }
    bool ok = scram_credential_check_password(&c, pw, pw_len);
    OPENSSL_cleanse(&c, sizeof(c));
    if (!ok || !known) return sb_err_set(err, SB_EINVAL, "invalid credentials");
    memcpy(s->user, s->claimed, authc_len + 1);
    return 0;
}

/* OAUTHBEARER (RFC 7628 §3.1): gs2-header kvsep *(key "=" value kvsep) kvsep, kvsep = %x01,
 * with "auth=Bearer <token>" among the pairs. */
static int step_oauthbearer(sasl_session_t *s, const uint8_t *in, size_t n, int64_t now_s, sb_err_t *err)
{
    const char *p = (const char *)in;
    const char *end = p + n;
    if (n < 4 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
        return sb_err_set(err, SB_EINVAL, "malformed OAUTHBEARER message (gs2 header)");
    const char *comma = memchr(p + 2, ',', n - 2);
    if (!comma) return sb_err_set(err, SB_EINVAL, "malformed OAUTHBEARER message (gs2 header)");
    const char *authz = p + 2;
    size_t authz_len = (size_t)(comma - authz);
    if (authz_len && (authz_len < 2 || memcmp(authz, "a=", 2) != 0))
        return sb_err_set(err, SB_EINVAL, "malformed OAUTHBEARER authorization id");
    const char *q = comma + 1;
    if (q >= end || *q != 0x01) return sb_err_set(err, SB_EINVAL, "malformed OAUTHBEARER message (separator)");
    q++;
    const char *token = NULL;
    size_t token_len = 0;
    bool terminated = false;
    while (q < end) {
        if (*q == 0x01) {
            terminated = q + 1 == end;
            break;
        }
        const char *kvend = memchr(q, 0x01, (size_t)(end - q));
        if (!kvend) break;
        if ((size_t)(kvend - q) > 5 && memcmp(q, "auth=", 5) == 0) {
            const char *v = q + 5;
            size_t vl = (size_t)(kvend - v);
            if (vl < 8 || strncasecmp(v, "Bearer ", 7) != 0)
                return sb_err_set(err, SB_EINVAL, "OAUTHBEARER auth value is not a Bearer token");
            token = v + 7;
            token_len = vl - 7;
        }
        q = kvend + 1;
    }
    if (!terminated) return sb_err_set(err, SB_EINVAL, "malformed OAUTHBEARER message (not terminated)");
    if (!token || token_len == 0) return sb_err_set(err, SB_EINVAL, "OAUTHBEARER message carries no token");
    if (token_len > SASL_MAX_TOKEN) return sb_err_set(err, SB_EINVAL, "OAUTHBEARER token too long");
    if (!s->cfg->verify_token) return sb_err_set(err, SB_EINVAL, "no token verifier is configured");
    char *tok = malloc(token_len + 1);
    if (!tok) return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(tok, token, token_len);
    tok[token_len] = 0;
    int64_t exp = 0;
    int rc = s->cfg->verify_token(s->cfg->verify_arg, tok, now_s, s->user, sizeof(s->user), &exp, err);
    OPENSSL_cleanse(tok, token_len);
    free(tok);
    if (rc != 0) {
        s->user[0] = 0;
        return SB_EINVAL;
    }
    if (!cred_user_name_valid(s->user, strlen(s->user))) {
        s->user[0] = 0;
        return sb_err_set(err, SB_EINVAL, "token subject is not a valid user name");
    }
    /* An authzid, when given, must name the token's subject: a client may not pick whom to act as. */
    if (authz_len && (authz_len - 2 != strlen(s->user) || memcmp(authz + 2, s->user, authz_len - 2) != 0)) {
        s->user[0] = 0;
        return sb_err_set(err, SB_EINVAL, "OAUTHBEARER authorization id differs from the token subject");
    }
    snprintf(s->claimed, sizeof(s->claimed), "%s", s->user);
    s->expiry_s = exp;
    return 0;
}

int sasl_session_step(sasl_session_t *s, const uint8_t *in, size_t in_len, int64_t now_s, uint8_t **out,
                      size_t *out_len, sb_err_t *err)
{
    *out = NULL;
    *out_len = 0;
    if (s->done || s->failed) return sb_err_set(err, SB_EINVAL, "SASL exchange already finished");
    if (in_len > SASL_MAX_MESSAGE) {
        s->failed = true;
        return sb_err_set(err, SB_EINVAL, "SASL message too long");
    }
    int rc;
    if (s->scram) {
        rc = scram_server_step(s->scram, in, in_len, out, out_len, err);
        if (rc == 0) {
            snprintf(s->user, sizeof(s->user), "%s", scram_server_user(s->scram));
        }
    } else if (s->m == SASL_MECH_PLAIN) {
        rc = step_plain(s, in, in_len, err);
    } else {
        rc = step_oauthbearer(s, in, in_len, now_s, err);
    }
    if (rc == 0) s->done = true;
    else if (rc != SB_EAGAIN) s->failed = true;
    return rc;
}

int sasl_verify_http_jwt(void *arg, const char *token, int64_t now_s, char *user, size_t user_cap, int64_t *expires_s,
                         sb_err_t *err)
{
    http_jwt_claims_t c;
    int rc = http_jwt_verify(arg, token, strlen(token), now_s, &c, err);
    if (rc != 0) return SB_EINVAL;
    /* A refresh token only buys new access tokens from the login endpoint. */
    if (strcmp(c.use, "refresh") == 0) return sb_err_set(err, SB_EINVAL, "token is a refresh token");
    if (!c.sub[0]) return sb_err_set(err, SB_EINVAL, "token has no subject");
    if (strlen(c.sub) >= user_cap) return sb_err_set(err, SB_EINVAL, "token subject too long");
    snprintf(user, user_cap, "%s", c.sub);
    *expires_s = c.exp;
    return 0;
}
