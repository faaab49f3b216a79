#!/usr/bin/env bash
# Dump Letta's database (every assistant's memory) to a file: make backup [FILE=backups/x.dump]
# Native mode: pg_dump of the pgserver wheel against POSTGRES_*; compose mode: pg_dump in the letta-db
# container. Same archive format both ways (a dump moves between them). MODE=native|compose overrides.
source "$(dirname "$0")/compose-lib.sh"
cd "$ROOT" || exit 1
umask 077  # dumps and new folders: owner only (the runner sets the same for the stack's own files)

FILE="${FILE:-}"
for arg in "$@"; do
  case "$arg" in
    FILE=*) FILE="${arg#FILE=}" ;;
    *) die "unknown argument '$arg' (expected FILE=...)" ;;
  esac
done
FILE="${FILE:-backups/letta-$(date -u +%Y%m%d-%H%M%S).dump}"
# A new folder is made private (umask 077); an existing one keeps its mode: it is the operator's.
mkdir -p "$(dirname "$FILE")"
mode="$(stack_mode)"

step "Backing up Letta's database ($mode mode) to $FILE"
if [[ "$mode" == native ]]; then
  [[ -x "$STACK_DIR/venv/bin/python" ]] || die "the native stack is not installed ('make up')"
  "$STACK_DIR/venv/bin/python" -m services.deploy.pgdump dump "$FILE" || die "backup failed"
else
  require_compose
  user="$(env_get POSTGRES_USER)"; db="$(env_get POSTGRES_DB)"
  (umask 077 && compose exec -T letta-db pg_dump -Fc -U "${user:-letta}" -d "${db:-letta}" >"$FILE.part") \
    || { rm -f "$FILE.part"; die "pg_dump in letta-db failed: is the stack up? ('scripts/compose.sh status')"; }
  mv "$FILE.part" "$FILE"
  tables="$(compose exec -T letta-db pg_restore --list <"$FILE" | grep -c ' TABLE DATA ' || true)"
  info "wrote $FILE ($(du -h "$FILE" | cut -f1), $tables tables)"
fi
done_ "backup in $FILE (restore: make restore FILE=$FILE)"
