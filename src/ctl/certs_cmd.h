#ifndef STREAMBUS_CTL_CERTS_CMD_H
#define STREAMBUS_CTL_CERTS_CMD_H

/* `streambus ctl certs generate`: a development certificate authority, a server certificate
 * and client certificates, made with OpenSSL's library (no `openssl` program needed). For
 * tests and for turning TLS on locally; production certificates come from a real CA. */

#include <stdbool.h>

#include "common/err.h"

typedef struct ctl_certs_options {
    const char *out_dir;
    const char *const *hosts; /* server names: DNS names or IP addresses for subjectAltName */
    int nhosts;
    const char *const *clients; /* one client certificate per name (CN=name) */
    int nclients;
    int days;
    bool force; /* overwrite existing files */
} ctl_certs_options_t;

/* Writes ca.pem, ca.key, server.pem, server.key and client-NAME.pem/.key into out_dir (made
 * if missing; keys mode 0600). Refuses to overwrite files unless force. */
int ctl_certs_generate(const ctl_certs_options_t *o, sb_err_t *err);

/* True when argv (after "ctl") names the certs command. */
bool ctl_certs_handles(int argc, char **argv);
/* Parses and runs it; returns the exit status (0, 1 failure, 2 usage). */
int ctl_certs_main(int argc, char **argv);

#endif
