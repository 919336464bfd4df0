/* ACL cost on the produce path (issue 10: "Produce with 10,000 ACLs loaded next to none").
 *
 * Two measurements, side by side in one run:
 *  1. the check alone: authorizer_authorize() for WRITE on a topic, with the authorizer off,
 *     on with no ACLs (allow.everyone.if.no.acl.found), and on with 10,000 ACLs of which one
 *     allows the producer (literal hit, prefixed hit, and a miss that is denied);
 *  2. whole Produce requests (one 10-record batch, acks=1) dispatched through the real broker
 *     in-process, authorizer off versus on with 10,000 ACLs loaded.
 * Prints a table on stderr and one JSON line per figure on stdout. Nothing here asserts a
 * speed; the figures go into the ACLs section of docs/security.md. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/server.h"
#include "common/log.h"
#include "kafka/protocol.h"
#include "kafka/record_batch.h"
#include "net/conn.h"
#include "security/acl.h"
#include "security/authorizer.h"

#define NACLS 10000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10,000 bindings shaped like a real cluster's: per-team prefixes, per-topic grants for many
 * users, group grants and a few denies; plus the one that lets User:producer write "orders-7". */
static void load_acls(acl_store_t *s)
{
    char name[64], principal[64];
    for (int i = 0; acl_store_count(s) < NACLS - 2; i++) {
        int kind = i % 4;
        snprintf(principal, sizeof(principal), "User:user%d", i % 500);
        if (kind == 0) snprintf(name, sizeof(name), "team%d-", i % 97);
        else snprintf(name, sizeof(name), "topic-%d", i);
        acl_binding_t b = {kind == 3 ? ACL_RESOURCE_GROUP : ACL_RESOURCE_TOPIC,
                           kind == 0 ? ACL_PATTERN_PREFIXED : ACL_PATTERN_LITERAL,
                           kind == 2 ? ACL_OP_READ : ACL_OP_WRITE,
                           i % 50 == 0 ? ACL_PERM_DENY : ACL_PERM_ALLOW,
                           name, principal, "*"};
        if (acl_store_add(s, &b, NULL) < 0) abort();
    }
    acl_binding_t lit = {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_WRITE, ACL_PERM_ALLOW, "orders-7", "User:producer", "*"};
    acl_binding_t pre = {ACL_RESOURCE_TOPIC, ACL_PATTERN_PREFIXED, ACL_OP_WRITE, ACL_PERM_ALLOW, "events-", "User:producer", "*"};
    if (acl_store_add(s, &lit, NULL) < 0 || acl_store_add(s, &pre, NULL) < 0) abort();
}

static void report(const char *what, double ns, double base_ns)
{
    fprintf(stderr, "  %-52s %10.1f ns  (%.2fx)\n", what, ns, base_ns > 0 ? ns / base_ns : 1.0);
    printf("{\"bench\":\"acl\",\"case\":\"%s\",\"ns_per_op\":%.1f}\n", what, ns);
}

static double time_checks(authorizer_t *a, const char *topic, long iters, bool expect)
{
    authz_subject_t who = {"User:producer", "127.0.0.1", "127.0.0.1:5000", "Produce"};
    size_t len = strlen(topic);
    double t0 = now_s();
    for (long i = 0; i < iters; i++)
        if (authorizer_authorize(a, &who, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, topic, len, false) != expect) abort();
    return (now_s() - t0) / (double)iters * 1e9;
}

static authorizer_t *authorizer_with(bool enabled, bool everyone, bool acls)
{
    authorizer_config_t cfg = {.enabled = enabled, .allow_everyone_if_no_acl_found = everyone};
    authorizer_t *a;
    if (authorizer_new(&cfg, NULL, &a, NULL) < 0) abort();
    if (acls) {
        acl_store_t *s;
        if (acl_store_new(&s) < 0) abort();
        load_acls(s);
        if (authorizer_replace_acls(a, s, NULL) < 0) abort();
    }
    return a;
}

/* ---- whole Produce requests through the broker ---- */

static char data_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void put16(sb_wr_t *w, int16_t v) { sb_wr_i16(w, v); }

/* A Produce v7 frame (header + body) with one batch of 10 records of 100 bytes, acks=1. */
static void build_produce(sb_wr_t *w, const char *topic)
{
    sb_wr_t batch;
    sb_wr_init(&batch, 2048);
    char value[100];
    memset(value, 'x', sizeof(value));
    kafka_record_t recs[10];
    for (int i = 0; i < 10; i++)
        recs[i] = (kafka_record_t){1700000000000LL, {NULL, -1}, {(const uint8_t *)value, sizeof(value)}, NULL, 0};
    kafka_records_batch_opts_t o;
    kafka_records_batch_defaults(&o);
    if (kafka_records_encode_batch(&batch, &o, recs, 10, NULL) < 0) abort();
    put16(w, KAFKA_API_Produce);
    put16(w, 7);
    sb_wr_i32(w, 1);
    sb_wr_str(w, false, "bench");
    sb_wr_str(w, false, NULL); /* transactional_id */
    put16(w, 1);               /* acks */
    sb_wr_i32(w, 30000);
    sb_wr_array(w, false, 1);
    sb_wr_str(w, false, topic);
    sb_wr_array(w, false, 1);
    sb_wr_i32(w, 0);
    sb_wr_byts(w, false, batch.buf, (int32_t)batch.len);
    sb_wr_deinit(&batch);
}

static double produce_requests_per_s(bool authz, long n)
{
    snprintf(data_dir, sizeof(data_dir), "/tmp/streambus-aclbench-XXXXXX");
    if (!mkdtemp(data_dir)) abort();
    if (authz) {
        /* The ACL file the broker loads at start: 10,000 bindings, User:ANONYMOUS (every
         * connection here) allowed to write the bench topic. */
        acl_store_t *s;
        if (acl_store_new(&s) < 0) abort();
        load_acls(s);
        acl_binding_t b = {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_WRITE, ACL_PERM_ALLOW, "bench-topic",
                           "User:ANONYMOUS", "*"};
        acl_binding_t c = {ACL_RESOURCE_TOPIC, ACL_PATTERN_LITERAL, ACL_OP_CREATE, ACL_PERM_ALLOW, "bench-topic",
                           "User:ANONYMOUS", "*"};
        if (acl_store_add(s, &b, NULL) < 0 || acl_store_add(s, &c, NULL) < 0) abort();
        char path[128], *text;
        size_t len;
        snprintf(path, sizeof(path), "%s/.acls", data_dir);
        if (acl_store_serialize(s, &text, &len) < 0) abort();
        FILE *f = fopen(path, "w");
        if (!f || fwrite(text, 1, len, f) != len) abort();
        fclose(f);
        free(text);
        acl_store_free(s);
    }
    broker_options_t o;
    broker_options_defaults(&o);
    o.listen_port = 0;
    snprintf(o.data_dir, sizeof(o.data_dir), "%s", data_dir);
    o.authorizer_enabled = authz;
    broker_t *b;
    sb_err_t err = {0};
    if (broker_new(&o, NULL, &b, &err) < 0) {
        fprintf(stderr, "broker_new: %s\n", err.msg);
        abort();
    }
    if (authz && acl_store_count(authorizer_acls(b->authz)) != NACLS + 2) abort();
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0) abort();
    conn_t *c = conn_adopt(b, fds[0], "127.0.0.1", "bench");
    if (!c) abort();
    sb_wr_t req;
    sb_wr_init(&req, 4096);
    build_produce(&req, "bench-topic");
    uint8_t *frame = malloc(req.len);
    char sink[65536];
    double t0 = 0;
    for (long i = -1000; i < n; i++) { /* 1000 untimed warm-up requests (topic creation) */
        if (i == 0) t0 = now_s();
        memcpy(frame, req.buf, req.len); /* Produce rewrites offsets in place */
        if (broker_dispatch(b, c, frame, req.len) < 0 || net_conn_closed(c)) abort();
        while (read(fds[1], sink, sizeof(sink)) > 0) {
        }
    }
    double rate = (double)n / (now_s() - t0);
    free(frame);
    sb_wr_deinit(&req);
    net_conn_close(c, NULL);
    broker_reap(b);
    close(fds[1]);
    broker_free(b);
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rate;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    long requests = argc > 2 ? atol(argv[2]) : 100000;
    sb_log_setup(SB_LOG_ERROR, SB_LOG_FORMAT_TEXT);

    fprintf(stderr, "authorization check, WRITE on a topic (%ld checks each):\n", iters);
    authorizer_t *off = authorizer_with(false, false, false);
    authorizer_t *none = authorizer_with(true, true, false);
    authorizer_t *many = authorizer_with(true, false, true);
    double base = time_checks(off, "orders-7", iters, true);
    report("authorizer off", base, base);
    report("on, 0 ACLs (allow.everyone.if.no.acl.found)", time_checks(none, "orders-7", iters, true), base);
    report("on, 10000 ACLs, literal allow", time_checks(many, "orders-7", iters, true), base);
    report("on, 10000 ACLs, prefixed allow", time_checks(many, "events-2026-12", iters, true), base);
    report("on, 10000 ACLs, no match (denied)", time_checks(many, "unknown-topic", iters, false), base);
    authorizer_free(off);
    authorizer_free(none);
    authorizer_free(many);

    fprintf(stderr, "Produce requests through the broker (10 x 100 B records, acks=1, %ld requests, median of 5 alternating rounds):\n", requests);
    /* Alternating rounds, median of each: the machine is shared, and a neighbour's burst
     * should not land on one side only. */
    double offs[5], ons[5];
    for (int r = 0; r < 5; r++) {
        offs[r] = produce_requests_per_s(false, requests);
        ons[r] = produce_requests_per_s(true, requests);
    }
    qsort(offs, 5, sizeof(double), cmp_double);
    qsort(ons, 5, sizeof(double), cmp_double);
    double r_off = offs[2], r_on = ons[2];
    fprintf(stderr, "  %-52s %10.0f req/s\n", "authorizer off", r_off);
    fprintf(stderr, "  %-52s %10.0f req/s  (%.3fx)\n", "authorizer on, 10000 ACLs loaded", r_on, r_on / r_off);
    printf("{\"bench\":\"acl\",\"case\":\"produce authorizer off\",\"requests_per_s\":%.0f}\n", r_off);
    printf("{\"bench\":\"acl\",\"case\":\"produce authorizer on 10000 ACLs\",\"requests_per_s\":%.0f}\n", r_on);
    return 0;
}
