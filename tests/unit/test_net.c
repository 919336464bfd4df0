/* src/net on its own: a frame handler that answers out of order still sends in request order,
 * a dropped slot lets the ones behind it go, spliced file ranges arrive byte for byte on a
 * plaintext connection and through the TLS staging buffer (a client that reads slowly forces
 * partial writes), and a client certificate's subject becomes the principal. The client runs
 * in a thread with blocking sockets; the loop runs on the test's thread. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "ctl/certs_cmd.h"
#include "net/loop.h"

#define BIG_FILE_BYTES (12 * 1024 * 1024)

typedef struct fixture {
    char dir[64];
    char file_path[128];
    int file_fd; /* BIG_FILE_BYTES of a position-dependent pattern */
    net_loop_t *loop;
    net_listener_t *listener;
    /* handler state */
    net_slot_t *held; /* the first request's slot, answered after the second */
    int frames;
    char principal[256];
} fixture_t;

static uint8_t pattern_at(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 11));
}

/* Frame "A" is answered later (after "B"), "B" at once, "D" never (dropped), "F" with the big
 * file spliced between two memory parts. */
static int on_frame(void *arg, net_conn_t *c, uint8_t *frame, size_t len)
{
    fixture_t *f = arg;
    f->frames++;
    snprintf(f->principal, sizeof(f->principal), "%s", net_conn_security(c)->principal);
    net_slot_t *s = net_slot_new(c, sizeof(net_slot_t));
    assert_non_null(s);
    switch (frame[0]) {
    case 'A':
        sb_wr_bytes(&s->out, (const uint8_t *)"first", 5);
        f->held = s;
        return 0;
    case 'B':
        sb_wr_bytes(&s->out, (const uint8_t *)"second", 6);
        net_slot_complete(s);
        if (f->held) {
            net_slot_complete(f->held);
            f->held = NULL;
        }
        return 0;
    case 'D':
        net_slot_drop(s);
        return 0;
    case 'F':
        sb_wr_bytes(&s->out, (const uint8_t *)"head", 4);
        sb_wr_splice(&s->out, f->file_fd, 0, BIG_FILE_BYTES);
        sb_wr_bytes(&s->out, (const uint8_t *)"tail", 4);
        net_slot_complete(s);
        return 0;
    default:
        (void)len;
        net_conn_close(c, "unexpected frame");
        return -1;
    }
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    sb_log_setup(SB_LOG_ERROR, SB_LOG_FORMAT_TEXT);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sb_test_net_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file_path, sizeof(f->file_path), "%s/data", f->dir);
    f->file_fd = open(f->file_path, O_RDWR | O_CREAT, 0600);
    assert_true(f->file_fd >= 0);
    uint8_t *buf = malloc(BIG_FILE_BYTES);
    for (size_t i = 0; i < BIG_FILE_BYTES; i++)
        buf[i] = pattern_at(i);
    assert_int_equal(write(f->file_fd, buf, BIG_FILE_BYTES), BIG_FILE_BYTES);
    free(buf);
    net_loop_options_t o = {
        .max_connections = 16, .min_frame_bytes = 1, .max_frame_bytes = 1 << 20};
    net_frame_handler_t h = {.arg = f, .on_frame = on_frame};
    sb_err_t err = {0};
    assert_int_equal(net_loop_new(&o, &h, &f->loop, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    net_loop_free(f->loop);
    close(f->file_fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- the client thread ---- */

typedef struct client {
    int port;
    SSL_CTX *ctx; /* NULL: plaintext */
    int ok;       /* 1 when every response matched */
    char why[256];
} client_t;

static int io_write(int fd, SSL *ssl, const void *p, size_t n)
{
    size_t done;
    if (ssl) return SSL_write_ex(ssl, p, n, &done) == 1 ? 0 : -1;
    return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* Reads exactly n bytes, in small pieces with pauses so the server's socket fills up. */
static int io_read(int fd, SSL *ssl, uint8_t *p, size_t n, bool slow)
{
    size_t got = 0, reads = 0;
    while (got < n) {
        size_t want = n - got > 65536 ? 65536 : n - got;
        size_t r = 0;
        if (ssl) {
            if (SSL_read_ex(ssl, p + got, want, &r) != 1) return -1;
        } else {
            ssize_t x = read(fd, p + got, want);
            if (x <= 0) return -1;
            r = (size_t)x;
        }
        got += r;
        if (slow && ++reads % 16 == 0) usleep(2000);
    }
    return 0;
}

static void send_frame(client_t *cl, int fd, SSL *ssl, char tag)
{
    uint8_t fr[5] = {0, 0, 0, 1, (uint8_t)tag};
    if (io_write(fd, ssl, fr, sizeof(fr)) < 0) snprintf(cl->why, sizeof(cl->why), "write failed");
}

static int read_response(int fd, SSL *ssl, uint8_t **body, uint32_t *len, bool slow)
{
    uint8_t h[4];
    if (io_read(fd, ssl, h, 4, false) < 0) return -1;
    *len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    *body = malloc(*len ? *len : 1);
    return io_read(fd, ssl, *body, *len, slow);
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int small = 16 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(cl->why, sizeof(cl->why), "connect failed");
        close(fd);
        return NULL;
    }
    SSL *ssl = NULL;
    if (cl->ctx) {
        ssl = SSL_new(cl->ctx);
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, "localhost");
        if (SSL_connect(ssl) != 1) {
            snprintf(cl->why, sizeof(cl->why), "TLS handshake failed");
            goto out;
        }
    }
    send_frame(cl, fd, ssl, 'A');
    send_frame(cl, fd, ssl, 'D');
    send_frame(cl, fd, ssl, 'B');
    send_frame(cl, fd, ssl, 'F');
    uint8_t *body;
    uint32_t len;
    /* A was answered after B but comes first; D sent nothing. */
    if (read_response(fd, ssl, &body, &len, false) < 0 || len != 5 ||
        memcmp(body, "first", 5) != 0) {
        snprintf(cl->why, sizeof(cl->why), "first response wrong");
        goto out;
    }
    free(body);
    if (read_response(fd, ssl, &body, &len, false) < 0 || len != 6 ||
        memcmp(body, "second", 6) != 0) {
        snprintf(cl->why, sizeof(cl->why), "second response wrong");
        goto out;
    }
    free(body);
    if (read_response(fd, ssl, &body, &len, true) < 0 || len != BIG_FILE_BYTES + 8) {
        snprintf(cl->why, sizeof(cl->why), "file response has the wrong size");
        goto out;
    }
    bool same = memcmp(body, "head", 4) == 0 && memcmp(body + 4 + BIG_FILE_BYTES, "tail", 4) == 0;
    for (size_t i = 0; same && i < BIG_FILE_BYTES; i++)
        same = body[4 + i] == pattern_at(i);
    free(body);
    if (!same) {
        snprintf(cl->why, sizeof(cl->why), "file bytes differ");
        goto out;
    }
    cl->ok = 1;
out:
    if (ssl) SSL_free(ssl);
    close(fd);
    return NULL;
}

/* Runs the loop until the client thread has finished (bounded: 60 s of polls). */
static void serve_until_done(fixture_t *f, client_t *cl)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_main, cl), 0);
    int i = 0;
    while (pthread_tryjoin_np(t, NULL) != 0) {
        if (++i > 6000) fail_msg("the client did not finish");
        net_loop_poll(f->loop, 10);
    }
}

static void run_client(fixture_t *f, client_t *cl)
{
    serve_until_done(f, cl);
    if (!cl->ok) fail_msg("client: %s", cl->why[0] ? cl->why : "timed out");
}

static void test_plaintext_order_drop_and_splice(void **state)
{
    fixture_t *f = *state;
    sb_err_t err = {0};
    net_listener_config_t lc = {
        .name = "PLAINTEXT", .host = "127.0.0.1", .port = 0, .protocol = NET_PROTO_PLAINTEXT};
    assert_int_equal(net_loop_listen(f->loop, &lc, &f->listener, &err), 0);
    client_t cl = {.port = net_listener_port(f->listener)};
    run_client(f, &cl);
    assert_int_equal(f->frames, 4);
    assert_string_equal(f->principal, NET_PRINCIPAL_ANONYMOUS);
}

static void test_tls_staging_and_client_certificate_principal(void **state)
{
    fixture_t *f = *state;
    sb_err_t err = {0};
    const char *clients[] = {"alice"};
    ctl_certs_options_t co = {.out_dir = f->dir, .clients = clients, .nclients = 1, .days = 1};
    if (ctl_certs_generate(&co, &err) < 0) fail_msg("%s", err.msg);
    char cert[128], key[128], ca[128], ccert[128], ckey[128];
    snprintf(cert, sizeof(cert), "%s/server.pem", f->dir);
    snprintf(key, sizeof(key), "%s/server.key", f->dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", f->dir);
    snprintf(ccert, sizeof(ccert), "%s/client-alice.pem", f->dir);
    snprintf(ckey, sizeof(ckey), "%s/client-alice.key", f->dir);
    net_tls_config_t tc = {.cert_file = cert,
                           .key_file = key,
                           .ca_file = ca,
                           .client_auth = NET_TLS_CLIENT_AUTH_REQUIRED};
    net_tls_t *tls;
    if (net_tls_new(&tc, &tls, &err) < 0) fail_msg("%s", err.msg);
    net_listener_config_t lc = {
        .name = "SSL", .host = "127.0.0.1", .protocol = NET_PROTO_SSL, .tls = tls};
    assert_int_equal(net_loop_listen(f->loop, &lc, &f->listener, &err), 0);

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_use_certificate_file(ctx, ccert, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, ckey, SSL_FILETYPE_PEM), 1);
    client_t cl = {.port = net_listener_port(f->listener), .ctx = ctx};
    run_client(f, &cl);
    SSL_CTX_free(ctx);
    assert_int_equal(f->frames, 4);
    assert_string_equal(f->principal, "User:CN=alice");

    /* A TLS 1.1 client is refused in the handshake. */
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
    SSL_CTX_set_security_level(ctx, 0);
    client_t old = {.port = net_listener_port(f->listener), .ctx = ctx};
    serve_until_done(f, &old);
    SSL_CTX_free(ctx);
    assert_false(old.ok);
    assert_string_equal(old.why, "TLS handshake failed");
    assert_int_equal(f->frames, 4); /* nothing reached the handler */
}

int main(void)
{
    /* As in the broker: a write to a socket the client closed is an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plaintext_order_drop_and_splice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_staging_and_client_certificate_principal, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
