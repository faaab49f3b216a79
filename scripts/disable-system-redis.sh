#!/usr/bin/env bash
# Debian's redis-server package starts a system Redis on 6379 (no password). The stack runs its own under
# supervisord (loopback, REDIS_PORT, a generated password, nothing on disk): stop and disable the system one.
# (The paths are variables for tests/unit/test_install_redis.py.)
source "$(dirname "$0")/lib.sh"
systemd_dir="${SYSTEMD_RUN_DIR:-/run/systemd/system}"
init_script="${REDIS_INIT_SCRIPT:-/etc/init.d/redis-server}"
pid_file="${REDIS_SYSTEM_PIDFILE:-/run/redis/redis-server.pid}"

step "System Redis service (the stack runs its own)"
if command -v systemctl >/dev/null && [[ -d "$systemd_dir" ]]; then
  systemctl disable --now redis-server.service >/dev/null 2>&1 || true
  done_ "redis-server.service stopped and disabled"
  exit 0
fi
if command -v update-rc.d >/dev/null; then update-rc.d redis-server disable >/dev/null 2>&1 || true; fi
if [[ -x "$init_script" ]]; then "$init_script" stop >/dev/null 2>&1 || true; fi
# Without an init system the package's start may have been refused (policy-rc.d) or left a server behind.
if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then kill "$(cat "$pid_file")" || true; fi
done_ "no system Redis left running"
