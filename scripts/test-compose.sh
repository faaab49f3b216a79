#!/usr/bin/env bash
# make test-compose: the containerised stack for real, on a machine that cannot pull images.
#   engine up (scripts/install-docker-engine.sh) -> local base images and stand-ins of the upstream images
#   -> `make up MODE=compose` from nothing to every container healthy -> smoke -> faults (tests/compose)
#   -> tls profile (Chromium) -> scale (two agent replicas, Redis, two livekit nodes)
#   -> `make down MODE=compose` (volumes kept) -> the engine stopped again if this run started it.
# The stand-ins replace the official images through the image settings (LIVEKIT_IMAGE, …); our image is
# built by compose as on a VM, from test bases that trust this machine's CA certificates.
# KEEP_ENGINE=1 leaves the engine running; SKIP_SMOKE=1 stops after the health checks, SKIP_FAULTS=1 after smoke;
# SKIP_TLS=1 / SKIP_SCALE=1 leave out the tls / scale step.
source "$(dirname "$0")/compose-lib.sh"
cd "$ROOT" || exit 1

started_at=$SECONDS
phase_at=$SECONDS
timings=()
phase_done() { timings+=("$1: $((SECONDS - phase_at)) s"); phase_at=$SECONDS; }

# ports the compose stack listens on: a native stack (or anything else) on them makes the run meaningless
stack_ports() {
  local key default
  for pair in LIVEKIT_PORT=7880 POSTGRES_PORT=5433 LETTA_PORT=8283 WEB_PORT=8080 RECOVERY_PORT=8082 AGENT_PORT=8081 \
    LLM_PORT=8090 EMBEDDINGS_PORT=8098 REDIS_PORT=6390 LETTA_REDIS_PORT=6389; do
    key="${pair%%=*}"; default="${pair#*=}"
    printf '%s=%s\n' "$key" "$(env_get "$key" | grep . || echo "$default")"
  done
}

check_ports_free() {
  step "Ports of the compose stack are free (a native stack on them must be stopped first)"
  local busy=() line port
  while IFS= read -r line; do
    port="${line#*=}"
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then busy+=("$line"); fi
  done < <(stack_ports)
  ((${#busy[@]} == 0)) || die "in use: ${busy[*]}: stop the stack on them ('make down MODE=native') or change the ports in .env"
  done_ "free"
}

# report_unhealthy: every container that is not running and healthy, by name, with its last log lines
report_unhealthy() {
  local line name state health
  while IFS=$'\t' read -r name state health; do
    [[ "$state" == running && ( "$health" == healthy || -z "$health" ) ]] && continue
    printf '\033[1;31m%s\033[0m is %s%s; its last log lines:\n' "$name" "$state" "${health:+ ($health)}" >&2
    docker logs --tail "${TAIL:-40}" "$name" 2>&1 | sed 's/^/    /' >&2
  done < <(COMPOSE_PROFILES="$ALL_PROFILES" compose ps --all --format '{{.Name}}\t{{.State}}\t{{.Health}}' 2>/dev/null)
}

# remove_test_containers WHY: every container of the test project (COMPOSE_PROJECT_NAME), whatever its state
remove_test_containers() {
  local ids
  ids="$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
  [[ -n "$ids" ]] || return 0
  step "Removing the containers of $COMPOSE_PROJECT_NAME $1"
  xargs docker rm -f >/dev/null <<<"$ids" || return 1
  done_ "removed $(wc -l <<<"$ids") containers"
}

env_saved=""
restore_env() {
  if [[ -n "$env_saved" ]]; then mv "$STACK_DIR/run/env.before-step" "$ENV_FILE"; env_saved=""; fi
}

engine_started=""
cleanup() {
  local rc=$?
  restore_env
  if ((rc != 0)); then
    report_unhealthy || true
    step "Stopping the containers after the failure (volumes kept)"
    bash "$ROOT/scripts/compose.sh" down >&2 || true
    # whatever `down` could not stop must not come back with the next engine start (restart: unless-stopped)
    [[ -z "${COMPOSE_PROJECT_NAME:-}" ]] || remove_test_containers "that 'down' left" >&2 || true
  fi
  if [[ -n "$engine_started" && -z "${KEEP_ENGINE:-}" ]]; then bash "$ROOT/scripts/install-docker-engine.sh" stop || true; fi
  ((${#timings[@]} == 0)) || { step "Timings"; printf '    %s\n' "${timings[@]}" "total: $((SECONDS - started_at)) s"; }
  if ((rc == 0)); then done_ "test-compose passed"; else printf '\033[1;31mtest-compose failed\033[0m\n' >&2; fi
  exit "$rc"
}
trap cleanup EXIT

# 1. engine
docker info >/dev/null 2>&1 || engine_started=1
env_lines="$(bash "$ROOT/scripts/install-docker-engine.sh")" \
  || die "no Docker engine, and none could be installed or started (output above): test-compose cannot run"
eval "$env_lines"
phase_done "engine"
# The test project's containers of an earlier run that did not end (killed, or its `down` failed) come back
# with the engine (restart: unless-stopped) and take the stack's ports: they are removed before the check.
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-letta-voice-stack-test}"
remove_test_containers "an earlier run left (they restart with the engine)" \
  || die "cannot remove the containers of $COMPOSE_PROJECT_NAME ('docker ps -a' lists them)"
check_ports_free

# 2. images: bases, then stand-ins of the upstream images; our image's bases trust the CA (test path only)
bash "$ROOT/scripts/build-base-images.sh" || die "the base images did not build"
standins="$(bash "$ROOT/scripts/build-standins.sh")" || die "the stand-in images did not build"
while IFS= read -r line; do export "${line?}"; done <<<"$standins"
export PYTHON_IMAGE=lvs-test/python:3.11-bookworm-ca NODE_IMAGE=lvs-test/node:bookworm-ca
info "images: $(tr '\n' ' ' <<<"$standins")PYTHON_IMAGE=$PYTHON_IMAGE NODE_IMAGE=$NODE_IMAGE"
phase_done "base images and stand-ins"

# 3. a compose project of the tests' own, from empty volumes: each clean clone generates its own secrets
# (POSTGRES_PASSWORD, …), so a database volume of an earlier run, or of a deployment on this machine, is never
# reused (letta-db keeps the password it was made with) nor touched
step "Compose project $COMPOSE_PROJECT_NAME, from empty volumes"
old_volumes="$(docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
[[ -z "$old_volumes" ]] || xargs docker volume rm >/dev/null <<<"$old_volumes" || die "cannot remove the volumes of an earlier test run: $old_volumes"
if [[ -n "$old_volumes" ]]; then done_ "removed an earlier run's volumes: ${old_volumes//$'\n'/ }"; else done_ "no earlier volumes"; fi

# 4. the stack, from nothing to healthy, through the product's own command
make --no-print-directory up MODE=compose || die "make up MODE=compose failed"
phase_done "make up MODE=compose (build our image, start, healthy)"

# 5. smoke
if [[ -z "${SKIP_SMOKE:-}" ]]; then
  make --no-print-directory smoke MODE=compose || die "make smoke MODE=compose failed"
  phase_done "make smoke MODE=compose"
fi

# 6. faults, each with its figure (tests/compose): agent container SIGKILL mid-session, livekit container
# restart, backup/restore round trip, `make down && make up` keeping the agent and a word told before
if [[ -z "${SKIP_SMOKE:-}${SKIP_FAULTS:-}" ]]; then
  bash "$ROOT/scripts/install-python.sh" >/dev/null || die "the test venv (.stack/venv) could not be installed"
  step "Faults against the compose stack (tests/compose)"
  if ! "$STACK_DIR/venv/bin/python" -m pytest -q -s -m compose "$ROOT/tests/compose/test_compose_faults.py" -p no:cacheprovider \
    | tee "$STACK_DIR/run/test-compose-faults.log"; then
    die "a compose fault test failed (output above)"
  fi
  step "Fault figures"
  grep -o 'compose figure: .*' "$STACK_DIR/run/test-compose-faults.log" | sed 's/^compose figure: /    /'
  phase_done "faults (tests/compose)"
fi

# 7. the tls profile: Caddy with `tls internal` in front, real Chromium trusting its CA over HTTPS and wss.
# The settings go into .env for this step only (the web container reads them from there) and the file is
# restored afterwards (also by the cleanup). LIVEKIT_PUBLIC_URL is blank for compose's interpolation alone:
# it would turn on livekit's use_external_ip, whose STUN lookup fails without internet.
TLS_DOMAIN="${TLS_DOMAIN:-voice.lvs.test}"
if [[ -z "${SKIP_SMOKE:-}${SKIP_FAULTS:-}${SKIP_TLS:-}" ]]; then
  step "tls profile: DEPLOY_DOMAIN=$TLS_DOMAIN DEPLOY_TLS=internal (Caddy), real Chromium over HTTPS and wss"
  install -m 600 "$ENV_FILE" "$STACK_DIR/run/env.before-step"; env_saved=1
  printf '\n# make test-compose, tls step (removed again)\nDEPLOY_DOMAIN=%s\nDEPLOY_TLS=internal\nLIVEKIT_PUBLIC_URL=wss://%s\n' \
    "$TLS_DOMAIN" "$TLS_DOMAIN" >>"$ENV_FILE"
  LIVEKIT_PUBLIC_URL="" make --no-print-directory up MODE=compose || die "make up MODE=compose with the tls profile failed"
  phase_done "make up MODE=compose with the tls profile"
  if ! "$STACK_DIR/venv/bin/python" -m pytest -q -s -m compose "$ROOT/tests/compose/test_compose_tls.py" \
    -p no:cacheprovider | tee "$STACK_DIR/run/test-compose-tls.log"; then
    die "the tls profile test failed (output above)"
  fi
  grep -o 'compose figure: .*' "$STACK_DIR/run/test-compose-tls.log" | sed 's/^compose figure: /    /'
  restore_env
  phase_done "tls profile (Chromium over HTTPS/wss)"
fi

# 8. scale: two agent replicas (AGENT_WORKERS=2) and the scale profile (LIVEKIT_NODES=2: Redis and a second
# livekit-server node), on the same stack and volumes; .env is restored afterwards (also by the cleanup).
if [[ -z "${SKIP_SMOKE:-}${SKIP_FAULTS:-}${SKIP_SCALE:-}" ]]; then
  step "scale: AGENT_WORKERS=2 LIVEKIT_NODES=2 (two agent replicas; Redis and a second livekit-server node)"
  install -m 600 "$ENV_FILE" "$STACK_DIR/run/env.before-step"; env_saved=1
  printf '\n# make test-compose, scale step (removed again)\nAGENT_WORKERS=2\nLIVEKIT_NODES=2\n' >>"$ENV_FILE"
  make --no-print-directory up MODE=compose || die "make up MODE=compose with AGENT_WORKERS=2 LIVEKIT_NODES=2 failed"
  phase_done "make up MODE=compose with two agent replicas and the scale profile"
  if ! "$STACK_DIR/venv/bin/python" -m pytest -q -s -m compose "$ROOT/tests/compose/test_compose_scale.py" \
    -p no:cacheprovider | tee "$STACK_DIR/run/test-compose-scale.log"; then
    die "a scale test failed (output above)"
  fi
  grep -o 'compose figure: .*' "$STACK_DIR/run/test-compose-scale.log" | sed 's/^compose figure: /    /'
  restore_env
  phase_done "scale (tests/compose/test_compose_scale.py)"
fi

# 9. down (volumes kept), engine stopped by the cleanup
make --no-print-directory down MODE=compose || die "make down MODE=compose failed"
phase_done "make down MODE=compose"
