#!/usr/bin/env bash
# Create the stack's secrets in .env once (LiveKit key + 32+ byte secret, Letta and Postgres passwords).
# Existing values are kept, so running it again changes nothing; no secret is printed.
#   scripts/generate-secrets.sh [ENV_FILE]
source "$(dirname "$0")/lib.sh"
target="${1:-${ENV_FILE:-$ROOT/.env}}"
step "Secrets in $target"
(cd "$ROOT" && python3 -m services.deploy.secrets --env-file "$target") || die "could not write secrets into $target"
