/* Consumer-group coordinator scenarios against a fake broker (test_group_harness.h) and a real
 * offsets log on disk: join/sync of several members with deferred answers, leader election and
 * protocol choice, leave and session expiry, heartbeat errors, offset commits that survive a
 * restart, and DeleteGroups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/log/plog.h"
#include "common/clock.h"
#include "kafka/protocol.h"
#include "test_group_harness.h"

typedef struct fixture {
    broker_t b;
    char dir[64];
    plog_t *log;
    group_config_t cfg;
} fixture_t;

static void open_coordinator(fixture_t *f)
{
    plog_config_t pc = {.segment_bytes = 1 << 20, .index_interval_bytes = 4096, .retention_ms = -1, .retention_bytes = -1};
    sb_err_t err = {0};
    assert_int_equal(plog_open(f->dir, &pc, &f->log, &err), 0);
    assert_int_equal(group_coordinator_new(&f->b, f->log, &f->cfg, &f->b.gc, &err), 0);
}

static void close_coordinator(fixture_t *f)
{
    group_coordinator_free(f->b.gc);
    f->b.gc = NULL;
    plog_close(f->log);
    f->log = NULL;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    fake_broker_init(&f->b);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sb_test_group_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cfg.initial_rebalance_delay_ms = 0;
    f->cfg.session_timeout_min_ms = 1000;
    f->cfg.session_timeout_max_ms = 300000;
    f->cfg.offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    open_coordinator(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close_coordinator(f);
    sb_err_t err = {0};
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) print_message("could not remove %s (%s)\n", f->dir, err.msg);
    free(f);
    return 0;
}

/* ----- request builders (field order from the Kafka JSON schemas) ----- */

typedef struct proto {
    const char *name;
    const char *meta;
} proto_t;

static kslot_t *join(fixture_t *f, int16_t v, const char *client, const char *member, int32_t session_ms,
                     int32_t rebalance_ms, const proto_t *protos, int n, int *rc)
{
    sb_wr_t w;
    sb_wr_init(&w, 128);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, session_ms);
    if (v >= 1) sb_wr_i32(&w, rebalance_ms);
    sb_wr_str(&w, false, member);
    if (v >= 5) sb_wr_str(&w, false, NULL);
    sb_wr_str(&w, false, "consumer");
    sb_wr_array(&w, false, n);
    for (int i = 0; i < n; i++) {
        sb_wr_str(&w, false, protos[i].name);
        sb_wr_byts(&w, false, protos[i].meta, (int32_t)strlen(protos[i].meta));
    }
    kslot_t *s = fake_call(&f->b, handle_JoinGroup, KAFKA_API_JoinGroup, v, client, &w, rc);
    sb_wr_deinit(&w);
    return s;
}

typedef struct join_resp {
    int16_t error;
    int32_t generation;
    char protocol[64];
    char leader[256];
    char member_id[256];
    int32_t member_count;
    char members[4][256];
    char instances[4][64]; /* "" and instance_null set when the member is dynamic */
    bool instance_null[4];
    char metadata[4][64];
} join_resp_t;

static void copy_slice(char *dst, size_t cap, sb_slice_t s)
{
    snprintf(dst, cap, "%.*s", s.len > 0 ? s.len : 0, s.len > 0 ? (const char *)s.p : "");
}

static join_resp_t parse_join(const kslot_t *s)
{
    join_resp_t r;
    memset(&r, 0, sizeof(r));
    assert_true(s->completed);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    if (s->api_version >= 2) assert_int_equal(sb_rd_i32(&rd), 0);
    r.error = sb_rd_i16(&rd);
    r.generation = sb_rd_i32(&rd);
    copy_slice(r.protocol, sizeof(r.protocol), sb_rd_string(&rd));
    copy_slice(r.leader, sizeof(r.leader), sb_rd_string(&rd));
    copy_slice(r.member_id, sizeof(r.member_id), sb_rd_string(&rd));
    r.member_count = sb_rd_array(&rd, false, 0);
    for (int32_t i = 0; i < r.member_count; i++) {
        copy_slice(i < 4 ? r.members[i] : r.members[3], 256, sb_rd_string(&rd));
        if (s->api_version >= 5) {
            sb_slice_t inst = sb_rd_string(&rd);
            if (i < 4) {
                r.instance_null[i] = inst.len < 0;
                copy_slice(r.instances[i], 64, inst);
            }
        }
        copy_slice(i < 4 ? r.metadata[i] : r.metadata[3], 64, sb_rd_kbytes(&rd));
    }
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    return r;
}

typedef struct assignment {
    const char *member;
    const char *data;
} assignment_t;

static kslot_t *sync_group(fixture_t *f, int16_t v, const char *member, int32_t gen, const assignment_t *as, int n,
                           int *rc)
{
    sb_wr_t w;
    sb_wr_init(&w, 128);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, gen);
    sb_wr_str(&w, false, member);
    if (v >= 3) sb_wr_str(&w, false, NULL);
    sb_wr_array(&w, false, n);
    for (int i = 0; i < n; i++) {
        sb_wr_str(&w, false, as[i].member);
        sb_wr_byts(&w, false, as[i].data, (int32_t)strlen(as[i].data));
    }
    kslot_t *s = fake_call(&f->b, handle_SyncGroup, KAFKA_API_SyncGroup, v, "c", &w, rc);
    sb_wr_deinit(&w);
    return s;
}

static int16_t parse_sync(const kslot_t *s, char *assignment, size_t cap)
{
    assert_true(s->completed);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    if (s->api_version >= 1) sb_rd_i32(&rd);
    int16_t e = sb_rd_i16(&rd);
    sb_slice_t a = sb_rd_kbytes(&rd);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    if (assignment) copy_slice(assignment, cap, a);
    return e;
}

static int16_t heartbeat(fixture_t *f, int16_t v, const char *member, int32_t gen)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, gen);
    sb_wr_str(&w, false, member);
    if (v >= 3) sb_wr_str(&w, false, NULL);
    int rc;
    kslot_t *s = fake_call(&f->b, handle_Heartbeat, KAFKA_API_Heartbeat, v, "c", &w, &rc);
    sb_wr_deinit(&w);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    if (v >= 1) assert_int_equal(sb_rd_i32(&rd), 0);
    int16_t e = sb_rd_i16(&rd);
    assert_int_equal(sb_rd_remaining(&rd), 0);
    fake_slot_free(s);
    return e;
}

static int16_t leave(fixture_t *f, int16_t v, const char *member)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, "g1");
    sb_wr_str(&w, false, member);
    int rc;
    kslot_t *s = fake_call(&f->b, handle_LeaveGroup, KAFKA_API_LeaveGroup, v, "c", &w, &rc);
    sb_wr_deinit(&w);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    if (v >= 1) sb_rd_i32(&rd);
    int16_t e = sb_rd_i16(&rd);
    fake_slot_free(s);
    return e;
}

/* Joins `n` members (v5: MEMBER_ID_REQUIRED first), syncs them with the given assignments and
 * returns the generation; ids[] receives the member ids, ids[0] is the leader. */
static int32_t form_group(fixture_t *f, int n, int32_t session_ms[], char ids[][256])
{
    proto_t protos[] = {{"range", "R"}, {"roundrobin", "RR"}};
    int rc;
    for (int i = 0; i < n; i++) {
        char client[32];
        snprintf(client, sizeof(client), "client%d", i);
        kslot_t *s = join(f, 5, client, "", session_ms[i], 5000, protos, 2, &rc);
        join_resp_t r = parse_join(s);
        assert_int_equal(r.error, KAFKA_ERR_MEMBER_ID_REQUIRED);
        memcpy(ids[i], r.member_id, sizeof(r.member_id));
        fake_slot_free(s);
    }
    kslot_t *slots[4];
    for (int i = 0; i < n; i++) {
        char client[32];
        snprintf(client, sizeof(client), "client%d", i);
        slots[i] = join(f, 5, client, ids[i], session_ms[i], 5000, protos, 2, &rc);
    }
    join_resp_t r0 = parse_join(slots[0]);
    assert_int_equal(r0.error, 0);
    for (int i = 0; i < n; i++) fake_slot_free(slots[i]);
    assignment_t as[4];
    for (int i = 0; i < n; i++) as[i] = (assignment_t){ids[i], "A"};
    for (int i = 1; i < n; i++) slots[i] = sync_group(f, 3, ids[i], r0.generation, NULL, 0, &rc);
    slots[0] = sync_group(f, 3, ids[0], r0.generation, as, n, &rc);
    for (int i = 0; i < n; i++) {
        assert_int_equal(parse_sync(slots[i], NULL, 0), 0);
        fake_slot_free(slots[i]);
    }
    return r0.generation;
}

/* ----- membership ----- */

static void test_three_members_join_and_sync(void **state)
{
    fixture_t *f = *state;
    /* The leader (first to join) prefers range; the third member prefers roundrobin but also
     * supports range, so range wins; sticky is not common to all and is never picked. */
    proto_t pa[] = {{"range", "meta-a"}, {"roundrobin", "rr-a"}};
    proto_t pb[] = {{"range", "meta-b"}, {"roundrobin", "rr-b"}};
    proto_t pc[] = {{"roundrobin", "rr-c"}, {"sticky", "st-c"}, {"range", "meta-c"}};
    int rc;

    kslot_t *s = join(f, 5, "alpha", "", 10000, 5000, pa, 2, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    join_resp_t r = parse_join(s);
    assert_int_equal(r.error, KAFKA_ERR_MEMBER_ID_REQUIRED);
    assert_int_equal(strncmp(r.member_id, "alpha-", 6), 0);
    assert_int_equal(strlen(r.member_id), strlen("alpha-") + 36);
    char a[256], bb[256], c[256];
    strcpy(a, r.member_id);
    fake_slot_free(s);

    s = join(f, 5, "beta", "", 10000, 5000, pb, 2, &rc);
    strcpy(bb, parse_join(s).member_id);
    fake_slot_free(s);
    s = join(f, 5, "gamma", "", 10000, 5000, pc, 3, &rc);
    strcpy(c, parse_join(s).member_id);
    fake_slot_free(s);
    assert_string_not_equal(a, bb);
    assert_string_not_equal(bb, c);

    /* The rejoins wait until every member that was handed an id has rejoined. */
    kslot_t *ja = join(f, 5, "alpha", a, 10000, 5000, pa, 2, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    kslot_t *jb = join(f, 5, "beta", bb, 10000, 5000, pb, 2, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    assert_false(ja->completed);
    assert_false(jb->completed);
    kslot_t *jc = join(f, 5, "gamma", c, 10000, 5000, pc, 3, &rc);
    /* The last rejoin completes the phase, its own answer included. */
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    assert_true(ja->completed);
    assert_true(jb->completed);

    join_resp_t ra = parse_join(ja), rb = parse_join(jb), rcc = parse_join(jc);
    assert_int_equal(ra.error, 0);
    assert_int_equal(ra.generation, 1);
    assert_int_equal(rb.generation, 1);
    assert_int_equal(rcc.generation, 1);
    assert_string_equal(ra.leader, a);
    assert_string_equal(rb.leader, a);
    assert_string_equal(ra.protocol, "range");
    assert_string_equal(rcc.protocol, "range");
    assert_string_equal(ra.member_id, a);
    assert_string_equal(rb.member_id, bb);
    assert_int_equal(ra.member_count, 3);
    assert_int_equal(rb.member_count, 0);
    assert_int_equal(rcc.member_count, 0);
    /* The leader sees each member's metadata for the chosen protocol. */
    for (int i = 0; i < 3; i++) {
        if (strcmp(ra.members[i], a) == 0) assert_string_equal(ra.metadata[i], "meta-a");
        else if (strcmp(ra.members[i], bb) == 0) assert_string_equal(ra.metadata[i], "meta-b");
        else if (strcmp(ra.members[i], c) == 0) assert_string_equal(ra.metadata[i], "meta-c");
        else fail_msg("unexpected member %s", ra.members[i]);
    }
    fake_slot_free(ja);
    fake_slot_free(jb);
    fake_slot_free(jc);

    /* Heartbeats between join and sync keep members alive. */
    assert_int_equal(heartbeat(f, 3, bb, 1), KAFKA_ERR_NONE);

    /* Followers' SyncGroup waits for the leader's. */
    kslot_t *sb = sync_group(f, 3, bb, 1, NULL, 0, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    kslot_t *sc = sync_group(f, 1, c, 1, NULL, 0, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    assert_false(sb->completed);
    assert_false(sc->completed);
    assignment_t as[] = {{a, "parts-a"}, {bb, "parts-b"}, {c, "parts-c"}};
    kslot_t *sa = sync_group(f, 3, a, 1, as, 3, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    char got[64];
    assert_int_equal(parse_sync(sa, got, sizeof(got)), 0);
    assert_string_equal(got, "parts-a");
    assert_int_equal(parse_sync(sb, got, sizeof(got)), 0);
    assert_string_equal(got, "parts-b");
    assert_int_equal(parse_sync(sc, got, sizeof(got)), 0);
    assert_string_equal(got, "parts-c");
    /* The followers were answered in the order they asked. */
    assert_true(sb->completion_seq < sc->completion_seq);
    fake_slot_free(sa);
    fake_slot_free(sb);
    fake_slot_free(sc);

    /* A SyncGroup in Stable answers at once with the member's assignment. */
    kslot_t *again = sync_group(f, 0, c, 1, NULL, 0, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    assert_int_equal(parse_sync(again, got, sizeof(got)), 0);
    assert_string_equal(got, "parts-c");
    fake_slot_free(again);

    assert_int_equal(group_coordinator_member_count(f->b.gc), 3);

    /* DescribeGroups shows the settled generation. */
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_array(&w, false, 2);
    sb_wr_str(&w, false, "g1");
    sb_wr_str(&w, false, "nope");
    sb_wr_bool(&w, false);
    kslot_t *d = fake_call(&f->b, handle_DescribeGroups, KAFKA_API_DescribeGroups, 4, "c", &w, &rc);
    sb_wr_deinit(&w);
    sb_rd_t rd;
    sb_rd_init(&rd, d->w.buf, d->w.len);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_array(&rd, false, 0), 2);
    assert_int_equal(sb_rd_i16(&rd), 0);
    char buf[256];
    copy_slice(buf, sizeof(buf), sb_rd_string(&rd));
    assert_string_equal(buf, "g1");
    copy_slice(buf, sizeof(buf), sb_rd_string(&rd));
    assert_string_equal(buf, "Stable");
    copy_slice(buf, sizeof(buf), sb_rd_string(&rd));
    assert_string_equal(buf, "consumer");
    copy_slice(buf, sizeof(buf), sb_rd_string(&rd));
    assert_string_equal(buf, "range");
    assert_int_equal(sb_rd_array(&rd, false, 0), 3);
    for (int i = 0; i < 3; i++) {
        char mid[256], cid[64], host[64], md[64], asg[64];
        copy_slice(mid, sizeof(mid), sb_rd_string(&rd));
        assert_int_equal(sb_rd_string(&rd).len, -1); /* GroupInstanceId */
        copy_slice(cid, sizeof(cid), sb_rd_string(&rd));
        copy_slice(host, sizeof(host), sb_rd_string(&rd));
        copy_slice(md, sizeof(md), sb_rd_kbytes(&rd));
        copy_slice(asg, sizeof(asg), sb_rd_kbytes(&rd));
        assert_string_equal(host, "/127.0.0.1");
        if (strcmp(mid, c) == 0) {
            assert_string_equal(cid, "gamma");
            assert_string_equal(md, "meta-c");
            assert_string_equal(asg, "parts-c");
        }
    }
    assert_int_equal(sb_rd_i32(&rd), INT32_MIN);
    /* An unknown group is described as Dead, without an error. */
    assert_int_equal(sb_rd_i16(&rd), 0);
    sb_rd_string(&rd);
    copy_slice(buf, sizeof(buf), sb_rd_string(&rd));
    assert_string_equal(buf, "Dead");
    sb_rd_string(&rd);
    sb_rd_string(&rd);
    assert_int_equal(sb_rd_array(&rd, false, 0), 0);
    sb_rd_i32(&rd);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    fake_slot_free(d);
}

static void test_heartbeat_errors(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(heartbeat(f, 0, "nobody", 1), KAFKA_ERR_UNKNOWN_MEMBER_ID);
    int32_t sess[] = {10000, 10000};
    char ids[2][256];
    int32_t gen = form_group(f, 2, sess, ids);
    assert_int_equal(heartbeat(f, 3, ids[1], gen), KAFKA_ERR_NONE);
    assert_int_equal(heartbeat(f, 2, ids[1], gen - 1), KAFKA_ERR_ILLEGAL_GENERATION);
    assert_int_equal(heartbeat(f, 1, "stranger", gen), KAFKA_ERR_UNKNOWN_MEMBER_ID);
    /* SyncGroup with a stale generation is refused too. */
    int rc;
    kslot_t *s = sync_group(f, 2, ids[1], gen + 5, NULL, 0, &rc);
    assert_int_equal(parse_sync(s, NULL, 0), KAFKA_ERR_ILLEGAL_GENERATION);
    fake_slot_free(s);
    /* Out-of-range session timeouts are refused before anything else. */
    proto_t p[] = {{"range", "x"}};
    s = join(f, 2, "c", "", 10, 5000, p, 1, &rc);
    assert_int_equal(parse_join(s).error, KAFKA_ERR_INVALID_SESSION_TIMEOUT);
    fake_slot_free(s);
    /* A different protocol type cannot join a running group. */
    s = join(f, 2, "c", "", 10000, 5000, (proto_t[]){{"other", "x"}}, 1, &rc);
    assert_int_equal(parse_join(s).error, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL);
    fake_slot_free(s);
}

static void test_leave_triggers_rebalance(void **state)
{
    fixture_t *f = *state;
    int32_t sess[] = {10000, 10000, 10000};
    char ids[3][256];
    int32_t gen = form_group(f, 3, sess, ids);
    assert_int_equal(gen, 1);
    /* The leader leaves: the others learn of the rebalance through their heartbeats. */
    assert_int_equal(leave(f, 1, ids[0]), KAFKA_ERR_NONE);
    assert_int_equal(leave(f, 0, ids[0]), KAFKA_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat(f, 1, ids[1], gen), KAFKA_ERR_REBALANCE_IN_PROGRESS);
    proto_t protos[] = {{"range", "R"}, {"roundrobin", "RR"}};
    int rc;
    kslot_t *j1 = join(f, 5, "client1", ids[1], 10000, 5000, protos, 2, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    kslot_t *j2 = join(f, 3, "client2", ids[2], 10000, 5000, protos, 2, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    join_resp_t r1 = parse_join(j1), r2 = parse_join(j2);
    assert_int_equal(r1.generation, 2);
    assert_int_equal(r2.generation, 2);
    /* A new leader is chosen among the remaining members. */
    assert_string_equal(r1.leader, ids[1]);
    assert_int_equal(r1.member_count, 2);
    assert_int_equal(r2.member_count, 0);
    fake_slot_free(j1);
    fake_slot_free(j2);
    /* The old generation is now illegal. */
    assert_int_equal(heartbeat(f, 0, ids[2], 1), KAFKA_ERR_ILLEGAL_GENERATION);
}

static void test_session_expiry_and_rebalance_timeout(void **state)
{
    fixture_t *f = *state;
    /* Member 0 has a long session, member 1 a short one. */
    int32_t sess[] = {60000, 8000};
    char ids[2][256];
    int32_t gen = form_group(f, 2, sess, ids);
    int64_t now = sb_mono_ms();
    group_coordinator_tick(f->b.gc, now + 1000);
    assert_int_equal(group_coordinator_member_count(f->b.gc), 2);
    group_coordinator_tick(f->b.gc, now + 9000);
    assert_int_equal(group_coordinator_member_count(f->b.gc), 1);
    assert_int_equal(heartbeat(f, 1, ids[0], gen), KAFKA_ERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(heartbeat(f, 1, ids[1], gen), KAFKA_ERR_UNKNOWN_MEMBER_ID);
    proto_t protos[] = {{"range", "R"}};
    int rc;
    kslot_t *j = join(f, 5, "client0", ids[0], 60000, 5000, protos, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    join_resp_t r = parse_join(j);
    assert_int_equal(r.generation, gen + 1);
    assert_int_equal(r.member_count, 1);
    fake_slot_free(j);
    kslot_t *s = sync_group(f, 3, ids[0], gen + 1, (assignment_t[]){{ids[0], "all"}}, 1, &rc);
    assert_int_equal(parse_sync(s, NULL, 0), 0);
    fake_slot_free(s);

    /* A newcomer (v3: no MEMBER_ID_REQUIRED round trip) starts a rebalance; the old member
     * never rejoins and is dropped when the rebalance timeout (5 s) passes. */
    kslot_t *jn = join(f, 3, "late", "", 60000, 5000, protos, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    assert_false(jn->completed);
    now = sb_mono_ms();
    group_coordinator_tick(f->b.gc, now + 1000);
    assert_false(jn->completed);
    group_coordinator_tick(f->b.gc, now + 5100);
    assert_true(jn->completed);
    r = parse_join(jn);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.generation, gen + 2);
    assert_int_equal(strncmp(r.member_id, "late-", 5), 0);
    assert_string_equal(r.leader, r.member_id);
    assert_int_equal(group_coordinator_member_count(f->b.gc), 1);
    fake_slot_free(jn);
}

static void test_orphaned_join_is_completed(void **state)
{
    fixture_t *f = *state;
    proto_t protos[] = {{"range", "R"}};
    int rc;
    kslot_t *j1 = join(f, 3, "one", "", 10000, 5000, protos, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE); /* alone: completes at once */
    join_resp_t r1 = parse_join(j1);
    fake_slot_free(j1);
    kslot_t *j2 = join(f, 3, "two", "", 10000, 5000, protos, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    j2->orphaned = true; /* its connection closed */
    kslot_t *j1b = join(f, 3, "one", r1.member_id, 10000, 5000, protos, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    assert_true(j2->completed);
    assert_int_equal(j2->w.len, 0); /* nothing written for a closed connection */
    fake_slot_free(j2);
    fake_slot_free(j1b);
}

/* ----- offsets ----- */

typedef struct commit_part {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *metadata;
} commit_part_t;

static kslot_t *commit(fixture_t *f, int16_t v, const char *group, int32_t gen, const char *member,
                       const commit_part_t *parts, int n, int *rc)
{
    sb_wr_t w;
    sb_wr_init(&w, 128);
    sb_wr_str(&w, false, group);
    if (v >= 1) {
        sb_wr_i32(&w, gen);
        sb_wr_str(&w, false, member);
    }
    if (v >= 7) sb_wr_str(&w, false, NULL);
    if (v >= 2 && v <= 4) sb_wr_i64(&w, -1);
    /* One topic entry per part keeps the builder simple; the schema allows repeats. */
    sb_wr_array(&w, false, n);
    for (int i = 0; i < n; i++) {
        sb_wr_str(&w, false, parts[i].topic);
        sb_wr_array(&w, false, 1);
        sb_wr_i32(&w, parts[i].partition);
        sb_wr_i64(&w, parts[i].offset);
        if (v >= 6) sb_wr_i32(&w, 5);
        if (v == 1) sb_wr_i64(&w, -1);
        sb_wr_str(&w, false, parts[i].metadata);
    }
    kslot_t *s = fake_call(&f->b, handle_OffsetCommit, KAFKA_API_OffsetCommit, v, "c", &w, rc);
    sb_wr_deinit(&w);
    return s;
}

static void parse_commit(const kslot_t *s, int16_t *codes, int n)
{
    assert_true(s->completed);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    if (s->api_version >= 3) sb_rd_i32(&rd);
    assert_int_equal(sb_rd_array(&rd, false, 0), n);
    for (int i = 0; i < n; i++) {
        sb_rd_string(&rd);
        assert_int_equal(sb_rd_array(&rd, false, 0), 1);
        sb_rd_i32(&rd);
        codes[i] = sb_rd_i16(&rd);
    }
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
}

typedef struct fetched {
    char topic[32];
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char metadata[32];
} fetched_t;

/* OffsetFetch of orders/0..2 and payments/0, or of everything (null topics) when all. */
static int fetch(fixture_t *f, int16_t v, const char *group, bool all, fetched_t *out, int cap)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, group);
    if (all) {
        sb_wr_array(&w, false, -1);
    } else {
        sb_wr_array(&w, false, 2);
        sb_wr_str(&w, false, "orders");
        sb_wr_array(&w, false, 3);
        for (int p = 0; p < 3; p++) sb_wr_i32(&w, p);
        sb_wr_str(&w, false, "payments");
        sb_wr_array(&w, false, 1);
        sb_wr_i32(&w, 0);
    }
    int rc;
    kslot_t *s = fake_call(&f->b, handle_OffsetFetch, KAFKA_API_OffsetFetch, v, "c", &w, &rc);
    sb_wr_deinit(&w);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    if (v >= 3) sb_rd_i32(&rd);
    int n = 0;
    int32_t nt = sb_rd_array(&rd, false, 0);
    for (int32_t t = 0; t < nt; t++) {
        char topic[32];
        copy_slice(topic, sizeof(topic), sb_rd_string(&rd));
        int32_t np = sb_rd_array(&rd, false, 0);
        for (int32_t p = 0; p < np; p++) {
            assert_true(n < cap);
            fetched_t *x = &out[n++];
            strcpy(x->topic, topic);
            x->partition = sb_rd_i32(&rd);
            x->offset = sb_rd_i64(&rd);
            x->leader_epoch = v >= 5 ? sb_rd_i32(&rd) : -1;
            copy_slice(x->metadata, sizeof(x->metadata), sb_rd_string(&rd));
            assert_int_equal(sb_rd_i16(&rd), 0);
        }
    }
    if (v >= 2) assert_int_equal(sb_rd_i16(&rd), 0);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    fake_slot_free(s);
    return n;
}

static const fetched_t *find_fetched(const fetched_t *xs, int n, const char *topic, int32_t partition)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(xs[i].topic, topic) == 0 && xs[i].partition == partition) return &xs[i];
    }
    return NULL;
}

static void restart(fixture_t *f)
{
    close_coordinator(f);
    open_coordinator(f);
}

typedef struct offset_sum {
    int count;
    int64_t sum;
} offset_sum_t;

static void sum_offsets(void *arg, const char *group, const char *topic, int32_t partition, int64_t offset)
{
    (void)group;
    (void)topic;
    (void)partition;
    offset_sum_t *acc = arg;
    acc->count++;
    acc->sum += offset;
}

static void test_offsets_survive_restart(void **state)
{
    fixture_t *f = *state;
    commit_part_t parts[] = {
        {"orders", 0, 42, "m0"}, {"orders", 2, 7, NULL}, {"missing", 0, 1, NULL}, {"orders", 9, 1, NULL}};
    int rc;
    kslot_t *s = commit(f, 2, "standalone", -1, "", parts, 4, &rc);
    /* Not answered, and not visible, until the batch is durable. */
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    assert_false(s->completed);
    fetched_t got[8];
    int n = fetch(f, 1, "standalone", false, got, 8);
    assert_int_equal(n, 4);
    assert_int_equal(find_fetched(got, n, "orders", 0)->offset, -1);
    fake_run_durable(&f->b);
    int16_t codes[4];
    parse_commit(s, codes, 4);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], 0);
    assert_int_equal(codes[2], KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(codes[3], KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    fake_slot_free(s);

    n = fetch(f, 5, "standalone", false, got, 8);
    assert_int_equal(find_fetched(got, n, "orders", 0)->offset, 42);
    assert_string_equal(find_fetched(got, n, "orders", 0)->metadata, "m0");
    assert_int_equal(find_fetched(got, n, "orders", 1)->offset, -1);
    assert_int_equal(find_fetched(got, n, "orders", 2)->offset, 7);
    assert_int_equal(find_fetched(got, n, "payments", 0)->offset, -1);

    /* Later commits win, also across a restart; v6+ carries the leader epoch. */
    commit_part_t again[] = {{"orders", 0, 43, "m1"}, {"payments", 0, 100, ""}};
    s = commit(f, 7, "standalone", -1, "", again, 2, &rc);
    fake_run_durable(&f->b);
    parse_commit(s, codes, 2);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], 0);
    fake_slot_free(s);
    s = commit(f, 0, "other", -1, "", (commit_part_t[]){{"orders", 1, 5, NULL}}, 1, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);

    restart(f);

    n = fetch(f, 5, "standalone", true, got, 8);
    assert_int_equal(n, 3);
    assert_int_equal(find_fetched(got, n, "orders", 0)->offset, 43);
    assert_int_equal(find_fetched(got, n, "orders", 0)->leader_epoch, 5);
    assert_string_equal(find_fetched(got, n, "orders", 0)->metadata, "m1");
    assert_int_equal(find_fetched(got, n, "orders", 2)->offset, 7);
    assert_int_equal(find_fetched(got, n, "payments", 0)->offset, 100);
    n = fetch(f, 3, "other", true, got, 8);
    assert_int_equal(n, 1);
    assert_int_equal(got[0].offset, 5);

    /* The restored groups are listed (Empty, no protocol type). */
    sb_wr_t w;
    sb_wr_init(&w, 8);
    kslot_t *l = fake_call(&f->b, handle_ListGroups, KAFKA_API_ListGroups, 2, "c", &w, &rc);
    sb_wr_deinit(&w);
    sb_rd_t rd;
    sb_rd_init(&rd, l->w.buf, l->w.len);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_int_equal(sb_rd_array(&rd, false, 0), 2);
    fake_slot_free(l);

    offset_sum_t acc = {0, 0};
    group_coordinator_foreach_offset(f->b.gc, sum_offsets, &acc);
    assert_int_equal(acc.count, 4);
    assert_int_equal(acc.sum, 43 + 7 + 100 + 5);
}

static void test_commit_checks_generation_and_member(void **state)
{
    fixture_t *f = *state;
    int32_t sess[] = {10000, 10000};
    char ids[2][256];
    int32_t gen = form_group(f, 2, sess, ids);
    commit_part_t p[] = {{"orders", 1, 11, NULL}};
    int rc;
    int16_t code;
    kslot_t *s = commit(f, 7, "g1", gen, ids[1], p, 1, &rc);
    fake_run_durable(&f->b);
    parse_commit(s, &code, 1);
    assert_int_equal(code, 0);
    fake_slot_free(s);
    s = commit(f, 7, "g1", gen + 1, ids[1], p, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    parse_commit(s, &code, 1);
    assert_int_equal(code, KAFKA_ERR_ILLEGAL_GENERATION);
    fake_slot_free(s);
    s = commit(f, 7, "g1", gen, "stranger", p, 1, &rc);
    parse_commit(s, &code, 1);
    assert_int_equal(code, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    fake_slot_free(s);
    /* A standalone commit to a group with members is not allowed. */
    s = commit(f, 2, "g1", -1, "", p, 1, &rc);
    parse_commit(s, &code, 1);
    assert_int_equal(code, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    fake_slot_free(s);
    /* Nor a grouped commit to a group that does not exist. */
    s = commit(f, 2, "ghost", 3, "m", p, 1, &rc);
    parse_commit(s, &code, 1);
    assert_int_equal(code, KAFKA_ERR_ILLEGAL_GENERATION);
    fake_slot_free(s);
    /* A failed fsync turns into a retriable error and the offset is not applied. */
    s = commit(f, 7, "g1", gen, ids[0], (commit_part_t[]){{"orders", 1, 99, NULL}}, 1, &rc);
    f->b.durable_error = SB_EIO;
    fake_run_durable(&f->b);
    f->b.durable_error = 0;
    parse_commit(s, &code, 1);
    assert_int_equal(code, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    fake_slot_free(s);
    fetched_t got[8];
    int n = fetch(f, 4, "g1", false, got, 8);
    assert_int_equal(find_fetched(got, n, "orders", 1)->offset, 11);
}

static int16_t *delete_groups(fixture_t *f, const char **names, int n, int16_t *codes)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_array(&w, false, n);
    for (int i = 0; i < n; i++) sb_wr_str(&w, false, names[i]);
    int rc;
    kslot_t *s = fake_call(&f->b, handle_DeleteGroups, KAFKA_API_DeleteGroups, 1, "c", &w, &rc);
    sb_wr_deinit(&w);
    fake_run_durable(&f->b);
    assert_true(s->completed);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_int_equal(sb_rd_array(&rd, false, 0), n);
    for (int i = 0; i < n; i++) {
        char name[64];
        copy_slice(name, sizeof(name), sb_rd_string(&rd));
        assert_string_equal(name, names[i]);
        codes[i] = sb_rd_i16(&rd);
    }
    assert_int_equal(sb_rd_remaining(&rd), 0);
    fake_slot_free(s);
    return codes;
}

static void test_delete_groups(void **state)
{
    fixture_t *f = *state;
    int rc;
    kslot_t *s = commit(f, 2, "old", -1, "", (commit_part_t[]){{"orders", 0, 9, NULL}}, 1, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    int32_t sess[] = {10000};
    char ids[1][256];
    form_group(f, 1, sess, ids);

    int16_t codes[3];
    delete_groups(f, (const char *[]){"old", "g1", "never"}, 3, codes);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], KAFKA_ERR_NON_EMPTY_GROUP);
    assert_int_equal(codes[2], KAFKA_ERR_GROUP_ID_NOT_FOUND);
    fetched_t got[8];
    int n = fetch(f, 1, "old", false, got, 8);
    assert_int_equal(find_fetched(got, n, "orders", 0)->offset, -1);

    /* Deleted stays deleted after a restart; a later commit starts afresh. */
    restart(f);
    n = fetch(f, 2, "old", true, got, 8);
    assert_int_equal(n, 0);
    s = commit(f, 2, "old", -1, "", (commit_part_t[]){{"orders", 2, 3, NULL}}, 1, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    restart(f);
    n = fetch(f, 2, "old", true, got, 8);
    assert_int_equal(n, 1);
    assert_int_equal(got[0].partition, 2);
    assert_int_equal(got[0].offset, 3);
}

/* ----- static membership (KIP-345) ----- */

/* JoinGroup v5 with a group.instance.id. */
static kslot_t *join_static(fixture_t *f, const char *instance, const char *member, int32_t session_ms, int *rc)
{
    sb_wr_t w;
    sb_wr_init(&w, 128);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, session_ms);
    sb_wr_i32(&w, 5000);
    sb_wr_str(&w, false, member);
    sb_wr_str(&w, false, instance);
    sb_wr_str(&w, false, "consumer");
    sb_wr_array(&w, false, 1);
    sb_wr_str(&w, false, "range");
    sb_wr_byts(&w, false, "R", 1);
    kslot_t *s = fake_call(&f->b, handle_JoinGroup, KAFKA_API_JoinGroup, 5, instance, &w, rc);
    sb_wr_deinit(&w);
    return s;
}

static int16_t heartbeat_static(fixture_t *f, const char *member, const char *instance, int32_t gen)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, gen);
    sb_wr_str(&w, false, member);
    sb_wr_str(&w, false, instance);
    int rc;
    kslot_t *s = fake_call(&f->b, handle_Heartbeat, KAFKA_API_Heartbeat, 3, "c", &w, &rc);
    sb_wr_deinit(&w);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    sb_rd_i32(&rd);
    int16_t e = sb_rd_i16(&rd);
    fake_slot_free(s);
    return e;
}

static kslot_t *sync_static(fixture_t *f, const char *member, const char *instance, int32_t gen, const assignment_t *as,
                            int n, int *rc)
{
    sb_wr_t w;
    sb_wr_init(&w, 128);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, gen);
    sb_wr_str(&w, false, member);
    sb_wr_str(&w, false, instance);
    sb_wr_array(&w, false, n);
    for (int i = 0; i < n; i++) {
        sb_wr_str(&w, false, as[i].member);
        sb_wr_byts(&w, false, as[i].data, (int32_t)strlen(as[i].data));
    }
    kslot_t *s = fake_call(&f->b, handle_SyncGroup, KAFKA_API_SyncGroup, 3, "c", &w, rc);
    sb_wr_deinit(&w);
    return s;
}

/* Two static members "a" (leader) and "b" form generation *gen; ids receive their member ids. */
static void form_static_group(fixture_t *f, char ids[2][256], int32_t *gen)
{
    int rc;
    /* No MEMBER_ID_REQUIRED round trip for a static member: it is known by its instance id.
     * Alone, "a" completes a generation at once; "b" joining starts the next one. */
    kslot_t *ja = join_static(f, "a", "", 10000, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    join_resp_t first = parse_join(ja);
    fake_slot_free(ja);
    assert_int_equal(first.error, 0);
    assert_int_equal(strncmp(first.member_id, "a-", 2), 0); /* named after the instance, as Kafka does */
    kslot_t *jb = join_static(f, "b", "", 10000, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    ja = join_static(f, "a", first.member_id, 10000, &rc);
    join_resp_t ra = parse_join(ja), rb = parse_join(jb);
    assert_int_equal(ra.error, 0);
    assert_int_equal(rb.error, 0);
    assert_string_equal(ra.leader, ra.member_id);
    assert_int_equal(ra.member_count, 2);
    bool b_second = strcmp(ra.members[1], rb.member_id) == 0;
    assert_string_equal(ra.instances[b_second ? 1 : 0], "b");
    assert_false(ra.instance_null[1]);
    strcpy(ids[0], ra.member_id);
    strcpy(ids[1], rb.member_id);
    *gen = ra.generation;
    fake_slot_free(ja);
    fake_slot_free(jb);
    kslot_t *sb = sync_static(f, ids[1], "b", *gen, NULL, 0, &rc);
    kslot_t *sa = sync_static(f, ids[0], "a", *gen, (assignment_t[]){{ids[0], "for-a"}, {ids[1], "for-b"}}, 2, &rc);
    assert_int_equal(parse_sync(sa, NULL, 0), 0);
    assert_int_equal(parse_sync(sb, NULL, 0), 0);
    fake_slot_free(sa);
    fake_slot_free(sb);
}

/* librdkafka's 0102: a static member that restarts must get its partitions back without the
 * other members seeing a rebalance (they saw an unexpected revoke). */
static void test_static_member_restart_keeps_assignment_without_rebalance(void **state)
{
    fixture_t *f = *state;
    char ids[2][256];
    int32_t gen;
    form_static_group(f, ids, &gen);

    int rc;
    kslot_t *j = join_static(f, "b", "", 10000, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE); /* answered at once: no join phase */
    join_resp_t r = parse_join(j);
    fake_slot_free(j);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.generation, gen);
    assert_string_not_equal(r.member_id, ids[1]);
    assert_string_equal(r.leader, ids[0]);
    assert_int_equal(r.member_count, 0);
    /* Nobody else is disturbed... */
    assert_int_equal(heartbeat_static(f, ids[0], "a", gen), 0);
    /* ...the old incarnation is fenced... */
    assert_int_equal(heartbeat_static(f, ids[1], "b", gen), KAFKA_ERR_FENCED_INSTANCE_ID);
    kslot_t *s = sync_static(f, ids[1], "b", gen, NULL, 0, &rc);
    assert_int_equal(parse_sync(s, NULL, 0), KAFKA_ERR_FENCED_INSTANCE_ID);
    fake_slot_free(s);
    j = join_static(f, "b", ids[1], 10000, &rc);
    assert_int_equal(parse_join(j).error, KAFKA_ERR_FENCED_INSTANCE_ID);
    fake_slot_free(j);
    commit_part_t p[] = {{"orders", 0, 1, NULL}};
    s = commit(f, 7, "g1", gen, ids[1], p, 1, &rc);
    int16_t code;
    parse_commit(s, &code, 1);
    /* (commit() sends a null instance id: without one there is nothing to fence, only an
     * unknown member.) */
    assert_int_equal(code, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    fake_slot_free(s);
    /* ...and the new one syncs into its old assignment. */
    char got[32];
    s = sync_static(f, r.member_id, "b", gen, NULL, 0, &rc);
    assert_int_equal(parse_sync(s, got, sizeof(got)), 0);
    assert_string_equal(got, "for-b");
    fake_slot_free(s);
    assert_int_equal(heartbeat_static(f, r.member_id, "b", gen), 0);

    /* The leader restarting is told the old leader id, so it acts as a follower. */
    j = join_static(f, "a", "", 10000, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    join_resp_t ra = parse_join(j);
    fake_slot_free(j);
    assert_string_equal(ra.leader, ids[0]);
    assert_string_not_equal(ra.member_id, ids[0]);
    s = sync_static(f, ra.member_id, "a", gen, NULL, 0, &rc);
    assert_int_equal(parse_sync(s, got, sizeof(got)), 0);
    assert_string_equal(got, "for-a");
    fake_slot_free(s);
    assert_int_equal(group_coordinator_member_count(f->b.gc), 2);
}

/* A static member that misses a rebalance stays (until its session ends) instead of being
 * dropped at the end of the join phase; then the group empties as soon as the sessions end. */
static void test_static_member_survives_rebalance_until_session_timeout(void **state)
{
    fixture_t *f = *state;
    char ids[2][256];
    int32_t gen;
    form_static_group(f, ids, &gen);
    int rc;
    kslot_t *c = commit(f, 7, "g1", gen, ids[0], (commit_part_t[]){{"orders", 0, 3, NULL}}, 1, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(c);
    /* "a" changes its subscription (new metadata): a rebalance that "b" sleeps through. */
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, 10000);
    sb_wr_i32(&w, 5000);
    sb_wr_str(&w, false, ids[0]);
    sb_wr_str(&w, false, "a");
    sb_wr_str(&w, false, "consumer");
    sb_wr_array(&w, false, 1);
    sb_wr_str(&w, false, "range");
    sb_wr_byts(&w, false, "R2", 2);
    kslot_t *j = fake_call(&f->b, handle_JoinGroup, KAFKA_API_JoinGroup, 5, "a", &w, &rc);
    sb_wr_deinit(&w);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    int64_t now = sb_mono_ms();
    group_coordinator_tick(f->b.gc, now + 5100); /* the rebalance timeout passes */
    join_resp_t r = parse_join(j);
    fake_slot_free(j);
    assert_int_equal(r.generation, gen + 1);
    assert_int_equal(r.member_count, 2); /* "b" is still a member, handed to the leader */
    assert_int_equal(group_coordinator_member_count(f->b.gc), 2);
    assert_int_equal(heartbeat_static(f, ids[1], "b", gen), KAFKA_ERR_ILLEGAL_GENERATION);
    /* Sessions end: 10 s after their last heartbeat both are gone and the group is Empty at
     * once, so it can be deleted right away (it has offsets, so it is not simply forgotten). */
    group_coordinator_tick(f->b.gc, now + 10500);
    assert_int_equal(group_coordinator_member_count(f->b.gc), 1);
    group_coordinator_tick(f->b.gc, now + 16000);
    assert_int_equal(group_coordinator_member_count(f->b.gc), 0);
    int16_t codes[1];
    delete_groups(f, (const char *[]){"g1"}, 1, codes);
    assert_int_equal(codes[0], 0);
}

/* librdkafka's 0081 closes static consumers (no LeaveGroup), sleeps exactly one session timeout
 * and deletes the group. A member whose session has ended must be gone when the request comes,
 * not at the next 100 ms tick (DeleteGroups answered NON_EMPTY_GROUP). */
static void test_ended_session_counts_at_once_for_delete(void **state)
{
    fixture_t *f = *state;
    int rc;
    kslot_t *j = join_static(f, "solo", "", 1000, &rc);
    join_resp_t r = parse_join(j);
    fake_slot_free(j);
    kslot_t *s = sync_static(f, r.member_id, "solo", r.generation, (assignment_t[]){{r.member_id, "A"}}, 1, &rc);
    assert_int_equal(parse_sync(s, NULL, 0), 0);
    fake_slot_free(s);
    s = commit(f, 7, "g1", r.generation, r.member_id, (commit_part_t[]){{"orders", 0, 1, NULL}}, 1, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    usleep(1050 * 1000); /* the session (1 s) ends; no tick runs */
    int16_t codes[1];
    delete_groups(f, (const char *[]){"g1"}, 1, codes);
    assert_int_equal(codes[0], 0);
}

/* ----- OffsetFetch v6-v8 ----- */

/* OffsetFetch v6+ (compact): groups[i] asks for orders/0..1 or, with all[i], for everything
 * (a null topic list). Returns the partitions found, across groups, in `out`. */
static int fetch_flex(fixture_t *f, int16_t v, const char **groups, const bool *all, int ngroups, fetched_t *out,
                      int cap, int16_t *group_errors)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    if (v >= 8) sb_wr_array(&w, true, ngroups);
    else assert_int_equal(ngroups, 1);
    for (int i = 0; i < ngroups; i++) {
        sb_wr_str(&w, true, groups[i]);
        if (all[i]) {
            sb_wr_array(&w, true, -1);
        } else {
            sb_wr_array(&w, true, 1);
            sb_wr_str(&w, true, "orders");
            sb_wr_array(&w, true, 2);
            sb_wr_i32(&w, 0);
            sb_wr_i32(&w, 1);
            sb_wr_tags(&w, true);
        }
        if (v >= 8) sb_wr_tags(&w, true);
    }
    if (v >= 7) sb_wr_i8(&w, 0);
    sb_wr_tags(&w, true);
    int rc;
    kslot_t *s = fake_call(&f->b, handle_OffsetFetch, KAFKA_API_OffsetFetch, v, "c", &w, &rc);
    sb_wr_deinit(&w);
    assert_int_equal(rc, KAFKA_HANDLER_DONE);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    assert_int_equal(sb_rd_i32(&rd), 0);
    int32_t ng = v >= 8 ? sb_rd_array(&rd, true, 0) : 1;
    assert_int_equal(ng, ngroups);
    int n = 0;
    for (int32_t g = 0; g < ng; g++) {
        if (v >= 8) {
            char name[64];
            copy_slice(name, sizeof(name), sb_rd_compact_string(&rd));
            assert_string_equal(name, groups[g]);
        }
        int32_t nt = sb_rd_array(&rd, true, 0);
        for (int32_t t = 0; t < nt; t++) {
            char topic[32];
            copy_slice(topic, sizeof(topic), sb_rd_compact_string(&rd));
            int32_t np = sb_rd_array(&rd, true, 0);
            for (int32_t p = 0; p < np; p++) {
                assert_true(n < cap);
                fetched_t *x = &out[n++];
                strcpy(x->topic, topic);
                x->partition = sb_rd_i32(&rd);
                x->offset = sb_rd_i64(&rd);
                x->leader_epoch = sb_rd_i32(&rd);
                copy_slice(x->metadata, sizeof(x->metadata), sb_rd_compact_string(&rd));
                assert_int_equal(sb_rd_i16(&rd), 0);
                assert_int_equal(sb_rd_uvarint(&rd), 0);
            }
            assert_int_equal(sb_rd_uvarint(&rd), 0);
        }
        group_errors[g] = sb_rd_i16(&rd);
        if (v >= 8) assert_int_equal(sb_rd_uvarint(&rd), 0);
    }
    assert_int_equal(sb_rd_uvarint(&rd), 0);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    fake_slot_free(s);
    return n;
}

static void test_offset_fetch_flexible_and_many_groups(void **state)
{
    fixture_t *f = *state;
    int rc;
    kslot_t *s = commit(f, 7, "ga", -1, "", (commit_part_t[]){{"orders", 1, 11, "x"}, {"payments", 0, 4, NULL}}, 2, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    s = commit(f, 7, "gb", -1, "", (commit_part_t[]){{"orders", 0, 20, NULL}}, 1, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    fetched_t got[16];
    int16_t errs[3];
    for (int16_t v = 6; v <= 8; v++) {
        int n = fetch_flex(f, v, (const char *[]){"ga"}, (bool[]){false}, 1, got, 16, errs);
        assert_int_equal(n, 2);
        assert_int_equal(errs[0], 0);
        assert_int_equal(find_fetched(got, n, "orders", 0)->offset, -1);
        assert_int_equal(find_fetched(got, n, "orders", 1)->offset, 11);
        assert_int_equal(find_fetched(got, n, "orders", 1)->leader_epoch, 5);
        assert_string_equal(find_fetched(got, n, "orders", 1)->metadata, "x");
        n = fetch_flex(f, v, (const char *[]){"ga"}, (bool[]){true}, 1, got, 16, errs);
        assert_int_equal(n, 2);
        assert_int_equal(find_fetched(got, n, "payments", 0)->offset, 4);
    }
    /* v8: several groups in one request, each answered under its own id, in order. */
    int n = fetch_flex(f, 8, (const char *[]){"gb", "ga", "nobody"}, (bool[]){true, false, true}, 3, got, 16, errs);
    assert_int_equal(n, 3);
    assert_string_equal(got[0].topic, "orders");
    assert_int_equal(got[0].partition, 0);
    assert_int_equal(got[0].offset, 20);
    assert_int_equal(got[2].offset, 11);
    for (int i = 0; i < 3; i++) assert_int_equal(errs[i], 0);
}

/* ----- OffsetDelete ----- */

typedef struct del_part {
    const char *topic;
    int32_t partition;
} del_part_t;

static kslot_t *offset_delete(fixture_t *f, const char *group, const del_part_t *parts, int n, int *rc)
{
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, group);
    sb_wr_array(&w, false, n);
    for (int i = 0; i < n; i++) {
        sb_wr_str(&w, false, parts[i].topic);
        sb_wr_array(&w, false, 1);
        sb_wr_i32(&w, parts[i].partition);
    }
    kslot_t *s = fake_call(&f->b, handle_OffsetDelete, KAFKA_API_OffsetDelete, 0, "c", &w, rc);
    sb_wr_deinit(&w);
    return s;
}

/* Returns the top-level error; codes[] gets the per-partition ones (none with a group error). */
static int16_t parse_offset_delete(const kslot_t *s, int16_t *codes, int n)
{
    assert_true(s->completed);
    sb_rd_t rd;
    sb_rd_init(&rd, s->w.buf, s->w.len);
    int16_t e = sb_rd_i16(&rd);
    assert_int_equal(sb_rd_i32(&rd), 0);
    int32_t nt = sb_rd_array(&rd, false, 0);
    assert_int_equal(nt, e ? 0 : n);
    for (int32_t i = 0; i < nt; i++) {
        sb_rd_string(&rd);
        assert_int_equal(sb_rd_array(&rd, false, 0), 1);
        sb_rd_i32(&rd);
        codes[i] = sb_rd_i16(&rd);
    }
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    return e;
}

/* A ConsumerProtocolSubscription v0 naming one topic. */
static int32_t subscription(char *buf, const char *topic)
{
    sb_wr_t w;
    sb_wr_init(&w, 32);
    sb_wr_i16(&w, 0);
    sb_wr_array(&w, false, 1);
    sb_wr_str(&w, false, topic);
    sb_wr_byts(&w, false, NULL, -1);
    memcpy(buf, w.buf, w.len);
    int32_t n = (int32_t)w.len;
    sb_wr_deinit(&w);
    return n;
}

/* Kafka drops every group's committed offsets of a deleted topic; the broker kept them, and a
 * topic re-created under the same name started its groups at the old positions. */
static void test_topic_deleted_takes_offsets_along(void **state)
{
    fixture_t *f = *state;
    int rc;
    kslot_t *s = commit(f, 7, "g1", -1, "",
                        (commit_part_t[]){{"orders", 0, 9, NULL}, {"orders", 1, 10, NULL}, {"payments", 0, 3, NULL}},
                        3, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    /* Accepted before the deletion, durable only after it: in the log before the tombstones. */
    kslot_t *pending = commit(f, 7, "g2", -1, "", (commit_part_t[]){{"orders", 2, 5, NULL}}, 1, &rc);
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);

    group_coordinator_topic_deleted(f->b.gc, "orders");
    fetched_t got[8];
    /* Visible until the tombstones are durable, like an OffsetDelete. */
    assert_int_equal(find_fetched(got, fetch(f, 5, "g1", true, got, 8), "orders", 0)->offset, 9);
    fake_run_durable(&f->b);
    int16_t codes[1];
    parse_commit(pending, codes, 1);
    assert_int_equal(codes[0], 0);
    fake_slot_free(pending);

    for (int round = 0; round < 2; round++) {
        int n = fetch(f, 5, "g1", true, got, 8);
        assert_int_equal(n, 1);
        assert_int_equal(find_fetched(got, n, "payments", 0)->offset, 3);
        assert_int_equal(fetch(f, 5, "g2", true, got, 8), 0);
        /* The tombstones replay: a restart does not bring the offsets back. */
        restart(f);
    }

    /* A topic without committed offsets writes nothing. */
    group_coordinator_topic_deleted(f->b.gc, "never-committed");
    assert_int_equal(f->b.durable_count, 0);
}

static void test_offset_delete(void **state)
{
    fixture_t *f = *state;
    int rc;
    kslot_t *s = commit(f, 7, "old", -1, "",
                        (commit_part_t[]){{"orders", 0, 9, NULL}, {"orders", 1, 10, NULL}, {"payments", 0, 3, NULL}}, 3, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);

    int16_t codes[4];
    s = offset_delete(f, "old", (del_part_t[]){{"orders", 0}, {"missing", 0}, {"orders", 9}}, 3, &rc);
    /* Like a commit: answered, and visible, once the tombstone is durable. */
    assert_int_equal(rc, KAFKA_HANDLER_DEFERRED);
    fetched_t got[8];
    assert_int_equal(find_fetched(got, fetch(f, 5, "old", false, got, 8), "orders", 0)->offset, 9);
    fake_run_durable(&f->b);
    assert_int_equal(parse_offset_delete(s, codes, 3), 0);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(codes[2], KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    fake_slot_free(s);
    int n = fetch(f, 5, "old", true, got, 8);
    assert_int_equal(n, 2);
    assert_null(find_fetched(got, n, "orders", 0));
    assert_int_equal(find_fetched(got, n, "orders", 1)->offset, 10);

    /* Group-level errors. */
    s = offset_delete(f, "never", (del_part_t[]){{"orders", 0}}, 1, &rc);
    assert_int_equal(parse_offset_delete(s, codes, 1), KAFKA_ERR_GROUP_ID_NOT_FOUND);
    fake_slot_free(s);
    s = offset_delete(f, "", (del_part_t[]){{"orders", 0}}, 1, &rc);
    assert_int_equal(parse_offset_delete(s, codes, 1), KAFKA_ERR_INVALID_GROUP_ID);
    fake_slot_free(s);

    /* The deletion survives a restart (the tombstone replays). */
    restart(f);
    n = fetch(f, 5, "old", true, got, 8);
    assert_int_equal(n, 2);
    assert_null(find_fetched(got, n, "orders", 0));

    /* A failed fsync answers a retriable error and keeps the offset in memory. */
    s = offset_delete(f, "old", (del_part_t[]){{"orders", 1}}, 1, &rc);
    f->b.durable_error = SB_EIO;
    fake_run_durable(&f->b);
    f->b.durable_error = 0;
    assert_int_equal(parse_offset_delete(s, codes, 1), 0);
    assert_int_equal(codes[0], KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    fake_slot_free(s);
    assert_int_equal(find_fetched(got, fetch(f, 5, "old", false, got, 8), "orders", 1)->offset, 10);


    /* A live consumer group keeps the offsets of topics it subscribes to. */
    char meta[64];
    int32_t len = subscription(meta, "orders");
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, "g1");
    sb_wr_i32(&w, 10000);
    sb_wr_i32(&w, 5000);
    sb_wr_str(&w, false, "");
    sb_wr_str(&w, false, "consumer");
    sb_wr_array(&w, false, 1);
    sb_wr_str(&w, false, "range");
    sb_wr_byts(&w, false, meta, len);
    kslot_t *j = fake_call(&f->b, handle_JoinGroup, KAFKA_API_JoinGroup, 3, "c", &w, &rc);
    sb_wr_deinit(&w);
    join_resp_t r = parse_join(j);
    fake_slot_free(j);
    kslot_t *sy = sync_group(f, 3, r.member_id, r.generation, (assignment_t[]){{r.member_id, "A"}}, 1, &rc);
    assert_int_equal(parse_sync(sy, NULL, 0), 0);
    fake_slot_free(sy);
    s = commit(f, 7, "g1", r.generation, r.member_id, (commit_part_t[]){{"orders", 0, 1, NULL}, {"payments", 0, 2, NULL}},
               2, &rc);
    fake_run_durable(&f->b);
    fake_slot_free(s);
    s = offset_delete(f, "g1", (del_part_t[]){{"orders", 0}, {"payments", 0}}, 2, &rc);
    fake_run_durable(&f->b);
    assert_int_equal(parse_offset_delete(s, codes, 2), 0);
    assert_int_equal(codes[0], KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
    assert_int_equal(codes[1], 0);
    fake_slot_free(s);
    n = fetch(f, 5, "g1", true, got, 8);
    assert_int_equal(n, 1);
    assert_int_equal(find_fetched(got, n, "orders", 0)->offset, 1);
}

static void test_find_coordinator(void **state)
{
    fixture_t *f = *state;
    for (int16_t v = 0; v <= 2; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 32);
        sb_wr_str(&w, false, "g1");
        if (v >= 1) sb_wr_i8(&w, 0);
        int rc;
        kslot_t *s = fake_call(&f->b, handle_FindCoordinator, KAFKA_API_FindCoordinator, v, "c", &w, &rc);
        sb_wr_deinit(&w);
        sb_rd_t rd;
        sb_rd_init(&rd, s->w.buf, s->w.len);
        if (v >= 1) assert_int_equal(sb_rd_i32(&rd), 0);
        assert_int_equal(sb_rd_i16(&rd), 0);
        if (v >= 1) assert_int_equal(sb_rd_string(&rd).len, -1);
        assert_int_equal(sb_rd_i32(&rd), 7);
        char host[64];
        copy_slice(host, sizeof(host), sb_rd_string(&rd));
        assert_string_equal(host, "broker.test");
        assert_int_equal(sb_rd_i32(&rd), 19092);
        assert_int_equal(sb_rd_remaining(&rd), 0);
        fake_slot_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_members_join_and_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_triggers_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry_and_rebalance_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphaned_join_is_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_checks_generation_and_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_coordinator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_fetch_flexible_and_many_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_deleted_takes_offsets_along, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_member_restart_keeps_assignment_without_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_member_survives_rebalance_until_session_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ended_session_counts_at_once_for_delete, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
