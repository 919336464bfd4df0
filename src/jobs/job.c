/* Job states, backoff and submission validation; see job.h. */
#include "jobs/job.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "jobs/cron.h"

static const char *const state_names[JOB_STATE_COUNT] = {"PENDING", "QUEUED", "RUNNING", "COMPLETED",
                                                        "FAILED", "RETRYING", "DEAD_LETTER", "CANCELLED"};

const char *job_state_name(job_state_t s)
{
    return s >= 0 && s < JOB_STATE_COUNT ? state_names[s] : "?";
}

int job_state_parse(const char *s, job_state_t *out)
{
    for (int i = 0; s && i < JOB_STATE_COUNT; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (job_state_t)i;
            return 0;
        }
    return SB_EINVAL;
}

bool job_state_terminal(job_state_t s)
{
    return s == JOB_COMPLETED || s == JOB_DEAD_LETTER || s == JOB_CANCELLED;
}

bool job_transition_allowed(job_state_t from, job_state_t to)
{
    switch (from) {
    case JOB_PENDING: return to == JOB_QUEUED || to == JOB_CANCELLED || to == JOB_DEAD_LETTER;
    /* QUEUED → QUEUED: the task message was never claimed (lost before the broker stored it)
     * and is produced again; the claim is fenced by attempt, so a duplicate is harmless. */
    case JOB_QUEUED: return to == JOB_RUNNING || to == JOB_CANCELLED || to == JOB_QUEUED;
    case JOB_RUNNING: return to == JOB_COMPLETED || to == JOB_FAILED || to == JOB_CANCELLED;
    case JOB_FAILED: return to == JOB_RETRYING || to == JOB_DEAD_LETTER;
    case JOB_RETRYING: return to == JOB_QUEUED || to == JOB_CANCELLED;
    /* A dead-lettered or cancelled job can be retried by an operator. */
    case JOB_DEAD_LETTER:
    case JOB_CANCELLED: return to == JOB_PENDING;
    default: return false;
    }
}

int64_t job_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double rand01)
{
    if (attempt < 1) attempt = 1;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++) d *= 2;
    if (d > max_ms) d = max_ms;
    if (rand01 < 0) rand01 = 0;
    if (rand01 >= 1) rand01 = 0.999999;
    return d / 2 + (int64_t)((double)(d - d / 2) * rand01);
}

int job_parse_time(const char *s, int64_t *out_ms)
{
    struct tm tm = {0};
    int ms = 0, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec, &n) != 6)
        return SB_EINVAL;
    const char *p = s + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3) ms = ms * 10 + (*p - '0');
        for (; digits < 3; digits++) ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) return SB_EINVAL;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return SB_EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}

static void bad(json_t *errors, const char *prefix, const char *field, const char *msg)
{
    char f[160];
    snprintf(f, sizeof(f), "%s%s", prefix, field);
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", f, "message", msg));
}

/* Reads an optional integer field within [lo, hi]; records an error naming it otherwise. */
static void int_field(const json_t *body, const char *name, int lo, int hi, int def, int *out, const char *prefix,
                      json_t *errors)
{
    json_t *v = json_object_get(body, name);
    *out = def;
    if (!v || json_is_null(v)) return;
    char msg[96];
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(msg, sizeof(msg), "must be an integer from %d to %d", lo, hi);
        bad(errors, prefix, name, msg);
        return;
    }
    *out = (int)json_integer_value(v);
}

static void str_field(const json_t *body, const char *name, bool required, char *out, size_t cap, const char *def,
                      const char *prefix, json_t *errors)
{
    json_t *v = json_object_get(body, name);
    snprintf(out, cap, "%s", def);
    if (!v || json_is_null(v)) {
        if (required) bad(errors, prefix, name, "is required");
        return;
    }
    const char *s = json_string_value(v);
    char msg[96];
    if (!s || !s[0] || strlen(s) >= cap) {
        snprintf(msg, sizeof(msg), "must be a non-empty string of at most %zu bytes", cap - 1);
        bad(errors, prefix, name, msg);
        return;
    }
    snprintf(out, cap, "%s", s);
}

/* Checks the payload against what the executor of `type` needs. */
static void check_payload(const char *type, const json_t *p, const char *prefix, json_t *errors)
{
    if (!json_is_object(p)) {
        bad(errors, prefix, "payload", "must be an object");
        return;
    }
    const char *k;
    json_t *v;
    if (strcmp(type, "HTTP") == 0) {
        const char *url = json_string_value(json_object_get(p, "url"));
        if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
            bad(errors, prefix, "payload.url", "must be an http:// or https:// URL");
        json_t *m = json_object_get(p, "method");
        if (m && (!json_is_string(m) || json_string_length(m) == 0 || json_string_length(m) > 16))
            bad(errors, prefix, "payload.method", "must be an HTTP method name");
        json_t *h = json_object_get(p, "headers");
        if (h && !json_is_object(h)) bad(errors, prefix, "payload.headers", "must be an object of strings");
        json_object_foreach(h, k, v) if (!json_is_string(v) || strpbrk(k, "\r\n:") || strpbrk(json_string_value(v), "\r\n"))
        {
            bad(errors, prefix, "payload.headers", "must be an object of strings without CR/LF");
            break;
        }
        json_t *b = json_object_get(p, "body");
        if (b && !json_is_string(b)) bad(errors, prefix, "payload.body", "must be a string");
        json_t *es = json_object_get(p, "expectStatus");
        if (es && (!json_is_integer(es) || json_integer_value(es) < 100 || json_integer_value(es) > 599))
            bad(errors, prefix, "payload.expectStatus", "must be an HTTP status from 100 to 599");
    } else if (strcmp(type, "SQL") == 0) {
        const char *st = json_string_value(json_object_get(p, "statement"));
        if (!st || !st[0]) bad(errors, prefix, "payload.statement", "must be a non-empty string");
        json_t *ps = json_object_get(p, "params");
        size_t i;
        if (ps && !json_is_array(ps)) bad(errors, prefix, "payload.params", "must be an array");
        json_array_foreach(ps, i, v) if (json_is_object(v) || json_is_array(v))
        {
            bad(errors, prefix, "payload.params", "must hold strings, numbers, booleans or null");
            break;
        }
    } else if (strcmp(type, "EMAIL") == 0) {
        json_t *to = json_object_get(p, "to");
        size_t i;
        if (!json_is_array(to) || json_array_size(to) < 1 || json_array_size(to) > 50)
            bad(errors, prefix, "payload.to", "must be an array of 1 to 50 addresses");
        else
            json_array_foreach(to, i, v)
            {
                const char *a = json_string_value(v);
                /* Addresses go into SMTP commands and headers: nothing that could end or split one. */
                if (!a || !strchr(a, '@') || strlen(a) > 254 || strpbrk(a, "\r\n<>,; \t\"")) {
                    bad(errors, prefix, "payload.to", "must hold plain addresses like ops@example.com");
                    break;
                }
            }
        const char *subj = json_string_value(json_object_get(p, "subject"));
        if (!subj || strlen(subj) > 900 || strpbrk(subj, "\r\n"))
            bad(errors, prefix, "payload.subject", "must be a string of at most 900 bytes without CR/LF");
        json_t *b = json_object_get(p, "body");
        if (!json_is_string(b) || json_string_length(b) > 1 << 20)
            bad(errors, prefix, "payload.body", "must be a string of at most 1 MiB");
    } else if (strcmp(type, "PIPELINE") == 0) {
        const char *action = json_string_value(json_object_get(p, "action"));
        bool conn = action && (strcmp(action, "connector") == 0 || strcmp(action, "resume") == 0);
        bool rec = action && strcmp(action, "reconcile") == 0;
        if (!conn && !rec) bad(errors, prefix, "payload.action", "must be connector, resume or reconcile");
        /* The name goes into the connect API's URL paths: only characters that need no escaping. */
        const char *key = rec ? "connector" : "name";
        const char *name = json_string_value(json_object_get(p, key));
        if ((conn || rec) && (!name || !name[0] || strlen(name) > 200 ||
                              strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                                  strlen(name)))
            bad(errors, prefix, rec ? "payload.connector" : "payload.name",
                "must be a connector name of letters, digits, '.', '_' and '-'");
        if (action && strcmp(action, "connector") == 0 && !json_is_object(json_object_get(p, "config")))
            bad(errors, prefix, "payload.config", "must be the connector's config object");
        if (rec) {
            json_t *tables = json_object_get(p, "tables"), *all = json_object_get(p, "allTables");
            size_t i;
            bool ok = tables ? json_is_array(tables) && json_array_size(tables) > 0 && !all : json_is_true(all);
            json_array_foreach(tables, i, v) ok = ok && json_is_string(v);
            if (!ok) bad(errors, prefix, "payload.tables", "must be a non-empty array of table names, or allTables true");
            const char *mode = json_string_value(json_object_get(p, "mode"));
            if (json_object_get(p, "mode") &&
                (!mode || (strcmp(mode, "count") && strcmp(mode, "checksum") && strcmp(mode, "full"))))
                bad(errors, prefix, "payload.mode", "must be count, checksum or full");
            json_t *repair = json_object_get(p, "repair");
            if (repair && !json_is_boolean(repair)) bad(errors, prefix, "payload.repair", "must be true or false");
        }
    } else if (strcmp(type, "SHELL") == 0) {
        const char *cmd = json_string_value(json_object_get(p, "command"));
        if (!cmd || cmd[0] != '/') bad(errors, prefix, "payload.command", "must be an absolute path");
        json_t *as = json_object_get(p, "args");
        size_t i;
        if (as && !json_is_array(as)) bad(errors, prefix, "payload.args", "must be an array of strings");
        json_array_foreach(as, i, v) if (!json_is_string(v))
        {
            bad(errors, prefix, "payload.args", "must be an array of strings");
            break;
        }
    }
}

int job_spec_parse(const json_t *body, const char *prefix, job_spec_t *out, json_t *errors)
{
    memset(out, 0, sizeof(*out));
    size_t before = json_array_size(errors);
    if (!json_is_object(body)) {
        bad(errors, prefix, "", "a job must be a JSON object");
        return SB_EINVAL;
    }
    static const char *const known[] = {"name",      "type",       "payload",        "priority",
                                        "maxRetries", "runAt",     "timeoutSeconds", "idempotencyKey",
                                        "dependsOn", "queue",      "cron",           "timeZone",
                                        NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        bool ok = false;
        for (int i = 0; known[i]; i++) ok = ok || strcmp(known[i], k) == 0;
        if (!ok) bad(errors, prefix, k, "is not a job field");
    }
    str_field(body, "name", true, out->name, sizeof(out->name), "", prefix, errors);
    str_field(body, "type", true, out->type, sizeof(out->type), "", prefix, errors);
    if (out->type[0] && strcmp(out->type, "HTTP") && strcmp(out->type, "SQL") && strcmp(out->type, "SHELL") &&
        strcmp(out->type, "EMAIL") && strcmp(out->type, "PIPELINE") && strcmp(out->type, "NOOP"))
        bad(errors, prefix, "type", "must be HTTP, SQL, SHELL, EMAIL, PIPELINE or NOOP");
    str_field(body, "queue", false, out->queue, sizeof(out->queue), "default", prefix, errors);
    str_field(body, "idempotencyKey", false, out->idempotency_key, sizeof(out->idempotency_key), "", prefix, errors);
    int_field(body, "priority", 0, 10, 5, &out->priority, prefix, errors);
    int_field(body, "maxRetries", 0, 10, 3, &out->max_retries, prefix, errors);
    int_field(body, "timeoutSeconds", 1, 86400, 300, &out->timeout_s, prefix, errors);
    json_t *ra = json_object_get(body, "runAt");
    if (ra && !json_is_null(ra) && job_parse_time(json_string_value(ra), &out->run_at_ms) < 0)
        bad(errors, prefix, "runAt", "must be an RFC 3339 UTC time like 2026-12-04T10:00:00Z");
    json_t *deps = json_object_get(body, "dependsOn");
    if (deps && !json_is_null(deps)) {
        size_t i;
        if (!json_is_array(deps) || json_array_size(deps) > JOB_MAX_DEPS)
            bad(errors, prefix, "dependsOn", "must be an array of at most 64 job ids");
        else
            json_array_foreach(deps, i, v)
            {
                if (!json_is_integer(v) || json_integer_value(v) < 1) {
                    bad(errors, prefix, "dependsOn", "must hold positive job ids");
                    break;
                }
                out->depends_on[out->ndeps++] = json_integer_value(v);
            }
    }
    str_field(body, "cron", false, out->cron, sizeof(out->cron), "", prefix, errors);
    str_field(body, "timeZone", false, out->time_zone, sizeof(out->time_zone), "UTC", prefix, errors);
    if (out->cron[0]) {
        cron_expr_t e;
        sb_err_t err = {0};
        if (cron_parse(out->cron, &e, &err) < 0) bad(errors, prefix, "cron", err.msg);
        /* A schedule spawns a fresh job per tick; waiting on other jobs has no clear meaning for it. */
        if (out->ndeps > 0) bad(errors, prefix, "dependsOn", "cannot be combined with cron");
    } else if (json_object_get(body, "timeZone")) {
        bad(errors, prefix, "timeZone", "is only meaningful with cron");
    }
    json_t *p = json_object_get(body, "payload");
    /* A NOOP job does no work (a join point after dependsOn, a marker, a queue test): it needs no payload. */
    bool noop = strcmp(out->type, "NOOP") == 0;
    if (!p && !noop) bad(errors, prefix, "payload", "is required");
    else if (p && out->type[0]) check_payload(out->type, p, prefix, errors);
    if (json_array_size(errors) > before) {
        out->ndeps = 0;
        return SB_EINVAL;
    }
    out->payload = p ? json_incref(p) : json_object();
    return 0;
}

int job_spec_schedule(job_spec_t *spec, int64_t now_ms, const char *prefix, json_t *errors)
{
    if (!spec->cron[0]) return 0;
    cron_expr_t e;
    cron_tz_t *tz = NULL;
    sb_err_t err = {0};
    if (cron_parse(spec->cron, &e, &err) < 0) {
        bad(errors, prefix, "cron", err.msg);
        return SB_EINVAL;
    }
    if (cron_tz_load(spec->time_zone, NULL, &tz, &err) < 0) {
        bad(errors, prefix, "timeZone", err.msg);
        return SB_EINVAL;
    }
    int64_t from = spec->run_at_ms > now_ms ? spec->run_at_ms : now_ms, next = 0;
    int rc = cron_next(&e, tz, from / 1000, &next);
    cron_tz_free(tz);
    if (rc < 0) {
        bad(errors, prefix, "cron", "never fires (no matching day in eight years)");
        return SB_EINVAL;
    }
    spec->run_at_ms = next * 1000;
    return 0;
}

void job_spec_deinit(job_spec_t *spec)
{
    if (!spec) return;
    json_decref(spec->payload);
    spec->payload = NULL;
}
