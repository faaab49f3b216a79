#!/usr/bin/env bash
# System packages the native stack needs at run time: espeak-ng (offline TTS), unzip, runuser; redis-server
# for a LiveKit cluster (LIVEKIT_NODES > 1). CI adds chromium for the browser tests with --with-browser, and
# the Docker engine make test-compose runs (docker.io, debootstrap for the local base images;
# scripts/install-docker-engine.sh) with --with-docker.
source "$(dirname "$0")/lib.sh"

: "${LIVEKIT_NODES:=$(env_file_value LIVEKIT_NODES)}"
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v unzip >/dev/null || need+=(unzip)
command -v runuser >/dev/null || need+=(util-linux)
# WITH_REDIS=1: also for the cluster test (scripts/test.sh), which runs its own cluster beside a one-node stack.
if [[ "${LIVEKIT_NODES:-1}" -gt 1 || "${WITH_REDIS:-0}" == 1 ]]; then
  [[ -x "${REDIS_SERVER_BIN:-/usr/bin/redis-server}" ]] || need+=(redis-server)
fi
for arg in "$@"; do
  case "$arg" in
    --with-browser)
      [[ -x /usr/bin/chromium ]] || need+=(chromium)
      command -v sox >/dev/null || need+=(sox)
      command -v certutil >/dev/null || need+=(libnss3-tools) ;;  # Chromium trusting Caddy's test CA
    --with-docker)
      command -v dockerd >/dev/null && command -v docker >/dev/null || need+=(docker.io)
      command -v debootstrap >/dev/null || need+=(debootstrap) ;;
    *) die "unknown option '$arg' (expected --with-browser, --with-docker)" ;;
  esac
done
step "System packages"
if [[ ${#need[@]} -eq 0 ]]; then done_ "present"; exit 0; fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
  die "missing system packages: ${need[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${need[*]}) and run again."
fi
info "apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
done_ "installed ${need[*]}"
if [[ " ${need[*]} " == *" redis-server "* ]]; then
  bash "$ROOT/scripts/disable-system-redis.sh"
fi
