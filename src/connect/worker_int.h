#ifndef STREAMBUS_CONNECT_WORKER_INT_H
#define STREAMBUS_CONNECT_WORKER_INT_H

/* Private structures shared by worker.c, source_task.c, sink_task.c and dlq.c. */

#include <pthread.h>
#include <stdatomic.h>

#include "connect/store.h"
#include "connect/transforms/transforms.h"
#include "connect/worker.h"

typedef enum { CONN_UNASSIGNED = 0, CONN_RUNNING, CONN_PAUSED, CONN_FAILED } conn_state_t;

/* Per-connector metric handles, created once when the connector is (re)started. */
typedef struct connector_metrics {
    metrics_registry_t *reg;
    char labels[256]; /* connector="name" */
    metrics_counter_t *records;       /* produced (source) or applied (sink) */
    metrics_histogram_t *latency;     /* source commit -> sink commit, seconds */
    metrics_histogram_t *batch_size;
    metrics_gauge_t *lag;
    metrics_gauge_t *source_lag_bytes; /* sources whose status reports lag_bytes */
    metrics_counter_t *retries;
    metrics_counter_t *dlq;
    metrics_counter_t *err_transient, *err_record, *err_fatal, *err_transform;
    /* events by table and op: a small cache so the hot path does not take the registry lock */
    struct {
        char table[128];
        char op;
        metrics_counter_t *c;
    } events[64];
    int nevents;
} connector_metrics_t;

typedef struct connector {
    struct connect_worker *w;
    char name[128];
    json_t *config; /* normalized: every value a string */
    bool is_sink;
    const source_ops_t *sops;
    const sink_ops_t *kops;
    connect_transforms_t *transforms; /* run by both task kinds: sink before put(), source before producing */
    int64_t batch_size, linger_ms, retry_max;
    bool tolerate_all; /* errors.tolerance=all: poison records go to the DLQ; none: the task fails */
    char dlq_topic[256];

    pthread_t thread;
    bool thread_running;
    atomic_bool stop;
    atomic_bool paused; /* the target state; the task reports the actual one */

    pthread_mutex_t mu; /* guards the fields below */
    conn_state_t state;
    char trace[1024];
    json_t *details;        /* the connector's status hook output, refreshed by the task */
    char *committed_position; /* sources: last position stored in the offsets topic */
    /* The connector's database as its task last found it: marked down where start, put, poll
     * or loading positions fail TRANSIENT, up again at the next success. Kept by the runtime
     * because a connector's own "connected" is only as fresh as its last status refresh. */
    enum { DB_UNKNOWN = 0, DB_UP, DB_DOWN } db_health;
    char db_error[512];
    int64_t db_since_ms; /* wall clock of the last change of db_health */

    connector_metrics_t m;
    struct connector *next;
} connector_t;

struct connect_worker {
    connect_worker_options_t o;
    connect_store_t *store;
    pthread_mutex_t mu; /* guards the connector list and the broker health below */
    connector_t *connectors;
    bool broker_up;          /* at the last readiness probe */
    int64_t broker_since_ms; /* wall clock of the last change of broker_up */
};

/* Task thread entry points. */
void *source_task_run(void *arg);
void *sink_task_run(void *arg);

/* Publishes a state change (connector lock taken here) and writes it to the status topic. */
void connector_set_state(connector_t *c, conn_state_t state, const char *trace);
const char *conn_state_name(conn_state_t s);

/* Records that the task reached (up) or failed to reach (down, with why) its database. */
void connector_db_up(connector_t *c);
void connector_db_down(connector_t *c, const char *why);

/* Sleeps up to ms, returning early (true) when the task must stop. */
bool connector_sleep(connector_t *c, int64_t ms);

/* Metrics helpers. */
void connector_metrics_init(connector_t *c);
void connector_metrics_event(connector_t *c, const uint8_t *value, int32_t value_len, int64_t now_ms, bool sink);

/* Backoff for transient failures: 100 ms doubling to 30 s, with +-25% jitter. */
int64_t connect_backoff_ms(int attempt);

#endif
