"""Prometheus metrics of the worker (multiprocess mode: job processes write, the worker serves).

Every metric has labels, so no sample file exists before the worker has cleaned its metrics folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

TURN_BUCKETS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)

TURN_SECONDS = Histogram(
    "lvs_agent_turn_stage_seconds",
    "Per-turn latency by stage: eou (end-of-utterance delay), stt, llm_ttft, tts_ttfb, total.",
    ["stage"],
    buckets=TURN_BUCKETS,
)
TURNS = Counter("lvs_agent_turns_total", "Turns by who spoke.", ["role"])
REJECTS = Counter("lvs_agent_job_rejects_total", "Job requests rejected, by reason.", ["reason"])
FAULTS = Counter("lvs_agent_faults_total", "Faults handled without ending the job, by kind.", ["kind"])
JOBS = Counter("lvs_agent_jobs_total", "Jobs started and how they ended.", ["outcome"])
# The recovery sidecar re-dispatches only to a registered worker: its health port answers seconds earlier.
WORKER_REGISTERED = Gauge(
    "lvs_agent_worker_registered",
    "1 once this worker is registered with livekit-server (absent before).",
    ["worker"],
    multiprocess_mode="mostrecent",
)
# The recovery sidecar re-dispatches a room whose dispatch failed only while a worker has a slot for it.
JOB_SLOTS_FREE = Gauge(
    "lvs_agent_job_slots_free",
    "Jobs this worker would still accept: AGENT_MAX_JOBS minus its running and starting jobs.",
    ["worker"],
    multiprocess_mode="mostrecent",
)

# livekit-agents metrics event type -> {field: stage}; emitted as each stage completes.
EVENT_STAGES = {
    "eou_metrics": {"end_of_utterance_delay": "eou", "transcription_delay": "stt"},
    "llm_metrics": {"ttft": "llm_ttft"},
    "tts_metrics": {"ttfb": "tts_ttfb"},
}


def stage_observations(event: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(stage, seconds) pairs of one livekit-agents metrics event (as a dict); -1/0-less values skipped."""
    out = []
    for key, stage in EVENT_STAGES.get(str(event.get("type")), {}).items():
        value = event.get(key)
        if isinstance(value, int | float) and value >= 0:
            out.append((stage, float(value)))
    return out


def record_event(event: Mapping[str, Any]) -> None:
    for stage, seconds in stage_observations(event):
        TURN_SECONDS.labels(stage=stage).observe(seconds)


def record_turn(role: str, report: Mapping[str, Any]) -> None:
    """Count one finished chat message; an answer's voice-to-voice latency is the 'total' stage."""
    TURNS.labels(role=role).inc()
    total = report.get("e2e_latency")
    if role == "assistant" and isinstance(total, int | float) and total >= 0:
        TURN_SECONDS.labels(stage="total").observe(float(total))
