/* Unit tests for the pure parts of the ScyllaDB source (connect/sources/scylla_cdc.c): the
 * cdc$operation mapping, cdc$time arithmetic, the emitted-change set, the fast-path and
 * safety-pass windows (including a simulated late write), and the position text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connect/sources/scylla_cdc.h"

static void test_operation_mapping(void **st)
{
    (void)st;
    /* Values from ScyllaDB's "CDC log table" documentation. */
    assert_int_equal(scylla_op_kind(0), 'I'); /* pre-image */
    assert_int_equal(scylla_op_kind(1), 'u');
    assert_int_equal(scylla_op_kind(2), 'c');
    assert_int_equal(scylla_op_kind(3), 'd'); /* row delete */
    assert_int_equal(scylla_op_kind(4), 'd'); /* partition delete */
    for (int op = 5; op <= 8; op++)
        assert_int_equal(scylla_op_kind(op), 'R');
    assert_int_equal(scylla_op_kind(9), 'I'); /* post-image */
    assert_int_equal(scylla_op_kind(10), 0);
    assert_int_equal(scylla_op_kind(-1), 0);
}

/* 2023-11-14T22:13:20.123Z as a version 1 UUID, built in Python from the RFC 4122 layout. */
static const uint8_t KNOWN[16] = {4,   194, 132, 176, 131, 59,  17,  238,
                                  128, 128, 128, 128, 128, 128, 128, 128};

static void test_timeuuid(void **st)
{
    (void)st;
    assert_int_equal(scylla_timeuuid_ms(KNOWN), 1700000000123LL);
    uint8_t mx[16];
    scylla_timeuuid_max(1700000000123LL, mx);
    assert_int_equal(scylla_timeuuid_ms(mx), 1700000000123LL);
    assert_int_equal(mx[6] >> 4, 1); /* version 1 */
    /* the max of a millisecond sorts after every id of it and before the next millisecond's */
    assert_true(scylla_timeuuid_cmp(KNOWN, mx) < 0);
    uint8_t next[16];
    scylla_timeuuid_max(1700000000124LL, next);
    assert_true(scylla_timeuuid_cmp(mx, next) < 0);
    uint8_t prev[16];
    scylla_timeuuid_max(1700000000122LL, prev);
    assert_true(scylla_timeuuid_cmp(prev, KNOWN) < 0);
    /* same timestamp: the rest compares as signed bytes, so 0x80 sorts before 0x7f */
    uint8_t a[16], b[16];
    memcpy(a, KNOWN, 16);
    memcpy(b, KNOWN, 16);
    b[8] = 0x7f;
    assert_true(scylla_timeuuid_cmp(a, b) < 0);
    assert_int_equal(scylla_timeuuid_cmp(a, a), 0);
    /* the timestamp decides before the other bytes */
    uint8_t c[16];
    memcpy(c, prev, 16);
    c[8] = 0x7f;
    assert_true(scylla_timeuuid_cmp(c, a) < 0);
    char text[37];
    scylla_uuid_format(KNOWN, text);
    assert_string_equal(text, "04c284b0-833b-11ee-8080-808080808080");
}

static scylla_change_id_t id_at(int64_t ms, int stream, int seq)
{
    scylla_change_id_t id;
    memset(&id, 0, sizeof(id));
    id.stream[15] = (uint8_t)stream;
    id.stream[0] = (uint8_t)(stream >> 8);
    scylla_timeuuid_max(ms, id.time);
    id.seq = seq;
    return id;
}

static void test_seen_set(void **st)
{
    (void)st;
    scylla_seen_t *s = scylla_seen_new();
    assert_non_null(s);
    scylla_change_id_t a = id_at(1000, 1, 0), b = id_at(1000, 1, 1), c = id_at(1000, 2, 0);
    assert_int_equal(scylla_seen_add(s, &a), 1);
    assert_int_equal(scylla_seen_add(s, &a), 0);
    assert_false(scylla_seen_contains(s, &b)); /* another batch_seq_no is another change */
    assert_false(scylla_seen_contains(s, &c)); /* another stream too */
    assert_int_equal(scylla_seen_add(s, &b), 1);
    /* growth keeps every id */
    for (int i = 0; i < 20000; i++) {
        scylla_change_id_t x = id_at(2000 + i, i % 300, i % 3);
        assert_int_equal(scylla_seen_add(s, &x), 1);
    }
    assert_int_equal(scylla_seen_count(s), 20002);
    for (int i = 0; i < 20000; i += 7) {
        scylla_change_id_t x = id_at(2000 + i, i % 300, i % 3);
        assert_true(scylla_seen_contains(s, &x));
    }
    /* pruning forgets ids at or before the time, keeps the rest */
    scylla_seen_prune(s, 2000 + 9999);
    assert_int_equal(scylla_seen_count(s), 10000);
    assert_false(scylla_seen_contains(s, &a));
    scylla_change_id_t kept = id_at(2000 + 10000, 10000 % 300, 10000 % 3),
                       gone = id_at(2000 + 9999, 9999 % 300, 0);
    assert_true(scylla_seen_contains(s, &kept));
    assert_false(scylla_seen_contains(s, &gone));
    scylla_seen_prune(s, INT64_MAX / 20000);
    assert_int_equal(scylla_seen_count(s), 0);
    scylla_seen_free(s);
    scylla_seen_free(NULL);
}

static const scylla_window_cfg_t CFG = {
    .lag_ms = 1000, .confidence_ms = 30000, .query_window_ms = 30000};

static void test_fast_window(void **st)
{
    (void)st;
    scylla_progress_t p = {
        .gen_ms = 0, .gen_end_ms = INT64_MAX, .final_ms = 100000, .fast_ms = 100000};
    int64_t from, to;
    /* nothing until now - lag passes fast_ms */
    assert_false(scylla_fast_window(&p, &CFG, 101000, &from, &to));
    assert_true(scylla_fast_window(&p, &CFG, 101500, &from, &to));
    assert_int_equal(from, 100000);
    assert_int_equal(to, 100500);
    /* catching up: at most one query window */
    assert_true(scylla_fast_window(&p, &CFG, 500000, &from, &to));
    assert_int_equal(to, 130000);
    /* never past the generation's end (its last millisecond is end - 1) */
    p.gen_end_ms = 110000;
    assert_true(scylla_fast_window(&p, &CFG, 500000, &from, &to));
    assert_int_equal(to, 109999);
    p.fast_ms = 109999;
    assert_false(scylla_fast_window(&p, &CFG, 500000, &from, &to));
}

static void test_safety_window_and_final(void **st)
{
    (void)st;
    scylla_progress_t p = {
        .gen_ms = 0, .gen_end_ms = INT64_MAX, .final_ms = 100000, .fast_ms = 100000};
    int64_t from, to;
    assert_false(scylla_safety_window(&p, &from, &to));
    p.fast_ms = 150000;
    assert_true(scylla_safety_window(&p, &from, &to));
    assert_int_equal(from, 100000);
    assert_int_equal(to, 150000);
    /* a pass started at 151000: only what is older than 151000 - 30000 is final */
    scylla_safety_done(&p, &CFG, 151000, to);
    assert_int_equal(p.final_ms, 121000);
    /* the final time never moves back, and never past what was read */
    scylla_safety_done(&p, &CFG, 140000, to);
    assert_int_equal(p.final_ms, 121000);
    scylla_safety_done(&p, &CFG, 900000, to);
    assert_int_equal(p.final_ms, 150000);
    assert_false(scylla_progress_finished(&p));
    p.gen_end_ms = 150001;
    assert_true(scylla_progress_finished(&p));
    /* a generation that ended: final stops at its last millisecond */
    scylla_progress_t q = {
        .gen_ms = 0, .gen_end_ms = 120000, .final_ms = 100000, .fast_ms = 119999};
    scylla_safety_done(&q, &CFG, 900000, 119999);
    assert_int_equal(q.final_ms, 119999);
    assert_true(scylla_progress_finished(&q));
}

/* A reader driven by a simulated clock over changes that become visible some time after their
 * cdc$time: every change visible within the confidence window is emitted exactly once, one
 * visible later is not emitted at all (the documented trade-off). */
typedef struct sim_change {
    int64_t time_ms, visible_ms;
    int emitted;
} sim_change_t;

static void sim_read(sim_change_t *ch, int n, scylla_seen_t *seen, int64_t from, int64_t to,
                     int64_t now)
{
    for (int i = 0; i < n; i++) {
        if (ch[i].visible_ms > now || ch[i].time_ms <= from || ch[i].time_ms > to) continue;
        scylla_change_id_t id = id_at(ch[i].time_ms, 7, i);
        if (scylla_seen_add(seen, &id) == 1) ch[i].emitted++;
    }
}

static void test_simulated_late_writes(void **st)
{
    (void)st;
    scylla_window_cfg_t cfg = {.lag_ms = 1000, .confidence_ms = 30000, .query_window_ms = 30000};
    sim_change_t ch[] = {
        {10000, 10005, 0}, /* ordinary */
        {20000, 20900, 0}, /* visible just within the fast lag */
        {30000, 35000, 0}, /* 5 s late: the safety pass */
        {40000, 69000, 0}, /* 29 s late: the safety pass, just */
        {50000, 95000, 0}, /* 45 s late: beyond the confidence window */
        {60000, 60001, 0},
    };
    int n = (int)(sizeof(ch) / sizeof(ch[0]));
    scylla_seen_t *seen = scylla_seen_new();
    scylla_progress_t p = {.gen_ms = 0, .gen_end_ms = INT64_MAX, .final_ms = 0, .fast_ms = 0};
    int64_t next_safety = 0;
    for (int64_t now = 0; now <= 200000; now += 100) {
        int64_t from, to;
        if (scylla_fast_window(&p, &cfg, now, &from, &to)) {
            sim_read(ch, n, seen, from, to, now);
            p.fast_ms = to;
        }
        if (now >= next_safety) {
            if (scylla_safety_window(&p, &from, &to)) sim_read(ch, n, seen, from, to, now);
            scylla_safety_done(&p, &cfg, now, p.fast_ms);
            scylla_seen_prune(seen, p.final_ms);
            next_safety = now + 5000;
        }
    }
    assert_int_equal(ch[0].emitted, 1);
    assert_int_equal(ch[1].emitted, 1);
    assert_int_equal(ch[2].emitted, 1);
    assert_int_equal(ch[3].emitted, 1);
    assert_int_equal(ch[4].emitted, 0);
    assert_int_equal(ch[5].emitted, 1);
    /* the set holds no more than the window that can still change */
    assert_true(scylla_seen_count(seen) <= 1);
    scylla_seen_free(seen);
}

static void test_position_round_trip(void **st)
{
    (void)st;
    scylla_pos_entry_t in[2] = {
        {.table = "shop.orders",
         .gen_ms = 1700000000000LL,
         .key = -9223372036854775807LL - 1,
         .final_ms = 1700000031000LL,
         .last = "04c284b0-833b-11ee-8080-808080808080/3"},
        {.table = "shop.lines",
         .gen_ms = 1700000000000LL,
         .key = 4611686018427387903LL,
         .final_ms = 1699999999999LL,
         .last = ""},
    };
    sb_wr_t w;
    sb_wr_init(&w, 64);
    scylla_pos_write(&w, in, 2);
    sb_wr_bytes(&w, "", 1);
    assert_string_equal(
        (const char *)w.buf,
        "{\"v\":1,\"groups\":[[\"shop.orders\",1700000000000,-9223372036854775808,1700000031000,"
        "\"04c284b0-833b-11ee-8080-808080808080/"
        "3\"],[\"shop.lines\",1700000000000,4611686018427387903,"
        "1699999999999,\"\"]]}");
    scylla_pos_entry_t *out;
    int n;
    sb_err_t err = {0};
    assert_int_equal(scylla_pos_parse((const char *)w.buf, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(&out[0], &in[0], sizeof(in[0]));
    assert_int_equal(out[1].key, in[1].key);
    assert_string_equal(out[1].table, "shop.lines");
    free(out);
    sb_wr_deinit(&w);
    assert_int_equal(scylla_pos_parse("{\"v\":1,\"groups\":[]}", &out, &n, &err), 0);
    assert_int_equal(n, 0);
    free(out);
}

static void test_position_errors(void **st)
{
    (void)st;
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"0/16B3748", "not JSON"},
        {"{\"v\":2,\"groups\":[]}", "must be {\"v\":1"},
        {"{\"v\":1}", "must be {\"v\":1"},
        {"[1]", "must be {\"v\":1"},
        {"{\"v\":1,\"groups\":[[\"shop.t\",1,2,3]]}", "group 0"},
        {"{\"v\":1,\"groups\":[[\"shop.t\",1,2,3,\"\"],[\"t\",1,2,3,\"\"]]}", "group 1"},
        {"{\"v\":1,\"groups\":[[\"shop.t\",1,2,\"3\",\"\"]]}", "group 0"},
        {"{\"v\":1,\"groups\":[[\"shop.t\",1,2,3,\"a\\\"b\"]]}", "group 0"},
        {"{\"v\":1,\"groups\":[[\"sh\\\"op.t\",1,2,3,\"\"]]}", "group 0"},
        {"{\"v\":1,\"groups\":[[\"shop.t\",1,2,3,"
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]]}",
         "group 0"},
        {"{\"v\":1,\"v\":1,\"groups\":[]}", "not JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        scylla_pos_entry_t *out = NULL;
        int n = -1;
        sb_err_t err = {0};
        assert_int_equal(scylla_pos_parse(bad[i].text, &out, &n, &err), SB_EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("position %s: message \"%s\" lacks \"%s\"", bad[i].text, err.msg, bad[i].msg);
        assert_null(out);
    }
}

static void test_token_ranges(void **st)
{
    (void)st;
    int64_t lo, hi, prev_hi = 0;
    for (int n = 1; n <= 7; n++) {
        for (int i = 0; i < n; i++) {
            scylla_token_range(i, n, &lo, &hi);
            if (i == 0)
                assert_true(lo == INT64_MIN);
            else
                assert_true(lo == prev_hi); /* (lo, hi] ranges meet exactly */
            assert_true(hi > lo);
            prev_hi = hi;
        }
        assert_true(prev_hi == INT64_MAX);
    }
    scylla_token_range(1, 4, &lo, &hi);
    assert_true(lo == INT64_MIN + (int64_t)(UINT64_MAX / 4));
}

static void test_snapshot_position(void **st)
{
    (void)st;
    sb_wr_t w;
    sb_wr_init(&w, 64);
    scylla_pos_write_snapshot(&w, 1700000000000LL, 3, 8);
    sb_wr_bytes(&w, "", 1);
    int64_t start = 0;
    int done = 0, units = 0;
    sb_err_t err = {0};
    assert_int_equal(scylla_pos_snapshot((const char *)w.buf, &start, &done, &units, &err), 1);
    assert_true(start == 1700000000000LL);
    assert_int_equal(done, 3);
    assert_int_equal(units, 8);
    scylla_pos_entry_t *e;
    int n;
    assert_int_equal(scylla_pos_parse((const char *)w.buf, &e, &n, &err),
                     0); /* also a valid group list */
    assert_int_equal(n, 0);
    free(e);
    sb_wr_deinit(&w);
    assert_int_equal(scylla_pos_snapshot("{\"v\":1,\"groups\":[]}", &start, &done, &units, &err),
                     0);
    assert_int_equal(
        scylla_pos_snapshot(
            "{\"v\":1,\"snapshot\":{\"start_ms\":1,\"done\":9,\"units\":8},\"groups\":[]}", &start,
            &done, &units, &err),
        SB_EINVAL);
    assert_non_null(strstr(err.msg, "0 <= k <= u"));
}

static void test_table_names(void **st)
{
    (void)st;
    assert_true(scylla_valid_table_name("shop.orders"));
    assert_true(scylla_valid_table_name("orders_2"));
    assert_false(scylla_valid_table_name(""));
    assert_false(scylla_valid_table_name("shop."));
    assert_false(scylla_valid_table_name(".orders"));
    assert_false(scylla_valid_table_name("a.b.c"));
    assert_false(scylla_valid_table_name("shop.\"Orders\""));
    assert_false(scylla_valid_table_name("shop.or-ders"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operation_mapping),
        cmocka_unit_test(test_timeuuid),
        cmocka_unit_test(test_seen_set),
        cmocka_unit_test(test_fast_window),
        cmocka_unit_test(test_safety_window_and_final),
        cmocka_unit_test(test_simulated_late_writes),
        cmocka_unit_test(test_position_round_trip),
        cmocka_unit_test(test_position_errors),
        cmocka_unit_test(test_table_names),
        cmocka_unit_test(test_token_ranges),
        cmocka_unit_test(test_snapshot_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
