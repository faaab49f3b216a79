#!/usr/bin/env bash
# `make up` (native mode): install what is missing, step by step, then start and wait until healthy.
source "$(dirname "$0")/lib.sh"
PY="$STACK_DIR/venv/bin/python"
started=$SECONDS

bash "$ROOT/scripts/install-system.sh"
bash "$ROOT/scripts/install-python.sh"
step "Settings"
"$PY" -m services.stack check || exit 2
done_ "valid"
bash "$ROOT/scripts/install-livekit.sh"
bash "$ROOT/scripts/install-letta.sh"
if "$PY" -c 'from services.shared.settings import get_settings as g; raise SystemExit(0 if g().llm.is_local else 1)'; then
  bash "$ROOT/scripts/install-models.sh"
else
  bash "$ROOT/scripts/install-models.sh" --skip
fi
if [[ -x "$ROOT/scripts/install-web-assets.sh" ]]; then bash "$ROOT/scripts/install-web-assets.sh"; fi
info "install steps took $((SECONDS - started))s"
exec "$PY" -m services.stack up
