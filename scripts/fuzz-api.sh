#!/usr/bin/env bash
# Fuzzes the example HTTP API (examples/api) against its own OpenAPI document with
# schemathesis (PyPI), on the in-memory service (no servers):
#
#   1. installs schemathesis, pinned with everything it pulls in
#      (scripts/fuzz-api/requirements.txt), into a virtual environment of its own under
#      the cache dir (once; a new pin or Python makes a new one);
#   2. builds and starts the service on 127.0.0.1, port chosen by the OS, with an
#      administrator whose random password only this script and the service know;
#   3. logs in (POST /api/auth/login/) and runs `schemathesis run` on
#      GET /api/openapi.json with that bearer token on every request
#      (scripts/fuzz-api/swiftbox_fuzz_hooks.py), a bounded number of examples per
#      operation, positive and negative data, half of the cases with ids that exist (so
#      success paths are fuzzed too, not only 404s and 422s), under a time bound;
#   4. always stops the service (by pid), and exits non-zero on any finding: a failed
#      check, a request that got no answer, a panic in the service's log, a service
#      that died, or a run past the time bound.
#
# Checks (all must hold for every request schemathesis sends):
#   not_a_server_error           no 5xx at all: also not the documented 503, since no store
#                                can be down in memory and no request should take 30 s
#   status_code_conformance      every status is one the document lists for the operation
#   content_type_conformance     the Content-Type is the one the document gives
#   response_schema_conformance  the body fits the schema the document gives for its status
#   ignored_auth                 an operation that needs a token, sent without one or with a
#                                wrong one, is refused 401
# Left out:
#   response_headers_conformance  the document declares no response headers: nothing to check
#   negative_data_rejection       wants every input outside the document refused, but counts
#                                 unknown query parameters (`?=false`) and unknown headers as
#                                 such, which this API, like most HTTP services, ignores
#                                 (a trial at 10 examples failed on
#                                 `GET /api/admin/set-aside/?=false`, answered 200)
#
# Environment (all optional):
#   SWIFTBOX_CACHE_DIR            where the venv lives (default ${XDG_CACHE_HOME:-~/.cache}/swiftbox)
#   SWIFTBOX_FUZZ_MAX_EXAMPLES    examples per operation (default 100)
#   SWIFTBOX_FUZZ_SECS            bound on the three schemathesis runs together, in seconds (default 600)
#   SWIFTBOX_FUZZ_SEED            Hypothesis seed, to replay a run (default: random, printed)
#   SWIFTBOX_FUZZ_CHECKS          schemathesis checks, comma-separated (default: the five above)
#   CARGO_TARGET_DIR, CARGO_BUILD_JOBS  as for cargo
#
# Usage: scripts/fuzz-api.sh   (scripts/test.sh runs it after the in-memory API tests; about
# a minute with the defaults once installed, 20 s more for the first install)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/scripts/fuzz-api"
CACHE_DIR="${SWIFTBOX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftbox}"
MAX_EXAMPLES="${SWIFTBOX_FUZZ_MAX_EXAMPLES:-100}"
TIME_LIMIT="${SWIFTBOX_FUZZ_SECS:-600}"
SEED="${SWIFTBOX_FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}"
ADMIN_USERNAME=fuzz-admin

log() { printf 'fuzz-api.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib/cached-install.sh
source "$ROOT/scripts/lib/cached-install.sh"

[[ "$MAX_EXAMPLES" =~ ^[1-9][0-9]*$ ]] || die "SWIFTBOX_FUZZ_MAX_EXAMPLES must be a positive whole number"
[[ "$TIME_LIMIT" =~ ^[1-9][0-9]*$ ]] || die "SWIFTBOX_FUZZ_SECS must be a positive whole number"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SWIFTBOX_FUZZ_SEED must be a whole number"
command -v python3 >/dev/null || die "python3 is not installed"

# --- schemathesis, in a venv of its own -------------------------------------------

# The venv's name carries a hash of the pins and of the Python, so a change makes a new
# one; a venv is not relocatable, so it is built in place and marked `ok` when complete.
venv_dir() {
  local key
  key="$({ cat "$FUZZ_DIR/requirements.txt"; python3 --version 2>&1; } | sha256sum | cut -c1-16)"
  printf '%s/schemathesis-venv-%s\n' "$CACHE_DIR" "$key"
}

# Into an empty `$1`.
make_venv() {
  local dir=$1
  python3 -m venv "$dir" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  if ! "$dir/bin/pip" install --disable-pip-version-check --no-input -q \
        -r "$FUZZ_DIR/requirements.txt" >"$dir/install.log" 2>&1; then
    cat "$dir/install.log" >&2
    die "pip could not install scripts/fuzz-api/requirements.txt (log above)"
  fi
}

VENV="$(venv_dir)"
cached_install "$VENV" fuzz-api-venv schemathesis make_venv

# --- the service ------------------------------------------------------------------

log "building the API service"
API_BIN="$(example_binary bin api)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/swiftbox-fuzz-api.XXXXXX")"
service_pid=""

stop_service() {
  [[ -n "$service_pid" ]] || return 0
  if kill -0 "$service_pid" 2>/dev/null; then
    kill -INT "$service_pid" 2>/dev/null || true # Ctrl-C: the service stops cleanly
    for _ in $(seq 1 100); do
      kill -0 "$service_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$service_pid" 2>/dev/null || true
  fi
  wait "$service_pid" 2>/dev/null || true
  service_pid=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_service
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Random, known to this script and the service only (through the environment), never printed.
ADMIN_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

log "starting the in-memory service"
# In-memory stores whatever the caller's environment says; the OS picks the port.
env -u SWIFTBOX_MONGO_URI -u SWIFTBOX_NEO4J_URI \
  SWIFTBOX_ADDR=127.0.0.1:0 \
  SWIFTBOX_ADMIN_USERNAME="$ADMIN_USERNAME" SWIFTBOX_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  RUST_LOG="${RUST_LOG:-info}" \
  "$API_BIN" >"$WORK/service.log" 2>&1 &
service_pid=$!

url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's|^swiftbox api listening on \(http://[0-9.:]*\)$|\1|p' "$WORK/service.log")"
  [[ -n "$url" ]] && break
  kill -0 "$service_pid" 2>/dev/null || { cat "$WORK/service.log" >&2; die "the service exited at start"; }
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$WORK/service.log" >&2; die "the service did not listen within 60 s"; }
log "service at $url (pid $service_pid)"

# Log in as the administrator: the token goes to schemathesis through its environment.
TOKEN="$(SWIFTBOX_FUZZ_URL="$url" SWIFTBOX_FUZZ_USERNAME="$ADMIN_USERNAME" \
  SWIFTBOX_FUZZ_PASSWORD="$ADMIN_PASSWORD" python3 -c '
import json, os, sys, urllib.request
body = json.dumps({"username": os.environ["SWIFTBOX_FUZZ_USERNAME"],
                   "password": os.environ["SWIFTBOX_FUZZ_PASSWORD"]}).encode()
req = urllib.request.Request(os.environ["SWIFTBOX_FUZZ_URL"] + "/api/auth/login/", data=body,
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=60) as answer:
        print(json.load(answer)["token"])
except Exception as e:
    sys.exit(f"log-in failed: {e}")
')" || die "could not log in as $ADMIN_USERNAME"
unset ADMIN_PASSWORD

# --- the fuzzing ------------------------------------------------------------------

# One schemathesis run, within what is left of the time bound, over the operations the
# arguments select (--include-operation-id / --exclude-operation-id), with the common
# options. Its status is the run's (124: out of time).
fuzz() {
  local left=$((deadline - SECONDS))
  ((left > 0)) || return 124
  SWIFTBOX_FUZZ_TOKEN="$TOKEN" SWIFTBOX_FUZZ_URL="$url" SCHEMATHESIS_HOOKS=swiftbox_fuzz_hooks PYTHONPATH="$FUZZ_DIR" \
    timeout --kill-after=10 "$left" \
    "$VENV/bin/schemathesis" run "$url/api/openapi.json" \
      --base-url "$url" \
      --experimental=openapi-3.1 \
      --checks "${SWIFTBOX_FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth}" \
      --data-generation-method all \
      --hypothesis-max-examples "$MAX_EXAMPLES" \
      --hypothesis-seed "$SEED" \
      --hypothesis-database none \
      --hypothesis-deadline 60000 \
      --request-timeout 60000 \
      --sanitize-output true \
      --no-color \
      --debug-output-file "$WORK/events.jsonl" \
      "$@" || return
  # A case that failed once and not when replayed is reported "flaky" (an F in the list) yet
  # leaves the exit status 0: count it as a finding.
  if grep -q '"is_flaky": true' "$WORK/events.jsonl"; then
    log "error: schemathesis saw a flaky failure (an F above): it failed once, not when replayed"
    return 1
  fi
}

log "fuzzing: up to $MAX_EXAMPLES examples per operation, seed $SEED (SWIFTBOX_FUZZ_SEED replays it), at most ${TIME_LIMIT} s"
status=0
deadline=$((SECONDS + TIME_LIMIT)) # for the three runs together
# Three runs, in this order: deleting products would leave the operations after it (reviews,
# views) only ids of deleted products, and log-out revokes the token every request carries.
fuzz --exclude-operation-id delete_product --exclude-operation-id logout || status=$?
if ((status == 0)); then
  fuzz --include-operation-id delete_product || status=$?
fi
if ((status == 0)); then
  fuzz --include-operation-id logout || status=$?
fi
((status == 124)) && log "error: schemathesis ran past ${TIME_LIMIT} s (SWIFTBOX_FUZZ_SECS)"

if ! kill -0 "$service_pid" 2>/dev/null; then
  log "error: the service died during the run; its log:"
  cat "$WORK/service.log" >&2
  status=1
elif grep -q 'panicked' "$WORK/service.log"; then
  log "error: the service panicked; its log:"
  grep -B2 -A10 'panicked' "$WORK/service.log" >&2
  status=1
fi
if ((status == 0)); then
  log "passed: no server error, no answer outside the document, no crash"
else
  log "failed (status $status): see schemathesis's report above (seed $SEED)"
fi
exit "$status"
