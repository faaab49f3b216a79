"""Validation of the OpenAI-compatible audio requests: plain data in, a request or a RequestError out."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.speech.piper import VOICE_NAME

TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")
SPEECH_FORMATS = ("pcm", "wav")
STREAM_FORMATS = ("audio", "sse")  # sse is OpenAI's own extension: we always stream raw audio (the clients read it)
SPEECH_MODELS = ("piper", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # one voice engine; OpenAI names accepted
# The service has one voice; OpenAI's voice names are accepted and spoken by it, so a client's default works.
VOICES = (VOICE_NAME, "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
LANGUAGE = re.compile(r"[a-z]{2,3}")
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class RequestError(ValueError):
    """A bad request: ``field`` names the part to fix; ``status`` is 400 or 413."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": f"{self.field}: {self.message}", "field": self.field}


@dataclass(frozen=True)
class Transcription:
    model: str
    language: str | None
    response_format: str


@dataclass(frozen=True)
class Speech:
    input: str
    voice: str
    response_format: str
    speed: float


def stt_models(whisper_name: str) -> tuple[str, ...]:
    """Model names a transcription may ask for: the loaded Whisper under its own names, or OpenAI's."""
    return ("whisper-1", whisper_name, f"whisper-{whisper_name}")


def parse_transcription(fields: Mapping[str, str], whisper_name: str, english_only: bool) -> Transcription:
    """The transcription form fields (all but the file), checked."""
    model = fields.get("model", "").strip()
    if not model:
        raise RequestError("model", "is required")
    if model not in stt_models(whisper_name):
        raise RequestError("model", f"must be one of {', '.join(stt_models(whisper_name))}")
    language = fields.get("language", "").strip().lower() or None
    if language is not None:
        if not LANGUAGE.fullmatch(language):
            raise RequestError("language", "must be an ISO-639-1 code such as 'en'")
        if english_only and language != "en":
            raise RequestError("language", f"Whisper {whisper_name} understands English only: 'en'")
    response_format = fields.get("response_format", "json").strip() or "json"
    if response_format not in TRANSCRIPTION_FORMATS:
        raise RequestError("response_format", f"must be one of {', '.join(TRANSCRIPTION_FORMATS)}")
    return Transcription(model=model, language=language, response_format=response_format)


def _choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str) or value not in allowed:
        raise RequestError(name, f"must be one of {', '.join(allowed)}")
    return value


def parse_speech(body: Any, max_chars: int) -> Speech:
    """The JSON body of POST /v1/audio/speech, checked (text longer than ``max_chars`` is a 413)."""
    if not isinstance(body, dict):
        raise RequestError("body", "must be a JSON object")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise RequestError("input", "is required: the text to speak")
    if len(text) > max_chars:
        raise RequestError("input", f"is {len(text)} characters long (at most {max_chars})", status=413)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model", "is required")
    if model not in SPEECH_MODELS:
        raise RequestError("model", f"must be one of {', '.join(SPEECH_MODELS)}")
    voice = _choice(body, "voice", VOICES, VOICE_NAME)
    speed = body.get("speed", 1.0)
    if speed is None:
        speed = 1.0
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise RequestError("speed", "must be a number")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise RequestError("speed", f"must be between {MIN_SPEED} and {MAX_SPEED}")
    _choice(body, "stream_format", STREAM_FORMATS, "audio")
    return Speech(
        input=text,
        voice=voice,
        response_format=_choice(body, "response_format", SPEECH_FORMATS, "pcm"),
        speed=float(speed),
    )
