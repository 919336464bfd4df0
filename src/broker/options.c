#include "broker/options.h"

#include <stdio.h>
#include <string.h>

#include "net/tls.h"

void broker_options_defaults(broker_options_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->listen_host, sizeof(o->listen_host), "127.0.0.1");
    o->listen_port = 9092;
    snprintf(o->data_dir, sizeof(o->data_dir), "./data");
    o->auto_create_topics = true;
    o->default_partitions = 1;
    o->max_partitions_per_topic = 10000;
    o->max_request_bytes = 104857600;
    o->max_connections = 4096;
    o->idle_connection_timeout_ms = 600000;
    o->segment_bytes = 1073741824;
    o->index_interval_bytes = 4096;
    o->retention_ms = 604800000;
    o->retention_bytes = -1;
    o->retention_check_interval_ms = 300000;
    o->flush_interval_ms = 1000;
    o->group_initial_rebalance_delay_ms = 3000;
    o->group_session_timeout_min_ms = 6000;
    o->group_session_timeout_max_ms = 1800000;
    o->offsets_retention_ms = 604800000;
    snprintf(o->sasl_mechanisms, sizeof(o->sasl_mechanisms), "SCRAM-SHA-256,SCRAM-SHA-512");
    o->sasl_max_failures = 10;
    o->sasl_failure_window_ms = 60000;
    o->sasl_failure_delay_ms = 100;
}

int broker_options_check_production(const broker_options_t *o, sb_err_t *err)
{
    if (o->nlisteners == 0) {
        if (net_host_is_loopback(o->listen_host)) return 0;
        return sb_err_set(err, SB_EINVAL,
                          "production mode: broker.listen (%s:%d) is a PLAINTEXT Kafka listener "
                          "beyond loopback; bind it to 127.0.0.1, or declare broker.listeners "
                          "with protocol SSL or SASL_SSL",
                          o->listen_host[0] ? o->listen_host : "*", (int)o->listen_port);
    }
    for (int i = 0; i < o->nlisteners; i++) {
        const broker_listener_options_t *l = &o->listeners[i];
        if (net_security_protocol_tls(l->protocol) || net_host_is_loopback(l->host)) continue;
        return sb_err_set(err, SB_EINVAL,
                          "production mode: broker.listeners[%d] (%s, protocol %s, address %s:%d) "
                          "is a listener without TLS beyond loopback; use protocol SSL or "
                          "SASL_SSL, or bind it to 127.0.0.1",
                          i, l->name, net_security_protocol_name(l->protocol),
                          l->host[0] ? l->host : "*", (int)l->port);
    }
    return 0;
}

int broker_options_check_tls_files(const broker_options_t *o, sb_err_t *err)
{
    for (int i = 0; i < o->nlisteners; i++) {
        const broker_listener_options_t *lo = &o->listeners[i];
        if (!net_security_protocol_tls(lo->protocol)) continue;
        net_tls_config_t tc = {
            .cert_file = lo->tls_cert, .key_file = lo->tls_key, .ca_file = lo->tls_ca, .client_auth = lo->client_auth};
        net_tls_t *tls = NULL;
        sb_err_t inner = {0};
        int rc = net_tls_new(&tc, &tls, &inner);
        if (rc < 0) return sb_err_set(err, rc, "listener %s: %s", lo->name, inner.msg);
        net_tls_free(tls);
    }
    return 0;
}
