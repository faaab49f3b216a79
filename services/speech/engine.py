"""Loading the speech models once, from the packages and the stack's model cache (never downloaded)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from services.shared.settings import SpeechSettings
from services.speech.piper import PiperVoice, joe_voice_paths
from services.speech.pools import Admission, PriorityPool
from services.speech.server import Engine
from services.speech.whisper import SAMPLE_RATE, WhisperModel, model_dir

log = logging.getLogger("lvs.speech")


def missing_models(settings: SpeechSettings, cache: Path) -> list[str]:
    """What is missing to start, each naming its setting or step (empty when all is there)."""
    problems = []
    size = settings.whisper_model.value
    try:
        folder = model_dir(size, cache)
        if not (folder / "model.bin").is_file():
            problems.append(f"SPEECH_WHISPER_MODEL={size}: no Whisper model in {folder} (run 'make up')")
    except ImportError as exc:
        problems.append(f"the Whisper model package is not installed ({exc.name}): run 'make up'")
    try:
        problems += [f"the Piper voice is missing: {p}" for p in joe_voice_paths() if not p.is_file()]
    except ImportError as exc:
        problems.append(f"the Piper voice package is not installed ({exc.name}): run 'make up'")
    return problems


def load_engine(settings: SpeechSettings, cache: Path) -> Engine:
    """Both models, warmed by one short run each (the first call of a model is the slow one)."""
    started = time.monotonic()
    size = settings.whisper_model.value
    whisper = WhisperModel(
        model_dir(size, cache),
        threads=settings.threads,
        beam_size=settings.whisper_beam,
        name=size,
        workers=settings.stt_workers,
        window_pad=settings.whisper_window_pad,
    )
    log.info("whisper loaded", extra={"model": size, "seconds": round(time.monotonic() - started, 2)})
    voice = PiperVoice(*joe_voice_paths(), threads=settings.threads)
    log.info("piper voice loaded", extra={"voice": voice.name, "seconds": round(time.monotonic() - started, 2)})
    voice.synthesize("Ready.")
    whisper.transcribe(b"\x00\x00" * (SAMPLE_RATE // 2))
    log.info("speech models warm", extra={"seconds": round(time.monotonic() - started, 2)})
    return Engine(
        whisper=whisper,
        voice=voice,
        stt_pool=PriorityPool("stt", settings.stt_workers),
        tts_pool=PriorityPool("tts", 1),  # one voice, one synthesis at a time: queued by priority
        stt_admission=Admission(settings.queue_limit),
        tts_admission=Admission(settings.queue_limit),
    )
