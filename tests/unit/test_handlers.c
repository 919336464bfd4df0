/* Kafka request handling through the real dispatcher and handlers, on a socketpair: request
 * frames are encoded by hand from the message schemas and the response bytes are decoded and
 * checked field by field. */
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

#include "broker/broker_int.h"
#include "broker/group/group_codec.h"
#include "broker/server.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "kafka/protocol.h"

typedef struct fixture {
    broker_t *b;
    char dir[64];
    int peer; /* our end of the socketpair */
    conn_t *c;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    sb_log_setup(SB_LOG_ERROR, SB_LOG_FORMAT_TEXT);
    snprintf(f->dir, sizeof(f->dir), "/tmp/streambus-handlers-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    broker_options_t o;
    broker_options_defaults(&o);
    o.listen_port = 0;
    snprintf(o.data_dir, sizeof(o.data_dir), "%s", f->dir);
    sb_err_t err = {0};
    assert_int_equal(broker_new(&o, NULL, &f->b, &err), 0);
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    f->c = conn_adopt(f->b, fds[0], "127.0.0.1", "test");
    f->peer = fds[1];
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    broker_free(f->b);
    close(f->peer);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Dispatches one request (header built here) and returns the response body after the
 * correlation id, in `resp` (caller frees). Returns the body length, or -1 if the connection
 * was closed. */
static int roundtrip(fixture_t *f, int16_t key, int16_t ver, const sb_wr_t *body, uint8_t **resp)
{
    sb_wr_t w;
    sb_wr_init(&w, 0);
    sb_wr_i16(&w, key);
    sb_wr_i16(&w, ver);
    sb_wr_i32(&w, 42);
    sb_wr_str(&w, false, "test");
    sb_wr_bytes(&w, body->buf, body->len);
    broker_dispatch(f->b, f->c, w.buf, w.len);
    sb_wr_deinit(&w);
    if (net_conn_closed(f->c)) return -1;
    uint8_t hdr[8];
    assert_int_equal(read(f->peer, hdr, 8), 8);
    sb_rd_t rd;
    sb_rd_init(&rd, hdr, 8);
    int32_t size = sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i32(&rd), 42); /* correlation id echoed */
    int n = size - 4;
    *resp = malloc((size_t)n + 1);
    assert_int_equal(read(f->peer, *resp, (size_t)n), n);
    return n;
}

static void test_api_versions_v0_lists_every_api_from_zero(void **state)
{
    fixture_t *f = *state;
    sb_wr_t body;
    sb_wr_init(&body, 0);
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_ApiVersions, 0, &body, &r);
    assert_true(n > 0);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    assert_int_equal(sb_rd_i16(&rd), 0);
    int32_t count = sb_rd_i32(&rd);
    assert_true(count >= 20);
    bool saw_fetch = false;
    for (int32_t i = 0; i < count; i++) {
        int16_t k = sb_rd_i16(&rd), lo = sb_rd_i16(&rd), hi = sb_rd_i16(&rd);
        assert_int_equal(lo, 0);
        if (k == KAFKA_API_Fetch) {
            saw_fetch = true;
            assert_int_equal(hi, 11);
        }
    }
    assert_true(saw_fetch);
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);
    sb_wr_deinit(&body);
}

static void test_api_versions_unknown_version_gets_35_in_v0_body(void **state)
{
    fixture_t *f = *state;
    sb_wr_t body;
    sb_wr_init(&body, 0);
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_ApiVersions, 77, &body, &r);
    assert_true(n > 0);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    assert_int_equal(sb_rd_i16(&rd), KAFKA_ERR_UNSUPPORTED_VERSION);
    assert_true(sb_rd_i32(&rd) >= 20);
    free(r);
    sb_wr_deinit(&body);
}

/* A one-record v2 batch with the given producer fields. */
static void make_batch(sb_wr_t *w, const char *value, int64_t pid, int32_t seq)
{
    sb_wr_t rec;
    sb_wr_init(&rec, 0);
    sb_wr_i8(&rec, 0);        /* attributes */
    sb_wr_varint(&rec, 0);    /* timestamp delta */
    sb_wr_varint(&rec, 0);    /* offset delta */
    sb_wr_varint(&rec, -1);   /* null key */
    sb_wr_varint(&rec, (int64_t)strlen(value));
    sb_wr_bytes(&rec, value, strlen(value));
    sb_wr_uvarint(&rec, 0); /* headers */
    sb_wr_t tail;
    sb_wr_init(&tail, 0);
    sb_wr_i16(&tail, 0);
    sb_wr_i32(&tail, 0);
    sb_wr_i64(&tail, 1700000000000LL);
    sb_wr_i64(&tail, 1700000000000LL);
    sb_wr_i64(&tail, pid);
    sb_wr_i16(&tail, 0);
    sb_wr_i32(&tail, seq);
    sb_wr_i32(&tail, 1);
    sb_wr_varint(&tail, (int64_t)rec.len);
    sb_wr_bytes(&tail, rec.buf, rec.len);
    sb_wr_i64(w, 0);
    sb_wr_i32(w, (int32_t)(4 + 1 + 4 + tail.len));
    sb_wr_i32(w, 0);
    sb_wr_i8(w, 2);
    sb_wr_u32(w, crc32c(0, tail.buf, tail.len));
    sb_wr_bytes(w, tail.buf, tail.len);
    sb_wr_deinit(&rec);
    sb_wr_deinit(&tail);
}

/* Produce v3 acks=1 of `batch` to topic/partition 0; returns error code, base offset out. */
static int16_t produce(fixture_t *f, const char *topic, const sb_wr_t *batch, int64_t *base)
{
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_str(&body, false, NULL);
    sb_wr_i16(&body, 1);
    sb_wr_i32(&body, 1000);
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, topic);
    sb_wr_i32(&body, 1);
    sb_wr_i32(&body, 0);
    sb_wr_byts(&body, false, batch->buf, (int32_t)batch->len);
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_Produce, 3, &body, &r);
    assert_true(n > 0);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    assert_int_equal(sb_rd_i32(&rd), 1);
    sb_slice_t name = sb_rd_string(&rd);
    assert_int_equal(name.len, (int32_t)strlen(topic));
    assert_int_equal(sb_rd_i32(&rd), 1);
    assert_int_equal(sb_rd_i32(&rd), 0);
    int16_t err = sb_rd_i16(&rd);
    *base = sb_rd_i64(&rd);
    sb_rd_i64(&rd); /* log_append_time */
    sb_rd_i32(&rd); /* throttle */
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);
    sb_wr_deinit(&body);
    return err;
}

static void test_produce_assigns_offsets_and_fetch_returns_the_bytes(void **state)
{
    fixture_t *f = *state;
    sb_wr_t b1, b2;
    sb_wr_init(&b1, 0);
    sb_wr_init(&b2, 0);
    make_batch(&b1, "first", -1, -1);
    make_batch(&b2, "second", -1, -1);
    int64_t base;
    assert_int_equal(produce(f, "t1", &b1, &base), 0);
    assert_int_equal(base, 0);
    assert_int_equal(produce(f, "t1", &b2, &base), 0);
    assert_int_equal(base, 1);

    /* Fetch v4 from offset 1: exactly the second batch, with its base offset set to 1. */
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, -1);
    sb_wr_i32(&body, 0); /* max wait */
    sb_wr_i32(&body, 1);
    sb_wr_i32(&body, 1 << 20);
    sb_wr_i8(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, "t1");
    sb_wr_i32(&body, 1);
    sb_wr_i32(&body, 0);
    sb_wr_i64(&body, 1);
    sb_wr_i32(&body, 1 << 20);
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_Fetch, 4, &body, &r);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    sb_rd_i32(&rd); /* throttle */
    assert_int_equal(sb_rd_i32(&rd), 1);
    sb_rd_string(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_int_equal(sb_rd_i64(&rd), 2); /* high watermark */
    assert_int_equal(sb_rd_i64(&rd), 2); /* last stable offset */
    assert_int_equal(sb_rd_i32(&rd), 0); /* aborted transactions */
    sb_slice_t recs = sb_rd_kbytes(&rd);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(recs.len, (int32_t)b2.len);
    sb_rd_t br;
    sb_rd_init(&br, recs.p, (size_t)recs.len);
    assert_int_equal(sb_rd_i64(&br), 1);
    /* Everything after the base offset is byte-identical to what was produced. */
    assert_memory_equal(recs.p + 8, b2.buf + 8, b2.len - 8);
    /* One record went out past the fetch offset; the metrics count it. */
    topic_t *t = broker_topic_find(f->b, "t1", 2);
    assert_int_equal(topic_partition(t, 0)->messages_out, 1);
    assert_int_equal(topic_partition(t, 0)->bytes_out, b2.len);
    free(r);
    sb_wr_deinit(&body);
    sb_wr_deinit(&b1);
    sb_wr_deinit(&b2);
}

static void test_corrupt_batch_rejected_and_not_stored(void **state)
{
    fixture_t *f = *state;
    sb_wr_t b;
    sb_wr_init(&b, 0);
    make_batch(&b, "payload", -1, -1);
    b.buf[b.len - 3] ^= 0x20; /* flip a bit inside the record: CRC no longer matches */
    int64_t base;
    assert_int_equal(produce(f, "t2", &b, &base), KAFKA_ERR_CORRUPT_MESSAGE);
    topic_t *t = broker_topic_find(f->b, "t2", 2);
    assert_non_null(t);
    assert_int_equal(plog_end_offset(topic_partition_log(t, 0)), 0);
    sb_wr_deinit(&b);
}

static void test_idempotent_duplicate_and_gap(void **state)
{
    fixture_t *f = *state;
    sb_wr_t s0, s0again, s5;
    sb_wr_init(&s0, 0);
    sb_wr_init(&s0again, 0);
    sb_wr_init(&s5, 0);
    make_batch(&s0, "a", 5000, 0);
    make_batch(&s0again, "a", 5000, 0);
    make_batch(&s5, "c", 5000, 5);
    int64_t base;
    assert_int_equal(produce(f, "t3", &s0, &base), 0);
    assert_int_equal(base, 0);
    assert_int_equal(produce(f, "t3", &s0again, &base), 0); /* retry: acknowledged... */
    assert_int_equal(base, 0);                               /* ...with its original offset */
    topic_t *t = broker_topic_find(f->b, "t3", 2);
    assert_int_equal(plog_end_offset(topic_partition_log(t, 0)), 1); /* ...and stored once */
    assert_int_equal(produce(f, "t3", &s5, &base), KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(plog_end_offset(topic_partition_log(t, 0)), 1);
    sb_wr_deinit(&s0);
    sb_wr_deinit(&s0again);
    sb_wr_deinit(&s5);
}

/* A fetch past the end of the log: Kafka answers at once with OFFSET_OUT_OF_RANGE, no offsets and
 * empty (not null) records. librdkafka 2.0.2 rejects a whole response holding a null
 * MessageSet, so a null there left a consumer whose position retention deleted stuck forever
 * instead of applying auto.offset.reset (librdkafka's 0034). */
static void test_fetch_out_of_range_answers_at_once_with_empty_records(void **state)
{
    fixture_t *f = *state;
    sb_wr_t batch;
    sb_wr_init(&batch, 0);
    make_batch(&batch, "x", -1, -1);
    int64_t base;
    assert_int_equal(produce(f, "t6", &batch, &base), 0);
    for (int16_t ver = 4; ver <= 11; ver += 7) {
        sb_wr_t body;
        sb_wr_init(&body, 0);
        sb_wr_i32(&body, -1);
        sb_wr_i32(&body, 10000); /* max wait: the answer must not wait for it */
        sb_wr_i32(&body, 1);
        sb_wr_i32(&body, 1 << 20);
        sb_wr_i8(&body, 0);
        if (ver >= 7) {
            sb_wr_i32(&body, 0);
            sb_wr_i32(&body, -1);
        }
        sb_wr_i32(&body, 2);
        sb_wr_str(&body, false, "t6");
        sb_wr_i32(&body, 1);
        sb_wr_i32(&body, 0);
        if (ver >= 9) sb_wr_i32(&body, -1);
        sb_wr_i64(&body, 5); /* beyond the end (1) */
        if (ver >= 5) sb_wr_i64(&body, -1);
        sb_wr_i32(&body, 1 << 20);
        sb_wr_str(&body, false, "no-such-topic");
        sb_wr_i32(&body, 1);
        sb_wr_i32(&body, 0);
        if (ver >= 9) sb_wr_i32(&body, -1);
        sb_wr_i64(&body, 0);
        if (ver >= 5) sb_wr_i64(&body, -1);
        sb_wr_i32(&body, 1 << 20);
        if (ver >= 7) sb_wr_i32(&body, 0); /* forgotten topics */
        if (ver >= 11) sb_wr_str(&body, false, "");
        uint8_t *r;
        int n = roundtrip(f, KAFKA_API_Fetch, ver, &body, &r);
        assert_true(n > 0);
        sb_rd_t rd;
        sb_rd_init(&rd, r, (size_t)n);
        sb_rd_i32(&rd); /* throttle */
        if (ver >= 7) {
            assert_int_equal(sb_rd_i16(&rd), 0);
            sb_rd_i32(&rd);
        }
        assert_int_equal(sb_rd_i32(&rd), 2);
        int16_t want[2] = {KAFKA_ERR_OFFSET_OUT_OF_RANGE, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION};
        for (int t = 0; t < 2; t++) {
            sb_rd_string(&rd);
            assert_int_equal(sb_rd_i32(&rd), 1);
            assert_int_equal(sb_rd_i32(&rd), 0);
            assert_int_equal(sb_rd_i16(&rd), want[t]);
            assert_int_equal(sb_rd_i64(&rd), -1); /* high watermark */
            assert_int_equal(sb_rd_i64(&rd), -1); /* last stable offset */
            if (ver >= 5) assert_int_equal(sb_rd_i64(&rd), -1);
            assert_int_equal(sb_rd_i32(&rd), 0); /* aborted transactions */
            if (ver >= 11) assert_int_equal(sb_rd_i32(&rd), -1);
            assert_int_equal(sb_rd_i32(&rd), 0); /* records: empty, not null */
        }
        assert_true(sb_rd_ok(&rd));
        assert_int_equal(sb_rd_remaining(&rd), 0);
        free(r);
        sb_wr_deinit(&body);
    }
    sb_wr_deinit(&batch);
}

/* CreateTopics v4 of one topic with a manual assignment: `nparts` partitions listed as
 * indexes[i] -> {broker ids[i*rf .. i*rf+rf-1]}. Returns the error code, message in msg. */
static int16_t create_assigned(fixture_t *f, const char *name, int32_t num_partitions, int16_t rf, int nparts,
                               const int32_t *indexes, int per, const int32_t *brokers, char *msg, size_t cap)
{
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, name);
    sb_wr_i32(&body, num_partitions);
    sb_wr_i16(&body, rf);
    sb_wr_i32(&body, nparts);
    for (int i = 0; i < nparts; i++) {
        sb_wr_i32(&body, indexes[i]);
        sb_wr_i32(&body, per);
        for (int k = 0; k < per; k++) sb_wr_i32(&body, brokers[i * per + k]);
    }
    sb_wr_i32(&body, 0);     /* configs */
    sb_wr_i32(&body, 10000); /* timeout */
    sb_wr_i8(&body, 0);      /* validate_only */
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_CreateTopics, 4, &body, &r);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    sb_rd_string(&rd);
    int16_t err = sb_rd_i16(&rd);
    sb_slice_t m = sb_rd_string(&rd);
    assert_true(sb_rd_ok(&rd));
    snprintf(msg, cap, "%.*s", m.len > 0 ? m.len : 0, m.len > 0 ? (const char *)m.p : "");
    free(r);
    sb_wr_deinit(&body);
    return err;
}

/* librdkafka's 0081 creates topics with a replica assignment and partitions -1: the partition
 * count is the assignment's length (it was ignored, giving the default count). */
static void test_create_topics_manual_assignment(void **state)
{
    fixture_t *f = *state;
    int32_t self = broker_node_id(f->b);
    char msg[256];
    int32_t idx[3] = {0, 1, 2};
    int32_t ok[3] = {self, self, self};
    assert_int_equal(create_assigned(f, "ma1", -1, -1, 3, idx, 1, ok, msg, sizeof(msg)), 0);
    topic_t *t = broker_topic_find(f->b, "ma1", 3);
    assert_non_null(t);
    assert_int_equal(topic_partition_count(t), 3);

    int32_t other[2] = {self, self + 1};
    assert_int_equal(create_assigned(f, "ma2", -1, -1, 2, idx, 1, other, msg, sizeof(msg)),
                     KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT);
    assert_non_null(strstr(msg, "broker"));
    int32_t twice[2] = {self, self};
    assert_int_equal(create_assigned(f, "ma2", -1, -1, 1, idx, 2, twice, msg, sizeof(msg)),
                     KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT);
    assert_non_null(strstr(msg, "more than once"));
    int32_t gap[2] = {0, 2};
    assert_int_equal(create_assigned(f, "ma2", -1, -1, 2, gap, 1, ok, msg, sizeof(msg)),
                     KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT);
    assert_non_null(strstr(msg, "in order"));
    assert_int_equal(create_assigned(f, "ma2", -1, -1, 1, idx, 0, ok, msg, sizeof(msg)),
                     KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT);
    assert_non_null(strstr(msg, "empty replica list"));
    assert_int_equal(create_assigned(f, "ma2", 2, -1, 2, idx, 1, ok, msg, sizeof(msg)), KAFKA_ERR_INVALID_REQUEST);
    assert_non_null(strstr(msg, "Both"));
    /* None of the refused ones exists. */
    assert_null(broker_topic_find(f->b, "ma2", 3));
}

/* ---- durability callbacks ---- */

typedef struct order_rec {
    int ids[16];
    int n;
} order_rec_t;

typedef struct order_arg {
    order_rec_t *rec;
    int id;
} order_arg_t;

static void record_order(broker_t *b, void *arg, int err)
{
    (void)b;
    order_arg_t *a = arg;
    assert_int_equal(err, 0);
    a->rec->ids[a->rec->n++] = a->id;
}

static void record_drop(broker_t *b, void *arg, int err)
{
    (void)b;
    *(int *)arg = err;
}

static void wait_durable(plog_t *log, int64_t offset)
{
    for (int i = 0; i < 5000 && plog_durable_offset(log) < offset; i++) usleep(1000);
    assert_true(plog_durable_offset(log) >= offset);
}

/* The group coordinator applies offset commits in these callbacks: when one fsync makes
 * several commits durable, the oldest must run first or an older commit overwrites a newer one
 * (librdkafka's 0030 saw committed() go back to 2 after 50 ordered commits). */
static void test_durable_callbacks_of_one_log_run_in_offset_order(void **state)
{
    fixture_t *f = *state;
    order_rec_t rec = {0};
    order_arg_t args[6];
    for (int i = 0; i < 6; i++) args[i] = (order_arg_t){&rec, i};
    sb_wr_t batch;
    sb_wr_init(&batch, 0);
    make_batch(&batch, "x", -1, -1);
    int64_t base;
    assert_int_equal(produce(f, "t5", &batch, &base), 0);
    topic_t *t = broker_topic_find(f->b, "t5", 2);
    plog_t *log = topic_partition_log(t, 0);
    broker_after_durable(f->b, log, 1, record_order, &args[0]);
    assert_int_equal(produce(f, "t5", &batch, &base), 0);
    broker_after_durable(f->b, log, 2, record_order, &args[1]);
    assert_int_equal(produce(f, "t5", &batch, &base), 0);
    broker_after_durable(f->b, log, 3, record_order, &args[2]);
    /* The flusher syncs on its own; the network loop is not running, so nothing is answered
     * until flusher_on_event, whatever the fsyncs did meanwhile. */
    wait_durable(log, 3);
    /* Durable already, but waiters of this log registered earlier have not run: it queues. */
    broker_after_durable(f->b, log, 3, record_order, &args[3]);
    assert_int_equal(rec.n, 0);
    flusher_on_event(f->b);
    assert_int_equal(rec.n, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(rec.ids[i], i);
    /* Nothing pending: an already-durable offset is answered at once. */
    broker_after_durable(f->b, log, 3, record_order, &args[4]);
    assert_int_equal(rec.n, 5);
    assert_int_equal(rec.ids[4], 4);
    /* A waiter beyond the end stays queued across passes and is failed when the topic goes. */
    int dropped = 1; /* record_drop stores the error it was called with */
    broker_after_durable(f->b, log, 10, record_drop, &dropped);
    flusher_on_event(f->b);
    assert_int_equal(dropped, 1);
    sb_err_t err = {0};
    assert_int_equal(topic_delete(f->b, t, &err), 0);
    assert_int_equal(dropped, SB_ENOENT);
    assert_int_equal(rec.n, 5);
    sb_wr_deinit(&batch);
}

typedef struct drop_in_cb {
    fixture_t *f;
    topic_t *victim;
    int ran;
} drop_in_cb_t;

static void delete_victim(broker_t *b, void *arg, int err)
{
    (void)b;
    drop_in_cb_t *d = arg;
    assert_int_equal(err, 0);
    sb_err_t e = {0};
    assert_int_equal(topic_delete(d->f->b, d->victim, &e), 0);
    d->ran++;
}

/* A callback may delete a topic whose waiters sit further down the list (and right after the
 * running one): the pass must fail those with SB_ENOENT and carry on without touching freed
 * waiters (ASan watches this one). */
static void test_durable_callback_may_delete_a_topic(void **state)
{
    fixture_t *f = *state;
    sb_wr_t batch;
    sb_wr_init(&batch, 0);
    make_batch(&batch, "x", -1, -1);
    int64_t base;
    assert_int_equal(produce(f, "t7", &batch, &base), 0);
    assert_int_equal(produce(f, "t8", &batch, &base), 0);
    topic_t *t7 = broker_topic_find(f->b, "t7", 2), *t8 = broker_topic_find(f->b, "t8", 2);
    plog_t *l7 = topic_partition_log(t7, 0), *l8 = topic_partition_log(t8, 0);
    order_rec_t rec = {0};
    order_arg_t first = {&rec, 0}, after = {&rec, 1};
    drop_in_cb_t d = {f, t8, 0};
    int dropped = 1, dropped2 = 1;
    /* Offset 2 of t7 is not written yet, so these queue (and everything of l7 after them). */
    broker_after_durable(f->b, l7, 2, record_order, &first);
    assert_int_equal(produce(f, "t7", &batch, &base), 0);
    broker_after_durable(f->b, l7, 2, delete_victim, &d);
    broker_after_durable(f->b, l8, 50, record_drop, &dropped);
    broker_after_durable(f->b, l8, 60, record_drop, &dropped2);
    broker_after_durable(f->b, l7, 2, record_order, &after);
    assert_int_equal(rec.n, 0);
    assert_int_equal(d.ran, 0);
    wait_durable(l7, 2);
    flusher_on_event(f->b);
    assert_int_equal(d.ran, 1);
    assert_int_equal(dropped, SB_ENOENT);
    assert_int_equal(dropped2, SB_ENOENT);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.ids[0], 0);
    assert_int_equal(rec.ids[1], 1);
    sb_wr_deinit(&batch);
}

static void test_truncated_request_closes_only_that_connection(void **state)
{
    fixture_t *f = *state;
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_str(&body, false, NULL);
    sb_wr_i16(&body, 1);
    sb_wr_i32(&body, 1000);
    sb_wr_i32(&body, 5); /* five topics promised, none present */
    uint8_t *r = NULL;
    assert_int_equal(roundtrip(f, KAFKA_API_Produce, 3, &body, &r), -1);
    broker_reap(f->b);
    /* The broker itself still works on a new connection. */
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    close(f->peer);
    f->c = conn_adopt(f->b, fds[0], "127.0.0.1", "test2");
    f->peer = fds[1];
    sb_wr_t empty;
    sb_wr_init(&empty, 0);
    assert_true(roundtrip(f, KAFKA_API_ApiVersions, 0, &empty, &r) > 0);
    free(r);
    sb_wr_deinit(&empty);
    sb_wr_deinit(&body);
}

static void test_metadata_without_autocreate_reports_unknown_topic(void **state)
{
    fixture_t *f = *state;
    f->b->opt.auto_create_topics = false;
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, "nope");
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_Metadata, 1, &body, &r);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    assert_int_equal(sb_rd_i32(&rd), 1); /* one broker */
    sb_rd_i32(&rd);
    sb_rd_string(&rd);
    sb_rd_i32(&rd);
    sb_rd_string(&rd);                   /* rack */
    sb_rd_i32(&rd);                      /* controller */
    assert_int_equal(sb_rd_i32(&rd), 1); /* one topic */
    assert_int_equal(sb_rd_i16(&rd), KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_null(broker_topic_find(f->b, "nope", 4));
    free(r);
    sb_wr_deinit(&body);
}

/* The dispatcher advertises the group APIs; the group codec decodes them. Both must agree, or
 * a client would be promised a version the decoder refuses. */

/* ---- config, records and cluster admin APIs ---- */

/* AlterConfigs v0 on one topic resource with n key/value pairs; returns the error code and
 * copies the message (or "") into msg. */
static int16_t alter_configs(fixture_t *f, int8_t type, const char *name, const char *const *kv, int n, bool validate_only,
                             char *msg, size_t cap)
{
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_i8(&body, type);
    sb_wr_str(&body, false, name);
    sb_wr_i32(&body, n);
    for (int i = 0; i < n; i++) {
        sb_wr_str(&body, false, kv[2 * i]);
        sb_wr_str(&body, false, kv[2 * i + 1]);
    }
    sb_wr_bool(&body, validate_only);
    uint8_t *r;
    int len = roundtrip(f, KAFKA_API_AlterConfigs, 0, &body, &r);
    assert_true(len > 0);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)len);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    int16_t err = sb_rd_i16(&rd);
    sb_slice_t m = sb_rd_string(&rd);
    snprintf(msg, cap, "%.*s", m.len > 0 ? (int)m.len : 0, m.len > 0 ? (const char *)m.p : "");
    assert_int_equal(sb_rd_i8(&rd), type);
    sb_slice_t rn = sb_rd_string(&rd);
    assert_int_equal(rn.len, (int32_t)strlen(name));
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);
    sb_wr_deinit(&body);
    return err;
}

/* DescribeConfigs v1 of one key of a topic: value into val, returns the source. */
static int8_t describe_one(fixture_t *f, const char *topic, const char *key, char *val, size_t cap)
{
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_i8(&body, 2);
    sb_wr_str(&body, false, topic);
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, key);
    sb_wr_bool(&body, true); /* synonyms */
    uint8_t *r;
    int len = roundtrip(f, KAFKA_API_DescribeConfigs, 1, &body, &r);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)len);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    assert_int_equal(sb_rd_i16(&rd), 0);
    sb_rd_string(&rd);
    sb_rd_i8(&rd);
    sb_rd_string(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    sb_slice_t k = sb_rd_string(&rd);
    assert_int_equal(k.len, (int32_t)strlen(key));
    sb_slice_t v = sb_rd_string(&rd);
    snprintf(val, cap, "%.*s", (int)v.len, (const char *)v.p);
    sb_rd_bool(&rd);
    int8_t source = sb_rd_i8(&rd);
    sb_rd_bool(&rd);
    int32_t nsyn = sb_rd_array(&rd, false, 5);
    assert_true(nsyn >= 1); /* at least the value's own source */
    for (int32_t i = 0; i < nsyn; i++) {
        sb_rd_string(&rd);
        sb_rd_string(&rd);
        sb_rd_i8(&rd);
    }
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);
    sb_wr_deinit(&body);
    return source;
}

static void test_alter_configs_validates_everything_before_changing_anything(void **state)
{
    fixture_t *f = *state;
    sb_err_t err = {0};
    const char *const create[] = {"retention.ms"};
    const char *const create_v[] = {"3600000"};
    assert_int_equal(topic_create(f->b, "cfg", 1, create, create_v, 1, NULL, &err), 0);
    char msg[512], val[300];
    const char *const bad[] = {"compression.type", "lz4", "retention.ms", "abc"};
    assert_int_equal(alter_configs(f, 2, "cfg", bad, 2, false, msg, sizeof(msg)), KAFKA_ERR_INVALID_CONFIG);
    assert_non_null(strstr(msg, "retention.ms"));
    assert_int_equal(describe_one(f, "cfg", "retention.ms", val, sizeof(val)), CONFIG_SOURCE_DYNAMIC_TOPIC);
    assert_string_equal(val, "3600000");
    assert_int_equal(describe_one(f, "cfg", "compression.type", val, sizeof(val)), CONFIG_SOURCE_DEFAULT);

    const char *const unknown[] = {"retention.mss", "1"};
    assert_int_equal(alter_configs(f, 2, "cfg", unknown, 1, false, msg, sizeof(msg)), KAFKA_ERR_INVALID_CONFIG);
    assert_non_null(strstr(msg, "retention.mss"));

    /* validate_only: accepted, nothing changes. */
    const char *const good[] = {"delete.retention.ms", "900"};
    assert_int_equal(alter_configs(f, 2, "cfg", good, 1, true, msg, sizeof(msg)), 0);
    assert_int_equal(describe_one(f, "cfg", "delete.retention.ms", val, sizeof(val)), CONFIG_SOURCE_DEFAULT);
    /* For real: the whole set is replaced, so retention.ms goes back to the broker's value. */
    assert_int_equal(alter_configs(f, 2, "cfg", good, 1, false, msg, sizeof(msg)), 0);
    assert_int_equal(describe_one(f, "cfg", "delete.retention.ms", val, sizeof(val)), CONFIG_SOURCE_DYNAMIC_TOPIC);
    assert_string_equal(val, "900");
    assert_int_equal(describe_one(f, "cfg", "retention.ms", val, sizeof(val)), CONFIG_SOURCE_STATIC_BROKER);
    assert_string_equal(val, "604800000");

    /* The .topics file holds the new set, so a restart keeps it. */
    char path[256], file[512] = "";
    snprintf(path, sizeof(path), "%s/.topics/cfg", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t got = fread(file, 1, sizeof(file) - 1, fp);
    fclose(fp);
    file[got] = '\0';
    assert_string_equal(file, "partitions=1\ndelete.retention.ms=900\n");

    /* A key named twice: the last value wins, as in Kafka (librdkafka's test helper re-sends
     * every described config followed by the one it changes). */
    const char *const twice[] = {"message.format.version", "3.0-IV1", "message.format.version", "0.10.0.0"};
    assert_int_equal(alter_configs(f, 2, "cfg", twice, 2, false, msg, sizeof(msg)), 0);
    assert_int_equal(describe_one(f, "cfg", "message.format.version", val, sizeof(val)), CONFIG_SOURCE_DYNAMIC_TOPIC);
    assert_string_equal(val, "0.10.0.0");

    assert_int_equal(alter_configs(f, 2, "nope", good, 1, false, msg, sizeof(msg)),
                     KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(alter_configs(f, 9, "x", good, 1, false, msg, sizeof(msg)), KAFKA_ERR_INVALID_REQUEST);
    const char *const static_key[] = {"num.partitions", "3"};
    assert_int_equal(alter_configs(f, 4, "0", static_key, 1, false, msg, sizeof(msg)), KAFKA_ERR_INVALID_REQUEST);
    assert_non_null(strstr(msg, "num.partitions"));
    assert_int_equal(alter_configs(f, 4, "7", good, 0, false, msg, sizeof(msg)), KAFKA_ERR_INVALID_REQUEST);
}

/* Fetch v11 of partition 0 at `offset`: returns the error, the log start in *start and the
 * record-set length in *records_len. */
static int16_t fetch_v11(fixture_t *f, const char *topic, int64_t offset, int64_t *start, int32_t *records_len)
{
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, -1);
    sb_wr_i32(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_i32(&body, 1 << 20);
    sb_wr_i8(&body, 0);
    sb_wr_i32(&body, 0);  /* session id */
    sb_wr_i32(&body, -1); /* session epoch */
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, topic);
    sb_wr_i32(&body, 1);
    sb_wr_i32(&body, 0);
    sb_wr_i32(&body, -1);
    sb_wr_i64(&body, offset);
    sb_wr_i64(&body, -1);
    sb_wr_i32(&body, 1 << 20);
    sb_wr_i32(&body, 0);  /* forgotten topics */
    sb_wr_str(&body, false, "");
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_Fetch, 11, &body, &r);
    assert_true(n > 0);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    sb_rd_i32(&rd);
    sb_rd_i16(&rd);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    sb_rd_string(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    assert_int_equal(sb_rd_i32(&rd), 0);
    int16_t err = sb_rd_i16(&rd);
    sb_rd_i64(&rd);
    sb_rd_i64(&rd);
    *start = sb_rd_i64(&rd);
    sb_rd_i32(&rd); /* aborted */
    sb_rd_i32(&rd); /* preferred replica */
    *records_len = sb_rd_i32(&rd);
    assert_true(sb_rd_ok(&rd));
    free(r);
    sb_wr_deinit(&body);
    return err;
}

static void test_delete_records_then_fetch_below_the_start(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 5; i++) {
        sb_wr_t batch;
        sb_wr_init(&batch, 0);
        make_batch(&batch, "v", -1, -1);
        int64_t base;
        assert_int_equal(produce(f, "dr", &batch, &base), 0);
        sb_wr_deinit(&batch);
    }
    /* DeleteRecords v1: partition 0 to 3, partition 4 (missing), and past the end. */
    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_i32(&body, 1);
    sb_wr_str(&body, false, "dr");
    sb_wr_i32(&body, 2);
    sb_wr_i32(&body, 0);
    sb_wr_i64(&body, 3);
    sb_wr_i32(&body, 4);
    sb_wr_i64(&body, 1);
    sb_wr_i32(&body, 1000);
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_DeleteRecords, 1, &body, &r);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i32(&rd), 1);
    sb_rd_string(&rd);
    assert_int_equal(sb_rd_i32(&rd), 2);
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_int_equal(sb_rd_i64(&rd), 3); /* low watermark */
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_int_equal(sb_rd_i32(&rd), 4);
    assert_int_equal(sb_rd_i64(&rd), -1);
    assert_int_equal(sb_rd_i16(&rd), KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);
    sb_wr_deinit(&body);

    int64_t start;
    int32_t rlen;
    /* Below the start: OFFSET_OUT_OF_RANGE with an empty (not null) record set, which is
     * what librdkafka needs to see the error and apply auto.offset.reset. Like Kafka, an
     * errored partition reports its offsets as unknown (-1); ListOffsets gives the start. */
    assert_int_equal(fetch_v11(f, "dr", 1, &start, &rlen), KAFKA_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(start, -1);
    assert_int_equal(rlen, 0);
    assert_int_equal(fetch_v11(f, "dr", 3, &start, &rlen), 0);
    assert_true(rlen > 0);
}

static void test_list_offsets_v7_and_describe_cluster_are_flexible(void **state)
{
    fixture_t *f = *state;
    sb_wr_t batch;
    sb_wr_init(&batch, 0);
    make_batch(&batch, "v", -1, -1);
    int64_t base;
    assert_int_equal(produce(f, "lo", &batch, &base), 0);
    sb_wr_deinit(&batch);

    sb_wr_t body;
    sb_wr_init(&body, 0);
    sb_wr_tags(&body, true); /* request header v2 tags (roundtrip writes header v1) */
    sb_wr_i32(&body, -1);
    sb_wr_i8(&body, 0);
    sb_wr_array(&body, true, 1);
    sb_wr_str(&body, true, "lo");
    sb_wr_array(&body, true, 2);
    sb_wr_i32(&body, 0);
    sb_wr_i32(&body, -1);
    sb_wr_i64(&body, -3); /* MAX_TIMESTAMP */
    sb_wr_tags(&body, true);
    sb_wr_i32(&body, 0);
    sb_wr_i32(&body, -1);
    sb_wr_i64(&body, -2);
    sb_wr_tags(&body, true);
    sb_wr_tags(&body, true);
    sb_wr_tags(&body, true);
    uint8_t *r;
    int n = roundtrip(f, KAFKA_API_ListOffsets, 7, &body, &r);
    assert_true(n > 0);
    sb_rd_t rd;
    sb_rd_init(&rd, r, (size_t)n);
    sb_rd_tags(&rd); /* response header v1 */
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_array(&rd, true, 1), 1);
    sb_slice_t name = sb_rd_compact_string(&rd);
    assert_int_equal(name.len, 2);
    assert_int_equal(sb_rd_array(&rd, true, 1), 2);
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_true(sb_rd_i64(&rd) > 0); /* the record's timestamp */
    assert_int_equal(sb_rd_i64(&rd), 0);
    sb_rd_i32(&rd);
    sb_rd_tags(&rd);
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_int_equal(sb_rd_i64(&rd), -1);
    assert_int_equal(sb_rd_i64(&rd), 0);
    sb_rd_i32(&rd);
    sb_rd_tags(&rd);
    sb_rd_tags(&rd);
    sb_rd_tags(&rd);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);

    sb_wr_reset(&body);
    sb_wr_tags(&body, true);
    sb_wr_bool(&body, false);
    sb_wr_tags(&body, true);
    n = roundtrip(f, KAFKA_API_DescribeCluster, 0, &body, &r);
    assert_true(n > 0);
    sb_rd_init(&rd, r, (size_t)n);
    sb_rd_tags(&rd);
    sb_rd_i32(&rd);
    assert_int_equal(sb_rd_i16(&rd), 0);
    assert_int_equal(sb_rd_compact_string(&rd).len, -1);
    sb_slice_t cluster = sb_rd_compact_string(&rd);
    assert_int_equal(cluster.len, (int32_t)strlen(BROKER_CLUSTER_ID));
    assert_int_equal(sb_rd_i32(&rd), 0); /* controller */
    assert_int_equal(sb_rd_array(&rd, true, 1), 1);
    assert_int_equal(sb_rd_i32(&rd), 0);
    sb_rd_compact_string(&rd);
    assert_int_equal(sb_rd_i32(&rd), broker_advertised_port(f->b));
    assert_int_equal(sb_rd_compact_string(&rd).len, -1);
    sb_rd_tags(&rd);
    sb_rd_i32(&rd);
    sb_rd_tags(&rd);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    free(r);
    sb_wr_deinit(&body);
}

static void test_group_api_ranges_match_dispatch_table(void **state)
{
    (void)state;
    for (int i = 0; i < GROUP_API_COUNT; i++) {
        const kafka_api_def_t *def = kafka_api_lookup(group_api_ranges[i].api_key);
        assert_non_null(def);
        assert_int_equal(def->min_version, group_api_ranges[i].min_version);
        assert_int_equal(def->max_version, group_api_ranges[i].max_version);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_api_ranges_match_dispatch_table),
        cmocka_unit_test_setup_teardown(test_api_versions_v0_lists_every_api_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_versions_unknown_version_gets_35_in_v0_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_assigns_offsets_and_fetch_returns_the_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_batch_rejected_and_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_duplicate_and_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_callbacks_of_one_log_run_in_offset_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_out_of_range_answers_at_once_with_empty_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_topics_manual_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_callback_may_delete_a_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_request_closes_only_that_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_without_autocreate_reports_unknown_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alter_configs_validates_everything_before_changing_anything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_records_then_fetch_below_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_offsets_v7_and_describe_cluster_are_flexible, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
