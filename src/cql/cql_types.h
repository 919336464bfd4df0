#ifndef STREAMBUS_CQL_CQL_TYPES_H
#define STREAMBUS_CQL_CQL_TYPES_H

/* CQL data types and values (native protocol v4, sections 4.2.5.2, 6 and 7).
 *
 * A column's type arrives as an [option] tree in result metadata; cql_type_decode() turns it
 * into a cql_type_t tree (heap, freed with cql_type_free). Values arrive as the raw bytes of a
 * [bytes] cell; they are never copied or converted eagerly. A caller either reads a scalar with
 * one of the cql_decode_* functions, walks a collection with cql_iter_t, or renders any value
 * as JSON with cql_value_to_json() (the form the change-data sources emit; docs/cql.md lists
 * how each type is rendered).
 *
 * Every byte is read through the bounded reader; a malformed value gives SB_EINVAL with a
 * message naming the type, never a read outside the slice. A null cell (length -1) gives
 * SB_ENOENT from the scalar decoders and `null` in JSON. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Type ids as the protocol spells them ([option] ids). Duration has no id in v4 (it is a
 * custom type there, class DurationType); CQL_TYPE_DURATION is v5's id, used for both. */
typedef enum cql_type_id {
    CQL_TYPE_CUSTOM = 0x0000,
    CQL_TYPE_ASCII = 0x0001,
    CQL_TYPE_BIGINT = 0x0002,
    CQL_TYPE_BLOB = 0x0003,
    CQL_TYPE_BOOLEAN = 0x0004,
    CQL_TYPE_COUNTER = 0x0005,
    CQL_TYPE_DECIMAL = 0x0006,
    CQL_TYPE_DOUBLE = 0x0007,
    CQL_TYPE_FLOAT = 0x0008,
    CQL_TYPE_INT = 0x0009,
    CQL_TYPE_TIMESTAMP = 0x000B,
    CQL_TYPE_UUID = 0x000C,
    CQL_TYPE_VARCHAR = 0x000D,
    CQL_TYPE_VARINT = 0x000E,
    CQL_TYPE_TIMEUUID = 0x000F,
    CQL_TYPE_INET = 0x0010,
    CQL_TYPE_DATE = 0x0011,
    CQL_TYPE_TIME = 0x0012,
    CQL_TYPE_SMALLINT = 0x0013,
    CQL_TYPE_TINYINT = 0x0014,
    CQL_TYPE_DURATION = 0x0015,
    CQL_TYPE_LIST = 0x0020,
    CQL_TYPE_MAP = 0x0021,
    CQL_TYPE_SET = 0x0022,
    CQL_TYPE_UDT = 0x0030,
    CQL_TYPE_TUPLE = 0x0031,
} cql_type_id_t;

/* Deeper type trees are refused: a bound on recursion for hostile metadata. Real schemas nest
 * a handful of levels. */
#define CQL_TYPE_MAX_DEPTH 32

/* The Java class a v4 server names for a duration column. */
#define CQL_DURATION_CLASS "org.apache.cassandra.db.marshal.DurationType"

typedef struct cql_type cql_type_t;
struct cql_type {
    cql_type_id_t id;
    char *custom_class; /* CUSTOM (and DURATION when it came as a custom type) */
    char *keyspace;     /* UDT */
    char *name;         /* UDT */
    int nsub;           /* LIST/SET: 1, MAP: 2 (key, value), TUPLE: elements, UDT: fields */
    cql_type_t **sub;
    char **field_names; /* UDT: nsub names */
};

/* Reads one [option] from rd and builds its tree. depth is 0 for a column's top type. */
int cql_type_decode(sb_rd_t *rd, int depth, cql_type_t **out, sb_err_t *err);
void cql_type_free(cql_type_t *t);
/* Appends the CQL spelling, e.g. "map<text, frozen<list<int>>>", to w (for messages). */
void cql_type_format(const cql_type_t *t, sb_wr_t *w);
/* "int", "text", ... or "list" for collections. */
const char *cql_type_name(cql_type_id_t id);

/* ---- scalar decoders: 0, SB_ENOENT for null or empty, SB_EINVAL for bytes of the wrong size ---- */

/* tinyint, smallint, int, bigint, counter, timestamp (ms since the epoch), time (ns since
 * midnight) and date (days since 1970-01-01, may be negative). */
int cql_decode_int64(const cql_type_t *t, sb_slice_t raw, int64_t *out, sb_err_t *err);
int cql_decode_double(const cql_type_t *t, sb_slice_t raw, double *out, sb_err_t *err);
int cql_decode_bool(sb_slice_t raw, bool *out, sb_err_t *err);
int cql_decode_uuid(sb_slice_t raw, uint8_t out[16], sb_err_t *err);

typedef struct cql_duration {
    int32_t months;
    int32_t days;
    int64_t nanoseconds;
} cql_duration_t;
int cql_decode_duration(sb_slice_t raw, cql_duration_t *out, sb_err_t *err);

/* Text forms: uuid "8-4-4-4-12", inet per inet_ntop, varint and decimal exact in base 10
 * (decimal as Java's BigDecimal.toString and Python's str(Decimal) print it), date
 * "YYYY-MM-DD", time "HH:MM:SS.nnnnnnnnn". Appended to w. */
int cql_decode_text_form(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err);

/* Cassandra's unsigned variable-length integer (VIntCoding), used inside duration values. */
uint64_t cql_rd_unsigned_vint(sb_rd_t *rd);
int64_t cql_rd_signed_vint(sb_rd_t *rd); /* zig-zag on top of the unsigned form */

/* Varint magnitudes longer than this are refused by the text form (base-10 conversion is
 * quadratic); 4096 bytes is a number with about 9,900 digits. */
#define CQL_VARINT_MAX_TEXT_BYTES 4096

/* ---- collections, tuples and UDTs ---- */

/* Walks the elements of a list, set or map (keys and values alternate: even positions are
 * keys), the components of a tuple or the fields of a UDT. A UDT or tuple value may end early
 * (spec section 7): the missing trailing elements are reported as null. */
typedef struct cql_iter {
    const cql_type_t *type;
    sb_rd_t rd;
    int32_t count; /* elements to report (map: 2 * entries) */
    int32_t pos;
} cql_iter_t;

int cql_iter_init(cql_iter_t *it, const cql_type_t *t, sb_slice_t raw, sb_err_t *err);
/* 1 and the next element (its type and raw bytes, len -1 for null), 0 at the end, or
 * SB_EINVAL when the bytes are truncated. */
int cql_iter_next(cql_iter_t *it, const cql_type_t **elem_type, sb_slice_t *elem, sb_err_t *err);

/* ---- JSON rendering ---- */

/* Appends the JSON form of one value (null for a null cell). Never fails on valid input;
 * SB_EINVAL names the type whose bytes were malformed. */
int cql_value_to_json(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err);
/* Appends s as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
void cql_json_string(sb_wr_t *w, const uint8_t *s, size_t n);

#endif
