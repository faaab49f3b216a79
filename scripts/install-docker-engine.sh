#!/usr/bin/env bash
# A Docker engine for test machines (make test-compose), with host networking only.
#   scripts/install-docker-engine.sh [start]   install what is missing, start dockerd, print the env to use
#   scripts/install-docker-engine.sh stop      stop the dockerd this script started (nothing else)
#   scripts/install-docker-engine.sh status    say whether it runs
# `start` prints shell lines on stdout (progress goes to stderr), so a caller does
#   eval "$(bash scripts/install-docker-engine.sh)"
# On a machine where a Docker engine already answers (a user's VM) nothing is installed or started: the
# engine is used as it is. Otherwise Debian's docker.io (and debootstrap, for base images) is installed
# with apt-get, the pinned Compose v2 plugin is put under DOCKER_CONFIG/cli-plugins, and dockerd starts
# without a bridge, iptables rules, IP forwarding or masquerading: it touches none of the machine's
# network settings. Its data root lives in the cache (images survive clean clones); its socket, pidfile
# and exec root too, so every clone on the machine finds the one engine; its log goes to the run folder.
source "$(dirname "$0")/lib.sh"

ENGINE_DIR="${DOCKER_ENGINE_DIR:-$STACK_CACHE_DIR/docker}"
DATA_ROOT="$ENGINE_DIR/data"
EXEC_ROOT="$ENGINE_DIR/exec"
SOCKET="$ENGINE_DIR/docker.sock"
PIDFILE="$ENGINE_DIR/dockerd.pid"
LOG="$STACK_DIR/run/dockerd.log"
START_TIMEOUT="${DOCKER_ENGINE_TIMEOUT:-60}"
OWN_HOST="unix://$SOCKET"
: "${DOCKER_CONFIG:=$ENGINE_DIR/config}"
# the flags that keep dockerd off the machine's network configuration (ARCHITECTURE.md §6)
HOST_NETWORK_ONLY=(--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none
  --exec-opt native.cgroupdriver=cgroupfs)

say() { "$@" >&2; }

# engine_answers [HOST]: true when the docker CLI gets an answer from the engine (HOST, else DOCKER_HOST).
engine_answers() {
  if [[ -n "${1:-}" ]]; then DOCKER_HOST="$1" docker info >/dev/null 2>&1; else docker info >/dev/null 2>&1; fi
}

# our_pid: the pid in our pidfile when that process is a dockerd on our data root, else nothing.
our_pid() {
  [[ -f "$PIDFILE" ]] || return 0
  local pid; pid="$(tr -dc 0-9 <"$PIDFILE")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  local cmdline; cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
  [[ "$cmdline" == *dockerd* && "$cmdline" == *"--data-root $DATA_ROOT "* ]] && printf '%s' "$pid"
  return 0
}

print_env() { printf 'export DOCKER_HOST=%q\nexport DOCKER_CONFIG=%q\n' "$1" "$DOCKER_CONFIG"; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v docker >/dev/null || missing+=(docker-cli)
  if ((${#missing[@]} == 0)); then say done_ "dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) and debootstrap present"; return; fi
  [[ $EUID -eq 0 ]] || die "installing ${missing[*]} needs root: run 'sudo apt-get install -y docker.io debootstrap', then again"
  command -v apt-get >/dev/null || die "no apt-get: install Docker Engine for your system (https://docs.docker.com/engine/install/)"
  say info "apt-get install ${missing[*]} (about 10 s)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed (see above); 'apt-get update' first may help"
  say done_ "installed ${missing[*]}"
}

install_compose_plugin() {
  local plugin="$DOCKER_CONFIG/cli-plugins/docker-compose" binary
  if DOCKER_CONFIG="$DOCKER_CONFIG" docker compose version >/dev/null 2>&1; then
    say done_ "$(DOCKER_CONFIG="$DOCKER_CONFIG" docker compose version)"; return
  fi
  binary="$(bash "$ROOT/scripts/install-compose-cli.sh")" || die "could not get the Docker Compose binary"
  mkdir -p "$(dirname "$plugin")"
  install -m 0755 "$binary" "$plugin"
  DOCKER_CONFIG="$DOCKER_CONFIG" docker compose version >/dev/null 2>&1 \
    || die "'docker compose version' fails with the plugin at $plugin"
  say done_ "Compose plugin at $plugin"
}

start_dockerd() {
  local pid
  pid="$(our_pid)"
  if [[ -n "$pid" ]] && engine_answers "$OWN_HOST"; then say done_ "dockerd already runs (pid $pid)"; return; fi
  [[ -z "$pid" ]] || die "dockerd (pid $pid) runs but does not answer on $SOCKET: 'scripts/install-docker-engine.sh stop', then again"
  [[ $EUID -eq 0 ]] || die "dockerd needs root here (a rootless engine is not set up by this script)"
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOG")"
  rm -f "$SOCKET" "$PIDFILE"
  say info "starting dockerd: data root $DATA_ROOT, socket $SOCKET, log $LOG"
  # setsid: the engine outlives this script and is not part of the caller's process group
  setsid dockerd -H "$OWN_HOST" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
    "${HOST_NETWORK_ONLY[@]}" >>"$LOG" 2>&1 </dev/null &
  local started=$! deadline=$((SECONDS + START_TIMEOUT))
  until engine_answers "$OWN_HOST"; do
    if ! kill -0 "$started" 2>/dev/null; then
      tail -n 20 "$LOG" >&2
      die "dockerd exited at start (log above, whole log in $LOG)"
    fi
    ((SECONDS < deadline)) || { tail -n 20 "$LOG" >&2; die "dockerd did not answer within ${START_TIMEOUT}s (log: $LOG)"; }
    sleep 0.5
  done
  say done_ "dockerd $(DOCKER_HOST="$OWN_HOST" docker version --format '{{.Server.Version}}') answers (pid $(our_pid))"
}

cmd_start() {
  say step "Docker engine"
  if [[ -z "${DOCKER_ENGINE_OWN:-}" ]] && engine_answers; then
    # a user's VM, or a CI machine with Docker: use it as it is
    say done_ "a Docker engine already answers (${DOCKER_HOST:-the default socket}): nothing installed or started"
    print_env "${DOCKER_HOST:-unix:///var/run/docker.sock}"
    return
  fi
  install_packages
  install_compose_plugin
  start_dockerd
  say info "use it with: DOCKER_HOST=$OWN_HOST DOCKER_CONFIG=$DOCKER_CONFIG"
  print_env "$OWN_HOST"
}

cmd_stop() {
  step "Stopping the Docker engine this script started"
  local pid; pid="$(our_pid)"
  if [[ -z "$pid" ]]; then
    done_ "none runs (no live dockerd on $DATA_ROOT in $PIDFILE)"
  else
    info "SIGTERM to dockerd (pid $pid); its containers stop with it"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || die "dockerd (pid $pid) still runs after 60 s: look at $LOG"
      sleep 0.5
    done
    done_ "dockerd stopped"
  fi
  # dockerd leaves an nsfs mount of the host's network namespace behind
  if grep -qs " $EXEC_ROOT/netns/default " /proc/mounts; then
    umount "$EXEC_ROOT/netns/default" && done_ "unmounted $EXEC_ROOT/netns/default"
  fi
  rm -f "$PIDFILE"
}

cmd_status() {
  local pid; pid="$(our_pid)"
  if [[ -n "$pid" ]] && engine_answers "$OWN_HOST"; then echo "dockerd runs (pid $pid) on $OWN_HOST"
  elif [[ -n "$pid" ]]; then echo "dockerd (pid $pid) runs but does not answer on $OWN_HOST"; return 1
  else echo "no dockerd of this script runs"; return 1; fi
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
