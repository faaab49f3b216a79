"""Prometheus metrics of the worker (multiprocess mode: job processes write, the worker serves).

Every metric has labels, so no sample file exists before the worker has cleaned its metrics folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram

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

# ChatMessage.metrics key -> stage label.
USER_STAGES = {"end_of_turn_delay": "eou", "transcription_delay": "stt"}
AGENT_STAGES = {"llm_node_ttft": "llm_ttft", "tts_node_ttfb": "tts_ttfb", "e2e_latency": "total"}


def turn_observations(role: str, report: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(stage, seconds) pairs to record for one chat message's metrics report."""
    stages = USER_STAGES if role == "user" else AGENT_STAGES if role == "assistant" else {}
    out = []
    for key, stage in stages.items():
        value = report.get(key)
        if isinstance(value, int | float) and value >= 0:
            out.append((stage, float(value)))
    return out


def record_turn(role: str, report: Mapping[str, Any]) -> None:
    """Record one chat message's latencies."""
    TURNS.labels(role=role).inc()
    for stage, seconds in turn_observations(role, report):
        TURN_SECONDS.labels(stage=stage).observe(seconds)
