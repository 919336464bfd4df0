#include "broker/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "common/yaml_keys.h"
#include "security/sasl.h"
#include "net/listener.h"
#include "net/tls.h"

/* A config file is a few kilobytes; the cap only stops a wrong path (a log file, a device)
 * from being read whole into memory. */
#define CONFIG_FILE_MAX_BYTES (1024 * 1024)

typedef enum {
    CFG_STRING,
    CFG_BOOL,
    CFG_INT,   /* plain integer */
    CFG_BYTES, /* integer with optional B/KiB/MiB/GiB/TiB suffix */
    CFG_MS,    /* integer milliseconds with optional ms/s/m/h/d suffix */
    CFG_ENUM,  /* one of enum_names; stored as int, the index in enum_names */
    CFG_LISTENERS, /* a list of listener mappings (sb_listeners_t), see parse_listeners */
} cfg_type_t;

/* Validates a string value; returns 0 or SB_EINVAL with the reason (without the key name). */
typedef int (*cfg_check_fn)(const char *value, sb_err_t *err);

typedef struct cfg_key {
    const char *name; /* dotted: section.key */
    cfg_type_t type;
    size_t offset;
    /* The default in the same text form a user would write, so that defaults go through the
     * parser and validation too and cannot drift out of the allowed range. */
    const char *def;
    int64_t min, max;
    const char *const *enum_names; /* NULL-terminated; index == stored value */
    cfg_check_fn check;
    const char *doc;    /* one line: the YAML comment and the docs table cell */
    const char *detail; /* optional extra sentence(s) for the docs only */
} cfg_key_t;

typedef struct cfg_section {
    const char *name;
    const char *doc;
} cfg_section_t;

static int check_listen(const char *value, sb_err_t *err);
static int check_listen_optional(const char *value, sb_err_t *err);
static int check_advertised(const char *value, sb_err_t *err);
static int check_nonempty(const char *value, sb_err_t *err);
static int check_sasl_mechanisms(const char *value, sb_err_t *err);
static int check_super_users(const char *value, sb_err_t *err);
static int listeners_from_text(sb_listeners_t *out, const char *text, size_t len, sb_err_t *err);

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_format_names[] = {"auto", "text", "json", NULL};
_Static_assert(SB_LOG_DEBUG == 0 && SB_LOG_INFO == 1 && SB_LOG_WARN == 2 && SB_LOG_ERROR == 3,
               "log_level_names must follow sb_log_level_t");
_Static_assert(SB_LOG_FORMAT_AUTO == 0 && SB_LOG_FORMAT_TEXT == 1 && SB_LOG_FORMAT_JSON == 2,
               "log_format_names must follow sb_log_format_t");
_Static_assert(sizeof(sb_log_level_t) == sizeof(int) && sizeof(sb_log_format_t) == sizeof(int),
               "enum keys are stored through an int pointer");

#define OFF(field) offsetof(sb_config_t, field)
#define I32MAX INT32_MAX
#define I64MAX INT64_MAX

static const cfg_section_t cfg_sections[] = {
    {"broker", "Kafka listener, identity, storage location and connection limits."},
    {"log", "Partition logs: segment size, retention and flushing."},
    {"groups", "Consumer-group coordination."},
    {"admin", "The admin HTTP server (`/health/live`, `/health/ready`, `/metrics`)."},
    {"authorizer", "Kafka ACLs (the ACLs section of docs/security.md): who may do what to which topic, group and the cluster."},
    {"logging", "The broker's own log output (stderr)."},
    {"sasl", "SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners (docs/security.md)."},
};

static const cfg_key_t cfg_keys[] = {
    {"broker.listen", CFG_STRING, OFF(broker.listen), "127.0.0.1:9092", 0, 0, NULL, check_listen,
     "host:port the Kafka listener binds; 0.0.0.0 or [::] for every interface", NULL},
    {"broker.advertised_listener", CFG_STRING, OFF(broker.advertised_listener), "", 0, 0, NULL,
     check_advertised, "host:port given to clients in Metadata responses",
     "Empty means broker.listen; when the listen host is 0.0.0.0 or ::, the machine's "
     "hostname is advertised instead."},
    {"broker.node_id", CFG_INT, OFF(broker.node_id), "0", 0, I32MAX, NULL, NULL,
     "this broker's node id in Metadata responses", NULL},
    {"broker.data_dir", CFG_STRING, OFF(broker.data_dir), "./data", 0, 0, NULL, check_nonempty,
     "directory holding partition logs and broker state; created if missing", NULL},
    {"broker.auto_create_topics", CFG_BOOL, OFF(broker.auto_create_topics), "true", 0, 0, NULL,
     NULL, "create a topic when a client produces to or asks Metadata for an unknown one", NULL},
    {"broker.default_partitions", CFG_INT, OFF(broker.default_partitions), "1", 1, 10000, NULL,
     NULL, "partition count of automatically created topics", NULL},
    {"broker.max_partitions_per_topic", CFG_INT, OFF(broker.max_partitions_per_topic), "10000", 1,
     1000000, NULL, NULL,
     "most partitions one topic may have; CreateTopics/CreatePartitions above it get INVALID_PARTITIONS",
     NULL},
    {"broker.max_request_bytes", CFG_BYTES, OFF(broker.max_request_bytes), "104857600", 1024,
     I32MAX, NULL, NULL, "largest request a client may send; larger ones close the connection",
     NULL},
    {"broker.max_connections", CFG_INT, OFF(broker.max_connections), "4096", 1, 1000000, NULL,
     NULL, "client connections accepted at once; further ones are refused", NULL},
    {"broker.idle_connection_timeout_ms", CFG_MS, OFF(broker.idle_connection_timeout_ms),
     "600000", 0, I64MAX, NULL, NULL, "close client connections idle this long; 0 = never",
     NULL},
    {"broker.listeners", CFG_LISTENERS, OFF(broker.listeners), "[]", 0, 0, NULL, NULL,
     "Kafka listeners, each with its own security protocol; empty = one PLAINTEXT listener on "
     "broker.listen",
     "Each entry is a mapping: `name`, `address` (host:port), `advertised` (host:port, optional), "
     "`protocol` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; defaults to the name when the name is "
     "one of those) and, for SSL and SASL_SSL, `tls: {cert, key, ca, client_auth: "
     "none|requested|required}`; SASL_PLAINTEXT and SASL_SSL listeners may name their own `sasl_mechanisms` "
     "(else sasl.enabled_mechanisms). When set, broker.listen and broker.advertised_listener must be "
     "left unset. See docs/security.md."},

    {"log.segment_bytes", CFG_BYTES, OFF(log.segment_bytes), "1073741824", 1048576, I32MAX, NULL,
     NULL, "roll to a new segment file when the active one reaches this size",
     "Bounded by 2 GiB because offset-index entries hold 32-bit file positions."},
    {"log.index_interval_bytes", CFG_BYTES, OFF(log.index_interval_bytes), "4096", 0, I32MAX,
     NULL, NULL, "bytes of log between two offset-index entries", NULL},
    {"log.retention_ms", CFG_MS, OFF(log.retention_ms), "604800000", -1, I64MAX, NULL, NULL,
     "delete segments whose newest record is older than this; -1 = keep forever", NULL},
    {"log.retention_bytes", CFG_BYTES, OFF(log.retention_bytes), "-1", -1, I64MAX, NULL, NULL,
     "delete oldest segments while a partition is larger than this; -1 = unlimited", NULL},
    {"log.retention_check_interval_ms", CFG_MS, OFF(log.retention_check_interval_ms), "300000",
     1, I64MAX, NULL, NULL, "how often retention is enforced", NULL},
    {"log.flush_interval_ms", CFG_MS, OFF(log.flush_interval_ms), "1000", 1, 86400000, NULL,
     NULL, "data from acks=0/1 producers is fdatasync'ed at least this often",
     "Producers using acks=all are always acknowledged only after fdatasync, by group commit, "
     "whatever this setting."},

    {"groups.initial_rebalance_delay_ms", CFG_MS, OFF(groups.initial_rebalance_delay_ms), "3000",
     0, 300000, NULL, NULL, "wait this long for more members before a new group's first rebalance",
     NULL},
    {"groups.session_timeout_min_ms", CFG_MS, OFF(groups.session_timeout_min_ms), "6000", 1,
     I32MAX, NULL, NULL, "smallest session timeout a consumer may ask for", NULL},
    {"groups.session_timeout_max_ms", CFG_MS, OFF(groups.session_timeout_max_ms), "1800000", 1,
     I32MAX, NULL, NULL, "largest session timeout a consumer may ask for",
     "Must be at least groups.session_timeout_min_ms."},
    {"groups.offsets_retention_ms", CFG_MS, OFF(groups.offsets_retention_ms), "604800000", 1,
     I64MAX, NULL, NULL, "committed offsets of an empty group are kept this long", NULL},

    {"admin.listen", CFG_STRING, OFF(admin.listen), "127.0.0.1:8080", 0, 0, NULL,
     check_listen_optional, "host:port of the admin HTTP server; \"\" disables it", NULL},

    {"authorizer.enabled", CFG_BOOL, OFF(authorizer.enabled), "false", 0, 0, NULL, NULL,
     "check every request against the ACLs (CreateAcls, `streambus ctl acl`)",
     "Off, every client may do everything and the ACL APIs answer SECURITY_DISABLED. ACLs are "
     "kept in data_dir/.acls."},
    {"authorizer.allow_everyone_if_no_acl_found", CFG_BOOL, OFF(authorizer.allow_everyone_if_no_acl_found),
     "false", 0, 0, NULL, NULL, "allow a request on a resource that no ACL names",
     "Kafka's allow.everyone.if.no.acl.found: with false, a resource nobody wrote an ACL for is closed."},
    {"authorizer.super_users", CFG_STRING, OFF(authorizer.super_users), "", 0, 0, NULL, check_super_users,
     "principals allowed everything, separated by ';' (e.g. User:admin;User:ops)", NULL},
    {"authorizer.audit_log", CFG_STRING, OFF(authorizer.audit_log), "", 0, 0, NULL, NULL,
     "file that authorization decisions are appended to as JSON lines; \"\" = the broker log",
     "Denials and ACL changes are always written; allowed requests only with authorizer.audit_allowed."},
    {"authorizer.audit_allowed", CFG_BOOL, OFF(authorizer.audit_allowed), "false", 0, 0, NULL, NULL,
     "also audit allowed requests (one line per resource checked)", NULL},
    {"sasl.enabled_mechanisms", CFG_STRING, OFF(sasl.enabled_mechanisms), "SCRAM-SHA-256,SCRAM-SHA-512", 0, 0,
     NULL, check_sasl_mechanisms, "SASL mechanisms offered on SASL_* listeners, comma-separated",
     "Known: SCRAM-SHA-256, SCRAM-SHA-512, PLAIN (only over SASL_SSL unless sasl.plain_without_tls), "
     "OAUTHBEARER (needs sasl.oauthbearer_secret_file)."},
    {"sasl.plain_without_tls", CFG_BOOL, OFF(sasl.plain_without_tls), "false", 0, 0, NULL, NULL,
     "development only: allow PLAIN on SASL_PLAINTEXT, where the password crosses the network in clear",
     NULL},
    {"sasl.connections_max_reauth_ms", CFG_MS, OFF(sasl.connections_max_reauth_ms), "0", 0, I64MAX, NULL, NULL,
     "longest SASL session before the client must re-authenticate (KIP-368); 0 = never",
     "Kafka's connections.max.reauth.ms: sent to clients as session_lifetime_ms; a request other than "
     "a re-authentication after it closes the connection."},
    {"sasl.oauthbearer_secret_file", CFG_STRING, OFF(sasl.oauthbearer_secret_file), "", 0, 0, NULL, NULL,
     "file with the HS256 secret (at least 32 bytes) that signs OAUTHBEARER tokens; \"\" refuses them",
     "The same JWT verifier as the HTTP APIs (src/http/auth.c): the algorithm is pinned, \"alg\": \"none\" "
     "and expired tokens are refused, the principal is the token's sub."},
    {"sasl.oauthbearer_expected_audience", CFG_STRING, OFF(sasl.oauthbearer_expected_audience), "", 0, 0, NULL,
     NULL, "an OAUTHBEARER token's \"aud\" must name this; \"\" = not checked",
     "Kafka's sasl.oauthbearer.expected.audience (one value here)."},
    {"sasl.oauthbearer_expected_issuer", CFG_STRING, OFF(sasl.oauthbearer_expected_issuer), "", 0, 0, NULL, NULL,
     "an OAUTHBEARER token's \"iss\" must equal this; \"\" = not checked",
     "Kafka's sasl.oauthbearer.expected.issuer."},
    {"sasl.max_failed_authentications", CFG_INT, OFF(sasl.max_failed_authentications), "10", 1, 1000000, NULL,
     NULL, "failed authentications one client address may make per window before it is refused", NULL},
    {"sasl.failed_authentication_window_ms", CFG_MS, OFF(sasl.failed_authentication_window_ms), "60000", 1,
     I64MAX, NULL, NULL, "the window of sasl.max_failed_authentications", NULL},
    {"sasl.failed_authentication_delay_ms", CFG_MS, OFF(sasl.failed_authentication_delay_ms), "100", 0, 60000,
     NULL, NULL, "a failed authentication is answered (and its connection closed) this late",
     "Kafka's connection.failed.authentication.delay.ms."},

    {"logging.level", CFG_ENUM, OFF(logging.level), "info", 0, 0, log_level_names, NULL,
     "least severe level written", NULL},
    {"logging.format", CFG_ENUM, OFF(logging.format), "auto", 0, 0, log_format_names, NULL,
     "line format; auto = text on a terminal, JSON otherwise", NULL},
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
#define CFG_NSECTIONS (sizeof(cfg_sections) / sizeof(cfg_sections[0]))

/* ----- small helpers ----- */

/* Copies s into out for use inside an error message: quoted, control bytes escaped, long
 * values cut, so that a binary file or a huge line still yields a readable one-line error. */
static const cfg_key_t *find_key(const char *name, size_t len)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strlen(cfg_keys[i].name) == len && memcmp(cfg_keys[i].name, name, len) == 0)
            return &cfg_keys[i];
    return NULL;
}

static bool is_section(const char *name, size_t len)
{
    for (size_t i = 0; i < CFG_NSECTIONS; i++)
        if (strlen(cfg_sections[i].name) == len && memcmp(cfg_sections[i].name, name, len) == 0)
            return true;
    return false;
}

/* Levenshtein distance capped at 64 characters: enough to suggest the key a typo meant. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Returns the known key or section name closest to an unknown one, or NULL if none is close
 * enough to be a plausible typo. */
static const char *suggest(const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = 3; /* suggest only within two edits */
    for (size_t i = 0; i < CFG_NKEYS + CFG_NSECTIONS; i++) {
        const char *cand = i < CFG_NKEYS ? cfg_keys[i].name : cfg_sections[i - CFG_NKEYS].name;
        size_t d = edit_distance(name, len, cand, strlen(cand));
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    return best;
}

static int unknown_key_error(sb_err_t *err, const char *name, size_t len)
{
    char q[160];
    sb_yaml_quote(q, sizeof(q), name, len);
    const char *hint = suggest(name, len);
    if (hint) return sb_err_set(err, SB_EINVAL, "unknown key %s (did you mean \"%s\"?)", q, hint);
    return sb_err_set(err, SB_EINVAL, "unknown key %s", q);
}

/* ----- value parsing ----- */

typedef struct unit {
    const char *suffix;
    int64_t factor;
} unit_t;

static const unit_t byte_units[] = {
    {"B", 1},
    {"KiB", 1024},
    {"MiB", 1024 * 1024},
    {"GiB", 1024 * 1024 * 1024},
    {"TiB", (int64_t)1024 * 1024 * 1024 * 1024},
    {NULL, 0},
};

static const unit_t ms_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}, {NULL, 0},
};

/* Parses [-]digits[suffix] from s[0..len). Returns 0, or -1 if the text is not of that form,
 * or -2 if it is but does not fit in int64. */
static int parse_integer(const char *s, size_t len, const unit_t *units, int64_t *out)
{
    size_t i = 0;
    bool negative = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
    size_t digits_start = i;
    int64_t v = 0;
    bool overflow = false;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        int d = s[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v)) overflow = true;
    }
    if (i == digits_start) return -1;
    int64_t factor = 1;
    if (i < len) {
        if (!units) return -1;
        const unit_t *u = units;
        for (; u->suffix; u++)
            if (strlen(u->suffix) == len - i && memcmp(u->suffix, s + i, len - i) == 0) break;
        if (!u->suffix) return -1;
        factor = u->factor;
    }
    if (overflow || __builtin_mul_overflow(v, factor, &v)) return -2;
    *out = negative ? -v : v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0) return *out = false, 0;
    }
    return -1;
}

static void *field_of(sb_config_t *c, const cfg_key_t *k)
{
    return (char *)c + k->offset;
}

static const void *const_field_of(const sb_config_t *c, const cfg_key_t *k)
{
    return (const char *)c + k->offset;
}

/* Parses and validates value (len bytes, NUL-terminated) for key k and stores it in c.
 * Error messages start with the key name; callers prefix the location. */
static int set_value(sb_config_t *c, const cfg_key_t *k, const char *value, size_t len,
                     sb_err_t *err)
{
    char q[160];
    if (strlen(value) != len)
        return sb_err_set(err, SB_EINVAL, "%s: value contains a NUL byte", k->name);
    switch (k->type) {
    case CFG_STRING: {
        if (k->check) {
            sb_err_t why;
            if (k->check(value, &why) < 0)
                return sb_err_set(err, SB_EINVAL, "%s: %s: %s", k->name,
                                  sb_yaml_quote(q, sizeof(q), value, len), why.msg);
        }
        char *copy = strdup(value);
        if (!copy) return sb_err_set(err, SB_ENOMEM, "%s: out of memory", k->name);
        char **slot = field_of(c, k);
        free(*slot);
        *slot = copy;
        return 0;
    }
    case CFG_BOOL: {
        bool b;
        if (parse_bool(value, &b) < 0)
            return sb_err_set(err, SB_EINVAL, "%s: %s is not a boolean (true or false)", k->name,
                              sb_yaml_quote(q, sizeof(q), value, len));
        *(bool *)field_of(c, k) = b;
        return 0;
    }
    case CFG_INT:
    case CFG_BYTES:
    case CFG_MS: {
        const unit_t *units = k->type == CFG_BYTES ? byte_units : k->type == CFG_MS ? ms_units : NULL;
        int64_t v;
        int rc = parse_integer(value, len, units, &v);
        if (rc == -1) {
            sb_yaml_quote(q, sizeof(q), value, len);
            if (k->type == CFG_BYTES)
                return sb_err_set(err, SB_EINVAL,
                                  "%s: %s is not a size (an integer, optionally followed by B, KiB, "
                                  "MiB, GiB or TiB)",
                                  k->name, q);
            if (k->type == CFG_MS)
                return sb_err_set(err, SB_EINVAL,
                                  "%s: %s is not a duration (milliseconds, or an integer followed "
                                  "by ms, s, m, h or d)",
                                  k->name, q);
            return sb_err_set(err, SB_EINVAL, "%s: %s is not an integer", k->name, q);
        }
        if (rc == -2 || v < k->min || v > k->max) {
            sb_yaml_quote(q, sizeof(q), value, len);
            if (k->max == I64MAX)
                return sb_err_set(err, SB_ERANGE, "%s: must be >= %lld (got %s)", k->name,
                                  (long long)k->min, q);
            return sb_err_set(err, SB_ERANGE, "%s: must be between %lld and %lld (got %s)", k->name,
                              (long long)k->min, (long long)k->max, q);
        }
        *(int64_t *)field_of(c, k) = v;
        return 0;
    }
    case CFG_LISTENERS:
        return listeners_from_text(field_of(c, k), value, len, err);
    case CFG_ENUM:
        for (int i = 0; k->enum_names[i]; i++)
            if (strcasecmp(value, k->enum_names[i]) == 0) {
                *(int *)field_of(c, k) = i;
                return 0;
            }
        {
            char allowed[128] = "";
            for (int i = 0; k->enum_names[i]; i++) {
                size_t used = strlen(allowed);
                snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "",
                         k->enum_names[i]);
            }
            return sb_err_set(err, SB_EINVAL, "%s: %s is not one of %s", k->name,
                              sb_yaml_quote(q, sizeof(q), value, len), allowed);
        }
    }
    return sb_err_set(err, SB_EINVAL, "%s: unsupported key type", k->name);
}

/* ----- string checks ----- */

int sb_config_parse_hostport(const char *s, char *host, size_t hostcap, int *port, sb_err_t *err)
{
    size_t len = strlen(s);
    const char *h;
    size_t hlen;
    const char *rest;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) return sb_err_set(err, SB_EINVAL, "missing ']' after IPv6 address");
        h = s + 1;
        hlen = (size_t)(close - h);
        for (size_t i = 0; i < hlen; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return sb_err_set(err, SB_EINVAL, "invalid character in IPv6 address");
        rest = close + 1;
        if (*rest != ':') return sb_err_set(err, SB_EINVAL, "expected :port after ']'");
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) return sb_err_set(err, SB_EINVAL, "expected host:port");
        h = s;
        hlen = (size_t)(colon - s);
        if (memchr(h, ':', hlen))
            return sb_err_set(err, SB_EINVAL, "write IPv6 addresses in brackets: [::1]:9092");
        for (size_t i = 0; i < hlen; i++)
            if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
                return sb_err_set(err, SB_EINVAL, "invalid character in host name");
        rest = colon;
    }
    if (hlen == 0) return sb_err_set(err, SB_EINVAL, "missing host (use 0.0.0.0 for every interface)");
    rest++; /* skip ':' */
    size_t plen = strlen(rest);
    int64_t p;
    if (plen == 0 || parse_integer(rest, plen, NULL, &p) < 0 || rest[0] == '-' || rest[0] == '+')
        return sb_err_set(err, SB_EINVAL, "port is not a number");
    if (p > 65535) return sb_err_set(err, SB_ERANGE, "port must be between 0 and 65535");
    if (hlen + 1 > hostcap) return sb_err_set(err, SB_ERANGE, "host name too long");
    memcpy(host, h, hlen);
    host[hlen] = 0;
    *port = (int)p;
    return 0;
}

static int check_listen(const char *value, sb_err_t *err)
{
    char host[256];
    int port;
    return sb_config_parse_hostport(value, host, sizeof(host), &port, err);
}

static int check_listen_optional(const char *value, sb_err_t *err)
{
    return value[0] ? check_listen(value, err) : 0;
}

static int check_advertised(const char *value, sb_err_t *err)
{
    if (!value[0]) return 0;
    char host[256];
    int port;
    int rc = sb_config_parse_hostport(value, host, sizeof(host), &port, err);
    if (rc < 0) return rc;
    if (port == 0) return sb_err_set(err, SB_EINVAL, "clients cannot connect to port 0");
    return 0;
}

static int check_sasl_mechanisms(const char *value, sb_err_t *err)
{
    unsigned mask;
    /* broker_options_t keeps the list in a 128-byte field. */
    if (strlen(value) >= 128) return sb_err_set(err, SB_EINVAL, "list longer than 127 characters");
    return sasl_mechanisms_parse(value, &mask, err);
}

static int check_nonempty(const char *value, sb_err_t *err)
{
    return value[0] ? 0 : sb_err_set(err, SB_EINVAL, "must not be empty");
}

/* Kafka's super.users: principals of the form Type:name separated by ';' (the authorizer
 * parses the same list; checking here names the file and line). */
static int check_super_users(const char *value, sb_err_t *err)
{
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == ';') p++;
        if (!*p) break;
        const char *e = strchr(p, ';');
        if (!e) e = p + strlen(p);
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        const char *colon = memchr(p, ':', (size_t)(t - p));
        if (!colon || colon == p || colon + 1 == t)
            return sb_err_set(err, SB_EINVAL, "\"%.*s\" is not a principal of the form Type:name (e.g. User:admin)",
                              (int)(t - p), p);
        p = e;
    }
    return 0;
}

/* ----- broker.listeners ----- */

#define MAX_LISTENERS 16

static void listener_deinit(sb_listener_config_t *l)
{
    free(l->name);
    free(l->address);
    free(l->advertised);
    free(l->tls_cert);
    free(l->tls_key);
    free(l->tls_ca);
    free(l->sasl_mechanisms);
    memset(l, 0, sizeof(*l));
}

static void listeners_clear(sb_listeners_t *ls)
{
    for (size_t i = 0; i < ls->n; i++) listener_deinit(&ls->items[i]);
    free(ls->items);
    ls->items = NULL;
    ls->n = 0;
}

/* Where a listener error points: the node's line (0 when parsing a --set value has none). */
typedef struct listener_parse {
    yaml_document_t *doc;
    size_t line;
} listener_parse_t;

static int lp_error(listener_parse_t *lp, const yaml_node_t *n, sb_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int lp_error(listener_parse_t *lp, const yaml_node_t *n, sb_err_t *err, int code, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lp->line = n ? n->start_mark.line + 1 : 0;
    return sb_err_set(err, code, "%s", msg);
}

/* Copies a scalar node's text; SB_EINVAL for non-scalars, nulls and embedded NULs. */
static int lp_string(listener_parse_t *lp, const yaml_node_t *n, const char *what, char **out, sb_err_t *err)
{
    if (n->type != YAML_SCALAR_NODE || sb_yaml_is_null(n))
        return lp_error(lp, n, err, SB_EINVAL, "%s: expected a single value", what);
    const char *v = (const char *)n->data.scalar.value;
    if (strlen(v) != n->data.scalar.length) return lp_error(lp, n, err, SB_EINVAL, "%s: value contains a NUL byte", what);
    char *copy = strdup(v);
    if (!copy) return lp_error(lp, n, err, SB_ENOMEM, "%s: out of memory", what);
    free(*out);
    *out = copy;
    return 0;
}

static bool scalar_is(const yaml_node_t *n, const char *name)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(name) &&
           memcmp(n->data.scalar.value, name, n->data.scalar.length) == 0;
}

static int parse_tls(listener_parse_t *lp, const yaml_node_t *map, const char *where, sb_listener_config_t *l,
                     sb_err_t *err)
{
    char what[96];
    if (map->type != YAML_MAPPING_NODE)
        return lp_error(lp, map, err, SB_EINVAL, "%s.tls: expected a mapping (cert, key, ca, client_auth)", where);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(lp->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(lp->doc, p->value);
        int rc;
        char *text = NULL;
        if (scalar_is(key, "cert")) {
            snprintf(what, sizeof(what), "%s.tls.cert", where);
            rc = lp_string(lp, value, what, &l->tls_cert, err);
        } else if (scalar_is(key, "key")) {
            snprintf(what, sizeof(what), "%s.tls.key", where);
            rc = lp_string(lp, value, what, &l->tls_key, err);
        } else if (scalar_is(key, "ca")) {
            snprintf(what, sizeof(what), "%s.tls.ca", where);
            rc = lp_string(lp, value, what, &l->tls_ca, err);
        } else if (scalar_is(key, "client_auth")) {
            snprintf(what, sizeof(what), "%s.tls.client_auth", where);
            rc = lp_string(lp, value, what, &text, err);
            net_tls_client_auth_t ca;
            if (rc == 0 && net_tls_client_auth_parse(text, &ca) < 0) {
                char q[160];
                rc = lp_error(lp, value, err, SB_EINVAL, "%s: %s is not one of none, requested, required", what,
                              sb_yaml_quote(q, sizeof(q), text, strlen(text)));
            } else if (rc == 0) {
                l->client_auth = (int)ca;
            }
            free(text);
        } else {
            char q[160];
            const char *k = key->type == YAML_SCALAR_NODE ? (const char *)key->data.scalar.value : "?";
            rc = lp_error(lp, key, err, SB_EINVAL, "%s.tls: unknown key %s (known: cert, key, ca, client_auth)", where,
                          sb_yaml_quote(q, sizeof(q), k, strlen(k)));
        }
        if (rc < 0) return rc;
    }
    return 0;
}

static bool listener_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-') return false;
    return true;
}

static int parse_listener(listener_parse_t *lp, const yaml_node_t *map, size_t index, sb_listener_config_t *l,
                          sb_err_t *err)
{
    char where[64], what[96], q[160];
    snprintf(where, sizeof(where), "broker.listeners[%zu]", index);
    if (map->type != YAML_MAPPING_NODE)
        return lp_error(lp, map, err, SB_EINVAL, "%s: expected a mapping (name, address, protocol, tls)", where);
    char *protocol = NULL;
    const yaml_node_t *tls_node = NULL, *protocol_node = NULL, *sasl_node = NULL;
    int rc = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top && rc == 0; p++) {
        yaml_node_t *key = yaml_document_get_node(lp->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(lp->doc, p->value);
        if (scalar_is(key, "name")) {
            snprintf(what, sizeof(what), "%s.name", where);
            rc = lp_string(lp, value, what, &l->name, err);
            if (rc == 0 && !listener_name_valid(l->name))
                rc = lp_error(lp, value, err, SB_EINVAL, "%s: %s: use 1 to 63 letters, digits, '_' or '-'", what,
                              sb_yaml_quote(q, sizeof(q), l->name, strlen(l->name)));
        } else if (scalar_is(key, "address")) {
            snprintf(what, sizeof(what), "%s.address", where);
            rc = lp_string(lp, value, what, &l->address, err);
            sb_err_t why;
            if (rc == 0 && check_listen(l->address, &why) < 0)
                rc = lp_error(lp, value, err, SB_EINVAL, "%s: %s: %s", what,
                              sb_yaml_quote(q, sizeof(q), l->address, strlen(l->address)), why.msg);
        } else if (scalar_is(key, "advertised")) {
            snprintf(what, sizeof(what), "%s.advertised", where);
            rc = lp_string(lp, value, what, &l->advertised, err);
            sb_err_t why;
            if (rc == 0 && check_advertised(l->advertised, &why) < 0)
                rc = lp_error(lp, value, err, SB_EINVAL, "%s: %s: %s", what,
                              sb_yaml_quote(q, sizeof(q), l->advertised, strlen(l->advertised)), why.msg);
            if (rc == 0 && !l->advertised[0]) {
                free(l->advertised);
                l->advertised = NULL;
            }
        } else if (scalar_is(key, "protocol")) {
            snprintf(what, sizeof(what), "%s.protocol", where);
            rc = lp_string(lp, value, what, &protocol, err);
            protocol_node = value;
        } else if (scalar_is(key, "tls")) {
            tls_node = value;
            rc = parse_tls(lp, value, where, l, err);
        } else if (scalar_is(key, "sasl_mechanisms")) {
            snprintf(what, sizeof(what), "%s.sasl_mechanisms", where);
            rc = lp_string(lp, value, what, &l->sasl_mechanisms, err);
            sb_err_t why;
            if (rc == 0 && check_sasl_mechanisms(l->sasl_mechanisms, &why) < 0)
                rc = lp_error(lp, value, err, SB_EINVAL, "%s: %s", what, why.msg);
            sasl_node = value;
        } else {
            const char *k = key->type == YAML_SCALAR_NODE ? (const char *)key->data.scalar.value : "?";
            rc = lp_error(lp, key, err, SB_EINVAL,
                          "%s: unknown key %s (known: name, address, advertised, protocol, tls, sasl_mechanisms)",
                          where, sb_yaml_quote(q, sizeof(q), k, strlen(k)));
        }
    }
    if (rc < 0) goto out;
    net_security_protocol_t proto;
    if (protocol) {
        if (net_security_protocol_parse(protocol, &proto) < 0) {
            rc = lp_error(lp, protocol_node, err, SB_EINVAL,
                          "%s.protocol: %s is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", where,
                          sb_yaml_quote(q, sizeof(q), protocol, strlen(protocol)));
            goto out;
        }
    } else if (!l->name || net_security_protocol_parse(l->name, &proto) < 0) {
        /* Kafka's rule: a listener named after a protocol speaks it; any other name needs one. */
        rc = lp_error(lp, map, err, SB_EINVAL,
                      "%s: protocol missing (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL); it may be left out "
                      "only when the name is one of these",
                      where);
        goto out;
    }
    l->protocol = (int)proto;
    if (!l->name && !(l->name = strdup(net_security_protocol_name(proto)))) {
        rc = lp_error(lp, map, err, SB_ENOMEM, "%s: out of memory", where);
        goto out;
    }
    if (!l->address) {
        rc = lp_error(lp, map, err, SB_EINVAL, "%s: address missing (host:port to bind)", where);
        goto out;
    }
    if (net_security_protocol_tls(proto)) {
        if (!l->tls_cert || !l->tls_key) {
            rc = lp_error(lp, tls_node ? tls_node : map, err, SB_EINVAL,
                          "%s: a %s listener needs tls.cert and tls.key", where, net_security_protocol_name(proto));
            goto out;
        }
        if (l->client_auth != NET_TLS_CLIENT_AUTH_NONE && !l->tls_ca) {
            rc = lp_error(lp, tls_node, err, SB_EINVAL,
                          "%s.tls: client_auth %s needs tls.ca (the CA that signs client certificates)", where,
                          net_tls_client_auth_name((net_tls_client_auth_t)l->client_auth));
            goto out;
        }
    } else if (tls_node) {
        rc = lp_error(lp, tls_node, err, SB_EINVAL, "%s.tls: only SSL and SASL_SSL listeners use TLS (protocol is %s)",
                      where, net_security_protocol_name(proto));
        goto out;
    }
    if (sasl_node && proto != NET_PROTO_SASL_PLAINTEXT && proto != NET_PROTO_SASL_SSL) {
        rc = lp_error(lp, sasl_node, err, SB_EINVAL,
                      "%s.sasl_mechanisms: only SASL_PLAINTEXT and SASL_SSL listeners use SASL (protocol is %s)", where,
                      net_security_protocol_name(proto));
        goto out;
    }
out:
    free(protocol);
    return rc;
}

/* Parses a YAML list of listener mappings into out (replacing what it held on success). */
static int parse_listeners(listener_parse_t *lp, const yaml_node_t *list, sb_listeners_t *out, sb_err_t *err)
{
    if (sb_yaml_is_null(list) || list->type != YAML_SEQUENCE_NODE)
        return lp_error(lp, list, err, SB_EINVAL, "broker.listeners: expected a list of listener mappings");
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n > MAX_LISTENERS)
        return lp_error(lp, list, err, SB_ELIMIT, "broker.listeners: at most %d listeners", MAX_LISTENERS);
    sb_listeners_t ls = {.items = n ? calloc(n, sizeof(sb_listener_config_t)) : NULL, .n = 0};
    if (n && !ls.items) return lp_error(lp, list, err, SB_ENOMEM, "broker.listeners: out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *item = yaml_document_get_node(lp->doc, list->data.sequence.items.start[i]);
        ls.n = i + 1;
        rc = parse_listener(lp, item, i, &ls.items[i], err);
        for (size_t j = 0; j < i && rc == 0; j++)
            if (strcasecmp(ls.items[j].name, ls.items[i].name) == 0)
                rc = lp_error(lp, item, err, SB_EINVAL, "broker.listeners[%zu]: the name %s is already used by "
                              "broker.listeners[%zu]", i, ls.items[i].name, j);
    }
    if (rc < 0) {
        listeners_clear(&ls);
        return rc;
    }
    listeners_clear(out);
    *out = ls;
    return 0;
}

/* The --set path: the value is YAML text ("[{name: SSL, address: ...}]"). */
static int listeners_from_text(sb_listeners_t *out, const char *text, size_t len, sb_err_t *err)
{
    yaml_document_t doc;
    int rc = sb_yaml_document_load("broker.listeners", text, len, &doc, err);
    if (rc < 0) return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    listener_parse_t lp = {.doc = &doc};
    if (!root) rc = sb_err_set(err, SB_EINVAL, "broker.listeners: expected a list of listener mappings");
    else rc = parse_listeners(&lp, root, out, err);
    yaml_document_delete(&doc);
    return rc;
}

int sb_config_listener_advertised(const sb_listener_config_t *l, char *host, size_t hostcap, int *port, sb_err_t *err)
{
    int rc = sb_config_parse_hostport(l->advertised ? l->advertised : l->address, host, hostcap, port, err);
    if (rc < 0) return rc;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
        char name[256];
        if (gethostname(name, sizeof(name)) < 0) return sb_err_set(err, SB_EIO, "gethostname: %s", strerror(errno));
        name[sizeof(name) - 1] = 0;
        if (strlen(name) + 1 > hostcap) return sb_err_set(err, SB_ERANGE, "host name too long");
        strcpy(host, name);
    }
    return 0;
}

/* ----- public API ----- */

void sb_config_defaults(sb_config_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        sb_err_t err;
        /* Defaults are constants checked by the unit tests, so the only possible failure is
         * running out of memory at start-up, where there is nothing sensible to continue with. */
        if (set_value(c, &cfg_keys[i], cfg_keys[i].def, strlen(cfg_keys[i].def), &err) < 0) {
            fprintf(stderr, "streambus: config default: %s\n", err.msg);
            abort();
        }
    }
}

void sb_config_deinit(sb_config_t *c)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        if (cfg_keys[i].type == CFG_LISTENERS) listeners_clear(field_of(c, &cfg_keys[i]));
        if (cfg_keys[i].type != CFG_STRING) continue;
        char **slot = field_of(c, &cfg_keys[i]);
        free(*slot);
        *slot = NULL;
    }
}

int sb_config_set(sb_config_t *c, const char *dotted_key, const char *value, sb_err_t *err)
{
    const cfg_key_t *k = find_key(dotted_key, strlen(dotted_key));
    if (!k) return unknown_key_error(err, dotted_key, strlen(dotted_key));
    return set_value(c, k, value, strlen(value), err);
}

int sb_config_validate(const sb_config_t *c, sb_err_t *err)
{
    if (c->groups.session_timeout_min_ms > c->groups.session_timeout_max_ms)
        return sb_err_set(err, SB_EINVAL,
                          "groups.session_timeout_min_ms (%lld) must not exceed "
                          "groups.session_timeout_max_ms (%lld)",
                          (long long)c->groups.session_timeout_min_ms,
                          (long long)c->groups.session_timeout_max_ms);
    if (c->broker.listeners.n > 0) {
        const cfg_key_t *listen = find_key("broker.listen", strlen("broker.listen"));
        if ((c->broker.listen && strcmp(c->broker.listen, listen->def) != 0) ||
            (c->broker.advertised_listener && c->broker.advertised_listener[0]))
            return sb_err_set(err, SB_EINVAL,
                              "broker.listeners replaces broker.listen and broker.advertised_listener: set "
                              "the listeners in one place (give a listener an `advertised` address instead)");
    }
    return 0;
}

int sb_config_advertised(const sb_config_t *c, char *host, size_t hostcap, int *port, sb_err_t *err)
{
    const char *src = c->broker.advertised_listener && c->broker.advertised_listener[0]
                          ? c->broker.advertised_listener
                          : c->broker.listen;
    int rc = sb_config_parse_hostport(src, host, hostcap, port, err);
    if (rc < 0) return rc;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
        char name[256];
        if (gethostname(name, sizeof(name)) < 0)
            return sb_err_set(err, SB_EIO, "gethostname: %s", strerror(errno));
        name[sizeof(name) - 1] = 0;
        if (strlen(name) + 1 > hostcap) return sb_err_set(err, SB_ERANGE, "host name too long");
        strcpy(host, name);
    }
    return 0;
}

/* ----- YAML ----- */

typedef struct yaml_ctx {
    sb_config_t *c;
    const char *source;
    yaml_document_t *doc;
} yaml_ctx_t;

static size_t line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

static int located(yaml_ctx_t *y, const yaml_node_t *n, sb_err_t *err, int code, const char *msg)
{
    return sb_err_set(err, code, "%s:%zu: %s", y->source, line_of(n), msg);
}

static int apply_leaf(yaml_ctx_t *y, const cfg_key_t *k, const yaml_node_t *value, sb_err_t *err)
{
    char msg[600];
    if (k->type == CFG_LISTENERS) {
        listener_parse_t lp = {.doc = y->doc};
        sb_err_t why;
        int rc = parse_listeners(&lp, value, field_of(y->c, k), &why);
        if (rc < 0) return sb_err_set(err, rc, "%s:%zu: %s", y->source, lp.line ? lp.line : line_of(value), why.msg);
        return 0;
    }
    if (value->type != YAML_SCALAR_NODE) {
        snprintf(msg, sizeof(msg), "%s: expected a single value, not a %s", k->name,
                 value->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return located(y, value, err, SB_EINVAL, msg);
    }
    if (sb_yaml_is_null(value)) {
        snprintf(msg, sizeof(msg), "%s: has no value%s", k->name,
                 k->type == CFG_STRING ? " (write \"\" for an empty string)" : "");
        return located(y, value, err, SB_EINVAL, msg);
    }
    sb_err_t why;
    int rc = set_value(y->c, k, (const char *)value->data.scalar.value, value->data.scalar.length, &why);
    if (rc < 0) return located(y, value, err, rc, why.msg);
    return 0;
}

static int apply_section(yaml_ctx_t *y, const char *section, const yaml_node_t *map, sb_err_t *err)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s.", section);
    int rc = sb_yaml_check_mapping_keys(y->source, y->doc, map, prefix, err);
    if (rc < 0) return rc;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(y->doc, p->value);
        char dotted[256];
        int n = snprintf(dotted, sizeof(dotted), "%s.%.*s", section, (int)key->data.scalar.length,
                         (const char *)key->data.scalar.value);
        size_t dlen = n < 0 ? 0 : (size_t)n >= sizeof(dotted) ? sizeof(dotted) - 1 : (size_t)n;
        const cfg_key_t *k = key->data.scalar.length < 200 ? find_key(dotted, dlen) : NULL;
        if (!k) {
            sb_err_t why;
            unknown_key_error(&why, dotted, dlen);
            return located(y, key, err, SB_EINVAL, why.msg);
        }
        rc = apply_leaf(y, k, value, err);
        if (rc < 0) return rc;
    }
    return 0;
}

static int apply_document(yaml_ctx_t *y, sb_err_t *err)
{
    yaml_node_t *root = yaml_document_get_root_node(y->doc);
    if (!root || sb_yaml_is_null(root)) return 0; /* an empty file means all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return located(y, root, err, SB_EINVAL,
                       "the document must be a mapping of sections (broker:, log:, groups:, "
                       "admin:, logging:)");
    int rc = sb_yaml_check_mapping_keys(y->source, y->doc, root, "", err);
    if (rc < 0) return rc;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(y->doc, p->value);
        const char *name = (const char *)key->data.scalar.value;
        size_t len = key->data.scalar.length;
        if (!is_section(name, len)) {
            sb_err_t why;
            if (find_key(name, len))
                snprintf(why.msg, sizeof(why.msg),
                         "\"%s\" must be written nested, under its section", name);
            else
                unknown_key_error(&why, name, len);
            return located(y, key, err, SB_EINVAL, why.msg);
        }
        if (sb_yaml_is_null(value)) continue; /* a section whose keys are all commented out */
        if (value->type != YAML_MAPPING_NODE) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s: expected a mapping of keys", name);
            return located(y, value, err, SB_EINVAL, msg);
        }
        rc = apply_section(y, name, value, err);
        if (rc < 0) return rc;
    }
    return 0;
}

int sb_config_load_string(sb_config_t *c, const char *source_name, const void *data, size_t len,
                          sb_err_t *err)
{
    yaml_document_t doc;
    int rc = sb_yaml_document_load(source_name, data, len, &doc, err);
    if (rc < 0) return rc;
    yaml_ctx_t y = {.c = c, .source = source_name, .doc = &doc};
    rc = apply_document(&y, err);
    yaml_document_delete(&doc);
    return rc;
}

int sb_config_load(sb_config_t *c, const char *path, sb_err_t *err)
{
    sb_config_defaults(c);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sb_err_set(err, errno == ENOENT ? SB_ENOENT : SB_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return sb_err_set(err, SB_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sb_err_set(err, SB_EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size > CONFIG_FILE_MAX_BYTES) {
        close(fd);
        return sb_err_set(err, SB_ELIMIT, "%s: larger than %d bytes; is this a config file?", path,
                          CONFIG_FILE_MAX_BYTES);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return sb_err_set(err, SB_ENOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return sb_err_set(err, SB_EIO, "%s: read: %s", path, strerror(e));
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(fd);
    int rc = sb_config_load_string(c, path, buf, got, err);
    free(buf);
    if (rc < 0) return rc;
    rc = sb_config_validate(c, err);
    if (rc < 0) {
        sb_err_t inner = *err;
        return sb_err_set(err, rc, "%s: %s", path, inner.msg);
    }
    return 0;
}

/* ----- generated documentation and default file ----- */

static const char *type_name(const cfg_key_t *k)
{
    switch (k->type) {
    case CFG_STRING: return "string";
    case CFG_BOOL: return "bool";
    case CFG_INT: return "integer";
    case CFG_BYTES: return "size";
    case CFG_MS: return "duration";
    case CFG_ENUM: return "enum";
    case CFG_LISTENERS: return "list";
    }
    return "?";
}

/* A human reading of a byte count or duration ("1 GiB", "7 d") for the docs, or "" when the
 * plain number is already the clearest form. */
static void human_value(const cfg_key_t *k, int64_t v, char *out, size_t cap)
{
    out[0] = 0;
    const unit_t *units = k->type == CFG_BYTES ? byte_units : k->type == CFG_MS ? ms_units : NULL;
    if (!units || v <= 0) return;
    const unit_t *best = NULL;
    for (const unit_t *u = units; u->suffix; u++)
        if (v % u->factor == 0) best = u;
    if (best && best->factor > 1) snprintf(out, cap, "%lld %s", (long long)(v / best->factor), best->suffix);
}

static void write_range(FILE *out, const cfg_key_t *k)
{
    switch (k->type) {
    case CFG_BOOL: fputs("true, false", out); break;
    case CFG_ENUM:
        for (int i = 0; k->enum_names[i]; i++) fprintf(out, "%s`%s`", i ? ", " : "", k->enum_names[i]);
        break;
    case CFG_LISTENERS: fputs("listener mappings", out); break;
    case CFG_STRING:
        if (k->check == check_listen) fputs("host:port", out);
        else if (k->check == check_listen_optional || k->check == check_advertised)
            fputs("host:port or empty", out);
        else if (k->check == check_nonempty) fputs("non-empty", out);
        break;
    default:
        if (k->max == I64MAX) fprintf(out, "≥ %lld", (long long)k->min);
        else fprintf(out, "%lld … %lld", (long long)k->min, (long long)k->max);
        break;
    }
}

void sb_config_write_docs(FILE *out)
{
    for (size_t s = 0; s < CFG_NSECTIONS; s++) {
        const char *sec = cfg_sections[s].name;
        size_t slen = strlen(sec);
        fprintf(out, "### `%s`\n\n%s\n\n", sec, cfg_sections[s].doc);
        fputs("| Key | Type | Default | Allowed | Description |\n", out);
        fputs("|---|---|---|---|---|\n", out);
        for (size_t i = 0; i < CFG_NKEYS; i++) {
            const cfg_key_t *k = &cfg_keys[i];
            if (strncmp(k->name, sec, slen) != 0 || k->name[slen] != '.') continue;
            char human[32] = "";
            if (k->type == CFG_BYTES || k->type == CFG_MS) {
                int64_t v = 0;
                parse_integer(k->def, strlen(k->def), NULL, &v);
                human_value(k, v, human, sizeof(human));
            }
            fprintf(out, "| `%s` | %s | ", k->name, type_name(k));
            if (k->type == CFG_STRING) fprintf(out, "`\"%s\"`", k->def);
            else fprintf(out, "`%s`", k->def);
            if (human[0]) fprintf(out, " (%s)", human);
            fputs(" | ", out);
            write_range(out, k);
            fprintf(out, " | %s.", k->doc);
            if (k->detail) fprintf(out, " %s", k->detail);
            fputs(" |\n", out);
        }
        fputs("\n", out);
    }
}

/* Writes s as a YAML double-quoted scalar. */
static void write_yaml_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) fprintf(out, "\\x%02x", ch);
        else fputc(ch, out);
    }
    fputc('"', out);
}

void sb_config_write_yaml(FILE *out)
{
    fputs("# StreamBus broker configuration: every key with its default.\n"
          "# Reference: docs/configuration.md. Override single keys with --set key=value.\n"
          "# Generated from the key table in src/broker/config.c; a unit test keeps the two equal.\n",
          out);
    for (size_t s = 0; s < CFG_NSECTIONS; s++) {
        const char *sec = cfg_sections[s].name;
        size_t slen = strlen(sec);
        fprintf(out, "\n%s:\n", sec);
        for (size_t i = 0; i < CFG_NKEYS; i++) {
            const cfg_key_t *k = &cfg_keys[i];
            if (strncmp(k->name, sec, slen) != 0 || k->name[slen] != '.') continue;
            fprintf(out, "  # %s\n  %s: ", k->doc, k->name + slen + 1);
            if (k->type == CFG_STRING) write_yaml_string(out, k->def);
            else fputs(k->def, out);
            fputc('\n', out);
        }
    }
}

/* broker.listeners in YAML flow style, one line. */
static void write_listeners(FILE *out, const sb_listeners_t *ls)
{
    fputc('[', out);
    for (size_t i = 0; i < ls->n; i++) {
        const sb_listener_config_t *l = &ls->items[i];
        fputs(i ? ", {name: " : "{name: ", out);
        write_yaml_string(out, l->name);
        fputs(", address: ", out);
        write_yaml_string(out, l->address);
        if (l->advertised) {
            fputs(", advertised: ", out);
            write_yaml_string(out, l->advertised);
        }
        fprintf(out, ", protocol: %s", net_security_protocol_name((net_security_protocol_t)l->protocol));
        if (l->tls_cert) {
            fputs(", tls: {cert: ", out);
            write_yaml_string(out, l->tls_cert);
            fputs(", key: ", out);
            write_yaml_string(out, l->tls_key);
            if (l->tls_ca) {
                fputs(", ca: ", out);
                write_yaml_string(out, l->tls_ca);
            }
            fprintf(out, ", client_auth: %s}", net_tls_client_auth_name((net_tls_client_auth_t)l->client_auth));
        }
        if (l->sasl_mechanisms) {
            fputs(", sasl_mechanisms: ", out);
            write_yaml_string(out, l->sasl_mechanisms);
        }
        fputc('}', out);
    }
    fputc(']', out);
}

void sb_config_write_values(const sb_config_t *c, FILE *out)
{
    for (size_t s = 0; s < CFG_NSECTIONS; s++) {
        const char *sec = cfg_sections[s].name;
        size_t slen = strlen(sec);
        fprintf(out, "%s:\n", sec);
        for (size_t i = 0; i < CFG_NKEYS; i++) {
            const cfg_key_t *k = &cfg_keys[i];
            if (strncmp(k->name, sec, slen) != 0 || k->name[slen] != '.') continue;
            const void *f = const_field_of(c, k);
            fprintf(out, "  %s: ", k->name + slen + 1);
            switch (k->type) {
            case CFG_STRING: write_yaml_string(out, *(char *const *)f ? *(char *const *)f : ""); break;
            case CFG_BOOL: fputs(*(const bool *)f ? "true" : "false", out); break;
            case CFG_ENUM: fputs(k->enum_names[*(const int *)f], out); break;
            case CFG_LISTENERS: write_listeners(out, f); break;
            default: fprintf(out, "%lld", (long long)*(const int64_t *)f); break;
            }
            fputc('\n', out);
        }
    }
}
