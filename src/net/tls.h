#ifndef STREAMBUS_NET_TLS_H
#define STREAMBUS_NET_TLS_H

/* The TLS server context of a listener (OpenSSL): TLS 1.2 and 1.3 only, AEAD ciphers with
 * forward secrecy only, optional or required client certificates, kernel TLS where the kernel
 * offers it, and reloading the certificate and key without a restart.
 *
 * Reloading builds a new SSL_CTX from the files and swaps it in: connections accepted
 * afterwards use it, connections already open keep the context they started with (OpenSSL
 * reference-counts it). A reload that fails keeps the old context. All calls happen on the
 * loop thread. */

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct ssl_st SSL;
typedef struct net_tls net_tls_t;

typedef enum net_tls_client_auth {
    NET_TLS_CLIENT_AUTH_NONE = 0,      /* no certificate asked for */
    NET_TLS_CLIENT_AUTH_REQUESTED = 1, /* asked for; a client without one is served anonymously */
    NET_TLS_CLIENT_AUTH_REQUIRED = 2,  /* a client without a valid certificate is refused */
} net_tls_client_auth_t;

typedef struct net_tls_config {
    const char *cert_file; /* PEM: the server certificate, then any intermediates */
    const char *key_file;  /* PEM: its private key */
    const char
        *ca_file; /* PEM: CAs that sign client certificates; needed unless client_auth is none */
    net_tls_client_auth_t client_auth;
} net_tls_config_t;

/* "none", "requested", "required". */
const char *net_tls_client_auth_name(net_tls_client_auth_t a);
int net_tls_client_auth_parse(const char *name, net_tls_client_auth_t *out);

/* Loads the files (the config is copied). Errors name the file and OpenSSL's reason. */
int net_tls_new(const net_tls_config_t *cfg, net_tls_t **out, sb_err_t *err);
void net_tls_free(net_tls_t *t);
/* Re-reads the certificate, key and CA files. */
int net_tls_reload(net_tls_t *t, sb_err_t *err);
/* A server-side session for an accepted socket; NULL when out of memory. */
SSL *net_tls_session_new(net_tls_t *t, int fd);
/* The subject of the session's client certificate as Kafka's default principal builder names
 * it ("User:" + the RFC 2253 distinguished name, e.g. "User:CN=alice,O=Example"). Returns 0
 * and writes it, or SB_ENOENT when the client presented no verified certificate. */
int net_tls_peer_principal(SSL *ssl, char *out, size_t cap);
/* Describes the last OpenSSL error of this thread (and clears the queue) into buf. */
const char *net_tls_error_string(char *buf, size_t cap);

#endif
