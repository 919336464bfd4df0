/* Tests for the admin HTTP server with real HTTP requests (libcurl) over loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pthread.h>

#include "http/admin_http.h"

typedef struct reply {
    long status;
    char content_type[128];
    char allow[128];
    char *body;
    size_t len;
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    r->body = realloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = 0;
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t len = size * n;
    if (len > 6 && strncasecmp(p, "Allow:", 6) == 0) {
        size_t start = 6;
        while (start < len && p[start] == ' ') start++;
        size_t end = len;
        while (end > start && (p[end - 1] == '\r' || p[end - 1] == '\n')) end--;
        snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(end - start), p + start);
    }
    return len;
}

/* Performs one request; body may be NULL. Returns the reply (caller frees reply.body). */
static reply_t request_ex(const char *method, int port, const char *path, const char *body, size_t body_len,
                          bool chunked)
{
    reply_t r = {0};
    r.body = calloc(1, 1);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    /* A bound, so that a server that stops answering fails the test instead of hanging it. */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    struct curl_slist *headers = NULL;
    if (chunked) {
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.content_type, sizeof(r.content_type), "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    return r;
}

static reply_t request(const char *method, int port, const char *path, const char *body, size_t body_len)
{
    return request_ex(method, port, path, body, body_len, false);
}

typedef struct readiness {
    _Atomic bool ready; /* flipped by the test thread, read on the HTTP thread */
} readiness_t;

static bool is_ready(void *arg, char *detail, size_t cap)
{
    readiness_t *r = arg;
    if (!r->ready) snprintf(detail, cap, "recovering partition \"orders-0\"");
    return r->ready;
}

typedef struct fixture {
    metrics_registry_t *reg;
    readiness_t readiness;
    admin_http_t *admin;
    int port;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->reg = metrics_registry_new();
    metrics_counter_add(metrics_counter(f->reg, "streambus_requests_total", "Requests.", "api=\"Produce\""), 7);
    f->readiness.ready = true;
    admin_http_hooks_t hooks = {.registry = f->reg, .ready = is_ready, .arg = &f->readiness};
    sb_err_t err = {0};
    f->admin = admin_http_start("127.0.0.1", 0, &hooks, &err);
    if (!f->admin) fail_msg("%s", err.msg);
    f->port = admin_http_port(f->admin);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    admin_http_stop(f->admin);
    metrics_registry_free(f->reg);
    free(f);
    return 0;
}

static void test_port_zero_binds_a_free_port(void **state)
{
    fixture_t *f = *state;
    assert_true(f->port > 0 && f->port < 65536);
}

static void test_health_live(void **state)
{
    fixture_t *f = *state;
    reply_t r = request("GET", f->port, "/health/live", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"status\":\"live\"}\n");
    free(r.body);

    r = request("HEAD", f->port, "/health/live", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    free(r.body);
}

static void test_health_ready_follows_the_hook(void **state)
{
    fixture_t *f = *state;
    reply_t r = request("GET", f->port, "/health/ready", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}\n");
    free(r.body);

    f->readiness.ready = false;
    r = request("GET", f->port, "/health/ready", NULL, 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"status\":\"not_ready\",\"detail\":\"recovering partition \\\"orders-0\\\"\"}\n");
    free(r.body);
    f->readiness.ready = true;
}

static void test_metrics_endpoint(void **state)
{
    fixture_t *f = *state;
    reply_t r = request("GET", f->port, "/metrics", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0);
    assert_non_null(strstr(r.body, "# TYPE streambus_requests_total counter\n"
                                   "streambus_requests_total{api=\"Produce\"} 7\n"));
    free(r.body);

    /* Values are read at scrape time. */
    metrics_counter_add(metrics_counter(f->reg, "streambus_requests_total", "Requests.", "api=\"Produce\""), 1);
    r = request("GET", f->port, "/metrics", NULL, 0);
    assert_non_null(strstr(r.body, "streambus_requests_total{api=\"Produce\"} 8\n"));
    free(r.body);
}

static void test_unknown_path_and_wrong_method(void **state)
{
    fixture_t *f = *state;
    reply_t r = request("GET", f->port, "/nope", NULL, 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"error\":\"no such path\",\"error_code\":404,\"message\":\"no such path\"}\n");
    free(r.body);

    /* A built-in path is exact, not a prefix. */
    r = request("GET", f->port, "/metricsx", NULL, 0);
    assert_int_equal(r.status, 404);
    free(r.body);
    r = request("GET", f->port, "/metrics/extra", NULL, 0);
    assert_int_equal(r.status, 404);
    free(r.body);

    r = request("POST", f->port, "/metrics", "x", 1);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    assert_string_equal(r.body, "{\"error\":\"method not allowed\",\"error_code\":405,\"message\":\"method not allowed\"}\n");
    free(r.body);
    r = request("DELETE", f->port, "/health/live", NULL, 0);
    assert_int_equal(r.status, 405);
    free(r.body);
}

typedef struct echo_state {
    int calls;
} echo_state_t;

/* Echoes method, the path after the prefix, the "q" query argument and the body. */
static void handle_echo(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    echo_state_t *st = arg;
    st->calls++;
    const char *q = admin_http_query(req, "q");
    char head[256];
    snprintf(head, sizeof(head), "%s rest=%s q=%s len=%zu:", req->method, req->path_rest, q ? q : "-", req->body_len);
    snprintf(resp->content_type, sizeof(resp->content_type), "text/plain");
    sb_wr_bytes(&resp->body, head, strlen(head));
    if (req->body_len) sb_wr_bytes(&resp->body, req->body, req->body_len);
    if (strcmp(req->method, "POST") == 0) {
        resp->status = 201;
        snprintf(resp->location, sizeof(resp->location), "/admin/echo/1");
    }
}

static void test_routes_added_while_running(void **state)
{
    fixture_t *f = *state;
    echo_state_t st = {0};
    assert_int_equal(admin_http_add_route(f->admin, "POST", "/admin/echo", handle_echo, &st), 0);
    assert_int_equal(admin_http_add_route(f->admin, "GET", "/admin/echo", handle_echo, &st), 0);
    assert_int_equal(admin_http_add_route(f->admin, "GET", "/admin/echo", handle_echo, &st), SB_EEXIST);
    assert_int_equal(admin_http_add_route(f->admin, "GET", "no-slash", handle_echo, &st), SB_EINVAL);

    reply_t r = request("POST", f->port, "/admin/echo", "hello\0world", 11);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.len, strlen("POST rest= q=- len=11:") + 11);
    assert_memory_equal(r.body, "POST rest= q=- len=11:hello\0world", r.len);
    free(r.body);

    r = request("GET", f->port, "/admin/echo/orders/0?q=a%20b", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET rest=/orders/0 q=a b len=0:");
    free(r.body);

    r = request("PUT", f->port, "/admin/echo", "x", 1);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, GET, HEAD");
    free(r.body);
    assert_int_equal(st.calls, 2);
}

/* libmicrohttpd unescapes the URL into a C string, so an escaped NUL would cut the path (or a
 * query value) short and hand the request to the wrong route or resource. */
static void test_escaped_nul_in_url_is_refused(void **state)
{
    fixture_t *f = *state;
    echo_state_t st = {0};
    assert_int_equal(admin_http_add_route(f->admin, NULL, "/admin/echo", handle_echo, &st), 0);
    const char *paths[] = {"/admin/echo/zz%00ignored/status", "/admin/echo%00/x", "/admin/echo/%00",
                           "/admin/echo?q=a%00b", "/metrics%00"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        reply_t r = request("DELETE", f->port, paths[i], NULL, 0);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "NUL"));
        free(r.body);
    }
    reply_t r = request("POST", f->port, "/admin/echo/a%00b", "body", 4);
    assert_int_equal(r.status, 400);
    free(r.body);
    assert_int_equal(st.calls, 0);
    /* An escaped percent followed by "00" is an ordinary "%00" in the decoded text. */
    r = request("GET", f->port, "/admin/echo/a%2500b?q=%2500", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET rest=/a%00b q=%00 len=0:");
    free(r.body);
    assert_int_equal(st.calls, 1);
}

static void test_oversized_body_is_refused(void **state)
{
    fixture_t *f = *state;
    echo_state_t st = {0};
    assert_int_equal(admin_http_add_route(f->admin, "POST", "/admin/big", handle_echo, &st), 0);
    size_t n = ADMIN_HTTP_MAX_BODY + 4096;
    char *big = malloc(n);
    memset(big, 'a', n);
    reply_t r = request("POST", f->port, "/admin/big", big, n);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "{\"error\":\"request body too large\",\"error_code\":413,\"message\":\"request body too large\"}\n");
    assert_int_equal(st.calls, 0);
    free(r.body);

    /* Without a Content-Length the server finds out while reading, and still says 413. */
    r = request_ex("POST", f->port, "/admin/big", big, n, true);
    assert_int_equal(r.status, 413);
    assert_int_equal(st.calls, 0);
    free(r.body);
    r = request_ex("POST", f->port, "/admin/big", big, 100, true);
    assert_int_equal(r.status, 201);
    const char *head = "POST rest= q=- len=100:";
    assert_int_equal(r.len, strlen(head) + 100);
    assert_memory_equal(r.body + strlen(head), big, 100);
    assert_int_equal(st.calls, 1);
    free(r.body);

    /* The server still answers afterwards. */
    r = request("GET", f->port, "/health/live", NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    free(big);
}

static void test_binds_only_the_given_address(void **state)
{
    fixture_t *f = *state;
    /* Every 127/8 address reaches loopback, so a server bound to all interfaces would accept
     * a connection on 127.0.0.2; one bound to 127.0.0.1 must refuse it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    inet_pton(AF_INET, "127.0.0.2", &sa.sin_addr);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(fd);
    assert_int_equal(rc, -1);
    assert_int_equal(e, ECONNREFUSED);

    /* The port is taken: a second server there fails with a message saying where. */
    sb_err_t err = {0};
    admin_http_t *second = admin_http_start("127.0.0.1", f->port, NULL, &err);
    assert_null(second);
    char where[64];
    snprintf(where, sizeof(where), "cannot listen on 127.0.0.1:%d", f->port);
    assert_non_null(strstr(err.msg, where));

    assert_null(admin_http_start("no such host.invalid", 0, NULL, &err));
    assert_non_null(strstr(err.msg, "cannot resolve"));
}

static void test_ipv6_loopback_and_no_registry(void **state)
{
    (void)state;
    sb_err_t err = {0};
    admin_http_t *admin = admin_http_start("::1", 0, NULL, &err);
    if (!admin) skip(); /* no IPv6 on this machine */
    char url[128];
    snprintf(url, sizeof(url), "http://[::1]:%d/metrics", admin_http_port(admin));
    CURL *c = curl_easy_init();
    reply_t r = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    free(r.body);
    admin_http_stop(admin);
}

/* A handler that holds its request until the test releases it. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, released;
} gate_t;

static void slow_handler(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    (void)req;
    gate_t *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->released) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    sb_wr_bytes(&resp->body, "{}", 2);
}

static void *slow_client(void *arg)
{
    int port = *(int *)arg;
    reply_t r = request("GET", port, "/slow", NULL, 0);
    free(r.body);
    return NULL;
}

/* While one handler is busy (as a DLQ listing reading the broker can be), probes still answer:
 * the liveness probe completes before the slow request is allowed to finish. */
static void test_slow_handler_does_not_block_probes(void **state)
{
    fixture_t *f = *state;
    gate_t g = {.entered = false, .released = false};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    assert_int_equal(admin_http_add_route(f->admin, "GET", "/slow", slow_handler, &g), 0);
    pthread_t t;
    pthread_create(&t, NULL, slow_client, &f->port);
    pthread_mutex_lock(&g.mu);
    while (!g.entered) pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    reply_t r = request("GET", f->port, "/health/live", NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = request("GET", f->port, "/metrics", NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);

    pthread_mutex_lock(&g.mu);
    g.released = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(t, NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_handler_does_not_block_probes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_zero_binds_a_free_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_ready_follows_the_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_and_wrong_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_added_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaped_nul_in_url_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binds_only_the_given_address, setup, teardown),
        cmocka_unit_test(test_ipv6_loopback_and_no_registry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
