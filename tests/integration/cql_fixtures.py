"""Shared by the CQL tests: loads the fake CQL server (tests/fixtures/cql_server.py) and sets up
the table with a column of every CQL type that both the python-driver cross-check and the C
client tests read."""

import datetime
import decimal
import importlib.util
import ipaddress
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("cql_server", REPO / "tests" / "fixtures" / "cql_server.py")
cql_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cql_server)

UDTS = {"address": ("shop", [("street", "text"), ("postcode", "int"), ("tags", "frozen<set<text>>")])}

# Every CQL type, each once; nested collections are frozen as CQL requires.
ALL_TYPES_COLUMNS = [
    ("id", "int"), ("a_ascii", "ascii"), ("a_bigint", "bigint"), ("a_blob", "blob"),
    ("a_boolean", "boolean"), ("a_counter", "counter"), ("a_date", "date"), ("a_decimal", "decimal"),
    ("a_double", "double"), ("a_duration", "duration"), ("a_float", "float"), ("a_inet", "inet"),
    ("a_inet6", "inet"), ("a_int", "int"), ("a_smallint", "smallint"), ("a_text", "text"),
    ("a_time", "time"), ("a_timestamp", "timestamp"), ("a_timeuuid", "timeuuid"),
    ("a_tinyint", "tinyint"), ("a_uuid", "uuid"), ("a_varchar", "varchar"), ("a_varint", "varint"),
    ("a_list", "list<int>"), ("a_set", "set<text>"), ("a_map", "map<text, bigint>"),
    ("a_map_uuid", "map<uuid, frozen<list<double>>>"), ("a_tuple", "tuple<int, text, boolean>"),
    ("a_udt", "frozen<address>"), ("a_frozen", "frozen<list<frozen<map<int, text>>>>"),
]

ROW1 = {
    "id": 1, "a_ascii": "plain ascii", "a_bigint": -9223372036854775807, "a_blob": b"\x00\x01\xfe\xff",
    "a_boolean": True, "a_counter": 42, "a_date": 19000,  # days since 1970-01-01 -> 2022-01-08
    "a_decimal": decimal.Decimal("-12345678901234567890.0123456789"), "a_double": 3.141592653589793,
    "a_duration": (14, 3, 4000000005), "a_float": 1.5, "a_inet": "192.168.1.20",
    "a_inet6": "2001:db8::ff00:42:8329", "a_int": -2147483648, "a_smallint": -32768,
    "a_text": "naïve ☃ text", "a_time": 45296789012345,  # 12:34:56.789012345
    "a_timestamp": 1700000000123, "a_timeuuid": uuid.UUID("f1e2d3c4-1dd2-11b2-8080-808080808080"),
    "a_tinyint": -128, "a_uuid": uuid.UUID("123e4567-e89b-42d3-a456-426614174000"),
    "a_varchar": "varchar", "a_varint": 2 ** 100 + 7, "a_list": [1, -2, 3], "a_set": ["a", "b"],
    "a_map": {"x": 1, "y": -1}, "a_map_uuid": {uuid.UUID("00000000-0000-0000-0000-000000000001"): [0.5, -0.25]},
    "a_tuple": (7, "seven", False), "a_udt": {"street": "Main St", "postcode": 12345, "tags": ["home"]},
    "a_frozen": [{1: "one"}, {2: "two", 3: "three"}],
}
# A row whose columns are all null except the key: nulls must decode as nulls.
ROW2 = {"id": 2}

# What the C client prints for ROW1 (its JSON rendering, docs/cql.md), built independently of
# the C code from the Python values above.
EXPECTED_JSON_ROW1 = {
    "id": 1, "a_ascii": "plain ascii", "a_bigint": -9223372036854775807, "a_blob": "AAH+/w==",
    "a_boolean": True, "a_counter": 42, "a_date": "2022-01-08",
    "a_decimal": "-12345678901234567890.0123456789", "a_double": 3.141592653589793,
    "a_duration": {"months": 14, "days": 3, "nanoseconds": 4000000005}, "a_float": 1.5,
    "a_inet": "192.168.1.20", "a_inet6": "2001:db8::ff00:42:8329", "a_int": -2147483648,
    "a_smallint": -32768, "a_text": "naïve ☃ text", "a_time": "12:34:56.789012345",
    "a_timestamp": 1700000000123, "a_timeuuid": "f1e2d3c4-1dd2-11b2-8080-808080808080",
    "a_tinyint": -128, "a_uuid": "123e4567-e89b-42d3-a456-426614174000", "a_varchar": "varchar",
    "a_varint": 2 ** 100 + 7, "a_list": [1, -2, 3], "a_set": ["a", "b"], "a_map": {"x": 1, "y": -1},
    "a_map_uuid": {"00000000-0000-0000-0000-000000000001": [0.5, -0.25]},
    "a_tuple": [7, "seven", False], "a_udt": {"street": "Main St", "postcode": 12345, "tags": ["home"]},
    "a_frozen": [{"1": "one"}, {"2": "two", "3": "three"}],
}


def add_all_types_table(cluster):
    t = cluster.add_table("shop", "all_types", ALL_TYPES_COLUMNS, ["id"], udts=UDTS)
    t.insert_values(ROW1)
    t.insert_values(ROW2)
    return t


def add_events_table(cluster, rows=25):
    """shop.events: partition key (tenant, day), clustering seq; `rows` rows in tenant 'acme'."""
    t = cluster.add_table("shop", "events", [("tenant", "text"), ("day", "int"), ("seq", "int"),
                                             ("payload", "text")], ["tenant", "day"], ["seq"])
    for i in range(rows):
        t.insert_values({"tenant": "acme", "day": 1, "seq": i, "payload": "event %d" % i})
    return t


def python_value_checks():
    """(column, expected value as python3-cassandra decodes it) for ROW1."""
    from cassandra.util import Date, Duration, Time  # noqa: the driver's own value classes
    return {
        "a_date": Date(datetime.date(2022, 1, 8)),
        "a_time": Time(45296789012345),
        "a_timestamp": datetime.datetime(2023, 11, 14, 22, 13, 20, 123000),
        "a_duration": Duration(14, 3, 4000000005),
        "a_inet": str(ipaddress.ip_address("192.168.1.20")),
    }
