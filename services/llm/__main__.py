"""Run llama.cpp's OpenAI-compatible HTTP server in-process (xllamacpp) until SIGTERM.

Tool calls are enabled through the model's own Jinja chat template; the GGUF is Qwen2.5-Coder-0.5B-Instruct
Q4_K_M (assembled by scripts/install-models.sh) unless ``LLM_GGUF_PATH`` names another one.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import xllamacpp

from services.shared.settings import LOCAL_MODEL_FILE, Settings, get_settings


def model_path(settings: Settings) -> Path:
    """The GGUF to serve: LLM_GGUF_PATH, else the Qwen file assembled by scripts/install-models.sh."""
    return settings.llm.gguf_path or settings.stack.cache / "models" / LOCAL_MODEL_FILE


def server_params(settings: Settings) -> xllamacpp.CommonParams:
    """llama-server parameters from the settings."""
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path(settings))
    params.model_alias = {settings.llm.model_name}
    params.hostnames = ["127.0.0.1"]
    params.port = settings.llm.port
    params.n_ctx = settings.llm.context_window
    params.use_jinja = True
    params.cpuparams.n_threads = settings.llm.decode_threads  # generation, one token at a time
    params.cpuparams_batch.n_threads = settings.llm.threads  # prompt processing, in batches
    params.sampling.temp = settings.llm.temperature
    params.sampling.penalty_repeat = 1.2
    params.n_predict = settings.llm.max_output_tokens
    return params


def main() -> int:
    settings = get_settings()
    path = model_path(settings)
    if not path.is_file():
        print(f"error: model file {path} is missing: run 'make up' (scripts/install-models.sh)", file=sys.stderr)
        return 2
    server = xllamacpp.Server(server_params(settings))
    print(f"llm: serving {path.name} as {settings.llm.model_name} at {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
