#ifndef STREAMBUS_SECURITY_SCRAM_H
#define STREAMBUS_SECURITY_SCRAM_H

/* SCRAM-SHA-256 and SCRAM-SHA-512, server side (RFC 5802, RFC 7677), as a pure state machine:
 * no sockets, no clock, no files. The caller feeds each client message to scram_server_step()
 * and sends back what it produces:
 *
 *   client-first  -> server-first   (returns SB_EAGAIN: another message is expected)
 *   client-final  -> server-final   (returns 0: authenticated)
 *
 * Any failure returns SB_EINVAL with a reason in err that never contains a password, a proof
 * or a key. An unknown user is indistinguishable on the wire from a wrong password: the server
 * answers client-first with a made-up salt and fails at client-final, so that the exchange
 * cannot be used to find out which user names exist.
 *
 * Credentials are what RFC 5802 §3 calls StoredKey and ServerKey with their salt and
 * iteration count; the password itself is never needed by the server. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum {
    SCRAM_SHA_256 = 0,
    SCRAM_SHA_512 = 1,
} scram_mechanism_t;

#define SCRAM_MAX_HASH 64 /* SHA-512 */
#define SCRAM_MAX_SALT 64
#define SCRAM_MIN_ITERATIONS 4096
/* Kafka's upper bound for AlterUserScramCredentials: high enough for any sane policy, low
 * enough that one request cannot make the broker spin for minutes. */
#define SCRAM_MAX_ITERATIONS 16384
#define SCRAM_DEFAULT_ITERATIONS 4096
/* Longest user name accepted (bytes, after unescaping). */
#define SCRAM_MAX_USER 255

typedef struct scram_credential {
    scram_mechanism_t mechanism;
    int32_t iterations;
    uint8_t salt[SCRAM_MAX_SALT];
    size_t salt_len;
    uint8_t stored_key[SCRAM_MAX_HASH];
    uint8_t server_key[SCRAM_MAX_HASH];
} scram_credential_t;

/* "SCRAM-SHA-256" / "SCRAM-SHA-512". */
const char *scram_mechanism_name(scram_mechanism_t m);
/* Parses a mechanism name (exact, case-sensitive as SASL names are); SB_EINVAL otherwise. */
int scram_mechanism_parse(const char *name, size_t len, scram_mechanism_t *out);
/* Kafka's ScramMechanism enum in the SCRAM admin APIs: 1 = SHA-256, 2 = SHA-512. */
int8_t scram_mechanism_kafka_id(scram_mechanism_t m);
int scram_mechanism_from_kafka_id(int8_t id, scram_mechanism_t *out);
/* Digest length in bytes: 32 or 64. */
size_t scram_hash_len(scram_mechanism_t m);

/* SaltedPassword = Hi(password, salt, iterations) (PBKDF2-HMAC). out holds scram_hash_len. */
int scram_salted_password(scram_mechanism_t m, const void *password, size_t password_len, const uint8_t *salt,
                          size_t salt_len, int32_t iterations, uint8_t *out);
/* StoredKey and ServerKey from a SaltedPassword (what AlterUserScramCredentials carries). */
int scram_credential_from_salted(scram_mechanism_t m, const uint8_t *salted_password, const uint8_t *salt,
                                 size_t salt_len, int32_t iterations, scram_credential_t *out);
/* The same from a clear password and a salt (NULL salt: 32 fresh random bytes). */
int scram_credential_from_password(scram_mechanism_t m, const char *password, const uint8_t *salt,
                                   size_t salt_len, int32_t iterations, scram_credential_t *out);
/* Constant-time check of a clear password against a credential (PLAIN uses it). */
bool scram_credential_check_password(const scram_credential_t *c, const char *password, size_t password_len);

/* Looks up a user's credential for a mechanism: 0 and *out filled, SB_ENOENT when the user
 * has none. `user` is the unescaped name (NUL-terminated). */
typedef int (*scram_lookup_fn)(void *arg, const char *user, scram_mechanism_t m, scram_credential_t *out);

typedef struct scram_server scram_server_t;

/* mock_secret keys the made-up salts for unknown users (so the same unknown name always gets
 * the same salt); it is copied. lookup/arg are borrowed and called once, during client-first. */
scram_server_t *scram_server_new(scram_mechanism_t m, scram_lookup_fn lookup, void *arg, const uint8_t *mock_secret,
                                 size_t mock_secret_len);
void scram_server_free(scram_server_t *s);

/* Feeds one client message. On SB_EAGAIN or 0, *out and *out_len receive the message to send back
 * (malloc'd; caller frees). On SB_EINVAL *out is NULL, err says why, and the exchange is over. */
int scram_server_step(scram_server_t *s, const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len,
                      sb_err_t *err);

/* The authenticated user name (unescaped) once step returned 0, else NULL. */
const char *scram_server_user(const scram_server_t *s);
/* The user name the client claimed in client-first (for logs), or NULL before it. */
const char *scram_server_claimed_user(const scram_server_t *s);

/* ---- client side (streambus ctl, tests, the handshake benchmark) ---- */

typedef struct scram_client scram_client_t;

/* user and password are copied; the user name is escaped as RFC 5802 says. */
scram_client_t *scram_client_new(scram_mechanism_t m, const char *user, const char *password);
void scram_client_free(scram_client_t *c);
/* client-first ("n,,n=user,r=nonce"): *out malloc'd, caller frees. */
int scram_client_first(scram_client_t *c, uint8_t **out, size_t *out_len);
/* Reads server-first and produces client-final; SB_EINVAL (reason in err) when server-first is
 * malformed, its nonce does not extend ours, or its iteration count is below the minimum. */
int scram_client_final(scram_client_t *c, const uint8_t *server_first, size_t n, uint8_t **out, size_t *out_len,
                       sb_err_t *err);
/* Checks server-final: 0 when the server proved it knows ServerKey, SB_EINVAL otherwise. */
int scram_client_verify(scram_client_t *c, const uint8_t *server_final, size_t n, sb_err_t *err);

/* For tests only: replaces the random server nonce (printable, no ','), so that an RFC test
 * vector can be replayed. Must be called before the first step. */
int scram_server_set_nonce_for_test(scram_server_t *s, const char *nonce);

#endif
