"""Kafka ACLs against the real broker with real clients.

Until SASL lands every connection is User:ANONYMOUS, so the cases here grant and deny that
principal (literal and prefixed patterns, deny over allow, super users, the no-ACL default) and
watch kcat, confluent-kafka (librdkafka) and kafka-python get the errors they expect. The ACL
admin APIs are driven through kafka-python's admin client (CreateAcls/DescribeAcls/DeleteAcls
v1), `streambus ctl acl` (librdkafka's admin API) and raw v2/v3 (flexible) requests, which no
Debian-packaged client sends yet.

Each broker starts with the authorizer on and a .acls file in its data directory that lets
User:ANONYMOUS change ACLs (ALTER and DESCRIBE on the cluster), so the tests manage their own
ACLs over the wire; a test that needs no such grant says so."""

import json
import struct
import subprocess
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourcePatternFilter, ResourceType
from kafka.errors import ClusterAuthorizationFailedError, SecurityDisabledError

from conftest import kcat, streambus_bin
from kafka_raw import call, cstr, s16

ANON = "User:ANONYMOUS"
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
SECURITY_DISABLED = 54
INVALID_REQUEST = 42

ADMIN_ACLS = (
    "CLUSTER LITERAL kafka-cluster User:ANONYMOUS * ALTER ALLOW\n"
    "CLUSTER LITERAL kafka-cluster User:ANONYMOUS * DESCRIBE ALLOW\n"
)


def start(start_broker, acls=ADMIN_ACLS, **authorizer):
    """A broker with the authorizer on, seeded with `acls` (the .acls text form)."""
    cfg = {"enabled": True}
    cfg.update(authorizer)
    broker = start_broker({"authorizer": cfg})
    broker.stop()
    (broker.data_dir / ".acls").write_text("# seeded by the test\n" + acls)
    return broker.start()


def ctl(broker, *args, check=True):
    proc = subprocess.run([streambus_bin(), "ctl", "--bootstrap-server", broker.bootstrap] + list(args),
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        pytest.fail("ctl %s exited %d: %s" % (" ".join(args), proc.returncode, proc.stderr))
    return proc


def acl_add(broker, *args):
    ctl(broker, "acl", "add", *args)


def kp_admin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)


def produce(broker, topic, value="v", **conf):
    """Produces one message with librdkafka; returns None or the delivery error."""
    result = {}
    p = Producer(dict({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 10000}, **conf))
    try:
        p.produce(topic, value.encode(), on_delivery=lambda err, msg: result.setdefault("err", err))
        p.flush(15)
    except KafkaException as e:  # a fatal error (idempotence refused) surfaces here
        return e.args[0]
    return result.get("err")


def confluent_admin(broker):
    """One AdminClient per broker, kept alive: librdkafka fails the futures of a destroyed
    handle."""
    if getattr(broker, "_acl_admin", None) is None:
        broker._acl_admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    return broker._acl_admin


def create_topic_open(broker, name):
    """Creates a topic with a short-lived super-user-free grant: CREATE on it, then removed."""
    acl_add(broker, "--allow-principal", ANON, "--operation", "Create", "--topic", name)
    fs = confluent_admin(broker).create_topics([NewTopic(name, 1, 1)])
    fs[name].result(15)
    ctl(broker, "acl", "remove", "--topic", name, "--allow-principal", ANON, "--operation", "Create")


def metric(broker, name, api):
    with urllib.request.urlopen(broker.admin_url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and 'api="%s"' % api in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --------------------------------------------------------------------------------------------
# the ACL admin APIs
# --------------------------------------------------------------------------------------------

def test_kafka_python_create_describe_delete_and_persist(start_broker):
    broker = start(start_broker)
    a = kp_admin(broker)
    lit = ACL(ANON, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
              ResourcePattern(ResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL))
    pre = ACL("User:alice", "10.0.0.1", ACLOperation.WRITE, ACLPermissionType.DENY,
              ResourcePattern(ResourceType.TOPIC, "sales-", ACLResourcePatternType.PREFIXED))
    grp = ACL("User:*", "*", ACLOperation.ALL, ACLPermissionType.ALLOW,
              ResourcePattern(ResourceType.GROUP, "g", ACLResourcePatternType.LITERAL))
    res = a.create_acls([lit, pre, grp])
    assert len(res["succeeded"]) == 3 and not res["failed"], res

    everything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                           ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, err = a.describe_acls(everything)
    assert err.errno == 0
    got = {(x.resource_pattern.resource_type, x.resource_pattern.resource_name,
            x.resource_pattern.pattern_type, x.principal, x.host, x.operation, x.permission_type) for x in acls}
    assert (ResourceType.TOPIC, "sales-", ACLResourcePatternType.PREFIXED, "User:alice", "10.0.0.1",
            ACLOperation.WRITE, ACLPermissionType.DENY) in got
    assert (ResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL, ANON, "*", ACLOperation.READ,
            ACLPermissionType.ALLOW) in got
    assert len(got) == 5  # the two seeded cluster grants, and ours

    # MATCH finds every binding that applies to topic "sales-eu": the prefix, not "orders".
    acls, _ = a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                        ResourcePatternFilter(ResourceType.TOPIC, "sales-eu",
                                                              ACLResourcePatternType.MATCH)))
    assert [x.resource_pattern.resource_name for x in acls] == ["sales-"]

    # An invalid binding is refused alone, naming what is wrong; the others of the request land.
    bad = ACL("alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
              ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.LITERAL))
    ok = ACL(ANON, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
             ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.LITERAL))
    res = a.create_acls([bad, ok])
    assert len(res["succeeded"]) == 1 and len(res["failed"]) == 1
    assert res["failed"][0][1].__name__ == "InvalidRequestError"
    assert res["failed"][0][0].principal == "alice"

    # Delete by principal across resources; the answer lists what went.
    res = a.delete_acls([ACLFilter("User:alice", None, ACLOperation.ANY, ACLPermissionType.ANY,
                                   ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))])
    (_, matches, err), = res
    assert err.errno == 0 and [m[0].resource_pattern.resource_name for m in matches] == ["sales-"]
    a.close()

    # Survives a restart (the .acls file is rewritten atomically on every change).
    broker.restart()
    a = kp_admin(broker)
    acls, _ = a.describe_acls(everything)
    names = sorted((x.resource_pattern.resource_name, x.operation) for x in acls)
    assert ("sales-", ACLOperation.WRITE) not in names
    assert ("orders", ACLOperation.READ) in names and ("t", ACLOperation.READ) in names
    a.close()
    text = (broker.data_dir / ".acls").read_text()
    assert "TOPIC LITERAL orders User:ANONYMOUS * READ ALLOW" in text


def test_acl_apis_need_alter_or_describe_on_cluster(start_broker):
    broker = start(start_broker, acls="")  # nobody may manage ACLs
    a = kp_admin(broker)
    res = a.create_acls([ACL(ANON, "*", ACLOperation.ALL, ACLPermissionType.ALLOW,
                             ResourcePattern(ResourceType.CLUSTER, "kafka-cluster", ACLResourcePatternType.LITERAL))])
    assert not res["succeeded"] and res["failed"][0][1].__name__ == "ClusterAuthorizationFailedError"
    with pytest.raises(ClusterAuthorizationFailedError):
        a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                  ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)))
    a.close()
    # librdkafka 2.0.2 drops DescribeAcls' top-level error code (rd_kafka_DescribeAclsResponse_parse),
    # so `ctl acl list` cannot tell a refusal from an empty list; CreateAcls' errors do arrive.
    proc = ctl(broker, "acl", "add", "--allow-principal", ANON, "--operation", "Read", "--topic", "t", check=False)
    assert proc.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in proc.stderr
    assert (broker.data_dir / ".acls").read_text().count("\n") == 1  # unchanged


def ctl_user(broker, *args, password=None):
    return subprocess.run([streambus_bin(), "ctl", "--bootstrap-server", broker.bootstrap, "user"] + list(args),
                          input=(password + "\n") if password else None, capture_output=True, text=True,
                          timeout=60)


def test_scram_user_apis_need_alter_or_describe_on_cluster(start_broker, tmp_path):
    """Found by the acceptance review of 2026-12-06: with the authorizer on, User:ANONYMOUS
    could add users and change the super user's password. Kafka asks for DESCRIBE on the
    cluster (DescribeUserScramCredentials) and ALTER on it (AlterUserScramCredentials)."""
    audit = tmp_path / "audit.log"
    broker = start(start_broker, acls="", audit_log=str(audit))  # nobody may see or change users
    proc = ctl_user(broker, "list")
    assert proc.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in proc.stderr, proc.stderr
    assert metric(broker, "streambus_authorization_denied_total", "DescribeUserScramCredentials") == 1

    # DESCRIBE only: users can be listed, not changed (ctl user add describes first, then alters).
    broker.stop()
    (broker.data_dir / ".acls").write_text("CLUSTER LITERAL kafka-cluster User:ANONYMOUS * DESCRIBE ALLOW\n")
    broker.start()
    assert ctl_user(broker, "list").returncode == 0
    proc = ctl_user(broker, "add", "eve", password="eve-password-1")
    assert proc.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in proc.stderr, proc.stderr
    assert metric(broker, "streambus_authorization_denied_total", "AlterUserScramCredentials") == 1
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    denied = {(x["api"], x["operation"]) for x in lines if x.get("result") == "DENIED" and x["principal"] == ANON}
    assert {("AlterUserScramCredentials", "ALTER"), ("DescribeUserScramCredentials", "DESCRIBE")} <= denied

    # Granted ALTER too, the same principal manages users; the refused eve was never stored.
    broker.stop()
    (broker.data_dir / ".acls").write_text(ADMIN_ACLS)
    broker.start()
    proc = ctl_user(broker, "list")
    assert proc.returncode == 0 and "eve" not in proc.stdout, proc.stdout + proc.stderr
    proc = ctl_user(broker, "add", "eve", password="eve-password-1")
    assert proc.returncode == 0, proc.stderr
    assert "eve" in ctl_user(broker, "list").stdout
    # The salted keys are readable by the broker's user only.
    stored = [p for p in (broker.data_dir / ".security").iterdir() if not p.name.endswith(".tmp")]
    assert stored and all(p.stat().st_mode & 0o777 == 0o600 for p in stored), stored


def test_acl_apis_without_authorizer_say_security_disabled(broker):
    a = kp_admin(broker)
    with pytest.raises(SecurityDisabledError):
        a.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                  ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)))
    a.close()
    proc = ctl(broker, "acl", "add", "--allow-principal", ANON, "--operation", "Read", "--topic", "t", check=False)
    assert proc.returncode == 1 and "authorizer.enabled" in proc.stderr
    # And the open broker still serves everything (make run's stack).
    assert produce(broker, "open-topic") is None


def test_flexible_v2_v3_requests(start_broker):
    """CreateAcls/DescribeAcls/DeleteAcls v3 (compact encoding) round trip, raw."""
    broker = start(start_broker)
    creation = (struct.pack(">b", 3) + cstr("grp-") + struct.pack(">b", 4) + cstr(ANON) + cstr("*")
                + struct.pack(">bb", 3, 3) + b"\x00")
    r = call(broker, 30, 3, bytes([2]) + creation + b"\x00", True)
    assert r.i32() == 0 and r.carr() == 1
    assert r.i16() == 0 and r.cstr() is None
    r.tags(); r.tags(); r.done()

    flt = struct.pack(">b", 3) + cstr(None) + struct.pack(">b", 1) + cstr(None) + cstr(None) + struct.pack(">bb", 1, 1)
    r = call(broker, 29, 3, flt + b"\x00", True)
    assert r.i32() == 0 and r.i16() == 0 and r.cstr() is None
    assert r.carr() == 1
    assert (r.i8(), r.cstr(), r.i8()) == (3, "grp-", 4)
    assert r.carr() == 1
    assert (r.cstr(), r.cstr(), r.i8(), r.i8()) == (ANON, "*", 3, 3)
    r.tags(); r.tags(); r.tags(); r.done()

    # An UNKNOWN resource type in a filter is INVALID_REQUEST with a message.
    bad = struct.pack(">b", 0) + cstr(None) + struct.pack(">b", 1) + cstr(None) + cstr(None) + struct.pack(">bb", 1, 1)
    r = call(broker, 29, 2, bad + b"\x00", True)
    assert r.i32() == 0 and r.i16() == INVALID_REQUEST and "resource type" in r.cstr()

    r = call(broker, 31, 3, bytes([2]) + flt + b"\x00" + b"\x00", True)
    assert r.i32() == 0 and r.carr() == 1
    assert r.i16() == 0 and r.cstr() is None
    assert r.carr() == 1
    assert (r.i16(), r.cstr(), r.i8(), r.cstr(), r.i8(), r.cstr(), r.cstr(), r.i8(), r.i8()) == \
        (0, None, 3, "grp-", 4, ANON, "*", 3, 3)


def test_v0_describe_hides_prefixed_bindings(start_broker):
    broker = start(start_broker, acls=ADMIN_ACLS + "TOPIC PREFIXED p- User:x * READ ALLOW\n"
                                                   "TOPIC LITERAL l User:x * READ ALLOW\n")
    flt = struct.pack(">b", 2) + s16(None) + s16(None) + s16(None) + struct.pack(">bb", 1, 1)
    r = call(broker, 29, 0, flt, False)
    assert r.i32() == 0 and r.i16() == 0 and r.s16() is None
    assert r.i32() == 1 and r.i8() == 2 and r.s16() == "l"


# --------------------------------------------------------------------------------------------
# ctl acl
# --------------------------------------------------------------------------------------------

def test_ctl_acl_add_list_remove(start_broker):
    broker = start(start_broker)
    acl_add(broker, "--allow-principal", "User:alice", "--allow-principal", "User:bob", "--operation", "Read",
            "--operation", "Describe", "--topic", "logs-", "--resource-pattern-type", "prefixed")
    acl_add(broker, "--deny-principal", "User:*", "--deny-host", "10.1.2.3", "--operation", "All", "--group", "g1")
    out = json.loads(ctl(broker, "acl", "list", "--topic", "logs-", "--output", "json").stdout)
    assert len(out["acls"]) == 4
    assert {(x["principal"], x["operation"], x["pattern_type"]) for x in out["acls"]} == {
        ("User:alice", "READ", "PREFIXED"), ("User:alice", "DESCRIBE", "PREFIXED"),
        ("User:bob", "READ", "PREFIXED"), ("User:bob", "DESCRIBE", "PREFIXED")}
    table = ctl(broker, "acl", "list", "--group", "g1").stdout
    assert "10.1.2.3" in table and "DENY" in table and "GROUP" in table

    out = json.loads(ctl(broker, "acl", "remove", "--topic", "logs-", "--resource-pattern-type", "prefixed",
                         "--allow-principal", "User:bob", "--output", "json").stdout)
    assert {x["operation"] for x in out["removed"]} == {"READ", "DESCRIBE"}
    out = json.loads(ctl(broker, "acl", "list", "--principal", "User:bob", "--output", "json").stdout)
    assert out["acls"] == []

    # Usage errors name what is missing or wrong (exit 2), before any request is sent.
    for args, want in [
            (["acl", "add", "--operation", "Read", "--topic", "t"], "--allow-principal"),
            (["acl", "add", "--allow-principal", "alice", "--operation", "Read", "--topic", "t"], "Type:name"),
            (["acl", "add", "--allow-principal", ANON, "--operation", "Reed", "--topic", "t"], "Reed"),
            (["acl", "add", "--allow-principal", ANON, "--operation", "Read"], "--topic"),
            (["acl", "add", "--allow-principal", ANON, "--operation", "Read", "--topic", "t", "--group", "g"],
             "only one")]:
        proc = ctl(broker, *args, check=False)
        assert proc.returncode == 2 and want in proc.stderr, (args, proc.stderr)


# --------------------------------------------------------------------------------------------
# enforcement with real clients
# --------------------------------------------------------------------------------------------

def test_produce_literal_prefixed_and_deny_overrides_allow(start_broker, tmp_path):
    audit = tmp_path / "audit.log"
    broker = start(start_broker, audit_log=str(audit))
    for t in ("orders", "sales-eu", "sales-secret", "other"):
        create_topic_open(broker, t)
    acl_add(broker, "--allow-principal", ANON, "--operation", "Write", "--topic", "orders")
    acl_add(broker, "--allow-principal", ANON, "--operation", "Write", "--topic", "sales-",
            "--resource-pattern-type", "prefixed")
    acl_add(broker, "--deny-principal", ANON, "--operation", "Write", "--topic", "sales-secret")

    assert produce(broker, "orders") is None                       # literal
    assert produce(broker, "sales-eu") is None                     # prefixed
    err = produce(broker, "sales-secret")                          # deny beats the prefix allow
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    err = produce(broker, "other")                                 # no ACL: denied by default
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    proc = subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", "other"], input="x\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "authorization failed" in proc.stderr.lower(), proc.stderr

    # Auto-creation on produce also needs CREATE: WRITE alone on a missing topic is not enough.
    err = produce(broker, "sales-new")
    assert err is not None and err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT)

    # sales-secret was refused by Produce; "other" already by Metadata (no DESCRIBE), which is
    # where librdkafka learns it may not write there.
    assert metric(broker, "streambus_authorization_denied_total", "Produce") >= 1
    assert metric(broker, "streambus_authorization_denied_total", "Metadata") >= 1
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    denied = [x for x in lines if x.get("result") == "DENIED" and x["api"] == "Produce"]
    assert any(x["resource"] == "sales-secret" and x["operation"] == "WRITE" and x["principal"] == ANON
               and x["address"].startswith("127.0.0.1:") for x in denied)
    changes = [x for x in lines if x.get("action") == "CreateAcls"]
    assert any(x["resource"] == "sales-" and x["pattern"] == "PREFIXED" for x in changes)


def test_consume_group_join_and_commit(start_broker):
    broker = start(start_broker)
    create_topic_open(broker, "events")
    acl_add(broker, "--allow-principal", ANON, "--operation", "Write", "--operation", "Read", "--topic", "events")
    assert produce(broker, "events", "hello") is None

    def consume(group):
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 6000})
        c.subscribe(["events"])
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    return ("error", m.error().code())
                c.commit(m, asynchronous=False)
                return ("ok", m.value())
            return ("timeout", None)
        except KafkaException as e:
            return ("error", e.args[0].code())
        finally:
            c.close()

    # No READ on the group: the join is refused with GROUP_AUTHORIZATION_FAILED.
    assert consume("g-denied") == ("error", KafkaError.GROUP_AUTHORIZATION_FAILED)
    # READ on groups "g-*" (prefixed): join, fetch and offset commit all work.
    acl_add(broker, "--allow-principal", ANON, "--operation", "Read", "--group", "g-",
            "--resource-pattern-type", "prefixed")
    assert consume("g-ok") == ("ok", b"hello")
    # The committed offset is visible (OffsetFetch: READ on group and topic imply DESCRIBE).
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-ok"})
    (tp,) = c.committed([TopicPartition("events", 0)], timeout=15)
    c.close()
    assert tp.offset == 1 and tp.error is None

    # Fetch without READ on the topic: take READ away (DENY), consuming fails on the topic.
    acl_add(broker, "--deny-principal", ANON, "--operation", "Read", "--topic", "events")
    status, code = consume("g-ok2")
    assert status == "error" and code in (KafkaError.TOPIC_AUTHORIZATION_FAILED,)


def test_offset_commit_needs_read_on_topic_kafka_python(start_broker):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    from kafka.errors import TopicAuthorizationFailedError
    broker = start(start_broker)
    create_topic_open(broker, "c1")
    acl_add(broker, "--allow-principal", ANON, "--operation", "Read", "--group", "kp")
    acl_add(broker, "--allow-principal", ANON, "--operation", "Describe", "--topic", "c1")
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="kp", enable_auto_commit=False)
    tp = TopicPartition("c1", 0)
    c.assign([tp])
    with pytest.raises(TopicAuthorizationFailedError):
        c.commit({tp: OffsetAndMetadata(0, "")})
    acl_add(broker, "--allow-principal", ANON, "--operation", "Read", "--topic", "c1")
    c.commit({tp: OffsetAndMetadata(0, "")})
    assert c.committed(tp) == 0
    c.close()


def test_create_topics_and_metadata_describe(start_broker):
    broker = start(start_broker)
    adm = confluent_admin(broker)
    acl_add(broker, "--allow-principal", ANON, "--operation", "Create", "--topic", "new-",
            "--resource-pattern-type", "prefixed")
    fs = adm.create_topics([NewTopic("new-a", 1, 1), NewTopic("forbidden", 1, 1)])
    fs["new-a"].result(15)
    with pytest.raises(KafkaException) as e:
        fs["forbidden"].result(15)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # CREATE on the cluster allows any name.
    acl_add(broker, "--allow-principal", ANON, "--operation", "Create", "--cluster")
    adm.create_topics([NewTopic("forbidden", 1, 1)])["forbidden"].result(15)

    # Metadata lists only topics the principal may DESCRIBE (WRITE implies DESCRIBE).
    md = adm.list_topics(timeout=15)
    assert "new-a" not in md.topics and "forbidden" not in md.topics
    acl_add(broker, "--allow-principal", ANON, "--operation", "Write", "--topic", "new-a")
    md = adm.list_topics(timeout=15)
    assert "new-a" in md.topics and "forbidden" not in md.topics
    # Asking for a topic by name without DESCRIBE answers TOPIC_AUTHORIZATION_FAILED.
    md = adm.list_topics("forbidden", timeout=15)
    assert md.topics["forbidden"].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_idempotent_producer_needs_idempotent_write_or_some_write(start_broker):
    broker = start(start_broker, acls=ADMIN_ACLS + "TOPIC LITERAL t User:ANONYMOUS * DESCRIBE ALLOW\n")
    create_topic_open(broker, "t")
    err = produce(broker, "t", **{"enable.idempotence": True})
    assert err is not None and err.code() in (KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError._FATAL)
    acl_add(broker, "--allow-principal", ANON, "--operation", "Write", "--topic", "t")
    assert produce(broker, "t", **{"enable.idempotence": True}) is None


def test_super_user_and_allow_everyone_if_no_acl_found(start_broker):
    deny_all = ADMIN_ACLS + "TOPIC LITERAL * User:* * ALL DENY\nGROUP LITERAL * User:* * ALL DENY\n"
    broker = start(start_broker, acls=deny_all, super_users="User:admin;User:ANONYMOUS")
    assert produce(broker, "anything") is None  # auto-created and written despite the DENY
    proc = kcat(broker, ["-C", "-t", "anything", "-o", "beginning", "-c", "1", "-e"])
    assert proc.stdout.strip() == "v"
    broker.stop()

    broker2 = start(start_broker, acls="TOPIC LITERAL closed User:someone * READ ALLOW\n",
                    allow_everyone_if_no_acl_found=True)
    assert produce(broker2, "unnamed") is None  # no ACL names it: open
    err = produce(broker2, "closed")            # named by an ACL: closed to others
    assert err is not None and err.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                              KafkaError.UNKNOWN_TOPIC_OR_PART)


def test_admin_apis_allowed_and_denied(start_broker):
    """The rest of the API table: DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
    DeleteRecords, ListOffsets, DescribeGroups, ListGroups, DeleteGroups and OffsetFetch, each
    refused without its operation and served with it."""
    from confluent_kafka import TopicPartition as TP
    from confluent_kafka.admin import ConfigResource, NewPartitions
    from kafka import TopicPartition as KTP
    from kafka.errors import GroupAuthorizationFailedError
    broker = start(start_broker)
    adm = confluent_admin(broker)
    for t in ("keep", "doomed"):
        create_topic_open(broker, t)
    acl_add(broker, "--allow-principal", ANON, "--operation", "Write", "--operation", "Read", "--topic", "keep")
    acl_add(broker, "--allow-principal", ANON, "--operation", "Read", "--group", "grp-a")
    assert produce(broker, "keep") is None
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "grp-a", "enable.auto.commit": False})
    c.commit(offsets=[TP("keep", 0, 1)], asynchronous=False)
    c.close()

    def code(future):
        try:
            future.result(15)
            return 0
        except KafkaException as e:
            return e.args[0].code()

    # DeleteTopics: DELETE on the topic.
    assert code(adm.delete_topics(["doomed"])["doomed"]) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    acl_add(broker, "--allow-principal", ANON, "--operation", "Delete", "--topic", "doomed")
    assert code(adm.delete_topics(["doomed"])["doomed"]) == 0

    # CreatePartitions: ALTER on the topic.
    assert code(adm.create_partitions([NewPartitions("keep", 2)])["keep"]) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    acl_add(broker, "--allow-principal", ANON, "--operation", "Alter", "--topic", "keep")
    assert code(adm.create_partitions([NewPartitions("keep", 2)])["keep"]) == 0

    # DescribeConfigs: DESCRIBE_CONFIGS (implied by ALTER_CONFIGS); broker resources need it on the cluster.
    res = ConfigResource("topic", "keep")
    assert code(adm.describe_configs([res])[res]) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    acl_add(broker, "--allow-principal", ANON, "--operation", "AlterConfigs", "--topic", "keep")
    assert code(adm.describe_configs([res])[res]) == 0
    res = ConfigResource("topic", "keep", set_config={"retention.ms": "3600000"})
    assert code(adm.alter_configs([res])[res]) == 0
    bres = ConfigResource("broker", "0")
    assert code(adm.describe_configs([bres])[bres]) == KafkaError.CLUSTER_AUTHORIZATION_FAILED

    # Groups through kafka-python: listing shows only describable groups; describing or deleting
    # another group is refused; OffsetFetch of a denied group too.
    acl_add(broker, "--deny-principal", ANON, "--operation", "Delete", "--group", "grp-a")
    k = kp_admin(broker)
    assert [g[0] for g in k.list_consumer_groups()] == ["grp-a"]
    acl_add(broker, "--allow-principal", ANON, "--operation", "Describe", "--cluster")
    assert [g[0] for g in k.list_consumer_groups()] == ["grp-a"]  # still only existing ones
    assert k.list_consumer_group_offsets("grp-a")[KTP("keep", 0)].offset == 1
    with pytest.raises(GroupAuthorizationFailedError):
        k.list_consumer_group_offsets("grp-other")
    (_, err), = k.delete_consumer_groups(["grp-a"])
    assert getattr(err, "__name__", type(err).__name__) == "GroupAuthorizationFailedError"
    k.close()
