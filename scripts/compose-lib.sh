#!/usr/bin/env bash
# Helpers shared by the compose-mode scripts (compose.sh, backup.sh, restore.sh, deploy-vm.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENV_FILE="${ENV_FILE:-$ROOT/.env}"
export ALL_PROFILES="local-models,local-speech,tls,scale"  # every profile, for down/status/logs

# env_get KEY: the value the stack will use: the process environment first, then the .env file.
env_get() {
  local key="$1" value
  if [[ -n "${!key+x}" ]]; then printf '%s' "${!key}"; return; fi
  [[ -f "$ENV_FILE" ]] || return 0
  value="$(grep -E "^[[:space:]]*(export[[:space:]]+)?${key}[[:space:]]*=" "$ENV_FILE" | tail -n 1 | cut -d= -f2-)"
  value="${value#"${value%%[![:space:]]*}"}"; value="${value%"${value##*[![:space:]]}"}"
  if [[ "$value" =~ ^\'(.*)\'$ || "$value" =~ ^\"(.*)\"$ ]]; then value="${BASH_REMATCH[1]}"; fi
  printf '%s' "$value"
}

# compose_profiles: local-models when the LLM resolves to the local model (as LLMSettings.resolved_provider
# does), tls when DEPLOY_DOMAIN is set, scale when LIVEKIT_NODES is 2 (compose.yaml has two nodes at most).
compose_profiles() {
  local provider nodes profiles=()
  nodes="$(env_get LIVEKIT_NODES)"; nodes="${nodes:-1}"
  [[ "$nodes" =~ ^[12]$ ]] \
    || die "LIVEKIT_NODES=$nodes: compose mode runs 1 node, or 2 with the scale profile (more: docs/deploy.md, several VMs)"
  provider="$(env_get LLM_PROVIDER)"; provider="${provider:-auto}"
  if [[ "$provider" == local || ( "$provider" == auto && -z "$(env_get OPENAI_API_KEY)" ) ]]; then
    profiles+=(local-models)
  fi
  local stt tts; stt="$(env_get AGENT_STT)"; tts="$(env_get AGENT_TTS)"
  # the local speech service, when the worker uses it (offline STT or TTS, the defaults)
  [[ "${stt:-offline}" == offline || "${tts:-offline}" == offline ]] && profiles+=(local-speech)
  [[ -n "$(env_get DEPLOY_DOMAIN)" ]] && profiles+=(tls)
  ((nodes == 2)) && profiles+=(scale)
  local IFS=,; printf '%s' "${profiles[*]}"
}

docker_engine_up() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

# compose ARGS...: Docker Compose v2 on this project (its own name, so volumes survive a renamed folder).
compose() {
  local env_args=()
  [[ -f "$ENV_FILE" ]] && env_args=(--env-file "$ENV_FILE")
  docker compose --project-directory "$ROOT" -f "$ROOT/compose.yaml" "${env_args[@]}" "$@"
}

# unhealthy_report: every container of the project that is not running and healthy, by name, with its
# last log lines (TAIL, default 40), on stderr; false when there was none.
unhealthy_report() {
  local name state health found=1
  while IFS=$'\t' read -r name state health; do
    [[ -n "$name" ]] || continue
    [[ "$state" == running && ( "$health" == healthy || -z "$health" ) ]] && continue
    found=0
    printf '\033[1;31m%s\033[0m is %s%s; its last log lines:\n' "$name" "$state" "${health:+ ($health)}" >&2
    docker logs --tail "${TAIL:-40}" "$name" 2>&1 | sed 's/^/    /' >&2
  done < <(COMPOSE_PROFILES="$ALL_PROFILES" compose ps --all --format '{{.Name}}\t{{.State}}\t{{.Health}}' 2>/dev/null)
  return "$found"
}

require_compose() {
  command -v docker >/dev/null || die "docker is not installed: install Docker Engine with the compose plugin."
  docker_engine_up || die "the Docker engine does not answer ('docker info' fails): start it, or use MODE=native."
  docker compose version >/dev/null 2>&1 \
    || die "the Docker Compose v2 plugin is missing ('docker compose version'): install docker-compose-plugin."
}

# stack_mode: MODE if set (native|compose), else compose when our compose project's database is running.
stack_mode() {
  case "${MODE:-}" in
    native|compose) printf '%s' "$MODE"; return ;;
    "") ;;
    *) die "MODE must be native or compose (got '$MODE')" ;;
  esac
  if docker_engine_up && [[ -n "$(compose ps -q letta-db 2>/dev/null)" ]]; then printf compose; else printf native; fi
}
