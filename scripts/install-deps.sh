#!/usr/bin/env bash
# Installs the Debian 12 packages StreamBus needs to build, run, test and benchmark.
# Idempotent: only missing packages are installed, so a second run is a no-op.
# Usage: scripts/install-deps.sh [build|run|test|bench]   (default: test, which implies build)
set -euo pipefail

profile=${1:-test}

build_pkgs=(build-essential cmake pkg-config
  librdkafka-dev libmicrohttpd-dev libjansson-dev libyaml-dev libcmocka-dev
  zlib1g-dev liblz4-dev libzstd-dev libsnappy-dev libssl-dev libpq-dev libcurl4-openssl-dev)
run_pkgs=(kcat postgresql-15 postgresql-client-15)
test_pkgs=(kcat python3 python3-pytest python3-confluent-kafka python3-kafka
  prometheus clang libclang-rt-14-dev postgresql-15 postgresql-client-15 clickhouse-server)
bench_pkgs=(redis-server nats-server libnats-dev)

case "$profile" in
  build) want=("${build_pkgs[@]}") ;;
  run) want=("${build_pkgs[@]}" "${run_pkgs[@]}") ;;
  test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "install-deps: unknown profile '$profile' (expected build, run, test or bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from Debian or be preinstalled elsewhere; only ask apt when there is none.
if [ "$profile" = test ] || [ "$profile" = bench ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root or install them yourself" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kafkajs is a test-only client from npm; it lives under tests/ and is never committed.
if [ "$profile" = test ] || [ "$profile" = bench ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -d "$here/tests/integration/node_modules/kafkajs" ]; then
    (cd "$here/tests/integration" && npm install --silent --no-audit --no-fund kafkajs@2 >/dev/null)
  fi
fi
