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

# Letta 0.16.8 writes its base 'openai' provider, with the OPENAI_BASE_URL of its first start, into the
# database and never updates it (ProviderManager.sync_base_providers creates, "no updates"): after a change
# of LLM_PORT or OPENAI_BASE_URL it kept offering the model at the first endpoint, so `make up` failed with
# "Letta offers no model … at <the new endpoint>". The row is pointed at the current URL before Letta
# starts; `make up` then moves the agents (services/shared/letta_agents.py follow_model_switch).
sync_provider_url() {
  [[ -n "${LETTA_PG_URI:-}" && -n "${OPENAI_BASE_URL:-}" ]] || return 0
  command -v psql >/dev/null || { echo "letta-entry: no psql here: the provider's stored base URL is unchecked" >&2; return 0; }
  local old
  old="$(psql "$LETTA_PG_URI" -qtAX -v ON_ERROR_STOP=1 -v url="$OPENAI_BASE_URL" 2>&1 <<'SQL'
SELECT to_regclass('public.providers') IS NOT NULL AS has_providers \gset
\if :has_providers
UPDATE providers p SET base_url = :'url', updated_at = now()
  FROM (SELECT id, base_url FROM providers WHERE name = 'openai' AND provider_category = 'base'
        AND NOT is_deleted AND rtrim(coalesce(base_url, ''), '/') <> rtrim(:'url', '/')) o
  WHERE p.id = o.id RETURNING o.base_url;
\endif
SQL
)" || { echo "letta-entry: could not check the provider's base URL in Letta's database: ${old//$LETTA_PG_URI/[uri]}" >&2; return 0; }
  [[ -z "$old" ]] || echo "letta-entry: Letta's provider 'openai' pointed at $old (stored at its first start); now $OPENAI_BASE_URL" >&2
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
  sync_provider_url
  exec "$@"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
