#!/usr/bin/env bash
# Build the connector image source-customerio:dev and source-customerio:<version> from the
# committed Dockerfile.
#
#   bash scripts/build-image.sh
#   BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:... bash scripts/build-image.sh
#
# Env:
#   BASE_IMAGE      base image (default: the offline stand-in source-customerio-base:bookworm,
#                   built by scripts/build-offline-base-image.sh; metadata.yaml names the
#                   Airbyte base, which needs a reachable registry)
#   PIP_CA_BUNDLE   CA bundle pip must trust inside the build (default: the host bundle
#                   /etc/ssl/certs/ca-certificates.crt when it exists; "" to send none)
#   IMAGE_NAME      repository to tag (default: dockerRepository from metadata.yaml)
#   EXTRA_TAGS      more tags, space-separated
#   DOCKER_BUILD_ARGS  extra arguments for `docker build` (e.g. --no-cache)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

log() { echo "[build-image] $*" >&2; }
die() { echo "[build-image] ERROR: $*" >&2; exit 1; }

# Top-level scalar of metadata.yaml's data: block (plain `key: value` lines).
meta() { sed -n "s/^  $1:[[:space:]]*\"\{0,1\}\([^\"#]*\)\"\{0,1\}[[:space:]]*\$/\1/p" metadata.yaml | head -n 1 | tr -d '[:space:]'; }

REPOSITORY="$(meta dockerRepository)"
VERSION="$(meta dockerImageTag)"
[ -n "${REPOSITORY}" ] && [ -n "${VERSION}" ] || die "cannot read dockerRepository/dockerImageTag from metadata.yaml"
IMAGE_NAME="${IMAGE_NAME:-${REPOSITORY}}"
BASE_IMAGE="${BASE_IMAGE:-source-customerio-base:bookworm}"
PIP_CA_BUNDLE="${PIP_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"

bash "${root}/scripts/ensure-docker.sh"

docker image inspect "${BASE_IMAGE}" > /dev/null 2>&1 \
    || log "base ${BASE_IMAGE} is not local; docker will try to pull it (run scripts/build-offline-base-image.sh for the offline base)"

# The CA bundle reaches the builder stage as build/pip-ca-bundle.crt in the context
# (git-ignored; see the Dockerfile). Removed again on exit.
ca_in_context="${root}/build/pip-ca-bundle.crt"
cleanup() { rm -f "${ca_in_context}"; rmdir "${root}/build" 2>/dev/null || true; }
trap cleanup EXIT
if [ -n "${PIP_CA_BUNDLE}" ] && [ -s "${PIP_CA_BUNDLE}" ]; then
    mkdir -p "${root}/build"
    install -m 0644 "${PIP_CA_BUNDLE}" "${ca_in_context}"
    log "pip inside the build trusts ${PIP_CA_BUNDLE}"
fi

tags=(-t "${IMAGE_NAME}:dev" -t "${IMAGE_NAME}:${VERSION}")
for t in ${EXTRA_TAGS:-}; do tags+=(-t "${t}"); done

log "building ${IMAGE_NAME}:dev and ${IMAGE_NAME}:${VERSION} on ${BASE_IMAGE} ..."
start=$(date +%s)
# shellcheck disable=SC2086
docker build --network host \
    --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
    --build-arg "CONNECTOR_REPOSITORY=${REPOSITORY}" \
    --build-arg "CONNECTOR_VERSION=${VERSION}" \
    "${tags[@]}" ${DOCKER_BUILD_ARGS:-} \
    -f Dockerfile .
log "built in $(( $(date +%s) - start )) s"

log "smoke test: docker run --rm ${IMAGE_NAME}:dev spec"
docker run --rm "${IMAGE_NAME}:dev" spec | grep -q '"type": *"SPEC"' || die "spec did not print a SPEC message"

size=$(docker image inspect --format '{{.Size}}' "${IMAGE_NAME}:dev")
human() { numfmt --to=iec-i --suffix=B "$1"; }
log "${IMAGE_NAME}:dev size: $(human "${size}") (${size} bytes)"
if base_size=$(docker image inspect --format '{{.Size}}' "${BASE_IMAGE}" 2>/dev/null); then
    log "over base ${BASE_IMAGE} ($(human "${base_size}")): $(human $(( size - base_size ))) ($(( size - base_size )) bytes)"
fi
