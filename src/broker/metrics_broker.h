#ifndef STREAMBUS_BROKER_METRICS_BROKER_H
#define STREAMBUS_BROKER_METRICS_BROKER_H

/* The broker's metrics, on top of the generic registry in src/metrics/. Per-API request
 * counters and latency histograms are created once at start-up, so the hot path only does
 * atomic adds. Per-topic and per-partition figures (bytes in/out, log size, consumer lag) are
 * rendered at scrape time by a collector. All functions accept m == NULL. */

#include <stdint.h>

struct metrics_registry;
struct partition;
typedef struct broker_metrics broker_metrics_t;

broker_metrics_t *broker_metrics_new(struct metrics_registry *reg);
void broker_metrics_free(broker_metrics_t *m);

/* Network thread. */
void broker_metrics_request_start(broker_metrics_t *m, int16_t api_key);
void broker_metrics_request_done(broker_metrics_t *m, int16_t api_key, int64_t latency_us, uint64_t response_bytes);
void broker_metrics_request_error(broker_metrics_t *m, int16_t api_key);
void broker_metrics_connections(broker_metrics_t *m, int n);
/* A request (or one resource of it) that the authorizer denied. */
void broker_metrics_authz_denied(broker_metrics_t *m, int16_t api_key);
void broker_metrics_produced(broker_metrics_t *m, struct partition *p, uint64_t bytes, uint64_t records);
/* Network thread, about once a second: re-renders per-topic/partition/group families. */
struct broker;
void broker_metrics_snapshot(struct broker *b);
/* Flusher thread. */
void broker_metrics_fsync(broker_metrics_t *m, int64_t us);

#endif
