#ifndef STREAMBUS_COMMON_SECRETS_H
#define STREAMBUS_COMMON_SECRETS_H

/* Secrets (JWT secrets, passwords, tokens) from the environment, from files, or from a
 * HashiCorp Vault KV version 2 engine — never from a config file's plain text.
 *
 *   NAME       the value of environment variable NAME
 *   NAME_FILE  the contents of the file it names (one trailing newline dropped), the Docker /
 *              Kubernetes secrets convention; setting both NAME and NAME_FILE is an error
 *   Vault      GET <addr>/v1/<mount>/data/<path> with header X-Vault-Token, field <field> of
 *              {"data":{"data":{...}}}; a reference is written "<mount>/<path>#<field>"
 *
 * Error messages name the variable, file or Vault path, never the secret or the Vault token.
 * Secrets are returned in malloc'd buffers that sb_secret_free zeroes before freeing. */

#include <stddef.h>

#include "common/err.h"

/* Largest secret accepted (a PEM key fits). */
#define SB_SECRET_MAX (64 * 1024)

typedef struct sb_vault_config {
    const char *addr;  /* "http://127.0.0.1:8200"; NULL/"" = Vault not configured */
    const char *token; /* the Vault token (itself from sb_secret_from_env("VAULT_TOKEN")) */
    long timeout_ms;   /* 0 = 5000 */
} sb_vault_config_t;

/* Reads NAME or NAME_FILE. Returns 0 with *out (NUL-terminated, *len bytes) when found,
 * SB_ENOENT when neither is set, SB_EINVAL when both are, SB_EIO when the file cannot be read. */
int sb_secret_from_env(const char *name, char **out, size_t *len, sb_err_t *err);

/* Reads a file's contents as a secret (one trailing newline dropped). */
int sb_secret_from_file(const char *path, char **out, size_t *len, sb_err_t *err);

/* Reads "<mount>/<path>#<field>" from Vault KV v2. SB_ENOENT when the path or field does not
 * exist, SB_EIO when Vault cannot be reached or answers an error status. */
int sb_secret_from_vault(const sb_vault_config_t *vault, const char *ref, char **out, size_t *len,
                         sb_err_t *err);

/* Zeroes and frees a secret. Accepts NULL. */
void sb_secret_free(char *secret, size_t len);

#endif
