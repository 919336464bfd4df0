#include "cql/cql_proto.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cql/cql_wire.h"

const char *cql_opcode_name(int opcode)
{
    switch (opcode) {
    case CQL_OP_ERROR: return "ERROR";
    case CQL_OP_STARTUP: return "STARTUP";
    case CQL_OP_READY: return "READY";
    case CQL_OP_AUTHENTICATE: return "AUTHENTICATE";
    case CQL_OP_OPTIONS: return "OPTIONS";
    case CQL_OP_SUPPORTED: return "SUPPORTED";
    case CQL_OP_QUERY: return "QUERY";
    case CQL_OP_RESULT: return "RESULT";
    case CQL_OP_PREPARE: return "PREPARE";
    case CQL_OP_EXECUTE: return "EXECUTE";
    case CQL_OP_REGISTER: return "REGISTER";
    case CQL_OP_EVENT: return "EVENT";
    case CQL_OP_BATCH: return "BATCH";
    case CQL_OP_AUTH_CHALLENGE: return "AUTH_CHALLENGE";
    case CQL_OP_AUTH_RESPONSE: return "AUTH_RESPONSE";
    case CQL_OP_AUTH_SUCCESS: return "AUTH_SUCCESS";
    }
    return "UNKNOWN";
}

static const char *const consistency_names[] = {
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL",
    "LOCAL_ONE",
};

int cql_consistency_parse(const char *name, cql_consistency_t *out)
{
    for (size_t i = 0; i < sizeof(consistency_names) / sizeof(consistency_names[0]); i++) {
        if (strcasecmp(name, consistency_names[i]) == 0) {
            *out = (cql_consistency_t)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

const char *cql_consistency_name(cql_consistency_t c)
{
    if ((unsigned)c < sizeof(consistency_names) / sizeof(consistency_names[0])) return consistency_names[c];
    return "UNKNOWN";
}

const char *cql_error_name(int32_t code)
{
    switch (code) {
    case CQL_ERR_SERVER: return "Server_error";
    case CQL_ERR_PROTOCOL: return "Protocol_error";
    case CQL_ERR_BAD_CREDENTIALS: return "Authentication_error";
    case CQL_ERR_UNAVAILABLE: return "Unavailable";
    case CQL_ERR_OVERLOADED: return "Overloaded";
    case CQL_ERR_IS_BOOTSTRAPPING: return "Is_bootstrapping";
    case CQL_ERR_TRUNCATE: return "Truncate_error";
    case CQL_ERR_WRITE_TIMEOUT: return "Write_timeout";
    case CQL_ERR_READ_TIMEOUT: return "Read_timeout";
    case CQL_ERR_READ_FAILURE: return "Read_failure";
    case CQL_ERR_FUNCTION_FAILURE: return "Function_failure";
    case CQL_ERR_WRITE_FAILURE: return "Write_failure";
    case CQL_ERR_SYNTAX: return "Syntax_error";
    case CQL_ERR_UNAUTHORIZED: return "Unauthorized";
    case CQL_ERR_INVALID: return "Invalid";
    case CQL_ERR_CONFIG: return "Config_error";
    case CQL_ERR_ALREADY_EXISTS: return "Already_exists";
    case CQL_ERR_UNPREPARED: return "Unprepared";
    }
    return "Unknown_error";
}

/* ---- frames ---- */

int cql_frame_header_decode(const uint8_t buf[CQL_HEADER_LEN], int version, size_t max_body,
                            cql_frame_header_t *h, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, buf, CQL_HEADER_LEN);
    h->version = (uint8_t)sb_rd_i8(&rd);
    h->flags = (uint8_t)sb_rd_i8(&rd);
    h->stream = sb_rd_i16(&rd);
    h->opcode = (uint8_t)sb_rd_i8(&rd);
    h->length = sb_rd_i32(&rd);
    if (h->version != (0x80 | version))
        return sb_err_set(err, SB_EINVAL, "CQL response frame has version byte 0x%02x, expected 0x%02x",
                          h->version, 0x80 | version);
    if (h->length < 0 || (size_t)h->length > max_body || (size_t)h->length > CQL_MAX_FRAME_BODY)
        return sb_err_set(err, SB_ELIMIT, "CQL frame body of %d bytes exceeds the limit of %zu", h->length,
                          max_body);
    /* v5 deprecates the flag (compression belongs to the framing) and says to ignore it. */
    if ((h->flags & CQL_FLAG_COMPRESSION) && version < CQL_PROTOCOL_V5)
        return sb_err_set(err, SB_EINVAL, "CQL frame is compressed but no compression was negotiated");
    return 0;
}

void cql_frame_begin(sb_wr_t *w, int version, int16_t stream, cql_opcode_t opcode)
{
    sb_wr_i8(w, (int8_t)version);
    sb_wr_i8(w, 0);
    sb_wr_i16(w, stream);
    sb_wr_i8(w, (int8_t)opcode);
    sb_wr_i32(w, 0);
}

void cql_frame_end(sb_wr_t *w)
{
    sb_wr_patch_i32(w, 5, (int32_t)(w->len - CQL_HEADER_LEN));
}

int cql_response_skip_prefix(sb_rd_t *rd, uint8_t flags)
{
    int warnings = 0;
    if (flags & CQL_FLAG_TRACING) sb_rd_bytes(rd, 16);
    if (flags & CQL_FLAG_WARNING) {
        warnings = cql_rd_short(rd);
        for (int i = 0; i < warnings && sb_rd_ok(rd); i++) cql_rd_string(rd);
    }
    if (flags & CQL_FLAG_CUSTOM_PAYLOAD) {
        int n = cql_rd_short(rd);
        for (int i = 0; i < n && sb_rd_ok(rd); i++) {
            cql_rd_string(rd);
            cql_rd_bytes(rd);
        }
    }
    return warnings;
}

/* ---- values ---- */

void cql_values_init(cql_values_t *v)
{
    sb_wr_init(&v->buf, 64);
    v->count = 0;
}

void cql_values_deinit(cql_values_t *v)
{
    sb_wr_deinit(&v->buf);
    v->count = 0;
}

void cql_values_null(cql_values_t *v)
{
    sb_wr_i32(&v->buf, -1);
    v->count++;
}

void cql_values_unset(cql_values_t *v)
{
    sb_wr_i32(&v->buf, -2);
    v->count++;
}

void cql_values_raw(cql_values_t *v, const void *p, int32_t n)
{
    cql_wr_bytes(&v->buf, p, n);
    v->count++;
}

void cql_values_text(cql_values_t *v, const char *s)
{
    if (!s) cql_values_null(v);
    else cql_values_raw(v, s, (int32_t)strlen(s));
}

void cql_values_blob(cql_values_t *v, const void *p, size_t n)
{
    cql_values_raw(v, p, (int32_t)n);
}

static void values_be(cql_values_t *v, uint64_t x, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(x >> (8 * (n - 1 - i)));
    cql_values_raw(v, b, n);
}

void cql_values_int(cql_values_t *v, int32_t x)
{
    values_be(v, (uint32_t)x, 4);
}

void cql_values_bigint(cql_values_t *v, int64_t x)
{
    values_be(v, (uint64_t)x, 8);
}

void cql_values_smallint(cql_values_t *v, int16_t x)
{
    values_be(v, (uint16_t)x, 2);
}

void cql_values_tinyint(cql_values_t *v, int8_t x)
{
    values_be(v, (uint8_t)x, 1);
}

void cql_values_bool(cql_values_t *v, bool x)
{
    values_be(v, x ? 1 : 0, 1);
}

void cql_values_double(cql_values_t *v, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    values_be(v, u, 8);
}

void cql_values_float(cql_values_t *v, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    values_be(v, u, 4);
}

void cql_values_uuid(cql_values_t *v, const uint8_t u[16])
{
    cql_values_raw(v, u, 16);
}

void cql_values_date(cql_values_t *v, int64_t days)
{
    values_be(v, (uint32_t)(days + ((int64_t)1 << 31)), 4);
}

int cql_values_get(const cql_values_t *v, int i, sb_slice_t *out)
{
    if (i < 0 || i >= v->count) return SB_ENOENT;
    sb_rd_t rd;
    sb_rd_init(&rd, v->buf.buf, v->buf.len);
    for (int k = 0; k < i; k++) cql_rd_bytes(&rd);
    *out = cql_rd_bytes(&rd);
    return 0;
}

/* ---- requests ---- */

void cql_query_params_init(cql_query_params_t *p)
{
    memset(p, 0, sizeof(*p));
    p->consistency = CQL_CONSISTENCY_ONE;
    p->paging_state = (sb_slice_t){NULL, -1};
}

void cql_encode_options(sb_wr_t *w, int version, int16_t stream)
{
    cql_frame_begin(w, version, stream, CQL_OP_OPTIONS);
    cql_frame_end(w);
}

void cql_encode_startup(sb_wr_t *w, int version, int16_t stream, const char *driver_version)
{
    cql_frame_begin(w, version, stream, CQL_OP_STARTUP);
    cql_wr_short(w, 3);
    cql_wr_string(w, "CQL_VERSION");
    cql_wr_string(w, "3.0.0");
    cql_wr_string(w, "DRIVER_NAME");
    cql_wr_string(w, "StreamBus CQL client");
    cql_wr_string(w, "DRIVER_VERSION");
    cql_wr_string(w, driver_version ? driver_version : "0");
    cql_frame_end(w);
}

void cql_encode_auth_response_plain(sb_wr_t *w, int version, int16_t stream, const char *user,
                                    const char *password)
{
    size_t nu = strlen(user), np = strlen(password);
    cql_frame_begin(w, version, stream, CQL_OP_AUTH_RESPONSE);
    sb_wr_i32(w, (int32_t)(nu + np + 2));
    sb_wr_i8(w, 0);
    sb_wr_bytes(w, user, nu);
    sb_wr_i8(w, 0);
    sb_wr_bytes(w, password, np);
    cql_frame_end(w);
}

void cql_encode_register(sb_wr_t *w, int version, int16_t stream, const char *const *events, int nevents)
{
    cql_frame_begin(w, version, stream, CQL_OP_REGISTER);
    cql_wr_short(w, (uint16_t)nevents);
    for (int i = 0; i < nevents; i++) cql_wr_string(w, events[i]);
    cql_frame_end(w);
}

static void encode_params(sb_wr_t *w, int version, const cql_query_params_t *p)
{
    uint32_t flags = 0;
    if (p->values && p->values->count > 0) flags |= 0x01;
    if (p->page_size > 0) flags |= 0x04;
    if (p->paging_state.len >= 0) flags |= 0x08;
    if (p->has_serial_consistency) flags |= 0x10;
    if (p->has_timestamp) flags |= 0x20;
    cql_wr_short(w, (uint16_t)p->consistency);
    /* v5 widened the flags from a [byte] to an [int]. */
    if (version >= CQL_PROTOCOL_V5) sb_wr_u32(w, flags);
    else sb_wr_i8(w, (int8_t)flags);
    if (flags & 0x01) {
        cql_wr_short(w, (uint16_t)p->values->count);
        sb_wr_bytes(w, p->values->buf.buf, p->values->buf.len);
    }
    if (flags & 0x04) sb_wr_i32(w, p->page_size);
    if (flags & 0x08) cql_wr_bytes(w, p->paging_state.p, p->paging_state.len);
    if (flags & 0x10) cql_wr_short(w, (uint16_t)p->serial_consistency);
    if (flags & 0x20) sb_wr_i64(w, p->timestamp_us);
}

void cql_encode_query(sb_wr_t *w, int version, int16_t stream, const char *query, const cql_query_params_t *p)
{
    cql_frame_begin(w, version, stream, CQL_OP_QUERY);
    cql_wr_long_string(w, query);
    encode_params(w, version, p);
    cql_frame_end(w);
}

void cql_encode_prepare(sb_wr_t *w, int version, int16_t stream, const char *query)
{
    cql_frame_begin(w, version, stream, CQL_OP_PREPARE);
    cql_wr_long_string(w, query);
    if (version >= CQL_PROTOCOL_V5) sb_wr_u32(w, 0); /* flags: no keyspace */
    cql_frame_end(w);
}

void cql_encode_execute(sb_wr_t *w, int version, int16_t stream, sb_slice_t id, sb_slice_t result_metadata_id,
                        const cql_query_params_t *p)
{
    cql_frame_begin(w, version, stream, CQL_OP_EXECUTE);
    cql_wr_short_bytes(w, id.p, id.len > 0 ? (size_t)id.len : 0);
    if (version >= CQL_PROTOCOL_V5)
        cql_wr_short_bytes(w, result_metadata_id.p, result_metadata_id.len > 0 ? (size_t)result_metadata_id.len : 0);
    encode_params(w, version, p);
    cql_frame_end(w);
}

/* ---- responses ---- */

int cql_error_decode(const uint8_t *body, size_t len, cql_server_error_t *out, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    memset(out, 0, sizeof(*out));
    out->code = sb_rd_i32(&rd);
    out->message = cql_rd_string(&rd);
    out->unprepared_id = (sb_slice_t){NULL, -1};
    if (out->code == CQL_ERR_UNPREPARED && sb_rd_ok(&rd)) out->unprepared_id = cql_rd_short_bytes(&rd);
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EINVAL, "CQL ERROR body is truncated (%zu bytes)", len);
    return 0;
}

int cql_authenticate_decode(const uint8_t *body, size_t len, sb_slice_t *authenticator, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    *authenticator = cql_rd_string(&rd);
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EINVAL, "CQL AUTHENTICATE body is truncated");
    return 0;
}

int cql_supported_find(const uint8_t *body, size_t len, const char *key, sb_slice_t *first, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    *first = (sb_slice_t){NULL, -1};
    int n = cql_rd_short(&rd);
    for (int i = 0; i < n && sb_rd_ok(&rd); i++) {
        sb_slice_t k = cql_rd_string(&rd);
        int nv = cql_rd_short(&rd);
        for (int j = 0; j < nv && sb_rd_ok(&rd); j++) {
            sb_slice_t v = cql_rd_string(&rd);
            if (j == 0 && first->len < 0 && cql_slice_eq(k, key) && sb_rd_ok(&rd)) *first = v;
        }
    }
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EINVAL, "CQL SUPPORTED body is truncated");
    return 0;
}

bool cql_supported_has(const uint8_t *body, size_t len, const char *key, const char *value)
{
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    bool found = false;
    int n = cql_rd_short(&rd);
    for (int i = 0; i < n && sb_rd_ok(&rd); i++) {
        sb_slice_t k = cql_rd_string(&rd);
        int nv = cql_rd_short(&rd);
        for (int j = 0; j < nv && sb_rd_ok(&rd); j++) {
            sb_slice_t v = cql_rd_string(&rd);
            if (sb_rd_ok(&rd) && cql_slice_eq(k, key) && cql_slice_eq(v, value)) found = true;
        }
    }
    return found && sb_rd_ok(&rd);
}

static void metadata_deinit(cql_metadata_t *m)
{
    if (m->cols)
        for (int i = 0; i < m->ncols; i++) cql_type_free(m->cols[i].type);
    free(m->cols);
    free(m->pk_indexes);
    memset(m, 0, sizeof(*m));
    m->paging_state = m->new_metadata_id = (sb_slice_t){NULL, -1};
}

/* Rows metadata (prepared == false) or prepared bind metadata (prepared == true, which has
 * pk indexes and no paging state / No_metadata). */
static int metadata_decode(sb_rd_t *rd, int version, bool prepared, cql_metadata_t *m, sb_err_t *err)
{
    memset(m, 0, sizeof(*m));
    m->paging_state = m->new_metadata_id = (sb_slice_t){NULL, -1};
    m->flags = sb_rd_i32(rd);
    m->ncols = sb_rd_i32(rd);
    if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "CQL result metadata is truncated");
    if (m->ncols < 0 || m->ncols > CQL_MAX_COLUMNS)
        return sb_err_set(err, SB_EINVAL, "CQL result metadata has %d columns", m->ncols);
    if (prepared) {
        m->npk = sb_rd_i32(rd);
        if (!sb_rd_ok(rd) || m->npk < 0 || (size_t)m->npk * 2 > sb_rd_remaining(rd))
            return sb_err_set(err, SB_EINVAL, "CQL prepared metadata has a bad partition key count");
        if (m->npk > 0) {
            m->pk_indexes = malloc(sizeof(uint16_t) * (size_t)m->npk);
            if (!m->pk_indexes) return sb_err_set(err, SB_ENOMEM, "out of memory");
            for (int i = 0; i < m->npk; i++) {
                m->pk_indexes[i] = cql_rd_short(rd);
                if (m->pk_indexes[i] >= m->ncols)
                    return sb_err_set(err, SB_EINVAL, "CQL partition key index %u is not a bind marker",
                                      m->pk_indexes[i]);
            }
        }
    } else {
        if (m->flags & 0x0002) {
            m->paging_state = cql_rd_bytes(rd);
            if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "CQL paging state is truncated");
        }
        if (version >= CQL_PROTOCOL_V5 && (m->flags & 0x0008)) {
            m->new_metadata_id = cql_rd_short_bytes(rd); /* Metadata_changed */
            if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "CQL new metadata id is truncated");
        }
        if (m->flags & 0x0004) return 0; /* No_metadata */
    }
    sb_slice_t gks = {NULL, -1}, gtable = {NULL, -1};
    bool global = m->flags & 0x0001;
    if (global && m->ncols > 0) {
        gks = cql_rd_string(rd);
        gtable = cql_rd_string(rd);
    }
    /* A column spec is at least a name and a type id: 4 bytes. */
    if ((size_t)m->ncols * 4 > sb_rd_remaining(rd))
        return sb_err_set(err, SB_EINVAL, "CQL result metadata is truncated (%d columns)", m->ncols);
    if (m->ncols > 0) {
        m->cols = calloc((size_t)m->ncols, sizeof(*m->cols));
        if (!m->cols) return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    for (int i = 0; i < m->ncols; i++) {
        cql_column_t *c = &m->cols[i];
        if (global) {
            c->keyspace = gks;
            c->table = gtable;
        } else {
            c->keyspace = cql_rd_string(rd);
            c->table = cql_rd_string(rd);
        }
        c->name = cql_rd_string(rd);
        int rc = cql_type_decode(rd, 0, &c->type, err);
        if (rc != 0) return rc;
    }
    if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "CQL result metadata is truncated");
    return 0;
}

int cql_result_decode(const uint8_t *body, size_t len, int version, cql_result_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    out->meta.paging_state = out->result_meta.paging_state = (sb_slice_t){NULL, -1};
    out->meta.new_metadata_id = out->result_meta.new_metadata_id = (sb_slice_t){NULL, -1};
    out->result_metadata_id = (sb_slice_t){NULL, -1};
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    out->kind = sb_rd_i32(&rd);
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EINVAL, "CQL RESULT body is truncated");
    int rc = 0;
    switch (out->kind) {
    case CQL_RESULT_VOID: break;
    case CQL_RESULT_ROWS: {
        if ((rc = metadata_decode(&rd, version, false, &out->meta, err)) != 0) break;
        out->nrows = sb_rd_i32(&rd);
        int64_t cells = (int64_t)out->nrows * out->meta.ncols;
        /* Every cell is at least its 4-byte length. */
        /* Rows of no columns cost no bytes, so a row count could not be checked against the
         * body; no SELECT returns them, and a caller looping over 2^31 of them would hang. */
        if (!sb_rd_ok(&rd) || out->nrows < 0 || (uint64_t)cells * 4 > sb_rd_remaining(&rd) ||
            (out->meta.ncols == 0 && out->nrows > 0)) {
            rc = sb_err_set(err, SB_EINVAL, "CQL RESULT has a bad row count %d", out->nrows);
            break;
        }
        if (cells > 0) {
            out->values = malloc(sizeof(sb_slice_t) * (size_t)cells);
            if (!out->values) {
                rc = sb_err_set(err, SB_ENOMEM, "out of memory for %d rows", out->nrows);
                break;
            }
        }
        for (int64_t i = 0; i < cells; i++) {
            int32_t n = sb_rd_i32(&rd);
            if (n < 0) {
                out->values[i] = (sb_slice_t){NULL, -1};
                continue;
            }
            const uint8_t *p = sb_rd_bytes(&rd, (size_t)n);
            out->values[i] = (sb_slice_t){p, n};
        }
        if (!sb_rd_ok(&rd)) rc = sb_err_set(err, SB_EINVAL, "CQL RESULT rows are truncated");
        break;
    }
    case CQL_RESULT_SET_KEYSPACE:
        out->keyspace = cql_rd_string(&rd);
        if (!sb_rd_ok(&rd)) rc = sb_err_set(err, SB_EINVAL, "CQL Set_keyspace result is truncated");
        break;
    case CQL_RESULT_PREPARED:
        out->prepared_id = cql_rd_short_bytes(&rd);
        if (version >= CQL_PROTOCOL_V5) out->result_metadata_id = cql_rd_short_bytes(&rd);
        if (!sb_rd_ok(&rd)) {
            rc = sb_err_set(err, SB_EINVAL, "CQL Prepared result is truncated");
            break;
        }
        if ((rc = metadata_decode(&rd, version, true, &out->meta, err)) != 0) break;
        rc = metadata_decode(&rd, version, false, &out->result_meta, err);
        break;
    case CQL_RESULT_SCHEMA_CHANGE:
        out->change_type = cql_rd_string(&rd);
        out->target = cql_rd_string(&rd);
        out->change_keyspace = cql_rd_string(&rd);
        if (!cql_slice_eq(out->target, "KEYSPACE")) out->change_name = cql_rd_string(&rd);
        if (!sb_rd_ok(&rd)) rc = sb_err_set(err, SB_EINVAL, "CQL Schema_change result is truncated");
        break;
    default:
        rc = sb_err_set(err, SB_EINVAL, "CQL RESULT has unknown kind %d", out->kind);
    }
    if (rc != 0) cql_result_deinit(out);
    return rc;
}

void cql_result_deinit(cql_result_t *r)
{
    metadata_deinit(&r->meta);
    metadata_deinit(&r->result_meta);
    free(r->values);
    free(r->owned_body);
    memset(r, 0, sizeof(*r));
}

void cql_result_free(cql_result_t *r)
{
    if (!r) return;
    cql_result_deinit(r);
    free(r);
}

void cql_result_own_body(cql_result_t *r, uint8_t *body)
{
    r->owned_body = body;
}

sb_slice_t cql_result_cell(const cql_result_t *r, int row, int col)
{
    if (r->kind != CQL_RESULT_ROWS || row < 0 || row >= r->nrows || col < 0 || col >= r->meta.ncols)
        return (sb_slice_t){NULL, -1};
    return r->values[(size_t)row * (size_t)r->meta.ncols + (size_t)col];
}

int cql_result_column(const cql_result_t *r, const char *name)
{
    if (!r->meta.cols) return -1;
    for (int i = 0; i < r->meta.ncols; i++)
        if (cql_slice_eq(r->meta.cols[i].name, name)) return i;
    return -1;
}

int cql_event_decode(const uint8_t *body, size_t len, cql_event_t *out, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    memset(out, 0, sizeof(*out));
    out->type = cql_rd_string(&rd);
    out->change = cql_rd_string(&rd);
    if (cql_slice_eq(out->type, "SCHEMA_CHANGE")) {
        out->target = cql_rd_string(&rd);
        out->keyspace = cql_rd_string(&rd);
        if (!cql_slice_eq(out->target, "KEYSPACE")) out->name = cql_rd_string(&rd);
    } else if (cql_slice_eq(out->type, "TOPOLOGY_CHANGE") || cql_slice_eq(out->type, "STATUS_CHANGE")) {
        /* [inet]: one byte of address size (4 or 16), the address, an [int] port. */
        uint8_t n = (uint8_t)sb_rd_i8(&rd);
        const uint8_t *a = sb_rd_bytes(&rd, n);
        out->port = sb_rd_i32(&rd);
        if (sb_rd_ok(&rd) && (n == 4 || n == 16))
            inet_ntop(n == 4 ? AF_INET : AF_INET6, a, out->address, sizeof(out->address));
        else if (sb_rd_ok(&rd))
            return sb_err_set(err, SB_EINVAL, "CQL EVENT address has %u bytes", n);
    } else if (sb_rd_ok(&rd)) {
        return sb_err_set(err, SB_EINVAL, "CQL EVENT of unknown type %.*s", out->type.len, out->type.p);
    }
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EINVAL, "CQL EVENT body is truncated");
    return 0;
}
