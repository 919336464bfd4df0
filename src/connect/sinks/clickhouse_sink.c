/* ClickHouse sink over HTTP. Per batch and target table: one INSERT ... FORMAT JSONEachRow
 * (a single INSERT below max_insert_block_size is applied atomically by ClickHouse), preceded by
 * TRUNCATE TABLE when the batch holds a truncate; then one INSERT of the positions.
 *
 * Tables are ReplacingMergeTree(__version) ORDER BY <key>: every event becomes a row with its
 * version and a __deleted flag, so inserting the same events again (a replay after a crash
 * between the data INSERT and the positions INSERT) leaves the table as it was. Readers use
 * SELECT ... FINAL WHERE __deleted = 0 (or argMax by __version) until background merges have
 * collapsed the versions.
 *
 * Thread: every call comes from the task thread; validate() from the REST thread uses no state. */
#include "connect/sinks/clickhouse_sink.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connect/event_parse.h"
#include "connect/sinks/sink_util.h"

enum { CH_MAX_PK = 16 };

#define CH_OFFSETS_TABLE "streambus_sink_offsets"

typedef enum { VERSION_LSN, VERSION_TS_MS, VERSION_OFFSET } version_source_t;

typedef struct ch_column {
    char *name;
    char *type;
    bool numeric; /* Int*, UInt*, Float*, Decimal*: booleans go in as 1/0, strings quoted */
} ch_column_t;

typedef struct ch_table {
    char name[64];
    bool exists;
    ch_column_t *cols;
    int ncols, cap;
} ch_table_t;

typedef struct ch_sink {
    char connector[128];
    char *url;
    char *database;
    char *user;
    char *password;
    char table_format[256];
    char pk_override[CH_MAX_PK][64];
    int npk_override;
    bool delete_enabled;
    bool evolve;
    version_source_t version_source;
    long timeout_ms;

    CURL *curl;
    ch_table_t **tables;
    int ntables, tables_cap;
    uint64_t last_position_version;

    event_arena_t arena;
    event_t *events;
    int *rows; /* body line -> record index */
    int events_cap;
    sink_positions_t positions;
    strbuf_t body, resp, sql;

    uint64_t rows_written, batches, truncates;
    char last_error[sizeof(((connect_err_t *)0)->msg)];
} ch_sink_t;

/* ---------------- errors ---------------- */

connect_err_class_t clickhouse_sink_classify_code(int code)
{
    switch (code) {
    case 0:   /* no answer: connection refused, reset, timeout */
    case 159: /* TIMEOUT_EXCEEDED */
    case 202: /* TOO_MANY_SIMULTANEOUS_QUERIES */
    case 209: /* SOCKET_TIMEOUT */
    case 210: /* NETWORK_ERROR */
    case 241: /* MEMORY_LIMIT_EXCEEDED */
    case 242: /* TABLE_IS_READ_ONLY (replica lost its coordinator) */
    case 252: /* TOO_MANY_PARTS: merges are behind */
    case 425: /* SYSTEM_ERROR */
        return CONNECT_ERR_TRANSIENT;
    case 6:   /* CANNOT_PARSE_TEXT */
    case 26:  /* CANNOT_PARSE_QUOTED_STRING */
    case 27:  /* CANNOT_PARSE_INPUT_ASSERTION_FAILED */
    case 38:  /* CANNOT_PARSE_DATE */
    case 41:  /* CANNOT_PARSE_DATETIME */
    case 53:  /* TYPE_MISMATCH */
    case 70:  /* CANNOT_CONVERT_TYPE */
    case 72:  /* CANNOT_PARSE_NUMBER */
    case 117: /* INCORRECT_DATA */
    case 131: /* TOO_LARGE_STRING_SIZE */
    case 349: /* CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN */
        return CONNECT_ERR_RECORD;
    default: /* unknown user/password/database, access denied, syntax: retrying cannot help */
        return CONNECT_ERR_FATAL;
    }
}

static void tables_clear(ch_sink_t *s)
{
    for (int i = 0; i < s->ntables; i++) {
        for (int c = 0; c < s->tables[i]->ncols; c++) {
            free(s->tables[i]->cols[c].name);
            free(s->tables[i]->cols[c].type);
        }
        free(s->tables[i]->cols);
        free(s->tables[i]);
    }
    s->ntables = 0;
}

/* ---------------- HTTP ---------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    strbuf_t *out = arg;
    strbuf_add(out, p, size * n);
    return out->oom ? 0 : size * n;
}

/* Sends `query` (in the URL when `body` carries data, else as the POST body). Returns 0, or -1
 * with err filled; *line gets the "(at row N)" of a parse error, 0 when none. */
static int ch_request(ch_sink_t *s, const char *query, const strbuf_t *body, int *line,
                      connect_err_t *err)
{
    if (line) *line = 0;
    if (!s->curl) {
        s->curl = curl_easy_init();
        if (!s->curl) {
            connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "curl_easy_init failed");
            return -1;
        }
    }
    CURL *c = s->curl;
    strbuf_t url;
    strbuf_init(&url);
    strbuf_adds(&url, s->url);
    strbuf_adds(&url, "/?database=");
    char *db = curl_easy_escape(c, s->database, 0);
    strbuf_adds(&url, db ? db : "");
    curl_free(db);
    if (s->user) {
        char *u = curl_easy_escape(c, s->user, 0);
        strbuf_adds(&url, "&user=");
        strbuf_adds(&url, u ? u : "");
        curl_free(u);
    }
    if (s->password) {
        char *p = curl_easy_escape(c, s->password, 0);
        strbuf_adds(&url, "&password=");
        strbuf_adds(&url, p ? p : "");
        curl_free(p);
    }
    if (body) {
        char *q = curl_easy_escape(c, query, 0);
        strbuf_adds(&url, "&query=");
        strbuf_adds(&url, q ? q : "");
        curl_free(q);
    }
    strbuf_reset(&s->resp);
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.p);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body->p : query);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(body ? body->len : strlen(query)));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->resp);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    bool url_oom = url.oom;
    strbuf_deinit(&url);
    if (url_oom) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    if (rc != CURLE_OK) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "ClickHouse at %s: %s", s->url,
                   curl_easy_strerror(rc));
        snprintf(s->last_error, sizeof(s->last_error), "%s", err ? err->msg : "");
        /* A fresh handle next time: the old connection may be half-closed. */
        curl_easy_cleanup(s->curl);
        s->curl = NULL;
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200) return 0;
    const char *text = s->resp.p ? s->resp.p : "";
    int code = 0;
    const char *at = strstr(text, "Code: ");
    if (at) code = atoi(at + 6);
    connect_err_class_t cls;
    if (code)
        cls = clickhouse_sink_classify_code(code);
    else if (status == 401 || status == 403)
        cls = CONNECT_ERR_FATAL;
    else
        cls = status >= 500 ? CONNECT_ERR_TRANSIENT : CONNECT_ERR_FATAL;
    const char *row = strstr(text, "(at row ");
    if (row && line) *line = atoi(row + 8);
    size_t len = strcspn(text, "\n");
    connect_err_set(err, cls, -1, "ClickHouse HTTP %ld: %.*s", status, (int)(len > 400 ? 400 : len),
               text);
    snprintf(s->last_error, sizeof(s->last_error), "%s", err ? err->msg : "");
    return -1;
}

/* ---------------- SQL text ---------------- */

static void add_ch_ident(strbuf_t *b, const char *name)
{
    strbuf_add(b, "`", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '`' || *p == '\\') strbuf_add(b, "\\", 1);
        strbuf_add(b, p, 1);
    }
    strbuf_add(b, "`", 1);
}

static void add_ch_literal(strbuf_t *b, const char *text)
{
    strbuf_add(b, "'", 1);
    for (const char *p = text; *p; p++) {
        if (*p == '\'' || *p == '\\') strbuf_add(b, "\\", 1);
        strbuf_add(b, p, 1);
    }
    strbuf_add(b, "'", 1);
}

/* A JSON string with the escapes JSONEachRow understands. */
static void add_json_string(strbuf_t *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    strbuf_add(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        strbuf_add(b, p + start, i - start);
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\')
            strbuf_add(b, (char[2]){'\\', (char)c}, 2);
        else if (c == '\n')
            strbuf_add(b, "\\n", 2);
        else if (c == '\t')
            strbuf_add(b, "\\t", 2);
        else
            strbuf_add(b, esc, 6);
        start = i + 1;
    }
    strbuf_add(b, p + start, n - start);
    strbuf_add(b, "\"", 1);
}

/* ---------------- config ---------------- */

static int parse_config(const json_t *config, ch_sink_t *s, connect_config_errors_t *errs)
{
    int bad = 0;
    const char *url = sink_config_str(config, "clickhouse.url", "http://127.0.0.1:8123");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        if (errs)
            connect_config_error_add(errs, "clickhouse.url", "must start with http:// or https://");
        bad++;
    }
    const char *db = sink_config_str(config, "clickhouse.database", "default");
    if (!*db || strlen(db) > 63) {
        if (errs) connect_config_error_add(errs, "clickhouse.database", "must be 1 to 63 bytes");
        bad++;
    }
    const char *format = sink_config_str(config, "table.name.format", "${table}");
    char why[200];
    if (strlen(format) >= 256 || sink_table_format_check(format, why, sizeof(why)) < 0) {
        if (errs)
            connect_config_error_add(errs, "table.name.format", "%s",
                                     strlen(format) >= 256 ? "too long" : why);
        bad++;
    }
    const char *pk = sink_config_str(config, "primary.key.fields", "");
    char pk_names[CH_MAX_PK][64];
    int npk = 0;
    if (*pk && (npk = sink_split_fields(pk, pk_names, CH_MAX_PK)) < 0) {
        if (errs)
            connect_config_error_add(errs, "primary.key.fields",
                                     "must be a comma-separated list of at most %d column names",
                                     CH_MAX_PK);
        bad++;
    }
    bool del = true;
    if (sink_config_bool(config, "delete.enabled", true, &del) < 0) {
        if (errs) connect_config_error_add(errs, "delete.enabled", "must be true or false");
        bad++;
    }
    const char *evo = sink_config_str(config, "schema.evolution", "basic");
    if (strcmp(evo, "basic") != 0 && strcmp(evo, "none") != 0) {
        if (errs) connect_config_error_add(errs, "schema.evolution", "must be basic or none");
        bad++;
    }
    const char *ver = sink_config_str(config, "version.source", "lsn");
    version_source_t vs = VERSION_LSN;
    if (strcmp(ver, "ts_ms") == 0)
        vs = VERSION_TS_MS;
    else if (strcmp(ver, "offset") == 0)
        vs = VERSION_OFFSET;
    else if (strcmp(ver, "lsn") != 0) {
        if (errs) connect_config_error_add(errs, "version.source", "must be lsn, ts_ms or offset");
        bad++;
    }
    const char *timeout = sink_config_str(config, "request.timeout.ms", "60000");
    char *end;
    long timeout_ms = strtol(timeout, &end, 10);
    if (*end || timeout_ms < 100 || timeout_ms > 3600000) {
        if (errs)
            connect_config_error_add(errs, "request.timeout.ms",
                                     "must be a number from 100 to 3600000");
        bad++;
    }
    if (bad || !s) return bad ? -1 : 0;
    s->url = strdup(url);
    if (s->url) {
        size_t n = strlen(s->url);
        while (n && s->url[n - 1] == '/')
            s->url[--n] = '\0';
    }
    s->database = strdup(db);
    const char *user = sink_config_str(config, "clickhouse.user", NULL);
    const char *password = sink_config_str(config, "clickhouse.password", NULL);
    s->user = user ? strdup(user) : NULL;
    s->password = password ? strdup(password) : NULL;
    snprintf(s->table_format, sizeof(s->table_format), "%s", format);
    memcpy(s->pk_override, pk_names, sizeof(pk_names));
    s->npk_override = npk > 0 ? npk : 0;
    s->delete_enabled = del;
    s->evolve = strcmp(evo, "basic") == 0;
    s->version_source = vs;
    s->timeout_ms = timeout_ms;
    return s->url && s->database ? 0 : -1;
}

static int ch_validate(const json_t *config, connect_config_errors_t *errs)
{
    return parse_config(config, NULL, errs) < 0 ? -1 : 0;
}

static void ch_stop(void *state);

static int ensure_offsets_table(ch_sink_t *s, connect_err_t *err)
{
    return ch_request(s,
                      "CREATE TABLE IF NOT EXISTS " CH_OFFSETS_TABLE
                      " (connector String, topic String, partition Int32,"
                      " next_offset Int64, updated UInt64) ENGINE = ReplacingMergeTree(updated)"
                      " ORDER BY (connector, topic, partition)",
                      NULL, NULL, err);
}

static int ch_start(sink_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    ch_sink_t *s = calloc(1, sizeof(*s));
    if (!s) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "out of memory");
        return -1;
    }
    const char *name = ctx ? sink_name(ctx) : NULL;
    if (!name) name = sink_config_str(config, "name", "clickhouse-sink");
    snprintf(s->connector, sizeof(s->connector), "%s", name);
    event_arena_init(&s->arena);
    strbuf_init(&s->body);
    strbuf_init(&s->resp);
    strbuf_init(&s->sql);
    if (parse_config(config, s, NULL) < 0) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "invalid clickhouse-sink config");
        ch_stop(s);
        return -1;
    }
    if (ensure_offsets_table(s, err) < 0) {
        ch_stop(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void ch_stop(void *state)
{
    ch_sink_t *s = state;
    if (!s) return;
    if (s->curl) curl_easy_cleanup(s->curl);
    tables_clear(s);
    free(s->tables);
    free(s->url);
    free(s->database);
    free(s->user);
    free(s->password);
    event_arena_deinit(&s->arena);
    free(s->events);
    free(s->rows);
    sink_positions_deinit(&s->positions);
    strbuf_deinit(&s->body);
    strbuf_deinit(&s->resp);
    strbuf_deinit(&s->sql);
    free(s);
}

static int ch_load_positions(void *state, sink_position_t **out, int *n, connect_err_t *err)
{
    ch_sink_t *s = state;
    *out = NULL;
    *n = 0;
    strbuf_reset(&s->sql);
    strbuf_adds(&s->sql, "SELECT topic, partition, next_offset FROM " CH_OFFSETS_TABLE
                         " FINAL WHERE connector = ");
    add_ch_literal(&s->sql, s->connector);
    strbuf_adds(&s->sql, " ORDER BY topic, partition FORMAT TabSeparated");
    if (ch_request(s, s->sql.p, NULL, NULL, err) < 0) return -1;
    int cap = 0;
    sink_position_t *pos = NULL;
    const char *p = s->resp.p ? s->resp.p : "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[400];
        if (len >= sizeof(line)) len = sizeof(line) - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p += eol ? len + 1 : len;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) continue;
        *t1 = *t2 = '\0';
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            sink_position_t *grown = realloc(pos, sizeof(*pos) * (size_t)cap);
            if (!grown) {
                free(pos);
                connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
                return -1;
            }
            pos = grown;
        }
        sink_position_t *it = &pos[(*n)++];
        memset(it, 0, sizeof(*it));
        snprintf(it->topic, sizeof(it->topic), "%.255s", line);
        it->partition = (int32_t)strtol(t1 + 1, NULL, 10);
        it->next_offset = strtoll(t2 + 1, NULL, 10);
    }
    *out = pos;
    return 0;
}

/* ---------------- tables ---------------- */

static bool type_is_numeric(const char *type)
{
    const char *t = type;
    if (strncmp(t, "Nullable(", 9) == 0) t += 9;
    return strncmp(t, "Int", 3) == 0 || strncmp(t, "UInt", 4) == 0 || strncmp(t, "Float", 5) == 0 ||
           strncmp(t, "Decimal", 7) == 0;
}

static int table_add_column(ch_table_t *t, const char *name, const char *type)
{
    if (t->ncols == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        ch_column_t *cols = realloc(t->cols, sizeof(*cols) * (size_t)cap);
        if (!cols) return -1;
        t->cols = cols;
        t->cap = cap;
    }
    ch_column_t *c = &t->cols[t->ncols];
    c->name = strdup(name);
    c->type = strdup(type);
    c->numeric = type_is_numeric(type);
    if (!c->name || !c->type) {
        free(c->name);
        free(c->type);
        return -1;
    }
    t->ncols++;
    return 0;
}

static const ch_column_t *table_find_column(const ch_table_t *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return &t->cols[i];
    return NULL;
}

static ch_table_t *table_get(ch_sink_t *s, const char *name, connect_err_t *err)
{
    for (int i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i]->name, name) == 0) return s->tables[i];
    if (s->ntables == s->tables_cap) {
        int cap = s->tables_cap ? s->tables_cap * 2 : 8;
        ch_table_t **tables = realloc(s->tables, sizeof(*tables) * (size_t)cap);
        if (!tables) {
            connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
            return NULL;
        }
        s->tables = tables;
        s->tables_cap = cap;
    }
    strbuf_reset(&s->sql);
    strbuf_adds(&s->sql, "SELECT name, type FROM system.columns WHERE database = ");
    add_ch_literal(&s->sql, s->database);
    strbuf_adds(&s->sql, " AND table = ");
    add_ch_literal(&s->sql, name);
    strbuf_adds(&s->sql, " FORMAT TabSeparated");
    if (ch_request(s, s->sql.p, NULL, NULL, err) < 0) return NULL;
    ch_table_t *t = calloc(1, sizeof(*t));
    if (!t) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return NULL;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    const char *p = s->resp.p ? s->resp.p : "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[512];
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            char *tab = strchr(line, '\t');
            if (tab) {
                *tab = '\0';
                table_add_column(t, line, tab + 1);
            }
        }
        p += eol ? len + 1 : len;
    }
    t->exists = t->ncols > 0;
    s->tables[s->ntables++] = t;
    return t;
}

/* ClickHouse type for a source type name or, without one, for the JSON value. Types whose
 * PostgreSQL text form ClickHouse 18 cannot parse as such (numeric, timestamps, intervals)
 * are kept as String so that no value is lost or rounded. */
static const char *ch_type_for(const event_column_t *c)
{
    static const struct {
        const char *pg, *ch;
    } map[] = {
        {"smallint", "Int16"}, {"int2", "Int16"},
        {"integer", "Int32"},  {"int", "Int32"},
        {"int4", "Int32"},     {"bigint", "Int64"},
        {"int8", "Int64"},     {"real", "Float32"},
        {"float4", "Float32"}, {"double precision", "Float64"},
        {"float8", "Float64"}, {"boolean", "UInt8"},
        {"bool", "UInt8"},
    };
    if (c->pg_type) {
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (strcmp(c->pg_type, map[i].pg) == 0) return map[i].ch;
        return "String";
    }
    switch (c->value.type) {
    case EVENT_JSON_INT:
        return "Int64";
    case EVENT_JSON_REAL:
        return "Float64";
    case EVENT_JSON_TRUE:
    case EVENT_JSON_FALSE:
        return "UInt8";
    default:
        return "String";
    }
}

/* ---------------- rows ---------------- */

static void add_value(strbuf_t *b, const event_column_t *c, bool numeric)
{
    const event_value_t *v = &c->value;
    switch (v->type) {
    case EVENT_JSON_NULL:
        strbuf_add(b, "null", 4);
        break;
    case EVENT_JSON_TRUE:
        numeric ? strbuf_add(b, "1", 1) : strbuf_add(b, "\"true\"", 6);
        break;
    case EVENT_JSON_FALSE:
        numeric ? strbuf_add(b, "0", 1) : strbuf_add(b, "\"false\"", 7);
        break;
    case EVENT_JSON_INT:
    case EVENT_JSON_REAL:
        if (numeric)
            strbuf_add(b, v->text, (size_t)v->len);
        else
            add_json_string(b, v->text, (size_t)v->len);
        break;
    default:
        add_json_string(b, v->text, (size_t)v->len);
        break;
    }
}

static uint64_t event_version(const ch_sink_t *s, const event_t *ev, const connect_record_t *rec)
{
    int64_t ts = ev->has_source_ts ? ev->source_ts_ms : rec->timestamp_ms;
    /* ts_ms alone is not unique: the low 20 bits order events of one millisecond by offset
     * (one key always lives in one partition, whose offsets grow). */
    uint64_t by_ts = ((uint64_t)(ts < 0 ? 0 : ts) << 20) | ((uint64_t)rec->offset & 0xFFFFF);
    switch (s->version_source) {
    case VERSION_OFFSET:
        return (uint64_t)(rec->offset < 0 ? 0 : rec->offset);
    case VERSION_TS_MS:
        return by_ts;
    default:
        return ev->has_lsn && ev->lsn >= 0 ? (uint64_t)ev->lsn : by_ts;
    }
}

static const event_row_t *key_source(const event_t *ev, char fields[][64], int npk)
{
    bool key_ok = ev->key.present;
    for (int f = 0; key_ok && f < npk; f++)
        if (!event_row_find(&ev->key, fields[f])) key_ok = false;
    if (key_ok) return &ev->key;
    if (ev->op == EVENT_OP_DELETE) return ev->before.present ? &ev->before : NULL;
    return ev->after.present ? &ev->after : NULL;
}

/* Creates the table or adds the columns this event brings. */
static int evolve_table(ch_sink_t *s, ch_table_t *t, const event_t *ev, int index, char pk[][64],
                        int npk, connect_err_t *err)
{
    const event_row_t *row = ev->op == EVENT_OP_DELETE ? &ev->before : &ev->after;
    if (t->exists) {
        for (int c = 0; c < row->n; c++) {
            if (table_find_column(t, row->cols[c].name)) continue;
            if (!s->evolve) {
                connect_err_set(err, CONNECT_ERR_RECORD, index,
                           "table %s has no column \"%s\" and schema.evolution is none", t->name,
                           row->cols[c].name);
                return -1;
            }
            /* ALTER ... ADD COLUMN IF NOT EXISTS is not in ClickHouse 18; the cache was read
             * from system.columns just before, so the column is missing. */
            char type[64];
            snprintf(type, sizeof(type), "Nullable(%s)", ch_type_for(&row->cols[c]));
            strbuf_reset(&s->sql);
            strbuf_adds(&s->sql, "ALTER TABLE ");
            add_ch_ident(&s->sql, t->name);
            strbuf_adds(&s->sql, " ADD COLUMN ");
            add_ch_ident(&s->sql, row->cols[c].name);
            strbuf_addf(&s->sql, " %s", type);
            if (ch_request(s, s->sql.p, NULL, NULL, err) < 0) return -1;
            table_add_column(t, row->cols[c].name, type);
        }
        return 0;
    }
    if (!s->evolve) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1,
                   "table %s does not exist and schema.evolution is none", t->name);
        return -1;
    }
    if (npk == 0) {
        connect_err_set(err, CONNECT_ERR_RECORD, index,
                   "no key for table %s: the record key is null and primary.key.fields is not set",
                   t->name);
        return -1;
    }
    const event_row_t *keyrow = key_source(ev, pk, npk);
    strbuf_reset(&s->sql);
    strbuf_adds(&s->sql, "CREATE TABLE IF NOT EXISTS ");
    add_ch_ident(&s->sql, t->name);
    strbuf_adds(&s->sql, " (");
    ch_table_t fresh = {0};
    for (int f = 0; f < npk; f++) {
        const event_column_t *c = keyrow ? event_row_find(keyrow, pk[f]) : NULL;
        const event_column_t *typed = event_row_find(row, pk[f]);
        if (!c) {
            connect_err_set(err, CONNECT_ERR_RECORD, index,
                       "key column \"%s\" missing in the event for %s", pk[f], t->name);
            return -1;
        }
        const char *type = ch_type_for(typed && typed->pg_type ? typed : c);
        if (f) strbuf_adds(&s->sql, ", ");
        add_ch_ident(&s->sql, pk[f]);
        strbuf_addf(&s->sql, " %s", type);
        table_add_column(&fresh, pk[f], type);
    }
    for (int c = 0; c < row->n; c++) {
        if (table_find_column(&fresh, row->cols[c].name)) continue;
        char type[64];
        snprintf(type, sizeof(type), "Nullable(%s)", ch_type_for(&row->cols[c]));
        strbuf_adds(&s->sql, ", ");
        add_ch_ident(&s->sql, row->cols[c].name);
        strbuf_addf(&s->sql, " %s", type);
        table_add_column(&fresh, row->cols[c].name, type);
    }
    table_add_column(&fresh, "__version", "UInt64");
    table_add_column(&fresh, "__deleted", "UInt8");
    strbuf_adds(&s->sql, ", `__version` UInt64, `__deleted` UInt8) ENGINE = "
                         "ReplacingMergeTree(`__version`) ORDER BY (");
    for (int f = 0; f < npk; f++) {
        if (f) strbuf_adds(&s->sql, ", ");
        add_ch_ident(&s->sql, pk[f]);
    }
    strbuf_adds(&s->sql, ")");
    int rc = ch_request(s, s->sql.p, NULL, NULL, err);
    if (rc == 0) {
        for (int c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->cols[c].type);
        }
        free(t->cols);
        t->cols = fresh.cols;
        t->ncols = fresh.ncols;
        t->cap = fresh.cap;
        t->exists = true;
    } else {
        for (int c = 0; c < fresh.ncols; c++) {
            free(fresh.cols[c].name);
            free(fresh.cols[c].type);
        }
        free(fresh.cols);
    }
    return rc;
}

static void add_row(ch_sink_t *s, const ch_table_t *t, const event_t *ev,
                    const connect_record_t *rec, char pk[][64], int npk)
{
    bool deleted = ev->op == EVENT_OP_DELETE;
    const event_row_t *row = deleted ? key_source(ev, pk, npk) : &ev->after;
    strbuf_add(&s->body, "{", 1);
    int written = 0;
    if (row) {
        for (int c = 0; c < row->n; c++) {
            const event_column_t *col = &row->cols[c];
            const ch_column_t *tc = table_find_column(t, col->name);
            if (!tc) continue;
            if (deleted) { /* a delete row carries only the key */
                bool is_key = false;
                for (int f = 0; f < npk && !is_key; f++)
                    is_key = strcmp(pk[f], col->name) == 0;
                if (!is_key) continue;
            }
            if (written++) strbuf_add(&s->body, ",", 1);
            add_json_string(&s->body, col->name, strlen(col->name));
            strbuf_add(&s->body, ":", 1);
            add_value(&s->body, col, tc->numeric);
        }
    }
    strbuf_addf(&s->body, "%s\"__version\":%llu,\"__deleted\":%d}\n", written ? "," : "",
                (unsigned long long)event_version(s, ev, rec), deleted ? 1 : 0);
}

static int grow_batch(ch_sink_t *s, int n)
{
    if (n <= s->events_cap) return 0;
    int cap = s->events_cap ? s->events_cap : 256;
    while (cap < n)
        cap *= 2;
    event_t *events = realloc(s->events, sizeof(*events) * (size_t)cap);
    if (events) s->events = events;
    int *rows = realloc(s->rows, sizeof(int) * (size_t)cap);
    if (rows) s->rows = rows;
    if (!events || !rows) return -1;
    s->events_cap = cap;
    return 0;
}

static int write_positions(ch_sink_t *s, connect_err_t *err)
{
    if (s->positions.n == 0) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t version = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* Strictly increasing even if the wall clock steps back: the newest position must win. */
    if (version <= s->last_position_version) version = s->last_position_version + 1;
    s->last_position_version = version;
    strbuf_reset(&s->body);
    for (int i = 0; i < s->positions.n; i++) {
        const sink_position_t *p = &s->positions.items[i];
        strbuf_adds(&s->body, "{\"connector\":");
        add_json_string(&s->body, s->connector, strlen(s->connector));
        strbuf_adds(&s->body, ",\"topic\":");
        add_json_string(&s->body, p->topic, strlen(p->topic));
        strbuf_addf(&s->body, ",\"partition\":%d,\"next_offset\":%lld,\"updated\":%llu}\n",
                    (int)p->partition, (long long)p->next_offset, (unsigned long long)version);
    }
    if (s->body.oom) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    return ch_request(s, "INSERT INTO " CH_OFFSETS_TABLE " FORMAT JSONEachRow", &s->body, NULL,
                      err);
}

/* Applies one table's events (indexes first..n-1 with the same table, in `order`). */
static int apply_table(ch_sink_t *s, const connect_record_t *recs, int n, const int *order,
                       int count, ch_table_t *t, connect_err_t *err)
{
    char pk[CH_MAX_PK][64];
    int npk = 0;
    if (s->npk_override) {
        memcpy(pk, s->pk_override, sizeof(pk[0]) * (size_t)s->npk_override);
        npk = s->npk_override;
    }
    /* A truncate makes the events before it irrelevant. */
    int start = 0;
    bool truncate = false;
    for (int k = 0; k < count; k++)
        if (s->events[order[k]].op == EVENT_OP_TRUNCATE) {
            start = k + 1;
            truncate = true;
        }
    if (truncate && t->exists) {
        strbuf_reset(&s->sql);
        strbuf_adds(&s->sql, "TRUNCATE TABLE ");
        add_ch_ident(&s->sql, t->name);
        if (ch_request(s, s->sql.p, NULL, NULL, err) < 0) return -1;
        s->truncates++;
    }
    strbuf_reset(&s->body);
    int lines = 0;
    for (int k = start; k < count; k++) {
        int i = order[k];
        const event_t *ev = &s->events[i];
        if (ev->op == EVENT_OP_TOMBSTONE) continue; /* the op=d before it wrote the delete row */
        if (ev->op == EVENT_OP_DELETE && (!s->delete_enabled || !t->exists)) continue;
        if (npk == 0 && ev->key.present && ev->key.n <= CH_MAX_PK) {
            for (int c = 0; c < ev->key.n; c++)
                snprintf(pk[c], 64, "%s", ev->key.cols[c].name);
            npk = ev->key.n;
        }
        if (npk == 0 || !key_source(ev, pk, npk)) {
            connect_err_set(err, CONNECT_ERR_RECORD, i, "event for table %s has no key", t->name);
            return -1;
        }
        if (evolve_table(s, t, ev, i, pk, npk, err) < 0) {
            if (err && err->cls == CONNECT_ERR_RECORD && n == 1) err->index = 0;
            return -1;
        }
        add_row(s, t, ev, &recs[i], pk, npk);
        s->rows[lines++] = i;
    }
    if (lines == 0) return 0;
    if (s->body.oom) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    strbuf_reset(&s->sql);
    strbuf_adds(&s->sql, "INSERT INTO ");
    add_ch_ident(&s->sql, t->name);
    strbuf_adds(&s->sql, " FORMAT JSONEachRow");
    int line = 0;
    int rc = ch_request(s, s->sql.p, &s->body, &line, err);
    if (rc < 0) {
        if (err && err->cls == CONNECT_ERR_RECORD) {
            err->index = line > 0 && line <= lines ? s->rows[line - 1] : (n == 1 ? 0 : -1);
        }
        /* The table may have changed under us; read it again next time. */
        tables_clear(s);
        return -1;
    }
    s->rows_written += (uint64_t)lines;
    return 0;
}

static int ch_put(void *state, const connect_record_t *recs, int n, connect_err_t *err)
{
    ch_sink_t *s = state;
    if (n <= 0) return 0;
    if (grow_batch(s, n) < 0) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    event_arena_reset(&s->arena);
    sink_positions_reset(&s->positions);
    /* table index per record, -1 = nothing to apply */
    int *table_of = malloc(sizeof(int) * (size_t)n * 2);
    if (!table_of) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    int *order = table_of + n;
    ch_table_t *batch_tables[64];
    int nbatch_tables = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const connect_record_t *rec = &recs[i];
        table_of[i] = -1;
        if (sink_positions_note(&s->positions, rec) < 0) {
            connect_err_set(err, CONNECT_ERR_RECORD, i, "topic name too long");
            rc = -1;
            break;
        }
        if (sink_topic_is_control(rec->topic)) continue;
        sb_err_t perr = {0};
        if (event_parse(&s->arena, rec->key, rec->value, &s->events[i], &perr) < 0) {
            connect_err_set(err, perr.code == SB_ENOMEM ? CONNECT_ERR_TRANSIENT : CONNECT_ERR_RECORD,
                            perr.code == SB_ENOMEM ? -1 : i,
                       "%s/%d@%lld: %s", rec->topic, (int)rec->partition, (long long)rec->offset,
                       perr.msg);
            rc = -1;
            break;
        }
        char name[64];
        if (sink_table_name(s->table_format, rec->topic, name, sizeof(name)) < 0) {
            connect_err_set(err, CONNECT_ERR_RECORD, i, "topic %s gives no valid table name",
                       rec->topic);
            rc = -1;
            break;
        }
        int k;
        for (k = 0; k < nbatch_tables; k++)
            if (strcmp(batch_tables[k]->name, name) == 0) break;
        if (k == nbatch_tables) {
            if (nbatch_tables == (int)(sizeof(batch_tables) / sizeof(batch_tables[0]))) {
                /* Stop the batch here; the runtime sends the rest in the next put. */
                connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "more than 64 tables in one batch");
                rc = -1;
                break;
            }
            ch_table_t *t = table_get(s, name, err);
            if (!t) {
                rc = -1;
                break;
            }
            batch_tables[nbatch_tables++] = t;
        }
        table_of[i] = k;
    }
    for (int k = 0; k < nbatch_tables && rc == 0; k++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            if (table_of[i] == k) order[count++] = i;
        rc = apply_table(s, recs, n, order, count, batch_tables[k], err);
    }
    free(table_of);
    if (rc == 0) rc = write_positions(s, err);
    if (rc == 0)
        s->batches++;
    else if (err && err->cls == CONNECT_ERR_RECORD && err->index < 0 && n == 1)
        err->index = 0;
    return rc;
}

static int ch_skip(void *state, const connect_record_t *rec, connect_err_t *err)
{
    ch_sink_t *s = state;
    sink_positions_reset(&s->positions);
    if (sink_positions_note(&s->positions, rec) < 0) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "topic name too long");
        return -1;
    }
    return write_positions(s, err);
}

static void ch_status(void *state, json_t *out)
{
    ch_sink_t *s = state;
    json_object_set_new(out, "batches", json_integer((json_int_t)s->batches));
    json_object_set_new(out, "rows_written", json_integer((json_int_t)s->rows_written));
    json_object_set_new(out, "truncates", json_integer((json_int_t)s->truncates));
    if (s->last_error[0]) json_object_set_new(out, "last_error", json_string(s->last_error));
}

const sink_ops_t clickhouse_sink_ops = {
    .name = "clickhouse-sink",
    .description =
        "Writes change events to ClickHouse ReplacingMergeTree tables (idempotent replay)",
    .validate = ch_validate,
    .start = ch_start,
    .load_positions = ch_load_positions,
    .put = ch_put,
    .skip = ch_skip,
    .stop = ch_stop,
    .status = ch_status,
};
