/* The network loop: one epoll instance owns the listener, every client connection, the
 * flusher's eventfd and a wake-up eventfd. Requests are read many per read(2), dispatched in
 * arrival order, and answered in the same order from each connection's response queue; file
 * bytes in Fetch responses go out with sendfile(2). */
#include "broker/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/handlers/sasl_int.h"
#include "broker/group/coordinator.h"
#include "broker/metrics_broker.h"
#include "common/clock.h"
#include "common/log.h"

#define READ_CHUNK (256 * 1024)
#define MAX_QUEUED_SLOTS 512 /* per connection: past this we stop reading (back-pressure) */
#define TAG_LISTEN ((uint64_t)1)
#define TAG_FLUSHER ((uint64_t)2)
#define TAG_WAKE ((uint64_t)3)

static void conn_on_readable(broker_t *b, conn_t *c);

/* ---- slots ---- */

sb_wr_t *kslot_writer(kslot_t *slot)
{
    return &slot->out;
}

bool kslot_orphaned(const kslot_t *slot)
{
    return slot->conn == NULL;
}

int16_t kslot_api_version(const kslot_t *slot)
{
    return slot->api_version;
}

static void slot_free(kslot_t *s)
{
    sb_wr_deinit(&s->out);
    free(s);
}

/* Finalises the frame: the 4-byte size prefix covers header, body and spliced file bytes. */
static void slot_finish(kslot_t *s)
{
    sb_wr_patch_i32(&s->out, 0, (int32_t)(sb_wr_total(&s->out) - 4));
    s->done = true;
}

void kslot_complete(broker_t *b, kslot_t *slot)
{
    if (!slot->conn) {
        slot_free(slot);
        return;
    }
    slot_finish(slot);
    broker_metrics_request_done(b->m, slot->api_key, sb_mono_us() - slot->start_us, sb_wr_total(&slot->out));
    conn_flush(b, slot->conn);
}

/* ---- connections ---- */

static void epoll_mod(broker_t *b, conn_t *c)
{
    struct epoll_event ev = {.events = (c->read_paused ? 0 : EPOLLIN) | (c->epollout ? EPOLLOUT : 0) | EPOLLRDHUP,
                             .data.ptr = c};
    epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void conn_close(broker_t *b, conn_t *c, const char *reason)
{
    if (c->dead) return;
    if (reason) sb_info("net", "closing connection %s: %s", c->peer, reason);
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    for (kslot_t *s = c->head, *n; s; s = n) {
        n = s->next;
        if (s->done) slot_free(s);
        else s->conn = NULL; /* deferred: its completer frees it */
    }
    if (c->prev) c->prev->next = c->next;
    else b->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    b->nconns--;
    broker_metrics_connections(b->m, b->nconns);
    /* Freed at the end of the loop iteration: callers up the stack (and later epoll events of
     * this round) may still hold the pointer and check c->dead. */
    c->dead = true;
    c->resume_pending = false;
    c->head = c->tail = NULL;
    c->next = b->graveyard;
    b->graveyard = c;
}


/* Writes as much of the queue's completed head as the socket takes. Memory parts of several
 * responses are gathered into one writev; spliced file ranges go out with sendfile. */
void conn_flush(broker_t *b, conn_t *c)
{
    for (;;) {
        struct iovec iov[64];
        int n = 0;
        size_t planned = 0;
        kslot_t *s = c->head;
        size_t sent = s ? s->sent : 0;
        int splice_fd = -1;
        off_t splice_off = 0;
        size_t splice_len = 0;
        /* Walk done slots from the head, collecting memory pieces until a file piece. */
        while (s && s->done && n < 64 && splice_fd < 0) {
            size_t mem_pos = 0, stream_pos = 0;
            for (size_t i = 0; i <= s->out.nsplices && n < 64; i++) {
                size_t mem_end = i < s->out.nsplices ? s->out.splices[i].at : s->out.len;
                size_t piece = mem_end - mem_pos;
                if (sent < stream_pos + piece) {
                    size_t skip = sent > stream_pos ? sent - stream_pos : 0;
                    iov[n].iov_base = s->out.buf + mem_pos + skip;
                    iov[n].iov_len = piece - skip;
                    planned += piece - skip;
                    n++;
                }
                stream_pos += piece;
                mem_pos = mem_end;
                if (i < s->out.nsplices) {
                    sb_splice_t *sp = &s->out.splices[i];
                    if (sent < stream_pos + sp->len) {
                        size_t skip = sent > stream_pos ? sent - stream_pos : 0;
                        splice_fd = sp->fd;
                        splice_off = sp->off + (off_t)skip;
                        splice_len = sp->len - skip;
                        break;
                    }
                    stream_pos += sp->len;
                }
            }
            if (splice_fd >= 0) break;
            s = s->next;
            sent = 0;
        }
        if (n == 0 && splice_fd < 0) break; /* nothing ready */

        size_t wrote = 0;
        bool again = false;
        if (n > 0) {
            ssize_t w = writev(c->fd, iov, n);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) again = true;
                else {
                    conn_close(b, c, strerror(errno));
                    return;
                }
            } else {
                wrote = (size_t)w;
                if (wrote < planned) again = true;
            }
        }
        if (!again && splice_fd >= 0 && wrote == planned) {
            ssize_t w = sendfile(c->fd, splice_fd, &splice_off, splice_len);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) again = true;
                else {
                    conn_close(b, c, strerror(errno));
                    return;
                }
            } else if (w == 0) {
                /* The file shrank under us (retention or truncation): the frame can't be
                 * completed, so the connection must go. */
                conn_close(b, c, "fetch source file truncated during send");
                return;
            } else {
                wrote += (size_t)w;
                if ((size_t)w < splice_len) again = true;
            }
        }
        /* Account `wrote` bytes against the slots in order, freeing finished ones. */
        while (wrote > 0 && c->head) {
            kslot_t *h = c->head;
            size_t left = sb_wr_total(&h->out) - h->sent;
            if (wrote >= left) {
                wrote -= left;
                c->head = h->next;
                if (!c->head) c->tail = NULL;
                c->nslots--;
                slot_free(h);
            } else {
                h->sent += wrote;
                wrote = 0;
            }
        }
        if (again) break;
    }
    bool want_out = c->head && c->head->done;
    bool resume = c->read_paused && c->nslots < MAX_QUEUED_SLOTS / 2;
    if (resume) c->read_paused = false;
    if (want_out != c->epollout || resume) {
        c->epollout = want_out;
        epoll_mod(b, c);
    }
    /* Frames may already sit in the buffer; the loop processes them after this round rather
     * than recursing from here. */
    if (resume) {
        c->resume_pending = true;
        b->nresume++;
    }
}

static void free_graveyard(broker_t *b)
{
    for (conn_t *c = b->graveyard, *n; c; c = n) {
        n = c->next;
        free(c->rbuf);
        free(c);
    }
    b->graveyard = NULL;
}

conn_t *conn_adopt(broker_t *b, int fd, const char *host, const char *peer)
{
    conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->fd = fd;
    c->id = ++b->next_conn_id;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    snprintf(c->peer_host, sizeof(c->peer_host), "/%s", host);
    c->last_active_ms = sb_mono_ms();
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(c);
        return NULL;
    }
    c->next = b->conns;
    if (b->conns) b->conns->prev = c;
    b->conns = c;
    b->nconns++;
    broker_metrics_connections(b->m, b->nconns);
    return c;
}

void broker_reap(broker_t *b)
{
    fetch_waiters_poll(b, INT64_MAX, false);
    free_graveyard(b);
}

static void on_accept(broker_t *b)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(b->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sb_warn("net", "accept failed: %s", strerror(errno));
            return;
        }
        char host[INET6_ADDRSTRLEN] = "?", serv[16] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
        if (b->nconns >= b->opt.max_connections) {
            sb_warn("net", "refusing connection from %s:%s: max_connections (%d) reached", host, serv,
                    b->opt.max_connections);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char peer[96];
        snprintf(peer, sizeof(peer), "%s:%s", host, serv);
        conn_t *c = conn_adopt(b, fd, host, peer);
        if (!c) {
            close(fd);
            continue;
        }
        sb_debug("net", "accepted connection %s", c->peer);
    }
}

const char *conn_peer_host(const conn_t *c)
{
    return c ? c->peer_host : "";
}

/* Parses every complete frame in the read buffer. Returns false when the connection closed. */
static bool conn_process_frames(broker_t *b, conn_t *c)
{
    size_t pos = 0;
    bool alive = true;
    while (c->rlen - pos >= 4 && !c->read_paused) {
        uint8_t *p = c->rbuf + pos;
        int32_t size = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (size < 8 || (int64_t)size > b->opt.max_request_bytes) {
            char why[128];
            snprintf(why, sizeof(why), "request size %d outside [8, max_request_bytes=%lld]", size,
                     (long long)b->opt.max_request_bytes);
            sb_warn("net", "%s from %s", why, c->peer);
            conn_close(b, c, why);
            return false;
        }
        if (c->rlen - pos < (size_t)size + 4) break;
        int rc = broker_dispatch(b, c, p + 4, (size_t)size);
        if (rc < 0 || c->dead) return false;
        pos += (size_t)size + 4;
        if (c->nslots >= MAX_QUEUED_SLOTS) {
            c->read_paused = true;
            epoll_mod(b, c);
        }
    }
    if (pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    return alive;
}

static void conn_on_readable(broker_t *b, conn_t *c)
{
    for (;;) {
        if (!conn_process_frames(b, c)) return;
        if (c->read_paused) return;
        /* Make room: at least READ_CHUNK, or the whole next frame if its size is known. */
        size_t want = c->rlen + READ_CHUNK;
        if (c->rlen >= 4) {
            uint8_t *p = c->rbuf;
            size_t fsz = ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]) + 4;
            if (fsz > want) want = fsz;
        }
        if (want > c->rcap) {
            uint8_t *nb = realloc(c->rbuf, want);
            if (!nb) {
                conn_close(b, c, "out of memory for request buffer");
                return;
            }
            c->rbuf = nb;
            c->rcap = want;
        }
        ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r > 0) {
            c->rlen += (size_t)r;
            c->last_active_ms = sb_mono_ms();
            continue;
        }
        if (r == 0) {
            conn_close(b, c, c->rlen ? "peer closed mid-request" : NULL);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Shrink a buffer that grew for one large request. */
            if (c->rcap > 4 * READ_CHUNK && c->rlen < READ_CHUNK) {
                uint8_t *nb = realloc(c->rbuf, READ_CHUNK);
                if (nb) {
                    c->rbuf = nb;
                    c->rcap = READ_CHUNK;
                }
            }
            return;
        }
        if (errno == EINTR) continue;
        conn_close(b, c, strerror(errno));
        return;
    }
}

/* ---- listener ---- */

static int bind_listener(broker_t *b, sb_err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof(port), "%d", b->opt.listen_port);
    const char *host = b->opt.listen_host[0] ? b->opt.listen_host : NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai) return sb_err_set(err, SB_EINVAL, "cannot resolve listen address %s:%s: %s", host ? host : "*", port,
                               gai_strerror(gai));
    int fd = -1;
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return sb_err_set(err, SB_EIO, "cannot listen on %s:%s: %s", host ? host : "*", port, strerror(last_errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    b->listen_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                    : ((struct sockaddr_in *)&ss)->sin_port);
    b->listen_fd = fd;
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
    b->epfd = b->listen_fd = b->wake_fd = -1;
    b->flusher.eventfd = -1;
    b->metrics = metrics;
    int rc;
    if (mkdir_p(opt->data_dir) < 0) {
        rc = sb_err_set(err, SB_EIO, "cannot create data_dir %s: %s", opt->data_dir, strerror(errno));
        goto fail;
    }
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

    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    b->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->epfd < 0 || b->wake_fd < 0) {
        rc = sb_err_set(err, SB_EIO, "epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    if ((rc = bind_listener(b, err)) < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->listen_fd, &ev);
    ev.data.u64 = TAG_FLUSHER;
    epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->flusher.eventfd, &ev);
    ev.data.u64 = TAG_WAKE;
    epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wake_fd, &ev);
    if (!b->opt.advertised_host[0]) {
        const char *h = b->opt.listen_host;
        if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
            if (gethostname(b->opt.advertised_host, sizeof(b->opt.advertised_host)) < 0)
                snprintf(b->opt.advertised_host, sizeof(b->opt.advertised_host), "127.0.0.1");
        } else {
            snprintf(b->opt.advertised_host, sizeof(b->opt.advertised_host), "%s", h);
        }
    }
    if (!b->opt.advertised_port) b->opt.advertised_port = b->listen_port;
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
    return b->listen_port;
}

bool broker_ready(const broker_t *b)
{
    return atomic_load(&b->ready);
}

void broker_stop(broker_t *b)
{
    atomic_store(&b->stopping, true);
    uint64_t one = 1;
    ssize_t w = write(b->wake_fd, &one, sizeof(one));
    (void)w;
}

static void close_idle_connections(broker_t *b, int64_t now_ms)
{
    if (b->opt.idle_connection_timeout_ms <= 0) return;
    for (conn_t *c = b->conns, *n; c; c = n) {
        n = c->next;
        if (!c->head && now_ms - c->last_active_ms > b->opt.idle_connection_timeout_ms)
            conn_close(b, c, "idle timeout");
    }
}

int broker_run(broker_t *b)
{
    struct epoll_event evs[256];
    atomic_store(&b->ready, true);
    sb_info("broker", "listening for Kafka clients on %s:%d (advertised as %s:%d)",
            b->opt.listen_host[0] ? b->opt.listen_host : "*", b->listen_port, b->opt.advertised_host,
            b->opt.advertised_port);
    int64_t last_tick = sb_mono_ms();
    int64_t last_snapshot = 0;
    b->last_retention_ms = last_tick;
    while (!atomic_load(&b->stopping)) {
        int timeout = 100;
        int64_t now = sb_mono_ms();
        int64_t dl = fetch_waiters_next_deadline(b);
        if (dl >= 0 && dl - now < timeout) timeout = dl > now ? (int)(dl - now) : 0;
        int n = epoll_wait(b->epfd, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            sb_error("net", "epoll_wait: %s", strerror(errno));
            break;
        }
        uint64_t gen_before = b->append_gen;
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_LISTEN) {
                on_accept(b);
            } else if (tag == TAG_FLUSHER) {
                uint64_t v;
                ssize_t r = read(b->flusher.eventfd, &v, sizeof(v));
                (void)r;
                flusher_on_event(b);
            } else if (tag == TAG_WAKE) {
                uint64_t v;
                ssize_t r = read(b->wake_fd, &v, sizeof(v));
                (void)r;
            } else {
                conn_t *c = evs[i].data.ptr;
                uint32_t e = evs[i].events;
                if (c->dead) continue; /* closed earlier in this round */
                if (e & EPOLLOUT) conn_flush(b, c);
                if (!c->dead && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) conn_on_readable(b, c);
            }
        }
        now = sb_mono_ms();
        fetch_waiters_poll(b, now, b->append_gen != gen_before);
        if (now - last_tick >= 100) {
            last_tick = now;
            group_coordinator_tick(b->groups, sb_mono_ms());
            close_idle_connections(b, now);
        }
        if (now - last_snapshot >= 1000) {
            last_snapshot = now;
            broker_metrics_snapshot(b);
        }
        if (b->nresume) {
            b->nresume = 0;
            /* A closed connection moves to the graveyard list; walking on through it is
             * harmless because dead connections are skipped. */
            for (conn_t *c = b->conns, *next; c; c = next) {
                next = c->next;
                if (!c->dead && c->resume_pending) {
                    c->resume_pending = false;
                    conn_on_readable(b, c);
                }
            }
        }
        free_graveyard(b);
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
    while (b->conns) conn_close(b, b->conns, NULL);
    free_graveyard(b);
    fetch_waiters_free_all(b);
    group_coordinator_free(b->groups);
    b->groups = NULL;
    flusher_stop(b);
    topics_free_all(b);
    broker_configs_free(b);
    broker_sasl_free(b);
    if (b->listen_fd >= 0) close(b->listen_fd);
    if (b->epfd >= 0) close(b->epfd);
    if (b->wake_fd >= 0) close(b->wake_fd);
    broker_metrics_free(b->m);
    free(b->topic_buckets);
    free(b);
}

/* ---- accessors from broker.h ---- */

int32_t broker_node_id(const broker_t *b)
{
    return b->opt.node_id;
}
const char *broker_advertised_host(const broker_t *b)
{
    return b->opt.advertised_host;
}
int32_t broker_advertised_port(const broker_t *b)
{
    return b->opt.advertised_port;
}
group_coordinator_t *broker_groups(broker_t *b)
{
    return b->groups;
}
const char *broker_data_dir(const broker_t *b)
{
    return b->opt.data_dir;
}
