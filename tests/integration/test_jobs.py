"""The job orchestrator end to end: a real broker, a real PostgreSQL, `streambus jobs` (API +
scheduler) and `streambus jobs worker` processes, and a real HTTP peer (http.server in this
test). Lease, heartbeat and backoff are shortened through --set so the test stays fast."""

import json
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import SANITIZER_MARKERS, free_port, streambus_bin, wait_until
from connect_fixtures import connect  # noqa: F401 (fixture)
from pg_fixtures import consume_all, needs_pg, pg_server, postgres, sql  # noqa: F401 (fixture)

pytestmark = needs_pg

PY = "/usr/bin/python3"  # the SHELL executor runs it by absolute path, from the allow-list
SECRET = "integration-test-secret-0123456789abcdef"
USERS = {"ada": ("admin", "ada-pw"), "otto": ("operator", "otto-pw"), "vera": ("viewer", "vera-pw")}


def merge_sections(base, extra):
    """base's config with extra's sections and keys put in (a key of extra replaces base's): the
    jobs config, like every StreamBus YAML file, refuses a section or key written twice."""
    sections = {}
    for text in (base, extra):
        section = key = None
        for line in text.splitlines():
            if line and not line[0].isspace():
                section = sections.setdefault(line.split(":")[0], {"head": line, "keys": {}})
                key = None
            elif line.startswith("  ") and not line[2].isspace() and not line[2] == "-":
                key = line.split(":")[0].strip()
                section["keys"][key] = [line]
            else:
                section["keys"].setdefault(key, []).append(line)
    return "".join("%s\n" % line for s in sections.values()
                   for line in [s["head"]] + [ln for lines in s["keys"].values() for ln in lines])


def hash_password(binary, password):
    out = subprocess.run([binary, "jobs", "hash-password", "--iterations", "1000"], input=password + "\n",
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


class Jobs:
    """`streambus jobs` plus any number of workers sharing one config file."""

    def __init__(self, workdir, bootstrap, conninfo, shell_allow=(), extra="", tls=None):
        """tls=(cert, key): the API serves HTTPS (an --http-security file with http.tls)."""
        self.binary = streambus_bin()
        self.workdir = workdir
        self.port = free_port()
        self.url = "%s://127.0.0.1:%d/api/v1" % ("https" if tls else "http", self.port)
        self.api_args, self.ssl_context = [], None
        if tls:
            sec = workdir / "http-security.yaml"
            sec.write_text("http:\n  tls:\n    cert_file: \"%s\"\n    key_file: \"%s\"\n" % tuple(map(str, tls)))
            self.api_args = ["--http-security", str(sec)]
            self.ssl_context = ssl.create_default_context(cafile=str(tls[0]))
        self.config = workdir / "jobs.yaml"
        users = "".join('    - {name: %s, role: %s, password_hash: "%s"}\n'
                        % (n, r, hash_password(self.binary, p)) for n, (r, p) in USERS.items())
        allow = "".join("    - %s\n" % c for c in shell_allow)
        self.config.write_text(merge_sections(
            "jobs:\n  listen: \"127.0.0.1:%d\"\n  bootstrap_servers: \"%s\"\n  postgres: \"%s\"\n"
            "  scheduler_interval_ms: 100\n  lease_ms: 2000\n  heartbeat_ms: 400\n  backoff_base_ms: 400\n"
            "  backoff_max_ms: 2000\n  requeue_after_ms: 5000\n  worker_session_timeout_ms: 6000\n"
            "auth:\n  users:\n%s"
            "executors:\n  shell_enabled: %s\n  shell_allow:%s\n"
            "logging:\n  level: info\n  format: json\n"
            % (self.port, bootstrap, conninfo, users, "true" if shell_allow else "false",
               "\n" + allow if allow else " []"), extra))
        self.env = dict(os.environ, STREAMBUS_JOBS_JWT_SECRET=SECRET)
        self.api = None
        self.workers = {}
        self.tokens = {}

    def _spawn(self, name, args):
        log = open(self.workdir / ("%s.log" % name), "ab")
        return subprocess.Popen([self.binary, "jobs"] + args + ["--config", str(self.config)], env=self.env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start(self):
        self.api = self._spawn("api", self.api_args)
        wait_until(lambda: self.api.poll() is not None or self.ready(), 30, "the jobs API to be ready")
        assert self.api.poll() is None, self.log("api")
        return self

    def restart_api(self):
        """SIGTERM the API + scheduler and start it again (the workers keep running)."""
        self.api.send_signal(signal.SIGTERM)
        self.api.wait(timeout=15)
        return self.start()

    def ready(self):
        try:
            with urllib.request.urlopen(self.url.replace("/api/v1", "") + "/health/ready", timeout=2,
                                        context=self.ssl_context) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start_worker(self, wid):
        self.workers[wid] = self._spawn("worker-" + wid, ["worker", "--id", wid])
        return self.workers[wid]

    def log(self, name):
        p = self.workdir / ("%s.log" % name)
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        for p in [self.api] + list(self.workers.values()):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    pytest.fail("a jobs process did not stop within 15 s of SIGTERM")
        for f in self.workdir.glob("*.log"):
            text = f.read_text(errors="replace")
            for marker in SANITIZER_MARKERS:
                assert marker not in text, "%s:\n%s" % (f, text[-3000:])
            assert SECRET not in text and "Bearer " not in text, "a secret or token was logged in %s" % f

    # -- REST
    def request(self, method, path, body=None, token=None, user=None):
        if user:
            token = self.token(user)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        return status, (json.loads(text) if text.strip() else None)

    def login(self, user, password=None):
        return self.request("POST", "/auth/login", {"username": user, "password": password or USERS[user][1]})

    def token(self, user):
        if user not in self.tokens:
            status, body = self.login(user)
            assert status == 200, body
            self.tokens[user] = body["accessToken"]
        return self.tokens[user]

    def submit(self, job, user="otto", expect=201):
        status, body = self.request("POST", "/jobs", job, user=user)
        assert status == expect, (status, body)
        return body

    def job(self, jid):
        status, body = self.request("GET", "/jobs/%d" % jid, user="vera")
        assert status == 200, body
        return body

    def wait_status(self, jid, want, timeout=30):
        wait_until(lambda: self.job(jid)["status"] in want, timeout,
                   "job %d to be %s (is %s)" % (jid, want, self.job(jid)["status"]), interval=0.1)
        return self.job(jid)


class Peer:
    """A real HTTP server the HTTP executor calls: /ok, /fail (500), /slow?ms=N; counts calls."""

    def __init__(self):
        self.calls = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                peer.calls.append((self.command, self.path, dict(self.headers), body, time.monotonic()))
                if self.path.startswith("/slow"):
                    time.sleep(int(self.path.split("ms=")[1]) / 1000.0)
                status = 500 if self.path.startswith("/fail") else 202 if self.path.startswith("/accepted") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            do_GET = do_POST = do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, prefix):
        return sum(1 for c in self.calls if c[1].startswith(prefix))


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.server.shutdown()


@pytest.fixture
def jobs_factory(broker, postgres, tmp_path):
    made = []

    def make(**kw):
        j = Jobs(tmp_path, broker.bootstrap, postgres, **kw)
        made.append(j)
        return j.start()
    yield make
    for j in made:
        j.stop()


def transitions(job):
    return [(a["attempt"], a["from"], a["to"]) for a in job["attempts"]]


def test_roles_validation_idempotency_and_an_http_job_completes(jobs_factory, peer, postgres):
    jobs = jobs_factory()
    jobs.start_worker("w1")
    good = {"name": "ping", "type": "HTTP", "payload": {"url": peer.url + "/ok", "method": "POST",
                                                        "headers": {"X-Job": "yes"}, "body": "{\"a\":1}"}}
    # authentication and roles on each route
    assert jobs.login("otto", "wrong")[0] == 401
    assert jobs.login("nobody", "x")[0] == 401
    status, body = jobs.request("POST", "/jobs", good)
    assert status == 401 and body["error_code"] == 401 and "authentication required" in body["message"]
    status, body = jobs.request("POST", "/jobs", good, user="vera")
    assert status == 403 and "needs operator" in body["message"]
    assert jobs.request("GET", "/jobs", token=jobs.token("vera")[:-2] + "xx")[0] == 401
    status, pair = jobs.login("vera")
    assert pair["role"] == "viewer"
    assert jobs.request("GET", "/jobs", token=pair["refreshToken"])[0] == 401  # refresh tokens only refresh
    status, fresh = jobs.request("POST", "/auth/refresh", {"refreshToken": pair["refreshToken"]})
    assert status == 200 and jobs.request("GET", "/jobs", token=fresh["accessToken"])[0] == 200
    assert jobs.request("POST", "/auth/refresh", {"refreshToken": pair["accessToken"]})[0] == 401

    # a 400 names each wrong field
    status, body = jobs.request("POST", "/jobs", {"type": "FTP", "priority": 11, "maxRetries": -1, "runAt": "soon",
                                                  "payload": {}, "colour": "red"}, user="otto")
    assert status == 400, body
    fields = {f["field"] for f in body["fields"]}
    assert fields == {"name", "type", "priority", "maxRetries", "runAt", "colour"}, body
    status, body = jobs.request("POST", "/jobs", {"name": "x", "type": "HTTP", "payload": {"url": "ftp://x"}},
                                user="otto")
    assert status == 400 and [f["field"] for f in body["fields"]] == ["payload.url"]
    status, body = jobs.request("POST", "/jobs", dict(good, dependsOn=[999999]), user="otto")
    assert status == 400 and "does not exist" in body["message"]

    # submit -> COMPLETED, every transition recorded with the worker and attempt
    job = jobs.submit(dict(good, idempotencyKey="k-1"))
    done = jobs.wait_status(job["id"], {"COMPLETED"})
    assert transitions(done) == [(0, None, "PENDING"), (1, "PENDING", "QUEUED"), (1, "QUEUED", "RUNNING"),
                                 (1, "RUNNING", "COMPLETED")]
    assert done["attempts"][2]["workerId"] == "w1" and done["result"]["status"] == 200
    call = [c for c in peer.calls if c[1] == "/ok"][0]
    assert call[0] == "POST" and call[2].get("X-Job") == "yes" and call[3] == "{\"a\":1}"
    # the same idempotency key returns the existing job, not a second one
    again = jobs.submit(dict(good, idempotencyKey="k-1", name="other"), expect=200)
    assert again["id"] == job["id"] and again["name"] == "ping"
    assert peer.count("/ok") == 1

    # expected status, and an SQL job with parameters in a transaction
    sql(postgres, "CREATE TABLE public.hits (n int, who text)")
    a = jobs.submit({"name": "accepted", "type": "HTTP", "payload": {"url": peer.url + "/accepted",
                                                                     "expectStatus": 202}})
    s = jobs.submit({"name": "insert", "type": "SQL", "payload": {
        "statement": "INSERT INTO public.hits VALUES ($1::int, $2), ($1::int + 1, $2)", "params": [41, "job"]}})
    assert jobs.wait_status(a["id"], {"COMPLETED"})["result"]["status"] == 202
    assert jobs.wait_status(s["id"], {"COMPLETED"})["result"]["affected"] == 2
    assert sql(postgres, "SELECT string_agg(n || who, ',' ORDER BY n) FROM public.hits") == "41job,42job"
    bad = jobs.submit({"name": "bad sql", "type": "SQL", "maxRetries": 0,
                       "payload": {"statement": "INSERT INTO public.hits VALUES (1, 'a'), ('x', 'b')"}})
    dead = jobs.wait_status(bad["id"], {"DEAD_LETTER"})
    assert "invalid input syntax" in dead["error"]
    assert sql(postgres, "SELECT count(*) FROM public.hits") == "2"  # the failed statement left nothing

    # dependencies: the child waits for a delayed parent, then runs after it completed
    run_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    parent = jobs.submit({"name": "parent", "type": "HTTP", "runAt": run_at, "payload": {"url": peer.url + "/ok?p"}})
    child = jobs.submit({"name": "child", "type": "HTTP", "dependsOn": [parent["id"]],
                         "payload": {"url": peer.url + "/ok?c"}})
    # a NOOP job, no payload, as the join point of both
    join = jobs.submit({"name": "join", "type": "NOOP", "dependsOn": [parent["id"], child["id"]]})
    time.sleep(1)
    assert jobs.job(child["id"])["status"] == "PENDING"
    assert jobs.job(join["id"])["status"] == "PENDING"
    jobs.wait_status(child["id"], {"COMPLETED"})
    jobs.wait_status(join["id"], {"COMPLETED"})
    pcall = [c for c in peer.calls if c[1] == "/ok?p"][0]
    ccall = [c for c in peer.calls if c[1] == "/ok?c"][0]
    assert ccall[4] > pcall[4]
    # a dependency that fails dead-letters its dependants
    orphan = jobs.submit({"name": "orphan", "type": "HTTP", "dependsOn": [bad["id"]],
                          "payload": {"url": peer.url + "/ok?o"}})
    assert "dependency %d" % bad["id"] in jobs.wait_status(orphan["id"], {"DEAD_LETTER"})["error"]
    assert peer.count("/ok?o") == 0

    # list filters and cursor paging; stats
    status, page = jobs.request("GET", "/jobs?status=COMPLETED&limit=2", user="vera")
    assert status == 200 and len(page["jobs"]) == 2 and page["nextCursor"]
    status, page2 = jobs.request("GET", "/jobs?status=COMPLETED&limit=2&cursor=%d" % page["nextCursor"], user="vera")
    ids = [j["id"] for j in page["jobs"] + page2["jobs"]]
    assert ids == sorted(set(ids)) and all(j["status"] == "COMPLETED" for j in page["jobs"] + page2["jobs"])
    assert jobs.request("GET", "/jobs?status=DONE", user="vera")[0] == 400
    status, stats = jobs.request("GET", "/jobs/stats", user="vera")
    assert stats["byStatus"]["COMPLETED"] == 6 and stats["byStatus"]["DEAD_LETTER"] == 2, stats

    # batch: one bad job stores none; a good batch stores all
    status, body = jobs.request("POST", "/jobs/batch", {"jobs": [good, {"name": "x"}]}, user="otto")
    assert status == 400 and {f["field"] for f in body["fields"]} == {"jobs[1].type", "jobs[1].payload"}
    status, body = jobs.request("POST", "/jobs/batch", {"jobs": [dict(good, name="b%d" % i) for i in range(5)]},
                                user="otto")
    assert status == 201 and len(body["jobs"]) == 5
    for j in body["jobs"]:
        jobs.wait_status(j["id"], {"COMPLETED"})
    # the batch is one transaction: a dependency only the store finds missing stores none of it
    before = sql(postgres, "SELECT count(*) FROM jobs")
    status, body = jobs.request("POST", "/jobs/batch", {"jobs": [dict(good, name="kept?"),
                                                                 dict(good, name="orphan", dependsOn=[999999])]},
                                user="otto")
    assert status == 400 and "does not exist" in body["message"], body
    assert sql(postgres, "SELECT count(*) FROM jobs") == before
    # ... and a job may depend on one earlier in the same batch
    status, body = jobs.request("POST", "/jobs/batch", {"jobs": [dict(good, name="first")]}, user="otto")
    first = body["jobs"][0]["id"]
    status, body = jobs.request("POST", "/jobs/batch", {"jobs": [
        dict(good, name="b-parent", payload={"url": peer.url + "/ok?bp"}),
        dict(good, name="b-child", dependsOn=[first + 1], payload={"url": peer.url + "/ok?bc"})]}, user="otto")
    assert status == 201 and body["jobs"][0]["id"] == first + 1, body
    jobs.wait_status(body["jobs"][1]["id"], {"COMPLETED"})
    assert [c[1] for c in peer.calls if c[1] in ("/ok?bp", "/ok?bc")] == ["/ok?bp", "/ok?bc"]


def test_a_submit_is_dispatched_at_once_not_at_the_next_scheduler_interval(jobs_factory, peer):
    """The API kicks the scheduler after storing a job; only what is due then is dispatched."""
    jobs = jobs_factory(extra="jobs:\n  scheduler_interval_ms: 600000\n")  # one full round per 10 min
    jobs.start_worker("w1")
    time.sleep(1)  # the start-up round is over: from here only kicks dispatch
    one = jobs.submit({"name": "now", "type": "HTTP", "payload": {"url": peer.url + "/ok?now"}})
    assert jobs.wait_status(one["id"], {"COMPLETED"}, timeout=30)["status"] == "COMPLETED"
    status, body = jobs.request("POST", "/jobs/batch", {"jobs": [
        {"name": "b%d" % i, "type": "HTTP", "payload": {"url": peer.url + "/ok?b"}} for i in range(3)]}, user="otto")
    assert status == 201
    for j in body["jobs"]:
        jobs.wait_status(j["id"], {"COMPLETED"}, timeout=30)
    # A job due a few seconds after its submit is not dispatched by that submit's kick (a kicked
    # round takes only what is due then), and when its time has come nothing dispatches it: no
    # round for 10 minutes, no kick. runAt has whole seconds, so it is counted from a whole
    # second: time.time() + 1 truncated could be due a millisecond after the submit, and a submit
    # that took longer (a loaded machine) was due at once, kicked and dispatched.
    due = int(time.time()) + 5
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due))
    later = jobs.submit({"name": "soon", "type": "HTTP", "runAt": soon, "payload": {"url": peer.url + "/ok?soon"}})
    time.sleep(max(0.0, due + 2 - time.time()))  # its runAt has passed
    pending = jobs.job(later["id"])
    assert pending["status"] == "PENDING" and peer.count("/ok?soon") == 0, pending
    # ... which the next kick is
    jobs.submit({"name": "nudge", "type": "HTTP", "payload": {"url": peer.url + "/ok?nudge"}})
    jobs.wait_status(later["id"], {"COMPLETED"}, timeout=30)


def test_sql_jobs_on_a_kept_connection_never_see_the_previous_jobs_session(jobs_factory, postgres):
    """The worker keeps its SQL connection between jobs; each job still starts on a clean session."""
    jobs = jobs_factory()
    jobs.start_worker("w1")  # one worker: every job below runs on its one kept connection
    make = {"name": "temp", "type": "SQL", "maxRetries": 0,
            "payload": {"statement": "CREATE TEMPORARY TABLE scratch AS SELECT pg_backend_pid() AS pid"}}
    for _ in range(3):
        # without the reset the second CREATE fails: the first job's temporary table would still be there
        done = jobs.wait_status(jobs.submit(make)["id"], {"COMPLETED", "DEAD_LETTER"})
        assert done["status"] == "COMPLETED", done
    guc = {"name": "guc", "type": "SQL", "maxRetries": 0,
           "payload": {"statement": "SELECT set_config('application_name', 'leaked', false)"}}
    assert jobs.wait_status(jobs.submit(guc)["id"], {"COMPLETED", "DEAD_LETTER"})["status"] == "COMPLETED"
    # one backend served them all (the connection was kept), and the setting did not outlive its job
    check = {"name": "check", "type": "SQL", "maxRetries": 0, "payload": {
        "statement": "INSERT INTO public.seen SELECT current_setting('application_name'), pg_backend_pid()"}}
    sql(postgres, "CREATE TABLE public.seen (app text, pid int)")
    assert jobs.wait_status(jobs.submit(check)["id"], {"COMPLETED", "DEAD_LETTER"})["status"] == "COMPLETED"
    assert sql(postgres, "SELECT app FROM public.seen") != "leaked"
    pid = sql(postgres, "SELECT pid FROM public.seen")
    assert sql(postgres, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s" % pid) == "1"
    # a failed job closes the connection: the next one runs on a new backend
    bad = {"name": "bad", "type": "SQL", "maxRetries": 0, "payload": {"statement": "SELECT 1/0"}}
    assert jobs.wait_status(jobs.submit(bad)["id"], {"COMPLETED", "DEAD_LETTER"})["status"] == "DEAD_LETTER"
    assert jobs.wait_status(jobs.submit(check)["id"], {"COMPLETED", "DEAD_LETTER"})["status"] == "COMPLETED"
    pids = sql(postgres, "SELECT string_agg(pid::text, ',' ORDER BY pid) FROM public.seen").split(",")
    assert len(set(pids)) == 2, pids


def test_failing_job_retries_with_backoff_then_dead_letter_and_can_be_retried(jobs_factory, peer):
    jobs = jobs_factory()
    jobs.start_worker("w1")
    job = jobs.submit({"name": "flaky", "type": "HTTP", "maxRetries": 2, "payload": {"url": peer.url + "/fail"}})
    dead = jobs.wait_status(job["id"], {"DEAD_LETTER"}, timeout=60)
    assert peer.count("/fail") == 3
    assert transitions(dead)[-1] == (3, "FAILED", "DEAD_LETTER")
    failed = [a for a in dead["attempts"] if a["to"] == "FAILED"]
    assert [a["attempt"] for a in failed] == [1, 2, 3]
    assert all(a["error"] == "HTTP status 500, expected 2xx" for a in failed)
    assert [a["attempt"] for a in dead["attempts"] if a["to"] == "RETRYING"] == [1, 2]
    # backoff: base 400 ms, doubled, equal jitter -> at least 200 ms then 400 ms between calls
    times = [c[4] for c in peer.calls if c[1] == "/fail"]
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4, times
    # an operator can retry a dead letter; it runs again under a new attempt number
    assert jobs.request("POST", "/jobs/%d/retry" % job["id"], user="vera")[0] == 403
    status, body = jobs.request("POST", "/jobs/%d/retry" % job["id"], user="otto")
    assert status == 200 and body["status"] == "PENDING"
    wait_until(lambda: peer.count("/fail") == 4, 30, "the retried job to run")
    assert jobs.request("POST", "/jobs/%d/retry" % 987654, user="otto")[0] == 404


def test_kill9_of_a_worker_mid_job_completes_once_after_the_lease(jobs_factory, tmp_path):
    out = tmp_path / "ran.txt"
    jobs = jobs_factory(shell_allow=[PY])
    jobs.start_worker("w1")
    jobs.start_worker("w2")
    # The shell appends one line when the 3-second work finishes: a second completion, or an
    # orphan of the killed worker finishing, would add a second line.
    job = jobs.submit({"name": "long", "type": "SHELL", "maxRetries": 3,
                       "payload": {"command": PY, "args": ["-c", "import time; time.sleep(3); open(%r, 'a').write('done\\n')" % str(out)]}})
    running = jobs.wait_status(job["id"], {"RUNNING"}, timeout=60)
    victim = running["workerId"]
    time.sleep(0.5)
    jobs.workers[victim].kill()
    jobs.workers[victim].wait()
    done = jobs.wait_status(job["id"], {"COMPLETED"}, timeout=60)
    time.sleep(4)  # time enough for an orphan of the first attempt to finish, were there one
    assert out.read_text() == "done\n"
    tr = [(a["attempt"], a["to"], a["workerId"], a["error"]) for a in done["attempts"]]
    survivor = "w2" if victim == "w1" else "w1"
    assert (1, "RUNNING", victim, None) in tr and (1, "FAILED", victim, "lease expired") in tr, tr
    assert tr[-2][:3] == (2, "RUNNING", survivor) and tr[-1][:3] == (2, "COMPLETED", survivor), tr
    assert sum(1 for t in tr if t[1] == "COMPLETED") == 1


def test_one_worker_runs_up_to_worker_concurrency_jobs_at_once(jobs_factory, tmp_path):
    jobs = jobs_factory(shell_allow=[PY], extra="jobs:\n  worker_concurrency: 3\n")
    jobs.start_worker("w1")
    # Each job writes its start and end (this machine's clock) to its own file; with 5 jobs of
    # 1.5 s and 3 slots, exactly 3 run at once at the busiest moment, never 4.
    script = ("import sys, time; f = open(sys.argv[1], 'w'); f.write('%f ' % time.time()); f.flush();"
              " time.sleep(1.5); f.write('%f' % time.time())")
    ids = [jobs.submit({"name": "slot%d" % i, "type": "SHELL", "maxRetries": 0, "payload": {
        "command": PY, "args": ["-c", script, str(tmp_path / ("span%d" % i))]}})["id"] for i in range(5)]
    for i in ids:
        jobs.wait_status(i, {"COMPLETED"}, timeout=60)
    spans = [tuple(map(float, (tmp_path / ("span%d" % i)).read_text().split())) for i in range(5)]
    busiest = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert busiest == 3, spans


def test_kill9_of_a_worker_running_several_jobs_completes_each_once(jobs_factory, tmp_path):
    jobs = jobs_factory(shell_allow=[PY], extra="jobs:\n  worker_concurrency: 4\n")
    jobs.start_worker("w1")
    outs = [tmp_path / ("ran%d.txt" % i) for i in range(3)]
    ids = [jobs.submit({"name": "long%d" % i, "type": "SHELL", "maxRetries": 3, "payload": {
        "command": PY, "args": ["-c", "import time; time.sleep(3); open(%r, 'a').write('done\\n')" % str(o)]}})["id"]
        for i, o in enumerate(outs)]
    for i in ids:
        jobs.wait_status(i, {"RUNNING"}, timeout=60)
    time.sleep(0.5)
    jobs.workers["w1"].kill()
    jobs.workers["w1"].wait()
    jobs.start_worker("w2")
    for i in ids:
        done = jobs.wait_status(i, {"COMPLETED"}, timeout=60)
        tr = [(a["attempt"], a["to"], a["workerId"], a["error"]) for a in done["attempts"]]
        assert (1, "FAILED", "w1", "lease expired") in tr and tr[-1][:3] == (2, "COMPLETED", "w2"), tr
    time.sleep(4)  # an orphan of a first attempt would finish meanwhile and add a second line
    assert [o.read_text() for o in outs] == ["done\n"] * 3


def test_duplicate_task_messages_run_a_job_once(jobs_factory, broker, tmp_path):
    """A task message sent three times (the scheduler's, plus two more, as a re-send after
    requeue_after_ms or a producer retry would) reaches a worker with 4 slots: the slots claim
    them together or one after another, and the job runs once."""
    from confluent_kafka import Producer
    # A lease far longer than the job: with the suite's 2 s lease a loaded machine can stall the
    # worker's heartbeats past it, and the attempt (maxRetries 0) ends DEAD_LETTER, which is not
    # what this test is about. Debug logging shows each refused claim.
    jobs = jobs_factory(shell_allow=[PY], extra="jobs:\n  worker_concurrency: 4\n  lease_ms: 60000\n"
                                                "  heartbeat_ms: 1000\nlogging:\n  level: debug\n")
    out = tmp_path / "ran.txt"
    job = jobs.submit({"name": "dup", "type": "SHELL", "maxRetries": 0, "payload": {
        "command": PY, "args": ["-c", "import time; open(%r, 'a').write('ran\\n'); time.sleep(1)" % str(out)]}})
    jobs.wait_status(job["id"], {"QUEUED"})
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for _ in range(2):
        producer.produce("job.tasks", key=str(job["id"]), value=json.dumps({"id": job["id"], "attempt": 1}))
    assert producer.flush(10) == 0
    jobs.start_worker("w1")
    done = jobs.wait_status(job["id"], {"COMPLETED"}, timeout=60)
    # Wait until the worker has handled all three copies (each is run or refused as not
    # claimable; a re-send by the scheduler meanwhile would be a fourth), rather than sleeping:
    # a second run has had its chance however slow the machine.
    wait_until(lambda: sum(jobs.log("worker-w1").count(m) for m in ("attempt 1: running", "attempt 1: not claimable"))
               >= 3, 60, "the worker to handle the three task messages")
    assert out.read_text() == "ran\n"
    assert [t for t in transitions(done) if t[2] == "RUNNING"] == [(1, "QUEUED", "RUNNING")], transitions(done)


def test_cancel_queued_and_running_jobs(jobs_factory, tmp_path):
    jobs = jobs_factory(shell_allow=[PY])
    jobs.start_worker("w1")
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    waiting = jobs.submit({"name": "later", "type": "HTTP", "runAt": later, "payload": {"url": "http://127.0.0.1:1/"}})
    status, body = jobs.request("POST", "/jobs/%d/cancel" % waiting["id"], user="otto")
    assert status == 200 and body["status"] == "CANCELLED"
    status, body = jobs.request("POST", "/jobs/%d/cancel" % waiting["id"], user="otto")
    assert status == 409 and "CANCELLED" in body["message"]
    marker = tmp_path / "still-running"
    job = jobs.submit({"name": "sleeper", "type": "SHELL", "payload": {
        "command": PY, "args": ["-c", "import time; time.sleep(30); open(%r, 'w')" % str(marker)]}})
    jobs.wait_status(job["id"], {"RUNNING"}, timeout=60)
    t0 = time.monotonic()
    status, body = jobs.request("POST", "/jobs/%d/cancel" % job["id"], user="otto")
    assert status == 200 and body["cancelRequested"]
    done = jobs.wait_status(job["id"], {"CANCELLED"}, timeout=15)
    assert time.monotonic() - t0 < 10
    assert transitions(done)[-1] == (1, "RUNNING", "CANCELLED")
    # the process group was stopped: no sleep of ours is left
    ps = subprocess.run(["pgrep", "-f", str(marker)], capture_output=True, text=True)
    assert ps.stdout.strip() == "", ps.stdout
    # SHELL commands off the allow-list fail (and are never run)
    other = jobs.submit({"name": "rm", "type": "SHELL", "maxRetries": 0,
                         "payload": {"command": "/bin/rm", "args": ["-rf", str(tmp_path)]}})
    assert "not on executors.shell_allow" in jobs.wait_status(other["id"], {"DEAD_LETTER"})["error"]
    assert tmp_path.exists()


def test_a_paused_worker_loses_its_lease_and_its_late_result_is_refused(jobs_factory):
    # SIGSTOP freezes the worker (heartbeats stop) without killing it: the lease expires, the
    # other worker runs attempt 2, and when the first wakes up its attempt is fenced off.
    jobs = jobs_factory(shell_allow=[PY])
    jobs.start_worker("w1")
    jobs.start_worker("w2")
    job = jobs.submit({"name": "fenced", "type": "SHELL", "maxRetries": 3,
                       "payload": {"command": PY, "args": ["-c", "import time; time.sleep(2); print('hi')"]}})
    running = jobs.wait_status(job["id"], {"RUNNING"}, timeout=60)
    paused = running["workerId"]
    os.kill(jobs.workers[paused].pid, signal.SIGSTOP)
    try:
        done = jobs.wait_status(job["id"], {"COMPLETED"}, timeout=60)
    finally:
        os.kill(jobs.workers[paused].pid, signal.SIGCONT)
    assert done["attempt"] == 2 and done["workerId"] != paused
    wait_until(lambda: "lease lost" in jobs.log("worker-" + paused) or "result refused" in jobs.log("worker-" + paused),
               20, "the paused worker to notice it lost the lease")
    time.sleep(1)
    final = jobs.job(job["id"])
    assert final["status"] == "COMPLETED" and final["attempt"] == 2
    assert [a["to"] for a in final["attempts"]].count("COMPLETED") == 1
    assert final["attempts"][-1]["workerId"] == done["workerId"]


def iso(ts):
    """An API time ("2026-12-04T21:00:00.000Z") as a UTC datetime."""
    from datetime import datetime, timezone
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def children(postgres, template_id):
    return int(sql(postgres, "SELECT count(*) FROM jobs WHERE schedule_id = %d" % template_id))


def test_cron_schedules_time_zones_restart_and_a_missed_tick_runs_once(jobs_factory, peer, postgres):
    from datetime import datetime, timedelta, time as dtime
    from zoneinfo import ZoneInfo
    jobs = jobs_factory()
    jobs.start_worker("w1")
    # bad schedules are 400s naming the field
    base = {"name": "tick", "type": "HTTP", "payload": {"url": peer.url + "/ok?cron"}}
    status, body = jobs.request("POST", "/jobs", dict(base, cron="61 * * * *"), user="otto")
    assert status == 400 and body["fields"] == [{"field": "cron", "message": "minute: 61 is out of range 0-59"}]
    status, body = jobs.request("POST", "/jobs", dict(base, cron="0 3 * * *", timeZone="Mars/Olympus_Mons"),
                                user="otto")
    assert status == 400 and [f["field"] for f in body["fields"]] == ["timeZone"], body
    status, body = jobs.request("POST", "/jobs", dict(base, cron="0 0 30 2 *"), user="otto")
    assert status == 400 and "never fires" in body["fields"][0]["message"], body
    status, body = jobs.request("POST", "/jobs", dict(base, cron="* * * * *", dependsOn=[1]), user="otto")
    assert status == 400 and [f["field"] for f in body["fields"]] == ["dependsOn"], body
    status, body = jobs.request("POST", "/jobs", dict(base, timeZone="UTC"), user="otto")
    assert status == 400 and [f["field"] for f in body["fields"]] == ["timeZone"], body

    # the first tick is computed in the job's zone (checked against Python's zoneinfo)
    ny = jobs.submit(dict(base, name="ny", cron="0 3 * * *", timeZone="America/New_York"))
    zone = ZoneInfo("America/New_York")
    created = iso(ny["createdAt"]).astimezone(zone)
    want = min(c for c in (datetime.combine(created.date() + timedelta(days=k), dtime(3, 0), tzinfo=zone)
                           for k in range(3)) if c > created)
    assert iso(ny["runAt"]) == want, (ny["runAt"], want)
    assert ny["cron"] == "0 3 * * *" and ny["timeZone"] == "America/New_York" and ny["status"] == "PENDING"

    # downtime over three yearly ticks: the schedule runs once, then waits for the next one
    yearly = jobs.submit(dict(base, name="yearly", cron="0 0 1 1 *", payload={"url": peer.url + "/ok?yearly"}))
    minutely = jobs.submit(dict(base, name="minutely", cron="* * * * *", payload={"url": peer.url + "/ok?minutely"}))
    r0 = minutely["runAt"]
    assert iso(r0).second == 0 and iso(r0) > iso(minutely["createdAt"])
    jobs.api.send_signal(signal.SIGTERM)
    jobs.api.wait(timeout=15)
    sql(postgres, "UPDATE jobs SET run_at = run_at - interval '3 years' WHERE id = %d" % yearly["id"])
    jobs.start()
    # the next run was stored, not recomputed on start (unless its minute came during the
    # restart: then it ran, and the run's child below proves it ran at the stored tick)
    assert jobs.job(minutely["id"])["runAt"] == r0 or children(postgres, minutely["id"]) >= 1
    wait_until(lambda: children(postgres, yearly["id"]) >= 1, 30, "the missed yearly tick to run")
    child = int(sql(postgres, "SELECT id FROM jobs WHERE schedule_id = %d" % yearly["id"]))
    done = jobs.wait_status(child, {"COMPLETED"})
    assert done["scheduleId"] == yearly["id"] and done["cron"] is None
    after = jobs.job(yearly["id"])
    nxt = iso(after["runAt"])
    assert (nxt.month, nxt.day, nxt.hour, nxt.minute) == (1, 1, 0, 0) and nxt > iso(done["createdAt"]), after
    assert children(postgres, yearly["id"]) == 1 and peer.count("/ok?yearly") == 1

    # the every-minute schedule fires at its stored tick across the restart, then moves on
    wait_until(lambda: children(postgres, minutely["id"]) >= 1, 90, "the minutely tick after the restart")
    first = int(sql(postgres, "SELECT min(id) FROM jobs WHERE schedule_id = %d" % minutely["id"]))
    ran = jobs.wait_status(first, {"COMPLETED"})
    assert iso(ran["createdAt"]) >= iso(r0)
    assert iso(jobs.job(minutely["id"])["runAt"]) >= iso(r0) + timedelta(minutes=1)

    # cancelling the template ends the schedule
    status, body = jobs.request("POST", "/jobs/%d/cancel" % minutely["id"], user="otto")
    assert status == 200 and body["status"] == "CANCELLED"
    n = children(postgres, minutely["id"])
    sql(postgres, "UPDATE jobs SET run_at = now() - interval '1 minute' WHERE id = %d" % minutely["id"])
    time.sleep(1)  # several scheduler rounds (100 ms each)
    assert children(postgres, minutely["id"]) == n


QUEUES = ("queues:\n  - {name: serial, concurrency: 1}\n  - {name: paced, rate_per_s: 2}\n")


def test_queue_concurrency_limit_priorities_and_rate_limit(jobs_factory, peer):
    jobs = jobs_factory(extra=QUEUES)
    jobs.start_worker("w1")
    jobs.start_worker("w2")
    # one job of the serial queue runs; the others wait as PENDING even with a worker free
    blocker = jobs.submit({"name": "blocker", "type": "HTTP", "queue": "serial",
                           "payload": {"url": peer.url + "/slow?ms=4000"}})
    jobs.wait_status(blocker["id"], {"RUNNING"}, timeout=60)
    waiting = [jobs.submit({"name": "p%d" % p, "type": "HTTP", "queue": "serial", "priority": p,
                            "payload": {"url": peer.url + "/ok?serial-%d" % p}}) for p in (1, 9, 5)]
    time.sleep(0.5)
    assert [jobs.job(j["id"])["status"] for j in waiting] == ["PENDING"] * 3
    done = [jobs.wait_status(j["id"], {"COMPLETED"}, timeout=60) for j in waiting]
    # highest priority first, and never two of the queue at once
    order = [c[1] for c in peer.calls if c[1].startswith("/ok?serial")]
    assert order == ["/ok?serial-9", "/ok?serial-5", "/ok?serial-1"], order
    spans = sorted((iso(next(a["at"] for a in j["attempts"] if a["to"] == "QUEUED")),
                    iso(next(a["at"] for a in j["attempts"] if a["to"] == "COMPLETED")))
                   for j in done + [jobs.job(blocker["id"])])
    for (q1, c1), (q2, c2) in zip(spans, spans[1:]):
        assert q2 >= c1, spans

    # paced: 2 per second with a burst of 2 -> six jobs take at least two seconds to start
    paced = [jobs.submit({"name": "r%d" % i, "type": "HTTP", "queue": "paced",
                          "payload": {"url": peer.url + "/ok?paced-%d" % i}}) for i in range(6)]
    for j in paced:
        jobs.wait_status(j["id"], {"COMPLETED"}, timeout=60)
    starts = sorted(c[4] for c in peer.calls if c[1].startswith("/ok?paced"))
    assert len(starts) == 6 and starts[-1] - starts[0] >= 1.5, starts


class Mailbox:
    """A real SMTP server (Debian's python3-aiosmtpd) on a free port; with tls it offers
    STARTTLS with the test certificate of tests/fixtures/cql_tls and requires it."""

    def __init__(self, tls):
        import ssl
        from aiosmtpd.controller import Controller
        self.messages = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                     "tls": session.ssl is not None, "data": envelope.content.decode("utf-8")})
                return "250 OK"

        kw = {}
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(TLS_DIR / "server.pem"), str(TLS_DIR / "server.key"))
            kw = {"tls_context": ctx, "require_starttls": True}
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kw)
        self.controller.start()

    def stop(self):
        self.controller.stop()


TLS_DIR = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "cql_tls"


def test_email_jobs_over_starttls_to_a_real_smtp_server(jobs_factory):
    import email
    import email.header
    secure, plain = Mailbox(tls=True), Mailbox(tls=False)
    try:
        jobs = jobs_factory(extra="executors:\n  smtp_url: \"smtp://127.0.0.1:%d\"\n  smtp_from: jobs@streambus.test\n"
                                  "  smtp_ca_file: \"%s\"\n" % (secure.port, TLS_DIR / "ca.pem"))
        jobs.start_worker("w1")
        # bad payloads are 400s naming the field
        status, body = jobs.request("POST", "/jobs", {"name": "m", "type": "EMAIL", "payload": {
            "to": ["ops@example.com\r\nRCPT TO:<x@y>"], "subject": "a\nb", "body": 3}}, user="otto")
        assert status == 400 and {f["field"] for f in body["fields"]} == {"payload.to", "payload.subject",
                                                                           "payload.body"}, body
        job = jobs.submit({"name": "report", "type": "EMAIL", "payload": {
            "to": ["ops@example.com", "dev@example.com"], "subject": "Nightly report \u2713",
            "body": "all green\n.\nline after a lone dot\n"}})
        done = jobs.wait_status(job["id"], {"COMPLETED"}, timeout=60)
        assert done["result"] == {"recipients": 2}
        assert len(secure.messages) == 1
        m = secure.messages[0]
        assert m["tls"], "the message was sent before STARTTLS"
        assert m["from"] == "jobs@streambus.test" and m["to"] == ["ops@example.com", "dev@example.com"]
        parsed = email.message_from_string(m["data"])
        subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"])))
        assert subject == "Nightly report \u2713"
        assert parsed.get_payload().replace("\r\n", "\n") == "all green\n.\nline after a lone dot\n"
    finally:
        secure.stop()
    jobs.stop()  # its worker would take the next job with the old configuration
    # a server without STARTTLS gets nothing: the job fails and names why
    try:
        jobs2 = jobs_factory(extra="executors:\n  smtp_url: \"smtp://127.0.0.1:%d\"\n  smtp_from: jobs@streambus.test\n"
                                   % plain.port)
        jobs2.start_worker("w2")
        job = jobs2.submit({"name": "leak?", "type": "EMAIL", "maxRetries": 0,
                            "payload": {"to": ["ops@example.com"], "subject": "s", "body": "secret"}})
        dead = jobs2.wait_status(job["id"], {"DEAD_LETTER"}, timeout=60)
        assert "STARTTLS" in dead["error"], dead["error"]
        assert plain.messages == []
    finally:
        plain.stop()


def test_ctl_job_commands_over_the_rest_api(jobs_factory, peer, tmp_path):
    jobs = jobs_factory()
    jobs.start_worker("w1")
    base_url = jobs.url.replace("/api/v1", "")

    def ctl(*args, user="otto", token=None):
        env = dict(os.environ, STREAMBUS_JOBS_URL=base_url, STREAMBUS_JOBS_PASSWORD=USERS[user][1])
        env.pop("STREAMBUS_JOBS_TOKEN", None)
        auth = ["--token", token] if token else ["--user", user]
        p = subprocess.run([jobs.binary, "ctl"] + list(args) + auth, capture_output=True, text=True, timeout=60,
                           env=env)
        return p.returncode, p.stdout, p.stderr

    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"name": "from-ctl", "type": "HTTP", "payload": {"url": peer.url + "/ok?ctl"}}))
    rc, out, err = ctl("job", "submit", "--file", str(spec))
    assert rc == 0, err
    jid = json.loads(out)["id"]
    jobs.wait_status(jid, {"COMPLETED"})
    rc, out, err = ctl("job", "show", str(jid), user="vera")
    assert rc == 0 and json.loads(out)["status"] == "COMPLETED" and peer.count("/ok?ctl") == 1
    rc, out, err = ctl("job", "list", "--status", "COMPLETED", user="vera")
    assert rc == 0 and "from-ctl" in out and "COMPLETED" in out.splitlines()[1], out
    rc, out, err = ctl("job", "logs", str(jid), user="vera")
    # no log store configured: the transitions, and a note saying so
    assert rc == 0 and out.splitlines()[-1].endswith("RUNNING -> COMPLETED worker w1"), out
    assert "no job log store (logs.clickhouse_url)" in err, err
    # a batch; bad input names each field and exits 1; a viewer may not cancel (403)
    rc, out, err = ctl("job", "submit", "--json", json.dumps({"jobs": [{"name": "b", "type": "HTTP",
                                                                         "payload": {"url": peer.url + "/ok?b"}}]}))
    assert rc == 0 and len(json.loads(out)["jobs"]) == 1
    rc, out, err = ctl("job", "submit", "--json", '{"name": "x", "type": "FTP", "payload": {}}')
    assert rc == 1 and "type: must be HTTP" in err, err
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    rc, out, err = ctl("job", "submit", "--json", json.dumps({"name": "later", "type": "HTTP", "runAt": later,
                                                               "maxRetries": 0,
                                                               "payload": {"url": peer.url + "/ok?later"}}))
    later_id = json.loads(out)["id"]
    rc, out, err = ctl("job", "cancel", str(later_id), user="vera")
    assert rc == 1 and "HTTP 403" in err, err
    rc, out, err = ctl("job", "cancel", str(later_id))
    assert rc == 0 and json.loads(out)["status"] == "CANCELLED"
    rc, out, err = ctl("job", "retry", str(later_id), token=jobs.token("otto"))
    assert rc == 0 and json.loads(out)["status"] == "PENDING"
    rc, out, err = ctl("job", "show", "99999", user="vera")
    assert rc == 1 and "HTTP 404" in err
    rc, out, err = ctl("job", "show", "abc", user="vera")
    assert rc == 2 and "numeric job ID" in err
    rc, out, err = ctl("job", "show", "1", token="not-a-token")
    assert rc == 1 and "HTTP 401" in err


def test_pipeline_jobs_drive_a_real_connect(jobs_factory, connect, tmp_path):  # noqa: F811 (fixture)
    connect.expect_error("no_such_connector|unknown connector|not found")
    jobs = jobs_factory(extra="executors:\n  connect_url: \"%s\"\n" % connect.url)
    jobs.start_worker("w1")
    out = tmp_path / "sink.jsonl"
    cfg = {"connector.class": "file-sink", "file": str(out), "topics": "app.demo.jobs"}
    # create the connector and wait until it runs
    job = jobs.submit({"name": "deploy sink", "type": "PIPELINE",
                       "payload": {"action": "connector", "name": "jobs-sink", "config": cfg}})
    done = jobs.wait_status(job["id"], {"COMPLETED"}, timeout=60)
    assert done["result"] == {"connector": "jobs-sink", "state": "RUNNING"}
    assert connect.state("jobs-sink") == "RUNNING"
    assert connect.request("GET", "/connectors/jobs-sink/config")[1]["file"] == str(out)
    # resume a paused connector
    assert connect.request("PUT", "/connectors/jobs-sink/pause")[0] == 202
    connect.wait_state("jobs-sink", "PAUSED")
    job = jobs.submit({"name": "resume", "type": "PIPELINE", "payload": {"action": "resume", "name": "jobs-sink"}})
    jobs.wait_status(job["id"], {"COMPLETED"}, timeout=60)
    assert connect.state("jobs-sink") == "RUNNING"
    # connect's refusals fail the job with connect's reason
    job = jobs.submit({"name": "bad class", "type": "PIPELINE", "maxRetries": 0, "payload": {
        "action": "connector", "name": "broken", "config": {"connector.class": "no-such-plugin"}}})
    dead = jobs.wait_status(job["id"], {"DEAD_LETTER"}, timeout=60)
    assert dead["error"].startswith("PIPELINE: create connector: HTTP 400"), dead["error"]
    job = jobs.submit({"name": "reconcile nothing", "type": "PIPELINE", "maxRetries": 0, "payload": {
        "action": "reconcile", "connector": "no_such_connector", "tables": ["t"]}})
    dead = jobs.wait_status(job["id"], {"DEAD_LETTER"}, timeout=60)
    assert dead["error"].startswith("PIPELINE: reconciliation: HTTP 404"), dead["error"]
    # bad payloads are 400s naming the field
    status, body = jobs.request("POST", "/jobs", {"name": "x", "type": "PIPELINE", "payload": {
        "action": "reconcile", "connector": "../x", "mode": "fast"}}, user="otto")
    assert status == 400 and {f["field"] for f in body["fields"]} == {"payload.connector", "payload.tables",
                                                                       "payload.mode"}, body


def scrape(jobs):
    """The /metrics exposition as {sample with labels: value}."""
    with urllib.request.urlopen(jobs.url.replace("/api/v1", "") + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def health(jobs):
    try:
        with urllib.request.urlopen(jobs.url.replace("/api/v1", "") + "/health/ready", timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def test_metrics_and_readiness_per_dependency(jobs_factory, peer, pg_server):
    jobs = jobs_factory()
    jobs.start_worker("w1")
    ok = [jobs.submit({"name": "m%d" % i, "type": "HTTP", "queue": "mq", "payload": {"url": peer.url + "/ok"}})
          for i in range(3)]
    bad = jobs.submit({"name": "f", "type": "HTTP", "queue": "mq", "maxRetries": 1, "payload": {"url": peer.url + "/fail"}})
    for j in ok:
        jobs.wait_status(j["id"], {"COMPLETED"})
    jobs.wait_status(bad["id"], {"DEAD_LETTER"}, timeout=60)
    m = scrape(jobs)
    assert m['streambus_jobs_submitted_total{type="HTTP",queue="mq"}'] == 4
    assert m['streambus_jobs_completed_total{type="HTTP",queue="mq"}'] == 3
    assert m['streambus_jobs_failed_total{type="HTTP",queue="mq"}'] == 2
    assert m['streambus_jobs_dead_letter_total{type="HTTP",queue="mq"}'] == 1
    # every attempt was queued, then run: 5 of each, and the buckets are cumulative
    for h in ("streambus_jobs_time_in_queue_seconds", "streambus_jobs_run_time_seconds"):
        assert m[h + "_count"] == 5 and m[h + '_bucket{le="+Inf"}'] == 5, m
        buckets = [v for k, v in m.items() if k.startswith(h + "_bucket")]
        assert buckets == sorted(buckets)
    assert m["streambus_jobs_lease_expiries_total"] == 0 and m["streambus_jobs_workers_busy"] == 0

    status, body = health(jobs)
    assert status == 200 and body["status"] == "UP"
    assert {k: v["status"] for k, v in body["components"].items()} == {"postgres": "UP", "scheduler": "UP",
                                                                        "broker": "UP"}
    # PostgreSQL goes away: not ready, and the component says so
    pg_server.stop()
    try:
        wait_until(lambda: health(jobs)[0] == 503, 30, "readiness to report PostgreSQL down")
        status, body = health(jobs)
        assert body["components"]["postgres"]["status"] == "DOWN" and body["components"]["broker"]["status"] == "UP"
        assert "PostgreSQL" in body["components"]["postgres"]["detail"]
    finally:
        pg_server.start()
    wait_until(lambda: health(jobs)[0] == 200, 60, "readiness to recover with PostgreSQL")


def test_openapi_document_matches_the_api(jobs_factory):
    jobs = jobs_factory()
    with urllib.request.urlopen(jobs.url + "/openapi.json", timeout=10) as r:  # no token needed
        doc = json.loads(r.read().decode())
    assert doc["openapi"] == "3.0.3" and doc["servers"] == [{"url": "/api/v1"}]
    assert set(doc["paths"]) == {"/auth/login", "/auth/refresh", "/jobs", "/jobs/batch", "/jobs/stats", "/jobs/{id}",
                                 "/jobs/{id}/cancel", "/jobs/{id}/retry", "/jobs/{id}/logs", "/logs/search",
                                 "/openapi.json"}
    # each documented route answers (not 404) with its documented method
    for path, ops in doc["paths"].items():
        for method in ops:
            status, _ = jobs.request(method.upper(), path.replace("{id}", "1"), {} if method == "post" else None,
                                     user="ada")
            assert status != 404 or "{id}" in path, (method, path, status)
    # JobSubmit lists exactly the fields the validator knows: none of them is "not a job field"
    props = doc["components"]["schemas"]["JobSubmit"]["properties"]
    status, body = jobs.request("POST", "/jobs", dict({k: 12345 for k in props}, colour=1), user="otto")
    unknown = {f["field"] for f in body["fields"] if f["message"] == "is not a job field"}
    assert status == 400 and unknown == {"colour"}, body
    assert set(props["type"]["enum"]) == {"HTTP", "SQL", "SHELL", "EMAIL", "PIPELINE", "NOOP"}
    status, body = jobs.request("POST", "/jobs", {"name": "x", "type": "NOPE", "payload": {}}, user="otto")
    assert "must be " + ", ".join(props["type"]["enum"][:-1]) + " or NOOP" in body["fields"][0]["message"]


def test_the_api_over_https_with_the_shared_tls_policy(jobs_factory, peer, tmp_path):
    """--http-security with http.tls makes the jobs API HTTPS only, with the policy of the other
    HTTP servers (test_http_security.py runs testssl against that same server code): TLS 1.2 and
    1.3 negotiate, TLS 1.1 does not, HSTS on every answer, no HTTP answer in plaintext; logging
    in and running a job work over it."""
    from test_http_security import make_cert
    cert, key = make_cert(tmp_path)
    jobs = jobs_factory(tls=(cert, key))
    jobs.start_worker("w1")
    job = jobs.submit({"name": "over tls", "type": "HTTP", "payload": {"url": peer.url + "/ok"}})
    assert jobs.wait_status(job["id"], {"COMPLETED"})["attempt"] == 1
    with urllib.request.urlopen(jobs.url.replace("/api/v1", "/health/live"), context=jobs.ssl_context,
                                timeout=10) as r:
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen("http://127.0.0.1:%d/health/live" % jobs.port, timeout=5).read()

    def handshake(flag):
        # SECLEVEL=0: the client itself would refuse TLS 1.1 at Debian's default level, and the
        # check is of the server (against `openssl s_server -tls1_1` this client does connect)
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % jobs.port, flag, "-brief",
                            "-cipher", "DEFAULT@SECLEVEL=0"], input="", capture_output=True, text=True, timeout=30)
        return r.returncode == 0 and "Protocol version" in r.stderr + r.stdout
    assert handshake("-tls1_3") and handshake("-tls1_2")
    assert not handshake("-tls1_1")


def test_each_attempt_end_is_a_record_on_job_logs(jobs_factory, peer, broker):
    jobs = jobs_factory()
    jobs.start_worker("w1")
    ok = jobs.submit({"name": "ok", "type": "HTTP", "queue": "lq", "payload": {"url": peer.url + "/ok"}})
    bad = jobs.submit({"name": "bad", "type": "HTTP", "maxRetries": 1, "payload": {"url": peer.url + "/fail"}})
    jobs.wait_status(ok["id"], {"COMPLETED"})
    jobs.wait_status(bad["id"], {"DEAD_LETTER"}, timeout=60)
    records = consume_all(broker, "job.logs", lambda rs: len(rs) >= 3)
    rows = {k["id"]: v for k, v in records}
    assert set(rows) == {"%d-1" % ok["id"], "%d-1" % bad["id"], "%d-2" % bad["id"]}, rows
    done = rows["%d-1" % ok["id"]]
    # the envelope the connect sinks read, so a clickhouse-sink can store it as table job_logs
    assert done["op"] == "c" and done["source"]["table"] == "job_logs" and done["before"] is None
    a = done["after"]
    assert (a["job_id"], a["attempt"], a["worker_id"], a["type"], a["queue"], a["status"]) == \
        (ok["id"], 1, "w1", "HTTP", "lq", "COMPLETED")
    assert json.loads(a["output"])["status"] == 200 and a["error"] is None
    assert a["ended_ms"] >= a["started_ms"] and a["duration_ms"] == a["ended_ms"] - a["started_ms"]
    failed = [rows["%d-%d" % (bad["id"], n)]["after"] for n in (1, 2)]
    assert [f["status"] for f in failed] == ["FAILED", "FAILED"]
    assert all(f["error"] == "HTTP status 500, expected 2xx" for f in failed)


def test_job_logs_reach_clickhouse_through_the_sink_and_are_searchable(jobs_factory, peer, connect, tmp_path):  # noqa: F811
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    chdir, http_port = tmp_path / "clickhouse", free_port()
    started = subprocess.run([str(fixtures / "clickhouse_start.sh"), str(chdir), str(http_port), str(free_port())],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    ch_url = started.stdout.strip()
    try:
        # a TTL of 1 day, checked every second (logs.ttl_days; ClickHouse 18.16 has no TTL clause)
        jobs = jobs_factory(extra="logs:\n  clickhouse_url: \"%s\"\n  ttl_days: 1\n  ttl_check_s: 1\n" % ch_url)
        jobs.start_worker("w1")
        # before the sink created the table the log is empty, not an error
        first = jobs.submit({"name": "ok", "type": "HTTP", "payload": {"url": peer.url + "/ok"}})
        status, body = jobs.request("GET", "/jobs/%d/logs" % first["id"], user="vera")
        assert status == 200 and body == {"logs": []}, body
        connect.create("job-logs", {"connector.class": "clickhouse-sink", "clickhouse.url": ch_url,
                                    "topics": "job.logs", "table.name.format": "job_logs"})
        bad = jobs.submit({"name": "bad", "type": "HTTP", "maxRetries": 1, "payload": {"url": peer.url + "/fail"}})
        jobs.wait_status(bad["id"], {"DEAD_LETTER"}, timeout=60)

        def logs(jid):
            status, body = jobs.request("GET", "/jobs/%d/logs" % jid, user="vera")
            assert status == 200, body
            return body["logs"]
        wait_until(lambda: len(logs(bad["id"])) == 2 and len(logs(first["id"])) == 1, 60,
                   "the attempts in ClickHouse")
        got = sorted(logs(bad["id"]), key=lambda r: r["attempt"])
        assert [(r["attempt"], r["status"], r["workerId"]) for r in got] == [(1, "FAILED", "w1"), (2, "FAILED", "w1")]
        assert got[0]["error"] == "HTTP status 500, expected 2xx" and got[0]["jobId"] == bad["id"]
        assert logs(first["id"])[0]["status"] == "COMPLETED"
        # search: by text in the error (case-insensitive), by status; a quote cannot break out
        status, body = jobs.request("POST", "/logs/search", {"text": "STATUS 500"}, user="vera")
        assert status == 200 and {r["jobId"] for r in body["logs"]} == {bad["id"]}, body
        status, body = jobs.request("POST", "/logs/search", {"status": "COMPLETED", "limit": 5}, user="vera")
        assert status == 200 and [r["jobId"] for r in body["logs"]] == [first["id"]], body
        status, body = jobs.request("POST", "/logs/search", {"text": "x' OR 1=1 OR '"}, user="vera")
        assert status == 200 and body["logs"] == [], body
        status, body = jobs.request("POST", "/logs/search", {"jobId": "1", "colour": 2, "limit": 0}, user="vera")
        assert status == 400 and {f["field"] for f in body["fields"]} == {"jobId", "colour", "limit"}, body
        assert jobs.request("POST", "/logs/search", {}, token="nope")[0] == 401
        # `ctl job logs` prints the same records, read through the API
        ctl = subprocess.run([jobs.binary, "ctl", "job", "logs", str(bad["id"]), "--token", jobs.token("vera")],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, STREAMBUS_JOBS_URL=jobs.url.replace("/api/v1", "")))
        lines = ctl.stdout.splitlines()
        assert ctl.returncode == 0 and len(lines) == 2, (ctl.stdout, ctl.stderr)
        assert all(" FAILED worker w1 " in l and l.endswith(": HTTP status 500, expected 2xx") for l in lines), lines
        assert {l.split(" attempt ")[1].split()[0] for l in lines} == {"1", "2"}

        # TTL: a row that ended 2 days ago is deleted, one from 23 hours ago and today's stay
        def ch(q):
            with urllib.request.urlopen(urllib.request.Request(ch_url + "/", data=q.encode()), timeout=10) as r:
                return r.read().decode().strip()
        now_ms = int(time.time() * 1000)
        ch("INSERT INTO job_logs (id, job_id, attempt, status, worker_id, type, queue, started_ms, ended_ms,"
           " duration_ms, __version, __deleted) VALUES ('900001-1', 900001, 1, 'COMPLETED', 'old', 'HTTP', 'default',"
           " %d, %d, 0, 1, 0), ('900002-1', 900002, 1, 'COMPLETED', 'recent', 'HTTP', 'default', %d, %d, 0, 1, 0)"
           % ((now_ms - 2 * 86400000,) * 2 + (now_ms - 23 * 3600000,) * 2))
        assert len(logs(900001)) == 1 and len(logs(900002)) == 1
        wait_until(lambda: logs(900001) == [], 30, "the 2-day-old job log row to expire")
        assert len(logs(900002)) == 1 and len(logs(bad["id"])) == 2 and len(logs(first["id"])) == 1
    finally:
        subprocess.run([str(fixtures / "clickhouse_stop.sh"), str(chdir)], capture_output=True, timeout=60)


def test_job_logs_without_a_log_store_are_a_clear_503(jobs_factory):
    jobs = jobs_factory()
    status, body = jobs.request("POST", "/logs/search", {"text": "x"}, user="vera")
    assert status == 503 and "logs.clickhouse_url" in body["message"]


def test_sigterm_stops_a_worker_mid_job_and_hands_the_attempt_back(jobs_factory, peer):
    # Found when a test's HTTP peer stopped answering: the worker waited for the job's 300 s
    # timeout before it honoured SIGTERM. It now stops the work and records the attempt FAILED,
    # so the job is retried (here by a second worker) instead of hanging the shutdown.
    jobs = jobs_factory()
    w1 = jobs.start_worker("w1")
    job = jobs.submit({"name": "long", "type": "HTTP", "maxRetries": 2, "payload": {"url": peer.url + "/slow?ms=60000"}})
    jobs.wait_status(job["id"], {"RUNNING"}, timeout=60)
    w1.send_signal(signal.SIGTERM)
    w1.wait(timeout=15)
    failed = jobs.wait_status(job["id"], {"RETRYING", "QUEUED"}, timeout=30)
    tr = [(a["attempt"], a["to"], a["workerId"], a["error"]) for a in failed["attempts"]]
    assert (1, "FAILED", "w1", "worker w1 stopped during the attempt") in tr, tr
    status, body = jobs.request("POST", "/jobs/%d/cancel" % job["id"], user="otto")
    assert status == 200
