/* `streambus ctl connector|dlq|offsets`; see connector_cmds.h. */
#include "ctl/connector_cmds.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl_http.h"
#include "ctl/reconcile_cmd.h"
#include "http/client_auth.h"

#define DEFAULT_CONNECT_URL "http://127.0.0.1:8083"

/* The command line of a connect noun. The ctl global options are accepted anywhere, as for
 * topic and group: --url (this API), --timeout-ms (per HTTP request), --output table|json;
 * --bootstrap-server and -X are accepted and unused, since these commands speak only to
 * the connect REST API. */
typedef struct opts {
    const char *url, *config_file, *connector, *ids, *from, *to, *limit, *file;
    const char *positional[4]; /* verb, then NAME */
    int npositional;
    json_t *sets; /* --set key=value */
    bool json;
    long timeout_ms;
} opts_t;

#define DEFAULT_HTTP_TIMEOUT_MS 60000L

/* Runs a request and prints the answer; returns the exit code. */
static int call_and_print(const opts_t *o, const char *method, const char *path, const char *body)
{
    const char *base = o->url;
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s%s", base, path);
    ctl_http_result_t res;
    if (ctl_http_call(method, url, NULL, body, o->timeout_ms, &res, errbuf) < 0) {
        fprintf(stderr, "streambus ctl: cannot reach the connect REST API at %s: %s\n", base, errbuf);
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *j = ctl_http_json(&res);
    if (res.status >= 400) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        fprintf(stderr, "streambus ctl: %s (HTTP %ld)\n", msg ? msg : "request failed", res.status);
        const char *field;
        json_t *m;
        json_object_foreach(json_object_get(j, "errors"), field, m)
            fprintf(stderr, "  %s: %s\n", field, json_string_value(m));
    } else if (j) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        printf("ok\n");
    }
    json_decref(j);
    sb_wr_deinit(&res.body);
    return res.status >= 400 ? 1 : 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus ctl connector list [--json]\n"
                 "       streambus ctl connector create NAME (--config FILE.json | --set key=value ...)\n"
                 "       streambus ctl connector config|status|pause|resume|restart|delete NAME\n"
                 "       streambus ctl dlq list --connector C [--limit N] [--from-offset N]\n"
                 "       streambus ctl dlq replay --connector C (--ids P:O[,P:O...] | --from-offset N [--to-offset M])\n"
                 "       streambus ctl offsets export [--file F]\n"
                 "       streambus ctl offsets import --file F\n"
                 "       streambus ctl reconcile --connector C (--tables T1,T2 | --all-tables) [--sink S]\n"
                 "                               [--mode count|checksum|full] [--repair] [--no-wait]\n"
                 "global options, anywhere on the line:\n"
                 "  --url URL          the connect REST API (default $STREAMBUS_CONNECT_URL or " DEFAULT_CONNECT_URL ")\n"
                 "  --timeout-ms N     per request (default 60000)\n"
                 "  --output table|json  connector list as a table (default) or JSON; the rest is JSON\n"
                 "exit status: 0 success, 1 the API refused or could not be reached, 2 usage error,\n"
                 "             3 reconcile found drift (and did not repair it)\n");
}

/* Global options that take a separate value, so that the noun can be found behind them. */
static bool global_takes_value(const char *a)
{
    return strcmp(a, "--url") == 0 || strcmp(a, "--timeout-ms") == 0 || strcmp(a, "--output") == 0 ||
           strcmp(a, "--bootstrap-server") == 0 || strcmp(a, "-X") == 0;
}

/* Index of the first word that is not an option or an option's value; 0 when none. */
static int noun_index(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-') return i;
        if (strcmp(argv[i], "--") == 0) return i + 1 < argc ? i + 1 : 0;
        if (global_takes_value(argv[i])) i++;
    }
    return 0;
}

static bool is_connect_noun(const char *a)
{
    return strcmp(a, "connector") == 0 || strcmp(a, "connectors") == 0 || strcmp(a, "dlq") == 0 ||
           strcmp(a, "offsets") == 0 || strcmp(a, "reconcile") == 0;
}

bool ctl_connector_handles(int argc, char **argv)
{
    int k = noun_index(argc, argv);
    return k > 0 && is_connect_noun(argv[k]);
}

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = text[0] ? strtol(text, &end, 10) : 0;
    if (!text[0] || *end || errno == ERANGE || v < min || v > max) return false;
    *out = v;
    return true;
}

/* Parses every word after the noun; returns 0, or -1 after printing a usage error. */
static int parse_opts(int argc, char **argv, opts_t *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL, *ignored = NULL, *timeout = NULL, *output = NULL;
        if (strcmp(a, "--url") == 0) slot = &o->url;
        else if (strcmp(a, "--config") == 0) slot = &o->config_file;
        else if (strcmp(a, "--connector") == 0) slot = &o->connector;
        else if (strcmp(a, "--ids") == 0) slot = &o->ids;
        else if (strcmp(a, "--from-offset") == 0) slot = &o->from;
        else if (strcmp(a, "--to-offset") == 0) slot = &o->to;
        else if (strcmp(a, "--limit") == 0) slot = &o->limit;
        else if (strcmp(a, "--file") == 0) slot = &o->file;
        else if (strcmp(a, "--timeout-ms") == 0) slot = &timeout;
        else if (strcmp(a, "--output") == 0) slot = &output;
        else if (strcmp(a, "--bootstrap-server") == 0 || strcmp(a, "-X") == 0) slot = &ignored;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "streambus ctl: %s needs a value\n", a);
                return -1;
            }
            *slot = argv[++i];
            if (timeout && !parse_long(timeout, 1, 24L * 3600 * 1000, &o->timeout_ms)) {
                fprintf(stderr, "streambus ctl: --timeout-ms needs a positive integer, got \"%s\"\n", timeout);
                return -1;
            }
            if (output && strcmp(output, "json") != 0 && strcmp(output, "table") != 0) {
                fprintf(stderr, "streambus ctl: --output must be table or json, got \"%s\"\n", output);
                return -1;
            }
            if (output) o->json = strcmp(output, "json") == 0;
        } else if (strcmp(a, "--set") == 0) {
            const char *kv = i + 1 < argc ? argv[++i] : NULL;
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq || eq == kv) {
                fprintf(stderr, "streambus ctl: --set needs key=value\n");
                return -1;
            }
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
            json_object_set_new(o->sets, key, json_string(eq + 1));
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
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
    long v;
    static const struct {
        const char *name;
        long min;
    } numeric[] = {{"--limit", 1}, {"--from-offset", 0}, {"--to-offset", 0}};
    const char *values[] = {o->limit, o->from, o->to};
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
        if (values[k] && !parse_long(values[k], numeric[k].min, LONG_MAX, &v)) {
            fprintf(stderr, "streambus ctl: %s needs an integer of at least %ld, got \"%s\"\n", numeric[k].name,
                    numeric[k].min, values[k]);
            return -1;
        }
    }
    return 0;
}

static int connector_list(const opts_t *o)
{
    if (o->json) return call_and_print(o, "GET", "/connectors", NULL);
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s/connectors", o->url);
    ctl_http_result_t res;
    if (ctl_http_call("GET", url, NULL, NULL, o->timeout_ms, &res, errbuf) < 0 || res.status != 200) {
        fprintf(stderr, "streambus ctl: cannot list connectors at %s: %s\n", o->url, errbuf[0] ? errbuf : "HTTP error");
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *names = ctl_http_json(&res);
    sb_wr_deinit(&res.body);
    printf("%-32s %-8s %-10s %s\n", "NAME", "TYPE", "STATE", "TRACE");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        snprintf(url, sizeof(url), "%s/connectors/%s/status", o->url, json_string_value(n));
        ctl_http_result_t st;
        json_t *s = NULL;
        if (ctl_http_call("GET", url, NULL, NULL, o->timeout_ms, &st, errbuf) == 0) s = ctl_http_json(&st);
        sb_wr_deinit(&st.body);
        json_t *task = json_array_get(json_object_get(s, "tasks"), 0);
        const char *trace = json_string_value(json_object_get(task, "trace"));
        printf("%-32s %-8s %-10s %.80s\n", json_string_value(n), s ? json_string_value(json_object_get(s, "type")) : "?",
               task ? json_string_value(json_object_get(task, "state")) : "?", trace ? trace : "");
        json_decref(s);
    }
    json_decref(names);
    return 0;
}

static int connector_create(const opts_t *o, const char *name)
{
    json_t *config = NULL;
    if (o->config_file) {
        /* Read the file first, so that a missing file is reported as such, not as a JSON
         * error at line -1. */
        FILE *f = fopen(o->config_file, "rb");
        if (!f) {
            fprintf(stderr, "streambus ctl: cannot read %s: %s\n", o->config_file, strerror(errno));
            return 2;
        }
        json_error_t jerr;
        json_t *file = json_loadf(f, 0, &jerr);
        fclose(f);
        if (!file) {
            fprintf(stderr, "streambus ctl: %s:%d: %s\n", o->config_file, jerr.line, jerr.text);
            return 2;
        }
        if (!json_is_object(file)) {
            fprintf(stderr, "streambus ctl: %s: expected a JSON object\n", o->config_file);
            json_decref(file);
            return 2;
        }
        /* Accept both {"name":..,"config":{..}} (the POST body) and a bare config object; a name
         * in the file that differs from the one on the command line is a mistake to report,
         * not to settle silently either way. */
        json_t *inner = json_object_get(file, "config");
        const char *file_name = json_string_value(json_object_get(file, "name"));
        if (json_is_object(inner) && !file_name) file_name = json_string_value(json_object_get(inner, "name"));
        if (file_name && strcmp(file_name, name) != 0) {
            fprintf(stderr, "streambus ctl: %s names the connector \"%s\", the command line \"%s\"; make them agree\n",
                    o->config_file, file_name, name);
            json_decref(file);
            return 2;
        }
        config = json_deep_copy(json_is_object(inner) ? inner : file);
        json_decref(file);
    } else {
        config = json_object();
    }
    json_object_update(config, o->sets);
    json_t *body = json_pack("{s:s,s:o}", "name", name, "config", config);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = call_and_print(o, "POST", "/connectors", text);
    free(text);
    return rc;
}

static int offsets_export(const opts_t *o)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s/connectors", o->url);
    ctl_http_result_t res;
    if (ctl_http_call("GET", url, NULL, NULL, o->timeout_ms, &res, errbuf) < 0 || res.status != 200) {
        fprintf(stderr, "streambus ctl: cannot list connectors at %s: %s\n", o->url, errbuf[0] ? errbuf : "HTTP error");
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *names = ctl_http_json(&res);
    sb_wr_deinit(&res.body);
    json_t *out = json_pack("{s:i,s:{}}", "version", 1, "connectors");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        snprintf(url, sizeof(url), "%s/connectors/%s/offsets", o->url, json_string_value(n));
        ctl_http_result_t r;
        json_t *off = NULL;
        if (ctl_http_call("GET", url, NULL, NULL, o->timeout_ms, &r, errbuf) == 0 && r.status == 200) off = ctl_http_json(&r);
        sb_wr_deinit(&r.body);
        if (off && json_is_string(json_object_get(off, "position")))
            json_object_set_new(json_object_get(out, "connectors"), json_string_value(n),
                                json_pack("{s:O}", "position", json_object_get(off, "position")));
        json_decref(off);
    }
    json_decref(names);
    int rc = 0;
    if (o->file) {
        if (json_dump_file(out, o->file, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "streambus ctl: cannot write %s\n", o->file);
            rc = 1;
        }
    } else {
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    json_decref(out);
    return rc;
}

static int offsets_import(const opts_t *o)
{
    json_error_t jerr;
    json_t *in = o->file ? json_load_file(o->file, 0, &jerr) : NULL;
    if (!in) {
        fprintf(stderr, "streambus ctl: offsets import needs --file F written by offsets export%s%s\n",
                o->file ? ": " : "", o->file ? jerr.text : "");
        return 2;
    }
    /* Only the format export writes is understood; a newer one might mean something else. */
    json_t *version = json_object_get(in, "version"), *connectors = json_object_get(in, "connectors");
    if (!json_is_integer(version) || json_integer_value(version) != 1 || !json_is_object(connectors)) {
        fprintf(stderr, "streambus ctl: %s is not an offsets export of version 1 "
                        "({\"version\":1,\"connectors\":{...}})\n", o->file);
        json_decref(in);
        return 2;
    }
    int rc = 0;
    const char *name;
    json_t *v;
    /* The whole file is checked before anything is restored: a half-applied import is worse
     * than none. (The form of each position is the source's to judge, below.) */
    json_object_foreach(connectors, name, v) {
        json_t *pos = json_is_object(v) ? json_object_get(v, "position") : NULL;
        if (!json_is_string(pos) && !json_is_null(pos)) {
            fprintf(stderr, "streambus ctl: %s: connector %s has no \"position\" string; nothing was restored\n",
                    o->file, name);
            json_decref(in);
            return 2;
        }
    }
    json_object_foreach(connectors, name, v) {
        if (json_is_null(json_object_get(v, "position"))) continue; /* exported before its first commit */
        char path[512];
        snprintf(path, sizeof(path), "/connectors/%s/offsets", name);
        char *body = json_dumps(v, JSON_COMPACT);
        if (call_and_print(o, "PUT", path, body) != 0) rc = 1;
        free(body);
    }
    json_decref(in);
    return rc;
}

int ctl_connector_main(int argc, char **argv)
{
    /* Global options may stand before the noun: move the noun to argv[1] so that every
     * command sees "ctl NOUN <the rest, in order>". */
    int k = noun_index(argc, argv);
    if (k <= 0 || argc > 256) {
        usage(stderr);
        return 2;
    }
    char *words[256];
    int nwords = 0;
    words[nwords++] = argv[0];
    words[nwords++] = argv[k];
    for (int i = 1; i < argc; i++)
        if (i != k && strcmp(argv[i], "--") != 0) words[nwords++] = argv[i];
    argc = nwords;
    argv = words;
    if (strcmp(argv[1], "reconcile") == 0) return ctl_reconcile_main(argc, argv);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    const char *noun = argv[1];
    opts_t o = {.sets = json_object(), .timeout_ms = DEFAULT_HTTP_TIMEOUT_MS};
    if (parse_opts(argc - 2, argv + 2, &o) < 0) {
        json_decref(o.sets);
        usage(stderr);
        return 2;
    }
    if (o.npositional == 0) {
        fprintf(stderr, "streambus ctl: missing %s command\n", noun);
        json_decref(o.sets);
        usage(stderr);
        return 2;
    }
    const char *verb = o.positional[0];
    if (!o.url) o.url = getenv("STREAMBUS_CONNECT_URL");
    if (!o.url) o.url = DEFAULT_CONNECT_URL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = -1;
    const char *name = o.npositional > 1 ? o.positional[1] : NULL;
    char path[512];
    if (strncmp(noun, "connector", 9) == 0) {
        if (strcmp(verb, "list") == 0) {
            rc = connector_list(&o);
        } else if (!name) {
            fprintf(stderr, "streambus ctl: connector %s needs a connector NAME\n", verb);
            rc = 2;
        } else if (strcmp(verb, "create") == 0) {
            rc = connector_create(&o, name);
        } else {
            static const struct {
                const char *verb, *method, *suffix;
            } verbs[] = {{"config", "GET", "/config"}, {"status", "GET", "/status"}, {"pause", "PUT", "/pause"},
                         {"resume", "PUT", "/resume"}, {"restart", "POST", "/restart"}, {"delete", "DELETE", ""},
                         {"offsets", "GET", "/offsets"}};
            for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                if (strcmp(verb, verbs[i].verb) != 0) continue;
                snprintf(path, sizeof(path), "/connectors/%s%s", name, verbs[i].suffix);
                rc = call_and_print(&o, verbs[i].method, path, NULL);
            }
        }
    } else if (strcmp(noun, "dlq") == 0) {
        if (!o.connector) {
            fprintf(stderr, "streambus ctl: dlq %s needs --connector NAME\n", verb);
            rc = 2;
        } else if (strcmp(verb, "list") == 0) {
            snprintf(path, sizeof(path), "/dlq/records?connector=%s&limit=%s&from_offset=%s", o.connector,
                     o.limit ? o.limit : "100", o.from ? o.from : "0");
            rc = call_and_print(&o, "GET", path, NULL);
        } else if (strcmp(verb, "replay") == 0) {
            json_t *body = json_pack("{s:s}", "connector", o.connector);
            if (o.ids) {
                json_t *ids = json_array();
                char *copy = strdup(o.ids), *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                    json_array_append_new(ids, json_string(t));
                free(copy);
                json_object_set_new(body, "ids", ids);
            } else if (o.from) {
                json_object_set_new(body, "from_offset", json_integer(strtoll(o.from, NULL, 10)));
                if (o.to) json_object_set_new(body, "to_offset", json_integer(strtoll(o.to, NULL, 10)));
            } else {
                fprintf(stderr, "streambus ctl: dlq replay needs --ids or --from-offset\n");
                rc = 2;
            }
            if (rc != 2) {
                char *text = json_dumps(body, JSON_COMPACT);
                rc = call_and_print(&o, "POST", "/dlq/replay", text);
                free(text);
            }
            json_decref(body);
        }
    } else if (strcmp(noun, "offsets") == 0) {
        if (strcmp(verb, "export") == 0) rc = offsets_export(&o);
        else if (strcmp(verb, "import") == 0) rc = offsets_import(&o);
    }
    if (rc == -1) {
        fprintf(stderr, "streambus ctl: unknown command '%s %s'\n", noun, verb);
        usage(stderr);
        rc = 2;
    }
    json_decref(o.sets);
    curl_global_cleanup();
    return rc;
}
