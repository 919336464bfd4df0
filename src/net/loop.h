#ifndef STREAMBUS_NET_LOOP_H
#define STREAMBUS_NET_LOOP_H

/* The network loop: one epoll instance that owns listeners, connections, extra file
 * descriptors a caller watches (an eventfd from another thread) and a wake-up eventfd.
 * Frames are read many per read(2) and handed, in arrival order, to the frame handler, which
 * opens a response slot per request (net/conn.h); answers leave in the same order.
 *
 * The loop knows nothing of the protocol inside the frames. It runs on the thread that calls
 * net_loop_poll(); only net_loop_wake() may be called from elsewhere (and from signal
 * handlers). */

#include <stdint.h>

#include "common/err.h"
#include "net/conn.h"
#include "net/listener.h"

typedef struct net_loop_options {
    int32_t max_connections; /* accepts beyond this are closed at once */
    int64_t idle_timeout_ms; /* a connection with nothing queued and no bytes for this long is
                                closed; <= 0: never */
    int64_t min_frame_bytes; /* a frame size outside [min, max] closes the connection */
    int64_t max_frame_bytes;
} net_loop_options_t;

typedef struct net_frame_handler {
    void *arg;
    /* One complete frame, without its size prefix; the bytes are writable and valid during the
     * call only. Returns < 0 after closing the connection (net_conn_close), else 0. */
    int (*on_frame)(void *arg, net_conn_t *c, uint8_t *frame, size_t len);
    /* The number of open connections changed (metrics); may be NULL. */
    void (*on_connections)(void *arg, int nconns);
} net_frame_handler_t;

/* Called on the loop thread when a watched fd is readable. */
typedef void (*net_watch_fn)(void *arg, int fd);

int net_loop_new(const net_loop_options_t *opt, const net_frame_handler_t *handler,
                 net_loop_t **out, sb_err_t *err);
/* Closes every connection and listener. NULL is accepted. Watched fds are not closed. */
void net_loop_free(net_loop_t *loop);

/* Binds and starts accepting on a listener; *out (may be NULL) stays valid until the loop is
 * freed. */
int net_loop_listen(net_loop_t *loop, const net_listener_config_t *cfg, net_listener_t **out,
                    sb_err_t *err);
/* Calls fn when fd becomes readable (level-triggered; fn must drain it). */
int net_loop_watch(net_loop_t *loop, int fd, net_watch_fn fn, void *arg, sb_err_t *err);

/* One round: waits up to timeout_ms for events, serves them, resumes connections whose
 * back-pressure cleared, closes idle ones and frees the connections closed in the round.
 * Returns 0, or a negative errno when epoll itself failed. */
int net_loop_poll(net_loop_t *loop, int timeout_ms);
/* Interrupts a net_loop_poll in progress. Async-signal-safe and thread-safe. */
void net_loop_wake(net_loop_t *loop);
/* Frees connections closed since the last round (tests that bypass net_loop_poll call it). */
void net_loop_reap(net_loop_t *loop);
/* Closes every connection (shutdown). */
void net_loop_close_all(net_loop_t *loop);
int net_loop_connection_count(const net_loop_t *loop);

#endif
