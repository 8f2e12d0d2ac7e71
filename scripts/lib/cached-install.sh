# Sourced by scripts/fuzz-api.sh and scripts/browser.sh: `example_binary` (below), and a tool
# installed once into a directory
# of its own under the cache dir (a virtual environment, node modules), whose name ends in
# `-<hash of the pins>`, so a new pin makes a new directory.
#
#   cached_install DIR LOCK WHAT COMMAND...
#
# runs `COMMAND... DIR` unless DIR is marked complete (a file `ok` in it), under the lock
# `<cache dir>/locks/LOCK.lock` (two runs on one machine never install at once), marks DIR
# complete, and removes the directories of older pins (DIR's name with another hash) while it
# holds the lock. The caller defines `log` and `die`; COMMAND exits non-zero (or calls `die`)
# when the install fails.

cached_install() {
  local dir=$1 lock=$2 what=$3 cache old
  shift 3
  cache="$(dirname "$dir")"
  mkdir -p "$cache/locks"
  exec 8>"$cache/locks/$lock.lock"
  flock -w 600 8 || die "another run holds $cache/locks/$lock.lock"
  if [[ ! -f "$dir/ok" ]]; then
    log "installing $what into $dir (first run only)..."
    rm -rf "$dir"
    "$@" "$dir" || die "installing $what failed"
    touch "$dir/ok"
    # Directories of older pins, unless one is in use right now (we hold the lock).
    for old in "${dir%-*}"-*; do
      [[ -d "$old" && "$old" != "$dir" ]] && rm -rf "$old"
    done
  fi
  exec 8>&-
}

# Builds the example API crate's `KIND` target `NAME` (`--bin api`, `--example dashboard_demo`)
# and prints the path of its debug binary (in cargo's own target directory, wherever
# CARGO_TARGET_DIR puts it). The caller defines `die`.
example_binary() {
  local kind=$1 name=$2 target sub=""
  cargo build -q -p swiftbox-api-example "--$kind" "$name" >&2 || die "building $name failed"
  target="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  [[ "$kind" == example ]] && sub="examples/"
  [[ -x "$target/debug/$sub$name" ]] || die "no binary at $target/debug/$sub$name"
  printf '%s\n' "$target/debug/$sub$name"
}
