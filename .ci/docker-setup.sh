#!/usr/bin/env bash
# Brings up a Docker engine and the sandbox image on a CI machine with no image registry.
#   - installs docker.io and debootstrap from Debian's packages when missing,
#   - starts `dockerd --bridge=none --iptables=false` in the background when `docker info` fails and waits
#     up to 60 s for it (sandboxes run with NetworkMode none, so no bridge or iptables is needed),
#   - builds causeway-sandbox:latest with sandbox/image/build-offline.sh (cached; a no-op when present).
# Exit status: 0 when the engine answers (Docker tests are then required), 3 when no engine could be
# started (the caller leaves CAUSEWAY_REQUIRE_DOCKER unset and the sandbox tests are skipped, loudly).
# A failed image build with a working engine still exits 0 after saying so: the required Docker tests
# then fail and name the missing image, instead of being skipped.
# Works when called (`bash .ci/docker-setup.sh`) and when sourced (it then runs in a child bash, so the
# caller's shell options and process are left alone).
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  bash "${BASH_SOURCE[0]}" "$@" && return 0 || return $?
fi
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerd_log="${CAUSEWAY_DOCKERD_LOG:-/var/log/dockerd.log}"
wait_seconds="${CAUSEWAY_DOCKERD_WAIT_SECONDS:-60}"

log() { printf '[docker-setup] %s\n' "$*"; }

no_engine() {
  local bar='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
  {
    echo "$bar"
    echo "!!! NO DOCKER ENGINE: $*"
    echo "!!! The sandbox (Docker) tests cannot run on this machine."
    if [ -f "$dockerd_log" ]; then
      echo "!!! Last lines of $dockerd_log:"
      tail -n 15 "$dockerd_log" | sed 's/^/!!!   /'
    fi
    echo "$bar"
  } >&2
  exit 3
}

engine_up() { docker info >/dev/null 2>&1; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    no_engine "${missing[*]} missing and this is not root, so apt-get cannot install them"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || no_engine "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    no_engine "apt-get install ${missing[*]} failed"
fi
command -v docker >/dev/null 2>&1 || no_engine "no docker CLI after installing docker.io"

if engine_up; then
  log "Docker engine already answers"
else
  if pid="$(cat /var/run/docker.pid 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid $pid) is running but not answering yet; waiting for it"
  else
    command -v dockerd >/dev/null 2>&1 || no_engine "dockerd is not installed"
    # A pid file left by a dockerd that died makes the next one refuse to start.
    rm -f /var/run/docker.pid
    log "starting dockerd --bridge=none --iptables=false (log: $dockerd_log)"
    setsid dockerd --bridge=none --iptables=false </dev/null >>"$dockerd_log" 2>&1 &
  fi
  for ((i = 0; i < wait_seconds; i++)); do
    engine_up && break
    sleep 1
  done
  engine_up || no_engine "dockerd did not answer within ${wait_seconds} s"
  log "Docker engine up after ${i} s"
fi
docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || true

started=$SECONDS
if bash "$root/sandbox/image/build-offline.sh"; then
  log "sandbox image ready ($((SECONDS - started)) s)"
else
  echo "!!! [docker-setup] building the sandbox image FAILED; the required Docker tests will fail." >&2
fi
exit 0
