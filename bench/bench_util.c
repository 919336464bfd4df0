#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s --mode produce|consume|latency [options]\n"
          "  --server HOST:PORT   system under test (kafka: bootstrap servers)\n"
          "  --mock               kafka only: in-process librdkafka mock cluster\n"
          "  --topic NAME         topic/stream (use a fresh one per run)\n"
          "  --size BYTES         record value size (default 100)\n"
          "  --seconds S          bound of the measured phase (default 5)\n"
          "  --messages N         produce: stop after N; consume: records to prefill "
          "(default 200000)\n"
          "  --acks 1|all         kafka acks; redis: appendfsync everysec|always (default 1)\n"
          "  --rate R             latency: target send rate msg/s (default 10000)\n"
          "  --warmup S           latency: seconds of samples not recorded (default 1)\n"
          "  --pipeline N         redis: commands in flight (default 256)\n"
          "  --linger-ms MS       kafka: producer linger.ms (default 5; latency mode 1)\n"
          "  --fetch-wait-ms MS   kafka: consumer fetch.wait.max.ms (default: librdkafka's)\n"
          "  --label NAME         system name in the result line\n",
          prog);
}

int bench_opts_parse(bench_opts_t *o, int argc, char **argv, const char *default_label) {
  *o = (bench_opts_t){.mode = BENCH_PRODUCE, .size = 100, .seconds = 5, .messages = 0,
                      .rate = 10000, .warmup_seconds = 1, .acks = "1",
                      .server = NULL, .topic = "bench", .label = default_label,
                      .pipeline = 256, .linger_ms = -1, .fetch_wait_ms = -1, .mock = false};
  bool consume_messages_given = false;
  static const struct option long_opts[] = {
      {"mode", required_argument, NULL, 'm'},     {"size", required_argument, NULL, 's'},
      {"seconds", required_argument, NULL, 'd'},  {"messages", required_argument, NULL, 'n'},
      {"rate", required_argument, NULL, 'r'},     {"warmup", required_argument, NULL, 'w'},
      {"acks", required_argument, NULL, 'a'},     {"server", required_argument, NULL, 'b'},
      {"topic", required_argument, NULL, 't'},    {"label", required_argument, NULL, 'l'},
      {"pipeline", required_argument, NULL, 'p'}, {"linger-ms", required_argument, NULL, 'g'},
      {"fetch-wait-ms", required_argument, NULL, 'f'}, {"mock", no_argument, NULL, 'M'},           {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
    switch (c) {
    case 'm':
      if (strcmp(optarg, "produce") == 0) o->mode = BENCH_PRODUCE;
      else if (strcmp(optarg, "consume") == 0) o->mode = BENCH_CONSUME;
      else if (strcmp(optarg, "latency") == 0) o->mode = BENCH_LATENCY;
      else { usage(argv[0]); return -1; }
      break;
    case 's': o->size = strtoul(optarg, NULL, 10); break;
    case 'd': o->seconds = strtod(optarg, NULL); break;
    case 'n': o->messages = strtoull(optarg, NULL, 10); consume_messages_given = true; break;
    case 'r': o->rate = strtod(optarg, NULL); break;
    case 'w': o->warmup_seconds = strtod(optarg, NULL); break;
    case 'a': o->acks = optarg; break;
    case 'b': o->server = optarg; break;
    case 't': o->topic = optarg; break;
    case 'l': o->label = optarg; break;
    case 'p': o->pipeline = atoi(optarg); break;
    case 'g': o->linger_ms = atoi(optarg); break;
    case 'f': o->fetch_wait_ms = atoi(optarg); break;
    case 'M': o->mock = true; break;
    default: usage(argv[0]); return -1;
    }
  }
  if (strcmp(o->acks, "1") != 0 && strcmp(o->acks, "all") != 0) {
    fprintf(stderr, "%s: --acks must be 1 or all\n", argv[0]);
    return -1;
  }
  /* Latency payloads carry an 8-byte timestamp; anything shorter could not. */
  if (o->size < 8 || o->seconds <= 0 || o->rate <= 0 || o->pipeline < 1) {
    fprintf(stderr, "%s: --size must be >= 8, --seconds, --rate and --pipeline positive\n",
            argv[0]);
    return -1;
  }
  if (o->mode == BENCH_CONSUME && !consume_messages_given) o->messages = 200000;
  if (o->server == NULL && !o->mock) {
    fprintf(stderr, "%s: --server is required\n", argv[0]);
    usage(argv[0]);
    return -1;
  }
  return 0;
}

int64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_sleep_until(int64_t deadline_ns) {
  struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

void bench_pacer_init(bench_pacer_t *p, double rate_per_s, int64_t start_ns) {
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  p->start_ns = start_ns;
  p->interval_ns = 1e9 / rate_per_s;
  p->next_index = 0;
}

int64_t bench_pacer_next_due(const bench_pacer_t *p) {
  return p->start_ns + (int64_t)((double)p->next_index * p->interval_ns);
}

void bench_samples_init(bench_samples_t *s) { *s = (bench_samples_t){0}; }

void bench_samples_deinit(bench_samples_t *s) {
  free(s->values);
  *s = (bench_samples_t){0};
}

int bench_samples_add(bench_samples_t *s, int64_t value_ns) {
  if (s->count == s->capacity) {
    size_t cap = s->capacity ? s->capacity * 2 : 65536;
    int64_t *v = realloc(s->values, cap * sizeof(*v));
    if (v == NULL) return -1;
    s->values = v;
    s->capacity = cap;
  }
  s->values[s->count++] = value_ns;
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int64_t bench_samples_quantile(bench_samples_t *s, double q) {
  if (s->count == 0) return 0;
  /* Sorting on every call keeps the struct simple; qsort on sorted input is cheap. */
  qsort(s->values, s->count, sizeof(*s->values), cmp_i64);
  size_t idx = (size_t)(q * (double)(s->count - 1) + 0.5);
  if (idx >= s->count) idx = s->count - 1;
  return s->values[idx];
}

void bench_stamp(uint8_t *payload, size_t size, int64_t send_ns) {
  uint64_t v = (uint64_t)send_ns;
  for (size_t i = 0; i < 8 && i < size; i++) payload[i] = (uint8_t)(v >> (8 * i));
}

int bench_read_stamp(const uint8_t *payload, size_t size, int64_t *send_ns) {
  if (size < 8) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < 8; i++) v |= (uint64_t)payload[i] << (8 * i);
  *send_ns = (int64_t)v;
  return 0;
}

const char *bench_mode_name(bench_mode_t mode) {
  switch (mode) {
  case BENCH_PRODUCE: return "produce";
  case BENCH_CONSUME: return "consume";
  case BENCH_LATENCY: return "latency";
  }
  return "?";
}

void bench_report_throughput(const bench_opts_t *o, uint64_t msgs, uint64_t bytes,
                             double elapsed_s, uint64_t errors) {
  double mps = elapsed_s > 0 ? (double)msgs / elapsed_s : 0;
  double mbps = elapsed_s > 0 ? (double)bytes / elapsed_s / 1e6 : 0;
  printf("{\"result\":\"%s\",\"system\":\"%s\",\"size\":%zu,\"acks\":\"%s\",\"msgs\":%llu,"
         "\"bytes\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"mb_per_s\":%.2f,\"errors\":%llu}\n",
         bench_mode_name(o->mode), o->label, o->size, o->acks, (unsigned long long)msgs,
         (unsigned long long)bytes, elapsed_s, mps, mbps, (unsigned long long)errors);
  fflush(stdout);
  fprintf(stderr, "%s %s size=%zu acks=%s: %llu msgs in %.2f s = %.0f msg/s, %.2f MB/s, %llu errors\n",
          o->label, bench_mode_name(o->mode), o->size, o->acks, (unsigned long long)msgs, elapsed_s,
          mps, mbps, (unsigned long long)errors);
}

void bench_report_latency(const bench_opts_t *o, bench_samples_t *samples, uint64_t sent,
                          double delivery_window_s, uint64_t received, uint64_t errors) {
  double us = 1e3;
  double p50 = (double)bench_samples_quantile(samples, 0.50) / us;
  double p99 = (double)bench_samples_quantile(samples, 0.99) / us;
  double p999 = (double)bench_samples_quantile(samples, 0.999) / us;
  double pmax = (double)bench_samples_quantile(samples, 1.0) / us;
  double achieved = delivery_window_s > 0 ? (double)received / delivery_window_s : 0;
  printf("{\"result\":\"latency\",\"system\":\"%s\",\"size\":%zu,\"acks\":\"%s\","
         "\"target_rate\":%.0f,\"achieved_rate\":%.0f,\"sent\":%llu,\"received\":%llu,"
         "\"samples\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
         "\"errors\":%llu}\n",
         o->label, o->size, o->acks, o->rate, achieved, (unsigned long long)sent,
         (unsigned long long)received, samples->count, p50, p99, p999, pmax,
         (unsigned long long)errors);
  fflush(stdout);
  fprintf(stderr,
          "%s latency size=%zu acks=%s rate=%.0f (achieved %.0f): p50 %.1f us, p99 %.1f us, "
          "p99.9 %.1f us, max %.1f us; sent %llu received %llu errors %llu\n",
          o->label, o->size, o->acks, o->rate, achieved, p50, p99, p999, pmax,
          (unsigned long long)sent, (unsigned long long)received, (unsigned long long)errors);
}

void bench_fill_payload(uint8_t *buf, size_t size) {
  for (size_t i = 0; i < size; i++) buf[i] = (uint8_t)('a' + i % 26);
}
