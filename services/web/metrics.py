"""Prometheus metrics of the web service, summed over gunicorn workers in multiprocess mode."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from services.shared.settings import Settings

# prometheus_client's own switch for multiprocess mode; gunicorn_conf sets it before workers start.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("lvs_web_requests_total", "HTTP requests by route and status.", ["route", "method", "status"])
LATENCY = Histogram("lvs_web_request_seconds", "HTTP request duration by route.", ["route"])
SESSIONS = Counter("lvs_web_sessions_total", "Session requests by outcome.", ["outcome"])
UPSTREAM_ERRORS = Counter("lvs_web_upstream_errors_total", "Failed calls to LiveKit or Letta.", ["upstream"])


def metrics_dir(settings: Settings) -> Path:
    """Folder for the per-worker metric files."""
    return settings.stack.run_dir / "web-metrics"


def render() -> tuple[bytes, str]:
    """The exposition text for every worker (multiprocess) or this process (tests, flask run)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder and Path(folder).is_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(DEFAULT_REGISTRY), CONTENT_TYPE_LATEST


# Fixed label sets: a client cannot make new time series with odd methods, paths or statuses.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def route_label(rule: str | None) -> str:
    """The matched URL rule (a fixed set: the app's routes), or "unmatched"."""
    return rule if rule is not None else "unmatched"


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER
