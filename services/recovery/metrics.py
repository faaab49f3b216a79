"""Prometheus metrics of the recovery sidecar (one registry, served on /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ACTIONS = Counter(
    "lvs_recovery_actions", "Recovery actions by rule and outcome.", ["rule", "outcome"], registry=REGISTRY
)
SWEEPS = Counter("lvs_recovery_sweeps", "Sweeps run, by kind and outcome.", ["kind", "outcome"], registry=REGISTRY)
SWEEP_SECONDS = Histogram(
    "lvs_recovery_sweep_seconds",
    "Duration of one full sweep.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
TARGETED_WAIT = Histogram(
    "lvs_recovery_targeted_wait_seconds",
    "How long a webhook's targeted sweep waited past its due time (for the sweeper to be free).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
ROOMS = Gauge("lvs_recovery_rooms", "Rooms seen at the last full sweep, ours or not.", ["ours"], registry=REGISTRY)
WEBHOOKS = Counter(
    "lvs_recovery_webhooks", "Webhook requests by event and outcome.", ["event", "outcome"], registry=REGISTRY
)
WORKER_READY = Gauge(
    "lvs_recovery_worker_ready", "1 when the agent worker answered its health check.", registry=REGISTRY
)
DISPATCHES_HELD = Gauge(
    "lvs_recovery_dispatches_held",
    "Re-dispatches due but held at the last sweep: every worker said it had no free job slot.",
    registry=REGISTRY,
)
