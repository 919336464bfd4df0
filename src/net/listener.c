/* Listening sockets: bind, accept, and the security protocol names. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net_int.h"

static const char *const protocol_names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};

const char *net_security_protocol_name(net_security_protocol_t p)
{
    return (unsigned)p < sizeof(protocol_names) / sizeof(protocol_names[0]) ? protocol_names[p]
                                                                            : "?";
}

int net_security_protocol_parse(const char *name, net_security_protocol_t *out)
{
    for (size_t i = 0; i < sizeof(protocol_names) / sizeof(protocol_names[0]); i++) {
        if (strcasecmp(name, protocol_names[i]) == 0) {
            *out = (net_security_protocol_t)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

bool net_security_protocol_tls(net_security_protocol_t p)
{
    return p == NET_PROTO_SSL || p == NET_PROTO_SASL_SSL;
}

bool net_host_is_loopback(const char *host)
{
    if (!host) return false;
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int32_t net_listener_port(const net_listener_t *l)
{
    return l->port;
}

const char *net_listener_name(const net_listener_t *l)
{
    return l->name;
}

net_security_protocol_t net_listener_protocol(const net_listener_t *l)
{
    return l->protocol;
}

int net_listener_reload_tls(net_listener_t *l, sb_err_t *err)
{
    if (!l->tls) return sb_err_set(err, SB_ENOENT, "listener %s does not use TLS", l->name);
    return net_tls_reload(l->tls, err);
}

static int bind_socket(const char *host, int32_t port_num, int *fd_out, int32_t *port_out,
                       sb_err_t *err)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof(port), "%d", port_num);
    if (host && !host[0]) host = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai)
        return sb_err_set(err, SB_EINVAL, "cannot resolve listen address %s:%s: %s",
                          host ? host : "*", port, gai_strerror(gai));
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
        return sb_err_set(err, SB_EIO, "cannot listen on %s:%s: %s", host ? host : "*", port,
                          strerror(last_errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

int net_loop_listen(net_loop_t *loop, const net_listener_config_t *cfg, net_listener_t **out,
                    sb_err_t *err)
{
    if (net_security_protocol_tls(cfg->protocol) != (cfg->tls != NULL)) {
        net_tls_free(cfg->tls);
        return sb_err_set(err, SB_EINVAL, "listener %s: protocol %s %s a TLS context",
                          cfg->name ? cfg->name : "?", net_security_protocol_name(cfg->protocol),
                          cfg->tls ? "does not take" : "needs");
    }
    net_listener_t *l = calloc(1, sizeof(*l));
    if (!l) {
        net_tls_free(cfg->tls);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    l->tls = cfg->tls;
    l->io.kind = NET_IO_LISTENER;
    l->loop = loop;
    l->fd = -1;
    l->protocol = cfg->protocol;
    l->name = strdup(cfg->name ? cfg->name : net_security_protocol_name(cfg->protocol));
    snprintf(l->host, sizeof(l->host), "%s", cfg->host ? cfg->host : "");
    int rc;
    if (!l->name) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = bind_socket(cfg->host, cfg->port, &l->fd, &l->port, err)) < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
        rc = sb_err_set(err, SB_EIO, "epoll_ctl on listener %s: %s", l->name, strerror(errno));
        goto fail;
    }
    l->next = loop->listeners;
    loop->listeners = l;
    if (out) *out = l;
    return 0;
fail:
    net_listener_free(l);
    return rc;
}

void net_listener_free(net_listener_t *l)
{
    if (!l) return;
    if (l->fd >= 0) close(l->fd);
    net_tls_free(l->tls);
    free(l->name);
    free(l);
}

void net_listener_on_accept(net_listener_t *l)
{
    net_loop_t *loop = l->loop;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sb_warn("net", "accept failed: %s", strerror(errno));
            return;
        }
        char host[INET6_ADDRSTRLEN] = "?", serv[16] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV);
        if (loop->nconns >= loop->opt.max_connections) {
            sb_warn("net", "refusing connection from %s:%s: max_connections (%d) reached", host,
                    serv, loop->opt.max_connections);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char peer[96];
        snprintf(peer, sizeof(peer), "%s:%s", host, serv);
        net_conn_t *c;
        if (net_conn_adopt(loop, fd, l, host, peer, &c) < 0) {
            close(fd);
            continue;
        }
        sb_debug("net", "accepted connection %s on listener %s", c->sec.peer, l->name);
    }
}
