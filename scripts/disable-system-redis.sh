#!/usr/bin/env bash
# Debian's redis-server package starts a system Redis on 6379 (no password). The stack runs its own under
# supervisord (loopback, REDIS_PORT, a generated password, nothing on disk): stop and disable the system one.
source "$(dirname "$0")/lib.sh"

step "System Redis service (the stack runs its own)"
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl disable --now redis-server.service >/dev/null 2>&1 || true
  done_ "redis-server.service stopped and disabled"
  exit 0
fi
if command -v update-rc.d >/dev/null; then update-rc.d redis-server disable >/dev/null 2>&1 || true; fi
if [[ -x /etc/init.d/redis-server ]]; then /etc/init.d/redis-server stop >/dev/null 2>&1 || true; fi
# Without an init system the package's start may have been refused (policy-rc.d) or left a server behind.
pid_file=/run/redis/redis-server.pid
if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then kill "$(cat "$pid_file")" || true; fi
done_ "no system Redis left running"
