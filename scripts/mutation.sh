#!/usr/bin/env bash
# `make mutation`: mutation testing (mutmut, pinned) of the pure policy modules and the settings validators,
# killed by the fast unit tests only; the killed share per module is appended to docs/benchmarks.md.
# CPU-heavy (minutes per module on 2 cores): not part of `make test`. m=services.web.policy runs one module.
source "$(dirname "$0")/lib.sh"
MUTMUT_VERSION=3.8.1
VENV="$STACK_DIR/venv"
MODULES=(services.web.policy services.agent.policy services.agent.presence services.recovery.policy services.shared.setting_checks services.shared.settings)
[[ -x "$VENV/bin/python" ]] || die "the services venv is missing: run 'make up' (or scripts/install-python.sh) first."

step "mutmut $MUTMUT_VERSION in $VENV"
if [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mutmut"))' 2>/dev/null)" != "$MUTMUT_VERSION" ]]; then
  export UV_CACHE_DIR="${UV_CACHE_DIR:-$STACK_CACHE_DIR/uv}"
  UV="$STACK_CACHE_DIR/uv-tool/bin/uv"
  [[ -x "$UV" ]] || die "uv is missing: run scripts/install-python.sh first."
  "$UV" pip install -q --python "$VENV/bin/python" "mutmut==$MUTMUT_VERSION"
fi
done_ "installed"

cd "$ROOT"
rm -rf mutants # a fresh copy: mutmut caches results by function hash, not by the tests that kill them
# the copy's unit tests use the installed programs (pg_restore of the pgserver wheel …): the same .stack
mkdir -p mutants && ln -s "$STACK_DIR" mutants/.stack
selected=("${MODULES[@]}")
[[ -z "${m:-}" ]] || selected=("$m")
for module in "${selected[@]}"; do
  step "mutants of $module"
  # The unit tests' own budget is the per-test timeout; the whole module gets 40 minutes.
  timeout 2400 "$VENV/bin/mutmut" run --max-children "${MUTATION_JOBS:-2}" "$module*" | tail -n 3 || die "mutmut failed on $module"
done
"$VENV/bin/python" scripts/mutation_score.py "${selected[@]}" --append docs/benchmarks.md
