/* CQL v4 frames and messages against byte vectors written from apache/cassandra
 * doc/native_protocol_v4.spec: the frame header (section 2), request bodies (4.1), ERROR, RESULT
 * (Rows, Prepared, Set_keyspace, Schema_change), EVENT and SUPPORTED (4.2), and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cql/cql_proto.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static void test_frame_header(void **state)
{
    (void)state;
    cql_frame_header_t h;
    sb_err_t err = {0};
    /* version 0x84 (v4 response), flags 0, stream 0x0001, opcode RESULT, length 4. */
    static const uint8_t ok[9] = {0x84, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x04};
    assert_int_equal(cql_frame_header_decode(ok, 4, 1024, &h, &err), 0);
    assert_int_equal(h.stream, 1);
    assert_int_equal(h.opcode, CQL_OP_RESULT);
    assert_int_equal(h.length, 4);
    /* EVENT frames carry stream -1. */
    static const uint8_t ev[9] = {0x84, 0x00, 0xff, 0xff, 0x0c, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(cql_frame_header_decode(ev, 4, 1024, &h, &err), 0);
    assert_int_equal(h.stream, -1);
    /* A request-direction or other-version byte, an oversized or negative body, compression. */
    static const uint8_t req[9] = {0x04, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x04};
    assert_int_equal(cql_frame_header_decode(req, 4, 1024, &h, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "0x04"));
    static const uint8_t v5[9] = {0x85, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x04};
    assert_int_equal(cql_frame_header_decode(v5, 4, 1024, &h, &err), SB_EINVAL);
    static const uint8_t big[9] = {0x84, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x04, 0x01};
    assert_int_equal(cql_frame_header_decode(big, 4, 1024, &h, &err), SB_ELIMIT);
    static const uint8_t neg[9] = {0x84, 0x00, 0x00, 0x01, 0x08, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(cql_frame_header_decode(neg, 4, 1024, &h, &err), SB_ELIMIT);
    static const uint8_t comp[9] = {0x84, 0x01, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x04};
    assert_int_equal(cql_frame_header_decode(comp, 4, 1024, &h, &err), SB_EINVAL);
}

static void assert_frame(const sb_wr_t *w, const uint8_t *want, size_t n)
{
    if (w->len != n || memcmp(w->buf, want, n) != 0) {
        for (size_t i = 0; i < w->len; i++) fprintf(stderr, "%02x ", w->buf[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(w->len, n);
    assert_memory_equal(w->buf, want, n);
}

static void test_request_encoders(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_wr_init(&w, 64);
    cql_encode_options(&w, 4, 3);
    assert_frame(&w, B(0x04, 0x00, 0x00, 0x03, 0x05, 0x00, 0x00, 0x00, 0x00));

    /* QUERY "SELECT 1" at QUORUM, no flags: <long string><consistency><flags>. */
    sb_wr_reset(&w);
    cql_query_params_t p;
    cql_query_params_init(&p);
    p.consistency = CQL_CONSISTENCY_QUORUM;
    cql_encode_query(&w, 4, 7, "SELECT 1", &p);
    assert_frame(&w, B(0x04, 0x00, 0x00, 0x07, 0x07, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x08, 'S', 'E', 'L',
                       'E', 'C', 'T', ' ', '1', 0x00, 0x04, 0x00));

    /* Every optional part: values (0x01), page size (0x04), paging state (0x08), serial
     * consistency (0x10), default timestamp (0x20), in that order. */
    sb_wr_reset(&w);
    cql_values_t v;
    cql_values_init(&v);
    cql_values_int(&v, 42);
    cql_values_null(&v);
    cql_values_unset(&v);
    p.values = &v;
    p.consistency = CQL_CONSISTENCY_LOCAL_ONE;
    p.page_size = 100;
    p.paging_state = (sb_slice_t){(const uint8_t *)"\xab\xcd", 2};
    p.has_serial_consistency = true;
    p.serial_consistency = CQL_CONSISTENCY_LOCAL_SERIAL;
    p.has_timestamp = true;
    p.timestamp_us = 0x0102030405060708LL;
    cql_encode_execute(&w, 4, 1, (sb_slice_t){(const uint8_t *)"\x11\x22\x33", 3}, (sb_slice_t){NULL, -1}, &p);
    assert_frame(&w, B(0x04, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x00, 0x2e,
                       0x00, 0x03, 0x11, 0x22, 0x33,                 /* id: [short bytes] */
                       0x00, 0x0a, 0x3d,                             /* LOCAL_ONE, flags */
                       0x00, 0x03,                                   /* 3 values */
                       0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x2a, /* 42 */
                       0xff, 0xff, 0xff, 0xff,                       /* null */
                       0xff, 0xff, 0xff, 0xfe,                       /* not set */
                       0x00, 0x00, 0x00, 0x64,                       /* page size */
                       0x00, 0x00, 0x00, 0x02, 0xab, 0xcd,           /* paging state */
                       0x00, 0x09,                                   /* LOCAL_SERIAL */
                       0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08));
    sb_slice_t got;
    assert_int_equal(cql_values_get(&v, 0, &got), 0);
    assert_int_equal(got.len, 4);
    assert_int_equal(cql_values_get(&v, 1, &got), 0);
    assert_int_equal(got.len, -1);
    assert_int_equal(cql_values_get(&v, 3, &got), SB_ENOENT);
    cql_values_deinit(&v);

    /* SASL PLAIN: [bytes] "\0user\0pw". */
    sb_wr_reset(&w);
    cql_encode_auth_response_plain(&w, 4, 2, "user", "pw");
    assert_frame(&w, B(0x04, 0x00, 0x00, 0x02, 0x0f, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x08, 0x00, 'u',
                       's', 'e', 'r', 0x00, 'p', 'w'));

    sb_wr_reset(&w);
    const char *events[] = {"STATUS_CHANGE"};
    cql_encode_register(&w, 4, 4, events, 1);
    assert_frame(&w, B(0x04, 0x00, 0x00, 0x04, 0x0b, 0x00, 0x00, 0x00, 0x11, 0x00, 0x01, 0x00, 0x0d, 'S', 'T',
                       'A', 'T', 'U', 'S', '_', 'C', 'H', 'A', 'N', 'G', 'E'));

    /* STARTUP: a [string map] whose first entry is CQL_VERSION 3.0.0. */
    sb_wr_reset(&w);
    cql_encode_startup(&w, 4, 0, "1.2.3");
    assert_int_equal(w.buf[4], CQL_OP_STARTUP);
    assert_memory_equal(w.buf + 9, "\x00\x03\x00\x0b" "CQL_VERSION" "\x00\x05" "3.0.0", 22);
    sb_wr_deinit(&w);
}

static void test_error_bodies(void **state)
{
    (void)state;
    cql_server_error_t e;
    sb_err_t err = {0};
    assert_int_equal(cql_error_decode(B(0x00, 0x00, 0x22, 0x00, 0x00, 0x05, 'o', 'o', 'p', 's', '!'), &e, &err), 0);
    assert_int_equal(e.code, CQL_ERR_INVALID);
    assert_int_equal(e.message.len, 5);
    assert_memory_equal(e.message.p, "oops!", 5);
    assert_string_equal(cql_error_name(e.code), "Invalid");
    /* Unprepared carries the unknown id as [short bytes]. */
    assert_int_equal(cql_error_decode(B(0x00, 0x00, 0x25, 0x00, 0x00, 0x01, 'x', 0x00, 0x02, 0xbe, 0xef), &e, &err), 0);
    assert_int_equal(e.code, CQL_ERR_UNPREPARED);
    assert_int_equal(e.unprepared_id.len, 2);
    assert_memory_equal(e.unprepared_id.p, "\xbe\xef", 2);
    /* A message longer than the body. */
    assert_int_equal(cql_error_decode(B(0x00, 0x00, 0x22, 0x00, 0x00, 0x09, 'o'), &e, &err), SB_EINVAL);
}

static void test_rows_result(void **state)
{
    (void)state;
    cql_result_t r;
    sb_err_t err = {0};
    /* kind Rows; flags Global_tables_spec|Has_more_pages; 2 columns; paging state "PS";
     * ks "k", table "t"; columns id int, name text; 2 rows: (1, "a"), (2, null). */
    static const uint8_t body[] = {
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 'P', 'S',
        0x00, 0x01, 'k', 0x00, 0x01, 't', 0x00, 0x02, 'i', 'd', 0x00, 0x09, 0x00, 0x04, 'n', 'a', 'm', 'e', 0x00,
        0x0d, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 'a',
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(cql_result_decode(body, sizeof(body), 4, &r, &err), 0);
    assert_int_equal(r.kind, CQL_RESULT_ROWS);
    assert_int_equal(r.meta.ncols, 2);
    assert_int_equal(r.nrows, 2);
    assert_true(cql_result_has_more_pages(&r));
    assert_memory_equal(r.meta.paging_state.p, "PS", 2);
    assert_int_equal(cql_result_column(&r, "name"), 1);
    assert_int_equal(cql_result_column(&r, "nope"), -1);
    assert_int_equal(r.meta.cols[1].keyspace.len, 1);
    assert_int_equal(r.meta.cols[1].type->id, CQL_TYPE_VARCHAR);
    assert_int_equal(cql_result_cell(&r, 0, 1).len, 1);
    assert_int_equal(cql_result_cell(&r, 1, 1).len, -1);
    assert_int_equal(cql_result_cell(&r, 2, 0).len, -1); /* out of range is null, not a crash */
    cql_result_deinit(&r);

    /* No_metadata (what Skip_metadata asks for): flags, count, no column specs. */
    static const uint8_t nometa[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
                                     0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 'z'};
    assert_int_equal(cql_result_decode(nometa, sizeof(nometa), 4, &r, &err), 0);
    assert_null(r.meta.cols);
    assert_false(cql_result_has_more_pages(&r));
    assert_int_equal(cql_result_cell(&r, 0, 0).len, 1);
    cql_result_deinit(&r);

    /* A row count the body cannot hold is refused before allocating for it. */
    static const uint8_t lie[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
                                  0x7f, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(cql_result_decode(lie, sizeof(lie), 4, &r, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "row count"));
    /* Rows of zero columns take no bytes: a huge count of them is refused too (found by
     * fuzz_cql_frame, where a consumer's row loop ran for 2^31 empty rows). */
    static const uint8_t empty_rows[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
                                         0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(cql_result_decode(empty_rows, sizeof(empty_rows), 4, &r, &err), SB_EINVAL);
    /* A truncated cell. */
    static const uint8_t cut[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
                                  0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 'z'};
    assert_int_equal(cql_result_decode(cut, sizeof(cut), 4, &r, &err), SB_EINVAL);
    /* Unknown kind. */
    assert_int_equal(cql_result_decode(B(0x00, 0x00, 0x00, 0x09), 4, &r, &err), SB_EINVAL);
}

static void test_prepared_result(void **state)
{
    (void)state;
    cql_result_t r;
    sb_err_t err = {0};
    /* id 0xcafe; bind metadata: Global_tables_spec, 2 markers, pk_count 2, pk indexes [1, 0],
     * ks/table, markers a int, b text; result metadata: No_metadata, 0 columns. */
    static const uint8_t body[] = {0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0xca, 0xfe, 0x00, 0x00, 0x00, 0x01,
                                   0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
                                   0x00, 0x01, 'k', 0x00, 0x01, 't', 0x00, 0x01, 'a', 0x00, 0x09, 0x00, 0x01,
                                   'b', 0x00, 0x0d, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(cql_result_decode(body, sizeof(body), 4, &r, &err), 0);
    assert_int_equal(r.kind, CQL_RESULT_PREPARED);
    assert_int_equal(r.prepared_id.len, 2);
    assert_int_equal(r.meta.ncols, 2);
    assert_int_equal(r.meta.npk, 2);
    assert_int_equal(r.meta.pk_indexes[0], 1);
    assert_int_equal(r.meta.pk_indexes[1], 0);
    assert_int_equal(r.result_meta.ncols, 0);
    cql_result_deinit(&r);

    /* A partition key index that names no bind marker. */
    uint8_t bad[sizeof(body)];
    memcpy(bad, body, sizeof(body));
    bad[21] = 0x07;
    assert_int_equal(cql_result_decode(bad, sizeof(bad), 4, &r, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "not a bind marker"));
}

static void test_other_results_and_events(void **state)
{
    (void)state;
    cql_result_t r;
    sb_err_t err = {0};
    assert_int_equal(cql_result_decode(B(0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 'k', 's'), 4, &r, &err), 0);
    assert_int_equal(r.kind, CQL_RESULT_SET_KEYSPACE);
    assert_memory_equal(r.keyspace.p, "ks", 2);
    cql_result_deinit(&r);
    assert_int_equal(cql_result_decode(B(0x00, 0x00, 0x00, 0x05, 0x00, 0x07, 'C', 'R', 'E', 'A', 'T', 'E', 'D', 0x00,
                                         0x05, 'T', 'A', 'B', 'L', 'E', 0x00, 0x01, 'k', 0x00, 0x01, 't'),
                                       4, &r, &err),
                     0);
    assert_int_equal(r.kind, CQL_RESULT_SCHEMA_CHANGE);
    assert_memory_equal(r.change_name.p, "t", 1);
    cql_result_deinit(&r);

    cql_event_t e;
    /* STATUS_CHANGE "UP" [inet] 4 bytes 10.0.0.7 port 9042. */
    assert_int_equal(cql_event_decode(B(0x00, 0x0d, 'S', 'T', 'A', 'T', 'U', 'S', '_', 'C', 'H', 'A', 'N', 'G', 'E',
                                        0x00, 0x02, 'U', 'P', 0x04, 10, 0, 0, 7, 0x00, 0x00, 0x23, 0x52),
                                      &e, &err),
                     0);
    assert_string_equal(e.address, "10.0.0.7");
    assert_int_equal(e.port, 9042);
    /* An [inet] of 5 bytes. */
    assert_int_equal(cql_event_decode(B(0x00, 0x0d, 'S', 'T', 'A', 'T', 'U', 'S', '_', 'C', 'H', 'A', 'N', 'G', 'E',
                                        0x00, 0x02, 'U', 'P', 0x05, 1, 2, 3, 4, 5, 0x00, 0x00, 0x23, 0x52),
                                      &e, &err),
                     SB_EINVAL);
    assert_int_equal(cql_event_decode(B(0x00, 0x03, 'F', 'O', 'O', 0x00, 0x00), &e, &err), SB_EINVAL);

    /* Warnings before the body (flag 0x08): a [string list]. */
    sb_rd_t rd;
    sb_rd_init(&rd, "\x00\x01\x00\x02hi\x00\x00\x00\x01", 10);
    assert_int_equal(cql_response_skip_prefix(&rd, CQL_FLAG_WARNING), 1);
    assert_int_equal(sb_rd_remaining(&rd), 4);

    sb_slice_t v;
    assert_int_equal(cql_supported_find(B(0x00, 0x01, 0x00, 0x0b, 'C', 'Q', 'L', '_', 'V', 'E', 'R', 'S', 'I', 'O',
                                          'N', 0x00, 0x01, 0x00, 0x05, '3', '.', '4', '.', '5'),
                                        "CQL_VERSION", &v, &err),
                     0);
    assert_int_equal(v.len, 5);
    assert_int_equal(cql_supported_find(B(0x00, 0x01, 0x00, 0x0b, 'C'), "CQL_VERSION", &v, &err), SB_EINVAL);

    cql_consistency_t c;
    assert_int_equal(cql_consistency_parse("local_quorum", &c), 0);
    assert_int_equal(c, CQL_CONSISTENCY_LOCAL_QUORUM);
    assert_int_equal(cql_consistency_parse("MOST", &c), SB_EINVAL);
    assert_string_equal(cql_consistency_name(CQL_CONSISTENCY_LOCAL_ONE), "LOCAL_ONE");
}

/* Protocol v5 (native_protocol_v5.spec 4.1.4-4.1.6, 4.2.5.2, 4.2.5.4): [int] query flags,
 * PREPARE flags, EXECUTE and Prepared with a result metadata id, Metadata_changed. */
static void test_v5_messages(void **state)
{
    (void)state;
    sb_err_t err = {0};
    cql_frame_header_t h;
    static const uint8_t hdr5[9] = {0x85, 0x01, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x04};
    assert_int_equal(cql_frame_header_decode(hdr5, 5, 1024, &h, &err), 0); /* compression flag ignored */
    assert_int_equal(cql_frame_header_decode(hdr5, 4, 1024, &h, &err), SB_EINVAL);

    sb_wr_t w;
    sb_wr_init(&w, 64);
    cql_query_params_t p;
    cql_query_params_init(&p);
    p.consistency = CQL_CONSISTENCY_QUORUM;
    p.page_size = 5;
    cql_encode_query(&w, 5, 7, "SELECT 1", &p);
    assert_frame(&w, B(0x05, 0x00, 0x00, 0x07, 0x07, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x08, 'S', 'E', 'L',
                       'E', 'C', 'T', ' ', '1', 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05));
    sb_wr_reset(&w);
    cql_encode_prepare(&w, 5, 2, "X");
    assert_frame(&w, B(0x05, 0x00, 0x00, 0x02, 0x09, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 'X', 0x00, 0x00,
                       0x00, 0x00));
    sb_wr_reset(&w);
    cql_query_params_init(&p);
    cql_encode_execute(&w, 5, 3, (sb_slice_t){(const uint8_t *)"\xaa", 1}, (sb_slice_t){(const uint8_t *)"\xbb\xcc", 2},
                       &p);
    assert_frame(&w, B(0x05, 0x00, 0x00, 0x03, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x01, 0xaa, 0x00, 0x02, 0xbb, 0xcc,
                       0x00, 0x01, 0x00, 0x00, 0x00, 0x00));
    sb_wr_deinit(&w);

    /* Prepared: <id><result_metadata_id><metadata><result_metadata>. */
    cql_result_t r;
    static const uint8_t prep[] = {0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0xaa, 0x00, 0x02, 0xbb, 0xcc,
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(cql_result_decode(prep, sizeof(prep), 5, &r, &err), 0);
    assert_int_equal(r.prepared_id.len, 1);
    assert_int_equal(r.result_metadata_id.len, 2);
    assert_memory_equal(r.result_metadata_id.p, "\xbb\xcc", 2);
    cql_result_deinit(&r);
    /* The same bytes read as v4 take the metadata id for metadata: refused, not misread. */
    assert_int_not_equal(cql_result_decode(prep, sizeof(prep), 4, &r, &err), 0);

    /* Rows with Metadata_changed: <flags><count>[<paging_state>][<new_metadata_id>]<specs>. */
    static const uint8_t rows[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01,
                                   0x00, 0x01, 0xdd, 0x00, 0x01, 'k', 0x00, 0x01, 't', 0x00, 0x01, 'a',
                                   0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00,
                                   0x00, 0x2a};
    assert_int_equal(cql_result_decode(rows, sizeof(rows), 5, &r, &err), 0);
    assert_int_equal(r.meta.new_metadata_id.len, 1);
    assert_int_equal(r.meta.new_metadata_id.p[0], 0xdd);
    assert_int_equal(r.nrows, 1);
    cql_result_deinit(&r);

    assert_true(cql_supported_has(B(0x00, 0x01, 0x00, 0x11, 'P', 'R', 'O', 'T', 'O', 'C', 'O', 'L', '_', 'V', 'E', 'R',
                                    'S', 'I', 'O', 'N', 'S', 0x00, 0x02, 0x00, 0x04, '4', '/', 'v', '4', 0x00, 0x04,
                                    '5', '/', 'v', '5'),
                                  "PROTOCOL_VERSIONS", "5/v5"));
    assert_false(cql_supported_has(B(0x00, 0x01, 0x00, 0x11, 'P', 'R', 'O', 'T', 'O', 'C', 'O', 'L', '_', 'V', 'E', 'R',
                                     'S', 'I', 'O', 'N', 'S', 0x00, 0x01, 0x00, 0x09, '5', '/', 'v', '5', '-', 'b',
                                     'e', 't', 'a'),
                                   "PROTOCOL_VERSIONS", "5/v5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_header),
        cmocka_unit_test(test_request_encoders),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_rows_result),
        cmocka_unit_test(test_prepared_result),
        cmocka_unit_test(test_other_results_and_events),
        cmocka_unit_test(test_v5_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
