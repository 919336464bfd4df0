/* A constant-rate (open-loop) HTTP/1.1 load generator: request i is due at start + i / rate,
 * whatever happened to earlier ones, and its latency runs from that due time to the end of its
 * answer. A server that stalls therefore shows the stall in every request that should have been
 * sent meanwhile (no coordinated omission), unlike a closed-loop tool such as wrk. Debian has no
 * wrk2 or vegeta; this is the small part of them the jobs API bench needs (issue 11).
 *
 * One thread, epoll, keep-alive connections: --connections are opened before the clock starts;
 * when a request is due and every connection is busy, another is opened (up to --max-connections,
 * its connect time counted in that request's latency), else the request waits, also counted.
 *
 *   http_paced --url http://127.0.0.1:8090/api/v1/jobs/7 [--method GET] [--body JSON]
 *              [--header "Authorization: Bearer ..."]... [--rate 1000] [--seconds 20]
 *              [--warmup 2] [--connections 16] [--max-connections 128] [--label get]
 *
 * Prints one JSON line: target and achieved rate, answered / non-2xx / failed counts, P50, P90,
 * P99, P99.9 and max latency in ms over the requests due after the warm-up. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_HEADERS 8
#define RBUF 65536

typedef struct conn {
    int fd;
    bool connected;
    bool busy;
    int64_t due_ns;    /* the in-flight request's due time */
    bool record;       /* the in-flight request is after the warm-up */
    size_t woff;       /* bytes of the request written */
    char rbuf[RBUF];
    size_t rlen;
} conn_t;

static struct {
    const char *url, *method, *body, *label;
    const char *headers[MAX_HEADERS];
    int nheaders;
    double rate, seconds, warmup;
    int connections, max_connections;
} opt = {.method = "GET", .label = "http", .rate = 1000, .seconds = 20, .warmup = 2, .connections = 16,
         .max_connections = 128};

static struct sockaddr_in addr;
static char *request;
static size_t request_len;
static int ep;
static conn_t **conns;
static int nconns;
static uint64_t answered, non2xx, failed, backlog_max;
static bench_samples_t samples;

static int usage(void)
{
    fprintf(stderr, "usage: http_paced --url http://HOST:PORT/PATH [--method M] [--body B] [--header H]...\n"
                    "                  [--rate R] [--seconds S] [--warmup S] [--connections N]\n"
                    "                  [--max-connections N] [--label L]\n");
    return 2;
}

static int parse_url(void)
{
    if (strncmp(opt.url, "http://", 7) != 0) return -1;
    const char *host = opt.url + 7, *slash = strchr(host, '/');
    const char *path = slash ? slash : "/";
    char hostport[256];
    size_t hl = slash ? (size_t)(slash - host) : strlen(host);
    if (hl >= sizeof(hostport)) return -1;
    memcpy(hostport, host, hl);
    hostport[hl] = 0;
    char *colon = strrchr(hostport, ':');
    const char *port = "80";
    if (colon) {
        *colon = 0;
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(hostport, port, &hints, &ai) != 0 || !ai) return -1;
    memcpy(&addr, ai->ai_addr, sizeof(addr));
    freeaddrinfo(ai);
    if (colon) *colon = ':';
    size_t blen = opt.body ? strlen(opt.body) : 0;
    size_t cap = 512 + strlen(path) + strlen(hostport) + blen;
    for (int i = 0; i < opt.nheaders; i++) cap += strlen(opt.headers[i]) + 2;
    request = malloc(cap);
    int n = snprintf(request, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", opt.method, path, hostport);
    for (int i = 0; i < opt.nheaders; i++) n += snprintf(request + n, cap - (size_t)n, "%s\r\n", opt.headers[i]);
    if (opt.body)
        n += snprintf(request + n, cap - (size_t)n, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    n += snprintf(request + n, cap - (size_t)n, "\r\n%s", opt.body ? opt.body : "");
    request_len = (size_t)n;
    return 0;
}

static conn_t *conn_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    conn_t *c = calloc(1, sizeof(*c));
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    conns = realloc(conns, sizeof(*conns) * (size_t)(nconns + 1));
    conns[nconns++] = c;
    return c;
}

/* Replaces a broken or server-closed connection by a new one in the same slot. */
static void conn_reopen(conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->connected = false;
    c->busy = false;
    c->rlen = 0;
    c->woff = 0;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_write(conn_t *c)
{
    while (c->busy && c->connected && c->woff < request_len) {
        ssize_t w = send(c->fd, request + c->woff, request_len - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) return;
            failed++;
            conn_reopen(c);
            return;
        }
        c->woff += (size_t)w;
    }
}

static void conn_start(conn_t *c, int64_t due_ns, bool record)
{
    c->busy = true;
    c->due_ns = due_ns;
    c->record = record;
    c->woff = 0;
    c->rlen = 0;
    conn_write(c);
}

/* A complete answer in rbuf: its length, 0 when more is needed, -1 when it cannot be parsed. */
static ssize_t answer_length(conn_t *c, int *status, bool *close_after)
{
    c->rbuf[c->rlen] = 0;
    char *end = strstr(c->rbuf, "\r\n\r\n");
    if (!end) return c->rlen >= RBUF - 1 ? -1 : 0;
    if (strncmp(c->rbuf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->rbuf + 9);
    size_t head = (size_t)(end + 4 - c->rbuf);
    long long clen = -1;
    bool chunked = false;
    *close_after = false;
    for (char *line = strstr(c->rbuf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) clen = atoll(line + 15);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") &&
                 strstr(line, "chunked") < strstr(line, "\r\n"))
            chunked = true;
        else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line, "close") &&
                 strcasestr(line, "close") < strstr(line, "\r\n"))
            *close_after = true;
    }
    if (chunked) {
        char *last = strstr(end + 4, "\r\n0\r\n\r\n");
        if (strncmp(end + 4, "0\r\n\r\n", 5) == 0) return (ssize_t)(head + 5);
        if (!last) return c->rlen >= RBUF - 1 ? -1 : 0;
        return (ssize_t)(last + 7 - c->rbuf);
    }
    if (clen < 0) clen = 0;
    if (head + (size_t)clen > RBUF - 1) return -1;
    return c->rlen >= head + (size_t)clen ? (ssize_t)(head + (size_t)clen) : 0;
}

static void conn_read(conn_t *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            if (c->busy) failed++;
            conn_reopen(c);
            return;
        }
        if (r < 0) return;
        c->rlen += (size_t)r;
        if (!c->busy) continue; /* nothing asked: drop */
        int status = 0;
        bool close_after = false;
        ssize_t n = answer_length(c, &status, &close_after);
        if (n < 0) {
            failed++;
            conn_reopen(c);
            return;
        }
        if (n == 0) continue;
        int64_t now = bench_now_ns();
        answered++;
        if (status < 200 || status > 299) non2xx++;
        if (c->record) bench_samples_add(&samples, now - c->due_ns);
        c->busy = false;
        c->rlen = 0;
        if (close_after) {
            conn_reopen(c);
            return;
        }
    }
}

static conn_t *idle_conn(void)
{
    for (int i = 0; i < nconns; i++)
        if (!conns[i]->busy && conns[i]->connected) return conns[i];
    return NULL;
}

static int busy_count(void)
{
    int n = 0;
    for (int i = 0; i < nconns; i++) n += conns[i]->busy;
    return n;
}

static void handle(struct epoll_event *e)
{
    conn_t *c = e->data.ptr;
    if (!c->connected && (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            if (c->busy) failed++;
            conn_reopen(c);
            return;
        }
        c->connected = true;
    }
    if (e->events & EPOLLOUT) conn_write(c);
    if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_read(c);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        if (strcmp(a, "--url") == 0) opt.url = v;
        else if (strcmp(a, "--method") == 0) opt.method = v;
        else if (strcmp(a, "--body") == 0) opt.body = v;
        else if (strcmp(a, "--label") == 0) opt.label = v;
        else if (strcmp(a, "--header") == 0 && opt.nheaders < MAX_HEADERS) opt.headers[opt.nheaders++] = v;
        else if (strcmp(a, "--rate") == 0) opt.rate = atof(v);
        else if (strcmp(a, "--seconds") == 0) opt.seconds = atof(v);
        else if (strcmp(a, "--warmup") == 0) opt.warmup = atof(v);
        else if (strcmp(a, "--connections") == 0) opt.connections = atoi(v);
        else if (strcmp(a, "--max-connections") == 0) opt.max_connections = atoi(v);
        else return usage();
        i++;
    }
    if (!opt.url || opt.rate <= 0 || opt.seconds <= 0 || opt.connections < 1) return usage();
    if (parse_url() < 0) {
        fprintf(stderr, "http_paced: cannot use --url %s\n", opt.url);
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
    bench_samples_init(&samples);
    struct epoll_event evs[64];
    /* Warm connections before the clock starts. */
    for (int i = 0; i < opt.connections; i++) conn_open();
    int64_t ready_by = bench_now_ns() + 5000000000LL;
    while (bench_now_ns() < ready_by) {
        int ready = 0;
        for (int i = 0; i < nconns; i++) ready += conns[i]->connected;
        if (ready == nconns) break;
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++)
            if (evs[i].data.ptr) handle(&evs[i]);
    }
    const double interval_ns = 1e9 / opt.rate;
    const uint64_t total = (uint64_t)(opt.rate * opt.seconds);
    const int64_t start = bench_now_ns() + 10000000LL, warm_end = start + (int64_t)(opt.warmup * 1e9);
    uint64_t next = 0; /* the next request to send; due at start + next * interval */
    int64_t drain_until = 0;
    for (;;) {
        int64_t now = bench_now_ns();
        /* Send everything due; what finds no connection waits (its clock is running). */
        while (next < total) {
            int64_t due = start + (int64_t)((double)next * interval_ns);
            if (due > now) break;
            conn_t *c = idle_conn();
            if (!c) {
                if (nconns < opt.max_connections && nconns - busy_count() == 0) {
                    bool pending = false;
                    for (int i = 0; i < nconns; i++) pending |= !conns[i]->connected;
                    if (!pending) conn_open();
                }
                uint64_t due_so_far = (uint64_t)((double)(now - start) / interval_ns) + 1;
                uint64_t waiting = (due_so_far < total ? due_so_far : total) - next;
                if (waiting > backlog_max) backlog_max = waiting;
                break;
            }
            conn_start(c, due, due >= warm_end);
            next++;
        }
        if (next >= total && busy_count() == 0) break;
        if (next >= total && !drain_until) drain_until = now + 10000000000LL;
        if (drain_until && now > drain_until) {
            failed += (uint64_t)busy_count();
            break;
        }
        /* The timer wakes us for the next due request; one already due is waiting for a free
         * connection, which a socket event brings, so the timer is off then (no spinning). */
        struct itimerspec its = {0};
        if (next < total) {
            int64_t due = start + (int64_t)((double)next * interval_ns);
            if (due > bench_now_ns()) its.it_value = (struct timespec){.tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL};
        }
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                uint64_t ticks;
                while (read(tfd, &ticks, sizeof(ticks)) > 0) {
                }
                continue;
            }
            handle(&evs[i]);
        }
    }
    int64_t end = bench_now_ns();
    double window_s = (double)(end - start) / 1e9;
    printf("{\"label\":\"%s\",\"target_rate\":%.0f,\"achieved_rate\":%.1f,\"requests\":%llu,\"answered\":%llu,"
           "\"non2xx\":%llu,\"failed\":%llu,\"recorded\":%zu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"connections\":%d,\"backlog_max\":%llu}\n",
           opt.label, opt.rate, (double)answered / window_s, (unsigned long long)total,
           (unsigned long long)answered, (unsigned long long)non2xx, (unsigned long long)failed, samples.count,
           (double)bench_samples_quantile(&samples, 0.50) / 1e6, (double)bench_samples_quantile(&samples, 0.90) / 1e6,
           (double)bench_samples_quantile(&samples, 0.99) / 1e6, (double)bench_samples_quantile(&samples, 0.999) / 1e6,
           (double)bench_samples_quantile(&samples, 1.0) / 1e6, nconns, (unsigned long long)backlog_max);
    return 0;
}
