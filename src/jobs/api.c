/* REST API of the job orchestrator; see api.h. */
#include "jobs/api.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "jobs/openapi.h"

struct jobs_api {
    const jobs_config_t *cfg;
    jobs_store_t *store;
    http_auth_t *auth;
    /* The job log's TTL (logs.ttl_days): a thread deletes expired rows every logs.ttl_check_s. */
    pthread_t ttl_thread;
    bool ttl_started;
    pthread_mutex_t ttl_mu;
    pthread_cond_t ttl_cond;
    bool ttl_stop;
    void (*on_submit)(void *arg);
    void *on_submit_arg;
};

void jobs_api_on_submit(jobs_api_t *api, void (*hook)(void *arg), void *arg)
{
    api->on_submit = hook;
    api->on_submit_arg = arg;
}

/* After storing jobs: kicks the scheduler when one of them can run now (due, no dependency,
 * not a cron schedule); a job for later waits for the scheduler's own rounds. */
static void submitted(jobs_api_t *a, const job_spec_t *specs, size_t n)
{
    int64_t now = sb_now_ms();
    for (size_t i = 0; a->on_submit && i < n; i++)
        if (specs[i].run_at_ms <= now && specs[i].ndeps == 0 && !specs[i].cron[0]) {
            a->on_submit(a->on_submit_arg);
            return;
        }
}

static void *ttl_main(void *arg);

jobs_api_t *jobs_api_new(const jobs_config_t *cfg, jobs_store_t *store, http_auth_t *auth, sb_err_t *err)
{
    jobs_api_t *a = calloc(1, sizeof(*a));
    if (!a) {
        sb_err_set(err, SB_ENOMEM, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->store = store;
    a->auth = auth;
    pthread_mutex_init(&a->ttl_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->ttl_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (cfg->logs_clickhouse_url[0] && cfg->logs_ttl_days > 0)
        a->ttl_started = pthread_create(&a->ttl_thread, NULL, ttl_main, a) == 0;
    return a;
}

void jobs_api_free(jobs_api_t *api)
{
    if (!api) return;
    if (api->ttl_started) {
        pthread_mutex_lock(&api->ttl_mu);
        api->ttl_stop = true;
        pthread_cond_signal(&api->ttl_cond);
        pthread_mutex_unlock(&api->ttl_mu);
        pthread_join(api->ttl_thread, NULL);
    }
    pthread_cond_destroy(&api->ttl_cond);
    pthread_mutex_destroy(&api->ttl_mu);
    free(api);
}

static void respond_json(admin_http_response_t *resp, int status, json_t *body)
{
    resp->status = status;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        admin_http_respond_error(resp, 500, "out of memory");
        return;
    }
    sb_wr_bytes(&resp->body, text, strlen(text));
    free(text);
}

/* Maps a store error to its HTTP answer. */
static void respond_store_error(admin_http_response_t *resp, int rc, const sb_err_t *err)
{
    int status = rc == SB_ENOENT ? 404 : rc == SB_EINVAL ? 409 : 503;
    admin_http_respond_error(resp, status, err->msg[0] ? err->msg : "job store unavailable");
}

/* The request body as a JSON object, or an answered 400. */
static json_t *body_json(const admin_http_request_t *req, admin_http_response_t *resp)
{
    json_error_t je;
    json_t *j = req->body ? json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!j) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the body must be JSON: %s", req->body ? je.text : "empty body");
        admin_http_respond_error(resp, 400, msg);
    }
    return j;
}

static void validation_error(admin_http_response_t *resp, json_t *errors)
{
    respond_json(resp, 400, json_pack("{s:s, s:i, s:s, s:o}", "error", "invalid job", "error_code", 400, "message",
                                      "invalid job: see fields", "fields", errors));
}

/* ---- /jobs */

static void submit_one(jobs_api_t *a, const json_t *obj, admin_http_response_t *resp)
{
    json_t *errors = json_array();
    job_spec_t spec;
    if (job_spec_parse(obj, "", &spec, errors) < 0) {
        validation_error(resp, errors);
        return;
    }
    if (job_spec_schedule(&spec, sb_now_ms(), "", errors) < 0) {
        job_spec_deinit(&spec);
        validation_error(resp, errors);
        return;
    }
    json_decref(errors);
    json_t *job = NULL;
    bool existed = false;
    sb_err_t err = {0};
    int rc = jobs_store_submit(a->store, &spec, &job, &existed, &err);
    if (rc == 0 && !existed) submitted(a, &spec, 1);
    job_spec_deinit(&spec);
    if (rc == SB_ENOENT) {
        admin_http_respond_error(resp, 400, err.msg);
        return;
    }
    if (rc < 0) {
        respond_store_error(resp, rc, &err);
        return;
    }
    snprintf(resp->location, sizeof(resp->location), "/api/v1/jobs/%lld",
             (long long)json_integer_value(json_object_get(job, "id")));
    respond_json(resp, existed ? 200 : 201, job);
}

static void submit_batch(jobs_api_t *a, const json_t *body, admin_http_response_t *resp)
{
    json_t *list = json_object_get(body, "jobs");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > JOB_MAX_BATCH) {
        admin_http_respond_error(resp, 400, "jobs: must be an array of 1 to 500 jobs");
        return;
    }
    /* Everything is validated before anything is stored: a batch with a bad job stores none. */
    json_t *errors = json_array();
    size_t n = json_array_size(list);
    job_spec_t *specs = calloc(n, sizeof(*specs));
    for (size_t i = 0; i < n; i++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "jobs[%zu].", i);
        if (job_spec_parse(json_array_get(list, i), prefix, &specs[i], errors) == 0)
            job_spec_schedule(&specs[i], sb_now_ms(), prefix, errors);
    }
    if (json_array_size(errors) > 0) {
        for (size_t i = 0; i < n; i++) job_spec_deinit(&specs[i]);
        free(specs);
        validation_error(resp, errors);
        return;
    }
    json_decref(errors);
    /* One transaction: a dependsOn naming no job (found only by the store) stores none either. */
    json_t *out = json_array();
    sb_err_t err = {0};
    int rc = jobs_store_submit_batch(a->store, specs, n, out, &err);
    if (rc == 0) submitted(a, specs, n);
    for (size_t i = 0; i < n; i++) job_spec_deinit(&specs[i]);
    free(specs);
    if (rc < 0) {
        json_decref(out);
        if (rc == SB_ENOENT) admin_http_respond_error(resp, 400, err.msg);
        else respond_store_error(resp, rc, &err);
        return;
    }
    respond_json(resp, 201, json_pack("{s:o}", "jobs", out));
}

/* "/123" or "/123/cancel" → id and the action after it. */
static int parse_job_path(const char *rest, int64_t *id, const char **action)
{
    if (rest[0] != '/') return SB_EINVAL;
    char *end = NULL;
    long long v = strtoll(rest + 1, &end, 10);
    if (end == rest + 1 || v < 1 || (*end && *end != '/')) return SB_EINVAL;
    *id = v;
    *action = *end ? end + 1 : "";
    return 0;
}

static void on_jobs_post(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                         admin_http_response_t *resp)
{
    jobs_api_t *a = arg;
    const char *rest = req->path_rest;
    if (rest[0] == 0 || strcmp(rest, "/batch") == 0) {
        json_t *body = body_json(req, resp);
        if (!body) return;
        if (rest[0]) submit_batch(a, body, resp);
        else submit_one(a, body, resp);
        sb_debug("jobs.api", "submit by %s", who->subject);
        json_decref(body);
        return;
    }
    int64_t id;
    const char *action;
    if (parse_job_path(rest, &id, &action) < 0 || (strcmp(action, "cancel") && strcmp(action, "retry"))) {
        admin_http_respond_error(resp, 404, "no such path");
        return;
    }
    json_t *job = NULL;
    sb_err_t err = {0};
    int rc = strcmp(action, "cancel") == 0 ? jobs_store_cancel(a->store, id, &job, &err)
                                           : jobs_store_retry(a->store, id, &job, &err);
    if (rc < 0) respond_store_error(resp, rc, &err);
    else {
        sb_info("jobs.api", "job %lld: %s by %s", (long long)id, action, who->subject);
        respond_json(resp, 200, job);
    }
}

static void logs_query(jobs_api_t *a, const char *where, int limit, admin_http_response_t *resp);

static void on_jobs_get(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                        admin_http_response_t *resp)
{
    jobs_api_t *a = arg;
    const char *rest = req->path_rest;
    json_t *out = NULL;
    sb_err_t err = {0};
    int rc;
    if (strcmp(rest, "/stats") == 0) {
        rc = jobs_store_stats(a->store, &out, &err);
    } else if (rest[0] == 0) {
        const char *status = admin_http_query(req, "status"), *cursor = admin_http_query(req, "cursor"),
                   *limit = admin_http_query(req, "limit");
        job_state_t st;
        if (status && job_state_parse(status, &st) < 0) {
            admin_http_respond_error(resp, 400, "status: not a job state (PENDING, QUEUED, RUNNING, ...)");
            return;
        }
        char *end = NULL;
        long long cur = cursor ? strtoll(cursor, &end, 10) : 0;
        if (cursor && (end == cursor || *end || cur < 0)) {
            admin_http_respond_error(resp, 400, "cursor: must be the nextCursor of a previous page");
            return;
        }
        long lim = limit ? strtol(limit, &end, 10) : 100;
        if (limit && (end == limit || *end || lim < 1 || lim > 1000)) {
            admin_http_respond_error(resp, 400, "limit: must be 1 to 1000");
            return;
        }
        rc = jobs_store_list(a->store, status, admin_http_query(req, "type"), admin_http_query(req, "queue"), cur,
                             (int)lim, &out, &err);
    } else {
        int64_t id;
        const char *action;
        if (parse_job_path(rest, &id, &action) < 0 || (action[0] && strcmp(action, "logs") != 0)) {
            admin_http_respond_error(resp, 404, "no such path");
            return;
        }
        if (action[0]) {
            char where[64];
            snprintf(where, sizeof(where), "job_id = %lld", (long long)id);
            logs_query(a, where, 1000, resp);
            return;
        }
        rc = jobs_store_get(a->store, id, &out, &err);
        if (rc == SB_ENOENT) snprintf(err.msg, sizeof(err.msg), "no job %lld", (long long)id);
    }
    if (rc < 0) respond_store_error(resp, rc, &err);
    else respond_json(resp, 200, out);
}

/* ---- job logs in ClickHouse (written there by a clickhouse-sink connector reading job.logs) */

static size_t ch_body(char *p, size_t size, size_t n, void *arg)
{
    sb_wr_bytes(arg, p, size * n);
    return size * n;
}

/* Appends s as a ClickHouse string literal: quoted, with backslash and quote escaped. */
static void ch_quote(sb_wr_t *q, const char *s)
{
    sb_wr_bytes(q, "'", 1);
    for (; *s; s++) {
        if (*s == '\\' || *s == '\'') sb_wr_bytes(q, "\\", 1);
        sb_wr_bytes(q, s, 1);
    }
    sb_wr_bytes(q, "'", 1);
}

/* Names from the config go into the query as identifiers: letters, digits and '_' only. */
static bool ch_identifier(const char *s)
{
    return s[0] && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

/* Posts one statement to ClickHouse's HTTP interface; *out (caller deinits) gets the answer. */
static CURLcode ch_post(const jobs_config_t *cfg, const char *sql, sb_wr_t *out, long *status)
{
    char url[700];
    snprintf(url, sizeof(url), "%s/?output_format_json_quote_64bit_integers=0", cfg->logs_clickhouse_url);
    sb_wr_init(out, 4096);
    CURL *c = curl_easy_init();
    *status = 0;
    CURLcode cr = CURLE_FAILED_INIT;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, sql);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ch_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cr = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        curl_easy_cleanup(c);
    }
    return cr;
}

/* One TTL round: deletes the job log rows that ended more than logs.ttl_days ago. ClickHouse
 * 18.16 (Debian's) has no TTL clause on tables (it came in 19.6), so the expiry is an
 * `ALTER TABLE ... DELETE` mutation, which 18.16 runs in the background on MergeTree tables.
 * Several API instances may each issue it: deleting what is already gone is harmless. */
static void ttl_round(jobs_api_t *a)
{
    const jobs_config_t *cfg = a->cfg;
    if (!ch_identifier(cfg->logs_clickhouse_database) || !ch_identifier(cfg->logs_clickhouse_table)) {
        sb_warn("jobs.logs", "logs.clickhouse_database / logs.clickhouse_table: not plain identifiers; no TTL");
        return;
    }
    char sql[512];
    long long cutoff = (long long)(sb_now_ms() - cfg->logs_ttl_days * 86400000LL);
    snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DELETE WHERE ended_ms < %lld", cfg->logs_clickhouse_database,
             cfg->logs_clickhouse_table, cutoff);
    sb_wr_t out;
    long status = 0;
    CURLcode cr = ch_post(cfg, sql, &out, &status);
    if (cr == CURLE_OK && status == 200)
        sb_debug("jobs.logs", "job log rows that ended before %lld ms are being deleted (logs.ttl_days %lld)", cutoff,
                 (long long)cfg->logs_ttl_days);
    else if (out.len && memmem(out.buf, out.len, "Code: 60", 8))
        sb_debug("jobs.logs", "no job log table yet; nothing to expire");
    else
        sb_warn("jobs.logs", "expiring the job log: %s%.*s", cr != CURLE_OK ? curl_easy_strerror(cr) : "",
                cr != CURLE_OK ? 0 : (int)(out.len < 300 ? out.len : 300), out.buf ? (const char *)out.buf : "");
    sb_wr_deinit(&out);
}

static void *ttl_main(void *arg)
{
    jobs_api_t *a = arg;
    pthread_mutex_lock(&a->ttl_mu);
    while (!a->ttl_stop) {
        pthread_mutex_unlock(&a->ttl_mu);
        ttl_round(a);
        pthread_mutex_lock(&a->ttl_mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)a->cfg->logs_ttl_check_s;
        while (!a->ttl_stop && pthread_cond_timedwait(&a->ttl_cond, &a->ttl_mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&a->ttl_mu);
    return NULL;
}

/* Runs `SELECT ... WHERE <where> ... FORMAT JSON` on the log table and answers {"logs":[...]}. */
static void logs_query(jobs_api_t *a, const char *where, int limit, admin_http_response_t *resp)
{
    const jobs_config_t *cfg = a->cfg;
    if (!cfg->logs_clickhouse_url[0]) {
        admin_http_respond_error(resp, 503, "job logs are not configured (logs.clickhouse_url)");
        return;
    }
    if (!ch_identifier(cfg->logs_clickhouse_database) || !ch_identifier(cfg->logs_clickhouse_table)) {
        admin_http_respond_error(resp, 500, "logs.clickhouse_database / logs.clickhouse_table: not plain identifiers");
        return;
    }
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "SELECT job_id AS jobId, attempt, status, worker_id AS workerId, type, queue, error, output,"
             " started_ms AS startedMs, ended_ms AS endedMs, duration_ms AS durationMs FROM %s.%s FINAL"
             " WHERE __deleted = 0 AND (%s) ORDER BY ended_ms DESC, job_id, attempt LIMIT %d FORMAT JSON",
             cfg->logs_clickhouse_database, cfg->logs_clickhouse_table, where, limit);
    sb_wr_t out;
    long status = 0;
    CURLcode cr = ch_post(cfg, sql, &out, &status);
    json_t *j = cr == CURLE_OK && status == 200 ? json_loadb((const char *)out.buf, out.len, 0, NULL) : NULL;
    if (!j) {
        char msg[400];
        /* Before the first record reached ClickHouse the sink has not created the table yet. */
        bool no_table = out.len && memmem(out.buf, out.len, "Code: 60", 8);
        snprintf(msg, sizeof(msg), "job log store: %s",
                 cr != CURLE_OK ? curl_easy_strerror(cr) : no_table ? "no job log table yet" : "query failed");
        if (no_table) respond_json(resp, 200, json_pack("{s:[]}", "logs"));
        else admin_http_respond_error(resp, 503, msg);
    } else {
        respond_json(resp, 200, json_pack("{s:O}", "logs", json_object_get(j, "data")));
        json_decref(j);
    }
    sb_wr_deinit(&out);
}

static void on_logs_search(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                           admin_http_response_t *resp)
{
    jobs_api_t *a = arg;
    json_t *body = body_json(req, resp);
    if (!body) return;
    json_t *errors = json_array();
    sb_wr_t where;
    sb_wr_init(&where, 256);
    sb_wr_bytes(&where, "1", 1);
    const char *k;
    json_t *v;
    int limit = 100;
    json_object_foreach(body, k, v)
    {
        char clause[64];
        if (strcmp(k, "jobId") == 0 || strcmp(k, "attempt") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                json_array_append_new(errors, json_pack("{s:s, s:s}", "field", k, "message", "must be a positive integer"));
                continue;
            }
            snprintf(clause, sizeof(clause), " AND %s = %lld", strcmp(k, "jobId") == 0 ? "job_id" : "attempt",
                     (long long)json_integer_value(v));
            sb_wr_bytes(&where, clause, strlen(clause));
        } else if (strcmp(k, "status") == 0 || strcmp(k, "type") == 0 || strcmp(k, "queue") == 0 ||
                   strcmp(k, "workerId") == 0 || strcmp(k, "text") == 0) {
            const char *sv = json_string_value(v);
            if (!sv || !sv[0] || strlen(sv) > 256) {
                json_array_append_new(errors,
                                      json_pack("{s:s, s:s}", "field", k, "message", "must be a string of 1 to 256 bytes"));
                continue;
            }
            const char *col = strcmp(k, "workerId") == 0 ? "worker_id" : k;
            if (strcmp(k, "text") == 0) {
                /* Case-insensitive substring of the error or the output. */
                const char *pre = " AND positionCaseInsensitive(concat(ifNull(error, ''), ' ', ifNull(output, '')), ";
                sb_wr_bytes(&where, pre, strlen(pre));
                ch_quote(&where, sv);
                sb_wr_bytes(&where, ") > 0", 5);
            } else {
                snprintf(clause, sizeof(clause), " AND %s = ", col);
                sb_wr_bytes(&where, clause, strlen(clause));
                ch_quote(&where, sv);
            }
        } else if (strcmp(k, "limit") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000)
                json_array_append_new(errors, json_pack("{s:s, s:s}", "field", k, "message", "must be 1 to 1000"));
            else limit = (int)json_integer_value(v);
        } else {
            json_array_append_new(errors, json_pack("{s:s, s:s}", "field", k, "message", "is not a search field"));
        }
    }
    json_decref(body);
    if (json_array_size(errors) > 0 || where.len > 3000) {
        if (json_array_size(errors) == 0)
            json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "", "message", "search too long"));
        respond_json(resp, 400, json_pack("{s:s, s:i, s:s, s:o}", "error", "invalid search", "error_code", 400,
                                          "message", "invalid search: see fields", "fields", errors));
        sb_wr_deinit(&where);
        return;
    }
    json_decref(errors);
    sb_wr_bytes(&where, "", 1);
    logs_query(a, (const char *)where.buf, limit, resp);
    sb_wr_deinit(&where);
}

/* ---- /openapi.json */

static void on_openapi(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                       admin_http_response_t *resp)
{
    if (req->path_rest[0]) {
        admin_http_respond_error(resp, 404, "no such path");
        return;
    }
    resp->status = 200;
    sb_wr_bytes(&resp->body, JOBS_OPENAPI_JSON, strlen(JOBS_OPENAPI_JSON));
}

int jobs_api_register(jobs_api_t *a, admin_http_t *http, sb_err_t *err)
{
    int rc = 0;
    /* Login, refresh, logout and users live under /api/v1/auth, served by the shared auth
     * layer (http_auth_attach in http_security_start). */
    if (rc == 0) rc = http_auth_add_route(a->auth, http, "POST", "/api/v1/jobs", HTTP_ROLE_OPERATOR, on_jobs_post, a);
    if (rc == 0) rc = http_auth_add_route(a->auth, http, "GET", "/api/v1/jobs", HTTP_ROLE_VIEWER, on_jobs_get, a);
    if (rc == 0)
        rc = http_auth_add_route(a->auth, http, "GET", "/api/v1/openapi.json", HTTP_ROLE_NONE, on_openapi, a);
    if (rc == 0)
        rc = http_auth_add_route(a->auth, http, "POST", "/api/v1/logs/search", HTTP_ROLE_VIEWER, on_logs_search, a);
    return rc < 0 ? sb_err_set(err, rc, "cannot add the job API routes") : 0;
}
