#include "cql/cql_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "cql/cql_token.h"
#include "cql/cql_wire.h"

typedef struct cql_host {
    char *address;
    uint16_t port;
    char name[300]; /* "address:port" */
    cql_conn_t *conn;
    int64_t down_until_ms;
} cql_host_t;

struct cql_prepared {
    char *query;
    cql_result_t *res; /* the PREPARED result: id, bind and result metadata */
    /* v5: the result metadata id EXECUTE must send; replaced when a Rows result reports
     * Metadata_changed or the statement is prepared again. */
    uint8_t *result_metadata_id;
    int32_t result_metadata_id_len;
};

static int set_result_metadata_id(cql_prepared_t *ps, sb_slice_t id)
{
    uint8_t *copy = NULL;
    if (id.len > 0 && !(copy = malloc((size_t)id.len))) return SB_ENOMEM;
    if (id.len > 0) memcpy(copy, id.p, (size_t)id.len);
    free(ps->result_metadata_id);
    ps->result_metadata_id = copy;
    ps->result_metadata_id_len = id.len;
    return 0;
}

static int execute_on(cql_conn_t *c, cql_prepared_t *ps, const cql_query_params_t *p, cql_result_t **out,
                      sb_err_t *err)
{
    sb_slice_t rmid = {ps->result_metadata_id, ps->result_metadata_id_len};
    int rc = cql_conn_execute(c, ps->res->prepared_id, rmid, p, out, err);
    if (rc == 0 && (*out)->meta.new_metadata_id.len >= 0 &&
        set_result_metadata_id(ps, (*out)->meta.new_metadata_id) != 0) {
        cql_result_free(*out);
        *out = NULL;
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    return rc;
}

struct cql_client {
    cql_host_t *hosts;
    int nhosts;
    int current;   /* host used for requests that are not routed */
    int last_node; /* host that served the last request */
    cql_conn_opts_t conn_opts; /* host/port filled per host */
    char *username, *password, *keyspace;
    char *tls_ca, *tls_cert, *tls_key, *tls_name;
    cql_consistency_t consistency;
    int node_retry_ms;
    bool token_aware;
    cql_token_ring_t ring;
    cql_prepared_t **prepared;
    int nprepared;
    int32_t last_server_error;
    char **events;
    int nevents;
    int events_host; /* host whose connection is registered, -1 for none */
};

void cql_exec_opts_init(cql_exec_opts_t *x)
{
    memset(x, 0, sizeof(*x));
    x->paging_state = (sb_slice_t){NULL, -1};
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_host(cql_client_t *cl, const char *address, size_t alen, uint16_t port)
{
    for (int i = 0; i < cl->nhosts; i++)
        if (cl->hosts[i].port == port && strlen(cl->hosts[i].address) == alen &&
            memcmp(cl->hosts[i].address, address, alen) == 0)
            return i;
    cql_host_t *h = realloc(cl->hosts, sizeof(*h) * (size_t)(cl->nhosts + 1));
    if (!h) return SB_ENOMEM;
    cl->hosts = h;
    cql_host_t *n = &cl->hosts[cl->nhosts];
    memset(n, 0, sizeof(*n));
    n->address = strndup(address, alen);
    if (!n->address) return SB_ENOMEM;
    n->port = port;
    snprintf(n->name, sizeof(n->name), memchr(address, ':', alen) ? "[%s]:%u" : "%s:%u", n->address, port);
    return cl->nhosts++;
}

/* "a,b:9043,[::1]:9042" -> hosts. */
static int parse_contact_points(cql_client_t *cl, const char *list, uint16_t default_port, sb_err_t *err)
{
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        if (!*p) break;
        const char *end = p + strcspn(p, ",");
        const char *host = p, *hend, *colon = NULL;
        if (*p == '[') {
            host = p + 1;
            hend = memchr(host, ']', (size_t)(end - host));
            if (!hend) return sb_err_set(err, SB_EINVAL, "contact point '%.*s' has no closing ']'", (int)(end - p), p);
            if (hend + 1 < end && hend[1] == ':') colon = hend + 1;
        } else {
            hend = end;
            while (hend > host && hend[-1] == ' ') hend--;
            colon = memchr(host, ':', (size_t)(hend - host));
            if (colon) hend = colon;
        }
        uint16_t port = default_port;
        if (colon) {
            char buf[16];
            size_t n = (size_t)(end - colon - 1);
            char *e;
            if (n == 0 || n >= sizeof(buf)) return sb_err_set(err, SB_EINVAL, "contact point '%.*s' has a bad port", (int)(end - p), p);
            memcpy(buf, colon + 1, n);
            buf[n] = 0;
            long v = strtol(buf, &e, 10);
            if (*e || v <= 0 || v > 65535)
                return sb_err_set(err, SB_EINVAL, "contact point '%.*s' has a bad port", (int)(end - p), p);
            port = (uint16_t)v;
        }
        if (hend == host) return sb_err_set(err, SB_EINVAL, "contact point '%.*s' has no host", (int)(end - p), p);
        if (add_host(cl, host, (size_t)(hend - host), port) < 0) return sb_err_set(err, SB_ENOMEM, "out of memory");
        p = end;
    }
    if (cl->nhosts == 0) return sb_err_set(err, SB_EINVAL, "no CQL contact points given");
    return 0;
}

/* Opens (or reuses) the connection to host i; USEs the keyspace on a new one. */
static int host_conn(cql_client_t *cl, int i, cql_conn_t **out, sb_err_t *err)
{
    cql_host_t *h = &cl->hosts[i];
    if (h->conn && !cql_conn_peer_closed(h->conn)) {
        *out = h->conn;
        return 0;
    }
    cql_conn_free(h->conn);
    h->conn = NULL;
    cql_conn_opts_t o = cl->conn_opts;
    o.host = h->address;
    o.port = h->port;
    o.open_server_error = &cl->last_server_error;
    cql_conn_t *c;
    int rc = cql_conn_open(&o, &c, err);
    if (rc == 0 && cl->keyspace) {
        char q[600];
        snprintf(q, sizeof(q), "USE \"%s\"", cl->keyspace);
        cql_query_params_t p;
        cql_query_params_init(&p);
        cql_result_t *r;
        rc = cql_conn_query(c, q, &p, &r, err);
        cql_result_free(r);
        if (rc == CQL_ESERVER) cl->last_server_error = cql_conn_server_error(c);
        if (rc != 0) cql_conn_free(c);
    }
    if (rc != 0) {
        h->down_until_ms = sb_mono_ms() + cl->node_retry_ms;
        return rc;
    }
    if (h->down_until_ms) sb_info("cql", "connected to CQL node %s again", h->name);
    h->down_until_ms = 0;
    h->conn = c;
    *out = c;
    return 0;
}

static bool parse_i64(sb_slice_t s, int64_t *out)
{
    char buf[32];
    if (s.len <= 0 || s.len >= (int32_t)sizeof(buf)) return false;
    memcpy(buf, s.p, (size_t)s.len);
    buf[s.len] = 0;
    char *e;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    if (*e || errno) return false;
    *out = v;
    return true;
}

/* Adds every token of a set<text> cell to the ring for host i. */
static int ring_add_tokens(cql_client_t *cl, const cql_type_t *t, sb_slice_t tokens, int host)
{
    cql_iter_t it;
    if (tokens.len < 0 || cql_iter_init(&it, t, tokens, NULL) != 0) return 0;
    const cql_type_t *et;
    sb_slice_t e;
    int n = 0;
    while (cql_iter_next(&it, &et, &e, NULL) == 1) {
        int64_t tok;
        if (parse_i64(e, &tok)) {
            if (cql_ring_add(&cl->ring, tok, host) != 0) return SB_ENOMEM;
            n++;
        }
    }
    return n;
}

static sb_slice_t cell(const cql_result_t *r, int row, const char *col)
{
    return cql_result_cell(r, row, cql_result_column(r, col));
}

/* Reads system.local and system.peers on the current connection: adds the peers as nodes and
 * builds the token ring. Failure here only disables routing (and says so in err); the client
 * still works. */
static int refresh_topology(cql_client_t *cl, cql_conn_t *c, sb_err_t *errp)
{
    int rc = SB_EINVAL;
    cql_query_params_t p;
    cql_query_params_init(&p);
    cql_result_t *local = NULL, *peers = NULL;
    sb_err_t err = {0};
    cql_ring_clear(&cl->ring);
    if (cql_conn_query(c, "SELECT partitioner, tokens FROM system.local WHERE key='local'", &p, &local, &err) != 0 ||
        cql_conn_query(c, "SELECT peer, rpc_address, tokens FROM system.peers", &p, &peers, &err) != 0) {
        sb_warn("cql", "token-aware routing is off: cannot read the topology: %s", err.msg);
        rc = err.code ? err.code : SB_EIO;
        sb_err_set(errp, rc, "cannot read the CQL topology: %s", err.msg);
        goto out;
    }
    if (local->nrows != 1 || local->kind != CQL_RESULT_ROWS) {
        sb_err_set(errp, rc, "system.local has %d rows", local->nrows);
        goto out;
    }
    sb_slice_t part = cell(local, 0, "partitioner");
    static const char murmur3[] = "Murmur3Partitioner";
    size_t mlen = sizeof(murmur3) - 1;
    if (part.len < (int32_t)mlen || memcmp(part.p + part.len - mlen, murmur3, mlen) != 0) {
        sb_warn("cql", "token-aware routing is off: partitioner %.*s is not Murmur3Partitioner",
                part.len > 0 ? part.len : 0, part.len > 0 ? (const char *)part.p : "");
        sb_err_set(errp, rc, "partitioner %.*s is not Murmur3Partitioner", part.len > 0 ? part.len : 0,
                   part.len > 0 ? (const char *)part.p : "");
        goto out;
    }
    int tcol = cql_result_column(local, "tokens");
    if (tcol < 0 || ring_add_tokens(cl, local->meta.cols[tcol].type, cql_result_cell(local, 0, tcol), cl->current) < 0) {
        sb_err_set(errp, rc, "system.local has no usable tokens");
        goto out;
    }
    int ptcol = cql_result_column(peers, "tokens");
    int rpcol = cql_result_column(peers, "rpc_address");
    int pcol = cql_result_column(peers, "peer");
    uint16_t port = cl->hosts[cl->current].port;
    for (int r = 0; r < peers->nrows && ptcol >= 0 && rpcol >= 0 && pcol >= 0; r++) {
        sb_slice_t addr = cql_result_cell(peers, r, rpcol);
        sb_wr_t a;
        sb_wr_init(&a, 64);
        /* rpc_address 0.0.0.0 means "listening everywhere": the peer address is the one to use. */
        bool any = addr.len == 4 && memcmp(addr.p, "\0\0\0\0", 4) == 0;
        if (addr.len < 0 || any) addr = cql_result_cell(peers, r, pcol);
        if (cql_decode_text_form(peers->meta.cols[rpcol].type, addr, &a, NULL) == 0) {
            int h = add_host(cl, (const char *)a.buf, a.len, port);
            if (h >= 0) ring_add_tokens(cl, peers->meta.cols[ptcol].type, cql_result_cell(peers, r, ptcol), h);
        }
        sb_wr_deinit(&a);
    }
    cql_ring_sort(&cl->ring);
    sb_info("cql", "token-aware routing over %d nodes, %zu tokens", cl->nhosts, cl->ring.n);
    rc = 0;
out:
    if (rc != 0) cql_ring_clear(&cl->ring);
    cql_result_free(local);
    cql_result_free(peers);
    return rc;
}

int cql_client_refresh_topology(cql_client_t *cl, sb_err_t *err)
{
    if (!cl->token_aware) return sb_err_set(err, SB_EINVAL, "token-aware routing is not enabled");
    cql_conn_t *c;
    int rc = SB_EIO;
    for (int k = 0; k < cl->nhosts; k++) {
        int i = (cl->current + k) % cl->nhosts;
        if ((rc = host_conn(cl, i, &c, err)) != 0) continue;
        cl->current = i;
        return refresh_topology(cl, c, err);
    }
    return rc;
}

int cql_client_new(const cql_client_opts_t *o, cql_client_t **out, sb_err_t *err)
{
    *out = NULL;
    cql_client_t *cl = calloc(1, sizeof(*cl));
    if (!cl) return sb_err_set(err, SB_ENOMEM, "out of memory");
    cl->last_node = -1;
    cl->events_host = -1;
    cl->last_server_error = -1;
    cql_ring_init(&cl->ring);
    int rc = 0;
    cl->consistency = CQL_CONSISTENCY_LOCAL_QUORUM;
    if (o->consistency && cql_consistency_parse(o->consistency, &cl->consistency) != 0)
        rc = sb_err_set(err, SB_EINVAL, "unknown consistency level '%s'", o->consistency);
    if (rc == 0) rc = parse_contact_points(cl, o->contact_points ? o->contact_points : "", o->port ? o->port : 9042, err);
    cl->username = dup_or_null(o->username);
    cl->password = dup_or_null(o->password);
    cl->keyspace = dup_or_null(o->keyspace);
    cl->tls_ca = dup_or_null(o->tls.ca_file);
    cl->tls_cert = dup_or_null(o->tls.cert_file);
    cl->tls_key = dup_or_null(o->tls.key_file);
    cl->tls_name = dup_or_null(o->tls.server_name);
    cl->conn_opts = (cql_conn_opts_t){
        .username = cl->username,
        .password = cl->password,
        .connect_timeout_ms = o->connect_timeout_ms,
        .request_timeout_ms = o->request_timeout_ms,
        .max_frame_bytes = o->max_frame_bytes,
        .protocol_version = o->protocol_version,
        .tls = {.enabled = o->tls.enabled, .ca_file = cl->tls_ca, .cert_file = cl->tls_cert,
                .key_file = cl->tls_key, .skip_verify = o->tls.skip_verify, .server_name = cl->tls_name},
    };
    cl->node_retry_ms = o->node_retry_ms > 0 ? o->node_retry_ms : 2000;
    cl->token_aware = o->token_aware;
    if (rc != 0) {
        cql_client_free(cl);
        return rc;
    }
    /* Connect to the first reachable contact point now, so a bad configuration (wrong port,
     * wrong password, TLS mismatch) fails at start-up with the reason. */
    sb_wr_t why;
    sb_wr_init(&why, 256);
    rc = SB_EIO;
    for (int i = 0; i < cl->nhosts; i++) {
        cql_conn_t *c;
        sb_err_t e = {0};
        rc = host_conn(cl, i, &c, &e);
        if (rc == 0) {
            cl->current = cl->last_node = i;
            break;
        }
        if (why.len) sb_wr_bytes(&why, "; ", 2);
        sb_wr_bytes(&why, e.msg, strlen(e.msg));
        /* A server that refuses the credentials refuses them on every node: stop here. */
        if (rc == CQL_ESERVER) break;
    }
    if (rc != 0) {
        sb_wr_i8(&why, 0);
        rc = sb_err_set(err, rc, "no CQL node reachable: %s", why.oom ? "out of memory" : (const char *)why.buf);
        sb_wr_deinit(&why);
        cql_client_free(cl);
        return rc;
    }
    sb_wr_deinit(&why);
    if (cl->token_aware) refresh_topology(cl, cl->hosts[cl->current].conn, NULL);
    *out = cl;
    return 0;
}

void cql_client_free(cql_client_t *cl)
{
    if (!cl) return;
    for (int i = 0; i < cl->nhosts; i++) {
        cql_conn_free(cl->hosts[i].conn);
        free(cl->hosts[i].address);
    }
    free(cl->hosts);
    for (int i = 0; i < cl->nprepared; i++) {
        free(cl->prepared[i]->result_metadata_id);
        free(cl->prepared[i]->query);
        cql_result_free(cl->prepared[i]->res);
        free(cl->prepared[i]);
    }
    free(cl->prepared);
    for (int i = 0; i < cl->nevents; i++) free(cl->events[i]);
    free(cl->events);
    cql_ring_deinit(&cl->ring);
    free(cl->username);
    if (cl->password) {
        explicit_bzero(cl->password, strlen(cl->password));
        free(cl->password);
    }
    free(cl->keyspace);
    free(cl->tls_ca);
    free(cl->tls_cert);
    free(cl->tls_key);
    free(cl->tls_name);
    free(cl);
}

/* ---- requests with failover ---- */

typedef struct request {
    const char *query;          /* QUERY, or the text of a prepared statement */
    cql_prepared_t *ps;         /* EXECUTE when set */
    const cql_values_t *values;
    cql_query_params_t params;
    bool idempotent;
    int preferred;              /* routed owner, or -1 */
} request_t;

static int send_once(cql_client_t *cl, cql_conn_t *c, request_t *rq, cql_result_t **out, sb_err_t *err)
{
    if (!rq->ps) return cql_conn_query(c, rq->query, &rq->params, out, err);
    int rc = execute_on(c, rq->ps, &rq->params, out, err);
    if (rc != CQL_ESERVER || cql_conn_server_error(c) != CQL_ERR_UNPREPARED) return rc;
    /* The node lost the statement (restart, cache eviction): prepare it again on this node,
     * keep the new id (it changes when the schema did), and execute once more. */
    sb_debug("cql", "%s: statement unprepared, preparing it again", cql_conn_peer(c));
    cql_result_t *fresh;
    rc = cql_conn_prepare(c, rq->ps->query, &fresh, err);
    if (rc != 0) return rc;
    cql_result_free(rq->ps->res);
    rq->ps->res = fresh;
    if (set_result_metadata_id(rq->ps, fresh->result_metadata_id) != 0)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    return execute_on(c, rq->ps, &rq->params, out, err);
}

static int run(cql_client_t *cl, request_t *rq, cql_result_t **out, sb_err_t *err)
{
    *out = NULL;
    cl->last_server_error = -1;
    /* Order: the routed owner, then the current node and the ones after it; nodes recently
     * found down go last (they are still tried: they may be back, and they may be all). */
    int *order = malloc(sizeof(int) * (size_t)(cl->nhosts + 1));
    if (!order) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int n = 0;
    int64_t now = sb_mono_ms();
    for (int pass = 0; pass < 2; pass++) {
        for (int k = -1; k < cl->nhosts; k++) {
            int i = k < 0 ? rq->preferred : (cl->current + k) % cl->nhosts;
            if (i < 0) continue;
            bool down = cl->hosts[i].down_until_ms > now;
            if (down != (pass == 1)) continue;
            bool seen = false;
            for (int j = 0; j < n; j++) seen |= order[j] == i;
            if (!seen) order[n++] = i;
        }
    }
    sb_wr_t why;
    sb_wr_init(&why, 256);
    int rc = SB_EIO;
    bool sent = false;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        cql_conn_t *c;
        sb_err_t e = {0};
        rc = host_conn(cl, i, &c, &e);
        if (rc == 0) {
            rc = send_once(cl, c, rq, out, &e);
            sent = true;
            if (rc == 0 || rc == CQL_ESERVER || !cql_conn_broken(c)) {
                cl->last_node = i;
                if (rq->preferred != i) cl->current = i;
                if (rc == CQL_ESERVER) cl->last_server_error = cql_conn_server_error(c);
                if (rc != 0 && err) *err = e;
                sb_wr_deinit(&why);
                free(order);
                return rc;
            }
            cl->hosts[i].down_until_ms = sb_mono_ms() + cl->node_retry_ms;
            sb_info("cql", "CQL node %s failed: %s", cl->hosts[i].name, e.msg);
        } else if (rc == CQL_ESERVER) {
            /* Refused credentials or keyspace: every node would say the same. */
            if (err) *err = e;
            sb_wr_deinit(&why);
            free(order);
            return rc;
        }
        if (why.len) sb_wr_bytes(&why, "; ", 2);
        sb_wr_bytes(&why, e.msg, strlen(e.msg));
        if (sent && !rq->idempotent) {
            /* The statement may have been applied: do not run it twice. */
            if (err) *err = e;
            sb_wr_deinit(&why);
            free(order);
            return rc;
        }
    }
    free(order);
    sb_wr_i8(&why, 0);
    rc = sb_err_set(err, rc, "no CQL node could run the request: %s", why.oom ? "out of memory" : (const char *)why.buf);
    sb_wr_deinit(&why);
    return rc;
}

static void fill_params(cql_client_t *cl, request_t *rq, const cql_values_t *values, const cql_exec_opts_t *x)
{
    cql_query_params_init(&rq->params);
    rq->params.consistency = x && x->has_consistency ? x->consistency : cl->consistency;
    rq->params.values = values;
    if (x) {
        rq->params.page_size = x->page_size;
        rq->params.paging_state = x->paging_state;
    }
    rq->values = values;
    rq->preferred = -1;
}

static bool is_select(const char *q)
{
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '(') q++;
    return strncasecmp(q, "SELECT", 6) == 0;
}

int cql_client_query(cql_client_t *cl, const char *query, const cql_values_t *values,
                     const cql_exec_opts_t *x, cql_result_t **out, sb_err_t *err)
{
    request_t rq = {.query = query};
    fill_params(cl, &rq, values, x);
    rq.idempotent = (x && x->idempotent) || is_select(query);
    return run(cl, &rq, out, err);
}

int cql_client_prepare(cql_client_t *cl, const char *query, const cql_prepared_t **out, sb_err_t *err)
{
    *out = NULL;
    for (int i = 0; i < cl->nprepared; i++) {
        if (strcmp(cl->prepared[i]->query, query) == 0) {
            *out = cl->prepared[i];
            return 0;
        }
    }
    cql_prepared_t *ps = calloc(1, sizeof(*ps));
    cql_prepared_t **arr = realloc(cl->prepared, sizeof(*arr) * (size_t)(cl->nprepared + 1));
    if (!ps || !arr) {
        free(ps);
        if (arr) cl->prepared = arr;
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    cl->prepared = arr;
    ps->query = strdup(query);
    if (!ps->query) {
        free(ps);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    /* PREPARE is idempotent: any node will do. Other nodes learn it through UNPREPARED. */
    cl->last_server_error = -1;
    int rc = SB_EIO;
    for (int k = 0; k < cl->nhosts; k++) {
        int i = (cl->current + k) % cl->nhosts;
        cql_conn_t *c = NULL;
        sb_err_t e = {0};
        rc = host_conn(cl, i, &c, &e);
        if (rc == 0) rc = cql_conn_prepare(c, query, &ps->res, &e);
        if (rc == 0) {
            cl->last_node = cl->current = i;
            break;
        }
        if (err) *err = e;
        if (rc == CQL_ESERVER) {
            if (c) cl->last_server_error = cql_conn_server_error(c);
            break;
        }
    }
    if (rc == 0 && set_result_metadata_id(ps, ps->res->result_metadata_id) != 0) {
        cql_result_free(ps->res);
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        free(ps->query);
        free(ps);
        return rc;
    }
    cl->prepared[cl->nprepared++] = ps;
    *out = ps;
    return 0;
}

int cql_client_route(const cql_client_t *cl, const cql_prepared_t *ps, const cql_values_t *values)
{
    if (!cl->token_aware || cl->ring.n == 0 || !values || ps->res->meta.npk == 0) return -1;
    sb_wr_t key;
    sb_wr_init(&key, 64);
    int owner = -1;
    if (cql_routing_key(values, ps->res->meta.pk_indexes, ps->res->meta.npk, &key) == 0 && !key.oom)
        owner = cql_ring_owner(&cl->ring, cql_murmur3_token(key.buf, key.len));
    sb_wr_deinit(&key);
    return owner;
}

int cql_client_execute(cql_client_t *cl, const cql_prepared_t *cps, const cql_values_t *values,
                       const cql_exec_opts_t *x, cql_result_t **out, sb_err_t *err)
{
    /* The cache entry is updated in place by a re-prepare; callers hold it as const. */
    cql_prepared_t *ps = (cql_prepared_t *)cps;
    request_t rq = {.query = ps->query, .ps = ps};
    fill_params(cl, &rq, values, x);
    rq.idempotent = (x && x->idempotent) || is_select(ps->query);
    rq.preferred = cql_client_route(cl, ps, values);
    return run(cl, &rq, out, err);
}

const cql_metadata_t *cql_prepared_bind_metadata(const cql_prepared_t *ps)
{
    return &ps->res->meta;
}

const cql_metadata_t *cql_prepared_result_metadata(const cql_prepared_t *ps)
{
    return &ps->res->result_meta;
}

int32_t cql_client_server_error(const cql_client_t *cl)
{
    return cl->last_server_error;
}

/* ---- events ---- */

static int events_conn(cql_client_t *cl, cql_conn_t **out, sb_err_t *err)
{
    if (cl->events_host >= 0) {
        cql_host_t *h = &cl->hosts[cl->events_host];
        if (h->conn && !cql_conn_peer_closed(h->conn)) {
            *out = h->conn;
            return 0;
        }
    }
    int rc = SB_EIO;
    for (int k = 0; k < cl->nhosts; k++) {
        int i = (cl->current + k) % cl->nhosts;
        cql_conn_t *c;
        if ((rc = host_conn(cl, i, &c, err)) != 0) continue;
        rc = cql_conn_register(c, (const char *const *)cl->events, cl->nevents, err);
        if (rc == 0) {
            cl->events_host = i;
            *out = c;
            return 0;
        }
    }
    return rc;
}

int cql_client_register(cql_client_t *cl, const char *const *events, int nevents, sb_err_t *err)
{
    for (int i = 0; i < cl->nevents; i++) free(cl->events[i]);
    free(cl->events);
    cl->nevents = 0;
    cl->events = calloc((size_t)(nevents > 0 ? nevents : 1), sizeof(char *));
    if (!cl->events) return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (int i = 0; i < nevents; i++) {
        if (!(cl->events[i] = strdup(events[i]))) return sb_err_set(err, SB_ENOMEM, "out of memory");
        cl->nevents++;
    }
    cl->events_host = -1;
    cql_conn_t *c;
    return events_conn(cl, &c, err);
}

int cql_client_wait_event(cql_client_t *cl, int timeout_ms, cql_pushed_event_t **out, sb_err_t *err)
{
    *out = NULL;
    if (cl->nevents == 0) return sb_err_set(err, SB_EINVAL, "no events registered");
    /* A connection that breaks while waiting (its node restarted) is replaced, and the
     * registration made again, within the same wait. */
    int64_t deadline = sb_mono_ms() + timeout_ms;
    for (;;) {
        cql_conn_t *c;
        int rc = events_conn(cl, &c, err);
        if (rc != 0) return rc;
        int64_t left = deadline - sb_mono_ms();
        rc = cql_conn_wait_event(c, left > 0 ? (int)left : 0, out, err);
        if (rc != SB_EIO || sb_mono_ms() >= deadline) return rc;
        sb_info("cql", "event connection lost (%s); registering again", err ? err->msg : "");
    }
}

int cql_client_node_count(const cql_client_t *cl)
{
    return cl->nhosts;
}

const char *cql_client_node_name(const cql_client_t *cl, int i)
{
    return i >= 0 && i < cl->nhosts ? cl->hosts[i].name : "";
}

int cql_client_last_node(const cql_client_t *cl)
{
    return cl->last_node;
}

int cql_client_node_protocol(const cql_client_t *cl, int i)
{
    if (i < 0 || i >= cl->nhosts || !cl->hosts[i].conn) return 0;
    return cql_conn_protocol_version(cl->hosts[i].conn);
}
