#!/usr/bin/env bash
# Installs the Debian 12 packages StreamBus needs to build, run, test and benchmark.
# Idempotent: only missing packages are installed, so a second run is a no-op.
#
# Usage: scripts/install-deps.sh [build|run|test|bench|compat]   (default: test, which implies build)
#        scripts/install-deps.sh --list PROFILE            prints the profile's packages, one a line
#
# Every library, Python module and program that the build, `streambus up`, the tests or the
# benchmarks use must come from a package named here in the right profile (or a package those
# depend on): tests/deps/check_deps.py checks that in the test suite, so a missing install step
# fails on the machine that introduced it rather than on a user's fresh machine.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
  librdkafka-dev libmicrohttpd-dev libjansson-dev libyaml-dev libcmocka-dev
  zlib1g-dev liblz4-dev libzstd-dev libsnappy-dev libssl-dev libpq-dev libcurl4-openssl-dev
  libsodium-dev tzdata)
# tzdata: job cron schedules read their time zone from /usr/share/zoneinfo (and its unit test does).
# `streambus up` runs initdb, pg_ctl and psql; the README's examples use kcat and curl.
run_pkgs=(kcat curl postgresql-15 postgresql-client-15 libsodium23)
# curl: tests/fixtures/clickhouse_start.sh probes ClickHouse's HTTP interface with it.
# sslscan: tests/integration/test_tls.py checks every TLS listener's protocols and ciphers.
# python3-yaml: test_security_deploy.py reads the documented secure config (config/secure/).
test_pkgs=(kcat curl python3 python3-pytest python3-confluent-kafka python3-kafka python3-cassandra
  prometheus clang libclang-rt-14-dev postgresql-15 postgresql-client-15 clickhouse-server
  python3-aiosmtpd python3-yaml testssl.sh sslscan)
bench_pkgs=(redis-server nats-server libnats-dev wrk)
# `make compat` (scripts/compat.sh): dpkg-dev unpacks librdkafka's source (apt-get source), patch
# applies tests/compat/patches/ to it; its test-runner build needs the build profile's compilers and libraries, python3 (lds-gen.py) and
# rapidjson-dev (tests 0053 and 0110 check JSON statistics with it); the openssl program converts
# the client certificate to the encodings 0097 loads (COMPAT_SECURITY=1, run_security.py).
compat_pkgs=(dpkg-dev patch python3 rapidjson-dev openssl)
# Node.js runs the kafkajs tests. It may come from Debian or be preinstalled elsewhere, so these
# are installed only when there is no `node` / `npm` command.
node_pkgs=(nodejs npm)

profile_packages() {
  case "$1" in
    build) echo "${build_pkgs[@]}" ;;
    run) echo "${build_pkgs[@]}" "${run_pkgs[@]}" ;;
    # The suite runs librdkafka's fast subset (compat/librdkafka_fast), so test includes compat.
    test) echo "${build_pkgs[@]}" "${test_pkgs[@]}" "${compat_pkgs[@]}" ;;
    bench) echo "${build_pkgs[@]}" "${test_pkgs[@]}" "${compat_pkgs[@]}" "${bench_pkgs[@]}" ;;
    compat) echo "${build_pkgs[@]}" "${compat_pkgs[@]}" ;;
    *) echo "install-deps: unknown profile '$1' (expected build, run, test, bench or compat)" >&2; return 2 ;;
  esac
}

if [ "${1:-}" = --list ]; then
  [ $# -eq 2 ] || { echo "usage: install-deps.sh --list PROFILE" >&2; exit 2; }
  pkgs=$(profile_packages "$2")
  printf '%s\n' $pkgs
  case "$2" in test | bench) printf '%s\n' "${node_pkgs[@]}" ;; esac
  exit 0
fi

profile=${1:-test}
pkgs=$(profile_packages "$profile")
read -r -a want <<<"$pkgs"

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "$profile" = test ] || [ "$profile" = bench ]; then
  command -v node >/dev/null 2>&1 || missing+=("${node_pkgs[0]}")
  command -v npm >/dev/null 2>&1 || missing+=("${node_pkgs[1]}")
fi

# Runs a command quietly; when it fails, shows what it printed (the last 40 lines) and why, so a
# failed install is never just "make: *** [deps-test] Error 1".
run_logged() {
  local what=$1; shift
  local log
  log=$(mktemp "${TMPDIR:-/tmp}/streambus-install-deps.XXXXXX")
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    rm -f "$log"
    return 0
  fi
  echo "install-deps: $what failed (exit status $rc): $*" >&2
  echo "install-deps: its last lines of output (all of it is in $log):" >&2
  tail -n 40 "$log" | sed 's/^/  | /' >&2
  exit 1
}

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root or install them yourself" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run_logged "apt-get update" apt-get update
  run_logged "installing ${missing[*]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# kafkajs is a test-only client from npm; it lives under tests/ and is never committed.
if [ "$profile" = test ] || [ "$profile" = bench ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -d "$here/tests/integration/node_modules/kafkajs" ]; then
    echo "install-deps: installing kafkajs from npm into tests/integration/node_modules"
    run_logged "npm install kafkajs" \
      env -C "$here/tests/integration" npm install --no-audit --no-fund kafkajs@2
  fi
fi
