/* TLS server contexts (see tls.h). The cipher policy follows Mozilla's "intermediate"
 * profile minus everything that is not an AEAD with ECDHE: no CBC, no RSA key exchange, no
 * SHA-1 MACs, nothing below TLS 1.2. */
#include "net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* TLS 1.2: forward-secret AEAD suites only. TLS 1.3 suites are all AEAD; we name them so the
 * policy is explicit. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"     \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define TLS13_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
/* Session resumption with client certificates needs a context id; any constant will do. */
#define SESSION_ID_CONTEXT "streambus"

struct net_tls {
    SSL_CTX *ctx;
    char *cert_file;
    char *key_file;
    char *ca_file;
    net_tls_client_auth_t client_auth;
};

static const char *const client_auth_names[] = {"none", "requested", "required"};

const char *net_tls_client_auth_name(net_tls_client_auth_t a)
{
    return (unsigned)a < 3 ? client_auth_names[a] : "?";
}

int net_tls_client_auth_parse(const char *name, net_tls_client_auth_t *out)
{
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(name, client_auth_names[i]) == 0) {
            *out = (net_tls_client_auth_t)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

const char *net_tls_error_string(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (!e)
        snprintf(buf, cap, "unknown TLS error");
    else
        ERR_error_string_n(e, buf, cap);
    /* Keep only the first error; the rest would be reported against the next call. */
    ERR_clear_error();
    return buf;
}

static int ctx_error(sb_err_t *err, const char *what, const char *file)
{
    char why[256];
    net_tls_error_string(why, sizeof(why));
    if (file) return sb_err_set(err, SB_EINVAL, "TLS: cannot load %s %s: %s", what, file, why);
    return sb_err_set(err, SB_EINVAL, "TLS: %s: %s", what, why);
}

static int build_ctx(const net_tls_t *t, SSL_CTX **out, sb_err_t *err)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return ctx_error(err, "SSL_CTX_new", NULL);
    int rc;
    uint64_t options =
        SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_ENABLE_KTLS
    /* Kernel TLS: once the handshake is done, records are encrypted by the kernel, and
     * SSL_sendfile keeps Fetch's zero-copy path. Where the kernel has no TLS module OpenSSL
     * quietly stays in user space and conn.c copies file ranges through SSL_write. */
    options |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(ctx, options);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
        SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
        rc = ctx_error(err, "cipher policy", NULL);
        goto fail;
    }
    /* Partial writes let conn.c send a large staged buffer record by record; the buffer may
     * move between retries because it is reallocated as it grows. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT,
                                   sizeof(SESSION_ID_CONTEXT) - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        rc = ctx_error(err, "certificate", t->cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) {
        rc = ctx_error(err, "private key", t->key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        rc = sb_err_set(err, SB_EINVAL,
                        "TLS: the private key %s does not belong to the certificate %s",
                        t->key_file, t->cert_file);
        ERR_clear_error();
        goto fail;
    }
    if (t->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
            rc = ctx_error(err, "CA file", t->ca_file);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
    }
    int mode = SSL_VERIFY_NONE;
    if (t->client_auth == NET_TLS_CLIENT_AUTH_REQUESTED) mode = SSL_VERIFY_PEER;
    if (t->client_auth == NET_TLS_CLIENT_AUTH_REQUIRED)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return rc;
}

int net_tls_new(const net_tls_config_t *cfg, net_tls_t **out, sb_err_t *err)
{
    if (!cfg->cert_file || !cfg->cert_file[0] || !cfg->key_file || !cfg->key_file[0])
        return sb_err_set(err, SB_EINVAL, "TLS: a certificate and a private key file are required");
    if (cfg->client_auth != NET_TLS_CLIENT_AUTH_NONE && (!cfg->ca_file || !cfg->ca_file[0]))
        return sb_err_set(err, SB_EINVAL,
                          "TLS: client_auth %s needs a CA file to verify client certificates",
                          net_tls_client_auth_name(cfg->client_auth));
    net_tls_t *t = calloc(1, sizeof(*t));
    if (!t) return sb_err_set(err, SB_ENOMEM, "out of memory");
    t->client_auth = cfg->client_auth;
    t->cert_file = strdup(cfg->cert_file);
    t->key_file = strdup(cfg->key_file);
    t->ca_file = cfg->ca_file && cfg->ca_file[0] ? strdup(cfg->ca_file) : NULL;
    int rc;
    if (!t->cert_file || !t->key_file || (cfg->ca_file && cfg->ca_file[0] && !t->ca_file)) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = build_ctx(t, &t->ctx, err)) < 0) goto fail;
    *out = t;
    return 0;
fail:
    net_tls_free(t);
    return rc;
}

void net_tls_free(net_tls_t *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t->cert_file);
    free(t->key_file);
    free(t->ca_file);
    free(t);
}

int net_tls_reload(net_tls_t *t, sb_err_t *err)
{
    SSL_CTX *ctx;
    int rc = build_ctx(t, &ctx, err);
    if (rc < 0) return rc;
    SSL_CTX_free(t->ctx); /* sessions still open hold their own reference */
    t->ctx = ctx;
    return 0;
}

SSL *net_tls_session_new(net_tls_t *t, int fd)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

int net_tls_peer_principal(SSL *ssl, char *out, size_t cap)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return SB_ENOENT;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return SB_ENOMEM;
    /* RFC 2253, most specific RDN first, as Java's X500Principal.getName() writes it. */
    BIO_puts(bio, "User:");
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    int rc = 0;
    if (n <= 0 || (size_t)n >= cap)
        rc = SB_ERANGE;
    else {
        memcpy(out, data, (size_t)n);
        out[n] = 0;
    }
    BIO_free(bio);
    return rc;
}
