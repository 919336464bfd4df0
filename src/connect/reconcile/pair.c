/* Finding the source/sink pair of a pipeline; see reconcile.h. */
#include <libpq-fe.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/reconcile/reconcile.h"
#include "connect/sinks/sink_util.h"
#include "connect/sources/postgres.h"

void recon_pair_deinit(recon_pair_t *p)
{
    json_decref(p->topics);
    p->topics = NULL;
    json_decref(p->tables);
    p->tables = NULL;
}

static const char *cfg_str(const json_t *cfg, const char *key)
{
    return json_string_value(json_object_get(cfg, key));
}

static bool is_class(const json_t *cfg, const char *cls)
{
    const char *c = cfg_str(cfg, "connector.class");
    return c && strcmp(c, cls) == 0;
}

/* Does a topics.regex sink subscribe to `topic`? Matched as the sink task subscribes: librdkafka
 * anchors the pattern at the start (a leading '^' is added when absent). */
static bool regex_carries(const char *re, const char *topic)
{
    size_t n = strlen(re) + 2;
    char *anchored = malloc(n);
    if (!anchored) return false;
    snprintf(anchored, n, "%s%s", re[0] == '^' ? "" : "^", re);
    regex_t rx;
    bool hit = false;
    if (regcomp(&rx, anchored, REG_EXTENDED | REG_NOSUB) == 0) {
        hit = regexec(&rx, topic, 0, NULL, 0) == 0;
        regfree(&rx);
    }
    free(anchored);
    return hit;
}

/* The source's tables as "schema.table": its table.include.list (read as the source reads
 * it), else the tables of its publication (asked of the source database). Returns an array
 * (empty when unknown). */
static json_t *source_tables(const json_t *src_cfg)
{
    json_t *out = json_array();
    char **inc = pg_source_include_list(src_cfg);
    if (inc) {
        for (char **t = inc; *t; t++) json_array_append_new(out, json_string(*t));
        pg_source_free_list(inc);
        return out;
    }
    const char *conninfo = cfg_str(src_cfg, "database.conninfo");
    if (!conninfo) return out;
    char pub[128];
    pg_source_publication_name(src_cfg, pub, sizeof(pub));
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) == CONNECTION_OK) {
        const char *params[1] = {pub};
        PGresult *r = PQexecParams(c, "SELECT schemaname || '.' || tablename FROM pg_publication_tables "
                                      "WHERE pubname = $1 ORDER BY 1", 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            for (int i = 0; i < PQntuples(r); i++) json_array_append_new(out, json_string(PQgetvalue(r, i, 0)));
        PQclear(r);
    }
    PQfinish(c);
    return out;
}

/* The row topics of the source (prefix P) that the sink consumes, through `topics` or
 * `topics.regex`, and in *tables_out (when not NULL) the source table behind each: a topic
 * name is the table's name with characters a topic cannot hold mapped to '_', so the table is
 * found among the source's tables when it is not the topic's own suffix. */
static json_t *carried_topics(const json_t *sink_cfg, const json_t *src_cfg, json_t **tables_out)
{
    json_t *out = json_array();
    json_t *tables = tables_out ? json_array() : NULL;
    if (tables_out) *tables_out = tables;
    const char *prefix = cfg_str(src_cfg, "topic.prefix");
    if (!prefix) return out;
    size_t plen = strlen(prefix);
    const char *re = cfg_str(sink_cfg, "topics.regex");
    json_t *known = NULL; /* the source's tables, read only when needed */
    size_t i;
    json_t *t;
    if (re) {
        known = source_tables(src_cfg);
        json_array_foreach(known, i, t) {
            char topic[512];
            pg_source_topic_for(prefix, json_string_value(t), topic, sizeof(topic));
            if (!regex_carries(re, topic)) continue;
            json_array_append_new(out, json_string(topic));
            if (tables) json_array_append(tables, t);
        }
        json_decref(known);
        return out;
    }
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", cfg_str(sink_cfg, "topics") ? cfg_str(sink_cfg, "topics") : "");
    char *save = NULL;
    for (char *tp = strtok_r(copy, ", ", &save); tp; tp = strtok_r(NULL, ", ", &save)) {
        if (strncmp(tp, prefix, plen) != 0 || tp[plen] != '.' || sink_topic_is_control(tp)) continue;
        json_array_append_new(out, json_string(tp));
        if (!tables) continue;
        const char *table = tp + plen + 1;
        if (!known) known = source_tables(src_cfg);
        json_array_foreach(known, i, t) {
            char topic[512];
            pg_source_topic_for(prefix, json_string_value(t), topic, sizeof(topic));
            if (strcmp(topic, tp) == 0) table = json_string_value(t);
        }
        json_array_append_new(tables, json_string(table));
    }
    json_decref(known);
    return out;
}

/* Does the sink consume at least one row topic of the source? */
static bool sink_reads_source(const json_t *sink_cfg, const json_t *src_cfg)
{
    json_t *topics = carried_topics(sink_cfg, src_cfg, NULL);
    bool any = json_array_size(topics) > 0;
    json_decref(topics);
    return any;
}

/* Looks for the other end among every connector; `want_sink` says which end we lack. */
static json_t *find_partner(connect_worker_t *w, const json_t *have, bool want_sink, char *name_out, size_t cap)
{
    json_t *names = connect_worker_names(w);
    json_t *found = NULL;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        json_t *cfg = connect_worker_config(w, json_string_value(n));
        if (!cfg) continue;
        bool match = want_sink ? is_class(cfg, "postgres-sink") && sink_reads_source(cfg, have)
                               : is_class(cfg, "postgres-source") && cfg_str(cfg, "topic.prefix") &&
                                     sink_reads_source(have, cfg);
        if (match && !found) {
            found = cfg;
            snprintf(name_out, cap, "%s", json_string_value(n));
        } else {
            json_decref(cfg);
        }
    }
    json_decref(names);
    return found;
}

int recon_pair_resolve(connect_worker_t *w, const char *connector, const char *source, const char *sink,
                       recon_pair_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    json_t *src_cfg = NULL, *sink_cfg = NULL;
    int rc = 0;
    if (source) {
        src_cfg = connect_worker_config(w, source);
        if (!src_cfg) return sb_err_set(err, SB_ENOENT, "connector %s not found", source);
        snprintf(out->source_name, sizeof(out->source_name), "%s", source);
    }
    if (sink) {
        sink_cfg = connect_worker_config(w, sink);
        if (!sink_cfg) {
            json_decref(src_cfg);
            return sb_err_set(err, SB_ENOENT, "connector %s not found", sink);
        }
        snprintf(out->sink_name, sizeof(out->sink_name), "%s", sink);
    }
    if (connector && !src_cfg && !sink_cfg) {
        json_t *cfg = connect_worker_config(w, connector);
        if (!cfg) return sb_err_set(err, SB_ENOENT, "connector %s not found", connector);
        if (is_class(cfg, "postgres-source")) {
            src_cfg = cfg;
            snprintf(out->source_name, sizeof(out->source_name), "%s", connector);
        } else if (is_class(cfg, "postgres-sink")) {
            sink_cfg = cfg;
            snprintf(out->sink_name, sizeof(out->sink_name), "%s", connector);
        } else {
            json_decref(cfg);
            return sb_err_set(err, SB_EINVAL, "connector %s is neither a postgres-source nor a postgres-sink", connector);
        }
    }
    if (!src_cfg && !sink_cfg) return sb_err_set(err, SB_EINVAL, "name a connector (or source and sink)");
    if (!sink_cfg) sink_cfg = find_partner(w, src_cfg, true, out->sink_name, sizeof(out->sink_name));
    if (!src_cfg) src_cfg = find_partner(w, sink_cfg, false, out->source_name, sizeof(out->source_name));
    if (!src_cfg || !sink_cfg) {
        rc = sb_err_set(err, SB_ENOENT, "no %s found for connector %s: a postgres-sink must list a topic "
                        "\"<topic.prefix>.<schema>.<table>\" of a postgres-source",
                        src_cfg ? "postgres-sink" : "postgres-source", src_cfg ? out->source_name : out->sink_name);
        goto done;
    }
    if (!is_class(src_cfg, "postgres-source") || !is_class(sink_cfg, "postgres-sink")) {
        rc = sb_err_set(err, SB_EINVAL, "reconciliation needs a postgres-source and a postgres-sink");
        goto done;
    }
    const char *sc = cfg_str(src_cfg, "database.conninfo"), *tc = cfg_str(sink_cfg, "connection.conninfo");
    const char *prefix = cfg_str(src_cfg, "topic.prefix");
    if (!sc || !tc || !prefix) {
        rc = sb_err_set(err, SB_EINVAL, "connector configs lack database.conninfo, connection.conninfo or topic.prefix");
        goto done;
    }
    snprintf(out->source_conninfo, sizeof(out->source_conninfo), "%s", sc);
    snprintf(out->target_conninfo, sizeof(out->target_conninfo), "%s", tc);
    snprintf(out->topic_prefix, sizeof(out->topic_prefix), "%s", prefix);
    const char *ts = cfg_str(sink_cfg, "target.schema");
    snprintf(out->target_schema, sizeof(out->target_schema), "%s", ts ? ts : "public");
    const char *fmt = cfg_str(sink_cfg, "table.name.format");
    snprintf(out->table_format, sizeof(out->table_format), "%s", fmt ? fmt : "${table}");
    out->topics = carried_topics(sink_cfg, src_cfg, &out->tables);
done:
    json_decref(src_cfg);
    json_decref(sink_cfg);
    return rc;
}

int recon_pair_table(const recon_pair_t *p, const char *name, char *src, size_t src_cap, char *dst, size_t dst_cap,
                     sb_err_t *err)
{
    size_t i;
    json_t *t;
    int matches = 0;
    json_array_foreach(p->topics, i, t) {
        const char *topic = json_string_value(t);
        const char *st = json_string_value(json_array_get(p->tables, i)); /* "<schema>.<table>" */
        if (!st) continue;
        const char *dot = strchr(st, '.');
        bool hit = strcmp(st, name) == 0 || (!strchr(name, '.') && dot && strcmp(dot + 1, name) == 0);
        if (!hit) continue;
        if (++matches > 1) return sb_err_set(err, SB_EINVAL, "table %s is ambiguous: name it as schema.table", name);
        char table[64];
        if (sink_table_name(p->table_format, topic, table, sizeof(table)) < 0)
            return sb_err_set(err, SB_EINVAL, "topic %s gives no valid target table name", topic);
        snprintf(src, src_cap, "%s", st);
        snprintf(dst, dst_cap, "%s.%s", p->target_schema, table);
    }
    if (matches == 0)
        return sb_err_set(err, SB_ENOENT, "table %s is not carried from %s to %s", name, p->source_name, p->sink_name);
    return 0;
}

void recon_pipelines_deinit(recon_pipelines_t *ps)
{
    for (int i = 0; i < ps->n; i++) recon_pair_deinit(&ps->items[i]);
    free(ps->items);
    ps->items = NULL;
    ps->n = 0;
}

int recon_pipelines_resolve(connect_worker_t *w, const char *connector, const char *source, const char *sink,
                            recon_pipelines_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    /* {"connector": <a source>, "sink": ...}: the connector is that pipeline's source. */
    if (connector && sink && !source) {
        json_t *cfg = connect_worker_config(w, connector);
        bool is_source = cfg && is_class(cfg, "postgres-source");
        json_decref(cfg);
        if (is_source) {
            source = connector;
            connector = NULL;
        } else if (strcmp(connector, sink) == 0) {
            sink = NULL;
        }
    }
    /* A named source alone (explicitly or as `connector`) stands for every sink it feeds. */
    const char *src_only = !sink ? (source ? source : connector) : NULL;
    json_t *src_cfg = src_only && !(source && connector) ? connect_worker_config(w, src_only) : NULL;
    if (!src_cfg || !is_class(src_cfg, "postgres-source")) {
        json_decref(src_cfg);
        out->items = calloc(1, sizeof(*out->items));
        if (!out->items) return sb_err_set(err, SB_ENOMEM, "out of memory");
        int rc = recon_pair_resolve(w, connector, source, sink, &out->items[0], err);
        if (rc < 0) {
            recon_pair_deinit(&out->items[0]);
            free(out->items);
            out->items = NULL;
            return rc;
        }
        out->n = 1;
        return 0;
    }
    json_t *names = connect_worker_names(w);
    out->items = calloc(json_array_size(names) + 1, sizeof(*out->items));
    int rc = out->items ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        if (rc < 0) break;
        json_t *cfg = connect_worker_config(w, json_string_value(n));
        bool feeds = cfg && is_class(cfg, "postgres-sink") && sink_reads_source(cfg, src_cfg);
        json_decref(cfg);
        if (!feeds) continue;
        rc = recon_pair_resolve(w, NULL, src_only, json_string_value(n), &out->items[out->n], err);
        if (rc < 0) recon_pair_deinit(&out->items[out->n]);
        else out->n++;
    }
    json_decref(names);
    json_decref(src_cfg);
    if (rc == 0 && out->n == 0)
        rc = sb_err_set(err, SB_ENOENT, "no postgres-sink found for connector %s: a postgres-sink must consume a topic "
                        "\"<topic.prefix>.<schema>.<table>\" of it (topics or topics.regex)", src_only);
    if (rc < 0) recon_pipelines_deinit(out);
    return rc;
}

int recon_pipelines_table(const recon_pipelines_t *ps, const char *name, recon_table_ref_t *refs, int cap, int *nrefs,
                          sb_err_t *err)
{
    *nrefs = 0;
    for (int i = 0; i < ps->n; i++) {
        recon_table_ref_t r = {.pair = &ps->items[i]};
        sb_err_t e = {0};
        int rc = recon_pair_table(&ps->items[i], name, r.src, sizeof(r.src), r.dst, sizeof(r.dst), &e);
        if (rc == SB_ENOENT) continue;
        if (rc < 0) {
            *err = e;
            return rc;
        }
        if (*nrefs < cap) refs[(*nrefs)++] = r;
    }
    if (*nrefs > 0) return 0;
    if (ps->n == 1) {
        const recon_pair_t *p = &ps->items[0];
        return sb_err_set(err, SB_ENOENT, "table %s is not carried from %s to %s", name, p->source_name, p->sink_name);
    }
    char sinks[512] = "";
    for (int i = 0; i < ps->n; i++) {
        size_t used = strlen(sinks);
        snprintf(sinks + used, sizeof(sinks) - used, "%s%s", i ? ", " : "", ps->items[i].sink_name);
    }
    return sb_err_set(err, SB_ENOENT, "table %s is not carried from %s to any of its sinks (%s)", name,
                      ps->items[0].source_name, sinks);
}
