#!/usr/bin/env bash
# The operator dashboard's end-to-end test in headless Chromium (scripts/browser/dashboard.test.mjs):
#
#   1. installs Debian's `chromium` with apt-get when it is missing (the only browser used: no
#      browser download of Playwright's own);
#   2. installs `playwright-core`, pinned with its integrity hash (scripts/browser/package.json and
#      package-lock.json; it has no dependencies and downloads nothing itself), with `npm ci` into a
#      directory of its own under the cache dir (once; a new pin or node makes a new one);
#   3. builds the dashboard demo (examples/api/examples/dashboard_demo.rs: the service on in-memory
#      stores whose graph fails on command, with a demo shop);
#   4. runs the test with node's test runner; the test starts the demo itself (random administrator
#      password, a port the OS picks), drives the page, stops the demo, and saves a screenshot to
#      target/dashboard.png (SWIFTBOX_SCREENSHOT).
#
# Environment (all optional):
#   SWIFTBOX_CACHE_DIR        where playwright-core lives (default ${XDG_CACHE_HOME:-~/.cache}/swiftbox)
#   SWIFTBOX_CHROMIUM         the browser (default: chromium on PATH, installed when missing)
#   SWIFTBOX_SCREENSHOT       where the screenshot goes (default <target dir>/dashboard.png)
#   SWIFTBOX_BROWSER_WAIT_MS  bound on each wait for the page, in ms (default 60000)
#   SWIFTBOX_BROWSER_SECS     bound on the whole test run, in seconds (default 600)
#   CARGO_TARGET_DIR, CARGO_BUILD_JOBS  as for cargo
#
# Usage: scripts/browser.sh   (scripts/test.sh runs it after the API fuzzing; about 30 s once
# installed and built, plus the first install of chromium)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$ROOT/scripts/browser"
CACHE_DIR="${SWIFTBOX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftbox}"
TIME_LIMIT="${SWIFTBOX_BROWSER_SECS:-600}"

log() { printf 'browser.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib/cached-install.sh
source "$ROOT/scripts/lib/cached-install.sh"

[[ "$TIME_LIMIT" =~ ^[1-9][0-9]*$ ]] || die "SWIFTBOX_BROWSER_SECS must be a positive whole number"

# --- chromium and node, from Debian when missing ------------------------------------

apt_install() {
  local sudo=""
  command -v apt-get >/dev/null || die "$* missing, and there is no apt-get to install them"
  ((EUID == 0)) || sudo="sudo"
  log "installing Debian's $* (first run only)..."
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed"
}

CHROMIUM="${SWIFTBOX_CHROMIUM:-$(command -v chromium || true)}"
if [[ -z "$CHROMIUM" ]]; then
  apt_install chromium
  CHROMIUM="$(command -v chromium)" || die "chromium is still not on PATH"
fi
[[ -x "$CHROMIUM" ]] || die "no browser at $CHROMIUM"
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "node $node_major is too old: playwright-core needs node 20 or later"

# The directory's name carries a hash of the pins and of node, so a change makes a new one;
# it is built in place and marked `ok` when complete (scripts/lib/cached-install.sh).
modules_dir() {
  local key
  key="$({ cat "$BROWSER_DIR/package.json" "$BROWSER_DIR/package-lock.json"; node --version; } | sha256sum | cut -c1-16)"
  printf '%s/playwright-core-%s\n' "$CACHE_DIR" "$key"
}

# Into an empty `$1`. --ignore-scripts: nothing of the package runs at install (and it
# downloads no browser).
install_modules() {
  local dir=$1
  mkdir -p "$dir"
  cp "$BROWSER_DIR/package.json" "$BROWSER_DIR/package-lock.json" "$dir/"
  if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >"$dir/install.log" 2>&1); then
    cat "$dir/install.log" >&2
    die "npm could not install scripts/browser/package-lock.json (log above)"
  fi
}

MODULES="$(modules_dir)"
cached_install "$MODULES" browser-modules playwright-core install_modules

# --- the demo service --------------------------------------------------------------

log "building the dashboard demo"
DEMO_BIN="$(example_binary example dashboard_demo)"
TARGET_DIR="${DEMO_BIN%/debug/examples/dashboard_demo}"

# --- the test ----------------------------------------------------------------------

screenshot="${SWIFTBOX_SCREENSHOT:-$TARGET_DIR/dashboard.png}"
log "running the dashboard test in $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
status=0
# The test file is run from the modules' directory so `import "playwright-core"` resolves there
# (no node_modules in the repository).
cp "$BROWSER_DIR/dashboard.test.mjs" "$MODULES/dashboard.test.mjs"
SWIFTBOX_DEMO_BIN="$DEMO_BIN" SWIFTBOX_CHROMIUM="$CHROMIUM" SWIFTBOX_SCREENSHOT="$screenshot" \
  timeout --kill-after=10 "$TIME_LIMIT" \
  node --test --test-reporter=spec "$MODULES/dashboard.test.mjs" || status=$?
((status == 124)) && log "error: the test ran past ${TIME_LIMIT} s (SWIFTBOX_BROWSER_SECS)"
if ((status == 0)); then
  log "passed; screenshot: $screenshot"
else
  log "failed (status $status)"
fi
exit "$status"
