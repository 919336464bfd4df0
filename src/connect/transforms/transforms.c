/* Single-record transforms; see transforms.h for the configuration. */
#include "connect/transforms/transforms.h"

#include <openssl/evp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "connect/event_scan.h"

#define TRANSFORMS_MAX 16
#define TRANSFORM_MAX_FIELDS 64

typedef enum { T_MASK, T_HASH, T_RENAME, T_FILTER, T_ROUTE, T_INSERT } transform_kind_t;
typedef enum { INS_CAPTURE_TIME, INS_COMMIT_TIME, INS_SOURCE_NAME, INS_TOPIC, INS_LITERAL } insert_value_t;

typedef struct transform {
    transform_kind_t kind;
    char alias[64];
    /* mask, hash: the columns; rename: old names in fields, new names in renames_to */
    char *fields[TRANSFORM_MAX_FIELDS];
    char *renames_to[TRANSFORM_MAX_FIELDS];
    int nfields;
    char *replacement; /* mask: the text put in place; route: the new topic pattern */
    char *salt;        /* hash */
    char ops[8];       /* filter: the op letters listed */
    bool include;      /* filter: keep only `ops` (else drop `ops`) */
    regex_t re;        /* route */
    bool re_compiled;
    char *field;            /* insert: column name */
    insert_value_t ins;     /* insert: what goes in */
    char *literal;          /* insert: INS_LITERAL text */
} transform_t;

struct connect_transforms {
    transform_t items[TRANSFORMS_MAX];
    int n;
};

static const char *cfg_str(const json_t *config, const char *key)
{
    const json_t *v = json_object_get(config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *trim_dup(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return strndup(s, n);
}

/* Splits a comma list into trimmed, non-empty items. Returns the count, or -1 when there are
 * more than cap. */
static int split_list(const char *s, char **out, int cap)
{
    int n = 0;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char *item = trim_dup(s, len);
        if (item && item[0]) {
            if (n == cap) {
                free(item);
                for (int i = 0; i < n; i++) free(out[i]);
                return -1;
            }
            out[n++] = item;
        } else {
            free(item);
        }
        s = comma ? comma + 1 : NULL;
    }
    return n;
}

static void transform_deinit(transform_t *t)
{
    for (int i = 0; i < t->nfields; i++) {
        free(t->fields[i]);
        free(t->renames_to[i]);
    }
    free(t->replacement);
    free(t->salt);
    free(t->field);
    free(t->literal);
    if (t->re_compiled) regfree(&t->re);
}

void connect_transforms_free(connect_transforms_t *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) transform_deinit(&t->items[i]);
    free(t);
}

bool connect_transforms_empty(const connect_transforms_t *t)
{
    return !t || t->n == 0;
}

/* Parses the parameters of one transform; reports errors under "transforms.<alias>.<param>". */
static void parse_one(const json_t *config, transform_t *t, connect_config_errors_t *errs)
{
    char key[160];
#define PKEY(p) (snprintf(key, sizeof(key), "transforms.%s." p, t->alias), key)
    const char *type = cfg_str(config, PKEY("type"));
    if (!type) {
        connect_config_error_add(errs, PKEY("type"), "missing: one of mask, hash, rename, filter, route, insert");
        return;
    }
    if (strcmp(type, "mask") == 0 || strcmp(type, "hash") == 0) {
        t->kind = type[0] == 'm' ? T_MASK : T_HASH;
        int n = split_list(cfg_str(config, PKEY("fields")), t->fields, TRANSFORM_MAX_FIELDS);
        if (n <= 0) {
            connect_config_error_add(errs, PKEY("fields"), "a comma-separated list of 1..%d column names is required",
                                     TRANSFORM_MAX_FIELDS);
            return;
        }
        t->nfields = n;
        const char *repl = cfg_str(config, PKEY("replacement"));
        t->replacement = strdup(repl ? repl : "****");
        const char *salt = cfg_str(config, PKEY("salt"));
        t->salt = strdup(salt ? salt : "");
    } else if (strcmp(type, "rename") == 0) {
        t->kind = T_RENAME;
        char *pairs[TRANSFORM_MAX_FIELDS];
        int n = split_list(cfg_str(config, PKEY("renames")), pairs, TRANSFORM_MAX_FIELDS);
        if (n <= 0) {
            connect_config_error_add(errs, PKEY("renames"), "a list \"old:new,...\" is required");
            return;
        }
        for (int i = 0; i < n; i++) {
            char *colon = strchr(pairs[i], ':');
            if (!colon || colon == pairs[i] || !colon[1]) {
                connect_config_error_add(errs, PKEY("renames"), "\"%s\" is not old:new", pairs[i]);
            } else {
                *colon = '\0';
                t->fields[t->nfields] = trim_dup(pairs[i], strlen(pairs[i]));
                t->renames_to[t->nfields] = trim_dup(colon + 1, strlen(colon + 1));
                t->nfields++;
            }
            free(pairs[i]);
        }
    } else if (strcmp(type, "filter") == 0) {
        t->kind = T_FILTER;
        const char *inc = cfg_str(config, PKEY("ops.include"));
        const char *exc = cfg_str(config, PKEY("ops.exclude"));
        if ((inc != NULL) == (exc != NULL)) {
            connect_config_error_add(errs, PKEY("ops.include"), "set exactly one of ops.include and ops.exclude");
            return;
        }
        t->include = inc != NULL;
        char *ops[8];
        int n = split_list(inc ? inc : exc, ops, 7);
        if (n <= 0) {
            connect_config_error_add(errs, inc ? PKEY("ops.include") : PKEY("ops.exclude"),
                                     "a list of ops among c,u,d,r,t is required");
            return;
        }
        for (int i = 0; i < n; i++) {
            if (strlen(ops[i]) != 1 || !strchr("cudrt", ops[i][0]))
                connect_config_error_add(errs, inc ? PKEY("ops.include") : PKEY("ops.exclude"),
                                         "unknown op \"%s\" (ops are c,u,d,r,t)", ops[i]);
            else
                t->ops[strlen(t->ops)] = ops[i][0];
            free(ops[i]);
        }
    } else if (strcmp(type, "route") == 0) {
        t->kind = T_ROUTE;
        const char *re = cfg_str(config, PKEY("regex"));
        const char *repl = cfg_str(config, PKEY("replacement"));
        if (!re) {
            connect_config_error_add(errs, PKEY("regex"), "required");
        } else {
            int rc = regcomp(&t->re, re, REG_EXTENDED);
            if (rc != 0) {
                char msg[200];
                regerror(rc, &t->re, msg, sizeof(msg));
                connect_config_error_add(errs, PKEY("regex"), "invalid regular expression: %s", msg);
            } else {
                t->re_compiled = true;
            }
        }
        if (!repl || !repl[0]) connect_config_error_add(errs, PKEY("replacement"), "required");
        else t->replacement = strdup(repl);
    } else if (strcmp(type, "insert") == 0) {
        t->kind = T_INSERT;
        const char *field = cfg_str(config, PKEY("field"));
        const char *value = cfg_str(config, PKEY("value"));
        if (!field || !field[0]) connect_config_error_add(errs, PKEY("field"), "required: the column to add");
        else t->field = strdup(field);
        if (!value) {
            connect_config_error_add(errs, PKEY("value"),
                                     "required: capture_time, commit_time, source_name, topic or literal:<text>");
        } else if (strcmp(value, "capture_time") == 0) {
            t->ins = INS_CAPTURE_TIME;
        } else if (strcmp(value, "commit_time") == 0) {
            t->ins = INS_COMMIT_TIME;
        } else if (strcmp(value, "source_name") == 0) {
            t->ins = INS_SOURCE_NAME;
        } else if (strcmp(value, "topic") == 0) {
            t->ins = INS_TOPIC;
        } else if (strncmp(value, "literal:", 8) == 0) {
            t->ins = INS_LITERAL;
            t->literal = strdup(value + 8);
        } else {
            connect_config_error_add(errs, PKEY("value"),
                                     "\"%s\" is not capture_time, commit_time, source_name, topic or literal:<text>",
                                     value);
        }
    } else {
        connect_config_error_add(errs, PKEY("type"), "unknown transform type \"%s\" (mask, hash, rename, filter, route, insert)",
                                 type);
    }
#undef PKEY
}

int connect_transforms_new(const json_t *config, connect_transforms_t **out, connect_config_errors_t *errs)
{
    *out = NULL;
    connect_transforms_t *t = calloc(1, sizeof(*t));
    if (!t) return SB_ENOMEM;
    int before = errs->count;
    const json_t *list = json_object_get(config, "transforms");
    if (list && !json_is_string(list)) {
        connect_config_error_add(errs, "transforms", "must be a comma-separated string of aliases");
    } else if (list) {
        char *aliases[TRANSFORMS_MAX];
        int n = split_list(json_string_value(list), aliases, TRANSFORMS_MAX);
        if (n < 0) connect_config_error_add(errs, "transforms", "at most %d transforms", TRANSFORMS_MAX);
        for (int i = 0; i < n; i++) {
            transform_t *tr = &t->items[t->n++];
            if (strlen(aliases[i]) >= sizeof(tr->alias) || strchr(aliases[i], '.')) {
                connect_config_error_add(errs, "transforms", "bad alias \"%s\" (no dots, under 64 bytes)", aliases[i]);
            } else {
                snprintf(tr->alias, sizeof(tr->alias), "%s", aliases[i]);
                parse_one(config, tr, errs);
            }
            free(aliases[i]);
        }
    }
    /* A parameter under an alias that is not listed is almost always a typo in the list. */
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)config, key, val) {
        if (strncmp(key, "transforms.", 11) != 0) continue;
        const char *alias = key + 11;
        const char *dot = strchr(alias, '.');
        bool known = false;
        for (int i = 0; dot && i < t->n; i++)
            if (strlen(t->items[i].alias) == (size_t)(dot - alias) && strncmp(t->items[i].alias, alias, (size_t)(dot - alias)) == 0)
                known = true;
        if (!known) connect_config_error_add(errs, key, "no transform with this alias is listed in \"transforms\"");
    }
    if (errs->count > before) {
        connect_transforms_free(t);
        return SB_EINVAL;
    }
    *out = t;
    return 0;
}

void connect_transformed_deinit(connect_transformed_t *t)
{
    free(t->topic_buf);
    free(t->key_buf);
    free(t->value_buf);
    memset(t, 0, sizeof(*t));
}

static void sha256_hex(const char *salt, const char *text, size_t text_len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, salt, strlen(salt));
    EVP_DigestUpdate(ctx, text, text_len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < mdlen && i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

/* Applies a column transform (mask, hash, rename) to one row object. */
static void transform_row(const transform_t *t, json_t *row)
{
    if (!json_is_object(row)) return;
    for (int i = 0; i < t->nfields; i++) {
        json_t *v = json_object_get(row, t->fields[i]);
        if (!v) continue;
        if (t->kind == T_RENAME) {
            json_incref(v);
            json_object_del(row, t->fields[i]);
            json_object_set_new(row, t->renames_to[i], v);
            continue;
        }
        if (json_is_null(v)) continue; /* NULL is not personal data; keep it NULL */
        if (t->kind == T_MASK) {
            json_object_set_new(row, t->fields[i], json_string(t->replacement));
        } else {
            char hex[65];
            if (json_is_string(v)) {
                sha256_hex(t->salt, json_string_value(v), json_string_length(v), hex);
            } else {
                char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                sha256_hex(t->salt, text ? text : "", text ? strlen(text) : 0, hex);
                free(text);
            }
            json_object_set_new(row, t->fields[i], json_string(hex));
        }
    }
}

static json_t *insert_value(const transform_t *t, json_t *value, const char *topic)
{
    json_t *source = json_object_get(value, "source");
    switch (t->ins) {
    case INS_CAPTURE_TIME: {
        json_t *ts = json_object_get(value, "ts_ms");
        return json_is_integer(ts) ? json_incref(ts) : json_integer(sb_now_ms());
    }
    case INS_COMMIT_TIME: {
        json_t *ts = json_object_get(source, "ts_ms");
        return ts ? json_incref(ts) : json_null();
    }
    case INS_SOURCE_NAME: {
        json_t *name = json_object_get(source, "name");
        return name ? json_incref(name) : json_null();
    }
    case INS_TOPIC: return json_string(topic);
    case INS_LITERAL: return json_string(t->literal);
    }
    return json_null();
}

static json_t *parse_slice(sb_slice_t s, const char *what, sb_err_t *err)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)s.p, (size_t)s.len, JSON_DECODE_ANY, &jerr);
    if (!j) sb_err_set(err, SB_EINVAL, "%s is not JSON: %s", what, jerr.text);
    return j;
}

static char op_of(const connect_record_t *rec, json_t *jvalue)
{
    if (rec->value.len < 0) return 'd'; /* a tombstone belongs to the delete before it */
    if (jvalue) {
        const char *op = json_string_value(json_object_get(jvalue, "op"));
        return op && strlen(op) == 1 ? op[0] : 0;
    }
    connect_event_summary_t env;
    if (connect_event_scan(rec->value.p, (size_t)rec->value.len, &env) < 0) return -1;
    return env.op;
}

int connect_transforms_apply(const connect_transforms_t *t, const connect_record_t *in,
                             connect_transformed_t *out, sb_err_t *err)
{
    out->rec = *in;
    if (connect_transforms_empty(t)) return 1;
    json_t *jkey = NULL, *jvalue = NULL;
    bool key_changed = false, value_changed = false;
    const char *topic = in->topic;
    int rc = 1;
    for (int i = 0; i < t->n && rc == 1; i++) {
        const transform_t *tr = &t->items[i];
        if (tr->kind == T_FILTER) {
            char op = op_of(&out->rec, jvalue);
            if (op == (char)-1) {
                rc = sb_err_set(err, SB_EINVAL, "transform %s: the value is not a JSON change event", tr->alias);
                break;
            }
            bool listed = op && strchr(tr->ops, op);
            if (tr->include != listed) rc = 0;
            continue;
        }
        if (tr->kind == T_ROUTE) {
            regmatch_t m[10];
            if (regexec(&tr->re, topic, 10, m, 0) != 0) continue;
            /* Only the matched part is replaced, as in Kafka Connect's RegexRouter when the
             * regex is anchored; unanchored regexes rewrite just the match. */
            char buf[512];
            size_t o = 0;
            int pre = (int)m[0].rm_so;
            o += (size_t)snprintf(buf, sizeof(buf), "%.*s", pre, topic);
            for (const char *r = tr->replacement; *r && o < sizeof(buf) - 1; r++) {
                if (r[0] == '$' && r[1] >= '0' && r[1] <= '9') {
                    int g = r[1] - '0';
                    r++;
                    if (m[g].rm_so < 0) continue;
                    int len = (int)(m[g].rm_eo - m[g].rm_so);
                    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.*s", len, topic + m[g].rm_so);
                } else {
                    buf[o++] = *r;
                }
                if (o >= sizeof(buf)) o = sizeof(buf) - 1;
            }
            buf[o < sizeof(buf) ? o : sizeof(buf) - 1] = '\0';
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s", topic + m[0].rm_eo);
            free(out->topic_buf);
            out->topic_buf = strdup(buf);
            topic = out->topic_buf;
            continue;
        }
        /* Column transforms need the parsed key and value. */
        if (!jkey && in->key.len >= 0) {
            jkey = parse_slice(in->key, "the key", err);
            if (!jkey) {
                rc = SB_EINVAL;
                break;
            }
        }
        if (!jvalue && in->value.len >= 0) {
            jvalue = parse_slice(in->value, "the value", err);
            if (!jvalue) {
                rc = SB_EINVAL;
                break;
            }
        }
        if (tr->kind == T_INSERT) {
            if (!json_is_object(jvalue)) continue;
            for (int r = 0; r < 2; r++) {
                json_t *row = json_object_get(jvalue, r ? "before" : "after");
                if (json_is_object(row)) json_object_set_new(row, tr->field, insert_value(tr, jvalue, in->topic));
            }
            value_changed = true;
            continue;
        }
        if (tr->kind != T_MASK) {
            /* hash and rename keep key and rows consistent, so the sink's primary key still
             * matches; masking a key would merge different rows into one, so keys are left. */
            transform_row(tr, jkey);
            key_changed = key_changed || jkey != NULL;
        }
        if (json_is_object(jvalue)) {
            transform_row(tr, json_object_get(jvalue, "before"));
            transform_row(tr, json_object_get(jvalue, "after"));
            value_changed = true;
        }
    }
    if (rc == 1) {
        out->rec.topic = topic;
        if (key_changed) {
            free(out->key_buf);
            out->key_buf = json_dumps(jkey, JSON_COMPACT | JSON_ENCODE_ANY);
            out->rec.key.p = (const uint8_t *)out->key_buf;
            out->rec.key.len = out->key_buf ? (int32_t)strlen(out->key_buf) : -1;
        }
        if (value_changed) {
            free(out->value_buf);
            out->value_buf = json_dumps(jvalue, JSON_COMPACT | JSON_ENCODE_ANY);
            out->rec.value.p = (const uint8_t *)out->value_buf;
            out->rec.value.len = out->value_buf ? (int32_t)strlen(out->value_buf) : -1;
        }
    }
    json_decref(jkey);
    json_decref(jvalue);
    return rc;
}
