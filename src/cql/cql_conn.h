#ifndef STREAMBUS_CQL_CQL_CONN_H
#define STREAMBUS_CQL_CQL_CONN_H

/* One connection to one CQL node, native protocol v4 or v5, blocking with deadlines.
 *
 * Threading: a connection is used by one thread at a time (the source task that owns it); it
 * never runs on a network event loop (house rule 4) because every call may block up to its
 * timeout. Requests are sent one at a time and answered in order of the call; server pushes
 * (EVENT, stream -1) that arrive meanwhile are queued for cql_conn_wait_event().
 *
 * Failure model: a timeout or an I/O error marks the connection broken (cql_conn_broken) and
 * closes the socket, because a late answer could otherwise be taken for the next request's;
 * the owner reconnects. A server ERROR leaves the connection usable: it returns CQL_ESERVER
 * with the server's message in the detail and its code in cql_conn_server_error(). */

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "cql/cql_proto.h"

typedef struct cql_tls_opts {
    bool enabled;
    const char *ca_file;      /* PEM bundle to verify the server; NULL: the system's */
    const char *cert_file;    /* client certificate (require_client_auth), optional */
    const char *key_file;
    bool skip_verify;         /* accept any certificate: for tests only, logged as a warning */
    const char *server_name;  /* name to verify and send as SNI; default: the host */
} cql_tls_opts_t;

typedef struct cql_conn_opts {
    const char *host; /* name or address */
    uint16_t port;
    const char *username; /* NULL: no authentication offered */
    const char *password;
    int connect_timeout_ms;  /* TCP + TLS + OPTIONS/STARTUP/auth; default 5000 */
    int request_timeout_ms;  /* per request; default 12000 (Cassandra's own read timeout is 5 s) */
    size_t max_frame_bytes;  /* largest response body accepted; default 64 MiB */
    cql_tls_opts_t tls;
    int protocol_version; /* 0: v5 when the server offers it (SUPPORTED PROTOCOL_VERSIONS), else v4;
                             4 or 5 to pin one */
    int32_t *open_server_error; /* optional: the server's error code when open fails with CQL_ESERVER */
} cql_conn_opts_t;

typedef struct cql_conn cql_conn_t;

/* Connects, negotiates (OPTIONS, STARTUP) and authenticates (SASL PLAIN for
 * PasswordAuthenticator of Cassandra and ScyllaDB). */
int cql_conn_open(const cql_conn_opts_t *opts, cql_conn_t **out, sb_err_t *err);
void cql_conn_free(cql_conn_t *c);

bool cql_conn_broken(const cql_conn_t *c);
/* True when the node has closed its side (a restart, an idle timeout): checked without
 * blocking before a request, so a stale connection is replaced before anything is sent on it
 * (which matters for writes, which are not retried once sent). */
bool cql_conn_peer_closed(const cql_conn_t *c);
const char *cql_conn_peer(const cql_conn_t *c); /* "host:port" for messages */
int cql_conn_protocol_version(const cql_conn_t *c); /* 4 or 5, as negotiated */
/* The code of the last ERROR the server sent, -1 when the last request did not fail that way. */
int32_t cql_conn_server_error(const cql_conn_t *c);

/* QUERY / PREPARE / EXECUTE: *out is a heap result (cql_result_free). */
int cql_conn_query(cql_conn_t *c, const char *query, const cql_query_params_t *p, cql_result_t **out,
                   sb_err_t *err);
int cql_conn_prepare(cql_conn_t *c, const char *query, cql_result_t **out, sb_err_t *err);
/* result_metadata_id: v5 only (ignored in v4); see cql_encode_execute. */
int cql_conn_execute(cql_conn_t *c, sb_slice_t id, sb_slice_t result_metadata_id, const cql_query_params_t *p,
                     cql_result_t **out, sb_err_t *err);

/* REGISTER for "TOPOLOGY_CHANGE", "STATUS_CHANGE" and/or "SCHEMA_CHANGE". */
int cql_conn_register(cql_conn_t *c, const char *const *events, int nevents, sb_err_t *err);

/* A server push: the decoded event borrows body, which the struct owns. */
typedef struct cql_pushed_event {
    cql_event_t event;
    uint8_t *body;
    struct cql_pushed_event *next;
} cql_pushed_event_t;
void cql_pushed_event_free(cql_pushed_event_t *e);

/* The oldest queued event, else waits up to timeout_ms for one: 0 and *out, or CQL_ETIMEOUT
 * when none came (the connection stays usable), or SB_EIO when the connection broke. */
int cql_conn_wait_event(cql_conn_t *c, int timeout_ms, cql_pushed_event_t **out, sb_err_t *err);

/* At most this many events wait in the queue; older ones are dropped (and counted) beyond. */
#define CQL_CONN_MAX_QUEUED_EVENTS 1024
uint64_t cql_conn_dropped_events(const cql_conn_t *c);

#endif
