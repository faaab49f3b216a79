#!/usr/bin/env bash
# Create our services' venv (.stack/venv) with uv and install the project and its pinned dependencies.
source "$(dirname "$0")/lib.sh"

VENV="$STACK_DIR/venv"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$STACK_CACHE_DIR/uv}"
stamp="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"

step "Python services venv ($VENV)"
uv_bin() { # uv is bootstrapped into its own small venv in the cache
  local uvenv="$STACK_CACHE_DIR/uv-tool"
  if [[ ! -x "$uvenv/bin/uv" ]]; then
    info "bootstrapping uv" >&2
    python3 -m venv "$uvenv" >&2 && "$uvenv/bin/pip" install -q "uv==0.13.9" >&2
  fi
  echo "$uvenv/bin/uv"
}
UV="$(uv_bin)"
if [[ -x "$VENV/bin/python" && -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$stamp" ]]; then
  done_ "up to date"; exit 0
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is required (found $(python3 --version))."
[[ -x "$VENV/bin/python" ]] || "$UV" venv -q --python python3 "$VENV"
info "installing pinned dependencies (a few minutes the first time)"
"$UV" pip install --python "$VENV/bin/python" -e "$ROOT[offline,dev]"
echo "$stamp" >"$VENV/.stamp"
done_ "venv ready"
