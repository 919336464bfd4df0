#ifndef STREAMBUS_SECURITY_SASL_H
#define STREAMBUS_SECURITY_SASL_H

/* SASL mechanisms of the Kafka protocol, server side, independent of the wire: the broker's
 * SaslHandshake/SaslAuthenticate handlers create a session for the mechanism the client
 * picked and feed it each auth_bytes; the session says "send this and wait for more",
 * "authenticated as <user>" or "failed because …".
 *
 *   PLAIN        RFC 4616: authzid NUL authcid NUL password, checked against the SCRAM
 *                credentials of the user (either mechanism); refused on a connection that is
 *                not encrypted unless the configuration explicitly allows it (development).
 *   SCRAM-SHA-*  RFC 5802/7677, see scram.h.
 *   OAUTHBEARER  RFC 7628 client response ("n,a=…,\x01auth=Bearer <jwt>\x01\x01"); the token
 *                goes to a verifier callback (the broker plugs in the HTTP APIs' JWT verifier).
 *                A token the verifier does not accept — an unsecured "alg":"none" one included —
 *                fails the exchange.
 *
 * Failure reasons (err) are for the broker's log and never contain a password or token. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "security/credentials.h"

typedef enum {
    SASL_MECH_PLAIN = 1 << 0,
    SASL_MECH_SCRAM_SHA_256 = 1 << 1,
    SASL_MECH_SCRAM_SHA_512 = 1 << 2,
    SASL_MECH_OAUTHBEARER = 1 << 3,
} sasl_mechanism_t;

#define SASL_MECH_ALL (SASL_MECH_PLAIN | SASL_MECH_SCRAM_SHA_256 | SASL_MECH_SCRAM_SHA_512 | SASL_MECH_OAUTHBEARER)

/* Verifies a bearer token: 0 with the principal's user name and the token's expiry (seconds
 * since the epoch; 0 = none) on success, SB_EINVAL with a reason otherwise. */
typedef int (*sasl_token_verify_fn)(void *arg, const char *token, int64_t now_s, char *user, size_t user_cap,
                                    int64_t *expires_s, sb_err_t *err);

typedef struct sasl_config {
    unsigned mechanisms;      /* SASL_MECH_* bits enabled */
    cred_store_t *creds;      /* borrowed; PLAIN and SCRAM */
    bool plain_without_tls;   /* development only: allow PLAIN on an unencrypted connection */
    sasl_token_verify_fn verify_token; /* OAUTHBEARER; NULL refuses every token */
    void *verify_arg;
    uint8_t mock_secret[32];  /* keys made-up SCRAM salts for unknown users (random per broker) */
} sasl_config_t;

/* "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER". */
const char *sasl_mechanism_name(sasl_mechanism_t m);
int sasl_mechanism_parse(const char *name, size_t len, sasl_mechanism_t *out);
/* Parses a comma- or space-separated list ("SCRAM-SHA-256,SCRAM-SHA-512") into bits; SB_EINVAL
 * naming the unknown entry. */
int sasl_mechanisms_parse(const char *list, unsigned *out, sb_err_t *err);
/* Calls cb for each enabled mechanism in a fixed order (for SaslHandshake's list). */
void sasl_mechanisms_foreach(unsigned mask, void (*cb)(void *arg, const char *name), void *arg);

typedef struct sasl_session sasl_session_t;

/* Starts an exchange. encrypted: the connection runs over TLS. Returns SB_EINVAL (with the
 * reason) when the mechanism is not enabled or PLAIN is not allowed here. cfg is borrowed and
 * must outlive the session. */
int sasl_session_new(const sasl_config_t *cfg, sasl_mechanism_t m, bool encrypted, sasl_session_t **out,
                     sb_err_t *err);
void sasl_session_free(sasl_session_t *s);

/* Feeds one client message. SB_EAGAIN: send *out and expect another message; 0: send *out
 * (may be empty) and the client is authenticated; SB_EINVAL: failed (the reason in err).
 * *out is malloc'd or NULL; the caller frees it. now_s is the wall clock for token expiry. */
int sasl_session_step(sasl_session_t *s, const uint8_t *in, size_t in_len, int64_t now_s, uint8_t **out,
                      size_t *out_len, sb_err_t *err);

sasl_mechanism_t sasl_session_mechanism(const sasl_session_t *s);
/* The authenticated user name, or NULL before success. */
const char *sasl_session_user(const sasl_session_t *s);
/* The user the client claimed (for failure logs), or NULL. */
const char *sasl_session_claimed_user(const sasl_session_t *s);
/* When the credential stops being valid (OAUTHBEARER token exp, seconds since the epoch);
 * 0 when it does not expire by itself. */
int64_t sasl_session_credential_expiry_s(const sasl_session_t *s);

/* A sasl_token_verify_fn over the HTTP APIs' JWT verifier (http/auth.h); arg is the
 * http_auth_t. Only access tokens are accepted; the principal is the token's "sub". */
int sasl_verify_http_jwt(void *arg, const char *token, int64_t now_s, char *user, size_t user_cap, int64_t *expires_s,
                         sb_err_t *err);

#endif
