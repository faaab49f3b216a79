#!/usr/bin/env bash
# Vendor livekit-client (pinned) from npm into services/web/static/vendor/ so the page works offline.
source "$(dirname "$0")/lib.sh"

LIVEKIT_CLIENT_VERSION="2.23.0"
# npm's dist.integrity of livekit-client-2.23.0.tgz: the tarball must match it byte for byte.
LIVEKIT_CLIENT_INTEGRITY="sha512-j9Kg86nJjBjNFUD+ukp2jwMCGa0k+YD5gU//RzAM+ZY3pbG631QCte7fQjwqWMmtBzhDJL9nKYuOLMv/9IbAxg=="
TARBALL="$STACK_CACHE_DIR/npm/livekit-client-$LIVEKIT_CLIENT_VERSION.tgz"
VENDOR="$ROOT/services/web/static/vendor"
TARGET="$VENDOR/livekit-client.umd.js"

step "livekit-client $LIVEKIT_CLIENT_VERSION for the page"
if [[ -s "$TARGET" && -f "$VENDOR/VERSION" && "$(cat "$VENDOR/VERSION")" == "$LIVEKIT_CLIENT_VERSION" ]]; then
  done_ "already vendored in services/web/static/vendor/"; exit 0
fi
if [[ ! -s "$TARBALL" ]]; then
  command -v npm >/dev/null || die "npm is not installed. Install Node.js/npm ('apt-get install npm') and run 'make up' again."
  info "downloading livekit-client@$LIVEKIT_CLIENT_VERSION from the npm registry"
  mkdir -p "$(dirname "$TARBALL")"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "livekit-client@$LIVEKIT_CLIENT_VERSION" >/dev/null) \
    || die "npm pack livekit-client@$LIVEKIT_CLIENT_VERSION failed (is the npm registry reachable?)"
  mv "$tmp/livekit-client-$LIVEKIT_CLIENT_VERSION.tgz" "$TARBALL"
else
  info "using cached $TARBALL"
fi
# the official node:*-slim images have no openssl binary (our Dockerfile's web-assets stage): node's own
sha512_base64() {
  if command -v openssl >/dev/null; then openssl dgst -sha512 -binary "$1" | base64 | tr -d '\n'
  else node -e 'const c = require("crypto"), fs = require("fs");
    process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$1"; fi
}
actual="sha512-$(sha512_base64 "$TARBALL")"
if [[ "$actual" != "$LIVEKIT_CLIENT_INTEGRITY" ]]; then
  rm -f "$TARBALL"
  die "livekit-client tarball does not match its pinned integrity (got $actual); removed it, run again"
fi
info "tarball integrity ok"
mkdir -p "$VENDOR"
tar -xzf "$TARBALL" -C "$VENDOR" --strip-components=2 package/dist/livekit-client.umd.js \
  || die "the tarball has no dist/livekit-client.umd.js; delete $TARBALL and retry"
grep -q "LivekitClient" "$TARGET" || die "$TARGET does not define LivekitClient"
printf '%s' "$LIVEKIT_CLIENT_VERSION" >"$VENDOR/VERSION"
done_ "vendored $(du -h "$TARGET" | cut -f1) into services/web/static/vendor/livekit-client.umd.js"
