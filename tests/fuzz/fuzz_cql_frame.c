/* Fuzz driver for the CQL v4 response decoders: the input is one response frame (9-byte header
 * and body) as a node would send it. The header is checked, the frame's prefix (tracing id,
 * warnings, custom payload) skipped, and the body decoded by its opcode; every cell of a Rows
 * result is rendered as JSON through its column type, which walks the type trees and every value
 * decoder. Nothing may read outside the input, and every decoded slice must lie inside it. */
#include <stdint.h>
#include <stdlib.h>

#include "cql/cql_proto.h"
#include "cql/cql_segment.h"
#include "cql/cql_types.h"

static const uint8_t *lo, *hi;

static void check_slice(sb_slice_t s)
{
    if (s.len < 0) return;
    if (s.len > 0 && (s.p < lo || s.p + s.len > hi)) abort();
}

static void check_metadata(const cql_metadata_t *m)
{
    check_slice(m->paging_state);
    for (int i = 0; m->cols && i < m->ncols; i++) {
        check_slice(m->cols[i].keyspace);
        check_slice(m->cols[i].table);
        check_slice(m->cols[i].name);
        if (!m->cols[i].type) abort();
    }
    for (int i = 0; i < m->npk; i++)
        if (m->pk_indexes[i] >= m->ncols) abort();
}

/* The same bytes read as a v5 segment: the header's length must be honoured before the
 * payload CRC is computed over it. */
static void fuzz_segment(const uint8_t *data, size_t size)
{
    size_t plen;
    bool self_contained;
    if (size < CQL_SEGMENT_HEADER_LEN || cql_segment_header_decode(data, &plen, &self_contained, NULL) != 0) return;
    if (plen > CQL_SEGMENT_MAX_PAYLOAD) abort();
    if (size - CQL_SEGMENT_HEADER_LEN >= plen + CQL_SEGMENT_TRAILER_LEN)
        cql_segment_payload_check(data + CQL_SEGMENT_HEADER_LEN, plen, data + CQL_SEGMENT_HEADER_LEN + plen, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_segment(data, size);
    if (size < CQL_HEADER_LEN) return 0;
    /* The version byte picks v4 or v5 decoding (0x84 / 0x85). */
    int version = (data[0] & 0x7f) == CQL_PROTOCOL_V5 ? CQL_PROTOCOL_V5 : CQL_PROTOCOL_V4;
    cql_frame_header_t h;
    if (cql_frame_header_decode(data, version, size - CQL_HEADER_LEN, &h, NULL) != 0) return 0;
    const uint8_t *body = data + CQL_HEADER_LEN;
    size_t len = (size_t)h.length;
    sb_rd_t rd;
    sb_rd_init(&rd, body, len);
    cql_response_skip_prefix(&rd, h.flags);
    if (!sb_rd_ok(&rd)) return 0;
    body += len - sb_rd_remaining(&rd);
    len = sb_rd_remaining(&rd);
    lo = body;
    hi = body + len;

    switch (h.opcode) {
    case CQL_OP_ERROR: {
        cql_server_error_t e;
        if (cql_error_decode(body, len, &e, NULL) == 0) {
            check_slice(e.message);
            check_slice(e.unprepared_id);
        }
        break;
    }
    case CQL_OP_AUTHENTICATE: {
        sb_slice_t s;
        if (cql_authenticate_decode(body, len, &s, NULL) == 0) check_slice(s);
        break;
    }
    case CQL_OP_SUPPORTED: {
        sb_slice_t s;
        if (cql_supported_find(body, len, "CQL_VERSION", &s, NULL) == 0) check_slice(s);
        break;
    }
    case CQL_OP_EVENT: {
        cql_event_t e;
        if (cql_event_decode(body, len, &e, NULL) == 0) {
            check_slice(e.type);
            check_slice(e.change);
            check_slice(e.keyspace);
            check_slice(e.name);
        }
        break;
    }
    case CQL_OP_RESULT: {
        cql_result_t r;
        if (cql_result_decode(body, len, version, &r, NULL) != 0) break;
        check_metadata(&r.meta);
        check_metadata(&r.result_meta);
        check_slice(r.prepared_id);
        check_slice(r.result_metadata_id);
        check_slice(r.meta.new_metadata_id);
        check_slice(r.keyspace);
        sb_wr_t w;
        sb_wr_init(&w, 256);
        for (int row = 0; row < r.nrows; row++) {
            for (int col = 0; col < r.meta.ncols; col++) {
                sb_slice_t cell = cql_result_cell(&r, row, col);
                check_slice(cell);
                if (r.meta.cols) {
                    size_t before = w.len;
                    if (cql_value_to_json(r.meta.cols[col].type, cell, &w, NULL) != 0 && w.len != before) abort();
                }
                sb_wr_reset(&w);
            }
        }
        sb_wr_deinit(&w);
        cql_result_deinit(&r);
        break;
    }
    default: break;
    }
    return 0;
}
