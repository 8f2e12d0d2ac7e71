#!/usr/bin/env bash
# The project's test command (README and .ci/run call it):
#
#   1. starts its own real test servers with scripts/servers.sh (FerretDB for
#      the MongoDB wire protocol, Neo4j Community 5.26), in a state dir of its
#      own, while cargo compiles the tests;
#   2. runs every test of the workspace (all targets, then doc tests) with the
#      servers' SWIFTBOX_* environment;
#   3. runs the HTTP API's end-to-end tests once more on the in-memory stores, fuzzes
#      that in-memory service against its OpenAPI document (scripts/fuzz-api.sh), and drives
#      its operator dashboard in headless Chromium (scripts/browser.sh);
#   4. always stops the servers it started, also when tests fail or it is
#      interrupted, and exits with the tests' status.
#
# To run against servers of your own instead (a real MongoDB, a Neo4j
# cluster), export both SWIFTBOX_MONGO_URI and SWIFTBOX_NEO4J_URI (plus
# SWIFTBOX_NEO4J_USER / SWIFTBOX_NEO4J_PASSWORD) first: then no server is
# started. With only one of them set, the other server is started and the one
# you set is kept. See docs/TESTING.md.
#
# Extra arguments go to both cargo test runs' test binaries, e.g.
#   scripts/test.sh --nocapture
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'test.sh: %s\n' "$*" >&2; }

# In CI: no colours, no progress bars, full backtraces on failure, and no incremental build
# caches (a clean checkout builds once; the caches only cost disk: 26 GB in a working
# checkout here, and a full disk took the test Neo4j down in one CI run).
if [[ -n "${CI:-}" ]]; then
  export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
  export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
fi

# Not --locked: a Cargo.lock that lags a manifest should not fail every run.
CARGO_FLAGS=(--workspace)

servers_started=0
state_dir=""
exports_file=""
servers_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$servers_pid" ]]; then
    wait "$servers_pid" 2>/dev/null || true
  fi
  if ((servers_started)); then
    log "stopping the test servers"
    SWIFTBOX_STATE_DIR="$state_dir" bash scripts/servers.sh stop || log "warning: stopping the servers failed"
  fi
  [[ -n "$exports_file" ]] && rm -f "$exports_file"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "${SWIFTBOX_MONGO_URI:-}" && -n "${SWIFTBOX_NEO4J_URI:-}" ]]; then
  log "using the servers from SWIFTBOX_MONGO_URI and SWIFTBOX_NEO4J_URI (none started)"
else
  # A state dir of this run's own: parallel runs on one checkout never stop
  # each other's servers.
  state_dir="$(mktemp -d "${TMPDIR:-/tmp}/swiftbox-test-servers.XXXXXX")"
  exports_file="$(mktemp "${TMPDIR:-/tmp}/swiftbox-test-exports.XXXXXX")"
  servers_started=1
  log "starting the test servers in the background (state: $state_dir)"
  SWIFTBOX_STATE_DIR="$state_dir" bash scripts/servers.sh start >"$exports_file" &
  servers_pid=$!
fi

log "building the tests"
build_start=$SECONDS
cargo test "${CARGO_FLAGS[@]}" --all-targets --no-run
build_rc=$?
log "build took $((SECONDS - build_start)) s"

if [[ -n "$servers_pid" ]]; then
  wait "$servers_pid"
  servers_rc=$?
  servers_pid=""
  if ((servers_rc != 0)); then
    log "error: the test servers did not start (see above)"
    exit "$servers_rc"
  fi
  # Keep whichever of the variables the caller had set.
  keep_mongo="${SWIFTBOX_MONGO_URI:-}"
  keep_neo4j="${SWIFTBOX_NEO4J_URI:-}"
  keep_user="${SWIFTBOX_NEO4J_USER:-}"
  keep_password="${SWIFTBOX_NEO4J_PASSWORD:-}"
  # shellcheck disable=SC1090
  source "$exports_file"
  if [[ -n "$keep_mongo" ]]; then export SWIFTBOX_MONGO_URI="$keep_mongo"; fi
  if [[ -n "$keep_neo4j" ]]; then
    export SWIFTBOX_NEO4J_URI="$keep_neo4j" SWIFTBOX_NEO4J_USER="$keep_user" SWIFTBOX_NEO4J_PASSWORD="$keep_password"
  fi
  log "servers: mongo at $SWIFTBOX_MONGO_URI, neo4j at $SWIFTBOX_NEO4J_URI (user $SWIFTBOX_NEO4J_USER)"
fi

((build_rc == 0)) || { log "error: the tests did not build"; exit "$build_rc"; }

log "running cargo test --all-targets"
cargo test "${CARGO_FLAGS[@]}" --all-targets --no-fail-fast -- "$@"
tests_rc=$?

log "running doc tests"
cargo test "${CARGO_FLAGS[@]}" --doc --no-fail-fast -- "$@"
doc_rc=$?

# The HTTP API's end-to-end tests pick their stores from the environment: above they ran on
# the real servers; run them once more on the in-memory default, the mode a newcomer starts in.
log "running the API end-to-end tests on the in-memory default"
env -u SWIFTBOX_MONGO_URI -u SWIFTBOX_NEO4J_URI \
  cargo test -p swiftbox-api-example --test e2e --no-fail-fast -- "$@"
memory_rc=$?

# The same in-memory service fuzzed against its own OpenAPI document (schemathesis, bounded
# examples and time; see the script's header).
log "fuzzing the in-memory API against its OpenAPI document (scripts/fuzz-api.sh)"
bash scripts/fuzz-api.sh
fuzz_rc=$?

# The operator dashboard (/admin/) end to end in headless Chromium, on the in-memory demo service
# (installs Debian's chromium and a pinned playwright-core when missing; see the script's header).
log "testing the operator dashboard in headless Chromium (scripts/browser.sh)"
bash scripts/browser.sh
browser_rc=$?

log "tests exit status $tests_rc, doc tests $doc_rc, in-memory API tests $memory_rc, API fuzzing $fuzz_rc, dashboard in the browser $browser_rc"
((tests_rc != 0)) && exit "$tests_rc"
((doc_rc != 0)) && exit "$doc_rc"
((memory_rc != 0)) && exit "$memory_rc"
((fuzz_rc != 0)) && exit "$fuzz_rc"
exit "$browser_rc"
