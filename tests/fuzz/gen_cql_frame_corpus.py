#!/usr/bin/python3
"""Writes the seed corpus for fuzz_cql_frame: CQL v4 response frames as the fake CQL server
(tests/fixtures/cql_server.py, itself cross-checked with the python3-cassandra driver) builds
them: a Rows result with a column of every CQL type, a paged result, a Prepared result, errors
(with the UNPREPARED id), events, SUPPORTED and AUTHENTICATE, v5 results and a v5 segment, and a
few broken ones.

Run from the repository root: tests/fuzz/gen_cql_frame_corpus.py
The output is committed; rerunning it must reproduce the same files."""
import importlib.util
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus" / "fuzz_cql_frame"


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


srv = load("cql_server", HERE.parent / "fixtures" / "cql_server.py")
fx = load("cql_fixtures", HERE.parent / "integration" / "cql_fixtures.py")


def frame(opcode, body, stream=1, flags=0, version=4):
    return struct.pack(">BBhBi", 0x80 | version, flags, stream, opcode, len(body)) + body


def rows(table, page=None, state=None, version=4, new_id=None):
    cols = [(c, t) for c, t in table.columns]
    out = srv.w_int(srv.KIND_ROWS) + srv.rows_metadata(cols, state, False, table, version, new_id)
    chosen = table.rows[:page] if page else table.rows
    out += srv.w_int(len(chosen))
    for row in chosen:
        out += b"".join(srv.w_bytes(row.get(c)) for c, _ in cols)
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cluster = srv.FakeCluster(addresses=["127.0.0.1"])
    all_types = fx.add_all_types_table(cluster)
    events = fx.add_events_table(cluster, rows=5)
    node = cluster.nodes[0]
    st = srv.Statement("SELECT seq, payload FROM shop.events WHERE tenant = ? AND day = ?", None, cluster.model)
    seeds = {
        "rows_all_types": frame(srv.OP_RESULT, rows(all_types)),
        "rows_paged": frame(srv.OP_RESULT, rows(events, page=2, state=b"\x00\x00\x00\x02pagestat")),
        "prepared": frame(srv.OP_RESULT, node._prepared_body(b"\x01" * 16, st)),
        "void": frame(srv.OP_RESULT, srv.w_int(srv.KIND_VOID)),
        "set_keyspace": frame(srv.OP_RESULT, srv.w_int(srv.KIND_SET_KEYSPACE) + srv.w_string("shop")),
        "error_invalid": frame(srv.OP_ERROR, srv.w_int(0x2200) + srv.w_string("unconfigured table nope")),
        "error_unprepared": frame(srv.OP_ERROR, srv.w_int(0x2500) + srv.w_string("Prepared query not found")
                                  + srv.w_short_bytes(b"\xab" * 16)),
        "event_status": frame(srv.OP_EVENT, srv.w_string("STATUS_CHANGE") + srv.w_string("DOWN")
                              + srv.w_inet("10.0.0.7", 9042), stream=-1),
        "event_schema": frame(srv.OP_EVENT, srv.w_string("SCHEMA_CHANGE") + srv.w_string("UPDATED")
                              + srv.w_string("TABLE") + srv.w_string("shop") + srv.w_string("events"), stream=-1),
        "supported": frame(srv.OP_SUPPORTED, node._supported()),
        "authenticate": frame(srv.OP_AUTHENTICATE, srv.w_string(srv.PASSWORD_AUTHENTICATOR)),
        "warning_prefix": frame(srv.OP_RESULT, srv.w_string_list(["Aggregation query used without partition key"])
                                + srv.w_int(srv.KIND_VOID), flags=0x08),
        "truncated_rows": frame(srv.OP_RESULT, rows(all_types))[:-7],
        "v5_rows_all_types": frame(srv.OP_RESULT, rows(all_types, version=5), version=5),
        "v5_rows_metadata_changed": frame(srv.OP_RESULT, rows(events, page=2, state=b"\x00\x00\x00\x02pagestat",
                                                              version=5, new_id=b"\x42" * 16), version=5),
        "v5_prepared": frame(srv.OP_RESULT, node._prepared_body(b"\x01" * 16, st, 5), version=5),
        # A v5 segment around a Void result: the driver also reads its input as a segment.
        "v5_segment": srv.segments(frame(srv.OP_RESULT, srv.w_int(srv.KIND_VOID), version=5)),
        "huge_row_count": frame(srv.OP_RESULT, srv.w_int(2) + srv.w_int(4) + srv.w_int(1) + srv.w_int(0x7fffffff)),
    }
    # A truncated frame keeps its original length field: fix it so the header is valid.
    t = seeds["truncated_rows"]
    seeds["truncated_rows"] = t[:5] + struct.pack(">i", len(t) - 9) + t[9:]
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
