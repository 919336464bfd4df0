/* Kafka-protocol benchmark driver on the public librdkafka API.
 *
 *   produce  records of --size bytes to partition 0 for --seconds (or --messages), with
 *            acks=1 or acks=all; counts only records whose delivery report says success.
 *   consume  prefills a fresh topic with --messages records (untimed), then times reading it
 *            from the beginning with an assign()ed consumer (no group coordinator needed).
 *   latency  open loop: a sender thread produces at --rate msg/s on a wall-clock schedule,
 *            stamping each payload with its scheduled time; a consumer in this process
 *            measures scheduled-send-to-receive latency.
 *
 * --mock replaces --server with an in-process rd_kafka_mock_cluster: the same client code
 * against librdkafka's in-memory broker, the reference point for "how fast can a Kafka client
 * on this machine go when the broker costs almost nothing". */
#include "bench_util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kafka_bench {
  bench_opts_t *opts;
  rd_kafka_t *mock_owner; /* the handle the mock cluster lives on */
  rd_kafka_mock_cluster_t *mock;
  char bootstrap[512];
  atomic_uint_fast64_t delivered;
  atomic_uint_fast64_t delivered_bytes;
  atomic_uint_fast64_t failed;
  char first_error[256];
} kafka_bench_t;

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value) {
  char errstr[256];
  if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kafka_bench: %s=%s: %s\n", key, value, errstr);
    return -1;
  }
  return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
  kafka_bench_t *kb = opaque;
  if (msg->err) {
    /* Keep the first error: it says why, the rest are usually the same. */
    if (atomic_fetch_add(&kb->failed, 1) == 0)
      snprintf(kb->first_error, sizeof(kb->first_error), "%s", rd_kafka_err2str(msg->err));
    return;
  }
  atomic_fetch_add(&kb->delivered, 1);
  atomic_fetch_add(&kb->delivered_bytes, msg->len);
}

static rd_kafka_conf_t *base_conf(kafka_bench_t *kb) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (conf_set(conf, "bootstrap.servers", kb->bootstrap) != 0) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  /* Extra client properties, "key=value;key=value": how the TLS rows of bench/ point the
   * client at an SSL listener (security.protocol, ssl.ca.location) without an option per key. */
  const char *extra = getenv("KAFKA_BENCH_CONF");
  if (extra && extra[0]) {
    char *copy = strdup(extra), *save = NULL;
    for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
      char *eq = strchr(kv, '=');
      if (!eq) continue;
      *eq = 0;
      if (conf_set(conf, kv, eq + 1) != 0) {
        free(copy);
        rd_kafka_conf_destroy(conf);
        return NULL;
      }
    }
    free(copy);
  }
  rd_kafka_conf_set_opaque(conf, kb);
  return conf;
}

static rd_kafka_t *producer_new(kafka_bench_t *kb, const char *acks, int linger_ms) {
  rd_kafka_conf_t *conf = base_conf(kb);
  if (conf == NULL) return NULL;
  char linger[32];
  snprintf(linger, sizeof(linger), "%d", linger_ms);
  /* A deep local queue so a throughput run measures the broker, not the client's back-pressure;
   * idempotence off because not every peer's equivalent has it and it changes the wire cost. */
  if (conf_set(conf, "acks", strcmp(acks, "all") == 0 ? "all" : "1") != 0 ||
      conf_set(conf, "linger.ms", linger) != 0 ||
      conf_set(conf, "queue.buffering.max.messages", "2000000") != 0 ||
      conf_set(conf, "queue.buffering.max.kbytes", "2000000") != 0 ||
      conf_set(conf, "enable.idempotence", "false") != 0 ||
      conf_set(conf, "message.timeout.ms", "30000") != 0) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  char errstr[256];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == NULL) {
    fprintf(stderr, "kafka_bench: producer: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
  }
  return rk;
}

/* A consumer on the partition-level ("simple") API: no group.id, so no coordinator, no offset
 * commits and no rebalance are involved and the figure is the fetch path alone. */
typedef struct simple_consumer {
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  bool started;
} simple_consumer_t;

static void simple_consumer_close(simple_consumer_t *c) {
  if (c->started) rd_kafka_consume_stop(c->rkt, 0);
  if (c->rkt) rd_kafka_topic_destroy(c->rkt);
  if (c->rk) rd_kafka_destroy(c->rk);
  *c = (simple_consumer_t){0};
}

static int simple_consumer_open(kafka_bench_t *kb, simple_consumer_t *c, const char *topic,
                                bool report_eof) {
  *c = (simple_consumer_t){0};
  rd_kafka_conf_t *conf = base_conf(kb);
  if (conf == NULL) return -1;
  char fetch_wait[32];
  snprintf(fetch_wait, sizeof(fetch_wait), "%d", kb->opts->fetch_wait_ms);
  if (conf_set(conf, "enable.partition.eof", report_eof ? "true" : "false") != 0 ||
      (kb->opts->fetch_wait_ms >= 0 && conf_set(conf, "fetch.wait.max.ms", fetch_wait) != 0)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  char errstr[256];
  c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (c->rk == NULL) {
    fprintf(stderr, "kafka_bench: consumer: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  c->rkt = rd_kafka_topic_new(c->rk, topic, NULL);
  if (rd_kafka_consume_start(c->rkt, 0, RD_KAFKA_OFFSET_BEGINNING) != 0) {
    fprintf(stderr, "kafka_bench: consume_start: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
    simple_consumer_close(c);
    return -1;
  }
  c->started = true;
  return 0;
}

/* Creates the topic with one partition. The mock cluster is told directly; a real broker gets a
 * CreateTopics request, and if it refuses for any reason other than "exists" the run goes on and
 * relies on auto-creation by the first Metadata/Produce. */
static int topic_create(kafka_bench_t *kb, rd_kafka_t *rk, const char *topic) {
  if (kb->mock != NULL) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(kb->mock, topic, 1, 1);
    if (err) {
      fprintf(stderr, "kafka_bench: mock topic %s: %s\n", topic, rd_kafka_err2str(err));
      return -1;
    }
    return 0;
  }
  char errstr[256];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, 1, errstr, sizeof(errstr));
  if (nt == NULL) {
    fprintf(stderr, "kafka_bench: NewTopic: %s\n", errstr);
    return -1;
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(ao, 10000, errstr, sizeof(errstr));
  rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
  if (ev == NULL) {
    fprintf(stderr, "kafka_bench: CreateTopics %s: no answer, relying on auto-create\n", topic);
  } else if (rd_kafka_event_error(ev)) {
    fprintf(stderr, "kafka_bench: CreateTopics %s: %s, relying on auto-create\n", topic,
            rd_kafka_event_error_string(ev));
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
      rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
      if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        fprintf(stderr, "kafka_bench: CreateTopics %s: %s, relying on auto-create\n", topic,
                rd_kafka_err2str(err));
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(ao);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  return 0;
}

/* Enqueues one record, waiting for local queue space rather than failing. */
static int produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const uint8_t *buf, size_t size) {
  for (;;) {
    if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, (void *)buf, size, NULL, 0, NULL) == 0)
      return 0;
    rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fprintf(stderr, "kafka_bench: produce: %s\n", rd_kafka_err2str(err));
      return -1;
    }
    rd_kafka_poll(rk, 1);
  }
}

/* Sends one record and waits for it: connects, fetches metadata and (for auto-created topics)
 * creates the partition before any clock starts. */
static int producer_warm_up(kafka_bench_t *kb, rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                            const uint8_t *buf, size_t size) {
  if (produce_one(rk, rkt, buf, size) != 0) return -1;
  rd_kafka_flush(rk, 30000);
  if (atomic_load(&kb->delivered) == 0) {
    fprintf(stderr, "kafka_bench: warm-up record not delivered: %s\n",
            kb->first_error[0] ? kb->first_error : "timed out");
    return -1;
  }
  return 0;
}

/* Produces until the time or message bound and waits for every delivery report. Returns the
 * elapsed seconds including the final flush, so only acknowledged records count. */
static double produce_run(kafka_bench_t *kb, rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                          const uint8_t *buf, size_t size, double seconds, uint64_t max_msgs) {
  int64_t start = bench_now_ns();
  int64_t end = start + (int64_t)(seconds * 1e9);
  for (uint64_t sent = 0; max_msgs == 0 || sent < max_msgs; sent++) {
    if ((sent & 1023) == 0) {
      rd_kafka_poll(rk, 0);
      if (bench_now_ns() >= end) break;
    }
    if (produce_one(rk, rkt, buf, size) != 0) break;
  }
  rd_kafka_flush(rk, 60000);
  return (double)(bench_now_ns() - start) / 1e9;
}

static int run_produce(kafka_bench_t *kb) {
  bench_opts_t *o = kb->opts;
  int linger = o->linger_ms >= 0 ? o->linger_ms : 5;
  rd_kafka_t *rk = producer_new(kb, o->acks, linger);
  if (rk == NULL) return -1;
  int rc = -1;
  uint8_t *buf = malloc(o->size);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
  bench_fill_payload(buf, o->size);
  if (topic_create(kb, rk, o->topic) == 0 &&
      producer_warm_up(kb, rk, rkt, buf, o->size) == 0) {
    atomic_store(&kb->delivered, 0);
    atomic_store(&kb->delivered_bytes, 0);
    double elapsed = produce_run(kb, rk, rkt, buf, o->size, o->seconds, o->messages);
    if (atomic_load(&kb->failed))
      fprintf(stderr, "kafka_bench: %llu deliveries failed, first: %s\n",
              (unsigned long long)atomic_load(&kb->failed), kb->first_error);
    bench_report_throughput(o, atomic_load(&kb->delivered), atomic_load(&kb->delivered_bytes),
                            elapsed, atomic_load(&kb->failed));
    rc = atomic_load(&kb->delivered) > 0 ? 0 : -1;
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  free(buf);
  return rc;
}

static int run_consume(kafka_bench_t *kb) {
  bench_opts_t *o = kb->opts;
  rd_kafka_t *prk = producer_new(kb, o->acks, o->linger_ms >= 0 ? o->linger_ms : 5);
  if (prk == NULL) return -1;
  uint8_t *buf = malloc(o->size);
  bench_fill_payload(buf, o->size);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(prk, o->topic, NULL);
  int rc = -1;
  uint64_t want = 0;
  if (topic_create(kb, prk, o->topic) == 0 && producer_warm_up(kb, prk, rkt, buf, o->size) == 0) {
    /* The prefill is bounded generously: its speed is not what this mode measures. */
    produce_run(kb, prk, rkt, buf, o->size, 120, o->messages - 1);
    /* Read back what the partition holds, not what was sent: a broker with retention limits
     * (the mock keeps only the last few MB) holds fewer records. */
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(prk, o->topic, 0, &low, &high, 10000);
    if (err) {
      fprintf(stderr, "kafka_bench: watermarks: %s\n", rd_kafka_err2str(err));
    } else {
      want = (uint64_t)(high - low);
      rc = 0;
    }
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(prk);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  fprintf(stderr, "kafka_bench: prefilled %llu records, partition holds %llu\n",
          (unsigned long long)atomic_load(&kb->delivered), (unsigned long long)want);

  simple_consumer_t cons;
  if (simple_consumer_open(kb, &cons, o->topic, true) != 0) {
    free(buf);
    return -1;
  }
  /* The clock runs from the first record to the last, so connection set-up and the offset
   * lookup are not part of the figure (the same holds for the other drivers' consume). The
   * first record itself is therefore not counted. */
  uint64_t got = 0, bytes = 0, errors = 0;
  int64_t start = 0, last = 0;
  int64_t give_up = bench_now_ns() + (int64_t)(o->seconds * 4 * 1e9) + 10 * (int64_t)1000000000;
  while (got < want && bench_now_ns() < give_up) {
    rd_kafka_message_t *m = rd_kafka_consume(cons.rkt, 0, 100);
    if (m == NULL) continue;
    if (m->err == 0) {
      got++;
      last = bench_now_ns();
      if (start == 0) start = last;
      else bytes += m->len;
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (errors++ == 0) fprintf(stderr, "kafka_bench: consume: %s\n", rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
  if (got < want)
    fprintf(stderr, "kafka_bench: consumed only %llu of %llu records\n",
            (unsigned long long)got, (unsigned long long)want);
  bench_report_throughput(o, got > 0 ? got - 1 : 0, bytes, (double)(last - start) / 1e9,
                          errors + (want - got));
  simple_consumer_close(&cons);
  free(buf);
  return got > 0 ? 0 : -1;
}

typedef struct latency_sender {
  kafka_bench_t *kb;
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  int64_t start_ns, end_ns;
  atomic_uint_fast64_t enqueued;
  atomic_uint_fast64_t dropped; /* local queue full: the client could not keep the schedule */
  atomic_bool done;
} latency_sender_t;

static void *latency_send_loop(void *arg) {
  latency_sender_t *s = arg;
  bench_opts_t *o = s->kb->opts;
  uint8_t *buf = malloc(o->size);
  bench_fill_payload(buf, o->size);
  bench_pacer_t pacer;
  bench_pacer_init(&pacer, o->rate, s->start_ns);
  /* Runs until every record scheduled before the end has been sent, even if the system held
   * the sender up past the end: a record the sender owed is sent late, never skipped. */
  while (bench_pacer_next_due(&pacer) < s->end_ns) {
    int64_t now = bench_now_ns();
    /* Send everything that is due, each stamped with its own scheduled time. */
    for (int64_t due; (due = bench_pacer_next_due(&pacer)) <= now && due < s->end_ns;
         pacer.next_index++) {
      bench_stamp(buf, o->size, due);
      if (rd_kafka_produce(s->rkt, 0, RD_KAFKA_MSG_F_COPY, buf, o->size, NULL, 0, NULL) == 0)
        atomic_fetch_add(&s->enqueued, 1);
      else
        atomic_fetch_add(&s->dropped, 1);
    }
    rd_kafka_poll(s->rk, 0);
    bench_sleep_until(bench_pacer_next_due(&pacer));
  }
  rd_kafka_flush(s->rk, 30000);
  atomic_store(&s->done, true);
  free(buf);
  return NULL;
}

static int run_latency(kafka_bench_t *kb) {
  bench_opts_t *o = kb->opts;
  rd_kafka_t *prk = producer_new(kb, o->acks, o->linger_ms >= 0 ? o->linger_ms : 1);
  if (prk == NULL) return -1;
  latency_sender_t s = {.kb = kb, .rk = prk};
  s.rkt = rd_kafka_topic_new(prk, o->topic, NULL);
  uint8_t *buf = malloc(o->size);
  bench_fill_payload(buf, o->size);
  bench_stamp(buf, o->size, 0); /* stamp 0: before the warm-up cut, never recorded */
  simple_consumer_t cons = {0};
  int rc = -1;
  if (topic_create(kb, prk, o->topic) != 0 || producer_warm_up(kb, prk, s.rkt, buf, o->size) != 0)
    goto out;
  if (simple_consumer_open(kb, &cons, o->topic, false) != 0) goto out;
  /* Wait for the warm-up record so the consumer is connected and fetching before the clock. */
  for (int64_t t = bench_now_ns() + 30 * (int64_t)1000000000;;) {
    rd_kafka_message_t *m = rd_kafka_consume(cons.rkt, 0, 100);
    bool ok = m != NULL && m->err == 0;
    if (m) rd_kafka_message_destroy(m);
    if (ok) break;
    if (bench_now_ns() > t) {
      fprintf(stderr, "kafka_bench: consumer never saw the warm-up record\n");
      goto out;
    }
  }
  atomic_store(&kb->delivered, 0);
  s.start_ns = bench_now_ns() + 10000000;
  s.end_ns = s.start_ns + (int64_t)((o->warmup_seconds + o->seconds) * 1e9);
  int64_t record_from = s.start_ns + (int64_t)(o->warmup_seconds * 1e9);
  pthread_t tid;
  if (pthread_create(&tid, NULL, latency_send_loop, &s) != 0) goto out;

  bench_samples_t samples;
  bench_samples_init(&samples);
  uint64_t received = 0, errors = 0;
  int64_t idle_since = 0, last_rx = s.start_ns;
  for (;;) {
    rd_kafka_message_t *m = rd_kafka_consume(cons.rkt, 0, 50);
    int64_t now = bench_now_ns();
    if (m != NULL) {
      int64_t sent_at;
      if (m->err == 0 && bench_read_stamp(m->payload, m->len, &sent_at) == 0) {
        received++;
        last_rx = now;
        if (sent_at >= record_from) bench_samples_add(&samples, now - sent_at);
      } else if (m->err) {
        errors++;
      }
      rd_kafka_message_destroy(m);
      idle_since = 0;
    }
    if (atomic_load(&s.done)) {
      if (received >= atomic_load(&kb->delivered)) break;
      /* Records acknowledged but never fetched: give them 5 s, then report them lost. */
      if (idle_since == 0) idle_since = now;
      else if (now - idle_since > 5 * (int64_t)1000000000) break;
    }
  }
  pthread_join(tid, NULL);
  uint64_t lost = atomic_load(&kb->delivered) > received ? atomic_load(&kb->delivered) - received : 0;
  uint64_t dropped = atomic_load(&s.dropped) + atomic_load(&kb->failed);
  if (lost || dropped)
    fprintf(stderr, "kafka_bench: %llu acknowledged but not received, %llu not sent/acked\n",
            (unsigned long long)lost, (unsigned long long)dropped);
  bench_report_latency(o, &samples, atomic_load(&kb->delivered),
                       (double)(last_rx - s.start_ns) / 1e9, received, errors + lost + dropped);
  bench_samples_deinit(&samples);
  rc = 0;
out:
  simple_consumer_close(&cons);
  rd_kafka_topic_destroy(s.rkt);
  rd_kafka_destroy(prk);
  free(buf);
  return rc;
}

static int mock_start(kafka_bench_t *kb) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* This handle only hosts the mock cluster; silence its "no bootstrap.servers" notice. */
  conf_set(conf, "log_level", "3");
  kb->mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (kb->mock_owner == NULL) {
    fprintf(stderr, "kafka_bench: mock owner: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  kb->mock = rd_kafka_mock_cluster_new(kb->mock_owner, 1);
  if (kb->mock == NULL) {
    fprintf(stderr, "kafka_bench: rd_kafka_mock_cluster_new failed\n");
    return -1;
  }
  snprintf(kb->bootstrap, sizeof(kb->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(kb->mock));
  return 0;
}

int main(int argc, char **argv) {
  bench_opts_t opts;
  if (bench_opts_parse(&opts, argc, argv, "kafka") != 0) return 2;
  kafka_bench_t *kb = calloc(1, sizeof(*kb));
  kb->opts = &opts;
  if (opts.mock) {
    if (mock_start(kb) != 0) return 1;
  } else {
    snprintf(kb->bootstrap, sizeof(kb->bootstrap), "%s", opts.server);
  }
  int rc;
  switch (opts.mode) {
  case BENCH_PRODUCE: rc = run_produce(kb); break;
  case BENCH_CONSUME: rc = run_consume(kb); break;
  default: rc = run_latency(kb); break;
  }
  if (kb->mock) rd_kafka_mock_cluster_destroy(kb->mock);
  if (kb->mock_owner) rd_kafka_destroy(kb->mock_owner);
  free(kb);
  return rc == 0 ? 0 : 1;
}
