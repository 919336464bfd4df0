/* Pure pieces of the ScyllaDB CDC source: see scylla_cdc.h. */
#include "connect/sources/scylla_cdc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

char scylla_op_kind(int op)
{
    switch (op) {
    case SCYLLA_OP_INSERT:
        return 'c';
    case SCYLLA_OP_UPDATE:
        return 'u';
    case SCYLLA_OP_ROW_DELETE:
    case SCYLLA_OP_PARTITION_DELETE:
        return 'd';
    case SCYLLA_OP_RANGE_START_INCL:
    case SCYLLA_OP_RANGE_START_EXCL:
    case SCYLLA_OP_RANGE_END_INCL:
    case SCYLLA_OP_RANGE_END_EXCL:
        return 'R';
    case SCYLLA_OP_PREIMAGE:
    case SCYLLA_OP_POSTIMAGE:
        return 'I';
    default:
        return 0;
    }
}

/* 100-ns intervals from the UUID epoch (1582-10-15) to the Unix epoch. */
#define UUID_EPOCH_OFFSET 0x01B21DD213814000LL

static int64_t timeuuid_ticks(const uint8_t u[16])
{
    uint64_t low = (uint64_t)u[0] << 24 | (uint64_t)u[1] << 16 | (uint64_t)u[2] << 8 | u[3];
    uint64_t mid = (uint64_t)u[4] << 8 | u[5];
    uint64_t hi = ((uint64_t)u[6] & 0x0F) << 8 | u[7];
    return (int64_t)(hi << 48 | mid << 32 | low);
}

int64_t scylla_timeuuid_ms(const uint8_t u[16])
{
    int64_t t = timeuuid_ticks(u) - UUID_EPOCH_OFFSET;
    /* floor division: times before 1970 stay ordered */
    return t >= 0 ? t / 10000 : -((-t + 9999) / 10000);
}

void scylla_timeuuid_max(int64_t ms, uint8_t out[16])
{
    uint64_t t = (uint64_t)(ms * 10000 + 9999 + UUID_EPOCH_OFFSET);
    out[0] = (uint8_t)(t >> 24);
    out[1] = (uint8_t)(t >> 16);
    out[2] = (uint8_t)(t >> 8);
    out[3] = (uint8_t)t;
    out[4] = (uint8_t)(t >> 40);
    out[5] = (uint8_t)(t >> 32);
    out[6] = (uint8_t)(0x10 | ((t >> 56) & 0x0F));
    out[7] = (uint8_t)(t >> 48);
    /* Signed byte order puts 0x7f last; Cassandra's maxTimeUUID uses the same bytes. */
    memset(out + 8, 0x7f, 8);
}

int scylla_timeuuid_cmp(const uint8_t a[16], const uint8_t b[16])
{
    int64_t ta = timeuuid_ticks(a), tb = timeuuid_ticks(b);
    if (ta != tb) return ta < tb ? -1 : 1;
    for (int i = 8; i < 16; i++) {
        int8_t x = (int8_t)a[i], y = (int8_t)b[i];
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

void scylla_uuid_format(const uint8_t u[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    int j = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[j++] = '-';
        out[j++] = hex[u[i] >> 4];
        out[j++] = hex[u[i] & 15];
    }
    out[j] = 0;
}

/* ---------------------------------------------------------------- seen set */

/* Open addressing with linear probing; pruning rebuilds the table, which is cheap next to the
 * reads that fill it (it runs once per safety pass). */
struct scylla_seen {
    scylla_change_id_t *slots;
    bool *used;
    size_t cap; /* power of two */
    size_t count;
};

static uint64_t id_hash(const scylla_change_id_t *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const uint8_t *p = (const uint8_t *)id;
    for (size_t i = 0; i < sizeof(id->stream) + sizeof(id->time); i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    h ^= (uint32_t)id->seq;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

static bool id_equal(const scylla_change_id_t *a, const scylla_change_id_t *b)
{
    return a->seq == b->seq && memcmp(a->stream, b->stream, 16) == 0 &&
           memcmp(a->time, b->time, 16) == 0;
}

scylla_seen_t *scylla_seen_new(void)
{
    scylla_seen_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->cap = 64;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    s->used = calloc(s->cap, sizeof(*s->used));
    if (!s->slots || !s->used) {
        scylla_seen_free(s);
        return NULL;
    }
    return s;
}

void scylla_seen_free(scylla_seen_t *s)
{
    if (!s) return;
    free(s->slots);
    free(s->used);
    free(s);
}

bool scylla_seen_contains(const scylla_seen_t *s, const scylla_change_id_t *id)
{
    for (size_t i = id_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->used[i]) return false;
        if (id_equal(&s->slots[i], id)) return true;
    }
}

static void put_slot(scylla_change_id_t *slots, bool *used, size_t cap,
                     const scylla_change_id_t *id)
{
    size_t i = id_hash(id) & (cap - 1);
    while (used[i])
        i = (i + 1) & (cap - 1);
    slots[i] = *id;
    used[i] = true;
}

static int rebuild(scylla_seen_t *s, size_t cap, int64_t prune_ms, bool prune)
{
    scylla_change_id_t *slots = calloc(cap, sizeof(*slots));
    bool *used = calloc(cap, sizeof(*used));
    if (!slots || !used) {
        free(slots);
        free(used);
        return SB_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->used[i]) continue;
        if (prune && scylla_timeuuid_ms(s->slots[i].time) <= prune_ms) continue;
        put_slot(slots, used, cap, &s->slots[i]);
        n++;
    }
    free(s->slots);
    free(s->used);
    s->slots = slots;
    s->used = used;
    s->cap = cap;
    s->count = n;
    return 0;
}

int scylla_seen_add(scylla_seen_t *s, const scylla_change_id_t *id)
{
    if (scylla_seen_contains(s, id)) return 0;
    if ((s->count + 1) * 2 > s->cap && rebuild(s, s->cap * 2, 0, false)) return SB_ENOMEM;
    put_slot(s->slots, s->used, s->cap, id);
    s->count++;
    return 1;
}

void scylla_seen_prune(scylla_seen_t *s, int64_t ms)
{
    size_t cap = s->cap;
    /* Shrink when mostly empty, so one burst does not keep a large table forever. */
    while (cap > 64 && s->count * 8 < cap)
        cap /= 2;
    if (rebuild(s, cap, ms, true) == 0) return;
    /* Out of memory for a new table: keep the old one; pruning is only an optimisation. */
}

size_t scylla_seen_count(const scylla_seen_t *s)
{
    return s->count;
}

/* ---------------------------------------------------------------- windows */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

bool scylla_fast_window(const scylla_progress_t *p, const scylla_window_cfg_t *c, int64_t now_ms,
                        int64_t *from, int64_t *to)
{
    int64_t end = min64(now_ms - c->lag_ms, p->gen_end_ms - 1);
    if (c->query_window_ms > 0 && p->fast_ms <= INT64_MAX - c->query_window_ms)
        end = min64(end, p->fast_ms + c->query_window_ms);
    if (end <= p->fast_ms) return false;
    *from = p->fast_ms;
    *to = end;
    return true;
}

bool scylla_safety_window(const scylla_progress_t *p, int64_t *from, int64_t *to)
{
    if (p->fast_ms <= p->final_ms) return false;
    *from = p->final_ms;
    *to = p->fast_ms;
    return true;
}

void scylla_safety_done(scylla_progress_t *p, const scylla_window_cfg_t *c, int64_t started_ms,
                        int64_t to)
{
    /* A change that was not visible when the pass started and is older than the confidence
     * window at that moment is assumed never to come; everything the pass read up to that
     * point is therefore final. */
    int64_t f = min64(to, started_ms - c->confidence_ms);
    if (p->gen_end_ms != INT64_MAX) f = min64(f, p->gen_end_ms - 1);
    if (f > p->final_ms) p->final_ms = f;
}

bool scylla_progress_finished(const scylla_progress_t *p)
{
    return p->gen_end_ms != INT64_MAX && p->final_ms >= p->gen_end_ms - 1;
}

/* ---------------------------------------------------------------- position */

static bool valid_chars(const char *s, const char *extra)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || strchr(extra, *s)))
            return false;
    return true;
}

bool scylla_valid_table_name(const char *s)
{
    const char *dot = strchr(s, '.');
    if (!dot) return valid_chars(s, "");
    if (strchr(dot + 1, '.') || dot == s || dot[1] == 0) return false;
    return valid_chars(s, ".") && strlen(s) < SCYLLA_NAME_MAX;
}

int scylla_pos_parse(const char *text, scylla_pos_entry_t **out, int *n, sb_err_t *err)
{
    *out = NULL;
    *n = 0;
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) return sb_err_set(err, SB_EINVAL, "scylla position is not JSON: %s", je.text);
    json_t *v = json_object_get(root, "v");
    json_t *groups = json_object_get(root, "groups");
    if (!json_is_object(root) || !json_is_integer(v) || json_integer_value(v) != 1 ||
        !json_is_array(groups)) {
        json_decref(root);
        return sb_err_set(
            err, SB_EINVAL,
            "scylla position must be {\"v\":1,\"groups\":[[\"ks.table\",generation_ms,group_key,"
            "final_ms,\"last\"],...]}");
    }
    size_t cnt = json_array_size(groups);
    scylla_pos_entry_t *e = calloc(cnt ? cnt : 1, sizeof(*e));
    if (!e) {
        json_decref(root);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *g = json_array_get(groups, i);
        json_t *tab = json_array_get(g, 0), *last = json_array_get(g, 4);
        if (!json_is_array(g) || json_array_size(g) != 5 || !json_is_string(tab) ||
            !scylla_valid_table_name(json_string_value(tab)) ||
            !strchr(json_string_value(tab), '.') || !json_is_integer(json_array_get(g, 1)) ||
            !json_is_integer(json_array_get(g, 2)) || !json_is_integer(json_array_get(g, 3)) ||
            !json_is_string(last) || json_string_length(last) >= sizeof(e[i].last) ||
            (json_string_length(last) && !valid_chars(json_string_value(last), "-/"))) {
            free(e);
            json_decref(root);
            return sb_err_set(err, SB_EINVAL,
                              "scylla position: group %zu is not "
                              "[\"ks.table\",generation_ms,group_key,final_ms,\"last\"]",
                              i);
        }
        snprintf(e[i].table, sizeof(e[i].table), "%s", json_string_value(tab));
        e[i].gen_ms = json_integer_value(json_array_get(g, 1));
        e[i].key = json_integer_value(json_array_get(g, 2));
        e[i].final_ms = json_integer_value(json_array_get(g, 3));
        snprintf(e[i].last, sizeof(e[i].last), "%s", json_string_value(last));
    }
    json_decref(root);
    *out = e;
    *n = (int)cnt;
    return 0;
}

void scylla_pos_write(sb_wr_t *w, const scylla_pos_entry_t *e, int n)
{
    sb_wr_bytes(w, "{\"v\":1,\"groups\":[", 17);
    for (int i = 0; i < n; i++) {
        char buf[SCYLLA_NAME_MAX + 160];
        /* Table names and `last` hold only characters that need no JSON escaping (checked by
         * the config validation and by scylla_pos_parse). */
        int len =
            snprintf(buf, sizeof(buf), "%s[\"%s\",%" PRId64 ",%" PRId64 ",%" PRId64 ",\"%s\"]",
                     i ? "," : "", e[i].table, e[i].gen_ms, e[i].key, e[i].final_ms, e[i].last);
        sb_wr_bytes(w, buf, (size_t)len);
    }
    sb_wr_bytes(w, "]}", 2);
}

int scylla_pos_snapshot(const char *text, int64_t *start_ms, int *done, int *units, sb_err_t *err)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) return sb_err_set(err, SB_EINVAL, "scylla position is not JSON: %s", je.text);
    json_t *snap = json_object_get(root, "snapshot");
    if (!snap) {
        json_decref(root);
        return 0;
    }
    json_t *st = json_object_get(snap, "start_ms"), *d = json_object_get(snap, "done"),
           *u = json_object_get(snap, "units");
    if (!json_is_integer(st) || !json_is_integer(d) || !json_is_integer(u) ||
        json_integer_value(u) < 1 || json_integer_value(u) > 1000000 || json_integer_value(d) < 0 ||
        json_integer_value(d) > json_integer_value(u)) {
        json_decref(root);
        return sb_err_set(err, SB_EINVAL,
                          "scylla position: snapshot must be "
                          "{\"start_ms\":..,\"done\":k,\"units\":u} with 0 <= k <= u");
    }
    *start_ms = json_integer_value(st);
    *done = (int)json_integer_value(d);
    *units = (int)json_integer_value(u);
    json_decref(root);
    return 1;
}

void scylla_pos_write_snapshot(sb_wr_t *w, int64_t start_ms, int done, int units)
{
    char buf[160];
    int len = snprintf(buf, sizeof(buf),
                       "{\"v\":1,\"snapshot\":{\"start_ms\":%" PRId64
                       ",\"done\":%d,\"units\":%d},\"groups\":[]}",
                       start_ms, done, units);
    sb_wr_bytes(w, buf, (size_t)len);
}

void scylla_token_range(int i, int n, int64_t *lo, int64_t *hi)
{
    /* The ring has 2^64 tokens; steps of 2^64 / n computed in unsigned arithmetic. */
    uint64_t step = UINT64_MAX / (uint64_t)n;
    *lo = i == 0 ? INT64_MIN : (int64_t)((uint64_t)INT64_MIN + step * (uint64_t)i);
    *hi = i == n - 1 ? INT64_MAX : (int64_t)((uint64_t)INT64_MIN + step * (uint64_t)(i + 1));
}
