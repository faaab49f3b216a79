#!/usr/bin/env bash
# Build livekit-server and the lk CLI from their Go modules (pinned), cached by version.
source "$(dirname "$0")/lib.sh"

LIVEKIT_VERSION="${LIVEKIT_VERSION:-v1.13.5}"
LK_VERSION="${LK_VERSION:-v2.16.3}"
BIN="$STACK_CACHE_DIR/bin"
mkdir -p "$BIN"

step "livekit-server $LIVEKIT_VERSION and lk $LK_VERSION"
if [[ -x "$BIN/livekit-server-$LIVEKIT_VERSION" ]] && { [[ -x "$BIN/lk-$LK_VERSION" ]] || stamp_ok lk-unavailable "$LK_VERSION"; }; then
  done_ "already built in $BIN"; exit 0
fi
command -v go >/dev/null || die "Go is not installed. Install Go >= 1.23 (https://go.dev/doc/install or 'apt-get install golang-go') and run 'make up' again."

# Keep Go's module and build caches in the shared cache too, so rebuilds are incremental.
export GOPATH="${GOPATH:-$STACK_CACHE_DIR/go}" GOFLAGS="${GOFLAGS:--modcacherw}" CGO_ENABLED=0
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

if [[ ! -x "$BIN/livekit-server-$LIVEKIT_VERSION" ]]; then
  info "building livekit-server from github.com/livekit/livekit-server@$LIVEKIT_VERSION (several minutes the first time)"
  GOBIN="$tmp" go install -trimpath "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION"
  mv "$tmp/server" "$BIN/livekit-server-$LIVEKIT_VERSION"
fi
ln -sf "livekit-server-$LIVEKIT_VERSION" "$BIN/livekit-server"
# lk is only used by benchmarks (lk perf agent-load-test): a failed build warns, it does not stop the stack.
if [[ ! -x "$BIN/lk-$LK_VERSION" ]]; then
  info "building lk from github.com/livekit/livekit-cli/v2@$LK_VERSION"
  if GOBIN="$tmp" go install -trimpath "github.com/livekit/livekit-cli/v2/cmd/lk@$LK_VERSION" 2>"$tmp/lk.err"; then
    mv "$tmp/lk" "$BIN/lk-$LK_VERSION" && ln -sf "lk-$LK_VERSION" "$BIN/lk"
  else
    info "warning: lk could not be built ($(tail -n 2 "$tmp/lk.err" | tr '\n' ' '))"
    info "warning: the stack runs without it; only 'make bench' capacity runs need lk on PATH"
    stamp_set lk-unavailable "$LK_VERSION"  # not retried on every 'make up'; 'make clean' retries
  fi
fi
"$BIN/livekit-server" --version
done_ "livekit-server and lk in $BIN"
