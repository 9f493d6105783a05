#!/usr/bin/env bash
# Runs every test of Stadtpuls on a fresh machine: installs and starts what the tests need
# (the Tansu Kafka-protocol broker), then format, lint, unit, doc and end-to-end tests.
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh
#
# The cargo target dir is shared across clones (CARGO_TARGET_DIR, default
# ~/.cache/stadtpuls-target) so repeated runs only rebuild what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stadtpuls-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export STADTPULS_TEST_BROKERS="${STADTPULS_TEST_BROKERS:-127.0.0.1:9092}"
mkdir -p "$CARGO_TARGET_DIR"
step() { printf '\n==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "toolchain"
cargo --version
rustc --version

# --- native build dependencies: librdkafka is built with TLS against the system OpenSSL --
if ! pkg-config --exists openssl 2>/dev/null; then
  step "installing libssl-dev and pkg-config (Debian)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config
  else sudo apt-get update -qq && sudo apt-get install -y -qq libssl-dev pkg-config; fi
fi

# --- promtool, the judge of the alert rules (Debian's prometheus package) ----------------
if ! command -v promtool >/dev/null 2>&1; then
  step "installing prometheus (Debian) for promtool"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; fi
fi

# --- xmllint: the DATEX II outputs are validated against the official 2.3 schema --------
if ! command -v xmllint >/dev/null 2>&1; then
  step "installing libxml2-utils (Debian: xmllint)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libxml2-utils
  else sudo apt-get update -qq && sudo apt-get install -y -qq libxml2-utils; fi
fi

# --- headless Chromium and chromedriver: tests/e2e_map.rs loads the live map in a browser -----
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  step "installing chromium and chromium-driver (Debian) for the map's browser test"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; fi
fi

# --- npm: scripts/check_web_vendor.sh compares the map's vendored Leaflet with the npm lock ---
if ! command -v npm >/dev/null 2>&1; then
  step "installing npm (Debian) for the check of the map's vendored files"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; fi
fi

# --- the broker the end-to-end tests talk to -------------------------------------------
if ! command -v tansu >/dev/null 2>&1 || ! tansu --version >/dev/null 2>&1; then
  step "installing tansu (once per machine, several minutes)"
  cargo install tansu --locked --features dynostore,libsql
fi
tansu --version

broker_addr="${STADTPULS_TEST_BROKERS%%,*}"
broker_host="${broker_addr%:*}"
broker_port="${broker_addr##*:}"
broker_up() { (exec 3<>"/dev/tcp/$broker_host/$broker_port") 2>/dev/null; }
tansu_pid=""
cleanup() { if [ -n "$tansu_pid" ]; then kill "$tansu_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
if broker_up; then
  echo "reusing the broker on $broker_addr"
else
  step "starting tansu on $broker_addr (memory storage)"
  tansu broker --listener-url "tcp://$broker_addr" --advertised-listener-url "tcp://$broker_addr" \
    >"$CARGO_TARGET_DIR/tansu.log" 2>&1 &
  tansu_pid=$!
  for _ in $(seq 1 100); do broker_up && break; sleep 0.2; done
  broker_up || { echo "tansu did not start; see $CARGO_TARGET_DIR/tansu.log"; exit 1; }
fi

# --- Python readers of the Parquet history (pyarrow, DuckDB), for ingest/tests/history_pipeline.rs,
# the Flight SQL client (ADBC), for tests/sql_doors.rs, ParkAPI's own validators
# (parkapi-sources, the converters ParkAPI runs), for tests/e2e_outputs.rs, and the
# Kubernetes manifest validator, for tests/deploy_files.rs. parkapi-sources 0.24.0 is the
# newest release that installs on Python 3.11 (Debian 12's python3).
venv="${STADTPULS_PYTEST_VENV:-$HOME/.cache/stadtpuls-pytest/venv}"
if ! "$venv/bin/python" -c 'import pyarrow, duckdb, adbc_driver_flightsql.dbapi, parkapi_sources.models, kubernetes_validate' >/dev/null 2>&1; then
  step "creating $venv (pyarrow, duckdb, adbc-driver-flightsql, parkapi-sources, kubernetes-validate from PyPI)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet pyarrow==16.1.0 duckdb==2.0.1 \
    adbc-driver-manager==1.13.0 adbc-driver-flightsql==1.13.0 \
    parkapi-sources==0.24.0 validataclass==0.11.0 kubernetes-validate==1.37.0
fi

# --- checks and tests ----------------------------------------------------------------------
if [ -z "${SKIP_LINT:-}" ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  step "cargo doc (broken or private intra-doc links fail)"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
fi

step "Prometheus config and alert rules: promtool checks, and the alerts' unit tests"
promtool check config deploy/prometheus.yml
promtool check rules deploy/alerts.yml
promtool test rules deploy/alerts.test.yml

step "the live map's vendored front-end files equal the npm lock (api/web)"
scripts/check_web_vendor.sh

step "no import cycles in ingest and processing (between top-level modules and between files)"
python3 scripts/module_cycles.py --known scripts/module_cycles.known ingest/src processing/src

step "processing stays free of I/O crates"
if cargo tree -p stadtpuls-processing -e normal --prefix none --locked | grep -E '^(rdkafka|axum|hyper|reqwest|tokio) ' ; then
  echo "stadtpuls-processing must not depend on I/O crates"; exit 1
fi
step "the library crates do not build the benchmark harness"
if cargo tree -p stadtpuls-processing -p stadtpuls-ingest -p stadtpuls-api -e normal --prefix none --locked | grep -E '^stadtpuls-benches ' ; then
  echo "the benchmark harness (benches/) must stay out of the library crates"; exit 1
fi

# --all-targets also runs every criterion benchmark once (test mode, dev profile): they
# must keep working, while their timings belong to `cargo bench`, not to CI.
# The test binaries run two at a time (STADTPULS_TEST_JOBS), the slow end-to-end ones
# first: most of their time is waiting (a frozen broker, a killed process, a rebalance).
step "cargo test (unit, integration, end-to-end with the broker, benchmarks once)"
python3 scripts/run_tests.py --workspace --all-targets --locked

step "doc tests"
cargo test --workspace --doc --locked

step "all tests passed"
