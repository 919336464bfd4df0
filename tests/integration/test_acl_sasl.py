"""ACLs with real users: SCRAM-authenticated principals (h/sasl10) checked by the authorizer.

alice is a super user and manages ACLs over SASL with `streambus ctl acl`; bob gets what alice
grants him and nothing else; the PLAINTEXT listener's User:ANONYMOUS gets nothing at all."""

import json
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from conftest import streambus_bin
from test_sasl import PASSWORD, sasl_addr, sasl_broker  # noqa: F401 (fixture)


def sasl_conf(b, user, mech="SCRAM-SHA-256"):
    return {"bootstrap.servers": sasl_addr(b), "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": mech,
            "sasl.username": user, "sasl.password": PASSWORD}


def ctl_as(b, user, *args, check=True):
    mech = "SCRAM-SHA-512" if user == "bob" else "SCRAM-SHA-256"  # bob has only a SHA-512 credential
    cmd = [streambus_bin(), "ctl", "--bootstrap-server", sasl_addr(b), "-X", "security.protocol=SASL_PLAINTEXT",
           "-X", "sasl.mechanism=" + mech, "-X", "sasl.username=" + user, "-X", "sasl.password=" + PASSWORD]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def produce(conf, topic):
    result = {}
    p = Producer(dict(conf, **{"message.timeout.ms": 10000}))
    try:
        p.produce(topic, b"v", on_delivery=lambda err, msg: result.setdefault("err", err))
        p.flush(15)
    except KafkaException as e:
        return e.args[0]
    return result.get("err")


def with_authorizer(b, tmp_path):
    b.stop()
    b.config["authorizer"] = {"enabled": True, "super_users": "User:alice", "audit_log": str(tmp_path / "audit.log")}
    b.config_path.write_text(json.dumps(b.config, indent=1) + "\n")
    return b.start()


def test_scram_users_are_authorized_by_acl(sasl_broker, tmp_path):  # noqa: F811
    b = with_authorizer(sasl_broker(), tmp_path)
    alice, bob = sasl_conf(b, "alice"), sasl_conf(b, "bob", "SCRAM-SHA-512")

    # alice (super user) creates topics and grants bob WRITE on "bob-*" and a group.
    ctl_as(b, "alice", "topic", "create", "bob-1")
    ctl_as(b, "alice", "topic", "create", "alice-only")
    ctl_as(b, "alice", "acl", "add", "--allow-principal", "User:bob", "--operation", "Write", "--operation", "Read",
           "--topic", "bob-", "--resource-pattern-type", "prefixed")
    ctl_as(b, "alice", "acl", "add", "--allow-principal", "User:bob", "--operation", "Read", "--group", "bobs")
    listed = json.loads(ctl_as(b, "alice", "acl", "list", "--principal", "User:bob", "--output", "json").stdout)
    assert len(listed["acls"]) == 3

    assert produce(bob, "bob-1") is None
    err = produce(bob, "alice-only")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce(alice, "alice-only") is None  # super user

    # bob consumes in his group; a group he has no READ on is refused.
    c = Consumer(dict(bob, **{"group.id": "bobs", "auto.offset.reset": "earliest", "session.timeout.ms": 6000}))
    c.subscribe(["bob-1"])
    msg = None
    for _ in range(60):
        msg = c.poll(0.5)
        if msg is not None:
            break
    c.close()
    assert msg is not None and msg.error() is None and msg.value() == b"v"
    c = Consumer(dict(bob, **{"group.id": "not-bobs", "session.timeout.ms": 6000}))
    c.subscribe(["bob-1"])
    msg = None
    for _ in range(60):
        msg = c.poll(0.5)
        if msg is not None:
            break
    c.close()
    assert msg is not None and msg.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED

    # bob may not change ACLs; the unauthenticated listener may not even write.
    proc = ctl_as(b, "bob", "acl", "add", "--allow-principal", "User:bob", "--operation", "All", "--cluster",
                  check=False)
    assert proc.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in proc.stderr
    err = produce({"bootstrap.servers": b.bootstrap}, "bob-1")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # The audit log names the real principals, and never a password.
    text = (tmp_path / "audit.log").read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    assert any(x["principal"] == "User:bob" and x["resource"] == "alice-only" and x["result"] == "DENIED"
               for x in lines)
    assert any(x["principal"] == "User:alice" and x.get("action") == "CreateAcls" for x in lines)
    assert PASSWORD not in text
