#ifndef STREAMBUS_NET_NET_INT_H
#define STREAMBUS_NET_NET_INT_H

/* Private structures shared by loop.c, listener.c and conn.c. Nothing outside src/net/
 * includes this. */

#include <stdbool.h>
#include <stdint.h>

#include "net/loop.h"
#include "net/tls.h"

/* Every epoll registration points at one of these, first member of its owner, so that an
 * event finds its owner's kind without a lookup. */
typedef enum net_io_kind { NET_IO_CONN, NET_IO_LISTENER, NET_IO_WATCH } net_io_kind_t;
typedef struct net_io {
    net_io_kind_t kind;
} net_io_t;

struct net_listener {
    net_io_t io;
    net_loop_t *loop;
    int fd;
    int32_t port;
    char *name;
    char host[256];
    net_security_protocol_t protocol;
    net_tls_t *tls; /* SSL and SASL_SSL listeners */
    net_listener_t *next;
};

typedef struct net_watch {
    net_io_t io;
    int fd;
    net_watch_fn fn;
    void *arg;
    struct net_watch *next;
} net_watch_t;

struct net_conn {
    net_io_t io;
    net_loop_t *loop;
    int fd;
    uint64_t id;
    net_listener_t *listener; /* NULL for adopted sockets */
    net_security_t sec;
    char *principal_owned; /* sec.principal when it is not the anonymous constant */
    uint8_t *rbuf;
    size_t rlen;
    size_t rcap;
    net_slot_t *head; /* oldest unanswered request */
    net_slot_t *tail;
    int nslots;
    bool epollout;    /* EPOLLOUT currently requested */
    bool read_paused; /* too many responses queued: stop reading until they drain */
    bool dead;        /* closed; freed at the end of the loop round */
    bool resume_pending;
    int64_t last_active_ms;
    net_conn_t *prev, *next;
    /* TLS (SSL and SASL_SSL listeners only). Responses are staged in wbuf because SSL_write
     * takes one buffer, and a retry after WANT_WRITE must offer the same bytes again. */
    SSL *ssl;
    bool tls_ready;        /* handshake finished */
    bool tls_read_blocked; /* SSL_read needs the socket writable (a TLS 1.3 key update) */
    bool ktls_send;        /* the kernel encrypts: file ranges can go out with SSL_sendfile */
    uint8_t *wbuf;
    size_t wlen, woff;
};

struct net_loop {
    net_loop_options_t opt;
    net_frame_handler_t handler;
    int epfd;
    net_watch_t wake; /* eventfd that interrupts epoll_wait */
    net_listener_t *listeners;
    net_watch_t *watches;
    net_conn_t *conns;
    net_conn_t *graveyard; /* closed connections awaiting free */
    int nconns;
    int nresume; /* connections whose reading resumes after back-pressure */
    uint64_t next_conn_id;
    int64_t last_idle_check_ms;
};

/* conn.c */
void net_conn_on_readable(net_conn_t *c);
/* True when a TLS connection waits for the socket to become writable before it can read on
 * (handshake, key update): the loop then treats EPOLLOUT as readability. */
bool net_conn_wants_readable_on_writable(const net_conn_t *c);
void net_conn_free(net_conn_t *c);
/* listener.c */
void net_listener_on_accept(net_listener_t *l);
void net_listener_free(net_listener_t *l);

#endif
