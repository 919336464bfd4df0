/* Measures this machine's durable-write latency: append 4 KiB to a file and fdatasync it,
 * repeatedly, as a log with per-write durability would. The figure bounds what any of the
 * systems can do with one fsync per acknowledgement, and is the context for every acks=all
 * number in bench/compare.
 *
 *   fsync_probe DIR [SECONDS]    (default 2 s; prints one JSON line and a human summary) */
#include "bench_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [SECONDS]\n", argv[0]);
    return 2;
  }
  double seconds = argc > 2 ? strtod(argv[2], NULL) : 2.0;
  char path[4096];
  snprintf(path, sizeof(path), "%s/fsync_probe.%d", argv[1], (int)getpid());
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) {
    perror(path);
    return 1;
  }
  uint8_t block[4096];
  bench_fill_payload(block, sizeof(block));
  bench_samples_t samples;
  bench_samples_init(&samples);
  int rc = 0;
  int64_t start = bench_now_ns(), end = start + (int64_t)(seconds * 1e9);
  while (bench_now_ns() < end) {
    int64_t t0 = bench_now_ns();
    if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fdatasync(fd) != 0) {
      perror("write/fdatasync");
      rc = 1;
      break;
    }
    bench_samples_add(&samples, bench_now_ns() - t0);
  }
  double elapsed = (double)(bench_now_ns() - start) / 1e9;
  close(fd);
  unlink(path);
  double p50 = (double)bench_samples_quantile(&samples, 0.5) / 1e3;
  double p99 = (double)bench_samples_quantile(&samples, 0.99) / 1e3;
  double per_s = elapsed > 0 ? (double)samples.count / elapsed : 0;
  printf("{\"result\":\"fsync\",\"block\":4096,\"count\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"per_s\":%.0f}\n",
         samples.count, p50, p99, per_s);
  fprintf(stderr, "fdatasync after 4 KiB append: p50 %.1f us, p99 %.1f us, %.0f per second\n",
          p50, p99, per_s);
  bench_samples_deinit(&samples);
  return rc;
}
