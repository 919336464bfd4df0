/* HTTP, SQL and SHELL executors; see executors.h. */
#include "jobs/executors.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"

/* Kept from a response body or a process's output, for the job's result. */
#define EXEC_OUTPUT_CAP 4096

typedef struct capture {
    char buf[EXEC_OUTPUT_CAP + 1];
    size_t len;
} capture_t;

static void capture_add(capture_t *c, const char *p, size_t n)
{
    size_t room = EXEC_OUTPUT_CAP - c->len;
    if (n > room) n = room;
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    c->buf[c->len] = 0;
}

static int stopped_or_late(const job_exec_ctx_t *ctx)
{
    if (atomic_load(ctx->stop)) return SB_EAGAIN;
    if (sb_mono_ms() >= ctx->deadline_ms) return SB_ELIMIT;
    return 0;
}

/* ---- HTTP */

static size_t http_body(char *p, size_t size, size_t n, void *arg)
{
    capture_add(arg, p, size * n);
    return size * n;
}

static int http_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return atomic_load(((const job_exec_ctx_t *)arg)->stop) ? 1 : 0;
}

static int exec_http(const json_t *p, const job_exec_ctx_t *ctx, json_t **result, char *error, size_t cap)
{
    CURL *c = curl_easy_init();
    if (!c) return SB_ENOMEM;
    capture_t *body = calloc(1, sizeof(*body));
    struct curl_slist *hdrs = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(p, "headers"), k, v)
    {
        char line[1024];
        snprintf(line, sizeof(line), "%s: %s", k, json_string_value(v));
        hdrs = curl_slist_append(hdrs, line);
    }
    const char *method = json_string_value(json_object_get(p, "method"));
    const char *req_body = json_string_value(json_object_get(p, "body"));
    int64_t left = ctx->deadline_ms - sb_mono_ms();
    curl_easy_setopt(c, CURLOPT_URL, json_string_value(json_object_get(p, "url")));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method ? method : "GET");
    if (req_body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, req_body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ctx);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    int rc = 0;
    json_t *es = json_object_get(p, "expectStatus");
    if (cr == CURLE_ABORTED_BY_CALLBACK) rc = SB_EAGAIN;
    else if (cr == CURLE_OPERATION_TIMEDOUT) rc = SB_ELIMIT;
    else if (cr != CURLE_OK) {
        rc = SB_EIO;
        snprintf(error, cap, "HTTP: %s", curl_easy_strerror(cr));
    } else if (es ? status != json_integer_value(es) : (status < 200 || status > 299)) {
        rc = SB_EIO;
        char want[16] = "2xx";
        if (es) snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(es));
        snprintf(error, cap, "HTTP status %ld, expected %s", status, want);
    } else {
        *result = json_pack("{s:I, s:s}", "status", (json_int_t)status, "body", body->buf);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(body);
    return rc;
}

/* ---- EMAIL */

typedef struct mail_source {
    const char *p;
    size_t left;
} mail_source_t;

static size_t mail_read(char *out, size_t size, size_t n, void *arg)
{
    mail_source_t *m = arg;
    size_t k = size * n < m->left ? size * n : m->left;
    memcpy(out, m->p, k);
    m->p += k;
    m->left -= k;
    return k;
}

/* A header value: as is when ASCII, else one RFC 2047 encoded word (base64 UTF-8). */
static void mail_header_value(const char *v, char *out, size_t cap)
{
    bool ascii = true;
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) ascii = ascii && *c < 0x80;
    if (ascii) {
        snprintf(out, cap, "%s", v);
        return;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(v), o = (size_t)snprintf(out, cap, "=?UTF-8?B?");
    const unsigned char *s = (const unsigned char *)v;
    for (size_t i = 0; i < n && o + 8 < cap; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        out[o++] = b64[w >> 18 & 63];
        out[o++] = b64[w >> 12 & 63];
        out[o++] = i + 1 < n ? b64[w >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    snprintf(out + o, cap > o ? cap - o : 0, "?=");
}

/* The message: headers, a blank line, the body with bare LF turned into CRLF. libcurl
 * dot-stuffs lines that begin with '.'. */
static char *mail_build(const jobs_config_t *cfg, const json_t *p, size_t *len)
{
    const char *subject = json_string_value(json_object_get(p, "subject"));
    const char *body = json_string_value(json_object_get(p, "body"));
    json_t *to = json_object_get(p, "to"), *v;
    size_t i, cap = 4096 + json_array_size(to) * 260 + strlen(body) * 2;
    char *m = malloc(cap), subj[2048], date[64];
    if (!m) return NULL;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    mail_header_value(subject, subj, sizeof(subj));
    size_t o = (size_t)snprintf(m, cap, "From: <%s>\r\nTo: ", cfg->smtp_from);
    json_array_foreach(to, i, v) o += (size_t)snprintf(m + o, cap - o, "%s<%s>", i ? ", " : "", json_string_value(v));
    o += (size_t)snprintf(m + o, cap - o,
                          "\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
                          subj, date);
    for (const char *c = body; *c && o + 3 < cap; c++) {
        if (*c == '\n' && (c == body || c[-1] != '\r')) m[o++] = '\r';
        m[o++] = *c;
    }
    if (o >= 2 && memcmp(m + o - 2, "\r\n", 2) != 0) m[o++] = '\r', m[o++] = '\n';
    *len = o;
    return m;
}

static int exec_email(const json_t *p, const job_exec_ctx_t *ctx, json_t **result, char *error, size_t cap)
{
    const jobs_config_t *cfg = ctx->cfg;
    if (!cfg->smtp_url[0] || !cfg->smtp_from[0]) {
        snprintf(error, cap, "EMAIL: executors.smtp_url and executors.smtp_from are not configured");
        return SB_EIO;
    }
    size_t len = 0;
    char *msg = mail_build(cfg, p, &len);
    CURL *c = curl_easy_init();
    if (!msg || !c) {
        free(msg);
        curl_easy_cleanup(c);
        return SB_ENOMEM;
    }
    char from[300];
    snprintf(from, sizeof(from), "<%s>", cfg->smtp_from);
    struct curl_slist *rcpt = NULL;
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(p, "to"), i, v)
    {
        char a[300];
        snprintf(a, sizeof(a), "<%s>", json_string_value(v));
        rcpt = curl_slist_append(rcpt, a);
    }
    mail_source_t src = {msg, len};
    int64_t left = ctx->deadline_ms - sb_mono_ms();
    curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    /* For smtp:// this means STARTTLS, and a server that does not offer it gets nothing. */
    curl_easy_setopt(c, CURLOPT_USE_SSL, cfg->smtp_require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    if (cfg->smtp_ca_file[0]) curl_easy_setopt(c, CURLOPT_CAINFO, cfg->smtp_ca_file);
    if (cfg->smtp_username[0]) curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_username);
    const char *pw = cfg->smtp_password_env[0] ? getenv(cfg->smtp_password_env) : NULL;
    if (pw) curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ctx);
    CURLcode cr = curl_easy_perform(c);
    int rc = 0;
    if (cr == CURLE_ABORTED_BY_CALLBACK) rc = SB_EAGAIN;
    else if (cr == CURLE_OPERATION_TIMEDOUT) rc = SB_ELIMIT;
    else if (cr != CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        rc = SB_EIO;
        snprintf(error, cap, "EMAIL: %s%s (SMTP reply %ld)", curl_easy_strerror(cr),
                 cr == CURLE_USE_SSL_FAILED ? "; the server does not offer STARTTLS" : "", code);
    } else {
        *result = json_pack("{s:I}", "recipients", (json_int_t)json_array_size(json_object_get(p, "to")));
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    free(msg);
    return rc;
}

/* ---- PIPELINE */

/* One call to the connect REST API; *out = the answer's JSON (NULL when none). Returns 0 with
 * the HTTP status in *status, SB_EAGAIN / SB_ELIMIT when stopped or late, SB_EIO unreachable. */
static int connect_call(const job_exec_ctx_t *ctx, const char *method, const char *path, const json_t *body,
                        long *status, json_t **out, char *error, size_t cap)
{
    *out = NULL;
    CURL *c = curl_easy_init();
    capture_t *resp = calloc(1, sizeof(*resp));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!c || !resp || (body && !text)) {
        curl_easy_cleanup(c);
        free(resp);
        free(text);
        return SB_ENOMEM;
    }
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", ctx->cfg->connect_url, path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    int64_t left = ctx->deadline_ms - sb_mono_ms();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (text) curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ctx);
    CURLcode cr = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    int rc = 0;
    if (cr == CURLE_ABORTED_BY_CALLBACK) rc = SB_EAGAIN;
    else if (cr == CURLE_OPERATION_TIMEDOUT) rc = SB_ELIMIT;
    else if (cr != CURLE_OK) {
        rc = SB_EIO;
        snprintf(error, cap, "PIPELINE: connect at %s: %s", ctx->cfg->connect_url, curl_easy_strerror(cr));
    } else if (resp->len) {
        *out = json_loads(resp->buf, 0, NULL);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(resp);
    free(text);
    return rc;
}

/* An error answer of connect as the job's error. */
static int connect_refused(const char *what, long status, const json_t *answer, char *error, size_t cap)
{
    const char *msg = json_string_value(json_object_get(answer, "message"));
    snprintf(error, cap, "PIPELINE: %s: HTTP %ld%s%s", what, status, msg ? ": " : "", msg ? msg : "");
    return SB_EIO;
}

/* Sleeps up to 250 ms between polls, waking for stop and the deadline. */
static int poll_pause(const job_exec_ctx_t *ctx)
{
    for (int i = 0; i < 5; i++) {
        int late = stopped_or_late(ctx);
        if (late) return late;
        usleep(50000);
    }
    return stopped_or_late(ctx);
}

/* Waits until the connector and its task are RUNNING; a FAILED task fails the job with its trace. */
static int wait_running(const job_exec_ctx_t *ctx, const char *name, json_t **result, char *error, size_t cap)
{
    char path[300];
    snprintf(path, sizeof(path), "/connectors/%s/status", name);
    for (;;) {
        long status = 0;
        json_t *st = NULL;
        int rc = connect_call(ctx, "GET", path, NULL, &status, &st, error, cap);
        if (rc < 0) return rc;
        if (status != 200) {
            rc = connect_refused("status", status, st, error, cap);
            json_decref(st);
            return rc;
        }
        const char *cstate = json_string_value(json_object_get(json_object_get(st, "connector"), "state"));
        json_t *task = json_array_get(json_object_get(st, "tasks"), 0);
        const char *tstate = json_string_value(json_object_get(task, "state"));
        if (tstate && strcmp(tstate, "FAILED") == 0) {
            const char *trace = json_string_value(json_object_get(task, "trace"));
            snprintf(error, cap, "PIPELINE: connector %s FAILED: %.400s", name, trace ? trace : "");
            json_decref(st);
            return SB_EIO;
        }
        if (cstate && tstate && strcmp(cstate, "RUNNING") == 0 && strcmp(tstate, "RUNNING") == 0) {
            *result = json_pack("{s:s, s:s}", "connector", name, "state", "RUNNING");
            json_decref(st);
            return 0;
        }
        json_decref(st);
        if ((rc = poll_pause(ctx)) < 0) return rc;
    }
}

static int pipeline_reconcile(const json_t *p, const job_exec_ctx_t *ctx, json_t **result, char *error, size_t cap)
{
    json_t *req = json_pack("{s:O, s:s, s:b}", "connector", json_object_get(p, "connector"), "mode",
                            json_string_value(json_object_get(p, "mode")) ? json_string_value(json_object_get(p, "mode"))
                                                                          : "checksum",
                            "repair", json_is_true(json_object_get(p, "repair")));
    if (json_object_get(p, "tables")) json_object_set(req, "tables", json_object_get(p, "tables"));
    else json_object_set_new(req, "all_tables", json_true());
    long status = 0;
    json_t *job = NULL;
    int rc = connect_call(ctx, "POST", "/reconciliation/trigger", req, &status, &job, error, cap);
    json_decref(req);
    if (rc < 0) return rc;
    if (status != 202 && status != 200) {
        rc = connect_refused("reconciliation", status, job, error, cap);
        json_decref(job);
        return rc;
    }
    char path[80];
    snprintf(path, sizeof(path), "/reconciliation/jobs/%lld", (long long)json_integer_value(json_object_get(job, "id")));
    for (;;) {
        const char *state = json_string_value(json_object_get(job, "state"));
        if (state && strcmp(state, "failed") == 0) {
            snprintf(error, cap, "PIPELINE: reconciliation %s failed", path + 21);
            json_decref(job);
            return SB_EIO;
        }
        if (state && strcmp(state, "done") == 0) {
            bool drift = json_is_true(json_object_get(job, "drift_found"));
            if (drift && !json_is_true(json_object_get(p, "repair"))) {
                snprintf(error, cap, "PIPELINE: reconciliation %s found drift (not repaired)", path + 21);
                json_decref(job);
                return SB_EIO;
            }
            *result = job;
            return 0;
        }
        json_decref(job);
        job = NULL;
        if ((rc = poll_pause(ctx)) < 0) return rc;
        rc = connect_call(ctx, "GET", path, NULL, &status, &job, error, cap);
        if (rc < 0) return rc;
        if (status != 200) {
            rc = connect_refused("reconciliation job", status, job, error, cap);
            json_decref(job);
            return rc;
        }
    }
}

static int exec_pipeline(const json_t *p, const job_exec_ctx_t *ctx, json_t **result, char *error, size_t cap)
{
    const char *action = json_string_value(json_object_get(p, "action"));
    if (strcmp(action, "reconcile") == 0) return pipeline_reconcile(p, ctx, result, error, cap);
    const char *name = json_string_value(json_object_get(p, "name"));
    char path[300];
    long status = 0;
    json_t *answer = NULL;
    int rc;
    if (strcmp(action, "connector") == 0) {
        /* PUT config creates the connector or updates it: running the job twice is harmless. */
        snprintf(path, sizeof(path), "/connectors/%s/config", name);
        rc = connect_call(ctx, "PUT", path, json_object_get(p, "config"), &status, &answer, error, cap);
        if (rc == 0 && status != 200 && status != 201) rc = connect_refused("create connector", status, answer, error, cap);
    } else {
        snprintf(path, sizeof(path), "/connectors/%s/resume", name);
        rc = connect_call(ctx, "PUT", path, NULL, &status, &answer, error, cap);
        if (rc == 0 && status != 202 && status != 200 && status != 204)
            rc = connect_refused("resume connector", status, answer, error, cap);
    }
    json_decref(answer);
    return rc < 0 ? rc : wait_running(ctx, name, result, error, cap);
}

/* ---- SQL */

/* Waits for the result of a query sent with PQsend*, watching *stop and the deadline; on either
 * the server is asked to cancel the statement. Returns the last result (caller clears). */
static PGresult *sql_wait(PGconn *conn, const job_exec_ctx_t *ctx, int *why)
{
    *why = 0;
    bool cancelled = false;
    while (PQisBusy(conn)) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        poll(&pfd, 1, 100);
        if (!PQconsumeInput(conn)) break;
        int late = stopped_or_late(ctx);
        if (late && !cancelled) {
            *why = late;
            PGcancel *pc = PQgetCancel(conn);
            char eb[128];
            if (pc) PQcancel(pc, eb, sizeof(eb));
            PQfreeCancel(pc);
            cancelled = true;
        }
    }
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(conn))) {
        PQclear(last);
        last = r;
    }
    return last;
}

static int exec_sql(const json_t *p, const job_exec_ctx_t *ctx, json_t **result, char *error, size_t cap)
{
    const char *conninfo = ctx->cfg->sql_conninfo[0] ? ctx->cfg->sql_conninfo : ctx->cfg->postgres;
    /* A new connection costs a PostgreSQL backend start (30-90 ms on 2 busy cores, measured with
     * bench/jobs_compare), far more than a short statement: the worker keeps one. */
    PGconn *conn = ctx->sql_conn ? *ctx->sql_conn : NULL;
    if (ctx->sql_conn) *ctx->sql_conn = NULL;
    if (conn && (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)) {
        PQfinish(conn);
        conn = NULL;
    }
    if (!conn) conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(error, cap, "SQL: cannot connect: %s", PQerrorMessage(conn));
        error[strcspn(error, "\n")] = 0;
        PQfinish(conn);
        return SB_EIO;
    }
    json_t *params = json_object_get(p, "params");
    size_t n = json_array_size(params);
    const char **vals = calloc(n + 1, sizeof(*vals));
    char **owned = calloc(n + 1, sizeof(*owned));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(params, i);
        if (json_is_string(v)) vals[i] = json_string_value(v);
        else if (!json_is_null(v)) vals[i] = owned[i] = json_dumps(v, JSON_ENCODE_ANY);
    }
    int64_t left = ctx->deadline_ms - sb_mono_ms();
    char setup[96];
    snprintf(setup, sizeof(setup), "BEGIN; SET LOCAL statement_timeout = %lld", (long long)(left > 1 ? left : 1));
    int rc = 0, why = 0;
    PGresult *r = PQexec(conn, setup);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = SB_EIO;
    PQclear(r);
    r = NULL;
    if (rc == 0 && PQsendQueryParams(conn, json_string_value(json_object_get(p, "statement")), (int)n, NULL, vals,
                                     NULL, NULL, 0))
        r = sql_wait(conn, ctx, &why);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (rc == 0 && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
        PGresult *c = PQexec(conn, "COMMIT");
        if (PQresultStatus(c) == PGRES_COMMAND_OK) {
            const char *affected = PQcmdTuples(r);
            *result = json_pack("{s:I, s:I}", "rows", (json_int_t)PQntuples(r), "affected",
                                (json_int_t)(affected[0] ? atoll(affected) : 0));
        } else {
            rc = SB_EIO;
            snprintf(error, cap, "SQL: commit failed: %s", PQerrorMessage(conn));
        }
        PQclear(c);
    } else {
        const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        rc = why ? why : SB_EIO;
        snprintf(error, cap, "SQL: %s", m ? m : PQerrorMessage(conn));
        error[strcspn(error, "\n")] = 0;
        PQclear(PQexec(conn, "ROLLBACK"));
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(vals);
    /* Kept only after a clean run, with the session reset (SET, temporary tables, prepared
     * statements, advisory locks of the job are gone), so one job never sees another's state.
     * After a failure, a cancel or a timeout the connection is closed: a statement the server
     * may still be cancelling never meets the next job. */
    bool keep = rc == 0 && ctx->sql_conn;
    if (keep) {
        PGresult *d = PQexec(conn, "DISCARD ALL");
        keep = PQresultStatus(d) == PGRES_COMMAND_OK;
        PQclear(d);
    }
    if (keep) *ctx->sql_conn = conn;
    else PQfinish(conn);
    return rc;
}

void job_exec_close(struct pg_conn *sql_conn)
{
    PQfinish(sql_conn);
}

/* ---- SHELL */

static bool shell_allowed(const jobs_config_t *cfg, const char *cmd)
{
    for (int i = 0; i < cfg->nshell_allow; i++)
        if (strcmp(cfg->shell_allow[i], cmd) == 0) return true;
    return false;
}

static int exec_shell(const json_t *p, const job_exec_ctx_t *ctx, json_t **result, char *error, size_t cap)
{
    const char *cmd = json_string_value(json_object_get(p, "command"));
    if (!ctx->cfg->shell_enabled) {
        snprintf(error, cap, "SHELL jobs are disabled (executors.shell_enabled: false)");
        return SB_EIO;
    }
    if (!cmd || !shell_allowed(ctx->cfg, cmd)) {
        snprintf(error, cap, "SHELL: %s is not on executors.shell_allow", cmd ? cmd : "(none)");
        return SB_EIO;
    }
    json_t *args = json_object_get(p, "args");
    size_t n = json_array_size(args);
    char **argv = calloc(n + 2, sizeof(*argv));
    argv[0] = (char *)cmd;
    for (size_t i = 0; i < n; i++) argv[i + 1] = (char *)json_string_value(json_array_get(args, i));
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0) {
        free(argv);
        snprintf(error, cap, "SHELL: pipe: %s", strerror(errno));
        return SB_EIO;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Own process group, so a cancel stops everything it started; and killed if the worker
         * dies (kill -9 included), so a lost worker leaves no orphan doing the work twice. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(out[1], 1);
        dup2(out[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        execv(cmd, argv);
        _exit(127);
    }
    free(argv);
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        snprintf(error, cap, "SHELL: fork: %s", strerror(errno));
        return SB_EIO;
    }
    capture_t *output = calloc(1, sizeof(*output));
    int status = 0, why = 0;
    int64_t kill_at = 0;
    for (;;) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            char buf[1024];
            ssize_t r = read(out[0], buf, sizeof(buf));
            if (r > 0) capture_add(output, buf, (size_t)r);
            else if (r == 0) pfd.fd = -1;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (!why && (why = stopped_or_late(ctx))) {
            kill(-pid, SIGTERM);
            kill_at = sb_mono_ms() + 2000;
        }
        if (kill_at && sb_mono_ms() >= kill_at) {
            kill(-pid, SIGKILL);
            kill_at = 0;
        }
    }
    close(out[0]);
    int rc = 0;
    if (why) {
        rc = why;
        snprintf(error, cap, "SHELL: %s stopped (%s)", cmd, why == SB_ELIMIT ? "timed out" : "cancelled");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        *result = json_pack("{s:i, s:s}", "exitCode", 0, "output", output->buf);
    } else {
        rc = SB_EIO;
        if (WIFEXITED(status)) snprintf(error, cap, "SHELL: %s exited with %d", cmd, WEXITSTATUS(status));
        else snprintf(error, cap, "SHELL: %s killed by signal %d", cmd, WTERMSIG(status));
    }
    free(output);
    return rc;
}

int job_exec_run(const char *type, const json_t *payload, const job_exec_ctx_t *ctx, json_t **result, char *error,
                 size_t cap)
{
    *result = NULL;
    error[0] = 0;
    int rc;
    if (strcmp(type, "HTTP") == 0) rc = exec_http(payload, ctx, result, error, cap);
    else if (strcmp(type, "SQL") == 0) rc = exec_sql(payload, ctx, result, error, cap);
    else if (strcmp(type, "SHELL") == 0) rc = exec_shell(payload, ctx, result, error, cap);
    else if (strcmp(type, "EMAIL") == 0) rc = exec_email(payload, ctx, result, error, cap);
    else if (strcmp(type, "PIPELINE") == 0) rc = exec_pipeline(payload, ctx, result, error, cap);
    else if (strcmp(type, "NOOP") == 0) rc = 0; /* nothing to run: the transitions are the job */
    else {
        snprintf(error, cap, "no executor for type %s", type);
        rc = SB_EIO;
    }
    if (rc == SB_ELIMIT && !error[0]) snprintf(error, cap, "timed out");
    if (rc == SB_EAGAIN && !error[0]) snprintf(error, cap, "stopped");
    return rc;
}
