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

# Mask the value after "password:" and the password part of a postgres URI, line by line.
redact() {
  sed -u -E \
    -e 's#([Pp]assword[^:=]*[:=][[:space:]]*)[^[:space:]]+#\1[redacted]#g' \
    -e 's#(postgres[a-z0-9+]*://[^:/@[:space:]]+:)[^@[:space:]]+@#\1[redacted]@#g'
}

main() {
  case "$(resolve_provider)" in
    local)
      # services.stack.programs.letta_env: the local llama.cpp server; Letta needs a non-empty key
      export OPENAI_BASE_URL="http://127.0.0.1:${LLM_PORT:-8090}/v1" OPENAI_API_KEY="sk-local-no-key" ;;
    openai) ;;
    *) echo "letta-entry: LLM_PROVIDER must be auto, local or openai" >&2; exit 2 ;;
  esac
  exec > >(redact) 2>&1
  exec "$@"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
