/* ACL bindings, their index and Kafka's matching rules (see acl.h).
 *
 * Index: every distinct resource pattern (type, pattern type, name) is one entry in a hash
 * table, holding the rules (principal, host, operation, permission) bound to it. A check
 * looks up the literal name, the literal "*", and the name's prefixes at the lengths some
 * PREFIXED pattern of that type has (a per-type sorted list of lengths), computing the
 * prefix hashes incrementally in one pass over the name. So a check costs a handful of
 * hash probes whatever the number of bindings that do not apply. */
#include "security/acl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"

#define RTYPE_SLOTS 8 /* resource type values 0..7 */

typedef struct acl_rule {
    char *principal;
    char *host;
    int8_t operation;
    int8_t permission;
} acl_rule_t;

typedef struct acl_entry {
    struct acl_entry *hnext;
    uint64_t hash;
    int8_t resource_type;
    int8_t pattern_type;
    char *name;
    size_t name_len;
    acl_rule_t *rules;
    size_t nrules, cap;
} acl_entry_t;

typedef struct prefix_len {
    size_t len;
    size_t count; /* PREFIXED entries of this type with a name this long */
} prefix_len_t;

struct acl_store {
    acl_entry_t **buckets;
    size_t nbuckets;
    size_t nentries;
    size_t nbindings;
    prefix_len_t *plens[RTYPE_SLOTS]; /* sorted by len */
    size_t nplens[RTYPE_SLOTS];
};

/* ---- names ---- */

static const char *const rtype_names[] = {"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID",
                                          "DELEGATION_TOKEN", "USER"};
static const char *const ptype_names[] = {"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"};
static const char *const op_names[] = {"UNKNOWN", "ANY",    "ALL",      "READ",          "WRITE",
                                       "CREATE",  "DELETE", "ALTER",    "DESCRIBE",      "CLUSTER_ACTION",
                                       "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"};
static const char *const perm_names[] = {"UNKNOWN", "ANY", "DENY", "ALLOW"};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n ? names[v] : "UNKNOWN";
}

const char *acl_resource_type_name(int v) { return name_of(rtype_names, NELEM(rtype_names), v); }
const char *acl_pattern_type_name(int v) { return name_of(ptype_names, NELEM(ptype_names), v); }
const char *acl_operation_name(int v) { return name_of(op_names, NELEM(op_names), v); }
const char *acl_permission_name(int v) { return name_of(perm_names, NELEM(perm_names), v); }

/* Compares ignoring case, '_' and '-', so that "DESCRIBE_CONFIGS", "describe-configs" and
 * kafka-acls.sh's "DescribeConfigs" all parse. */
static int parse_name(const char *const *names, int n, const char *s)
{
    if (!s) return -1;
    for (int i = 1; i < n; i++) {
        const char *a = names[i], *b = s;
        for (;;) {
            while (*a == '_') a++;
            while (*b == '_' || *b == '-') b++;
            if (!*a || !*b || *a != (char)toupper((unsigned char)*b)) break;
            a++;
            b++;
        }
        if (!*a && !*b) return i;
    }
    return -1;
}

int acl_resource_type_parse(const char *s) { return parse_name(rtype_names, NELEM(rtype_names), s); }
int acl_pattern_type_parse(const char *s) { return parse_name(ptype_names, NELEM(ptype_names), s); }
int acl_operation_parse(const char *s) { return parse_name(op_names, NELEM(op_names), s); }
int acl_permission_parse(const char *s) { return parse_name(perm_names, NELEM(perm_names), s); }

/* ---- validation and filters ---- */

int acl_binding_validate(const acl_binding_t *b, sb_err_t *err)
{
    if (b->resource_type < ACL_RESOURCE_TOPIC || b->resource_type > ACL_RESOURCE_USER)
        return sb_err_set(err, SB_EINVAL, "resource type %d cannot be bound (TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID)",
                          b->resource_type);
    if (b->pattern_type != ACL_PATTERN_LITERAL && b->pattern_type != ACL_PATTERN_PREFIXED)
        return sb_err_set(err, SB_EINVAL, "pattern type %s cannot be bound (LITERAL or PREFIXED)",
                          acl_pattern_type_name(b->pattern_type));
    if (b->operation < ACL_OP_ALL || b->operation > ACL_OP_IDEMPOTENT_WRITE)
        return sb_err_set(err, SB_EINVAL, "operation %d cannot be bound", b->operation);
    if (b->permission != ACL_PERM_ALLOW && b->permission != ACL_PERM_DENY)
        return sb_err_set(err, SB_EINVAL, "permission type %d cannot be bound (ALLOW or DENY)", b->permission);
    if (!b->resource_name || !*b->resource_name) return sb_err_set(err, SB_EINVAL, "resource name is empty");
    if (b->resource_type == ACL_RESOURCE_CLUSTER &&
        (b->pattern_type != ACL_PATTERN_LITERAL || strcmp(b->resource_name, ACL_CLUSTER_NAME) != 0))
        return sb_err_set(err, SB_EINVAL, "the cluster resource is the literal name \"" ACL_CLUSTER_NAME "\"");
    if (b->pattern_type == ACL_PATTERN_PREFIXED && strcmp(b->resource_name, ACL_WILDCARD) == 0)
        return sb_err_set(err, SB_EINVAL, "a PREFIXED pattern cannot be \"*\" (use LITERAL \"*\")");
    const char *colon = b->principal ? strchr(b->principal, ':') : NULL;
    if (!colon || colon == b->principal || !colon[1])
        return sb_err_set(err, SB_EINVAL, "principal \"%s\" is not of the form Type:name (e.g. User:alice)",
                          b->principal ? b->principal : "");
    if (!b->host || !*b->host) return sb_err_set(err, SB_EINVAL, "host is empty (use \"*\" for any host)");
    return 0;
}

int acl_filter_validate(const acl_filter_t *f, sb_err_t *err)
{
    if (f->resource_type <= ACL_RESOURCE_UNKNOWN || f->resource_type > ACL_RESOURCE_USER)
        return sb_err_set(err, SB_EINVAL, "unknown resource type %d", f->resource_type);
    if (f->pattern_type <= ACL_PATTERN_UNKNOWN || f->pattern_type > ACL_PATTERN_PREFIXED)
        return sb_err_set(err, SB_EINVAL, "unknown pattern type %d", f->pattern_type);
    if (f->operation <= ACL_OP_UNKNOWN || f->operation > ACL_OP_IDEMPOTENT_WRITE)
        return sb_err_set(err, SB_EINVAL, "unknown operation %d", f->operation);
    if (f->permission <= ACL_PERM_UNKNOWN || f->permission > ACL_PERM_ALLOW)
        return sb_err_set(err, SB_EINVAL, "unknown permission type %d", f->permission);
    return 0;
}

static bool pattern_matches(const acl_filter_t *f, int8_t ptype, const char *name)
{
    switch (f->pattern_type) {
    case ACL_PATTERN_ANY:
        return !f->resource_name || strcmp(f->resource_name, name) == 0;
    case ACL_PATTERN_MATCH:
        /* Every binding that would apply to a resource called resource_name. */
        if (!f->resource_name) return true;
        if (ptype == ACL_PATTERN_LITERAL)
            return strcmp(name, f->resource_name) == 0 || strcmp(name, ACL_WILDCARD) == 0;
        return strncmp(f->resource_name, name, strlen(name)) == 0;
    default:
        return f->pattern_type == ptype && (!f->resource_name || strcmp(f->resource_name, name) == 0);
    }
}

static bool filter_matches_parts(const acl_filter_t *f, int8_t rtype, int8_t ptype, const char *name,
                                 const acl_rule_t *r)
{
    if (f->resource_type != ACL_RESOURCE_ANY && f->resource_type != rtype) return false;
    if (!pattern_matches(f, ptype, name)) return false;
    if (f->principal && strcmp(f->principal, r->principal) != 0) return false;
    if (f->host && strcmp(f->host, r->host) != 0) return false;
    if (f->operation != ACL_OP_ANY && f->operation != r->operation) return false;
    if (f->permission != ACL_PERM_ANY && f->permission != r->permission) return false;
    return true;
}

bool acl_filter_matches(const acl_filter_t *f, const acl_binding_t *b)
{
    acl_rule_t r = {(char *)b->principal, (char *)b->host, b->operation, b->permission};
    return filter_matches_parts(f, b->resource_type, b->pattern_type, b->resource_name, &r);
}

/* ---- hashing ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

/* Mixes the resource and pattern types into a name's running hash. */
static inline uint64_t key_hash(uint64_t name_hash, int8_t rtype, int8_t ptype)
{
    uint64_t h = name_hash ^ ((uint64_t)(uint8_t)rtype << 8 | (uint8_t)ptype);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t name_hash(const char *name, size_t len)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) h = fnv_step(h, (unsigned char)name[i]);
    return h;
}

static acl_entry_t *entry_find(const acl_store_t *s, uint64_t hash, int8_t rtype, int8_t ptype, const char *name,
                               size_t len)
{
    for (acl_entry_t *e = s->buckets[hash & (s->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == hash && e->resource_type == rtype && e->pattern_type == ptype && e->name_len == len &&
            memcmp(e->name, name, len) == 0)
            return e;
    return NULL;
}

/* ---- store ---- */

int acl_store_new(acl_store_t **out)
{
    acl_store_t *s = calloc(1, sizeof(*s));
    if (!s) return SB_ENOMEM;
    s->nbuckets = 64;
    s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
    if (!s->buckets) {
        free(s);
        return SB_ENOMEM;
    }
    *out = s;
    return 0;
}

static void entry_free(acl_entry_t *e)
{
    for (size_t i = 0; i < e->nrules; i++) {
        free(e->rules[i].principal);
        free(e->rules[i].host);
    }
    free(e->rules);
    free(e->name);
    free(e);
}

void acl_store_free(acl_store_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        acl_entry_t *e = s->buckets[i];
        while (e) {
            acl_entry_t *n = e->hnext;
            entry_free(e);
            e = n;
        }
    }
    for (int t = 0; t < RTYPE_SLOTS; t++) free(s->plens[t]);
    free(s->buckets);
    free(s);
}

size_t acl_store_count(const acl_store_t *s)
{
    return s->nbindings;
}

static int grow_buckets(acl_store_t *s)
{
    size_t n = s->nbuckets * 2;
    acl_entry_t **nb = calloc(n, sizeof(*nb));
    if (!nb) return SB_ENOMEM;
    for (size_t i = 0; i < s->nbuckets; i++) {
        acl_entry_t *e = s->buckets[i];
        while (e) {
            acl_entry_t *next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = nb;
    s->nbuckets = n;
    return 0;
}

/* Counts one more (delta 1) or one fewer (delta -1) PREFIXED entry of length len. */
static int plen_adjust(acl_store_t *s, int8_t rtype, size_t len, int delta)
{
    prefix_len_t *a = s->plens[rtype];
    size_t n = s->nplens[rtype], i = 0;
    while (i < n && a[i].len < len) i++;
    if (i < n && a[i].len == len) {
        a[i].count = (size_t)((long)a[i].count + delta);
        if (a[i].count == 0) {
            memmove(&a[i], &a[i + 1], (n - i - 1) * sizeof(*a));
            s->nplens[rtype]--;
        }
        return 0;
    }
    if (delta < 0) return 0;
    prefix_len_t *na = realloc(a, (n + 1) * sizeof(*a));
    if (!na) return SB_ENOMEM;
    memmove(&na[i + 1], &na[i], (n - i) * sizeof(*na));
    na[i].len = len;
    na[i].count = 1;
    s->plens[rtype] = na;
    s->nplens[rtype] = n + 1;
    return 0;
}

int acl_store_add(acl_store_t *s, const acl_binding_t *b, sb_err_t *err)
{
    int rc = acl_binding_validate(b, err);
    if (rc < 0) return rc;
    size_t len = strlen(b->resource_name);
    uint64_t h = key_hash(name_hash(b->resource_name, len), b->resource_type, b->pattern_type);
    acl_entry_t *e = entry_find(s, h, b->resource_type, b->pattern_type, b->resource_name, len);
    if (e) {
        for (size_t i = 0; i < e->nrules; i++) {
            acl_rule_t *r = &e->rules[i];
            if (r->operation == b->operation && r->permission == b->permission &&
                strcmp(r->principal, b->principal) == 0 && strcmp(r->host, b->host) == 0)
                return 0;
        }
    } else {
        if (s->nentries + 1 > s->nbuckets && grow_buckets(s) < 0) goto oom;
        e = calloc(1, sizeof(*e));
        if (!e) goto oom;
        e->name = strdup(b->resource_name);
        if (!e->name || (b->pattern_type == ACL_PATTERN_PREFIXED && plen_adjust(s, b->resource_type, len, 1) < 0)) {
            free(e->name);
            free(e);
            goto oom;
        }
        e->hash = h;
        e->resource_type = b->resource_type;
        e->pattern_type = b->pattern_type;
        e->name_len = len;
        e->hnext = s->buckets[h & (s->nbuckets - 1)];
        s->buckets[h & (s->nbuckets - 1)] = e;
        s->nentries++;
    }
    if (e->nrules == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 4;
        acl_rule_t *nr = realloc(e->rules, nc * sizeof(*nr));
        if (!nr) goto oom;
        e->rules = nr;
        e->cap = nc;
    }
    acl_rule_t *r = &e->rules[e->nrules];
    r->principal = strdup(b->principal);
    r->host = strdup(b->host);
    if (!r->principal || !r->host) {
        free(r->principal);
        free(r->host);
        goto oom;
    }
    r->operation = b->operation;
    r->permission = b->permission;
    e->nrules++;
    s->nbindings++;
    return 0;
oom:
    /* An entry left with no rules is harmless: checks treat it as absent (see lookups). */
    return sb_err_set(err, SB_ENOMEM, "out of memory adding an ACL");
}

static void binding_of(const acl_entry_t *e, const acl_rule_t *r, acl_binding_t *out)
{
    out->resource_type = e->resource_type;
    out->pattern_type = e->pattern_type;
    out->resource_name = e->name;
    out->principal = r->principal;
    out->host = r->host;
    out->operation = r->operation;
    out->permission = r->permission;
}

void acl_store_foreach(const acl_store_t *s, const acl_filter_t *f, void (*cb)(void *arg, const acl_binding_t *b),
                       void *arg)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const acl_entry_t *e = s->buckets[i]; e; e = e->hnext)
            for (size_t j = 0; j < e->nrules; j++) {
                if (f && !filter_matches_parts(f, e->resource_type, e->pattern_type, e->name, &e->rules[j]))
                    continue;
                acl_binding_t b;
                binding_of(e, &e->rules[j], &b);
                cb(arg, &b);
            }
}

size_t acl_store_remove(acl_store_t *s, const acl_filter_t *f, void (*cb)(void *arg, const acl_binding_t *b),
                        void *arg)
{
    size_t removed = 0;
    for (size_t i = 0; i < s->nbuckets; i++) {
        acl_entry_t **pe = &s->buckets[i];
        while (*pe) {
            acl_entry_t *e = *pe;
            size_t keep = 0;
            for (size_t j = 0; j < e->nrules; j++) {
                acl_rule_t *r = &e->rules[j];
                if (filter_matches_parts(f, e->resource_type, e->pattern_type, e->name, r)) {
                    if (cb) {
                        acl_binding_t b;
                        binding_of(e, r, &b);
                        cb(arg, &b);
                    }
                    free(r->principal);
                    free(r->host);
                    removed++;
                } else {
                    e->rules[keep++] = *r;
                }
            }
            s->nbindings -= e->nrules - keep;
            e->nrules = keep;
            if (keep == 0) {
                *pe = e->hnext;
                if (e->pattern_type == ACL_PATTERN_PREFIXED) plen_adjust(s, e->resource_type, e->name_len, -1);
                s->nentries--;
                entry_free(e);
            } else {
                pe = &e->hnext;
            }
        }
    }
    return removed;
}

static void clone_cb(void *arg, const acl_binding_t *b)
{
    acl_store_t *dst = arg;
    if (dst->nbindings == (size_t)-1) return; /* an earlier add failed */
    if (acl_store_add(dst, b, NULL) < 0) dst->nbindings = (size_t)-1;
}

int acl_store_clone(const acl_store_t *s, acl_store_t **out)
{
    acl_store_t *c;
    int rc = acl_store_new(&c);
    if (rc < 0) return rc;
    acl_store_foreach(s, NULL, clone_cb, c);
    if (c->nbindings == (size_t)-1) {
        c->nbindings = 0;
        acl_store_free(c);
        return SB_ENOMEM;
    }
    *out = c;
    return 0;
}

/* ---- authorization ---- */

static inline bool principal_matches(const acl_rule_t *r, const char *principal)
{
    return strcmp(r->principal, principal) == 0 || strcmp(r->principal, ACL_WILDCARD_PRINCIPAL) == 0;
}

static inline bool host_matches(const acl_rule_t *r, const char *host)
{
    return (r->host[0] == '*' && r->host[1] == 0) || strcmp(r->host, host) == 0;
}

/* Whether an ALLOW for rule_op grants op (Kafka's implied operations). */
static inline bool allow_grants(int rule_op, int op)
{
    if (rule_op == op || rule_op == ACL_OP_ALL) return true;
    if (op == ACL_OP_DESCRIBE)
        return rule_op == ACL_OP_READ || rule_op == ACL_OP_WRITE || rule_op == ACL_OP_DELETE ||
               rule_op == ACL_OP_ALTER;
    if (op == ACL_OP_DESCRIBE_CONFIGS) return rule_op == ACL_OP_ALTER_CONFIGS;
    return false;
}

typedef struct check_state {
    const char *principal;
    const char *host;
    int op;
    bool any_rules;
    bool denied;
    bool allowed;
} check_state_t;

static void check_entry(const acl_entry_t *e, check_state_t *st)
{
    if (!e) return;
    for (size_t i = 0; i < e->nrules; i++) {
        const acl_rule_t *r = &e->rules[i];
        st->any_rules = true;
        if (!principal_matches(r, st->principal) || !host_matches(r, st->host)) continue;
        if (r->permission == ACL_PERM_DENY) {
            if (r->operation == st->op || r->operation == ACL_OP_ALL) st->denied = true;
        } else if (allow_grants(r->operation, st->op)) {
            st->allowed = true;
        }
    }
}

acl_result_t acl_store_check(const acl_store_t *s, const char *principal, const char *host, int op, int resource_type,
                             const char *name, size_t name_len)
{
    if (resource_type < 0 || resource_type >= RTYPE_SLOTS) return ACL_RESULT_NO_BINDINGS;
    int8_t rt = (int8_t)resource_type;
    check_state_t st = {principal, host, op, false, false, false};
    if (s->nbindings == 0) return ACL_RESULT_NO_BINDINGS;

    const prefix_len_t *pl = s->plens[rt];
    size_t npl = s->nplens[rt], k = 0;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < name_len; i++) {
        h = fnv_step(h, (unsigned char)name[i]);
        while (k < npl && pl[k].len < i + 1) k++;
        if (k < npl && pl[k].len == i + 1)
            check_entry(entry_find(s, key_hash(h, rt, ACL_PATTERN_PREFIXED), rt, ACL_PATTERN_PREFIXED, name, i + 1),
                        &st);
    }
    check_entry(entry_find(s, key_hash(h, rt, ACL_PATTERN_LITERAL), rt, ACL_PATTERN_LITERAL, name, name_len), &st);
    if (!(name_len == 1 && name[0] == '*')) {
        uint64_t wh = fnv_step(FNV_OFFSET, '*');
        check_entry(entry_find(s, key_hash(wh, rt, ACL_PATTERN_LITERAL), rt, ACL_PATTERN_LITERAL, "*", 1), &st);
    }
    if (!st.any_rules) return ACL_RESULT_NO_BINDINGS;
    if (st.denied) return ACL_RESULT_DENIED;
    return st.allowed ? ACL_RESULT_ALLOWED : ACL_RESULT_DENIED;
}

/* Whether a DENY of (principal, host, op) applies to every resource the pattern names:
 * a literal "*", or a PREFIXED deny that is a prefix of the pattern, or (for a literal
 * pattern) a literal deny of the same name. */
static bool deny_covers(const acl_store_t *s, const check_state_t *st, int8_t rt, const acl_entry_t *allow_entry)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const acl_entry_t *e = s->buckets[i]; e; e = e->hnext) {
            if (e->resource_type != rt) continue;
            bool covers;
            if (e->pattern_type == ACL_PATTERN_LITERAL)
                covers = strcmp(e->name, ACL_WILDCARD) == 0 ||
                         (allow_entry->pattern_type == ACL_PATTERN_LITERAL && strcmp(e->name, allow_entry->name) == 0);
            else
                covers = e->name_len <= allow_entry->name_len &&
                         memcmp(e->name, allow_entry->name, e->name_len) == 0;
            if (!covers) continue;
            for (size_t j = 0; j < e->nrules; j++) {
                const acl_rule_t *r = &e->rules[j];
                if (r->permission == ACL_PERM_DENY && principal_matches(r, st->principal) &&
                    host_matches(r, st->host) && (r->operation == st->op || r->operation == ACL_OP_ALL))
                    return true;
            }
        }
    return false;
}

bool acl_store_allows_any(const acl_store_t *s, const char *principal, const char *host, int op, int resource_type)
{
    if (resource_type < 0 || resource_type >= RTYPE_SLOTS) return false;
    check_state_t st = {principal, host, op, false, false, false};
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const acl_entry_t *e = s->buckets[i]; e; e = e->hnext) {
            if (e->resource_type != resource_type) continue;
            for (size_t j = 0; j < e->nrules; j++) {
                const acl_rule_t *r = &e->rules[j];
                if (r->permission == ACL_PERM_ALLOW && principal_matches(r, principal) && host_matches(r, host) &&
                    allow_grants(r->operation, op) && !deny_covers(s, &st, (int8_t)resource_type, e))
                    return true;
            }
        }
    return false;
}

/* ---- persistence ---- */

static bool needs_escape(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || c == '%';
}

static void put_field(sb_wr_t *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (needs_escape(*p)) {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_wr_bytes(w, e, 3);
        } else {
            sb_wr_bytes(w, p, 1);
        }
    }
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a, b);
}

static int binding_cmp(const void *pa, const void *pb)
{
    const acl_binding_t *a = pa, *b = pb;
    int c;
    if (a->resource_type != b->resource_type) return a->resource_type - b->resource_type;
    if (a->pattern_type != b->pattern_type) return a->pattern_type - b->pattern_type;
    if ((c = cmp_str(a->resource_name, b->resource_name))) return c;
    if ((c = cmp_str(a->principal, b->principal))) return c;
    if ((c = cmp_str(a->host, b->host))) return c;
    if (a->operation != b->operation) return a->operation - b->operation;
    return a->permission - b->permission;
}

typedef struct collect {
    acl_binding_t *v;
    size_t n;
} collect_t;

static void collect_cb(void *arg, const acl_binding_t *b)
{
    collect_t *c = arg;
    c->v[c->n++] = *b;
}

int acl_store_serialize(const acl_store_t *s, char **out, size_t *out_len)
{
    collect_t c = {calloc(s->nbindings ? s->nbindings : 1, sizeof(acl_binding_t)), 0};
    if (!c.v) return SB_ENOMEM;
    acl_store_foreach(s, NULL, collect_cb, &c);
    qsort(c.v, c.n, sizeof(*c.v), binding_cmp);
    sb_wr_t w;
    sb_wr_init(&w, 256 + c.n * 64);
    static const char head[] = "# streambus ACLs v1: type pattern name principal host operation permission\n";
    sb_wr_bytes(&w, head, sizeof(head) - 1);
    for (size_t i = 0; i < c.n; i++) {
        const acl_binding_t *b = &c.v[i];
        const char *fields[] = {acl_resource_type_name(b->resource_type), acl_pattern_type_name(b->pattern_type),
                                b->resource_name, b->principal, b->host, acl_operation_name(b->operation),
                                acl_permission_name(b->permission)};
        for (int f = 0; f < 7; f++) {
            if (f) sb_wr_bytes(&w, " ", 1);
            put_field(&w, fields[f]);
        }
        sb_wr_bytes(&w, "\n", 1);
    }
    free(c.v);
    if (w.oom) {
        sb_wr_deinit(&w);
        return SB_ENOMEM;
    }
    char *buf = malloc(w.len + 1);
    if (!buf) {
        sb_wr_deinit(&w);
        return SB_ENOMEM;
    }
    memcpy(buf, w.buf, w.len);
    buf[w.len] = 0;
    *out = buf;
    *out_len = w.len;
    sb_wr_deinit(&w);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes one percent-encoded field of [p, end) into a malloc'ed string; NULL when bad
 * (a truncated or non-hex escape, or an encoded NUL). */
static char *decode_field(const char *p, const char *end)
{
    char *o = malloc((size_t)(end - p) + 1);
    if (!o) return NULL;
    size_t n = 0;
    while (p < end) {
        if (*p == '%') {
            int hi, lo;
            if (end - p < 3 || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0 || (hi == 0 && lo == 0)) {
                free(o);
                return NULL;
            }
            o[n++] = (char)(hi << 4 | lo);
            p += 3;
        } else {
            o[n++] = *p++;
        }
    }
    o[n] = 0;
    return o;
}

int acl_store_parse(acl_store_t *s, const char *source, const void *data, size_t len, sb_err_t *err)
{
    const char *p = data, *end = p + len;
    int line = 0, rc = 0;
    while (p < end && rc == 0) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *q = p;
        p = eol < end ? eol + 1 : end;
        if (q == eol || *q == '#') continue;
        char *f[7] = {0};
        int nf = 0;
        while (q < eol && nf < 7) {
            const char *sp = memchr(q, ' ', (size_t)(eol - q));
            if (!sp) sp = eol;
            f[nf] = decode_field(q, sp);
            if (!f[nf]) break;
            nf++;
            q = sp < eol ? sp + 1 : eol;
        }
        if (nf != 7 || q != eol) {
            rc = sb_err_set(err, SB_EINVAL, "%s:%d: expected 7 space-separated fields (type pattern name principal host "
                                            "operation permission)", source, line);
        } else {
            acl_binding_t b = {(int8_t)acl_resource_type_parse(f[0]), (int8_t)acl_pattern_type_parse(f[1]),
                               (int8_t)acl_operation_parse(f[5]), (int8_t)acl_permission_parse(f[6]),
                               f[2], f[3], f[4]};
            sb_err_t e2 = {0};
            if ((rc = acl_store_add(s, &b, &e2)) < 0) sb_err_set(err, rc, "%s:%d: %s", source, line, e2.msg);
        }
        for (int i = 0; i < 7; i++) free(f[i]);
    }
    return rc;
}
