#!/usr/bin/env bash
# Install the Letta server 0.16.8 into its own venv with uv and the committed constraints,
# and unpack the alembic migrations from the letta sdist (the wheel has none).
source "$(dirname "$0")/lib.sh"

LETTA_VERSION="${LETTA_VERSION:-0.16.8}"
VENV="$STACK_DIR/letta-venv"
MIGRATIONS="$STACK_DIR/letta-migrations"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$STACK_CACHE_DIR/uv}"
UV="$STACK_CACHE_DIR/uv-tool/bin/uv"
stamp="$LETTA_VERSION-$(sha256sum "$ROOT/config/letta-constraints.txt" | cut -c1-16)"

step "Letta server $LETTA_VERSION ($VENV)"
[[ -x "$UV" ]] || die "uv is missing: run scripts/install-python.sh first (make up does)."
if [[ -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$stamp" && -f "$MIGRATIONS/alembic.ini" ]]; then
  done_ "up to date"; exit 0
fi
[[ -x "$VENV/bin/python" ]] || "$UV" venv -q --python python3 "$VENV"
info "installing letta[server,postgres]==$LETTA_VERSION with pinned constraints (~800 MB, a few minutes the first time)"
"$UV" pip install --python "$VENV/bin/python" -c "$ROOT/config/letta-constraints.txt" \
  "letta[server,postgres]==$LETTA_VERSION"

info "fetching the letta $LETTA_VERSION sdist for its alembic migrations"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$UV" pip install -q --python "$VENV/bin/python" pip
"$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$tmp" "letta==$LETTA_VERSION" 2>/dev/null \
  || "$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: -d "$tmp" "letta==$LETTA_VERSION"
tar -xzf "$tmp"/letta-*.tar.gz -C "$tmp"
rm -rf "$MIGRATIONS"; mkdir -p "$MIGRATIONS"
cp -r "$tmp"/letta-*/alembic "$tmp"/letta-*/alembic.ini "$MIGRATIONS/"
echo "$stamp" >"$VENV/.stamp"
done_ "letta $LETTA_VERSION installed; migrations in $MIGRATIONS"
