/* Single-record transforms; see transforms.h for the configuration. */
#include "connect/transforms/transforms.h"

#include <openssl/evp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "connect/envelope.h"
#include "connect/event_parse.h"
#include "connect/event_scan.h"

#define TRANSFORMS_MAX 16
#define TRANSFORM_MAX_FIELDS 64

typedef enum { T_MASK, T_HASH, T_RENAME, T_FILTER, T_ROUTE, T_INSERT } transform_kind_t;
typedef enum { INS_CAPTURE_TIME, INS_COMMIT_TIME, INS_SOURCE_NAME, INS_TOPIC, INS_LITERAL } insert_value_t;

typedef struct transform {
    transform_kind_t kind;
    bool typed; /* "type" named a known kind, so its parameters can be checked */
    char alias[64];
    /* mask, hash: the columns; rename: old names in fields, new names in renames_to */
    char *fields[TRANSFORM_MAX_FIELDS];
    size_t field_lens[TRANSFORM_MAX_FIELDS];
    char *renames_to[TRANSFORM_MAX_FIELDS];
    char *renames_to_json[TRANSFORM_MAX_FIELDS]; /* the new names as JSON strings */
    int nfields;
    char *replacement; /* mask: the text put in place; route: the new topic pattern */
    char *replacement_json; /* mask: the replacement as a JSON string */
    char *salt;        /* hash */
    char ops[8];       /* filter: the op letters listed */
    bool include;      /* filter: keep only `ops` (else drop `ops`) */
    regex_t re;        /* route */
    bool re_compiled;
    char *field;            /* insert: column name */
    char *field_json;       /* insert: the column name as a JSON string */
    insert_value_t ins;     /* insert: what goes in */
    char *literal;          /* insert: INS_LITERAL text */
    char *literal_json;     /* insert: INS_LITERAL text as a JSON string */
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
        free(t->renames_to_json[i]);
    }
    free(t->replacement);
    free(t->replacement_json);
    free(t->salt);
    free(t->field);
    free(t->field_json);
    free(t->literal);
    free(t->literal_json);
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
    t->typed = true;
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
        t->typed = false;
        connect_config_error_add(errs, PKEY("type"), "unknown transform type \"%s\" (mask, hash, rename, filter, route, insert)",
                                 type);
    }
#undef PKEY
}

/* The parameters each kind reads, "type" aside, space-separated with a space at each end. A
 * parameter not listed for the kind is a typo (a misspelt salt would silently hash without
 * one), so it is an error rather than ignored. */
static const char *kind_params(transform_kind_t kind)
{
    switch (kind) {
    case T_MASK:
        return " fields replacement ";
    case T_HASH:
        return " fields salt ";
    case T_RENAME:
        return " renames ";
    case T_FILTER:
        return " ops.include ops.exclude ";
    case T_ROUTE:
        return " regex replacement ";
    case T_INSERT:
        return " field value ";
    }
    return " ";
}

static bool kind_has_param(transform_kind_t kind, const char *param)
{
    if (strcmp(param, "type") == 0) return true;
    size_t len = strlen(param);
    if (len == 0 || strchr(param, ' ')) return false;
    for (const char *p = strstr(kind_params(kind), param); p; p = strstr(p + 1, param))
        if (p[-1] == ' ' && p[len] == ' ') return true;
    return false;
}

/* A string as a JSON string literal (quotes included), malloc'ed; NULL on allocation failure. */
static char *json_quote_dup(const char *s)
{
    sb_wr_t w;
    sb_wr_init(&w, strlen(s) + 8);
    envelope_write_json_string(&w, s, strlen(s));
    char *q = w.oom ? NULL : strndup((const char *)w.buf, w.len);
    sb_wr_deinit(&w);
    return q;
}

/* The texts that column transforms write into every record are encoded once, here. */
static int prepare_json_texts(transform_t *t)
{
    for (int i = 0; i < t->nfields; i++) {
        t->field_lens[i] = strlen(t->fields[i]);
        if (t->renames_to[i] && !(t->renames_to_json[i] = json_quote_dup(t->renames_to[i]))) return SB_ENOMEM;
    }
    if (t->kind == T_MASK && t->replacement && !(t->replacement_json = json_quote_dup(t->replacement))) return SB_ENOMEM;
    if (t->field && !(t->field_json = json_quote_dup(t->field))) return SB_ENOMEM;
    if (t->literal && !(t->literal_json = json_quote_dup(t->literal))) return SB_ENOMEM;
    return 0;
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
            bool repeated = false;
            for (int j = 0; j < i && !repeated; j++)
                repeated = strcmp(aliases[j], aliases[i]) == 0;
            if (strlen(aliases[i]) >= sizeof(tr->alias) || strchr(aliases[i], '.')) {
                connect_config_error_add(errs, "transforms", "bad alias \"%s\" (no dots, under 64 bytes)", aliases[i]);
            } else if (repeated) {
                /* Both would read the same parameters: a copy-paste slip, not a chain. */
                connect_config_error_add(errs, "transforms", "alias \"%s\" is listed twice", aliases[i]);
            } else {
                snprintf(tr->alias, sizeof(tr->alias), "%s", aliases[i]);
                parse_one(config, tr, errs);
                if (prepare_json_texts(tr) < 0) connect_config_error_add(errs, "transforms", "out of memory");
            }
        }
        for (int i = 0; i < n; i++) free(aliases[i]);
    }
    /* A parameter under an alias that is not listed is almost always a typo in the list. */
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)config, key, val) {
        if (strncmp(key, "transforms.", 11) != 0) continue;
        const char *alias = key + 11;
        const char *dot = strchr(alias, '.');
        const transform_t *owner = NULL;
        for (int i = 0; dot && i < t->n && !owner; i++)
            if (t->items[i].alias[0] && strlen(t->items[i].alias) == (size_t)(dot - alias) &&
                strncmp(t->items[i].alias, alias, (size_t)(dot - alias)) == 0)
                owner = &t->items[i];
        if (!owner)
            connect_config_error_add(errs, key, "no transform with this alias is listed in \"transforms\"");
        else if (owner->typed && !kind_has_param(owner->kind, dot + 1)) {
            char known_list[96] = "type";
            const char *p = kind_params(owner->kind);
            size_t len = strlen(known_list);
            for (; *p && len + 3 < sizeof(known_list); p++) {
                if (*p != ' ') {
                    known_list[len++] = *p;
                } else if (p[1]) {
                    known_list[len++] = ',';
                    known_list[len++] = ' ';
                }
            }
            known_list[len] = '\0';
            connect_config_error_add(errs, key, "unknown parameter (this transform takes %s)", known_list);
        }
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


/* ------------------------------------------------------------------ applying a chain */

/* How a record is edited without a JSON tree: the key and the value are outlined once
 * (event_outline: every member's name and value as byte spans, two levels deep for the value
 * so that the members of "before", "after" and "source" are listed), the column transforms
 * edit those member lists in place (a renamed member gets a new name span, a masked or hashed
 * one a new value span, an inserted one is appended, a deleted one loses its name), and the
 * output is the input's bytes with only the edited objects written anew. Everything else
 * (source, column_types, op, whitespace) is copied as it was.
 *
 * The result is the same JSON as the earlier jansson implementation produced, member for
 * member (tests/unit/test_connect_transforms.c compares the two); only the bytes of untouched
 * parts keep their original spelling instead of jansson's. */

typedef struct apply_state {
    const connect_record_t *in;
    event_arena_t arena;
    bool outlined;          /* key and value are outlined (and so validated) */
    event_outline_t key;    /* raw == NULL: null key */
    event_outline_t value;  /* raw == NULL: null value (tombstone) */
    bool key_dirty, value_dirty;
    const char *alias;      /* the transform running, for messages */
} apply_state_t;

/* A member deleted by rename (replaced by the renamed one) has no name. */
static bool member_live(const event_member_t *m)
{
    return m->name_raw != NULL;
}

static bool member_is(const event_member_t *m, const char *name, size_t len)
{
    return member_live(m) && (size_t)m->name_len == len && memcmp(m->name, name, len) == 0;
}

/* The last live member called name (a JSON reader takes the last of duplicates), or NULL. */
static event_member_t *member_find(const event_outline_t *obj, const char *name)
{
    if (!obj->expanded) return NULL;
    size_t len = strlen(name);
    for (int i = obj->n - 1; i >= 0; i--)
        if (member_is(&obj->members[i], name, len)) return &obj->members[i];
    return NULL;
}

static void *scratch(apply_state_t *st, size_t n, sb_err_t *err)
{
    void *p = event_arena_alloc(&st->arena, n);
    if (!p) sb_err_set(err, SB_ENOMEM, "transform %s: out of memory", st->alias);
    return p;
}

static event_outline_t json_text(const char *raw, size_t raw_len, event_json_type_t type, const char *text,
                                 size_t text_len)
{
    return (event_outline_t){.value = {.type = type, .text = text, .len = (int32_t)text_len},
                             .raw = (const uint8_t *)raw,
                             .raw_len = (int32_t)raw_len};
}

static const event_outline_t JSON_NULL_TEXT = {.value = {.type = EVENT_JSON_NULL}, .raw = (const uint8_t *)"null", .raw_len = 4};

/* Outlines key and value the first time a column transform needs them. Malformed JSON in
 * either is an error even when the transform would not change that part, as before. */
static int outline_record(apply_state_t *st, sb_err_t *err)
{
    if (st->outlined) return 0;
    sb_err_t e = {0};
    int rc;
    if (st->in->key.len >= 0 && (rc = event_outline(&st->arena, "key", st->in->key, 1, &st->key, &e)) < 0)
        return sb_err_set(err, rc, "transform %s: %s", st->alias, e.msg);
    if (st->in->value.len >= 0 && (rc = event_outline(&st->arena, "value", st->in->value, 2, &st->value, &e)) < 0)
        return sb_err_set(err, rc, "transform %s: %s", st->alias, e.msg);
    st->outlined = true;
    return 0;
}

static void sha256_hex(const char *salt, const char *text, size_t text_len, char out[65])
{
    static const char hexdigits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, salt, strlen(salt));
    EVP_DigestUpdate(ctx, text, text_len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hexdigits[md[i] >> 4];
        out[2 * i + 1] = hexdigits[md[i] & 15];
    }
    out[64] = '\0';
}

/* The text a value is hashed as: a string's decoded contents, otherwise the value's compact
 * JSON as jansson writes it (the hash of a number must not change with this rewrite: "1.10"
 * hashes as jansson's "1.1000000000000001", "-0" as "0"). Integers of up to 18 characters other
 * than -0 are already written that way; everything else is re-encoded through jansson, which
 * only hashed reals, objects and arrays pay for. *owned is set when the text must be freed. */
static void hash_input(const event_outline_t *v, const char **text, size_t *len, char **owned)
{
    *owned = NULL;
    switch (v->value.type) {
    case EVENT_JSON_STRING:
        *text = v->value.text;
        *len = (size_t)v->value.len;
        return;
    case EVENT_JSON_INT:
        if (v->raw_len <= 18 && !(v->raw_len == 2 && v->raw[0] == '-' && v->raw[1] == '0')) break;
        /* fall through */
    case EVENT_JSON_REAL:
    case EVENT_JSON_OBJECT:
    case EVENT_JSON_ARRAY: {
        json_t *j = json_loadb((const char *)v->raw, (size_t)v->raw_len, JSON_DECODE_ANY, NULL);
        *owned = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(j);
        if (*owned) {
            *text = *owned;
            *len = strlen(*owned);
            return;
        }
        break; /* beyond what jansson reads (an integer past 2^63): hash the text as written */
    }
    default:
        break;
    }
    *text = (const char *)v->raw;
    *len = (size_t)v->raw_len;
}

/* Applies mask, hash or rename to one object of columns. Returns 1 when it changed, 0 when
 * not, or a negative code. */
static int transform_row(apply_state_t *st, const transform_t *t, event_outline_t *row, sb_err_t *err)
{
    if (!row->expanded) return 0;
    int changed = 0;
    for (int f = 0; f < t->nfields; f++) {
        const char *name = t->fields[f];
        size_t len = t->field_lens[f];
        if (t->kind == T_RENAME) {
            if (!member_find(row, name)) continue;
            const char *to = t->renames_to[f];
            size_t to_len = strlen(to);
            if (to_len == len && memcmp(to, name, len) == 0) continue;
            /* As a JSON object can hold a name once, the renamed column replaces one that
             * already has the new name. */
            for (int i = 0; i < row->n; i++)
                if (member_is(&row->members[i], to, to_len)) row->members[i].name_raw = NULL;
            for (int i = 0; i < row->n; i++) {
                event_member_t *m = &row->members[i];
                if (!member_is(m, name, len)) continue;
                m->name_raw = (const uint8_t *)t->renames_to_json[f];
                m->name_raw_len = (int32_t)strlen(t->renames_to_json[f]);
                m->name = to;
                m->name_len = (int32_t)to_len;
            }
            changed = 1;
            continue;
        }
        for (int i = 0; i < row->n; i++) {
            event_member_t *m = &row->members[i];
            if (!member_is(m, name, len)) continue;
            if (m->value.value.type == EVENT_JSON_NULL) continue; /* NULL is not personal data; keep it NULL */
            if (t->kind == T_MASK) {
                m->value = json_text(t->replacement_json, strlen(t->replacement_json), EVENT_JSON_STRING,
                                     t->replacement, strlen(t->replacement));
            } else {
                const char *text;
                size_t text_len;
                char *owned;
                hash_input(&m->value, &text, &text_len, &owned);
                char *q = scratch(st, 67, err);
                if (!q) {
                    free(owned);
                    return SB_ENOMEM;
                }
                q[0] = '"';
                sha256_hex(t->salt, text, text_len, q + 1);
                q[65] = '"';
                free(owned);
                m->value = json_text(q, 66, EVENT_JSON_STRING, q + 1, 64);
            }
            changed = 1;
        }
    }
    return changed;
}

/* The value an insert transform adds, as JSON text. */
static int insert_text(apply_state_t *st, const transform_t *t, event_outline_t *out, sb_err_t *err)
{
    const event_member_t *source = member_find(&st->value, "source");
    const event_member_t *m;
    switch (t->ins) {
    case INS_CAPTURE_TIME:
        m = member_find(&st->value, "ts_ms");
        if (m && m->value.value.type == EVENT_JSON_INT) {
            *out = m->value;
        } else {
            char *q = scratch(st, 24, err);
            if (!q) return SB_ENOMEM;
            int n = snprintf(q, 24, "%lld", (long long)sb_now_ms());
            *out = json_text(q, (size_t)n, EVENT_JSON_INT, q, (size_t)n);
        }
        return 0;
    case INS_COMMIT_TIME:
    case INS_SOURCE_NAME:
        m = source ? member_find(&source->value, t->ins == INS_COMMIT_TIME ? "ts_ms" : "name") : NULL;
        *out = m ? m->value : JSON_NULL_TEXT;
        out->expanded = false; /* written as the raw text it is */
        return 0;
    case INS_TOPIC: {
        sb_wr_t w;
        size_t len = strlen(st->in->topic);
        sb_wr_init(&w, len + 8);
        envelope_write_json_string(&w, st->in->topic, len);
        char *q = w.oom ? NULL : scratch(st, w.len, err);
        if (q) memcpy(q, w.buf, w.len);
        *out = json_text(q, w.len, EVENT_JSON_STRING, st->in->topic, len);
        sb_wr_deinit(&w);
        return q ? 0 : SB_ENOMEM;
    }
    case INS_LITERAL:
        *out = json_text(t->literal_json, strlen(t->literal_json), EVENT_JSON_STRING, t->literal, strlen(t->literal));
        return 0;
    }
    *out = JSON_NULL_TEXT;
    return 0;
}

/* Sets the column in one row (in place when it is there, else appended). */
static int insert_into_row(apply_state_t *st, const transform_t *t, event_outline_t *row, const event_outline_t *v,
                           sb_err_t *err)
{
    size_t len = strlen(t->field);
    bool found = false;
    for (int i = 0; i < row->n; i++) {
        if (!member_is(&row->members[i], t->field, len)) continue;
        row->members[i].value = *v;
        found = true;
    }
    if (found) return 0;
    event_member_t *m = scratch(st, sizeof(*m) * (size_t)(row->n + 1), err);
    if (!m) return SB_ENOMEM;
    if (row->n) memcpy(m, row->members, sizeof(*m) * (size_t)row->n);
    m[row->n] = (event_member_t){.name_raw = (const uint8_t *)t->field_json,
                                 .name_raw_len = (int32_t)strlen(t->field_json),
                                 .name = t->field,
                                 .name_len = (int32_t)len,
                                 .value = *v};
    row->members = m;
    row->n++;
    return 0;
}

static bool is_row_member(const event_member_t *m)
{
    return member_live(m) && m->value.expanded &&
           ((m->name_len == 6 && memcmp(m->name, "before", 6) == 0) ||
            (m->name_len == 5 && memcmp(m->name, "after", 5) == 0));
}

/* Applies mask, hash, rename or insert to the record's outline. */
static int apply_columns(apply_state_t *st, const transform_t *t, sb_err_t *err)
{
    int rc = outline_record(st, err);
    if (rc < 0) return rc;
    event_outline_t *value = &st->value;
    if (t->kind == T_INSERT) {
        if (!value->expanded) return 0;
        event_outline_t v;
        if ((rc = insert_text(st, t, &v, err)) < 0) return rc;
        for (int i = 0; i < value->n; i++) {
            if (!is_row_member(&value->members[i])) continue;
            if ((rc = insert_into_row(st, t, &value->members[i].value, &v, err)) < 0) return rc;
            st->value_dirty = true;
        }
        return 0;
    }
    if (t->kind != T_MASK) {
        /* hash and rename keep key and rows consistent, so the sink's primary key still
         * matches; masking a key would merge different rows into one, so keys are left. */
        if ((rc = transform_row(st, t, &st->key, err)) < 0) return rc;
        st->key_dirty = st->key_dirty || rc == 1;
    }
    for (int i = 0; i < value->n; i++) {
        if (!is_row_member(&value->members[i])) continue;
        if ((rc = transform_row(st, t, &value->members[i].value, err)) < 0) return rc;
        st->value_dirty = st->value_dirty || rc == 1;
    }
    return 0;
}

/* The size of an edited object written compactly from its member list. */
static size_t row_size(const event_outline_t *row)
{
    size_t n = 2;
    bool first = true;
    for (int i = 0; i < row->n; i++) {
        const event_member_t *m = &row->members[i];
        if (!member_live(m)) continue;
        n += (first ? 0 : 1) + (size_t)m->name_raw_len + 1 + (size_t)m->value.raw_len;
        first = false;
    }
    return n;
}

static char *row_write(char *o, const event_outline_t *row)
{
    *o++ = '{';
    bool first = true;
    for (int i = 0; i < row->n; i++) {
        const event_member_t *m = &row->members[i];
        if (!member_live(m)) continue;
        if (!first) *o++ = ',';
        memcpy(o, m->name_raw, (size_t)m->name_raw_len);
        o += m->name_raw_len;
        *o++ = ':';
        memcpy(o, m->value.raw, (size_t)m->value.raw_len);
        o += m->value.raw_len;
        first = false;
    }
    *o++ = '}';
    return o;
}

/* Makes room for n bytes in a result buffer that is kept across records. */
static char *reserve(char **buf, size_t *cap, size_t n)
{
    if (n > *cap || !*buf) {
        size_t c = n < 256 ? 256 : n + n / 4;
        char *b = realloc(*buf, c);
        if (!b) return NULL;
        *buf = b;
        *cap = c;
    }
    return *buf;
}

/* Writes the edited key and value into out's buffers. */
static int write_result(apply_state_t *st, connect_transformed_t *out, sb_err_t *err)
{
    if (st->key_dirty) {
        size_t n = row_size(&st->key);
        char *o = reserve(&out->key_buf, &out->key_cap, n);
        if (!o) return sb_err_set(err, SB_ENOMEM, "transforms: out of memory");
        row_write(o, &st->key);
        out->rec.key = (sb_slice_t){(const uint8_t *)o, (int32_t)n};
    }
    if (st->value_dirty) {
        const event_outline_t *v = &st->value;
        const uint8_t *in = st->in->value.p, *in_end = in + st->in->value.len;
        size_t n = (size_t)st->in->value.len;
        for (int i = 0; i < v->n; i++)
            if (is_row_member(&v->members[i]))
                n = n - (size_t)v->members[i].value.raw_len + row_size(&v->members[i].value);
        char *o = reserve(&out->value_buf, &out->value_cap, n), *start = o;
        if (!o) return sb_err_set(err, SB_ENOMEM, "transforms: out of memory");
        /* Members are in document order, so the untouched bytes between edited rows are
         * copied front to back. */
        const uint8_t *cursor = in;
        for (int i = 0; i < v->n; i++) {
            const event_outline_t *row = &v->members[i].value;
            if (!is_row_member(&v->members[i])) continue;
            memcpy(o, cursor, (size_t)(row->raw - cursor));
            o += row->raw - cursor;
            o = row_write(o, row);
            cursor = row->raw + row->raw_len;
        }
        memcpy(o, cursor, (size_t)(in_end - cursor));
        o += in_end - cursor;
        out->rec.value = (sb_slice_t){(const uint8_t *)start, (int32_t)(o - start)};
    }
    return 0;
}

/* The op a filter sees: a tombstone counts as the delete before it. */
static char op_of(apply_state_t *st)
{
    if (st->in->value.len < 0) return 'd';
    if (st->outlined) {
        const event_member_t *op = member_find(&st->value, "op");
        return op && op->value.value.type == EVENT_JSON_STRING && op->value.value.len == 1 ? op->value.value.text[0]
                                                                                             : 0;
    }
    connect_event_summary_t env;
    if (connect_event_scan(st->in->value.p, (size_t)st->in->value.len, &env) < 0) return -1;
    return env.op;
}

/* Rewrites the topic when the route's regex matches it; returns the topic to use. */
static const char *route_topic(const transform_t *tr, const char *topic, connect_transformed_t *out)
{
    regmatch_t m[10];
    if (regexec(&tr->re, topic, 10, m, 0) != 0) return topic;
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
    return out->topic_buf ? out->topic_buf : topic;
}

int connect_transforms_apply(const connect_transforms_t *t, const connect_record_t *in,
                             connect_transformed_t *out, sb_err_t *err)
{
    out->rec = *in;
    if (connect_transforms_empty(t)) return 1;
    apply_state_t st = {.in = in};
    event_arena_init(&st.arena);
    const char *topic = in->topic;
    int rc = 1;
    for (int i = 0; i < t->n && rc == 1; i++) {
        const transform_t *tr = &t->items[i];
        st.alias = tr->alias;
        switch (tr->kind) {
        case T_FILTER: {
            char op = op_of(&st);
            if (op == (char)-1) {
                rc = sb_err_set(err, SB_EINVAL, "transform %s: the value is not a JSON change event", tr->alias);
                break;
            }
            bool listed = op && strchr(tr->ops, op);
            if (tr->include != listed) rc = 0;
            break;
        }
        case T_ROUTE:
            topic = route_topic(tr, topic, out);
            break;
        default: {
            int r = apply_columns(&st, tr, err);
            if (r < 0) rc = r;
            break;
        }
        }
    }
    if (rc == 1) {
        out->rec.topic = topic;
        int r = write_result(&st, out, err);
        if (r < 0) rc = r;
    }
    event_arena_deinit(&st.arena);
    return rc;
}
