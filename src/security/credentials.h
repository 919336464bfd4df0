#ifndef STREAMBUS_SECURITY_CREDENTIALS_H
#define STREAMBUS_SECURITY_CREDENTIALS_H

/* The SCRAM credential store: per user and mechanism the salt, iteration count, StoredKey and
 * ServerKey (RFC 5802 §3) — never a password. A small interface (cred_store_ops_t) so that the
 * coming cluster can keep the same records in its metadata quorum; today's backend is a file in
 * the broker's data directory, replaced atomically on every change.
 *
 * Threading: a store is used by one thread at a time (the broker's network thread). */

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "security/scram.h"

typedef struct cred_store cred_store_t;

/* Called once per (user, mechanism) in user-name order; a non-zero return stops the walk and
 * is returned by cred_store_list. */
typedef int (*cred_list_cb)(void *arg, const char *user, const scram_credential_t *c);

/* A backend. get returns SB_ENOENT when the user has no credential for the mechanism;
 * remove returns SB_ENOENT when there was nothing to remove. put/remove are durable when they
 * return 0. */
typedef struct cred_store_ops {
    int (*get)(void *impl, const char *user, scram_mechanism_t m, scram_credential_t *out);
    int (*put)(void *impl, const char *user, const scram_credential_t *c, sb_err_t *err);
    int (*remove)(void *impl, const char *user, scram_mechanism_t m, sb_err_t *err);
    int (*list)(void *impl, cred_list_cb cb, void *arg);
    void (*free)(void *impl);
} cred_store_ops_t;

/* Wraps a backend; takes ownership of impl (ops->free releases it). */
cred_store_t *cred_store_new(const cred_store_ops_t *ops, void *impl);
void cred_store_free(cred_store_t *s);

/* The file backend: loads (or starts empty) `<dir>/scram-credentials.json`, creating dir
 * with mode 0700. A malformed file fails with SB_ECORRUPT naming the file and the entry. */
int cred_store_open_file(const char *dir, cred_store_t **out, sb_err_t *err);

/* User names: 1..SCRAM_MAX_USER bytes of UTF-8 without control characters. */
bool cred_user_name_valid(const char *user, size_t len);

int cred_store_get(cred_store_t *s, const char *user, scram_mechanism_t m, scram_credential_t *out);
/* Refuses iteration counts outside SCRAM_MIN_ITERATIONS..SCRAM_MAX_ITERATIONS and invalid
 * names with SB_EINVAL. */
int cred_store_put(cred_store_t *s, const char *user, const scram_credential_t *c, sb_err_t *err);
int cred_store_remove(cred_store_t *s, const char *user, scram_mechanism_t m, sb_err_t *err);
int cred_store_list(cred_store_t *s, cred_list_cb cb, void *arg);

/* Adapter for scram_server_new: arg is a cred_store_t. */
int cred_store_scram_lookup(void *arg, const char *user, scram_mechanism_t m, scram_credential_t *out);

#endif
