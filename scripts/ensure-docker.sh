#!/usr/bin/env bash
# Make sure a Docker engine is usable: install Debian's docker.io when dockerd is
# absent, start dockerd in the background when `docker info` fails, and wait for it.
# Exits non-zero with a clear message when no engine can be had.
#
#   bash scripts/ensure-docker.sh            # default wait: 60 s
#   DOCKER_WAIT_SECONDS=120 bash scripts/ensure-docker.sh
set -euo pipefail

WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"

log() { echo "[ensure-docker] $*" >&2; }
die() { echo "[ensure-docker] ERROR: $*" >&2; exit 1; }

if docker info >/dev/null 2>&1; then
    log "Docker engine already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))."
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "dockerd/docker not installed and not running as root: cannot apt-get install docker.io."
    command -v apt-get >/dev/null 2>&1 || die "dockerd/docker not installed and apt-get is not available."
    log "Installing docker.io with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed."
    apt-get install -y -qq docker.io >/dev/null || die "apt-get install docker.io failed."
fi

command -v dockerd >/dev/null 2>&1 || die "dockerd still not found after install."

if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "Starting dockerd in the background (log: ${DOCKERD_LOG}) ..."
    # setsid + nohup: dockerd must outlive this script and the caller's shell.
    setsid nohup dockerd >"${DOCKERD_LOG}" 2>&1 < /dev/null &
    echo $! > /tmp/dockerd.pid
else
    log "dockerd process exists but 'docker info' failed; waiting for it ..."
fi

for ((i = 0; i < WAIT_SECONDS; i++)); do
    if docker info >/dev/null 2>&1; then
        log "Docker engine ready after ${i} s ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))."
        exit 0
    fi
    sleep 1
done

echo "---- last lines of ${DOCKERD_LOG} ----" >&2
tail -n 30 "${DOCKERD_LOG}" >&2 2>/dev/null || true
die "Docker engine did not become ready within ${WAIT_SECONDS} s (is this a container without the privileges dockerd needs?)."
