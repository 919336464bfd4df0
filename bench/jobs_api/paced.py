#!/usr/bin/python3
"""The jobs API at a fixed request rate (issue 11's goal: P99 < 10 ms at 1,000 requests/s).

Starts a throw-away PostgreSQL, a broker, `streambus jobs` and one worker (the integration
harness's classes), submits a base of jobs, then drives two routes with build/release/http_paced,
an open-loop generator: request i is due at start + i/RATE whatever happened before, and its
latency runs from that due time (a stall shows in every request that should have gone out
meanwhile). The first WARMUP seconds are sent but not counted.

  get       GET /api/v1/jobs/{id}  one job with its transitions
  submit    POST /api/v1/jobs      an HTTP job to a closed port, maxRetries 0 (the worker fails it
                                   at once, so the tables grow and the worker works as in real use)
  delayed   POST /api/v1/jobs      the same job with runAt a year ahead: the API and PostgreSQL
                                   only, no dispatch or execution meanwhile
  pg-floor  no API: pgbench runs the API's own INSERT ... RETURNING jobs_json(jobs) (prepared)
            at the same rate from 4 clients, open loop (-R, latency including schedule lag), on
            the same server: what one durable insert costs PostgreSQL here, the floor under submit

PostgreSQL runs with fsync and synchronous_commit on: a submit is on disk when it is answered.

usage: bench/jobs_api/paced.py [--rate 1000] [--seconds 20] [--warmup 2]
                               [--routes get,submit,delayed,pg-floor]
Writes bench/results/jobs_api_paced_latest.txt.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("STREAMBUS_BIN", str(REPO / "build" / "release" / "streambus"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
conftest = importlib.import_module("conftest")
PgServer = importlib.import_module("pg_fixtures").PgServer
Jobs = importlib.import_module("test_jobs").Jobs
PACED = REPO / "build" / "release" / "bench" / "http_paced"

SUBMIT = '{"name":"bench","type":"HTTP","maxRetries":0,"payload":{"url":"http://127.0.0.1:1/"}}'


DELAYED = SUBMIT.replace('"maxRetries":0,', '"maxRetries":0,"runAt":"%s",' %
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 365 * 86400)))
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
# The statement jobs_store_submit prepares (src/jobs/store.c), with the bench job's values.
FLOOR_SQL = ("INSERT INTO jobs (name, type, queue, payload, priority, max_retries, attempt_limit, timeout_s, run_at,"
             " idempotency_key, depends_on, cron, time_zone) VALUES ('bench', 'HTTP', 'default',"
             " '{\"url\":\"http//127.0.0.1/\"}'::jsonb, 0, 0, 1, 60, now() + interval '1 year', NULL, '{}'::bigint[],"
             " NULL, NULL) ON CONFLICT (idempotency_key) DO NOTHING RETURNING jobs_json(jobs);\n")


def pg_floor(conninfo, tmp, rate, seconds, warmup):
    script = tmp / "floor.sql"
    script.write_text(FLOOR_SQL)
    prefix = tmp / "floorlog"
    subprocess.run([PGBENCH, conninfo, "-n", "-M", "prepared", "-f", str(script), "-c", "4", "-j", "2",
                    "-R", str(rate), "-T", str(int(seconds)), "--log", "--log-prefix", str(prefix)],
                   capture_output=True, text=True, timeout=seconds + 60, check=True)
    rows = []
    for f in tmp.glob("floorlog.*"):
        for line in f.read_text().split("\n"):
            p = line.split()
            # client tx latency_us script epoch_s epoch_us lag_us
            if len(p) >= 7:
                rows.append((int(p[4]) + int(p[5]) / 1e6, (int(p[2]) + int(p[6])) / 1000.0))
        f.unlink()
    rows.sort()
    start = rows[0][0]
    lat = sorted(l for t, l in rows if t - start >= warmup)
    q = lambda x: lat[min(len(lat) - 1, int(x * (len(lat) - 1) + 0.5))]
    return {"label": "pg-floor", "target_rate": rate, "achieved_rate": len(rows) / (rows[-1][0] - start),
            "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": lat[-1],
            "non2xx": 0, "failed": 0, "connections": 4}


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def paced(label, url, token, rate, seconds, warmup, method="GET", body=None):
    cmd = [str(PACED), "--url", url, "--label", label, "--rate", str(rate), "--seconds", str(seconds),
           "--warmup", str(warmup), "--method", method, "--header", "Authorization: Bearer " + token]
    if body:
        cmd += ["--body", body]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError("http_paced: %s" % (out.stderr or out.stdout))
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--routes", default="get,submit,delayed,pg-floor")
    args = ap.parse_args()
    binary = conftest.streambus_bin()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    load_before = load()
    rows = []
    with tempfile.TemporaryDirectory(prefix="jobs-paced-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        pg = PgServer(tmp / "pg").start()
        psql = importlib.import_module("pg_fixtures").PSQL
        # Durable like bench/jobs_compare: every submit is on disk when answered.
        for stmt in ("ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
                     "SELECT pg_reload_conf()"):
            subprocess.run([psql, pg.conninfo, "-c", stmt], capture_output=True, check=True)
        broker = conftest.Broker(binary, tmp / "broker")
        broker.start()
        jobs = Jobs(tmp, broker.bootstrap, pg.conninfo)
        try:
            jobs.start()
            jobs.start_worker("w1")
            status, body = jobs.request("POST", "/jobs/batch", {"jobs": [
                {"name": "base%d" % i, "type": "HTTP", "maxRetries": 0, "payload": {"url": "http://127.0.0.1:1/"}}
                for i in range(500)]}, user="otto")
            assert status == 201, body
            some_id = body["jobs"][250]["id"]
            token = jobs.token("ada")
            time.sleep(2)  # the base jobs are dispatched and failed before the clock starts
            for route in args.routes.split(","):
                if route == "get":
                    r = paced("get", "%s/jobs/%d" % (jobs.url, some_id), token, args.rate, args.seconds, args.warmup)
                elif route == "submit":
                    r = paced("submit", jobs.url + "/jobs", token, args.rate, args.seconds, args.warmup, "POST",
                              SUBMIT)
                elif route == "delayed":
                    r = paced("delayed", jobs.url + "/jobs", token, args.rate, args.seconds, args.warmup, "POST",
                              DELAYED)
                else:
                    r = pg_floor(pg.conninfo, tmp, args.rate, args.seconds, args.warmup)
                print(json.dumps(r), flush=True)
                rows.append(r)
            fsync = subprocess.run([psql, pg.conninfo, "-At", "-c",
                                    "SHOW fsync"], capture_output=True, text=True).stdout.strip()
        finally:
            jobs.stop()
            broker.stop()
            pg.stop(remove=True)
    lines = ["jobs API at a fixed rate (open loop, build/release/bench/http_paced), %s, commit %s, %d cores, "
             "load average %s before / %s after; PostgreSQL fsync=%s; %g s per route, first %g s not counted"
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), commit, os.cpu_count(), load_before, load(),
                fsync, args.seconds, args.warmup),
             "route     target/s  achieved/s     P50 ms     P90 ms     P99 ms   P99.9 ms     max ms  non-2xx  failed  conns"]
    for r in rows:
        lines.append("%-8s %9.0f %11.0f %10.2f %10.2f %10.2f %10.2f %10.2f %8d %7d %6d" % (
            r["label"], r["target_rate"], r["achieved_rate"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["p999_ms"],
            r["max_ms"], r["non2xx"], r["failed"], r["connections"]))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "jobs_api_paced_latest.txt").write_text(text)


if __name__ == "__main__":
    main()
