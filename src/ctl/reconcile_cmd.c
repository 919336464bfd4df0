/* `streambus ctl reconcile`; see reconcile_cmd.h. */
#include "ctl/reconcile_cmd.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl_http.h"

/* One request; returns the parsed answer (NULL when unreachable or not JSON) and *status. */
static json_t *call(const char *method, const char *base, const char *path, const char *body, long timeout_ms,
                    long *status)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s%s", base, path);
    ctl_http_result_t res;
    int rc = ctl_http_call(method, url, NULL, body, timeout_ms, &res, errbuf);
    *status = res.status;
    json_t *j = NULL;
    if (rc != 0) fprintf(stderr, "streambus ctl: cannot reach the connect REST API at %s: %s\n", base, errbuf);
    else j = ctl_http_json(&res);
    sb_wr_deinit(&res.body);
    return j;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: streambus ctl reconcile --connector C (--tables T1,T2 | --all-tables) [--sink S]\n"
               "                               [--mode count|checksum|full] [--repair] [--no-wait] [--url URL]\n"
               "                               [--timeout-ms N] [--output json]\n"
               "  C is the postgres-source or the postgres-sink of the pipeline; tables are schema.table\n"
               "  (or table when unambiguous). A source stands for every sink it feeds, each table\n"
               "  checked against the sinks that consume its topic; --sink S narrows it to one.\n"
               "  The job is printed as JSON. Exit 0 in sync (or repaired), 3 drift found, 1 failure,\n"
               "  2 usage error.\n");
}

int ctl_reconcile_main(int argc, char **argv)
{
    const char *url = getenv("STREAMBUS_CONNECT_URL"), *connector = NULL, *tables = NULL, *mode = "checksum";
    const char *sink = NULL, *timeout = NULL, *output = NULL, *unused = NULL;
    bool all = false, repair = false, wait = true;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--url") == 0) slot = &url;
        else if (strcmp(a, "--connector") == 0) slot = &connector;
        else if (strcmp(a, "--tables") == 0) slot = &tables;
        else if (strcmp(a, "--sink") == 0) slot = &sink;
        /* The ctl global options; the job is always printed as JSON, and the cluster options
         * have no use here (this speaks to the connect REST API only). */
        else if (strcmp(a, "--timeout-ms") == 0) slot = &timeout;
        else if (strcmp(a, "--output") == 0) slot = &output;
        else if (strcmp(a, "--bootstrap-server") == 0 || strcmp(a, "-X") == 0) slot = &unused;
        else if (strcmp(a, "--mode") == 0) slot = &mode;
        else if (strcmp(a, "--all-tables") == 0) all = true;
        else if (strcmp(a, "--repair") == 0) repair = true;
        else if (strcmp(a, "--no-wait") == 0) wait = false;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "streambus ctl: unknown reconcile option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "streambus ctl: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    if (!connector || all == (tables != NULL)) {
        usage(stderr);
        return 2;
    }
    long timeout_ms = 60000;
    if (timeout) {
        char *end = NULL;
        timeout_ms = strtol(timeout, &end, 10);
        if (!timeout[0] || *end || timeout_ms < 1) {
            fprintf(stderr, "streambus ctl: --timeout-ms needs a positive integer, got \"%s\"\n", timeout);
            return 2;
        }
    }
    if (output && strcmp(output, "json") != 0 && strcmp(output, "table") != 0) {
        fprintf(stderr, "streambus ctl: --output must be table or json, got \"%s\"\n", output);
        return 2;
    }
    if (strcmp(mode, "count") != 0 && strcmp(mode, "checksum") != 0 && strcmp(mode, "full") != 0) {
        fprintf(stderr, "streambus ctl: --mode must be count, checksum or full, not \"%s\"\n", mode);
        return 2;
    }
    if (!url) url = "http://127.0.0.1:8083";
    json_t *body = json_pack("{s:s,s:s,s:b}", "connector", connector, "mode", mode, "repair", repair);
    if (sink) json_object_set_new(body, "sink", json_string(sink));
    if (all) {
        json_object_set_new(body, "all_tables", json_true());
    } else {
        json_t *arr = json_array();
        char *copy = strdup(tables), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) json_array_append_new(arr, json_string(t));
        free(copy);
        json_object_set_new(body, "tables", arr);
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long status = 0;
    json_t *job = call("POST", url, "/reconciliation/trigger", text, timeout_ms, &status);
    free(text);
    int rc = 1;
    if (status >= 400 || !job) {
        const char *msg = json_string_value(json_object_get(job, "message"));
        if (status) fprintf(stderr, "streambus ctl: %s (HTTP %ld)\n", msg ? msg : "request failed", status);
        const char *field;
        json_t *m;
        json_object_foreach(json_object_get(job, "errors"), field, m)
            fprintf(stderr, "  %s: %s\n", field, json_string_value(m));
        goto out;
    }
    char path[128];
    snprintf(path, sizeof(path), "/reconciliation/jobs/%lld", (long long)json_integer_value(json_object_get(job, "id")));
    for (;;) {
        const char *st = json_string_value(json_object_get(job, "state"));
        if (!wait || (st && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0))) break;
        usleep(200 * 1000);
        json_decref(job);
        job = call("GET", url, path, NULL, timeout_ms, &status);
        if (!job || status != 200) {
            fprintf(stderr, "streambus ctl: lost the job %s (HTTP %ld)\n", path, status);
            goto out;
        }
    }
    json_dumpf(job, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    const char *st = json_string_value(json_object_get(job, "state"));
    if (!wait) rc = 0;
    else if (strcmp(st, "done") != 0) rc = 1;
    else rc = json_is_true(json_object_get(job, "drift_found")) && !repair ? 3 : 0;
out:
    json_decref(job);
    curl_global_cleanup();
    return rc;
}
