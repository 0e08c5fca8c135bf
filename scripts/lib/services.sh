#!/usr/bin/env bash
# Sourced, not run: by scripts/dev and scripts/test, which set the same options.
set -euo pipefail
# Optional helper services on loopback. Source scripts/lib/common.sh first.
#
#   moto_start STATE_DIR   start moto_server (AWS mock; Secrets Manager) on a free port of
#                          127.0.0.1, wait until it answers, export HAVEN_TEST_MOTO_URL
#   moto_stop STATE_DIR    stop it (also one left behind by a killed earlier run)
#
#   ensure_redis           install Debian's redis-server if missing (its own service not started)
#   redis_start STATE_DIR  start redis-server (no persistence) on a free port of 127.0.0.1, wait
#                          until it answers PING, export HAVEN_TEST_REDIS_URL
#   redis_stop STATE_DIR   stop it (also one left behind by a killed earlier run)
#
# moto keeps everything in memory: a fresh server per run is a clean slate. The end-to-end tests
# may start their own moto (they find `moto_server` on PATH); this shared one is for tests that
# only need some Secrets Manager endpoint. The same holds for redis-server: tests that stop Redis
# mid-way start their own (tests/src/redis.rs).

# Wait until an HTTP server answers at all (any status code means it is up).
_http_wait() {
  local url="$1" pid="$2" i
  for i in $(seq 1 60); do
    # Died during start-up (port taken, import error): no point waiting longer.
    kill -0 "${pid}" 2>/dev/null || return 1
    if python3 - "${url}" <<'PY' 2>/dev/null; then
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # an HTTP error status still means the server answers
PY
      return 0
    fi
    sleep 0.5
    : "${i}"
  done
  return 1
}

moto_start() {
  local state="$1" port pid attempt
  have moto_server || die "moto_server not found (pip install 'moto[server]')"
  mkdir -p "${state}"
  moto_stop "${state}"
  for attempt in 1 2 3; do
    port="$(free_port)"
    log "starting moto_server on 127.0.0.1:${port}"
    # Backgrounded from a script, it ignores Ctrl-C; the caller's EXIT trap stops it.
    moto_server -H 127.0.0.1 -p "${port}" >"${state}/moto.log" 2>&1 &
    pid=$!
    printf '%s\n' "${pid}" >"${state}/moto.pid"
    if _http_wait "http://127.0.0.1:${port}/moto-api/" "${pid}"; then
      HAVEN_TEST_MOTO_URL="http://127.0.0.1:${port}"
      export HAVEN_TEST_MOTO_URL
      return 0
    fi
    warn "moto_server did not come up on port ${port} (attempt ${attempt}); last log lines:"
    tail -n 5 "${state}/moto.log" >&2 || true
    moto_stop "${state}"
  done
  die "could not start moto_server (log: ${state}/moto.log)"
}

moto_stop() { _stop_pidfile "$1/moto.pid" moto_server; }

# Stop the process whose pid PIDFILE holds, if it still runs NAME (a pid file from a killed run
# may name a recycled pid), politely first; remove the pid file.
_stop_pidfile() {
  local pidfile="$1" name="$2" pid i
  [[ -f ${pidfile} ]] || return 0
  pid="$(cat "${pidfile}")"
  rm -f "${pidfile}"
  if [[ -n ${pid} ]] && grep -qa "${name}" "/proc/${pid}/cmdline" 2>/dev/null; then
    log "stopping ${name} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    for i in $(seq 1 20); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.25
      : "${i}"
    done
    kill -KILL "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  fi
}

ensure_redis() {
  have redis-server && return 0
  # As for PostgreSQL: a policy-rc.d that says "no" keeps Debian's system-wide service stopped.
  local policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
  if [[ ! -e ${policy} ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > ${policy} && chmod +x ${policy}"
    added_policy=1
  fi
  apt_install redis-server || rc=$?
  if [[ ${added_policy} -eq 1 ]]; then as_root rm -f "${policy}"; fi
  [[ ${rc} -eq 0 ]] || die "could not install redis-server"
}

_redis_ping() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(7) == b"+PONG\r\n" else 1)
PY
}

redis_start() {
  local state="$1" port pid i
  have redis-server || die "redis-server not found (apt-get install redis-server)"
  mkdir -p "${state}"
  redis_stop "${state}"
  port="$(free_port)"
  log "starting redis-server on 127.0.0.1:${port}"
  redis-server --port "${port}" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >"${state}/redis.log" 2>&1 &
  pid=$!
  printf '%s\n' "${pid}" >"${state}/redis.pid"
  for i in $(seq 1 40); do
    kill -0 "${pid}" 2>/dev/null || break
    if _redis_ping "${port}"; then
      HAVEN_TEST_REDIS_URL="redis://127.0.0.1:${port}"
      export HAVEN_TEST_REDIS_URL
      return 0
    fi
    sleep 0.25
    : "${i}"
  done
  tail -n 5 "${state}/redis.log" >&2 || true
  redis_stop "${state}"
  die "could not start redis-server (log: ${state}/redis.log)"
}

redis_stop() { _stop_pidfile "$1/redis.pid" redis-server; }
