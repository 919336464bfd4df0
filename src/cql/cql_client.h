#ifndef STREAMBUS_CQL_CQL_CLIENT_H
#define STREAMBUS_CQL_CQL_CLIENT_H

/* A CQL client over several nodes: contact points, one connection per node opened on demand,
 * failover to the next node, a prepared-statement cache with re-prepare on UNPREPARED, paging,
 * consistency levels, server events, and token-aware routing of prepared partition reads.
 *
 * Usage (one thread at a time; blocking calls bounded by the configured timeouts):
 *
 *     cql_client_opts_t o = {.contact_points = "10.0.0.1,10.0.0.2:9043", .username = "u", ...};
 *     cql_client_t *cl;
 *     if (cql_client_new(&o, &cl, &err) != 0) ...;          // connects to the first reachable node
 *     const cql_prepared_t *ps;
 *     cql_client_prepare(cl, "SELECT * FROM ks.t WHERE pk = ?", &ps, &err);
 *     cql_values_t v; cql_values_init(&v); cql_values_int(&v, 42);
 *     cql_exec_opts_t x; cql_exec_opts_init(&x); x.page_size = 1000;
 *     do {
 *         cql_result_t *r;
 *         if (cql_client_execute(cl, ps, &v, &x, &r, &err) != 0) break;   // err.msg: the server's message
 *         ... rows: cql_result_cell(r, row, col), cql_value_to_json(...) ...
 *         next page: x.paging_state = r->meta.paging_state (copy it before freeing r)
 *     } while (more pages);
 *
 * Failover: a node that cannot be connected to is skipped for node_retry_ms and the next one is
 * tried. A request that failed on a broken connection (I/O error, timeout) is retried on the next
 * node only when it is idempotent (SELECTs are; other statements when the caller says so), since
 * a write that timed out may still have been applied. Server errors are never retried, except
 * UNPREPARED, which re-prepares on that node and executes once more. */

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "cql/cql_conn.h"
#include "cql/cql_proto.h"

typedef struct cql_client_opts {
    const char *contact_points; /* "host[:port],host[:port],..."; IPv6 as [addr]:port */
    uint16_t port;              /* for contact points without one; default 9042 */
    const char *username;       /* PasswordAuthenticator; NULL: none */
    const char *password;
    const char *keyspace;       /* USE'd on every connection; NULL: none */
    const char *consistency;    /* default consistency level name; NULL: LOCAL_QUORUM */
    int connect_timeout_ms;     /* default 5000 */
    int request_timeout_ms;     /* default 12000 */
    int node_retry_ms;          /* how long a failed node is skipped; default 2000 */
    size_t max_frame_bytes;     /* default 64 MiB */
    cql_tls_opts_t tls;
    bool token_aware;           /* read system.local/peers, route prepared partition reads */
    int protocol_version;       /* 0: v5 where the server offers it, else v4; 4 or 5 to pin */
} cql_client_opts_t;

typedef struct cql_client cql_client_t;

/* A prepared statement, owned by the client's cache (valid until cql_client_free). */
typedef struct cql_prepared cql_prepared_t;

typedef struct cql_exec_opts {
    bool has_consistency; /* else the client's default */
    cql_consistency_t consistency;
    int32_t page_size;        /* > 0: page; 0: whole result */
    sb_slice_t paging_state;  /* from the previous page; len -1: first page */
    bool idempotent;          /* safe to retry on another node after a timeout */
} cql_exec_opts_t;

void cql_exec_opts_init(cql_exec_opts_t *x);

int cql_client_new(const cql_client_opts_t *opts, cql_client_t **out, sb_err_t *err);
void cql_client_free(cql_client_t *cl);

/* QUERY with optional bound values (NULL: none). SELECT statements count as idempotent. */
int cql_client_query(cql_client_t *cl, const char *query, const cql_values_t *values,
                     const cql_exec_opts_t *x, cql_result_t **out, sb_err_t *err);

/* PREPARE (cached by query text: a second call returns the same statement). */
int cql_client_prepare(cql_client_t *cl, const char *query, const cql_prepared_t **out, sb_err_t *err);
int cql_client_execute(cql_client_t *cl, const cql_prepared_t *ps, const cql_values_t *values,
                       const cql_exec_opts_t *x, cql_result_t **out, sb_err_t *err);

/* What a prepared statement expects and returns. A re-prepare (after UNPREPARED) replaces the
 * metadata: the pointers are valid until the statement's next execute. */
const cql_metadata_t *cql_prepared_bind_metadata(const cql_prepared_t *ps);
const cql_metadata_t *cql_prepared_result_metadata(const cql_prepared_t *ps);

/* The code of the last server ERROR (-1 if the last call did not end with one). */
int32_t cql_client_server_error(const cql_client_t *cl);

/* REGISTER for events on one connection (re-registered after a reconnect) and wait for them. */
int cql_client_register(cql_client_t *cl, const char *const *events, int nevents, sb_err_t *err);
int cql_client_wait_event(cql_client_t *cl, int timeout_ms, cql_pushed_event_t **out, sb_err_t *err);

/* Nodes known (contact points plus those discovered in system.peers). */
int cql_client_node_count(const cql_client_t *cl);
/* "host:port" of node i, and whether it has an open connection. */
const char *cql_client_node_name(const cql_client_t *cl, int i);
/* The node (index) that served the last request, -1 before any. */
int cql_client_last_node(const cql_client_t *cl);
/* The protocol version of the connection to node i (0 when it has none). */
int cql_client_node_protocol(const cql_client_t *cl, int i);
/* Reads system.local / system.peers again (token_aware): nodes that joined are added and the
 * ring rebuilt. The ring is otherwise read once, at cql_client_new; call this after a
 * TOPOLOGY_CHANGE event. */
int cql_client_refresh_topology(cql_client_t *cl, sb_err_t *err);
/* The node that owns the partition of a bound prepared statement (token-aware), or -1. */
int cql_client_route(const cql_client_t *cl, const cql_prepared_t *ps, const cql_values_t *values);

#endif
