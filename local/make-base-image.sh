#!/bin/sh
# A Python 3.11 base image made from Debian packages, for machines that cannot pull images.
#
#   sudo local/make-base-image.sh [IMAGE]      default IMAGE: localhost/python:3.11-bookworm
#
# debootstrap (Debian bookworm, minbase) + python3, python3-venv, python3-pip and
# ca-certificates, then `podman import`. Skips everything when IMAGE already exists.
# Use it as the Dockerfile's base:  MLOPS_IMAGE__BASE_IMAGE=localhost/python:3.11-bookworm
# Needs: root, podman (local/setup-podman.sh), Debian's mirror (MIRROR=... to change it).
set -eu

IMAGE="${1:-localhost/python:3.11-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm

say() { echo "make-base-image: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "run as root (sudo $0)"; exit 1
fi
if ! command -v podman >/dev/null 2>&1; then
    say "podman is not installed: run local/setup-podman.sh first"; exit 1
fi
if podman image exists "$IMAGE"; then
    say "$IMAGE exists; nothing to do"
    echo "$IMAGE"
    exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq debootstrap >/dev/null
fi

ROOTFS=$(mktemp -d /var/tmp/mlops-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
say "debootstrap $SUITE into $ROOTFS (about a minute)"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
        say "debootstrap failed; last lines of $ROOTFS.log:"; tail -n 20 "$ROOTFS.log" >&2; exit 1; }
rm -f "$ROOTFS.log"
# Package caches are dead weight in an image.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log

say "importing as $IMAGE"
tar -C "$ROOTFS" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
podman run --rm "$IMAGE" python3 -c 'import sys, venv, ssl; print("python", sys.version.split()[0])' >&2
echo "$IMAGE"
