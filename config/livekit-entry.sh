#!/bin/sh
# Entry of the livekit containers (compose.yaml): node 0 (service livekit) or node N (`--node N`, the scale
# profile's livekit-2), then livekit-server with the shared LIVEKIT_CONFIG.
#
# The node's ports follow the native cluster (services/shared/settings.py LiveKitSettings.node_port: 100*N
# above LIVEKIT_PORT / LIVEKIT_RTC_TCP_PORT), set through livekit-server's own environment overrides of its
# config (LIVEKIT_PORT, LIVEKIT_RTC_TCP_PORT, LIVEKIT_TURN_ENABLED: every config key has one, applied after
# --config-body). Redis (LIVEKIT_REDIS_ADDRESS/LIVEKIT_REDIS_PASSWORD) is used only when LIVEKIT_NODES > 1;
# TURN (one fixed UDP port on the host) runs on node 0 only. POSIX sh: the upstream image is Alpine.
set -eu

node=0
if [ "${1:-}" = "--node" ]; then
  node="${2:?--node needs a number}"
  shift 2
fi
case "$node" in
  '' | *[!0-9]*) echo "livekit-entry: --node must be a number, not '$node'" >&2; exit 2 ;;
esac
nodes="${LIVEKIT_NODES:-1}"
case "$nodes" in
  '' | *[!0-9]*) echo "livekit-entry: LIVEKIT_NODES must be a number, not '$nodes'" >&2; exit 2 ;;
esac
if [ "$node" -ge "$nodes" ]; then
  echo "livekit-entry: node $node is not below LIVEKIT_NODES=$nodes" >&2
  exit 2
fi

step=100 # services.shared.settings.NODE_PORT_STEP
LIVEKIT_PORT=$((${LIVEKIT_PORT:-7880} + step * node))
LIVEKIT_RTC_TCP_PORT=$((${LIVEKIT_RTC_TCP_PORT:-7881} + step * node))
export LIVEKIT_PORT LIVEKIT_RTC_TCP_PORT
if [ "$node" -gt 0 ]; then
  export LIVEKIT_TURN_ENABLED=false
fi

if [ "$nodes" -gt 1 ]; then
  if [ -z "${LIVEKIT_REDIS_PASSWORD:-}" ]; then
    echo "livekit-entry: REDIS_PASSWORD is empty: run scripts/generate-secrets.sh (LIVEKIT_NODES=$nodes needs Redis)" >&2
    exit 2
  fi
  export LIVEKIT_REDIS_ADDRESS LIVEKIT_REDIS_PASSWORD
else
  unset LIVEKIT_REDIS_ADDRESS LIVEKIT_REDIS_PASSWORD
fi
unset LIVEKIT_NODES # not a livekit-server setting
exec "${LIVEKIT_SERVER_BIN:-/livekit-server}" "$@"
