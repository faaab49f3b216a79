#!/usr/bin/env bash
# Replace Letta's database with a dump: make restore FILE=backups/x.dump [CONFIRM=yes]
# Asks before overwriting (type 'yes'), or CONFIRM=yes for scripts. The current database is dumped to
# backups/letta-before-restore-*.dump first (nothing is dropped without it), then Letta is stopped, the
# database recreated from the dump, and Letta started again. MODE=native|compose overrides the detected mode.
source "$(dirname "$0")/compose-lib.sh"
cd "$ROOT" || exit 1
umask 077  # dumps and new folders: owner only (the runner sets the same for the stack's own files)

FILE="${FILE:-}"; CONFIRM="${CONFIRM:-}"
for arg in "$@"; do
  case "$arg" in
    FILE=*) FILE="${arg#FILE=}" ;;
    CONFIRM=*) CONFIRM="${arg#CONFIRM=}" ;;
    *) die "unknown argument '$arg' (expected FILE=... CONFIRM=yes)" ;;
  esac
done
[[ -n "$FILE" ]] || die "FILE is required: make restore FILE=backups/letta-....dump"
[[ -f "$FILE" ]] || die "FILE=$FILE does not exist"
mode="$(stack_mode)"

if [[ "$CONFIRM" != yes ]]; then
  if [[ -t 0 ]]; then
    read -r -p "Replace every assistant's memory in the $mode stack with $FILE? Type 'yes': " answer
    [[ "$answer" == yes ]] || die "not restored (you did not type 'yes')"
  else
    die "restore replaces Letta's database: confirm with CONFIRM=yes (make restore FILE=$FILE CONFIRM=yes)"
  fi
fi

step "Restoring $FILE into Letta's database ($mode mode)"
if [[ "$mode" == native ]]; then
  [[ -x "$STACK_DIR/venv/bin/python" ]] || die "the native stack is not installed ('make up')"
  "$STACK_DIR/venv/bin/python" -m services.deploy.pgdump restore "$FILE" --yes || die "restore failed"
else
  require_compose
  user="$(env_get POSTGRES_USER)"; user="${user:-letta}"; db="$(env_get POSTGRES_DB)"; db="${db:-letta}"
  tables="$(compose exec -T letta-db pg_restore --list <"$FILE" | grep -c ' TABLE DATA ')" \
    || die "$FILE is not a pg_dump archive (or letta-db is not running)"
  info "$FILE is a valid archive ($tables tables)"
  safety="$ROOT/backups/letta-before-restore-$(date -u +%Y%m%d-%H%M%S).dump"
  info "keeping the current database first: $safety"
  mkdir -p "$ROOT/backups"
  compose exec -T letta-db pg_dump -Fc -U "$user" -d "$db" >"$safety.part" && mv "$safety.part" "$safety" \
    || { rm -f "$safety.part"; die "could not dump the current database: nothing was dropped"; }
  info "stopping letta"; compose stop letta
  info "recreating database '$db'"
  compose exec -T letta-db psql -U "$user" -d postgres -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
    && compose exec -T letta-db psql -U "$user" -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\" OWNER \"$user\"" \
    || die "could not recreate the database"
  info "restoring $tables tables"
  compose exec -T letta-db pg_restore -U "$user" -d "$db" --no-owner --exit-on-error <"$FILE" || die "pg_restore failed"
  info "starting letta"
  COMPOSE_PROFILES="$(compose_profiles)" compose up --detach --wait letta || die "letta did not come back healthy"
fi
done_ "restored $FILE"
