#ifndef STREAMBUS_NET_LISTENER_H
#define STREAMBUS_NET_LISTENER_H

/* A listening socket of a net_loop and the security protocol its connections speak. The
 * protocol names are Kafka's (security.protocol / listener.security.protocol.map); the net
 * layer only records the protocol, the dispatcher decides what it means for a request. */

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "net/tls.h"

typedef enum net_security_protocol {
    NET_PROTO_PLAINTEXT = 0,
    NET_PROTO_SSL = 1,
    NET_PROTO_SASL_PLAINTEXT = 2,
    NET_PROTO_SASL_SSL = 3,
} net_security_protocol_t;

typedef struct net_listener net_listener_t;

/* "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL". */
const char *net_security_protocol_name(net_security_protocol_t p);
/* Parses a protocol name (case-insensitive); SB_EINVAL for anything else. */
int net_security_protocol_parse(const char *name, net_security_protocol_t *out);
/* True for SSL and SASL_SSL. */
bool net_security_protocol_tls(net_security_protocol_t p);
/* True when a bind address reaches only this machine: "localhost", "::1" (with or without
 * brackets) or an address in 127.0.0.0/8. "", "0.0.0.0", "::" and any other name or address
 * are beyond loopback. Production mode refuses plaintext listeners that are not. */
bool net_host_is_loopback(const char *host);

typedef struct net_listener_config {
    const char *name; /* listener name as Kafka spells it, e.g. "PLAINTEXT" or "EXTERNAL"; copied */
    const char *host; /* "" or NULL: every interface */
    int32_t port;     /* 0: an ephemeral port (tests) */
    net_security_protocol_t protocol;
    net_tls_t *
        tls; /* SSL and SASL_SSL: the TLS context; the listener takes ownership (also on failure) */
} net_listener_config_t;

/* The bound port (useful with port 0). */
int32_t net_listener_port(const net_listener_t *l);
const char *net_listener_name(const net_listener_t *l);
net_security_protocol_t net_listener_protocol(const net_listener_t *l);
/* Re-reads the listener's certificate, key and CA files; connections accepted afterwards use
 * them. SB_ENOENT for a listener without TLS; on failure the old ones stay in use. */
int net_listener_reload_tls(net_listener_t *l, sb_err_t *err);

#endif
