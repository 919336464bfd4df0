#include "cql/cql_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "cql/cql_segment.h"
#include "cql/cql_wire.h"
#include "version.h"

struct cql_conn {
    int version; /* 4 or 5; frames before STARTUP are sent as v4 */
    bool framed; /* v5 after the STARTUP exchange: envelopes travel in segments */
    sb_wr_t inbuf; /* framed: segment payload bytes received and not yet consumed */
    size_t inpos;
    int fd;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    bool broken;
    int16_t next_stream;
    int request_timeout_ms;
    size_t max_frame_bytes;
    int32_t last_server_error;
    char peer[300];
    cql_pushed_event_t *events_head, *events_tail;
    int nevents;
    uint64_t dropped_events;
};

typedef struct frame {
    cql_frame_header_t h;
    uint8_t *body; /* malloc'd, h.length bytes (plus one spare so an empty body is not NULL) */
} frame_t;

/* ---- socket and TLS I/O with deadlines ---- */

static void conn_close(cql_conn_t *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->broken = true;
}

/* Waits until fd is ready for `events` or the deadline (monotonic ms) passes. */
static int wait_fd(cql_conn_t *c, short events, int64_t deadline, sb_err_t *err)
{
    for (;;) {
        /* Past the deadline, still look once without waiting: bytes already there count. */
        int64_t left = deadline - sb_mono_ms();
        if (left < 0) left = 0;
        struct pollfd pfd = {.fd = c->fd, .events = events};
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0) return 0;
        if (r == 0 && left == 0) return CQL_ETIMEOUT;
        if (r < 0 && errno != EINTR)
            return sb_err_set(err, SB_EIO, "poll on the connection to %s failed: %s", c->peer, strerror(errno));
    }
}

static int tls_error(cql_conn_t *c, const char *what, sb_err_t *err)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "connection closed";
    if (e) ERR_error_string_n(e, buf, sizeof(buf));
    long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        return sb_err_set(err, SB_EIO, "TLS %s with %s failed: %s (%s)", what, c->peer, buf,
                          X509_verify_cert_error_string(vr));
    return sb_err_set(err, SB_EIO, "TLS %s with %s failed: %s", what, c->peer, buf);
}

/* Runs one SSL call and turns WANT_READ/WANT_WRITE into a wait: 1 to retry, or an error. */
static int tls_retry(cql_conn_t *c, int r, const char *what, int64_t deadline, sb_err_t *err)
{
    int e = SSL_get_error(c->ssl, r);
    int rc;
    if (e == SSL_ERROR_WANT_READ) rc = wait_fd(c, POLLIN, deadline, err);
    else if (e == SSL_ERROR_WANT_WRITE) rc = wait_fd(c, POLLOUT, deadline, err);
    else if (e == SSL_ERROR_ZERO_RETURN) return sb_err_set(err, SB_EIO, "%s closed the TLS connection", c->peer);
    else return tls_error(c, what, err);
    return rc == 0 ? 1 : rc;
}

static int io_read(cql_conn_t *c, uint8_t *buf, size_t n, int64_t deadline, sb_err_t *err)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > INT_MAX ? INT_MAX : n - got;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, buf + got, (int)want);
            if (r > 0) {
                got += (size_t)r;
                continue;
            }
            int rc = tls_retry(c, r, "read", deadline, err);
            if (rc != 1) return rc;
            continue;
        }
        ssize_t r = recv(c->fd, buf + got, want, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0) {
            return sb_err_set(err, SB_EIO, "%s closed the connection", c->peer);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(c, POLLIN, deadline, err);
            if (rc != 0) return rc;
        } else if (errno != EINTR) {
            return sb_err_set(err, SB_EIO, "reading from %s failed: %s", c->peer, strerror(errno));
        }
    }
    return 0;
}

/* OpenSSL writes with send(2) without MSG_NOSIGNAL: a node that closed the connection would
 * raise SIGPIPE and kill a process that did not ignore it. Block it around the write and
 * swallow the one the write caused, so the library is safe in any host program. */
static int tls_write_nosigpipe(SSL *ssl, const uint8_t *buf, int n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    int r = SSL_write(ssl, buf, n);
    if (r <= 0 && !was_pending) {
        struct timespec zero = {0, 0};
        int saved = errno;
        sigtimedwait(&pipe_set, NULL, &zero);
        errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

static int io_write(cql_conn_t *c, const uint8_t *buf, size_t n, int64_t deadline, sb_err_t *err)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > INT_MAX ? INT_MAX : n - done;
        if (c->ssl) {
            ERR_clear_error();
            int r = tls_write_nosigpipe(c->ssl, buf + done, (int)want);
            if (r > 0) {
                done += (size_t)r;
                continue;
            }
            int rc = tls_retry(c, r, "write", deadline, err);
            if (rc != 1) return rc;
            continue;
        }
        ssize_t r = send(c->fd, buf + done, want, MSG_NOSIGNAL);
        if (r >= 0) {
            done += (size_t)r;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(c, POLLOUT, deadline, err);
            if (rc != 0) return rc;
        } else if (errno != EINTR) {
            return sb_err_set(err, SB_EIO, "writing to %s failed: %s", c->peer, strerror(errno));
        }
    }
    return 0;
}

static int tcp_connect(cql_conn_t *c, const char *host, uint16_t port, int64_t deadline, sb_err_t *err)
{
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) return sb_err_set(err, SB_EIO, "cannot resolve CQL host %s: %s", host, gai_strerror(gai));
    int rc = SB_EIO;
    char why[128] = "no address";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        c->fd = fd;
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            rc = wait_fd(c, POLLOUT, deadline, err);
            if (rc == 0) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                r = soerr ? -1 : 0;
                errno = soerr;
            } else if (rc == CQL_ETIMEOUT) {
                snprintf(why, sizeof(why), "timed out");
                r = -1;
                errno = ETIMEDOUT;
            } else {
                r = -1;
            }
        }
        if (r == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            freeaddrinfo(res);
            return 0;
        }
        snprintf(why, sizeof(why), "%s", strerror(errno));
        close(fd);
        c->fd = -1;
        rc = errno == ETIMEDOUT ? CQL_ETIMEOUT : SB_EIO;
    }
    freeaddrinfo(res);
    return sb_err_set(err, rc, "cannot connect to CQL node %s: %s", c->peer, why);
}

static int tls_start(cql_conn_t *c, const cql_conn_opts_t *o, int64_t deadline, sb_err_t *err)
{
    const cql_tls_opts_t *t = &o->tls;
    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ssl_ctx) return tls_error(c, "setup", err);
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    if (t->skip_verify) {
        sb_warn("cql", "TLS certificate verification is off for %s (tls.skip_verify)", c->peer);
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
        int ok = t->ca_file ? SSL_CTX_load_verify_locations(c->ssl_ctx, t->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(c->ssl_ctx);
        if (ok != 1)
            return sb_err_set(err, SB_EINVAL, "cannot load the TLS CA file %s", t->ca_file ? t->ca_file : "(system)");
    }
    if (t->cert_file && SSL_CTX_use_certificate_chain_file(c->ssl_ctx, t->cert_file) != 1)
        return sb_err_set(err, SB_EINVAL, "cannot load the TLS client certificate %s", t->cert_file);
    if (t->key_file && SSL_CTX_use_PrivateKey_file(c->ssl_ctx, t->key_file, SSL_FILETYPE_PEM) != 1)
        return sb_err_set(err, SB_EINVAL, "cannot load the TLS client key %s", t->key_file);
    c->ssl = SSL_new(c->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) return tls_error(c, "setup", err);
    const char *name = t->server_name ? t->server_name : o->host;
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1) {
        if (!t->skip_verify) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name);
    } else {
        SSL_set_tlsext_host_name(c->ssl, name);
        if (!t->skip_verify) SSL_set1_host(c->ssl, name);
    }
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1) return 0;
        int rc = tls_retry(c, r, "handshake", deadline, err);
        if (rc == CQL_ETIMEOUT) return sb_err_set(err, rc, "TLS handshake with %s timed out", c->peer);
        if (rc != 1) return rc;
    }
}

/* ---- frames ---- */

static int16_t take_stream(cql_conn_t *c)
{
    int16_t s = c->next_stream;
    c->next_stream = (int16_t)(s == INT16_MAX ? 1 : s + 1);
    return s;
}

/* Framed (v5): reads one segment, checks both CRCs and appends its payload to inbuf. */
static int read_segment(cql_conn_t *c, int64_t deadline, sb_err_t *err)
{
    uint8_t hdr[CQL_SEGMENT_HEADER_LEN];
    size_t plen;
    bool self_contained;
    int rc = io_read(c, hdr, sizeof(hdr), deadline, err);
    if (rc == 0) rc = cql_segment_header_decode(hdr, &plen, &self_contained, err);
    if (rc != 0) return rc;
    if (c->inpos > 0) {
        /* Drop what was consumed before growing. */
        size_t left = c->inbuf.len - c->inpos;
        memmove(c->inbuf.buf, c->inbuf.buf + c->inpos, left);
        c->inbuf.len = left;
        c->inpos = 0;
    }
    uint8_t *p = sb_wr_reserve(&c->inbuf, plen + CQL_SEGMENT_TRAILER_LEN);
    if (!p) return sb_err_set(err, SB_ENOMEM, "out of memory for a CQL segment");
    rc = io_read(c, p, plen + CQL_SEGMENT_TRAILER_LEN, deadline, err);
    if (rc == 0) rc = cql_segment_payload_check(p, plen, p + plen, err);
    c->inbuf.len -= CQL_SEGMENT_TRAILER_LEN;
    return rc;
}

/* Framed: n bytes of envelope data available at inbuf + inpos. */
static int need_payload(cql_conn_t *c, size_t n, int64_t deadline, sb_err_t *err)
{
    while (c->inbuf.len - c->inpos < n) {
        int rc = read_segment(c, deadline, err);
        if (rc != 0) return rc;
    }
    return 0;
}

static int read_envelope(cql_conn_t *c, int64_t deadline, frame_t *f, sb_err_t *err)
{
    int rc = need_payload(c, CQL_HEADER_LEN, deadline, err);
    if (rc == 0) rc = cql_frame_header_decode(c->inbuf.buf + c->inpos, c->version, c->max_frame_bytes, &f->h, err);
    if (rc == 0) rc = need_payload(c, CQL_HEADER_LEN + (size_t)f->h.length, deadline, err);
    if (rc == 0 && !(f->body = malloc((size_t)f->h.length + 1)))
        rc = sb_err_set(err, SB_ENOMEM, "out of memory for a %d-byte CQL frame", f->h.length);
    if (rc != 0) return rc;
    memcpy(f->body, c->inbuf.buf + c->inpos + CQL_HEADER_LEN, (size_t)f->h.length);
    c->inpos += CQL_HEADER_LEN + (size_t)f->h.length;
    if (c->inpos == c->inbuf.len) {
        c->inbuf.len = 0;
        c->inpos = 0;
    }
    return 0;
}

static int read_frame(cql_conn_t *c, int64_t deadline, frame_t *f, sb_err_t *err)
{
    uint8_t hdr[CQL_HEADER_LEN];
    f->body = NULL;
    if (c->framed) return read_envelope(c, deadline, f, err);
    int rc = io_read(c, hdr, sizeof(hdr), deadline, err);
    /* A server that does not serve our version answers with an ERROR in its own, lower
     * version (spec v5 2.4.1.1); take it, so its message reaches the caller. */
    int version = c->version;
    if (rc == 0 && (hdr[0] & 0x80) && (hdr[0] & 0x7f) >= 3 && (hdr[0] & 0x7f) < version && hdr[4] == CQL_OP_ERROR)
        version = hdr[0] & 0x7f;
    if (rc == 0) rc = cql_frame_header_decode(hdr, version, c->max_frame_bytes, &f->h, err);
    if (rc == 0) {
        f->body = malloc((size_t)f->h.length + 1);
        if (!f->body) rc = sb_err_set(err, SB_ENOMEM, "out of memory for a %d-byte CQL frame", f->h.length);
    }
    if (rc == 0) rc = io_read(c, f->body, (size_t)f->h.length, deadline, err);
    if (rc != 0) {
        free(f->body);
        f->body = NULL;
    }
    return rc;
}

static void queue_event(cql_conn_t *c, frame_t *f)
{
    cql_pushed_event_t *e = calloc(1, sizeof(*e));
    sb_rd_t rd;
    sb_rd_init(&rd, f->body, (size_t)f->h.length);
    cql_response_skip_prefix(&rd, f->h.flags);
    size_t off = (size_t)f->h.length - sb_rd_remaining(&rd);
    sb_err_t derr;
    if (!e || !sb_rd_ok(&rd) || cql_event_decode(f->body + off, sb_rd_remaining(&rd), &e->event, &derr) != 0) {
        sb_warn("cql", "ignoring a malformed EVENT from %s", c->peer);
        free(e);
        free(f->body);
        return;
    }
    e->body = f->body;
    if (c->nevents >= CQL_CONN_MAX_QUEUED_EVENTS) {
        cql_pushed_event_t *old = c->events_head;
        c->events_head = old->next;
        if (!c->events_head) c->events_tail = NULL;
        cql_pushed_event_free(old);
        c->nevents--;
        c->dropped_events++;
    }
    if (c->events_tail) c->events_tail->next = e;
    else c->events_head = e;
    c->events_tail = e;
    c->nevents++;
}

/* Sends the request in w (a whole frame whose stream id is `stream`) and reads frames until
 * that stream's answer; EVENTs meanwhile are queued, stray answers are dropped. A timeout or an
 * I/O error breaks the connection. */
static int roundtrip(cql_conn_t *c, sb_wr_t *w, int16_t stream, const char *what, int timeout_ms, frame_t *f,
                     sb_err_t *err)
{
    c->last_server_error = -1;
    if (c->broken) return sb_err_set(err, SB_EIO, "connection to %s is closed", c->peer);
    if (w->oom) return sb_err_set(err, SB_ENOMEM, "out of memory building a CQL %s", what);
    int64_t deadline = sb_mono_ms() + timeout_ms;
    int rc;
    if (c->framed) {
        sb_wr_t seg;
        sb_wr_init(&seg, w->len + 16);
        cql_segment_wrap(&seg, w->buf, w->len);
        rc = seg.oom ? sb_err_set(err, SB_ENOMEM, "out of memory framing a CQL %s", what)
                     : io_write(c, seg.buf, seg.len, deadline, err);
        sb_wr_deinit(&seg);
    } else {
        rc = io_write(c, w->buf, w->len, deadline, err);
    }
    while (rc == 0) {
        rc = read_frame(c, deadline, f, err);
        if (rc != 0) break;
        if (f->h.stream == stream) return 0;
        if (f->h.opcode == CQL_OP_EVENT && f->h.stream == -1) queue_event(c, f);
        else free(f->body);
        f->body = NULL;
    }
    if (rc == CQL_ETIMEOUT)
        sb_err_set(err, rc, "no answer from %s to %s within %d ms", c->peer, what, timeout_ms);
    conn_close(c);
    return rc;
}

static int server_error(cql_conn_t *c, frame_t *f, size_t off, sb_err_t *err)
{
    cql_server_error_t se;
    int rc = cql_error_decode(f->body + off, (size_t)f->h.length - off, &se, err);
    if (rc == 0) {
        c->last_server_error = se.code;
        rc = sb_err_set(err, CQL_ESERVER, "%s answered %s (0x%04x): %.*s", c->peer, cql_error_name(se.code),
                        (unsigned)se.code, se.message.len, (const char *)se.message.p);
    }
    return rc;
}

/* Skips the response prefix; returns the offset of the body proper. */
static int body_offset(frame_t *f, size_t *off, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, f->body, (size_t)f->h.length);
    cql_response_skip_prefix(&rd, f->h.flags);
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EINVAL, "CQL %s frame prefix is truncated", cql_opcode_name(f->h.opcode));
    *off = (size_t)f->h.length - sb_rd_remaining(&rd);
    return 0;
}

static int expect_result(cql_conn_t *c, frame_t *f, const char *what, cql_result_t **out, sb_err_t *err)
{
    size_t off = 0;
    int rc = body_offset(f, &off, err);
    if (rc == 0 && f->h.opcode == CQL_OP_ERROR) rc = server_error(c, f, off, err);
    else if (rc == 0 && f->h.opcode != CQL_OP_RESULT)
        rc = sb_err_set(err, SB_EINVAL, "%s answered %s to %s", c->peer, cql_opcode_name(f->h.opcode), what);
    cql_result_t *r = NULL;
    if (rc == 0 && !(r = malloc(sizeof(*r)))) rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    if (rc == 0) {
        rc = cql_result_decode(f->body + off, (size_t)f->h.length - off, c->version, r, err);
        if (rc == 0) {
            cql_result_own_body(r, f->body);
            f->body = NULL;
            *out = r;
            return 0;
        }
        free(r);
    }
    free(f->body);
    f->body = NULL;
    return rc;
}

/* ---- public ---- */

static int simple_request(cql_conn_t *c, sb_wr_t *w, int16_t stream, const char *what, int timeout_ms,
                          frame_t *f, size_t *off, sb_err_t *err)
{
    int rc = roundtrip(c, w, stream, what, timeout_ms, f, err);
    sb_wr_deinit(w);
    if (rc != 0) return rc;
    rc = body_offset(f, off, err);
    if (rc == 0 && f->h.opcode == CQL_OP_ERROR) rc = server_error(c, f, *off, err);
    if (rc != 0) {
        free(f->body);
        f->body = NULL;
    }
    return rc;
}

static int handshake(cql_conn_t *c, const cql_conn_opts_t *o, int timeout_ms, sb_err_t *err)
{
    frame_t f;
    size_t off;
    sb_wr_t w;
    int16_t s;

    /* OPTIONS first, as v4: every server since Cassandra 2.2 and every ScyllaDB answers it. Its
     * SUPPORTED lists PROTOCOL_VERSIONS on servers that have v5 (Cassandra 4.0+), which decides
     * the version of STARTUP, and so of the connection, without a failed attempt. */
    c->version = CQL_PROTOCOL_V4;
    sb_wr_init(&w, 16);
    cql_encode_options(&w, c->version, s = take_stream(c));
    int rc = simple_request(c, &w, s, "OPTIONS", timeout_ms, &f, &off, err);
    if (rc != 0) return rc;
    bool offers_v5 = false;
    if (f.h.opcode != CQL_OP_SUPPORTED) {
        rc = sb_err_set(err, SB_EINVAL, "%s answered %s to OPTIONS", c->peer, cql_opcode_name(f.h.opcode));
    } else {
        sb_slice_t cqlv;
        rc = cql_supported_find(f.body + off, (size_t)f.h.length - off, "CQL_VERSION", &cqlv, err);
        offers_v5 = rc == 0 && cql_supported_has(f.body + off, (size_t)f.h.length - off, "PROTOCOL_VERSIONS", "5/v5");
    }
    free(f.body);
    if (rc != 0) return rc;
    if (o->protocol_version == CQL_PROTOCOL_V5 || (o->protocol_version == 0 && offers_v5))
        c->version = CQL_PROTOCOL_V5;

    sb_wr_init(&w, 128);
    cql_encode_startup(&w, c->version, s = take_stream(c), STREAMBUS_VERSION);
    if ((rc = simple_request(c, &w, s, "STARTUP", timeout_ms, &f, &off, err)) != 0) return rc;
    /* v5: the answer to STARTUP is the last unframed message each way (spec 2.3.1). */
    if (c->version >= CQL_PROTOCOL_V5 && (f.h.opcode == CQL_OP_READY || f.h.opcode == CQL_OP_AUTHENTICATE))
        c->framed = true;
    if (f.h.opcode == CQL_OP_READY) {
        free(f.body);
        return 0;
    }
    if (f.h.opcode != CQL_OP_AUTHENTICATE) {
        rc = sb_err_set(err, SB_EINVAL, "%s answered %s to STARTUP", c->peer, cql_opcode_name(f.h.opcode));
        free(f.body);
        return rc;
    }
    sb_slice_t authn;
    rc = cql_authenticate_decode(f.body + off, (size_t)f.h.length - off, &authn, err);
    if (rc == 0 && (!o->username || !o->password))
        rc = sb_err_set(err, SB_EINVAL, "%s requires authentication (%.*s) but no username/password is configured",
                        c->peer, authn.len, (const char *)authn.p);
    free(f.body);
    if (rc != 0) return rc;
    /* Cassandra's and ScyllaDB's PasswordAuthenticator take SASL PLAIN as the first response.
     * (DSE's authenticator first wants the mechanism name; it is not supported.) */
    sb_wr_init(&w, 64);
    cql_encode_auth_response_plain(&w, c->version, s = take_stream(c), o->username, o->password);
    if ((rc = simple_request(c, &w, s, "AUTH_RESPONSE", timeout_ms, &f, &off, err)) != 0) return rc;
    if (f.h.opcode != CQL_OP_AUTH_SUCCESS)
        rc = sb_err_set(err, SB_EINVAL, "%s answered %s to the PLAIN credentials (only one SASL step is supported)",
                        c->peer, cql_opcode_name(f.h.opcode));
    free(f.body);
    return rc;
}

int cql_conn_open(const cql_conn_opts_t *o, cql_conn_t **out, sb_err_t *err)
{
    *out = NULL;
    if (!o->host || !*o->host) return sb_err_set(err, SB_EINVAL, "CQL host is empty");
    cql_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return sb_err_set(err, SB_ENOMEM, "out of memory");
    c->fd = -1;
    c->version = CQL_PROTOCOL_V4;
    sb_wr_init(&c->inbuf, 0);
    c->next_stream = 1;
    c->last_server_error = -1;
    c->request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 12000;
    c->max_frame_bytes = o->max_frame_bytes ? o->max_frame_bytes : 64u * 1024 * 1024;
    uint16_t port = o->port ? o->port : 9042;
    snprintf(c->peer, sizeof(c->peer), strchr(o->host, ':') ? "[%s]:%u" : "%s:%u", o->host, port);
    int timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    int64_t deadline = sb_mono_ms() + timeout_ms;
    int rc = tcp_connect(c, o->host, port, deadline, err);
    if (rc == 0 && o->tls.enabled) rc = tls_start(c, o, deadline, err);
    if (rc == 0) {
        int left = (int)(deadline - sb_mono_ms());
        rc = handshake(c, o, left > 0 ? left : 1, err);
    }
    if (rc != 0) {
        if (rc == CQL_ESERVER && o->open_server_error) *o->open_server_error = c->last_server_error;
        cql_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cql_conn_free(cql_conn_t *c)
{
    if (!c) return;
    conn_close(c);
    if (c->ssl_ctx) SSL_CTX_free(c->ssl_ctx);
    cql_pushed_event_t *e = c->events_head;
    while (e) {
        cql_pushed_event_t *next = e->next;
        cql_pushed_event_free(e);
        e = next;
    }
    sb_wr_deinit(&c->inbuf);
    free(c);
}

bool cql_conn_broken(const cql_conn_t *c)
{
    return c->broken;
}

bool cql_conn_peer_closed(const cql_conn_t *c)
{
    if (c->broken || c->fd < 0) return true;
    struct pollfd pfd = {.fd = c->fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int cql_conn_protocol_version(const cql_conn_t *c)
{
    return c->version;
}

const char *cql_conn_peer(const cql_conn_t *c)
{
    return c->peer;
}

int32_t cql_conn_server_error(const cql_conn_t *c)
{
    return c->last_server_error;
}

uint64_t cql_conn_dropped_events(const cql_conn_t *c)
{
    return c->dropped_events;
}

int cql_conn_query(cql_conn_t *c, const char *query, const cql_query_params_t *p, cql_result_t **out,
                   sb_err_t *err)
{
    *out = NULL;
    sb_wr_t w;
    frame_t f;
    int16_t s = take_stream(c);
    sb_wr_init(&w, 256);
    cql_encode_query(&w, c->version, s, query, p);
    int rc = roundtrip(c, &w, s, "QUERY", c->request_timeout_ms, &f, err);
    sb_wr_deinit(&w);
    return rc != 0 ? rc : expect_result(c, &f, "QUERY", out, err);
}

int cql_conn_prepare(cql_conn_t *c, const char *query, cql_result_t **out, sb_err_t *err)
{
    *out = NULL;
    sb_wr_t w;
    frame_t f;
    int16_t s = take_stream(c);
    sb_wr_init(&w, 256);
    cql_encode_prepare(&w, c->version, s, query);
    int rc = roundtrip(c, &w, s, "PREPARE", c->request_timeout_ms, &f, err);
    sb_wr_deinit(&w);
    if (rc == 0) rc = expect_result(c, &f, "PREPARE", out, err);
    if (rc == 0 && (*out)->kind != CQL_RESULT_PREPARED) {
        rc = sb_err_set(err, SB_EINVAL, "%s answered PREPARE with result kind %d", c->peer, (*out)->kind);
        cql_result_free(*out);
        *out = NULL;
    }
    return rc;
}

int cql_conn_execute(cql_conn_t *c, sb_slice_t id, sb_slice_t result_metadata_id, const cql_query_params_t *p,
                     cql_result_t **out, sb_err_t *err)
{
    *out = NULL;
    sb_wr_t w;
    frame_t f;
    int16_t s = take_stream(c);
    sb_wr_init(&w, 256);
    cql_encode_execute(&w, c->version, s, id, result_metadata_id, p);
    int rc = roundtrip(c, &w, s, "EXECUTE", c->request_timeout_ms, &f, err);
    sb_wr_deinit(&w);
    return rc != 0 ? rc : expect_result(c, &f, "EXECUTE", out, err);
}

int cql_conn_register(cql_conn_t *c, const char *const *events, int nevents, sb_err_t *err)
{
    sb_wr_t w;
    frame_t f;
    size_t off;
    int16_t s = take_stream(c);
    sb_wr_init(&w, 64);
    cql_encode_register(&w, c->version, s, events, nevents);
    int rc = simple_request(c, &w, s, "REGISTER", c->request_timeout_ms, &f, &off, err);
    if (rc != 0) return rc;
    if (f.h.opcode != CQL_OP_READY)
        rc = sb_err_set(err, SB_EINVAL, "%s answered %s to REGISTER", c->peer, cql_opcode_name(f.h.opcode));
    free(f.body);
    return rc;
}

void cql_pushed_event_free(cql_pushed_event_t *e)
{
    if (!e) return;
    free(e->body);
    free(e);
}

int cql_conn_wait_event(cql_conn_t *c, int timeout_ms, cql_pushed_event_t **out, sb_err_t *err)
{
    *out = NULL;
    int64_t deadline = sb_mono_ms() + timeout_ms;
    while (!c->events_head) {
        if (c->broken) return sb_err_set(err, SB_EIO, "connection to %s is closed", c->peer);
        /* Wait for the first byte without a deadline on the frame: no bytes yet means no event,
         * and the connection stays in step. Once a frame starts, it must complete in time. */
        bool buffered = (c->ssl && SSL_pending(c->ssl) > 0) || (c->framed && c->inbuf.len > c->inpos);
        if (!buffered) {
            int rc = wait_fd(c, POLLIN, deadline, err);
            if (rc == CQL_ETIMEOUT) return sb_err_set(err, rc, "no event from %s within %d ms", c->peer, timeout_ms);
            if (rc != 0) return rc;
        }
        frame_t f;
        int rc = read_frame(c, sb_mono_ms() + c->request_timeout_ms, &f, err);
        if (rc != 0) {
            conn_close(c);
            return rc;
        }
        if (f.h.opcode == CQL_OP_EVENT && f.h.stream == -1) queue_event(c, &f);
        else free(f.body);
    }
    cql_pushed_event_t *e = c->events_head;
    c->events_head = e->next;
    if (!c->events_head) c->events_tail = NULL;
    c->nevents--;
    e->next = NULL;
    *out = e;
    return 0;
}
