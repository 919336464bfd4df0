/* The group APIs' request decoders and response encoders, for every supported version, against
 * byte vectors written field by field from the Kafka JSON message schemas. Each vector is also
 * fed back truncated at every length to check that a short body is rejected, never over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/group/group_codec.h"
#include "kafka/protocol.h"

static bool slice_is(sb_slice_t s, const char *want)
{
    return s.len == (int32_t)strlen(want) && memcmp(s.p, want, (size_t)s.len) == 0;
}

typedef int (*decode_fn)(const uint8_t *p, size_t len, int16_t v);

/* Every proper prefix of a valid body must fail to decode. */
static void check_truncations(const sb_wr_t *w, int16_t v, decode_fn fn)
{
    for (size_t n = 0; n < w->len; n++) assert_int_not_equal(fn(w->buf, n, v), 0);
}

static int decode_join(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    join_group_request_t rq;
    int rc = join_group_request_decode(&rd, v, &rq);
    join_group_request_deinit(&rq);
    return rc;
}

static void test_join_group_request(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 5; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 64);
        sb_wr_str(&w, false, "grp");           /* GroupId */
        sb_wr_i32(&w, 30000);                  /* SessionTimeoutMs */
        if (v >= 1) sb_wr_i32(&w, 60000);      /* RebalanceTimeoutMs v1+ */
        sb_wr_str(&w, false, "m-1");           /* MemberId */
        if (v >= 5) sb_wr_str(&w, false, "i"); /* GroupInstanceId v5+ */
        sb_wr_str(&w, false, "consumer");      /* ProtocolType */
        sb_wr_array(&w, false, 2);             /* Protocols */
        sb_wr_str(&w, false, "range");
        sb_wr_byts(&w, false, "\x00\x01", 2);
        sb_wr_str(&w, false, "rr");
        sb_wr_byts(&w, false, "", 0);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        join_group_request_t rq;
        assert_int_equal(join_group_request_decode(&rd, v, &rq), 0);
        assert_true(slice_is(rq.group_id, "grp"));
        assert_int_equal(rq.session_timeout_ms, 30000);
        assert_int_equal(rq.rebalance_timeout_ms, v >= 1 ? 60000 : 30000);
        assert_true(slice_is(rq.member_id, "m-1"));
        if (v >= 5) assert_true(slice_is(rq.group_instance_id, "i"));
        else assert_int_equal(rq.group_instance_id.len, -1);
        assert_true(slice_is(rq.protocol_type, "consumer"));
        assert_int_equal(rq.protocol_count, 2);
        assert_true(slice_is(rq.protocols[1].name, "rr"));
        assert_int_equal(rq.protocols[0].metadata.len, 2);
        assert_int_equal(rq.protocols[1].metadata.len, 0);
        join_group_request_deinit(&rq);
        check_truncations(&w, v, decode_join);
        sb_wr_deinit(&w);
    }
    /* Versions outside the range are refused. */
    assert_int_not_equal(decode_join((const uint8_t *)"", 0, 6), 0);
}

static void test_join_group_response(void **state)
{
    (void)state;
    join_group_response_member_t m[] = {{"m-1", NULL, (const uint8_t *)"md", 2}};
    for (int16_t v = 0; v <= 5; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 64);
        join_group_response_encode(&w, v, 0, 3, "range", "m-1", "m-1", m, 1);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        if (v >= 2) assert_int_equal(sb_rd_i32(&rd), 0); /* ThrottleTimeMs v2+ */
        assert_int_equal(sb_rd_i16(&rd), 0);
        assert_int_equal(sb_rd_i32(&rd), 3);
        assert_true(slice_is(sb_rd_string(&rd), "range"));
        assert_true(slice_is(sb_rd_string(&rd), "m-1"));
        assert_true(slice_is(sb_rd_string(&rd), "m-1"));
        assert_int_equal(sb_rd_array(&rd, false, 0), 1);
        assert_true(slice_is(sb_rd_string(&rd), "m-1"));
        if (v >= 5) assert_int_equal(sb_rd_string(&rd).len, -1); /* GroupInstanceId v5+ */
        assert_true(slice_is(sb_rd_kbytes(&rd), "md"));
        assert_true(sb_rd_ok(&rd));
        assert_int_equal(sb_rd_remaining(&rd), 0);
        sb_wr_deinit(&w);
    }
}

static int decode_sync(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    sync_group_request_t rq;
    int rc = sync_group_request_decode(&rd, v, &rq);
    sync_group_request_deinit(&rq);
    return rc;
}

static void test_sync_group(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 3; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 64);
        sb_wr_str(&w, false, "grp");
        sb_wr_i32(&w, 4);
        sb_wr_str(&w, false, "m-1");
        if (v >= 3) sb_wr_str(&w, false, NULL);
        sb_wr_array(&w, false, 1);
        sb_wr_str(&w, false, "m-2");
        sb_wr_byts(&w, false, "asg", 3);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        sync_group_request_t rq;
        assert_int_equal(sync_group_request_decode(&rd, v, &rq), 0);
        assert_int_equal(rq.generation_id, 4);
        assert_true(slice_is(rq.member_id, "m-1"));
        assert_int_equal(rq.assignment_count, 1);
        assert_true(slice_is(rq.assignments[0].member_id, "m-2"));
        assert_true(slice_is(rq.assignments[0].assignment, "asg"));
        sync_group_request_deinit(&rq);
        check_truncations(&w, v, decode_sync);
        sb_wr_reset(&w);
        sync_group_response_encode(&w, v, 27, (const uint8_t *)"ab", 2);
        assert_int_equal(w.len, (v >= 1 ? 4u : 0u) + 2 + 4 + 2);
        assert_int_equal(w.buf[v >= 1 ? 5 : 1], 27);
        sb_wr_deinit(&w);
    }
}

static int decode_heartbeat(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    heartbeat_request_t rq;
    return heartbeat_request_decode(&rd, v, &rq);
}

static int decode_leave(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    leave_group_request_t rq;
    return leave_group_request_decode(&rd, v, &rq);
}

static void test_heartbeat_and_leave(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 3; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 32);
        sb_wr_str(&w, false, "grp");
        sb_wr_i32(&w, 9);
        sb_wr_str(&w, false, "m");
        if (v >= 3) sb_wr_str(&w, false, "inst");
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        heartbeat_request_t rq;
        assert_int_equal(heartbeat_request_decode(&rd, v, &rq), 0);
        assert_int_equal(rq.generation_id, 9);
        assert_true(slice_is(rq.member_id, "m"));
        if (v >= 3) assert_true(slice_is(rq.group_instance_id, "inst"));
        check_truncations(&w, v, decode_heartbeat);
        sb_wr_reset(&w);
        heartbeat_response_encode(&w, v, 22);
        assert_int_equal(w.len, v >= 1 ? 6u : 2u);
        sb_wr_deinit(&w);
    }
    for (int16_t v = 0; v <= 1; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 32);
        sb_wr_str(&w, false, "grp");
        sb_wr_str(&w, false, "m");
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        leave_group_request_t rq;
        assert_int_equal(leave_group_request_decode(&rd, v, &rq), 0);
        assert_true(slice_is(rq.member_id, "m"));
        check_truncations(&w, v, decode_leave);
        sb_wr_reset(&w);
        leave_group_response_encode(&w, v, 0);
        assert_int_equal(w.len, v >= 1 ? 6u : 2u);
        sb_wr_deinit(&w);
    }
    assert_int_not_equal(decode_leave((const uint8_t *)"", 0, 2), 0);
}

static int decode_commit(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    offset_commit_request_t rq;
    int rc = offset_commit_request_decode(&rd, v, &rq);
    offset_commit_request_deinit(&rq);
    return rc;
}

static void test_offset_commit(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 7; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 64);
        sb_wr_str(&w, false, "grp");
        if (v >= 1) {
            sb_wr_i32(&w, 2);       /* GenerationId v1+ */
            sb_wr_str(&w, false, "m"); /* MemberId v1+ */
        }
        if (v >= 7) sb_wr_str(&w, false, NULL);       /* GroupInstanceId v7+ */
        if (v >= 2 && v <= 4) sb_wr_i64(&w, 86400000); /* RetentionTimeMs v2-4 */
        sb_wr_array(&w, false, 1);
        sb_wr_str(&w, false, "orders");
        sb_wr_array(&w, false, 2);
        for (int p = 0; p < 2; p++) {
            sb_wr_i32(&w, p);
            sb_wr_i64(&w, 1000 + p);
            if (v >= 6) sb_wr_i32(&w, 3);  /* CommittedLeaderEpoch v6+ */
            if (v == 1) sb_wr_i64(&w, 77); /* CommitTimestamp v1 only */
            sb_wr_str(&w, false, p ? NULL : "meta");
        }
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        offset_commit_request_t rq;
        assert_int_equal(offset_commit_request_decode(&rd, v, &rq), 0);
        assert_int_equal(rq.generation_id, v >= 1 ? 2 : -1);
        assert_int_equal(rq.retention_time_ms, v >= 2 && v <= 4 ? 86400000 : -1);
        assert_int_equal(rq.topic_count, 1);
        assert_int_equal(rq.topics[0].partition_count, 2);
        offset_commit_partition_t *p1 = &rq.topics[0].partitions[1];
        assert_int_equal(p1->partition_index, 1);
        assert_int_equal(p1->committed_offset, 1001);
        assert_int_equal(p1->committed_leader_epoch, v >= 6 ? 3 : -1);
        assert_int_equal(p1->commit_timestamp, v == 1 ? 77 : -1);
        assert_int_equal(p1->committed_metadata.len, -1);
        assert_true(slice_is(rq.topics[0].partitions[0].committed_metadata, "meta"));
        check_truncations(&w, v, decode_commit);

        int16_t codes[] = {0, 3};
        sb_wr_t out; /* rq borrows w's bytes */
        sb_wr_init(&out, 64);
        offset_commit_response_encode(&out, v, &rq, codes);
        sb_rd_init(&rd, out.buf, out.len);
        if (v >= 3) assert_int_equal(sb_rd_i32(&rd), 0); /* ThrottleTimeMs v3+ */
        assert_int_equal(sb_rd_array(&rd, false, 0), 1);
        assert_true(slice_is(sb_rd_string(&rd), "orders"));
        assert_int_equal(sb_rd_array(&rd, false, 0), 2);
        assert_int_equal(sb_rd_i32(&rd), 0);
        assert_int_equal(sb_rd_i16(&rd), 0);
        assert_int_equal(sb_rd_i32(&rd), 1);
        assert_int_equal(sb_rd_i16(&rd), 3);
        assert_int_equal(sb_rd_remaining(&rd), 0);
        offset_commit_request_deinit(&rq);
        sb_wr_deinit(&out);
        sb_wr_deinit(&w);
    }
}

static int decode_fetch(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    offset_fetch_request_t rq;
    int rc = offset_fetch_request_decode(&rd, v, &rq);
    offset_fetch_request_deinit(&rq);
    return rc;
}

/* One group's request part: GroupId, Topics [Name, PartitionIndexes] (compact from v6, with tag
 * sections); topics < 0 writes a null array. */
static void wr_fetch_group(sb_wr_t *w, int16_t v, const char *group, int topics)
{
    bool c = v >= 6;
    sb_wr_str(w, c, group);
    if (topics < 0) {
        sb_wr_array(w, c, -1);
        return;
    }
    sb_wr_array(w, c, topics);
    for (int t = 0; t < topics; t++) {
        sb_wr_str(w, c, t == 0 ? "orders" : "payments");
        sb_wr_array(w, c, 2);
        sb_wr_i32(w, 0);
        sb_wr_i32(w, 2);
        sb_wr_tags(w, c);
    }
}

static void test_offset_fetch(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 8; v++) {
        bool c = v >= 6;
        sb_wr_t w;
        sb_wr_init(&w, 64);
        if (v >= 8) {
            sb_wr_array(&w, true, 2); /* Groups */
            wr_fetch_group(&w, v, "grp", 2);
            sb_wr_tags(&w, true);
            wr_fetch_group(&w, v, "g2", -1);
            sb_wr_tags(&w, true);
        } else {
            wr_fetch_group(&w, v, "grp", 2);
        }
        if (v >= 7) sb_wr_i8(&w, 1); /* RequireStable */
        sb_wr_tags(&w, c);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        offset_fetch_request_t rq;
        assert_int_equal(offset_fetch_request_decode(&rd, v, &rq), 0);
        assert_int_equal(rq.group_count, v >= 8 ? 2 : 1);
        assert_true(slice_is(rq.groups[0].group_id, "grp"));
        assert_int_equal(rq.groups[0].topic_count, 2);
        assert_true(slice_is(rq.groups[0].topics[1].name, "payments"));
        assert_int_equal(rq.groups[0].topics[0].partition_indexes[1], 2);
        if (v >= 8) {
            assert_true(slice_is(rq.groups[1].group_id, "g2"));
            assert_int_equal(rq.groups[1].topic_count, -1);
        }
        assert_int_equal(rq.require_stable, v >= 7);
        assert_int_equal(sb_rd_remaining(&rd), 0);
        offset_fetch_request_deinit(&rq);
        check_truncations(&w, v, decode_fetch);

        /* A null topic array means "all topics" from v2 and is malformed before. */
        if (v < 8) {
            sb_wr_reset(&w);
            wr_fetch_group(&w, v, "grp", -1);
            if (v >= 7) sb_wr_i8(&w, 0);
            sb_wr_tags(&w, c);
            sb_rd_init(&rd, w.buf, w.len);
            int rc = offset_fetch_request_decode(&rd, v, &rq);
            if (v >= 2) {
                assert_int_equal(rc, 0);
                assert_int_equal(rq.groups[0].topic_count, -1);
            } else {
                assert_int_not_equal(rc, 0);
            }
            offset_fetch_request_deinit(&rq);
        }

        sb_wr_reset(&w);
        offset_fetch_response_begin(&w, v, 1);
        offset_fetch_response_group(&w, v, "grp", 3, 1);
        offset_fetch_response_topic(&w, v, "orders", 6, 1);
        offset_fetch_response_partition(&w, v, 2, 55, 4, "md", 0);
        offset_fetch_response_topic_end(&w, v);
        offset_fetch_response_group_end(&w, v, 15);
        offset_fetch_response_end(&w, v);
        sb_rd_init(&rd, w.buf, w.len);
        if (v >= 3) assert_int_equal(sb_rd_i32(&rd), 0); /* ThrottleTimeMs */
        if (v >= 8) {
            assert_int_equal(sb_rd_array(&rd, true, 0), 1);
            assert_true(slice_is(sb_rd_compact_string(&rd), "grp"));
        }
        assert_int_equal(sb_rd_array(&rd, c, 0), 1);
        assert_true(slice_is(c ? sb_rd_compact_string(&rd) : sb_rd_string(&rd), "orders"));
        assert_int_equal(sb_rd_array(&rd, c, 0), 1);
        assert_int_equal(sb_rd_i32(&rd), 2);
        assert_int_equal(sb_rd_i64(&rd), 55);
        if (v >= 5) assert_int_equal(sb_rd_i32(&rd), 4); /* CommittedLeaderEpoch v5+ */
        assert_true(slice_is(c ? sb_rd_compact_string(&rd) : sb_rd_string(&rd), "md"));
        assert_int_equal(sb_rd_i16(&rd), 0);
        if (c) {
            assert_int_equal(sb_rd_uvarint(&rd), 0); /* partition tags */
            assert_int_equal(sb_rd_uvarint(&rd), 0); /* topic tags */
        }
        if (v >= 2) assert_int_equal(sb_rd_i16(&rd), 15); /* ErrorCode: top-level, or the group's at v8 */
        if (v >= 8) assert_int_equal(sb_rd_uvarint(&rd), 0); /* group tags */
        if (c) assert_int_equal(sb_rd_uvarint(&rd), 0);
        assert_true(sb_rd_ok(&rd));
        assert_int_equal(sb_rd_remaining(&rd), 0);
        sb_wr_deinit(&w);
    }
    assert_int_not_equal(decode_fetch((const uint8_t *)"", 0, 9), 0);
}

/* librdkafka 2.0.2 asks for all partitions at v6/v7 with a 4-byte zero placeholder instead of a
 * compact array count: a null array, then zeros read as RequireStable and tags, then leftovers. */
static void test_offset_fetch_librdkafka_all_partitions(void **state)
{
    (void)state;
    for (int16_t v = 6; v <= 7; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 16);
        sb_wr_str(&w, true, "grp");
        sb_wr_i32(&w, 0); /* the placeholder */
        if (v >= 7) sb_wr_i8(&w, 0);
        sb_wr_tags(&w, true);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        offset_fetch_request_t rq;
        assert_int_equal(offset_fetch_request_decode(&rd, v, &rq), 0);
        assert_int_equal(rq.group_count, 1);
        assert_int_equal(rq.groups[0].topic_count, -1);
        offset_fetch_request_deinit(&rq);
        sb_wr_deinit(&w);
    }
}

static int decode_offset_delete(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    offset_delete_request_t rq;
    int rc = offset_delete_request_decode(&rd, v, &rq);
    offset_delete_request_deinit(&rq);
    return rc;
}

static void test_offset_delete(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_wr_init(&w, 64);
    sb_wr_str(&w, false, "grp"); /* GroupId */
    sb_wr_array(&w, false, 2);   /* Topics */
    sb_wr_str(&w, false, "orders");
    sb_wr_array(&w, false, 2); /* Partitions [PartitionIndex] */
    sb_wr_i32(&w, 0);
    sb_wr_i32(&w, 5);
    sb_wr_str(&w, false, "payments");
    sb_wr_array(&w, false, 1);
    sb_wr_i32(&w, 1);
    sb_rd_t rd;
    sb_rd_init(&rd, w.buf, w.len);
    offset_delete_request_t rq;
    assert_int_equal(offset_delete_request_decode(&rd, 0, &rq), 0);
    assert_true(slice_is(rq.group_id, "grp"));
    assert_int_equal(rq.topic_count, 2);
    assert_int_equal(rq.topics[0].partition_indexes[1], 5);
    assert_true(slice_is(rq.topics[1].name, "payments"));
    check_truncations(&w, 0, decode_offset_delete);

    sb_wr_t out;
    sb_wr_init(&out, 64);
    int16_t codes[3] = {0, 3, 86};
    offset_delete_response_encode(&out, 0, 0, &rq, codes);
    sb_rd_init(&rd, out.buf, out.len);
    assert_int_equal(sb_rd_i16(&rd), 0); /* ErrorCode */
    assert_int_equal(sb_rd_i32(&rd), 0); /* ThrottleTimeMs */
    assert_int_equal(sb_rd_array(&rd, false, 0), 2);
    assert_true(slice_is(sb_rd_string(&rd), "orders"));
    assert_int_equal(sb_rd_array(&rd, false, 0), 2);
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_int_equal(sb_rd_i32(&rd), 5);
    assert_int_equal(sb_rd_i16(&rd), 3);
    assert_true(slice_is(sb_rd_string(&rd), "payments"));
    assert_int_equal(sb_rd_array(&rd, false, 0), 1);
    assert_int_equal(sb_rd_i32(&rd), 1);
    assert_int_equal(sb_rd_i16(&rd), 86);
    assert_int_equal(sb_rd_remaining(&rd), 0);

    /* A group-level error carries no topics. */
    sb_wr_reset(&out);
    offset_delete_response_encode(&out, 0, KAFKA_ERR_GROUP_ID_NOT_FOUND, &rq, NULL);
    sb_rd_init(&rd, out.buf, out.len);
    assert_int_equal(sb_rd_i16(&rd), KAFKA_ERR_GROUP_ID_NOT_FOUND);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_array(&rd, false, 0), 0);
    assert_int_equal(sb_rd_remaining(&rd), 0);
    offset_delete_request_deinit(&rq);

    /* A null topic array is malformed; v1 is not served. */
    sb_wr_reset(&w);
    sb_wr_str(&w, false, "grp");
    sb_wr_array(&w, false, -1);
    assert_int_not_equal(decode_offset_delete(w.buf, w.len, 0), 0);
    assert_int_not_equal(decode_offset_delete(w.buf, w.len, 1), 0);
    sb_wr_deinit(&out);
    sb_wr_deinit(&w);
}

static int decode_describe(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    describe_groups_request_t rq;
    int rc = describe_groups_request_decode(&rd, v, &rq);
    describe_groups_request_deinit(&rq);
    return rc;
}

static void test_describe_list_delete(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 4; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 64);
        sb_wr_array(&w, false, 2);
        sb_wr_str(&w, false, "a");
        sb_wr_str(&w, false, "bb");
        if (v >= 3) sb_wr_bool(&w, true); /* IncludeAuthorizedOperations v3+ */
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        describe_groups_request_t rq;
        assert_int_equal(describe_groups_request_decode(&rd, v, &rq), 0);
        assert_int_equal(rq.group_count, 2);
        assert_true(slice_is(rq.groups[1], "bb"));
        assert_int_equal(rq.include_authorized_operations, v >= 3);
        describe_groups_request_deinit(&rq);
        check_truncations(&w, v, decode_describe);

        sb_wr_reset(&w);
        describe_groups_response_begin(&w, v, 1);
        describe_groups_response_group(&w, 0, "a", 1, "Stable", "consumer", "range", 1);
        describe_groups_response_member(&w, v, "m", NULL, "cid", "/1.2.3.4", (const uint8_t *)"x", 1,
                                        (const uint8_t *)"yz", 2);
        describe_groups_response_group_end(&w, v);
        size_t want = (v >= 1 ? 4 : 0) + 4 + 2 + 3 + 8 + 10 + 7 + 4 + 3 + (v >= 4 ? 2 : 0) + 5 + 10 + 5 + 6 +
                      (v >= 3 ? 4 : 0);
        assert_int_equal(w.len, want);
        sb_wr_deinit(&w);
    }
    for (int16_t v = 0; v <= 2; v++) {
        sb_rd_t rd;
        sb_rd_init(&rd, "", 0);
        list_groups_request_t lq;
        assert_int_equal(list_groups_request_decode(&rd, v, &lq), 0);
        assert_int_equal(lq.state_count, 0);
        sb_wr_t w;
        sb_wr_init(&w, 32);
        list_groups_response_begin(&w, v, 0, 1);
        list_groups_response_group(&w, v, "g", "consumer", "Stable");
        list_groups_response_end(&w, v);
        assert_int_equal(w.len, (v >= 1 ? 4u : 0u) + 2 + 4 + 3 + 10);
        sb_wr_deinit(&w);
    }
    {
        /* v4: states_filter ["Stable"] as a compact array of compact strings, then tags. */
        const uint8_t req4[] = {2, 7, 'S', 't', 'a', 'b', 'l', 'e', 0};
        sb_rd_t rd;
        sb_rd_init(&rd, req4, sizeof(req4));
        list_groups_request_t lq;
        assert_int_equal(list_groups_request_decode(&rd, 4, &lq), 0);
        assert_int_equal(lq.state_count, 1);
        assert_true(list_groups_state_wanted(&lq, "Stable"));
        assert_false(list_groups_state_wanted(&lq, "Empty"));
        /* Truncated filter is rejected. */
        sb_rd_init(&rd, req4, 4);
        assert_int_not_equal(list_groups_request_decode(&rd, 4, &lq), 0);
        sb_wr_t w;
        sb_wr_init(&w, 32);
        list_groups_response_begin(&w, 4, 0, 1);
        list_groups_response_group(&w, 4, "g", "consumer", "Stable");
        list_groups_response_end(&w, 4);
        /* throttle 4, error 2, count 1, "g" 2, "consumer" 9, "Stable" 7, group tags 1, tags 1 */
        assert_int_equal(w.len, 4u + 2 + 1 + 2 + 9 + 7 + 1 + 1);
        sb_wr_deinit(&w);
    }
    for (int16_t v = 0; v <= 1; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 32);
        sb_wr_array(&w, false, 1);
        sb_wr_str(&w, false, "g");
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        delete_groups_request_t rq;
        assert_int_equal(delete_groups_request_decode(&rd, v, &rq), 0);
        assert_true(slice_is(rq.groups_names[0], "g"));
        int16_t code = 69;
        sb_wr_t out; /* rq borrows w's bytes, so the answer goes elsewhere */
        sb_wr_init(&out, 32);
        delete_groups_response_encode(&out, v, &rq, &code);
        /* ThrottleTimeMs, Results[GroupId, ErrorCode] */
        const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'g', 0, 69};
        assert_int_equal(out.len, sizeof(want));
        assert_memory_equal(out.buf, want, sizeof(want));
        delete_groups_request_deinit(&rq);
        sb_wr_deinit(&out);
        sb_wr_deinit(&w);
    }
}

static int decode_find(const uint8_t *p, size_t len, int16_t v)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    find_coordinator_request_t rq;
    return find_coordinator_request_decode(&rd, v, &rq);
}

static void test_find_coordinator(void **state)
{
    (void)state;
    for (int16_t v = 0; v <= 2; v++) {
        sb_wr_t w;
        sb_wr_init(&w, 32);
        sb_wr_str(&w, false, "txn");
        if (v >= 1) sb_wr_i8(&w, 1);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        find_coordinator_request_t rq;
        assert_int_equal(find_coordinator_request_decode(&rd, v, &rq), 0);
        assert_true(slice_is(rq.key, "txn"));
        assert_int_equal(rq.key_type, v >= 1 ? 1 : 0);
        check_truncations(&w, v, decode_find);
        sb_wr_reset(&w);
        find_coordinator_response_encode(&w, v, 0, NULL, 1, "h", 9092);
        assert_int_equal(w.len, (v >= 1 ? 4u + 2u : 0u) + 2 + 4 + 3 + 4);
        sb_wr_deinit(&w);
    }
    assert_int_equal(group_api_max_version(KAFKA_API_OffsetCommit), 7);
    assert_int_equal(group_api_max_version(KAFKA_API_Produce), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_group_request), cmocka_unit_test(test_join_group_response),
        cmocka_unit_test(test_sync_group),         cmocka_unit_test(test_heartbeat_and_leave),
        cmocka_unit_test(test_offset_commit),      cmocka_unit_test(test_offset_fetch),
        cmocka_unit_test(test_offset_fetch_librdkafka_all_partitions), cmocka_unit_test(test_offset_delete),
        cmocka_unit_test(test_describe_list_delete), cmocka_unit_test(test_find_coordinator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
