#!/usr/bin/env bash
# Shared helpers for the install and run steps: paths, progress lines, version stamps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# STACK_DIR / STACK_CACHE_DIR from .env when not in the environment (the settings model reads the same).
env_file_value() { [[ -f "$ROOT/.env" ]] && sed -n "s/^$1=//p" "$ROOT/.env" | tail -n 1 | tr -d '"'"'" || true; }
: "${STACK_DIR:=$(env_file_value STACK_DIR)}"
: "${STACK_CACHE_DIR:=$(env_file_value STACK_CACHE_DIR)}"
[[ -z "$STACK_DIR" || "$STACK_DIR" == /* ]] || STACK_DIR="$ROOT/$STACK_DIR"
[[ -z "$STACK_CACHE_DIR" || "$STACK_CACHE_DIR" == /* ]] || STACK_CACHE_DIR="$ROOT/$STACK_CACHE_DIR"
STACK_DIR="${STACK_DIR:-$ROOT/.stack}"
# Immutable, versioned builds (binaries, venvs). CI points this at a per-user cache so a
# clean clone on a warm machine reuses them; data and logs always stay under STACK_DIR.
STACK_CACHE_DIR="${STACK_CACHE_DIR:-$STACK_DIR/cache}"
export ROOT STACK_DIR STACK_CACHE_DIR

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
done_() { printf '    \033[32mok\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# stamp_ok NAME VALUE: true when the stamp file NAME holds VALUE (a step already done).
stamp_ok() { [[ -f "$STACK_CACHE_DIR/stamps/$1" && "$(cat "$STACK_CACHE_DIR/stamps/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STACK_CACHE_DIR/stamps"; printf '%s' "$2" >"$STACK_CACHE_DIR/stamps/$1"; }
