"""SCRAM credentials on a real broker: the Kafka admin APIs DescribeUserScramCredentials (50)
and AlterUserScramCredentials (51) hand-encoded from the message schemas (no Debian-packaged
client sends them), `streambus ctl user` end to end, persistence across a restart, and the
credential file holding no password."""

import hashlib
import hmac
import json
import os
import struct
import subprocess

import pytest

from kafka_raw import Reader, call, cstr, uvar

SHA256, SHA512 = 1, 2


def cbytes(b):
    return uvar(len(b) + 1) + b


def describe(broker, users):
    if users is None:
        body = uvar(0)
    else:
        body = uvar(len(users) + 1) + b"".join(cstr(u) + b"\x00" for u in users)
    r = call(broker, 50, 0, body + b"\x00", True)
    r.i32()
    top_error = r.i16()
    top_msg = r.cstr()
    out = []
    for _ in range(r.carr()):
        user, err, msg = r.cstr(), r.i16(), r.cstr()
        infos = []
        for _ in range(r.carr()):
            infos.append((r.i8(), r.i32()))
            r.tags()
        r.tags()
        out.append((user, err, msg, infos))
    r.tags()
    r.done()
    return top_error, top_msg, out


def salted(mech, password, salt, iterations):
    return hashlib.pbkdf2_hmac("sha256" if mech == SHA256 else "sha512", password.encode(), salt, iterations)


def alter(broker, deletions=(), upsertions=()):
    body = uvar(len(deletions) + 1)
    for name, mech in deletions:
        body += cstr(name) + struct.pack(">b", mech) + b"\x00"
    body += uvar(len(upsertions) + 1)
    for name, mech, iterations, salt, sp in upsertions:
        body += cstr(name) + struct.pack(">bi", mech, iterations) + cbytes(salt) + cbytes(sp) + b"\x00"
    r = call(broker, 51, 0, body + b"\x00", True)
    r.i32()
    out = []
    for _ in range(r.carr()):
        out.append((r.cstr(), r.i16(), r.cstr()))
        r.tags()
    r.tags()
    r.done()
    return out


def upsert(name, mech, password, iterations=4096, salt=b"0123456789abcdef"):
    return (name, mech, iterations, salt, salted(mech, password, salt, iterations))


def test_alter_and_describe_scram_credentials(broker):
    assert describe(broker, None) == (0, None, [])
    res = alter(broker, upsertions=[upsert("alice", SHA256, "pw-a"), upsert("alice", SHA512, "pw-a", 8192),
                                    upsert("bob", SHA512, "pw-b")])
    assert res == [("alice", 0, None), ("bob", 0, None)]
    _, _, users = describe(broker, None)
    assert users == [("alice", 0, None, [(SHA256, 4096), (SHA512, 8192)]), ("bob", 0, None, [(SHA512, 4096)])]

    # Kafka's per-user errors.
    _, _, users = describe(broker, ["carol", "bob", "bob"])
    assert users[0][:2] == ("carol", 91)  # RESOURCE_NOT_FOUND
    assert users[1][1] == 92 and users[2][1] == 92  # DUPLICATE_RESOURCE
    res = alter(broker,
                deletions=[("nobody", SHA256), ("bob", 7)],
                upsertions=[upsert("weak", SHA256, "x", iterations=1000), upsert("", SHA256, "x"),
                            upsert("strong", SHA256, "x", iterations=20000),
                            ("short", SHA512, 4096, b"salt", b"tooshort"),
                            upsert("twice", SHA256, "x"), upsert("twice", SHA256, "y")])
    by_user = {u: (e, m) for u, e, m in res}
    assert by_user["nobody"][0] == 91
    assert by_user["bob"][0] == 33  # UNSUPPORTED_SASL_MECHANISM
    assert by_user["weak"] == (93, "Too few iterations: 1000 (at least 4096)")
    assert by_user[""] == (93, "Username must not be empty")
    assert by_user["strong"][0] == 93 and "Too many iterations" in by_user["strong"][1]
    assert by_user["short"][0] == 93 and "64 bytes" in by_user["short"][1]
    assert by_user["twice"][0] == 92
    # Nothing of a refused user was applied, and bob's bad deletion left bob alone.
    _, _, users = describe(broker, None)
    assert [u[0] for u in users] == ["alice", "bob"]

    res = alter(broker, deletions=[("alice", SHA256)])
    assert res == [("alice", 0, None)]
    _, _, users = describe(broker, ["alice"])
    assert users == [("alice", 0, None, [(SHA512, 8192)])]

    # Survives a restart; the file has salts and keys, never a password or salted password.
    broker.restart()
    _, _, users = describe(broker, None)
    assert users == [("alice", 0, None, [(SHA512, 8192)]), ("bob", 0, None, [(SHA512, 4096)])]
    sec = broker.data_dir / ".security"
    assert oct(sec.stat().st_mode & 0o777) == "0o700"
    text = (sec / "scram-credentials.json").read_text()
    assert "pw-a" not in text and "pw-b" not in text
    sp = salted(SHA512, "pw-b", b"0123456789abcdef", 4096)
    import base64
    assert base64.b64encode(sp).decode() not in text
    doc = json.loads(text)
    bob = [c for c in doc["credentials"] if c["user"] == "bob"][0]
    # StoredKey = H(HMAC(SaltedPassword, "Client Key")), RFC 5802 §3
    client_key = hmac.new(sp, b"Client Key", hashlib.sha512).digest()
    assert base64.b64decode(bob["stored_key"]) == hashlib.sha512(client_key).digest()


def ctl(broker, *args, password=None, check=True):
    cmd = [os.environ["STREAMBUS_BIN"], "ctl", "--bootstrap-server", broker.bootstrap, "--timeout-ms", "15000"]
    cmd += list(args)
    proc = subprocess.run(cmd, input=password, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        pytest.fail("ctl %s exited %d: %s" % (" ".join(args), proc.returncode, proc.stderr))
    return proc


def test_ctl_user_lifecycle(broker, tmp_path):
    assert ctl(broker, "user", "list").stdout == "USER  MECHANISM  ITERATIONS\n"
    out = ctl(broker, "user", "add", "alice", password="secret-1\n")
    assert out.stdout == 'user "alice" created\n'
    pwfile = tmp_path / "pw"
    pwfile.write_text("secret-2\n")
    ctl(broker, "user", "add", "bob", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192",
        "--password-file", str(pwfile))
    listing = json.loads(ctl(broker, "user", "list", "--output", "json").stdout)
    assert listing == [
        {"user": "alice", "credentials": [{"mechanism": "SCRAM-SHA-256", "iterations": 4096},
                                          {"mechanism": "SCRAM-SHA-512", "iterations": 4096}]},
        {"user": "bob", "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}]},
    ]
    # The stored credential matches the password given on stdin.
    text = (broker.data_dir / ".security" / "scram-credentials.json").read_text()
    assert "secret-1" not in text and "secret-2" not in text

    dup = ctl(broker, "user", "add", "alice", password="x\n", check=False)
    assert dup.returncode == 1
    assert 'user "alice" already has a SCRAM-SHA-256 credential' in dup.stderr
    missing = ctl(broker, "user", "passwd", "carol", password="x\n", check=False)
    assert missing.returncode == 1 and 'user "carol" does not exist' in missing.stderr
    empty = ctl(broker, "user", "add", "carol", password="\n", check=False)
    assert empty.returncode == 2 and "the password must not be empty" in empty.stderr
    weak = ctl(broker, "user", "add", "carol", "--iterations", "100", password="x\n", check=False)
    assert weak.returncode == 2 and "--iterations" in weak.stderr

    ctl(broker, "user", "passwd", "bob", "--iterations", "4096", password="secret-3\n")
    ctl(broker, "user", "remove", "alice", "--mechanism", "SCRAM-SHA-256")
    listing = json.loads(ctl(broker, "user", "list", "--output", "json").stdout)
    assert listing == [
        {"user": "alice", "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 4096}]},
        {"user": "bob", "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 4096}]},
    ]
    ctl(broker, "user", "remove", "alice")
    gone = ctl(broker, "user", "remove", "alice", check=False)
    assert gone.returncode == 1 and 'user "alice" does not exist' in gone.stderr
    rows = [line.split() for line in ctl(broker, "user", "list").stdout.splitlines()]
    assert rows == [["USER", "MECHANISM", "ITERATIONS"], ["bob", "SCRAM-SHA-512", "4096"]]
