#!/usr/bin/env bash
# Installs (once, cached), starts, checks and stops the real servers SwiftBox's
# tests run against, from package registries only:
#
#   - Neo4j Community 5.26 (the embedded DBMS of org.neo4j:neo4j from Maven
#     Central), run by scripts/neo4j-server with a persistent store (Bolt,
#     authentication on, transaction logs kept, crash recovery);
#   - FerretDB 1.24.2 (github.com/FerretDB/FerretDB from the Go module proxy),
#     a MongoDB wire-protocol server, started by scripts/ferretdb, on
#     PostgreSQL (Debian's, run from its own data dir on 127.0.0.1; installed
#     with apt-get when missing) or, with SWIFTBOX_FERRETDB_BACKEND=sqlite, on
#     SQLite files.
#
# Usage:
#   eval "$(scripts/servers.sh start)"   # prints only `export NAME=value` lines
#   scripts/servers.sh status
#   scripts/servers.sh stop
#   scripts/servers.sh ferretdb-bin      # prints the FerretDB launcher's path (builds it once)
#
# `ferretdb-bin` is for tests that run a private FerretDB of their own (one they
# may stop and restart without disturbing the shared one): run it as
# `<path> -listen 127.0.0.1:<port> -data-dir <dir> -uri-file <file>`.
#
#   scripts/servers.sh neo4j-private start <dir>   # one more Neo4j, state in <dir>
#   scripts/servers.sh neo4j-private stop <dir>    # SIGTERM: clean shutdown, data kept
#   scripts/servers.sh neo4j-private kill <dir>    # SIGKILL: a crash, data kept
#   scripts/servers.sh neo4j-private wipe <dir>    # stop, then delete its store
#   scripts/servers.sh neo4j-private freeze <dir>  # SIGSTOP: hangs, answers nothing
#   scripts/servers.sh neo4j-private thaw <dir>    # SIGCONT after freeze
#
# `neo4j-private` is for tests that stop and start a Neo4j of their own (the
# shared one must stay up for everyone else). `start` launches one more Neo4j
# with its own store, pid and log in <dir>, waits until it answers and prints
# its `export SWIFTBOX_NEO4J_*` lines. Started again on the same <dir> (after
# `stop`, or after `kill`, when Neo4j first recovers from its transaction logs),
# it opens the same store and listens on the same port with the same password,
# so a client's URI stays valid and its data is there. `wipe` deletes the store
# (the port and password stay). It never builds Neo4j: when `start` has not
# built it yet, it exits with status 3.
#
# `start` twice is harmless: running servers are reused and the same exports
# printed; a shared Neo4j that died is started again on its store. `stop`
# stops only the processes `start` started (by recorded pid) and removes their
# data. Both servers listen on 127.0.0.1 only.
#
# Environment (all optional):
#   SWIFTBOX_CACHE_DIR      built artifacts (default ${XDG_CACHE_HOME:-~/.cache}/swiftbox)
#   SWIFTBOX_STATE_DIR      pids, logs and data of the running servers
#                           (default ${TMPDIR:-/tmp}/swiftbox-servers-<hash of this checkout>)
#   SWIFTBOX_START_TIMEOUT  seconds to wait for each server to answer (default 300: a
#                           bound for a loaded machine, not an expectation)
#   SWIFTBOX_NEO4J_JVM_OPTS JVM options of Neo4j, replacing the default
#                           `-Xms512m -Xmx2g -XX:+UseParallelGC` (whitespace-separated)
#   SWIFTBOX_NEO4J_CONF     a file of extra Neo4j settings in neo4j.conf's format (e.g.
#                           `dbms.cypher.min_replan_interval=1h`), for experiments
#   SWIFTBOX_FERRETDB_BACKEND  postgresql (default) or sqlite: FerretDB's storage
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
CACHE_DIR="${SWIFTBOX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftbox}"
ROOT_HASH="$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
STATE_DIR="${SWIFTBOX_STATE_DIR:-${TMPDIR:-/tmp}/swiftbox-servers-$ROOT_HASH}"
START_TIMEOUT="${SWIFTBOX_START_TIMEOUT:-300}"
NEO4J_USER=neo4j
FERRETDB_BACKEND="${SWIFTBOX_FERRETDB_BACKEND:-postgresql}"
case "$FERRETDB_BACKEND" in
  postgresql | sqlite) ;;
  *) printf 'servers.sh: error: SWIFTBOX_FERRETDB_BACKEND must be postgresql or sqlite\n' >&2; exit 2 ;;
esac

log() { printf 'servers.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- installing ---------------------------------------------------------------

# A cache key from the files that define a build plus the toolchain's version,
# so editing the launcher or upgrading the toolchain rebuilds.
cache_key() {
  { cat "$@"; "${KEY_TOOL[@]}" 2>&1; } | sha256sum | cut -c1-16
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin"
  else
    dirname "$(readlink -f "$(command -v java)")"
  fi
}

NEO4J_SRC="$SCRIPTS/neo4j-server"
NEO4J_MAIN="$NEO4J_SRC/src/main/java/dev/swiftbox/neo4jserver/Main.java"

neo4j_install_dir() {
  KEY_TOOL=("$(java_bin)/java" -version)
  printf '%s/neo4j-server-%s\n' "$CACHE_DIR" \
    "$(cache_key "$NEO4J_SRC/pom.xml" "$NEO4J_MAIN")"
}

ferretdb_install_dir() {
  local src="$SCRIPTS/ferretdb"
  KEY_TOOL=(go version)
  printf '%s/ferretdb-%s\n' "$CACHE_DIR" "$(cache_key "$src/main.go" "$src/go.mod" "$src/go.sum")"
}

# Removes builds of $1 other than $2 (older launcher sources or toolchains),
# unless a server of ours still runs from one.
prune_cache() {
  local old
  for old in "$CACHE_DIR/$1"-*; do
    [[ -d "$old" && "$old" != "$2" ]] || continue
    if pgrep -f -- "$old/" >/dev/null 2>&1; then continue; fi
    rm -rf "$old"
  done
}

# The JVM options of every Neo4j we run (the install's training run included,
# so its class archive matches). JVM: full tiered JIT (C2), parallel GC and a
# 2 GiB heap, for throughput (the benchmarks and the bigger tests run on this
# server); see docs/TESTING.md for the start-up time this costs.
# SWIFTBOX_NEO4J_JVM_OPTS replaces these options (e.g. the start-up-tuned
# `-Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1`). The --add-opens are those
# of Neo4j's own launcher (the page cache wants direct buffer access).
neo4j_jvm_opts() {
  local -a opts
  read -r -a opts <<<"${SWIFTBOX_NEO4J_JVM_OPTS:--Xms512m -Xmx2g -XX:+UseParallelGC}"
  NEO4J_JVM_OPTS=("${opts[@]}" -XX:+ExitOnOutOfMemoryError
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED)
}

# The install is: lib/ (Neo4j's jars from Maven Central), swiftbox-neo4j-server.jar
# (the launcher), classpath.args (a `-cp` argument file naming every jar in a
# fixed order) and app.jsa, a class-data-sharing archive of the classes a start
# and a first query load, written by a training run of the launcher (so later
# starts skip loading and verifying them: faster, see docs/TESTING.md). Without
# app.jsa (its training run failed) Neo4j runs as well, only slower to start.
install_neo4j() {
  local dir tmp jbin port
  dir="$(neo4j_install_dir)"
  [[ -f "$dir/ok" ]] && return 0
  command -v mvn >/dev/null || die "neo4j: mvn (Maven) is not installed"
  jbin="$(java_bin)"
  "$jbin/java" -version 2>&1 | grep -Eq 'version "(17|21)' \
    || log "warning: Neo4j 5.26 supports Java 17 and 21; found: $("$jbin/java" -version 2>&1 | head -1)"
  tmp="$(mktemp -d "$CACHE_DIR/.neo4j-build.XXXXXX")"
  log "neo4j: resolving org.neo4j:neo4j from Maven Central (first run only)..."
  if ! mvn -B -q -f "$NEO4J_SRC/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    die "neo4j: Maven could not resolve org.neo4j:neo4j (log above)"
  fi
  rm -rf "$NEO4J_SRC/target"  # Maven leaves an empty target/ behind
  log "neo4j: compiling the launcher..."
  "$jbin/javac" --release 17 -d "$tmp/classes" -cp "$tmp/lib/*" "$NEO4J_MAIN" >&2 \
    || die "neo4j: javac failed"
  "$jbin/jar" --create --file "$tmp/swiftbox-neo4j-server.jar" -C "$tmp/classes" . \
    || die "neo4j: jar failed"
  rm -rf "$tmp/classes"
  # Class-data sharing wants jar files only, in the same order at every start.
  { printf -- '-cp '; printf '%s' "$dir/swiftbox-neo4j-server.jar"
    (cd "$tmp/lib" && LC_ALL=C ls -1 -- *.jar) | while read -r jar; do printf ':%s' "$dir/lib/$jar"; done
    printf '\n'; } >"$tmp/classpath.args"
  rm -rf "$dir" && mv "$tmp" "$dir"
  log "neo4j: training run for the class archive (first run only)..."
  neo4j_jvm_opts
  port="$(free_port)"
  # Bounded (a hung training run must not hang `start`): under load it takes ~40 s.
  if SWIFTBOX_NEO4J_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
      timeout 300 "$jbin/java" "${NEO4J_JVM_OPTS[@]}" -XX:ArchiveClassesAtExit="$dir/app.jsa.tmp" \
        "@$dir/classpath.args" dev.swiftbox.neo4jserver.Main --train \
        "$dir/train" "$port" "$dir/train.uri" </dev/null >"$dir/train.log" 2>&1 \
      && [[ -s "$dir/app.jsa.tmp" ]]; then
    mv "$dir/app.jsa.tmp" "$dir/app.jsa"
    rm -rf "$dir/train" "$dir/train.log"
  else
    rm -rf "$dir/app.jsa.tmp" "$dir/train"
    log "warning: neo4j: the training run failed (log: $dir/train.log); starting without a class archive"
  fi
  touch "$dir/ok"
  prune_cache neo4j-server "$dir"
  log "neo4j: installed in $dir"
}

install_ferretdb() {
  local dir src tmp
  dir="$(ferretdb_install_dir)"
  [[ -x "$dir/swiftbox-ferretdb" ]] && return 0
  command -v go >/dev/null || die "ferretdb: go is not installed"
  src="$SCRIPTS/ferretdb"
  tmp="$(mktemp -d "$CACHE_DIR/.ferretdb-build.XXXXXX")"
  log "ferretdb: building FerretDB from the Go module proxy (first run only, about a minute)..."
  # GOTOOLCHAIN=local: use the installed Go, never download a toolchain.
  if ! (cd "$src" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
          go build -trimpath -o "$tmp/swiftbox-ferretdb" .) >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    die "ferretdb: go build failed (log above)"
  fi
  rm -rf "$dir" && mv "$tmp" "$dir"
  prune_cache ferretdb "$dir"
  log "ferretdb: installed in $dir"
}

# --- processes ----------------------------------------------------------------

# True when the pid recorded for server $1 is alive and is the process we
# started (its command line names our state dir), so a recycled pid is never
# mistaken for ours.
ours_alive() {
  local pidfile="$STATE_DIR/$1.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE_DIR/$1" || return 1
}

probe() { # server uri
  local kind=mongo
  [[ "$1" == neo4j ]] && kind=bolt
  python3 "$SCRIPTS/probe.py" "$kind" "$2" 2>/dev/null
}

# Healthy: our process is alive, wrote its URI, and answers the protocol.
healthy() {
  ours_alive "$1" && [[ -s "$STATE_DIR/$1.uri" ]] && probe "$1" "$(<"$STATE_DIR/$1.uri")"
}

# Starts Neo4j on the store in $STATE_DIR/neo4j (created on the first start,
# kept after: a restart, also after a crash, finds its data there), on the
# port in neo4j.port (chosen once) with the password in neo4j.password (set
# in a new store only). Its output is appended to neo4j.log.
launch_neo4j() { # install-dir
  local dir="$1" home="$STATE_DIR/neo4j"
  if [[ ! -s "$STATE_DIR/neo4j.password" ]]; then
    [[ -d "$home/data" ]] && die "neo4j: $home has a store but $STATE_DIR/neo4j.password is gone; the store keeps its own password (\`neo4j-private wipe\` or \`stop\` to start afresh)"
    (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$STATE_DIR/neo4j.password")
  fi
  [[ -s "$STATE_DIR/neo4j.port" ]] || free_port >"$STATE_DIR/neo4j.port"
  rm -f "$STATE_DIR/neo4j.uri" && mkdir -p "$home"
  neo4j_jvm_opts
  local -a share=()
  [[ -s "$dir/app.jsa" ]] && share=(-XX:SharedArchiveFile="$dir/app.jsa")
  # The password reaches the JVM through its environment, not its command line.
  SWIFTBOX_NEO4J_PASSWORD="$(<"$STATE_DIR/neo4j.password")" \
    setsid "$(java_bin)/java" "${NEO4J_JVM_OPTS[@]}" "${share[@]}" \
      "@$dir/classpath.args" dev.swiftbox.neo4jserver.Main \
      "$home" "$(<"$STATE_DIR/neo4j.port")" "$STATE_DIR/neo4j.uri" \
      </dev/null >>"$STATE_DIR/neo4j.log" 2>&1 9>&- &
  echo $! >"$STATE_DIR/neo4j.pid"
}

# Starts FerretDB on empty storage: fresh SQLite files, or a fresh `ferretdb`
# database of our PostgreSQL (which must be running).
launch_ferretdb() {
  local dir="$1" work="$STATE_DIR/ferretdb"
  rm -rf "$work" "$STATE_DIR/ferretdb.uri" && mkdir -p "$work"
  local -a storage=(-data-dir "$work")
  if [[ "$FERRETDB_BACKEND" == postgresql ]]; then
    local port
    port="$(<"$STATE_DIR/postgres.port")"
    as_postgres "$(pg_bin)/dropdb" -h 127.0.0.1 -p "$port" -U postgres --if-exists ferretdb
    as_postgres "$(pg_bin)/createdb" -h 127.0.0.1 -p "$port" -U postgres ferretdb
    storage=(-handler postgresql -postgresql-url "postgres://postgres@127.0.0.1:$port/ferretdb")
  fi
  setsid "$dir/swiftbox-ferretdb" -listen 127.0.0.1:0 "${storage[@]}" \
    -uri-file "$STATE_DIR/ferretdb.uri" -log-level warn \
    </dev/null >"$STATE_DIR/ferretdb.log" 2>&1 9>&- &
  echo $! >"$STATE_DIR/ferretdb.pid"
}

# The newest installed PostgreSQL's bin directory (empty when there is none).
pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  printf '%s\n' "$d"
}

# Installs Debian's PostgreSQL when no version is there (as root, with apt-get).
install_postgres() {
  [[ -n "$(pg_bin)" && -x "$(pg_bin)/initdb" ]] && return 0
  ((EUID == 0)) && command -v apt-get >/dev/null \
    || die "postgres: not installed, and installing it needs root and apt-get (or set SWIFTBOX_FERRETDB_BACKEND=sqlite)"
  log "postgres: installing Debian's postgresql (first run only)..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >"$CACHE_DIR/postgres-install.log" 2>&1 \
    || { tail -n 20 "$CACHE_DIR/postgres-install.log" >&2; die "postgres: apt-get install failed"; }
  [[ -x "$(pg_bin)/initdb" ]] || die "postgres: installed, but no initdb under /usr/lib/postgresql"
}

# Runs a PostgreSQL command as the `postgres` user when we are root (the server
# refuses to run as root), as ourselves otherwise.
as_postgres() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts PostgreSQL on its cluster in $STATE_DIR/postgres (created on the first
# start), listening on 127.0.0.1 at the port in postgres.port (chosen once),
# with trust authentication (loopback only, a test server). Its pid is the
# postmaster's.
launch_postgres() {
  local data="$STATE_DIR/postgres" bin
  bin="$(pg_bin)"
  [[ -s "$STATE_DIR/postgres.port" ]] || free_port >"$STATE_DIR/postgres.port"
  if ((EUID == 0)); then
    # The server runs as `postgres`: it must reach its own directory (and only it).
    chmod 711 "$STATE_DIR"
    mkdir -p "$data" && chown postgres: "$data"
  fi
  if [[ ! -s "$data/PG_VERSION" ]]; then
    as_postgres "$bin/initdb" -D "$data" -A trust -U postgres --no-sync >"$STATE_DIR/postgres.log" 2>&1 \
      || { tail -n 20 "$STATE_DIR/postgres.log" >&2; die "postgres: initdb failed"; }
  fi
  as_postgres "$bin/pg_ctl" -D "$data" -w -t "$START_TIMEOUT" -l "$data/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $(<"$STATE_DIR/postgres.port") -k $data" start >>"$STATE_DIR/postgres.log" 2>&1 9>&- </dev/null \
    || { tail -n 20 "$data/server.log" >&2; die "postgres: did not start (log: $data/server.log)"; }
  head -n 1 "$data/postmaster.pid" >"$STATE_DIR/postgres.pid"
}

# PostgreSQL answers on its port.
postgres_ready() {
  ours_alive postgres && [[ -s "$STATE_DIR/postgres.port" ]] \
    && as_postgres "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$(<"$STATE_DIR/postgres.port")"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints the tail of server $1's logs (the launcher's, and Neo4j's own).
show_logs() {
  local f
  for f in "$STATE_DIR/$1.log" "$STATE_DIR/$1"/logs/debug.log; do
    [[ -s "$f" ]] || continue
    log "last lines of $f:"
    tail -n 30 "$f" >&2 || true
  done
}

# Waits until server $1 answers, or fails naming it and its log.
wait_ready() {
  local name="$1" deadline=$((SECONDS + START_TIMEOUT)) started=$SECONDS pid
  pid="$(<"$STATE_DIR/$name.pid")"
  while ((SECONDS < deadline)); do
    # Just started by us, so the pid alone tells (its command line may still
    # be the forking shell's for a moment).
    if ! running_pid "$pid"; then
      log "$name exited during start-up"
      show_logs "$name"
      die "$name did not start (log: $STATE_DIR/$name.log)"
    fi
    if [[ -s "$STATE_DIR/$name.uri" ]] && probe "$name" "$(<"$STATE_DIR/$name.uri")"; then
      log "$name ready at $(<"$STATE_DIR/$name.uri") after $((SECONDS - started)) s"
      return 0
    fi
    sleep 0.5
  done
  log "$name did not answer within ${START_TIMEOUT}s"
  show_logs "$name"
  die "$name did not answer within ${START_TIMEOUT}s (log: $STATE_DIR/$name.log)"
}

# True while process $1 exists and is not a zombie (exited, not yet reaped).
running_pid() {
  [[ -e "/proc/$1" && "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# Sends SIG$2 to pid $1 and waits up to $3 seconds for the process to be gone;
# false if it is still there. The wait follows the pid alone (an exiting
# process's command line reads empty).
signal_and_wait() {
  local pid="$1" i
  kill "-$2" "$pid" 2>/dev/null || true
  for ((i = 0; i < $3 * 5; i++)); do
    running_pid "$pid" || return 0
    sleep 0.2
  done
  ! running_pid "$pid"
}

# Stops server $1 if it is ours. With TERM (the default) or another signal
# ($2, e.g. INT): that signal, wait up to 30 s for the process to be gone, then
# SIGKILL and wait again. With KILL:
# SIGKILL straight away, as a crash would (no shutdown; the data stays as the
# crash left it), and wait.
stop_one() {
  local name="$1" sig="${2:-TERM}" pid
  if ours_alive "$name"; then
    pid="$(<"$STATE_DIR/$name.pid")"
    if [[ "$sig" != KILL ]]; then
      log "$name: stopping pid $pid"
      if ! signal_and_wait "$pid" "$sig" 30; then
        log "$name: pid $pid ignored SIG$sig for 30 s, sending SIGKILL"
        sig=KILL
      fi
    else
      log "$name: killing pid $pid (SIGKILL)"
    fi
    if [[ "$sig" == KILL ]]; then
      signal_and_wait "$pid" KILL 30 || die "$name: pid $pid survived SIGKILL"
    fi
  fi
  rm -f "$STATE_DIR/$name.pid" "$STATE_DIR/$name.uri"
}

print_exports() {
  local mongo neo4j
  mongo="$(<"$STATE_DIR/ferretdb.uri")"
  neo4j="$(<"$STATE_DIR/neo4j.uri")"
  neo4j="${neo4j%/}"
  printf "export SWIFTBOX_MONGO_URI='%s'\n" "$mongo"
  printf "export SWIFTBOX_NEO4J_URI='%s'\n" "$neo4j"
  printf "export SWIFTBOX_NEO4J_USER='%s'\n" "$NEO4J_USER"
  printf "export SWIFTBOX_NEO4J_PASSWORD='%s'\n" "$(<"$STATE_DIR/neo4j.password")"
}

# One servers.sh at a time per state dir (two engineers on one checkout share it).
lock() {
  local file
  file="$CACHE_DIR/locks/servers-$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-12).lock"
  mkdir -p "$CACHE_DIR/locks"
  exec 9>"$file"
  flock -w 600 9 || die "another servers.sh holds $file"
}

# --- commands -------------------------------------------------------------------

cmd_start() {
  mkdir -p "$CACHE_DIR"
  lock
  mkdir -p "$STATE_DIR" && chmod 700 "$STATE_DIR"

  local need_neo4j=1 need_ferretdb=1
  healthy neo4j && need_neo4j=0
  healthy ferretdb && need_ferretdb=0
  if ((need_neo4j == 0 && need_ferretdb == 0)); then
    log "reusing running servers (state in $STATE_DIR)"
    print_exports
    return 0
  fi

  # Install both at once: Maven's download and Go's compile overlap well.
  local pids=() failed=0 p
  ((need_neo4j)) && { install_neo4j & pids+=($!); }
  ((need_ferretdb)) && { install_ferretdb & pids+=($!); }
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  ((failed == 0)) || die "installing the servers failed (see above)"
  if ((need_ferretdb)) && [[ "$FERRETDB_BACKEND" == postgresql ]] && ! postgres_ready; then
    install_postgres
    stop_one postgres
    log "postgres: starting (log: $STATE_DIR/postgres/server.log)"
    launch_postgres
  fi

  if ((need_neo4j)); then
    stop_one neo4j  # a half-dead one of ours, if any
    log "neo4j: starting (log: $STATE_DIR/neo4j.log)"
    launch_neo4j "$(neo4j_install_dir)"
  fi
  if ((need_ferretdb)); then
    stop_one ferretdb
    log "ferretdb: starting (log: $STATE_DIR/ferretdb.log)"
    launch_ferretdb "$(ferretdb_install_dir)"
  fi
  ((need_ferretdb)) && wait_ready ferretdb
  ((need_neo4j)) && wait_ready neo4j
  print_exports
}

cmd_stop() {
  mkdir -p "$CACHE_DIR"
  lock
  if [[ ! -d "$STATE_DIR" ]]; then
    log "nothing to stop (no $STATE_DIR)"
    return 0
  fi
  stop_one neo4j
  stop_one ferretdb
  # SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for every client).
  stop_one postgres INT
  rm -rf "$STATE_DIR"
  log "stopped; removed $STATE_DIR"
}

cmd_status() {
  local name rc=0
  for name in ferretdb neo4j; do
    if healthy "$name"; then
      printf '%-9s running  pid %s  %s\n' "$name" "$(<"$STATE_DIR/$name.pid")" "$(<"$STATE_DIR/$name.uri")"
    elif ours_alive "$name"; then
      printf '%-9s starting or not answering  pid %s  log %s\n' "$name" "$(<"$STATE_DIR/$name.pid")" "$STATE_DIR/$name.log"
      rc=1
    else
      printf '%-9s stopped\n' "$name"
      rc=1
    fi
  done
  if [[ "$FERRETDB_BACKEND" == postgresql ]]; then
    if postgres_ready; then
      printf '%-9s running  pid %s  127.0.0.1:%s\n' postgres "$(<"$STATE_DIR/postgres.pid")" "$(<"$STATE_DIR/postgres.port")"
    else
      printf '%-9s stopped or not answering\n' postgres
      rc=1
    fi
  fi
  return "$rc"
}

cmd_ferretdb_bin() {
  mkdir -p "$CACHE_DIR"
  lock
  install_ferretdb
  printf '%s/swiftbox-ferretdb\n' "$(ferretdb_install_dir)"
}

print_neo4j_exports() {
  local neo4j
  neo4j="$(<"$STATE_DIR/neo4j.uri")"
  printf "export SWIFTBOX_NEO4J_URI='%s'\n" "${neo4j%/}"
  printf "export SWIFTBOX_NEO4J_USER='%s'\n" "$NEO4J_USER"
  printf "export SWIFTBOX_NEO4J_PASSWORD='%s'\n" "$(<"$STATE_DIR/neo4j.password")"
}

# neo4j-private start|stop|kill|wipe|freeze|thaw <dir>: a Neo4j of a test's own, state in <dir>.
cmd_neo4j_private() {
  local action="${1:-}" dir="${2:-}"
  [[ "$action" =~ ^(start|stop|kill|wipe|freeze|thaw)$ ]] && [[ -n "$dir" ]] \
    || { echo "usage: $0 neo4j-private start|stop|kill|wipe|freeze|thaw <dir>" >&2; exit 2; }
  mkdir -p "$CACHE_DIR" "$dir"
  STATE_DIR="$(cd "$dir" && pwd)"
  chmod 700 "$STATE_DIR"
  lock
  case "$action" in
    freeze | thaw)
      # A frozen JVM (SIGSTOP) keeps its sockets open and answers nothing, as a stalled server.
      ours_alive neo4j || die "neo4j: not running, nothing to $action"
      kill "-$([[ "$action" == freeze ]] && echo STOP || echo CONT)" "$(<"$STATE_DIR/neo4j.pid")"
      return 0
      ;;
    stop)
      # A frozen process cannot act on SIGTERM until it runs again.
      ours_alive neo4j && kill -CONT "$(<"$STATE_DIR/neo4j.pid")" 2>/dev/null || true
      stop_one neo4j
      return 0
      ;;
    kill)
      stop_one neo4j KILL
      return 0
      ;;
    wipe)
      ours_alive neo4j && kill -CONT "$(<"$STATE_DIR/neo4j.pid")" 2>/dev/null || true
      stop_one neo4j
      rm -rf "$STATE_DIR/neo4j" "$STATE_DIR/neo4j.log"
      return 0
      ;;
  esac
  local install
  install="$(neo4j_install_dir)"
  if [[ ! -f "$install/ok" ]]; then
    log "neo4j not built (no $install); \`scripts/servers.sh start\` builds it"
    exit 3
  fi
  if healthy neo4j; then
    print_neo4j_exports
    return 0
  fi
  stop_one neo4j
  log "neo4j (private): starting on port $(cat "$STATE_DIR/neo4j.port" 2>/dev/null || echo '<new>') (log: $STATE_DIR/neo4j.log)"
  launch_neo4j "$install"
  wait_ready neo4j
  print_neo4j_exports
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  ferretdb-bin) cmd_ferretdb_bin ;;
  neo4j-private) cmd_neo4j_private "${2:-}" "${3:-}" ;;
  *)
    echo "usage: $0 start|stop|status|ferretdb-bin|neo4j-private start|stop|kill|wipe|freeze|thaw <dir>" >&2
    exit 2
    ;;
esac
