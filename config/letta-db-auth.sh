#!/usr/bin/env bash
# letta-db asks every connection for its password (compose mode; `make up` runs this in the container as
# the postgres user, before Letta starts). With host networking the container's 127.0.0.1 is the VM's, and
# the image's initdb default trusts local and loopback connections: any local user of the VM would reach
# Letta's database without the password.
#
# New volumes are initialised with scram (POSTGRES_INITDB_ARGS in compose.yaml). A volume made before still
# has `trust` lines: while they hold, the role first gets the password of this .env (POSTGRES_PASSWORD, so
# Letta's LETTA_PG_URI keeps working: the volume may have been created with another .env), then every
# `trust` line becomes scram-sha-256 and the server reloads. Finally: no password is refused on TCP, and
# POSTGRES_PASSWORD is accepted (else a message names the setting). Prints one line saying what it did.
set -euo pipefail

hba="${PGDATA:?PGDATA is not set}/pg_hba.conf"
user="${POSTGRES_USER:-postgres}"
port="${PGPORT:-5432}"
password="${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set: run scripts/generate-secrets.sh}"
TRUST_LINE='^[[:space:]]*[^#[:space:]].*[[:space:]]trust[[:space:]]*$'

sql() { psql -v ON_ERROR_STOP=1 --no-psqlrc -qtA -p "$port" -U "$user" -d postgres "$@"; }

did="already asks for passwords"
if grep -qE "$TRUST_LINE" "$hba"; then
  # still trusted: no password is needed for this, and afterwards the role's password is this .env's
  PGPASSWORD="" sql -w -v u="$user" -v pw="$password" <<<"ALTER ROLE :\"u\" PASSWORD :'pw';" >/dev/null
  sed -i -E "/^[[:space:]]*#/! s/[[:space:]]trust[[:space:]]*$/ scram-sha-256/" "$hba"
  PGPASSWORD="$password" sql -w -c "SELECT pg_reload_conf()" >/dev/null
  did="switched from trust to scram-sha-256 (role $user has POSTGRES_PASSWORD)"
fi

if PGPASSWORD="" sql -w -h 127.0.0.1 -c "SELECT 1" >/dev/null 2>&1; then
  echo "letta-db-auth: a connection without a password to 127.0.0.1:$port was accepted ($hba)" >&2
  exit 1
fi
if ! PGPASSWORD="$password" sql -w -h 127.0.0.1 -c "SELECT 1" >/dev/null 2>&1; then
  echo "letta-db-auth: POSTGRES_PASSWORD is not the password of role $user in the letta-db volume (made or" \
    "switched with another .env): put that .env's POSTGRES_PASSWORD back, or restore a backup into a new volume" >&2
  exit 1
fi
echo "letta-db-auth: $did"
