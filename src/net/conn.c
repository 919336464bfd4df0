/* Connections: frame reading, the in-order response queue and the send path. Memory parts of
 * several completed responses are gathered into one writev(2); spliced file ranges (Fetch
 * data) go out with sendfile(2). */
#include "net/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/clock.h"
#include "common/log.h"
#include "net/net_int.h"

#define READ_CHUNK (256 * 1024)
#define MAX_QUEUED_SLOTS 512 /* per connection: past this we stop reading (back-pressure) */
/* TLS responses are staged up to this much plaintext per SSL_write (four full records). */
#define TLS_STAGE_BYTES (64 * 1024)

/* ---- slots ---- */

static void slot_free(net_slot_t *s)
{
    sb_wr_deinit(&s->out);
    free(s);
}

net_slot_t *net_slot_new(net_conn_t *c, size_t size)
{
    if (size < sizeof(net_slot_t)) size = sizeof(net_slot_t);
    net_slot_t *s = calloc(1, size);
    if (!s) return NULL;
    s->conn = c;
    sb_wr_init(&s->out, 256);
    sb_wr_i32(&s->out, 0); /* size, patched when done */
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->nslots++;
    return s;
}

void net_slot_complete(net_slot_t *s)
{
    if (!s->conn) {
        slot_free(s);
        return;
    }
    /* The size prefix covers the frame and the spliced file bytes. */
    sb_wr_patch_i32(&s->out, 0, (int32_t)(sb_wr_total(&s->out) - 4));
    s->done = true;
    net_conn_flush(s->conn);
}

void net_slot_drop(net_slot_t *s)
{
    net_conn_t *c = s->conn;
    if (!c) {
        slot_free(s);
        return;
    }
    net_slot_t *prev = NULL;
    for (net_slot_t *x = c->head; x && x != s; x = x->next)
        prev = x;
    if (prev)
        prev->next = s->next;
    else
        c->head = s->next;
    if (c->tail == s) c->tail = prev;
    c->nslots--;
    slot_free(s);
    /* Earlier slots may have been waiting only on nothing; keep the queue moving. */
    net_conn_flush(c);
}

void net_slot_abandon(net_slot_t *s)
{
    s->done = true;
}

/* ---- connections ---- */

net_security_t *net_conn_security(net_conn_t *c)
{
    return &c->sec;
}

const net_security_t *net_conn_security_const(const net_conn_t *c)
{
    return &c->sec;
}

int net_conn_set_principal(net_conn_t *c, const char *principal)
{
    char *copy = NULL;
    if (principal && !(copy = strdup(principal))) return SB_ENOMEM;
    free(c->principal_owned);
    c->principal_owned = copy;
    c->sec.principal = copy ? copy : NET_PRINCIPAL_ANONYMOUS;
    return 0;
}

uint64_t net_conn_id(const net_conn_t *c)
{
    return c->id;
}

net_listener_t *net_conn_listener(const net_conn_t *c)
{
    return c->listener;
}

bool net_conn_closed(const net_conn_t *c)
{
    return c->dead;
}

static void epoll_mod(net_conn_t *c)
{
    struct epoll_event ev = {.events = (c->read_paused ? 0 : EPOLLIN) |
                                       (c->epollout ? EPOLLOUT : 0) | EPOLLRDHUP,
                             .data.ptr = &c->io};
    epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

int net_conn_adopt(net_loop_t *loop, int fd, net_listener_t *l, const char *host, const char *peer,
                   net_conn_t **out)
{
    net_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return SB_ENOMEM;
    c->io.kind = NET_IO_CONN;
    c->loop = loop;
    c->fd = fd;
    c->id = ++loop->next_conn_id;
    c->listener = l;
    c->sec.principal = NET_PRINCIPAL_ANONYMOUS;
    c->sec.protocol = l ? l->protocol : NET_PROTO_PLAINTEXT;
    c->sec.listener = l ? l->name : "";
    snprintf(c->sec.peer, sizeof(c->sec.peer), "%s", peer);
    snprintf(c->sec.peer_host, sizeof(c->sec.peer_host), "/%s", host);
    c->last_active_ms = sb_mono_ms();
    if (l && l->tls && !(c->ssl = net_tls_session_new(l->tls, fd))) {
        free(c);
        return SB_ENOMEM;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        SSL_free(c->ssl);
        free(c);
        return -e;
    }
    c->next = loop->conns;
    if (loop->conns) loop->conns->prev = c;
    loop->conns = c;
    loop->nconns++;
    if (loop->handler.on_connections) loop->handler.on_connections(loop->handler.arg, loop->nconns);
    *out = c;
    return 0;
}

void net_conn_close(net_conn_t *c, const char *reason)
{
    if (c->dead) return;
    net_loop_t *loop = c->loop;
    if (reason) sb_info("net", "closing connection %s: %s", c->sec.peer, reason);
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        /* One close_notify, without waiting for the peer's: the socket is going anyway. */
        if (c->tls_ready) SSL_shutdown(c->ssl);
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    for (net_slot_t *s = c->head, *n; s; s = n) {
        n = s->next;
        if (s->done)
            slot_free(s);
        else
            s->conn = NULL; /* deferred: its completer frees it */
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        loop->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    loop->nconns--;
    if (loop->handler.on_connections) loop->handler.on_connections(loop->handler.arg, loop->nconns);
    /* Freed at the end of the loop round: callers up the stack (and later epoll events of this
     * round) may still hold the pointer and check net_conn_closed(). */
    c->dead = true;
    c->resume_pending = false;
    c->head = c->tail = NULL;
    c->prev = NULL;
    c->next = loop->graveyard;
    loop->graveyard = c;
}

void net_conn_free(net_conn_t *c)
{
    if (c->sec.sasl && c->sec.sasl_free) c->sec.sasl_free(c->sec.sasl);
    free(c->principal_owned);
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

static void epoll_update(net_conn_t *c, bool want_out)
{
    bool resume = c->read_paused && c->nslots < MAX_QUEUED_SLOTS / 2;
    if (resume) c->read_paused = false;
    if (want_out != c->epollout || resume) {
        c->epollout = want_out;
        epoll_mod(c);
    }
    /* Frames may already sit in the buffer; the loop processes them after this round rather
     * than recursing from here. */
    if (resume) {
        c->resume_pending = true;
        c->loop->nresume++;
    }
}

/* Accounts `wrote` stream bytes against the slots in order, freeing finished ones. */
static void consume_sent(net_conn_t *c, size_t wrote)
{
    while (wrote > 0 && c->head) {
        net_slot_t *h = c->head;
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
}

/* The plaintext send path: memory parts of several responses are gathered into one writev;
 * spliced file ranges go out with sendfile. Returns false when the connection closed. */
static bool flush_plain(net_conn_t *c)
{
    for (;;) {
        struct iovec iov[64];
        int n = 0;
        size_t planned = 0;
        net_slot_t *s = c->head;
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
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    again = true;
                else {
                    net_conn_close(c, strerror(errno));
                    return false;
                }
            } else {
                wrote = (size_t)w;
                if (wrote < planned) again = true;
            }
        }
        if (!again && splice_fd >= 0 && wrote == planned) {
            ssize_t w = sendfile(c->fd, splice_fd, &splice_off, splice_len);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    again = true;
                else {
                    net_conn_close(c, strerror(errno));
                    return false;
                }
            } else if (w == 0) {
                /* The file shrank under us (retention or truncation): the frame can't be
                 * completed, so the connection must go. */
                net_conn_close(c, "fetch source file truncated during send");
                return false;
            } else {
                wrote += (size_t)w;
                if ((size_t)w < splice_len) again = true;
            }
        }
        consume_sent(c, wrote);
        if (again) break;
    }
    return true;
}

/* ---- TLS ---- */

/* The piece of slot s holding stream position pos: memory (*mem set) or a file range (*fd >= 0).
 * *len is what is left of the piece from pos. */
static void slot_piece_at(const net_slot_t *s, size_t pos, const uint8_t **mem, int *fd, off_t *off,
                          size_t *len)
{
    size_t mem_pos = 0, stream_pos = 0;
    for (size_t i = 0; i <= s->out.nsplices; i++) {
        size_t mem_end = i < s->out.nsplices ? s->out.splices[i].at : s->out.len;
        size_t piece = mem_end - mem_pos;
        if (pos < stream_pos + piece) {
            *mem = s->out.buf + mem_pos + (pos - stream_pos);
            *fd = -1;
            *len = piece - (pos - stream_pos);
            return;
        }
        stream_pos += piece;
        mem_pos = mem_end;
        if (i < s->out.nsplices) {
            const sb_splice_t *sp = &s->out.splices[i];
            if (pos < stream_pos + sp->len) {
                *mem = NULL;
                *fd = sp->fd;
                *off = sp->off + (off_t)(pos - stream_pos);
                *len = sp->len - (pos - stream_pos);
                return;
            }
            stream_pos += sp->len;
        }
    }
    *mem = NULL;
    *fd = -1;
    *len = 0;
}

static void tls_close(net_conn_t *c, const char *what, int ssl_error)
{
    char why[320], detail[256];
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(detail, sizeof(detail), "%s",
                 errno ? strerror(errno) : "peer closed the connection");
    else
        net_tls_error_string(detail, sizeof(detail));
    snprintf(why, sizeof(why), "TLS %s failed: %s", what, detail);
    net_conn_close(c, why);
}

/* Copies completed response bytes into the empty stage, reading spliced file ranges with
 * pread. With kernel TLS a file range at the head of the stream is left for SSL_sendfile
 * instead (*sendfile_ready). Returns false when the connection closed. */
static bool tls_stage_fill(net_conn_t *c, bool *sendfile_ready)
{
    *sendfile_ready = false;
    if (!c->wbuf && !(c->wbuf = malloc(TLS_STAGE_BYTES))) {
        net_conn_close(c, "out of memory for the TLS send buffer");
        return false;
    }
    c->wlen = c->woff = 0;
    while (c->head && c->head->done && c->wlen < TLS_STAGE_BYTES) {
        net_slot_t *h = c->head;
        size_t total = sb_wr_total(&h->out);
        while (h->sent < total && c->wlen < TLS_STAGE_BYTES) {
            const uint8_t *mem;
            int fd;
            off_t off = 0;
            size_t len;
            slot_piece_at(h, h->sent, &mem, &fd, &off, &len);
            size_t room = TLS_STAGE_BYTES - c->wlen;
            if (len > room) len = room;
            if (mem) {
                memcpy(c->wbuf + c->wlen, mem, len);
            } else {
                if (c->ktls_send) {
                    *sendfile_ready = c->wlen == 0;
                    return true;
                }
                ssize_t r = pread(fd, c->wbuf + c->wlen, len, off);
                if (r < 0 && errno == EINTR) continue;
                if (r < 0) {
                    net_conn_close(c, strerror(errno));
                    return false;
                }
                if (r == 0) {
                    net_conn_close(c, "fetch source file truncated during send");
                    return false;
                }
                len = (size_t)r;
            }
            c->wlen += len;
            h->sent += len;
        }
        if (h->sent < total) break;
        c->head = h->next;
        if (!c->head) c->tail = NULL;
        c->nslots--;
        slot_free(h);
    }
    return true;
}

/* The TLS send path: responses are staged and written with SSL_write; with kernel TLS, file
 * ranges go out with SSL_sendfile. Returns false when the connection closed. */
static bool flush_tls(net_conn_t *c)
{
    if (!c->tls_ready) return true; /* the handshake writes for itself */
    for (;;) {
        bool sendfile_ready = false;
        if (c->woff == c->wlen && !tls_stage_fill(c, &sendfile_ready)) return false;
        if (c->woff < c->wlen) {
            size_t n;
            ERR_clear_error();
            int r = SSL_write_ex(c->ssl, c->wbuf + c->woff, c->wlen - c->woff, &n);
            if (r == 1) {
                c->woff += n;
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
            tls_close(c, "write", e);
            return false;
        }
        if (!sendfile_ready) break;
        const uint8_t *mem;
        int fd;
        off_t off = 0;
        size_t len;
        slot_piece_at(c->head, c->head->sent, &mem, &fd, &off, &len);
        ERR_clear_error();
        ossl_ssize_t w = SSL_sendfile(c->ssl, fd, off, len, 0);
        if (w > 0) {
            consume_sent(c, (size_t)w);
            continue;
        }
        int e = SSL_get_error(c->ssl, (int)w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ || errno == EAGAIN) break;
        if (w == 0) {
            net_conn_close(c, "fetch source file truncated during send");
            return false;
        }
        tls_close(c, "sendfile", e);
        return false;
    }
    return true;
}

void net_conn_flush(net_conn_t *c)
{
    if (c->dead) return;
    if (!(c->ssl ? flush_tls(c) : flush_plain(c))) return;
    bool want_out = (c->head && c->head->done) || c->woff < c->wlen || c->tls_read_blocked;
    epoll_update(c, want_out);
}

/* Runs the server side of the TLS handshake as far as the socket allows. Returns true once it
 * is done; false while it waits for the socket (or after closing the connection). */
static bool tls_handshake(net_conn_t *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_ready = true;
        char principal[512];
        if (net_tls_peer_principal(c->ssl, principal, sizeof(principal)) == 0 &&
            net_conn_set_principal(c, principal) < 0) {
            net_conn_close(c, "out of memory");
            return false;
        }
#ifdef BIO_get_ktls_send
        c->ktls_send = BIO_get_ktls_send(SSL_get_wbio(c->ssl)) > 0;
#endif
        sb_debug("net", "TLS with %s: %s %s, principal %s, kernel TLS send %s", c->sec.peer,
                 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), c->sec.principal,
                 c->ktls_send ? "on" : "off");
        epoll_update(c, false);
        return true;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        epoll_update(c, e == SSL_ERROR_WANT_WRITE);
        return false;
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) {
        net_conn_close(c, "peer closed during the TLS handshake");
        return false;
    }
    char why[256];
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(why, sizeof(why), "%s", strerror(errno));
    else
        net_tls_error_string(why, sizeof(why));
    sb_warn("net", "TLS handshake with %s on listener %s failed: %s", c->sec.peer, c->sec.listener,
            why);
    net_conn_close(c, NULL);
    return false;
}

/* Reads into buf: > 0 bytes, 0 at the end of the stream, -1 with errno set (EAGAIN: nothing
 * now). A TLS failure closes the connection and returns -1 with errno EPROTO. */
static ssize_t conn_read(net_conn_t *c, void *buf, size_t n)
{
    if (!c->ssl) return read(c->fd, buf, n);
    size_t got;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(c->ssl, buf, n, &got);
    if (c->tls_read_blocked) {
        c->tls_read_blocked = false;
        net_conn_flush(c);
        if (c->dead) {
            errno = EPROTO;
            return -1;
        }
    }
    if (r == 1) return (ssize_t)got;
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->tls_read_blocked = true;
        epoll_update(c, true);
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        /* Kafka clients close without a close_notify; treat that as the end of the stream. */
        if (ERR_peek_error() == 0 && errno == 0) return 0;
        /* fall through */
    default:
        tls_close(c, "read", e);
        errno = EPROTO;
        return -1;
    }
}

static uint32_t frame_size_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hands every complete frame in the read buffer to the handler. Returns false when the
 * connection closed. */
static bool conn_process_frames(net_conn_t *c)
{
    net_loop_t *loop = c->loop;
    size_t pos = 0;
    while (c->rlen - pos >= 4 && !c->read_paused) {
        uint8_t *p = c->rbuf + pos;
        int32_t size = (int32_t)frame_size_at(p);
        if (size < loop->opt.min_frame_bytes || (int64_t)size > loop->opt.max_frame_bytes) {
            char why[128];
            snprintf(why, sizeof(why), "request size %d outside [%lld, max_request_bytes=%lld]",
                     size, (long long)loop->opt.min_frame_bytes,
                     (long long)loop->opt.max_frame_bytes);
            sb_warn("net", "%s from %s", why, c->sec.peer);
            net_conn_close(c, why);
            return false;
        }
        if (c->rlen - pos < (size_t)size + 4) break;
        int rc = loop->handler.on_frame(loop->handler.arg, c, p + 4, (size_t)size);
        if (rc < 0 || c->dead) return false;
        pos += (size_t)size + 4;
        if (c->nslots >= MAX_QUEUED_SLOTS) {
            c->read_paused = true;
            epoll_mod(c);
        }
    }
    if (pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    return true;
}

void net_conn_on_readable(net_conn_t *c)
{
    if (c->ssl && !c->tls_ready && !tls_handshake(c)) return;
    for (;;) {
        if (!conn_process_frames(c)) return;
        if (c->read_paused) return;
        /* Make room: at least READ_CHUNK, or the whole next frame if its size is known. */
        size_t want = c->rlen + READ_CHUNK;
        if (c->rlen >= 4) {
            size_t fsz = (size_t)frame_size_at(c->rbuf) + 4;
            if (fsz > want) want = fsz;
        }
        if (want > c->rcap) {
            uint8_t *nb = realloc(c->rbuf, want);
            if (!nb) {
                net_conn_close(c, "out of memory for request buffer");
                return;
            }
            c->rbuf = nb;
            c->rcap = want;
        }
        ssize_t r = conn_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r > 0) {
            c->rlen += (size_t)r;
            c->last_active_ms = sb_mono_ms();
            continue;
        }
        if (r == 0) {
            net_conn_close(c, c->rlen ? "peer closed mid-request" : NULL);
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
        if (!c->dead) net_conn_close(c, strerror(errno));
        return;
    }
}

bool net_conn_wants_readable_on_writable(const net_conn_t *c)
{
    return c->ssl && (!c->tls_ready || c->tls_read_blocked);
}
