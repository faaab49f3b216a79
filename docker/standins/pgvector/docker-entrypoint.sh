#!/usr/bin/env bash
# Entrypoint of the pgvector stand-in, written to the contract of docker-library/postgres's
# docker-entrypoint.sh (not a copy of it):
#   - a first argument starting with "-" means: postgres with these options; any other command but
#     postgres is exec'd as it is (the letta image relies on that);
#   - started as root, it owns PGDATA to postgres and runs itself again as postgres;
#   - with an empty PGDATA: initdb with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD (required
#     unless POSTGRES_HOST_AUTH_METHOD=trust), `host all all all scram-sha-256` in pg_hba.conf,
#     POSTGRES_DB (default: the user) created by a server on the socket only, /docker-entrypoint-initdb.d
#     run; then postgres in the foreground. PGPORT is the port, as libpq's.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

if [[ "${1:-}" == -* ]]; then set -- postgres "$@"; fi
if [[ "${1:-}" != postgres ]]; then exec "$@"; fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

init_database() {
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  if [[ -z "${POSTGRES_PASSWORD:-}" && "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]]; then
    log "error: the database is uninitialized and POSTGRES_PASSWORD is not set (or POSTGRES_HOST_AUTH_METHOD=trust)"
    exit 1
  fi
  log "initdb in $PGDATA for role $POSTGRES_USER"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, as upstream
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") ${POSTGRES_INITDB_ARGS:-} >&2
  printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
  local port="${PGPORT:-5432}"
  export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"  # as upstream's docker_temp_server_start
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p $port" -w start >&2
  local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --port "$port")
  if [[ "$POSTGRES_DB" != postgres ]]; then
    log "creating database $POSTGRES_DB"
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >&2
  fi
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; bash "$f" ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >&2 ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  log "PostgreSQL init process complete; ready for start up"
}

[[ -s "$PGDATA/PG_VERSION" ]] || init_database
exec "$@"
