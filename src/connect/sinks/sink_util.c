#include "connect/sinks/sink_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf_t *s)
{
    memset(s, 0, sizeof(*s));
}

void strbuf_deinit(strbuf_t *s)
{
    free(s->p);
    memset(s, 0, sizeof(*s));
}

void strbuf_reset(strbuf_t *s)
{
    s->len = 0;
    s->oom = false;
    if (s->p) s->p[0] = '\0';
}

static bool strbuf_grow(strbuf_t *s, size_t extra)
{
    if (s->oom) return false;
    if (s->len + extra + 1 <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) {
        s->oom = true;
        return false;
    }
    s->p = p;
    s->cap = cap;
    return true;
}

void strbuf_add(strbuf_t *s, const void *p, size_t n)
{
    if (!strbuf_grow(s, n)) return;
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

void strbuf_adds(strbuf_t *s, const char *str)
{
    strbuf_add(s, str, strlen(str));
}

void strbuf_addf(strbuf_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        strbuf_add(s, small, (size_t)n);
        return;
    }
    if (!strbuf_grow(s, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

static void add_quoted(strbuf_t *s, const char *text, char q)
{
    strbuf_add(s, &q, 1);
    const char *p = text;
    for (;;) {
        const char *hit = strchr(p, q);
        if (!hit) break;
        strbuf_add(s, p, (size_t)(hit - p) + 1);
        strbuf_add(s, &q, 1);
        p = hit + 1;
    }
    strbuf_adds(s, p);
    strbuf_add(s, &q, 1);
}

void strbuf_add_ident(strbuf_t *s, const char *name)
{
    add_quoted(s, name, '"');
}

void strbuf_add_literal(strbuf_t *s, const char *text)
{
    add_quoted(s, text, '\'');
}

const char *sink_config_str(const json_t *config, const char *key, const char *dflt)
{
    json_t *v = json_object_get(config, key);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_true(v)) return "true";
    if (json_is_false(v)) return "false";
    return dflt;
}

int sink_config_bool(const json_t *config, const char *key, bool dflt, bool *out)
{
    const char *v = sink_config_str(config, key, NULL);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (strcasecmp(v, "true") == 0) *out = true;
    else if (strcasecmp(v, "false") == 0) *out = false;
    else return -1;
    return 0;
}

static int expand(const char *format, const char *topic, char *out, size_t cap, char *why, size_t why_cap)
{
    const char *last_dot = topic ? strrchr(topic, '.') : NULL;
    const char *table = last_dot ? last_dot + 1 : topic;
    const char *schema = "";
    size_t schema_len = 0;
    if (last_dot) {
        const char *p = last_dot;
        while (p > topic && p[-1] != '.') p--;
        schema = p;
        schema_len = (size_t)(last_dot - p);
    }
    size_t o = 0;
    for (const char *f = format; *f;) {
        const char *piece = f;
        size_t len = 1;
        if (f[0] == '$' && f[1] == '{') {
            const char *close = strchr(f, '}');
            size_t name_len = close ? (size_t)(close - f - 2) : 0;
            if (close && name_len == 5 && memcmp(f + 2, "table", 5) == 0) {
                piece = table ? table : "";
                len = strlen(piece);
            } else if (close && name_len == 6 && memcmp(f + 2, "schema", 6) == 0) {
                piece = schema;
                len = schema_len;
            } else if (close && name_len == 5 && memcmp(f + 2, "topic", 5) == 0) {
                piece = topic ? topic : "";
                len = strlen(piece);
            } else {
                if (why) snprintf(why, why_cap, "unknown placeholder in \"%s\" (known: ${table}, ${schema}, ${topic})", format);
                return -1;
            }
            f = close + 1;
        } else {
            f++;
        }
        if (o + len >= cap) {
            if (why) snprintf(why, why_cap, "table name longer than %zu bytes", cap - 1);
            return -1;
        }
        memcpy(out + o, piece, len);
        o += len;
    }
    out[o] = '\0';
    if (o == 0 && topic) {
        if (why) snprintf(why, why_cap, "empty table name");
        return -1;
    }
    return 0;
}

int sink_table_name(const char *format, const char *topic, char *out, size_t cap)
{
    /* 64 = NAMEDATALEN: longer names would be truncated by PostgreSQL and collide. */
    return expand(format, topic, out, cap < 64 ? cap : 64, NULL, 0);
}

int sink_table_format_check(const char *format, char *why, size_t cap)
{
    char out[1024];
    if (!*format) {
        snprintf(why, cap, "must not be empty");
        return -1;
    }
    return expand(format, NULL, out, sizeof(out), why, cap);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool sink_topic_is_control(const char *topic)
{
    return ends_with(topic, ".heartbeat") || ends_with(topic, ".schema-changes") ||
           strcmp(topic, "heartbeat") == 0 || strcmp(topic, "schema-changes") == 0;
}

void sink_positions_reset(sink_positions_t *p)
{
    p->n = 0;
}

void sink_positions_deinit(sink_positions_t *p)
{
    free(p->items);
    memset(p, 0, sizeof(*p));
}

int sink_positions_note(sink_positions_t *p, const connect_record_t *rec)
{
    /* Batches usually hold few partitions and long runs of one: scan from the last one. */
    for (int i = p->n - 1; i >= 0; i--) {
        sink_position_t *it = &p->items[i];
        if (it->partition == rec->partition && strcmp(it->topic, rec->topic) == 0) {
            if (rec->offset + 1 > it->next_offset) it->next_offset = rec->offset + 1;
            return 0;
        }
    }
    if (strlen(rec->topic) >= sizeof(p->items[0].topic)) return -1;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 8;
        sink_position_t *items = realloc(p->items, sizeof(*items) * (size_t)cap);
        if (!items) return -1;
        p->items = items;
        p->cap = cap;
    }
    sink_position_t *it = &p->items[p->n++];
    snprintf(it->topic, sizeof(it->topic), "%s", rec->topic);
    it->partition = rec->partition;
    it->next_offset = rec->offset + 1;
    return 0;
}

int sink_split_fields(const char *list, char names[][64], int max)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (a == b || (size_t)(b - a) >= 64 || n == max) return -1;
        memcpy(names[n], a, (size_t)(b - a));
        names[n][b - a] = '\0';
        n++;
        if (!comma) break;
        p = comma + 1;
        if (!*p) return -1;
    }
    return n;
}

int sink_key_identity(strbuf_t *s, const event_row_t *row, char fields[][64], int nfields)
{
    for (int i = 0; i < nfields; i++) {
        const event_column_t *c = event_row_find(row, fields[i]);
        if (!c) return -1;
        /* type letter, 4-byte length, text: no printf on the hot path */
        char head[5];
        uint32_t len = (uint32_t)c->value.len;
        head[0] = (char)('a' + (int)c->value.type);
        memcpy(head + 1, &len, 4);
        strbuf_add(s, head, sizeof(head));
        if (c->value.text) strbuf_add(s, c->value.text, (size_t)c->value.len);
    }
    return s->oom ? -1 : 0;
}

void sink_keymap_deinit(sink_keymap_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

int sink_keymap_reset(sink_keymap_t *m, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    if (cap > m->cap) {
        void *slots = realloc(m->slots, sizeof(*m->slots) * cap);
        if (!slots) return -1;
        m->slots = slots;
        m->cap = cap;
    }
    memset(m->slots, 0, sizeof(*m->slots) * m->cap);
    for (size_t i = 0; i < m->cap; i++) m->slots[i].value = -1;
    m->n = 0;
    return 0;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: short keys, no adversary worth a SipHash */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct sink_keymap_slot *sink_keymap_slot(sink_keymap_t *m, const char *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct sink_keymap_slot *s = &m->slots[i];
        if (!s->key) {
            s->key = key;
            s->len = len;
            s->hash = h;
            m->n++;
            return s;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s;
    }
}
