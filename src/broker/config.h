#ifndef STREAMBUS_BROKER_CONFIG_H
#define STREAMBUS_BROKER_CONFIG_H

/* Broker configuration: a YAML file of nested sections, overridable with `--set key=value`.
 *
 * Every key is described once, in the key table in config.c (name, type, default, range,
 * documentation, field offset). That table drives defaults, parsing, validation, the
 * reference page docs/configuration.md and the default file config/streambus.yaml; a unit
 * test fails when either file differs from what the table generates (house rule 8).
 *
 * Integers are stored as int64_t whatever their range; the table's range guarantees that
 * values documented as fitting 32 bits (node_id, partitions, ...) do. Strings are owned by
 * the config and freed by sb_config_deinit. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "common/log.h"

/* One entry of broker.listeners. Strings are owned by the config; absent ones are NULL. */
typedef struct sb_listener_config {
    char *name;       /* Kafka's listener name, e.g. "EXTERNAL"; unique */
    char *address;    /* host:port to bind */
    char *advertised; /* host:port given to clients in Metadata; NULL = derived from address */
    int protocol;     /* net_security_protocol_t */
    char *tls_cert;   /* PEM files (SSL and SASL_SSL listeners) */
    char *tls_key;
    char *tls_ca;
    int client_auth; /* net_tls_client_auth_t */
    char *sasl_mechanisms; /* SASL_* listeners: overrides sasl.enabled_mechanisms; NULL = that */
} sb_listener_config_t;

typedef struct sb_listeners {
    sb_listener_config_t *items;
    size_t n;
} sb_listeners_t;

typedef struct sb_config {
    struct {
        char *listen;              /* host:port for Kafka clients */
        char *advertised_listener; /* "" = derive from listen, see sb_config_advertised */
        int64_t node_id;
        char *data_dir;
        bool auto_create_topics;
        int64_t default_partitions;
        int64_t max_partitions_per_topic;
        int64_t max_request_bytes;
        int64_t max_connections;
        int64_t idle_connection_timeout_ms; /* 0 = never close idle connections */
        sb_listeners_t listeners; /* empty = one PLAINTEXT listener on `listen` */
    } broker;
    struct {
        int64_t segment_bytes;
        int64_t index_interval_bytes;
        int64_t retention_ms;    /* -1 = keep forever */
        int64_t retention_bytes; /* -1 = unlimited */
        int64_t retention_check_interval_ms;
        int64_t flush_interval_ms;
    } log;
    struct {
        int64_t initial_rebalance_delay_ms;
        int64_t session_timeout_min_ms;
        int64_t session_timeout_max_ms;
        int64_t offsets_retention_ms;
    } groups;
    struct {
        char *listen; /* "" = admin HTTP server disabled */
    } admin;
    struct {
        bool enabled;
        bool allow_everyone_if_no_acl_found;
        char *super_users; /* "User:a;User:b" */
        char *audit_log;   /* "" = the broker log */
        bool audit_allowed;
    } authorizer;
    struct {
        char *enabled_mechanisms;
        bool plain_without_tls;
        int64_t connections_max_reauth_ms; /* 0 = sessions never expire */
        char *oauthbearer_secret_file;     /* "" = OAUTHBEARER refuses every token */
        char *oauthbearer_expected_audience; /* "" = "aud" not checked */
        char *oauthbearer_expected_issuer;   /* "" = "iss" not checked */
        int64_t max_failed_authentications;
        int64_t failed_authentication_window_ms;
        int64_t failed_authentication_delay_ms;
    } sasl;
    struct {
        sb_log_level_t level;
        sb_log_format_t format;
    } logging;
} sb_config_t;

/* Fills every field with its default. Call sb_config_deinit to free the strings. */
void sb_config_defaults(sb_config_t *c);
void sb_config_deinit(sb_config_t *c);

/* Resets c to defaults, then applies the YAML file at path and checks the cross-key rules
 * (sb_config_validate). Errors name the file, line, key and reason, e.g.
 * `config/x.yaml:12: unknown key "broker.lisen"`. On failure c still owns whatever it holds
 * and must be deinitialised. */
int sb_config_load(sb_config_t *c, const char *path, sb_err_t *err);

/* Applies the YAML text data[0..len) on top of the current values of c (no reset, no
 * cross-key validation). source_name is used in error messages in place of a file name.
 * This is the entry point of the fuzz driver. */
int sb_config_load_string(sb_config_t *c, const char *source_name, const void *data, size_t len,
                          sb_err_t *err);

/* Sets one key by its dotted name from its text form, exactly as the YAML parser would
 * (`--set log.retention_ms=7d`). Does not run the cross-key rules: call sb_config_validate
 * after applying all overrides. */
int sb_config_set(sb_config_t *c, const char *dotted_key, const char *value, sb_err_t *err);

/* Checks rules that involve more than one key (e.g. session_timeout_min_ms <= max). */
int sb_config_validate(const sb_config_t *c, sb_err_t *err);

/* Splits "host:port" or "[ipv6]:port" into host (without brackets) and port (0..65535).
 * The host must be non-empty: use 0.0.0.0 or [::] to mean every interface. */
int sb_config_parse_hostport(const char *s, char *host, size_t hostcap, int *port, sb_err_t *err);

/* The host and port the broker gives to clients in Metadata responses:
 * broker.advertised_listener if set, else broker.listen, with a wildcard listen host
 * (0.0.0.0 or ::) replaced by the machine's hostname. */
int sb_config_advertised(const sb_config_t *c, char *host, size_t hostcap, int *port, sb_err_t *err);

/* The advertised host and port of one listener: its `advertised` if set, else its address, with
 * a wildcard host replaced by the machine's hostname (as sb_config_advertised). */
int sb_config_listener_advertised(const sb_listener_config_t *l, char *host, size_t hostcap, int *port, sb_err_t *err);

/* Writes the generated key reference (a Markdown table per section) that
 * docs/configuration.md embeds between its GENERATED markers. */
void sb_config_write_docs(FILE *out);

/* Writes the default config file (config/streambus.yaml): every key with its default and a
 * one-line comment. */
void sb_config_write_yaml(FILE *out);

/* Writes the current values of c as YAML (for `--print-config`). */
void sb_config_write_values(const sb_config_t *c, FILE *out);

#endif
