/* pgoutput / replication copy-stream decoder against byte vectors written out by hand from
 * PostgreSQL's "Logical Replication Message Formats" and "Streaming Replication Protocol". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connect/sources/pgoutput.h"

#define BE64(v)                                                                                                  \
    (uint8_t)((uint64_t)(v) >> 56), (uint8_t)((uint64_t)(v) >> 48), (uint8_t)((uint64_t)(v) >> 40),             \
        (uint8_t)((uint64_t)(v) >> 32), (uint8_t)((uint64_t)(v) >> 24), (uint8_t)((uint64_t)(v) >> 16),          \
        (uint8_t)((uint64_t)(v) >> 8), (uint8_t)(v)
#define BE32(v) (uint8_t)((uint32_t)(v) >> 24), (uint8_t)((uint32_t)(v) >> 16), (uint8_t)((uint32_t)(v) >> 8), (uint8_t)(v)
#define BE16(v) (uint8_t)((uint16_t)(v) >> 8), (uint8_t)(v)

static pgoutput_msg_t *msg;

static int setup(void **state)
{
    (void)state;
    msg = malloc(sizeof(*msg));
    return msg ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(msg);
    return 0;
}

static void assert_slice(sb_slice_t s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.p, want, strlen(want));
}

static void test_begin_and_commit(void **state)
{
    (void)state;
    const uint8_t begin[] = {'B', BE64(0x16B3748ULL), BE64(757000000123456LL), BE32(741)};
    sb_err_t err = {0};
    assert_int_equal(pgoutput_decode(begin, sizeof(begin), msg, &err), 0);
    assert_int_equal(msg->kind, PGOUTPUT_BEGIN);
    assert_true(msg->u.begin.final_lsn == 0x16B3748ULL);
    assert_true(msg->u.begin.commit_time_us == 757000000123456LL);
    assert_int_equal(msg->u.begin.xid, 741);

    const uint8_t commit[] = {'C', 0, BE64(0x16B3748ULL), BE64(0x16B3778ULL), BE64(757000000123456LL)};
    assert_int_equal(pgoutput_decode(commit, sizeof(commit), msg, &err), 0);
    assert_int_equal(msg->kind, PGOUTPUT_COMMIT);
    assert_true(msg->u.commit.commit_lsn == 0x16B3748ULL);
    assert_true(msg->u.commit.end_lsn == 0x16B3778ULL);
    assert_true(msg->u.commit.commit_time_us == 757000000123456LL);
}

static void test_relation(void **state)
{
    (void)state;
    /* public.orders (id int4 key, note varchar(20) typmod 24) with REPLICA IDENTITY DEFAULT */
    const uint8_t rel[] = {'R', BE32(16385), 'p', 'u', 'b', 'l', 'i', 'c', 0, 'o', 'r', 'd', 'e', 'r', 's', 0, 'd',
                           BE16(2), 1, 'i', 'd', 0, BE32(23), BE32(-1), 0, 'n', 'o', 't', 'e', 0, BE32(1043), BE32(24)};
    sb_err_t err = {0};
    assert_int_equal(pgoutput_decode(rel, sizeof(rel), msg, &err), 0);
    assert_int_equal(msg->kind, PGOUTPUT_RELATION);
    assert_int_equal(msg->u.relation.relid, 16385);
    assert_slice(msg->u.relation.nspname, "public");
    assert_slice(msg->u.relation.relname, "orders");
    assert_int_equal(msg->u.relation.replident, 'd');
    assert_int_equal(msg->u.relation.ncols, 2);
    assert_int_equal(msg->u.relation.cols[0].flags, PGOUTPUT_COLUMN_FLAG_KEY);
    assert_slice(msg->u.relation.cols[0].name, "id");
    assert_int_equal(msg->u.relation.cols[0].type_oid, 23);
    assert_int_equal(msg->u.relation.cols[0].typmod, -1);
    assert_int_equal(msg->u.relation.cols[1].flags, 0);
    assert_slice(msg->u.relation.cols[1].name, "note");
    assert_int_equal(msg->u.relation.cols[1].type_oid, 1043);
    assert_int_equal(msg->u.relation.cols[1].typmod, 24);

    /* A name whose terminating NUL is missing must not be read past the message. */
    assert_int_equal(pgoutput_decode(rel, 12, msg, &err), SB_EINVAL);
}

static void test_insert_with_null_and_toast(void **state)
{
    (void)state;
    const uint8_t ins[] = {'I', BE32(16385), 'N', BE16(3), 't', BE32(2), '4', '2', 'n', 'u'};
    sb_err_t err = {0};
    assert_int_equal(pgoutput_decode(ins, sizeof(ins), msg, &err), 0);
    assert_int_equal(msg->kind, PGOUTPUT_INSERT);
    assert_int_equal(msg->u.change.relid, 16385);
    assert_int_equal(msg->u.change.old_kind, 0);
    assert_true(msg->u.change.has_new);
    assert_int_equal(msg->new_tuple.ncols, 3);
    assert_int_equal(msg->new_tuple.cols[0].kind, 't');
    assert_slice(msg->new_tuple.cols[0].value, "42");
    assert_int_equal(msg->new_tuple.cols[1].kind, 'n');
    assert_int_equal(msg->new_tuple.cols[1].value.len, -1);
    assert_int_equal(msg->new_tuple.cols[2].kind, 'u');
}

static void test_update_forms(void **state)
{
    (void)state;
    sb_err_t err = {0};
    /* No old tuple: the key did not change and the identity is DEFAULT. */
    const uint8_t plain[] = {'U', BE32(7), 'N', BE16(1), 't', BE32(1), '1'};
    assert_int_equal(pgoutput_decode(plain, sizeof(plain), msg, &err), 0);
    assert_int_equal(msg->u.change.old_kind, 0);
    assert_slice(msg->new_tuple.cols[0].value, "1");

    /* 'K': the old key (key changed from 1 to 2). */
    const uint8_t keyed[] = {'U', BE32(7), 'K', BE16(1), 't', BE32(1), '1', 'N', BE16(1), 't', BE32(1), '2'};
    assert_int_equal(pgoutput_decode(keyed, sizeof(keyed), msg, &err), 0);
    assert_int_equal(msg->u.change.old_kind, 'K');
    assert_slice(msg->old_tuple.cols[0].value, "1");
    assert_slice(msg->new_tuple.cols[0].value, "2");

    /* 'O': the whole old row under REPLICA IDENTITY FULL. */
    const uint8_t full[] = {'U', BE32(7), 'O', BE16(2), 't', BE32(1), '1', 't', BE32(1), 'a',
                            'N', BE16(2), 't', BE32(1), '1', 't', BE32(1), 'b'};
    assert_int_equal(pgoutput_decode(full, sizeof(full), msg, &err), 0);
    assert_int_equal(msg->u.change.old_kind, 'O');
    assert_slice(msg->old_tuple.cols[1].value, "a");
    assert_slice(msg->new_tuple.cols[1].value, "b");

    /* Update without its new tuple is malformed. */
    const uint8_t no_new[] = {'U', BE32(7), 'K', BE16(1), 't', BE32(1), '1'};
    assert_int_equal(pgoutput_decode(no_new, sizeof(no_new), msg, &err), SB_EINVAL);
}

static void test_delete_and_truncate(void **state)
{
    (void)state;
    sb_err_t err = {0};
    const uint8_t del[] = {'D', BE32(7), 'K', BE16(2), 't', BE32(2), '4', '2', 'n'};
    assert_int_equal(pgoutput_decode(del, sizeof(del), msg, &err), 0);
    assert_int_equal(msg->kind, PGOUTPUT_DELETE);
    assert_int_equal(msg->u.change.old_kind, 'K');
    assert_false(msg->u.change.has_new);
    assert_slice(msg->old_tuple.cols[0].value, "42");

    const uint8_t del_bad[] = {'D', BE32(7), 'N', BE16(0)};
    assert_int_equal(pgoutput_decode(del_bad, sizeof(del_bad), msg, &err), SB_EINVAL);

    const uint8_t trunc[] = {'T', BE32(2), 3, BE32(16385), BE32(16390)};
    assert_int_equal(pgoutput_decode(trunc, sizeof(trunc), msg, &err), 0);
    assert_int_equal(msg->kind, PGOUTPUT_TRUNCATE);
    assert_int_equal(msg->u.truncate.options, 3);
    assert_int_equal(msg->u.truncate.nrelids, 2);
    assert_int_equal(pgoutput_truncate_relid(msg, 0), 16385);
    assert_int_equal(pgoutput_truncate_relid(msg, 1), 16390);

    /* A relation count larger than the message can hold is refused before anything is read. */
    const uint8_t trunc_huge[] = {'T', BE32(0x7fffffff), 0, BE32(1)};
    assert_int_equal(pgoutput_decode(trunc_huge, sizeof(trunc_huge), msg, &err), SB_EINVAL);
}

static void test_type_origin_message(void **state)
{
    (void)state;
    sb_err_t err = {0};
    const uint8_t type[] = {'Y', BE32(16400), 'p', 'u', 'b', 'l', 'i', 'c', 0, 'm', 'o', 'o', 'd', 0};
    assert_int_equal(pgoutput_decode(type, sizeof(type), msg, &err), 0);
    assert_int_equal(msg->u.type.type_oid, 16400);
    assert_slice(msg->u.type.typname, "mood");

    const uint8_t origin[] = {'O', BE64(0x100), 'n', 'o', 'd', 'e', '1', 0};
    assert_int_equal(pgoutput_decode(origin, sizeof(origin), msg, &err), 0);
    assert_slice(msg->u.origin.name, "node1");

    const uint8_t lmsg[] = {'M', 1, BE64(0x200), 'p', 0, BE32(3), 'a', 'b', 'c'};
    assert_int_equal(pgoutput_decode(lmsg, sizeof(lmsg), msg, &err), 0);
    assert_slice(msg->u.message.prefix, "p");
    assert_slice(msg->u.message.content, "abc");
}

static void test_malformed_inputs_are_refused(void **state)
{
    (void)state;
    sb_err_t err = {0};
    const uint8_t unknown[] = {'Z', 0, 0};
    assert_int_equal(pgoutput_decode(unknown, sizeof(unknown), msg, &err), SB_EINVAL);
    assert_int_equal(pgoutput_decode(unknown, 0, msg, &err), SB_EINVAL);
    /* Value length beyond the end of the message. */
    const uint8_t overlong[] = {'I', BE32(1), 'N', BE16(1), 't', BE32(100), 'x'};
    assert_int_equal(pgoutput_decode(overlong, sizeof(overlong), msg, &err), SB_EINVAL);
    /* Negative value length. */
    const uint8_t negative[] = {'I', BE32(1), 'N', BE16(1), 't', BE32(-5)};
    assert_int_equal(pgoutput_decode(negative, sizeof(negative), msg, &err), SB_EINVAL);
    /* More columns than PostgreSQL allows. */
    const uint8_t many[] = {'I', BE32(1), 'N', BE16(2000)};
    assert_int_equal(pgoutput_decode(many, sizeof(many), msg, &err), SB_EINVAL);
    /* Unknown column kind. */
    const uint8_t kind[] = {'I', BE32(1), 'N', BE16(1), 'x'};
    assert_int_equal(pgoutput_decode(kind, sizeof(kind), msg, &err), SB_EINVAL);
    /* Trailing garbage after a complete Begin. */
    const uint8_t trailing[] = {'B', BE64(1), BE64(2), BE32(3), 9};
    assert_int_equal(pgoutput_decode(trailing, sizeof(trailing), msg, &err), SB_EINVAL);
    /* Every proper prefix of a valid Update is refused, never read past. */
    const uint8_t full[] = {'U', BE32(7), 'O', BE16(2), 't', BE32(1), '1', 't', BE32(1), 'a',
                            'N', BE16(2), 't', BE32(1), '1', 't', BE32(1), 'b'};
    for (size_t n = 0; n < sizeof(full); n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, full, n);
        assert_int_equal(pgoutput_decode(copy, n, msg, &err), SB_EINVAL);
        free(copy);
    }
}

static void test_copy_stream_messages(void **state)
{
    (void)state;
    sb_err_t err = {0};
    pg_copy_msg_t cm;
    const uint8_t xlog[] = {'w', BE64(0x1000), BE64(0x2000), BE64(55), 'B', 1, 2};
    assert_int_equal(pg_copy_msg_decode(xlog, sizeof(xlog), &cm, &err), 0);
    assert_int_equal(cm.kind, PG_COPY_XLOGDATA);
    assert_true(cm.wal_start == 0x1000 && cm.wal_end == 0x2000 && cm.send_time_us == 55);
    assert_int_equal(cm.payload.len, 3);
    assert_int_equal(cm.payload.p[0], 'B');

    const uint8_t ka[] = {'k', BE64(0x3000), BE64(77), 1};
    assert_int_equal(pg_copy_msg_decode(ka, sizeof(ka), &cm, &err), 0);
    assert_int_equal(cm.kind, PG_COPY_KEEPALIVE);
    assert_true(cm.wal_end == 0x3000);
    assert_true(cm.reply_requested);
    assert_int_equal(pg_copy_msg_decode(ka, sizeof(ka) - 1, &cm, &err), SB_EINVAL);
    const uint8_t bad[] = {'x'};
    assert_int_equal(pg_copy_msg_decode(bad, 1, &cm, &err), SB_EINVAL);

    uint8_t st[PG_STANDBY_STATUS_LEN];
    pg_standby_status_encode(st, 0x10, 0x20, 0x30, 0x40, true);
    const uint8_t want[] = {'r', BE64(0x10), BE64(0x20), BE64(0x30), BE64(0x40), 1};
    assert_memory_equal(st, want, sizeof(want));
}

static void test_lsn_text(void **state)
{
    (void)state;
    char buf[18];
    pg_lsn_format(0x16B3748ULL, buf);
    assert_string_equal(buf, "0/16B3748");
    pg_lsn_format(0xA00000001ULL, buf);
    assert_string_equal(buf, "A/1");
    uint64_t v;
    assert_int_equal(pg_lsn_parse("0/16B3748", &v), 0);
    assert_true(v == 0x16B3748ULL);
    assert_int_equal(pg_lsn_parse("FFFFFFFF/ffffffff", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(pg_lsn_parse("1/", &v), SB_EINVAL);
    assert_int_equal(pg_lsn_parse("/1", &v), SB_EINVAL);
    assert_int_equal(pg_lsn_parse("123456789/1", &v), SB_EINVAL);
    assert_int_equal(pg_lsn_parse("12", &v), SB_EINVAL);
    assert_int_equal(pg_lsn_parse("g/1", &v), SB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_begin_and_commit),
        cmocka_unit_test(test_relation),
        cmocka_unit_test(test_insert_with_null_and_toast),
        cmocka_unit_test(test_update_forms),
        cmocka_unit_test(test_delete_and_truncate),
        cmocka_unit_test(test_type_origin_message),
        cmocka_unit_test(test_malformed_inputs_are_refused),
        cmocka_unit_test(test_copy_stream_messages),
        cmocka_unit_test(test_lsn_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
