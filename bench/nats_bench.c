/* NATS JetStream benchmark driver on libnats, against nats-server -js with file storage.
 *
 *   produce  js_PublishAsync with up to --pipeline publishes awaiting their PubAck; counts
 *            positive PubAcks (JetStream acks after the message is stored). --acks is only
 *            recorded: JetStream has one acknowledgement mode.
 *   consume  prefills a fresh stream with --messages messages (untimed), then times reading
 *            them with an ordered push consumer (no acks, flow-controlled by the server).
 *   latency  open loop: a sender thread publishes at --rate msg/s on a wall-clock schedule; an
 *            ordered consumer in this process measures scheduled-send-to-receive latency.
 *
 * Every run creates its own stream named after --topic (subject = stream name) and deletes it
 * afterwards so that runs in one server do not share state. */
#include "bench_util.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct nats_bench {
  const bench_opts_t *opts;
  natsConnection *nc;
  jsCtx *js;
  atomic_uint_fast64_t acked;
  atomic_uint_fast64_t failed;
} nats_bench_t;

static int check(natsStatus s, const char *what) {
  if (s == NATS_OK) return 0;
  fprintf(stderr, "nats_bench: %s: %s (%s)\n", what, natsStatus_GetText(s), nats_GetLastError(NULL));
  return -1;
}

/* Runs on a libnats thread for every PubAck or publish error. */
static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
  nats_bench_t *nb = closure;
  if (pa != NULL) {
    atomic_fetch_add(&nb->acked, 1);
  } else if (atomic_fetch_add(&nb->failed, 1) == 0 && pae != NULL) {
    fprintf(stderr, "nats_bench: publish failed: %s\n", pae->ErrText ? pae->ErrText : "?");
  }
  natsMsg_Destroy(msg);
}

static int bench_connect(nats_bench_t *nb) {
  char url[300];
  snprintf(url, sizeof(url), "nats://%s", nb->opts->server);
  if (check(natsConnection_ConnectTo(&nb->nc, url), "connect") != 0) return -1;
  jsOptions jo;
  jsOptions_Init(&jo);
  /* An open-loop sender must never be held back by the client's own window, so latency runs
   * allow far more unacknowledged publishes than a throughput run needs. */
  jo.PublishAsync.MaxPending = nb->opts->mode == BENCH_LATENCY ? 10000000 : nb->opts->pipeline;
  jo.PublishAsync.AckHandler = on_pub_ack;
  jo.PublishAsync.AckHandlerClosure = nb;
  /* Generous: under fsync-heavy load a stalled publish is a result, not a reason to fail. */
  jo.PublishAsync.StallWait = 30000;
  return check(natsConnection_JetStream(&nb->js, nb->nc, &jo), "JetStream context");
}

static int stream_create(nats_bench_t *nb) {
  const char *subjects[] = {nb->opts->topic};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = nb->opts->topic;
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  jsErrCode jerr = 0;
  jsStreamInfo *si = NULL;
  js_DeleteStream(nb->js, nb->opts->topic, NULL, &jerr); /* a leftover from an aborted run */
  int rc = check(js_AddStream(&si, nb->js, &sc, NULL, &jerr), "add stream");
  jsStreamInfo_Destroy(si);
  return rc;
}

static void stream_delete(nats_bench_t *nb) {
  jsErrCode jerr = 0;
  js_DeleteStream(nb->js, nb->opts->topic, NULL, &jerr);
}

/* Publishes until the time or message bound, then waits for every PubAck. */
static int publish_run(nats_bench_t *nb, const uint8_t *buf, double seconds, uint64_t max_msgs,
                       double *elapsed) {
  const bench_opts_t *o = nb->opts;
  atomic_store(&nb->acked, 0);
  atomic_store(&nb->failed, 0);
  int64_t start = bench_now_ns(), end = start + (int64_t)(seconds * 1e9);
  for (uint64_t sent = 0; max_msgs == 0 || sent < max_msgs; sent++) {
    if ((sent & 255) == 0 && bench_now_ns() >= end) break;
    if (check(js_PublishAsync(nb->js, o->topic, buf, (int)o->size, NULL), "publish") != 0)
      return -1;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  if (check(js_PublishAsyncComplete(nb->js, &po), "publish complete") != 0) return -1;
  *elapsed = (double)(bench_now_ns() - start) / 1e9;
  return 0;
}

static int ordered_subscribe(nats_bench_t *nb, natsSubscription **sub) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  jsErrCode jerr = 0;
  if (check(js_SubscribeSync(sub, nb->js, nb->opts->topic, NULL, &so, &jerr), "subscribe") != 0)
    return -1;
  /* The default pending limit (65,536 messages) would drop messages of a burst and make the
   * ordered consumer restart; a reader that keeps up never gets near this one. */
  return check(natsSubscription_SetPendingLimits(*sub, 10000000, 2000000000), "pending limits");
}

static int run_produce(nats_bench_t *nb, const uint8_t *buf) {
  double elapsed;
  if (publish_run(nb, buf, nb->opts->seconds, nb->opts->messages, &elapsed) != 0) return -1;
  uint64_t ok = atomic_load(&nb->acked);
  bench_report_throughput(nb->opts, ok, ok * nb->opts->size, elapsed, atomic_load(&nb->failed));
  return ok > 0 ? 0 : -1;
}

static int run_consume(nats_bench_t *nb, const uint8_t *buf) {
  const bench_opts_t *o = nb->opts;
  double elapsed;
  if (publish_run(nb, buf, 120, o->messages, &elapsed) != 0) return -1;
  uint64_t want = atomic_load(&nb->acked);
  fprintf(stderr, "nats_bench: prefilled %llu messages\n", (unsigned long long)want);
  natsSubscription *sub = NULL;
  if (ordered_subscribe(nb, &sub) != 0) return -1;
  /* As for the Kafka driver, the clock runs from the first message to the last. */
  uint64_t got = 0, bytes = 0;
  int64_t start = 0, last = 0;
  while (got < want) {
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, 5000);
    if (s == NATS_TIMEOUT) break;
    if (check(s, "next message") != 0) break;
    got++;
    last = bench_now_ns();
    if (start == 0) start = last;
    else bytes += (uint64_t)natsMsg_GetDataLength(m);
    natsMsg_Destroy(m);
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  bench_report_throughput(o, got > 0 ? got - 1 : 0, bytes, (double)(last - start) / 1e9,
                          want - got);
  return got > 1 ? 0 : -1;
}

typedef struct latency_sender {
  nats_bench_t *nb;
  int64_t start_ns, end_ns;
  atomic_uint_fast64_t publish_errors;
  atomic_bool done;
} latency_sender_t;

static void *latency_send_loop(void *arg) {
  latency_sender_t *s = arg;
  const bench_opts_t *o = s->nb->opts;
  uint8_t *buf = malloc(o->size);
  bench_fill_payload(buf, o->size);
  bench_pacer_t pacer;
  bench_pacer_init(&pacer, o->rate, s->start_ns);
  /* Runs until every record scheduled before the end has been sent, even if the system held
   * the sender up past the end: a record the sender owed is sent late, never skipped. */
  while (bench_pacer_next_due(&pacer) < s->end_ns) {
    int64_t now = bench_now_ns();
    for (int64_t due; (due = bench_pacer_next_due(&pacer)) <= now && due < s->end_ns;
         pacer.next_index++) {
      bench_stamp(buf, o->size, due);
      if (js_PublishAsync(s->nb->js, o->topic, buf, (int)o->size, NULL) != NATS_OK)
        atomic_fetch_add(&s->publish_errors, 1);
    }
    bench_sleep_until(bench_pacer_next_due(&pacer));
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30000;
  js_PublishAsyncComplete(s->nb->js, &po);
  atomic_store(&s->done, true);
  free(buf);
  return NULL;
}

static int run_latency(nats_bench_t *nb, const uint8_t *buf) {
  const bench_opts_t *o = nb->opts;
  /* A warm-up message stamped 0 is received first and never recorded. */
  uint8_t *warm = malloc(o->size);
  memcpy(warm, buf, o->size);
  bench_stamp(warm, o->size, 0);
  double unused;
  int rc = publish_run(nb, warm, 10, 1, &unused);
  free(warm);
  natsSubscription *sub = NULL;
  if (rc != 0 || ordered_subscribe(nb, &sub) != 0) return -1;
  natsMsg *first = NULL;
  if (check(natsSubscription_NextMsg(&first, sub, 10000), "warm-up message") != 0) {
    natsSubscription_Destroy(sub);
    return -1;
  }
  natsMsg_Destroy(first);
  atomic_store(&nb->acked, 0);

  latency_sender_t s = {.nb = nb};
  s.start_ns = bench_now_ns() + 10000000;
  s.end_ns = s.start_ns + (int64_t)((o->warmup_seconds + o->seconds) * 1e9);
  int64_t record_from = s.start_ns + (int64_t)(o->warmup_seconds * 1e9);
  pthread_t tid;
  pthread_create(&tid, NULL, latency_send_loop, &s);

  bench_samples_t samples;
  bench_samples_init(&samples);
  uint64_t received = 0, errors = 0;
  int64_t idle_since = 0, last_rx = s.start_ns;
  for (;;) {
    natsMsg *m = NULL;
    natsStatus st = natsSubscription_NextMsg(&m, sub, 50);
    int64_t now = bench_now_ns();
    if (st == NATS_OK) {
      int64_t sent_at;
      if (bench_read_stamp((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                           &sent_at) == 0) {
        received++;
        last_rx = now;
        if (sent_at >= record_from) bench_samples_add(&samples, now - sent_at);
      }
      natsMsg_Destroy(m);
      idle_since = 0;
    } else if (st != NATS_TIMEOUT) {
      if (errors++ == 0) check(st, "next message");
    }
    if (atomic_load(&s.done)) {
      if (received >= atomic_load(&nb->acked)) break;
      if (idle_since == 0) idle_since = now;
      else if (now - idle_since > 5 * (int64_t)1000000000) break;
    }
  }
  pthread_join(tid, NULL);
  uint64_t acked = atomic_load(&nb->acked);
  uint64_t lost = acked > received ? acked - received : 0;
  bench_report_latency(o, &samples, acked, (double)(last_rx - s.start_ns) / 1e9, received,
                       errors + lost + atomic_load(&nb->failed) + atomic_load(&s.publish_errors));
  bench_samples_deinit(&samples);
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return 0;
}

int main(int argc, char **argv) {
  bench_opts_t opts;
  if (bench_opts_parse(&opts, argc, argv, "jetstream") != 0) return 2;
  nats_bench_t *nb = calloc(1, sizeof(*nb));
  nb->opts = &opts;
  uint8_t *buf = malloc(opts.size);
  bench_fill_payload(buf, opts.size);
  int rc = -1;
  if (bench_connect(nb) == 0 && stream_create(nb) == 0) {
    switch (opts.mode) {
    case BENCH_PRODUCE: rc = run_produce(nb, buf); break;
    case BENCH_CONSUME: rc = run_consume(nb, buf); break;
    default: rc = run_latency(nb, buf); break;
    }
    stream_delete(nb);
  }
  jsCtx_Destroy(nb->js);
  natsConnection_Destroy(nb->nc);
  nats_Close();
  free(buf);
  free(nb);
  return rc == 0 ? 0 : 1;
}
