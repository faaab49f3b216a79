#!/usr/bin/env bash
# `make test`: lint, unit tests, then the native stack (started here with visible progress, unless it was
# already running) for the stack, browser, chaos and lifecycle tests; the stack is stopped again; then the
# compose stack on a real Docker engine (scripts/test-compose.sh: up, smoke, faults, down). SKIP_COMPOSE=1
# leaves the compose part out.
source "$(dirname "$0")/lib.sh"
PY="$STACK_DIR/venv/bin/python"

bash "$ROOT/scripts/install-python.sh"
step "ruff"
"$STACK_DIR/venv/bin/ruff" check "$ROOT/services" "$ROOT/tests"
"$STACK_DIR/venv/bin/ruff" format --check --quiet "$ROOT/services" "$ROOT/tests"
step "Unit tests"
"$PY" -m pytest -q -m unit "$ROOT/tests/unit"
# a stack test module that no longer imports would otherwise fail only after the stack has started
step "Every test module imports (collection)"
if ! collected="$("$PY" -m pytest --collect-only -q -p no:cacheprovider "$ROOT/tests" 2>&1)"; then
  printf '%s\n' "$collected" | tail -n 40 >&2
  die "a test module does not import (output above)"
fi
done_ "$(tail -n 1 <<<"$collected")"

# The stack under test runs two agent workers: the standby-worker heal and the spreading of jobs are tested,
# and every other test runs against the scale-out configuration (the default for users stays one worker).
caller_env="$(declare -p AGENT_WORKERS AGENT_MAX_JOBS 2>/dev/null || true)"  # restored for the compose run
export AGENT_WORKERS="${AGENT_WORKERS:-2}"
# 12 job slots (2 x 6): the burst test starts 10 sessions at once and none may be left without an agent.
export AGENT_MAX_JOBS="${AGENT_MAX_JOBS:-6}"
# tests/cluster runs its own two-node LiveKit cluster with Redis beside the stack (about 2 min): redis-server.
WITH_REDIS=1 bash "$ROOT/scripts/install-system.sh" || die "redis-server could not be installed (tests/cluster needs it)"
started_here=0
if ! "$PY" -m services.stack status >/dev/null 2>&1; then
  started_here=1
  step "Starting the native stack for the stack, browser and chaos tests"
  if ! bash "$ROOT/scripts/up.sh"; then
    "$PY" -m services.stack down || true
    die "the native stack did not start"
  fi
fi
# Destructive tests (backup/restore replaces the database) run only against a stack this run started.
if [[ $started_here == 1 ]]; then
  export LVS_TEST_OWNS_STACK=1
else
  export LVS_TEST_OWNS_STACK=0
  info "the stack was already running: destructive tests (backup/restore) are skipped on it"
fi
stopped=0
stop_stack() {
  if [[ $started_here == 1 && $stopped == 0 ]]; then step "Stopping the native stack"; "$PY" -m services.stack down; fi
  stopped=1
}
trap stop_stack EXIT
step "Stack, browser and chaos tests (real livekit-server, Letta, PostgreSQL, Chromium)"
# The web API fuzz sends 10,000 requests in `make chaos` (about 3 min on 2 busy cores); here 2,000 (about 50 s).
native_rc=0
# --durations: the slowest tests are listed, so a CI run that grows past its budget shows where the time went
CHAOS_FUZZ_REQUESTS="${CHAOS_FUZZ_REQUESTS:-2000}" "$PY" -m pytest -m "not unit and not compose" --durations=25 \
  "$ROOT/tests" "$@" \
  || native_rc=$?

# The compose stack listens on the same ports (the same .env): the native stack is stopped first, and the
# compose run (scripts/test-compose.sh) stops its containers and the engine it started on every exit.
stop_stack
trap - EXIT
compose_rc=0
if [[ -n "${SKIP_COMPOSE:-}" ]]; then
  info "SKIP_COMPOSE is set: the compose stack is not tested (make test-compose runs it)"
elif [[ $started_here == 0 ]]; then
  # as the destructive tests: a developer's running stack is left alone (CI always starts its own)
  info "compose stack skipped: a native stack this run did not start runs on its ports ('make down', then 'make test-compose')"
else
  step "The compose stack on a real Docker engine (make test-compose)"
  # the native run's worker settings must not reach compose (AGENT_WORKERS sets its replicas there): only
  # what the caller set, as for `make test-compose` alone
  unset AGENT_WORKERS AGENT_MAX_JOBS LVS_TEST_OWNS_STACK
  eval "$caller_env"
  bash "$ROOT/scripts/test-compose.sh" || compose_rc=$?
fi
if ((native_rc != 0 || compose_rc != 0)); then
  die "make test failed: native stack, browser and chaos tests exit $native_rc; compose $compose_rc"
fi
done_ "make test passed"
