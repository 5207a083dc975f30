#!/usr/bin/env bash
# Build a local stand-in for the Airbyte python-connector-base image, for machines that
# cannot reach an image registry: a debootstrapped Debian bookworm (minbase) with python3,
# python3-venv and ca-certificates from Debian's archive, imported with `docker import`.
#
# Idempotent: does nothing when the image already exists (FORCE=1 rebuilds it).
#
#   bash scripts/build-offline-base-image.sh
#   BASE_IMAGE=my-base:tag DEBIAN_MIRROR=http://deb.debian.org/debian bash scripts/build-offline-base-image.sh
#
# The host's CA bundle (HOST_CA_BUNDLE, default /etc/ssl/certs/ca-certificates.crt) is put
# into the rootfs as the system bundle, so that TLS through an inspecting proxy is trusted
# by anything that uses the system store inside containers built on this base.
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-source-customerio-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
PACKAGES="python3,python3-venv,ca-certificates"

log() { echo "[offline-base] $*" >&2; }
die() { echo "[offline-base] ERROR: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "${here}/ensure-docker.sh"

print_size() {
    local bytes
    bytes="$(docker image inspect --format '{{.Size}}' "${BASE_IMAGE}")"
    log "${BASE_IMAGE}: $(numfmt --to=iec-i --suffix=B "${bytes}") (${bytes} bytes)"
}

if [ "${FORCE:-0}" != "1" ] && docker image inspect "${BASE_IMAGE}" >/dev/null 2>&1; then
    log "Image ${BASE_IMAGE} already exists; skipping (FORCE=1 to rebuild)."
    print_size
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root."

if ! command -v debootstrap >/dev/null 2>&1; then
    log "Installing debootstrap with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed."
    apt-get install -y -qq debootstrap >/dev/null || die "apt-get install debootstrap failed."
fi

workdir="$(mktemp -d /tmp/offline-base.XXXXXX)"
rootfs="${workdir}/rootfs"
cleanup() {
    # debootstrap may leave /proc, /sys ... mounted in the chroot when it fails.
    for m in proc sys dev/pts dev; do
        mountpoint -q "${rootfs}/${m}" 2>/dev/null && umount -l "${rootfs}/${m}" || true
    done
    rm -rf "${workdir}"
}
trap cleanup EXIT

log "debootstrap ${SUITE} (minbase + ${PACKAGES}) from ${MIRROR} ..."
debootstrap --variant=minbase --include="${PACKAGES}" "${SUITE}" "${rootfs}" "${MIRROR}" \
    > "${workdir}/debootstrap.log" 2>&1 || { tail -n 40 "${workdir}/debootstrap.log" >&2; die "debootstrap failed."; }

# apt sources inside the image: the same mirror (plus security), for images built on top of it.
cat > "${rootfs}/etc/apt/sources.list" <<SOURCES
deb ${MIRROR} ${SUITE} main
deb ${MIRROR} ${SUITE}-updates main
deb http://deb.debian.org/debian-security ${SUITE}-security main
SOURCES

if [ -s "${HOST_CA_BUNDLE}" ]; then
    log "Adding host CA bundle ${HOST_CA_BUNDLE} to the rootfs."
    # The system bundle becomes the host's one (Debian's CAs plus any proxy CA); a copy in
    # /usr/local/share/ca-certificates keeps the extra CAs if update-ca-certificates runs again.
    install -m 0644 "${HOST_CA_BUNDLE}" "${rootfs}/etc/ssl/certs/ca-certificates.crt"
    install -m 0644 "${HOST_CA_BUNDLE}" "${rootfs}/usr/local/share/ca-certificates/host-ca-bundle.crt"
else
    log "No host CA bundle at ${HOST_CA_BUNDLE}; keeping Debian's."
fi

# Trim: package caches, apt lists, docs, man pages, locales.
rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/* \
       "${rootfs}"/usr/share/doc/* "${rootfs}"/usr/share/man/* "${rootfs}"/usr/share/info/* \
       "${rootfs}"/var/log/*.log "${rootfs}"/var/cache/debconf/*-old
find "${rootfs}/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true

log "Importing rootfs as ${BASE_IMAGE} ..."
tar --numeric-owner -C "${rootfs}" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.opencontainers.image.description="offline stand-in for airbyte/python-connector-base: Debian bookworm + python3"' \
    --change 'CMD ["/bin/bash"]' \
    - "${BASE_IMAGE}" >/dev/null

docker run --rm "${BASE_IMAGE}" python3 -c 'import sys, ssl, venv; print("python", sys.version.split()[0], "ok")' >&2
print_size
