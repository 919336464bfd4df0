/* The connect REST API; see rest.h. */
#include "connect/rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/dlq.h"
#include "version.h"

/* What a redacted value reads as, Kafka Connect's spelling. */
static const char HIDDEN[] = "[hidden]";

bool connect_rest_sensitive_key(const char *key)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "credential", "api.key", "apikey",
                                        "api_key", "private.key", "private_key", "sasl.jaas.config", "access.key",
                                        "access_key", NULL};
    char low[256];
    size_t n = 0;
    for (; key[n] && n < sizeof(low) - 1; n++) low[n] = (char)(key[n] >= 'A' && key[n] <= 'Z' ? key[n] + 32 : key[n]);
    low[n] = 0;
    for (int i = 0; words[i]; i++)
        if (strstr(low, words[i])) return true;
    return false;
}

/* Hides a password inside a value that is not itself a password field: libpq conninfo
 * ("host=db password=x") and URL user info ("postgres://u:x@db"). */
static json_t *redact_embedded(const char *v)
{
    const char *pw = strstr(v, "password=");
    const char *scheme = strstr(v, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!pw && !colon) return NULL;
    size_t n = strlen(v);
    char *out = malloc(n + sizeof(HIDDEN) * 2 + 1);
    if (!out) return NULL;
    size_t o = 0;
    const char *p = v;
    if (colon) {
        memcpy(out, p, (size_t)(colon + 1 - p));
        o = (size_t)(colon + 1 - p);
        memcpy(out + o, HIDDEN, sizeof(HIDDEN) - 1);
        o += sizeof(HIDDEN) - 1;
        p = at;
    }
    pw = strstr(p, "password=");
    if (pw) {
        memcpy(out + o, p, (size_t)(pw + 9 - p));
        o += (size_t)(pw + 9 - p);
        memcpy(out + o, HIDDEN, sizeof(HIDDEN) - 1);
        o += sizeof(HIDDEN) - 1;
        p = pw + 9;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') p += (*p == '\\' && p[1]) ? 2 : 1;
            if (*p) p++;
        } else {
            while (*p && *p != ' ' && *p != '&') p++;
        }
    }
    size_t rest = strlen(p);
    memcpy(out + o, p, rest);
    out[o + rest] = 0;
    json_t *j = json_string(out);
    free(out);
    return j;
}

void connect_rest_redact_config(json_t *config)
{
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v)
    {
        if (!json_is_string(v)) continue;
        if (connect_rest_sensitive_key(key)) {
            if (json_string_length(v) > 0) json_object_set_new(config, key, json_string(HIDDEN));
            continue;
        }
        json_t *r = redact_embedded(json_string_value(v));
        if (r) json_object_set_new(config, key, r);
    }
}

/* Redacts the "config" member of a connector description. The description shares its config
 * object with the worker (json "O"), so the redaction works on a copy. */
static json_t *redacted(json_t *info)
{
    json_t *cfg = json_object_get(info, "config");
    if (!json_is_object(cfg)) return info;
    json_t *copy = json_deep_copy(cfg);
    connect_rest_redact_config(copy);
    json_object_set_new(info, "config", copy ? copy : json_object());
    return info;
}

/* A client that reads a config and writes it back sends the redacted values it was shown;
 * a value equal to the redacted form of the stored one keeps the stored value instead of
 * becoming the literal placeholder (for whole secret fields and for passwords inside
 * conninfo strings and URLs alike). */
static void restore_hidden(connect_worker_t *w, const char *name, json_t *config)
{
    json_t *old = connect_worker_config(w, name);
    if (!old) return;
    json_t *shown = json_deep_copy(old);
    connect_rest_redact_config(shown);
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v)
    {
        json_t *was = json_object_get(shown, key);
        if (json_is_string(v) && strstr(json_string_value(v), HIDDEN) && json_is_string(was) &&
            strcmp(json_string_value(v), json_string_value(was)) == 0)
            json_object_set(config, key, json_object_get(old, key));
    }
    json_decref(shown);
    json_decref(old);
}

void connect_rest_write_json(admin_http_response_t *resp, int status, json_t *body)
{
    resp->status = status;
    char *text = json_dumps(body, JSON_COMPACT);
    if (text) {
        sb_wr_bytes(&resp->body, text, strlen(text));
        sb_wr_bytes(&resp->body, "\n", 1);
    }
    free(text);
    json_decref(body);
}

void connect_rest_write_error(admin_http_response_t *resp, int status, const char *message)
{
    connect_rest_write_json(resp, status, json_pack("{s:i,s:s}", "error_code", status, "message", message));
}

static void write_config_errors(admin_http_response_t *resp, const connect_config_errors_t *errs)
{
    json_t *fields = json_object();
    for (int i = 0; i < errs->count; i++) json_object_set_new(fields, errs->items[i].field, json_string(errs->items[i].msg));
    char msg[128];
    snprintf(msg, sizeof(msg), "Connector configuration is invalid and contains %d error(s)", errs->count);
    connect_rest_write_json(resp, 400, json_pack("{s:i,s:s,s:o}", "error_code", 400, "message", msg, "errors", fields));
}

static json_t *parse_body(const admin_http_request_t *req, admin_http_response_t *resp)
{
    json_error_t jerr;
    json_t *j = req->body ? json_loadb((const char *)req->body, req->body_len, 0, &jerr) : NULL;
    if (!j) {
        char msg[300];
        snprintf(msg, sizeof(msg), "request body is not JSON: %s", req->body ? jerr.text : "empty body");
        connect_rest_write_error(resp, 400, msg);
    }
    return j;
}

/* Maps a worker error code to an HTTP status. */
static void write_worker_error(admin_http_response_t *resp, int rc, const sb_err_t *err)
{
    int status = rc == SB_ENOENT ? 404 : rc == SB_EEXIST ? 409 : rc == SB_EINVAL ? 400 : 500;
    connect_rest_write_error(resp, status, err->msg[0] ? err->msg : "error");
}

static void put_config(connect_worker_t *w, const char *name, json_t *config, bool create_only,
                       admin_http_response_t *resp)
{
    connect_config_errors_t errs = {0};
    sb_err_t err = {0};
    bool created = false;
    restore_hidden(w, name, config);
    int rc = connect_worker_put(w, name, config, create_only, &created, &errs, &err);
    if (rc == SB_EINVAL && errs.count > 0) {
        write_config_errors(resp, &errs);
        return;
    }
    if (rc < 0) {
        write_worker_error(resp, rc, &err);
        return;
    }
    json_t *info = connect_worker_info(w, name);
    if (created) snprintf(resp->location, sizeof(resp->location), "/connectors/%s", name);
    connect_rest_write_json(resp, created ? 201 : 200, info ? redacted(info) : json_object());
}

static void handle_connectors(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    connect_worker_t *w = arg;
    const char *rest = req->path_rest;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        if (get) {
            connect_rest_write_json(resp, 200, connect_worker_names(w));
        } else if (strcmp(req->method, "POST") == 0) {
            json_t *body = parse_body(req, resp);
            if (!body) return;
            const char *name = json_string_value(json_object_get(body, "name"));
            json_t *config = json_object_get(body, "config");
            if (!name || !json_is_object(config)) {
                connect_config_errors_t errs = {0};
                if (!name) connect_config_error_add(&errs, "name", "required: the connector name");
                if (!json_is_object(config)) connect_config_error_add(&errs, "config", "required: an object of strings");
                write_config_errors(resp, &errs);
            } else {
                put_config(w, name, config, true, resp);
            }
            json_decref(body);
        } else {
            connect_rest_write_error(resp, 405, "use GET or POST on /connectors");
        }
        return;
    }
    /* /{name}[/{action}] */
    char name[160], action[32] = "";
    const char *p = rest + 1;
    const char *slash = strchr(p, '/');
    size_t nlen = slash ? (size_t)(slash - p) : strlen(p);
    if (nlen >= sizeof(name)) {
        /* No connector has such a name (the limit is far lower); creating one is a bad
         * request about the name, anything else finds nothing. */
        if (slash && strcmp(slash, "/config") == 0 && strcmp(req->method, "PUT") == 0) {
            connect_config_errors_t errs = {0};
            connect_config_error_add(&errs, "name", "required: 1..100 characters of A-Z a-z 0-9 . _ -");
            write_config_errors(resp, &errs);
        } else {
            connect_rest_write_error(resp, 404, "Connector not found (the name is too long to exist)");
        }
        return;
    }
    if (nlen == 0 || (slash && strlen(slash + 1) >= sizeof(action))) {
        connect_rest_write_error(resp, 404, "no such resource");
        return;
    }
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    if (slash) snprintf(action, sizeof(action), "%s", slash + 1);
    sb_err_t err = {0};
    int rc = 0;
    char notfound[256];
    snprintf(notfound, sizeof(notfound), "Connector %s not found", name);
    /* tasks/{id}/status and tasks/{id}/restart: one task per connector, id 0. */
    char task_verb[16] = "";
    long task_id = -1;
    if (strncmp(action, "tasks/", 6) == 0) {
        char *end = NULL;
        task_id = strtol(action + 6, &end, 10);
        /* Ids are written as Kafka Connect writes them: digits, no sign, no leading zero. */
        bool canonical = action[6] >= '0' && action[6] <= '9' && !(action[6] == '0' && end != action + 7);
        if (!canonical || end == action + 6 || *end != '/' || strlen(end + 1) >= sizeof(task_verb) || task_id < 0) {
            connect_rest_write_error(resp, 404, "no such resource");
            return;
        }
        snprintf(task_verb, sizeof(task_verb), "%s", end + 1);
        snprintf(action, sizeof(action), "tasks/{id}/%s", task_verb);
    }
    /* Each resource and the methods it takes; a known resource asked with another method is
     * 405, as in Kafka Connect. */
    static const struct {
        const char *action, *methods;
    } resources[] = {{"", "GET, DELETE"},          {"config", "GET, PUT"},
                     {"status", "GET"},            {"pause", "PUT"},
                     {"resume", "PUT"},            {"restart", "POST"},
                     {"offsets", "GET, PUT"},      {"tasks", "GET"},
                     {"tasks/{id}/status", "GET"}, {"tasks/{id}/restart", "POST"}};
    const char *methods = NULL;
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
        if (strcmp(action, resources[i].action) == 0) methods = resources[i].methods;
    if (!methods) {
        connect_rest_write_error(resp, 404, "no such resource");
        return;
    }
    const char *m = get ? "GET" : req->method;
    size_t mlen = strlen(m);
    bool allowed = false;
    for (const char *q = strstr(methods, m); q && !allowed; q = strstr(q + 1, m))
        allowed = (q == methods || q[-1] == ' ') && (q[mlen] == '\0' || q[mlen] == ',');
    if (!allowed) {
        char msg[160];
        snprintf(msg, sizeof(msg), "use %s on /connectors/{name}%s%s", methods, action[0] ? "/" : "", action);
        connect_rest_write_error(resp, 405, msg);
        return;
    }
    if (action[0] == '\0') {
        if (get) {
            json_t *info = connect_worker_info(w, name);
            if (info) connect_rest_write_json(resp, 200, redacted(info));
            else connect_rest_write_error(resp, 404, notfound);
        } else {
            rc = connect_worker_delete(w, name, &err);
            if (rc < 0) write_worker_error(resp, rc, &err);
            else resp->status = 204;
        }
    } else if (strcmp(action, "config") == 0) {
        if (get) {
            json_t *cfg = connect_worker_config(w, name);
            if (cfg) connect_rest_redact_config(cfg);
            if (cfg) connect_rest_write_json(resp, 200, cfg);
            else connect_rest_write_error(resp, 404, notfound);
        } else {
            json_t *body = parse_body(req, resp);
            if (!body) return;
            put_config(w, name, body, false, resp);
            json_decref(body);
        }
    } else if (strcmp(action, "status") == 0) {
        json_t *st = connect_worker_status(w, name);
        if (st) connect_rest_write_json(resp, 200, st);
        else connect_rest_write_error(resp, 404, notfound);
    } else if (strcmp(action, "pause") == 0 || strcmp(action, "resume") == 0) {
        rc = action[0] == 'p' ? connect_worker_pause(w, name, &err) : connect_worker_resume(w, name, &err);
        if (rc < 0) write_worker_error(resp, rc, &err);
        else resp->status = 202;
    } else if (strcmp(action, "restart") == 0) {
        rc = connect_worker_restart(w, name, &err);
        if (rc < 0) write_worker_error(resp, rc, &err);
        else resp->status = 204;
    } else if (strcmp(action, "offsets") == 0 && get) {
        json_t *o = connect_worker_offsets(w, name);
        if (o) connect_rest_write_json(resp, 200, o);
        else connect_rest_write_error(resp, 404, notfound);
    } else if (strcmp(action, "offsets") == 0) {
        json_t *body = parse_body(req, resp);
        if (!body) return;
        const char *pos = json_string_value(json_object_get(body, "position"));
        if (!pos) {
            connect_rest_write_error(resp, 400, "expected {\"position\":\"...\"}");
        } else {
            rc = connect_worker_set_position(w, name, pos, &err);
            if (rc < 0) write_worker_error(resp, rc, &err);
            else connect_rest_write_json(resp, 200, connect_worker_offsets(w, name));
        }
        json_decref(body);
    } else if (strcmp(action, "tasks") == 0) {
        json_t *cfg = connect_worker_config(w, name);
        if (cfg) connect_rest_redact_config(cfg);
        if (!cfg) connect_rest_write_error(resp, 404, notfound);
        else connect_rest_write_json(resp, 200, json_pack("[{s:{s:s,s:i},s:o}]", "id", "connector", name, "task", 0, "config", cfg));
    } else {
        /* tasks/{id}/status or tasks/{id}/restart */
        json_t *st = connect_worker_status(w, name);
        json_t *task = json_array_get(json_object_get(st, "tasks"), 0);
        if (!st) {
            connect_rest_write_error(resp, 404, notfound);
        } else if (task_id != 0 || !task) {
            char msg[300];
            snprintf(msg, sizeof(msg), "Task %s-%ld not found (a connector runs one task, id 0)", name, task_id);
            connect_rest_write_error(resp, 404, msg);
        } else if (strcmp(task_verb, "status") == 0) {
            connect_rest_write_json(resp, 200, json_incref(task));
        } else {
            rc = connect_worker_restart(w, name, &err);
            if (rc < 0) write_worker_error(resp, rc, &err);
            else resp->status = 204;
        }
        json_decref(st);
    }
}

static void add_plugin(void *arg, const char *cls, const char *type, const char *desc)
{
    json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:s}", "class", cls, "type", type, "version", STREAMBUS_VERSION,
                                         "description", desc ? desc : ""));
}

static void handle_plugins(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    (void)arg;
    /* The route is a prefix; only the collection itself exists below it. */
    if (req->path_rest[0] && strcmp(req->path_rest, "/") != 0) {
        connect_rest_write_error(resp, 404, "no such resource");
        return;
    }
    json_t *arr = json_array();
    connect_plugins_foreach(add_plugin, arr);
    connect_rest_write_json(resp, 200, arr);
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0) return false;
    *out = v;
    return true;
}

/* The DLQ routes name a connector; an unknown one is a 404, not an empty listing of a topic
 * that no connector writes. Answers the 404 itself. */
static bool connector_exists(connect_worker_t *w, const char *name, admin_http_response_t *resp)
{
    json_t *cfg = connect_worker_config(w, name);
    if (cfg) {
        json_decref(cfg);
        return true;
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "Connector %s not found", name);
    connect_rest_write_error(resp, 404, msg);
    return false;
}

static void handle_dlq_records(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    connect_worker_t *w = arg;
    if (req->path_rest[0] && strcmp(req->path_rest, "/") != 0) {
        connect_rest_write_error(resp, 404, "no such resource");
        return;
    }
    const char *name = admin_http_query(req, "connector");
    if (!name || !*name) {
        connect_rest_write_error(resp, 400, "query parameter \"connector\" is required");
        return;
    }
    int64_t limit = 100, from = 0;
    const char *ls = admin_http_query(req, "limit"), *fs = admin_http_query(req, "from_offset");
    if ((ls && (!parse_i64(ls, &limit) || limit < 1 || limit > 10000)) || (fs && !parse_i64(fs, &from))) {
        connect_rest_write_error(resp, 400, "limit must be 1..10000 and from_offset a non-negative offset");
        return;
    }
    if (!connector_exists(w, name, resp)) return;
    char topic[256];
    connect_worker_dlq_topic(w, name, topic, sizeof(topic));
    json_t *records = NULL;
    sb_err_t err = {0};
    if (dlq_list(connect_worker_bootstrap(w), topic, from, (int)limit, &records, &err) < 0) {
        connect_rest_write_error(resp, 502, err.msg);
        return;
    }
    connect_rest_write_json(resp, 200, json_pack("{s:s,s:s,s:o}", "connector", name, "topic", topic, "records", records));
}

static void handle_dlq_replay(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    connect_worker_t *w = arg;
    json_t *body = parse_body(req, resp);
    if (!body) return;
    const char *name = json_string_value(json_object_get(body, "connector"));
    const json_t *ids = json_object_get(body, "ids");
    const json_t *from = json_object_get(body, "from_offset"), *to = json_object_get(body, "to_offset");
    if (!name || (ids && !json_is_array(ids)) || (!ids && !json_is_integer(from))) {
        connect_rest_write_error(resp, 400, "expected {\"connector\":..,\"ids\":[\"p:o\",..]} or {\"connector\":..,\"from_offset\":N[,\"to_offset\":M]}");
        json_decref(body);
        return;
    }
    if ((json_is_integer(from) && json_integer_value(from) < 0) ||
        (json_is_integer(from) && json_is_integer(to) && json_integer_value(to) < json_integer_value(from)) ||
        (to && !json_is_integer(to))) {
        connect_rest_write_error(resp, 400, "from_offset must be a non-negative offset and to_offset an offset not below it");
        json_decref(body);
        return;
    }
    if (!connector_exists(w, name, resp)) {
        json_decref(body);
        return;
    }
    char topic[256];
    connect_worker_dlq_topic(w, name, topic, sizeof(topic));
    int replayed = 0;
    sb_err_t err = {0};
    int64_t lo = json_integer_value(from), hi = json_is_integer(to) ? json_integer_value(to) : INT64_MAX;
    int rc = dlq_replay(connect_worker_bootstrap(w), topic, ids, lo, hi, &replayed, &err);
    if (rc < 0) {
        connect_rest_write_error(resp, rc == SB_ENOENT ? 404 : rc == SB_EINVAL ? 400 : 502, err.msg);
    } else {
        connect_rest_write_json(resp, 200, json_pack("{s:s,s:s,s:i}", "connector", name, "topic", topic, "replayed", replayed));
    }
    json_decref(body);
}

int connect_rest_register(admin_http_t *http, connect_worker_t *w, sb_err_t *err)
{
    if (admin_http_add_route(http, NULL, "/connectors", handle_connectors, w) < 0 ||
        admin_http_add_route(http, "GET", "/connector-plugins", handle_plugins, w) < 0 ||
        admin_http_add_route(http, "GET", "/dlq/records", handle_dlq_records, w) < 0 ||
        admin_http_add_route(http, "POST", "/dlq/replay", handle_dlq_replay, w) < 0)
        return sb_err_set(err, SB_EEXIST, "connect REST routes are already registered");
    return 0;
}

int connect_rest_add_auth_rules(http_auth_t *auth)
{
    /* First match wins. Viewers read; operators pause, resume, restart and replay; everything
     * that changes what runs (create, reconfigure, delete, rewind offsets, erase records) and
     * anything not listed needs admin. */
    static const struct {
        const char *method, *pattern;
        http_role_t need;
    } rules[] = {
        {"GET", "/connectors/**", HTTP_ROLE_VIEWER},
        {"GET", "/connector-plugins/**", HTTP_ROLE_VIEWER},
        {"GET", "/dlq/**", HTTP_ROLE_VIEWER},
        {"GET", "/reconciliation/**", HTTP_ROLE_VIEWER},
        {"PUT", "/connectors/*/pause", HTTP_ROLE_OPERATOR},
        {"PUT", "/connectors/*/resume", HTTP_ROLE_OPERATOR},
        {"POST", "/connectors/*/restart", HTTP_ROLE_OPERATOR},
        {"POST", "/connectors/*/tasks/*/restart", HTTP_ROLE_OPERATOR},
        {"POST", "/dlq/replay", HTTP_ROLE_OPERATOR},
        {"POST", "/reconciliation/trigger", HTTP_ROLE_OPERATOR},
        {NULL, "/connectors/**", HTTP_ROLE_ADMIN},
        {"DELETE", "/records/**", HTTP_ROLE_ADMIN},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        int rc = http_auth_add_rule(auth, rules[i].method, rules[i].pattern, rules[i].need);
        if (rc < 0) return rc;
    }
    return 0;
}
