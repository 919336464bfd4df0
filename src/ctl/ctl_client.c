#include "ctl/ctl_client.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* How long a clean shutdown of the librdkafka handle may take; see ctl_client_deinit. */
#define CTL_DESTROY_GRACE_S 3

static void on_client_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    ctl_client_t *client = opaque;
    switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
        /* "all brokers down" is a summary; keep the concrete cause when we have one. */
        if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && client->last_transport_error[0]) return;
        snprintf(client->last_transport_error, sizeof(client->last_transport_error), "%s", reason);
        break;
    default: break;
    }
}

static int set_property(rd_kafka_conf_t *conf, const char *key, const char *value, sb_err_t *err)
{
    char detail[256];
    if (rd_kafka_conf_set(conf, key, value, detail, sizeof(detail)) != RD_KAFKA_CONF_OK)
        /* The value is left out: it may be a password (-X sasl.password=...). */
        return sb_err_set(err, SB_EINVAL, "client property %s: %s", key, detail);
    return 0;
}

int ctl_client_init(ctl_client_t *client, const ctl_args_t *args, sb_err_t *err)
{
    memset(client, 0, sizeof(*client));
    client->bootstrap = args->bootstrap;
    client->timeout_ms = args->timeout_ms;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char timeout_text[16];
    snprintf(timeout_text, sizeof(timeout_text), "%d", args->timeout_ms);
    /* librdkafka logs every failed connection attempt to stderr; a CLI reports the cause
     * once, in its own error line. `-X debug=...` or `-X log_level=7` brings the logs back. */
    int rc = set_property(conf, "bootstrap.servers", args->bootstrap, err);
    if (!rc) rc = set_property(conf, "client.id", "streambus-ctl", err);
    if (!rc) rc = set_property(conf, "log_level", "0", err);
    if (!rc) rc = set_property(conf, "socket.timeout.ms", timeout_text, err);
    if (!rc) rc = set_property(conf, "allow.auto.create.topics", "false", err);
    for (size_t i = 0; !rc && i < args->client_config.count; i++)
        rc = set_property(conf, args->client_config.items[i].key, args->client_config.items[i].value, err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_error_cb(conf, on_client_error);
    rd_kafka_conf_set_opaque(conf, client);

    char detail[512];
    /* A producer handle is the lightest one that can issue admin requests. */
    client->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, detail, sizeof(detail));
    if (!client->rk) {
        rd_kafka_conf_destroy(conf);
        return sb_err_set(err, SB_EINVAL, "cannot create Kafka client: %s", detail);
    }
    client->results = rd_kafka_queue_new(client->rk);
    return 0;
}

static void *destroy_handle(void *rk)
{
    rd_kafka_destroy(rk);
    return NULL;
}

/* librdkafka 2.0.2 can deadlock inside rd_kafka_destroy after a consumer-group admin request
 * failed locally (seen when the broker does not implement DescribeGroups). A CLI must never
 * hang on its way out, so the destroy runs on a helper thread that gets a bounded time; if
 * it is stuck, the handle is abandoned to the process exit that follows. */
void ctl_client_deinit(ctl_client_t *client)
{
    if (client->results) rd_kafka_queue_destroy(client->results);
    client->results = NULL;
    if (!client->rk) return;
    pthread_t destroyer;
    if (pthread_create(&destroyer, NULL, destroy_handle, client->rk) != 0) {
        rd_kafka_destroy(client->rk);
    } else {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += CTL_DESTROY_GRACE_S;
        if (pthread_timedjoin_np(destroyer, NULL, &deadline) != 0) pthread_detach(destroyer);
    }
    client->rk = NULL;
}

rd_kafka_AdminOptions_t *ctl_client_admin_options(ctl_client_t *client, rd_kafka_admin_op_t op,
                                                  sb_err_t *err)
{
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(client->rk, op);
    if (!options) {
        sb_err_set(err, SB_ENOMEM, "cannot allocate admin options");
        return NULL;
    }
    char detail[256];
    rd_kafka_AdminOptions_set_request_timeout(options, client->timeout_ms, detail, sizeof(detail));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(options, client->timeout_ms, detail, sizeof(detail));
    return options;
}

static bool is_unreachable(rd_kafka_resp_err_t code)
{
    return code == RD_KAFKA_RESP_ERR__TIMED_OUT || code == RD_KAFKA_RESP_ERR__TRANSPORT ||
           code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__RESOLVE ||
           code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE || code == RD_KAFKA_RESP_ERR__WAIT_COORD;
}

int ctl_client_fail(ctl_client_t *client, rd_kafka_resp_err_t code, const char *what, sb_err_t *err)
{
    /* Error callbacks are delivered by rd_kafka_poll; collect them before composing. */
    rd_kafka_poll(client->rk, 0);
    if (is_unreachable(code) && client->last_transport_error[0])
        return sb_err_set(err, SB_EIO, "%s: no answer from %s within %d ms: %s (%s)", what, client->bootstrap,
                          client->timeout_ms, client->last_transport_error, rd_kafka_err2name(code));
    if (is_unreachable(code))
        return sb_err_set(err, SB_EIO, "%s: no answer from %s within %d ms (%s)", what, client->bootstrap,
                          client->timeout_ms, rd_kafka_err2name(code));
    if (code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE || code == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION)
        return sb_err_set(err, SB_EIO, "%s: the cluster does not support this request (%s)", what,
                          rd_kafka_err2name(code));
    return sb_err_set(err, SB_EIO, "%s: %s (%s)", what, rd_kafka_err2str(code), rd_kafka_err2name(code));
}

int ctl_client_wait(ctl_client_t *client, rd_kafka_event_type_t type, const char *what,
                    rd_kafka_event_t **event_out, sb_err_t *err)
{
    *event_out = NULL;
    /* librdkafka fails the request itself after the request timeout; the extra margin only
     * guards against waiting forever if that ever did not happen. */
    int remaining_ms = client->timeout_ms + 5000;
    rd_kafka_event_t *event = NULL;
    while (!event && remaining_ms > 0) {
        event = rd_kafka_queue_poll(client->results, 100);
        rd_kafka_poll(client->rk, 0);
        remaining_ms -= 100;
    }
    if (!event) return ctl_client_fail(client, RD_KAFKA_RESP_ERR__TIMED_OUT, what, err);
    if (rd_kafka_event_type(event) != type) {
        rd_kafka_event_destroy(event);
        return sb_err_set(err, SB_EIO, "%s: unexpected result event %s", what, rd_kafka_event_name(event));
    }
    rd_kafka_resp_err_t code = rd_kafka_event_error(event);
    if (code) {
        const char *text = rd_kafka_event_error_string(event);
        int rc;
        if (is_unreachable(code) || code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
            rc = ctl_client_fail(client, code, what, err);
        else
            rc = sb_err_set(err, SB_EIO, "%s: %s (%s)", what, text ? text : rd_kafka_err2str(code),
                            rd_kafka_err2name(code));
        rd_kafka_event_destroy(event);
        return rc;
    }
    *event_out = event;
    return 0;
}

int ctl_client_metadata(ctl_client_t *client, const struct rd_kafka_metadata **md_out, sb_err_t *err)
{
    rd_kafka_resp_err_t code = rd_kafka_metadata(client->rk, 1, NULL, md_out, client->timeout_ms);
    if (code) return ctl_client_fail(client, code, "fetching cluster metadata", err);
    return 0;
}
