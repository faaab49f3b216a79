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
LIVEKIT_BINARY="$STACK_CACHE_DIR/bin/livekit-server-v1.13.5"

have_image() { [[ -z "${FORCE:-}" ]] && docker image inspect "$1" >/dev/null 2>&1; }

# build IMAGE STANDIN-DIR [FILE[=NAME]...] -- [BUILD-ARGS...]: docker build of docker/standins/DIR with
# extra files copied into the context, on the host network
build() {
  local image="$1" dir="$ROOT/docker/standins/$2" ctx files=() started=$SECONDS
  shift 2
  while (($#)) && [[ "$1" != -- ]]; do files+=("$1"); shift; done
  [[ "${1:-}" == -- ]] && shift
  step "Stand-in $image (docker/standins/${dir##*/})"
  if have_image "$image"; then done_ "already built"; return; fi
  ctx="$(mktemp -d)"
  cp -r "$dir/." "$ctx/"
  local f
  for f in "${files[@]}"; do
    if [[ "$f" == *=* ]]; then cp "${f%%=*}" "$ctx/${f#*=}"; else cp "$f" "$ctx/"; fi
  done
  info "docker build (log: $STACK_DIR/run/build-${dir##*/}.log)"
  mkdir -p "$STACK_DIR/run"
  if ! docker build --force-rm --network host "$@" -t "$image" "$ctx" >"$STACK_DIR/run/build-${dir##*/}.log" 2>&1; then
    rm -rf "$ctx"
    tail -n 30 "$STACK_DIR/run/build-${dir##*/}.log"
    die "building $image failed (last lines above)"
  fi
  rm -rf "$ctx"
  done_ "$image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'), $((SECONDS - started)) s)"
}

{
  docker info >/dev/null 2>&1 || die "no Docker engine answers: run eval \"\$(bash scripts/install-docker-engine.sh)\" first"
  [[ -x "$LIVEKIT_BINARY" ]] || bash "$ROOT/scripts/install-livekit.sh"
  build "$LIVEKIT_STANDIN" livekit-server "$LIVEKIT_BINARY=livekit-server" -- --build-arg BASE=lvs-local/debian:bookworm
  build "$PGVECTOR_STANDIN" pgvector -- \
    --build-arg BASE=lvs-local/debian:bookworm --build-arg PYTHON_BASE=lvs-test/python:3.11-bookworm-ca
  build "$LETTA_STANDIN" letta "$ROOT/config/letta-constraints.txt" -- \
    --build-arg "PGVECTOR_IMAGE=$PGVECTOR_STANDIN" --build-arg PYTHON_BASE=lvs-test/python:3.11-bookworm-ca
} >&2
printf 'LIVEKIT_IMAGE=%s\nPOSTGRES_IMAGE=%s\nLETTA_IMAGE=%s\n' "$LIVEKIT_STANDIN" "$PGVECTOR_STANDIN" "$LETTA_STANDIN"
