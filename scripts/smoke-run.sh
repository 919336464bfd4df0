#!/usr/bin/env bash
# Smoke test of the quick start's first command, as a new user would try it:
#   starts `make run` in the background, waits until the broker's and connect's /health/ready
#   answer 200 and the demo pipeline has carried rows into target.orders (and keeps carrying
#   them), then stops it with Ctrl-C (SIGINT) and checks that nothing it started is left running.
# Usage: scripts/smoke-run.sh [TIMEOUT_SECONDS]   (default 900: a fresh machine installs and builds first)
# Exit status 0 when all of that held; otherwise 1 with the reason and the tail of make run's output.
set -euo pipefail
cd "$(dirname "$0")/.."
timeout=${1:-900}
log=$(mktemp /tmp/streambus-smoke-run.XXXXXX)
psql_cmd=(/usr/lib/postgresql/15/bin/psql "host=127.0.0.1 port=5433 user=postgres dbname=postgres" -Atc)

fail() {
  echo "smoke-run: FAILED: $*" >&2
  echo "smoke-run: last lines of make run's output ($log):" >&2
  tail -n 40 "$log" | sed 's/^/  | /' >&2
  [ -n "${pid:-}" ] && kill -INT -- "-$pid" 2>/dev/null
  exit 1
}

http_ok() {
  # No curl assumed: bash's /dev/tcp is enough for a GET on loopback.
  local port=$1 path=$2 status
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  IFS= read -r -t 5 status <&3 || status=
  exec 3>&-
  [[ "$status" == *" 200 "* ]]
}

# The commands of the processes in session $1 (no procps assumed on a fresh machine).
session_members() {
  local stat rest
  for stat in /proc/[0-9]*/stat; do
    { read -r stat_line <"$stat"; } 2>/dev/null || continue
    rest=${stat_line##*) }
    # After the command: state ppid pgrp session ...
    read -r _ _ _ session _ <<<"$rest"
    [ "$session" = "$1" ] && printf '%s ' "$(cat "${stat%/stat}/comm" 2>/dev/null)"
  done
  return 0
}

orders() { "${psql_cmd[@]}" 'SELECT count(*) FROM target.orders' 2>/dev/null || echo 0; }

# A session of its own, so Ctrl-C can be delivered to make and everything below it as a terminal would.
setsid make run >"$log" 2>&1 </dev/null &
pid=$!
start=$(date +%s)
deadline=$((start + timeout))
ready=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  kill -0 "$pid" 2>/dev/null || fail "make run exited before the stack was ready"
  if http_ok 8080 /health/ready && http_ok 8083 /health/ready && [ "$(orders)" -gt 0 ]; then
    ready=1
    break
  fi
  sleep 2
done
[ "$ready" = 1 ] || fail "not ready within ${timeout} s (broker :8080 and connect :8083 /health/ready, rows in target.orders)"
first=$(orders)
echo "smoke-run: ready after $(($(date +%s) - start)) s; target.orders has $first rows"
sleep 5
second=$(orders)
[ "$second" -gt "$first" ] || fail "the demo pipeline stopped: target.orders stayed at $first rows for 5 s"
echo "smoke-run: the demo pipeline is flowing ($first -> $second rows in 5 s)"

kill -INT -- "-$pid"
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
kill -0 "$pid" 2>/dev/null && fail "make run did not stop within 60 s of Ctrl-C"
left=$(session_members "$pid")
[ -z "$left" ] || fail "processes left running after Ctrl-C: $left"
if http_ok 8080 /health/live || http_ok 8083 /health/live || (exec 3<>/dev/tcp/127.0.0.1/5433) 2>/dev/null; then
  fail "a port of the stack still answers after Ctrl-C"
fi
echo "smoke-run: stopped cleanly with Ctrl-C"
rm -f "$log"
