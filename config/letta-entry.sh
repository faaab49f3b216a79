#!/usr/bin/env bash
# Entry of the letta container (compose.yaml): resolve the model provider the way the settings do, keep
# passwords out of the log, then exec the image's own start script ("$@": migrations, then the server).
#
# Letta 0.16.8 prints its server password at start ("Using secure mode with password: …") and its
# migrations print the database URI; both lines are redacted before they reach `docker compose logs`.
set -euo pipefail

# services.shared.settings.LLMSettings.resolved_provider: auto = openai when OPENAI_API_KEY is set.
resolve_provider() {
  local provider="${LLM_PROVIDER:-auto}"
  if [[ "$provider" == auto ]]; then
    if [[ -n "${OPENAI_API_KEY:-}" ]]; then provider=openai; else provider=local; fi
  fi
  printf '%s' "$provider"
}

# services.shared.settings.LLMSettings.model_name: LLM_MODEL, else the offline default or OpenAI's.
resolve_model() {
  if [[ -n "${LLM_MODEL:-}" ]]; then printf '%s' "$LLM_MODEL"
  elif [[ "$1" == local ]]; then printf 'qwen2.5-coder-0.5b'
  else printf 'gpt-4o-mini'; fi
}

# Letta's record of our provider follows the settings before Letta starts (config/letta-provider-sync.sql:
# Letta 0.16.8 keeps its first base URL and never revives a model it soft-deleted). Skipped without a database.
sync_provider() {
  [[ -n "${LETTA_PG_URI:-}" ]] || return 0
  if ! command -v psql >/dev/null; then echo "letta-entry: no psql in this image: provider sync skipped" >&2; return 0; fi
  psql "$LETTA_PG_URI" -qtA -v endpoint="$LVS_PROVIDER_ENDPOINT" -v model="$LVS_PROVIDER_MODEL" \
    -f "$(dirname "${BASH_SOURCE[0]}")/letta-provider-sync.sql" 2>&1 | sed -u 's/^/letta-entry: provider sync: /' \
    || echo "letta-entry: provider sync failed (Letta starts anyway)" >&2
}

# Mask the value after "password:" and the password part of a postgres URI, line by line.
redact() {
  sed -u -E \
    -e 's#([Pp]assword[^:=]*[:=][[:space:]]*)[^[:space:]]+#\1[redacted]#g' \
    -e 's#(postgres[a-z0-9+]*://[^:/@[:space:]]+:)[^@[:space:]]+@#\1[redacted]@#g'
}

# Letta's startup.sh starts `redis-server --bind 0.0.0.0` (no password) unless LETTA_REDIS_HOST is set: with
# host networking that Redis answers on every interface of the VM. compose.yaml sets LVS_LETTA_REDIS=loopback:
# the Redis is started here on 127.0.0.1 instead (LETTA_REDIS_PORT, off 6379 where a VM's own Redis may be),
# and LETTA_REDIS_HOST sends startup.sh and Letta to it.
start_loopback_redis() {
  [[ "${LVS_LETTA_REDIS:-}" == loopback && -z "${LETTA_REDIS_HOST:-}" ]] || return 0
  local port="${LETTA_REDIS_PORT:-6389}"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --protected-mode yes --save "" --appendonly no \
    || { echo "letta-entry: redis-server did not start on 127.0.0.1:$port" >&2; exit 1; }
  export LETTA_REDIS_HOST=127.0.0.1 LETTA_REDIS_PORT="$port"
}

main() {
  local provider
  provider="$(resolve_provider)"
  case "$provider" in
    local)
      # services.stack.programs.letta_env: the local llama.cpp server; Letta needs a non-empty key
      export OPENAI_BASE_URL="http://127.0.0.1:${LLM_PORT:-8090}/v1" OPENAI_API_KEY="sk-local-no-key" ;;
    openai) ;;
    *) echo "letta-entry: LLM_PROVIDER must be auto, local or openai" >&2; exit 2 ;;
  esac
  LVS_PROVIDER_ENDPOINT="${OPENAI_BASE_URL:-}"; LVS_PROVIDER_ENDPOINT="${LVS_PROVIDER_ENDPOINT%/}"
  LVS_PROVIDER_MODEL="$(resolve_model "$provider")"
  export LVS_PROVIDER_ENDPOINT LVS_PROVIDER_MODEL
  exec > >(redact) 2>&1
  start_loopback_redis
  sync_provider
  exec "$@"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
