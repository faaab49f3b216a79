#!/usr/bin/env bash
# Local base images for a machine that cannot pull from a registry (make test-compose), each skipped when
# it is already in the engine:
#   lvs-local/debian:bookworm          debootstrap --variant=minbase bookworm from this machine's apt mirror
#   lvs-local/python:3.11-bookworm     Debian's python3 (3.11.2) in a venv on PATH (docker/base/python)
#   lvs-local/node:bookworm            Debian's nodejs and npm (docker/base/node)
#   lvs-test/<name>-ca                 each of them plus this machine's extra CA certificates
#                                      (/usr/local/share/ca-certificates) for pip/npm over https in test
#                                      builds only (docker/base/test-ca); never a base a user builds on
# Needs DOCKER_HOST set to an engine (scripts/install-docker-engine.sh) and root for debootstrap.
source "$(dirname "$0")/lib.sh"

DEBIAN_IMAGE=lvs-local/debian:bookworm
PYTHON_IMAGE=lvs-local/python:3.11-bookworm
NODE_IMAGE=lvs-local/node:bookworm
CA_DIR="${TEST_CA_DIR:-/usr/local/share/ca-certificates}"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# apt_mirror [security]: this machine's Debian mirror (or its security mirror) from /etc/apt/sources.list*
apt_mirror() {
  local uris
  uris="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -n -E 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' | tr ' ' '\n')"
  if [[ "${1:-}" == security ]]; then grep -m1 -E 'debian-security/?$' <<<"$uris" || true
  else grep -m1 -E '/debian/?$' <<<"$uris" || echo "http://deb.debian.org/debian"; fi
}

# remove_rootfs DIR: unmount what debootstrap may have left mounted inside (proc, sys), then delete DIR
remove_rootfs() {
  local mounts
  mounts="$(awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)"
  [[ -z "$mounts" ]] || umount $mounts
  rm -rf --one-file-system "$1" "$1.log"
}

build_debian() {
  step "Base image $DEBIAN_IMAGE (debootstrap minbase)"
  if have_image "$DEBIAN_IMAGE"; then done_ "already built"; return; fi
  command -v debootstrap >/dev/null || die "debootstrap is missing: scripts/install-docker-engine.sh installs it"
  [[ $EUID -eq 0 ]] || die "debootstrap needs root"
  local mirror security rootfs
  mirror="$(apt_mirror)"; security="$(apt_mirror security)"
  rootfs="$(mktemp -d)"; trap 'remove_rootfs "$rootfs"' EXIT
  info "debootstrap --variant=minbase bookworm from $mirror (about 30 s)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log"; die "debootstrap failed (log above): is $mirror reachable?"; }
  rm -f "$rootfs.log"
  {
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-updates main"
    [[ -z "$security" ]] || echo "deb $security bookworm-security main"
  } >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  info "docker import ($(du -sh "$rootfs" | cut -f1))"
  tar -C "$rootfs" --numeric-owner -c . | docker import --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null \
    || die "docker import of the bookworm rootfs failed"
  remove_rootfs "$rootfs"; trap - EXIT
  done_ "$DEBIAN_IMAGE"
}

# build_from_dir IMAGE DIR [BUILD-ARGS...]: docker build of one docker/base folder, host network
build_from_dir() {
  local image="$1" dir="$2"; shift 2
  step "Base image $image ($dir)"
  if have_image "$image"; then done_ "already built"; return; fi
  docker build -q --force-rm --network host "$@" -t "$image" "$ROOT/$dir" >/dev/null || die "building $image from $dir failed (output above)"
  done_ "$image"
}

# with_test_ca IMAGE: IMAGE plus this machine's extra CA certificates, tagged lvs-test/<name>-ca
with_test_ca() {
  local image="$1" name tag ctx
  name="${image#lvs-local/}"
  tag="lvs-test/${name%%:*}:${name#*:}-ca"
  step "Test base $tag ($image + the CA certificates in $CA_DIR, test builds only)"
  if have_image "$tag"; then done_ "already built"; return; fi
  ctx="$(mktemp -d)"
  cp "$ROOT/docker/base/test-ca/Dockerfile" "$ctx/"
  mkdir -p "$ctx/certs"
  find "$CA_DIR" -maxdepth 1 -name '*.crt' -exec cp {} "$ctx/certs/" \; 2>/dev/null || true
  docker build -q --force-rm --network host --build-arg "BASE=$image" -t "$tag" "$ctx" >/dev/null \
    || { rm -rf "$ctx"; die "building $tag failed (output above)"; }
  rm -rf "$ctx"
  done_ "$tag"
}

docker info >/dev/null 2>&1 || die "no Docker engine answers: run eval \"\$(bash scripts/install-docker-engine.sh)\" first"
build_debian
build_from_dir "$PYTHON_IMAGE" docker/base/python --build-arg "BASE=$DEBIAN_IMAGE"
build_from_dir "$NODE_IMAGE" docker/base/node --build-arg "BASE=$DEBIAN_IMAGE"
with_test_ca "$DEBIAN_IMAGE"
with_test_ca "$PYTHON_IMAGE"
with_test_ca "$NODE_IMAGE"
docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E 'lvs-(local|test)/' || true
