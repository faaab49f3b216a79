"""Reading the workers' Prometheus exposition text: turn latency per stage."""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

TURN_STAGE_METRIC = "lvs_agent_turn_stage_seconds"
STAGES = ("eou", "stt", "llm_ttft", "tts_ttfb", "total")


@dataclass(frozen=True)
class StageLatency:
    """One stage's turns since the worker started: count, sum, mean and bucket-estimated p50/p95 (seconds).

    The page works out the latest turns' own latency from two polls: (sum - sum before) / (count - count before).
    """

    stage: str
    count: int
    sum_s: float
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Estimate the q-quantile from cumulative (upper bound, count) buckets, as PromQL's histogram_quantile."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # beyond the last finite bucket: its bound is the best estimate
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = upper, count
    return lower


def stage_latency(text: str) -> dict[str, StageLatency]:
    """Per-stage latency of one or more workers' /metrics text (samples of several texts may be concatenated)."""
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != TURN_STAGE_METRIC:
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "")
            if sample.name.endswith("_count"):
                counts[stage] = counts.get(stage, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                sums[stage] = sums.get(stage, 0.0) + sample.value
            elif sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                per = buckets.setdefault(stage, {})
                per[bound] = per.get(bound, 0.0) + sample.value
    out = {}
    for stage in sorted(set(counts) | set(STAGES), key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES)):
        n = int(counts.get(stage, 0))
        pairs = list(buckets.get(stage, {}).items())
        out[stage] = StageLatency(
            stage,
            n,
            sums.get(stage, 0.0),
            sums.get(stage, 0.0) / n if n else None,
            bucket_quantile(pairs, 0.5) if n else None,
            bucket_quantile(pairs, 0.95) if n else None,
        )
    return out
