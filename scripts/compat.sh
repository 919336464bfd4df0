#!/usr/bin/env bash
# librdkafka's own test suite against our broker (`make compat`; docs/compatibility.md).
#
# 1. Fetches the source of the installed librdkafka with `apt-get source`, after adding a deb-src
#    twin of the configured Debian sources (tests/compat/debsrc.py) when there is none.
# 2. Applies tests/compat/patches/ (fixes to the suite's own test programs, each with its origin),
#    then builds the library and its test-runner once; both are cached under build/compat/.
# 3. Runs tests/compat/run.py: our broker on free ports, the suite minus tests/compat/skip.txt.
#
# Environment:
#   STREAMBUS_BIN          broker binary (default build/release/streambus)
#   COMPAT_TESTS="0001 0030"  run only these tests (default: tests/compat/fast.txt, or all with
#   COMPAT_FULL=1          the whole suite)
#   COMPAT_SECURITY=1      over SASL_SSL: tests/compat/security.txt through tests/compat/run_security.py
#   COMPAT_KAFKA_VERSION   TEST_KAFKA_VERSION given to the suite (default in run.py)
#   COMPAT_CACHE           where source and build live (default build/compat)
#   COMPAT_OUT             logs and results of this run (default $COMPAT_CACHE/last-run)
#   JOBS                   parallel make jobs for the one-time build (default nproc)
#   COMPAT_BUILD_ONLY=1    fetch and build (when not cached), run nothing: CTest's compat/build
#
# Exit status: 0 all run tests passed; 1 a test failed or something could not be done;
# 77 (CTest's SKIP_RETURN_CODE) only when the source cannot be fetched because there is no
# network and CI is not set. In CI a missing network is a failure like any other.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${COMPAT_CACHE:-$root/build/compat}
jobs=${JOBS:-$(nproc)}
export STREAMBUS_BIN=${STREAMBUS_BIN:-$root/build/release/streambus}
deb_src_file=/etc/apt/sources.list.d/streambus-deb-src.sources
# GSSAPI (Kerberos) needs a KDC to test anything; SASL/SSL tests are on the skip list anyway.
configure_flags=(--disable-gssapi)

say() { echo "compat: $*" >&2; }
die() { say "$*"; exit 1; }

in_ci() { case "${CI:-}" in true | 1 | yes) return 0 ;; *) return 1 ;; esac; }

# True when the Debian archive named by the deb-src entries answers on TCP. Decides whether a
# failed download means "no network" (skip outside CI) or a real fault (always a failure).
archive_reachable() {
  local uri host port
  uri=$(grep -h -m1 '^URIs:' "$deb_src_file" 2>/dev/null | awk '{print $2}')
  uri=${uri:-http://deb.debian.org/debian}
  host=$(echo "$uri" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
  port=80
  case "$uri" in https://*) port=443 ;; esac
  timeout 10 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# Called when a download step failed; $* names the step.
fetch_failed() {
  if ! archive_reachable; then
    if in_ci; then
      die "$* failed: no network (CI is set, so this is a failure)"
    fi
    say "SKIP: $* failed and the Debian archive is unreachable (no network?)"
    exit 77
  fi
  die "$* failed although the Debian archive answers"
}

[ -x "$STREAMBUS_BIN" ] || die "broker binary $STREAMBUS_BIN is missing: build it first (make build) or set STREAMBUS_BIN"
STREAMBUS_BIN=$(realpath "$STREAMBUS_BIN")

# CTest runs this without `make compat`'s deps-compat step; installing is a no-op when all is there.
"$root/scripts/install-deps.sh" compat >&2 || fetch_failed "installing the compat packages (scripts/install-deps.sh compat)"

# The suite must match the library every other client test uses, so take its exact version.
src_pkg=$(dpkg-query -W -f='${source:Package}' librdkafka1 2>/dev/null) ||
  die "librdkafka1 is not installed: run scripts/install-deps.sh compat"
src_ver=$(dpkg-query -W -f='${source:Version}' librdkafka1)
tree=$cache/$src_pkg-$src_ver
stamp=$tree/.streambus-built
runner=$tree/tests/test-runner
mkdir -p "$cache"
patches=("$root"/tests/compat/patches/*.patch)
# The stamp names what the cached build was made with: a changed flag or patch rebuilds it.
build_id="${configure_flags[*]} $(cat "${patches[@]}" | sha256sum | cut -c1-16)"

# Applies each patch unless the tree already has it (a cached tree patched by an earlier run).
apply_patches() {
  local p
  for p in "${patches[@]}"; do
    if patch -d "$tree" -p1 -R -f -s --dry-run <"$p" >/dev/null 2>&1; then continue; fi
    say "patching the test programs: $(basename "$p")"
    patch -d "$tree" -p1 -f -s <"$p" >&2 || die "$p does not apply to $tree"
  done
}

# make compat and CTest may share the cache: one builder at a time.
exec 9>"$cache/.lock"
flock 9

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$build_id" ] || [ ! -x "$runner" ]; then
  if [ ! -f "$tree/tests/test.c" ]; then
    dl=$cache/download
    rm -rf "$dl" "$tree"
    mkdir -p "$dl"
    if ! apt-cache showsrc "$src_pkg" 2>/dev/null | grep -q "^Version: $src_ver\$"; then
      [ "$(id -u)" -eq 0 ] || die "no deb-src entry for $src_pkg $src_ver; as root this script adds $deb_src_file"
      if [ ! -f "$deb_src_file" ]; then
        say "adding $deb_src_file (deb-src twin of the configured Debian sources)"
        /usr/bin/python3 "$root/tests/compat/debsrc.py" "$deb_src_file" >&2
      fi
      # Refresh only the deb-src file's indexes: leaves the other lists as they are and is quick.
      apt-get update -qq -o Dir::Etc::sourcelist="$deb_src_file" -o Dir::Etc::sourceparts=- \
        -o APT::Get::List-Cleanup=0 -o DPkg::Lock::Timeout=300 >&2 || fetch_failed "apt-get update of $deb_src_file"
    fi
    say "fetching $src_pkg $src_ver source"
    # APT verifies the downloaded files against the signed Sources index.
    (cd "$dl" && apt-get source -qq --download-only -o APT::Sandbox::User=root "$src_pkg=$src_ver" >&2) ||
      fetch_failed "fetching the source (apt-get source $src_pkg=$src_ver)"
    dpkg-source -x "$dl"/*.dsc "$tree" >/dev/null || die "dpkg-source -x failed in $dl"
  fi
  apply_patches
  say "building $src_pkg $src_ver and its test-runner (once; cached in $tree)"
  start=$(date +%s)
  (
    cd "$tree"
    ./configure "${configure_flags[@]}" >"$cache/build.log" 2>&1
    make -j"$jobs" libs >>"$cache/build.log" 2>&1
    make -C tests -j"$jobs" build >>"$cache/build.log" 2>&1
  ) || die "build failed; the log is $cache/build.log (tail follows)$(echo; tail -20 "$cache/build.log")"
  echo "$build_id" >"$stamp"
  say "built in $(($(date +%s) - start)) s"
fi
flock -u 9
if [ "${COMPAT_BUILD_ONLY:-}" = 1 ]; then
  say "test-runner ready: $runner"
  exit 0
fi

# COMPAT_SECURITY=1: the same harness over SASL_SSL (tests/compat/run_security.py, security.txt).
runner_py=run.py
[ "${COMPAT_SECURITY:-}" = 1 ] && runner_py=run_security.py
exec /usr/bin/python3 "$root/tests/compat/$runner_py" --source "$tree" --out "${COMPAT_OUT:-$cache/last-run}"
