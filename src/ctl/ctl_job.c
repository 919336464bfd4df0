/* `streambus ctl job ...`; see ctl_job.h. */
#include "ctl/ctl_job.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl_http.h"

#define DEFAULT_JOBS_URL "http://127.0.0.1:8090"

typedef struct job_opts {
    const char *url, *token, *user, *file, *json_text, *status, *type, *queue, *limit, *cursor;
    const char *positional[2]; /* verb, ID */
    int npositional;
    bool json;
    long timeout_ms;
    char *login_token; /* owned: from --user */
} job_opts_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus ctl job submit (--file F.json | --json TEXT)\n"
                 "       streambus ctl job list [--status S] [--type T] [--queue Q] [--limit N] "
                 "[--cursor C]\n"
                 "       streambus ctl job show|cancel|retry|logs ID\n"
                 "options: --url URL (default $STREAMBUS_JOBS_URL or " DEFAULT_JOBS_URL "),\n"
                 "         --token T (default $STREAMBUS_JOBS_TOKEN) or --user U (password in "
                 "$STREAMBUS_JOBS_PASSWORD),\n"
                 "         --timeout-ms N (default 30000), --output table|json\n");
}

static bool takes_value(const char *a)
{
    static const char *const opts[] = {"--url",        "--token",  "--user",  "--file",  "--json",
                                       "--status",     "--type",   "--queue", "--limit", "--cursor",
                                       "--timeout-ms", "--output", NULL};
    for (int i = 0; opts[i]; i++)
        if (strcmp(a, opts[i]) == 0) return true;
    return false;
}

static int noun_index(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-') return i;
        if (takes_value(argv[i])) i++;
    }
    return 0;
}

bool ctl_job_handles(int argc, char **argv)
{
    int k = noun_index(argc, argv);
    return k > 0 && (strcmp(argv[k], "job") == 0 || strcmp(argv[k], "jobs") == 0);
}

static int parse_opts(int argc, char **argv, int noun, job_opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i == noun) continue;
        const char **slot = NULL, *timeout = NULL, *output = NULL;
        if (strcmp(a, "--url") == 0)
            slot = &o->url;
        else if (strcmp(a, "--token") == 0)
            slot = &o->token;
        else if (strcmp(a, "--user") == 0)
            slot = &o->user;
        else if (strcmp(a, "--file") == 0)
            slot = &o->file;
        else if (strcmp(a, "--json") == 0)
            slot = &o->json_text;
        else if (strcmp(a, "--status") == 0)
            slot = &o->status;
        else if (strcmp(a, "--type") == 0)
            slot = &o->type;
        else if (strcmp(a, "--queue") == 0)
            slot = &o->queue;
        else if (strcmp(a, "--limit") == 0)
            slot = &o->limit;
        else if (strcmp(a, "--cursor") == 0)
            slot = &o->cursor;
        else if (strcmp(a, "--timeout-ms") == 0)
            slot = &timeout;
        else if (strcmp(a, "--output") == 0)
            slot = &output;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "streambus ctl: %s needs a value\n", a);
                return -1;
            }
            *slot = argv[++i];
            if (timeout) {
                char *end = NULL;
                errno = 0;
                o->timeout_ms = strtol(timeout, &end, 10);
                if (errno || end == timeout || *end || o->timeout_ms < 1) {
                    fprintf(stderr,
                            "streambus ctl: --timeout-ms needs a positive integer, got \"%s\"\n",
                            timeout);
                    return -1;
                }
            }
            if (output && strcmp(output, "json") != 0 && strcmp(output, "table") != 0) {
                fprintf(stderr, "streambus ctl: --output must be table or json, got \"%s\"\n",
                        output);
                return -1;
            }
            if (output) o->json = strcmp(output, "json") == 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "streambus ctl: unknown option %s\n", a);
            return -1;
        } else if (o->npositional < 2) {
            o->positional[o->npositional++] = a;
        } else {
            fprintf(stderr, "streambus ctl: unexpected argument %s\n", a);
            return -1;
        }
    }
    return 0;
}

/* One request; prints the API's error (with each wrong field) and returns NULL on failure.
 * *exit_code is set either way. */
static json_t *call(const job_opts_t *o, const char *method, const char *path, const char *body,
                    int *exit_code)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s/api/v1%s", o->url, path);
    ctl_http_result_t res;
    const char *token = o->login_token ? o->login_token : o->token;
    *exit_code = 1;
    if (ctl_http_call(method, url, token, body, o->timeout_ms, &res, errbuf) < 0) {
        fprintf(stderr, "streambus ctl: cannot reach the jobs API at %s: %s\n", o->url, errbuf);
        sb_wr_deinit(&res.body);
        return NULL;
    }
    json_t *j = ctl_http_json(&res);
    sb_wr_deinit(&res.body);
    if (res.status >= 400) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        fprintf(stderr, "streambus ctl: %s (HTTP %ld)\n", msg ? msg : "request failed", res.status);
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(j, "fields"), i, f)
            fprintf(stderr, "  %s: %s\n", json_string_value(json_object_get(f, "field")),
                    json_string_value(json_object_get(f, "message")));
        json_decref(j);
        return NULL;
    }
    *exit_code = 0;
    return j ? j : json_object();
}

static int print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
    return 0;
}

static int login(job_opts_t *o)
{
    const char *pw = getenv("STREAMBUS_JOBS_PASSWORD");
    if (!pw) {
        fprintf(stderr, "streambus ctl: --user needs the password in $STREAMBUS_JOBS_PASSWORD\n");
        return 2;
    }
    json_t *body = json_pack("{s:s, s:s}", "username", o->user, "password", pw);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc;
    json_t *pair = call(o, "POST", "/auth/login", text, &rc);
    free(text);
    const char *tok = json_string_value(json_object_get(pair, "accessToken"));
    if (pair && tok) o->login_token = strdup(tok);
    json_decref(pair);
    return o->login_token ? 0 : 1;
}

/* Appends "&key=escaped value" for a set option. */
static void query_param(char *q, size_t cap, const char *key, const char *value)
{
    if (!value) return;
    char *esc = curl_easy_escape(NULL, value, 0);
    size_t n = strlen(q);
    snprintf(q + n, cap - n, "%s%s=%s", strchr(q, '?') ? "&" : "?", key, esc ? esc : "");
    curl_free(esc);
}

static int job_list(const job_opts_t *o)
{
    char path[1024] = "/jobs";
    query_param(path, sizeof(path), "status", o->status);
    query_param(path, sizeof(path), "type", o->type);
    query_param(path, sizeof(path), "queue", o->queue);
    query_param(path, sizeof(path), "limit", o->limit);
    query_param(path, sizeof(path), "cursor", o->cursor);
    int rc;
    json_t *page = call(o, "GET", path, NULL, &rc);
    if (!page || o->json) return page ? print_json(page) : rc;
    printf("%-8s %-24s %-6s %-12s %-12s %s\n", "ID", "NAME", "TYPE", "QUEUE", "STATUS", "ATTEMPT");
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(page, "jobs"), i, j)
        printf("%-8lld %-24.24s %-6s %-12.12s %-12s %lld\n",
               (long long)json_integer_value(json_object_get(j, "id")),
               json_string_value(json_object_get(j, "name")),
               json_string_value(json_object_get(j, "type")),
               json_string_value(json_object_get(j, "queue")),
               json_string_value(json_object_get(j, "status")),
               (long long)json_integer_value(json_object_get(j, "attempt")));
    json_t *next = json_object_get(page, "nextCursor");
    if (json_is_integer(next)) printf("more: --cursor %lld\n", (long long)json_integer_value(next));
    json_decref(page);
    return 0;
}

/* The job log of GET /jobs/{id}/logs (one record per attempt end, which the API reads from
 * ClickHouse): 0 when printed, 1 on an error (printed), -1 when the API has no log store (503),
 * and the caller falls back to the transitions. */
static int job_log_records(const job_opts_t *o, const char *id)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s/api/v1/jobs/%s/logs", o->url, id);
    ctl_http_result_t res;
    if (ctl_http_call("GET", url, o->login_token ? o->login_token : o->token, NULL, o->timeout_ms, &res, errbuf) < 0) {
        fprintf(stderr, "streambus ctl: cannot reach the jobs API at %s: %s\n", o->url, errbuf);
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *j = ctl_http_json(&res);
    sb_wr_deinit(&res.body);
    const char *message = json_string_value(json_object_get(j, "message"));
    if (res.status == 503 && message && strstr(message, "not configured")) {
        json_decref(j);
        return -1;
    }
    if (res.status != 200 || !json_is_array(json_object_get(j, "logs"))) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        fprintf(stderr, "streambus ctl: %s (HTTP %ld)\n", msg ? msg : "request failed", res.status);
        json_decref(j);
        return 1;
    }
    if (o->json) return print_json(j);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "logs"), i, r)
    {
        time_t ended = (time_t)(json_integer_value(json_object_get(r, "endedMs")) / 1000);
        struct tm tm;
        char when[32];
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&ended, &tm));
        const char *worker = json_string_value(json_object_get(r, "workerId"));
        const char *error = json_string_value(json_object_get(r, "error"));
        printf("%s attempt %lld %s worker %s %lld ms%s%s\n", when,
               (long long)json_integer_value(json_object_get(r, "attempt")),
               json_string_value(json_object_get(r, "status")), worker ? worker : "-",
               (long long)json_integer_value(json_object_get(r, "durationMs")), error ? ": " : "", error ? error : "");
    }
    json_decref(j);
    return 0;
}

/* The job log from the API's log store; without one (logs.clickhouse_url unset), the job's
 * transitions from GET /jobs/{id}. */
static int job_logs(const job_opts_t *o, const char *id)
{
    int from_store = job_log_records(o, id);
    if (from_store >= 0) return from_store;
    fprintf(stderr, "streambus ctl: the jobs API has no job log store (logs.clickhouse_url); showing the transitions\n");
    char path[64];
    snprintf(path, sizeof(path), "/jobs/%s", id);
    int rc;
    json_t *job = call(o, "GET", path, NULL, &rc);
    if (!job) return rc;
    json_t *attempts = json_incref(json_object_get(job, "attempts"));
    json_decref(job);
    if (o->json) return print_json(attempts ? attempts : json_array());
    size_t i;
    json_t *a;
    json_array_foreach(attempts, i, a)
    {
        const char *from = json_string_value(json_object_get(a, "from"));
        const char *worker = json_string_value(json_object_get(a, "workerId"));
        const char *error = json_string_value(json_object_get(a, "error"));
        printf("%s attempt %lld %s -> %s%s%s%s%s\n", json_string_value(json_object_get(a, "at")),
               (long long)json_integer_value(json_object_get(a, "attempt")), from ? from : "-",
               json_string_value(json_object_get(a, "to")), worker ? " worker " : "",
               worker ? worker : "", error ? ": " : "", error ? error : "");
    }
    json_decref(attempts);
    return 0;
}

static int job_submit(const job_opts_t *o)
{
    if (!o->file == !o->json_text) {
        fprintf(stderr, "streambus ctl: job submit needs --file F.json or --json TEXT\n");
        return 2;
    }
    json_error_t je;
    json_t *body = o->file ? json_load_file(o->file, JSON_REJECT_DUPLICATES, &je)
                           : json_loads(o->json_text, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(body)) {
        fprintf(stderr, "streambus ctl: %s: not a JSON object%s%s\n", o->file ? o->file : "--json",
                body ? "" : ": ", body ? "" : je.text);
        json_decref(body);
        return 2;
    }
    /* {"jobs": [...]} is a batch, anything else one job. */
    const char *path = json_is_array(json_object_get(body, "jobs")) ? "/jobs/batch" : "/jobs";
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc;
    json_t *out = call(o, "POST", path, text, &rc);
    free(text);
    return out ? print_json(out) : rc;
}

int ctl_job_main(int argc, char **argv)
{
    int noun = noun_index(argc, argv);
    job_opts_t o = {.timeout_ms = 30000};
    if (parse_opts(argc, argv, noun, &o) < 0) {
        usage(stderr);
        return 2;
    }
    if (!o.url)
        o.url = getenv("STREAMBUS_JOBS_URL") ? getenv("STREAMBUS_JOBS_URL") : DEFAULT_JOBS_URL;
    if (!o.token) o.token = getenv("STREAMBUS_JOBS_TOKEN");
    const char *verb = o.npositional > 0 ? o.positional[0] : "";
    const char *id = o.npositional > 1 ? o.positional[1] : NULL;
    bool needs_id = strcmp(verb, "show") == 0 || strcmp(verb, "cancel") == 0 ||
                    strcmp(verb, "retry") == 0 || strcmp(verb, "logs") == 0;
    if (!needs_id && strcmp(verb, "submit") != 0 && strcmp(verb, "list") != 0) {
        fprintf(stderr, "streambus ctl: job needs submit, list, show, cancel, retry or logs\n");
        usage(stderr);
        return 2;
    }
    if (needs_id && (!id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 18)) {
        fprintf(stderr, "streambus ctl: job %s needs a numeric job ID\n", verb);
        return 2;
    }
    int rc = 0;
    if (o.user) rc = login(&o);
    if (rc == 0) {
        if (strcmp(verb, "submit") == 0)
            rc = job_submit(&o);
        else if (strcmp(verb, "list") == 0)
            rc = job_list(&o);
        else if (strcmp(verb, "logs") == 0)
            rc = job_logs(&o, id);
        else {
            char path[64];
            snprintf(path, sizeof(path), "/jobs/%s%s%s", id, strcmp(verb, "show") ? "/" : "",
                     strcmp(verb, "show") ? verb : "");
            json_t *out = call(&o, strcmp(verb, "show") ? "POST" : "GET", path, NULL, &rc);
            if (out) rc = print_json(out);
        }
    }
    free(o.login_token);
    return rc;
}
