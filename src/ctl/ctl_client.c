#include "ctl/ctl_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"

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
    client->raw_plaintext_ok = true;
    for (size_t i = 0; i < args->client_config.count; i++)
        if (strcasecmp(args->client_config.items[i].key, "security.protocol") == 0 &&
            strcasecmp(args->client_config.items[i].value, "plaintext") != 0)
            client->raw_plaintext_ok = false;
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
    client->last_event_error = RD_KAFKA_RESP_ERR_NO_ERROR;
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
    client->last_event_error = code;
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

/* ---- IncrementalAlterConfigs on a raw connection ---- */

enum {
    IAC_API_KEY = 44,
    IAC_RESOURCE_TOPIC = 2,
    IAC_OP_SET = 0,
    IAC_OP_DELETE = 1,
    IAC_ERR_UNSUPPORTED_VERSION = 35,
    /* A response for one resource is a few hundred bytes; anything far larger is not one. */
    IAC_MAX_RESPONSE = 1 << 20,
};

int ctl_iac_parse_response(const uint8_t *body, size_t len, int16_t *error_code, char *msg, size_t msg_cap)
{
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    sb_rd_i32(&rd); /* throttle_time_ms */
    int32_t n = sb_rd_array(&rd, false, 2 + 2 + 1 + 2);
    if (!sb_rd_ok(&rd) || n != 1) return SB_EINVAL;
    int16_t code = sb_rd_i16(&rd);
    sb_slice_t text = sb_rd_string(&rd);
    sb_rd_i8(&rd);     /* resource_type */
    sb_rd_string(&rd); /* resource_name */
    if (!sb_rd_ok(&rd)) return SB_EINVAL;
    *error_code = code;
    if (msg_cap) snprintf(msg, msg_cap, "%.*s", text.len > 0 ? (int)text.len : 0, text.len > 0 ? (const char *)text.p : "");
    return 0;
}

/* Connects to host:port within timeout_ms; returns the socket or -1 (errno set). */
static int connect_within(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int c = connect(fd, ai->ai_addr, ai->ai_addrlen);
        int soerr = c == 0 ? 0 : errno;
        if (soerr == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            socklen_t sl = sizeof(soerr);
            soerr = ETIMEDOUT;
            if (poll(&pfd, 1, timeout_ms) == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        }
        if (soerr) {
            close(fd);
            fd = -1;
            errno = soerr;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Reads or writes exactly len bytes on a non-blocking socket before deadline_ms (monotonic).
 * Returns 0, -1 on error/timeout, 1 when the peer closed the connection before a read began
 * or during it. */
static int io_exact(int fd, bool writing, uint8_t *buf, size_t len, int64_t deadline_ms)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL) : recv(fd, buf + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0 && !writing) return 1;
        if (n < 0 && errno == EPIPE) return 1;
        if (n < 0 && errno == ECONNRESET) return 1;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = deadline_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
        poll(&pfd, 1, (int)left);
    }
    return 0;
}

/* Splits the i-th entry of a bootstrap list ("h1:p1,h2:p2", "[::1]:9092", an optional
 * "plaintext://" prefix) into host and port. Returns false past the last entry. */
static bool bootstrap_entry(const char *list, size_t index, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *p = list;
    for (size_t i = 0; i < index; i++) {
        p = strchr(p, ',');
        if (!p) return false;
        p++;
    }
    size_t len = strcspn(p, ",");
    char entry[300];
    if (len == 0 || len >= sizeof(entry)) return false;
    memcpy(entry, p, len);
    entry[len] = '\0';
    char *e = strstr(entry, "://");
    e = e ? e + 3 : entry;
    char *colon = strrchr(e, ':');
    if (!colon) return false;
    *colon = '\0';
    if (*e == '[' && colon > e + 1 && colon[-1] == ']') {
        e++;
        colon[-1] = '\0';
    }
    size_t hl = strlen(e), pl = strlen(colon + 1);
    if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap) return false;
    memcpy(host, e, hl + 1);
    memcpy(port, colon + 1, pl + 1);
    return true;
}

int ctl_client_incremental_alter_topic(ctl_client_t *client, const char *topic, const ctl_kv_t *ops, size_t nops,
                                       bool validate_only, ctl_iac_outcome_t *outcome, int16_t *error_code,
                                       char *msg, size_t msg_cap, sb_err_t *err)
{
    *outcome = CTL_IAC_UNSUPPORTED;
    if (!client->raw_plaintext_ok) return 0;

    sb_wr_t req;
    sb_wr_init(&req, 256);
    sb_wr_i32(&req, 0); /* size, patched below */
    sb_wr_i16(&req, IAC_API_KEY);
    sb_wr_i16(&req, 0); /* version 0: not flexible */
    sb_wr_i32(&req, 1); /* correlation id */
    sb_wr_str(&req, false, "streambus-ctl");
    sb_wr_array(&req, false, 1);
    sb_wr_i8(&req, IAC_RESOURCE_TOPIC);
    sb_wr_str(&req, false, topic);
    sb_wr_array(&req, false, (int32_t)nops);
    for (size_t i = 0; i < nops; i++) {
        sb_wr_str(&req, false, ops[i].key);
        sb_wr_i8(&req, ops[i].value ? IAC_OP_SET : IAC_OP_DELETE);
        sb_wr_str(&req, false, ops[i].value);
    }
    sb_wr_bool(&req, validate_only);
    if (req.oom) {
        sb_wr_deinit(&req);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    sb_wr_patch_i32(&req, 0, (int32_t)(req.len - 4));

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t deadline = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + client->timeout_ms;
    char host[300], port[32], last[640] = "";
    int rc = 0;
    bool answered = false;
    for (size_t i = 0; !answered && bootstrap_entry(client->bootstrap, i, host, sizeof(host), port, sizeof(port)); i++) {
        int fd = connect_within(host, port, client->timeout_ms);
        if (fd < 0) {
            snprintf(last, sizeof(last), "%s:%s: %s", host, port, strerror(errno));
            continue;
        }
        uint8_t head[8];
        int io = io_exact(fd, true, req.buf, req.len, deadline);
        if (io == 0) io = io_exact(fd, false, head, sizeof(head), deadline);
        if (io == 1) {
            /* A Kafka broker closes the connection on an API it does not know. */
            close(fd);
            sb_wr_deinit(&req);
            return 0;
        }
        if (io < 0) {
            snprintf(last, sizeof(last), "%s:%s: %s", host, port, strerror(errno));
            close(fd);
            continue;
        }
        sb_rd_t hr;
        sb_rd_init(&hr, head, sizeof(head));
        int32_t size = sb_rd_i32(&hr);
        int32_t corr = sb_rd_i32(&hr);
        uint8_t *body = NULL;
        if (size < 4 || size > IAC_MAX_RESPONSE || corr != 1 || !(body = malloc((size_t)size - 4 + 1))) {
            rc = sb_err_set(err, SB_EIO, "altering the configs of topic \"%s\": malformed answer from %s:%s", topic,
                            host, port);
        } else if (io_exact(fd, false, body, (size_t)size - 4, deadline) != 0) {
            rc = sb_err_set(err, SB_EIO, "altering the configs of topic \"%s\": the answer from %s:%s was cut off",
                            topic, host, port);
        } else if (ctl_iac_parse_response(body, (size_t)size - 4, error_code, msg, msg_cap) != 0) {
            rc = sb_err_set(err, SB_EIO, "altering the configs of topic \"%s\": malformed answer from %s:%s", topic,
                            host, port);
        } else if (*error_code != IAC_ERR_UNSUPPORTED_VERSION) {
            *outcome = CTL_IAC_DONE;
        }
        free(body);
        close(fd);
        answered = true;
    }
    sb_wr_deinit(&req);
    if (!answered)
        return sb_err_set(err, SB_EIO, "altering the configs of topic \"%s\": no answer from %s within %d ms: %s",
                          topic, client->bootstrap, client->timeout_ms, last[0] ? last : "no usable address");
    return rc;
}
