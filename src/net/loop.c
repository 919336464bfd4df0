/* The epoll loop: dispatches readiness to listeners, connections and watched fds, then does
 * the per-round housekeeping (resumed connections, idle timeouts, freeing closed ones). */
#include "net/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "net/net_int.h"

#define IDLE_CHECK_INTERVAL_MS 100

static void drain_eventfd(void *arg, int fd)
{
    (void)arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
}

int net_loop_new(const net_loop_options_t *opt, const net_frame_handler_t *handler,
                 net_loop_t **out, sb_err_t *err)
{
    net_loop_t *loop = calloc(1, sizeof(*loop));
    if (!loop) return sb_err_set(err, SB_ENOMEM, "out of memory");
    loop->opt = *opt;
    loop->handler = *handler;
    loop->wake.io.kind = NET_IO_WATCH;
    loop->wake.fn = drain_eventfd;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wake.fd < 0) {
        int rc = sb_err_set(err, SB_EIO, "epoll/eventfd: %s", strerror(errno));
        net_loop_free(loop);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &loop->wake.io};
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake.fd, &ev);
    loop->last_idle_check_ms = sb_mono_ms();
    *out = loop;
    return 0;
}

void net_loop_close_all(net_loop_t *loop)
{
    while (loop->conns)
        net_conn_close(loop->conns, NULL);
}

void net_loop_reap(net_loop_t *loop)
{
    for (net_conn_t *c = loop->graveyard, *n; c; c = n) {
        n = c->next;
        net_conn_free(c);
    }
    loop->graveyard = NULL;
}

void net_loop_free(net_loop_t *loop)
{
    if (!loop) return;
    net_loop_close_all(loop);
    net_loop_reap(loop);
    for (net_listener_t *l = loop->listeners, *n; l; l = n) {
        n = l->next;
        net_listener_free(l);
    }
    for (net_watch_t *w = loop->watches, *n; w; w = n) {
        n = w->next;
        free(w);
    }
    if (loop->epfd >= 0) close(loop->epfd);
    if (loop->wake.fd >= 0) close(loop->wake.fd);
    free(loop);
}

int net_loop_watch(net_loop_t *loop, int fd, net_watch_fn fn, void *arg, sb_err_t *err)
{
    net_watch_t *w = calloc(1, sizeof(*w));
    if (!w) return sb_err_set(err, SB_ENOMEM, "out of memory");
    w->io.kind = NET_IO_WATCH;
    w->fd = fd;
    w->fn = fn;
    w->arg = arg;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int rc = sb_err_set(err, SB_EIO, "epoll_ctl: %s", strerror(errno));
        free(w);
        return rc;
    }
    w->next = loop->watches;
    loop->watches = w;
    return 0;
}

void net_loop_wake(net_loop_t *loop)
{
    uint64_t one = 1;
    ssize_t w = write(loop->wake.fd, &one, sizeof(one));
    (void)w;
}

int net_loop_connection_count(const net_loop_t *loop)
{
    return loop->nconns;
}

static void close_idle_connections(net_loop_t *loop, int64_t now_ms)
{
    if (loop->opt.idle_timeout_ms <= 0) return;
    for (net_conn_t *c = loop->conns, *n; c; c = n) {
        n = c->next;
        if (!c->head && now_ms - c->last_active_ms > loop->opt.idle_timeout_ms)
            net_conn_close(c, "idle timeout");
    }
}

int net_loop_poll(net_loop_t *loop, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(loop->epfd, evs, 256, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            n = 0;
        else {
            int e = errno;
            sb_error("net", "epoll_wait: %s", strerror(e));
            return -e;
        }
    }
    for (int i = 0; i < n; i++) {
        net_io_t *io = evs[i].data.ptr;
        switch (io->kind) {
        case NET_IO_LISTENER:
            net_listener_on_accept((net_listener_t *)io);
            break;
        case NET_IO_WATCH: {
            net_watch_t *w = (net_watch_t *)io;
            w->fn(w->arg, w->fd);
            break;
        }
        case NET_IO_CONN: {
            net_conn_t *c = (net_conn_t *)io;
            uint32_t e = evs[i].events;
            if (c->dead) continue; /* closed earlier in this round */
            if (e & EPOLLOUT) net_conn_flush(c);
            if (!c->dead && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                net_conn_on_readable(c);
            break;
        }
        }
    }
    int64_t now = sb_mono_ms();
    if (now - loop->last_idle_check_ms >= IDLE_CHECK_INTERVAL_MS) {
        loop->last_idle_check_ms = now;
        close_idle_connections(loop, now);
    }
    if (loop->nresume) {
        loop->nresume = 0;
        /* A connection closed while walking moves to the graveyard and is skipped: `next` was
         * taken before the call, and closing does not free. */
        for (net_conn_t *c = loop->conns, *next; c; c = next) {
            next = c->next;
            if (!c->dead && c->resume_pending) {
                c->resume_pending = false;
                net_conn_on_readable(c);
            }
        }
    }
    net_loop_reap(loop);
    return 0;
}
