/* Finding the source/sink pair of a pipeline; see reconcile.h. */
#include <stdio.h>
#include <string.h>

#include "connect/reconcile/reconcile.h"
#include "connect/sinks/sink_util.h"

void recon_pair_deinit(recon_pair_t *p)
{
    json_decref(p->topics);
    p->topics = NULL;
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

/* Does the sink consume at least one row topic of the prefix? */
static bool sink_reads_prefix(const json_t *sink_cfg, const char *prefix)
{
    const char *topics = cfg_str(sink_cfg, "topics");
    size_t plen = strlen(prefix);
    if (!topics) return false;
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", topics);
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (strncmp(t, prefix, plen) == 0 && t[plen] == '.' && !sink_topic_is_control(t)) return true;
    return false;
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
        bool match = want_sink ? is_class(cfg, "postgres-sink") && sink_reads_prefix(cfg, cfg_str(have, "topic.prefix"))
                               : is_class(cfg, "postgres-source") && cfg_str(cfg, "topic.prefix") &&
                                     sink_reads_prefix(have, cfg_str(cfg, "topic.prefix"));
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
    out->topics = json_array();
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", cfg_str(sink_cfg, "topics") ? cfg_str(sink_cfg, "topics") : "");
    size_t plen = strlen(prefix);
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (strncmp(t, prefix, plen) == 0 && t[plen] == '.' && !sink_topic_is_control(t))
            json_array_append_new(out->topics, json_string(t));
done:
    json_decref(src_cfg);
    json_decref(sink_cfg);
    return rc;
}

int recon_pair_table(const recon_pair_t *p, const char *name, char *src, size_t src_cap, char *dst, size_t dst_cap,
                     sb_err_t *err)
{
    size_t plen = strlen(p->topic_prefix);
    size_t i;
    json_t *t;
    int matches = 0;
    json_array_foreach(p->topics, i, t) {
        const char *topic = json_string_value(t);
        const char *st = topic + plen + 1; /* "<schema>.<table>" */
        const char *dot = strrchr(st, '.');
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
