#ifndef STREAMBUS_BROKER_OPTIONS_H
#define STREAMBUS_BROKER_OPTIONS_H

/* What the broker needs from the configuration. broker_main fills it from sb_config_t, tests fill
 * it directly; keeping it separate means the broker does not depend on the YAML layer. */

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "net/listener.h"
#include "net/tls.h"

#define BROKER_MAX_LISTENERS 16

/* One Kafka listener (broker.listeners). */
typedef struct broker_listener_options {
    char name[64];
    char host[256];
    int32_t port; /* 0 = ephemeral (tests) */
    char advertised_host[256];
    int32_t advertised_port; /* 0 = the bound port */
    net_security_protocol_t protocol;
    char tls_cert[1024]; /* PEM files, SSL and SASL_SSL only */
    char tls_key[1024];
    char tls_ca[1024];
    net_tls_client_auth_t client_auth;
    char sasl_mechanisms[128]; /* SASL_* listeners; "" = sasl_mechanisms of the broker */
} broker_listener_options_t;

typedef struct broker_options {
    char listen_host[256];
    int32_t listen_port; /* 0 = ephemeral (tests) */
    char advertised_host[256];
    int32_t advertised_port; /* 0 = the bound port */
    int32_t node_id;
    char data_dir[1024];
    bool auto_create_topics;
    int32_t default_partitions;
    int32_t max_partitions_per_topic;
    int64_t max_request_bytes;
    int32_t max_connections;
    int64_t idle_connection_timeout_ms;
    uint64_t segment_bytes;
    uint32_t index_interval_bytes;
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t retention_check_interval_ms;
    int64_t flush_interval_ms;
    int64_t group_initial_rebalance_delay_ms;
    int64_t group_session_timeout_min_ms;
    int64_t group_session_timeout_max_ms;
    int64_t offsets_retention_ms;
    /* When nlisteners is 0 the broker has one PLAINTEXT listener on listen_host:listen_port,
     * advertised as advertised_host:advertised_port. */
    broker_listener_options_t listeners[BROKER_MAX_LISTENERS];
    int nlisteners;
    /* Authorization (src/security/authorizer.h); off unless authorizer_enabled. */
    bool authorizer_enabled;
    bool allow_everyone_if_no_acl_found;
    bool audit_allowed;
    char super_users[4096]; /* "User:a;User:b" */
    char audit_log[1024];   /* "" = the broker log */
    /* SASL (src/broker/handlers/sasl.c, config section `sasl`). */
    char sasl_mechanisms[128];             /* enabled on SASL_* listeners, comma-separated */
    bool sasl_plain_without_tls;           /* development only: PLAIN on SASL_PLAINTEXT */
    int64_t sasl_reauth_ms;                /* connections.max.reauth.ms; 0 = sessions never expire */
    char sasl_oauthbearer_secret_file[1024]; /* HS256 secret for OAUTHBEARER tokens; "" = refuse them */
    char sasl_oauthbearer_audience[256];   /* a token's "aud" must name it; "" = not checked */
    char sasl_oauthbearer_issuer[256];     /* a token's "iss" must equal it; "" = not checked */
    int32_t sasl_max_failures;             /* failed authentications per address per window */
    int64_t sasl_failure_window_ms;
    int64_t sasl_failure_delay_ms;         /* a failure is answered this late */
} broker_options_t;

void broker_options_defaults(broker_options_t *o);

/* Production mode's rule for Kafka listeners: a PLAINTEXT or SASL_PLAINTEXT listener (no TLS:
 * records, and for SASL PLAIN the password, cross the network readable) must be bound to
 * loopback. Returns 0, or SB_EINVAL naming the setting (`broker.listen` when nlisteners is 0,
 * else `broker.listeners[i]`), the listener and its address. */
int broker_options_check_production(const broker_options_t *o, sb_err_t *err);
/* Loads every TLS listener's certificate, key and CA as start-up would (and frees them), so
 * --validate-config catches a missing file or a key that does not match its certificate.
 * The error names the listener and the file. */
int broker_options_check_tls_files(const broker_options_t *o, sb_err_t *err);

#endif
