/* The connect runtime's connector management; see worker.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "connect/event_scan.h"
#include "connect/reconcile/reconcile.h"
#include "connect/worker_int.h"

/* Sink batches close after batch.size records or linger.ms, whichever comes first. At low
 * rates linger.ms decides (latency unchanged); under load bigger batches amortise each
 * transaction: datagen -> PostgreSQL measured 44.5k events/s with 5,000 and 63.5k with 20,000
 * (docs/performance.md). */
#define DEFAULT_BATCH_SIZE 20000
#define DEFAULT_LINGER_MS 50
#define DEFAULT_RETRY_MAX 3

static const double LATENCY_BUCKETS_S[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,      2.5,   5,    10,    30,    60};
static const double BATCH_BUCKETS[] = {1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000};

void connect_worker_options_defaults(connect_worker_options_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->bootstrap, sizeof(o->bootstrap), "127.0.0.1:9092");
    snprintf(o->worker_id, sizeof(o->worker_id), "127.0.0.1:8083");
    snprintf(o->configs_topic, sizeof(o->configs_topic), "_streambus-connect-configs");
    snprintf(o->offsets_topic, sizeof(o->offsets_topic), "_streambus-connect-offsets");
    snprintf(o->status_topic, sizeof(o->status_topic), "_streambus-connect-status");
    snprintf(o->dlq_topic_prefix, sizeof(o->dlq_topic_prefix), "dlq.");
}

const char *conn_state_name(conn_state_t s)
{
    switch (s) {
    case CONN_RUNNING: return "RUNNING";
    case CONN_PAUSED: return "PAUSED";
    case CONN_FAILED: return "FAILED";
    default: return "UNASSIGNED";
    }
}

int64_t connect_backoff_ms(int attempt)
{
    int64_t ms = 100;
    for (int i = 0; i < attempt && ms < 30000; i++) ms *= 2;
    if (ms > 30000) ms = 30000;
    /* Jitter keeps many tasks that failed together from retrying in lockstep. */
    int64_t jitter = ms / 4;
    return ms - jitter + (jitter > 0 ? (int64_t)(rand() % (int)(2 * jitter + 1)) : 0);
}

bool connector_sleep(connector_t *c, int64_t ms)
{
    int64_t end = sb_mono_ms() + ms;
    while (!atomic_load(&c->stop)) {
        int64_t left = end - sb_mono_ms();
        if (left <= 0) return false;
        usleep((useconds_t)(left < 50 ? left : 50) * 1000);
    }
    return true;
}

void connector_set_state(connector_t *c, conn_state_t state, const char *trace)
{
    pthread_mutex_lock(&c->mu);
    bool changed = c->state != state || (trace && strcmp(trace, c->trace) != 0);
    c->state = state;
    snprintf(c->trace, sizeof(c->trace), "%s", trace ? trace : "");
    pthread_mutex_unlock(&c->mu);
    if (!changed) return;
    if (state == CONN_FAILED) sb_error("connect", "connector %s failed: %s", c->name, trace ? trace : "");
    else sb_info("connect", "connector %s is %s", c->name, conn_state_name(state));
    json_t *v = json_pack("{s:s,s:s,s:s,s:I}", "state", conn_state_name(state), "trace", trace ? trace : "",
                          "worker_id", c->w->o.worker_id, "ts_ms", (json_int_t)sb_now_ms());
    char *text = json_dumps(v, JSON_COMPACT);
    sb_err_t err = {0};
    /* The status topic is informational (the live state is in memory): the write is queued,
     * not waited for, so a task changing state — or connect shutting down — never waits for
     * a broker that is away; a failed write is logged. */
    if (connect_store_send(c->w->store, c->w->o.status_topic, c->name, text, &err) < 0)
        sb_warn("connect", "status of %s not stored: %s", c->name, err.msg);
    free(text);
    json_decref(v);
}

/* ------------------------------------------------------------------ metrics */

void connector_metrics_init(connector_t *c)
{
    connector_metrics_t *m = &c->m;
    metrics_registry_t *reg = c->w->o.metrics;
    m->reg = reg;
    m->nevents = 0;
    if (!reg) return;
    metrics_label_t l = {"connector", c->name};
    metrics_format_labels(m->labels, sizeof(m->labels), &l, 1);
    m->records = metrics_counter(reg, "streambus_connect_records_total",
                                 "Records produced to the broker (sources) or applied to the target (sinks)", m->labels);
    m->latency = metrics_histogram(reg, "streambus_connect_end_to_end_latency_seconds",
                                   "From source commit (value.source.ts_ms) to sink commit", m->labels, LATENCY_BUCKETS_S,
                                   (int)(sizeof(LATENCY_BUCKETS_S) / sizeof(LATENCY_BUCKETS_S[0])));
    m->batch_size = metrics_histogram(reg, "streambus_connect_batch_records", "Records per sink put", m->labels,
                                      BATCH_BUCKETS, (int)(sizeof(BATCH_BUCKETS) / sizeof(BATCH_BUCKETS[0])));
    /* Each kind of task has its own lag: a sink counts records in the broker it has not
     * applied, a source the bytes of its database's log it has not yet stored in the broker. */
    if (c->is_sink) {
        m->lag = metrics_gauge_f64(reg, "streambus_connect_lag_records",
                                   "Records in the broker not yet applied by the sink (sum over partitions); NaN "
                                   "until the task has measured it (e.g. its target was never reachable)",
                                   m->labels);
        /* Not 0: an alert on lag must not read "caught up" for a sink that never started. */
        if (m->lag) metrics_gauge_set_f64(m->lag, NAN);
    } else
        m->source_lag_bytes = metrics_gauge(reg, "streambus_connect_source_lag_bytes",
                                            "Bytes of the source database's change log received or pending but not yet "
                                            "confirmed as stored in the broker (status lag_bytes)",
                                            m->labels);
    m->retries = metrics_counter(reg, "streambus_connect_retries_total", "Retried puts and polls", m->labels);
    m->dlq = metrics_counter(reg, "streambus_connect_dlq_records_total", "Records sent to the dead-letter queue",
                             m->labels);
    static const char *const classes[] = {"transient", "record", "fatal", "transform"};
    metrics_counter_t **slots[] = {&m->err_transient, &m->err_record, &m->err_fatal, &m->err_transform};
    for (int i = 0; i < 4; i++) {
        metrics_label_t ls[2] = {{"connector", c->name}, {"class", classes[i]}};
        char labels[300];
        metrics_format_labels(labels, sizeof(labels), ls, 2);
        *slots[i] = metrics_counter(reg, "streambus_connect_errors_total", "Errors by class", labels);
    }
}

void connector_metrics_event(connector_t *c, const uint8_t *value, int32_t value_len, int64_t now_ms, bool sink)
{
    connector_metrics_t *m = &c->m;
    if (!m->reg) return;
    connect_event_summary_t env;
    char table[128] = "-";
    char op = value_len < 0 ? 'd' : '-';
    if (value_len >= 0 && connect_event_scan(value, (size_t)value_len, &env) == 0) {
        if (env.op) op = env.op;
        if (env.table.len > 0)
            snprintf(table, sizeof(table), "%.*s%s%.*s", env.schema.len, (const char *)env.schema.p,
                     env.schema.len > 0 ? "." : "", env.table.len, (const char *)env.table.p);
        if (sink && env.source_ts_ms > 0 && m->latency)
            metrics_histogram_observe(m->latency, (double)(now_ms - env.source_ts_ms) / 1000.0);
    }
    for (int i = 0; i < m->nevents; i++) {
        if (m->events[i].op == op && strcmp(m->events[i].table, table) == 0) {
            metrics_counter_inc(m->events[i].c);
            return;
        }
    }
    char opname[2] = {op, 0};
    metrics_label_t ls[3] = {{"connector", c->name}, {"table", table}, {"op", opname}};
    char labels[400];
    if (metrics_format_labels(labels, sizeof(labels), ls, 3) < 0) return;
    metrics_counter_t *ctr = metrics_counter(m->reg, "streambus_connect_events_total",
                                             "Change events by connector, table and op", labels);
    if (!ctr) return;
    metrics_counter_inc(ctr);
    /* A full cache only costs a registry lookup per event; it does not lose counts. */
    if (m->nevents < (int)(sizeof(m->events) / sizeof(m->events[0]))) {
        snprintf(m->events[m->nevents].table, sizeof(m->events[0].table), "%s", table);
        m->events[m->nevents].op = op;
        m->events[m->nevents].c = ctr;
        m->nevents++;
    }
}

/* ------------------------------------------------------------------ validation */

static const char *cfg_str(const json_t *config, const char *key)
{
    const json_t *v = json_object_get(config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static void check_int(const json_t *config, const char *key, int64_t lo, int64_t hi, connect_config_errors_t *errs)
{
    const char *s = cfg_str(config, key);
    int64_t v;
    if (s && !parse_int(s, lo, hi, &v))
        connect_config_error_add(errs, key, "must be an integer from %lld to %lld", (long long)lo, (long long)hi);
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 100) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.') return false;
    return true;
}

int connect_worker_validate(const char *name, const json_t *config, json_t **normalized, connect_config_errors_t *errs)
{
    *normalized = NULL;
    if (!name || !valid_name(name))
        connect_config_error_add(errs, "name", "required: 1..100 characters of A-Z a-z 0-9 . _ -");
    if (!json_is_object(config)) {
        connect_config_error_add(errs, "config", "must be a JSON object of strings");
        return SB_EINVAL;
    }
    /* Kafka Connect configs are maps of strings; numbers and booleans are accepted and turned
     * into their text so that connectors see one form. */
    json_t *norm = json_object();
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)config, key, val) {
        if (json_is_string(val)) {
            json_object_set(norm, key, val);
        } else if (json_is_integer(val)) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
            json_object_set_new(norm, key, json_string(buf));
        } else if (json_is_real(val)) {
            char buf[64];
            snprintf(buf, sizeof(buf), "%.17g", json_real_value(val));
            json_object_set_new(norm, key, json_string(buf));
        } else if (json_is_boolean(val)) {
            json_object_set_new(norm, key, json_string(json_is_true(val) ? "true" : "false"));
        } else {
            connect_config_error_add(errs, key, "must be a string, number or boolean");
        }
    }
    const char *cname = cfg_str(norm, "name");
    if (cname && name && strcmp(cname, name) != 0)
        connect_config_error_add(errs, "name", "\"%s\" differs from the connector name \"%s\"", cname, name);
    if (name && !cname) json_object_set_new(norm, "name", json_string(name));

    const char *cls = cfg_str(norm, "connector.class");
    const source_ops_t *sops = connect_source_find(cls);
    const sink_ops_t *kops = connect_sink_find(cls);
    if (!cls) connect_config_error_add(errs, "connector.class", "required: see GET /connector-plugins");
    else if (!sops && !kops) connect_config_error_add(errs, "connector.class", "unknown connector class \"%s\"", cls);

    const char *tasks = cfg_str(norm, "tasks.max");
    int64_t ntasks;
    if (tasks && (!parse_int(tasks, 1, 1000, &ntasks)))
        connect_config_error_add(errs, "tasks.max", "must be a positive integer");
    else if (tasks && ntasks != 1)
        connect_config_error_add(errs, "tasks.max", "this runtime runs one task per connector; use 1");

    if (kops) {
        const char *topics = cfg_str(norm, "topics");
        const char *re = cfg_str(norm, "topics.regex");
        if (!topics && !re) {
            connect_config_error_add(errs, "topics", "a sink needs \"topics\" (a comma-separated list) or \"topics.regex\"");
        } else if (topics && re) {
            connect_config_error_add(errs, "topics.regex", "set either \"topics\" or \"topics.regex\", not both");
        } else if (topics && strspn(topics, " ,") == strlen(topics)) {
            connect_config_error_add(errs, "topics", "names no topic");
        } else if (re) {
            regex_t rx;
            if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
                connect_config_error_add(errs, "topics.regex", "not a valid regular expression");
            else
                regfree(&rx);
        }
    }
    check_int(norm, "errors.retry.max", 0, 1000, errs);
    check_int(norm, "batch.size", 1, 100000, errs);
    check_int(norm, "linger.ms", 0, 60000, errs);
    /* Read by the reconciliation scheduler (src/connect/reconcile/). */
    check_int(norm, "reconcile.interval.ms", 0, 7 * 86400000LL, errs);
    const char *rmode = cfg_str(norm, "reconcile.mode");
    if (rmode && strcmp(rmode, "count") != 0 && strcmp(rmode, "checksum") != 0 && strcmp(rmode, "full") != 0)
        connect_config_error_add(errs, "reconcile.mode", "must be count, checksum or full");
    const char *tol = cfg_str(norm, "errors.tolerance");
    if (tol && strcmp(tol, "all") != 0 && strcmp(tol, "none") != 0)
        connect_config_error_add(errs, "errors.tolerance", "must be \"all\" (poison records go to the DLQ) or \"none\"");
    const char *dlq = cfg_str(norm, "errors.deadletterqueue.topic.name");
    if (dlq && (!*dlq || strlen(dlq) > 200))
        connect_config_error_add(errs, "errors.deadletterqueue.topic.name", "must be 1..200 characters");

    connect_transforms_t *tr = NULL;
    connect_transforms_new(norm, &tr, errs);
    connect_transforms_free(tr);

    if (sops && sops->validate) sops->validate(norm, errs);
    if (kops && kops->validate) kops->validate(norm, errs);
    if (errs->count > 0) {
        json_decref(norm);
        return SB_EINVAL;
    }
    *normalized = norm;
    return 0;
}

/* ------------------------------------------------------------------ connectors */

static connector_t *find_locked(connect_worker_t *w, const char *name)
{
    for (connector_t *c = w->connectors; c; c = c->next)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

/* Applies a validated config to c (which has no task running). */
static void connector_configure(connector_t *c, json_t *config)
{
    json_decref(c->config);
    c->config = config;
    const char *cls = cfg_str(config, "connector.class");
    c->sops = connect_source_find(cls);
    c->kops = connect_sink_find(cls);
    c->is_sink = c->kops != NULL;
    connect_transforms_free(c->transforms);
    c->transforms = NULL;
    connect_config_errors_t errs = {0};
    connect_transforms_new(config, &c->transforms, &errs);
    int64_t v;
    c->batch_size = parse_int(cfg_str(config, "batch.size"), 1, 100000, &v) ? v : DEFAULT_BATCH_SIZE;
    c->linger_ms = parse_int(cfg_str(config, "linger.ms"), 0, 60000, &v) ? v : DEFAULT_LINGER_MS;
    c->retry_max = parse_int(cfg_str(config, "errors.retry.max"), 0, 1000, &v) ? v : DEFAULT_RETRY_MAX;
    const char *tol = cfg_str(config, "errors.tolerance");
    c->tolerate_all = !tol || strcmp(tol, "all") == 0;
    const char *dlq = cfg_str(config, "errors.deadletterqueue.topic.name");
    if (dlq) snprintf(c->dlq_topic, sizeof(c->dlq_topic), "%s", dlq);
    else snprintf(c->dlq_topic, sizeof(c->dlq_topic), "%s%s", c->w->o.dlq_topic_prefix, c->name);
}

static void connector_start_task(connector_t *c)
{
    atomic_store(&c->stop, false);
    pthread_mutex_lock(&c->mu);
    c->state = CONN_UNASSIGNED;
    c->trace[0] = '\0';
    /* A new task (perhaps with a new config) has not tried its database yet. */
    c->db_health = DB_UNKNOWN;
    c->db_error[0] = '\0';
    c->db_since_ms = sb_now_ms();
    pthread_mutex_unlock(&c->mu);
    connector_metrics_init(c);
    if (pthread_create(&c->thread, NULL, c->is_sink ? sink_task_run : source_task_run, c) != 0) {
        connector_set_state(c, CONN_FAILED, "cannot start the task thread");
        return;
    }
    c->thread_running = true;
}

static void connector_stop_task(connector_t *c)
{
    if (!c->thread_running) return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    c->thread_running = false;
}

static connector_t *connector_new(connect_worker_t *w, const char *name)
{
    connector_t *c = calloc(1, sizeof(*c));
    c->w = w;
    snprintf(c->name, sizeof(c->name), "%s", name);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void connector_free(connector_t *c)
{
    connector_stop_task(c);
    json_decref(c->config);
    json_decref(c->details);
    connect_transforms_free(c->transforms);
    free(c->committed_position);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int store_config(connect_worker_t *w, const char *name, const json_t *config, bool paused, sb_err_t *err)
{
    json_t *rec = json_pack("{s:O,s:b}", "config", config, "paused", paused);
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = connect_store_write(w->store, w->o.configs_topic, name, text, err);
    free(text);
    json_decref(rec);
    return rc;
}

int connect_worker_put(connect_worker_t *w, const char *name, const json_t *config, bool create_only, bool *created,
                       connect_config_errors_t *errs, sb_err_t *err)
{
    json_t *norm = NULL;
    *created = false;
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name ? name : "");
    if (c && create_only) {
        pthread_mutex_unlock(&w->mu);
        return sb_err_set(err, SB_EEXIST, "connector %s already exists", name);
    }
    if (connect_worker_validate(name, config, &norm, errs) < 0) {
        pthread_mutex_unlock(&w->mu);
        return sb_err_set(err, SB_EINVAL, "connector configuration is invalid, %d error(s)", errs->count);
    }
    bool paused = c && atomic_load(&c->paused);
    int rc = store_config(w, name, norm, paused, err);
    if (rc < 0) {
        json_decref(norm);
        pthread_mutex_unlock(&w->mu);
        return rc;
    }
    if (c) {
        connector_stop_task(c);
    } else {
        c = connector_new(w, name);
        c->next = w->connectors;
        w->connectors = c;
        *created = true;
    }
    connector_configure(c, norm);
    connector_start_task(c);
    pthread_mutex_unlock(&w->mu);
    sb_info("connect", "connector %s %s", name, *created ? "created" : "updated");
    return 0;
}

int connect_worker_delete(connect_worker_t *w, const char *name, sb_err_t *err)
{
    pthread_mutex_lock(&w->mu);
    connector_t **pp = &w->connectors;
    while (*pp && strcmp((*pp)->name, name) != 0) pp = &(*pp)->next;
    if (!*pp) {
        pthread_mutex_unlock(&w->mu);
        return sb_err_set(err, SB_ENOENT, "Connector %s not found", name);
    }
    int rc = connect_store_write(w->store, w->o.configs_topic, name, NULL, err);
    if (rc == 0) {
        connector_t *c = *pp;
        *pp = c->next;
        connector_free(c);
        /* Positions are kept, as in Kafka Connect: re-creating the connector resumes. */
        sb_err_t ignored = {0};
        connect_store_send(w->store, w->o.status_topic, name, NULL, &ignored);
        sb_info("connect", "connector %s deleted", name);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static int set_paused(connect_worker_t *w, const char *name, bool paused, sb_err_t *err)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    int rc = c ? store_config(w, name, c->config, paused, err) : sb_err_set(err, SB_ENOENT, "Connector %s not found", name);
    if (rc == 0) atomic_store(&c->paused, paused);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int connect_worker_pause(connect_worker_t *w, const char *name, sb_err_t *err)
{
    return set_paused(w, name, true, err);
}

int connect_worker_resume(connect_worker_t *w, const char *name, sb_err_t *err)
{
    return set_paused(w, name, false, err);
}

int connect_worker_restart(connect_worker_t *w, const char *name, sb_err_t *err)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    if (!c) {
        pthread_mutex_unlock(&w->mu);
        return sb_err_set(err, SB_ENOENT, "Connector %s not found", name);
    }
    connector_stop_task(c);
    connector_start_task(c);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

json_t *connect_worker_offsets(connect_worker_t *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    json_t *out = NULL;
    if (c) {
        pthread_mutex_lock(&c->mu);
        out = json_pack("{s:s,s:s,s:o}", "name", c->name, "type", c->is_sink ? "sink" : "source", "position",
                        c->committed_position ? json_string(c->committed_position) : json_null());
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return out;
}

int connect_worker_set_position(connect_worker_t *w, const char *name, const char *position, sb_err_t *err)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    int rc = 0;
    if (!c) {
        rc = sb_err_set(err, SB_ENOENT, "Connector %s not found", name);
    } else if (c->is_sink) {
        rc = sb_err_set(err, SB_EINVAL, "connector %s is a sink: its positions live in its target, with the data", name);
    } else if (c->sops->validate_position && c->sops->validate_position(position, err) < 0) {
        rc = SB_EINVAL;
    } else {
        /* The task must not commit an older position over the restored one: stop it first. */
        connector_stop_task(c);
        json_t *v = json_pack("{s:s,s:I,s:b}", "position", position, "ts_ms", (json_int_t)sb_now_ms(), "restored", 1);
        char *text = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        rc = connect_store_write(w->store, w->o.offsets_topic, name, text, err);
        free(text);
        if (rc == 0) {
            pthread_mutex_lock(&c->mu);
            free(c->committed_position);
            c->committed_position = strdup(position);
            pthread_mutex_unlock(&c->mu);
        }
        connector_start_task(c);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

json_t *connect_worker_names(connect_worker_t *w)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&w->mu);
    for (connector_t *c = w->connectors; c; c = c->next) json_array_append_new(arr, json_string(c->name));
    pthread_mutex_unlock(&w->mu);
    return arr;
}

json_t *connect_worker_info(connect_worker_t *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    json_t *out = NULL;
    if (c)
        out = json_pack("{s:s,s:O,s:[{s:s,s:i}],s:s}", "name", c->name, "config", c->config, "tasks", "connector",
                        c->name, "task", 0, "type", c->is_sink ? "sink" : "source");
    pthread_mutex_unlock(&w->mu);
    return out;
}

json_t *connect_worker_config(connect_worker_t *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    json_t *out = c ? json_deep_copy(c->config) : NULL;
    pthread_mutex_unlock(&w->mu);
    return out;
}

json_t *connect_worker_status(connect_worker_t *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    json_t *out = NULL;
    if (c) {
        pthread_mutex_lock(&c->mu);
        const char *state = conn_state_name(c->state);
        json_t *task = json_pack("{s:i,s:s,s:s}", "id", 0, "state", state, "worker_id", w->o.worker_id);
        if (c->trace[0]) json_object_set_new(task, "trace", json_string(c->trace));
        out = json_pack("{s:s,s:{s:s,s:s},s:[o],s:s}", "name", c->name, "connector", "state", state, "worker_id",
                        w->o.worker_id, "tasks", task, "type", c->is_sink ? "sink" : "source");
        if (c->details) json_object_set(out, "details", c->details);
        if (c->committed_position) json_object_set_new(out, "committed_position", json_string(c->committed_position));
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return out;
}

void connect_worker_dlq_topic(connect_worker_t *w, const char *name, char *out, size_t cap)
{
    pthread_mutex_lock(&w->mu);
    connector_t *c = find_locked(w, name);
    if (c && c->dlq_topic[0]) snprintf(out, cap, "%s", c->dlq_topic);
    else snprintf(out, cap, "%s%s", w->o.dlq_topic_prefix, name);
    pthread_mutex_unlock(&w->mu);
}

const char *connect_worker_bootstrap(const connect_worker_t *w)
{
    return w->o.bootstrap;
}

void connector_db_up(connector_t *c)
{
    pthread_mutex_lock(&c->mu);
    bool was_down = c->db_health == DB_DOWN;
    if (c->db_health != DB_UP) c->db_since_ms = sb_now_ms();
    c->db_health = DB_UP;
    c->db_error[0] = '\0';
    pthread_mutex_unlock(&c->mu);
    if (was_down) sb_info("connect", "connector %s: database reachable again", c->name);
}

void connector_db_down(connector_t *c, const char *why)
{
    pthread_mutex_lock(&c->mu);
    if (c->db_health != DB_DOWN) c->db_since_ms = sb_now_ms();
    c->db_health = DB_DOWN;
    snprintf(c->db_error, sizeof(c->db_error), "%s", why ? why : "unreachable");
    pthread_mutex_unlock(&c->mu);
}

static void iso_time(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

json_t *connect_health_component(const char *name, const char *kind, const char *status, const char *error,
                                 int64_t since_ms)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "name", name, "kind", kind, "status", status);
    if (error && error[0]) json_object_set_new(o, "error", json_string(error));
    if (since_ms > 0) {
        char iso[40];
        iso_time(since_ms, iso, sizeof(iso));
        json_object_set_new(o, "since", json_string(iso));
        json_object_set_new(o, "since_ms", json_integer(since_ms));
    }
    return o;
}

json_t *connect_health_body(json_t *components)
{
    bool ready = true;
    char detail[1024] = "";
    size_t o = 0;
    size_t i;
    json_t *comp;
    json_array_foreach(components, i, comp) {
        const char *st = json_string_value(json_object_get(comp, "status"));
        if (!st || strcmp(st, "down") == 0 || strcmp(st, "failed") == 0) {
            ready = false;
            const char *why = json_string_value(json_object_get(comp, "error"));
            if (o < sizeof(detail))
                o += (size_t)snprintf(detail + o, sizeof(detail) - o, "%s%s %s: %s", o ? "; " : "",
                                      json_string_value(json_object_get(comp, "kind")),
                                      json_string_value(json_object_get(comp, "name")), why ? why : st ? st : "?");
        }
    }
    json_t *body = json_pack("{s:s,s:o}", "status", ready ? "ready" : "not_ready", "components", components);
    if (!ready) json_object_set_new(body, "detail", json_string(detail));
    return body;
}

json_t *connect_worker_health(connect_worker_t *w)
{
    json_t *comps = json_array();
    /* Probed here rather than cached: readiness must follow a broker that went away. */
    bool up = connect_store_broker_reachable(w->store, 1500);
    int64_t now = sb_now_ms();
    pthread_mutex_lock(&w->mu);
    if (up != w->broker_up || w->broker_since_ms == 0) w->broker_since_ms = now;
    w->broker_up = up;
    char why[600] = "";
    if (!up) snprintf(why, sizeof(why), "broker %s unreachable", w->o.bootstrap);
    json_t *b = connect_health_component("broker", "broker", up ? "up" : "down", why, w->broker_since_ms);
    json_object_set_new(b, "address", json_string(w->o.bootstrap));
    json_array_append_new(comps, b);
    for (connector_t *c = w->connectors; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        const char *st = c->db_health == DB_DOWN ? "down" : c->db_health == DB_UP ? "up" : "unknown";
        const char *error = c->db_health == DB_DOWN ? c->db_error : NULL;
        /* A FAILED task moves nothing, whatever its database does. */
        if (c->state == CONN_FAILED) {
            st = "failed";
            error = c->trace;
        }
        json_t *comp = connect_health_component(c->name, "connector", st, error, c->db_since_ms);
        json_object_set_new(comp, "class", json_string(cfg_str(c->config, "connector.class")
                                                           ? cfg_str(c->config, "connector.class") : ""));
        json_object_set_new(comp, "state", json_string(conn_state_name(c->state)));
        json_object_set_new(comp, "database", json_string(c->db_health == DB_DOWN ? "down"
                                                           : c->db_health == DB_UP ? "up" : "unknown"));
        json_array_append_new(comps, comp);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return connect_health_body(comps);
}

bool connect_worker_ready(connect_worker_t *w, char *detail, size_t cap)
{
    json_t *body = connect_worker_health(w);
    bool ready = strcmp(json_string_value(json_object_get(body, "status")), "ready") == 0;
    const char *d = json_string_value(json_object_get(body, "detail"));
    snprintf(detail, cap, "%s", d ? d : "");
    json_decref(body);
    return ready;
}

/* ------------------------------------------------------------------ start-up */

typedef struct readback {
    json_t *map; /* name -> stored value (JSON), deletions removed */
} readback_t;

static void on_stored(void *arg, const char *key, size_t key_len, const char *value, int32_t value_len)
{
    readback_t *rb = arg;
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(key_len < 255 ? key_len : 255), key);
    if (value_len < 0) {
        json_object_del(rb->map, name);
        return;
    }
    json_t *v = json_loadb(value, (size_t)value_len, 0, NULL);
    if (v) json_object_set_new(rb->map, name, v);
    else sb_warn("connect", "ignoring an unreadable stored record for %s", name);
}

connect_worker_t *connect_worker_new(const connect_worker_options_t *o, sb_err_t *err)
{
    connect_worker_t *w = calloc(1, sizeof(*w));
    w->o = *o;
    pthread_mutex_init(&w->mu, NULL);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    const char *topics[] = {o->configs_topic, o->offsets_topic, o->status_topic};
    w->store = connect_store_new(o->bootstrap, topics, 3, err);
    if (!w->store) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    connect_store_create_kept_topic(w->store, RECON_AUDIT_TOPIC);
    readback_t configs = {json_object()}, offsets = {json_object()};
    if (connect_store_read_all(w->store, o->configs_topic, on_stored, &configs, err) < 0 ||
        connect_store_read_all(w->store, o->offsets_topic, on_stored, &offsets, err) < 0) {
        json_decref(configs.map);
        json_decref(offsets.map);
        connect_worker_free(w);
        return NULL;
    }
    const char *name;
    json_t *rec;
    json_object_foreach(configs.map, name, rec) {
        json_t *norm = NULL;
        connect_config_errors_t errs = {0};
        /* A stored config may name a connector class this build lacks; it is kept (so a later
         * build picks it up) but shown as FAILED. */
        if (connect_worker_validate(name, json_object_get(rec, "config"), &norm, &errs) < 0) {
            sb_warn("connect", "stored connector %s is not valid any more: %s: %s", name, errs.items[0].field,
                    errs.items[0].msg);
            continue;
        }
        connector_t *c = connector_new(w, name);
        c->next = w->connectors;
        w->connectors = c;
        atomic_store(&c->paused, json_is_true(json_object_get(rec, "paused")));
        const char *pos = json_string_value(json_object_get(json_object_get(offsets.map, name), "position"));
        if (pos) c->committed_position = strdup(pos);
        connector_configure(c, norm);
        connector_start_task(c);
        sb_info("connect", "connector %s resumed from stored config%s%s", name, pos ? " at position " : "",
                pos ? pos : "");
    }
    json_decref(configs.map);
    json_decref(offsets.map);
    return w;
}

void connect_worker_free(connect_worker_t *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    /* Stop all tasks first (in parallel would be faster; each stop flushes its producer). */
    for (connector_t *c = w->connectors; c; c = c->next) atomic_store(&c->stop, true);
    while (w->connectors) {
        connector_t *c = w->connectors;
        w->connectors = c->next;
        connector_free(c);
    }
    pthread_mutex_unlock(&w->mu);
    connect_store_free(w->store);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
