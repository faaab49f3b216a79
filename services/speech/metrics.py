"""Prometheus metrics of the speech service (one registry, served on /metrics behind the key)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
ROUTES = frozenset({"transcriptions", "speech", "models", "healthz", "metrics"})

REQUESTS = Counter(
    "lvs_speech_requests",
    "Requests by route (fixed names, 'other' for the rest) and status.",
    ["route", "status"],
    registry=REGISTRY,
)
STT_SECONDS = Histogram(
    "lvs_speech_stt_seconds",
    "Wall time of one transcription, queue wait included.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
    registry=REGISTRY,
)
TTS_FIRST_AUDIO = Histogram(
    "lvs_speech_tts_first_audio_seconds",
    "From a speech request to its first audio bytes, queue wait included.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5),
    registry=REGISTRY,
)
AUDIO_SECONDS = Counter(
    "lvs_speech_audio_seconds",
    "Seconds of audio transcribed (stt) and synthesised (tts).",
    ["kind"],
    registry=REGISTRY,
)
ACTIVE = Gauge(
    "lvs_speech_active_requests", "Requests admitted, running or waiting, by model.", ["kind"], registry=REGISTRY
)


def route_label(route: str) -> str:
    return route if route in ROUTES else "other"
