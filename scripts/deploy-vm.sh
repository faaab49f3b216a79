#!/usr/bin/env bash
# Deploy the containerised stack to a VM over SSH (make deploy HOST=user@host DOMAIN=voice.example.com).
#   scripts/deploy-vm.sh HOST=user@host DOMAIN=voice.example.com [DIR=letta-voice-stack] [--no-start]
#   scripts/deploy-vm.sh --local TARGET_DIR DOMAIN=voice.example.com [--no-start]   (a directory as the host)
# DEPLOY_ENV_FILE (default .deploy/HOST.env) and DEPLOY_SEED_ENV (default .env: your keys, copied once).
# Steps, each safe to repeat: secrets (created once, kept in .deploy/HOST.env, never printed), host checks
# (Docker, compose plugin, free ports), copy of the project, start (scripts/compose.sh up), firewall list.
source "$(dirname "$0")/compose-lib.sh"
cd "$ROOT" || exit 1

HOST="${HOST:-}"; DOMAIN="${DOMAIN:-}"; DIR="${DIR:-letta-voice-stack}"; LOCAL=""; START=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    HOST=*) HOST="${1#HOST=}" ;;
    DOMAIN=*) DOMAIN="${1#DOMAIN=}" ;;
    DIR=*) DIR="${1#DIR=}" ;;
    --local) [[ $# -ge 2 ]] || die "--local needs a directory"; LOCAL="$2"; shift ;;
    --no-start) START=0 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (expected HOST=..., DOMAIN=..., DIR=..., --local DIR, --no-start)" ;;
  esac
  shift
done
[[ -n "$DOMAIN" ]] || die "DOMAIN is required: make deploy HOST=user@host DOMAIN=voice.example.com"
if [[ -n "$LOCAL" ]]; then
  mkdir -p "$LOCAL"; DIR="$(cd "$LOCAL" && pwd)"; TARGET="local:$DIR"
else
  [[ -n "$HOST" ]] || die "HOST is required: make deploy HOST=user@host DOMAIN=voice.example.com"
  TARGET="$HOST"
fi
DEPLOY_ENV="${DEPLOY_ENV_FILE:-$ROOT/.deploy/$(printf '%s' "$TARGET" | tr -c 'A-Za-z0-9._-' '_').env}"

# on_host CMD: run a shell command on the target (ssh, or locally for --local), from the project folder.
SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=15)
on_host() {
  if [[ -n "$LOCAL" ]]; then bash -c "$1"; else ssh "${SSH_OPTS[@]}" "$HOST" "bash -c $(printf '%q' "$1")"; fi
}
qdir() { printf '%q' "$DIR"; }

step "Deployment secrets for $TARGET (kept in ${DEPLOY_ENV#"$ROOT"/})"
mkdir -p "$(dirname "$DEPLOY_ENV")"; chmod 700 "$(dirname "$DEPLOY_ENV")"
if [[ ! -f "$DEPLOY_ENV" ]]; then
  # a host deployed from another machine keeps its secrets: take its .env back first (never printed)
  if on_host "test -f $(qdir)/.env" 2>/dev/null; then
    info "reusing the secrets of the .env already on $TARGET"
    (umask 077 && on_host "cat $(qdir)/.env" >"$DEPLOY_ENV.part") && mv "$DEPLOY_ENV.part" "$DEPLOY_ENV"
  fi
fi
python3 -m services.deploy.secrets --env-file "$DEPLOY_ENV" --seed "${DEPLOY_SEED_ENV:-$ROOT/.env}" --domain "$DOMAIN" \
  || die "could not prepare $DEPLOY_ENV"

if [[ "$START" == 1 ]]; then
  step "Checking $TARGET"
  on_host 'command -v docker >/dev/null' || die "$TARGET has no docker: install Docker Engine and its compose plugin"
  on_host 'docker info >/dev/null 2>&1' \
    || die "the Docker engine on $TARGET does not answer ('docker info'): start it, or add the user to the docker group"
  on_host 'docker compose version >/dev/null 2>&1' \
    || die "$TARGET lacks the Docker Compose v2 plugin: install docker-compose-plugin"
  # ports our containers bind (they may already be ours: a repeated deploy)
  busy="$(on_host "if [ -z \"\$(docker ps -q --filter label=com.docker.compose.project=letta-voice-stack)\" ]; then
      for p in 80 443 7880 7881 5433 8080 8081 8082 8283; do ss -Hltn \"sport = :\$p\" 2>/dev/null | grep -q . && printf '%s/tcp ' \$p; done
      ss -Hlun 'sport = :3478' 2>/dev/null | grep -q . && printf '3478/udp '
    fi; true")"
  [[ -z "$busy" ]] || die "ports in use on $TARGET: $busy- stop what holds them (a native stack?) and retry"
  done_ "docker and compose present, ports free"
else
  info "skipping host checks and start (--no-start)"
fi

step "Copying the project to $TARGET:$DIR"
excludes=(--exclude=./.git --exclude=./.stack --exclude=./.deploy --exclude=./.env --exclude=./backups
  --exclude=./tests/artifacts --exclude='*/__pycache__' --exclude='*.pyc' --exclude=./.pytest_cache
  --exclude=./.ruff_cache --exclude=./.hypothesis --exclude='./*.egg-info' --exclude=./services/web/static/vendor --exclude=./build)
tar -C "$ROOT" -czf - "${excludes[@]}" . | on_host "mkdir -p $(qdir) && tar -xzf - -C $(qdir)" \
  || die "copying to $TARGET failed"
on_host "umask 077 && cat > $(qdir)/.env.part && mv $(qdir)/.env.part $(qdir)/.env" <"$DEPLOY_ENV" \
  || die "could not write .env on $TARGET"
done_ "project and .env (mode 600) in $DIR"

if [[ "$START" == 1 ]]; then
  step "Starting the stack on $TARGET"
  on_host "cd $(qdir) && bash scripts/compose.sh up" || die "the stack did not start on $TARGET: see above"
fi

step "Open these ports in the VM's firewall (cloud security group and ufw alike)"
info "80/tcp and 443/tcp        HTTPS (Caddy; 80 for certificate challenges and redirects)"
info "7881/tcp                  WebRTC over TCP (clients behind strict firewalls)"
info "3478/udp                  TURN/UDP"
info "50000-60000/udp           WebRTC media"
info "Keep 5433, 7880, 8080-8082, 8283 closed: they listen on loopback or are proxied."
done_ "https://${DOMAIN,,}/  (DNS: an A/AAAA record for ${DOMAIN,,} must point at the VM)"
