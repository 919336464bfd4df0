#include "cassandra/schema.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void cass_schema_init(cass_schema_t *s)
{
    memset(s, 0, sizeof(*s));
}

static void table_free(cass_table_t *t)
{
    if (!t) return;
    for (int i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].type);
    }
    free(t->cols);
    free(t->pk);
    free(t->ck);
    free(t->keyspace);
    free(t->name);
    free(t);
}

static void udt_free(cass_udt_t *u)
{
    if (!u) return;
    for (int i = 0; i < u->nfields; i++) {
        if (u->field_names) free(u->field_names[i]);
        if (u->field_types) free(u->field_types[i]);
    }
    free(u->field_names);
    free(u->field_types);
    free(u->keyspace);
    free(u->name);
    free(u);
}

void cass_schema_deinit(cass_schema_t *s)
{
    for (int i = 0; i < s->ntables; i++) table_free(s->tables[i]);
    free(s->tables);
    for (int i = 0; i < s->nudts; i++) udt_free(s->udts[i]);
    free(s->udts);
    memset(s, 0, sizeof(*s));
}

int cass_schema_add_udt(cass_schema_t *s, const char *ks, const char *name, int nfields, const char *const *field_names,
                        const char *const *field_types, sb_err_t *err)
{
    if (nfields < 0 || nfields > 32767) return sb_err_set(err, SB_EINVAL, "type %s.%s: %d fields", ks, name, nfields);
    if (s->nudts == s->udts_cap) {
        int cap = s->udts_cap ? s->udts_cap * 2 : 4;
        cass_udt_t **p = realloc(s->udts, (size_t)cap * sizeof(*p));
        if (!p) return SB_ENOMEM;
        s->udts = p;
        s->udts_cap = cap;
    }
    cass_udt_t *u = calloc(1, sizeof(*u));
    if (!u) return SB_ENOMEM;
    u->keyspace = strdup(ks);
    u->name = strdup(name);
    u->field_names = calloc((size_t)(nfields ? nfields : 1), sizeof(char *));
    u->field_types = calloc((size_t)(nfields ? nfields : 1), sizeof(char *));
    bool ok = u->keyspace && u->name && u->field_names && u->field_types;
    for (int i = 0; ok && i < nfields; i++) {
        u->field_names[i] = strdup(field_names[i]);
        u->field_types[i] = strdup(field_types[i]);
        u->nfields = i + 1;
        ok = u->field_names[i] && u->field_types[i];
    }
    if (!ok) {
        udt_free(u);
        return SB_ENOMEM;
    }
    s->udts[s->nudts++] = u;
    return 0;
}

const cass_udt_t *cass_schema_find_udt(const cass_schema_t *s, const char *ks, const char *type)
{
    char name[256];
    const char *p = type;
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == ' ') n--;
    if (n > 8 && !strncmp(p, "frozen<", 7) && p[n - 1] == '>') {
        p += 7;
        n -= 8;
        while (n > 0 && *p == ' ') p++, n--;
        while (n > 0 && p[n - 1] == ' ') n--;
    }
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') p++, n -= 2;
    if (n == 0 || n >= sizeof(name) || memchr(p, '<', n)) return NULL;
    memcpy(name, p, n);
    name[n] = '\0';
    for (int i = 0; i < s->nudts; i++)
        if (!strcmp(s->udts[i]->keyspace, ks) && !strcmp(s->udts[i]->name, name)) return s->udts[i];
    return NULL;
}

const cass_table_t *cass_schema_find(const cass_schema_t *s, const uint8_t id[16])
{
    for (int i = 0; i < s->ntables; i++)
        if (memcmp(s->tables[i]->id, id, 16) == 0) return s->tables[i];
    return NULL;
}

int cass_schema_add_table(cass_schema_t *s, const uint8_t id[16], const char *keyspace, const char *name,
                          cass_table_t **out, sb_err_t *err)
{
    cass_table_t *t = calloc(1, sizeof(*t));
    if (!t) return SB_ENOMEM;
    memcpy(t->id, id, 16);
    t->keyspace = strdup(keyspace);
    t->name = strdup(name);
    if (!t->keyspace || !t->name) {
        table_free(t);
        return SB_ENOMEM;
    }
    for (int i = 0; i < s->ntables; i++) {
        if (memcmp(s->tables[i]->id, id, 16) == 0) {
            table_free(s->tables[i]);
            s->tables[i] = t;
            *out = t;
            return 0;
        }
    }
    if (s->ntables == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        cass_table_t **p = realloc(s->tables, (size_t)cap * sizeof(*p));
        if (!p) {
            table_free(t);
            return SB_ENOMEM;
        }
        s->tables = p;
        s->cap = cap;
    }
    s->tables[s->ntables++] = t;
    *out = t;
    return 0;
}

/* ----- CQL type strings ----- */

typedef struct type_parser {
    const char *p;
    bool bad;
} type_parser_t;

static void skip_ws(type_parser_t *tp)
{
    while (*tp->p == ' ') tp->p++;
}

/* Reads an identifier (or a quoted custom class name) into buf. */
static void read_name(type_parser_t *tp, char *buf, size_t cap)
{
    skip_ws(tp);
    size_t n = 0;
    if (*tp->p == '\'') {
        tp->p++;
        while (*tp->p && *tp->p != '\'') {
            if (n + 1 < cap) buf[n++] = *tp->p;
            tp->p++;
        }
        if (*tp->p != '\'') tp->bad = true;
        else tp->p++;
    } else if (*tp->p == '"') {
        tp->p++;
        while (*tp->p && *tp->p != '"') {
            if (n + 1 < cap) buf[n++] = *tp->p;
            tp->p++;
        }
        if (*tp->p != '"') tp->bad = true;
        else tp->p++;
    } else {
        while (isalnum((unsigned char)*tp->p) || *tp->p == '_' || *tp->p == '.') {
            if (n + 1 < cap) buf[n++] = (char)tolower((unsigned char)*tp->p);
            tp->p++;
        }
    }
    buf[n] = '\0';
    if (n == 0) tp->bad = true;
}

static bool eat(type_parser_t *tp, char c)
{
    skip_ws(tp);
    if (*tp->p != c) return false;
    tp->p++;
    return true;
}

/* Fixed value lengths, as the AbstractType subclasses override valueLengthIfFixed: only these
 * types write values without a length prefix. (smallint, tinyint, date, time, counter and
 * every text type are length-prefixed.) */
static int fixed_length_of(const char *name)
{
    static const struct {
        const char *name;
        int len;
    } fixed[] = {
        {"boolean", 1}, {"int", 4}, {"float", 4}, {"bigint", 8}, {"double", 8}, {"timestamp", 8},
        {"uuid", 16}, {"timeuuid", 16}, {"empty", 0},
        {"org.apache.cassandra.db.marshal.booleantype", 1}, {"org.apache.cassandra.db.marshal.int32type", 4},
        {"org.apache.cassandra.db.marshal.floattype", 4}, {"org.apache.cassandra.db.marshal.longtype", 8},
        {"org.apache.cassandra.db.marshal.doubletype", 8}, {"org.apache.cassandra.db.marshal.timestamptype", 8},
        {"org.apache.cassandra.db.marshal.datetype", 8}, {"org.apache.cassandra.db.marshal.uuidtype", 16},
        {"org.apache.cassandra.db.marshal.timeuuidtype", 16}, {"org.apache.cassandra.db.marshal.lexicaluuidtype", 16},
        {"org.apache.cassandra.db.marshal.emptytype", 0},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strcmp(fixed[i].name, name) == 0) return fixed[i].len;
    return -1;
}

/* Parses one type; sets *complex for a top-level non-frozen collection or UDT and *fixed_len. */
static void parse_type(type_parser_t *tp, bool top, bool frozen, bool *complex, int *fixed_len, int depth)
{
    char name[160];
    if (depth > 32) {
        tp->bad = true;
        return;
    }
    read_name(tp, name, sizeof(name));
    if (tp->bad) return;
    *fixed_len = -1;
    *complex = false;
    bool sub_complex;
    int sub_fixed;
    if (strcmp(name, "frozen") == 0) {
        if (!eat(tp, '<')) {
            tp->bad = true;
            return;
        }
        parse_type(tp, top, true, complex, fixed_len, depth + 1);
        *complex = false;
        *fixed_len = -1;
        if (!eat(tp, '>')) tp->bad = true;
        return;
    }
    if (strcmp(name, "list") == 0 || strcmp(name, "set") == 0 || strcmp(name, "map") == 0 ||
        strcmp(name, "tuple") == 0) {
        if (!eat(tp, '<')) {
            tp->bad = true;
            return;
        }
        do parse_type(tp, false, true, &sub_complex, &sub_fixed, depth + 1);
        while (!tp->bad && eat(tp, ','));
        if (!eat(tp, '>')) tp->bad = true;
        /* Tuples are always frozen; collections are complex unless frozen. */
        *complex = top && !frozen && strcmp(name, "tuple") != 0;
        return;
    }
    if (strcmp(name, "vector") == 0) {
        if (!eat(tp, '<')) {
            tp->bad = true;
            return;
        }
        parse_type(tp, false, true, &sub_complex, &sub_fixed, depth + 1);
        if (!eat(tp, ',')) {
            tp->bad = true;
            return;
        }
        skip_ws(tp);
        long n = strtol(tp->p, (char **)&tp->p, 10);
        if (!eat(tp, '>') || n <= 0 || n > 1 << 20) {
            tp->bad = true;
            return;
        }
        *fixed_len = sub_fixed >= 0 ? (int)(sub_fixed * n) : -1;
        return;
    }
    int f = fixed_length_of(name);
    if (f >= 0) {
        *fixed_len = f;
        return;
    }
    static const char *const variable[] = {"ascii", "text", "varchar", "blob", "varint", "decimal", "inet",
                                           "date", "time", "smallint", "tinyint", "duration", "counter"};
    for (size_t i = 0; i < sizeof(variable) / sizeof(variable[0]); i++)
        if (strcmp(variable[i], name) == 0) return;
    if (strchr(name, '.')) return; /* a custom type class: length-prefixed */
    /* Anything else is a user-defined type name: complex unless frozen (Cassandra 3.6+). */
    *complex = top && !frozen;
}

int cass_type_info(const char *type, bool *complex, int *fixed_len)
{
    type_parser_t tp = {type, false};
    bool c = false;
    int f = -1;
    parse_type(&tp, true, false, &c, &f, 0);
    skip_ws(&tp);
    if (tp.bad || *tp.p != '\0') return SB_EINVAL;
    *complex = c;
    *fixed_len = f;
    return 0;
}

static int add_column(cass_table_t *t, const char *name, cass_column_kind_t kind, int position, const char *type,
                      bool reversed, bool dropped, sb_err_t *err)
{
    bool complex;
    int fixed;
    if (cass_type_info(type, &complex, &fixed) != 0)
        return sb_err_set(err, SB_EINVAL, "column %s.%s: cannot parse type %.100s", t->name, name, type);
    if (cass_table_column(t, (const uint8_t *)name, strlen(name)) >= 0)
        return sb_err_set(err, SB_EEXIST, "column %s.%s defined twice", t->name, name);
    if (t->ncols == t->cols_cap) {
        int cap = t->cols_cap ? t->cols_cap * 2 : 8;
        cass_column_t *p = realloc(t->cols, (size_t)cap * sizeof(*p));
        if (!p) return SB_ENOMEM;
        t->cols = p;
        t->cols_cap = cap;
    }
    cass_column_t *c = &t->cols[t->ncols];
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    c->type = strdup(type);
    if (!c->name || !c->type) {
        free(c->name);
        free(c->type);
        return SB_ENOMEM;
    }
    c->kind = kind;
    c->position = position;
    c->reversed = reversed;
    c->complex = complex && (kind == CASS_COL_REGULAR || kind == CASS_COL_STATIC);
    c->fixed_len = fixed;
    c->dropped = dropped;
    t->ncols++;
    return 0;
}

int cass_table_add_column(cass_table_t *t, const char *name, const char *kind, int position, const char *type,
                          const char *clustering_order, sb_err_t *err)
{
    cass_column_kind_t k;
    if (strcmp(kind, "partition_key") == 0) k = CASS_COL_PARTITION_KEY;
    else if (strcmp(kind, "clustering") == 0) k = CASS_COL_CLUSTERING;
    else if (strcmp(kind, "regular") == 0) k = CASS_COL_REGULAR;
    else if (strcmp(kind, "static") == 0) k = CASS_COL_STATIC;
    else return sb_err_set(err, SB_EINVAL, "column %s.%s: unknown kind %.40s", t->name, name, kind);
    if ((k == CASS_COL_PARTITION_KEY || k == CASS_COL_CLUSTERING) && (position < 0 || position > 1024))
        return sb_err_set(err, SB_EINVAL, "key column %s.%s: bad position %d", t->name, name, position);
    bool reversed = clustering_order && strcmp(clustering_order, "desc") == 0;
    return add_column(t, name, k, k == CASS_COL_REGULAR || k == CASS_COL_STATIC ? -1 : position, type, reversed,
                      false, err);
}

int cass_table_add_dropped_column(cass_table_t *t, const char *name, const char *type, sb_err_t *err)
{
    return add_column(t, name, CASS_COL_REGULAR, -1, type, false, true, err);
}

int cass_table_column(const cass_table_t *t, const uint8_t *name, size_t len)
{
    for (int i = 0; i < t->ncols; i++)
        if (strlen(t->cols[i].name) == len && memcmp(t->cols[i].name, name, len) == 0) return i;
    return -1;
}

static int key_order(cass_table_t *t, cass_column_kind_t kind, int **out, int *n, sb_err_t *err)
{
    int count = 0;
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].kind == kind) count++;
    free(*out);
    *out = NULL;
    *n = 0;
    if (count == 0) return 0;
    int *idx = calloc((size_t)count, sizeof(int));
    if (!idx) return SB_ENOMEM;
    for (int i = 0; i < count; i++) idx[i] = -1;
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols[i].kind != kind) continue;
        int pos = t->cols[i].position;
        if (pos >= count || idx[pos] >= 0) {
            free(idx);
            return sb_err_set(err, SB_EINVAL, "table %s.%s: key column positions are not 0..%d", t->keyspace,
                              t->name, count - 1);
        }
        idx[pos] = i;
    }
    *out = idx;
    *n = count;
    return 0;
}

int cass_table_finish(cass_table_t *t, sb_err_t *err)
{
    int rc = key_order(t, CASS_COL_PARTITION_KEY, &t->pk, &t->npk, err);
    if (rc == 0) rc = key_order(t, CASS_COL_CLUSTERING, &t->ck, &t->nck, err);
    if (rc == 0 && t->npk == 0) rc = sb_err_set(err, SB_EINVAL, "table %s.%s has no partition key", t->keyspace, t->name);
    return rc;
}

int cass_uuid_parse(const char *s, uint8_t out[16])
{
    int n = 0;
    for (; *s && n < 32; s++) {
        if (*s == '-') continue;
        int v = isdigit((unsigned char)*s) ? *s - '0'
                : (tolower((unsigned char)*s) >= 'a' && tolower((unsigned char)*s) <= 'f')
                    ? tolower((unsigned char)*s) - 'a' + 10
                    : -1;
        if (v < 0) return SB_EINVAL;
        if (n % 2 == 0) out[n / 2] = (uint8_t)(v << 4);
        else out[n / 2] |= (uint8_t)v;
        n++;
    }
    return n == 32 && *s == '\0' ? 0 : SB_EINVAL;
}

static void copy_trimmed(char *dst, size_t cap, const char *from, const char *to)
{
    while (from < to && *from == ' ') from++;
    while (to > from && to[-1] == ' ') to--;
    size_t n = (size_t)(to - from);
    if (n >= cap) n = cap - 1;
    memcpy(dst, from, n);
    dst[n] = '\0';
}

int cass_type_collection(const char *type, char *kind, char *elem, size_t elem_cap, char *value, size_t value_cap)
{
    while (*type == ' ') type++;
    size_t len = strlen(type);
    while (len && type[len - 1] == ' ') len--;
    const char *open = NULL;
    if (!strncmp(type, "list<", 5)) *kind = 'l', open = type + 5;
    else if (!strncmp(type, "set<", 4)) *kind = 's', open = type + 4;
    else if (!strncmp(type, "map<", 4)) *kind = 'm', open = type + 4;
    if (!open || len == 0 || type[len - 1] != '>' || elem_cap == 0 || value_cap == 0) return SB_EINVAL;
    const char *end = type + len - 1;
    const char *split = NULL;
    int depth = 0;
    for (const char *q = open; q < end; q++) {
        if (*q == '<') depth++;
        else if (*q == '>') depth--;
        else if (*q == ',' && depth == 0 && !split) split = q;
        if (depth < 0) return SB_EINVAL;
    }
    if (depth != 0 || (*kind == 'm') != (split != NULL)) return SB_EINVAL;
    copy_trimmed(elem, elem_cap, open, split ? split : end);
    value[0] = '\0';
    if (split) copy_trimmed(value, value_cap, split + 1, end);
    return elem[0] && (*kind != 'm' || value[0]) ? 0 : SB_EINVAL;
}
