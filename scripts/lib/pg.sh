#!/usr/bin/env bash
# Sourced, not run: by scripts/dev and scripts/test, which set the same options.
set -euo pipefail
# A private PostgreSQL 15 cluster for tests and local development, independent of any cluster the
# machine runs. Source scripts/lib/common.sh first.
#
#   pg_start DIR [PORT]   init DIR (if needed) and start it on 127.0.0.1:PORT (or a free port);
#                         sets HAVEN_PG_PORT, HAVEN_PG_ADMIN_URL, HAVEN_PG_STARTED (1 if we started
#                         it, 0 if it was already running, which a second `scripts/dev` may see)
#   pg_stop DIR           stop it if it runs (fast shutdown, escalating if it hangs)
#   pg_wipe DIR           stop it and delete it (tests start from nothing every run)
#   pg_is_running DIR
#
# Layout: DIR/data (PGDATA, also holds the unix socket), DIR/postgres.log, DIR/port. As root, when
# user postgres cannot enter DIR, data/ and postgres.log live in /tmp/haven-pg-<hash of DIR>/.
# Authentication is `trust` for user postgres: the server listens on 127.0.0.1 only, so only
# local processes can reach it. That is fine for throwaway clusters and nothing else.

# Is the cluster in DIR reachable by the user that runs the server? As root, the server runs as
# `postgres`, which cannot enter e.g. /root/...; then the cluster lives under /tmp instead, at a
# path derived from DIR so that re-runs find it again.
_pg_home() {
  local dir
  # Absolute: the server binaries run from `/` (see _pg_run).
  dir="$(mkdir -p "$1" && cd "$1" && pwd)"
  if [[ ${EUID} -ne 0 ]]; then
    printf '%s\n' "${dir}"
    return
  fi
  mkdir -p "${dir}"
  chown postgres: "${dir}"
  chmod 700 "${dir}"
  if runuser -u postgres -- test -w "${dir}" -a -x "${dir}" 2>/dev/null; then
    printf '%s\n' "${dir}"
  else
    local alt
    alt="/tmp/haven-pg-$(printf '%s' "${dir}" | cksum | cut -d' ' -f1)"
    mkdir -p "${alt}"
    chown postgres: "${alt}"
    chmod 700 "${alt}"
    printf '%s\n' "${alt}"
  fi
}

# Run a PostgreSQL server binary as the cluster's owner: `postgres` when we are root (initdb and
# postgres refuse to run as root), ourselves otherwise. From `/`, because the owner may not be
# allowed into the caller's working directory.
_pg_run() {
  if [[ ${EUID} -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

pg_is_running() {
  local home
  home="$(_pg_home "$1")"
  [[ -f ${home}/data/PG_VERSION ]] || return 1
  _pg_run "${HAVEN_PG_BIN}/pg_ctl" status -D "${home}/data" >/dev/null 2>&1
}

_pg_init() {
  local home="$1" data="$1/data"
  [[ -f ${data}/PG_VERSION ]] && return 0
  log "initdb ${data}"
  # No locale (C collation, UTF8): identical results on every machine. --no-sync: a throwaway
  # cluster does not need initdb to fsync.
  _pg_run "${HAVEN_PG_BIN}/initdb" -D "${data}" -U postgres -A trust -E UTF8 --no-locale \
    --no-sync >"${home}/initdb.log" 2>&1 ||
    {
      cat "${home}/initdb.log" >&2
      die "initdb failed"
    }
  # Speed over durability: with fsync off an OS crash (not a postgres crash) can corrupt the
  # cluster. Right for tests; acceptable for the local dev cluster too, whose fix is
  # `rm -rf .dev/pg` and re-running scripts/dev. Never use these settings for real data.
  _pg_run tee -a "${data}/postgresql.conf" >/dev/null <<'CONF'

# ---- haven (scripts/lib/pg.sh): throwaway cluster, never for real data ----
max_connections = 300          # tests run in parallel, each with its own pool and database
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
# Port, listen address and socket directory change between runs: see haven_runtime.conf.
include_if_exists = 'haven_runtime.conf'
CONF
}

# Write the per-run settings: TCP on 127.0.0.1 only, and the unix socket in the data dir (never
# /var/run/postgresql, which belongs to the system cluster). A unix socket path is limited to
# ~107 bytes; in a deeply nested checkout we go TCP-only rather than fail.
_pg_runtime_conf() {
  local data="$1" port="$2" sockdir="$1"
  if ((${#sockdir} + 20 > 107)); then sockdir=""; fi
  _pg_run tee "${data}/haven_runtime.conf" >/dev/null <<CONF
# Written by scripts/lib/pg.sh at every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${sockdir}'
CONF
}

# Wait until the server accepts TCP connections (bounded).
_pg_wait_ready() {
  local port="$1" i
  for i in $(seq 1 60); do
    if "${HAVEN_PG_BIN}/pg_isready" -q -h 127.0.0.1 -p "${port}" -U postgres -d postgres; then
      return 0
    fi
    sleep 0.5
    : "${i}"
  done
  return 1
}

_pg_export() {
  local dir="$1" port="$2"
  HAVEN_PG_PORT="${port}"
  HAVEN_PG_ADMIN_URL="postgres://postgres@127.0.0.1:${port}/postgres"
  export HAVEN_PG_PORT HAVEN_PG_ADMIN_URL
  printf '%s\n' "${port}" >"${dir}/port"
}

pg_start() {
  local dir="$1" want_port="${2:-}" home data port attempt
  home="$(_pg_home "${dir}")"
  data="${home}/data"
  _pg_init "${home}"

  if pg_is_running "${dir}"; then
    # Already up (a second scripts/dev, or a server left from a killed run): reuse it and leave
    # stopping it to whoever started it. The port is on line 4 of postmaster.pid.
    port="$(sed -n 4p "${data}/postmaster.pid")"
    _pg_wait_ready "${port}" || die "PostgreSQL in ${data} runs but does not answer on ${port}"
    log "PostgreSQL already running on 127.0.0.1:${port} (${data})"
    _pg_export "${dir}" "${port}"
    export HAVEN_PG_STARTED=0
    return 0
  fi

  # A free port can be taken by someone else between our check and postgres binding it: retry
  # with a new one (but not when the caller asked for a specific port that is busy).
  for attempt in 1 2 3; do
    if [[ -n ${want_port} ]] && port_is_free "${want_port}"; then
      port="${want_port}"
    else
      port="$(free_port)"
    fi
    _pg_runtime_conf "${data}" "${port}"
    log "starting PostgreSQL 15 on 127.0.0.1:${port} (${data})"
    if _pg_run "${HAVEN_PG_BIN}/pg_ctl" start -D "${data}" -l "${home}/postgres.log" -w -t 30 -s \
      >/dev/null 2>&1 && _pg_wait_ready "${port}"; then
      _pg_export "${dir}" "${port}"
      export HAVEN_PG_STARTED=1
      return 0
    fi
    warn "PostgreSQL did not start on port ${port} (attempt ${attempt}); last log lines:"
    tail -n 5 "${home}/postgres.log" >&2 || true
    _pg_stop_home "${home}"
    want_port=""
  done
  die "could not start PostgreSQL (log: ${home}/postgres.log)"
}

_pg_stop_home() {
  local home="$1" data="$1/data" pid
  [[ -f ${data}/PG_VERSION ]] || return 0
  _pg_run "${HAVEN_PG_BIN}/pg_ctl" status -D "${data}" >/dev/null 2>&1 || return 0
  # fast: roll back open transactions and disconnect clients, but shut down cleanly.
  _pg_run "${HAVEN_PG_BIN}/pg_ctl" stop -D "${data}" -m fast -w -t 30 -s >/dev/null 2>&1 && return 0
  warn "fast shutdown timed out; using immediate"
  _pg_run "${HAVEN_PG_BIN}/pg_ctl" stop -D "${data}" -m immediate -w -t 10 -s >/dev/null 2>&1 && return 0
  pid="$(head -n 1 "${data}/postmaster.pid" 2>/dev/null || true)"
  if [[ -n ${pid} ]]; then
    warn "killing postmaster ${pid}"
    kill -KILL "${pid}" 2>/dev/null || true
  fi
}

pg_stop() {
  local home
  [[ -e $1 ]] || return 0
  home="$(_pg_home "$1")"
  [[ -f ${home}/data/PG_VERSION ]] || return 0
  if pg_is_running "$1"; then log "stopping PostgreSQL (${home}/data)"; fi
  _pg_stop_home "${home}"
}

pg_wipe() {
  local dir="$1" home
  [[ -e ${dir} ]] || return 0
  home="$(_pg_home "${dir}")"
  if pg_is_running "${dir}"; then log "stopping PostgreSQL left running in ${home}/data"; fi
  _pg_stop_home "${home}"
  rm -rf "${home}"
  [[ ${home} == "${dir}" ]] || rm -rf "${dir}"
}
