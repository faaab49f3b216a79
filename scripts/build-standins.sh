#!/usr/bin/env bash
# Local stand-ins of the upstream images compose.yaml runs, for a machine that cannot pull them
# (make test-compose). Each reproduces the contract compose.yaml relies on (docker/standins/README.md) and
# is tagged lvs-standin/<name>:<the upstream tag>; skipped when already built (FORCE=1 rebuilds).
# Prints the settings that make compose.yaml use them (LIVEKIT_IMAGE=… lines) on stdout.
# Needs the base images of scripts/build-base-images.sh and DOCKER_HOST pointing at an engine.
source "$(dirname "$0")/lib.sh"

LIVEKIT_STANDIN=lvs-standin/livekit-server:v1.13.5
PGVECTOR_STANDIN=lvs-standin/pgvector:0.8.1-pg16
LETTA_STANDIN=lvs-standin/letta:0.16.8
CADDY_STANDIN=lvs-standin/caddy:2.10.2
REDIS_STANDIN=lvs-standin/redis:7.0.15
LIVEKIT_BINARY="$STACK_CACHE_DIR/bin/livekit-server-v1.13.5"
CADDY_VERSION=v2.10.2
CADDY_BINARY="$STACK_CACHE_DIR/bin/caddy-$CADDY_VERSION"

# context_hash DIR: the stand-in's own files (Dockerfile, entry scripts); an image built from other files is
# rebuilt, so a changed entrypoint never hides behind an old image of the same tag
context_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
# have_image IMAGE HASH: built already, from this context
have_image() {
  [[ -z "${FORCE:-}" ]] \
    && [[ "$(docker image inspect --format '{{index .Config.Labels "lvs.standin.context"}}' "$1" 2>/dev/null)" == "$2" ]]
}

# build IMAGE STANDIN-DIR [FILE[=NAME]...] -- [BUILD-ARGS...]: docker build of docker/standins/DIR with
# extra files copied into the context, on the host network
build() {
  local image="$1" dir="$ROOT/docker/standins/$2" ctx files=() started=$SECONDS
  shift 2
  while (($#)) && [[ "$1" != -- ]]; do files+=("$1"); shift; done
  [[ "${1:-}" == -- ]] && shift
  step "Stand-in $image (docker/standins/${dir##*/})"
  local hash; hash="$(context_hash "$dir")"
  if have_image "$image" "$hash"; then done_ "already built"; return; fi
  ctx="$(mktemp -d)"
  cp -r "$dir/." "$ctx/"
  local f
  for f in "${files[@]}"; do
    if [[ "$f" == *=* ]]; then cp "${f%%=*}" "$ctx/${f#*=}"; else cp "$f" "$ctx/"; fi
  done
  info "docker build (log: $STACK_DIR/run/build-${dir##*/}.log)"
  mkdir -p "$STACK_DIR/run"
  if ! docker build --force-rm --network host --label "lvs.standin.context=$hash" "$@" -t "$image" "$ctx" >"$STACK_DIR/run/build-${dir##*/}.log" 2>&1; then
    rm -rf "$ctx"
    tail -n 30 "$STACK_DIR/run/build-${dir##*/}.log"
    die "building $image failed (last lines above)"
  fi
  rm -rf "$ctx"
  done_ "$image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'), $((SECONDS - started)) s)"
}

# caddy_binary: Caddy built from its Go module at the pinned tag, cached like livekit-server (several
# minutes the first time); false when Go is missing (the tls profile then has no stand-in)
caddy_binary() {
  [[ -x "$CADDY_BINARY" ]] && return 0
  command -v go >/dev/null || { info "warning: no Go: no Caddy stand-in (the tls profile cannot be tested)"; return 1; }
  step "caddy $CADDY_VERSION from github.com/caddyserver/caddy/v2 (Go module proxy; several minutes the first time)"
  local tmp; tmp="$(mktemp -d)"
  GOPATH="${GOPATH:-$STACK_CACHE_DIR/go}" GOFLAGS="${GOFLAGS:--modcacherw}" CGO_ENABLED=0 GOBIN="$tmp" \
    go install -trimpath "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION" \
    || { rm -rf "$tmp"; die "go install caddy@$CADDY_VERSION failed (output above)"; }
  mkdir -p "$(dirname "$CADDY_BINARY")"
  mv "$tmp/caddy" "$CADDY_BINARY" && rm -rf "$tmp"
  # built as the main module, `caddy version` says "unknown": its build info names the module version
  "$CADDY_BINARY" build-info | grep -qP "^mod\tgithub.com/caddyserver/caddy/v2\t$CADDY_VERSION\t" \
    || die "$CADDY_BINARY is not caddy $CADDY_VERSION (caddy build-info)"
  done_ "$CADDY_BINARY"
}

caddy_built=""
{
  docker info >/dev/null 2>&1 || die "no Docker engine answers: run eval \"\$(bash scripts/install-docker-engine.sh)\" first"
  [[ -x "$LIVEKIT_BINARY" ]] || bash "$ROOT/scripts/install-livekit.sh"
  build "$LIVEKIT_STANDIN" livekit-server "$LIVEKIT_BINARY=livekit-server" -- --build-arg BASE=lvs-local/debian:bookworm
  build "$PGVECTOR_STANDIN" pgvector -- \
    --build-arg BASE=lvs-local/debian:bookworm --build-arg PYTHON_BASE=lvs-test/python:3.11-bookworm-ca
  build "$LETTA_STANDIN" letta "$ROOT/config/letta-constraints.txt" -- \
    --build-arg "PGVECTOR_IMAGE=$PGVECTOR_STANDIN" --build-arg PYTHON_BASE=lvs-test/python:3.11-bookworm-ca
  build "$REDIS_STANDIN" redis -- --build-arg BASE=lvs-local/debian:bookworm
  if caddy_binary; then
    build "$CADDY_STANDIN" caddy "$CADDY_BINARY=caddy" -- --build-arg BASE=lvs-local/debian:bookworm
    caddy_built=1
  fi
} >&2
printf 'LIVEKIT_IMAGE=%s\nPOSTGRES_IMAGE=%s\nLETTA_IMAGE=%s\nREDIS_IMAGE=%s\n' "$LIVEKIT_STANDIN" "$PGVECTOR_STANDIN" \
  "$LETTA_STANDIN" "$REDIS_STANDIN"
[[ -z "$caddy_built" ]] || printf 'CADDY_IMAGE=%s\n' "$CADDY_STANDIN"
