/* `streambus ctl certs generate` (see certs_cmd.h). Keys are ECDSA P-256: small, fast, and
 * accepted by librdkafka, Java and Node clients. */
#include "ctl/certs_cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_NAMES 32

static int ossl_error(sb_err_t *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, buf, sizeof(buf));
    else snprintf(buf, sizeof(buf), "unknown error");
    ERR_clear_error();
    return sb_err_set(err, SB_EIO, "%s: %s", what, buf);
}

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, sb_err_t *err)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return ossl_error(err, "certificate extension");
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : ossl_error(err, "certificate extension");
}

/* Makes a certificate for key with subject CN=cn, signed by issuer_key (self-signed when
 * issuer is NULL). `exts` are pairs of (nid, value), ended by 0. */
static int make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int days, const int *nids,
                     const char *const *values, X509 **out, sb_err_t *err)
{
    X509 *cert = X509_new();
    if (!cert) return ossl_error(err, "X509_new");
    int rc;
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1) {
        rc = ossl_error(err, "random serial");
        goto fail;
    }
    serial[0] &= 0x7f; /* a positive INTEGER */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
        BN_free(bn);
        rc = ossl_error(err, "serial number");
        goto fail;
    }
    BN_free(bn);
    X509_set_version(cert, 2);
    /* Valid from an hour ago, so a client whose clock is a little behind accepts it at once. */
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0)) {
        rc = ossl_error(err, "subject name");
        goto fail;
    }
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    for (int i = 0; nids[i]; i++)
        if ((rc = add_ext(cert, issuer ? issuer : cert, nids[i], values[i], err)) < 0) goto fail;
    if (!X509_sign(cert, issuer_key, EVP_sha256())) {
        rc = ossl_error(err, "signing the certificate");
        goto fail;
    }
    *out = cert;
    return 0;
fail:
    X509_free(cert);
    return rc;
}

static int path_join(char *out, size_t cap, const char *dir, const char *name, sb_err_t *err)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return sb_err_set(err, SB_ERANGE, "path %s/%s is too long", dir, name);
    return 0;
}

/* Writes a PEM file atomically enough for a CLI: O_EXCL unless force, so an existing key is
 * never replaced by accident. */
static int write_pem(const char *path, bool secret, bool force, X509 *cert, EVP_PKEY *key, sb_err_t *err)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, secret ? 0600 : 0644);
    if (fd < 0) {
        if (errno == EEXIST) return sb_err_set(err, SB_EEXIST, "%s exists (use --force to overwrite)", path);
        return sb_err_set(err, SB_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    if (secret) fchmod(fd, 0600); /* O_TRUNC keeps an older, wider mode */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return sb_err_set(err, SB_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    int ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : ossl_error(err, path);
}

static int write_pair(const char *dir, const char *base, bool force, X509 *cert, EVP_PKEY *key, sb_err_t *err)
{
    char name[256], path[4096];
    int rc;
    snprintf(name, sizeof(name), "%s.pem", base);
    if ((rc = path_join(path, sizeof(path), dir, name, err)) < 0) return rc;
    if ((rc = write_pem(path, false, force, cert, NULL, err)) < 0) return rc;
    snprintf(name, sizeof(name), "%s.key", base);
    if ((rc = path_join(path, sizeof(path), dir, name, err)) < 0) return rc;
    return write_pem(path, true, force, NULL, key, err);
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool client_name_ok(const char *s)
{
    if (!s[0] || strlen(s) > 64) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return false;
    return true;
}

int ctl_certs_generate(const ctl_certs_options_t *o, sb_err_t *err)
{
    if (o->days < 1 || o->days > 3650) return sb_err_set(err, SB_EINVAL, "--days must be between 1 and 3650");
    for (int i = 0; i < o->nclients; i++)
        if (!client_name_ok(o->clients[i]))
            return sb_err_set(err, SB_EINVAL, "client name \"%s\": use letters, digits, '-', '_' or '.'",
                              o->clients[i]);
    if (mkdir(o->out_dir, 0755) < 0 && errno != EEXIST)
        return sb_err_set(err, SB_EIO, "cannot create %s: %s", o->out_dir, strerror(errno));

    /* subjectAltName: localhost and the loopback addresses, then every --host. */
    char san[4096];
    size_t used = (size_t)snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
    for (int i = 0; i < o->nhosts; i++) {
        int n = snprintf(san + used, sizeof(san) - used, ",%s:%s", is_ip(o->hosts[i]) ? "IP" : "DNS", o->hosts[i]);
        if (n < 0 || (size_t)n >= sizeof(san) - used) return sb_err_set(err, SB_ERANGE, "too many --host names");
        used += (size_t)n;
    }
    const char *server_cn = o->nhosts ? o->hosts[0] : "localhost";

    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *cert = NULL;
    int rc;
    ERR_clear_error();
    if (!(ca_key = new_key())) {
        rc = ossl_error(err, "generating the CA key");
        goto out;
    }
    static const int ca_nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier, 0};
    static const char *const ca_values[] = {"critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", "hash"};
    if ((rc = make_cert("StreamBus development CA", ca_key, NULL, ca_key, o->days, ca_nids, ca_values, &ca, err)) < 0)
        goto out;
    if ((rc = write_pair(o->out_dir, "ca", o->force, ca, ca_key, err)) < 0) goto out;

    if (!(key = new_key())) {
        rc = ossl_error(err, "generating the server key");
        goto out;
    }
    static const int server_nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                      NID_authority_key_identifier, NID_subject_alt_name, 0};
    const char *server_values[] = {"critical,CA:FALSE", "critical,digitalSignature", "serverAuth", "keyid:always",
                                   san};
    if ((rc = make_cert(server_cn, key, ca, ca_key, o->days, server_nids, server_values, &cert, err)) < 0) goto out;
    if ((rc = write_pair(o->out_dir, "server", o->force, cert, key, err)) < 0) goto out;

    static const int client_nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                      NID_authority_key_identifier, 0};
    static const char *const client_values[] = {"critical,CA:FALSE", "critical,digitalSignature", "clientAuth",
                                                "keyid:always"};
    for (int i = 0; i < o->nclients; i++) {
        X509_free(cert);
        EVP_PKEY_free(key);
        cert = NULL;
        if (!(key = new_key())) {
            rc = ossl_error(err, "generating a client key");
            goto out;
        }
        if ((rc = make_cert(o->clients[i], key, ca, ca_key, o->days, client_nids, client_values, &cert, err)) < 0)
            goto out;
        char base[128];
        snprintf(base, sizeof(base), "client-%s", o->clients[i]);
        if ((rc = write_pair(o->out_dir, base, o->force, cert, key, err)) < 0) goto out;
    }
    rc = 0;
out:
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return rc;
}

bool ctl_certs_handles(int argc, char **argv)
{
    return argc >= 2 && strcmp(argv[1], "certs") == 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus ctl certs generate --out DIR [--host NAME]... [--client NAME]... [--days N] [--force]\n\n"
                 "Makes a development CA (ca.pem, ca.key), a server certificate for localhost, 127.0.0.1, ::1\n"
                 "and every --host (server.pem, server.key), and a client certificate per --client\n"
                 "(client-NAME.pem/.key, subject CN=NAME, principal \"User:CN=NAME\"; default: one named\n"
                 "\"client\"). Valid for --days (default 365). Existing files are kept unless --force.\n"
                 "For development and tests only: the CA key sits next to the certificates.\n");
}

int ctl_certs_main(int argc, char **argv)
{
    /* argv[0] is "ctl", argv[1] "certs". */
    if (argc < 3 || strcmp(argv[2], "generate") != 0) {
        if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "streambus ctl certs: expected \"generate\"\n");
        usage(stderr);
        return 2;
    }
    const char *hosts[MAX_NAMES], *clients[MAX_NAMES];
    ctl_certs_options_t o = {.hosts = hosts, .clients = clients, .days = 365};
    enum { OPT_OUT = 1, OPT_HOST, OPT_CLIENT, OPT_DAYS, OPT_FORCE, OPT_HELP };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, OPT_OUT},       {"host", required_argument, NULL, OPT_HOST},
        {"client", required_argument, NULL, OPT_CLIENT}, {"days", required_argument, NULL, OPT_DAYS},
        {"force", no_argument, NULL, OPT_FORCE},         {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    char *const *args = argv + 2;
    int nargs = argc - 2;
    while ((c = getopt_long(nargs, args, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT: o.out_dir = optarg; break;
        case OPT_HOST:
        case OPT_CLIENT: {
            int *n = c == OPT_HOST ? &o.nhosts : &o.nclients;
            const char **list = c == OPT_HOST ? hosts : clients;
            if (*n == MAX_NAMES) {
                fprintf(stderr, "streambus ctl certs: at most %d --host and %d --client\n", MAX_NAMES, MAX_NAMES);
                return 2;
            }
            list[(*n)++] = optarg;
            break;
        }
        case OPT_DAYS: {
            char *end;
            long d = strtol(optarg, &end, 10);
            if (!optarg[0] || *end || d < 1 || d > 3650) {
                fprintf(stderr, "streambus ctl certs: --days must be a number of days between 1 and 3650\n");
                return 2;
            }
            o.days = (int)d;
            break;
        }
        case OPT_FORCE: o.force = true; break;
        case OPT_HELP: usage(stdout); return 0;
        default:
            fprintf(stderr, "streambus ctl certs: unknown or incomplete option \"%s\"\n", args[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < nargs) {
        fprintf(stderr, "streambus ctl certs: unexpected argument \"%s\"\n", args[optind]);
        return 2;
    }
    if (!o.out_dir) {
        fprintf(stderr, "streambus ctl certs: --out DIR is required\n");
        usage(stderr);
        return 2;
    }
    static const char *const default_client[] = {"client"};
    if (o.nclients == 0) {
        o.clients = default_client;
        o.nclients = 1;
    }
    sb_err_t err = {0};
    if (ctl_certs_generate(&o, &err) < 0) {
        fprintf(stderr, "streambus ctl certs: %s\n", err.msg);
        return 1;
    }
    printf("wrote ca.pem, server.pem (+ .key)");
    for (int i = 0; i < o.nclients; i++) printf(", client-%s.pem", o.clients[i]);
    printf(" to %s\n", o.out_dir);
    return 0;
}
