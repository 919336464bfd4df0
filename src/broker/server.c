/* The broker's life cycle and its main loop: opens the data directory, wires topics, the
 * flusher and the group coordinator together, and drives the network loop (src/net/), whose
 * frame handler is the dispatcher (dispatch.c). Between network rounds it runs the broker's
 * timers: long-polling fetches, group sessions, metrics snapshots and retention. */
#include "broker/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/handlers/sasl_int.h"
#include "broker/group/coordinator.h"
#include "broker/metrics_broker.h"
#include "common/clock.h"
#include "common/dir_lock.h"
#include "common/log.h"

/* ---- connections ---- */

conn_t *conn_adopt(broker_t *b, int fd, const char *host, const char *peer)
{
    conn_t *c;
    return net_conn_adopt(b->net, fd, NULL, host, peer, &c) < 0 ? NULL : c;
}

void broker_reap(broker_t *b)
{
    fetch_waiters_poll(b, INT64_MAX, false);
    net_loop_reap(b->net);
}

static int on_frame(void *arg, conn_t *c, uint8_t *frame, size_t len)
{
    return broker_dispatch(arg, c, frame, len);
}

static void on_connections(void *arg, int nconns)
{
    broker_t *b = arg;
    broker_metrics_connections(b->m, nconns);
}

static void on_flusher_event(void *arg, int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    flusher_on_event(arg);
}

/* The host a listener advertises when none is configured: its bind host, or the machine's
 * name for a wildcard bind. */
static void default_advertised_host(const char *bind_host, char *out, size_t cap)
{
    if (!bind_host[0] || strcmp(bind_host, "0.0.0.0") == 0 || strcmp(bind_host, "::") == 0) {
        if (gethostname(out, cap) < 0) snprintf(out, cap, "127.0.0.1");
        out[cap - 1] = 0;
    } else {
        snprintf(out, cap, "%s", bind_host);
    }
}

static int open_listeners(broker_t *b, sb_err_t *err)
{
    const broker_options_t *o = &b->opt;
    broker_listener_options_t single;
    const broker_listener_options_t *ls = o->listeners;
    int n = o->nlisteners;
    if (n == 0) {
        /* broker.listen: one PLAINTEXT listener, as before listeners had protocols. */
        memset(&single, 0, sizeof(single));
        snprintf(single.name, sizeof(single.name), "PLAINTEXT");
        snprintf(single.host, sizeof(single.host), "%s", o->listen_host);
        single.port = o->listen_port;
        snprintf(single.advertised_host, sizeof(single.advertised_host), "%s", o->advertised_host);
        single.advertised_port = o->advertised_port;
        single.protocol = NET_PROTO_PLAINTEXT;
        ls = &single;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        const broker_listener_options_t *lo = &ls[i];
        net_tls_t *tls = NULL;
        int rc;
        if (net_security_protocol_tls(lo->protocol)) {
            net_tls_config_t tc = {
                .cert_file = lo->tls_cert, .key_file = lo->tls_key, .ca_file = lo->tls_ca, .client_auth = lo->client_auth};
            sb_err_t inner = {0};
            if ((rc = net_tls_new(&tc, &tls, &inner)) < 0)
                return sb_err_set(err, rc, "listener %s: %s", lo->name, inner.msg);
        }
        net_listener_config_t lc = {
            .name = lo->name, .host = lo->host, .port = lo->port, .protocol = lo->protocol, .tls = tls};
        broker_listener_t *bl = &b->listeners[b->nlisteners];
        if ((rc = net_loop_listen(b->net, &lc, &bl->net, err)) < 0) return rc;
        b->nlisteners++;
        if (lo->advertised_host[0]) snprintf(bl->advertised_host, sizeof(bl->advertised_host), "%s", lo->advertised_host);
        else default_advertised_host(lo->host, bl->advertised_host, sizeof(bl->advertised_host));
        bl->advertised_port = lo->advertised_port ? lo->advertised_port : net_listener_port(bl->net);
    }
    return 0;
}

static int mkdir_p(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int broker_new(const broker_options_t *opt, struct metrics_registry *metrics, broker_t **out, sb_err_t *err)
{
    broker_t *b = calloc(1, sizeof(*b));
    if (!b) return sb_err_set(err, SB_ENOMEM, "out of memory");
    b->opt = *opt;
    b->flusher.eventfd = -1;
    b->metrics = metrics;
    int rc;
    if (mkdir_p(opt->data_dir) < 0) {
        rc = sb_err_set(err, SB_EIO, "cannot create data_dir %s: %s", opt->data_dir, strerror(errno));
        goto fail;
    }
    /* Before anything in data_dir is read: a second broker on the same logs would append to
     * them behind the first one's back. */
    if ((rc = sb_dir_lock_new(opt->data_dir, "streambus broker", &b->dir_lock, NULL, err)) < 0) goto fail;
    b->m = broker_metrics_new(metrics);
    if ((rc = producer_ids_open(&b->pids, opt->data_dir, err)) < 0) goto fail;
    int64_t t0 = sb_mono_ms();
    if ((rc = broker_configs_load(b, err)) < 0) goto fail; /* topic defaults depend on it */
    if ((rc = topics_load(b, err)) < 0) goto fail;
    if ((rc = broker_sasl_init(b, err)) < 0) goto fail;
    if ((rc = flusher_start(b, err)) < 0) goto fail;

    topic_t *offsets;
    if (topic_get_or_create(b, (sb_slice_t){(const uint8_t *)"__consumer_offsets", 18}, false, &offsets) != 0) {
        if ((rc = topic_create(b, "__consumer_offsets", 1, NULL, NULL, 0, &offsets, err)) < 0) goto fail;
    }
    offsets->internal = true;
    group_config_t gcfg = {
        .initial_rebalance_delay_ms = opt->group_initial_rebalance_delay_ms,
        .session_timeout_min_ms = opt->group_session_timeout_min_ms,
        .session_timeout_max_ms = opt->group_session_timeout_max_ms,
        .offsets_retention_ms = opt->offsets_retention_ms,
    };
    if ((rc = group_coordinator_new(b, topic_partition_log(offsets, 0), &gcfg, &b->groups, err)) < 0) goto fail;

    net_loop_options_t nopt = {
        .max_connections = opt->max_connections,
        .idle_timeout_ms = opt->idle_connection_timeout_ms,
        .min_frame_bytes = 8, /* api key, api version, correlation id */
        .max_frame_bytes = opt->max_request_bytes,
    };
    net_frame_handler_t handler = {.arg = b, .on_frame = on_frame, .on_connections = on_connections};
    if ((rc = net_loop_new(&nopt, &handler, &b->net, err)) < 0) goto fail;
    if ((rc = net_loop_watch(b->net, b->flusher.eventfd, on_flusher_event, b, err)) < 0) goto fail;
    if ((rc = open_listeners(b, err)) < 0) goto fail;
    /* The first listener is also what the older single-listener options describe. */
    snprintf(b->opt.advertised_host, sizeof(b->opt.advertised_host), "%s", b->listeners[0].advertised_host);
    b->opt.advertised_port = b->listeners[0].advertised_port;
    sb_info("broker", "data_dir %s opened: %zu topics recovered in %lld ms", opt->data_dir, b->ntopics,
            (long long)(sb_mono_ms() - t0));
    *out = b;
    return 0;
fail:
    broker_free(b);
    return rc;
}

int32_t broker_port(const broker_t *b)
{
    return net_listener_port(b->listeners[0].net);
}

int broker_listener_count(const broker_t *b)
{
    return b->nlisteners;
}

int32_t broker_listener_port(const broker_t *b, const char *name)
{
    for (int i = 0; i < b->nlisteners; i++)
        if (strcasecmp(net_listener_name(b->listeners[i].net), name) == 0) return net_listener_port(b->listeners[i].net);
    return -1;
}

void broker_request_tls_reload(broker_t *b)
{
    atomic_store(&b->tls_reload, true);
    if (b->net) net_loop_wake(b->net);
}

/* Re-reads every TLS listener's certificate and key. A listener whose files do not load keeps
 * serving with the previous ones, so a half-written certificate never takes the port down. */
static void reload_tls(broker_t *b)
{
    for (int i = 0; i < b->nlisteners; i++) {
        net_listener_t *l = b->listeners[i].net;
        if (!net_security_protocol_tls(net_listener_protocol(l))) continue;
        sb_err_t err = {0};
        if (net_listener_reload_tls(l, &err) < 0)
            sb_error("net", "listener %s: TLS reload failed, still using the previous certificate: %s",
                     net_listener_name(l), err.msg);
        else sb_info("net", "listener %s: TLS certificate and key reloaded", net_listener_name(l));
    }
}

bool broker_ready(const broker_t *b)
{
    return atomic_load(&b->ready);
}

void broker_stop(broker_t *b)
{
    atomic_store(&b->stopping, true);
    if (b->net) net_loop_wake(b->net);
}

int broker_run(broker_t *b)
{
    atomic_store(&b->ready, true);
    for (int i = 0; i < b->nlisteners; i++) {
        net_listener_t *l = b->listeners[i].net;
        const char *host = i == 0 && b->opt.nlisteners == 0 ? b->opt.listen_host : b->opt.listeners[i].host;
        sb_info("broker", "listening for Kafka clients on %s:%d, listener %s (%s), advertised as %s:%d",
                host[0] ? host : "*", net_listener_port(l), net_listener_name(l),
                net_security_protocol_name(net_listener_protocol(l)), b->listeners[i].advertised_host,
                b->listeners[i].advertised_port);
        /* Say it plainly when a listener serves whoever reaches it: no TLS and no SASL means
         * every client is User:ANONYMOUS on a readable wire. */
        if (net_listener_protocol(l) == NET_PROTO_PLAINTEXT)
            sb_warn("broker",
                    "Kafka listener %s on %s:%d is OPEN: no TLS, no authentication (clients are "
                    "User:ANONYMOUS%s)%s",
                    net_listener_name(l), host[0] ? host : "*", net_listener_port(l),
                    b->opt.authorizer_enabled ? ", limited by ACLs" : ", authorizer off",
                    net_host_is_loopback(host) ? "; loopback only: for local tools and development"
                                               : " and NOT on loopback");
    }
    int64_t last_tick = sb_mono_ms();
    int64_t last_snapshot = 0;
    b->last_retention_ms = last_tick;
    while (!atomic_load(&b->stopping)) {
        int timeout = 100;
        int64_t now = sb_mono_ms();
        int64_t dl = fetch_waiters_next_deadline(b);
        if (dl >= 0 && dl - now < timeout) timeout = dl > now ? (int)(dl - now) : 0;
        dl = broker_sasl_next_deadline(b); /* failed authentications answered late */
        if (dl >= 0 && dl - now < timeout) timeout = dl > now ? (int)(dl - now) : 0;
        uint64_t gen_before = b->append_gen;
        if (net_loop_poll(b->net, timeout) < 0) break;
        if (atomic_exchange(&b->tls_reload, false)) reload_tls(b);
        now = sb_mono_ms();
        fetch_waiters_poll(b, now, b->append_gen != gen_before);
        broker_sasl_poll(b, now);
        if (now - last_tick >= 100) {
            last_tick = now;
            group_coordinator_tick(b->groups, sb_mono_ms());
        }
        if (now - last_snapshot >= 1000) {
            last_snapshot = now;
            broker_metrics_snapshot(b);
        }
        if (b->opt.retention_check_interval_ms > 0 && now - b->last_retention_ms >= b->opt.retention_check_interval_ms) {
            b->last_retention_ms = now;
            topics_enforce_retention(b, sb_now_ms());
        }
    }
    sb_info("broker", "stopping");
    return 0;
}

void broker_free(broker_t *b)
{
    if (!b) return;
    if (b->net) {
        net_loop_close_all(b->net);
        net_loop_reap(b->net);
    }
    fetch_waiters_free_all(b);
    group_coordinator_free(b->groups);
    b->groups = NULL;
    flusher_stop(b);
    topics_free_all(b);
    broker_configs_free(b);
    net_loop_free(b->net);
    broker_sasl_free(b); /* after the connections, whose SASL state it configured */
    broker_metrics_free(b->m);
    free(b->topic_buckets);
    sb_dir_lock_free(b->dir_lock); /* last: nothing writes to data_dir any more */
    free(b);
}
