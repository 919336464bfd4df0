/* `streambus ctl connector|dlq|offsets`; see connector_cmds.h. */
#include "ctl/connector_cmds.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define DEFAULT_CONNECT_URL "http://127.0.0.1:8083"

typedef struct http_result {
    long status;
    sb_wr_t body;
} http_result_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    sb_wr_bytes(arg, p, size * n);
    return size * n;
}

/* Sends one request; returns 0 with status and body, or -1 when the server is unreachable. */
static int http_call(const char *method, const char *url, const char *body, http_result_t *res, char *errbuf)
{
    CURL *h = curl_easy_init();
    if (!h) return -1;
    sb_wr_init(&res->body, 1024);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

static json_t *result_json(http_result_t *res)
{
    return res->body.len ? json_loadb((const char *)res->body.buf, res->body.len, 0, NULL) : NULL;
}

/* Runs a request and prints the answer; returns the exit code. */
static int call_and_print(const char *method, const char *base, const char *path, const char *body)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s%s", base, path);
    http_result_t res;
    if (http_call(method, url, body, &res, errbuf) < 0) {
        fprintf(stderr, "streambus ctl: cannot reach the connect REST API at %s: %s\n", base, errbuf);
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *j = result_json(&res);
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
                 "options: --url URL of the connect REST API (default $STREAMBUS_CONNECT_URL or " DEFAULT_CONNECT_URL ")\n");
}

bool ctl_connector_handles(int argc, char **argv)
{
    return argc >= 2 && (strcmp(argv[1], "connector") == 0 || strcmp(argv[1], "connectors") == 0 ||
                         strcmp(argv[1], "dlq") == 0 || strcmp(argv[1], "offsets") == 0);
}

typedef struct opts {
    const char *url, *config_file, *connector, *ids, *from, *to, *limit, *file;
    const char *positional[4];
    int npositional;
    json_t *sets; /* --set key=value */
    bool json;
} opts_t;

static int parse_opts(int argc, char **argv, opts_t *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--url") == 0) slot = &o->url;
        else if (strcmp(a, "--config") == 0) slot = &o->config_file;
        else if (strcmp(a, "--connector") == 0) slot = &o->connector;
        else if (strcmp(a, "--ids") == 0) slot = &o->ids;
        else if (strcmp(a, "--from-offset") == 0) slot = &o->from;
        else if (strcmp(a, "--to-offset") == 0) slot = &o->to;
        else if (strcmp(a, "--limit") == 0) slot = &o->limit;
        else if (strcmp(a, "--file") == 0) slot = &o->file;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "streambus ctl: %s needs a value\n", a);
                return -1;
            }
            *slot = argv[++i];
        } else if (strcmp(a, "--set") == 0) {
            const char *kv = i + 1 < argc ? argv[++i] : NULL;
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq) {
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
        } else if (o->npositional < 4) {
            o->positional[o->npositional++] = a;
        } else {
            fprintf(stderr, "streambus ctl: unexpected argument %s\n", a);
            return -1;
        }
    }
    return 0;
}

static int connector_list(const opts_t *o)
{
    if (o->json) return call_and_print("GET", o->url, "/connectors", NULL);
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s/connectors", o->url);
    http_result_t res;
    if (http_call("GET", url, NULL, &res, errbuf) < 0 || res.status != 200) {
        fprintf(stderr, "streambus ctl: cannot list connectors at %s: %s\n", o->url, errbuf[0] ? errbuf : "HTTP error");
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *names = result_json(&res);
    sb_wr_deinit(&res.body);
    printf("%-32s %-8s %-10s %s\n", "NAME", "TYPE", "STATE", "TRACE");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        snprintf(url, sizeof(url), "%s/connectors/%s/status", o->url, json_string_value(n));
        http_result_t st;
        json_t *s = NULL;
        if (http_call("GET", url, NULL, &st, errbuf) == 0) s = result_json(&st);
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
        json_error_t jerr;
        json_t *file = json_load_file(o->config_file, 0, &jerr);
        if (!file) {
            fprintf(stderr, "streambus ctl: %s:%d: %s\n", o->config_file, jerr.line, jerr.text);
            return 2;
        }
        /* Accept both {"name":..,"config":{..}} (the POST body) and a bare config object. */
        json_t *inner = json_object_get(file, "config");
        config = json_deep_copy(json_is_object(inner) ? inner : file);
        json_decref(file);
    } else {
        config = json_object();
    }
    json_object_update(config, o->sets);
    json_t *body = json_pack("{s:s,s:o}", "name", name, "config", config);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = call_and_print("POST", o->url, "/connectors", text);
    free(text);
    return rc;
}

static int offsets_export(const opts_t *o)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s/connectors", o->url);
    http_result_t res;
    if (http_call("GET", url, NULL, &res, errbuf) < 0 || res.status != 200) {
        fprintf(stderr, "streambus ctl: cannot list connectors at %s: %s\n", o->url, errbuf[0] ? errbuf : "HTTP error");
        sb_wr_deinit(&res.body);
        return 1;
    }
    json_t *names = result_json(&res);
    sb_wr_deinit(&res.body);
    json_t *out = json_pack("{s:i,s:{}}", "version", 1, "connectors");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        snprintf(url, sizeof(url), "%s/connectors/%s/offsets", o->url, json_string_value(n));
        http_result_t r;
        json_t *off = NULL;
        if (http_call("GET", url, NULL, &r, errbuf) == 0 && r.status == 200) off = result_json(&r);
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
    int rc = 0;
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(in, "connectors"), name, v) {
        char path[512];
        snprintf(path, sizeof(path), "/connectors/%s/offsets", name);
        char *body = json_dumps(v, JSON_COMPACT);
        if (call_and_print("PUT", o->url, path, body) != 0) rc = 1;
        free(body);
    }
    json_decref(in);
    return rc;
}

int ctl_connector_main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        usage(argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    const char *noun = argv[1], *verb = argv[2];
    opts_t o = {.sets = json_object()};
    if (parse_opts(argc - 3, argv + 3, &o) < 0) {
        json_decref(o.sets);
        usage(stderr);
        return 2;
    }
    if (!o.url) o.url = getenv("STREAMBUS_CONNECT_URL");
    if (!o.url) o.url = DEFAULT_CONNECT_URL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = -1;
    const char *name = o.npositional > 0 ? o.positional[0] : NULL;
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
                rc = call_and_print(verbs[i].method, o.url, path, NULL);
            }
        }
    } else if (strcmp(noun, "dlq") == 0) {
        if (!o.connector) {
            fprintf(stderr, "streambus ctl: dlq %s needs --connector NAME\n", verb);
            rc = 2;
        } else if (strcmp(verb, "list") == 0) {
            snprintf(path, sizeof(path), "/dlq/records?connector=%s&limit=%s&from_offset=%s", o.connector,
                     o.limit ? o.limit : "100", o.from ? o.from : "0");
            rc = call_and_print("GET", o.url, path, NULL);
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
                rc = call_and_print("POST", o.url, "/dlq/replay", text);
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
