"""The agent workers' turn latency per stage, from each worker's Prometheus /metrics."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.shared.settings import Settings
from services.web.status.prom import StageLatency, stage_latency

TIMEOUT_S = 1.5


@dataclass(frozen=True)
class WorkerLatency:
    worker: str  # its program name: agent, agent-2 …
    up: bool
    stages: dict[str, StageLatency]


def metrics_urls(settings: Settings) -> dict[str, str]:
    """Worker program name -> its /metrics URL (AGENT_METRICS_PORT + 100*i for worker i)."""
    from services.agent.server import program_name

    agent = settings.agent
    host = "127.0.0.1" if agent.bind in ("0.0.0.0", "::") else agent.bind
    return {program_name(i): f"http://{host}:{agent.instance_metrics_port(i)}/metrics" for i in range(agent.workers)}


def worker_latency(settings: Settings) -> list[WorkerLatency]:
    out = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for name, url in metrics_urls(settings).items():
            try:
                response = client.get(url)
                response.raise_for_status()
            except httpx.HTTPError:
                out.append(WorkerLatency(name, False, {}))
                continue
            out.append(WorkerLatency(name, True, stage_latency(response.text)))
    return out
