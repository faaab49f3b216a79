#!/usr/bin/env bash
# The stack in containers (compose.yaml): what `make up|down|status|logs|smoke` run in compose mode.
#   scripts/compose.sh up | down | status | logs [SERVICE] [--follow] | smoke [ARGS] | users ARGS | config
# Profiles come from the settings: local-models unless a cloud LLM is configured, tls when DEPLOY_DOMAIN
# is set. Data lives in named volumes; `down` never removes them.
source "$(dirname "$0")/compose-lib.sh"
cd "$ROOT" || exit 1

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

cmd_up() {
  require_compose
  bash "$ROOT/scripts/generate-secrets.sh" "$ENV_FILE"
  export COMPOSE_PROFILES; COMPOSE_PROFILES="$(compose_profiles)"
  step "Building our image (agent, web, recovery${COMPOSE_PROFILES:+; profiles: $COMPOSE_PROFILES})"
  compose build || die "the image did not build: see the output above"
  step "PostgreSQL (letta-db) asks every connection for its password"
  compose up --detach --wait --wait-timeout "${STACK_HEALTH_TIMEOUT:-600}" letta-db \
    || { unhealthy_report || true; die "letta-db is not healthy (its last log lines above)"; }
  compose exec -T -u postgres letta-db bash /lvs/letta-db-auth.sh | sed 's/^/    /' \
    || die "letta-db does not ask for passwords as it should (message above)"
  step "Starting the containers and waiting until every one is healthy"
  info "compose recreates exactly the containers whose settings or image changed; the others keep running"
  if ! compose up --detach --remove-orphans --wait --wait-timeout "${STACK_HEALTH_TIMEOUT:-600}"; then
    compose ps --all
    unhealthy_report || true
    die "some containers are not healthy (named above, with their last log lines; 'make logs s=SERVICE' for more)"
  fi
  compose ps
  step "Agent workers registered with livekit-server (AGENT_WORKERS=$(env_get AGENT_WORKERS | grep . || echo 1))"
  compose exec -T web python -m services.deploy.workers --wait "${STACK_HEALTH_TIMEOUT:-600}" \
    || die "an agent worker did not register (named above; 'make logs s=agent' for its log)"
  step "Default Letta agent"
  compose exec -T web python -m services.deploy.default_agent || die "could not prepare the default agent"
  step "Web accounts"
  compose exec -T web python -m services.web.users ensure-owner || die "could not create the owner account"
  local domain; domain="$(env_get DEPLOY_DOMAIN)"
  if [[ -n "$domain" ]]; then
    done_ "the page: https://$domain/"
  else
    done_ "the page: http://127.0.0.1:$(env_get WEB_PORT | grep . || echo 8080)/ (on this machine)"
  fi
  if [[ "$COMPOSE_PROFILES" == *local-models* ]]; then
    info "note: the offline model (Qwen2.5-Coder-0.5B) answers simple questions, no long-term memory; set OPENAI_API_KEY for a full assistant."
  fi
}

cmd_down() {
  require_compose
  step "Stopping the containers (volumes with Letta's memory are kept)"
  # compose interpolates the whole file even to stop it: a secret compose.yaml requires (${KEY:?…}) that is
  # not set yet (a run that failed before generate-secrets.sh) gets a placeholder here, so `down` still stops
  local key
  for key in $(grep -o '\${[A-Z_]*:?' "$ROOT/compose.yaml" | tr -d '${:?' | sort -u); do
    [[ -n "$(env_get "$key")" ]] || export "$key=unset-when-stopping"
  done
  COMPOSE_PROFILES="$ALL_PROFILES" compose down
  done_ "stopped"
}

cmd_status() {
  require_compose
  COMPOSE_PROFILES="$ALL_PROFILES" compose ps --all --format "table {{.Name}}\t{{.State}}\t{{.Health}}\t{{.Status}}"
  if [[ -n "$(compose ps -q --status running web 2>/dev/null)" ]]; then
    echo "agent workers:"
    compose exec -T web python -m services.deploy.workers || true
  fi
}

cmd_logs() {
  require_compose
  local args=(--tail "${TAIL:-100}") services=()
  for arg in "$@"; do
    case "$arg" in
      -f|--follow) args+=(--follow) ;;
      *) services+=("$arg") ;;
    esac
  done
  COMPOSE_PROFILES="$ALL_PROFILES" compose logs "${args[@]}" "${services[@]}"
}

cmd_smoke() {
  require_compose
  # a product command of our image (services/smoke), on the host network like the services it checks
  COMPOSE_PROFILES="$(compose_profiles)" compose run --rm --no-deps -T web python -m services.smoke "$@"
}

cmd_users() {
  require_compose
  compose exec web python -m services.web.users "$@"
}

cmd_config() {
  COMPOSE_PROFILES="$(compose_profiles)" compose config --quiet && done_ "compose.yaml is valid"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  smoke) shift; cmd_smoke "$@" ;;
  users) shift; cmd_users "$@" ;;
  config) cmd_config ;;
  *) usage ;;
esac
