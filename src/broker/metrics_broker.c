#include "broker/metrics_broker.h"

#include <stdlib.h>

#include "broker/broker_int.h"

struct broker_metrics {
    int unused;
};

broker_metrics_t *broker_metrics_new(struct metrics_registry *reg)
{
    (void)reg;
    return calloc(1, sizeof(broker_metrics_t));
}
void broker_metrics_free(broker_metrics_t *m)
{
    free(m);
}
void broker_metrics_request_start(broker_metrics_t *m, int16_t api_key)
{
    (void)m, (void)api_key;
}
void broker_metrics_request_done(broker_metrics_t *m, int16_t api_key, int64_t latency_us, uint64_t response_bytes)
{
    (void)m, (void)api_key, (void)latency_us, (void)response_bytes;
}
void broker_metrics_request_error(broker_metrics_t *m, int16_t api_key)
{
    (void)m, (void)api_key;
}
void broker_metrics_connections(broker_metrics_t *m, int n)
{
    (void)m, (void)n;
}
void broker_metrics_produced(broker_metrics_t *m, struct partition *p, uint64_t bytes, uint64_t records)
{
    (void)m;
    __atomic_fetch_add(&p->bytes_in, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->messages_in, records, __ATOMIC_RELAXED);
}
void broker_metrics_fsync(broker_metrics_t *m, int64_t us)
{
    (void)m, (void)us;
}
