/* The config APIs: DescribeConfigs (v0–v2), AlterConfigs (v0–v2) and
 * IncrementalAlterConfigs (v0–v1), for TOPIC and BROKER resources.
 *
 * Kafka's semantics: AlterConfigs replaces the whole set of dynamic configs of a resource
 * (keys not given go back to their default), IncrementalAlterConfigs applies SET / DELETE /
 * APPEND / SUBTRACT to the current set. Each resource succeeds or fails on its own and as a
 * whole: every entry is validated before anything changes, and a change is persisted before it
 * is applied. validate_only runs the same checks and changes nothing. Which keys exist, their
 * types and which of them this broker acts on: topic_config.c; broker keys: broker_configs.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "common/log.h"
#include "kafka/protocol.h"

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4

#define OP_SET 0
#define OP_DELETE 1
#define OP_APPEND 2
#define OP_SUBTRACT 3

#define MSG_CAP 512

static bool slice_eq(sb_slice_t s, const char *z)
{
    return s.len >= 0 && (size_t)s.len == strlen(z) && memcmp(s.p, z, (size_t)s.len) == 0;
}

/* NUL-terminated copy of a slice into buf (truncated to fit); NULL for a null slice. */
static const char *slice_z(sb_slice_t s, char *buf, size_t cap)
{
    if (s.len < 0) return NULL;
    size_t n = (size_t)s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return buf;
}

/* A BROKER resource names this broker ("<id>", its own dynamic configs) or the cluster-wide
 * default (""). Anything else belongs to another broker: Kafka answers INVALID_REQUEST. */
static int16_t broker_scope(broker_t *b, sb_slice_t name, bool *node, char *msg, size_t cap)
{
    if (name.len == 0) {
        *node = false;
        return KAFKA_ERR_NONE;
    }
    char want[16];
    snprintf(want, sizeof(want), "%d", broker_node_id(b));
    if (slice_eq(name, want)) {
        *node = true;
        return KAFKA_ERR_NONE;
    }
    char got[64];
    snprintf(msg, cap, "Unexpected broker id, expected %s or empty string, but received %s", want,
             name.len < 0 ? "null" : slice_z(name, got, sizeof(got)));
    return KAFKA_ERR_INVALID_REQUEST;
}

/* ---- DescribeConfigs ---- */

typedef struct synonym {
    const char *name;
    char value[TCFG_VALUE_MAX + 1100];
    int8_t source;
} synonym_t;

typedef struct describe_out {
    sb_wr_t *w;
    int16_t v;
    bool synonyms;
    sb_rd_t keys;
    int32_t nkeys;
    int32_t count;
    bool count_only;
    bool cluster_scope; /* BROKER resource "": only the cluster-wide dynamic defaults */
    broker_t *b;
} describe_out_t;

static bool key_wanted(const describe_out_t *o, const char *name)
{
    if (o->nkeys < 0) return true;
    sb_rd_t keys = o->keys;
    for (int32_t i = 0; i < o->nkeys; i++)
        if (slice_eq(sb_rd_string(&keys), name)) return true;
    return false;
}

static void write_entry(describe_out_t *o, const char *name, const char *value, int8_t source,
                        bool read_only, const synonym_t *syn, int nsyn)
{
    if (!key_wanted(o, name)) return;
    o->count++;
    if (o->count_only) return;
    sb_wr_t *w = o->w;
    sb_wr_str(w, false, name);
    sb_wr_str(w, false, value);
    sb_wr_bool(w, read_only);
    if (o->v == 0)
        sb_wr_bool(w, source == CONFIG_SOURCE_DEFAULT); /* is_default */
    else
        sb_wr_i8(w, source);
    sb_wr_bool(w, false); /* is_sensitive */
    if (o->v >= 1) {
        sb_wr_array(w, false, o->synonyms ? nsyn : 0);
        for (int i = 0; o->synonyms && i < nsyn; i++) {
            sb_wr_str(w, false, syn[i].name);
            sb_wr_str(w, false, syn[i].value);
            sb_wr_i8(w, syn[i].source);
        }
    }
}

/* The synonyms of a topic config, most specific first, as Kafka lists them: the topic's own
 * value, then the broker key at each level that has one. */
static int topic_synonyms(broker_t *b, topic_t *t, const tcfg_def_t *d, synonym_t *out)
{
    int n = 0;
    const char *v = config_set_get(&t->configs, d->name);
    if (v) {
        out[n] = (synonym_t){d->name, "", CONFIG_SOURCE_DYNAMIC_TOPIC};
        snprintf(out[n++].value, sizeof(out[0].value), "%s", v);
    }
    if (!d->broker_name) return n;
    if ((v = config_set_get(&b->dyn_node, d->broker_name))) {
        out[n] = (synonym_t){d->broker_name, "", CONFIG_SOURCE_DYNAMIC_BROKER};
        snprintf(out[n++].value, sizeof(out[0].value), "%s", v);
    }
    if ((v = config_set_get(&b->dyn_cluster, d->broker_name))) {
        out[n] = (synonym_t){d->broker_name, "", CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER};
        snprintf(out[n++].value, sizeof(out[0].value), "%s", v);
    }
    /* The start-up or built-in value the dynamic ones override. */
    int8_t source;
    broker_static_value(b, d->broker_name, d->kafka_default, out[n].value, sizeof(out[n].value),
                        &source);
    out[n].name = d->broker_name;
    out[n].source = source;
    n++;
    return n;
}

static void describe_topic(broker_t *b, topic_t *t, describe_out_t *o)
{
    size_t nt;
    const tcfg_def_t *td = tcfg_table(&nt);
    for (size_t i = 0; i < nt; i++) {
        char buf[TCFG_VALUE_MAX + 1100];
        int8_t source;
        const char *v = topic_config_value(b, t, &td[i], buf, sizeof(buf), &source);
        synonym_t syn[4];
        int nsyn = o->synonyms && !o->count_only ? topic_synonyms(b, t, &td[i], syn) : 0;
        write_entry(o, td[i].name, v, source, false, syn, nsyn);
    }
}

/* The synonyms of a broker config, most specific first, as Kafka lists them: every level
 * that has a value — this broker's dynamic value (not for the cluster-wide resource), the
 * cluster-wide dynamic default, the start-up config, Kafka's default. */
static int broker_synonyms(broker_t *b, const char *name, bool cluster_scope, synonym_t *out)
{
    int n = 0;
    const char *v;
    if (!cluster_scope && (v = config_set_get(&b->dyn_node, name))) {
        out[n] = (synonym_t){name, "", CONFIG_SOURCE_DYNAMIC_BROKER};
        snprintf(out[n++].value, sizeof(out[0].value), "%s", v);
    }
    if ((v = config_set_get(&b->dyn_cluster, name))) {
        out[n] = (synonym_t){name, "", CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER};
        snprintf(out[n++].value, sizeof(out[0].value), "%s", v);
    }
    int8_t source;
    if (broker_static_value(b, name, NULL, out[n].value, sizeof(out[n].value), &source)) {
        out[n].name = name;
        out[n++].source = source;
    }
    const tcfg_def_t *d = tcfg_find_broker(name);
    if (d && d->kafka_default) {
        out[n] = (synonym_t){name, "", CONFIG_SOURCE_DEFAULT};
        snprintf(out[n++].value, sizeof(out[0].value), "%s", d->kafka_default);
    }
    return n;
}

static void describe_broker_cb(void *arg, const char *name, const char *value, int8_t source,
                               bool read_only)
{
    describe_out_t *o = arg;
    if (o->cluster_scope && source != CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER) return;
    synonym_t syn[4];
    int nsyn = o->synonyms && !o->count_only ? broker_synonyms(o->b, name, o->cluster_scope, syn) : 0;
    write_entry(o, name, value, source, read_only, syn, nsyn);
}

int handle_DescribeConfigs(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    int32_t n = sb_rd_array(rd, false, 5);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    sb_rd_t res_rd = *rd;
    for (int32_t i = 0; i < n; i++) {
        sb_rd_i8(rd);
        sb_rd_string(rd);
        int32_t nk = sb_rd_array(rd, false, 2);
        for (int32_t j = 0; j < nk && sb_rd_ok(rd); j++)
            sb_rd_string(rd);
    }
    bool synonyms = v >= 1 ? sb_rd_bool(rd) : false;
    if (!sb_rd_ok(rd)) return -1;
    sb_wr_i32(resp, 0);
    sb_wr_array(resp, false, n);
    for (int32_t i = 0; i < n; i++) {
        int8_t type = sb_rd_i8(&res_rd);
        sb_slice_t name = sb_rd_string(&res_rd);
        int32_t nk = sb_rd_array(&res_rd, false, 2);
        describe_out_t o = {.w = resp, .v = v, .synonyms = synonyms, .keys = res_rd, .nkeys = nk, .b = b};
        for (int32_t j = 0; j < nk; j++)
            sb_rd_string(&res_rd);
        int16_t err = KAFKA_ERR_NONE;
        char msg[MSG_CAP] = "";
        topic_t *t = NULL;
        bool node = false;
        if ((err = broker_authorize_config_resource(b, req, ACL_OP_DESCRIBE_CONFIGS, type, name))) {
            snprintf(msg, sizeof(msg), "Authorization failed: DESCRIBE_CONFIGS is needed.");
        } else if (type == RESOURCE_TOPIC) {
            t = broker_topic_find(b, (const char *)name.p, name.len);
            if (!t) {
                err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(msg, sizeof(msg), "Topic does not exist");
            }
        } else if (type == RESOURCE_BROKER) {
            err = broker_scope(b, name, &node, msg, sizeof(msg));
            o.cluster_scope = !node;
        } else {
            err = KAFKA_ERR_INVALID_REQUEST;
            snprintf(
                msg, sizeof(msg),
                "Unsupported resource type %d: DescribeConfigs supports topics (2) and brokers (4)",
                type);
        }
        sb_wr_i16(resp, err);
        sb_wr_str(resp, false, err ? msg : NULL);
        sb_wr_i8(resp, type);
        sb_wr_strn(resp, false, name.p, name.len);
        /* Count first (the array length precedes the entries), then write. */
        for (int pass = 0; pass < 2; pass++) {
            o.count_only = pass == 0;
            o.count = 0;
            if (err == KAFKA_ERR_NONE && t)
                describe_topic(b, t, &o);
            else if (err == KAFKA_ERR_NONE)
                broker_configs_foreach(b, describe_broker_cb, &o);
            if (pass == 0) sb_wr_array(resp, false, o.count);
        }
    }
    if (!sb_rd_ok(&res_rd)) return -1;
    return KAFKA_HANDLER_DONE;
}

/* ---- AlterConfigs / IncrementalAlterConfigs ---- */

typedef struct alter_entry {
    sb_slice_t name;
    int8_t op;
    sb_slice_t value;
} alter_entry_t;

/* Checks one key/value for the resource; 0 or a Kafka error with msg naming the key. */
static int16_t check_entry(bool topic, const char *key, const char *value, char *msg, size_t cap)
{
    if (topic) {
        sb_err_t e = {0};
        if (topic_config_check(key, value, NULL, &e) < 0) {
            snprintf(msg, cap, "%s", e.msg);
            return KAFKA_ERR_INVALID_CONFIG;
        }
        return KAFKA_ERR_NONE;
    }
    return broker_config_check(key, value, msg, cap);
}

static const tcfg_def_t *def_for(bool topic, const char *key)
{
    return topic ? tcfg_find(key) : tcfg_find_broker(key);
}

/* The current effective value of key for the resource (topic, or the broker scope). */
static const char *current_value(broker_t *b, topic_t *t, bool node, const char *key, char *buf,
                                 size_t cap)
{
    int8_t source;
    if (t) {
        const tcfg_def_t *d = tcfg_find(key);
        return d ? topic_config_value(b, t, d, buf, cap, &source) : "";
    }
    const char *v = node ? config_set_get(&b->dyn_node, key) : NULL;
    if (!v) v = config_set_get(&b->dyn_cluster, key);
    if (v) return v;
    const tcfg_def_t *d = tcfg_find_broker(key);
    if (d && d->broker_name) return topic_config_value(b, NULL, d, buf, cap, &source);
    return d ? d->kafka_default : "";
}

static bool list_has(const char *list, const char *item, size_t len)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, item, len) == 0) return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

/* APPEND / SUBTRACT on a list value: items of `arg` added (when missing) or removed. */
static void list_edit(const char *cur, const char *arg, bool append, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = cur; *p;) {
        size_t n = strcspn(p, ",");
        if (n && (append || !list_has(arg, p, n)))
            used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%.*s",
                                     used ? "," : "", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    if (!append) return;
    for (const char *p = arg; *p;) {
        size_t n = strcspn(p, ",");
        if (n && !list_has(cur, p, n) && used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? "," : "", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
}

/* Builds the resource's new dynamic config set in `next` and checks every entry. */
static int16_t build_next(broker_t *b, topic_t *t, bool node, const alter_entry_t *e, int32_t ne,
                          bool incremental, config_set_t *next, char *msg, size_t cap)
{
    bool topic = t != NULL;
    if (incremental) {
        const config_set_t *cur = topic ? &t->configs : node ? &b->dyn_node : &b->dyn_cluster;
        if (config_set_copy(next, cur) != 0) {
            snprintf(msg, cap, "out of memory");
            return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
    }
    for (int32_t i = 0; i < ne; i++) {
        char key[256], val[TCFG_VALUE_MAX + 2];
        if (e[i].name.len < 0) {
            snprintf(msg, cap, "config with a null name");
            return KAFKA_ERR_INVALID_REQUEST;
        }
        slice_z(e[i].name, key, sizeof(key));
        const char *value =
            e[i].value.len > TCFG_VALUE_MAX ? "" : slice_z(e[i].value, val, sizeof(val));
        if (e[i].value.len > TCFG_VALUE_MAX) {
            snprintf(msg, cap, "Invalid value for configuration %s: longer than %d bytes", key,
                     TCFG_VALUE_MAX);
            return KAFKA_ERR_INVALID_CONFIG;
        }
        /* IncrementalAlterConfigs refuses a key named twice (the operations would be
         * ambiguous), as Kafka does. AlterConfigs lets the last one win, again as Kafka does:
         * librdkafka's own test helper re-sends every described config plus the changed one. */
        for (int32_t j = 0; incremental && j < i; j++)
            if (e[j].name.len == e[i].name.len &&
                memcmp(e[j].name.p, e[i].name.p, (size_t)e[i].name.len) == 0) {
                snprintf(msg, cap, "Error due to duplicate config keys: %s", key);
                return KAFKA_ERR_INVALID_REQUEST;
            }
        int8_t op = incremental ? e[i].op : OP_SET;
        if (op == OP_DELETE) {
            /* Deleting is validated like setting the default: the key must be one that may be
             * set here at all. */
            const tcfg_def_t *d = def_for(topic, key);
            int16_t err = check_entry(topic, key, d ? d->kafka_default : "", msg, cap);
            if (err == KAFKA_ERR_INVALID_REQUEST || !d) return err;
            config_set_del(next, key);
            continue;
        }
        char edited[TCFG_VALUE_MAX * 2 + 2];
        if (op == OP_APPEND || op == OP_SUBTRACT) {
            const tcfg_def_t *d = def_for(topic, key);
            if (!d) return check_entry(topic, key, value, msg, cap);
            if (d->type != TCFG_LIST) {
                snprintf(msg, cap, "Config value %s is not allowed for config key: %s (not a list)",
                         op == OP_APPEND ? "append" : "subtract", key);
                return KAFKA_ERR_INVALID_CONFIG;
            }
            if (!value) {
                snprintf(msg, cap, "Null value not supported for configuration %s", key);
                return KAFKA_ERR_INVALID_CONFIG;
            }
            char cur[TCFG_VALUE_MAX + 1100];
            const char *c = config_set_get(next, key);
            if (!c) c = current_value(b, t, node, key, cur, sizeof(cur));
            list_edit(c, value, op == OP_APPEND, edited, sizeof(edited));
            value = edited;
        } else if (op != OP_SET) {
            snprintf(msg, cap,
                     "Unknown config operation %d for %s (SET 0, DELETE 1, APPEND 2, SUBTRACT 3)",
                     op, key);
            return KAFKA_ERR_INVALID_REQUEST;
        }
        int16_t err = check_entry(topic, key, value, msg, cap);
        if (err) return err;
        if (config_set_put(next, key, value) != 0) {
            snprintf(msg, cap, "out of memory");
            return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
    }
    return KAFKA_ERR_NONE;
}

static int16_t alter_resource(broker_t *b, int8_t type, sb_slice_t name, const alter_entry_t *e,
                              int32_t ne, bool incremental, bool validate_only, char *msg,
                              size_t cap)
{
    topic_t *t = NULL;
    bool node = false;
    const char *api = incremental ? "IncrementalAlterConfigs" : "AlterConfigs";
    if (type == RESOURCE_TOPIC) {
        t = broker_topic_find(b, (const char *)name.p, name.len);
        if (!t) {
            snprintf(msg, cap, "Topic does not exist");
            return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
        if (t->internal) {
            /* The broker relies on its internal topic keeping every record it needs. */
            snprintf(msg, cap, "The configs of internal topic %s are managed by the broker",
                     t->name);
            return KAFKA_ERR_POLICY_VIOLATION;
        }
    } else if (type == RESOURCE_BROKER) {
        int16_t err = broker_scope(b, name, &node, msg, cap);
        if (err) return err;
    } else {
        snprintf(msg, cap,
                 "%s is only supported for topics (2) and brokers (4), but resource type is %d",
                 api, type);
        return KAFKA_ERR_INVALID_REQUEST;
    }
    config_set_t next;
    config_set_init(&next);
    int16_t err = build_next(b, t, node, e, ne, incremental, &next, msg, cap);
    if (err == KAFKA_ERR_NONE && !validate_only) {
        sb_err_t se = {0};
        int rc = t ? topic_replace_configs(b, t, &next, &se)
                   : broker_replace_configs(b, node, &next, &se);
        if (rc < 0) {
            sb_error("configs", "%s on %s: %s", api, t ? t->name : "broker", se.msg);
            snprintf(msg, cap, "%s", se.msg);
            err = KAFKA_ERR_KAFKA_STORAGE_ERROR;
        } else {
            sb_info("configs", "%s: %s %s now has %zu dynamic config(s)", api,
                    t ? "topic" : "broker",
                    t      ? t->name
                    : node ? "(this broker)"
                           : "(cluster default)",
                    t      ? t->configs.n
                    : node ? b->dyn_node.n
                           : b->dyn_cluster.n);
        }
    }
    config_set_deinit(&next);
    return err;
}

static int handle_alter(broker_t *b, kreq_t *req, sb_wr_t *resp, bool incremental)
{
    sb_rd_t *rd = &req->body;
    bool c = req->flexible;
    int32_t n = sb_rd_array(rd, c, 4);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    /* Decode everything first: validate_only comes after the resources. */
    sb_rd_t res_rd = *rd;
    for (int32_t i = 0; i < n && sb_rd_ok(rd); i++) {
        sb_rd_i8(rd);
        sb_rd_str(rd, c);
        int32_t ne = sb_rd_array(rd, c, incremental ? 4 : 3);
        for (int32_t j = 0; j < ne && sb_rd_ok(rd); j++) {
            sb_rd_str(rd, c);
            if (incremental) sb_rd_i8(rd);
            sb_rd_str(rd, c);
            if (c) sb_rd_tags(rd);
        }
        if (c) sb_rd_tags(rd);
    }
    bool validate_only = sb_rd_bool(rd);
    if (c) sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) return -1;

    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, c, n);
    for (int32_t i = 0; i < n; i++) {
        int8_t type = sb_rd_i8(&res_rd);
        sb_slice_t name = sb_rd_str(&res_rd, c);
        int32_t ne = sb_rd_array(&res_rd, c, incremental ? 4 : 3);
        alter_entry_t *e = calloc(ne > 0 ? (size_t)ne : 1, sizeof(*e));
        if (!e) return -1;
        for (int32_t j = 0; j < ne; j++) {
            e[j].name = sb_rd_str(&res_rd, c);
            e[j].op = incremental ? sb_rd_i8(&res_rd) : OP_SET;
            e[j].value = sb_rd_str(&res_rd, c);
            if (c) sb_rd_tags(&res_rd);
        }
        if (c) sb_rd_tags(&res_rd);
        char msg[MSG_CAP] = "";
        int16_t err = broker_authorize_config_resource(b, req, ACL_OP_ALTER_CONFIGS, type, name);
        if (err) snprintf(msg, sizeof(msg), "Authorization failed: ALTER_CONFIGS is needed.");
        else err = alter_resource(b, type, name, e, ne < 0 ? 0 : ne, incremental, validate_only, msg, sizeof(msg));
        free(e);
        if (err)
            sb_info("configs", "%s refused for resource %d \"%.*s\": %s",
                    kafka_api_name(req->api_key), type, name.len > 0 ? (int)name.len : 0,
                    name.len > 0 ? (const char *)name.p : "", msg);
        sb_wr_i16(resp, err);
        sb_wr_str(resp, c, err ? msg : NULL);
        sb_wr_i8(resp, type);
        sb_wr_strn(resp, c, name.p, name.len);
        sb_wr_tags(resp, c);
    }
    sb_wr_tags(resp, c);
    return sb_rd_ok(&res_rd) ? KAFKA_HANDLER_DONE : -1;
}

int handle_AlterConfigs(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    return handle_alter(b, req, resp, false);
}

int handle_IncrementalAlterConfigs(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    return handle_alter(b, req, resp, true);
}
