/* Redis Streams benchmark driver, speaking RESP over a plain socket (no client library).
 *
 *   produce  pipelined XADD (--pipeline commands per round trip) for --seconds; --acks 1 sets
 *            appendfsync everysec, --acks all sets appendfsync always (CONFIG SET), the
 *            closest Redis has to Kafka's acks=1 + flush interval and acks=all + fsync.
 *   consume  prefills a fresh stream with --messages entries (untimed), then times XREAD
 *            COUNT 1000 from the start until all are read.
 *   latency  open loop: a sender thread writes XADDs at --rate msg/s on a wall-clock schedule
 *            (a second thread drains the replies so the sender never waits for one); the main
 *            thread reads with XREAD BLOCK and measures scheduled-send-to-receive latency.
 *
 * Replies are parsed with a small blocking RESP reader that bounds every length it reads. */
#include "bench_util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Entries are XADDed with a single field of this name. */
#define FIELD "d"
#define MAX_BULK (64 * 1024 * 1024)
#define MAX_ARRAY (16 * 1024 * 1024)
#define MAX_DEPTH 8

typedef struct resp_conn {
  int fd;
  char *in;
  size_t in_len, in_pos, in_cap;
  char *out;
  size_t out_len, out_cap;
} resp_conn_t;

typedef struct resp_reply {
  char type; /* '+', '-', ':', '$', '*' */
  long long integer;
  char *str; /* '+', '-', '$' (NULL for a null bulk) */
  size_t len;
  struct resp_reply **elements; /* '*' */
  size_t count;
} resp_reply_t;

static void reply_free(resp_reply_t *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->count; i++) reply_free(r->elements[i]);
  free(r->elements);
  free(r->str);
  free(r);
}

static int conn_open(resp_conn_t *c, const char *hostport) {
  *c = (resp_conn_t){.fd = -1};
  char host[256];
  snprintf(host, sizeof(host), "%s", hostport);
  char *colon = strrchr(host, ':');
  if (colon == NULL) {
    fprintf(stderr, "redis_bench: --server must be HOST:PORT\n");
    return -1;
  }
  *colon = '\0';
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
    fprintf(stderr, "redis_bench: cannot resolve %s\n", hostport);
    return -1;
  }
  c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    fprintf(stderr, "redis_bench: connect %s: %s\n", hostport, strerror(errno));
    freeaddrinfo(ai);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    return -1;
  }
  freeaddrinfo(ai);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c->in_cap = 1 << 20;
  c->in = malloc(c->in_cap);
  return 0;
}

static void conn_close(resp_conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  free(c->in);
  free(c->out);
  *c = (resp_conn_t){.fd = -1};
}

static void out_append(resp_conn_t *c, const void *data, size_t len) {
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len) cap *= 2;
    c->out = realloc(c->out, cap);
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
}

static void cmd_begin(resp_conn_t *c, int argc) {
  char hdr[32];
  int n = snprintf(hdr, sizeof(hdr), "*%d\r\n", argc);
  out_append(c, hdr, (size_t)n);
}

static void cmd_arg(resp_conn_t *c, const void *data, size_t len) {
  char hdr[32];
  int n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", len);
  out_append(c, hdr, (size_t)n);
  out_append(c, data, len);
  out_append(c, "\r\n", 2);
}

static void cmd_str(resp_conn_t *c, const char *s) { cmd_arg(c, s, strlen(s)); }

static int conn_flush(resp_conn_t *c) {
  size_t off = 0;
  while (off < c->out_len) {
    ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "redis_bench: send: %s\n", strerror(errno));
      return -1;
    }
    off += (size_t)n;
  }
  c->out_len = 0;
  return 0;
}

/* Makes at least `need` unread bytes available in the input buffer, blocking on the socket. */
static int in_fill(resp_conn_t *c, size_t need) {
  if (c->in_len - c->in_pos >= need) return 0;
  if (c->in_pos > 0) {
    memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
    c->in_len -= c->in_pos;
    c->in_pos = 0;
  }
  if (need > c->in_cap) {
    size_t cap = c->in_cap;
    while (cap < need) cap *= 2;
    c->in = realloc(c->in, cap);
    c->in_cap = cap;
  }
  while (c->in_len < need) {
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "redis_bench: recv: %s\n", n == 0 ? "connection closed" : strerror(errno));
      return -1;
    }
    c->in_len += (size_t)n;
  }
  return 0;
}

/* Reads one CRLF-terminated line; *line points into the buffer, valid until the next read. */
static int read_line(resp_conn_t *c, char **line, size_t *len) {
  size_t scanned = 0;
  for (;;) {
    char *start = c->in + c->in_pos;
    size_t avail = c->in_len - c->in_pos;
    char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
    if (nl != NULL && nl > start && nl[-1] == '\r') {
      *line = start;
      *len = (size_t)(nl - start) - 1;
      c->in_pos += (size_t)(nl - start) + 1;
      return 0;
    }
    if (avail > 4096) {
      fprintf(stderr, "redis_bench: protocol error: line too long\n");
      return -1;
    }
    scanned = avail;
    if (in_fill(c, avail + 1) != 0) return -1;
  }
}

static int parse_ll(const char *s, size_t len, long long *v) {
  char tmp[32];
  if (len == 0 || len >= sizeof(tmp)) return -1;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  char *end;
  errno = 0;
  *v = strtoll(tmp, &end, 10);
  return (errno != 0 || *end != '\0') ? -1 : 0;
}

static int read_reply_depth(resp_conn_t *c, resp_reply_t **out, int depth) {
  char *line;
  size_t len;
  if (depth > MAX_DEPTH || read_line(c, &line, &len) != 0 || len < 1) return -1;
  resp_reply_t *r = calloc(1, sizeof(*r));
  r->type = line[0];
  long long n = 0;
  switch (r->type) {
  case '+':
  case '-':
    r->str = strndup(line + 1, len - 1);
    r->len = len - 1;
    break;
  case ':':
    if (parse_ll(line + 1, len - 1, &r->integer) != 0) goto bad;
    break;
  case '$':
    if (parse_ll(line + 1, len - 1, &n) != 0 || n > MAX_BULK) goto bad;
    if (n >= 0) {
      if (in_fill(c, (size_t)n + 2) != 0) goto bad;
      r->str = malloc((size_t)n + 1);
      memcpy(r->str, c->in + c->in_pos, (size_t)n);
      r->str[n] = '\0';
      r->len = (size_t)n;
      c->in_pos += (size_t)n + 2;
    }
    break;
  case '*':
    if (parse_ll(line + 1, len - 1, &n) != 0 || n > MAX_ARRAY) goto bad;
    if (n > 0) {
      r->elements = calloc((size_t)n, sizeof(*r->elements));
      for (long long i = 0; i < n; i++) {
        if (read_reply_depth(c, &r->elements[i], depth + 1) != 0) goto bad;
        r->count++;
      }
    }
    break;
  default:
    goto bad;
  }
  *out = r;
  return 0;
bad:
  fprintf(stderr, "redis_bench: protocol error in reply\n");
  reply_free(r);
  return -1;
}

static int read_reply(resp_conn_t *c, resp_reply_t **out) { return read_reply_depth(c, out, 0); }

/* Sends the buffered command(s) and checks that the single reply is not an error. */
static int simple_command(resp_conn_t *c, const char *what) {
  resp_reply_t *r = NULL;
  if (conn_flush(c) != 0 || read_reply(c, &r) != 0) return -1;
  int rc = 0;
  if (r->type == '-') {
    fprintf(stderr, "redis_bench: %s: %s\n", what, r->str);
    rc = -1;
  }
  reply_free(r);
  return rc;
}

static void cmd_xadd(resp_conn_t *c, const char *stream, const uint8_t *payload, size_t size) {
  cmd_begin(c, 5);
  cmd_str(c, "XADD");
  cmd_str(c, stream);
  cmd_str(c, "*");
  cmd_str(c, FIELD);
  cmd_arg(c, payload, size);
}

static int set_appendfsync(resp_conn_t *c, const char *acks) {
  cmd_begin(c, 4);
  cmd_str(c, "CONFIG");
  cmd_str(c, "SET");
  cmd_str(c, "appendfsync");
  cmd_str(c, strcmp(acks, "all") == 0 ? "always" : "everysec");
  return simple_command(c, "CONFIG SET appendfsync");
}

static void drop_stream(resp_conn_t *c, const char *stream) {
  cmd_begin(c, 2);
  cmd_str(c, "UNLINK");
  cmd_str(c, stream);
  simple_command(c, "UNLINK");
}

/* Pipelined XADD in rounds of `pipeline` commands. Counts successful replies. */
static int xadd_run(resp_conn_t *c, const bench_opts_t *o, const uint8_t *buf, double seconds,
                    uint64_t max_msgs, uint64_t *ok, uint64_t *errors, double *elapsed) {
  int64_t start = bench_now_ns(), end = start + (int64_t)(seconds * 1e9);
  *ok = *errors = 0;
  uint64_t sent = 0;
  while ((max_msgs == 0 || sent < max_msgs) && bench_now_ns() < end) {
    int round = o->pipeline;
    if (max_msgs && max_msgs - sent < (uint64_t)round) round = (int)(max_msgs - sent);
    for (int i = 0; i < round; i++) cmd_xadd(c, o->topic, buf, o->size);
    if (conn_flush(c) != 0) return -1;
    for (int i = 0; i < round; i++) {
      resp_reply_t *r;
      if (read_reply(c, &r) != 0) return -1;
      if (r->type == '$') (*ok)++;
      else if ((*errors)++ == 0) fprintf(stderr, "redis_bench: XADD: %s\n", r->str ? r->str : "?");
      reply_free(r);
    }
    sent += (uint64_t)round;
  }
  *elapsed = (double)(bench_now_ns() - start) / 1e9;
  return 0;
}

static int run_produce(const bench_opts_t *o, resp_conn_t *c, const uint8_t *buf) {
  uint64_t ok, errors;
  double elapsed;
  if (xadd_run(c, o, buf, o->seconds, o->messages, &ok, &errors, &elapsed) != 0) return -1;
  bench_report_throughput(o, ok, ok * o->size, elapsed, errors);
  return ok > 0 ? 0 : -1;
}

/* Walks an XREAD reply ([[stream, [[id, [field, value]], ...]]]) calling on_entry for each
 * entry's value and remembering the last id. Returns the number of entries. */
static size_t xread_entries(const resp_reply_t *r, char *last_id, size_t last_id_cap,
                            void (*on_entry)(const resp_reply_t *value, void *arg), void *arg) {
  if (r->type != '*' || r->count < 1) return 0;
  const resp_reply_t *s = r->elements[0];
  if (s->type != '*' || s->count != 2 || s->elements[1]->type != '*') return 0;
  const resp_reply_t *entries = s->elements[1];
  size_t n = 0;
  for (size_t i = 0; i < entries->count; i++) {
    const resp_reply_t *e = entries->elements[i];
    if (e->type != '*' || e->count != 2 || e->elements[0]->type != '$') continue;
    const resp_reply_t *fields = e->elements[1];
    if (fields->type == '*' && fields->count == 2 && fields->elements[1]->type == '$')
      on_entry(fields->elements[1], arg);
    snprintf(last_id, last_id_cap, "%s", e->elements[0]->str);
    n++;
  }
  return n;
}

typedef struct consume_tally {
  uint64_t msgs, bytes;
} consume_tally_t;

static void tally_entry(const resp_reply_t *value, void *arg) {
  consume_tally_t *t = arg;
  t->msgs++;
  t->bytes += value->len;
}

static int run_consume(const bench_opts_t *o, resp_conn_t *c, const uint8_t *buf) {
  uint64_t ok, errors;
  double elapsed;
  if (xadd_run(c, o, buf, 120, o->messages, &ok, &errors, &elapsed) != 0) return -1;
  fprintf(stderr, "redis_bench: prefilled %llu entries\n", (unsigned long long)ok);
  consume_tally_t t = {0};
  char last_id[64] = "0-0";
  /* The connection is already open, so the clock covers only the reads. */
  int64_t start = bench_now_ns();
  while (t.msgs < ok) {
    cmd_begin(c, 6);
    cmd_str(c, "XREAD");
    cmd_str(c, "COUNT");
    cmd_str(c, "1000");
    cmd_str(c, "STREAMS");
    cmd_str(c, o->topic);
    cmd_str(c, last_id);
    resp_reply_t *r;
    if (conn_flush(c) != 0 || read_reply(c, &r) != 0) return -1;
    size_t n = xread_entries(r, last_id, sizeof(last_id), tally_entry, &t);
    reply_free(r);
    if (n == 0) break;
  }
  elapsed = (double)(bench_now_ns() - start) / 1e9;
  bench_report_throughput(o, t.msgs, t.bytes, elapsed, ok - t.msgs);
  return t.msgs > 0 ? 0 : -1;
}

typedef struct latency_run {
  const bench_opts_t *opts;
  resp_conn_t sender;
  int64_t start_ns, end_ns, record_from_ns;
  atomic_uint_fast64_t sent;
  atomic_uint_fast64_t acked;
  atomic_uint_fast64_t failed;
  atomic_bool sending_done;
  atomic_bool replies_done;
  bench_samples_t samples;
  uint64_t received;
  int64_t last_rx_ns;
} latency_run_t;

static void *latency_send_loop(void *arg) {
  latency_run_t *l = arg;
  const bench_opts_t *o = l->opts;
  uint8_t *buf = malloc(o->size);
  bench_fill_payload(buf, o->size);
  bench_pacer_t pacer;
  bench_pacer_init(&pacer, o->rate, l->start_ns);
  /* Runs until every record scheduled before the end has been sent, even if the system held
   * the sender up past the end: a record the sender owed is sent late, never skipped. */
  while (bench_pacer_next_due(&pacer) < l->end_ns) {
    int64_t now = bench_now_ns();
    uint64_t batch = 0;
    for (int64_t due; (due = bench_pacer_next_due(&pacer)) <= now && due < l->end_ns;
         pacer.next_index++) {
      bench_stamp(buf, o->size, due);
      cmd_xadd(&l->sender, o->topic, buf, o->size);
      batch++;
    }
    if (batch) {
      atomic_fetch_add(&l->sent, batch);
      if (conn_flush(&l->sender) != 0) break;
    }
    bench_sleep_until(bench_pacer_next_due(&pacer));
  }
  atomic_store(&l->sending_done, true);
  free(buf);
  return NULL;
}

/* Drains the sender connection's XADD replies so the sender thread never waits for one. */
static void *latency_reply_loop(void *arg) {
  latency_run_t *l = arg;
  for (;;) {
    if (atomic_load(&l->sending_done) &&
        atomic_load(&l->acked) + atomic_load(&l->failed) >= atomic_load(&l->sent))
      break;
    resp_reply_t *r;
    /* The sender may not have sent anything yet; read blocks until it has, and the loop ends
     * once every sent command has its reply. */
    if (atomic_load(&l->acked) + atomic_load(&l->failed) >= atomic_load(&l->sent)) {
      usleep(100);
      continue;
    }
    if (read_reply(&l->sender, &r) != 0) break;
    if (r->type == '$') atomic_fetch_add(&l->acked, 1);
    else atomic_fetch_add(&l->failed, 1);
    reply_free(r);
  }
  atomic_store(&l->replies_done, true);
  return NULL;
}

static void latency_entry(const resp_reply_t *value, void *arg) {
  latency_run_t *l = arg;
  int64_t sent_at, now = bench_now_ns();
  if (bench_read_stamp((const uint8_t *)value->str, value->len, &sent_at) != 0) return;
  l->received++;
  l->last_rx_ns = now;
  if (sent_at >= l->record_from_ns) bench_samples_add(&l->samples, now - sent_at);
}

static int run_latency(const bench_opts_t *o, resp_conn_t *reader, const uint8_t *buf) {
  latency_run_t *l = calloc(1, sizeof(*l));
  l->opts = o;
  bench_samples_init(&l->samples);
  int rc = -1;
  if (conn_open(&l->sender, o->server) != 0) goto out;
  /* A warm-up entry stamped 0 creates the stream; it is read but never recorded. */
  uint8_t *warm = malloc(o->size);
  memcpy(warm, buf, o->size);
  bench_stamp(warm, o->size, 0);
  cmd_xadd(reader, o->topic, warm, o->size);
  free(warm);
  if (simple_command(reader, "XADD") != 0) goto out;

  l->start_ns = bench_now_ns() + 10000000;
  l->end_ns = l->start_ns + (int64_t)((o->warmup_seconds + o->seconds) * 1e9);
  l->record_from_ns = l->start_ns + (int64_t)(o->warmup_seconds * 1e9);
  pthread_t send_tid, reply_tid;
  pthread_create(&send_tid, NULL, latency_send_loop, l);
  pthread_create(&reply_tid, NULL, latency_reply_loop, l);

  char last_id[64] = "0-0";
  int64_t idle_since = 0;
  for (;;) {
    cmd_begin(reader, 8);
    cmd_str(reader, "XREAD");
    cmd_str(reader, "COUNT");
    cmd_str(reader, "1000");
    cmd_str(reader, "BLOCK");
    cmd_str(reader, "100");
    cmd_str(reader, "STREAMS");
    cmd_str(reader, o->topic);
    cmd_str(reader, last_id);
    resp_reply_t *r;
    if (conn_flush(reader) != 0 || read_reply(reader, &r) != 0) break;
    size_t n = xread_entries(r, last_id, sizeof(last_id), latency_entry, l);
    reply_free(r);
    if (atomic_load(&l->replies_done)) {
      /* One extra for the warm-up entry. */
      if (l->received >= atomic_load(&l->acked) + 1) break;
      int64_t now = bench_now_ns();
      if (n > 0 || idle_since == 0) idle_since = now;
      else if (now - idle_since > 5 * (int64_t)1000000000) break;
    }
  }
  pthread_join(send_tid, NULL);
  pthread_join(reply_tid, NULL);
  uint64_t acked = atomic_load(&l->acked);
  uint64_t got = l->received > 0 ? l->received - 1 : 0;
  uint64_t lost = acked > got ? acked - got : 0;
  bench_report_latency(o, &l->samples, acked, (double)(l->last_rx_ns - l->start_ns) / 1e9, got,
                       atomic_load(&l->failed) + lost);
  rc = 0;
out:
  conn_close(&l->sender);
  bench_samples_deinit(&l->samples);
  free(l);
  return rc;
}

int main(int argc, char **argv) {
  bench_opts_t opts;
  if (bench_opts_parse(&opts, argc, argv, "redis") != 0) return 2;
  resp_conn_t c;
  if (conn_open(&c, opts.server) != 0) return 1;
  uint8_t *buf = malloc(opts.size);
  bench_fill_payload(buf, opts.size);
  int rc = set_appendfsync(&c, opts.acks);
  if (rc == 0) {
    drop_stream(&c, opts.topic);
    switch (opts.mode) {
    case BENCH_PRODUCE: rc = run_produce(&opts, &c, buf); break;
    case BENCH_CONSUME: rc = run_consume(&opts, &c, buf); break;
    default: rc = run_latency(&opts, &c, buf); break;
    }
    /* Free the server's memory for the next run in the same server. */
    if (rc == 0) drop_stream(&c, opts.topic);
  }
  free(buf);
  conn_close(&c);
  return rc == 0 ? 0 : 1;
}
