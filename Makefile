# Front door. Each target installs the Debian packages it needs first (scripts/install-deps.sh
# is idempotent), then builds with CMake. See README.md.
JOBS ?= $(shell nproc)
BUILD ?= build/release
PRESET ?= release
CONFIG ?= config/streambus.yaml

.PHONY: all build run test test-asan compat bench bench-cdc bench-cql bench-jobs fuzz clean format deps

all: build

deps-%:
	@scripts/install-deps.sh $*

build: deps-build
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: deps-run
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target streambus
	@build/release/streambus up $(UP_ARGS)

# In CI (CI=true) warnings are errors.
WERROR := $(if $(filter true 1 yes,$(CI)),ON,OFF)

test: deps-test
	@cmake --preset $(PRESET) -DSTREAMBUS_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The dependency guard (label deps) reads sources and packages, not the build: its answer is
# the same under ASan, so the second pass leaves it out.
test-asan:
	@$(MAKE) test PRESET=asan BUILD=build/asan CTEST_ARGS="-LE deps $(CTEST_ARGS)"

# librdkafka's own test suite against the broker (docs/compatibility.md): the fast subset, or
# all of it with COMPAT_FULL=1, or COMPAT_TESTS="0001 0030". Source and build cached in build/compat.
compat: deps-compat
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target streambus
	@JOBS=$(JOBS) STREAMBUS_BIN=build/release/streambus scripts/compat.sh

bench: deps-bench
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target streambus bench_all
	@bench/compare
	@bench/cdc_compare

# The change-data-capture benchmark alone (broker + connect + PostgreSQL; bench/cdc_compare).
bench-cdc: deps-bench
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target streambus sink_bench
	@bench/cdc_compare

# The job orchestrator (issue 11): no-op jobs next to graphile-worker, pg-boss and BullMQ
# (bench/jobs_compare; the peers are npm-installed into build/jobs_peers), then the API at a fixed
# 1,000 requests/s (bench/jobs_api/paced.py with bench/http_paced).
bench-jobs: deps-bench
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target streambus http_paced
	@bench/jobs_compare
	@bench/jobs_api/paced.py

# The ScyllaDB and Cassandra sources side by side (bench/cql_sources_bench).
bench-cql: deps-bench
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target streambus
	@bench/cql_sources_bench

fuzz: deps-test
	@cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j $(JOBS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
