/* Shared pieces of the benchmark drivers: command-line options, the wall-clock pacer of the
 * open-loop latency runs, latency sample collection, and the one-line JSON result format that
 * bench/compare parses. Each driver prints exactly one JSON line per result on stdout and a
 * human-readable summary on stderr. */
#ifndef STREAMBUS_BENCH_UTIL_H
#define STREAMBUS_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum { BENCH_PRODUCE, BENCH_CONSUME, BENCH_LATENCY } bench_mode_t;

typedef struct bench_opts {
  bench_mode_t mode;
  size_t size;           /* record value size in bytes */
  double seconds;        /* time bound of the measured phase */
  uint64_t messages;     /* message bound (0 = time bound only); consume: records to prefill */
  double rate;           /* latency mode: target send rate, msg/s */
  double warmup_seconds; /* latency mode: samples sent before this are not recorded */
  const char *acks;      /* "1" or "all" (redis: selects appendfsync everysec/always) */
  const char *server;    /* host:port of the system under test */
  const char *topic;     /* topic / stream name; each run should use a fresh one */
  const char *label;     /* system name written into the result line */
  int pipeline;          /* redis: commands in flight per connection */
  int linger_ms;         /* kafka: producer linger.ms (-1 = driver default for the mode) */
  int fetch_wait_ms;     /* kafka: consumer fetch.wait.max.ms (-1 = librdkafka default) */
  bool mock;             /* kafka: run against an in-process librdkafka mock cluster */
} bench_opts_t;

/* Parses argv into opts. Prints usage and returns -1 on a bad or missing option. */
int bench_opts_parse(bench_opts_t *opts, int argc, char **argv, const char *default_label);

/* Monotonic clock in nanoseconds. */
int64_t bench_now_ns(void);

/* Sleeps until the monotonic clock reaches deadline_ns (returns at once if it has passed).
 * It never spins: the machine has two cores shared by client and server, so a spinning pacer
 * would steal the CPU the system under test needs. Open-loop senders instead send every record
 * whose scheduled time has passed on each wake-up (see bench_pacer_t). */
void bench_sleep_until(int64_t deadline_ns);

/* Wall-clock schedule of an open-loop sender: record i is due at start + i / rate, whatever
 * happened to earlier records, so the sender never slows down when the system does. */
typedef struct bench_pacer {
  int64_t start_ns;
  double interval_ns;
  uint64_t next_index;
} bench_pacer_t;

/* Lowers this thread's timer slack to 1 us so sleeps end close to their deadline. */
void bench_pacer_init(bench_pacer_t *p, double rate_per_s, int64_t start_ns);
/* Due time of the next record. */
int64_t bench_pacer_next_due(const bench_pacer_t *p);

/* Latency samples in nanoseconds; an array sorted at report time gives exact percentiles. */
typedef struct bench_samples {
  int64_t *values;
  size_t count;
  size_t capacity;
} bench_samples_t;

void bench_samples_init(bench_samples_t *s);
void bench_samples_deinit(bench_samples_t *s);
int bench_samples_add(bench_samples_t *s, int64_t value_ns);
/* Sorts the samples (once) and returns the q-quantile (0..1), 0 when there are none. */
int64_t bench_samples_quantile(bench_samples_t *s, double q);

/* The payload of latency runs begins with the intended send time (monotonic ns, little-endian),
 * so the consumer can measure end-to-end latency from the schedule rather than from the moment
 * the sender got around to it (no coordinated omission). */
void bench_stamp(uint8_t *payload, size_t size, int64_t send_ns);
int bench_read_stamp(const uint8_t *payload, size_t size, int64_t *send_ns);

/* Result lines. Throughput: msgs records totalling bytes moved in elapsed_s. */
void bench_report_throughput(const bench_opts_t *o, uint64_t msgs, uint64_t bytes,
                             double elapsed_s, uint64_t errors);
/* Latency: samples recorded after warm-up; sent = records the system acknowledged; received =
 * records the consumer saw. The achieved rate is received / delivery_window_s, the window running
 * from the first scheduled send to the last receipt, so a system that falls behind the schedule
 * shows a rate below the target even though every record eventually arrives. */
void bench_report_latency(const bench_opts_t *o, bench_samples_t *samples, uint64_t sent,
                          double delivery_window_s, uint64_t received, uint64_t errors);

/* Fills buf with a repeating non-zero pattern so that no layer can special-case zero pages. */
void bench_fill_payload(uint8_t *buf, size_t size);

const char *bench_mode_name(bench_mode_t mode);

#endif
